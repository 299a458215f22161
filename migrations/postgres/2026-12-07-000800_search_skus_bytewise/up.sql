-- The search index's SKUs sort bytewise, as every other SKU column does: a multi-word search
-- intersects the words' postings in that order, whatever the database's default collation.
ALTER TABLE product_search ALTER COLUMN sku TYPE TEXT COLLATE "C";
