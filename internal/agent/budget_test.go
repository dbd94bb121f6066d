package agent

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/llm"
	"github.com/talonclaw/talon/internal/policy"
	"github.com/talonclaw/talon/internal/store"
	"github.com/talonclaw/talon/internal/testutil/fakellm"
)

// The budget tests price the model at $0 input and $1 per million output
// tokens with maxTokens 1000, so one call's worst case is exactly $0.001
// whatever the prompt, and a daily budget of $0.002 is worth exactly two.
const (
	worstCallUSD = 0.001
	realOutput   = 100 // tokens the fake reports per call: $0.0001
)

// budgetAgent is an agent on the database at db, with the model served by
// the fake at url and a daily budget of perDayUSD.
func budgetAgent(t testing.TB, db, url string, perDayUSD float64, now func() time.Time) (*Agent, *store.Store) {
	t.Helper()
	st, err := store.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg := config.Default()
	cfg.Models.Providers = map[string]config.Provider{"local": {API: "openai-completions", BaseURL: url,
		Models: []config.ModelDef{{ID: "m", ContextWindow: 128000, MaxTokens: 1000, Cost: config.ModelCost{Input: 0, Output: 1}}}}}
	cfg.Agents.Defaults.Model = "local/m"
	cfg.Agents.Defaults.MaxConcurrent = 16
	cfg.Budgets.PerDayUSD = perDayUSD
	ws := filepath.Join(t.TempDir(), "workspace")
	if err := EnsureWorkspace(ws); err != nil {
		t.Fatal(err)
	}
	a, err := New(Options{Config: func() *config.Config { return cfg }, Store: st, Models: &ConfigModels{}, Workspace: ws, Now: now,
		Router: llm.RouterOptions{MaxRetries: -1}})
	if err != nil {
		t.Fatal(err)
	}
	return a, st
}

// heldFake is a fake model that counts requests and holds every answer
// until release is closed.
func heldFake(t *testing.T) (*fakellm.Server, chan struct{}) {
	fake := fakellm.New(t)
	release := make(chan struct{})
	fake.Default = fakellm.Reply{Text: "ok", Hold: release, Usage: &fakellm.Usage{Prompt: 500, Completion: realOutput}}
	return fake, release
}

