"""test_exact.py — exact search answers equal brute force computed with numpy in float64:
every metric, the single-query path (--vector) and the batched path (--queries), with
and without filters (brute force over the matching subset), and recall@100 = 1 on the
BIGANN 10K set against its published ground truth."""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hk_test import (  # noqa: E402
    ANN_DIR, check, eq, fails, hk_ok, loads, main, make_collection, read_bvecs, read_ivecs,
    run, test, vec_arg)

N, DIM, NQ, K = 2000, 37, 20, 10
REL = 1e-4


def true_scores(x, q, metric):
    """Scores of every row of x for query q, as hektor defines them, in float64."""
    x = x.astype(np.float64)
    q = q.astype(np.float64)
    if metric == "l2":
        return np.sqrt(((x - q) ** 2).sum(axis=1))
    if metric == "ip":
        return x @ q
    return (x @ q) / (np.linalg.norm(x, axis=1) * np.linalg.norm(q))


def check_hits(hits, scores, metric, k, allowed=None, what=""):
    """hits: [{"id", "score"}] from hektor. scores: true score of every id (ids = rows).
    Equal to brute force up to ties: the i-th hit's true score equals the i-th best."""
    higher = metric != "l2"
    ids = np.arange(len(scores))
    if allowed is not None:
        ids = ids[allowed]
    cand = scores[ids]
    best = np.sort(-cand if higher else cand)[:k]
    best = -best if higher else best
    eq(len(hits), len(best), "%s: number of hits" % what)
    got = [h["id"] for h in hits]
    eq(len(set(got)), len(got), "%s: duplicate ids" % what)
    if allowed is not None:
        bad = [i for i in got if not allowed[i]]
        check(not bad, "%s: ids %r do not match the filter" % (what, bad))
    scale = max(1.0, float(np.abs(scores).max())) if metric == "ip" else 1.0
    for rank, h in enumerate(hits):
        t = scores[h["id"]]
        tol = REL * max(abs(t), 1e-3 * scale)
        check(abs(h["score"] - t) <= tol,
              "%s: id %d score %r, brute force %r" % (what, h["id"], h["score"], t))
        check(abs(t - best[rank]) <= REL * max(abs(best[rank]), 1e-3 * scale),
              "%s: rank %d is id %d (true score %r) but the %d-th best score is %r"
              % (what, rank, h["id"], t, rank, best[rank]))


def search_batch(db, name, qfile, k, extra=()):
    r = hk_ok(db, "search", name, "--queries", qfile, "--k", k, "--json", *extra)
    return [loads(l) for l in r.lines()]


def search_one(db, name, q, k, extra=()):
    r = hk_ok(db, "search", name, "--vector", vec_arg(q), "--k", k, "--json", *extra)
    return loads(r.out)


def dataset(seed, n=N, nq=NQ, dim=DIM, offset=0.0):
    rng = np.random.default_rng(seed)
    x = (offset + rng.standard_normal((n, dim))).astype(np.float32)
    q = (offset + rng.standard_normal((nq, dim))).astype(np.float32)
    # Exact duplicates make ties that the comparison must accept; query 0 is close to them.
    x[1] = x[0]
    x[2] = x[0]
    q[0] = x[0] + np.float32(0.05) * q[0]
    return x, q


def exact_metric(tmp, metric, seed):
    db = tmp("db")
    x, q = dataset(seed)
    make_collection(db, "c", x, metric=metric)
    np.save(tmp("q.npy"), q)
    for extra in ((), ("--exact",)):
        rows = search_batch(db, "c", tmp("q.npy"), K, extra)
        eq(len(rows), NQ, "one result line per query")
        for qi in range(NQ):
            check_hits(rows[qi], true_scores(x, q[qi], metric), metric, K,
                       what="%s batch%s query %d" % (metric, " --exact" if extra else "", qi))
    for qi in range(0, NQ, 4):
        hits = search_one(db, "c", q[qi], K, ("--exact",))
        check_hits(hits, true_scores(x, q[qi], metric), metric, K,
                   what="%s single query %d" % (metric, qi))
    # A k larger than a batch tile of rows and a tiny k.
    rows = search_batch(db, "c", tmp("q.npy"), 300)
    for qi in (0, 7):
        check_hits(rows[qi], true_scores(x, q[qi], metric), metric, 300, what="k=300")
    rows = search_batch(db, "c", tmp("q.npy"), 1)
    for qi in range(NQ):
        check_hits(rows[qi], true_scores(x, q[qi], metric), metric, 1, what="k=1")


@test
def test_exact_l2(tmp):
    exact_metric(tmp, "l2", 21)


