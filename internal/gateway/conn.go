package gateway

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/talonclaw/talon/internal/protocol"
)

// conn is one WebSocket connection. Reads happen on the serve goroutine;
// writes go through a bounded queue drained by one writer goroutine, so a slow
// client is disconnected instead of blocking the gateway.
type conn struct {
	g      *Gateway
	ws     *websocket.Conn
	id     string
	peer   peer
	slot   *slotConn // its unauthenticated-connection slot; nil outside Run
	nonce  string
	log    *slog.Logger
	ready  atomic.Bool // handshake done
	seq    atomic.Int64
	out    chan outFrame
	ctx    context.Context
	cancel context.CancelFunc

	// Set once at connect, read-only afterwards.
	role   string
	scopes map[string]bool
	client protocol.ClientInfo
	// device is the verified device identity, if the client sent one;
	// viaDevice: it authenticated with an enrolled browser key instead of
	// the shared secret (console_devices.go).
	device    *protocol.Device
	viaDevice bool

	closeOnce sync.Once
	inflight  chan struct{}
}

type outFrame struct {
	data      []byte
	closeCode websocket.StatusCode // non-zero: close after writing data (if any)
	reason    string
}

func newConn(g *Gateway, ws *websocket.Conn, p peer, slot *slotConn) *conn {
	id := newID()
	return &conn{
		g:        g,
		ws:       ws,
		id:       id,
		peer:     p,
		slot:     slot,
		nonce:    newID(),
		log:      g.log.With("conn", id, "remote", p.addr.String()),
		out:      make(chan outFrame, outQueueLen),
		inflight: make(chan struct{}, maxInFlight),
	}
}

func (c *conn) serve(parent context.Context) {
	c.ctx, c.cancel = context.WithCancel(context.WithoutCancel(parent))
	defer c.cancel()
	writerDone := make(chan struct{})
	go func() { defer close(writerDone); c.writeLoop() }()
	defer func() {
		c.closeWith(websocket.StatusNormalClosure, "")
		select {
		case <-writerDone:
		case <-time.After(shutdownGrace):
			c.ws.CloseNow()
			<-writerDone
		}
	}()

	c.ws.SetReadLimit(preConnectMaxBytes)
	c.send(protocol.Event{Type: protocol.TypeEvent, Event: protocol.EventConnectChallenge,
		Payload: protocol.Challenge{Nonce: c.nonce, TS: c.g.opts.Now().UnixMilli()}})

	// The deadline closes politely (1008) instead of cancelling the read,
	// which would drop the TCP connection without a close frame.
	timer := time.AfterFunc(c.g.handshakeTimeout(), func() {
		c.log.Debug("no connect frame in time")
		c.closeWith(websocket.StatusPolicyViolation, "connect timeout")
	})
	_, data, err := c.ws.Read(c.ctx)
	if !timer.Stop() || err != nil {
		if err != nil {
			c.log.Debug("no connect frame", "err", err)
		}
		return
	}
	if !c.handshake(data) {
		return
	}
	// Authenticated: the connection no longer counts against the
	// unauthenticated caps. If it was evicted meanwhile its socket is gone.
	if c.slot != nil && !c.g.slots.authenticated(c.slot) {
		return
	}
	c.ws.SetReadLimit(int64(c.g.config().cfg.Gateway.MaxPayloadBytes))
	c.ready.Store(true)
	for {
		_, data, err := c.ws.Read(c.ctx)
		if err != nil {
			return
		}
		req, id, perr := protocol.DecodeRequest(data)
		if perr != nil {
			c.fail(id, perr, websocket.StatusPolicyViolation)
			return
		}
		if req.Method == "connect" {
			c.fail(req.ID, protocol.Errorf(protocol.CodeInvalidRequest, "already connected"), websocket.StatusPolicyViolation)
			return
		}
		select {
		case c.inflight <- struct{}{}:
		default:
			c.reply(protocol.ErrorResponse(req.ID, protocol.Errorf(protocol.CodeUnavailable, "too many requests in flight").WithRetry(100)))
			continue
		}
		go func() {
			defer func() { <-c.inflight }()
			c.reply(c.g.dispatch(c.ctx, c, req))
		}()
	}
}

// writeLoop is the only writer of the socket.
func (c *conn) writeLoop() {
	for {
		select {
		case f := <-c.out:
			if f.data != nil {
				wctx, cancel := context.WithTimeout(c.ctx, writeTimeout)
				err := c.ws.Write(wctx, websocket.MessageText, f.data)
				cancel()
				if err != nil {
					c.ws.CloseNow()
					return
				}
			}
			if f.closeCode != 0 {
				_ = c.ws.Close(f.closeCode, f.reason)
				c.cancel()
				return
			}
		case <-c.ctx.Done():
			c.ws.CloseNow()
			return
		}
	}
}

func (c *conn) enqueue(f outFrame) {
	select {
	case c.out <- f:
	default:
		// The client does not read fast enough; drop it rather than buffer
		// without bound.
		c.log.Warn("closing slow consumer")
		c.ws.CloseNow()
		c.cancel()
	}
}

func (c *conn) send(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		c.log.Error("marshal frame", "err", err)
		return
	}
	c.enqueue(outFrame{data: b})
}

func (c *conn) reply(r protocol.Response) { c.send(r) }

func (c *conn) sendEvent(event string, payload any) {
	seq := c.seq.Add(1)
	c.send(protocol.Event{Type: protocol.TypeEvent, Event: event, Payload: payload, Seq: &seq})
}

// fail answers a request with an error and closes the connection.
func (c *conn) fail(id string, e *protocol.Error, code websocket.StatusCode) {
	b, _ := json.Marshal(protocol.ErrorResponse(id, e))
	c.closeOnce.Do(func() {
		select {
		case c.out <- outFrame{data: b, closeCode: code, reason: closeReason(e.Message)}:
		default:
			c.ws.CloseNow()
			c.cancel()
		}
	})
}

// closeWith closes the connection after everything queued so far is written.
func (c *conn) closeWith(code websocket.StatusCode, reason string) {
	c.closeOnce.Do(func() {
		select {
		case c.out <- outFrame{closeCode: code, reason: closeReason(reason)}:
		default:
			c.ws.CloseNow()
			if c.cancel != nil {
				c.cancel()
			}
		}
	})
}

// closeReason fits a close reason into the 123 bytes a control frame allows.
func closeReason(s string) string {
	if len(s) > 120 {
		s = s[:120]
	}
	return s
}

func (c *conn) hasScope(scope string) bool {
	if scope == "" {
		return true
	}
	if c.scopes[protocol.ScopeAdmin] || c.scopes[scope] {
		return true
	}
	return scope == protocol.ScopeRead && c.scopes[protocol.ScopeWrite]
}
