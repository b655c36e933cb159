"""test_server.py — `hektor serve` over real HTTP: every Qdrant route with good and bad
input, Qdrant's envelope and status codes, scores per metric against numpy, recall of
search on clustered data against numpy brute force, request limits, API keys, metrics,
1023 connections at once (descriptors past FD_SETSIZE), and SIGTERM: exit 0 with every acknowledged write durable after reopening."""
import json
import os
import re
import http.client
import signal
import sys
import threading
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hk_test import (  # noqa: E402
    SLOW, check, contains, eq, hk_ok, main, test)
from hk_server import Server, serving  # noqa: E402


def create(s, name, dim, distance="Euclid", **extra):
    body = {"vectors": {"size": dim, "distance": distance}}
    body.update(extra)
    eq(s.ok("PUT", "/collections/" + name, body), True)


def upsert(s, name, ids, vectors, payloads=None):
    pts = [{"id": int(i), "vector": [float(x) for x in v]} for i, v in zip(ids, vectors)]
    if payloads is not None:
        for p, pl in zip(pts, payloads):
            p["payload"] = pl
    r = s.ok("PUT", "/collections/%s/points?wait=true" % name, {"points": pts})
    eq(r["status"], "completed")
    return r


def scroll_all(s, name, **kw):
    out, offset = [], None
    while True:
        body = dict(kw, limit=7)
        if offset is not None:
            body["offset"] = offset
        r = s.ok("POST", "/collections/%s/points/scroll" % name, body)
        out += r["points"]
        offset = r["next_page_offset"]
        if offset is None:
            return out


@serving
def test_service_routes(s, tmp):
    status, doc = s.call("GET", "/")
    eq(status, 200)
    eq(doc["title"], "hektor - vector search engine")
    check(re.match(r"\d+\.\d+\.\d+$", doc["version"]), "version")
    eq(s.call("GET", "/healthz")[0], 200)
    eq(s.call("GET", "/readyz")[0], 200)
    s.bad("GET", "/nothing/here", status=404, words=["no route", "/nothing/here"])
    s.bad("PATCH", "/collections/x/points", status=405, words=["PATCH"])
    create(s, "m", 2)
    upsert(s, "m", [1, 2, 3], [[0, 0], [1, 1], [2, 2]])
    s.ok("POST", "/collections/m/points/search", {"vector": [0, 0], "limit": 1})
    status, text = s.call("GET", "/metrics")
    eq(status, 200)
    contains(text, 'hektor_http_requests_total{class="search",code="200"} 1')
    contains(text, 'hektor_http_requests_total{class="write",code="200"} 1')
    contains(text, 'hektor_http_requests_total{class="unknown",code="404"} 1')
    contains(text, 'hektor_http_request_duration_seconds_bucket{class="search",le="+Inf"} 1')
    contains(text, 'hektor_collection_points{collection="m"} 3')
    check(re.search(r"process_resident_memory_bytes [1-9]\d+", text), "resident memory")
    log = s.stderr()
    check(re.search(r"POST /collections/m/points/search 200 \d+\.\d+ ms", log), "request log: " + log)


