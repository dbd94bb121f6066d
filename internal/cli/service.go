package cli

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	goruntime "runtime"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/talonclaw/talon/internal/config"
)

// The gateway as a user service: a systemd user unit on Linux, a launchd
// agent on macOS. The unit runs `talon gateway run` with the state dir this
// command used; it never holds a secret (the config and `talon secrets`
// do; other environment variables go in the optional service.env file in
// the state dir, 0600).

const (
	systemdUnitName = "talon-gateway.service"
	launchdLabel    = "com.talonclaw.talon.gateway"
)

// service is one platform's way to run the gateway in the background.
type service struct {
	a        *app
	manager  string // "systemd" | "launchd"
	tool     string // resolved systemctl or launchctl
	unitPath string
	unit     []byte
}

// lookPath finds an executable on the PATH of the environment talon was
// started with.
func (a *app) lookPath(name string) (string, bool) {
	for _, dir := range filepath.SplitList(a.env.get("PATH")) {
		if dir == "" {
			continue
		}
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return p, true
		}
	}
	return "", false
}

func (a *app) goos() string {
	if a.env.GOOS != "" {
		return a.env.GOOS
	}
	return goruntime.GOOS
}

// newService finds the service manager and renders the unit.
func (a *app) newService() (*service, error) {
	p, err := a.paths()
	if err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("cannot find the talon binary: %w", err)
	}
	if resolved, err := filepath.EvalSymlinks(self); err == nil {
		self = resolved
	}
	if goRunBuild(self) {
		return nil, fmt.Errorf("this talon is a temporary `go run` build (%s) that disappears when it exits, so a service cannot run it (hint: install the binary with `go install ./cmd/talon` or `make build`, then run `talon gateway install` with it)", self)
	}
	s := &service{a: a}
	switch a.goos() {
	case "darwin":
		tool, ok := a.lookPath("launchctl")
		if !ok {
			return nil, errors.New("launchctl is not on PATH, so the gateway cannot be installed as a launchd agent (hint: run `talon gateway run` under your own supervisor)")
		}
		s.manager, s.tool = "launchd", tool
		s.unitPath = filepath.Join(a.env.Home, "Library", "LaunchAgents", launchdLabel+".plist")
		s.unit = renderPlist(self, p)
	default:
		tool, ok := a.lookPath("systemctl")
		if !ok {
			return nil, errors.New("no service manager here: neither systemd (systemctl) nor launchd (launchctl) is available (hint: run `talon gateway run` under your own supervisor, e.g. in tmux or a container)")
		}
		s.manager, s.tool = "systemd", tool
		cfgHome := a.env.get("XDG_CONFIG_HOME")
		if cfgHome == "" {
			cfgHome = filepath.Join(a.env.Home, ".config")
		}
		s.unitPath = filepath.Join(cfgHome, "systemd", "user", systemdUnitName)
		s.unit = renderSystemdUnit(self, p, a.env.get("TALON_CONFIG_PATH") != "")
	}
	return s, nil
}

// goRunBuild reports whether bin is the temporary binary of `go run`
// ($GOTMPDIR/go-build…/b001/exe/NAME), which is deleted when it exits.
func goRunBuild(bin string) bool {
	dir := filepath.ToSlash(filepath.Dir(bin))
	return strings.Contains(dir, "/go-build") && strings.HasSuffix(dir, "/exe")
}

// renderSystemdUnit is the user unit. Values are quoted for systemd's
// command-line and Environment= syntax.
func renderSystemdUnit(bin string, p paths, customConfig bool) []byte {
	q := func(s string) string {
		return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "%", "%%", "$", "$$").Replace(s) + `"`
	}
	var b strings.Builder
	b.WriteString("# Written by `talon gateway install`; `talon gateway uninstall` removes it.\n")
	b.WriteString("[Unit]\nDescription=Talon gateway\nAfter=network-online.target\nWants=network-online.target\n\n")
	b.WriteString("[Service]\nType=simple\n")
	fmt.Fprintf(&b, "ExecStart=%s gateway run\n", q(bin))
	fmt.Fprintf(&b, "Environment=%s\n", q("TALON_STATE_DIR="+p.StateDir))
	if customConfig {
		fmt.Fprintf(&b, "Environment=%s\n", q("TALON_CONFIG_PATH="+p.Config))
	}
	fmt.Fprintf(&b, "# Variables the config refers to as ${NAME}, one NAME=value a line (keep it 0600).\nEnvironmentFile=-%s\n", filepath.Join(p.StateDir, "service.env"))
	b.WriteString("Restart=on-failure\nRestartSec=5\nUMask=0077\nNoNewPrivileges=true\n\n")
	b.WriteString("[Install]\nWantedBy=default.target\n")
	return []byte(b.String())
}

