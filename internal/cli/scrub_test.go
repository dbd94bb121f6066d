package cli

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/router"
	"github.com/talonclaw/talon/internal/secret"
	"github.com/talonclaw/talon/internal/secretstore"
	"github.com/talonclaw/talon/internal/testutil/fakellm"
	"github.com/talonclaw/talon/internal/testutil/faketelegram"
	"github.com/talonclaw/talon/internal/testutil/leakcheck"
)

// echoes is text quoting secret as upstream errors and pages do: raw,
// query-escaped in lower case, in Basic auth, and in base64 at an odd
// offset.
func echoes(secret string) string {
	return "key " + secret + " url https://x.example/?k=" + leakcheck.LowerEscape(secret) +
		" auth Basic " + base64.StdEncoding.EncodeToString([]byte("user:"+secret)) +
		" blob " + base64.RawURLEncoding.EncodeToString([]byte("xy"+secret+"z"))
}

// stateFiles is what Talon keeps on disk that must hold no secret: the
// database (transcripts, audit log) and the log file.
func stateFiles(t *testing.T, state string) map[string]string {
	out := map[string]string{}
	for _, f := range []string{"talon.db", "talon.db-wal", "logs/talon.log"} {
		if b, err := os.ReadFile(filepath.Join(state, f)); err == nil {
			out[f] = string(b)
		}
	}
	return out
}

// TestInvariant10_EncodedChannelTokenNeverInStatusOrLog: the Bot API (or a
// proxy in front of it) answers with errors that quote the bot token
// percent-encoded in lower case and in base64; the gateway's
// channels.status, its log file and its console show the errors but no
// trace of the token.
func TestInvariant10_EncodedChannelTokenNeverInStatusOrLog(t *testing.T) {
	fake := fakellm.New(t)
	tg := faketelegram.New(t)
	tg.FailPollsWith(http.StatusBadRequest, "Bad Request: wrong URL /bot"+leakcheck.LowerEscape(tg.Token)+"/getUpdates")
	tg.FailPollsWith(http.StatusBadGateway, "Bad Gateway: upstream said "+echoes(tg.Token))
	state := agentState(t, fake, `channels: { telegram: { botToken: "${TG_TOKEN}", apiBaseUrl: "`+tg.URL+`" } },`)
	t.Setenv("TG_TOKEN", tg.Token)
	t.Setenv("FAKE_KEY", "k")
	p, err := startGatewayProc(t, state, "--port", "0")
	if err != nil {
		t.Fatal(err)
	}
	var outs []string
	for _, want := range []string{"Bad Request: wrong URL", "Bad Gateway: upstream said"} {
		ok := waitFor(func() bool {
			out, _, rc := runTalon(t, state, "channels", "status", "--url", p.url, "--json")
			var st struct{ Channels []router.AccountStatus }
			if rc == 0 && json.Unmarshal([]byte(out), &st) == nil && len(st.Channels) == 1 && strings.Contains(st.Channels[0].LastError, want) {
				outs = append(outs, out)
				return true
			}
			return false
		})
		if !ok {
			t.Fatalf("channels.status never showed %q; stderr:\n%s", want, p.stderr.String())
		}
	}
	texts := map[string]string{"console": p.stderr.String()}
	for i, o := range outs {
		texts["channels.status "+string(rune('1'+i))] = o
	}
	for f, s := range stateFiles(t, state) {
		texts[f] = s
	}
	if !strings.Contains(texts["logs/talon.log"], "Bad Gateway: upstream said") {
		t.Fatalf("the failure is not in the log:\n%s", texts["logs/talon.log"])
	}
	for where, text := range texts {
		if f := leakcheck.Find(text, tg.Token); f != "" {
			t.Errorf("%s: %s", where, f)
		}
	}
}

