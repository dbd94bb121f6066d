// Package fakesignal is a signal-cli HTTP daemon (`signal-cli daemon
// --http`) on loopback, for tests of the Signal channel. It speaks the real
// wire protocol of signal-cli-jsonrpc(5): JSON-RPC 2.0 at POST /api/v1/rpc
// (send, sendTyping, version, listAccounts, getUserStatus, with signal-cli's
// error codes, e.g. -5 for rate limits with data.response.results[].
// retryAfterSeconds), server-sent events at GET /api/v1/events
// ("id:", "event:receive", "data:{"account","envelope"}", ":" keep-alives,
// ?account= in multi-account mode, Last-Event-ID replay of the last 1000
// events as newer signal-cli does) and GET /api/v1/check. Like signal-cli
// it answers 421 to a Host header other than the address it listens on and
// 415 to an RPC without a JSON content type.
//
// Tests push receive notifications, drop the streams (abruptly, as a
// crashed daemon or a broken connection would), redeliver events, inject
// failures, and read what the adapter sent.
//
// Guarantees: it listens on 127.0.0.1 only and is closed when the test ends.
package fakesignal

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// DefaultAccount and DefaultUUID are the number and ACI the daemon serves
// unless SetAccounts says otherwise.
const (
	DefaultAccount = "+15550001111"
	DefaultUUID    = "0b0b0b0b-1111-4111-8111-000000000001"
)

// Account is one account the daemon serves.
type Account struct {
	Number string
	UUID   string
}

// Failure is an injected failure for one request.
type Failure struct {
	Status     int       // HTTP status (0 or 200: a JSON-RPC error, or Drop)
	RetryAfter string    // Retry-After header with Status
	Error      *RPCError // JSON-RPC error answered with HTTP 200
	Drop       bool      // close the connection without answering
}

// Call is one JSON-RPC request as received.
type Call struct {
	Method string
	ID     json.RawMessage
	Params json.RawMessage
	Header http.Header
}

// Send is one send or sendTyping request, decoded.
type Send struct {
	Account        string   `json:"account"`
	Recipient      []string `json:"recipient"`
	GroupID        string   `json:"groupId"`
	Message        string   `json:"message"`
	QuoteTimestamp int64    `json:"quoteTimestamp"`
	QuoteAuthor    string   `json:"quoteAuthor"`
	Stop           bool     `json:"stop"`
	Timestamp      int64    `json:"-"` // what send answered (0 for sendTyping)
	At             time.Time
}

// EventRequest is one GET /api/v1/events as received.
type EventRequest struct {
	Query       url.Values
	RawQuery    string
	LastEventID string
	Header      http.Header
}

// Server is the fake daemon.
type Server struct {
	// URL is the base URL to configure as httpUrl.
	URL string

	t   testing.TB
	srv *httptest.Server

	mu          sync.Mutex
	accounts    []Account
	multi       bool // multi-account mode (daemon without -a)
	eventIDs    bool
	keepAlive   time.Duration
	version     string
	idPrefix    string
	seq         int64
	buffer      []stored
	streams     map[*stream]bool
	failures    map[string][]Failure
	eventsFail  []Failure
	calls       []Call
	sends       []Send
	typings     []Send
	eventReqs   []EventRequest
	nextTS      int64
	userStatusK bool // getUserStatus knows the accounts' uuids
}

type stored struct {
	seq     int64
	account string
	data    string
}

type stream struct {
	account string // "" means all accounts
	out     chan string
	drop    chan struct{}
	once    sync.Once
}

func (st *stream) close() { st.once.Do(func() { close(st.drop) }) }

// New starts a daemon in single-account mode (`signal-cli -a
// DefaultAccount daemon --http`) with event ids on; it is closed when the
// test ends.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{
		t:           t,
		accounts:    []Account{{DefaultAccount, DefaultUUID}},
		eventIDs:    true,
		keepAlive:   15 * time.Second,
		version:     "0.14.6",
		idPrefix:    strconv.FormatInt(time.Now().UnixMilli(), 10) + "-",
		streams:     map[*stream]bool{},
		failures:    map[string][]Failure{},
		nextTS:      time.Now().UnixMilli(),
		userStatusK: true,
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.handle))
	s.URL = s.srv.URL
	t.Cleanup(func() {
		s.DropStreams()
		s.srv.Close()
	})
	return s
}

// SetAccounts switches to multi-account mode (`signal-cli daemon --http`
// without -a) serving accounts: listAccounts answers, RPCs need an
// "account" param naming one of them, and /api/v1/events?account= must
// name one (400 otherwise; without it, every account's events).
func (s *Server) SetAccounts(accounts ...Account) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.multi = true
	s.accounts = append([]Account(nil), accounts...)
}

