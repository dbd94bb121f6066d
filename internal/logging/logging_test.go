package logging

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/talonclaw/talon/internal/redact"
	"github.com/talonclaw/talon/internal/secret"
	"github.com/talonclaw/talon/internal/testutil/leakcheck"
)

const leak = "hunter2-LEAK-4f9a"

// fakeKey is a credential in a known format (an OpenAI-style key), split so
// that secret scanners do not flag this file.
var fakeKey = "sk-" + "proj-" + "Q7vT2mX9kL4pR8sN1wB6yC3zD5fG0hJ2aE4uI6oP8"

func newLogger(t *testing.T, opts Options) (*Logger, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	opts.Stderr = &syncWriter{w: &buf}
	l, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, &buf
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func TestLevels(t *testing.T) {
	for _, tt := range []struct {
		level string
		want  []string
	}{
		{"debug", []string{"d", "i", "w", "e"}},
		{"", []string{"i", "w", "e"}},
		{"INFO", []string{"i", "w", "e"}},
		{"warn", []string{"w", "e"}},
		{"error", []string{"e"}},
	} {
		l, buf := newLogger(t, Options{Level: tt.level, Format: "json"})
		l.Debug("d")
		l.Info("i")
		l.Warn("w")
		l.Error("e")
		if got := msgs(t, buf); !slices.Equal(got, tt.want) {
			t.Errorf("level %q: logged %v, want %v", tt.level, got, tt.want)
		}
	}
	for _, bad := range []string{"verbose", "warning", "trace", "0", ""} {
		if _, err := ParseLevel(bad); err == nil {
			t.Errorf("ParseLevel(%q): no error", bad)
		}
	}
	if _, err := New(Options{Level: "loud"}); err == nil {
		t.Error("New with a bad level: no error")
	}
	if _, err := New(Options{Format: "xml"}); err == nil {
		t.Error("New with a bad format: no error")
	}
}

// msgs returns the msg of each JSON record in buf, and empties it.
func msgs(t *testing.T, buf *bytes.Buffer) []string {
	t.Helper()
	var out []string
	for _, rec := range records(t, buf.String()) {
		out = append(out, rec["msg"].(string))
	}
	buf.Reset()
	return out
}

func records(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("not a JSON record: %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

func TestSetLevelLive(t *testing.T) {
	l, buf := newLogger(t, Options{Level: "info", Format: "json"})
	child := l.With("component", "gateway") // derived before the change
	child.Debug("before")
	if err := l.SetLevel("debug"); err != nil {
		t.Fatal(err)
	}
	child.Debug("after")
	if l.Level() != slog.LevelDebug {
		t.Errorf("Level() = %v", l.Level())
	}
	if err := l.SetLevel("shout"); err == nil {
		t.Error("SetLevel(shout): no error")
	}
	l.Debug("still debug")
	if got := msgs(t, buf); !slices.Equal(got, []string{"after", "still debug"}) {
		t.Errorf("logged %v", got)
	}
	if err := l.SetLevel("error"); err != nil {
		t.Fatal(err)
	}
	child.Warn("dropped")
	if got := msgs(t, buf); len(got) != 0 {
		t.Errorf("logged %v after SetLevel(error)", got)
	}
}

func TestFormats(t *testing.T) {
	l, buf := newLogger(t, Options{Format: "json"})
	l.Info("hello", "n", 3, slog.Group("g", "a", "b"))
	recs := records(t, buf.String())
	if len(recs) != 1 || recs[0]["msg"] != "hello" || recs[0]["n"] != 3.0 || recs[0]["level"] != "INFO" {
		t.Errorf("json record = %v", recs)
	}
	if g, _ := recs[0]["g"].(map[string]any); g["a"] != "b" {
		t.Errorf("json group = %v", recs[0]["g"])
	}

	l, buf = newLogger(t, Options{Format: "text"})
	l.Info("hello world", "n", 3)
	out := buf.String()
	for _, want := range []string{"level=INFO", `msg="hello world"`, "n=3"} {
		if !strings.Contains(out, want) {
			t.Errorf("text output %q lacks %q", out, want)
		}
	}
}

// TestSensitiveKeysRedacted guards invariant 10 for keyed values: they are
// masked in both formats even with RedactSensitive off.
func TestSensitiveKeysRedacted(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		for _, redact := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/redact=%v", format, redact), func(t *testing.T) {
				l, buf := newLogger(t, Options{Format: format, RedactSensitive: redact})
				hdr := http.Header{}
				hdr.Set("Authorization", "Bearer "+leak)
				hdr.Set("Accept", "text/plain")
				l.Info("request",
					"token", leak,
					"apiKey", leak,
					"TELEGRAM_BOT_TOKEN", leak,
					"password", 12345678,
					"authorization", []string{leak},
					slog.Group("auth", "botToken", leak, "mode", "token"),
					slog.Group("credentials", "user", leak),
					"headers", hdr,
					"config", map[string]any{"provider": map[string]string{"api_key": leak, "baseUrl": "http://x"}},
					"inputTokens", 1200, "maxTokens", 8192, "sessionKey", "agent:main:dm:1",
					"emptyToken", "",
				)
				l.With("cookie", leak).Info("bound")
				out := buf.String()
				if strings.Contains(out, leak) || strings.Contains(out, "12345678") {
					t.Fatalf("secret leaked:\n%s", out)
				}
				for _, want := range []string{"1200", "8192", "agent:main:dm:1", "text/plain", "http://x"} {
					if !strings.Contains(out, want) {
						t.Errorf("output lacks the non-secret %q:\n%s", want, out)
					}
				}
				if format == "json" {
					recs := records(t, out)
					r := recs[0]
					if r["token"] != "***" || r["emptyToken"] != "" {
						t.Errorf("token = %v, emptyToken = %v", r["token"], r["emptyToken"])
					}
					if a := r["auth"].(map[string]any); a["mode"] != "token" || a["botToken"] != "***" {
						t.Errorf("auth group = %v", a)
					}
					if h := r["headers"].(map[string]any); h["Authorization"] != "***" {
						t.Errorf("headers = %v", h)
					}
					if recs[1]["cookie"] != "***" {
						t.Errorf("bound cookie = %v", recs[1]["cookie"])
					}
				}
			})
		}
	}
}

