#!/usr/bin/env bash
# The demo: imports bigann10k (10,000 SIFT vectors, 128-d) into a fresh database and
# answers its 100 queries through the HNSW index and exactly, checking recall against the
# published ground truth.
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
echo "== done: the database is in $DB (try: build/hektor --db $DB --help)"
