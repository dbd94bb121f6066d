package slack

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/slack-go/slack/slackevents"
)

const (
	// maxEventBody caps an Events API request body; Slack's are a few KB
	// (a 40,000-character message with blocks stays well under it).
	maxEventBody = 1 << 20
	// maxSkew is how far X-Slack-Request-Timestamp may be from now;
	// Slack's guidance is five minutes.
	maxSkew = 5 * time.Minute
)

// EventsHandler is the Events API receiver (http mode; Start serves it on
// webhookListen). Every request is authenticated first: a POST whose
// X-Slack-Request-Timestamp is within five minutes of now and whose
// X-Slack-Signature is "v0=" + hex(HMAC-SHA256(signing secret,
// "v0:" + timestamp + ":" + body)). Anything else gets 401 and is not
// parsed. Then url_verification challenges are answered, and
// event_callback messages handed to the Handler (once per event id and
// message, so Slack's retries with X-Slack-Retry-Num do not repeat). The
// same URL takes interactivity requests (form-encoded payload=, signed
// the same way): button presses on approval requests.
func (a *Adapter) EventsHandler() http.Handler {
	return http.HandlerFunc(a.serveEvents)
}

func (a *Adapter) serveEvents(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	ts := r.Header.Get("X-Slack-Request-Timestamp")
	sig := r.Header.Get("X-Slack-Signature")
	if err := checkTimestamp(ts, time.Now()); err != nil || sig == "" {
		a.log.Warn("slack: events: rejected request", "remote", r.RemoteAddr, "reason", reason(err, "no signature"))
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxEventBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "cannot read request body", http.StatusBadRequest)
		return
	}
	if !a.validSignature(ts, body, sig) {
		a.log.Warn("slack: events: rejected request", "remote", r.RemoteAddr, "reason", "bad signature")
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}

	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "application/x-www-form-urlencoded" {
		a.serveInteractive(r.Context(), w, body) // buttons.go
		return
	}
	var head struct {
		Type      string `json:"type"`
		Challenge string `json:"challenge"`
	}
	if err := json.Unmarshal(body, &head); err != nil {
		http.Error(w, "malformed JSON", http.StatusBadRequest)
		return
	}
	switch head.Type {
	case slackevents.URLVerification:
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"challenge": head.Challenge})
		return
	case slackevents.CallbackEvent:
	case slackevents.AppRateLimited:
		a.log.Warn("slack: events: Slack is dropping events for this app (app_rate_limited)")
		w.WriteHeader(http.StatusOK)
		return
	default:
		w.WriteHeader(http.StatusOK)
		return
	}
	cb, err := parseCallback(body)
	if err != nil {
		http.Error(w, "malformed event", http.StatusBadRequest)
		return
	}
	if n := r.Header.Get("X-Slack-Retry-Num"); n != "" {
		a.log.Debug("slack: events: redelivery", "event_id", cb.EventID, "retry", n, "reason", r.Header.Get("X-Slack-Retry-Reason"))
	}
	// 200 only once the message is stored (invariant 14); otherwise 500,
	// and Slack retries.
	if err := a.deliver(r.Context(), cb); err != nil {
		var ns *notStoredError
		if errors.As(err, &ns) {
			a.log.Warn("slack: events: message not stored; answering 500 so Slack retries", "event_id", cb.EventID, "err", err)
			http.Error(w, "not stored, retry later", http.StatusInternalServerError)
			return
		}
		a.log.Warn("slack: events: bad event", "event_id", cb.EventID, "err", err)
		http.Error(w, "malformed event", http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func reason(err error, otherwise string) string {
	if err != nil {
		return err.Error()
	}
	return otherwise
}

// checkTimestamp accepts a Unix-seconds timestamp within maxSkew of now.
func checkTimestamp(ts string, now time.Time) error {
	if ts == "" {
		return errors.New("no timestamp")
	}
	n, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errors.New("timestamp is not a number")
	}
	d := now.Sub(time.Unix(n, 0))
	if d > maxSkew || d < -maxSkew {
		return errors.New("timestamp too far from now (replayed?)")
	}
	return nil
}

// validSignature checks sig against the HMAC of "v0:ts:body" in constant
// time.
func (a *Adapter) validSignature(ts string, body []byte, sig string) bool {
	if a.cfg.SigningSecret.IsZero() {
		return false // anyone could sign with an empty key
	}
	mac := hmac.New(sha256.New, []byte(a.cfg.SigningSecret.Reveal()))
	mac.Write([]byte("v0:" + ts + ":"))
	mac.Write(body)
	want := "v0=" + hex.EncodeToString(mac.Sum(nil))
	return hmac.Equal([]byte(want), []byte(sig))
}
