//! One typed configuration. Every setting is read once, at start, from (lowest first) its
//! default, the optional TOML file (`--config` / `PARTNERFEED_CONFIG`), the environment and the
//! command line, and parsed into a typed value; a bad value is an error naming the flag, the
//! variable or the file key that carried it. Each setting is declared once, in [`SETTINGS`]
//! (name, flag, variable, TOML key, help); its default is written once, in `Config::default`.
//! docs/configuration.md describes every one.
//!
//! Building a `Config` never reads the process environment by itself: [`Config::load`] takes
//! the environment as a function, and tests build one by value ([`Config::for_tests`]).

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use url::Url;

use crate::store::Backend;
use crate::webhooks::{AllowList, RetrySchedule};

/// The variable naming the TOML file (also `--config`).
pub const CONFIG_VAR: &str = "PARTNERFEED_CONFIG";

/// A secret setting (tokens, keys, the SMTP URL): `Debug` and `Display` print `[redacted]`;
/// only [`Secret::expose`] gives the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// `DATABASE_URL`: shown with its password redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn new(url: impl Into<String>) -> DatabaseUrl {
        DatabaseUrl(url.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match Url::parse(&self.0) {
            Ok(mut url) if url.password().is_some() => {
                let _ = url.set_password(Some("REDACTED"));
                f.write_str(&url.as_str().replacen(":REDACTED@", ":[redacted]@", 1))
            }
            Ok(_) => f.write_str(&self.0),
            Err(_) => f.write_str("[redacted]"),
        }
    }
}

/// Where the data lives; every command has it.
#[derive(Debug, Clone)]
pub struct Storage {
    /// Directory (made 0700) for the SQLite file, the bootstrap admin token file, the secret
    /// key file, the mail outbox and the feed cache.
    pub data_dir: PathBuf,
    /// `sqlite://PATH` or `postgres://...`; unset, `sqlite://<data dir>/partnerfeed.db`.
    pub database_url: Option<DatabaseUrl>,
}

impl Storage {
    /// Storage in `data_dir` on `database_url`.
    pub fn new(data_dir: impl Into<PathBuf>, database_url: Option<&str>) -> Storage {
        Storage {
            data_dir: data_dir.into(),
            database_url: database_url.map(DatabaseUrl::new),
        }
    }

    /// The database URL in force: the configured one, or the SQLite file in the data directory.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.expose().to_string(),
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

/// The HTTP side of `serve`.
#[derive(Debug, Clone)]
pub struct Serve {
    pub bind: SocketAddr,
    /// Bootstrap admin token; unset, one is generated at first start.
    pub admin_token: Option<Secret>,
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
    /// HTTP worker threads; unset, one per core.
    pub workers: Option<usize>,
    /// Requests per second per token; 0 disables the limit.
    pub rate_limit: u32,
    /// Requests one token may have in flight at once; 0 disables the bound.
    pub token_concurrency: usize,
    /// Days a deletion (tombstone) is kept in a channel's change log.
    pub tombstone_retention_days: u32,
    /// Keep the last rendering of each full feed in `<data dir>/feed-cache`.
    pub feed_cache: bool,
    /// Bearer token that may read `/metrics` (besides admin tokens).
    pub metrics_token: Option<Secret>,
    /// Serve `/metrics` on this address, instead of on the main listener.
    pub metrics_bind: Option<SocketAddr>,
}

/// How long `serve` lets a client hold a connection without making progress.
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

/// Alert and digest mail.
#[derive(Debug, Clone)]
pub struct Mail {
    /// `smtp://host:25`, `smtps://user:pass@host`; unset, mail goes to `<data dir>/outbox`.
    pub smtp_url: Option<Secret>,
    /// The sender of every mail.
    pub from: String,
}

/// E-mail digest settings.
#[derive(Debug, Clone)]
pub struct Digests {
    /// E-mail digest subscriptions one reseller may have at once.
    pub per_reseller: u32,
    /// This service's base URL as mail recipients reach it; unset, `http://<bind>`.
    pub public_url: Option<Url>,
}

/// `Digests`, resolved against the listen address.
#[derive(Debug, Clone)]
pub struct DigestSettings {
    pub per_reseller: u32,
    /// Without a trailing slash.
    pub public_url: String,
}

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Default,
    /// The TOML file at this path.
    File(PathBuf),
    /// The environment variable.
    Env(&'static str),
    /// The command-line flag (without its dashes).
    Flag(&'static str),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::File(path) => write!(f, "file {}", path.display()),
            Source::Env(name) => write!(f, "env {name}"),
            Source::Flag(name) => write!(f, "flag --{name}"),
        }
    }
}

