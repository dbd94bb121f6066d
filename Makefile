# The one test entry point: README's second command, and what .ci/run calls.
GO ?= go
# The race detector needs cgo; use it where a C compiler is present.
RACE ?= $(shell [ "$$($(GO) env CGO_ENABLED)" = 1 ] && command -v gcc >/dev/null 2>&1 && echo -race)

.PHONY: test unit vet build static interop browser bench fuzz docs release repro vulncheck vulndb

test: vet static unit browser interop vulncheck repro

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l cmd internal bench)" || (echo "gofmt needed:"; gofmt -l cmd internal bench; exit 1)

# The daemon must build without cgo (one static binary).
static:
	CGO_ENABLED=0 $(GO) build -o /dev/null ./cmd/talon

unit:
	$(GO) test $(RACE) -count=1 ./...
	# WhatsApp (GPL-3.0 dependencies) is only in -tags whatsapp builds.
	$(GO) vet -tags whatsapp ./internal/channels/whatsapp ./internal/cli
	$(GO) test $(RACE) -count=1 -tags whatsapp ./internal/channels/whatsapp

# The Control UI in headless Chromium (Debian's chromium; see test/browser).
# Behind a build tag so that `go test ./...` above does not run it again.
# TALON_UI_SCREENSHOTS=1 rewrites the screenshots in docs/ui/.
browser:
	$(GO) test -count=1 -tags browser ./test/browser/

# The official OpenClaw and ClawHub CLIs against a running Talon (needs npm; see test/interop).
interop:
	bash test/interop/openclaw.sh
	bash test/interop/clawhub.sh

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags="-s -w" -o bin/talon ./cmd/talon

bench:
	bash bench/gateway.sh

# Short fuzzing runs of every fuzz target (seed corpora live in testdata/fuzz).
fuzz:
	$(GO) test ./internal/protocol -run '^$$' -fuzz FuzzDecodeRequest -fuzztime 30s
	$(GO) test ./internal/gateway -run '^$$' -fuzz FuzzHandshake -fuzztime 30s
	$(GO) test ./internal/config -run '^$$' -fuzz FuzzParse -fuzztime 30s
	$(GO) test ./internal/config -run '^$$' -fuzz FuzzEditInText -fuzztime 30s
	$(GO) test ./internal/policy/execplan -run '^$$' -fuzz FuzzConfiguresPrograms -fuzztime 30s
	$(GO) test ./internal/policy -run '^$$' -fuzz FuzzSkeleton -fuzztime 30s
	$(GO) test ./internal/redact -run '^$$' -fuzz FuzzScrub -fuzztime 30s
	$(GO) test ./internal/redact -run '^$$' -fuzz FuzzRedact -fuzztime 30s
	$(GO) test ./internal/netguard -run '^$$' -fuzz FuzzHostEntry -fuzztime 30s
	$(GO) test ./internal/approvals -run '^$$' -fuzz FuzzRender -fuzztime 30s
	$(GO) test ./internal/release -run '^$$' -fuzz FuzzVerify -fuzztime 30s
	$(GO) test ./internal/skills -run '^$$' -fuzz 'FuzzParse$$' -fuzztime 30s
	$(GO) test ./internal/skills -run '^$$' -fuzz FuzzDecodeBundle -fuzztime 30s
	$(GO) test ./internal/skills -run '^$$' -fuzz FuzzParseNetTarget -fuzztime 30s
	$(GO) test ./internal/hub -run '^$$' -fuzz FuzzPublish -fuzztime 30s

# Regenerate docs/configuration.md from the config types.
docs:
	$(GO) test ./internal/config -run TestDocs -update

# ---- Supply chain (docs/releases.md) ----

MODULE := github.com/talonclaw/talon
# Cache for the pinned vulnerability tooling, kept between CI runs.
TOOLCACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/talon-ci
GOVULNCHECK_VERSION := v1.9.0
VULNDB_SOURCE := golang.org/x/vulndb@v0.0.0-20261105234957-e22db6528018
GOVULNCHECK := $(TOOLCACHE)/govulncheck-$(GOVULNCHECK_VERSION)
VULNDB := $(TOOLCACHE)/vulndb-$(lastword $(subst @, ,$(VULNDB_SOURCE)))

