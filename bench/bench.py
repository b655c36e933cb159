#!/usr/bin/python3
"""bench.py — the Foundation benchmark: HEKTOR beside FAISS IndexFlatL2 on the same data.

    /usr/bin/python3 bench/bench.py [--quick] [--out PATH] [--json PATH]   (make bench)

For each dataset (generated clustered 100K x 128 and 100K x 512, and bigann10k from
../shared/data/ann) it runs build/bench/bench_hektor (durable import, single and batched
exact search, memory) and FAISS IndexFlatL2 (add, single and batched search, memory) in
the same run, checks that both return the same top-10 (ties allowed), and writes the
tables, the machine and the goals verdicts to docs/BENCHMARKS.md.

Decisions:
  - Each engine runs in its own process (bench_hektor, and this script re-invoked with
    --faiss-worker), so each RSS figure is that engine's alone, not this driver's arrays.
  - Generated data is seeded: 100 Gaussian clusters, centres N(0, 1), per-cluster spread
    uniform in [0.1, 0.3], float32; queries are drawn the same way from the same centres.
  - Recall compares HEKTOR's ids to FAISS's: a HEKTOR id counts when FAISS returned it or
    when its exact (float64) distance is no larger than the k-th of FAISS's ids, so equal
    distances broken differently are not misses.
  - The bandwidth bound for a single query is bytes scanned (N * dim * 4) divided by the
    best measured memcpy bandwidth (bytes copied per second, 1 GiB, best of 3, one thread
    or all cores, whichever is faster), measured before and after the datasets; the best
    of those runs is used, which makes the bound as strict as the machine allows.
  - The database lives on the same disk as the build (build/bench-tmp), not in a tmpfs,
    so fsync means what it means in production.
  - The report is rewritten wholesale except for bench_hnsw.py's block (between
    <!-- hnsw:begin --> and <!-- hnsw:end -->, and its 1M x 512 block between
    <!-- hnsw-large:begin --> and <!-- hnsw-large:end -->) and bench_quant.py's (between
    <!-- quant:begin --> and <!-- quant:end -->) and bench_studio3d.mjs's (between
    <!-- studio3d:begin --> and <!-- studio3d:end -->), which are carried over as they were.
"""
import argparse
import ctypes
import datetime
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SHARED_DATA = os.environ.get("HK_SHARED_DATA") or os.path.join(os.path.dirname(ROOT), "shared", "data")
K = 10
SEED = 20240611
NO_ID = np.uint64(0xFFFFFFFFFFFFFFFF)

GOAL_IMPORT = 100_000       # durable points/s at 128 dimensions
GOAL_BOUND_RATIO = 2.0      # single query latency / bandwidth bound
# bench_hnsw.py's and bench_quant.py's reports live between these markers in the same
# file; this script keeps them.
KEPT_BLOCKS = (("<!-- hnsw:begin -->", "<!-- hnsw:end -->"),
               ("<!-- hnsw-large:begin -->", "<!-- hnsw-large:end -->"),
               ("<!-- quant:begin -->", "<!-- quant:end -->"),
               ("<!-- project:begin -->", "<!-- project:end -->"),
               ("<!-- studio3d:begin -->", "<!-- studio3d:end -->"))


# ---- small helpers ----

def log(msg):
    print(msg, file=sys.stderr, flush=True)


