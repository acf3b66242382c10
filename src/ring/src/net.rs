//! Sockets and pipes on the ring: a listener that accepts, and a byte stream that reads what
//! the ring received and queues writes for the loop's batched sends.

use crate::executor;
use crate::reactor::Kind;
use futures_lite::io::{AsyncRead, AsyncWrite};
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll};

/// A registered descriptor; closing it is the reactor's job once nothing is in flight.
struct Handle {
    slot: u32,
    fd: RawFd,
}

impl Handle {
    fn register(fd: OwnedFd, kind: Kind) -> Handle {
        let fd = fd.into_raw_fd();
        let slot = executor::with(|core| core.reactor.borrow_mut().register(fd, kind));
        Handle { slot, fd }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        let released = executor::try_with(|core| core.reactor.borrow_mut().release(self.slot));
        if released.is_none() {
            // The loop is gone (and its ring with it): nothing is in flight any more.
            // SAFETY: the fd was ours and the reactor that would have closed it is gone.
            unsafe { libc::close(self.fd) };
        }
    }
}

/// A listening socket whose connections arrive through the ring (multishot accept where the
/// kernel has it).
pub struct TcpListener {
    handle: Handle,
}

impl TcpListener {
    /// Takes over a bound, listening socket. Call it on the loop that will accept.
    pub fn from_fd(fd: OwnedFd) -> TcpListener {
        TcpListener { handle: Handle::register(fd, Kind::Listener) }
    }

    /// The next connection.
    pub async fn accept(&self) -> io::Result<Stream> {
        let fd = std::future::poll_fn(|cx| {
            executor::with(|core| core.reactor.borrow_mut().poll_accept(self.handle.slot, cx))
        })
        .await?;
        // SAFETY: the kernel just gave us this new fd; nothing else owns it.
        Ok(Stream { handle: Handle::register(unsafe { OwnedFd::from_raw_fd(fd) }, Kind::Socket) })
    }
}

/// A byte stream on the ring: a connected socket (recv/send) or a pipe/file (read/write).
///
/// Reads copy out of what the ring has received. Writes are queued and go out with the loop's
/// next submit, one send per stream per turn; a write waits only when
/// [`crate::limits::SEND_QUEUED_MAX_BYTES`] are queued behind a send in flight. `flush` is
/// immediate (the loop sends before it waits); `close` waits until everything is sent.
pub struct Stream {
    handle: Handle,
}

impl Stream {
    /// Takes over a connected socket (TCP or Unix). Call it on the loop that will serve it.
    pub fn from_socket(fd: OwnedFd) -> Stream {
        Stream { handle: Handle::register(fd, Kind::Socket) }
    }

    /// Takes over a pipe, terminal or file, read and written with read/write operations.
    pub fn from_file(fd: OwnedFd) -> Stream {
        Stream { handle: Handle::register(fd, Kind::File) }
    }

    /// Connects a new TCP socket to `addr` through the ring.
    pub async fn connect(addr: SocketAddr) -> io::Result<Stream> {
        let socket = socket2::Socket::new(socket2::Domain::for_address(addr), socket2::Type::STREAM, None)?;
        let stream = Stream::from_socket(socket.into());
        executor::with(|core| core.reactor.borrow_mut().start_connect(stream.handle.slot, addr.into()));
        std::future::poll_fn(|cx| {
            executor::with(|core| core.reactor.borrow_mut().poll_connect(stream.handle.slot, cx))
        })
        .await?;
        Ok(stream)
    }

    /// Sets TCP_NODELAY.
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        socket2::SockRef::from(self).set_tcp_nodelay(on)
    }

    /// The peer's address (TCP).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        socket2::SockRef::from(self).peer_addr()?.as_socket().ok_or_else(|| io::Error::other("not an IP socket"))
    }

    /// Sets the kernel's send buffer size (SO_SNDBUF).
    pub fn set_send_buffer_size(&self, bytes: usize) -> io::Result<()> {
        socket2::SockRef::from(self).set_send_buffer_size(bytes)
    }
}

impl AsRawFd for Stream {
    fn as_raw_fd(&self) -> RawFd {
        self.handle.fd
    }
}

impl std::os::fd::AsFd for Stream {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        // SAFETY: the fd stays open while this Stream (which owns it) lives.
        unsafe { std::os::fd::BorrowedFd::borrow_raw(self.handle.fd) }
    }
}

// A Stream reads and writes as its shared reference does (the reactor keeps the state).
impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut &*self).poll_read(cx, buf)
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut &*self).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut &*self).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut &*self).poll_close(cx)
    }
}

impl AsyncRead for &Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        executor::with(|core| core.reactor.borrow_mut().poll_read(self.handle.slot, cx, buf))
    }
}

impl AsyncWrite for &Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        executor::with(|core| core.reactor.borrow_mut().poll_write(self.handle.slot, cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Queued bytes are handed to the kernel before the loop next waits.
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        executor::with(|core| core.reactor.borrow_mut().poll_drain(self.handle.slot, cx))
    }
}