// TestSecretNeverLeaks: a secret.Secret prints *** wherever it sits.
func TestSecretNeverLeaks(t *testing.T) {
	type provider struct {
		Name   string
		APIKey secret.Secret
	}
	s := secret.New(leak)
	for _, format := range []string{"text", "json"} {
		for _, redact := range []bool{false, true} {
			l, buf := newLogger(t, Options{Format: format, RedactSensitive: redact})
			l.Info("x",
				"value", s, // an innocent key: LogValue does the work
				"ptr", &s,
				slog.Group("g", "v", s),
				"p", provider{Name: "local", APIKey: s},
				"ps", []provider{{Name: "a", APIKey: s}},
				"m", map[string]any{"nested": map[string]secret.Secret{"x": s}},
				"any", any(s),
			)
			l.With("bound", s).Info("y")
			l.Info(fmt.Sprint("formatted ", s))
			if out := buf.String(); strings.Contains(out, leak) {
				t.Fatalf("%s redact=%v: secret leaked:\n%s", format, redact, out)
			}
		}
	}
}

func TestRedactSensitive(t *testing.T) {
	errLeak := errors.New("dial https://api.example.com?api_key=" + leak + ": refused")
	type req struct {
		URL      string
		Password string
	}
	for _, format := range []string{"text", "json"} {
		l, buf := newLogger(t, Options{Format: format, RedactSensitive: true})
		l.Info("using key "+fakeKey,
			"note", "Authorization: Bearer "+leak,
			"err", errLeak,
			"req", req{URL: "http://x", Password: leak},
			"plain", "nothing to see", "count", 3)
		out := buf.String()
		if strings.Contains(out, leak) || strings.Contains(out, fakeKey[8:]) {
			t.Fatalf("%s: secret leaked:\n%s", format, out)
		}
		for _, want := range []string{"nothing to see", "sk-proj-***", "http://x"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s: output lacks %q:\n%s", format, want, out)
			}
		}
		if format == "json" {
			r := records(t, out)[0]
			if _, ok := r["req"].(map[string]any); !ok {
				t.Errorf("redacted struct is no longer a JSON object: %v", r["req"])
			}
		}

		// Off: free text is left alone (keys are still masked).
		l.SetRedact(false)
		buf.Reset()
		l.Info("using key "+fakeKey, "note", "abc "+fakeKey)
		if out := buf.String(); !strings.Contains(out, fakeKey) {
			t.Errorf("%s: redaction off but output redacted:\n%s", format, out)
		}
		l.SetRedact(true)
		buf.Reset()
		l.Info("again " + fakeKey)
		if out := buf.String(); strings.Contains(out, fakeKey) {
			t.Errorf("%s: SetRedact(true) did not take:\n%s", format, out)
		}
	}
}

