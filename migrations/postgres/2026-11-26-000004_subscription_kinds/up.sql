-- Two kinds of subscription: a webhook (url, format, secret) or an e-mail digest (email, every,
-- format), and when a subscription fell behind its channel's head (for the lag metrics).
ALTER TABLE subscriptions ADD COLUMN kind TEXT NOT NULL DEFAULT 'webhook';
-- Digests: the recipient, `hourly` or `daily`, and when the next one is due (the app's clock).
-- A digest's url and secret are empty.
ALTER TABLE subscriptions ADD COLUMN email TEXT;
ALTER TABLE subscriptions ADD COLUMN every TEXT;
ALTER TABLE subscriptions ADD COLUMN next_digest_at TIMESTAMP;
-- When the delivery job first saw the cursor behind the channel's last_seq; cleared when it
-- catches up. Its age is the age of the oldest undelivered change, to within one poll.
ALTER TABLE subscriptions ADD COLUMN behind_since TIMESTAMP;
