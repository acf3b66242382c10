//! The stdio transport: one MCP session on stdin/stdout, NDJSON, logs only on stderr.
//!
//! stdin and stdout are pipes, which io_uring-polled sockets cannot wrap, so two plain
//! threads move bytes: one reads stdin into chunks, one writes answer chunks to stdout. Both
//! channels are bounded, so a slow stdout stops the session from reading (backpressure).

use crate::limits::{STDIO_READ_CHUNK_BYTES, STDIO_WRITE_QUEUE_CHUNKS};
use futures_lite::io::{AsyncRead, AsyncWrite};
use futures_lite::Stream;
use futures_sink::Sink;
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
    tx: flume::r#async::SendSink<'static, Vec<u8>>,
}

impl StdioIo {
    /// Starts the stdin reader and stdout writer threads. Join the returned writer thread
    /// after the session ends: it finishes once every answer has reached stdout.
    pub fn start() -> io::Result<(StdioIo, std::thread::JoinHandle<()>)> {
        let (in_tx, in_rx) = flume::bounded::<Vec<u8>>(STDIN_QUEUE_CHUNKS);
        let (out_tx, out_rx) = flume::bounded::<Vec<u8>>(STDIO_WRITE_QUEUE_CHUNKS);
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
        let writer = std::thread::Builder::new().name("ringmcp-stdout".into()).spawn(move || {
            let mut stdout = io::stdout().lock();
            for chunk in out_rx.iter() {
                if let Err(e) = stdout.write_all(&chunk).and_then(|_| stdout.flush()) {
                    log::error!("stdout: {e}");
                    return;
                }
            }
        })?;
        let io = StdioIo { rx: in_rx.into_stream(), chunk: Vec::new(), pos: 0, tx: out_tx.into_sink() };
        Ok((io, writer))
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
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let mut sink = Pin::new(&mut self.tx);
        ready!(sink.as_mut().poll_ready(cx)).map_err(|_| closed())?;
        sink.as_mut().start_send(buf.to_vec()).map_err(|_| closed())?;
        // Hand the chunk over now if there is room; if not, the next write or flush waits.
        let _ = sink.poll_flush(cx);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tx).poll_flush(cx).map_err(|_| closed())
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tx).poll_close(cx).map_err(|_| closed())
    }
}

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "stdout writer stopped")
}
