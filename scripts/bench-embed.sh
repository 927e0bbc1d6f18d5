#!/usr/bin/env bash
# `make bench-embed`: semantik's embedding throughput side by side with sentence-transformers
# (torch, CPU, 2 threads, batch 32) and stock candle, on the same 1,024 Python-docs passages;
# all-MiniLM-L6-v2 at float32, float16 and int8 (speed, cosine to float32, nDCG@10 on pyfaq);
# and two random-weight models shaped like Qwen3-Embedding-0.6B and multilingual-e5-base
# (scripts/make-bench-models.py) on a subset of the passages. Ends with one JSON line.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=.cache
passages=$(scripts/bench-passages.sh)
venv="$cache/bench-venv"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import sentence_transformers, transformers" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "sentence-transformers==6.2.0" "torch==2.15.0" \
    "transformers==5.23.0" numpy
fi
models="$cache/bench-models"
"$venv/bin/python" scripts/make-bench-models.py "$models" >&2
model_dir="${SEMANTIK_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/semantik}/models/sentence-transformers/all-MiniLM-L6-v2"
cargo build -q --release -p semantik-core --bench embed
bin=$(ls -t target/release/deps/embed-* | grep -v '\.d$' | head -1)
export RAYON_NUM_THREADS=2
st() { HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 "$venv/bin/python" benches/embed_st.py "$@"; }
native=$("$bin" native "$passages")
f16=$("$bin" native "$passages" --precision float16)
int8=$("$bin" native "$passages" --precision int8)
f16_cos=$("$bin" cosine "$passages" --precision float16)
int8_cos=$("$bin" cosine "$passages" --precision int8)
stock=$("$bin" stock "$passages")
query=$("$bin" query "$passages")
st_minilm=$(st "$model_dir" "$passages" 2)
qwen3=$("$bin" native "$passages" --model "$models/qwen3-0.6b-shape" --limit 24)
st_qwen3=$(st "$models/qwen3-0.6b-shape" "$passages" 2 24)
xlmr=$("$bin" native "$passages" --model "$models/xlm-r-base-shape" --limit 128)
st_xlmr=$(st "$models/xlm-r-base-shape" "$passages" 2 128)
# Retrieval quality of int8 against float32 (pyfaq, the default mode and semantic).
eval32=$(scripts/eval.sh ../shared/eval/pyfaq | tail -n 1)
eval8=$(EVAL_PRECISION=int8 scripts/eval.sh ../shared/eval/pyfaq | tail -n 1)
for line in "native: $native" "float16: $f16" "int8: $int8" "float16 cosine: $f16_cos" \
  "int8 cosine: $int8_cos" "stock candle: $stock" "query: $query" "sentence-transformers: $st_minilm" \
  "qwen3 shape: $qwen3" "sentence-transformers qwen3 shape: $st_qwen3" "xlm-r shape: $xlmr" \
  "sentence-transformers xlm-r shape: $st_xlmr" "eval float32: $eval32" "eval int8: $eval8"; do
  echo "$line"
done
python3 - "$native" "$stock" "$query" "$st_minilm" "$f16" "$int8" "$f16_cos" "$int8_cos" \
  "$qwen3" "$st_qwen3" "$xlmr" "$st_xlmr" "$eval32" "$eval8" <<'PY'
import json, sys
(native, stock, query, st, f16, int8, f16_cos, int8_cos, qwen3, st_qwen3, xlmr, st_xlmr,
 eval32, eval8) = (json.loads(a) for a in sys.argv[1:])
tps = lambda r: r["tokens_per_s"]
print(json.dumps({
    "semantik_tokens_per_s": round(tps(native), 1),
    "semantik_passages_per_s": round(native["passages_per_s"], 2),
    "st_tokens_per_s": round(tps(st), 1),
    "ratio": round(tps(native) / tps(st), 3),
    "stock_candle_tokens_per_s": round(tps(stock), 1),
    "stock_ratio": round(tps(stock) / tps(st), 3),
    "query_p50_ms": round(query["query_p50_ms"], 3),
    "query_p99_ms": round(query["query_p99_ms"], 3),
    "peak_rss_mb": round(native["peak_rss_mb"], 1),
    "st_peak_rss_mb": round(st["peak_rss_mb"], 1),
    "passages": native["passages"],
    "tokens": native["tokens"],
    "threads": 2,
    "float16_tokens_per_s": round(tps(f16), 1),
    "float16_min_cosine": round(f16_cos["min_cosine"], 6),
    "float16_weight_mb": round(f16_cos["weight_mb"], 1),
    "int8_tokens_per_s": round(tps(int8), 1),
    "int8_ratio": round(tps(int8) / tps(st), 3),
    "int8_vs_float32": round(tps(int8) / tps(native), 3),
    "int8_min_cosine": round(int8_cos["min_cosine"], 6),
    "int8_mean_cosine": round(int8_cos["mean_cosine"], 6),
    "int8_weight_mb": round(int8_cos["weight_mb"], 1),
    "float32_weight_mb": round(int8_cos["float32_weight_mb"], 1),
    "int8_ndcg10_delta": round(eval8["ndcg10"]["semantic"] - eval32["ndcg10"]["semantic"], 4),
    "int8_ndcg10_delta_hybrid": round(eval8["ndcg10"]["hybrid"] - eval32["ndcg10"]["hybrid"], 4),
    "qwen3_shape_tokens_per_s": round(tps(qwen3), 1),
    "qwen3_shape_st_tokens_per_s": round(tps(st_qwen3), 1),
    "qwen3_shape_ratio": round(tps(qwen3) / tps(st_qwen3), 3),
    "xlmr_shape_tokens_per_s": round(tps(xlmr), 1),
    "xlmr_shape_st_tokens_per_s": round(tps(st_xlmr), 1),
    "xlmr_shape_ratio": round(tps(xlmr) / tps(st_xlmr), 3),
}))
PY