func TestFileSink(t *testing.T) {
	old := umask(0)
	defer umask(old)
	dir := filepath.Join(t.TempDir(), "logs", "deeper")
	path := filepath.Join(dir, "talon.log")
	l, err := New(Options{File: path, Format: "json"})
	if err != nil {
		t.Fatal(err)
	}
	l.Info("to file", "token", leak)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l.Info("after close") // must not panic
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "to file") || strings.Contains(string(b), leak) {
		t.Errorf("file content %q", b)
	}
	checkMode(t, path, 0o600)
	checkMode(t, dir, 0o700)

	// An existing looser file is tightened.
	loose := filepath.Join(t.TempDir(), "loose.log")
	os.WriteFile(loose, []byte("old\n"), 0o644)
	l, err = New(Options{File: loose})
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	checkMode(t, loose, 0o600)
}

func checkMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if m := st.Mode().Perm(); m != want {
		t.Errorf("%s: mode %o, want %o", filepath.Base(path), m, want)
	}
}

func TestRotation(t *testing.T) {
	old := umask(0)
	defer umask(old)
	dir := t.TempDir()
	path := filepath.Join(dir, "talon.log")
	const maxSize, maxFiles = 1000, 3
	l, err := New(Options{File: path, Format: "json", MaxSizeBytes: maxSize, MaxFiles: maxFiles})
	if err != nil {
		t.Fatal(err)
	}
	const nRecords = 200
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range nRecords / 4 {
				l.Info("record", "g", g, "i", i, "pad", strings.Repeat("p", 40))
			}
		})
	}
	wg.Wait()
	l.Info("last")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	names := []string{"talon.log", "talon.log.1", "talon.log.2", "talon.log.3"}
	entries, _ := os.ReadDir(dir)
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if !slices.Equal(got, names) {
		t.Fatalf("files %v, want %v", got, names)
	}
	total := 0
	for i, name := range names {
		p := filepath.Join(dir, name)
		checkMode(t, p, 0o600)
		b, _ := os.ReadFile(p)
		if len(b) > maxSize {
			t.Errorf("%s: %d bytes > max %d", name, len(b), maxSize)
		}
		if i > 0 && len(b) < maxSize/2 {
			t.Errorf("%s: only %d bytes: rotated too early", name, len(b))
		}
		// Every file holds whole records.
		recs := records(t, string(b))
		total += len(recs)
		if i == 0 && recs[len(recs)-1]["msg"] != "last" {
			t.Errorf("talon.log does not end with the newest record")
		}
	}
	// Older records were dropped with the oldest file, none was split.
	if total >= nRecords+1 || total < 4 {
		t.Errorf("%d records kept of %d", total, nRecords+1)
	}

	// Reopening continues the current file and its size.
	l, err = New(Options{File: path, MaxSizeBytes: maxSize, MaxFiles: maxFiles})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	before, _ := os.ReadFile(path)
	l.Info("appended")
	after, _ := os.ReadFile(path)
	if len(before)+len("appended") < maxSize && !bytes.HasPrefix(after, before) {
		t.Error("reopen did not append")
	}
}

func TestRotationOversizedRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "talon.log")
	l, err := New(Options{File: path, MaxSizeBytes: 100, MaxFiles: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.Info("small")
	l.Info(strings.Repeat("big", 100))
	l.Info("small again")
	b1, _ := os.ReadFile(path + ".1")
	b0, _ := os.ReadFile(path)
	if !strings.Contains(string(b1), "bigbig") || strings.Contains(string(b0), "bigbig") {
		t.Errorf("oversized record not alone in its file:\n.1: %s\ncurrent: %s", b1, b0)
	}
}

func TestTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "talon.log")
	var all []string
	var content strings.Builder
	for i := range 5000 {
		line := fmt.Sprintf("line %d %s", i, strings.Repeat("x", i%97))
		if i == 4990 {
			line = "line 4990 token=" + leak
		}
		all = append(all, line)
		content.WriteString(line + "\n")
	}
	if err := os.WriteFile(path, []byte(content.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if content.Len() <= tailChunk {
		t.Fatalf("file of %d bytes is not larger than the read buffer", content.Len())
	}
	want := func(n int) []string {
		w := slices.Clone(all[max(0, len(all)-n):])
		for i, l := range w {
			w[i] = strings.ReplaceAll(l, leak, "***")
		}
		return w
	}
	for _, n := range []int{1, 2, 10, 1000, 4999, 5000, 6000} {
		got, err := Tail(path, n)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want(n)) {
			t.Errorf("Tail(%d): %d lines, first %q, last %q", n, len(got), first(got), last(got))
		}
		// Small read buffers: every chunk boundary case.
		for _, chunk := range []int{1, 7, 64, 4096} {
			got, err := tail(path, n, chunk, tailMaxBytes)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want(n)) {
				t.Errorf("tail(%d, chunk %d): %d lines, first %q", n, chunk, len(got), first(got))
			}
		}
	}
	if got, _ := Tail(path, 10); slices.ContainsFunc(got, func(s string) bool { return strings.Contains(s, leak) }) {
		t.Error("Tail did not redact")
	}
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

