// Package fakeslack is a Slack stand-in on loopback for tests: the Web API
// methods an adapter uses (auth.test, apps.connections.open,
// chat.postMessage, chat.update), a Socket Mode WebSocket server, and a
// client that signs Events API requests the way Slack does. It speaks the real wire
// format: form or JSON bodies with the token as "Authorization: Bearer"
// (or a token field), {"ok": false, "error": "invalid_auth"} answers with
// HTTP 200, HTTP 429 with Retry-After, Socket Mode hello / events_api /
// disconnect messages and {"envelope_id": …} acks.
//
// Interactivity: chat.postMessage takes Block Kit blocks (section text and
// buttons, checked as Slack checks them; Post.Section, Post.Buttons), and
// Press sends the interactive envelope (a block_actions payload) Slack
// sends over Socket Mode when a button is pressed, and Slash a
// slash_commands envelope; ActionsBody and SlashBody are the same as
// http-mode request bodies.
//
// Guarantees: it listens on 127.0.0.1 only and is closed, with every
// WebSocket, when the test ends.
package fakeslack

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// Identity of the fake workspace and app.
const (
	TeamID    = "T0FAKE001"
	AppID     = "A0FAKE001"
	BotUserID = "U0FAKEBOT"
	BotID     = "B0FAKEBOT"
	BotName   = "talon"
)

// Failure is an injected answer to one Web API call.
type Failure struct {
	// Status, when set, is the HTTP status (429 for a rate limit, 500…);
	// the body is then Slack's {"ok": false, "error": Error}, or empty for
	// a 5xx without Error.
	Status int
	// RetryAfter is sent as the Retry-After header (seconds) when set.
	RetryAfter string
	// Error is the "error" of an {"ok": false} answer (with HTTP 200 when
	// Status is 0), e.g. "channel_not_found", "ratelimited".
	Error string
}

// Post is one chat.postMessage the fake received.
type Post struct {
	Channel       string
	Text          string
	ThreadTS      string
	Mrkdwn        *bool
	UnfurlLinks   *bool
	TS            string // the ts the fake answered with
	Authorization string
	At            time.Time
	// Section is the text of the message's section blocks; Buttons the
	// buttons of its actions blocks.
	Section string
	Buttons []Button
}

// Button is a Block Kit button element as the app posted it.
type Button struct {
	ActionID string
	Value    string
	Text     string
	Style    string
}

// Call is one Web API request, whatever its answer.
type Call struct {
	Method string
	At     time.Time
	Token  string // the token the request carried
}

// Server is the fake. Its exported fields are read-only.
type Server struct {
	// URL is the Web API base URL (ending in "/api/") to configure as
	// apiBaseUrl.
	URL string
	// BotToken and AppToken are the tokens it accepts.
	BotToken, AppToken string

	t   testing.TB
	srv *httptest.Server
	ctx context.Context // ends when the test does

	mu       sync.Mutex
	fail     map[string][]Failure
	calls    []Call
	posts    []Post
	updates  int
	tickets  map[string]bool
	conns    map[*conn]bool
	acks     []string
	seq      int
	opened   int // WebSocket connections accepted so far
	changed  chan struct{}
	noHello  bool
	rejectWS bool
	outbox   []*held          // events sent with Deliver, in order
	byEnv    map[string]*held // every envelope id an outbox event was sent under
	resent   int              // redeliveries so far
}

type conn struct {
	c     *websocket.Conn
	out   chan []byte
	done  chan struct{}
	ready bool // hello sent (or skipped): Deliver may send on it
}

// held is an event sent with Deliver: it is sent again, under a new
// envelope id, on the next connection until it is acknowledged.
type held struct {
	env   Envelope
	on    *conn // the connection it was last sent on; nil while waiting for one
	acked bool
}

// New starts a fake; it is closed when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		t:        t,
		ctx:      ctx,
		BotToken: "xoxb-fake-0000000000-bottoken",
		AppToken: "xapp-1-fake-apptoken",
		fail:     map[string][]Failure{},
		tickets:  map[string]bool{},
		conns:    map[*conn]bool{},
		byEnv:    map[string]*held{},
		changed:  make(chan struct{}),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/{method}", s.api)
	mux.HandleFunc("GET /link/", s.socket)
	s.srv = httptest.NewServer(mux)
	s.URL = s.srv.URL + "/api/"
	t.Cleanup(func() {
		cancel()
		s.DropConnections()
		s.srv.Close()
	})
	return s
}

