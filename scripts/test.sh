#!/usr/bin/env bash
# Quick start, every test: install what is missing, build, run the unit and integration
# tests, the same suite under AddressSanitizer + UndefinedBehaviorSanitizer, and every
# libFuzzer target for a short time.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
make check
