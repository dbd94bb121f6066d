package llm

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/talonclaw/talon/internal/testutil/fakellm"
)

// scripted is a Provider that plays a list of steps, one per call.
type scripted struct {
	mu    sync.Mutex
	steps []func(onDelta func(Delta)) (*Response, error)
	reqs  []Request
}

func (s *scripted) Chat(ctx context.Context, req Request, onDelta func(Delta)) (*Response, error) {
	s.mu.Lock()
	s.reqs = append(s.reqs, req)
	if len(s.steps) == 0 {
		s.mu.Unlock()
		return nil, errors.New("scripted: no more steps")
	}
	step := s.steps[0]
	s.steps = s.steps[1:]
	s.mu.Unlock()
	return step(onDelta)
}

func (s *scripted) calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.reqs)
}

func ok(text string) func(func(Delta)) (*Response, error) {
	return func(onDelta func(Delta)) (*Response, error) {
		if onDelta != nil {
			onDelta(Delta{Text: text})
		}
		return &Response{Message: Message{Role: RoleAssistant, Content: text}, StopReason: StopEndTurn}, nil
	}
}

func fail(err error) func(func(Delta)) (*Response, error) {
	return func(func(Delta)) (*Response, error) { return nil, err }
}

func status(code int) *APIError {
	return &APIError{Provider: "p", Status: code, Message: "scripted", Retryable: retryableStatus(code)}
}

// sleeps records the router's sleeps instead of sleeping.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return ctx.Err()
}

func testRouter(sl *sleeps, models ...Model) *Router {
	return NewRouter(models, RouterOptions{MaxRetries: 2, BaseDelay: 100 * time.Millisecond, MaxDelay: 10 * time.Second,
		Sleep: sl.sleep, Rand: func() float64 { return 0.5 }})
}

func model(ref string, p Provider) Model {
	prov, id, _ := strings.Cut(ref, "/")
	return Model{Ref: ref, Provider: p, ProviderID: prov, ModelID: id, MaxTokens: 321}
}

var userHi = Request{Messages: []Message{{Role: RoleUser, Content: "hi"}}}

func TestRouterRetryThenSuccess(t *testing.T) {
	p := &scripted{steps: []func(func(Delta)) (*Response, error){fail(status(500)), fail(status(429)), ok("fine")}}
	sl := &sleeps{}
	resp, m, err := testRouter(sl, model("a/one", p)).Chat(context.Background(), userHi, nil)
	if err != nil || resp.Message.Content != "fine" || m.Ref != "a/one" {
		t.Fatalf("resp %+v model %v err %v", resp, m.Ref, err)
	}
	if p.calls() != 3 {
		t.Fatalf("%d calls", p.calls())
	}
	// Full jitter at 0.5 over 100ms·2^n.
	if len(sl.d) != 2 || sl.d[0] != 50*time.Millisecond || sl.d[1] != 100*time.Millisecond {
		t.Fatalf("sleeps %v", sl.d)
	}
	// The router names the model and fills max tokens.
	for _, r := range p.reqs {
		if r.Model != "one" || r.MaxTokens != 321 {
			t.Fatalf("request %+v", r)
		}
	}
}

func TestRouterKeepsRequestMaxTokens(t *testing.T) {
	p := &scripted{steps: []func(func(Delta)) (*Response, error){ok("x")}}
	req := userHi
	req.MaxTokens = 7
	if _, _, err := testRouter(&sleeps{}, model("a/one", p)).Chat(context.Background(), req, nil); err != nil {
		t.Fatal(err)
	}
	if p.reqs[0].MaxTokens != 7 {
		t.Fatalf("max tokens %d", p.reqs[0].MaxTokens)
	}
}

