//! The command line: `loadgen run`, `loadgen compare`, `loadgen capacity`. Exit codes: 0
//! success, 1 the measured verdict failed (accounting, regression, no passing rate), 2 the
//! command could not run (bad flags, files, limits, addresses).

use crate::capacity::{Plan, Projection, Search, Step};
use crate::compare;
use crate::http::ExtraHeaders;
use crate::limits::OPEN_LOOP_INFLIGHT_DEFAULT;
use crate::parse;
use crate::report::Report;
use crate::request::{Protocol, Workload};
use crate::run::{self, RunConfig};
use crate::target::{self, Target};
use crate::tls::{TlsClient, TlsOptions};
use clap::{Args, Parser, Subcommand};
use hdrhistogram::serialization::interval_log::IntervalLogWriterBuilder;
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::Histogram;
use ringmcp_ring::IoPathChoice;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Exit code: the command could not run.
pub const EXIT_USAGE: i32 = 2;

/// Load generator for MCP servers: thread-per-core, closed or open loop, exact accounting.
#[derive(Parser, Debug)]
#[command(name = "loadgen", version, about, max_term_width = 100)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Drive load at a server and report throughput, latency and exact accounting.
    Run(RunArgs),
    /// Compare two `run --json` reports; exit 1 on a regression beyond the tolerance.
    Compare(CompareArgs),
    /// Find the highest open-loop rate that meets a p99 SLO, and plan nodes from it.
    Capacity(CapacityArgs),
}

/// What every request is, and how connections behave (shared by run and capacity).
#[derive(Args, Debug, Clone)]
pub struct WorkloadArgs {
    /// CPUs for the worker threads, taskset syntax (`0`, `0-3`, `1,3`); default: every CPU
    /// this process may run on.
    #[arg(long, value_name = "LIST")]
    pub cpus: Option<String>,
    /// Requests in flight per connection (closed loop; default 1). With --rate, the cap on
    /// unanswered requests per connection (default 1024). http:// allows only 1.
    #[arg(long, value_name = "W")]
    pub inflight: Option<u32>,
    /// The MCP era every connection speaks. `2026-07-28`: no handshake and no session; every
    /// request is self-contained, with its protocol version and client capabilities in
    /// `params._meta`, and over http:// each POST carries `MCP-Protocol-Version`, `Mcp-Method`
    /// and (tools/call, prompts/get, resources/read) `Mcp-Name`. `2025-11-25`: each connection
    /// first sends `initialize` and `notifications/initialized`; over http:// every POST then
    /// carries `MCP-Protocol-Version` and the server's `Mcp-Session-Id`. bench/ baselines are
    /// 2025-11-25.
    #[arg(long, value_name = "VERSION", default_value = "2026-07-28")]
    pub protocol: Protocol,
    /// Send this JSON-RPC method instead of `tools/call echo` (e.g. `tools/list`).
    #[arg(long, value_name = "M", conflicts_with_all = ["tool", "scenario"])]
    pub method: Option<String>,
    /// Params (a JSON value) for --method; in 2026-07-28 a JSON object, to which loadgen adds
    /// `_meta`.
    #[arg(long, value_name = "JSON", requires = "method")]
    pub params: Option<String>,
    /// Call this tool (`tools/call`) instead of `echo`.
    #[arg(long, value_name = "T", conflicts_with = "scenario")]
    pub tool: Option<String>,
    /// Arguments (a JSON object) for --tool.
    #[arg(long, value_name = "JSON", requires = "tool")]
    pub args: Option<String>,
    /// A named workload: `echo` (tools/call echo, the default), `add` (tools/call add), `ping`
    /// (2025-11-25 only: 2026-07-28 has no ping).
    #[arg(long, value_name = "NAME")]
    pub scenario: Option<String>,
    /// Length of the echo payload in ASCII bytes.
    #[arg(long, value_name = "B", default_value_t = 16)]
    pub payload_bytes: usize,
    /// Open connections at this many per second (default: as fast as possible). The workload
    /// starts on all connections together once every connection is up.
    #[arg(long, value_name = "C")]
    pub ramp_per_s: Option<f64>,
    /// An answer later than this counts as a timeout; also the handshake limit and how long
    /// to wait for outstanding answers after the window.
    #[arg(long, value_name = "MS", default_value_t = 5000)]
    pub timeout_ms: u64,
    /// Read this server process's memory (VmHWM, VmRSS) and CPU time from /proc.
    #[arg(long, value_name = "PID")]
    pub server_pid: Option<u32>,
    /// No progress lines on stderr.
    #[arg(long)]
    pub quiet: bool,
    /// The target is a raw NDJSON echo (the benchmark's ceiling, `ringmcp ceiling`): each
    /// request line comes back unchanged and counts as its answer.
    #[arg(long)]
    pub echo: bool,
    /// The I/O path of loadgen's rings: `auto` (multishot where the kernel has it),
    /// `multishot` (or fail at start), `fallback` (single-shot poll and recv).
    #[arg(long, value_name = "PATH", default_value = "auto")]
    pub io_path: IoPathChoice,
    /// TLS on a tcp://, http:// or ws:// URL (the same as tls://, https://, wss://).
    #[arg(long)]
    pub tls: bool,
    /// TLS: trust only the CA certificates in this PEM file (default: $SSL_CERT_FILE, else
    /// the system bundle).
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
    /// TLS: present this certificate chain (PEM) to the server (mTLS); needs --client-key.
    #[arg(long, value_name = "PEM", requires = "client_key")]
    pub client_cert: Option<PathBuf>,
    /// TLS: the private key (PEM) of --client-cert.
    #[arg(long, value_name = "PEM", requires = "client_cert")]
    pub client_key: Option<PathBuf>,
    /// TLS: send this server name (SNI) and check the certificate against it, instead of
    /// the URL's host.
    #[arg(long, value_name = "NAME")]
    pub server_name: Option<String>,
    /// Add `Name: value` to every HTTP request and to the WebSocket upgrade (repeatable;
    /// http and ws only). Reports name the header, never its value.
    #[arg(long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// Send `Authorization: Bearer TOKEN` (as --header; visible in the process list: prefer
    /// --bearer-token-file).
    #[arg(long, value_name = "TOKEN", conflicts_with = "bearer_token_file")]
    pub bearer_token: Option<String>,
    /// Read the bearer token from this file (surrounding whitespace is dropped).
    #[arg(long, value_name = "FILE")]
    pub bearer_token_file: Option<PathBuf>,
}

