//! One worker: a ring loop (`ringmcp_ring`) pinned to one CPU that connects its share of the
//! connections, waits for the common start, drives them, and hands back its counters.

use crate::accounting::{Counts, Window};
use crate::limits::{HANDSHAKES_PER_WORKER_MAX, PUBLISH_INTERVAL_MS};
use crate::report;
use crate::request::Protocol;
use crate::run::dial::{dial, with_timeout};
use crate::run::io;
use crate::run::io::Io;
use crate::run::state::{Conn, Env, Shared};
use crate::run::{http, ndjson, ws, Plan};
use crate::target::Target;
use async_lock::Semaphore;
use hdrhistogram::Histogram;
use ringmcp_ring::IoPath;
use std::cell::RefCell;
use std::process::Child;
use std::rc::Rc;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::Arc;
use std::time::Duration;

/// What a worker is given.
pub struct WorkerCtx {
    /// Worker number (its slot in `Shared`).
    pub index: usize,
    /// The connection indices it owns (round-robin over workers).
    pub conns: Vec<usize>,
    /// Cross-thread state.
    pub shared: Arc<Shared>,
    /// The run.
    pub plan: Arc<Plan>,
}

/// What a worker hands back.
pub struct WorkerResult {
    /// Its counters (latencies went to its slot in `Shared`).
    pub counts: Counts,
    /// Connect times, µs.
    pub connect: Histogram<u64>,
    /// TLS handshake times, µs (empty without TLS).
    pub tls_handshake: Histogram<u64>,
    /// Open loop: send lag behind the schedule, µs.
    pub send_lag: Histogram<u64>,
    /// Connections that finished the handshake.
    pub established: u64,
    /// When its last handshake ended, in µs from the start of the run.
    pub connected_at_us: u64,
    /// The first connection failure's reason, if any.
    pub first_error: Option<String>,
    /// The I/O path its ring ran.
    pub io_path: IoPath,
}

/// A connection that finished the handshake.
struct Established {
    index: usize,
    stream: Io,
    leftover: Vec<u8>,
    http_head: Option<crate::http::PostHead>,
    child: Option<Child>,
    /// The TLS handshake's time, µs (None without TLS).
    tls_us: Option<u64>,
}

