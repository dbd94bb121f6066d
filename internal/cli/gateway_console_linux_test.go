package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/talonclaw/talon/internal/config"
)

// TestGatewayRunPrintsConsoleLink: with a configured token, a person at a
// terminal gets a Control UI link with the token in the fragment only; a
// run whose stderr is not a terminal (a service's log) gets the address
// without the token.
func TestGatewayRunPrintsConsoleLink(t *testing.T) {
	const tok = "console-link-token-0123456789-abcdefghij"
	state := filepath.Join(t.TempDir(), "state")
	if err := os.MkdirAll(state, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := config.WriteFileAtomic(filepath.Join(state, "talon.json"), []byte(`{ gateway: { auth: { token: "`+tok+`" } } }`), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startPTY(t, []string{"TALON_STATE_DIR=" + state, "HOME=" + state}, "gateway", "run", "--port", "0")
	line := p.expect("#token=" + tok)
	if !strings.Contains(line, "control ui: http://127.0.0.1:") || strings.Contains(p.output(), "?token=") {
		t.Fatalf("terminal shows %q", p.output())
	}
	g, err := startGatewayProc(t, state, "--port", "0")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(func() bool { return strings.Contains(g.stderr.String(), "control ui") })
	if s := g.stderr.String(); strings.Contains(s, tok) || !strings.Contains(s, "control ui: http://") {
		t.Fatalf("a non-terminal run printed %q", s)
	}
}
