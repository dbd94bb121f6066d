package access

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/talonclaw/talon/internal/store"
)

// PairingMessage is the one reply an unknown sender gets. It carries the
// code and what the owner must do, and nothing about the agent.
func PairingMessage(channel, code string) string {
	return fmt.Sprintf("Hi! This assistant only talks to people its owner has approved.\n"+
		"Your pairing code: %s (valid for 1 hour).\n"+
		"Send it to the owner; they can approve you with: talon pairing approve %s %s", code, channel, code)
}

// ApprovedMessage tells a sender that the owner approved them (--notify).
const ApprovedMessage = "You have been approved: you can talk to this assistant now."

// Pairing resolves pairing requests: the CLI and the gateway share it.
type Pairing struct {
	Store *store.Store
	Now   func() time.Time // nil: time.Now
	// BootstrapOwner makes entry ("<channel>:<id>") the owner when
	// commands.ownerAllowFrom is empty, and reports whether it did. Nil
	// never bootstraps.
	BootstrapOwner func(ctx context.Context, entry string) (bool, error)
}

// Resolution is the outcome of Approve or Reject.
type Resolution struct {
	Request store.PairingRequest `json:"request"`
	// OwnerSet is true when this approval made the sender the owner
	// (the first approval on a setup without commands.ownerAllowFrom).
	OwnerSet bool `json:"ownerSet"`
}

// Approve approves the pending request with code on channel: its sender
// may DM the agent from now on. by names who approved (for the audit log).
func (p *Pairing) Approve(ctx context.Context, channel, code, by string) (Resolution, error) {
	return p.resolve(ctx, channel, code, true, by)
}

// Reject rejects the pending request with code on channel.
func (p *Pairing) Reject(ctx context.Context, channel, code, by string) (Resolution, error) {
	return p.resolve(ctx, channel, code, false, by)
}

func (p *Pairing) resolve(ctx context.Context, channel, code string, approve bool, by string) (Resolution, error) {
	channel = strings.ToLower(strings.TrimSpace(channel))
	if !knownChannel(channel) {
		return Resolution{}, fmt.Errorf("unknown channel %q (hint: one of %s)", channel, strings.Join(Channels, ", "))
	}
	if !ValidCode(code) {
		return Resolution{}, fmt.Errorf("%q is not a pairing code (hint: 8 characters of %s, as sent to the person)", code, CodeAlphabet)
	}
	now := time.Now()
	if p.Now != nil {
		now = p.Now()
	}
	req, err := p.Store.ResolvePairing(ctx, channel, code, approve, by, now)
	if err != nil {
		return Resolution{Request: req}, err
	}
	res := Resolution{Request: req}
	if approve && p.BootstrapOwner != nil {
		res.OwnerSet, err = p.BootstrapOwner(ctx, channel+":"+req.SenderID)
		if err != nil {
			return res, fmt.Errorf("approved, but setting the owner failed: %w", err)
		}
	}
	return res, nil
}
