"""test_cli.py — every `hektor` command through the real binary: help texts, collection
life cycle, import of each format with exact round trips, get/count/delete/scroll, payload
indexes, search output formats, and the exit-code / error-line contract
(0 ok, 1 failed operation, 2 usage error; one 'hektor: error:' line on stderr)."""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hk_test import (  # noqa: E402
    check, contains, count, eq, f32, fails, get_points, hk_ok, info, TestFailure, loads,
    main, make_collection, matches, ok, read_ivecs, run, same_f32, scroll_all, test,
    vec_arg, write_bvecs, write_fvecs, write_jsonl)

COMMANDS = ["create", "import", "search", "get", "delete", "count", "info", "list", "drop",
            "scroll", "index", "backup", "restore", "checkpoint", "verify"]

COLORS = ["red", "green", "blue", "black"]


def strict_json(text):
    return loads(text)


def sample_payloads(n, seed=1):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        p = {"color": COLORS[int(rng.integers(len(COLORS)))], "n": int(rng.integers(0, 100)),
             "price": round(float(rng.random() * 10), 3), "tags": ["t%d" % (i % 3), "all"]}
        if i % 4 == 0:
            p["a"] = {"b": int(rng.integers(0, 5))}
        if i % 5 == 0:
            p["flag"] = bool(i % 2)
        out.append(p)
    return out


# ---- help ---------------------------------------------------------------------------------

@test
def test_global_help_and_version(tmp):
    r = ok(run(["--help"]))
    contains(r.out, "usage: hektor")
    for c in COMMANDS:
        matches(r.out, r"\n  %s\s" % c, "global help lists %s" % c)
    eq(ok(run(["-h"])).out, r.out, "-h equals --help")
    r = ok(run(["--version"]))
    matches(r.out, r"^hektor \d+\.\d+\.\d+ \(kernel \w+\)\n$")
    r = run([])
    eq(r.rc, 2, "no command is a usage error")
    contains(r.err, "usage: hektor")
    fails(run(["frobnicate"]), 2, r"^hektor: error: unknown command 'frobnicate'")
    fails(run(["--frob", "list"]), 2, r"unknown option '--frob'")


@test
def test_command_help(tmp):
    for c in COMMANDS:
        for flag in ("--help", "-h"):
            r = ok(run([c, flag]), "%s %s" % (c, flag))
            check(r.out.startswith("usage: hektor [--db DIR] %s" % c),
                  "%s help starts with its usage line: %r" % (c, r.out[:80]))
            eq(r.err, "", "%s help writes nothing to stderr" % c)
        # Help wins over other arguments and touches no database.
        ok(run([c, "x", "--bogus", "--help"], db=tmp("nodb")))
    check(not os.path.exists(tmp("nodb")), "help created a database directory")


# ---- collections ----------------------------------------------------------------------------

@test
def test_create_list_info_drop(tmp):
    db = tmp("db")
    r = hk_ok(db, "create", "beta", "--dim", "7", "--index", "flat")
    eq(r.out.strip(), "created collection 'beta' (dim 7, metric l2, index flat)")
    r = hk_ok(db, "create", "h", "--dim", "5", "--m", "8", "--ef-construction", "50")
    eq(r.out.strip(), "created collection 'h' (dim 5, metric l2, index hnsw, m 8, "
       "ef_construction 50, ef 64)", "hnsw is the default index")
    i = info(db, "h")
    eq(i["index"], "hnsw")
    eq(i["hnsw"], {"m": 8, "ef_construction": 50, "ef": 64})
    matches(hk_ok(db, "info", "h").out, r"hnsw\s+m 8, ef_construction 50, ef 64")
    hk_ok(db, "drop", "h")
    hk_ok(db, "create", "alpha", "--dim", "1", "--metric", "cosine", "--index", "flat")
    hk_ok(db, "create", "gamma.v2", "--dim", "65536", "--metric", "ip", "--index", "flat")
    hk_ok(db, "create", "d-1", "--dim", "3", "--metric", "dot", "--index", "flat")
    hk_ok(db, "create", "e_2", "--dim", "3", "--metric", "euclid", "--index", "flat")
    eq(hk_ok(db, "list").out, "alpha\nbeta\nd-1\ne_2\ngamma.v2\n", "list is sorted")
    for name, dim, metric in [("alpha", 1, "cosine"), ("beta", 7, "l2"), ("gamma.v2", 65536, "ip"),
                              ("d-1", 3, "ip"), ("e_2", 3, "l2")]:
        i = info(db, name)
        eq(i["name"], name)
        eq(i["dim"], dim, name)
        eq(i["metric"], metric, name)
        eq(i["index"], "flat")
        eq(i["count"], 0)
        eq(i["payload_indexes"], [])
        for k in ("bytes_disk", "bytes_memory", "wal_bytes", "lsn", "next_id"):
            check(isinstance(i[k], int) and i[k] >= 0, "info field %s: %r" % (k, i.get(k)))
    text = hk_ok(db, "info", "beta").out
    matches(text, r"count\s+0")
    matches(text, r"dimension\s+7")
    matches(text, r"metric\s+l2")
    r = hk_ok(db, "drop", "beta")
    eq(r.out.strip(), "dropped collection 'beta'")
    eq(hk_ok(db, "list").out, "alpha\nd-1\ne_2\ngamma.v2\n")
    check(not os.path.exists(os.path.join(db, "collections", "beta")), "drop left files")
    fails(run(["info", "beta"], db=db), 1, r"collection 'beta' does not exist")
    fails(run(["drop", "beta"], db=db), 1, r"collection 'beta' does not exist")
    hk_ok(db, "create", "beta", "--dim", "2")
    eq(info(db, "beta")["dim"], 2, "a re-created collection is new")
    fails(run(["create", "bad/name", "--dim", "2"], db=db), 1, r"collection name")
    fails(run(["create", ".hidden", "--dim", "2"], db=db), 1, r"must not start with '\.'")
    fails(run(["create", "x" * 129, "--dim", "2"], db=db), 1, r"limit is 128")
    fails(run(["list"], db=tmp("missing")), 1, r"does not exist")