def vm_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def cpu_busy_seconds():
    """Seconds of CPU time all processes have used so far (every core, steal included)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal
    return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds():
    """CPU time of this process and its finished children."""
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def loadavg():
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


def run_json(cmd, timeout=1800):
    log("  $ " + " ".join(cmd))
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)
    if p.returncode != 0:
        raise SystemExit(f"bench: {cmd[0]} failed ({p.returncode}):\n{p.stderr}")
    if p.stderr.strip():
        log(p.stderr.rstrip())
    return json.loads(p.stdout)


def write_block(path, begin, end, text):
    """Replaces the block between the markers begin and end in path (or appends it; the
    file is created if needed). What follows the block stays, a blank line after it."""
    old = ""
    if os.path.exists(path):
        with open(path) as f:
            old = f.read()
    b, e = old.find(begin), old.find(end)
    if b >= 0 and e > b:
        rest = old[e + len(end):].lstrip("\n")
        new = old[:b] + text + ("\n" + rest if rest else "")
    else:
        new = old.rstrip("\n") + ("\n\n" if old else "") + text
    with open(path, "w") as f:
        f.write(new)



def private_driver(build, tmp_root, name, prefix):
    """A bench driver (build/bench/NAME) copied into a new directory under tmp_root
    (default BUILD/bench-tmp), so a rebuild during a run cannot swap it between datasets.
    Returns (driver path, the directory)."""
    src = os.path.join(build, "bench", name)
    if not os.access(src, os.X_OK):
        raise SystemExit(f"{name}: {src} is missing: run `make build` first")
    tmp_root = tmp_root or os.path.join(build, "bench-tmp")
    os.makedirs(tmp_root, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=prefix, dir=tmp_root)
    shutil.copy2(src, os.path.join(tmp, name))
    return os.path.join(tmp, name), tmp

def read_bvecs(path):
    raw = np.fromfile(path, dtype=np.uint8)
    dim = int(raw[:4].view(np.int32)[0])
    return raw.reshape(-1, 4 + dim)[:, 4:].astype(np.float32)


def read_ivecs(path):
    raw = np.fromfile(path, dtype=np.int32)
    dim = int(raw[0])
    return raw.reshape(-1, 1 + dim)[:, 1:]


def clustered(n, nq, dim, seed):
    """n base and nq query vectors around the same 100 Gaussian centres."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((100, dim), dtype=np.float32)
    spread = rng.uniform(0.1, 0.3, 100).astype(np.float32)

    def draw(count):
        lab = rng.integers(0, 100, count)
        x = rng.standard_normal((count, dim), dtype=np.float32)
        x *= spread[lab, None]
        x += centres[lab]
        return x

    return draw(n), draw(nq)


def embedding_like(n, nq, dim, seed, clusters=100, alpha=0.5):
    """n base and nq query vectors shaped like learned embeddings: 100 Gaussian clusters
    whose centres and spreads share a decaying spectrum (axis i of a random rotation has
    standard deviation (1 + i)^-alpha), so most of the variance lies in a few dozen
    directions (participation ratio about 22 at 512 dimensions) as in real embedding
    models, where clustered() spreads it evenly over every dimension."""
    rng = np.random.default_rng(seed)
    scale = ((1.0 + np.arange(dim)) ** -alpha).astype(np.float32)
    rot = np.linalg.qr(rng.standard_normal((dim, dim)))[0].astype(np.float32)
    centres = rng.standard_normal((clusters, dim), dtype=np.float32) * scale
    spread = rng.uniform(0.3, 0.6, clusters).astype(np.float32)

    def draw(count):
        out = np.empty((count, dim), dtype=np.float32)
        for lo in range(0, count, 65536):
            hi = min(count, lo + 65536)
            lab = rng.integers(0, clusters, hi - lo)
            x = rng.standard_normal((hi - lo, dim), dtype=np.float32) * scale
            x *= spread[lab, None]
            x += centres[lab]
            np.matmul(x, rot.T, out=out[lo:hi])
        return out

    return draw(n), draw(nq)


# ---- FAISS worker (a separate process) ----

