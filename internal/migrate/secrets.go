package migrate

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/talonclaw/talon/internal/secret"
)

var (
	secretNameRe = regexp.MustCompile(`^[A-Z_][A-Z0-9_]{0,63}$`)
	envRefOnly   = regexp.MustCompile(`^\$\{[A-Z_][A-Z0-9_]*\}$`)
)

// secretName turns parts into a store name: upper case, _ between words.
func secretName(parts ...string) string {
	var b strings.Builder
	for _, p := range parts {
		for _, r := range strings.ToUpper(p) {
			switch {
			case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
				b.WriteRune(r)
			default:
				b.WriteByte('_')
			}
		}
		b.WriteByte('_')
	}
	s := strings.Trim(b.String(), "_")
	for strings.Contains(s, "__") {
		s = strings.ReplaceAll(s, "__", "_")
	}
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		s = "S_" + s
	}
	if len(s) > 56 {
		s = strings.TrimRight(s[:56], "_")
	}
	return s
}

// planSecret reserves a store name for value and returns it. A name the
// store (or this run) already holds with another value gets _2, _3, …; the
// same value reuses the name.
func (m *mapper) planSecret(from, name, value string) string {
	for i := 1; ; i++ {
		n := name
		if i > 1 {
			n = fmt.Sprintf("%s_%d", name, i)
		}
		if v, ok := m.secretNames[n]; ok {
			if v == value {
				return n
			}
			continue
		}
		old, found := "", false
		if m.in.Lookup != nil {
			old, found = m.in.Lookup("secret:" + n)
		}
		if found && old != value {
			continue
		}
		m.secretNames[n] = value
		m.secrets = append(m.secrets, PlannedSecret{Name: n, Value: secret.New(value), Reuse: found})
		m.rep.Secrets = append(m.rep.Secrets, SecretNote{From: from, Name: n, Stored: !found})
		return n
	}
}

// secretField maps a credential. A literal goes into the secrets store and
// the config gets ${secret:NAME}; a ${VAR} reference or an env SecretRef
// stays a reference; other SecretRefs cannot be resolved here and are
// reported. The value never appears in the report.
func (m *mapper) secretField(from, to string, name ...string) {
	v, ok := m.get(from)
	if !ok {
		return
	}
	switch t := v.(type) {
	case string:
		if t == "" {
			return
		}
		if strings.Contains(t, "${") {
			if !envRefOnly.MatchString(t) {
				m.unmapped(from, "mixes a ${VAR} reference with literal text; Talon takes a credential as one reference: store it with talon secrets set and write ${secret:NAME}")
				return
			}
			m.set(to, m.str(from, t), from)
			return
		}
		n := m.planSecret(from, secretName(name...), t)
		m.set(to, "${secret:"+n+"}", from)
	case map[string]any:
		src, _ := t["source"].(string)
		id, _ := t["id"].(string)
		switch {
		case src == "env" && secretNameRe.MatchString(id):
			m.set(to, m.str(from, "${"+id+"}"), from)
		case src == "store" && secretNameRe.MatchString(id):
			if _, found := m.lookupSecret(id); found {
				m.set(to, "${secret:"+id+"}", from)
				return
			}
			m.unmapped(from, fmt.Sprintf("a SecretRef to OpenClaw's own store, which Talon cannot read: run talon secrets set %s, then set %s to \"${secret:%s}\"", id, to, id))
		default:
			m.unmapped(from, fmt.Sprintf("a SecretRef with source %q, which Talon cannot resolve: store the value with talon secrets set NAME and set %s to \"${secret:NAME}\"", src, to))
		}
	default:
		m.unmapped(from, "expected a string or a SecretRef")
	}
}

func (m *mapper) lookupSecret(name string) (string, bool) {
	if v, ok := m.secretNames[name]; ok {
		return v, true
	}
	if m.in.Lookup == nil {
		return "", false
	}
	return m.in.Lookup("secret:" + name)
}

type envValue struct{ value, from string }

// envVars collects OpenClaw's inline env.vars. They are mostly API keys:
// the ones a migrated key refers to go into the secrets store (envRefs).
func (m *mapper) envVars() {
	m.envFiles = map[string]envValue{}
	for k, v := range m.in.DotEnv {
		if secretNameRe.MatchString(k) && v != "" {
			m.envFiles[k] = envValue{v, ".env:" + k}
		}
	}
	v, ok := m.get("env.vars")
	if !ok {
		m.skip("env.shellEnv", "Talon reads only its own process environment and secrets store")
		return
	}
	vars, ok := v.(map[string]any)
	if !ok {
		m.unmapped("env.vars", "expected an object")
		return
	}
	for _, k := range sortedKeys(vars) {
		s, ok := vars[k].(string)
		if !ok || s == "" || !secretNameRe.MatchString(k) {
			m.unmapped("env.vars."+k, "not a NAME: \"value\" pair Talon can store")
			continue
		}
		m.envFiles[k] = envValue{s, "env.vars." + k}
	}
	m.skip("env.shellEnv", "Talon reads only its own process environment and secrets store")
}

var envRefRe = regexp.MustCompile(`\$\{([A-Z_][A-Z0-9_]*)\}`)

// envRefs moves the variables the result refers to, where OpenClaw took
// them from its own files (env.vars, .env), into the secrets store:
// ${NAME} becomes ${secret:NAME}. Variables OpenClaw read from the process
// environment stay ${NAME}. env.vars nothing refers to are reported.
func (m *mapper) envRefs() {
	used := map[string]bool{}
	var walk func(v any) any
	walk = func(v any) any {
		switch t := v.(type) {
		case string:
			return envRefRe.ReplaceAllStringFunc(t, func(ref string) string {
				name := ref[2 : len(ref)-1]
				ev, ok := m.envFiles[name]
				if !ok {
					return ref
				}
				used[name] = true
				return "${secret:" + m.planSecret(ev.from, name, ev.value) + "}"
			})
		case map[string]any:
			for k, e := range t {
				t[k] = walk(e)
			}
		case []any:
			for i, e := range t {
				t[i] = walk(e)
			}
		}
		return v
	}
	walk(m.out)
	for _, name := range sortedKeys(m.envFiles) {
		if ev := m.envFiles[name]; !used[name] && strings.HasPrefix(ev.from, "env.vars.") {
			m.unmapped(ev.from, "no migrated key refers to it; Talon passes no environment to commands (store it with talon secrets set if a skill needs it)")
		}
	}
}

// ParseDotEnv reads a .env file as OpenClaw's loader does for plain
// assignments: NAME=value lines, an optional "export ", values optionally
// in single or double quotes, # comments and blank lines ignored. Other
// lines are skipped.
func ParseDotEnv(b []byte) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(strings.TrimSuffix(line, "\r"))
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		k = strings.TrimSpace(k)
		if !ok || !secretNameRe.MatchString(k) {
			continue
		}
		v = strings.TrimSpace(v)
		switch {
		case len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0]:
			v = v[1 : len(v)-1]
		default:
			if i := strings.Index(v, " #"); i >= 0 {
				v = strings.TrimSpace(v[:i])
			}
		}
		out[k] = v
	}
	return out
}
