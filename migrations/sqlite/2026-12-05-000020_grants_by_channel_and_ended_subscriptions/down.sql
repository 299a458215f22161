-- Ended subscriptions cannot be represented before this migration: they are deleted.
DROP TABLE digest_confirmations;
DELETE FROM delivery_attempts WHERE subscription_id IN
    (SELECT id FROM subscriptions WHERE ended_reason IS NOT NULL);
DELETE FROM subscriptions WHERE ended_reason IS NOT NULL;

CREATE TABLE delivery_attempts_keep AS SELECT * FROM delivery_attempts;
DROP TABLE delivery_attempts;
CREATE TABLE subscriptions_old (
    id TEXT PRIMARY KEY NOT NULL,
    reseller_code TEXT NOT NULL REFERENCES resellers (code) ON DELETE CASCADE,
    channel_id BIGINT NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
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
    behind_since TIMESTAMP
);
INSERT INTO subscriptions_old (id, reseller_code, channel_id, url, format, secret, old_secret, old_secret_until, enabled, disabled_reason, cursor_seq, failures, batch_id, batch_from, batch_to, batch_body, batch_attempts, next_attempt_at, lease_until, lease_owner, created_at, updated_at, kind, email, every, next_digest_at, behind_since) SELECT id, reseller_code, channel_id, url, format, secret, old_secret, old_secret_until, enabled, disabled_reason, cursor_seq, failures, batch_id, batch_from, batch_to, batch_body, batch_attempts, next_attempt_at, lease_until, lease_owner, created_at, updated_at, kind, email, every, next_digest_at, behind_since FROM subscriptions;
DROP TABLE subscriptions;
ALTER TABLE subscriptions_old RENAME TO subscriptions;
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

CREATE TABLE reseller_channels_old (
    reseller_code TEXT NOT NULL REFERENCES resellers (code) ON DELETE CASCADE,
    channel_code TEXT NOT NULL,
    PRIMARY KEY (reseller_code, channel_code)
);
INSERT INTO reseller_channels_old (reseller_code, channel_code)
SELECT g.reseller_code, c.code FROM reseller_channels g JOIN channels c ON c.id = g.channel_id;
DROP TABLE reseller_channels;
ALTER TABLE reseller_channels_old RENAME TO reseller_channels;
