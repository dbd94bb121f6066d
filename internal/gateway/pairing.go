package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/talonclaw/talon/internal/access"
	"github.com/talonclaw/talon/internal/core"
	"github.com/talonclaw/talon/internal/protocol"
	"github.com/talonclaw/talon/internal/router"
	"github.com/talonclaw/talon/internal/store"
)

// Channel pairing events, sent to operator.pairing connections.
const (
	EventPairingRequested = "pairing.requested"
	EventPairingResolved  = "pairing.resolved"
)

// Channels is what the gateway needs of the channel layer.
type Channels interface {
	Status() []router.AccountStatus
	// Notify sends text to a chat of a channel account (pairing --notify).
	Notify(ctx context.Context, channel, account, chatID, text string) error
}

// NotifyPairing tells operators about a new pairing request. The payload
// holds what the store holds: ids, the code and times.
func (g *Gateway) NotifyPairing(p store.PairingRequest) {
	g.broadcastScoped(protocol.ScopePairing, EventPairingRequested, map[string]any{"request": p})
}

func (g *Gateway) mPairingList(ctx context.Context, c *conn, params json.RawMessage) (any, *protocol.Error) {
	if g.opts.Store == nil {
		return nil, protocol.Errorf(protocol.CodeUnavailable, "no store")
	}
	var p struct {
		Channel string `json:"channel"`
		All     bool   `json:"all"`
	}
	if e := protocol.DecodeParams(params, &p); e != nil {
		return nil, e
	}
	list, err := g.opts.Store.ListPairing(ctx, p.Channel, p.All, g.opts.Now())
	if err != nil {
		return nil, protocol.Errorf(protocol.CodeUnavailable, "%v", err)
	}
	if list == nil {
		list = []store.PairingRequest{}
	}
	return map[string]any{"requests": list}, nil
}

func (g *Gateway) mPairingApprove(ctx context.Context, c *conn, params json.RawMessage) (any, *protocol.Error) {
	return g.resolvePairing(ctx, c, params, true)
}

func (g *Gateway) mPairingReject(ctx context.Context, c *conn, params json.RawMessage) (any, *protocol.Error) {
	return g.resolvePairing(ctx, c, params, false)
}

func (g *Gateway) resolvePairing(ctx context.Context, c *conn, params json.RawMessage, approve bool) (any, *protocol.Error) {
	if g.opts.Pairing == nil {
		return nil, protocol.Errorf(protocol.CodeUnavailable, "pairing is not running in this gateway")
	}
	var p struct {
		Channel string `json:"channel"`
		Code    string `json:"code"`
		Notify  bool   `json:"notify"`
	}
	if e := protocol.DecodeParams(params, &p); e != nil {
		return nil, e
	}
	by := "operator:" + c.client.ID
	if e := g.begin(ctx, c, core.KindPairingResolve, p.Channel+":"+p.Code, map[string]any{"approve": approve}); e != nil {
		return nil, e
	}
	var res access.Resolution
	var err error
	if approve {
		res, err = g.opts.Pairing.Approve(ctx, p.Channel, p.Code, by)
	} else {
		res, err = g.opts.Pairing.Reject(ctx, p.Channel, p.Code, by)
	}
	switch {
	case errors.Is(err, store.ErrNoPairing):
		return nil, protocol.Errorf(protocol.CodeInvalidRequest, "no pending pairing request with code %q on %s", p.Code, p.Channel)
	case errors.Is(err, store.ErrPairingExpired), errors.Is(err, store.ErrPairingResolved):
		return nil, protocol.Errorf(protocol.CodeConflict, "%v", errors.Unwrap(err))
	case err != nil && res.Request.Code == "":
		return nil, protocol.Errorf(protocol.CodeInvalidRequest, "%v", err)
	case err != nil:
		return nil, protocol.Errorf(protocol.CodeUnavailable, "%v", err)
	}
	r := res.Request
	g.audit(core.KindPairingResolve, by, r.Channel+":"+r.SenderID, map[string]any{"code": r.Code, "status": r.Status, "account": r.Account, "ownerSet": res.OwnerSet})
	g.broadcastScoped(protocol.ScopePairing, EventPairingResolved, map[string]any{"request": r, "ownerSet": res.OwnerSet})
	out := map[string]any{"ok": true, "request": r, "ownerSet": res.OwnerSet}
	if approve && p.Notify {
		if g.opts.Channels == nil {
			out["notifyError"] = "no channel is connected"
		} else {
			nctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			if err := g.opts.Channels.Notify(nctx, r.Channel, r.Account, r.ChatID, access.ApprovedMessage); err != nil {
				out["notifyError"] = err.Error()
			} else {
				out["notified"] = true
			}
		}
	}
	return out, nil
}
