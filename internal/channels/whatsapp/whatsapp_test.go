//go:build whatsapp

package whatsapp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waAdv"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/socket"
	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	waLog "go.mau.fi/whatsmeow/util/log"

	"github.com/talonclaw/talon/internal/channels"
	"github.com/talonclaw/talon/internal/netguard"
	"github.com/talonclaw/talon/internal/testutil/chantest"
)

// fakeClient stands in for *whatsmeow.Client: it records what the adapter
// sends and lets tests emit whatsmeow events.
type fakeClient struct {
	dev *store.Device

	mu         sync.Mutex
	handlers   map[uint32]whatsmeow.EventHandler
	next       uint32
	ids        int
	sends      []sent
	sendErrs   []error // returned by the next SendMessage calls, in order
	sendTimes  []time.Time
	presences  []types.JID
	connects   int
	disconnect int
	loggedOut  bool
	onConnect  func(f *fakeClient) error
	qr         chan whatsmeow.QRChannelItem
	lidMap     map[types.JID]types.JID
}

type sent struct {
	to  types.JID
	msg *waE2E.Message
	id  types.MessageID
}

func newFake(dev *store.Device) *fakeClient {
	return &fakeClient{dev: dev, handlers: map[uint32]whatsmeow.EventHandler{}}
}

func (f *fakeClient) emit(evt any) {
	f.mu.Lock()
	hs := make([]whatsmeow.EventHandler, 0, len(f.handlers))
	for id := uint32(1); id <= f.next; id++ {
		if h, ok := f.handlers[id]; ok {
			hs = append(hs, h)
		}
	}
	f.mu.Unlock()
	for _, h := range hs {
		h(evt)
	}
}

func (f *fakeClient) ConnectContext(ctx context.Context) error {
	f.mu.Lock()
	f.connects++
	on := f.onConnect
	f.mu.Unlock()
	if on != nil {
		if err := on(f); err != nil {
			return err
		}
	}
	f.emit(&events.Connected{})
	return nil
}

func (f *fakeClient) Disconnect() { f.mu.Lock(); f.disconnect++; f.mu.Unlock() }
func (f *fakeClient) IsLoggedIn() bool {
	return f.dev != nil && f.dev.ID != nil
}

func (f *fakeClient) AddEventHandler(h whatsmeow.EventHandler) uint32 {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.next++
	f.handlers[f.next] = h
	return f.next
}

func (f *fakeClient) RemoveEventHandler(id uint32) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.handlers[id]
	delete(f.handlers, id)
	return ok
}

func (f *fakeClient) GenerateMessageID() types.MessageID {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ids++
	return types.MessageID(fmt.Sprintf("3EB0%04d", f.ids))
}

func (f *fakeClient) SendMessage(ctx context.Context, to types.JID, msg *waE2E.Message, extra ...whatsmeow.SendRequestExtra) (whatsmeow.SendResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sendTimes = append(f.sendTimes, time.Now())
	var id types.MessageID
	if len(extra) == 1 {
		id = extra[0].ID
	}
	f.sends = append(f.sends, sent{to: to, msg: msg, id: id})
	if len(f.sendErrs) > 0 {
		err := f.sendErrs[0]
		f.sendErrs = f.sendErrs[1:]
		if err != nil {
			return whatsmeow.SendResponse{}, err
		}
	}
	return whatsmeow.SendResponse{ID: id, Timestamp: time.Now()}, nil
}

func (f *fakeClient) SendChatPresence(ctx context.Context, jid types.JID, state types.ChatPresence, media types.ChatPresenceMedia) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if state != types.ChatPresenceComposing {
		return fmt.Errorf("state %q", state)
	}
	f.presences = append(f.presences, jid)
	return nil
}

func (f *fakeClient) Logout(ctx context.Context) error {
	f.mu.Lock()
	f.loggedOut = true
	f.mu.Unlock()
	return f.dev.Delete(ctx)
}

func (f *fakeClient) ownIDs() (types.JID, types.JID) {
	if f.dev == nil || f.dev.ID == nil {
		return types.EmptyJID, types.EmptyJID
	}
	return f.dev.ID.ToNonAD(), f.dev.LID.ToNonAD()
}

