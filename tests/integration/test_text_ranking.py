"""Hybrid fusion methods, phrase matching, RM3 expansion, synonym lists and search by
examples (average_vector, best_score, Rocchio) through the `hektor` binary: each method
returns a valid ranking that agrees with a computation from the two single lists, the
synonym list survives new processes and checkpoints, and bad options exit 2 with a message
naming the option."""
import json
import math

from hk_test import (check, contains, eq, fails, hk_ok, make_collection, run, test, main)

WORDS = ["wing", "flow", "heat", "shell", "plate", "shock"]


def hits(db, name, *args):
    r = hk_ok(db, "search", name, "--json", *args)
    return [(h["id"], h["score"]) for h in json.loads(r.out)]


def hybrid_db(tmp):
    db = tmp("db")
    vecs, texts = [], []
    for i in range(120):
        vecs.append([float((i * 37) % 101), float((i * 53) % 97)])
        texts.append("%s %s" % (WORDS[i % 6], WORDS[(i // 6) % 6]))
    make_collection(db, "h", vecs, texts=texts)
    return db


def minmax(lst, sign=1.0):
    s = [sign * x for _, x in lst]
    lo, hi = min(s), max(s)
    return {i: ((sign * x - lo) / (hi - lo) if hi > lo else 1.0) for i, x in lst}


@test
def test_fusion_methods(tmp):
    db = hybrid_db(tmp)
    depth = "30"
    vec = hits(db, "h", "--vector", "40,60", "--k", depth)
    txt = hits(db, "h", "--text", "shock plate", "--k", depth)
    mv, mt = minmax(vec, -1.0), minmax(txt)   # l2 distances count as -distance
    union = set(mv) | set(mt)
    expect = {
        "combsum": {i: mv.get(i, 0) + mt.get(i, 0) for i in union},
        "combmnz": {i: (mv.get(i, 0) + mt.get(i, 0)) * ((i in mv) + (i in mt)) for i in union},
        "convex": {i: 0.25 * mv.get(i, 0) + 0.75 * mt.get(i, 0) for i in union},
        "rrf": {},
        "borda": {},
    }
    rank_v = {i: r + 1 for r, (i, _) in enumerate(vec)}
    rank_t = {i: r + 1 for r, (i, _) in enumerate(txt)}
    for i in union:
        expect["rrf"][i] = sum(1.0 / (10 + r[i]) for r in (rank_v, rank_t) if i in r)
        c = len(union)
        expect["borda"][i] = sum(c - r[i] + 1 if i in r else (c - len(r) + 1) / 2.0
                                 for r in (rank_v, rank_t))
    for method in ["rrf", "convex", "dbsf", "combsum", "combmnz", "borda"]:
        extra = {"rrf": ["--rrf-k", "10"], "convex": ["--fusion-weight", "0.25"]}.get(method, [])
        got = hits(db, "h", "--vector", "40,60", "--text", "shock plate", "--fusion", method,
                   "--depth", depth, "--k", "10", *extra)
        eq(len(got), 10, method)
        ids = [i for i, _ in got]
        eq(len(set(ids)), 10, "%s: distinct ids" % method)
        check(set(ids) <= union, "%s: every id comes from one of the lists" % method)
        scores = [s for _, s in got]
        check(scores == sorted(scores, reverse=True), "%s: scores descend: %r" % (method, scores))
        if method in expect:
            e = expect[method]
            for i, s in got:
                check(abs(s - e[i]) < 1e-5 * max(1, abs(e[i])), "%s: id %d scored %r, expected %r"
                      % (method, i, s, e[i]))
            best = sorted(e.values(), reverse=True)[:10]
            check(all(abs(a - b) < 1e-5 * max(1, abs(b)) for a, b in zip(scores, best)),
                  "%s: the top 10 fused scores %r, expected %r" % (method, scores, best))
    # convex with weight 1 keeps the vector list's order; 0 the text list's.
    got = hits(db, "h", "--vector", "40,60", "--text", "shock plate", "--fusion", "convex",
               "--fusion-weight", "1", "--depth", depth, "--k", "5")
    eq([i for i, _ in got], [i for i, _ in vec[:5]])


@test
def test_phrase_rm3_synonyms(tmp):
    db = tmp("db")
    docs = [(1, "swept wing flow at high speed"), (2, "flow over a wing that is swept"),
            (3, "the wing flow of jets"), (4, "turbine blade cooling"), (5, "turbine blade stress"),
            (6, "blade root fatigue"), (7, "a fast automobile"), (8, "an old car")]
    docs += [(100 + i, "ocean waves tide" if i % 2 else "forest trees soil") for i in range(20)]
    src = tmp("docs.jsonl")
    with open(src, "w") as f:
        for i, t in docs:
            f.write(json.dumps({"id": i, "text": t}) + "\n")
    hk_ok(db, "create", "t", "--text-only")
    hk_ok(db, "import", "t", src, "--quiet")
    phrase = [i for i, _ in hits(db, "t", "--text", "wing flow", "--match", "phrase")]
    eq(sorted(phrase), [1, 3])
    eq(sorted(i for i, _ in hits(db, "t", "--text", "wing flow", "--match", "all")), [1, 2, 3])
    # RM3 finds "blade root fatigue" from "turbine" through the feedback documents.
    plain = [i for i, _ in hits(db, "t", "--text", "turbine")]
    eq(sorted(plain), [4, 5])
    rm3 = [i for i, _ in hits(db, "t", "--text", "turbine", "--expand", "rm3", "--fb-docs", "2",
                              "--fb-terms", "4", "--rm3-weight", "0.6")]
    check(6 in rm3 and set(rm3[:2]) == {4, 5}, "rm3 ranking %r" % rm3)
    # Synonyms: set from a file, listed back, applied, kept across processes and a checkpoint.
    eq([i for i, _ in hits(db, "t", "--text", "cars")], [8])
    syn = tmp("syn.txt")
    with open(syn, "w") as f:
        f.write("# vehicles\ncar, automobile, auto\n")
    contains(hk_ok(db, "synonyms", "t", "set", syn).out, "set the synonym list of 't'")
    eq(hk_ok(db, "synonyms", "t", "list").out, "# vehicles\ncar, automobile, auto\n")
    eq(sorted(i for i, _ in hits(db, "t", "--text", "cars")), [7, 8])
    hk_ok(db, "checkpoint", "t")
    eq(sorted(i for i, _ in hits(db, "t", "--text", "automobiles")), [7, 8])
    hk_ok(db, "verify", "t")
    # A backup carries the list; so does the database restored from it.
    hk_ok(db, "backup", tmp("bk"))
    hk_ok(tmp("restored"), "restore", tmp("bk"))
    eq(hk_ok(tmp("restored"), "synonyms", "t", "list").out, "# vehicles\ncar, automobile, auto\n")
    eq(sorted(i for i, _ in hits(tmp("restored"), "t", "--text", "auto")), [7, 8])
    with open(syn, "w") as f:
        f.write("car, automobile\nthe, a\n")
    fails(run(["synonyms", "t", "set", syn], db=db), 1, r"line 2")
    eq(hk_ok(db, "synonyms", "t", "list").out, "# vehicles\ncar, automobile, auto\n")
    contains(hk_ok(db, "synonyms", "t", "clear").out, "cleared")
    eq(hk_ok(db, "synonyms", "t", "list").out, "")
    eq([i for i, _ in hits(db, "t", "--text", "cars")], [8])
    r = run(["synonyms", "--help"])
    eq(r.rc, 0)
    check(r.out.startswith("usage: hektor [--db DIR] synonyms NAME set FILE"), r.out[:80])
    contains(run(["--help"]).out, "\n  synonyms ")
    for args in (["synonyms", "t"], ["synonyms", "t", "set"], ["synonyms", "t", "add", syn],
                 ["synonyms", "t", "list", syn]):
        fails(run(args, db=db), 2, msg=" ".join(args))
    # Rocchio on text: the relevant example's terms join, the examples leave the results.
    got = [i for i, _ in hits(db, "t", "--text", "turbine", "--positive", "4", "--strategy",
                              "rocchio")]
    check(4 not in got and 5 in got and 6 in got, "rocchio ranking %r" % got)


@test
def test_examples(tmp):
    db = tmp("db")
    pts = [[1, 0], [0, 1], [-1, -1], [2, 0], [0.5, 0.5], [-2, -1], [3, -3]]
    make_collection(db, "v", pts, metric="ip", ids=list(range(1, 8)))
    s = lambda x: 0.5 * (1 + x / (1 + abs(x)))
    got = hits(db, "v", "--positive", "1,2", "--negative", "3", "--strategy", "best_score")
    eq([i for i, _ in got], [7, 4, 5, 6])
    for (i, sc), e in zip(got, [s(3), s(2), s(0.5), -s(3)]):
        check(abs(sc - e) < 1e-6, "best_score of %d: %r, expected %r" % (i, sc, e))
    # average_vector: 2 * avg(1, 2) - avg(3) = (2, 2): dot products 4 (id 4), 2 (id 5), 0 (7).
    got = hits(db, "v", "--positive", "1,2", "--negative", "3", "--k", "3")
    eq([i for i, _ in got], [4, 5, 7])
    # Rocchio on a vector: (0, 1) + 0.75 * (1, 0) - 0.15 * (-1, -1) = (0.9, 1.15).
    got = hits(db, "v", "--vector", "0,1", "--positive", "1", "--negative", "3", "--strategy",
               "rocchio", "--k", "2")
    eq(got[0][0], 4)
    check(abs(got[0][1] - 1.8) < 1e-5, "rocchio score %r" % got[0][1])
    fails(run(["search", "v", "--positive", "99"], db=db), 1, r"99")
    usage = [["search", "v", "--negative", "3"],
             ["search", "v", "--positive", "1", "--strategy", "nearest"],
             ["search", "v", "--positive", "1,x"],
             ["search", "v", "--positive", "1", "--vector", "1,2"],
             ["search", "v", "--positive", "1", "--strategy", "rocchio"],
             ["search", "v", "--positive", "1", "--rocchio", "1,1,1"],
             ["search", "v", "--vector", "1,2", "--positive", "1", "--strategy", "rocchio",
              "--rocchio", "1,1,1x"],
             ["search", "v", "--vector", "1,2", "--positive", "1", "--strategy", "rocchio",
              "--rocchio", "1,-1,1"],
             ["search", "v", "--text", "a", "--expand", "rm4"],
             ["search", "v", "--text", "a", "--fb-docs", "3"],
             ["search", "v", "--text", "a", "--expand", "rm3", "--rm3-weight", "0"],
             ["search", "v", "--vector", "1,2", "--expand", "rm3"],
             ["search", "v", "--text", "a", "--match", "phrases"]]
    for args in usage:
        fails(run(args, db=db), 2, msg=" ".join(args))


if __name__ == "__main__":
    main()
