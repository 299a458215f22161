-- Two lanes in the outbox: events of large batches and imports are bulk, and the generator
-- serves the interactive lane first, so a single edit never waits behind a catalog-wide change.
ALTER TABLE catalog_outbox ADD COLUMN bulk BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX catalog_outbox_lane ON catalog_outbox (bulk, id);
