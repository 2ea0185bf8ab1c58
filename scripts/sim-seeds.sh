#!/usr/bin/env bash
# Issue 12's bar over several seeds: every built-in scenario with the recommended preset, `ce` and `kpa`, each
# seed the same for the three, and per scenario how many seeds meet CE's bar (≤ 50 % of CE's SLO-violation
# seconds at ≤ its replica-seconds, none where CE has none, ≤ 1 direction change per window) and the KPA target
# (≤ 1.5× its violation seconds at ≤ its replica-seconds), with the recommended preset's
# violations / replica-seconds / direction changes per seed.
#
# Usage: scripts/sim-seeds.sh [SEEDS] [BINARY]   (default: 10 seeds, $CARGO_TARGET_DIR or target, then
#        release/alertscaler; build it first: cargo build --release)
# Writes its runs under a temporary directory, removed on exit; bounded: SEEDS × 9 scenarios × 3 presets
# (well under a second each in a release build: 10 seeds take a few seconds).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seeds="${1:-10}"
bin="${2:-${CARGO_TARGET_DIR:-$root/target}/release/alertscaler}"
[[ $seeds =~ ^[1-9][0-9]*$ ]] || { echo "sim-seeds.sh: SEEDS must be a positive integer, not '$seeds'" >&2; exit 2; }
command -v python3 >/dev/null || { echo "sim-seeds.sh: python3 not found on PATH" >&2; exit 2; }
[ -x "$bin" ] || { echo "sim-seeds.sh: no binary at $bin (cargo build --release)" >&2; exit 2; }
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

for f in "$root"/fixtures/scenarios/*.toml; do
  n="$(basename "$f" .toml)"
  for seed in $(seq 1 "$seeds"); do
    "$bin" simulate --scenario "$f" --policy capacity --policy ce --policy kpa --seed "$seed" \
      --out "$out/$n/$seed" >/dev/null
  done
done

python3 - "$out" "$root/scripts" <<'PY'
import glob, json, os, sys

out = sys.argv[1]
sys.path.insert(0, sys.argv[2])
from sim_bar import meets_ce_bar, meets_kpa_target, steady

print("| scenario | CE's bar met | KPA target met | capacity per seed: violation s / replica-s / direction changes |")
print("|---|---|---|---|")
for scenario in sorted(os.listdir(out)):
    runs = sorted(glob.glob(os.path.join(out, scenario, "*", "summary.json")),
                  key=lambda p: int(p.split(os.sep)[-2]))
    ce_bar, kpa_target, cells = 0, 0, []
    for path in runs:
        s = json.load(open(path))
        by = {p["name"]: p for p in s["policies"]}
        c, ce, kpa = by[s["recommended"]], by["ce"], by["kpa"]
        ce_bar += meets_ce_bar(c, ce) and steady(c)
        kpa_target += meets_kpa_target(c, kpa)
        cells.append(f"{c['slo_violation_seconds']:.0f}/{c['replica_seconds']:.0f}/"
                     f"{c['max_direction_changes_per_window']}")
    print(f"| {scenario} | {ce_bar}/{len(runs)} | {kpa_target}/{len(runs)} | {' '.join(cells)} |")
PY
