//! Every limit and default of ringmcp, in one place, each named with its unit.
//!
//! The configurable ones are the defaults of [`crate::config::Settings`]; their accepted ranges
//! live beside them here so that `--help`, the README and the validation error all agree.
//! Related limits are checked against each other at compile time.

/// Default listen address (the seed's port 9999, loopback only until the operator opens it).
pub const LISTEN_DEFAULT: &str = "127.0.0.1:9999";

/// Default of `max_json_depth`: the deepest nesting of arrays and objects a message may have
/// (the message object itself is level 1). Checked by the fast scanner, without recursion,
/// before anything else reads the message; deeper → -32600. MCP messages nest a handful of
/// levels; schemas and structured arguments rarely pass 20.
pub const MAX_JSON_DEPTH_DEFAULT: u64 = 128;
/// Accepted range of `max_json_depth`; its top is the scanner's fixed stack ([`JSON_DEPTH_CAP`]).
pub const MAX_JSON_DEPTH_RANGE: (u64, u64) = (2, JSON_DEPTH_CAP as u64);
/// Deepest nesting the scanner can track at all: its bracket stack is this many bits.
pub const JSON_DEPTH_CAP: usize = 1_024;

/// Default `listen(2)` backlog per core's socket; the kernel caps it at `net.core.somaxconn`.
pub const BACKLOG_DEFAULT: u32 = 65_535;
/// Accepted range of `backlog`.
pub const BACKLOG_RANGE: (u64, u64) = (1, 1 << 20);

/// Default cap on open connections for the whole server (all cores together).
pub const MAX_CONNECTIONS_DEFAULT: u64 = 15_000;
/// Accepted range of `max_connections`.
pub const MAX_CONNECTIONS_RANGE: (u64, u64) = (1, 10_000_000);

/// Default longest accepted JSON-RPC message (one NDJSON line), in bytes: 16 MiB.
pub const MAX_MESSAGE_BYTES_DEFAULT: u64 = 16 << 20;
/// Accepted range of `max_message_bytes`.
pub const MAX_MESSAGE_BYTES_RANGE: (u64, u64) = (1 << 10, 1 << 30);

/// Default capacity of each core's request queue (admitted, unanswered requests).
pub const QUEUE_CAPACITY_DEFAULT: u64 = 10_000;
/// Accepted range of `queue_capacity`.
pub const QUEUE_CAPACITY_RANGE: (u64, u64) = (1, 10_000_000);

/// Default queue fill, in percent of capacity, at which a core warns and reports degraded.
pub const QUEUE_WARN_PERCENT_DEFAULT: u64 = 75;
/// Default queue fill, in percent of capacity, at which new requests are rejected.
pub const QUEUE_REJECT_PERCENT_DEFAULT: u64 = 95;
/// Accepted range of both queue percentages.
pub const PERCENT_RANGE: (u64, u64) = (1, 100);

/// Default number of requests one connection may have in flight before it is no longer read.
pub const MAX_INFLIGHT_PER_CONNECTION_DEFAULT: u64 = 1024;
/// Accepted range of `max_inflight_per_connection`.
pub const MAX_INFLIGHT_PER_CONNECTION_RANGE: (u64, u64) = (1, 1 << 20);

/// Default time, in milliseconds, that shutdown waits for in-flight requests to finish.
pub const DRAIN_TIMEOUT_MS_DEFAULT: u64 = 10_000;
/// Accepted range of `drain_timeout_ms`.
pub const DRAIN_TIMEOUT_MS_RANGE: (u64, u64) = (0, 3_600_000);

/// Default of `shutdown_delay_ms`: milliseconds between SIGTERM/SIGINT and the start of the
/// drain, during which `/ready` answers 503 while everything else is served as usual, so a
/// load balancer's health check takes the node out of its pool before the listener closes.
/// 0: drain at once.
pub const SHUTDOWN_DELAY_MS_DEFAULT: u64 = 0;
/// Accepted range of `shutdown_delay_ms`.
pub const SHUTDOWN_DELAY_MS_RANGE: (u64, u64) = (0, 600_000);

/// Longest `node_id`, in characters (a DNS label, like a pod name: `[a-z0-9-]`, 1 to 63).
pub const NODE_ID_CHARS_MAX: usize = 63;

