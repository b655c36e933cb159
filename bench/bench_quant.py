#!/usr/bin/python3
"""bench_quant.py — the quantization benchmark: HEKTOR's codebooks beside FAISS's quantizers.

    /usr/bin/python3 bench/bench_quant.py [--quick] [--out PATH] [--json PATH]   (make bench-quant)

For each dataset (bigann10k from ../shared/data/ann, and generated embedding-like 512-d
vectors) it trains every configuration on the same training vectors in HEKTOR
(build/bench/bench_quant: SQ8 and SQ4, linear and with each companding curve, PQ and OPQ
at 8 bits, PQ at 4 bits) and in FAISS (IndexScalarQuantizer, IndexPQ, OPQMatrix +
IndexPQ, IndexPQ and IndexPQFastScan at 4 bits), and measures bytes per vector, the
reconstruction error, recall@10 on the codes alone and after re-ranking 40 and 100
candidates with the floats, single-thread queries/s of the codes scan plus re-rank, and
training time. The report is the block between `<!-- quant:begin -->` and
`<!-- quant:end -->` in docs/BENCHMARKS.md (bench.py and bench_hnsw.py keep that block
when they rewrite the file).

Decisions:
  - Both engines run on one thread: HEKTOR's worker pool is sized to 1 (bench_quant
    --threads 1) and its search figures are hk_codebook_evaluate's, which scans on the
    calling thread; FAISS runs with omp_set_num_threads(1) and OpenBLAS at one thread.
    So training seconds and queries/s compare like with like, and a second core stays free
    for whatever else runs on the machine. Training is reported in CPU seconds, which
    other processes do not inflate; queries/s are wall clock (the library's own figure),
    shown with the share of the core the process had while they were measured.
  - Both engines train on the same vectors: a seeded sample of the base (its size is
    --train-n, 5,000 by default; bigann10k trains on its whole base), written to a file
    bench_quant reads with --train, so a difference in quality is the method's, not the
    sample's. The sizes keep the default run near ten minutes: FAISS's OPQ training on
    one thread (its k-means at 4 to 16 dimensions, in a build without AVX2) is most of it.
  - Recall is by id against exact float search over the same base (ties to the smaller
    id, as HEKTOR's evaluation breaks them), k = 10. HEKTOR's figures are the library's
    own (hk_codebook_evaluate: a full scan of the codes keeps the best `rerank`, which are
    re-ranked with the floats; one evaluation per depth). FAISS's: one index.search with
    k = 100 on the codes (timed), its first 10 ids are the codes-alone answer, its first
    40 or 100 are re-ranked with the float vectors in NumPy (timed per depth; this is
    what IndexRefineFlat does, without a second scan per depth). FAISS's queries/s at a
    depth is nq / (scan + that depth's re-rank).
  - FAISS's OPQ runs HEKTOR's schedule: the rotation starts from the identity (OPQMatrix.A
    preset), 10 rotation updates, 25 k-means iterations in the first and 4 in each later
    one (OPQMatrix niter, niter_pq_0; niter_pq is 4 already). With FAISS's defaults (a
    random start, 50 updates) its OPQ measured worse than its own plain PQ on bigann10k
    (m = 16: MSE 136 against 78, recall@10 0.732 against 0.765) and trained three times
    longer, so the defaults would flatter HEKTOR and cost minutes. Everything else is each
    library's default.
  - A search that took under 0.2 s is repeated (HEKTOR: its evaluation, up to 5 times;
    FAISS: the scan, up to 5 times) and the best time kept: on a 10,000-vector base one
    pass takes milliseconds, and one pass on a shared machine is mostly noise.
  - The generated data imitates real embeddings: 100 Gaussian clusters in a latent space
    whose per-dimension variances decay as 1/(1 + i), rotated by a random orthogonal
    matrix (so dimensions are correlated, which OPQ can undo), rows scaled to mean norm 1;
    queries come from the same clusters. Seeded; nothing is stored in the repository.
"""
import argparse
import ctypes
import datetime
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np

import bench  # bench.py beside this file: readers, machine description, load figures

ROOT = bench.ROOT
K = 10
RERANKS = (40, 100)
BEGIN, END = "<!-- quant:begin -->", "<!-- quant:end -->"
CURVES = ("st2084", "hlg", "pu21", "gamma", "mulaw")
OPQ_NITER = 10         # HEKTOR's default opq_iterations
PQ_ITERATIONS = 25     # HEKTOR's default k-means iterations (FAISS's PQ default too)
MIN_SEARCH_SECONDS = 0.2
TIE = 0.005            # recall gaps below this count as level in the verdicts
SEEDS = 5              # seeds per side when a pair is rerun (--seeds)
MAX_SCANS = 5
EMBED = "embed-512"
log = bench.log


# ---- data ----

def embeddings(n, nq, dim, seed, nclusters=100, spread=0.5):
    """n base and nq query vectors shaped like real embeddings (see Decisions)."""
    rng = np.random.default_rng(seed)
    sd = (1.0 / np.sqrt(1.0 + np.arange(dim))).astype(np.float32)
    q, r = np.linalg.qr(rng.standard_normal((dim, dim)))
    rot = (q * np.sign(np.diag(r))).astype(np.float32)
    centres = rng.standard_normal((nclusters, dim), dtype=np.float32) * sd
    mean = rng.standard_normal(dim, dtype=np.float32) * sd * 0.5
    size = rng.uniform(0.5 * spread, 1.5 * spread, nclusters).astype(np.float32)

    def draw(count):
        lab = rng.integers(0, nclusters, count)
        z = rng.standard_normal((count, dim), dtype=np.float32) * sd
        z *= size[lab, None]
        z += centres[lab] + mean
        return z @ rot.T

    xb, xq = draw(n), draw(nq)
    scale = np.float32(1.0 / np.linalg.norm(xb, axis=1).mean())
    return xb * scale, xq * scale


