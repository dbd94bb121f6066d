package cli

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/gateway"
	"github.com/talonclaw/talon/internal/netguard"
	"github.com/talonclaw/talon/internal/sandbox"
)

// check is one doctor finding.
type check struct {
	ID      string `json:"id"`
	Status  string `json:"status"` // ok | warn | fail
	Message string `json:"message"`
	Hint    string `json:"hint,omitempty"`
}

// listener is one listening TCP socket on this host.
type listener struct {
	Addr    string `json:"addr"`
	Port    int    `json:"port"`
	Exposed bool   `json:"exposed"` // reachable beyond loopback
	PID     int    `json:"pid,omitempty"`
	Process string `json:"process,omitempty"`
}

func (a *app) doctorCmd() *cobra.Command {
	var gen, offline bool
	cmd := &cobra.Command{
		Use:   "doctor [--offline]",
		Short: "Check the installation: config, state permissions, the gateway port, what is listening, the model and channel credentials",
		Long: `Check the installation: the config and what it refers to, state
permissions, the gateway port, the exec sandbox, what is listening, and
(unless --offline) the model endpoint (one request of at most one token to
each model of agents.defaults.model and its fallbacks) and each enabled
channel account's credentials (the platform's "who am I" call).`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if gen {
				tok, err := newToken()
				if err != nil {
					return err
				}
				a.outf("%s\n", tok.Reveal())
				return nil
			}
			return a.doctor(cmd.Context(), offline)
		},
	}
	cmd.Flags().BoolVar(&gen, "generate-token", false, "print a new random gateway token and exit")
	cmd.Flags().BoolVar(&offline, "offline", false, "skip the checks that contact the model provider and the chat platforms")
	return cmd
}

