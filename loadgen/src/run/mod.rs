//! `loadgen run`: starts one pinned worker per CPU, waits until every connection is up,
//! starts the workload on all of them at one instant, prints progress once per second, and
//! merges the workers' counters and histograms into the report.
//!
//! Timeline (all workers share it): connect phase → start → warmup → measured window →
//! drain (at most the timeout) → done.

mod dial;
mod http;
mod io;
mod ndjson;
mod state;
mod tls;
mod worker;
mod ws;

use crate::accounting::Counts;
use crate::http::{ExtraHeaders, PostHead};
use crate::limits;
use crate::procstat;
use crate::report::{self, Measured, Report, RunShape, ServerStats};
use crate::request::{Protocol, Template, Workload};
use crate::target::Target;
use crate::tls::TlsClient;
use hdrhistogram::Histogram;
use ringmcp_ring::IoPathChoice;
use state::Shared;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::Ordering::{Acquire, Release};
use std::sync::Arc;
use std::time::Duration;
use worker::{WorkerCtx, WorkerResult};

/// Everything `loadgen run` was asked to do.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// `--url` as given.
    pub url: String,
    /// Parsed `--url`.
    pub target: Target,
    /// CPUs to run workers on (one worker each, at most one per connection).
    pub cpus: Vec<usize>,
    /// Connections (sessions; stdio: processes).
    pub connections: usize,
    /// Requests in flight per connection (open loop: the cap).
    pub inflight: u32,
    /// Open loop: total requests/s; None for closed loop.
    pub rate: Option<f64>,
    /// Measured window.
    pub duration: Duration,
    /// Warmup before it.
    pub warmup: Duration,
    /// What each request is.
    pub workload: Workload,
    /// The MCP era every connection speaks.
    pub protocol: Protocol,
    /// Connections opened per second; None: as fast as possible.
    pub ramp_per_s: Option<f64>,
    /// Answer timeout (also the handshake timeout and the drain wait).
    pub timeout: Duration,
    /// Server process to read /proc figures of.
    pub server_pid: Option<u32>,
    /// No progress lines (and stdio children's stderr goes to /dev/null).
    pub quiet: bool,
    /// The I/O path asked of every worker's ring.
    pub io_path: IoPathChoice,
    /// TLS: the client every connection uses (None: plain).
    pub tls: Option<TlsClient>,
    /// Headers added to every HTTP request and WebSocket upgrade.
    pub headers: ExtraHeaders,
}

/// A finished run.
pub struct RunOutput {
    /// The report.
    pub report: Report,
    /// The merged latency histogram (µs), for `--hdr-log`.
    pub latency: Histogram<u64>,
}

/// What workers share read-only.
pub struct Plan {
    target: Target,
    addr: Option<SocketAddr>,
    connections: usize,
    inflight: u32,
    rate: Option<f64>,
    warmup: Duration,
    duration: Duration,
    timeout: Duration,
    ramp_per_s: Option<f64>,
    protocol: Protocol,
    template: Template,
    /// `ws://`: the template as masked frames.
    ws_frames: Option<crate::ws::RequestFrames>,
    /// `http://` in 2026-07-28: the head of every POST of every connection (no session, and
    /// one method and name for the whole run).
    modern_head: Option<PostHead>,
    quiet: bool,
    affinity: Option<io::CpuSet>,
    tls: Option<TlsClient>,
    headers: ExtraHeaders,
}

