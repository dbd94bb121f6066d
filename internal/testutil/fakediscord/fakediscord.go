// Package fakediscord is a Discord REST API and gateway on loopback, for
// testing the real Discord adapter. It speaks the real wire format: REST
// under /api/v10 with "Authorization: Bot <token>", Discord's JSON error
// bodies ({"message", "code"}) and 429 answers ({"retry_after": seconds,
// "global"} plus a Retry-After header); the gateway is a JSON WebSocket at
// the URL GET /gateway and /gateway/bot name, with payloads {op, d, s, t}:
// HELLO (10) with heartbeat_interval, IDENTIFY (2) answered by a READY
// dispatch or close 4004 for a wrong token, HEARTBEAT (1) answered by
// HEARTBEAT_ACK (11), RESUME (6) answered by a replay of missed dispatches
// and RESUMED, or INVALID_SESSION (9) for an unknown session.
//
// Message components: posted messages may carry action rows of buttons
// (Sent.Buttons); Press dispatches INTERACTION_CREATE (type 3, a button
// press) with an interaction token, answered once at POST
// /interactions/{id}/{token}/callback (Responses); POST
// /users/@me/channels opens a DM channel (DMChannel); PATCH
// /channels/{id}/messages/{id} edits a sent message (Edits).
//
// Tests inject dispatches (MessageCreate, Dispatch), drop the gateway
// connection (Drop, Close), inject REST failures (RateLimitMessages,
// FailMessages) and read what the bot sent (Sent, WaitSent, Typing).
//
// Guarantees: it listens on 127.0.0.1 only and is closed when the test
// ends.
package fakediscord

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
)

// Ids of the fake bot.
const (
	BotID       = "100000000000000001"
	BotUsername = "talonbot"
	AppID       = "100000000000000002"
)

// Server is the fake. Fields are read-only; set HeartbeatInterval before
// the adapter connects.
type Server struct {
	// URL is the REST base URL, ending in /api/v10: configure it as
	// apiBaseUrl.
	URL string
	// Token is the bot token the fake accepts.
	Token string
	// HeartbeatInterval is sent in HELLO; 0 means 45s as Discord does.
	HeartbeatInterval time.Duration

	t   testing.TB
	srv *httptest.Server
	ctx context.Context // ends when the test ends

	mu         sync.Mutex
	changed    chan struct{} // closed and replaced on every recorded change
	conn       *gwConn       // the live gateway connection
	sessions   map[string]*session
	cur        *session // the session of the last IDENTIFY or RESUME
	sent       []Sent
	attempts   []Attempt
	typing     []string
	limited    int
	limitAfter time.Duration
	limitJSON  bool
	failing    int
	failStatus int
	msgSeq     int64
	stats      Stats
	rejectID   bool
	noHello    bool
	gwURL      string // what GET /gateway answers
	// Interactions: the token of each dispatched one not yet answered,
	// the answers, and the DM channel of each user.
	interactions map[string]string
	responses    []InteractionResponse
	dms          map[string]string
	seq          int64
	edits        int
}

// InteractionResponse is one POST /interactions/{id}/{token}/callback.
type InteractionResponse struct {
	ID, Token string
	Type      int    // 4: CHANNEL_MESSAGE_WITH_SOURCE, 6: DEFERRED_UPDATE_MESSAGE, 7: UPDATE_MESSAGE
	Content   string // data.content
	Flags     int    // data.flags (64: ephemeral)
}

// Stats counts gateway traffic.
type Stats struct {
	Connections int      // WebSocket connections accepted
	Identifies  int      // IDENTIFY payloads accepted
	Resumes     int      // RESUME payloads accepted
	Heartbeats  int      // HEARTBEAT payloads
	Intents     int      // intents of the last IDENTIFY
	Query       []string // v and encoding query of the last connection
}

