package redact

// Recall of Redact on the true-positive samples of a public secret-detection
// rule set: gitleaks (MIT, github.com/zricethezav/gitleaks). Nothing of it is
// copied into this repository. The test fetches a pinned release into the Go
// module cache at test time ("go mod download", which touches neither go.mod
// nor go.sum) and reads two things from it:
//
//   - config/gitleaks.toml, the compiled rule set: for every rule with a
//     regular expression, genSample below writes strings the expression
//     matches;
//   - cmd/generate/config/rules/*.go, where each rule lists its true
//     positives: the ones written out literally (constant strings) are used
//     as they are, after checking that the rule's expression matches them.
//
// Every sample is put in a line of text and given to Redact; it counts as
// redacted when no random-looking piece of the secret (see secretRuns)
// survives. The figures are printed with
//
//	go test ./internal/security -run TestRedactionRecall -v
//
// and held to a floor only for the formats Redact promises to recognise.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"regexp/syntax"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// gitleaksModule is the pinned release the recall figures refer to.
const gitleaksModule = "github.com/zricethezav/gitleaks/v8@v8.30.1"

// coreRules are the gitleaks rules for the formats Redact documents
// (OpenAI, Anthropic, GitHub, Slack, AWS, Telegram, PEM private keys, JWTs,
// Authorization headers, and the formats added with this test). Their recall
// must be 1.
var coreRules = []string{
	"openai-api-key", "anthropic-api-key", "anthropic-admin-api-key",
	"github-pat", "github-oauth", "github-app-token", "github-refresh-token", "github-fine-grained-pat",
	"slack-bot-token", "slack-user-token", "slack-app-token", "slack-config-access-token",
	"slack-config-refresh-token", "slack-legacy-bot-token", "slack-legacy-token", "slack-legacy-workspace-token",
	"aws-access-token", "telegram-bot-api-token", "private-key", "jwt", "curl-auth-header",
	"gcp-api-key", "stripe-access-token", "gitlab-pat", "npm-access-token", "sendgrid-api-token",
	"huggingface-access-token", "huggingface-organization-api-token", "digitalocean-pat",
	"digitalocean-access-token", "digitalocean-refresh-token", "shopify-access-token",
	"shopify-custom-access-token", "shopify-private-app-access-token", "shopify-shared-secret",
	"twilio-api-key", "pypi-upload-token", "slack-webhook-url",
}

// glRule is one rule of gitleaks.toml.
type glRule struct {
	id          string
	regex       string
	secretGroup int
	re          *regexp.Regexp
}

// gitleaksDir downloads the pinned gitleaks module into the module cache
// (a no-op when it is there already) and returns its directory, or skips.
func gitleaksDir(tb testing.TB) string {
	tb.Helper()
	if testing.Short() {
		tb.Skip("-short: not fetching the gitleaks rule set")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		tb.Skipf("no go command to fetch %s: %v", gitleaksModule, err)
	}
	cmd := exec.Command(goTool, "mod", "download", "-json", gitleaksModule)
	// Outside any module, so that nothing here can touch go.mod or go.sum.
	cmd.Dir = tb.TempDir()
	cmd.Env = append(os.Environ(), "GOWORK=off", "GO111MODULE=on", "GOFLAGS=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var info struct{ Dir, Error string }
	if jerr := json.Unmarshal(out, &info); err != nil || jerr != nil || info.Error != "" || info.Dir == "" {
		tb.Skipf("cannot fetch %s (offline?): %v %s %s", gitleaksModule, err, info.Error, strings.TrimSpace(stderr.String()))
	}
	return info.Dir
}

// parseGitleaksTOML reads the rules of gitleaks.toml. It understands only
// what that file uses: [[rules]] tables with single-line id, regex and
// secretGroup keys; keys inside [[rules.allowlists]] are ignored.
func parseGitleaksTOML(text string) ([]glRule, error) {
	var rules []glRule
	inRule := false
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "[[rules]]":
			rules = append(rules, glRule{})
			inRule = true
			continue
		case strings.HasPrefix(line, "["):
			inRule = false
			continue
		case !inRule:
			continue
		}
		key, val, ok := strings.Cut(line, " = ")
		if !ok {
			continue
		}
		r := &rules[len(rules)-1]
		switch key {
		case "id":
			id, err := strconv.Unquote(val)
			if err != nil {
				return nil, fmt.Errorf("id %s: %v", val, err)
			}
			r.id = id
		case "regex":
			if !strings.HasPrefix(val, "'''") || !strings.HasSuffix(val, "'''") || len(val) < 6 {
				return nil, fmt.Errorf("rule %s: regex not a one-line literal string", r.id)
			}
			r.regex = val[3 : len(val)-3]
		case "secretGroup":
			n, err := strconv.Atoi(val)
			if err != nil {
				return nil, fmt.Errorf("rule %s: secretGroup %s: %v", r.id, val, err)
			}
			r.secretGroup = n
		}
	}
	return rules, sc.Err()
}

