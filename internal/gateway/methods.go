package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"slices"
	"sort"
	"time"

	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/core"
	"github.com/talonclaw/talon/internal/logging"
	"github.com/talonclaw/talon/internal/protocol"
	"github.com/talonclaw/talon/internal/router"
	"github.com/talonclaw/talon/internal/secret"
)

// handler runs one method. It returns the response payload or an error.
type handler func(ctx context.Context, c *conn, params json.RawMessage) (any, *protocol.Error)

// method pairs a handler with the scope it needs. Every method names one;
// the check in dispatch runs before the handler, and a method missing from
// the table does not exist.
type method struct {
	scope string
	fn    handler
}

func (g *Gateway) methodTable() map[string]method {
	return map[string]method{
		"health":           {protocol.ScopeRead, g.mHealth},
		"status":           {protocol.ScopeRead, g.mStatus},
		"channels.status":  {protocol.ScopeRead, g.mChannelsStatus},
		"system-presence":  {protocol.ScopeRead, g.mSystemPresence},
		"config.get":       {protocol.ScopeAdmin, g.mConfigGet},
		"config.patch":     {protocol.ScopeAdmin, g.mConfigPatch},
		"logs.tail":        {protocol.ScopeRead, g.mLogsTail}, // redacted; read, as OpenClaw's clients ask for it
		"models.list":      {protocol.ScopeRead, g.mModelsList},
		"cron.status":      {protocol.ScopeRead, g.mCronStatus},
		"last-heartbeat":   {protocol.ScopeRead, g.mLastHeartbeat},
		"device.pair.list": {protocol.ScopePairing, g.mPairList},
		"node.pair.list":   {protocol.ScopePairing, g.mPairList},
		"audit.tail":       {protocol.ScopeAdmin, g.mAuditTail},
		"chat.send":        {protocol.ScopeWrite, g.mChatSend},
		"chat.history":     {protocol.ScopeRead, g.mChatHistory},
		"chat.abort":       {protocol.ScopeWrite, g.mChatAbort},
		"sessions.list":    {protocol.ScopeRead, g.mSessionsList},
		"sessions.reset":   {protocol.ScopeWrite, g.mSessionsReset},
		"sessions.delete":  {protocol.ScopeAdmin, g.mSessionsDelete},
		"usage.status":     {protocol.ScopeRead, g.mUsageStatus},

		"cron.list":   {protocol.ScopeRead, g.mCronList},
		"cron.add":    {protocol.ScopeAdmin, g.mCronAddCompat}, // Talon's or OpenClaw's shape
		"cron.remove": {protocol.ScopeAdmin, g.mCronRemove},
		"cron.runs":   {protocol.ScopeRead, g.mCronRuns},

		"pairing.list":    {protocol.ScopePairing, g.mPairingList},
		"pairing.approve": {protocol.ScopePairing, g.mPairingApprove},
		"pairing.reject":  {protocol.ScopePairing, g.mPairingReject},

		"exec.approval.list":    {protocol.ScopeApprovals, g.mApprovalListCompat}, // Talon's shape, or OpenClaw's for its clients
		"exec.approval.resolve": {protocol.ScopeApprovals, g.mApprovalResolve},

		// OpenClaw's clients (openclaw*.go; docs/openclaw-compat.md).
		"sessions.subscribe":            {protocol.ScopeRead, g.mSessionsSubscribe},
		"sessions.unsubscribe":          {protocol.ScopeRead, g.mSessionsUnsubscribe},
		"sessions.messages.subscribe":   {protocol.ScopeRead, g.mSessionsMessagesSubscribe},
		"sessions.messages.unsubscribe": {protocol.ScopeRead, g.mSessionsMessagesUnsubscribe},
		"sessions.describe":             {protocol.ScopeRead, g.mSessionsDescribe},
		"skills.status":                 {protocol.ScopeRead, g.mSkillsStatus},
		"sessions.compact":              {protocol.ScopeAdmin, g.mSessionsCompact},
		"commands.list":                 {protocol.ScopeRead, g.mCommandsList},
		"agents.list":                   {protocol.ScopeRead, g.mAgentsList},
		"agent":                         {protocol.ScopeWrite, g.mAgent},
		"agent.wait":                    {protocol.ScopeWrite, g.mAgentWait},
		"wake":                          {protocol.ScopeWrite, g.mWake},
		"approval.get":                  {protocol.ScopeApprovals, g.mApprovalGet},
		"approval.resolve":              {protocol.ScopeApprovals, g.mApprovalResolveCompat},
		"plugin.approval.list":          {protocol.ScopeApprovals, g.mPluginApprovalList},
		"openclaw.approval.list":        {protocol.ScopeApprovals, g.mOpenclawApprovalList},
		"device.pair.approve":           {protocol.ScopePairing, g.mDevicePairResolve},
		"device.pair.reject":            {protocol.ScopePairing, g.mDevicePairResolve},
		"node.list":                     {protocol.ScopeRead, g.mNodeList},
		"cron.get":                      {protocol.ScopeRead, g.mCronGet},
		"cron.update":                   {protocol.ScopeAdmin, g.mCronUpdate},
		"cron.run":                      {protocol.ScopeAdmin, g.mCronRun},
		"message.action":                {protocol.ScopeWrite, g.mMessageAction},
		"usage.cost":                    {protocol.ScopeRead, g.mUsageCost},
		"diagnostics.stability":         {protocol.ScopeRead, g.mDiagnosticsStability},
		"question.list":                 {protocol.ScopeRead, g.mQuestionList},
		"taskSuggestions.list":          {protocol.ScopeRead, g.mTaskSuggestionsList},
	}
}

