// Package security holds Talon's content-security checks. This file is its
// secret scrubbing.
//
// Invariant 10: secrets never reach the logs, transcripts or outbound
// messages. Credentials travel as secret.Secret, never as strings; the
// Scrubber (scrub.go) removes every secret value Talon knows, in every
// encoding, from all text that leaves; Redact is the last line of defence
// for credentials nobody told Talon about, found by their format (tool
// output, error messages, headers, config dumps). It never panics, it is idempotent
// (Redact(Redact(s)) == Redact(s)), so text redacted twice on its way out
// reads the same as text redacted once, and it is cheap on text with no
// secret in it.
//
// It errs on the side of redacting too much: a value after a sensitive key is
// removed even if it does not look like a credential, an unterminated quoted
// value is redacted to the end of the text and so is everything after a PEM
// private key header without its END line, and a whole Authorization or
// Cookie header line is removed.
package redact

import (
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"unicode"
	"unicode/utf8"
)

// Mask is what a redacted secret (or the secret part of it) is replaced with.
const Mask = "***"

// maxPasses bounds the fixpoint loop in Redact. Each pass applies every rule
// once; a second pass is needed only when one rule's output lets another rule
// see more (for example a token redacted inside an Authorization header), and
// in practice the loop ends after two.
const maxPasses = 8

// Redact returns s with every secret it recognises replaced by "***". Where a
// prefix of a credential names its kind and is not itself secret, it is kept
// ("sk-proj-***", "ghp_***", "xoxb-***", "Bearer ***", "123456789:***" for a
// Telegram bot token whose numeric bot id is public), so a reader can still
// tell which credential was involved.
//
// Recognised: OpenAI (sk-, sk-proj-, …) and Anthropic (sk-ant-) keys, Google
// API keys (AIza…), GitHub tokens (ghp_, gho_, ghu_, ghs_, ghr_, github_pat_),
// Slack tokens (xoxb-, xoxp-, xoxa-, xoxr-, xoxs-, xoxe-, xoxo-, xapp-) and
// webhook URLs, Telegram bot tokens, AWS access key ids (AKIA…, ASIA…, A3T…),
// the vendor tokens with a documented prefix in tokenFormats (Stripe, GitLab,
// npm, PyPI, SendGrid, Twilio, Hugging Face, DigitalOcean, Shopify, Vault,
// Grafana and others), "Bearer <token>", Authorization and Cookie header
// lines, PEM private key blocks, JWTs, passwords in URLs
// (scheme://user:***@host) and after curl -u, and key=value, key: value,
// "key": "value" and --key value pairs whose key IsSensitiveKey.
func Redact(s string) string {
	return redact(s, len(rules))
}

// RedactFormats removes only the credential formats (PEM keys, provider,
// cloud and vendor tokens, JWTs): the rules that recognise a secret by its
// shape and leave ordinary code and prose alone. It is what tool output
// and outbound messages get, where the key/value rules would mangle code
// the agent is working on.
func RedactFormats(s string) string {
	return redact(s, formatRules)
}

// formatRules is how many rules, from the start of the list, are the
// credential formats.
var formatRules = func() int {
	for i, r := range rules {
		if r.name == "bearer" {
			return i
		}
	}
	panic("security: no bearer rule")
}()

func redact(s string, n int) string {
	for range maxPasses {
		out := redactOnce(s, n)
		if out == s {
			return out
		}
		s = out
	}
	return s
}

