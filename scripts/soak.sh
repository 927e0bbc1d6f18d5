#!/usr/bin/env bash
# The soaks of `make soak`, run from the test build of `make test` (no second build):
#   - crash: SEMANTIK_CRASH_ITERATIONS kills (default 600) spread over index, append, reindex,
#     remove_source, delete and compaction; each reopened, verified, retried, verified again;
#   - concurrency: 8 searchers, a writer and an observer for SEMANTIK_SOAK_SECONDS (default 600).
# Ends with one JSON line: the crash figures, the concurrency figures under "concurrency".
set -euo pipefail
cd "$(dirname "$0")/.."
export SEMANTIK_CRASH_ITERATIONS=${SEMANTIK_CRASH_ITERATIONS:-600}
export SEMANTIK_SOAK_SECONDS=${SEMANTIK_SOAK_SECONDS:-600}
log=$(mktemp -d)
test_it() {
  cargo test --workspace --features semantik-core/testing --test it -- --nocapture --test-threads=1 "$@"
}
echo "crash soak: $SEMANTIK_CRASH_ITERATIONS kills" >&2
test_it --ignored --exact crash::soak_killed_during_each_operation_recovers | tee "$log/crash" >&2
echo "concurrency soak: $SEMANTIK_SOAK_SECONDS s" >&2
test_it --exact concurrency::searches_writes_listings_and_events_together_stay_correct \
  | tee "$log/concurrency" >&2
python3 - "$log" <<'PY'
import json, sys
def figures(path, tag):
    for line in open(path):
        if tag + " " in line:
            return json.loads(line.split(tag + " ", 1)[1].strip().removesuffix("ok").strip())
    sys.exit(f"no {tag} line in {path}")
out = figures(sys.argv[1] + "/crash", "CRASH_SOAK")
out["concurrency"] = figures(sys.argv[1] + "/concurrency", "CONCURRENCY_SOAK")
print(json.dumps(out))
PY