def write_fvecs(path, x):
    a = np.empty((x.shape[0], x.shape[1] + 1), dtype=np.float32)
    a[:, 0] = np.array([x.shape[1]], dtype=np.int32).view(np.float32)[0]
    a[:, 1:] = x
    a.tofile(path)


def ground_truth(xb, xq, k):
    """Exact top-k ids by float64 squared distance, ties to the smaller id."""
    xb64 = xb.astype(np.float64)
    nb = (xb64 ** 2).sum(1)
    out = np.empty((len(xq), k), dtype=np.int64)
    for i in range(0, len(xq), 50):
        q = xq[i:i + 50].astype(np.float64)
        d = nb[None, :] - 2.0 * q @ xb64.T + (q ** 2).sum(1)[:, None]
        out[i:i + 50] = np.argsort(d, axis=1, kind="stable")[:, :k]
    return out


def recall_ids(found, truth):
    """Mean share of each query's true top-k ids found (duplicates count once)."""
    k = truth.shape[1]
    return float(np.mean([len(set(f[:k].tolist()) & set(t.tolist())) / k
                          for f, t in zip(found, truth)]))


# ---- configurations ----

def hektor_configs(dim):
    c = ["sq8", "sq4"] + [f"sq{b}:{cv}" for b in (8, 4) for cv in CURVES]
    for div in (4, 8, 16):
        c += [f"pq:{dim // div}:8", f"opq:{dim // div}:8"]
    return c + [f"pq:{dim // 2}:4", f"pq:{dim // 4}:4"]


def faiss_configs(dim):
    c = ["sq8", "sq4"]
    for div in (4, 8, 16):
        c += [f"pq:{dim // div}:8", f"opq:{dim // div}:8"]
    for div in (2, 4):
        c += [f"pq:{dim // div}:4", f"pqfs:{dim // div}:4"]
    return c


def faiss_index(cfg, d, seed=None):
    """FAISS's index for cfg; seed (None = FAISS's default, 1234) seeds its k-means."""
    import faiss

    f = cfg.split(":")
    if f[0] in ("sq8", "sq4"):
        qt = faiss.ScalarQuantizer.QT_8bit if f[0] == "sq8" else faiss.ScalarQuantizer.QT_4bit
        return faiss.IndexScalarQuantizer(d, qt, faiss.METRIC_L2)
    m, bits = int(f[1]), int(f[2])
    if f[0] in ("pq", "pqfs"):
        index = faiss.IndexPQ(d, m, bits) if f[0] == "pq" else faiss.IndexPQFastScan(d, m, bits)
        if seed is not None:
            index.pq.cp.seed = seed
        return index
    opq = faiss.OPQMatrix(d, m)
    opq.niter = OPQ_NITER
    opq.niter_pq_0 = PQ_ITERATIONS
    faiss.copy_array_to_vector(np.eye(d, dtype=np.float32).ravel(), opq.A)
    pq = faiss.IndexPQ(d, m, bits)
    if seed is not None:
        # OPQMatrix trains its own ProductQuantizer (seed 1234) unless given one: give it
        # the index's, so the seed reaches the rotation's k-means and the final codebooks.
        pq.pq.cp.seed = seed
        opq.pq = pq.pq
    index = faiss.IndexPreTransform(opq, pq)
    index.hektor_keep = (opq, pq)  # the C++ objects must outlive the Python wrappers' use
    return index


def faiss_title(cfg, d):
    f = cfg.split(":")
    if f[0] in ("sq8", "sq4"):
        return f"FAISS IndexScalarQuantizer QT_{f[0][2]}bit"
    m, b = f[1], f[2]
    return {"pq": f"FAISS IndexPQ({d}, {m}, {b})", "pqfs": f"FAISS IndexPQFastScan({d}, {m}, {b})",
            "opq": f"FAISS OPQMatrix({d}, {m}) + IndexPQ({d}, {m}, {b})"}[f[0]]


def hektor_title(cfg):
    f = cfg.split(":")
    if f[0] in ("sq8", "sq4"):
        return f"HEKTOR {f[0]}" + (f" {f[1]}" if len(f) > 1 else "")
    return f"HEKTOR {f[0]} m={f[1]}, {f[2]} bits"


def family(cfg):
    """The like-for-like key: FAISS's FastScan pairs with HEKTOR's 4-bit PQ."""
    f = cfg.split(":")
    if f[0] in ("sq8", "sq4"):
        return f[0] if len(f) == 1 or f[1] == "none" else None
    return ("pq" if f[0] == "pqfs" else f[0]) + ":" + f[1] + ":" + f[2]


# ---- FAISS worker (a separate process) ----

