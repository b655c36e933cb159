"""test_errors.py — bad input gives one clear 'hektor: error:' line, a non-zero exit and
changes nothing: the collection's snapshot.hks and wal.hkl stay byte-identical, info's
count and lsn and the stored points stay the same. Also: a bad line in the middle of an
import applies exactly the batches before it, and a second writer is refused with
'database is locked' while read-only commands keep working."""
import json
import os
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hk_test import (  # noqa: E402
    SLOW, alive, check, coll_state, contains, count, eq, fails, get_points, hk_ok, info,
    loads, main, make_collection, run, spawn, test, write_fvecs)

DIM = 3


class Unchanged:
    """Captures a collection's observable state and its files; assert_same() compares."""

    def __init__(self, db, name, ids=(0, 1, 7)):
        self.db, self.name, self.ids = db, name, list(ids)
        self.files = coll_state(db, name)
        i = info(db, name)
        self.info = (i["count"], i["lsn"], i["next_id"], i["dim"], i["metric"])
        self.points = get_points(db, name, self.ids, allow_missing=True)
        self.listing = hk_ok(db, "list").out

    def assert_same(self, what):
        check(coll_state(self.db, self.name) == self.files,
              "%s: snapshot.hks or wal.hkl changed" % what)
        i = info(self.db, self.name)
        eq((i["count"], i["lsn"], i["next_id"], i["dim"], i["metric"]), self.info,
           "%s: info" % what)
        eq(get_points(self.db, self.name, self.ids, allow_missing=True), self.points,
           "%s: points" % what)
        eq(hk_ok(self.db, "list").out, self.listing, "%s: collections" % what)


def setup(tmp, n=10):
    db = tmp("db")
    rng = np.random.default_rng(40)
    make_collection(db, "c", rng.standard_normal((n, DIM)),
                    payloads=[{"k": i} for i in range(n)])
    return db


@test
def test_wrong_dimension_import(tmp):
    db = setup(tmp)
    before = Unchanged(db, "c")
    write_fvecs(tmp("d4.fvecs"), np.ones((5, 4), dtype=np.float32))
    fails(run(["import", "c", tmp("d4.fvecs")], db=db), 1,
          r"d4\.fvecs: record 1 has dimension 4 but collection 'c' has dimension 3")
    np.save(tmp("d2.npy"), np.ones((5, 2), dtype=np.float32))
    fails(run(["import", "c", tmp("d2.npy")], db=db), 1, r"dimension 2 .*dimension 3")
    with open(tmp("mixed.jsonl"), "w") as f:
        f.write('{"id": 0, "vector": [9, 9, 9]}\n{"id": 1, "vector": [9, 9, 9]}\n'
                '{"id": 2, "vector": [9, 9]}\n')
    fails(run(["import", "c", tmp("mixed.jsonl")], db=db), 1,
          r"mixed\.jsonl: line 3: dimension 2 differs from 3 \(line 1\)")
    with open(tmp("d4.jsonl"), "w") as f:
        f.write('{"id": 0, "vector": [9, 9, 9, 9]}\n')
    fails(run(["import", "c", tmp("d4.jsonl")], db=db), 1, r"dimension 4 .*dimension 3")
    with open(tmp("d4.csv"), "w") as f:
        f.write('id,vector\n0,"9,9,9,9"\n')
    fails(run(["import", "c", tmp("d4.csv")], db=db), 1, r"dimension 4 .*dimension 3")
    fails(run(["import", "c", "-", "--format", "jsonl"], db=db, input='{"vector":[1,2]}\n'), 1,
          r"dimension 2 .*dimension 3")
    before.assert_same("wrong-dimension imports")


@test
def test_wrong_dimension_search(tmp):
    db = setup(tmp)
    fails(run(["search", "c", "--vector", "1,2"], db=db), 1,
          r"query vector has dimension 2 but collection 'c' has dimension 3")
    fails(run(["search", "c", "--vector", "1,2,3,4"], db=db), 1, r"dimension 4")
    write_fvecs(tmp("q4.fvecs"), np.ones((3, 4), dtype=np.float32))
    fails(run(["search", "c", "--queries", tmp("q4.fvecs")], db=db), 1, r"dimension 4")
    r = run(["search", "c", "--vector", "1,2", "--json"], db=db)
    eq(r.out, "", "nothing on stdout when the search failed")


