package agent

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"

	"github.com/talonclaw/talon/internal/policy"
	"github.com/talonclaw/talon/internal/store"
)

// privateTools are the tools whose results are private data (invariant 8):
// workspace files, command output, other sessions' transcripts.
var privateTools = map[string]bool{"read": true, "exec": true, "process": true, "sessions_history": true}

// The session's taint is derived from its transcript (see turn.state), so
// it is as durable as the transcript and survives restarts: untrusted
// messages and untrusted tool results taint; private tool results, and the
// owner's memory in the prompt, mean it holds private data; executed
// web_fetch calls give the visited hosts.

// observe folds one message into the state.
func observe(s *policy.SessionState, m store.Message, fetched map[string]string) {
	switch m.Role {
	case "user":
		if m.Provenance == policy.TrustUntrusted {
			taint(s, "a message from "+orDefault(m.SenderID, "an untrusted sender"))
		}
	case "assistant":
		var calls []struct {
			ID   string          `json:"id"`
			Name string          `json:"name"`
			Args json.RawMessage `json:"args"`
		}
		_ = json.Unmarshal(m.ToolCalls, &calls)
		for _, c := range calls {
			if c.Name == "web_fetch" {
				var a struct {
					URL string `json:"url"`
				}
				if json.Unmarshal(c.Args, &a) == nil {
					if u, err := url.Parse(a.URL); err == nil && u.Host != "" {
						fetched[c.ID] = strings.ToLower(u.Host)
					}
				}
			}
		}
	case "tool":
		if m.Provenance == policy.TrustUntrusted {
			src := m.ToolName
			if h := fetched[m.ToolCallID]; h != "" {
				src += " " + h
			}
			taint(s, src)
		}
		var d struct {
			Outcome string `json:"outcome"`
		}
		_ = json.Unmarshal(m.Decision, &d)
		if d.Outcome == "executed" {
			if privateTools[m.ToolName] {
				s.HoldsPrivate = true
			}
			if h := fetched[m.ToolCallID]; h != "" && !slices.Contains(s.VisitedHosts, h) {
				s.VisitedHosts = append(s.VisitedHosts, h)
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
