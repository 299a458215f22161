//! One typed configuration. Precedence: command-line flags, then environment variables, then
//! defaults. Every key is documented here once (and in docs/configuration.md).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::Args;

use crate::store::Backend;

/// Settings every command shares: where the data lives.
#[derive(Debug, Clone, Args)]
pub struct StorageArgs {
    /// Directory for the SQLite file, the bootstrap admin token file and the mail outbox.
    #[arg(
        long,
        env = "PARTNERFEED_DATA_DIR",
        default_value = "./data",
        global = true
    )]
    pub data_dir: PathBuf,
    /// `sqlite://PATH` or `postgres://...`; defaults to `sqlite://<data dir>/partnerfeed.db`.
    #[arg(long, env = "DATABASE_URL", global = true)]
    pub database_url: Option<String>,
}

impl StorageArgs {
    /// The database URL in force: the configured one, or the SQLite file in the data directory.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}",
                self.data_dir.join("partnerfeed.db").display()
            ),
        }
    }

    pub fn backend(&self) -> Result<Backend, String> {
        Backend::from_url(&self.database_url())
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }
}

/// Settings of `partnerfeed serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Listen address.
    #[arg(long, env = "PARTNERFEED_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,
    /// Bootstrap admin token; when unset, one is generated at first start and written to
    /// `<data dir>/admin.token`.
    #[arg(long, env = "PARTNERFEED_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Largest request body accepted, in bytes (a batch of 10,000 products fits in the default).
    #[arg(long, env = "PARTNERFEED_BODY_LIMIT", default_value_t = 64 * 1024 * 1024)]
    pub body_limit: usize,
    /// Number of HTTP worker threads (default: one per core).
    #[arg(long, env = "PARTNERFEED_WORKERS")]
    pub workers: Option<usize>,
    /// Requests per second per token (a burst of one second's worth); 0 disables the limit.
    #[arg(long, env = "PARTNERFEED_RATE_LIMIT", default_value_t = 100)]
    pub rate_limit: u32,
    /// Days a deletion (tombstone) is kept in a channel's change log; cursors older than the
    /// oldest kept tombstone get 410 Gone.
    #[arg(
        long,
        env = "PARTNERFEED_TOMBSTONE_RETENTION_DAYS",
        default_value_t = 30
    )]
    pub tombstone_retention_days: u32,
}

/// Everything `serve` needs, resolved.
#[derive(Debug, Clone)]
pub struct Config {
    pub storage: StorageArgs,
    pub serve: ServeArgs,
    pub delta: crate::jobs::delta::Settings,
    /// Whether `serve` runs the background jobs (tests that inspect the outbox turn them off).
    pub run_jobs: bool,
}

impl Config {
    pub fn new(storage: StorageArgs, serve: ServeArgs) -> Config {
        let delta = crate::jobs::delta::Settings {
            tombstone_retention: chrono::Duration::days(serve.tombstone_retention_days.into()),
            ..Default::default()
        };
        Config {
            storage,
            serve,
            delta,
            run_jobs: true,
        }
    }
}
