//! One HTTP/1.1 connection on the shared port: keep-alive and pipelined requests, size limits
//! (431, 413), timeouts (`header_timeout_ms` once a request started, `idle_timeout_ms`
//! between requests), and the routes: `/mcp` (Streamable HTTP), `/mcp/ws` (WebSocket),
//! `/health`, `/ready`, `/metrics`.

use super::core::CoreCtx;
use super::mailbox;
use super::sse::{Call, From, ModernHeaders, Reply, Who};
use super::streamable;
use crate::auth::{Auth, Failure};
use crate::http::{self, Head, HeadError};
use crate::identity::Identity;
use crate::limits::IDLE_BUFFER_KEPT_BYTES;
use crate::mcp::PROTOCOL_VERSIONS;
use futures_lite::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use ringmcp_shards::SessionId;
use std::future::poll_fn;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

/// What reading more bytes gave.
enum Read {
    Bytes,
    Closed,
    TimedOut,
    Draining,
    /// The core's partial-frame budget cut this connection.
    Cut,
}

/// Serves HTTP from `client` on `io`, whose first bytes (already read) are `buf`.
pub(crate) async fn serve<IO: AsyncRead + AsyncWrite + Unpin>(
    core: Rc<CoreCtx>,
    mut io: IO,
    mut buf: Vec<u8>,
    peer: Option<SocketAddr>,
) {
    core.metrics.conn_opened(super::metrics::Transport::Http);
    // Tagged with the core: a request forwarded to another core keeps a distinct key there.
    let from = From { peer, conn: ((core.core as u64) << 48) | core.conn_id() };
    // Counted as open so that a drain waits for its answers (an idle one closes at once).
    core.open.set(core.open.get() + 1);
    let key = core.drain_waiters.key();
    let frame_key = core.frames.key();
    let _ = serve_requests(&core, &mut io, &mut buf, (key, frame_key), from).await;
    core.drain_waiters.remove(key);
    core.frames.release(frame_key);
    let _ = io.close().await;
    core.open.set(core.open.get() - 1);
    core.metrics.conn_closed(super::metrics::Transport::Http);
}

async fn serve_requests<IO: AsyncRead + AsyncWrite + Unpin>(
    core: &Rc<CoreCtx>,
    io: &mut IO,
    buf: &mut Vec<u8>,
    (key, frame_key): (u64, u64),
    from: From,
) -> std::io::Result<()> {
    let max_header = core.settings.max_header_bytes as usize;
    let mut out = Vec::new();
    let mut auth_cache: Option<AuthCache> = None;
    loop {
        if buf.is_empty() {
            // Between requests: an idle keep-alive connection gives its buffers back.
            core.frames.hold(frame_key, 0);
            if buf.capacity() > IDLE_BUFFER_KEPT_BYTES {
                *buf = Vec::new();
            }
            if out.capacity() > IDLE_BUFFER_KEPT_BYTES {
                out = Vec::new();
            }
        }
        let mut started: Option<Instant> = None;
        let head = loop {
            match http::parse_head(buf, max_header) {
                Ok(Some((head, n))) => {
                    buf.drain(..n);
                    break head;
                }
                Ok(None) => {}
                Err(e) => {
                    let (status, what) = match e {
                        HeadError::TooLarge => (431, "request line and headers exceed max_header_bytes"),
                        HeadError::Malformed => (400, "malformed HTTP request"),
                    };
                    return finish(core, io, &mut out, status, what).await;
                }
            }
            // A request has `header_timeout_ms` from its first byte, however it trickles in.
            if !buf.is_empty() && started.is_none() {
                started = Some(Instant::now());
            }
            let timeout = match started {
                None => core.settings.idle_timeout_ms,
                Some(t) => remaining_ms(t, core.settings.header_timeout_ms),
            };
            match read_more(core, io, buf, timeout, buf.is_empty(), (key, frame_key)).await? {
                Read::Bytes => {}
                Read::Closed | Read::Draining => return Ok(()),
                Read::Cut => return finish(core, io, &mut out, 503, BUDGET_FULL).await,
                Read::TimedOut if buf.is_empty() => return Ok(()),
                Read::TimedOut => return finish(core, io, &mut out, 408, "request head not received in time").await,
            }
        };
        let length = match head.content_length() {
            Ok(l) => l.unwrap_or(0),
            Err(what) => {
                let status = if what.starts_with("chunked") { 411 } else { 400 };
                return finish(core, io, &mut out, status, what).await;
            }
        };
        if length > core.max_message_bytes as u64 {
            let what = format!("body of {length} bytes exceeds max_message_bytes ({})", core.max_message_bytes);
            return finish(core, io, &mut out, 413, &what).await;
        }
        let length = length as usize;
        let started = started.take().unwrap_or_else(Instant::now);
        while buf.len() < length {
            let timeout = remaining_ms(started, core.settings.header_timeout_ms);
            match read_more(core, io, buf, timeout, false, (key, frame_key)).await? {
                Read::Bytes | Read::Draining => {}
                Read::Closed => return Ok(()),
                Read::Cut => return finish(core, io, &mut out, 503, BUDGET_FULL).await,
                Read::TimedOut => return finish(core, io, &mut out, 408, "request body not received in time").await,
            }
        }
        let body: Vec<u8> = buf.drain(..length).collect();
        let keep_alive = head.keep_alive() && !core.draining.get();
        let input = Input { buf, key, from, auth_cache: &mut auth_cache };
        let go_on = route(core, io, &mut out, &head, body, keep_alive, input).await?;
        if !go_on || !keep_alive {
            io.flush().await?;
            return Ok(());
        }
    }
}

