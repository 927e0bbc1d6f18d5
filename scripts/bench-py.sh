#!/usr/bin/env bash
# `make bench-py`: the Python module's overhead. Embedding throughput through
# `semantik.Embedder` against the Rust pipeline (the `embed native` bench), and
# `search_by_vector` latency from Python against the same call in Rust, on the same 1,024
# passages, both release builds, 2 threads. Ends with one JSON line.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=.cache
passages=$(scripts/bench-passages.sh)
venv="$cache/py-bench-venv"
[ -x "$venv/bin/maturin" ] || { python3 -m venv "$venv"; "$venv/bin/pip" install -q "maturin>=1.7,<2" numpy; }
VIRTUAL_ENV="$PWD/$venv" PATH="$PWD/$venv/bin:$PATH" "$venv/bin/maturin" develop -q --release -m semantik-py/Cargo.toml
cargo build -q --release -p semantik-core --bench embed
bin=$(ls -t target/release/deps/embed-* | grep -v '\.d$' | head -1)
export RAYON_NUM_THREADS=2
rust_embed=$("$bin" native "$passages")
rust_search=$("$bin" vector-search "$passages")
py=$("$venv/bin/python" benches/py_overhead.py "$passages")
echo "rust embed: $rust_embed"
echo "rust search: $rust_search"
echo "python: $py"
python3 - "$rust_embed" "$rust_search" "$py" <<'PY'
import json, sys
embed, search, py = (json.loads(a) for a in sys.argv[1:])
print(json.dumps({
    "rust_passages_per_s": round(embed["passages_per_s"], 2),
    "python_passages_per_s": round(py["passages_per_s"], 2),
    "embed_ratio": round(py["passages_per_s"] / embed["passages_per_s"], 3),
    "rust_search_p50_us": round(search["p50_us"], 1),
    "python_search_p50_us": round(py["p50_us"], 1),
    "search_overhead_us": round(py["p50_us"] - search["p50_us"], 1),
    "rust_search_p99_us": round(search["p99_us"], 1),
    "python_search_p99_us": round(py["p99_us"], 1),
}))
PY
