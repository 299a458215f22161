DROP TABLE channel_snapshots;
DROP TABLE catalog_size_changes;
ALTER TABLE product_history DROP COLUMN changes;
