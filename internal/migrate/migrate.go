// Package migrate turns an OpenClaw installation (openclaw.json, its exec
// approvals and cron jobs, its workspace files) into a Talon configuration
// and a report of what was and was not carried over.
//
// Invariants: the mapping never widens what the OpenClaw installation
// allowed, and never weakens a Talon safety default without saying so in the
// report (settings Talon's security audit calls critical, such as exec
// security "full", are narrowed unless the caller passes KeepUnsafe); a
// literal credential is never put into the Talon config: it becomes a
// planned secret for the encrypted store and the config holds
// "${secret:NAME}" (invariant 10); every OpenClaw key that is not mapped is
// reported with the reason, by key path only, never with its value; and the
// result passes Talon's own config validation, keys Talon refuses being
// dropped and reported rather than written.
//
// The package does no I/O: the caller reads the files, passes their bytes
// and lookups in Input, and applies the Result.
package migrate

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/secret"
)

// Input is everything Map reads.
type Input struct {
	// Config is the content of openclaw.json (JSON5).
	Config []byte
	// ExecApprovals is the content of exec-approvals.json; nil when absent.
	ExecApprovals []byte
	// CronJobs is the content of cron/jobs.json; nil when absent.
	CronJobs []byte
	// DotEnv holds the variables of the .env file in OpenClaw's state
	// directory, which OpenClaw loads into its environment; nil when
	// absent.
	DotEnv map[string]string
	// Home expands "~" in OpenClaw paths.
	Home string
	// KeepUnsafe keeps settings Talon's audit calls critical (exec
	// security "full", sandbox off, file tools outside the workspace)
	// instead of narrowing them.
	KeepUnsafe bool
	// Lookup resolves ${VAR} and ${secret:NAME} the way the Talon gateway
	// will (the process environment and the secrets store); nil resolves
	// nothing.
	Lookup config.LookupEnv
	// NewToken returns a fresh gateway token, used when the OpenClaw
	// gateway has token auth without a token Talon can use.
	NewToken func() (string, error)
}

// Result is the migrated installation.
type Result struct {
	// Tree is the Talon config file to write (validated).
	Tree map[string]any
	// Secrets are the literal credentials to put into the secrets store,
	// each under the name Tree refers to as ${secret:NAME}.
	Secrets []PlannedSecret
	// Cron are the jobs to add to Talon's scheduler.
	Cron []CronJob
	// Workspace is OpenClaw's workspace directory (absolute, ~ expanded).
	Workspace string
	// Report says what was mapped, narrowed and left out.
	Report Report
}

// PlannedSecret is one credential for the secrets store. Its value prints
// as *** everywhere.
type PlannedSecret struct {
	Name  string
	Value secret.Secret
	// Reuse is true when the store already holds this exact value under
	// Name: nothing needs to be written.
	Reuse bool
}

// Report is what `talon migrate openclaw` prints (JSON, camelCase).
type Report struct {
	Mapped   []Mapping    `json:"mapped"`
	Warnings []Note       `json:"warnings"`
	Unmapped []Note       `json:"unmapped"`
	Secrets  []SecretNote `json:"secrets"`
	CronJobs []CronNote   `json:"cronJobs"`
	Files    []FileNote   `json:"files"`
}

// Mapping is one OpenClaw key and the Talon key it became.
type Mapping struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// Note is a key (OpenClaw's, or Talon's for a warning about the result) and
// what happened to it.
type Note struct {
	Key     string `json:"key"`
	Message string `json:"message"`
}

// SecretNote names a credential moved into the secrets store.
type SecretNote struct {
	From string `json:"from"`
	Name string `json:"name"`
	// Stored is false when the store already held the same value.
	Stored bool `json:"stored"`
}

// ErrBadInput marks input that cannot be migrated at all (syntax errors, a
// top level that is not an object, ...).
var ErrBadInput = errors.New("migrate: bad input")

