//! The loop itself: tasks, the wait, timers, and wake-ups from other threads.

use crate::deadlines::Timers;
use crate::limits::{RECV_BUFFERS_DEFAULT, RECV_BUFFER_BYTES_DEFAULT, RING_ENTRIES_DEFAULT, TASKS_PER_TURN_MAX};
use crate::reactor::{Reactor, RingConfig};
use crate::IoPathChoice;
use async_task::Runnable;
use concurrent_queue::ConcurrentQueue;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// The part of a loop other threads reach: its queue of woken tasks and its eventfd.
pub(crate) struct Remote {
    queue: ConcurrentQueue<Runnable>,
    /// An eventfd write is pending (set by the waker that wrote, cleared by the loop when the
    /// eventfd read completes): wakes between the two need no second write.
    notified: AtomicBool,
    wakes: AtomicU64,
    eventfd: OwnedFd,
}

impl Remote {
    fn push(&self, runnable: Runnable) {
        if let Err(closed) = self.queue.push(runnable) {
            // The loop has ended. A local task may only be dropped on its own thread, which has
            // moved on: leak it (this happens only to a task woken from elsewhere after its
            // loop returned).
            std::mem::forget(closed.into_inner());
            return;
        }
        if !self.notified.swap(true, Ordering::AcqRel) {
            self.wakes.fetch_add(1, Ordering::Relaxed);
            let one: u64 = 1;
            // SAFETY: writes 8 bytes from a live u64 to our eventfd; an eventfd write of 1
            // cannot block short of 2^64-2 pending wakes.
            unsafe { libc::write(self.eventfd.as_raw_fd(), (&one as *const u64).cast(), 8) };
        }
    }

    pub fn wakes(&self) -> u64 {
        self.wakes.load(Ordering::Relaxed)
    }
}

/// One loop's state, reachable from its thread through a thread-local pointer while it runs.
pub(crate) struct Core {
    pub reactor: RefCell<Reactor>,
    pub timers: RefCell<Timers>,
    local: RefCell<VecDeque<Runnable>>,
    pub remote: Arc<Remote>,
    pub polls: Cell<u64>,
    spin: Duration,
}

thread_local! {
    static CURRENT: Cell<*const Core> = const { Cell::new(std::ptr::null()) };
}

/// Runs `f` with this thread's loop; panics outside one.
pub(crate) fn with<R>(f: impl FnOnce(&Core) -> R) -> R {
    try_with(f).expect("ringmcp-ring: used outside a ring loop (Builder::run)")
}

/// Runs `f` with this thread's loop, if one runs.
pub(crate) fn try_with<R>(f: impl FnOnce(&Core) -> R) -> Option<R> {
    let ptr = CURRENT.with(|c| c.get());
    if ptr.is_null() {
        return None;
    }
    // SAFETY: CURRENT is set only by `Builder::run` to a Core that outlives the setting (the
    // guard clears it before the Core drops), and only on the thread that owns it.
    Some(f(unsafe { &*ptr }))
}

/// A spawned task: await it for its output, or [`Task::detach`] it to let it run on.
/// Dropping it cancels the task.
#[must_use = "a dropped Task is cancelled; detach() it to let it run"]
pub struct Task<T>(async_task::Task<T>);

impl<T> Task<T> {
    /// Lets the task run to completion on its own.
    pub fn detach(self) {
        self.0.detach()
    }
}

impl<T> Future for Task<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        Pin::new(&mut self.0).poll(cx)
    }
}

/// Runs `future` as a task of this thread's loop. Panics outside a loop. A panic inside the
/// task ends that task only (it resurfaces where the task is awaited).
pub fn spawn<F>(future: F) -> Task<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    with(|core| {
        let remote = core.remote.clone();
        let schedule = move |runnable: Runnable| schedule(&remote, runnable);
        let (runnable, task) = async_task::Builder::new().propagate_panic(true).spawn_local(move |_| future, schedule);
        runnable.schedule();
        Task(task)
    })
}

fn schedule(remote: &Arc<Remote>, runnable: Runnable) {
    let here = try_with(|core| Arc::ptr_eq(&core.remote, remote)).unwrap_or(false);
    if here {
        with(|core| core.local.borrow_mut().push_back(runnable));
    } else {
        remote.push(runnable);
    }
}

/// Makes the calling thread a ring loop.
#[derive(Clone, Debug)]
pub struct Builder {
    cpu: Option<usize>,
    path: IoPathChoice,
    entries: u32,
    recv_buffers: u32,
    recv_buffer_bytes: u32,
    spin: Duration,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            cpu: None,
            path: IoPathChoice::Auto,
            entries: RING_ENTRIES_DEFAULT,
            recv_buffers: RECV_BUFFERS_DEFAULT,
            recv_buffer_bytes: RECV_BUFFER_BYTES_DEFAULT,
            spin: Duration::ZERO,
        }
    }
}

impl Builder {
    /// A loop with the defaults of [`crate::limits`], unpinned, on the best path the kernel has.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Pins the thread to `cpu` before the ring is made.
    pub fn pin(mut self, cpu: usize) -> Builder {
        self.cpu = Some(cpu);
        self
    }

    /// Which I/O path to run.
    pub fn io_path(mut self, path: IoPathChoice) -> Builder {
        self.path = path;
        self
    }

    /// Looks at the ring without sleeping for up to `spin` before each blocking wait.
    pub fn spin_before_park(mut self, spin: Duration) -> Builder {
        self.spin = spin;
        self
    }

