//! One core's state. Everything here is owned by a single executor thread and touched by
//! nobody else: the queue, the buffer pool, the read scratch buffer, the registry slice.

use super::admission::{client_key, Admission, Refusal};
use super::mesh::Mesh;
use super::metrics::{CoreMetrics, CoreSnapshot, Transport};
use super::pool::BufferPool;
use super::queue::Queue;
use super::sse::HttpState;
use crate::api::handle::Change;
use crate::api::Catalog;
use crate::config::Settings;
use crate::ids::IdSource;
use crate::jsonrpc::{code, RpcError};
use crate::mcp::tasks::{TaskEnv, TaskTable};
use crate::mcp::Session;
use crate::mcp::{self, peer, Phase};
use ringmcp_shards::{Expiry, Registry, SessionId, ShardMap};
use std::cell::{Cell, RefCell};
use std::net::IpAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::task::Waker;
use std::time::Instant;

/// What the registry keeps per session on this core.
#[derive(Clone)]
pub(crate) struct SessionEntry {
    /// The session's id.
    pub id: SessionId,
    /// The transport it was opened on (whose share it counts against).
    pub transport: Transport,
    /// The client's address key, for Streamable HTTP sessions (counted per address).
    pub client: Option<IpAddr>,
    /// A Streamable HTTP session whose client has sent nothing since `initialize`: it ends
    /// after `session_handshake_timeout_ms`.
    pub handshake_pending: bool,
    /// Streamable HTTP sessions: their SSE streams (`None` for connection-bound sessions).
    pub http: Option<Rc<HttpState>>,
    /// The session's MCP state; the connection holds the other `Rc`.
    pub session: Rc<RefCell<Session>>,
    /// Wakes the connection's task (to start draining).
    pub waker: Rc<RefCell<Option<Waker>>>,
}

/// The session of a connection (NDJSON, WebSocket, stdio): in the registry once admitted;
/// until then (its transport's share was full) it answers `ping` only, and `initialize`
/// tries to admit it again.
pub(crate) struct BoundSession {
    pub transport: Transport,
    /// The MCP state; the registry entry holds the other `Rc` while admitted.
    pub session: Rc<RefCell<Session>>,
    /// Wakes the connection's task (drain, answers of async requests).
    pub waker: Rc<RefCell<Option<Waker>>>,
    admitted: Cell<bool>,
    /// The connection's number on this core: the `session` key of rate limits.
    pub conn_id: u64,
    /// The client's address (`None` for stdio and in-memory sessions).
    pub peer: Cell<Option<std::net::SocketAddr>>,
}

impl BoundSession {
    /// Whether the session holds a registry slot.
    pub fn is_admitted(&self) -> bool {
        self.admitted.get()
    }

    /// The session's id (all zeros until admitted).
    pub fn id(&self) -> SessionId {
        self.session.borrow().id
    }
}

/// What a core's `/ready` answers: 200, or 503 with the reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Readiness {
    /// Serving: the balancer may send requests here.
    Ready,
    /// Shutting down (`shutdown_delay_ms`, then the drain): take the node out.
    Draining,
    /// RSS is over the memory budget's reject mark: new work is refused.
    Memory,
}