def worker(args):
    import faiss

    faiss.omp_set_num_threads(1)
    try:
        ob = ctypes.CDLL("libopenblas.so.0")
        ob.openblas_set_num_threads(1)
    except (OSError, AttributeError):
        pass
    xb, xq, xt = np.load(args.base), np.load(args.queries), np.load(args.train)
    d = xb.shape[1]
    t0 = time.perf_counter()
    truth = ground_truth(xb, xq, K)
    np.save(args.truth_out, truth)
    log(f"  faiss worker: ground truth in {time.perf_counter() - t0:.1f} s")
    kmax = max(RERANKS)
    for cfg in args.configs.split(","):
        index = faiss_index(cfg, d, args.faiss_seed)
        t, c = time.perf_counter(), time.process_time()
        index.train(xt)
        train_s, train_cpu = time.perf_counter() - t, time.process_time() - c
        t = time.perf_counter()
        index.add(xb)
        add_s = time.perf_counter() - t
        if cfg.startswith("pqfs"):
            code_bytes = index.pq.code_size
            rec = index.pq.decode(index.pq.compute_codes(xb))
        else:
            code_bytes = index.sa_code_size()
            rec = index.sa_decode(index.sa_encode(xb))
        mse = float(((rec.astype(np.float64) - xb) ** 2).mean())
        del rec
        scans = []  # (wall, cpu) per scan
        while not scans or (sum(w for w, _ in scans) < MIN_SEARCH_SECONDS and len(scans) < MAX_SCANS):
            t, c = time.perf_counter(), time.process_time()
            _, cand = index.search(xq, kmax)
            scans.append((time.perf_counter() - t, time.process_time() - c))
        scan_s, scan_cpu = min(scans)
        out = {"config": cfg, "class": type(index).__name__, "n": len(xb), "dim": d, "nq": len(xq),
               "trained_on": len(xt), "train_seconds": train_s, "train_cpu_seconds": train_cpu,
               "add_seconds": add_s,
               "code_bytes": int(code_bytes), "bytes_per_vector": int(code_bytes),
               "compression": 4.0 * d / code_bytes, "mse": mse,
               "recall": recall_ids(cand[:, :K], truth), "scan_seconds": scan_s, "scans": len(scans),
               "scan_cpu_share": min(1.0, scan_cpu / scan_s) if scan_s > 0 else 1.0,
               "scan_per_s": len(xq) / scan_s, "rerank": []}
        for r in RERANKS:
            times = []
            for _ in range(len(scans)):
                t = time.perf_counter()
                c = cand[:, :r]
                dist = ((xb[c] - xq[:, None, :]) ** 2).sum(-1)
                ids = np.take_along_axis(c, np.argsort(dist, axis=1, kind="stable")[:, :K], 1)
                times.append(time.perf_counter() - t)
            rr_s = min(times)
            out["rerank"].append({"rerank": r, "recall_rerank": recall_ids(ids, truth),
                                  "rerank_seconds": rr_s, "cpu_share": out["scan_cpu_share"],
                                  "search_per_s": len(xq) / (scan_s + rr_s)})
        print(json.dumps(out), flush=True)
        del index


# ---- running ----

def stream_json(cmd, timeout, what):
    """Runs cmd, logging each JSON line it prints as it arrives; returns them parsed."""
    log("  $ " + " ".join(cmd))
    t0 = time.time()
    out = []
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) as p:
        for line in p.stdout:
            if not line.strip():
                continue
            r = json.loads(line)
            out.append(r)
            rr = r["rerank"][0]
            log(f"    {what} {r['config']}: {r['bytes_per_vector']:g} B, mse {r['mse']:.4g}, "
                f"recall {r['recall']:.3f} / {rr['recall_rerank']:.3f} at {rr['rerank']}, "
                f"{rr['search_per_s']:,.0f} q/s (CPU share {rr['cpu_share']:.2f}), train "
                f"{r['train_cpu_seconds']:.1f} CPU s ({time.time() - t0:.0f} s)")
            if time.time() - t0 > timeout:
                p.kill()
                raise SystemExit(f"bench_quant: {cmd[0]} ran past {timeout} s")
        p.wait()
        if p.returncode != 0:
            raise SystemExit(f"bench_quant: {' '.join(cmd[:2])} failed ({p.returncode})")
    return out


def run_dataset(name, paths, xb, xq, xt, args, tmp):
    log(f"== {name}: {len(xb):,} x {xb.shape[1]}, {len(xq)} queries, training on {len(xt):,}")
    t0, busy0, own0 = time.time(), bench.cpu_busy_seconds(), bench.own_cpu_seconds()
    dim = xb.shape[1]
    d = {"name": name, "n": len(xb), "dim": dim, "nq": len(xq), "train_n": len(xt)}
    hk_cmd = [args.bench_quant, "--data", paths["base"], "--queries", paths["query"],
              "--train", paths["train"], "--threads", "1", "--k", str(K),
              "--min-seconds", str(MIN_SEARCH_SECONDS),
              "--rerank", ",".join(map(str, RERANKS))] + hektor_configs(dim)
    d["hektor"] = stream_json(hk_cmd, args.timeout, "HEKTOR")
    d["hektor_seconds"] = time.time() - t0
    npy = {}
    for key, x in (("base", xb), ("query", xq), ("train", xt)):
        npy[key] = os.path.join(tmp, f"{name}.{key}.npy")
        np.save(npy[key], x)
    truth_path = os.path.join(tmp, f"{name}.truth.npy")
    t1 = time.time()
    fa_cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--base", npy["base"],
              "--queries", npy["query"], "--train", npy["train"], "--truth-out", truth_path,
              "--configs", ",".join(faiss_configs(dim))]
    d["faiss"] = stream_json(fa_cmd, args.timeout, "FAISS")
    d["faiss_seconds"] = time.time() - t1
    if "gt" in paths:
        truth = np.load(truth_path)
        d["truth_vs_shipped"] = recall_ids(paths["gt"][:len(xq), :K], truth)
    d["sweeps"] = seed_sweep(d, paths, npy, truth_path, args)
    for f in npy.values():
        os.remove(f)
    d["seconds"] = time.time() - t0
    other = max(0.0, (bench.cpu_busy_seconds() - busy0) - (bench.own_cpu_seconds() - own0))
    d["other_busy"] = other / (d["seconds"] * (os.cpu_count() or 1))
    return d


def trails(h, f):
    return (h["recall"] < f["recall"] - TIE
            or rr(h, RERANKS[0])["recall_rerank"] < rr(f, RERANKS[0])["recall_rerank"] - TIE)