// notify wakes the waiters; call with s.mu held.
func (s *Server) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// wait blocks until cond (checked with s.mu held) is true or 10 s pass.
func (s *Server) wait(what string, cond func() bool) {
	s.t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		ok, ch := cond(), s.changed
		s.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			s.t.Fatalf("fakeslack: timed out waiting for %s", what)
			return
		}
	}
}

// Fail queues failures for the next calls of a Web API method (e.g.
// "chat.postMessage"), one per call.
func (s *Server) Fail(method string, f ...Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail[method] = append(s.fail[method], f...)
}

// Calls returns the Web API requests so far.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// CallsOf returns the requests of one method.
func (s *Server) CallsOf(method string) []Call {
	var out []Call
	for _, c := range s.Calls() {
		if c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

// Posts returns the messages posted so far.
func (s *Server) Posts() []Post {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Post(nil), s.posts...)
}

// WaitPosts waits until at least n messages were posted and returns them.
func (s *Server) WaitPosts(n int) []Post {
	s.t.Helper()
	s.wait(fmt.Sprintf("%d posts", n), func() bool { return len(s.posts) >= n })
	return s.Posts()
}

func (s *Server) api(w http.ResponseWriter, r *http.Request) {
	method := r.PathValue("method")
	body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err != nil {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	args, err := parseArgs(r, body)
	if err != nil {
		writeJSON(w, http.StatusOK, map[string]any{"ok": false, "error": "invalid_json"})
		return
	}
	token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	if token == "" {
		token, _ = args["token"].(string)
	}

	s.mu.Lock()
	s.calls = append(s.calls, Call{Method: method, At: time.Now(), Token: token})
	var f *Failure
	if q := s.fail[method]; len(q) > 0 {
		f, s.fail[method] = &q[0], q[1:]
	}
	s.notify()
	s.mu.Unlock()

	if f != nil {
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		status := f.Status
		if status == 0 {
			status = http.StatusOK
		}
		switch {
		case f.Error != "":
			writeJSON(w, status, map[string]any{"ok": false, "error": f.Error})
		case status == http.StatusTooManyRequests:
			writeJSON(w, status, map[string]any{"ok": false, "error": "ratelimited"})
		default:
			w.WriteHeader(status)
		}
		return
	}

	want := s.BotToken
	if method == "apps.connections.open" {
		want = s.AppToken
	}
	switch {
	case token == "":
		writeJSON(w, http.StatusOK, map[string]any{"ok": false, "error": "not_authed"})
		return
	case method == "apps.connections.open" && token == s.BotToken,
		method != "apps.connections.open" && token == s.AppToken:
		writeJSON(w, http.StatusOK, map[string]any{"ok": false, "error": "not_allowed_token_type"})
		return
	case token != want:
		writeJSON(w, http.StatusOK, map[string]any{"ok": false, "error": "invalid_auth"})
		return
	}

	switch method {
	case "auth.test":
		writeJSON(w, http.StatusOK, map[string]any{
			"ok": true, "url": "https://fake-workspace.slack.com/", "team": "Fake Workspace",
			"user": BotName, "team_id": TeamID, "user_id": BotUserID, "bot_id": BotID,
			"is_enterprise_install": false,
		})
	case "apps.connections.open":
		ticket := s.newID("ticket")
		s.mu.Lock()
		s.tickets[ticket] = true
		s.mu.Unlock()
		u := strings.Replace(s.srv.URL, "http://", "ws://", 1) + "/link/?ticket=" + ticket + "&app_id=" + AppID
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "url": u})
	case "chat.postMessage":
		s.postMessage(w, r, args)
	case "chat.update":
		s.update(w, args)
	default:
		writeJSON(w, http.StatusOK, map[string]any{"ok": false, "error": "unknown_method"})
	}
}