/// Default size of one pooled buffer, in bytes. Most MCP messages fit one; a longer line
/// borrows a larger buffer up to `max_message_bytes` and gives it back.
pub const BUFFER_BYTES_DEFAULT: u64 = 64 << 10;
/// Accepted range of `buffer_bytes`.
pub const BUFFER_BYTES_RANGE: (u64, u64) = (1 << 10, 16 << 20);

/// Default number of free buffers each core's pool keeps for reuse (more are freed on return).
pub const POOL_BUFFERS_PER_CORE_DEFAULT: u64 = 256;
/// Accepted range of `pool_buffers_per_core`.
pub const POOL_BUFFERS_PER_CORE_RANGE: (u64, u64) = (0, 1 << 20);

/// Default number of items per page of `tools/list`, `resources/list`, `prompts/list`, ….
pub const LIST_PAGE_SIZE_DEFAULT: u64 = 100;
/// Accepted range of `list_page_size`.
pub const LIST_PAGE_SIZE_RANGE: (u64, u64) = (1, 10_000);

/// Default most sessions one core's slice of the registry holds.
pub const MAX_SESSIONS_PER_CORE_DEFAULT: u64 = 65_536;
/// Accepted range of `max_sessions_per_core`.
pub const MAX_SESSIONS_PER_CORE_RANGE: (u64, u64) = (1, 10_000_000);

/// Default number of registry shards (a power of two).
pub const SHARD_COUNT_DEFAULT: u64 = ringmcp_shards::DEFAULT_SHARD_COUNT as u64;
/// Accepted range of `shard_count` (and it must be a power of two, at least the core count).
pub const SHARD_COUNT_RANGE: (u64, u64) = (1, ringmcp_shards::SHARD_COUNT_MAX as u64);

/// Default retry hint, in milliseconds, sent with an overload error.
pub const OVERLOAD_RETRY_AFTER_MS_DEFAULT: u64 = 50;
/// Accepted range of `overload_retry_after_ms`.
pub const OVERLOAD_RETRY_AFTER_MS_RANGE: (u64, u64) = (1, 60_000);

/// Default of `max_header_bytes`: an HTTP request's line and headers (more → 431).
pub const MAX_HEADER_BYTES_DEFAULT: u64 = 16 << 10;
/// Range of `max_header_bytes`.
pub const MAX_HEADER_BYTES_RANGE: (u64, u64) = (1 << 10, 1 << 20);

/// Default of `header_timeout_ms`: time to receive a whole HTTP request head.
pub const HEADER_TIMEOUT_MS_DEFAULT: u64 = 10_000;
/// Range of `header_timeout_ms`.
pub const HEADER_TIMEOUT_MS_RANGE: (u64, u64) = (100, 3_600_000);

/// Default of `idle_timeout_ms`: a keep-alive HTTP connection with no request is closed.
pub const IDLE_TIMEOUT_MS_DEFAULT: u64 = 60_000;
/// Range of `idle_timeout_ms`.
pub const IDLE_TIMEOUT_MS_RANGE: (u64, u64) = (100, 86_400_000);

/// Default of `spin_before_park_us`: a core polls this long before it sleeps. Waking a sleeping
/// core costs tens of µs on a VM; with 50 µs of polling, one stdio session at 16 in flight went
/// from 97K to 130–140K msg/s and TCP at 1 × 1 from 6K to 8.7K (bench/README.md).
pub const SPIN_BEFORE_PARK_US_DEFAULT: u64 = 50;
/// Range of `spin_before_park_us`.
pub const SPIN_BEFORE_PARK_US_RANGE: (u64, u64) = (0, 10_000);

/// Default of `recv_buffers`: provided receive buffers per core (8 MiB at 4 KiB each).
pub const RECV_BUFFERS_DEFAULT: u64 = ringmcp_ring::limits::RECV_BUFFERS_DEFAULT as u64;
/// Range of `recv_buffers` (the kernel allows at most 32,768 per ring).
pub const RECV_BUFFERS_RANGE: (u64, u64) = (1, ringmcp_ring::limits::RECV_BUFFERS_MAX as u64);

/// Default of `recv_buffer_bytes`: one provided receive buffer.
pub const RECV_BUFFER_BYTES_DEFAULT: u64 = ringmcp_ring::limits::RECV_BUFFER_BYTES_DEFAULT as u64;
/// Range of `recv_buffer_bytes`.
pub const RECV_BUFFER_BYTES_RANGE: (u64, u64) = (64, 1 << 20);

