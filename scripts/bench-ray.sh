#!/usr/bin/env bash
# `make bench-ray`: ingestion on Ray (`semantik.ray`) against in-process ingestion, on the same
# documents of the Python docs, the module a release build: 2 Ray actors of 1 thread each
# against 1 process of 2 threads, and the single writer's import rate against one actor's
# embedding rate. Ends with one JSON line.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.cache/py-bench-venv
[ -x "$venv/bin/maturin" ] || { python3 -m venv "$venv"; "$venv/bin/pip" install -q "maturin>=1.7,<2" numpy; }
"$venv/bin/python" -c "import ray.data" 2>/dev/null || "$venv/bin/pip" install -q "ray[data]==2.60.0" "pyarrow==26.0.1"
VIRTUAL_ENV="$PWD/$venv" PATH="$PWD/$venv/bin:$PATH" "$venv/bin/maturin" develop -q --release -m semantik-py/Cargo.toml
HF_HUB_OFFLINE=1 "$venv/bin/python" benches/ray_ingest.py ../shared/eval/pyfaq/corpus.jsonl "${DOCS:-1200}"
