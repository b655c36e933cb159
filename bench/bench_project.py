#!/usr/bin/python3
"""bench_project.py — the 3-D projection (`hektor project`): time, memory and k-NN
preservation of PCA and UMAP at 100K x 128 and 1M x 16, beside scikit-learn.

    /usr/bin/python3 bench/bench_project.py [--sizes 100000x128,1000000x16] [--quick]  (make bench-project)
                                            [--out docs/BENCHMARKS.md]

For each size it generates clustered data (50 clusters, each a curved 6-dimensional sheet
through random directions plus small noise, seeded: neighbourhoods with more structure
than three linear axes hold), imports it into a flat collection with `hektor import` and
runs `hektor project --json` with PCA and with UMAP (defaults: 15 neighbours, 200 epochs
above 10,000 points, the k-NN graph from an HNSW graph built over the points, since the
collection is flat). Time is the library's own (`seconds`: copy, graph, layout and quality
measure); peak RSS is the child process's (wait4). The peer is scikit-learn (Debian's
python3-sklearn): PCA (svd_solver "full") on the same vectors, time and explained
variance; and, because UMAP itself is not packaged in Debian, t-SNE (Barnes-Hut, 3
components, its defaults otherwise) beside HEKTOR's UMAP on a 3,000-point subset (t-SNE takes minutes there already), both
scored by the same k-NN preservation computed here in NumPy (exact neighbours on both
sides, 1000 seeded points, k = 15). The report is the block between
`<!-- project:begin -->` and `<!-- project:end -->` in docs/BENCHMARKS.md.
"""
import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import bench  # noqa: E402  (write_block)

BIN = os.environ.get("HEKTOR_BIN", os.path.join(ROOT, "build", "hektor"))
LATENT = 6


def generate(n, dim, seed, clusters=50):
    rng = np.random.default_rng(seed)
    centre = rng.standard_normal((clusters, dim)).astype(np.float32) * 6
    u = rng.standard_normal((LATENT, clusters, dim)).astype(np.float32)
    x = np.empty((n, dim), dtype=np.float32)
    step = 100000
    for a in range(0, n, step):
        b = min(n, a + step)
        lab = rng.integers(0, clusters, b - a)
        z = rng.uniform(-1, 1, (b - a, LATENT)).astype(np.float32)
        v = centre[lab] + 0.02 * rng.standard_normal((b - a, dim)).astype(np.float32)
        for t in range(LATENT):
            v += z[:, t:t + 1] * u[t][lab]
            v += 0.3 * (z[:, t] * z[:, (t + 1) % LATENT])[:, None] * np.roll(u[t][lab], -1, axis=1)
        x[a:b] = v
    return x


def hektor(args, db):
    """(stdout, seconds of wall time, peak RSS bytes) of `hektor --db db ARGS`."""
    env = dict(os.environ, HEKTOR_NOSYNC="1")
    t0 = time.monotonic()
    p = subprocess.Popen([BIN, "--db", db] + [str(a) for a in args], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env)
    out, err = p.stdout.read(), p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode:
        raise SystemExit("hektor %s failed: %s" % (" ".join(map(str, args)), err.decode()))
    return out.decode(), time.monotonic() - t0, ru.ru_maxrss * 1024


def knn_preservation(x, y, k=15, nq=1000, seed=7):
    rng = np.random.default_rng(seed)
    q = rng.choice(len(x), size=min(nq, len(x)), replace=False)
    x64 = x.astype(np.float64)
    xn = (x64 ** 2).sum(1)
    total = 0.0
    for i in q:
        d = xn - 2 * x64 @ x64[i] + xn[i]
        d[i] = np.inf
        a = set(np.argpartition(d, k)[:k].tolist())
        e = ((y - y[i]) ** 2).sum(1)
        e[i] = np.inf
        b = set(np.argpartition(e, k)[:k].tolist())
        total += len(a & b) / k
    return total / len(q)


def load_csv(path):
    a = np.loadtxt(path, delimiter=",", skiprows=1)
    return a[:, 0].astype(np.int64), a[:, 1:]