def seed_sweep(d, paths, npy, truth_path, args):
    """Reruns each pair that trails FAISS with one seed at seeds 1..args.seeds on both sides.

    One seed per engine cannot tell a worse quantizer from a worse draw: the k-means seed
    moves recall by a hundredth or two. Only the recall is kept (speed is measured once,
    above). Returns one entry per pair: the configs and each side's recalls per seed."""
    if args.seeds <= 0:
        return []
    sweeps = []
    for h, f in paired(d):
        if not trails(h, f):
            continue
        log(f"  seed sweep: {h['config']} against {f['config']}, seeds 1..{args.seeds}")
        hs, fs = [], []
        for s in range(1, args.seeds + 1):
            cmd = [args.bench_quant, "--data", paths["base"], "--queries", paths["query"],
                   "--train", paths["train"], "--threads", "1", "--k", str(K), "--seed", str(s),
                   "--rerank", str(RERANKS[0]), h["config"]]
            r = stream_json(cmd, args.timeout, f"HEKTOR seed {s}")[0]
            hs.append({"seed": s, "recall": r["recall"], "recall_rerank": rr(r, RERANKS[0])["recall_rerank"]})
            cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--base", npy["base"],
                   "--queries", npy["query"], "--train", npy["train"], "--truth-out", truth_path,
                   "--configs", f["config"], "--faiss-seed", str(s)]
            r = stream_json(cmd, args.timeout, f"FAISS seed {s}")[0]
            fs.append({"seed": s, "recall": r["recall"], "recall_rerank": rr(r, RERANKS[0])["recall_rerank"]})
        sweeps.append({"hektor": h["config"], "faiss": f["config"], "hektor_runs": hs, "faiss_runs": fs})
    return sweeps


def sweep_stats(sw, key):
    """(HEKTOR mean, FAISS mean, their difference, its standard error) over the seeds."""
    h = np.array([r[key] for r in sw["hektor_runs"]])
    f = np.array([r[key] for r in sw["faiss_runs"]])
    se = float(np.sqrt(h.var(ddof=1) / len(h) + f.var(ddof=1) / len(f))) if len(h) > 1 else 0.0
    return float(h.mean()), float(f.mean()), float(h.mean() - f.mean()), se


def sweep_trails(sw):
    """A pair trails when, on either measure, HEKTOR's mean is below FAISS's by more than
    TIE and by more than twice the standard error of the difference."""
    for key in ("recall", "recall_rerank"):
        _, _, diff, se = sweep_stats(sw, key)
        if diff < -max(TIE, 2 * se):
            return True
    return False


# ---- report ----

def by_config(rows):
    return {r["config"]: r for r in rows}


def rr(r, depth):
    return next(x for x in r["rerank"] if x["rerank"] == depth)


def paired(d):
    """(HEKTOR row, FAISS row) for every like-for-like pair, largest codes first."""
    fa = d["faiss"]
    pairs = []
    for h in d["hektor"]:
        fam = family(h["config"])
        if fam is None:
            continue
        for f in fa:
            if family(f["config"]) == fam:
                pairs.append((h, f))
    return sorted(pairs, key=lambda p: -p[0]["bytes_per_vector"])


def cpu_rate(r):
    """Queries/s at the default depth per second the process had the core."""
    x = rr(r, RERANKS[0])
    return x["search_per_s"] / max(x["cpu_share"], 1e-3)


def fmt_rate(x):
    return f"{x:,.0f}" if x >= 100 else f"{x:,.1f}"


def row_cells(title, r):
    cells = [title, f"{r['bytes_per_vector']:g}", f"{r['compression']:g}x", f"{r['mse']:.4g}",
             f"{r['recall']:.3f}"]
    cells += [f"{rr(r, x)['recall_rerank']:.3f}" for x in RERANKS]
    cells.append(fmt_rate(rr(r, RERANKS[0])["search_per_s"]))
    cells.append(f"{rr(r, RERANKS[0])['cpu_share']:.2f}")
    cells.append(f"{r['train_cpu_seconds']:.1f}")
    return "| " + " | ".join(cells) + " |"


def dataset_table(d):
    dim = d["dim"]
    H, F = by_config(d["hektor"]), by_config(d["faiss"])
    order = ["sq8", "sq4"]
    for div in (4, 8, 16):
        order += [f"pq:{dim // div}:8", f"opq:{dim // div}:8"]
    order += [f"pq:{dim // 2}:4", f"pq:{dim // 4}:4"]
    entries = []
    for i, cfg in enumerate(order):
        if cfg in H:
            entries.append((-H[cfg]["bytes_per_vector"], i, 0, hektor_title(cfg), H[cfg]))
        for fc in (cfg, cfg.replace("pq:", "pqfs:", 1) if cfg.endswith(":4") else None):
            if fc and fc in F:
                entries.append((-F[fc]["bytes_per_vector"], i, 1 + fc.startswith("pqfs"),
                                faiss_title(fc, dim), F[fc]))
    entries.sort(key=lambda e: e[:3])
    L = [f"#### {d['name']} — {d['n']:,} x {dim} base, {d['nq']:,} queries, trained on "
         f"{d['train_n']:,}, k = {K}", "",
         f"HEKTOR took {d['hektor_seconds']:.0f} s, FAISS {d['faiss_seconds']:.0f} s; other "
         f"processes used {100 * d['other_busy']:.0f}% of the cores meanwhile.", "",
         f"| Method | Bytes/vector | Compression | MSE | Recall@{K} codes | Recall@{K} re-rank "
         f"{RERANKS[0]} | Recall@{K} re-rank {RERANKS[1]} | q/s, 1 thread (re-rank {RERANKS[0]}) "
         "| CPU share | Train CPU s |", "|---|---|---|---|---|---|---|---|---|---|"]
    L += [row_cells(e[3], e[4]) for e in entries]
    fl = d["hektor"][0]["rerank"][0]["float_search_per_s"]
    L += ["", f"For scale: HEKTOR's exact float scan of the same base runs at {fmt_rate(fl)} "
          "queries/s on one thread (hk_codebook_evaluate's reference search)."]
    if "truth_vs_shipped" in d:
        L[-1] += (f" The computed ground truth agrees with the shipped one at recall "
                  f"{d['truth_vs_shipped']:.4f}.")
    fs = [r for r in d["faiss"] if r["config"].startswith("pqfs")]
    if fs:
        L[-1] += (" FAISS's FastScan rows: 4-bit PQ codes in blocks of 32 searched with "
                  "8-bit distance tables; reconstruction through its ProductQuantizer.")
    return L + [""]


