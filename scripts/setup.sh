#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks to build, test and benchmark HEKTOR.
# Idempotent: it asks apt-get only for packages that are not installed yet, and does
# nothing at all when everything is there. Run as root (or with sudo available).
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config    # compiler and build
  clang libclang-rt-14-dev            # libFuzzer targets and their runtime
  libroaring-dev                      # CRoaring: id sets for filters
  libopenblas-dev libopenblas-pthread-dev  # BLAS: batched exact search
  libutf8proc-dev libstemmer-dev      # text analysis: Unicode normalization, Snowball stemmers
  libcmocka-dev                       # unit tests
  libmicrohttpd-dev                   # HTTP server (hektor serve)
  python3 python3-numpy               # integration tests (reference computations)
  python3-faiss python3-hnswlib       # benchmark peers
  wrk                                 # HTTP load generator (bench/bench_server.py)
  chromium                            # the Studio's browser tests (playwright-core drives it)
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages are installed"
else
  echo "setup: installing ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Node.js and npm for the JavaScript client test (Debian 12's nodejs 18 will do; a newer
# Node.js already on the machine, from any package, is left alone).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "setup: installing nodejs npm"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends nodejs npm
fi

# The Qdrant JavaScript client for tests/js (needs node; the test skips without it).
# npm ci runs only when node_modules does not match package-lock.json yet.
JS_DIR="$(cd "$(dirname "$0")/.." && pwd)/tests/js"
if command -v npm >/dev/null 2>&1; then
  want="$(sha256sum "$JS_DIR/package-lock.json" | cut -d' ' -f1)"
  have="$(cat "$JS_DIR/node_modules/.hektor-lock-sha256" 2>/dev/null || true)"
  if [ "$want" = "$have" ]; then
    echo "setup: tests/js/node_modules is current"
  else
    echo "setup: npm ci in tests/js"
    (cd "$JS_DIR" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" > "$JS_DIR/node_modules/.hektor-lock-sha256"
  fi
else
  echo "setup: npm is not installed; the JavaScript client test will be skipped"
fi

# The Studio (studio/): npm ci when package-lock.json changed, and the build that
# `hektor serve` serves under /studio/ when studio/dist is missing or older than a source.
if command -v npm >/dev/null 2>&1; then
  bash "$(dirname "$0")/studio.sh" deps
  bash "$(dirname "$0")/studio.sh" build
else
  echo "setup: npm is not installed; the Studio is not built and its tests will be skipped"
fi
