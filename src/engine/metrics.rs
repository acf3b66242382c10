//! Each core's metrics: plain counters and an HDR latency histogram owned by the core's thread
//! (no atomics on the message path), copied out as a [`CoreSnapshot`] at scrape time and sent
//! by message passing to the core that renders `/metrics` (Prometheus text 0.0.4) or `/health`
//! (JSON). No clock is read here: callers pass `now_ms`, milliseconds since their core started.

use hdrhistogram::Histogram;
use prometheus::proto::MetricType::{self, COUNTER, GAUGE, HISTOGRAM};
use prometheus::proto::{Bucket, Counter, Gauge, LabelPair, Metric, MetricFamily};
use serde::Serialize;
use std::cell::{Cell, RefCell};

/// Method labels: the MCP methods counted by name, then "other" (any other request) and
/// "notification". Index `i` here is the `method_idx` of [`CoreMetrics::record_request`].
const METHOD_LABELS: [&str; 19] = [
    "initialize",
    "ping",
    "tools/list",
    "tools/call",
    "resources/list",
    "resources/read",
    "resources/templates/list",
    "resources/subscribe",
    "resources/unsubscribe",
    "prompts/list",
    "prompts/get",
    "completion/complete",
    "logging/setLevel",
    "tasks/get",
    "tasks/result",
    "tasks/list",
    "tasks/cancel",
    "other",
    "notification",
];
/// Method index of a request whose method is not counted by name.
pub(crate) const METHOD_OTHER: usize = METHOD_LABELS.len() - 2;
/// Method index of a notification (a message without an id).
pub(crate) const METHOD_NOTIFICATION: usize = METHOD_LABELS.len() - 1;

/// JSON-RPC error codes counted one by one (the last slot counts every other code).
const ERROR_CODES: [i32; 11] = [-32700, -32600, -32601, -32602, -32603, -32002, -32010, -32011, -32012, -32013, -32001];
/// Labels of the error counters, in the order of [`ERROR_CODES`], then "other".
const ERROR_LABELS: [&str; ERROR_CODES.len() + 1] = [
    "-32700", "-32600", "-32601", "-32602", "-32603", "-32002", "-32010", "-32011", "-32012", "-32013", "-32001",
    "other",
];

/// HTTP statuses counted one by one (the last slot counts every other status).
const HTTP_STATUSES: [u16; 20] =
    [101, 200, 202, 204, 400, 401, 403, 404, 405, 406, 408, 409, 411, 413, 415, 426, 429, 431, 500, 503];
/// Labels of the HTTP status counters, in the order of [`HTTP_STATUSES`], then "other".
const HTTP_LABELS: [&str; HTTP_STATUSES.len() + 1] = [
    "101", "200", "202", "204", "400", "401", "403", "404", "405", "406", "408", "409", "411", "413", "415", "426",
    "429", "431", "500", "503", "other",
];

/// Smallest latency the histogram tells apart, in microseconds.
const LATENCY_US_MIN: u64 = 1;
/// Largest latency the histogram tracks, in microseconds (60 s); longer ones count as 60 s.
const LATENCY_US_MAX: u64 = 60_000_000;
/// Significant decimal digits the histogram keeps (relative error below 0.1 %).
const LATENCY_SIGNIFICANT_DIGITS: u8 = 3;
/// Upper bounds of the Prometheus latency buckets, in microseconds (rendered in seconds).
const LATENCY_BUCKETS_US: [u64; 16] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000,
    5_000_000, 10_000_000,
];
/// Microseconds per second, for rendering latencies in seconds.
const US_PER_SEC: f64 = 1e6;

/// Seconds of history in the rate window (one bucket per second); `errors_1m` spans all of it.
const WINDOW_SECS: usize = 60;
/// Complete seconds averaged for `throughput_msg_sec`: steadier than the last second alone,
/// and still quick to show a change.
const THROUGHPUT_SECS: u64 = 10;
/// Milliseconds per second, for turning `now_ms` into a window second.
const MS_PER_SEC: u64 = 1_000;
/// Bytes per mebibyte, for `memory_mb` in `/health`.
const BYTES_PER_MIB: f64 = 1_048_576.0;

const _: () = assert!(THROUGHPUT_SECS >= 1 && (THROUGHPUT_SECS as usize) < WINDOW_SECS);
const _: () = assert!(LATENCY_BUCKETS_US[LATENCY_BUCKETS_US.len() - 1] <= LATENCY_US_MAX);
const _: () = assert!(LATENCY_US_MIN <= LATENCY_BUCKETS_US[0]);
const _: () = assert!(Transport::Stdio as usize + 1 == TRANSPORT_COUNT);

/// The transport a connection arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    /// NDJSON over TCP.
    Tcp,
    /// Streamable HTTP (and the `/health`, `/ready`, `/metrics` endpoints).
    Http,
    /// WebSocket at `/mcp/ws`.
    WebSocket,
    /// The single stdin/stdout session.
    Stdio,
}

impl Transport {
    /// Its label in `/metrics` and the access log.
    pub(crate) fn label(self) -> &'static str {
        TRANSPORT_LABELS[self as usize]
    }
}

/// Number of [`Transport`] variants.
pub(crate) const TRANSPORT_COUNT: usize = 4;
/// Labels of the transports, indexed by `Transport as usize`.
pub(crate) const TRANSPORT_LABELS: [&str; TRANSPORT_COUNT] = ["tcp", "http", "websocket", "stdio"];

/// Why a new session was refused (the `reason` label of `ringmcp_session_refusals_total`;
/// decided by `admission`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    /// The transport holds its whole share of this core's registry slice.
    TransportFull = 0,
    /// The client address holds `max_http_sessions_per_address_per_core` HTTP sessions here.
    AddressFull = 1,
    /// The registry slice itself is full (only when shares were rounded up to one session).
    RegistryFull = 2,
    /// No id could be made (the OS random source failed).
    Internal = 3,
}

/// Number of [`Reason`] variants.
pub(crate) const REASON_COUNT: usize = 4;
/// Labels of the reasons, indexed by `Reason as usize` (the `reason` label of `/metrics`).
pub(crate) const REASON_LABELS: [&str; REASON_COUNT] = ["transport_full", "address_full", "registry_full", "internal"];

const _: () = assert!(Reason::Internal as usize + 1 == REASON_COUNT);
/// Directions of cross-core forwarding: requests this core sent, requests it received.
const FORWARD_LABELS: [&str; 2] = ["sent", "received"];

/// The counters of one second of the rate window.
#[derive(Debug, Clone, Copy, Default)]
struct WindowBucket {
    /// Whole seconds since core start that this bucket counts; older contents are stale.
    second: u64,
    messages: u64,
    errors: u64,
}

