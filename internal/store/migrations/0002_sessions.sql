-- 0002_sessions: conversations, their transcripts, and model spend.
--
-- A session key ("agent:main:main", "cron:job1") names a conversation;
-- sessions.id is its current session id (a UUID), which /new and /reset
-- replace. Messages carry both, so an old transcript stays (until retention)
-- while it drops out of the context. The token, cost and message totals on
-- a sessions row are those of its current id.
--
-- Times are Unix milliseconds; costs are US dollars; JSON columns are TEXT.

CREATE TABLE sessions (
    key           TEXT PRIMARY KEY,
    id            TEXT NOT NULL UNIQUE,
    agent_id      TEXT NOT NULL,
    channel       TEXT NOT NULL,
    peer_id       TEXT NOT NULL,
    chat_type     TEXT NOT NULL,
    title         TEXT NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    input_tokens  INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    cost_usd      REAL NOT NULL DEFAULT 0,
    message_count INTEGER NOT NULL DEFAULT 0, -- current id, not compacted
    last_model    TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX sessions_updated ON sessions(updated_at);
CREATE INDEX sessions_agent_updated ON sessions(agent_id, updated_at);

-- Every message belongs to a session row (the foreign key): deleting a
-- session means deleting its messages first, all ids of it.
CREATE TABLE messages (
    id            INTEGER PRIMARY KEY,
    session_key   TEXT NOT NULL REFERENCES sessions(key),
    session_id    TEXT NOT NULL,
    seq           INTEGER NOT NULL,           -- 1, 2, 3, … per session_id
    role          TEXT NOT NULL,              -- user | assistant | tool | system
    content       TEXT NOT NULL,
    tool_calls    TEXT,                       -- assistant: JSON array
    tool_call_id  TEXT NOT NULL DEFAULT '',
    tool_name     TEXT NOT NULL DEFAULT '',
    is_error      INTEGER NOT NULL DEFAULT 0,
    provenance    TEXT NOT NULL DEFAULT '',   -- owner | trusted | untrusted
    sender_id     TEXT NOT NULL DEFAULT '',
    model         TEXT NOT NULL DEFAULT '',
    input_tokens  INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    cost_usd      REAL NOT NULL DEFAULT 0,
    decision      TEXT,                       -- tool results: policy decision JSON
    summary       INTEGER NOT NULL DEFAULT 0, -- a compaction summary
    compacted     INTEGER NOT NULL DEFAULT 0, -- replaced by a summary
    run_id        TEXT NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL
) STRICT;
-- Seq assignment (MAX) and uniqueness; the record view of a transcript.
CREATE UNIQUE INDEX messages_session_seq ON messages(session_id, seq);
-- The context (History): only what is not compacted, so a long-lived
-- session's compacted past is not read on every model call.
CREATE INDEX messages_live ON messages(session_id, seq) WHERE compacted = 0;
-- DeleteSession, and the foreign key check when a session row goes.
CREATE INDEX messages_session_key ON messages(session_key);

-- One row per model call. Not tied to sessions by a foreign key: spend
-- history must not shrink when a session is deleted.
CREATE TABLE usage (
    id            INTEGER PRIMARY KEY,
    ts            INTEGER NOT NULL,
    session_key   TEXT NOT NULL,
    session_id    TEXT NOT NULL,
    agent_id      TEXT NOT NULL,
    provider      TEXT NOT NULL,
    model         TEXT NOT NULL,
    run_id        TEXT NOT NULL,
    input_tokens  INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cost_usd      REAL NOT NULL
) STRICT;
-- Spend runs before every model call. Each index ends in cost_usd, so a sum
-- over a time range is read from the index alone (a covering index scan of
-- the rows in range, no table lookups).
CREATE INDEX usage_ts ON usage(ts, cost_usd);
CREATE INDEX usage_session_key ON usage(session_key, ts, cost_usd);
CREATE INDEX usage_session_id ON usage(session_id, session_key, ts, cost_usd);