// Sent is one message the bot posted.
type Sent struct {
	ChannelID string
	ID        string // the id the fake gave it
	Content   string
	// AllowedMentions is the raw allowed_mentions object ("" if absent).
	AllowedMentions string
	// ReplyTo is message_reference.message_id.
	ReplyTo string
	// Buttons are the message's button components, in order.
	Buttons []Button
	At      time.Time
	Body    []byte
}

// Button is a button component (type 2) of a sent message.
type Button struct {
	Label    string `json:"label"`
	CustomID string `json:"custom_id"`
	Style    int    `json:"style"`
}

// Attempt is one POST /channels/{id}/messages, answered or refused.
type Attempt struct {
	At     time.Time
	Status int
}

type session struct {
	id     string
	seq    int64
	events []frame // every dispatch, for replay on RESUME
}

type frame struct {
	Op int             `json:"op"`
	D  json.RawMessage `json:"d"`
	S  *int64          `json:"s"`
	T  *string         `json:"t"`
}

type gwConn struct {
	c       *websocket.Conn
	writeMu sync.Mutex
	sess    *session // nil until IDENTIFY or RESUME
	cancel  context.CancelFunc
}

// New starts a fake with a random token; it is closed when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		t:        t,
		ctx:      ctx,
		Token:    "MTAw.fake." + randHex(12),
		sessions: map[string]*session{},
		changed:  make(chan struct{}),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.gateway)
	mux.HandleFunc("GET /api/v10/gateway", s.getGateway)
	mux.HandleFunc("GET /api/v10/gateway/bot", s.auth(s.getGateway))
	mux.HandleFunc("GET /api/v10/users/@me", s.auth(s.me))
	mux.HandleFunc("POST /api/v10/channels/{id}/messages", s.auth(s.postMessage))
	mux.HandleFunc("POST /api/v10/channels/{id}/typing", s.auth(s.postTyping))
	mux.HandleFunc("POST /api/v10/users/@me/channels", s.auth(s.createDM))
	mux.HandleFunc("PATCH /api/v10/channels/{id}/messages/{mid}", s.auth(s.editMessage))
	// Discord authenticates an interaction callback by its token alone.
	mux.HandleFunc("POST /api/v10/interactions/{id}/{token}/callback", s.interactionCallback)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		apiErr(w, http.StatusNotFound, 0, "404: Not Found")
	})
	s.srv = httptest.NewServer(mux)
	s.URL = s.srv.URL + "/api/v10"
	s.gwURL = "ws" + strings.TrimPrefix(s.srv.URL, "http")
	t.Cleanup(func() {
		s.Drop()
		cancel()
		s.srv.Close()
	})
	return s
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// notify wakes waiters; call with mu held.
func (s *Server) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// wait polls cond (under mu) until it holds or timeout passes.
func (s *Server) wait(timeout time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		ok, ch := cond(), s.changed
		s.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-ch:
		case <-deadline.C:
			return false
		case <-s.ctx.Done():
			return false
		}
	}
}

// ---- REST ----

func apiErr(w http.ResponseWriter, status, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"message": msg, "code": code})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (s *Server) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bot "+s.Token {
			apiErr(w, http.StatusUnauthorized, 0, "401: Unauthorized")
			return
		}
		h(w, r)
	}
}

func (s *Server) getGateway(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	body := map[string]any{"url": s.gwURL}
	s.mu.Unlock()
	if strings.HasSuffix(r.URL.Path, "/bot") {
		body["shards"] = 1
		body["session_start_limit"] = map[string]any{"total": 1000, "remaining": 999, "reset_after": 14400000, "max_concurrency": 1}
	}
	writeJSON(w, http.StatusOK, body)
}

func botUser() map[string]any {
	return map[string]any{"id": BotID, "username": BotUsername, "discriminator": "0", "global_name": nil, "avatar": nil, "bot": true}
}

func (s *Server) me(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, botUser())
}

// RateLimitMessages makes the next n message POSTs answer 429 asking for
// after; with inJSON the delay is in the body's retry_after (and a
// rounded-up Retry-After header), without it only in Retry-After (whole
// seconds, as a proxy in front would send).
func (s *Server) RateLimitMessages(n int, after time.Duration, inJSON bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limited, s.limitAfter, s.limitJSON = n, after, inJSON
}

