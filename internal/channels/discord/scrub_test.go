package discord

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/talonclaw/talon/internal/channels"
	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/secret"
	"github.com/talonclaw/talon/internal/testutil/leakcheck"
)

// TestInvariant10_EncodedTokenNeverInErrors: an error quoting the bot
// token escaped (lower-case hex), in base64 or raw loses it, keeps its
// classification (permanent, rate limit, fatal), and so does what the
// tracker records for channels.status.
func TestInvariant10_EncodedTokenNeverInErrors(t *testing.T) {
	const tok = "MTAwMDAw.Gx7kQp.s3cr3t/Token+with_parts-0123"
	a, err := New(Options{Config: config.DiscordAccount{Token: secret.New(tok)}, Handler: func(context.Context, channels.Message) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	lower := strings.ReplaceAll(strings.ReplaceAll(url.QueryEscape(tok), "%2F", "%2f"), "%2B", "%2b")
	quote := fmt.Sprintf("upstream said Bot %s (%s, Basic %s)", tok, lower, base64.StdEncoding.EncodeToString([]byte("bot:"+tok)))
	for _, c := range []struct {
		err  error
		keep func(error) bool
	}{
		{channels.Permanent(errors.New(quote)), channels.IsPermanent},
		{&channels.RateLimitError{RetryAfter: time.Second, Err: errors.New(quote)}, func(err error) bool {
			var rl *channels.RateLimitError
			return errors.As(err, &rl) && rl.RetryAfter == time.Second
		}},
		{&fatalError{errors.New(quote)}, func(err error) bool { var fe *fatalError; return errors.As(err, &fe) }},
	} {
		got := a.scrubErr(c.err)
		if f := leakcheck.Find(got.Error(), tok); f != "" {
			t.Errorf("%T: %s in %v", c.err, f, got)
		}
		if !c.keep(got) {
			t.Errorf("%T: classification lost: %#v", c.err, got)
		}
		a.tracker.Error(c.err)
		if f := leakcheck.Find(a.Status().LastError, tok); f != "" {
			t.Errorf("status: %s in %q", f, a.Status().LastError)
		}
	}
}
