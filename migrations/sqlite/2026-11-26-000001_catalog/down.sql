DROP TABLE tokens;
DROP TABLE catalog_outbox;
DROP TABLE product_history;
DROP TABLE products;