// Map migrates in. Only input that cannot be read at all is an error; every
// individual key that cannot be carried over is in the report instead.
func Map(in Input) (*Result, error) {
	tree, err := config.ParseTree(in.Config)
	if err != nil {
		return nil, fmt.Errorf("%w: openclaw.json: %s", ErrBadInput, firstLine(err.Error()))
	}
	m := &mapper{in: in, src: tree, out: map[string]any{}, used: map[string]bool{}, secretNames: map[string]string{}}
	m.envVars()
	m.entryOverlay()
	m.gateway()
	m.models()
	m.agents()
	m.session()
	m.tools()
	m.accessGroups()
	m.channels()
	m.commands()
	if err := m.execApprovals(); err != nil {
		return nil, err
	}
	if err := m.cron(); err != nil {
		return nil, err
	}
	m.reportUnused("", tree)
	m.envRefs()
	if err := m.validate(); err != nil {
		return nil, err
	}
	if m.ensureToken() {
		if err := m.validate(); err != nil {
			return nil, err
		}
	}
	m.finish()
	return &Result{Tree: m.out, Secrets: m.secrets, Cron: m.jobs, Workspace: m.workspace(), Report: m.rep}, nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return strings.TrimPrefix(s, "config: ")
}

// mapper carries one migration.
type mapper struct {
	in  Input
	src map[string]any
	out map[string]any
	// used holds the OpenClaw paths handled (mapped, or reported with a
	// specific reason); everything else is reported as unmapped.
	used map[string]bool
	// to maps a Talon path to the OpenClaw key it came from, so that a
	// value Talon refuses is reported against its source.
	to          []Mapping
	rep         Report
	secrets     []PlannedSecret
	secretNames map[string]string // name -> value planned in this run
	// envFiles are the values OpenClaw would put into its environment
	// (env.vars, then the state dir's .env), by name, with where each came
	// from.
	envFiles   map[string]envValue
	jobs       []CronJob
	missingEnv []string
	// defaultEntry is agents.entries.<id> of OpenClaw's default agent.
	defaultEntry string
	// approvalsErr is a bad exec-approvals.json, found while mapping tools.
	approvalsErr error
}

// get returns the OpenClaw value at the dotted path and marks it handled.
func (m *mapper) get(path string) (any, bool) {
	v, ok := lookupPath(m.src, path)
	if ok {
		m.used[path] = true
	}
	return v, ok
}

// peek returns the value without marking it handled.
func (m *mapper) peek(path string) (any, bool) { return lookupPath(m.src, path) }

