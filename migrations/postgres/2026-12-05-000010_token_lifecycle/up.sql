-- Tokens get a public id that says nothing of the secret, an optional expiry and a coarse
-- time of last use. Existing tokens get a random id and stay valid.
ALTER TABLE tokens ADD COLUMN public_id TEXT;
UPDATE tokens SET public_id = 'tok_' || replace(gen_random_uuid()::text, '-', '');
ALTER TABLE tokens ALTER COLUMN public_id SET NOT NULL;
CREATE UNIQUE INDEX tokens_public_id ON tokens (public_id);
ALTER TABLE tokens ADD COLUMN expires_at TIMESTAMP;
ALTER TABLE tokens ADD COLUMN last_used_at TIMESTAMP;
