//! Streamable HTTP (MCP 2025-11-25 transport) on the core that owns the session.
//!
//! An HTTP connection turns each POST/GET/DELETE on `/mcp` into a [`Call`] and sends it, with
//! a channel for the [`Reply`]s, to the session's owner — itself when the session's shard is
//! local, another core over the mesh otherwise. Everything about a session (its MCP state, its
//! SSE streams and their replay buffers) lives only on its owner.
//!
//! A POST's answer is JSON unless the request sends messages before its result (progress,
//! logs, server-to-client requests) or the client listed `text/event-stream` first in Accept;
//! then it is an SSE stream. Every event has an id `<stream>:<seq>`; a client that lost a
//! stream resumes it with GET + `Last-Event-ID` and gets the events after that id, then the
//! rest live.
//!
//! A 2026-07-28 POST ([`Call::Modern`]) has no session: the core that read it answers it, after
//! checking its request-metadata headers against the body (-32020 on a mismatch), with HTTP
//! statuses from its error (-32601 → 404; -32020, -32021, -32022 and bad `_meta` → 400).
//! Closing its SSE stream cancels the request.

use super::core::CoreCtx;
use super::dispatch;
use super::mailbox;
use super::metrics::method_index;
use super::sse::{Call, From, ModernHeaders, Reply, Stream, StreamOpts, StreamSink, Who, PRIMING_SINCE};
use crate::http;
use crate::jsonrpc::{self, code, Id, Message, RpcError};
use crate::mcp::{era, Phase, Session, Sink, PROTOCOL_VERSIONS};
use ringmcp_shards::SessionId;
use sonic_rs::JsonValueTrait;
use std::cell::RefCell;
use std::net::IpAddr;
use std::rc::Rc;

fn done(reply: &mailbox::Sender<Reply>, status: u16, body: Vec<u8>) {
    let _ = reply.try_send(Reply::Done { status, body, session: None });
}

fn refuse(reply: &mailbox::Sender<Reply>, status: u16, code: i32, message: &str) {
    done(reply, status, http::rpc_error_body(code, message));
}

/// JSON-RPC code of transport-level refusals (the SDKs use -32000 "server error").
const TRANSPORT_ERROR: i32 = -32000;

/// Serves one call on the session's owner (this core).
pub(crate) fn handle(core: &Rc<CoreCtx>, call: Call, reply: mailbox::Sender<Reply>) {
    match call {
        Call::Post { session, body, prefers_sse, header_version, client, identity, from } => {
            post(core, session, &body, Post { prefers_sse, header_version, client, identity, from }, reply)
        }
        Call::Get { session, last_event_id, identity } => get(core, session, last_event_id, identity, reply),
        Call::Delete { session, identity } => {
            if core.auth.is_some() && !core.http_session(&session).is_some_and(|e| same_caller(&e, &identity)) {
                return not_found(&reply);
            }
            match core.end_session(&session) {
                true => done(&reply, 200, Vec::new()),
                false => not_found(&reply),
            }
        }
        Call::Modern { body, prefers_sse, headers, identity, from } => {
            modern(core, &body, prefers_sse, &headers, (identity, from), reply)
        }
    }
}

/// Whether a request by `identity` may use the session of `entry`: a session is bound to the
/// subject that created it (another subject's token on it gets the unknown-session 404, which
/// tells nothing about whether it exists). A session made anonymously (`auth_mode =
/// "optional"`) stays open to anyone, as it was. On success the session sees the newest
/// identity (the same subject, maybe other scopes).
fn same_caller(entry: &super::core::SessionEntry, identity: &Who) -> bool {
    // Never borrowed across an await; should it be, the check still holds, only the update
    // of the scopes waits for the next request.
    let Ok(session) = entry.session.try_borrow() else { return false };
    let same = match (&session.identity, identity) {
        (Some(a), Some(b)) => a.subject == b.subject && a.source == b.source,
        (Some(_), None) => false,
        (None, _) => true,
    };
    drop(session);
    if same && identity.is_some() {
        if let Ok(mut session) = entry.session.try_borrow_mut() {
            session.identity = identity.clone();
        }
    }
    same
}

