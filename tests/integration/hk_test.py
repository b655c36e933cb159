"""hk_test.py — the small harness every integration test script imports.

It runs the real `hektor` binary, collects test functions registered with @test, runs
them in order and prints 'N passed, M failed' as its last line, exiting non-zero when
anything failed. No pytest: the scripts run with plain /usr/bin/python3.

Paths come from the environment CTest sets (HEKTOR_BIN, HK_SHARED_DATA, HK_TEST_TMP,
HK_SOURCE_DIR) and default to this checkout's layout when a script is run by hand:
    /usr/bin/python3 tests/integration/test_cli.py [TEST_NAME...]
Set HK_KEEP=1 to keep the temporary directories of a run for inspection.
"""
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import traceback

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("HK_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
BIN = os.environ.get("HEKTOR_BIN") or os.path.join(SOURCE_DIR, "build", "hektor")
SHARED_DATA = os.environ.get("HK_SHARED_DATA") or os.path.join(
    os.path.dirname(SOURCE_DIR), "shared", "data")
TMP_ROOT = os.environ.get("HK_TEST_TMP") or "/tmp"
ANN_DIR = os.path.join(SHARED_DATA, "ann")


def _is_sanitized(path):
    try:
        with open(path, "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


# Sanitized binaries run ~3x slower: tests scale sizes and waits by this.
SANITIZED = _is_sanitized(BIN)
SLOW = 3.0 if SANITIZED else 1.0


class TestFailure(AssertionError):
    pass


# ---- assertions -------------------------------------------------------------------------

def check(cond, msg="check failed"):
    if not cond:
        raise TestFailure(msg)


def eq(actual, expected, msg=""):
    if actual != expected:
        raise TestFailure("%sexpected %r, got %r" % (msg + ": " if msg else "", expected, actual))


def contains(text, needle, msg=""):
    if needle not in text:
        raise TestFailure("%sexpected %r in %r" % (msg + ": " if msg else "", needle, text))


def matches(text, pattern, msg=""):
    if not re.search(pattern, text):
        raise TestFailure("%sexpected /%s/ in %r" % (msg + ": " if msg else "", pattern, text))


# ---- running the binary -----------------------------------------------------------------

class Result:
    def __init__(self, args, rc, out, err):
        self.args, self.rc, self.out, self.err = args, rc, out, err

    def __repr__(self):
        return "hektor %s -> rc %s\n--- stdout ---\n%s--- stderr ---\n%s" % (
            " ".join(self.args), self.rc, _cut(self.out), _cut(self.err))

    def lines(self):
        return [l for l in self.out.splitlines() if l.strip()]

    def json_lines(self):
        return [loads(l) for l in self.lines()]


def _parse_int(text):
    # "-0" is how hektor prints a negative-zero component; keep its sign.
    return -0.0 if text == "-0" else int(text)


def loads(text):
    """json.loads that keeps -0 as -0.0 and rejects NaN/Infinity, which JSON lacks."""
    def bad(c):
        raise ValueError("not JSON: %s" % c)
    return json.loads(text, parse_int=_parse_int, parse_constant=bad)


def _cut(s, n=3000):
    return s if len(s) <= n else s[:n] + "...[%d more chars]\n" % (len(s) - n)


def env_for(nosync=True, extra=None):
    env = dict(os.environ)
    env.pop("HEKTOR_NOSYNC", None)
    if nosync:
        env["HEKTOR_NOSYNC"] = "1"
    if extra:
        env.update(extra)
    return env


def run(args, db=None, input=None, nosync=True, timeout=None, env=None):
    """Runs `hektor [--db DB] ARGS...`; returns a Result (never raises on exit status)."""
    args = [str(a) for a in args]
    full = [BIN] + (["--db", str(db)] if db is not None else []) + args
    if isinstance(input, str):
        input = input.encode()
    p = subprocess.run(full, input=input, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout or 120 * SLOW, env=env or env_for(nosync))
    return Result(args, p.returncode, p.stdout.decode("utf-8", "replace"),
                  p.stderr.decode("utf-8", "replace"))


def spawn(args, db=None, nosync=True, stdin=None, stdout=subprocess.PIPE,
          stderr=subprocess.PIPE):
    """Starts `hektor` without waiting; the caller owns the Popen."""
    full = [BIN] + (["--db", str(db)] if db is not None else []) + [str(a) for a in args]
    return subprocess.Popen(full, stdin=stdin, stdout=stdout, stderr=stderr, env=env_for(nosync))


def alive(proc, what="the process"):
    """Asserts a spawned process is still running (reporting its output if not)."""
    if proc.poll() is not None:
        out, err = proc.communicate()
        raise TestFailure("%s exited with %s:\n%s%s" % (what, proc.returncode,
                                                       _cut((out or b"").decode()),
                                                       _cut((err or b"").decode())))


def ok(res, msg=""):
    """Asserts exit status 0 and no sanitizer report; returns the Result."""
    if res.rc != 0:
        raise TestFailure("%sexpected success:\n%r" % (msg + ": " if msg else "", res))
    if "Sanitizer" in res.err or "runtime error" in res.err:
        raise TestFailure("sanitizer report:\n%r" % res)
    return res


def fails(res, rc=1, pattern=None, msg=""):
    """Asserts exit status rc and exactly one stderr line 'hektor: error: ...' (matching
    pattern, a regex, when given). Returns the error line."""
    pre = msg + ": " if msg else ""
    if res.rc != rc:
        raise TestFailure("%sexpected exit %d:\n%r" % (pre, rc, res))
    lines = [l for l in res.err.splitlines() if l.strip()]
    errs = [l for l in lines if l.startswith("hektor: error:")]
    if len(errs) != 1:
        raise TestFailure("%sexpected one 'hektor: error:' line:\n%r" % (pre, res))
    others = [l for l in lines if not l.startswith("hektor: error:")
              and not l.startswith("hektor: notice:")]
    if others:
        raise TestFailure("%sunexpected stderr lines %r:\n%r" % (pre, others, res))
    if pattern and not re.search(pattern, errs[0]):
        raise TestFailure("%sexpected /%s/ in the error:\n%r" % (pre, pattern, res))
    return errs[0]


def hk_ok(db, *args, **kw):
    return ok(run(list(args), db=db, **kw))


def count(db, name, filt=None):
    args = ["count", name] + (["--filter", json.dumps(filt)] if filt is not None else [])
    r = hk_ok(db, *args)
    return int(r.out.strip())


def info(db, name):
    return json.loads(hk_ok(db, "info", name, "--json").out)


def get_points(db, name, ids, allow_missing=False):
    """{id: record} from `hektor get`, record = parsed JSON line."""
    ids = list(ids)
    out = {}
    for i in range(0, len(ids), 2000):
        r = run(["get", name] + ids[i:i + 2000], db=db)
        if r.rc != 0 and not (allow_missing and r.rc == 1):
            raise TestFailure("get failed:\n%r" % r)
        for rec in r.json_lines():
            out[rec["id"]] = rec
    return out


def scroll_all(db, name, with_vector=True, filt=None):
    """Every point as {id: record}, in one scroll page."""
    args = ["scroll", name, "--limit", "4000000000"]
    if with_vector:
        args.append("--with-vector")
    if filt is not None:
        args += ["--filter", json.dumps(filt)]
    r = hk_ok(db, *args)
    recs = r.json_lines()
    ids = [x["id"] for x in recs]
    check(ids == sorted(ids), "scroll is not in ascending id order")
    check("next offset" not in r.err, "single-page scroll reported a next page")
    return {x["id"]: x for x in recs}


def f32(values):
    return np.asarray(values, dtype=np.float32)


def same_f32(a, b):
    """Bitwise equality of two float32 vectors."""
    a, b = f32(a), f32(b)
    return a.shape == b.shape and a.tobytes() == b.tobytes()


# ---- file formats -----------------------------------------------------------------------

def write_fvecs(path, x):
    x = np.ascontiguousarray(x, dtype=np.float32)
    n, d = x.shape
    rows = np.empty((n, d + 1), dtype=np.int32)
    rows[:, 0] = d
    rows[:, 1:] = x.view(np.int32)
    rows.tofile(path)


def write_bvecs(path, x):
    x = np.ascontiguousarray(x, dtype=np.uint8)
    n, d = x.shape
    with open(path, "wb") as f:
        for row in x:
            f.write(struct.pack("<i", d))
            f.write(row.tobytes())


def read_bvecs(path):
    raw = np.fromfile(path, dtype=np.uint8)
    d = int(raw[:4].view(np.int32)[0])
    return raw.reshape(-1, d + 4)[:, 4:].copy()


def write_ivecs(path, rows):
    with open(path, "wb") as f:
        for row in rows:
            f.write(struct.pack("<i", len(row)))
            f.write(np.asarray(row, dtype=np.int32).tobytes())


def read_ivecs(path):
    """List of int32 arrays (rows may differ in length)."""
    raw = np.fromfile(path, dtype=np.int32)
    rows, i = [], 0
    while i < len(raw):
        n = int(raw[i])
        rows.append(raw[i + 1:i + 1 + n].copy())
        i += 1 + n
    return rows


def jsonl_line(pid, vec, payload=None, text=None):
    rec = {"id": int(pid), "vector": [float(v) for v in f32(vec)]}
    if payload is not None:
        rec["payload"] = payload
    if text is not None:
        rec["text"] = text
    return json.dumps(rec)


def write_jsonl(path, ids, vectors, payloads=None, texts=None):
    with open(path, "w") as f:
        for i, pid in enumerate(ids):
            f.write(jsonl_line(pid, vectors[i], payloads[i] if payloads else None,
                               texts[i] if texts else None) + "\n")


def vec_arg(v):
    """A vector as --vector text that reads back to the same float32 values."""
    return ",".join(repr(float(x)) for x in f32(v))


# ---- databases --------------------------------------------------------------------------

class TempDir:
    def __init__(self, tag):
        os.makedirs(TMP_ROOT, exist_ok=True)
        self.path = tempfile.mkdtemp(prefix="hk-%s-" % tag, dir=TMP_ROOT)

    def __call__(self, *parts):
        return os.path.join(self.path, *parts)

    def cleanup(self):
        if not os.environ.get("HK_KEEP"):
            shutil.rmtree(self.path, ignore_errors=True)


def coll_files(db, name):
    d = os.path.join(db, "collections", name)
    return os.path.join(d, "snapshot.hks"), os.path.join(d, "wal.hkl")


def file_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def coll_state(db, name):
    """Bytes of a collection's snapshot and log: compare before and after a failed call."""
    s, w = coll_files(db, name)
    return file_bytes(s), file_bytes(w)


def make_collection(db, name, vectors, metric="l2", payloads=None, texts=None, ids=None,
                    batch=None, index="flat", create_args=()):
    """Creates NAME (flat unless index says otherwise) and imports vectors (ids 0..n-1
    unless given) through jsonl."""
    vectors = f32(vectors)
    hk_ok(db, "create", name, "--dim", vectors.shape[1], "--metric", metric, "--index", index,
          *create_args)
    ids = list(range(len(vectors))) if ids is None else ids
    path = os.path.join(db + ".in", name + ".jsonl")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    write_jsonl(path, ids, vectors, payloads, texts)
    args = ["import", name, path, "--quiet"] + (["--batch", batch] if batch else [])
    r = hk_ok(db, *args)
    contains(r.out, "imported %d points" % len(ids))


# ---- running tests ----------------------------------------------------------------------

_tests = []


def test(fn):
    _tests.append(fn)
    return fn


def main():
    if not os.access(BIN, os.X_OK):
        print("hektor binary not found at %s (set HEKTOR_BIN)" % BIN)
        print("0 passed, 1 failed")
        sys.exit(1)
    only = set(sys.argv[1:])
    passed = failed = 0
    t_all = time.time()
    for fn in _tests:
        if only and fn.__name__ not in only:
            continue
        t0 = time.time()
        tmp = TempDir(fn.__name__)
        try:
            fn(tmp)
            passed += 1
            print("PASS %-40s %6.2fs" % (fn.__name__, time.time() - t0), flush=True)
        except Exception as e:  # noqa: BLE001 — every failure is reported, then counted
            failed += 1
            print("FAIL %-40s %6.2fs" % (fn.__name__, time.time() - t0), flush=True)
            if isinstance(e, TestFailure):
                tb = traceback.extract_tb(e.__traceback__)
                where = [f for f in tb if f.filename != __file__]
                loc = where[-1] if where else tb[-1]
                print("  at %s:%d" % (os.path.basename(loc.filename), loc.lineno))
                print("  " + str(e).replace("\n", "\n  "))
            else:
                traceback.print_exc()
        finally:
            tmp.cleanup()
    print("(%s%.1fs)" % ("sanitized binary, " if SANITIZED else "", time.time() - t_all))
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)
