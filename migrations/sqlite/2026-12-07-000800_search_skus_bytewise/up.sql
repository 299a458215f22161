-- SQLite compares text bytewise (BINARY) already; PostgreSQL's search index gets the same order
-- in this migration.
SELECT 1;
