//! Response bodies produced by blocking code (a database read snapshot rendering a feed or a
//! change page) go through a spool, so that a slow client never holds the producer: the
//! producer writes at its own pace into a window of at most [`MEMORY`] bytes in memory that
//! the client drains chunk by chunk (no copy on the way). When the window is full, a producer
//! whose response head has gone out waits for the client, at most [`WAIT`] in all for one
//! body; then, or at once for a producer whose head has not gone out, the rest goes to an
//! unlinked temporary file under the data directory, which the client reads once it has
//! drained the window. So a client that keeps up gets the body from memory, and a slow one
//! costs the producer at most [`WAIT`] before it finishes and releases its database connection.
//! The file disappears with the response; once the client has caught up with it, it is
//! written again from its start. Memory per response stays under [`MEMORY`] plus one
//! [`CHUNK`].
//!
//! A producer that fails after the head went out leaves a body that ends with an error, so
//! the client sees a cut transfer, never a short body that ends cleanly.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use actix_web::web::Bytes;

/// Bytes gathered before they are appended to the spool, and the most handed to the socket
/// at once.
const CHUNK: usize = 64 * 1024;
/// Bytes of a body kept in memory, unread, before the spool goes to a file.
pub const MEMORY: usize = 256 * 1024;
/// The longest a producer waits, in all for one body, for the client to make room in memory.
pub const WAIT: Duration = Duration::from_millis(100);

struct State {
    /// Chunks not yet read, in order; all of them come before the file's unread bytes.
    memory: VecDeque<Bytes>,
    /// Bytes in `memory`.
    queued: usize,
    /// Where the body went once memory was full.
    file: Option<File>,
    /// The file's unread bytes are `file_read..file_len`; both go back to 0 once the client
    /// has read up to the end.
    file_read: u64,
    file_len: u64,
    /// Writers and abort handles alive: the body ends once none is left.
    producers: usize,
    failed: Option<String>,
    /// The reader went away: producers stop with `BrokenPipe`.
    reader_gone: bool,
    waker: Option<Waker>,
}

impl State {
    fn new(producers: usize) -> State {
        State {
            memory: VecDeque::new(),
            queued: 0,
            file: None,
            file_read: 0,
            file_len: 0,
            producers,
            failed: None,
            reader_gone: false,
            waker: None,
        }
    }

    fn spilling(&self) -> bool {
        self.file_read < self.file_len
    }
}

/// Whether `buf` goes into memory: there is room for it, or nothing else is there.
fn fits(state: &State, buf: &[u8]) -> bool {
    state.queued == 0 || state.queued + buf.len() <= MEMORY
}

struct Spool {
    state: Mutex<State>,
    /// Signalled when the client took a chunk from memory, or went away.
    room: Condvar,
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

