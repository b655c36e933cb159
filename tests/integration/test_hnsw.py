"""test_hnsw.py — recall regression tests for the HNSW index, through the real binary.

Ground truth is brute force in float64 over the live set (numpy), on seeded clustered
data (Gaussian clusters; queries drawn from the same clusters), for every metric. A hit
counts as correct when its true score is at least as good as the k-th best true score
(relative slack 1e-5), so ties and float32 rounding at the k-th place are not misses.
Every phase asserts recall@10 >= 0.95 at the collection's default ef (the issue's
threshold), that `hektor verify` accepts the collection (graph links point to live
points, degrees within bounds, entry point on the top level, every live point linked),
that every node of the graph stored in the snapshot (docs/FORMAT.md) can be reached from
the entry point (a node without a path to it is never returned by a graph search), that
no dead or filtered-out id is returned, and that returned scores are the true ones.

Phases: build, further inserts, deletes, reopen from the snapshot's graph, reopen by log
replay (a writer killed with records in its log), upserts of existing ids, churn (half
deleted, as many inserted: within 0.01 of a fresh build of the same set), filters at 50,
10, 1 and 0.1 % selectivity with and without payload indexes (k results whenever k
match), range queries through the graph against --exact, batches against single
queries, --ef, BIGANN 10K against its published ground truth, SIGKILLs during HNSW
imports, a damaged graph with valid checksums, and the hnsw options of create and search.

The parallel build is not deterministic, so answers are compared across processes only
where the graph comes from a snapshot; recall thresholds have margin for any interleaving
(observed recall@10 is 0.99 to 1.0 at the default ef; each phase prints its figure)."""
import json
import os
import random
import signal
import struct
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hk_test import (  # noqa: E402
    ANN_DIR, SLOW, alive, check, contains, count, eq, fails, file_bytes, hk_ok, info,
    jsonl_line, loads, main, matches, ok, read_bvecs, read_ivecs, run, scroll_all, spawn, test,
    vec_arg)

K = 10
RECALL = 0.95  # the floor at the default ef
DIM = 32
CLUSTERS = 50
NQ = 100


# ---- data and ground truth ------------------------------------------------------------------

class Points:
    """The live set as the test believes it to be: id -> float32 vector (and payload)."""

    def __init__(self, dim=DIM):
        self.vec = {}
        self.pay = {}
        self.dim = dim

    def put(self, ids, x, pays=None):
        for j, i in enumerate(ids):
            self.vec[int(i)] = np.asarray(x[j], dtype=np.float32)
            if pays is not None:
                self.pay[int(i)] = pays[j]

    def drop(self, ids):
        for i in ids:
            self.vec.pop(int(i), None)
            self.pay.pop(int(i), None)

    def arrays(self, pred=None):
        ids = np.array(sorted(i for i in self.vec if pred is None or pred(self.pay.get(i))),
                       dtype=np.int64)
        x = np.stack([self.vec[int(i)] for i in ids]) if len(ids) else np.zeros((0, self.dim))
        return ids, x


class Gen:
    """Seeded clustered data: CLUSTERS Gaussian centres (spread 1.5: neighbouring clusters
    overlap) plus unit noise."""

    def __init__(self, seed, dim=DIM, clusters=CLUSTERS):
        self.rng = np.random.default_rng(seed)
        self.centers = 1.5 * self.rng.standard_normal((clusters, dim))
        self.dim = dim

    def draw(self, n, labels=None):
        if labels is None:
            labels = self.rng.integers(len(self.centers), size=n)
        x = self.centers[labels] + self.rng.standard_normal((n, self.dim))
        return x.astype(np.float32), labels