def faiss_worker(args):
    import faiss

    ncpu = os.cpu_count() or 1
    rss0 = vm_kib("VmRSS")
    xb = np.load(args.base)
    xq = np.load(args.queries)
    rss_loaded = vm_kib("VmRSS")
    n, dim = xb.shape
    nsingle = min(args.single, len(xq)) if args.single else len(xq)

    faiss.omp_set_num_threads(ncpu)
    index = faiss.IndexFlatL2(dim)
    t0 = time.perf_counter()
    index.add(xb)
    add_s = time.perf_counter() - t0
    rss_added = vm_kib("VmRSS")
    del xb
    rss_freed = vm_kib("VmRSS")

    # Single queries, one call each, all threads allowed (FAISS decides how to use them).
    for i in range(min(5, len(xq))):
        index.search(xq[i:i + 1], args.k)
    lat = np.empty(nsingle)
    single_ids = np.empty((nsingle, args.k), dtype=np.int64)
    t_single = time.perf_counter()
    for i in range(nsingle):
        t = time.perf_counter()
        _, I = index.search(xq[i:i + 1], args.k)
        lat[i] = time.perf_counter() - t
        single_ids[i] = I[0]
    single_s = time.perf_counter() - t_single

    # The batch: every query in one call, best and median of 3, with all threads and, as
    # the OpenMP + OpenBLAS pair can oversubscribe the cores, with one OpenMP thread too.
    batches = {}
    batch_ids = None
    for nt in sorted({ncpu, 1}, reverse=True):
        faiss.omp_set_num_threads(nt)
        bt = []
        for _ in range(args.batch_reps):
            t = time.perf_counter()
            _, I = index.search(xq, args.k)
            bt.append(time.perf_counter() - t)
            if batch_ids is None:
                batch_ids = I
        bt.sort()
        batches[nt] = {"nq": len(xq), "omp_threads": nt, "seconds_best": bt[0],
                       "seconds_median": bt[len(bt) // 2], "qps": len(xq) / bt[0]}
    faiss.omp_set_num_threads(ncpu)
    rss_searched = vm_kib("VmRSS")
    np.save(args.ids_out, np.concatenate([batch_ids, single_ids]).astype(np.int64))
    lat.sort()
    out = {
        "n": n, "dim": dim, "nq": len(xq), "k": args.k, "threads": ncpu,
        "faiss_version": faiss.__version__,
        "faiss_compile": faiss.get_compile_options().strip(),
        "add": {"seconds": add_s, "points_per_s": n / add_s},
        "single": {"queries": nsingle, "seconds": single_s, "qps": nsingle / single_s,
                   "mean_ms": 1e3 * lat.mean(), "p50_ms": 1e3 * float(np.percentile(lat, 50)),
                   "p99_ms": 1e3 * float(np.percentile(lat, 99)), "min_ms": 1e3 * lat[0]},
        "batch": batches[ncpu],
        "batch_1t": batches[1],
        "batch_best": max(batches.values(), key=lambda b: b["qps"]),
        "memory": {"rss_start_kib": rss0, "rss_loaded_kib": rss_loaded,
                   "rss_after_add_kib": rss_added, "rss_after_free_input_kib": rss_freed,
                   "rss_after_search_kib": rss_searched, "hwm_kib": vm_kib("VmHWM"),
                   "index_bytes": index.ntotal * dim * 4},
    }
    print(json.dumps(out))


# ---- machine description ----

def machine_info(build):
    info = {}
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        f.seek(0)
        flags = next((l.split(":", 1)[1].split() for l in f if l.startswith("flags")), [])
    info["simd"] = " ".join(x for x in ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni") if x in flags)
    info["cores"] = os.cpu_count()
    with open("/proc/meminfo") as f:
        kib = int(next(l for l in f if l.startswith("MemTotal")).split()[1])
    info["memory"] = f"{kib / 1048576:.1f} GiB"
    info["kernel"] = platform.release()
    try:
        lscpu = subprocess.run(["lscpu"], stdout=subprocess.PIPE, text=True).stdout
        caches = [l.split(":", 1)[1].strip() for l in lscpu.splitlines()
                  if l.startswith(("L2 cache", "L3 cache"))]
        hv = [l.split(":", 1)[1].strip() for l in lscpu.splitlines() if l.startswith("Hypervisor vendor")]
        info["caches"] = "L2 " + caches[0] + ", L3 " + caches[1] if len(caches) == 2 else ""
        info["hypervisor"] = hv[0] if hv else "none"
    except (OSError, IndexError):
        info["caches"], info["hypervisor"] = "", "unknown"
    info["hektor"] = subprocess.run([os.path.join(build, "hektor"), "--version"],
                                    stdout=subprocess.PIPE, text=True).stdout.strip()
    try:
        ob = ctypes.CDLL("libopenblas.so.0")
        ob.openblas_get_config.restype = ctypes.c_char_p
        ob.openblas_get_corename.restype = ctypes.c_char_p
        info["openblas"] = "%s (core %s)" % (ob.openblas_get_config().decode(),
                                             ob.openblas_get_corename().decode())
    except (OSError, AttributeError):
        info["openblas"] = "unknown"
    info["packages"] = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Package} ${Version}\\n", "libopenblas0-pthread",
         "python3-faiss", "python3-numpy"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        text=True).stdout.strip().replace("\n", ", ")
    info["env"] = ", ".join(f"{k}={os.environ[k]}" for k in
                            ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS",
                             "OMP_NUM_THREADS") if k in os.environ) or "none set"
    try:
        cc = subprocess.run(["cc", "--version"], stdout=subprocess.PIPE, text=True).stdout.splitlines()[0]
    except (OSError, IndexError):
        cc = "unknown"
    btype = ""
    try:
        with open(os.path.join(build, "CMakeCache.txt")) as f:
            btype = next((l.split("=", 1)[1].strip() for l in f if l.startswith("CMAKE_BUILD_TYPE:")), "")
    except OSError:
        pass
    info["compiler"] = f"{cc}, {btype or 'default'} build"
    git = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout.strip()
    info["commit"] = git or "unknown"
    return info