/// The per-core context every connection task of the core holds an `Rc` of.
pub(crate) struct CoreCtx {
    pub core: usize,
    /// This core's copy of what the server offers (replaced when it changes at runtime).
    catalog: RefCell<Rc<Catalog>>,
    pub page_size: usize,
    pub client_timeout_ms: u64,
    pub max_message_bytes: usize,
    /// `max_json_depth`: deeper messages get -32600 before anything parses them.
    pub max_json_depth: usize,
    pub max_inflight: usize,
    pub queue: Queue,
    queue_capacity: usize,
    pub pool: RefCell<BufferPool>,
    /// Read buffer shared by all connections of the core. It is only borrowed during one
    /// non-blocking `recv` and the parse that follows, never across an await, so an idle
    /// connection holds no buffer at all.
    pub scratch: RefCell<Vec<u8>>,
    /// Bytes of partial frames all connections hold, bounded by `partial_frame_bytes_per_core`.
    pub frames: super::frames::FrameBudget,
    pub registry: RefCell<Registry<SessionEntry>>,
    /// Who may add a session to the registry: shares per transport, caps per address.
    admission: Admission,
    pub draining: Cell<bool>,
    /// SIGTERM/SIGINT came (all cores together): `/ready` answers 503 from then on, while
    /// `shutdown_delay_ms` passes before the drain.
    pub leaving: Arc<std::sync::atomic::AtomicBool>,
    /// `drain_timeout_ms` passed: whatever is still unanswered is answered with the draining
    /// overload error at once (see [`CoreCtx::expire_drain`]).
    pub drain_expired: Cell<bool>,
    /// Requests in flight, woken when the drain expires.
    pub expiry_waiters: WakerSet,
    /// Streamable HTTP without sessions.
    pub stateless: bool,
    /// Events each SSE stream keeps for resumption.
    pub sse_replay: usize,
    session_idle_ms: u64,
    /// This core's counters (read by message passing at scrape time).
    pub metrics: CoreMetrics,
    /// The other cores' inboxes.
    pub mesh: Mesh,
    /// Open connections, all cores together.
    pub connections: Arc<std::sync::atomic::AtomicUsize>,
    /// Connections to wake when the core starts draining (idle HTTP, SSE streams).
    pub drain_waiters: WakerSet,
    /// The settings the core runs with (HTTP limits, allowed hosts, …).
    pub settings: Settings,
    /// Benchmark ceiling mode: every line is written back as is, with no JSON or MCP work.
    pub raw_echo: bool,
    /// Authorization (`None`: `auth_mode = "off"`, and stdio): shared by every core.
    pub auth: Option<Arc<crate::auth::Auth>>,
    /// Open connections (or stdio sessions) on this core.
    pub open: Cell<usize>,
    /// Accepted connections that have not sent their first bytes yet (transport unknown).
    pub unidentified: Cell<usize>,
    /// The process's TLS configuration (`None`: `tls_mode` off), read once per handshake.
    pub tls: Option<Arc<super::tls::TlsShared>>,
    /// `tls_mode = required`: plaintext connections are refused.
    pub tls_required: bool,
    /// A refused plaintext connection was logged (once per core).
    pub tls_refusal_logged: Cell<bool>,
    /// TLS handshakes completed, failed (or timed out), and TLS connections open.
    pub tls_counts: Cell<(u64, u64, usize)>,
    /// Tasks (task-augmented `tools/call`) of this core's sessions.
    pub tasks: Rc<TaskTable>,
    /// The core's `subscriptions/listen` streams (2026-07-28).
    pub listeners: Rc<mcp::Listeners>,
    /// Tool circuit breakers and timeouts of this core.
    pub guard: Rc<mcp::breaker::Guard>,
    /// Wall-clock time at `started`, in milliseconds since the Unix epoch.
    epoch_unix_ms: u64,
    ids: RefCell<IdSource>,
    started: Instant,
    /// This core's rate limits; `None` without any rule (the hot path checks only that).
    pub limiter: Option<RefCell<crate::ratelimit::Limiter>>,
    /// The server's memory budget (an inert one until `serve` sets the real one).
    pub memory: Arc<crate::memory::Budget>,
    /// The access log, if on.
    pub access_log: Option<super::access_log::AccessLog>,
    /// Numbers the connections of this core (rate limits' per-connection key).
    next_conn: Cell<u64>,
}