func last(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[len(s)-1]
}

func TestTailEdges(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(s), 0o600)
		return p
	}
	tests := []struct {
		content string
		n       int
		want    []string
	}{
		{"", 5, []string{}},
		{"a\nb\nc\n", 0, []string{}},
		{"a\nb\nc\n", 2, []string{"b", "c"}},
		{"a\nb\nc", 2, []string{"b", "c"}}, // no final newline
		{"a\r\nb\r\n", 5, []string{"a", "b"}},
		{"\n\n", 5, []string{"", ""}},
		{"only", 3, []string{"only"}},
	}
	for i, tt := range tests {
		p := write(fmt.Sprint(i), tt.content)
		for _, chunk := range []int{1, 2, 1024} {
			got, err := tail(p, tt.n, chunk, tailMaxBytes)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("tail(%q, %d, chunk %d) = %q, want %q", tt.content, tt.n, chunk, got, tt.want)
			}
		}
	}
	// The byte limit cuts the first line; it is dropped, not returned cut.
	p := write("limit", "aaaaaaaaaa\nbbbb\ncccc\n")
	got, _ := tail(p, 10, 3, 12)
	if !slices.Equal(got, []string{"bbbb", "cccc"}) {
		t.Errorf("byte-limited tail = %q", got)
	}
	if _, err := Tail(filepath.Join(dir, "missing"), 3); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Tail(missing) = %v", err)
	}
	if _, err := Tail(p, -1); err == nil {
		t.Error("Tail(-1): no error")
	}
}

func BenchmarkLogRedacted(b *testing.B) {
	l, err := New(Options{Format: "json", RedactSensitive: true, Stderr: discard{}})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		l.Info("turn finished", "session", "agent:main:telegram:dm:42", "inputTokens", 1200, "tool", "exec", "command", "ls -la /tmp")
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// TestInvariant10_KnownSecretsScrubbedWhateverRedactSays: a secret the
// scrubber knows is removed from the message, strings, errors and encoded
// values, in any encoding, with redactSensitive on or off.
func TestInvariant10_KnownSecretsScrubbedWhateverRedactSays(t *testing.T) {
	const tok = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"
	scrub := redact.NewScrubber([]redact.Known{{Name: "channels.telegram.botToken", Value: tok}}).Scrub
	lowered := strings.ReplaceAll(url.QueryEscape(tok), "%3A", "%3a")
	b64 := base64.StdEncoding.EncodeToString([]byte("bot:" + tok))
	type call struct{ URL string }
	for _, format := range []string{"text", "json"} {
		for _, redact := range []bool{false, true} {
			l, buf := newLogger(t, Options{Format: format, RedactSensitive: redact, Scrub: scrub})
			l.Info("polling https://api.telegram.org/bot"+lowered+"/getUpdates failed",
				"desc", "wrong token "+lowered,
				"err", errors.New("proxy said Basic "+b64),
				"call", call{URL: "https://x/bot" + tok},
				"half", "secret part "+strings.SplitN(tok, ":", 2)[1],
			)
			out := buf.String()
			if f := leakcheck.Find(out, tok); f != "" {
				t.Errorf("%s redact=%v: %s in\n%s", format, redact, f, out)
			}
			if !strings.Contains(out, "[REDACTED:channels.telegram.botToken]") {
				t.Errorf("%s redact=%v: no marker in\n%s", format, redact, out)
			}
		}
	}
}
