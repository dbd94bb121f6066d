package netguard_test

import (
	"context"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/talonclaw/talon/internal/agent"
	"github.com/talonclaw/talon/internal/channels"
	"github.com/talonclaw/talon/internal/channels/discord"
	"github.com/talonclaw/talon/internal/channels/signal"
	"github.com/talonclaw/talon/internal/channels/slack"
	"github.com/talonclaw/talon/internal/channels/telegram"
	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/llm"
	"github.com/talonclaw/talon/internal/netguard"
	"github.com/talonclaw/talon/internal/secret"
)

// countingTransport is a foreign transport that counts what reaches it.
type countingTransport struct{ n atomic.Int64 }

func (c *countingTransport) RoundTrip(*http.Request) (*http.Response, error) {
	c.n.Add(1)
	return nil, errors.New("foreign transport")
}

// wrapped hides a netguard Transport behind another type: CheckClient
// cannot see through it, so it must be refused too.
type wrapped struct{ rt http.RoundTripper }

func (w wrapped) RoundTrip(r *http.Request) (*http.Response, error) { return w.rt.RoundTrip(r) }

// TestInvariant7_ConstructorsRefuseUnguardedClients walks every
// constructor of an outbound client that takes an *http.Client and gives it
// clients that do not send through netguard: each must refuse to build (an
// error wrapping netguard.ErrNotGuarded), and the foreign transport must
// never see a request. A netguard client is accepted, so the refusals are
// about the transport and not some other missing option.
func TestInvariant7_ConstructorsRefuseUnguardedClients(t *testing.T) {
	handler := channels.Handler(func(context.Context, channels.Message) error { return nil })
	ctors := map[string]func(*http.Client) error{
		"llm.New openai": func(c *http.Client) error {
			_, err := llm.New(llm.Config{ID: "p", API: llm.APIOpenAICompletions, BaseURL: "http://127.0.0.1:11434/v1", HTTPClient: c})
			return err
		},
		"llm.New anthropic": func(c *http.Client) error {
			_, err := llm.New(llm.Config{ID: "p", API: llm.APIAnthropicMessages, APIKey: secret.New("k"), HTTPClient: c})
			return err
		},
		"llm.New gemini": func(c *http.Client) error {
			_, err := llm.New(llm.Config{ID: "p", API: llm.APIGoogleGenAI, APIKey: secret.New("k"), HTTPClient: c})
			return err
		},
		"agent.ConfigModels": func(c *http.Client) error {
			cfg := config.Default()
			cfg.Models.Providers = map[string]config.Provider{"local": {API: "openai-completions", BaseURL: "http://127.0.0.1:11434/v1",
				Models: []config.ModelDef{{ID: "m", ContextWindow: 8000, MaxTokens: 100}}}}
			cfg.Agents.Defaults.Model = "local/m"
			_, err := (&agent.ConfigModels{HTTPClient: c}).Models(cfg)
			return err
		},
		"slack.New": func(c *http.Client) error {
			_, err := slack.New(slack.Options{Handler: handler, HTTPClient: c,
				Config: config.SlackAccount{Mode: "socket", BotToken: secret.New("xoxb-1"), AppToken: secret.New("xapp-1")}})
			return err
		},
		"telegram.New": func(c *http.Client) error {
			_, err := telegram.New(telegram.Options{Handler: handler, HTTPClient: c, Config: config.TelegramAccount{BotToken: secret.New("123:abc")}})
			return err
		},
		"discord.New": func(c *http.Client) error {
			_, err := discord.New(discord.Options{Handler: handler, HTTPClient: c, Config: config.DiscordAccount{Token: secret.New("tok")}})
			return err
		},
		"signal.New": func(c *http.Client) error {
			_, err := signal.New(signal.Options{Handler: handler, HTTPClient: c})
			return err
		},
	}
	names := make([]string, 0, len(ctors))
	for n := range ctors {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		build := ctors[name]
		if err := build(netguard.Policy{}.Client()); err != nil {
			t.Errorf("%s with a netguard client: %v", name, err)
		}
		foreign := &countingTransport{}
		for i, c := range []*http.Client{{}, http.DefaultClient, {Transport: http.DefaultTransport}, {Transport: foreign},
			{Transport: wrapped{netguard.Policy{}.Transport()}}} {
			if err := build(c); !errors.Is(err, netguard.ErrNotGuarded) {
				t.Errorf("%s with unguarded client %d: %v, want an error wrapping netguard.ErrNotGuarded", name, i, err)
			} else if strings.Contains(err.Error(), "\n") {
				t.Errorf("%s: error is not one line: %q", name, err)
			}
		}
		if strings.HasPrefix(name, "llm.") {
			if err := build(nil); err == nil {
				t.Errorf("%s with no client: built", name)
			}
		}
		if n := foreign.n.Load(); n != 0 {
			t.Errorf("%s: the foreign transport saw %d requests", name, n)
		}
	}
}

