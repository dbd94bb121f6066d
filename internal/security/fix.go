package security

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/talonclaw/talon/internal/config"
)

// FixDeps is what the config fixes need from outside the file.
type FixDeps struct {
	// NewToken returns a fresh random gateway token.
	NewToken func() (string, error)
	// StoreSecret keeps value in the encrypted secrets store under name, or
	// under another name when name holds a different value, and returns the
	// name it used.
	StoreSecret func(name, value string) (string, error)
}

// FixConfig applies the config fixes of the fixable findings to tree (the
// config file as written) and returns one line per change. Every fix only
// narrows a value (a policy, a list, a limit) or moves a literal secret
// into the secrets store behind a ${secret:NAME} reference; none widens
// anything, and a finding without a safe change is left alone. Findings
// about files (fs.*) are not config fixes and are skipped.
func FixConfig(tree map[string]any, findings []Finding, d FixDeps) ([]string, error) {
	var done []string
	set := func(key string, v any, line string) error {
		if err := config.SetPath(tree, key, v); err != nil {
			return fmt.Errorf("security.FixConfig: %s: %w", key, err)
		}
		done = append(done, line)
		return nil
	}
	seen := map[string]bool{}
	once := func(k string) bool {
		if seen[k] {
			return false
		}
		seen[k] = true
		return true
	}
	for _, f := range findings {
		if !f.Fixable {
			continue
		}
		var err error
		id := f.CheckID
		switch {
		case id == "logging.redaction_off":
			err = set("logging.redactSensitive", "tools", "logging.redactSensitive: off → tools")
		case strings.HasPrefix(id, "channels.") && strings.HasSuffix(id, ".group.open"):
			ch := strings.TrimSuffix(strings.TrimPrefix(id, "channels."), ".group.open")
			err = set("channels."+ch+".groupPolicy", "allowlist", "channels."+ch+".groupPolicy: open → allowlist")
		case id == "gateway.token_missing" || id == "gateway.token_short":
			if !once("gateway.auth.token") || d.NewToken == nil {
				continue
			}
			tok, terr := d.NewToken()
			if terr != nil {
				return done, terr
			}
			err = set("gateway.auth.token", tok, "gateway.auth.token: generated a new 43-character token (clients must use it now: talon config get gateway.auth.token --reveal)")
		case id == config.SecretLiteralCheck:
			err = fixSecret(tree, f.Key, d, once, set)
		case id == "tools.exec.ask_fallback_full" || id == "tools.exec.ask_fallback_allowlist":
			err = set("tools.exec.askFallback", "deny", "tools.exec.askFallback: "+strings.TrimPrefix(id, "tools.exec.ask_fallback_")+" → deny")
		case id == "tools.exec.interpreter_allowlisted" || id == "tools.exec.safebin_interpreter" || id == "tools.exec.helper_interpreter":
			if once(f.Key) {
				err = dropRunners(tree, f.Key, &done)
			}
		case id == "sandbox.network":
			err = set("agents.defaults.sandbox.network", false, "agents.defaults.sandbox.network: true → false")
		case id == "budgets.unset":
			err = set("budgets.perDayUsd", float64(5), "budgets.perDayUsd: unlimited → 5")
		case id == "tools.sessions.visibility_wide":
			err = set("tools.sessions.visibility", "tree", "tools.sessions.visibility → tree")
		}
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

// fixSecret moves the literal at key into the secrets store and writes a
// reference in its place.
func fixSecret(tree map[string]any, key string, d FixDeps, once func(string) bool, set func(string, any, string) error) error {
	if key == "" || !once(key) || d.StoreSecret == nil {
		return nil
	}
	v, ok := config.GetPath(tree, key)
	s, isString := v.(string)
	if !ok || !isString || s == "" || isRef(s) {
		return nil
	}
	name := SecretName(key)
	if len(name) > 60 {
		name = strings.TrimRight(name[:60], "_")
	}
	name, err := d.StoreSecret(name, s)
	if err != nil {
		return fmt.Errorf("security.FixConfig: storing %s: %w", key, err)
	}
	return set(key, "${secret:"+name+"}", fmt.Sprintf("%s: moved into the secrets store as %s (the file now says \"${secret:%s}\")", key, name, name))
}

// dropRunners removes every entry Runner flags from the exec list at key
// (a list, or tools.exec.helpers: a map of lists).
func dropRunners(tree map[string]any, key string, done *[]string) error {
	v, ok := config.GetPath(tree, key)
	if !ok {
		return nil
	}
	filter := func(what string, l []any) []any {
		kept := []any{}
		var gone []string
		for _, e := range l {
			if s, ok := e.(string); ok {
				if _, runner := Runner(s); runner {
					gone = append(gone, s)
					continue
				}
			}
			kept = append(kept, e)
		}
		if len(gone) > 0 {
			*done = append(*done, fmt.Sprintf("%s: removed %s", what, strings.Join(gone, ", ")))
		}
		return kept
	}
	switch t := v.(type) {
	case []any:
		kept := filter(key, t)
		if len(kept) == len(t) {
			return nil
		}
		if err := config.SetPath(tree, key, kept); err != nil {
			return fmt.Errorf("security.FixConfig: %s: %w", key, err)
		}
	case map[string]any:
		// Map keys are program paths, which may hold dots: edit in place.
		for _, prog := range slices.Sorted(maps.Keys(t)) {
			if l, ok := t[prog].([]any); ok {
				t[prog] = filter(key+" of "+prog, l)
			}
		}
	}
	return nil
}
