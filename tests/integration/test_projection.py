"""test_projection.py — the 3-D vector space: `hektor serve`'s projection routes over real
HTTP (job, metadata, binary coordinates and ids, the k-NN graph against numpy brute force,
payload fields, staleness, errors, auth) and `hektor project` (PCA against numpy's eigen
decomposition, the CSV it writes)."""
import os
import struct
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hk_test import SLOW, check, eq, fails, main, ok, run, test  # noqa: E402
from hk_server import Server, serving  # noqa: E402


def clustered(n, dim, centers, seed, spread=0.3):
    """n points around `centers` random centres in dim dimensions; (x, labels)."""
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((centers, dim)).astype(np.float32) * 3
    lab = rng.integers(0, centers, n)
    x = c[lab] + rng.standard_normal((n, dim)).astype(np.float32) * spread
    return x.astype(np.float32), lab


def fill(s, name, x, distance="Euclid", payload=None, first_id=0):
    r = s.call("PUT", "/collections/" + name, {"vectors": {"size": x.shape[1], "distance": distance}})
    eq(r[0], 200, "create %s: %r" % (name, r))
    for a in range(0, len(x), 1000):
        pts = []
        for i in range(a, min(a + 1000, len(x))):
            p = {"id": first_id + i, "vector": [float(v) for v in x[i]]}
            if payload:
                p["payload"] = payload(i)
            pts.append(p)
        s.ok("PUT", "/collections/%s/points?wait=true" % name, {"points": pts})


def raw_get(s, path):
    import urllib.request
    import urllib.error
    req = urllib.request.Request(s.url + path, headers=dict(s.headers))
    try:
        with urllib.request.urlopen(req, timeout=60 * SLOW) as r:
            return r.status, r.headers.get("Content-Type"), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read()


def project(s, name, body=None):
    job = s.ok("POST", "/hektor/collections/%s/projection?wait=true" % name, body or {})["job"]
    eq(job["kind"], "project", "job kind")
    eq(job["state"], "done", "job: %r" % job)
    return job


def coords_ids(s, name, method="pca"):
    st, ct, data = raw_get(s, "/hektor/collections/%s/projection/coords?method=%s" % (name, method))
    eq(st, 200, "coords: %r" % data[:200])
    eq(ct, "application/octet-stream")
    y = np.frombuffer(data, dtype="<f4").reshape(-1, 3)
    st, ct, data = raw_get(s, "/hektor/collections/%s/projection/ids?method=%s" % (name, method))
    eq(st, 200)
    eq(ct, "application/octet-stream")
    ids = np.frombuffer(data, dtype="<u8")
    return y, ids


