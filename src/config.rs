//! One typed configuration. Precedence: command-line flags, then environment variables, then
//! defaults. Every key is documented here once (and in docs/configuration.md).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;

use crate::store::Backend;

/// Settings every command shares: where the data lives.
#[derive(Debug, Clone, Args)]
pub struct StorageArgs {
    /// Directory (made 0700) for the SQLite file, the bootstrap admin token file, the secret key
    /// file, the mail outbox and the feed cache.
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
    /// Requests one token may have in flight at once (a streamed response counts until its
    /// last byte is sent); beyond, 429 with `Retry-After`. 0 disables the bound.
    #[arg(long, env = "PARTNERFEED_TOKEN_CONCURRENCY", default_value_t = 4)]
    pub token_concurrency: usize,
    /// Days a deletion (tombstone) is kept in a channel's change log; cursors older than the
    /// oldest kept tombstone get 410 Gone.
    #[arg(
        long,
        env = "PARTNERFEED_TOMBSTONE_RETENTION_DAYS",
        default_value_t = 30
    )]
    pub tombstone_retention_days: u32,
    /// Keep the last rendering of each full feed (per channel, format and encoding) in
    /// `<data dir>/feed-cache`, so repeated downloads of an unchanged channel are file copies.
    #[arg(
        long,
        env = "PARTNERFEED_FEED_CACHE",
        default_value_t = true,
        action = clap::ArgAction::Set
    )]
    pub feed_cache: bool,
    /// Bearer token that may read `/metrics` (besides admin tokens); compared in constant time.
    #[arg(long, env = "PARTNERFEED_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// Serve `/metrics` on this address, without a token, instead of on the main listener.
    #[arg(long, env = "PARTNERFEED_METRICS_BIND")]
    pub metrics_bind: Option<SocketAddr>,
}

/// How long `serve` lets a client hold a connection without making progress. Slow or idle
/// clients are disconnected, so they cannot exhaust the server's connections.
#[derive(Debug, Clone, Args)]
pub struct ConnectionArgs {
    /// Seconds a client has, once connected, to send a request's head (408 and close beyond).
    #[arg(
        long = "client-request-timeout",
        env = "PARTNERFEED_CLIENT_REQUEST_TIMEOUT",
        default_value_t = 10
    )]
    pub client_request_timeout_secs: u64,
    /// Seconds an idle keep-alive connection is kept open between requests.
    #[arg(
        long = "keep-alive",
        env = "PARTNERFEED_KEEP_ALIVE",
        default_value_t = 75
    )]
    pub keep_alive_secs: u64,
    /// Seconds a request body may go without a byte arriving (408 beyond).
    #[arg(
        long = "body-read-timeout",
        env = "PARTNERFEED_BODY_READ_TIMEOUT",
        default_value_t = 30
    )]
    pub body_read_timeout_secs: u64,
    /// Seconds a closing connection waits for the client to acknowledge the shutdown.
    #[arg(
        long = "client-disconnect-timeout",
        env = "PARTNERFEED_CLIENT_DISCONNECT_TIMEOUT",
        default_value_t = 5
    )]
    pub client_disconnect_timeout_secs: u64,
}

/// `ConnectionArgs`, resolved.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub client_request_timeout: Duration,
    pub keep_alive: Duration,
    pub body_read_timeout: Duration,
    pub client_disconnect_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            client_request_timeout: Duration::from_secs(10),
            keep_alive: Duration::from_secs(75),
            body_read_timeout: Duration::from_secs(30),
            client_disconnect_timeout: Duration::from_secs(5),
        }
    }
}

impl From<ConnectionArgs> for ConnectionLimits {
    fn from(args: ConnectionArgs) -> Self {
        ConnectionLimits {
            client_request_timeout: Duration::from_secs(args.client_request_timeout_secs),
            keep_alive: Duration::from_secs(args.keep_alive_secs),
            body_read_timeout: Duration::from_secs(args.body_read_timeout_secs),
            client_disconnect_timeout: Duration::from_secs(args.client_disconnect_timeout_secs),
        }
    }
}

