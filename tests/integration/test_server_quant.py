"""test_server_quant.py — quantization through `hektor serve`. Qdrant's quantization_config: every
accepted form on PUT /collections/{name} (top level and inside 'vectors') and PATCH, the bad
forms (400 naming the member, nothing created), GET /collections/{name} showing it in
Qdrant's shape, the background "quantize" job once the collection holds
--quantize-min-points points, the codes in the statistics, recall@10 of searches on the
codes against exact numpy ground truth, the request and codes across a restart, the job
started at server start, and "Disabled" dropping the codes. Codebooks over HTTP: the
description, the arrays and the HKCB bytes, a byte-for-byte round trip through DELETE and PUT
(binary and JSON), truncated and corrupt uploads refused with nothing stored, 404, 409 and
replace, and the read-only key. "method": "auto" in POST /hektor/.../quantize: the same
choice as `hektor quantize --auto`, recall asserted, bad requests and an unreachable target."""
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hk_test import SLOW, check, eq, main, test  # noqa: E402
from hk_server import Server  # noqa: E402

MIN = 1000  # --quantize-min-points for these tests


def server(tmp, db):
    return Server(tmp, db, "--quantize-min-points", str(MIN))


def run_with(tmp, fn, db=None):
    s = server(tmp, db or tmp("db"))
    try:
        fn(s)
    except BaseException:
        s.kill()
        raise
    eq(s.stop(), 0, "serve exit status after SIGTERM")


def qconf(s, name):
    return s.ok("GET", "/collections/" + name)["config"]["quantization_config"]


def stats(s, name):
    return s.ok("GET", "/hektor/collections/%s/stats" % name)


def quant_jobs(s, name):
    return [j for j in s.ok("GET", "/hektor/jobs") if j["kind"] == "quantize" and j["collection"] == name]


def wait_jobs(s, name, n):
    """Waits until name has n quantize jobs, all finished; returns them."""
    deadline = time.time() + 120 * SLOW
    while time.time() < deadline:
        js = quant_jobs(s, name)
        if len(js) >= n and all(j["state"] not in ("queued", "running") for j in js):
            return js
        time.sleep(0.05)
    raise AssertionError("quantize jobs of %s: %r" % (name, quant_jobs(s, name)))


def clustered(n, dim, nq, seed=3):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(50, dim)) * 3
    base = (centers[rng.integers(0, 50, n)] + rng.normal(size=(n, dim))).astype(np.float32)
    queries = (centers[rng.integers(0, 50, nq)] + rng.normal(size=(nq, dim))).astype(np.float32)
    return base, queries


def upsert(s, name, base, lo, hi):
    r = s.ok("PUT", "/collections/%s/points?wait=true" % name,
             {"batch": {"ids": list(range(lo, hi)), "vectors": base[lo:hi].tolist()}})
    eq(r["status"], "completed")


def recall(s, name, base, queries, k=10, params=None):
    d = ((queries[:, None, :].astype(np.float64) - base[None, :, :]) ** 2).sum(-1)
    truth = np.argsort(d, axis=1, kind="stable")[:, :k]
    extra = {"params": params} if params else {}
    res = s.ok("POST", "/collections/%s/points/search/batch" % name,
               {"searches": [dict({"vector": q.tolist(), "limit": k}, **extra) for q in queries]})
    hits = sum(len(set(t.tolist()) & {r["id"] for r in rr}) for t, rr in zip(truth, res))
    return hits / (len(queries) * k)