@serving
def test_collections(s, tmp):
    eq(s.ok("GET", "/collections"), {"collections": []})
    create(s, "cos", 4, "Cosine", hnsw_config={"m": 8, "ef_construct": 50})
    create(s, "dot", 4, "Dot")
    create(s, "flat", 4, "Euclid", hnsw_config={"m": 0}, shard_number=1, on_disk_payload=True)
    eq(sorted(c["name"] for c in s.ok("GET", "/collections")["collections"]), ["cos", "dot", "flat"])
    info = s.ok("GET", "/collections/cos")
    eq(info["config"]["params"]["vectors"], {"size": 4, "distance": "Cosine"})
    eq(info["config"]["hnsw_config"]["m"], 8)
    eq(info["config"]["hnsw_config"]["ef_construct"], 50)
    eq(info["points_count"], 0)
    eq(info["status"], "green")
    eq(s.ok("GET", "/collections/flat")["config"]["hnsw_config"]["m"], 0)
    eq(s.ok("GET", "/collections/dot")["config"]["params"]["vectors"]["distance"], "Dot")
    eq(s.ok("GET", "/collections/cos/exists"), {"exists": True})
    eq(s.ok("GET", "/collections/nope/exists"), {"exists": False})
    s.bad("PUT", "/collections/cos", {"vectors": {"size": 4, "distance": "Cosine"}}, 409,
          ["already exists"])
    s.bad("PUT", "/collections/x", {"vectors": {"size": 4, "distance": "Manhattan"}}, 400,
          ["Manhattan"])
    s.bad("PUT", "/collections/x", {"vectors": {"a": {"size": 4, "distance": "Dot"}}}, 400,
          ["named vectors"])
    s.bad("PUT", "/collections/x", {"vectors": {"size": 0, "distance": "Dot"}}, 400, ["size"])
    s.bad("PUT", "/collections/x", {"vectors": {"size": 4, "distance": "Dot"},
                                    "quantization_config": {"binary": {}}}, 400,
          ["quantization_config.binary", "not supported"])
    s.bad("PUT", "/collections/x", {}, 400, ["vectors"])
    s.bad("PUT", "/collections/x", None, 400, ["body"])
    s.bad("PUT", "/collections/.hidden", {"vectors": {"size": 4, "distance": "Dot"}}, 400, ["'.'"])
    s.bad("PUT", "/collections/a*b", {"vectors": {"size": 4, "distance": "Dot"}}, 400, ["character"])
    s.bad("GET", "/collections/..", status=400, words=["'.'"])
    s.bad("GET", "/collections/nope", status=404, words=["nope", "doesn't exist"])
    eq(s.ok("DELETE", "/collections/dot"), True)
    s.bad("DELETE", "/collections/dot", status=404, words=["dot"])
    eq(sorted(c["name"] for c in s.ok("GET", "/collections")["collections"]), ["cos", "flat"])
    eq(sorted(os.listdir(os.path.join(s.db, "collections"))), ["cos", "flat"])


@serving
def test_points_and_payloads(s, tmp):
    create(s, "p", 3)
    upsert(s, "p", [1, 2, 3], [[1, 0, 0], [0, 1, 0], [0, 0, 1]],
           [{"color": "red", "n": 1}, {"color": "blue", "n": 2}, None])
    s.ok("PUT", "/collections/p/points", {"batch": {"ids": [10, 11], "vectors": [[1, 1, 0], [0, 1, 1]],
                                                    "payloads": [{"color": "red"}, {"n": 5}]}})
    eq(s.ok("POST", "/collections/p/points/count", {})["count"], 5)
    got = s.ok("POST", "/collections/p/points", {"ids": [2, 99, 10], "with_vector": True})
    eq([(r["id"], r["payload"], r["vector"]) for r in got],
       [(2, {"color": "blue", "n": 2}, [0, 1, 0]), (10, {"color": "red"}, [1, 1, 0])])
    got = s.ok("POST", "/collections/p/points", {"ids": [1], "with_payload": ["n"]})
    eq(got[0]["payload"], {"n": 1})
    got = s.ok("POST", "/collections/p/points", {"ids": [1], "with_payload": {"exclude": ["n"]}})
    eq(got[0]["payload"], {"color": "red"})
    eq(s.ok("GET", "/collections/p/points/3"), {"id": 3, "payload": {}, "vector": [0, 0, 1]})
    s.bad("GET", "/collections/p/points/77", status=404, words=["77"])
    s.bad("GET", "/collections/p/points/5c56c793-69f3-4fbf-87e6-c4bf54c28c26", status=400, words=["UUID"])
    # count and scroll with filters
    red = {"must": [{"key": "color", "match": {"value": "red"}}]}
    eq(s.ok("POST", "/collections/p/points/count", {"filter": red})["count"], 2)
    r = s.ok("POST", "/collections/p/points/scroll", {"limit": 2})
    eq([p["id"] for p in r["points"]], [1, 2])
    eq(r["next_page_offset"], 3)
    r = s.ok("POST", "/collections/p/points/scroll", {"limit": 2, "offset": 3, "filter": red})
    eq([p["id"] for p in r["points"]], [10])
    eq(r["next_page_offset"], None)
    eq([p["id"] for p in scroll_all(s, "p")], [1, 2, 3, 10, 11])
    # payload: set merges, overwrite replaces, delete removes keys
    s.ok("POST", "/collections/p/points/payload", {"payload": {"size": 9}, "points": [1, 2]})
    eq(s.ok("GET", "/collections/p/points/1")["payload"], {"color": "red", "n": 1, "size": 9})
    s.ok("PUT", "/collections/p/points/payload", {"payload": {"only": True}, "points": [2]})
    eq(s.ok("GET", "/collections/p/points/2")["payload"], {"only": True})
    s.ok("POST", "/collections/p/points/payload/delete", {"keys": ["n", "size"], "filter": red})
    eq(s.ok("GET", "/collections/p/points/1")["payload"], {"color": "red"})
    s.ok("POST", "/collections/p/points/payload", {"payload": {"tag": "x"}, "filter": red})
    eq(s.ok("GET", "/collections/p/points/10")["payload"], {"color": "red", "tag": "x"})
    # payload indexes
    s.ok("PUT", "/collections/p/index", {"field_name": "color", "field_schema": "keyword"})
    s.ok("PUT", "/collections/p/index", {"field_name": "n", "field_schema": {"type": "integer"}})
    eq(s.ok("GET", "/collections/p")["payload_schema"],
       {"color": {"data_type": "keyword"}, "n": {"data_type": "integer"}})
    eq(s.ok("POST", "/collections/p/points/count", {"filter": red})["count"], 2)
    s.bad("PUT", "/collections/p/index", {"field_name": "g", "field_schema": "geo"}, 400, ["geo"])
    s.ok("DELETE", "/collections/p/index/n")
    eq(list(s.ok("GET", "/collections/p")["payload_schema"]), ["color"])
    # deletes
    s.ok("POST", "/collections/p/points/delete", {"points": [1, 404]})
    s.ok("POST", "/collections/p/points/delete", {"filter": {"must": [{"has_id": [11]}]}})
    eq([p["id"] for p in scroll_all(s, "p")], [2, 3, 10])
    eq(s.ok("GET", "/collections/p")["points_count"], 3)
    hk_ok_verify = s.ok("POST", "/collections/p/points/count", {"exact": True})
    eq(hk_ok_verify["count"], 3)