/// The owner's first reply. A request forwarded to another core (`taken` is its pick-up flag)
/// must be picked up within `FORWARD_PICKUP_TIMEOUT_MS`, or `None`: the answer is then a 503
/// (a core stuck behind its inbox does not hold the connection forever). Once picked up it
/// runs as long as it needs.
async fn first_reply(
    rx: &mailbox::Receiver<Reply>,
    taken: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
) -> Option<Option<Reply>> {
    let Some(taken) = taken else { return Some(rx.recv().await) };
    let deadline = Duration::from_millis(crate::limits::FORWARD_PICKUP_TIMEOUT_MS);
    match ringmcp_ring::timeout(deadline, rx.recv()).await {
        Ok(r) => Some(r),
        Err(_) if taken.load(std::sync::atomic::Ordering::Acquire) => Some(rx.recv().await),
        Err(_) => None,
    }
}

/// Why a connection cut by the partial-frame budget is closed.
const BUDGET_FULL: &str = "unfinished requests of this core's connections passed partial_frame_bytes_per_core and this connection held the most; retry";

/// What is left of `budget_ms` since `since`, in milliseconds.
fn remaining_ms(since: Instant, budget_ms: u64) -> u64 {
    budget_ms.saturating_sub(since.elapsed().as_millis() as u64)
}

/// Answers a request that ends the connection (a protocol error): status, a text body, close.
async fn finish<IO: AsyncWrite + Unpin>(
    core: &CoreCtx,
    io: &mut IO,
    out: &mut Vec<u8>,
    status: u16,
    what: &str,
) -> std::io::Result<()> {
    core.metrics.record_http_status(status);
    out.clear();
    let body = http::rpc_error_body(-32600, &format!("{}: {what}", http::reason(status)));
    http::write_response(out, status, Some("application/json"), &[], &body, false);
    io.write_all(out).await?;
    io.flush().await
}

