//! The integration suite: one binary, run on SQLite, and on PostgreSQL when
//! `TEST_DATABASE_URL` is set.
#![allow(clippy::unwrap_used)]

mod access;
mod browser;
mod channels;
mod cli;
mod concurrency;
mod conformance;
mod console;
mod crash;
mod helpers;
mod migrations;
mod model;
mod ops;
mod outbox;
mod products;
mod profiles;
mod schemas;
mod security;
mod snapshots;
mod storage;
mod tour;
mod vendor;
mod webhooks;
