"""test_server_hektor.py — HEKTOR's own routes of `hektor serve` over real HTTP: the live
event stream (/hektor/events), file import as a background job (all or nothing for a
rejected file, cancellation), the jobs routes, collection statistics, text, vector and
hybrid search (recall against numpy brute force), the Studio's static files and the
OpenAPI document; good and bad input for each."""
import http.client
import json
import os
import socket
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hk_test import (  # noqa: E402
    SLOW, check, contains, eq, main, run, test, write_fvecs, write_jsonl)
from hk_server import Server, serving  # noqa: E402


def host_port(s):
    host, port = s.url[len("http://"):].split(":")
    return host, int(port)


def raw(s, method, path, body=None, headers=None):
    """(status, headers dict, body bytes) without following redirects."""
    conn = http.client.HTTPConnection(*host_port(s), timeout=60 * SLOW)
    conn.request(method, path, body=body, headers=headers or {})
    r = conn.getresponse()
    out = (r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    conn.close()
    return out


class Events:
    """A client of /hektor/events reading one message at a time."""

    def __init__(self, s, query="", headers=None):
        self.conn = http.client.HTTPConnection(*host_port(s), timeout=30 * SLOW)
        self.conn.request("GET", "/hektor/events" + query, headers=headers or {})
        self.resp = self.conn.getresponse()

    def next(self):
        """(event name, parsed data, arrival time)."""
        lines = []
        while True:
            line = self.resp.fp.readline()
            check(line != b"", "the stream ended early")
            line = line.decode().rstrip("\r\n")
            if line == "" and lines:
                break
            if line:
                lines.append(line)
        event = [x[len("event: "):] for x in lines if x.startswith("event: ")]
        data = [x[len("data: "):] for x in lines if x.startswith("data: ")]
        eq(len(event), 1, "one event line: %r" % lines)
        eq(len(data), 1, "one data line: %r" % lines)
        return event[0], json.loads(data[0]), time.monotonic()

    def close(self):
        self.conn.close()


def fill(s, name, n=500, dim=16, seed=1, distance="Euclid"):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dim)).astype(np.float32)
    eq(s.ok("PUT", "/collections/" + name, {"vectors": {"size": dim, "distance": distance}}), True)
    pts = [{"id": i, "vector": [float(v) for v in x[i]], "payload": {"group": i % 5}}
           for i in range(n)]
    s.ok("PUT", "/collections/%s/points?wait=true" % name, {"points": pts})
    return x


def count(s, name):
    return s.ok("POST", "/collections/%s/points/count" % name, {})["count"]


def import_file(s, name, data, query, expect_http=200):
    status, doc = s.call("POST", "/hektor/collections/%s/import?%s" % (name, query), raw=data,
                         headers={"Content-Type": "application/octet-stream"})
    eq(status, expect_http, "import %s: %r" % (query, doc))
    return doc["result"]["job"] if status == 200 else doc


def wait_job(s, job_id):
    return s.ok("GET", "/hektor/jobs/%s?wait=true" % job_id)["job"]


# ---- events ----

@serving
def test_events_stream(s, tmp):
    fill(s, "ev", n=200, dim=8)
    ev = Events(s, "?interval_ms=100")
    eq(ev.resp.status, 200)
    contains(ev.resp.getheader("Content-Type"), "text/event-stream")
    name, first, t1 = ev.next()
    eq(name, "stats")
    for key in ("time", "uptime_s", "version", "collections", "qps", "latency_ms",
                "requests_total", "errors_total", "memory", "jobs"):
        check(key in first, "event data lacks %r: %r" % (key, first))
    eq(first["version"], json.loads(raw(s, "GET", "/")[2])["version"])
    coll = [c for c in first["collections"] if c["name"] == "ev"]
    eq(len(coll), 1, "collection ev in the event")
    eq(coll[0], {"name": "ev", "points": 200, "dim": 8, "metric": "l2", "index": "hnsw",
                 "text": False, "quantization": "none"})
    check(first["memory"]["rss_bytes"] > 0 and first["memory"]["anon_bytes"] > 0, "memory")
    check(first["memory"]["anon_bytes"] <= first["memory"]["rss_bytes"], "anon within rss")
    # Searches between two events move the figures.
    q = {"vector": [0.1] * 8, "limit": 5}
    for _ in range(20):
        s.ok("POST", "/collections/ev/points/search", q)
    s.bad("POST", "/collections/ev/points/search", {"vector": [1, 2]}, 400)
    _, second, t2 = ev.next()
    while second["requests_total"] < first["requests_total"] + 21:
        _, second, t2 = ev.next()
    check(second["qps"] > 0, "qps after searches: %r" % second["qps"])
    check(second["latency_ms"]["p50"] > 0, "p50 after searches")
    check(second["latency_ms"]["p99"] >= second["latency_ms"]["p50"], "p99 >= p50")
    check(second["errors_total"] >= first["errors_total"] + 1, "the 400 is counted")
    check(second["uptime_s"] > first["uptime_s"], "uptime moves")
    check(second["time"] > first["time"], "time moves")
    ev.close()
    # interval_ms is clamped to at least 100 ms.
    ev = Events(s, "?interval_ms=1")
    ev.next()
    _, _, a = ev.next()
    _, _, b = ev.next()
    check(b - a > 0.05, "events 1 ms apart: the interval is clamped to 100 ms (%.3f s)" % (b - a))
    ev.close()
    s.bad("GET", "/hektor/events?interval_ms=often", status=400, words=["interval_ms"])
    s.bad("POST", "/hektor/events", status=405)


@test
def test_events_gone_clients_and_shutdown(tmp):
    s = Server(tmp, tmp("db"))
    try:
        # Clients that vanish mid-stream and one that stays: the server keeps answering
        # and its shutdown is not held by 10-second waits.
        for _ in range(10):
            sock = socket.create_connection(host_port(s))
            sock.settimeout(30 * SLOW)
            sock.sendall(b"GET /hektor/events?interval_ms=10000 HTTP/1.1\r\nHost: x\r\n\r\n")
            got = b""
            while b"event: stats" not in got:
                chunk = sock.recv(65536)
                check(chunk != b"", "the stream ended before its first event")
                got += chunk
            sock.close()
        stay = Events(s, "?interval_ms=10000")
        stay.next()
        eq(s.ok("GET", "/collections"), {"collections": []})
        t0 = time.monotonic()
        eq(s.stop(), 0)
        took = time.monotonic() - t0
        check(took < 8, "shutdown with a stream open took %.1f s (the stream waits 10 s)" % took)
        stay.close()
    except BaseException:
        s.kill()
        raise


@test
def test_events_need_the_key(tmp):
    s = Server(tmp, tmp("db"), "--api-key", "k1", "--read-only-key", "k2")
    try:
        status, _, body = raw(s, "GET", "/hektor/events")
        eq(status, 401)
        ev = Events(s, "", headers={"api-key": "k2"})
        eq(ev.next()[0], "stats")
        ev.close()
        # EventSource cannot send headers: the stream takes the key in the query too.
        ev = Events(s, "?api_key=k2&interval_ms=200")
        eq(ev.next()[0], "stats")
        ev.close()
        eq(raw(s, "GET", "/hektor/events?api_key=wrong")[0], 401)
        eq(raw(s, "GET", "/collections?api_key=k1")[0], 401)  # only the stream takes it
        # The read-only key reads jobs but may not import or cancel.
        s.headers = {"api-key": "k2"}
        eq(s.ok("GET", "/hektor/jobs"), [])
        s.bad("POST", "/hektor/collections/x/import?format=fvecs", raw=b"x", status=403)
        s.bad("DELETE", "/hektor/jobs/j-1", status=403)
    except BaseException:
        s.kill()
        raise
    eq(s.stop(), 0)


# ---- import and jobs ----