@test
def test_accepted_and_refused_forms(tmp):
    def body(s):
        v = {"size": 64, "distance": "Euclid"}
        good = [
            ("a", {"vectors": v, "quantization_config": {"scalar": {"type": "int8", "quantile": 0.99, "always_ram": True}}},
             {"scalar": {"type": "int8", "quantile": 0.99, "always_ram": True}}),
            ("b", {"vectors": dict(v, quantization_config={"scalar": {"type": "int8"}})},
             {"scalar": {"type": "int8", "quantile": None, "always_ram": True}}),
            ("c", {"vectors": v, "quantization_config": {"product": {"compression": "x16", "always_ram": False}}},
             {"product": {"compression": "x16", "always_ram": True}}),
        ]
        for x in ("x4", "x8", "x32", "x64"):
            good.append(("p" + x, {"vectors": dict(v, quantization_config={"product": {"compression": x}})},
                         {"product": {"compression": x, "always_ram": True}}))
        for name, b, want in good:
            eq(s.ok("PUT", "/collections/" + name, b), True)
            eq(qconf(s, name), want, name)
            r = stats(s, name)["quantization_request"]
            eq(r["met"], False, name)
            eq(r["min_points"], MIN)
        eq(stats(s, "c")["quantization_request"]["pq_m"], 16)  # 4 * 64 / 16 bytes per point
        eq(stats(s, "px64")["quantization_request"]["pq_m"], 4)
        eq(stats(s, "a")["quantization_request"]["quantile"], 0.99)
        eq(s.ok("PUT", "/collections/plain", {"vectors": v}), True)
        eq(qconf(s, "plain"), None)
        eq(stats(s, "plain")["quantization_request"], None)
        bad = [
            ({"quantization_config": {"binary": {"always_ram": True}}}, ["quantization_config.binary", "not supported"]),
            ({"quantization_config": {"scalar": {"type": "int4"}}}, ["quantization_config.scalar.type", "int8"]),
            ({"quantization_config": {"scalar": {"type": "int8", "quantile": 0.2}}}, ["quantization_config.scalar.quantile"]),
            ({"quantization_config": {"scalar": {"type": "int8", "quantil": 0.9}}}, ["quantil", "quantization_config.scalar"]),
            ({"quantization_config": {"scalar": {"type": "int8", "always_ram": 3}}}, ["always_ram"]),
            ({"quantization_config": {"product": {"compression": "x3"}}}, ["quantization_config.product.compression"]),
            ({"quantization_config": {"product": {}}}, ["compression"]),
            ({"quantization_config": {"scalar": {"type": "int8"}, "product": {"compression": "x4"}}}, ["quantization_config", "one of"]),
            ({"quantization_config": "Disabled"}, ["quantization_config"]),
            ({"quantization_config": {"vector": {}}}, ["vector"]),
        ]
        for extra, words in bad:
            b = dict({"vectors": v}, **extra)
            s.bad("PUT", "/collections/bad", b, 400, words)
            inner = {"vectors": dict(v, quantization_config=extra["quantization_config"])}
            s.bad("PUT", "/collections/bad", inner, 400, [w.replace("quantization_config", "vectors.quantization_config") if w.startswith("quantization_config") else w for w in words])
        # the dimension must split: 4 * 6 / 64 bytes is not whole, 4 * 6 / 16 = 1.5 neither
        s.bad("PUT", "/collections/bad", {"vectors": {"size": 6, "distance": "Dot"},
                                          "quantization_config": {"product": {"compression": "x64"}}},
              400, ["x64", "4 * 6 / 64", "whole number"])
        s.bad("PUT", "/collections/bad", {"vectors": {"size": 6, "distance": "Dot"},
                                          "quantization_config": {"product": {"compression": "x16"}}},
              400, ["x16", "whole number"])
        s.bad("GET", "/collections/bad", status=404, words=["bad"])
    run_with(tmp, body)


