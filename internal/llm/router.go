package llm

// The Router is the only place that retries model calls. Its guarantees:
//   - a retryable failure (*APIError with Retryable) is retried on the same
//     model with exponential backoff and full jitter, or after exactly the
//     server's Retry-After when that is given and at most MaxDelay;
//   - a Retry-After longer than MaxDelay, a non-retryable failure (400, 401,
//     403, 404, malformed responses, …) or exhausted retries fail over to
//     the next model, in the order given;
//   - once any delta of an attempt has reached the caller, that attempt's
//     failure is returned as is: the caller has shown partial output, and a
//     silent retry would show it twice;
//   - cancelling the context stops everything, including a backoff sleep;
//   - when every model fails, the error names each model tried with its last
//     error, one line each.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"time"
)

// Model is one configured model with the provider that serves it.
type Model struct {
	Ref           string // "provider/model"
	Provider      Provider
	ProviderID    string
	ModelID       string
	MaxTokens     int     // used when a request leaves MaxTokens 0
	ContextWindow int     // tokens
	CostInput     float64 // USD per million input tokens
	CostOutput    float64 // USD per million output tokens
}

// RouterOptions tune retries. The zero value is the defaults.
type RouterOptions struct {
	// MaxRetries is how many times a retryable failure is retried on one
	// model before failing over (so MaxRetries+1 attempts). 0 means the
	// default, 3; a negative value means no retries.
	MaxRetries int
	// BaseDelay is the backoff before the first retry (default 500ms); it
	// doubles per retry, and the actual sleep is uniformly drawn from
	// [0, that] (full jitter).
	BaseDelay time.Duration
	// MaxDelay caps every sleep (default 30s). A Retry-After longer than
	// this is not waited out: the router fails over instead.
	MaxDelay time.Duration
	// Sleep waits for d or until ctx is done (tests replace it).
	Sleep func(ctx context.Context, d time.Duration) error
	// Rand returns a number in [0, 1) for jitter (tests replace it).
	Rand func() float64
}

const (
	defaultMaxRetries = 3
	defaultBaseDelay  = 500 * time.Millisecond
	defaultMaxDelay   = 30 * time.Second
)

// Router calls a primary model and falls back to others. It holds no
// mutable state and is safe for concurrent use.
type Router struct {
	models []Model
	o      RouterOptions
}