func (s *Server) postMessage(w http.ResponseWriter, r *http.Request, args map[string]any) {
	str := func(k string) string { v, _ := args[k].(string); return v }
	boolp := func(k string) *bool {
		switch v := args[k].(type) {
		case bool:
			return &v
		case string:
			b := v == "true" || v == "1"
			return &b
		}
		return nil
	}
	ch, text := str("channel"), str("text")
	switch {
	case ch == "":
		writeJSON(w, http.StatusOK, map[string]any{"ok": false, "error": "channel_not_found"})
		return
	case text == "" && args["blocks"] == nil && args["attachments"] == nil:
		writeJSON(w, http.StatusOK, map[string]any{"ok": false, "error": "no_text"})
		return
	case len([]rune(text)) > 40000:
		writeJSON(w, http.StatusOK, map[string]any{"ok": false, "error": "msg_too_long"})
		return
	}
	section, buttons, err := parseBlocks(args["blocks"])
	if err != nil {
		writeJSON(w, http.StatusOK, map[string]any{"ok": false, "error": "invalid_blocks", "errors": []string{err.Error()}})
		return
	}
	if strings.HasPrefix(ch, "U") { // a DM by user id goes to the DM channel
		ch = "D" + ch[1:]
	}
	s.mu.Lock()
	s.seq++
	ts := fmt.Sprintf("%d.%06d", time.Now().Unix(), s.seq)
	s.posts = append(s.posts, Post{
		Channel: ch, Text: text, ThreadTS: str("thread_ts"), Mrkdwn: boolp("mrkdwn"),
		UnfurlLinks: boolp("unfurl_links"), TS: ts, Authorization: r.Header.Get("Authorization"), At: time.Now(),
		Section: section, Buttons: buttons,
	})
	s.notify()
	s.mu.Unlock()
	msg := map[string]any{"type": "message", "text": text, "user": BotUserID, "bot_id": BotID, "ts": ts, "team": TeamID}
	if th := str("thread_ts"); th != "" {
		msg["thread_ts"] = th
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "channel": ch, "ts": ts, "message": msg})
}

