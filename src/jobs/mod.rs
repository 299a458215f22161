//! Background loops, one file each. Each exposes a synchronous `run_once` step (used by tests to
//! drive the work to completion) and an async loop that `serve` runs.
//! `deliveries` and `digests` share one [`worker::Worker`] context and its counters; neither
//! imports the other.

pub mod checkpoint;
pub mod deliveries;
pub mod delta;
pub mod digests;
pub mod snapshots;
pub mod worker;