func TestRouterBackoffIsCapped(t *testing.T) {
	r := NewRouter(nil, RouterOptions{BaseDelay: time.Second, MaxDelay: 5 * time.Second, Rand: func() float64 { return 0.999999 }})
	for attempt, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second} {
		if got := r.backoff(attempt); got > want || got < want*99/100 {
			t.Errorf("attempt %d: %v, want about %v", attempt, got, want)
		}
	}
	if got := r.backoff(5000); got > 5*time.Second {
		t.Fatalf("huge attempt: %v", got)
	}
	r = NewRouter(nil, RouterOptions{BaseDelay: time.Second, Rand: func() float64 { return 0 }})
	if got := r.backoff(3); got != 0 {
		t.Fatalf("jitter 0: %v", got)
	}
}

func TestRouterHonoursRetryAfter(t *testing.T) {
	e := status(429)
	e.RetryAfter = 2 * time.Second
	p := &scripted{steps: []func(func(Delta)) (*Response, error){fail(e), ok("after wait")}}
	sl := &sleeps{}
	resp, _, err := testRouter(sl, model("a/one", p)).Chat(context.Background(), userHi, nil)
	if err != nil || resp.Message.Content != "after wait" {
		t.Fatalf("resp %+v err %v", resp, err)
	}
	if len(sl.d) != 1 || sl.d[0] != 2*time.Second {
		t.Fatalf("sleeps %v, want exactly the Retry-After", sl.d)
	}
}

func TestRouterLongRetryAfterFailsOver(t *testing.T) {
	e := status(429)
	e.RetryAfter = time.Hour
	p1 := &scripted{steps: []func(func(Delta)) (*Response, error){fail(e)}}
	p2 := &scripted{steps: []func(func(Delta)) (*Response, error){ok("backup")}}
	sl := &sleeps{}
	resp, m, err := testRouter(sl, model("a/one", p1), model("b/two", p2)).Chat(context.Background(), userHi, nil)
	if err != nil || resp.Message.Content != "backup" || m.Ref != "b/two" {
		t.Fatalf("resp %+v model %s err %v", resp, m.Ref, err)
	}
	if p1.calls() != 1 || len(sl.d) != 0 {
		t.Fatalf("primary called %d times, sleeps %v", p1.calls(), sl.d)
	}
	if p2.reqs[0].Model != "two" {
		t.Fatalf("fallback got model %q", p2.reqs[0].Model)
	}
}

func TestRouterFailoverOnNonRetryable(t *testing.T) {
	for _, code := range []int{400, 401, 403, 404} {
		p1 := &scripted{steps: []func(func(Delta)) (*Response, error){fail(status(code))}}
		p2 := &scripted{steps: []func(func(Delta)) (*Response, error){ok("backup")}}
		sl := &sleeps{}
		resp, m, err := testRouter(sl, model("a/one", p1), model("b/two", p2)).Chat(context.Background(), userHi, nil)
		if err != nil || resp.Message.Content != "backup" || m.Ref != "b/two" || p1.calls() != 1 || len(sl.d) != 0 {
			t.Fatalf("%d: resp %+v model %s err %v, primary calls %d, sleeps %v", code, resp, m.Ref, err, p1.calls(), sl.d)
		}
	}
	// An error that is not an *APIError is not retried either.
	p1 := &scripted{steps: []func(func(Delta)) (*Response, error){fail(errors.New("request building failed"))}}
	p2 := &scripted{steps: []func(func(Delta)) (*Response, error){ok("backup")}}
	if _, m, err := testRouter(&sleeps{}, model("a/one", p1), model("b/two", p2)).Chat(context.Background(), userHi, nil); err != nil || m.Ref != "b/two" || p1.calls() != 1 {
		t.Fatalf("model %s err %v calls %d", m.Ref, err, p1.calls())
	}
}

func TestRouterFailoverAfterPersistent500(t *testing.T) {
	p1 := &scripted{steps: []func(func(Delta)) (*Response, error){fail(status(500)), fail(status(502)), fail(status(503)), ok("too late")}}
	p2 := &scripted{steps: []func(func(Delta)) (*Response, error){ok("backup")}}
	sl := &sleeps{}
	resp, m, err := testRouter(sl, model("a/one", p1), model("b/two", p2)).Chat(context.Background(), userHi, nil)
	if err != nil || resp.Message.Content != "backup" || m.Ref != "b/two" {
		t.Fatalf("resp %+v model %s err %v", resp, m.Ref, err)
	}
	if p1.calls() != 3 || len(sl.d) != 2 {
		t.Fatalf("primary calls %d (want 1+MaxRetries=3), sleeps %v", p1.calls(), sl.d)
	}
}