# ---- recall ----

def recall(ref_ids, test_ids, xb, xq, k):
    """Fraction of test ids that are in the reference top-k or tie with its k-th."""
    hits = ties = 0
    for i in range(len(test_ids)):
        ref = ref_ids[i][:k]
        ref = ref[ref >= 0]
        q = xq[i].astype(np.float64)
        kth = ((xb[ref].astype(np.float64) - q) ** 2).sum(1).max() if len(ref) else -1.0
        refset = set(ref.tolist())
        for t in test_ids[i][:k]:
            if t == NO_ID:
                continue
            t = int(t)
            if t in refset:
                hits += 1
            elif ((xb[t].astype(np.float64) - q) ** 2).sum() <= kth * (1 + 1e-6) + 1e-9:
                hits += 1
                ties += 1
    return hits / (len(test_ids) * k), ties


# ---- one dataset ----

def run_dataset(name, base_path, query_path, xb, xq, args, tmp, gt=None):
    log(f"== {name}: {len(xb)} x {xb.shape[1]}, {len(xq)} queries")
    t0, busy0, own0 = time.time(), cpu_busy_seconds(), own_cpu_seconds()
    dbdir = os.path.join(tmp, name + ".db")
    hk_ids_path = os.path.join(tmp, name + ".hk.ids")
    cmd = [args.bench_hektor, "--data", base_path, "--queries", query_path, "--dir", dbdir,
           "--k", str(K), "--batch", str(args.import_batch), "--ids-out", hk_ids_path,
           "--batch-reps", str(args.batch_reps)]
    if args.single:
        cmd += ["--single", str(args.single)]
    hk = run_json(cmd)
    shutil.rmtree(dbdir, ignore_errors=True)

    # FAISS reads the same vectors (bigann: the bvecs decoded to float32 here).
    fb, fq = base_path, query_path
    if not base_path.endswith(".npy"):
        fb, fq = os.path.join(tmp, name + ".base.npy"), os.path.join(tmp, name + ".query.npy")
        np.save(fb, xb)
        np.save(fq, xq)
    fa_ids_path = os.path.join(tmp, name + ".faiss.ids.npy")
    cmd = [sys.executable, os.path.abspath(__file__), "--faiss-worker", "--base", fb,
           "--queries", fq, "--ids-out", fa_ids_path, "--batch-reps", str(args.batch_reps)]
    if args.single:
        cmd += ["--single", str(args.single)]
    fa = run_json(cmd)

    nq = len(xq)
    hk_ids = np.fromfile(hk_ids_path, dtype=np.uint64).reshape(-1, K)
    fa_ids = np.load(fa_ids_path)
    hk_batch, hk_single = hk_ids[:nq], hk_ids[nq:]
    fa_batch = fa_ids[:nq]
    check = {}
    check["batch"], check["batch_ties"] = recall(fa_batch, hk_batch, xb, xq, K)
    check["single"], check["single_ties"] = recall(fa_batch, hk_single, xb, xq[:len(hk_single)], K)
    check["single_vs_batch_identical"] = bool(np.array_equal(hk_single, hk_batch[:len(hk_single)]))
    if gt is not None:
        gtk = gt[:nq, :K].astype(np.int64)
        check["hektor_vs_groundtruth"], _ = recall(gtk, hk_batch, xb, xq, K)
        check["faiss_vs_groundtruth"], _ = recall(gtk, fa_batch.astype(np.uint64), xb, xq, K)
    log(f"  recall@{K} HEKTOR vs FAISS: batch {check['batch']:.4f} (ties {check['batch_ties']}), "
        f"single {check['single']:.4f} (ties {check['single_ties']})")
    other = max(0.0, (cpu_busy_seconds() - busy0) - (own_cpu_seconds() - own0))
    return {"name": name, "n": len(xb), "dim": int(xb.shape[1]), "nq": nq, "hektor": hk,
            "faiss": fa, "recall": check,
            "other_busy": other / ((time.time() - t0) * (os.cpu_count() or 1))}