def brute(metric, base, q, k):
    base, q = base.astype(np.float64), q.astype(np.float64)
    if metric == "Euclid":
        d = np.sqrt(((base - q) ** 2).sum(1))
        order = np.argsort(d, kind="stable")[:k]
        return order, d[order]
    if metric == "Cosine":
        base = base / np.linalg.norm(base, axis=1, keepdims=True)
        q = q / np.linalg.norm(q)
    sc = base @ q
    order = np.argsort(-sc, kind="stable")[:k]
    return order, sc[order]


@serving
def test_search_scores_per_metric(s, tmp):
    rng = np.random.default_rng(3)
    base = rng.normal(size=(300, 8)).astype(np.float32)
    queries = rng.normal(size=(5, 8)).astype(np.float32)
    for metric in ("Euclid", "Cosine", "Dot"):
        name = metric.lower()
        create(s, name, 8, metric)
        upsert(s, name, range(300), base, [{"i": i, "even": i % 2 == 0} for i in range(300)])
        for q in queries:
            want_ids, want_scores = brute(metric, base, q, 10)
            res = s.ok("POST", "/collections/%s/points/search" % name,
                       {"vector": q.tolist(), "limit": 10, "params": {"exact": True}})
            eq([r["id"] for r in res], want_ids.tolist(), metric + " ids")
            check(np.allclose([r["score"] for r in res], want_scores, rtol=1e-4, atol=1e-4),
                  "%s scores %r vs %r" % (metric, [r["score"] for r in res], want_scores))
            check(all(r["payload"] is None and r["vector"] is None for r in res), "no payload by default")
            # offset, filter, payload and vector, threshold
            res2 = s.ok("POST", "/collections/%s/points/search" % name,
                        {"vector": q.tolist(), "limit": 5, "offset": 5, "with_payload": True,
                         "with_vector": True, "params": {"exact": True}})
            eq([r["id"] for r in res2], want_ids[5:10].tolist(), metric + " offset")
            eq(res2[0]["payload"]["i"], int(want_ids[5]))
            eq(len(res2[0]["vector"]), 8)
            even = {"must": [{"key": "even", "match": {"value": True}}]}
            res3 = s.ok("POST", "/collections/%s/points/search" % name,
                        {"vector": q.tolist(), "limit": 10, "filter": even, "params": {"exact": True}})
            eq([r["id"] for r in res3], [i for i in brute(metric, base, q, 300)[0].tolist() if i % 2 == 0][:10])
            thr = float(want_scores[4] + want_scores[5]) / 2
            res4 = s.ok("POST", "/collections/%s/points/search" % name,
                        {"vector": q.tolist(), "limit": 10, "score_threshold": thr,
                         "params": {"exact": True}})
            eq([r["id"] for r in res4], want_ids[:5].tolist(), metric + " score_threshold")
        # batch search = single searches
        batch = s.ok("POST", "/collections/%s/points/search/batch" % name,
                     {"searches": [{"vector": q.tolist(), "limit": 3, "params": {"exact": True}}
                                   for q in queries]})
        eq([[r["id"] for r in b] for b in batch],
           [brute(metric, base, q, 3)[0].tolist() for q in queries])
        # recommend: average_vector with a negative, examples left out
        pos, neg = [0, 1], [2]
        v = 2 * base[pos].astype(np.float64).mean(0) - base[neg[0]]
        if metric == "Cosine":
            nb = base / np.linalg.norm(base, axis=1, keepdims=True)
            v = 2 * nb[pos].astype(np.float64).mean(0) - nb[neg[0]]
        order = [i for i in brute(metric, base, v.astype(np.float32), 20)[0].tolist() if i not in pos + neg][:5]
        rec = s.ok("POST", "/collections/%s/points/recommend" % name,
                   {"positive": pos, "negative": neg, "limit": 5, "strategy": "average_vector",
                    "params": {"exact": True}})
        eq([r["id"] for r in rec], order, metric + " recommend")
        # best_score: each point scored by its best positive and best negative similarity
        # (Qdrant's rule), computed here over the whole collection
        b64 = base.astype(np.float64)
        if metric == "Euclid":
            sim = lambda e: -np.sqrt(((b64 - b64[e]) ** 2).sum(1))
        elif metric == "Cosine":
            nb64 = b64 / np.linalg.norm(b64, axis=1, keepdims=True)
            sim = lambda e: nb64 @ nb64[e]
        else:
            sim = lambda e: b64 @ b64[e]
        p = np.max([sim(e) for e in pos], axis=0)
        n = np.max([sim(e) for e in neg], axis=0)
        sig = lambda x: 0.5 * (1 + x / (1 + np.abs(x)))
        score = np.where(p > n, sig(p), -sig(n))
        order = [int(i) for i in np.lexsort((np.arange(len(base)), -score)) if i not in pos + neg][:5]
        rec = s.ok("POST", "/collections/%s/points/recommend" % name,
                   {"positive": pos, "negative": neg, "limit": 5, "strategy": "best_score"})
        eq([r["id"] for r in rec], order, metric + " best_score")
        check(all(abs(r["score"] - score[r["id"]]) < 1e-5 for r in rec), metric + " best_score scores")
        # best_score's scores rise with quality in every metric: the threshold keeps those above
        t = rec[2]["score"] - 1e-6  # (the JSON rounds the float)
        rec = s.ok("POST", "/collections/%s/points/recommend" % name,
                   {"positive": pos, "negative": neg, "limit": 5, "strategy": "best_score",
                    "score_threshold": t})
        eq([r["id"] for r in rec], order[:3], metric + " best_score threshold")
    s.bad("POST", "/collections/euclid/points/recommend", {"positive": [0], "strategy": "rocchio"},
          400, ["rocchio"])
    s.bad("POST", "/collections/euclid/points/recommend", {"positive": [12345]}, 404, ["12345"])
    s.bad("POST", "/collections/euclid/points/recommend", {"negative": [1]}, 400, ["positive"])
    s.bad("POST", "/collections/euclid/points/recommend", {"positive": [[0.0] * 8]}, 400,
          ["vectors as examples"])