@test
def test_upsert_past_threshold_restart_patch(tmp):
    db = tmp("db")
    n, dim, nq = 3000, 32, 60
    base, queries = clustered(n, dim, nq)
    # Euclid with no graph: searches scan the codes and re-rank, so recall measures them.
    eq_body = {"vectors": {"size": dim, "distance": "Euclid"}, "hnsw_config": {"m": 0},
               "quantization_config": {"scalar": {"type": "int8", "quantile": 0.99}}}

    def first(s):
        eq(s.ok("PUT", "/collections/q", eq_body), True)
        upsert(s, "q", base, 0, MIN - 1)
        time.sleep(0.2)
        eq(quant_jobs(s, "q"), [], "no job below the threshold")
        eq(stats(s, "q")["quantization"], None)
        upsert(s, "q", base, MIN - 1, MIN + 500)
        js = wait_jobs(s, "q", 1)
        eq(js[0]["state"], "done", "job: %r" % js[0])
        st = stats(s, "q")
        eq(st["quantization"]["method"], "sq8")
        eq(st["quantization"]["code_bytes"], dim)
        check(st["quantization"]["bytes_codes"] >= (MIN + 500) * dim, "codes for every point")
        eq(st["quantization_request"]["met"], True)
        # points written after quantization get codes too
        upsert(s, "q", base, MIN + 500, n)
        st = stats(s, "q")
        check(st["quantization"]["bytes_codes"] >= n * dim, "codes for later points: %r" % st["quantization"])
        eq(len(wait_jobs(s, "q", 1)), 1, "no second job once the codes match")
        r = recall(s, "q", base, queries)
        print("recall@10 on sq8 codes (re-ranked), Qdrant scalar int8 quantile 0.99: %.4f" % r)
        check(r >= 0.9, "recall@10 %.4f < 0.9" % r)
        # a collection that asked for codes while the server was down gets its job at start
        eq(s.ok("PUT", "/collections/later", {"vectors": {"size": dim, "distance": "Euclid"}}), True)
        upsert(s, "later", base, 0, MIN + 200)
    run_with(tmp, first, db)

    from hk_test import hk_ok
    # "later" asks for codes while a server with a higher threshold runs; the next server
    # (with the lower one) starts the job by itself.
    s = Server(tmp, db, "--quantize-min-points", str(10 * MIN))
    try:
        eq(s.ok("PATCH", "/collections/later", {"quantization_config": {"product": {"compression": "x16"}}}), True)
        time.sleep(0.2)
        eq(quant_jobs(s, "later"), [], "below this server's threshold: no job")
    except BaseException:
        s.kill()
        raise
    eq(s.stop(), 0)
    hk_ok(db, "verify", "q")

    def second(s):
        eq(qconf(s, "q"), {"scalar": {"type": "int8", "quantile": 0.99, "always_ram": True}})
        st = stats(s, "q")
        eq(st["quantization"]["method"], "sq8", "codes after the restart")
        check(st["quantization"]["bytes_codes"] >= n * dim, "every point's codes after the restart")
        r = recall(s, "q", base, queries)
        check(r >= 0.9, "recall@10 after restart %.4f < 0.9" % r)
        # the job at server start for "later" (product x16 = 8 bytes per point at dim 32)
        js = wait_jobs(s, "later", 1)
        eq(js[0]["state"], "done", "job: %r" % js[0])
        eq(stats(s, "later")["quantization"]["method"], "pq")
        eq(stats(s, "later")["quantization"]["code_bytes"], 8)
        eq(qconf(s, "later"), {"product": {"compression": "x16", "always_ram": True}})
        r = recall(s, "later", base[:MIN + 200], queries)
        print("recall@10 on pq codes x16 (HNSW, re-ranked): %.4f" % r)
        check(r >= 0.9, "recall@10 %.4f < 0.9" % r)
        # Qdrant's search params.quantization: rescore false takes the codes' top 10 alone,
        # oversampling re-ranks more of them, ignore searches without the codes
        sub = base[:MIN + 200]
        r_codes = recall(s, "later", sub, queries, params={"quantization": {"rescore": False}})
        r_over = recall(s, "later", sub, queries, params={"quantization": {"rescore": True, "oversampling": 4.0}})
        r_exact = recall(s, "later", sub, queries, params={"quantization": {"ignore": True}})
        print("recall@10 on pq x16 codes: no rescore %.4f, oversampling 4 %.4f, ignore %.4f" % (
            r_codes, r_over, r_exact))
        check(r_codes < r_over, "re-ranking more candidates must help: %.4f vs %.4f" % (r_codes, r_over))
        check(r_over >= 0.9, "recall@10 with oversampling 4: %.4f" % r_over)
        eq(r_exact, 1.0, "ignore: exact float search")
        # the largest limit with the largest oversampling: the re-rank depth is held to the
        # collection's size, so the server's peak memory hardly moves
        def peak_kb():
            with open("/proc/%d/status" % s.proc.pid) as f:
                return int([ln for ln in f if ln.startswith("VmHWM:")][0].split()[1])
        before = peak_kb()
        for coll, npts in (("later", MIN + 200), ("q", n)):  # HNSW and flat, both on codes
            big = s.ok("POST", "/collections/%s/points/search" % coll,
                       {"vector": queries[0].tolist(), "limit": 100000,
                        "params": {"quantization": {"rescore": True, "oversampling": 1000}}})
            eq(len(big), npts, "every point of %s, ranked" % coll)
        grew = peak_kb() - before
        print("peak memory growth of a limit 100000 x oversampling 1000 search: %d kB" % grew)
        check(grew < 100 * 1024, "peak memory grew by %d kB" % grew)
        for bad, words in [({"oversampling": 0.5}, ["oversampling"]), ({"rescore": 1}, ["rescore"]),
                           ({"frob": True}, ["frob", "params.quantization"])]:
            s.bad("POST", "/collections/later/points/search",
                  {"vector": [0.0] * dim, "params": {"quantization": bad}}, 400, words)
        qr = s.ok("POST", "/collections/later/points/query",
                  {"query": queries[0].tolist(), "limit": 10, "params": {"quantization": {"ignore": True}}})
        d0 = ((sub.astype(np.float64) - queries[0]) ** 2).sum(-1)
        eq([p["id"] for p in qr["points"]], np.argsort(d0, kind="stable")[:10].tolist())
        # PATCH on a collection with enough points: the job starts at once
        eq(s.ok("PATCH", "/collections/q", {"vectors": {"": {"quantization_config": {"product": {"compression": "x8"}}}}}), True)
        js = wait_jobs(s, "q", 1)
        eq(js[-1]["state"], "done")
        eq(stats(s, "q")["quantization"]["method"], "pq")
        eq(stats(s, "q")["quantization"]["code_bytes"], 16)
        eq(qconf(s, "q"), {"product": {"compression": "x8", "always_ram": True}})
        # bad PATCHes change nothing
        s.bad("PATCH", "/collections/q", {"quantization_config": {"binary": {}}}, 400, ["binary"])
        s.bad("PATCH", "/collections/q", {"optimizers_config": {"indexing_threshold": 1}}, 400, ["optimizers_config"])
        s.bad("PATCH", "/collections/q", {"hnsw_config": {"m": 8}}, 400, ["hnsw_config"])
        s.bad("PATCH", "/collections/q", {"vectors": {"img": {}}}, 400, ["img"])
        s.bad("PATCH", "/collections/q", {"frob": 1}, 400, ["frob"])
        s.bad("PATCH", "/collections/nope", {"quantization_config": "Disabled"}, 404, ["nope"])
        eq(qconf(s, "q"), {"product": {"compression": "x8", "always_ram": True}})
        # Disabled: the request and the codes go
        eq(s.ok("PATCH", "/collections/q", {"quantization_config": "Disabled"}), True)
        eq(qconf(s, "q"), None)
        eq(stats(s, "q")["quantization"], None)
        eq(stats(s, "q")["quantization_request"], None)
        eq(s.ok("PATCH", "/collections/q", {}), True)
        njobs = len(quant_jobs(s, "q"))
        upsert(s, "q", base, 0, 10)
        time.sleep(0.2)
        eq(len(quant_jobs(s, "q")), njobs, "no job without a request")
    run_with(tmp, second, db)

    def third(s):
        eq(qconf(s, "q"), None, "Disabled is durable")
        eq(stats(s, "q")["quantization"], None)
        eq(stats(s, "later")["quantization"]["method"], "pq")
    run_with(tmp, third, db)
    # the command line shows the request too
    import json as _json
    info = _json.loads(hk_ok(db, "info", "later", "--json").out)
    eq(info["quantization_request"], {"method": "pq", "pq_m": 8, "pq_bits": 8, "quantile": None})
    check("requested     pq (m 8, 8 bits)" in hk_ok(db, "info", "later").out, "info shows the request")
    check("quantization_request" not in _json.loads(hk_ok(db, "info", "q", "--json").out), "none for q")