// literalTruePositives returns, for every rule id, the constant strings in
// the true-positive lists (the variable tps) of the rule definitions in dir.
// Strings built from generated parts are left out: genSample stands in for
// those.
func literalTruePositives(dir string) (map[string][]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			var ids, lits []string
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.KeyValueExpr:
					if k, ok := n.Key.(*ast.Ident); ok && k.Name == "RuleID" {
						if s, ok := constString(n.Value); ok {
							ids = append(ids, s)
						}
					}
				case *ast.AssignStmt:
					if len(n.Lhs) == 1 && len(n.Rhs) == 1 && isIdent(n.Lhs[0], "tps") {
						lits = append(lits, constStrings(n.Rhs[0])...)
					}
				case *ast.ValueSpec:
					if len(n.Names) == 1 && n.Names[0].Name == "tps" && len(n.Values) == 1 {
						lits = append(lits, constStrings(n.Values[0])...)
					}
				}
				return true
			})
			for _, id := range ids {
				out[id] = append(out[id], lits...)
			}
		}
	}
	return out, nil
}

func isIdent(e ast.Expr, name string) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == name
}

// constStrings collects the constant string expressions in e, looking into
// slice literals and the arguments of append and of the sample helpers
// (whose second argument is the secret), but not into other calls: those
// build random secrets from patterns.
func constStrings(e ast.Expr) []string {
	if s, ok := constString(e); ok {
		return []string{s}
	}
	var out []string
	switch e := e.(type) {
	case *ast.CompositeLit:
		for _, el := range e.Elts {
			if kv, ok := el.(*ast.KeyValueExpr); ok {
				el = kv.Value
			}
			out = append(out, constStrings(el)...)
		}
	case *ast.CallExpr:
		var name string
		switch fn := e.Fun.(type) {
		case *ast.Ident:
			name = fn.Name
		case *ast.SelectorExpr:
			name = fn.Sel.Name
		}
		if name == "append" || strings.HasPrefix(name, "GenerateSampleSecret") {
			for _, a := range e.Args {
				out = append(out, constStrings(a)...)
			}
		}
	}
	return out
}

// constString evaluates a string literal or a sum of them.
func constString(e ast.Expr) (string, bool) {
	switch e := e.(type) {
	case *ast.BasicLit:
		if e.Kind != token.STRING {
			return "", false
		}
		s, err := strconv.Unquote(e.Value)
		return s, err == nil
	case *ast.ParenExpr:
		return constString(e.X)
	case *ast.BinaryExpr:
		if e.Op != token.ADD {
			return "", false
		}
		x, ok1 := constString(e.X)
		y, ok2 := constString(e.Y)
		return x + y, ok1 && ok2
	}
	return "", false
}

// genSample writes a string that re may match: literals as written, one
// character of each class (a letter or digit where the class has one), a
// dot for any character, the least repetition the expression allows (a
// random count within its bounds for counted repeats of at least one, 8 to
// 40 for + on a class of non-space characters), a random branch of each
// alternation, and nothing for ?, * and assertions.
// The caller checks the result against the compiled expression.
func genSample(re *syntax.Regexp, rnd *rand.Rand) string {
	var b strings.Builder
	var gen func(re *syntax.Regexp)
	repeat := func(sub *syntax.Regexp, n int) {
		for range n {
			gen(sub)
		}
	}
	gen = func(re *syntax.Regexp) {
		switch re.Op {
		case syntax.OpLiteral:
			b.WriteString(string(re.Rune))
		case syntax.OpCharClass:
			b.WriteRune(pickRune(re.Rune, rnd))
		case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
			// Rule sets use an unescaped dot where they mean one
			// ("xoxe.xoxp-").
			b.WriteByte('.')
		case syntax.OpCapture:
			gen(re.Sub[0])
		case syntax.OpConcat:
			for _, s := range re.Sub {
				gen(s)
			}
		case syntax.OpAlternate:
			gen(re.Sub[rnd.IntN(len(re.Sub))])
		case syntax.OpPlus:
			n := 1
			if re.Sub[0].Op == syntax.OpCharClass && !unicode.IsSpace(pickRune(re.Sub[0].Rune, rnd)) {
				n = 8 + rnd.IntN(33)
			}
			repeat(re.Sub[0], n)
		case syntax.OpRepeat:
			n := re.Min
			if n > 0 {
				hi := re.Max
				if hi < 0 {
					hi = n + 8
				}
				n += rnd.IntN(hi - n + 1)
			}
			repeat(re.Sub[0], n)
		}
		// OpStar, OpQuest, OpEmptyMatch and the assertions write nothing.
	}
	gen(re)
	return b.String()
}