func (a *app) doctor(ctx context.Context, offline bool) error {
	p, err := a.paths()
	if err != nil {
		return err
	}
	var checks []check
	add := func(id, status, msg, hint string) { checks = append(checks, check{id, status, msg, hint}) }

	checks = append(checks, permCheck("state.dir", p.StateDir, true, 0o700)...)
	checks = append(checks, permCheck("state.config", p.Config, false, 0o600)...)
	if _, err := os.Stat(p.DB); err == nil {
		checks = append(checks, permCheck("state.db", p.DB, false, 0o600)...)
	}

	cfg, _, err := a.loadConfig(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		add("config.valid", "warn", "no config file yet at "+p.Config, "`talon onboard` creates one with a fresh token")
		cfg = config.Default()
	case err != nil:
		add("config.valid", "fail", strings.ReplaceAll(err.Error(), "\n", "; "), "fix the keys named above, then `talon config validate`")
		cfg = config.Default()
	default:
		add("config.valid", "ok", "config is valid: "+p.Config, "")
		for _, pr := range config.CheckReferences(cfg) {
			add("config.refs", "fail", pr.Path+": "+pr.Message, pr.Hint)
		}
		if !offline {
			scrub := func(s string) string { return s }
			if sec, err := a.newSecretSet(p, cfg); err == nil {
				scrub = sec.live.Scrub
			}
			checks = append(checks, a.modelProbe(ctx, cfg, scrub)...)
			checks = append(checks, a.channelChecks(ctx, cfg, scrub)...)
		}
	}

	port := cfg.Gateway.Port
	host := "127.0.0.1"
	if cfg.Gateway.Bind == "custom" {
		host = cfg.Gateway.CustomBindHost
	}
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	switch probePort(ctx, addr) {
	case "talon":
		add("gateway.port", "ok", fmt.Sprintf("a talon gateway answers on %s", addr), "")
	case "other":
		add("gateway.port", "fail", fmt.Sprintf("port %d is in use by another program", port), "stop it, or choose another port with `talon config set gateway.port N`")
	default:
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			add("gateway.port", "fail", fmt.Sprintf("cannot listen on %s: %v", addr, err), "choose another port with `talon config set gateway.port N`")
		} else {
			ln.Close()
			add("gateway.port", "ok", fmt.Sprintf("port %d is free; no gateway running", port), "start it with `talon gateway run`")
		}
	}

	checks = append(checks, limitsCheck(cfg, gateway.OpenFileLimit()))

	caps := sandbox.Probe()
	if !caps.ExecGuard() {
		add("sandbox.exec", "warn", "no Landlock: nothing limits which programs an allowlisted command starts; git, make, npm and the like ask for approval each time",
			"run Talon on a kernel with Landlock (Linux 5.13+, enabled in the lsm= boot list)")
	}
	if missing := caps.Missing(); len(missing) > 0 {
		add("sandbox", "warn", "exec sandbox layers unavailable on this kernel: "+strings.Join(missing, ", "), "commands run with fewer protections; see docs/THREAT_MODEL.md")
	} else {
		add("sandbox", "ok", fmt.Sprintf("exec sandbox: Landlock ABI %d, seccomp, user namespaces; only the decided plan's binaries can execute", caps.LandlockABI), "")
	}

	ls := listeners()
	exposed := 0
	for _, l := range ls {
		if l.Exposed {
			exposed++
		}
	}
	if exposed > 0 {
		add("host.listening", "warn", fmt.Sprintf("%d listening socket(s) reachable beyond loopback", exposed), "make sure each is meant to be reachable from the network")
	} else {
		add("host.listening", "ok", fmt.Sprintf("%d listening socket(s), all on loopback", len(ls)), "")
	}

	failed := false
	for _, c := range checks {
		if c.Status == "fail" {
			failed = true
		}
	}
	if a.json {
		if err := a.printJSON(map[string]any{"ok": !failed, "checks": checks, "listening": ls}); err != nil {
			return err
		}
	} else {
		for _, c := range checks {
			line := fmt.Sprintf("%-4s %-16s %s", c.Status, c.ID, c.Message)
			if c.Hint != "" && c.Status != "ok" {
				line += " (hint: " + c.Hint + ")"
			}
			a.outf("%s\n", line)
		}
		if len(ls) > 0 {
			a.outf("listening:\n")
			for _, l := range ls {
				who := ""
				if l.Process != "" {
					who = fmt.Sprintf("  %s[%d]", l.Process, l.PID)
				}
				flag := ""
				if l.Exposed {
					flag = "  (network)"
				}
				a.outf("  %s%s%s\n", net.JoinHostPort(l.Addr, strconv.Itoa(l.Port)), who, flag)
			}
		}
	}
	if failed {
		return &silentError{code: 1}
	}
	return nil
}

// limitsCheck reports the gateway's effective unauthenticated-connection
// caps, and warns when the open-file limit lowers them or one address may
// take every slot on a gateway reachable from the network.
func limitsCheck(cfg *config.Config, openFiles uint64) check {
	l := gateway.EffectiveLimits(cfg, openFiles)
	gl := cfg.Gateway.Limits
	msg := fmt.Sprintf("unauthenticated connections capped at %d (%d per address); idle HTTP closed after %s; open-file limit %d",
		l.MaxPreAuth, l.MaxPreAuthPerAddr, l.IdleTimeout, openFiles)
	switch {
	case l.MaxPreAuth < gl.MaxPreAuthConns:
		return check{"gateway.limits", "warn", msg + fmt.Sprintf(", which lowers gateway.limits.maxPreAuthConns from %d", gl.MaxPreAuthConns),
			"raise the open-file limit (ulimit -Hn, or LimitNOFILE= in the service unit) to at least 4x maxPreAuthConns"}
	case cfg.Gateway.Bind != "loopback" && l.MaxPreAuthPerAddr >= l.MaxPreAuth:
		return check{"gateway.limits", "warn", msg + "; one network address may take every unauthenticated slot",
			"set gateway.limits.maxPreAuthConnsPerAddr below gateway.limits.maxPreAuthConns"}
	}
	return check{"gateway.limits", "ok", msg, ""}
}

