-- 0009_inbound: the inbound journal (invariant 14).
--
-- The channel Router writes a row here, in a durable (fsynced) commit,
-- before an adapter tells the platform a message was received (advances a
-- Telegram offset, acks a Slack envelope, answers a webhook 200). The row
-- is the message as the adapter normalised it, so a restart can run the
-- turn the crash interrupted. Only messages from senders the access rules
-- admit are journaled: nothing of a stranger's message is stored here.
--
-- state: pending until the turn's reply was delivered (or the turn ended
-- without one), then done. reply_sent_at is set in a durable commit right
-- after the platform accepted the reply, so a resumed message whose reply
-- already went out is only marked done, never answered twice. A done
-- row's message is cleared to '{}' (the transcript is then its only copy,
-- under its retention); the row is kept a week for its ids. message_id is
-- the platform's id (NULL when it has none): unique per channel account,
-- so a platform redelivering what it was never told we stored is
-- recognised after a restart.
--
-- Times are Unix milliseconds.
CREATE TABLE inbound (
    id            INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused: it names the turn's run id
    channel       TEXT NOT NULL,
    account       TEXT NOT NULL,
    message_id    TEXT,
    sender_id     TEXT NOT NULL,
    chat_id       TEXT NOT NULL,
    message       TEXT NOT NULL,              -- channels.Message as JSON; '{}' once done
    trust         TEXT NOT NULL DEFAULT '',   -- the sender's standing when it arrived
    received_at   INTEGER NOT NULL,
    state         TEXT NOT NULL DEFAULT 'pending', -- pending | done
    reply_sent_at INTEGER NOT NULL DEFAULT 0,
    done_at       INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE UNIQUE INDEX inbound_platform_id ON inbound(channel, account, message_id);
-- Resume reads the pending rows in arrival order.
CREATE INDEX inbound_pending ON inbound(id) WHERE state = 'pending';
-- PruneInbound deletes done rows by age.
CREATE INDEX inbound_done ON inbound(done_at) WHERE state = 'done';
