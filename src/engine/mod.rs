//! The runtime: one pinned ring loop (`ringmcp-ring`: one io_uring, one run queue) per
//! selected CPU, each with its own SO_REUSEPORT listener, queue, buffer pool and registry
//! slice; cores share nothing but one connection counter (touched at accept and close only)
//! and a shutdown message.

mod access_log;
mod admission;
mod conn;
mod core;
mod dispatch;
mod frames;
mod http_conn;
mod link;
pub mod listener;
mod mailbox;
mod mesh;
mod metrics;
mod observe;
pub mod pool;
pub mod queue;
mod sse;
mod stdio;
mod streamable;
mod tls;
mod ws_conn;

use self::core::CoreCtx;
use crate::api::Server;
use crate::config::Settings;
use crate::limits::{DRAIN_EXPIRED_GRACE_MS, DRAIN_POLL_MS};
use std::fmt;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Why the server could not start or run.
#[derive(Debug)]
pub enum ServeError {
    /// A setting that only turns out wrong against this machine (exit code 2).
    Config(crate::config::ConfigError),
    /// Listening, starting an executor, or a thread failed.
    Io(std::io::Error),
}

impl fmt::Display for ServeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServeError::Config(e) => e.fmt(f),
            ServeError::Io(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ServeError {}

impl From<std::io::Error> for ServeError {
    fn from(e: std::io::Error) -> Self {
        ServeError::Io(e)
    }
}

fn config_error(key: &str, message: String) -> ServeError {
    ServeError::Config(crate::config::ConfigError { key: key.into(), message })
}

/// What every core shares: the connection counter and the cap.
struct Global {
    connections: Arc<AtomicUsize>,
    max_connections: usize,
}

/// The access log's writer thread, if `access_log` is on.
fn access_log_writer(settings: &Settings) -> Result<Option<access_log::Writer>, ServeError> {
    let target = access_log::Target::parse(&settings.access_log);
    access_log::Writer::start(&target, settings.access_log_sample_permille, crate::limits::ACCESS_LOG_QUEUE_BATCHES)
        .map_err(|e| config_error("access_log", format!("{}: {e}", settings.access_log)))
}

/// Keys the `requestState` seal from `request_state_secret_file`, if set.
fn request_state_key(settings: &Settings) -> Result<(), ServeError> {
    let Some(path) = &settings.request_state_secret_file else { return Ok(()) };
    let key = "request_state_secret_file";
    let bytes = std::fs::read(path).map_err(|e| config_error(key, format!("{}: {e}", path.display())))?;
    if bytes.len() < crate::limits::REQUEST_STATE_SECRET_MIN_BYTES {
        let message = format!(
            "{} holds {} bytes; at least {} (e.g. `head -c 32 /dev/urandom > FILE`)",
            path.display(),
            bytes.len(),
            crate::limits::REQUEST_STATE_SECRET_MIN_BYTES
        );
        return Err(config_error(key, message));
    }
    if !crate::mcp::request_state::set_secret(&bytes) {
        log::warn!("request_state_secret_file: the requestState key was set already; keeping the first");
    }
    Ok(())
}

impl Server {
    /// Serves TCP (NDJSON) on `settings.listen` with one executor per selected CPU, until
    /// SIGINT/SIGTERM; then drains (bounded by `drain_timeout_ms`) and returns.
    pub fn serve(&self, settings: &Settings) -> Result<(), ServeError> {
        self.serve_tcp(settings, false)
    }

    /// The benchmark's raw ceiling: the same cores, listeners, framing, buffers and batched
    /// writes as [`Server::serve`], but every line is written back unchanged — no JSON parse,
    /// no MCP. What ringmcp does on top of this is the cost of MCP itself.
    pub fn serve_raw_echo(&self, settings: &Settings) -> Result<(), ServeError> {
        self.serve_tcp(settings, true)
    }

    fn serve_tcp(&self, settings: &Settings, raw_echo: bool) -> Result<(), ServeError> {
        raise_limits();
        request_state_key(settings)?;
        let auth = crate::auth::Auth::from_settings(&settings.auth())
            .map_err(|e| ServeError::Config(crate::config::ConfigError { key: e.key, message: e.message }))?;
        let cpus = crate::cpus::select(settings.cores, settings.cpus.as_deref())
            .map_err(|m| config_error(if settings.cpus.is_some() { "cpus" } else { "cores" }, m))?;
        if (settings.shard_count as usize) < cpus.len() {
            let msg =
                format!("{} shards for {} cores; it must be at least the core count", settings.shard_count, cpus.len());
            return Err(config_error("shard_count", msg));
        }
        let addr: SocketAddr = settings.listen.parse().map_err(|_| config_error("listen", settings.listen.clone()))?;
        let access_log = access_log_writer(settings)?;
        let memory = Arc::new(crate::memory::Budget::from_settings(settings));
        crate::memory::start_sampler(&memory, Duration::from_millis(crate::limits::MEMORY_SAMPLE_MS))?;
        log::info!(
            "memory budget: limit {} bytes ({}), degraded at {} %, refusing at {} %",
            memory.limit_bytes,
            memory.source.as_str(),
            settings.memory_warn_percent,
            settings.memory_reject_percent
        );
        let tls = tls::TlsShared::from_settings(settings).map_err(|(key, message)| config_error(&key, message))?;
        let tls_required = tls::TlsMode::parse(&settings.tls_mode) == Some(tls::TlsMode::Required);
        let (addr, listeners) = listener::bind_all(addr, settings.backlog as u32, cpus.len())?;
        let global = Arc::new(Global {
            connections: Arc::new(AtomicUsize::new(0)),
            max_connections: settings.max_connections as usize,
        });
        let builder = ring_builder(settings)?;
        let (mesh, inboxes) = mesh::Mesh::new(cpus.len());
        let mut inboxes = inboxes.into_iter();
        let (ready_tx, ready_rx) = flume::unbounded::<Result<(usize, &'static str), String>>();
        let mut drains = Vec::new();
        let leaving = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut threads = Vec::new();
        for (core, (cpu, fd)) in cpus.iter().copied().zip(listeners).enumerate() {
            let (drain_tx, drain_rx) = flume::bounded::<()>(1);
            drains.push(drain_tx);
            let (catalog, changes) = self.attach();
            let (settings, global, ready) = (settings.clone(), global.clone(), ready_tx.clone());
            let (memory, access_log, leaving) = (memory.clone(), access_log.clone(), leaving.clone());
            let (mesh, inbox) = (mesh.clone(), inboxes.next().expect("one inbox per core"));
            let ncores = cpus.len();
            let auth = auth.clone();
            let tls = tls.clone();
            let builder = builder.clone().pin(cpu);
            threads.push(std::thread::Builder::new().name(format!("ringmcp-core-{core}")).spawn(move || {
                let started = ready.clone();
                let run = builder.run(async move {
                    let mut ctx = CoreCtx::new(core, ncores, &settings, catalog);
                    ctx.raw_echo = raw_echo;
                    ctx.auth = auth;
                    ctx.tls = tls;
                    ctx.tls_required = tls_required;
                    ctx.mesh = mesh;
                    ctx.connections = global.connections.clone();
                    ctx.leaving = leaving;
                    ctx.memory = memory;
                    ctx.access_log = access_log.as_ref().map(access_log::Writer::for_core);
                    let ctx = Rc::new(ctx);
                    ringmcp_ring::spawn(serve_inbox(ctx.clone(), inbox)).detach();
                    ringmcp_ring::spawn(ctx.clone().apply_changes(changes)).detach();
                    ringmcp_ring::spawn(sweep_sessions(ctx.clone())).detach();
                    let listener = ringmcp_ring::TcpListener::from_fd(fd);
                    let path = ringmcp_ring::io_path().map_or("none", |p| p.as_str());
                    let _ = started.send(Ok((core, path)));
                    let keep = ctx.clone();
                    run_core(ctx, listener, global, drain_rx, Duration::from_millis(settings.drain_timeout_ms)).await;
                    if let Some(log) = &keep.access_log {
                        log.flush();
                    }
                });
                if let Err(e) = run {
                    let _ = ready.send(Err(format!("core {core} (CPU {cpu}): cannot start its ring: {e}")));
                }
            })?);
        }
        drop(ready_tx);
        let mut path = "none";
        for _ in 0..cpus.len() {
            match ready_rx.recv() {
                Ok(Ok((_, p))) => path = p,
                Ok(Err(e)) => return Err(ServeError::Io(std::io::Error::other(e))),
                Err(_) => return Err(ServeError::Io(std::io::Error::other("a core exited during start-up"))),
            }
        }
        // Signals are handled before the start-up line is logged: whoever waits for that line
        // (a supervisor, a test) may stop the server right after it.
        let delay = Some((leaving, Duration::from_millis(settings.shutdown_delay_ms)));
        spawn_signal_thread(drains, delay, tls.clone(), auth.clone())?;
        let what = if raw_echo {
            "raw NDJSON echo (benchmark ceiling, no MCP)".to_string()
        } else {
            format!("pack {}", settings.pack)
        };
        let tls_note = match settings.tls_mode.as_str() {
            "optional" => ", TLS optional",
            "required" => ", TLS required",
            _ => "",
        };
        log::info!(
            "ringmcp {} listening on {addr} (NDJSON, HTTP /mcp, WebSocket /mcp/ws, /health, /ready, /metrics{tls_note}) with {} cores on CPUs {cpus:?}, io_uring {path} path: {what}",
            env!("CARGO_PKG_VERSION"),
            cpus.len(),
        );
        if let Some(auth) = &auth {
            log::info!(
                "authorization {:?} for {}: metadata at {} (raw NDJSON: {:?})",
                auth.mode,
                settings.auth_resource.as_deref().unwrap_or(""),
                auth.metadata_url(),
                auth.ndjson
            );
        }
        for t in threads {
            t.join().map_err(|_| std::io::Error::other("a core thread panicked"))?;
        }
        if let Some(log) = access_log {
            log.finish(Duration::from_millis(crate::limits::ACCESS_LOG_FINISH_MS));
        }
        log::info!("ringmcp stopped");
        Ok(())
    }

    /// Serves one session on stdin/stdout until stdin closes (or SIGINT/SIGTERM), answering
    /// every request read before that.
    pub fn stdio(&self, settings: &Settings) -> Result<(), ServeError> {
        raise_limits();
        if settings.auth_mode != "off" {
            log::info!("stdio is not authenticated (auth_mode applies to HTTP and TCP): the client that launched this process passes credentials through the environment");
        }
        request_state_key(settings)?;
        let builder = ring_builder(settings)?;
        let (catalog, changes) = self.attach();
        let access_log = access_log_writer(settings)?;
        let settings = settings.clone();
        let (drain_tx, drain_rx) = flume::bounded::<()>(1);
        spawn_signal_thread(vec![drain_tx], None, None, None)?;
        let fds = stdio::Stdio::open()?;
        // Pinned to one CPU (taskset): stay there.
        let builder = match crate::cpus::online_cpus()[..] {
            [cpu] => builder.pin(cpu),
            _ => builder,
        };
        let writer = access_log.clone();
        builder.run(async move {
            let mut ctx = CoreCtx::new(0, 1, &settings, catalog);
            ctx.access_log = access_log.as_ref().map(access_log::Writer::for_core);
            let ctx = Rc::new(ctx);
            ringmcp_ring::spawn(ctx.clone().apply_changes(changes)).detach();
            if ctx.access_log.is_some() {
                ringmcp_ring::spawn(flush_access_log(ctx.clone())).detach();
            }
            log::debug!("stdio: io_uring {} path", ringmcp_ring::io_path().map_or("none", |p| p.as_str()));
            let session = conn::serve(ctx.clone(), stdio::StdioIo::new(fds));
            let drain = async {
                let _ = drain_rx.recv_async().await;
                ctx.start_drain();
                ringmcp_ring::sleep(Duration::from_millis(settings.drain_timeout_ms)).await;
                log::warn!("stdio: drain_timeout_ms ({}) passed with requests in flight", settings.drain_timeout_ms);
                expire_drain(&ctx).await;
            };
            futures_lite::future::or(session, drain).await;
            if let Some(log) = &ctx.access_log {
                log.flush();
            }
        })?;
        if let Some(log) = writer {
            log.finish(Duration::from_millis(crate::limits::ACCESS_LOG_FINISH_MS));
        }
        Ok(())
    }

    /// Answers NDJSON `input` as one session would, without any socket, and returns the output
    /// (async tools included: it runs a private executor). For tests and examples.
    pub fn handle_lines(&self, input: &str) -> String {
        self.run_memory(Settings::default(), MemoryIo::new(input.as_bytes().to_vec(), None))
    }

    /// [`Server::handle_lines`] in turns, with `settings`: whenever the session is ready to read,
    /// `turn` gets the whole output so far and gives the next input lines (`None`: the input
    /// ends). For tests whose next request depends on an answer, such as a task id; with
    /// `max_inflight_per_connection = 1` each waiting request is answered before the next turn.
    pub fn handle_turns(&self, settings: Settings, turn: impl FnMut(&str) -> Option<String> + 'static) -> String {
        self.run_memory(settings, MemoryIo::new(Vec::new(), Some(Box::new(turn))))
    }

    fn run_memory(&self, settings: Settings, mut io: MemoryIo) -> String {
        let (catalog, changes) = self.attach();
        // A small ring: this loop does no network I/O, only the timers of async tools.
        let builder = ringmcp_ring::Builder::new().ring_entries(64).recv_buffers(1, 64);
        let out = builder.run(async move {
            let ctx = Rc::new(CoreCtx::new(0, 1, &settings, catalog));
            // Not a detached task: one would outlive this executor and leak the core (its
            // pool, histograms and tasks) on every call; the fuzzer's session target ran out
            // of memory on exactly that.
            let changes = async {
                ctx.clone().apply_changes(changes).await;
                std::future::pending::<()>().await
            };
            futures_lite::future::or(conn::serve(ctx.clone(), &mut io), changes).await;
            io.output
        });
        let out = out.expect("a ring for an in-memory session (io_uring is needed)");
        String::from_utf8(out).expect("answers are UTF-8 JSON")
    }
}

/// Serves this core's inbox until every sender is gone.
pub(crate) async fn serve_inbox(core: Rc<CoreCtx>, inbox: mailbox::Receiver<mesh::CoreMsg>) {
    while let Some(msg) = inbox.recv().await {
        match msg {
            mesh::CoreMsg::Http(call, reply, taken) => {
                taken.store(true, std::sync::atomic::Ordering::Release);
                core.metrics.forwarded_received();
                streamable::handle(&core, call, reply);
            }
            mesh::CoreMsg::Scrape(reply) => {
                let _ = reply.try_send(core.snapshot());
            }
        }
    }
}

/// Accepts until told to drain, then waits (bounded) for this core's connections to finish.
async fn run_core(
    ctx: Rc<CoreCtx>,
    listener: ringmcp_ring::TcpListener,
    global: Arc<Global>,
    drain_rx: flume::Receiver<()>,
    drain_timeout: Duration,
) {
    let accept = async {
        loop {
            match listener.accept().await {
                Ok(stream) => admit(&ctx, &global, stream),
                Err(e) => {
                    // EMFILE and friends: back off briefly instead of spinning on the error.
                    log::warn!("core {}: accept failed: {e}", ctx.core);
                    ringmcp_ring::sleep(Duration::from_millis(DRAIN_POLL_MS)).await;
                }
            }
        }
    };
    futures_lite::future::or(accept, async {
        let _ = drain_rx.recv_async().await;
    })
    .await;
    drop(listener);
    ctx.start_drain();
    let deadline = Instant::now() + drain_timeout;
    while ctx.open.get() > 0 && Instant::now() < deadline {
        ringmcp_ring::sleep(Duration::from_millis(DRAIN_POLL_MS)).await;
    }
    if ctx.open.get() > 0 {
        log::warn!(
            "core {}: drain_timeout_ms passed; answering what {} connections still have in flight with the draining error",
            ctx.core,
            ctx.open.get()
        );
        expire_drain(&ctx).await;
    }
}

/// Ends a drain that timed out: every request still unanswered gets the draining error, and
/// the connections get [`DRAIN_EXPIRED_GRACE_MS`] to write those answers.
async fn expire_drain(ctx: &CoreCtx) {
    ctx.expire_drain();
    let deadline = Instant::now() + Duration::from_millis(DRAIN_EXPIRED_GRACE_MS);
    while ctx.open.get() > 0 && Instant::now() < deadline {
        ringmcp_ring::sleep(Duration::from_millis(DRAIN_POLL_MS)).await;
    }
}

/// stdio: hands the access log's batch to the writer once every `SESSION_SWEEP_MS` (a TCP core
/// does it on its session sweep).
async fn flush_access_log(ctx: Rc<CoreCtx>) {
    loop {
        ringmcp_ring::sleep(Duration::from_millis(crate::limits::SESSION_SWEEP_MS)).await;
        if let Some(log) = &ctx.access_log {
            log.flush();
        }
    }
}

/// Ends idle Streamable HTTP sessions, once every `SESSION_SWEEP_MS`.
async fn sweep_sessions(ctx: Rc<CoreCtx>) {
    while !ctx.draining.get() {
        ringmcp_ring::sleep(Duration::from_millis(crate::limits::SESSION_SWEEP_MS)).await;
        let ended = ctx.sweep_idle_sessions();
        if let Some(log) = &ctx.access_log {
            log.flush();
        }
        if ended > 0 {
            log::debug!("core {}: {ended} idle HTTP sessions ended", ctx.core);
        }
    }
}

/// Takes one accepted connection, or refuses it at once over the global cap.
fn admit(ctx: &Rc<CoreCtx>, global: &Arc<Global>, stream: ringmcp_ring::Stream) {
    let before = global.connections.fetch_add(1, Ordering::AcqRel);
    if before >= global.max_connections {
        global.connections.fetch_sub(1, Ordering::AcqRel);
        log::warn!("core {}: refusing a connection: max_connections ({}) reached", ctx.core, global.max_connections);
        ringmcp_ring::spawn(refuse(stream, global.max_connections)).detach();
        return;
    }
    let _ = stream.set_nodelay(true);
    if ctx.settings.send_buffer_bytes > 0 {
        if let Err(e) = stream.set_send_buffer_size(ctx.settings.send_buffer_bytes as usize) {
            log::debug!("core {}: SO_SNDBUF {}: {e}", ctx.core, ctx.settings.send_buffer_bytes);
        }
    }
    let peer = stream.peer_addr().ok();
    let (ctx, global) = (ctx.clone(), global.clone());
    ringmcp_ring::spawn(async move {
        conn::serve_tcp(ctx, stream, peer).await;
        global.connections.fetch_sub(1, Ordering::AcqRel);
    })
    .detach();
}

async fn refuse(mut stream: ringmcp_ring::Stream, max: usize) {
    use futures_lite::AsyncWriteExt;
    let mut line = Vec::new();
    let err = crate::jsonrpc::RpcError::new(
        crate::jsonrpc::code::OVERLOADED,
        format!("Server overloaded: max_connections ({max}) reached; connection closed"),
    );
    crate::jsonrpc::write_error(&mut line, None, &err);
    let _ = stream.write_all(&line).await;
    let _ = stream.close().await;
}

/// On the first SIGINT/SIGTERM, tells every core to drain; a second one exits at once. With
/// a shutdown delay (`leaving`, `shutdown_delay_ms`), the first signal only sets `leaving`
/// (`/ready` answers 503) and the drain starts once the delay has passed, or at a second
/// signal; a third exits. With TLS on, SIGHUP reloads the certificate, key and client CA (new
/// handshakes use them).
fn spawn_signal_thread(
    drains: Vec<flume::Sender<()>>,
    delay: Option<(Arc<std::sync::atomic::AtomicBool>, Duration)>,
    tls: Option<Arc<tls::TlsShared>>,
    auth: Option<Arc<crate::auth::Auth>>,
) -> std::io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    // SIGHUP reloads what was read from files. Without TLS or auth there is nothing to reload
    // and it keeps its default action (stdio: the terminal went away).
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    if tls.is_some() || auth.is_some() {
        signals.add_signal(SIGHUP)?;
    }
    std::thread::Builder::new().name("ringmcp-signals".into()).spawn(move || {
        let drains = Arc::new(drains);
        // The drain has been told to start (by a signal or the delay's end).
        let drained = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut signalled = false;
        for sig in signals.forever() {
            if sig == SIGHUP {
                reload(tls.as_deref(), auth.as_deref());
                continue;
            }
            if drained.load(Ordering::Acquire) && signalled {
                log::warn!("another signal {sig}: exiting without draining");
                std::process::exit(1);
            }
            match (&delay, signalled) {
                (Some((leaving, delay)), false) if !delay.is_zero() => {
                    leaving.store(true, Ordering::Release);
                    log::info!("signal {sig}: /ready answers 503; draining in {} ms", delay.as_millis());
                    let (later, later_drained, delay) = (drains.clone(), drained.clone(), *delay);
                    let timer = std::thread::Builder::new().name("ringmcp-shutdown-delay".into()).spawn(move || {
                        std::thread::sleep(delay);
                        start_drain(&later, &later_drained);
                    });
                    if let Err(e) = timer {
                        log::warn!("cannot start the shutdown delay's thread ({e}): draining now");
                        start_drain(&drains, &drained);
                    }
                }
                _ => {
                    if let Some((leaving, _)) = &delay {
                        leaving.store(true, Ordering::Release);
                    }
                    log::info!("signal {sig}");
                    start_drain(&drains, &drained);
                }
            }
            signalled = true;
        }
    })?;
    Ok(())
}

/// Tells every core to drain, once (the signal thread and the shutdown delay's timer race).
fn start_drain(drains: &[flume::Sender<()>], drained: &std::sync::atomic::AtomicBool) {
    if !drained.swap(true, Ordering::AcqRel) {
        log::info!("draining (no new connections or requests; in-flight requests finish)");
        for d in drains {
            let _ = d.try_send(());
        }
    }
}

/// SIGHUP: the TLS certificate, key and client CA, the API keys file and the JWKS file are
/// read again; a file that fails keeps what was loaded before, and the log says which.
fn reload(tls: Option<&tls::TlsShared>, auth: Option<&crate::auth::Auth>) {
    if let Some(tls) = tls {
        tls.reload();
    }
    if let Some(auth) = auth {
        match auth.reload() {
            Ok(()) => log::info!("SIGHUP: authorization keys reloaded"),
            Err(e) => log::error!("SIGHUP: authorization keys kept: {e}"),
        }
    }
}

/// The ring loop every core runs, from the settings.
fn ring_builder(settings: &Settings) -> Result<ringmcp_ring::Builder, ServeError> {
    let path = settings.io_path.parse().map_err(|m| config_error("io_path", m))?;
    Ok(ringmcp_ring::Builder::new()
        .io_path(path)
        .recv_buffers(settings.recv_buffers as u32, settings.recv_buffer_bytes as u32)
        .spin_before_park(Duration::from_micros(settings.spin_before_park_us)))
}

/// Raises the soft limits on open files (one per connection) and locked memory (io_uring
/// rings) to their hard limits; a no-op where they already are.
fn raise_limits() {
    for resource in [libc::RLIMIT_NOFILE, libc::RLIMIT_MEMLOCK] {
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit writes into the rlimit struct we pass and reads nothing else.
        if unsafe { libc::getrlimit(resource, &mut lim) } == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            // SAFETY: setrlimit only reads the struct; raising a soft limit to the hard one is
            // always permitted.
            unsafe { libc::setrlimit(resource, &lim) };
        }
    }
}

