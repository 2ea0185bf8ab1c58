#!/usr/bin/env bash
# Validate the alert rule packs and the Prometheus/AlertManager configuration with the real tools.
# Needs promtool and amtool on PATH (Debian: prometheus, prometheus-alertmanager); installs nothing.
# Usage: alert-rules/check.sh   (from any directory; exits non-zero if any check fails)
set -u

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root" || exit 2

for tool in promtool amtool; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "check.sh: $tool not found on PATH (install prometheus / prometheus-alertmanager)" >&2
    exit 2
  fi
done

failed=0
run() {
  echo "+ $*"
  if ! "$@"; then
    echo "check.sh: FAILED: $*" >&2
    failed=1
  fi
}

shopt -s nullglob
rules=(alert-rules/*.rules.yml)
tests=(alert-rules/*.test.yml)
if [ ${#rules[@]} -eq 0 ] || [ ${#tests[@]} -eq 0 ]; then
  echo "check.sh: no rule or test files under alert-rules/" >&2
  exit 2
fi

# Every pack has its unit tests: X.rules.yml needs an X.test.yml that loads it
# (openfaas-ce, latency, capacity, alertscaler).
for r in "${rules[@]}"; do
  t="${r%.rules.yml}.test.yml"
  if [ ! -f "$t" ] || ! grep -q "^  - $(basename "$r")\$" "$t"; then
    echo "check.sh: FAILED: $r has no $t listing it under rule_files" >&2
    failed=1
  fi
done

run promtool check rules "${rules[@]}"
run promtool test rules "${tests[@]}"
run promtool check config prometheus/prometheus.yml
run amtool check-config prometheus/alertmanager.yml

# README's "Try it beside CE": its AlertManager configuration is valid and sends CE's alert to both
# the gateway and alertscaler (the routing README says amtool answers).
beside="$(mktemp)"
trap 'rm -f "$beside"' EXIT
awk '/^### Try it beside CE/ {s = 1} s && /^```yaml/ {f = 1; next} f && /^```/ {exit} f' README.md >"$beside"
if [ ! -s "$beside" ]; then
  echo "check.sh: FAILED: no yaml block under README's \"Try it beside CE\"" >&2
  failed=1
else
  run amtool check-config "$beside"
  routed="$(amtool config routes test --config.file="$beside" alertname=APIHighInvocationRate 2>/dev/null)"
  if [ "$routed" != "gateway,alertscaler" ]; then
    echo "check.sh: FAILED: README's beside-CE routes send APIHighInvocationRate to '$routed', not gateway,alertscaler" >&2
    failed=1
  fi
fi

if [ "$failed" -ne 0 ]; then
  echo "check.sh: some checks failed" >&2
  exit 1
fi
echo "check.sh: all checks passed"