// FailMessages makes the next n message POSTs answer status with a Discord
// error body (403: Missing Permissions, 404: Unknown Channel, 400, 500…).
func (s *Server) FailMessages(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failing, s.failStatus = n, status
}

func (s *Server) postMessage(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	ch := r.PathValue("id")
	data, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.notify()
	record := func(status int) { s.attempts = append(s.attempts, Attempt{At: now, Status: status}) }
	if s.limited > 0 {
		s.limited--
		record(http.StatusTooManyRequests)
		secs := s.limitAfter.Seconds()
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(secs))))
		w.Header().Set("X-RateLimit-Scope", "user")
		if s.limitJSON {
			writeJSON(w, http.StatusTooManyRequests, map[string]any{"message": "You are being rate limited.", "retry_after": secs, "global": false})
		} else {
			w.WriteHeader(http.StatusTooManyRequests)
		}
		return
	}
	if s.failing > 0 {
		s.failing--
		record(s.failStatus)
		switch s.failStatus {
		case http.StatusForbidden:
			apiErr(w, s.failStatus, 50013, "Missing Permissions")
		case http.StatusNotFound:
			apiErr(w, s.failStatus, 10003, "Unknown Channel")
		default:
			apiErr(w, s.failStatus, 0, http.StatusText(s.failStatus))
		}
		return
	}
	var in struct {
		Content          string          `json:"content"`
		AllowedMentions  json.RawMessage `json:"allowed_mentions"`
		MessageReference *struct {
			MessageID string `json:"message_id"`
		} `json:"message_reference"`
		Components []struct {
			Type       int `json:"type"`
			Components []struct {
				Type int `json:"type"`
				Button
			} `json:"components"`
		} `json:"components"`
	}
	if r.Header.Get("Content-Type") != "application/json" || json.Unmarshal(data, &in) != nil {
		record(http.StatusBadRequest)
		apiErr(w, http.StatusBadRequest, 50109, "The request body contains invalid JSON.")
		return
	}
	var buttons []Button
	for _, row := range in.Components {
		for _, c := range row.Components {
			if row.Type != 1 || c.Type != 2 || c.Label == "" || c.CustomID == "" || len(c.CustomID) > 100 || c.Style < 1 || c.Style > 4 {
				record(http.StatusBadRequest)
				writeJSON(w, http.StatusBadRequest, map[string]any{"message": "Invalid Form Body", "code": 50035})
				return
			}
			buttons = append(buttons, c.Button)
		}
	}
	if strings.TrimSpace(in.Content) == "" {
		record(http.StatusBadRequest)
		apiErr(w, http.StatusBadRequest, 50006, "Cannot send an empty message")
		return
	}
	if utf8.RuneCountInString(in.Content) > 2000 {
		record(http.StatusBadRequest)
		writeJSON(w, http.StatusBadRequest, map[string]any{"message": "Invalid Form Body", "code": 50035,
			"errors": map[string]any{"content": map[string]any{"_errors": []any{map[string]any{"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 2000 or fewer in length."}}}}})
		return
	}
	record(http.StatusOK)
	s.msgSeq++
	id := strconv.FormatInt(900000000000000000+s.msgSeq, 10)
	sent := Sent{ChannelID: ch, ID: id, Content: in.Content, AllowedMentions: string(in.AllowedMentions), At: now, Body: data, Buttons: buttons}
	if in.MessageReference != nil {
		sent.ReplyTo = in.MessageReference.MessageID
	}
	s.sent = append(s.sent, sent)
	writeJSON(w, http.StatusOK, map[string]any{
		"id": id, "type": 0, "channel_id": ch, "content": in.Content, "author": botUser(),
		"timestamp": now.UTC().Format(time.RFC3339Nano), "edited_timestamp": nil, "tts": false,
		"mention_everyone": false, "mentions": []any{}, "mention_roles": []any{}, "attachments": []any{},
		"embeds": []any{}, "pinned": false, "flags": 0,
	})
}