# ---- report ----

def fmt_int(x):
    return f"{x:,.0f}"


def fmt_mib(kib):
    return f"{kib / 1024:,.1f} MiB"


def dataset_table(d, bw):
    hk, fa = d["hektor"], d["faiss"]
    scanned = d["n"] * d["dim"] * 4
    bound_ms = 1e3 * scanned / bw
    hm, fm = hk["memory"], fa["memory"]
    rows = [
        ("Import / add (points/s)",
         f"{fmt_int(hk['import']['points_per_s'])} (durable: fsync per {hk['import']['batch']:,}-point upsert)",
         f"{fmt_int(fa['add']['points_per_s'])} (in memory, no persistence)"),
        ("Import wall time", f"{hk['import']['seconds']:.3f} s (+ close/checkpoint {hk['close_seconds']:.3f} s)",
         f"{fa['add']['seconds']:.3f} s"),
        ("Single query QPS", f"{hk['single']['qps']:,.1f}", f"{fa['single']['qps']:,.1f}"),
        ("Single query latency mean / p50 / p99 (ms)",
         "%.3f / %.3f / %.3f" % (hk["single"]["mean_ms"], hk["single"]["p50_ms"], hk["single"]["p99_ms"]),
         "%.3f / %.3f / %.3f" % (fa["single"]["mean_ms"], fa["single"]["p50_ms"], fa["single"]["p99_ms"])),
        ("Single query p50 (mean) / bandwidth bound (%.3f ms)" % bound_ms,
         "%.2fx (%.2fx)" % (hk["single"]["p50_ms"] / bound_ms, hk["single"]["mean_ms"] / bound_ms),
         "%.2fx (%.2fx)" % (fa["single"]["p50_ms"] / bound_ms, fa["single"]["mean_ms"] / bound_ms)),
        (f"Batched QPS ({d['nq']:,} queries in one call, best of {hk['batch']['reps']})",
         f"{hk['batch']['qps']:,.1f}",
         f"{fa['batch']['qps']:,.1f} ({fa['batch']['omp_threads']} OpenMP threads); "
         f"{fa['batch_1t']['qps']:,.1f} (1 OpenMP thread)"),
        ("Batch wall time best / median (ms)",
         "%.1f / %.1f" % (1e3 * hk["batch"]["seconds_best"], 1e3 * hk["batch"]["seconds_median"]),
         "%.1f / %.1f; %.1f / %.1f" % (1e3 * fa["batch"]["seconds_best"], 1e3 * fa["batch"]["seconds_median"],
                                       1e3 * fa["batch_1t"]["seconds_best"], 1e3 * fa["batch_1t"]["seconds_median"])),
        ("RSS at process start", fmt_mib(hm["rss_start_kib"]),
         fmt_mib(fm["rss_start_kib"]) + " (Python, NumPy and FAISS loaded)"),
        ("RSS after search (input freed)", fmt_mib(hm["rss_after_search_kib"]), fmt_mib(fm["rss_after_search_kib"])),
        ("RSS growth from import / add", fmt_mib(hm["rss_after_import_kib"] - hm["rss_loaded_kib"]),
         fmt_mib(fm["rss_after_add_kib"] - fm["rss_loaded_kib"])),
        ("Peak RSS (VmHWM, input included)", fmt_mib(hm["hwm_kib"]), fmt_mib(fm["hwm_kib"])),
        ("Engine's own count (HEKTOR bytes_memory / FAISS codes)",
         f"{hm['bytes_memory'] / 1048576:,.1f} MiB", f"{fm['index_bytes'] / 1048576:,.1f} MiB"),
    ]
    out = [f"### {d['name']} — {d['n']:,} x {d['dim']}, {d['nq']:,} queries, k = {K}", "",
           f"Other processes used {100 * d['other_busy']:.0f}% of the cores while this dataset ran.", "",
           "| | HEKTOR | FAISS IndexFlatL2 |", "|---|---|---|"]
    out += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    r = d["recall"]
    out += ["", f"Recall@{K} of HEKTOR against FAISS (ties allowed): batch {r['batch']:.4f} "
            f"({r['batch_ties']} tie substitutions), single {r['single']:.4f} ({r['single_ties']}); "
            f"single and batch ids identical: {'yes' if r['single_vs_batch_identical'] else 'no'}."]
    if "hektor_vs_groundtruth" in r:
        out[-1] += (f" Against the shipped ground truth: HEKTOR {r['hektor_vs_groundtruth']:.4f}, "
                    f"FAISS {r['faiss_vs_groundtruth']:.4f}.")
    out.append("")
    return out


