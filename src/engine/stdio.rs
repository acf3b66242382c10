//! The stdio transport: one MCP session on stdin/stdout, NDJSON, logs only on stderr.
//!
//! Both ends go through the core's ring like any connection: sockets (what Node's
//! `child_process` gives a child, so the TypeScript SDK, the MCP Inspector and Electron desktop
//! apps) with recv/send, pipes, terminals and files with read/write operations. No thread in
//! between: a client that stops reading stdout holds the session back as TCP backpressure
//! would, and a session that stops reading leaves stdin unread.

use futures_lite::io::{AsyncRead, AsyncWrite};
use ringmcp_ring::Stream;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::FileTypeExt;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Copies of this process's stdin and stdout, and what kind of descriptor each is.
pub(crate) struct Stdio {
    input: (OwnedFd, bool),
    output: (OwnedFd, bool),
}

impl Stdio {
    /// Duplicates stdin and stdout (the copies are closed by the session; the originals stay).
    pub fn open() -> io::Result<Stdio> {
        let dup = |fd: std::os::fd::BorrowedFd<'_>| -> io::Result<(OwnedFd, bool)> {
            let owned = fd.try_clone_to_owned()?;
            let is_socket = std::fs::File::from(owned.try_clone()?).metadata()?.file_type().is_socket();
            Ok((owned, is_socket))
        };
        Ok(Stdio { input: dup(io::stdin().as_fd())?, output: dup(io::stdout().as_fd())? })
    }
}

/// stdin and stdout as one byte stream on the core's ring.
pub(crate) struct StdioIo {
    input: Stream,
    output: Stream,
}

impl StdioIo {
    /// Registers both with the calling core's ring.
    pub fn new(fds: Stdio) -> StdioIo {
        let stream = |(fd, is_socket): (OwnedFd, bool)| {
            if is_socket {
                Stream::from_socket(fd)
            } else {
                Stream::from_file(fd)
            }
        };
        StdioIo { input: stream(fds.input), output: stream(fds.output) }
    }
}

impl AsyncRead for StdioIo {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.input).poll_read(cx, buf)
    }
}

impl AsyncWrite for StdioIo {
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
