#!/usr/bin/env python3
"""bench_text.py — HEKTOR's BM25 text search beside SQLite FTS5 and Xapian on the same
documents and queries, in the same run: retrieval quality (nDCG@10, MAP, recall@100 for
BM25, BM25 + RM3 and the peers), and indexing rate, index size, queries/s and latency on
one thread.

Data: Cranfield and CISI from ../shared/data/ir (title + abstract), each corpus repeated
--scale times (copies get new ids) so timings are not all overhead; the queries are the
collections' own. FTS5 uses tokenize='porter unicode61', queries are the words OR'ed,
ORDER BY bm25() LIMIT k; HEKTOR uses a text-only collection with default settings,
driven by build/bench/bench_text through the C API. Both run in memory-resident form:
FTS5 in a :memory: database, HEKTOR's collection in a temporary directory opened with
HK_OPEN_NOSYNC.

Quality runs on the corpora as they are (scale 1), through the `hektor` CLI, with the
quality test's settings (tests/integration/test_text_quality.py); it measures no time, so
`--part quality` may run anywhere. Xapian (python3-xapian) indexes with its English stemmer
and BM25Weight(1.2, 0, 1, 0.75, 0.5) into a database in a temporary directory; it is left
out, with a note, when the module is missing.

Writes build/BENCHMARKS-text.md and prints it; --json FILE saves the measurements.
usage: /usr/bin/python3 bench/bench_text.py [--part all|quality|speed] [--scale 10]
       [--rounds 3] [--k 10]
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
from test_text_quality import (load, evaluate, fts5_runs, hektor_db, hektor_runs,  # noqa: E402
                               xapian_runs, xapian_index, xapian_query_text, lsi,  # (the test's)
                               hybrid_db, hybrid_runs, feedback)

FUSIONS = ("rrf", "convex", "dbsf", "combsum", "combmnz", "borda")

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


def xapian_speed(docs, queries, rounds, k, work):
    path = os.path.join(work, "xapian")
    t0 = time.perf_counter()
    x = xapian_index(docs, path)
    if x is None:
        return None
    db, enq, qp = x
    index_s = time.perf_counter() - t0
    size = sum(os.path.getsize(os.path.join(path, f)) for f in os.listdir(path))
    qs = [xapian_query_text(q) for q in queries]
    lat = []
    t_all = time.perf_counter()
    for _ in range(rounds):
        for q in qs:
            a = time.perf_counter()
            enq.set_query(qp.parse_query(q))
            enq.get_mset(0, k)
            lat.append(time.perf_counter() - a)
    t_all = time.perf_counter() - t_all
    lat.sort()
    db.close()
    return {"index_s": index_s, "docs_per_s": len(docs) / index_s, "db_bytes": size,
            "qps": len(lat) / t_all, "p50_us": lat[len(lat) // 2] * 1e6,
            "p99_us": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1e6}


def quality():
    """nDCG@10, MAP and recall@100 per corpus and engine (no timing)."""
    out = {}
    for name in ("cranfield", "cisi"):
        docs, queries, qrels = load(name)
        work = tempfile.mkdtemp(prefix="hk-bench-text-q-")
        try:
            db = hektor_db(name, docs, lambda n: os.path.join(work, n))
            r = {"HEKTOR BM25": evaluate(hektor_runs(db, name, queries)[0], qrels),
                 "HEKTOR BM25 + RM3": evaluate(hektor_runs(db, name, queries, "--expand", "rm3")[0], qrels),
                 "SQLite FTS5 bm25()": evaluate(fts5_runs(docs, queries), qrels)}
            x = xapian_runs(docs, queries)
            if x is not None:
                r["Xapian BM25"] = evaluate(x, qrels)
            # Hybrid: LSI vectors beside BM25, top 100, each fusion at depth 100.
            tmp = lambda n: os.path.join(work, n)
            vectors, qvecs = lsi(docs, queries)
            hdb = hybrid_db(name, docs, vectors, tmp)
            h = {"vector (LSI 128-d)": evaluate(hybrid_runs(hdb, name, queries, qvecs, text=False,
                                                            k=100), qrels),
                 "BM25": evaluate(hektor_runs(hdb, name, queries, "--k", "100")[0], qrels)}
            for m in FUSIONS:
                h["hybrid, " + m] = evaluate(hybrid_runs(hdb, name, queries, qvecs, "--fusion", m,
                                                         "--depth", "100", k=100), qrels)
            fb = feedback(hdb, name, queries, qrels, qvecs)
        finally:
            shutil.rmtree(work)
        out[name] = {"docs": len(docs), "queries": len(queries), "engines": r, "hybrid": h,
                     "feedback": fb}
    return out


def quality_lines(q):
    lines = ["## Text search quality: HEKTOR beside SQLite %s FTS5 and Xapian" % sqlite3.sqlite_version,
             "", "`/usr/bin/python3 bench/bench_text.py --part quality`: title + abstract, the "
             "collections' own queries, every word OR'ed, top 1000, k1 1.2, b 0.75; RM3 with 10 "
             "feedback documents, 10 terms, original weight 0.5.", "",
             "| corpus | engine | nDCG@10 | MAP | recall@100 |", "| --- | --- | ---: | ---: | ---: |"]
    for name, r in q.items():
        for eng, (nd, ap, rc) in r["engines"].items():
            lines.append("| %s (%d docs, %d queries) | %s | %.4f | %.4f | %.4f |"
                         % (name, r["docs"], r["queries"], eng, nd, ap, rc))
    if not any("Xapian BM25" in r["engines"] for r in q.values()):
        lines += ["", "python3-xapian is not installed here (scripts/setup.sh installs it): no "
                  "Xapian rows."]
    lines += ["", "Hybrid search (`search --vector V --text T --fusion M --depth 100 --k 100`; convex "
              "with weight 0.5, rrf with k 60) in a cosine collection whose vectors come from "
              "latent semantic indexing (top 128 singular vectors of the tf-idf matrix, numpy; a "
              "dense retriever standing in for the built-in embedder). Every row is over the top "
              "100, so MAP here is over 100 results, not 1000:", "",
              "| corpus | ranking | nDCG@10 | MAP@100 | recall@100 |", "| --- | --- | ---: | ---: | ---: |"]
    for name, r in q.items():
        for eng, (nd, ap, rc) in r["hybrid"].items():
            lines.append("| %s | %s | %.4f | %.4f | %.4f |" % (name, eng, nd, ap, rc))
    lines += ["", "Rocchio relevance feedback on the residual collection: the first search's top 10 "
              "are judged (relevant: --positive, others: --negative), the query moves (`--strategy "
              "rocchio`, alpha 1, beta 0.75, gamma 0.15, at most 10 new terms), and both rankings "
              "are scored without those 10 documents (queries with a relevant one among them):", "",
              "| corpus | ranking | queries | nDCG@10 first | nDCG@10 Rocchio | MAP first | MAP Rocchio |",
              "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for name, r in q.items():
        for eng, f in r["feedback"].items():
            lines.append("| %s | %s | %d | %.4f | %.4f | %.4f | %.4f |" % (
                name, eng, f["queries"], f["first"][0], f["rocchio"][0], f["first"][1], f["rocchio"][1]))
    return lines + [""]


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


# Every fusion of BM25 with the built-in embedding, at depths 100 and 1000 (convex at its
# default weight, 0.5: no weight is tuned on these judgments).
EMBED_FUSIONS = {"%s@%d" % (f, d): ["--embed", "--exact", "--depth", str(d), "--fusion", f]
                 for d in (100, 1000)
                 for f in ("rrf", "convex", "dbsf", "combsum", "combmnz", "borda")}


def embedding_quality():
    """Retrieval quality of the built-in text embedding (GloVe 6B 100-d, SIF) alone and in
    an RRF hybrid with BM25, on the same collection and queries (test_text_quality's
    embedding_runs): {corpus: {method: (nDCG@10, MAP, recall@100)}}, or the reason it
    cannot run (no table: scripts/setup.sh makes it)."""
    from test_text_quality import embedding_runs, embedding_table_present, evaluate
    why = embedding_table_present()
    if why:
        return why
    out = {}
    for name in ("cranfield", "cisi"):
        docs, queries, qrels = load(name)
        work = tempfile.mkdtemp(prefix="hk-bench-embed-")
        try:
            runs, _ = embedding_runs(name, docs, queries, lambda *p: os.path.join(work, *p),
                                     EMBED_FUSIONS)
        finally:
            shutil.rmtree(work)
        out[name] = {m: evaluate(r, qrels) for m, r in runs.items()}
    return out


def embedding_lines(q):
    lines = ["## Built-in text embedding: GloVe 6B 100-d with SIF weights, alone and fused with BM25", ""]
    if isinstance(q, str):
        return lines + ["Not measured: %s" % q, ""]
    lines += ["Each corpus imported with `import --embed` (title + abstract); the same query text "
              "searched by BM25 (`--text`), by its embedding alone with exact cosine search "
              "(`--embed-only --exact`), and by both fused with RRF k = 60 over the top 1000 of "
              "each (`--embed --exact --depth 1000`); then by every fusion method at depths 100 "
              "and 1000 (`--fusion METHOD --depth D`; convex at its default weight 0.5).", "",
              "| corpus | method | nDCG@10 | MAP | recall@100 |", "| --- | --- | ---: | ---: | ---: |"]
    for name, r in q.items():
        for m in ("bm25", "vector", "hybrid") + tuple(EMBED_FUSIONS):
            lines.append("| %s | %s | %.4f | %.4f | %.4f |" % ((name, m) + tuple(r[m])))
    return lines + [""]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", choices=("all", "quality", "speed"), default="all")
    ap.add_argument("--scale", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--json")
    a = ap.parse_args()
    results, lines = {}, []
    if a.part in ("all", "quality"):
        results["quality"] = quality()
        lines += quality_lines(results["quality"])
        results["embedding"] = embedding_quality()
        lines += embedding_lines(results["embedding"])
    if a.part in ("all", "speed"):
        if not os.access(BIN, os.X_OK):
            sys.exit("build first: make build (%s is missing)" % BIN)
        speed = results["speed"] = {}
        for name in ("cranfield", "cisi"):
            base, queries, _ = load(name)
            step = max(i for i, _ in base) + 1
            docs = [(i + c * step, t) for c in range(a.scale) for i, t in base]
            work = tempfile.mkdtemp(prefix="hk-bench-text-")
            try:
                h = hektor(docs, list(queries.values()), a.rounds, a.k, work)
                x = xapian_speed(docs, list(queries.values()), a.rounds, a.k, work)
            finally:
                shutil.rmtree(work)
            s = fts5(docs, list(queries.values()), a.rounds, a.k)
            speed[name] = {"docs": len(docs), "queries": len(queries), "hektor": h, "fts5": s,
                           "xapian": x}
        lines += ["## Text search speed: HEKTOR BM25 beside SQLite %s FTS5 and Xapian" % sqlite3.sqlite_version, "",
                  "`/usr/bin/python3 bench/bench_text.py --scale %d --rounds %d --k %d`: each corpus "
                  "repeated %d times, every query %d times, top %d, one thread." % (
                      a.scale, a.rounds, a.k, a.scale, a.rounds, a.k), "",
                  "| corpus | engine | docs | index docs/s | index bytes | queries/s | p50 µs | p99 µs |",
                  "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for name, r in speed.items():
            h, s, x = r["hektor"], r["fts5"], r["xapian"]
            lines.append("| %s | HEKTOR | %d | %.0f | %d in memory, %d on disk | %.0f | %.0f | %.0f |" % (
                name, r["docs"], h["docs_per_s"], h["index_bytes"], h["disk_bytes"], h["qps"],
                h["p50_us"], h["p99_us"]))
            lines.append("| %s | FTS5 | %d | %.0f | %d (whole database) | %.0f | %.0f | %.0f |" % (
                name, r["docs"], s["docs_per_s"], s["db_bytes"], s["qps"], s["p50_us"], s["p99_us"]))
            if x:
                lines.append("| %s | Xapian | %d | %.0f | %d (database directory) | %.0f | %.0f | %.0f |" % (
                    name, r["docs"], x["docs_per_s"], x["db_bytes"], x["qps"], x["p50_us"], x["p99_us"]))
        lines += ["", "HEKTOR's indexing time includes the import's jsonl parsing and a checkpoint; "
                  "FTS5's is its INSERTs of already parsed rows; Xapian's its indexing and commit "
                  "to a database on disk. HEKTOR reopens the collection (reading the index from the "
                  "snapshot) in %s s for Cranfield." % (
                      "%.3f" % speed["cranfield"]["hektor"]["open_s"]), ""]
    text = "\n".join(lines)
    os.makedirs(os.path.join(ROOT, "build"), exist_ok=True)
    with open(os.path.join(ROOT, "build", "BENCHMARKS-text.md"), "w") as f:
        f.write(text)
    print(text)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
