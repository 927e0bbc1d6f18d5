#!/usr/bin/env bash
# `make bench-scale`: a collection of 100,000 and 1,000,000 chunks through the public API
# (`benches/scale.rs` says how texts and vectors are made), hnswlib building the same vectors in
# the same run. SCALES="100000" for the small run alone. Ends with one JSON line: the largest
# scale's figures, the others under "at_<n/1000>k".
set -euo pipefail
cd "$(dirname "$0")/.."
cache=.cache
venv="$cache/bench-venv"
index_data=$(scripts/index-data.sh "$venv")  # real embeddings: base.f32, queries.f32; hnswlib
dir="$cache/bench-scale"
mkdir -p "$dir"
cp -u "$index_data/base.f32" "$index_data/queries.f32" "$dir/"
# Real paragraphs: Debian's linux-doc-6.1 (the kernel's reST documentation) and the Python docs.
docs="$cache/linux-doc"
if [ ! -d "$docs/usr" ]; then
  tmp=$(mktemp -d)
  for v in "" $(apt-cache madison linux-doc-6.1 | awk '{print "=" $3}'); do
    (cd "$tmp" && apt-get download -q "linux-doc-6.1$v" >/dev/null 2>&1) && break
  done
  mkdir -p "$docs" && dpkg-deb -x "$tmp"/linux-doc-6.1_*.deb "$docs" && rm -rf "$tmp"
fi
if [ ! -f "$dir/texts.jsonl" ]; then
  python3 - "$docs" "$cache/python-docs" "$dir/texts.jsonl" <<'PY'
import json, pathlib, sys
sys.path.insert(0, "benches")
from make_passages import paragraphs
*roots, out = sys.argv[1:]
seen, kept = set(), []
for root in roots:
    for path in sorted(pathlib.Path(root).rglob("*.rst.txt")):
        for p in paragraphs(path.read_text(encoding="utf-8", errors="replace")):
            if len(p.split()) >= 5 and p not in seen:
                seen.add(p)
                kept.append(p)
pathlib.Path(out).write_text("".join(json.dumps(p) + "\n" for p in kept), encoding="utf-8")
print(f"{len(kept)} paragraphs", file=sys.stderr)
PY
fi
cargo build -q --release -p semantik-core --bench scale
bin=$(ls -t target/release/deps/scale-* | grep -v '\.d$' | head -1)
results=()
for n in ${SCALES:-100000 1000000}; do
  export RAYON_NUM_THREADS=2
  built=$("$bin" build "$dir" "$n")
  echo "semantik build ($n): $built"
  theirs=$("$venv/bin/python" benches/index_hnswlib.py build "$dir/vectors-$n.f32")
  echo "hnswlib build ($n): $theirs"
  rm -f "$dir/vectors-$n.f32"
  # Queries on one thread: warm (the files just written), then cold (their pages dropped).
  warm=$(RAYON_NUM_THREADS=1 "$bin" query "$dir" "$n")
  echo "semantik queries, warm reopen ($n): $warm"
  python3 - "$dir/db-$n" <<'PY'
import os, pathlib, sys
for p in pathlib.Path(sys.argv[1]).rglob("*"):
    if p.is_file():
        fd = os.open(p, os.O_RDONLY)
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)
PY
  cold=$(RAYON_NUM_THREADS=1 "$bin" query "$dir" "$n")
  echo "semantik queries, cold reopen ($n): $cold"
  results+=("$(python3 - "$built" "$theirs" "$warm" "$cold" <<'PY'
import json, sys
built, theirs, warm, cold = (json.loads(a) for a in sys.argv[1:])
r = {k: built[k] for k in ("chunks", "documents", "ingest_s", "ingest_chunks_per_s", "build_s",
                           "peak_build_rss_mb", "disk_mb", "index_memory_mb")}
r["build_ratio"] = built["build_s"] / theirs["build_s"]
r["hnswlib_build_s"] = theirs["build_s"]
r["hnswlib_peak_build_rss_mb"] = theirs["peak_build_rss_mb"]
r["peak_build_rss_ratio"] = built["peak_build_rss_mb"] / theirs["peak_build_rss_mb"]
r["reopen_warm_s"] = warm["reopen_s"]
r["reopen_cold_s"] = cold["reopen_s"]
r["rss_after_reopen_mb"] = warm["rss_after_reopen_mb"]
r["reopen_rss_vs_index"] = warm["rss_after_reopen_mb"] / built["index_memory_mb"]
r.update({k: v for k, v in warm.items() if k.endswith("_ms")})
print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()}))
PY
)")
done
python3 - "${results[@]}" <<'PY'
import json, sys
runs = sorted((json.loads(a) for a in sys.argv[1:]), key=lambda r: r["chunks"])
out = dict(runs[-1])
for r in runs[:-1]:
    out[f"at_{round(r['chunks'], -3) // 1000}k"] = r
print(json.dumps(out))
PY
