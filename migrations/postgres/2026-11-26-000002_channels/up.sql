-- Channels, their per-product state (the change log) and resellers.
-- A channel's id is never reused: a channel deleted and created again is a new epoch, and
-- cursors of the old one are answered with 410.
CREATE TABLE channels (
    id BIGSERIAL PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    definition TEXT NOT NULL,
    definition_hash TEXT NOT NULL,
    -- The definition hash the whole catalog was last evaluated against; differs while a
    -- re-evaluation after a definition change is pending or running.
    evaluated_hash TEXT,
    -- Keyset position (SKU) of a running re-evaluation; NULL when none.
    reeval_after TEXT,
    last_seq BIGINT NOT NULL DEFAULT 0,
    -- The highest seq of a purged tombstone: cursors below it are answered with 410.
    purged_seq BIGINT NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE channel_records (
    channel_id BIGINT NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    sku TEXT COLLATE "C" NOT NULL,
    seq BIGINT NOT NULL,
    -- NULL hash and record: a tombstone.
    hash TEXT,
    record TEXT,
    deleted_at TIMESTAMP,
    PRIMARY KEY (channel_id, sku)
);
CREATE UNIQUE INDEX channel_records_seq ON channel_records (channel_id, seq);
CREATE INDEX channel_records_tombstones ON channel_records (channel_id, deleted_at) WHERE deleted_at IS NOT NULL;

CREATE TABLE resellers (
    code TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE reseller_channels (
    reseller_code TEXT NOT NULL REFERENCES resellers (code) ON DELETE CASCADE,
    channel_code TEXT NOT NULL,
    PRIMARY KEY (reseller_code, channel_code)
);

-- Secrets shared by every instance (the cursor MAC key).
CREATE TABLE service_keys (
    name TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
