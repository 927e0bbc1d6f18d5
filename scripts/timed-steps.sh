#!/usr/bin/env bash
# `make test`: runs `MAKE STEP` for each step in turn, stopping at the first that fails, and
# prints each step's wall-clock time as it ends and all of them at the end.
# Usage: scripts/timed-steps.sh MAKE STEP...
set -uo pipefail
make=$1
shift
start=$SECONDS
report=()
for step in "$@"; do
  t=$SECONDS
  $make --no-print-directory "$step"
  rc=$?
  report+=("$step $((SECONDS - t)) s")
  echo "== make $step: $((SECONDS - t)) s (exit $rc)" >&2
  [ "$rc" -eq 0 ] || { echo "== make test failed at $step after $((SECONDS - start)) s" >&2; exit "$rc"; }
done
echo "== make test passed in $((SECONDS - start)) s: $(IFS=,; echo "${report[*]}" | sed 's/,/, /g')" >&2
