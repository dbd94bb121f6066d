package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"

	"github.com/talonclaw/talon/internal/llm"
)

// Tool is one capability the model may call (exec, read, write, web_fetch,
// message, …, registered by the gateway's composition root); every call
// reaches Run only after the policy allowed it and its intent was audited.
type Tool interface {
	Spec() llm.ToolSpec
	Run(ctx context.Context, call ToolCall) (ToolResult, error)
}

// ToolCall is what a tool gets to run: the arguments, and whose turn it is.
type ToolCall struct {
	ID         string
	Args       json.RawMessage // valid JSON (checked before Run)
	SessionKey string
	AgentID    string
	SenderID   string
	Workspace  string
	// PlanHash is the canonical plan the policy decided on, if the tool's
	// decision had one; the tool must refuse to run anything else.
	PlanHash string
	// emit publishes an event of the running turn (message tool).
	emit func(Event)
}

// ToolResult is a tool's output. IsError marks a failure the model should see.
type ToolResult struct {
	Content string
	IsError bool
	// Untrusted marks output that came from outside (a web page, a message);
	// the policy issue taints the session on it.
	Untrusted bool
	// Detail is what the audit log records about the execution (exec: the
	// canonical argv, cwd, exit status). Strings in it are scrubbed of
	// secrets before they are written.
	Detail map[string]any
}

// Registry holds the tools offered to the model.
type Registry struct {
	mu    sync.RWMutex
	tools map[string]Tool
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{tools: map[string]Tool{}} }

// Register adds a tool; a second tool with the same name is an error.
func (r *Registry) Register(t Tool) error {
	name := t.Spec().Name
	if name == "" {
		return fmt.Errorf("agent.Registry: tool without a name")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.tools[name]; dup {
		return fmt.Errorf("agent.Registry: tool %q registered twice", name)
	}
	r.tools[name] = t
	return nil
}

// Get returns the named tool.
func (r *Registry) Get(name string) (Tool, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	t, ok := r.tools[name]
	return t, ok
}

// Specs lists the tools for the model, sorted by name.
func (r *Registry) Specs() []llm.ToolSpec {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]llm.ToolSpec, 0, len(r.tools))
	for _, t := range r.tools {
		out = append(out, t.Spec())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