/// Everything the commands need, resolved and typed.
#[derive(Debug, Clone)]
pub struct Config {
    pub storage: Storage,
    pub serve: Serve,
    pub connections: ConnectionLimits,
    /// The webhook delivery job's settings (allow list, retry schedule, batch bounds, lease).
    pub webhooks: crate::webhooks::Settings,
    pub mail: Mail,
    pub digests: Digests,
    /// The key that encrypts the secrets stored in the database; unset, `<data dir>/secret.key`.
    pub secret_key: Option<Secret>,
    /// Whether `serve` runs the background jobs (tests that inspect the outbox turn them off).
    pub run_jobs: bool,
    /// The TOML file read, and where its name came from.
    pub file: Option<(PathBuf, Source)>,
    /// Where each setting (by TOML key) came from; absent means its default.
    pub sources: BTreeMap<&'static str, Source>,
}

impl Default for Config {
    /// Every default, in one place.
    fn default() -> Self {
        Config {
            storage: Storage::new("./data", None),
            serve: Serve {
                bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
                admin_token: None,
                body_limit: 64 * 1024 * 1024,
                workers: None,
                rate_limit: 100,
                token_concurrency: 4,
                tombstone_retention_days: 30,
                feed_cache: true,
                metrics_token: None,
                metrics_bind: None,
            },
            connections: ConnectionLimits::default(),
            webhooks: crate::webhooks::Settings::default(),
            mail: Mail {
                smtp_url: None,
                from: crate::mail::DEFAULT_FROM.to_string(),
            },
            digests: Digests {
                per_reseller: 5,
                public_url: None,
            },
            secret_key: None,
            run_jobs: true,
            file: None,
            sources: BTreeMap::new(),
        }
    }
}

impl Config {
    /// The defaults, on `storage`, listening on a free loopback port with two workers: what a
    /// test server starts from. Reads nothing from the environment.
    pub fn for_tests(storage: Storage) -> Config {
        let mut config = Config {
            storage,
            ..Config::default()
        };
        config.serve.bind = SocketAddr::from(([127, 0, 0, 1], 0));
        config.serve.workers = Some(2);
        config
    }

    /// The digest settings in force: the public URL without its trailing slash, or
    /// `http://<bind>`.
    pub fn digest_settings(&self) -> DigestSettings {
        DigestSettings {
            per_reseller: self.digests.per_reseller,
            public_url: match &self.digests.public_url {
                Some(url) => url.as_str().trim_end_matches('/').to_string(),
                None => format!("http://{}", self.serve.bind),
            },
        }
    }

    /// Resolves the configuration: defaults, then the TOML file (`--config` or
    /// `PARTNERFEED_CONFIG`), then `env`, then `flags`. `env` answers a variable's value (the
    /// binary passes `std::env::var`); blank values count as unset.
    pub fn load(flags: &Flags, env: impl Fn(&str) -> Option<String>) -> Result<Config, String> {
        let env = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let mut config = Config::default();
        let file = match (&flags.config, env(CONFIG_VAR)) {
            (Some(path), _) => Some((path.clone(), Source::Flag("config"))),
            (None, Some(path)) => Some((PathBuf::from(path), Source::Env(CONFIG_VAR))),
            (None, None) => None,
        };
        let file_values = match &file {
            Some((path, _)) => read_file(path)?,
            None => BTreeMap::new(),
        };
        for setting in SETTINGS {
            let flag = setting.flag.and_then(|f| {
                let value = flags.values.get(setting.key)?;
                (!value.trim().is_empty()).then(|| (value.clone(), f))
            });
            let (raw, source) = if let Some((value, f)) = flag {
                (value, Source::Flag(f))
            } else if let Some(value) = env(setting.env) {
                (value, Source::Env(setting.env))
            } else if let Some(value) = file_values.get(setting.key) {
                let path = file.as_ref().map(|(p, _)| p.clone()).unwrap_or_default();
                (value.clone(), Source::File(path))
            } else {
                continue;
            };
            (setting.apply)(&mut config, raw.trim()).map_err(|reason| {
                let name = match &source {
                    Source::Flag(f) => format!("--{f}"),
                    Source::Env(name) => name.to_string(),
                    Source::File(path) => format!("{}: {}", path.display(), setting.key),
                    Source::Default => setting.key.to_string(),
                };
                format!("{name}: {reason}")
            })?;
            config.sources.insert(setting.key, source);
        }
        config.file = file;
        Ok(config)
    }

    /// The effective configuration, one setting a line: its TOML key, its value (secrets
    /// redacted) and where it came from.
    pub fn describe(&self) -> String {
        let mut out = match &self.file {
            Some((path, source)) => format!("# file: {} ({source})\n", path.display()),
            None => format!("# file: none (--config or {CONFIG_VAR})\n"),
        };
        let width = SETTINGS.iter().map(|s| s.key.len()).max().unwrap_or(0);
        for setting in SETTINGS {
            let source = self.sources.get(setting.key).unwrap_or(&Source::Default);
            out.push_str(&format!(
                "{:width$} = {}  # {source}\n",
                setting.key,
                (setting.show)(self)
            ));
        }
        out
    }
}