def machine():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return "%s, %d cores, %s" % (cpu, os.cpu_count(), platform.platform())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100000x128,1000000x16")
    ap.add_argument("--quick", action="store_true", help="20000x32 only, a smoke run")
    ap.add_argument("--tsne-n", type=int, default=3000)
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "BENCHMARKS.md"))
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    sizes = ["20000x32"] if args.quick else args.sizes.split(",")
    try:
        import sklearn
        from sklearn.decomposition import PCA
        from sklearn.manifold import TSNE
        skv = sklearn.__version__
    except ImportError:
        PCA = TSNE = None
        skv = None
    tmp = tempfile.mkdtemp(prefix="hk-bench-project-")
    started = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    load0 = os.getloadavg()[0]
    rows, peer_rows = [], []
    try:
        for spec in sizes:
            n, dim = map(int, spec.split("x"))
            x = generate(n, dim, seed=n + dim)
            db = os.path.join(tmp, "db-%s" % spec)
            np.save(os.path.join(tmp, "x.npy"), x)
            hektor(["create", "c", "--dim", dim, "--index", "flat"], db)
            hektor(["import", "c", os.path.join(tmp, "x.npy")], db)
            for method in ("pca", "umap"):
                csv = os.path.join(tmp, "%s-%s.csv" % (spec, method))
                out, wall, rss = hektor(["project", "c", "--method", method, "--json", "--quiet",
                                         "--out", csv], db)
                m = json.loads(out)
                rows.append((spec, method, m, wall, rss))
                print(spec, method, "%.1f s" % m["seconds"], "knn_pres %.4f" % m["knn_preservation"],
                      "rss %.0f MiB" % (rss / 2 ** 20), flush=True)
            if PCA is not None:
                t0 = time.process_time()
                w0 = time.monotonic()
                p = PCA(n_components=3, svd_solver="full").fit(x)
                peer_rows.append((spec, "scikit-learn PCA (full SVD)", time.monotonic() - w0,
                                  list(p.explained_variance_ratio_), time.process_time() - t0))
            os.remove(os.path.join(tmp, "x.npy"))
            if not args.keep:
                shutil.rmtree(db)
        # UMAP beside t-SNE on the same subset.
        tn = args.tsne_n if not args.quick else 3000
        dim = 32
        x = generate(tn, dim, seed=99)
        db = os.path.join(tmp, "db-tsne")
        np.save(os.path.join(tmp, "x.npy"), x)
        hektor(["create", "c", "--dim", dim, "--index", "flat"], db)
        hektor(["import", "c", os.path.join(tmp, "x.npy")], db)
        cmp_rows = []
        for method in ("pca", "umap"):
            csv = os.path.join(tmp, "tsne-%s.csv" % method)
            out, wall, rss = hektor(["project", "c", "--method", method, "--json", "--quiet", "--out", csv], db)
            m = json.loads(out)
            ids, y = load_csv(csv)
            cmp_rows.append(("HEKTOR %s" % method.upper(), m["seconds"], knn_preservation(x[ids], y)))
        if TSNE is not None:
            w0 = time.monotonic()
            y = TSNE(n_components=3, random_state=1, init="pca", learning_rate="auto").fit_transform(x)
            cmp_rows.append(("scikit-learn t-SNE (Barnes-Hut)", time.monotonic() - w0, knn_preservation(x, y)))
        for r in cmp_rows:
            print("subset", r, flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    load1 = os.getloadavg()[0]
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    L = ["<!-- project:begin -->", "## Projection (3D vector space)", "",
         "Generated by `bench/bench_project.py`%s; run %s UTC at commit `%s` on %s. Load average "
         "%.2f at the start and %.2f at the end: the machine was shared with other work (other "
         "helpers building and testing), so times are slower and noisier than on a quiet machine."
         % (" --quick" if args.quick else "", started, commit, machine(), load0, load1), "",
         "Data: 50 clusters, each a curved 6-dimensional sheet through random directions plus "
         "small noise (seeded), in a flat collection. `hektor project --json`, defaults (15 "
         "neighbours; UMAP 200 epochs above 10,000 points, min_dist 0.1); the k-NN graph is exact "
         "up to 50,000 points, above from an HNSW graph built over the points (M 16, "
         "ef_construction 100). Time is the library's (copy, k-NN graph, PCA, UMAP, quality "
         "measure); RSS the process's peak. k-NN preservation: the mean over 1000 seeded points "
         "of the share of their 15 nearest in the original space among their 15 nearest in 3-D.", "",
         "| data | method | points | k-NN graph | time (s) | peak RSS (MiB) | k-NN preservation | explained variance |",
         "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for spec, method, m, wall, rss in rows:
        ev = m["explained_variance"]
        L.append("| %s | %s | %s | %s | %.1f | %.0f | %.4f | %s |" % (
            spec, method.upper(), "{:,}".format(m["count"]),
            "exact" if m["knn_exact"] else "HNSW", m["seconds"], rss / 2 ** 20, m["knn_preservation"],
            " / ".join("%.4f" % v for v in ev) if ev else "-"))
    if peer_rows:
        L += ["", "Peer, same vectors (scikit-learn %s, in this process):" % skv, "",
              "| data | peer | time (s) | CPU (s) | explained variance |", "| --- | --- | --- | --- | --- |"]
        for spec, name, t, ev, cpu in peer_rows:
            L.append("| %s | %s | %.1f | %.1f | %s |" % (spec, name, t, cpu, " / ".join("%.4f" % v for v in ev)))
    L += ["", "UMAP beside t-SNE on one subset (%s x 32, same data for all three; preservation "
          "computed here, identically for each):" % "{:,}".format(tn), "",
          "| method | time (s) | k-NN preservation |", "| --- | --- | --- |"]
    for name, t, q in cmp_rows:
        L.append("| %s | %.1f | %.4f |" % (name, t, q))
    L += ["", "<!-- project:end -->"]
    bench.write_block(args.out, "<!-- project:begin -->", "<!-- project:end -->", "\n".join(L) + "\n")
    print("wrote", args.out)


if __name__ == "__main__":
    main()