/// `loadgen run`.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// tcp://HOST:PORT (NDJSON), http://HOST:PORT/mcp (Streamable HTTP), ws://HOST:PORT/mcp/ws
    /// (WebSocket), their TLS forms tls://, https://, wss://, or stdio:COMMAND ARGS (one
    /// child process per connection).
    #[arg(long)]
    pub url: String,
    /// Connections (MCP sessions), spread round-robin over the worker threads.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub connections: usize,
    /// Measured window (after the warmup): `10s`, `500ms`, `2m`.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse::duration)]
    pub duration: Duration,
    /// Warmup before the measured window: its requests are matched and counted, but not in
    /// throughput or latency.
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = parse::duration)]
    pub warmup: Duration,
    /// Open loop: total requests/s over all connections, latency from the intended send
    /// time (coordinated-omission corrected). Without it: closed loop.
    #[arg(long, value_name = "R")]
    pub rate: Option<f64>,
    /// Write the report as JSON here.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write the merged latency histogram (µs) here, HdrHistogram interval-log format.
    #[arg(long, value_name = "FILE")]
    pub hdr_log: Option<PathBuf>,
    /// Workload and connection options.
    #[command(flatten)]
    pub workload: WorkloadArgs,
}

/// `loadgen compare`.
#[derive(Args, Debug)]
pub struct CompareArgs {
    /// The reference report (`run --json`).
    #[arg(long, value_name = "A.json")]
    pub baseline: PathBuf,
    /// The report to judge.
    #[arg(long, value_name = "B.json")]
    pub current: PathBuf,
    /// Allowed throughput drop and p99 rise, in %.
    #[arg(long, value_name = "PERCENT", default_value_t = 25.0)]
    pub tolerance: f64,
}

