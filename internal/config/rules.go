package config

import (
	"fmt"
	"slices"
	"strconv"
)

// Minimum secret lengths. A token is a bearer credential that may face the
// network, so it must be long enough that guessing is hopeless even without
// the lockout; a password is typed by a person.
const (
	MinTokenLen    = 24
	MinPasswordLen = 8
)

// checkRules applies the rules that involve more than one key. They run on
// the decoded config after the per-key checks, and skip any key that
// already has a problem so a bad value is reported once.
func checkRules(c *Config, ps *problems) {
	g := c.Gateway
	a := g.Auth
	if n := a.Token.Len(); n > 0 && n < MinTokenLen && !ps.at("gateway.auth.token") {
		ps.add("gateway.auth.token",
			fmt.Sprintf("too short (%d chars); use at least %d random characters", n, MinTokenLen),
			"talon doctor --generate-token")
	}
	if n := a.Password.Len(); n > 0 && n < MinPasswordLen && !ps.at("gateway.auth.password") {
		ps.add("gateway.auth.password",
			fmt.Sprintf("too short (%d chars); use at least %d characters", n, MinPasswordLen),
			`choose a longer password, or use gateway.auth.mode "token"`)
	}
	if g.Bind != "loopback" && a.Mode == "none" && !ps.at("gateway.bind") && !ps.at("gateway.auth.mode") {
		ps.add("gateway.auth.mode",
			fmt.Sprintf(`"none" is not allowed with gateway.bind %q: anyone who can reach the port could control the agent`, g.Bind),
			`set gateway.auth.mode to "token", or gateway.bind to "loopback"`)
	}

	if t := c.Channels.Telegram; t != nil {
		checkOpenDM(ps, "channels.telegram", t.DMPolicy, t.AllowFrom)
	}
	if s := c.Channels.Signal; s != nil {
		checkOpenDM(ps, "channels.signal", s.DMPolicy, s.AllowFrom)
	}

	for _, id := range sortedKeys(c.Models.Providers) {
		seen := map[string]int{}
		for i, m := range c.Models.Providers[id].Models {
			base := "models.providers." + id + ".models."
			p := base + strconv.Itoa(i) + ".id"
			if m.ID == "" || ps.at(p) {
				continue
			}
			if j, dup := seen[m.ID]; dup {
				ps.add(p, fmt.Sprintf("duplicate model id %s (also at %s%d)", quoteShort(m.ID), base, j),
					"each model of a provider needs its own id")
				continue
			}
			seen[m.ID] = i
		}
	}
}

// checkOpenDM requires an explicit "*" in allowFrom for an open DM policy,
// so that letting every stranger talk to the agent is never an accident.
func checkOpenDM(ps *problems, path, policy string, allowFrom []string) {
	p := path + ".dmPolicy"
	if policy != "open" || slices.Contains(allowFrom, "*") || ps.at(p) || ps.at(path+".allowFrom") {
		return
	}
	ps.add(p, fmt.Sprintf(`"open" requires "*" in %s.allowFrom`, path),
		`add "*" to allowFrom to let anyone talk to the agent, or use "pairing"`)
}
