package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestImportDirection keeps the packages' layers pointing one way: the
// store, the secret types, netguard and the protocol at the bottom import
// nothing of Talon's, nor does core, the shared vocabulary; the audit log
// only the store and core; config only netguard and secret; the policy
// only config, core and the exec planner; chat adapters reach the rest of
// Talon only through the channels package (never the agent, the gateway,
// the store or the router), and the channels package — the adapters'
// vocabulary — imports only approvals and redact: the pipeline that joins
// the channels to the agent is the router; tools (internal/tools/...) depend on core, never on the
// agent that runs them, the gateway or the channels (the session and cron
// tools read the store: transcripts and jobs are what they are about);
// and only the CLI (the composition root) imports
// the gateway, the release updater and the migration. A new import that
// breaks a layer fails here with the rule it breaks.
func TestImportDirection(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "github.com/talonclaw/talon/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	const mod = "github.com/talonclaw/talon/"
	imports := map[string][]string{} // package → the module's packages it imports
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		pkg := strings.TrimPrefix(f[0], mod)
		imports[pkg] = nil
		for _, imp := range f[1:] {
			if strings.HasPrefix(imp, mod) {
				imports[pkg] = append(imports[pkg], strings.TrimPrefix(imp, mod))
			}
		}
	}
	if len(imports) < 30 {
		t.Fatalf("go list saw only %d packages", len(imports))
	}
	// only: the package may import these of Talon's and nothing else.
	only := map[string][]string{
		"internal/store":           {},
		"internal/secret":          {},
		"internal/netguard":        {},
		"internal/protocol":        {},
		"internal/sandbox":         {},
		"internal/policy/execplan": {},
		"internal/version":         {},
		"internal/core":            {},
		"internal/auditlog":        {"internal/store", "internal/core"},
		"internal/config":          {"internal/netguard", "internal/secret"},
		"internal/policy":          {"internal/config", "internal/core", "internal/policy/execplan"},
		"internal/approvals":       {"internal/auditlog", "internal/core", "internal/store"},
		"internal/release":         {"internal/netguard"},
		"internal/channels":        {"internal/approvals", "internal/redact"},
	}
	for pkg, allowed := range only {
		if _, ok := imports[pkg]; !ok {
			t.Errorf("rule for %s, which does not exist", pkg)
		}
		for _, imp := range imports[pkg] {
			if !slices.Contains(allowed, imp) {
				t.Errorf("%s imports %s; it may import only %v", pkg, imp, allowed)
			}
		}
	}
	// never: packages under a prefix never import these.
	never := []struct {
		prefix, why string
		forbidden   []string
	}{
		{"internal/channels/", "chat adapters talk to the rest through the channels package and the router", []string{"internal/agent", "internal/gateway", "internal/store", "internal/cli", "internal/router"}},
		{"internal/tools/", "tools depend on core, never on the agent that runs them, the gateway or the channels", []string{"internal/agent", "internal/gateway", "internal/channels", "internal/cli"}},
	}
	for pkg, imps := range imports {
		for _, n := range never {
			if !strings.HasPrefix(pkg, n.prefix) || strings.HasPrefix(pkg, "internal/testutil") {
				continue
			}
			for _, imp := range imps {
				if slices.Contains(n.forbidden, imp) {
					t.Errorf("%s imports %s: %s", pkg, imp, n.why)
				}
			}
		}
	}
	// onlyCLI: only the composition root (and the command) imports these.
	for _, target := range []string{"internal/gateway", "internal/release", "internal/migrate", "internal/cli"} {
		for pkg, imps := range imports {
			// bench/ holds the benchmark clients (the gateway's Go client).
			if pkg == "internal/cli" || pkg == "cmd/talon" || strings.HasPrefix(pkg, "bench/") || strings.HasPrefix(pkg, target+"/") || !slices.Contains(imps, target) {
				continue
			}
			t.Errorf("%s imports %s: only the CLI, the composition root, may", pkg, target)
		}
	}
}