/// One core's metrics, touched only by that core's thread; every `record_*` is a few plain
/// increments (the latency histogram adds one array increment).
#[derive(Debug)]
pub(crate) struct CoreMetrics {
    messages: [Cell<u64>; METHOD_LABELS.len()],
    errors: [Cell<u64>; ERROR_LABELS.len()],
    connections_open: [Cell<u64>; TRANSPORT_COUNT],
    connections_accepted: [Cell<u64>; TRANSPORT_COUNT],
    http_responses: [Cell<u64>; HTTP_LABELS.len()],
    /// Forwarded requests, indexed like [`FORWARD_LABELS`].
    forwarded: [Cell<u64>; FORWARD_LABELS.len()],
    /// Request latencies in microseconds, clamped to [`LATENCY_US_MAX`].
    latency_us: RefCell<Histogram<u64>>,
    /// Exact (unclamped) sum of the recorded latencies, in microseconds.
    latency_sum_us: Cell<u64>,
    /// Ring of per-second counters; second `s` lives at `s % WINDOW_SECS`.
    window: [Cell<WindowBucket>; WINDOW_SECS],
}

/// Maps a JSON-RPC method name to its counter index: a known method's position, then
/// [`METHOD_NOTIFICATION`] for `notifications/*`, else [`METHOD_OTHER`].
pub(crate) fn method_index(method: &str) -> usize {
    match METHOD_LABELS[..METHOD_OTHER].iter().position(|m| *m == method) {
        Some(i) => i,
        None if method.starts_with("notifications/") => METHOD_NOTIFICATION,
        None => METHOD_OTHER,
    }
}

impl CoreMetrics {
    /// All counters zero; allocates the histogram (about 136 KiB) once, at core start.
    pub(crate) fn new() -> CoreMetrics {
        let hist = Histogram::new_with_bounds(LATENCY_US_MIN, LATENCY_US_MAX, LATENCY_SIGNIFICANT_DIGITS)
            .expect("latency histogram bounds are constants checked at compile time");
        CoreMetrics {
            messages: Default::default(),
            errors: Default::default(),
            connections_open: Default::default(),
            connections_accepted: Default::default(),
            http_responses: Default::default(),
            forwarded: Default::default(),
            latency_us: RefCell::new(hist),
            latency_sum_us: Cell::new(0),
            window: std::array::from_fn(|_| Cell::new(WindowBucket::default())),
        }
    }

    /// Counts one answered request: its method (from [`method_index`]), its latency from read to
    /// answer in nanoseconds (kept in whole microseconds), and its JSON-RPC error code if the
    /// answer was an error. Panics if `method_idx` is not one [`method_index`] can return.
    pub(crate) fn record_request(&self, method_idx: usize, latency_ns: u64, error_code: Option<i32>, now_ms: u64) {
        self.count_request(method_idx, error_code, now_ms);
        self.record_latency(latency_ns, 1);
    }

    /// `count` answered requests that each took `latency_ns` (kept in whole microseconds).
    pub(crate) fn record_latency(&self, latency_ns: u64, count: u64) {
        let us = latency_ns / 1_000;
        self.latency_us.borrow_mut().saturating_record_n(us, count);
        self.latency_sum_us.set(self.latency_sum_us.get().saturating_add(us.saturating_mul(count)));
    }

    /// Counts one answered request's method and error code, without its latency (see
    /// [`CoreMetrics::record_latency`]).
    pub(crate) fn count_request(&self, method_idx: usize, error_code: Option<i32>, now_ms: u64) {
        bump(&self.messages[method_idx]);
        if let Some(code) = error_code {
            let i = ERROR_CODES.iter().position(|c| *c == code).unwrap_or(ERROR_CODES.len());
            bump(&self.errors[i]);
        }
        self.count_in_window(now_ms, error_code.is_some());
    }

    /// Counts one notification (no answer, so no latency and no error).
    pub(crate) fn record_notification(&self, now_ms: u64) {
        bump(&self.messages[METHOD_NOTIFICATION]);
        self.count_in_window(now_ms, false);
    }

    /// Counts one accepted connection (open and accepted-total).
    pub(crate) fn conn_opened(&self, transport: Transport) {
        bump(&self.connections_open[transport as usize]);
        bump(&self.connections_accepted[transport as usize]);
    }

    /// Counts one closed connection; each [`CoreMetrics::conn_opened`] needs exactly one of these.
    pub(crate) fn conn_closed(&self, transport: Transport) {
        let open = &self.connections_open[transport as usize];
        debug_assert!(open.get() > 0, "{transport:?} connection closed more often than opened");
        open.set(open.get().saturating_sub(1));
    }

    /// Counts one HTTP response by status (statuses outside the fixed list count as "other").
    pub(crate) fn record_http_status(&self, status: u16) {
        bump(&self.http_responses[HTTP_STATUSES.iter().position(|s| *s == status).unwrap_or(HTTP_STATUSES.len())]);
    }

    /// Counts one request this core forwarded to the core owning its session.
    pub(crate) fn forwarded_sent(&self) {
        bump(&self.forwarded[0]);
    }

    /// Counts one request another core forwarded to this one.
    pub(crate) fn forwarded_received(&self) {
        bump(&self.forwarded[1]);
    }

    /// Copies out every counter, the cumulative latency buckets and the window rates at `now_ms`;
    /// `core` and the queue, session, pool and state fields are left for the caller to fill.
    pub(crate) fn snapshot(&self, now_ms: u64) -> CoreSnapshot {
        let hist = self.latency_us.borrow();
        let now_s = now_ms / MS_PER_SEC;
        // Seconds 0..now_s are complete; the current one is not, so it would drag the rate down.
        let secs = THROUGHPUT_SECS.min(now_s);
        let recent = self.window_sum(now_s.saturating_sub(secs), now_s.saturating_sub(1)).0;
        CoreSnapshot {
            messages: self.messages.each_ref().map(Cell::get),
            errors: self.errors.each_ref().map(Cell::get),
            connections_open: self.connections_open.each_ref().map(Cell::get),
            connections_accepted: self.connections_accepted.each_ref().map(Cell::get),
            http_responses: self.http_responses.each_ref().map(Cell::get),
            forwarded: self.forwarded.each_ref().map(Cell::get),
            // count_between counts whole HDR buckets, so a bound may take in values up to 0.1 % above it.
            latency_le: LATENCY_BUCKETS_US.map(|le| hist.count_between(0, le)),
            latency_count: hist.len(),
            latency_sum_us: self.latency_sum_us.get(),
            throughput_msg_sec: if secs == 0 { 0.0 } else { recent as f64 / secs as f64 },
            errors_1m: self.window_sum((now_s + 1).saturating_sub(WINDOW_SECS as u64), now_s).1,
            ..CoreSnapshot::default()
        }
    }

