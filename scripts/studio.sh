#!/usr/bin/env bash
# Keeps the Studio's dependencies and build current; used by setup.sh and the Studio tests.
#   scripts/studio.sh deps    npm ci in studio/ when node_modules does not match package-lock.json
#   scripts/studio.sh build   npm run build when studio/dist is missing or older than a source
# Never downloads a browser (PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1): the tests use Debian's chromium.
set -euo pipefail
STUDIO="$(cd "$(dirname "$0")/.." && pwd)/studio"
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

deps() {
  bash "$(dirname "$0")/npm-ci.sh" "$STUDIO"
}

build() {
  local stamp="$STUDIO/dist/index.html"
  if [ -f "$stamp" ] && [ -z "$(find "$STUDIO/src" "$STUDIO/index.html" "$STUDIO/vite.config.ts" \
        "$STUDIO/package-lock.json" -newer "$stamp" -print -quit)" ]; then
    echo "studio: dist is current"
  else
    echo "studio: npm run build"
    (cd "$STUDIO" && npm run build --silent)
  fi
}

case "${1:-}" in
  deps) deps ;;
  build) build ;;
  *) echo "usage: scripts/studio.sh deps|build" >&2; exit 2 ;;
esac
