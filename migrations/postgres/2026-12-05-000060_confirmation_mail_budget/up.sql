-- The confirmation mails each reseller had sent in its current hour-long window. Kept in the
-- database, so the bound holds across restarts and instances; counted in the transaction that
-- records the pending confirmation.
CREATE TABLE confirmation_mails (
    reseller_code TEXT PRIMARY KEY NOT NULL REFERENCES resellers (code) ON DELETE CASCADE,
    window_start TIMESTAMP NOT NULL,
    sent INTEGER NOT NULL
);
