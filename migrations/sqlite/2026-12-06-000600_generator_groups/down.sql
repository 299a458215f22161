ALTER TABLE catalog_outbox DROP COLUMN done_groups;