// TestInvariant7_NoDefaultTransport reads every non-test Go file of the
// module (internal/testutil, test support, excepted) and fails on the ways
// a request can bypass netguard: net/http's DefaultTransport and
// DefaultClient, its package-level Get/Head/Post/PostForm (DefaultClient),
// an http.Client literal or new(http.Client) without a Transport (nil means
// DefaultTransport), an http.Transport literal outside netguard (its own
// dialer), and WebSocket dials that fall back to those (coder/websocket
// DialOptions without an HTTPClient, a gorilla Dialer without
// NetDialContext or its DefaultDialer).
func TestInvariant7_NoDefaultTransport(t *testing.T) {
	root := filepath.Join("..", "..")
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found: %v", err)
	}
	var files []string
	for _, dir := range []string{"internal", "cmd"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && (d.Name() == "testdata" || p == filepath.Join(root, "internal", "testutil")) {
				return filepath.SkipDir
			}
			if !d.IsDir() && strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go") {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(files) < 50 {
		t.Fatalf("only %d files found; the walk is not looking at the module", len(files))
	}
	for _, f := range files {
		for _, v := range unguardedHTTP(t, f) {
			t.Errorf("%s", v)
		}
	}
}

// unguardedHTTP returns the bypasses of netguard in one file.
func unguardedHTTP(t *testing.T, path string) []string {
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	// The names the file gives net/http and the WebSocket libraries.
	httpName, coderWS, gorillaWS := "", "", ""
	for _, imp := range file.Imports {
		p, _ := strconv.Unquote(imp.Path.Value)
		name := filepath.Base(p)
		if imp.Name != nil {
			name = imp.Name.Name
		}
		switch p {
		case "net/http":
			httpName = name
		case "github.com/coder/websocket":
			coderWS = name
		case "github.com/gorilla/websocket":
			gorillaWS = name
		}
	}
	if httpName == "" && coderWS == "" && gorillaWS == "" {
		return nil
	}
	inNetguard := filepath.Base(filepath.Dir(path)) == "netguard"
	isSel := func(pkg string, e ast.Expr, names ...string) (string, bool) {
		sel, ok := e.(*ast.SelectorExpr)
		if !ok || pkg == "" {
			return "", false
		}
		id, ok := sel.X.(*ast.Ident)
		if !ok || id.Name != pkg {
			return "", false
		}
		for _, n := range names {
			if sel.Sel.Name == n {
				return n, true
			}
		}
		return "", false
	}
	isHTTP := func(e ast.Expr, names ...string) (string, bool) { return isSel(httpName, e, names...) }
	hasKey := func(lit *ast.CompositeLit, keys ...string) bool {
		for _, el := range lit.Elts {
			if kv, ok := el.(*ast.KeyValueExpr); ok {
				if k, ok := kv.Key.(*ast.Ident); ok && slices.Contains(keys, k.Name) {
					return true
				}
			}
		}
		return false
	}
	var out []string
	report := func(n ast.Node, what string) {
		out = append(out, fset.Position(n.Pos()).String()+": "+what+" bypasses netguard (use a netguard.Policy Client or Transport)")
	}
	ast.Inspect(file, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.SelectorExpr:
			if name, ok := isHTTP(n, "DefaultTransport", "DefaultClient"); ok {
				report(n, "http."+name)
			}
			if _, ok := isSel(gorillaWS, n, "DefaultDialer"); ok {
				report(n, "gorilla websocket.DefaultDialer (its own dialer)")
			}
		case *ast.CallExpr:
			if name, ok := isHTTP(n.Fun, "Get", "Head", "Post", "PostForm"); ok {
				report(n, "http."+name+" (http.DefaultClient)")
			}
			if id, ok := n.Fun.(*ast.Ident); ok && id.Name == "new" && len(n.Args) == 1 {
				if _, ok := isHTTP(n.Args[0], "Client"); ok {
					report(n, "new(http.Client) (no Transport: http.DefaultTransport)")
				}
			}
		case *ast.CompositeLit:
			if _, ok := isHTTP(n.Type, "Client"); ok && !hasKey(n, "Transport") {
				report(n, "an http.Client without a Transport (http.DefaultTransport)")
			}
			if _, ok := isHTTP(n.Type, "Transport"); ok && !inNetguard {
				report(n, "an http.Transport literal (its own dialer)")
			}
			if _, ok := isSel(coderWS, n.Type, "DialOptions"); ok && !hasKey(n, "HTTPClient") {
				report(n, "websocket.DialOptions without an HTTPClient (http.DefaultClient)")
			}
			if _, ok := isSel(gorillaWS, n.Type, "Dialer"); ok && !hasKey(n, "NetDialContext") {
				report(n, "a gorilla websocket.Dialer without NetDialContext (its own dialer)")
			}
		}
		return true
	})
	return out
}
