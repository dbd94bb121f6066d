package gateway

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/talonclaw/talon/internal/auditlog"
	"github.com/talonclaw/talon/internal/core"
	"github.com/talonclaw/talon/internal/protocol"
)

// Browser credentials of the Control UI (docs/control-ui.md).
//
// The shared gateway token is a bearer secret: kept in a browser it can be
// read by anything that runs in the page and replayed from anywhere. So the
// Control UI uses it once. On its first visit the page makes an Ed25519 key
// pair with WebCrypto whose private half cannot be exported (it stays in
// IndexedDB as an opaque CryptoKey), connects with the token AND a device
// signature over this connection's challenge, and calls
// console.device.enroll. The gateway then remembers the device's public key
// with the scopes that connection was granted, and the page forgets the
// token. Later visits connect with the device signature alone.
//
// Rules (checked here and in handshake.go, nowhere else):
//   - Only a connection that proved the shared secret, and signed with the
//     device it enrols, can enrol it; a device-authenticated connection
//     cannot enrol another device or widen its own scopes.
//   - A device connection gets at most the scopes recorded at enrolment.
//   - A revoked or unknown device is an authentication failure, counted by
//     the same per-address and per-Origin limiter as a wrong token.
//   - Revoking closes the device's open connections at once.
//
// The registry is small (one entry per browser) and kept as one JSON value
// in the store's meta table.

const devicesMetaKey = "gateway.controlUi.devices"

// maxDevices bounds the registry; enrolment beyond it is refused.
const maxDevices = 64

// ConsoleDevice is an enrolled browser.
type ConsoleDevice struct {
	ID        string    `json:"id"`
	PublicKey string    `json:"publicKey"`
	Label     string    `json:"label"`
	Scopes    []string  `json:"scopes"`
	CreatedAt time.Time `json:"createdAt"`
	CreatedBy string    `json:"createdBy"`
	Origin    string    `json:"origin,omitempty"`
}

// deviceRegistry caches the store's list of enrolled browsers, and holds
// the open invitations (in memory only: they live minutes, and a restart
// cancelling them is safe).
type deviceRegistry struct {
	mu      sync.Mutex
	loaded  bool
	list    []ConsoleDevice
	invites map[string]invite // by SHA-256 hex of the code
}

// invite lets one browser enrol with the given scopes without ever seeing
// the gateway token (a viewer's phone, say). It is used once and expires.
type invite struct {
	scopes  []string
	label   string
	by      string
	expires time.Time
}

// inviteTTL is how long an invitation link works.
const inviteTTL = 15 * time.Minute

func (g *Gateway) loadDevicesLocked(ctx context.Context) error {
	r := &g.devices
	if r.loaded {
		return nil
	}
	if g.opts.Store == nil {
		r.loaded = true
		return nil
	}
	v, ok, err := g.opts.Store.Meta(ctx, devicesMetaKey)
	if err != nil {
		return err
	}
	if ok {
		if err := json.Unmarshal([]byte(v), &r.list); err != nil {
			return errors.New("gateway: enrolled browser list is corrupt: " + err.Error())
		}
	}
	r.loaded = true
	return nil
}

func (g *Gateway) saveDevicesLocked(ctx context.Context, list []ConsoleDevice) error {
	if g.opts.Store == nil {
		return errors.New("no store to keep enrolled browsers in")
	}
	b, err := json.Marshal(list)
	if err != nil {
		return err
	}
	if err := g.opts.Store.SetMeta(ctx, devicesMetaKey, string(b)); err != nil {
		return err
	}
	g.devices.list = list
	return nil
}

// consoleDevice finds an enrolled browser by device id.
func (g *Gateway) consoleDevice(id string) (ConsoleDevice, bool) {
	g.devices.mu.Lock()
	defer g.devices.mu.Unlock()
	if err := g.loadDevicesLocked(context.Background()); err != nil {
		g.log.Error("enrolled browsers unreadable; refusing device logins", "err", err)
		return ConsoleDevice{}, false
	}
	for _, d := range g.devices.list {
		if strings.EqualFold(d.ID, id) {
			return d, true
		}
	}
	return ConsoleDevice{}, false
}

// deviceScopes narrows the scopes a device connection asked for to those
// recorded at enrolment.
func deviceScopes(asked map[string]bool, d ConsoleDevice) map[string]bool {
	out := map[string]bool{}
	for s := range asked {
		if slices.Contains(d.Scopes, s) {
			out[s] = true
		}
	}
	return out
}