/// The worker's whole life, on its ring loop.
pub async fn run(ctx: WorkerCtx) -> WorkerResult {
    let io_path = ringmcp_ring::io_path().unwrap_or_else(|| unreachable!("workers run on a ring loop"));
    let slot = &ctx.shared.slots[ctx.index];
    let mut counts = Counts::default();
    let (established, connect, tls_handshake, first_error) = connect_phase(&ctx, &mut counts).await;
    let connected_at_us = ctx.shared.epoch.elapsed().as_micros() as u64;
    slot.connected.store(true, Release);
    let Some(start_ns) = start_signal(&ctx.shared).await else {
        // Another worker could not start: the run is off; close what was connected.
        reap(established.into_iter().filter_map(|e| e.child).collect()).await;
        slot.done.store(true, Release);
        let send_lag = report::histogram();
        return WorkerResult {
            counts,
            connect,
            tls_handshake,
            send_lag,
            established: 0,
            connected_at_us,
            first_error,
            io_path,
        };
    };
    let plan = &ctx.plan;
    let measure_start_ns = start_ns + plan.warmup.as_nanos() as u64;
    let window = Window {
        measure_start_ns,
        measure_end_ns: measure_start_ns + plan.duration.as_nanos() as u64,
        timeout_ns: plan.timeout.as_nanos() as u64,
    };
    let env = Rc::new(Env {
        epoch: ctx.shared.epoch,
        start_ns,
        window,
        drain_end_ns: window.measure_end_ns + window.timeout_ns,
        template: plan.template.clone(),
        inflight: plan.inflight,
        rate: plan.rate,
        established: ctx.shared.established.load(Acquire),
        connections: plan.connections as u64,
        counts: RefCell::new(counts),
        latency: RefCell::new(report::histogram()),
        send_lag: RefCell::new(report::histogram()),
        conns: RefCell::new(Vec::new()),
        first_failure: RefCell::new(None),
    });
    let ws_frames = plan.ws_frames.clone().map(Rc::new);
    let established_n = established.len() as u64;
    let mut children = Vec::new();
    let mut tasks = Vec::new();
    for e in established {
        let conn = Rc::new(Conn::new(e.index));
        env.conns.borrow_mut().push(conn.clone());
        children.extend(e.child);
        let env = env.clone();
        tasks.push(match (e.http_head, &ws_frames) {
            (Some(head), _) => {
                let redial = http::Redial { plan: plan.clone(), session: plan.protocol == Protocol::Session };
                ringmcp_ring::spawn(http::drive(e.stream, e.leftover, head, conn, env, redial))
            }
            (None, Some(frames)) => ringmcp_ring::spawn(ws::drive(e.stream, e.leftover, frames.clone(), conn, env)),
            (None, None) => ringmcp_ring::spawn(ndjson::drive(e.stream, e.leftover, conn, env)),
        });
    }
    let control = ringmcp_ring::spawn(control(env.clone()));
    let publisher = ringmcp_ring::spawn(publish_loop(env.clone(), ctx.shared.clone(), ctx.index));
    for task in tasks {
        task.await;
    }
    drop(control);
    drop(publisher);
    env.publish(slot);
    reap(children).await;
    slot.done.store(true, Release);
    let counts = env.counts.take();
    let send_lag = env.send_lag.replace(report::histogram());
    let first_error = first_error.or_else(|| env.first_failure.take());
    WorkerResult {
        counts,
        connect,
        tls_handshake,
        send_lag,
        established: established_n,
        connected_at_us,
        first_error,
        io_path,
    }
}

/// Waits for the main thread's start time (ns since the epoch); `None` if the run was
/// aborted instead.
async fn start_signal(shared: &Shared) -> Option<u64> {
    loop {
        match shared.start_ns.load(Acquire) {
            0 if shared.aborted.load(Acquire) => return None,
            0 => ringmcp_ring::sleep(Duration::from_millis(1)).await,
            start => return Some(start),
        }
    }
}

/// Opens this worker's connections (paced by `--ramp-per-s`, at most
/// `HANDSHAKES_PER_WORKER_MAX` at once) and records each one's connect time.
async fn connect_phase(
    ctx: &WorkerCtx,
    counts: &mut Counts,
) -> (Vec<Established>, Histogram<u64>, Histogram<u64>, Option<String>) {
    let semaphore = Arc::new(Semaphore::new(HANDSHAKES_PER_WORKER_MAX));
    let mut tasks = Vec::with_capacity(ctx.conns.len());
    for &index in &ctx.conns {
        if let Some(rate) = ctx.plan.ramp_per_s {
            let at = Duration::from_secs_f64(index as f64 / rate);
            let now = ctx.shared.epoch.elapsed();
            if at > now {
                ringmcp_ring::sleep(at - now).await;
            }
        }
        let permit = semaphore.acquire_arc().await;
        let (shared, plan, worker) = (ctx.shared.clone(), ctx.plan.clone(), ctx.index);
        tasks.push(ringmcp_ring::spawn(async move {
            let started = shared.epoch.elapsed();
            let result = establish(index, &plan).await;
            let connect_us = (shared.epoch.elapsed() - started).as_micros() as u64;
            drop(permit);
            let slot = &shared.slots[worker];
            match &result {
                Ok(_) => slot.up.fetch_add(1, Relaxed),
                Err(_) => slot.failed.fetch_add(1, Relaxed),
            };
            (result, connect_us)
        }));
    }
    let mut connect = report::histogram();
    let mut tls_handshake = report::histogram();
    let mut established = Vec::with_capacity(tasks.len());
    let mut first_error = None;
    for task in tasks {
        match task.await {
            (Ok(e), connect_us) => {
                report::record(&mut connect, connect_us);
                if let Some(us) = e.tls_us {
                    report::record(&mut tls_handshake, us);
                }
                established.push(e);
            }
            (Err(reason), _) => {
                counts.connection_errors += 1;
                if let Some(status) = http::refused_status(&reason) {
                    counts.add_connect_http_status(status);
                }
                first_error.get_or_insert(reason);
            }
        }
    }
    (established, connect, tls_handshake, first_error)
}