@test
def test_exact_ip(tmp):
    exact_metric(tmp, "ip", 22)


@test
def test_exact_cosine(tmp):
    exact_metric(tmp, "cosine", 23)


@test
def test_exact_max_dimension(tmp):
    db = tmp("db")
    rng = np.random.default_rng(28)
    x = rng.standard_normal((30, 65536)).astype(np.float32)
    q = rng.standard_normal((5, 65536)).astype(np.float32)
    np.save(tmp("x.npy"), x)
    np.save(tmp("q.npy"), q)
    hk_ok(db, "create", "c", "--dim", "65536", "--metric", "ip", "--index", "flat")
    hk_ok(db, "import", "c", tmp("x.npy"))
    rows = search_batch(db, "c", tmp("q.npy"), 5)
    for qi in range(5):
        check_hits(rows[qi], true_scores(x, q[qi], "ip"), "ip", 5, what="dim 65536 batch")
    # One query in a file takes the single-query path (--vector text would be longer
    # than the kernel allows one argument to be).
    np.save(tmp("q1.npy"), q[:1])
    hits = search_batch(db, "c", tmp("q1.npy"), 5)[0]
    check_hits(hits, true_scores(x, q[0], "ip"), "ip", 5, what="dim 65536 single")


@test
def test_exact_after_deletes_and_overwrites(tmp):
    # Holes in the slot arrays and replaced vectors must not leak into answers.
    db = tmp("db")
    x, q = dataset(24, n=1500)
    make_collection(db, "c", x)
    rng = np.random.default_rng(25)
    dead = sorted(set(int(i) for i in rng.choice(1500, 300, replace=False)))
    for i in range(0, len(dead), 100):
        hk_ok(db, "delete", "c", *dead[i:i + 100])
    newer = rng.standard_normal((50, DIM)).astype(np.float32)
    over = [i for i in range(1500) if i not in set(dead)][:50]
    with open(tmp("over.jsonl"), "w") as f:
        for j, i in enumerate(over):
            f.write(json.dumps({"id": i, "vector": [float(v) for v in newer[j]]}) + "\n")
    hk_ok(db, "import", "c", tmp("over.jsonl"))
    x2 = x.copy()
    x2[over] = newer
    alive = np.ones(1500, dtype=bool)
    alive[dead] = False
    np.save(tmp("q.npy"), q)
    rows = search_batch(db, "c", tmp("q.npy"), K)
    for qi in range(NQ):
        check_hits(rows[qi], true_scores(x2, q[qi], "l2"), "l2", K, allowed=alive,
                   what="after deletes, query %d" % qi)
    hits = search_one(db, "c", q[3], K)
    check_hits(hits, true_scores(x2, q[3], "l2"), "l2", K, allowed=alive, what="single")


@test
def test_batch_equals_single_on_offset_data(tmp):
    # Vectors far from the origin (a common offset of 100, e.g. raw sensor readings):
    # exact search must stay exact on both paths, although the batched path's matrix
    # product form |x|^2 + |q|^2 - 2 x.q cancels badly there.
    db = tmp("db")
    x, q = dataset(26, offset=100.0)
    make_collection(db, "c", x)
    np.save(tmp("q.npy"), q)
    singles = [search_one(db, "c", q[qi], K, ("--exact",)) for qi in range(4)]
    for qi in range(4):
        check_hits(singles[qi], true_scores(x, q[qi], "l2"), "l2", K, what="single %d" % qi)
    rows = search_batch(db, "c", tmp("q.npy"), K, ("--exact",))
    for qi in range(NQ):
        check_hits(rows[qi], true_scores(x, q[qi], "l2"), "l2", K, what="batch %d" % qi)


@test
def test_batch_query_equal_to_stored_vector(tmp):
    # A query that equals a stored vector is at distance 0 and a range query with a tiny
    # radius finds it: the way duplicates are found, in a batch (4+ queries, where the
    # matrix product form cancels) as well as one query at a time.
    db = tmp("db")
    x, _ = dataset(27)
    make_collection(db, "c", x)
    q = x[3:67]
    np.save(tmp("q.npy"), q)
    for qi in range(2):
        hits = search_one(db, "c", q[qi], 0, ("--radius", "0.0001"))
        eq([h["id"] for h in hits], [3 + qi], "single query finds its duplicate")
        eq(hits[0]["score"], 0)
    rows = search_batch(db, "c", tmp("q.npy"), 1)
    eq([r[0]["id"] for r in rows], list(range(3, 67)), "nearest is itself")
    eq([r[0]["score"] for r in rows], [0] * 64, "batch distances to themselves")
    rows = search_batch(db, "c", tmp("q.npy"), 0, ("--radius", "0.0001"))
    eq([[h["id"] for h in r] for r in rows], [[i] for i in range(3, 67)],
       "batch range query finds each duplicate")