/// `loadgen capacity`.
#[derive(Args, Debug)]
pub struct CapacityArgs {
    /// Server URL, as for `run` (not needed with --measured-msg-s).
    #[arg(long, required_unless_present = "measured_msg_s")]
    pub url: Option<String>,
    /// The SLO: p99 latency at most this many ms (with zero errors, timeouts and lost).
    #[arg(long, value_name = "MS", required_unless_present = "measured_msg_s")]
    pub slo_p99_ms: Option<f64>,
    /// Connections for every step.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub connections: usize,
    /// Measured window of every step.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse::duration)]
    pub duration: Duration,
    /// Warmup of every step.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse::duration)]
    pub warmup: Duration,
    /// First offered rate, requests/s; it doubles until the SLO fails.
    #[arg(long, value_name = "R", default_value_t = 1000.0)]
    pub start_rate: f64,
    /// Stop bisecting when the gap between pass and fail is within this % of the pass.
    #[arg(long, value_name = "PERCENT", default_value_t = 5.0)]
    pub precision_percent: f64,
    /// Never offer more than this, requests/s.
    #[arg(long, value_name = "R", default_value_t = 100_000_000.0)]
    pub max_rate: f64,
    /// Write the steps and the result as JSON here.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Also compute the nodes a target needs from the measured rate.
    #[arg(long)]
    pub plan: bool,
    /// Plan: messages/s to sustain.
    #[arg(long, value_name = "MSG_S", default_value_t = 1_000_000.0)]
    pub target_msg_s: f64,
    /// Plan: concurrent connections to hold.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    pub target_connections: u64,
    /// Plan: headroom multiplier on the message rate.
    #[arg(long, default_value_t = 1.5)]
    pub safety: f64,
    /// Plan: connections one node holds (ringmcp's max_connections default).
    #[arg(long, value_name = "N", default_value_t = 15_000)]
    pub connections_per_node: u64,
    /// Plan: cores the measured server ran on (`serve --cores`); the per-core rate is the
    /// measured rate over this.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub measured_cores: u32,
    /// Plan: serving cores of one planned node (its CPUs minus those left for IRQs and the
    /// OS); the default is the measured host itself, so nothing is projected.
    #[arg(long, value_name = "N")]
    pub node_cores: Option<u32>,
    /// Plan: fraction of linear per-core scaling assumed from --measured-cores to
    /// --node-cores, in (0, 1]; 1 = linear. Lower it to what you measured on your host.
    #[arg(long, value_name = "F", default_value_t = 1.0)]
    pub scaling: f64,
    /// Plan from this per-node rate instead of measuring (implies --plan).
    #[arg(long, value_name = "MSG_S")]
    pub measured_msg_s: Option<f64>,
    /// Workload and connection options.
    #[command(flatten)]
    pub workload: WorkloadArgs,
}

/// Parses the process's arguments, runs the command, returns the exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => cmd_run(&args),
        Command::Compare(args) => cmd_compare(&args),
        Command::Capacity(args) => cmd_capacity(&args),
    };
    result.unwrap_or_else(|message| {
        eprintln!("loadgen: {message}");
        EXIT_USAGE
    })
}

fn cmd_run(args: &RunArgs) -> Result<i32, String> {
    let config = run_config(&args.url, &args.workload, args.connections, args.duration, args.warmup, args.rate)?;
    let output = run::run(&config)?;
    print!("{}", output.report.summary());
    if let Some(path) = &args.json {
        write_json(path, &output.report)?;
    }
    if let Some(path) = &args.hdr_log {
        write_hdr_log(path, &output.latency, &output.report)?;
    }
    Ok(output.report.exit_code())
}

/// Builds a run's configuration from flags.
///
/// # Errors
/// Bad URL, CPU list, workload JSON, or combination of flags.
pub fn run_config(
    url: &str,
    w: &WorkloadArgs,
    connections: usize,
    duration: Duration,
    warmup: Duration,
    rate: Option<f64>,
) -> Result<RunConfig, String> {
    let mut target = target::parse(url).map_err(|e| e.to_string())?;
    if w.tls {
        target = target.with_tls().map_err(|e| e.to_string())?;
    }
    let tls = tls_client(&target, w)?;
    let headers = extra_headers(w)?;
    let cpus = match &w.cpus {
        Some(list) => parse::cpu_list(list).map_err(|e| format!("--cpus: {e}"))?,
        None => allowed_cpus(),
    };
    let http = matches!(target, Target::Http { .. });
    let inflight = w.inflight.unwrap_or(if rate.is_some() && !http { OPEN_LOOP_INFLIGHT_DEFAULT } else { 1 });
    let config = RunConfig {
        url: url.to_string(),
        target,
        cpus,
        connections,
        inflight,
        rate,
        duration,
        warmup,
        workload: workload(w)?,
        protocol: w.protocol,
        ramp_per_s: w.ramp_per_s,
        timeout: Duration::from_millis(w.timeout_ms),
        server_pid: w.server_pid,
        quiet: w.quiet,
        io_path: w.io_path,
        tls,
        headers,
    };
    crate::answer::set_echo_mode(w.echo);
    run::validate(&config)?;
    Ok(config)
}