def goals(results, bw):
    lines = ["## Goals", ""]
    ok_all = []
    lines.append("| Goal | Dataset | Measured | Met |")
    lines.append("|---|---|---|---|")
    for d in results:
        hq, fb = d["hektor"]["batch"]["qps"], d["faiss"]["batch_best"]
        fq = fb["qps"]
        met = hq >= fq
        ok_all.append(met)
        lines.append(f"| Batched exact search at least as fast as FAISS IndexFlat | {d['name']} | "
                     f"{hq:,.0f} vs {fq:,.0f} QPS, FAISS's faster setting ({fb['omp_threads']} "
                     f"OpenMP thread{'s' if fb['omp_threads'] > 1 else ''}): {hq / fq:.2f}x | "
                     f"{'yes' if met else '**no**'} |")
    for d in results:
        bound_ms = 1e3 * d["n"] * d["dim"] * 4 / bw
        hs = d["hektor"]["single"]
        ratio = hs["p50_ms"] / bound_ms
        met = ratio <= GOAL_BOUND_RATIO
        ok_all.append(met)
        lines.append(f"| Single exact query within {GOAL_BOUND_RATIO:g}x of the bandwidth bound | {d['name']} | "
                     f"p50 {hs['p50_ms']:.3f} ms (mean {hs['mean_ms']:.3f}) vs bound {bound_ms:.3f} ms: "
                     f"{ratio:.2f}x (mean {hs['mean_ms'] / bound_ms:.2f}x; {2 * ratio:.2f}x against the "
                     f"STREAM-convention bound) | {'yes' if met else '**no**'} |")
    for d in results:
        if d["dim"] != 128:
            continue
        rate = d["hektor"]["import"]["points_per_s"]
        met = rate >= GOAL_IMPORT
        ok_all.append(met)
        lines.append(f"| Durable import >= {GOAL_IMPORT:,} vectors/s at 128 dimensions | {d['name']} | "
                     f"{rate:,.0f} points/s | {'yes' if met else '**no**'} |")
    for d in results:
        r = d["recall"]
        met = min(r["batch"], r["single"]) >= 0.999
        ok_all.append(met)
        lines.append(f"| Same top-{K} as FAISS (recall >= 0.999, ties allowed) | {d['name']} | "
                     f"batch {r['batch']:.4f}, single {r['single']:.4f} | {'yes' if met else '**no**'} |")
    lines += ["", f"{sum(ok_all)} of {len(ok_all)} checks met.", ""]
    return lines


def kept_block(path):
    """The blocks bench_hnsw.py and bench_quant.py wrote into path (markers included), in
    the order they appear, kept across rewrites."""
    try:
        with open(path) as f:
            old = f.read()
    except OSError:
        return ""
    found = []
    for begin, end in KEPT_BLOCKS:
        b, e = old.find(begin), old.find(end)
        if b >= 0 and e > b:
            found.append((b, old[b:e + len(end)]))
    return "".join("\n" + text + "\n" for _, text in sorted(found))


