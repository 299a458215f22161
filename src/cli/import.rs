//! `partnerfeed import`: streams a CSV or NDJSON file into the catalog in chunked transactions.
//! Memory is bounded by the chunk size, not the file size. Bad lines are reported by number and
//! reason and skipped; good lines are kept.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use chrono::Utc;
use indicatif::{ProgressBar, ProgressStyle};

use crate::catalog::{self, FieldError, Product};
use crate::service::edit;
use crate::store::{self, Db, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FileFormat {
    Csv,
    Ndjson,
}

impl FileFormat {
    pub fn from_path(path: &Path) -> Option<FileFormat> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "csv" => Some(FileFormat::Csv),
            "ndjson" | "jsonl" => Some(FileFormat::Ndjson),
            _ => None,
        }
    }
}

pub use crate::service::edit::Summary;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {0}: {1}")]
    Read(String, io::Error),
    #[error("CSV error: {0}")]
    Csv(#[from] csv::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One line of input: its 1-based number and either the parsed product or its problems.
pub type Line = (usize, Result<Product, Vec<FieldError>>);

/// `partnerfeed import`: the format from `--format` or the file name; prints the summary and
/// exits with status 1 when a line failed.
pub fn run(
    storage: &crate::config::Storage,
    file: &Path,
    format: Option<FileFormat>,
    by: &str,
    chunk: usize,
) -> anyhow::Result<()> {
    use anyhow::Context;
    let db = crate::app::open_db(storage)?;
    let format = match format {
        Some(f) => f,
        None => FileFormat::from_path(file)
            .context("cannot tell the format from the file name; pass --format csv|ndjson")?,
    };
    let summary = import_file(&db, file, format, by, chunk.max(1))?;
    println!("{summary}");
    if summary.failed > 0 {
        std::process::exit(1);
    }
    Ok(())
}

/// Imports `path` (or stdin for `-`), `chunk` products per transaction.
pub fn import_file(
    db: &Db,
    path: &Path,
    format: FileFormat,
    by: &str,
    chunk: usize,
) -> Result<Summary, ImportError> {
    let display = path.display().to_string();
    let (reader, size): (Box<dyn Read + Send>, Option<u64>) = if path.as_os_str() == "-" {
        (Box::new(io::stdin()), None)
    } else {
        let file = File::open(path).map_err(|e| ImportError::Read(display.clone(), e))?;
        let size = file.metadata().ok().map(|m| m.len());
        (Box::new(file), size)
    };
    let progress = progress_bar(size);
    let reader = progress.wrap_read(reader);
    let lines: Box<dyn Iterator<Item = Result<Line, ImportError>> + Send> = match format {
        FileFormat::Ndjson => Box::new(ndjson_lines(
            BufReader::with_capacity(1 << 16, reader),
            display,
        )),
        FileFormat::Csv => Box::new(csv_lines(reader)?),
    };
    let summary = parse_ahead(lines, |lines| import_lines(db, lines, by, chunk, &progress))?;
    progress.finish_and_clear();
    Ok(summary)
}

/// Lines sent at a time from the parsing thread to the writer.
const PARSED_BATCH: usize = 256;
/// Batches the parsing thread may be ahead of the writer: memory stays bounded.
const PARSED_AHEAD: usize = 8;

type Parsed = std::iter::Flatten<mpsc::IntoIter<Vec<Result<Line, ImportError>>>>;

/// Runs `consume` over `lines` while a second thread reads, parses and validates them ahead,
/// so that parsing overlaps the database writes. Lines keep their order; reading stops at the
/// first read error (after handing it over) or when `consume` returns.
fn parse_ahead<R>(
    lines: impl Iterator<Item = Result<Line, ImportError>> + Send,
    consume: impl FnOnce(Parsed) -> R,
) -> R {
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::sync_channel(PARSED_AHEAD);
        scope.spawn(move || {
            let mut batch = Vec::with_capacity(PARSED_BATCH);
            for line in lines {
                let stop = line.is_err();
                batch.push(line);
                if batch.len() == PARSED_BATCH || stop {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(PARSED_BATCH));
                    if tx.send(full).is_err() || stop {
                        return;
                    }
                }
            }
            // The receiver may be gone (the writer failed); nothing is left to do then.
            let _ = tx.send(batch);
        });
        consume(rx.into_iter().flatten())
    })
}

fn progress_bar(size: Option<u64>) -> ProgressBar {
    let bar = match size {
        Some(len) => ProgressBar::new(len),
        None => ProgressBar::new_spinner(),
    };
    let style = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {binary_bytes_per_sec} {msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// Stores the lines in chunks; bad lines are printed to stderr and counted.
pub fn import_lines(
    db: &Db,
    lines: impl Iterator<Item = Result<Line, ImportError>>,
    by: &str,
    chunk: usize,
    progress: &ProgressBar,
) -> Result<Summary, ImportError> {
    let started = Instant::now();
    let mut summary = Summary::default();
    let mut pending = Vec::with_capacity(chunk);
    let mut conn = db.write_conn()?;
    let mut flush = |pending: &mut Vec<Product>,
                     summary: &mut Summary|
     -> Result<(), ImportError> {
        if pending.is_empty() {
            return Ok(());
        }
        let now = Utc::now();
        let stored = store::transaction(&mut conn, |c| edit::put_products(c, pending, by, now))?;
        summary.count(&stored);
        pending.clear();
        let secs = started.elapsed().as_secs_f64().max(1e-9);
        progress.set_message(format!(
            "{} products, {:.0}/s",
            summary.stored(),
            summary.stored() as f64 / secs
        ));
        Ok(())
    };
    for line in lines {
        let (number, parsed) = line?;
        match parsed {
            Ok(product) => {
                pending.push(product);
                if pending.len() >= chunk {
                    flush(&mut pending, &mut summary)?;
                }
            }
            Err(errors) => {
                summary.failed += 1;
                for e in errors {
                    let at = if e.pointer.is_empty() {
                        String::new()
                    } else {
                        format!(" at {}", e.pointer)
                    };
                    progress.suspend(|| eprintln!("line {number}{at}: {}", e.message));
                }
            }
        }
    }
    flush(&mut pending, &mut summary)?;
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// The lines of an NDJSON file, each parsed and validated ([`catalog::lines::ndjson`]). Pure
/// parsing: nothing is stored (the fuzz target `ndjson_import` drives it).
pub fn ndjson_lines(
    reader: impl BufRead,
    display: String,
) -> impl Iterator<Item = Result<Line, ImportError>> {
    catalog::lines::ndjson(reader).map(move |item| {
        item.map(validate)
            .map_err(|e| ImportError::Read(display.clone(), e))
    })
}

/// The rows of a CSV file with a header row, each turned into a product and validated
/// ([`catalog::lines::csv`]). Pure parsing: nothing is stored (the fuzz target `csv_import`
/// drives it).
pub fn csv_lines(
    reader: impl Read,
) -> Result<impl Iterator<Item = Result<Line, ImportError>>, ImportError> {
    Ok(catalog::lines::csv(reader)?.map(|item| Ok(validate(item))))
}

/// An item read to a product or its problems.
fn validate((number, item): catalog::lines::Item) -> Line {
    let product = item.and_then(|value| catalog::parse_product(&value, None).map_err(|e| e.errors));
    (number, product)
}
