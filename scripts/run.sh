#!/usr/bin/env bash
# Quick start, main job: install what is missing, build, and run the demo (a collection
# built from ../shared/data/ann bigann10k, searched against its ground truth).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
make build
bash scripts/demo.sh "$@"