# ---- filtered search -----------------------------------------------------------------------

CATS = ["news", "sport", "tech", "art", "food"]


def random_payloads(n, seed):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        p = {"cat": CATS[int(rng.integers(5))], "num": int(rng.integers(0, 100)),
             "price": float(np.round(rng.random() * 100, 2)),
             "tags": [CATS[int(t)] for t in rng.choice(5, int(rng.integers(0, 3)), replace=False)]}
        r = rng.random()
        if r < 0.6:
            p["a"] = {"b": int(rng.integers(0, 5))}
        elif r < 0.7:
            p["a"] = {"b": None}
        u = rng.random()
        if u < 0.2:
            p["opt"] = None
        elif u < 0.3:
            p["opt"] = []
        elif u < 0.7:
            p["opt"] = "x%d" % int(rng.integers(3))
        out.append(p)
    return out


def ab(p):
    a = p.get("a")
    return a.get("b") if isinstance(a, dict) else None


HAS_IDS = list(range(0, N, 7))

FILTERS = [
    ("match value", {"must": [{"key": "cat", "match": {"value": "tech"}}]},
     lambda i, p: p["cat"] == "tech"),
    ("match int", {"must": [{"key": "num", "match": {"value": 42}}]},
     lambda i, p: p["num"] == 42),
    ("match any", {"must": [{"key": "cat", "match": {"any": ["news", "art"]}}]},
     lambda i, p: p["cat"] in ("news", "art")),
    ("match except", {"must": [{"key": "cat", "match": {"except": ["news", "art"]}}]},
     lambda i, p: p["cat"] not in ("news", "art")),
    ("range", {"must": [{"key": "num", "range": {"gte": 10, "lt": 30}}]},
     lambda i, p: 10 <= p["num"] < 30),
    ("float range", {"must": [{"key": "price", "range": {"gt": 12.5, "lte": 50}}]},
     lambda i, p: 12.5 < p["price"] <= 50),
    ("must_not", {"must_not": [{"key": "cat", "match": {"value": "sport"}},
                               {"key": "num", "range": {"lt": 50}}]},
     lambda i, p: p["cat"] != "sport" and not p["num"] < 50),
    ("should", {"should": [{"key": "cat", "match": {"value": "food"}},
                           {"key": "num", "range": {"gte": 95}}]},
     lambda i, p: p["cat"] == "food" or p["num"] >= 95),
    ("nested key", {"must": [{"key": "a.b", "match": {"value": 3}}]},
     lambda i, p: ab(p) == 3),
    ("nested range", {"must": [{"key": "a.b", "range": {"lte": 1}}]},
     lambda i, p: ab(p) is not None and ab(p) <= 1),
    ("array element", {"must": [{"key": "tags", "match": {"value": "tech"}}]},
     lambda i, p: "tech" in p["tags"]),
    ("has_id", {"must": [{"has_id": HAS_IDS}]}, lambda i, p: i % 7 == 0),
    ("is_empty", {"must": [{"is_empty": {"key": "opt"}}]},
     lambda i, p: p.get("opt") in (None, [])),
    ("is_null", {"must": [{"is_null": {"key": "opt"}}]},
     lambda i, p: "opt" in p and p["opt"] is None),
    ("combined", {"must": [{"key": "cat", "match": {"any": ["news", "tech", "food"]}},
                           {"should": [{"key": "num", "range": {"lt": 20}},
                                       {"has_id": HAS_IDS}]}],
                  "must_not": [{"is_empty": {"key": "a.b"}}]},
     lambda i, p: p["cat"] in ("news", "tech", "food") and (p["num"] < 20 or i % 7 == 0)
     and ab(p) is not None),
    ("rare", {"must": [{"key": "num", "match": {"value": 7}},
                       {"key": "cat", "match": {"value": "art"}}]},
     lambda i, p: p["num"] == 7 and p["cat"] == "art"),
    ("nothing", {"must": [{"key": "cat", "match": {"value": "none"}}]}, lambda i, p: False),
]