def wait_state(s, job_id, states):
    deadline = time.time() + 120 * SLOW
    while time.time() < deadline:
        j = s.ok("GET", "/hektor/jobs/" + job_id)["job"]
        if j["state"] in states:
            return j
        time.sleep(0.005)
    raise AssertionError("job %s never reached %r" % (job_id, states))


@test
def test_disabled_during_training(tmp):
    """PATCH "Disabled" while the requested job trains: the job installs nothing (it is
    cancelled, or its request generation is stale at commit), the codes stay absent and the
    request cleared, also after a restart. A PATCH to another config during training ends
    with the new config's codes, not the old one's."""
    db = tmp("db")
    n, dim = 12000, 128
    base, _ = clustered(n, dim, 1, seed=7)
    x4 = {"product": {"compression": "x4"}}  # 128 sub-quantizers of 256 centroids: seconds

    def body(s):
        eq(s.ok("PUT", "/collections/d", {"vectors": {"size": dim, "distance": "Euclid"},
                                          "hnsw_config": {"m": 0}}), True)
        for lo in range(0, n, 4000):
            upsert(s, "d", base, lo, lo + 4000)
        eq(s.ok("PATCH", "/collections/d", {"quantization_config": x4}), True)
        js = quant_jobs(s, "d")
        eq(len(js), 1, "the PATCH queued a job: %r" % js)
        running = wait_state(s, js[0]["id"], ("running", "done", "failed", "cancelled"))
        caught = running["state"] == "running"
        eq(s.ok("PATCH", "/collections/d", {"quantization_config": "Disabled"}), True)
        end = wait_jobs(s, "d", 1)[0]
        print("Disabled %s training; job: %s %r" % ("during" if caught else "after", end["state"],
                                                    end["message"]))
        check(caught, "the job should still have been training when the PATCH came: %r" % end)
        eq(end["state"], "cancelled", "job: %r" % end)
        check("disabled" in end["message"] or "cleared" in end["message"], "message: %r" % end)
        eq(stats(s, "d")["quantization"], None, "no codes after Disabled")
        eq(stats(s, "d")["quantization_request"], None)
        upsert(s, "d", base, 0, 10)
        time.sleep(0.2)
        eq(len(quant_jobs(s, "d")), 1, "no job without a request")
        # a change of config during training: the old one's codes never land
        eq(s.ok("PATCH", "/collections/d", {"quantization_config": x4}), True)
        first = [j for j in quant_jobs(s, "d") if j["state"] in ("queued", "running")]
        eq(len(first), 1)
        wait_state(s, first[0]["id"], ("running",))
        sq = {"scalar": {"type": "int8", "quantile": 0.99}}
        eq(s.ok("PATCH", "/collections/d", {"quantization_config": sq}), True)
        js = wait_jobs(s, "d", 3)
        old = [j for j in js if j["id"] == first[0]["id"]][0]
        eq(old["state"], "cancelled", "the job for the old config: %r" % old)
        eq(js[-1]["state"], "done", "the job for the new config: %r" % js[-1])
        st = stats(s, "d")
        eq(st["quantization"]["method"], "sq8")
        eq(st["quantization_request"]["met"], True)
        eq(qconf(s, "d"), {"scalar": {"type": "int8", "quantile": 0.99, "always_ram": True}})
        eq(s.ok("PATCH", "/collections/d", {"quantization_config": "Disabled"}), True)
    run_with(tmp, body, db)

    def after(s):
        eq(stats(s, "d")["quantization"], None)
        eq(qconf(s, "d"), None)
        time.sleep(0.2)
        eq(quant_jobs(s, "d"), [], "no job at start")
    run_with(tmp, after, db)


