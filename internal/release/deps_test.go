package release

import (
	"os/exec"
	"strings"
	"testing"
)

// TestInvariant13_UpdateUnreachableFromTools: replacing the binary is an
// operator's act. No package a model or a remote client can drive (agent
// turn loop, tools, policy, approvals, gateway methods, channels, cron,
// skills) may import this package, so no tool call or gateway frame can
// reach the updater, whatever the model says.
func TestInvariant13_UpdateUnreachableFromTools(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	const self = "github.com/talonclaw/talon/internal/release"
	pkgs := []string{"agent", "tools", "policy", "approvals", "gateway", "channels", "cron", "llm", "access", "sandbox"}
	args := []string{"list", "-deps", "-f", "{{.ImportPath}}"}
	for _, p := range pkgs {
		args = append(args, "github.com/talonclaw/talon/internal/"+p+"/...")
	}
	out, err := exec.Command("go", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	sawGateway := false
	for _, d := range deps {
		if d == self || strings.HasPrefix(d, self+"/") {
			t.Errorf("%s is reachable from the agent/tool/gateway packages; only internal/cli may import it", d)
		}
		if d == "github.com/talonclaw/talon/internal/gateway" {
			sawGateway = true
		}
	}
	if !sawGateway {
		t.Fatal("the dependency list does not include the gateway; the test is not looking at the right packages")
	}
}
