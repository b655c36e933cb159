#!/usr/bin/python3
"""bench_hnsw.py — the HNSW benchmark: HEKTOR beside hnswlib and FAISS IndexHNSWFlat.

    /usr/bin/python3 bench/bench_hnsw.py [--quick] [--large] [--out PATH] [--json PATH]
                                                                        (make bench-hnsw)

For each dataset (generated clustered 100K x 128 and 100K x 512, bigann10k from
../shared/data/ann; with --large also 1M x 512, clustered or shaped like learned embeddings
or both: --large-data; embedding-DIM names a 100K set of the latter) it computes the exact top-10,
then builds the same vectors with the same M and ef_construction in HEKTOR
(build/bench/bench_hnsw), hnswlib (Debian's python3-hnswlib) and FAISS IndexHNSWFlat
(python3-faiss), sweeps ef in each, and reports build time, queries/s on one thread and on
every core at recall@10 of 0.90, 0.95 and 0.99, p50/p99 latency and resident memory. The
report is the block between `<!-- hnsw:begin -->` and `<!-- hnsw:end -->` in
docs/BENCHMARKS.md (bench.py keeps that block when it rewrites the rest of the file).

Engines (--engines, --large-engines): hektor, hektor-sse (the portable kernel), hektor-sq8
(built on SQ8 codes after the first points, float vectors kept on disk and mapped;
searches walk the codes and re-rank), hektor-int8 (the same on int8 codes, whose distances
are integer kernels: quantized after the first tenth of a 100K set, 10,000 points of larger
ones), hnswlib, faiss. The 1M x 512 dataset alone,
`--datasets "" --large --large-engines hektor-sq8`, writes its own block between
`<!-- hnsw-large:begin -->` and `<!-- hnsw-large:end -->`.

Decisions:
  - Every engine runs in its own processes (bench_hnsw, or this script re-invoked with
    --worker), so each RSS figure is that engine's alone. HEKTOR's build and its two query
    sweeps are three processes: its worker pool is sized per process (hk_db_options.threads),
    so the one-thread sweep runs where the pool has one worker, the batch sweep where it has
    every core. hnswlib and FAISS build and query in one process, switching their thread
    count (num_threads, omp_set_num_threads) between the sweeps.
  - One thread: one call per query, one after another (5 warm-up queries per ef); the same
    loop gives the p50/p99 latency. Python's per-call overhead (some microseconds) is inside
    hnswlib's and FAISS's figures. All threads: every query in one call, best of 3.
  - Ground truth is exact: FAISS IndexFlatL2's top 20 re-ranked in float64. A returned id
    counts as a hit when its float64 distance is no larger than the 10th true distance, so
    ties broken differently are not misses; duplicate ids count once.
  - A recall target is met at the smallest ef of the sweep whose measured recall reaches it;
    the QPS and latencies shown are the ones measured at that ef (no interpolation).
  - Generated data is bench.py's generator and seeds (100 Gaussian clusters), so
    clustered-128 and clustered-512 are the same vectors the flat benchmark uses.
"""
import argparse
import datetime
import json
import os
import shutil
import shlex
import subprocess
import sys
import time

import numpy as np

import bench  # bench.py beside this file: the generator, readers and machine description

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = bench.ROOT
K = 10
M = 16
EF_CONSTRUCTION = 200
EF_SWEEP = "10,16,24,32,48,64,96,128,192,256,384,512"
TARGETS = (0.90, 0.95, 0.99)
WARMUP = 5
MIN_QUERIES = 1000          # timed single calls per ef (passes over a small query set)
BATCH_MIN_SECONDS = 0.5     # batches repeat (at least --reps times) until this much time
BATCH_MAX_REPS = 100
BEGIN, END = "<!-- hnsw:begin -->", "<!-- hnsw:end -->"
# A run of the 1M x 512 dataset alone (--datasets "" --large) has a block of its own, so
# it neither replaces the default run's tables nor needs them.
LARGE_BEGIN, LARGE_END = "<!-- hnsw-large:begin -->", "<!-- hnsw-large:end -->"


def markers(results):
    if results and all(is_large(d["name"]) for d in results):
        return LARGE_BEGIN, LARGE_END, "## HNSW at 1M x 512: the seed's targets"
    return BEGIN, END, "## HNSW: HEKTOR beside hnswlib and FAISS IndexHNSWFlat"
ENGINES = ("hektor", "hektor-sse", "hektor-sq8", "hektor-int8", "hnswlib", "faiss")
TITLES = {"hektor": "HEKTOR", "hektor-sse": "HEKTOR, SSE kernel",
          "hektor-sq8": "HEKTOR, SQ8 codes, vectors on disk",
          "hektor-int8": "HEKTOR, int8 codes, vectors on disk", "hnswlib": "hnswlib",
          "faiss": "FAISS IndexHNSWFlat"}
# The 1M x 512 datasets of --large (--large-data chooses): bench.py's clustered() or
# embedding_like() generator.
LARGES = {"clustered": "clustered-512-1m", "embedding": "embedding-512-1m"}


def is_large(name):
    return name in LARGES.values()

# The seed's targets for 1M x 512 on one machine.
SEED_QPS = 1000
SEED_LATENCY_MS = 1.0
SEED_MEMORY_BYTES = 4e9
SEED_BUILD_S = 300
SEED_INGEST = 500
# hektor-sq8: points inserted on floats before the collection is quantized (a codebook is
# trained on them); the rest are linked walking the SQ8 codes.
SQ8_AFTER = 50_000
# hektor-int8: the same, quantized after this many points (or a tenth of a smaller set).
INT8_AFTER = 10_000

