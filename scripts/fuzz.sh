#!/usr/bin/env bash
# Long mutation fuzz of the webhook through the real router (tests/it/fuzz.rs): real payloads
# mutated structurally (drop, duplicate, retype, truncate, swap fields; hostile strings), some cut
# or corrupted at a byte. Every case must be answered JSON 200/400, never panic, and leave every
# function inside its label bounds. Prints the case count and the number of panics.
# Usage: scripts/fuzz.sh            (CASES=100000 by default; PROFILE=release for a faster run)
# The test suite runs the same test with 300 cases.
set -euo pipefail
cd "$(dirname "$0")/.."
CASES=${CASES:-100000}
PROFILE=${PROFILE:-dev}
# The test reads FUZZ_CASES and falls back to 300 on anything that is not a number: refuse it here.
[[ $CASES =~ ^[1-9][0-9]*$ ]] || { echo "fuzz.sh: CASES must be a positive integer, not '$CASES'" >&2; exit 2; }
out=$(mktemp)
trap 'rm -f "$out"' EXIT
start=$(date +%s)
status=0
FUZZ_CASES=$CASES cargo test --quiet --profile "$PROFILE" --test it \
    fuzz::mutated_real_payloads_are_answered_and_keep_every_function_in_bounds \
    -- --exact --nocapture >"$out" 2>&1 || status=$?
summary=$(grep '^fuzz: ' "$out" || true)
if [ -z "$summary" ]; then
    cat "$out" >&2
    echo "fuzz: no summary line (build or start failure)" >&2
    exit 1
fi
echo "$summary in $(( $(date +%s) - start )) s"
if [ "$status" -ne 0 ]; then
    grep -A20 'panicked at' "$out" >&2 || cat "$out" >&2
    exit "$status"
fi