def goals(results):
    L = ["### The issue's goals", "",
         f"**At equal bytes per vector, recall at least FAISS's.** Like-for-like pairs (same "
         f"method, same code size; HEKTOR's 4-bit PQ is set against both IndexPQ and "
         f"IndexPQFastScan), recall@{K} on the codes alone and after re-ranking {RERANKS[0]} "
         "(HEKTOR's default depth). With "
         + " and ".join(f"{d['nq']} queries on {d['name']}" for d in results)
         + ", one neighbour is " + " and ".join(f"{1 / (K * d['nq']):.4f}" for d in results)
         + " of recall; "
         "differences of a few thousandths are within what another query sample would change. "
         "The k-means seed moves recall more, by one or two hundredths, so one seed per engine "
         "cannot tell a worse quantizer from a worse draw. The table below has one seed per "
         f"engine (HEKTOR 1, FAISS its default); every pair that trails there by more than {TIE:g} "
         f"is rerun with seeds 1 to {max([len(sw['hektor_runs']) for d in results for sw in d.get('sweeps', [])] or [SEEDS])} "
         "on both sides (same data, same training sample), and judged by the means: it trails "
         f"only when HEKTOR's mean is below FAISS's by more than {TIE:g} and by more than twice "
         "the standard error of the difference.", "",
         "| Dataset | Bytes | HEKTOR | FAISS | Codes: HEKTOR / FAISS | "
         f"Re-rank {RERANKS[0]}: HEKTOR / FAISS | At least FAISS's |", "|---|---|---|---|---|---|---|"]
    summary, behind, swept, sweep_rows = [], [], [], []
    for d in results:
        pairs = paired(d)
        n_codes = n_rr = 0
        sweeps = {(sw["hektor"], sw["faiss"]): sw for sw in d.get("sweeps", [])}
        for h, f in pairs:
            hc, fc = h["recall"], f["recall"]
            hr, fr = rr(h, RERANKS[0])["recall_rerank"], rr(f, RERANKS[0])["recall_rerank"]
            ok_c, ok_r = hc >= fc, hr >= fr
            n_codes += ok_c
            n_rr += ok_r
            sw = sweeps.get((h["config"], f["config"]))
            title = f"{h['config']} against {faiss_title(f['config'], d['dim'])} on {d['name']}"
            if sw:
                c = sweep_stats(sw, "recall")
                r = sweep_stats(sw, "recall_rerank")
                n = len(sw["hektor_runs"])
                verdict_sw = "**trails**" if sweep_trails(sw) else "level within seed noise"
                sweep_rows.append(
                    f"| {d['name']} | {h['config']} | "
                    f"{faiss_title(f['config'], d['dim']).replace('FAISS ', '')} | {n} | "
                    f"{c[0]:.4f} / {c[1]:.4f} | {c[2]:+.4f} ± {2 * c[3]:.4f} | "
                    f"{r[0]:.4f} / {r[1]:.4f} | {r[2]:+.4f} ± {2 * r[3]:.4f} | {verdict_sw} |")
                if sweep_trails(sw):
                    behind.append(f"{title} (mean of {n} seeds: codes {c[2]:+.4f}, re-rank "
                                  f"{RERANKS[0]} {r[2]:+.4f})")
                else:
                    swept.append(title)
            elif trails(h, f):
                behind.append(f"{title} (codes {hc - fc:+.3f}, re-rank {RERANKS[0]} "
                              f"{hr - fr:+.3f}; one seed)")
            verdict = ("yes" if ok_c and ok_r else
                       "**no**" if not ok_c and not ok_r else
                       "codes only" if ok_c else f"re-rank {RERANKS[0]} only")
            L.append(f"| {d['name']} | {h['bytes_per_vector']:g} | {h['config']} | "
                     f"{faiss_title(f['config'], d['dim']).replace('FAISS ', '')} | "
                     f"{hc:.3f} / {fc:.3f} | {hr:.3f} / {fr:.3f} | {verdict} |")
        summary.append(f"{d['name']}: HEKTOR is at least FAISS's in {n_codes} of {len(pairs)} "
                       f"pairs on the codes alone and {n_rr} of {len(pairs)} after re-ranking "
                       f"{RERANKS[0]}")
    L += ["", "; ".join(summary) + " (one seed each).", ""]
    if sweep_rows:
        L += ["Pairs rerun over seeds (recall@10 means, HEKTOR / FAISS; the difference with twice "
              "its standard error):", "",
              f"| Dataset | HEKTOR | FAISS | Seeds | Codes | Difference | Re-rank {RERANKS[0]} | "
              "Difference | Verdict |", "|---|---|---|---|---|---|---|---|---|"] + sweep_rows + [""]
    tail = (f" The {len(swept)} pair{'s' if len(swept) != 1 else ''} that trailed with one seed "
            "came out level within seed noise over the seeds." if swept else "")
    L += [("**Verdict: not met everywhere.** HEKTOR trails FAISS by more than "
           f"{TIE:g} (recall@{K}) in " + "; ".join(behind) + ". Everywhere else it is at least "
           f"level within {TIE:g} or within seed noise." + tail) if behind else
          (f"**Verdict: met.** Every pair is within {TIE:g} of FAISS or above it with one seed, "
           f"or, rerun over seeds, is not below it by more than {TIE:g} and twice the standard "
           "error of the difference." + tail), ""]
    best = []
    for d in results:
        sizes = sorted({r["bytes_per_vector"] for r in d["hektor"] + d["faiss"]}, reverse=True)
        cells = []
        for b in sizes:
            hs = [r for r in d["hektor"] if r["bytes_per_vector"] == b]
            fs = [r for r in d["faiss"] if r["bytes_per_vector"] == b]
            if not hs or not fs:
                continue
            hb = max(hs, key=lambda r: r["recall"])
            fb = max(fs, key=lambda r: r["recall"])
            cells.append(f"{b:g} B: {hb['recall']:.3f} ({hb['config']}) vs {fb['recall']:.3f} "
                         f"({fb['config']})")
        best.append(f"{d['name']}: " + "; ".join(cells))
    L += [f"Best recall@{K} on the codes alone at each size, any method (HEKTOR's curves "
          "included) — " + ". ".join(best) + ".", ""]
    for d in results:
        at16 = [r for r in d["hektor"] if abs(r["compression"] - 16) < 1e-9]
        cells = [f"{r['config']} {rr(r, RERANKS[0])['recall_rerank']:.3f} at {RERANKS[0]}, "
                 f"{rr(r, RERANKS[1])['recall_rerank']:.3f} at {RERANKS[1]} "
                 f"(codes alone {r['recall']:.3f})" for r in at16]
        met40 = [r for r in at16 if rr(r, RERANKS[0])["recall_rerank"] >= 0.95]
        met100 = [r for r in at16 if rr(r, RERANKS[1])["recall_rerank"] >= 0.95]
        verdict = (f"met at HEKTOR's default depth by {len(met40)} of {len(at16)}" if met40 else
                   f"met only at depth {RERANKS[1]}" if met100 else "**not met**")
        L.append(f"**{d['name']}: 16x compression with recall@{K} >= 0.95 after re-ranking** — "
                 f"{verdict}: " + "; ".join(cells) + ".")
        L.append("")
    return L


