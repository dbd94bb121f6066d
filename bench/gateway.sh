#!/usr/bin/env bash
# Whole-process gateway benchmark. Prints figures; asserts nothing (the
# machines are shared and noisy). Usage: bash bench/gateway.sh
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
CGO_ENABLED=0 go build -trimpath -o "$tmp/talon" ./cmd/talon
go build -o "$tmp/gwbench" ./bench/gwbench
export TALON_STATE_DIR="$tmp/state"
"$tmp/talon" config set logging.level warn >/dev/null
# A short keep-alive idle timeout so the idle-socket phase sees it reap.
"$tmp/talon" config set gateway.limits.idleTimeoutSec 5 >/dev/null
token=$("$tmp/talon" config get gateway.auth.token --reveal)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 18799)

rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
rss_mb() { awk -v k="$(rss_kb "$1")" 'BEGIN{printf "%.1f", k/1024}'; }
fds() { ls "/proc/$1/fd" | wc -l; }

# Start-up: process start to the listening line, 10 runs.
times=()
for _ in $(seq 10); do
	start=$(date +%s%N)
	"$tmp/talon" gateway run --port "$port" >"$tmp/out" 2>"$tmp/err" &
	pid=$!
	until grep -q "gateway listening" "$tmp/out" 2>/dev/null; do sleep 0.001; done
	end=$(date +%s%N)
	times+=($(( (end - start) / 1000 )))
	kill -TERM $pid; wait $pid || true
done
sorted=$(printf '%s\n' "${times[@]}" | sort -n)
echo "startup_to_listening_median_ms $(echo "$sorted" | sed -n 5p | awk '{printf "%.1f", $1/1000}')"
echo "startup_to_listening_max_ms $(echo "$sorted" | tail -1 | awk '{printf "%.1f", $1/1000}')"

"$tmp/talon" gateway run --port "$port" >"$tmp/out" 2>"$tmp/err" &
pid=$!
until grep -q "gateway listening" "$tmp/out" 2>/dev/null; do sleep 0.01; done
sleep 10
echo "idle_rss_after_10s_mb $(awk -v k="$(rss_kb $pid)" 'BEGIN{printf "%.1f", k/1024}')"
"$tmp/gwbench" -url "ws://127.0.0.1:$port" -token "$token" -calls 1000
echo "rss_after_1000_health_mb $(awk -v k="$(rss_kb $pid)" 'BEGIN{printf "%.1f", k/1024}')"
"$tmp/gwbench" -url "ws://127.0.0.1:$port" -token "$token" -calls 10000 | sed 's/^/10k_/'
ulimit -n 8192 2>/dev/null || true
"$tmp/gwbench" -url "ws://127.0.0.1:$port" -token "$token" -calls 0 -conns 1000 -hold 4s >"$tmp/conns" &
bpid=$!
until grep -q conns_holding "$tmp/conns" 2>/dev/null; do sleep 0.05; done
grep -v conns_holding "$tmp/conns"
echo "rss_with_1000_conns_mb $(awk -v k="$(rss_kb $pid)" 'BEGIN{printf "%.1f", k/1024}')"
wait $bpid
kill -TERM $pid; wait $pid || true

# Idle keep-alive sockets (HTTP/1.1 /healthz, then silence): what they cost
# the gateway, how many it keeps (gateway.limits.maxPreAuthConns, 256), how
# long the owner takes to connect meanwhile, and whether the idle timeout
# (5 s here) reaps them. A fresh gateway, so its memory is not the
# previous phase's.
"$tmp/talon" gateway run --port "$port" >"$tmp/out" 2>"$tmp/err" &
pid=$!
until grep -q "gateway listening" "$tmp/out" 2>/dev/null; do sleep 0.01; done
sleep 2
echo "fds_before_idle $(fds $pid)"
echo "rss_before_idle_mb $(rss_mb $pid)"
"$tmp/gwbench" -url "ws://127.0.0.1:$port" -token "$token" -calls 0 -idle 300 -idle-wait 8s >"$tmp/idle" &
bpid=$!
until grep -q idle_holding "$tmp/idle" 2>/dev/null; do sleep 0.05; done
echo "fds_with_300_idle $(fds $pid)"
echo "rss_with_300_idle_mb $(rss_mb $pid)"
until grep -q idle_measured "$tmp/idle" 2>/dev/null; do sleep 0.05; done
wait $bpid
grep -v -e idle_holding -e idle_measured "$tmp/idle"
echo "fds_after_idle_timeout $(fds $pid)"
kill -TERM $pid; wait $pid || true
echo "binary_size_mb $(du -m "$tmp/talon" | cut -f1)"
