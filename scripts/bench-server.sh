#!/usr/bin/env bash
# `make bench-server`: semantik's server side by side with Chroma's (`chroma run`, chromadb 1.5.9
# from PyPI) on the 100,000 real vectors of `make bench-index`, over loopback through each one's
# HTTP API, driven by the same Rust client. Ends with one JSON line (see benches/server_bench.py).
set -euo pipefail
cd "$(dirname "$0")/.."
cache=.cache
venv="$cache/bench-venv"
# Chroma in a venv of its own (its dependencies are many and pinned).
chroma="$cache/chroma-venv"
if [ ! -x "$chroma/bin/python" ] || ! "$chroma/bin/python" -c "import chromadb, httpx, numpy" 2>/dev/null; then
  [ -x "$chroma/bin/python" ] || python3 -m venv "$chroma"
  "$chroma/bin/pip" install -q --disable-pip-version-check "chromadb==1.5.9" numpy httpx
fi
data=$(scripts/index-data.sh "$venv")
cargo build -q --release -p semantik-cli
cargo build -q --release -p semantik-server --bench server_load
load=$(ls -t target/release/deps/server_load-* | grep -v '\.d$' | head -1)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$chroma/bin/python" benches/server_bench.py target/release/semantik "$load" "$data" "$work" "${BENCH_SECONDS:-30}"