def curves_section(results):
    L = ["### Companding curves against linear SQ", "",
         "Every curve's parameter was left at 0, so training tuned it on the sample (the "
         "parameter the codebook records is shown; HLG has none). The curve rows compare with "
         "linear SQ at the same bits on the same data (in brackets): an MSE ratio below 1 and "
         "a recall above linear's mean the curve helps.", ""]
    verdict = {}
    for d in results:
        H = by_config(d["hektor"])
        L += [f"#### {d['name']}", "",
              f"| Curve | Bits | Parameter | MSE | MSE / linear | Recall@{K} codes (linear) | "
              f"Re-rank {RERANKS[0]} (linear) | q/s, 1 thread (linear) | Train CPU s |",
              "|---|---|---|---|---|---|---|---|---|"]
        for bits in (8, 4):
            lin = H.get(f"sq{bits}")
            if not lin:
                continue
            L.append(f"| linear | {bits} | — | {lin['mse']:.4g} | 1 | {lin['recall']:.3f} | "
                     f"{rr(lin, RERANKS[0])['recall_rerank']:.3f} | "
                     f"{fmt_rate(rr(lin, RERANKS[0])['search_per_s'])} | {lin['train_cpu_seconds']:.1f} |")
            for cv in CURVES:
                r = H.get(f"sq{bits}:{cv}")
                if not r:
                    continue
                ratio = r["mse"] / lin["mse"] if lin["mse"] > 0 else float("nan")
                param = "—" if cv == "hlg" else f"{r['curve_param']:g}"
                L.append(f"| {cv} | {bits} | {param} | {r['mse']:.4g} | {ratio:.3f} | "
                         f"{r['recall']:.3f} ({lin['recall']:.3f}) | "
                         f"{rr(r, RERANKS[0])['recall_rerank']:.3f} "
                         f"({rr(lin, RERANKS[0])['recall_rerank']:.3f}) | "
                         f"{fmt_rate(rr(r, RERANKS[0])['search_per_s'])} "
                         f"({fmt_rate(rr(lin, RERANKS[0])['search_per_s'])}) | "
                         f"{r['train_cpu_seconds']:.1f} |")
                verdict.setdefault(cv, []).append(
                    (f"{bits} bits on {d['name']}", ratio, r["recall"] - lin["recall"]))
        L.append("")
    noise = max(1 / (K * d["nq"]) for d in results)
    L += [f"Verdict per curve (\"better\" = lower MSE and recall on the codes no lower than "
          f"linear's; recall gaps below {TIE:g} count as equal):", ""]
    for cv in CURVES:
        v = verdict.get(cv, [])
        if not v:
            continue
        def tag(ratio, gap):
            if ratio < 1 and gap > -TIE:
                return "better"
            return "worse" if ratio >= 1 and gap < TIE else "mixed"

        tags = [tag(ratio, gap) for _, ratio, gap in v]
        words = ("beats linear everywhere" if all(t == "better" for t in tags) else
                 "never beats linear" if "better" not in tags else
                 "beats linear in some cases only")
        cells = [f"{w}: MSE x{ratio:.2f}, recall {gap:+.3f} ({t})"
                 for (w, ratio, gap), t in zip(v, tags)]
        L.append(f"- **{cv}** {words} — " + "; ".join(cells) + ".")
    speed = []
    for d in results:
        H = by_config(d["hektor"])
        for bits in (8, 4):
            lin = H.get(f"sq{bits}")
            ratios = [cpu_rate(H[f"sq{bits}:{cv}"]) / cpu_rate(lin)
                      for cv in CURVES if f"sq{bits}:{cv}" in H]
            if lin and ratios:
                speed.append(f"{bits} bits on {d['name']} {min(ratios):.2f} to {max(ratios):.2f}")
    L += ["", "Speed of the curve codes against linear's (ratio of q/s at re-rank "
          f"{RERANKS[0]}, each divided by its CPU share so that load does not tilt it): "
          + "; ".join(speed) + ". Training with a curve includes the search for its parameter, "
          "hence its longer training.",
          "", f"(Recall resolution: one neighbour is {noise:.4f} on the smaller query set.)", ""]
    return L


