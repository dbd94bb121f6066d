# The one test entry point: README's second command, and what .ci/run calls.
GO ?= go
# The race detector needs cgo; use it where a C compiler is present.
RACE ?= $(shell [ "$$($(GO) env CGO_ENABLED)" = 1 ] && command -v gcc >/dev/null 2>&1 && echo -race)

.PHONY: test unit vet build static interop bench fuzz docs

test: vet static unit interop

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

# The official OpenClaw CLI against a running Talon (needs npm; see test/interop).
interop:
	bash test/interop/openclaw.sh

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
	$(GO) test ./internal/security -run '^$$' -fuzz FuzzScrub -fuzztime 30s
	$(GO) test ./internal/netguard -run '^$$' -fuzz FuzzHostEntry -fuzztime 30s
	$(GO) test ./internal/approvals -run '^$$' -fuzz FuzzRender -fuzztime 30s

# Regenerate docs/configuration.md from the config types.
docs:
	$(GO) test ./internal/config -run TestDocs -update
