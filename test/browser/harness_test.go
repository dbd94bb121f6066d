//go:build browser

// Package browser drives the Control UI in headless Chromium (Debian's
// chromium package) against a real `talon gateway run` process with the
// in-repo fake model and fake Telegram. It runs with -tags browser
// (`make browser`), so `go test ./...` does not start a browser.
//
// TALON_UI_SCREENSHOTS=1 also writes a screenshot of every page at 1280
// and 360 px wide to docs/ui/.
package browser

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/talonclaw/talon/internal/testutil/fakellm"
	"github.com/talonclaw/talon/internal/testutil/faketelegram"
)

const token = "browser-test-token-0123456789-abcdefghij"

// talonBin is the talon binary built once for all tests.
var talonBin string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "talon-browser-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	talonBin = filepath.Join(dir, "talon")
	build := exec.Command("go", "build", "-o", talonBin, "./cmd/talon")
	build.Dir = filepath.Join("..", "..")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building talon:", err)
		return 1
	}
	return m.Run()
}

// scene is a running gateway with a fake model and a fake Telegram.
type scene struct {
	llm    *fakellm.Server
	tg     *faketelegram.Server
	state  string
	origin string // http://127.0.0.1:PORT
	stderr *syncBuf
}

type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startScene writes a config (extra is spliced into it, gatewayExtra into
// its gateway object) and runs the gateway.
func startScene(t *testing.T, extra string, gatewayExtra ...string) *scene {
	t.Helper()
	s := &scene{llm: fakellm.New(t), tg: faketelegram.New(t), stderr: &syncBuf{}}
	s.llm.Default = fakellm.Reply{Text: "all done"}
	s.state = filepath.Join(t.TempDir(), "state")
	if err := os.MkdirAll(filepath.Join(s.state, "workspace"), 0o700); err != nil {
		t.Fatal(err)
	}
	gw := strings.Join(append([]string{`auth: { token: "` + token + `" }`}, gatewayExtra...), ", ")
	if len(gatewayExtra) > 0 && strings.HasPrefix(gatewayExtra[0], "auth:") {
		gw = strings.Join(gatewayExtra, ", ")
	}
	cfg := `{
  gateway: { ` + gw + ` },
  models: { providers: { fake: { api: "openai-completions", baseUrl: "` + s.llm.URL + `", apiKey: "${FAKE_KEY}",
    models: [{ id: "scripted", contextWindow: 32768, cost: { input: 1, output: 2 } }] } } },
  agents: { defaults: { model: "fake/scripted" } },
  channels: { telegram: { botToken: "` + s.tg.Token + `", apiBaseUrl: "` + s.tg.URL + `" } },
  ` + extra + `
}`
	if err := os.WriteFile(filepath.Join(s.state, "talon.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(talonBin, "gateway", "run", "--port", "0")
	cmd.Env = append(os.Environ(), "TALON_STATE_DIR="+s.state, "HOME="+s.state, "FAKE_KEY=sk-fake-key-for-tests-0123456789")
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = s.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line := make(chan string, 1)
	go func() {
		r := bufio.NewReader(out)
		l, _ := r.ReadString('\n')
		line <- l
		io.Copy(io.Discard, r)
	}()
	select {
	case l := <-line:
		m := regexp.MustCompile(`^gateway listening on ws://(127\.0\.0\.1:\d+)\n$`).FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("no listening line (got %q); stderr: %s", l, s.stderr.String())
		}
		s.origin = "http://" + m[1]
	case <-time.After(60 * time.Second):
		t.Fatalf("gateway did not start; stderr: %s", s.stderr.String())
	}
	return s
}

// browser is one headless Chromium with its own profile, recording
// console errors, exceptions and every request it makes.
type browser struct {
	ctx      context.Context
	mu       sync.Mutex
	errors   []string
	requests []string
	frames   []string // WebSocket frames the page received
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := os.Getenv("TALON_CHROMIUM")
	if path == "" {
		for _, p := range []string{"chromium", "chromium-browser", "google-chrome"} {
			if lp, err := exec.LookPath(p); err == nil {
				path = lp
				break
			}
		}
	}
	if path == "" {
		t.Fatal("no chromium on PATH (hint: apt-get install chromium; .ci/run installs it)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox, // CI runs as root
		chromedp.DisableGPU,
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("no-proxy-server", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter"),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 6*time.Minute)
	t.Cleanup(func() { cancelT(); cancelB(); cancelA() })
	b := &browser{ctx: ctx}
	if err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, network.Enable, network.EnableParams{})
		return err
	})); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	if err := chromedp.Listen(ctx, func(ev any) {
		b.mu.Lock()
		defer b.mu.Unlock()
		switch e := ev.(type) {
		case *network.EventRequestWillBeSent:
			b.requests = append(b.requests, e.Request.URL)
		case *network.EventWebSocketCreated:
			b.requests = append(b.requests, e.URL)
		case *network.EventWebSocketFrameReceived:
			if e.Response != nil {
				b.frames = append(b.frames, string(e.Response.PayloadData))
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException {
				b.mu.Lock()
				b.errors = append(b.errors, string(m.Type)+": "+m.Text+" "+m.URL)
				b.mu.Unlock()
			}
		}
	}()
	return b
}

func (b *browser) run(t *testing.T, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		t.Fatalf("browser: %v; console: %v", err, b.consoleErrors())
	}
}

// eval runs JavaScript in the page, awaiting a promise it returns.
func eval[T any](t *testing.T, b *browser, js string) T {
	t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("eval: %v; console: %v", err, b.consoleErrors())
	}
	return v
}

func (b *browser) text(t *testing.T, sel string) string {
	t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return v
}

func (b *browser) consoleErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errors...)
}

