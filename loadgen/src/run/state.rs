//! State of a run: what workers publish across threads (`Shared`), what one worker's tasks
//! share on its ring loop (`Env`), and what one connection's reader and writer share (`Conn`).

use crate::accounting::{Counts, Pending, Window};
use crate::report;
use crate::request::Template;
use crate::run::io::Notify;
use crate::schedule::Schedule;
use hdrhistogram::Histogram;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Cross-thread state: one `Slot` per worker, written by it a few times a second (never per
/// request), read by the main thread for progress and phase changes.
pub struct Shared {
    /// The run's clock origin; all `_ns` times count from it.
    pub epoch: Instant,
    /// When the workload starts (ns since epoch); 0 until every worker has connected.
    pub start_ns: AtomicU64,
    /// Connections established over all workers; published before `start_ns`.
    pub established: AtomicU64,
    /// A worker's thread ended before its work was done (its ring could not be set up, or it
    /// failed or panicked): the others give up instead of waiting for the start.
    pub aborted: AtomicBool,
    /// One per worker.
    pub slots: Vec<Slot>,
}

impl Shared {
    /// Fresh state for `workers` workers.
    pub fn new(workers: usize) -> Shared {
        Shared {
            epoch: Instant::now(),
            start_ns: AtomicU64::new(0),
            established: AtomicU64::new(0),
            aborted: AtomicBool::new(false),
            slots: (0..workers).map(|_| Slot::default()).collect(),
        }
    }

    /// Nanoseconds since the epoch.
    pub fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    /// Sums a counter over all workers.
    pub fn sum(&self, field: impl Fn(&Slot) -> &AtomicU64) -> u64 {
        self.slots.iter().map(|s| field(s).load(Relaxed)).sum()
    }

    /// The merged latency histogram published so far.
    pub fn latency(&self) -> Histogram<u64> {
        let mut merged = report::histogram();
        for slot in &self.slots {
            let h = slot.latency.lock().unwrap_or_else(|e| e.into_inner());
            merged.add(&*h).unwrap_or_else(|_| unreachable!("same bounds"));
        }
        merged
    }
}

/// What one worker publishes. Padded so that two workers never share a cache line.
#[repr(align(128))]
pub struct Slot {
    /// The connect phase is over on this worker.
    pub connected: AtomicBool,
    /// The worker has finished.
    pub done: AtomicBool,
    /// Connections up (handshake done, not closed).
    pub up: AtomicU64,
    /// Connections that failed.
    pub failed: AtomicU64,
    /// Requests sent.
    pub sent: AtomicU64,
    /// Answers matched to a request (ok, error or late).
    pub answers: AtomicU64,
    /// Error answers.
    pub errors: AtomicU64,
    /// Requests outstanding.
    pub outstanding: AtomicU64,
    /// Requests outstanding for longer than the timeout.
    pub overdue: AtomicU64,
    /// Measured latencies (µs) published so far; the final histogram of this worker.
    pub latency: Mutex<Histogram<u64>>,
}

impl Default for Slot {
    fn default() -> Slot {
        Slot {
            connected: AtomicBool::new(false),
            done: AtomicBool::new(false),
            up: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            answers: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            outstanding: AtomicU64::new(0),
            overdue: AtomicU64::new(0),
            latency: Mutex::new(report::histogram()),
        }
    }
}

/// Everything one worker's tasks share (single-threaded: Cell/RefCell, never borrowed across
/// an await).
pub struct Env {
    /// Clock origin (same as `Shared::epoch`).
    pub epoch: Instant,
    /// The workload start (ns).
    pub start_ns: u64,
    /// Measured window and timeout.
    pub window: Window,
    /// After the window, how long to wait for outstanding answers (ns since epoch).
    pub drain_end_ns: u64,
    /// The request with a hole for its id.
    pub template: Template,
    /// In-flight requests per connection (closed loop), or the cap (open loop).
    pub inflight: u32,
    /// Open loop: total requests/s over all connections.
    pub rate: Option<f64>,
    /// Connections established over all workers (open loop: the rate is split among them).
    pub established: u64,
    /// Connections asked for (a connection's index over this is its schedule's phase).
    pub connections: u64,
    /// This worker's counters.
    pub counts: RefCell<Counts>,
    /// Measured latencies since the last publish (µs).
    pub latency: RefCell<Histogram<u64>>,
    /// Open loop: how late each measured request left after its intended time (µs).
    pub send_lag: RefCell<Histogram<u64>>,
    /// This worker's live connections.
    pub conns: RefCell<Vec<Rc<Conn>>>,
    /// Why the first connection that failed mid-run failed, when the driver knows (a
    /// WebSocket close code, a protocol error).
    pub first_failure: RefCell<Option<String>>,
}

impl Env {
    /// Nanoseconds since the epoch.
    pub fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    /// Sleeps until `at_ns` (returns at once if it has passed).
    pub async fn sleep_until(&self, at_ns: u64) {
        ringmcp_ring::Sleep::until(self.epoch + Duration::from_nanos(at_ns)).await;
    }

    /// The open-loop schedule of `conn`: its share of `rate`, phased by its index so that
    /// all connections' sends interleave evenly.
    pub fn schedule(&self, conn: &Conn, rate: f64) -> Schedule {
        let phase = (conn.index as f64 / self.connections.max(1) as f64).min(0.999_999);
        Schedule::new(rate, self.established, phase, self.start_ns, self.window.measure_end_ns)
    }

    /// Publishes this worker's counters and latencies to its slot.
    pub fn publish(&self, slot: &Slot) {
        let counts = self.counts.borrow();
        slot.sent.store(counts.sent, Relaxed);
        slot.answers.store(counts.ok + counts.errors_total() + counts.timeouts, Relaxed);
        slot.errors.store(counts.errors_total(), Relaxed);
        drop(counts);
        let now = self.now_ns();
        let (mut outstanding, mut overdue, mut up) = (0, 0, 0);
        for conn in self.conns.borrow().iter() {
            let pending = conn.pending.borrow();
            outstanding += pending.outstanding() as u64;
            overdue += pending.overdue(now, self.window.timeout_ns) as u64;
            up += u64::from(!conn.closed.get());
        }
        slot.outstanding.store(outstanding, Relaxed);
        slot.overdue.store(overdue, Relaxed);
        slot.up.store(up, Relaxed);
        let mut latency = self.latency.borrow_mut();
        if !latency.is_empty() {
            let mut shared = slot.latency.lock().unwrap_or_else(|e| e.into_inner());
            shared.add(&*latency).unwrap_or_else(|_| unreachable!("same bounds"));
            latency.reset();
        }
    }

    /// Open loop: notes how late a request intended at `intended_ns` left at `now_ns`, if it
    /// is in the measured window.
    pub fn record_send_lag(&self, intended_ns: u64, now_ns: u64) {
        if self.rate.is_some() && self.window.measures_request(intended_ns) {
            report::record(&mut self.send_lag.borrow_mut(), now_ns.saturating_sub(intended_ns) / 1000);
        }
    }

    /// Counts one matched answer's latency, if measured.
    pub fn record(&self, latency_us: u64) {
        report::record(&mut self.latency.borrow_mut(), latency_us);
    }
}

/// What one connection's reader and writer share.
#[derive(Default)]
pub struct Conn {
    /// Its index among all connections (0..connections).
    pub index: usize,
    /// Outstanding requests.
    pub pending: RefCell<Pending>,
    /// Closed loop: requests the writer may send now.
    pub ready: Cell<u32>,
    /// Open loop: the writer waits for a free in-flight slot.
    pub wants_slot: Cell<bool>,
    /// The measured window is over: send nothing more.
    pub sending_over: Cell<bool>,
    /// The writer has stopped.
    pub writer_done: Cell<bool>,
    /// The connection is finished (reader gone); the writer must stop too.
    pub closed: Cell<bool>,
    failed: Cell<bool>,
    /// Wakes the writer: requests are ready, a slot freed, or the window ended.
    pub to_writer: Notify,
    /// Wakes the reader to re-check whether it should stop.
    pub to_reader: Notify,
    /// Fires once when the connection closes, cancelling a blocked write.
    pub shutdown: Notify,
}

impl Conn {
    /// A new connection state.
    pub fn new(index: usize) -> Conn {
        Conn { index, ..Conn::default() }
    }

    /// Marks the connection failed (counted once) and wakes both tasks.
    pub fn fail(&self, env: &Env) {
        if !self.failed.replace(true) {
            env.counts.borrow_mut().connection_errors += 1;
        }
        self.close();
    }

    /// Like [`Conn::fail`], and keeps `reason` as the worker's first failure if it is one.
    pub fn fail_because(&self, env: &Env, reason: impl FnOnce() -> String) {
        if !self.failed.get() {
            env.first_failure.borrow_mut().get_or_insert_with(reason);
        }
        self.fail(env);
    }

    /// Marks the connection closed and wakes both tasks.
    pub fn close(&self) {
        self.closed.set(true);
        self.shutdown.notify();
        self.to_writer.notify();
        self.to_reader.notify();
    }

    /// Waits until the connection is closed.
    pub async fn closed(&self) {
        while !self.closed.get() {
            self.shutdown.notified().await;
        }
    }

    /// Whether the reader should stop at `now_ns`: past the drain deadline, closed, or the
    /// window is over, the writer has stopped and nothing is outstanding.
    pub fn reader_should_stop(&self, env: &Env, now_ns: u64) -> bool {
        self.closed.get()
            || now_ns >= env.drain_end_ns
            || (self.sending_over.get() && self.writer_done.get() && self.pending.borrow().outstanding() == 0)
    }
}
