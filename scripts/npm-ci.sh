#!/usr/bin/env bash
# Runs `npm ci` in DIR only when DIR/node_modules does not match DIR/package-lock.json yet
# (the lock file's SHA-256 is recorded in node_modules/.hektor-lock-sha256 after a good run).
# Used by setup.sh (tests/js) and studio.sh (studio/). Never downloads a browser.
#   scripts/npm-ci.sh DIR
set -euo pipefail
DIR="$(cd "${1:?usage: scripts/npm-ci.sh DIR}" && pwd)"
NAME="${DIR#"$(cd "$(dirname "$0")/.." && pwd)/"}"
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
want="$(sha256sum "$DIR/package-lock.json" | cut -d' ' -f1)"
have="$(cat "$DIR/node_modules/.hektor-lock-sha256" 2>/dev/null || true)"
if [ "$want" = "$have" ]; then
  echo "npm: $NAME/node_modules is current"
else
  echo "npm: npm ci in $NAME"
  (cd "$DIR" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" > "$DIR/node_modules/.hektor-lock-sha256"
fi