// TestInvariant10_SearchKeyNeverReachesTheModel: tools.web.search.apiKey
// (set from ${BRAVE_KEY}; the config field is found by reflection, not a
// hand-kept list) comes back from a search backend that echoes it, raw and
// encoded, in its results. The model, the transcript and the reply never
// see it in any form.
func TestInvariant10_SearchKeyNeverReachesTheModel(t *testing.T) {
	const key = "BSAbraveKey-0123456789abcdefXYZ"
	brave := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := r.Header.Get("X-Subscription-Token")
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"web": map[string]any{"results": []map[string]string{
			{"title": "your key", "url": "https://x.example/?k=" + leakcheck.LowerEscape(got), "description": echoes(got)},
		}}})
	}))
	defer brave.Close()
	t.Setenv("BRAVE_KEY", key)
	fake := fakellm.New(t)
	fake.Script(fakellm.Reply{ToolCalls: []fakellm.Call{{ID: "s", Name: "web_search", Args: `{"query":"what is my key"}`}}},
		fakellm.Reply{Text: "done"})
	state := agentState(t, fake, `tools: { web: { search: { provider: "brave", apiKey: "${BRAVE_KEY}", baseUrl: "`+brave.URL+`" } } },`)
	out, errOut, code := runTalon(t, state, "agent", "--local", "--message", "search", "--json")
	if code != 0 {
		t.Fatalf("%d %s %s", code, out, errOut)
	}
	texts := map[string]string{"stdout": out, "stderr": errOut}
	var result string
	for i, r := range fake.Requests() {
		for _, m := range r.Messages {
			texts["model request "+string(rune('0'+i))+" "+m.Role] += m.Content + "\n"
			if m.ToolCallID == "s" {
				result = m.Content
			}
		}
	}
	if !strings.Contains(result, "[REDACTED:tools.web.search.apiKey]") {
		t.Errorf("the search did not run or was not scrubbed by name: %q", result)
	}
	for f, s := range stateFiles(t, state) {
		texts[f] = s
	}
	for where, text := range texts {
		if f := leakcheck.Find(text, key); f != "" {
			t.Errorf("%s: %s", where, f)
		}
	}
}

// TestInvariant10_ProviderErrorNeverReachesUserOrTranscript: the model
// provider fails with a message that quotes its own API key and the
// gateway token, raw and encoded; what the user sees (the --json error),
// the transcript and the audit log hold neither.
func TestInvariant10_ProviderErrorNeverReachesUserOrTranscript(t *testing.T) {
	const providerKey = "sk-fake-key-for-tests-0123456789" // FAKE_KEY in runTalon
	const gatewayToken = "test-token-0123456789-abcdefghij"
	fake := fakellm.New(t)
	fake.Script(fakellm.Reply{Status: http.StatusUnauthorized, Text: "invalid key: " + echoes(providerKey) + "; gateway " + echoes(gatewayToken)})
	state := agentState(t, fake, "")
	out, errOut, code := runTalon(t, state, "agent", "--local", "--message", "hi", "--json")
	if code != 1 || !strings.Contains(out, "invalid key") {
		t.Fatalf("want a failed turn naming the error: %d %s %s", code, out, errOut)
	}
	texts := map[string]string{"stdout": out, "stderr": errOut}
	for f, s := range stateFiles(t, state) {
		texts[f] = s
	}
	for where, text := range texts {
		for _, s := range []string{providerKey, gatewayToken} {
			if f := leakcheck.Find(text, s); f != "" {
				t.Errorf("%s: %.12s…: %s", where, s, f)
			}
		}
	}
}

// benchSecrets is a state dir with five talon secrets and a config with a
// gateway token and a provider key, as the per-delta benchmark before the
// shared scrubber had it.
func benchSecrets(b *testing.B) (*app, paths, *config.Config) {
	dir := b.TempDir()
	st, err := secretstore.Open(dir, "")
	if err != nil {
		b.Fatal(err)
	}
	for i := range 5 {
		if err := st.Set(fmt.Sprintf("S_%d", i), fmt.Sprintf("secret-value-%d-0123456789abcdef", i)); err != nil {
			b.Fatal(err)
		}
	}
	cfg := config.Default()
	cfg.Gateway.Auth.Token = secret.New("gateway-token-0123456789abcdef")
	cfg.Models.Providers = map[string]config.Provider{"p": {APIKey: secret.New("sk-provider-key-0123456789abcdef")}}
	return &app{}, paths{StateDir: dir}, cfg
}