func TestRouterNoRetryAfterPartialStream(t *testing.T) {
	partial := func(onDelta func(Delta)) (*Response, error) {
		onDelta(Delta{Text: "Half a sent"})
		return nil, status(500)
	}
	p1 := &scripted{steps: []func(func(Delta)) (*Response, error){partial, ok("retried")}}
	p2 := &scripted{steps: []func(func(Delta)) (*Response, error){ok("backup")}}
	var shown []string
	_, m, err := testRouter(&sleeps{}, model("a/one", p1), model("b/two", p2)).Chat(context.Background(), userHi, func(d Delta) { shown = append(shown, d.Text) })
	if !errors.Is(err, ErrPartialOutput) || m.Ref != "a/one" {
		t.Fatalf("model %s err %v", m.Ref, err)
	}
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 500 || !strings.Contains(err.Error(), "a/one") {
		t.Fatalf("err %v does not carry the cause", err)
	}
	if p1.calls() != 1 || p2.calls() != 0 || len(shown) != 1 {
		t.Fatalf("calls %d/%d, shown %q", p1.calls(), p2.calls(), shown)
	}
	// Streaming that fails before any delta is retried as usual.
	p1 = &scripted{steps: []func(func(Delta)) (*Response, error){fail(status(500)), ok("second try")}}
	shown = nil
	resp, _, err := testRouter(&sleeps{}, model("a/one", p1)).Chat(context.Background(), userHi, func(d Delta) { shown = append(shown, d.Text) })
	if err != nil || resp.Message.Content != "second try" || strings.Join(shown, "") != "second try" {
		t.Fatalf("resp %+v err %v shown %q", resp, err, shown)
	}
}

func TestRouterContextCancelStopsEverything(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	p1 := &scripted{steps: []func(func(Delta)) (*Response, error){func(func(Delta)) (*Response, error) {
		cancel()
		return nil, status(503)
	}, ok("never")}}
	p2 := &scripted{steps: []func(func(Delta)) (*Response, error){ok("never")}}
	_, _, err := testRouter(&sleeps{}, model("a/one", p1), model("b/two", p2)).Chat(ctx, userHi, nil)
	if !errors.Is(err, context.Canceled) || p1.calls() != 1 || p2.calls() != 0 {
		t.Fatalf("err %v, calls %d/%d", err, p1.calls(), p2.calls())
	}

	// Cancelled during the backoff sleep (real sleep this time).
	ctx, cancel = context.WithCancel(context.Background())
	p1 = &scripted{steps: []func(func(Delta)) (*Response, error){fail(status(503)), ok("never")}}
	p2 = &scripted{steps: []func(func(Delta)) (*Response, error){ok("never")}}
	r := NewRouter([]Model{model("a/one", p1), model("b/two", p2)}, RouterOptions{BaseDelay: time.Hour, MaxDelay: time.Hour, Rand: func() float64 { return 0.9 }})
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, _, err = r.Chat(ctx, userHi, nil)
	if !errors.Is(err, context.Canceled) || p1.calls() != 1 || p2.calls() != 0 || time.Since(start) > 10*time.Second {
		t.Fatalf("err %v, calls %d/%d after %v", err, p1.calls(), p2.calls(), time.Since(start))
	}

	// Already cancelled: no call at all.
	p1 = &scripted{steps: []func(func(Delta)) (*Response, error){ok("never")}}
	if _, _, err := testRouter(&sleeps{}, model("a/one", p1)).Chat(ctx, userHi, nil); !errors.Is(err, context.Canceled) || p1.calls() != 0 {
		t.Fatalf("err %v calls %d", err, p1.calls())
	}
}