@serving
def test_projection_job_and_routes(s, tmp):
    x, lab = clustered(1200, 24, 6, seed=3)
    fill(s, "p", x, payload=lambda i: {"score": float(i) / 10 if i % 7 else None,
                                       "label": "c%d" % lab[i], "flag": bool(i % 2)})
    s.bad("GET", "/hektor/collections/p/projection", status=404, words=["POST", "pca"])
    job = project(s, "p", {"method": "pca", "neighbors": 10, "seed": 5})
    meta = s.ok("GET", "/hektor/collections/p/projection?method=pca")
    eq(job["result"]["count"], 1200)
    for key in ("method", "dims", "count", "total", "sampled", "neighbors", "seed", "created", "took_s",
                "stale", "bounds", "explained_variance", "quality"):
        check(key in meta, "metadata has %s: %r" % (key, meta))
    eq((meta["method"], meta["dims"], meta["count"], meta["total"], meta["sampled"], meta["neighbors"],
        meta["seed"], meta["stale"]), ("pca", 3, 1200, 1200, False, 10, 5, False))
    ev = meta["explained_variance"]
    eq(len(ev), 3)
    check(1 >= ev[0] >= ev[1] >= ev[2] > 0, "explained variance ordered: %r" % ev)
    q = meta["quality"]["knn_preservation"]
    check(0 < q <= 1, "knn preservation in (0, 1]: %r" % q)
    y, ids = coords_ids(s, "p")
    eq(y.shape, (1200, 3))
    check(np.isfinite(y).all(), "finite coordinates")
    eq(sorted(ids.tolist()), list(range(1200)), "every id once")
    b = meta["bounds"]
    check(np.allclose(y.min(0), b["min"], rtol=1e-5) and np.allclose(y.max(0), b["max"], rtol=1e-5),
          "bounds match the coordinates")
    # PCA against numpy: explained variance and the projection's subspace.
    xc = x[ids].astype(np.float64)
    xc -= xc.mean(0)
    w, v = np.linalg.eigh(np.cov(xc.T, bias=True))
    order = np.argsort(w)[::-1]
    ratio = w[order[:3]] / w.sum()
    check(np.allclose(ev, ratio, rtol=1e-3, atol=1e-5), "explained variance %r vs numpy %r" % (ev, ratio))
    ref = xc @ v[:, order[:3]]
    for t in range(3):
        c = abs(np.corrcoef(ref[:, t], y[:, t])[0, 1])
        check(c > 0.9999, "axis %d matches numpy's eigenvector up to sign (|r| = %f)" % (t, c))
    # The k-NN graph: distances and neighbours against brute force.
    for idx in (0, 17, 599, 1199):
        r = s.ok("GET", "/hektor/collections/p/projection/neighbors?method=pca&index=%d" % idx)
        eq(r["point"], {"index": idx, "id": int(ids[idx])})
        eq(len(r["neighbors"]), 10)
        d = np.sqrt(((x[ids] - x[ids[idx]]) ** 2).sum(1))
        d[idx] = np.inf
        want = np.argsort(d, kind="stable")[:10]
        got = [nb["index"] for nb in r["neighbors"]]
        eq(sorted(got), sorted(want.tolist()), "neighbours of %d" % idx)
        for nb in r["neighbors"]:
            eq(nb["id"], int(ids[nb["index"]]))
            check(abs(nb["distance"] - d[nb["index"]]) < 1e-3 * max(1, d[nb["index"]]),
                  "distance %r vs %r" % (nb["distance"], d[nb["index"]]))
        dists = [nb["distance"] for nb in r["neighbors"]]
        eq(dists, sorted(dists), "nearest first")
    r = s.ok("GET", "/hektor/collections/p/projection/neighbors?index=3&k=4")
    eq(len(r["neighbors"]), 4)
    s.bad("GET", "/hektor/collections/p/projection/neighbors?index=1200", words=["index", "1200"])
    s.bad("GET", "/hektor/collections/p/projection/neighbors?index=-1", words=["index"])
    s.bad("GET", "/hektor/collections/p/projection/neighbors", words=["index"])
    # Fields: a number (with nulls), a string, a bool, a missing field.
    f = s.ok("GET", "/hektor/collections/p/projection/field?name=score")
    eq(f["kind"], "number")
    eq(len(f["values"]), 1200)
    for i in range(0, 1200, 97):
        pid = int(ids[i])
        want = float(pid) / 10 if pid % 7 else None
        eq(f["values"][i], want, "score of point %d" % pid)
    nums = [float(i) / 10 for i in range(1200) if i % 7]
    eq((f["min"], f["max"]), (min(nums), max(nums)))
    f = s.ok("GET", "/hektor/collections/p/projection/field?name=label")
    eq(f["kind"], "category")
    eq(sorted(f["categories"]), sorted({"c%d" % c for c in lab}))
    for i in range(0, 1200, 61):
        eq(f["categories"][f["codes"][i]], "c%d" % lab[ids[i]])
    counts = [f["codes"].count(c) for c in range(len(f["categories"]))]
    eq(counts, sorted(counts, reverse=True), "most frequent first")
    f = s.ok("GET", "/hektor/collections/p/projection/field?name=flag")
    eq(f["kind"], "category")
    eq(sorted(f["categories"]), ["false", "true"])
    eq(f["categories"][f["codes"][5]], "true" if ids[5] % 2 else "false")
    f = s.ok("GET", "/hektor/collections/p/projection/field?name=nothing")
    eq((f["kind"], f["categories"], set(f["codes"])), ("category", [], {-1}))
    s.bad("GET", "/hektor/collections/p/projection/field", words=["name"])
    # Stale after a write; a new job replaces it.
    s.ok("PUT", "/collections/p/points?wait=true", {"points": [{"id": 5000, "vector": [0.0] * 24}]})
    eq(s.ok("GET", "/hektor/collections/p/projection")["stale"], True)
    project(s, "p", {"neighbors": 10})
    meta = s.ok("GET", "/hektor/collections/p/projection")
    eq((meta["stale"], meta["count"], meta["total"]), (False, 1201, 1201))
    # Sampling.
    project(s, "p", {"max_points": 300, "seed": 9})
    meta = s.ok("GET", "/hektor/collections/p/projection")
    eq((meta["count"], meta["total"], meta["sampled"]), (300, 1201, True))
    y, ids = coords_ids(s, "p")
    eq(len(ids), 300)
    eq(len(set(ids.tolist())), 300, "distinct ids")
    check(set(ids.tolist()) <= set(range(1200)) | {5000}, "real ids")
    # Errors.
    s.bad("POST", "/hektor/collections/nope/projection", {}, status=404)
    s.bad("GET", "/hektor/collections/nope/projection", status=404)
    s.bad("POST", "/hektor/collections/p/projection", {"method": "tsne"}, words=["method"])
    s.bad("POST", "/hektor/collections/p/projection", {"max_points": 0}, words=["max_points"])
    s.bad("POST", "/hektor/collections/p/projection", {"neighbors": 1}, words=["neighbors"])
    s.bad("POST", "/hektor/collections/p/projection", {"neighbors": 101}, words=["neighbors"])
    s.bad("POST", "/hektor/collections/p/projection", {"min_dist": -1}, words=["min_dist"])
    s.bad("POST", "/hektor/collections/p/projection", {"colour": 1}, words=["colour"])
    s.bad("GET", "/hektor/collections/p/projection?method=tsne", words=["method"])
    st, doc = s.call("POST", "/hektor/collections/txt/import?format=jsonl&create=true&wait=true",
                     raw=b'{"id": 1, "text": "just words"}\n',
                     headers={"Content-Type": "application/octet-stream"})
    eq((st, doc["result"]["job"]["state"]), (200, "done"), "text-only import: %r" % doc)
    s.bad("POST", "/hektor/collections/txt/projection", {}, words=["text-only"])
    st, doc = s.call("POST", "/hektor/collections/empty/projection", {})
    eq(st, 404)
    eq(s.ok("PUT", "/collections/empty", {"vectors": {"size": 4, "distance": "Euclid"}}), True)
    job = s.ok("POST", "/hektor/collections/empty/projection?wait=true", {})["job"]
    eq(job["state"], "failed")
    check("empty" in job["message"], "empty collection: %r" % job["message"])
    # Dropping the collection frees its projection.
    eq(s.ok("DELETE", "/collections/p"), True)
    fill(s, "p", x[:50])
    s.bad("GET", "/hektor/collections/p/projection", status=404, words=["POST"])
    # The routes are in /openapi.json.
    doc = s.call("GET", "/openapi.json")[1]
    for path in ("/hektor/collections/{collection_name}/projection",
                 "/hektor/collections/{collection_name}/projection/coords",
                 "/hektor/collections/{collection_name}/projection/ids",
                 "/hektor/collections/{collection_name}/projection/neighbors",
                 "/hektor/collections/{collection_name}/projection/field"):
        check(path in doc["paths"], "openapi lists %s" % path)


