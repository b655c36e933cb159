#!/usr/bin/env python3
"""bench_server.py — `hektor serve` under wrk on loopback, beside the same work through the
library directly: search and upsert throughput and latency p50/p99 at 1, 16 and 100
connections, and the HTTP overhead.

Data: --n clustered 128-d vectors (bench.py's generator) and --nq queries, one HNSW
collection (m 16, ef_construction 200, l2). The server gets them through its import route
(POST /hektor/collections/bench/import, one job); the library side is bench/bench_hektor
on the same files: single queries one after another on one thread (the 1-connection
peer) and one batch search over every core (the peer of many connections), and upserts of
--upsert-batch points per hk_upsert, durable.

wrk (Debian's) runs --seconds per point with min(connections, 2) threads; a Lua script
cycles through the queries (search: POST /collections/bench/points/search, limit 10) or
writes --upsert-batch new points per request (PUT /collections/bench/points, fresh ids per
thread, request and run: no run overwrites an earlier run's points, as the library's
peer writes new points too). Errors are wrk's socket errors and non-2xx answers; the goal is none
at 100 connections. HTTP overhead = (HTTP p50 at 1 connection - library p50) / HTTP p50;
the goal is under 20% for 128-d k=10 HNSW queries. The server's request log gives each
request's time inside the server (from its arrival to its answer being queued): its p50
at one connection splits the overhead into the server's own work (JSON, routing, the
answer) and the transport (loopback TCP, libmicrohttpd's I/O, wrk). The block records
the load average and the CPU other processes used during the run (the machine may be
shared).

The floor, measured in the same run just before the searches at one connection: what a
round trip costs on this machine when the server does nothing. bench/tcp_pingpong (built
into build/bench/) sends a request of a search's size over one loopback TCP connection
and waits for an answer of its answer's size, both sides blocking in recv() as the
server's connection thread and wrk do (the sizes are a real search's, request line and
headers as wrk sends them, answer with libmicrohttpd's headers); and wrk at one connection
asks the server for GET /healthz (an empty request through libmicrohttpd and the router).
From each floor the block computes the overhead a server whose own work took no time
would show: floor / (floor + library p50). When that is over 20%, the goal cannot be met
on the machine with blocking I/O, whatever the server does. The floor depends on how idle
the machine is: a sleeping virtual CPU is slow to wake, a busy one is not.

--busy-poll-us N adds, after everything else, searches and /healthz at one connection
against a second server on the same database started with `--busy-poll-us N` (after a
response its connection thread spins up to N us for the next request instead of
sleeping); the block says whether that was run, and no other figure uses it.

Writes the <!-- server --> block of docs/BENCHMARKS.md (--out to write elsewhere) through
bench.py's write_block. It measures speed: run it on a quiet machine.
usage: /usr/bin/python3 bench/bench_server.py [--n 100000] [--nq 1000] [--seconds 10]
       [--busy-poll-us N]
"""
import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import bench  # noqa: E402

DIM = 128
CONNS = (1, 16, 100)

SEARCH_LUA = """
local bodies = {}
local i = 0
function init(args)
  local f = io.open("%(queries)s")
  for line in f:lines() do bodies[#bodies + 1] = line end
  f:close()
  i = math.random(#bodies)
end
request = function()
  i = i %% #bodies + 1
  return wrk.format("POST", "/collections/bench/points/search",
                    {["Content-Type"] = "application/json"}, bodies[i])
end
"""

UPSERT_LUA = """
local dim, batch = %(dim)d, %(batch)d
local next_id = 0
local threads = 0
function setup(thread)
  thread:set("first", %(base)d + threads * 10000000)
  threads = threads + 1
end
function init(args)
  next_id = first
end
request = function()
  local pts = {}
  for p = 1, batch do
    local v = {}
    for d = 1, dim do v[d] = string.format("%%.4f", math.random() * 2 - 1) end
    pts[p] = '{"id":' .. next_id .. ',"vector":[' .. table.concat(v, ",") .. ']}'
    next_id = next_id + 1
  end
  return wrk.format("PUT", "/collections/bench/points?wait=true",
                    {["Content-Type"] = "application/json"}, '{"points":[' .. table.concat(pts, ",") .. ']}')
end
"""