/// The next input of [`Server::handle_turns`], from the output so far.
type Turn = Box<dyn FnMut(&str) -> Option<String>>;

/// An in-memory stream for [`Server::handle_lines`]: reads `input` (then what `more` gives),
/// collects the output.
struct MemoryIo {
    input: Vec<u8>,
    pos: usize,
    output: Vec<u8>,
    more: Option<Turn>,
}

impl MemoryIo {
    fn new(input: Vec<u8>, more: Option<Turn>) -> MemoryIo {
        MemoryIo { input, pos: 0, output: Vec::new(), more }
    }
}

impl futures_lite::AsyncRead for &mut MemoryIo {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &mut [u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let this = &mut **self;
        if this.pos == this.input.len() {
            let output = String::from_utf8_lossy(&this.output);
            match this.more.as_mut().and_then(|turn| turn(&output)) {
                Some(next) => (this.input, this.pos) = (next.into_bytes(), 0),
                None => this.more = None,
            }
        }
        let n = buf.len().min(self.input.len() - self.pos);
        let pos = self.pos;
        buf[..n].copy_from_slice(&self.input[pos..pos + n]);
        self.pos += n;
        std::task::Poll::Ready(Ok(n))
    }
}

impl futures_lite::AsyncWrite for &mut MemoryIo {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.output.extend_from_slice(buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_close(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}