# ---- import formats ---------------------------------------------------------------------------

@test
def test_import_fvecs(tmp):
    db = tmp("db")
    rng = np.random.default_rng(2)
    x = (rng.standard_normal((300, 12)) * 10).astype(np.float32)
    write_fvecs(tmp("x.fvecs"), x)
    write_fvecs(tmp("x.data"), x[:5])
    hk_ok(db, "create", "c", "--dim", "12")
    r = hk_ok(db, "import", "c", tmp("x.fvecs"), "--batch", "64")
    contains(r.out, "imported 300 points into 'c'")
    hk_ok(db, "import", "c", tmp("x.data"), "--format", "fvecs", "--start-id", "1000")
    pts = scroll_all(db, "c")
    eq(sorted(pts), list(range(300)) + list(range(1000, 1005)))
    for i in range(300):
        check(same_f32(pts[i]["vector"], x[i]), "vector %d differs" % i)
    for i in range(5):
        check(same_f32(pts[1000 + i]["vector"], x[i]), "start-id vector %d differs" % i)
    eq(info(db, "c")["next_id"], 1005)


@test
def test_import_bvecs(tmp):
    db = tmp("db")
    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, (100, 16)).astype(np.uint8)
    x[0, :] = 255
    x[1, :] = 0
    write_bvecs(tmp("x.bvecs"), x)
    hk_ok(db, "create", "b", "--dim", "16")
    hk_ok(db, "import", "b", tmp("x.bvecs"))
    pts = scroll_all(db, "b")
    eq(sorted(pts), list(range(100)))
    for i in range(100):
        check(same_f32(pts[i]["vector"], x[i].astype(np.float32)), "bvecs vector %d" % i)


@test
def test_import_npy(tmp):
    db = tmp("db")
    rng = np.random.default_rng(4)
    f4 = rng.standard_normal((50, 9)).astype(np.float32)
    f8 = rng.standard_normal((20, 9))
    u1 = rng.integers(0, 256, (10, 9)).astype(np.uint8)
    i1 = rng.integers(-128, 128, (10, 9)).astype(np.int8)
    np.save(tmp("f4.npy"), f4)
    np.save(tmp("f8.npy"), f8)
    np.save(tmp("u1.npy"), u1)
    np.save(tmp("i1.npy"), i1)
    hk_ok(db, "create", "n", "--dim", "9")
    hk_ok(db, "import", "n", tmp("f4.npy"))
    hk_ok(db, "import", "n", tmp("f8.npy"), "--start-id", "100")
    hk_ok(db, "import", "n", tmp("u1.npy"), "--start-id", "200")
    hk_ok(db, "import", "n", tmp("i1.npy"), "--start-id", "300", "--format", "npy")
    eq(count(db, "n"), 90)
    pts = scroll_all(db, "n")
    for base, arr in ((0, f4), (100, f8), (200, u1), (300, i1)):
        want = arr.astype(np.float32)
        for i in range(len(arr)):
            check(same_f32(pts[base + i]["vector"], want[i]),
                  "npy %s row %d" % (arr.dtype, i))


