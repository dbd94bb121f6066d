package config

import (
	"bytes"
	"math"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// treeEqual is reflect.DeepEqual with NaN equal to NaN.
func treeEqual(a, b any) bool {
	switch x := a.(type) {
	case float64:
		y, ok := b.(float64)
		return ok && (x == y || math.IsNaN(x) && math.IsNaN(y))
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !treeEqual(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !treeEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

func TestRenderGolden(t *testing.T) {
	tree, err := ParseTree(mustRead(t, "testdata/example.json5"))
	if err != nil {
		t.Fatal(err)
	}
	got := Render(tree)
	const golden = "testdata/render/example.golden"
	if *update {
		if err := os.MkdirAll("testdata/render", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if want := mustRead(t, golden); !bytes.Equal(got, want) {
		t.Errorf("Render(example) differs from %s:\n%s", golden, got)
	}
}

func TestRenderRoundTrip(t *testing.T) {
	srcs := []string{
		string(mustRead(t, "testdata/example.json5")),
		string(mustRead(t, "testdata/errors/valid_edge.json5")),
		string(mustRead(t, "testdata/errors/formats.json5")),
		string(DefaultFile(testToken)),
		`{}`,
		`{"a b": {"": [], "1x": {}, "$ok_1": [[], [{}], null, true, false, -0, 1e300, 5e-324, NaN, -Infinity]},
		  "quote\"s": "line\nbreak \u2028 <html> & 'single' \\ \t", unknown: {nested: {deeper: [1, "two", {three: 3}]}}}`,
		`{gateway: {trustedProxies: ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6", "10.0.0.7"]}}`,
	}
	for _, src := range srcs {
		tree, err := ParseTree([]byte(src))
		if err != nil {
			t.Fatalf("ParseTree(%s): %v", src, err)
		}
		out := Render(tree)
		back, err := ParseTree(out)
		if err != nil {
			t.Fatalf("Render output does not parse: %v\n%s", err, out)
		}
		if !treeEqual(tree, back) {
			t.Errorf("round trip changed the tree:\n%s\n%#v\n%#v", out, tree, back)
		}
		if again := Render(back); !bytes.Equal(again, out) {
			t.Errorf("Render is not stable:\n%s\n%s", out, again)
		}
	}
}

func TestRenderLayout(t *testing.T) {
	tree := map[string]any{
		"tools":   map[string]any{"profile": "full"},
		"gateway": map[string]any{"zzz": 1.0, "bind": "lan", "port": 1.0, "auth": map[string]any{"token": "${T}"}},
		"$schema": "x",
		"a-b":     1,
	}
	out := string(Render(tree))
	want := `{
  // Location of a JSON Schema for editor completion; Talon ignores it.
  $schema: "x",

  // The gateway process: where it listens and how clients authenticate.
  gateway: {
    // TCP port the gateway listens on.
    port: 1,

    // Interfaces to listen on: loopback (127.0.0.1 and ::1 only), lan (all
    // interfaces), tailnet (the Tailscale address), custom (customBindHost).
    bind: "lan",

    // How clients authenticate to the gateway.
    auth: {
      // Shared token for mode "token"; at least 24 random characters. Usually
      // "${TALON_GATEWAY_TOKEN}"; generated on first run when unset.
      token: "${T}"
    },
    zzz: 1
  },

  // Which tools the agent may use and how exec is confined.
  tools: {
    // Base tool set: minimal, coding (files and exec), messaging, full.
    profile: "full"
  },
  "a-b": 1
}
`
	if out != want {
		t.Errorf("Render =\n%s\nwant\n%s", out, want)
	}
}

func TestDefaultFile(t *testing.T) {
	src := DefaultFile(testToken)
	c, err := Parse(src, nil)
	if err != nil {
		t.Fatalf("DefaultFile does not parse: %v\n%s", err, src)
	}
	if !c.Gateway.Auth.Token.Equal(testToken) || c.Gateway.Bind != "loopback" || c.Gateway.Auth.Mode != "token" || c.Gateway.Port != 18789 {
		t.Errorf("DefaultFile config = %+v", c.Gateway)
	}
	if _, err := Parse(DefaultFile(""), nil); err != nil {
		t.Errorf("DefaultFile(\"\"): %v", err)
	}
	// A token with characters that need escaping stays intact.
	odd := `tok"en\with/odd` + "\u00e9" + `chars-padding-padding`
	if c, err := Parse(DefaultFile(odd), nil); err != nil || !c.Gateway.Auth.Token.Equal(odd) {
		t.Errorf("odd token: %v", err)
	}
	// The commented-out examples are valid once uncommented.
	example := regexp.MustCompile(`(?m)^(\s*)// (\s*(?:[a-z]+:|\}|\]).*)$`)
	lines := strings.Split(example.ReplaceAllString(string(src), "$1$2"), "\n")
	uncommented := strings.Join(lines, "\n")
	env := func(k string) (string, bool) { return "123:abc", k == "TELEGRAM_BOT_TOKEN" }
	c, err = Parse([]byte(uncommented), env)
	if err != nil {
		t.Fatalf("uncommented DefaultFile does not parse: %v\n%s", err, uncommented)
	}
	if c.Models.Providers["local"].Models[0].ID != "qwen3" || c.Agents.Defaults.Model != "local/qwen3" || c.Channels.Telegram == nil {
		t.Errorf("uncommented examples not applied:\n%s", uncommented)
	}
}