// redactOnce applies every rule once, in order: PEM blocks, then the
// credential formats, so that each token is removed whole before the
// structural rules (headers, key/value pairs) cut the text around it.
func redactOnce(s string, n int) string {
	var lower string // computed on first use
	for i := range rules[:n] {
		r := &rules[i]
		if r.hintFold {
			if lower == "" {
				lower = strings.ToLower(s)
			}
			if !containsAny(lower, r.hints) {
				continue
			}
		} else if !containsAny(s, r.hints) {
			continue
		}
		out := r.apply(s)
		if out != s {
			s = out
			lower = ""
		}
	}
	return s
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// rule is one redaction, named by the kind of secret it removes. hints are substrings at least one of which the text
// must contain for the rule to possibly apply (compared case-insensitively,
// against the lower-cased text, when hintFold is set); they keep Redact cheap
// on ordinary text.
type rule struct {
	name     string // for tests and diagnostics
	hints    []string
	hintFold bool
	apply    func(string) string
}

// The regular expressions are compiled on first use, once, and never
// modified; a *regexp.Regexp is safe for concurrent use. Compiling them at
// package init cost every process, the CLI's one-shot commands as much as
// the gateway, ~0.5 MB and 0.6 ms before main.
var (
	// OpenAI keys are "sk-" followed by a long random string, optionally
	// after a kind (proj, svcacct, admin); Anthropic keys are "sk-ant-…".
	openAIRE = lazyRegexp(`\bsk-(ant-|proj-|svcacct-|admin-)?([A-Za-z0-9_-]{20,})`)
	googleRE = lazyRegexp(`\bAIza[0-9A-Za-z_-]{30,}`)
	githubRE = lazyRegexp(`\b(gh[pousr]_)[A-Za-z0-9]{30,}|\b(github_pat_)[A-Za-z0-9_]{30,}`)
	slackRE  = lazyRegexp(`\b(xox[abeoprs]-|xapp-)[A-Za-z0-9-]{8,}`)
	// A Telegram bot token is "<bot id>:<35 chars>". No \b before the id:
	// in Bot API URLs the token follows "/bot" directly.
	telegramRE = lazyRegexp(`([0-9]{5,16}):([A-Za-z0-9_-]{35,})`)
	awsRE      = lazyRegexp(`\b(AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}\b`)
	// A JWT is three base64url segments; header and payload are JSON
	// objects, so both start "ey" (almost always "eyJ", for `{"`). Some
	// encoders leave escaped slashes in them.
	jwtRE    = lazyRegexp(`\bey[A-Za-z0-9_-]{4,}\.ey[A-Za-z0-9_/\\-]{4,}\.[A-Za-z0-9_/\\-]*`)
	bearerRE = lazyRegexp(`(?i)\b(bearer)([ \t]+)([A-Za-z0-9._~+/-]+=*)`)
	// Header lines whose whole value is a credential: the rest of the line
	// goes, up to a quote or backslash that would end an enclosing string.
	headerRE   = lazyRegexp(`(?i)\b((?:proxy-)?authorization|(?:set-)?cookie)([ \t]*:[ \t]*)([^\s"\\][^\r\n"\\]*)`)
	userinfoRE = lazyRegexp(`\b([A-Za-z][A-Za-z0-9+.-]*://[^/\s:@"'<>]+:)([^/\s"'<>]+)@`)
	// A header given to curl (or anything taking -H) named Key or Token,
	// which IsSensitiveKey alone does not take for a credential.
	curlHeaderRE = lazyRegexp(`(?i)((?:^|\s)(?:-H|--header)(?:=|[ \t]*)['"]?(?:X-(?:[a-z]+-)?)?(?:Api-?)?(?:Key|Token)[ \t]*:[ \t]*)([^'"\s]+)`)
	// curl -u user:password (and --user).
	curlUserRE = lazyRegexp(`(\bcurl\b[^\n]*?[ \t](?:-u|--user)(?:[ \t]+|=)['"]?[^\s:'"@]+:)([^\s'"]+)`)
	// A key candidate followed by a separator; the value is parsed by hand
	// (see redactPairs) because its extent depends on how it is quoted.
	pairRE = lazyRegexp(`(\\?"|')?([A-Za-z_][A-Za-z0-9_.\-]*)(\\?"|')?([ \t]*(?:=>|:=|[:=])[ \t]*)`)
	// A command-line flag followed by its value after a space.
	flagRE = lazyRegexp(`(?:^|[\s"'=])--([A-Za-z][A-Za-z0-9_.\-]*)([ \t]+)`)
	// PEM private key headers: "RSA PRIVATE KEY", "OPENSSH PRIVATE KEY",
	// "ENCRYPTED PRIVATE KEY", "PGP PRIVATE KEY BLOCK", and the same mangled
	// (no space, lower case) by copying.
	pemRE    = lazyRegexp(`(?i)-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----`)
	pemEndRE = lazyRegexp(`(?i)-----END[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----`)
)

var rules = []rule{
	// PEM first: its BEGIN/END lines must be intact to be recognised, and
	// the token rules below would take "-----BEGIN" for a token.
	{name: "pem", hints: []string{"-----begin"}, hintFold: true, apply: redactPEM},
	{name: "openai", hints: []string{"sk-"}, apply: near([]string{"sk-"}, func(s string) string {
		return replaceRandom(openAIRE(), s, 2, "sk-${1}"+Mask)
	})},
	{name: "google", hints: []string{"AIza"}, apply: func(s string) string {
		return googleRE().ReplaceAllString(s, "AIza"+Mask)
	}},
	{name: "github", hints: githubHints, apply: near(githubHints, func(s string) string {
		return githubRE().ReplaceAllString(s, "${1}${2}"+Mask)
	})},
	{name: "slack", hints: []string{"xox", "xapp-"}, apply: func(s string) string {
		return replaceRandom(slackRE(), s, 0, "${1}"+Mask)
	}},
	{name: "telegram", hints: []string{":"}, apply: redactTelegram},
	{name: "aws", hints: []string{"AKIA", "ASIA", "ABIA", "ACCA", "A3T"}, apply: func(s string) string {
		return awsRE().ReplaceAllString(s, "${1}"+Mask)
	}},
	{name: "jwt", hints: []string{".ey"}, apply: func(s string) string {
		return jwtRE().ReplaceAllStringFunc(s, func(m string) string {
			if strings.HasPrefix(m, "eyJ") {
				return "eyJ" + Mask
			}
			return "ey" + Mask
		})
	}},
	{name: "vendor-token", hints: tokenHints, apply: redactTokens},
	{name: "bearer", hints: []string{"bearer"}, hintFold: true, apply: redactBearer},
	{name: "header", hints: []string{"authorization", "cookie"}, hintFold: true, apply: func(s string) string {
		return headerRE().ReplaceAllString(s, "${1}${2}"+Mask)
	}},
	{name: "url-userinfo", hints: []string{"://"}, apply: func(s string) string {
		return userinfoRE().ReplaceAllString(s, "${1}"+Mask+"@")
	}},
	{name: "curl-header", hints: []string{"-H", "--header"}, apply: func(s string) string {
		return curlHeaderRE().ReplaceAllString(s, "${1}"+Mask)
	}},
	{name: "curl-user", hints: []string{"curl"}, apply: func(s string) string {
		return curlUserRE().ReplaceAllString(s, "${1}"+Mask)
	}},
	{name: "key-value", hints: sensitiveStems, hintFold: true, apply: redactPairs},
	{name: "flag", hints: []string{"--"}, apply: redactFlags},
}

var githubHints = []string{"ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"}

// near applies fn only to the tokens around each occurrence of a hint
// (the run of token characters containing it, plus a few characters of
// context before) instead of the whole text: the regexp engine costs time
// in proportion to the text it scans, and a tool result of 64 KB with one
// key in it should not cost a scan of 64 KB per rule. A token is never cut:
// each window reaches to the end of its run of token characters.
func near(hints []string, fn func(string) string) func(string) string {
	return func(s string) string {
		var b strings.Builder
		last := 0
		for i := 0; i < len(s); {
			at, n := -1, 0
			for _, h := range hints {
				if j := strings.Index(s[i:], h); j >= 0 && (at < 0 || j < at) {
					at, n = j, len(h)
				}
			}
			if at < 0 {
				break
			}
			at += i
			ws := at
			for ws > last && at-ws < 64 && isTokenByte(s[ws-1]) {
				ws--
			}
			if ws > last && at-ws < 64 {
				ws-- // one byte of context for \b
			}
			we := at + n
			for we < len(s) && isTokenByte(s[we]) {
				we++
			}
			if out := fn(s[ws:we]); out != s[ws:we] {
				b.WriteString(s[last:ws])
				b.WriteString(out)
				last = we
			}
			i = we
		}
		if last == 0 {
			return s
		}
		b.WriteString(s[last:])
		return b.String()
	}
}

// sensitiveStems are substrings of every key IsSensitiveKey accepts, used
// as the cheap pre-check for the key/value rules.
var sensitiveStems = []string{"token", "pass", "secret", "key", "auth", "cookie", "cred", "jwt"}

// replaceRandom is ReplaceAllString for formats whose random part (submatch
// group, 0 for the whole match) always looksRandom (has a digit or both
// letter cases): it leaves alone kebab-case words that happen to start like
// a key ("sk-some-feature-name").
func replaceRandom(re *regexp.Regexp, s string, group int, template string) string {
	var b strings.Builder
	last := 0
	for _, loc := range re.FindAllStringSubmatchIndex(s, -1) {
		if !looksRandom(s[loc[2*group]:loc[2*group+1]]) {
			continue
		}
		b.WriteString(s[last:loc[0]])
		b.Write(re.ExpandString(nil, template, s, loc))
		last = loc[1]
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

func redactTelegram(s string) string {
	// A scan rather than telegramRE over the whole text: ':' is in almost
	// every line, and the regexp engine is slow on text that nearly
	// matches everywhere. The regexp still decides each candidate.
	var b strings.Builder
	last := 0
	for i := 0; i < len(s); i++ {
		if s[i] != ':' {
			continue
		}
		d := i
		for d > 0 && i-d < 16 && s[d-1] >= '0' && s[d-1] <= '9' {
			d--
		}
		if i-d < 5 || (d > 0 && s[d-1] >= '0' && s[d-1] <= '9') {
			continue
		}
		e := i + 1
		for e < len(s) && isTokenByte(s[e]) {
			e++
		}
		// Exactly 35 characters: a longer run is something else (a hash
		// after a number, say) and is left alone.
		if e-i-1 != 35 || !telegramRE().MatchString(s[d:e]) {
			i = e - 1
			continue
		}
		b.WriteString(s[last : i+1])
		b.WriteString(Mask)
		last, i = e, e-1
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

func isTokenByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

func redactBearer(s string) string {
	var b strings.Builder
	last, pos := 0, 0
	for pos < len(s) {
		loc := bearerRE().FindStringSubmatchIndex(s[pos:])
		if loc == nil {
			break
		}
		for i := range loc {
			loc[i] += pos
		}
		tok := s[loc[6]:loc[7]]
		// Prose ("bearer of bad news", "bearer instruments.") has short
		// words of letters; tokens are long or have digits and symbols.
		// A token ends the value: "Bearer api_key=…" is something else,
		// left to the key/value rule.
		ends := loc[7] == len(s) || !strings.ContainsRune("=:_", rune(s[loc[7]]))
		if w := strings.TrimRight(tok, ".,"); !ends || len(w) < 8 || (len(w) < 20 && isLetters(w)) {
			// Not a token, but it may be the word "Bearer" itself
			// ("Bearer Bearer <token>"): look again from there.
			pos = loc[6]
			continue
		}
		b.WriteString(s[last:loc[6]])
		b.WriteString(Mask)
		last, pos = loc[7], loc[7]
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

func isLetters(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		if c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

// redactPairs replaces the value of every key/value pair whose key
// IsSensitiveKey: key=value, key: value, "key": "value", 'key': 'value',
// \"key\": \"value\" (JSON inside a JSON string), key => value.
func redactPairs(s string) string {
	var b strings.Builder
	last, pos := 0, 0 // s[:last] is in b; scanning resumes at pos
	for pos < len(s) {
		loc := pairRE().FindStringSubmatchIndex(s[pos:])
		if loc == nil {
			break
		}
		for i := range loc {
			if loc[i] >= 0 {
				loc[i] += pos
			}
		}
		open, key, closeQ, sepEnd := sub(s, loc, 1), s[loc[4]:loc[5]], sub(s, loc, 3), loc[9]
		// A key written "key" or \"key\" sits in JSON: a bare value is
		// replaced by a quoted mask so the JSON stays valid.
		quote := ""
		if open != "" && open == closeQ {
			quote = open
		}
		if !IsSensitiveKey(key) || notAssignment(s, loc[0], loc[8], sepEnd) {
			pos = sepEnd
			continue
		}
		end, repl := pairValue(s, sepEnd, quote)
		if end == sepEnd || (end < len(s) && s[end] == '(' && repl == Mask) {
			// No value here (empty, an object, another key), or a
			// function call in code ("token := flag.String(").
			pos = sepEnd
			continue
		}
		b.WriteString(s[last:sepEnd])
		b.WriteString(repl)
		last, pos = end, end
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// notAssignment reports whether the key at s[start:] with its separator at
// s[sep:sepEnd] is not giving the key a value: a comparison in code
// ("token == x", the separator's "=" followed by another) or a Talon
// secret reference, whose "value" is a name ("${secret:NAME}").
func notAssignment(s string, start, sep, sepEnd int) bool {
	if strings.HasSuffix(strings.TrimRight(s[sep:sepEnd], " \t"), "=") && sepEnd < len(s) && s[sepEnd] == '=' {
		return true
	}
	return start >= 2 && s[start-2:start] == "${"
}

// sub returns submatch i of a FindStringSubmatchIndex result, or "".
func sub(s string, loc []int, i int) string {
	if loc[2*i] < 0 {
		return ""
	}
	return s[loc[2*i]:loc[2*i+1]]
}

// pairValue parses the value starting at s[i] and returns where it ends and
// what replaces it. It returns end == i when there is no value to redact.
// keyQuote is the quote around the key, if any; it is used for a bare value
// so that JSON stays JSON.
func pairValue(s string, i int, keyQuote string) (end int, repl string) {
	if i >= len(s) {
		return i, ""
	}
	switch {
	case strings.HasPrefix(s[i:], `\"`):
		// JSON nested in a JSON string: ends at the next \" that is not
		// itself escaped (\\\").
		j := i + 2
		for j < len(s) {
			if s[j] == '\\' && j+1 < len(s) {
				if s[j+1] == '"' && s[j-1] != '\\' {
					return j + 2, `\"` + Mask + `\"`
				}
				j += 2
				continue
			}
			j++
		}
		return len(s), `\"` + Mask // unterminated: redact to the end
	case s[i] == '"' || s[i] == '\'':
		q := s[i]
		j := i + 1
		for j < len(s) && s[j] != q {
			if s[j] == '\\' {
				j++
			}
			j++
		}
		if j >= len(s) {
			return len(s), string(q) + Mask
		}
		if j == i+1 {
			return i, "" // empty: nothing to hide
		}
		return j + 1, string(q) + Mask + string(q)
	case s[i] == '[':
		// A list of secrets ("apiKeys": ["…", "…"]).
		j, depth, inQ := i, 0, byte(0)
		for ; j < len(s); j++ {
			c := s[j]
			switch {
			case inQ != 0:
				if c == '\\' {
					j++
				} else if c == inQ {
					inQ = 0
				}
			case c == '"' || c == '\'':
				inQ = c
			case c == '[':
				depth++
			case c == ']':
				depth--
				if depth == 0 {
					if strings.TrimSpace(s[i+1:j]) == "" {
						return i, ""
					}
					return j + 1, `["` + Mask + `"]`
				}
			}
		}
		return len(s), `["` + Mask
	}
	j := bareEnd(s, i)
	if j == i {
		return i, ""
	}
	// "Authorization=Bearer abc": the scheme word and the token go together.
	if w := strings.ToLower(s[i:j]); w == "bearer" || w == "basic" || w == "digest" || w == "token" || w == "bot" {
		k := j
		for k < len(s) && (s[k] == ' ' || s[k] == '\t') {
			k++
		}
		if k > j {
			if e := bareEnd(s, k); e > k {
				j = e
			}
		}
	}
	if keyQuote == `"` || keyQuote == `\"` {
		return j, keyQuote + Mask + keyQuote
	}
	return j, Mask
}

// bareEnd returns the end of an unquoted value starting at s[i].
func bareEnd(s string, i int) int {
	j := i
	for j < len(s) {
		c := s[j]
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' ||
			c == ',' || c == ';' || c == '&' || c == '"' || c == '\'' || c == '<' || c == '>' ||
			c == '(' || c == ')' || c == '{' || c == '}' || c == '[' || c == ']' {
			break
		}
		j++
	}
	return j
}

// redactFlags handles "--password hunter2" (value after a space).
func redactFlags(s string) string {
	var b strings.Builder
	last := 0
	for _, loc := range flagRE().FindAllStringSubmatchIndex(s, -1) {
		if loc[0] < last {
			continue
		}
		key := s[loc[2]:loc[3]]
		if !IsSensitiveKey(key) {
			continue
		}
		i := loc[1]
		if i >= len(s) || s[i] == '-' {
			continue
		}
		end, repl := pairValue(s, i, "")
		if end == i {
			continue
		}
		b.WriteString(s[last:i])
		b.WriteString(repl)
		last = end
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// redactPEM replaces the body of every PEM private key block. A block
// without its END line (a truncated log line) is redacted to the end of s:
// nothing after a private key header is safe to keep.
func redactPEM(s string) string {
	var b strings.Builder
	last := 0
	for _, loc := range pemRE().FindAllStringIndex(s, -1) {
		if loc[0] < last {
			continue
		}
		hdrEnd := loc[1]
		b.WriteString(s[last:hdrEnd])
		b.WriteString(Mask)
		e := pemEndRE().FindStringIndex(s[hdrEnd:])
		if e == nil {
			return b.String()
		}
		b.WriteString(s[hdrEnd+e[0] : hdrEnd+e[1]])
		last = hdrEnd + e[1]
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// IsSensitiveKey reports whether a key (a log attribute, a JSON field, an
// environment variable, a header name) names a value that is a credential.
// It is case-insensitive and splits the key into words (camelCase,
// snake_case, kebab-case, dotted), so "apiKey", "API_KEY", "x-api-key" and
// "openai.apiKey" all match.
//
// Sensitive words: token, password, passwd, passphrase, pass, secret,
// credential(s), creds, authorization, cookie, jwt, and key or keys after
// api, private, access, secret, signing, encryption, master or client
// (so "sessionKey", Talon's routing key, is not a secret).
//
// Model-usage counts are not secrets: the plural "tokens" ("inputTokens",
// "max_tokens", "tokens") is sensitive only after a credential word
// ("accessTokens", "refresh_tokens"); the singular "token" is not sensitive
// after a count word ("maxToken", "input_token"). Any sensitive word
// followed by a word that describes it rather than holds it ("tokenCount",
// "token_limit", "passwordMinLength", "secretName", "tokenType") is not
// sensitive either.
func IsSensitiveKey(key string) bool {
	words := splitKey(key)
	for i, w := range words {
		var prev, next string
		if i > 0 {
			prev = words[i-1]
		}
		if i+1 < len(words) {
			next = words[i+1]
		}
		if sensitiveWord(w, prev, next) {
			return true
		}
	}
	return false
}

func sensitiveWord(w, prev, next string) bool {
	if describing[next] {
		return false
	}
	switch {
	case w == "token":
		return !countQualifier[prev]
	case w == "tokens":
		return credentialQualifier[prev]
	case strings.HasSuffix(w, "tokens"): // "accesstokens", "maxtokens"
		return credentialQualifier[strings.TrimSuffix(w, "tokens")]
	case strings.HasSuffix(w, "token"): // "authtoken", "bottoken"
		return !countQualifier[strings.TrimSuffix(w, "token")]
	case w == "key" || w == "keys":
		return keyQualifier[prev]
	case strings.HasSuffix(w, "keys"):
		return keyQualifier[strings.TrimSuffix(w, "keys")]
	case strings.HasSuffix(w, "key"): // "apikey", "privatekey"
		return keyQualifier[strings.TrimSuffix(w, "key")]
	case w == "pass", w == "creds", w == "jwt":
		return true
	}
	for _, stem := range alwaysSensitive {
		if strings.Contains(w, stem) {
			return true
		}
	}
	return false
}

var (
	alwaysSensitive = []string{"password", "passwd", "passphrase", "secret", "credential", "authorization", "cookie"}
	// Words before "token" that make it a count of model tokens.
	countQualifier = wordSet("max", "min", "num", "total", "input", "output", "prompt",
		"completion", "cached", "cache", "reasoning", "context", "used", "remaining", "estimated")
	// Words before "tokens" that make it a list of credentials.
	credentialQualifier = wordSet("access", "refresh", "auth", "api", "bot", "bearer",
		"session", "id", "oauth", "csrf", "device", "push", "app", "user", "secret", "github", "gateway")
	// Words before "key" that make it a credential.
	keyQualifier = wordSet("api", "private", "priv", "access", "secret", "signing",
		"encryption", "master", "client", "ssh")
	// Words after a sensitive word that describe it rather than hold it.
	describing = wordSet("count", "counts", "len", "length", "limit", "limits", "usage",
		"used", "budget", "budgets", "total", "size", "estimate", "min", "max", "ttl",
		"expiry", "expires", "expiration", "type", "name", "names", "ref", "refs")
)

func wordSet(words ...string) map[string]bool {
	m := make(map[string]bool, len(words))
	for _, w := range words {
		m[w] = true
	}
	return m
}

// splitKey splits a key into lower-case words at non-alphanumeric characters
// and at case changes: "openaiAPIKey" -> openai, api, key; "X-Api-Key" ->
// x, api, key; "oauth2Token" -> oauth2, token.
func splitKey(key string) []string {
	var words []string
	var cur []rune
	flush := func() {
		if len(cur) > 0 {
			words = append(words, strings.ToLower(string(cur)))
			cur = cur[:0]
		}
	}
	rs := []rune(key)
	for i, r := range rs {
		if r == utf8.RuneError || !(unicode.IsLetter(r) || unicode.IsDigit(r)) {
			flush()
			continue
		}
		if unicode.IsUpper(r) && len(cur) > 0 {
			prev := cur[len(cur)-1]
			nextLower := i+1 < len(rs) && unicode.IsLower(rs[i+1])
			// aB -> a|B ; 2B -> 2|B ; ABc -> A|Bc
			if unicode.IsLower(prev) || unicode.IsDigit(prev) || (unicode.IsUpper(prev) && nextLower) {
				flush()
			}
		}
		if len(cur) > 0 && unicode.IsDigit(r) != unicode.IsDigit(cur[len(cur)-1]) {
			flush() // oauth2 -> oauth|2 ; token2 -> token|2
		}
		cur = append(cur, r)
	}
	flush()
	return words
}

// patternsCompiled counts the regular expressions compiled so far; tests
// use it to check that start-up compiles none.
var patternsCompiled atomic.Int32

// lazyRegexp returns a function that compiles expr on its first call and
// returns the same *regexp.Regexp from then on.
func lazyRegexp(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp {
		patternsCompiled.Add(1)
		return regexp.MustCompile(expr)
	})
}