# Release builds: no cgo, no paths, no build id, the version (and the
# maintainers' root keys and manifest URL) stamped at link time.
RELEASE_PLATFORMS := linux/amd64 linux/arm64 darwin/arm64
RELEASE_ROOT_KEYS ?=
RELEASE_MANIFEST_URL ?=
RELEASE_LDFLAGS = -buildid= -X $(MODULE)/internal/version.stamped=$(VERSION) \
	-X $(MODULE)/internal/release.linkedRootKeys=$(RELEASE_ROOT_KEYS) \
	-X $(MODULE)/internal/release.linkedManifestURL=$(RELEASE_MANIFEST_URL)
RELEASE_BUILD = CGO_ENABLED=0 $(GO) build -trimpath -ldflags="$(RELEASE_LDFLAGS)"

# make release VERSION=vX.Y.Z [RELEASE_ROOT_KEYS=…] [SIGNING_KEY=… SIGNING_KEYS=…]
# writes dist/: talon_<os>_<arch>, one CycloneDX SBOM each, the vulnerability
# database the release was checked against, and manifest.json (signed when
# SIGNING_KEY and SIGNING_KEYS are given, else unsigned for a later
# `talon release sign`).
release: vulncheck
	@case "$(VERSION)" in v[0-9]*.[0-9]*.[0-9]*) ;; *) echo "make release: VERSION=vX.Y.Z is required"; exit 2;; esac
	rm -rf dist && mkdir -p dist
	@for p in $(RELEASE_PLATFORMS); do \
		echo "build $$p"; \
		GOOS=$${p%/*} GOARCH=$${p#*/} $(RELEASE_BUILD) -o dist/talon_$${p%/*}_$${p#*/} ./cmd/talon || exit 1; \
	done
	cp $(VULNDB)/talon-vulndb.json dist/vulndb.json
	tar -C $(VULNDB) --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -czf dist/vulndb.tar.gz .
	$(GO) run ./cmd/talon release sign --dir dist --version $(VERSION) \
		$(if $(SIGNING_KEY),--key $(SIGNING_KEY) --signing-keys $(SIGNING_KEYS),--unsigned)

# Reproducibility: a second linux/amd64 release build, from a copy of the
# tree at another path, must be byte-identical to the first. It shares the
# build cache (cheap: mostly a relink); REPRO_COLD=1 compiles everything
# again with an empty cache (minutes).
repro: VERSION = v0.0.0-repro
repro:
	@tmp=$$(mktemp -d) && trap 'rm -rf $$tmp' EXIT && \
	GOOS=linux GOARCH=amd64 $(RELEASE_BUILD) -o $$tmp/a ./cmd/talon && \
	mkdir $$tmp/src && git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t $$tmp/src && \
	(cd $$tmp/src && $(if $(REPRO_COLD),GOCACHE=$$tmp/cache) GOOS=linux GOARCH=amd64 $(RELEASE_BUILD) -o $$tmp/b ./cmd/talon) && \
	if cmp -s $$tmp/a $$tmp/b; then echo "repro: two linux/amd64 builds are byte-identical ($$(sha256sum < $$tmp/a | cut -c1-16))"; \
	else echo "repro: linux/amd64 builds differ"; exit 1; fi

$(GOVULNCHECK):
	@mkdir -p $(TOOLCACHE)/bin
	cd $(TOOLCACHE) && GOBIN=$(TOOLCACHE)/bin GOFLAGS= $(GO) install golang.org/x/vuln/cmd/govulncheck@$(GOVULNCHECK_VERSION)
	mv $(TOOLCACHE)/bin/govulncheck $@

# The Go vulnerability database, built offline from golang.org/x/vulndb as
# served by the module proxy.
$(VULNDB)/index/db.json:
	@mkdir -p $(TOOLCACHE)
	dir=$$(cd $(TOOLCACHE) && GOFLAGS= $(GO) mod download -json $(VULNDB_SOURCE) | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p') && \
	test -n "$$dir" && $(GO) run ./internal/release/vulntool build -osv $$dir/data/osv -out $(VULNDB) -source $(VULNDB_SOURCE)

vulndb: $(VULNDB)/index/db.json

# govulncheck (source mode) against the local database only; fails on a
# reachable vulnerability not accepted in .ci/vulncheck-accept.txt.
vulncheck: $(GOVULNCHECK) $(VULNDB)/index/db.json
	$(GOVULNCHECK) -db file://$(VULNDB) -format json ./... > $(TOOLCACHE)/vulncheck.json
	$(GO) run ./internal/release/vulntool gate -accept .ci/vulncheck-accept.txt < $(TOOLCACHE)/vulncheck.json