func (s *Server) postTyping(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.typing = append(s.typing, r.PathValue("id"))
	s.notify()
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// createDM answers POST /users/@me/channels: the DM channel with
// recipient_id, the same one each time.
func (s *Server) createDM(w http.ResponseWriter, r *http.Request) {
	var in struct {
		RecipientID string `json:"recipient_id"`
	}
	if json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&in) != nil || in.RecipientID == "" {
		apiErr(w, http.StatusBadRequest, 50035, "Invalid Form Body")
		return
	}
	s.mu.Lock()
	if s.dms == nil {
		s.dms = map[string]string{}
	}
	id, ok := s.dms[in.RecipientID]
	if !ok {
		s.seq++
		id = strconv.FormatInt(800000000000000000+s.seq, 10)
		s.dms[in.RecipientID] = id
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "type": 1, "recipients": []any{map[string]any{"id": in.RecipientID}}})
}

// editMessage answers PATCH /channels/{id}/messages/{mid} for a message
// the bot sent: "components" replaces its buttons ([]: none), "content"
// its text.
func (s *Server) editMessage(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Content    *string `json:"content"`
		Components []struct {
			Components []Button `json:"components"`
		} `json:"components"`
	}
	if json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&in) != nil {
		apiErr(w, http.StatusBadRequest, 50109, "The request body contains invalid JSON.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.sent {
		m := &s.sent[i]
		if m.ChannelID != r.PathValue("id") || m.ID != r.PathValue("mid") {
			continue
		}
		var buttons []Button
		for _, row := range in.Components {
			buttons = append(buttons, row.Components...)
		}
		m.Buttons = buttons
		if in.Content != nil {
			m.Content = *in.Content
		}
		s.edits++
		s.notify()
		writeJSON(w, http.StatusOK, map[string]any{"id": m.ID, "channel_id": m.ChannelID, "content": m.Content, "author": botUser(), "type": 0})
		return
	}
	apiErr(w, http.StatusNotFound, 10008, "Unknown Message")
}

// Edits is how many message edits the fake accepted.
func (s *Server) Edits() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.edits
}

// DMChannel is the DM channel the bot opened with user ("" if none).
func (s *Server) DMChannel(user string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dms[user]
}

// Press dispatches an INTERACTION_CREATE for a press of the button with
// customID under the bot's message sent, by user (a guild member when
// guildID is set, else a DM user), and returns the interaction id. The
// interaction may be answered once, with the token it carries.
func (s *Server) Press(sent Sent, user, guildID, customID string) string {
	s.t.Helper()
	s.mu.Lock()
	s.seq++
	id := strconv.FormatInt(700000000000000000+s.seq, 10)
	tok := "aW50ZXJhY3Rpb246" + randHex(16)
	if s.interactions == nil {
		s.interactions = map[string]string{}
	}
	s.interactions[id] = tok
	s.mu.Unlock()
	u := map[string]any{"id": user, "username": "user" + user, "discriminator": "0", "global_name": "User " + user}
	d := map[string]any{
		"id": id, "application_id": AppID, "type": 3, "token": tok, "version": 1,
		"channel_id": sent.ChannelID,
		"data":       map[string]any{"custom_id": customID, "component_type": 2},
		"message": map[string]any{"id": sent.ID, "channel_id": sent.ChannelID, "content": sent.Content, "author": botUser(),
			"timestamp": sent.At.UTC().Format(time.RFC3339Nano), "type": 0},
		"locale": "en-US",
	}
	if guildID != "" {
		d["guild_id"] = guildID
		d["member"] = map[string]any{"user": u, "roles": []any{}, "joined_at": time.Now().UTC().Format(time.RFC3339)}
	} else {
		d["user"] = u
	}
	s.Dispatch("INTERACTION_CREATE", d)
	return id
}