/// The TOML file's settings as text, by key; an unknown key or an unreadable file is an error.
fn read_file(path: &Path) -> Result<BTreeMap<String, String>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "{}: cannot read the configuration file: {e}",
            path.display()
        )
    })?;
    let table: toml::Table = toml::from_str(&text)
        .map_err(|e| format!("{}: not a valid TOML file: {e}", path.display()))?;
    let mut values = BTreeMap::new();
    for (key, value) in table {
        if !SETTINGS.iter().any(|s| s.key == key) {
            return Err(format!(
                "{}: unknown key {key:?} (docs/configuration.md lists the keys)",
                path.display()
            ));
        }
        let text = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(n) => n.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Array(items) => items
                .into_iter()
                .map(|item| match item {
                    toml::Value::String(s) => Ok(s),
                    other => Err(format!(
                        "{}: {key}: a list of {}s, not of strings",
                        path.display(),
                        other.type_str()
                    )),
                })
                .collect::<Result<Vec<_>, _>>()?
                .join(","),
            other => {
                return Err(format!(
                    "{}: {key}: {} is not a string, an integer, a boolean or a list of strings",
                    path.display(),
                    other.type_str()
                ))
            }
        };
        values.insert(key, text);
    }
    Ok(values)
}

/// Which commands take a setting's flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every command (`--data-dir`, `--database-url`).
    Global,
    /// `serve` and `config`.
    Serve,
}

/// One setting: its names, and how it is parsed into and shown from a `Config`.
pub struct Setting {
    /// The TOML key (and the name `partnerfeed config` prints).
    pub key: &'static str,
    pub env: &'static str,
    /// The flag without its dashes; `None` for settings read from the environment or the file
    /// only (a flag would show a secret key to `ps`).
    pub flag: Option<&'static str>,
    /// What the value is, as `--help` shows it (`ADDRESS`, `DURATION`...).
    pub value_name: &'static str,
    pub scope: Scope,
    pub help: &'static str,
    apply: fn(&mut Config, &str) -> Result<(), String>,
    show: fn(&Config) -> String,
}

impl Setting {
    /// The default, as `partnerfeed config` shows it.
    pub fn default_value(&self) -> String {
        (self.show)(&Config::default())
    }
}

macro_rules! settings {
    ($({ $key:literal, $env:literal, $flag:expr, $value:literal, $scope:ident, $($field:ident).+, $parse:expr, $help:literal $(,)? }),+ $(,)?) => {
        /// Every setting, in the order `partnerfeed config` prints them.
        pub static SETTINGS: &[Setting] = &[$(Setting {
            key: $key,
            env: $env,
            flag: $flag,
            value_name: $value,
            scope: Scope::$scope,
            help: $help,
            apply: |config, raw| {
                config.$($field).+ = ($parse)(raw)?.into();
                Ok(())
            },
            show: |config| Show::show(&config.$($field).+),
        }),+];
    };
}

