#!/usr/bin/env bash
# Whole-process gateway benchmark. Prints figures; asserts nothing (the
# machines are shared and noisy).
#
# Usage: bash bench/gateway.sh [--update-readme]
#
# With --update-readme the figures also replace the gateway table in
# README.md's Performance section (between the bench:gateway markers),
# through go run ./bench/readmetable: the table is generated, never edited
# by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
update_readme=
case "${1:-}" in
--update-readme) update_readme=1 ;;
"") ;;
*) echo "usage: bash bench/gateway.sh [--update-readme]" >&2; exit 2 ;;
esac
if [ -n "$update_readme" ]; then
	out=$(mktemp)
	bash "$0" | tee "$out"
	go run ./bench/readmetable -readme README.md <"$out"
	rm -f "$out"
	exit 0
fi
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
echo "bench_date $(date -u +%Y-%m-%d)"
echo "bench_go $(go env GOVERSION)"
echo "bench_cpus $(nproc)"
# The same flags as make build (stripped: no symbol table or DWARF).
CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o "$tmp/talon" ./cmd/talon
go build -o "$tmp/gwbench" ./bench/gwbench
export TALON_STATE_DIR="$tmp/state"
"$tmp/talon" config set logging.level warn >/dev/null
# A short keep-alive idle timeout so the idle-socket phase sees it reap.
"$tmp/talon" config set gateway.limits.idleTimeoutSec 5 >/dev/null
token=$("$tmp/talon" config get gateway.auth.token --reveal)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 18799)

rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
rss_mb() { awk -v k="$(rss_kb "$1")" 'BEGIN{printf "%.1f", k/1024}'; }
# Resident memory split: anonymous (heap, stacks) and file-backed (pages
# of the binary mapped in).
anon_mb() { awk '/^Anonymous:/ {printf "%.1f", $2/1024}' "/proc/$1/smaps_rollup"; }
fds() { ls "/proc/$1/fd" | wc -l; }
# wait_listening PID POLL: until the gateway prints its listening line;
# fails instead of waiting forever if it exits first.
wait_listening() {
	until grep -q "gateway listening" "$tmp/out" 2>/dev/null; do
		if ! kill -0 "$1" 2>/dev/null; then
			echo "bench: the gateway exited before listening" >&2
			cat "$tmp/err" >&2 2>/dev/null || true
			exit 1
		fi
		sleep "$2"
	done
}

# Start-up: process start to the listening line, 10 runs.
times=()
for _ in $(seq 10); do
	start=$(date +%s%N)
	"$tmp/talon" gateway run --port "$port" >"$tmp/out" 2>"$tmp/err" &
	pid=$!
	wait_listening $pid 0.001
	end=$(date +%s%N)
	times+=($(( (end - start) / 1000 )))
	kill -TERM $pid; wait $pid || true
done
sorted=$(printf '%s\n' "${times[@]}" | sort -n)
echo "startup_to_listening_median_ms $(echo "$sorted" | sed -n 5p | awk '{printf "%.1f", $1/1000}')"
echo "startup_to_listening_max_ms $(echo "$sorted" | tail -1 | awk '{printf "%.1f", $1/1000}')"

"$tmp/talon" gateway run --port "$port" >"$tmp/out" 2>"$tmp/err" &
pid=$!
wait_listening $pid 0.01
sleep 10
echo "idle_rss_after_10s_mb $(rss_mb $pid)"
echo "idle_anon_after_10s_mb $(anon_mb $pid)"
"$tmp/gwbench" -url "ws://127.0.0.1:$port" -token "$token" -calls 1000
echo "rss_after_1000_health_mb $(rss_mb $pid)"
echo "anon_after_1000_health_mb $(anon_mb $pid)"
"$tmp/gwbench" -url "ws://127.0.0.1:$port" -token "$token" -calls 10000 | sed 's/^/10k_/'
ulimit -n 8192 2>/dev/null || true
"$tmp/gwbench" -url "ws://127.0.0.1:$port" -token "$token" -calls 0 -conns 1000 -hold 4s >"$tmp/conns" &
bpid=$!
until grep -q conns_holding "$tmp/conns" 2>/dev/null; do sleep 0.05; done
grep -v conns_holding "$tmp/conns"
echo "rss_with_1000_conns_mb $(rss_mb $pid)"
wait $bpid
kill -TERM $pid; wait $pid || true

# Idle keep-alive sockets (HTTP/1.1 /healthz, then silence): what they cost
# the gateway, how many it keeps (gateway.limits.maxPreAuthConns, 256), how
# long the owner takes to connect meanwhile, and whether the idle timeout
# (5 s here) reaps them. A fresh gateway, so its memory is not the
# previous phase's.
"$tmp/talon" gateway run --port "$port" >"$tmp/out" 2>"$tmp/err" &
pid=$!
wait_listening $pid 0.01
# Past the gateway's start-up release (2 s after listening), so the baseline
# is idle memory, not start-up's.
sleep 4
echo "fds_before_idle $(fds $pid)"
echo "rss_before_idle_mb $(rss_mb $pid)"
echo "anon_before_idle_mb $(anon_mb $pid)"
"$tmp/gwbench" -url "ws://127.0.0.1:$port" -token "$token" -calls 0 -idle 300 -idle-wait 8s >"$tmp/idle" &
bpid=$!
until grep -q idle_holding "$tmp/idle" 2>/dev/null; do sleep 0.05; done
echo "fds_with_300_idle $(fds $pid)"
echo "rss_with_300_idle_mb $(rss_mb $pid)"
echo "anon_with_300_idle_mb $(anon_mb $pid)"
until grep -q idle_measured "$tmp/idle" 2>/dev/null; do sleep 0.05; done
wait $bpid
grep -v -e idle_holding -e idle_measured "$tmp/idle"
echo "fds_after_idle_timeout $(fds $pid)"
kill -TERM $pid; wait $pid || true
echo "binary_size_mb $(awk -v b="$(stat -c %s "$tmp/talon")" 'BEGIN{printf "%.1f", b/1048576}')"
