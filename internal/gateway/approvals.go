package gateway

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/talonclaw/talon/internal/approvals"
	"github.com/talonclaw/talon/internal/core"
	"github.com/talonclaw/talon/internal/protocol"
	"github.com/talonclaw/talon/internal/store"
)

// HasApprover reports whether a connection that may resolve approvals is
// open: the agent waits for a person only when one could answer.
func (g *Gateway) HasApprover() bool {
	for _, c := range g.snapshotConns() {
		if c.ready.Load() && c.hasScope(protocol.ScopeApprovals) {
			return true
		}
	}
	return false
}

// NotifyApprovals broadcasts approval events to approvers.
func (g *Gateway) NotifyApprovals(event string, payload any) {
	g.broadcastScoped(protocol.ScopeApprovals, event, payload)
}

func (g *Gateway) mApprovalList(ctx context.Context, c *conn, params json.RawMessage) (any, *protocol.Error) {
	if g.opts.Store == nil {
		return nil, protocol.Errorf(protocol.CodeUnavailable, "no store")
	}
	var p struct {
		All   bool `json:"all"`
		Limit int  `json:"limit"`
	}
	if e := protocol.DecodeParams(params, &p); e != nil {
		return nil, e
	}
	list, err := g.opts.Store.ListApprovals(ctx, p.All, p.Limit)
	if err != nil {
		return nil, protocol.Errorf(protocol.CodeUnavailable, "%v", err)
	}
	if list == nil {
		list = []store.Approval{}
	}
	return map[string]any{"approvals": list}, nil
}

func (g *Gateway) mApprovalResolve(ctx context.Context, c *conn, params json.RawMessage) (any, *protocol.Error) {
	if g.opts.Approvals == nil {
		return nil, protocol.Errorf(protocol.CodeUnavailable, "approvals are not running in this gateway")
	}
	var p struct {
		ID       string `json:"id"`
		Decision string `json:"decision"`
	}
	if e := protocol.DecodeParams(params, &p); e != nil {
		return nil, e
	}
	a, e := g.resolveApproval(ctx, c, p.ID, p.Decision)
	if e != nil {
		return nil, e
	}
	return map[string]any{"ok": true, "approval": a}, nil
}

// resolveApproval is the one path by which an operator connection answers
// an approval (exec.approval.resolve, approval.resolve): the same decision
// check, manager, log line and audit record, whichever method asked.
func (g *Gateway) resolveApproval(ctx context.Context, c *conn, id, decision string) (store.Approval, *protocol.Error) {
	if g.opts.Approvals == nil {
		return store.Approval{}, protocol.Errorf(protocol.CodeUnavailable, "approvals are not running in this gateway")
	}
	switch decision {
	case approvals.AllowOnce, approvals.AllowAlways, approvals.Deny:
	default:
		return store.Approval{}, protocol.Errorf(protocol.CodeInvalidRequest, "decision must be one of allow-once|allow-always|deny")
	}
	if e := g.begin(ctx, c, core.KindApprovalResolve, id, map[string]any{"id": id, "decision": decision}); e != nil {
		return store.Approval{}, e
	}
	a, err := g.opts.Approvals.Resolve(ctx, id, decision, "operator:"+c.client.ID)
	switch {
	case errors.Is(err, store.ErrNoApproval):
		return store.Approval{}, protocol.Errorf(protocol.CodeInvalidRequest, "no approval %q", id)
	case errors.Is(err, store.ErrApprovalResolved):
		return store.Approval{}, protocol.Errorf(protocol.CodeConflict, "approval %s was already resolved or has expired", id)
	case err != nil:
		return store.Approval{}, protocol.Errorf(protocol.CodeUnavailable, "%v", err)
	}
	c.log.Info("approval resolved", "id", a.ID, "decision", a.Decision, "tool", a.Tool)
	return a, nil
}
