//! One message: parse, admit, answer, count. The one path every transport's messages take:
//! NDJSON lines, WebSocket text frames ([`handle_message`]) and Streamable HTTP POSTs
//! (`streamable`, which resolves the session first, then [`handle_request`] or
//! [`handle_other`]).

use super::access_log::Entry;
use super::core::{BoundSession, CoreCtx};
use super::metrics::{method_index, Transport};
use crate::jsonrpc::{self, code, Id, Message, OwnedId, RpcError};
use crate::mcp::{self, Ctx, LaterAnswer, Session, Sink, TaskTable};
use std::borrow::Cow;
use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Instant;

/// A request whose answer comes later: run `fut`, then write the answer with
/// [`finish_later`].
pub(crate) struct Later {
    pub id: OwnedId,
    pub fut: LaterAnswer,
    method: usize,
    start: Instant,
    log: Option<Box<PendingLog>>,
}

/// What the access log line of a later answer needs (only made when the request is logged).
pub(crate) struct PendingLog {
    transport: Transport,
    peer: Option<SocketAddr>,
    identity: Option<String>,
    method: String,
    tool: Option<String>,
    bytes_in: usize,
}

/// What [`finish_later`] needs of a later answer.
pub(crate) struct LaterMeta {
    id: OwnedId,
    method: usize,
    start: Instant,
    log: Option<Box<PendingLog>>,
}

/// Who sent a request, for the rate limits and the access log.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Caller<'a> {
    pub transport: Transport,
    pub peer: Option<SocketAddr>,
    /// The authenticated identity (token subject, API key id, client certificate subject),
    /// counted by `identity` rate limits and written to the access log. `None` while auth is
    /// off: the auth layer passes it to [`Caller::bound`] and [`Caller::http`].
    pub identity: Option<&'a str>,
    /// The `session` rate limits' key: a 2025-11-25 HTTP session, else the connection.
    pub session: u64,
    /// Bytes of the request message.
    pub bytes_in: usize,
}