/// Checks a configuration without running it.
///
/// # Errors
/// Describes the first invalid setting.
pub fn validate(config: &RunConfig) -> Result<(), String> {
    if config.connections == 0 {
        return Err("--connections must be at least 1".into());
    }
    if config.inflight == 0 {
        return Err("--inflight must be at least 1".into());
    }
    if matches!(config.target, Target::Http { .. }) && config.inflight > 1 {
        return Err(format!(
            "--inflight {} is not possible over http://: HTTP/1.1 without pipelining carries one request \
             at a time per connection; use --inflight 1 and more --connections",
            config.inflight
        ));
    }
    if let Some(rate) = config.rate {
        if !(rate > 0.0 && rate.is_finite()) {
            return Err("--rate must be a positive number of requests/s".into());
        }
    }
    if let Some(ramp) = config.ramp_per_s {
        if !(ramp > 0.0 && ramp.is_finite()) {
            return Err("--ramp-per-s must be a positive number of connections/s".into());
        }
    }
    if config.duration.is_zero() {
        return Err("--duration must be longer than 0".into());
    }
    if config.timeout.is_zero() {
        return Err("--timeout-ms must be at least 1".into());
    }
    if config.cpus.is_empty() {
        return Err("--cpus selects no CPU".into());
    }
    if config.target.tls() != config.tls.is_some() {
        return Err("TLS settings without a TLS target (or the reverse)".into());
    }
    if !config.headers.names().is_empty() && !config.target.speaks_http() {
        return Err(format!(
            "--header and --bearer-token need http://, https://, ws:// or wss://: {} has no headers",
            config.target.transport()
        ));
    }
    Ok(())
}

/// Runs the load and returns the report.
///
/// # Errors
/// Invalid settings, an unresolvable address, too low a file-descriptor limit, or a worker
/// that could not start (a CPU that is not online, a ring the kernel refuses, `--io-path
/// multishot` on a kernel without it) or failed.
pub fn run(config: &RunConfig) -> Result<RunOutput, String> {
    validate(config)?;
    let addr = match &config.target {
        Target::Tcp { addr, .. } | Target::Http { addr, .. } | Target::Ws { addr, .. } => Some(resolve(addr)?),
        Target::Stdio { .. } => None,
    };
    let workers = config.cpus.len().min(config.connections);
    limits::ensure_nofile(limits::nofile_needed(config.connections as u64, workers as u64))?;
    let newline = matches!(config.target, Target::Tcp { .. } | Target::Stdio { .. });
    let template = Template::new(&config.workload, config.protocol, newline)?;
    let ws_frames =
        matches!(config.target, Target::Ws { .. }).then(|| crate::ws::RequestFrames::new(&template, ws::random_mask()));
    let modern_head = match (&config.target, config.protocol) {
        (Target::Http { path, host_header, .. }, Protocol::Modern) => {
            let name = config.workload.mcp_name();
            Some(
                PostHead::modern(path, host_header, config.workload.method(), name.as_deref())
                    .with_headers(&config.headers),
            )
        }
        _ => None,
    };
    let plan = Arc::new(Plan {
        target: config.target.clone(),
        addr,
        connections: config.connections,
        inflight: config.inflight,
        rate: config.rate,
        warmup: config.warmup,
        duration: config.duration,
        timeout: config.timeout,
        ramp_per_s: config.ramp_per_s,
        protocol: config.protocol,
        template,
        ws_frames,
        modern_head,
        quiet: config.quiet,
        affinity: io::CpuSet::current(),
        tls: config.tls.clone(),
        headers: config.headers.clone(),
    });
    let shared = Arc::new(Shared::new(workers));
    let mut handles = Vec::with_capacity(workers);
    for (index, &cpu) in config.cpus.iter().take(workers).enumerate() {
        let ctx = WorkerCtx {
            index,
            conns: (index..config.connections).step_by(workers).collect(),
            shared: shared.clone(),
            plan: plan.clone(),
        };
        let ring = ringmcp_ring::Builder::new().pin(cpu).io_path(config.io_path);
        let spawned = std::thread::Builder::new().name(format!("loadgen-{index}")).spawn(move || {
            let _ended = WorkerEnd { shared: ctx.shared.clone(), index };
            ring.run(worker::run(ctx))
        });
        match spawned {
            Ok(handle) => handles.push((cpu, handle)),
            Err(e) => {
                // The workers already started give up at the start signal.
                shared.aborted.store(true, Release);
                return Err(format!("starting a worker thread for CPU {cpu}: {e}"));
            }
        }
    }
    let server = supervise(config, &shared);
    let mut results = Vec::with_capacity(workers);
    let mut failure = None;
    for (cpu, handle) in handles {
        let reason = match handle.join() {
            Ok(Ok(result)) => {
                results.push(result);
                continue;
            }
            Ok(Err(e)) => format!("the worker on CPU {cpu}: {e}"),
            Err(_) => format!("the worker on CPU {cpu} panicked"),
        };
        failure.get_or_insert(reason);
    }
    if let Some(failure) = failure {
        return Err(failure);
    }
    Ok(merge(config, &shared, &results, server))
}