func (g *Gateway) mDeviceEnroll(ctx context.Context, c *conn, params json.RawMessage) (any, *protocol.Error) {
	var p struct {
		Label string `json:"label"`
	}
	if e := protocol.DecodeParams(params, &p); e != nil {
		return nil, e
	}
	if c.device == nil {
		return nil, protocol.Errorf(protocol.CodeInvalidRequest, "this connection has no device identity to enrol (hint: connect with a signed device)")
	}
	if c.viaDevice {
		return nil, protocol.Errorf(protocol.CodeForbidden, "a browser credential cannot enrol a device; connect once with the gateway token").
			WithDetails(map[string]any{"code": "SHARED_SECRET_REQUIRED"})
	}
	if g.opts.Store == nil {
		return nil, protocol.Errorf(protocol.CodeUnavailable, "this gateway has no store to keep browser credentials in")
	}
	label := strings.TrimSpace(p.Label)
	if len(label) > 80 {
		label = label[:80]
	}
	var scopes []string
	for _, s := range protocol.OperatorScopes {
		if c.scopes[s] {
			scopes = append(scopes, s)
		}
	}
	d := ConsoleDevice{ID: strings.ToLower(c.device.ID), PublicKey: c.device.PublicKey, Label: label, Scopes: scopes,
		CreatedAt: g.opts.Now().UTC(), CreatedBy: c.client.ID, Origin: c.peer.origin}
	g.devices.mu.Lock()
	defer g.devices.mu.Unlock()
	if err := g.loadDevicesLocked(ctx); err != nil {
		return nil, protocol.Errorf(protocol.CodeUnavailable, "%v", err)
	}
	list := slices.DeleteFunc(slices.Clone(g.devices.list), func(x ConsoleDevice) bool { return x.ID == d.ID })
	if len(list) >= maxDevices {
		return nil, protocol.Errorf(protocol.CodeInvalidRequest, "%d browsers are enrolled already (hint: revoke unused ones on the Security page)", maxDevices)
	}
	if e := g.begin(ctx, c, core.KindDeviceEnroll, d.ID, map[string]any{"label": d.Label, "scopes": d.Scopes, "origin": d.Origin}); e != nil {
		return nil, e
	}
	if err := g.saveDevicesLocked(ctx, append(list, d)); err != nil {
		return nil, protocol.Errorf(protocol.CodeUnavailable, "enrolling the browser: %v", err)
	}
	c.log.Info("browser enrolled", "device", d.ID, "scopes", d.Scopes)
	return map[string]any{"ok": true, "device": d}, nil
}

func (g *Gateway) mDeviceList(ctx context.Context, c *conn, _ json.RawMessage) (any, *protocol.Error) {
	g.devices.mu.Lock()
	defer g.devices.mu.Unlock()
	if err := g.loadDevicesLocked(ctx); err != nil {
		return nil, protocol.Errorf(protocol.CodeUnavailable, "%v", err)
	}
	list := slices.Clone(g.devices.list)
	if list == nil {
		list = []ConsoleDevice{}
	}
	self := ""
	if c.device != nil {
		self = strings.ToLower(c.device.ID)
	}
	return map[string]any{"devices": list, "self": self}, nil
}

func (g *Gateway) mDeviceRevoke(ctx context.Context, c *conn, params json.RawMessage) (any, *protocol.Error) {
	var p struct {
		ID string `json:"id"`
	}
	if e := protocol.DecodeParams(params, &p); e != nil {
		return nil, e
	}
	id := strings.ToLower(strings.TrimSpace(p.ID))
	g.devices.mu.Lock()
	defer g.devices.mu.Unlock()
	if err := g.loadDevicesLocked(ctx); err != nil {
		return nil, protocol.Errorf(protocol.CodeUnavailable, "%v", err)
	}
	i := slices.IndexFunc(g.devices.list, func(d ConsoleDevice) bool { return d.ID == id })
	if id == "" || i < 0 {
		return nil, protocol.Errorf(protocol.CodeInvalidRequest, "no enrolled browser %q (hint: console.device.list shows them)", p.ID)
	}
	if e := g.begin(ctx, c, core.KindDeviceRevoke, id, map[string]any{"label": g.devices.list[i].Label}); e != nil {
		return nil, e
	}
	if err := g.saveDevicesLocked(ctx, slices.Delete(slices.Clone(g.devices.list), i, i+1)); err != nil {
		return nil, protocol.Errorf(protocol.CodeUnavailable, "revoking the browser: %v", err)
	}
	closed := 0
	for _, o := range g.snapshotConns() {
		if o.viaDevice && o.device != nil && strings.EqualFold(o.device.ID, id) {
			o.closeWith(websocket.StatusPolicyViolation, "browser credential revoked")
			closed++
		}
	}
	c.log.Info("browser revoked", "device", id, "closed", closed)
	return map[string]any{"ok": true, "id": id, "closedConnections": closed}, nil
}

// DetailDeviceNotEnrolled is the error detail code of a device-only connect
// whose browser is not (or no longer) enrolled.
const DetailDeviceNotEnrolled = "DEVICE_NOT_ENROLLED"