/// Default of `send_buffer_bytes`: 0 leaves SO_SNDBUF to the kernel (autotuned).
pub const SEND_BUFFER_BYTES_DEFAULT: u64 = 0;
/// Range of `send_buffer_bytes` (the kernel doubles the value and clamps it to wmem_max).
pub const SEND_BUFFER_BYTES_RANGE: (u64, u64) = (0, 1 << 30);

/// Default of `frame_timeout_ms`: a started NDJSON line or WebSocket frame must end this soon.
pub const FRAME_TIMEOUT_MS_DEFAULT: u64 = 10_000;
/// Range of `frame_timeout_ms`.
pub const FRAME_TIMEOUT_MS_RANGE: (u64, u64) = (100, 3_600_000);

/// Default of `partial_frame_bytes_per_core`: bytes of unfinished frames one core holds for all
/// its connections (2,000 slow clients × 60 KB partial lines would be 120 MB without it).
pub const PARTIAL_FRAME_BYTES_PER_CORE_DEFAULT: u64 = 64 << 20;
/// Range of `partial_frame_bytes_per_core`.
pub const PARTIAL_FRAME_BYTES_PER_CORE_RANGE: (u64, u64) = (64 << 10, 1 << 40);

/// Smallest buffer, in bytes, a connection keeps a partial frame in (sized to the bytes held,
/// rounded up to a power of two, so that the partial-frame budget counts real memory).
pub const PARTIAL_FRAME_MIN_BYTES: usize = 256;

/// Capacity, in bytes, past which an idle connection (no partial frame, nothing to write)
/// frees its read buffer instead of keeping it for the next message.
pub const IDLE_BUFFER_KEPT_BYTES: usize = 4 << 10;

/// Replies one HTTP request's channel holds at least (SSE events waiting for a slow reader);
/// past it the reader's live stream ends and it resumes from the replay buffer.
pub const SSE_QUEUE_EVENTS: usize = 1_024;

/// Milliseconds a request forwarded to its session's core may wait to be taken from that
/// core's inbox before the client gets 503.
pub const FORWARD_PICKUP_TIMEOUT_MS: u64 = 5_000;

/// Default of `session_idle_timeout_ms`: a Streamable HTTP session nobody used is ended.
pub const SESSION_IDLE_TIMEOUT_MS_DEFAULT: u64 = 1_800_000;
/// Range of `session_idle_timeout_ms`.
pub const SESSION_IDLE_TIMEOUT_MS_RANGE: (u64, u64) = (1_000, 604_800_000);

/// Default of `client_request_timeout_ms`: how long a tool waits for the client's answer to
/// sampling, elicitation or roots requests.
pub const CLIENT_REQUEST_TIMEOUT_MS_DEFAULT: u64 = 60_000;
/// Range of `client_request_timeout_ms`.
pub const CLIENT_REQUEST_TIMEOUT_MS_RANGE: (u64, u64) = (10, 3_600_000);

/// Default of `tool_timeout_ms`: how long one tool call (an async handler) may run before it
/// is answered -32012 and dropped; tasks are not timed out. Above the client request timeout,
/// so a tool waiting for its client fails on that first.
pub const TOOL_TIMEOUT_MS_DEFAULT: u64 = 300_000;
/// Range of `tool_timeout_ms` (0: no timeout).
pub const TOOL_TIMEOUT_MS_RANGE: (u64, u64) = (0, 86_400_000);

/// Default of `breaker_failures`: consecutive failures of a tool that open its breaker (the
/// seed design's 5).
pub const BREAKER_FAILURES_DEFAULT: u64 = 5;
/// Range of `breaker_failures` (0: no breakers).
pub const BREAKER_FAILURES_RANGE: (u64, u64) = (0, 1_000_000);

/// Default of `breaker_open_ms`: how long an open breaker refuses calls (the seed's 30 s).
pub const BREAKER_OPEN_MS_DEFAULT: u64 = 30_000;
/// Range of `breaker_open_ms`.
pub const BREAKER_OPEN_MS_RANGE: (u64, u64) = (10, 86_400_000);

