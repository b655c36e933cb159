#!/usr/bin/env bash
# Quick start, main job: install what is missing, build, run the demo (a collection built
# from ../shared/data/ann bigann10k, searched against its ground truth, and Cranfield's
# abstracts with text and the built-in embedding, searched by BM25, embedding and both),
# then serve that database over HTTP (Qdrant-compatible REST, docs/SERVER.md) until Ctrl-C.
#   HEKTOR_PORT   port to serve on (default 6333; 0 picks a free one)
#   HEKTOR_SERVE  set to 0 to stop after the demo
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
make build
DB=${1:-demo-data}
bash scripts/demo.sh "$DB"
if [ "${HEKTOR_SERVE:-1}" != 0 ]; then
  echo "== serving $DB over HTTP until Ctrl-C (the URL follows; try curl URL/collections)"
  exec build/hektor --db "$DB" serve --port "${HEKTOR_PORT:-6333}"
fi
