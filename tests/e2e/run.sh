#!/bin/sh
# Runs the Studio's tests under CTest: `run.sh unit` (Vitest) or `run.sh e2e` (headless
# Chromium against hektor serve, studio/e2e/run.mjs). Skips (exit 77) when node, or for
# e2e Debian's chromium, is missing; fails with the fix when studio/node_modules is absent.
# The e2e run rebuilds studio/dist first when a source is newer than it.
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT/studio" || exit 1
if ! command -v node >/dev/null 2>&1; then
  echo "SKIP: node is not installed, so the Studio's tests cannot run"
  exit 77
fi
if [ ! -d node_modules/vitest ] || [ ! -d node_modules/playwright-core ]; then
  echo "studio/node_modules is missing: run 'bash scripts/setup.sh' (it runs npm ci there)"
  exit 1
fi
case "$1" in
  unit)
    exec node node_modules/vitest/vitest.mjs run
    ;;
  e2e)
    if [ ! -x "${HK_CHROMIUM:-/usr/bin/chromium}" ]; then
      echo "SKIP: ${HK_CHROMIUM:-/usr/bin/chromium} is missing (apt-get install chromium), so the Studio's browser tests cannot run"
      exit 77
    fi
    bash "$ROOT/scripts/studio.sh" build || exit 1
    exec node e2e/run.mjs
    ;;
  *)
    echo "usage: tests/e2e/run.sh unit|e2e" >&2
    exit 2
    ;;
esac