// releaseWhenSettled closes release once every one of n turns has either
// reached the fake (and is held there) or ended (refused), so that all n
// have passed the budget check before any call finishes, with no timing
// involved. It fails the test if that takes more than a generous minute.
func releaseWhenSettled(t *testing.T, fake *fakellm.Server, ended *atomic.Int32, n int, release chan struct{}) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for fake.Count()+int(ended.Load()) < n {
		if time.Now().After(deadline) {
			close(release)
			t.Fatalf("after a minute, %d requests reached the model and %d turns ended, of %d", fake.Count(), ended.Load(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(release)
}

// checkSpendAfter checks the effect in the database: what was spent is the
// real cost of the calls the model received, and nothing is still held.
func checkSpendAfter(t *testing.T, st *store.Store, calls int) {
	t.Helper()
	spent, err := st.Spend(context.Background(), store.SpendFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if want := float64(calls) * realOutput / 1e6; math.Abs(spent-want) > 1e-12 {
		t.Errorf("spent $%v after %d calls, want $%v (the real cost, not the worst case)", spent, calls, want)
	}
	if usd, _, n, err := st.Reserved(context.Background(), time.Now()); err != nil || n != 0 || usd != 0 {
		t.Errorf("still reserved after every turn ended: $%v in %d calls (%v)", usd, n, err)
	}
}

// TestInvariant11_ConcurrentTurnsReserveBudget: eight turns of one agent
// start together against a daily budget worth exactly two worst-case calls.
// Only two reach the model; six are refused with the budget's message.
func TestInvariant11_ConcurrentTurnsReserveBudget(t *testing.T) {
	fake, release := heldFake(t)
	a, st := budgetAgent(t, filepath.Join(t.TempDir(), "talon.db"), fake.URL, 2*worstCallUSD, nil)
	const n = 8
	var ended atomic.Int32
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			defer ended.Add(1)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			_, errs[i] = a.Run(ctx, TurnRequest{Trust: policy.TrustOwner, SessionKey: fmt.Sprintf("agent:main:cli:direct:u%d", i), Text: "spend"})
		})
	}
	releaseWhenSettled(t, fake, &ended, n, release)
	wg.Wait()
	ok, refused := 0, 0
	for _, err := range errs {
		var be *BudgetError
		switch {
		case err == nil:
			ok++
		case errors.As(err, &be) && be.Key == "budgets.perDayUsd" && strings.Contains(be.Message, "not called"):
			refused++
		default:
			t.Errorf("turn failed: %v", err)
		}
	}
	if got := fake.Count(); got > 2 {
		t.Fatalf("%d requests reached the model; a daily budget worth two worst-case calls allows 2", got)
	}
	if fake.Count() != 2 || ok != 2 || refused != n-2 {
		t.Errorf("model requests %d, turns answered %d, refused %d; want 2, 2, %d", fake.Count(), ok, refused, n-2)
	}
	checkSpendAfter(t, st, fake.Count())
}

// Environment of a child process running one turn (see TestBudgetChild).
const (
	childDB     = "TALON_TEST_BUDGET_DB"
	childURL    = "TALON_TEST_BUDGET_URL"
	childKey    = "TALON_TEST_BUDGET_SESSION"
	childPerDay = "TALON_TEST_BUDGET_PER_DAY"
)

// TestBudgetChild is not a test: it is the child process of the
// cross-process budget tests. It runs one turn on the shared database and
// prints how it ended.
func TestBudgetChild(t *testing.T) {
	db := os.Getenv(childDB)
	if db == "" {
		t.Skip("helper process for the cross-process budget tests")
	}
	limit, err := strconv.ParseFloat(os.Getenv(childPerDay), 64)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := budgetAgent(t, db, os.Getenv(childURL), limit, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, err = a.Run(ctx, TurnRequest{Trust: policy.TrustOwner, SessionKey: os.Getenv(childKey), Text: "spend"})
	var be *BudgetError
	switch {
	case err == nil:
		fmt.Println("TURN ok")
	case errors.As(err, &be):
		fmt.Println("TURN refused " + be.Key)
	default:
		fmt.Println("TURN error " + strings.ReplaceAll(err.Error(), "\n", " "))
	}
}

// startChild runs TestBudgetChild in a new process of this test binary.
func startChild(t *testing.T, db, url, session string, perDay float64) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestBudgetChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), childDB+"="+db, childURL+"="+url, childKey+"="+session,
		childPerDay+"="+strconv.FormatFloat(perDay, 'g', -1, 64))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, bufio.NewScanner(out)
}

// TestInvariant11_ConcurrentProcessesReserveBudget: eight processes, each
// its own agent and store on the same database file (eight `talon agent
// --local` runs on one state directory), start a turn together against a
// daily budget worth two worst-case calls. The model receives two requests.
func TestInvariant11_ConcurrentProcessesReserveBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("starts eight processes")
	}
	fake, release := heldFake(t)
	db := filepath.Join(t.TempDir(), "talon.db")
	_, st := budgetAgent(t, db, fake.URL, 2*worstCallUSD, nil) // creates the schema
	const n = 8
	var ended atomic.Int32
	var wg sync.WaitGroup
	results := make([]string, n)
	for i := range n {
		cmd, sc := startChild(t, db, fake.URL, fmt.Sprintf("agent:main:cli:direct:p%d", i), 2*worstCallUSD)
		wg.Go(func() {
			defer ended.Add(1)
			for sc.Scan() {
				if line, ok := strings.CutPrefix(sc.Text(), "TURN "); ok {
					results[i] = line
				}
			}
			if err := cmd.Wait(); err != nil {
				t.Errorf("child %d: %v", i, err)
			}
		})
	}
	releaseWhenSettled(t, fake, &ended, n, release)
	wg.Wait()
	ok, refused := 0, 0
	for i, r := range results {
		switch r {
		case "ok":
			ok++
		case "refused budgets.perDayUsd":
			refused++
		default:
			t.Errorf("child %d: %q", i, r)
		}
	}
	if got := fake.Count(); got > 2 {
		t.Fatalf("%d requests reached the model from %d processes; a daily budget worth two worst-case calls allows 2", got, n)
	}
	if fake.Count() != 2 || ok != 2 || refused != n-2 {
		t.Errorf("model requests %d, turns answered %d, refused %d; want 2, 2, %d", fake.Count(), ok, refused, n-2)
	}
	checkSpendAfter(t, st, fake.Count())
}