impl CoreCtx {
    pub fn new(core: usize, cores: usize, settings: &Settings, catalog: Arc<Catalog>) -> CoreCtx {
        let map = ShardMap::new(settings.shard_count as u32, cores).expect("shard_count validated against cores");
        let started = Instant::now();
        CoreCtx {
            core,
            catalog: RefCell::new(Rc::new(Catalog::clone(&catalog))),
            page_size: settings.list_page_size as usize,
            client_timeout_ms: settings.client_request_timeout_ms,
            max_message_bytes: settings.max_message_bytes as usize,
            max_json_depth: settings.max_json_depth as usize,
            max_inflight: settings.max_inflight_per_connection as usize,
            queue: Queue::new(
                core,
                settings.queue_capacity as usize,
                settings.queue_warn_at(),
                settings.queue_reject_at(),
                settings.overload_retry_after_ms,
            ),
            queue_capacity: settings.queue_capacity as usize,
            pool: RefCell::new(BufferPool::new(
                settings.buffer_bytes as usize,
                settings.pool_buffers_per_core as usize,
            )),
            scratch: RefCell::new(vec![0; settings.buffer_bytes as usize]),
            frames: super::frames::FrameBudget::new(settings.partial_frame_bytes_per_core as usize),
            registry: RefCell::new(Registry::new(map, core, settings.max_sessions_per_core as usize)),
            admission: Admission::new(core, settings),
            draining: Cell::new(false),
            leaving: Arc::default(),
            drain_expired: Cell::new(false),
            expiry_waiters: WakerSet::default(),
            stateless: settings.stateless,
            sse_replay: settings.sse_replay_events as usize,
            session_idle_ms: settings.session_idle_timeout_ms,
            metrics: CoreMetrics::new(),
            mesh: Mesh::default(),
            drain_waiters: WakerSet::default(),
            connections: Arc::default(),
            settings: settings.clone(),
            raw_echo: false,
            auth: None,
            open: Cell::new(0),
            unidentified: Cell::new(0),
            tls: None,
            tls_required: false,
            tls_refusal_logged: Cell::new(false),
            tls_counts: Cell::new((0, 0, 0)),
            tasks: Rc::new(task_table(started, core)),
            listeners: Rc::default(),
            guard: Rc::new(guard(settings, started)),
            epoch_unix_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis() as u64,
            ids: RefCell::new(IdSource::default()),
            started,
            limiter: match settings.rate_limit_rules() {
                Ok(rules) if !rules.is_empty() => Some(RefCell::new(crate::ratelimit::Limiter::new(
                    &rules,
                    cores,
                    settings.rate_limit_max_keys_per_core as usize,
                ))),
                Ok(_) => None,
                Err(e) => {
                    log::error!("core {core}: {e}; no rate limits");
                    None
                }
            },
            memory: Arc::default(),
            access_log: None,
            next_conn: Cell::new(0),
        }
    }

    /// A fresh connection number on this core.
    pub fn conn_id(&self) -> u64 {
        let id = self.next_conn.get() + 1;
        self.next_conn.set(id);
        id
    }

    /// Nanoseconds since the core started (the rate limits' clock).
    pub fn now_ns(&self) -> u64 {
        self.started.elapsed().as_nanos() as u64
    }

    /// Open connections, all cores together.
    pub fn connections_total(&self) -> usize {
        self.connections.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Applies the server's runtime changes as they come (see [`crate::api::handle`]).
    pub async fn apply_changes(self: Rc<Self>, changes: flume::Receiver<Change>) {
        while let Ok(change) = changes.recv_async().await {
            let peers: Vec<_> = self
                .registry
                .borrow()
                .iter()
                .map(|(_, e)| e.session.borrow())
                .filter(|s| s.phase == Phase::Initialized)
                .map(|s| s.peer.clone())
                .collect();
            match change {
                Change::Catalog(catalog, kind) => {
                    *self.catalog.borrow_mut() = Rc::new(Catalog::clone(&catalog));
                    self.listeners.list_changed(kind.notification());
                    let message = peer::notification(kind.notification(), None);
                    for p in peers {
                        p.notify(&message);
                    }
                }
                Change::ResourceUpdated(uri) => {
                    self.listeners.resource_updated(&uri);
                    let params = sonic_rs::to_string(&sonic_rs::json!({ "uri": uri.as_str() })).expect("serializes");
                    let message = peer::notification("notifications/resources/updated", Some(&params));
                    for p in peers.iter().filter(|p| p.subscriptions.borrow().contains(&uri)) {
                        p.notify(&message);
                    }
                }
            }
        }
    }

    /// Wall-clock milliseconds since the Unix epoch at `ms` after the core started.
    pub fn unix_ms(&self, ms: u64) -> u64 {
        self.epoch_unix_ms + ms
    }

    /// Milliseconds since the core started, at `t`.
    pub fn ms_at(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.started).as_millis() as u64
    }

    /// What the server offers now.
    pub fn catalog(&self) -> Rc<Catalog> {
        self.catalog.borrow().clone()
    }

    /// Milliseconds since the core started (the registry's clock).
    pub fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// A session for a new connection of `transport` (NDJSON, WebSocket, stdio), in the
    /// registry if its transport's share has room. Without room the connection still gets a
    /// session, outside the registry: it answers `ping`, and `initialize` tries again
    /// ([`CoreCtx::admit_bound`]).
    pub fn open_bound_session(&self, transport: Transport) -> BoundSession {
        debug_assert_ne!(transport, Transport::Http, "HTTP sessions are not bound to a connection");
        let bound = BoundSession {
            transport,
            // The id is minted at admission; until then the session is nobody's in the registry.
            session: Rc::new(RefCell::new(Session::new(SessionId::from_random(0), self.core))),
            waker: Rc::new(RefCell::new(None)),
            admitted: Cell::new(false),
            conn_id: self.conn_id(),
            peer: Cell::new(None),
        };
        if let Err(refusal) = self.admit_bound(&bound) {
            log::debug!("core {}: {transport:?} connection served without a session: {refusal:?}", self.core);
        }
        bound
    }

