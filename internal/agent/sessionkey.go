package agent

import (
	"fmt"
	"strings"
)

// Inbound describes where a message came from, for session routing.
type Inbound struct {
	AgentID   string // "" is "main"
	Channel   string // telegram, discord, webchat, cli, …
	AccountID string // the bot account on that channel ("" is "default")
	PeerID    string // the sender in a direct chat
	ChatType  string // direct | group | channel
	GroupID   string // the group or channel id for group/channel chats
	ThreadID  string // Slack/Discord thread
	TopicID   string // Telegram forum topic
}

// DM scopes (session.dmScope).
const (
	ScopeMain                  = "main"
	ScopePerPeer               = "per-peer"
	ScopePerChannelPeer        = "per-channel-peer"
	ScopePerAccountChannelPeer = "per-account-channel-peer"
)

// SessionKey builds the key of the session a message belongs to, in
// OpenClaw's shapes:
//
//	agent:<agent>:main                                  dmScope main
//	agent:<agent>:direct:<peer>                         per-peer
//	agent:<agent>:<channel>:direct:<peer>               per-channel-peer
//	agent:<agent>:<channel>:<account>:direct:<peer>     per-account-channel-peer
//	agent:<agent>:<channel>:group:<id>[:topic:<t>]      groups
//	agent:<agent>:<channel>:channel:<id>[:thread:<t>]   channels and threads
//
// Every id is escaped (':' and '%' percent-encoded, case kept), so a peer or
// group id chosen by an outsider can never forge the structure of another
// session's key (invariant 4). Agent and channel names are lowercased.
func SessionKey(dmScope string, in Inbound) (string, error) {
	agent := strings.ToLower(orDefault(in.AgentID, "main"))
	ch := strings.ToLower(in.Channel)
	switch in.ChatType {
	case "", "direct":
		switch dmScope {
		case ScopeMain:
			return join("agent", agent, "main"), nil
		case ScopePerPeer:
			if in.PeerID == "" {
				return "", fmt.Errorf("agent.SessionKey: per-peer needs a peer id")
			}
			return join("agent", agent, "direct", esc(in.PeerID)), nil
		case ScopePerChannelPeer, "":
			if in.PeerID == "" || ch == "" {
				return "", fmt.Errorf("agent.SessionKey: per-channel-peer needs a channel and a peer id")
			}
			return join("agent", agent, esc(ch), "direct", esc(in.PeerID)), nil
		case ScopePerAccountChannelPeer:
			if in.PeerID == "" || ch == "" {
				return "", fmt.Errorf("agent.SessionKey: per-account-channel-peer needs a channel and a peer id")
			}
			return join("agent", agent, esc(ch), esc(orDefault(in.AccountID, "default")), "direct", esc(in.PeerID)), nil
		default:
			return "", fmt.Errorf("agent.SessionKey: session.dmScope %q is not one of main|per-peer|per-channel-peer|per-account-channel-peer", dmScope)
		}
	case "group", "channel":
		if in.GroupID == "" || ch == "" {
			return "", fmt.Errorf("agent.SessionKey: a %s chat needs a channel and a group id", in.ChatType)
		}
		k := join("agent", agent, esc(ch), in.ChatType, esc(in.GroupID))
		if in.TopicID != "" {
			k = join(k, "topic", esc(in.TopicID))
		}
		if in.ThreadID != "" {
			k = join(k, "thread", esc(in.ThreadID))
		}
		return k, nil
	default:
		return "", fmt.Errorf("agent.SessionKey: chat type %q is not one of direct|group|channel", in.ChatType)
	}
}

// CronSessionKey is the session of a scheduled job.
func CronSessionKey(jobID string) string { return join("cron", esc(jobID)) }

// MainSessionKey is the owner's main session of an agent.
func MainSessionKey(agentID string) string {
	return join("agent", strings.ToLower(orDefault(agentID, "main")), "main")
}

// ValidSessionKey reports whether a key given by a client has a known shape.
// Keys are at most 512 bytes of printable ASCII without spaces.
func ValidSessionKey(k string) bool {
	if k == "" || len(k) > 512 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] <= ' ' || k[i] > '~' {
			return false
		}
	}
	return strings.HasPrefix(k, "agent:") || strings.HasPrefix(k, "cron:")
}

func join(parts ...string) string { return strings.Join(parts, ":") }

func esc(s string) string {
	if !strings.ContainsAny(s, ":% \t\r\n") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ':' || c == '%' || c <= ' ' {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
