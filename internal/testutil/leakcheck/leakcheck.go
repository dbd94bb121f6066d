// Package leakcheck finds a secret in text in the forms a program may quote
// it, for tests of invariant 10 (secrets never reach the model, the
// transcript, the logs or an outbound message). It is written apart from
// the scrubber it checks (internal/security), by a different method: it
// decodes the text rather than encoding the secret.
package leakcheck

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

var (
	escapeRE = regexp.MustCompile(`%[0-9a-fA-F]{2}`)
	b64RunRE = regexp.MustCompile(`[A-Za-z0-9+/_-]{8,}`)
)

// Find returns a description of the first form of secret found in text,
// or "" when there is none. It looks for the secret, and for the part
// after the first ':' of an id:secret token when that part is 8 bytes or
// longer, as it is, JSON-escaped, percent-encoded (the text decoded once
// and twice, escapes in any case), and base64 (standard or URL alphabet,
// at any alignment: every run of base64 characters is decoded from each of
// its first four positions, and the middle of the secret, all but two
// bytes at each end, is looked for in what comes out).
func Find(text, secret string) string {
	cands := []string{secret}
	if _, rest, ok := strings.Cut(secret, ":"); ok && len(rest) >= 8 {
		cands = append(cands, rest)
	}
	views := []string{text}
	for v := text; ; {
		d := decode(v)
		if d == v || len(views) == 3 {
			break
		}
		views = append(views, d)
		v = d
	}
	for _, c := range cands {
		for i, v := range views {
			if strings.Contains(v, c) {
				return describe(c, secret, "as it is", i)
			}
			if j, _ := json.Marshal(c); strings.Contains(v, string(j[1:len(j)-1])) {
				return describe(c, secret, "JSON-escaped", i)
			}
		}
		if len(c) < 8 {
			continue
		}
		mid := []byte(c[2 : len(c)-2])
		for _, v := range views {
			for _, run := range b64RunRE.FindAllString(v, -1) {
				run = strings.NewReplacer("-", "+", "_", "/").Replace(run)
				for k := range 4 {
					sub := run[k:]
					sub = sub[:len(sub)/4*4]
					b, err := base64.StdEncoding.DecodeString(sub)
					if err == nil && bytes.Contains(b, mid) {
						return describe(c, secret, "base64", 0)
					}
				}
			}
		}
	}
	return ""
}

func describe(c, secret, how string, decoded int) string {
	what := "the secret"
	if c != secret {
		what = "its part after ':'"
	}
	return fmt.Sprintf("%s, %s, after percent-decoding the text %d times", what, how, decoded)
}

func decode(s string) string {
	return escapeRE.ReplaceAllStringFunc(s, func(e string) string {
		b, _ := hex.DecodeString(e[1:])
		return string(b)
	})
}

// LowerEscape query-escapes s with lower-case hex digits ("%3a"), the
// spelling some upstream errors quote a token in; tests feed it to the
// scrubber.
func LowerEscape(s string) string {
	e := url.QueryEscape(s)
	var b strings.Builder
	for i := 0; i < len(e); i++ {
		if e[i] == '%' && i+2 < len(e) {
			b.WriteString("%" + strings.ToLower(e[i+1:i+3]))
			i += 2
			continue
		}
		b.WriteByte(e[i])
	}
	return b.String()
}