@test
def test_import_jsonl_round_trip(tmp):
    db = tmp("db")
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((40, 5)) * np.float32(1e3)).astype(np.float32)
    x[0] = [np.float32(1e-38), np.float32(-8e18), 0.0, -0.0, np.float32(0.1)]
    ids = [int(i) * 7 + 3 for i in range(40)]
    ids[-1] = 2 ** 63 - 1
    payloads = []
    texts = []
    for i in range(40):
        p = {"i": i, "neg": -i, "f": i / 3.0, "s": "x\"y\\z\n\t" + chr(0x263A) + chr(0x1F600),
             "nested": {"a": [1, {"b": None}], "t": True, "e": {}}, "arr": []}
        payloads.append(p if i % 7 else None)
        texts.append(("text %d \u00e9\u4e2d \"q\" \\ \n" % i) if i % 3 else None)
    write_jsonl(tmp("p.jsonl"), ids, x, payloads, texts)
    hk_ok(db, "create", "j", "--dim", "5")
    r = hk_ok(db, "import", "j", tmp("p.jsonl"), "--batch", "8")
    contains(r.out, "imported 40 points")
    got = get_points(db, "j", ids)
    eq(sorted(got), sorted(ids))
    for i, pid in enumerate(ids):
        rec = got[pid]
        check(same_f32(rec["vector"], x[i]), "vector of %d: %r vs %r" % (pid, rec["vector"], x[i]))
        eq(rec.get("payload") or {}, payloads[i] or {}, "payload of %d" % pid)
        eq(rec.get("text"), texts[i], "text of %d" % pid)
    # --no-vector leaves the vector out; get keeps the order asked for.
    r = hk_ok(db, "get", "j", ids[5], ids[2], "--no-vector")
    recs = r.json_lines()
    eq([x["id"] for x in recs], [ids[5], ids[2]])
    check(all("vector" not in x for x in recs), "--no-vector printed a vector")
    # A custom text field.
    with open(tmp("t.jsonl"), "w") as f:
        f.write(json.dumps({"id": 1, "vector": [1, 2, 3, 4, 5], "body": "from body"}) + "\n")
    hk_ok(db, "import", "j", tmp("t.jsonl"), "--text-field", "body")
    eq(get_points(db, "j", [1])[1]["text"], "from body")
    # jsonl without ids: rows are numbered from --start-id, as for the binary formats.
    with open(tmp("noid.jsonl"), "w") as f:
        for k in range(3):
            f.write(json.dumps({"vector": [k, 0, 0, 0, 0]}) + "\n")
    before = info(db, "j")["count"]
    hk_ok(db, "import", "j", tmp("noid.jsonl"), "--start-id", "5000")
    eq(info(db, "j")["count"], before + 3)
    got = get_points(db, "j", [5000, 5001, 5002])
    eq([got[5000 + k]["vector"][0] for k in range(3)], [0, 1, 2])


@test
def test_import_csv(tmp):
    db = tmp("db")
    csv = ('id,vector,color,text,note,num,ratio,flag,code\n'
           '10,"[1, 2, 3]",red,"some ""quoted"" text, with comma",plain,42,0.5,true,007\n'
           '11,"4;5;6",blue,,"multi\nline",-7,-2.25,False,x\n'
           '\n'
           '12,7 8 9,"green",t,,0,1e3,TRUE,"a,b"\n')
    with open(tmp("a.csv"), "w") as f:
        f.write(csv)
    hk_ok(db, "create", "c", "--dim", "3")
    r = hk_ok(db, "import", "c", tmp("a.csv"))
    contains(r.out, "imported 3 points")
    got = get_points(db, "c", [10, 11, 12])
    eq(got[10]["vector"], [1, 2, 3])
    eq(got[11]["vector"], [4, 5, 6])
    eq(got[12]["vector"], [7, 8, 9])
    eq(got[10]["payload"], {"color": "red", "note": "plain", "num": 42, "ratio": 0.5,
                            "flag": True, "code": "007"})
    eq(got[11]["payload"], {"color": "blue", "note": "multi\nline", "num": -7, "ratio": -2.25,
                            "flag": False, "code": "x"})
    eq(got[12]["payload"], {"color": "green", "num": 0, "ratio": 1000.0, "flag": True,
                            "code": "a,b"})
    eq(got[10]["text"], 'some "quoted" text, with comma')
    check("text" not in got[11], "empty text cell gives no text")
    eq(got[12]["text"], "t")
    # Named columns, no id column: ids from --start-id in row order.
    with open(tmp("b.csv"), "w") as f:
        f.write("emb,body,k\n\"0.25,0.5,0.75\",hello,1\n\"1,1,1\",,2\n")
    hk_ok(db, "import", "c", tmp("b.csv"), "--vector-column", "emb", "--text-column", "body",
          "--start-id", "50")
    got = get_points(db, "c", [50, 51])
    eq(got[50], {"id": 50, "vector": [0.25, 0.5, 0.75], "payload": {"k": 1}, "text": "hello"})
    eq(got[51]["payload"], {"k": 2})
    # Missing vector column: error names the columns.
    with open(tmp("c.csv"), "w") as f:
        f.write("id,v\n1,\"1,2,3\"\n")
    fails(run(["import", "c", tmp("c.csv")], db=db), 1, r"no vector column 'vector'.*'id', 'v'")
    eq(count(db, "c"), 5)