@test
def test_nan_and_infinity_rejected(tmp):
    db = setup(tmp)
    before = Unchanged(db, "c")
    x = np.ones((6, DIM), dtype=np.float32)
    x[4, 1] = np.nan
    write_fvecs(tmp("nan.fvecs"), x)
    err = fails(run(["import", "c", tmp("nan.fvecs"), "--batch", "2"], db=db), 1,
                r"nan\.fvecs: vector 4 at byte \d+: component 1 is NaN")
    contains(err, "4 points before it were imported")
    # The batches before the bad vector are applied (ids 0..3 overwritten with ones): so
    # for "changes nothing" the bad vector has to sit in the first batch.
    before = Unchanged(db, "c")
    x = np.ones((6, DIM), dtype=np.float32)
    x[1, 2] = np.inf
    write_fvecs(tmp("inf.fvecs"), x)
    fails(run(["import", "c", tmp("inf.fvecs")], db=db), 1, r"component 2 is infinite")
    np.save(tmp("nan.npy"), x * np.float32(np.nan))
    fails(run(["import", "c", tmp("nan.npy")], db=db), 1, r"NaN")
    with open(tmp("big.jsonl"), "w") as f:
        f.write('{"id": 0, "vector": [1e999, 1, 2]}\n')
    fails(run(["import", "c", tmp("big.jsonl")], db=db), 1, r"line 1")
    with open(tmp("nan.csv"), "w") as f:
        f.write('id,vector\n0,"nan,1,2"\n')
    fails(run(["import", "c", tmp("nan.csv")], db=db), 1, r"line 2")
    before.assert_same("NaN/inf imports")
    for v in ("nan,1,2", "1,inf,2", "1,2,-inf", "1,NaN,2"):
        r = run(["search", "c", "--vector", v], db=db)
        check(r.rc in (1, 2), "--vector %s exit %d" % (v, r.rc))
        fails(r, r.rc, r"NaN|infinite|numbers", "--vector %s" % v)
    fails(run(["search", "c", "--vector", "1e39,1,2"], db=db), 2, r"numbers")
    fails(run(["search", "c", "--queries", tmp("nan.npy")], db=db), 1, r"NaN")
    fails(run(["search", "c", "--vector", "1,2,3", "--radius", "nan"], db=db), 2, r"--radius")
    before.assert_same("NaN searches")


@test
def test_bad_filter(tmp):
    db = setup(tmp)
    before = Unchanged(db, "c")
    bad = [
        ("{bad", r"filter: .*offset 1"),
        ('{"must": [{"key": "k", "match": {"value": 1}}]', r"filter: "),
        ('{"must": 5}', r"'must' needs an array"),
        ('{"must": [{"key": "k", "matchx": {"value": 1}}]}', r"unknown field 'matchx'"),
        ('{"must": [{"key": "", "match": {"value": 1}}]}', r"'key' must not be empty"),
        ('{"must": [{"key": "k", "range": {"gt": "a"}}]}', r"filter: "),
        ('{"must": [{"key": "k", "geo_radius": {}}]}', r"geo_radius"),
        ("[]", r"must be an object"),
        ("", r"filter"),
    ]
    for text, pat in bad:
        for cmd in (["count", "c"], ["search", "c", "--vector", "1,2,3"], ["scroll", "c"],
                    ["delete", "c"]):
            r = run(cmd + ["--filter", text], db=db)
            check(r.rc in (1, 2), "%s --filter %r: exit %d" % (cmd[0], text, r.rc))
            fails(r, r.rc, pat, "%s --filter %r" % (cmd[0], text))
            eq(r.out, "", "no output for a bad filter")
    before.assert_same("bad filters")


@test
def test_bad_jsonl_lines(tmp):
    db = setup(tmp)
    before = Unchanged(db, "c")
    cases = [
        ('{"id": 100, "vector": [1, 2, 3], oops}', r"line 2: .*offset"),
        ('{"id": 100, "vectors": [1, 2, 3]}', r"line 2: unknown field 'vectors'"),
        ('{"id": 100, "vector": "1,2,3"}', r"line 2: 'vector' must be an array"),
        ('{"id": 100, "vector": []}', r"line 2: 'vector' is empty"),
        ('{"id": -1, "vector": [1, 2, 3]}', r"line 2: 'id'"),
        ('{"id": 100, "vector": [1, 2, 3], "payload": [1]}',
         r"line 2: 'payload' must be an object"),
        ('{"id": 100, "vector": [1, 2, 3], "text": 5}', r"line 2: 'text' must be a string"),
        ('{"vector": [1, 2, 3]}', r"line 2: .*id"),
        ('[1, 2, 3]', r"line 2: expected a JSON object"),
        ('{"id": 100, "vector": [1, "x", 3]}', r"line 2: 'vector' must be an array of numbers"),
    ]
    for k, (line, pat) in enumerate(cases):
        path = tmp("bad%d.jsonl" % k)
        with open(path, "w") as f:
            f.write('{"id": 99, "vector": [5, 5, 5]}\n' + line + "\n")
        err = fails(run(["import", "c", path], db=db), 1, pat, "case %d" % k)
        contains(err, "bad%d.jsonl" % k, "the message names the file")
        contains(err, "0 points before it were imported")
    with open(tmp("utf8.jsonl"), "wb") as f:
        f.write(b'{"id": 99, "vector": [5, 5, 5]}\n{"id": 100, "vector": [1, 2, 3], '
                b'"text": "\xff\xfe"}\n')
    fails(run(["import", "c", tmp("utf8.jsonl")], db=db), 1, r"line 2")
    before.assert_same("bad jsonl lines")