/// Authorization of one request on the core that answers it: the scopes its method (and tool,
/// prompt or resource) needs. `Err` after answering the challenge (401/403).
fn permit(
    core: &CoreCtx,
    identity: &Who,
    (id, method, params): (Id<'_>, &str, Option<&str>),
    reply: &mailbox::Sender<Reply>,
) -> Result<(), ()> {
    let Some(auth) = &core.auth else { return Ok(()) };
    match dispatch::check_scopes(core, auth, identity.as_deref(), method, params) {
        Ok(()) => Ok(()),
        Err(failure) => {
            core.metrics.record_request(method_index(method), 0, Some(code::INVALID_REQUEST), core.now_ms());
            let challenge = auth.challenge(&failure);
            let mut body = Vec::new();
            jsonrpc::write_error(&mut body, Some(id), &auth.rpc_error(&failure));
            body.pop();
            let _ = reply.try_send(Reply::Challenge { status: failure.status(), body, challenge });
            Err(())
        }
    }
}

/// The POST body as one JSON-RPC message, or `None` after answering 400 with the error.
fn parse_body<'a>(core: &CoreCtx, body: &'a [u8], reply: &mailbox::Sender<Reply>) -> Option<Message<'a>> {
    match jsonrpc::parse_within(body, core.max_json_depth) {
        Ok(m) => Some(m),
        Err(invalid) => {
            let mut out = Vec::new();
            jsonrpc::write_error(&mut out, invalid.id, &invalid.error);
            out.pop();
            core.metrics.record_request(method_index(""), 0, Some(invalid.error.code), core.now_ms());
            done(reply, 400, out);
            None
        }
    }
}

/// The HTTP status of a 2026-07-28 answer with error `code`.
fn modern_status(code: Option<i32>) -> u16 {
    match code {
        Some(code::METHOD_NOT_FOUND) => 404,
        Some(code::HEADER_MISMATCH | code::MISSING_CLIENT_CAPABILITY | code::UNSUPPORTED_PROTOCOL_VERSION) => 400,
        _ => 200,
    }
}

fn modern_refusal(core: &CoreCtx, reply: &mailbox::Sender<Reply>, id: Id<'_>, method: &str, e: &RpcError) {
    let mut body = Vec::new();
    jsonrpc::write_error(&mut body, Some(id), e);
    body.pop();
    core.metrics.record_request(method_index(method), 0, Some(e.code), core.now_ms());
    done(reply, if e.code == code::METHOD_NOT_FOUND { 404 } else { 400 }, body);
}

fn mismatch(message: String) -> RpcError {
    RpcError::new(code::HEADER_MISMATCH, message)
}

/// `Mcp-Name` as the client meant it: `=?base64?…?=` decoded, else as sent.
fn header_value(raw: &str) -> Option<String> {
    match decode_sentinel(raw) {
        Ok(Some(decoded)) => Some(decoded),
        Ok(None) => Some(raw.trim().to_string()),
        Err(()) => None,
    }
}

