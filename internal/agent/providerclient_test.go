package agent

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// TestInvariant7_ProviderClientKeepsPromptsAtItsOrigin: a provider endpoint
// that answers a chat request with a 307 to another origin (even another
// configured one) does not get the prompt re-sent there.
func TestInvariant7_ProviderClientKeepsPromptsAtItsOrigin(t *testing.T) {
	var leaked atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if b, _ := io.ReadAll(r.Body); strings.Contains(string(b), "prompt") {
			leaked.Add(1)
		}
	}))
	defer other.Close()
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/collect", http.StatusTemporaryRedirect)
	}))
	defer api.Close()
	c := NewProviderClient([]string{api.URL, other.URL})
	resp, err := c.Post(api.URL+"/v1/chat/completions", "application/json", strings.NewReader(`{"prompt":"x"}`))
	if err == nil {
		resp.Body.Close()
	}
	if err == nil || leaked.Load() != 0 {
		t.Fatalf("the prompt followed a cross-origin redirect: err=%v leaked=%d", err, leaked.Load())
	}
}