// update answers chat.update for a message the app posted: text and
// blocks replace the message's (blocks left out are kept, as Slack does).
func (s *Server) update(w http.ResponseWriter, args map[string]any) {
	str := func(k string) string { v, _ := args[k].(string); return v }
	section, buttons, err := parseBlocks(args["blocks"])
	if err != nil {
		writeJSON(w, http.StatusOK, map[string]any{"ok": false, "error": "invalid_blocks"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.posts {
		p := &s.posts[i]
		if p.Channel != str("channel") || p.TS != str("ts") {
			continue
		}
		if t := str("text"); t != "" {
			p.Text = t
		}
		if args["blocks"] != nil {
			p.Section, p.Buttons = section, buttons
		}
		s.updates++
		s.notify()
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "channel": p.Channel, "ts": p.TS, "text": p.Text})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": false, "error": "message_not_found"})
}

// Updates is how many chat.update calls changed a message.
func (s *Server) Updates() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.updates
}

// parseBlocks checks the blocks of a message the way Slack does for the
// kinds the fake knows (section with a text object, actions with
// buttons) and returns the section text and the buttons.
func parseBlocks(v any) (section string, buttons []Button, err error) {
	if v == nil {
		return "", nil, nil
	}
	var raw []byte
	if str, ok := v.(string); ok { // form-encoded: JSON text
		raw = []byte(str)
	} else if raw, err = json.Marshal(v); err != nil {
		return "", nil, err
	}
	type text struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	var blocks []struct {
		Type     string `json:"type"`
		Text     *text  `json:"text"`
		Elements []struct {
			Type     string `json:"type"`
			ActionID string `json:"action_id"`
			Value    string `json:"value"`
			Style    string `json:"style"`
			Text     *text  `json:"text"`
		} `json:"elements"`
	}
	if err := json.Unmarshal(raw, &blocks); err != nil {
		return "", nil, fmt.Errorf("blocks are not a JSON array of blocks: %v", err)
	}
	for i, b := range blocks {
		switch b.Type {
		case "section":
			if b.Text == nil || (b.Text.Type != "plain_text" && b.Text.Type != "mrkdwn") || b.Text.Text == "" || len([]rune(b.Text.Text)) > 3000 {
				return "", nil, fmt.Errorf("[%d] section text must be a text object of 1 to 3000 characters", i)
			}
			section += b.Text.Text
		case "actions":
			if len(b.Elements) == 0 || len(b.Elements) > 25 {
				return "", nil, fmt.Errorf("[%d] actions must have 1 to 25 elements", i)
			}
			for _, e := range b.Elements {
				if e.Type != "button" || e.Text == nil || e.Text.Type != "plain_text" || e.Text.Text == "" || len(e.ActionID) > 255 || len(e.Value) > 2000 ||
					(e.Style != "" && e.Style != "primary" && e.Style != "danger") {
					return "", nil, fmt.Errorf("[%d] invalid button", i)
				}
				buttons = append(buttons, Button{ActionID: e.ActionID, Value: e.Value, Text: e.Text.Text, Style: e.Style})
			}
		default:
			return "", nil, fmt.Errorf("[%d] unsupported block type %q", i, b.Type)
		}
	}
	return section, buttons, nil
}

// Press sends an interactive envelope (a block_actions payload) for a press
// of the button with value under the app's message post, by user, and
// returns its envelope id.
func (s *Server) Press(post Post, user, value string) string {
	s.t.Helper()
	id := s.newID("env")
	env := map[string]any{"envelope_id": id, "type": "interactive", "accepts_response_payload": false, "payload": s.blockActions(post, user, value)}
	raw, err := json.Marshal(env)
	if err != nil {
		s.t.Fatalf("fakeslack: marshal envelope: %v", err)
	}
	s.send(raw)
	return id
}

// ActionsBody is the body Slack POSTs to an app's Interactivity Request
// URL (http mode) for the same press: form-encoded, payload=<JSON>. Send
// it as an EventRequest with ContentType "application/x-www-form-urlencoded".
func (s *Server) ActionsBody(post Post, user, value string) []byte {
	raw, err := json.Marshal(s.blockActions(post, user, value))
	if err != nil {
		s.t.Fatalf("fakeslack: marshal payload: %v", err)
	}
	return []byte(url.Values{"payload": {string(raw)}}.Encode())
}

// Slash sends a slash_commands envelope, as Slack does over Socket Mode
// when user runs command (e.g. "/approve") with text in channel, and
// returns its envelope id.
func (s *Server) Slash(user, channel, command, text string) string {
	s.t.Helper()
	id := s.newID("env")
	env := map[string]any{"envelope_id": id, "type": "slash_commands", "accepts_response_payload": true, "payload": s.slash(user, channel, command, text)}
	raw, err := json.Marshal(env)
	if err != nil {
		s.t.Fatalf("fakeslack: marshal envelope: %v", err)
	}
	s.send(raw)
	return id
}

// SlashBody is the form-encoded body Slack POSTs to a slash command's
// Request URL (http mode) for the same command.
func (s *Server) SlashBody(user, channel, command, text string) []byte {
	v := url.Values{}
	for k, val := range s.slash(user, channel, command, text) {
		v.Set(k, fmt.Sprint(val))
	}
	return []byte(v.Encode())
}

func (s *Server) slash(user, channel, command, text string) map[string]any {
	id := s.newID("tr")
	return map[string]any{
		"token": "verification-token-unused", "team_id": TeamID, "team_domain": "fake", "channel_id": channel, "channel_name": "directmessage",
		"user_id": user, "user_name": "user" + user, "command": command, "text": text, "api_app_id": AppID,
		"response_url": s.srv.URL + "/commands/" + id, "trigger_id": "tr" + id, "is_enterprise_install": "false",
	}
}

// blockActions is the block_actions payload of a press.
func (s *Server) blockActions(post Post, user, value string) map[string]any {
	var b *Button
	for i := range post.Buttons {
		if post.Buttons[i].Value == value {
			b = &post.Buttons[i]
		}
	}
	actionID, label := "forged", value
	if b != nil {
		actionID, label = b.ActionID, b.Text
	}
	id := s.newID("tr")
	return map[string]any{
		"type": "block_actions", "api_app_id": AppID, "token": "verification-token-unused",
		"user":         map[string]any{"id": user, "username": "user" + user, "name": "user" + user, "team_id": TeamID},
		"team":         map[string]any{"id": TeamID, "domain": "fake"},
		"container":    map[string]any{"type": "message", "message_ts": post.TS, "channel_id": post.Channel, "is_ephemeral": false},
		"channel":      map[string]any{"id": post.Channel, "name": "directmessage"},
		"message":      map[string]any{"type": "message", "ts": post.TS, "user": BotUserID, "bot_id": BotID, "text": post.Text},
		"trigger_id":   "tr" + id,
		"response_url": s.srv.URL + "/actions/" + id,
		"actions": []any{map[string]any{"type": "button", "action_id": actionID, "block_id": "talon", "value": value,
			"text": map[string]any{"type": "plain_text", "text": label}, "action_ts": fmt.Sprintf("%d.%06d", time.Now().Unix(), 1)}},
	}
}

// parseArgs reads a Web API request's arguments from a JSON or form body
// (and the query string).
func parseArgs(r *http.Request, body []byte) (map[string]any, error) {
	args := map[string]any{}
	for k, v := range r.URL.Query() {
		args[k] = v[0]
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case len(body) == 0:
	case ct == "application/json":
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			return nil, err
		}
		for k, v := range m {
			args[k] = v
		}
	default:
		vals, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, err
		}
		for k, v := range vals {
			args[k] = v[0]
		}
	}
	return args, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (s *Server) newID(prefix string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nextID(prefix)
}

