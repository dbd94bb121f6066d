package gateway

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/talonclaw/talon/internal/approvals"
	"github.com/talonclaw/talon/internal/core"
	"github.com/talonclaw/talon/internal/protocol"
)

// closeProtocolError is the close code for a protocol version mismatch.
const closeProtocolError = websocket.StatusProtocolError

// handshake validates the first frame and, on success, answers hello-ok.
// Every refusal answers the request with an error and closes the connection.
func (c *conn) handshake(data []byte) bool {
	req, id, perr := protocol.DecodeRequest(data)
	if perr != nil {
		c.fail(id, perr, websocket.StatusPolicyViolation)
		return false
	}
	if req.Method != "connect" {
		c.fail(req.ID, protocol.Errorf(protocol.CodeInvalidRequest, "first request must be connect, got %q", req.Method), websocket.StatusPolicyViolation)
		return false
	}
	var p protocol.ConnectParams
	if e := protocol.DecodeParams(req.Params, &p); e != nil {
		c.fail(req.ID, e, websocket.StatusPolicyViolation)
		return false
	}
	if p.MinProtocol > protocol.Version || p.MaxProtocol < protocol.Version {
		c.fail(req.ID, protocol.Errorf(protocol.CodeProtocolMismatch, "gateway speaks protocol %d; client offers %d..%d", protocol.Version, p.MinProtocol, p.MaxProtocol).
			WithDetails(map[string]any{"code": protocol.CodeProtocolMismatch, "expectedProtocol": protocol.Version}), closeProtocolError)
		return false
	}
	role := p.Role
	if role == "" {
		role = protocol.RoleOperator
	}
	if role != protocol.RoleOperator {
		c.fail(req.ID, protocol.Errorf(protocol.CodeInvalidRequest, "role %q is not supported by this gateway (only %q)", role, protocol.RoleOperator), websocket.StatusPolicyViolation)
		return false
	}
	lc := c.g.config()
	ga := lc.cfg.Gateway.Auth
	rl := ga.RateLimit
	policy := limitPolicy{maxAttempts: rl.MaxAttempts, window: time.Duration(rl.WindowSec) * time.Second, lockout: time.Duration(rl.LockoutSec) * time.Second}

	// Loopback is exempt from the limiter only for non-browser clients: a web
	// page in the owner's browser is loopback too.
	var keys []string
	if !c.peer.local || c.peer.browser() {
		keys = append(keys, addrKey(c.peer.addr))
		if c.peer.browser() {
			keys = append(keys, "origin:"+strings.ToLower(c.peer.origin))
		}
	}
	if len(keys) > 0 {
		if left := c.g.limiter.lockedFor(keys...); left > 0 {
			c.log.Warn("connect refused: locked out", "for", left.Round(time.Second))
			c.fail(req.ID, protocol.Errorf(protocol.CodeAuthRateLimited, "too many failed authentication attempts; try again in %s", left.Round(time.Second)).
				WithDetails(map[string]any{"code": protocol.CodeAuthRateLimited}).WithRetry(left.Milliseconds()), websocket.StatusPolicyViolation)
			return false
		}
	}

	var auth protocol.ConnectAuth
	if p.Auth != nil {
		auth = *p.Auth
	}
	var ok bool
	var why, detail string
	switch ga.Mode {
	case "none":
		ok = c.peer.local
		why, detail = "auth mode none accepts local clients only", protocol.DetailAuthNotLocal
	case "password":
		ok = secretEqual(ga.Password.Reveal(), auth.Password)
		why, detail = "gateway password wrong", protocol.DetailAuthPasswordMismatch
		if auth.Password == "" {
			why, detail = "gateway password missing", protocol.DetailAuthPasswordMissing
		}
	default:
		ok = secretEqual(ga.Token.Reveal(), auth.Token)
		why, detail = "gateway token wrong", protocol.DetailAuthTokenMismatch
		if auth.Token == "" {
			why, detail = "gateway token missing", protocol.DetailAuthTokenMissing
		}
	}
	// A browser enrolled in the Control UI signs in with its device key
	// alone, and a browser with a one-time invitation (bootstrapToken)
	// enrols its key (console_devices.go); the signature is checked below
	// either way, and a failure counts like a wrong token.
	var enrolled *ConsoleDevice
	invited := false
	if !ok && ga.Mode != "none" && p.Device != nil && auth.Token == "" && auth.Password == "" && auth.DeviceToken == "" {
		if auth.BootstrapToken != "" {
			why, detail = "invitation unknown, used or expired", DetailDeviceNotEnrolled
			ok, invited = c.g.hasInvite(auth.BootstrapToken), true
		} else {
			why, detail = "browser credential unknown or revoked", DetailDeviceNotEnrolled
			if d, found := c.g.consoleDevice(p.Device.ID); found && d.PublicKey == p.Device.PublicKey {
				ok, enrolled = true, &d
			}
		}
	}
	if !ok {
		locked := false
		if len(keys) > 0 {
			locked = c.g.limiter.fail(policy, keys...)
		}
		c.log.Warn("connect refused: authentication failed", "client", p.Client.ID, "mode", ga.Mode, "origin", c.peer.origin, "lockedOut", locked)
		c.g.audit(core.KindAuthFail, c.peer.addr.String(), p.Client.ID, map[string]any{"mode": ga.Mode, "origin": c.peer.origin, "reason": detail, "lockedOut": locked})
		e := protocol.Errorf(protocol.CodeUnauthorized, "unauthorized: %s (hint: pass the token from gateway.auth.token, e.g. `talon config get gateway.auth.token --reveal`)", why).
			WithDetails(map[string]any{"code": detail})
		if locked {
			e = protocol.Errorf(protocol.CodeAuthRateLimited, "too many failed authentication attempts; locked out for %s", policy.lockout).
				WithDetails(map[string]any{"code": protocol.CodeAuthRateLimited}).WithRetry(policy.lockout.Milliseconds())
		}
		c.fail(req.ID, e, websocket.StatusPolicyViolation)
		return false
	}
	if p.Device != nil {
		if e := verifyDevice(p, c.nonce, c.g.opts.Now()); e != nil {
			if len(keys) > 0 {
				c.g.limiter.fail(policy, keys...)
			}
			c.log.Warn("connect refused: device signature", "err", e.Message)
			c.fail(req.ID, e, websocket.StatusPolicyViolation)
			return false
		}
	}
	if invited {
		d, err := c.g.redeemInvite(context.Background(), auth.BootstrapToken, p.Device, c.peer.origin)
		if err != nil {
			if len(keys) > 0 {
				c.g.limiter.fail(policy, keys...)
			}
			c.fail(req.ID, protocol.Errorf(protocol.CodeUnauthorized, "unauthorized: %v (hint: ask the owner for a new link)", err).
				WithDetails(map[string]any{"code": DetailDeviceNotEnrolled}), websocket.StatusPolicyViolation)
			return false
		}
		enrolled = &d
	}
	if len(keys) > 0 {
		c.g.limiter.succeed(keys...)
	}

	c.role = role
	c.client = p.Client
	c.scopes = grantScopes(p.Scopes)
	c.device = p.Device
	if enrolled != nil {
		c.viaDevice = true
		c.scopes = deviceScopes(c.scopes, *enrolled)
	}
	granted := make([]string, 0, len(c.scopes))
	for _, s := range protocol.OperatorScopes {
		if c.scopes[s] {
			granted = append(granted, s)
		}
	}
	c.log = c.log.With("client", p.Client.ID, "mode", p.Client.Mode)
	c.log.Info("client connected", "scopes", granted, "origin", c.peer.origin)
	c.g.audit(core.KindAuthOK, c.peer.addr.String(), p.Client.ID, map[string]any{"conn": c.id, "scopes": granted, "origin": c.peer.origin, "mode": p.Client.Mode})
	gc := lc.cfg.Gateway
	c.reply(protocol.OKResponse(req.ID, protocol.HelloOK{
		Type:     "hello-ok",
		Protocol: protocol.Version,
		Server:   protocol.ServerInfo{Version: c.g.opts.Version, ConnID: c.id},
		Features: protocol.Features{Methods: c.g.methodNames(), Events: []string{protocol.EventTick, protocol.EventShutdown, eventChat, eventAgent, approvals.EventRequested, approvals.EventResolved, EventPairingRequested, EventPairingResolved, "security.alert", "sessions.changed", "session.message"},
			Capabilities: []string{CapPublishedModelCatalog}},
		Snapshot: c.g.snapshot(),
		Auth:     protocol.HelloAuth{Role: role, Scopes: granted},
		Policy: protocol.HelloPolicy{
			MaxPayload:       int64(gc.MaxPayloadBytes),
			MaxBufferedBytes: int64(outQueueLen) * 64 << 10,
			TickIntervalMs:   int64(gc.TickIntervalMs),
		},
	}))
	return true
}

