package migrate

import (
	"slices"
	"strings"
)

// MaxFileBytes bounds a workspace file the migration copies.
const MaxFileBytes = 1 << 20

// WorkspaceEntry is one entry at the top of OpenClaw's workspace, as the
// caller found it with Lstat (symbolic links are not followed).
type WorkspaceEntry struct {
	Name    string
	Regular bool
	Dir     bool
	Size    int64
}

// FileNote reports what happens to one workspace entry.
type FileNote struct {
	Name string `json:"name"`
	// Action is copy, overwrite, keep-existing or skip.
	Action string `json:"action"`
	Reason string `json:"reason,omitempty"`
}

// PlanFiles decides what happens to each entry of OpenClaw's workspace:
// the files Talon reads (known) are copied, an existing Talon file is kept
// unless overwrite is set, and anything that is not a regular file (a
// symbolic link could pull any file of the host into the prompt) or is
// larger than MaxFileBytes is skipped.
func PlanFiles(entries []WorkspaceEntry, known []string, exists func(name string) bool, overwrite bool) []FileNote {
	out := []FileNote{}
	for _, e := range entries {
		n := FileNote{Name: e.Name, Action: "skip"}
		switch {
		case !slices.Contains(known, e.Name):
			if e.Dir || !strings.HasSuffix(e.Name, ".md") || strings.HasPrefix(e.Name, ".") {
				continue // not a workspace file of either program's making
			}
			n.Reason = "Talon does not read this file"
		case !e.Regular:
			n.Reason = "not a regular file (a symbolic link is never followed)"
		case e.Size > MaxFileBytes:
			n.Reason = "larger than 1 MiB"
		case exists(e.Name) && !overwrite:
			n.Action, n.Reason = "keep-existing", "Talon's workspace already has it (--force replaces it)"
		case exists(e.Name):
			n.Action = "overwrite"
		default:
			n.Action = "copy"
		}
		out = append(out, n)
	}
	return out
}
