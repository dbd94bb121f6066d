package config

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/talonclaw/talon/internal/netguard"
)

// checkFormat checks s against a format tag and returns a message and hint
// when it does not match. q is how the message shows the value.
func checkFormat(format, s, q string) (msg, hint string) {
	switch format {
	case "ip":
		if _, err := netip.ParseAddr(s); err != nil {
			return q + " is not an IP address", `e.g. "192.168.1.10" or "fd7a:115c:a1e0::1"`
		}
	case "ip-or-cidr":
		if _, err := netip.ParseAddr(s); err == nil {
			return "", ""
		}
		if _, err := netip.ParsePrefix(s); err != nil {
			return q + " is not an IP address or CIDR range", `e.g. "10.0.0.1" or "10.0.0.0/8"`
		}
	case "http-url":
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return q + " is not an absolute http or https URL", `e.g. "http://127.0.0.1:11434/v1"`
		}
	case "origin":
		return checkOrigin(s, q)
	case "model-ref":
		prov, model, ok := strings.Cut(s, "/")
		if !ok || !validID(prov) || strings.TrimSpace(model) == "" {
			return q + ` is not a model reference`, `write "<provider id>/<model id>", e.g. "local/qwen3"`
		}
	case "e164":
		if !isE164(s) {
			return q + " is not a phone number in E.164 form", `e.g. "+15550000000"`
		}
	case "fetch-host":
		var he *netguard.HostEntryError
		if err := netguard.CheckHostEntry(s); errors.As(err, &he) {
			return q + " " + he.Reason, he.Hint
		} else if err != nil {
			return q + ": " + err.Error(), ""
		}
	default:
		panic(fmt.Sprintf("config: unknown format %q", format))
	}
	return "", ""
}

// checkOrigin accepts exactly what a browser sends in an Origin header:
// scheme://host[:port] in lowercase, nothing else. The wildcard and the
// opaque "null" origin are refused: either would let any web page drive
// the gateway from the owner's browser.
func checkOrigin(s, q string) (msg, hint string) {
	switch s {
	case "*":
		return `"*" is not allowed: it would let any web page connect`, `list each origin, e.g. "https://talon.example.com"`
	case "null":
		return `"null" is not allowed: every sandboxed page and file: URL sends it`, `serve the page from a real origin and list that`
	}
	const h = `write scheme://host[:port] with no path, e.g. "https://talon.example.com"`
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return q + " is not an origin", h
	}
	if u.Path == "/" && u.RawQuery == "" && u.Fragment == "" && !u.ForceQuery {
		return q + " is not an origin", "remove the trailing /"
	}
	if u.User != nil || u.Path != "" || u.RawPath != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(s, "#") {
		return q + " is not an origin", h
	}
	if strings.ToLower(s) != s {
		return q + " is not an origin as browsers send it", "write it in lowercase"
	}
	return "", ""
}

// checkKey checks a map key against a keys tag.
func checkKey(kind, k string) (msg, hint string) {
	switch kind {
	case "id":
		if !validID(k) {
			return fmt.Sprintf("invalid id %s", quoteShort(k)), `ids are lowercase letters, digits, "-" and "_", starting with a letter or digit`
		}
		return "", ""
	}
	panic(fmt.Sprintf("config: unknown keys check %q", kind))
}

// idPattern is validID as a regular expression, for the schema.
const idPattern = "^[a-z0-9][a-z0-9_-]*$"

func validID(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '-' || c == '_') && i > 0:
		default:
			return false
		}
	}
	return true
}

// e164Pattern is isE164 as a regular expression, for the schema.
const e164Pattern = `^\+[1-9][0-9]{6,14}$`

func isE164(s string) bool {
	if len(s) < 8 || len(s) > 16 || s[0] != '+' || s[1] == '0' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// formatSchema is the JSON Schema keywords for a format tag.
func formatSchema(format string) map[string]any {
	switch format {
	case "ip":
		return map[string]any{"anyOf": []any{
			map[string]any{"format": "ipv4"}, map[string]any{"format": "ipv6"},
		}}
	case "http-url":
		return map[string]any{"format": "uri", "pattern": "^https?://"}
	case "origin":
		return map[string]any{"pattern": `^https?://[^/?#*]+$`}
	case "model-ref":
		return map[string]any{"pattern": `^[a-z0-9][a-z0-9_-]*/.+$`}
	case "e164":
		return map[string]any{"pattern": e164Pattern}
	}
	return nil
}

// suggest returns the candidate closest to s, if it is close enough to be
// a likely typo, else "".
func suggest(s string, candidates []string) string {
	if utf8.RuneCountInString(s) > 64 {
		return ""
	}
	best, bestD := "", -1
	ls := strings.ToLower(s)
	for _, c := range candidates {
		d := editDistance(ls, strings.ToLower(c))
		if bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	limit := 1
	switch n := utf8.RuneCountInString(s); {
	case n >= 9:
		limit = 3
	case n >= 5:
		limit = 2
	}
	if bestD >= 0 && bestD <= limit {
		return best
	}
	return ""
}

// editDistance is the optimal string alignment distance: insertions,
// deletions, substitutions and transpositions of adjacent characters each
// cost 1, so "opne" is one step from "open".
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