// pickRune picks a random rune of a character class given as ranges,
// preferring letters and digits, then other visible ASCII, then a space.
func pickRune(ranges []rune, rnd *rand.Rand) rune {
	var alnum, visible, space []rune
	for i := 0; i+1 < len(ranges); i += 2 {
		for r := max(ranges[i], 0x09); r <= min(ranges[i+1], 0x7e); r++ {
			switch {
			case r < 0x7f && (unicode.IsLetter(r) || unicode.IsDigit(r)):
				alnum = append(alnum, r)
			case r > ' ':
				visible = append(visible, r)
			case r == ' ' || r == '\t':
				space = append(space, r)
			}
		}
	}
	for _, set := range [][]rune{alnum, visible, space} {
		if len(set) > 0 {
			return set[rnd.IntN(len(set))]
		}
	}
	if len(ranges) > 0 {
		return ranges[0]
	}
	return 'x'
}

// secretOf returns the secret a rule finds in s: its secretGroup, else its
// first group that matched, else the whole match ("" when it finds none).
func (r *glRule) secretOf(s string) string {
	m := r.re.FindStringSubmatchIndex(s)
	if m == nil {
		return ""
	}
	g := r.secretGroup
	if g == 0 {
		for i := 1; 2*i < len(m); i++ {
			if m[2*i] >= 0 {
				g = i
				break
			}
		}
	}
	if g > 0 && 2*g < len(m) && m[2*g] >= 0 {
		return s[m[2*g]:m[2*g+1]]
	}
	return s[m[0]:m[1]]
}

// secretRuns returns the pieces of a secret that must not survive
// redaction: runs of 8 or more letters and digits that look random (two of
// lower case, upper case and digits, or 17 characters or more). Words of a
// PEM header and numeric ids of up to 16 digits, which Redact keeps on
// purpose (a Telegram bot id is public), are not among them.
func secretRuns(secret string) []string {
	var runs []string
	for _, w := range strings.FieldsFunc(secret, func(r rune) bool {
		return !(r < 0x80 && (unicode.IsLetter(r) || unicode.IsDigit(r)))
	}) {
		if len(w) < 8 {
			continue
		}
		var lower, upper, digit int
		for _, c := range w {
			switch {
			case unicode.IsLower(c):
				lower = 1
			case unicode.IsUpper(c):
				upper = 1
			case unicode.IsDigit(c):
				digit = 1
			}
		}
		if lower+upper+digit >= 2 || len(w) >= 17 {
			runs = append(runs, w)
		}
	}
	return runs
}

// leaked reports whether out still carries the secret: any of its random
// runs, or, for a secret with none, the whole of it.
func leaked(out, secret string) bool {
	runs := secretRuns(secret)
	if len(runs) == 0 {
		return strings.Contains(out, secret)
	}
	for _, r := range runs {
		if strings.Contains(out, r) {
			return true
		}
	}
	return false
}

// ruleFamily names the vendor of a rule id ("github-pat" -> "github").
func ruleFamily(id string) string {
	for _, p := range []string{"new-relic", "cisco-meraki", "defined-networking", "private-key", "hashicorp-tf"} {
		if strings.HasPrefix(id, p) {
			return p
		}
	}
	fam, _, _ := strings.Cut(id, "-")
	return fam
}

// recallSample is one true positive of a rule, in its line of text.
type recallSample struct {
	rule    *glRule
	text    string // the sample as the rule set has it
	secret  string
	literal bool // written out in the rule set, not generated
}

type recallTally struct{ rules, samples, redacted int }

func (t *recallTally) add(redacted bool) {
	t.samples++
	if redacted {
		t.redacted++
	}
}

func (t recallTally) recall() float64 {
	if t.samples == 0 {
		return 0
	}
	return float64(t.redacted) / float64(t.samples)
}

func (t recallTally) String() string {
	return fmt.Sprintf("%.2f (%d/%d)", t.recall(), t.redacted, t.samples)
}

