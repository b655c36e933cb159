#!/usr/bin/env bash
# Runs every libFuzzer target built in BUILD_DIR for SECONDS each, starting from the
# seed corpus in tests/fuzz/corpus/<target>/ when there is one. A crash, leak or
# sanitizer report fails the run and prints the fuzzer's log tail.
set -uo pipefail
BUILD=${1:-build-fuzz}
SECONDS_EACH=${2:-20}
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
status=0
n=0
for bin in "$BUILD"/fuzz_*; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin")
  corpus="$WORK/$name"
  mkdir -p "$corpus"
  if [ -d "$HERE/corpus/$name" ]; then cp -r "$HERE/corpus/$name/." "$corpus/"; fi
  log="$WORK/$name.log"
  if "$bin" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
       -artifact_prefix="$WORK/$name-" "$corpus" >"$log" 2>&1; then
    runs=$(grep -o 'Done [0-9]* runs' "$log" | tail -1)
    echo "fuzz: $name ok (${runs:-no summary})"
  else
    echo "fuzz: $name FAILED"
    tail -40 "$log"
    status=1
  fi
  n=$((n + 1))
done
if [ "$n" -eq 0 ]; then
  echo "fuzz: no fuzz targets found in $BUILD" >&2
  exit 1
fi
exit $status
