package cli

import (
	"context"
	"errors"
	"path/filepath"

	"github.com/talonclaw/talon/internal/auditlog"
	"github.com/talonclaw/talon/internal/store"
)

// intent records, through the one audit recorder, a side effect a CLI
// command is about to make, before it makes it (invariant 12), and returns
// the function that records how it ended. st is the command's open store,
// or nil to open one for each record. The error it returns must stop the
// command: a change the audit log cannot record is not made. With
// audit.enabled false the owner has turned the log off and nothing is
// written.
func (a *app) intent(ctx context.Context, st *store.Store, kind, subject string, data map[string]any) (done func(error), err error) {
	none := func(error) {}
	p, err := a.paths()
	if err != nil {
		return none, err
	}
	if cfg, _, err := a.loadConfig(p); err == nil && !cfg.Audit.Enabled {
		return none, nil
	}
	sink := func(ctx context.Context, kind, actor, subject string, data any) error {
		s := st
		if s == nil {
			if err := ensureStateDir(p.StateDir); err != nil {
				return err
			}
			o, err := store.Open(ctx, p.DB)
			if err != nil {
				return err
			}
			defer o.Close()
			s = o
		}
		l, err := auditlog.Open(s, filepath.Join(p.StateDir, "audit.key"))
		if err != nil {
			return err
		}
		_, err = l.Append(ctx, kind, actor, subject, data)
		return err
	}
	rec := &auditlog.Recorder{Sink: sink}
	act, err := rec.Begin(ctx, auditlog.Intent{Kind: kind, Actor: "cli", Subject: subject, Data: data})
	if err != nil {
		return none, err
	}
	return func(err error) {
		if aerr := act.Done(ctx, err, nil); aerr != nil && !errors.Is(aerr, context.Canceled) {
			a.errf("talon: warning: the audit log did not record how this ended: %v\n", aerr)
		}
	}, nil
}