@test
def test_explicit_quantize_clears_request(tmp):
    """DELETE or POST /hektor/collections/{name}/quantize by hand: the collection's request is
    cleared, so neither the next upsert nor a restart trains the requested codes again."""
    db = tmp("db")
    dim = 32
    base, _ = clustered(MIN + 400, dim, 1, seed=11)
    x8 = {"product": {"compression": "x8"}}

    def body(s):
        eq(s.ok("PUT", "/collections/e", {"vectors": {"size": dim, "distance": "Euclid"},
                                          "quantization_config": x8}), True)
        upsert(s, "e", base, 0, MIN + 100)
        eq(wait_jobs(s, "e", 1)[0]["state"], "done")
        eq(stats(s, "e")["quantization"]["method"], "pq")
        # DELETE: codes and request go; an upsert queues nothing
        eq(s.ok("DELETE", "/hektor/collections/e/quantize"), True)
        eq(stats(s, "e")["quantization"], None)
        eq(stats(s, "e")["quantization_request"], None)
        eq(qconf(s, "e"), None)
        upsert(s, "e", base, MIN + 100, MIN + 200)
        time.sleep(0.2)
        eq(len(quant_jobs(s, "e")), 1, "no job after DELETE: %r" % quant_jobs(s, "e"))
        s.bad("DELETE", "/hektor/collections/e/quantize", None, 404, ["no codes"])
        # a request again, then codes by hand with another method: the hand-made ones stay
        eq(s.ok("PATCH", "/collections/e", {"quantization_config": x8}), True)
        eq(wait_jobs(s, "e", 2)[-1]["state"], "done")
        j = s.ok("POST", "/hektor/collections/e/quantize?wait=true", {"method": "sq8"})["job"]
        eq(j["state"], "done", "job: %r" % j)
        eq(stats(s, "e")["quantization"]["method"], "sq8")
        eq(stats(s, "e")["quantization_request"], None)
        eq(qconf(s, "e"), None)
        upsert(s, "e", base, MIN + 200, MIN + 300)
        time.sleep(0.2)
        eq(len(quant_jobs(s, "e")), 3, "no requested job after POST quantize: %r" % quant_jobs(s, "e"))
        eq(stats(s, "e")["quantization"]["method"], "sq8")
        # DELETE with only a request (no codes yet) clears it
        eq(s.ok("PUT", "/collections/r", {"vectors": {"size": dim, "distance": "Euclid"},
                                          "quantization_config": x8}), True)
        eq(s.ok("DELETE", "/hektor/collections/r/quantize"), True)
        eq(qconf(s, "r"), None)
        upsert(s, "r", base, 0, MIN + 10)
        time.sleep(0.2)
        eq(quant_jobs(s, "r"), [])
    run_with(tmp, body, db)

    def after(s):
        time.sleep(0.3)
        eq(quant_jobs(s, "e"), [], "no job at start")
        eq(stats(s, "e")["quantization"]["method"], "sq8")
        # requests again, for the command line below
        eq(s.ok("PATCH", "/collections/e", {"quantization_config": x8}), True)
        eq(wait_jobs(s, "e", 1)[0]["state"], "done")
        eq(stats(s, "e")["quantization"]["method"], "pq")
        eq(s.ok("PUT", "/collections/r2", {"vectors": {"size": dim, "distance": "Euclid"},
                                           "quantization_config": x8}), True)
    run_with(tmp, after, db)

    # `hektor quantize` by hand clears the request too (with --drop, a request alone goes)
    from hk_test import hk_ok
    out = hk_ok(db, "quantize", "e", "--method", "sq8").out
    check("cleared the quantization requested for 'e'" in out, "quantize output: %r" % out)
    out = hk_ok(db, "quantize", "r2", "--drop").out
    check("cleared the quantization requested for 'r2'" in out and "dropped the codes" not in out,
          "quantize --drop output: %r" % out)

    def last(s):
        time.sleep(0.3)
        eq(quant_jobs(s, "e"), [], "no job at start after the command line's quantize")
        eq(qconf(s, "e"), None)
        eq(stats(s, "e")["quantization"]["method"], "sq8")
        eq(qconf(s, "r2"), None)
    run_with(tmp, last, db)


@test
def test_quantile_change_not_met(tmp):
    """A quantile-only PATCH whose job does not run (this server's threshold is above the
    collection) is not reported as met by the old codes of the same method and size; the
    next server (lower threshold) trains it at start, and it is met afterwards and after a
    restart."""
    db = tmp("db")
    dim = 16
    base, _ = clustered(MIN + 100, dim, 1, seed=13)

    def body(s):
        eq(s.ok("PUT", "/collections/u", {"vectors": {"size": dim, "distance": "Euclid"},
                 "quantization_config": {"scalar": {"type": "int8", "quantile": 0.99}}}), True)
        upsert(s, "u", base, 0, MIN + 100)
        eq(wait_jobs(s, "u", 1)[0]["state"], "done")
        eq(stats(s, "u")["quantization_request"]["met"], True)
    run_with(tmp, body, db)
    s = Server(tmp, db, "--quantize-min-points", str(10 * MIN))
    try:
        eq(stats(s, "u")["quantization_request"]["met"], True, "met across a restart")
        eq(s.ok("PATCH", "/collections/u",
                {"quantization_config": {"scalar": {"type": "int8", "quantile": 0.9}}}), True)
        time.sleep(0.2)
        eq(quant_jobs(s, "u"), [], "below this server's threshold")
        st = stats(s, "u")
        eq(st["quantization"]["method"], "sq8")
        eq(st["quantization_request"]["quantile"], 0.9)
        eq(st["quantization_request"]["met"], False, "codes made for quantile 0.99")
    except BaseException:
        s.kill()
        raise
    eq(s.stop(), 0)

    def again(s):
        # (not met at start, so the start job trains it; it may be done before a first look)
        js = wait_jobs(s, "u", 1)
        eq(js[0]["state"], "done", "the job at start: %r" % js[0])
        eq(stats(s, "u")["quantization_request"]["met"], True)
    run_with(tmp, again, db)

    def third(s):
        eq(stats(s, "u")["quantization_request"]["met"], True)
        time.sleep(0.2)
        eq(quant_jobs(s, "u"), [])
    run_with(tmp, third, db)