// nextID is newID with s.mu held.
func (s *Server) nextID(prefix string) string {
	s.seq++
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano(), s.seq)
}

// --- Socket Mode ---

// SkipHello makes later connections not send the hello message.
func (s *Server) SkipHello(skip bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.noHello = skip
}

// RejectSockets makes later WebSocket upgrades fail with 503 (the
// connection cannot be made at all).
func (s *Server) RejectSockets(reject bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejectWS = reject
}

func (s *Server) socket(w http.ResponseWriter, r *http.Request) {
	ticket := r.URL.Query().Get("ticket")
	s.mu.Lock()
	ok, reject := s.tickets[ticket], s.rejectWS
	delete(s.tickets, ticket) // one use
	s.mu.Unlock()
	if !ok {
		http.Error(w, "invalid ticket", http.StatusUnauthorized)
		return
	}
	if reject {
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
		return
	}
	// Slack's endpoint takes any Origin (slack-go sends
	// https://api.slack.com); the ticket is what authenticates.
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return
	}
	c.SetReadLimit(1 << 20)
	cn := &conn{c: c, out: make(chan []byte, 1024), done: make(chan struct{})}
	s.mu.Lock()
	s.conns[cn] = true
	s.opened++
	hello := !s.noHello
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, cn)
		// What was sent on this connection and not acknowledged is sent
		// again on the next one, as Slack retries an unacknowledged
		// envelope: same payload, a new envelope id, the next
		// retry_attempt.
		for _, h := range s.outbox {
			if h.on == cn && !h.acked {
				h.on = nil
				h.env.EnvelopeID = s.nextID("env")
				h.env.RetryAttempt++
				h.env.RetryReason = "timeout"
				s.byEnv[h.env.EnvelopeID] = h
			}
		}
		s.notify()
		s.mu.Unlock()
		c.CloseNow()
	}()
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()

	// Reader: acks (and pongs, which coder/websocket answers while reading).
	go func() {
		defer cancel()
		for {
			_, data, err := c.Read(ctx)
			if err != nil {
				return
			}
			var ack struct {
				EnvelopeID string `json:"envelope_id"`
			}
			if json.Unmarshal(data, &ack) == nil && ack.EnvelopeID != "" {
				s.mu.Lock()
				s.acks = append(s.acks, ack.EnvelopeID)
				if h := s.byEnv[ack.EnvelopeID]; h != nil {
					h.acked = true
				}
				s.notify()
				s.mu.Unlock()
			}
		}
	}()

	if hello {
		b, _ := json.Marshal(map[string]any{
			"type":            "hello",
			"num_connections": 1,
			"debug_info":      map[string]any{"host": "applink-fake-1", "build_number": 1, "approximate_connection_time": 18060},
			"connection_info": map[string]any{"app_id": AppID},
		})
		if c.Write(ctx, websocket.MessageText, b) != nil {
			return
		}
	}
	s.mu.Lock()
	cn.ready = true
	for _, h := range s.outbox {
		if h.on == nil && !h.acked {
			s.sendHeld(h, cn)
		}
	}
	s.notify() // connected (and hello sent)
	s.mu.Unlock()
	for {
		select {
		case <-ctx.Done():
			return
		case <-cn.done:
			return
		case b := <-cn.out:
			if c.Write(ctx, websocket.MessageText, b) != nil {
				return
			}
		}
	}
}

