package gateway

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/talonclaw/talon/internal/access"
	"github.com/talonclaw/talon/internal/channels"
	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/router"
	"github.com/talonclaw/talon/internal/store"
)

type fakeChannels struct {
	mu   sync.Mutex
	sent []string
}

func (f *fakeChannels) Status() []router.AccountStatus {
	return []router.AccountStatus{{Status: channels.Status{Channel: "telegram", Account: "default", State: channels.StateConnected, Received: 3}}}
}

func (f *fakeChannels) Notify(_ context.Context, ch, acct, chat, text string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, ch+"/"+acct+"/"+chat+": "+text)
	return nil
}

func TestInvariant3_PairingOverGateway(t *testing.T) {
	var st *store.Store
	chs := &fakeChannels{}
	tg := startGW(t, func(c *config.Config, o *Options) {
		var err error
		st, err = store.Open(context.Background(), filepath.Join(t.TempDir(), "talon.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		c.Channels.Telegram = &config.Telegram{Enabled: true}
		o.Store, o.Pairing, o.Channels = st, &access.Pairing{Store: st}, chs
	})
	now := time.Now()
	req, _, err := st.CreatePairing(ctxT(t), store.PairingRequest{Channel: "telegram", Account: "default", SenderID: "7", ChatID: "7",
		CreatedAt: now, ExpiresAt: now.Add(time.Hour)}, 3, access.NewCode)
	if err != nil {
		t.Fatal(err)
	}

	// operator.read may see channel status but not pairing requests.
	ro, err := Dial(ctxT(t), tg.url, DialOptions{Token: testToken, Scopes: []string{"operator.read"}})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	var status struct{ Channels []router.AccountStatus }
	if err := ro.Call(ctxT(t), "channels.status", nil, &status); err != nil || len(status.Channels) != 1 || status.Channels[0].Received != 3 {
		t.Fatalf("channels.status: %+v %v", status, err)
	}
	for _, m := range []string{"pairing.list", "pairing.approve", "pairing.reject"} {
		err := ro.Call(ctxT(t), m, map[string]any{"channel": "telegram", "code": req.Code}, nil)
		if err == nil || !strings.Contains(err.Error(), "operator.pairing") {
			t.Fatalf("%s without operator.pairing: %v", m, err)
		}
	}

	op, err := Dial(ctxT(t), tg.url, DialOptions{Token: testToken, Scopes: []string{"operator.pairing"}})
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	var list struct{ Requests []store.PairingRequest }
	if err := op.Call(ctxT(t), "pairing.list", map[string]any{"channel": "telegram"}, &list); err != nil || len(list.Requests) != 1 || list.Requests[0].Code != req.Code {
		t.Fatalf("pairing.list: %+v %v", list, err)
	}
	var res struct {
		OK       bool
		Notified bool
		Request  store.PairingRequest
	}
	if err := op.Call(ctxT(t), "pairing.approve", map[string]any{"channel": "telegram", "code": req.Code, "notify": true}, &res); err != nil || !res.OK || !res.Notified || res.Request.Status != "approved" {
		t.Fatalf("pairing.approve: %+v %v", res, err)
	}
	if len(chs.sent) != 1 || chs.sent[0] != "telegram/default/7: "+access.ApprovedMessage {
		t.Fatalf("notify sent %q", chs.sent)
	}
	if err := op.Call(ctxT(t), "pairing.approve", map[string]any{"channel": "telegram", "code": req.Code}, nil); err == nil || !strings.Contains(err.Error(), "already") {
		t.Fatalf("second approve: %v", err)
	}
	if ok, _ := st.ChannelAllowed(ctxT(t), "telegram", "default", "7"); !ok {
		t.Fatal("approved sender not allowed")
	}
}
