package channels

import (
	"sync"
	"time"

	"github.com/talonclaw/talon/internal/redact"
)

// Tracker keeps an adapter's Status; adapters embed one and call its
// methods as things happen. It is safe for concurrent use.
//
// Invariant 10: an error it records (Status.LastError, which
// channels.status shows) has passed the scrubber it was made with and
// redact.Redact, so no known secret, in any encoding, and no credential
// of a known format is in it.
type Tracker struct {
	scrub func(string) string
	mu    sync.Mutex
	s     Status
}

// NewTracker starts a tracker in StateStopped. scrub is the adapter's
// scrubber (see Scrubber); it must not be nil.
func NewTracker(channel, account, mode string, scrub func(string) string) *Tracker {
	return &Tracker{scrub: scrub, s: Status{Channel: channel, Account: account, Mode: mode, State: StateStopped}}
}

// Scrubber is the scrubber an adapter uses for its error texts, log lines
// and Tracker: the process's one scrubber when the adapter was given it
// (Options.Scrub, redact.LiveScrubber.Scrub, which knows every secret),
// or else one that knows the adapter's own credentials (tests, tools).
// Either way it is a redact.Scrubber: adapters keep no scrub code of
// their own.
func Scrubber(shared func(string) string, own ...redact.Known) func(string) string {
	if shared != nil {
		return shared
	}
	return redact.NewScrubber(own).Scrub
}

// Status returns a copy of the current status.
func (t *Tracker) Status() Status {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.s
}

// SetState moves to state; StateConnected records the time.
func (t *Tracker) SetState(state string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if state == StateConnected && t.s.State != StateConnected {
		t.s.ConnectedAt = time.Now()
	}
	if state == StateReconnecting {
		t.s.Reconnects++
	}
	t.s.State = state
}

// SetBot records who the bot is.
func (t *Tracker) SetBot(id, name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.s.BotID, t.s.BotName = id, name
}

// Error records the last error (nil is ignored).
func (t *Tracker) Error(err error) {
	if err == nil {
		return
	}
	msg := redact.Redact(t.scrub(err.Error()))
	t.mu.Lock()
	defer t.mu.Unlock()
	t.s.LastError = msg
	t.s.LastErrorAt = time.Now()
}

// Received, Sent and SendFailed count messages.
func (t *Tracker) Received() { t.mu.Lock(); t.s.Received++; t.mu.Unlock() }
func (t *Tracker) Sent()     { t.mu.Lock(); t.s.Sent++; t.mu.Unlock() }
func (t *Tracker) SendFailed(err error) {
	t.mu.Lock()
	t.s.SendErrors++
	t.mu.Unlock()
	t.Error(err)
}
