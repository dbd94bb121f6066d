package signal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/talonclaw/talon/internal/channels"
)

// JSON-RPC error codes signal-cli answers with (SignalJsonRpcCommandHandler
// and JsonRpcResponse.Error).
const (
	codeUserError      = -1 // bad recipient, group not found, not a member, …
	codeIOError        = -3 // network trouble between signal-cli and the Signal servers
	codeUntrustedKey   = -4
	codeRateLimit      = -5 // "Failed to send message due to rate limiting"
	codeCaptchaReject  = -6
	codeInvalidRequest = -32600
	codeMethodNotFound = -32601 // e.g. listAccounts on a single-account daemon
	codeInvalidParams  = -32602 // e.g. "Specified account does not exist"
	codeInternal       = -32603
)

// defaultRateLimitWait is used when signal-cli reports a rate limit without
// saying how long to wait.
const defaultRateLimitWait = 5 * time.Second

// rpcError is a JSON-RPC error object.
type rpcError struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

func (e *rpcError) Error() string { return fmt.Sprintf("%s (JSON-RPC error %d)", e.Message, e.Code) }

// httpError is a non-200 answer from the daemon (or a proxy in front of it).
type httpError struct {
	Status int
	Body   string
}

func (e *httpError) Error() string {
	if e.Body == "" {
		return "HTTP " + strconv.Itoa(e.Status)
	}
	return fmt.Sprintf("HTTP %d: %s", e.Status, e.Body)
}

type rpcRequest struct {
	JSONRPC string `json:"jsonrpc"`
	Method  string `json:"method"`
	Params  any    `json:"params,omitempty"`
	ID      int64  `json:"id"`
}

type rpcResponse struct {
	JSONRPC string          `json:"jsonrpc"`
	Result  json.RawMessage `json:"result"`
	Error   *rpcError       `json:"error"`
	ID      json.RawMessage `json:"id"`
}

// call makes one JSON-RPC request and decodes the result into out (which
// may be nil). Errors are classified for channels.Retry: rate limits
// become *channels.RateLimitError; answers that retrying cannot change
// become channels.Permanent; transport failures and 5xx stay plain.
func (a *Adapter) call(ctx context.Context, method string, params, out any) error {
	body, err := json.Marshal(rpcRequest{JSONRPC: "2.0", Method: method, Params: params, ID: a.rpcID.Add(1)})
	if err != nil {
		return channels.Permanent(fmt.Errorf("signal: %s: %w", method, err))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.endpoint("/api/v1/rpc"), bytes.NewReader(body))
	if err != nil {
		return channels.Permanent(fmt.Errorf("signal: %s: %w", method, err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := a.rpc.Do(req)
	if err != nil {
		return fmt.Errorf("signal: %s: %w", method, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxRPCBody))
	if err != nil {
		return fmt.Errorf("signal: %s: reading the answer: %w", method, err)
	}
	if resp.StatusCode != http.StatusOK {
		return classifyHTTP(method, resp, raw)
	}
	var rr rpcResponse
	if err := json.Unmarshal(raw, &rr); err != nil {
		return channels.Permanent(fmt.Errorf("signal: %s: the answer is not JSON-RPC (is %s signal-cli's HTTP daemon?): %w", method, a.baseText, err))
	}
	if rr.Error != nil {
		return classifyRPC(method, rr.Error)
	}
	if out != nil && len(rr.Result) > 0 {
		if err := json.Unmarshal(rr.Result, out); err != nil {
			return channels.Permanent(fmt.Errorf("signal: %s: decoding the result: %w", method, err))
		}
	}
	return nil
}

const maxRPCBody = 4 << 20

func classifyHTTP(method string, resp *http.Response, raw []byte) error {
	he := &httpError{Status: resp.StatusCode, Body: oneLine(string(raw), 200)}
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		if d, ok := retryAfter(resp.Header.Get("Retry-After")); ok {
			return &channels.RateLimitError{RetryAfter: d, Err: fmt.Errorf("signal: %s: %w", method, he)}
		}
		if resp.StatusCode == http.StatusTooManyRequests {
			return &channels.RateLimitError{RetryAfter: defaultRateLimitWait, Err: fmt.Errorf("signal: %s: %w", method, he)}
		}
		return fmt.Errorf("signal: %s: %w", method, he)
	case http.StatusMisdirectedRequest:
		return channels.Permanent(fmt.Errorf("signal: %s: %w (hint: signal-cli only accepts the host it listens on, e.g. 127.0.0.1 or localhost, in httpUrl)", method, he))
	case http.StatusUnauthorized, http.StatusForbidden:
		return channels.Permanent(fmt.Errorf("signal: %s: %w (hint: a proxy in front of signal-cli refuses the request; signal-cli itself has no authentication)", method, he))
	}
	if resp.StatusCode >= 400 && resp.StatusCode < 500 {
		return channels.Permanent(fmt.Errorf("signal: %s: %w", method, he))
	}
	return fmt.Errorf("signal: %s: %w", method, he)
}

// classifyRPC maps signal-cli's error codes. A rate limit carries the
// wait in data.response.results[].retryAfterSeconds (the send result that
// failed); an I/O error between signal-cli and the Signal servers is worth
// retrying; everything else (unknown recipient, not a group member,
// untrusted key, bad parameters, internal errors) is permanent.
func classifyRPC(method string, e *rpcError) error {
	err := fmt.Errorf("signal: %s: %w", method, e)
	switch e.Code {
	case codeRateLimit:
		return &channels.RateLimitError{RetryAfter: rateLimitWait(e.Data), Err: err}
	case codeIOError:
		return err
	case codeInvalidParams:
		if strings.Contains(e.Message, "account") {
			return channels.Permanent(fmt.Errorf("%w (hint: the account must be registered or linked in signal-cli: `signal-cli -a <number> register` or `signal-cli link`)", err))
		}
	case codeUntrustedKey:
		return channels.Permanent(fmt.Errorf("%w (hint: trust the recipient's new safety number: `signal-cli -a <number> trust -a <recipient>`)", err))
	}
	return channels.Permanent(err)
}

func rateLimitWait(data json.RawMessage) time.Duration {
	var d struct {
		Response struct {
			Results []struct {
				Type              string `json:"type"`
				RetryAfterSeconds *int64 `json:"retryAfterSeconds"`
			} `json:"results"`
		} `json:"response"`
	}
	if len(data) == 0 || json.Unmarshal(data, &d) != nil {
		return defaultRateLimitWait
	}
	var longest time.Duration
	for _, r := range d.Response.Results {
		if r.RetryAfterSeconds != nil && *r.RetryAfterSeconds > 0 && *r.RetryAfterSeconds < 1<<31 {
			longest = max(longest, time.Duration(*r.RetryAfterSeconds)*time.Second)
		}
	}
	if longest == 0 {
		return defaultRateLimitWait
	}
	return longest
}

// retryAfter parses Retry-After as seconds or an HTTP date.
func retryAfter(v string) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 32); err == nil && n >= 0 {
		return time.Duration(n) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0), true
	}
	return 0, false
}

// oneLine folds s to one line of at most n bytes, for error messages.
func oneLine(s string, n int) string {
	s = strings.ToValidUTF8(strings.Join(strings.Fields(s), " "), "\uFFFD")
	if len(s) > n {
		s = strings.ToValidUTF8(s[:n], "") + "…"
	}
	return s
}

// isRPCCode reports whether err carries a JSON-RPC error with code.
func isRPCCode(err error, code int) bool {
	var re *rpcError
	return errors.As(err, &re) && re.Code == code
}