@serving
def test_import_fvecs_job(s, tmp):
    rng = np.random.default_rng(7)
    n, dim = 3000, 24
    x = rng.standard_normal((n, dim)).astype(np.float32)
    path = tmp("x.fvecs")
    write_fvecs(path, x)
    data = open(path, "rb").read()
    job = import_file(s, "vec", data, "format=fvecs&create=true&metric=l2&wait=true")
    eq(job["state"], "done", "job: %r" % job)
    eq(job["kind"], "import")
    eq(job["collection"], "vec")
    check(job["id"].startswith("j-"), "job id")
    eq(job["result"]["points"], n)
    eq(job["result"]["created"], True)
    eq(job["progress"], 1.0)
    check(job["finished"] >= job["started"] > 0, "start and finish times")
    eq(count(s, "vec"), n)
    st = s.ok("GET", "/hektor/collections/vec/stats")
    eq((st["points"], st["dim"], st["metric"], st["index"]["kind"]), (n, dim, "l2", "hnsw"))
    # Quality: exact search equals numpy's brute force, and HNSW recall@10 is high.
    queries = rng.standard_normal((30, dim)).astype(np.float32)
    hits = total = 0
    for qv in queries:
        truth = list(np.argsort(((x - qv) ** 2).sum(1))[:10])
        body = {"vector": [float(v) for v in qv], "k": 10}
        exact = s.ok("POST", "/hektor/collections/vec/search", dict(body, exact=True))
        eq([p["id"] for p in exact["points"]], [int(i) for i in truth], "exact search")
        check(exact["took_ms"] >= 0, "took_ms")
        approx = s.ok("POST", "/hektor/collections/vec/search", body)["points"]
        hits += len(set(p["id"] for p in approx) & set(int(i) for i in truth))
        total += 10
    check(hits / total >= 0.95, "HNSW recall@10 over HTTP: %.3f" % (hits / total))
    # Import into the existing collection (ids continue from start 0: replaced).
    job = import_file(s, "vec", data[:(dim + 1) * 4 * 10], "format=fvecs&wait=true")
    eq((job["state"], job["result"]["points"], job["result"]["created"]), ("done", 10, False))
    eq(count(s, "vec"), n)
    # The job list and a job by id.
    jobs = s.ok("GET", "/hektor/jobs")
    eq([j["id"] for j in jobs][-2:], [jobs[-2]["id"], job["id"]])
    eq(s.ok("GET", "/hektor/jobs/" + job["id"])["job"]["state"], "done")
    s.bad("GET", "/hektor/jobs/j-999999", status=404, words=["j-999999"])
    s.bad("GET", "/hektor/jobs/banana", status=404, words=["banana"])
    s.bad("DELETE", "/hektor/jobs/j-999999", status=404)
    # Cancelling a finished job changes nothing.
    eq(s.ok("DELETE", "/hektor/jobs/" + job["id"])["job"]["state"], "done")


