#!/usr/bin/env bash
# Prints the path of example NAME as built by the given cargo command (run with --no-run), so
# that the example runs from the test build instead of a `cargo run` whose different feature
# resolution rebuilds the candle stack (about 9 minutes on 2 cores).
# Usage: scripts/built-example.sh NAME cargo test --workspace --features ...
set -euo pipefail
name=$1
shift
"$@" --no-run -q --message-format=json | python3 -c '
import json, sys
name = sys.argv[1]
for line in sys.stdin:
    m = json.loads(line)
    t = m.get("target", {})
    if m.get("reason") == "compiler-artifact" and t.get("name") == name and "example" in t.get("kind", []) and m.get("executable"):
        print(m["executable"])
        sys.exit(0)
sys.exit("example " + name + " was not built")
' "$name"