    /// Submission queue entries (a power of two is used).
    pub fn ring_entries(mut self, entries: u32) -> Builder {
        self.entries = entries.max(8);
        self
    }

    /// The provided buffer ring: `count` buffers (rounded up to a power of two, at most
    /// 32,768) of `bytes` each.
    pub fn recv_buffers(mut self, count: u32, bytes: u32) -> Builder {
        self.recv_buffers = count.clamp(1, crate::limits::RECV_BUFFERS_MAX).next_power_of_two();
        self.recv_buffer_bytes = bytes.max(64);
        self
    }

    /// Runs `future` on this thread's new loop until it completes, together with every task
    /// it spawns; tasks still running then are dropped. Errors if the ring cannot be set up.
    pub fn run<F>(self, future: F) -> io::Result<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        if let Some(cpu) = self.cpu {
            pin_to(cpu)?;
        }
        // SAFETY: eventfd has no memory preconditions; the result is checked.
        let efd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
        if efd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a fresh fd we own.
        let eventfd = unsafe { OwnedFd::from_raw_fd(efd) };
        let config = RingConfig {
            path: self.path,
            entries: self.entries,
            recv_buffers: self.recv_buffers,
            recv_buffer_bytes: self.recv_buffer_bytes,
        };
        let reactor = Reactor::new(&config, eventfd.as_raw_fd())?;
        let core = Core {
            reactor: RefCell::new(reactor),
            timers: RefCell::new(Timers::default()),
            local: RefCell::new(VecDeque::new()),
            remote: Arc::new(Remote {
                queue: ConcurrentQueue::unbounded(),
                notified: AtomicBool::new(false),
                wakes: AtomicU64::new(0),
                eventfd,
            }),
            polls: Cell::new(0),
            spin: self.spin,
        };
        let previous = CURRENT.with(|c| c.replace(&core));
        assert!(previous.is_null(), "a ring loop is already running on this thread");
        let guard = Guard;
        let output = Rc::new(RefCell::new(None));
        let slot = output.clone();
        spawn(async move { *slot.borrow_mut() = Some(future.await) }).detach();
        let result = (|| {
            let mut wake = Vec::new();
            loop {
                core.run_tasks();
                if let Some(out) = output.borrow_mut().take() {
                    return Ok(out);
                }
                core.wait(&mut wake)?;
            }
        })();
        core.shut_down();
        drop(guard);
        result
    }
}

struct Guard;

impl Drop for Guard {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(std::ptr::null()));
    }
}

impl Core {
    /// The I/O half of a turn: submit and wait (not at all if tasks are ready), handle the
    /// completions, fire due timers.
    fn wait(&self, wake: &mut Vec<Waker>) -> io::Result<()> {
        let busy = !self.local.borrow().is_empty() || !self.remote.queue.is_empty();
        let timeout = if busy {
            Some(Duration::ZERO)
        } else {
            self.timers.borrow().next().map(|at| at.saturating_duration_since(Instant::now()))
        };
        let mut spun = Duration::ZERO;
        let (woke, _) = loop {
            // Spinning first (non-blocking looks) saves the wake-up of a sleeping thread when
            // work comes back to back, for CPU burnt while idle.
            if busy || spun >= self.spin || timeout == Some(Duration::ZERO) {
                break self.reactor.borrow_mut().submit_and_wait(timeout, wake)?;
            }
            let started = Instant::now();
            let (woke, reaped) = self.reactor.borrow_mut().submit_and_wait(Some(Duration::ZERO), wake)?;
            if woke || reaped > 0 || !self.remote.queue.is_empty() || !self.local.borrow().is_empty() {
                break (woke, reaped);
            }
            if self.timers.borrow().next().is_some_and(|at| at <= Instant::now()) {
                break (woke, reaped);
            }
            std::hint::spin_loop();
            spun += started.elapsed();
        };
        if woke {
            self.remote.notified.store(false, Ordering::Release);
        }
        self.timers.borrow_mut().fire(Instant::now(), wake);
        for w in wake.drain(..) {
            w.wake();
        }
        Ok(())
    }

    fn run_tasks(&self) {
        while let Ok(r) = self.remote.queue.pop() {
            self.local.borrow_mut().push_back(r);
        }
        let n = self.local.borrow().len().min(TASKS_PER_TURN_MAX);
        for _ in 0..n {
            let Some(runnable) = self.local.borrow_mut().pop_front() else { break };
            self.polls.set(self.polls.get() + 1);
            runnable.run();
        }
    }

    /// Drops every task (each drop may release sockets and timers, hence the loop), then
    /// lets the ring finish what is in flight.
    fn shut_down(&self) {
        self.remote.queue.close();
        loop {
            let mut runnables: Vec<Runnable> = self.local.borrow_mut().drain(..).collect();
            while let Ok(r) = self.remote.queue.pop() {
                runnables.push(r);
            }
            let mut wakers = self.reactor.borrow_mut().take_wakers();
            wakers.extend(self.timers.borrow_mut().take_all());
            if runnables.is_empty() && wakers.is_empty() {
                break;
            }
            drop(runnables);
            drop(wakers);
        }
        let _ = self.reactor.borrow_mut().quiesce(Duration::from_secs(1));
    }
}

fn pin_to(cpu: usize) -> io::Result<()> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET writes inside it (cpu is
    // checked against its size) and sched_setaffinity only reads it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if cpu >= 8 * std::mem::size_of::<libc::cpu_set_t>() {
            return Err(io::Error::other(format!("CPU {cpu} is beyond the affinity mask")));
        }
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}
