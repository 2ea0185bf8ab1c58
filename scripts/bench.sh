#!/usr/bin/env bash
# Throughput, CPU and memory benchmark: alertscaler (release build, memory backend) against a bare
# axum server that answers 200 to the same requests, on loopback, in ONE run, alternating the two
# servers round by round (the order flips every round) so that drift on shared cores hits both.
#
# Scenarios (each ROUNDS rounds of SECS seconds per server):
#   dup32  one duplicate notification, hey -c 32 (the hot path: every request is a duplicate hold)
#   dup1   the same at -c 1, for the p99 latency
#   new32  distinct notifications, examples/load.rs -c 32: every request reads, decides and writes
#          (per function a new firing episode, then its resolution; policy.scale_down = "ce"): a firing
#          scales up when the function's cooldown allows, else is recorded as a cooldown hold; a
#          resolution scales back to min (or records it when already there)
# For each round: req/s, p50/p99, and server CPU per request (utime+stime from /proc/PID/stat over
# the round, divided by the requests the load tool completed). A round whose load tool reports a
# failure (an error or a non-2xx answer) fails the benchmark.
# Then memory: a fresh alertscaler with FUNCTIONS (and with FUNCTIONS_LARGE) functions: RSS idle,
# after one firing alert per function, and after a listing (GET /system/functions); peak = VmHWM.
#
# Usage: scripts/bench.sh   (ROUNDS=5 SECS=5 FUNCTIONS=10000 FUNCTIONS_LARGE=50000 RUST_LOG=info)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-5}
SECS=${SECS:-5}
FUNCTIONS=${FUNCTIONS:-10000}
FUNCTIONS_LARGE=${FUNCTIONS_LARGE:-50000}
export RUST_LOG=${RUST_LOG:-info}

for knob in ROUNDS SECS FUNCTIONS FUNCTIONS_LARGE; do
    [[ ${!knob} =~ ^[1-9][0-9]*$ ]] || { echo "bench: $knob must be a positive integer, not '${!knob}'" >&2; exit 2; }
done
command -v hey >/dev/null || { echo "hey not found: apt-get install -y hey" >&2; exit 1; }
command -v curl >/dev/null || { echo "curl not found" >&2; exit 1; }
command -v python3 >/dev/null || { echo "python3 not found" >&2; exit 1; }
cargo build --release --quiet --bin alertscaler --example bare --example load
BIN=${CARGO_TARGET_DIR:-target}/release # where that build put them
LOAD=$BIN/examples/load
DUP=scripts/duplicate.json # one real AlertManager notification (scripts/instructions.sh posts it too)
TICKS=$(getconf CLK_TCK)

work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "bench: $*" >&2; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() { # url [method]
    for _ in $(seq 200); do curl -sf -o /dev/null "$1" -X "${2:-GET}" && return 0; sleep 0.05; done
    fail "server at $1 did not come up"
}
config() { # port functions → a config file path
    local f="$work/as-$2.toml"
    {
        echo "listen = \"127.0.0.1:$1\""
        echo "backend = \"memory\""
        printf '[policy]\nscale_down = "ce"\n'
        for ((i = 0; i < $2; i++)); do printf '[[memory.functions]]\nname = "fn-%d"\n' "$i"; done
    } >"$f"
    echo "$f"
}
start_alertscaler() { # port functions → pid in $started
    "$BIN/alertscaler" serve --config "$(config "$1" "$2")" >>"$work/alertscaler.log" 2>&1 &
    started=$!; pids+=("$started")
    wait_up "http://127.0.0.1:$1/healthz"
}
cpu_ticks() { awk '{sub(/^.*\) /, ""); print $12 + $13}' "/proc/$1/stat"; } # utime + stime
kb() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }

AS_PORT=$(free_port)
start_alertscaler "$AS_PORT" "$FUNCTIONS"; AS_PID=$started
BARE_PORT=$(free_port)
"$BIN/examples/bare" "127.0.0.1:$BARE_PORT" >/dev/null 2>&1 &
BARE_PID=$!; pids+=("$BARE_PID")
wait_up "http://127.0.0.1:$BARE_PORT/system/alert" POST
url() { [ "$1" = as ] && echo "http://127.0.0.1:$AS_PORT/system/alert" || echo "http://127.0.0.1:$BARE_PORT/system/alert"; }
pid() { [ "$1" = as ] && echo "$AS_PID" || echo "$BARE_PID"; }


