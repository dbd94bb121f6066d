package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/talonclaw/talon/internal/auditlog"
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

// deviceRegistry caches the store's list of enrolled browsers.
type deviceRegistry struct {
	mu     sync.Mutex
	loaded bool
	list   []ConsoleDevice
}

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
	if e := g.intent(c, auditlog.KindDeviceEnroll, d.ID, map[string]any{"label": d.Label, "scopes": d.Scopes, "origin": d.Origin}); e != nil {
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
	if e := g.intent(c, auditlog.KindDeviceRevoke, id, map[string]any{"label": g.devices.list[i].Label}); e != nil {
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