func (s *Server) interactionCallback(w http.ResponseWriter, r *http.Request) {
	id, tok := r.PathValue("id"), r.PathValue("token")
	var in struct {
		Type int `json:"type"`
		Data struct {
			Content string `json:"content"`
			Flags   int    `json:"flags"`
		} `json:"data"`
	}
	if json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&in) != nil || in.Type < 1 || in.Type > 12 {
		apiErr(w, http.StatusBadRequest, 50035, "Invalid Form Body")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if want, ok := s.interactions[id]; !ok || want != tok {
		apiErr(w, http.StatusNotFound, 10062, "Unknown interaction")
		return
	}
	delete(s.interactions, id) // one answer per interaction
	s.responses = append(s.responses, InteractionResponse{ID: id, Token: tok, Type: in.Type, Content: in.Data.Content, Flags: in.Data.Flags})
	s.notify()
	w.WriteHeader(http.StatusNoContent)
}

// Responses returns the interaction answers so far.
func (s *Server) Responses() []InteractionResponse {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]InteractionResponse(nil), s.responses...)
}

// WaitResponses waits until at least n interactions were answered; the
// test fails after 10s.
func (s *Server) WaitResponses(n int) []InteractionResponse {
	s.t.Helper()
	if !s.wait(10*time.Second, func() bool { return len(s.responses) >= n }) {
		s.t.Fatalf("fakediscord: %d interactions answered, want %d", len(s.Responses()), n)
	}
	return s.Responses()
}

// Sent returns the messages posted so far.
func (s *Server) Sent() []Sent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Sent(nil), s.sent...)
}

// WaitSent waits until at least n messages were posted and returns them;
// the test fails after 10s.
func (s *Server) WaitSent(n int) []Sent {
	s.t.Helper()
	if !s.wait(10*time.Second, func() bool { return len(s.sent) >= n }) {
		s.t.Fatalf("fakediscord: %d messages sent, want %d", len(s.Sent()), n)
	}
	return s.Sent()
}

// Attempts returns every message POST with its answer status.
func (s *Server) Attempts() []Attempt {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Attempt(nil), s.attempts...)
}

// Typing returns the channel ids of the typing requests so far.
func (s *Server) Typing() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.typing...)
}

// ---- gateway ----

func (s *Server) gateway(w http.ResponseWriter, r *http.Request) {
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		apiErr(w, http.StatusBadRequest, 0, "not a websocket request")
		return
	}
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	c.SetReadLimit(4096) // Discord's limit for client payloads
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	g := &gwConn{c: c, cancel: cancel}
	s.mu.Lock()
	if old := s.conn; old != nil {
		old.c.CloseNow()
	}
	s.conn = g
	s.stats.Connections++
	s.stats.Query = []string{r.URL.Query().Get("v"), r.URL.Query().Get("encoding")}
	s.notify()
	interval, noHello := s.HeartbeatInterval, s.noHello
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if s.conn == g {
			s.conn = nil
		}
		s.notify()
		s.mu.Unlock()
		c.CloseNow()
	}()
	if interval <= 0 {
		interval = 45 * time.Second
	}
	if noHello {
		<-ctx.Done() // a gateway that hangs after the upgrade
		return
	}
	if g.send(ctx, 10, map[string]any{"heartbeat_interval": interval.Milliseconds()}, nil, "") != nil {
		return
	}
	for {
		typ, data, err := c.Read(ctx)
		if err != nil {
			return
		}
		var f frame
		if typ != websocket.MessageText || json.Unmarshal(data, &f) != nil {
			c.Close(4002, "Error while decoding payload.")
			return
		}
		switch f.Op {
		case 1:
			s.mu.Lock()
			s.stats.Heartbeats++
			s.notify()
			s.mu.Unlock()
			if g.send(ctx, 11, nil, nil, "") != nil {
				return
			}
		case 2:
			if !s.identify(ctx, g, f.D) {
				return
			}
		case 6:
			if !s.resume(ctx, g, f.D) {
				return
			}
		default:
			if g.sess == nil {
				c.Close(4003, "Not authenticated.")
			} else {
				c.Close(4001, "Unknown opcode.")
			}
			return
		}
	}
}

