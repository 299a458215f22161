-- Grants belong to the channel itself (its id), not to its code: a channel deleted and created
-- again with the same code starts with no grants. Grants whose code names no channel are dropped.
ALTER TABLE reseller_channels ADD COLUMN channel_id BIGINT REFERENCES channels (id) ON DELETE CASCADE;
UPDATE reseller_channels g SET channel_id = c.id FROM channels c WHERE c.code = g.channel_code;
DELETE FROM reseller_channels WHERE channel_id IS NULL;
ALTER TABLE reseller_channels DROP CONSTRAINT reseller_channels_pkey;
ALTER TABLE reseller_channels DROP COLUMN channel_code;
ALTER TABLE reseller_channels ALTER COLUMN channel_id SET NOT NULL;
ALTER TABLE reseller_channels ADD PRIMARY KEY (reseller_code, channel_id);
CREATE INDEX reseller_channels_channel ON reseller_channels (channel_id);

-- Subscriptions outlive their channel and their reseller as ended rows: no foreign key that
-- would cascade their deletion.
ALTER TABLE subscriptions DROP CONSTRAINT subscriptions_channel_id_fkey;
ALTER TABLE subscriptions DROP CONSTRAINT subscriptions_reseller_code_fkey;
-- Set when the subscription ended: access_revoked, channel_deleted or reseller_deleted.
ALTER TABLE subscriptions ADD COLUMN ended_reason TEXT;
ALTER TABLE subscriptions ADD COLUMN ended_at TIMESTAMP;
-- The channel's code, kept for display once the channel is gone.
ALTER TABLE subscriptions ADD COLUMN channel_code TEXT NOT NULL DEFAULT '';
-- A digest's address was confirmed through the link mailed to it.
ALTER TABLE subscriptions ADD COLUMN email_confirmed BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE subscriptions s SET channel_code = c.code FROM channels c WHERE c.id = s.channel_id;

-- A subscription whose reseller has no grant on its channel today ends now; its frozen batch
-- is dropped. Digests made before confirmation existed start unconfirmed.
UPDATE subscriptions SET ended_reason = 'access_revoked', ended_at = (now() AT TIME ZONE 'UTC'),
    enabled = FALSE, batch_id = NULL, batch_from = NULL, batch_to = NULL, batch_body = NULL
WHERE NOT EXISTS (SELECT 1 FROM reseller_channels g
                  WHERE g.reseller_code = subscriptions.reseller_code
                    AND g.channel_id = subscriptions.channel_id);

-- One pending confirmation per digest: the hash of the token mailed to the new address.
CREATE TABLE digest_confirmations (
    subscription_id TEXT COLLATE "C" PRIMARY KEY NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    expires_at TIMESTAMP NOT NULL
);
