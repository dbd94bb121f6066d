-- 0008_usage_reservations: model calls in flight, held against the budgets.
--
-- Before a model call the agent inserts the call's worst-case cost here, in
-- the same write transaction (BEGIN IMMEDIATE) that checks every budget
-- against recorded spend plus every reservation still held, so turns that
-- start together, in one process or in several sharing this file, cannot
-- all pass a check that only some of them fit (invariant 11). After the
-- call one transaction deletes the row and inserts the real usage row; a
-- failed or cancelled call deletes it. A process that dies mid-call leaves
-- its row behind: it stops counting at expires_at (the reserving process's
-- turn timeout plus a grace period after created_at), and the next
-- reservation deletes it.
--
-- Times are Unix milliseconds; costs are US dollars.
CREATE TABLE usage_reservations (
    id          INTEGER PRIMARY KEY,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    session_key TEXT NOT NULL,
    session_id  TEXT NOT NULL,
    agent_id    TEXT NOT NULL,
    provider    TEXT NOT NULL,
    model       TEXT NOT NULL,
    run_id      TEXT NOT NULL,
    cost_usd    REAL NOT NULL,    -- worst case: prompt estimate at the input price + maxTokens at the output price
    tokens      INTEGER NOT NULL  -- worst case: prompt estimate + maxTokens
) STRICT;
CREATE INDEX usage_reservations_expires ON usage_reservations(expires_at);

-- Usage summed by UTC day (day = ts / 86400000), kept by triggers in the
-- transaction that writes usage, so the budget check inside Reserve reads
-- at most 31 rows for a month instead of every call in it: the check runs
-- under the database's write lock, and must not hold it for long.
CREATE TABLE usage_daily (
    day      INTEGER PRIMARY KEY,
    cost_usd REAL NOT NULL,
    tokens   INTEGER NOT NULL,  -- input plus output
    calls    INTEGER NOT NULL
) STRICT;
INSERT INTO usage_daily(day, cost_usd, tokens, calls)
    SELECT ts / 86400000, SUM(cost_usd), SUM(input_tokens + output_tokens), COUNT(*) FROM usage GROUP BY ts / 86400000;
CREATE TRIGGER usage_daily_insert AFTER INSERT ON usage BEGIN
    INSERT INTO usage_daily(day, cost_usd, tokens, calls)
        VALUES (NEW.ts / 86400000, NEW.cost_usd, NEW.input_tokens + NEW.output_tokens, 1)
        ON CONFLICT(day) DO UPDATE SET cost_usd = cost_usd + excluded.cost_usd,
            tokens = tokens + excluded.tokens, calls = calls + 1;
END;
CREATE TRIGGER usage_daily_delete AFTER DELETE ON usage BEGIN
    UPDATE usage_daily SET cost_usd = cost_usd - OLD.cost_usd,
        tokens = tokens - (OLD.input_tokens + OLD.output_tokens), calls = calls - 1
        WHERE day = OLD.ts / 86400000;
END;
