"""test_crash.py — SIGKILL a writer at random moments, with fsync on (no HEKTOR_NOSYNC).

Driver: `hektor import` runs again and again, each time on a file of 200 new points (its
own id range), which the import writes as one batch = one log record. A file counts as
acknowledged only when its import exited 0. At a random moment into an import (0 to
~the time an import takes, at most 150 ms: so kills land in the open, the write, the
fsync and the checkpoint) the driver SIGKILLs it. After every kill a fresh process must
show every acknowledged point with its exact vector (bitwise float32) and payload, and
the killed file entirely or not at all. The streaming variant feeds one long
`import -` through a pipe and checks that what survives a kill is a prefix of whole
batches."""
import os
import random
import signal
import subprocess
import sys
import threading
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hk_test import (  # noqa: E402
    SLOW, check, eq, hk_ok, info, jsonl_line, main, same_f32, scroll_all, spawn, test)

DIM = 16
FILE_POINTS = 200
MIN_KILLS = 20
BUDGET = 70.0  # seconds for the kill loop (times SLOW under sanitizers, capped below)


def batch_points(k, seed):
    rng = np.random.default_rng(seed * 1000 + k)
    ids = list(range(k * FILE_POINTS, (k + 1) * FILE_POINTS))
    x = rng.standard_normal((FILE_POINTS, DIM)).astype(np.float32)
    x[0, 0] = np.float32(-0.0)
    x[1, :] = np.float32(1e-40)  # subnormals survive too
    pays = [{"file": k, "i": j, "w": float(x[j, 1]), "s": "p%d-%d" % (k, j),
             "nest": {"a": [j, None, True]}} for j in range(FILE_POINTS)]
    return ids, x, pays


def check_state(db, name, durable, gone, killed, what):
    """durable: {id: (vector, payload)} that must be present. gone: ids that must be absent.
    killed: (ids, x, pays) of the interrupted file: all present or none. Returns whether
    the killed file is present."""
    got = scroll_all(db, name)
    for i, (vec, pay) in durable.items():
        rec = got.get(i)
        check(rec is not None, "%s: acknowledged id %d is missing" % (what, i))
        check(same_f32(rec["vector"], vec), "%s: vector of %d changed" % (what, i))
        eq(rec["payload"], pay, "%s: payload of %d" % (what, i))
    back = [i for i in gone if i in got]
    check(not back, "%s: ids of a lost batch reappeared: %r" % (what, back[:5]))
    present = False
    if killed:
        ids, x, pays = killed
        have = [i for i in ids if i in got]
        check(len(have) in (0, len(ids)),
              "%s: %d of the killed file's %d points are present" % (what, len(have), len(ids)))
        present = bool(have)
        for k, i in enumerate(have):
            check(same_f32(got[i]["vector"], x[k]), "%s: killed batch vector %d" % (what, i))
            eq(got[i]["payload"], pays[k], "%s: killed batch payload %d" % (what, i))
    extra = set(got) - set(durable) - (set(killed[0]) if killed else set())
    check(not extra, "%s: unexpected ids %r" % (what, sorted(extra)[:5]))
    return present


@test
def test_kill_import_at_random_moments(tmp):
    db = tmp("db")
    seed = int(os.environ.get("HK_CRASH_SEED", "0")) or random.randrange(1, 10 ** 6)
    print("  seed %d (HK_CRASH_SEED=%d reproduces the schedule)" % (seed, seed))
    rnd = random.Random(seed)
    hk_ok(db, "create", "c", "--dim", DIM, nosync=False)
    durable, gone = {}, set()
    durations = []
    kills = acks = k = 0
    budget = min(BUDGET * SLOW, 200.0)
    t_end = time.time() + budget
    while kills < 2 * MIN_KILLS and time.time() < t_end:
        ids, x, pays = batch_points(k, seed)
        path = tmp("f%d.jsonl" % k)
        with open(path, "w") as f:
            f.write("".join(jsonl_line(ids[j], x[j], pays[j]) + "\n" for j in range(len(ids))))
        typical = sorted(durations)[len(durations) // 2] if durations else 0.15
        delay = rnd.uniform(0, min(0.150, 1.3 * typical))
        t0 = time.time()
        p = spawn(["import", "c", path, "--quiet"], db=db, nosync=False)
        try:
            p.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            pass
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            out, err = p.communicate()
            kills += 1
            present = check_state(db, "c", durable, gone, (ids, x, pays),
                                  "after kill %d (file %d, %.0f ms in)" % (kills, k, delay * 1e3))
            for j, i in enumerate(ids):
                if present:
                    durable[i] = (x[j], pays[j])
                else:
                    gone.add(i)
        else:
            out, err = p.communicate()
            durations.append(time.time() - t0)
            eq(p.returncode, 0, "import of file %d: %s" % (k, err.decode()))
            eq(out.decode().split()[:2], ["imported", str(FILE_POINTS)])
            acks += 1
            for j, i in enumerate(ids):
                durable[i] = (x[j], pays[j])
        k += 1
    print("  %d imports: %d acknowledged, %d killed; %d points durable, %d lost" %
          (k, acks, kills, len(durable), len(gone)))
    check(kills >= MIN_KILLS, "only %d kills landed inside an import in %.0f s" % (kills, budget))
    # A writer opens what the kills left, checkpoints, and everything is still there.
    hk_ok(db, "checkpoint", "c", nosync=False)
    check_state(db, "c", durable, gone, None, "after the final checkpoint")
    eq(info(db, "c")["count"], len(durable))


@test
def test_kill_streaming_import(tmp):
    db = tmp("db")
    seed = int(os.environ.get("HK_CRASH_SEED", "0")) or random.randrange(1, 10 ** 6)
    rnd = random.Random(seed)
    print("  seed %d" % seed)
    hk_ok(db, "create", "s", "--dim", DIM, nosync=False)
    batch = 50
    n = 6000
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, DIM)).astype(np.float32)
    pays = [{"i": i} for i in range(n)]
    data = "".join(jsonl_line(i, x[i], pays[i]) + "\n" for i in range(n)).encode()
    start = 0
    for cycle in range(6):
        # Each cycle streams the points from `start` on; earlier ones are durable.
        p = spawn(["import", "s", "-", "--format", "jsonl", "--batch", batch, "--quiet"], db=db,
                  nosync=False, stdin=subprocess.PIPE)
        offset = len("".join(jsonl_line(i, x[i], pays[i]) + "\n" for i in range(start)).encode())

        def feed():
            try:
                for i in range(offset, len(data), 32 << 10):
                    p.stdin.write(data[i:i + (32 << 10)])
                    p.stdin.flush()
                    time.sleep(0.005)
                p.stdin.close()
            except (BrokenPipeError, ValueError):
                pass

        t = threading.Thread(target=feed)
        t.start()
        time.sleep(rnd.uniform(0.05, 0.4) * SLOW)
        p.send_signal(signal.SIGKILL)
        p.wait()
        t.join()
        p.stdin = None
        p.communicate()
        got = scroll_all(db, "s")
        c = len(got)
        eq(sorted(got), list(range(c)), "cycle %d: the survivors are a prefix" % cycle)
        check(c >= start, "cycle %d: durable points were lost (%d < %d)" % (cycle, c, start))
        check((c - start) % batch == 0 or c == n,
              "cycle %d: %d new points is not a whole number of batches" % (cycle, c - start))
        for i in range(start, c):
            check(same_f32(got[i]["vector"], x[i]), "cycle %d: vector %d" % (cycle, i))
            eq(got[i]["payload"], pays[i])
        start = c
        if start == n:
            break


if __name__ == "__main__":
    main()
