package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestDeps keeps the daemon's import graph honest: no cgo (one static
// binary), no GPL code in the default build (whatsmeow's libsignal stays
// behind the whatsapp build tag), no debug endpoints, no test-only modules.
func TestDeps(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	// importers maps each package in the graph to the packages importing it.
	importers := map[string][]string{}
	var deps []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		deps = append(deps, f[0])
		for _, imp := range f[1:] {
			importers[imp] = append(importers[imp], f[0])
		}
	}
	// Known exceptions, each with its reason. google.golang.org/genai (the
	// official Gemini SDK, chosen for the google-genai provider) imports
	// "testing" from non-test code; nothing else may.
	allowedImporters := map[string]map[string]bool{
		"testing": {"google.golang.org/genai": true},
	}
	forbidden := map[string]string{
		"runtime/cgo":                            "the daemon must build without cgo",
		"net/http/pprof":                         "debug handlers must not be reachable on the gateway port",
		"expvar":                                 "expvar registers a debug handler on the default mux",
		"testing":                                "test code must not ship in the daemon",
		"go.mau.fi/":                             "whatsmeow (GPL-3.0 libsignal) only with the whatsapp build tag",
		"github.com/rogpeppe/go-internal/":       "test-only module",
		"github.com/santhosh-tekuri/jsonschema/": "test-only module",
	}
	seen := 0
	for _, d := range deps {
		if strings.HasPrefix(d, "github.com/talonclaw/talon/internal/gateway") {
			seen++
		}
		for bad, why := range forbidden {
			if d == bad || (strings.HasSuffix(bad, "/") && strings.HasPrefix(d, bad)) {
				for _, by := range importers[d] {
					if !allowedImporters[d][by] {
						t.Errorf("cmd/talon imports %s (via %s): %s", d, by, why)
					}
				}
			}
		}
	}
	if seen == 0 {
		t.Fatal("dependency list does not include the gateway; the test is not looking at the daemon")
	}
}