/// The request-metadata headers against the body: -32020 unless they agree.
fn check_headers(
    headers: &ModernHeaders,
    method: &str,
    params: Option<&str>,
    declared: Option<&str>,
) -> Result<(), RpcError> {
    match headers.method.as_deref() {
        None => {
            return Err(mismatch(format!("Header mismatch: the Mcp-Method header is required (body method {method})")))
        }
        Some(m) if m.trim() != method => {
            return Err(mismatch(format!(
                "Header mismatch: Mcp-Method header value '{m}' does not match body value '{method}'"
            )))
        }
        Some(_) => {}
    }
    if let Some(v) = declared.filter(|v| *v != headers.version) {
        return Err(mismatch(format!(
            "Header mismatch: MCP-Protocol-Version header value '{}' does not match body value '{v}'",
            headers.version
        )));
    }
    let field = match method {
        "tools/call" | "prompts/get" => "name",
        "resources/read" => "uri",
        "tasks/get" | "tasks/update" | "tasks/cancel" => "taskId",
        _ => return Ok(()),
    };
    // The scanner finds the field (the common, unescaped name is borrowed as it is).
    let body_value = params.and_then(|p| {
        let m = crate::scan::get(p, field.as_bytes()).filter(|m| m.kind == crate::scan::Kind::String)?;
        let raw = crate::scan::span_str(p, m.value);
        match m.plain {
            true => Some(std::borrow::Cow::Borrowed(&raw[1..raw.len() - 1])),
            false => sonic_rs::from_str::<String>(raw).ok().map(std::borrow::Cow::Owned),
        }
    });
    let Some(body_value) = body_value else { return Ok(()) };
    match headers.name.as_deref() {
        None => Err(mismatch(format!("Header mismatch: the Mcp-Name header is required for {method}"))),
        Some(raw) => match header_value(raw) {
            Some(v) if v == body_value => Ok(()),
            Some(v) => Err(mismatch(format!(
                "Header mismatch: Mcp-Name header value '{v}' does not match body value '{body_value}'"
            ))),
            None => Err(mismatch("Header mismatch: the Mcp-Name header is not valid =?base64?…?= text".to_string())),
        },
    }
}

/// The strict `=?base64?…?=` form decoded (padding required, UTF-8); `Err` if the wrapper is
/// there but its inside is not valid base64 text; `Ok(None)` without the wrapper.
fn decode_sentinel(raw: &str) -> Result<Option<String>, ()> {
    use base64::Engine as _;
    let Some(b64) = raw.strip_prefix("=?base64?").and_then(|r| r.strip_suffix("?=")) else { return Ok(None) };
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64).map_err(|_| ())?;
    String::from_utf8(bytes).map(Some).map_err(|_| ())
}

/// `Mcp-Param-{Name}` headers of a `tools/call` against the arguments the tool mirrors
/// (`x-mcp-header`): a present, non-null argument needs its header with the same value.
fn check_param_headers(core: &CoreCtx, headers: &ModernHeaders, params: Option<&str>) -> Result<(), RpcError> {
    let Some(p) = params else { return Ok(()) };
    let name = sonic_rs::get_from_str(p, ["name"]).ok().and_then(|v| v.as_str().map(str::to_string));
    let catalog = core.catalog();
    let Some(tool) = name.and_then(|n| catalog.tool(&n)) else { return Ok(()) };
    for (suffix, property) in &tool.param_headers {
        let value = sonic_rs::get_from_str(p, ["arguments", property.as_str()]).ok().filter(|v| !v.is_null());
        let header = headers.params.iter().find(|(n, _)| n == suffix).map(|(_, v)| v.as_slice());
        let Some(value) = value else { continue };
        let Some(raw) = header else {
            return Err(mismatch(format!(
                "Header mismatch: the Mcp-Param-{suffix} header is required (argument {property} is set)"
            )));
        };
        let Ok(raw) = std::str::from_utf8(raw).map(str::trim) else {
            return Err(mismatch(format!("Header mismatch: Mcp-Param-{suffix} holds bytes that are not text")));
        };
        if raw.bytes().any(|b| !(0x20..0x7f).contains(&b)) {
            return Err(mismatch(format!(
                "Header mismatch: Mcp-Param-{suffix} holds characters outside printable ASCII"
            )));
        }
        let decoded = match decode_sentinel(raw) {
            Ok(Some(d)) => d,
            Ok(None) => raw.to_string(),
            Err(()) => {
                return Err(mismatch(format!("Header mismatch: Mcp-Param-{suffix} is not valid =?base64?…?= text")))
            }
        };
        let equal = if let Some(s) = value.as_str() {
            s == decoded
        } else if let Some(b) = value.as_bool() {
            decoded == if b { "true" } else { "false" }
        } else if let Some(n) = value.as_f64() {
            decoded.parse::<f64>().is_ok_and(|h| h == n)
        } else {
            false
        };
        if !equal {
            return Err(mismatch(format!(
                "Header mismatch: Mcp-Param-{suffix} header value '{decoded}' does not match argument {property}"
            )));
        }
    }
    Ok(())
}

