package agent

import (
	"fmt"
	"sort"
	"sync"

	"github.com/talonclaw/talon/internal/core"
	"github.com/talonclaw/talon/internal/llm"
)

// Tools are core.Tool: each turns a call into a core.Plan, the policy
// decides on the plan, and the tool runs exactly that plan after its
// intent is in the audit log.

// Registry holds the tools offered to the model.
type Registry struct {
	mu    sync.RWMutex
	tools map[string]core.Tool
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{tools: map[string]core.Tool{}} }

// Register adds tools; a second tool with the same name is an error.
func (r *Registry) Register(ts ...core.Tool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, t := range ts {
		name := t.Spec().Name
		if name == "" {
			return fmt.Errorf("agent.Registry: tool without a name")
		}
		if _, dup := r.tools[name]; dup {
			return fmt.Errorf("agent.Registry: tool %q registered twice", name)
		}
		r.tools[name] = t
	}
	return nil
}

// Get returns the named tool.
func (r *Registry) Get(name string) (core.Tool, bool) {
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
