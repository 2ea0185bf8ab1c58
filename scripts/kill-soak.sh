#!/usr/bin/env bash
# The kill -9 fault test of the OpenFaaS backend (tests/it/openfaas_kill.rs), longer than in CI:
# ROUNDS abrupt restarts (SIGKILL) of the real binary during a notification stream, against an
# in-process gateway that fails scale calls before or after acting, or acts up to 150 ms late.
# Prints kills, scale calls, kills that left an intent on disk, double applications and wrong
# counts; fails on any double application or wrong count. Loopback only; bounded (ROUNDS, and the
# test's own 600 s budget).
# Usage: scripts/kill-soak.sh            (ROUNDS=1000 by default; cargo test runs 300)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-1000}
# The test reads KILL9_ROUNDS and falls back to 300 on anything that is not a number: refuse it here.
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "kill-soak.sh: ROUNDS must be a positive integer, not '$ROUNDS'" >&2; exit 2; }
out=$(mktemp)
trap 'rm -f "$out"' EXIT
status=0
KILL9_ROUNDS=$ROUNDS nice -n 5 cargo test --quiet --test it openfaas_kill -- --nocapture >"$out" 2>&1 || status=$?
grep -E '^kills|test result|panicked|assert' "$out" || true
if ! grep -q '^kills' "$out"; then
  # A build failure, or a filter that matched no test, prints no summary: show the end of the output.
  tail -40 "$out" >&2
  echo "kill soak FAILED: the test printed no 'kills' summary (cargo test exit $status)" >&2
  exit 1
fi
[ "$status" -eq 0 ] || { echo "kill soak FAILED (cargo test exit $status)" >&2; exit 1; }
