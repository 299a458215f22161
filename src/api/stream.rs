//! Response bodies produced by blocking code (a database read snapshot rendering a feed or a
//! change page) go through a spool, so the producer never waits on the client: it writes at
//! its own pace, the first [`MEMORY`] bytes into memory and the rest into an unlinked
//! temporary file under the data directory, then releases its database connection. The
//! client follows the spool as it grows and reads it at its own pace; the file disappears with
//! the response. Memory per response stays under [`MEMORY`] plus one [`CHUNK`].
//!
//! A producer that fails after the head went out leaves a body that ends with an error, so
//! the client sees a cut transfer, never a short body that ends cleanly.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Poll, Waker};

use actix_web::web::Bytes;

/// Bytes gathered before they are appended to the spool, and the most handed to the socket
/// at once.
const CHUNK: usize = 64 * 1024;
/// Bytes of a body kept in memory before the spool goes to a file.
pub const MEMORY: usize = 256 * 1024;

struct State {
    /// The first bytes of the body.
    memory: Vec<u8>,
    /// The rest, from offset `memory.len()` of the body, once it outgrew memory.
    file: Option<File>,
    /// Bytes in the spool.
    len: u64,
    /// Writers and abort handles alive: the body ends once none is left.
    producers: usize,
    failed: Option<String>,
    /// The reader went away: producers stop with `BrokenPipe`.
    reader_gone: bool,
    waker: Option<Waker>,
}

struct Spool {
    state: Mutex<State>,
    dir: PathBuf,
}

impl Spool {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wake(state: &mut State) {
        if let Some(waker) = state.waker.take() {
            waker.wake();
        }
    }

    fn append(&self, data: &[u8]) -> io::Result<()> {
        let mut state = self.lock();
        if state.reader_gone {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "client went away",
            ));
        }
        if state.file.is_none() && state.memory.len() + data.len() <= MEMORY {
            state.memory.extend_from_slice(data);
        } else {
            if state.file.is_none() {
                state.file = Some(tempfile::tempfile_in(&self.dir)?);
            }
            let offset = state.len - state.memory.len() as u64;
            if let Some(file) = &state.file {
                file.write_all_at(data, offset)?;
            }
        }
        state.len += data.len() as u64;
        Self::wake(&mut state);
        Ok(())
    }

    fn release(&self) {
        let mut state = self.lock();
        state.producers = state.producers.saturating_sub(1);
        Self::wake(&mut state);
    }

    fn fail(&self, error: String) {
        let mut state = self.lock();
        state.failed.get_or_insert(error);
        Self::wake(&mut state);
    }
}

/// The writing end, used on a blocking thread. Fails with `BrokenPipe` once the client left.
pub struct BodyWriter {
    spool: Arc<Spool>,
    buf: Vec<u8>,
    /// Called once, just before the first bytes reach the spool from `write` or `flush` (not
    /// from the drop at the end): the moment the response's head must go out.
    first_send: Option<Box<dyn FnOnce() + Send>>,
}

/// A spool in `dir` (created on demand): its writer, and the body that follows it.
pub fn channel(dir: &Path) -> (BodyWriter, Body) {
    let spool = Arc::new(Spool {
        state: Mutex::new(State {
            memory: Vec::new(),
            file: None,
            len: 0,
            producers: 1,
            failed: None,
            reader_gone: false,
            waker: None,
        }),
        dir: dir.to_path_buf(),
    });
    (
        BodyWriter {
            spool: spool.clone(),
            buf: Vec::with_capacity(CHUNK),
            first_send: None,
        },
        Body { spool, pos: 0 },
    )
}

/// A complete file as a body (a kept rendering); read at the client's pace, no thread held.
pub fn file(file: File) -> io::Result<(Body, u64)> {
    let len = file.metadata()?.len();
    let spool = Arc::new(Spool {
        state: Mutex::new(State {
            memory: Vec::new(),
            file: Some(file),
            len,
            producers: 0,
            failed: None,
            reader_gone: false,
            waker: None,
        }),
        dir: PathBuf::new(),
    });
    Ok((Body { spool, pos: 0 }, len))
}

impl BodyWriter {
    /// Runs `hook` just before the first bytes are handed on while the body is being written.
    /// A body that fits in one chunk reaches the spool only when the writer is dropped, after
    /// the producer knows whether it succeeded, and `hook` is not run then.
    pub fn on_first_send(&mut self, hook: impl FnOnce() + Send + 'static) {
        self.first_send = Some(Box::new(hook));
    }

    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        if let Some(hook) = self.first_send.take() {
            hook();
        }
        self.send_quietly()
    }

    fn send_quietly(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let result = self.spool.append(&self.buf);
        self.buf.clear();
        result
    }

    /// Ends the body with an error, so the client sees a truncated transfer, not a short feed.
    pub fn fail(mut self, error: String) {
        self.buf.clear();
        self.spool.fail(error);
    }

    /// A handle that can still cut the body after this writer was handed to a renderer and
    /// dropped. The body ends only when both are gone, so a renderer that fails halfway never
    /// leaves a body that ends cleanly.
    pub fn abort_handle(&self) -> Abort {
        self.spool.lock().producers += 1;
        Abort {
            spool: self.spool.clone(),
        }
    }
}

