#!/usr/bin/env bash
# `make bench-index`: semantik's vector index side by side with hnswlib (M=16, ef_construction=200)
# on 100,000 real MiniLM embeddings of Python-docs and standard-library sentences, 1,000 held-out
# queries with exact top-10 ground truth. Ends with one JSON line.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=.cache
venv="$cache/bench-venv"
export RAYON_NUM_THREADS=2
data=$(scripts/index-data.sh "$venv")
bin=$(ls -t target/release/deps/index-* | grep -v '\.d$' | grep -v '\.txt$' | head -1)
ours=$("$bin" run "$data")
ours_f32=$("$bin" run "$data" f32)
theirs=$("$venv/bin/python" benches/index_hnswlib.py run "$data")
db=$("$bin" db "$data")
# The reopen, in a process of its own so that its memory growth is its own.
reopen=$("$bin" reopen "$data")
echo "semantik (int8 traversal, the default): $ours"
echo "semantik (f32 traversal): $ours_f32"
echo "hnswlib: $theirs"
echo "semantik database: $db"
echo "semantik reopen: $reopen"
python3 - "$ours" "$theirs" "$db" "$reopen" "$ours_f32" <<'PY'
import json, sys
ours, theirs, db, reopen, ours_f32 = (json.loads(a) for a in sys.argv[1:])

def at(run, target, key="qps_1t"):
    """QPS (and ef, recall) at the smallest ef of the sweep reaching `target` recall."""
    for s in run["sweep"]:
        if s["recall"] >= target:
            return s
    return None

print("| ef | semantik recall | semantik QPS 1t / 2t | semantik f32 recall | f32 QPS 1t / 2t "
      "| hnswlib recall | hnswlib QPS 1t / 2t |")
print("|---|---|---|---|---|---|---|")
for a, c, b in zip(ours["sweep"], ours_f32["sweep"], theirs["sweep"]):
    print(f"| {a['ef']} | {a['recall']:.4f} | {a['qps_1t']:.0f} / {a['qps_2t']:.0f} "
          f"| {c['recall']:.4f} | {c['qps_1t']:.0f} / {c['qps_2t']:.0f} "
          f"| {b['recall']:.4f} | {b['qps_1t']:.0f} / {b['qps_2t']:.0f} |")
result = {}
for target, name in ((0.95, "0_95"), (0.99, "0_99")):
    a, b = at(ours, target), at(theirs, target)
    result[f"qps_ratio_at_{name}"] = round(a["qps_1t"] / b["qps_1t"], 3) if a and b else None
    result[f"qps_ratio_2t_at_{name}"] = round(a["qps_2t"] / b["qps_2t"], 3) if a and b else None
    result[f"semantik_ef_at_{name}"] = a and a["ef"]
    result[f"hnswlib_ef_at_{name}"] = b and b["ef"]
    c = at(ours_f32, target)
    result[f"f32_qps_ratio_at_{name}"] = round(c["qps_1t"] / b["qps_1t"], 3) if c and b else None
result.update({
    "build_ratio": round(ours["build_s"] / theirs["build_s"], 3),
    "semantik_build_s": round(ours["build_s"], 2),
    "hnswlib_build_s": round(theirs["build_s"], 2),
    "memory_ratio": round(ours["rss_delta_mb"] / theirs["rss_delta_mb"], 3),
    "memory_ratio_after_reopen": round(db["index_memory_mb"] / theirs["rss_delta_mb"], 3),
    "reopen_process_rss_growth_mb": round(reopen["reopen_rss_delta_mb"], 1),
    "semantik_index_mb": round(ours["rss_delta_mb"], 1),
    "hnswlib_index_mb": round(theirs["rss_delta_mb"], 1),
    "reopen_s": round(reopen["reopen_s"], 3),
    "reopen_s_in_build_process": round(db["reopen_s"], 3),
    "hnswlib_load_s": round(theirs["load_s"], 3),
    "churn_recall_delta": round(db["churn_recall_delta"], 4),
    "n": ours["n"],
})
print(json.dumps(result))
PY
