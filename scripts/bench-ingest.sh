#!/usr/bin/env bash
# `make bench-ingest`: end-to-end ingestion of the Python 3.11 HTML docs (530 pages) with the
# default model, against embedding the same chunks alone, and a no-op append. Ends with one
# JSON line.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/fetch-python-docs.sh .cache/python-docs >/dev/null
scripts/fetch-model.sh >/dev/null
cargo build -q --release -p semantik-core --bench ingest
bin=$(ls -t target/release/deps/ingest-* | grep -v '\.d$' | head -1)
export RAYON_NUM_THREADS="${RAYON_NUM_THREADS:-2}"
"$bin" .cache/python-docs/usr/share/doc/python3.11/html | python3 -c '
import json, sys
r = json.loads(sys.stdin.read())
print("ingest: %d documents, %d chunks, %d tokens in %.1f s; embedding alone %.1f s" % (
    r["documents"], r["chunks"], r["tokens"], r["e2e_s"], r["embed_only_s"]), file=sys.stderr)
keys = ["e2e_tokens_per_s", "embed_only_tokens_per_s", "ratio", "docs_per_s", "chunks_per_s",
        "noop_append_s", "peak_rss_mb", "documents", "failed_documents", "chunks", "tokens", "threads"]
print(json.dumps({k: (round(r[k], 3) if isinstance(r[k], float) else r[k]) for k in keys}))
'
