"""Issue 12's criteria for one policy of a `summary.json`, shared by scripts/sim-tables.py and scripts/sim-seeds.sh.

Each argument is one entry of the summary's `policies`.
"""


def meets_ce_bar(p, ce):
    """≤ 50 % of CE's violation seconds (none where CE has none) at ≤ CE's replica-seconds."""
    v, r = p["slo_violation_seconds"], p["replica_seconds"]
    if ce["slo_violation_seconds"] == 0:
        return v == 0 and r <= ce["replica_seconds"]
    return v <= 0.5 * ce["slo_violation_seconds"] and r <= ce["replica_seconds"]


def meets_kpa_target(p, kpa):
    """≤ 1.5× the KPA-like baseline's violation seconds at ≤ its replica-seconds."""
    return (p["slo_violation_seconds"] <= 1.5 * kpa["slo_violation_seconds"]
            and p["replica_seconds"] <= kpa["replica_seconds"])


def steady(p):
    """At most one direction change within one stabilization window."""
    return p["max_direction_changes_per_window"] <= 1
