#!/usr/bin/env bash
# The demo: imports bigann10k (10,000 SIFT vectors, 128-d) into a fresh database and
# answers its 100 queries through the HNSW index and exactly, checking recall against the
# published ground truth; then loads Cranfield's abstracts with text and the built-in
# embedding and runs one of its queries by BM25, by embedding and hybrid.
set -euo pipefail
cd "$(dirname "$0")/.."
HEKTOR=${HEKTOR:-build/hektor}
DATA=${HK_SHARED_DATA:-../shared/data}/ann
DB=${1:-demo-data}
if [ ! -f "$DATA/bigann10k_base.bvecs" ]; then
  echo "demo: $DATA/bigann10k_base.bvecs not found (the shared data directory must sit beside the checkout)" >&2
  exit 1
fi
rm -rf "$DB"
echo "== creating collection 'bigann' in $DB"
"$HEKTOR" --db "$DB" create bigann --dim 128 --metric l2 --index hnsw
echo "== importing $DATA/bigann10k_base.bvecs"
"$HEKTOR" --db "$DB" import bigann "$DATA/bigann10k_base.bvecs"
"$HEKTOR" --db "$DB" info bigann
"$HEKTOR" --db "$DB" verify bigann
echo "== 100 queries through the HNSW graph (default ef 64), k=10, recall against the ground truth"
"$HEKTOR" --db "$DB" search bigann --queries "$DATA/bigann10k_query.bvecs" --k 10 \
  --truth "$DATA/bigann10k_groundtruth.ivecs"
echo "== the same with --ef 256"
"$HEKTOR" --db "$DB" search bigann --queries "$DATA/bigann10k_query.bvecs" --k 10 --ef 256 \
  --truth "$DATA/bigann10k_groundtruth.ivecs"
echo "== 100 queries, exact search, k=100, recall against the ground truth"
"$HEKTOR" --db "$DB" search bigann --queries "$DATA/bigann10k_query.bvecs" --k 100 --exact \
  --truth "$DATA/bigann10k_groundtruth.ivecs"
echo "== one query with its nearest 5 ids and distances"
first=$("$HEKTOR" --db "$DB" get bigann 0 | sed -e 's/.*"vector":\[\([^]]*\)\].*/\1/')
"$HEKTOR" --db "$DB" search bigann --vector "$first" --k 5

# Text: Cranfield's 1,400 aerodynamics abstracts (title + abstract as text, title and
# author as payload), searched by BM25, by the built-in embedding (GloVe/SIF, made by
# scripts/setup.sh) and by both fused with RRF. Without the embedding table the
# collection holds text only.
CRAN=${HK_SHARED_DATA:-../shared/data}/ir/cranfield/cran.all.1400
if [ -f "$CRAN" ]; then
  JSONL=$(mktemp --suffix=.jsonl)
  trap 'rm -f "$JSONL"' EXIT
  awk '
    function flush() {
      if (id == "") return
      gsub(/[\\"]/, "", title); gsub(/[\\"]/, "", body); gsub(/[\\"]/, "", author)
      gsub(/  +/, " ", title); gsub(/  +/, " ", body)
      printf "{\"id\": %d, \"text\": \"%s %s\", \"payload\": {\"title\": \"%s\", \"author\": \"%s\"}}\n", id, title, body, title, author
    }
    { sub(/\r$/, "") }
    /^\.I / { flush(); id = $2; title = body = author = ""; field = ""; next }
    /^\.[A-Z]$/ { field = substr($0, 2, 1); next }
    field == "T" { title = title (title == "" ? "" : " ") $0 }
    field == "A" { author = author (author == "" ? "" : " ") $0 }
    field == "W" { body = body (body == "" ? "" : " ") $0 }
    END { flush() }' "$CRAN" > "$JSONL"
  Q="what similarity laws must be obeyed when constructing aeroelastic models of heated high speed aircraft"
  if "$HEKTOR" embeddings info >/dev/null 2>&1; then
    echo "== text: Cranfield abstracts with the built-in embedding (import --embed: GloVe 6B 100-d, SIF)"
    "$HEKTOR" --db "$DB" import cranfield "$JSONL" --embed --skip-unembeddable --quiet
    "$HEKTOR" --db "$DB" info cranfield
    echo "== Cranfield query 1 by BM25: $Q"
    "$HEKTOR" --db "$DB" search cranfield --text "$Q" --k 5 --with-payload
    echo "== the same by its embedding alone (--embed-only)"
    "$HEKTOR" --db "$DB" search cranfield --text "$Q" --embed-only --k 5 --with-payload
    echo "== both, fused by RRF (--embed); the judged answers to query 1 are 184, 29, 31, 12, 51, 102, 13, 14, 15, 57, 378, 859, 185, 30, 37, 52, 142, 195, 875, 56, 66, 95, 462, 497, 858, 876, 879, 880, 486"
    "$HEKTOR" --db "$DB" search cranfield --text "$Q" --embed --k 5 --with-payload
  else
    echo "== text: Cranfield abstracts, text only (no embedding table: scripts/setup.sh makes it with npm)"
    "$HEKTOR" --db "$DB" create cranfield --text-only
    "$HEKTOR" --db "$DB" import cranfield "$JSONL" --quiet
    echo "== Cranfield query 1 by BM25: $Q"
    "$HEKTOR" --db "$DB" search cranfield --text "$Q" --k 5 --with-payload
  fi
fi
echo "== done: the database is in $DB (try: build/hektor --db $DB --help)"
