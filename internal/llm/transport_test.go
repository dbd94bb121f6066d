package llm

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/talonclaw/talon/internal/netguard"
	"github.com/talonclaw/talon/internal/secret"
)

// TestSDKTransportFailures checks, for each provider built on a vendor
// SDK, that a refused connection and Config.Timeout become retryable
// APIErrors and that a cancelled context stays a cancellation.
func TestSDKTransportFailures(t *testing.T) {
	t.Parallel()
	for _, pc := range []struct {
		name, model string
		cfg         Config
		make        func(Config) (Provider, error)
	}{
		{"anthropic", "c", Config{ID: "claude", API: APIAnthropicMessages}, newAnthropic},
		{"gemini", "gemini-x", Config{ID: "google", API: APIGoogleGenAI}, newGemini},
	} {
		provider := func(t *testing.T, url string, timeout time.Duration) Provider {
			c := pc.cfg
			c.BaseURL, c.APIKey, c.HTTPClient, c.Timeout = url, secret.New("k"), testClient(url), timeout
			p, err := pc.make(c)
			if err != nil {
				t.Fatal(err)
			}
			return p
		}
		req := Request{Model: pc.model, Messages: []Message{{Role: RoleUser, Content: "x"}}}
		t.Run(pc.name+"/refused", func(t *testing.T) {
			srv := httptest.NewServer(http.NotFoundHandler())
			url := srv.URL
			srv.Close()
			modes(t, func(t *testing.T, stream bool) {
				onDelta, _ := collect(stream)
				_, err := provider(t, url, 0).Chat(testCtx(t), req, onDelta)
				var ae *APIError
				if !errors.As(err, &ae) || !ae.Retryable || ae.Status != 0 {
					t.Fatalf("error %#v, want a retryable APIError without status", err)
				}
			})
		})
		t.Run(pc.name+"/timeout and cancel", func(t *testing.T) {
			release := make(chan struct{})
			t.Cleanup(func() { close(release) })
			srv := newWireServer(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
				select {
				case <-release:
				case <-r.Context().Done():
				}
			})
			_, err := provider(t, srv.URL, 100*time.Millisecond).Chat(testCtx(t), req, func(Delta) {})
			var ae *APIError
			if !errors.As(err, &ae) || !ae.Retryable || !strings.Contains(ae.Message, "timeout") {
				t.Fatalf("after Config.Timeout: %#v, want a retryable timeout", err)
			}
			ctx, cancel := context.WithCancel(testCtx(t))
			time.AfterFunc(50*time.Millisecond, cancel)
			_, err = provider(t, srv.URL, 0).Chat(ctx, req, nil)
			if !errors.Is(err, context.Canceled) || errors.As(err, &ae) {
				t.Fatalf("after cancel: %v, want context.Canceled and no APIError", err)
			}
		})
	}
}

// testClient is a netguard client allowed to reach the loopback test server
// at baseURL, with limits wide enough that the provider's own are the ones
// tested.
func testClient(baseURL string) *http.Client {
	return netguard.Policy{AllowedOrigins: []string{baseURL}, Timeout: 5 * time.Minute, MaxBodyBytes: 1 << 30}.Client()
}