# hey output → "req/s p50_ms p99_ms requests failures"; failures = errors + non-2xx answers.
hey_summary() {
    awk '/Requests\/sec:/ {r=$2} /^ *50% in/ {p50=$3*1000} /^ *99% in/ {p99=$3*1000}
         /^ *\[[0-9]+\][ \t]+[0-9]+ responses/ {code=substr($1,2,3); n+=$2; if (code !~ /^2/) bad+=$2}
         /^Error distribution:/ {errs=1; next} errs && /^ *\[[0-9]+\]/ {bad+=substr($1,2)+0}
         END {printf "%.0f %.3f %.3f %d %d\n", r, p50, p99, n, bad}'
}
load_summary() {
    awk '/Requests\/sec:/ {r=$2} /^ *50% in/ {p50=$3*1000} /^ *99% in/ {p99=$3*1000}
         /requests:/ {n=$2} /failures:/ {bad=$2} /next start:/ {next_start=$3}
         END {printf "%.0f %.3f %.3f %d %d %d\n", r, p50, p99, n, bad, next_start}'
}
episode=0
run_load() { # scenario server → summary line
    case $1 in
    dup32) hey -z "${SECS}s" -c 32 -m POST -T application/json -D "$DUP" "$(url "$2")" | hey_summary ;;
    dup1) hey -z "${SECS}s" -c 1 -m POST -T application/json -D "$DUP" "$(url "$2")" | hey_summary ;;
    new32) "$LOAD" "$(url "$2")" "$SECS" 32 "$FUNCTIONS" "$episode" | load_summary ;;
    esac
}
# One measured round: appends "req/s p50 p99 requests failures cpu_us_per_request" to $work/SCENARIO.SERVER.
round() { # scenario server round
    local before after line us
    before=$(cpu_ticks "$(pid "$2")")
    line=$(run_load "$1" "$2")
    after=$(cpu_ticks "$(pid "$2")")
    read -r rps p50 p99 n bad next_start <<<"$line"
    [ "${n:-0}" -gt 0 ] || fail "$1 round $3 on $2: the load tool completed no request"
    [ "$bad" -eq 0 ] || fail "$1 round $3 on $2: the load tool reported $bad failures of $n requests"
    [ -n "${next_start:-}" ] && episode=$next_start
    us=$(awk -v t=$((after - before)) -v hz="$TICKS" -v n="$n" 'BEGIN {printf "%.2f", t / hz * 1e6 / n}')
    echo "$rps $p50 $p99 $n $bad $us" >>"$work/$1.$2"
    printf '  %-6s round %d %-11s %8s req/s  p50 %6s ms  p99 %6s ms  %6s µs CPU/request  (%d requests)\n' \
        "$1" "$3" "$2" "$rps" "$p50" "$p99" "$us" "$n"
}

# Warm up both (connections, allocator, the duplicate's ledger entry), unmeasured.
for s in as bare; do
    hey -n 2000 -c 32 -m POST -T application/json -D "$DUP" "$(url $s)" >/dev/null
done
"$LOAD" "$(url as)" 1 32 "$FUNCTIONS" 0 >/dev/null
episode=1000000 # past anything the warm-up used; even

for scenario in dup32 dup1 new32; do
    : >"$work/$scenario.as"; : >"$work/$scenario.bare"
    for ((r = 1; r <= ROUNDS; r++)); do
        if ((r % 2)); then order="bare as"; else order="as bare"; fi
        for s in $order; do round "$scenario" "$s" "$r"; done
    done
done
throughput_hwm=$(kb "$AS_PID" VmHWM)

# Memory: a fresh process per size, idle → one firing alert per function → a listing.
memory() { # functions → "idle_kb after_alerts_kb after_listing_kb hwm_kb"
    local port p idle alerts listed
    port=$(free_port)
    start_alertscaler "$port" "$1"; p=$started
    sleep 1
    idle=$(kb "$p" VmRSS)
    "$LOAD" "http://127.0.0.1:$port/system/alert" 0 8 "$1" 0 | load_summary >"$work/mem-load"
    read -r _ _ _ n bad _ <"$work/mem-load"
    [ "$n" = "$1" ] && [ "$bad" = 0 ] || fail "memory run: $n alerts posted, $bad failed"
    alerts=$(kb "$p" VmRSS)
    local count
    count=$(curl -sf "http://127.0.0.1:$port/metrics" | awk '/^alertscaler_ledger_functions / {print $2}')
    [ "$count" = "$1" ] || fail "memory run: $count functions in the ledger, expected $1"
    curl -sf -o /dev/null "http://127.0.0.1:$port/system/functions" || fail "listing failed"
    listed=$(kb "$p" VmRSS)
    echo "$idle $alerts $listed $(kb "$p" VmHWM)"
    kill "$p"; wait "$p" 2>/dev/null || true
}
memory "$FUNCTIONS" >"$work/m10"; read -r m10_idle m10_alerts m10_listed m10_hwm <"$work/m10"
memory "$FUNCTIONS_LARGE" >"$work/m50"; read -r m50_idle m50_alerts m50_listed m50_hwm <"$work/m50"