@test
def test_bad_line_mid_import_keeps_whole_batches(tmp):
    db = tmp("db")
    hk_ok(db, "create", "c", "--dim", DIM)
    with open(tmp("in.jsonl"), "w") as f:
        for i in range(40):
            if i == 24:
                f.write('{"id": %d, "vector": [1, 2, 3], "payload": {"k": }}\n' % i)
            else:
                f.write(json.dumps({"id": i, "vector": [i, i, i]}) + "\n")
    err = fails(run(["import", "c", tmp("in.jsonl"), "--batch", "10"], db=db), 1,
                r"in\.jsonl: line 25: ")
    contains(err, "20 points before it were imported")
    eq(count(db, "c"), 20, "exactly the two batches before the bad line")
    pts = get_points(db, "c", range(40), allow_missing=True)
    eq(sorted(pts), list(range(20)))
    for i in range(20):
        eq(pts[i]["vector"], [i, i, i])
    # The same through stdin with a blank line and CRLF endings before the bad line.
    hk_ok(db, "create", "d", "--dim", DIM)
    text = "".join(json.dumps({"id": i, "vector": [i, 0, 0]}) + "\r\n" for i in range(12))
    text += "\n" + '{"id": 12, "vector": [1, 2]}\n'
    err = fails(run(["import", "d", "-", "--format", "jsonl", "--batch", "5"], db=db,
                    input=text), 1, r"line 14: dimension 2 differs")
    contains(err, "10 points before it were imported")
    eq(count(db, "d"), 10)


@test
def test_bad_binary_files(tmp):
    db = setup(tmp)
    before = Unchanged(db, "c")
    write_fvecs(tmp("t.fvecs"), np.ones((4, DIM), dtype=np.float32))
    with open(tmp("t.fvecs"), "rb") as f:
        data = f.read()
    with open(tmp("trunc.fvecs"), "wb") as f:
        f.write(data[:-5])
    err = fails(run(["import", "c", tmp("trunc.fvecs")], db=db), 1,
                r"trunc\.fvecs: truncated vector 3 at byte 48")
    contains(err, "0 points before it were imported")
    with open(tmp("notnpy.npy"), "wb") as f:
        f.write(b"this is not numpy")
    fails(run(["import", "c", tmp("notnpy.npy")], db=db), 1, r"not a NumPy \.npy file")
    np.save(tmp("c16.npy"), np.ones((2, DIM), dtype=np.complex64))
    fails(run(["import", "c", tmp("c16.npy")], db=db), 1, r"unsupported dtype")
    np.save(tmp("f3d.npy"), np.ones((2, 2, DIM), dtype=np.float32))
    fails(run(["import", "c", tmp("f3d.npy")], db=db), 1, r"not 2-D")
    fails(run(["import", "c", tmp("t.xyz")], db=db), 1, r"cannot read")
    with open(tmp("t.xyz"), "wb") as f:
        f.write(data)
    fails(run(["import", "c", tmp("t.xyz")], db=db), 1, r"unknown file extension")
    fails(run(["import", "c", tmp("t.fvecs"), "--format", "parquet"], db=db), 1,
          r"unknown format 'parquet'")
    fails(run(["import", "c", "-"], db=db, input=data), 1, r"name the format")
    fails(run(["import", "c", tmp(), "--format", "fvecs"], db=db), 1, r"is a directory")
    before.assert_same("bad binary files")


@test
def test_unknown_collection(tmp):
    db = setup(tmp)
    before = Unchanged(db, "c")
    write_fvecs(tmp("x.fvecs"), np.ones((2, DIM), dtype=np.float32))
    for args in (["info", "nope"], ["count", "nope"], ["get", "nope", "1"],
                 ["scroll", "nope"], ["search", "nope", "--vector", "1,2,3"],
                 ["import", "nope", tmp("x.fvecs")], ["delete", "nope", "1"],
                 ["delete", "nope", "--filter", "{}"], ["drop", "nope"],
                 ["index", "nope", "k", "--type", "keyword"], ["checkpoint", "nope"]):
        fails(run(args, db=db), 1, r"collection 'nope' does not exist", " ".join(args))
    check(not os.path.exists(os.path.join(db, "collections", "nope")), "a directory appeared")
    before.assert_same("unknown collections")