@serving
def test_projection_cosine_distances(s, tmp):
    x, _ = clustered(400, 12, 4, seed=8)
    fill(s, "cos", x, distance="Cosine")
    project(s, "cos", {"neighbors": 5})
    y, ids = coords_ids(s, "cos")
    xn = x[ids] / np.linalg.norm(x[ids], axis=1, keepdims=True)
    for idx in (0, 123):
        r = s.ok("GET", "/hektor/collections/cos/projection/neighbors?index=%d" % idx)
        d = 1 - xn @ xn[idx]
        d[idx] = np.inf
        want = np.argsort(d, kind="stable")[:5]
        eq(sorted(nb["index"] for nb in r["neighbors"]), sorted(want.tolist()))
        for nb in r["neighbors"]:
            check(abs(nb["distance"] - d[nb["index"]]) < 1e-4, "cosine distance %r vs %r" %
                  (nb["distance"], d[nb["index"]]))


@serving
def test_projection_cancel(s, tmp):
    x, _ = clustered(20000, 64, 10, seed=4)
    fill(s, "big", x)
    job = s.ok("POST", "/hektor/collections/big/projection", {"method": "umap", "epochs": 5000})["job"]
    deadline = time.monotonic() + 60 * SLOW
    while time.monotonic() < deadline:
        j = s.ok("GET", "/hektor/jobs/" + job["id"])["job"]
        if j["state"] == "running" and j["progress"] > 0.01:
            break
        time.sleep(0.01)
    s.ok("DELETE", "/hektor/jobs/" + job["id"])
    j = s.ok("GET", "/hektor/jobs/%s?wait=true" % job["id"])["job"]
    eq(j["state"], "cancelled", "job: %r" % j)
    s.bad("GET", "/hektor/collections/big/projection?method=umap", status=404)


