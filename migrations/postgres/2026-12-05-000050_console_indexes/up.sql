-- The console's product search: one row per (word, SKU), the words of a product's titles (every
-- locale, lower-cased, split at anything not a letter or digit) and its GTIN (14 digits).
-- Written in the same transaction as every product write (src/editing.rs); a search for a
-- word is a range of the primary key, never a scan of products. Existing products are indexed
-- right after this migration by the service (store::backfill_product_search).
CREATE TABLE product_search (
    word TEXT NOT NULL,
    sku TEXT NOT NULL,
    PRIMARY KEY (word, sku)
);
CREATE INDEX product_search_sku ON product_search (sku);

-- Changes published per channel and day (UTC, 'YYYY-MM-DD'), counted by the delta generator
-- in the transaction that publishes them: the console's chart reads a month of rows.
CREATE TABLE channel_change_days (
    channel_id BIGINT NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    day TEXT NOT NULL,
    changes BIGINT NOT NULL,
    PRIMARY KEY (channel_id, day)
);
