#!/usr/bin/env bash
# `make bench-index`: semantik's vector index side by side with hnswlib (M=16, ef_construction=200)
# on 100,000 real MiniLM embeddings of Python-docs and standard-library sentences, 1,000 held-out
# queries with exact top-10 ground truth. Ends with one JSON line.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=.cache
data="$cache/bench-index"
scripts/fetch-python-docs.sh "$cache/python-docs" >/dev/null
scripts/fetch-model.sh >/dev/null
venv="$cache/bench-venv"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import hnswlib, numpy" 2>/dev/null; then
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check numpy "hnswlib==0.8.0"
fi
cargo build -q --release -p semantik-core --bench index
bin=$(ls -t target/release/deps/index-* | grep -v '\.d$' | grep -v '\.txt$' | head -1)
export RAYON_NUM_THREADS=2
mkdir -p "$data"
if [ ! -f "$data/gt.i32" ]; then
  python3 benches/make_passages.py "$cache/python-docs/usr/share/doc/python3.11/html/_sources" \
    "$data/sentences.jsonl" 101000 --sentences
  "$bin" data "$data/sentences.jsonl" "$data"
  "$venv/bin/python" benches/index_hnswlib.py gt "$data"
fi
ours=$("$bin" run "$data")
theirs=$("$venv/bin/python" benches/index_hnswlib.py run "$data")
db=$("$bin" db "$data")
echo "semantik: $ours"
echo "hnswlib: $theirs"
echo "semantik database: $db"
python3 - "$ours" "$theirs" "$db" <<'PY'
import json, sys
ours, theirs, db = (json.loads(a) for a in sys.argv[1:])

def at(run, target, key="qps_1t"):
    """QPS (and ef, recall) at the smallest ef of the sweep reaching `target` recall."""
    for s in run["sweep"]:
        if s["recall"] >= target:
            return s
    return None

print("| ef | semantik recall | semantik QPS 1t / 2t | hnswlib recall | hnswlib QPS 1t / 2t |")
print("|---|---|---|---|---|")
for a, b in zip(ours["sweep"], theirs["sweep"]):
    print(f"| {a['ef']} | {a['recall']:.4f} | {a['qps_1t']:.0f} / {a['qps_2t']:.0f} "
          f"| {b['recall']:.4f} | {b['qps_1t']:.0f} / {b['qps_2t']:.0f} |")
result = {}
for target, name in ((0.95, "0_95"), (0.99, "0_99")):
    a, b = at(ours, target), at(theirs, target)
    result[f"qps_ratio_at_{name}"] = round(a["qps_1t"] / b["qps_1t"], 3) if a and b else None
    result[f"qps_ratio_2t_at_{name}"] = round(a["qps_2t"] / b["qps_2t"], 3) if a and b else None
    result[f"semantik_ef_at_{name}"] = a and a["ef"]
    result[f"hnswlib_ef_at_{name}"] = b and b["ef"]
result.update({
    "build_ratio": round(ours["build_s"] / theirs["build_s"], 3),
    "semantik_build_s": round(ours["build_s"], 2),
    "hnswlib_build_s": round(theirs["build_s"], 2),
    "memory_ratio": round(ours["rss_delta_mb"] / theirs["rss_delta_mb"], 3),
    "memory_ratio_after_reopen": round(db["reopen_rss_delta_mb"] / theirs["rss_delta_mb"], 3),
    "semantik_index_mb": round(ours["rss_delta_mb"], 1),
    "hnswlib_index_mb": round(theirs["rss_delta_mb"], 1),
    "reopen_s": round(db["reopen_s"], 3),
    "hnswlib_load_s": round(theirs["load_s"], 3),
    "churn_recall_delta": round(db["churn_recall_delta"], 4),
    "n": ours["n"],
})
print(json.dumps(result))
PY
