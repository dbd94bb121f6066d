// Package tools is the list of Talon's built-in tools. Adding a tool is a
// package implementing core.Tool (Spec, Plan, Run) and one line in
// Builtin; the policy decides on the tool's plans, so it needs no change.
package tools

import (
	"github.com/talonclaw/talon/internal/core"
	"github.com/talonclaw/talon/internal/cron"
	"github.com/talonclaw/talon/internal/store"
	"github.com/talonclaw/talon/internal/tools/exectool"
	"github.com/talonclaw/talon/internal/tools/fstools"
	"github.com/talonclaw/talon/internal/tools/msgtool"
	"github.com/talonclaw/talon/internal/tools/sessiontools"
	"github.com/talonclaw/talon/internal/tools/skilltool"
	"github.com/talonclaw/talon/internal/tools/web"
)

// Deps are what the built-in tools stand on. The zero Deps is enough for
// Spec (Catalog); running a tool needs its part filled in.
type Deps struct {
	FS       fstools.Options
	Exec     exectool.Options
	Fetch    web.FetchOptions
	Search   web.SearchOptions
	Sessions sessiontools.Options
	Outbound msgtool.Outbound
	Store    *store.Store
	Skills   *skilltool.Library
}

// Builtin returns every built-in tool, one line each.
func Builtin(d Deps) []core.Tool {
	var ts []core.Tool
	ts = append(ts, fstools.Tools(d.FS)...)            // read, write, edit, apply_patch
	ts = append(ts, exectool.New(d.Exec))              // exec
	ts = append(ts, exectool.ProcessTool(d.Exec))      // process
	ts = append(ts, web.NewFetch(d.Fetch))             // web_fetch
	ts = append(ts, web.NewSearch(d.Search))           // web_search
	ts = append(ts, msgtool.New(d.Outbound))           // message
	ts = append(ts, sessiontools.Tools(d.Sessions)...) // sessions_list, sessions_history, sessions_send
	ts = append(ts, cron.Tool(d.Store, nil))           // cron
	ts = append(ts, skilltool.Tool(d.Skills))          // skill_read
	return ts
}

// Catalog lists the built-in tools' specs (names and groups), for what
// must know them without running them: config migration, the docs.
func Catalog() []core.Spec {
	var out []core.Spec
	for _, t := range Builtin(Deps{}) {
		out = append(out, t.Spec())
	}
	return out
}
