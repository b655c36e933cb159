"""Text search through the `hektor` binary: text-only collections (create --text-only,
import jsonl and csv without vectors), search --text with --k, --filter, --json and
--with-text, settings shown by info and kept across reopen and checkpoints, text search on
a vector collection, and clear errors for bad input that change nothing."""
import json
import os

from hk_test import (check, contains, count, eq, fails, hk_ok, info, run, test, main)

DOCS = [
    (1, "Supersonic flow over a swept wing", {"year": 1960, "kind": "paper"}),
    (2, "Heat transfer in laminar boundary layers", {"year": 1955, "kind": "paper"}),
    (3, "Boundary layer transition on swept wings at supersonic speeds", {"year": 1962, "kind": "report"}),
    (4, "Buckling of thin cylindrical shells", {"year": 1958, "kind": "paper"}),
    (5, "Die Straße der Flügel: ﬁnal report", {"year": 1970, "kind": "report"}),
]


def write_docs(path, docs=DOCS):
    with open(path, "w") as f:
        for i, t, p in docs:
            f.write(json.dumps({"id": i, "text": t, "payload": p}, ensure_ascii=False) + "\n")


def ids(db, name, text, *extra):
    r = hk_ok(db, "search", name, "--text", text, "--json", *extra)
    hits = json.loads(r.out)
    scores = [h["score"] for h in hits]
    check(scores == sorted(scores, reverse=True), "scores descend: %r" % scores)
    check(all(s > 0 for s in scores), "BM25 scores are positive: %r" % scores)
    return [h["id"] for h in hits]


@test
def test_text_only_collection(tmp):
    db = tmp("db")
    r = hk_ok(db, "create", "docs", "--text-only")
    eq(r.out.strip(), "created collection 'docs' (text only, text english, k1 1.2, b 0.75)")
    src = tmp("docs.jsonl")
    write_docs(src)
    hk_ok(db, "import", "docs", src, "--quiet")
    eq(count(db, "docs"), 5)
    eq(ids(db, "docs", "the swept wings"), [1, 3])
    eq(ids(db, "docs", "boundary layers"), [2, 3])
    eq(ids(db, "docs", "STRASSE final"), [5])          # case folding, NFKC of the ligature
    eq(ids(db, "docs", "nothing to see"), [])
    eq(ids(db, "docs", "swept", "--k", "1"), [1])
    eq(ids(db, "docs", "swept wing boundary", "--match", "all"), [3])
    eq(ids(db, "docs", "swept wing boundary", "--match", "any"), [3, 1, 2])
    eq(ids(db, "docs", "swept wing", "--filter", '{"must": [{"key": "kind", "match": {"value": "report"}}]}'), [3])
    r = hk_ok(db, "search", "docs", "--text", "buckling", "--json", "--with-text", "--with-payload")
    hit = json.loads(r.out)[0]
    eq(hit["text"], "Buckling of thin cylindrical shells")
    eq(hit["payload"]["year"], 1958)
    r = hk_ok(db, "search", "docs", "--text", "buckling")
    eq(r.out.split("\t")[0], "4")
    st = info(db, "docs")
    eq(st["dim"], 0)
    eq(st["text"]["text_only"], True)
    eq(st["text"]["docs"], 5)
    check(st["text"]["terms"] > 10 and st["text"]["bytes_memory"] > 0, "text stats: %r" % st["text"])
    contains(hk_ok(db, "info", "docs").out, "vectors       none (text only)")
    # Updates, deletes, checkpoint and reopen keep the index right.
    write_docs(src, [(4, "Flutter of a swept wing", {"year": 1959, "kind": "paper"})])
    hk_ok(db, "import", "docs", src, "--quiet")
    eq(ids(db, "docs", "buckling"), [])
    hk_ok(db, "delete", "docs", "2")
    eq(ids(db, "docs", "heat"), [])
    before = ids(db, "docs", "swept wing")
    hk_ok(db, "checkpoint", "docs")
    eq(ids(db, "docs", "swept wing"), before)
    eq(info(db, "docs")["text"]["postings"], info(db, "docs")["text"]["postings"])
    hk_ok(db, "verify", "docs")