// tokenOK accepts the bare token, and "Bot <token>" as Discord does.
func (s *Server) tokenOK(tok string) bool {
	return strings.TrimPrefix(tok, "Bot ") == s.Token
}

func (s *Server) identify(ctx context.Context, g *gwConn, d json.RawMessage) bool {
	var id struct {
		Token   string `json:"token"`
		Intents int    `json:"intents"`
	}
	if json.Unmarshal(d, &id) != nil {
		g.c.Close(4002, "Error while decoding payload.")
		return false
	}
	if g.sess != nil {
		g.c.Close(4005, "Already authenticated.")
		return false
	}
	s.mu.Lock()
	reject := s.rejectID
	s.mu.Unlock()
	if reject || !s.tokenOK(id.Token) {
		g.c.Close(4004, "Authentication failed.")
		return false
	}
	s.mu.Lock()
	sess := &session{id: randHex(16)}
	s.sessions[sess.id] = sess
	s.cur = sess
	g.sess = sess
	s.stats.Identifies++
	s.stats.Intents = id.Intents
	ready, _ := json.Marshal(map[string]any{
		"v": 10, "user": botUser(), "guilds": []any{}, "private_channels": []any{},
		"session_id": sess.id, "resume_gateway_url": s.gwURL,
		"application": map[string]any{"id": AppID, "flags": 0},
	})
	f := sess.add("READY", ready)
	s.notify()
	s.mu.Unlock()
	return g.write(ctx, f) == nil
}

func (s *Server) resume(ctx context.Context, g *gwConn, d json.RawMessage) bool {
	var rs struct {
		Token     string `json:"token"`
		SessionID string `json:"session_id"`
		Seq       int64  `json:"seq"`
	}
	if json.Unmarshal(d, &rs) != nil {
		g.c.Close(4002, "Error while decoding payload.")
		return false
	}
	if !s.tokenOK(rs.Token) {
		g.c.Close(4004, "Authentication failed.")
		return false
	}
	s.mu.Lock()
	sess := s.sessions[rs.SessionID]
	if sess == nil {
		s.mu.Unlock()
		return g.send(ctx, 9, false, nil, "") == nil
	}
	g.sess = sess
	s.cur = sess
	s.stats.Resumes++
	var replay []frame
	for _, f := range sess.events {
		if *f.S > rs.Seq {
			replay = append(replay, f)
		}
	}
	replay = append(replay, sess.add("RESUMED", json.RawMessage(`{}`)))
	s.notify()
	s.mu.Unlock()
	for _, f := range replay {
		if g.write(ctx, f) != nil {
			return false
		}
	}
	return true
}

// add numbers a dispatch and keeps it for replay; call with mu held.
func (ss *session) add(t string, d json.RawMessage) frame {
	ss.seq++
	seq, typ := ss.seq, t
	f := frame{Op: 0, D: d, S: &seq, T: &typ}
	ss.events = append(ss.events, f)
	return f
}

func (g *gwConn) send(ctx context.Context, op int, d any, s *int64, t string) error {
	raw, err := json.Marshal(d)
	if err != nil {
		return err
	}
	f := frame{Op: op, D: raw, S: s}
	if t != "" {
		f.T = &t
	}
	return g.write(ctx, f)
}

func (g *gwConn) write(ctx context.Context, f frame) error {
	data, err := json.Marshal(f)
	if err != nil {
		return err
	}
	g.writeMu.Lock()
	defer g.writeMu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return g.c.Write(ctx, websocket.MessageText, data)
}