    /// Appends `buf` (left empty): into memory when there is room, after waiting for room at
    /// most `*wait` (what is left of it is written back), else into the file.
    fn append(&self, buf: &mut Vec<u8>, wait: &mut Duration) -> io::Result<()> {
        let mut state = self.lock();
        loop {
            if state.reader_gone {
                return Err(io::Error::new(
                    io::ErrorKind::BrokenPipe,
                    "client went away",
                ));
            }
            if state.spilling() || wait.is_zero() || fits(&state, buf) {
                break;
            }
            let started = Instant::now();
            state = self
                .room
                .wait_timeout(state, *wait)
                .unwrap_or_else(|e| e.into_inner())
                .0;
            *wait = wait.saturating_sub(started.elapsed());
        }
        if !state.spilling() && fits(&state, buf) {
            state.queued += buf.len();
            // A full buffer moves into the queue as it is; a short one (a flush) is copied, so
            // that what memory holds stays what `queued` counts, not a chunk's capacity each.
            let chunk = if buf.len() >= CHUNK / 2 {
                Bytes::from(std::mem::replace(buf, Vec::with_capacity(CHUNK)))
            } else {
                let copy = Bytes::copy_from_slice(buf);
                buf.clear();
                copy
            };
            state.memory.push_back(chunk);
        } else {
            if state.file.is_none() {
                state.file = Some(tempfile::tempfile_in(&self.dir)?);
            }
            let at = state.file_len;
            if let Some(file) = &state.file {
                file.write_all_at(buf, at)?;
            }
            state.file_len += buf.len() as u64;
            buf.clear();
        }
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
    /// How long this writer may still wait for the client: nothing until the head went out.
    wait: Duration,
    /// Called once, just before the first bytes reach the spool from `write` or `flush` (not
    /// from the drop at the end): the moment the response's head must go out.
    first_send: Option<Box<dyn FnOnce() + Send>>,
}

/// A spool in `dir` (created on demand): its writer, and the body that follows it.
pub fn channel(dir: &Path) -> (BodyWriter, Body) {
    let spool = Arc::new(Spool {
        state: Mutex::new(State::new(1)),
        room: Condvar::new(),
        dir: dir.to_path_buf(),
    });
    (
        BodyWriter {
            spool: spool.clone(),
            buf: Vec::with_capacity(CHUNK),
            wait: Duration::ZERO,
            first_send: None,
        },
        Body { spool },
    )
}

/// A complete file as a body (a kept rendering); read at the client's pace, no thread held.
pub fn file(file: File) -> io::Result<(Body, u64)> {
    let len = file.metadata()?.len();
    let mut state = State::new(0);
    state.file = Some(file);
    state.file_len = len;
    let spool = Arc::new(Spool {
        state: Mutex::new(state),
        room: Condvar::new(),
        dir: PathBuf::new(),
    });
    Ok((Body { spool }, len))
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
            // The client can read from now on.
            self.wait = WAIT;
        }
        self.send_quietly()
    }

    fn send_quietly(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let result = self.spool.append(&mut self.buf, &mut self.wait);
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
        cut_if_panicking(&self.spool);
        self.spool.release();
    }
}

/// A producer dropped while its thread unwinds from a panic cuts the body: it must not end
/// cleanly but short.
fn cut_if_panicking(spool: &Spool) {
    if std::thread::panicking() {
        spool.fail("the renderer panicked".into());
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
        cut_if_panicking(&self.spool);
        if let Err(e) = self.send_quietly() {
            // The end of the body could not be kept: cut it.
            self.spool.fail(e.to_string());
        }
        self.spool.release();
    }
}

/// The reading end: a stream of chunks for `HttpResponse::streaming`.
pub struct Body {
    spool: Arc<Spool>,
}

impl futures_util::Stream for Body {
    type Item = Result<Bytes, io::Error>;

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let mut state = this.spool.lock();
        if let Some(chunk) = state.memory.pop_front() {
            state.queued -= chunk.len();
            this.spool.room.notify_one();
            return Poll::Ready(Some(Ok(chunk)));
        }
        if state.spilling() {
            let n = (state.file_len - state.file_read).min(CHUNK as u64) as usize;
            let mut buf = vec![0; n];
            // A read of at most one chunk from a file just written (in the page cache).
            let read = match &state.file {
                Some(file) => file.read_exact_at(&mut buf, state.file_read),
                None => Err(io::Error::other("the spool lost its file")),
            };
            if let Err(e) = read {
                state.reader_gone = true;
                return Poll::Ready(Some(Err(e)));
            }
            state.file_read += n as u64;
            if !state.spilling() {
                // Caught up: the file is written again from its start.
                (state.file_read, state.file_len) = (0, 0);
            }
            return Poll::Ready(Some(Ok(Bytes::from(buf))));
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
        self.spool.room.notify_all();
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
    async fn a_writer_whose_head_went_out_waits_a_bounded_time_then_spools_to_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let (mut writer, body) = channel(dir.path());
        let (hook_tx, hook_rx) = std::sync::mpsc::channel();
        writer.on_first_send(move || hook_tx.send(()).unwrap());
        let expected: Vec<u8> = (0..4 * 1024 * 1024u32).map(|i| (i % 253) as u8).collect();
        let data = expected.clone();
        // Nobody reads: once its wait is used up, the writer must still finish.
        tokio::task::spawn_blocking(move || {
            for piece in data.chunks(1000) {
                writer.write_all(piece).unwrap();
            }
            assert!(writer.wait.is_zero(), "the whole wait was used up");
        })
        .await
        .unwrap();
        hook_rx.recv().unwrap();
        let (bytes, cut) = collect(body).await;
        assert!(!cut);
        assert!(bytes == expected);
    }