// TestInvariant11_KilledProcessReservationExpires: a process killed while
// its model call is in flight leaves its reservation behind. It counts
// (another process is refused while it lasts) but not forever: once its
// expiry (turn timeout plus grace) has passed, turns reach the model again.
func TestInvariant11_KilledProcessReservationExpires(t *testing.T) {
	fake, _ := heldFake(t) // never released: the child's call hangs
	db := filepath.Join(t.TempDir(), "talon.db")
	var clock atomic.Int64
	clock.Store(time.Now().UnixMilli())
	now := func() time.Time { return time.UnixMilli(clock.Load()) }
	a, st := budgetAgent(t, db, fake.URL, worstCallUSD, now) // room for one call

	cmd, sc := startChild(t, db, fake.URL, "agent:main:cli:direct:child", worstCallUSD)
	go func() {
		for sc.Scan() {
		}
	}()
	deadline := time.Now().Add(time.Minute)
	for fake.Count() < 1 {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("the child's model call did not arrive within a minute")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	clock.Store(time.Now().UnixMilli()) // after the child reserved, by its clock
	if _, _, n, err := st.Reserved(context.Background(), now()); err != nil || n != 1 {
		t.Fatalf("reservations left by the killed process: %d (%v), want 1", n, err)
	}

	fake.Script(fakellm.Reply{Text: "ok", Usage: &fakellm.Usage{Prompt: 500, Completion: realOutput}})
	run := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, err := a.Run(ctx, TurnRequest{Trust: policy.TrustOwner, SessionKey: "agent:main:main", Text: "spend"})
		return err
	}
	var be *BudgetError
	if err := run(); !errors.As(err, &be) || fake.Count() != 1 {
		t.Fatalf("with the dead call's reservation held: err %v, model requests %d; want a refusal and 1", err, fake.Count())
	}
	if !strings.Contains(be.Message, "held by model calls in flight") {
		t.Errorf("the refusal does not say the budget is held by calls in flight: %q", be.Message)
	}
	timeout := time.Duration(config.Default().Agents.Defaults.TurnTimeoutSec) * time.Second
	clock.Add((timeout + reservationGrace + time.Second).Milliseconds())
	if err := run(); err != nil || fake.Count() != 2 {
		t.Fatalf("after the reservation expired: err %v, model requests %d; want the call made", err, fake.Count())
	}
	if _, _, n, _ := st.Reserved(context.Background(), time.UnixMilli(0)); n != 0 {
		t.Errorf("%d reservation rows left; the expired one should have been deleted", n)
	}
}

