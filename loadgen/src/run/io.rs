//! The byte streams loadgen drives, all [`Stream`]s of the worker's ring (TCP, or a Unix
//! socket pair to a spawned stdio server), plain or inside TLS ([`Io`]), and a one-waiter wake-up signal for tasks on the
//! same loop.

use futures_lite::io::{AsyncRead, AsyncWrite};
use ringmcp_ring::Stream;
use std::cell::Cell;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::task::{Context, Poll, Waker};

/// A CPU affinity mask.
#[derive(Clone, Copy)]
pub struct CpuSet(libc::cpu_set_t);

impl CpuSet {
    /// The calling thread's current affinity (call it before pinning anything).
    pub fn current() -> Option<CpuSet> {
        // SAFETY: cpu_set_t is plain bits; all zeroes is a valid (empty) set.
        let mut mask: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        // SAFETY: `mask` is a valid, writable cpu_set_t of the size passed.
        let ok = unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut mask) } == 0;
        ok.then_some(CpuSet(mask))
    }
}

impl std::fmt::Debug for CpuSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CpuSet")
    }
}

/// Connects over TCP through the ring, with Nagle off (requests are batched by us, not by the
/// kernel).
pub async fn connect_tcp(addr: SocketAddr) -> io::Result<Stream> {
    let stream = Stream::connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Spawns `argv` with its stdin and stdout both on one end of a Unix socket pair, and returns
/// the other end on this thread's ring. The child's stderr is inherited unless `quiet`. The
/// child runs on `affinity` (the CPUs loadgen was allowed at start), not on the pinned
/// worker's CPU it would otherwise inherit.
///
/// A socket rather than pipes so that the ring receives from it like from a TCP connection
/// (multishot recv); a stdio server reading stdin with read(2) cannot tell the difference.
pub fn spawn_stdio(argv: &[String], quiet: bool, affinity: Option<CpuSet>) -> io::Result<(Stream, Child)> {
    let (ours, theirs) = std::os::unix::net::UnixStream::pair()?;
    let theirs_out = theirs.try_clone()?;
    let (program, args) = argv.split_first().ok_or_else(|| io::Error::other("empty stdio command"))?;
    let mut command = Command::new(program);
    if let Some(CpuSet(mask)) = affinity {
        // SAFETY: the closure runs between fork and exec; it only makes one syscall
        // (async-signal-safe) on a copy of the mask it owns, and allocates nothing.
        unsafe {
            command.pre_exec(move || {
                libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mask);
                Ok(())
            });
        }
    }
    let child = command
        .args(args)
        .stdin(Stdio::from(OwnedFd::from(theirs)))
        .stdout(Stdio::from(OwnedFd::from(theirs_out)))
        .stderr(if quiet { Stdio::null() } else { Stdio::inherit() })
        .spawn()
        .map_err(|e| io::Error::new(e.kind(), format!("spawning `{program}`: {e}")))?;
    Ok((Stream::from_socket(OwnedFd::from(ours)), child))
}

/// A wake-up for one waiting task on this loop: `notify` sets a flag and wakes the
/// waiter; `notified` completes once the flag is set, clearing it. Several notifies before
/// the waiter runs collapse into one.
#[derive(Default)]
pub struct Notify {
    flag: Cell<bool>,
    waker: Cell<Option<Waker>>,
}

impl Notify {
    /// Sets the flag and wakes the waiter, if any.
    pub fn notify(&self) {
        self.flag.set(true);
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }

    /// Waits until notified (returns at once if a notify is pending).
    pub fn notified(&self) -> Notified<'_> {
        Notified { notify: self }
    }
}

/// The future returned by [`Notify::notified`].
pub struct Notified<'a> {
    notify: &'a Notify,
}

impl Future for Notified<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.notify.flag.replace(false) {
            return Poll::Ready(());
        }
        self.notify.waker.set(Some(cx.waker().clone()));
        Poll::Pending
    }
}

/// A connection's byte stream: plain, or inside TLS. Read and written through a shared
/// reference, like [`Stream`].
pub enum Io {
    /// TCP or a stdio socket pair, as is.
    Plain(Stream),
    /// Inside TLS (boxed: rustls's state is over 1 KiB).
    Tls(Box<super::tls::TlsStream>),
}

impl Io {
    /// Whether the peer has closed the connection (or it failed) while nothing was expected
    /// from it: a non-blocking one-byte `MSG_PEEK` of its socket reads end of stream or an
    /// error. Bytes waiting (or none yet) mean open; nothing is consumed either way.
    pub fn peer_closed(&self) -> bool {
        use std::os::fd::AsRawFd;
        let fd = match self {
            Io::Plain(s) => s.as_raw_fd(),
            Io::Tls(s) => s.raw_fd(),
        };
        let mut byte = 0u8;
        // SAFETY: `fd` is this connection's open socket (owned by `self`, alive for the call);
        // recv writes at most 1 byte into `byte`, a valid writable u8; MSG_DONTWAIT never
        // blocks and MSG_PEEK leaves the data in the socket.
        let n = unsafe { libc::recv(fd, (&mut byte as *mut u8).cast(), 1, libc::MSG_PEEK | libc::MSG_DONTWAIT) };
        match n {
            0 => true,
            n if n > 0 => false,
            _ => !matches!(io::Error::last_os_error().kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted),
        }
    }
}

impl AsyncRead for &Io {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        match *self.get_mut() {
            Io::Plain(s) => Pin::new(&mut &*s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(&mut &**s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for &Io {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match *self.get_mut() {
            Io::Plain(s) => Pin::new(&mut &*s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(&mut &**s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match *self.get_mut() {
            Io::Plain(s) => Pin::new(&mut &*s).poll_flush(cx),
            Io::Tls(s) => Pin::new(&mut &**s).poll_flush(cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match *self.get_mut() {
            Io::Plain(s) => Pin::new(&mut &*s).poll_close(cx),
            Io::Tls(s) => Pin::new(&mut &**s).poll_close(cx),
        }
    }
}

// An owned Io reads and writes as its shared reference does.
impl AsyncRead for Io {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut &*self).poll_read(cx, buf)
    }
}

impl AsyncWrite for Io {
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

/// Writes `bytes` whole and flushes them (inside TLS a write may leave records queued until
/// a flush; a plain stream's flush is immediate).
pub async fn send(io: &mut Io, bytes: &[u8]) -> io::Result<()> {
    use futures_lite::io::AsyncWriteExt;
    io.write_all(bytes).await?;
    io.flush().await
}