/// The TLS client for a TLS target; TLS flags without one are refused.
fn tls_client(target: &Target, w: &WorkloadArgs) -> Result<Option<TlsClient>, String> {
    let options = TlsOptions {
        ca_file: w.ca_file.clone(),
        client_cert: w.client_cert.clone(),
        client_key: w.client_key.clone(),
        server_name: w.server_name.clone(),
    };
    if !target.tls() {
        let given = options.ca_file.is_some() || options.client_cert.is_some() || options.server_name.is_some();
        if given {
            return Err("--ca-file, --client-cert, --client-key and --server-name need TLS: use tls://, https://, \
                        wss:// or --tls"
                .into());
        }
        return Ok(None);
    }
    let host = target.host().ok_or("TLS needs a network target")?;
    TlsClient::new(&options, host, target.speaks_http()).map(Some)
}

/// `--header`s and the bearer token (`--bearer-token`, `--bearer-token-file`).
fn extra_headers(w: &WorkloadArgs) -> Result<ExtraHeaders, String> {
    let from_file = match &w.bearer_token_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .map_err(|e| format!("--bearer-token-file {}: {e}", path.display()))?
                .trim()
                .to_string(),
        ),
        None => None,
    };
    ExtraHeaders::new(&w.headers, w.bearer_token.as_deref().or(from_file.as_deref()))
}

fn allowed_cpus() -> Vec<usize> {
    let mut cpus: Vec<usize> = core_affinity::get_core_ids().unwrap_or_default().into_iter().map(|c| c.id).collect();
    if cpus.is_empty() {
        cpus = (0..std::thread::available_parallelism().map_or(1, |n| n.get())).collect();
    }
    cpus
}

