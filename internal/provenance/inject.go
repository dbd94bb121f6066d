package provenance

import (
	"regexp"
	"strings"
	"sync"
)

// Alert is one injection pattern found in untrusted text.
type Alert struct {
	Pattern string `json:"pattern"`
	Excerpt string `json:"excerpt"`
}

// injectionPatterns are signs that text is trying to steer the model. They
// raise an alert; they never block anything by themselves (policy and
// taint decide what may happen).
var injectionPatterns = []struct {
	name string
	re   func() *regexp.Regexp // compiled on first use (lazyRegexp)
}{
	{"ignore-instructions", lazyRegexp(`(?i)\b(ignore|disregard|forget|override)\b[^.\n]{0,30}\b(all|any|the|your|previous|prior|above|earlier|preceding)\b[^.\n]{0,20}\b(instructions?|prompts?|rules|directives|guidelines)\b`)},
	{"new-instructions", lazyRegexp(`(?i)(^|\n)\s*(new|updated|real|actual|important)\s+(system\s+)?instructions?\s*:`)},
	{"role-line", lazyRegexp(`(?im)^\s*(\[\s*system\s*\]|<\|?\s*(im_start|system)\s*\|?>|#{1,3}\s*system\s*:?\s*$|system\s*:\s*you\s+(are|must|will))`)},
	{"persona-switch", lazyRegexp(`(?i)\byou\s+are\s+now\s+(in\s+)?(a\s+|an\s+)?(dan|developer\s+mode|admin(istrator)?\s+mode|jailbroken|unrestricted|god\s+mode)\b`)},
	{"tool-call-text", lazyRegexp(`(?i)(<tool_call>|"(name|tool)"\s*:\s*"(exec|write|web_fetch|message|cron|apply_patch)"|\bcall\s+the\s+(exec|message|web_fetch|cron)\s+tool\b)`)},
	{"exfiltrate", lazyRegexp(`(?i)\b(send|post|upload|forward|email|exfiltrate|leak)\b[^.\n]{0,40}\b(api[\s_-]?keys?|passwords?|secrets?|tokens?|credentials|private\s+keys?|\.env|ssh\s+keys?|system\s+prompt)\b[^.\n]{0,40}\b(to|at|into)\b`)},
	{"pipe-to-shell", lazyRegexp(`(?i)\b(curl|wget)\b[^|\n]{0,120}\|\s*(sudo\s+)?(ba|z|da)?sh\b`)},
	{"reveal-prompt", lazyRegexp(`(?i)\b(reveal|print|repeat|show|output)\b[^.\n]{0,30}\b(your|the)\s+(system\s+prompt|initial\s+instructions|hidden\s+instructions)\b`)},
}

// DetectInjection returns the injection patterns found in text, folded for
// look-alike characters first so fullwidth or zero-width tricks do not hide
// them.
func DetectInjection(text string) []Alert {
	if text == "" {
		return nil
	}
	f := fold(text)
	var out []Alert
	for _, p := range injectionPatterns {
		loc := p.re().FindStringIndex(f)
		if loc == nil {
			continue
		}
		ex := strings.TrimSpace(f[loc[0]:loc[1]])
		if len(ex) > 120 {
			ex = ex[:120] + "…"
		}
		out = append(out, Alert{Pattern: p.name, Excerpt: ex})
	}
	return out
}

// lazyRegexp returns a function that compiles expr on its first call and
// returns the same *regexp.Regexp from then on, so loading the package
// compiles nothing.
func lazyRegexp(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}
