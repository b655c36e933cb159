"""test_storage.py — damaged files and backups.

Snapshot: every single-bit flip (a sweep over the file) and every truncation is refused
with one error line naming snapshot.hks and where, exit 1, no crash, and no process
rewrites the damaged file. Log: a corrupt record followed by valid ones is refused
(naming wal.hkl and the record's offset); a torn last record is dropped with a notice and
every earlier record survives. Backup while a writer imports is a consistent prefix.

Log records only stay in wal.hkl while a writer is open (closing checkpoints), so the
tests make them with a writer that is killed: `import - --format jsonl` reads stdin in
256 KiB blocks, so feeding exactly 256 KiB of whole lines (topped up with blank lines if
that is not enough) makes it apply them and then wait for more; once a reader counts them
all it is SIGKILLed, leaving the records in the log."""
import json
import os
import signal
import struct
import subprocess
import sys
import threading
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hk_test import (  # noqa: E402
    SLOW, alive, check, coll_files, contains, count, eq, fails, file_bytes, hk_ok, info,
    jsonl_line, main, make_collection, matches, ok, run, same_f32, scroll_all, spawn, test)

DIM = 8
READ_BLOCK = 256 << 10  # the import reader's stdin block (src/adapters/reader.c)


def points(n, seed, start=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, DIM)).astype(np.float32)
    pays = [{"i": start + i, "tag": "t%d" % (i % 5), "nested": {"v": [i, i * 0.5]}}
            for i in range(n)]
    return list(range(start, start + n)), x, pays


def verify(db, name, ids, x, pays, what):
    got = scroll_all(db, name)
    eq(sorted(got), sorted(ids), "%s: ids" % what)
    for k, i in enumerate(ids):
        check(same_f32(got[i]["vector"], x[k]), "%s: vector of %d" % (what, i))
        eq(got[i]["payload"], pays[k], "%s: payload of %d" % (what, i))


# ---- making log records ---------------------------------------------------------------------

def padded_lines(ids, x, pays, line_len):
    out = []
    for k, i in enumerate(ids):
        line = jsonl_line(i, x[k], pays[k], "")
        pad = line_len - len(line) - 1
        check(pad >= 0, "line_len too small")
        out.append(line[:-2] + "x" * pad + line[-2:] + "\n")  # pad inside the text value
        eq(len(out[-1]), line_len)
    return "".join(out).encode()


def logged_collection(tmp, name="c", lines=256, batch=16, seed=50):
    """A collection whose lines/batch records sit in wal.hkl after a SIGKILLed writer."""
    db = tmp("db")
    hk_ok(db, "create", name, "--dim", DIM)
    hk_ok(db, "checkpoint", name)
    ids, x, pays = points(lines, seed)
    data = padded_lines(ids, x, pays, READ_BLOCK // lines)
    eq(len(data), READ_BLOCK)
    p = spawn(["import", name, "-", "--format", "jsonl", "--batch", batch, "--quiet"], db=db,
              stdin=subprocess.PIPE)
    try:
        p.stdin.write(data)
        p.stdin.flush()
        deadline = time.time() + 30 * SLOW
        padded = 0
        while count(db, name) < lines:
            alive(p, "the writer")
            check(time.time() < deadline, "the writer never applied its records")
            if padded < (16 << 20):
                # Blank lines are skipped: they fill a larger read block, should the
                # reader ever use one, without adding records.
                p.stdin.write(b"\n" * (64 << 10))
                p.stdin.flush()
                padded += 64 << 10
            time.sleep(0.02)
        alive(p, "the writer")  # it waits for more input: the records stay in the log
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    eq(p.returncode, -signal.SIGKILL)
    return db, ids, x, pays


def wal_records(path):
    """[(offset, length, type, lsn)] of the log's records, parsed from the documented
    layout: 32-byte header, then u32 length, u8 type, u64 LSN, u32 CRC32C, body."""
    data = file_bytes(path)
    check(data[:8] == b"HKWAL\r\n\x1a", "log magic")
    base = struct.unpack_from("<Q", data, 16)[0]
    recs, off = [], 32
    while off + 17 <= len(data):
        ln, typ, lsn, _ = struct.unpack_from("<IBQI", data, off)
        recs.append((off, ln, typ, lsn))
        off += 17 + ln
    eq(off, len(data), "records end at the end of the file")
    eq([r[3] for r in recs], list(range(base + 1, base + 1 + len(recs))), "consecutive LSNs")
    return recs


def flip(path, offset, bit=0):
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)[0]
        f.seek(offset)
        f.write(bytes([b ^ (1 << bit)]))


