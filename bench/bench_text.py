#!/usr/bin/env python3
"""bench_text.py — HEKTOR's BM25 text search beside SQLite FTS5 on the same documents and
queries, in the same run: indexing rate, index size, queries/s and latency on one thread.

Data: Cranfield and CISI from ../shared/data/ir (title + abstract), each corpus repeated
--scale times (copies get new ids) so timings are not all overhead; the queries are the
collections' own. FTS5 uses tokenize='porter unicode61', queries are the words OR'ed,
ORDER BY bm25() LIMIT k; HEKTOR uses a text-only collection with default settings,
driven by build/bench/bench_text through the C API. Both run in memory-resident form:
FTS5 in a :memory: database, HEKTOR's collection in a temporary directory opened with
HK_OPEN_NOSYNC.

Writes build/BENCHMARKS-text.md and prints it; --json FILE saves the measurements.
usage: /usr/bin/python3 bench/bench_text.py [--scale 10] [--rounds 3] [--k 10]
(FTS5 is slow on long OR queries: --scale 20 --rounds 5 takes about 9 minutes, most of
it FTS5's CISI queries.)
"""
import argparse
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from test_text_quality import load  # noqa: E402  (the same parsing as the quality test)

BIN = os.environ.get("HK_BENCH_TEXT_BIN") or os.path.join(ROOT, "build", "bench", "bench_text")


