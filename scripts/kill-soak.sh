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
KILL9_ROUNDS=$ROUNDS nice -n 5 cargo test --quiet --test it openfaas_kill -- --nocapture 2>&1 \
  | grep -E '^kills|test result|panicked|assert' || { echo "kill soak FAILED" >&2; exit 1; }
