package redact

import (
	"slices"
	"strings"
)

// This file is the table of vendor credentials that start with a fixed,
// documented prefix ("glpat-", "npm_", "sk_live_", …). They are found
// without regular expressions: a literal search for each prefix, then a
// check of the characters after it, so the table costs one fast substring
// scan per prefix on text that has none of them. The prefix is kept and
// the rest replaced ("glpat-***").

// tokenFormat is a family of credentials sharing a body shape.
type tokenFormat struct {
	prefixes []string
	body     *byteSet
	min, max int // body length bounds; max 0 means none
	// random asks for a digit or both letter cases in the body, so that
	// identifiers and prose after a prefix-like word are left alone.
	random bool
}

// byteSet is a set of ASCII bytes.
type byteSet [256]bool

func newByteSet(ranges ...string) *byteSet {
	var s byteSet
	for _, r := range ranges {
		if len(r) == 3 && r[1] == '-' {
			for c := int(r[0]); c <= int(r[2]); c++ {
				s[c] = true
			}
			continue
		}
		for i := 0; i < len(r); i++ {
			s[r[i]] = true
		}
	}
	return &s
}

var (
	alnumSet     = newByteSet("a-z", "A-Z", "0-9")
	hexSet       = newByteSet("a-f", "A-F", "0-9")
	tokenSet     = newByteSet("a-z", "A-Z", "0-9", "_-")     // base64url and friends
	dottedSet    = newByteSet("a-z", "A-Z", "0-9", "._-")    // tokens with dotted parts
	base64Set    = newByteSet("a-z", "A-Z", "0-9", "+/=_-.") // base64 in either alphabet
	slackHookSet = newByteSet("a-z", "A-Z", "0-9", "/_-")
)

// tokenFormats are vendor credentials with a documented prefix. Sources:
// each vendor's token format documentation, cross-checked against the
// gitleaks rule set that TestRedactionRecall measures against.
var tokenFormats = []tokenFormat{
	// Stripe secret and restricted keys, webhook signing secrets.
	{prefixes: []string{"sk_live_", "sk_test_", "sk_prod_", "rk_live_", "rk_test_", "rk_prod_"}, body: alnumSet, min: 10, random: true},
	{prefixes: []string{"whsec_"}, body: alnumSet, min: 24, random: true},
	// GitLab: personal, deploy, runner, trigger, CI job, mail, agent, SCIM,
	// feature flag, feed and OAuth application tokens; routable ones have
	// dotted parts.
	{prefixes: []string{"glpat-", "gldt-", "glrt-", "glptt-", "glcbt-", "glimt-", "glagent-", "glsoat-", "glffct-", "glft-", "gloas-", "GR1348941"}, body: dottedSet, min: 20},
	{prefixes: []string{"_gitlab_session="}, body: alnumSet, min: 32},
	// npm, PyPI, RubyGems, Clojars.
	{prefixes: []string{"npm_"}, body: alnumSet, min: 36, random: true},
	{prefixes: []string{"pypi-AgEIcHlwaS5vcmc"}, body: tokenSet, min: 40},
	{prefixes: []string{"rubygems_"}, body: hexSet, min: 48},
	{prefixes: []string{"CLOJARS_"}, body: alnumSet, min: 60},
	// SendGrid "SG.<22>.<43>", Sendinblue/Brevo.
	{prefixes: []string{"SG."}, body: dottedSet, min: 60, random: true},
	{prefixes: []string{"xkeysib-", "xsmtpsib-"}, body: tokenSet, min: 64},
	// Twilio API key SIDs with their secret, Hugging Face user and org tokens.
	{prefixes: []string{"SK"}, body: hexSet, min: 32, max: 32, random: true},
	{prefixes: []string{"hf_", "api_org_"}, body: alnumSet, min: 34},
	// DigitalOcean personal, OAuth and refresh tokens.
	{prefixes: []string{"dop_v1_", "doo_v1_", "dor_v1_"}, body: hexSet, min: 64},
	// Shopify access tokens and shared secrets.
	{prefixes: []string{"shpat_", "shpca_", "shppa_", "shpss_"}, body: hexSet, min: 32},
	// Slack incoming webhooks: the path is the credential.
	{prefixes: []string{"hooks.slack.com/services/", "hooks.slack.com/workflows/", "hooks.slack.com/triggers/"}, body: slackHookSet, min: 20},
	// Age secret keys (bech32).
	{prefixes: []string{"AGE-SECRET-KEY-1"}, body: alnumSet, min: 58},
	// Grafana Cloud and service-account tokens, legacy API keys.
	{prefixes: []string{"glc_", "glsa_"}, body: tokenSet, min: 32, random: true},
	{prefixes: []string{"eyJrIjoi"}, body: base64Set, min: 40},
	// HashiCorp Vault service and batch tokens, Terraform Cloud tokens.
	{prefixes: []string{"hvs.", "hvb."}, body: tokenSet, min: 24, random: true},
	{prefixes: []string{".atlasv1."}, body: tokenSet, min: 60},
	// Sentry, Linear, Notion, Perplexity, PlanetScale, Postman, Prefect,
	// ReadMe, Sourcegraph, Doppler, Databricks, Dynatrace, Pulumi, Atlassian,
	// 1Password service accounts, Duffel, Shippo, EasyPost, Flutterwave,
	// New Relic, Fly.io, Frame.io, Infracost, Scalingo, Settlemint, Authress,
	// OpenShift, Amazon Bedrock.
	{prefixes: []string{"sntrys_", "sntryu_"}, body: base64Set, min: 40},
	{prefixes: []string{"lin_api_"}, body: alnumSet, min: 40},
	{prefixes: []string{"ntn_", "secret_"}, body: alnumSet, min: 43, random: true},
	{prefixes: []string{"pplx-"}, body: alnumSet, min: 40, random: true},
	{prefixes: []string{"pscale_tkn_", "pscale_oauth_", "pscale_pw_", "PSCALE_PW_"}, body: dottedSet, min: 32},
	{prefixes: []string{"PMAK-"}, body: tokenSet, min: 40},
	{prefixes: []string{"pnu_"}, body: alnumSet, min: 36, random: true},
	{prefixes: []string{"rdme_"}, body: alnumSet, min: 60},
	{prefixes: []string{"sgp_"}, body: tokenSet, min: 40, random: true},
	{prefixes: []string{"dp.pt.", "dp.st.", "dp.sa.", "dp.ct.", "dp.scim.", "dp.audit."}, body: alnumSet, min: 40},
	{prefixes: []string{"dapi"}, body: hexSet, min: 32, random: true},
	{prefixes: []string{"dt0c01."}, body: dottedSet, min: 60},
	{prefixes: []string{"pul-"}, body: hexSet, min: 40},
	{prefixes: []string{"ATATT3"}, body: base64Set, min: 100},
	{prefixes: []string{"ops_eyJ"}, body: base64Set, min: 200},
	{prefixes: []string{"duffel_live_", "duffel_test_"}, body: tokenSet, min: 43},
	{prefixes: []string{"shippo_live_", "shippo_test_"}, body: hexSet, min: 40},
	{prefixes: []string{"EZAK", "EZTK"}, body: alnumSet, min: 54, random: true},
	{prefixes: []string{"FLWSECK_TEST-", "FLWSECK-", "FLWPUBK_TEST-", "FLWPUBK-"}, body: tokenSet, min: 12, random: true},
	{prefixes: []string{"NRAK-", "NRII-", "NRJS-"}, body: tokenSet, min: 19, random: true},
	{prefixes: []string{"fm1r_", "fm2_", "fo1_"}, body: base64Set, min: 40},
	{prefixes: []string{"fio-u-"}, body: tokenSet, min: 64},
	{prefixes: []string{"ico-"}, body: alnumSet, min: 32, random: true},
	{prefixes: []string{"tk-us-"}, body: tokenSet, min: 48},
	{prefixes: []string{"sm_aat_", "sm_pat_", "sm_sat_"}, body: alnumSet, min: 16, random: true},
	{prefixes: []string{"authress_"}, body: dottedSet, min: 40},
	{prefixes: []string{"sha256~"}, body: tokenSet, min: 43, random: true},
	{prefixes: []string{"ABSK"}, body: base64Set, min: 100},
	{prefixes: []string{"bedrock-api-key-"}, body: base64Set, min: 24},
}

