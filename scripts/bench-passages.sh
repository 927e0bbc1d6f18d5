#!/usr/bin/env bash
# Prints the path of the benchmarks' 1,024 Python-docs passages (JSON lines), fetching the
# docs and the model and making the file if needed. Shared by bench-embed and bench-py.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=.cache
scripts/fetch-python-docs.sh "$cache/python-docs" >/dev/null
scripts/fetch-model.sh >/dev/null
passages="$cache/bench/passages.jsonl"
mkdir -p "$cache/bench"
[ -f "$passages" ] || python3 benches/make_passages.py "$cache/python-docs/usr/share/doc/python3.11/html/_sources" "$passages" >&2
echo "$passages"
