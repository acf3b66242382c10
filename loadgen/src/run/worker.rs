//! One worker: a glommio executor pinned to one CPU that connects its share of the
//! connections, waits for the common start, drives them, and hands back its counters.

use crate::accounting::{Counts, Window};
use crate::limits::{HANDSHAKES_PER_WORKER_MAX, PUBLISH_INTERVAL_MS};
use crate::report;
use crate::run::io::Io;
use crate::run::state::{Conn, Env, Shared};
use crate::run::{http, ndjson, ws, Plan};
use crate::target::Target;
use futures_lite::future;
use glommio::sync::Semaphore;
use hdrhistogram::Histogram;
use std::cell::RefCell;
use std::future::Future;
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
    /// Open loop: send lag behind the schedule, µs.
    pub send_lag: Histogram<u64>,
    /// Connections that finished the handshake.
    pub established: u64,
    /// When its last handshake ended, in µs from the start of the run.
    pub connected_at_us: u64,
    /// The first connection failure's reason, if any.
    pub first_error: Option<String>,
}

/// A connection that finished the handshake.
struct Established {
    index: usize,
    io: Io,
    leftover: Vec<u8>,
    http_head: Option<crate::http::PostHead>,
    child: Option<Child>,
}

/// The worker's whole life.
pub async fn run(ctx: WorkerCtx) -> WorkerResult {
    let slot = &ctx.shared.slots[ctx.index];
    let mut counts = Counts::default();
    let (established, connect, first_error) = connect_phase(&ctx, &mut counts).await;
    let connected_at_us = ctx.shared.epoch.elapsed().as_micros() as u64;
    slot.connected.store(true, Release);
    let start_ns = loop {
        let start = ctx.shared.start_ns.load(Acquire);
        if start != 0 {
            break start;
        }
        glommio::timer::sleep(Duration::from_millis(1)).await;
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
            (Some(head), _) => glommio::spawn_local(http::drive(e.io, e.leftover, head, conn, env)),
            (None, Some(frames)) => glommio::spawn_local(ws::drive(e.io, e.leftover, frames.clone(), conn, env)),
            (None, None) => glommio::spawn_local(ndjson::drive(e.io, e.leftover, conn, env)),
        });
    }
    let control = glommio::spawn_local(control(env.clone()));
    let publisher = glommio::spawn_local(publish_loop(env.clone(), ctx.shared.clone(), ctx.index));
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
    WorkerResult { counts, connect, send_lag, established: established_n, connected_at_us, first_error }
}

/// Opens this worker's connections (paced by `--ramp-per-s`, at most
/// `HANDSHAKES_PER_WORKER_MAX` at once) and records each one's connect time.
async fn connect_phase(ctx: &WorkerCtx, counts: &mut Counts) -> (Vec<Established>, Histogram<u64>, Option<String>) {
    let semaphore = Rc::new(Semaphore::new(HANDSHAKES_PER_WORKER_MAX as u64));
    let mut tasks = Vec::with_capacity(ctx.conns.len());
    for &index in &ctx.conns {
        if let Some(rate) = ctx.plan.ramp_per_s {
            let at = Duration::from_secs_f64(index as f64 / rate);
            let now = ctx.shared.epoch.elapsed();
            if at > now {
                glommio::timer::sleep(at - now).await;
            }
        }
        let Ok(permit) = semaphore.acquire_static_permit(1).await else {
            break;
        };
        let (shared, plan, worker) = (ctx.shared.clone(), ctx.plan.clone(), ctx.index);
        tasks.push(glommio::spawn_local(async move {
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
    let mut established = Vec::with_capacity(tasks.len());
    let mut first_error = None;
    for task in tasks {
        match task.await {
            (Ok(e), connect_us) => {
                report::record(&mut connect, connect_us);
                established.push(e);
            }
            (Err(reason), _) => {
                counts.connection_errors += 1;
                first_error.get_or_insert(reason);
            }
        }
    }
    (established, connect, first_error)
}

/// Connects (or spawns) and handshakes connection `index` within the timeout.
async fn establish(index: usize, plan: &Plan) -> Result<Established, String> {
    let (mut io, mut child) = match &plan.target {
        Target::Stdio { argv } => {
            let (io, child) = Io::spawn_stdio(argv, plan.quiet, plan.affinity).map_err(|e| e.to_string())?;
            (Some(io), Some(child))
        }
        _ => (None, None),
    };
    let target = &plan.target;
    let result = with_timeout(plan.timeout, async {
        let mut io = match io.take() {
            Some(io) => io,
            None => {
                let addr = plan.addr.ok_or("no address")?;
                Io::connect_tcp(addr).await.map_err(|e| format!("connecting to {addr}: {e}"))?
            }
        };
        let (leftover, http_head) = match target {
            Target::Http { path, host_header, .. } => {
                let (leftover, head) = http::handshake(&mut io, path, host_header).await?;
                (leftover, Some(head))
            }
            Target::Ws { path, host_header, .. } => {
                let mask = plan.ws_frames.as_ref().ok_or("no WebSocket frames")?.mask();
                (ws::handshake(&mut io, path, host_header, mask).await?, None)
            }
            _ => (ndjson::handshake(&mut io).await?, None),
        };
        Ok((io, leftover, http_head))
    })
    .await;
    match result {
        Ok((io, leftover, http_head)) => Ok(Established { index, io, leftover, http_head, child }),
        Err(reason) => {
            if let Some(child) = child.as_mut() {
                let _ = child.kill();
                let _ = child.wait();
            }
            Err(reason)
        }
    }
}

async fn with_timeout<T>(timeout: Duration, work: impl Future<Output = Result<T, String>>) -> Result<T, String> {
    future::or(work, async {
        glommio::timer::sleep(timeout).await;
        Err(format!("no handshake within {} ms", timeout.as_millis()))
    })
    .await
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
        glommio::timer::sleep(Duration::from_millis(PUBLISH_INTERVAL_MS)).await;
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
        glommio::timer::sleep(Duration::from_millis(10)).await;
    }
    for mut child in children {
        let _ = child.kill();
        let _ = child.wait();
    }
}
