package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/talonclaw/talon/internal/testutil/fakellm"
)

// TestInvariant12_CLISideEffectsAuditedFirst: secrets set/rm, cron add/rm
// and sessions purge write their audit record before they act, and refuse
// — changing nothing — when the log cannot be written. The record of a
// secret names it and never holds its value.
func TestInvariant12_CLISideEffectsAuditedFirst(t *testing.T) {
	fake := fakellm.New(t)
	state := agentState(t, fake, "")
	const value = "ghp_0123456789abcdefghijklmnopqrstuvwxyz"
	if _, errOut, code := runTalon(t, state, "secrets", "set", "GITHUB_TOKEN", value); code != 0 {
		t.Fatal(errOut)
	}
	out, _, code := runTalon(t, state, "cron", "add", "@hourly", "check the build", "--json")
	if code != 0 {
		t.Fatal(out)
	}
	tail, _, _ := runTalon(t, state, "audit", "tail", "--json")
	// Each intent, then its outcome.
	for _, want := range []string{`"kind": "secret.set"`, `"subject": "GITHUB_TOKEN"`, `"kind": "cron.add"`, `"kind": "action.outcome"`, `"outcome": "done"`} {
		if !strings.Contains(tail, want) {
			t.Errorf("audit tail lacks %s:\n%s", want, tail)
		}
	}
	if strings.Count(tail, `"kind": "action.outcome"`) != 2 {
		t.Errorf("want two outcomes (secret set, cron add):\n%s", tail)
	}
	if strings.Contains(tail, value) {
		t.Fatal("the secret's value is in the audit log")
	}

	// The audit key cannot be read (a directory in its place): every
	// command refuses and nothing changes.
	key := filepath.Join(state, "audit.key")
	os.Remove(key)
	if err := os.Mkdir(key, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"secrets", "set", "OTHER_TOKEN", "x-value"},
		{"secrets", "rm", "GITHUB_TOKEN"},
		{"cron", "add", "@daily", "another job"},
		{"sessions", "purge", "--older-than", "1"},
	} {
		_, errOut, code := runTalon(t, state, args...)
		if code == 0 || !strings.Contains(errOut, "audit log could not record it") {
			t.Errorf("%v went ahead without its audit record: %d %q", args, code, errOut)
		}
	}
	os.Remove(key)
	names, _, _ := runTalon(t, state, "secrets", "list")
	if strings.TrimSpace(names) != "GITHUB_TOKEN" {
		t.Errorf("secrets changed without a record: %q", names)
	}
	jobs, _, _ := runTalon(t, state, "cron", "list")
	if strings.Count(jobs, "\n") != 1 || !strings.Contains(jobs, "check the build") {
		t.Errorf("cron jobs changed without a record:\n%s", jobs)
	}
}
