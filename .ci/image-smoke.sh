#!/usr/bin/env bash
# Smoke test of the container image, called by .ci/run: build the release binary, assemble the image
# offline (scripts/image.sh), run it with podman on a free loopback port (host network) with a
# mounted configuration and a read-only root, post fixtures/firing.json with basic auth, check the
# answer, /healthz and /metrics, stop it with SIGTERM and check it exited 0; run it again without a
# configuration (no network) and check it listens on 0.0.0.0:8080, the image's default (the mounted
# configuration's 127.0.0.1 listen above wins over that default); print the image size.
# Every step is bounded in time; the container, the image and the temporary files are removed on
# exit, also on failure. Needs buildah, podman, runc, curl, python3 (.ci/run installs the first four).
#
# podman flags, as these machines need them: runc (crun cannot run under hybrid cgroups), the
# cgroupfs manager and file events (no systemd), and ulimits pinned to the current hard limits
# (runc cannot raise the open-file hard limit).
set -euo pipefail
cd "$(dirname "$0")/.."

driver=${STORAGE_DRIVER:-vfs}
podman=(podman --storage-driver "$driver" --runtime runc --cgroup-manager cgroupfs --events-backend file)
tag="localhost/alertscaler:smoke-$$"
name="alertscaler-smoke-$$"
dir=$(mktemp -d)
cleanup() {
  trap '' INT TERM # a second Ctrl-C must not cut the clean-up short; each step is bounded
  rm -rf "$dir"
  timeout 30 "${podman[@]}" rm -f -t 0 "$name" >/dev/null 2>&1 || true
  timeout 30 "${podman[@]}" rmi -f "$tag" >/dev/null 2>&1 || true
}
trap cleanup EXIT
# `bounded SECS CMD…` is timeout(1) that Ctrl-C also stops: timeout runs CMD in a process group of its
# own, which the terminal's SIGINT does not reach, and bash runs no trap while a foreground command
# runs. In the background, `wait` returns on the signal and the trap stops timeout, which stops CMD's group.
bounded_pid=""
bounded() {
  timeout "$@" &
  bounded_pid=$!
  local status=0
  wait "$bounded_pid" || status=$?
  bounded_pid=""
  return "$status"
}
interrupted() {
  [ -z "$bounded_pid" ] || kill -TERM "$bounded_pid" 2>/dev/null || true
  echo "image smoke: interrupted" >&2
  exit 130
}
trap interrupted INT TERM
pod() { bounded 60 "${podman[@]}" "$@"; }
fail() { echo "image smoke: FAILED: $*" >&2; pod logs "$name" 2>&1 | tail -20 >&2 || true; exit 1; }
step() { echo "image smoke: $*"; }

if [ -z "${ALERTSCALER_BIN:-}" ]; then
  step "release build (a few minutes on 2 cores when not cached)"
  bounded 1500 cargo build --release --locked --bin alertscaler
fi
step "assemble the image $tag"
STORAGE_DRIVER=$driver bounded 120 scripts/image.sh "$tag" >/dev/null

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
password="smoke-$RANDOM-$RANDOM"
cat >"$dir/config.toml" <<EOF
listen = "127.0.0.1:$port"
backend = "memory"
[labels]
min = 1
max = 20
factor = 20
[policy]
scale_down = "ce"
[auth]
mode = "basic"
username = "alertmanager"
password_file = "/etc/alertscaler/password"
[[memory.functions]]
name = "echo-fn"
replicas = 1
EOF
printf '%s\n' "$password" >"$dir/password"
chmod 755 "$dir" && chmod 644 "$dir/config.toml" "$dir/password"

nofile=$(ulimit -Hn)
[ "$nofile" = unlimited ] && nofile=1048576
step "run it on 127.0.0.1:$port"
pod run -d --pull never --name "$name" --network host --read-only \
  --ulimit "nofile=$nofile:$nofile" --ulimit nproc=32768:32768 \
  -v "$dir:/etc/alertscaler:ro" "$tag" --log-format json --config /etc/alertscaler/config.toml >/dev/null \
  || fail "podman run"

