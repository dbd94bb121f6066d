-- Pairing requests of unknown senders and the senders the owner approved.
-- A request keeps only who asked (the platform id and the chat to answer
-- in), the code and the times: never the stranger's name or message text.
CREATE TABLE pairing_requests (
    channel     TEXT NOT NULL,
    account     TEXT NOT NULL,
    sender_id   TEXT NOT NULL,
    chat_id     TEXT NOT NULL,
    code        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    status      TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected', 'expired')),
    resolved_at INTEGER NOT NULL DEFAULT 0,
    resolved_by TEXT NOT NULL DEFAULT ''
) STRICT;

-- A code names one pending request per channel.
CREATE UNIQUE INDEX pairing_pending_code ON pairing_requests (channel, code) WHERE status = 'pending';
CREATE INDEX pairing_by_sender ON pairing_requests (channel, account, sender_id, status);

-- Senders approved through pairing, per channel account; they may DM the
-- agent as if listed in allowFrom. Nothing here grants anything in groups.
CREATE TABLE channel_allow (
    channel     TEXT NOT NULL,
    account     TEXT NOT NULL,
    sender_id   TEXT NOT NULL,
    approved_at INTEGER NOT NULL,
    approved_by TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (channel, account, sender_id)
) STRICT;