/// Ends a worker's part in the run however its thread ends. A worker that returns normally
/// has marked itself done; one whose ring failed (or that panicked) has not, and then the
/// run is aborted and the worker marked connected and done, so that neither the main thread
/// nor the other workers wait for it.
struct WorkerEnd {
    shared: Arc<Shared>,
    index: usize,
}

impl Drop for WorkerEnd {
    fn drop(&mut self) {
        let slot = &self.shared.slots[self.index];
        if !slot.done.load(Acquire) {
            self.shared.aborted.store(true, Release);
            slot.connected.store(true, Release);
            slot.done.store(true, Release);
        }
    }
}

/// The name of an `--io-path` choice, as the report shows it.
pub fn io_path_name(choice: IoPathChoice) -> &'static str {
    match choice {
        IoPathChoice::Auto => "auto",
        IoPathChoice::Multishot => "multishot",
        IoPathChoice::Fallback => "fallback",
    }
}

fn resolve(addr: &str) -> Result<SocketAddr, String> {
    addr.to_socket_addrs()
        .map_err(|e| format!("resolving {addr}: {e}"))?
        .next()
        .ok_or_else(|| format!("{addr} resolves to no address"))
}

/// The main thread's part: wait for the connect phase, give the start signal, print
/// progress, read the server's /proc figures at the window's edges.
fn supervise(config: &RunConfig, shared: &Shared) -> Option<ServerStats> {
    let all = |f: fn(&state::Slot) -> bool| shared.slots.iter().all(f);
    let mut next_print = Duration::from_secs(1);
    while !all(|s| s.connected.load(Acquire)) {
        std::thread::sleep(Duration::from_millis(2));
        if !config.quiet && shared.epoch.elapsed() >= next_print {
            eprintln!(
                "[connecting {:>5.1}s] {}/{} up, {} failed",
                shared.epoch.elapsed().as_secs_f64(),
                shared.sum(|s| &s.up),
                config.connections,
                shared.sum(|s| &s.failed)
            );
            next_print += Duration::from_secs(1);
        }
    }
    if shared.aborted.load(Acquire) {
        return None;
    }
    let established = shared.sum(|s| &s.up);
    shared.established.store(established, Release);
    let start_ns = shared.now_ns() + 2_000_000;
    shared.start_ns.store(start_ns, Release);
    let measure_start_ns = start_ns + config.warmup.as_nanos() as u64;
    let measure_end_ns = measure_start_ns + config.duration.as_nanos() as u64;
    let mut cpu_ticks = [None, None];
    let mut last = Progress::default();
    let mut tick = start_ns + 1_000_000_000;
    while !all(|s| s.done.load(Acquire)) {
        std::thread::sleep(Duration::from_millis(5));
        let now = shared.now_ns();
        if let Some(pid) = config.server_pid {
            for (edge, at) in [measure_start_ns, measure_end_ns].into_iter().enumerate() {
                if now >= at && cpu_ticks[edge].is_none() {
                    cpu_ticks[edge] = Some(procstat::sample(pid).map(|s| s.cpu_ticks).ok());
                }
            }
        }
        if now >= tick {
            if !config.quiet {
                last = progress(shared, config, now - start_ns, now < measure_start_ns, last);
            }
            tick += 1_000_000_000;
        }
    }
    let pid = config.server_pid?;
    let end = match procstat::sample(pid) {
        Ok(end) => end,
        Err(e) => {
            eprintln!("loadgen: --server-pid {pid}: {e}");
            return None;
        }
    };
    let cpu_s = match cpu_ticks {
        [Some(Some(a)), Some(Some(b))] => b.saturating_sub(a) as f64 / procstat::ticks_per_s(),
        [Some(Some(a)), _] => end.cpu_ticks.saturating_sub(a) as f64 / procstat::ticks_per_s(),
        _ => 0.0,
    };
    Some(ServerStats { peak_rss_kib: end.peak_rss_kib, rss_kib: end.rss_kib, cpu_s: (cpu_s * 100.0).round() / 100.0 })
}

