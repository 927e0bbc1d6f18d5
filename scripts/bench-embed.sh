#!/usr/bin/env bash
# `make bench-embed`: semantik's embedding throughput side by side with sentence-transformers
# (torch, CPU, 2 threads, batch 32) and stock candle, on the same 1,024 Python-docs passages.
# Ends with one JSON line.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=.cache
passages=$(scripts/bench-passages.sh)
venv="$cache/bench-venv"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import sentence_transformers" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "sentence-transformers==6.2.0" "torch==2.15.0" numpy
fi
model_dir="${SEMANTIK_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/semantik}/models/sentence-transformers/all-MiniLM-L6-v2"
cargo build -q --release -p semantik-core --bench embed
bin=$(ls -t target/release/deps/embed-* | grep -v '\.d$' | head -1)
export RAYON_NUM_THREADS=2
native=$("$bin" native "$passages")
stock=$("$bin" stock "$passages")
query=$("$bin" query "$passages")
st=$(HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 "$venv/bin/python" benches/embed_st.py "$model_dir" "$passages" 2)
echo "native: $native"
echo "stock candle: $stock"
echo "query: $query"
echo "sentence-transformers: $st"
python3 - "$native" "$stock" "$query" "$st" <<'PY'
import json, sys
native, stock, query, st = (json.loads(a) for a in sys.argv[1:])
print(json.dumps({
    "semantik_tokens_per_s": round(native["tokens_per_s"], 1),
    "semantik_passages_per_s": round(native["passages_per_s"], 2),
    "st_tokens_per_s": round(st["tokens_per_s"], 1),
    "ratio": round(native["tokens_per_s"] / st["tokens_per_s"], 3),
    "stock_candle_tokens_per_s": round(stock["tokens_per_s"], 1),
    "stock_ratio": round(stock["tokens_per_s"] / st["tokens_per_s"], 3),
    "query_p50_ms": round(query["query_p50_ms"], 3),
    "query_p99_ms": round(query["query_p99_ms"], 3),
    "peak_rss_mb": round(native["peak_rss_mb"], 1),
    "st_peak_rss_mb": round(st["peak_rss_mb"], 1),
    "passages": native["passages"],
    "tokens": native["tokens"],
    "threads": 2,
}))
PY
