package config

import (
	"strings"
	"testing"
)

// TestEveryKeySaysWhetherItWidens: every key of the configuration carries a
// widens classification (its own tag or a section's), so a key that widens
// what strangers or the agent can do cannot be added without naming the
// audit check that reports it, or the reason none is needed. The security
// package checks that each named check exists and fires.
func TestEveryKeySaysWhetherItWidens(t *testing.T) {
	ws := Widenings()
	if len(ws) < 100 {
		t.Fatalf("only %d keys", len(ws))
	}
	seen := map[string]bool{}
	for _, w := range ws {
		if seen[w.Key] {
			t.Errorf("%s listed twice", w.Key)
		}
		seen[w.Key] = true
		if len(w.Triggers) == 0 && w.Reason == "" {
			t.Errorf("%s has no widens tag: add widens:\"VALUE => CHECK\" (the audit check that reports the widening value) or widens:\"-: REASON\" to it or its section in internal/config/types.go", w.Key)
		}
		if len(w.Triggers) > 0 && w.Reason != "" {
			t.Errorf("%s has both triggers and a reason", w.Key)
		}
	}
	for _, k := range SecretKeys() {
		if !seen[k] {
			t.Errorf("secret key %s missing from Widenings", k)
		}
	}
	for _, want := range []string{"channels.telegram.dmPolicy", "channels.slack.accounts.*.botToken", "accessGroups", "tools.exec.helpers", "tools.web.search.apiKey"} {
		if !seen[want] {
			t.Errorf("Widenings lacks %s", want)
		}
	}
}

func TestParseWidensRejectsMalformedTags(t *testing.T) {
	for _, tag := range []string{"-:", "open", "'open' =>", "=> x.y", "'open' => a b", "{bad => x.y"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%q accepted", tag)
				}
			}()
			parseWidens("k", tag)
		}()
	}
	got := parseWidens("k", "'a' => x.y; [1, 2] => z")
	if len(got.triggers) != 2 || got.triggers[1].Value != "[1, 2]" || got.triggers[1].Check != "z" {
		t.Errorf("parsed %+v", got)
	}
	if r := parseWidens("k", "-: because").reason; !strings.HasPrefix(r, "because") {
		t.Errorf("reason %q", r)
	}
}
