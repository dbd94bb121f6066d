package telegram

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"io"
	"net/http"
)

// The webhook receiver is written here rather than taken from the library
// (bot.WebhookHandler) because that one compares the secret with != (not
// in constant time), answers 200 to a wrong secret, reads bodies of any
// size and accepts any method.

// SecretHeader is the header Telegram sends the webhook secret in.
const SecretHeader = "X-Telegram-Bot-Api-Secret-Token"

// maxWebhookBody caps a webhook request body; updates are a few KiB.
const maxWebhookBody = 1 << 20

// digest makes both sides of the secret comparison the same length, so the
// comparison's time does not depend on the secret's length either.
func digest(s string) [32]byte { return sha256.Sum256([]byte(s)) }

// WebhookHandler is the receiver Start serves on WebhookListen, exported so
// that tests and an embedding server can drive it. On every request it
// first checks the secret header (missing or wrong: 401, nothing else is
// read), then answers 405 to anything but POST, 413 to a body over 1 MiB,
// 400 to a body that is not an update, 503 before the adapter knows who the
// bot is (Telegram retries), and 200 once the update has been handled.
// In polling mode it has no secret and answers every request 401.
func (a *Adapter) WebhookHandler() http.Handler {
	return http.HandlerFunc(a.serveWebhook)
}

func (a *Adapter) serveWebhook(w http.ResponseWriter, r *http.Request) {
	if !a.webhookAuthorized(r.Header.Get(SecretHeader)) {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebhookBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "bad request body", http.StatusBadRequest)
		return
	}
	id, err := updateID(body)
	if err == nil {
		_, _, err = parseUpdate(body, 0, "")
	}
	if err != nil {
		http.Error(w, "body is not a Telegram update", http.StatusBadRequest)
		return
	}
	if botID, _ := a.identity(); botID == 0 {
		w.Header().Set("Retry-After", "5")
		http.Error(w, "not ready", http.StatusServiceUnavailable)
		return
	}
	// 200 only once the update is stored (invariant 14); otherwise 500,
	// and Telegram posts it again.
	if err := a.deliver(a.handlerContext(), id, body); err != nil {
		a.log.Warn("webhook update not stored; answering 500 so Telegram retries", "update_id", id, "err", a.scrub(err.Error()))
		http.Error(w, "not stored, retry later", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// webhookAuthorized compares the header with the secret over equal-length
// digests in constant time. Without a secret nothing is authorized.
func (a *Adapter) webhookAuthorized(got string) bool {
	if !a.webhook || got == "" {
		return false
	}
	d := digest(got)
	return subtle.ConstantTimeCompare(d[:], a.secret[:]) == 1
}

// handlerContext is the context handed to the Handler for webhook updates:
// the adapter's, not the request's, which ends as soon as the answer is
// written.
func (a *Adapter) handlerContext() context.Context {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.runCtx != nil {
		return a.runCtx
	}
	return context.Background()
}
