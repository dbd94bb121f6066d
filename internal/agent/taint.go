package agent

import (
	"encoding/json"
	"slices"

	"github.com/talonclaw/talon/internal/core"
	"github.com/talonclaw/talon/internal/policy"
	"github.com/talonclaw/talon/internal/store"
)

// The session's taint is derived from its transcript (see turn.state), so
// it is as durable as the transcript and survives restarts: untrusted
// messages and untrusted tool results taint; a result whose plan read
// private data, and the owner's memory in the prompt, mean it holds
// private data; the hosts of executed fetches are the visited hosts. What
// a call's plan did is stored with its result (storedDecision), so the
// taint follows from plans and results alone, never from tool names.

// decisionRecord is the decision stored with a tool result.
type decisionRecord struct {
	Action  string `json:"action"`
	Reason  string `json:"reason"`
	Outcome string `json:"outcome"`
	Rule    string `json:"rule,omitempty"`
	// Effects and Hosts are the plan's: its effects by name and the
	// hosts of its fetches. Nil Effects (a row stored before plans) is
	// read as holding private data.
	Effects []string `json:"effects"`
	Hosts   []string `json:"hosts,omitempty"`
	// Skills are the skills the plan activated.
	Skills []string `json:"skills,omitempty"`
}

func storedDecision(rec ToolCallRecord, d policy.Decision, p *core.Plan) decisionRecord {
	r := decisionRecord{Action: string(rec.Decision), Reason: rec.Reason, Outcome: rec.Outcome, Rule: d.Rule, Effects: []string{}}
	if p != nil {
		r.Effects = p.Effects.Names()
		for _, t := range p.TargetsOf(core.TargetURL) {
			r.Hosts = append(r.Hosts, t.Value)
		}
		for _, t := range p.TargetsOf(core.TargetSkill) {
			r.Skills = append(r.Skills, t.Value)
		}
	}
	return r
}

// observe folds one message into the state.
func observe(s *policy.SessionState, m store.Message) {
	switch m.Role {
	case "user":
		if m.Provenance == policy.TrustUntrusted {
			taint(s, "a message from "+orDefault(m.SenderID, "an untrusted sender"))
		}
	case "tool":
		var d decisionRecord
		_ = json.Unmarshal(m.Decision, &d)
		if m.Provenance == policy.TrustUntrusted {
			src := m.ToolName
			if len(d.Hosts) > 0 {
				src += " " + d.Hosts[0]
			}
			taint(s, src)
		}
		if d.Outcome != "executed" {
			return
		}
		effects, err := core.ParseEffects(d.Effects)
		if d.Effects == nil || err != nil || effects&core.ReadsPrivate != 0 {
			s.HoldsPrivate = true
		}
		for _, h := range d.Hosts {
			if !slices.Contains(s.VisitedHosts, h) {
				s.VisitedHosts = append(s.VisitedHosts, h)
			}
		}
		// An activated skill stays active for the session; the turn fills
		// in what it may do (turn.skills).
		for _, n := range d.Skills {
			if !slices.ContainsFunc(s.Skills, func(a policy.ActiveSkill) bool { return a.Name == n }) {
				s.Skills = append(s.Skills, policy.ActiveSkill{Name: n})
			}
		}
	}
}

func taint(s *policy.SessionState, src string) {
	s.Tainted = true
	if !slices.Contains(s.TaintSources, src) {
		s.TaintSources = append(s.TaintSources, src)
	}
}