// BenchmarkSecretSetBuild is what a config reload or a change of the
// secrets file costs: decrypting the secrets and building the Scrubber.
// Before the scrubber was shared, every streamed delta paid this (about
// 100 µs and 235 allocations on the reference machine).
func BenchmarkSecretSetBuild(b *testing.B) {
	a, p, cfg := benchSecrets(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.newSecretSet(p, cfg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScrubPerDelta is what the agent pays per streamed delta now:
// the shared scrubber through its atomic pointer, no file I/O, no build.
func BenchmarkScrubPerDelta(b *testing.B) {
	a, p, cfg := benchSecrets(b)
	sec, err := a.newSecretSet(p, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("Scrub", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sec.live.Scrub("Hello, the answer is")
		}
	})
	b.Run("Stream", func(b *testing.B) {
		b.ReportAllocs()
		w := sec.live.Stream()
		for b.Loop() {
			w.Write("Hello, the answer is")
		}
	})
}

// TestInvariant10_ScrubberBuiltOnceAndRebuiltOnChange: the scrubber is
// built when the runtime starts and reads nothing per use (it still
// scrubs a talon secret after the secrets files are gone); a config reload
// and a `talon secrets set` while running bring it up to date, and a
// secret once known stays known.
func TestInvariant10_ScrubberBuiltOnceAndRebuiltOnChange(t *testing.T) {
	dir := t.TempDir()
	st, err := secretstore.Open(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Set("FIRST", "first-stored-secret-0123"); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Tools.Web.Search.APIKey = secret.New("old-search-key-0123456789")
	a := &app{}
	sec, err := a.newSecretSet(paths{StateDir: dir}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	built := sec.live.Get()
	scrubbed := func(v string) bool { return leakcheck.Find(sec.live.Scrub("x "+v+" y"), v) == "" }

	// Per use nothing is read: with the secrets files gone, the stored
	// secret is still scrubbed, and by the same Scrubber.
	key, _ := os.ReadFile(filepath.Join(dir, "secrets.key"))
	data, _ := os.ReadFile(filepath.Join(dir, "secrets.json"))
	os.Remove(filepath.Join(dir, "secrets.key"))
	os.Remove(filepath.Join(dir, "secrets.json"))
	w := sec.live.Stream()
	for range 100 {
		w.Write("a delta ")
	}
	if !scrubbed("first-stored-secret-0123") || sec.live.Get() != built {
		t.Fatal("the scrubber read the secrets file or was rebuilt per use")
	}
	os.WriteFile(filepath.Join(dir, "secrets.key"), key, 0o600)
	os.WriteFile(filepath.Join(dir, "secrets.json"), data, 0o600)

	// A config reload with a new search key: both keys are scrubbed.
	next := *cfg
	next.Tools.Web.Search.APIKey = secret.New("new-search-key-0123456789")
	if err := sec.update(&next); err != nil {
		t.Fatal(err)
	}
	if !scrubbed("new-search-key-0123456789") || !scrubbed("old-search-key-0123456789") {
		t.Fatal("a config reload did not update the scrubber")
	}
	// The same config again swaps nothing.
	cur := sec.live.Get()
	if err := sec.update(&next); err != nil || sec.live.Get() != cur {
		t.Fatalf("an unchanged config rebuilt the scrubber (%v)", err)
	}

	// talon secrets set while running: the watcher picks it up.
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go sec.watch(ctx, 5*time.Millisecond, func() *config.Config { return &next }, func(err error) { t.Error(err) })
	st, _ = secretstore.Open(dir, "")
	if err := st.Set("SECOND", "second-stored-secret-0123"); err != nil {
		t.Fatal(err)
	}
	if !waitFor(func() bool { return scrubbed("second-stored-secret-0123") }) {
		t.Fatal("a secret set while running was not picked up")
	}
}
