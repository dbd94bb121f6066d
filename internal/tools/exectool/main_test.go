package exectool

import (
	"os"
	"testing"

	"github.com/talonclaw/talon/internal/sandbox"
)

// TestMain lets the test binary serve as the sandbox helper, as the talon
// binary does.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == sandbox.HelperArg {
		sandbox.Main()
	}
	os.Exit(m.Run())
}
