//! Rendered full feeds kept on disk, one per channel, format and encoding, keyed by the feed's
//! ETag. The ETag changes exactly when the cursor, the channel definition or the renderer
//! does, so a file is either the current rendering or never served again: there is nothing to
//! invalidate. A repeated request for an unchanged channel is then a file copy to the socket,
//! the same work a static file server does, instead of a database scan and a rendering.
//!
//! A miss renders as before and tees the bytes into a temporary file beside the cache; only a
//! complete rendering is renamed into place, and doing so removes the older renderings of the
//! same channel, format and encoding. The cache holds at most one file per channel, format and
//! encoding; deleting the directory at any time is safe.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::feeds::Format;

/// Bodies as sent: identity, or gzip done by partnerfeed itself (so the compressed rendering
/// can be kept too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Identity,
    Gzip,
}

impl Encoding {
    fn as_str(self) -> &'static str {
        match self {
            Encoding::Identity => "identity",
            Encoding::Gzip => "gzip",
        }
    }
}

/// The cache directory, or none when caching is off.
#[derive(Debug)]
pub struct FeedCache {
    dir: Option<PathBuf>,
    temp_seq: AtomicU64,
}

impl FeedCache {
    /// A cache in `dir` (created, and emptied of abandoned temporary files), or a disabled one.
    pub fn new(dir: Option<PathBuf>) -> io::Result<FeedCache> {
        if let Some(dir) = &dir {
            crate::files::private_dir(dir)?;
            for entry in fs::read_dir(dir)? {
                let path = entry?.path();
                if path.extension().is_some_and(|e| e == "part") {
                    let _ = fs::remove_file(path);
                }
            }
        }
        Ok(FeedCache {
            dir,
            temp_seq: AtomicU64::new(0),
        })
    }

    fn prefix(channel_id: i64, format: Format, encoding: Encoding) -> String {
        format!("{channel_id}-{}-{}-", format.as_str(), encoding.as_str())
    }

    /// The file name of a rendering: the ETag's hex inside the prefix.
    fn name(channel_id: i64, format: Format, encoding: Encoding, etag: &str) -> String {
        format!(
            "{}{}",
            Self::prefix(channel_id, format, encoding),
            etag.trim_matches('"')
        )
    }

    /// The kept rendering for this ETag, when there is one.
    pub fn lookup(
        &self,
        channel_id: i64,
        format: Format,
        encoding: Encoding,
        etag: &str,
    ) -> Option<PathBuf> {
        let path = self
            .dir
            .as_ref()?
            .join(Self::name(channel_id, format, encoding, etag));
        path.is_file().then_some(path)
    }

    /// A file to tee a new rendering into, or none when caching is off.
    pub fn writer(
        &self,
        channel_id: i64,
        format: Format,
        encoding: Encoding,
    ) -> Option<PendingFile> {
        let dir = self.dir.as_ref()?;
        let n = self.temp_seq.fetch_add(1, Ordering::Relaxed);
        let temp = dir.join(format!(
            "{}{}-{n}.part",
            Self::prefix(channel_id, format, encoding),
            std::process::id()
        ));
        let created = crate::files::private_options()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&temp);
        match created {
            Ok(file) => Some(PendingFile {
                file: io::BufWriter::with_capacity(256 * 1024, file),
                temp,
                dir: dir.clone(),
                prefix: Self::prefix(channel_id, format, encoding),
                failed: false,
            }),
            Err(e) => {
                tracing::warn!(error = %e, dir = %dir.display(), "feed cache is not writable");
                None
            }
        }
    }
}

/// A rendering being written. It becomes visible only through [`PendingFile::commit`];
/// dropped, it is removed.
pub struct PendingFile {
    file: io::BufWriter<File>,
    temp: PathBuf,
    dir: PathBuf,
    prefix: String,
    /// A write failed (disk full, say): the rendering goes on to the client, uncached.
    failed: bool,
}

impl PendingFile {
    fn write_all(&mut self, data: &[u8]) {
        if !self.failed && self.file.write_all(data).is_err() {
            self.failed = true;
        }
    }

    /// Moves the complete rendering into place under `etag` and removes older renderings of
    /// the same channel, format and encoding.
    pub fn commit(mut self, etag: &str) {
        if self.failed || self.file.flush().is_err() {
            return;
        }
        let name = format!("{}{}", self.prefix, etag.trim_matches('"'));
        if fs::rename(&self.temp, self.dir.join(&name)).is_err() {
            return;
        }
        if let Ok(entries) = fs::read_dir(&self.dir) {
            for entry in entries.flatten() {
                let file_name = entry.file_name();
                let Some(other) = file_name.to_str() else {
                    continue;
                };
                if other.starts_with(&self.prefix) && other != name && !other.ends_with(".part") {
                    let _ = fs::remove_file(entry.path());
                }
            }
        }
    }
}

impl Drop for PendingFile {
    fn drop(&mut self) {
        // After a commit the temporary name no longer exists; this is then a no-op.
        let _ = fs::remove_file(&self.temp);
    }
}

/// Writes to the client and, while caching, to the pending file. The client's errors end the
/// rendering (nobody reads it any more); the file's only stop the caching.
pub struct Tee<W: Write> {
    pub client: W,
    pub file: Option<PendingFile>,
}

impl<W: Write> Write for Tee<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.client.write_all(data)?;
        if let Some(file) = &mut self.file {
            file.write_all(data);
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.client.flush()
    }
}

/// The directory of the cache inside the data directory.
pub fn default_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("feed-cache")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_committed_rendering_replaces_the_older_one_and_an_aborted_one_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FeedCache::new(Some(dir.path().join("c"))).unwrap();
        let mut first = cache.writer(7, Format::Json, Encoding::Identity).unwrap();
        first.write_all(b"one");
        first.commit("\"aa\"");
        assert!(cache
            .lookup(7, Format::Json, Encoding::Identity, "\"aa\"")
            .is_some());

        let mut second = cache.writer(7, Format::Json, Encoding::Identity).unwrap();
        second.write_all(b"two");
        second.commit("\"bb\"");
        let kept = cache
            .lookup(7, Format::Json, Encoding::Identity, "\"bb\"")
            .unwrap();
        assert_eq!(fs::read(kept).unwrap(), b"two");
        assert!(cache
            .lookup(7, Format::Json, Encoding::Identity, "\"aa\"")
            .is_none());

        let mut aborted = cache.writer(7, Format::Json, Encoding::Gzip).unwrap();
        aborted.write_all(b"half");
        drop(aborted);
        let names: Vec<_> = fs::read_dir(dir.path().join("c"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, vec!["7-json-identity-bb".to_string()]);
    }

    #[test]
    fn a_disabled_cache_keeps_nothing() {
        let cache = FeedCache::new(None).unwrap();
        assert!(cache.writer(1, Format::Csv, Encoding::Identity).is_none());
        assert!(cache
            .lookup(1, Format::Csv, Encoding::Identity, "\"x\"")
            .is_none());
    }
}
