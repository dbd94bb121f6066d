package core

// Audit record kinds: every kind Talon writes to the audit log is one of
// these (auditlog's TestAuditKindsAreConstants finds a literal passed
// instead).
const (
	KindAuthOK          = "auth.ok"
	KindAuthFail        = "auth.fail"
	KindPairingRequest  = "pairing.request"
	KindPairingResolve  = "pairing.resolve"
	KindApprovalRequest = "approval.request"
	KindApprovalResolve = "approval.resolve"
	KindApprovalRefused = "approval.refused" // an answer from someone who may not approve
	KindPolicyDecision  = "policy.decision"
	KindToolIntent      = "tool.intent" // written before a tool runs; the outcome follows as tool.exec
	KindToolExec        = "tool.exec"
	KindMessageOut      = "message.outbound"
	KindConfigChange    = "config.change"
	KindSecurityAlert   = "security.alert"
	KindBudgetRefused   = "budget.refused"
	KindAuditFix        = "audit.fix"
	KindSessionReset    = "session.reset"
	KindSessionDelete   = "session.delete"
	KindSessionPurge    = "session.purge"
	KindSessionCompact  = "session.compact"
	KindCronAdd         = "cron.add"
	KindCronRemove      = "cron.remove"
	KindCronUpdate      = "cron.update"      // a change to an existing job (enable, edit) or a run on demand
	KindDeviceEnroll    = "device.enroll"    // a browser enrolled in the Control UI
	KindDeviceRevoke    = "device.revoke"    // an enrolled browser revoked
	KindDeviceInvite    = "device.invite"    // a one-time link for another browser
	KindAllowlistRevoke = "allowlist.revoke" // a standing exec grant removed
	KindSecretSet       = "secret.set"
	KindSecretRemove    = "secret.remove"
	KindMigrate         = "migrate.openclaw"
	KindUpdateInstalled = "update.installed"
	KindUpdateRefused   = "update.refused"
	KindUpdateRollback  = "update.rolled_back"
	KindSkillInstall    = "skill.install"
	KindSkillTrust      = "skill.trust"
	KindSkillRemove     = "skill.remove"
	KindOutcome         = "action.outcome" // how an action whose intent was recorded ended (Recorder)
	KindCheckpoint      = "checkpoint"     // written by auditlog's Checkpoint only
	KindTruncate        = "truncate"       // written by auditlog's Truncate only
)
