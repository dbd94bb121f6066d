package cli

import (
	"context"
	"errors"

	"github.com/talonclaw/talon/internal/auditlog"
	"github.com/talonclaw/talon/internal/core"
	"github.com/talonclaw/talon/internal/gateway"
	"github.com/talonclaw/talon/internal/security"
)

// consoleAudit serves the Control UI's Security page: the static checks of
// `talon security audit` (not --deep: no network probes from a button), and
// with fix the same safe fixes as --fix, each recorded in the audit log.
func (a *app) consoleAudit(p paths, rt *runtime) gateway.SecurityAudit {
	return func(ctx context.Context, fix bool) (any, error) {
		in, err := a.auditInput(p)
		if err != nil {
			return nil, err
		}
		findings := security.Audit(in)
		fixed := []string{}
		if fix {
			done, err := a.applyFixes(p, in, findings)
			for _, f := range done {
				rt.audit(ctx, core.KindAuditFix, "operator", "security.fix", map[string]any{"change": f})
			}
			fixed = append(fixed, done...)
			if err != nil {
				return nil, err
			}
			if in, err = a.auditInput(p); err != nil {
				return nil, err
			}
			findings = security.Audit(in)
		}
		summary := map[string]int{security.Critical: 0, security.Warn: 0, security.Info: 0}
		for _, f := range findings {
			summary[f.Severity]++
		}
		if findings == nil {
			findings = []security.Finding{}
		}
		return map[string]any{"findings": findings, "summary": summary, "fixed": fixed}, nil
	}
}

// consoleVerify serves the Control UI's audit "verify" action.
func consoleVerify(rt *runtime) gateway.AuditVerify {
	return func(ctx context.Context) (auditlog.VerifyResult, error) {
		if rt.auditLog == nil {
			return auditlog.VerifyResult{}, errors.New("the audit log is off (audit.enabled)")
		}
		return rt.auditLog.Verify(ctx)
	}
}
