-- Scheduled jobs and their runs. Each run is a turn in the session cron:<id>.
CREATE TABLE cron_jobs (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL DEFAULT '',
    schedule    TEXT NOT NULL,           -- cron expression (5 or 6 fields, or @daily and the like)
    message     TEXT NOT NULL,           -- what the agent is told at each run
    agent_id    TEXT NOT NULL DEFAULT 'main',
    created_by  TEXT NOT NULL,           -- session or operator that created it
    created_at  INTEGER NOT NULL,
    enabled     INTEGER NOT NULL DEFAULT 1,
    next_run_at INTEGER NOT NULL,
    last_run_at INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE cron_runs (
    id          INTEGER PRIMARY KEY,
    job_id      TEXT NOT NULL,
    started_at  INTEGER NOT NULL,
    run_id      TEXT NOT NULL DEFAULT '',
    missed      INTEGER NOT NULL DEFAULT 0,  -- scheduled runs coalesced into this one
    status      TEXT NOT NULL DEFAULT 'started',
    error       TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX cron_jobs_due ON cron_jobs (enabled, next_run_at);
CREATE INDEX cron_runs_job ON cron_runs (job_id, started_at);