@test
def test_settings(tmp):
    db = tmp("db")
    r = hk_ok(db, "create", "fr", "--text-only", "--language", "french", "--no-stem", "--k1", "2", "--b", "0")
    eq(r.out.strip(), "created collection 'fr' (text only, text french, no stemming, k1 2, b 0)")
    t = info(db, "fr")["text"]
    eq((t["language"], t["stemming"], t["stopwords"], t["k1"], t["b"]), ("french", False, True, 2, 0))
    # Vector collections mention text settings only when they differ from the defaults.
    r = hk_ok(db, "create", "v", "--dim", "2", "--index", "flat")
    eq(r.out.strip(), "created collection 'v' (dim 2, metric l2, index flat)")
    r = hk_ok(db, "create", "v2", "--dim", "2", "--index", "flat", "--no-stopwords")
    eq(r.out.strip(), "created collection 'v2' (dim 2, metric l2, index flat, text english, "
       "no stop words, k1 1.2, b 0.75)")
    # A vector collection's texts are searchable too, and its vectors still are.
    src = tmp("v.jsonl")
    with open(src, "w") as f:
        f.write(json.dumps({"id": 1, "vector": [0, 1], "text": "running dogs"}) + "\n")
        f.write(json.dumps({"id": 2, "vector": [1, 0], "text": "sleeping cats"}) + "\n")
        f.write(json.dumps({"id": 3, "vector": [1, 1]}) + "\n")
    hk_ok(db, "import", "v", src, "--quiet")
    eq(ids(db, "v", "run"), [1])
    r = hk_ok(db, "search", "v", "--vector", "1,0", "--k", "1", "--json")
    eq(json.loads(r.out)[0]["id"], 2)
    # Hybrid: RRF of the vector list (2, 3, 1 by distance to (1, 0)) and the text list (1).
    r = hk_ok(db, "search", "v", "--vector", "1,0", "--text", "dog", "--json", "--rrf-k", "10")
    hits = json.loads(r.out)
    eq([h["id"] for h in hits], [1, 2, 3])
    check(abs(hits[0]["score"] - (1 / 11 + 1 / 13)) < 1e-6, "RRF score of 1: %r" % hits)
    check(abs(hits[1]["score"] - 1 / 11) < 1e-6 and abs(hits[2]["score"] - 1 / 12) < 1e-6, "%r" % hits)
    r = hk_ok(db, "search", "v", "--vector", "1,0", "--text", "dog", "--json", "--depth", "1")
    eq([h["id"] for h in json.loads(r.out)], [1, 2])
    # csv into a text-only collection: a text column, no vector column.
    csv = tmp("t.csv")
    with open(csv, "w") as f:
        f.write("id,text,tag\n1,\"Les chevaux, au galop\",a\n2,un cheval,b\n")
    hk_ok(db, "import", "fr", csv, "--quiet")
    eq(ids(db, "fr", "chevaux"), [1])    # no stemming: cheval is another word
    eq(ids(db, "fr", "cheval", "--filter", '{"must": [{"key": "tag", "match": {"value": "b"}}]}'), [2])


@test
def test_errors(tmp):
    db = tmp("db")
    hk_ok(db, "create", "t", "--text-only")
    hk_ok(db, "create", "v", "--dim", "2")
    usage = [
        ["create", "x", "--text-only", "--dim", "3"],
        ["create", "x", "--text-only", "--metric", "cosine"],
        ["create", "x", "--text-only", "--language", "klingon"],
        ["create", "x", "--text-only", "--k1", "0"],
        ["create", "x", "--text-only", "--b", "1.5"],
        ["create", "x"],
        ["search", "t", "--text", "a", "--queries", "q.fvecs"],
        ["search", "v", "--text", "a", "--vector", "1,2", "--radius", "1"],
        ["search", "v", "--text", "a", "--vector", "1,2", "--fusion", "bordo"],
        ["search", "v", "--text", "a", "--vector", "1,2", "--fusion", "convex", "--fusion-weight", "1.5"],
        ["search", "v", "--text", "a", "--vector", "1,2", "--fusion", "convex", "--rrf-k", "5"],
        ["search", "v", "--text", "a", "--vector", "1,2", "--fusion-weight", "0.5"],
        ["search", "v", "--text", "a", "--vector", "1,2", "--rrf-k", "0"],
        ["search", "v", "--text", "a", "--vector", "1,2", "--depth", "0"],
        ["search", "v", "--vector", "1,2", "--fusion", "rrf"],
        ["search", "t", "--text", "a", "--match", "some"],
        ["search", "v", "--vector", "1,2", "--match", "all"],
        ["search", "t", "--text", "a", "--radius", "1"],
        ["search", "t", "--text", ""],
    ]
    for args in usage:
        fails(run(args, db=db), 2, msg=" ".join(args))
    fails(run(["search", "t", "--vector", "1,2"], db=db), 1, r"text-only")
    fails(run(["search", "t", "--vector", "1,2", "--text", "a"], db=db), 1, r"hybrid.*text-only")
    fails(run(["quantize", "t", "--method", "sq8"], db=db), 1, r"text-only")
    # Records with vectors cannot enter a text-only collection, nor vector files.
    src = tmp("bad.jsonl")
    with open(src, "w") as f:
        f.write(json.dumps({"id": 1, "text": "fine"}) + "\n")
        f.write(json.dumps({"id": 2, "vector": [1, 2], "text": "no"}) + "\n")
    fails(run(["import", "t", src, "--quiet", "--batch", "1"], db=db), 1, r"line 2.*text-only")
    eq(count(db, "t"), 1)
    fvecs = tmp("x.fvecs")
    with open(fvecs, "wb") as f:
        f.write(b"\x02\x00\x00\x00" + b"\x00" * 8)
    fails(run(["import", "t", fvecs], db=db), 1, r"text-only")
    csv = tmp("v.csv")
    with open(csv, "w") as f:
        f.write("id,vector,text\n1,\"1,2\",x\n")
    fails(run(["import", "t", csv], db=db), 1, r"vector column")
    # Text without vectors cannot enter a vector collection.
    fails(run(["import", "v", src, "--quiet"], db=db), 1, r"vector")
    eq(count(db, "t"), 1)
    eq(count(db, "v"), 0)


if __name__ == "__main__":
    main()