    fn count_in_window(&self, now_ms: u64, error: bool) {
        let second = now_ms / MS_PER_SEC;
        let cell = &self.window[(second % WINDOW_SECS as u64) as usize];
        let mut b = cell.get();
        if b.second < second {
            // The slot holds a second at least a full window old: start it afresh.
            b = WindowBucket { second, messages: 0, errors: 0 };
        } else if b.second > second {
            // A caller's `now_ms` a full window behind another's: too old for the window.
            return;
        }
        b.messages += 1;
        b.errors += u64::from(error);
        cell.set(b);
    }

    /// Messages and errors counted in the whole seconds `first..=last` still in the ring.
    fn window_sum(&self, first: u64, last: u64) -> (u64, u64) {
        let live = self.window.iter().map(Cell::get).filter(|b| (first..=last).contains(&b.second));
        live.fold((0, 0), |(m, e), b| (m + b.messages, e + b.errors))
    }
}

impl Default for CoreMetrics {
    fn default() -> Self {
        CoreMetrics::new()
    }
}

/// Adds one to a counter (a `u64` at a billion a second lasts 584 years).
fn bump(c: &Cell<u64>) {
    c.set(c.get() + 1);
}

/// One core's metrics at one moment, sent to the rendering core. Arrays are indexed like the
/// label lists (methods by [`method_index`], transports by `Transport as usize`).
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct CoreSnapshot {
    /// Index of the core (filled by the caller).
    pub core: usize,
    /// Admitted, unanswered requests (filled by the caller).
    pub queue_depth: usize,
    /// The queue's hard capacity (filled by the caller).
    pub queue_capacity: usize,
    /// Requests refused because the queue was over its reject mark (filled by the caller).
    pub queue_rejects: u64,
    /// Sessions in this core's registry slice (filled by the caller).
    pub sessions: usize,
    /// Buffer takes served from the free list (filled by the caller).
    pub pool_hits: u64,
    /// Buffer takes that allocated (filled by the caller).
    pub pool_misses: u64,
    /// Returned buffers freed instead of kept (filled by the caller).
    pub pool_drops: u64,
    /// Buffers in the free list now (filled by the caller).
    pub pool_free_buffers: usize,
    /// The core is shutting down: in `shutdown_delay_ms` or draining (filled by the caller).
    pub draining: bool,
    /// `/ready` answers 200 on this core (filled by the caller).
    pub ready: bool,
    /// Queue depth at which the core reports degraded (filled by the caller).
    pub queue_warn_depth: usize,
    /// `max_connections`: connections admitted at once, all cores together (filled by the
    /// caller).
    pub max_connections: u64,
    /// The core's queue, registry slice or a transport's session share is over its warn mark,
    /// or a tool's circuit breaker is open (filled by the caller).
    pub degraded: bool,
    /// Tool circuit breakers that have counted something: tool, state, trips, rejections
    /// (filled by the caller).
    #[serde(skip)]
    pub breakers: Vec<crate::mcp::breaker::ToolBreaker>,
    /// Most sessions this core's registry slice holds (filled by the caller).
    pub session_capacity: usize,
    /// Sessions in the registry slice by transport (filled by the caller).
    pub transport_sessions: [u64; TRANSPORT_COUNT],
    /// Each transport's share of the registry slice, in sessions (filled by the caller).
    pub transport_session_limits: [u64; TRANSPORT_COUNT],
    /// New sessions refused, by transport then reason (filled by the caller).
    pub session_refusals: [[u64; REASON_COUNT]; TRANSPORT_COUNT],
    /// Messages by method.
    pub messages: [u64; METHOD_LABELS.len()],
    /// Error answers by JSON-RPC code.
    pub errors: [u64; ERROR_LABELS.len()],
    /// Connections open now, by transport.
    pub connections_open: [u64; TRANSPORT_COUNT],
    /// Connections accepted since start, by transport.
    pub connections_accepted: [u64; TRANSPORT_COUNT],
    /// HTTP responses by status.
    pub http_responses: [u64; HTTP_LABELS.len()],
    /// Requests forwarded between cores: sent to their owning core, received from another.
    pub forwarded: [u64; FORWARD_LABELS.len()],
    /// Requests answered within each of [`LATENCY_BUCKETS_US`] (cumulative).
    pub latency_le: [u64; LATENCY_BUCKETS_US.len()],
    /// Requests timed (the histogram's `+Inf` bucket).
    pub latency_count: u64,
    /// Sum of the request latencies, in microseconds.
    pub latency_sum_us: u64,
    /// Messages per second averaged over the last [`THROUGHPUT_SECS`] complete seconds.
    pub throughput_msg_sec: f64,
    /// Error answers in the last [`WINDOW_SECS`] seconds (the current one included).
    pub errors_1m: u64,
    /// The core's ring I/O path, `multishot` or `fallback` (filled by the caller).
    pub io_path: &'static str,
    /// Accepted connections whose first bytes have not come yet (filled by the caller).
    pub connections_unidentified: usize,
    /// TLS handshakes completed since start (filled by the caller).
    pub tls_handshakes_ok: u64,
    /// TLS handshakes that failed or timed out since start (filled by the caller).
    pub tls_handshakes_failed: u64,
    /// Open connections that speak TLS (filled by the caller).
    pub tls_connections: usize,
    /// Bytes of partial frames the core's connections hold (filled by the caller).
    pub partial_frame_bytes: usize,
    /// Connections cut by the partial-frame budget (filled by the caller).
    pub partial_frame_cuts: u64,
    /// Requests refused by rate limits, by scope (ip, identity, session; filled by the caller).
    pub rate_limited: [u64; 3],
    /// New rate-limit keys let through untracked because the table was full (filled by the caller).
    pub ratelimit_table_full: u64,
    /// Keys in the rate-limit table (filled by the caller).
    pub ratelimit_keys: u64,
    /// The core's ring counters (filled by the caller).
    #[serde(skip)]
    pub ring: ringmcp_ring::Stats,
}

