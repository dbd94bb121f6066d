package llm

import (
	"encoding/base64"
	"net/url"
	"strings"
	"testing"

	"github.com/talonclaw/talon/internal/secret"
	"github.com/talonclaw/talon/internal/testutil/fakellm"
	"github.com/talonclaw/talon/internal/testutil/leakcheck"
)

// echoes is a provider error text quoting key as servers and proxies do:
// in Basic auth, query-escaped in lower case, and in a JSON body.
func echoes(key string) string {
	q := strings.NewReplacer("%3A", "%3a", "%2F", "%2f", "%2B", "%2b").Replace(url.QueryEscape(key))
	return "Incorrect API key provided (Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("user:"+key)) +
		") for https://api.example.com/v1/chat?key=" + q + ` {"key":"` + key + `"}`
}

// TestInvariant10_ProviderErrorNeverEchoesKey: whatever form a provider's
// error message quotes its API key in, the error the agent (and through
// it the user, the log and the audit) gets has no trace of it.
func TestInvariant10_ProviderErrorNeverEchoesKey(t *testing.T) {
	const key = "sk-live:Q7vT2mX9+kL4pR8/sN1wB6yC3zD5"
	fake := fakellm.New(t)
	fake.Script(fakellm.Reply{Status: 401, Text: echoes(key)})
	p := newTestOpenAI(t, fake.URL, key)
	_, err := p.Chat(ctxT(t), Request{Model: "m", Messages: []Message{{Role: RoleUser, Content: "x"}}}, nil)
	if err == nil || !strings.Contains(err.Error(), "Incorrect API key provided") {
		t.Fatalf("err %v", err)
	}
	if f := leakcheck.Find(err.Error(), key); f != "" {
		t.Errorf("openai: %s in %v", f, err)
	}
	// The SDK-based providers (anthropic, gemini) share sdkRedact.
	if got := sdkRedact(echoes(key), keyScrubber(secret.New(key))); leakcheck.Find(got, key) != "" {
		t.Errorf("sdkRedact: %s in %q", leakcheck.Find(got, key), got)
	}
}