func (f *fakeClient) pushName() string { return "Talon" }

func (f *fakeClient) pnForLID(ctx context.Context, lid types.JID) types.JID {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lidMap[lid]
}

func (f *fakeClient) GetQRChannel(ctx context.Context) (<-chan whatsmeow.QRChannelItem, error) {
	return f.qr, nil
}

func (f *fakeClient) sentMessages() []sent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]sent(nil), f.sends...)
}

// linkDevice stores a device in the account's store as pairing would.
func linkDevice(t *testing.T, stateDir, account string) {
	t.Helper()
	ctx := context.Background()
	c, err := openStore(ctx, storePath(stateDir, account), waLog.Noop)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	dev := c.NewDevice()
	id := types.NewADJID(ownPN.User, 0, 12)
	dev.ID = &id
	dev.LID = types.NewADJID(ownLID.User, 0, 12)
	dev.LID.Server = types.HiddenUserServer
	dev.Account = fakeAccount()
	dev.PushName = "Talon"
	if err := dev.Save(ctx); err != nil {
		t.Fatal(err)
	}
}

// fakeAccount is a pairing result with empty (non-NULL) signatures.
func fakeAccount() *waAdv.ADVSignedDeviceIdentity {
	return &waAdv.ADVSignedDeviceIdentity{Details: []byte{}, AccountSignatureKey: make([]byte, 32), AccountSignature: make([]byte, 64), DeviceSignature: make([]byte, 64)}
}

// started is a running adapter on a fake client with a linked device.
func started(t *testing.T) (*Adapter, *fakeClient, *chantest.Recorder) {
	t.Helper()
	dir := t.TempDir()
	linkDevice(t, dir, "default")
	in := &chantest.Recorder{}
	a, err := New(Options{StateDir: dir, Handler: in.Handle})
	if err != nil {
		t.Fatal(err)
	}
	var fake *fakeClient
	a.newClient = func(dev *store.Device) waClient { fake = newFake(dev); return fake }
	a.rateWait = 150 * time.Millisecond
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Stop(context.Background()) })
	chantest.WaitFor(t, "connected", func() bool { return a.Status().State == channels.StateConnected })
	return a, fake, in
}

func TestNewValidates(t *testing.T) {
	h := func(context.Context, channels.Message) error { return nil }
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{Handler: h}, "no state directory"},
		{Options{StateDir: "x"}, "no message handler"},
		{Options{StateDir: "x", Handler: h, Account: "../../etc/passwd"}, "not a plain name"},
		{Options{StateDir: "x", Handler: h, Account: ".hidden"}, "not a plain name"},
		{Options{StateDir: "x", Handler: h, Account: "a/b"}, "not a plain name"},
		{Options{StateDir: "x", Handler: h, Account: "a?b"}, "not a plain name"},
	} {
		_, err := New(tc.o)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "whatsapp: ") {
			t.Errorf("New(%+v) = %v, want %q", tc.o, err, tc.want)
		}
	}
	a, err := New(Options{StateDir: "x", Handler: h})
	if err != nil || a.Account() != "default" || a.Channel() != "whatsapp" || a.Status().State != channels.StateStopped {
		t.Fatalf("New = %v, %v", a, err)
	}
}