@test
def test_failed_request_not_retried(tmp):
    """A requested training that fails (here: the collection was emptied while its job waited
    behind a long one) is not queued again by every upsert: the statistics say failed, and
    only a PATCH (a new request) tries again."""
    n, dim = 12000, 128
    base, _ = clustered(n, dim, 1, seed=17)
    small, _ = clustered(MIN + 50, 16, 1, seed=19)

    def body(s):
        eq(s.ok("PUT", "/collections/big", {"vectors": {"size": dim, "distance": "Euclid"},
                                            "hnsw_config": {"m": 0}}), True)
        for lo in range(0, n, 4000):
            upsert(s, "big", base, lo, lo + 4000)
        sq = {"scalar": {"type": "int8", "quantile": 0.99}}
        eq(s.ok("PUT", "/collections/f", {"vectors": {"size": 16, "distance": "Euclid"},
                                          "quantization_config": sq}), True)
        long_job = s.ok("POST", "/hektor/collections/big/quantize", {"method": "pq", "pq_m": 128})["job"]
        wait_state(s, long_job["id"], ("running",))
        upsert(s, "f", small, 0, MIN + 50)
        js = quant_jobs(s, "f")
        eq(len(js), 1)
        eq(js[0]["state"], "queued", "behind the long job: %r" % js[0])
        r = s.ok("POST", "/collections/f/points/delete?wait=true", {"points": list(range(MIN + 50))})
        eq(r["status"], "completed")
        end = wait_jobs(s, "f", 1)[0]
        eq(end["state"], "failed", "job: %r" % end)
        check("empty" in end["message"], "message: %r" % end)
        eq(stats(s, "f")["quantization_request"]["failed"], True)
        upsert(s, "f", small, 0, MIN + 50)
        upsert(s, "f", small, 0, 10)
        time.sleep(0.2)
        eq(len(quant_jobs(s, "f")), 1, "not retried by upserts: %r" % quant_jobs(s, "f"))
        eq(s.ok("PATCH", "/collections/f", {"quantization_config": sq}), True)
        js = wait_jobs(s, "f", 2)
        eq(js[-1]["state"], "done", "after the PATCH: %r" % js[-1])
        st = stats(s, "f")["quantization_request"]
        eq((st["met"], st["failed"]), (True, False))
        wait_jobs(s, "big", 1)
    run_with(tmp, body)


@test
def test_import_past_threshold(tmp):
    def body(s):
        base, _ = clustered(MIN + 100, 16, 1, seed=5)
        eq(s.ok("PUT", "/collections/imp", {"vectors": {"size": 16, "distance": "Euclid"},
                                            "quantization_config": {"product": {"compression": "x16"}}}), True)
        rows = np.hstack([np.full((len(base), 1), 16, dtype=np.int32).view(np.float32), base])
        st, doc = s.call("POST", "/hektor/collections/imp/import?format=fvecs&wait=true",
                         raw=rows.astype(np.float32).tobytes(),
                         headers={"Content-Type": "application/octet-stream"})
        eq((st, doc["result"]["job"]["state"]), (200, "done"), "import: %r" % doc)
        js = wait_jobs(s, "imp", 1)
        eq(js[0]["state"], "done", "job: %r" % js[0])
        q = stats(s, "imp")["quantization"]
        eq((q["method"], q["code_bytes"]), ("pq", 4))
    run_with(tmp, body)


@test
def test_snapshot_carries_request(tmp):
    """A snapshot taken before the codes existed brings its request to another server,
    whose upload starts the job."""
    base, _ = clustered(MIN + 50, 8, 1, seed=6)
    s = Server(tmp, tmp("db-a"), "--quantize-min-points", str(10 * MIN))
    try:
        eq(s.ok("PUT", "/collections/sn", {"vectors": {"size": 8, "distance": "Euclid"},
                                           "quantization_config": {"scalar": {"type": "int8"}}}), True)
        upsert(s, "sn", base, 0, MIN + 50)
        name = s.ok("POST", "/collections/sn/snapshots")["name"]
        st, data = s.raw("GET", "/collections/sn/snapshots/" + name)
        eq(st, 200)
        eq(stats(s, "sn")["quantization"], None)
    except BaseException:
        s.kill()
        raise
    eq(s.stop(), 0)

    def body(s):
        b = "hkq" + str(time.time_ns())
        form = (b"--" + b.encode() + b'\r\nContent-Disposition: form-data; name="snapshot"; '
                b'filename="x.snapshot"\r\nContent-Type: application/octet-stream\r\n\r\n' + data
                + b"\r\n--" + b.encode() + b"--\r\n")
        st, doc = s.call("POST", "/collections/up/snapshots/upload", raw=form,
                         headers={"Content-Type": "multipart/form-data; boundary=" + b})
        eq((st, doc.get("result")), (200, True), "upload: %r" % doc)
        eq(qconf(s, "up"), {"scalar": {"type": "int8", "quantile": None, "always_ram": True}})
        js = wait_jobs(s, "up", 1)
        eq(js[0]["state"], "done", "job: %r" % js[0])
        eq(stats(s, "up")["quantization"]["method"], "sq8")
    run_with(tmp, body)