// tokenHints are the prefixes of every tokenFormat.
var tokenHints = func() []string {
	var h []string
	for _, f := range tokenFormats {
		h = append(h, f.prefixes...)
	}
	return h
}()

// redactTokens masks the body of every credential in tokenFormats.
func redactTokens(s string) string {
	type cut struct{ start, end int } // body to replace
	var cuts []cut
	for _, f := range tokenFormats {
		for _, p := range f.prefixes {
			for from := 0; ; {
				i := strings.Index(s[from:], p)
				if i < 0 {
					break
				}
				i += from
				from = i + len(p)
				if i > 0 && isWordByte(p[0]) && isWordByte(s[i-1]) {
					continue // inside a longer word
				}
				end := from
				for end < len(s) && f.body[s[end]] {
					end++
				}
				// A sentence may end right after a token.
				for end > from && s[end-1] == '.' {
					end--
				}
				n := end - from
				if n < f.min || (f.max > 0 && n > f.max) || (f.random && !looksRandom(s[from:end])) {
					continue
				}
				cuts = append(cuts, cut{from, end})
				from = end
			}
		}
	}
	if len(cuts) == 0 {
		return s
	}
	// Formats may overlap ("SK" inside another token): replace each byte
	// once, earliest cut first.
	slices.SortFunc(cuts, func(a, b cut) int { return a.start - b.start })
	var b strings.Builder
	last := 0
	for _, c := range cuts {
		if c.start < last {
			continue
		}
		b.WriteString(s[last:c.start])
		b.WriteString(Mask)
		last = c.end
	}
	b.WriteString(s[last:])
	return b.String()
}

func isWordByte(c byte) bool {
	return c == '_' || alnumSet[c]
}

// looksRandom reports whether a token body has a digit, or both upper- and
// lower-case letters: true of random strings of any length worth
// redacting, false of most words and identifiers.
func looksRandom(s string) bool {
	var upper, lower bool
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			return true
		case c >= 'A' && c <= 'Z':
			upper = true
		case c >= 'a' && c <= 'z':
			lower = true
		}
	}
	return upper && lower
}
