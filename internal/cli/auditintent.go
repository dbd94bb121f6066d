package cli

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/talonclaw/talon/internal/auditlog"
	"github.com/talonclaw/talon/internal/store"
)

// intent writes the audit record of a side effect a CLI command is about
// to make, before it makes it (invariant 12). st is the command's open
// store, or nil to open one. The error it returns must stop the command:
// a change the audit log cannot record is not made. With audit.enabled
// false the owner has turned the log off and nothing is written.
func (a *app) intent(ctx context.Context, st *store.Store, kind, subject string, data any) error {
	p, err := a.paths()
	if err != nil {
		return err
	}
	if cfg, _, err := a.loadConfig(p); err == nil && !cfg.Audit.Enabled {
		return nil
	}
	if st == nil {
		if err := ensureStateDir(p.StateDir); err != nil {
			return err
		}
		s, err := store.Open(ctx, p.DB)
		if err != nil {
			return fmt.Errorf("not done: the audit log could not record it (%w)", err)
		}
		defer s.Close()
		st = s
	}
	l, err := auditlog.Open(st, filepath.Join(p.StateDir, "audit.key"))
	if err == nil {
		_, err = l.Append(ctx, kind, "cli", subject, data)
	}
	if err != nil {
		return fmt.Errorf("not done: the audit log could not record it (%w)", err)
	}
	return nil
}