settings! {
    { "data_dir", "PARTNERFEED_DATA_DIR", Some("data-dir"), "PATH", Global, storage.data_dir, path,
      "Directory (made 0700) for the SQLite file, admin.token, secret.key, the mail outbox and the feed cache" },
    { "database_url", "DATABASE_URL", Some("database-url"), "URL", Global, storage.database_url, database_url,
      "`sqlite://PATH` or `postgres://...`; unset, sqlite://<data dir>/partnerfeed.db" },
    { "secret_key", "PARTNERFEED_SECRET_KEY", None, "KEY", Global, secret_key, secret_key,
      "The key that encrypts stored secrets (no flag: it would show in ps)" },
    { "bind", "PARTNERFEED_BIND", Some("bind"), "ADDRESS", Serve, serve.bind, socket_addr,
      "Listen address" },
    { "admin_token", "PARTNERFEED_ADMIN_TOKEN", Some("admin-token"), "TOKEN", Serve, serve.admin_token, secret,
      "Bootstrap admin token; unset, one is generated at first start into <data dir>/admin.token" },
    { "metrics_token", "PARTNERFEED_METRICS_TOKEN", Some("metrics-token"), "TOKEN", Serve, serve.metrics_token, secret,
      "Bearer token that may read /metrics (besides admin tokens)" },
    { "metrics_bind", "PARTNERFEED_METRICS_BIND", Some("metrics-bind"), "ADDRESS", Serve, serve.metrics_bind, socket_addr,
      "Serve /metrics on this address, without a token, instead of on the main listener" },
    { "body_limit", "PARTNERFEED_BODY_LIMIT", Some("body-limit"), "BYTES", Serve, serve.body_limit, number::<usize>,
      "Largest request body accepted, in bytes" },
    { "workers", "PARTNERFEED_WORKERS", Some("workers"), "N", Serve, serve.workers, positive::<usize>,
      "HTTP worker threads; unset, one per core" },
    { "rate_limit", "PARTNERFEED_RATE_LIMIT", Some("rate-limit"), "N", Serve, serve.rate_limit, number::<u32>,
      "Requests per second per token (a burst of one second's worth); 0 disables the limit" },
    { "token_concurrency", "PARTNERFEED_TOKEN_CONCURRENCY", Some("token-concurrency"), "N", Serve, serve.token_concurrency, number::<usize>,
      "Requests one token may have in flight at once; 0 disables the bound" },
    { "client_request_timeout", "PARTNERFEED_CLIENT_REQUEST_TIMEOUT", Some("client-request-timeout"), "DURATION", Serve, connections.client_request_timeout, seconds,
      "Time a client has, once connected, to send a request's head (seconds, or 10s, 1m...)" },
    { "keep_alive", "PARTNERFEED_KEEP_ALIVE", Some("keep-alive"), "DURATION", Serve, connections.keep_alive, seconds,
      "Time an idle keep-alive connection is kept open between requests" },
    { "body_read_timeout", "PARTNERFEED_BODY_READ_TIMEOUT", Some("body-read-timeout"), "DURATION", Serve, connections.body_read_timeout, seconds,
      "Time a request body may go without a byte arriving (408 beyond)" },
    { "client_disconnect_timeout", "PARTNERFEED_CLIENT_DISCONNECT_TIMEOUT", Some("client-disconnect-timeout"), "DURATION", Serve, connections.client_disconnect_timeout, seconds,
      "Time a closing connection waits for the client to acknowledge the shutdown" },
    { "tombstone_retention_days", "PARTNERFEED_TOMBSTONE_RETENTION_DAYS", Some("tombstone-retention-days"), "DAYS", Serve, serve.tombstone_retention_days, number::<u32>,
      "Days a deletion is kept in a channel's change log; older cursors get 410 Gone" },
    { "feed_cache", "PARTNERFEED_FEED_CACHE", Some("feed-cache"), "BOOL", Serve, serve.feed_cache, boolean,
      "Keep the last rendering of each full feed in <data dir>/feed-cache (true or false)" },
    { "digests_per_reseller", "PARTNERFEED_DIGESTS_PER_RESELLER", Some("digests-per-reseller"), "N", Serve, digests.per_reseller, number::<u32>,
      "E-mail digest subscriptions one reseller may have at once" },
    { "public_url", "PARTNERFEED_PUBLIC_URL", Some("public-url"), "URL", Serve, digests.public_url, http_url,
      "This service's base URL as mail recipients reach it; unset, http://<bind>" },
    { "smtp_url", "PARTNERFEED_SMTP_URL", None, "URL", Serve, mail.smtp_url, smtp_url,
      "smtp://host:25 or smtps://user:pass@host; unset, mail goes to <data dir>/outbox" },
    { "mail_from", "PARTNERFEED_MAIL_FROM", None, "MAILBOX", Serve, mail.from, mailbox,
      "The sender of alert and digest mails" },
    { "webhook_allow", "PARTNERFEED_WEBHOOK_ALLOW", None, "CIDRS", Serve, webhooks.allow, allow_list,
      "CIDRs webhooks may reach although they are not public (also over plain http)" },
    { "webhook_retry_schedule", "PARTNERFEED_WEBHOOK_RETRY_SCHEDULE", None, "DURATIONS", Serve, webhooks.schedule, retry_schedule,
      "Delays between attempts; units ms, s, m, h, d" },
    { "webhook_batch_changes", "PARTNERFEED_WEBHOOK_BATCH_CHANGES", None, "N", Serve, webhooks.max_changes, positive::<i64>,
      "Most changes one delivery holds" },
    { "webhook_batch_bytes", "PARTNERFEED_WEBHOOK_BATCH_BYTES", None, "BYTES", Serve, webhooks.max_bytes, positive::<usize>,
      "Most bytes one delivery body holds" },
    { "webhook_lease", "PARTNERFEED_WEBHOOK_LEASE", None, "DURATION", Serve, webhooks.lease, lease,
      "How long an instance's claim on a subscription lasts (keep it above the 15 s request timeout)" },
}

// ---------------------------------------------------------------- parsers

fn path(raw: &str) -> Result<PathBuf, String> {
    Ok(PathBuf::from(raw))
}

fn database_url(raw: &str) -> Result<DatabaseUrl, String> {
    // The message names the scheme at most, never the password.
    Backend::from_url(raw).map_err(|e| e.trim_start_matches("DATABASE_URL ").to_string())?;
    Ok(DatabaseUrl::new(raw))
}

fn secret(raw: &str) -> Result<Secret, String> {
    Ok(Secret::new(raw))
}