    /// Registers `bound` under a fresh id, if its transport's share has room.
    pub fn admit_bound(&self, bound: &BoundSession) -> Result<(), Refusal> {
        assert!(!bound.admitted.get(), "session admitted twice");
        let (transport, session, waker) = (bound.transport, bound.session.clone(), bound.waker.clone());
        let make =
            |id| SessionEntry { id, transport, client: None, handshake_pending: false, http: None, session, waker };
        let entry = self.register(transport, None, Expiry::Never, make)?;
        bound.session.borrow_mut().id = entry.id;
        bound.admitted.set(true);
        Ok(())
    }

    /// Forgets the session of a connection that closed (if it was in the registry).
    pub fn close_bound(&self, bound: &BoundSession) {
        if bound.admitted.replace(false) {
            let id = bound.id();
            let removed = self.registry.borrow_mut().remove(&id);
            debug_assert!(removed.is_some(), "session {id} of a live connection left the registry");
            match removed {
                Some(entry) => self.forget(&entry),
                None => log::error!("core {}: session {id} of a live connection left the registry", self.core),
            }
        }
    }

    /// Mints and registers a Streamable HTTP session of `client` (an IP address, counted
    /// against `max_http_sessions_per_address_per_core`). It ends after
    /// `session_handshake_timeout_ms` unless the client sends another message in it
    /// ([`CoreCtx::http_session`]), then after `session_idle_timeout_ms` without use.
    pub fn open_http_session(&self, client: Option<IpAddr>) -> Result<SessionEntry, Refusal> {
        let (core, timeout_ms) = (self.core, self.client_timeout_ms);
        let make = |id| {
            let session = Session::new(id, core);
            session.peer.set_client_timeout(timeout_ms, sleep_for);
            SessionEntry {
                id,
                transport: Transport::Http,
                client: client.map(client_key),
                handshake_pending: true,
                http: Some(Rc::new(HttpState::default())),
                session: Rc::new(RefCell::new(session)),
                waker: Rc::new(RefCell::new(None)),
            }
        };
        let expiry = Expiry::IdleMs(self.settings.session_handshake_timeout_ms);
        self.register(Transport::Http, client.map(client_key), expiry, make)
    }

    /// Admits, mints and inserts one session: the one way into the registry.
    fn register(
        &self,
        transport: Transport,
        client: Option<IpAddr>,
        expiry: Expiry,
        make: impl FnOnce(SessionId) -> SessionEntry,
    ) -> Result<SessionEntry, Refusal> {
        let now = self.now_ms();
        let mut registry = self.registry.borrow_mut();
        self.admission.check(transport, client, registry.len(), registry.capacity(), now)?;
        let id = self.mint_id(&registry).map_err(|e| self.admission.internal(transport, e, now))?;
        let entry = make(id);
        debug_assert_eq!((entry.id, entry.transport, entry.client), (id, transport, client));
        registry
            .insert(id, entry.clone(), expiry, now)
            .map_err(|e| self.admission.internal(transport, e.to_string(), now))?;
        self.admission.admitted(transport, client);
        Ok(entry)
    }

    /// Counts a session out of the registry (every removal comes here).
    fn forget(&self, entry: &SessionEntry) {
        self.admission.released(entry.transport, entry.client);
    }

    /// A fresh id whose shard this core owns, from the OS random source. Should that source
    /// fail, no id is made of what was drawn (the failed draws read as zero).
    fn mint_id(&self, registry: &Registry<SessionEntry>) -> Result<SessionId, String> {
        let mut ids = self.ids.borrow_mut();
        let mut failed = None;
        let minted = registry.mint_id(&mut || match failed {
            Some(_) => 0,
            None => ids.next_u128().unwrap_or_else(|e| {
                failed = Some(e);
                0
            }),
        });
        match (failed, minted) {
            (Some(e), _) => Err(format!("cannot mint a session id: {e}")),
            (None, minted) => minted.map_err(|e| e.to_string()),
        }
    }

