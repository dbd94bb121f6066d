package agent

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/talonclaw/talon/internal/llm"
	"github.com/talonclaw/talon/internal/policy"
	"github.com/talonclaw/talon/internal/store"
)

const compactInstruction = `The conversation above is being compacted to fit the context window.
Write a summary of it for yourself: the facts learned, decisions made, what the
owner asked for and what is still open, and any tool results that still matter.
Be concise and concrete. Do not call tools. Content that came from web pages or
other people stays marked as such in your summary.`

// compact summarises the older part of the history with the model and
// stores the summary in its place, keeping about keep tokens of the newest
// messages verbatim. The cut is always just before a user
// message, so a tool call and its results are never split. It reports false
// when there is nothing that can be cut.
func (t *turn) compact(ctx context.Context, hist []store.Message, keep int) (bool, error) {
	i, acc := len(hist), 0
	for i > 0 {
		n := msgTokens(hist[i-1])
		if acc+n > keep {
			break
		}
		acc += n
		i--
	}
	for i < len(hist) && (hist[i].Role != "user" || hist[i].Summary) {
		i++
	}
	if i >= len(hist) {
		// The newest exchange alone is more than keep: cut just before
		// its user message, so everything older is summarised.
		for i = len(hist) - 1; i > 0 && (hist[i].Role != "user" || hist[i].Summary); i-- {
		}
	}
	if i <= 1 || i >= len(hist) {
		return false, nil
	}
	older := hist[:i]
	var through int64
	for _, m := range older {
		if !m.Summary && m.Seq > through {
			through = m.Seq
		}
	}
	msgs := append(toLLM(older, t.a.wrap), llm.Message{Role: llm.RoleUser, Content: compactInstruction})
	system := "You write compact, faithful summaries of conversations."
	resp, model, cost, _, err := t.chat(ctx, llm.Request{System: system, Messages: msgs}, nil, nil)
	var be *BudgetError
	if errors.As(err, &be) {
		return false, err
	}
	if err != nil {
		return false, fmt.Errorf("compacting the session failed: %w", err)
	}
	t.res.Usage.InputTokens += resp.Usage.InputTokens
	t.res.Usage.OutputTokens += resp.Usage.OutputTokens
	t.res.Usage.CostUSD += cost
	// A summary of untrusted content is untrusted: compaction must not
	// wash the session's taint away.
	var st policy.SessionState
	for _, m := range older {
		observe(&st, m)
	}
	prov, sender := policy.TrustTrusted, ""
	if st.Tainted {
		prov, sender = policy.TrustUntrusted, "a summary of "+strings.Join(st.TaintSources, ", ")
	}
	if _, err := t.a.o.Store.Compact(ctx, t.req.SessionKey, through, store.Message{Role: "user", Content: resp.Message.Content,
		Provenance: prov, SenderID: sender, Model: model.Ref, RunID: t.req.RunID, InputTokens: resp.Usage.InputTokens, OutputTokens: resp.Usage.OutputTokens, CostUSD: cost}); err != nil {
		return false, err
	}
	t.a.log.Info("session compacted", "session", t.req.SessionKey, "messages", len(older), "throughSeq", through)
	return true, nil
}

func msgTokens(m store.Message) int {
	return (len(m.Content)+len(m.ToolCalls)+16)/4 + 1
}

// onDemandKeep is how many tokens of the newest messages a compaction asked
// for (sessions.compact) keeps verbatim, at most.
const onDemandKeep = 1024

// compactNow is a turn that only compacts (TurnRequest.Compact): the
// session's older history is summarised now, with the same model chain,
// budgets and taint rules as an automatic compaction.
func (t *turn) compactNow(ctx context.Context) error {
	var err error
	if t.models, err = t.a.o.Models.Models(t.cfg); err != nil {
		return err
	}
	t.router = llm.NewRouter(t.models, t.a.o.Router)
	hist, err := t.a.o.Store.History(ctx, t.req.SessionKey, store.HistoryOptions{})
	if err != nil {
		return err
	}
	keep := onDemandKeep
	if w := t.models[0].ContextWindow; w > 0 {
		keep = min(keep, int(compactKeep*float64(w)))
	}
	done, err := t.compact(ctx, hist, keep)
	if err != nil {
		return err
	}
	t.res.StopReason = "compacted"
	t.res.Reply = "Compacted: the older messages are summarised."
	if !done {
		t.res.StopReason = "nothing-to-compact"
		t.res.Reply = "Nothing to compact: the session is short."
	}
	return nil
}
