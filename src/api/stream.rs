//! Streams a response body produced by blocking code (a database read transaction rendering a
//! feed) through a bounded channel, so memory does not grow with the catalog.

use std::io::{self, Write};

use actix_web::web::Bytes;
use tokio::sync::mpsc;

/// Bytes buffered before a chunk is handed to the socket.
const CHUNK: usize = 64 * 1024;
/// Chunks in flight between the database thread and the socket.
const DEPTH: usize = 4;

/// The writing end, used on a blocking thread. Fails with `BrokenPipe` once the client left.
pub struct BodyWriter {
    tx: mpsc::Sender<Result<Bytes, io::Error>>,
    buf: Vec<u8>,
}

/// The reading end: a stream of chunks for `HttpResponse::streaming`.
pub fn channel() -> (
    BodyWriter,
    impl futures_util::Stream<Item = Result<Bytes, io::Error>>,
) {
    let (tx, mut rx) = mpsc::channel(DEPTH);
    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    (
        BodyWriter {
            tx,
            buf: Vec::with_capacity(CHUNK),
        },
        stream,
    )
}

impl BodyWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "client went away"))
    }

    /// Ends the body with an error, so the client sees a truncated transfer, not a short feed.
    pub fn fail(self, error: String) {
        let _ = self.tx.blocking_send(Err(io::Error::other(error)));
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
        let _ = self.send();
    }
}
