package gateway

import (
	"encoding/json"
	"testing"

	"github.com/talonclaw/talon/internal/testutil/fakellm"
)

// TestOpenClawCompatMethods: cron.status, last-heartbeat,
// device.pair.list and node.pair.list answer in OpenClaw's shapes, each at
// the scope OpenClaw's table gives it (pairing lists need
// operator.pairing).
func TestOpenClawCompatMethods(t *testing.T) {
	fake := fakellm.New(t)
	tg := startGW(t, withAgent(t, fake))
	admin := adminClient(t, tg)
	var added struct{ Job struct{ ID string } }
	if err := admin.Call(ctxT(t), "cron.add", map[string]any{"schedule": "@hourly", "message": "check"}, &added); err != nil {
		t.Fatal(err)
	}
	ro, err := Dial(ctxT(t), tg.url, DialOptions{Token: testToken, Scopes: []string{"operator.read"}})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	var cs struct {
		Enabled      bool   `json:"enabled"`
		Storage      string `json:"storage"`
		Jobs         int    `json:"jobs"`
		NextWakeAtMs *int64 `json:"nextWakeAtMs"`
	}
	if err := ro.Call(ctxT(t), "cron.status", nil, &cs); err != nil || !cs.Enabled || cs.Storage != "sqlite" || cs.Jobs != 1 || cs.NextWakeAtMs == nil {
		t.Fatalf("cron.status = %+v, %v", cs, err)
	}
	var hb json.RawMessage
	if err := ro.Call(ctxT(t), "last-heartbeat", nil, &hb); err != nil || string(hb) != "null" {
		t.Fatalf("last-heartbeat = %s, %v", hb, err)
	}
	for _, m := range []string{"device.pair.list", "node.pair.list"} {
		if err := ro.Call(ctxT(t), m, nil, nil); err == nil {
			t.Errorf("%s answered operator.read; OpenClaw requires operator.pairing", m)
		}
		var l struct {
			Pending, Paired []any
		}
		if err := admin.Call(ctxT(t), m, map[string]any{}, &l); err != nil || l.Pending == nil || l.Paired == nil {
			t.Errorf("%s = %+v, %v", m, l, err)
		}
	}
}
