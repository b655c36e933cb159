"""test_quantize.py — quantization through the real binary: quantize, codebook, quality,
search on codes, info.

Asserted: on BIGANN 10K at 16x compression (pq, m 32) recall@10 against the published
ground truth is at least 0.95 after re-ranking (flat and hnsw collections), and lower on
the codes alone (so re-ranking is real); SQ8 with re-ranking returns the exact answers on
generated data for every metric; info and quality report the codes' bytes and the
quality figures consistently (compression = float bytes / code bytes, recall after
re-ranking >= on codes alone, more bits -> less error); codes survive reopening and later
writes are encoded; codebooks export and import (binary and JSON) to identical codes;
every bad request (unknown method or curve, m not dividing the dimension, a codebook of
another dimension or metric, a damaged or truncated codebook file, malformed JSON) exits
non-zero with a message naming the problem and leaves every file of the database byte for
byte as it was."""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hk_test import (  # noqa: E402
    ANN_DIR, SANITIZED, check, coll_state, contains, eq, fails, file_bytes, hk_ok, info, loads, main,
    make_collection, matches, run, test, vec_arg, write_fvecs)

# Under the sanitizers (every step ~3x slower) training samples shrink and the HNSW
# variants run in the unit tests only; every assertion stays.
TRAIN = ["--train-size", 2500] if SANITIZED else []
BASE = os.path.join(ANN_DIR, "bigann10k_base.bvecs")
QUERIES = os.path.join(ANN_DIR, "bigann10k_query.bvecs")
TRUTH = os.path.join(ANN_DIR, "bigann10k_groundtruth.ivecs")


def recall(db, name, *extra):
    r = hk_ok(db, "search", name, "--queries", QUERIES, "--k", 10, "--truth", TRUTH, *extra)
    matches(r.out, r"^recall@10 = [01]\.\d{4} over 100 queries$")
    return float(r.out.split()[2])


def db_files(db):
    """Every file of the database with its bytes (LOCK aside)."""
    out = {}
    for root, _, files in os.walk(db):
        for f in files:
            if f == "LOCK":
                continue
            p = os.path.join(root, f)
            out[os.path.relpath(p, db)] = file_bytes(p)
    return out


def sift(tmp, index="flat"):
    db = tmp("db")
    hk_ok(db, "create", "sift", "--dim", 128, "--index", index)
    hk_ok(db, "import", "sift", BASE, "--quiet")
    return db


@test
def test_bigann_pq_16x(tmp):
    for index in (("flat",) if SANITIZED else ("flat", "hnsw")):
        db = sift(tmp, index) if index == "flat" else tmp("db2")
        if index == "hnsw":
            hk_ok(db, "create", "sift", "--dim", 128)
            hk_ok(db, "import", "sift", BASE, "--quiet")
        r = hk_ok(db, "quantize", "sift", "--method", "pq", "--m", 32, "--quiet", *TRAIN)
        contains(r.out, "quantized 'sift' with pq32x8: 32 bytes per point instead of 512 (16.0x")
        contains(r.out, "codebook 'sift.pq32x8'")
        rr = recall(db, "sift")
        codes_only = recall(db, "sift", "--rerank", 10)
        deep = recall(db, "sift", "--rerank", 100)
        exact = recall(db, "sift", "--exact")
        print("  %s: recall@10 %.4f after re-ranking 40, %.4f with 10 candidates, %.4f with "
              "100, exact %.4f" % (index, rr, codes_only, deep, exact))
        check(rr >= 0.95, "%s recall@10 %.4f after re-ranking at 16x" % (index, rr))
        check(codes_only < rr, "re-ranking 40 does not beat 10 candidates")
        check(deep >= rr - 1e-9)
        eq(exact, 1.0)
        js = loads(hk_ok(db, "info", "sift", "--json").out)
        q = js["quantization"]
        eq(q["method"], "pq")
        eq(q["codebook"], "sift.pq32x8")
        eq(q["code_bytes"], 32)
        eq(q["bytes_codes"] >= 10000 * 32, True)
        eq(q["compression"], 16)
        eq(js["bytes_per_vector"], 512)
        check(js["bytes_vectors"] >= 10000 * 512)
        check(js["bytes_memory"] >= js["bytes_vectors"] + q["bytes_codes"])
        text = hk_ok(db, "info", "sift").out
        matches(text, r"codes +pq \(m 32, 8 bits\), 32 bytes per point \(16\.0x smaller\)")


