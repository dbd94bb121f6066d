package config

import (
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

const editSample = `// my config
{
  gateway: {
    // the port I chose
    port: 18789, // keep
    bind: "loopback",
  },
  /* budgets */
  budgets: { perDayUsd: 5, perMonthUsd: 50 },
  tools: {
    exec: { allowlist: ["/usr/bin/ls"] }
  }
}
`

func TestEditInTextKeepsComments(t *testing.T) {
	for _, tc := range []struct {
		name, path string
		value      any
		unset      bool
		want       []string // substrings of the result
	}{
		{"replace", "gateway.port", 18790.0, false, []string{"port: 18790, // keep", "// the port I chose"}},
		{"replace string", "gateway.bind", "lan", false, []string{`bind: "lan",`}},
		{"insert multiline", "gateway.customBindHost", "10.0.0.1", false, []string{"    bind: \"loopback\",\n    customBindHost: \"10.0.0.1\",\n  },"}},
		{"insert inline", "budgets.perTurnToolCalls", 10.0, false, []string{"perMonthUsd: 50, perTurnToolCalls: 10 }"}},
		{"insert nested", "logging.level", "debug", false, []string{`logging: { level: "debug" }`}},
		{"no trailing comma", "tools.web", map[string]any{"fetch": map[string]any{"enabled": false}}, false, []string{"exec: { allowlist: [\"/usr/bin/ls\"] },\n    web: { fetch: { enabled: false } }"}},
		{"array element", "tools.exec.allowlist.0", "/usr/bin/git", false, []string{`allowlist: ["/usr/bin/git"]`}},
		{"unset own line", "gateway.bind", nil, true, []string{"port: 18789, // keep\n  },"}},
		{"unset inline last", "budgets.perMonthUsd", nil, true, []string{"budgets: { perDayUsd: 5 }"}},
		{"unset only member", "tools.exec", nil, true, []string{"tools: {}"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tree, err := ParseTree([]byte(editSample))
			if err != nil {
				t.Fatal(err)
			}
			var out []byte
			var ok bool
			if tc.unset {
				if err := UnsetPath(tree, tc.path); err != nil {
					t.Fatal(err)
				}
				out, ok = UnsetInText([]byte(editSample), tc.path)
			} else {
				if err := SetPath(tree, tc.path, tc.value); err != nil {
					t.Fatal(err)
				}
				out, ok = SetInText([]byte(editSample), tc.path, tc.value)
			}
			if !ok {
				t.Fatal("not edited in place")
			}
			got, err := ParseTree(out)
			if err != nil || !reflect.DeepEqual(got, tree) {
				t.Fatalf("edited text means something else (%v):\n%s", err, out)
			}
			for _, w := range append(tc.want, "// my config", "/* budgets */") {
				if !strings.Contains(string(out), w) {
					t.Errorf("missing %q in:\n%s", w, out)
				}
			}
			// RenderEdit keeps the in-place edit.
			if r := RenderEdit([]byte(editSample), tree, func([]byte) ([]byte, bool) { return out, true }); string(r) != string(out) {
				t.Errorf("RenderEdit did not keep the in-place edit")
			}
		})
	}
}

// TestRenderEditRefusesWrongText: a text edit whose meaning differs from
// the tree is never written; the tree is rendered instead.
func TestRenderEditRefusesWrongText(t *testing.T) {
	tree, _ := ParseTree([]byte(editSample))
	SetPath(tree, "gateway.port", 1.0)
	bad := strings.Replace(editSample, "18789", "2", 1)
	out := RenderEdit([]byte(editSample), tree, func([]byte) ([]byte, bool) { return []byte(bad), true })
	got, err := ParseTree(out)
	if err != nil || !reflect.DeepEqual(got, tree) {
		t.Fatalf("%v\n%s", err, out)
	}
}

// FuzzEditInText: editing any text the decoder accepts never panics, and
// RenderEdit's result always means exactly the semantic edit.
func FuzzEditInText(f *testing.F) {
	f.Add(editSample, "gateway.port", "5")
	f.Add(`{a: {b: [1, 2, {c: 3}]}, /* x */ d: "e", }`, "a.b.2.c", `"x"`)
	f.Add(`{}`, "x.y.z", "{q: 1}")
	f.Add("{a: 1 // c\n}", "a", "[]")
	f.Fuzz(func(t *testing.T, data, path, value string) {
		if !utf8.ValidString(data + path + value) {
			return // Render turns invalid UTF-8 keys into U+FFFD; not this editor's concern
		}
		tree, err := ParseTree([]byte(data))
		if err != nil {
			return
		}
		v := ParseValue(value)
		want := deepCopy(tree).(map[string]any)
		if err := SetPath(want, path, v); err != nil {
			return
		}
		out := RenderEdit([]byte(data), want, func(b []byte) ([]byte, bool) { return SetInText(b, path, v) })
		got, err := ParseTree(out)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("RenderEdit result means something else (%v):\n%s", err, out)
		}
		un := deepCopy(tree).(map[string]any)
		if UnsetPath(un, path) == nil {
			out := RenderEdit([]byte(data), un, func(b []byte) ([]byte, bool) { return UnsetInText(b, path) })
			if got, err := ParseTree(out); err != nil || !reflect.DeepEqual(got, un) {
				t.Fatalf("unset: %v\n%s", err, out)
			}
		}
	})
}