// Connections is the number of open Socket Mode connections; Opened the
// number ever accepted.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

func (s *Server) Opened() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opened
}

// WaitConnected waits until the n-th WebSocket connection (counting from
// 1) has been accepted and is open.
func (s *Server) WaitConnected(n int) {
	s.t.Helper()
	s.wait(fmt.Sprintf("socket connection #%d", n), func() bool { return s.opened >= n && len(s.conns) > 0 })
}

// send writes raw to every open connection; it fails the test if none is.
func (s *Server) send(raw []byte) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.conns) == 0 {
		s.t.Fatalf("fakeslack: no Socket Mode connection to send to")
	}
	for cn := range s.conns {
		select {
		case cn.out <- raw:
		default:
			s.t.Errorf("fakeslack: send queue full")
		}
	}
}

// Envelope is a Socket Mode events_api message.
type Envelope struct {
	EnvelopeID             string    `json:"envelope_id"`
	Type                   string    `json:"type"`
	Payload                *Callback `json:"payload"`
	AcceptsResponsePayload bool      `json:"accepts_response_payload"`
	RetryAttempt           int       `json:"retry_attempt"`
	RetryReason            string    `json:"retry_reason"`
}

// Callback is an Events API event_callback: the body of an Events API
// request and the payload of an events_api envelope.
type Callback struct {
	Token          string          `json:"token"`
	TeamID         string          `json:"team_id"`
	APIAppID       string          `json:"api_app_id"`
	Event          json.RawMessage `json:"event"`
	Type           string          `json:"type"`
	EventID        string          `json:"event_id"`
	EventTime      int64           `json:"event_time"`
	Authorizations []Authorization `json:"authorizations"`
	EventContext   string          `json:"event_context"`
}

// Authorization is one entry of a callback's authorizations.
type Authorization struct {
	EnterpriseID        *string `json:"enterprise_id"`
	TeamID              string  `json:"team_id"`
	UserID              string  `json:"user_id"`
	IsBot               bool    `json:"is_bot"`
	IsEnterpriseInstall bool    `json:"is_enterprise_install"`
}

// Event is a message or app_mention event, with Slack's field names.
type Event struct {
	Type         string `json:"type"` // "message" or "app_mention"
	Subtype      string `json:"subtype,omitempty"`
	User         string `json:"user,omitempty"`
	BotID        string `json:"bot_id,omitempty"`
	Text         string `json:"text"`
	TS           string `json:"ts"`
	ThreadTS     string `json:"thread_ts,omitempty"`
	ParentUserID string `json:"parent_user_id,omitempty"`
	Channel      string `json:"channel"`
	ChannelType  string `json:"channel_type,omitempty"` // im, mpim, channel, group (message events only)
	EventTS      string `json:"event_ts"`
	Team         string `json:"team,omitempty"`
	Files        []File `json:"files,omitempty"`
}

// File is the metadata of a shared file.
type File struct {
	ID                 string `json:"id"`
	Name               string `json:"name"`
	Title              string `json:"title"`
	Mimetype           string `json:"mimetype"`
	Filetype           string `json:"filetype"`
	Size               int64  `json:"size"`
	URLPrivate         string `json:"url_private"`
	URLPrivateDownload string `json:"url_private_download"`
}