/// Reads what is there into `buf`, waiting at most `timeout_ms`; between requests (`idle`) a
/// draining core stops waiting.
async fn read_more<IO: AsyncRead + Unpin>(
    core: &CoreCtx,
    io: &mut IO,
    buf: &mut Vec<u8>,
    timeout_ms: u64,
    idle: bool,
    (key, frame_key): (u64, u64),
) -> std::io::Result<Read> {
    let read = poll_fn(|cx| {
        if idle && core.draining.get() {
            return Poll::Ready(Ok(Read::Draining));
        }
        if idle {
            core.drain_waiters.register(key, cx.waker());
        }
        if core.frames.is_cut(frame_key) {
            return Poll::Ready(Ok(Read::Cut));
        }
        core.frames.watch(frame_key, cx.waker());
        let mut scratch = core.scratch.borrow_mut();
        match Pin::new(&mut *io).poll_read(cx, &mut scratch) {
            Poll::Ready(Ok(0)) => Poll::Ready(Ok(Read::Closed)),
            Poll::Ready(Ok(n)) => {
                buf.extend_from_slice(&scratch[..n]);
                // Bytes of a request not yet whole count against the core's budget.
                if !core.frames.hold(frame_key, buf.capacity()) {
                    return Poll::Ready(Ok(Read::Cut));
                }
                Poll::Ready(Ok(Read::Bytes))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    });
    let timer = async {
        ringmcp_ring::sleep(Duration::from_millis(timeout_ms)).await;
        Ok(Read::TimedOut)
    };
    futures_lite::future::or(read, timer).await
}

/// The connection's unread bytes, its drain-waker key and its client's address, lent to a
/// request.
struct Input<'a> {
    buf: &'a mut Vec<u8>,
    key: u64,
    from: From,
    /// The credential this connection last proved (authorization on).
    auth_cache: &'a mut Option<AuthCache>,
}

/// A bearer token verified on this connection, and who it proved: the next request with the
/// same token skips the signature check (its `exp` still applies); another token is verified.
pub(super) struct AuthCache {
    token: String,
    identity: Arc<Identity>,
    /// [`Auth::epoch`] when it was verified: new keys (or a key file reload) verify it again.
    epoch: u64,
}

/// The authorization gate of `/mcp` and `/mcp/ws` (after the Origin check): who sent the
/// request (`None`: anonymous, `auth_mode = "optional"`), or why it is refused (401).
async fn authenticate(auth: &Auth, head: &Head, cache: &mut Option<AuthCache>) -> Result<Who, Failure> {
    let token = match Auth::bearer(head.header_str("authorization"))? {
        Some(t) => t,
        None if auth.mode == crate::auth::Mode::Optional => return Ok(None),
        None => return Err(Failure::Missing(String::new())),
    };
    let now_s = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let epoch = auth.epoch();
    if let Some(c) = cache.as_ref().filter(|c| c.token == token && c.epoch == epoch) {
        if auth.still_valid(&c.identity, now_s) {
            return Ok(Some(c.identity.clone()));
        }
    }
    let identity = match auth.verify(token) {
        Ok(identity) => identity,
        Err(Some(failure)) => return Err(failure),
        Err(None) => {
            // A kid the keys do not have: maybe the issuer rotated its keys. Ask for one
            // refresh (rate limited for all cores together) and wait for it without blocking.
            const UNKNOWN: Failure = Failure::Invalid("unknown signing key");
            let Some(store) = auth.key_store() else { return Err(UNKNOWN) };
            let generation = store.generation();
            if !store.request_refresh() {
                return Err(UNKNOWN);
            }
            let started = Instant::now();
            let poll = Duration::from_millis(crate::limits::AUTH_JWKS_WAIT_POLL_MS);
            while store.generation() == generation && started.elapsed() < auth.refresh_wait {
                ringmcp_ring::sleep(poll).await;
            }
            auth.verify(token).map_err(|f| f.unwrap_or(UNKNOWN))?
        }
    };
    let identity = Arc::new(identity);
    *cache = Some(AuthCache { token: token.to_string(), identity: identity.clone(), epoch: auth.epoch() });
    Ok(Some(identity))
}

/// Runs the gate for a request of `/mcp` or `/mcp/ws`; on refusal writes the 401 (with its
/// challenge and a JSON-RPC error body) to `out` and returns `Err(status)`.
async fn gate(
    core: &CoreCtx,
    auth: &Auth,
    head: &Head,
    out: &mut Vec<u8>,
    keep_alive: bool,
    cache: &mut Option<AuthCache>,
) -> Result<Who, u16> {
    let result = authenticate(auth, head, cache).await;
    match &result {
        Ok(Some(_)) => auth.count(Ok(())),
        Ok(None) => {}
        Err(failure) => auth.count(Err(failure)),
    }
    result.map_err(|failure| challenge(core, auth, head, out, keep_alive, &failure))
}

/// Writes the refusal of `failure` (401/403, `WWW-Authenticate`, JSON-RPC error body).
fn challenge(core: &CoreCtx, auth: &Auth, head: &Head, out: &mut Vec<u8>, keep_alive: bool, failure: &Failure) -> u16 {
    let status = failure.status();
    let mut owned = vec![("WWW-Authenticate", auth.challenge(failure))];
    owned.extend(cors_headers(head, true));
    let headers: Vec<(&str, &str)> = owned.iter().map(|(n, v)| (*n, v.as_str())).collect();
    core.metrics.record_http_status(status);
    http::write_response(out, status, Some("application/json"), &headers, &auth.error_body(failure), keep_alive);
    status
}

/// The Protected Resource Metadata (RFC 9728) at both well-known URLs, without a token and
/// readable cross-origin (browser clients fetch it).
fn metadata(core: &CoreCtx, auth: &Auth, method: &str, out: &mut Vec<u8>, keep_alive: bool) {
    const CORS: (&str, &str) = ("Access-Control-Allow-Origin", "*");
    let status = match method {
        "GET" | "HEAD" => {
            let headers = [("Cache-Control", "max-age=300"), CORS];
            let body = auth.metadata();
            http::write_response(out, 200, Some("application/json"), &headers, body, keep_alive);
            if method == "HEAD" {
                out.truncate(out.len() - body.len());
            }
            200
        }
        "OPTIONS" => {
            let headers = [
                CORS,
                ("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS"),
                ("Access-Control-Allow-Headers", "MCP-Protocol-Version"),
                ("Access-Control-Max-Age", "86400"),
            ];
            http::write_response(out, 204, None, &headers, b"", keep_alive);
            204
        }
        _ => {
            http::write_response(out, 405, None, &[("Allow", "GET, HEAD, OPTIONS")], b"", keep_alive);
            405
        }
    };
    core.metrics.record_http_status(status);
}

/// Serves one request; `false` when the connection must close after it.
async fn route<IO: AsyncRead + AsyncWrite + Unpin>(
    core: &Rc<CoreCtx>,
    io: &mut IO,
    out: &mut Vec<u8>,
    head: &Head,
    body: Vec<u8>,
    keep_alive: bool,
    input: Input<'_>,
) -> std::io::Result<bool> {
    out.clear();
    let method = head.method.as_str();
    let simple = |out: &mut Vec<u8>, status: u16, ct: Option<&str>, headers: &[(&str, &str)], body: &[u8]| {
        core.metrics.record_http_status(status);
        http::write_response(out, status, ct, headers, body, keep_alive);
    };
    match (head.path.as_str(), method) {
        ("/health", "GET") => {
            let body = super::observe::health(core).await;
            simple(out, 200, Some("application/json"), &[("Cache-Control", "no-store")], &body);
        }
        ("/ready", "GET") => {
            let (status, body): (u16, &[u8]) = match core.readiness() {
                super::core::Readiness::Draining => (503, br#"{"ready":false,"status":"draining"}"#),
                super::core::Readiness::Memory => (503, br#"{"ready":false,"status":"memory"}"#),
                super::core::Readiness::Ready => (200, br#"{"ready":true}"#),
            };
            simple(out, status, Some("application/json"), &[("Cache-Control", "no-store")], body);
        }
        ("/metrics", "GET") => {
            let body = super::observe::metrics(core).await;
            simple(out, 200, Some("text/plain; version=0.0.4; charset=utf-8"), &[], &body);
        }
        ("/health" | "/ready" | "/metrics", _) => simple(out, 405, None, &[("Allow", "GET")], b""),
        (WELL_KNOWN | WELL_KNOWN_MCP, _) if core.auth.is_some() => {
            metadata(core, core.auth.as_deref().expect("checked"), method, out, keep_alive)
        }
        ("/mcp/ws", _) => return upgrade_ws(core.clone(), io, out, head, input).await,
        ("/mcp", _) => return mcp(core, io, out, head, body, keep_alive, input).await,
        _ => {
            let body = http::rpc_error_body(-32600, &format!("Not Found: {}; MCP is served at /mcp", head.path));
            simple(out, 404, Some("application/json"), &[], &body);
        }
    }
    io.write_all(out).await?;
    Ok(true)
}

/// The Protected Resource Metadata's URLs: the root form and the path-inserted form of `/mcp`.
const WELL_KNOWN: &str = crate::auth::prm::WELL_KNOWN;
const WELL_KNOWN_MCP: &str = "/.well-known/oauth-protected-resource/mcp";

/// A refusal of an `/mcp` request: status and a JSON-RPC error body.
fn refusal(out: &mut Vec<u8>, status: u16, message: &str, keep_alive: bool, extra: &[(&str, &str)]) -> u16 {
    let body = http::rpc_error_body(-32000, message);
    http::write_response(out, status, Some("application/json"), extra, &body, keep_alive);
    status
}

/// Streamable HTTP at `/mcp`: the transport's checks, then the call to the session's owner.
async fn mcp<IO: AsyncRead + AsyncWrite + Unpin>(
    core: &Rc<CoreCtx>,
    io: &mut IO,
    out: &mut Vec<u8>,
    head: &Head,
    body: Vec<u8>,
    keep_alive: bool,
    input: Input<'_>,
) -> std::io::Result<bool> {
    if head.method == "OPTIONS" {
        return preflight(core, io, out, head, keep_alive).await;
    }
    let cors = cors_headers(head, core.auth.is_some());
    let mut identity = None;
    if let Some(auth) = &core.auth {
        // The gate comes after the Origin check: a DNS-rebinding 403 carries no challenge.
        let checked = match check_origin(core, head, out, keep_alive) {
            Ok(()) => gate(core, auth, head, out, keep_alive, input.auth_cache).await,
            Err(status) => {
                core.metrics.record_http_status(status);
                Err(status)
            }
        };
        // `auth_required_scopes` hold for every request (GET and DELETE too); the owner
        // checks a POST's method and tool.
        let checked = checked.and_then(|who| match auth.permit(who.as_deref(), None, None) {
            Ok(()) => Ok(who),
            Err(failure) => {
                auth.count(Err(&failure));
                Err(challenge(core, auth, head, out, keep_alive, &failure))
            }
        });
        match checked {
            Ok(who) => identity = who,
            Err(_) => {
                io.write_all(out).await?;
                return Ok(true);
            }
        }
    }
    match check_mcp(core, head, body, out, keep_alive, (input.from, identity)) {
        Err(status) => {
            core.metrics.record_http_status(status);
            io.write_all(out).await?;
            Ok(true)
        }
        Ok((owner, call)) => {
            let (tx, rx) = super::sse::reply_channel(core.sse_replay);
            let mut taken = None;
            if owner == core.core {
                streamable::handle(core, call, tx);
            } else if let Some(flag) = core.mesh.forward(owner, call, tx) {
                core.metrics.forwarded_sent();
                taken = Some(flag);
            } else {
                let status = refusal(out, 503, "Service Unavailable: the session's core is busy", keep_alive, &[]);
                core.metrics.record_http_status(status);
                io.write_all(out).await?;
                return Ok(true);
            }
            answer(core, io, out, (rx, taken), keep_alive, input, &cors).await
        }
    }
}

/// CORS for browser clients (e.g. the MCP Inspector connecting directly): an allowed Origin
/// (checked before) may read the answer and its session header.
/// With authorization on, the challenge header is readable too.
fn cors_headers(head: &Head, auth: bool) -> Vec<(&'static str, String)> {
    let expose = match auth {
        true => "Mcp-Session-Id, MCP-Protocol-Version, WWW-Authenticate",
        false => "Mcp-Session-Id, MCP-Protocol-Version",
    };
    match head.header_str("origin") {
        Some(origin) => vec![
            ("Access-Control-Allow-Origin", origin.to_string()),
            ("Access-Control-Expose-Headers", expose.to_string()),
            ("Vary", "Origin".to_string()),
        ],
        None => Vec::new(),
    }
}

/// Answers a CORS preflight (`OPTIONS /mcp`) from an allowed Origin: 204 with what a browser
/// may send.
async fn preflight<IO: AsyncWrite + Unpin>(
    core: &CoreCtx,
    io: &mut IO,
    out: &mut Vec<u8>,
    head: &Head,
    keep_alive: bool,
) -> std::io::Result<bool> {
    let status = match check_origin(core, head, out, keep_alive) {
        Err(status) => status,
        Ok(()) => {
            let mut headers: Vec<(&str, String)> = cors_headers(head, core.auth.is_some());
            headers.push(("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS".to_string()));
            headers.push((
                "Access-Control-Allow-Headers",
                "Content-Type, Accept, Authorization, Mcp-Session-Id, MCP-Protocol-Version, Last-Event-ID".to_string(),
            ));
            headers.push(("Access-Control-Max-Age", "86400".to_string()));
            let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
            http::write_response(out, 204, None, &headers, b"", keep_alive);
            204
        }
    };
    core.metrics.record_http_status(status);
    io.write_all(out).await?;
    Ok(true)
}

/// Answers an upgrade request at `/mcp/ws`: 101 and the WebSocket session, or the refusal.
/// Returns whether the HTTP connection goes on (only after a refusal).
async fn upgrade_ws<IO: AsyncRead + AsyncWrite + Unpin>(
    core: Rc<CoreCtx>,
    io: &mut IO,
    out: &mut Vec<u8>,
    head: &Head,
    input: Input<'_>,
) -> std::io::Result<bool> {
    if let Err(status) = check_origin(&core, head, out, true) {
        core.metrics.record_http_status(status);
        io.write_all(out).await?;
        return Ok(true);
    }
    // The upgrade request carries the credentials: refused (401/403) before the 101.
    let mut identity = None;
    if let Some(auth) = core.auth.clone() {
        let checked = match gate(&core, &auth, head, out, true, input.auth_cache).await {
            Ok(who) => match auth.permit(who.as_deref(), None, None) {
                Ok(()) => Ok(who),
                Err(failure) => {
                    auth.count(Err(&failure));
                    Err(challenge(&core, &auth, head, out, true, &failure))
                }
            },
            Err(status) => Err(status),
        };
        match checked {
            Ok(who) => identity = who,
            Err(_) => {
                io.write_all(out).await?;
                return Ok(true);
            }
        }
    }
    if core.memory.rejecting() {
        // A new session: refused while memory is over its reject mark.
        let refused = super::dispatch::memory_refusal(&core);
        let mut body = Vec::new();
        crate::jsonrpc::write_error(&mut body, None, &refused.error);
        body.pop();
        let retry = refused.retry_after_s.to_string();
        core.metrics.record_http_status(refused.status);
        http::write_response(out, refused.status, Some("application/json"), &[("Retry-After", &retry)], &body, true);
        io.write_all(out).await?;
        return Ok(true);
    }
    let buf = input.buf;
    let headers = head.headers.iter().map(|(n, v)| (n.as_str(), v.as_slice()));
    let upgrade = match crate::ws::check_upgrade(&head.method, headers) {
        Ok(u) => u,
        Err(e) => {
            let status = e.status();
            let extra: &[(&str, &str)] = if status == 426 { &[("Sec-WebSocket-Version", "13")] } else { &[] };
            let body = http::rpc_error_body(-32600, &format!("{}: {e}", http::reason(status)));
            core.metrics.record_http_status(status);
            http::write_response(out, status, Some("application/json"), extra, &body, true);
            io.write_all(out).await?;
            return Ok(true);
        }
    };
    core.metrics.record_http_status(101);
    crate::ws::write_accept_response(out, &upgrade.accept, upgrade.protocol);
    io.write_all(out).await?;
    out.clear();
    // Only an accepted upgrade takes the bytes pipelined after it; after a refusal they are
    // the next HTTP request.
    super::ws_conn::serve(core, io, std::mem::take(buf), identity, input.from.peer).await?;
    Ok(false)
}

/// DNS-rebinding protection: the Host and Origin must be allowed, or 403 (written to `out`).
fn check_origin(core: &CoreCtx, head: &Head, out: &mut Vec<u8>, keep_alive: bool) -> Result<(), u16> {
    let s = &core.settings;
    if !http::host_allowed(head.header_str("host"), &s.allowed_hosts) {
        let host = head.header_str("host").unwrap_or("");
        return Err(refusal(out, 403, &format!("Forbidden: Host {host} is not allowed"), keep_alive, &[]));
    }
    if !http::origin_allowed(head.header_str("origin"), &s.allowed_origins) {
        let origin = head.header_str("origin").unwrap_or("");
        return Err(refusal(out, 403, &format!("Forbidden: Origin {origin} is not allowed"), keep_alive, &[]));
    }
    Ok(())
}

/// Checks an `/mcp` request and makes its call (and the owner core), or writes the refusal
/// into `out` and returns its status.
fn check_mcp(
    core: &CoreCtx,
    head: &Head,
    body: Vec<u8>,
    out: &mut Vec<u8>,
    keep_alive: bool,
    (from, identity): (From, Who),
) -> Result<(usize, Call), u16> {
    let client = from.peer.map(|p| p.ip());
    let s = &core.settings;
    if core.auth.is_none() {
        // With authorization on, the gate checked the Origin already.
        check_origin(core, head, out, keep_alive)?;
    }
    // A version of the session era, or none: the session era. Any other: the 2026-07-28 era
    // (an unknown version is refused there, -32022, once the body is read).
    let header_version = head.header_str("mcp-protocol-version");
    let legacy_version = header_version.and_then(|v| PROTOCOL_VERSIONS.iter().find(|p| **p == v).copied());
    if let Some(version) = header_version.filter(|_| legacy_version.is_none()) {
        return check_modern(head, body, out, keep_alive, (version, from, identity), core);
    }
    let header_version = legacy_version;
    let session = match head.header_str("mcp-session-id") {
        _ if core.stateless => None,
        None => None,
        Some(v) => match crate::ids::parse_session_header(s.node_id.as_deref(), v.as_bytes()) {
            Some(id) => Some(id),
            None => return Err(refusal(out, 404, "Not Found: unknown or ended session", keep_alive, &[])),
        },
    };
    let owner = |id: &SessionId| core.registry.borrow().map().owner_of(id.as_bytes());
    let accept = http::accept(head.header_str("accept"));
    let allow: &[(&str, &str)] =
        &[("Allow", if core.stateless { "POST, OPTIONS" } else { "GET, POST, DELETE, OPTIONS" })];
    match head.method.as_str() {
        "POST" => {
            check_post_headers(head, &accept, out, keep_alive)?;
            let owner = session.as_ref().map_or(core.core, owner);
            let prefers_sse = accept.prefers_sse;
            Ok((owner, Call::Post { session, body, prefers_sse, header_version, client, identity, from }))
        }
        "GET" | "DELETE" if core.stateless => {
            Err(refusal(out, 405, "Method Not Allowed: stateless server; only POST", keep_alive, allow))
        }
        "DELETE" if !s.session_delete => {
            let allow: &[(&str, &str)] = &[("Allow", "GET, POST")];
            Err(refusal(out, 405, "Method Not Allowed: sessions cannot be ended by DELETE here", keep_alive, allow))
        }
        "GET" | "DELETE" => {
            let Some(id) = session else {
                return Err(refusal(out, 400, "Bad Request: Mcp-Session-Id header is required", keep_alive, &[]));
            };
            if head.method == "GET" {
                if !accept.sse {
                    let message = "Not Acceptable: Accept must list text/event-stream";
                    return Err(refusal(out, 406, message, keep_alive, &[]));
                }
                let last_event_id = head.header_str("last-event-id").map(str::to_string);
                Ok((owner(&id), Call::Get { session: id, last_event_id, identity }))
            } else {
                Ok((owner(&id), Call::Delete { session: id, identity }))
            }
        }
        _ => Err(refusal(out, 405, "Method Not Allowed", keep_alive, allow)),
    }
}

/// A POST's Accept (both JSON and SSE: 406) and Content-Type (JSON: 415).
fn check_post_headers(head: &Head, accept: &http::Accept, out: &mut Vec<u8>, keep_alive: bool) -> Result<(), u16> {
    if !(accept.json && accept.sse) {
        let message = "Not Acceptable: Accept must list application/json and text/event-stream";
        return Err(refusal(out, 406, message, keep_alive, &[]));
    }
    if !http::is_json_content_type(head.header_str("content-type")) {
        let message = "Unsupported Media Type: Content-Type must be application/json";
        return Err(refusal(out, 415, message, keep_alive, &[]));
    }
    Ok(())
}

/// A 2026-07-28 request: POST only (GET and DELETE → 405), no session, served here (a
/// task's `tasks/*` by the core that keeps the task, which its id names).
fn check_modern(
    head: &Head,
    body: Vec<u8>,
    out: &mut Vec<u8>,
    keep_alive: bool,
    (version, from, identity): (&str, From, Who),
    core: &CoreCtx,
) -> Result<(usize, Call), u16> {
    let allow: &[(&str, &str)] = &[("Allow", "POST, OPTIONS")];
    if head.method != "POST" {
        let message = format!("Method Not Allowed: MCP {version} has no sessions or standalone streams; only POST");
        return Err(refusal(out, 405, &message, keep_alive, allow));
    }
    let accept = http::accept(head.header_str("accept"));
    check_post_headers(head, &accept, out, keep_alive)?;
    let headers = ModernHeaders {
        version: version.to_string(),
        method: head.header_str("mcp-method").map(str::to_string),
        name: head.header_str("mcp-name").map(str::to_string),
        params: head
            .headers
            .iter()
            .filter_map(|(n, v)| n.strip_prefix("mcp-param-").map(|suffix| (suffix.to_string(), v.clone())))
            .collect(),
    };
    // A task of the tasks extension is kept by the core its id names: go there.
    let owner = match headers.method.as_deref().map(str::trim) {
        Some("tasks/get" | "tasks/update" | "tasks/cancel") => {
            headers.name.as_deref().and_then(crate::mcp::tasks::core_of).filter(|c| *c < core.mesh.cores())
        }
        _ => None,
    };
    let prefers_sse = accept.prefers_sse;
    Ok((owner.unwrap_or(core.core), Call::Modern { body, prefers_sse, headers, identity, from }))
}

/// Writes the owner's replies: one whole answer, or an SSE stream until it ends or the client
/// goes away. Bytes the client pipelines meanwhile are kept in `buf`.
async fn answer<IO: AsyncRead + AsyncWrite + Unpin>(
    core: &Rc<CoreCtx>,
    io: &mut IO,
    out: &mut Vec<u8>,
    (rx, taken): (mailbox::Receiver<Reply>, Option<std::sync::Arc<std::sync::atomic::AtomicBool>>),
    keep_alive: bool,
    input: Input<'_>,
    cors: &[(&str, String)],
) -> std::io::Result<bool> {
    let first = match first_reply(&rx, taken).await {
        Some(Some(r)) => r,
        None => {
            let status = refusal(
                out,
                503,
                "Service Unavailable: the session's core did not take the request within the forwarding deadline; retry",
                keep_alive,
                &[],
            );
            core.metrics.record_http_status(status);
            io.write_all(out).await?;
            return Ok(true);
        }
        Some(None) => {
            let status = refusal(out, 500, "Internal Server Error: the session's core did not answer", false, &[]);
            core.metrics.record_http_status(status);
            io.write_all(out).await?;
            return Ok(false);
        }
    };
    let node = core.settings.node_id.as_deref();
    let session_header = |s: &Option<SessionId>| s.map(|id| crate::ids::session_header(node, &id));
    let with_cors = |sid: &Option<String>| -> Vec<(&str, String)> {
        let mut h: Vec<(&str, String)> = sid.iter().map(|v| ("Mcp-Session-Id", v.clone())).collect();
        h.extend(cors.iter().cloned());
        h
    };
    match first {
        Reply::Done { status, body, session } => {
            let owned = with_cors(&session_header(&session));
            let headers: Vec<(&str, &str)> = owned.iter().map(|(n, v)| (*n, v.as_str())).collect();
            let ct = (!body.is_empty()).then_some("application/json");
            core.metrics.record_http_status(status);
            http::write_response(out, status, ct, &headers, &body, keep_alive);
            io.write_all(out).await?;
            Ok(true)
        }
        Reply::Refused { status, body, retry_after_s } => {
            let extra = ("Retry-After", retry_after_s.to_string());
            write_json_with(core, out, (status, extra), cors, &body, keep_alive);
            io.write_all(out).await?;
            Ok(true)
        }
        Reply::Challenge { status, body, challenge } => {
            write_json_with(core, out, (status, ("WWW-Authenticate", challenge)), cors, &body, keep_alive);
            io.write_all(out).await?;
            Ok(true)
        }
        Reply::Stream { session } => {
            let owned = with_cors(&session_header(&session));
            let headers: Vec<(&str, &str)> = owned.iter().map(|(n, v)| (*n, v.as_str())).collect();
            core.metrics.record_http_status(200);
            http::write_sse_head(out, &headers);
            stream(core, io, out, rx, input.buf, input.key).await
        }
        Reply::Event(_) | Reply::End => Ok(false),
    }
}

/// What woke a streaming connection.
enum Wake {
    Reply(Option<Reply>),
    ClientBytes,
    ClientGone,
    Keepalive,
}

async fn stream<IO: AsyncRead + AsyncWrite + Unpin>(
    core: &Rc<CoreCtx>,
    io: &mut IO,
    out: &mut Vec<u8>,
    rx: mailbox::Receiver<Reply>,
    buf: &mut Vec<u8>,
    key: u64,
) -> std::io::Result<bool> {
    let keepalive = Duration::from_millis(core.settings.sse_keepalive_ms);
    loop {
        if !out.is_empty() {
            io.write_all(out).await?;
            io.flush().await?;
            out.clear();
        }
        let next = {
            let reply = async { Wake::Reply(rx.recv().await) };
            let client = poll_fn(|cx| {
                // Draining: the stream ends; the client may resume it elsewhere.
                if core.draining.get() {
                    return Poll::Ready(Wake::Reply(None));
                }
                core.drain_waiters.register(key, cx.waker());
                let mut scratch = core.scratch.borrow_mut();
                match Pin::new(&mut *io).poll_read(cx, &mut scratch) {
                    Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => Poll::Ready(Wake::ClientGone),
                    Poll::Ready(Ok(n)) => {
                        buf.extend_from_slice(&scratch[..n]);
                        Poll::Ready(Wake::ClientBytes)
                    }
                    Poll::Pending => Poll::Pending,
                }
            });
            let timer = async {
                ringmcp_ring::sleep(keepalive).await;
                Wake::Keepalive
            };
            futures_lite::future::or(reply, futures_lite::future::or(client, timer)).await
        };
        match next {
            Wake::Reply(None) | Wake::Reply(Some(Reply::End)) => {
                http::write_last_chunk(out);
                io.write_all(out).await?;
                io.flush().await?;
                out.clear();
                return Ok(!core.draining.get());
            }
            Wake::Reply(Some(Reply::Event(e))) => {
                http::write_chunk(out, &e);
                while let Some(more) = rx.try_recv() {
                    match more {
                        Reply::Event(e) => http::write_chunk(out, &e),
                        _ => {
                            http::write_last_chunk(out);
                            io.write_all(out).await?;
                            io.flush().await?;
                            out.clear();
                            return Ok(true);
                        }
                    }
                }
            }
            Wake::Reply(Some(_)) => {}
            Wake::ClientBytes => {
                if buf.len() > core.max_message_bytes {
                    return Ok(false);
                }
            }
            Wake::ClientGone => return Ok(false),
            Wake::Keepalive => http::write_chunk(out, b": keep-alive\n\n"),
        }
    }
}

/// A JSON error answer with one extra header (`Retry-After`, `WWW-Authenticate`) before the
/// CORS headers, counted by its status.
fn write_json_with<'a>(
    core: &CoreCtx,
    out: &mut Vec<u8>,
    (status, extra): (u16, (&'a str, String)),
    cors: &[(&'a str, String)],
    body: &[u8],
    keep_alive: bool,
) {
    let mut owned = vec![extra];
    owned.extend(cors.iter().cloned());
    let headers: Vec<(&str, &str)> = owned.iter().map(|(n, v)| (*n, v.as_str())).collect();
    core.metrics.record_http_status(status);
    http::write_response(out, status, Some("application/json"), &headers, body, keep_alive);
}