def block(info, results, args, started, elapsed):
    sizes = "; ".join(f"{d['name']} {d['n']:,} x {d['dim']} base, {d['nq']:,} queries, "
                      f"training sample {d['train_n']:,}" for d in results)
    L = [BEGIN, "## Quantization: HEKTOR's codebooks beside FAISS's quantizers", "",
         "Generated by `bench/bench_quant.py`; do not edit by hand. Rerun with `make bench-quant` "
         "(`bench/bench.py` and `bench/bench_hnsw.py` keep this block as it is)"
         + (", here with `--quick`: smaller sizes, a smoke run, not the reference numbers"
            if args.quick else "") + ".", "",
         f"Run {started} UTC, {elapsed:.0f} s in all, at commit `{info['commit']}` (include/ "
         f"and src/: {info['sources']}), on {info['cpu']} ({info['cores']} cores, "
         f"{info['memory']}, hypervisor {info['hypervisor']}). Other work on the machine during "
         f"the run: {100 * info['other_busy']:.0f}% of all cores; load average "
         f"{info['load_start']} at the start, {info['load_end']} at the end. Datasets: {sizes}.", "",
         f"HEKTOR: {info['hektor']}; {info['compiler']}; distance kernel "
         f"{info['hektor_kernel']}. FAISS {info['faiss_version']} (compile options "
         f"`{info['faiss_compile']}`: no AVX2 code path is loaded, so its scalar quantizer and "
         f"FastScan kernels run without SIMD, while HEKTOR's use AVX-512 here; most of the gap "
         f"in SQ queries/s is that). Packages: {info['packages']}.", "",
         "### Method", "",
         "- HEKTOR: `bench_quant` (public C API): hk_codebook_train with every parameter at its "
         "default except the training vectors, the pool at one worker (`--threads 1`), then "
         f"hk_codebook_evaluate with k = {K} once per re-rank depth ({RERANKS[0]}, HEKTOR's "
         f"default 4k, and {RERANKS[1]}). Its recall is by id against its own exact float scan; "
         "its queries/s is one thread scanning every code, keeping the best candidates and "
         "re-ranking them with the floats. MSE is per component, over the whole base.",
         "- FAISS: IndexScalarQuantizer QT_8bit / QT_4bit, IndexPQ(d, m, 8), "
         "IndexPreTransform(OPQMatrix(d, m), IndexPQ(d, m, 8)), IndexPQ(d, m, 4) "
         "and IndexPQFastScan(d, m, 4), all trained on the same vectors as HEKTOR's, one "
         "OpenMP and one OpenBLAS thread throughout. The OPQ follows HEKTOR's schedule: "
         f"rotation started at the identity, {OPQ_NITER} updates, {PQ_ITERATIONS} k-means "
         "iterations in the first and 4 in each later one (FAISS's defaults, a random start "
         "and 50 updates, made its OPQ worse than its plain PQ on bigann10k when this benchmark "
         "was written: at m = 16 MSE 136 against 78, recall@10 0.732 against 0.765, in three "
         "times the training time). "
         "Codes alone: index.search with "
         f"k = {max(RERANKS)}, first {K} ids. Re-ranking: the first {RERANKS[0]} or "
         f"{RERANKS[1]} of those ids re-ranked by exact float32 distance in NumPy, as "
         "IndexRefineFlat would. Queries/s = queries / (the scan + that re-rank), both timed, "
         "one thread. Bytes per vector: sa_code_size() (FastScan: its ProductQuantizer's "
         "code_size). MSE from sa_encode/sa_decode over the whole base.",
         f"- Timing: a search that took less than {MIN_SEARCH_SECONDS:g} s is repeated (HEKTOR: "
         f"the whole evaluation; FAISS: the scan), at most {MAX_SCANS} times, best time kept.",
         f"- Ground truth: exact top {K} by float64 distance over the same base, ties to the "
         "smaller id, the same rule HEKTOR's evaluation applies; recall is by id.",
         "- Data: bigann10k is `../shared/data/ann` (uint8 SIFT read as float32), trained on "
         f"its whole base. {EMBED} is generated: 100 Gaussian clusters in a latent space with "
         "per-dimension variances 1/(1 + i) (so a few directions carry most of the variance, "
         "as in real embeddings), rotated by a random orthogonal matrix (dimensions "
         "correlated, which OPQ can exploit), cluster sizes U(0.25, 0.75) of the centres' "
         "spread, a common offset, rows scaled to mean norm 1; queries from the same clusters; "
         f"seed {args.seed}. Both engines train on the same seeded sample of its base, "
         f"{args.train_n:,} vectors by default: under the 39 per centroid FAISS asks for with "
         "256 centroids (it prints a warning), chosen because FAISS's OPQ training on one "
         "thread dominates the run and grows with the sample; `--train-n` raises it.",
         "- Load: the machine is shared. Training is given in CPU seconds of the one thread "
         "(process CPU time: what the work costs, whatever else ran), HEKTOR's curve rows "
         "including the tuning of the curve's parameter. Queries/s are wall clock, as the "
         "library reports them; the *CPU share* column is the process's CPU time over wall "
         "time while they were measured (HEKTOR: over the evaluation call that gave the "
         "figure; FAISS: over the scan). A share well below 1 means the figure was taken while "
         "other processes held the core, and it is low by about that factor.", ""]
    L += goals(results)
    L += ["### Results", "",
          f"Rows at equal bytes per vector sit together, HEKTOR first. q/s is on one thread with "
          f"re-ranking of {RERANKS[0]}; the JSON saved with `--json` has the figures at "
          f"{RERANKS[1]} too.", ""]
    for d in results:
        L += dataset_table(d)
    L += curves_section(results)
    L.append(END)
    return "\n".join(L) + "\n"


