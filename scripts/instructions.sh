#!/usr/bin/env bash
# User-space instructions per duplicate notification (the hot path), alertscaler against the bare
# axum server, counted by callgrind: deterministic enough to compare two commits on a busy machine,
# where scripts/bench.sh's CPU time moves by more than a change is worth.
#
# Each server (release build; alertscaler with the memory backend and FUNCTIONS functions, as in
# bench.sh) runs under `valgrind --tool=callgrind` twice: WARMUP then LOW duplicates of
# scripts/duplicate.json posted by `hey -c 4`, and WARMUP then HIGH. Per request = (instructions
# at HIGH − at LOW) / (HIGH − LOW): start-up, the first (non-duplicate) request, the warm-up and
# shutdown cancel out. The warm-up fills the audit ring (1000 decisions by default), so that the
# requests counted are those of a server that has been running a while (each replaces the oldest hold).
# The background passes that run on a timer (settle, follow-up) are turned off: when they run would
# depend on how long a run takes, and they are not the duplicate's cost. What remains varies with
# thread scheduling (by about 1% from run to run): each count is the median of REPEAT pairs of runs. Kernel time
# (loopback TCP, most of the CPU in bench.sh) is not counted: this is the code's own cost.
# Then alertscaler once more under `valgrind --tool=dhat`, for heap allocations per request (same
# differencing).
#
# MODE=distinct measures distinct notifications instead (bench.sh's new32 scenario, where every
# request reads, decides and writes), posted by examples/load.rs -c 4: the warm-up fires one
# episode for each of fn-0 … fn-(HIGH−1) (each scales up; WARMUP is not used), then LOW or HIGH
# requests resolve those episodes in turn (each scales back to min and writes the function's
# stored state, which the firing created). Per request = the cost of one such resolution.
#
# Usage: scripts/instructions.sh   (MODE=duplicate WARMUP=1100 LOW=500 HIGH=2500 REPEAT=3 FUNCTIONS=10000
#        LABELS=0 RUST_LOG=info DHAT=1; BIN=DIR to measure binaries already built in DIR instead of building)
set -euo pipefail
cd "$(dirname "$0")/.."
WARMUP=${WARMUP:-1100}
LOW=${LOW:-500}
HIGH=${HIGH:-2500}
REPEAT=${REPEAT:-3}
FUNCTIONS=${FUNCTIONS:-10000}
DHAT=${DHAT:-1}
MODE=${MODE:-duplicate}
LABELS=${LABELS:-0}
# LABELS=1: every function carries the scaling labels a real one typically has (by default they carry
# none, which costs a decision nothing to copy or parse).
TYPICAL_LABELS='[memory.functions.labels]
"com.openfaas.scale.min" = "1"
"com.openfaas.scale.max" = "20"
"com.openfaas.scale.factor" = "20"
"com.openfaas.scale.zero" = "false"
"com.openfaas.scale.target" = "50"'
export RUST_LOG=${RUST_LOG:-info}

for knob in WARMUP LOW HIGH REPEAT FUNCTIONS; do
    [[ ${!knob} =~ ^[1-9][0-9]*$ ]] || { echo "instructions: $knob must be a positive integer, not '${!knob}'" >&2; exit 2; }
done
[[ $LABELS =~ ^[01]$ ]] || { echo "instructions: LABELS must be 0 or 1, not '$LABELS'" >&2; exit 2; }
case $MODE in duplicate | distinct) ;; *) echo "instructions: MODE must be duplicate or distinct, not '$MODE'" >&2; exit 2 ;; esac
((HIGH > LOW)) || { echo "instructions: HIGH ($HIGH) must be above LOW ($LOW)" >&2; exit 2; }
[ "$MODE" = duplicate ] || ((FUNCTIONS >= HIGH)) || { echo "instructions: MODE=distinct needs FUNCTIONS ≥ HIGH" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "valgrind not found: apt-get install -y valgrind" >&2; exit 1; }
command -v hey >/dev/null || { echo "hey not found: apt-get install -y hey" >&2; exit 1; }
command -v curl >/dev/null || { echo "curl not found" >&2; exit 1; }
command -v python3 >/dev/null || { echo "python3 not found" >&2; exit 1; }
if [ -z "${BIN:-}" ]; then
    cargo build --release --quiet --bin alertscaler --example bare --example load
    BIN=${CARGO_TARGET_DIR:-target}/release # where that build put them
fi # else BIN=DIR: the binaries already built there (DIR/alertscaler, DIR/examples/bare), e.g. to compare two builds
[ -x "$BIN/alertscaler" ] && [ -x "$BIN/examples/bare" ] || { echo "instructions: no alertscaler or examples/bare in $BIN" >&2; exit 1; }
DUP=scripts/duplicate.json
LOAD=${LOAD:-$BIN/examples/load} # the client: LOAD=PATH to post with another build's
[ "$MODE" = duplicate ] || [ -x "$LOAD" ] || { echo "instructions: MODE=distinct needs $LOAD (or LOAD=PATH)" >&2; exit 1; }

