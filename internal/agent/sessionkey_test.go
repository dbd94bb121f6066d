package agent

import "testing"

func TestSessionKeys(t *testing.T) {
	tg := Inbound{Channel: "Telegram", AccountID: "bot2", PeerID: "12345", ChatType: "direct"}
	for _, tc := range []struct {
		scope string
		in    Inbound
		want  string
	}{
		{"main", tg, "agent:main:main"},
		{"per-peer", tg, "agent:main:direct:12345"},
		{"per-channel-peer", tg, "agent:main:telegram:direct:12345"},
		{"", tg, "agent:main:telegram:direct:12345"},
		{"per-account-channel-peer", tg, "agent:main:telegram:bot2:direct:12345"},
		{"per-account-channel-peer", Inbound{Channel: "slack", PeerID: "U1"}, "agent:main:slack:default:direct:U1"},
		{"main", Inbound{AgentID: "Work", Channel: "telegram", ChatType: "group", GroupID: "-100123", TopicID: "42"}, "agent:work:telegram:group:-100123:topic:42"},
		{"main", Inbound{Channel: "discord", ChatType: "channel", GroupID: "123", ThreadID: "987"}, "agent:main:discord:channel:123:thread:987"},
		// Ids chosen by outsiders cannot forge another key's structure.
		{"per-channel-peer", Inbound{Channel: "telegram", PeerID: "x:group:-100123"}, "agent:main:telegram:direct:x%3Agroup%3A-100123"},
		{"per-peer", Inbound{PeerID: "a b%c"}, "agent:main:direct:a%20b%25c"},
	} {
		got, err := SessionKey(tc.scope, tc.in)
		if err != nil || got != tc.want {
			t.Errorf("SessionKey(%q, %+v) = %q, %v; want %q", tc.scope, tc.in, got, err, tc.want)
		}
		if err == nil && !ValidSessionKey(got) {
			t.Errorf("%q is not valid", got)
		}
	}
	for _, bad := range []Inbound{{ChatType: "direct"}, {Channel: "x", ChatType: "group"}, {Channel: "x", PeerID: "p", ChatType: "weird"}} {
		if _, err := SessionKey("per-channel-peer", bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	if CronSessionKey("job:1") != "cron:job%3A1" {
		t.Error(CronSessionKey("job:1"))
	}
	for _, k := range []string{"", "main", "agent:main:main\n", "agent:main: x", "sessions:all"} {
		if ValidSessionKey(k) {
			t.Errorf("%q valid", k)
		}
	}
}
