#!/usr/bin/env bash
# The memory step of scripts/bench.sh on its own, for A/B runs of builds: a fresh alertscaler
# (memory backend, FUNCTIONS functions) per run, RSS idle, after one firing alert per function
# (examples/load), after a listing (GET /system/functions, checked to list every function), and
# the peak (VmHWM), in KiB. Runs RUNS times, alternating the builds given (release directories
# holding alertscaler and examples/load).
#
# Usage: scripts/listing-memory.sh RELEASE_DIR [RELEASE_DIR ...]   (RUNS=3 FUNCTIONS=10000)
set -euo pipefail
RUNS=${RUNS:-3}
FUNCTIONS=${FUNCTIONS:-10000}
[ $# -ge 1 ] || { echo "usage: $0 RELEASE_DIR [RELEASE_DIR ...]" >&2; exit 2; }

work=$(mktemp -d)
pid=
cleanup() {
    [ -z "$pid" ] || { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "listing-memory: $*" >&2; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
kb() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }

config() { # port → a config file path
    local f="$work/as.toml"
    {
        echo "listen = \"127.0.0.1:$1\""
        echo "backend = \"memory\""
        printf '[policy]\nscale_down = "ce"\n'
        for ((i = 0; i < FUNCTIONS; i++)); do printf '[[memory.functions]]\nname = "fn-%d"\n' "$i"; done
    } >"$f"
    echo "$f"
}

measure() { # release dir → "idle alerts listed hwm" (KiB)
    local port idle alerts listed
    port=$(free_port)
    "$1/alertscaler" serve --config "$(config "$port")" >>"$work/alertscaler.log" 2>&1 &
    pid=$!
    for _ in $(seq 200); do curl -sf -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.05; done
    sleep 1
    idle=$(kb "$pid" VmRSS)
    "$1/examples/load" "http://127.0.0.1:$port/system/alert" 0 8 "$FUNCTIONS" 0 >"$work/load" 2>&1 \
        || fail "load failed: $(tail -3 "$work/load")"
    awk -v n="$FUNCTIONS" '/requests:/ {r=$2} /failures:/ {f=$2} END {exit !(r == n && f == 0)}' "$work/load" \
        || fail "not $FUNCTIONS alerts answered 2xx: $(grep -E 'requests:|failures:' "$work/load" | tr -s ' ')"
    alerts=$(kb "$pid" VmRSS)
    curl -sf -o "$work/listing.json" "http://127.0.0.1:$port/system/functions" || fail "listing failed"
    listed=$(kb "$pid" VmRSS)
    python3 -c 'import json,sys; n=len(json.load(open(sys.argv[1]))); sys.exit(n != int(sys.argv[2]))' \
        "$work/listing.json" "$FUNCTIONS" || fail "the listing does not hold $FUNCTIONS functions"
    echo "$idle $alerts $listed $(kb "$pid" VmHWM)"
    kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
}

printf '%-4s %-40s %9s %9s %9s %9s\n' run build idle_kb alerts_kb listed_kb hwm_kb
for ((run = 1; run <= RUNS; run++)); do
    for dir in "$@"; do
        read -r idle alerts listed hwm < <(measure "$dir")
        printf '%-4s %-40s %9s %9s %9s %9s\n' "$run" "$dir" "$idle" "$alerts" "$listed" "$hwm"
    done
done