impl<'a> Caller<'a> {
    /// A message of a connection-bound session (NDJSON, WebSocket, stdio) from `identity`.
    pub fn bound(bound: &BoundSession, bytes_in: usize, identity: Option<&'a str>) -> Caller<'a> {
        Caller { transport: bound.transport, peer: bound.peer.get(), identity, session: bound.conn_id, bytes_in }
    }

    /// A Streamable HTTP POST from `identity`: its session key is the 2025-11-25 session's
    /// (see [`session_key`]), else the HTTP connection's.
    pub fn http(peer: Option<SocketAddr>, session: u64, bytes_in: usize, identity: Option<&'a str>) -> Caller<'a> {
        Caller { transport: Transport::Http, peer, identity, session, bytes_in }
    }
}

/// A 2025-11-25 HTTP session's rate-limit key: its id's bytes, folded (ids are random).
/// Connection numbers are small counters, so the two do not meet in practice.
pub(crate) fn session_key(id: &ringmcp_shards::SessionId) -> u64 {
    id.as_bytes().chunks(8).fold(1u64 << 63, |acc, c| {
        let mut b = [0u8; 8];
        b[..c.len()].copy_from_slice(c);
        acc ^ u64::from_le_bytes(b).rotate_left(17)
    }) | (1u64 << 63)
}

/// A request refused before it runs: its error, and for HTTP the status and `Retry-After`.
#[derive(Debug)]
pub(crate) struct Refused {
    pub error: RpcError,
    pub status: u16,
    pub retry_after_s: u64,
}

/// The gates every request passes before it runs: the memory budget (-32010, reason
/// `memory`, HTTP 503) and the rate limits (-32013, HTTP 429). Without rate limits this is
/// the memory state's one relaxed load and one branch on `core.limiter`.
#[inline]
pub(crate) fn check_limits(
    core: &CoreCtx,
    caller: &Caller<'_>,
    method: &str,
    params: Option<&str>,
) -> Result<(), Refused> {
    if core.memory.rejecting() {
        return Err(memory_refusal(core));
    }
    match &core.limiter {
        None => Ok(()),
        Some(limiter) => rate_limit(core, limiter, caller, method, params),
    }
}

/// The memory budget's refusal of a new connection, session or request.
pub(crate) fn memory_refusal(core: &CoreCtx) -> Refused {
    let retry = crate::limits::MEMORY_RETRY_AFTER_MS;
    let m = &core.memory;
    let error = RpcError {
        code: code::OVERLOADED,
        message: Cow::Owned(format!(
            "Server overloaded: memory over its reject mark ({} of {} bytes); retry later",
            m.reject_bytes, m.limit_bytes
        )),
        data: Some(format!(r#"{{"reason":"memory","retryAfterMs":{retry}}}"#)),
    };
    Refused { error, status: 503, retry_after_s: retry.div_ceil(1_000) }
}

#[cold]
fn rate_limit(
    core: &CoreCtx,
    limiter: &RefCell<crate::ratelimit::Limiter>,
    caller: &Caller<'_>,
    method: &str,
    params: Option<&str>,
) -> Result<(), Refused> {
    let mut limiter = limiter.borrow_mut();
    let name = if limiter.needs_name() { request_name(method, params) } else { None };
    let keys = crate::ratelimit::Keys {
        ip: caller.peer.map(|p| crate::ratelimit::ip_key(p.ip(), crate::limits::CLIENT_IPV6_PREFIX_BITS)),
        identity: caller.identity,
        session: Some(caller.session),
    };
    let limited = match limiter.check(core.now_ns(), &keys, method, name.as_deref()) {
        Ok(()) => return Ok(()),
        Err(l) => l,
    };
    let rule = &limiter.rules()[limited.rule];
    let retry_ms = limited.retry_after_ms();
    let error = RpcError {
        code: code::RATE_LIMITED,
        message: Cow::Owned(format!(
            "Rate limited: over the {} limit `{}`; retry after {retry_ms} ms",
            limited.scope.label(),
            rule.text
        )),
        data: Some(format!(r#"{{"retryAfterMs":{retry_ms},"limit":"{}"}}"#, limited.scope.label())),
    };
    Err(Refused { error, status: 429, retry_after_s: limited.retry_after_s() })
}

/// The tool or prompt name (`tools/call`, `prompts/get`) or resource URI (`resources/read`)
/// a request names, if any.
pub(crate) fn request_name<'p>(method: &str, params: Option<&'p str>) -> Option<Cow<'p, str>> {
    let field = match method {
        "tools/call" | "prompts/get" => "name",
        "resources/read" | "resources/subscribe" | "resources/unsubscribe" => "uri",
        _ => return None,
    };
    let p = params?;
    let m = crate::scan::get(p, field.as_bytes()).filter(|m| m.kind == crate::scan::Kind::String)?;
    let raw = crate::scan::span_str(p, m.value);
    match m.plain {
        true => Some(Cow::Borrowed(&raw[1..raw.len() - 1])),
        false => sonic_rs::from_str::<String>(raw).ok().map(Cow::Owned),
    }
}

/// Answers a request a gate refused: the error (ending in `\n`) is appended to `out`, and it
/// is counted and logged like any answer.
pub(crate) fn write_refused(
    core: &CoreCtx,
    batch: &mut Batch,
    caller: &Caller<'_>,
    (id, method, params): (Id<'_>, &str, Option<&str>),
    refused: &Refused,
    out: &mut Vec<u8>,
) {
    let mark = out.len();
    jsonrpc::write_error(out, Some(id), &refused.error);
    core.metrics.count_request(method_index(method), Some(refused.error.code), batch.start_ms);
    batch.answered += 1;
    log_now(core, batch.start, caller, (method, params), Some(refused.error.code), out.len() - mark);
}

/// Writes the access log line of an answer written now, if the log is on and samples it.
fn log_now(
    core: &CoreCtx,
    start: Instant,
    caller: &Caller<'_>,
    (method, params): (&str, Option<&str>),
    error: Option<i32>,
    bytes_out: usize,
) {
    let Some(log) = core.access_log.as_ref().filter(|l| l.sample()) else { return };
    let tool = request_name(method, params);
    log.log(&Entry {
        core: core.core,
        transport: caller.transport,
        peer: caller.peer,
        identity: caller.identity,
        method,
        tool: tool.as_deref(),
        error,
        latency_us: start.elapsed().as_micros() as u64,
        bytes_in: caller.bytes_in,
        bytes_out,
    });
}

/// The clock of one read's worth of messages, read when the batch begins and when it ends
/// rather than twice per request (two clock reads were 4 % of a pipelined echo's server time).
/// Every request answered inline is counted with the whole batch's latency, from the read to
/// the last answer written: an upper bound on its own, and what its client waits for.
pub(crate) struct Batch {
    start: Instant,
    start_ms: u64,
    answered: u64,
}

impl Batch {
    pub fn begin(core: &CoreCtx) -> Batch {
        let start = Instant::now();
        Batch { start, start_ms: core.ms_at(start), answered: 0 }
    }

    /// Records the latency of the requests answered inline.
    pub fn end(self, core: &CoreCtx) {
        if self.answered > 0 {
            core.metrics.record_latency(self.start.elapsed().as_nanos() as u64, self.answered);
        }
    }
}

/// Answers `line` at once with [`draining`](super::core::draining) if it is a request (the drain expired before it
/// was served); nothing for notifications and responses.
pub(crate) fn refuse_draining(core: &CoreCtx, batch: &Batch, line: &[u8], out: &mut Vec<u8>) {
    let id = match jsonrpc::parse_within(line, core.max_json_depth) {
        Ok(Message::Request { id, .. }) => Some(id),
        Err(invalid) => invalid.id,
        Ok(_) => return,
    };
    let error = super::core::draining();
    jsonrpc::write_error(out, id, &error);
    core.metrics.record_request(method_index(""), 0, Some(error.code), batch.start_ms);
}

/// Where a message is answered: its session, the sink its server-to-client messages go to,
/// the task table (none for a stateless HTTP request, which no one could poll again), and for
/// a connection-bound session its binding (admitted to the registry at `initialize`).
pub(crate) struct Target<'a> {
    pub session: &'a Rc<RefCell<Session>>,
    pub sink: &'a Rc<dyn Sink>,
    pub tasks: Option<&'a Rc<TaskTable>>,
    pub bound: Option<&'a BoundSession>,
    /// A 2026-07-28 POST whose era Streamable HTTP read already: `Some(client)`.
    pub modern: Option<mcp::Modern>,
    /// Who sent it (the access log).
    pub caller: Caller<'a>,
}

/// Answers `line` of a connection-bound session (an NDJSON line, a WebSocket text frame): the
/// answer (ending in `\n`) is appended to `out`, or the request is returned to be run.
pub(crate) fn handle_message(
    core: &CoreCtx,
    batch: &mut Batch,
    bound: &BoundSession,
    sink: &Rc<dyn Sink>,
    line: &[u8],
    out: &mut Vec<u8>,
) -> Option<Later> {
    let message = match jsonrpc::parse_within(line, core.max_json_depth) {
        Ok(m) => m,
        Err(invalid) => {
            jsonrpc::write_error(out, invalid.id, &invalid.error);
            core.metrics.record_request(method_index(""), 0, Some(invalid.error.code), batch.start_ms);
            return None;
        }
    };
    match message {
        Message::Request { id, method, params } => {
            let mut who = None;
            if let Some(auth) = &core.auth {
                if let Err(error) = permit(core, auth, bound, &method, params) {
                    jsonrpc::write_error(out, Some(id), &error);
                    core.metrics.record_request(method_index(&method), 0, Some(error.code), batch.start_ms);
                    return None;
                }
                who = bound.session.borrow().identity.clone();
            }
            let caller = Caller::bound(bound, line.len(), who.as_deref().map(|i| i.subject.as_str()));
            if let Err(refused) = check_limits(core, &caller, &method, params) {
                write_refused(core, batch, &caller, (id, &method, params), &refused, out);
                return None;
            }
            let tasks = Some(&core.tasks);
            let target = Target { session: &bound.session, sink, tasks, bound: Some(bound), modern: None, caller };
            handle_request(core, batch, &target, (id, &method, params), out)
        }
        other => {
            handle_other(core, batch, &bound.session, other, line);
            None
        }
    }
}

/// Authorization of one message of a connection-bound session (WebSocket; NDJSON over mTLS):
/// the scopes its method and tool need, against the identity the connection proved when it
/// opened. An NDJSON connection let in without credentials (`auth_ndjson = "open"`) is not
/// checked.
fn permit(
    core: &CoreCtx,
    auth: &crate::auth::Auth,
    bound: &BoundSession,
    method: &str,
    params: Option<&str>,
) -> Result<(), jsonrpc::RpcError> {
    let session = bound.session.borrow();
    if session.identity.is_none() && bound.transport == super::metrics::Transport::Tcp {
        return Ok(());
    }
    check_scopes(core, auth, session.identity.as_deref(), method, params).map_err(|failure| auth.rpc_error(&failure))
}

/// The scope check of one request (any transport): what `auth_required_scopes` and the
/// `auth_scope` rules ask of its method and tool, prompt or URI, and the scopes a called tool
/// declares itself (`ToolBuilder::scopes`). A refusal is counted.
pub(crate) fn check_scopes(
    core: &CoreCtx,
    auth: &crate::auth::Auth,
    identity: Option<&crate::identity::Identity>,
    method: &str,
    params: Option<&str>,
) -> Result<(), crate::auth::Failure> {
    let catalog = core.catalog();
    let scoped = method == "tools/call" && catalog.has_scoped_tools();
    let name = if auth.has_scope_rules() || scoped { crate::auth::request_name(method, params) } else { None };
    let declared = match (&name, scoped) {
        (Some(tool), true) => catalog.tool_scopes(tool),
        _ => &[],
    };
    auth.permit_declared(identity, Some(method), name.as_deref(), declared).inspect_err(|failure| {
        auth.count(Err(failure));
    })
}

/// Takes a notification or a response (nothing is answered).
pub(crate) fn handle_other(
    core: &CoreCtx,
    batch: &Batch,
    session: &Rc<RefCell<Session>>,
    message: Message<'_>,
    line: &[u8],
) {
    match message {
        Message::Notification { method, params } => {
            mcp::handle_notification(&mut session.borrow_mut(), &method, params);
            core.metrics.record_notification(batch.start_ms);
        }
        Message::Response { id } => {
            if let Some(id) = id {
                mcp::handle_response(&session.borrow(), id, line);
            }
        }
        Message::Request { .. } => unreachable!("requests go to handle_request"),
    }
}

/// Admits and answers one request: the answer (ending in `\n`) is appended to `out`, or the
/// request is returned to be run ([`finish_later`] then writes its answer).
pub(crate) fn handle_request(
    core: &CoreCtx,
    batch: &mut Batch,
    target: &Target<'_>,
    (id, method, params): (Id<'_>, &str, Option<&str>),
    out: &mut Vec<u8>,
) -> Option<Later> {
    let method_idx = method_index(method);
    // A connection whose transport had no room for its session gets one now, or -32010.
    if let Some(bound) = target.bound.filter(|b| !b.is_admitted() && method == "initialize") {
        if let Err(refusal) = core.admit_bound(bound) {
            let error = refusal.rpc_error();
            jsonrpc::write_error(out, Some(id), &error);
            core.metrics.count_request(method_idx, Some(error.code), batch.start_ms);
            batch.answered += 1;
            return None;
        }
    }
    if let Err(e) = core.queue.try_admit() {
        jsonrpc::write_error(out, Some(id), &e);
        core.metrics.record_request(method_idx, 0, Some(e.code), batch.start_ms);
        return None;
    }
    let mark = out.len();
    let later = {
        let mut session = target.session.borrow_mut();
        let catalog = core.catalog();
        let mut ctx = Ctx {
            catalog: &catalog,
            session: &mut session,
            page_size: core.page_size,
            sink: target.sink,
            tasks: target.tasks,
            listeners: Some(&core.listeners),
            era_read: target.modern.is_some(),
            modern: target.modern,
            unix_ms: core.unix_ms(batch.start_ms),
            guard: Some(&core.guard),
        };
        mcp::handle_request(&mut ctx, id, method, params, out)
    };
    match later {
        None => {
            core.queue.release();
            let code = error_code(&out[mark..], id.0.len());
            core.metrics.count_request(method_idx, code, batch.start_ms);
            batch.answered += 1;
            log_now(core, batch.start, &target.caller, (method, params), code, out.len() - mark);
            None
        }
        Some(fut) => {
            let log = core.access_log.as_ref().filter(|l| l.sample()).map(|_| {
                let c = &target.caller;
                Box::new(PendingLog {
                    transport: c.transport,
                    peer: c.peer,
                    identity: c.identity.map(str::to_string),
                    method: method.to_string(),
                    tool: request_name(method, params).map(Cow::into_owned),
                    bytes_in: c.bytes_in,
                })
            });
            Some(Later { id: OwnedId::new(id), fut, method: method_idx, start: batch.start, log })
        }
    }
}

/// Writes a later answer (nothing if it was cancelled), frees its queue slot and counts it.
pub(crate) fn finish_later(
    core: &CoreCtx,
    later: LaterMeta,
    outcome: Option<Result<Vec<u8>, jsonrpc::RpcError>>,
    out: Option<&mut Vec<u8>>,
) {
    let LaterMeta { id, method, start, log } = later;
    core.queue.release();
    let mut code = match &outcome {
        Some(Err(e)) => Some(e.code),
        _ => None,
    };
    let mut bytes_out = 0;
    if let Some(out) = out {
        let mark = out.len();
        mcp::write_later(out, id.as_id(), outcome);
        bytes_out = out.len() - mark;
        if log.is_some() && code.is_none() && bytes_out > 0 {
            code = error_code(&out[mark..], id.as_id().0.len());
        }
    }
    record(core, method, start, code);
    if let (Some(p), Some(log)) = (log, core.access_log.as_ref()) {
        log.log(&Entry {
            core: core.core,
            transport: p.transport,
            peer: p.peer,
            identity: p.identity.as_deref(),
            method: &p.method,
            tool: p.tool.as_deref(),
            error: code,
            latency_us: start.elapsed().as_micros() as u64,
            bytes_in: p.bytes_in,
            bytes_out,
        });
    }
}

impl Later {
    /// Splits off what [`finish_later`] needs, and the future to run.
    pub fn split(self) -> (LaterMeta, LaterAnswer) {
        (LaterMeta { id: self.id, method: self.method, start: self.start, log: self.log }, self.fut)
    }
}

/// Counts one answered request: its method, its latency since `start`, its error code.
pub(crate) fn record(core: &CoreCtx, method: usize, start: Instant, code: Option<i32>) {
    let end = Instant::now();
    core.metrics.record_request(method, (end - start).as_nanos() as u64, code, core.ms_at(end));
}

/// The error code of an answer line, if it is an error (it begins
/// `{"jsonrpc":"2.0","id":<id>,` then `"result"` or `"error":{"code":N`).
pub(crate) fn error_code(answer: &[u8], id_len: usize) -> Option<i32> {
    const PREFIX: usize = br#"{"jsonrpc":"2.0","id":"#.len();
    let rest = answer.get(PREFIX + id_len..)?.strip_prefix(br#","error":{"code":"#)?;
    let end = rest.iter().position(|b| !(b.is_ascii_digit() || *b == b'-'))?;
    std::str::from_utf8(&rest[..end]).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn error_codes_are_read_from_answers() {
        assert_eq!(
            super::error_code(br#"{"jsonrpc":"2.0","id":7,"error":{"code":-32601,"message":"x"}}"#, 1),
            Some(-32601)
        );
        assert_eq!(super::error_code(br#"{"jsonrpc":"2.0","id":"a","result":{}}"#, 3), None);
    }
}