// Dispatch sends event t with data d (anything that marshals to JSON; a
// string or []byte is sent as raw JSON) in the current session, numbered
// with the session's next sequence. With no live connection it is kept
// and replayed when the bot resumes. It returns the sequence number.
func (s *Server) Dispatch(t string, d any) int64 {
	s.t.Helper()
	var raw json.RawMessage
	switch v := d.(type) {
	case string:
		raw = json.RawMessage(v)
	case []byte:
		raw = json.RawMessage(v)
	default:
		b, err := json.Marshal(d)
		if err != nil {
			s.t.Fatalf("fakediscord: Dispatch %s: %v", t, err)
		}
		raw = b
	}
	if !json.Valid(raw) {
		s.t.Fatalf("fakediscord: Dispatch %s: data is not JSON", t)
	}
	s.mu.Lock()
	sess := s.cur
	if sess == nil {
		s.mu.Unlock()
		s.t.Fatalf("fakediscord: Dispatch %s before any IDENTIFY", t)
		return 0
	}
	f := sess.add(t, raw)
	g := s.conn
	if g != nil && g.sess != sess {
		g = nil
	}
	s.mu.Unlock()
	if g != nil {
		g.write(s.ctx, f) // a failed write leaves it for the replay
	}
	return *f.S
}

// MessageCreate dispatches a MESSAGE_CREATE with d, the message object.
func (s *Server) MessageCreate(d any) int64 {
	s.t.Helper()
	return s.Dispatch("MESSAGE_CREATE", d)
}

// Drop cuts the gateway connection without a close frame, as a network
// failure would; the session stays resumable.
func (s *Server) Drop() {
	s.mu.Lock()
	g := s.conn
	s.mu.Unlock()
	if g != nil {
		g.c.CloseNow()
		g.cancel()
	}
}

// Close closes the gateway connection with a close frame (e.g. 4000
// "Unknown error.", resumable, or 4004 "Authentication failed.").
func (s *Server) Close(code websocket.StatusCode, reason string) {
	s.mu.Lock()
	g := s.conn
	s.mu.Unlock()
	if g != nil {
		g.c.Close(code, reason)
		g.cancel()
	}
}

// RejectIdentify makes every later IDENTIFY fail with close 4004, as if
// the token had been reset after the REST check passed.
func (s *Server) RejectIdentify() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejectID = true
}

// WithholdHello makes later gateway connections hang after the upgrade
// without sending HELLO.
func (s *Server) WithholdHello() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.noHello = true
}

// SetGatewayURL changes the URL GET /gateway answers with (to test that
// the bot refuses a gateway netguard does not allow).
func (s *Server) SetGatewayURL(u string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gwURL = u
}

// GatewayURL is the ws:// URL GET /gateway answers with.
func (s *Server) GatewayURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gwURL
}

// InvalidateSessions forgets all sessions: the next RESUME gets
// INVALID_SESSION and the bot must IDENTIFY again.
func (s *Server) InvalidateSessions() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.sessions)
}

// Stats returns the gateway counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Query = append([]string(nil), st.Query...)
	return st
}

// WaitReady waits until the bot has identified or resumed at least n
// times in total and holds a live, authenticated connection; the test
// fails after 10s.
func (s *Server) WaitReady(n int) {
	s.t.Helper()
	if !s.wait(10*time.Second, func() bool {
		return s.stats.Identifies+s.stats.Resumes >= n && s.conn != nil && s.conn.sess != nil
	}) {
		st := s.Stats()
		s.t.Fatalf("fakediscord: identifies %d + resumes %d, want %d with a live connection", st.Identifies, st.Resumes, n)
	}
}

// WaitHeartbeats waits until at least n heartbeats arrived; the test fails
// after 10s.
func (s *Server) WaitHeartbeats(n int) {
	s.t.Helper()
	if !s.wait(10*time.Second, func() bool { return s.stats.Heartbeats >= n }) {
		s.t.Fatalf("fakediscord: %d heartbeats, want %d", s.Stats().Heartbeats, n)
	}
}

// WaitDisconnected waits until no gateway connection is open; the test
// fails after 10s.
func (s *Server) WaitDisconnected() {
	s.t.Helper()
	if !s.wait(10*time.Second, func() bool { return s.conn == nil }) {
		s.t.Fatalf("fakediscord: the gateway connection is still open")
	}
}

// String names the fake in test output.
func (s *Server) String() string { return fmt.Sprintf("fakediscord(%s)", s.URL) }