    /// A live Streamable HTTP session of this core (the lookup counts as activity). The first
    /// lookup after `initialize` completes the handshake: the session then lives until it has
    /// been unused for `session_idle_timeout_ms`.
    pub fn http_session(&self, id: &SessionId) -> Option<SessionEntry> {
        let now = self.now_ms();
        let mut registry = self.registry.borrow_mut();
        let entry = registry.get_mut(id, now).filter(|e| e.http.is_some())?;
        let handshake_done = std::mem::replace(&mut entry.handshake_pending, false);
        let found = entry.clone();
        if handshake_done {
            let lengthened = registry.set_expiry(id, Expiry::IdleMs(self.session_idle_ms), now);
            debug_assert!(lengthened, "a session just looked up is live");
        }
        Some(found)
    }

    /// Ends a Streamable HTTP session (DELETE); false if there was none. A connection's
    /// session is not one: only its connection ends it.
    pub fn end_session(&self, id: &SessionId) -> bool {
        let mut registry = self.registry.borrow_mut();
        let is_http = registry.get(id, self.now_ms()).is_some_and(|e| e.http.is_some());
        let removed = if is_http { registry.remove(id) } else { None };
        drop(registry);
        match removed {
            Some(entry) => {
                self.forget(&entry);
                close_entry(&entry);
                true
            }
            None => false,
        }
    }

    /// Ends the Streamable HTTP sessions idle past their deadline (and deletes expired tasks).
    pub fn sweep_idle_sessions(&self) -> usize {
        if let Some(limiter) = &self.limiter {
            limiter.borrow_mut().sweep(self.now_ns());
        }
        self.tasks.sweep_expired(self.now_ms());
        let expired = self.registry.borrow_mut().expire_idle(self.now_ms(), usize::MAX);
        for (_, entry) in &expired {
            self.forget(entry);
            close_entry(entry);
        }
        expired.len()
    }

    /// What `/ready` answers on this core (`ringmcp_ready` in /metrics).
    pub fn readiness(&self) -> Readiness {
        if self.leaving.load(std::sync::atomic::Ordering::Acquire) || self.draining.get() {
            Readiness::Draining
        } else if self.memory.rejecting() {
            Readiness::Memory
        } else {
            Readiness::Ready
        }
    }

    /// This core's counters and state, for /health and /metrics.
    pub fn snapshot(&self) -> CoreSnapshot {
        let mut snap = self.metrics.snapshot(self.now_ms());
        let q = self.queue.stats();
        let (pool, free) = (self.pool.borrow().stats(), self.pool.borrow().free_len());
        snap.core = self.core;
        snap.queue_depth = self.queue.depth();
        snap.queue_capacity = self.queue_capacity;
        snap.queue_rejects = q.rejected;
        snap.sessions = self.registry.borrow().len();
        snap.pool_hits = pool.hits;
        snap.pool_misses = pool.misses;
        snap.pool_drops = pool.dropped;
        snap.pool_free_buffers = free;
        snap.draining = self.draining.get() || self.leaving.load(std::sync::atomic::Ordering::Acquire);
        snap.ready = self.readiness() == Readiness::Ready;
        snap.queue_warn_depth = self.settings.queue_warn_at();
        snap.max_connections = self.settings.max_connections;
        snap.io_path = ringmcp_ring::io_path().map_or("none", |p| p.as_str());
        snap.ring = ringmcp_ring::stats().unwrap_or_default();
        snap.partial_frame_bytes = self.frames.total_bytes();
        snap.connections_unidentified = self.unidentified.get();
        (snap.tls_handshakes_ok, snap.tls_handshakes_failed, snap.tls_connections) = self.tls_counts.get();
        snap.partial_frame_cuts = self.frames.cuts();
        let registry = self.registry.borrow();
        let sessions_degraded = self.admission.is_degraded(registry.len(), registry.capacity());
        snap.breakers = self.guard.snapshot();
        let breaker_open = snap.breakers.iter().any(|b| b.state == mcp::breaker::State::Open);
        snap.degraded = self.queue.is_degraded() || sessions_degraded || breaker_open;
        if let Some(limiter) = &self.limiter {
            let l = limiter.borrow();
            (snap.rate_limited, snap.ratelimit_table_full, snap.ratelimit_keys) =
                (l.limited, l.table_full, l.keys() as u64);
        }
        snap.session_capacity = registry.capacity();
        (snap.transport_sessions, snap.transport_session_limits, snap.session_refusals) = self.admission.counts();
        snap
    }