def write_report(path, info, bws, results, args, started, elapsed):
    bw = max(max(b["copy_1t_bytes_per_s"], b["copy_mt_bytes_per_s"]) for b in bws)
    rd = max(max(b["read_1t_bytes_per_s"], b["read_mt_bytes_per_s"]) for b in bws)
    L = ["# HEKTOR benchmarks", "",
         "Generated by `bench/bench.py`; do not edit by hand. Rerun with `make bench` "
         "(which runs `/usr/bin/python3 bench/bench.py` after building)"
         + (", here with `--quick`: smaller sizes, a smoke run, not the reference numbers" if args.quick else "")
         + ".", "",
         f"Run {started} UTC, {elapsed:.0f} s in all, at commit `{info['commit']}`.", "",
         f"Other work on the machine during the run: {100 * info['other_busy']:.0f}% of all "
         f"cores (CPU time not used by this benchmark); load average {info['load_start']} at "
         f"the start, {info['load_end']} at the end."
         + (" The machine was shared, so the timings are noisier and slower than on a quiet "
            "one." if info["other_busy"] > 0.05 else ""), "",
         "## Machine", "",
         f"- CPU: {info['cpu']} ({info['simd']}), {info['cores']} cores, {info['caches']}; "
         f"hypervisor: {info['hypervisor']}",
         f"- Memory: {info['memory']}; kernel {info['kernel']}",
         f"- Measured memcpy bandwidth (1 GiB, best of 3, bytes copied per second): "
         + "; ".join("%.1f GB/s one thread, %.1f GB/s all cores" %
                     (b["copy_1t_bytes_per_s"] / 1e9, b["copy_mt_bytes_per_s"] / 1e9) for b in bws)
         + f" (runs before and after the datasets). The bound below uses the best, {bw / 1e9:.1f} GB/s.",
         f"- Measured read-only bandwidth (same buffer): best {rd / 1e9:.1f} GB/s.",
         f"- HEKTOR: {info['hektor']}; {info['compiler']}",
         f"- OpenBLAS: {info['openblas']}",
         f"- Packages: {info['packages']}",
         f"- Environment: {info['env']}",
         f"- Database directory: {args.tmp_root} ({info['fs']})",
         "",
         "## Method", "",
         "- HEKTOR: `build/bench/bench_hektor` through the public C API. A fresh database with "
         "fsync on; points are upserted in batches of "
         f"{args.import_batch:,} (each hk_upsert is one durable, fdatasync'ed log record); "
         "single queries are one hk_search each, one after another, after 5 warm-up queries; the "
         "batch is one hk_search with every query. RSS is read from /proc/self/status.",
         "- FAISS: IndexFlatL2 in a separate `/usr/bin/python3` process (Debian's python3-faiss, "
         f"compile options `{results[0]['faiss']['faiss_compile'] if results else '?'}`), "
         f"omp threads = {os.cpu_count()} (all cores) for the single-query loop (one "
         "index.search call per query); the batch is timed with all cores and with one OpenMP "
         "thread (OpenBLAS still threads the matrix product), and the goal compares with the "
         "faster of the two. Add is in memory only.",
         f"- Bandwidth bound for one query: N x dim x 4 bytes scanned / {bw / 1e9:.1f} GB/s. The "
         f"goal is a median (p50) latency at most {GOAL_BOUND_RATIO:g}x that; the mean is shown beside it (it also carries the pauses other processes cause). (Counting a copy's bytes "
         "twice, read and write, as STREAM does, would halve the bound.) A data set smaller "
         "than the last-level cache (bigann10k is 5 MB of floats) is read from cache, not "
         "memory, so it can beat this bound.",
         "- Generated data: 100 Gaussian clusters, centres N(0,1), spread U(0.1, 0.3), float32, "
         f"seed {SEED}; queries from the same clusters. bigann10k: `../shared/data/ann`, "
         "uint8 converted to float32 by both engines' readers.",
         ""]
    L += goals(results, bw)
    L += ["## Results", ""]
    for d in results:
        L += dataset_table(d, bw)
    kept = kept_block(path)
    with open(path, "w") as f:
        f.write("\n".join(L) + kept)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "bandwidth": bws, "results": results}, f, indent=1)