// NewCallback wraps an inner event (an Event, or anything that marshals
// to one) in an event_callback with a fresh event_id.
func (s *Server) NewCallback(event any) *Callback {
	raw, ok := event.(json.RawMessage)
	if !ok {
		if e, isEvent := event.(Event); isEvent && e.EventTS == "" {
			e.EventTS = e.TS
			event = e
		}
		var err error
		if raw, err = json.Marshal(event); err != nil {
			s.t.Fatalf("fakeslack: marshal event: %v", err)
		}
	}
	return &Callback{
		Token:          "verification-token-unused",
		TeamID:         TeamID,
		APIAppID:       AppID,
		Event:          raw,
		Type:           "event_callback",
		EventID:        "Ev" + strings.ToUpper(strings.ReplaceAll(s.newID("e"), "-", "")),
		EventTime:      time.Now().Unix(),
		Authorizations: []Authorization{{TeamID: TeamID, UserID: BotUserID, IsBot: true}},
		EventContext:   "4-fake",
	}
}

// SendEvent pushes an events_api envelope carrying event to the open
// connections and returns it (its EnvelopeID and Payload.EventID).
func (s *Server) SendEvent(event any) Envelope {
	s.t.Helper()
	env := Envelope{EnvelopeID: s.newID("env"), Type: "events_api", Payload: s.NewCallback(event)}
	s.SendEnvelope(env)
	return env
}

// SendEnvelope pushes env as it is (a redelivery: same payload, a new
// envelope id and a retry_attempt).
func (s *Server) SendEnvelope(env Envelope) {
	s.t.Helper()
	b, err := json.Marshal(env)
	if err != nil {
		s.t.Fatalf("fakeslack: marshal envelope: %v", err)
	}
	s.send(b)
}

// Deliver sends an events_api envelope carrying event the way Slack
// guarantees delivery: on one open connection (or the next one to open,
// if none is), and again under a new envelope id, with the next
// retry_attempt, on the next connection if the one it was sent on closes
// before the envelope is acknowledged. It returns the first envelope.
func (s *Server) Deliver(event any) Envelope {
	s.t.Helper()
	cb := s.NewCallback(event)
	s.mu.Lock()
	defer s.mu.Unlock()
	h := &held{env: Envelope{EnvelopeID: s.nextID("env"), Type: "events_api", Payload: cb}}
	s.outbox = append(s.outbox, h)
	s.byEnv[h.env.EnvelopeID] = h
	for cn := range s.conns {
		if cn.ready {
			s.sendHeld(h, cn)
			break
		}
	}
	s.notify()
	return h.env
}

// sendHeld queues h on cn; call with s.mu held.
func (s *Server) sendHeld(h *held, cn *conn) {
	b, err := json.Marshal(h.env)
	if err != nil {
		s.t.Errorf("fakeslack: marshal envelope: %v", err)
		return
	}
	if h.env.RetryAttempt > 0 {
		s.resent++
	}
	select {
	case cn.out <- b:
		h.on = cn
	default:
		s.t.Errorf("fakeslack: send queue full")
	}
}

// Delivery is the state of one event sent with Deliver.
type Delivery struct {
	EventID  string
	Attempts int  // times sent so far (retry_attempt + 1), 0 if not yet
	Acked    bool // an envelope carrying it was acknowledged
}

// Deliveries returns the events sent with Deliver, in order.
func (s *Server) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Delivery, len(s.outbox))
	for i, h := range s.outbox {
		n := h.env.RetryAttempt
		if h.on != nil {
			n++
		}
		out[i] = Delivery{EventID: h.env.Payload.EventID, Attempts: n, Acked: h.acked}
	}
	return out
}

// Unacked is the number of events sent with Deliver not yet acknowledged.
func (s *Server) Unacked() int {
	n := 0
	for _, d := range s.Deliveries() {
		if !d.Acked {
			n++
		}
	}
	return n
}

// Redelivered is the number of times an event sent with Deliver was sent
// again after its connection closed unacknowledged.
func (s *Server) Redelivered() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.resent
}

// SendRaw pushes raw bytes as a text message (malformed input tests).
func (s *Server) SendRaw(raw []byte) {
	s.t.Helper()
	s.send(raw)
}