/// A key `secrets` can use: checked here so that a malformed one stops every command at start,
/// named by where it came from; the message never repeats it.
fn secret_key(raw: &str) -> Result<Secret, String> {
    match crate::service::secrets::SecretKey::parse(raw, "") {
        Ok(_) => Ok(Secret::new(raw)),
        Err(crate::service::secrets::SecretError::BadKey { detail, .. }) => Err(format!(
            "the secret key must be 32 bytes written as 64 hex digits or as base64 ({detail})"
        )),
        Err(other) => Err(other.to_string()),
    }
}

fn socket_addr(raw: &str) -> Result<SocketAddr, String> {
    raw.parse()
        .map_err(|_| format!("{raw:?} is not an address such as 127.0.0.1:8080"))
}

fn number<T: std::str::FromStr>(raw: &str) -> Result<T, String> {
    raw.parse()
        .map_err(|_| format!("{raw:?} is not a whole number in range"))
}

fn positive<T: std::str::FromStr + PartialOrd + Default>(raw: &str) -> Result<T, String> {
    raw.parse()
        .ok()
        .filter(|n| *n > T::default())
        .ok_or_else(|| format!("{raw:?} is not a positive whole number"))
}

fn boolean(raw: &str) -> Result<bool, String> {
    match raw.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(format!("{raw:?} is not true or false")),
    }
}

/// A duration: whole seconds (`75`), or with a unit (`250ms`, `5s`, `5m`, `2h`, `1d`).
fn seconds(raw: &str) -> Result<Duration, String> {
    match raw.parse::<u64>() {
        Ok(secs) => Ok(Duration::from_secs(secs)),
        Err(_) => crate::webhooks::schedule::parse_duration(raw),
    }
}

fn lease(raw: &str) -> Result<Duration, String> {
    seconds(raw)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("{raw:?} is not a positive duration such as 60s"))
}

fn http_url(raw: &str) -> Result<Url, String> {
    Url::parse(raw)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .ok_or_else(|| format!("{raw:?} is not an http(s) URL"))
}

/// The SMTP URL is a secret (it may hold a password): the message does not repeat it.
fn smtp_url(raw: &str) -> Result<Secret, String> {
    Url::parse(raw)
        .ok()
        .filter(|u| matches!(u.scheme(), "smtp" | "smtps"))
        .map(|_| Secret::new(raw))
        .ok_or_else(|| "not an smtp:// or smtps:// URL".to_string())
}

fn mailbox(raw: &str) -> Result<String, String> {
    raw.parse::<lettre::message::Mailbox>()
        .map(|_| raw.to_string())
        .map_err(|e| format!("{raw:?} is not a mail address: {e}"))
}

fn allow_list(raw: &str) -> Result<AllowList, String> {
    AllowList::parse(raw)
}

fn retry_schedule(raw: &str) -> Result<RetrySchedule, String> {
    RetrySchedule::parse(raw)
}

// ---------------------------------------------------------------- display

/// How `partnerfeed config` prints a value.
trait Show {
    fn show(&self) -> String;
}

macro_rules! show_with_display {
    ($($t:ty),+) => {$(
        impl Show for $t {
            fn show(&self) -> String {
                self.to_string()
            }
        }
    )+};
}

show_with_display!(
    SocketAddr,
    usize,
    u32,
    i64,
    bool,
    String,
    Secret,
    DatabaseUrl,
    Url
);

impl Show for PathBuf {
    fn show(&self) -> String {
        self.display().to_string()
    }
}

impl<T: Show> Show for Option<T> {
    fn show(&self) -> String {
        match self {
            Some(value) => value.show(),
            None => "unset".to_string(),
        }
    }
}

impl Show for Duration {
    fn show(&self) -> String {
        crate::webhooks::schedule::format_duration(*self)
    }
}

impl Show for RetrySchedule {
    fn show(&self) -> String {
        self.to_string()
    }
}

impl Show for AllowList {
    fn show(&self) -> String {
        if self.0.is_empty() {
            return "none".to_string();
        }
        self.to_string()
    }
}

// ---------------------------------------------------------------- flags

/// The configuration flags given on the command line, by setting key. Parsed by clap (see the
/// `clap::Args` implementations of [`GlobalFlags`] and [`ServeFlags`]); their values are
/// parsed, with the rest, by [`Config::load`].
#[derive(Debug, Clone, Default)]
pub struct Flags {
    /// `--config FILE`.
    pub config: Option<PathBuf>,
    values: BTreeMap<&'static str, String>,
}

impl Flags {
    /// `self` with the flag of `key` set to `value` (as if given on the command line).
    pub fn with(mut self, key: &'static str, value: impl Into<String>) -> Flags {
        self.values.insert(key, value.into());
        self
    }

    /// Adds the flags of `other`.
    pub fn merge(mut self, other: &Flags) -> Flags {
        self.values
            .extend(other.values.iter().map(|(k, v)| (*k, v.clone())));
        self.config = self.config.or_else(|| other.config.clone());
        self
    }

