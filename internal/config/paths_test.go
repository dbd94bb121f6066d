package config

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

func testTree(t *testing.T) map[string]any {
	t.Helper()
	tree, err := ParseTree([]byte(`{
		gateway: {port: 18789, auth: {mode: "token"}},
		models: {providers: {local: {baseUrl: "http://127.0.0.1:11434/v1"}}},
		tools: {exec: {allowlist: ["/usr/bin/ls", "/usr/bin/git"]}},
	}`))
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

func TestGetPath(t *testing.T) {
	tree := testTree(t)
	tests := []struct {
		path string
		want any
		ok   bool
	}{
		{"gateway.port", 18789.0, true},
		{"gateway.auth.mode", "token", true},
		{"models.providers.local.baseUrl", "http://127.0.0.1:11434/v1", true},
		{"tools.exec.allowlist.1", "/usr/bin/git", true},
		{"tools.exec.allowlist", []any{"/usr/bin/ls", "/usr/bin/git"}, true},
		{"tools.exec.allowlist.2", nil, false},
		{"tools.exec.allowlist.01", nil, false},
		{"tools.exec.allowlist.-1", nil, false},
		{"gateway.port.x", nil, false},
		{"gateway.nope", nil, false},
		{"gateway..port", nil, false},
		{".gateway", nil, false},
	}
	for _, tt := range tests {
		got, ok := GetPath(tree, tt.path)
		if ok != tt.ok || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("GetPath(%q) = %v, %v; want %v, %v", tt.path, got, ok, tt.want, tt.ok)
		}
	}
	if got, ok := GetPath(tree, ""); !ok || !reflect.DeepEqual(got, tree) {
		t.Error("GetPath(\"\") is not the tree")
	}
}

func TestSetPath(t *testing.T) {
	tree := testTree(t)
	sets := []struct {
		path  string
		value any
	}{
		{"gateway.bind", "lan"},                          // new key in an existing object
		{"channels.telegram.dmPolicy", "pairing"},        // intermediate objects created
		{"tools.exec.allowlist.0", "/bin/ls"},            // replace an element
		{"tools.exec.allowlist.2", "/usr/bin/jq"},        // append at len
		{"models.providers.local.models.0.id", "qwen3"},  // creates the models array (a list in the types)
		{"custom.x.0", "y"},                              // unknown: objects all the way
		{"gateway.auth", map[string]any{"mode": "none"}}, // replace a subtree
	}
	for _, s := range sets {
		if err := SetPath(tree, s.path, s.value); err != nil {
			t.Fatalf("SetPath(%q): %v", s.path, err)
		}
		if got, ok := GetPath(tree, s.path); !ok || !reflect.DeepEqual(got, s.value) {
			t.Errorf("after SetPath(%q), GetPath = %v, %v", s.path, got, ok)
		}
	}
	if got, _ := GetPath(tree, "tools.exec.allowlist"); !reflect.DeepEqual(got, []any{"/bin/ls", "/usr/bin/git", "/usr/bin/jq"}) {
		t.Errorf("allowlist = %v", got)
	}
	bad := []string{"", "gateway.port.x", "tools.exec.allowlist.5", "tools.exec.allowlist.x", "a..b"}
	for _, p := range bad {
		if err := SetPath(tree, p, 1.0); err == nil {
			t.Errorf("SetPath(%q) succeeded", p)
		}
	}
	err := SetPath(tree, "gateway.port.x", 1.0)
	if err == nil || !strings.Contains(err.Error(), "gateway.port is a number") {
		t.Errorf("error = %v", err)
	}
	if got, _ := GetPath(tree, "models.providers.local.models"); !reflect.DeepEqual(got, []any{map[string]any{"id": "qwen3"}}) {
		t.Errorf("models = %v", got)
	}
	if got, _ := GetPath(tree, "custom"); !reflect.DeepEqual(got, map[string]any{"x": map[string]any{"0": "y"}}) {
		t.Errorf("custom = %v", got)
	}
	// The result validates like any tree.
	if err := UnsetPath(tree, "custom"); err != nil {
		t.Fatal(err)
	}
	if err := SetPath(tree, "gateway.bind", "loopback"); err != nil {
		t.Fatal(err)
	}
	if _, err := Validate(tree, nil); err != nil {
		t.Errorf("Validate after edits: %v", err)
	}
}