    /// Starts draining: no new requests are read; every connection is woken to finish.
    /// Ends the drain: every request still in flight is answered with the draining overload
    /// error instead of its result, and held-back lines are answered with it unread.
    pub fn expire_drain(&self) {
        self.drain_expired.set(true);
        self.expiry_waiters.wake_all();
    }

    pub fn start_drain(&self) {
        self.draining.set(true);
        self.listeners.close_all();
        self.drain_waiters.wake_all();
        for (_, entry) in self.registry.borrow().iter() {
            if let Some(w) = entry.waker.borrow_mut().take() {
                w.wake();
            }
        }
    }
}

/// The core's task table: the core's clock, its wall-clock start, its executor.
/// The core's tool breakers and timeouts, from `settings`.
fn guard(settings: &Settings, started: Instant) -> mcp::breaker::Guard {
    let policy = mcp::breaker::Policy {
        failures: settings.breaker_failures as u32,
        open_ms: settings.breaker_open_ms,
        half_open: settings.breaker_half_open_requests as u32,
        timeout_ms: settings.tool_timeout_ms,
    };
    let overrides = settings.tool_timeout_overrides().expect("validated at load");
    mcp::breaker::Guard::new(policy, Box::new(move || started.elapsed().as_millis() as u64), Some(sleep_for))
        .with_timeouts(overrides)
}

/// The core's timer, for the protocol core's waits (server-to-client request timeouts).
pub(crate) fn sleep_for(duration: std::time::Duration) -> mcp::LocalFuture<()> {
    Box::pin(ringmcp_ring::sleep(duration))
}

fn task_table(started: Instant, core: usize) -> TaskTable {
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    TaskTable::new(TaskEnv {
        now_ms: Box::new(move || started.elapsed().as_millis() as u64),
        epoch_unix_ms: since_epoch.as_millis() as u64,
        spawn: Box::new(|fut| ringmcp_ring::spawn(fut).detach()),
        core,
    })
}

/// Wakers of tasks waiting for a core-wide event, one slot per task (re-registering replaces).
#[derive(Default)]
pub(crate) struct WakerSet {
    next: Cell<u64>,
    wakers: RefCell<std::collections::HashMap<u64, Waker>>,
}

impl WakerSet {
    /// A key for one task's slot.
    pub fn key(&self) -> u64 {
        self.next.set(self.next.get() + 1);
        self.next.get()
    }

    /// Sets the task's waker.
    pub fn register(&self, key: u64, waker: &Waker) {
        let mut wakers = self.wakers.borrow_mut();
        match wakers.get_mut(&key) {
            Some(w) if w.will_wake(waker) => {}
            Some(w) => *w = waker.clone(),
            None => drop(wakers.insert(key, waker.clone())),
        }
    }

    /// Frees the task's slot.
    pub fn remove(&self, key: u64) {
        self.wakers.borrow_mut().remove(&key);
    }

    /// Wakes every registered task.
    pub fn wake_all(&self) {
        for (_, w) in self.wakers.borrow_mut().drain() {
            w.wake();
        }
    }
}

/// Runs a request's future to its outcome, unless the core's drain expires first: then the
/// request is answered with the draining overload error (every request read gets exactly one
/// answer, also at shutdown).
pub(crate) async fn run_later(core: &CoreCtx, fut: mcp::LaterAnswer) -> Option<Result<Vec<u8>, RpcError>> {
    let key = core.expiry_waiters.key();
    let expired = std::future::poll_fn(|cx| {
        if core.drain_expired.get() {
            return std::task::Poll::Ready(Some(Err(draining())));
        }
        core.expiry_waiters.register(key, cx.waker());
        std::task::Poll::Pending
    });
    let outcome = futures_lite::future::or(fut, expired).await;
    core.expiry_waiters.remove(key);
    outcome
}

/// The answer to a request that shutdown cuts short: -32010 with `data.reason: "draining"`.
pub(crate) fn draining() -> RpcError {
    RpcError::new(
        code::OVERLOADED,
        "Server shutting down: drain_timeout_ms passed before this request was served; retry on another server",
    )
    .with_data(&sonic_rs::json!({"reason": "draining"}))
}

/// Ends a session's streams and its link to the client (the session is over).
pub(crate) fn close_entry(entry: &SessionEntry) {
    entry.session.borrow().peer.close();
    if let Some(h) = &entry.http {
        h.close();
    }
}