    fn augment(mut cmd: clap::Command, scope: Scope) -> clap::Command {
        if scope == Scope::Global {
            cmd = cmd.arg(
                clap::Arg::new("config")
                    .long("config")
                    .global(true)
                    .value_name("FILE")
                    .value_parser(clap::value_parser!(PathBuf))
                    .help(format!(
                        "TOML file of settings, under the environment and the flags [env: {CONFIG_VAR}]"
                    )),
            );
        }
        for setting in SETTINGS.iter().filter(|s| s.scope == scope) {
            let Some(flag) = setting.flag else { continue };
            let default = setting.default_value();
            let default = if default == "unset" {
                String::new()
            } else {
                format!(" [default: {default}]")
            };
            cmd = cmd.arg(
                clap::Arg::new(setting.key)
                    .long(flag)
                    .global(scope == Scope::Global)
                    .value_name(setting.value_name)
                    .help(format!("{} [env: {}]{default}", setting.help, setting.env)),
            );
        }
        cmd
    }

    fn from_matches(matches: &clap::ArgMatches, scope: Scope) -> Flags {
        let mut flags = Flags::default();
        if scope == Scope::Global {
            flags.config = matches.get_one::<PathBuf>("config").cloned();
        }
        for setting in SETTINGS
            .iter()
            .filter(|s| s.scope == scope && s.flag.is_some())
        {
            if let Some(value) = matches.get_one::<String>(setting.key) {
                flags.values.insert(setting.key, value.clone());
            }
        }
        flags
    }
}

macro_rules! clap_flags {
    ($name:ident, $scope:ident, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone, Default)]
        pub struct $name(pub Flags);

        impl clap::FromArgMatches for $name {
            fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
                Ok($name(Flags::from_matches(matches, Scope::$scope)))
            }

            fn update_from_arg_matches(
                &mut self,
                matches: &clap::ArgMatches,
            ) -> Result<(), clap::Error> {
                *self = Self::from_arg_matches(matches)?;
                Ok(())
            }
        }

        impl clap::Args for $name {
            fn augment_args(cmd: clap::Command) -> clap::Command {
                Flags::augment(cmd, Scope::$scope)
            }

            fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
                Flags::augment(cmd, Scope::$scope)
            }
        }
    };
}