# ---- get / count / delete / scroll --------------------------------------------------------

def brute_count(payloads, pred):
    return sum(1 for p in payloads if pred(p))


FILTERS = [
    ({"must": [{"key": "color", "match": {"value": "red"}}]}, lambda p: p["color"] == "red"),
    ({"must": [{"key": "color", "match": {"any": ["red", "blue"]}}]},
     lambda p: p["color"] in ("red", "blue")),
    ({"must": [{"key": "color", "match": {"except": ["red", "blue"]}}]},
     lambda p: p["color"] not in ("red", "blue")),
    ({"must": [{"key": "n", "range": {"gte": 20, "lt": 60}}]}, lambda p: 20 <= p["n"] < 60),
    ({"must_not": [{"key": "color", "match": {"value": "green"}}]},
     lambda p: p["color"] != "green"),
    ({"should": [{"key": "n", "range": {"lt": 10}}, {"key": "color", "match": {"value": "black"}}]},
     lambda p: p["n"] < 10 or p["color"] == "black"),
    ({"must": [{"key": "a.b", "match": {"value": 2}}]}, lambda p: p.get("a", {}).get("b") == 2),
    ({"must": [{"key": "tags", "match": {"value": "t1"}}]}, lambda p: "t1" in p["tags"]),
    ({"must": [{"is_empty": {"key": "flag"}}]}, lambda p: "flag" not in p),
    ({"must": [{"key": "flag", "match": {"value": True}}]}, lambda p: p.get("flag") is True),
    ({"must": [{"key": "price", "range": {"gt": 2.5, "lte": 7.5}}]},
     lambda p: 2.5 < p["price"] <= 7.5),
    ({}, lambda p: True),
]


@test
def test_count_and_delete(tmp):
    db = tmp("db")
    n = 400
    rng = np.random.default_rng(6)
    x = rng.standard_normal((n, 4)).astype(np.float32)
    pays = sample_payloads(n)
    make_collection(db, "c", x, payloads=pays)
    eq(count(db, "c"), n)
    for filt, pred in FILTERS:
        eq(count(db, "c", filt), brute_count(pays, pred), "count %s" % json.dumps(filt))
    # delete by ids: unknown ids are ignored and not counted
    r = hk_ok(db, "delete", "c", "0", "1", "2", "999999")
    eq(r.out.strip(), "deleted 3 points")
    eq(count(db, "c"), n - 3)
    r = run(["get", "c", "0", "5"], db=db)
    fails(r, 1, r"collection 'c' has no point with id 0")
    eq([x["id"] for x in r.json_lines()], [5], "get prints the found ids before failing")
    alive = {i: pays[i] for i in range(3, n)}
    # delete by filter
    filt = {"must": [{"key": "color", "match": {"value": "red"}}]}
    want = sum(1 for p in alive.values() if p["color"] == "red")
    r = hk_ok(db, "delete", "c", "--filter", json.dumps(filt))
    eq(r.out.strip(), "deleted %d points" % want)
    alive = {i: p for i, p in alive.items() if p["color"] != "red"}
    eq(count(db, "c"), len(alive))
    eq(count(db, "c", filt), 0)
    eq(sorted(scroll_all(db, "c", with_vector=False)), sorted(alive))
    r = hk_ok(db, "delete", "c", "--filter", json.dumps(filt))
    eq(r.out.strip(), "deleted 0 points", "deleting nothing")
    r = hk_ok(db, "delete", "c", "--filter", json.dumps({"must": [{"has_id": [3, 4, 5]}]}))
    eq(r.out.strip(), "deleted %d points" % len({3, 4, 5} & set(alive)))
    # Usage errors of delete
    fails(run(["delete", "c"], db=db), 2, r"give ids or --filter")
    fails(run(["delete", "c", "1", "--filter", "{}"], db=db), 2, r"not both")
    fails(run(["delete", "c", "abc"], db=db), 2, r"'abc' is not an id")