def write_fvecs(path, x):
    x = np.ascontiguousarray(x, dtype=np.float32)
    rows = np.empty((x.shape[0], x.shape[1] + 1), dtype=np.int32)
    rows[:, 0] = x.shape[1]
    rows[:, 1:] = x.view(np.int32)
    rows.tofile(path)


def http(url, method, path, body=None, data=None, timeout=3600):
    if body is not None:
        data = json.dumps(body).encode()
    req = urllib.request.Request(url + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())["result"]


def parse_ms(s):
    m = re.match(r"([\d.]+)(us|ms|s)", s)
    v = float(m.group(1))
    return v / 1000 if m.group(2) == "us" else v * 1000 if m.group(2) == "s" else v


def wrk(url, script, conns, seconds, path=""):
    """wrk against url + path, with the Lua script when one is given."""
    cmd = ["wrk", "-t", str(min(conns, 2)), "-c", str(conns), "-d", "%ds" % seconds, "--latency"]
    cmd += ["-s", script] if script else []
    cmd += [url + path]
    bench.log("  $ " + " ".join(cmd))
    out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         timeout=seconds + 120).stdout
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M))
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not rps or "50" not in lat:
        raise SystemExit("bench_server: cannot read wrk's output:\n" + out)
    errors = 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        errors += sum(int(x) for x in m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        errors += int(m.group(1))
    reqs = re.search(r"(\d+) requests in", out)
    return {"rps": float(rps.group(1)), "p50_ms": parse_ms(lat["50"]), "p99_ms": parse_ms(lat["99"]),
            "errors": errors, "requests": int(reqs.group(1)) if reqs else 0}


def log_p50(path, start, what):
    """p50 in ms of the request log's times for lines containing what, from byte start."""
    with open(path, "rb") as f:
        f.seek(start)
        ms = sorted(float(m.group(1)) for m in re.finditer(
            rb"^hektor: \S+ \S*" + re.escape(what.encode()) + rb"\S* 200 ([\d.]+) ms$", f.read(), re.M))
    return ms[len(ms) // 2] if ms else float("nan")


def wire_sizes(url, bodies):
    """Median bytes on the wire of a search request as wrk sends it (request line, Host,
    Content-Type and Content-Length headers, body) and of the server's whole answer
    (status line, headers, body), over one kept-alive connection."""
    m = re.match(r"http://([^:/]+):(\d+)", url)
    host, port = m.group(1), int(m.group(2))
    reqs, resps = [], []
    with socket.create_connection((host, port)) as sock:
        f = sock.makefile("rb")
        for body in bodies:
            b = body.encode()
            req = ("POST /collections/bench/points/search HTTP/1.1\r\nHost: %s:%d\r\n"
                   "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (
                       host, port, len(b))).encode() + b
            sock.sendall(req)
            head = b""
            while not head.endswith(b"\r\n\r\n"):
                line = f.readline()
                if not line:
                    raise SystemExit("bench_server: the server closed the connection")
                head += line
            n = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))
            answer = f.read(n)
            if not head.startswith(b"HTTP/1.1 200"):
                raise SystemExit("bench_server: a search answered %r" % (head + answer)[:300])
            reqs.append(len(req))
            resps.append(len(head) + n)
    return int(statistics.median(reqs)), int(statistics.median(resps))


def serve(build, db, extra=()):
    log = open(db + ".log", "ab")
    p = subprocess.Popen([os.path.join(build, "hektor"), "--db", db, "serve", "--port", "0",
                          "--max-body", str(1 << 31)] + list(extra), stdout=subprocess.PIPE,
                         stderr=log)
    line = p.stdout.readline().decode()
    m = re.match(r"hektor: serving (http://\S+)", line)
    if not m:
        p.kill()
        raise SystemExit("bench_server: serve printed %r" % line)
    return p, m.group(1)