func (g *Gateway) methodNames() []string {
	names := make([]string, 0, len(g.methods))
	for n := range g.methods {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// dispatch is the single choke point for requests after connect: unknown
// methods fail closed, then the scope check, then the handler; the outcome
// of every side effect the handler began (Gateway.begin) is recorded when
// it returns.
func (g *Gateway) dispatch(ctx context.Context, c *conn, req *protocol.Request) protocol.Response {
	m, ok := g.methods[req.Method]
	if !ok {
		// Exactly OpenClaw's answer: its clients fall back to older
		// methods when they see this code and text.
		return protocol.ErrorResponse(req.ID, protocol.Errorf(protocol.CodeInvalidRequest, "unknown method: %s", req.Method))
	}
	if !c.hasScope(m.scope) {
		c.log.Warn("request refused: missing scope", "method", req.Method, "scope", m.scope)
		return protocol.ErrorResponse(req.ID, protocol.Errorf(protocol.CodeForbidden, "method %s needs scope %s", req.Method, m.scope).
			WithDetails(map[string]any{"code": protocol.DetailMissingScope, "scope": m.scope}))
	}
	ca := &callAudit{}
	hctx := context.WithValue(context.WithValue(ctx, callAuditKey{}, ca), reqIDKey{}, req.ID)
	payload, perr := m.fn(hctx, c, req.Params)
	for _, act := range ca.acts {
		var err error
		if perr != nil {
			err = perr
		}
		if aerr := act.Done(ctx, err, map[string]any{"method": req.Method}); aerr != nil {
			c.log.Warn("audit: a method's outcome was not recorded", "method", req.Method, "err", aerr)
		}
	}
	if perr != nil {
		return protocol.ErrorResponse(req.ID, perr)
	}
	return protocol.OKResponse(req.ID, payload)
}

// snapshot is the state summary sent in hello-ok.
func (g *Gateway) snapshot() map[string]any {
	return map[string]any{
		"uptimeMs": g.opts.Now().Sub(g.started).Milliseconds(),
	}
}

func (g *Gateway) mHealth(ctx context.Context, c *conn, _ json.RawMessage) (any, *protocol.Error) {
	start := g.opts.Now()
	chans, order, _ := g.channelHealth()
	out := map[string]any{
		"ok":           true,
		"ts":           start.UnixMilli(),
		"channels":     chans,
		"sessions":     g.sessionSummary(ctx),
		"uptimeMs":     start.Sub(g.started).Milliseconds(),
		"version":      g.opts.Version,
		"storeOk":      true,
		"channelOrder": order,
	}
	if g.opts.Store != nil {
		if err := g.opts.Store.Ping(ctx); err != nil {
			out["ok"] = false
			out["storeOk"] = false
			out["storeError"] = err.Error()
		}
	}
	out["durationMs"] = g.opts.Now().Sub(start).Milliseconds()
	return out, nil
}

func (g *Gateway) mStatus(ctx context.Context, c *conn, _ json.RawMessage) (any, *protocol.Error) {
	lc := g.config()
	gc := lc.cfg.Gateway
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	_, _, accts := g.channelHealth()
	summary := make([]string, 0, len(accts))
	for _, a := range accts {
		line := a.Channel + " " + a.Account + ": " + a.State
		if a.LastError != "" {
			line += " (" + a.LastError + ")"
		}
		summary = append(summary, line)
	}
	return map[string]any{
		"ok":      true,
		"version": g.opts.Version,
		"ts":      g.opts.Now().UnixMilli(),
		"gateway": map[string]any{
			"bind":        gc.Bind,
			"host":        g.host,
			"port":        g.port(),
			"authMode":    gc.Auth.Mode,
			"connections": g.ConnCount(),
			"uptimeMs":    g.opts.Now().Sub(g.started).Milliseconds(),
			"pid":         os.Getpid(),
		},
		"runtime": map[string]any{
			"go":         runtime.Version(),
			"goroutines": runtime.NumGoroutine(),
			"heapBytes":  ms.HeapAlloc,
			"sysBytes":   ms.Sys,
		},
		"channels":       accts,
		"channelSummary": summary,
		"sessions":       g.statusSessions(ctx),
		"paths":          map[string]any{"stateDir": g.opts.StateDir, "config": g.opts.ConfigPath},
	}, nil
}

// mSystemPresence lists connected nodes and devices; none exist yet. OpenClaw
// clients call it from their status commands and expect an array.
func (g *Gateway) mSystemPresence(ctx context.Context, c *conn, _ json.RawMessage) (any, *protocol.Error) {
	return []any{}, nil
}

func (g *Gateway) mChannelsStatus(ctx context.Context, c *conn, _ json.RawMessage) (any, *protocol.Error) {
	list := []router.AccountStatus{}
	if g.opts.Channels != nil {
		list = g.opts.Channels.Status()
	}
	out := map[string]any{"ts": g.opts.Now().UnixMilli(), "channels": list}
	accts := make([]statusAccount, 0, len(list))
	for _, a := range list {
		accts = append(accts, statusAccount{Channel: a.Channel, Account: a.Account, State: a.State, LastError: a.LastError})
	}
	channelsStatusOC(out, accts)
	if isOpenClawClient(c) {
		// OpenClaw's result is a closed object whose channels is a map.
		out["channels"] = out["channelSummaries"]
		delete(out, "channelSummaries")
	}
	return out, nil
}

// mConfigGet returns the running config with every secret as "***", and the
// hash of the file that config.patch must quote as baseHash.
func (g *Gateway) mConfigGet(ctx context.Context, c *conn, _ json.RawMessage) (any, *protocol.Error) {
	out := map[string]any{
		"config": json.RawMessage(g.config().cfg.Redacted()),
		"path":   g.opts.ConfigPath,
		"exists": false,
	}
	if g.opts.ConfigPath != "" {
		if _, f, err := config.Load(g.opts.ConfigPath, g.opts.Env); err == nil {
			out["exists"] = true
			out["hash"] = f.Hash
			out["valid"] = true
		} else if raw, rerr := os.ReadFile(g.opts.ConfigPath); rerr == nil {
			out["exists"] = true
			out["hash"] = hashBytes(raw)
			out["valid"] = false
			out["issues"] = err.Error()
		}
	}
	return out, nil
}

type configPatchParams struct {
	// Raw is a JSON5 merge patch as text (OpenClaw's shape); Patch the same as
	// an object. Exactly one is needed.
	Raw      string         `json:"raw,omitempty"`
	Patch    map[string]any `json:"patch,omitempty"`
	BaseHash string         `json:"baseHash"`
}

// mConfigPatch applies an RFC 7386 merge patch to the config file. The patch
// must name the hash of the file it was made against, the result must
// validate, and the file is replaced atomically; otherwise nothing changes.
func (g *Gateway) mConfigPatch(ctx context.Context, c *conn, params json.RawMessage) (any, *protocol.Error) {
	var p configPatchParams
	if e := protocol.DecodeParams(params, &p); e != nil {
		return nil, e
	}
	if g.opts.ConfigPath == "" {
		return nil, protocol.Errorf(protocol.CodeUnavailable, "this gateway runs without a config file")
	}
	patch := p.Patch
	if p.Raw != "" {
		if patch != nil {
			return nil, protocol.Errorf(protocol.CodeInvalidRequest, "give either raw or patch, not both")
		}
		t, err := config.ParseTree([]byte(p.Raw))
		if err != nil {
			return nil, protocol.Errorf(protocol.CodeInvalidRequest, "raw: %v", err)
		}
		patch = t
	}
	if patch == nil {
		return nil, protocol.Errorf(protocol.CodeInvalidRequest, "missing patch (give raw or patch)")
	}
	if p.BaseHash == "" {
		return nil, protocol.Errorf(protocol.CodeInvalidRequest, "missing baseHash (hint: call config.get and pass its hash)")
	}
	if path, ok := findRedacted(patch, ""); ok {
		return nil, protocol.Errorf(protocol.CodeInvalidRequest, "%s: %q is the redacted placeholder, not a value (hint: leave secrets you do not change out of the patch)", path, secret.Redacted)
	}
	g.configMu.Lock()
	defer g.configMu.Unlock()
	raw, err := os.ReadFile(g.opts.ConfigPath)
	if err != nil {
		return nil, protocol.Errorf(protocol.CodeUnavailable, "reading config: %v", err)
	}
	if hashBytes(raw) != p.BaseHash {
		return nil, protocol.Errorf(protocol.CodeConflict, "config changed since baseHash was read (hint: call config.get again and redo the patch)")
	}
	tree, err := config.ParseTree(raw)
	if err != nil {
		return nil, protocol.Errorf(protocol.CodeUnavailable, "current config does not parse: %v", err)
	}
	merged := config.MergePatch(tree, patch)
	next, err := config.Validate(merged, g.opts.Env)
	if err != nil {
		var ve *config.ValidationError
		e := protocol.Errorf(protocol.CodeInvalidRequest, "patched config is invalid; nothing was written: %v", err)
		if errors.As(err, &ve) {
			e.Details = map[string]any{"problems": ve.Problems}
		}
		return nil, e
	}
	out := config.Render(merged)
	live, restart := config.Diff(g.config().cfg, next)
	if e := g.begin(ctx, c, core.KindConfigChange, "config.patch", map[string]any{"keys": append(slices.Clone(live), restart...), "via": "config.patch"}); e != nil {
		return nil, e
	}
	if err := config.WriteFileAtomic(g.opts.ConfigPath, out, 0o600); err != nil {
		return nil, protocol.Errorf(protocol.CodeUnavailable, "writing config: %v", err)
	}
	if err := g.applyConfig(next, live, restart); err != nil {
		g.log.Warn("config.patch written but not applied", "err", err)
	}
	c.log.Info("config patched", "changed", append(slices.Clone(live), restart...))
	return map[string]any{
		"ok":              true,
		"hash":            hashBytes(out),
		"applied":         nonNil(live),
		"restartRequired": nonNil(restart),
	}, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// findRedacted finds a "***" string in a patch: a client that round-trips
// config.get output would otherwise overwrite a real secret with it.
func findRedacted(v any, path string) (string, bool) {
	switch t := v.(type) {
	case string:
		return path, t == secret.Redacted
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := k
			if path != "" {
				p = path + "." + k
			}
			if q, ok := findRedacted(t[k], p); ok {
				return q, true
			}
		}
	case []any:
		for i, e := range t {
			if q, ok := findRedacted(e, fmt.Sprintf("%s.%d", path, i)); ok {
				return q, true
			}
		}
	}
	return "", false
}

type logsTailParams struct {
	Lines int `json:"lines"`
	Limit int `json:"limit"`
}

const maxTailLines = 2000

func (g *Gateway) mLogsTail(ctx context.Context, c *conn, params json.RawMessage) (any, *protocol.Error) {
	var p logsTailParams
	if e := protocol.DecodeParams(params, &p); e != nil {
		return nil, e
	}
	n := p.Lines
	if n == 0 {
		n = p.Limit
	}
	if n <= 0 {
		n = 200
	}
	n = min(n, maxTailLines)
	if g.opts.LogFile == "" {
		return map[string]any{"file": "", "lines": []string{}}, nil
	}
	lines, err := logging.Tail(g.opts.LogFile, n)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, protocol.Errorf(protocol.CodeUnavailable, "reading log: %v", err)
	}
	if lines == nil {
		lines = []string{}
	}
	if g.opts.Scrub != nil {
		for i, l := range lines {
			lines[i] = g.opts.Scrub(l)
		}
	}
	return map[string]any{"file": g.opts.LogFile, "lines": lines, "ts": time.Now().UnixMilli()}, nil
}

// hashBytes is the config file hash that config.get reports and config.patch
// checks: SHA-256 hex of the file's bytes, as config.File.Hash.
func hashBytes(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func (g *Gateway) port() int {
	if ta, ok := g.addr.(*net.TCPAddr); ok {
		return ta.Port
	}
	return g.config().cfg.Gateway.Port
}

// AuditTail returns the last n audit records; set by the process that owns
// the audit log.
type AuditTail func(ctx context.Context, n int) (any, error)

func (g *Gateway) mAuditTail(ctx context.Context, c *conn, params json.RawMessage) (any, *protocol.Error) {
	var p struct {
		N int `json:"n"`
	}
	if e := protocol.DecodeParams(params, &p); e != nil {
		return nil, e
	}
	if g.opts.AuditTail == nil {
		return nil, protocol.Errorf(protocol.CodeUnavailable, "the audit log is off (audit.enabled)")
	}
	if p.N <= 0 || p.N > 1000 {
		p.N = 50
	}
	recs, err := g.opts.AuditTail(ctx, p.N)
	if err != nil {
		return nil, protocol.Errorf(protocol.CodeUnavailable, "%v", err)
	}
	return map[string]any{"records": recs}, nil
}
