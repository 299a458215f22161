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
        self.abort_handle().fail(error);
    }

    /// A handle that can still cut the body after this writer was handed to a renderer and
    /// dropped. The body ends only when both are gone, so a renderer that fails halfway never
    /// leaves a body that ends cleanly.
    pub fn abort_handle(&self) -> Abort {
        Abort {
            tx: self.tx.clone(),
        }
    }
}

/// Cuts a body whose writer may already be gone; see [`BodyWriter::abort_handle`].
pub struct Abort {
    tx: mpsc::Sender<Result<Bytes, io::Error>>,
}

impl Abort {
    /// Ends the body with an error after whatever the writer already sent.
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

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    async fn collect(
        body: impl futures_util::Stream<Item = Result<Bytes, io::Error>>,
    ) -> (Vec<u8>, bool) {
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
        let (mut writer, body) = channel();
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
        let (mut writer, body) = channel();
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
}