def filtered(tmp, metric, seed, index):
    db = tmp("db")
    x, q = dataset(seed)
    pays = random_payloads(N, seed + 100)
    make_collection(db, "c", x, metric=metric, payloads=pays)
    if index:
        hk_ok(db, "index", "c", "cat", "--type", "keyword")
        hk_ok(db, "index", "c", "num", "--type", "integer")
        hk_ok(db, "index", "c", "a.b", "--type", "integer")
        hk_ok(db, "index", "c", "price", "--type", "float")
    np.save(tmp("q.npy"), q[:8])
    scores = [true_scores(x, q[qi], metric) for qi in range(8)]
    for name, filt, pred in FILTERS:
        allowed = np.array([pred(i, pays[i]) for i in range(N)])
        eq(int(hk_ok(db, "count", "c", "--filter", json.dumps(filt)).out), int(allowed.sum()),
           "count for filter %s" % name)
        rows = search_batch(db, "c", tmp("q.npy"), K, ("--filter", json.dumps(filt)))
        eq(len(rows), 8)
        for qi in range(8):
            check_hits(rows[qi], scores[qi], metric, K, allowed=allowed,
                       what="%s filter '%s' batch query %d" % (metric, name, qi))
        hits = search_one(db, "c", q[1], K, ("--filter", json.dumps(filt)))
        check_hits(hits, scores[1], metric, K, allowed=allowed,
                   what="%s filter '%s' single query" % (metric, name))


@test
def test_filtered_l2(tmp):
    filtered(tmp, "l2", 31, index=False)


@test
def test_filtered_cosine_with_payload_indexes(tmp):
    filtered(tmp, "cosine", 32, index=True)


@test
def test_filtered_radius(tmp):
    db = tmp("db")
    x, q = dataset(33)
    pays = random_payloads(N, 34)
    make_collection(db, "c", x, payloads=pays)
    filt = {"must": [{"key": "cat", "match": {"any": ["tech", "art"]}}]}
    allowed = np.array([p["cat"] in ("tech", "art") for p in pays])
    d = true_scores(x, q[5], "l2")
    radius = float(np.sort(d[allowed])[40]) + 1e-3
    hits = search_one(db, "c", q[5], 0, ("--radius", radius, "--filter", json.dumps(filt)))
    want = set(int(i) for i in np.nonzero(allowed & (d <= radius))[0])
    eq(set(h["id"] for h in hits), want, "filtered range query")


# ---- BIGANN 10K -----------------------------------------------------------------------------

@test
def test_bigann_exact_recall(tmp):
    base = os.path.join(ANN_DIR, "bigann10k_base.bvecs")
    queries = os.path.join(ANN_DIR, "bigann10k_query.bvecs")
    truth = os.path.join(ANN_DIR, "bigann10k_groundtruth.ivecs")
    db = tmp("db")
    hk_ok(db, "create", "sift", "--dim", "128", "--index", "flat")
    r = hk_ok(db, "import", "sift", base, "--quiet")
    eq(r.out.split()[1], "10000", "imported points")
    r = hk_ok(db, "search", "sift", "--queries", queries, "--k", "100", "--exact", "--truth",
              truth, "--out", tmp("out.ivecs"))
    eq(r.out.strip(), "recall@100 = 1.0000 over 100 queries")
    x = read_bvecs(base).astype(np.int64)
    qs = read_bvecs(queries).astype(np.int64)
    out = read_ivecs(tmp("out.ivecs"))
    gt = read_ivecs(truth)
    eq(len(out), 100)
    eq(len(gt), 100)
    ties = 0
    for qi in range(100):
        eq(len(out[qi]), 100, "row %d length" % qi)
        d = ((x - qs[qi]) ** 2).sum(axis=1)  # exact integer squared distances
        # Same distances rank by rank; ids may differ only among equal distances.
        eq(d[out[qi]].tolist(), d[gt[qi]].tolist(), "query %d distances" % qi)
        eq(d[out[qi]].tolist(), sorted(d[out[qi]].tolist()), "query %d order" % qi)
        ties += int(np.sum(out[qi] != gt[qi]))
    # The ground truth itself checks against brute force (README): a sanity check of the
    # reader used above.
    check(ties < 100 * 100 * 0.05, "ids differ from the ground truth in %d places" % ties)
    # The single-query path agrees on a few queries.
    qv = read_bvecs(queries)
    for qi in (0, 50, 99):
        r = hk_ok(db, "search", "sift", "--vector", vec_arg(qv[qi]), "--k", "100", "--exact",
                  "--json")
        ids = [h["id"] for h in loads(r.out)]
        d = ((x - qs[qi]) ** 2).sum(axis=1)
        eq(d[ids].tolist(), d[gt[qi]].tolist(), "single query %d distances" % qi)
    # --truth with fewer rows than queries is an error, not a wrong number.
    from hk_test import write_ivecs
    write_ivecs(tmp("short.ivecs"), gt[:10])
    fails(run(["search", "sift", "--queries", queries, "--k", "10", "--truth",
               tmp("short.ivecs")], db=db), 1, r"10 rows but there are 100 queries")


if __name__ == "__main__":
    main()