# ---- main ----

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes for a smoke run")
    ap.add_argument("--out", help="report path (default docs/BENCHMARKS.md; "
                    "build/BENCHMARKS-quick.md with --quick)")
    ap.add_argument("--json", help="also write the raw measurements here")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"), help="CMake build directory")
    ap.add_argument("--tmp-root", default=None, help="where databases and data files go "
                    "(default BUILD/bench-tmp)")
    ap.add_argument("--n", type=int, help="base vectors per generated dataset")
    ap.add_argument("--nq", type=int, help="queries per generated dataset")
    ap.add_argument("--single", type=int, default=0, help="single queries to time (0 = all)")
    ap.add_argument("--import-batch", type=int, default=10000)
    ap.add_argument("--batch-reps", type=int, default=5, help="repetitions of each batch search")
    ap.add_argument("--datasets", default="clustered-128,clustered-512,bigann10k")
    ap.add_argument("--faiss-worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--base", help=argparse.SUPPRESS)
    ap.add_argument("--queries", help=argparse.SUPPRESS)
    ap.add_argument("--ids-out", help=argparse.SUPPRESS)
    ap.add_argument("--k", type=int, default=K, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.faiss_worker:
        return faiss_worker(args)

    n = args.n or (20_000 if args.quick else 100_000)
    nq = args.nq or (200 if args.quick else 1000)
    out = args.out or (os.path.join(args.build, "BENCHMARKS-quick.md") if args.quick
                       else os.path.join(ROOT, "docs", "BENCHMARKS.md"))
    args.bench_hektor = os.path.join(args.build, "bench", "bench_hektor")
    if not os.access(args.bench_hektor, os.X_OK):
        raise SystemExit(f"bench: {args.bench_hektor} is missing: run `make build` first")
    args.tmp_root = args.tmp_root or os.path.join(args.build, "bench-tmp")
    os.makedirs(args.tmp_root, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="run-", dir=args.tmp_root)
    started = datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M")
    t_start = time.time()
    info = machine_info(args.build)
    info["load_start"] = loadavg()
    busy0, own0 = cpu_busy_seconds(), own_cpu_seconds()
    df = subprocess.run(["df", "--output=fstype,source", tmp], stdout=subprocess.PIPE,
                        text=True).stdout.split()
    info["fs"] = " on ".join(df[-2:]) if len(df) >= 4 else "unknown"

    try:
        bws = [run_json([args.bench_hektor, "--bandwidth"])]
        results = []
        for name in args.datasets.split(","):
            if name.startswith("clustered-"):
                dim = int(name.split("-")[1])
                xb, xq = clustered(n, nq, dim, SEED + dim)
                bp, qp = os.path.join(tmp, name + ".base.npy"), os.path.join(tmp, name + ".query.npy")
                np.save(bp, xb)
                np.save(qp, xq)
                results.append(run_dataset(name, bp, qp, xb, xq, args, tmp))
            elif name == "bigann10k":
                ann = os.path.join(SHARED_DATA, "ann")
                bp, qp = os.path.join(ann, "bigann10k_base.bvecs"), os.path.join(ann, "bigann10k_query.bvecs")
                if not os.path.exists(bp):
                    log(f"bench: {bp} is missing; skipping bigann10k (set HK_SHARED_DATA)")
                    continue
                gt = read_ivecs(os.path.join(ann, "bigann10k_groundtruth.ivecs"))
                results.append(run_dataset(name, bp, qp, read_bvecs(bp), read_bvecs(qp), args, tmp, gt))
            else:
                raise SystemExit(f"bench: unknown dataset {name}")
        bws.append(run_json([args.bench_hektor, "--bandwidth"]))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    wall = time.time() - t_start
    other = max(0.0, (cpu_busy_seconds() - busy0) - (own_cpu_seconds() - own0))
    info["load_end"] = loadavg()
    info["other_busy"] = other / (wall * (os.cpu_count() or 1))
    write_report(out, info, bws, results, args, started, time.time() - t_start)
    log(f"bench: wrote {out} in {time.time() - t_start:.0f} s")


if __name__ == "__main__":
    main()