func inviteKey(code string) string {
	sum := sha256.Sum256([]byte(code))
	return hex.EncodeToString(sum[:])
}

// mDeviceInvite makes a one-time link for another browser, with at most
// the caller's own scopes. Only the code's hash is kept.
func (g *Gateway) mDeviceInvite(ctx context.Context, c *conn, params json.RawMessage) (any, *protocol.Error) {
	var p struct {
		Scopes []string `json:"scopes"`
		Label  string   `json:"label"`
	}
	if e := protocol.DecodeParams(params, &p); e != nil {
		return nil, e
	}
	if len(p.Scopes) == 0 {
		p.Scopes = []string{protocol.ScopeRead}
	}
	var scopes []string
	for _, s := range protocol.OperatorScopes {
		if !slices.Contains(p.Scopes, s) {
			continue
		}
		if !c.hasScope(s) {
			return nil, protocol.Errorf(protocol.CodeForbidden, "cannot invite with scope %s, which this connection does not hold", s)
		}
		scopes = append(scopes, s)
	}
	for _, s := range p.Scopes {
		if !slices.Contains(protocol.OperatorScopes, s) {
			return nil, protocol.Errorf(protocol.CodeInvalidRequest, "unknown scope %q (one of %s)", s, strings.Join(protocol.OperatorScopes, ", "))
		}
	}
	var b [32]byte
	_, _ = rand.Read(b[:])
	code := base64.RawURLEncoding.EncodeToString(b[:])
	label := strings.TrimSpace(p.Label)
	if len(label) > 80 {
		label = label[:80]
	}
	if e := g.begin(ctx, c, core.KindDeviceInvite, label, map[string]any{"scopes": scopes, "expiresInSec": int(inviteTTL.Seconds())}); e != nil {
		return nil, e
	}
	now := g.opts.Now()
	g.devices.mu.Lock()
	defer g.devices.mu.Unlock()
	if g.devices.invites == nil {
		g.devices.invites = map[string]invite{}
	}
	for k, v := range g.devices.invites {
		if now.After(v.expires) {
			delete(g.devices.invites, k)
		}
	}
	if len(g.devices.invites) >= maxDevices {
		return nil, protocol.Errorf(protocol.CodeInvalidRequest, "too many open invitations; wait for them to expire")
	}
	g.devices.invites[inviteKey(code)] = invite{scopes: scopes, label: label, by: c.client.ID, expires: now.Add(inviteTTL)}
	return map[string]any{"code": code, "scopes": scopes, "expiresAt": now.Add(inviteTTL).UnixMilli(), "fragment": "#invite=" + code}, nil
}

// hasInvite reports whether code is an open invitation (not consumed).
func (g *Gateway) hasInvite(code string) bool {
	g.devices.mu.Lock()
	defer g.devices.mu.Unlock()
	v, ok := g.devices.invites[inviteKey(code)]
	return ok && !g.opts.Now().After(v.expires)
}

// redeemInvite consumes an invitation and enrols the device that signed
// with it, returning the enrolled device. Exactly one browser can redeem a
// code.
func (g *Gateway) redeemInvite(ctx context.Context, code string, d *protocol.Device, origin string) (ConsoleDevice, error) {
	g.devices.mu.Lock()
	defer g.devices.mu.Unlock()
	k := inviteKey(code)
	v, ok := g.devices.invites[k]
	if !ok || g.opts.Now().After(v.expires) {
		return ConsoleDevice{}, errors.New("invitation unknown, used or expired")
	}
	delete(g.devices.invites, k)
	if err := g.loadDevicesLocked(ctx); err != nil {
		return ConsoleDevice{}, err
	}
	nd := ConsoleDevice{ID: strings.ToLower(d.ID), PublicKey: d.PublicKey, Label: v.label, Scopes: v.scopes,
		CreatedAt: g.opts.Now().UTC(), CreatedBy: "invite:" + v.by, Origin: origin}
	list := slices.DeleteFunc(slices.Clone(g.devices.list), func(x ConsoleDevice) bool { return x.ID == nd.ID })
	if len(list) >= maxDevices {
		return ConsoleDevice{}, errors.New("too many enrolled browsers")
	}
	act, err := g.rec.Begin(ctx, auditlog.Intent{Kind: core.KindDeviceEnroll, Actor: "invite:" + v.by, Subject: nd.ID,
		Data: map[string]any{"label": nd.Label, "scopes": nd.Scopes, "origin": origin}})
	if err != nil {
		return ConsoleDevice{}, err
	}
	err = g.saveDevicesLocked(ctx, append(list, nd))
	_ = act.Done(ctx, err, nil)
	if err != nil {
		return ConsoleDevice{}, err
	}
	return nd, nil
}
