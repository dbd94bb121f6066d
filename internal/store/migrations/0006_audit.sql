-- The hash-chained audit log (internal/auditlog). Rows are only ever
-- appended, and deleted from the front by a signed truncation; the chain,
-- not this schema, is what makes tampering detectable.
CREATE TABLE audit_log (
    seq       INTEGER PRIMARY KEY,   -- 1, 2, 3, … (no AUTOINCREMENT: auditlog assigns it)
    ts        INTEGER NOT NULL,      -- unix milliseconds
    kind      TEXT NOT NULL,
    actor     TEXT NOT NULL DEFAULT '',
    subject   TEXT NOT NULL DEFAULT '',
    data      TEXT NOT NULL,         -- compact JSON
    prev_hash TEXT NOT NULL,         -- hex SHA-256
    hash      TEXT NOT NULL          -- hex SHA-256
) STRICT;

CREATE INDEX audit_log_kind ON audit_log (kind, seq);