func TestStartNotLinked(t *testing.T) {
	dir := t.TempDir()
	a, err := New(Options{StateDir: dir, Account: "work", Handler: func(context.Context, channels.Message) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	err = a.Start(context.Background())
	const want = "whatsapp: not linked (hint: talon channels login whatsapp)"
	if err == nil || err.Error() != want {
		t.Fatalf("Start = %v, want %q", err, want)
	}
	if st := a.Status(); st.State != channels.StateError || st.LastError != want {
		t.Fatalf("status = %+v", st)
	}
	if _, err := os.Stat(storePath(dir, "work")); err == nil {
		t.Fatal("Start created a store for an account that was never linked")
	}
	// A store without a device (a login that was never completed) is the
	// same.
	c, err := openStore(context.Background(), storePath(dir, "work"), waLog.Noop)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := a.Start(context.Background()); err == nil || err.Error() != want {
		t.Fatalf("Start with an empty store = %v", err)
	}
	if err := a.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestStorePermissions(t *testing.T) {
	dir := t.TempDir()
	// An existing, too open state directory is tightened.
	if err := os.MkdirAll(filepath.Join(dir, "whatsapp"), 0o755); err != nil {
		t.Fatal(err)
	}
	linkDevice(t, dir, "default") // opens, migrates and writes the store
	path := storePath(dir, "default")
	if path != filepath.Join(dir, "whatsapp", "default.db") {
		t.Fatalf("store path %s", path)
	}
	fi, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("state dir mode %v, want 0700", fi.Mode().Perm())
	}
	for _, p := range storeFiles(path) {
		fi, err := os.Stat(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", filepath.Base(p), fi.Mode().Perm())
		}
	}
	// A store file someone widened is narrowed on the next open.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := openStore(context.Background(), path, waLog.Noop)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("reopened store mode %v, want 0600", fi.Mode().Perm())
	}
	dev, err := linkedDevice(context.Background(), c)
	if err != nil || dev.GetJID().User != ownPN.User {
		t.Fatalf("linkedDevice = %v, %v", dev, err)
	}
}

// A state directory with URI syntax in its name still gets its store at
// the right place.
func TestStorePathWithURICharacters(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "odd?name#1 %41")
	linkDevice(t, dir, "default")
	if _, err := os.Stat(filepath.Join(dir, "whatsapp", "default.db")); err != nil {
		t.Fatal(err)
	}
}

func TestInbound(t *testing.T) {
	_, fake, in := started(t)
	fake.emit(evt(alicePN, alicePN, text("one")))
	fake.emit(evt(alicePN, alicePN, text("mine"), func(e *events.Message) { e.Info.IsFromMe = true; e.Info.ID = "own" }))
	fake.emit(evt(group, alicePN, ext("@bot two", &waE2E.ContextInfo{MentionedJID: []string{ownLID.String()}}), func(e *events.Message) { e.Info.ID = "G1" }))
	// Redelivered: handled once.
	fake.emit(evt(alicePN, alicePN, text("one")))
	// Same id from someone else in another chat is a different message.
	fake.emit(evt(group, aliceLID, text("three")))
	// Once whatsmeow knows the LID's phone number, that is the sender id.
	fake.mu.Lock()
	fake.lidMap = map[types.JID]types.JID{aliceLID: alicePN}
	fake.mu.Unlock()
	fake.emit(evt(group, aliceLID, text("four"), func(e *events.Message) { e.Info.ID = "G4" }))

	got := in.All()
	if len(got) != 4 {
		t.Fatalf("got %d messages: %+v", len(got), got)
	}
	if got[3].Text != "four" || got[3].SenderID != alicePN.String() {
		t.Errorf("fourth = %+v", got[3])
	}
	if got[0].Text != "one" || got[0].ChatType != channels.ChatDirect || got[0].Account != "default" || got[0].SenderID != alicePN.String() {
		t.Errorf("dm = %+v", got[0])
	}
	if got[1].ChatType != channels.ChatGroup || !got[1].MentionsBot || got[1].ChatID != group.String() {
		t.Errorf("group mention = %+v", got[1])
	}
	if got[2].Text != "three" || got[2].SenderID != aliceLID.String() {
		t.Errorf("third = %+v", got[2])
	}
}

