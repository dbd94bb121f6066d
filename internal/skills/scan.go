package skills

import (
	"bytes"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Finding is one scanner result. CheckIDs are stable (docs/skills.md lists
// them); Line is 1-based, 0 for a finding about the whole file.
type Finding struct {
	CheckID  string `json:"checkId"`
	Severity string `json:"severity"` // info, warn, critical
	File     string `json:"file"`
	Line     int    `json:"line"`
	Detail   string `json:"detail"`
}

// Severities.
const (
	SevInfo     = "info"
	SevWarn     = "warn"
	SevCritical = "critical"
)

// ScanCheck describes one scanner check, for docs/skills.md.
type ScanCheck struct {
	ID       string
	Severity string
	Meaning  string
}

// ScanChecks lists the scanner's checks, sorted by id.
func ScanChecks() []ScanCheck {
	return []ScanCheck{
		{"skills.scan.agent_state", "info; critical with a read, copy or send verb on the line", "The skill names the agent's own state: MEMORY.md, SOUL.md, the Talon or OpenClaw state directory."},
		{"skills.scan.archive", "warn", "The skill carries an archive (zip, tar, 7z…): content the scanner cannot see, and a way to ship a bomb."},
		{"skills.scan.binary", "critical for executables (ELF, PE, Mach-O); warn for other binary files", "The skill carries compiled or binary content that cannot be reviewed as text."},
		{"skills.scan.credential_path", "critical", "The skill points at credentials: SSH keys, cloud credentials, browser password and cookie stores, keychains, wallets, or reads a .env file."},
		{"skills.scan.decode_exec", "critical", "Encoded content is decoded and executed (base64 -d | sh, eval(atob(…)))."},
		{"skills.scan.download_exec", "critical", "A download is piped into a shell or interpreter, or downloaded and then made executable and run: the fake-prerequisite pattern of the 2026 ClawHub malware."},
		{"skills.scan.encoded_blob", "warn", "A long base64 or hex blob: hidden content."},
		{"skills.scan.exfil_endpoint", "warn; critical in a skill that also touches credentials or agent state", "A known data-collection endpoint (request catchers, paste sites, chat webhooks, tunnels) or a command that uploads a file."},
		{"skills.scan.homoglyph", "warn", "A word mixes Latin letters with look-alike Cyrillic or Greek ones (a disguised name or domain)."},
		{"skills.scan.install_no_hash", "warn", "An install spec downloads a file without a pinned sha256."},
		{"skills.scan.invisible_unicode", "warn; critical for Unicode tag characters", "Invisible or direction-changing characters that hide text from a reviewer but not from the model."},
		{"skills.scan.prompt_injection", "warn", "Phrasing that tries to override the agent's instructions or hide actions from the user."},
		{"skills.scan.protected_archive", "critical", "Instructions to unpack a password-protected archive (how malware evades scanners)."},
		{"skills.scan.reverse_shell", "critical", "A reverse shell: a shell bound to a network connection."},
	}
}

type lineRule struct {
	id, sev string
	re      *regexp.Regexp
	detail  string
}

var (
	fetchRe   = `(curl|wget|iwr|irm|invoke-webrequest|invoke-restmethod|fetch)\b`
	lineRules = []lineRule{
		{"skills.scan.download_exec", SevCritical, regexp.MustCompile(`(?i)\b(curl|wget)\b[^\n|]*\|\s*(sudo\s+)?(ba|z|da|k)?sh\b|\b(curl|wget)\b[^\n|]*\|\s*(sudo\s+)?(python[0-9.]*|perl|ruby|node|php)\b`), "a download is piped into a shell or interpreter"},
		{"skills.scan.download_exec", SevCritical, regexp.MustCompile(`(?i)(ba|z)?sh\s+(-c\s+)?["']?\$\(\s*(curl|wget)\b|(ba|z)?sh\s+<\(\s*(curl|wget)\b|source\s+<\(\s*(curl|wget)`), "a shell runs a downloaded script"},
		{"skills.scan.download_exec", SevCritical, regexp.MustCompile(`(?i)\b(iex|invoke-expression)\b.*\b(iwr|irm|invoke-webrequest|invoke-restmethod|downloadstring|net\.webclient)|\b(iwr|irm|invoke-webrequest|invoke-restmethod)\b[^\n]*\|\s*(iex|invoke-expression)\b`), "PowerShell downloads and executes"},
		{"skills.scan.download_exec", SevCritical, regexp.MustCompile(`(?i)\b(curl|wget)\b[^\n]*(&&|;)\s*(sudo\s+)?(chmod\s+\+?[0-7]*x|\./|(ba)?sh\s)`), "a download is made executable and run"},
		{"skills.scan.download_exec", SevCritical, regexp.MustCompile(`(?i)\bmshta\s+https?:|\bregsvr32\b.*\/i:https?:|osascript\s+-e\s+.*do shell script.*curl`), "a system tool runs remote code"},
		{"skills.scan.decode_exec", SevCritical, regexp.MustCompile(`(?i)base64\s+(-d|--decode|-D)\b[^\n]*\|\s*(sudo\s+)?(ba|z)?sh\b|eval\s*\(\s*(atob|base64_decode|Buffer\.from)\s*\(|exec\s*\(\s*(base64\.b64decode|codecs\.decode|bytes\.fromhex|zlib\.decompress)|echo\s+['"]?[A-Za-z0-9+/=]{40,}['"]?\s*\|\s*base64\s+(-d|--decode)`), "encoded content is decoded and executed"},
		{"skills.scan.reverse_shell", SevCritical, regexp.MustCompile(`(?i)/dev/(tcp|udp)/[^\s/]+/[0-9]+|\b(nc|ncat|netcat)\b[^\n]*\s-[a-z]*e\s*(/bin/)?(ba)?sh|\bsocat\b[^\n]*exec:|mkfifo\s+\S+\s*;[^\n]*\b(nc|ncat|netcat)\b|pty\.spawn\(\s*["'](/bin/)?(ba)?sh|socket\.socket\([^\n]*\)[^\n]*\.connect\([^\n]*(subprocess|os\.dup2)|os\.dup2\([^\n]*fileno`), "a shell is connected to a remote host"},
		{"skills.scan.credential_path", SevCritical, regexp.MustCompile(`(?i)(~|\$home|/home/[a-z0-9_-]+|/root)?/\.ssh/(id_[a-z0-9_]+|authorized_keys|known_hosts)|\.aws/credentials|\.config/gcloud/|\.azure/(accesstokens|msal)|\.kube/config|\.docker/config\.json|\.npmrc\b|\.pypirc\b|\.netrc\b|\.git-credentials`), "a credential file"},
		{"skills.scan.credential_path", SevCritical, regexp.MustCompile(`(?i)login data|cookies\.sqlite|logins\.json|key[34]\.db|\blocal state\b|/cookies\b|login\.keychain|keychain-db|dump-keychain|find-generic-password\s+-[a-z]*w|wallet\.dat|exodus\.wallet|electrum/wallets|nkbihfbeogaeaoehlefnkodbefgpgknn|\.gnupg/(private-keys|secring)|gnome-keyring/|kwalletd?/`), "a browser password, cookie or key store, keychain or wallet"},
		{"skills.scan.credential_path", SevCritical, regexp.MustCompile(`(?i)\b(cat|type|read|copy|cp|upload|send|post|exfiltrate|collect|grab|steal|dump|tar|zip|base64)\b[^\n]*(^|[\s"'/(=])\.env(\.[a-z]+)?\b|(^|[\s"'/(=])\.env(\.[a-z]+)?\b[^\n]*\b(upload|send|post|curl|wget|webhook|exfiltrate)\b`), "a .env file is read or sent"},
		{"skills.scan.credential_path", SevCritical, regexp.MustCompile(`(?i)\b(printenv|env|set)\b\s*\|[^\n]*\b(curl|wget|nc|ncat|base64)\b|(json\.dumps|dict|str)\(\s*os\.environ\s*\)|os\.environ\.(items|copy)\(\)[^\n]*(post|send|request|urlopen)|JSON\.stringify\(\s*process\.env\s*\)`), "the environment (API keys) is collected"},
		{"skills.scan.agent_state", SevInfo, regexp.MustCompile(`(?i)\b(memory|soul)\.md\b|\.openclaw/|\.clawdbot/|\.moltbot/|\.talon/|\$talon_state_dir|openclaw\.json|talon\.json|secrets\.json|auth-profiles\.json`), "the agent's memory, persona or state directory"},
		{"skills.scan.exfil_endpoint", SevWarn, regexp.MustCompile(`(?i)webhook\.site|requestbin|pipedream\.net|hookbin|beeceptor|ngrok(-free)?\.(io|app)|trycloudflare\.com|interact\.sh|oast\.(fun|me|live|site|online|pro)|burpcollaborator|canarytokens|discord(app)?\.com/api/webhooks|api\.telegram\.org/bot|pastebin\.com|paste\.ee|hastebin|transfer\.sh|file\.io\b|0x0\.st|temp\.sh|glot\.io`), "a known data-collection endpoint"},
		{"skills.scan.exfil_endpoint", SevWarn, regexp.MustCompile(`(?i)\bcurl\b[^\n]*(\s-d\s*@|--data(-binary|-raw)?\s*@|\s-F\s*["']?[a-z_]+=@|-T\s+\S)|\bnc\b[^\n]*<\s*\S+|scp\s+[^\n]*\S+@\S+:`), "a command uploads a file"},
		{"skills.scan.prompt_injection", SevWarn, regexp.MustCompile(`(?i)ignore\s+(all\s+|any\s+)?(the\s+)?(previous|prior|above|earlier|preceding|other)\s+(instructions|rules|guidelines|messages|prompts)|disregard\s+(all\s+|any\s+)?(the\s+|your\s+)?(previous|prior|above|system|safety)\s+(instructions|prompt|rules|guidelines)|forget\s+(all\s+)?(your|previous)\s+(instructions|rules)`), "tries to override the agent's instructions"},
		{"skills.scan.prompt_injection", SevWarn, regexp.MustCompile(`(?i)(do\s+not|don't|never)\s+(tell|inform|notify|alert|mention\s+(this\s+)?to)\s+(the\s+)?(user|owner|human)|without\s+(telling|asking|informing|notifying|alerting)\s+(the\s+)?(user|owner|human)|hide\s+(this|it|the\s+output)\s+from\s+(the\s+)?(user|owner)|(silently|quietly|secretly)\s+(run|execute|send|upload|copy|install)`), "asks the agent to act behind the user's back"},
		{"skills.scan.prompt_injection", SevWarn, regexp.MustCompile(`(?i)</?(system|system_prompt|im_start|assistant)>|\[/?inst\]|<\|im_start\|>|^\s*system\s*:\s*you are|you are now (in )?(developer|dan|god|jailbreak|unrestricted) mode|new system prompt`), "imitates a system prompt or chat markup"},
		{"skills.scan.protected_archive", SevCritical, regexp.MustCompile(`(?i)unzip\s+(-[a-z]*\s+)*-P\s*\S+|7z\s+x\s+[^\n]*-p\S+|(archive|zip)\s+password\s*[:=]|password\s*(is|:)\s*['"]?(infected|openclaw|1234|malware)`), "a password-protected archive is unpacked"},
	}
	base64BlobRe = regexp.MustCompile(`[A-Za-z0-9+/]{160,}={0,2}`)
	hexBlobRe    = regexp.MustCompile(`(?i)(\\x[0-9a-f]{2}){40,}|\b[0-9a-f]{256,}\b`)
	downloadToRe = regexp.MustCompile(`(?i)\b(curl|wget)\b[^\n]*(\s-o\s*|\s-O\s*|--output\s+|>\s*)(\S+)`)
)

// Scan checks a skill's files for malicious patterns. It informs; it is
// not what protects: signatures, capabilities and the policy do.
// Findings are sorted by file, line and check id.
func Scan(files map[string][]byte) []Finding {
	var out []Finding
	names := make([]string, 0, len(files))
	for p := range files {
		names = append(names, p)
	}
	sort.Strings(names)
	credsOrState := false
	var exfil []int
	for _, p := range names {
		fs := scanFile(p, files[p])
		for _, f := range fs {
			if f.CheckID == "skills.scan.credential_path" || f.CheckID == "skills.scan.agent_state" {
				credsOrState = true
			}
		}
		for _, f := range fs {
			if f.CheckID == "skills.scan.exfil_endpoint" {
				exfil = append(exfil, len(out))
			}
			out = append(out, f)
		}
	}
	if credsOrState {
		for _, i := range exfil {
			out[i].Severity = SevCritical
			out[i].Detail += " in a skill that also touches credentials or agent state"
		}
	}
	if md, ok := files[SkillFile]; ok {
		if s, err := Parse(md); err == nil && s.OpenClaw != nil {
			for _, spec := range s.OpenClaw.Install {
				if (spec.Kind == "download" || spec.URL != "") && !validSHA256(spec.SHA256) {
					out = append(out, Finding{"skills.scan.install_no_hash", SevWarn, SkillFile, 0,
						fmt.Sprintf("install spec %q downloads %s without a pinned sha256", orStr(spec.ID, spec.Kind), spec.URL)})
				}
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].File != out[j].File {
			return out[i].File < out[j].File
		}
		if out[i].Line != out[j].Line {
			return out[i].Line < out[j].Line
		}
		return out[i].CheckID < out[j].CheckID
	})
	return out
}

func orStr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func validSHA256(s string) bool {
	s = strings.TrimPrefix(strings.ToLower(s), "sha256:")
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	return true
}

var archiveExts = []string{".zip", ".tar", ".tgz", ".gz", ".bz2", ".xz", ".7z", ".rar", ".jar", ".whl"}

func scanFile(p string, data []byte) []Finding {
	var out []Finding
	add := func(id, sev string, line int, detail string) {
		out = append(out, Finding{CheckID: id, Severity: sev, File: p, Line: line, Detail: detail})
	}
	lp := strings.ToLower(p)
	for _, ext := range archiveExts {
		if strings.HasSuffix(lp, ext) {
			add("skills.scan.archive", SevWarn, 0, "an archive ("+ext+") whose content is not reviewed")
			return out
		}
	}
	if kind := executableKind(data); kind != "" {
		add("skills.scan.binary", SevCritical, 0, "a compiled "+kind+" executable")
		return out
	}
	if !utf8.Valid(data) || bytes.IndexByte(data, 0) >= 0 {
		add("skills.scan.binary", SevWarn, 0, "binary content")
		return out
	}
	text := string(data)
	lines := strings.Split(text, "\n")
	downloaded := map[string]*regexp.Regexp{} // downloaded file -> "it is run" pattern
	seen := map[string]bool{}
	for i, line := range lines {
		n := i + 1
		once := func(id, sev, detail string) {
			k := fmt.Sprintf("%s:%d", id, n)
			if !seen[k] {
				seen[k] = true
				add(id, sev, n, detail)
			}
		}
		if len(line) > 20000 {
			line = line[:20000]
		}
		for _, r := range lineRules {
			if r.re.MatchString(line) {
				sev := r.sev
				if r.id == "skills.scan.agent_state" && stateVerbRe.MatchString(line) {
					sev = SevCritical
				}
				once(r.id, sev, r.detail)
			}
		}
		if m := downloadToRe.FindStringSubmatch(line); m != nil && len(downloaded) < 32 {
			if f := path.Base(strings.Trim(m[3], `"'`)); f != "" && f != "-" && f != "null" && f != "." && downloaded[f] == nil {
				downloaded[f] = regexp.MustCompile(`(chmod\s+\+?[0-7]*x\s+\S*|(ba)?sh\s+\S*|\./|source\s+\S*|python[0-9.]*\s+\S*)` + regexp.QuoteMeta(f) + `\b`)
			}
		}
		for f, re := range downloaded {
			if re.MatchString(line) {
				once("skills.scan.download_exec", SevCritical, "a downloaded file ("+f+") is made executable or run")
			}
		}
		if base64BlobRe.MatchString(line) && !strings.Contains(line, "sha256") && !strings.Contains(line, "sha512") && !strings.HasPrefix(strings.TrimSpace(line), "data:image") {
			once("skills.scan.encoded_blob", SevWarn, "a long base64 blob")
		}
		if hexBlobRe.MatchString(line) {
			once("skills.scan.encoded_blob", SevWarn, "a long hex blob")
		}
		if sev, what := invisible(line); what != "" {
			once("skills.scan.invisible_unicode", sev, what)
		}
		if w := homoglyphWord(line); w != "" {
			once("skills.scan.homoglyph", SevWarn, fmt.Sprintf("%q mixes Latin with Cyrillic or Greek letters", w))
		}
	}
	return out
}

var stateVerbRe = regexp.MustCompile(`(?i)\b(cat|read|copy|cp|upload|send|post|exfiltrate|collect|grab|steal|dump|curl|wget|base64|tar|zip|attach|forward)\b`)

func executableKind(b []byte) string {
	switch {
	case bytes.HasPrefix(b, []byte("\x7fELF")):
		return "ELF"
	case bytes.HasPrefix(b, []byte("MZ")) && len(b) > 64:
		return "PE (Windows)"
	case bytes.HasPrefix(b, []byte{0xcf, 0xfa, 0xed, 0xfe}), bytes.HasPrefix(b, []byte{0xce, 0xfa, 0xed, 0xfe}),
		bytes.HasPrefix(b, []byte{0xca, 0xfe, 0xba, 0xbe}):
		return "Mach-O"
	}
	return ""
}

// invisible reports invisible or bidi-control characters in line.
func invisible(line string) (sev, what string) {
	for _, r := range line {
		switch {
		case r >= 0xE0000 && r <= 0xE007F:
			return SevCritical, "Unicode tag characters (invisible text the model reads)"
		case r == 0x200B || r == 0x200C || r == 0x200D || r == 0x2060 || r == 0xFEFF || r == 0x180E || r == 0x00AD:
			sev, what = SevWarn, fmt.Sprintf("an invisible character U+%04X", r)
		case r >= 0x202A && r <= 0x202E || r >= 0x2066 && r <= 0x2069 || r == 0x200E || r == 0x200F:
			sev, what = SevWarn, fmt.Sprintf("a text-direction control U+%04X", r)
		}
	}
	return sev, what
}

// homoglyphWord returns a word mixing Latin letters with Cyrillic or Greek
// ones, or "".
func homoglyphWord(line string) string {
	ascii := true
	for i := 0; i < len(line); i++ {
		if line[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		return ""
	}
	for _, w := range strings.FieldsFunc(line, func(r rune) bool { return !unicode.IsLetter(r) && r != '.' && r != '-' && !unicode.IsDigit(r) }) {
		var latin, other bool
		for _, r := range w {
			switch {
			case unicode.Is(unicode.Latin, r):
				latin = true
			case unicode.Is(unicode.Cyrillic, r) || unicode.Is(unicode.Greek, r):
				other = true
			}
		}
		if latin && other {
			return w
		}
	}
	return ""
}

// Worst returns the highest severity in fs ("" when empty).
func Worst(fs []Finding) string {
	w := ""
	for _, f := range fs {
		switch {
		case f.Severity == SevCritical:
			return SevCritical
		case f.Severity == SevWarn:
			w = SevWarn
		case w == "":
			w = SevInfo
		}
	}
	return w
}
