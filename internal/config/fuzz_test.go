package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParse: Parse never panics; it either accepts a config or returns a
// non-empty *ValidationError; an accepted config renders to JSON5 that
// parses back to the same tree and the same config.
func FuzzParse(f *testing.F) {
	f.Add([]byte("{}"))
	f.Add([]byte(`{gateway: {port: 1, bind: "lan", auth: {token: "${TALON_GATEWAY_TOKEN}"}}}`))
	env := testEnv()
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, env)
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) == 0 {
				t.Fatalf("error is not a non-empty *ValidationError: %v", err)
			}
			for _, p := range ve.Problems {
				if p.Message == "" || strings.Contains(p.Message, testToken) {
					t.Fatalf("bad problem %+v", p)
				}
			}
			return
		}
		tree, err := ParseTree(data)
		if err != nil {
			t.Fatalf("Parse accepted what ParseTree rejects: %v", err)
		}
		out := Render(tree)
		back, err := ParseTree(out)
		if err != nil {
			t.Fatalf("rendered config does not parse: %v\n%s", err, out)
		}
		if !treeEqual(tree, back) {
			t.Fatalf("render round trip changed the tree:\n%s\n%#v\n%#v", out, tree, back)
		}
		c2, err := Parse(out, env)
		if err != nil {
			t.Fatalf("rendered config is invalid: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(c, c2) {
			t.Fatalf("rendered config differs:\n%s", out)
		}
		if live, restart := Diff(c, c2); live != nil || restart != nil {
			t.Fatalf("Diff of equal configs: %q %q", live, restart)
		}
		_ = c.Redacted()
	})
}

// FuzzPaths: path operations never panic, a value set is read back, an
// unset removes it, and the edited tree still renders and validates
// without panicking.
func FuzzPaths(f *testing.F) {
	f.Add("gateway.port", "18789")
	f.Add("tools.exec.allowlist.2", "/usr/bin/jq")
	f.Add("models.providers.local.models.0.id", "qwen3")
	f.Add("channels.telegram", "{dmPolicy: 'open', allowFrom: ['*']}")
	f.Add("a..b", "1")
	f.Add("gateway.port.x", "null")
	f.Add("tools.exec.allowlist.01", "[1, {a: null}]")
	const base = `{gateway: {port: 18789, auth: {mode: "token"}},
		tools: {exec: {allowlist: ["/usr/bin/ls", "/usr/bin/git"]}},
		models: {providers: {local: {models: [{id: "a"}]}}}}`
	f.Fuzz(func(t *testing.T, path, raw string) {
		tree, err := ParseTree([]byte(base))
		if err != nil {
			t.Fatal(err)
		}
		v := ParseValue(raw)
		if err := SetPath(tree, path, v); err != nil {
			if _, err := Validate(tree, nil); err != nil {
				_ = err.Error()
			}
			return
		}
		got, ok := GetPath(tree, path)
		if !ok || !treeEqual(got, v) {
			t.Fatalf("GetPath after SetPath(%q, %#v) = %#v, %v", path, v, got, ok)
		}
		if utf8.ValidString(path) && utf8.ValidString(raw) {
			back, err := ParseTree(Render(tree))
			if err != nil || !treeEqual(tree, back) {
				t.Fatalf("render round trip: %v\n%s", err, Render(tree))
			}
		}
		_, _ = Validate(tree, nil)
		_ = MergePatch(tree, map[string]any{"gateway": nil, "x": tree})

		parentPath, last := "", path
		if i := strings.LastIndexByte(path, '.'); i >= 0 {
			parentPath, last = path[:i], path[i+1:]
		}
		parent, _ := GetPath(tree, parentPath)
		n := 0
		if a, ok := parent.([]any); ok {
			n = len(a)
		}
		if err := UnsetPath(tree, path); err != nil {
			t.Fatalf("UnsetPath(%q) after SetPath: %v", path, err)
		}
		switch p, _ := GetPath(tree, parentPath); p := p.(type) {
		case []any:
			if len(p) != n-1 {
				t.Fatalf("UnsetPath(%q): array length %d, want %d", path, len(p), n-1)
			}
		case map[string]any:
			if _, ok := p[last]; ok {
				t.Fatalf("UnsetPath(%q): key still there", path)
			}
		default:
			t.Fatalf("parent of %q is %T after UnsetPath", path, p)
		}
	})
}
