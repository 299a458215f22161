-- Records are stored compactly: the hash as its 32 bytes, the record as bytes that are either
-- the canonical JSON itself (it starts with '{') or a zstd frame compressed against one of the
-- dictionaries below, trained on the deployment's own records (the frame names which). The table
-- is keyed by (channel, SKU) itself, without a rowid and a second index for the key.
CREATE TABLE record_dictionaries (
    -- The dictionary's own id, as zstd writes it into every frame compressed with it.
    id BIGINT PRIMARY KEY NOT NULL,
    dictionary BLOB NOT NULL,
    trained_on BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE channel_records_compact (
    channel_id BIGINT NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    sku TEXT NOT NULL,
    seq BIGINT NOT NULL,
    -- NULL hash: a tombstone (its record is the last one published).
    hash BLOB,
    record BLOB,
    deleted_at TIMESTAMP,
    PRIMARY KEY (channel_id, sku)
) WITHOUT ROWID;
INSERT INTO channel_records_compact (channel_id, sku, seq, hash, record, deleted_at)
    SELECT channel_id, sku, seq, unhex(hash), CAST(record AS BLOB), deleted_at FROM channel_records;
DROP TABLE channel_records;
ALTER TABLE channel_records_compact RENAME TO channel_records;
CREATE UNIQUE INDEX channel_records_seq ON channel_records (channel_id, seq);
CREATE INDEX channel_records_tombstones ON channel_records (channel_id, deleted_at) WHERE deleted_at IS NOT NULL;