/// Webhook and mail settings of `serve`. They come from the environment only (no flags):
/// - `PARTNERFEED_SMTP_URL`: `smtp://host:25`, `smtps://user:pass@host`; unset, mail is written
///   to `<data dir>/outbox/*.eml`.
/// - `PARTNERFEED_MAIL_FROM`: the sender of alert mails (default `partnerfeed <partnerfeed@localhost>`).
/// - `PARTNERFEED_WEBHOOK_ALLOW`: comma-separated CIDRs webhooks may reach although they are
///   not public (e.g. `127.0.0.0/8`), also over plain http.
/// - `PARTNERFEED_WEBHOOK_RETRY_SCHEDULE`: delays between attempts (default
///   `5s,5m,30m,2h,5h,10h,14h,20h,24h`); units `ms`, `s`, `m`, `h`, `d`.
/// - `PARTNERFEED_WEBHOOK_BATCH_CHANGES` (default 500) and `PARTNERFEED_WEBHOOK_BATCH_BYTES`
///   (default 1 MiB): the most a batch holds.
/// - `PARTNERFEED_WEBHOOK_LEASE` (default `60s`): how long an instance's claim on a
///   subscription lasts; after a crash, its batch is resent once the lease has run out. Keep it
///   above the 15 s request timeout.
#[derive(Debug, Clone)]
pub struct DeliveryArgs {
    pub smtp_url: Option<String>,
    pub mail_from: Option<String>,
    pub webhook_allow: Option<String>,
    pub retry_schedule: Option<String>,
    pub batch_changes: Option<String>,
    pub batch_bytes: Option<String>,
    /// `PARTNERFEED_WEBHOOK_LEASE` as written; when set, it replaces `lease`.
    pub webhook_lease: Option<String>,
    /// Longest sleep between looks for due deliveries.
    pub poll: std::time::Duration,
    /// How long an instance's claim on a subscription lasts (more than the request timeout).
    pub lease: std::time::Duration,
    /// How long one webhook attempt may take in all (15 s).
    pub timeout: std::time::Duration,
}

impl Default for DeliveryArgs {
    fn default() -> Self {
        let defaults = crate::webhooks::Settings::default();
        DeliveryArgs {
            smtp_url: None,
            mail_from: None,
            webhook_allow: None,
            retry_schedule: None,
            batch_changes: None,
            batch_bytes: None,
            webhook_lease: None,
            poll: defaults.poll,
            lease: defaults.lease,
            timeout: defaults.timeout,
        }
    }
}

impl DeliveryArgs {
    pub fn from_env() -> DeliveryArgs {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        DeliveryArgs {
            smtp_url: var("PARTNERFEED_SMTP_URL"),
            mail_from: var("PARTNERFEED_MAIL_FROM"),
            webhook_allow: var("PARTNERFEED_WEBHOOK_ALLOW"),
            retry_schedule: var("PARTNERFEED_WEBHOOK_RETRY_SCHEDULE"),
            batch_changes: var("PARTNERFEED_WEBHOOK_BATCH_CHANGES"),
            batch_bytes: var("PARTNERFEED_WEBHOOK_BATCH_BYTES"),
            webhook_lease: var("PARTNERFEED_WEBHOOK_LEASE"),
            ..Default::default()
        }
    }

    /// The delivery job's settings; a bad value names its variable.
    pub fn settings(&self) -> Result<crate::webhooks::Settings, String> {
        use crate::webhooks::{AllowList, RetrySchedule, Settings};
        let allow = match &self.webhook_allow {
            Some(s) => {
                AllowList::parse(s).map_err(|e| format!("PARTNERFEED_WEBHOOK_ALLOW: {e}"))?
            }
            None => AllowList::default(),
        };
        let schedule = match &self.retry_schedule {
            Some(s) => RetrySchedule::parse(s)
                .map_err(|e| format!("PARTNERFEED_WEBHOOK_RETRY_SCHEDULE: {e}"))?,
            None => RetrySchedule::default(),
        };
        let defaults = Settings::default();
        let positive = |value: &Option<String>, name: &str, default: usize| match value {
            Some(v) => v
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("{name}: {v:?} is not a positive integer")),
            None => Ok(default),
        };
        let max_changes = positive(
            &self.batch_changes,
            "PARTNERFEED_WEBHOOK_BATCH_CHANGES",
            defaults.max_changes as usize,
        )?;
        let max_bytes = positive(
            &self.batch_bytes,
            "PARTNERFEED_WEBHOOK_BATCH_BYTES",
            defaults.max_bytes,
        )?;
        let lease = match &self.webhook_lease {
            Some(s) => crate::webhooks::schedule::parse_duration(s)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| {
                    format!(
                        "PARTNERFEED_WEBHOOK_LEASE: {s:?} is not a positive duration such as 60s"
                    )
                })?,
            None => self.lease,
        };
        Ok(Settings {
            allow,
            schedule,
            max_changes: i64::try_from(max_changes).unwrap_or(i64::MAX),
            max_bytes,
            poll: self.poll,
            lease,
            timeout: self.timeout,
        })
    }

    pub fn mail_from(&self) -> &str {
        self.mail_from
            .as_deref()
            .unwrap_or(crate::mail::DEFAULT_FROM)
    }
}