// SetEventIDs turns event ids (and Last-Event-ID replay) on or off; off
// behaves like signal-cli 0.14.6 and earlier.
func (s *Server) SetEventIDs(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.eventIDs = on
}

// SetKeepAlive sets how often streams get a ":" comment (15 s by
// default); 0 or less sends none.
func (s *Server) SetKeepAlive(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keepAlive = d
}

// ForgetEventIDs makes every event id sent so far unknown, as when it has
// fallen out of the daemon's buffer: a client reconnecting with one gets
// every kept event again.
func (s *Server) ForgetEventIDs() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.idPrefix = "x" + s.idPrefix
}

// HideUUIDs makes getUserStatus answer without uuids.
func (s *Server) HideUUIDs() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.userStatusK = false
}

// FailNext makes the next requests for method ("send", "version", …)
// fail with fs, one each, in order.
func (s *Server) FailNext(method string, fs ...Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures[method] = append(s.failures[method], fs...)
}

// FailEvents makes the next event stream requests fail with fs (Status
// only, or Drop), one each.
func (s *Server) FailEvents(fs ...Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.eventsFail = append(s.eventsFail, fs...)
}

// RateLimit is the error signal-cli answers a send with when the Signal
// server rate-limits every recipient: code -5 and the send results, each
// with retryAfterSeconds.
func RateLimit(recipient string, retryAfterSeconds int64) *RPCError {
	data, _ := json.Marshal(map[string]any{"response": map[string]any{
		"timestamp": time.Now().UnixMilli(),
		"results": []any{map[string]any{
			"recipientAddress":  map[string]any{"uuid": nil, "number": recipient, "username": nil},
			"type":              "RATE_LIMIT_FAILURE",
			"retryAfterSeconds": retryAfterSeconds,
		}},
	}})
	return &RPCError{Code: CodeRateLimit, Message: "Failed to send message due to rate limiting", Data: data}
}

// Calls returns every JSON-RPC request so far.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// Sent returns the successful send requests so far.
func (s *Server) Sent() []Send {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Send(nil), s.sends...)
}

// Typings returns the successful sendTyping requests so far.
func (s *Server) Typings() []Send {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Send(nil), s.typings...)
}

// EventRequests returns every event stream request so far.
func (s *Server) EventRequests() []EventRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]EventRequest(nil), s.eventReqs...)
}

// Streams is how many event streams are open.
func (s *Server) Streams() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.streams)
}

// Receive pushes a receive event for the first account with env.
func (s *Server) Receive(env Envelope) {
	s.mu.Lock()
	acct := s.accounts[0].Number
	s.mu.Unlock()
	s.Push(Notification{Account: acct, Envelope: &env})
}

// Push sends n as a receive event to the open streams of its account and
// keeps it for Last-Event-ID replay.
func (s *Server) Push(n Notification) {
	b, err := json.Marshal(n)
	if err != nil {
		s.t.Fatalf("fakesignal: %v", err)
	}
	s.PushData(n.Account, string(b))
}

// PushData sends data (one line, normally JSON) as a receive event for
// account, as Push does; for malformed events.
func (s *Server) PushData(account, data string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	e := stored{seq: s.seq, account: account, data: data}
	s.buffer = append(s.buffer, e)
	if len(s.buffer) > 1000 {
		s.buffer = s.buffer[1:]
	}
	frame := s.frameLocked(e)
	for st := range s.streams {
		if st.account == "" || st.account == account {
			s.enqueue(st, frame)
		}
	}
}

// PushRaw writes text verbatim to every open stream (for comments,
// multi-line data, other event names, CR line ends, retry fields).
func (s *Server) PushRaw(text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for st := range s.streams {
		s.enqueue(st, text)
	}
}

// Redeliver sends every kept event again, with its id, to the open
// streams.
func (s *Server) Redeliver() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for st := range s.streams {
		for _, e := range s.buffer {
			if st.account == "" || st.account == e.account {
				s.enqueue(st, s.frameLocked(e))
			}
		}
	}
}

// DropStreams closes every open event stream's connection without ending
// the response properly, as a crashed daemon or a broken network would.
func (s *Server) DropStreams() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for st := range s.streams {
		st.close()
	}
}

func (s *Server) enqueue(st *stream, frame string) {
	select {
	case st.out <- frame:
	default:
		s.t.Errorf("fakesignal: a stream's queue is full; the client does not read")
		st.close()
	}
}