// Disconnect sends Slack's disconnect message with reason
// ("refresh_requested", "warning", "link_disabled").
func (s *Server) Disconnect(reason string) {
	s.t.Helper()
	b, _ := json.Marshal(map[string]any{
		"type": "disconnect", "reason": reason,
		"debug_info": map[string]any{"host": "applink-fake-1"},
	})
	s.send(b)
}

// DropConnections closes every Socket Mode connection without a close
// handshake.
func (s *Server) DropConnections() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for cn := range s.conns {
		select {
		case <-cn.done:
		default:
			close(cn.done)
		}
		cn.c.CloseNow()
	}
}

// Acks returns the envelope ids acknowledged so far.
func (s *Server) Acks() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.acks...)
}

// WaitAck waits until envelopeID has been acknowledged.
func (s *Server) WaitAck(envelopeID string) {
	s.t.Helper()
	s.wait("ack of "+envelopeID, func() bool {
		for _, a := range s.acks {
			if a == envelopeID {
				return true
			}
		}
		return false
	})
}

// --- Events API client ---

// Sign returns Slack's X-Slack-Signature for body sent at timestamp
// (Unix seconds as a string): "v0=" + hex(HMAC-SHA256(secret,
// "v0:" + timestamp + ":" + body)).
func Sign(secret, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v0:" + timestamp + ":"))
	mac.Write(body)
	return "v0=" + hex.EncodeToString(mac.Sum(nil))
}

// EventRequest is a request as Slack's Events API would send it.
type EventRequest struct {
	Body      []byte    // the JSON body (see Callback, URLVerification)
	Secret    string    // signing secret used for X-Slack-Signature
	Time      time.Time // X-Slack-Request-Timestamp; zero means now
	RetryNum  int       // X-Slack-Retry-Num when > 0 (with X-Slack-Retry-Reason http_timeout)
	Signature string    // when set, sent instead of the computed signature
	NoHeaders bool      // send neither timestamp nor signature
	// ContentType is sent as Content-Type; "" means application/json
	// (Events API). Interactivity requests are form-encoded.
	ContentType string
}

// Request builds the signed POST to url.
func (e EventRequest) Request(url string) *http.Request {
	req := httptest.NewRequest(http.MethodPost, url, strings.NewReader(string(e.Body)))
	req.RequestURI = ""
	ct := e.ContentType
	if ct == "" {
		ct = "application/json"
	}
	req.Header.Set("Content-Type", ct)
	req.Header.Set("User-Agent", "Slackbot 1.0 (+https://api.slack.com/robots)")
	if !e.NoHeaders {
		t := e.Time
		if t.IsZero() {
			t = time.Now()
		}
		ts := strconv.FormatInt(t.Unix(), 10)
		sig := e.Signature
		if sig == "" {
			sig = Sign(e.Secret, ts, e.Body)
		}
		req.Header.Set("X-Slack-Request-Timestamp", ts)
		req.Header.Set("X-Slack-Signature", sig)
	}
	if e.RetryNum > 0 {
		req.Header.Set("X-Slack-Retry-Num", strconv.Itoa(e.RetryNum))
		req.Header.Set("X-Slack-Retry-Reason", "http_timeout")
	}
	return req
}

// Serve sends the request to h in process and returns the recorded answer.
func (e EventRequest) Serve(h http.Handler) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, e.Request("http://127.0.0.1/slack/events"))
	return rec
}

// Post sends the request to url over the network with client (nil:
// http.DefaultClient; the receiver is on loopback).
func (e EventRequest) Post(ctx context.Context, client *http.Client, url string) (*http.Response, error) {
	if client == nil {
		client = http.DefaultClient
	}
	req := e.Request(url).WithContext(ctx)
	resp, err := client.Do(req)
	if err != nil {
		return nil, errors.Join(errors.New("fakeslack: post event"), err)
	}
	return resp, nil
}

// URLVerification is the body of Slack's url_verification request.
func URLVerification(challenge string) []byte {
	b, _ := json.Marshal(map[string]string{"token": "verification-token-unused", "challenge": challenge, "type": "url_verification"})
	return b
}

// MarshalCallback is the JSON body of cb.
func MarshalCallback(cb *Callback) []byte {
	b, _ := json.Marshal(cb)
	return b
}