@serving
def test_search_recall_clustered(s, tmp):
    rng = np.random.default_rng(7)
    n, dim, nq, k = 4000, 32, 50, 10
    centers = rng.normal(size=(40, dim)) * 4
    base = (centers[rng.integers(0, 40, n)] + rng.normal(size=(n, dim))).astype(np.float32)
    queries = (centers[rng.integers(0, 40, nq)] + rng.normal(size=(nq, dim))).astype(np.float32)
    create(s, "clu", dim, "Euclid", hnsw_config={"m": 16, "ef_construct": 100})
    for lo in range(0, n, 1000):
        s.ok("PUT", "/collections/clu/points?wait=true",
             {"batch": {"ids": list(range(lo, lo + 1000)), "vectors": base[lo:lo + 1000].tolist()}})
    hits = 0
    batch = s.ok("POST", "/collections/clu/points/search/batch",
                 {"searches": [{"vector": q.tolist(), "limit": k, "params": {"hnsw_ef": 64}}
                               for q in queries]})
    for q, res in zip(queries, batch):
        truth = set(brute("Euclid", base, q, k)[0].tolist())
        hits += len(truth & {r["id"] for r in res})
    recall = hits / (nq * k)
    print("recall@10 through the server (hnsw, ef 64): %.4f" % recall)
    check(recall >= 0.95, "recall@10 %.4f < 0.95" % recall)


