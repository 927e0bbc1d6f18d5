#!/usr/bin/env bash
# The data of `make bench-index` and `make bench-server`, made once into .cache/bench-index:
# 100,000 real MiniLM embeddings of Python-docs and standard-library sentences (`base.f32`, their
# texts in `sentences.jsonl`), 1,000 held-out queries (`queries.f32`) and their exact top-10
# (`gt.i32`). Prints the folder. Makes the bench venv ($1) with numpy and hnswlib if needed.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="$1"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import hnswlib, numpy" 2>/dev/null; then
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check numpy "hnswlib==0.8.0" >&2
fi
cache=.cache
data="$cache/bench-index"
scripts/fetch-python-docs.sh "$cache/python-docs" >/dev/null
scripts/fetch-model.sh >/dev/null
cargo build -q --release -p semantik-core --bench index
bin=$(ls -t target/release/deps/index-* | grep -v '\.d$' | grep -v '\.txt$' | head -1)
mkdir -p "$data"
if [ ! -f "$data/gt.i32" ]; then
  python3 benches/make_passages.py "$cache/python-docs/usr/share/doc/python3.11/html/_sources" \
    "$data/sentences.jsonl" 101000 --sentences >&2
  "$bin" data "$data/sentences.jsonl" "$data" >&2
  "$venv/bin/python" benches/index_hnswlib.py gt "$data" >&2
fi
echo "$data"
