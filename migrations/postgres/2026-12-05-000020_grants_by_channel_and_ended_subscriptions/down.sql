-- Ended subscriptions cannot be represented before this migration: they are deleted.
DROP TABLE digest_confirmations;
DELETE FROM subscriptions WHERE ended_reason IS NOT NULL;
ALTER TABLE subscriptions DROP COLUMN email_confirmed;
ALTER TABLE subscriptions DROP COLUMN channel_code;
ALTER TABLE subscriptions DROP COLUMN ended_at;
ALTER TABLE subscriptions DROP COLUMN ended_reason;
ALTER TABLE subscriptions ADD CONSTRAINT subscriptions_channel_id_fkey
    FOREIGN KEY (channel_id) REFERENCES channels (id) ON DELETE CASCADE;
ALTER TABLE subscriptions ADD CONSTRAINT subscriptions_reseller_code_fkey
    FOREIGN KEY (reseller_code) REFERENCES resellers (code) ON DELETE CASCADE;

ALTER TABLE reseller_channels ADD COLUMN channel_code TEXT;
UPDATE reseller_channels g SET channel_code = c.code FROM channels c WHERE c.id = g.channel_id;
DROP INDEX reseller_channels_channel;
ALTER TABLE reseller_channels DROP CONSTRAINT reseller_channels_pkey;
ALTER TABLE reseller_channels DROP COLUMN channel_id;
ALTER TABLE reseller_channels ALTER COLUMN channel_code SET NOT NULL;
ALTER TABLE reseller_channels ADD PRIMARY KEY (reseller_code, channel_code);
