//! The byte streams loadgen drives, all [`Stream`]s of the worker's ring (TCP, or a Unix
//! socket pair to a spawned stdio server), and a one-waiter wake-up signal for tasks on the
//! same loop.

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