// NewRouter returns a router over models: models[0] is the primary, the
// rest are fallbacks in order.
func NewRouter(models []Model, o RouterOptions) *Router {
	switch {
	case o.MaxRetries == 0:
		o.MaxRetries = defaultMaxRetries
	case o.MaxRetries < 0:
		o.MaxRetries = 0
	}
	if o.BaseDelay <= 0 {
		o.BaseDelay = defaultBaseDelay
	}
	if o.MaxDelay <= 0 {
		o.MaxDelay = defaultMaxDelay
	}
	if o.Sleep == nil {
		o.Sleep = sleepCtx
	}
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
	return &Router{models: append([]Model(nil), models...), o: o}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// ModelFailure is one model's part in a RouterError.
type ModelFailure struct {
	Ref      string
	Attempts int
	Err      error // the last error
}

// RouterError is returned when every model failed. errors.As finds each
// model's last error through it (an *APIError, say).
type RouterError struct {
	Failures []ModelFailure
}

func (e *RouterError) Error() string {
	var b strings.Builder
	b.WriteString("llm.Router.Chat: every model failed:")
	for _, f := range e.Failures {
		msg := strings.Join(strings.Fields(f.Err.Error()), " ")
		fmt.Fprintf(&b, "\n  %s (%d attempt%s): %s", f.Ref, f.Attempts, plural(f.Attempts), msg)
	}
	return b.String()
}

// Unwrap returns each model's last error.
func (e *RouterError) Unwrap() []error {
	errs := make([]error, len(e.Failures))
	for i, f := range e.Failures {
		errs[i] = f.Err
	}
	return errs
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// ErrPartialOutput marks a failure after some of the response had already
// been streamed to the caller; the router neither retried nor failed over.
var ErrPartialOutput = errors.New("the response broke off after partial output")

// Chat sends req to the primary model, retrying and failing over as the
// type documents. req.Model is set to each model's ModelID, and
// req.MaxTokens to the model's MaxTokens when it is 0. It returns the
// response with the model that produced it; on failure the Model is the
// last one tried (zero when none was).
func (r *Router) Chat(ctx context.Context, req Request, onDelta func(Delta)) (*Response, Model, error) {
	if len(r.models) == 0 {
		return nil, Model{}, errors.New("llm.Router.Chat: no models configured (hint: set agents.defaults.model)")
	}
	var failures []ModelFailure
	var last Model
	for _, m := range r.models {
		if err := ctx.Err(); err != nil {
			return nil, last, fmt.Errorf("llm.Router.Chat: %w", context.Cause(ctx))
		}
		last = m
		resp, attempts, err := r.try(ctx, m, req, onDelta)
		if err == nil {
			return resp, m, nil
		}
		if ctx.Err() != nil {
			return nil, m, fmt.Errorf("llm.Router.Chat: %s: %w", m.Ref, context.Cause(ctx))
		}
		if errors.Is(err, ErrPartialOutput) {
			return nil, m, fmt.Errorf("llm.Router.Chat: %w", err)
		}
		failures = append(failures, ModelFailure{Ref: m.Ref, Attempts: attempts, Err: err})
	}
	return nil, last, &RouterError{Failures: failures}
}

// try runs the attempts on one model. A context error or ErrPartialOutput
// ends the whole call; any other error means: fail over.
func (r *Router) try(ctx context.Context, m Model, req Request, onDelta func(Delta)) (*Response, int, error) {
	if m.Provider == nil {
		return nil, 0, fmt.Errorf("%s: no provider", m.Ref)
	}
	req.Model = m.ModelID
	if req.MaxTokens == 0 {
		req.MaxTokens = m.MaxTokens
	}
	for attempt := 0; ; attempt++ {
		var delivered atomic.Bool
		var fwd func(Delta)
		if onDelta != nil {
			fwd = func(d Delta) {
				delivered.Store(true)
				onDelta(d)
			}
		}
		resp, err := m.Provider.Chat(ctx, req, fwd)
		if err == nil && resp == nil {
			err = &APIError{Provider: m.ProviderID, Message: "provider returned neither a response nor an error"}
		}
		if err == nil {
			return resp, attempt + 1, nil
		}
		if ctx.Err() != nil {
			return nil, attempt + 1, ctx.Err()
		}
		if delivered.Load() {
			return nil, attempt + 1, fmt.Errorf("%s: %w: %w", m.Ref, ErrPartialOutput, err)
		}
		var ae *APIError
		if !errors.As(err, &ae) || !ae.Retryable {
			return nil, attempt + 1, err
		}
		if ae.RetryAfter > r.o.MaxDelay {
			return nil, attempt + 1, fmt.Errorf("%w (Retry-After %s exceeds the %s limit)", err, ae.RetryAfter, r.o.MaxDelay)
		}
		if attempt >= r.o.MaxRetries {
			return nil, attempt + 1, err
		}
		d := ae.RetryAfter
		if d <= 0 {
			d = r.backoff(attempt)
		}
		if err := r.o.Sleep(ctx, d); err != nil {
			return nil, attempt + 1, err
		}
	}
}

// backoff is full jitter over BaseDelay·2^attempt, capped at MaxDelay.
func (r *Router) backoff(attempt int) time.Duration {
	ceil := float64(r.o.BaseDelay) * math.Pow(2, float64(attempt))
	if ceil > float64(r.o.MaxDelay) || math.IsInf(ceil, 0) {
		ceil = float64(r.o.MaxDelay)
	}
	f := r.o.Rand()
	if f < 0 || f >= 1 || math.IsNaN(f) {
		f = 0.5
	}
	return time.Duration(f * ceil)
}

// Cost is what u costs on m, in USD. Cached input (read or written) is
// priced as input: models carry one input price, and a budget should rather
// overestimate than let spending through.
func Cost(m Model, u Usage) float64 {
	in := float64(u.InputTokens + u.CacheReadTokens + u.CacheWriteTokens)
	return in*m.CostInput/1e6 + float64(u.OutputTokens)*m.CostOutput/1e6
}