/// Default of `breaker_half_open_requests`: probe calls let through at once after the open
/// period (the seed's 3).
pub const BREAKER_HALF_OPEN_REQUESTS_DEFAULT: u64 = 3;
/// Range of `breaker_half_open_requests`.
pub const BREAKER_HALF_OPEN_REQUESTS_RANGE: (u64, u64) = (1, 10_000);

/// Default of `sse_replay_events`: events one SSE stream keeps for `Last-Event-ID` replay.
pub const SSE_REPLAY_EVENTS_DEFAULT: u64 = 256;
/// Range of `sse_replay_events`.
pub const SSE_REPLAY_EVENTS_RANGE: (u64, u64) = (0, 65_536);

/// Default of `sse_keepalive_ms`: an SSE stream with nothing to send gets a comment line.
pub const SSE_KEEPALIVE_MS_DEFAULT: u64 = 15_000;
/// Range of `sse_keepalive_ms`.
pub const SSE_KEEPALIVE_MS_RANGE: (u64, u64) = (100, 3_600_000);

/// Default `allowed_hosts`: loopback names (any port).
pub const ALLOWED_HOSTS_DEFAULT: &[&str] = &["localhost", "127.0.0.1", "[::1]"];
/// Default `allowed_origins`: loopback pages (any port, http or https).
pub const ALLOWED_ORIGINS_DEFAULT: &[&str] = &[
    "http://localhost",
    "https://localhost",
    "http://127.0.0.1",
    "https://127.0.0.1",
    "http://[::1]",
    "https://[::1]",
];

/// Resource subscriptions one session may hold.
pub const MAX_SUBSCRIPTIONS_PER_SESSION: usize = 1_024;

/// SSE streams (request streams and the GET stream) one Streamable HTTP session keeps for
/// resumption; the oldest finished one is forgotten first.
pub const SSE_STREAMS_PER_SESSION: usize = 32;

/// Milliseconds between two sweeps of idle Streamable HTTP sessions.
pub const SESSION_SWEEP_MS: u64 = 1_000;

/// Messages one core may have queued for another (cross-core forwarding, scrapes); past it,
/// the forwarding request is answered 503.
pub const MESH_QUEUE_MESSAGES: usize = 65_536;

/// Most values a `completion/complete` answer carries (the MCP spec's cap).
pub const COMPLETION_VALUES_MAX: usize = 100;

/// Longest pause, in milliseconds, that the `sleep` tool of the `bench` pack accepts.
pub const SLEEP_MS_MAX: u64 = 600_000;

/// Tasks (task-augmented `tools/call`, MCP 2025-11-25) one core keeps, running or finished,
/// all sessions together; past it, a new task is refused with -32010 (overloaded).
pub const MAX_TASKS_PER_CORE: usize = 4_096;
/// Tasks one session may hold at once (the spec asks for a per-requestor cap).
pub const MAX_TASKS_PER_SESSION: usize = 256;
/// A task's lifetime, in milliseconds from its creation, when the client asks for none.
pub const TASK_TTL_MS_DEFAULT: u64 = 300_000;
/// Longest task lifetime, in milliseconds; a longer requested `ttl` is cut to it. After it a
/// task and its result are deleted (a running task is cancelled).
pub const TASK_TTL_MS_MAX: u64 = 3_600_000;
/// The `pollInterval` suggested to clients polling `tasks/get`, in milliseconds.
pub const TASK_POLL_INTERVAL_MS: u64 = 1_000;

/// Most bytes of a request id the server keeps to answer an asynchronous request.
/// Longer ids are still answered: they are kept on the heap instead of inline.
pub const INLINE_ID_BYTES: usize = 40;

/// Milliseconds connections get, once `drain_timeout_ms` has passed, to write the draining
/// error to every request still unanswered before the core stops.
pub const DRAIN_EXPIRED_GRACE_MS: u64 = 1_000;

/// How often, in milliseconds, a draining core checks whether its connections are done.
pub const DRAIN_POLL_MS: u64 = 10;

/// Most bytes of stdin read in one chunk by the stdio transport.
pub const STDIO_READ_CHUNK_BYTES: usize = 64 << 10;

/// Bytes drawn from the OS random source at once for ids (64 ids of 16 bytes). One
/// `getrandom(2)` per id cost 243 ns on the dev VM, one per 1 KiB 30 ns per id; minting a
/// session id takes about one draw per core (ids of other cores' shards are drawn again).
pub const ID_BATCH_BYTES: usize = 1 << 10;