clap_flags!(
    GlobalFlags,
    Global,
    "The flags every command takes: `--config`, `--data-dir`, `--database-url`."
);
clap_flags!(
    ServeFlags,
    Serve,
    "The flags of `serve` (and `config`): listener, limits, timeouts, digests."
);

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn toml_file(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("partnerfeed.toml");
        std::fs::write(&path, text).expect("write");
        (dir, path)
    }

    #[test]
    fn nothing_given_is_every_default() {
        let config = Config::load(&Flags::default(), no_env).unwrap();
        let defaults = Config::default();
        assert_eq!(config.serve.bind, defaults.serve.bind);
        assert_eq!(config.serve.rate_limit, 100);
        assert_eq!(config.connections.keep_alive, Duration::from_secs(75));
        assert_eq!(config.webhooks.schedule, RetrySchedule::default());
        assert_eq!(config.mail.from, crate::mail::DEFAULT_FROM);
        assert!(config.sources.is_empty());
        assert!(config.file.is_none());
    }

    #[test]
    fn values_are_typed() {
        let config = Config::load(
            &Flags::default(),
            env_of(&[
                ("PARTNERFEED_WEBHOOK_ALLOW", "127.0.0.0/8, 10.0.0.0/8"),
                ("PARTNERFEED_WEBHOOK_RETRY_SCHEDULE", "1s,2m"),
                ("PARTNERFEED_WEBHOOK_LEASE", "90s"),
                ("PARTNERFEED_KEEP_ALIVE", "2m"),
                ("PARTNERFEED_BODY_READ_TIMEOUT", "7"),
                ("PARTNERFEED_PUBLIC_URL", "https://feeds.example/"),
                ("PARTNERFEED_WORKERS", "3"),
                ("PARTNERFEED_FEED_CACHE", "false"),
            ]),
        )
        .unwrap();
        assert_eq!(config.webhooks.allow.0.len(), 2);
        assert!(config.webhooks.allow.allows("10.1.2.3".parse().unwrap()));
        assert_eq!(
            config.webhooks.schedule.delays,
            [Duration::from_secs(1), Duration::from_secs(120)]
        );
        assert_eq!(config.webhooks.lease, Duration::from_secs(90));
        assert_eq!(config.connections.keep_alive, Duration::from_secs(120));
        assert_eq!(config.connections.body_read_timeout, Duration::from_secs(7));
        assert_eq!(config.digest_settings().public_url, "https://feeds.example");
        assert_eq!(config.serve.workers, Some(3));
        assert!(!config.serve.feed_cache);
    }

    #[test]
    fn a_flag_beats_the_environment_which_beats_the_file() {
        let (_dir, path) = toml_file(
            "bind = \"127.0.0.1:1001\"\nrate_limit = 7\nbody_limit = 1000\n\
             webhook_allow = [\"127.0.0.0/8\"]\n",
        );
        let flags = Flags {
            config: Some(path.clone()),
            ..Flags::default()
        }
        .with("bind", "127.0.0.1:3003");
        let env = env_of(&[
            ("PARTNERFEED_BIND", "127.0.0.1:2002"),
            ("PARTNERFEED_RATE_LIMIT", "8"),
        ]);
        let config = Config::load(&flags, env).unwrap();
        assert_eq!(config.serve.bind.port(), 3003);
        assert_eq!(config.serve.rate_limit, 8);
        assert_eq!(config.serve.body_limit, 1000);
        assert!(config.webhooks.allow.allows("127.0.0.1".parse().unwrap()));
        assert_eq!(config.serve.token_concurrency, 4);
        assert_eq!(config.sources["bind"], Source::Flag("bind"));
        assert_eq!(
            config.sources["rate_limit"],
            Source::Env("PARTNERFEED_RATE_LIMIT")
        );
        assert_eq!(config.sources["body_limit"], Source::File(path.clone()));
        assert!(!config.sources.contains_key("token_concurrency"));
        assert_eq!(config.file, Some((path, Source::Flag("config"))));
    }

    #[test]
    fn the_file_may_be_named_by_the_environment() {
        let (_dir, path) = toml_file("workers = 3\n");
        let env = env_of(&[(CONFIG_VAR, path.to_str().unwrap())]);
        let config = Config::load(&Flags::default(), env).unwrap();
        assert_eq!(config.serve.workers, Some(3));
        assert_eq!(config.file, Some((path, Source::Env(CONFIG_VAR))));
    }

    #[test]
    fn a_blank_variable_is_unset() {
        let config = Config::load(
            &Flags::default(),
            env_of(&[("PARTNERFEED_BIND", "  "), ("PARTNERFEED_SMTP_URL", "")]),
        )
        .unwrap();
        assert_eq!(config.serve.bind, Config::default().serve.bind);
        assert!(config.mail.smtp_url.is_none());
    }

    #[test]
    fn a_bad_value_names_where_it_came_from_and_why() {
        let cases: [(&[(&str, &str)], &str); 9] = [
            (
                &[("PARTNERFEED_SECRET_KEY", "short")],
                "PARTNERFEED_SECRET_KEY: the secret key must be 32 bytes",
            ),
            (
                &[("PARTNERFEED_MAIL_FROM", "partnerfeed at example")],
                "PARTNERFEED_MAIL_FROM: \"partnerfeed at example\" is not a mail address",
            ),
            (
                &[("PARTNERFEED_WORKERS", "0")],
                "PARTNERFEED_WORKERS: \"0\" is not a positive whole number",
            ),
            (
                &[("PARTNERFEED_WEBHOOK_RETRY_SCHEDULE", "5x")],
                "PARTNERFEED_WEBHOOK_RETRY_SCHEDULE: \"5x\" is not a duration",
            ),
            (
                &[("PARTNERFEED_WEBHOOK_ALLOW", "10.0.0.0/33")],
                "PARTNERFEED_WEBHOOK_ALLOW: \"10.0.0.0/33\": the prefix length must be 0 to 32",
            ),
            (
                &[("PARTNERFEED_WEBHOOK_BATCH_CHANGES", "0")],
                "PARTNERFEED_WEBHOOK_BATCH_CHANGES: \"0\" is not a positive whole number",
            ),
            (
                &[("PARTNERFEED_WEBHOOK_LEASE", "0s")],
                "PARTNERFEED_WEBHOOK_LEASE: \"0s\" is not a positive duration",
            ),
            (
                &[("PARTNERFEED_PUBLIC_URL", "ftp://x")],
                "PARTNERFEED_PUBLIC_URL: \"ftp://x\" is not an http(s) URL",
            ),
            (
                &[("PARTNERFEED_KEEP_ALIVE", "soon")],
                "PARTNERFEED_KEEP_ALIVE: \"soon\" is not a duration",
            ),
        ];
        for (env, expected) in cases {
            let error = Config::load(&Flags::default(), env_of(env)).unwrap_err();
            assert!(error.starts_with(expected), "{error}");
        }
        let error = Config::load(&Flags::default().with("bind", "nowhere"), no_env).unwrap_err();
        assert!(
            error.starts_with("--bind: \"nowhere\" is not an address"),
            "{error}"
        );
        let (_dir, path) = toml_file("rate_limit = \"fast\"\n");
        let flags = Flags {
            config: Some(path.clone()),
            ..Flags::default()
        };
        let error = Config::load(&flags, no_env).unwrap_err();
        assert_eq!(
            error,
            format!(
                "{}: rate_limit: \"fast\" is not a whole number in range",
                path.display()
            )
        );
    }

    #[test]
    fn a_file_with_an_unknown_key_or_bad_toml_is_refused() {
        for (text, expected) in [
            ("bindd = \"x\"\n", "unknown key \"bindd\""),
            ("bind = \n", "not a valid TOML file"),
            ("rate_limit = 1.5\n", "rate_limit: float is not"),
        ] {
            let (_dir, path) = toml_file(text);
            let flags = Flags {
                config: Some(path),
                ..Flags::default()
            };
            let error = Config::load(&flags, no_env).unwrap_err();
            assert!(error.contains(expected), "{error}");
        }
        let flags = Flags {
            config: Some("/nonexistent/partnerfeed.toml".into()),
            ..Flags::default()
        };
        let error = Config::load(&flags, no_env).unwrap_err();
        assert!(
            error.contains("cannot read the configuration file"),
            "{error}"
        );
    }

    const SECRETS: [(&str, &str); 5] = [
        ("PARTNERFEED_ADMIN_TOKEN", "pf_admin-secret-value"),
        ("PARTNERFEED_METRICS_TOKEN", "metrics-secret-value"),
        (
            "PARTNERFEED_SMTP_URL",
            "smtps://user:smtp-secret-value@mail.example",
        ),
        (
            "PARTNERFEED_SECRET_KEY",
            "c2VjcmV0LXZhbHVlLXNlY3JldC12YWx1ZS1zZWNyZXQ=",
        ),
        (
            "DATABASE_URL",
            "postgres://pf:db-secret-value@db.example/pf",
        ),
    ];

    #[test]
    fn secrets_are_redacted_in_debug_and_in_the_description() {
        let config = Config::load(&Flags::default(), env_of(&SECRETS)).unwrap();
        assert_eq!(
            config.serve.admin_token.as_ref().map(Secret::expose),
            Some("pf_admin-secret-value")
        );
        let debug = format!("{config:?}");
        let described = config.describe();
        for text in [&debug, &described] {
            assert!(!text.contains("secret-value"), "{text}");
            for (_, value) in SECRETS {
                assert!(!text.contains(value), "{text}");
            }
            assert!(text.contains("[redacted]"), "{text}");
        }
        assert!(
            described.contains("postgres://pf:[redacted]@db.example/pf"),
            "{described}"
        );
    }

    #[test]
    fn a_bad_secret_is_not_repeated_in_the_message() {
        let error = Config::load(
            &Flags::default(),
            env_of(&[("PARTNERFEED_SMTP_URL", "smtpx://user:hunter2@mail")]),
        )
        .unwrap_err();
        assert!(error.starts_with("PARTNERFEED_SMTP_URL: "), "{error}");
        assert!(!error.contains("hunter2"), "{error}");
        let error = Config::load(
            &Flags::default(),
            env_of(&[("DATABASE_URL", "mysql://user:hunter2@db/x")]),
        )
        .unwrap_err();
        assert!(error.starts_with("DATABASE_URL: "), "{error}");
        assert!(!error.contains("hunter2"), "{error}");
    }

    #[test]
    fn the_description_lists_every_setting_with_its_source() {
        let config = Config::load(
            &Flags::default().with("rate_limit", "5"),
            env_of(&[("PARTNERFEED_WEBHOOK_LEASE", "2m")]),
        )
        .unwrap();
        let described = config.describe();
        for setting in SETTINGS {
            assert!(
                described
                    .lines()
                    .any(|l| l.starts_with(&format!("{} ", setting.key))),
                "{} missing: {described}",
                setting.key
            );
        }
        let line = |key: &str| {
            described
                .lines()
                .find(|l| l.starts_with(&format!("{key} ")))
                .unwrap()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert_eq!(line("rate_limit"), "rate_limit = 5 # flag --rate-limit");
        assert_eq!(
            line("webhook_lease"),
            "webhook_lease = 2m # env PARTNERFEED_WEBHOOK_LEASE"
        );
        assert_eq!(line("keep_alive"), "keep_alive = 75s # default");
        assert_eq!(
            line("webhook_retry_schedule"),
            "webhook_retry_schedule = 5s,5m,30m,2h,5h,10h,14h,20h,24h # default"
        );
    }

    #[test]
    fn every_setting_has_distinct_names_and_its_default_parses_back() {
        let mut keys = std::collections::BTreeSet::new();
        let mut envs = std::collections::BTreeSet::new();
        for setting in SETTINGS {
            assert!(keys.insert(setting.key), "{}", setting.key);
            assert!(envs.insert(setting.env), "{}", setting.env);
            let default = setting.default_value();
            if default != "unset" && default != "none" {
                let mut config = Config::default();
                (setting.apply)(&mut config, &default)
                    .unwrap_or_else(|e| panic!("{}: {e}", setting.key));
                assert_eq!((setting.show)(&config), default, "{}", setting.key);
            }
        }
    }
}