BAD_REQUESTS = [
    # (method, path, body or raw bytes, status, words)
    ("PUT", "/collections/b/points", b'{"points": [', 400, ["JSON"]),
    ("PUT", "/collections/b/points", b'{"points": [{"id": 9, "vector": [NaN, 0, 0]}]}', 400, ["JSON"]),
    ("PUT", "/collections/b/points", b'[1, 2]', 400, ["object"]),
    ("PUT", "/collections/b/points", {"points": [{"id": 9, "vector": [1, 2]}]}, 400, ["dimension", "3", "2"]),
    ("PUT", "/collections/b/points", {"points": [{"id": 9, "vector": [1, 2, 3]}, {"id": 10, "vector": [1, None, 3]}]}, 400, ["element 1"]),
    ("PUT", "/collections/b/points", {"points": [{"id": 9, "vector": [1e39, 0, 0]}]}, 400, ["float range"]),
    ("PUT", "/collections/b/points", {"points": [{"id": "5c56c793-69f3-4fbf-87e6-c4bf54c28c26", "vector": [1, 2, 3]}]}, 400, ["UUID"]),
    ("PUT", "/collections/b/points", {"points": [{"id": -1, "vector": [1, 2, 3]}]}, 400, ["unsigned"]),
    ("PUT", "/collections/b/points", {"points": [{"id": 9, "vector": {"img": [1, 2, 3]}}]}, 400, ["named vectors"]),
    ("PUT", "/collections/b/points", {"points": [{"id": 9, "vector": [1, 2, 3], "payload": [1]}]}, 400, ["payload"]),
    ("PUT", "/collections/b/points", {"batch": {"ids": [1, 2], "vectors": [[1, 2, 3]]}}, 400, ["batch.vectors"]),
    ("PUT", "/collections/b/points", {}, 400, ["points", "batch"]),
    ("PUT", "/collections/nope/points", {"points": []}, 404, ["nope"]),
    ("POST", "/collections/b/points/search", {"vector": [1, 2]}, 400, ["dimension"]),
    ("POST", "/collections/b/points/search", {"vector": [1, 2, 3], "filter": {"must": [{"key": "t", "match": {"text": "x"}}]}}, 400, ["match.text"]),
    ("POST", "/collections/b/points/search", {"vector": [1, 2, 3], "limit": -1}, 400, ["limit"]),
    ("POST", "/collections/b/points/search", {"vector": [1, 2, 3], "using": "img"}, 400, ["using"]),
    ("POST", "/collections/b/points/search", {"vector": {"name": "img", "vector": [1, 2, 3]}}, 400, ["named"]),
    ("POST", "/collections/b/points/search/batch", {"searches": [{"vector": [1, 2, 3]}, {"vector": [1]}]}, 400, ["searches[1]"]),
    ("POST", "/collections/b/points/scroll", {"order_by": "n"}, 400, ["order_by"]),
    ("POST", "/collections/b/points/count", {"filter": {"must": [{"key": "n", "range": {"gt": "2020-01-01"}}]}}, 400, ["datetime"]),
    ("POST", "/collections/b/points/delete", {}, 400, ["points", "filter"]),
    ("POST", "/collections/b/points/delete", {"filter": {"must": [{"nested": {}}]}}, 400, ["nested"]),
    ("POST", "/collections/b/points/payload", {"payload": {"x": 1}, "points": [999]}, 404, ["999"]),
    ("POST", "/collections/b/points/payload", {"payload": 5, "points": [1]}, 400, ["payload"]),
    ("POST", "/collections/b/points/payload/delete", {"keys": [1], "points": [1]}, 400, ["keys"]),
    ("PUT", "/collections/b/index", {"field_name": "x", "field_schema": "text"}, 400, ["text"]),
    ("DELETE", "/collections/b/index/nothere", None, 404, ["nothere"]),
    ("POST", "/collections/b/points", {"ids": ["a"]}, 400, ["UUID"]),
]