def fts5(docs, queries, rounds, k):
    con = sqlite3.connect(":memory:")
    con.execute("CREATE VIRTUAL TABLE d USING fts5(body, tokenize='porter unicode61')")
    t0 = time.perf_counter()
    con.executemany("INSERT INTO d(rowid, body) VALUES (?, ?)", docs)
    con.commit()
    index_s = time.perf_counter() - t0
    pages = con.execute("PRAGMA page_count").fetchone()[0] * con.execute("PRAGMA page_size").fetchone()[0]
    qs = [" OR ".join('"%s"' % w for w in re.findall(r"\w+", q.lower())) for q in queries]
    lat = []
    t_all = time.perf_counter()
    for _ in range(rounds):
        for q in qs:
            a = time.perf_counter()
            con.execute("SELECT rowid FROM d WHERE d MATCH ? ORDER BY bm25(d) LIMIT ?", (q, k)).fetchall()
            lat.append(time.perf_counter() - a)
    t_all = time.perf_counter() - t_all
    lat.sort()
    return {"index_s": index_s, "docs_per_s": len(docs) / index_s, "db_bytes": pages,
            "qps": len(lat) / t_all, "p50_us": lat[len(lat) // 2] * 1e6,
            "p99_us": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1e6}


def hektor(docs, queries, rounds, k, work):
    src = os.path.join(work, "docs.jsonl")
    with open(src, "w") as f:
        for i, t in docs:
            f.write(json.dumps({"id": i, "text": t}) + "\n")
    qf = os.path.join(work, "queries.txt")
    with open(qf, "w") as f:
        for q in queries:
            f.write(q + "\n")
    db = os.path.join(work, "db")
    out = subprocess.run([BIN, db, src, qf, str(rounds), str(k)], check=True,
                         stdout=subprocess.PIPE).stdout
    return json.loads(out)


def embedding_quality():
    """Retrieval quality of the built-in text embedding (GloVe 6B 100-d, SIF) alone and in
    an RRF hybrid with BM25, on the same collection and queries (test_text_quality's
    embedding_runs): {corpus: {method: (nDCG@10, MAP, recall@100)}}, or the reason it
    cannot run (no table: scripts/setup.sh makes it)."""
    from test_text_quality import embedding_runs, embedding_table_present, evaluate, recall_at
    why = embedding_table_present()
    if why:
        return why
    out = {}
    for name in ("cranfield", "cisi"):
        docs, queries, qrels = load(name)
        work = tempfile.mkdtemp(prefix="hk-bench-embed-")
        try:
            runs, _ = embedding_runs(name, docs, queries, lambda *p: os.path.join(work, *p))
        finally:
            shutil.rmtree(work)
        out[name] = {m: evaluate(r, qrels) + (recall_at(r, qrels),) for m, r in runs.items()}
    return out


def embedding_lines(q):
    lines = ["## Built-in text embedding: GloVe 6B 100-d with SIF weights, alone and fused with BM25", ""]
    if isinstance(q, str):
        return lines + ["Not measured: %s" % q, ""]
    lines += ["Each corpus imported with `import --embed` (title + abstract); the same query text "
              "searched by BM25 (`--text`), by its embedding alone with exact cosine search "
              "(`--embed-only --exact`), and by both fused with RRF k = 60 over the top 1000 of "
              "each (`--embed --exact --depth 1000`).", "",
              "| corpus | method | nDCG@10 | MAP | recall@100 |", "| --- | --- | ---: | ---: | ---: |"]
    for name, r in q.items():
        for m in ("bm25", "vector", "hybrid"):
            lines.append("| %s | %s | %.4f | %.4f | %.4f |" % ((name, m) + tuple(r[m])))
    return lines + [""]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--json")
    a = ap.parse_args()
    if not os.access(BIN, os.X_OK):
        sys.exit("build first: make build (%s is missing)" % BIN)
    results = {}
    for name in ("cranfield", "cisi"):
        base, queries, _ = load(name)
        step = max(i for i, _ in base) + 1
        docs = [(i + c * step, t) for c in range(a.scale) for i, t in base]
        work = tempfile.mkdtemp(prefix="hk-bench-text-")
        try:
            h = hektor(docs, list(queries.values()), a.rounds, a.k, work)
        finally:
            shutil.rmtree(work)
        s = fts5(docs, list(queries.values()), a.rounds, a.k)
        results[name] = {"docs": len(docs), "queries": len(queries), "hektor": h, "fts5": s}
    lines = ["## Text search: HEKTOR BM25 beside SQLite %s FTS5" % sqlite3.sqlite_version, "",
             "`/usr/bin/python3 bench/bench_text.py --scale %d --rounds %d --k %d`: each corpus "
             "repeated %d times, every query %d times, top %d, one thread." % (
                 a.scale, a.rounds, a.k, a.scale, a.rounds, a.k), "",
             "| corpus | engine | docs | index docs/s | index bytes | queries/s | p50 µs | p99 µs |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, r in results.items():
        h, s = r["hektor"], r["fts5"]
        lines.append("| %s | HEKTOR | %d | %.0f | %d in memory, %d on disk | %.0f | %.0f | %.0f |" % (
            name, r["docs"], h["docs_per_s"], h["index_bytes"], h["disk_bytes"], h["qps"],
            h["p50_us"], h["p99_us"]))
        lines.append("| %s | FTS5 | %d | %.0f | %d (whole database) | %.0f | %.0f | %.0f |" % (
            name, r["docs"], s["docs_per_s"], s["db_bytes"], s["qps"], s["p50_us"], s["p99_us"]))
    lines += ["", "HEKTOR's indexing time includes the import's jsonl parsing and a checkpoint; "
              "FTS5's is its INSERTs of already parsed rows. HEKTOR reopens the collection "
              "(reading the index from the snapshot) in %s s for Cranfield." % (
                  "%.3f" % results["cranfield"]["hektor"]["open_s"]), ""]
    embed_q = embedding_quality()
    lines += embedding_lines(embed_q)
    text = "\n".join(lines)
    os.makedirs(os.path.join(ROOT, "build"), exist_ok=True)
    with open(os.path.join(ROOT, "build", "BENCHMARKS-text.md"), "w") as f:
        f.write(text)
    print(text)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(dict(results, embedding=embed_q), f, indent=1)


if __name__ == "__main__":
    main()