func lookupPath(tree map[string]any, path string) (any, bool) {
	var cur any = tree
	for _, seg := range strings.Split(path, ".") {
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[seg]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			cur = c[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// set writes a Talon value and records where it came from.
func (m *mapper) set(to string, v any, from string) {
	setSegs(m.out, strings.Split(to, "."), v)
	if from != "" {
		m.to = append(m.to, Mapping{From: from, To: to})
	}
}

// setSegs writes v at segs, creating objects on the way; a segment may hold
// a dot when passed in segs directly.
func setSegs(tree map[string]any, segs []string, v any) {
	cur := tree
	for _, s := range segs[:len(segs)-1] {
		next, ok := cur[s].(map[string]any)
		if !ok {
			next = map[string]any{}
			cur[s] = next
		}
		cur = next
	}
	cur[segs[len(segs)-1]] = v
}

// skip marks an OpenClaw key as not mapped, with the reason, when present.
func (m *mapper) skip(path, reason string) {
	if _, ok := m.get(path); ok {
		m.rep.Unmapped = append(m.rep.Unmapped, Note{Key: path, Message: reason})
	}
}

func (m *mapper) warn(key, format string, args ...any) {
	m.rep.Warnings = append(m.rep.Warnings, Note{Key: key, Message: fmt.Sprintf(format, args...)})
}

func (m *mapper) unmapped(key, reason string) {
	m.used[key] = true
	m.rep.Unmapped = append(m.rep.Unmapped, Note{Key: key, Message: reason})
}

// copyScalar maps a string, number or boolean key as it is.
func (m *mapper) copyScalar(from, to string) {
	v, ok := m.get(from)
	if !ok {
		return
	}
	switch t := v.(type) {
	case string:
		m.set(to, m.str(from, t), from)
	case float64, bool:
		m.set(to, t, from)
	default:
		m.unmapped(from, "expected a string, number or boolean here")
	}
}

// str carries an OpenClaw string into Talon: ${VAR} references keep their
// form (Talon substitutes the same way; envRefs later moves the ones
// OpenClaw resolved from its own files into the secrets store).
func (m *mapper) str(from, s string) string {
	if strings.Contains(s, "$${") {
		m.warn(from, "OpenClaw's $${...} escape has no Talon equivalent: the value is copied as written; check it")
	}
	return s
}

// strings returns a list of strings (numbers become their decimal form, as
// OpenClaw accepts numeric ids).
func (m *mapper) stringList(from string) ([]any, bool) {
	v, ok := m.get(from)
	if !ok {
		return nil, false
	}
	l, ok := v.([]any)
	if !ok {
		m.unmapped(from, "expected a list")
		return nil, false
	}
	out := []any{}
	for i, e := range l {
		switch t := e.(type) {
		case string:
			out = append(out, m.str(from, t))
		case float64:
			out = append(out, strconv.FormatFloat(t, 'f', -1, 64))
		default:
			m.warn(from+"."+strconv.Itoa(i), "not a string or number: left out")
		}
	}
	return out, true
}

// reportUnused walks the OpenClaw tree and reports every key no mapping
// handled: a whole section at once when nothing inside it was handled.
func (m *mapper) reportUnused(prefix string, v any) {
	if prefix != "" && m.used[prefix] {
		return
	}
	obj, isObj := v.(map[string]any)
	list, isList := v.([]any)
	// Nothing used below: the key is reported whole, except a top-level
	// section without a reason of its own, whose keys are reported one by
	// one (agents.entries says more than agents).
	_, reasoned := sectionReasons[prefix]
	whole := reasoned || strings.Contains(prefix, ".") || len(obj)+len(list) == 0
	if prefix != "" && (!(isObj || isList) || (!m.usedUnder(prefix) && whole)) {
		reason := reasonFor(prefix)
		if m.defaultEntry != "" && strings.HasPrefix(prefix, m.defaultEntry+".") {
			reason = "no Talon equivalent"
		}
		m.rep.Unmapped = append(m.rep.Unmapped, Note{Key: prefix, Message: reason})
		return
	}
	for i, e := range list {
		m.reportUnused(prefix+"."+strconv.Itoa(i), e)
	}
	for _, k := range sortedKeys(obj) {
		p := k
		if prefix != "" {
			p = prefix + "." + k
		}
		m.reportUnused(p, obj[k])
	}
}

func (m *mapper) usedUnder(prefix string) bool {
	for k := range m.used {
		if strings.HasPrefix(k, prefix+".") {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// sectionReasons explain whole OpenClaw sections Talon has no counterpart
// for. Anything else unmapped gets a generic reason.
var sectionReasons = map[string]string{
	"$schema":              "editor hint",
	"$include":             "Talon does not follow $include: merge the included files into openclaw.json and run the migration again",
	"meta":                 "OpenClaw's own bookkeeping",
	"wizard":               "OpenClaw's onboarding state",
	"update":               "Talon updates with talon update",
	"diagnostics":          "no Talon equivalent; see talon doctor",
	"telemetry":            "Talon sends no telemetry",
	"logging":              "OpenClaw's log settings do not carry over; Talon's defaults redact secrets (logging.*)",
	"browser":              "Talon has no browser tool",
	"ui":                   "Talon's Control UI has no presentation settings",
	"secrets":              "OpenClaw's secret providers do not carry over; Talon keeps secrets in its own encrypted store (talon secrets)",
	"auth":                 "OpenClaw's model auth profiles do not carry over; set each provider's apiKey",
	"acp":                  "Talon has no ACP bridge",
	"nodeHost":             "Talon has no node host",
	"worktreeRoot":         "Talon has no managed worktrees",
	"security":             "no Talon equivalent; see talon security audit",
	"bindings":             "Talon has one agent and no routing bindings",
	"broadcast":            "Talon has no broadcast groups",
	"attachments":          "no Talon equivalent",
	"messages":             "OpenClaw's message formatting settings have no Talon equivalent",
	"tts":                  "Talon has no text-to-speech",
	"approvals":            "OpenClaw's approval forwarding does not carry over; Talon sends approvals to the owner (commands.ownerAllowFrom)",
	"transcripts":          "no Talon equivalent; see retention.transcriptsDays",
	"hooks":                "Talon's /hooks endpoint is configured differently; not carried over",
	"discovery":            "Talon does not advertise itself (mDNS)",
	"talk":                 "Talon has no talk mode",
	"cloudWorkers":         "Talon has no cloud workers",
	"desktop":              "no Talon equivalent",
	"memory":               "Talon's memory is MEMORY.md in the workspace (copied); OpenClaw's memory search settings do not carry over",
	"mcp":                  "Talon has no MCP client",
	"skills":               "OpenClaw skills are not installed by the migration; use talon skills install",
	"plugins":              "Talon has no plugins",
	"surfaces":             "no Talon equivalent",
	"proxy":                "Talon sends every request through its own network guard; OpenClaw's proxy settings do not carry over",
	"agents.entries":       "Talon runs one agent (main), OpenClaw's default agent; other agents are not carried over",
	"worktreeAcceleration": "Talon has no managed worktrees",
}

func reasonFor(key string) string {
	for k := key; k != ""; {
		if r, ok := sectionReasons[k]; ok {
			return r
		}
		i := strings.LastIndex(k, ".")
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return "no Talon equivalent"
}

func (m *mapper) workspace() string {
	if v, ok := m.peek("agents.defaults.workspace"); ok {
		if s, ok := v.(string); ok && s != "" {
			return config.ExpandHome(s, m.in.Home)
		}
	}
	return ""
}

// finish sorts the report for stable output and fills empty lists.
func (m *mapper) finish() {
	m.rep.Mapped = append(m.rep.Mapped, m.to...)
	sort.SliceStable(m.rep.Unmapped, func(i, j int) bool { return m.rep.Unmapped[i].Key < m.rep.Unmapped[j].Key })
	for _, n := range m.missingEnv {
		m.warn("", "environment variable %s is not set here; set it where the Talon gateway runs (or store it: talon secrets set %s, and write ${secret:%s})", n, n, n)
	}
	if m.rep.Mapped == nil {
		m.rep.Mapped = []Mapping{}
	}
	for _, l := range []*[]Note{&m.rep.Warnings, &m.rep.Unmapped} {
		if *l == nil {
			*l = []Note{}
		}
	}
	if m.rep.Secrets == nil {
		m.rep.Secrets = []SecretNote{}
	}
	if m.rep.CronJobs == nil {
		m.rep.CronJobs = []CronNote{}
	}
	if m.rep.Files == nil {
		m.rep.Files = []FileNote{}
	}
}

// validate runs Talon's validation (and its reference checks) on the
// result. A key Talon refuses is dropped and reported against its OpenClaw
// source; dropping only ever falls back to a Talon default, which is the
// narrower setting.
func (m *mapper) validate() error {
	lookup := func(name string) (string, bool) {
		if n, ok := strings.CutPrefix(name, "secret:"); ok {
			if v, ok := m.secretNames[n]; ok {
				return v, true
			}
		}
		if m.in.Lookup != nil {
			if v, ok := m.in.Lookup(name); ok {
				return v, true
			}
		}
		if strings.HasPrefix(name, "secret:") {
			return "", false
		}
		if !slices.Contains(m.missingEnv, name) {
			m.missingEnv = append(m.missingEnv, name)
		}
		// Stands in for a variable the gateway's environment will have.
		return strings.Repeat("x", 48), true
	}
	for range 10 {
		c, err := config.Validate(m.out, lookup)
		var problems []config.Problem
		if err != nil {
			var ve *config.ValidationError
			if !errors.As(err, &ve) {
				return fmt.Errorf("migrate: validating the result: %w", err)
			}
			problems = ve.Problems
		} else {
			problems = config.CheckReferences(c)
		}
		if len(problems) == 0 {
			return nil
		}
		for _, p := range problems {
			if p.Path == "" {
				return fmt.Errorf("migrate: the result is not a valid Talon config: %s", p.Message)
			}
			m.drop(p)
		}
	}
	return errors.New("migrate: the result does not validate (please report this)")
}

// drop removes the Talon key a problem names (or the nearest mapped key
// above it) and reports it against its OpenClaw source.
func (m *mapper) drop(p config.Problem) {
	path := p.Path
	from := ""
	for cand := path; cand != ""; {
		for _, mp := range m.to {
			if mp.To == cand {
				from, path = mp.From, cand
			}
		}
		if from != "" {
			break
		}
		i := strings.LastIndex(cand, ".")
		if i < 0 {
			break
		}
		cand = cand[:i]
	}
	if err := config.UnsetPath(m.out, path); err != nil {
		// Not addressable (a key with a dot): drop the whole parent.
		if i := strings.LastIndex(path, "."); i > 0 {
			_ = config.UnsetPath(m.out, path[:i])
		}
	}
	m.to = slices.DeleteFunc(m.to, func(mp Mapping) bool { return mp.To == path || strings.HasPrefix(mp.To, path+".") })
	msg := "Talon refuses it: " + p.Message
	if p.Hint != "" {
		msg += " (" + p.Hint + ")"
	}
	if from == "" {
		from = path
	}
	m.rep.Unmapped = append(m.rep.Unmapped, Note{Key: from, Message: msg + "; Talon's default applies"})
}