/// A family labelled `core` and one more label: name, help, type, label name, label values,
/// and the counts (indexed like the values).
type Labelled =
    (&'static str, &'static str, MetricType, &'static str, &'static [&'static str], fn(&CoreSnapshot) -> &[u64]);
/// The labelled families of `/metrics`.
const LABELLED: [Labelled; 9] = [
    (
        "ringmcp_rate_limited_total",
        "Requests refused by a rate limit (-32013, HTTP 429), by the limit's scope.",
        COUNTER,
        "limit",
        &crate::ratelimit::Scope::LABELS,
        |s| &s.rate_limited,
    ),
    ("ringmcp_messages_total", "Messages handled, by method.", COUNTER, "method", &METHOD_LABELS, |s| &s.messages),
    ("ringmcp_errors_total", "Error answers, by JSON-RPC code.", COUNTER, "code", &ERROR_LABELS, |s| &s.errors),
    ("ringmcp_connections", "Open connections.", GAUGE, "transport", &TRANSPORT_LABELS, |s| &s.connections_open),
    ("ringmcp_connections_accepted_total", "Accepted connections.", COUNTER, "transport", &TRANSPORT_LABELS, |s| {
        &s.connections_accepted
    }),
    ("ringmcp_http_responses_total", "HTTP responses, by status.", COUNTER, "status", &HTTP_LABELS, |s| {
        &s.http_responses
    }),
    ("ringmcp_forwarded_total", "Requests passed between cores.", COUNTER, "direction", &FORWARD_LABELS, |s| {
        &s.forwarded
    }),
    (
        "ringmcp_transport_sessions",
        "Sessions in the core's registry slice, by transport.",
        GAUGE,
        "transport",
        &TRANSPORT_LABELS,
        |s| &s.transport_sessions,
    ),
    (
        "ringmcp_transport_session_limit",
        "Sessions a transport may hold on the core (its share).",
        GAUGE,
        "transport",
        &TRANSPORT_LABELS,
        |s| &s.transport_session_limits,
    ),
];
/// A family labelled `core` only: name, help, type, value.
type Single = (&'static str, &'static str, MetricType, fn(&CoreSnapshot) -> f64);
/// The one-sample-per-core families of `/metrics`.
const SINGLE: [Single; 34] = [
    ("ringmcp_ready", "1 when /ready answers 200 on the core, 0 when it answers 503.", GAUGE, |s| {
        f64::from(u8::from(s.ready))
    }),
    (
        "ringmcp_draining",
        "1 from SIGTERM on (shutdown_delay_ms, then the drain) until the process exits.",
        GAUGE,
        |s| f64::from(u8::from(s.draining)),
    ),
    (
        "ringmcp_degraded",
        "1 when the core's queue, registry slice or a transport's session share is over its warn mark, or a tool's breaker is open.",
        GAUGE,
        |s| f64::from(u8::from(s.degraded)),
    ),
    ("ringmcp_queue_warn_depth", "Queue depth at which the core reports degraded (queue_warn_percent).", GAUGE, |s| {
        s.queue_warn_depth as f64
    }),
    (
        "ringmcp_max_connections",
        "Connections the server admits at once, all cores together (max_connections).",
        GAUGE,
        |s| s.max_connections as f64,
    ),
    (
        "ringmcp_ratelimit_table_full_total",
        "New rate-limit keys let through untracked because the core's table was full.",
        COUNTER,
        |s| s.ratelimit_table_full as f64,
    ),
    ("ringmcp_ratelimit_keys", "Keys in the core's rate-limit table.", GAUGE, |s| s.ratelimit_keys as f64),
    ("ringmcp_queue_depth", "Admitted, unanswered requests.", GAUGE, |s| s.queue_depth as f64),
    ("ringmcp_queue_capacity", "Request queue capacity.", GAUGE, |s| s.queue_capacity as f64),
    ("ringmcp_queue_rejects_total", "Requests refused as overloaded.", COUNTER, |s| s.queue_rejects as f64),
    ("ringmcp_sessions", "Sessions in the core's registry slice.", GAUGE, |s| s.sessions as f64),
    ("ringmcp_session_capacity", "Most sessions the core's registry slice holds.", GAUGE, |s| {
        s.session_capacity as f64
    }),
    ("ringmcp_pool_hits_total", "Buffers reused from the pool.", COUNTER, |s| s.pool_hits as f64),
    ("ringmcp_pool_misses_total", "Buffers allocated because the pool was empty.", COUNTER, |s| s.pool_misses as f64),
    ("ringmcp_pool_drops_total", "Returned buffers freed instead of kept.", COUNTER, |s| s.pool_drops as f64),
    ("ringmcp_pool_free_buffers", "Buffers in the pool's free list.", GAUGE, |s| s.pool_free_buffers as f64),
    (
        "ringmcp_ring_enters_total",
        "io_uring_enter calls (each submits all queued operations and may wait).",
        COUNTER,
        |s| s.ring.enters as f64,
    ),
    ("ringmcp_ring_submissions_total", "Operations submitted to the ring.", COUNTER, |s| s.ring.submitted as f64),
    ("ringmcp_ring_completions_total", "Completions handled.", COUNTER, |s| s.ring.completions as f64),
    ("ringmcp_ring_sends_total", "Sends submitted (one per connection with output per loop turn).", COUNTER, |s| {
        s.ring.sends as f64
    }),
    ("ringmcp_ring_short_sends_total", "Sends that moved fewer bytes than asked (the rest followed).", COUNTER, |s| {
        s.ring.short_sends as f64
    }),
    ("ringmcp_ring_recv_rearms_total", "Multishot receives and accepts armed again after they ended.", COUNTER, |s| {
        s.ring.recv_rearms as f64
    }),
    ("ringmcp_ring_recv_enobufs_total", "Multishot receives ended because the buffer ring was empty.", COUNTER, |s| {
        s.ring.recv_enobufs as f64
    }),
    (
        "ringmcp_ring_recv_pauses_total",
        "Receives paused because a connection held too many unread bytes.",
        COUNTER,
        |s| s.ring.recv_pauses as f64,
    ),
    ("ringmcp_ring_sq_full_total", "Times the submission queue filled and was submitted early.", COUNTER, |s| {
        s.ring.sq_full as f64
    }),
    ("ringmcp_ring_remote_wakes_total", "Wake-ups from other threads through the core's eventfd.", COUNTER, |s| {
        s.ring.remote_wakes as f64
    }),
    (
        "ringmcp_connections_unidentified",
        "Accepted connections that sent nothing yet (transport unknown).",
        GAUGE,
        |s| s.connections_unidentified as f64,
    ),
    ("ringmcp_tls_handshakes_total", "TLS handshakes completed.", COUNTER, |s| s.tls_handshakes_ok as f64),
    (
        "ringmcp_tls_handshake_failures_total",
        "TLS handshakes that failed (bad ClientHello, no shared ALPN or cipher, client certificate refused) or passed tls_handshake_timeout_ms.",
        COUNTER,
        |s| s.tls_handshakes_failed as f64,
    ),
    ("ringmcp_tls_connections", "Open connections that speak TLS.", GAUGE, |s| s.tls_connections as f64),
    ("ringmcp_partial_frame_bytes", "Bytes of unfinished messages the core's connections hold.", GAUGE, |s| {
        s.partial_frame_bytes as f64
    }),
    (
        "ringmcp_partial_frame_cuts_total",
        "Connections cut because partial_frame_bytes_per_core was full.",
        COUNTER,
        |s| s.partial_frame_cuts as f64,
    ),
    ("ringmcp_ring_buffers", "Provided receive buffers in the core's buffer ring.", GAUGE, |s| {
        s.ring.buffers_total as f64
    }),
    ("ringmcp_ring_buffers_out", "Provided buffers holding received bytes not yet read.", GAUGE, |s| {
        s.ring.buffers_out as f64
    }),
];

/// Renders the Prometheus text exposition (format 0.0.4) of all cores, every series labelled
/// with `core`. An empty `snaps` renders nothing.
pub(crate) fn render_prometheus(snaps: &[CoreSnapshot]) -> String {
    let mut fams = Vec::with_capacity(LABELLED.len() + SINGLE.len() + 1);
    for (name, help, kind, label, values, counts) in LABELLED {
        let per_core = |s: &CoreSnapshot| {
            let pairs = values.iter().zip(counts(s));
            pairs.map(|(v, n)| sample(kind, labels(s.core, &[(label, v)]), *n as f64)).collect::<Vec<_>>()
        };
        fams.push(family(name, help, kind, snaps.iter().flat_map(per_core).collect()));
    }
    fams.push(refusals_family(snaps));
    let paths = snaps.iter().map(|s| sample(GAUGE, labels(s.core, &[("path", s.io_path)]), 1.0)).collect();
    fams.push(family("ringmcp_io_path", "The core's ring I/O path (multishot or fallback): always 1.", GAUGE, paths));
    for (name, help, kind, value) in SINGLE {
        let metrics = snaps.iter().map(|s| sample(kind, labels(s.core, &[]), value(s)));
        fams.push(family(name, help, kind, metrics.collect()));
    }
    let help = "Request latency from read to answer, in seconds.";
    fams.push(family("ringmcp_request_duration_seconds", help, HISTOGRAM, snaps.iter().map(histogram).collect()));
    fams.extend(breaker_families(snaps));
    let panics = crate::panics::counts().into_iter().map(|(tool, n)| tool_sample(&tool, n)).collect();
    let help = "Tool handler panics since start, by tool (each answered -32603; the first per tool is logged).";
    fams.push(family("ringmcp_tool_panics_total", help, COUNTER, panics));
    fams.retain(|f| !f.get_metric().is_empty());
    let mut out = String::new();
    if let Err(e) = prometheus::TextEncoder::new().encode_utf8(&fams, &mut out) {
        debug_assert!(false, "metrics encoding failed: {e}");
        log::error!("metrics encoding failed: {e}");
    }
    out
}

/// The tool circuit breakers, per core and tool: `ringmcp_tool_breaker_state` (0 closed, 1
/// half-open, 2 open), `ringmcp_tool_breaker_trips_total`, `ringmcp_tool_breaker_rejections_total`.
fn breaker_families(snaps: &[CoreSnapshot]) -> [MetricFamily; 3] {
    use crate::mcp::breaker::{State, ToolBreaker};
    let each = |kind: MetricType, value: fn(&ToolBreaker) -> f64| {
        let per_core = move |s: &CoreSnapshot| {
            s.breakers
                .iter()
                .map(move |b| sample(kind, labels(s.core, &[("tool", &b.tool)]), value(b)))
                .collect::<Vec<_>>()
        };
        snaps.iter().flat_map(per_core).collect()
    };
    let state = |b: &ToolBreaker| match b.state {
        State::Closed => 0.0,
        State::HalfOpen => 1.0,
        State::Open => 2.0,
    };
    [
        family(
            "ringmcp_tool_breaker_state",
            "A tool's circuit breaker on a core: 0 closed, 1 half-open, 2 open (tools that never failed are not listed).",
            GAUGE,
            each(GAUGE, state),
        ),
        family(
            "ringmcp_tool_breaker_trips_total",
            "Times a tool's circuit breaker opened on a core.",
            COUNTER,
            each(COUNTER, |b| b.trips as f64),
        ),
        family(
            "ringmcp_tool_breaker_rejections_total",
            "Calls a tool's circuit breaker refused on a core (-32011).",
            COUNTER,
            each(COUNTER, |b| b.rejections as f64),
        ),
    ]
}

/// `ringmcp_session_refusals_total{core,transport,reason}`: every pair, zeros included, so
/// that rates work from the first refusal on.
fn refusals_family(snaps: &[CoreSnapshot]) -> MetricFamily {
    let per_core = |s: &CoreSnapshot| {
        let pairs = TRANSPORT_LABELS.iter().enumerate().flat_map(|(t, transport)| {
            REASON_LABELS.iter().enumerate().map(move |(r, reason)| (t, r, *transport, *reason))
        });
        pairs
            .map(|(t, r, transport, reason)| {
                let labels = labels(s.core, &[("transport", transport), ("reason", reason)]);
                sample(COUNTER, labels, s.session_refusals[t][r] as f64)
            })
            .collect::<Vec<_>>()
    };
    let help = "New sessions refused, by transport and reason.";
    family("ringmcp_session_refusals_total", help, COUNTER, snaps.iter().flat_map(per_core).collect())
}

/// A metric family; the encoder prints `help` as its `# HELP` line.
fn family(name: &str, help: &str, kind: MetricType, metrics: Vec<Metric>) -> MetricFamily {
    let mut f = MetricFamily::default();
    f.set_name(name.to_owned());
    f.set_help(help.to_owned());
    f.set_field_type(kind);
    f.set_metric(metrics);
    f
}

/// One counter or gauge sample.
fn sample(kind: MetricType, labels: Vec<LabelPair>, value: f64) -> Metric {
    let mut m = Metric::from_label(labels);
    if kind == GAUGE {
        let mut g = Gauge::default();
        g.set_value(value);
        m.set_gauge(g);
    } else {
        let mut c = Counter::default();
        c.set_value(value);
        m.set_counter(c);
    }
    m
}

/// A process-wide counter sample labelled by tool (no `core` label: the hook is process-wide).
fn tool_sample(tool: &str, n: u64) -> Metric {
    let mut p = LabelPair::default();
    p.set_name("tool".to_owned());
    p.set_value(tool.to_owned());
    sample(COUNTER, vec![p], n as f64)
}

/// One core's `ringmcp_request_duration_seconds`, from its cumulative HDR bucket counts.
fn histogram(s: &CoreSnapshot) -> Metric {
    let mut h = prometheus::proto::Histogram::default();
    h.set_sample_count(s.latency_count);
    h.set_sample_sum(s.latency_sum_us as f64 / US_PER_SEC);
    let buckets = LATENCY_BUCKETS_US.iter().zip(s.latency_le).map(|(le, n)| {
        let mut b = Bucket::default();
        b.set_upper_bound(*le as f64 / US_PER_SEC);
        b.set_cumulative_count(n);
        b
    });
    h.set_bucket(buckets.collect());
    let mut m = Metric::from_label(labels(s.core, &[]));
    m.set_histogram(h);
    m
}

/// The label pairs of one sample: `core` first, then the family's own labels.
fn labels(core: usize, extra: &[(&str, &str)]) -> Vec<LabelPair> {
    let pair = |name: &str, value: &str| {
        let mut p = LabelPair::default();
        p.set_name(name.to_owned());
        p.set_value(value.to_owned());
        p
    };
    let mut v = vec![pair("core", itoa::Buffer::new().format(core))];
    v.extend(extra.iter().map(|(n, val)| pair(n, val)));
    v
}

/// The `/health` document.
#[derive(Serialize)]
struct Health<'a> {
    status: &'static str,
    connections: usize,
    queue_depth: usize,
    memory_mb: f64,
    throughput_msg_sec: f64,
    errors_1m: u64,
    sessions: usize,
    sessions_by_transport: ByTransport<u64>,
    session_fill_percent: SessionFill,
    /// Tools whose circuit breaker is open on some core (then the status is degraded).
    breakers_open: Vec<&'a str>,
    /// Why the status is degraded, where that is not in the numbers (the memory budget).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    reasons: Vec<String>,
    io_path: &'static str,
    cores: Vec<CoreHealth>,
}

/// One number per transport, by name.
#[derive(Serialize)]
struct ByTransport<T> {
    tcp: T,
    http: T,
    websocket: T,
    stdio: T,
}

/// How full the registry slices and the network transports' shares are: on the fullest core,
/// in percent (what the `session_warn_percent` mark is compared with).
#[derive(Serialize)]
struct SessionFill {
    registry: f64,
    tcp: f64,
    http: f64,
    websocket: f64,
}

/// One core's line in `/health`.
#[derive(Serialize)]
struct CoreHealth {
    core: usize,
    connections: u64,
    queue_depth: usize,
    sessions: usize,
    messages: u64,
    throughput_msg_sec: f64,
    io_path: &'static str,
    recv_buffers_out: u64,
}

/// Renders `/health` as JSON: status is "draining" if any core drains, else "degraded" if any
/// core is degraded (its queue, registry slice or a transport's session share over its warn
/// mark, see `session_fill_percent`), else "healthy". `connections_total` is the server-wide open count (every
/// transport); `rss_bytes` comes from [`rss_bytes`]. Rates are rounded to one decimal.
#[cfg(test)]
pub(crate) fn render_health(snaps: &[CoreSnapshot], connections_total: usize, rss_bytes: u64) -> String {
    render_health_with(snaps, connections_total, rss_bytes, None)
}

/// [`render_health`], degraded also when the memory budget says why (`memory`, the
/// document's `reasons`).
pub(crate) fn render_health_with(
    snaps: &[CoreSnapshot],
    connections_total: usize,
    rss_bytes: u64,
    memory: Option<String>,
) -> String {
    let status = if snaps.iter().any(|s| s.draining) {
        "draining"
    } else if snaps.iter().any(|s| s.degraded) || memory.is_some() {
        "degraded"
    } else {
        "healthy"
    };
    let cores: Vec<CoreHealth> = snaps
        .iter()
        .map(|s| CoreHealth {
            core: s.core,
            connections: s.connections_open.iter().sum(),
            queue_depth: s.queue_depth,
            sessions: s.sessions,
            messages: s.messages.iter().sum(),
            throughput_msg_sec: one_decimal(s.throughput_msg_sec),
            io_path: s.io_path,
            recv_buffers_out: s.ring.buffers_out,
        })
        .collect();
    let health = Health {
        status,
        connections: connections_total,
        queue_depth: snaps.iter().map(|s| s.queue_depth).sum(),
        memory_mb: one_decimal(rss_bytes as f64 / BYTES_PER_MIB),
        throughput_msg_sec: one_decimal(snaps.iter().map(|s| s.throughput_msg_sec).sum()),
        errors_1m: snaps.iter().map(|s| s.errors_1m).sum(),
        sessions: snaps.iter().map(|s| s.sessions).sum(),
        sessions_by_transport: {
            let sum = |t: Transport| snaps.iter().map(|s| s.transport_sessions[t as usize]).sum();
            ByTransport {
                tcp: sum(Transport::Tcp),
                http: sum(Transport::Http),
                websocket: sum(Transport::WebSocket),
                stdio: sum(Transport::Stdio),
            }
        },
        session_fill_percent: session_fill(snaps),
        breakers_open: {
            let mut open: Vec<&str> = snaps
                .iter()
                .flat_map(|s| s.breakers.iter())
                .filter(|b| b.state == crate::mcp::breaker::State::Open)
                .map(|b| b.tool.as_str())
                .collect();
            open.sort_unstable();
            open.dedup();
            open
        },
        reasons: memory.into_iter().collect(),
        // Every core runs the same path (one setting, one kernel); "mixed" would be a bug.
        io_path: match snaps.first().map(|s| s.io_path) {
            Some(p) if snaps.iter().all(|s| s.io_path == p) => p,
            Some(_) => "mixed",
            None => "none",
        },
        cores,
    };
    sonic_rs::to_string(&health).expect("health JSON holds only finite numbers and fixed strings")
}

/// The fill of the fullest core's registry slice and of each network transport's fullest share.
fn session_fill(snaps: &[CoreSnapshot]) -> SessionFill {
    let percent = |held: u64, limit: u64| if limit == 0 { 0.0 } else { held as f64 * 100.0 / limit as f64 };
    let fullest = |f: &dyn Fn(&CoreSnapshot) -> f64| one_decimal(snaps.iter().map(f).fold(0.0, f64::max));
    let share = |t: Transport| {
        fullest(&|s: &CoreSnapshot| percent(s.transport_sessions[t as usize], s.transport_session_limits[t as usize]))
    };
    SessionFill {
        registry: fullest(&|s: &CoreSnapshot| percent(s.sessions as u64, s.session_capacity as u64)),
        tcp: share(Transport::Tcp),
        http: share(Transport::Http),
        websocket: share(Transport::WebSocket),
    }
}

/// Rounds to one decimal place, so that `/health` does not print float noise.
fn one_decimal(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Resident set size of this process in bytes, from `/proc/self/statm`; 0 where that cannot be
/// read (not Linux, or /proc not mounted). One small blocking read of a kernel file: call it
/// at scrape time only.
pub(crate) fn rss_bytes() -> u64 {
    let Ok(statm) = std::fs::read_to_string("/proc/self/statm") else { return 0 };
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    // SAFETY: sysconf only reads a system constant; it has no pointers and no preconditions.
    let page_bytes = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages.saturating_mul(u64::try_from(page_bytes).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000;

    #[test]
    fn method_index_covers_known_methods_notifications_and_other() {
        for (i, m) in METHOD_LABELS[..METHOD_OTHER].iter().enumerate() {
            assert_eq!(method_index(m), i);
        }
        assert_eq!(method_index("notifications/initialized"), METHOD_NOTIFICATION);
        assert_eq!(method_index("tools/frobnicate"), METHOD_OTHER);
        assert_eq!((METHOD_LABELS[METHOD_OTHER], METHOD_LABELS[METHOD_NOTIFICATION]), ("other", "notification"));
        for (code, label) in ERROR_CODES.iter().zip(ERROR_LABELS) {
            assert_eq!(code.to_string(), label);
        }
        for (status, label) in HTTP_STATUSES.iter().zip(HTTP_LABELS) {
            assert_eq!(status.to_string(), label);
        }
    }

    #[test]
    fn counters_land_in_their_slots() {
        let m = CoreMetrics::new();
        let call = method_index("tools/call");
        m.record_request(call, 5_000, None, 0);
        m.record_request(call, 5_000, Some(-32602), 0);
        m.record_request(method_index("nope"), 5_000, Some(-32099), 0);
        m.record_notification(0);
        m.conn_opened(Transport::Http);
        m.conn_opened(Transport::Http);
        m.conn_closed(Transport::Http);
        m.conn_opened(Transport::Stdio);
        m.record_http_status(202);
        m.record_http_status(418);
        m.forwarded_sent();
        m.forwarded_received();
        m.forwarded_received();
        let s = m.snapshot(0);
        assert_eq!((s.messages[call], s.messages[METHOD_OTHER], s.messages[METHOD_NOTIFICATION]), (2, 1, 1));
        assert_eq!((s.errors[3], s.errors[ERROR_CODES.len()], s.errors.iter().sum::<u64>()), (1, 1, 2));
        assert_eq!((s.connections_open, s.connections_accepted), ([0, 1, 0, 1], [0, 2, 0, 1]));
        assert_eq!((s.http_responses[2], s.http_responses[HTTP_STATUSES.len()]), (1, 1));
        assert_eq!(s.forwarded, [1, 2]);
        assert_eq!((s.latency_count, s.latency_sum_us), (3, 15));
    }

    #[test]
    fn throughput_averages_the_last_ten_complete_seconds() {
        let m = CoreMetrics::new();
        for sec in 0..20 {
            for _ in 0..sec {
                m.record_request(0, 1_000, None, sec * MS + 500);
            }
        }
        // Seconds 10..=19 hold 10+11+…+19 = 145 messages.
        assert_eq!(m.snapshot(20 * MS + 999).throughput_msg_sec, 14.5);
        // Before ten seconds have passed, divide by the seconds that have.
        let young = CoreMetrics::new();
        (0..6).for_each(|_| young.record_notification(100));
        assert_eq!(young.snapshot(999).throughput_msg_sec, 0.0);
        assert_eq!(young.snapshot(3 * MS).throughput_msg_sec, 2.0);
    }

    #[test]
    fn errors_1m_spans_sixty_seconds_and_stale_buckets_are_zeroed() {
        let m = CoreMetrics::new();
        m.record_request(0, 1_000, Some(-32603), 5 * MS);
        m.record_request(0, 1_000, Some(-32603), 30 * MS);
        assert_eq!(m.snapshot(65 * MS).errors_1m, 1, "second 5 left the window at 65");
        assert_eq!(m.snapshot(64 * MS + 999).errors_1m, 2);
        // 65 shares second 5's slot: the old count must not survive the reuse.
        m.record_request(0, 1_000, Some(-32700), 65 * MS);
        m.record_request(0, 1_000, None, 65 * MS);
        assert_eq!(m.window[5].get().messages, 2);
        assert_eq!(m.snapshot(65 * MS).errors_1m, 2);
        // After more than a minute of silence nothing is left, though every slot is stale, not reset.
        assert_eq!(m.snapshot(200 * MS).errors_1m, 0);
        assert_eq!(m.snapshot(200 * MS).throughput_msg_sec, 0.0);
        // A caller a full window late neither counts nor clobbers the newer second.
        m.record_request(0, 1_000, Some(-32700), 5 * MS);
        assert_eq!(m.window[5].get().second, 65);
        assert_eq!(m.snapshot(65 * MS).errors_1m, 2);
    }

    #[test]
    fn latency_buckets_are_cumulative_and_clamped() {
        let m = CoreMetrics::new();
        for us in [50, 50, 100, 150, 2_000, 70_000_000] {
            m.record_request(0, us * 1_000, None, 0);
        }
        let s = m.snapshot(0);
        assert_eq!(&s.latency_le[..5], &[3, 4, 4, 4, 5]);
        assert_eq!(s.latency_le[LATENCY_BUCKETS_US.len() - 1], 5, "70 s is past every bound");
        assert_eq!(s.latency_count, 6);
        assert_eq!(s.latency_sum_us, 70_002_350);
        assert!(s.latency_le.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn a_batch_counts_each_request_once_with_the_batch_latency() {
        let m = CoreMetrics::new();
        let call = method_index("tools/call");
        for code in [None, None, Some(-32602)] {
            m.count_request(call, code, 0);
        }
        m.record_latency(120_000, 3);
        let s = m.snapshot(0);
        assert_eq!((s.messages[call], s.errors.iter().sum::<u64>()), (3, 1));
        assert_eq!((s.latency_count, s.latency_sum_us), (3, 360));
        assert_eq!(&s.latency_le[..2], &[0, 3], "120 us is in the second bucket, three times");
    }

    fn two_cores() -> Vec<CoreSnapshot> {
        let (a, b) = (CoreMetrics::new(), CoreMetrics::new());
        a.conn_opened(Transport::Tcp);
        b.conn_opened(Transport::WebSocket);
        for _ in 0..3 {
            b.record_request(method_index("tools/call"), 300_000, None, 2 * MS);
        }
        b.record_request(method_index("ping"), 20_000_000_000, Some(-32010), 2 * MS);
        b.record_http_status(200);
        b.forwarded_received();
        let mut snaps = vec![a.snapshot(10 * MS), b.snapshot(10 * MS)];
        snaps[1].core = 1;
        snaps[1].queue_depth = 7;
        snaps[1].queue_capacity = 10_000;
        snaps[1].sessions = 2;
        snaps[0].sessions = 1;
        snaps[0].degraded = true;
        snaps[1].ready = true;
        snaps[1].queue_warn_depth = 8_000;
        for s in &mut snaps {
            s.max_connections = 15_000;
            s.session_capacity = 100;
            s.transport_session_limits = [25, 50, 25, 1];
            s.io_path = "multishot";
        }
        snaps[1].ring.recv_enobufs = 3;
        snaps[0].transport_sessions = [1, 0, 0, 0];
        snaps[1].transport_sessions = [0, 45, 1, 0];
        snaps[1].session_refusals[1] = [7, 2, 0, 0];
        snaps
    }

    #[test]
    fn prometheus_text_has_help_type_and_exact_samples() {
        let text = render_prometheus(&two_cores());
        let lines: Vec<&str> = text.lines().collect();
        for want in [
            "# HELP ringmcp_messages_total Messages handled, by method.",
            "# TYPE ringmcp_messages_total counter",
            r#"ringmcp_messages_total{core="1",method="tools/call"} 3"#,
            r#"ringmcp_messages_total{core="0",method="notification"} 0"#,
            r#"ringmcp_errors_total{core="1",code="-32010"} 1"#,
            "# TYPE ringmcp_connections gauge",
            r#"ringmcp_connections{core="1",transport="websocket"} 1"#,
            r#"ringmcp_connections_accepted_total{core="0",transport="tcp"} 1"#,
            r#"ringmcp_http_responses_total{core="1",status="200"} 1"#,
            r#"ringmcp_queue_depth{core="1"} 7"#,
            r#"ringmcp_queue_capacity{core="1"} 10000"#,
            r#"ringmcp_queue_warn_depth{core="1"} 8000"#,
            r#"ringmcp_ready{core="0"} 0"#,
            r#"ringmcp_ready{core="1"} 1"#,
            r#"ringmcp_degraded{core="0"} 1"#,
            r#"ringmcp_draining{core="1"} 0"#,
            r#"ringmcp_max_connections{core="0"} 15000"#,
            r#"ringmcp_sessions{core="0"} 1"#,
            r#"ringmcp_forwarded_total{core="1",direction="received"} 1"#,
            "# TYPE ringmcp_transport_sessions gauge",
            r#"ringmcp_transport_sessions{core="1",transport="http"} 45"#,
            r#"ringmcp_transport_sessions{core="0",transport="tcp"} 1"#,
            r#"ringmcp_transport_session_limit{core="0",transport="http"} 50"#,
            r#"ringmcp_session_capacity{core="1"} 100"#,
            r#"ringmcp_io_path{core="1",path="multishot"} 1"#,
            r#"ringmcp_ring_recv_enobufs_total{core="1"} 3"#,
            "# TYPE ringmcp_session_refusals_total counter",
            r#"ringmcp_session_refusals_total{core="1",transport="http",reason="transport_full"} 7"#,
            r#"ringmcp_session_refusals_total{core="1",transport="http",reason="address_full"} 2"#,
            r#"ringmcp_session_refusals_total{core="0",transport="websocket",reason="registry_full"} 0"#,
            "# TYPE ringmcp_request_duration_seconds histogram",
            r#"ringmcp_request_duration_seconds_bucket{core="1",le="0.00025"} 0"#,
            r#"ringmcp_request_duration_seconds_bucket{core="1",le="0.5"} 3"#,
            r#"ringmcp_request_duration_seconds_bucket{core="1",le="10"} 3"#,
            r#"ringmcp_request_duration_seconds_bucket{core="1",le="+Inf"} 4"#,
            r#"ringmcp_request_duration_seconds_sum{core="1"} 20.0009"#,
            r#"ringmcp_request_duration_seconds_count{core="1"} 4"#,
        ] {
            assert!(lines.contains(&want), "missing line {want:?} in\n{text}");
        }
        let mut families = 0;
        for (i, line) in lines.iter().enumerate() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                families += 1;
                let name = rest.split(' ').next().unwrap();
                assert!(name.starts_with("ringmcp_"));
                assert!(lines[i + 1].starts_with(&format!("# TYPE {name} ")), "HELP without TYPE: {name}");
            } else if !line.starts_with('#') {
                assert!(line.contains("{core=\""), "sample without a core label: {line}");
            }
        }
        assert_eq!(families, 46);
        let refusal_series = lines.iter().filter(|l| l.starts_with("ringmcp_session_refusals_total{")).count();
        assert_eq!(refusal_series, 2 * TRANSPORT_COUNT * REASON_COUNT, "every pair, zeros included");
        for core in ["0", "1"] {
            let value = |suffix: &str| {
                let prefix = format!("ringmcp_request_duration_seconds_{suffix}{{core=\"{core}\"");
                let line = lines.iter().find(|l| l.starts_with(&prefix) && (suffix != "bucket" || l.contains("+Inf")));
                line.unwrap().rsplit(' ').next().unwrap().to_owned()
            };
            assert_eq!(value("bucket"), value("count"));
        }
        assert_eq!(render_prometheus(&[]), "");
    }

    #[test]
    fn health_json_has_exactly_the_documented_fields() {
        let mut snaps = two_cores();
        let json = render_health(&snaps, 2, 3 * 1_048_576 + 200_000);
        let v: sonic_rs::Value = sonic_rs::from_str(&json).unwrap();
        use sonic_rs::{JsonContainerTrait, JsonValueTrait};
        let keys: Vec<&str> = v.as_object().unwrap().iter().map(|(k, _)| k).collect();
        let want = [
            "status",
            "connections",
            "queue_depth",
            "memory_mb",
            "throughput_msg_sec",
            "errors_1m",
            "sessions",
            "sessions_by_transport",
            "session_fill_percent",
            "breakers_open",
            "io_path",
            "cores",
        ];
        assert_eq!(keys, want);
        assert_eq!(
            sonic_rs::to_string(&v["sessions_by_transport"]).unwrap(),
            r#"{"tcp":1,"http":45,"websocket":1,"stdio":0}"#
        );
        // The fullest core wins: core 1's registry slice holds 2 of 100, core 0's 1.
        assert_eq!(
            sonic_rs::to_string(&v["session_fill_percent"]).unwrap(),
            r#"{"registry":2.0,"tcp":4.0,"http":90.0,"websocket":4.0}"#
        );
        assert_eq!(v["status"].as_str(), Some("degraded"));
        assert_eq!((v["connections"].as_u64(), v["queue_depth"].as_u64()), (Some(2), Some(7)));
        assert_eq!(
            (v["memory_mb"].as_f64(), v["errors_1m"].as_u64(), v["sessions"].as_u64()),
            (Some(3.2), Some(1), Some(3))
        );
        assert_eq!(v["throughput_msg_sec"].as_f64(), Some(0.4));
        let core1 = &v["cores"][1];
        let keys: Vec<&str> = core1.as_object().unwrap().iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            [
                "core",
                "connections",
                "queue_depth",
                "sessions",
                "messages",
                "throughput_msg_sec",
                "io_path",
                "recv_buffers_out"
            ]
        );
        assert_eq!(
            (core1["core"].as_u64(), core1["connections"].as_u64(), core1["messages"].as_u64()),
            (Some(1), Some(1), Some(4))
        );
        snaps[1].draining = true;
        assert!(render_health(&snaps, 0, 0).starts_with(r#"{"status":"draining","#));
        snaps.iter_mut().for_each(|s| (s.draining, s.degraded) = (false, false));
        assert!(render_health(&snaps, 0, 0).starts_with(r#"{"status":"healthy","#));
    }

    #[test]
    fn rss_is_nonzero_on_linux() {
        assert!(rss_bytes() > 0);
    }
}