    #[tokio::test]
    async fn a_reader_that_catches_up_with_the_file_gets_every_byte_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let (mut writer, body) = channel(dir.path());
        let expected: Vec<u8> = (0..8 * 1024 * 1024u32).map(|i| (i % 241) as u8).collect();
        let data = expected.clone();
        // A writer that never waits, in bursts larger than memory, against a reader that
        // keeps catching up: the body alternates between memory and a reused file.
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
        let writing = tokio::task::spawn_blocking(move || {
            for burst in data.chunks(MEMORY * 3) {
                go_rx.recv().unwrap();
                for piece in burst.chunks(777) {
                    writer.write_all(piece).unwrap();
                }
                writer.flush().unwrap();
                done_tx.send(()).unwrap();
            }
        });
        let mut body = std::pin::pin!(body);
        let mut bytes = Vec::new();
        let mut file_seen = false;
        for _ in 0..expected.len().div_ceil(MEMORY * 3) {
            go_tx.send(()).unwrap();
            done_rx.recv().await.unwrap();
            file_seen |= body.spool.lock().spilling();
            // Read exactly what was written so far: the reader catches up.
            let target = bytes.len() + (expected.len() - bytes.len()).min(MEMORY * 3);
            while bytes.len() < target {
                bytes.extend_from_slice(&body.next().await.unwrap().unwrap());
            }
            assert!(!body.spool.lock().spilling());
        }
        drop(go_tx);
        writing.await.unwrap();
        assert!(body.next().await.is_none());
        assert!(file_seen, "bursts larger than memory went to the file");
        assert!(bytes == expected);
    }

    #[tokio::test]
    async fn a_renderer_that_panics_after_the_first_bytes_leaves_a_cut_body() {
        let dir = tempfile::tempdir().unwrap();
        let (mut writer, body) = channel(dir.path());
        let abort = writer.abort_handle();
        let renderer = tokio::task::spawn_blocking(move || {
            let _abort = abort;
            writer.write_all(&[b'x'; 3 * CHUNK]).unwrap();
            panic!("a renderer's bug");
        });
        assert!(renderer.await.is_err());
        let (bytes, cut) = collect(body).await;
        assert!(bytes.len() >= 3 * CHUNK - CHUNK);
        assert!(
            cut,
            "a panicking renderer must not leave a body that ends cleanly"
        );
    }

    #[tokio::test]
    async fn a_writer_waiting_for_room_stops_when_the_reader_goes_away() {
        let dir = tempfile::tempdir().unwrap();
        let (mut writer, body) = channel(dir.path());
        writer.on_first_send(|| {});
        let (full_tx, full_rx) = tokio::sync::oneshot::channel();
        let writing = tokio::task::spawn_blocking(move || {
            // Memory full, then one more chunk: the writer waits for room.
            writer.write_all(&vec![0; MEMORY]).unwrap();
            writer.flush().unwrap();
            full_tx.send(()).unwrap();
            // Waits for room (or, if the reader is slow to leave, spills): either way the
            // writer stops with `BrokenPipe` once the reader is gone.
            for _ in 0..10_000 {
                writer.write_all(&vec![0; CHUNK])?;
                writer.flush()?;
            }
            Ok(())
        });
        full_rx.await.unwrap();
        drop(body);
        let e: io::Error = writing.await.unwrap().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
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