@test
def test_quality_report(tmp):
    db = sift(tmp)
    res = {}
    for method in ("sq8", "sq4"):
        hk_ok(db, "quantize", "sift", "--method", method, "--quiet")
        r = hk_ok(db, "quality", "sift", "--json", "--per-dim")
        q = loads(r.out)
        res[method] = q
        eq(q["method"], method)
        eq(q["code_bytes"], 128 if method == "sq8" else 64)
        eq(q["compression"], 4.0 if method == "sq8" else 8.0)
        eq(q["queries"], 100)
        eq(len(q["per_dim_mse"]), 128)
        check(abs(np.mean(q["per_dim_mse"]) - q["mse"]) <= 1e-6 * (1 + q["mse"]))
        check(q["recall_rerank"] >= q["recall"], "re-ranking lowered recall")
        check(0 < q["ssim"] <= 1 and q["psnr"] > 0 and q["cosine_distortion"] >= 0)
        check(q["search_per_s"] > 0 and q["float_search_per_s"] > 0)
    check(res["sq8"]["mse"] < res["sq4"]["mse"], "8 bits are not more accurate than 4")
    check(res["sq8"]["recall_rerank"] >= 0.99)
    # the text report carries the same figures
    r = hk_ok(db, "quality", "sift")
    matches(r.out, r"code +64 bytes per vector \(floats: 512\), 8\.00x compression")
    matches(r.out, r"recall@10 +[01]\.\d{4} after re-ranking 40 candidates")
    # a method evaluated without changing the collection
    before = db_files(db)
    r = hk_ok(db, "quality", "sift", "--method", "sq4", "--curve", "mulaw", "--json")
    eq(loads(r.out)["curve"], "mulaw")
    eq(db_files(db), before)
    # queries from a file
    r = hk_ok(db, "quality", "sift", "--queries", QUERIES, "--json", "--k", 5)
    q = loads(r.out)
    eq((q["k"], q["queries"]), (5, 100))


@test
def test_sq8_exact_every_metric(tmp):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2000, 24)).astype(np.float32) + np.linspace(0, 1, 24, dtype=np.float32)
    qs = x[:5] + 0.01
    for metric in ("l2", "ip", "cosine"):
        db = tmp("db-" + metric)
        make_collection(db, "m", x, metric=metric)
        hk_ok(db, "quantize", "m", "--method", "sq8", "--rerank", 100, "--quiet")
        for q in qs:
            a = loads(hk_ok(db, "search", "m", "--vector", vec_arg(q), "--k", 10, "--json").out)
            e = loads(hk_ok(db, "search", "m", "--vector", vec_arg(q), "--k", 10, "--json",
                            "--exact").out)
            eq([h["id"] for h in a], [h["id"] for h in e], metric)
            eq([h["score"] for h in a], [h["score"] for h in e], metric)


@test
def test_reopen_and_writes(tmp):
    db = sift(tmp)
    hk_ok(db, "quantize", "sift", "--method", "sq4", "--curve", "gamma", "--quiet")
    r1 = recall(db, "sift")
    r2 = recall(db, "sift")  # another process: codes as loaded from the snapshot
    eq(r1, r2)
    # a new point (log replay after this) is encoded and found first
    v = np.full(128, 7.5, dtype=np.float32)
    hk_ok(db, "import", "sift", _jsonl(tmp, [(123456, v)]), "--quiet")
    a = loads(hk_ok(db, "search", "sift", "--vector", vec_arg(v), "--k", 1, "--json").out)
    eq(a[0]["id"], 123456)
    eq(a[0]["score"], 0.0)
    hk_ok(db, "checkpoint", "sift")
    a = loads(hk_ok(db, "search", "sift", "--vector", vec_arg(v), "--k", 1, "--json").out)
    eq(a[0]["id"], 123456)
    hk_ok(db, "verify", "sift")
    # dropping the codes
    r = hk_ok(db, "quantize", "sift", "--drop")
    contains(r.out, "dropped the codes of 'sift'")
    js = loads(hk_ok(db, "info", "sift", "--json").out)
    check("quantization" not in js)
    fails(run(["quantize", "sift", "--drop"], db=db), 1, "has no codes")
    eq(recall(db, "sift"), 1.0)


def _jsonl(tmp, points):
    path = tmp("pts.jsonl")
    with open(path, "w") as f:
        for pid, v in points:
            f.write(json.dumps({"id": pid, "vector": [float(t) for t in v]}) + "\n")
    return path