func TestConnectionStates(t *testing.T) {
	a, fake, _ := started(t)
	if st := a.Status(); st.BotID != ownPN.String() || st.BotName != "Talon" || st.ConnectedAt.IsZero() {
		t.Errorf("status = %+v", st)
	}
	fake.emit(&events.Disconnected{})
	if st := a.Status(); st.State != channels.StateReconnecting || st.Reconnects != 1 {
		t.Errorf("after disconnect: %+v", st)
	}
	fake.emit(&events.Connected{})
	if st := a.Status(); st.State != channels.StateConnected {
		t.Errorf("after reconnect: %+v", st)
	}
	fake.emit(&events.LoggedOut{OnConnect: true, Reason: events.ConnectFailureLoggedOut})
	st := a.Status()
	if st.State != channels.StateError || !strings.Contains(st.LastError, "logged out") || !strings.Contains(st.LastError, "talon channels login whatsapp") {
		t.Errorf("after logout: %+v", st)
	}
	// A later disconnect does not hide the error.
	fake.emit(&events.Disconnected{})
	if st := a.Status(); st.State != channels.StateError {
		t.Errorf("after logout and disconnect: %+v", st)
	}
}

func TestConnectRetriedWithBackoff(t *testing.T) {
	dir := t.TempDir()
	linkDevice(t, dir, "default")
	a, err := New(Options{StateDir: dir, Handler: func(context.Context, channels.Message) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	var fake *fakeClient
	fails := 1
	a.newClient = func(dev *store.Device) waClient {
		fake = newFake(dev)
		fake.onConnect = func(*fakeClient) error {
			if fails > 0 {
				fails--
				return errors.New("noise handshake failed: boom")
			}
			return nil
		}
		return fake
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer a.Stop(context.Background())
	chantest.WaitFor(t, "reconnecting", func() bool { return strings.Contains(a.Status().LastError, "boom") })
	chantest.WaitFor(t, "connected", func() bool { return a.Status().State == channels.StateConnected })
}

func TestStopLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	for range 3 {
		a, fake, _ := started(t)
		if err := a.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		if fake.disconnect == 0 {
			t.Error("Stop did not disconnect")
		}
		if len(fake.handlers) != 0 {
			t.Error("Stop left the event handler registered")
		}
		if a.Status().State != channels.StateStopped {
			t.Errorf("state after stop %q", a.Status().State)
		}
		// Events after Stop go nowhere.
		fake.emit(evt(alicePN, alicePN, text("late")))
	}
	chantest.NoLeak(t, before+1)
}

func TestSendChunks(t *testing.T) {
	a, fake, _ := started(t)
	long := strings.Repeat("word ", 1700) // 8500 runes
	d, err := a.Send(context.Background(), channels.Target{ChatID: alicePN.String()}, long)
	if err != nil {
		t.Fatal(err)
	}
	sends := fake.sentMessages()
	if len(sends) != 3 || len(d.MessageIDs) != 3 {
		t.Fatalf("%d sends, ids %v", len(sends), d.MessageIDs)
	}
	var total int
	for i, s := range sends {
		c := s.msg.GetConversation()
		if n := utf8.RuneCountInString(c); n == 0 || n > MaxLen {
			t.Errorf("chunk %d has %d runes", i, n)
		}
		total += len(strings.Fields(c))
		if s.to != alicePN || s.msg.ExtendedTextMessage != nil {
			t.Errorf("chunk %d: to %v, msg %v", i, s.to, s.msg)
		}
		if string(s.id) != d.MessageIDs[i] {
			t.Errorf("chunk %d id %q, delivery %q", i, s.id, d.MessageIDs[i])
		}
	}
	if total != 1700 {
		t.Errorf("%d words arrived, want 1700", total)
	}
	// Exactly the limit is one message; multi-byte runes count once.
	fake.sends = nil
	if _, err := a.Send(context.Background(), channels.Target{ChatID: group.String()}, strings.Repeat("é", MaxLen)); err != nil {
		t.Fatal(err)
	}
	if n := len(fake.sentMessages()); n != 1 {
		t.Fatalf("%d sends for exactly MaxLen runes", n)
	}
	if st := a.Status(); st.Sent != 4 || st.SendErrors != 0 {
		t.Errorf("status %+v", st)
	}
	// Nothing to send sends nothing.
	if d, err := a.Send(context.Background(), channels.Target{ChatID: group.String()}, " \n "); err != nil || len(d.MessageIDs) != 0 {
		t.Fatalf("empty send = %v, %v", d, err)
	}
}

func TestSendReplyQuotes(t *testing.T) {
	a, fake, in := started(t)
	fake.emit(evt(group, aliceDev, text("question?"), func(e *events.Message) { e.Info.ID = "Q1" }))
	if len(in.All()) != 1 {
		t.Fatal("message not delivered")
	}
	_, err := a.Send(context.Background(), channels.Target{ChatID: group.String(), ReplyTo: "Q1"}, "answer\n\n"+strings.Repeat("x", MaxLen))
	if err != nil {
		t.Fatal(err)
	}
	sends := fake.sentMessages()
	if len(sends) != 2 {
		t.Fatalf("%d sends", len(sends))
	}
	x := sends[0].msg.GetExtendedTextMessage()
	ci := x.GetContextInfo()
	if x.GetText() != "answer" || ci.GetStanzaID() != "Q1" || ci.GetParticipant() != alicePN.String() || ci.GetQuotedMessage().GetConversation() != "question?" {
		t.Errorf("reply = %v", sends[0].msg)
	}
	if sends[1].msg.GetConversation() == "" {
		t.Errorf("second chunk should be plain: %v", sends[1].msg)
	}
	// A reply to an unknown message in a DM names the other person.
	fake.sends = nil
	if _, err := a.Send(context.Background(), channels.Target{ChatID: alicePN.String(), ReplyTo: "OLD"}, "hi"); err != nil {
		t.Fatal(err)
	}
	ci = fake.sentMessages()[0].msg.GetExtendedTextMessage().GetContextInfo()
	if ci.GetStanzaID() != "OLD" || ci.GetParticipant() != alicePN.String() {
		t.Errorf("dm reply context %v", ci)
	}
}

func TestSendRateLimited(t *testing.T) {
	for _, rl := range []error{whatsmeow.ErrIQRateOverLimit, fmt.Errorf("%w %d", whatsmeow.ErrServerReturnedError, 429)} {
		a, fake, _ := started(t)
		fake.sendErrs = []error{rl}
		d, err := a.Send(context.Background(), channels.Target{ChatID: alicePN.String()}, "hi")
		if err != nil {
			t.Fatal(err)
		}
		sends := fake.sentMessages()
		if len(sends) != 2 {
			t.Fatalf("%v: %d sends, want 2", rl, len(sends))
		}
		if gap := fake.sendTimes[1].Sub(fake.sendTimes[0]); gap < a.rateWait {
			t.Errorf("%v: retried after %v, before the %v wait", rl, gap, a.rateWait)
		}
		if sends[0].id != sends[1].id || d.MessageIDs[0] != string(sends[0].id) {
			t.Errorf("retry changed the message id: %q, %q", sends[0].id, sends[1].id)
		}
	}
}

func TestSendTransientRetried(t *testing.T) {
	a, fake, _ := started(t)
	fake.sendErrs = []error{whatsmeow.ErrNotConnected, whatsmeow.ErrMessageTimedOut}
	if _, err := a.Send(context.Background(), channels.Target{ChatID: alicePN.String()}, "hi"); err != nil {
		t.Fatal(err)
	}
	if n := len(fake.sentMessages()); n != 3 {
		t.Fatalf("%d sends, want 3", n)
	}
}

func TestSendPermanentNotRetried(t *testing.T) {
	for _, perm := range []error{
		fmt.Errorf("%w %d", whatsmeow.ErrServerReturnedError, 403),
		whatsmeow.ErrIQForbidden,
		whatsmeow.ErrNotInGroup,
	} {
		a, fake, _ := started(t)
		fake.sendErrs = []error{perm}
		_, err := a.Send(context.Background(), channels.Target{ChatID: group.String()}, "hi")
		if err == nil || !channels.IsPermanent(err) || !strings.HasPrefix(err.Error(), "whatsapp: ") {
			t.Fatalf("%v: Send = %v", perm, err)
		}
		if n := len(fake.sentMessages()); n != 1 {
			t.Fatalf("%v: %d sends, want 1", perm, n)
		}
		if st := a.Status(); st.SendErrors != 1 || st.LastError == "" {
			t.Errorf("status %+v", st)
		}
	}
}

func TestSendBadTargets(t *testing.T) {
	a, fake, _ := started(t)
	for _, id := range []string{"", "not a jid@@", "status@broadcast", "123@newsletter", "@s.whatsapp.net"} {
		if _, err := a.Send(context.Background(), channels.Target{ChatID: id}, "hi"); err == nil || !channels.IsPermanent(err) {
			t.Errorf("Send to %q = %v, want a permanent error", id, err)
		}
	}
	// A device part is dropped: messages go to the person.
	if _, err := a.Send(context.Background(), channels.Target{ChatID: aliceDev.String()}, "hi"); err != nil {
		t.Fatal(err)
	}
	if s := fake.sentMessages(); len(s) != 1 || s[0].to != alicePN {
		t.Fatalf("sends %v", s)
	}
}

func TestSendBeforeStart(t *testing.T) {
	a, err := New(Options{StateDir: t.TempDir(), Handler: func(context.Context, channels.Message) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Send(context.Background(), channels.Target{ChatID: alicePN.String()}, "hi"); err == nil || !channels.IsPermanent(err) {
		t.Fatalf("Send before Start = %v", err)
	}
	if err := a.Typing(context.Background(), channels.Target{ChatID: alicePN.String()}); err == nil {
		t.Fatal("Typing before Start succeeded")
	}
}

func TestTyping(t *testing.T) {
	a, fake, _ := started(t)
	if err := a.Typing(context.Background(), channels.Target{ChatID: group.String()}); err != nil {
		t.Fatal(err)
	}
	if len(fake.presences) != 1 || fake.presences[0] != group {
		t.Fatalf("presences %v", fake.presences)
	}
}

func TestLogin(t *testing.T) {
	dir := t.TempDir()
	o := Options{StateDir: dir, Account: "phone"}
	var shown []string
	mk := func(dev *store.Device) loginClient {
		f := newFake(dev)
		f.qr = make(chan whatsmeow.QRChannelItem, 4)
		f.onConnect = func(f *fakeClient) error {
			// The phone scans the second code: whatsmeow stores the device.
			f.qr <- whatsmeow.QRChannelItem{Event: whatsmeow.QRChannelEventCode, Code: "2@first"}
			f.qr <- whatsmeow.QRChannelItem{Event: whatsmeow.QRChannelEventCode, Code: "2@second"}
			id := types.NewADJID(ownPN.User, 0, 4)
			f.dev.ID = &id
			f.dev.Account = fakeAccount()
			if err := f.dev.Save(context.Background()); err != nil {
				return err
			}
			f.qr <- whatsmeow.QRChannelSuccess
			close(f.qr)
			return nil
		}
		return f
	}
	if err := login(context.Background(), o, func(c string) { shown = append(shown, c) }, mk); err != nil {
		t.Fatal(err)
	}
	if strings.Join(shown, ",") != "2@first,2@second" {
		t.Errorf("shown %v", shown)
	}
	// Linked now: Start finds the device.
	a, err := New(Options{StateDir: dir, Account: "phone", Handler: func(context.Context, channels.Message) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	a.newClient = func(dev *store.Device) waClient { return newFake(dev) }
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	a.Stop(context.Background())
	// A second login is refused.
	err = login(context.Background(), o, func(string) {}, mk)
	if err == nil || !strings.Contains(err.Error(), "already linked") || !strings.Contains(err.Error(), "logout") {
		t.Fatalf("second login = %v", err)
	}
}

func TestLoginFailures(t *testing.T) {
	for _, tc := range []struct {
		item whatsmeow.QRChannelItem
		want string
	}{
		{whatsmeow.QRChannelTimeout, "no QR code was scanned in time"},
		{whatsmeow.QRChannelItem{Event: whatsmeow.QRChannelEventError, Error: whatsmeow.ErrPairInvalidDeviceSignature}, "pairing failed"},
		{whatsmeow.QRChannelClientOutdated, "outdated"},
		{whatsmeow.QRChannelErrUnexpectedEvent, "err-unexpected-state"},
	} {
		mk := func(dev *store.Device) loginClient {
			f := newFake(dev)
			f.qr = make(chan whatsmeow.QRChannelItem, 2)
			f.qr <- tc.item
			close(f.qr)
			return f
		}
		err := login(context.Background(), Options{StateDir: t.TempDir()}, func(string) {}, mk)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: login = %v, want %q", tc.item.Event, err, tc.want)
		}
	}
	if err := Login(context.Background(), Options{StateDir: t.TempDir()}, nil); err == nil {
		t.Error("Login without showQR succeeded")
	}
}

func TestLogout(t *testing.T) {
	dir := t.TempDir()
	o := Options{StateDir: dir}
	// Nothing linked: nothing to do.
	if err := logout(context.Background(), o, func(*store.Device) loginClient { t.Fatal("no client needed"); return nil }); err != nil {
		t.Fatal(err)
	}
	linkDevice(t, dir, "default")
	var fake *fakeClient
	if err := logout(context.Background(), o, func(dev *store.Device) loginClient { fake = newFake(dev); return fake }); err != nil {
		t.Fatal(err)
	}
	if !fake.loggedOut || fake.disconnect == 0 {
		t.Errorf("logout: loggedOut %v, disconnects %d", fake.loggedOut, fake.disconnect)
	}
	for _, p := range storeFiles(storePath(dir, "default")) {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s still exists", p)
		}
	}

	// WhatsApp unreachable: the store goes anyway, and the error says
	// what to do on the phone.
	linkDevice(t, dir, "default")
	err := logout(context.Background(), o, func(dev *store.Device) loginClient {
		f := newFake(dev)
		f.onConnect = func(*fakeClient) error { return errors.New("dial tcp: no route") }
		return f
	})
	if err == nil || !strings.Contains(err.Error(), "Linked devices") {
		t.Fatalf("offline logout = %v", err)
	}
	if _, err := os.Stat(storePath(dir, "default")); err == nil {
		t.Error("store kept after offline logout")
	}
}

// TestInvariant7_WhatsmeowConnectionsGoThroughNetguard: whatsmeow's
// websocket (the only way it reaches WhatsApp's servers) is dialled by the
// netguard client, which refuses anything but public addresses on 443.
func TestInvariant7_WhatsmeowConnectionsGoThroughNetguard(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, u := range []string{
		"wss://127.0.0.1/ws/chat",
		"wss://169.254.169.254/ws/chat",
		"wss://10.1.2.3:443/ws/chat",
		"wss://[::1]/ws/chat",
		"wss://1.1.1.1:8443/ws/chat",
		"ws://1.1.1.1:80/ws/chat",
	} {
		fs := socket.NewFrameSocket(waLog.Noop, httpClient(nil))
		fs.URL = u
		err := fs.Connect(ctx)
		if !errors.Is(err, netguard.ErrBlocked) {
			t.Errorf("%s: %v, want netguard.ErrBlocked", u, err)
		}
	}

	// The adapter's whatsmeow client connects through netguard: checked
	// here without the network, with hooks that record the name looked up
	// and the checked address dialled, then refuse.
	dir := t.TempDir()
	linkDevice(t, dir, "default")
	c, err := openStore(ctx, storePath(dir, "default"), waLog.Noop)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	dev, err := linkedDevice(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var dialled []string
	hooks := &netguard.Hooks{
		LookupIP: func(_ context.Context, host string) ([]netip.Addr, error) {
			mu.Lock()
			dialled = append(dialled, "lookup "+host)
			mu.Unlock()
			if host == "private.example" {
				return []netip.Addr{netip.MustParseAddr("10.0.0.1")}, nil
			}
			return []netip.Addr{netip.MustParseAddr("157.240.0.53")}, nil
		},
		Dial: func(_ context.Context, _ string, ap netip.AddrPort) (net.Conn, error) {
			mu.Lock()
			dialled = append(dialled, "dial "+ap.String())
			mu.Unlock()
			return nil, errors.New("refused by test")
		},
	}
	want := []string{"lookup web.whatsapp.com", "dial 157.240.0.53:443"}
	cli := newWhatsmeow(dev, waLog.Noop, hooks)
	cli.InitialAutoReconnect = false
	cli.EnableAutoReconnect = false
	err = cli.ConnectContext(ctx)
	cli.Disconnect()
	if err == nil || !strings.Contains(err.Error(), "refused by test") {
		t.Fatalf("connect = %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(dialled) < 2 || dialled[0] != want[0] || dialled[1] != want[1] {
		t.Fatalf("dialled %v, want %v first", dialled, want)
	}
	// Before login (pairing) the same.
	dialled = nil
	mu.Unlock()
	pre := newWhatsmeow(c.NewDevice(), waLog.Noop, hooks)
	pre.InitialAutoReconnect = false
	err = pre.ConnectContext(ctx)
	pre.Disconnect()
	mu.Lock()
	if err == nil || len(dialled) < 2 || dialled[0] != want[0] || dialled[1] != want[1] {
		t.Fatalf("pre-login connect = %v, dialled %v", err, dialled)
	}
	// A name that resolves to a private address is never dialled.
	dialled = nil
	mu.Unlock()
	fs := socket.NewFrameSocket(waLog.Noop, httpClient(hooks))
	fs.URL = "wss://private.example/ws/chat"
	err = fs.Connect(ctx)
	mu.Lock()
	if !errors.Is(err, netguard.ErrBlocked) || len(dialled) != 1 {
		t.Fatalf("private name: %v, dialled %v", err, dialled)
	}
}

// TestInvariant10_QRCodeNeverLogged: the QR code carries the device's
// pairing secret; whatsmeow logs it at debug level, the adapter's logger
// drops it, along with raw frames.
func TestInvariant10_QRCodeNeverLogged(t *testing.T) {
	var buf bytes.Buffer
	l := newLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	const secret = "2@ref,NOISEPUB,IDENTITYPUB,ADVSECRET"
	l.Sub("QRChannel").Debugf("Emitting QR code %s", secret)
	l.Debugf("Emitting QR code %s", secret)
	l.Sub("Recv").Debugf("%s", "<message><enc>"+secret+"</enc></message>")
	l.Sub("Send").Debugf("%s", "<iq>"+secret+"</iq>")
	l.Debugf("Errored frame hex: %s", secret)
	l.Sub("Socket").Debugf("Dialing %s", "wss://web.whatsapp.com/ws/chat")
	l.Warnf("Failed to decode node in frame: %v", "EOF")
	if strings.Contains(buf.String(), "ADVSECRET") {
		t.Fatalf("secret logged:\n%s", buf.String())
	}
	if !strings.Contains(buf.String(), "Dialing wss://web.whatsapp.com") || !strings.Contains(buf.String(), "Failed to decode") {
		t.Fatalf("ordinary lines missing:\n%s", buf.String())
	}
}

func TestSendErrorMapping(t *testing.T) {
	var rl *channels.RateLimitError
	if err := sendError(whatsmeow.ErrIQRateOverLimit, time.Second); !errors.As(err, &rl) || rl.RetryAfter != time.Second {
		t.Errorf("429 iq = %v", err)
	}
	for _, err := range []error{
		whatsmeow.ErrNotConnected, whatsmeow.ErrMessageTimedOut, whatsmeow.ErrIQServiceUnavailable,
		fmt.Errorf("%w %d", whatsmeow.ErrServerReturnedError, 500),
		fmt.Errorf("%w %d", whatsmeow.ErrServerReturnedError, 408),
		&whatsmeow.DisconnectedError{Action: "message send"},
	} {
		if got := sendError(err, time.Second); channels.IsPermanent(got) || errors.As(got, &rl) {
			t.Errorf("%v mapped to %v, want a plain retry", err, got)
		}
	}
	if got := sendError(whatsmeow.ErrRecipientADJID, time.Second); !channels.IsPermanent(got) {
		t.Errorf("AD-JID recipient = %v", got)
	}
	if got := sendError(errors.New("server returned error 999x"), time.Second); channels.IsPermanent(got) {
		t.Errorf("unrelated error = %v", got)
	}
}
