ALTER TABLE subscriptions DROP COLUMN behind_since;
ALTER TABLE subscriptions DROP COLUMN next_digest_at;
ALTER TABLE subscriptions DROP COLUMN every;
ALTER TABLE subscriptions DROP COLUMN email;
ALTER TABLE subscriptions DROP COLUMN kind;