/// The I/O paths the workers' rings ran, each named once (one on any one kernel).
fn io_paths_used(results: &[WorkerResult]) -> String {
    let mut names: Vec<&str> = Vec::new();
    for r in results {
        if !names.contains(&r.io_path.as_str()) {
            names.push(r.io_path.as_str());
        }
    }
    names.join(",")
}

#[derive(Clone, Copy, Default)]
struct Progress {
    answers: u64,
    at_ns: u64,
}

fn progress(shared: &Shared, config: &RunConfig, elapsed_ns: u64, warmup: bool, last: Progress) -> Progress {
    let answers = shared.sum(|s| &s.answers);
    let rate = if elapsed_ns > last.at_ns {
        (answers - last.answers.min(answers)) as f64 * 1e9 / (elapsed_ns - last.at_ns) as f64
    } else {
        0.0
    };
    let latency = shared.latency();
    let p99 = if latency.is_empty() {
        if warmup {
            "warmup".to_string()
        } else {
            "-".to_string()
        }
    } else {
        format!("{:.2} ms", latency.value_at_quantile(0.99) as f64 / 1000.0)
    };
    eprintln!(
        "[{:>6.1}s] {:>9.0} msg/s  p99 {:>9}  errors {}  overdue/outstanding {}/{}  conns {}/{}",
        elapsed_ns as f64 / 1e9,
        rate,
        p99,
        shared.sum(|s| &s.errors),
        shared.sum(|s| &s.overdue),
        shared.sum(|s| &s.outstanding),
        shared.sum(|s| &s.up),
        config.connections,
    );
    Progress { answers, at_ns: elapsed_ns }
}

fn merge(config: &RunConfig, shared: &Shared, results: &[WorkerResult], server: Option<ServerStats>) -> RunOutput {
    let mut counts = Counts::default();
    let mut connect = report::histogram();
    let mut tls_handshake = report::histogram();
    let mut send_lag = report::histogram();
    let mut established = 0;
    let connect_all_us = results.iter().map(|r| r.connected_at_us).max().unwrap_or(0);
    for r in results {
        counts.merge(&r.counts);
        connect.add(&r.connect).unwrap_or_else(|_| unreachable!("same bounds"));
        tls_handshake.add(&r.tls_handshake).unwrap_or_else(|_| unreachable!("same bounds"));
        send_lag.add(&r.send_lag).unwrap_or_else(|_| unreachable!("same bounds"));
        established += r.established;
    }
    if let Some(reason) = results.iter().find_map(|r| r.first_error.as_ref()) {
        eprintln!("loadgen: {} connection(s) failed; first failure: {reason}", counts.connection_errors);
    }
    let latency = shared.latency();
    let shape = RunShape {
        url: config.url.clone(),
        transport: config.target.transport().to_string(),
        workload: config.workload.label(),
        protocol: config.protocol.version().to_string(),
        connections: config.connections as u64,
        inflight: u64::from(config.inflight),
        rate: config.rate,
        duration_s: config.duration.as_secs_f64(),
        warmup_s: config.warmup.as_secs_f64(),
        io_path: io_path_name(config.io_path).to_string(),
        tls: config.tls.is_some(),
        request_headers: config.headers.names().to_vec(),
    };
    let send_lag = config.rate.map(|_| &send_lag);
    let measured = Measured {
        counts: &counts,
        latency: &latency,
        connect: &connect,
        tls_handshake: config.tls.is_some().then_some(&tls_handshake),
        send_lag,
        established,
        connect_all_us,
        server,
        io_path_used: io_paths_used(results),
    };
    let report = Report::new(shape, measured);
    debug_assert_eq!(
        report.sent,
        report.ok + report.errors_total + report.session_expired + report.timeouts + report.lost,
        "every request ends exactly one way"
    );
    RunOutput { report, latency }
}
