package config

import (
	"encoding/json"
	"reflect"
	"strings"

	"github.com/talonclaw/talon/internal/secret"
)

// Redacted returns the effective configuration as indented JSON, with every
// secret shown as "***" (or "" when unset).
func (c *Config) Redacted() []byte {
	out, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		// Only strings, numbers, bools, maps, slices and Secrets: cannot fail.
		panic("config.Redacted: " + err.Error())
	}
	return out
}

// RedactTree returns a deep copy of tree that is safe to show (`talon
// config get`, the gateway's config.get): every value at a secret key is
// replaced by "***", unless it is exactly one ${VAR} reference, which names
// the secret without revealing it. Empty strings stay empty. Values of the
// wrong type at a secret key are replaced too, and so is every string below
// an unknown key: what a misspelt key holds may well be a secret.
func RedactTree(tree map[string]any) map[string]any {
	out, _ := redactValue(deepCopy(tree), reflect.TypeFor[Config]()).(map[string]any)
	return out
}

func redactValue(v any, t reflect.Type) any {
	if t == nil {
		return v
	}
	if t == secretType() {
		switch x := v.(type) {
		case nil:
			return nil
		case string:
			if x == "" || isSingleRef(x) {
				return x
			}
		case map[string]any:
			for k, e := range x {
				x[k] = redactValue(e, t)
			}
			return x
		case []any:
			for i, e := range x {
				x[i] = redactValue(e, t)
			}
			return x
		}
		return secret.Redacted
	}
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if _, ct, ok := childType(t, k); ok {
				x[k] = redactValue(e, ct)
			} else {
				x[k] = redactValue(e, secretType())
			}
		}
	case []any:
		if t.Kind() == reflect.Slice {
			for i, e := range x {
				x[i] = redactValue(e, t.Elem())
			}
		}
	}
	return v
}

// isSingleRef reports whether s is exactly one ${NAME} reference.
func isSingleRef(s string) bool {
	return strings.HasPrefix(s, "${") && strings.HasSuffix(s, "}") && isEnvName(s[2:len(s)-1])
}