def busy_text(args, floor, lib_p50):
    if not args.busy_poll_us:
        return ("Busy polling: not used (every figure above is from a server without "
                "`--busy-poll-us`, its default; rerun with --busy-poll-us N to time it).")
    s, h = floor["busy_search"], floor["busy_healthz"]
    return ("Busy polling (`hektor serve --busy-poll-us %d`, a second server on the same "
            "database after the runs above; no other figure uses it): searches at one "
            "connection p50 %.3f ms, p99 %.3f ms, %.0f requests/s, %d errors (HTTP overhead "
            "%.1f%%); GET /healthz p50 %.3f ms, p99 %.3f ms." % (
                args.busy_poll_us, s["p50_ms"], s["p99_ms"], s["rps"], s["errors"],
                100 * (s["p50_ms"] - lib_p50) / s["p50_ms"] if s["p50_ms"] > 0 else 0,
                h["p50_ms"], h["p99_ms"]))


def block(info, args, lib, lib_up, res, floor):
    lines = ["<!-- server:begin -->", "## HTTP server (`hektor serve`) under wrk", "",
             "`bench/bench_server.py`, %s. %d clustered %d-d vectors, HNSW (m 16, ef_construction "
             "200), l2, k = 10; %d s per point, wrk with min(connections, 2) threads, on loopback; "
             "server and wrk share the machine's %s cores. Machine: %s, %s." % (
                 time.strftime("%Y-%m-%d"), args.n, DIM, args.seconds, info["cores"],
                 info["cpu"], info["memory"]), ""]
    lines += ["| work | connections | requests/s | p50 ms | p99 ms | errors |",
              "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for kind in ("search", "upsert"):
        for c in CONNS:
            r = res[kind][c]
            lines.append("| %s over HTTP | %d | %.0f | %.3f | %.3f | %d |" % (
                kind, c, r["rps"], r["p50_ms"], r["p99_ms"], r["errors"]))
        if kind == "search":
            lines.append("| search, library, one thread | — | %.0f | %.3f | %.3f | — |" % (
                lib["single"]["qps"], lib["single"]["p50_ms"], lib["single"]["p99_ms"]))
            lines.append("| search, library, one batch on every core | — | %.0f | — | — | — |" %
                         lib["batch"]["qps"])
            hz, tcp = floor["healthz"], floor["tcp"]
            lines.append("| empty request (GET /healthz) over HTTP | 1 | %.0f | %.3f | %.3f | %d |" % (
                hz["rps"], hz["p50_ms"], hz["p99_ms"], hz["errors"]))
            lines.append("| loopback TCP ping-pong, %d-byte request, %d-byte answer, no HTTP | 1 | %.0f "
                         "| %.3f | %.3f | — |" % (tcp["req_bytes"], tcp["resp_bytes"],
                                                  tcp["round_trips"] / tcp["seconds"], tcp["p50_ms"],
                                                  tcp["p99_ms"]))
        else:
            lines.append("| upsert, library, %d point(s) per durable hk_upsert | — | %.0f | %.3f | — | — |" % (
                args.upsert_batch, lib_up["import"]["points_per_s"] / args.upsert_batch,
                lib_up["import"]["batch_ms_p50"]))
    h1 = res["search"][1]["p50_ms"]
    over = (h1 - lib["single"]["p50_ms"]) / h1 if h1 > 0 else 0
    inside = res["search"][1]["server_p50_ms"]
    errs = res["search"][100]["errors"] + res["upsert"][100]["errors"]
    hz, tcp, lp50 = floor["healthz"], floor["tcp"], lib["single"]["p50_ms"]
    floor_tcp = tcp["p50_ms"] / (tcp["p50_ms"] + lp50)
    floor_hz = hz["p50_ms"] / (hz["p50_ms"] + lp50)
    lines += ["", "HTTP overhead of a search at one connection: %.1f%% of its time (p50 %.3f ms over "
              "HTTP, %.3f ms through the library); goal under 20%%: %s. 100 connections: %d "
              "errors (goal none): %s." % (100 * over, h1, lib["single"]["p50_ms"],
                                           "met" if over < 0.2 else "not met", errs,
                                           "met" if errs == 0 else "not met"),
              "", "Where the %.3f ms of a search at one connection go (p50s): %.3f ms inside the "
              "server by its request log (of which the library's search is about %.3f ms, the rest "
              "JSON parsing, routing and the answer), %.3f ms in the transport (loopback TCP, "
              "libmicrohttpd's I/O, wrk). Upserts at 1, 16 and 100 connections: %.0f, %.0f and %.0f "
              "requests/s (goal: rising with concurrency)." % (
                  h1, inside, lib["single"]["p50_ms"], h1 - inside, res["upsert"][1]["rps"],
                  res["upsert"][16]["rps"], res["upsert"][100]["rps"]),
              "", "The floor, measured in the same run: a loopback TCP round trip of a search's "
              "sizes (%d bytes in, %d out) with both sides blocking takes %.3f ms at p50, and an "
              "empty request through the server (GET /healthz) %.3f ms. A server whose own work "
              "took no time would still show an overhead of %.1f%% (TCP alone: %.3f / (%.3f + "
              "%.3f)) or %.1f%% (with libmicrohttpd and the router, by /healthz): the goal of 20%% "
              "is %s on this machine with blocking I/O. The search's own share above the "
              "transport: %.3f ms at p50 (HTTP p50 %.3f minus /healthz %.3f minus the library's "
              "%.3f)." % (
                  tcp["req_bytes"], tcp["resp_bytes"], tcp["p50_ms"], hz["p50_ms"],
                  100 * floor_tcp, tcp["p50_ms"], tcp["p50_ms"], lib["single"]["p50_ms"],
                  100 * floor_hz, "within reach" if min(floor_tcp, floor_hz) < 0.2 else
                  "out of reach (both floors pass it)",
                  h1 - hz["p50_ms"] - lib["single"]["p50_ms"], h1, hz["p50_ms"],
                  lib["single"]["p50_ms"]),
              "", busy_text(args, floor, lib["single"]["p50_ms"]),
              "", "Load on the machine: load average %s at the start, %s at the end; other processes "
              "used %.0f%% of all cores during the run%s." % (
                  info["load_start"], info["load_end"], 100 * info["other_busy"],
                  " (the latencies above are inflated by it: rerun on an idle machine for the record)"
                  if info["other_busy"] > 0.05 else ""),
              "<!-- server:end -->", ""]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=100000)
    ap.add_argument("--nq", type=int, default=1000)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--upsert-batch", type=int, default=1)
    ap.add_argument("--busy-poll-us", type=int, default=0,
                    help="also time searches and /healthz at one connection against a server "
                         "started with --busy-poll-us N (default 0: not run)")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "BENCHMARKS.md"))
    args = ap.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("bench_server: wrk is missing: run scripts/setup.sh (Debian package wrk)")
    info = bench.machine_info(args.build)
    info["load_start"] = bench.loadavg()
    bench.log("load average before: %s" % (info["load_start"],))
    t0, busy0, own0 = time.time(), bench.cpu_busy_seconds(), bench.own_cpu_seconds()
    driver, tmp = bench.private_driver(args.build, None, "bench_hektor", "server-")
    pingpong = os.path.join(tmp, "tcp_pingpong")
    src = os.path.join(args.build, "bench", "tcp_pingpong")
    if not os.access(src, os.X_OK):
        raise SystemExit("bench_server: %s is missing: run `make build` first" % src)
    shutil.copy2(src, pingpong)
    try:
        xb, xq = bench.clustered(args.n, args.nq, DIM, 42)
        base, queries = os.path.join(tmp, "base.fvecs"), os.path.join(tmp, "query.fvecs")
        write_fvecs(base, xb)
        write_fvecs(queries, xq)
        bench.log("library: search")
        lib = bench.run_json([driver, "--data", base, "--queries", queries, "--dir",
                              os.path.join(tmp, "lib"), "--k", "10", "--hnsw"])
        bench.log("library: upserts of %d" % args.upsert_batch)
        n_up = min(args.n, 20000)
        write_fvecs(os.path.join(tmp, "up.fvecs"), xb[:n_up])
        lib_up = bench.run_json([driver, "--data", os.path.join(tmp, "up.fvecs"), "--queries", queries,
                                 "--dir", os.path.join(tmp, "lib-up"), "--batch", str(args.upsert_batch),
                                 "--single", "1"])
        qlines = os.path.join(tmp, "queries.jsonl")
        with open(qlines, "w") as f:
            for q in xq:
                f.write(json.dumps({"vector": [round(float(v), 6) for v in q], "limit": 10}) + "\n")
        search_lua, upsert_lua = os.path.join(tmp, "search.lua"), os.path.join(tmp, "upsert.lua")
        with open(search_lua, "w") as f:
            f.write(SEARCH_LUA % {"queries": qlines})
        proc, url = serve(args.build, os.path.join(tmp, "srv"))
        srv_log = os.path.join(tmp, "srv") + ".log"
        res, floor = {"search": {}, "upsert": {}}, {}
        try:
            bench.log("server: import")
            with open(base, "rb") as f:
                job = http(url, "POST", "/hektor/collections/bench/import?format=fvecs&create=true"
                           "&metric=l2&wait=true", data=f.read())["job"]
            if job["state"] != "done":
                raise SystemExit("bench_server: import failed: %r" % job)
            with open(qlines) as f:
                bodies = [line.rstrip("\n") for line in f][:101]
            req_bytes, resp_bytes = wire_sizes(url, bodies)
            bench.log("wire sizes of a search: %d bytes in, %d out" % (req_bytes, resp_bytes))
            for c in CONNS:
                if c == 1:
                    floor["tcp"] = bench.run_json([pingpong, "--req", str(req_bytes), "--resp",
                                                   str(resp_bytes), "--seconds", str(args.seconds)])
                    floor["healthz"] = wrk(url, None, 1, args.seconds, "/healthz")
                start = os.path.getsize(srv_log)
                res["search"][c] = wrk(url, search_lua, c, args.seconds)
                res["search"][c]["server_p50_ms"] = log_p50(srv_log, start, "/points/search")
            for i, c in enumerate(CONNS):
                with open(upsert_lua, "w") as f:
                    f.write(UPSERT_LUA % {"dim": DIM, "batch": args.upsert_batch,
                                          "base": 1000000000 + i * 100000000})
                res["upsert"][c] = wrk(url, upsert_lua, c, args.seconds)
        finally:
            proc.terminate()
            proc.wait(timeout=120)
        if args.busy_poll_us:
            bench.log("server with --busy-poll-us %d" % args.busy_poll_us)
            proc, url = serve(args.build, os.path.join(tmp, "srv"),
                              ["--busy-poll-us", str(args.busy_poll_us)])
            try:
                wrk(url, search_lua, 1, 1)
                floor["busy_healthz"] = wrk(url, None, 1, args.seconds, "/healthz")
                floor["busy_search"] = wrk(url, search_lua, 1, args.seconds)
            finally:
                proc.terminate()
                proc.wait(timeout=120)
        info["load_end"] = bench.loadavg()
        wall = time.time() - t0
        other = (bench.cpu_busy_seconds() - busy0) - (bench.own_cpu_seconds() - own0)
        info["other_busy"] = max(other, 0) / (wall * (os.cpu_count() or 1))
        bench.log("load average after: %s" % (info["load_end"],))
        text = block(info, args, lib, lib_up, res, floor)
        bench.write_block(args.out, "<!-- server:begin -->", "<!-- server:end -->", text)
        print(text)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
