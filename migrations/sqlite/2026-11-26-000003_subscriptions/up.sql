-- Webhook subscriptions: an acknowledged cursor and at most one frozen batch each, and the
-- delivery log. See DESIGN-NOTES section 7 and docs/webhooks.md.
CREATE TABLE subscriptions (
    id TEXT PRIMARY KEY NOT NULL,
    reseller_code TEXT NOT NULL REFERENCES resellers (code) ON DELETE CASCADE,
    channel_id BIGINT NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    format TEXT NOT NULL,
    secret TEXT NOT NULL,
    -- The secret before the last rotation, still signed with until old_secret_until.
    old_secret TEXT,
    old_secret_until TIMESTAMP,
    enabled BOOLEAN NOT NULL,
    disabled_reason TEXT,
    -- The acknowledged position (a seq of the channel): every change up to it was delivered.
    cursor_seq BIGINT NOT NULL,
    -- Failed attempts in a row, across batches (an alert goes out at 3).
    failures INTEGER NOT NULL DEFAULT 0,
    -- The frozen batch: the same id and bytes on every retry.
    batch_id TEXT,
    batch_from BIGINT,
    batch_to BIGINT,
    batch_body TEXT,
    batch_attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP,
    -- The claim of the instance delivering it; expired claims are taken over.
    lease_until TIMESTAMP,
    lease_owner TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
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
CREATE INDEX delivery_attempts_subscription ON delivery_attempts (subscription_id, id);
