-- The console at 1,000,000 products: no page walks or counts the catalog.

-- The values behind a history entry: per changed top-level field, its value before and after
-- ({"field": {"before": v, "after": v}}, a side absent when the field was). NULL on entries
-- written before values were kept, and on creations (the first version has nothing to diff).
ALTER TABLE product_history ADD COLUMN changes TEXT;

-- The catalog's size, kept by the edit path: each write transaction that creates or deletes
-- products appends its difference; the size is the sum, folded into one row in the background
-- (so concurrent editors never update one hot row).
CREATE TABLE catalog_size_changes (
    id BIGSERIAL PRIMARY KEY,
    delta BIGINT NOT NULL
);
INSERT INTO catalog_size_changes (delta) SELECT count(*) FROM products;

-- Per channel, what is a walk over its live records, computed in the background and shown
-- with the seq it is consistent with: the live count, the digest, the readiness per profile
-- (JSON). computed_at is NULL until a first computation; claimed_by/claimed_until is the
-- lease of the one instance computing it (single flight).
CREATE TABLE channel_snapshots (
    channel_id BIGINT PRIMARY KEY NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    definition_hash TEXT NOT NULL,
    live BIGINT NOT NULL,
    digest TEXT NOT NULL,
    readiness TEXT NOT NULL,
    computed_at TIMESTAMP,
    took_ms BIGINT NOT NULL,
    claimed_by TEXT,
    claimed_until TIMESTAMP
);
