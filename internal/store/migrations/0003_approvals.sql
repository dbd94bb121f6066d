-- Pending and resolved approvals of tool calls (exec and anything the policy
-- asks about). A row binds the decision to the exact plan it was asked for.
CREATE TABLE approvals (
    id          TEXT PRIMARY KEY,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    session_key TEXT NOT NULL,
    run_id      TEXT NOT NULL DEFAULT '',
    agent_id    TEXT NOT NULL DEFAULT '',
    tool        TEXT NOT NULL,
    args        TEXT NOT NULL,           -- canonical arguments (JSON)
    plan_hash   TEXT NOT NULL,           -- sha256 of the canonical plan
    reason      TEXT NOT NULL,           -- why the policy asked
    status      TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'allowed', 'denied', 'expired')),
    decision    TEXT NOT NULL DEFAULT '' CHECK (decision IN ('', 'allow-once', 'allow-always', 'deny')),
    resolved_at INTEGER NOT NULL DEFAULT 0,
    resolved_by TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX approvals_pending ON approvals (status, created_at);