fn workload(w: &WorkloadArgs) -> Result<Workload, String> {
    let check = |flag: &str, json: &str, object: bool| -> Result<String, String> {
        let value: serde_json::Value =
            serde_json::from_str(json).map_err(|e| format!("{flag} is not valid JSON: {e}"))?;
        if object && !value.is_object() {
            return Err(format!("{flag} must be a JSON object"));
        }
        Ok(value.to_string())
    };
    let modern = w.protocol == Protocol::Modern;
    if let Some(method) = &w.method {
        if modern && SESSION_ERA_ONLY.contains(&method.as_str()) {
            return Err(format!(
                "--method {method}: MCP 2026-07-28 has no `{method}` (servers answer -32601); measure it with \
                 --protocol 2025-11-25"
            ));
        }
        let params = w.params.as_deref().map(|p| check("--params", p, false)).transpose()?;
        if modern && params.as_deref().is_some_and(|p| !p.starts_with('{')) {
            return Err("--params must be a JSON object with --protocol 2026-07-28: every request carries \
                        `_meta` in its params, which loadgen adds to yours (--protocol 2025-11-25 sends any \
                        JSON value)"
                .into());
        }
        return Ok(Workload::Method { method: method.clone(), params });
    }
    if let Some(tool) = &w.tool {
        let arguments = match &w.args {
            Some(args) => check("--args", args, true)?,
            None => "{}".to_string(),
        };
        return Ok(Workload::ToolCall { tool: tool.clone(), arguments });
    }
    match w.scenario.as_deref() {
        None | Some("echo") => Ok(Workload::echo(w.payload_bytes)),
        Some("ping") if modern => Err("--scenario ping: MCP 2026-07-28 has no `ping` (servers answer -32601); \
                                       measure it with --protocol 2025-11-25"
            .into()),
        Some("ping") => Ok(Workload::Method { method: "ping".into(), params: None }),
        Some("add") => Ok(Workload::ToolCall { tool: "add".into(), arguments: r#"{"a":1,"b":2}"#.into() }),
        Some(other) => Err(format!("unknown --scenario `{other}` (known: echo, ping, add)")),
    }
}

/// Methods MCP 2026-07-28 removed: a modern run of them would be all errors.
const SESSION_ERA_ONLY: [&str; 7] = [
    "initialize",
    "ping",
    "logging/setLevel",
    "resources/subscribe",
    "resources/unsubscribe",
    "tasks/result",
    "tasks/list",
];

fn write_json(path: &Path, value: &impl Serialize) -> Result<(), String> {
    let mut text = serde_json::to_string_pretty(value).map_err(|e| e.to_string())?;
    text.push('\n');
    std::fs::write(path, text).map_err(|e| format!("writing {}: {e}", path.display()))
}

/// Writes the histogram as an HdrHistogram interval log with one interval covering the
/// measured window; values are µs (the max column is in ms).
fn write_hdr_log(path: &Path, latency: &Histogram<u64>, report: &Report) -> Result<(), String> {
    let fail = |e: &dyn std::fmt::Display| format!("writing {}: {e}", path.display());
    let mut file = std::fs::File::create(path).map_err(|e| fail(&e))?;
    let mut serializer = V2DeflateSerializer::new();
    let now = SystemTime::now();
    let mut log = IntervalLogWriterBuilder::new()
        .add_comment(&format!("loadgen {} {} latency in microseconds", report.shape.url, report.mode))
        .with_start_time(now)
        .with_base_time(now)
        .with_max_value_divisor(1000.0)
        .begin_log_with(&mut file, &mut serializer)
        .map_err(|e| fail(&e))?;
    log.write_histogram(latency, Duration::ZERO, Duration::from_secs_f64(report.shape.duration_s), None)
        .map_err(|e| fail(&e))
}

fn cmd_compare(args: &CompareArgs) -> Result<i32, String> {
    let read = |path: &Path| -> Result<serde_json::Value, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", path.display()))
    };
    let (baseline, current) = (read(&args.baseline)?, read(&args.current)?);
    if let Some(note) = compare::protocol_note(&baseline, &current) {
        eprintln!("loadgen: {note}");
    }
    let rows = compare::compare(&baseline, &current, args.tolerance)?;
    print!("{}", compare::table(&rows, args.tolerance));
    Ok(i32::from(rows.iter().any(|r| r.regressed)))
}

/// The `capacity --json` document.
#[derive(Serialize)]
struct CapacityReport {
    url: Option<String>,
    protocol: String,
    slo_p99_ms: Option<f64>,
    connections: usize,
    duration_s: f64,
    steps: Vec<Step>,
    max_rate_msg_s: Option<f64>,
    plan: Option<Plan>,
}

fn cmd_capacity(args: &CapacityArgs) -> Result<i32, String> {
    let mut steps = Vec::new();
    let measured = match (args.measured_msg_s, &args.url, args.slo_p99_ms) {
        (Some(rate), _, _) => Some(rate),
        (None, Some(url), Some(slo)) => search(args, url, slo, &mut steps)?,
        _ => return Err("capacity needs --url and --slo-p99-ms, or --measured-msg-s".into()),
    };
    match measured {
        Some(rate) => println!("highest rate meeting the SLO: {rate:.0} msg/s"),
        None => println!("no rate met the SLO (tried down to {} msg/s)", crate::capacity::RATE_MIN_PER_S),
    }
    let plan = match measured {
        Some(rate) if args.plan || args.measured_msg_s.is_some() => {
            let projection =
                Projection::new(args.measured_cores, args.node_cores.unwrap_or(args.measured_cores), args.scaling)?;
            let plan = Plan::new(
                args.target_msg_s,
                args.target_connections,
                args.safety,
                rate,
                projection,
                args.connections_per_node,
            )?;
            print!("{}", plan.explain());
            Some(plan)
        }
        _ => None,
    };
    if let Some(path) = &args.json {
        let report = CapacityReport {
            url: args.url.clone(),
            protocol: args.workload.protocol.version().to_string(),
            slo_p99_ms: args.slo_p99_ms,
            connections: args.connections,
            duration_s: args.duration.as_secs_f64(),
            steps,
            max_rate_msg_s: measured,
            plan,
        };
        write_json(path, &report)?;
    }
    Ok(if measured.is_some() { 0 } else { 1 })
}

/// Steps the offered rate: doubling from --start-rate until the SLO fails, then bisecting.
fn search(args: &CapacityArgs, url: &str, slo: f64, steps: &mut Vec<Step>) -> Result<Option<f64>, String> {
    let mut search = Search::new(args.start_rate, args.precision_percent / 100.0, args.max_rate.max(args.start_rate));
    let mut workload = args.workload.clone();
    workload.quiet = true;
    while let Some(rate) = search.next_rate() {
        let config = run_config(url, &workload, args.connections, args.duration, args.warmup, Some(rate))?;
        let output = run::run(&config)?;
        let step = Step::of(&output.report, slo);
        println!(
            "rate {:>10.0}/s  answered {:>10.0} msg/s  p99 {:>8.2} ms  {}",
            rate,
            step.throughput_msg_s,
            step.p99_ms,
            match &step.reason {
                None => "PASS".to_string(),
                Some(reason) => format!("FAIL ({reason})"),
            }
        );
        search.record(rate, step.passed);
        steps.push(step);
        // Let the server finish the previous step's connections before the next one.
        std::thread::sleep(Duration::from_millis(300));
    }
    Ok(search.result())
}