@test
def test_delete_counts_duplicate_ids_once(tmp):
    # Repeated ids are one deletion each: `delete c 1 1 1 2` deletes and reports 2.
    db = tmp("db")
    make_collection(db, "c", np.eye(3, dtype=np.float32))
    r = hk_ok(db, "delete", "c", "1", "1", "1", "2")
    eq(count(db, "c"), 1)
    eq(r.out.strip(), "deleted 2 points")


@test
def test_overwrite_same_id_within_one_process(tmp):
    # One import that rewrites the same ids batch after batch: each upsert replaces a
    # payload the same process allocated (under AddressSanitizer this catches any use of
    # the old payload after it is freed).
    db = tmp("db")
    hk_ok(db, "create", "c", "--dim", "2")
    with open(tmp("same.jsonl"), "w") as f:
        for r in range(60):
            for i in (1, 2):
                f.write(json.dumps({"id": i, "vector": [r, i], "payload": {"r": r, "s": "v" * r},
                                    "text": "t%d" % r}) + "\n")
    r = hk_ok(db, "import", "c", tmp("same.jsonl"), "--batch", "2")
    contains(r.out, "imported 120 points")
    eq(count(db, "c"), 2)
    got = get_points(db, "c", [1, 2])
    for i in (1, 2):
        eq(got[i], {"id": i, "vector": [59, i], "payload": {"r": 59, "s": "v" * 59},
                    "text": "t59"})
    small = info(db, "c")["bytes_memory"]
    check(small < 1 << 20, "bytes_memory of two small points is %d" % small)