const _: () = assert!(ID_BATCH_BYTES.is_multiple_of(16) && ID_BATCH_BYTES >= 16);

// ---- Session admission: no transport and no client address can lock the others out ----
//
// Each core's registry slice (`max_sessions_per_core`) is split into one share per transport,
// in percent; the shares add up to at most 100 %, so a flood on one transport fills its own
// share and never the registry: the others keep theirs. Streamable HTTP sessions are not bound
// to a connection (so `max_connections` does not bound them), hence two more limits: a cap per
// client address, and a short deadline for sessions that never come back after `initialize`.

/// Default share, in percent of `max_sessions_per_core`, that Streamable HTTP sessions may use.
pub const HTTP_SESSION_SHARE_PERCENT_DEFAULT: u64 = 50;
/// Default share, in percent of `max_sessions_per_core`, that NDJSON/TCP sessions may use: 25 %
/// of 65,536 is 16,384, more than `max_connections`, so by default only that cap binds them.
pub const TCP_SESSION_SHARE_PERCENT_DEFAULT: u64 = 25;
/// Default share, in percent of `max_sessions_per_core`, that WebSocket sessions may use (as TCP).
pub const WEBSOCKET_SESSION_SHARE_PERCENT_DEFAULT: u64 = 25;
/// Accepted range of each transport's share; together they may not exceed 100.
pub const SESSION_SHARE_PERCENT_RANGE: (u64, u64) = (1, 100);
/// Sessions of the stdio transport: a `ringmcp stdio` process serves exactly one.
pub const STDIO_SESSIONS_MAX: usize = 1;

/// Default most Streamable HTTP sessions one client address holds on one core (cores count
/// their own: shared-nothing, so an address holds at most this × cores). A few hundred: a
/// client host keeps a handful per server, the SDK and conformance suites (all from 127.0.0.1)
/// stay under 100 per core, `bench/run http-64` opens 64; over it → 429.
pub const MAX_HTTP_SESSIONS_PER_ADDRESS_PER_CORE_DEFAULT: u64 = 256;
/// Accepted range of `max_http_sessions_per_address_per_core`.
pub const MAX_HTTP_SESSIONS_PER_ADDRESS_PER_CORE_RANGE: (u64, u64) = (1, 10_000_000);
/// IPv6 clients are counted per prefix of this many bits (one /64 is one subscriber's
/// network, and its holder can pick any of its 2^64 addresses); IPv4 per address.
pub const CLIENT_IPV6_PREFIX_BITS: u32 = 64;

/// Default of `session_handshake_timeout_ms`: a Streamable HTTP session whose client sends
/// nothing more after `initialize` (no `notifications/initialized`, no request) ends after
/// this. Clients send the notification at once (one round trip: milliseconds, a second on a
/// bad mobile link); 5 s covers that with room, and frees what a flood minted within seconds
/// instead of after `session_idle_timeout_ms`.
pub const SESSION_HANDSHAKE_TIMEOUT_MS_DEFAULT: u64 = 5_000;
/// Range of `session_handshake_timeout_ms` (at most `session_idle_timeout_ms`, checked at load).
pub const SESSION_HANDSHAKE_TIMEOUT_MS_RANGE: (u64, u64) = (100, 3_600_000);

/// Default fill, in percent of a core's registry slice or of one transport's share, at or
/// above which `/health` reports `degraded` (and which the operator should alert on).
pub const SESSION_WARN_PERCENT_DEFAULT: u64 = 90;

/// Milliseconds between two log lines about refused sessions of one transport and reason (a
/// flood is refused hundreds of thousands of times a second; the line counts them).
pub const SESSION_REFUSAL_LOG_MS: u64 = 10_000;

const _: () = assert!(
    HTTP_SESSION_SHARE_PERCENT_DEFAULT + TCP_SESSION_SHARE_PERCENT_DEFAULT + WEBSOCKET_SESSION_SHARE_PERCENT_DEFAULT
        <= 100
);
const _: () =
    assert!(MAX_SESSIONS_PER_CORE_DEFAULT * TCP_SESSION_SHARE_PERCENT_DEFAULT / 100 >= MAX_CONNECTIONS_DEFAULT);
const _: () =
    assert!(MAX_SESSIONS_PER_CORE_DEFAULT * WEBSOCKET_SESSION_SHARE_PERCENT_DEFAULT / 100 >= MAX_CONNECTIONS_DEFAULT);
