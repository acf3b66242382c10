//! The stdio transport: one MCP session on stdin/stdout, NDJSON, logs only on stderr.
//!
//! When stdin and stdout are sockets — what Node's `child_process` (libuv) gives a child, so
//! the TypeScript SDK, the MCP Inspector and Electron desktop apps — the session reads and
//! writes them with the same io_uring-polled socket code as TCP, with no thread in between
//! ([`SocketStdio`]).
//!
//! Otherwise stdin is a pipe, which that code cannot wrap, so a plain thread reads it into
//! chunks for the session (a bounded channel: a session that stops reading stops the thread),
//! and answers are written to stdout directly by the session's own thread, one write per
//! batch: a client that stops reading stdout then holds back the session as TCP backpressure
//! would ([`StdioIo`]).

use crate::limits::STDIO_READ_CHUNK_BYTES;
use futures_lite::io::{AsyncRead, AsyncWrite};
use futures_lite::Stream;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, FromRawFd, IntoRawFd, OwnedFd};
use std::os::unix::fs::FileTypeExt;
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

/// How this process's stdin and stdout are served.
pub(crate) enum Stdio {
    /// Both are sockets: copies of them, for [`SocketStdio::new`] on the executor.
    Sockets((OwnedFd, OwnedFd)),
    /// Anything else: the reader thread is already running.
    Pipes(StdioIo),
}

impl Stdio {
    /// Looks at stdin and stdout and prepares the matching transport.
    pub fn open() -> io::Result<Stdio> {
        Ok(match socket_fds()? {
            Some(fds) => Stdio::Sockets(fds),
            None => Stdio::Pipes(StdioIo::start()?),
        })
    }
}

/// Copies of stdin and stdout if both are sockets, else `None` (pipes, files, terminals).
fn socket_fds() -> io::Result<Option<(OwnedFd, OwnedFd)>> {
    let input = io::stdin().as_fd().try_clone_to_owned()?;
    let output = io::stdout().as_fd().try_clone_to_owned()?;
    let is_socket = |fd: &OwnedFd| -> io::Result<bool> {
        Ok(std::fs::File::from(fd.try_clone()?).metadata()?.file_type().is_socket())
    };
    Ok((is_socket(&input)? && is_socket(&output)?).then_some((input, output)))
}

/// stdin and stdout sockets as one async byte stream, polled by the core's reactor.
pub(crate) struct SocketStdio {
    input: glommio::net::UnixStream,
    output: glommio::net::UnixStream,
}

impl SocketStdio {
    /// Takes the copies [`Stdio::open`] made; call it on the executor that will serve them.
    pub fn new((input, output): (OwnedFd, OwnedFd)) -> SocketStdio {
        // SAFETY: each fd is an open socket we own (a dup made by `Stdio::open`) and nothing
        // else closes it; the UnixStream takes it over. glommio's reads and writes pass
        // MSG_DONTWAIT, so the socket's shared file flags stay as the client set them.
        let (input, output) = unsafe {
            (
                glommio::net::UnixStream::from_raw_fd(input.into_raw_fd()),
                glommio::net::UnixStream::from_raw_fd(output.into_raw_fd()),
            )
        };
        SocketStdio { input, output }
    }
}

impl AsyncRead for SocketStdio {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.input).poll_read(cx, buf)
    }
}

impl AsyncWrite for SocketStdio {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.output).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.output).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.output).poll_close(cx)
    }
}
