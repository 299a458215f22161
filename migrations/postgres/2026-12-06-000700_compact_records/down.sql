-- Only records stored as JSON can go back: a compressed one is not valid UTF-8 and fails.
ALTER TABLE channel_records
    ALTER COLUMN hash TYPE TEXT USING encode(hash, 'hex'),
    ALTER COLUMN record TYPE TEXT USING convert_from(record, 'UTF8');
DROP TABLE record_dictionaries;
