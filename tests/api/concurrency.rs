//! Concurrency: placeholder
