package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/talonclaw/talon/internal/netguard"
	"github.com/talonclaw/talon/internal/skills"
)

// Client talks to a registry. Its HTTP client must be netguard's
// (invariant 7); NewClient makes one that may reach exactly the
// configured registry origin, even on a private address.
type Client struct {
	BaseURL string
	// Key is the pinned registry public key (skills.registry.publicKey).
	Key  string
	HTTP *http.Client
}

// NewClient returns a client for the registry at base, through netguard.
func NewClient(base, key string) (*Client, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("registry URL %q is not http(s)://host[:port]", base)
	}
	origin := u.Scheme + "://" + u.Host
	p := netguard.Policy{AllowedOrigins: []string{origin}, OnlyHosts: []string{u.Host}, SameOriginRedirects: true,
		MaxBodyBytes: MaxBundleBytes + 1<<20}
	if u.Port() == "" {
		p.OnlyHosts = []string{u.Hostname()}
	}
	return &Client{BaseURL: strings.TrimRight(base, "/"), Key: key, HTTP: p.Client()}, nil
}

func (c *Client) do(ctx context.Context, method, path string, body []byte, token string, out any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, rd)
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("registry %s: %w", c.BaseURL, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("registry %s: %w", c.BaseURL, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		json.Unmarshal(data, &e)
		if e.Error == "" {
			e.Error = http.StatusText(resp.StatusCode)
		}
		return nil, &HTTPError{Status: resp.StatusCode, Msg: e.Error}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return nil, fmt.Errorf("registry %s: bad response to %s: %v", c.BaseURL, path, err)
		}
	}
	return data, nil
}

// HTTPError is a registry's refusal.
type HTTPError struct {
	Status int
	Msg    string
}

func (e *HTTPError) Error() string { return fmt.Sprintf("registry answered %d: %s", e.Status, e.Msg) }

// Publish uploads a bundle with a publisher token.
func (c *Client) Publish(ctx context.Context, bundle []byte, token string) (*Published, error) {
	var p Published
	if _, err := c.do(ctx, http.MethodPost, "/api/talon/v1/publish", bundle, token, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// Info returns a skill's registry record.
func (c *Client) Info(ctx context.Context, name string) (*SkillInfo, error) {
	var si SkillInfo
	if _, err := c.do(ctx, http.MethodGet, "/api/talon/v1/skills/"+url.PathEscape(name), nil, "", &si); err != nil {
		return nil, err
	}
	return &si, nil
}

// Fetched is a bundle from the registry, checked against its log.
type Fetched struct {
	Bundle *skills.Bundle
	Log    *skills.RegistryState
}

// Fetch downloads name@version (version "" is the newest the signed log
// shows published and not yanked) and checks it: the countersignature with the pinned key, the publication log
// against its signed checkpoint and against prev (what this client saw
// before), and that the log records exactly this bundle for the version.
// It writes nothing.
func (c *Client) Fetch(ctx context.Context, name, version string, prev *skills.RegistryState) (*Fetched, error) {
	if c.Key == "" {
		return nil, fmt.Errorf("no registry public key is configured (set skills.registry.publicKey to the output of talon hub key)")
	}
	// The log first: "latest" is read from it, not from the registry's say.
	var lv LogView
	if _, err := c.do(ctx, http.MethodGet, "/api/talon/v1/log", nil, "", &lv); err != nil {
		return nil, err
	}
	st, err := VerifyLog(&lv, c.Key, prev)
	if err != nil {
		return nil, err
	}
	if version == "" {
		if version = lv.Latest(name); version == "" {
			return nil, fmt.Errorf("the registry's log has no version of %s that is not yanked", name)
		}
	}
	data, err := c.do(ctx, http.MethodGet, "/api/talon/v1/bundle?name="+url.QueryEscape(name)+"&version="+url.QueryEscape(version), nil, "", nil)
	if err != nil {
		return nil, err
	}
	b, err := skills.DecodeBundle(data, skills.DefaultLimits)
	if err != nil {
		return nil, err
	}
	if b.Meta.Name != name || b.Meta.Version != version {
		return nil, fmt.Errorf("asked for %s@%s, the registry sent %s@%s", name, version, b.Meta.Name, b.Meta.Version)
	}
	if _, err := b.Verify(); err != nil {
		return nil, err
	}
	if err := b.Meta.VerifyCounter(b.Counter, c.Key); err != nil {
		return nil, err
	}
	if err := CheckBundleInLog(&lv, b); err != nil {
		return nil, err
	}
	st.URL = c.BaseURL
	return &Fetched{Bundle: b, Log: st}, nil
}