// TestInvariant11_SettleReplacesReservation: while a call is in flight its
// worst case is held and nothing is spent; afterwards the spend is exactly
// the call's real cost and nothing is held.
func TestInvariant11_SettleReplacesReservation(t *testing.T) {
	fake, release := heldFake(t)
	a, st := budgetAgent(t, filepath.Join(t.TempDir(), "talon.db"), fake.URL, 1, nil)
	done := make(chan error, 1)
	go func() {
		_, err := a.Run(context.Background(), TurnRequest{Trust: policy.TrustOwner, SessionKey: "agent:main:main", Text: "spend"})
		done <- err
	}()
	deadline := time.Now().Add(time.Minute)
	for fake.Count() < 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	usd, tokens, n, err := st.Reserved(context.Background(), time.Now())
	if err != nil || n != 1 || usd != worstCallUSD || tokens < 1000 {
		t.Errorf("in flight: reserved $%v, %d tokens, %d calls (%v); want $%v, over 1000 tokens, 1 call", usd, tokens, n, err, worstCallUSD)
	}
	if spent, _ := st.Spend(context.Background(), store.SpendFilter{}); spent != 0 {
		t.Errorf("in flight: spent $%v, want 0 (a reservation is not spend)", spent)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	checkSpendAfter(t, st, 1)
}

// TestInvariant11_FailedCallReleasesReservation: a call that fails, or is
// aborted in flight, gives its reservation back, so the next turn under a
// budget worth one call still reaches the model.
func TestInvariant11_FailedCallReleasesReservation(t *testing.T) {
	t.Run("error", func(t *testing.T) {
		fake := fakellm.New(t)
		a, st := budgetAgent(t, filepath.Join(t.TempDir(), "talon.db"), fake.URL, worstCallUSD, nil)
		fake.Script(fakellm.Reply{Status: 400, Text: "bad request"})
		if _, err := a.Run(context.Background(), TurnRequest{Trust: policy.TrustOwner, SessionKey: "agent:main:main", Text: "fail"}); err == nil || fake.Count() != 1 {
			t.Fatalf("err %v, model requests %d; want a failed call", err, fake.Count())
		}
		fake.Script(fakellm.Reply{Text: "ok", Usage: &fakellm.Usage{Prompt: 1, Completion: realOutput}})
		if _, err := a.Run(context.Background(), TurnRequest{Trust: policy.TrustOwner, SessionKey: "agent:main:main", Text: "again"}); err != nil || fake.Count() != 2 {
			t.Fatalf("after the failed call: err %v, model requests %d; want the call made", err, fake.Count())
		}
		checkSpendAfter(t, st, 1)
	})
	t.Run("aborted", func(t *testing.T) {
		fake, release := heldFake(t)
		defer close(release)
		a, st := budgetAgent(t, filepath.Join(t.TempDir(), "talon.db"), fake.URL, worstCallUSD, nil)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := a.Run(ctx, TurnRequest{Trust: policy.TrustOwner, SessionKey: "agent:main:main", Text: "hang"})
			done <- err
		}()
		deadline := time.Now().Add(time.Minute)
		for fake.Count() < 1 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
		if err := <-done; err == nil {
			t.Fatal("the aborted turn succeeded")
		}
		fake.Script(fakellm.Reply{Text: "ok", Usage: &fakellm.Usage{Prompt: 1, Completion: realOutput}})
		if _, err := a.Run(context.Background(), TurnRequest{Trust: policy.TrustOwner, SessionKey: "agent:main:main", Text: "again"}); err != nil || fake.Count() != 2 {
			t.Fatalf("after the aborted call: err %v, model requests %d; want the call made", err, fake.Count())
		}
		checkSpendAfter(t, st, 1)
	})
}

// TestInvariant11_WorstCaseOverBudgetIsRefused: with nothing spent, a call
// whose maxTokens alone could cost more than the budget left is refused
// before the model sees it, and the message says why and what to change.
func TestInvariant11_WorstCaseOverBudgetIsRefused(t *testing.T) {
	fake := fakellm.New(t)
	fake.ForbidRequests()
	a, _ := budgetAgent(t, filepath.Join(t.TempDir(), "talon.db"), fake.URL, worstCallUSD/2, nil)
	_, err := a.Run(context.Background(), TurnRequest{Trust: policy.TrustOwner, SessionKey: "agent:main:main", Text: "hi"})
	var be *BudgetError
	if !errors.As(err, &be) || be.Key != "budgets.perDayUsd" || fake.Count() != 0 {
		t.Fatalf("err %v, model requests %d", err, fake.Count())
	}
	for _, want := range []string{"would be exceeded", "$0.0010", "1000 output tokens", "local/m", "maxTokens", "talon config set budgets.perDayUsd", "not called"} {
		if !strings.Contains(be.Message, want) {
			t.Errorf("message lacks %q: %s", want, be.Message)
		}
	}
}

// TestZeroCostModelHoldsNothing: a model priced at $0 under USD budgets
// only is checked but reserves nothing, and its turns run.
func TestZeroCostModelHoldsNothing(t *testing.T) {
	fake, release := heldFake(t)
	a, st := budgetAgent(t, filepath.Join(t.TempDir(), "talon.db"), fake.URL, 0.01, nil)
	cfg := a.o.Config()
	cfg.Models.Providers["local"].Models[0].Cost = config.ModelCost{}
	done := make(chan error, 1)
	go func() {
		_, err := a.Run(context.Background(), TurnRequest{Trust: policy.TrustOwner, SessionKey: "agent:main:main", Text: "free"})
		done <- err
	}()
	deadline := time.Now().Add(time.Minute)
	for fake.Count() < 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if _, _, n, err := st.Reserved(context.Background(), time.Now()); err != nil || n != 0 {
		t.Errorf("a free call reserved something: %d rows (%v)", n, err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