@test
def test_scroll_pages(tmp):
    db = tmp("db")
    rng = np.random.default_rng(7)
    ids = sorted(set(int(i) for i in rng.integers(0, 10 ** 6, 103)))
    order = list(ids)
    rng.shuffle(order)  # imported out of order, scrolled in id order
    x = rng.standard_normal((len(order), 3)).astype(np.float32)
    pays = [{"k": int(i) % 3} for i in order]
    make_collection(db, "s", x, payloads=pays, ids=order)
    seen, offset, pages = [], None, 0
    while True:
        args = ["scroll", "s", "--limit", "10"] + (["--offset", offset] if offset else [])
        r = hk_ok(db, *args)
        recs = r.json_lines()
        pages += 1
        check(1 <= len(recs) <= 10, "page size %d" % len(recs))
        seen += [x["id"] for x in recs]
        for rec in recs:
            eq(rec["payload"], {"k": rec["id"] % 3})
            check("vector" not in rec, "scroll printed a vector without --with-vector")
        m = [l for l in r.err.splitlines() if l.startswith("next offset:")]
        if not m:
            break
        eq(len(recs), 10, "a page that has a next page is full")
        offset = m[0].split(":")[1].strip()
        eq(int(offset), ids[len(seen)], "next offset is the next id")
    eq(seen, ids, "pages cover every id once, ascending")
    eq(pages, (len(ids) + 9) // 10)
    # An offset between ids starts at the next id; --with-vector; --filter.
    r = hk_ok(db, "scroll", "s", "--offset", ids[50] + 1, "--limit", "2", "--with-vector")
    recs = r.json_lines()
    eq([x["id"] for x in recs], ids[51:53])
    check(all(len(x["vector"]) == 3 for x in recs), "with-vector")
    r = hk_ok(db, "scroll", "s", "--limit", "1000", "--filter",
              json.dumps({"must": [{"key": "k", "match": {"value": 1}}]}))
    eq([x["id"] for x in r.json_lines()], [i for i in ids if i % 3 == 1])
    check("next offset" not in r.err, "last page has no next offset")
    fails(run(["scroll", "s", "--limit", "0"], db=db), 2, r"--limit")
    fails(run(["scroll", "s", "--offset", "-1"], db=db), 2, r"--offset")


@test
def test_payload_index_keeps_answers(tmp):
    db = tmp("db")
    n = 600
    rng = np.random.default_rng(8)
    pays = sample_payloads(n, seed=9)
    make_collection(db, "c", rng.standard_normal((n, 4)), payloads=pays)
    before = [count(db, "c", f) for f, _ in FILTERS]
    for (f, pred), b in zip(FILTERS, before):
        eq(b, brute_count(pays, pred), "unindexed count %s" % json.dumps(f))
    r = hk_ok(db, "index", "c", "color", "--type", "keyword")
    eq(r.out.strip(), "indexed 'color' as keyword")
    hk_ok(db, "index", "c", "n", "--type", "integer")
    hk_ok(db, "index", "c", "price", "--type", "float")
    hk_ok(db, "index", "c", "flag", "--type", "bool")
    hk_ok(db, "index", "c", "a.b", "--type", "integer")
    hk_ok(db, "index", "c", "tags", "--type", "keyword")
    eq(info(db, "c")["payload_indexes"],
       [{"key": "color", "type": "keyword"}, {"key": "n", "type": "integer"},
        {"key": "price", "type": "float"}, {"key": "flag", "type": "bool"},
        {"key": "a.b", "type": "integer"}, {"key": "tags", "type": "keyword"}])
    contains(hk_ok(db, "info", "c").out, "payload index color (keyword)")
    after = [count(db, "c", f) for f, _ in FILTERS]
    eq(after, before, "indexed counts equal unindexed ones")
    # Writes after the index keep it in step.
    hk_ok(db, "delete", "c", "--filter", json.dumps(FILTERS[0][0]))
    eq(count(db, "c", FILTERS[0][0]), 0)
    eq(count(db, "c", FILTERS[1][0]), sum(1 for p in pays if p["color"] == "blue"))
    fails(run(["index", "c", "color", "--type", "keyword"], db=db), 1, r"already has an index")
    r = hk_ok(db, "index", "c", "color", "--drop")
    eq(r.out.strip(), "dropped the index on 'color'")
    eq(len(info(db, "c")["payload_indexes"]), 5)
    fails(run(["index", "c", "color", "--drop"], db=db), 1, r"no index on 'color'")
    fails(run(["index", "c", "color"], db=db), 2, r"give --type or --drop")
    fails(run(["index", "c", "color", "--type", "text"], db=db), 2, r"unknown payload index type")


# ---- search -------------------------------------------------------------------------------

def l2(x, q):
    return np.sqrt(((x.astype(np.float64) - q.astype(np.float64)) ** 2).sum(axis=1))


@test
def test_search_json_and_text(tmp):
    db = tmp("db")
    rng = np.random.default_rng(10)
    x = rng.standard_normal((500, 8)).astype(np.float32)
    pays = sample_payloads(500, seed=11)
    make_collection(db, "c", x, payloads=pays)
    q = rng.standard_normal(8).astype(np.float32)
    r = hk_ok(db, "search", "c", "--vector", vec_arg(q), "--k", "7", "--json")
    lines = r.lines()
    eq(len(lines), 1, "one JSON line per query")
    hits = strict_json(lines[0])
    check(isinstance(hits, list) and len(hits) == 7, "7 hits")
    check(all(set(h) == {"id", "score"} for h in hits), "hits have only id and score: %r" % hits)
    d = l2(x, q)
    want = np.argsort(d, kind="stable")[:7]
    eq([h["id"] for h in hits], [int(i) for i in want], "ids best first")
    scores = [h["score"] for h in hits]
    eq(scores, sorted(scores), "l2 scores ascend")
    for h in hits:
        check(abs(h["score"] - d[h["id"]]) <= 1e-4 * max(1.0, d[h["id"]]), "score %r" % h)
    matches(r.err, r"^1 query in [0-9.]+ s")
    # --with-payload
    r = hk_ok(db, "search", "c", "--vector", vec_arg(q), "--k", "7", "--json", "--with-payload")
    hp = strict_json(r.out)
    eq([h["id"] for h in hp], [h["id"] for h in hits])
    for h in hp:
        eq(h["payload"], pays[h["id"]], "payload of hit %d" % h["id"])
    # Text output: "id<TAB>score" lines; with payload a third column.
    r = hk_ok(db, "search", "c", "--vector", vec_arg(q), "--k", "3")
    rows = [l.split("\t") for l in r.lines()]
    eq([int(a) for a, _ in rows], [h["id"] for h in hits[:3]])
    r = hk_ok(db, "search", "c", "--vector", vec_arg(q), "--k", "3", "--with-payload")
    eq([json.loads(l.split("\t")[2]) for l in r.lines()], [pays[h["id"]] for h in hits[:3]])
    # ip: scores descend.
    make_collection(db, "ip", x, metric="ip")
    r = hk_ok(db, "search", "ip", "--vector", vec_arg(q), "--k", "10", "--json")
    hits = strict_json(r.out)
    ip = x.astype(np.float64) @ q.astype(np.float64)
    eq([h["id"] for h in hits], [int(i) for i in np.argsort(-ip, kind="stable")[:10]])
    scores = [h["score"] for h in hits]
    eq(scores, sorted(scores, reverse=True), "ip scores descend")
    # k larger than the collection returns everything.
    hits = strict_json(hk_ok(db, "search", "c", "--vector", vec_arg(q), "--k", "1000",
                             "--json").out)
    eq(len(hits), 500)


@test
def test_search_batch_out_ivecs(tmp):
    db = tmp("db")
    rng = np.random.default_rng(12)
    x = rng.standard_normal((300, 6)).astype(np.float32)
    make_collection(db, "c", x)
    qs = rng.standard_normal((9, 6)).astype(np.float32)
    np.save(tmp("q.npy"), qs)
    r = hk_ok(db, "search", "c", "--queries", tmp("q.npy"), "--k", "5", "--json")
    rows = [strict_json(l) for l in r.lines()]
    eq(len(rows), 9, "one line per query")
    matches(r.err, r"^9 queries in ")
    r = hk_ok(db, "search", "c", "--queries", tmp("q.npy"), "--k", "5", "--out", tmp("o.ivecs"))
    eq(r.out, "", "--out alone prints no hits")
    out = read_ivecs(tmp("o.ivecs"))
    eq(len(out), 9)
    for qi in range(9):
        eq([int(i) for i in out[qi]], [h["id"] for h in rows[qi]], "ivecs row %d" % qi)
        want = np.argsort(l2(x, qs[qi]), kind="stable")[:5]
        eq(set(int(i) for i in out[qi]), set(int(i) for i in want), "query %d" % qi)
    # Text output of a batch: "query i:" headers.
    r = hk_ok(db, "search", "c", "--queries", tmp("q.npy"), "--k", "2")
    eq(sum(1 for l in r.lines() if l.startswith("query ")), 9)
    # --truth with the exact answer gives recall 1.
    r = hk_ok(db, "search", "c", "--queries", tmp("q.npy"), "--k", "5", "--truth", tmp("o.ivecs"))
    eq(r.out.strip(), "recall@5 = 1.0000 over 9 queries")


@test
def test_search_radius(tmp):
    db = tmp("db")
    rng = np.random.default_rng(13)
    x = rng.standard_normal((800, 4)).astype(np.float32)
    make_collection(db, "c", x)
    q = np.zeros(4, dtype=np.float32)
    d = l2(x, q)
    radius = float(np.sort(d)[99]) + 1e-3  # about 100 points inside
    inside = set(int(i) for i in np.nonzero(d <= radius)[0])
    check(90 <= len(inside) <= 110, "test setup: %d inside" % len(inside))
    hits = strict_json(hk_ok(db, "search", "c", "--vector", vec_arg(q), "--radius", radius,
                             "--k", "0", "--json").out)
    eq(set(h["id"] for h in hits), inside, "--k 0 returns every point in range")
    eq(len(hits), len(inside), "no duplicates")
    check(all(h["score"] <= radius for h in hits), "all within the radius")
    scores = [h["score"] for h in hits]
    eq(scores, sorted(scores), "best first")
    hits = strict_json(hk_ok(db, "search", "c", "--vector", vec_arg(q), "--radius", radius,
                             "--k", "10", "--json").out)
    eq([h["id"] for h in hits], [int(i) for i in np.argsort(d, kind="stable")[:10]],
       "k caps a range query")
    tiny = float(d.min()) * 0.99
    hits = strict_json(hk_ok(db, "search", "c", "--vector", vec_arg(q), "--radius", tiny,
                             "--k", "0", "--json").out)
    eq(hits, [], "a radius below the nearest distance")
    # ip: score >= radius
    make_collection(db, "ip", x, metric="ip")
    q = f32([1, 0.5, 0, 0])
    ip = x.astype(np.float64) @ q.astype(np.float64)
    hits = strict_json(hk_ok(db, "search", "ip", "--vector", vec_arg(q), "--radius", "1.5",
                             "--k", "0", "--json").out)
    eq(set(h["id"] for h in hits), set(int(i) for i in np.nonzero(ip >= 1.5)[0]))
    check(all(h["score"] >= 1.5 for h in hits), "ip range scores")
    fails(run(["search", "c", "--vector", "0,0,0,0", "--k", "0"], db=db), 2,
          r"--k 0 is only meaningful with --radius")


@test
def test_huge_vectors_are_refused(tmp):
    # Squared distances of vectors with a squared norm above 8e37 would overflow float32
    # (and print as inf, which JSON cannot carry): such vectors are refused at the door,
    # stored or queried, and nothing changes.
    db = tmp("db")
    make_collection(db, "c", f32([[0, 1e18, 0], [1, 2, 3]]))
    write_jsonl(tmp("big.jsonl"), [7], f32([[0, 3.0e38, 0]]))
    e = fails(run(["import", "c", tmp("big.jsonl")], db=db), 1, r"too large")
    contains(e, "big.jsonl")
    eq(count(db, "c"), 2)
    fails(run(["search", "c", "--vector", "0,3e38,0"], db=db), 1, r"too large")
    r = hk_ok(db, "search", "c", "--vector", "0,0,0", "--json")
    hits = strict_json(r.out)
    eq([h["id"] for h in hits], [1, 0])
    check(abs(hits[1]["score"] - 1e18) <= 1e12, "score of the large vector: %r" % hits[1])


# ---- exit codes -----------------------------------------------------------------------------

@test
def test_exit_codes_and_error_lines(tmp):
    db = tmp("db")
    make_collection(db, "c", np.eye(3, dtype=np.float32))
    usage = [
        ["create", "x"],                                  # --dim missing
        ["create", "--dim", "3"],                         # NAME missing
        ["create", "x", "--dim", "three"],
        ["create", "x", "--dim", "3", "--index", "ivf"],
        ["create", "x", "--dim", "3", "--m", "1"],
        ["create", "x", "--dim", "3", "--m", "129"],
        ["create", "x", "--dim", "3", "--ef-construction", "0"],
        ["create", "x", "--dim", "3", "--index", "flat", "--m", "8"],
        ["create", "x", "y", "--dim", "3"],
        ["create", "x", "--dim"],
        ["import", "c"],
        ["import", "c", "f", "--batch", "0"],
        ["import", "c", "f", "--start-id", "-1"],
        ["search", "c"],
        ["search", "c", "--vector", "1,2,3", "--queries", "q.npy"],
        ["search", "c", "--vector", "1,,3"],
        ["search", "c", "--vector", "1,2,3", "--k", "-1"],
        ["search", "c", "--vector", "1,2,3", "--radius", "x"],
        ["search", "c", "--vector", "1,2,3", "--json=yes"],
        ["get", "c"],
        ["get", "c", "1", "--bogus"],
        ["count"],
        ["info"],
        ["list", "extra"],
        ["drop"],
        ["scroll", "c", "--limit", "x"],
        ["index", "c"],
        ["backup"],
        ["restore"],
    ]
    for args in usage:
        err = fails(run(args, db=db), 2, None, "usage error %r" % args)
        matches(err, r"\(see 'hektor \w+ --help'\)$", "usage errors point at the help")
    failed = [
        (["info", "nope"], r"collection 'nope' does not exist"),
        (["count", "nope"], r"does not exist"),
        (["search", "nope", "--vector", "1,2,3"], r"does not exist"),
        (["get", "c", "77"], r"no point with id 77"),
        (["create", "c", "--dim", "3"], r"already exists"),
        (["import", "c", tmp("missing.fvecs")], r"cannot read"),
        (["search", "c", "--vector", "1,2"], r"dimension 2 .*dimension 3"),
        (["search", "c", "--queries", tmp("missing.npy")], r"missing\.npy"),
    ]
    for args, pat in failed:
        fails(run(args, db=db), 1, pat, "failed operation %r" % args)
    eq(count(db, "c"), 3, "nothing changed")


@test
def test_checkpoint_command(tmp):
    db = tmp("db")
    make_collection(db, "a", np.ones((5, 2), dtype=np.float32))
    make_collection(db, "b", np.ones((5, 2), dtype=np.float32))
    r = hk_ok(db, "checkpoint")
    eq(sorted(r.lines()), ["checkpointed 'a'", "checkpointed 'b'"])
    eq(hk_ok(db, "checkpoint", "b").out.strip(), "checkpointed 'b'")
    eq(info(db, "a")["wal_bytes"], 32, "a checkpointed log holds only its header")
    fails(run(["checkpoint", "zzz"], db=db), 1, r"'zzz' does not exist")


if __name__ == "__main__":
    main()