const _: () = assert!(
    MAX_HTTP_SESSIONS_PER_ADDRESS_PER_CORE_DEFAULT
        <= MAX_SESSIONS_PER_CORE_DEFAULT * HTTP_SESSION_SHARE_PERCENT_DEFAULT / 100
);
const _: () = assert!(SESSION_HANDSHAKE_TIMEOUT_MS_DEFAULT <= SESSION_IDLE_TIMEOUT_MS_DEFAULT);
const _: () = assert!(SESSION_HANDSHAKE_TIMEOUT_MS_RANGE.0 <= SESSION_IDLE_TIMEOUT_MS_RANGE.0);
const _: () = assert!(SESSION_WARN_PERCENT_DEFAULT <= PERCENT_RANGE.1);
const _: () = assert!(CLIENT_IPV6_PREFIX_BITS <= 128);

const _: () = assert!(QUEUE_WARN_PERCENT_DEFAULT < QUEUE_REJECT_PERCENT_DEFAULT);
const _: () = assert!(QUEUE_REJECT_PERCENT_DEFAULT <= PERCENT_RANGE.1);
const _: () = assert!(BUFFER_BYTES_DEFAULT <= MAX_MESSAGE_BYTES_DEFAULT);
const _: () = assert!(SHARD_COUNT_DEFAULT.is_power_of_two());
const _: () = assert!(MAX_SESSIONS_PER_CORE_DEFAULT >= MAX_CONNECTIONS_DEFAULT);
const _: () = assert!(COMPLETION_VALUES_MAX == 100);
const _: () = assert!(MAX_TASKS_PER_SESSION <= MAX_TASKS_PER_CORE);
const _: () = assert!(TASK_TTL_MS_DEFAULT <= TASK_TTL_MS_MAX);
const _: () = assert!(MAX_JSON_DEPTH_DEFAULT <= JSON_DEPTH_CAP as u64 && JSON_DEPTH_CAP.is_multiple_of(64));

/// How long a `requestState` of an input-required result (MCP 2026-07-28) stays valid, in
/// milliseconds: the client must retry with its answers within this time. Ten minutes leave a
/// person time to answer an elicitation form.
pub const REQUEST_STATE_TTL_MS: u64 = 600_000;
/// Longest `requestState` accepted back, in bytes (it carries the answers collected so far;
/// longer ones were not issued here).
pub const REQUEST_STATE_MAX_BYTES: usize = 1 << 20;
/// Most input requests one input-required result may carry (a handler asking for more is a
/// bug in it; the call ends with -32603).
pub const INPUT_REQUESTS_MAX: usize = 64;
/// Fewest bytes a `request_state_secret_file` must hold (the HMAC key's strength).
pub const REQUEST_STATE_SECRET_MIN_BYTES: usize = 32;