func (b *browser) received() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.frames...)
}

func (b *browser) allRequests() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.requests...)
}

// checkClean fails on any console error and on any request that did not go
// to the gateway's own origin.
func (b *browser) checkClean(t *testing.T, origin string, allowErrors ...string) {
	t.Helper()
	wsOrigin := "ws" + strings.TrimPrefix(origin, "http")
next:
	for _, e := range b.consoleErrors() {
		for _, ok := range allowErrors {
			if strings.Contains(e, ok) {
				continue next
			}
		}
		t.Errorf("console error: %s", e)
	}
	for _, u := range b.allRequests() {
		if !strings.HasPrefix(u, origin+"/") && !strings.HasPrefix(u, wsOrigin+"/") && !strings.HasPrefix(u, "data:") {
			t.Errorf("request outside the gateway's origin: %s", u)
		}
	}
}

// signIn opens the printed link (token in the fragment) and waits until
// the console is connected.
func (b *browser) signIn(t *testing.T, s *scene, frag string) {
	t.Helper()
	b.run(t, chromedp.Navigate(s.origin+"/#token="+token+frag), waitText("#state", "connected"))
}

// waitText waits until the text of the element sel contains want.
func waitText(sel, want string) chromedp.Action[chromedp.Void] {
	return waitTextIs(sel, want, true)
}

// waitGone waits until the text of the element sel no longer contains
// gone.
func waitGone(sel, gone string) chromedp.Action[chromedp.Void] {
	return waitTextIs(sel, gone, false)
}

func waitTextIs(sel, want string, present bool) chromedp.Action[chromedp.Void] {
	js := `(() => { const e = document.querySelector(` + jsString(sel) + `); return e ? e.innerText : ""; })()`
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		var got string
		deadline := time.Now().Add(90 * time.Second)
		for time.Now().Before(deadline) {
			v, err := chromedp.Evaluate[string](js)(ctx, tg)
			if err == nil {
				got = v
				if strings.Contains(got, want) == present {
					return chromedp.Void{}, nil
				}
			}
			select {
			case <-ctx.Done():
				return chromedp.Void{}, ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
		return chromedp.Void{}, fmt.Errorf("%s never showed (%v) %q (last %q)", sel, present, want, got)
	}
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// waitFor polls cond for up to 60 s.
func waitFor(cond func() bool) bool {
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return false
}

// countingListener accepts TCP connections and counts them, answering
// nothing: the "other gateway" that a hostile link names.
type countingListener struct {
	ln net.Listener
	mu sync.Mutex
	n  int
}

func newCountingListener(t *testing.T) *countingListener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &countingListener{ln: ln}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			c.mu.Lock()
			c.n++
			c.mu.Unlock()
			conn.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return c
}

func (c *countingListener) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// serveEvil serves page() at / on another loopback origin.
func serveEvil(t *testing.T, page func() string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, page())
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}
