#!/usr/bin/env bash
# `make fuzz`: runs every cargo-fuzz target (libFuzzer, AddressSanitizer) for FUZZ_SECONDS
# each (default 60), seeded from the real test files (tests/fixtures and `make testdata`),
# and ends with one JSON line: per target its executions, corpus size and crashes.
# Installs the nightly toolchain and cargo-fuzz when missing. A crash, timeout or
# out-of-memory input is kept in fuzz/artifacts/TARGET/ and fails the run.
# Usage: scripts/fuzz.sh [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-60}
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(sed -n 's/^name = "\(.*\)"/\1/p' fuzz/Cargo.toml | tail -n +2)
cargo +nightly fuzz build
seeds=target/fuzz-seeds
rm -rf "$seeds"
add() { # add TARGET [find args...]: files under tests/fixtures and .cache/testdata
  local t=$1
  shift
  mkdir -p "$seeds/$t"
  (find -L tests/fixtures .cache/testdata -type f "$@" 2>/dev/null || true) | head -n 200 |
    while read -r f; do cp "$f" "$seeds/$t/$(echo "$f" | tr '/' '_' | sed 's/^\.*//')"; done
}
# PDFs: small seeds only (fuzz/seeds/extract_pdf, from scripts/make-pdf-seeds.py: hand-written
# structures and pages cut from real manuals, plus the small malformed fixtures). Real PDFs of
# hundreds of KB took the whole run to load under AddressSanitizer and were never mutated;
# they stay as extractor tests.
add extract_pdf -name '*.pdf' -size -16k
cp fuzz/seeds/extract_pdf/*.pdf "$seeds/extract_pdf/"
add extract_docx -name '*.docx'
add extract_html -name '*.html' -size -200k
add extract_markdown \( -name '*.md' -o -name '*.rst*' \)
add extract_email -name '*.eml'
add extract_text \( -name '*.txt' -o -name '*.rst' \)
mkdir -p "$seeds/query" "$seeds/config" "$seeds/c_api"
printf '\x03how do I sort a list' > "$seeds/query/1"
printf '\x45lang\ten' > "$seeds/query/2"
printf '\x91\xce\x95\xce\xbb\xce\xbb\xce\xb7\xce\xbd\xce\xb9\xce\xba\xce\xac' > "$seeds/query/3"
printf '\x00{"name":"c","model":"semantik-test/hash-8","chunking":{"unit":"characters","max_size":50,"overlap":5}}' > "$seeds/config/1"
printf '\x01{"unit":"characters","max_size":12,"overlap":3}' > "$seeds/config/2"
printf '\x02{"language":"greek","k1":1.2,"b":0.75}' > "$seeds/config/3"
printf '\x03{"metric":"l2","exact_threshold":2,"m":4}' > "$seeds/config/4"
printf '\x04{"recursive":true,"include":["*.md"],"symlinks":"follow","max_file_size":10}' > "$seeds/config/5"
printf '\x05{"mode":"hybrid","limit":3,"fusion":{"rrf":{"k":20}},"filter":{"lang":"en","n":{"min":1}}}' > "$seeds/config/6"
printf '\x05{"filter":{"source_under":"/d","media_type":["text/plain"],"metadata_eq":{"n":2}},"exact":true}' > "$seeds/config/7"
printf '\x06{"model_precision":"int8","chunking":{"unit":"characters","max_size":40}}' > "$seeds/config/8"
head -c 512 /dev/urandom > "$seeds/c_api/1"
printf '\x01\x01\x00\x03\x01\x02\x02\x01\x01\x05\x03\x01\x03\x02\x00\x00\x01\x02' > "$seeds/c_api/2"
log=$(mktemp -d)
summary=()
status=0
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t"
  extra=()
  # Documents may be large; the other inputs are short (and slow when long). A PDF input is
  # at most 16 KB and 10 s (a slower one is a hang worth keeping).
  timeout=30
  case $t in
    extract_pdf) extra+=(-max_len=16384); timeout=10 ;;
    extract_docx|extract_email) ;;
    *) extra+=(-max_len=16384) ;;
  esac
  # The C API target keeps a database and background operations across inputs: leak checks
  # per input would report them.
  [ "$t" = c_api ] && extra+=(-detect_leaks=0)
  set +e
  cargo +nightly fuzz run "$t" "fuzz/corpus/$t" "$seeds/$t" -- \
    -max_total_time="$seconds" -timeout="$timeout" -rss_limit_mb=4096 -print_final_stats=1 "${extra[@]}" \
    >"$log/$t" 2>&1
  rc=$?
  set -e
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log/$t" | tail -1)
  crashes=$(find "fuzz/artifacts/$t" -type f \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' -o -name 'leak-*' \) -newer "$log" 2>/dev/null | wc -l)
  [ "$rc" -ne 0 ] && [ "$crashes" -eq 0 ] && crashes=1
  corpus=$(find "fuzz/corpus/$t" -type f | wc -l)
  seeded=$(find "$seeds/$t" -type f | wc -l)
  echo "fuzz $t: ${runs:-0} executions, corpus $corpus, crashes $crashes (exit $rc)" >&2
  [ "$crashes" -eq 0 ] || { status=1; tail -40 "$log/$t" >&2; }
  # A target that never got past loading its inputs (seeds and the corpus kept from earlier
  # runs; libFuzzer's INITED line counts them) did not fuzz: that fails the run too.
  loaded=$(sed -n 's/^#\([0-9]*\)[[:space:]]*INITED.*/\1/p' "$log/$t" | head -1)
  mutated=$(( ${runs:-0} - ${loaded:-${runs:-0}} ))
  if [ "$corpus" -eq 0 ] || [ "$mutated" -le 0 ]; then
    echo "fuzz $t: did not fuzz ($seeded seeds, ${loaded:-no} inputs loaded, ${runs:-0} executions, corpus $corpus)" >&2
    status=1
  fi
  summary+=("{\"target\": \"$t\", \"executions\": ${runs:-0}, \"corpus\": $corpus, \"crashes\": $crashes}")
done
total_runs=0; total_crashes=0
for s in "${summary[@]}"; do
  total_runs=$((total_runs + $(echo "$s" | sed 's/.*"executions": \([0-9]*\).*/\1/')))
  total_crashes=$((total_crashes + $(echo "$s" | sed 's/.*"crashes": \([0-9]*\).*/\1/')))
done
echo "{\"seconds_per_target\": $seconds, \"targets\": [$(IFS=,; echo "${summary[*]}" | sed 's/},{/}, {/g')], \"executions\": $total_runs, \"crashes\": $total_crashes}"
exit $status