// renderPlist is the launchd agent.
func renderPlist(bin string, p paths) []byte {
	esc := func(s string) string {
		var b bytes.Buffer
		_ = xml.EscapeText(&b, []byte(s))
		return b.String()
	}
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>Label</key><string>` + launchdLabel + `</string>
  <key>ProgramArguments</key>
  <array>
    <string>` + esc(bin) + `</string>
    <string>gateway</string>
    <string>run</string>
  </array>
  <key>EnvironmentVariables</key>
  <dict>
    <key>TALON_STATE_DIR</key><string>` + esc(p.StateDir) + `</string>
    <key>TALON_CONFIG_PATH</key><string>` + esc(p.Config) + `</string>
  </dict>
  <key>RunAtLoad</key><true/>
  <key>KeepAlive</key><dict><key>SuccessfulExit</key><false/></dict>
  <key>Umask</key><integer>63</integer>
  <key>StandardOutPath</key><string>` + esc(filepath.Join(p.LogDir, "service.out")) + `</string>
  <key>StandardErrorPath</key><string>` + esc(filepath.Join(p.LogDir, "service.err")) + `</string>
</dict>
</plist>
`)
	return []byte(b.String())
}

// run calls the service manager and returns its output; a failure names
// the command and what it said.
func (s *service) run(ctx context.Context, args ...string) (string, error) {
	if s.manager == "systemd" {
		args = append([]string{"--user"}, args...)
	}
	cmd := exec.CommandContext(ctx, s.tool, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	text := strings.TrimSpace(out.String())
	if err != nil {
		if text == "" {
			text = err.Error()
		}
		return text, fmt.Errorf("%s %s failed: %s", filepath.Base(s.tool), strings.Join(args, " "), firstLine(text))
	}
	return text, nil
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

func (s *service) installed() bool {
	_, err := os.Stat(s.unitPath)
	return err == nil
}

func (s *service) target() string {
	if s.manager == "launchd" {
		return "gui/" + strconv.Itoa(os.Getuid()) + "/" + launchdLabel
	}
	return systemdUnitName
}

func (a *app) gatewayServiceCmds() []*cobra.Command {
	var noStart bool
	install := &cobra.Command{
		Use:   "install",
		Short: "Install the gateway as a user service (systemd user unit, or launchd agent on macOS) and start it",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := a.newService()
			if err != nil {
				return err
			}
			return s.install(cmd.Context(), !noStart)
		},
	}
	install.Flags().BoolVar(&noStart, "no-start", false, "write and enable the unit without starting it")
	simple := func(name, short string) *cobra.Command {
		return &cobra.Command{
			Use:   name,
			Short: short,
			Args:  exactArgs(0),
			RunE: func(cmd *cobra.Command, args []string) error {
				s, err := a.newService()
				if err != nil {
					return err
				}
				return s.control(cmd.Context(), name)
			},
		}
	}
	return []*cobra.Command{
		install,
		simple("uninstall", "Stop the gateway service and remove its unit"),
		simple("start", "Start the installed gateway service"),
		simple("stop", "Stop the gateway service"),
		simple("restart", "Restart the gateway service (e.g. after changing settings that need a restart)"),
		simple("status", "Show whether the gateway service is installed and running"),
	}
}

func (s *service) install(ctx context.Context, start bool) error {
	a := s.a
	if err := os.MkdirAll(filepath.Dir(s.unitPath), 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", filepath.Dir(s.unitPath), err)
	}
	if err := config.WriteFileAtomic(s.unitPath, s.unit, 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", s.unitPath, err)
	}
	p, _ := a.paths()
	if err := ensureStateDir(p.StateDir); err != nil {
		return err
	}
	if s.manager == "systemd" {
		if _, err := s.run(ctx, "daemon-reload"); err != nil {
			return err
		}
		args := []string{"enable", systemdUnitName}
		if start {
			args = []string{"enable", "--now", systemdUnitName}
		}
		if _, err := s.run(ctx, args...); err != nil {
			return err
		}
	} else {
		// bootstrap loads the agent; RunAtLoad starts it.
		_, _ = s.run(ctx, "bootout", s.target()) // an older copy, if loaded
		if _, err := s.run(ctx, "bootstrap", "gui/"+strconv.Itoa(os.Getuid()), s.unitPath); err != nil {
			return err
		}
	}
	if a.json {
		return a.printJSON(map[string]any{"ok": true, "manager": s.manager, "unit": s.unitPath, "started": start})
	}
	a.outf("installed %s (%s)\n", s.unitPath, s.manager)
	if start {
		a.outf("started; follow it with `talon logs -f`, check it with `talon gateway status`\n")
	}
	if s.manager == "systemd" {
		a.outf("to keep it running after you log out: loginctl enable-linger $USER\n")
	}
	return nil
}

func (s *service) control(ctx context.Context, action string) error {
	a := s.a
	if !s.installed() {
		if action == "status" {
			if a.json {
				return a.printJSON(map[string]any{"installed": false, "manager": s.manager, "unit": s.unitPath, "active": false})
			}
			a.outf("the gateway service is not installed (install it with `talon gateway install`)\n")
			return nil
		}
		if action == "uninstall" {
			a.outf("the gateway service is not installed; nothing to remove\n")
			return nil
		}
		return fmt.Errorf("the gateway service is not installed (hint: talon gateway install)")
	}
	var args []string
	switch s.manager + " " + action {
	case "systemd uninstall":
		if _, err := s.run(ctx, "disable", "--now", systemdUnitName); err != nil {
			return err
		}
		if err := os.Remove(s.unitPath); err != nil {
			return err
		}
		if _, err := s.run(ctx, "daemon-reload"); err != nil {
			return err
		}
		a.outf("removed %s\n", s.unitPath)
		return nil
	case "launchd uninstall":
		_, _ = s.run(ctx, "bootout", s.target())
		if err := os.Remove(s.unitPath); err != nil {
			return err
		}
		a.outf("removed %s\n", s.unitPath)
		return nil
	case "systemd status":
		return s.systemdStatus(ctx)
	case "launchd status":
		return s.launchdStatus(ctx)
	case "systemd start", "systemd stop", "systemd restart":
		args = []string{action, systemdUnitName}
	case "launchd start":
		args = []string{"kickstart", s.target()}
	case "launchd restart":
		args = []string{"kickstart", "-k", s.target()}
	case "launchd stop":
		args = []string{"kill", "SIGTERM", s.target()}
	}
	if _, err := s.run(ctx, args...); err != nil {
		return err
	}
	if a.json {
		return a.printJSON(map[string]any{"ok": true, "action": action})
	}
	a.outf("gateway service: %s done\n", action)
	return nil
}

// serviceStatus is `talon gateway status --json`.
type serviceStatus struct {
	Installed bool   `json:"installed"`
	Manager   string `json:"manager"`
	Unit      string `json:"unit"`
	Active    bool   `json:"active"`
	State     string `json:"state"`
	SubState  string `json:"subState,omitempty"`
	PID       int    `json:"pid,omitempty"`
}

func (s *service) systemdStatus(ctx context.Context) error {
	out, err := s.run(ctx, "show", systemdUnitName, "--property=ActiveState,SubState,MainPID", "--no-pager")
	if err != nil {
		return err
	}
	st := serviceStatus{Installed: true, Manager: s.manager, Unit: s.unitPath}
	for _, l := range strings.Split(out, "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(l), "=")
		switch k {
		case "ActiveState":
			st.State = v
		case "SubState":
			st.SubState = v
		case "MainPID":
			st.PID, _ = strconv.Atoi(v)
		}
	}
	st.Active = st.State == "active"
	return s.printStatus(st)
}

var launchdField = regexp.MustCompile(`(?m)^\s*(state|pid) = (\S+)`)

func (s *service) launchdStatus(ctx context.Context) error {
	st := serviceStatus{Installed: true, Manager: s.manager, Unit: s.unitPath, State: "not loaded"}
	if out, err := s.run(ctx, "print", s.target()); err == nil {
		for _, m := range launchdField.FindAllStringSubmatch(out, -1) {
			switch m[1] {
			case "state":
				st.State = m[2]
			case "pid":
				st.PID, _ = strconv.Atoi(m[2])
			}
		}
	}
	st.Active = st.State == "running"
	return s.printStatus(st)
}

func (s *service) printStatus(st serviceStatus) error {
	a := s.a
	if a.json {
		return a.printJSON(st)
	}
	state := st.State
	if st.SubState != "" {
		state += " (" + st.SubState + ")"
	}
	a.outf("gateway service (%s, %s): %s", st.Manager, st.Unit, state)
	if st.PID > 0 {
		a.outf(", pid %d", st.PID)
	}
	a.outf("\n")
	return nil
}
