package config

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/talonclaw/talon/internal/secret"
)

// fillSecrets sets every secret.Secret reachable from v to a distinct
// value, making one entry in every map and list and allocating every
// optional section on the way, and returns the values it set. It walks
// the Go types with plain reflection, not with the package's own field
// walker, so it finds a Secret field the package forgot.
func fillSecrets(v reflect.Value, n *int, out map[string]bool) {
	if v.Type() == reflect.TypeFor[secret.Secret]() {
		*n++
		s := fmt.Sprintf("secret-value-%03d", *n)
		v.Set(reflect.ValueOf(secret.New(s)))
		out[s] = true
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fillSecrets(v.Field(i), n, out)
			}
		}
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		fillSecrets(v.Elem(), n, out)
	case reflect.Map:
		if v.IsNil() {
			v.Set(reflect.MakeMap(v.Type()))
		}
		e := reflect.New(v.Type().Elem()).Elem()
		fillSecrets(e, n, out)
		v.SetMapIndex(reflect.ValueOf("k").Convert(v.Type().Key()), e)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 1, 1)
		fillSecrets(s.Index(0), n, out)
		v.Set(s)
	}
}

// TestInvariant10_EverySecretFieldIsFound: every field of type
// secret.Secret anywhere in Config (found by plain reflection, nothing
// listed by hand) is reported by Secrets with its value, and SecretKeys
// names one key per field, tools.web.search.apiKey among them.
func TestInvariant10_EverySecretFieldIsFound(t *testing.T) {
	var c Config
	set := map[string]bool{}
	var n int
	fillSecrets(reflect.ValueOf(&c).Elem(), &n, set)
	if n < 12 {
		t.Fatalf("only %d secret fields found; the walk is broken", n)
	}
	got := c.Secrets()
	seen := map[string]bool{}
	for _, s := range got {
		if !set[s.Value.Reveal()] {
			t.Errorf("%s: unexpected value", s.Key)
		}
		seen[s.Value.Reveal()] = true
		// The key path leads to the same value through the tree.
		if !strings.Contains(s.Key, ".") {
			t.Errorf("%s is not a key path", s.Key)
		}
	}
	for v := range set {
		if !seen[v] {
			t.Errorf("a secret field holding %s is not reported by Secrets", v)
		}
	}
	keys := SecretKeys()
	if len(keys) != n {
		t.Errorf("SecretKeys has %d keys for %d secret fields: %v", len(keys), n, keys)
	}
	for _, want := range []string{"tools.web.search.apiKey", "gateway.auth.token", "gateway.auth.password",
		"models.providers.*.apiKey", "channels.telegram.botToken", "channels.telegram.accounts.*.botToken",
		"channels.telegram.webhookSecret", "channels.discord.token", "channels.slack.accounts.*.signingSecret"} {
		if !slices.Contains(keys, want) {
			t.Errorf("SecretKeys misses %s: %v", want, keys)
		}
	}
	// Every reported path matches one of the type-level keys.
	for _, s := range got {
		ok := slices.ContainsFunc(keys, func(k string) bool { return keyMatches(k, s.Key) })
		if !ok {
			t.Errorf("%s matches no key of SecretKeys", s.Key)
		}
	}
}

// keyMatches reports whether path is an instance of pattern ("*" matches
// one element).
func keyMatches(pattern, path string) bool {
	p, q := strings.Split(pattern, "."), strings.Split(path, ".")
	if len(p) != len(q) {
		return false
	}
	for i := range p {
		if p[i] != "*" && p[i] != q[i] {
			return false
		}
	}
	return true
}

func TestSecretsOfLoadedConfig(t *testing.T) {
	env := func(name string) (string, bool) {
		if name == "BRAVE_KEY" {
			return "brave-key-from-env-0123", true
		}
		return "", false
	}
	cfg, err := Parse([]byte(`{ tools: { web: { search: { provider: "brave", apiKey: "${BRAVE_KEY}" } } },
  channels: { telegram: { botToken: "1:inline", accounts: { b: { botToken: "2:bee" }, a: { botToken: "3:ay" } } } } }`), env)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range cfg.Secrets() {
		got = append(got, s.Key+"="+s.Value.Reveal())
	}
	want := []string{"tools.web.search.apiKey=brave-key-from-env-0123", "channels.telegram.botToken=1:inline",
		"channels.telegram.accounts.a.botToken=3:ay", "channels.telegram.accounts.b.botToken=2:bee"}
	if !slices.Equal(got, want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
}
