-- Grants belong to the channel itself (its id), not to its code: a channel deleted and created
-- again with the same code starts with no grants. Grants whose code names no channel are dropped.
CREATE TABLE reseller_channels_new (
    reseller_code TEXT NOT NULL REFERENCES resellers (code) ON DELETE CASCADE,
    channel_id BIGINT NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    PRIMARY KEY (reseller_code, channel_id)
);
INSERT INTO reseller_channels_new (reseller_code, channel_id)
SELECT g.reseller_code, c.id FROM reseller_channels g JOIN channels c ON c.code = g.channel_code;
DROP TABLE reseller_channels;
ALTER TABLE reseller_channels_new RENAME TO reseller_channels;
CREATE INDEX reseller_channels_channel ON reseller_channels (channel_id);

-- Subscriptions outlive their channel and their reseller as ended rows: no foreign key that
-- would cascade their deletion. SQLite cannot drop a foreign key, so the table is rebuilt; the
-- delivery log is set aside first (dropping its parent would cascade-delete it).
CREATE TABLE delivery_attempts_keep AS SELECT * FROM delivery_attempts;
DROP TABLE delivery_attempts;

CREATE TABLE subscriptions_new (
    id TEXT PRIMARY KEY NOT NULL,
    -- The owner and the channel (ids are never reused). No foreign keys: an ended subscription
    -- stays when they are deleted.
    reseller_code TEXT NOT NULL,
    channel_id BIGINT NOT NULL,
    url TEXT NOT NULL,
    format TEXT NOT NULL,
    secret TEXT NOT NULL,
    old_secret TEXT,
    old_secret_until TIMESTAMP,
    enabled BOOLEAN NOT NULL,
    disabled_reason TEXT,
    cursor_seq BIGINT NOT NULL,
    failures INTEGER NOT NULL DEFAULT 0,
    batch_id TEXT,
    batch_from BIGINT,
    batch_to BIGINT,
    batch_body TEXT,
    batch_attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP,
    lease_until TIMESTAMP,
    lease_owner TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    kind TEXT NOT NULL DEFAULT 'webhook',
    email TEXT,
    every TEXT,
    next_digest_at TIMESTAMP,
    behind_since TIMESTAMP,
    -- Set when the subscription ended: access_revoked, channel_deleted or reseller_deleted.
    ended_reason TEXT,
    ended_at TIMESTAMP,
    -- The channel's code, kept for display once the channel is gone.
    channel_code TEXT NOT NULL DEFAULT '',
    -- A digest's address was confirmed through the link mailed to it.
    email_confirmed BOOLEAN NOT NULL DEFAULT FALSE
);
INSERT INTO subscriptions_new (id, reseller_code, channel_id, url, format, secret, old_secret, old_secret_until, enabled, disabled_reason, cursor_seq, failures, batch_id, batch_from, batch_to, batch_body, batch_attempts, next_attempt_at, lease_until, lease_owner, created_at, updated_at, kind, email, every, next_digest_at, behind_since, channel_code)
SELECT id, reseller_code, channel_id, url, format, secret, old_secret, old_secret_until, enabled, disabled_reason, cursor_seq, failures, batch_id, batch_from, batch_to, batch_body, batch_attempts, next_attempt_at, lease_until, lease_owner, created_at, updated_at, kind, email, every, next_digest_at, behind_since, COALESCE((SELECT c.code FROM channels c WHERE c.id = s.channel_id), '')
FROM subscriptions s;
DROP TABLE subscriptions;
ALTER TABLE subscriptions_new RENAME TO subscriptions;
CREATE INDEX subscriptions_reseller ON subscriptions (reseller_code, id);
CREATE INDEX subscriptions_channel ON subscriptions (channel_id);

CREATE TABLE delivery_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    subscription_id TEXT NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    at TIMESTAMP NOT NULL,
    webhook_id TEXT NOT NULL,
    from_seq BIGINT NOT NULL,
    to_seq BIGINT NOT NULL,
    status INTEGER,
    latency_ms BIGINT NOT NULL,
    response TEXT,
    error TEXT
);
INSERT INTO delivery_attempts SELECT * FROM delivery_attempts_keep;
DROP TABLE delivery_attempts_keep;
CREATE INDEX delivery_attempts_subscription ON delivery_attempts (subscription_id, id);

-- A subscription whose reseller has no grant on its channel today ends now; its frozen batch
-- is dropped. Digests made before confirmation existed start unconfirmed.
UPDATE subscriptions SET ended_reason = 'access_revoked', ended_at = CURRENT_TIMESTAMP,
    enabled = FALSE, batch_id = NULL, batch_from = NULL, batch_to = NULL, batch_body = NULL
WHERE NOT EXISTS (SELECT 1 FROM reseller_channels g
                  WHERE g.reseller_code = subscriptions.reseller_code
                    AND g.channel_id = subscriptions.channel_id);

-- One pending confirmation per digest: the hash of the token mailed to the new address.
CREATE TABLE digest_confirmations (
    subscription_id TEXT PRIMARY KEY NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    expires_at TIMESTAMP NOT NULL
);
