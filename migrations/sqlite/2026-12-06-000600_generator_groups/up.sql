-- The generator works on groups of channels independently (a channel is in group id % 8): an
-- event records, bit by bit, the groups that have applied it, and is deleted once all have.
ALTER TABLE catalog_outbox ADD COLUMN done_groups BIGINT NOT NULL DEFAULT 0;