def sources_digest():
    """A digest of the library's sources as built (include/ and src/, committed or not)."""
    h = hashlib.sha256()
    files = []
    for top in ("include", "src"):
        for dirpath, _, names in os.walk(os.path.join(ROOT, top)):
            files += [os.path.join(dirpath, n) for n in names]
    for p in sorted(files):
        h.update(os.path.relpath(p, ROOT).encode() + b"\0")
        with open(p, "rb") as f:
            h.update(f.read())
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--", "include", "src"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
    n = len([l for l in dirty.splitlines() if l.strip()])
    return (f"sha256 `{h.hexdigest()[:12]}`"
            + (f", {n} files differing from the commit" if n else ", as committed"))


def render(args):
    with open(args.render) as f:
        saved = json.load(f)
    for k, v in saved.get("args", {}).items():
        setattr(args, k, v)
    out = args.out or os.path.join(ROOT, "docs", "BENCHMARKS.md")
    bench.write_block(out, BEGIN, END, block(saved["machine"], saved["results"], args, saved["started"], saved["wall"]))
    log(f"bench_quant: wrote the quant block of {out} from {args.render}")


# ---- main ----

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes for a smoke run")
    ap.add_argument("--out", help="report path (default docs/BENCHMARKS.md; "
                    "build/BENCHMARKS-quant-quick.md with --quick)")
    ap.add_argument("--json", help="also write the raw measurements here")
    ap.add_argument("--render", metavar="JSON",
                    help="write the report from the measurements a --json run saved, running nothing")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"), help="CMake build directory")
    ap.add_argument("--tmp-root", default=None, help="where data files go (default BUILD/bench-tmp)")
    ap.add_argument("--datasets", default=f"bigann10k,{EMBED}")
    ap.add_argument("--n", type=int, help=f"base vectors of {EMBED}")
    ap.add_argument("--nq", type=int, help=f"queries of {EMBED}")
    ap.add_argument("--train-n", type=int, help=f"training sample of {EMBED}")
    ap.add_argument("--seed", type=int, default=bench.SEED + 512)
    ap.add_argument("--timeout", type=int, default=3600, help="seconds per engine process")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--base", help=argparse.SUPPRESS)
    ap.add_argument("--queries", help=argparse.SUPPRESS)
    ap.add_argument("--train", help=argparse.SUPPRESS)
    ap.add_argument("--truth-out", help=argparse.SUPPRESS)
    ap.add_argument("--configs", help=argparse.SUPPRESS)
    ap.add_argument("--faiss-seed", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--seeds", type=int, default=SEEDS,
                    help="pairs that trail FAISS by more than %g with one seed are rerun with "
                         "seeds 1..N on both sides (default %d; 0 = off)" % (TIE, SEEDS))
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    if args.render:
        return render(args)

    args.n = args.n or (5_000 if args.quick else 20_000)
    # Each size here costs minutes: FAISS's OPQ training on one thread is most of the run.
    args.nq = args.nq or (50 if args.quick else 200)
    args.train_n = min(args.train_n or 5_000, args.n)
    out = args.out or (os.path.join(args.build, "BENCHMARKS-quant-quick.md") if args.quick
                       else os.path.join(ROOT, "docs", "BENCHMARKS.md"))
    args.bench_quant, tmp = bench.private_driver(args.build, args.tmp_root, "bench_quant", "quant-")
    started = datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M")
    t_start = time.time()
    info = bench.machine_info(args.build)
    info["sources"] = sources_digest()
    info["hektor_kernel"] = info["hektor"].split("kernel ")[-1].rstrip(")") if "kernel " in info["hektor"] else "?"
    import faiss

    info["faiss_version"] = faiss.__version__
    info["faiss_compile"] = faiss.get_compile_options().strip()
    info["load_start"] = bench.loadavg()
    busy0, own0 = bench.cpu_busy_seconds(), bench.own_cpu_seconds()
    try:
        results = []
        for name in args.datasets.split(","):
            if name == "bigann10k":
                ann = os.path.join(bench.SHARED_DATA, "ann")
                bp, qp = os.path.join(ann, "bigann10k_base.bvecs"), os.path.join(ann, "bigann10k_query.bvecs")
                if not os.path.exists(bp):
                    log(f"bench_quant: {bp} is missing; skipping bigann10k (set HK_SHARED_DATA)")
                    continue
                xb, xq = bench.read_bvecs(bp), bench.read_bvecs(qp)
                gt = bench.read_ivecs(os.path.join(ann, "bigann10k_groundtruth.ivecs"))
                paths = {"base": bp, "query": qp, "train": bp, "gt": gt}
                results.append(run_dataset(name, paths, xb, xq, xb, args, tmp))
            elif name == EMBED:
                xb, xq = embeddings(args.n, args.nq, 512, args.seed)
                rng = np.random.default_rng(args.seed + 1)
                xt = xb[np.sort(rng.choice(len(xb), args.train_n, replace=False))]
                paths = {k: os.path.join(tmp, f"{name}.{k}.fvecs") for k in ("base", "query", "train")}
                for k, x in (("base", xb), ("query", xq), ("train", xt)):
                    write_fvecs(paths[k], x)
                results.append(run_dataset(name, paths, xb, xq, xt, args, tmp))
            else:
                raise SystemExit(f"bench_quant: unknown dataset {name}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    wall = time.time() - t_start
    other = max(0.0, (bench.cpu_busy_seconds() - busy0) - (bench.own_cpu_seconds() - own0))
    info["load_end"] = bench.loadavg()
    info["other_busy"] = other / (wall * (os.cpu_count() or 1))
    bench.write_block(out, BEGIN, END, block(info, results, args, started, wall))
    if args.json:
        saved = {k: getattr(args, k) for k in ("quick", "n", "nq", "train_n", "seed")}
        with open(args.json, "w") as f:
            json.dump({"machine": info, "results": results, "started": started, "wall": wall,
                       "args": saved}, f, indent=1)
    log(f"bench_quant: wrote the quant block of {out} in {wall:.0f} s")


if __name__ == "__main__":
    main()