// secretEqual compares in time independent of the values, including their
// lengths (both sides are hashed first). An empty expected value matches
// nothing.
func secretEqual(expected, got string) bool {
	if expected == "" {
		return false
	}
	a := sha256.Sum256([]byte(expected))
	b := sha256.Sum256([]byte(got))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// grantScopes gives a shared-secret holder the known scopes it asked for.
// Unknown scopes are dropped, never granted. A client that names none gets
// read access.
func grantScopes(requested []string) map[string]bool {
	out := map[string]bool{}
	for _, s := range requested {
		if slices.Contains(protocol.OperatorScopes, s) {
			out[s] = true
		}
	}
	if len(requested) == 0 {
		out[protocol.ScopeRead] = true
	}
	return out
}

// deviceSkew is how far a device signature's timestamp may be from now.
const deviceSkew = 10 * time.Minute

// verifyDevice checks an Ed25519 device identity: the id is the SHA-256 of
// the raw public key, and the signature covers this connection's challenge
// nonce, so it cannot be replayed on another connection.
func verifyDevice(p protocol.ConnectParams, nonce string, now time.Time) *protocol.Error {
	d := p.Device
	bad := func(msg string) *protocol.Error {
		return protocol.Errorf(protocol.CodeDeviceAuthInvalid, "device identity rejected: %s", msg)
	}
	pub, err := decodeB64(d.PublicKey)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return bad("publicKey is not a base64 Ed25519 key")
	}
	sum := sha256.Sum256(pub)
	if !strings.EqualFold(d.ID, hex.EncodeToString(sum[:])) {
		return bad("id is not the SHA-256 of the public key")
	}
	sig, err := decodeB64(d.Signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return bad("signature is not a base64 Ed25519 signature")
	}
	if d.Nonce != "" && d.Nonce != nonce {
		return bad("nonce does not match this connection's challenge")
	}
	signedAt := time.UnixMilli(d.SignedAt)
	if d.SignedAt <= 0 || signedAt.Sub(now).Abs() > deviceSkew {
		return bad("signedAt is too far from the gateway's clock")
	}
	token := ""
	if p.Auth != nil {
		token = p.Auth.Token
		if token == "" {
			token = p.Auth.DeviceToken
		}
		if token == "" {
			token = p.Auth.BootstrapToken
		}
	}
	role := p.Role
	if role == "" {
		role = protocol.RoleOperator
	}
	// v3 binds the client's platform and device family too; v2, which
	// openclaw-node and older clients sign, binds the rest. Both bind the
	// key, client, role, scopes, time, token and this connection's nonce;
	// Talon decides nothing on platform or device family.
	common := []string{d.ID, p.Client.ID, p.Client.Mode, role, strings.Join(p.Scopes, ","), strconv.FormatInt(d.SignedAt, 10), token, nonce}
	v3 := strings.Join(append(append([]string{"v3"}, common...), asciiLower(p.Client.Platform), asciiLower(p.Client.DeviceFamily)), "|")
	v2 := strings.Join(append([]string{"v2"}, common...), "|")
	if !ed25519.Verify(pub, []byte(v3), sig) && !ed25519.Verify(pub, []byte(v2), sig) {
		return bad("signature does not verify")
	}
	return nil
}

// asciiLower trims and lowercases ASCII letters only, as OpenClaw clients do
// to platform and deviceFamily before signing (strings.ToLower would also
// fold non-ASCII letters and break signatures that contain them).
func asciiLower(s string) string {
	b := []byte(strings.TrimSpace(s))
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func decodeB64(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if b, err := base64.RawURLEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawStdEncoding.DecodeString(s)
}