/// E-mail digest settings of `serve`.
#[derive(Debug, Clone, Args)]
pub struct DigestArgs {
    /// E-mail digest subscriptions one reseller may have at once (ended ones do not count).
    #[arg(long, env = "PARTNERFEED_DIGESTS_PER_RESELLER", default_value_t = 5)]
    pub digests_per_reseller: u32,
    /// This service's base URL as mail recipients reach it (`https://feeds.vendor.example`),
    /// for the link that confirms a digest address; default `http://<bind>`.
    #[arg(long, env = "PARTNERFEED_PUBLIC_URL")]
    pub public_url: Option<String>,
}

impl Default for DigestArgs {
    fn default() -> Self {
        DigestArgs {
            digests_per_reseller: 5,
            public_url: None,
        }
    }
}

/// `DigestArgs`, resolved.
#[derive(Debug, Clone)]
pub struct DigestSettings {
    pub per_reseller: u32,
    /// Without a trailing slash.
    pub public_url: String,
}

impl DigestArgs {
    /// The settings in force; a bad URL names its variable.
    pub fn settings(&self, bind: SocketAddr) -> Result<DigestSettings, String> {
        let public_url = match &self.public_url {
            Some(u) => {
                let parsed = reqwest::Url::parse(u.trim())
                    .ok()
                    .filter(|p| matches!(p.scheme(), "http" | "https") && p.host().is_some())
                    .ok_or_else(|| {
                        format!("PARTNERFEED_PUBLIC_URL: {u:?} is not an http(s) URL")
                    })?;
                parsed.as_str().trim_end_matches('/').to_string()
            }
            None => format!("http://{bind}"),
        };
        Ok(DigestSettings {
            per_reseller: self.digests_per_reseller,
            public_url,
        })
    }
}

/// Everything `serve` needs, resolved.
#[derive(Debug, Clone)]
pub struct Config {
    pub storage: StorageArgs,
    pub serve: ServeArgs,
    /// Connection timeouts (`serve` fills them from `ConnectionArgs`; defaults otherwise).
    pub connections: ConnectionLimits,
    pub delta: crate::jobs::delta::Settings,
    pub deliveries: DeliveryArgs,
    /// E-mail digest limits and the public URL of confirmation links.
    pub digests: DigestArgs,
    /// Whether `serve` runs the background jobs (tests that inspect the outbox turn them off).
    pub run_jobs: bool,
    /// `PARTNERFEED_SECRET_KEY` (environment only: a flag would show the key to `ps`): the key
    /// that encrypts the secrets stored in the database; unset, `<data dir>/secret.key`.
    pub secret_key: Option<Redacted>,
}

/// A secret setting: `Debug` shows `[redacted]`.
#[derive(Clone, Default)]
pub struct Redacted(pub String);

impl std::fmt::Debug for Redacted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// `PARTNERFEED_SECRET_KEY` from the environment, when set and not blank.
pub fn secret_key_from_env() -> Option<Redacted> {
    std::env::var(crate::service::secrets::KEY_VAR)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .map(Redacted)
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
            connections: ConnectionLimits::default(),
            delta,
            deliveries: DeliveryArgs::from_env(),
            digests: DigestArgs::default(),
            run_jobs: true,
            secret_key: secret_key_from_env(),
        }
    }
}