@test
def test_codebooks(tmp):
    db = sift(tmp)
    hk_ok(db, "quantize", "sift", "--method", "opq", "--m", 16, "--opq-iterations", 3,
          "--save-as", "mine", "--quiet", *TRAIN)
    eq(hk_ok(db, "codebook", "list").out.split()[0], "mine")
    js = loads(hk_ok(db, "codebook", "list", "--json").out)
    eq([c["name"] for c in js], ["mine"])
    eq((js[0]["method"], js[0]["code_bytes"], js[0]["m"]), ("opq", 16, 16))
    r = hk_ok(db, "codebook", "show", "mine")
    contains(r.out, "rotation      128 x 128, 3 OPQ iterations")
    q0 = loads(hk_ok(db, "quality", "sift", "--codebook", "mine", "--json").out)
    for ext in ("hkcb", "json"):
        path = tmp("cb." + ext)
        hk_ok(db, "codebook", "export", "mine", path)
        if ext == "json":
            doc = loads(open(path).read())
            eq((doc["format"], doc["method"], len(doc["rotation"])), ("hektor-codebook", "opq", 128 * 128))
        else:
            eq(file_bytes(path)[:4], b"HKCB")
        hk_ok(db, "codebook", "import", "back-" + ext, path)
        q = loads(hk_ok(db, "quality", "sift", "--codebook", "back-" + ext, "--json").out)
        eq((q["mse"], q["recall"], q["recall_rerank"]), (q0["mse"], q0["recall"], q0["recall_rerank"]))
    fails(run(["codebook", "import", "back-json", tmp("cb.json")], db=db), 1, "already exists")
    hk_ok(db, "codebook", "import", "back-json", tmp("cb.json"), "--replace")
    # a collection keeps its copy: removing the stored codebook changes nothing for it
    hk_ok(db, "quantize", "sift", "--codebook", "back-hkcb", "--rerank", 60)
    before = recall(db, "sift")
    hk_ok(db, "codebook", "rm", "back-hkcb")
    fails(run(["codebook", "rm", "back-hkcb"], db=db), 1, "does not exist")
    eq(recall(db, "sift"), before)
    js = loads(hk_ok(db, "info", "sift", "--json").out)
    eq((js["quantization"]["codebook"], js["quantization"]["rerank"]), ("back-hkcb", 60))