@serving
def test_import_jsonl_text_and_hybrid(s, tmp):
    rng = np.random.default_rng(3)
    n, dim = 400, 8
    x = rng.standard_normal((n, dim)).astype(np.float32)
    words = ["apple", "banana", "cherry", "durian", "elderberry"]
    texts = ["%s pie with %s" % (words[i % 5], words[(i // 5) % 5]) for i in range(n)]
    payloads = [{"k": i % 3} for i in range(n)]
    path = tmp("x.jsonl")
    write_jsonl(path, range(1000, 1000 + n), x, payloads, texts)
    job = import_file(s, "docs", open(path, "rb").read(),
                      "format=jsonl&create=true&metric=cosine&wait=true")
    eq(job["state"], "done", "job: %r" % job)
    eq(job["result"]["points"], n)
    st = s.ok("GET", "/hektor/collections/docs/stats")
    eq(st["metric"], "cosine")
    eq(st["text"]["documents"], n)
    check(st["text"]["terms"] >= 5, "terms")
    # Text: every hit holds the word; match all needs both words.
    res = s.ok("POST", "/hektor/collections/docs/search",
               {"text": "cherry", "k": 200, "with_text": True, "with_payload": True})
    eq(len(res["points"]), sum("cherry" in t for t in texts))
    check(all("cherry" in p["text"] for p in res["points"]), "text hits hold the term")
    check(all("k" in p["payload"] for p in res["points"]), "payloads")
    res = s.ok("POST", "/hektor/collections/docs/search",
               {"text": "cherry durian", "match": "all", "k": 100, "with_text": True})
    check(len(res["points"]) > 0, "all-terms hits")
    check(all("cherry" in p["text"] and "durian" in p["text"] for p in res["points"]), "match all")
    res = s.ok("POST", "/hektor/collections/docs/search",
               {"text": "cherry", "k": 100, "filter": {"must": [{"key": "k", "match": {"value": 1}}]},
                "with_payload": True})
    check(res["points"] and all(p["payload"]["k"] == 1 for p in res["points"]), "text with filter")
    # Hybrid: the point whose vector is the query and whose text matches comes first.
    target = 1000 + 7
    hyb = s.ok("POST", "/hektor/collections/docs/search",
               {"vector": [float(v) for v in x[7]], "text": texts[7], "k": 5,
                "fusion": {"method": "rrf", "k": 60, "depth": 50}})
    eq(hyb["points"][0]["id"], target, "hybrid top hit")
    vec_only = s.ok("POST", "/hektor/collections/docs/search",
                    {"vector": [float(v) for v in x[7]], "k": 1, "with_vector": True})
    eq(vec_only["points"][0]["id"], target)
    eq(len(vec_only["points"][0]["vector"]), dim)
    for method in ("convex", "dbsf", "combsum", "combmnz", "borda"):
        hyb = s.ok("POST", "/hektor/collections/docs/search",
                   {"vector": [float(v) for v in x[7]], "text": texts[7], "k": 5,
                    "fusion": {"method": method, "depth": 50}})
        eq(hyb["points"][0]["id"], target, "hybrid top hit, " + method)
    s.bad("POST", "/hektor/collections/docs/search",
          {"vector": [0.0] * dim, "text": "x", "fusion": {"method": "bordo"}}, 400, ["bordo"])
    s.bad("POST", "/hektor/collections/docs/search", {"text": "x", "match": "some"}, 400, ["match"])
    s.bad("POST", "/hektor/collections/docs/search", {"k": 3}, 400, ["vector", "text"])
    s.bad("POST", "/hektor/collections/docs/search", {"text": "x", "limit": 3}, 400, ["limit"])
    s.bad("POST", "/hektor/collections/docs/search", {"text": "x", "k": 0}, 400, ["k"])
    s.bad("POST", "/hektor/collections/docs/search", {"vector": [1, 2]}, 400, ["dim"])
    s.bad("POST", "/hektor/collections/docs/search", {"text": 5}, 400, ["text"])
    s.bad("POST", "/hektor/collections/nope/search", {"text": "x"}, 404, ["nope"])
    s.bad("POST", "/hektor/collections/docs/search", raw=b"{bad", status=400, words=["JSON"])
    # A text-only collection made by import: records without vectors.
    lines = "".join(json.dumps({"id": i, "text": texts[i]}) + "\n" for i in range(50))
    job = import_file(s, "plain", lines.encode(), "format=jsonl&create=true&wait=true")
    eq(job["state"], "done", "job: %r" % job)
    st = s.ok("GET", "/hektor/collections/plain/stats")
    eq((st["points"], st["dim"], st["text"]["documents"]), (50, 0, 50))
    s.bad("POST", "/hektor/collections/plain/search", {"vector": [1.0]}, 400, ["text-only"])


@serving
def test_import_csv_columns(s, tmp):
    rows = ["key,emb,body,color"]
    for i in range(40):
        rows.append('%d,"[%d, %d, 1]",%s,%s' % (70 + i, i, 40 - i, "alpha beta" if i % 2 else "gamma",
                                                 "red" if i % 3 else "blue"))
    data = ("\n".join(rows) + "\n").encode()
    job = import_file(s, "csv", data, "format=csv&create=true&metric=ip&id_field=key&vector_field=emb"
                      "&text_field=body&wait=true")
    eq(job["state"], "done", "job: %r" % job)
    eq(job["result"]["points"], 40)
    got = s.ok("POST", "/collections/csv/points", {"ids": [70, 73], "with_vector": True})
    eq([(p["id"], p["payload"], p["vector"]) for p in got],
       [(70, {"color": "blue"}, [0.0, 40.0, 1.0]), (73, {"color": "blue"}, [3.0, 37.0, 1.0])])
    hits = s.ok("POST", "/hektor/collections/csv/search", {"text": "gamma", "k": 100})["points"]
    eq(sorted(p["id"] for p in hits), [70 + i for i in range(0, 40, 2)])
    # Without the column names the file does not fit: the job fails naming the column.
    job = import_file(s, "csv", data, "format=csv&wait=true")
    eq(job["state"], "failed")
    contains(job["message"], "vector")
    eq(count(s, "csv"), 40)


@serving
def test_import_rejected_changes_nothing(s, tmp):
    x = fill(s, "keep", n=100, dim=4)
    rng = np.random.default_rng(5)
    good = rng.standard_normal((300, 4)).astype(np.float32)
    lines = [json.dumps({"id": 5000 + i, "vector": [float(v) for v in good[i]]}) for i in range(300)]
    # Line 257 has the wrong dimension: nothing of the file lands (not even lines 1-256,
    # which the library would otherwise write in earlier batches).
    bad = list(lines)
    bad[256] = json.dumps({"id": 9999, "vector": [1.0, 2.0]})
    job = import_file(s, "keep", ("\n".join(bad) + "\n").encode(), "format=jsonl&wait=true")
    eq(job["state"], "failed", "job: %r" % job)
    contains(job["message"], "257")
    contains(job["message"], "dimension")
    eq(count(s, "keep"), 100)
    eq(s.ok("POST", "/collections/keep/points", {"ids": [5000, 5001]}), [])
    # A NaN in the last record, found by the same checks as an upsert's.
    bad = list(lines)
    bad[299] = '{"id": 1, "vector": [1, 2, 3, NaN]}'
    job = import_file(s, "keep", ("\n".join(bad) + "\n").encode(), "format=jsonl&wait=true")
    eq(job["state"], "failed")
    contains(job["message"], "300")
    eq(count(s, "keep"), 100)
    got = s.ok("POST", "/collections/keep/points", {"ids": [1], "with_vector": True})
    check(np.array_equal(np.array(got[0]["vector"], dtype=np.float32), x[1]), "point 1 unchanged")
    # A truncated fvecs file into a collection the import would create: no collection.
    path = tmp("t.fvecs")
    write_fvecs(path, good)
    data = open(path, "rb").read()[:-6]
    job = import_file(s, "fresh", data, "format=fvecs&create=true&wait=true")
    eq(job["state"], "failed")
    contains(job["message"], "dropped")
    eq(s.ok("GET", "/collections/fresh/exists"), {"exists": False})
    # A whole fvecs file of the wrong dimension for an existing collection.
    write_fvecs(path, rng.standard_normal((30, 8)).astype(np.float32))
    job = import_file(s, "keep", open(path, "rb").read(), "format=fvecs&wait=true")
    eq(job["state"], "failed")
    contains(job["message"], "dimension")
    eq(count(s, "keep"), 100)
    # Requests refused before any job starts.
    import_file(s, "keep", b"x", "", 400)
    msg = import_file(s, "keep", b"x", "format=parquet", 400)["status"]["error"]
    contains(msg, "parquet")
    msg = import_file(s, "nope", b"x", "format=jsonl", 404)["status"]["error"]
    contains(msg, "create=true")
    msg = import_file(s, "keep", b"", "format=jsonl", 400)["status"]["error"]
    contains(msg, "body")
    msg = import_file(s, "n2", b"x", "format=jsonl&create=true&metric=manhattan", 400)["status"]["error"]
    contains(msg, "manhattan")
    msg = import_file(s, "keep", b"x", "format=jsonl&id_field=key", 400)["status"]["error"]
    contains(msg, "id_field")
    msg = import_file(s, "keep", b"x", "format=fvecs&text_field=t", 400)["status"]["error"]
    contains(msg, "text_field")
    msg = import_file(s, "keep", b"x", "format=jsonl&wait=maybe", 400)["status"]["error"]
    contains(msg, "wait")
    msg = import_file(s, "bad..name", b"x", "format=jsonl&create=true&wait=true")
    eq(msg["state"], "failed")
    s.bad("GET", "/hektor/collections/keep/import", status=405)


@test
def test_import_cancel(tmp):
    s = Server(tmp, tmp("db"), "--max-body", str(200 << 20))
    try:
        rng = np.random.default_rng(11)
        n, dim = 60000, 48
        path = tmp("big.fvecs")
        write_fvecs(path, rng.standard_normal((n, dim)).astype(np.float32))
        data = open(path, "rb").read()
        # Into an existing collection: what stays is a prefix of the file, whole batches.
        eq(s.ok("PUT", "/collections/big", {"vectors": {"size": dim, "distance": "Euclid"}}), True)
        first = import_file(s, "big", data, "format=fvecs")
        second = import_file(s, "big", data, "format=fvecs")
        check(first["state"] in ("queued", "running"), "first job: %r" % first)
        eq(second["state"], "queued", "the second job waits for the first")
        # A queued job ends at once.
        got = s.ok("DELETE", "/hektor/jobs/" + second["id"])["job"]
        eq(got["state"], "cancelled")
        contains(got["message"], "before it started")
        # Let the first one write a little, then cancel it.
        deadline = time.monotonic() + 120 * SLOW
        while time.monotonic() < deadline:
            j = s.ok("GET", "/hektor/jobs/" + first["id"])["job"]
            if j["message"].startswith("writing") or j["state"] != "running":
                break
            time.sleep(0.02)
        s.ok("DELETE", "/hektor/jobs/" + first["id"])
        j = wait_job(s, first["id"])
        eq(j["state"], "cancelled", "job: %r" % j)
        c = count(s, "big")
        check(0 < c < n, "cancelled after the first batch, before the end (%d points)" % c)
        eq(c % 4096, 0, "whole batches")
        ids = s.ok("POST", "/collections/big/points/scroll", {"limit": c, "with_payload": False})
        eq([p["id"] for p in ids["points"]], list(range(c)), "a prefix of the file")
        contains(j["message"], "%d points" % c)
        # Into a collection the import creates: cancelled means no collection.
        job = import_file(s, "made", data, "format=fvecs&create=true")
        time.sleep(0.05)
        j = s.ok("DELETE", "/hektor/jobs/%s?wait=true" % job["id"])["job"]
        eq(j["state"], "cancelled", "job: %r" % j)
        eq(s.ok("GET", "/collections/made/exists"), {"exists": False})
        # Shutdown cancels a running import and still exits 0.
        job = import_file(s, "big", data, "format=fvecs")
        time.sleep(0.05)
    except BaseException:
        s.kill()
        raise
    eq(s.stop(), 0)


# ---- Qdrant snapshots and the query API ----

@serving
def test_snapshots(s, tmp):
    x = fill(s, "sn", n=300, dim=6)
    s.ok("PUT", "/collections/sn/index", {"field_name": "group", "field_schema": "integer"})
    eq(s.ok("GET", "/collections/sn/snapshots"), [])
    snap = s.ok("POST", "/collections/sn/snapshots")
    check(snap["name"].startswith("sn-") and snap["name"].endswith(".snapshot"), "name %r" % snap)
    check(snap["size"] > 300 * 6 * 4, "size")
    contains(snap["creation_time"], "T")
    eq(s.ok("GET", "/collections/sn/snapshots"), [snap])
    status, h, body = raw(s, "GET", "/collections/sn/snapshots/" + snap["name"])
    eq((status, len(body)), (200, snap["size"]))
    eq(h["content-type"], "application/octet-stream")
    # Change the collection, then recover it: the snapshot's state is back.
    s.ok("POST", "/collections/sn/points/delete", {"points": list(range(100))})
    s.ok("PUT", "/collections/sn/points", {"points": [{"id": 5000, "vector": [9.0] * 6}]})
    eq(count(s, "sn"), 201)
    eq(s.ok("PUT", "/collections/sn/snapshots/recover", {"location": snap["name"]}), True)
    eq(count(s, "sn"), 300)
    got = s.ok("POST", "/collections/sn/points", {"ids": [7, 5000], "with_vector": True})
    eq([p["id"] for p in got], [7])
    check(np.array_equal(np.array(got[0]["vector"], dtype=np.float32), x[7]), "vector back")
    eq(s.ok("GET", "/hektor/collections/sn/stats")["payload_indexes"],
       [{"field": "group", "type": "integer"}])
    # Into a new collection, by file:// path.
    path = os.path.join(s.db, "snapshots", "sn", snap["name"])
    eq(s.ok("PUT", "/collections/copy/snapshots/recover", {"location": "file://" + path}), True)
    eq(count(s, "copy"), 300)
    # Writes still work after a recover, and the result is searchable.
    s.ok("PUT", "/collections/sn/points", {"points": [{"id": 9001, "vector": [0.5] * 6}]})
    eq(s.ok("POST", "/collections/sn/points/search", {"vector": [0.5] * 6, "limit": 1})[0]["id"], 9001)
    # Bad input: nothing outside the snapshots directory, no unknown names.
    outside = tmp("outside.snapshot")
    with open(outside, "wb") as f:
        f.write(body)
    for loc in ["file://" + outside, "file://" + os.path.join(s.db, "snapshots", "..", "x"),
                "/etc/passwd", "http://example.com/x.snapshot", "../sn/" + snap["name"]]:
        s.bad("PUT", "/collections/sn/snapshots/recover", {"location": loc}, 400, ["location"])
    s.bad("PUT", "/collections/sn/snapshots/recover",
          {"location": "file://" + os.path.join(s.db, "snapshots", "sn")}, 400, ["not a snapshot file"])
    s.bad("PUT", "/collections/sn/snapshots/recover", {}, 400, ["location"])
    s.bad("PUT", "/collections/sn/snapshots/recover", {"location": snap["name"], "checksum": "ab"},
          400, ["checksum"])
    s.bad("PUT", "/collections/sn/snapshots/recover", {"location": "nope.snapshot"}, 400,
          ["nope.snapshot"])
    # A corrupt snapshot (in the snapshots directory) is refused and changes nothing.
    bad = bytearray(body)
    bad[len(bad) // 2] ^= 0xFF
    with open(os.path.join(s.db, "snapshots", "sn", "sn-broken.snapshot"), "wb") as f:
        f.write(bytes(bad))
    msg = s.bad("PUT", "/collections/sn/snapshots/recover", {"location": "sn-broken.snapshot"},
                400, ["sn-broken.snapshot"])
    contains(msg, "nothing changed")
    eq(count(s, "sn"), 301)
    # Qdrant's upload: multipart/form-data with the file in the part "snapshot".
    def upload(name, data, part="snapshot", ctype=None, query=""):
        b = "hk%d" % len(data)
        form = (b"--" + b.encode() + b"\r\nContent-Disposition: form-data; name=\"" + part.encode()
                + b"\"; filename=\"x.snapshot\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                + data + b"\r\n--" + b.encode() + b"--\r\n")
        return s.call("POST", "/collections/%s/snapshots/upload%s" % (name, query), raw=form,
                      headers={"Content-Type": ctype or "multipart/form-data; boundary=" + b})
    status, doc = upload("up", body, query="?priority=snapshot")
    eq((status, doc.get("result")), (200, True), "upload: %r" % doc)
    eq(count(s, "up"), 300)
    got = s.ok("POST", "/collections/up/points", {"ids": [7], "with_vector": True})
    check(np.array_equal(np.array(got[0]["vector"], dtype=np.float32), x[7]), "uploaded vector")
    s.ok("PUT", "/collections/up/points?wait=true", {"points": [{"id": 1, "vector": [1.0] * 6}]})
    for data, kw, words in ((bytes(bad), {}, ["refused", "nothing changed"]),
                            (body[:len(body) // 3], {}, ["refused"]),
                            (body, {"part": "file"}, ["snapshot"]),
                            (body, {"ctype": "application/octet-stream"}, ["multipart"]),
                            (body, {"ctype": "multipart/form-data"}, ["boundary"]),
                            (body, {"query": "?checksum=ab"}, ["checksum"]),
                            (body, {"query": "?priority=now"}, ["priority"])):
        status, doc = upload("up", data, **kw)
        eq(status, 400, "bad upload %r: %r" % (kw, doc))
        for w in words:
            contains(doc["status"]["error"], w)
    eq(count(s, "up"), 300, "bad uploads changed nothing")
    eq(sorted(os.listdir(os.path.join(s.db, "snapshots", "up"))), [], "no upload left behind")
    # A refused upload to a collection that does not exist leaves no directory behind.
    status, doc = upload("ghost", bytes(bad))
    eq(status, 400, "bad upload to a new collection: %r" % doc)
    check(not os.path.exists(os.path.join(s.db, "snapshots", "ghost")), "snapshots/ghost left behind")
    s.bad("GET", "/collections/ghost", status=404)
    status, doc = upload("bad%21name", body)
    eq(status, 400)
    s.bad("GET", "/collections/sn/snapshots/nope.snapshot", status=404, words=["nope.snapshot"])
    with open(os.path.join(s.db, "outside.snapshot"), "wb") as f:
        f.write(b"not for download")
    for path in ("/collections/../snapshots/outside.snapshot", "/collections/..%2F/snapshots/outside.snapshot",
                 "/collections/.../snapshots/outside.snapshot"):
        status, _, got = raw(s, "GET", path)
        check(status in (400, 404) and b"not for download" not in got, "%s -> %d" % (path, status))
    status, _, got = raw(s, "GET", "/collections/%2E%2E/snapshots/outside.snapshot")
    eq(status, 400)
    check(b"not for download" not in got, "encoded .. as a collection name")
    s.bad("GET", "/collections/sn/snapshots/.hidden.snapshot", status=400)
    s.bad("GET", "/collections/sn/snapshots/x.txt", status=400, words=["snapshot name"])
    s.bad("POST", "/collections/none/snapshots", status=404, words=["none"])
    s.bad("GET", "/collections/none/snapshots", status=404)
    eq(s.ok("DELETE", "/collections/sn/snapshots/" + snap["name"]), True)
    s.bad("DELETE", "/collections/sn/snapshots/" + snap["name"], status=404)
    eq([x["name"] for x in s.ok("GET", "/collections/sn/snapshots")], ["sn-broken.snapshot"])


def rrf(lists, k=60):
    score = {}
    for lst in lists:
        for rank, pid in enumerate(lst):
            score[pid] = score.get(pid, 0.0) + 1.0 / (k + rank + 1)
    return sorted(score, key=lambda p: (-score[p], p))


@serving
def test_query_api(s, tmp):
    x = fill(s, "q", n=400, dim=8)
    rng = np.random.default_rng(9)
    a, b = (rng.standard_normal(8).astype(np.float32) for _ in range(2))
    av, bv = [float(v) for v in a], [float(v) for v in b]
    exact = {"exact": True}
    # A plain vector query equals search (and exact equals numpy).
    got = s.ok("POST", "/collections/q/points/query", {"query": av, "limit": 5, "params": exact})
    truth = [int(i) for i in np.argsort(((x - a) ** 2).sum(1))[:5]]
    eq([p["id"] for p in got["points"]], truth)
    got = s.ok("POST", "/collections/q/points/query", {"query": {"nearest": av}, "limit": 5,
                                                      "params": exact})
    eq([p["id"] for p in got["points"]], truth)
    # prefetch + rrf equals RRF computed here from the two exact lists.
    la = [int(i) for i in np.argsort(((x - a) ** 2).sum(1))[:30]]
    lb = [int(i) for i in np.argsort(((x - b) ** 2).sum(1))[:30]]
    body = {"prefetch": [{"query": av, "limit": 30}, {"query": bv, "limit": 30}],
            "query": {"fusion": "rrf"}, "limit": 10, "params": exact, "with_payload": True}
    got = s.ok("POST", "/collections/q/points/query", body)["points"]
    want = rrf([la, lb])[:10]
    eq([p["id"] for p in got], want, "rrf order")
    check(abs(got[0]["score"] - sum(1.0 / (60 + lst.index(want[0]) + 1)
                                    for lst in (la, lb) if want[0] in lst)) < 1e-6, "rrf score")
    check(all("group" in p["payload"] for p in got), "payloads")
    # prefetch + dbsf equals Qdrant's distribution-based fusion computed here: each list's
    # scores (-distance, higher is better) mapped by (s - (mean - 3 sd)) / (6 sd), clamped
    # to [0, 1], summed over the lists.
    sq = lambda v, ids: [-float(np.sqrt(((x[i] - v) ** 2).sum())) for i in ids]
    fused = {}
    for ids, sc in ((la, sq(a, la)), (lb, sq(b, lb))):
        mu, sd = float(np.mean(sc)), float(np.std(sc))
        for i, v in zip(ids, sc):
            fused[i] = fused.get(i, 0.0) + min(1.0, max(0.0, (v - (mu - 3 * sd)) / (6 * sd)))
    want = sorted(fused, key=lambda i: (-fused[i], i))[:10]
    got = s.ok("POST", "/collections/q/points/query", dict(body, query={"fusion": "dbsf"}))["points"]
    # (float32 distances in the engine: near-ties may swap, so compare scores, not ids)
    eq(len(got), 10)
    for p, w in zip(got, want):
        check(abs(p["score"] - fused[w]) < 1e-4 and abs(fused[p["id"]] - fused[w]) < 1e-4,
              "dbsf: %r at the place of %d (%.6f)" % (p, w, fused[w]))
    # The request's filter applies to every prefetch, with each prefetch's own.
    body["filter"] = {"must": [{"key": "group", "match": {"value": 2}}]}
    body["prefetch"][0]["filter"] = {"must_not": [{"has_id": [la[0]]}]}
    got = s.ok("POST", "/collections/q/points/query", body)["points"]
    check(got and all(p["payload"]["group"] == 2 for p in got), "filtered")
    la2 = [i for i in np.argsort(((x - a) ** 2).sum(1)) if i % 5 == 2 and i != la[0]][:30]
    lb2 = [i for i in np.argsort(((x - b) ** 2).sum(1)) if i % 5 == 2][:30]
    eq([p["id"] for p in got], rrf([[int(i) for i in la2], [int(i) for i in lb2]])[:10])
    # One prefetch without a query is that search.
    got = s.ok("POST", "/collections/q/points/query",
               {"prefetch": {"query": av, "limit": 50}, "limit": 3, "params": exact})
    eq([p["id"] for p in got["points"]], truth[:3])
    # Bad input.
    for body, words in [
            ({"query": {"fusion": "nope"}, "prefetch": [{"query": av}]}, ["nope"]),
            ({"query": {"fusion": "convex"}, "prefetch": [{"query": av}] * 3}, ["two lists"]),
            ({"query": {"fusion": "rrf"}}, ["prefetch"]),
            ({"query": {"recommend": {"positive": [1]}}}, ["recommend"]),
            ({"query": 5}, ["point id"]),
            ({"prefetch": [{"query": av}, {"query": bv}]}, ["fusion"]),
            ({"prefetch": [{"query": av}], "query": bv}, ["fusion"]),
            ({"prefetch": [{"query": [1.0, 2.0]}], "query": {"fusion": "rrf"}}, ["prefetch[0]", "dim"]),
            ({"prefetch": [{"query": av, "prefetch": []}], "query": {"fusion": "rrf"}}, ["nested"]),
            ({"prefetch": [{"limit": 3}], "query": {"fusion": "rrf"}}, ["prefetch[0]", "query"]),
            ({"prefetch": [], "query": {"fusion": "rrf"}}, ["empty"]),
            ({"query": av, "using": "dense"}, ["using"]),
            ({}, ["query"])]:
        s.bad("POST", "/collections/q/points/query", body, 400, words)
    s.bad("POST", "/collections/none/points/query", {"query": av}, 404, ["none"])


# ---- quantization ----

@serving
def test_quantize_codebooks_quality(s, tmp):
    fill(s, "qz", n=2000, dim=16)
    eq(s.ok("GET", "/hektor/codebooks"), [])
    job = s.ok("POST", "/hektor/collections/qz/quantize?wait=true",
               {"method": "sq8", "codebook": "qz-sq8", "rerank": 50})["job"]
    eq((job["kind"], job["state"], job["progress"]), ("quantize", "done", 1.0), "job: %r" % job)
    eq(job["result"]["method"], "sq8")
    eq(job["result"]["code_bytes"], 16)
    eq(job["result"]["codebook"], "qz-sq8")
    st = s.ok("GET", "/hektor/collections/qz/stats")["quantization"]
    eq((st["method"], st["code_bytes"], st["rerank"], st["codebook"]), ("sq8", 16, 50, "qz-sq8"))
    books = s.ok("GET", "/hektor/codebooks")
    eq([(b["name"], b["method"], b["dim"], b["metric"]) for b in books], [("qz-sq8", "sq8", 16, "l2")])
    q = s.ok("GET", "/hektor/collections/qz/quality?sample=1000&queries=50&per_dim=true")
    eq((q["method"], q["codebook"], q["vectors"], q["queries"]), ("sq8", "qz-sq8", 1000, 50))
    check(q["recall_rerank"] >= 0.95, "sq8 recall after re-ranking: %r" % q["recall_rerank"])
    check(0 < q["mse"] < 0.01, "sq8 mse on unit-variance data: %r" % q["mse"])
    eq(len(q["per_dim_mse"]), 16)
    # The event stream names the codes.
    ev = Events(s)
    coll = [c for c in ev.next()[1]["collections"] if c["name"] == "qz"]
    eq(coll[0]["quantization"], "sq8")
    ev.close()
    # Searches still find exact neighbours through the codes.
    x = np.array(s.ok("POST", "/collections/qz/points", {"ids": [3], "with_vector": True})[0]["vector"])
    eq(s.ok("POST", "/hektor/collections/qz/search", {"vector": list(x), "k": 1})["points"][0]["id"], 3)
    # PQ replaces the codes; the stored codebook is not replaced without replace=true.
    job = s.ok("POST", "/hektor/collections/qz/quantize?wait=true",
               {"method": "pq", "pq_m": 4, "codebook": "qz-sq8"})["job"]
    eq(job["state"], "failed")
    contains(job["message"], "qz-sq8")
    eq(s.ok("GET", "/hektor/collections/qz/stats")["quantization"]["method"], "sq8")
    job = s.ok("POST", "/hektor/collections/qz/quantize?wait=true",
               {"method": "pq", "pq_m": 4, "pq_bits": 8, "seed": 3})["job"]
    eq((job["state"], job["result"]["code_bytes"], job["result"]["codebook"]), ("done", 4, None))
    # Bad input.
    for body, words in [({}, ["method"]), ({"method": "zz"}, ["zz"]), ({"method": "none"}, ["DELETE"]),
                        ({"method": "sq8", "curve": "wobbly"}, ["wobbly"]),
                        ({"method": "sq8", "bits": 3}, ["bits"]),
                        ({"method": "pq", "pq_bits": 9}, ["pq_bits"]),
                        ({"method": "sq8", "curve_param": "high"}, ["curve_param"])]:
        s.bad("POST", "/hektor/collections/qz/quantize", body, 400, words)
    job = s.ok("POST", "/hektor/collections/qz/quantize?wait=true", {"method": "pq", "pq_m": 5})["job"]
    eq(job["state"], "failed")
    contains(job["message"], "5")
    s.bad("POST", "/hektor/collections/none/quantize", {"method": "sq8"}, 404, ["none"])
    s.bad("GET", "/hektor/collections/qz/quality?sample=1", status=400, words=["sample"])
    s.bad("GET", "/hektor/collections/qz/quality?k=zero", status=400, words=["k"])
    # Dropping the codes.
    eq(s.ok("DELETE", "/hektor/collections/qz/quantize"), True)
    eq(s.ok("GET", "/hektor/collections/qz/stats")["quantization"], None)
    s.bad("DELETE", "/hektor/collections/qz/quantize", status=404, words=["no codes"])
    s.bad("GET", "/hektor/collections/qz/quality", status=404, words=["quantize it first"])


@serving
def test_quantize_cancel(s, tmp):
    fill(s, "qc", n=6000, dim=32)
    body = {"method": "opq", "pq_m": 8, "iterations": 500, "opq_iterations": 100}
    job = s.ok("POST", "/hektor/collections/qc/quantize", body)["job"]
    deadline = time.monotonic() + 60 * SLOW
    while time.monotonic() < deadline:
        j = s.ok("GET", "/hektor/jobs/" + job["id"])["job"]
        if j["state"] == "running" and j["message"].startswith("training"):
            break
        time.sleep(0.01)
    eq(j["state"], "running", "job: %r" % j)
    s.ok("DELETE", "/hektor/jobs/" + job["id"])
    j = wait_job(s, job["id"])
    eq(j["state"], "cancelled", "job: %r" % j)
    check(j["finished"] is not None, "finished")
    eq(s.ok("GET", "/hektor/collections/qc/stats")["quantization"], None)


# ---- index builds ----

def search_recall(s, name, x, queries, k=10):
    """recall@k of /collections/{name}/points/search against numpy brute force (l2)."""
    hit = 0
    for q in queries:
        got = [p["id"] for p in s.ok("POST", "/collections/%s/points/search" % name,
                                     {"vector": [float(v) for v in q], "limit": k})]
        want = np.argsort(((x - q) ** 2).sum(axis=1))[:k]
        hit += len(set(got) & set(int(i) for i in want))
    return hit / (k * len(queries))


@test
def test_index_build(tmp):
    db = tmp("db")
    s = Server(tmp, db)
    try:
        x = fill(s, "ix", n=3000, dim=16)
        queries = np.random.default_rng(7).standard_normal((40, 16)).astype(np.float32)
        for body, words in [({}, ["kind"]), ({"kind": "ivf"}, ["ivf"]), ({"kind": 3}, ["kind"]),
                            ({"kind": "flat", "m": 8}, ["flat"]), ({"kind": "hnsw", "m": 1}, ["'m'"]),
                            ({"kind": "hnsw", "m": 500}, ["'m'"]),
                            ({"kind": "hnsw", "ef_construction": 0}, ["ef_construction"]),
                            ({"kind": "hnsw", "ef": 10}, ["unknown member 'ef'"])]:
            s.bad("POST", "/hektor/collections/ix/index", body, 400, words)
        s.bad("POST", "/hektor/collections/ix/index?wait=maybe", {"kind": "flat"}, 400, ["wait"])
        s.bad("POST", "/hektor/collections/none/index", {"kind": "flat"}, 404, ["none"])
        eq(s.ok("GET", "/hektor/collections/ix/stats")["index"]["kind"], "hnsw")
        job = s.ok("POST", "/hektor/collections/ix/index?wait=true", {"kind": "flat"})["job"]
        eq((job["kind"], job["state"], job["progress"], job["result"]["kind"]),
           ("build", "done", 1.0, "flat"), "job: %r" % job)
        eq(s.ok("GET", "/hektor/collections/ix/stats")["index"]["kind"], "flat")
        eq(search_recall(s, "ix", x, queries), 1.0)  # exact
        job = s.ok("POST", "/hektor/collections/ix/index?wait=true",
                   {"kind": "hnsw", "m": 8, "ef_construction": 64})["job"]
        eq((job["state"], job["result"]["kind"], job["result"]["m"], job["result"]["ef_construction"]),
           ("done", "hnsw", 8, 64), "job: %r" % job)
        ix = s.ok("GET", "/hektor/collections/ix/stats")["index"]
        eq((ix["kind"], ix["m"], ix["ef_construction"]), ("hnsw", 8, 64))
        r = search_recall(s, "ix", x, queries)
        check(r >= 0.9, "recall@10 after the rebuild: %.3f" % r)
        check(any(j["id"] == job["id"] and j["kind"] == "build" for j in s.ok("GET", "/hektor/jobs")),
              "the build is listed in /hektor/jobs")
        ev = Events(s)
        jobs = ev.next()[1]["jobs"]
        ev.close()
        check(any(j["id"] == job["id"] and j["kind"] == "build" for j in jobs),
              "the build is in the event stream: %r" % jobs)
        eq(s.stop(), 0)
    except BaseException:
        s.kill()
        raise
    # The new settings and graph survive a restart.
    s = Server(tmp, db)
    try:
        ix = s.ok("GET", "/hektor/collections/ix/stats")["index"]
        eq((ix["kind"], ix["m"], ix["ef_construction"]), ("hnsw", 8, 64))
        r = search_recall(s, "ix", x, queries)
        check(r >= 0.9, "recall@10 after a restart: %.3f" % r)
        eq(s.stop(), 0)
    except BaseException:
        s.kill()
        raise


@serving
def test_index_build_cancel(s, tmp):
    x = fill(s, "ic", n=20000, dim=32)
    job = s.ok("POST", "/hektor/collections/ic/index",
               {"kind": "hnsw", "m": 48, "ef_construction": 800})["job"]
    deadline = time.monotonic() + 60 * SLOW
    while time.monotonic() < deadline:
        j = s.ok("GET", "/hektor/jobs/" + job["id"])["job"]
        if j["state"] == "running" and j["done"] > 0:
            break
        time.sleep(0.01)
    eq(j["state"], "running", "job: %r" % j)
    # Searches keep working on the old index during the build.
    q = x[5]
    eq(s.ok("POST", "/collections/ic/points/search", {"vector": [float(v) for v in q], "limit": 1})[0]["id"], 5)
    s.ok("DELETE", "/hektor/jobs/" + job["id"])
    j = wait_job(s, job["id"])
    eq(j["state"], "cancelled", "job: %r" % j)
    contains(j["message"], "old index is unchanged")
    ix = s.ok("GET", "/hektor/collections/ic/stats")["index"]
    eq((ix["kind"], ix["m"], ix["ef_construction"]), ("hnsw", 16, 200))


# ---- statistics ----

@serving
def test_collection_stats(s, tmp):
    fill(s, "st", n=50, dim=4, distance="Dot")
    s.ok("PUT", "/collections/st/index", {"field_name": "group", "field_schema": "integer"})
    st = s.ok("GET", "/hektor/collections/st/stats")
    eq(st["name"], "st")
    eq((st["points"], st["dim"], st["metric"]), (50, 4, "ip"))
    eq(st["index"], {"kind": "hnsw", "m": 16, "ef_construction": 200, "ef_search": 64})
    eq(st["text"], None)
    eq(st["quantization"], None)
    check(st["memory_bytes"] > 50 * 4 * 4, "memory bytes")
    check(st["disk_bytes"] > 0, "disk bytes")
    eq(st["payload_indexes"], [{"field": "group", "type": "integer"}])
    s.bad("GET", "/hektor/collections/none/stats", status=404, words=["none"])
    s.bad("POST", "/hektor/collections/st/stats", status=405)
    s.bad("GET", "/hektor/nothing", status=404, words=["no route"])


# ---- Studio files ----

@test
def test_studio_files(tmp):
    root = tmp("site")
    studio = os.path.join(root, "dist")
    os.makedirs(os.path.join(studio, "assets"))
    with open(os.path.join(studio, "index.html"), "w") as f:
        f.write("<!doctype html><title>Studio</title>")
    with open(os.path.join(studio, "assets", "app-1.js"), "w") as f:
        f.write("console.log(1)")
    with open(os.path.join(root, "secret.txt"), "w") as f:
        f.write("do not serve")
    os.symlink(os.path.join(root, "secret.txt"), os.path.join(studio, "link.txt"))
    s = Server(tmp, tmp("db"), "--studio", studio, "--api-key", "k")
    try:
        status, h, body = raw(s, "GET", "/studio/")
        eq(status, 200)
        contains(h["content-type"], "text/html")
        contains(body.decode(), "<title>Studio</title>")
        status, h, body = raw(s, "GET", "/studio/assets/app-1.js")
        eq((status, body), (200, b"console.log(1)"))
        contains(h["content-type"], "javascript")
        # Client-side routes get the application; missing files with an extension do not.
        status, h, body = raw(s, "GET", "/studio/search/workbench")
        eq(status, 200)
        contains(body.decode(), "Studio")
        eq(raw(s, "GET", "/studio/missing.js")[0], 404)
        # Nothing outside the directory, by '..' (plain or encoded) or by a symlink.
        for path in ("/studio/../secret.txt", "/studio/assets/../../secret.txt",
                     "/studio/%2e%2e/secret.txt", "/studio/..%2fsecret.txt"):
            status, _, body = raw(s, "GET", path)
            check(status in (400, 404), "%s -> %d" % (path, status))
            check(b"do not serve" not in body, "%s served the secret" % path)
        status, _, body = raw(s, "GET", "/studio/link.txt")
        eq(status, 404)
        check(b"do not serve" not in body, "symlink out of the directory")
        eq(raw(s, "POST", "/studio/")[0], 405)
        # Browsers asking for / go to the Studio; API clients get the version document.
        status, h, _ = raw(s, "GET", "/", headers={"Accept": "text/html,application/xhtml+xml"})
        eq((status, h.get("location")), (302, "/studio/"))
        status, _, body = raw(s, "GET", "/")
        eq(status, 200)
        contains(body.decode(), '"version"')
        eq(raw(s, "GET", "/studio")[1].get("location"), "/studio/")
    except BaseException:
        s.kill()
        raise
    eq(s.stop(), 0)
    # Without a built Studio: 404 saying how to build one.
    s = Server(tmp, tmp("db2"), "--studio", root)
    try:
        s.bad("GET", "/studio/", status=404, words=["not built", "npm run build"])
    except BaseException:
        s.kill()
        raise
    eq(s.stop(), 0)
    r = run(["serve", "--port", "0", "--studio", tmp("absent")], db=tmp("db3"))
    eq(r.rc, 2)
    contains(r.err, "--studio")
    contains(run(["serve", "--help"]).out, "--studio DIR")


# ---- OpenAPI ----

@serving
def test_openapi(s, tmp):
    status, h, body = raw(s, "GET", "/openapi.json")
    eq(status, 200)
    doc = json.loads(body)
    eq(doc["openapi"], "3.0.3")
    schemas = doc["components"]["schemas"]
    paths = doc["paths"]
    # Every route this file and test_server.py call is documented with its method.
    for method, path in [("get", "/collections"), ("put", "/collections/{collection_name}"),
                         ("post", "/collections/{collection_name}/points/search"),
                         ("get", "/collections/{collection_name}/points/{id}"),
                         ("get", "/hektor/events"), ("get", "/hektor/jobs"),
                         ("get", "/hektor/jobs/{job_id}"), ("delete", "/hektor/jobs/{job_id}"),
                         ("post", "/hektor/collections/{collection_name}/import"),
                         ("post", "/hektor/collections/{collection_name}/search"),
                         ("get", "/hektor/collections/{collection_name}/stats"),
                         ("get", "/studio/{path}"), ("get", "/openapi.json"), ("get", "/metrics")]:
        check(path in paths and method in paths[path], "%s %s not in /openapi.json" % (method, path))
    refs = []

    def walk(v):
        if isinstance(v, dict):
            for k, x in v.items():
                if k == "$ref":
                    refs.append(x)
                else:
                    walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
    walk(doc)
    check(len(refs) > 50, "schemas referenced")
    for ref in refs:
        check(ref.startswith("#/components/schemas/") and ref.split("/")[-1] in schemas,
              "unresolved $ref %s" % ref)
    for path, ops in paths.items():
        names = [p["name"] for op in ops.values() for p in op["parameters"] if p["in"] == "path"]
        for name in names:
            contains(path, "{%s}" % name)
    imp = paths["/hektor/collections/{collection_name}/import"]["post"]
    check({"format", "create", "wait"} <= {p["name"] for p in imp["parameters"]}, "import parameters")


@serving
def test_embedding(s, tmp):
    """The built-in text embedding over HTTP: POST /hektor/embed, import with embed=true,
    search with embed and embed_only. Skipped (with the reason) without the GloVe table."""
    r = run(["embeddings", "info"])
    if r.rc != 0:
        check("not found" in r.err, "embeddings info: %r" % r)
        print("test_embedding: skipped: %s" % r.err.strip())
        return
    got = s.ok("POST", "/hektor/embed", {"texts": ["aircraft wing flutter", "zzqxv qqxzv"]})
    eq(got["dim"], 100)
    eq(len(got["vectors"]), 2)
    check(got["known_words"][0] == 3 and got["known_words"][1] == 0, "known words %r" % got["known_words"])
    check(abs(np.linalg.norm(got["vectors"][0]) - 1) < 1e-4, "unit length")
    eq(got["vectors"][1], [0.0] * 100)
    s.bad("POST", "/hektor/embed", {"texts": []}, 400, ["texts"])
    s.bad("POST", "/hektor/embed", {"texts": [3]}, 400, ["texts[0]"])
    s.bad("POST", "/hektor/embed", {"text": "x"}, 400, ["text"])
    air = ["aircraft wing lift at supersonic speed", "airplane wings and the drag of an airfoil",
           "jet engine thrust of a fighter aircraft", "pilot flies the airplane through turbulence",
           "helicopter rotor blades in forward flight", "the aeroplane landed on the runway"]
    food = ["cook the pasta in salted boiling water", "tomato sauce with garlic and basil",
            "bake the bread in a hot oven", "a recipe for chocolate cake with cream",
            "fry the onions in olive oil", "season the soup with pepper and salt"]
    lines = [json.dumps({"id": i, "text": t}) for i, t in enumerate(air + food)]
    job = import_file(s, "emb", ("\n".join(lines) + "\n").encode(),
                      "format=jsonl&create=true&embed=true&wait=true")
    eq(job["state"], "done", "job: %r" % job)
    eq(job["result"]["points"], 12)
    info = s.ok("GET", "/collections/emb")
    eq(info["config"]["params"]["vectors"]["size"], 100)
    eq(info["config"]["params"]["vectors"]["distance"], "Cosine")
    # Meaning: neither query shares a word with the documents it should find first.
    hits = s.ok("POST", "/hektor/collections/emb/search",
                {"text": "planes flying", "embed_only": True, "k": 3, "exact": True})["points"]
    check(all(p["id"] < 6 for p in hits), "planes -> aircraft texts: %r" % hits)
    hits = s.ok("POST", "/hektor/collections/emb/search",
                {"text": "spaghetti dinner", "embed_only": True, "k": 3, "exact": True})["points"]
    check(all(p["id"] >= 6 for p in hits), "spaghetti -> cooking texts: %r" % hits)
    # Hybrid: BM25 on "runway" plus the embedding, fused by every method.
    for fusion in ({"method": "rrf"}, {"method": "convex", "weight": 0.3}, {"method": "dbsf"}):
        hits = s.ok("POST", "/hektor/collections/emb/search",
                    {"text": "runway", "embed": True, "k": 3, "exact": True, "fusion": fusion})["points"]
        eq(hits[0]["id"], 5, "hybrid %r: the runway text first" % fusion)
    s.bad("POST", "/hektor/collections/emb/search", {"text": "x", "embed": True, "vector": [0.0] * 100},
          400, ["embed"])
    s.bad("POST", "/hektor/collections/emb/search", {"text": "zzqxv", "embed_only": True}, 400,
          ["vocabulary"])
    s.bad("POST", "/hektor/collections/emb/search", {"text": "wing", "expand": {"method": "rm4"}},
          400, ["rm3"])
    s.bad("POST", "/hektor/collections/emb/search",
          {"text": "wing", "embed": True, "fusion": {"method": "rrf", "weight": 0.5}}, 400, ["weight"])
    eq(len(s.ok("POST", "/hektor/collections/emb/search",
                {"text": "wing", "expand": {"method": "rm3", "fb_docs": 3}})["points"]) > 0, True)
    eq([p["id"] for p in s.ok("POST", "/hektor/collections/emb/search",
                              {"text": "tomato sauce", "match": "phrase"})["points"]], [7])
    # A collection of another dimension, and a file without text.
    fill(s, "d8", n=20, dim=8)
    s.bad("POST", "/hektor/collections/d8/search", {"text": "wing", "embed_only": True}, 400,
          ["dimension"])
    s.bad("POST", "/hektor/collections/d8/import?format=jsonl&embed=true", None, 400, ["dimension"],
          raw=b'{"id": 1, "text": "wing"}\n')
    s.bad("POST", "/hektor/collections/emb/import?format=fvecs&embed=true", None, 400, ["embed"],
          raw=b"\0\0\0\0")


@serving
def test_feedback_and_synonyms(s, tmp):
    """Examples in /hektor/ search (average_vector, best_score, Rocchio on vectors and text)
    against numpy and the Qdrant recommend route; the synonyms routes."""
    x = fill(s, "fb", n=300, dim=12, seed=9).astype(np.float64)
    d = lambda v: np.sqrt(((x - v) ** 2).sum(1))
    order = lambda v, skip: [int(i) for i in np.argsort(d(v), kind="stable") if i not in skip]
    # average_vector: avg(positive) + (avg(positive) - avg(negative)), examples left out
    got = s.ok("POST", "/hektor/collections/fb/search",
               {"positive": [3, 5], "negative": [7], "k": 5, "exact": True})["points"]
    v = 2 * x[[3, 5]].mean(0) - x[7]
    eq([p["id"] for p in got], order(v, {3, 5, 7})[:5], "average_vector")
    # best_score: the same answer as the Qdrant recommend route's
    got = s.ok("POST", "/hektor/collections/fb/search",
               {"positive": [3], "negative": [7], "strategy": "best_score", "k": 5})["points"]
    rec = s.ok("POST", "/collections/fb/points/recommend",
               {"positive": [3], "negative": [7], "strategy": "best_score", "limit": 5})
    eq([p["id"] for p in got], [r["id"] for r in rec], "best_score as recommend")
    # Rocchio on a vector: alpha q + beta avg(positive) - gamma avg(negative)
    q = x[11] * 0.5
    got = s.ok("POST", "/hektor/collections/fb/search",
               {"vector": [float(t) for t in q], "positive": [20, 21], "negative": [22],
                "rocchio": {"alpha": 1, "beta": 0.5, "gamma": 0.25}, "k": 6, "exact": True})["points"]
    v = q + 0.5 * x[[20, 21]].mean(0) - 0.25 * x[22]
    eq([p["id"] for p in got], order(v, {20, 21, 22})[:6], "rocchio vector")
    plain = s.ok("POST", "/hektor/collections/fb/search",
                 {"vector": [float(t) for t in q], "k": 6, "exact": True})["points"]
    check([p["id"] for p in plain] != [p["id"] for p in got], "the examples changed the answer")
    # Bad input names the problem.
    s.bad("POST", "/hektor/collections/fb/search", {"vector": [0.0] * 12, "strategy": "rocchio"},
          400, ["positive"])
    s.bad("POST", "/hektor/collections/fb/search", {"positive": [1], "strategy": "best"}, 400,
          ["strategy"])
    s.bad("POST", "/hektor/collections/fb/search", {"negative": [1]}, 400, ["positive"])
    s.bad("POST", "/hektor/collections/fb/search", {"positive": [1], "vector": [0.0] * 12,
                                                   "strategy": "average_vector"}, 400, ["vector"])
    s.bad("POST", "/hektor/collections/fb/search", {"positive": [1], "strategy": "best_score",
                                                   "rocchio": {"beta": 1}}, 400, ["rocchio"])
    s.bad("POST", "/hektor/collections/fb/search", {"vector": [0.0] * 12, "positive": [1],
                                                   "rocchio": {"beta": -1}}, 400, ["rocchio.beta"])
    s.bad("POST", "/hektor/collections/fb/search", {"positive": [99999]}, 404, ["99999"])
    s.bad("POST", "/hektor/collections/fb/search", {"positive": "1"}, 400, ["positive"])
    # Text: synonyms and Rocchio on terms.
    texts = ["the car engine", "a fast car", "automobile insurance", "red bicycle", "bicycle race",
             "car and bicycle", "apple pie", "banana bread"]
    lines = [json.dumps({"id": i, "text": t}) for i, t in enumerate(texts)]
    job = import_file(s, "tx", ("\n".join(lines) + "\n").encode(), "format=jsonl&create=true&wait=true")
    eq(job["state"], "done", "job: %r" % job)
    hits = lambda body: [p["id"] for p in s.ok("POST", "/hektor/collections/tx/search", body)["points"]]
    eq(hits({"text": "automobile"}), [2], "before synonyms")
    eq(s.ok("GET", "/hektor/collections/tx/synonyms"), {"text": "", "groups": []})
    got = s.ok("PUT", "/hektor/collections/tx/synonyms", {"groups": [["automobile", "car"],
                                                                    ["bike", "bicycle"]]})
    eq(got["groups"], [["automobile", "car"], ["bike", "bicycle"]])
    eq(sorted(hits({"text": "automobile"})), [0, 1, 2, 5], "automobile finds car through the synonyms")
    eq(sorted(hits({"text": "bike"})), [3, 4, 5])
    got = s.ok("PUT", "/hektor/collections/tx/synonyms", {"text": "# vehicles\nauto, car\n"})
    eq(got["groups"], [["auto", "car"]])
    eq(hits({"text": "automobile"}), [2], "the list was replaced")
    s.bad("PUT", "/hektor/collections/tx/synonyms", {"groups": [["solo"]]}, 400, ["groups[0]"])
    s.bad("PUT", "/hektor/collections/tx/synonyms", {"groups": [["a,b", "c"]]}, 400, ["groups[0][0]"])
    s.bad("PUT", "/hektor/collections/tx/synonyms", {"text": "a, b", "groups": []}, 400, ["one of"])
    s.bad("PUT", "/hektor/collections/tx/synonyms", {"list": "a, b"}, 400, ["list"])
    s.bad("PUT", "/hektor/collections/tx/synonyms", {"text": "auto, car\nbike, red bicycle\n"}, 400,
          ["line 2"])
    # A NUL inside the JSON string is refused, never a list silently cut at it.
    s.bad("PUT", "/hektor/collections/tx/synonyms", {"text": "auto, car\u0000\nbike, bicycle\n"},
          400, ["text"])
    s.bad("PUT", "/hektor/collections/tx/synonyms", {"groups": [["auto", "car\u0000x"]]}, 400,
          ["groups[0][1]"])
    eq(s.ok("GET", "/hektor/collections/tx/synonyms")["groups"], [["auto", "car"]], "unchanged after a bad list")
    eq(s.ok("DELETE", "/hektor/collections/tx/synonyms"), True)
    eq(s.ok("GET", "/hektor/collections/tx/synonyms")["groups"], [])
    s.bad("GET", "/hektor/collections/nope/synonyms", None, 404, ["nope"])
    # Rocchio on terms: feedback from "red bicycle" brings in the other bicycle texts
    eq(hits({"text": "red"}), [3])
    got = hits({"text": "red", "positive": [3], "k": 8})
    check(3 not in got and {4, 5} <= set(got), "rocchio text: %r" % got)


if __name__ == "__main__":
    main()
