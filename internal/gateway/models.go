package gateway

import (
	"context"
	"encoding/json"
	"net"
	"net/url"
	"sort"

	"github.com/talonclaw/talon/internal/protocol"
)

// CapPublishedModelCatalog is the hello-ok capability OpenClaw's CLI
// requires before it asks models.list: the gateway publishes the catalog
// it will actually use.
const CapPublishedModelCatalog = "published-model-catalog"

type modelsListParams struct {
	View           string `json:"view,omitempty"` // default | configured | provider-config | all: Talon's catalog is the configured one for all
	Provider       string `json:"provider,omitempty"`
	AgentID        string `json:"agentId,omitempty"`
	IncludeDetails bool   `json:"includeDetails,omitempty"`
	Refresh        bool   `json:"refresh,omitempty"`
}

// mModelsList answers models.list in OpenClaw's row shape from the
// configured providers: {models: [{id, name, provider, input,
// contextWindow, maxTokens, local, available, tags}]}. It never returns an
// endpoint or a key. local: the provider's base URL is a loopback address.
func (g *Gateway) mModelsList(_ context.Context, _ *conn, params json.RawMessage) (any, *protocol.Error) {
	var p modelsListParams
	if e := protocol.DecodeParams(params, &p); e != nil {
		return nil, e
	}
	cfg := g.config().cfg
	ids := make([]string, 0, len(cfg.Models.Providers))
	for id := range cfg.Models.Providers {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	rows := []map[string]any{}
	for _, id := range ids {
		if p.Provider != "" && p.Provider != id {
			continue
		}
		prov := cfg.Models.Providers[id]
		local := false
		if u, err := url.Parse(prov.BaseURL); err == nil && u.Hostname() != "" {
			if ip := net.ParseIP(u.Hostname()); (ip != nil && ip.IsLoopback()) || u.Hostname() == "localhost" {
				local = true
			}
		}
		for _, m := range prov.Models {
			name := m.Name
			if name == "" {
				name = m.ID
			}
			tags := []string{}
			if id+"/"+m.ID == cfg.Agents.Defaults.Model {
				tags = append(tags, "default")
			}
			rows = append(rows, map[string]any{"id": m.ID, "name": name, "provider": id, "input": []string{"text"},
				"contextWindow": m.ContextWindow, "maxTokens": m.MaxTokens, "local": local, "available": true, "tags": tags})
		}
	}
	return map[string]any{"models": rows}, nil
}
