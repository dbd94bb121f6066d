-- Every tool-call decision (policy and outcome), for the audit log.
CREATE TABLE decisions (
    id          INTEGER PRIMARY KEY,
    ts          INTEGER NOT NULL,
    session_key TEXT NOT NULL,
    run_id      TEXT NOT NULL DEFAULT '',
    agent_id    TEXT NOT NULL DEFAULT '',
    sender_id   TEXT NOT NULL DEFAULT '',
    tool        TEXT NOT NULL,
    call_id     TEXT NOT NULL DEFAULT '',
    args_sha256 TEXT NOT NULL,            -- hash of the arguments (the arguments themselves stay in the transcript)
    plan_hash   TEXT NOT NULL DEFAULT '',
    action      TEXT NOT NULL CHECK (action IN ('allow', 'ask', 'deny')),
    outcome     TEXT NOT NULL CHECK (outcome IN ('executed', 'denied', 'error')),
    reason      TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX decisions_ts ON decisions (ts);
CREATE INDEX decisions_session ON decisions (session_key, ts);