/// Default of `auth_clock_skew_s`: seconds of leeway on a token's `exp` and `nbf` (clocks of
/// the authorization server and this server disagree a little).
pub const AUTH_CLOCK_SKEW_S_DEFAULT: u64 = 60;
/// Accepted range of `auth_clock_skew_s`.
pub const AUTH_CLOCK_SKEW_S_RANGE: (u64, u64) = (0, 600);
/// Default of `auth_jwks_refresh_s`: seconds between scheduled JWKS fetches from
/// `auth_jwks_url` (on the `ringmcp-jwks` thread).
pub const AUTH_JWKS_REFRESH_S_DEFAULT: u64 = 300;
/// Accepted range of `auth_jwks_refresh_s`.
pub const AUTH_JWKS_REFRESH_S_RANGE: (u64, u64) = (30, 86_400);
/// Default of `auth_jwks_min_refresh_interval_ms`: fewest milliseconds between two JWKS
/// fetches asked for by tokens naming an unknown `kid` (forged kids cost at most one fetch
/// per interval).
pub const AUTH_JWKS_MIN_REFRESH_INTERVAL_MS_DEFAULT: u64 = 10_000;
/// Accepted range of `auth_jwks_min_refresh_interval_ms`.
pub const AUTH_JWKS_MIN_REFRESH_INTERVAL_MS_RANGE: (u64, u64) = (0, 3_600_000);
/// Default of `auth_jwks_refresh_wait_ms`: milliseconds a request with an unknown `kid` waits
/// for the refresh it triggered before it gets 401 (the core does not block meanwhile).
pub const AUTH_JWKS_REFRESH_WAIT_MS_DEFAULT: u64 = 2_000;
/// Accepted range of `auth_jwks_refresh_wait_ms`.
pub const AUTH_JWKS_REFRESH_WAIT_MS_RANGE: (u64, u64) = (0, 30_000);
/// How often a request waiting for a JWKS refresh looks whether new keys arrived, in
/// milliseconds.
pub const AUTH_JWKS_WAIT_POLL_MS: u64 = 5;
/// Longest bearer token looked at, in bytes; longer ones are refused unread.
pub const MAX_TOKEN_BYTES: usize = 8 << 10;
/// Time budget of one JWKS fetch (connect, TLS, request, body), in milliseconds.
pub const JWKS_FETCH_TIMEOUT_MS: u64 = 5_000;
/// Largest JWKS document read, in bytes.
pub const JWKS_MAX_BYTES: u64 = 1 << 20;
const _: () = assert!(AUTH_JWKS_WAIT_POLL_MS < AUTH_JWKS_REFRESH_WAIT_MS_DEFAULT);
/// Default of `rate_limit_max_keys_per_core`: client addresses, identities and sessions one
/// core's rate-limit table tracks at once (about 64 bytes each). Idle keys (a full bucket) are
/// swept every `SESSION_SWEEP_MS`; a new key past the cap is let through untracked and counted
/// (`ringmcp_ratelimit_table_full_total`).
pub const RATE_LIMIT_MAX_KEYS_PER_CORE_DEFAULT: u64 = 65_536;
/// Accepted range of `rate_limit_max_keys_per_core`.
pub const RATE_LIMIT_MAX_KEYS_PER_CORE_RANGE: (u64, u64) = (1, 10_000_000);
/// Most `rate_limit` rules (each request is checked against every rule that applies).
pub const RATE_LIMIT_RULES_MAX: usize = 64;

/// Default of `memory_limit_bytes`: 0, detect (the cgroup limit, else [`MEMORY_RAM_PERCENT`] of RAM).
pub const MEMORY_LIMIT_BYTES_DEFAULT: u64 = 0;
/// Accepted range of `memory_limit_bytes` (0: detect; up to 1 PiB).
pub const MEMORY_LIMIT_BYTES_RANGE: (u64, u64) = (0, 1 << 50);
/// Percent of the machine's RAM (`MemTotal`) the memory limit is when no cgroup limits it.
pub const MEMORY_RAM_PERCENT: u64 = 80;
/// Default RSS, in percent of the memory limit, at which `/health` reports degraded.
pub const MEMORY_WARN_PERCENT_DEFAULT: u64 = 80;
/// Default RSS, in percent of the memory limit, at which new connections, sessions and
/// requests are refused (the seeds' backpressure at 90 % memory).
pub const MEMORY_REJECT_PERCENT_DEFAULT: u64 = 90;
/// How often the `ringmcp-memory` thread samples the RSS, in milliseconds.
pub const MEMORY_SAMPLE_MS: u64 = 250;
/// Retry hint sent with a memory refusal (`data.retryAfterMs`; `Retry-After` rounds it up to
/// whole seconds), in milliseconds.
pub const MEMORY_RETRY_AFTER_MS: u64 = 1_000;