@serving
def test_bad_requests_change_nothing(s, tmp):
    create(s, "b", 3)
    upsert(s, "b", [1, 2], [[1, 0, 0], [0, 1, 0]], [{"n": 1}, {"n": 2}])
    before = (scroll_all(s, "b", with_vector=True), s.ok("GET", "/collections/b"))
    snap = os.path.join(s.db, "collections", "b")
    files = {f: open(os.path.join(snap, f), "rb").read() for f in os.listdir(snap)}
    for method, path, body, status, words in BAD_REQUESTS:
        if isinstance(body, bytes):
            s.bad(method, path, raw=body, status=status, words=words)
        else:
            s.bad(method, path, body, status=status, words=words)
    # nesting deeper than the parser's limit
    deep = b'{"points": [{"id": 1, "vector": [1,2,3], "payload": {"a": ' + b"[" * 80 + b"]" * 80 + b"}}]}"
    s.bad("PUT", "/collections/b/points", raw=deep, status=400, words=["nesting deeper than 64"])
    after = (scroll_all(s, "b", with_vector=True), s.ok("GET", "/collections/b"))
    eq(after, before, "the collection after bad requests")
    eq({f: open(os.path.join(snap, f), "rb").read() for f in os.listdir(snap)}, files,
       "the collection's files after bad requests")


@test
def test_body_limit(tmp):
    s = Server(tmp, tmp("db"), "--max-body", "4096")
    try:
        create(s, "l", 3)
        big = {"points": [{"id": i, "vector": [1, 2, 3], "payload": {"pad": "x" * 100}} for i in range(100)]}
        s.bad("PUT", "/collections/l/points", big, 413, ["too large", "4096"])
        eq(s.ok("POST", "/collections/l/points/count", {})["count"], 0)
        upsert(s, "l", [1], [[1, 2, 3]])
        eq(s.ok("POST", "/collections/l/points/count", {})["count"], 1)
    except BaseException:
        s.kill()
        raise
    eq(s.stop(), 0)


@test
def test_api_keys(tmp):
    s = Server(tmp, tmp("db"), "--api-key", "s3cret", "--read-only-key", "look")
    try:
        eq(s.call("GET", "/healthz")[0], 200)
        eq(s.call("GET", "/")[0], 200)
        s.bad("GET", "/collections", status=401, words=["API key"])
        s.bad("GET", "/metrics", status=401, words=["API key"])
        s.bad("GET", "/collections", status=401, words=["Invalid"], headers={"api-key": "wrong"})
        s.bad("PUT", "/collections/k", {"vectors": {"size": 2, "distance": "Dot"}}, 401,
              headers={"Authorization": "Bearer s3cretX"})
        eq(s.ok("PUT", "/collections/k", {"vectors": {"size": 2, "distance": "Dot"}},
                headers={"Authorization": "Bearer s3cret"}), True)
        s.ok("PUT", "/collections/k/points", {"points": [{"id": 1, "vector": [1, 2]}]},
             headers={"api-key": "s3cret"})
        ro = {"api-key": "look"}
        eq(len(s.ok("POST", "/collections/k/points/search", {"vector": [1, 1]}, headers=ro)), 1)
        eq(s.ok("POST", "/collections/k/points/count", {}, headers=ro)["count"], 1)
        s.ok("GET", "/collections/k", headers=ro)
        s.bad("PUT", "/collections/k/points", {"points": [{"id": 2, "vector": [1, 2]}]}, 403,
              ["read-only"], headers=ro)
        s.bad("DELETE", "/collections/k", status=403, words=["read-only"], headers=ro)
        s.bad("POST", "/collections/k/points/delete", {"points": [1]}, 403, headers=ro)
        eq(s.ok("POST", "/collections/k/points/count", {}, headers=ro)["count"], 1)
        eq(s.call("GET", "/metrics", headers=ro)[0], 200)
    except BaseException:
        s.kill()
        raise
    eq(s.stop(), 0)


