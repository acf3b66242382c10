//! The ring loop: one io_uring per thread, and everything that thread runs around it.
//!
//! A [`Builder`] turns the calling thread into one event loop. The loop polls the thread's
//! ready tasks (async-task; a waker from another thread pushes to a lock-free queue and wakes
//! the ring through an eventfd read armed in it), queues one send per socket with output,
//! then submits every queued operation and waits for completions in one `io_uring_enter`,
//! bounded by the next timer. That wait is the one place the thread blocks.
//!
//! Two I/O paths ([`IoPath`]):
//! - **multishot** (Linux ≥ 6.1): SINGLE_ISSUER + DEFER_TASKRUN + COOP_TASKRUN, multishot
//!   accept, multishot recv into a provided buffer ring (a buffer goes back as soon as its
//!   bytes are read out), batched sends.
//! - **fallback** (older kernels, or asked for): a plain ring, single-shot accept, readiness
//!   by single-shot poll then `recv` into the caller's buffer, the same batched sends.
//!
//! This crate has no MCP in it: the server and the load generator both run on it.

#![deny(unsafe_op_in_unsafe_fn)]

mod bufring;
mod deadlines;
mod executor;
pub mod limits;
mod net;
mod probe;
mod reactor;
mod timer;

pub use executor::{spawn, Builder, Task};
pub use net::{Stream, TcpListener};
pub use probe::{probe, Features};
pub use timer::{sleep, timeout, Elapsed, Sleep};

use std::fmt;

/// Which kind of ring I/O a loop runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoPath {
    /// Multishot accept and recv with a provided buffer ring, DEFER_TASKRUN.
    Multishot,
    /// Single-shot accept, poll then recv: for kernels without the newer ring features.
    Fallback,
}

impl IoPath {
    /// The name used in settings, logs, `/health` and `/metrics`.
    pub fn as_str(self) -> &'static str {
        match self {
            IoPath::Multishot => "multishot",
            IoPath::Fallback => "fallback",
        }
    }
}

impl fmt::Display for IoPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the loop is asked to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoPathChoice {
    /// Multishot where the kernel has it, else the fallback.
    Auto,
    /// Multishot or an error at start.
    Multishot,
    /// The fallback even where multishot works (to test it, or to compare).
    Fallback,
}

impl std::str::FromStr for IoPathChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(IoPathChoice::Auto),
            "multishot" => Ok(IoPathChoice::Multishot),
            "fallback" => Ok(IoPathChoice::Fallback),
            other => Err(format!("unknown io_path {other:?}: expected auto, multishot or fallback")),
        }
    }
}

/// Counters of one loop, for metrics: how the ring behaved under the load it saw.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    /// `io_uring_enter` calls (each submits everything queued and may wait).
    pub enters: u64,
    /// Operations submitted.
    pub submitted: u64,
    /// Completions handled.
    pub completions: u64,
    /// Sends submitted (at most one in flight per socket).
    pub sends: u64,
    /// Sends that moved fewer bytes than asked; the rest went out with another send.
    pub short_sends: u64,
    /// Multishot receives armed again after they ended (ENOBUFS, a pause, or the kernel).
    pub recv_rearms: u64,
    /// Multishot receives that ended because the buffer ring was empty.
    pub recv_enobufs: u64,
    /// Receives paused because a socket held too many unread bytes.
    pub recv_pauses: u64,
    /// Times the submission queue was full and had to be submitted early.
    pub sq_full: u64,
    /// Wake-ups from other threads that went through the eventfd.
    pub remote_wakes: u64,
    /// Tasks polled.
    pub polls: u64,
    /// Provided buffers the ring holds (its size); zero on the fallback path.
    pub buffers_total: u64,
    /// Provided buffers handed out by the kernel and not yet given back.
    pub buffers_out: u64,
    /// Sockets registered with the loop now.
    pub sockets: u64,
}

/// The I/O path of the loop running on this thread (`None` outside one).
pub fn io_path() -> Option<IoPath> {
    executor::try_with(|core| core.reactor.borrow().path)
}

/// The counters of the loop running on this thread (`None` outside one).
pub fn stats() -> Option<Stats> {
    executor::try_with(|core| {
        let mut s = core.reactor.borrow().stats();
        s.polls = core.polls.get();
        s.remote_wakes = core.remote.wakes();
        s
    })
}

/// Lets other ready tasks run before this one goes on.
pub async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            return std::task::Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    })
    .await
}