func TestRouterCombinedError(t *testing.T) {
	p1 := &scripted{steps: []func(func(Delta)) (*Response, error){fail(status(401))}}
	p2 := &scripted{steps: []func(func(Delta)) (*Response, error){fail(status(500)), fail(status(500)), fail(&APIError{Provider: "q", Status: 503, Message: "multi\nline  message", Retryable: true})}}
	_, m, err := testRouter(&sleeps{}, model("a/one", p1), model("b/two", p2), Model{Ref: "c/none"}).Chat(context.Background(), userHi, nil)
	var re *RouterError
	if !errors.As(err, &re) || len(re.Failures) != 3 || m.Ref != "c/none" {
		t.Fatalf("err %v model %s", err, m.Ref)
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 4 {
		t.Fatalf("error is not one line per model:\n%s", err)
	}
	for i, want := range []string{"a/one (1 attempt): p: HTTP 401: scripted", "b/two (3 attempts): q: HTTP 503: multi line message", "c/none (0 attempts): c/none: no provider"} {
		if strings.TrimSpace(lines[i+1]) != want {
			t.Errorf("line %d = %q, want %q", i+1, strings.TrimSpace(lines[i+1]), want)
		}
	}
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != 401 {
		t.Fatalf("errors.As APIError: %+v", ae)
	}
}

func TestRouterNoModels(t *testing.T) {
	if _, _, err := NewRouter(nil, RouterOptions{}).Chat(context.Background(), userHi, nil); err == nil {
		t.Fatal("no error without models")
	}
}

func TestRouterDefaults(t *testing.T) {
	r := NewRouter(nil, RouterOptions{})
	if r.o.MaxRetries != 3 || r.o.BaseDelay != 500*time.Millisecond || r.o.MaxDelay != 30*time.Second || r.o.Sleep == nil || r.o.Rand == nil {
		t.Fatalf("defaults %+v", r.o)
	}
	if r := NewRouter(nil, RouterOptions{MaxRetries: -1}); r.o.MaxRetries != 0 {
		t.Fatalf("negative MaxRetries gives %d retries", r.o.MaxRetries)
	}
}

// TestRouterWithOpenAI runs the real provider against the fake: a 401 on
// the primary fails over, a 429 with Retry-After is retried after it.
func TestRouterWithOpenAI(t *testing.T) {
	fake := fakellm.New(t)
	p := newTestOpenAI(t, fake.URL, "k")
	sl := &sleeps{}
	r := testRouter(sl, model("local/primary", p), model("local/backup", p))

	fake.Script(fakellm.Reply{Status: 401}, fakellm.Reply{Text: "from backup"})
	resp, m, err := r.Chat(ctxT(t), userHi, func(Delta) {})
	if err != nil || resp.Message.Content != "from backup" || m.Ref != "local/backup" {
		t.Fatalf("resp %+v model %s err %v", resp, m.Ref, err)
	}
	reqs := fake.Requests()
	if len(reqs) != 2 || reqs[0].Model != "primary" || reqs[1].Model != "backup" || reqs[1].MaxTokens != 321 {
		t.Fatalf("requests %+v", reqs)
	}

	fake.Script(fakellm.Reply{Status: 429, RetryAfter: "3"}, fakellm.Reply{Text: "later"})
	resp, m, err = r.Chat(ctxT(t), userHi, nil)
	if err != nil || resp.Message.Content != "later" || m.Ref != "local/primary" || len(sl.d) != 1 || sl.d[0] != 3*time.Second {
		t.Fatalf("resp %+v model %s err %v sleeps %v", resp, m.Ref, err, sl.d)
	}
}

func TestCost(t *testing.T) {
	m := Model{CostInput: 3, CostOutput: 15}
	got := Cost(m, Usage{InputTokens: 1000, OutputTokens: 2000, CacheReadTokens: 500, CacheWriteTokens: 100})
	want := 1600*3.0/1e6 + 2000*15.0/1e6
	if math.Abs(got-want) > 1e-15 {
		t.Fatalf("cost %v, want %v", got, want)
	}
	if Cost(Model{}, Usage{InputTokens: 1e6}) != 0 {
		t.Fatal("free model costs")
	}
}
