package gateway

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/talonclaw/talon/internal/auditlog"
	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/core"
	"github.com/talonclaw/talon/internal/protocol"
	"github.com/talonclaw/talon/internal/store"
)

// Methods the Control UI needs beyond the core protocol (docs/control-ui.md).
// Each names its scope like every other method: a read-only viewer
// (operator.read) can look at everything the console shows except the
// audit log and the config, and can change nothing. Every method that
// changes something records its intent in the audit log first (g.intent);
// when the log cannot record it, nothing changes.

// SecurityAudit runs `talon security audit` for the gateway (fix: apply the
// safe fixes first). It returns the JSON shape of `talon security audit
// --json` plus "fixed". Set by the process that owns the paths and the
// secrets store; nil makes security.* answer UNAVAILABLE.
type SecurityAudit func(ctx context.Context, fix bool) (any, error)

// AuditVerify checks the audit log's hash chain; set by the process that
// owns the audit log.
type AuditVerify func(ctx context.Context) (auditlog.VerifyResult, error)

func (g *Gateway) consoleMethods() map[string]method {
	return map[string]method{
		"config.schema":         {protocol.ScopeRead, g.mConfigSchema},
		"audit.verify":          {protocol.ScopeAdmin, g.mAuditVerify},
		"security.audit":        {protocol.ScopeAdmin, g.mSecurityAudit},
		"security.fix":          {protocol.ScopeAdmin, g.mSecurityFix},
		"exec.allowlist.list":   {protocol.ScopeRead, g.mAllowlistList},
		"exec.allowlist.revoke": {protocol.ScopeApprovals, g.mAllowlistRevoke},
		"sessions.search":       {protocol.ScopeRead, g.mSessionsSearch},
		"console.device.enroll": {protocol.ScopeRead, g.mDeviceEnroll},
		"console.device.list":   {protocol.ScopeAdmin, g.mDeviceList},
		"console.device.revoke": {protocol.ScopeAdmin, g.mDeviceRevoke},
		"console.device.invite": {protocol.ScopeAdmin, g.mDeviceInvite},
	}
}

// withConsoleMethods adds the console's methods to a method table; a name
// already there keeps its handler.
func (g *Gateway) withConsoleMethods(t map[string]method) map[string]method {
	for k, v := range g.consoleMethods() {
		if _, ok := t[k]; !ok {
			t[k] = v
		}
	}
	return t
}

// mConfigSchema returns the JSON Schema of the config file (config.Schema)
// and the keys that only take effect after a restart. The schema holds no
// values, so a viewer may read it.
func (g *Gateway) mConfigSchema(ctx context.Context, c *conn, _ json.RawMessage) (any, *protocol.Error) {
	return map[string]any{"schema": json.RawMessage(config.Schema()), "restartKeys": restartKeys}, nil
}

// restartKeys are the config keys applyConfig keeps at their running value
// until a restart.
var restartKeys = []string{"gateway.port", "gateway.bind", "gateway.customBindHost", "gateway.auth.mode",
	"gateway.maxPayloadBytes", "gateway.tickIntervalMs", "gateway.controlUi.enabled",
	"gateway.limits.idleTimeoutSec", "gateway.limits.readTimeoutSec", "gateway.limits.writeTimeoutSec",
	"logging.format", "logging.file"}

func (g *Gateway) mAuditVerify(ctx context.Context, c *conn, _ json.RawMessage) (any, *protocol.Error) {
	if g.opts.AuditVerify == nil {
		return nil, protocol.Errorf(protocol.CodeUnavailable, "the audit log is off (audit.enabled)")
	}
	r, err := g.opts.AuditVerify(ctx)
	if err != nil {
		return nil, protocol.Errorf(protocol.CodeUnavailable, "verifying the audit log: %v", err)
	}
	return map[string]any{"ok": r.OK, "records": r.Records, "firstBad": r.FirstBad, "reason": r.Reason, "checkpoints": r.Checkpoints}, nil
}

func (g *Gateway) mSecurityAudit(ctx context.Context, c *conn, _ json.RawMessage) (any, *protocol.Error) {
	if g.opts.SecurityAudit == nil {
		return nil, protocol.Errorf(protocol.CodeUnavailable, "security audit is not available in this gateway")
	}
	out, err := g.opts.SecurityAudit(ctx, false)
	if err != nil {
		return nil, protocol.Errorf(protocol.CodeUnavailable, "security audit: %v", err)
	}
	return out, nil
}

// mSecurityFix applies the audit's safe fixes (only tightening: file modes,
// redaction on, open groups to allowlist, literal secrets into the secrets
// store…), then audits again.
func (g *Gateway) mSecurityFix(ctx context.Context, c *conn, _ json.RawMessage) (any, *protocol.Error) {
	if g.opts.SecurityAudit == nil {
		return nil, protocol.Errorf(protocol.CodeUnavailable, "security audit is not available in this gateway")
	}
	if e := g.begin(ctx, c, core.KindAuditFix, "security.fix", nil); e != nil {
		return nil, e
	}
	g.configMu.Lock()
	defer g.configMu.Unlock()
	out, err := g.opts.SecurityAudit(ctx, true)
	if err != nil {
		return nil, protocol.Errorf(protocol.CodeUnavailable, "security fix: %v", err)
	}
	return out, nil
}

func (g *Gateway) mAllowlistList(ctx context.Context, c *conn, _ json.RawMessage) (any, *protocol.Error) {
	ex := g.config().cfg.Tools.Exec
	return map[string]any{"allowlist": nonNil(slices.Clone(ex.Allowlist)), "safeBins": nonNil(slices.Clone(ex.SafeBins)), "security": ex.Security}, nil
}

