package agent

import (
	"context"
	"testing"

	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/policy"
	"github.com/talonclaw/talon/internal/testutil/fakellm"
	"github.com/talonclaw/talon/internal/tools/msgtool"
)

func TestMessageTool(t *testing.T) {
	var cfg *config.Config
	e := newEnv(t, func(c *config.Config, o *Options) {
		c.Tools.Profile = "full"
		cfg = c
		o.Policy = &policy.Rules{Config: func() *config.Config { return cfg }}
	})
	e.reg.Register(msgtool.New(nil))
	e.fake.Script(fakellm.Reply{ToolCalls: []fakellm.Call{
		{ID: "here", Name: "message", Args: `{"action":"send","text":"progress: 50%"}`},
		{ID: "there", Name: "message", Args: `{"action":"send","channel":"telegram","target":"+15550001","text":"hi"}`},
	}}, fakellm.Reply{Text: "done"})
	var got []string
	res, err := e.agent.Run(context.Background(), TurnRequest{Trust: policy.TrustOwner, SessionKey: "agent:main:main", Text: "go", OnEvent: func(ev Event) {
		if ev.Type == "message" {
			got = append(got, ev.Text)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != "progress: 50%" {
		t.Fatalf("messages %v", got)
	}
	// Another target: owner, clean session → allowed by policy, but no
	// channel is connected, so it errors; nothing is sent.
	if res.ToolCalls[1].Outcome != "error" {
		t.Fatalf("%+v", res.ToolCalls[1])
	}
}
