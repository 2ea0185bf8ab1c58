#!/usr/bin/env bash
# Issue 12's bar over several seeds: every built-in scenario with the recommended preset, `ce` and `kpa`, each
# seed the same for the three, and per scenario how many seeds meet CE's bar (≤ 50 % of CE's SLO-violation
# seconds at ≤ its replica-seconds, none where CE has none, ≤ 1 direction change per window) and the KPA target
# (≤ 1.5× its violation seconds at ≤ its replica-seconds), with the recommended preset's
# violations / replica-seconds / direction changes per seed.
#
# Usage: scripts/sim-seeds.sh [SEEDS] [BINARY]   (default: 10 seeds, target/release/alertscaler; build it first)
# Writes its runs under a temporary directory; bounded: SEEDS × 9 scenarios × 3 presets, ~1 s each.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seeds="${1:-10}"
bin="${2:-$root/target/release/alertscaler}"
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

python3 - "$out" <<'PY'
import glob, json, os, sys

out = sys.argv[1]
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
        v, r = "slo_violation_seconds", "replica_seconds"
        fewer = c[v] == 0 if ce[v] == 0 else c[v] <= 0.5 * ce[v]
        ce_bar += fewer and c[r] <= ce[r] and c["max_direction_changes_per_window"] <= 1
        kpa_target += c[v] <= 1.5 * kpa[v] and c[r] <= kpa[r]
        cells.append(f"{c[v]:.0f}/{c[r]:.0f}/{c['max_direction_changes_per_window']}")
    print(f"| {scenario} | {ce_bar}/{len(runs)} | {kpa_target}/{len(runs)} | {' '.join(cells)} |")
PY