/// Cuts a body whose writer may already be gone; see [`BodyWriter::abort_handle`].
pub struct Abort {
    spool: Arc<Spool>,
}

impl Abort {
    /// Ends the body with an error after whatever the writer already sent.
    pub fn fail(self, error: String) {
        self.spool.fail(error);
    }
}

impl Drop for Abort {
    fn drop(&mut self) {
        self.spool.release();
    }
}

impl Write for BodyWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

impl Drop for BodyWriter {
    fn drop(&mut self) {
        let _ = self.send_quietly();
        self.spool.release();
    }
}

/// The reading end: a stream of chunks for `HttpResponse::streaming`.
pub struct Body {
    spool: Arc<Spool>,
    pos: u64,
}

impl futures_util::Stream for Body {
    type Item = Result<Bytes, io::Error>;

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let mut state = this.spool.lock();
        if this.pos < state.len {
            let in_memory = state.memory.len() as u64;
            let chunk = if this.pos < in_memory {
                let start = this.pos as usize;
                let end = state.memory.len().min(start + CHUNK);
                Bytes::copy_from_slice(&state.memory[start..end])
            } else {
                let n = (state.len - this.pos).min(CHUNK as u64) as usize;
                let mut buf = vec![0; n];
                // A read of at most one chunk from a file just written (in the page cache).
                let read = match &state.file {
                    Some(file) => file.read_exact_at(&mut buf, this.pos - in_memory),
                    None => Err(io::Error::other("the spool lost its file")),
                };
                if let Err(e) = read {
                    state.len = this.pos;
                    return Poll::Ready(Some(Err(e)));
                }
                Bytes::from(buf)
            };
            this.pos += chunk.len() as u64;
            return Poll::Ready(Some(Ok(chunk)));
        }
        if let Some(error) = state.failed.take() {
            // Nothing follows an error: the producers stop at their next write.
            state.reader_gone = true;
            return Poll::Ready(Some(Err(io::Error::other(error))));
        }
        if state.producers == 0 || state.reader_gone {
            return Poll::Ready(None);
        }
        state.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for Body {
    fn drop(&mut self) {
        self.spool.lock().reader_gone = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    async fn collect(body: Body) -> (Vec<u8>, bool) {
        let mut body = std::pin::pin!(body);
        let mut bytes = Vec::new();
        while let Some(item) = body.next().await {
            match item {
                Ok(chunk) => bytes.extend_from_slice(&chunk),
                Err(_) => return (bytes, true),
            }
        }
        (bytes, false)
    }

    #[tokio::test]
    async fn a_renderer_that_fails_after_dropping_its_writer_leaves_a_cut_body() {
        let dir = tempfile::tempdir().unwrap();
        let (mut writer, body) = channel(dir.path());
        let abort = writer.abort_handle();
        let renderer = tokio::task::spawn_blocking(move || {
            writer.write_all(b"{\"changes\":[").unwrap();
            drop(writer);
            abort.fail("the database went away".into());
        });
        let (bytes, cut) = collect(body).await;
        renderer.await.unwrap();
        assert_eq!(bytes, b"{\"changes\":[");
        assert!(cut, "a half-written body must not end cleanly");
    }

    #[tokio::test]
    async fn a_finished_body_ends_cleanly_once_the_abort_handle_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let (mut writer, body) = channel(dir.path());
        let abort = writer.abort_handle();
        let renderer = tokio::task::spawn_blocking(move || {
            writer.write_all(b"[]").unwrap();
            drop(writer);
            drop(abort);
        });
        let (bytes, cut) = collect(body).await;
        renderer.await.unwrap();
        assert_eq!(bytes, b"[]");
        assert!(!cut);
    }

    #[tokio::test]
    async fn the_writer_finishes_without_waiting_for_the_reader_and_nothing_is_lost() {
        let dir = tempfile::tempdir().unwrap();
        let (mut writer, body) = channel(dir.path());
        let expected: Vec<u8> = (0..4 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
        let data = expected.clone();
        // Nobody reads while the renderer writes 16 times what memory holds: it must finish.
        tokio::task::spawn_blocking(move || {
            for piece in data.chunks(1000) {
                writer.write_all(piece).unwrap();
            }
        })
        .await
        .unwrap();
        let (bytes, cut) = collect(body).await;
        assert!(!cut);
        assert_eq!(bytes.len(), expected.len());
        assert!(bytes == expected);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "the spool file is never visible in the directory"
        );
    }

    #[tokio::test]
    async fn a_writer_stops_once_the_reader_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let (mut writer, body) = channel(dir.path());
        drop(body);
        let e = writer.write_all(&[0; 2 * CHUNK]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
    }
}
