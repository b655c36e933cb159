#!/bin/sh
# Runs client_test.mjs under CTest: skips (exit 77) only when node is absent; fails with
# the fix when the client package is not installed.
cd "$(dirname "$0")" || exit 1
if ! command -v node >/dev/null 2>&1; then
  echo "SKIP: node is not installed, so the Qdrant JavaScript client test cannot run"
  exit 77
fi
if [ ! -d node_modules/@qdrant/js-client-rest ]; then
  echo "tests/js/node_modules is missing: run 'bash scripts/setup.sh' (it runs npm ci there)"
  exit 1
fi
exec node client_test.mjs