def true_scores(x, q, metric):
    """Higher is better for every metric: -squared l2, dot, cosine; float64."""
    x = np.asarray(x, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if metric == "l2":
        return -((x - q) ** 2).sum(axis=1)
    if metric == "ip":
        return x @ q
    return (x @ q) / (np.linalg.norm(x, axis=1) * np.linalg.norm(q))


def user_score(s, metric):
    """What hektor prints for a true score s: l2 distance (not squared), else s."""
    return np.sqrt(max(-s, 0.0)) if metric == "l2" else s


def recall(rows, queries, pts, metric, k=K, pred=None, what=""):
    """Mean recall@k of hektor's rows ([{"id","score"}] per query) over the live points
    (those matching pred, when given). Also asserts what must hold for every hit: a
    live (and matching) id, no duplicates, the true score, best first, and k hits
    whenever k points qualify (all of them otherwise)."""
    ids, x = pts.arrays(pred)
    eq(len(rows), len(queries), "%s: result rows" % what)
    pos = {int(i): j for j, i in enumerate(ids)}
    total = 0.0
    for qi, hits in enumerate(rows):
        want = min(k, len(ids))
        eq(len(hits), want, "%s: query %d: number of hits (%d points qualify)"
           % (what, qi, len(ids)))
        if not want:
            total += 1.0
            continue
        s = true_scores(x, queries[qi], metric)
        kth = np.partition(s, len(s) - want)[len(s) - want]
        slack = 1e-5 * max(1.0, abs(kth))
        got = [h["id"] for h in hits]
        eq(len(set(got)), len(got), "%s: query %d: duplicate ids" % (what, qi))
        bad = [i for i in got if i not in pos]
        check(not bad, "%s: query %d returned ids that are deleted, unknown or filtered out: %r"
              % (what, qi, bad[:10]))
        good = 0
        prev = None
        for h in hits:
            t = s[pos[h["id"]]]
            u = user_score(t, metric)
            check(abs(h["score"] - u) <= 1e-3 * max(1.0, abs(u)),
                  "%s: query %d: id %d has score %r, its true score is %r"
                  % (what, qi, h["id"], h["score"], u))
            if prev is not None:
                worse = h["score"] < prev if metric == "l2" else h["score"] > prev
                check(not worse, "%s: query %d: hits are not best first" % (what, qi))
            prev = h["score"]
            good += t >= kth - slack
        total += good / want
    return total / max(1, len(rows))


def write_jsonl(path, ids, x, pays=None):
    with open(path, "w") as f:
        for j, i in enumerate(ids):
            f.write(jsonl_line(i, x[j], pays[j] if pays else None) + "\n")


def import_points(tmp, db, name, ids, x, pays=None, tag="in"):
    path = tmp("%s.jsonl" % tag)
    write_jsonl(path, ids, x, pays)
    r = hk_ok(db, "import", name, path, "--quiet")
    contains(r.out, "imported %d points" % len(ids))


def search(tmp, db, name, queries, k=K, extra=()):
    """Batch search (--queries FILE.npy) -> one hit list per query."""
    path = tmp("q.npy")
    np.save(path, np.asarray(queries, dtype=np.float32))
    r = hk_ok(db, "search", name, "--queries", path, "--k", k, "--json", *[str(a) for a in extra])
    return [loads(l) for l in r.lines()]


def search_one(db, name, q, k=K, extra=()):
    r = hk_ok(db, "search", name, "--vector", vec_arg(q), "--k", k, "--json",
              *[str(a) for a in extra])
    return loads(r.out)


def snapshot_sections(data):
    """{tag: (header offset, data offset, length)} per docs/FORMAT.md."""
    out, off = {}, 64
    while off < len(data):
        tag = data[off:off + 4].decode("ascii")
        length = struct.unpack_from("<Q", data, off + 8)[0]
        out[tag] = (off, off + 64, length)
        off += 64 + (length + 63) // 64 * 64
    return out


def stored_graph(db, name):
    """(ids, {slot: [links per level]}, entry slot) from the collection's snapshot."""
    with open(os.path.join(db, "collections", name, "snapshot.hks"), "rb") as f:
        data = f.read()
    secs = snapshot_sections(data)
    _, start, length = secs["IDS\0"]
    ids = struct.unpack_from("<%dQ" % (length // 8), data, start)
    _, start, length = secs["GRPH"]
    blob = data[start:start + length]
    n, _, entry, _ = struct.unpack_from("<IIII", blob, 32)
    nodes, off = {}, 48
    for slot in range(n):
        level = blob[off]
        off += 1
        if level == 0xFF:
            continue
        lists = []
        for _ in range(level + 1):
            c = struct.unpack_from("<I", blob, off)[0]
            lists.append(struct.unpack_from("<%dI" % c, blob, off + 4))
            off += 4 + 4 * c
        nodes[slot] = lists
    return ids, nodes, entry


def unreachable(db, name):
    """Ids of the graph's nodes that no walk from the entry point reaches, following the
    links of every level: points that no graph search can ever return."""
    ids, nodes, entry = stored_graph(db, name)
    if not nodes:
        return []
    seen, todo = {entry}, [entry]
    while todo:
        for links in nodes[todo.pop()]:
            for t in links:
                if t not in seen:
                    seen.add(t)
                    todo.append(t)
    return sorted(ids[s] for s in nodes if s not in seen)


def verify(db, name, n, what, reach=True):
    """`hektor verify`, and (when the log is empty, so the snapshot holds the graph a
    reader searches) that every node can be reached from the entry point."""
    r = run(["verify", name], db=db)
    check(r.rc == 0, "%s: verify failed:\n%r" % (what, r))
    ok(r)
    eq(r.out.strip(), "collection '%s' is consistent: %d points, every one linked into a "
       "valid HNSW graph" % (name, n), "%s: verify" % what)
    if reach and info(db, name)["wal_bytes"] == 32:
        lost = unreachable(db, name)
        check(not lost, "%s: %d of %d points cannot be reached from the graph's entry point "
              "(no search can return them), e.g. ids %r" % (what, len(lost), n, lost[:10]))


def assert_recall(value, what, floor=RECALL):
    print("  %-58s recall@%d %.4f" % (what, K, value))
    check(value >= floor, "%s: recall@%d %.4f is below %.2f" % (what, K, value, floor))


def phase(tmp, db, name, queries, pts, metric, what, pred=None, filt=None):
    """Recall at the default ef (>= RECALL) and verify: the check after every mutation."""
    extra = ("--filter", json.dumps(filt)) if filt is not None else ()
    rows = search(tmp, db, name, queries, extra=extra)
    rec = recall(rows, queries, pts, metric, pred=pred, what=what)
    assert_recall(rec, "%s %s" % (metric, what))
    verify(db, name, len(pts.vec), what)
    return rows


# ---- killed writers -------------------------------------------------------------------------

def import_and_kill(db, name, lines, expect):
    """Streams jsonl lines into `import -` and SIGKILLs the writer once a reader counts
    `expect` points, so the records stay in the log (closing would checkpoint them). The
    reader only applies whole 256 KiB blocks: blank lines (skipped) push the rest
    through. lines must be a whole number of batches, ending with new points."""
    p = spawn(["import", name, "-", "--format", "jsonl", "--batch", 100, "--quiet"], db=db,
              stdin=subprocess.PIPE)
    try:
        p.stdin.write("".join(lines).encode())
        p.stdin.flush()
        deadline = time.time() + 60 * SLOW
        while count(db, name) < expect:
            alive(p, "the writer")
            check(time.time() < deadline, "the writer never applied its records")
            p.stdin.write(b"\n" * (64 << 10))
            p.stdin.flush()
            time.sleep(0.02)
        alive(p, "the writer")
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    eq(p.returncode, -signal.SIGKILL)


# ---- the life of a collection, per metric ---------------------------------------------------

def sel_payloads(ids):
    """sel: 0..999 spread evenly (sel < 100 selects 10 %)."""
    return [{"sel": int(i * 7919 % 1000)} for i in ids]


def lifecycle(tmp, metric, seed):
    db = tmp("db")
    gen = Gen(seed)
    rng = np.random.default_rng(seed + 1)
    queries, _ = gen.draw(NQ)
    pts = Points()
    hk_ok(db, "create", "c", "--dim", DIM, "--metric", metric)
    i = info(db, "c")
    eq((i["index"], i["hnsw"]), ("hnsw", {"m": 16, "ef_construction": 200, "ef": 64}),
       "default index")

    # Build.
    x, _ = gen.draw(2000)
    ids = list(range(2000))
    import_points(tmp, db, "c", ids, x, sel_payloads(ids), "build")
    pts.put(ids, x, sel_payloads(ids))
    phase(tmp, db, "c", queries, pts, metric, "after build")

    # Further inserts (a second import links into the graph loaded from the snapshot).
    x, _ = gen.draw(1000)
    ids = list(range(2000, 3000))
    import_points(tmp, db, "c", ids, x, sel_payloads(ids), "more")
    pts.put(ids, x, sel_payloads(ids))
    phase(tmp, db, "c", queries, pts, metric, "after inserts")

    # Deletes: a third of the points, in one command (one batch delete).
    dead = sorted(int(i) for i in rng.choice(3000, 1000, replace=False))
    r = hk_ok(db, "delete", "c", *dead)
    eq(r.out.strip(), "deleted 1000 points")
    dead_vecs = np.stack([pts.vec[i] for i in dead])
    pts.drop(dead)
    phase(tmp, db, "c", queries, pts, metric, "after deletes")
    # The deleted points' own vectors as queries: their ids must not come back.
    rows = search(tmp, db, "c", dead_vecs[:200])
    back = sorted(set(h["id"] for row in rows for h in row) & set(dead))
    check(not back, "%s: deleted ids returned for their own vectors: %r" % (metric, back[:10]))
    rec = recall(rows, dead_vecs[:200], pts, metric, what="deleted vectors as queries")
    assert_recall(rec, "%s deleted vectors as queries" % metric)
    # Under a filter (10 % and 1 % of the live points).
    for lt in (100, 10):
        filt = {"must": [{"key": "sel", "range": {"lt": lt}}]}
        phase(tmp, db, "c", queries, pts, metric, "after deletes, sel < %d" % lt,
              pred=lambda p, lt=lt: p["sel"] < lt, filt=filt)

    # Reopen from a checkpoint: the graph comes from the snapshot, the log is empty.
    r = hk_ok(db, "checkpoint", "c")
    eq(r.out.strip(), "checkpointed 'c'")
    eq(info(db, "c")["wal_bytes"], 32, "the log after a checkpoint")
    rows_snap = phase(tmp, db, "c", queries, pts, metric, "after checkpoint + reopen")
    eq(search(tmp, db, "c", queries), rows_snap, "the loaded graph answers the same twice")

    # Reopen by log replay: a killed writer leaves 300 upserts of existing ids (new
    # vectors) and 500 new points in the log; every open replays them into the graph.
    live = sorted(pts.vec)
    over = sorted(int(i) for i in rng.choice(live, 300, replace=False))
    xo, _ = gen.draw(300)
    xn, _ = gen.draw(500)
    new = list(range(3000, 3500))
    lines = [jsonl_line(i, xo[j], sel_payloads([i])[0]) + "\n" for j, i in enumerate(over)]
    lines += [jsonl_line(i, xn[j], sel_payloads([i])[0]) + "\n" for j, i in enumerate(new)]
    import_and_kill(db, "c", lines, len(pts.vec) + 500)
    pts.put(over, xo, sel_payloads(over))
    pts.put(new, xn, sel_payloads(new))
    check(info(db, "c")["wal_bytes"] > 32, "the killed writer left records in the log")
    phase(tmp, db, "c", queries, pts, metric, "reopened by log replay")
    phase(tmp, db, "c", queries, pts, metric, "log replay, sel < 100",
          pred=lambda p: p["sel"] < 100, filt={"must": [{"key": "sel", "range": {"lt": 100}}]})
    if metric != "ip":  # under ip a vector's best match need not be itself
        rows = search(tmp, db, "c", xo[:100], k=1)
        eq([r[0]["id"] for r in rows], over[:100], "replaced vectors find their ids (replay)")
    # A writer's open replays the log too, then checkpoints the graph into the snapshot.
    hk_ok(db, "checkpoint", "c")
    eq(info(db, "c")["wal_bytes"], 32, "the log after the final checkpoint")
    phase(tmp, db, "c", queries, pts, metric, "log replay + checkpoint + reopen")
    eq(count(db, "c"), len(pts.vec))


@test
def test_lifecycle_l2(tmp):
    lifecycle(tmp, "l2", 101)


@test
def test_lifecycle_ip(tmp):
    lifecycle(tmp, "ip", 102)


@test
def test_lifecycle_cosine(tmp):
    lifecycle(tmp, "cosine", 103)


# ---- upserts and churn ----------------------------------------------------------------------

def import_points_npy(tmp, db, name, x, start, create=False, metric="l2"):
    if create:
        hk_ok(db, "create", name, "--dim", x.shape[1], "--metric", metric)
    path = tmp("%s-%d.npy" % (name, start))
    np.save(path, x)
    r = hk_ok(db, "import", name, path, "--start-id", start, "--quiet")
    contains(r.out, "imported %d points" % len(x))


@test
def test_upsert_replaces_vector(tmp):
    db = tmp("db")
    gen = Gen(201)
    x, labels = gen.draw(2000)
    pts = Points()
    import_points_npy(tmp, db, "c", x, 0, create=True)
    pts.put(range(2000), x)
    # Move point 5 into another cluster, far from where it was.
    other = (int(labels[5]) + 1) % CLUSTERS
    newv, _ = gen.draw(1, labels=np.array([other]))
    old = x[5].copy()
    import_points_npy(tmp, db, "c", newv, 5)
    pts.put([5], newv)
    eq(count(db, "c"), 2000, "an upsert of an existing id adds nothing")
    verify(db, "c", 2000, "after one upsert")
    hits = search_one(db, "c", newv[0])
    eq(hits[0]["id"], 5, "the new vector finds its id first")
    eq(hits[0]["score"], 0, "at distance 0")
    hits = search_one(db, "c", old, k=50)
    for h in hits:
        check(h["id"] != 5 or h["score"] > 1.0,
              "id 5 is still found at its old vector (score %r)" % h["score"])
    hits = search_one(db, "c", old, 0, ("--exact", "--radius", 1e-3))
    eq(hits, [], "nothing is left at the old vector")
    # Replace 600 vectors in one batch (each moved to another cluster).
    rng = np.random.default_rng(202)
    over = sorted(int(i) for i in rng.choice(2000, 600, replace=False))
    xo, _ = gen.draw(600, labels=(labels[over] + 7) % CLUSTERS)
    import_points(tmp, db, "c", over, xo, tag="over")
    pts.put(over, xo)
    queries, _ = gen.draw(NQ)
    phase(tmp, db, "c", queries, pts, "l2", "after 600 upserts")
    # Each replaced vector finds its id first. A graph walk is approximate, so at the
    # default ef a rare miss is allowed (at most 1 in 200, the recall floor's spirit);
    # every point is reachable, so a wider walk (ef 512) must find all of them.
    def self_found(vectors, want, what):
        rows = search(tmp, db, "c", vectors, k=1)
        miss = [(w, r[0]) for w, r in zip(want, rows) if r[0]["id"] != w]
        check(len(miss) * 200 <= len(want), "%s: %d of %d not found first by their own "
              "vectors at the default ef (id: found instead): %r" % (what, len(miss), len(want), miss[:5]))
        rows = search(tmp, db, "c", vectors, k=1, extra=("--ef", 512))
        miss = [(w, r[0]) for w, r in zip(want, rows) if r[0]["id"] != w]
        check(not miss, "%s: %d not found first by their own vectors even at ef 512: %r"
              % (what, len(miss), miss[:5]))
    self_found(xo, over, "the 600 replaced vectors")
    # Every point, replaced or not, is found first (at distance 0) by its own vector.
    ids, xs = pts.arrays()
    self_found(xs, [int(i) for i in ids], "after 600 upserts, all points")


def churn(tmp, metric, seed):
    db = tmp("db")
    gen = Gen(seed)
    rng = np.random.default_rng(seed + 1)
    queries, _ = gen.draw(2 * NQ)
    pts = Points()
    n = 3000
    x, _ = gen.draw(n)
    import_points_npy(tmp, db, "churn", x, 0, create=True, metric=metric)
    pts.put(range(n), x)
    next_id = n
    for rnd in range(2):
        # Delete half of the live points, then insert as many new ones.
        live = sorted(pts.vec)
        dead = sorted(int(i) for i in rng.choice(live, len(live) // 2, replace=False))
        for j in range(0, len(dead), 1000):
            hk_ok(db, "delete", "churn", *dead[j:j + 1000])
        pts.drop(dead)
        verify(db, "churn", len(pts.vec), "churn round %d, after deletes" % rnd)
        xn, _ = gen.draw(len(dead))
        import_points_npy(tmp, db, "churn", xn, next_id)
        pts.put(range(next_id, next_id + len(dead)), xn)
        next_id += len(dead)
        verify(db, "churn", len(pts.vec), "churn round %d, after inserts" % rnd)
    churned = recall(search(tmp, db, "churn", queries), queries, pts, metric, what="churned")
    # A fresh build of the same set (same ids and vectors), in one import.
    ids, xs = pts.arrays()
    hk_ok(db, "create", "fresh", "--dim", DIM, "--metric", metric)
    import_points(tmp, db, "fresh", ids, xs, tag="fresh")
    verify(db, "fresh", len(ids), "fresh build")
    fresh = recall(search(tmp, db, "fresh", queries), queries, pts, metric, what="fresh")
    assert_recall(churned, "%s after 2 rounds of 50%% churn" % metric)
    assert_recall(fresh, "%s fresh build of the same set" % metric)
    check(churned >= fresh - 0.01, "%s: recall after churn %.4f is more than 0.01 below a "
          "fresh build's %.4f" % (metric, churned, fresh))


@test
def test_churn_l2(tmp):
    churn(tmp, "l2", 301)


@test
def test_churn_cosine(tmp):
    churn(tmp, "cosine", 302)


@test
def test_delete_everything_then_refill(tmp):
    # The entry point and every level go; the graph starts again from nothing.
    db = tmp("db")
    gen = Gen(311)
    x, _ = gen.draw(1500)
    import_points_npy(tmp, db, "c", x, 0, create=True)
    eq(hk_ok(db, "delete", "c", "--filter", "{}").out.strip(), "deleted 1500 points")
    r = hk_ok(db, "verify", "c")
    eq(r.out.strip(), "collection 'c' is consistent: 0 points, every one linked into a valid "
       "HNSW graph")
    queries, _ = gen.draw(NQ)
    eq(search(tmp, db, "c", queries), [[]] * NQ, "an empty graph returns nothing")
    pts = Points()
    x, _ = gen.draw(1500)
    import_points_npy(tmp, db, "c", x, 5000)
    pts.put(range(5000, 6500), x)
    phase(tmp, db, "c", queries, pts, "l2", "refilled after deleting everything")


# ---- filters --------------------------------------------------------------------------------

FN = 12000  # 0.1 % of it is 12 points, more than k


@test
def test_filter_selectivity(tmp):
    db = tmp("db")
    gen = Gen(401, dim=24)
    x, labels = gen.draw(FN)
    ids = list(range(FN))
    # sel: 0..999, each value on exactly FN/1000 points; par: parity of the cluster.
    pays = [{"sel": int(i * 7919 % 1000), "par": int(labels[i] % 2),
             "grp": "g%d" % (i * 7919 % 1000 // 100)} for i in ids]
    hk_ok(db, "create", "f", "--dim", 24)
    import_points(tmp, db, "f", ids, x, pays, "f")
    pts = Points(24)
    pts.put(ids, x, pays)
    verify(db, "f", FN, "filter collection")
    qlab = 2 * np.random.default_rng(402).integers(CLUSTERS // 2, size=NQ)  # even clusters
    queries, _ = gen.draw(NQ, labels=qlab)
    cases = [
        ("50%", {"must": [{"key": "sel", "range": {"lt": 500}}]}, lambda p: p["sel"] < 500),
        ("10%", {"must": [{"key": "sel", "range": {"lt": 100}}]}, lambda p: p["sel"] < 100),
        ("10% keyword", {"must": [{"key": "grp", "match": {"value": "g3"}}]},
         lambda p: p["grp"] == "g3"),
        ("1%", {"must": [{"key": "sel", "range": {"lt": 10}}]}, lambda p: p["sel"] < 10),
        ("0.1%", {"must": [{"key": "sel", "match": {"value": 0}}]}, lambda p: p["sel"] == 0),
        # Fewer than k match (4 with these seeds): all of them, exactly.
        ("0.05%", {"must": [{"key": "sel", "match": {"value": 0}},
                            {"key": "par", "match": {"value": 0}}]},
         lambda p: p["sel"] == 0 and p["par"] == 0),
        # Half of the points, none near the queries (odd clusters; queries are in even
        # ones): the walk has to leave the query's neighbourhood.
        ("50% away from the queries", {"must": [{"key": "par", "match": {"value": 1}}]},
         lambda p: p["par"] == 1),
        ("nothing", {"must": [{"key": "sel", "range": {"gt": 5000}}]}, lambda p: False),
    ]
    before = {}
    for name, filt, pred in cases:
        n_match = count(db, "f", filt)
        eq(n_match, sum(1 for p in pays if pred(p)), "count for %s" % name)
        if name == "0.05%":
            check(0 < n_match < K, "the 0.05%% case has %d matches" % n_match)
        rows = search(tmp, db, "f", queries, extra=("--filter", json.dumps(filt)))
        rec = recall(rows, queries, pts, "l2", pred=pred, what="filter %s" % name)
        assert_recall(rec, "filter %s (%d match), no payload index" % (name, n_match))
        before[name] = rows
        single = [search_one(db, "f", queries[qi], extra=("--filter", json.dumps(filt)))
                  for qi in range(3)]
        eq(single, rows[:3], "filter %s: single queries equal the batch" % name)
    # k above the matching count (12 at 0.1 %): exactly the matches.
    rows = search(tmp, db, "f", queries[:5], k=50, extra=("--filter", json.dumps(cases[4][1])))
    recall(rows, queries[:5], pts, "l2", k=50, pred=cases[4][2], what="0.1% with k 50")
    for key, typ in (("sel", "integer"), ("par", "integer"), ("grp", "keyword")):
        hk_ok(db, "index", "f", key, "--type", typ)
    for name, filt, pred in cases:
        rows = search(tmp, db, "f", queries, extra=("--filter", json.dumps(filt)))
        eq(rows, before[name], "filter %s: the same answers with payload indexes" % name)
    verify(db, "f", FN, "after payload indexes")
    # Deletes among the matches: the 0.1 % filter now matches 6 (< k), then 0.
    gone = [i for i in ids if pays[i]["sel"] == 0 and pays[i]["par"] == 1]
    hk_ok(db, "delete", "f", *gone)
    pts.drop(gone)
    verify(db, "f", len(pts.vec), "after deleting matches")
    rows = search(tmp, db, "f", queries, extra=("--filter", json.dumps(cases[4][1])))
    recall(rows, queries, pts, "l2", pred=cases[4][2], what="0.1% after deletes")
    hk_ok(db, "delete", "f", "--filter", json.dumps(cases[4][1]))
    pts.drop([i for i in ids if pays[i]["sel"] == 0])
    rows = search(tmp, db, "f", queries, extra=("--filter", json.dumps(cases[4][1])))
    eq(rows, [[]] * NQ, "a filter whose points are all deleted")
    phase(tmp, db, "f", queries, pts, "l2", "filter 10% after deletes", pred=cases[1][2],
          filt=cases[1][1])


# ---- range queries, batches, ef -------------------------------------------------------------

def radius_for(s, n_in, metric):
    """A radius (hektor's units) holding about n_in points (n_in to 1.1 n_in): midway
    across the widest gap between consecutive true scores there, so float32 rounding
    cannot move a point across the boundary. Returns (radius, ids in range, best first)."""
    order = np.argsort(-s, kind="stable")
    top = s[order]
    hi = max(n_in + 1, n_in + n_in // 10)
    cut = n_in + int(np.argmax(top[n_in - 1:hi - 1] - top[n_in:hi]))
    mid = (top[cut - 1] + top[cut]) / 2
    rad = float(np.sqrt(-mid)) if metric == "l2" else float(mid)
    return rad, [int(i) for i in order[:cut]]


def check_order(hits, metric, what):
    sc = [h["score"] for h in hits]
    check(sc == sorted(sc, reverse=metric != "l2"), "%s: hits are not best first" % what)


def radius_case(tmp, metric, seed):
    db = tmp("db")
    gen = Gen(seed)
    x, _ = gen.draw(3000)
    import_points_npy(tmp, db, "r", x, 0, create=True, metric=metric)
    queries, _ = gen.draw(12)
    found = wanted = 0
    for qi, q in enumerate(queries):
        s = true_scores(x, q, metric)
        # About 5 and 60 points: answered by the graph walk; 1000 (a third of the set):
        # the walk widens until a scan is cheaper.
        for n_in in (5, 60, 1000):
            rad, inside = radius_for(s, n_in, metric)
            what = "%s query %d, %d points in range" % (metric, qi, len(inside))
            exact = search_one(db, "r", q, 0, ("--radius", repr(rad), "--exact"))
            eq(sorted(h["id"] for h in exact), sorted(inside), "%s: --exact" % what)
            check_order(exact, metric, what + " --exact")
            for k in (0, K):
                # k 0: every point in range; k 10: the best 10 in range.
                want = set(inside[:k] if k else inside)
                hits = search_one(db, "r", q, k, ("--radius", repr(rad)))
                got = [h["id"] for h in hits]
                eq(len(set(got)), len(got), "%s, k %d: duplicate ids" % (what, k))
                out = sorted(set(got) - set(inside))
                check(not out, "%s, k %d: hits outside the radius: %r" % (what, k, out[:10]))
                check(len(got) <= len(want), "%s, k %d: %d hits" % (what, k, len(got)))
                check_order(hits, metric, "%s, k %d" % (what, k))
                found += len(set(got) & want)
                wanted += len(want)
    # --exact finds exactly the in-range points (asserted above). The walk is approximate
    # like k-NN search and may miss a point now and then, so the asserted bound is the
    # k-NN floor on the share of in-range points found (over every query, radius and k),
    # and no hit outside the radius, ever.
    assert_recall(found / wanted, "%s range queries (share of the in-range points)" % metric)
    # Batched range queries give the single-query answers (walk and scan sizes).
    for n_in in (60, 1000):
        rad, _ = radius_for(true_scores(x, queries[0], metric), n_in, metric)
        singles = [search_one(db, "r", q, 0, ("--radius", repr(rad))) for q in queries[:6]]
        eq(search(tmp, db, "r", queries[:6], 0, ("--radius", repr(rad))), singles,
           "batched range queries (%d points in range of query 0)" % n_in)


@test
def test_radius_l2(tmp):
    radius_case(tmp, "l2", 501)


@test
def test_radius_ip(tmp):
    radius_case(tmp, "ip", 502)


@test
def test_radius_cosine(tmp):
    radius_case(tmp, "cosine", 503)


@test
def test_batch_equals_single_and_ef(tmp):
    db = tmp("db")
    gen = Gen(601)
    x, _ = gen.draw(4000)
    import_points_npy(tmp, db, "c", x, 0, create=True, metric="cosine")
    pts = Points()
    pts.put(range(4000), x)
    queries, _ = gen.draw(2 * NQ)
    # A batch answers what the same queries answer one at a time (the graph is fixed and
    # the walk deterministic, so the lists are equal, not just equally good).
    batch = search(tmp, db, "c", queries)
    singles = [search_one(db, "c", q) for q in queries[:25]]
    eq(singles, batch[:25], "batch vs single queries")
    r_batch = recall(batch, queries, pts, "cosine", what="batch")
    r_single = recall(singles, queries[:25], pts, "cosine", what="single")
    assert_recall(r_batch, "cosine batch of %d queries" % len(queries))
    assert_recall(r_single, "cosine single queries")
    # --ef: a wider search is at least as good (within 0.005 of noise: a wider beam is
    # not better query by query), --exact is perfect; --ef 0 means the collection's ef.
    by_ef = {}
    for ef in (10, 32, 64, 200, 800):
        rows = search(tmp, db, "c", queries, extra=("--ef", ef))
        by_ef[ef] = recall(rows, queries, pts, "cosine", what="ef %d" % ef)
        print("  cosine ef %-4d recall@10 %.4f" % (ef, by_ef[ef]))
        if ef == 64:
            eq(rows, batch, "--ef 64 is the default")
    eq(search(tmp, db, "c", queries, extra=("--ef", 0)), batch, "--ef 0 is the default")
    assert_recall(by_ef[64], "cosine default ef")
    for lo, hi in ((10, 32), (32, 64), (64, 200), (200, 800)):
        check(by_ef[hi] >= by_ef[lo] - 0.005, "recall at ef %d (%.4f) is below ef %d's (%.4f)"
              % (hi, by_ef[hi], lo, by_ef[lo]))
    check(by_ef[800] >= 0.99, "ef 800 recall %.4f" % by_ef[800])
    exact = search(tmp, db, "c", queries, extra=("--exact",))
    eq(recall(exact, queries, pts, "cosine", what="--exact"), 1.0, "--exact recall")
    # ef below k is raised to k: k hits, as good as ef = k.
    rows = search(tmp, db, "c", queries, 100, ("--ef", 5))
    r100 = recall(rows, queries, pts, "cosine", k=100, what="k 100 ef 5")
    assert_recall(r100, "cosine recall@100 with --ef 5 (raised to k)")
    # A collection created with another default ef uses it.
    hk_ok(db, "create", "e", "--dim", DIM, "--metric", "cosine", "--ef", 200)
    np.save(tmp("x.npy"), x[:1000])
    hk_ok(db, "import", "e", tmp("x.npy"), "--quiet")
    eq(info(db, "e")["hnsw"], {"m": 16, "ef_construction": 200, "ef": 200})
    rows = search(tmp, db, "e", queries)
    eq(rows, search(tmp, db, "e", queries, extra=("--ef", 200)), "create --ef sets the default")


# ---- BIGANN 10K -----------------------------------------------------------------------------

@test
def test_bigann_recall(tmp):
    base = os.path.join(ANN_DIR, "bigann10k_base.bvecs")
    queries = os.path.join(ANN_DIR, "bigann10k_query.bvecs")
    truth = os.path.join(ANN_DIR, "bigann10k_groundtruth.ivecs")
    db = tmp("db")
    hk_ok(db, "create", "sift", "--dim", 128)
    r = hk_ok(db, "import", "sift", base, "--quiet")
    eq(r.out.split()[1], "10000", "imported points")
    verify(db, "sift", 10000, "bigann10k")
    got = {}
    for extra in ((), ("--ef", "200"), ("--exact",)):
        r = hk_ok(db, "search", "sift", "--queries", queries, "--k", K, "--truth", truth,
                  *extra)
        matches(r.out, r"^recall@10 = [01]\.\d{4} over 100 queries$")
        got[extra] = float(r.out.split()[2])
        print("  bigann10k %-12s recall@10 %.4f" % (" ".join(extra) or "default ef",
                                                  got[extra]))
    check(got[()] >= RECALL, "bigann10k recall@10 %.4f at the default ef" % got[()])
    check(got[("--ef", "200")] >= got[()] - 0.005, "ef 200 is worse than the default")
    eq(got[("--exact",)], 1.0, "exact recall")
    # The same through the JSON path: recall computed here from the published truth.
    gt = read_ivecs(truth)
    x = read_bvecs(base).astype(np.int64)
    qs = read_bvecs(queries)
    rows = search(tmp, db, "sift", qs)
    hit = 0
    for qi, row in enumerate(rows):
        d = ((x - qs[qi].astype(np.int64)) ** 2).sum(axis=1)
        kth = d[gt[qi][K - 1]]
        eq(len(row), K)
        hit += sum(1 for h in row if d[h["id"]] <= kth)
    assert_recall(hit / (K * len(rows)), "bigann10k (json, distance ties counted)")
    # Deleting the first half and reopening: recall over the rest, against brute force.
    hk_ok(db, "delete", "sift", *range(0, 10000, 2))
    verify(db, "sift", 5000, "bigann10k after deletes")
    rows = search(tmp, db, "sift", qs)
    hit = 0
    keep = np.arange(1, 10000, 2)
    for qi, row in enumerate(rows):
        d = ((x[keep] - qs[qi].astype(np.int64)) ** 2).sum(axis=1)
        kth = np.sort(d)[K - 1]
        check(all(h["id"] % 2 == 1 for h in row), "a deleted bigann point came back")
        hit += sum(1 for h in row if d[h["id"] // 2] <= kth)
    assert_recall(hit / (K * len(rows)), "bigann10k after deleting half")


# ---- crashes --------------------------------------------------------------------------------

@test
def test_kill_during_hnsw_import(tmp):
    # Imports of 750-point chunks (batches of 250, fsync on) into an HNSW collection are
    # SIGKILLed at random moments: in the build, the log write, the fsync, the snapshot
    # with the graph. After each, a fresh process must find a prefix of whole batches, a
    # valid graph (the log's records replayed into it) and recall over what is there.
    db = tmp("db")
    seed = int(os.environ.get("HK_CRASH_SEED", "0")) or 701
    print("  seed %d (HK_CRASH_SEED=N picks another kill schedule)" % seed)
    rnd = random.Random(seed)
    gen = Gen(702)
    n, chunk = 3000, 750
    x, _ = gen.draw(n)
    queries, _ = gen.draw(NQ)
    hk_ok(db, "create", "c", "--dim", DIM, nosync=False)
    have = kills = 0
    took = None
    for cycle in range(7):
        if have == n:
            break
        np.save(tmp("chunk.npy"), x[have:have + chunk])
        # The first chunk runs to the end and times an import; later ones are killed
        # at a random moment within about that time.
        delay = None if took is None else rnd.uniform(0.05, 1.1) * took
        t0 = time.time()
        p = spawn(["import", "c", tmp("chunk.npy"), "--start-id", have, "--batch", 250,
                   "--quiet"], db=db, nosync=False)
        try:
            p.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            pass
        killed = p.poll() is None
        if killed:
            p.send_signal(signal.SIGKILL)
            kills += 1
        out, err = p.communicate()
        if not killed:
            eq(p.returncode, 0, "import: %s" % err.decode())
            took = took or time.time() - t0
        ids = sorted(scroll_all(db, "c", with_vector=False))
        eq(ids, list(range(len(ids))), "cycle %d: the survivors are a prefix" % cycle)
        check(len(ids) >= have, "cycle %d: points were lost" % cycle)
        check((len(ids) - have) % 250 == 0, "cycle %d: not a whole number of batches" % cycle)
        have = len(ids)
        what = "cycle %d: %s, %d points" % (
            cycle, "killed %.0f ms in" % (delay * 1e3) if killed else "imported", have)
        verify(db, "c", have, what)
        pts = Points()
        pts.put(range(have), x[:have])
        rec = recall(search(tmp, db, "c", queries), queries, pts, "l2", what=what)
        assert_recall(rec, what)
    print("  %d kills; an unkilled import of %d points took %.0f ms" % (kills, chunk,
                                                                       took * 1e3))
    check(kills >= 2, "only %d kills landed inside an import" % kills)
    hk_ok(db, "checkpoint", "c", nosync=False)
    pts = Points()
    pts.put(range(have), x[:have])
    phase(tmp, db, "c", queries, pts, "l2", "after the kills and a checkpoint")


# ---- command line ---------------------------------------------------------------------------

@test
def test_hnsw_options(tmp):
    db = tmp("db")
    hk_ok(db, "create", "ok", "--dim", 4)
    for args, pattern in (
            (["--m", 1], r"--m must be an integer from 2 to 128, not '1'"),
            (["--m", 129], r"--m must be an integer from 2 to 128, not '129'"),
            (["--index", "bogus"], r"unknown index 'bogus' \(use hnsw or flat\)"),
            (["--ef", 0], r"--ef must be an integer from 1 to 65536, not '0'"),
            (["--ef-construction", 0], r"--ef-construction must be an integer from 1 to 65536"),
            (["--index", "flat", "--m", 8], r"apply to --index hnsw only")):
        fails(run(["create", "bad", "--dim", 4] + args, db=db), 2, pattern)
    eq(hk_ok(db, "list").out.split(), ["ok"], "failed creates made nothing")
    hk_ok(db, "create", "small", "--dim", 4, "--m", 2, "--ef-construction", 1, "--ef", 1)
    eq(info(db, "small")["hnsw"], {"m": 2, "ef_construction": 1, "ef": 1})
    rng = np.random.default_rng(801)
    np.save(tmp("x.npy"), rng.standard_normal((500, 4)).astype(np.float32))
    hk_ok(db, "import", "small", tmp("x.npy"), "--quiet")
    verify(db, "small", 500, "m 2, ef_construction 1", reach=False)  # a degenerate graph
    r = hk_ok(db, "search", "small", "--vector", "0,0,0,0", "--k", 20, "--json")
    eq(len(loads(r.out)), 20, "ef 1 still returns k hits")
    q = ["search", "ok", "--vector", "1,2,3,4"]
    fails(run(q + ["--ef", -1], db=db), 2, r"--ef must be a non-negative integer, not '-1'")
    fails(run(q + ["--ef", "x"], db=db), 2, r"--ef must be a non-negative integer")
    hk_ok(db, "search", "ok", "--vector", "1,2,3,4", "--ef", 100000)
    # verify on a flat collection checks the rest and says nothing about a graph.
    hk_ok(db, "create", "flat", "--dim", 4, "--index", "flat")
    eq(hk_ok(db, "verify", "flat").out.strip(), "collection 'flat' is consistent: 0 points")
    hk_ok(db, "search", "flat", "--vector", "1,2,3,4", "--ef", 5)  # accepted, ignored
    fails(run(["verify", "missing"], db=db), 1, r"missing")
    fails(run(["verify"], db=db), 2, r"expected a collection NAME")


# ---- a damaged graph ------------------------------------------------------------------------

def crc32c(data):
    table = crc32c.table
    if table is None:
        table = crc32c.table = []
        for i in range(256):
            c = i
            for _ in range(8):
                c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
            table.append(c)
    c = 0xFFFFFFFF
    for b in data:
        c = table[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


crc32c.table = None


@test
def test_damaged_graph_is_refused(tmp):
    # A graph blob with a bad link but every checksum recomputed: only the graph checks
    # can refuse it, and verify (like every open) must, naming the snapshot.
    db = tmp("db")
    rng = np.random.default_rng(901)
    np.save(tmp("x.npy"), rng.standard_normal((40, 4)).astype(np.float32))
    hk_ok(db, "create", "g", "--dim", 4, "--m", 4)
    hk_ok(db, "import", "g", tmp("x.npy"), "--quiet")
    verify(db, "g", 40, "before the damage")
    path = os.path.join(db, "collections", "g", "snapshot.hks")
    with open(path, "rb") as f:
        good = f.read()
    secs = snapshot_sections(good)
    hdr, start, length = secs["GRPH"]
    # The checksums as this test computes them agree with the file's.
    eq(struct.unpack_from("<I", good, hdr + 16)[0], crc32c(good[start:start + length]),
       "GRPH data CRC32C")
    eq(struct.unpack_from("<I", good, hdr + 60)[0], crc32c(good[hdr:hdr + 60]), "header CRC")
    blob = bytearray(good[start:start + length])
    eq(struct.unpack_from("<I", blob, 0)[0], 0x57534E48, "graph magic")
    eq(struct.unpack_from("<I", blob, len(blob) - 4)[0], crc32c(blob[:-4]), "graph CRC32C")
    # Slot 0's record: level byte, then its level-0 list (count, links).
    level = blob[48]
    check(level != 0xFF, "slot 0 is a node")
    c = struct.unpack_from("<I", blob, 49)[0]
    check(c >= 2, "slot 0 has two links at level 0")
    first = struct.unpack_from("<I", blob, 53)[0]
    for name, off, link in (("a link to itself", 53, 0), ("a duplicate link", 57, first)):
        bad = bytearray(blob)
        struct.pack_into("<I", bad, off, link)
        struct.pack_into("<I", bad, len(bad) - 4, crc32c(bad[:-4]))
        data = bytearray(good)
        data[start:start + length] = bad
        struct.pack_into("<I", data, hdr + 16, crc32c(bad))
        struct.pack_into("<I", data, hdr + 60, crc32c(data[hdr:hdr + 60]))
        with open(path, "wb") as f:
            f.write(data)
        err = fails(run(["verify", "g"], db=db), 1, r"snapshot\.hks: .*graph.*slot 0", msg=name)
        print("  %s: %s" % (name, err.split("snapshot.hks: ")[-1]))
        fails(run(["search", "g", "--vector", "0,0,0,0"], db=db), 1,
              r"snapshot\.hks: .*graph.*slot 0", msg=name)
        eq(file_bytes(path), bytes(data), "%s: a failed open left the file alone" % name)
    with open(path, "wb") as f:
        f.write(good)
    verify(db, "g", 40, "after restoring the snapshot")


@test
def test_duplicates_stay_reachable(tmp):
    """Many points on few distinct vectors, written in small batches: under inner product
    the vector with the largest last component is nearest to everything, so the selection
    heuristic leaves the other groups without in-links and the reachability pass has to
    splice them in. verify checks every point is reachable; every group is found. (The
    case that exposed it, 9,440 such points at ip, left 1,842 unreachable before the
    splice; it takes 47 s to import, too long for the suite, so this runs a smaller one
    that passed before the fix too.)"""
    for metric in ("ip", "l2", "cosine"):
        db = tmp("db-" + metric)
        x = np.array([[1, 2, 3, k % 8 + 1] for k in range(1200)], dtype=np.float32)
        np.save(tmp("dup.npy"), x)
        hk_ok(db, "create", "d", "--dim", 4, "--metric", metric)
        hk_ok(db, "import", "d", tmp("dup.npy"), "--batch", 10, "--quiet")
        hk_ok(db, "verify", "d")
        for g in (1, 4, 8):
            v = np.array([1, 2, 3, g], dtype=np.float32)
            ids = [p["id"] for p in loads(hk_ok(db, "search", "d", "--vector", vec_arg(v),
                                               "--k", 5, "--json", "--filter",
                                               '{"must":[{"has_id":%s}]}' % json.dumps(
                                                   [k for k in range(1200) if k % 8 + 1 == g][:50])).out)]
            eq(len(ids), 5, "%s: group %d" % (metric, g))


if __name__ == "__main__":
    main()