/// Default of `access_log_sample_permille`: every request (1000 ‰).
pub const ACCESS_LOG_SAMPLE_PERMILLE_DEFAULT: u64 = 1_000;
/// Accepted range of `access_log_sample_permille`.
pub const ACCESS_LOG_SAMPLE_PERMILLE_RANGE: (u64, u64) = (0, 1_000);
/// Bytes of access-log lines a core gathers before it hands them to the writer thread in one
/// batch (also handed over on the core's 1 s sweep and when it stops).
pub const ACCESS_LOG_BATCH_BYTES: usize = 32 << 10;
/// Batches the access log's channel to its writer thread holds (8 MiB of lines); past it a
/// batch is dropped and its lines counted, never waited for.
pub const ACCESS_LOG_QUEUE_BATCHES: usize = 256;
/// How long a stopping server waits for the access log's writer to write what is queued, in
/// milliseconds.
pub const ACCESS_LOG_FINISH_MS: u64 = 2_000;
/// Bytes of ciphertext one TLS connection reads from its socket at a time (one TLS record
/// is at most 16 KiB plus 2 KiB of overhead), held only while it is being given to rustls.
pub const TLS_CIPHER_IN_BYTES: usize = 18 << 10;
/// Bytes of sealed ciphertext one TLS connection holds for its socket before a write waits.
pub const TLS_CIPHER_OUT_BYTES: usize = 64 << 10;
/// Bytes rustls itself may buffer per connection (plaintext to seal, and sealed records).
pub const TLS_RUSTLS_BUFFER_BYTES: usize = 64 << 10;
/// Default of `tls_handshake_timeout_ms`: milliseconds a client has to finish the TLS
/// handshake (and send its first bytes) once it sent the first byte of a ClientHello.
pub const TLS_HANDSHAKE_TIMEOUT_MS_DEFAULT: u64 = 10_000;
/// Accepted range of `tls_handshake_timeout_ms`.
pub const TLS_HANDSHAKE_TIMEOUT_MS_RANGE: (u64, u64) = (100, 120_000);

// ---- `ringmcp doctor`: what a host needs for the settings it will run ----

/// Open files, beyond one per connection, that `ringmcp doctor` wants the open-files limit to
/// allow: per core a ring, an eventfd and a listener, plus the access log, the TLS and key
/// files read at start, the JWKS client's socket and stdio. 1,024 covers 128 cores with room.
pub const NOFILE_MARGIN_FILES: u64 = 1_024;

/// Bytes of one io_uring submission queue entry (`struct io_uring_sqe`).
pub const IO_URING_SQE_BYTES: u64 = 64;
/// Bytes of one io_uring completion queue entry (`struct io_uring_cqe`).
pub const IO_URING_CQE_BYTES: u64 = 16;
/// Bytes of one slot of the submission queue's index array (a `u32`).
pub const IO_URING_SQ_INDEX_BYTES: u64 = 4;
/// Bytes the kernel maps per ring beyond its entries (the head/tail/flags page of each queue).
pub const IO_URING_RING_HEADER_BYTES: u64 = 2 * 4_096;

/// Locked memory, in bytes, one core's ring needs on kernels that charge io_uring to
/// RLIMIT_MEMLOCK (before Linux 5.12; later ones charge the memory cgroup). Itemized:
pub const RING_MEMLOCK_BYTES_PER_CORE: u64 = ringmcp_ring::limits::RING_ENTRIES_DEFAULT as u64 * IO_URING_SQE_BYTES // the submission queue entries (256 KiB)
    + ringmcp_ring::limits::RING_ENTRIES_DEFAULT as u64 * IO_URING_SQ_INDEX_BYTES // its index array (16 KiB)
    + ringmcp_ring::limits::RING_ENTRIES_DEFAULT as u64
        * ringmcp_ring::limits::CQ_ENTRIES_PER_SQ_ENTRY as u64
        * IO_URING_CQE_BYTES // the completion queue (256 KiB)
    + IO_URING_RING_HEADER_BYTES; // the queues' header pages (8 KiB)

/// Locked memory, in bytes, `ringmcp doctor` adds to the rings' need for the rest of the
/// process (the small rings of helper loops, mimalloc's and the stack's locked pages if any).
pub const MEMLOCK_MARGIN_BYTES: u64 = 1 << 20;

/// The oldest kernel, as (major, minor), that charges io_uring memory to the memory cgroup
/// instead of RLIMIT_MEMLOCK (Linux 5.12).
pub const IO_URING_MEMCG_KERNEL: (u32, u32) = (5, 12);

/// ringmcp's base RSS with transparent huge pages `madvise` and `always`, in kB (1,000
/// bytes), measured on the dev VM: 6.3 and 15.5 MB (with `always`, mimalloc's arenas are
/// backed by 2 MiB pages at once).
pub const THP_ALWAYS_BASE_RSS_KB: (u64, u64) = (6_300, 15_500);

/// CPUs at or below which `ringmcp doctor` accepts a server on every CPU: on a small host (a
/// VM, a laptop) the OS and interrupts are light and leaving a core out costs a large share.
pub const DOCTOR_ALL_CPUS_OK_MAX: usize = 4;

const _: () = assert!(RING_MEMLOCK_BYTES_PER_CORE <= 1 << 20);