/// Connects (or spawns) connection `index` and, in 2025-11-25, opens its MCP session, within
/// the timeout.
async fn establish(index: usize, plan: &Plan) -> Result<Established, String> {
    let (mut stream, mut child) = match &plan.target {
        Target::Stdio { argv } => {
            let (stream, child) = io::spawn_stdio(argv, plan.quiet, plan.affinity).map_err(|e| e.to_string())?;
            (Some(stream), Some(child))
        }
        _ => (None, None),
    };
    let target = &plan.target;
    let result = with_timeout(plan.timeout, async {
        let mut tls_us = None;
        let mut io = match stream.take() {
            Some(stream) => Io::Plain(stream),
            None => {
                let (io, us) = dial(plan).await?;
                tls_us = us;
                io
            }
        };
        let (leftover, http_head) = match (target, plan.protocol) {
            (Target::Http { .. }, Protocol::Modern) => {
                (Vec::new(), Some(plan.modern_head.clone().ok_or("no 2026-07-28 POST head")?))
            }
            (Target::Http { path, host_header, .. }, Protocol::Session) => {
                let (leftover, head) = http::handshake(&mut io, path, host_header, &plan.headers).await?;
                (leftover, Some(head))
            }
            (Target::Ws { path, host_header, .. }, protocol) => {
                let mask = plan.ws_frames.as_ref().ok_or("no WebSocket frames")?.mask();
                (ws::handshake(&mut io, path, host_header, mask, protocol, &plan.headers).await?, None)
            }
            (_, Protocol::Modern) => (Vec::new(), None),
            (_, Protocol::Session) => (ndjson::handshake(&mut io).await?, None),
        };
        Ok((io, leftover, http_head, tls_us))
    })
    .await;
    match result {
        Ok((stream, leftover, http_head, tls_us)) => {
            Ok(Established { index, stream, leftover, http_head, child, tls_us })
        }
        Err(reason) => {
            if let Some(child) = child.as_mut() {
                let _ = child.kill();
                let _ = child.wait();
            }
            Err(reason)
        }
    }
}

/// Ends the window on every connection at its end, and the drain at the deadline.
async fn control(env: Rc<Env>) {
    env.sleep_until(env.window.measure_end_ns).await;
    for conn in env.conns.borrow().iter() {
        conn.sending_over.set(true);
        conn.to_writer.notify();
        conn.to_reader.notify();
    }
    env.sleep_until(env.drain_end_ns).await;
    for conn in env.conns.borrow().iter() {
        conn.to_reader.notify();
    }
}

async fn publish_loop(env: Rc<Env>, shared: Arc<Shared>, index: usize) {
    loop {
        ringmcp_ring::sleep(Duration::from_millis(PUBLISH_INTERVAL_MS)).await;
        env.publish(&shared.slots[index]);
    }
}

/// Waits up to 2 s for stdio children to exit after their stdin closed, then kills the rest.
async fn reap(mut children: Vec<Child>) {
    for _ in 0..200 {
        children.retain_mut(|c| matches!(c.try_wait(), Ok(None)));
        if children.is_empty() {
            return;
        }
        ringmcp_ring::sleep(Duration::from_millis(10)).await;
    }
    for mut child in children {
        let _ = child.kill();
        let _ = child.wait();
    }
}
