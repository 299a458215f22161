DROP INDEX catalog_outbox_lane;
ALTER TABLE catalog_outbox DROP COLUMN bulk;