@test
def test_bad_input_changes_nothing(tmp):
    db = sift(tmp)
    hk_ok(db, "quantize", "sift", "--method", "sq8", "--quiet")
    other = tmp("other")
    rng = np.random.default_rng(1)
    make_collection(other, "small", rng.normal(size=(300, 16)))
    hk_ok(other, "quantize", "small", "--method", "sq8", "--save-as", "dim16", "--quiet")
    hk_ok(other, "codebook", "export", "dim16", tmp("dim16.hkcb"))
    make_collection(other, "ipc", rng.normal(size=(300, 128)), metric="ip")
    hk_ok(other, "quantize", "ipc", "--method", "sq8", "--save-as", "ip128", "--quiet")
    hk_ok(other, "codebook", "export", "ip128", tmp("ip128.hkcb"))
    good = file_bytes(tmp("dim16.hkcb"))
    damaged = bytearray(good)
    damaged[len(damaged) // 2] ^= 0x10
    open(tmp("damaged.hkcb"), "wb").write(bytes(damaged))
    open(tmp("short.hkcb"), "wb").write(good[:60])
    open(tmp("bad.json"), "w").write('{"format":"hektor-codebook","method":"sq8",')
    open(tmp("wrong.json"), "w").write('{"format":"something-else"}')
    hk_ok(db, "codebook", "import", "dim16", tmp("dim16.hkcb"))
    hk_ok(db, "codebook", "import", "ip128", tmp("ip128.hkcb"))
    before = db_files(db)
    cases = [
        (["quantize", "sift", "--method", "pq", "--m", 7], 1, "m dividing the dimension 128"),
        (["quantize", "sift", "--method", "sq3"], 2, "unknown quantization method 'sq3'"),
        (["quantize", "sift", "--method", "sq8", "--curve", "srgb"], 2, "unknown curve 'srgb'"),
        (["quantize", "sift", "--method", "pq", "--curve", "hlg"], 2, "--curve applies to sq8"),
        (["quantize", "sift", "--method", "pq", "--bits", 6], 1, "4 or 8"),
        (["quantize", "sift", "--method", "sq8", "--curve", "gamma", "--curve-param", -1], 2,
         "--curve-param must be a positive number"),
        (["quantize", "sift", "--method", "sq8", "--curve", "st2084", "--curve-param", 20000], 1,
         "10000"),
        (["quantize", "sift", "--codebook", "dim16"], 1, "dimension 16 but collection 'sift' has dimension 128"),
        (["quantize", "sift", "--codebook", "ip128"], 1, "trained for the ip metric"),
        (["quantize", "sift", "--codebook", "nope"], 1, "codebook 'nope' does not exist"),
        (["quantize", "nope", "--method", "sq8"], 1, "nope"),
        (["quantize", "sift"], 2, "give exactly one of"),
        (["quantize", "sift", "--auto"], 2, "--auto needs exactly one of"),
        (["quantize", "sift", "--auto", "--target-recall", 1.5], 2, "--target-recall must be in"),
        (["codebook", "import", "x", tmp("damaged.hkcb")], 1, "checksum mismatch"),
        (["codebook", "import", "x", tmp("short.hkcb")], 1, "truncated"),
        (["codebook", "import", "x", tmp("bad.json")], 1, "codebook JSON"),
        (["codebook", "import", "x", tmp("wrong.json")], 1, "not a HEKTOR codebook"),
        (["codebook", "import", "x", tmp("absent.hkcb")], 1, "absent.hkcb"),
        (["codebook", "import", "../x", tmp("dim16.hkcb")], 1, "codebook name '../x'"),
        (["codebook", "frob"], 2, "unknown subcommand 'frob'"),
        (["codebook", "show"], 2, "a codebook NAME"),
        (["search", "sift", "--vector", ",".join(["1"] * 128), "--rerank", "x"], 2,
         "--rerank must be"),
        (["quality", "sift", "--codebook", "dim16"], 1, "dimension"),
    ]
    for args, rc, msg in cases:
        fails(run(args, db=db), rc, msg, msg=" ".join(map(str, args)))
        eq(db_files(db), before, "files changed by: %s" % " ".join(map(str, args)))
    # a damaged stored codebook is named when used
    path = os.path.join(db, "codebooks", "dim16.hkcb")
    raw = bytearray(file_bytes(path))
    raw[100] ^= 1
    open(path, "wb").write(bytes(raw))
    fails(run(["codebook", "show", "dim16"], db=db), 1, "dim16.hkcb")
    fails(run(["quantize", "sift", "--codebook", "dim16"], db=db), 1, "checksum mismatch")


@test
def test_auto(tmp):
    db = sift(tmp)
    r = hk_ok(db, "quantize", "sift", "--auto", "--max-bytes", 16, "--sample",
              1000 if SANITIZED else 3000, "--quiet", *TRAIN)
    rows = [ln for ln in r.out.splitlines() if "B " in ln and "x " in ln]
    check(len(rows) >= 3, r.out)
    chosen = [ln for ln in rows if ln.startswith("*")]
    eq(len(chosen), 1, r.out)
    for ln in rows:
        eq(int(ln[1:].split()[1]) <= 16, True, ln)
    js = loads(hk_ok(db, "info", "sift", "--json").out)
    check(js["quantization"]["code_bytes"] <= 16)
    check(recall(db, "sift") >= 0.9)
    r = run(["quantize", "sift", "--auto", "--target-recall", 1.0, "--max-bytes", 4], db=db)
    fails(r, 2, "exactly one of")


@test
def test_vectors_on_disk(tmp):
    """create --vectors disk, quantize --vectors, storage: same recall, the setting in info
    and durable, nothing but snapshot and log in the directory, bad values refused."""
    db = tmp("db")
    hk_ok(db, "create", "sift", "--dim", 128, "--index", "flat", "--vectors", "disk")
    hk_ok(db, "import", "sift", BASE, "--quiet")
    js = loads(hk_ok(db, "info", "sift", "--json").out)
    eq(js["vectors"], "disk")
    check(js["bytes_vectors_cached"] <= js["bytes_vectors"])
    eq(recall(db, "sift"), 1.0)
    r = hk_ok(db, "quantize", "sift", "--method", "pq", "--m", 32, "--vectors", "disk", "--quiet")
    contains(r.out, "kept on disk and mapped")
    check(recall(db, "sift") >= 0.95, "on-disk vectors with pq codes: recall below 0.95")
    contains(hk_ok(db, "info", "sift").out, "on disk and mapped")
    eq(sorted(db_files(db)), ["HEKTOR", "codebooks/sift.pq32x8.hkcb", "collections/sift/snapshot.hks",
                              "collections/sift/wal.hkl"])
    before = db_files(db)
    fails(run(["storage", "sift", "--vectors", "tape"], db=db), 2, "memory or disk, not 'tape'")
    fails(run(["storage", "sift"], db=db), 2, "--vectors")
    fails(run(["create", "t", "--dim", 4, "--vectors", "ssd"], db=db), 2, "memory or disk")
    eq(db_files(db), before)
    r = hk_ok(db, "storage", "sift", "--vectors", "memory")
    contains(r.out, "kept in memory")
    js = loads(hk_ok(db, "info", "sift", "--json").out)
    eq(js["vectors"], "memory")
    eq(js["bytes_vectors_cached"], js["bytes_vectors"])
    check(recall(db, "sift") >= 0.95)


if __name__ == "__main__":
    main()
