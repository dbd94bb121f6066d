package security

import (
	"strconv"
	"strings"

	"github.com/talonclaw/talon/internal/config"
)

// secrets reports every key of type secret that the file sets to a literal
// instead of a ${NAME} or ${secret:NAME} reference. The keys come from the
// config types (config.SecretKeys), not from a list here, so a secret key
// added anywhere is covered. The generated gateway token is the exception
// in severity only: Talon writes it into the 0600 file on first run, and it
// opens nothing but this gateway.
func (a *auditor) secrets() {
	for _, s := range literalSecrets(a.in.Tree) {
		if s.key == "gateway.auth.token" {
			a.add(config.SecretLiteralCheck, Info, s.key+" is written in the config file", "Talon wrote it there on first run; the file is 0600, keep it that way",
				"or store it with talon secrets set TALON_GATEWAY_TOKEN and write \"${secret:TALON_GATEWAY_TOKEN}\"", false)
		} else {
			a.add(config.SecretLiteralCheck, Warn, s.key+" is written in the config file", "a credential written in the file ends up in backups, screenshots and pasted configs",
				"talon security audit --fix moves it into the encrypted secrets store and writes \"${secret:"+SecretName(s.key)+"}\" in its place", true)
		}
		a.keyed(s.key)
	}
}

// namedValue is a string the file sets at a key.
type namedValue struct{ key, value string }

// literalSecrets finds the secret keys of the file that hold a literal, in
// the order of config.SecretKeys, map keys sorted.
func literalSecrets(tree map[string]any) []namedValue {
	var out []namedValue
	for _, pattern := range config.SecretKeys() {
		walkTreePattern(tree, strings.Split(pattern, "."), "", func(key string, v any) {
			if s, ok := v.(string); ok && s != "" && !isRef(s) {
				out = append(out, namedValue{key, s})
			}
		})
	}
	return out
}

// walkTreePattern calls fn for every value of tree at a key pattern whose
// "*" segments stand for any map key or list index.
func walkTreePattern(cur any, segs []string, prefix string, fn func(key string, v any)) {
	if len(segs) == 0 {
		fn(prefix, cur)
		return
	}
	join := func(k string) string {
		if prefix == "" {
			return k
		}
		return prefix + "." + k
	}
	switch t := cur.(type) {
	case map[string]any:
		if segs[0] != "*" {
			if v, ok := t[segs[0]]; ok {
				walkTreePattern(v, segs[1:], join(segs[0]), fn)
			}
			return
		}
		for _, k := range sortedKeys(t) {
			walkTreePattern(t[k], segs[1:], join(k), fn)
		}
	case []any:
		if segs[0] == "*" {
			for i, v := range t {
				walkTreePattern(v, segs[1:], join(strconv.Itoa(i)), fn)
			}
		}
	}
}

// SecretName is the name under which --fix stores the secret at key:
// "tools.web.search.apiKey" becomes TOOLS_WEB_SEARCH_API_KEY.
func SecretName(key string) string {
	var b strings.Builder
	prev := byte('_')
	for i := 0; i < len(key); i++ {
		ch := key[i]
		switch {
		case ch >= 'a' && ch <= 'z':
			b.WriteByte(ch - 'a' + 'A')
		case ch >= 'A' && ch <= 'Z':
			if prev >= 'a' && prev <= 'z' {
				b.WriteByte('_')
			}
			b.WriteByte(ch)
		case ch >= '0' && ch <= '9':
			b.WriteByte(ch)
		default:
			if prev != '_' && b.Len() > 0 {
				b.WriteByte('_')
			}
			ch = '_'
		}
		prev = ch
	}
	return strings.Trim(b.String(), "_")
}
