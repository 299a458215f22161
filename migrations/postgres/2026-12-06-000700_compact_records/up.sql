-- Records are stored compactly: the hash as its 32 bytes, the record as bytes that are either
-- the canonical JSON itself (it starts with '{') or a zstd frame compressed against one of the
-- dictionaries below, trained on the deployment's own records (the frame names which).
CREATE TABLE record_dictionaries (
    -- The dictionary's own id, as zstd writes it into every frame compressed with it.
    id BIGINT PRIMARY KEY NOT NULL,
    dictionary BYTEA NOT NULL,
    trained_on BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

ALTER TABLE channel_records
    ALTER COLUMN hash TYPE BYTEA USING decode(hash, 'hex'),
    ALTER COLUMN record TYPE BYTEA USING convert_to(record, 'UTF8');