work=$(mktemp -d)
server="" out=""
cleanup() {
    if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "instructions: $*" >&2; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
config() { # port → a config file path
    local f="$work/as.toml"
    {
        echo "listen = \"127.0.0.1:$1\""
        echo "backend = \"memory\""
        printf '[policy]\nscale_down = "ce"\nsettle_interval_secs = 0\nfollow_up_interval_secs = 0\n'
        for ((i = 0; i < FUNCTIONS; i++)); do
            printf '[[memory.functions]]\nname = "fn-%d"\n' "$i"
            if [ "$LABELS" = 1 ]; then printf '%s\n' "$TYPICAL_LABELS"; fi
        done
    } >"$f"
    echo "$f"
}

# WARMUP then N duplicates to URL (checked: all answered 200).
post_duplicates() { # url n
    timeout 300 hey -n "$WARMUP" -c 4 -m POST -T application/json -D "$DUP" "$1" >"$out.warmup" ||
        fail "hey failed or timed out against $name under $tool"
    timeout 300 hey -n "$2" -c 4 -m POST -T application/json -D "$DUP" "$1" >"$out.hey" ||
        fail "hey failed or timed out against $name under $tool"
    local ok
    ok=$(awk '/^ *\[200\][ \t]+[0-9]+ responses/ {print $2}' "$out.hey")
    [ "${ok:-0}" = "$2" ] || fail "$name under $tool: ${ok:-0} of $2 requests answered 200: $(cat "$out.hey")"
}
# A firing episode for each of HIGH functions, then N of them resolved (checked: no failure).
post_distinct() { # url n
    local step episode count file
    for step in "0 $HIGH warmup" "1 $2 load"; do
        read -r episode count file <<<"$step"
        timeout 300 "$LOAD" "$1" 0 4 "$count" "$episode" >"$out.$file" ||
            fail "load failed or timed out against $name under $tool: $(cat "$out.$file")"
        grep -q "^ *requests: $count\$" "$out.$file" && grep -q '^ *failures: 0$' "$out.$file" ||
            fail "$name under $tool: not $count requests without failure: $(cat "$out.$file")"
    done
}

# One measured run: the server under valgrind TOOL, one request to see it up (and to create the
# duplicate's episode), the MODE's warm-up then N requests, then SIGTERM (valgrind writes its output as the process ends).
# Sets $out to valgrind's output file (not printed: a subshell would lose the server's pid).
run() { # tool server n
    local tool=$1 name=$2 n=$3 port url
    port=$(free_port)
    out="$work/$name.$tool.$n"
    local cmd=("$BIN/alertscaler" serve --config "$(config "$port")")
    [ "$name" = bare ] && cmd=("$BIN/examples/bare" "127.0.0.1:$port")
    case $tool in
    callgrind) valgrind --tool=callgrind --callgrind-out-file="$out" "${cmd[@]}" >"$out.log" 2>&1 & ;;
    dhat) valgrind --tool=dhat --dhat-out-file="$out" "${cmd[@]}" >"$out.log" 2>&1 & ;;
    esac
    server=$!
    url="http://127.0.0.1:$port/system/alert"
    local up=""
    for _ in $(seq 600); do # up to a minute: start-up under valgrind is slow
        if curl -sf -o /dev/null -X POST -H 'content-type: application/json' --data-binary "@$DUP" "$url"; then up=1; break; fi
        kill -0 "$server" 2>/dev/null || fail "$name under $tool exited: $(tail -5 "$out.log")"
        sleep 0.1
    done
    [ -n "$up" ] || fail "$name under $tool did not come up"
    case $MODE in
    duplicate) post_duplicates "$url" "$n" ;;
    distinct) post_distinct "$url" "$n" ;;
    esac
    kill -TERM "$server"
    timeout 60 tail --pid="$server" -f /dev/null || fail "$name under $tool did not stop"
    wait "$server" 2>/dev/null || true
    server=""
}
instructions() { awk '/^(summary|totals):/ {print $2; exit}' "$1"; }
blocks() { sed -n 's/.*Total: .* in \([0-9,]*\) blocks.*/\1/p' "$1.log" | tr -d , | head -1; }
per_request() { awk -v a="$1" -v b="$2" -v n=$((HIGH - LOW)) 'BEGIN {printf "%.1f\n", (b - a) / n}'; }

median() { sort -g | awk '{v[NR]=$1} END {print v[int((NR + 1) / 2)]}'; }
for name in alertscaler bare; do
    for ((r = 1; r <= REPEAT; r++)); do
        run callgrind "$name" "$LOW"; low=$(instructions "$out")
        run callgrind "$name" "$HIGH"; high=$(instructions "$out")
        [ -n "$low" ] && [ -n "$high" ] || fail "no instruction count in callgrind's output for $name"
        per_request "$low" "$high" >>"$work/$name.ir"
    done
done
as_ir=$(median <"$work/alertscaler.ir"); bare_ir=$(median <"$work/bare.ir")

case $MODE in
duplicate) echo "user-space instructions per duplicate notification (callgrind; $HIGH − $LOW requests after $WARMUP, hey -c 4, FUNCTIONS=$FUNCTIONS, LABELS=$LABELS, RUST_LOG=$RUST_LOG)" ;;
distinct) echo "user-space instructions per distinct notification, a resolution that scales down (callgrind; $HIGH − $LOW requests after $HIGH firings, load -c 4, FUNCTIONS=$FUNCTIONS, LABELS=$LABELS, RUST_LOG=$RUST_LOG)" ;;
esac
printf '  alertscaler  %9.0f   (runs: %s)\n  bare axum    %9.0f   (runs: %s)\n  ratio        %9.3f\n' \
    "$as_ir" "$(xargs printf '%.0f ' <"$work/alertscaler.ir")" "$bare_ir" "$(xargs printf '%.0f ' <"$work/bare.ir")" \
    "$(awk -v a="$as_ir" -v b="$bare_ir" 'BEGIN {print a / b}')"
if [ "$DHAT" = 1 ]; then
    run dhat alertscaler "$LOW"; low=$(blocks "$out")
    run dhat alertscaler "$HIGH"; high=$(blocks "$out")
    [ -n "$low" ] && [ -n "$high" ] || fail "no allocation count in dhat's output"
    printf '  alertscaler heap allocations per request (dhat)  %.1f\n' "$(per_request "$low" "$high")"
fi