def train_codebook(s, coll, method, name, **extra):
    job = s.ok("POST", "/hektor/collections/%s/quantize?wait=true" % coll,
               dict({"method": method, "codebook": name}, **extra))["job"]
    eq(job["state"], "done", "job: %r" % job)


@test
def test_codebooks_over_http(tmp):
    def body(s):
        base, _ = clustered(1500, 16, 1)
        eq(s.ok("PUT", "/collections/cb", {"vectors": {"size": 16, "distance": "Euclid"}}), True)
        upsert(s, "cb", base, 0, 1500)
        train_codebook(s, "cb", "pq", "book-pq", pq_m=4)
        train_codebook(s, "cb", "sq8", "book-sq", curve="mulaw")
        desc = s.ok("GET", "/hektor/codebooks/book-pq")
        eq((desc["method"], desc["dim"], desc["m"], desc["code_bytes"]), ("pq", 16, 4, 4))
        check("centroids" not in desc, "no arrays by default")
        full = s.ok("GET", "/hektor/codebooks/book-pq?arrays=true")
        check(len(full["centroids"]) > 0, "arrays=true gives the tables: %r" % list(full))
        eq(s.ok("GET", "/hektor/codebooks/book-sq")["curve"], "mulaw")
        st, raw = s.raw("GET", "/hektor/codebooks/book-pq?format=binary")
        eq(st, 200)
        eq(raw[:4], b"HKCB")
        st, raw_sq = s.raw("GET", "/hektor/codebooks/book-sq?format=binary")
        eq(st, 200)
        # round trip: delete, upload the bytes, the same bytes come back
        eq(s.ok("DELETE", "/hektor/codebooks/book-pq"), True)
        s.bad("GET", "/hektor/codebooks/book-pq", status=404, words=["book-pq"])
        s.bad("DELETE", "/hektor/codebooks/book-pq", status=404, words=["book-pq"])
        up = s.ok("PUT", "/hektor/codebooks/book-pq", raw=raw,
                  headers={"Content-Type": "application/octet-stream"})
        eq((up["name"], up["method"], up["code_bytes"]), ("book-pq", "pq", 4))
        eq(s.raw("GET", "/hektor/codebooks/book-pq?format=binary"), (200, raw), "byte for byte")
        # 409 without replace; replace=true stores the other one under the name
        s.bad("PUT", "/hektor/codebooks/book-pq", raw=raw_sq, status=409, words=["book-pq", "replace"])
        eq(s.raw("GET", "/hektor/codebooks/book-pq?format=binary"), (200, raw))
        eq(s.ok("PUT", "/hektor/codebooks/book-pq?replace=true", raw=raw_sq)["method"], "sq8")
        eq(s.raw("GET", "/hektor/codebooks/book-pq?format=binary"), (200, raw_sq))
        # the JSON with arrays is accepted too and gives the same codebook
        eq(s.ok("PUT", "/hektor/codebooks/from-json", raw=json.dumps(full).encode())["method"], "pq")
        back = s.ok("GET", "/hektor/codebooks/from-json?arrays=true")
        eq(back, full, "JSON round trip")
        # truncated, corrupt and foreign bodies: 400, nothing stored
        names = sorted(b["name"] for b in s.ok("GET", "/hektor/codebooks"))
        flipped = bytearray(raw)
        flipped[len(raw) // 2] ^= 0x40
        for bad, words in [(raw[:len(raw) - 7], ["not valid"]), (raw[:10], ["not valid"]),
                           (bytes(flipped), ["not valid"]), (b"hello", ["HKCB"]), (b"", ["body"]),
                           (b'{"method": "pq"}', ["not valid"]),
                           (json.dumps(full).encode()[:-40], ["not valid"])]:
            s.bad("PUT", "/hektor/codebooks/junk", raw=bad, status=400, words=words)
            s.bad("PUT", "/hektor/codebooks/book-sq?replace=true", raw=bad, status=400)
        s.bad("GET", "/hektor/codebooks/junk", status=404)
        eq(s.raw("GET", "/hektor/codebooks/book-sq?format=binary"), (200, raw_sq), "unchanged")
        eq(sorted(b["name"] for b in s.ok("GET", "/hektor/codebooks")), names)
        s.bad("GET", "/hektor/codebooks/book-sq?format=xml", status=400, words=["format"])
        s.bad("PUT", "/hektor/codebooks/.bad", raw=raw, status=400, words=["codebook"])
        # a codebook uploaded here quantizes nothing by itself; collections keep their copy
        eq(s.ok("GET", "/hektor/collections/cb/stats")["quantization"]["method"], "sq8")
    run_with(tmp, body)


@test
def test_codebook_auth(tmp):
    s = Server(tmp, tmp("db"), "--api-key", "k1", "--read-only-key", "k2")
    try:
        s.headers = {"api-key": "k1"}
        base, _ = clustered(600, 8, 1)
        eq(s.ok("PUT", "/collections/a", {"vectors": {"size": 8, "distance": "Dot"}}), True)
        upsert(s, "a", base, 0, 600)
        train_codebook(s, "a", "sq8", "b1")
        st, raw = s.raw("GET", "/hektor/codebooks/b1?format=binary")
        eq(st, 200)
        s.headers = {"api-key": "k2"}
        eq(s.ok("GET", "/hektor/codebooks/b1")["method"], "sq8")
        eq(s.raw("GET", "/hektor/codebooks/b1?format=binary"), (200, raw))
        s.bad("PUT", "/hektor/codebooks/b2", raw=raw, status=403)
        s.bad("DELETE", "/hektor/codebooks/b1", status=403)
        s.headers = {}
        s.bad("GET", "/hektor/codebooks/b1", status=401)
        s.headers = {"api-key": "k1"}
        eq(s.ok("GET", "/hektor/codebooks/b1")["method"], "sq8")
        s.bad("GET", "/hektor/codebooks/b2", status=404)
    except BaseException:
        s.kill()
        raise
    eq(s.stop(), 0)


@test
def test_quantize_auto(tmp):
    db = tmp("db")
    n, dim, nq = 3000, 32, 50
    base, queries = clustered(n, dim, nq, seed=9)
    chosen = {}

    def body(s):
        for name in ("au", "au2"):
            eq(s.ok("PUT", "/collections/" + name, {"vectors": {"size": dim, "distance": "Euclid"},
                                                   "hnsw_config": {"m": 0}}), True)
            upsert(s, name, base, 0, n)
        for bad, words in [({"method": "auto"}, ["target_recall", "max_bytes"]),
                           ({"method": "auto", "target_recall": 0.9, "max_bytes": 8}, ["exactly one"]),
                           ({"method": "auto", "target_recall": 1.5}, ["target_recall"]),
                           ({"method": "auto", "max_bytes": 0.5}, ["max_bytes"]),
                           ({"method": "auto", "target_recall": 0.9, "pq_m": 4}, ["pq_m", "auto"]),
                           ({"method": "auto", "target_recall": 0.9, "curve": "mulaw"}, ["curve"]),
                           ({"method": "auto", "target_recall": 0.9, "sample": 3}, ["sample"]),
                           ({"method": "sq8", "target_recall": 0.9}, ["target_recall", "auto"]),
                           ({"method": "sq8", "sample": 100}, ["sample", "auto"])]:
            s.bad("POST", "/hektor/collections/au/quantize", bad, 400, words)
        eq(stats(s, "au")["quantization"], None, "refused requests change nothing")
        job = s.ok("POST", "/hektor/collections/au/quantize?wait=true",
                   {"method": "auto", "target_recall": 0.95, "codebook": "au-auto"})["job"]
        eq(job["state"], "done", "job: %r" % job)
        res = job["result"]
        picked = [c for c in res["candidates"] if c.get("chosen")]
        eq(len(picked), 1, "one chosen candidate: %r" % res["candidates"])
        check(picked[0]["recall_rerank"] >= 0.95, "the chosen candidate reaches the target: %r" % picked[0])
        smaller = [c for c in res["candidates"] if c["trained"] and c["code_bytes"] < picked[0]["code_bytes"]]
        check(all(c["recall_rerank"] < 0.95 for c in smaller), "no smaller code reaches it: %r" % smaller)
        eq(res["code_bytes"], picked[0]["code_bytes"])
        st = stats(s, "au")["quantization"]
        eq((st["code_bytes"], st["codebook"]), (picked[0]["code_bytes"], "au-auto"))
        chosen["target"] = picked[0]["label"]
        r = recall(s, "au", base, queries)
        print("auto (target recall 0.95) chose %s (%d bytes): recall@10 %.4f" % (
            picked[0]["label"], picked[0]["code_bytes"], r))
        check(r >= 0.9, "recall@10 %.4f < 0.9" % r)
        job = s.ok("POST", "/hektor/collections/au2/quantize?wait=true",
                   {"method": "auto", "max_bytes": 8})["job"]
        eq(job["state"], "done", "job: %r" % job)
        check(job["result"]["code_bytes"] <= 8, "within max_bytes: %r" % job["result"])
        chosen["bytes"] = [c for c in job["result"]["candidates"] if c.get("chosen")][0]["label"]
        # a target no candidate fits: the job fails naming it, the collection keeps its codes
        eq(s.ok("PUT", "/collections/wide", {"vectors": {"size": 64, "distance": "Euclid"}}), True)
        wide = np.random.default_rng(1).normal(size=(300, 64)).astype(np.float32)
        upsert(s, "wide", wide, 0, 300)
        job = s.ok("POST", "/hektor/collections/wide/quantize?wait=true",
                   {"method": "auto", "max_bytes": 1})["job"]
        eq(job["state"], "failed")
        check("1 bytes" in job["message"], "message: %r" % job["message"])
        eq(stats(s, "wide")["quantization"], None)
    run_with(tmp, body, db)
    # the command line chooses the same on the same collection
    from hk_test import hk_ok
    for coll, args, want in [("au", ["--target-recall", "0.95"], chosen["target"]),
                             ("au2", ["--max-bytes", "8"], chosen["bytes"])]:
        r = hk_ok(db, "quantize", coll, "--auto", "--quiet", *args)
        line = [x for x in r.out.splitlines() if x.startswith("*")]
        eq(len(line), 1, r.out)
        eq(line[0].split()[1], want, "hektor quantize --auto chose otherwise:\n" + r.out)


if __name__ == "__main__":
    main()