// frameLocked formats e as signal-cli's ServerSentEventSender does.
func (s *Server) frameLocked(e stored) string {
	var b strings.Builder
	if s.eventIDs {
		fmt.Fprintf(&b, "id:%s%d\n", s.idPrefix, e.seq)
	}
	b.WriteString("event:receive\n")
	b.WriteString("data:" + e.data + "\n\n")
	return b.String()
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	if !s.hostAllowed(r.Host) {
		w.WriteHeader(http.StatusMisdirectedRequest)
		return
	}
	switch r.URL.Path {
	case "/api/v1/rpc":
		if r.Method != http.MethodPost {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		s.handleRPC(w, r)
	case "/api/v1/events":
		if r.Method != http.MethodGet {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		s.handleEvents(w, r)
	case "/api/v1/check":
		if r.Method != http.MethodGet {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		w.WriteHeader(http.StatusOK)
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

// hostAllowed pins Host to the listening address, localhost or 127.0.0.1
// and the port, as signal-cli does when not bound to a wildcard address.
func (s *Server) hostAllowed(host string) bool {
	h, p, err := net.SplitHostPort(host)
	if err != nil {
		h, p = host, ""
	}
	_, port, _ := net.SplitHostPort(s.srv.Listener.Addr().String())
	switch strings.ToLower(h) {
	case "127.0.0.1", "localhost", "::1":
	default:
		return false
	}
	return p == "" || p == port
}

func (s *Server) takeFailure(method string) (Failure, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.failures[method]
	if len(q) == 0 {
		return Failure{}, false
	}
	s.failures[method] = q[1:]
	return q[0], true
}

type rpcRequest struct {
	JSONRPC string          `json:"jsonrpc"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params"`
	ID      json.RawMessage `json:"id"`
}

func (s *Server) handleRPC(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		w.WriteHeader(http.StatusUnsupportedMediaType)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		return
	}
	var req rpcRequest
	if err := json.Unmarshal(body, &req); err != nil {
		writeRPC(w, nil, nil, &RPCError{Code: -32700, Message: "Parse error: " + err.Error()})
		return
	}
	if req.Method == "" {
		writeRPC(w, req.ID, nil, &RPCError{Code: CodeInvalidRequest, Message: "method field must be set"})
		return
	}
	s.mu.Lock()
	s.calls = append(s.calls, Call{Method: req.Method, ID: req.ID, Params: req.Params, Header: r.Header.Clone()})
	s.mu.Unlock()

	if f, ok := s.takeFailure(req.Method); ok {
		switch {
		case f.Drop:
			hijackClose(w)
			return
		case f.Status != 0 && f.Status != http.StatusOK:
			if f.RetryAfter != "" {
				w.Header().Set("Retry-After", f.RetryAfter)
			}
			w.WriteHeader(f.Status)
			return
		case f.Error != nil:
			writeRPC(w, req.ID, nil, f.Error)
			return
		}
	}

	var p Send
	var params map[string]json.RawMessage
	if len(req.Params) > 0 && string(req.Params) != "null" {
		if json.Unmarshal(req.Params, &params) != nil || json.Unmarshal(req.Params, &p) != nil {
			writeRPC(w, req.ID, nil, &RPCError{Code: CodeInvalidRequest, Message: "params must be an object with fields of the right types"})
			return
		}
	}
	acct, rerr := s.accountFor(req.Method, p.Account)
	if rerr != nil {
		writeRPC(w, req.ID, nil, rerr)
		return
	}

	var result any
	switch req.Method {
	case "version":
		result = map[string]any{"version": s.version}
	case "listAccounts":
		s.mu.Lock()
		multi, accts := s.multi, s.accounts
		s.mu.Unlock()
		if !multi {
			rerr = &RPCError{Code: CodeMethodNotFound, Message: "Method not implemented"}
			break
		}
		var out []map[string]any
		for _, a := range accts {
			out = append(out, map[string]any{"number": a.Number})
		}
		result = out
	case "getUserStatus":
		var out []map[string]any
		s.mu.Lock()
		for _, rcp := range p.Recipient {
			st := map[string]any{"recipient": rcp, "number": rcp, "uuid": nil, "isRegistered": false}
			for _, a := range s.accounts {
				if a.Number == rcp && s.userStatusK {
					st["uuid"], st["isRegistered"] = a.UUID, true
				}
			}
			out = append(out, st)
		}
		s.mu.Unlock()
		result = out
	case "send", "sendTyping":
		if len(p.Recipient) == 0 && p.GroupID == "" {
			rerr = &RPCError{Code: CodeUserError, Message: "No recipients given"}
			break
		}
		if req.Method == "send" && p.Message == "" {
			rerr = &RPCError{Code: CodeUserError, Message: "No message given"}
			break
		}
		if p.QuoteTimestamp != 0 && p.QuoteAuthor == "" {
			rerr = &RPCError{Code: CodeUserError, Message: "Quote author parameter is missing"}
			break
		}
		p.Account, p.At = acct, time.Now()
		s.mu.Lock()
		if req.Method == "send" {
			s.nextTS++
			p.Timestamp = s.nextTS
			s.sends = append(s.sends, p)
			results := []any{}
			for _, rcp := range p.Recipient {
				results = append(results, map[string]any{"recipientAddress": map[string]any{"uuid": nil, "number": rcp, "username": nil}, "type": "SUCCESS"})
			}
			result = map[string]any{"timestamp": p.Timestamp, "results": results}
		} else {
			s.typings = append(s.typings, p)
			result = map[string]any{}
		}
		s.mu.Unlock()
	default:
		rerr = &RPCError{Code: CodeMethodNotFound, Message: "Method not implemented"}
	}
	if len(req.ID) == 0 || string(req.ID) == "null" {
		w.WriteHeader(http.StatusCreated) // a notification gets no answer
		return
	}
	writeRPC(w, req.ID, result, rerr)
}

// accountFor resolves the account of a request: in multi-account mode the
// "account" param must name a served account (for per-account methods).
func (s *Server) accountFor(method, param string) (string, *RPCError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.multi {
		return s.accounts[0].Number, nil
	}
	switch method {
	case "version", "listAccounts":
		return "", nil
	}
	if param == "" {
		if len(s.accounts) == 1 {
			return s.accounts[0].Number, nil
		}
		return "", &RPCError{Code: CodeInvalidParams, Message: "Method requires valid account parameter"}
	}
	for _, a := range s.accounts {
		if a.Number == param || a.UUID == param {
			return a.Number, nil
		}
	}
	return "", &RPCError{Code: CodeInvalidParams, Message: "Specified account does not exist"}
}

func writeRPC(w http.ResponseWriter, id json.RawMessage, result any, rerr *RPCError) {
	resp := map[string]any{"jsonrpc": "2.0", "id": id}
	if len(id) == 0 {
		resp["id"] = nil
	}
	if rerr != nil {
		resp["error"] = rerr
	} else {
		resp["result"] = result
	}
	b, _ := json.Marshal(resp)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(b)
}

func hijackClose(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	conn.Close()
}

func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	q, _ := url.ParseQuery(r.URL.RawQuery)
	lastID := r.Header.Get("Last-Event-ID")
	s.mu.Lock()
	s.eventReqs = append(s.eventReqs, EventRequest{Query: q, RawQuery: r.URL.RawQuery, LastEventID: lastID, Header: r.Header.Clone()})
	var f *Failure
	if len(s.eventsFail) > 0 {
		f = &s.eventsFail[0]
		s.eventsFail = s.eventsFail[1:]
	}
	account := ""
	if s.multi {
		if a := q.Get("account"); a != "" {
			for _, acc := range s.accounts {
				if acc.Number == a || acc.UUID == a {
					account = acc.Number
				}
			}
			if account == "" {
				s.mu.Unlock()
				w.WriteHeader(http.StatusBadRequest)
				return
			}
		}
	}
	s.mu.Unlock()
	if f != nil {
		if f.Drop {
			hijackClose(w)
			return
		}
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		w.WriteHeader(f.Status)
		return
	}

	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	rc.Flush()

	st := &stream{account: account, out: make(chan string, 4096), drop: make(chan struct{})}
	s.mu.Lock()
	if lastID != "" && s.eventIDs {
		// As SseEventBuffer.connect: the events after lastID, or all kept
		// events when the id is unknown.
		var after int64
		if rest, ok := strings.CutPrefix(lastID, s.idPrefix); ok {
			after, _ = strconv.ParseInt(rest, 10, 64)
		}
		for _, e := range s.buffer {
			if e.seq > after && (account == "" || e.account == account) {
				st.out <- s.frameLocked(e)
			}
		}
	}
	s.streams[st] = true
	keepAlive := s.keepAlive
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.streams, st)
		s.mu.Unlock()
	}()

	var tick <-chan time.Time
	if keepAlive > 0 {
		t := time.NewTicker(keepAlive)
		defer t.Stop()
		tick = t.C
	}
	bw := bufio.NewWriter(w)
	for {
		select {
		case <-r.Context().Done():
			return
		case <-st.drop:
			bw.Flush()
			rc.Flush()
			hijackClose(w)
			return
		case frame := <-st.out:
			bw.WriteString(frame)
			bw.Flush()
			if rc.Flush() != nil {
				return
			}
		case <-tick:
			bw.WriteString(":\n")
			bw.Flush()
			if rc.Flush() != nil {
				return
			}
		}
	}
}
