//! `partnerfeed export`: a channel's full feed, or its changes since a cursor, written to a file
//! or stdout from one consistent snapshot, with progress on stderr.

use std::io::{BufWriter, Write};
use std::time::Duration;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use crate::feeds::Format;
use crate::service::pull;
use crate::store::{self, channels, Db};

/// `partnerfeed export`: writes to `output` (stdout by default) and prints the cursor on stderr.
pub fn run(
    config: &crate::config::Config,
    channel: &str,
    format: &str,
    since: Option<&str>,
    output: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let format = Format::parse(format)
        .with_context(|| format!("unknown format {format:?}; use {}", Format::names()))?;
    let db = crate::app::open_db(&config.storage)?;
    // A key that does not open the stored secrets stops the export before any output, and a
    // key file this run made for it is removed.
    let (key, _) =
        crate::app::open_with_secret_key(&config.storage, config.secret_key.as_ref(), |key| {
            Ok(crate::service::secrets::cursor_key(
                &mut *db.write_conn()?,
                key,
            )?)
        })?;
    let cursor = match output {
        Some(path) => {
            let file = std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            export(&db, &key, channel, format, since, file)?
        }
        None => export(&db, &key, channel, format, since, std::io::stdout().lock())?,
    };
    eprintln!("cursor: {cursor}");
    Ok(())
}

/// Writes the export to `out` and returns the cursor it is consistent with.
pub fn export(
    db: &Db,
    secret_key: &crate::service::secrets::SecretKey,
    channel: &str,
    format: Format,
    since: Option<&str>,
    out: impl Write,
) -> anyhow::Result<String> {
    let mut conn = db.read_conn()?;
    let key = crate::service::secrets::cursor_key(&mut *db.write_conn()?, secret_key)?;
    let row =
        channels::get(&mut conn, channel)?.with_context(|| format!("no channel {channel:?}"))?;
    let progress = ProgressBar::new_spinner();
    progress.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    progress.enable_steady_tick(Duration::from_millis(200));
    let out = BufWriter::with_capacity(1 << 16, out);
    let mut cursor = String::new();
    let result = store::snapshot(&mut conn, |c| -> Result<_, pull::PullError> {
        let out = match since {
            None => pull::write_feed(
                c,
                row.id,
                format,
                &key,
                |_, at| cursor = at.to_string(),
                out,
                |n| progress.set_message(format!("{n} products")),
            )?,
            Some(since) => pull::write_changes(
                c,
                row.id,
                Some(since),
                None,
                format,
                &key,
                |_, page| cursor = page.next.clone(),
                out,
            )?,
        };
        Ok(out)
    });
    progress.finish_and_clear();
    let mut out = result?;
    out.flush()?;
    Ok(cursor)
}