// samplesPerRule is how many samples genSample writes for each rule.
const samplesPerRule = 10

// recallCorpus builds the samples: the literal true positives of each rule
// and samplesPerRule generated ones. keyword reports, per rule id, whether
// the rule finds its secret only after a vendor name and an assignment
// ("telegram_token = …") rather than by the secret's own shape.
func recallCorpus(tb testing.TB) (rules []glRule, samples []recallSample, keyword map[string]bool, skipped map[string]string) {
	dir := gitleaksDir(tb)
	toml, err := os.ReadFile(filepath.Join(dir, "config", "gitleaks.toml"))
	if err != nil {
		tb.Fatal(err)
	}
	rules, err = parseGitleaksTOML(string(toml))
	if err != nil {
		tb.Fatal(err)
	}
	lits, err := literalTruePositives(filepath.Join(dir, "cmd", "generate", "config", "rules"))
	if err != nil {
		tb.Fatal(err)
	}
	keyword, skipped = map[string]bool{}, map[string]string{}
	for i := range rules {
		r := &rules[i]
		if r.regex == "" {
			skipped[r.id] = "matches file paths only"
			continue
		}
		if r.re, err = regexp.Compile(r.regex); err != nil {
			skipped[r.id] = "regex does not compile: " + err.Error()
			continue
		}
		for _, l := range lits[r.id] {
			if sec := r.secretOf(l); sec != "" {
				samples = append(samples, recallSample{rule: r, text: l, secret: sec, literal: true})
			}
		}
		parsed, err := syntax.Parse(sampleSource(r.regex), syntax.Perl)
		if err != nil {
			skipped[r.id] = "regex does not parse: " + err.Error()
			continue
		}
		seen := map[string]bool{}
		rnd := rand.New(rand.NewPCG(uint64(len(r.id)), uint64(i)))
		for try := 0; try < 20*samplesPerRule && len(seen) < samplesPerRule; try++ {
			s := genSample(parsed, rnd)
			sec := r.secretOf(s)
			if sec == "" || seen[s] {
				continue
			}
			seen[s] = true
			samples = append(samples, recallSample{rule: r, text: s, secret: sec})
			if len(seen) == 1 {
				// The rule needs context when its secret is not at
				// the start of what it matches.
				loc := r.re.FindStringIndex(s)
				keyword[r.id] = !strings.HasPrefix(s[loc[0]:], sec)
			}
		}
		if len(seen) == 0 && len(lits[r.id]) == 0 {
			skipped[r.id] = "no sample could be generated"
		}
	}
	return rules, samples, keyword, skipped
}

// sampleSource is the expression genSample writes from: re without its
// case-insensitive flags, so that literals keep the case the rule set
// writes them in ("xoxb-", "-----BEGIN") rather than the one regexp/syntax
// folds them to. What it matches, re matches too.
func sampleSource(re string) string {
	return strings.NewReplacer("(?i)", "", "(?i:", "(?:").Replace(re)
}

// recallLine is the line of text a sample is placed in.
func recallLine(sample string) string {
	return "2026-06-01T10:30:00Z tool output: " + sample + " (exit 0)"
}

