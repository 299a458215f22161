//! The `partnerfeed` binary: parses the command line and hands over to the library.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use partnerfeed::config::{Config, GlobalFlags, ServeFlags};
use partnerfeed::secrets::{self, SecretKey};
use partnerfeed::tokens::Role;
use partnerfeed::{api, app, import};

#[derive(Parser)]
#[command(
    name = "partnerfeed",
    version,
    about = "Product catalog syndication for partner networks"
)]
struct Cli {
    #[command(flatten)]
    flags: GlobalFlags,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP API and the background jobs.
    Serve {
        #[command(flatten)]
        flags: ServeFlags,
    },
    /// Print the effective configuration and where each value came from (secrets redacted).
    ///
    /// One setting a line: its TOML key, its value, and its source (default, file, env or
    /// flag). Takes the flags of `serve`.
    Config {
        #[command(flatten)]
        flags: ServeFlags,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Import products from a CSV or NDJSON file (see docs/import.md).
    Import {
        /// The file; `-` reads standard input.
        file: PathBuf,
        /// `csv` or `ndjson`; by default taken from the file extension.
        #[arg(long, env = "PARTNERFEED_IMPORT_FORMAT")]
        format: Option<import::FileFormat>,
        /// Name recorded as the author in product history.
        #[arg(long, env = "PARTNERFEED_IMPORT_BY", default_value = "import")]
        by: String,
        /// Products per transaction.
        #[arg(long, env = "PARTNERFEED_IMPORT_CHUNK", default_value_t = 5000)]
        chunk: usize,
    },
    /// Write a channel's full feed, or its changes since a cursor, to stdout or a file.
    Export {
        /// The channel code.
        #[arg(long, env = "PARTNERFEED_EXPORT_CHANNEL")]
        channel: String,
        /// `json`, `ndjson`, `csv` or `xml`.
        #[arg(long, env = "PARTNERFEED_EXPORT_FORMAT", default_value = "json")]
        format: String,
        /// Export the changes after this cursor instead of the full feed.
        #[arg(long, env = "PARTNERFEED_EXPORT_SINCE")]
        since: Option<String>,
        /// Output file (default: stdout).
        #[arg(long, short, env = "PARTNERFEED_EXPORT_OUTPUT")]
        output: Option<PathBuf>,
    },
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage the key that encrypts the secrets stored in the database.
    #[command(subcommand, name = "secret-key")]
    SecretKey(SecretKeyCommand),
    /// Fill the database with a realistic sample catalog.
    Demo {
        /// Number of products.
        #[arg(long, env = "PARTNERFEED_DEMO_PRODUCTS", default_value_t = 2500)]
        products: usize,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create an admin or editor token and print it alone on stdout (its id goes to stderr).
    Create {
        #[arg(long, env = "PARTNERFEED_TOKEN_ROLE")]
        role: String,
        #[arg(long, env = "PARTNERFEED_TOKEN_NAME")]
        name: String,
        /// When the token stops working (RFC 3339); never by default.
        #[arg(long, env = "PARTNERFEED_TOKEN_EXPIRES_AT")]
        expires_at: Option<String>,
    },
    /// List every token as JSON lines (id, name, role, reseller, created_at, last_used_at,
    /// expires_at); never a secret.
    List,
    /// Revoke a token by its id (`tok_...`). Running servers refuse it within a second.
    Revoke {
        /// The token's id, as listed.
        id: String,
    },
}

#[derive(Subcommand)]
enum SecretKeyCommand {
    /// Print a new random key (base64 of 32 bytes) on stdout.
    Generate,
    /// Re-encrypt every stored secret with a new key, in one transaction. The old key is the
    /// one in force (`PARTNERFEED_SECRET_KEY` or `<data dir>/secret.key`); when it came from
    /// that file, the file then holds the new key. Stop every instance first.
    Rotate {
        /// File holding the new key (64 hex digits or base64 of 32 bytes), e.g. made with
        /// `partnerfeed secret-key generate`.
        #[arg(long, env = "PARTNERFEED_NEW_SECRET_KEY_FILE")]
        new_key_file: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    partnerfeed::init_tracing();
    let flags = match &cli.command {
        Command::Serve { flags } | Command::Config { flags } => cli.flags.0.merge(&flags.0),
        _ => cli.flags.0,
    };
    // A bad setting stops every command before it starts, naming the setting (status 2, as
    // for a bad command line).
    let config = Config::load(&flags, |name| std::env::var(name).ok()).unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(2)
    });
    match cli.command {
        Command::Serve { .. } => actix_web::rt::System::new().block_on(app::serve(config)),
        Command::Config { .. } => {
            print!("{}", config.describe());
            Ok(())
        }
        Command::Migrate => {
            let db = app::open_db(&config.storage)?;
            eprintln!("migrations applied ({})", db.backend().name());
            Ok(())
        }
        Command::Import {
            file,
            format,
            by,
            chunk,
        } => {
            let db = app::open_db(&config.storage)?;
            let format = match format {
                Some(f) => f,
                None => import::FileFormat::from_path(&file).context(
                    "cannot tell the format from the file name; pass --format csv|ndjson",
                )?,
            };
            let summary = import::import_file(&db, &file, format, &by, chunk.max(1))?;
            println!("{summary}");
            if summary.failed > 0 {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Export {
            channel,
            format,
            since,
            output,
        } => {
            let format = partnerfeed::feeds::Format::parse(&format).with_context(|| {
                format!(
                    "unknown format {format:?}; use {}",
                    partnerfeed::feeds::Format::names()
                )
            })?;
            let db = app::open_db(&config.storage)?;
            // A key that does not open the stored secrets stops the export before any output.
            let (key, _) =
                app::open_with_secret_key(&config.storage, config.secret_key.as_ref(), |key| {
                    Ok(secrets::cursor_key(&mut *db.write_conn()?, key)?)
                })?;
            let cursor = match output {
                Some(path) => {
                    let file = std::fs::File::create(&path)
                        .with_context(|| format!("cannot create {}", path.display()))?;
                    partnerfeed::export::export(
                        &db,
                        &key,
                        &channel,
                        format,
                        since.as_deref(),
                        file,
                    )?
                }
                None => partnerfeed::export::export(
                    &db,
                    &key,
                    &channel,
                    format,
                    since.as_deref(),
                    std::io::stdout().lock(),
                )?,
            };
            eprintln!("cursor: {cursor}");
            Ok(())
        }
        Command::Token(TokenCommand::Create {
            role,
            name,
            expires_at,
        }) => {
            let role = match Role::parse(&role) {
                Some(r @ (Role::Admin | Role::Editor)) => r,
                _ => anyhow::bail!("--role must be admin or editor (reseller tokens: POST /v1/resellers/{{code}}/tokens)"),
            };
            let name = api::tokens::validate_name(&name)
                .map_err(|_| anyhow::anyhow!("--name must be 1 to 100 printable characters"))?;
            let expires_at =
                api::tokens::validate_expiry(expires_at.as_deref(), chrono::Utc::now()).map_err(
                    |_| anyhow::anyhow!("--expires-at must be an RFC 3339 date-time in the future"),
                )?;
            let db = app::open_db(&config.storage)?;
            let mut conn = db.write_conn()?;
            let (issued, _) = api::tokens::issue(&mut conn, role, &name, None, expires_at)?;
            println!("{}", issued.token);
            eprintln!("token id: {}", issued.id);
            Ok(())
        }
        Command::Token(TokenCommand::List) => {
            let db = app::open_db(&config.storage)?;
            let mut conn = db.read_conn()?;
            let mut out = std::io::stdout().lock();
            for row in partnerfeed::store::tokens::list(&mut conn)? {
                let info = api::tokens::TokenInfo::from(row);
                writeln!(out, "{}", serde_json::to_string(&info)?)?;
            }
            Ok(())
        }
        Command::Token(TokenCommand::Revoke { id }) => {
            let db = app::open_db(&config.storage)?;
            let mut conn = db.write_conn()?;
            let row = partnerfeed::store::tokens::delete(&mut conn, &id)?
                .with_context(|| format!("no token with id {id}"))?;
            eprintln!("revoked {} ({}, {})", row.public_id, row.role, row.name);
            Ok(())
        }
        Command::SecretKey(SecretKeyCommand::Generate) => {
            println!("{}", SecretKey::generate("new key").encoded());
            Ok(())
        }
        Command::SecretKey(SecretKeyCommand::Rotate { new_key_file }) => {
            let configured = config.secret_key.clone();
            let text = std::fs::read_to_string(&new_key_file)
                .with_context(|| format!("cannot read {}", new_key_file.display()))?;
            let new = SecretKey::parse(&text, &new_key_file.display().to_string())?;
            let db = app::open_db(&config.storage)?;
            let (_, count) =
                app::open_with_secret_key(&config.storage, configured.as_ref(), |old| {
                    if old.id() == new.id() {
                        anyhow::bail!("the new key is the key in force ({})", old.source());
                    }
                    Ok(secrets::rotate(&mut *db.write_conn()?, old, &new)?)
                })?;
            if configured.is_none() {
                let path = config.storage.data_dir().join(secrets::KEY_FILE);
                partnerfeed::files::write_private(&path, format!("{}\n", new.encoded()).as_bytes())
                    .with_context(|| {
                        format!(
                            "secrets re-encrypted, but cannot write the new key to {}: it is in {}",
                            path.display(),
                            new_key_file.display()
                        )
                    })?;
                eprintln!(
                    "{count} secrets re-encrypted with key {}; {} now holds it",
                    new.id(),
                    path.display()
                );
            } else {
                eprintln!("{count} secrets re-encrypted with key {}; set {} to the new key on every instance", new.id(), secrets::KEY_VAR);
            }
            Ok(())
        }
        Command::Demo { products } => {
            let db = app::open_db(&config.storage)?;
            let summary = partnerfeed::demo_load::load(&db, products)?;
            println!("{summary}");
            Ok(())
        }
    }
}
