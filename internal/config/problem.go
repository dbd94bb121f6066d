package config

import (
	"errors"
	"slices"
	"strings"
)

// ErrNotFound is returned by UnsetPath when the path does not exist.
var ErrNotFound = errors.New("config: no such key")

// Problem is one thing wrong with a configuration file.
type Problem struct {
	// Path is the dotted key path, e.g. "channels.telegram.dmPolicy" or
	// "tools.exec.allowlist.0"; "" for the whole file (syntax errors).
	Path string `json:"path"`
	// Message says what is wrong, lowercase, without the path.
	Message string `json:"message"`
	// Hint says how to fix it; may be empty.
	Hint string `json:"hint,omitempty"`
}

// String formats the problem as one line: `config: <path>: <message> (hint: <hint>)`.
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString("config: ")
	if p.Path != "" {
		b.WriteString(p.Path)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	if p.Hint != "" {
		b.WriteString(" (hint: ")
		b.WriteString(p.Hint)
		b.WriteString(")")
	}
	return b.String()
}

// ValidationError holds every problem found in a configuration file.
// Parse, ParseTree, Validate and Load return it (wrapped, for Load);
// use errors.As to get at the problems.
type ValidationError struct {
	Problems []Problem
}

// Error lists the problems sorted by path, one per line.
func (e *ValidationError) Error() string {
	ps := sortedProblems(e.Problems)
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

func sortedProblems(ps []Problem) []Problem {
	ps = slices.Clone(ps)
	slices.SortStableFunc(ps, func(a, b Problem) int {
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		return strings.Compare(a.Message, b.Message)
	})
	return slices.CompactFunc(ps, func(a, b Problem) bool { return a == b })
}

// problems collects problems during validation.
type problems struct {
	list []Problem
}

func (ps *problems) add(path, msg, hint string) {
	ps.list = append(ps.list, Problem{Path: path, Message: msg, Hint: hint})
}

// at reports whether a problem was already recorded at path or below it,
// so cross-field rules do not pile a second complaint onto a bad value.
func (ps *problems) at(path string) bool {
	for _, p := range ps.list {
		if p.Path == path || strings.HasPrefix(p.Path, path+".") {
			return true
		}
	}
	return false
}

func (ps *problems) err() error {
	if len(ps.list) == 0 {
		return nil
	}
	return &ValidationError{Problems: sortedProblems(ps.list)}
}

// joinPath appends a key to a dotted path.
func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