# The entrypoint is `alertscaler` without a path: the image must carry PATH itself (podman adds a
# default when it has none; not every runtime does).
env=$(pod image inspect --format '{{range .Config.Env}}{{println .}}{{end}}' "$tag")
grep -q '^PATH=.*/usr/local/bin' <<<"$env" || fail "the image sets no PATH with /usr/local/bin: $env"
# Distroless's nonroot working directory, the user's own: a relative path (the openfaas backend's
# default state_file) must be writable there, as in the Containerfile's image.
workdir=$(pod image inspect --format '{{.Config.WorkingDir}}' "$tag")
[ "$workdir" = /home/nonroot ] || fail "working directory ${workdir:-/}, not /home/nonroot"
user=$(pod inspect --format '{{.Config.User}}' "$name")
[ "$user" = 65532:65532 ] || fail "runs as $user, not the non-root 65532:65532"
base="http://127.0.0.1:$port"
for _ in $(seq 1 100); do
  curl -fsS --max-time 1 "$base/healthz" >"$dir/healthz" 2>/dev/null && break
  [ "$(pod inspect --format '{{.State.Running}}' "$name")" = true ] || fail "the container exited"
  sleep 0.2
done
grep -q '"status":"ok"' "$dir/healthz" || fail "/healthz answered: $(cat "$dir/healthz")"

code=$(curl -sS --max-time 10 -o "$dir/answer" -w '%{http_code}' -u "alertmanager:$password" \
  -H 'Content-Type: application/json' --data-binary @fixtures/firing.json "$base/system/alert")
step "firing.json → HTTP $code $(head -c 300 "$dir/answer")"
[ "$code" = 200 ] || fail "expected 200"
grep -q '"function":"echo-fn.openfaas-fn","outcome":"scaled","from":1,"to":5' "$dir/answer" || fail "echo-fn was not scaled"
code=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' -u "alertmanager:wrong" \
  -H 'Content-Type: application/json' --data-binary @fixtures/firing.json "$base/system/alert")
[ "$code" = 401 ] || fail "a wrong password got $code, not 401"
curl -fsS --max-time 10 -o "$dir/metrics" "$base/metrics" || fail "/metrics"
grep -q '^alertscaler_scale_actions_total{.*echo-fn.*} 1$' "$dir/metrics" \
  || fail "/metrics does not count the scale action: $(grep scale_actions "$dir/metrics")"

step "stop with SIGTERM"
pod stop -t 20 "$name" >/dev/null || fail "podman stop"
exit_code=$(pod inspect --format '{{.State.ExitCode}}' "$name")
[ "$exit_code" = 0 ] || fail "exit code $exit_code after SIGTERM (137 would mean it had to be killed)"

bare="$name-bare"
cleanup_bare() {
  trap '' INT TERM
  timeout 30 "${podman[@]}" rm -f -t 0 "$bare" >/dev/null 2>&1 || true
  cleanup
}
trap cleanup_bare EXIT
step "run it without a configuration: listens on 0.0.0.0:8080"
pod run -d --pull never --name "$bare" --network none --read-only \
  --ulimit "nofile=$nofile:$nofile" --ulimit nproc=32768:32768 "$tag" --log-format json >/dev/null \
  || fail "podman run without a configuration"
serving=""
for _ in $(seq 1 100); do
  serving=$(pod logs "$bare" 2>&1 | grep '"alertscaler serving"' || true)
  [ -n "$serving" ] && break
  [ "$(pod inspect --format '{{.State.Running}}' "$bare")" = true ] || fail "the bare container exited: $(pod logs "$bare" 2>&1 | tail -5)"
  sleep 0.2
done
grep -q '"listen":"0.0.0.0:8080"' <<<"$serving" || fail "without a configuration it does not listen on 0.0.0.0:8080: $serving"
pod stop -t 20 "$bare" >/dev/null || fail "podman stop (bare)"

size=$(pod image inspect --format '{{.Size}}' "$tag")
binary=$(stat -c %s "${ALERTSCALER_BIN:-${CARGO_TARGET_DIR:-target}/release/alertscaler}")
step "passed: image $((size / 1000000)) MB (unstripped binary $((binary / 1000000)) MB), exit 0 after SIGTERM"
