package config

import (
	"fmt"
	"strings"
)

// expandEnv substitutes ${NAME} references in a string value. NAME must
// match [A-Z_][A-Z0-9_]*; anything else (${lower}, ${}, an unclosed ${)
// stays as written. "$${NAME}" is an escape for a literal "${NAME}". A
// variable that is set to the empty string substitutes as empty. It returns
// the names of variables that are not set, in order of appearance; their
// references are left in place.
func expandEnv(s string, env LookupEnv) (string, []string) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	var b strings.Builder
	var missing []string
	for i := 0; i < len(s); {
		if strings.HasPrefix(s[i:], "$${") {
			b.WriteString("${")
			i += 3
			continue
		}
		if strings.HasPrefix(s[i:], "${") {
			if end := strings.IndexByte(s[i+2:], '}'); end >= 0 {
				name := s[i+2 : i+2+end]
				if isEnvName(name) {
					v, ok := lookup(env, name)
					if ok {
						b.WriteString(v)
					} else {
						missing = append(missing, name)
						b.WriteString(s[i : i+3+end])
					}
					i += 3 + end
					continue
				}
			}
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String(), missing
}

func lookup(env LookupEnv, name string) (string, bool) {
	if env == nil {
		return "", false
	}
	return env(name)
}

func isEnvName(s string) bool {
	// ${secret:NAME} names a secret from `talon secrets`; the lookup
	// function the caller passes resolves it.
	s = strings.TrimPrefix(s, "secret:")
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', c >= 'A' && c <= 'Z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// ExpandString substitutes ${NAME} references in s the way the loader does,
// for commands that show one value (talon config get --reveal). A variable
// that is not set is an error naming it.
func ExpandString(s string, env LookupEnv) (string, error) {
	out, missing := expandEnv(s, env)
	if len(missing) > 0 {
		if n, ok := strings.CutPrefix(missing[0], "secret:"); ok {
			return "", fmt.Errorf("secret %s is not in the secret store (hint: talon secrets set %s)", n, n)
		}
		return "", fmt.Errorf("environment variable %s is not set (hint: export %s or replace ${%s} with a value)", missing[0], missing[0], missing[0])
	}
	return out, nil
}