@test
def test_sigterm_durable(tmp):
    db = tmp("db")
    s = Server(tmp, db, nosync=False)
    try:
        create(s, "d", 4, "Cosine")
        rng = np.random.default_rng(1)
        vecs = rng.normal(size=(500, 4)).astype(np.float32)
        for lo in range(0, 500, 100):
            upsert(s, "d", range(lo, lo + 100), vecs[lo:lo + 100], [{"i": i} for i in range(lo, lo + 100)])
        s.ok("POST", "/collections/d/points/delete", {"points": [0, 1, 2]})
    except BaseException:
        s.kill()
        raise
    eq(s.stop(signal.SIGTERM), 0, "exit status after SIGTERM")
    contains(s.stderr(), "SIGTERM received")
    r = hk_ok(db, "count", "d")
    contains(r.out, "497")
    hk_ok(db, "verify", "d")
    s2 = Server(tmp, db)
    try:
        eq(s2.ok("POST", "/collections/d/points/count", {})["count"], 497)
        eq(s2.ok("GET", "/collections/d/points/499")["payload"], {"i": 499})
    except BaseException:
        s2.kill()
        raise
    eq(s2.stop(signal.SIGINT), 0, "exit status after SIGINT")


class Client:
    """One keep-alive connection (http.client), as a busy client would hold."""

    def __init__(self, url):
        host, port = url[len("http://"):].split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=60 * SLOW)

    def call(self, method, path, body=None):
        self.conn.request(method, path, body=json.dumps(body) if body is not None else None,
                          headers={"Content-Type": "application/json"})
        r = self.conn.getresponse()
        return r.status, json.loads(r.read())

    def close(self):
        self.conn.close()


@serving
def test_concurrent_clients(s, tmp):
    """50 clients on keep-alive connections write and read at once; no acknowledged
    write is lost and every read is consistent."""
    create(s, "cc", 4, "Euclid")
    nclients, batches, per = 50, 6, 5
    errors = []

    def client(k):
        c = Client(s.url)
        try:
            for b in range(batches):
                ids = [k * 1000 + b * per + j for j in range(per)]
                pts = [{"id": i, "vector": [float(i), float(k), float(b), 1.0], "payload": {"k": k}}
                       for i in ids]
                st, doc = c.call("PUT", "/collections/cc/points?wait=true", {"points": pts})
                if st != 200:
                    errors.append("upsert %d: %s %r" % (k, st, doc))
                    return
                st, doc = c.call("POST", "/collections/cc/points/count",
                                 {"filter": {"must": [{"key": "k", "match": {"value": k}}]}})
                if st != 200 or doc["result"]["count"] != (b + 1) * per:
                    errors.append("count %d after batch %d: %s %r" % (k, b, st, doc))
                    return
                # Read-your-write through an exact search: an HNSW walk (approximate) may
                # miss a point on data this degenerate (points on a line, written by 50
                # clients at once); whether the write is visible is what is checked here.
                st, doc = c.call("POST", "/collections/cc/points/search",
                                 {"vector": [float(ids[0]), float(k), float(b), 1.0], "limit": 1,
                                  "params": {"exact": True}})
                if st != 200 or doc["result"][0]["id"] != ids[0]:
                    errors.append("search %d: %s %r" % (k, st, doc))
                    return
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append("client %d: %r" % (k, e))
        finally:
            c.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(nclients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    eq(errors, [], "client errors")
    eq(s.ok("POST", "/collections/cc/points/count", {})["count"], nclients * batches * per)
    ids = [p["id"] for p in scroll_all(s, "cc")]
    eq(ids, sorted(k * 1000 + i for k in range(nclients) for i in range(batches * per)))


@test
def test_descriptors_past_fd_setsize(tmp):
    """1023 open connections at once (the default limit is 1024): the server's last
    sockets are numbered past FD_SETSIZE (1024), which select() cannot wait on; every
    connection is still answered."""
    import resource
    import socket
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    check(hard == resource.RLIM_INFINITY or hard >= 1200,
          "this test needs a file limit of at least 1200 descriptors (hard limit %d)" % hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 4096, hard))
    s = Server(tmp, tmp("db"))
    socks = []
    try:
        port = int(s.url.rsplit(":", 1)[1])
        for _ in range(1023):
            c = socket.create_connection(("127.0.0.1", port), timeout=30)
            socks.append(c)
            c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        answered = 0
        for c in socks:
            data = b""
            while b"ok\n" not in data:
                try:
                    chunk = c.recv(4096)
                except ConnectionResetError:  # refused: counted as unanswered below
                    break
                if not chunk:
                    break
                data += chunk
            answered += data.startswith(b"HTTP/1.1 200") and b"ok\n" in data
        eq(answered, 1023, "connections answered")
        check("FD_SETSIZE" not in s.stderr(), "the server refused a descriptor: " + s.stderr()[-500:])
    finally:
        for c in socks:
            c.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        s.stop()


