package redact

import (
	"os"
	"os/exec"
	"testing"
)

// Loading the package (every talon process, the gateway's start-up
// included) compiles none of the redaction patterns; the first Redact
// does. The check runs in a fresh process,
// since other tests in this one have long compiled them.
func TestPatternsAreCompiledOnFirstUseNotAtStartup(t *testing.T) {
	if os.Getenv("TALON_TEST_LAZY_CHILD") == "1" {
		if n := patternsCompiled.Load(); n != 0 {
			t.Fatalf("%d patterns compiled before first use", n)
		}
		if got := Redact("key sk-abcdefghijklmnopqrstuvwxyz0123"); got == "key sk-abcdefghijklmnopqrstuvwxyz0123" {
			t.Fatalf("Redact left the key: %q", got)
		}
		if n := patternsCompiled.Load(); n == 0 {
			t.Fatal("no pattern compiled after use")
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestPatternsAreCompiledOnFirstUseNotAtStartup$", "-test.count=1")
	cmd.Env = append(os.Environ(), "TALON_TEST_LAZY_CHILD=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
}