/// A 2026-07-28 POST: checked, then answered here with a throwaway session.
fn modern(
    core: &Rc<CoreCtx>,
    body: &[u8],
    prefers_sse: bool,
    headers: &ModernHeaders,
    (identity, from): (Who, From),
    reply: mailbox::Sender<Reply>,
) {
    let Some(message) = parse_body(core, body, &reply) else { return };
    let (id, method, params) = match message {
        Message::Request { id, method, params } => (id, method, params),
        // No client notification is defined on Streamable HTTP in this era; take it anyway.
        Message::Notification { .. } => return done(&reply, 202, Vec::new()),
        Message::Response { .. } => {
            return refuse(
                &reply,
                400,
                code::INVALID_REQUEST,
                "Bad Request: the 2026-07-28 era has no client responses",
            )
        }
    };
    let declared = era::declared_version(params);
    if !era::MODERN_VERSIONS.contains(&headers.version.as_str())
        && declared.as_deref().is_none_or(|d| d == headers.version)
    {
        return modern_refusal(core, &reply, id, &method, &era::unsupported_version(&headers.version));
    }
    if let Err(e) = check_headers(headers, &method, params, declared.as_deref()) {
        return modern_refusal(core, &reply, id, &method, &e);
    }
    if method == "tools/call" {
        if let Err(e) = check_param_headers(core, headers, params) {
            return modern_refusal(core, &reply, id, &method, &e);
        }
    }
    if permit(core, &identity, (id, &method, params), &reply).is_err() {
        return;
    }
    // No session in this era: limited per connection (and per address and identity).
    let subject = identity.as_deref().map(|i| i.subject.as_str());
    let caller = dispatch::Caller::http(from.peer, from.conn, body.len(), subject);
    if let Err(refused) = dispatch::check_limits(core, &caller, &method, params) {
        return refuse_request(core, &reply, &caller, (id, &method, params), &refused);
    }
    let modern = match era::read(params, true) {
        Ok(m) => m.expect("read with the modern hint"),
        Err(e) => return modern_refusal(core, &reply, id, &method, &e),
    };
    let mut s = Session::new(SessionId::from_random(0), core.core);
    s.phase = Phase::Initialized;
    s.protocol_version = era::MODERN_VERSION;
    s.identity = identity.clone();
    let session = Rc::new(RefCell::new(s));
    let opts = StreamOpts { prefers_sse, priming: false, session_header: None, replay_cap: 0 };
    let stream = Stream::new(1, None, reply, opts);
    let sink: Rc<dyn Sink> = Rc::new(StreamSink(stream.clone()));
    let tasks = Some(&core.tasks);
    let target = dispatch::Target { session: &session, sink: &sink, tasks, bound: None, modern: Some(modern), caller };
    let mut batch = dispatch::Batch::begin(core);
    let mut out = Vec::new();
    let later = dispatch::handle_request(core, &mut batch, &target, (id, &method, params), &mut out);
    batch.end(core);
    let Some(later) = later else {
        let status = modern_status(dispatch::error_code(&out, id.0.len()));
        return stream.finish_with(Some(out), status);
    };
    if prefers_sse {
        stream.start();
    }
    let core = core.clone();
    let (meta, fut) = later.split();
    ringmcp_ring::spawn(async move {
        // The client closing the stream cancels the request (its future is dropped).
        let run = async { Some(super::core::run_later(&core, fut).await) };
        let closed = async {
            stream.closed().await;
            None
        };
        let outcome = futures_lite::future::or(run, closed).await;
        let Some(outcome) = outcome else {
            dispatch::finish_later(&core, meta, None, None);
            return;
        };
        let answered = outcome.is_some();
        let mut out = Vec::new();
        dispatch::finish_later(&core, meta, outcome, Some(&mut out));
        let status = modern_status(dispatch::error_code(&out, meta_id_len(&out)));
        stream.finish_with(answered.then_some(out), status);
    })
    .detach();
}

