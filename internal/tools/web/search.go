package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/core"
	"github.com/talonclaw/talon/internal/netguard"
	"github.com/talonclaw/talon/internal/provenance"
)

const (
	searchCacheTTL  = 15 * time.Minute
	defaultCount    = 5
	maxCount        = 20
	braveDefaultURL = "https://api.search.brave.com"
	braveKeyHeader  = "X-Subscription-Token"
)

// SearchOptions configure web_search.
type SearchOptions struct {
	Config func() *config.Config
	Now    func() time.Time
	Hooks  *netguard.Hooks // a pretend network (tests only)
}

// NewSearch returns the web_search tool: Brave Search API or SearXNG,
// through netguard (the configured baseUrl is the only private origin it
// may reach), results cached for 15 minutes and wrapped as untrusted.
func NewSearch(o SearchOptions) core.Tool {
	if o.Now == nil {
		o.Now = time.Now
	}
	return &searchTool{o: o, cache: map[string]cached{}}
}

type searchTool struct {
	o     SearchOptions
	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	text string
	at   time.Time
}

type result struct{ Title, URL, Snippet string }

func (*searchTool) Spec() core.Spec {
	return core.Spec{Name: "web_search", Group: "group:web", Description: "Search the web. Returns titles, URLs and snippets; the result is untrusted content.",
		Parameters: json.RawMessage(`{"type":"object","properties":{"query":{"type":"string"},"count":{"type":"integer","minimum":1,"maximum":20}},"required":["query"],"additionalProperties":false}`)}
}

type searchArgs struct {
	Query string `json:"query"`
	Count int    `json:"count"`
}

// Plan: the query goes to the configured search provider and the results
// come back untrusted.
func (t *searchTool) Plan(_ context.Context, c core.Call) (*core.Plan, error) {
	var a searchArgs
	dec := json.NewDecoder(strings.NewReader(string(c.Args)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil || strings.TrimSpace(a.Query) == "" || len(a.Query) > 400 {
		return nil, fmt.Errorf("invalid arguments: want {query (at most 400 bytes), count?}")
	}
	return (&core.Plan{Tool: "web_search", Effects: core.Egress | core.Ingests, Args: c.Args, Canon: a,
		Summary: "search the web for " + strconv.Quote(a.Query), Targets: []core.Target{{Kind: core.TargetSearch, Value: a.Query}}}).Seal(), nil
}

func (t *searchTool) Run(ctx context.Context, c core.Call, p *core.Plan) (core.Result, error) {
	a := p.Canon.(searchArgs)
	count := a.Count
	if count <= 0 {
		count = defaultCount
	}
	count = min(count, maxCount)
	ws := t.o.Config().Tools.Web.Search
	key := ws.Provider + "\x00" + ws.BaseURL + "\x00" + strconv.Itoa(count) + "\x00" + a.Query
	t.mu.Lock()
	if e, ok := t.cache[key]; ok && t.o.Now().Sub(e.at) < searchCacheTTL {
		t.mu.Unlock()
		return core.Result{Content: e.text, Untrusted: true}, nil
	}
	t.mu.Unlock()

	var results []result
	var err error
	switch ws.Provider {
	case "brave":
		results, err = t.brave(ctx, ws, a.Query, count)
	case "searxng":
		results, err = t.searxng(ctx, ws, a.Query, count)
	default:
		return core.Result{}, fmt.Errorf("web_search is off (hint: set tools.web.search.provider to brave or searxng)")
	}
	if err != nil {
		return core.Result{}, err
	}
	var b strings.Builder
	for i, r := range results {
		if i == count {
			break
		}
		fmt.Fprintf(&b, "%d. %s\n   %s\n   %s\n", i+1, oneLine(r.Title), r.URL, oneLine(r.Snippet))
	}
	if b.Len() == 0 {
		b.WriteString("no results")
	}
	text := provenance.WrapUntrusted("web_search "+ws.Provider+": "+a.Query, b.String())
	t.mu.Lock()
	if len(t.cache) > 500 {
		t.cache = map[string]cached{}
	}
	t.cache[key] = cached{text, t.o.Now()}
	t.mu.Unlock()
	return core.Result{Content: text, Untrusted: true}, nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(HTMLToText([]byte(s))), " ") }

func (t *searchTool) client(base string) (*http.Client, error) {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("tools.web.search.baseUrl %q is not a URL", base)
	}
	// The backend's origin is the only private one it may reach. Its key
	// header is named a credential (netguard's default rule covers it too),
	// so a redirect to another origin does not carry it.
	p := netguard.Policy{AllowedOrigins: []string{u.Scheme + "://" + u.Host}, CredentialHeaders: []string{braveKeyHeader},
		Timeout: 20 * time.Second, MaxBodyBytes: 2 << 20, Hooks: t.o.Hooks}
	return p.Client(), nil
}

func (t *searchTool) getJSON(ctx context.Context, base, rawURL string, header http.Header, v any) error {
	c, err := t.client(base)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return err
	}
	req.Header = header
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusTooManyRequests {
		return fmt.Errorf("search provider rate limit (HTTP 429); try again later")
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("search provider answered HTTP %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("search provider sent an unreadable answer: %v", err)
	}
	return nil
}

func (t *searchTool) brave(ctx context.Context, ws config.WebSearch, q string, count int) ([]result, error) {
	if ws.APIKey.IsZero() {
		return nil, fmt.Errorf("brave search needs tools.web.search.apiKey")
	}
	base := strings.TrimSuffix(orDefault(ws.BaseURL, braveDefaultURL), "/")
	u := base + "/res/v1/web/search?" + url.Values{"q": {q}, "count": {strconv.Itoa(count)}}.Encode()
	var out struct {
		Web struct {
			Results []struct{ Title, URL, Description string } `json:"results"`
		} `json:"web"`
	}
	if err := t.getJSON(ctx, base, u, http.Header{braveKeyHeader: {ws.APIKey.Reveal()}}, &out); err != nil {
		return nil, err
	}
	var rs []result
	for _, r := range out.Web.Results {
		rs = append(rs, result{r.Title, r.URL, r.Description})
	}
	return rs, nil
}

func (t *searchTool) searxng(ctx context.Context, ws config.WebSearch, q string, count int) ([]result, error) {
	if ws.BaseURL == "" {
		return nil, fmt.Errorf("searxng needs tools.web.search.baseUrl")
	}
	base := strings.TrimSuffix(ws.BaseURL, "/")
	u := base + "/search?" + url.Values{"q": {q}, "format": {"json"}}.Encode()
	var out struct {
		Results []struct{ Title, URL, Content string } `json:"results"`
	}
	if err := t.getJSON(ctx, base, u, http.Header{}, &out); err != nil {
		return nil, err
	}
	var rs []result
	for _, r := range out.Results {
		rs = append(rs, result{r.Title, r.URL, r.Content})
	}
	return rs, nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