@test
def test_foreign_directory_left_alone(tmp):
    # A directory that is not a HEKTOR database is refused and left as it was: a refused
    # writer (create, import, ...) does not even leave a LOCK file in it.
    os.makedirs(tmp("plain"))
    with open(tmp("plain", "file.txt"), "w") as f:
        f.write("x")
    fails(run(["list"], db=tmp("plain")), 1, r"'.*plain' is not a HEKTOR database")
    fails(run(["count", "c"], db=tmp("plain")), 1, r"is not a HEKTOR database")
    eq(os.listdir(tmp("plain")), ["file.txt"], "after read-only commands")
    fails(run(["create", "c", "--dim", "2"], db=tmp("plain")), 1,
          r"'.*plain' is not a HEKTOR database .* is not empty")
    eq(os.listdir(tmp("plain")), ["file.txt"], "after a refused create")


@test
def test_duplicate_collection_bad_metric_bad_dim(tmp):
    db = setup(tmp)
    before = Unchanged(db, "c")
    fails(run(["create", "c", "--dim", "5"], db=db), 1, r"collection 'c' already exists")
    fails(run(["create", "c", "--dim", DIM, "--metric", "ip"], db=db), 1, r"already exists")
    fails(run(["create", "m", "--dim", "3", "--metric", "hamming"], db=db), 2,
          r"unknown metric 'hamming' \(use l2, ip or cosine\)")
    for d in ("0", "65537", "-1", "4294967297", "1.5", ""):
        fails(run(["create", "d", "--dim", d], db=db), 2,
              r"--dim must be an integer from 1 to 65536", "dim %r" % d)
    eq(sorted(os.listdir(os.path.join(db, "collections"))), ["c"], "no collection was made")
    before.assert_same("bad creates")
    fails(run(["create", "x", "--dim", "0"], db=tmp("fresh")), 2, r"--dim")
    check(not os.path.exists(tmp("fresh")), "a rejected create made the database directory")


# ---- second writer ---------------------------------------------------------------------------

def wait_for_lock(db, pid, proc):
    deadline = time.time() + 20 * SLOW
    lock = os.path.join(db, "LOCK")
    while time.time() < deadline:
        alive(proc, "the writer")
        try:
            with open(lock) as f:
                if f.read().strip() == str(pid):
                    return
        except FileNotFoundError:
            pass
        time.sleep(0.02)
    raise AssertionError("the writer never took the lock")


@test
def test_second_writer_is_locked_out(tmp):
    db = setup(tmp, n=20)
    write_fvecs(tmp("x.fvecs"), np.ones((2, DIM), dtype=np.float32))
    writer = spawn(["import", "c", "-", "--format", "jsonl", "--batch", "5"], db=db,
                   stdin=subprocess.PIPE)
    try:
        wait_for_lock(db, writer.pid, writer)
        files = coll_state(db, "c")
        for args in (["create", "x", "--dim", "2"], ["import", "c", tmp("x.fvecs")],
                     ["delete", "c", "1"], ["drop", "c"], ["checkpoint"],
                     ["index", "c", "k", "--type", "integer"]):
            fails(run(args, db=db), 1,
                  r"database is locked: .* is open for writing \(by pid %d\)"
                  % writer.pid, " ".join(args))
        check(coll_state(db, "c") == files, "a refused writer changed the files")
        # Readers take no lock.
        eq(count(db, "c"), 20)
        hits = loads(hk_ok(db, "search", "c", "--vector", "0,0,0", "--k", "3", "--json").out)
        eq(len(hits), 3)
        eq(sorted(get_points(db, "c", [0, 19])), [0, 19])
        eq(info(db, "c")["count"], 20)
        eq(hk_ok(db, "list").out, "c\n")
        eq(len(hk_ok(db, "scroll", "c", "--limit", "100").lines()), 20)
        ok_backup = hk_ok(db, "backup", tmp("bk"))
        contains(ok_backup.out, "backed up")
        # The writer still works: feed it and let it finish.
        data = "".join(json.dumps({"id": 100 + i, "vector": [i, i, i]}) + "\n"
                       for i in range(12))
        out, err = writer.communicate(data.encode(), timeout=60 * SLOW)
        eq(writer.returncode, 0, "writer: %s" % err.decode())
        contains(out.decode(), "imported 12 points")
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
    eq(count(db, "c"), 32)
    hk_ok(db, "create", "x", "--dim", "2")  # the lock is free again


if __name__ == "__main__":
    main()
