//! The `partnerfeed` binary: parses the command line and hands over to the library.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use partnerfeed::app;
use partnerfeed::cli::{self, import};
use partnerfeed::config::{Config, GlobalFlags, ServeFlags};

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
        /// `json`, `ndjson`, `csv`, `xml`, or a partner-network profile: `google-xml`, `google-tsv`,
        /// `bmecat`, `gdsn-cin` (the Google profiles have no changes: not with `--since`).
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
        Command::Migrate => cli::migrate(&config.storage),
        Command::Import {
            file,
            format,
            by,
            chunk,
        } => import::run(&config.storage, &file, format, &by, chunk),
        Command::Export {
            channel,
            format,
            since,
            output,
        } => cli::export::run(
            &config,
            &channel,
            &format,
            since.as_deref(),
            output.as_deref(),
        ),
        Command::Token(TokenCommand::Create {
            role,
            name,
            expires_at,
        }) => cli::token::create(&config.storage, &role, &name, expires_at.as_deref()),
        Command::Token(TokenCommand::List) => cli::token::list(&config.storage),
        Command::Token(TokenCommand::Revoke { id }) => cli::token::revoke(&config.storage, &id),
        Command::SecretKey(SecretKeyCommand::Generate) => cli::secret_key::generate(),
        Command::SecretKey(SecretKeyCommand::Rotate { new_key_file }) => {
            cli::secret_key::rotate(&config, &new_key_file)
        }
        Command::Demo { products } => cli::demo::run(&config.storage, products),
    }
}
