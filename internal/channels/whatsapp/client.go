//go:build whatsapp

package whatsapp

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"
	waLog "go.mau.fi/whatsmeow/util/log"

	"github.com/talonclaw/talon/internal/netguard"
)

// waClient is the part of *whatsmeow.Client the adapter uses. Tests put a
// fake behind it: WhatsApp has no public test server, so the adapter is
// tested behind this interface and whatsmeow itself is trusted for the wire
// protocol.
type waClient interface {
	ConnectContext(ctx context.Context) error
	Disconnect()
	IsLoggedIn() bool
	AddEventHandler(h whatsmeow.EventHandler) uint32
	RemoveEventHandler(id uint32) bool
	GenerateMessageID() types.MessageID
	SendMessage(ctx context.Context, to types.JID, msg *waE2E.Message, extra ...whatsmeow.SendRequestExtra) (whatsmeow.SendResponse, error)
	SendChatPresence(ctx context.Context, jid types.JID, state types.ChatPresence, media types.ChatPresenceMedia) error
	Logout(ctx context.Context) error
	// ownIDs is who the linked account is: its phone-number JID and its
	// LID, each without device part (empty when not known yet).
	ownIDs() (jid, lid types.JID)
	pushName() string
	// pnForLID is the phone-number JID whatsmeow has learned for a LID,
	// or the empty JID.
	pnForLID(ctx context.Context, lid types.JID) types.JID
}

// realClient is the waClient of a running adapter.
type realClient struct{ *whatsmeow.Client }

func (c realClient) ownIDs() (types.JID, types.JID) {
	var jid, lid types.JID
	if id := c.Store.ID; id != nil {
		jid = id.ToNonAD()
	}
	if !c.Store.LID.IsEmpty() {
		lid = c.Store.LID.ToNonAD()
	}
	return jid, lid
}

func (c realClient) pushName() string { return c.Store.PushName }

func (c realClient) pnForLID(ctx context.Context, lid types.JID) types.JID {
	if c.Store.LIDs == nil {
		return types.EmptyJID
	}
	pn, err := c.Store.LIDs.GetPNForLID(ctx, lid)
	if err != nil {
		return types.EmptyJID
	}
	return pn
}

// wsDialTimeout bounds the websocket handshake (whatsmeow's socket uses
// the client's Timeout as the dial timeout, not as a stream limit).
const wsDialTimeout = 30 * time.Second

// policy is where whatsmeow may connect: WhatsApp's public servers
// (web.whatsapp.com for the websocket, mmg.whatsapp.net and friends for
// media), all HTTPS on port 443. No private address is ever allowed.
func policy(hooks *netguard.Hooks) netguard.Policy {
	return netguard.Policy{Ports: []int{443}, Timeout: wsDialTimeout, MaxBodyBytes: 100 << 20, Hooks: hooks}
}

// httpClient is the client for every connection whatsmeow makes:
// netguard's own (URL check on every request and redirect, checked
// dialer). hooks, for tests, put a pretend network under it; the checks
// stay.
func httpClient(hooks *netguard.Hooks) *http.Client {
	return policy(hooks).Client()
}

// newWhatsmeow makes a whatsmeow client for dev whose every connection goes
// through httpClient(hooks): the websocket before login (pairing), after
// login, and media. whatsmeow's default client would use net/http's default
// transport and honour HTTPS_PROXY; these setters replace it entirely.
func newWhatsmeow(dev *store.Device, log waLog.Logger, hooks *netguard.Hooks) *whatsmeow.Client {
	cli := whatsmeow.NewClient(dev, log)
	hc := httpClient(hooks)
	cli.SetPreLoginHTTPClient(hc)
	cli.SetWebsocketHTTPClient(hc)
	cli.SetMediaHTTPClient(hc)
	cli.EnableAutoReconnect = true
	// A network failure of the first connect is retried in the background
	// by whatsmeow, like later ones, instead of failing Start.
	cli.InitialAutoReconnect = true
	return cli
}

// slogger adapts slog to whatsmeow's logger. Debug output of the frame
// loggers (Recv, Send: whole XML stanzas) and of the QR channel (the QR
// code carries the pairing secret) is dropped; so is any debug line that
// mentions a QR code or dumps a frame.
type slogger struct {
	l      *slog.Logger
	module string
}

func newLogger(l *slog.Logger) waLog.Logger { return slogger{l: l, module: "whatsmeow"} }

func (s slogger) Sub(module string) waLog.Logger {
	return slogger{l: s.l, module: s.module + "/" + module}
}

func (s slogger) log(level slog.Level, msg string, args []any) {
	if !s.l.Enabled(context.Background(), level) {
		return
	}
	s.l.Log(context.Background(), level, fmt.Sprintf(msg, args...), "module", s.module)
}

func (s slogger) Errorf(msg string, args ...any) { s.log(slog.LevelError, msg, args) }
func (s slogger) Warnf(msg string, args ...any)  { s.log(slog.LevelWarn, msg, args) }
func (s slogger) Infof(msg string, args ...any)  { s.log(slog.LevelInfo, msg, args) }
func (s slogger) Debugf(msg string, args ...any) {
	if quietDebug(s.module, msg) {
		return
	}
	s.log(slog.LevelDebug, msg, args)
}

// quietDebug reports whether a whatsmeow debug line must not be logged.
func quietDebug(module, format string) bool {
	for _, m := range []string{"/Recv", "/Send", "/QRChannel"} {
		if strings.HasSuffix(module, m) || strings.Contains(module, m+"/") {
			return true
		}
	}
	f := strings.ToLower(format)
	return strings.Contains(f, "qr code") || strings.Contains(f, "frame hex")
}
