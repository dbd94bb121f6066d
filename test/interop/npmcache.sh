# Sourced by the interop scripts: npm packages installed once into a cache
# directory (kept between CI runs) and reused. Needs `log` and `$work`.

# npm_cached DIR FILE PKG@VERSION...: install the packages into DIR unless
# DIR is complete and holds FILE. The install goes to a staging directory
# that is renamed into place, so an interrupted install is never used.
# --ignore-scripts: a package's install scripts would run under whatever
# `node` is on PATH (OpenClaw's refuses an old one) and add only optional
# native helpers the clients do not need.
npm_cached() {
	local dir=$1 file=$2
	shift 2
	if [[ -f "$dir/.complete" && -e "$dir/$file" ]]; then
		return 0
	fi
	command -v npm >/dev/null || { log "npm not found; it is needed once to install $*"; exit 1; }
	local cache_root staging
	cache_root=$(dirname "$dir")
	mkdir -p "$cache_root"
	staging=$(mktemp -d "$cache_root/.install.XXXXXX")
	log "installing $* into $dir"
	if ! npm install --prefix "$staging" --cache "$cache_root/npm-cache" \
		--no-audit --no-fund --ignore-scripts --loglevel=error "$@" >"$work/npm.log" 2>&1; then
		cat "$work/npm.log" >&2
		rm -rf "$staging"
		log "npm install failed"
		exit 1
	fi
	touch "$staging/.complete"
	rm -rf "$dir"
	mv "$staging" "$dir"
}
