//! The stdio transport: one MCP session on stdin/stdout, NDJSON, logs only on stderr.
//!
//! stdin is usually a pipe, which the io_uring-polled sockets of the runtime cannot wrap, so
//! a plain thread reads it into chunks for the session (a bounded channel: a session that
//! stops reading stops the thread). Answers are written to stdout directly by the session's
//! own thread, one write per batch: a thread hop there would cost more than the write, and a
//! client that stops reading stdout then holds back the session as TCP backpressure would.

use crate::limits::STDIO_READ_CHUNK_BYTES;
use futures_lite::io::{AsyncRead, AsyncWrite};
use futures_lite::Stream;
use std::io::{self, Read, Write};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

/// Chunks read from stdin waiting for the session (small: each is up to 64 KiB).
const STDIN_QUEUE_CHUNKS: usize = 4;

/// stdin/stdout as one async byte stream.
pub(crate) struct StdioIo {
    rx: flume::r#async::RecvStream<'static, Vec<u8>>,
    chunk: Vec<u8>,
    pos: usize,
}

impl StdioIo {
    /// Starts the stdin reader thread.
    pub fn start() -> io::Result<StdioIo> {
        let (in_tx, in_rx) = flume::bounded::<Vec<u8>>(STDIN_QUEUE_CHUNKS);
        std::thread::Builder::new().name("ringmcp-stdin".into()).spawn(move || {
            let mut stdin = io::stdin().lock();
            loop {
                let mut buf = vec![0; STDIO_READ_CHUNK_BYTES];
                match stdin.read(&mut buf) {
                    Ok(0) => return,
                    Ok(n) => {
                        buf.truncate(n);
                        if in_tx.send(buf).is_err() {
                            return;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        log::error!("stdin: {e}");
                        return;
                    }
                }
            }
        })?;
        Ok(StdioIo { rx: in_rx.into_stream(), chunk: Vec::new(), pos: 0 })
    }
}

impl AsyncRead for StdioIo {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        if self.pos == self.chunk.len() {
            match ready!(Pin::new(&mut self.rx).poll_next(cx)) {
                Some(chunk) => {
                    self.chunk = chunk;
                    self.pos = 0;
                }
                None => return Poll::Ready(Ok(0)),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.pos);
        buf[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Poll::Ready(Ok(n))
    }
}

impl AsyncWrite for StdioIo {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        // Every batch ends with a newline, so stdout's line buffer passes it straight through.
        let mut stdout = io::stdout().lock();
        Poll::Ready(stdout.write_all(buf).and_then(|()| stdout.flush()).map(|()| buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(io::stdout().lock().flush())
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush(cx)
    }
}
