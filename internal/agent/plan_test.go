package agent

import (
	"context"
	"encoding/json"

	"github.com/talonclaw/talon/internal/policy"

	"github.com/talonclaw/talon/internal/core"
	"github.com/talonclaw/talon/internal/tools/msgtool"
	"github.com/talonclaw/talon/internal/tools/web"
)

// testEffects gives the stand-in tools of these tests the effects the real
// tools' plans have (their plans are tested in their own packages, and
// with the policy in internal/tools).
var testEffects = map[string]core.Effect{
	"read": core.ReadsPrivate, "write": core.WritesHost, "edit": core.WritesHost, "apply_patch": core.WritesHost,
	"exec": core.Executes | core.WritesHost | core.Egress | core.ReadsPrivate, "process": core.ReadsPrivate,
	"web_search": core.Egress | core.Ingests, "sessions_list": core.ReadsPrivate, "sessions_history": core.ReadsPrivate,
	"sessions_send": core.Messages, "cron": core.WritesHost | core.Persists,
}

// testPlan plans a call to a stand-in tool of this name: web_fetch and
// message with the real tools' planners (hosts, targets), the rest by
// testEffects.
func testPlan(name string, c core.Call) (*core.Plan, error) {
	switch name {
	case "web_fetch":
		return web.NewFetch(web.FetchOptions{}).Plan(context.Background(), c)
	case "message":
		return msgtool.New(nil).Plan(context.Background(), c)
	case "skill_read":
		var a struct{ Name string }
		json.Unmarshal(c.Args, &a)
		return (&core.Plan{Tool: name, Args: c.Args, Summary: "read a skill", Targets: []core.Target{{Kind: core.TargetSkill, Value: a.Name}}}).Seal(), nil
	}
	return (&core.Plan{Tool: name, Effects: testEffects[name], Args: c.Args, Summary: "test " + name}).Seal(), nil
}

// decideCall asks d about a call to the stand-in tool of this name.
func decideCall(d policy.Decider, actor core.Actor, st policy.SessionState, tool string, args json.RawMessage) policy.Decision {
	p, err := testPlan(tool, core.Call{Args: args, Actor: actor})
	return d.Decide(context.Background(), policy.Request{Actor: actor, State: st, Tool: core.Spec{Name: tool, Group: testGroups[tool]}, Registered: true, Plan: p, PlanErr: err})
}

var testGroups = map[string]string{"read": "group:fs", "write": "group:fs", "edit": "group:fs", "apply_patch": "group:fs", "exec": "group:runtime",
	"process": "group:runtime", "web_fetch": "group:web", "web_search": "group:web", "message": "group:messaging", "cron": "group:automation",
	"sessions_list": "group:sessions", "sessions_history": "group:sessions", "sessions_send": "group:sessions"}
