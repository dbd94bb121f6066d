package secret

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// TestSecretNeverPrints guards invariant 10: no formatting path reveals the value.
func TestSecretNeverPrints(t *testing.T) {
	const val = "hunter2-very-secret-token-value"
	s := New(val)
	type holder struct {
		Token Secret `json:"token"`
	}
	var outs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
		outs = append(outs, fmt.Sprintf(verb, s), fmt.Sprintf(verb, holder{s}), fmt.Sprintf(verb, &holder{s}))
	}
	outs = append(outs, s.String(), fmt.Sprint(s), fmt.Sprintln(s))
	j, _ := json.Marshal(holder{s})
	outs = append(outs, string(j))
	tx, _ := s.MarshalText()
	outs = append(outs, string(tx))
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "token", s, "h", holder{s})
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "token", s)
	outs = append(outs, buf.String())
	for _, o := range outs {
		if strings.Contains(o, val) || strings.Contains(o, fmt.Sprintf("%x", val)) {
			t.Fatalf("secret leaked: %q", o)
		}
	}
	if !strings.Contains(string(j), `"***"`) {
		t.Fatalf("json = %s, want ***", j)
	}
}

func TestSecretRoundTrip(t *testing.T) {
	var h struct {
		Token Secret `json:"token"`
	}
	if err := json.Unmarshal([]byte(`{"token":"abc"}`), &h); err != nil {
		t.Fatal(err)
	}
	if h.Token.Reveal() != "abc" || !h.Token.Equal("abc") || h.Token.Equal("abd") || h.Token.Equal("") {
		t.Fatalf("bad round trip")
	}
	if err := json.Unmarshal([]byte(`{"token":5}`), &h); err == nil {
		t.Fatal("number accepted as secret")
	}
	var zero Secret
	if zero.Equal("") || zero.String() != "" || !zero.IsZero() {
		t.Fatal("zero secret must be unset and equal nothing")
	}
}