// mAllowlistRevoke removes one entry from tools.exec.allowlist (a standing
// grant, often made by "allow always") in the config file, atomically, and
// applies it at once. It can only narrow what runs.
func (g *Gateway) mAllowlistRevoke(ctx context.Context, c *conn, params json.RawMessage) (any, *protocol.Error) {
	var p struct {
		Entry string `json:"entry"`
	}
	if e := protocol.DecodeParams(params, &p); e != nil {
		return nil, e
	}
	if p.Entry == "" {
		return nil, protocol.Errorf(protocol.CodeInvalidRequest, "missing entry (hint: exec.allowlist.list shows them)")
	}
	if g.opts.ConfigPath == "" {
		return nil, protocol.Errorf(protocol.CodeUnavailable, "this gateway runs without a config file")
	}
	g.configMu.Lock()
	defer g.configMu.Unlock()
	raw, err := os.ReadFile(g.opts.ConfigPath)
	if err != nil {
		return nil, protocol.Errorf(protocol.CodeUnavailable, "reading config: %v", err)
	}
	tree, err := config.ParseTree(raw)
	if err != nil {
		return nil, protocol.Errorf(protocol.CodeUnavailable, "current config does not parse: %v", err)
	}
	list, _ := lookupPath(tree, "tools.exec.allowlist").([]any)
	i := slices.IndexFunc(list, func(v any) bool { s, _ := v.(string); return s == p.Entry })
	if i < 0 {
		return nil, protocol.Errorf(protocol.CodeInvalidRequest, "%q is not in tools.exec.allowlist of %s", p.Entry, g.opts.ConfigPath)
	}
	rest := slices.Delete(slices.Clone(list), i, i+1)
	if err := config.SetPath(tree, "tools.exec.allowlist", rest); err != nil {
		return nil, protocol.Errorf(protocol.CodeUnavailable, "%v", err)
	}
	next, err := config.Validate(tree, g.opts.Env)
	if err != nil {
		return nil, protocol.Errorf(protocol.CodeInvalidRequest, "the config would be invalid; nothing was written: %v", err)
	}
	if e := g.begin(ctx, c, core.KindAllowlistRevoke, p.Entry, map[string]any{"key": "tools.exec.allowlist"}); e != nil {
		return nil, e
	}
	out := config.Render(tree)
	if err := config.WriteFileAtomic(g.opts.ConfigPath, out, 0o600); err != nil {
		return nil, protocol.Errorf(protocol.CodeUnavailable, "writing config: %v", err)
	}
	live, restart := config.Diff(g.config().cfg, next)
	if err := g.applyConfig(next, live, restart); err != nil {
		g.log.Warn("allowlist revoke written but not applied", "err", err)
	}
	return map[string]any{"ok": true, "entry": p.Entry, "allowlist": nonNil(g.config().cfg.Tools.Exec.Allowlist), "hash": hashBytes(out)}, nil
}

// lookupPath reads a dotted path from a parsed config tree.
func lookupPath(tree map[string]any, path string) any {
	var cur any = tree
	for _, k := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[k]
	}
	return cur
}

// Bounds of sessions.search: it reads transcripts through the store's
// History, so it looks at the most recent sessions and messages only.
const (
	searchSessions = 200
	searchMessages = 500
	searchResults  = 100
	searchSnippet  = 160
)

// mSessionsSearch finds text in the transcripts of the most recent
// sessions (case-insensitive), for the Sessions page. It reveals nothing
// chat.history does not (same scope).
func (g *Gateway) mSessionsSearch(ctx context.Context, c *conn, params json.RawMessage) (any, *protocol.Error) {
	if e := g.needAgent(); e != nil {
		return nil, e
	}
	var p struct {
		Query string `json:"query"`
	}
	if e := protocol.DecodeParams(params, &p); e != nil {
		return nil, e
	}
	q := strings.ToLower(strings.TrimSpace(p.Query))
	if len([]rune(q)) < 2 {
		return nil, protocol.Errorf(protocol.CodeInvalidRequest, "query must have at least 2 characters")
	}
	list, err := g.opts.Store.ListSessions(ctx, store.ListSessionsOptions{Limit: searchSessions})
	if err != nil {
		return nil, protocol.Errorf(protocol.CodeUnavailable, "%v", err)
	}
	hits := []map[string]any{}
	for _, s := range list {
		if len(hits) >= searchResults {
			break
		}
		hist, err := g.opts.Store.History(ctx, s.Key, store.HistoryOptions{Limit: searchMessages})
		if err != nil {
			continue
		}
		for _, m := range hist {
			low := strings.ToLower(m.Content)
			i := strings.Index(low, q)
			if i < 0 {
				continue
			}
			hits = append(hits, map[string]any{"sessionKey": s.Key, "seq": m.Seq, "role": m.Role, "ts": m.CreatedAt.UnixMilli(),
				"provenance": m.Provenance, "snippet": snippet(m.Content, i, len(q))})
			if len(hits) >= searchResults {
				break
			}
		}
	}
	return map[string]any{"query": p.Query, "hits": hits, "sessionsSearched": len(list)}, nil
}

// snippet cuts about searchSnippet bytes of s around the match at i, on
// rune boundaries.
func snippet(s string, i, n int) string {
	from, to := max(0, i-searchSnippet/2), min(len(s), i+n+searchSnippet/2)
	for from > 0 && !utf8.RuneStart(s[from]) {
		from--
	}
	for to < len(s) && !utf8.RuneStart(s[to]) {
		to++
	}
	out := s[from:to]
	if from > 0 {
		out = "…" + out
	}
	if to < len(s) {
		out += "…"
	}
	return out
}
