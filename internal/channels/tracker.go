package channels

import (
	"sync"
	"time"
)

// Tracker keeps an adapter's Status; adapters embed one and call its
// methods as things happen. It is safe for concurrent use.
type Tracker struct {
	mu sync.Mutex
	s  Status
}

// NewTracker starts a tracker in StateStopped.
func NewTracker(channel, account, mode string) *Tracker {
	return &Tracker{s: Status{Channel: channel, Account: account, Mode: mode, State: StateStopped}}
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
	t.mu.Lock()
	defer t.mu.Unlock()
	t.s.LastError = err.Error()
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
