package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/coder/websocket"
	"github.com/talonclaw/talon/internal/netguard"
	"github.com/talonclaw/talon/internal/protocol"
)

// httpOrigin is the http(s) origin of a ws(s) or http(s) URL, as the
// upgrade request is sent ("" if it does not parse; netguard then refuses).
func httpOrigin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	switch u.Scheme {
	case "ws":
		u.Scheme = "http"
	case "wss":
		u.Scheme = "https"
	}
	return u.Scheme + "://" + u.Host
}

// Client is a protocol client: the CLI's way into a running gateway, and the
// tests' and benchmarks' too, so they exercise the real wire format.
type Client struct {
	ws     *websocket.Conn
	Hello  protocol.HelloOK
	nextID atomic.Int64

	mu      sync.Mutex
	pending map[string]chan protocol.Response
	events  chan protocol.Event
	done    chan struct{}
	err     error
}

// DialOptions configure Dial.
type DialOptions struct {
	Token    string
	Password string
	Scopes   []string
	ClientID string // default "talon-cli"
	Mode     string // default "cli"
	Version  string
	// Origin, when set, is sent as the Origin header (tests of browser rules).
	Origin string
	Header http.Header
	// Connect, when set, replaces the connect params entirely (tests).
	Connect *protocol.ConnectParams
	// HTTPClient for the upgrade request; nil means a netguard client
	// allowed to reach exactly the gateway's origin (invariant 7: no
	// request bypasses netguard, not even the CLI's own).
	HTTPClient *http.Client
}

// ErrClosed is returned by Call after the connection ended.
var ErrClosed = errors.New("gateway: connection closed")

// Dial connects, waits for the challenge, sends connect and returns once
// hello-ok arrived. A refused connect returns the server's *protocol.Error.
func Dial(ctx context.Context, url string, o DialOptions) (*Client, error) {
	h := http.Header{}
	for k, v := range o.Header {
		h[k] = v
	}
	if o.Origin != "" {
		h.Set("Origin", o.Origin)
	}
	hc := o.HTTPClient
	if hc == nil {
		hc = netguard.Policy{AllowedOrigins: []string{httpOrigin(url)}, MaxRedirects: -1}.Client()
	}
	ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: h, HTTPClient: hc})
	if err != nil {
		return nil, fmt.Errorf("gateway.Dial: %w", err)
	}
	ws.SetReadLimit(64 << 20)
	c := &Client{ws: ws, pending: map[string]chan protocol.Response{}, events: make(chan protocol.Event, 64), done: make(chan struct{})}

	var ch protocol.Event
	if err := readJSON(ctx, ws, &ch); err != nil {
		ws.CloseNow()
		return nil, fmt.Errorf("gateway.Dial: reading challenge: %w", err)
	}
	if ch.Event != protocol.EventConnectChallenge {
		ws.CloseNow()
		return nil, fmt.Errorf("gateway.Dial: expected %s, got %q", protocol.EventConnectChallenge, ch.Event)
	}
	params := o.Connect
	if params == nil {
		params = &protocol.ConnectParams{
			MinProtocol: protocol.Version, MaxProtocol: protocol.Version,
			Client: protocol.ClientInfo{ID: or(o.ClientID, "talon-cli"), Version: or(o.Version, "dev"), Platform: "linux", Mode: or(o.Mode, "cli")},
			Role:   protocol.RoleOperator,
			Scopes: o.Scopes,
			Auth:   &protocol.ConnectAuth{Token: o.Token, Password: o.Password},
		}
	}
	req := map[string]any{"type": "req", "id": "connect", "method": "connect", "params": params}
	b, _ := json.Marshal(req)
	if err := ws.Write(ctx, websocket.MessageText, b); err != nil {
		ws.CloseNow()
		return nil, fmt.Errorf("gateway.Dial: sending connect: %w", err)
	}
	var res struct {
		protocol.Response
		Payload json.RawMessage `json:"payload"`
	}
	if err := readJSON(ctx, ws, &res); err != nil {
		ws.CloseNow()
		return nil, fmt.Errorf("gateway.Dial: reading hello: %w", err)
	}
	if !res.OK {
		ws.CloseNow()
		if res.Error != nil {
			return nil, res.Error
		}
		return nil, errors.New("gateway.Dial: connect refused")
	}
	if err := json.Unmarshal(res.Payload, &c.Hello); err != nil {
		ws.CloseNow()
		return nil, fmt.Errorf("gateway.Dial: bad hello-ok: %w", err)
	}
	go c.readLoop()
	return c, nil
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func readJSON(ctx context.Context, ws *websocket.Conn, v any) error {
	_, data, err := ws.Read(ctx)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}

func (c *Client) readLoop() {
	defer close(c.done)
	defer close(c.events)
	for {
		_, data, err := c.ws.Read(context.Background())
		if err != nil {
			c.mu.Lock()
			c.err = err
			for id, ch := range c.pending {
				close(ch)
				delete(c.pending, id)
			}
			c.mu.Unlock()
			return
		}
		var head struct {
			Type string `json:"type"`
		}
		if json.Unmarshal(data, &head) != nil {
			continue
		}
		switch head.Type {
		case protocol.TypeResponse:
			var r protocol.Response
			var raw struct {
				Payload json.RawMessage `json:"payload"`
			}
			if json.Unmarshal(data, &r) != nil {
				continue
			}
			_ = json.Unmarshal(data, &raw)
			r.Payload = raw.Payload
			c.mu.Lock()
			ch := c.pending[r.ID]
			delete(c.pending, r.ID)
			c.mu.Unlock()
			if ch != nil {
				ch <- r
			}
		case protocol.TypeEvent:
			var e protocol.Event
			if json.Unmarshal(data, &e) == nil {
				select {
				case c.events <- e:
				default: // nobody is reading events; drop
				}
			}
		}
	}
}

// Events delivers server events; it is closed when the connection ends.
func (c *Client) Events() <-chan protocol.Event { return c.events }

// Call sends a request and decodes the payload into out (which may be nil).
func (c *Client) Call(ctx context.Context, method string, params any, out any) error {
	id := strconv.FormatInt(c.nextID.Add(1), 10)
	ch := make(chan protocol.Response, 1)
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return ErrClosed
	}
	c.pending[id] = ch
	c.mu.Unlock()
	if params == nil {
		params = map[string]any{}
	}
	b, err := json.Marshal(map[string]any{"type": "req", "id": id, "method": method, "params": params})
	if err != nil {
		return err
	}
	if err := c.ws.Write(ctx, websocket.MessageText, b); err != nil {
		return fmt.Errorf("gateway: send %s: %w", method, err)
	}
	select {
	case r, ok := <-ch:
		if !ok {
			return ErrClosed
		}
		if !r.OK {
			if r.Error != nil {
				return r.Error
			}
			return fmt.Errorf("gateway: %s failed", method)
		}
		if out != nil {
			raw, _ := r.Payload.(json.RawMessage)
			return json.Unmarshal(raw, out)
		}
		return nil
	case <-ctx.Done():
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
		return ctx.Err()
	}
}

// Close ends the connection.
func (c *Client) Close() error {
	err := c.ws.Close(websocket.StatusNormalClosure, "")
	<-c.done
	return err
}

// CloseStatus reports the close code the server sent, if the connection ended.
func (c *Client) CloseStatus() websocket.StatusCode {
	c.mu.Lock()
	defer c.mu.Unlock()
	return websocket.CloseStatus(c.err)
}