# --- Report --------------------------------------------------------------------------------------
median() { sort -g | awk '{v[NR]=$1} END {print v[int((NR + 1) / 2)]}'; }
lo() { sort -g | head -1; }
hi() { sort -g | tail -1; }
col() { cut -d' ' -f"$2" "$work/$1"; } # file column
stat3() { # file column → "median (min–max)"
    printf '%s (%s–%s)' "$(col "$1" "$2" | median)" "$(col "$1" "$2" | lo)" "$(col "$1" "$2" | hi)"
}
ratios() { # scenario column → per-round ratios alertscaler / bare
    paste -d' ' <(col "$1.as" "$2") <(col "$1.bare" "$2") | awk '{printf "%.3f\n", $1 / $2}'
}
ratio3() { printf '%.2f (%.2f–%.2f)' "$(ratios "$1" "$2" | median)" "$(ratios "$1" "$2" | lo)" "$(ratios "$1" "$2" | hi)"; }
verdict() { awk -v v="$1" -v g="$2" -v op="$3" 'BEGIN {ok = (op == ">=") ? v >= g : v <= g; print ok ? "met" : "NOT met"}'; }

dup_ratio=$(ratios dup32 1 | median); cpu_ratio=$(ratios dup32 6 | median)
new_ratio=$(ratios new32 1 | median); p99=$(col dup1.as 3 | median)
echo
echo "alertscaler benchmark, $(date -u +%Y-%m-%d), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')),"
echo "release build, loopback, RUST_LOG=$RUST_LOG, $ROUNDS alternating rounds × ${SECS} s per server and scenario;"
echo "median (min–max over rounds); ratio = alertscaler / bare per round."
echo
echo "| | alertscaler | bare axum | ratio | goal |"
echo "|---|---|---|---|---|"
echo "| duplicate notification, hey -c 32, req/s | $(stat3 dup32.as 1) | $(stat3 dup32.bare 1) | $(ratio3 dup32 1) | ≥ 0.95: $(verdict "$dup_ratio" 0.95 '>=') |"
echo "| server CPU per duplicate request, µs | $(stat3 dup32.as 6) | $(stat3 dup32.bare 6) | $(ratio3 dup32 6) | ≤ 1.2: $(verdict "$cpu_ratio" 1.2 '<=') |"
echo "| duplicate, -c 1, p99 ms | $(stat3 dup1.as 3) | $(stat3 dup1.bare 3) | | < 0.5 ms: $(verdict "$p99" 0.4999 '<=') |"
echo "| distinct functions (every request reads, decides and writes), -c 32, req/s | $(stat3 new32.as 1) | $(stat3 new32.bare 1) | $(ratio3 new32 1) | ≥ 0.8: $(verdict "$new_ratio" 0.8 '>=') |"
echo "| server CPU per distinct request, µs | $(stat3 new32.as 6) | $(stat3 new32.bare 6) | $(ratio3 new32 6) | |"
echo "| RSS, $FUNCTIONS functions: idle / after $FUNCTIONS alerts / after a listing; peak (VmHWM), MiB | $(mib "$m10_idle") / $(mib "$m10_alerts") / $(mib "$m10_listed"); peak $(mib "$m10_hwm") | | | peak < 20 MB: $(verdict "$m10_hwm" 19531 '<=') |"
echo "| RSS, $FUNCTIONS_LARGE functions, same steps, MiB | $(mib "$m50_idle") / $(mib "$m50_alerts") / $(mib "$m50_listed"); peak $(mib "$m50_hwm") | | | |"
echo
echo "(peak RSS of the throughput instance after all rounds: $(mib "$throughput_hwm") MiB)"