@test
def test_shutdown_under_load(tmp):
    """SIGTERM while 8 clients upsert: exit 0, and every acknowledged point is stored."""
    db = tmp("db")
    s = Server(tmp, db, nosync=False)
    acked = [[] for _ in range(8)]
    errors = []
    stop = threading.Event()
    try:
        create(s, "sl", 4, "Dot")

        def writer(k):
            c = Client(s.url)
            n = 0
            try:
                while not stop.is_set():
                    ids = [k * 1000000 + n * 10 + j for j in range(10)]
                    st, _ = c.call("PUT", "/collections/sl/points?wait=true",
                                   {"points": [{"id": i, "vector": [1.0, float(i % 997), float(i % 101), float(k)]}
                                               for i in ids]})
                    if st == 200:
                        acked[k].extend(ids)
                    elif st != 503:
                        errors.append("writer %d: status %d" % (k, st))
                        return
                    n += 1
            except (OSError, http.client.HTTPException, ValueError):
                pass  # the server went away mid-request: that batch was not acknowledged
            finally:
                c.close()

        threads = [threading.Thread(target=writer, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        time.sleep(0.5 * SLOW)
    except BaseException:
        s.kill()
        raise
    rc = s.stop(signal.SIGTERM)
    stop.set()
    for t in threads:
        t.join()
    eq(rc, 0, "exit status after SIGTERM under load")
    eq(errors, [], "writers' errors (503 while stopping is expected, nothing else)")
    total = sum(len(a) for a in acked)
    check(total > 0, "some writes were acknowledged")
    hk_ok(db, "verify", "sl")
    s2 = Server(tmp, db)
    try:
        stored = set(p["id"] for p in scroll_all(s2, "sl"))
        missing = [i for a in acked for i in a if i not in stored]
        eq(missing[:10], [], "acknowledged points missing after SIGTERM (of %d)" % total)
    except BaseException:
        s2.kill()
        raise
    eq(s2.stop(), 0)


@test
def test_serve_command_line(tmp):
    from hk_test import run
    r = run(["serve", "--help"])
    eq(r.rc, 0)
    contains(r.out, "--read-only-key")
    r = run(["serve", "--port", "70000"], db=tmp("db"))
    eq(r.rc, 2)
    contains(r.err, "--port")
    r = run(["serve", "--host", "nowhere", "--port", "0"], db=tmp("db"))
    eq(r.rc, 1)
    contains(r.err, "nowhere")
    contains(run(["--help"]).out, "serve")
    contains(run(["serve", "--help"]).out, "--busy-poll-us")
    r = run(["serve", "--busy-poll-us", "20000", "--port", "0"], db=tmp("db"))
    eq(r.rc, 2)
    contains(r.err, "--busy-poll-us must be a number of microseconds from 0 to 10000")


@test
def test_busy_poll(tmp):
    """--busy-poll-us: two clients on kept-alive connections search and write at once
    against a server that spins for their next requests; every answer is right, and the
    server still stops on SIGTERM at once."""
    s = Server(tmp, tmp("db"), "--busy-poll-us", "2000")
    try:
        create(s, "bp", 2)
        upsert(s, "bp", list(range(50)), [[float(i), 0.0] for i in range(50)])
        errors = []

        def client(k):
            c = Client(s.url)
            try:
                for i in range(40):
                    st, doc = c.call("POST", "/collections/bp/points/search",
                                     {"vector": [float(i + k), 0.0], "limit": 1})
                    if st != 200 or doc["result"][0]["id"] != i + k:
                        errors.append("search %d/%d: %s %r" % (k, i, st, doc))
            finally:
                c.close()

        threads = [threading.Thread(target=client, args=(k,)) for k in (0, 5)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        eq(errors, [], "search errors")
    finally:
        t0 = time.time()
        eq(s.stop(), 0)
        check(time.time() - t0 < 10, "stopping took %.1f s" % (time.time() - t0))


if __name__ == "__main__":
    main()