def write_file(path, data):
    with open(path, "wb") as f:
        f.write(data)


# ---- snapshot ---------------------------------------------------------------------------------

def snapshot_collection(tmp):
    db = tmp("db")
    ids, x, pays = points(12, 51)
    make_collection(db, "c", x, payloads=pays, texts=["text %d" % i for i in ids])
    hk_ok(db, "index", "c", "tag", "--type", "keyword")
    hk_ok(db, "checkpoint", "c")
    eq(info(db, "c")["wal_bytes"], 32, "checkpointed")
    return db, ids, x, pays


SNAP_ERR = r"^hektor: error: .*collections/c/snapshot\.hks: .*(offset \d+|section)"


@test
def test_snapshot_bit_flips(tmp):
    db, ids, x, pays = snapshot_collection(tmp)
    snap, wal = coll_files(db, "c")
    good = file_bytes(snap)
    # Every 64-byte block (file header, section headers, data, padding) gets 4 flips at
    # positions that rotate from block to block: a full sweep costs a process per byte.
    offsets = sorted({blk * 64 + (j * 8 + blk * 3) % 64 for blk in range(len(good) // 64)
                      for j in range(4)} | {len(good) - 1})
    accepted = []
    for off in offsets:
        bit = (off * 5 + 3) % 8
        flip(snap, off, bit)
        r = run(["count", "c"], db=db)
        if r.rc == 0:
            accepted.append(off)
        else:
            fails(r, 1, SNAP_ERR, "bit %d of byte %d" % (bit, off))
        write_file(snap, good)
    check(not accepted, "flips at offsets %r of %d were not detected" % (accepted, len(good)))
    # A writer refuses the damaged file too and leaves it as it is; so does a backup.
    flip(snap, len(good) // 2, 1)
    bad = file_bytes(snap)
    walb = file_bytes(wal)
    for args in (["import", "c", "-", "--format", "jsonl"], ["checkpoint", "c"],
                 ["delete", "c", "1"], ["search", "c", "--vector", ",".join(["0"] * DIM)],
                 ["backup", tmp("bk")]):
        fails(run(args, db=db, input=jsonl_line(500, x[0]) + "\n"), 1, SNAP_ERR, args[0])
        eq(file_bytes(snap), bad, "%s rewrote the damaged snapshot" % args[0])
        eq(file_bytes(wal), walb, "%s changed the log" % args[0])
    write_file(snap, good)
    verify(db, "c", ids, x, pays, "after restoring the good bytes")


@test
def test_snapshot_truncated_or_missing(tmp):
    db, ids, x, pays = snapshot_collection(tmp)
    snap, _ = coll_files(db, "c")
    good = file_bytes(snap)
    for cut in sorted({0, 1, 8, 63, 64, 65, 127, 128, 200, len(good) // 2, len(good) - 64,
                       len(good) - 1}):
        write_file(snap, good[:cut])
        fails(run(["count", "c"], db=db), 1, r"snapshot\.hks: truncated", "cut at %d" % cut)
        fails(run(["checkpoint", "c"], db=db), 1, r"snapshot\.hks: truncated")
        eq(file_bytes(snap), good[:cut], "a writer changed the truncated snapshot")
    write_file(snap, good + b"\0" * 64)
    fails(run(["count", "c"], db=db), 1, r"snapshot\.hks: .*extended")
    os.unlink(snap)
    fails(run(["count", "c"], db=db), 1, r"snapshot\.hks: cannot open snapshot")
    write_file(snap, good)
    verify(db, "c", ids, x, pays, "after restoring the snapshot")


# ---- log ------------------------------------------------------------------------------------

WAL_ERR = (r"^hektor: error: .*collections/c/wal\.hkl: log record at offset %d is corrupt .*"
           r"valid records follow it")


@test
def test_log_records_survive_a_killed_writer(tmp):
    db, ids, x, pays = logged_collection(tmp)
    snap, wal = coll_files(db, "c")
    recs = wal_records(wal)
    eq(len(recs), 256 // 16, "one log record per batch")
    check(all(r[2] == recs[0][2] for r in recs), "all upserts")
    r = ok(run(["count", "c"], db=db))
    eq(r.out.strip(), "256")
    eq(r.err, "", "no notice for a clean log")
    verify(db, "c", ids, x, pays, "replayed log")
    eq(info(db, "c")["lsn"], recs[-1][3])
    # A writer's close checkpoints: the log shrinks to its header, nothing is lost.
    hk_ok(db, "checkpoint", "c")
    eq(os.path.getsize(wal), 32)
    verify(db, "c", ids, x, pays, "after checkpoint")


@test
def test_log_corrupt_middle_record(tmp):
    db, ids, x, pays = logged_collection(tmp)
    snap, wal = coll_files(db, "c")
    good_wal, good_snap = file_bytes(wal), file_bytes(snap)
    recs = wal_records(wal)
    mid = recs[len(recs) // 2]
    # A bit in the body, in the CRC, in the LSN and in the length of a middle record.
    for where in (mid[0] + 17 + mid[1] // 2, mid[0] + 13, mid[0] + 6, mid[0] + 1):
        flip(wal, where, 2)
        for args in (["count", "c"], ["checkpoint", "c"],
                     ["import", "c", "-", "--format", "jsonl"]):
            fails(run(args, db=db, input=""), 1, WAL_ERR % mid[0],
                  "%s with byte %d flipped" % (args[0], where))
            eq(file_bytes(snap), good_snap, "%s changed the snapshot" % args[0])
        write_file(wal, good_wal)
    # The first record, too.
    flip(wal, recs[0][0] + 20, 0)
    fails(run(["count", "c"], db=db), 1, WAL_ERR % recs[0][0])
    write_file(wal, good_wal)
    # The log header.
    flip(wal, 17, 0)
    fails(run(["count", "c"], db=db), 1, r"wal\.hkl: log header checksum mismatch at offset 0")
    write_file(wal, good_wal[:20])
    fails(run(["count", "c"], db=db), 1, r"wal\.hkl: truncated log header")
    write_file(wal, good_wal)
    verify(db, "c", ids, x, pays, "after restoring the log")


@test
def test_log_torn_tail_is_dropped(tmp):
    db, ids, x, pays = logged_collection(tmp)
    snap, wal = coll_files(db, "c")
    good_wal = file_bytes(wal)
    recs = wal_records(wal)
    last = recs[-1]
    keep = 256 - 16
    for cut in (len(good_wal) - 3, last[0] + 17 + 1, last[0] + 5):
        write_file(wal, good_wal[:cut])
        r = ok(run(["count", "c"], db=db))
        eq(r.out.strip(), str(keep), "count without the torn record (cut %d)" % cut)
        notes = [l for l in r.err.splitlines() if l]
        eq(len(notes), 1, "one notice: %r" % r.err)
        # A reader cannot tell a torn write from a write in progress elsewhere: it
        # ignores the record and says so, without touching the file.
        matches(notes[0], r"^hektor: notice: collection 'c': ignored an incomplete log record "
                r"at offset %d \(%d bytes\)" % (last[0], cut - last[0]))
        eq(file_bytes(wal), good_wal[:cut], "a reader truncated the log")
    verify(db, "c", ids[:keep], x[:keep], pays[:keep], "records before the torn one")
    # A bit flip in the last record is indistinguishable from a torn write: dropped too.
    write_file(wal, good_wal)
    flip(wal, last[0] + 17 + 3, 4)
    r = ok(run(["count", "c"], db=db))
    eq(r.out.strip(), str(keep))
    contains(r.err, "ignored an incomplete log record at offset %d" % last[0])
    # A writer drops it for good: the next open is quiet, the data stays.
    write_file(wal, good_wal[:len(good_wal) - 3])
    r = ok(run(["checkpoint", "c"], db=db))
    contains(r.err, "hektor: notice: collection 'c': dropped a torn log record")
    r = ok(run(["count", "c"], db=db))
    eq((r.out.strip(), r.err), (str(keep), ""))
    eq(os.path.getsize(wal), 32)
    verify(db, "c", ids[:keep], x[:keep], pays[:keep], "after the writer")
    # New writes after recovery land normally.
    hk_ok(db, "import", "c", "-", "--format", "jsonl",
          input="".join(jsonl_line(ids[k], x[k], pays[k]) + "\n" for k in range(keep, 256)))
    verify(db, "c", ids, x, pays, "after re-importing the torn batch")


@test
def test_log_torn_tail_followed_by_zeros(tmp):
    # A torn tail followed by garbage that is not a record (zeros from a crash that
    # extended the file) is still a torn tail, not corruption.
    db, ids, x, pays = logged_collection(tmp, lines=128, batch=32)
    _, wal = coll_files(db, "c")
    good = file_bytes(wal)
    write_file(wal, good[:-10] + b"\0" * 4096)
    r = ok(run(["count", "c"], db=db, nosync=False))
    eq(r.out.strip(), "96")
    contains(r.err, "ignored an incomplete log record")
    r = ok(run(["checkpoint", "c"], db=db, nosync=False))
    contains(r.err, "dropped a torn log record")
    r = ok(run(["count", "c"], db=db))
    eq((r.out.strip(), r.err), ("96", ""))


@test
def test_readers_during_checkpoints(tmp):
    # Every writer's close checkpoints (new snapshot renamed in, then the log reset), so
    # a stream of short imports races readers against checkpoints: every read must see a
    # whole number of imports, never an error or a notice, and never go back in time.
    db = tmp("db")
    hk_ok(db, "create", "c", "--dim", DIM)
    rng = np.random.default_rng(53)
    files = 30
    errors = []

    def writer():
        try:
            for k in range(files):
                path = tmp("w%d.jsonl" % k)
                x = rng.standard_normal((100, DIM)).astype(np.float32)
                with open(path, "w") as f:
                    f.write("".join(jsonl_line(k * 100 + j, x[j]) + "\n" for j in range(100)))
                hk_ok(db, "import", "c", path, "--quiet", nosync=False)
        except Exception as e:  # noqa: BLE001 — reported by the main thread
            errors.append(e)

    t = threading.Thread(target=writer)
    t.start()
    seen = []
    while t.is_alive():
        r = run(["count", "c"], db=db)
        if r.rc != 0 or r.err:
            t.join()
            raise AssertionError("a reader during checkpoints: %r" % r)
        seen.append(int(r.out))
    t.join()
    check(not errors, "writer: %r" % errors)
    check(len(seen) >= 5, "only %d reads raced the writer" % len(seen))
    check(all(c % 100 == 0 for c in seen), "a read saw part of an import: %r" % seen)
    eq(seen, sorted(seen), "reads went back in time")
    eq(count(db, "c"), files * 100)


# ---- backup / restore -----------------------------------------------------------------------

@test
def test_backup_while_importing(tmp):
    db = tmp("db")
    hk_ok(db, "create", "c", "--dim", DIM)
    hk_ok(db, "create", "other", "--dim", "2")
    hk_ok(db, "import", "other", "-", "--format", "jsonl", input='{"id": 5, "vector": [1, 2]}\n')
    n, batch = 12000, 50
    ids, x, pays = points(n, 52)
    data = "".join(jsonl_line(i, x[i], pays[i]) + "\n" for i in ids).encode()
    p = spawn(["import", "c", "-", "--format", "jsonl", "--batch", batch, "--quiet"], db=db,
              nosync=False, stdin=subprocess.PIPE)
    fed = threading.Event()

    def feed():
        try:
            for i in range(0, len(data), 64 << 10):
                p.stdin.write(data[i:i + (64 << 10)])
                p.stdin.flush()
                time.sleep(0.03 * SLOW)
            p.stdin.close()
        except BrokenPipeError:
            pass
        fed.set()

    t = threading.Thread(target=feed)
    backups = []
    try:
        t.start()
        while count(db, "c") == 0:
            alive(p, "the writer")
            time.sleep(0.01)
        while not fed.is_set() and len(backups) < 4:
            dest = tmp("bk%d" % len(backups))
            r = hk_ok(db, "backup", dest, nosync=False)
            eq(r.out.strip(), "backed up '%s' to '%s'" % (db, dest))
            backups.append((dest, fed.is_set()))
        t.join()
        p.stdin = None  # closed by the feeder
        out, err = p.communicate(timeout=120 * SLOW)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    eq(p.returncode, 0, "writer: %s" % err.decode())
    check(backups, "no backup ran while the writer imported")
    check(any(not done for _, done in backups), "no backup overlapped the import")
    mid = 0
    for k, (dest, _) in enumerate(backups):
        target = tmp("restored%d" % k)
        r = hk_ok(target, "restore", dest)
        eq(r.out.strip(), "restored '%s' into '%s'" % (dest, target))
        eq(hk_ok(target, "list").out, "c\nother\n")
        c = count(target, "c")
        check(c % batch == 0 and 0 < c <= n, "backup %d holds %d points: not a batch prefix"
              % (k, c))
        mid += c < n
        print("  backup %d: %d of %d points" % (k, c, n))
        verify(target, "c", ids[:c], x[:c], pays[:c], "backup %d" % k)
        eq(count(target, "other"), 1)
    check(mid > 0, "every backup saw the finished import")
    verify(db, "c", ids, x, pays, "source after the import")


@test
def test_restore_refuses_non_empty_or_damaged(tmp):
    db, ids, x, pays = snapshot_collection(tmp)
    hk_ok(db, "backup", tmp("bk"))
    # Into a non-empty directory: refused, nothing touched.
    os.makedirs(tmp("busy"))
    write_file(tmp("busy", "keep.txt"), b"mine")
    fails(run(["restore", tmp("bk")], db=tmp("busy")), 1, r"exists and is not empty")
    eq(os.listdir(tmp("busy")), ["keep.txt"])
    eq(file_bytes(tmp("busy", "keep.txt")), b"mine")
    # Into an existing database: refused too.
    fails(run(["restore", tmp("bk")], db=db), 1, r"exists and is not empty")
    verify(db, "c", ids, x, pays, "the database after a refused restore")
    # Backup into a non-empty directory: refused.
    fails(run(["backup", tmp("busy")], db=db), 1, r"exists and is not empty")
    eq(os.listdir(tmp("busy")), ["keep.txt"])
    fails(run(["restore", tmp("nonexistent")], db=tmp("r2")), 1, r"does not exist")
    # Into an empty existing directory: fine.
    os.makedirs(tmp("r3"))
    hk_ok(tmp("r3"), "restore", tmp("bk"))
    verify(tmp("r3"), "c", ids, x, pays, "restored")
    eq(info(tmp("r3"), "c")["payload_indexes"], [{"key": "tag", "type": "keyword"}])
    eq(hk_ok(tmp("r3"), "search", "c", "--vector", ",".join(["0"] * DIM), "--k", "3", "--json",
             "--filter", json.dumps({"must": [{"key": "tag", "match": {"value": "t1"}}]})).out
       .count('"id"'), len([p for p in pays if p["tag"] == "t1"][:3]))


@test
def test_restore_of_damaged_backup_leaves_nothing(tmp):
    # restore's help: "Verifies every checksum of the backup in SRC and copies it". A
    # damaged backup must be refused before anything is written, so DEST stays empty
    # and a retry from a good backup works.
    db = tmp("db")
    make_collection(db, "a", np.ones((3, 2), dtype=np.float32))
    make_collection(db, "b", np.ones((3, 2), dtype=np.float32))
    hk_ok(db, "backup", tmp("bk"))
    snap, _ = coll_files(tmp("bk"), "b")
    good = file_bytes(snap)
    flip(snap, len(good) // 2, 3)
    fails(run(["restore", tmp("bk")], db=tmp("r1")), 1, r"b/snapshot\.hks")
    check(not os.path.exists(tmp("r1")) or os.listdir(tmp("r1")) == [],
          "a refused restore left files: %r" % (sorted(os.walk(tmp("r1"))),))


if __name__ == "__main__":
    main()
