-- 0001_init: the key/value table for small pieces of process state
-- (instance id, first-run markers, feature flags set by upgrades).
-- updated_at is Unix time in milliseconds.
CREATE TABLE meta (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