func TestUnsetPath(t *testing.T) {
	tree := testTree(t)
	if err := UnsetPath(tree, "gateway.auth.mode"); err != nil {
		t.Fatal(err)
	}
	if _, ok := GetPath(tree, "gateway.auth.mode"); ok {
		t.Error("key still there")
	}
	if got, _ := GetPath(tree, "gateway.auth"); !reflect.DeepEqual(got, map[string]any{}) {
		t.Errorf("gateway.auth = %v", got)
	}
	if err := UnsetPath(tree, "tools.exec.allowlist.0"); err != nil {
		t.Fatal(err)
	}
	if got, _ := GetPath(tree, "tools.exec.allowlist"); !reflect.DeepEqual(got, []any{"/usr/bin/git"}) {
		t.Errorf("allowlist = %v", got)
	}
	for _, p := range []string{"gateway.nope", "tools.exec.allowlist.3", "gateway.port.x", "nope.deeper"} {
		if err := UnsetPath(tree, p); !errors.Is(err, ErrNotFound) {
			t.Errorf("UnsetPath(%q) = %v, want ErrNotFound", p, err)
		}
	}
	if err := UnsetPath(tree, ""); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("UnsetPath(\"\") = %v", err)
	}
}

func TestParseValue(t *testing.T) {
	tests := []struct {
		in   string
		want any
	}{
		{"lan", "lan"},
		{`"lan"`, "lan"},
		{`'lan'`, "lan"},
		{"18789", 18789.0},
		{" 42 ", 42.0},
		{"-1.5", -1.5},
		{"0x10", 16.0},
		{"true", true},
		{"false", false},
		{"null", nil},
		{"[]", []any{}},
		{`["a", 1]`, []any{"a", 1.0}},
		{`{mode: "token"}`, map[string]any{"mode": "token"}},
		{"", ""},
		{"123abc", "123abc"},
		{"https://example.com", "https://example.com"},
		{"${TOKEN}", "${TOKEN}"},
		{"1e999", "1e999"},
		{"{", "{"},
		{"True", "True"},
	}
	for _, tt := range tests {
		if got := ParseValue(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseValue(%q) = %#v, want %#v", tt.in, got, tt.want)
		}
	}
	if v, ok := ParseValue("Infinity").(float64); !ok || !math.IsInf(v, 1) {
		t.Errorf("ParseValue(Infinity) = %v", v)
	}
}

func TestMergePatch(t *testing.T) {
	// The examples of RFC 7386, appendix A.
	tests := []struct{ target, patch, want string }{
		{`{"a":"b"}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":"b"}`, `{"b":"c"}`, `{"a":"b","b":"c"}`},
		{`{"a":"b"}`, `{"a":null}`, `{}`},
		{`{"a":"b","b":"c"}`, `{"a":null}`, `{"b":"c"}`},
		{`{"a":["b"]}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":"c"}`, `{"a":["b"]}`, `{"a":["b"]}`},
		{`{"a":{"b":"c"}}`, `{"a":{"b":"d","c":null}}`, `{"a":{"b":"d"}}`},
		{`{"a":[{"b":"c"}]}`, `{"a":[1]}`, `{"a":[1]}`},
		{`{"e":null}`, `{"a":1}`, `{"e":null,"a":1}`},
		{`{}`, `{"a":{"bb":{"ccc":null}}}`, `{"a":{"bb":{}}}`},
		{`{"a":"b"}`, `{"a":{"x":null,"y":1}}`, `{"a":{"y":1}}`},
	}
	for _, tt := range tests {
		target, _ := ParseTree([]byte(tt.target))
		patch, _ := ParseTree([]byte(tt.patch))
		want, _ := ParseTree([]byte(tt.want))
		before := deepCopy(target)
		got := MergePatch(target, patch)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("MergePatch(%s, %s) = %v, want %v", tt.target, tt.patch, got, want)
		}
		if !reflect.DeepEqual(target, before) {
			t.Errorf("MergePatch modified its target %s", tt.target)
		}
	}
	// The result shares nothing with the patch either.
	patch := map[string]any{"a": []any{map[string]any{"b": 1.0}}}
	got := MergePatch(nil, patch)
	got["a"].([]any)[0].(map[string]any)["b"] = 2.0
	if patch["a"].([]any)[0].(map[string]any)["b"] != 1.0 {
		t.Error("MergePatch result aliases the patch")
	}
}