// permCheck reports existence, symlinks and permission bits beyond want.
func permCheck(id, path string, dir bool, want fs.FileMode) []check {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return []check{{id, "warn", path + " does not exist yet", "`talon onboard` creates it"}}
	}
	if err != nil {
		return []check{{id, "fail", err.Error(), ""}}
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return []check{{id, "warn", path + " is a symlink", "keep state files as regular files owned by you"}}
	}
	if dir != fi.IsDir() {
		return []check{{id, "fail", path + " has the wrong type", ""}}
	}
	if extra := fi.Mode().Perm() &^ want; extra != 0 {
		return []check{{id, "warn", fmt.Sprintf("%s is mode %04o; others can read it", path, fi.Mode().Perm()), fmt.Sprintf("chmod %04o %s", want, path)}}
	}
	return []check{{id, "ok", fmt.Sprintf("%s mode %04o", path, fi.Mode().Perm()), ""}}
}

// probePort tells whether a talon gateway, another program or nothing
// listens at addr.
func probePort(ctx context.Context, addr string) string {
	d := net.Dialer{Timeout: time.Second}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "free"
	}
	c.Close()
	// Through netguard like every request Talon makes, allowed to reach
	// exactly this address (a gateway bound to every interface answers on
	// loopback, and netguard never dials an unspecified address).
	if h, p, err := net.SplitHostPort(addr); err == nil {
		if ip, err := netip.ParseAddr(h); err == nil && ip.IsUnspecified() {
			addr = net.JoinHostPort("127.0.0.1", p)
			if ip.Is6() {
				addr = net.JoinHostPort("::1", p)
			}
		}
	}
	hc := netguard.Policy{AllowedOrigins: []string{"http://" + addr}, Timeout: 2 * time.Second, MaxRedirects: -1}.Client()
	resp, err := hc.Get("http://" + addr + "/healthz")
	if err != nil {
		return "other"
	}
	defer resp.Body.Close()
	var buf [64]byte
	n, _ := resp.Body.Read(buf[:])
	if resp.StatusCode == 200 && strings.HasPrefix(string(buf[:n]), `{"ok":true}`) {
		return "talon"
	}
	return "other"
}

// listeners reads the kernel's TCP tables (Linux); elsewhere it returns none.
func listeners() []listener {
	inodes := socketOwners()
	var out []listener
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		fh, err := os.Open(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(fh)
		sc.Scan() // header
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 || fields[3] != "0A" { // 0A = LISTEN
				continue
			}
			ip, port, ok := parseProcAddr(fields[1])
			if !ok {
				continue
			}
			l := listener{Addr: ip.String(), Port: port, Exposed: !ip.IsLoopback()}
			if o, ok := inodes[fields[9]]; ok {
				l.PID, l.Process = o.pid, o.name
			}
			out = append(out, l)
		}
		fh.Close()
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Port != out[j].Port {
			return out[i].Port < out[j].Port
		}
		return out[i].Addr < out[j].Addr
	})
	return out
}

func parseProcAddr(s string) (net.IP, int, bool) {
	h, p, ok := strings.Cut(s, ":")
	if !ok {
		return nil, 0, false
	}
	b, err := hex.DecodeString(h)
	if err != nil || (len(b) != 4 && len(b) != 16) {
		return nil, 0, false
	}
	// The kernel prints each 32-bit word in host (little-endian) order.
	for i := 0; i < len(b); i += 4 {
		b[i], b[i+1], b[i+2], b[i+3] = b[i+3], b[i+2], b[i+1], b[i]
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return nil, 0, false
	}
	return net.IP(b), int(port), true
}

type owner struct {
	pid  int
	name string
}

// socketOwners maps socket inodes to the processes holding them, as far as
// this user may see.
func socketOwners() map[string]owner {
	m := map[string]owner{}
	procs, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	for _, fd := range procs {
		target, err := os.Readlink(fd)
		if err != nil || !strings.HasPrefix(target, "socket:[") {
			continue
		}
		ino := strings.TrimSuffix(strings.TrimPrefix(target, "socket:["), "]")
		pidStr := strings.Split(fd, "/")[2]
		pid, _ := strconv.Atoi(pidStr)
		comm, _ := os.ReadFile("/proc/" + pidStr + "/comm")
		m[ino] = owner{pid, strings.TrimSpace(string(comm))}
	}
	return m
}