func TestRedactionRecall(t *testing.T) {
	rules, samples, keyword, skipped := recallCorpus(t)

	byRule := map[string]*recallTally{}
	var overall, literal, generated, format, kw, core recallTally
	isCore := map[string]bool{}
	for _, id := range coreRules {
		isCore[id] = true
	}
	missed := map[string]string{}
	for _, s := range samples {
		out := Redact(recallLine(s.text))
		ok := !leaked(out, s.secret)
		id := s.rule.id
		if byRule[id] == nil {
			byRule[id] = &recallTally{rules: 1}
		}
		byRule[id].add(ok)
		overall.add(ok)
		if s.literal {
			literal.add(ok)
		} else {
			generated.add(ok)
		}
		if keyword[id] {
			kw.add(ok)
		} else {
			format.add(ok)
		}
		if isCore[id] {
			core.add(ok)
		}
		if !ok && missed[id] == "" {
			missed[id] = s.text
		}
	}

	// Per family: rules, samples, recall.
	fams := map[string]*recallTally{}
	for id, tl := range byRule {
		f := ruleFamily(id)
		if fams[f] == nil {
			fams[f] = &recallTally{}
		}
		fams[f].rules++
		fams[f].samples += tl.samples
		fams[f].redacted += tl.redacted
	}
	names := make([]string, 0, len(fams))
	for f := range fams {
		names = append(names, f)
	}
	sort.Strings(names)
	var tbl strings.Builder
	fmt.Fprintf(&tbl, "\n%-20s %5s %7s %8s %6s\n", "family", "rules", "samples", "redacted", "recall")
	for _, f := range names {
		tl := fams[f]
		fmt.Fprintf(&tbl, "%-20s %5d %7d %8d %6.2f\n", f, tl.rules, tl.samples, tl.redacted, tl.recall())
	}
	t.Log(tbl.String())

	ids := make([]string, 0, len(missed))
	for id := range missed {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		kind := "format"
		if keyword[id] {
			kind = "keyword"
		}
		t.Logf("missed %s (%s, %s): %.120q", id, kind, byRule[id], missed[id])
	}
	skippedIDs := make([]string, 0, len(skipped))
	for id := range skipped {
		skippedIDs = append(skippedIDs, id)
	}
	sort.Strings(skippedIDs)
	for _, id := range skippedIDs {
		t.Logf("skipped %s: %s", id, skipped[id])
	}

	var fullRules, fmtRules, kwRules int
	for id, tl := range byRule {
		if tl.redacted == tl.samples {
			fullRules++
		}
		if keyword[id] {
			kwRules++
		} else {
			fmtRules++
		}
	}
	t.Logf("redaction recall on %s: overall %s over %d rules (%d fully redacted, %d skipped); literal samples %s, generated %s",
		gitleaksModule, overall, len(byRule), fullRules, len(skipped), literal, generated)
	t.Logf("by kind: format rules (secret recognisable by its shape) %s over %d rules; keyword rules (gitleaks needs a vendor name before it) %s over %d rules",
		format, fmtRules, kw, kwRules)
	t.Logf("core formats (%d rules): %s", len(coreRules), core)

	if len(rules) < 150 || overall.samples < 1000 {
		t.Fatalf("rule set looks wrong: %d rules, %d samples", len(rules), overall.samples)
	}
	for _, id := range coreRules {
		tl := byRule[id]
		if tl == nil {
			t.Errorf("core rule %s has no samples (renamed in %s?)", id, gitleaksModule)
			continue
		}
		if tl.redacted != tl.samples {
			t.Errorf("core rule %s: recall %s, want 1: missed %q", id, tl, missed[id])
		}
	}
}

// TestGenSample checks the sample writer on expressions of the shapes the
// rule set uses.
func TestGenSample(t *testing.T) {
	for _, expr := range []string{
		`\bghp_[0-9a-zA-Z]{36}\b`,
		`(?i)[\w.-]{0,50}?(?:vendor)(?:[ \t\w.-]{0,20})[\s'"]{0,3}(?:=|:|=>)[\x60'"\s=]{0,5}([a-z0-9]{32})(?:[\x60'"\s;]|$)`,
		`\b((?:AKIA|ASIA)[A-Z2-7]{16})\b`,
		`(?i)-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY-----[\s\S-]{64,}?KEY-----`,
		`xoxb-[0-9]{10,13}-[0-9]{10,13}[a-zA-Z0-9-]*`,
		`(?:sk|rk)_(?:test|live)_[a-zA-Z0-9]{10,99}`,
	} {
		re := regexp.MustCompile(expr)
		parsed, err := syntax.Parse(expr, syntax.Perl)
		if err != nil {
			t.Fatal(err)
		}
		rnd := rand.New(rand.NewPCG(1, 2))
		for range 20 {
			if s := genSample(parsed, rnd); !re.MatchString(s) {
				t.Errorf("genSample(%s) = %q, which it does not match", expr, s)
			}
		}
	}
}

func TestSecretRuns(t *testing.T) {
	tests := map[string][]string{
		"ghp_" + "h2FDEEtfjgVvVqE1SkHbn88HxjSI6bWHtP3f": {"h2FDEEtfjgVvVqE1SkHbn88HxjSI6bWHtP3f"},
		"7220297299:AAH8Stqcbnr3yBdGBLEPH1qhT61qtc4x":   {"AAH8Stqcbnr3yBdGBLEPH1qhT61qtc4x"},
		"-----BEGIN ENCRYPTED PRIVATE KEY-----":         nil,
		"hunter2":                                       nil,
		"abcdefghijklmnopqrstu":                         {"abcdefghijklmnopqrstu"},
	}
	for in, want := range tests {
		if got := secretRuns(in); !slices.Equal(got, want) {
			t.Errorf("secretRuns(%q) = %q, want %q", in, got, want)
		}
	}
}