@serving
def test_projection_forgotten_by_snapshot_upload(s, tmp):
    """A collection replaced by an uploaded snapshot (Qdrant's multipart upload) forgets its
    projection as a recover from a named snapshot does: the old coordinates and ids (of points
    the snapshot may not hold) must not be served as the collection's."""
    x, _ = clustered(200, 8, 3, seed=11)
    fill(s, "other", x[:50])
    snap = s.ok("POST", "/collections/other/snapshots")
    st, _, body = raw_get(s, "/collections/other/snapshots/" + snap["name"])
    eq(st, 200)
    fill(s, "up", x, first_id=1000)
    project(s, "up")
    s.ok("GET", "/hektor/collections/up/projection")
    b = "hkb0und"
    form = (b"--" + b.encode() + b"\r\nContent-Disposition: form-data; name=\"snapshot\"; "
            b"filename=\"x.snapshot\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            + body + b"\r\n--" + b.encode() + b"--\r\n")
    status, doc = s.call("POST", "/collections/up/snapshots/upload", raw=form,
                         headers={"Content-Type": "multipart/form-data; boundary=" + b})
    eq((status, doc.get("result")), (200, True), "upload: %r" % doc)
    s.bad("GET", "/hektor/collections/up/projection", status=404)
    st, _, _ = raw_get(s, "/hektor/collections/up/projection/ids")
    eq(st, 404, "ids of the replaced collection's projection")


@test
def test_projection_auth(tmp):
    s = Server(tmp, tmp("db"), "--api-key", "secret", "--read-only-key", "reader")
    try:
        s.headers = {"api-key": "secret"}
        fill(s, "a", clustered(100, 8, 2, seed=1)[0])
        s.headers = {"api-key": "reader"}
        st, _ = s.call("POST", "/hektor/collections/a/projection?wait=true", {})
        eq(st, 403, "the read-only key may not start a projection")
        s.headers = {}
        st, _ = s.call("GET", "/hektor/collections/a/projection")
        eq(st, 401, "no key")
        s.headers = {"api-key": "secret"}
        project(s, "a")
        s.headers = {"api-key": "reader"}
        eq(s.ok("GET", "/hektor/collections/a/projection")["count"], 100)
        st, _, data = raw_get(s, "/hektor/collections/a/projection/coords")
        eq((st, len(data)), (200, 100 * 12))
    except BaseException:
        s.kill()
        raise
    eq(s.stop(), 0)


# ---- hektor project ----

def make_db(tmp, x, name="c", metric="l2", index="flat"):
    db = tmp("db")
    path = tmp("x.npy")
    np.save(path, x)
    ok(run(["create", name, "--dim", x.shape[1], "--metric", metric, "--index", index], db=db))
    ok(run(["import", name, path], db=db))
    return db


@test
def test_cli_pca_against_numpy(tmp):
    x, _ = clustered(2000, 40, 5, seed=12, spread=1.0)
    x = x * np.linspace(0.2, 2.0, 40, dtype=np.float32)  # distinct variances per axis
    db = make_db(tmp, x.astype(np.float32), index="hnsw")
    out = tmp("pca.csv")
    r = ok(run(["project", "c", "--json", "--out", out], db=db))
    import json
    meta = json.loads(r.out)
    eq((meta["method"], meta["count"], meta["total"], meta["sampled"]), ("pca", 2000, 2000, False))
    a = np.loadtxt(out, delimiter=",", skiprows=1)
    ids = a[:, 0].astype(np.int64)
    y = a[:, 1:]
    eq(sorted(ids.tolist()), list(range(2000)))
    xc = x[ids].astype(np.float64)
    xc -= xc.mean(0)
    w, v = np.linalg.eigh(np.cov(xc.T, bias=True))
    order = np.argsort(w)[::-1]
    ratio = w[order[:3]] / w.sum()
    check(np.allclose(meta["explained_variance"], ratio, rtol=1e-4, atol=1e-6),
          "explained variance %r vs numpy %r" % (meta["explained_variance"], ratio))
    # The subspace: principal angles between ours and numpy's are ~0.
    ref = xc @ v[:, order[:3]]
    qa, _ = np.linalg.qr(ref)
    qb, _ = np.linalg.qr(y - y.mean(0))
    sv = np.linalg.svd(qa.T @ qb, compute_uv=False)
    check(sv.min() > 0.99999, "same 3-D subspace as numpy (cosines of principal angles %r)" % sv)
    for t in range(3):
        c = abs(np.corrcoef(ref[:, t], y[:, t])[0, 1])
        check(c > 0.99999, "axis %d is numpy's eigenvector %d (|r| = %f)" % (t, t, c))
    # The summary in words.
    r = ok(run(["project", "c"], db=db))
    check("projected 2000 of 2000 points with pca" in r.out, r.out)
    check("explained variance: %.4f" % ratio[0] in r.out, r.out)


@test
def test_cli_umap_and_errors(tmp):
    x, lab = clustered(1500, 16, 5, seed=21, spread=0.5)
    db = make_db(tmp, x)
    out = tmp("u.csv")
    r = ok(run(["project", "c", "--method", "umap", "--epochs", "200", "--neighbors", "10",
                "--out", out], db=db))
    check("with umap" in r.out and "k-NN preservation" in r.out, r.out)
    a = np.loadtxt(out, delimiter=",", skiprows=1)
    ids = a[:, 0].astype(np.int64)
    y = a[:, 1:]
    check(np.isfinite(y).all(), "finite")
    d = ((y[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    same = (lab[ids][d.argmin(1)] == lab[ids]).mean()
    check(same >= 0.95, "3-D nearest neighbour in the same cluster for %.3f of points" % same)
    # Sampling.
    r = ok(run(["project", "c", "--max-points", "100", "--json", "--out", out], db=db))
    import json
    meta = json.loads(r.out)
    eq((meta["count"], meta["total"], meta["sampled"]), (100, 1500, True))
    got = np.loadtxt(out, delimiter=",", skiprows=1)[:, 0].astype(np.int64)
    eq(len(set(got.tolist())), 100)
    check(set(got.tolist()) <= set(range(1500)), "real ids")
    # Wrong input.
    fails(run(["project", "c", "--max-points", "0"], db=db), 2, "max-points")
    fails(run(["project", "c", "--method", "tsne"], db=db), 2, "pca or umap")
    fails(run(["project", "c", "--neighbors", "1"], db=db), 2, "neighbors")
    fails(run(["project", "c", "--min-dist", "5"], db=db), 2, "min-dist")
    fails(run(["project", "nope"], db=db), 1, "nope")
    ok(run(["create", "t", "--text-only"], db=db))
    fails(run(["project", "t"], db=db), 1, "text-only")
    ok(run(["create", "e", "--dim", "4"], db=db))
    fails(run(["project", "e"], db=db), 1, "empty")
    r = ok(run(["project", "--help"]))
    check(r.out.startswith("usage: hektor [--db DIR] project"), r.out[:80])


if __name__ == "__main__":
    main()
