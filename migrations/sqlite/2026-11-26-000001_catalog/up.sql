-- The vendor's catalog, its history, the change outbox and API tokens.
CREATE TABLE products (
    sku TEXT PRIMARY KEY NOT NULL,
    body TEXT NOT NULL,
    hash TEXT NOT NULL,
    version BIGINT NOT NULL,
    next_change_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX products_next_change_at ON products (next_change_at) WHERE next_change_at IS NOT NULL;

CREATE TABLE product_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    sku TEXT NOT NULL,
    at TIMESTAMP NOT NULL,
    by_name TEXT NOT NULL,
    fields TEXT NOT NULL,
    hash_before TEXT,
    hash_after TEXT
);
CREATE INDEX product_history_sku ON product_history (sku, id);

CREATE TABLE catalog_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    sku TEXT NOT NULL,
    hash TEXT,
    by_name TEXT NOT NULL,
    at TIMESTAMP NOT NULL
);

CREATE TABLE tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    reseller_code TEXT,
    created_at TIMESTAMP NOT NULL
);
