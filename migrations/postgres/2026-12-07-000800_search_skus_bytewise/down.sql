ALTER TABLE product_search ALTER COLUMN sku TYPE TEXT COLLATE "default";