/// The length of the id of an answer line (`{"jsonrpc":"2.0","id":<id>,…`).
fn meta_id_len(answer: &[u8]) -> usize {
    const PREFIX: usize = br#"{"jsonrpc":"2.0","id":"#.len();
    let rest = answer.get(PREFIX..).unwrap_or_default();
    match rest.first() {
        Some(b'"') => rest[1..].iter().position(|b| *b == b'"').map_or(0, |p| p + 2),
        _ => rest.iter().position(|b| *b == b',').unwrap_or(0),
    }
}

fn not_found(reply: &mailbox::Sender<Reply>) {
    refuse(reply, 404, TRANSPORT_ERROR, "Not Found: unknown or ended session; initialize a new one");
}

/// What a POST carries besides its session and body.
struct Post {
    prefers_sse: bool,
    header_version: Option<&'static str>,
    client: Option<IpAddr>,
    identity: Who,
    from: From,
}

/// Answers a request a gate refused (rate limit: 429, memory: 503) with `Retry-After`.
fn refuse_request(
    core: &CoreCtx,
    reply: &mailbox::Sender<Reply>,
    caller: &dispatch::Caller<'_>,
    request: (Id<'_>, &str, Option<&str>),
    refused: &dispatch::Refused,
) {
    let mut batch = dispatch::Batch::begin(core);
    let mut body = Vec::new();
    dispatch::write_refused(core, &mut batch, caller, request, refused, &mut body);
    body.pop();
    let (status, retry_after_s) = (refused.status, refused.retry_after_s);
    let _ = reply.try_send(Reply::Refused { status, body, retry_after_s });
}

fn post(core: &Rc<CoreCtx>, session_id: Option<SessionId>, body: &[u8], p: Post, reply: mailbox::Sender<Reply>) {
    let Post { prefers_sse, header_version, client, identity, from } = p;
    let Some(message) = parse_body(core, body, &reply) else { return };
    if let Message::Request { id, method, params } = &message {
        if session_id.is_none()
            && header_version.is_none()
            && era::looks_modern(*params)
            && era::declared_version(*params).is_some()
        {
            let e = mismatch(format!(
                "Header mismatch: the MCP-Protocol-Version header is required (body {method} declares a {} request)",
                era::MODERN_VERSION
            ));
            return modern_refusal(core, &reply, *id, method, &e);
        }
    }
    let initialize_id = match &message {
        Message::Request { id, method, .. } if method == "initialize" => Some(*id),
        _ => None,
    };
    let is_initialize = initialize_id.is_some();
    if let Message::Request { id, method, params } = &message {
        if permit(core, &identity, (*id, method, *params), &reply).is_err() {
            return;
        }
    }
    // Limited per 2025-11-25 session, else (initialize, stateless) per connection; and per
    // address and identity.
    let key = session_id.as_ref().map_or(from.conn, dispatch::session_key);
    let who = identity.clone();
    let caller = dispatch::Caller::http(from.peer, key, body.len(), who.as_deref().map(|i| i.subject.as_str()));
    if let Message::Request { id, method, params } = &message {
        if let Err(refused) = dispatch::check_limits(core, &caller, method, *params) {
            return refuse_request(core, &reply, &caller, (*id, method, *params), &refused);
        }
    }
    let entry = match session_id {
        Some(id) => match core.http_session(&id) {
            Some(entry) if core.auth.is_none() || same_caller(&entry, &identity) => Some(entry),
            _ => return not_found(&reply),
        },
        None if core.stateless => None,
        None if is_initialize => match core.open_http_session(client) {
            Ok(entry) => Some(entry),
            Err(refusal) => {
                let error = refusal.rpc_error();
                let mut body = Vec::new();
                jsonrpc::write_error(&mut body, initialize_id, &error);
                body.pop();
                core.metrics.record_request(method_index("initialize"), 0, Some(error.code), core.now_ms());
                let (status, retry_after_s) = (refusal.status(), refusal.retry_after_s());
                let _ = reply.try_send(Reply::Refused { status, body, retry_after_s });
                return;
            }
        },
        None => {
            return refuse(&reply, 400, TRANSPORT_ERROR, "Bad Request: Mcp-Session-Id header is required");
        }
    };
    let new_session = session_id.is_none() && entry.is_some();
    let (session, http_state) = match &entry {
        Some(e) => (e.session.clone(), e.http.clone()),
        None => {
            // Stateless: a throwaway session that is already initialized.
            let mut s = Session::new(SessionId::from_random(0), core.core);
            if !is_initialize {
                s.phase = Phase::Initialized;
                s.protocol_version = header_version.unwrap_or(PROTOCOL_VERSIONS[1]);
            }
            s.identity = identity.clone();
            (Rc::new(RefCell::new(s)), None)
        }
    };
    if new_session {
        // The session is bound to the subject that created it.
        session.borrow_mut().identity = identity;
    }
    let mut batch = dispatch::Batch::begin(core);
    let Message::Request { id, method, params } = message else {
        dispatch::handle_other(core, &batch, &session, message, body);
        return done(&reply, 202, Vec::new());
    };
    let no = http_state.as_ref().map_or(1, |h| h.next_stream_no());
    let version = session.borrow().protocol_version;
    let opts = StreamOpts {
        prefers_sse,
        priming: http_state.is_some() && (is_initialize || version >= PRIMING_SINCE),
        session_header: entry.as_ref().filter(|_| new_session).map(|e| e.id),
        replay_cap: if http_state.is_some() { core.sse_replay } else { 0 },
    };
    let stream = Stream::new(no, http_state.clone(), reply, opts);
    let sink: Rc<dyn Sink> = Rc::new(StreamSink(stream.clone()));
    // Stateless sessions last one request: no task could be found again.
    let tasks = entry.as_ref().map(|_| &core.tasks);
    let target = dispatch::Target { session: &session, sink: &sink, tasks, bound: None, modern: None, caller };
    let mut out = Vec::new();
    let later = dispatch::handle_request(core, &mut batch, &target, (id, &method, params), &mut out);
    batch.end(core);
    if is_initialize && new_session && session.borrow().phase == Phase::New {
        // initialize failed: the session was never made.
        if let Some(e) = &entry {
            core.end_session(&e.id);
        }
        stream.forget_session_header();
    }
    let Some(later) = later else { return stream.finish(Some(out)) };
    if prefers_sse {
        stream.start();
    }
    let core = core.clone();
    let (meta, fut) = later.split();
    ringmcp_ring::spawn(async move {
        let outcome = super::core::run_later(&core, fut).await;
        let answered = outcome.is_some();
        let mut out = Vec::new();
        dispatch::finish_later(&core, meta, outcome, Some(&mut out));
        stream.finish(answered.then_some(out));
    })
    .detach();
}

fn get(core: &Rc<CoreCtx>, id: SessionId, last_event_id: Option<String>, identity: Who, reply: mailbox::Sender<Reply>) {
    let Some(entry) = core.http_session(&id) else { return not_found(&reply) };
    if core.auth.is_some() && !same_caller(&entry, &identity) {
        return not_found(&reply);
    }
    let Some(http_state) = entry.http.clone() else { return not_found(&reply) };
    if let Some((no, seq)) = last_event_id.as_deref().and_then(parse_event_id) {
        if let Some(stream) = http_state.find(no) {
            stream.resume(Some(seq), reply);
            return;
        }
    }
    // The session's own stream (number 0): one reader at a time.
    if let Some(stream) = http_state.find(0) {
        if stream.is_live() {
            return refuse(&reply, 409, TRANSPORT_ERROR, "Conflict: this session's GET stream is already open");
        }
        stream.resume(None, reply);
        return;
    }
    let version = entry.session.borrow().protocol_version;
    let opts = StreamOpts {
        prefers_sse: true,
        priming: version >= PRIMING_SINCE,
        session_header: None,
        replay_cap: core.sse_replay,
    };
    let stream = Stream::new(0, Some(http_state), reply, opts);
    stream.start();
    entry.session.borrow().peer.set_unrelated(Some(Rc::new(StreamSink(stream))));
}

/// `<stream>:<seq>` → its parts.
fn parse_event_id(id: &str) -> Option<(u32, u64)> {
    let (no, seq) = id.split_once(':')?;
    Some((no.parse().ok()?, seq.parse().ok()?))
}