log = bench.log


def nearest_rank(sorted_values, p):
    n = len(sorted_values)
    i = min(max(int(p / 100.0 * n + 0.999999), 1), n)
    return float(sorted_values[i - 1])


# ---- hnswlib and FAISS workers (separate processes) ----

def sweep(set_ef, one, many, xq, efs, k, reps, min_queries, single_threads, all_threads):
    """The same two sweeps bench_hnsw runs: one call per query, then the whole batch."""
    nq = len(xq)
    calls = max(1, -(-min_queries // nq)) * nq
    ids_single = np.empty((len(efs), nq, k), dtype=np.int64)
    ids_batch = np.empty((len(efs), nq, k), dtype=np.int64)
    single, batch = [], []
    single_threads()
    for e, ef in enumerate(efs):
        set_ef(ef)
        for i in range(min(WARMUP, nq)):
            one(xq[i:i + 1])
        lat = np.empty(calls)
        t_all = time.perf_counter()
        for j in range(calls):
            i = j % nq
            t = time.perf_counter()
            ids = one(xq[i:i + 1])
            lat[j] = time.perf_counter() - t
            if j < nq:
                ids_single[e, i] = ids[0]
        seconds = time.perf_counter() - t_all
        mean = lat.mean()
        lat.sort()
        single.append({"ef": ef, "calls": calls, "seconds": seconds, "qps": calls / seconds,
                       "mean_ms": 1e3 * mean,
                       "p50_ms": 1e3 * nearest_rank(lat, 50), "p99_ms": 1e3 * nearest_rank(lat, 99),
                       "max_ms": 1e3 * lat[-1]})
    all_threads()
    for e, ef in enumerate(efs):
        set_ef(ef)
        bt = []
        while len(bt) < reps or (sum(bt) < BATCH_MIN_SECONDS and len(bt) < BATCH_MAX_REPS):
            t = time.perf_counter()
            ids = many(xq)
            bt.append(time.perf_counter() - t)
            if len(bt) == 1:
                ids_batch[e] = ids
        bt.sort()
        batch.append({"ef": ef, "reps": len(bt), "seconds_best": bt[0],
                      "seconds_median": bt[len(bt) // 2], "qps": nq / bt[0]})
    return single, batch, ids_single, ids_batch


def worker(args):
    ncpu = os.cpu_count() or 1
    rss0 = bench.vm_kib("VmRSS")
    xb = np.load(args.base)
    xq = np.load(args.queries)
    rss_loaded = bench.vm_kib("VmRSS")
    n, dim = xb.shape
    efs = [int(x) for x in args.ef.split(",")]
    k = args.k
    info = {}
    if args.worker == "hnswlib":
        import hnswlib

        index = hnswlib.Index(space="l2", dim=dim)
        t0 = time.perf_counter()
        index.init_index(max_elements=n, M=args.m, ef_construction=args.efc, random_seed=100)
        index.set_num_threads(ncpu)
        index.add_items(xb, np.arange(n))
        build_s = time.perf_counter() - t0
        nthreads = [1]

        def set_ef(ef):
            index.set_ef(ef)

        def one(v):
            return index.knn_query(v, k=k, num_threads=nthreads[0])[0]

        def many(v):
            return index.knn_query(v, k=k, num_threads=nthreads[0])[0]

        def single_threads():
            nthreads[0] = 1

        def all_threads():
            nthreads[0] = ncpu
    else:
        import faiss

        info["faiss_compile"] = faiss.get_compile_options().strip()
        index = faiss.IndexHNSWFlat(dim, args.m)
        index.hnsw.efConstruction = args.efc
        faiss.omp_set_num_threads(ncpu)
        t0 = time.perf_counter()
        index.add(xb)
        build_s = time.perf_counter() - t0

        def set_ef(ef):
            index.hnsw.efSearch = ef

        def one(v):
            return index.search(v, k)[1]

        many = one

        def single_threads():
            faiss.omp_set_num_threads(1)

        def all_threads():
            faiss.omp_set_num_threads(ncpu)
    rss_built = bench.vm_kib("VmRSS")
    del xb
    rss_freed = bench.vm_kib("VmRSS")
    single, batch, ids_single, ids_batch = sweep(set_ef, one, many, xq, efs, k, args.reps,
                                                 MIN_QUERIES, single_threads, all_threads)
    np.save(args.ids_out + ".single.npy", ids_single)
    np.save(args.ids_out + ".batch.npy", ids_batch)
    out = {"n": n, "dim": dim, "nq": len(xq), "k": k, "m": args.m, "efc": args.efc, "threads": ncpu,
           "build": {"seconds": build_s, "points_per_s": n / build_s},
           "single": single, "batch": batch,
           "memory": {"rss_start_kib": rss0, "rss_loaded_kib": rss_loaded,
                      "rss_after_build_kib": rss_built, "rss_after_free_input_kib": rss_freed,
                      "rss_end_kib": bench.vm_kib("VmRSS"), "hwm_kib": bench.vm_kib("VmHWM")}}
    out.update(info)
    print(json.dumps(out))


# ---- ground truth and recall ----

def ground_truth(xb, xq, k):
    """Exact top-k ids and the float64 k-th distance per query."""
    import faiss

    flat = faiss.IndexFlatL2(xb.shape[1])
    flat.add(xb)
    _, cand = flat.search(xq, min(2 * k, len(xb)))
    d = np.empty(cand.shape)
    for i in range(len(xq)):
        d[i] = ((xb[cand[i]].astype(np.float64) - xq[i].astype(np.float64)) ** 2).sum(1)
    order = np.argsort(d, axis=1, kind="stable")[:, :k]
    ids = np.take_along_axis(cand, order, 1)
    return ids, np.take_along_axis(d, order, 1)[:, -1]


def recall(ids, xb, xq, kth):
    """Recall@k of ids (nq x k; negative or 2^64-1 = no result), ties and duplicates handled."""
    ids = ids.astype(np.int64)  # 2^64-1 becomes -1
    valid = (ids >= 0) & (ids < len(xb))
    s = np.sort(np.where(valid, ids, -1), axis=1)
    first = np.ones_like(valid)
    first[:, 1:] = s[:, 1:] != s[:, :-1]
    hits = 0
    for i in range(len(xq)):
        row = s[i][(s[i] >= 0) & first[i]]
        d = ((xb[row].astype(np.float64) - xq[i].astype(np.float64)) ** 2).sum(1)
        hits += int((d <= kth[i] * (1 + 1e-6) + 1e-9).sum())
    return hits / ids.size


# ---- one dataset ----

def efc_of(args, name):
    """ef_construction for a dataset: --large-efc for the 1M sets, else the common one."""
    return args.large_efc if is_large(name) else EF_CONSTRUCTION


def run_engine(engine, args, name, bp, qp, tmp):
    efs = args.ef
    ids_prefix = os.path.join(tmp, f"{name}.{engine}.ids")
    if engine.startswith("hektor"):
        dbdir = os.path.join(tmp, name + ".db")
        common = ["--m", str(M), "--efc", str(efc_of(args, name))]
        # The SSE variant forces the portable kernel, which compiles to SSE on x86-64: the
        # instruction set the Debian builds of hnswlib and FAISS use.
        drv = (["env", "HEKTOR_KERNEL=scalar"] if engine == "hektor-sse" else []) + [args.bench_hnsw]
        batch, quant = args.import_batch, []
        if engine == "hektor-sq8":
            after = min(SQ8_AFTER, max(1000, np.load(bp, mmap_mode="r").shape[0] // 10))
            batch = min(batch, after)  # the codes come in between two batches
            quant = ["--quant", "sq8", "--quant-after", str(after), "--vectors", "disk"]
        if engine == "hektor-int8":
            after = min(INT8_AFTER, max(1000, np.load(bp, mmap_mode="r").shape[0] // 10))
            batch = min(batch, after)
            quant = ["--quant", "int8", "--quant-after", str(after), "--vectors", "disk"]
        build = bench.run_json(drv + ["build", "--data", bp, "--dir", dbdir,
                                "--batch", str(batch)] + common + quant, timeout=args.timeout)
        q = ["--dir", dbdir, "--queries", qp, "--ef", efs, "--k", str(K)]
        single = bench.run_json(drv + ["search"] + q + ["--threads", "1", "--mode", "single",
                                 "--ids-out", ids_prefix + ".single"], timeout=args.timeout)
        batch = bench.run_json(drv + ["search"] + q + ["--threads", "0", "--mode", "batch",
                                "--reps", str(args.reps), "--ids-out", ids_prefix + ".batch"],
                               timeout=args.timeout)
        shutil.rmtree(dbdir, ignore_errors=True)
        nef, nq = len(single["sweep"]), single["nq"]
        ids_s = np.fromfile(ids_prefix + ".single", dtype=np.uint64).reshape(nef, nq, K)
        ids_b = np.fromfile(ids_prefix + ".batch", dtype=np.uint64).reshape(nef, nq, K)
        mem = build["memory"]
        return {"build_seconds": build["build"]["seconds"], "close_seconds": build["close_seconds"],
                "points_per_s": build["build"]["points_per_s"], "raw_build": build,
                "raw_single": single, "raw_batch": batch,
                "single": single["sweep"], "batch": batch["sweep"],
                "rss_start_kib": mem["rss_start_kib"],
                "rss_index_kib": mem["rss_after_free_input_kib"], "hwm_kib": mem["hwm_kib"],
                "rss_serving_kib": single["memory"]["rss_after_open_kib"],
                "open_seconds": single["open_seconds"], "verify_ok": build["verify_ok"],
                "kernel": single["kernel"],
                "rss_anon_index_kib": mem.get("rss_anon_after_free_input_kib"),
                "rss_anon_serving_kib": single["memory"].get("rss_anon_after_open_kib"),
                "vectors_on_disk": mem.get("vectors_on_disk", 0),
                "bytes_memory": mem["bytes_memory"]}, ids_s, ids_b
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", engine, "--base", bp,
           "--queries", qp, "--ef", efs, "--ids-out", ids_prefix, "--reps", str(args.reps),
           "--m", str(M), "--efc", str(efc_of(args, name))]
    w = bench.run_json(cmd, timeout=args.timeout)
    mem = w["memory"]
    res = {"build_seconds": w["build"]["seconds"], "points_per_s": w["build"]["points_per_s"],
           "single": w["single"], "batch": w["batch"], "rss_start_kib": mem["rss_start_kib"],
           "rss_index_kib": mem["rss_after_free_input_kib"], "hwm_kib": mem["hwm_kib"], "raw": w}
    return res, np.load(ids_prefix + ".single.npy"), np.load(ids_prefix + ".batch.npy")


def at_targets(res):
    """For each target, the smallest swept ef whose recall reaches it."""
    out = {}
    for t in TARGETS:
        pick = next((i for i, s in enumerate(res["single"]) if s["recall"] >= t), None)
        if pick is None:
            out[t] = None
            continue
        s, b = res["single"][pick], res["batch"][pick]
        out[t] = {"ef": s["ef"], "recall": s["recall"], "qps_1t": s["qps"], "qps_all": b["qps"],
                  "p50_ms": s["p50_ms"], "p99_ms": s["p99_ms"], "mean_ms": s["mean_ms"]}
    return out


def run_dataset(name, bp, qp, xb, xq, args, tmp, shipped_gt=None):
    log(f"== {name}: {len(xb)} x {xb.shape[1]}, {len(xq)} queries")
    t0, busy0, own0 = time.time(), bench.cpu_busy_seconds(), bench.own_cpu_seconds()
    gt, kth = ground_truth(xb, xq, K)
    d = {"name": name, "n": len(xb), "dim": int(xb.shape[1]), "nq": len(xq), "engines": {}}
    if shipped_gt is not None:
        d["gt_vs_shipped"] = recall(shipped_gt[:, :K], xb, xq, kth)
    for engine in (args.large_engines if is_large(name) else args.engines):
        log(f"  {engine}")
        res, ids_s, ids_b = run_engine(engine, args, name, bp, qp, tmp)
        for e, s in enumerate(res["single"]):
            s["recall"] = recall(ids_s[e], xb, xq, kth)
            res["batch"][e]["recall"] = recall(ids_b[e], xb, xq, kth)
        res["targets"] = at_targets(res)
        d["engines"][engine] = res
        log(f"  {engine}: build {res['build_seconds']:.1f} s; " + ", ".join(
            f"ef {s['ef']}: {s['recall']:.3f} @ {s['qps']:,.0f} q/s" for s in res["single"][::3]))
    d["seconds"] = time.time() - t0
    other = max(0.0, (bench.cpu_busy_seconds() - busy0) - (bench.own_cpu_seconds() - own0))
    d["other_busy"] = other / (d["seconds"] * (os.cpu_count() or 1))
    return d


# ---- report ----

def mib(kib):
    return f"{kib / 1024:,.0f} MiB"


def fmt_qps(x):
    return f"{x:,.0f}"


def dataset_table(d, ncpu):
    engines = [e for e in ENGINES if e in d["engines"]]
    E = d["engines"]
    head = ["| | " + " | ".join(TITLES[e] for e in engines) + " |",
            "|---" * (len(engines) + 1) + "|"]
    rows = []

    def row(label, f):
        rows.append(f"| {label} | " + " | ".join(f(e, E[e]) for e in engines) + " |")

    def build_cell(e, r):
        s = f"{r['build_seconds']:.1f} s"
        if e.startswith("hektor"):
            s += f" (durable; + close {r['close_seconds']:.1f} s)"
        return s

    row("Build", build_cell)
    row("Build rate (points/s)", lambda e, r: fmt_qps(r["points_per_s"]))
    for t in TARGETS:
        def cell(e, r, t=t, what=None):
            p = r["targets"][t]
            if p is None:
                best = max(r["single"], key=lambda s: s["recall"])
                return f"not reached (best {best['recall']:.3f} at ef {best['ef']})" if what == "ef" else "—"
            return {"ef": f"{p['ef']} ({p['recall']:.3f})", "q1": fmt_qps(p["qps_1t"]),
                    "qa": fmt_qps(p["qps_all"]),
                    "lat": f"{p['p50_ms']:.3f} / {p['p99_ms']:.3f}"}[what]
        row(f"**Recall@{K} ≥ {t:.2f}**: ef (recall)", lambda e, r, c=cell: c(e, r, what="ef"))
        row("QPS, 1 thread", lambda e, r, c=cell: c(e, r, what="q1"))
        row(f"QPS, {ncpu} threads (batch)", lambda e, r, c=cell: c(e, r, what="qa"))
        row("Latency p50 / p99 (ms), 1 thread", lambda e, r, c=cell: c(e, r, what="lat"))
    row(f"Recall@{K} at ef {d['engines'][engines[0]]['single'][-1]['ef']}",
        lambda e, r: f"{r['single'][-1]['recall']:.4f}")
    row("RSS after build, input freed", lambda e, r: mib(r["rss_index_kib"]))
    row("… minus the process at start", lambda e, r: mib(r["rss_index_kib"] - r["rss_start_kib"]))
    row("Peak RSS (VmHWM, input included)", lambda e, r: mib(r["hwm_kib"]))
    row("RSS of a process that opens the collection",
        lambda e, r: f"{mib(r['rss_serving_kib'])} (open {r['open_seconds']:.2f} s)"
        if "rss_serving_kib" in r else "—")
    out = [f"#### {d['name']} — {d['n']:,} x {d['dim']}, {d['nq']:,} queries, k = {K}", "",
           f"Other processes used {100 * d['other_busy']:.0f}% of the cores while this dataset ran "
           f"({d['seconds']:.0f} s).", ""] + head + rows + [""]
    notes = []
    for e in engines:
        if not e.startswith("hektor"):
            continue
        h = E[e]
        notes.append(f"{TITLES[e]} (kernel {h['kernel']}): the graph check after the build "
                     f"(hk_collection_verify) {'passed' if h['verify_ok'] else '**failed**'}.")
        diff = [s["ef"] for s, b in zip(h["single"], h["batch"]) if abs(s["recall"] - b["recall"]) > 1e-9]
        if diff:
            notes.append(f"Its batch recall differs from its single-query recall at ef {diff}.")
    if "gt_vs_shipped" in d:
        notes.append(f"The computed ground truth agrees with the shipped one at recall "
                     f"{d['gt_vs_shipped']:.4f} (ties allowed).")
    if notes:
        out += [" ".join(notes), ""]
    # The whole sweep, folded.
    out += ["<details><summary>The ef sweep: recall@10, QPS on 1 thread, QPS on "
            f"{ncpu} threads, p50 / p99 ms</summary>", "",
            "| ef | " + " | ".join(TITLES[e] for e in engines) + " |",
            "|---" * (len(engines) + 1) + "|"]
    for i, s0 in enumerate(E[engines[0]]["single"]):
        cells = []
        for e in engines:
            s, b = E[e]["single"][i], E[e]["batch"][i]
            cells.append(f"{s['recall']:.4f}, {fmt_qps(s['qps'])}, {fmt_qps(b['qps'])}, "
                         f"{s['p50_ms']:.3f} / {s['p99_ms']:.3f}")
        out.append(f"| {s0['ef']} | " + " | ".join(cells) + " |")
    out += ["", "</details>", ""]
    return out


def overview(results, ncpu):
    engines = [e for e in ENGINES if any(e in d["engines"] for d in results)]
    t = 0.95
    L = [f"At recall@{K} ≥ {t:.2f} (the smallest swept ef reaching it): build seconds, QPS on 1 "
         f"thread / {ncpu} threads, and RSS after build. Each dataset's table below has 0.90 and "
         "0.99 too.", "",
         "| Dataset | " + " | ".join(TITLES[e] for e in engines) + " |",
         "|---" * (len(engines) + 1) + "|"]
    for d in results:
        cells = []
        for e in engines:
            r = d["engines"].get(e)
            if r is None:
                cells.append("—")
                continue
            p = r["targets"][t]
            q = f"{fmt_qps(p['qps_1t'])} / {fmt_qps(p['qps_all'])} q/s" if p else "not reached"
            cells.append(f"{r['build_seconds']:.1f} s; {q}; {mib(r['rss_index_kib'])}")
        L.append(f"| {d['name']} ({d['n']:,} x {d['dim']}) | " + " | ".join(cells) + " |")
    return L + [""]


def seed_targets(d, ncpu):
    """The seed's 1M x 512 targets, for each engine that ran."""
    engines = [e for e in ENGINES if e in d["engines"]]
    L = [f"#### The seed's targets on {d['name']} ({d['n']:,} x {d['dim']})", "",
         f"Queries: more than {SEED_QPS:,} queries/s (on {ncpu} threads) with a single-query p99 "
         f"under {SEED_LATENCY_MS:g} ms, at the recall level given. Memory: RSS after the build "
         "(input freed) and of a process serving the collection, under 4 GB. Build: the whole "
         "durable import, graph included, under 5 minutes. Ingestion: points/s over the build. "
         "Only HEKTOR is judged; "
         + ("the other engines' figures are for comparison (their build is in memory, with no "
            "durability)." if len(engines) > 1 else
            "the other engines were not run at this size (`--large-engines` adds them)."), "",
         "| Target | " + " | ".join(TITLES[e] for e in engines) + " | HEKTOR met |",
         "|---" * (len(engines) + 2) + "|"]
    E = d["engines"]

    def mark(ok):
        return "yes" if ok else "**no**"

    hk = [e for e in engines if e.startswith("hektor")]

    def judged(ok_of):
        """'yes (which)' when some HEKTOR configuration meets the target, else **no**."""
        if not hk:
            return "—"
        ok = [e for e in hk if ok_of(e)]
        if not ok:
            return mark(False)
        return "yes" + (f" ({', '.join(TITLES[e] for e in ok)})" if len(hk) > 1 else "")

    for t in TARGETS:
        cells = []
        for e in engines:
            p = E[e]["targets"][t]
            if p is None:
                cells.append("recall not reached")
                continue
            cells.append(f"{fmt_qps(p['qps_all'])} q/s, p99 {p['p99_ms']:.3f} ms (p50 {p['p50_ms']:.3f}), ef {p['ef']}")

        def qok(e, t=t):
            p = E[e]["targets"][t]
            return p is not None and p["qps_all"] > SEED_QPS and p["p99_ms"] < SEED_LATENCY_MS
        L.append(f"| > {SEED_QPS:,} q/s at < {SEED_LATENCY_MS:g} ms, recall@{K} ≥ {t:.2f} | "
                 + " | ".join(cells) + f" | {judged(qok)} |")

    def mem(e):
        r = E[e]
        v = max(r["rss_index_kib"], r.get("rss_serving_kib", 0))
        txt = f"{mib(r['rss_index_kib'])}" + (
            f" (serving {mib(r['rss_serving_kib'])})" if "rss_serving_kib" in r else "")
        if r.get("vectors_on_disk") and r.get("rss_anon_index_kib") is not None:
            txt += (f"; anonymous {mib(r['rss_anon_index_kib'])} (serving "
                    f"{mib(r['rss_anon_serving_kib'])}), the rest mapped vectors in the page cache")
        return v * 1024, txt
    cells = [mem(e)[1] for e in engines]
    L.append("| Memory < 4 GB | " + " | ".join(cells) + " | "
             + judged(lambda e: mem(e)[0] < SEED_MEMORY_BYTES) + " |")
    L.append("| Index build < 5 min | " + " | ".join(f"{E[e]['build_seconds']:.0f} s" for e in engines)
             + " | " + judged(lambda e: E[e]["build_seconds"] < SEED_BUILD_S) + " |")
    L.append(f"| Ingestion > {SEED_INGEST} vectors/s | "
             + " | ".join(f"{fmt_qps(E[e]['points_per_s'])}/s" for e in engines) + " | "
             + judged(lambda e: E[e]["points_per_s"] > SEED_INGEST) + " |")
    if "hektor-sq8" in E:
        L += ["", f"{TITLES['hektor-sq8']}: the first {SQ8_AFTER:,} points (a tenth of smaller "
              "sets) are linked on their "
              "float vectors, then an SQ8 codebook is trained on them and the collection quantized "
              "(`hk_collection_quantize`); every later insert walks the graph on the codes, and "
              "neighbour selection compares codes. The float vectors live in a mapped file "
              "(`hk_collection_set_vector_storage`); searches walk on the codes and re-rank their "
              "candidates (the default depth, max(4k, 40)) with the floats. RSS counts the mapped "
              "file's resident pages; the anonymous part is the process's own heap."]
    if "hektor-int8" in E:
        L += ["", f"{TITLES['hektor-int8']}: as above with an int8 codebook (one quantization step "
              "for every dimension, so code-to-code distances are integer sums: AVX-512 VNNI "
              f"here), quantized after the first {INT8_AFTER:,} points; queries are encoded with "
              "the same codebook, walk the codes with the integer kernel, and the candidates are "
              "re-ranked with the float vectors. This is the quantized build path of the "
              "Quantization issue."]
    return L + [""]


def block(info, results, args, started, elapsed):
    ncpu = os.cpu_count() or 1
    compile_opts = next((d["engines"]["faiss"]["raw"].get("faiss_compile") for d in results
                         if "faiss" in d["engines"]), "?")
    begin, end, title = markers(results)
    L = [begin, title, "",
         "Generated by `bench/bench_hnsw.py`; do not edit by hand. Rerun with `make bench-hnsw` "
         "(`make bench` runs it after `bench/bench.py`, which keeps this block as it is)"
         + (", here with `--quick`: smaller sizes, a smoke run, not the reference numbers"
            if args.quick else "")
         + (f"; this run: `/usr/bin/python3 bench/bench_hnsw.py {shlex.join(sys.argv[1:])}`"
            if len(sys.argv) > 1 else "") + ".", "",
         f"Run {started} UTC, {elapsed:.0f} s in all, at commit `{info['commit']}`, on "
         f"{info['cpu']} ({info['cores']} cores, {info['memory']}, hypervisor {info['hypervisor']}). Other work on "
         f"the machine during the run: {100 * info['other_busy']:.0f}% of all cores; load average "
         f"{info['load_start']} at the start, {info['load_end']} at the end.", "",
         f"Packages: {info['packages']}. HEKTOR: {info['hektor']}; {info['compiler']}.", "",
         "### Method", "",
         f"- Every engine gets the same vectors and M = {M}, ef_construction = {EF_CONSTRUCTION} "
         f"(level 0 keeps 2M links in all three)"
         + (f"; the 1M x 512 sets are built with ef_construction = {args.large_efc} (`--large-efc`) by "
            "every engine run on them" if args.large and args.large_efc != EF_CONSTRUCTION else "")
         + f", k = {K}, and the same ef sweep ({args.ef.replace(',', ', ')}). "
         "Each runs in its own processes, so each RSS figure is that engine's alone.",
         f"- HEKTOR (`build/bench/bench_hnsw`, public C API): a fresh database with fsync on; "
         f"hk_upsert in batches of {args.import_batch:,}, each durable and linked into the graph "
         f"when the call returns, the worker pool at every core ({ncpu}). The build time is the "
         "whole import; hk_db_close (the checkpoint that writes the graph into the snapshot) is "
         "shown apart. The query sweeps run in two more processes that open the database "
         "read-only: one with hk_db_options.threads = 1 (one hk_search per query), one with "
         "every core (the batch: one hk_search with all queries, which runs them in parallel).",
         f"- hnswlib (python3-hnswlib): init_index(M, ef_construction), add_items with {ncpu} "
         "threads; knn_query with num_threads = 1 per query, then with every thread for the batch.",
         f"- FAISS IndexHNSWFlat(d, M) (python3-faiss, compile options `{compile_opts}`): "
         f"efConstruction set, add with {ncpu} OpenMP threads; efSearch per ef; "
         "omp_set_num_threads(1) for the per-query loop, every thread for the batch.",
         f"- SIMD: HEKTOR picks its distance kernel at run time ({info['hektor_kernel']} here). "
         f"{info['hnswlib_simd']} FAISS's compile options say `{compile_opts}` (no AVX2 build "
         "is loaded). So the column *HEKTOR, SSE kernel* reruns HEKTOR with `HEKTOR_KERNEL=scalar`, "
         "its portable kernel, which the compiler turns into SSE: the same instruction set as the "
         "other two, to tell the graph's speed from the kernel's.",
         "- hnswlib and FAISS build in memory with no durability; HEKTOR's build includes its log "
         "writes and fsyncs.",
         f"- 1 thread: one call per query, one after another, after {WARMUP} warm-up queries, "
         f"passing over the query set until at least {MIN_QUERIES:,} calls are timed; p50/p99 "
         "are of those calls (Python's call overhead, a few microseconds, is inside hnswlib's "
         f"and FAISS's). All threads: every query in one call, repeated at least {args.reps} "
         f"times and until {BATCH_MIN_SECONDS:g} s is spent, best time.",
         f"- Recall@{K} against exact ground truth (FAISS IndexFlatL2 top 20 re-ranked in float64; "
         "a returned id whose distance equals the 10th true distance counts). Each recall target "
         "is met at the smallest swept ef that reaches it; the figures are measured at that ef.",
         "- RSS from /proc/self/status: after the build with the input array freed, less the "
         "process at start (the C driver starts at a few MiB; Python with NumPy and the engine at "
         "tens of MiB); the peak includes the input vectors.",
         "- Data: bench.py's generator (100 Gaussian clusters, centres N(0,1), spread U(0.1, 0.3), "
         f"float32, seed {bench.SEED} + dim; queries from the same clusters); bigann10k: "
         "`../shared/data/ann` (uint8 read as float32, its 100 queries). Within a cluster the "
         "generated points are isotropic Gaussians, whose intrinsic dimension is the full "
         "dimension: a hard case for every graph index, harder than real embeddings, so a "
         "given recall needs a larger ef here than on, say, bigann10k's SIFT descriptors."
         + (" embedding-*: bench.py's embedding_like() (seed + dim + 1): 100 Gaussian clusters "
            "whose centres and spreads (U(0.3, 0.6)) share a decaying spectrum, axis i of a random "
            "rotation having standard deviation (1 + i)^-0.5, so most of the variance lies in a few "
            "dozen directions (participation ratio about 22 at 512 dimensions), as in learned "
            "embeddings; a given recall needs a far smaller ef there."
            if any(d["name"].startswith("embedding-") for d in results) else ""),
         "", "### Overview", ""]
    L += overview(results, ncpu)
    for d in results:
        if is_large(d["name"]):
            L += seed_targets(d, ncpu)
    L += ["### Results", ""]
    for d in results:
        L += dataset_table(d, ncpu)
    L.append(end)
    return "\n".join(L) + "\n"


def hnswlib_simd():
    """What the installed hnswlib module's machine code uses, read with objdump."""
    try:
        import importlib.util

        so = importlib.util.find_spec("hnswlib").origin
        asm = subprocess.run(["objdump", "-d", "--no-show-raw-insn", so], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True).stdout
    except (OSError, AttributeError, ImportError):
        return "hnswlib's instruction set could not be read."
    if "%zmm" in asm:
        return "hnswlib's module contains AVX-512 code."
    if "%ymm" in asm:
        return "hnswlib's module contains AVX code."
    return "hnswlib's module (Debian's build) has no AVX or AVX-512 instruction at all: SSE only."


def render(args):
    """Rewrites the report from a --json file (after a change to the report's layout)."""
    with open(args.render) as f:
        saved = json.load(f)
    for k, v in saved.get("args", {}).items():
        setattr(args, k, v)
    for d in saved["results"]:
        for r in d["engines"].values():
            r["targets"] = at_targets(r)
    out = args.out or os.path.join(ROOT, "docs", "BENCHMARKS.md")
    begin, end, _ = markers(saved["results"])
    bench.write_block(out, begin, end, block(saved["machine"], saved["results"], args, saved["started"], saved["wall"]))
    log(f"bench_hnsw: wrote the hnsw block of {out} from {args.render}")


# ---- main ----

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes for a smoke run")
    ap.add_argument("--large", action="store_true",
                    help="add a 1M x 512 set (--large-data; tens of minutes per engine) and the seed's targets")
    ap.add_argument("--out", help="report path (default docs/BENCHMARKS.md; "
                    "build/BENCHMARKS-hnsw-quick.md with --quick)")
    ap.add_argument("--json", help="also write the raw measurements here")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"), help="CMake build directory")
    ap.add_argument("--tmp-root", default=None, help="where databases and data files go "
                    "(default BUILD/bench-tmp)")
    ap.add_argument("--n", type=int, help="base vectors per generated 100K dataset")
    ap.add_argument("--nq", type=int, help="queries per generated dataset")
    ap.add_argument("--datasets", default="clustered-128,clustered-512,bigann10k")
    ap.add_argument("--engines", default=",".join(ENGINES))
    ap.add_argument("--large-data", choices=("clustered", "embedding", "both"), default="clustered",
                    help="which 1M x 512 set --large adds: clustered (isotropic clusters, bench.py's "
                    "clustered()), embedding (clusters with a decaying spectrum, like learned "
                    "embeddings: bench.py's embedding_like()) or both")
    ap.add_argument("--large-efc", type=int, default=EF_CONSTRUCTION,
                    help="ef_construction for the 1M x 512 sets (every engine run on them; default "
                    "%(default)s, as the 100K sets)")
    ap.add_argument("--large-n", type=int, default=1_000_000, help=argparse.SUPPRESS)
    ap.add_argument("--large-engines", default="hektor",
                    help="engines for the 1M x 512 dataset of --large (HEKTOR alone takes about "
                    "15 minutes; hnswlib and FAISS take longer each)")
    ap.add_argument("--render", metavar="JSON",
                    help="write the report from the measurements a --json run saved, running nothing")
    ap.add_argument("--ef", default=EF_SWEEP, help="ef values to sweep")
    ap.add_argument("--import-batch", type=int, default=10000)
    ap.add_argument("--reps", type=int, default=3, help="repetitions of each batch search")
    ap.add_argument("--timeout", type=int, default=4 * 3600, help="seconds per engine process")
    ap.add_argument("--worker", choices=("hnswlib", "faiss"), help=argparse.SUPPRESS)
    ap.add_argument("--base", help=argparse.SUPPRESS)
    ap.add_argument("--queries", help=argparse.SUPPRESS)
    ap.add_argument("--ids-out", help=argparse.SUPPRESS)
    ap.add_argument("--k", type=int, default=K, help=argparse.SUPPRESS)
    ap.add_argument("--m", type=int, default=M, help=argparse.SUPPRESS)
    ap.add_argument("--efc", type=int, default=EF_CONSTRUCTION, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    if args.render:
        return render(args)

    args.engines = args.engines.split(",")
    args.large_engines = args.large_engines.split(",")
    for e in args.engines + args.large_engines:
        if e not in ENGINES:
            raise SystemExit(f"bench_hnsw: unknown engine {e} (known: {', '.join(ENGINES)})")
    n = args.n or (20_000 if args.quick else 100_000)
    nq = args.nq or (200 if args.quick else 1000)
    datasets = [d for d in args.datasets.split(",") if d]
    if args.large:
        datasets += [LARGES[k] for k in (("clustered", "embedding") if args.large_data == "both"
                                          else (args.large_data,))]
    out = args.out or (os.path.join(args.build, "BENCHMARKS-hnsw-quick.md") if args.quick
                       else os.path.join(ROOT, "docs", "BENCHMARKS.md"))
    args.bench_hnsw, tmp = bench.private_driver(args.build, args.tmp_root, "bench_hnsw", "hnsw-")
    started = datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M")
    t_start = time.time()
    info = bench.machine_info(args.build)
    hv = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${Version}", "python3-hnswlib"],
                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout.strip()
    info["packages"] += (", " + hv) if hv else ""
    info["hektor_kernel"] = info["hektor"].split("kernel ")[-1].rstrip(")") if "kernel " in info["hektor"] else "?"
    info["hnswlib_simd"] = hnswlib_simd()
    info["load_start"] = bench.loadavg()
    busy0, own0 = bench.cpu_busy_seconds(), bench.own_cpu_seconds()

    try:
        results = []
        for name in datasets:
            if name.startswith("clustered-") or name.startswith("embedding-"):
                parts = name.split("-")
                dim = int(parts[1])
                size = args.large_n if is_large(name) else n
                if parts[0] == "clustered":
                    xb, xq = bench.clustered(size, nq, dim, bench.SEED + dim)
                else:
                    xb, xq = bench.embedding_like(size, nq, dim, bench.SEED + dim + 1)
                bp, qp = os.path.join(tmp, name + ".base.npy"), os.path.join(tmp, name + ".query.npy")
                np.save(bp, xb)
                np.save(qp, xq)
                results.append(run_dataset(name, bp, qp, xb, xq, args, tmp))
            elif name == "bigann10k":
                ann = os.path.join(bench.SHARED_DATA, "ann")
                src = os.path.join(ann, "bigann10k_base.bvecs")
                if not os.path.exists(src):
                    log(f"bench_hnsw: {src} is missing; skipping bigann10k (set HK_SHARED_DATA)")
                    continue
                xb = bench.read_bvecs(src)
                xq = bench.read_bvecs(os.path.join(ann, "bigann10k_query.bvecs"))
                gt = bench.read_ivecs(os.path.join(ann, "bigann10k_groundtruth.ivecs"))
                bp, qp = os.path.join(tmp, name + ".base.npy"), os.path.join(tmp, name + ".query.npy")
                np.save(bp, xb)
                np.save(qp, xq)
                results.append(run_dataset(name, bp, qp, xb, xq, args, tmp, gt))
            else:
                raise SystemExit(f"bench_hnsw: unknown dataset {name}")
            for f in (bp, qp):
                os.remove(f)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    wall = time.time() - t_start
    other = max(0.0, (bench.cpu_busy_seconds() - busy0) - (bench.own_cpu_seconds() - own0))
    info["load_end"] = bench.loadavg()
    info["other_busy"] = other / (wall * (os.cpu_count() or 1))
    begin, end, _ = markers(results)
    bench.write_block(out, begin, end, block(info, results, args, started, wall))
    if args.json:
        saved = {k: getattr(args, k) for k in ("quick", "large", "ef", "import_batch", "reps",
                                                "large_efc", "large_data")}
        with open(args.json, "w") as f:
            json.dump({"machine": info, "results": results, "started": started, "wall": wall,
                       "args": saved}, f, indent=1,
                      default=lambda o: float(o) if isinstance(o, np.floating) else str(o))
    log(f"bench_hnsw: wrote the hnsw block of {out} in {wall:.0f} s")


if __name__ == "__main__":
    main()
