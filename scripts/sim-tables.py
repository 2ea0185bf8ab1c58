#!/usr/bin/env python3
"""Markdown tables from `alertscaler simulate --out DIR/<scenario>` runs (one summary.json per scenario).

Usage: scripts/sim-tables.py DIR   → prints the "every preset" table and issue 12's criteria table.
"""
import glob
import json
import os
import sys

from sim_bar import meets_ce_bar, meets_kpa_target, steady

if len(sys.argv) != 2:
    sys.exit("usage: scripts/sim-tables.py DIR   (DIR/<scenario>/summary.json from alertscaler simulate --out)")
root = sys.argv[1]
runs = [json.load(open(p)) for p in sorted(glob.glob(os.path.join(root, "*", "summary.json")))]
if not runs:
    sys.exit(f"sim-tables.py: no {os.path.join(root, '*', 'summary.json')}")
presets = [p["name"] for p in runs[0]["policies"]]

print("| scenario (horizon) | " + " | ".join(presets) + " |")
print("|---|" + "---|" * len(presets))
for r in runs:
    cells = []
    by = {p["name"]: p for p in r["policies"]}
    for name in presets:
        p = by[name]
        # Direction changes within 300 s, the same window for every preset (their own windows differ).
        cells.append(f"{p['slo_violation_seconds']:.0f} / {p['replica_seconds']:.0f} / {p['p99_ms']:.0f} / "
                     f"{p['max_direction_changes_per_300s']}")
    print(f"| {r['scenario']} ({r['horizon_seconds']} s) | " + " | ".join(cells) + " |")

print()
rec = runs[0]["recommended"]
print(f"| scenario | {rec} / ce SLO-violation s | {rec} / ce replica-s | ≤ 50 % of CE's violations at ≤ CE's "
      f"replica-s | direction changes per window | {rec} / kpa violations | {rec} / kpa replica-s | ≤ 1.5× KPA's "
      "violations at ≤ its replica-s | lower bound for CE's bar: least replica-s any policy needs / CE's | "
      "kpa against CE's bar | serving every second a cold start allows: violation s / least replica-s |")
print("|---|---:|---:|---|---|---:|---:|---|---|---|---|")


def ratio(a, b):
    if b == 0:
        return "1.00" if a == 0 else "∞"
    return f"{a / b:.2f}"


def bound(r, ce):
    b = r.get("half_ce_violations")
    if not b:
        return "n/a"
    least = b["least_replica_seconds"]
    if least is None:
        return "unreachable at max replicas"
    verdict = "reachable" if least <= ce["replica_seconds"] else "NO policy can"
    return f"{least} / {ce['replica_seconds']} ({verdict})"


def serving(r, ce):
    """What serving every second a cold start allows costs at least, against CE's replica-seconds: over them,
    a policy within CE's cost must leave seconds unserved that a cold start's notice would have served."""
    b = r.get("serving_policy")
    if not b:
        return "n/a"
    verdict = "over CE's" if b["replica_seconds"] > ce["replica_seconds"] else "within CE's"
    return f"{b['violation_seconds']} / {b['replica_seconds']} ({verdict})"


for r in runs:
    by = {p["name"]: p for p in r["policies"]}
    c, ce, k = by[rec], by["ce"], by["kpa"]
    cv, cr = c["slo_violation_seconds"], c["replica_seconds"]
    vs_ce = meets_ce_bar(c, ce)
    kpa_ce = (f"{'met' if meets_ce_bar(k, ce) else 'NOT met'} ({k['slo_violation_seconds']:.0f} / "
              f"{k['replica_seconds']:.0f})")
    vs_kpa = meets_kpa_target(c, k)
    dc = c["max_direction_changes_per_window"]
    print(f"| {r['scenario']} | {ratio(cv, ce['slo_violation_seconds'])} | {ratio(cr, ce['replica_seconds'])} | "
          f"{'met' if vs_ce else 'NOT met'} | {dc} ({'met' if steady(c) else 'NOT met'}) | "
          f"{ratio(cv, k['slo_violation_seconds'])} | {ratio(cr, k['replica_seconds'])} | "
          f"{'met' if vs_kpa else 'not met'} | {bound(r, ce)} | {kpa_ce} | {serving(r, ce)} |")
