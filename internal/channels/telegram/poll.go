package telegram

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/go-telegram/bot"

	"github.com/talonclaw/talon/internal/channels"
)

// The getUpdates loop is written here rather than taken from the library
// (bot.Start) because the library's loop cannot do what the adapter must:
// it reports errors only to a log callback, so a rejected token cannot
// become StateError and the connection state is unknown; it retries on a
// fixed schedule without jitter; it decodes each batch whole, so one update
// of a kind it does not know (a new MessageOrigin type, say) fails the
// batch and the same batch is fetched forever; and it hands updates to
// other goroutines, so the handler is not called in order from the
// receive loop.

// poll is one polling session: getMe, deleteWebhook, then getUpdates until
// an error. The offset advances past an update only once the handler
// returned nil (the message is stored), so the next call confirms only
// those and Telegram keeps the rest; a handler error ends the session, and
// the next one fetches the batch again from the first update not stored.
func (a *Adapter) poll(ctx context.Context, bo *channels.Backoff) error {
	if err := a.identify(ctx); err != nil {
		return err
	}
	// getUpdates answers 409 while a webhook is set (by an earlier webhook
	// deployment, or by another process); polling means no webhook.
	if _, err := a.api.DeleteWebhook(ctx, &bot.DeleteWebhookParams{}); err != nil {
		return a.apiError("deleteWebhook", err)
	}
	a.tracker.SetState(channels.StateConnected)
	for {
		updates, err := a.getUpdates(ctx, a.offset, int(a.pollTimeout/time.Second), 100)
		if err != nil {
			return err
		}
		bo.Reset()
		if ctx.Err() != nil {
			// Not handled, so not confirmed: Telegram keeps them.
			return ctx.Err()
		}
		ids := make([]int64, 0, len(updates))
		raws := make([]json.RawMessage, 0, len(updates))
		for _, raw := range updates {
			id, err := updateID(raw)
			if err != nil {
				a.log.Warn("update skipped: no update_id", "err", err)
				continue
			}
			ids, raws = append(ids, id), append(raws, raw)
		}
		// The offset passes an update only once the handler stored it
		// (invariant 14): the next getUpdates confirms everything below
		// the offset, and Telegram deletes what it confirms. The batch is
		// stored in one commit; on an error the offset stops before the
		// first update that was not stored.
		n, err := a.deliverBatch(ctx, ids, raws)
		if n > 0 {
			a.offset = max(a.offset, ids[n-1]+1)
		}
		if err != nil {
			a.log.Warn("update not stored; it stays unconfirmed and is fetched again", "update_id", ids[n], "err", a.scrub(err.Error()))
			return fmt.Errorf("telegram: handling update %d: %w", ids[n], err)
		}
	}
}

// confirm tells Telegram, when the loop ends, that the updates handled
// since the last getUpdates are done, so a restart does not see them again.
// Any update the call returns is left unconfirmed and comes back later.
func (a *Adapter) confirm() {
	if a.webhook || a.offset == 0 || a.offset == a.acked {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if _, err := a.getUpdates(ctx, a.offset, 0, 1); err != nil {
		a.log.Debug("confirming handled updates failed; they may be delivered again", "err", err)
	}
}

// getUpdatesParams is the getUpdates request body.
type getUpdatesParams struct {
	Offset         int64    `json:"offset,omitempty"`
	Limit          int      `json:"limit,omitempty"`
	Timeout        int      `json:"timeout"`
	AllowedUpdates []string `json:"allowed_updates"`
}

// apiResponse is the envelope of every Bot API answer.
type apiResponse struct {
	OK          bool            `json:"ok"`
	Result      json.RawMessage `json:"result"`
	ErrorCode   int             `json:"error_code"`
	Description string          `json:"description"`
	Parameters  struct {
		RetryAfter int `json:"retry_after"`
	} `json:"parameters"`
}

// getUpdates is one long poll. The result is kept raw, one element per
// update, so that each update is decoded on its own.
func (a *Adapter) getUpdates(ctx context.Context, offset int64, timeout, limit int) ([]json.RawMessage, error) {
	body, err := json.Marshal(getUpdatesParams{Offset: offset, Limit: limit, Timeout: timeout, AllowedUpdates: allowedUpdates})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.baseURL+"/bot"+a.token+"/getUpdates", bytes.NewReader(body))
	if err != nil {
		return nil, a.apiError("getUpdates", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.client.Do(req)
	if err != nil {
		return nil, a.apiError("getUpdates", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, a.apiError("getUpdates", fmt.Errorf("reading the answer: %w", err))
	}
	var r apiResponse
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("telegram: getUpdates: HTTP %d with a body that is not a Bot API answer (hint: check %sapiBaseUrl)", resp.StatusCode, a.key())
	}
	if !r.OK {
		desc := a.scrub(r.Description)
		switch code := max(r.ErrorCode, resp.StatusCode); {
		case code == http.StatusUnauthorized:
			return nil, a.unauthorized()
		case code == http.StatusTooManyRequests:
			return nil, &channels.RateLimitError{RetryAfter: retryAfter(r.Parameters.RetryAfter), Err: fmt.Errorf("telegram: getUpdates: %s", desc)}
		case code == http.StatusConflict:
			return nil, fmt.Errorf("telegram: getUpdates: %s (hint: another process polls with this bot token, or set a webhook)", desc)
		default:
			return nil, fmt.Errorf("telegram: getUpdates: %d %s", code, desc)
		}
	}
	a.acked = offset
	var updates []json.RawMessage
	if err := json.Unmarshal(r.Result, &updates); err != nil {
		return nil, fmt.Errorf("telegram: getUpdates: result is not a list of updates: %v", err)
	}
	return updates, nil
}

// updateID reads only the update_id of a raw update.
func updateID(raw []byte) (int64, error) {
	var v struct {
		UpdateID *int64 `json:"update_id"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return 0, err
	}
	if v.UpdateID == nil {
		return 0, errors.New("no update_id")
	}
	return *v.UpdateID, nil
}
