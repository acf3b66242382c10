//! The MCP protocol core: per-session state and method dispatch, one file per method, both
//! eras on one table — 2025-11-25 (and older) sessions begun by `initialize`, and 2026-07-28
//! stateless requests that carry their client in `_meta` ([`era`]). I/O-free: handlers append
//! result JSON to an output buffer, or return a future for the transport to run; nothing here
//! touches a socket or a clock (the transport passes the time in).

pub mod breaker;
pub mod catalog;
pub mod client;
mod completion_complete;
pub mod era;
mod initialize;
pub mod input;
mod logging_set_level;
mod notifications;
mod page;
pub mod peer;
mod ping;
mod prompts_get;
mod prompts_list;
pub mod request_state;
mod resources_list;
mod resources_read;
mod resources_subscribe;
mod resources_templates_list;
mod resources_unsubscribe;
mod server_discover;
pub mod subscriptions_listen;
pub mod task_input;
pub mod tasks;
mod tasks_cancel;
mod tasks_get;
mod tasks_list;
mod tasks_result;
mod tasks_update;
mod tools_call;
mod tools_list;
mod unknown;

pub use era::Modern;
pub use notifications::handle_notification;
pub use peer::{Peer, RequestPeer, Sink};
pub use subscriptions_listen::Listeners;
pub use tasks::TaskTable;

/// A future that stays on the core that created it.
pub type LocalFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + 'static>>;

use crate::jsonrpc::{self, code, Id, RpcError};
use crate::mcp::catalog::Catalog;
use ringmcp_shards::SessionId;
use serde::Deserialize;
use std::rc::Rc;

/// Protocol versions this server speaks, oldest first; the last is answered to unknown ones.
pub const PROTOCOL_VERSIONS: [&str; 4] = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];
/// The newest protocol version.
pub const LATEST_PROTOCOL_VERSION: &str = PROTOCOL_VERSIONS[PROTOCOL_VERSIONS.len() - 1];

/// Where a session is in its life cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Only `initialize` and `ping` are served.
    New,
    /// `initialize` answered: everything is served.
    Initialized,
}

/// One MCP session's state.
#[derive(Debug, Clone)]
pub struct Session {
    /// Its id in the registry.
    pub id: SessionId,
    /// The core that owns it.
    pub core: usize,
    /// Life-cycle phase.
    pub phase: Phase,
    /// Negotiated protocol version.
    pub protocol_version: &'static str,
    /// Whether the client sent `notifications/initialized`.
    pub client_ready: bool,
    /// The link back to the client: log level, subscriptions, server-to-client requests,
    /// requests in flight.
    pub peer: Rc<Peer>,
    /// Who the transport authenticated for this session (`None`: authorization is off, or an
    /// anonymous request); tools read it from [`ToolCall::identity`](catalog::tool::ToolCall::identity).
    pub identity: Option<std::sync::Arc<crate::identity::Identity>>,
}

impl Session {
    /// A new session, before `initialize`.
    pub fn new(id: SessionId, core: usize) -> Session {
        Session {
            id,
            core,
            phase: Phase::New,
            protocol_version: LATEST_PROTOCOL_VERSION,
            client_ready: false,
            peer: Rc::new(Peer::default()),
            identity: None,
        }
    }
}

/// The tool a `tools/call` with `params` (valid JSON, as the parser left it) names, read the
/// way `tools/call` reads it (for the scope rules of authorization).
pub fn tools_call_name(params: &str) -> Option<String> {
    tools_call::read_params(params).ok().map(|p| p.name.into_owned())
}

/// A request answered later: its future yields the result JSON or an error, or `None` when
/// the client cancelled it (then no answer is sent, as `notifications/cancelled` asks).
pub type LaterAnswer = LocalFuture<Option<Result<Vec<u8>, RpcError>>>;

/// What a method did with its request.
pub enum Answer {
    /// The result JSON was appended to the output buffer.
    Done,
    /// An error answer instead.
    Error(RpcError),
    /// The answer comes later: run this future.
    Later(LaterAnswer),
}

/// What a method handler sees.
pub struct Ctx<'a> {
    /// What the server offers.
    pub catalog: &'a Catalog,
    /// The calling session.
    pub session: &'a mut Session,
    /// Items per page of list methods.
    pub page_size: usize,
    /// Where this request's own messages (progress, logs, server-to-client requests) go.
    pub sink: &'a Rc<dyn Sink>,
    /// The core's tasks; `None` where tasks cannot be kept (session-era stateless HTTP, where
    /// a session lasts one request): then the server has no `tasks` capability and
    /// `tools/call` ignores `params.task`, as the spec asks of such servers. 2026-07-28
    /// requests keep tasks on the core that reads them (the tasks extension).
    pub tasks: Option<&'a Rc<TaskTable>>,
    /// The core's `subscriptions/listen` streams (`None` where none can be held open).
    pub listeners: Option<&'a Rc<Listeners>>,
    /// The transport read the request's era already and set `modern` (Streamable HTTP checks
    /// `_meta` against its headers first); otherwise [`handle_request`] reads it.
    pub era_read: bool,
    /// The request's 2026-07-28 client; `None` in the session era.
    pub modern: Option<Modern>,
    /// Wall-clock time, in milliseconds since the Unix epoch (`requestState` expiry).
    pub unix_ms: u64,
    /// The core's tool circuit breakers and timeouts (`None`: neither).
    pub guard: Option<&'a Rc<breaker::Guard>>,
}

/// Methods of the session era that the 2026-07-28 era removed: -32601 there (`tasks/get` and
/// `tasks/cancel` stay, as methods of the tasks extension).
const REMOVED_IN_MODERN: [&str; 7] = [
    "initialize",
    "ping",
    "logging/setLevel",
    "resources/subscribe",
    "resources/unsubscribe",
    "tasks/result",
    "tasks/list",
];

/// Methods whose 2026-07-28 results carry the catalog's list caching hints.
const LIST_CACHED: [&str; 5] =
    ["server/discover", "tools/list", "prompts/list", "resources/list", "resources/templates/list"];

/// Answers one request: writes the whole answer line to `out` unless the answer is
/// [`Answer::Later`], in which case nothing is written and the caller runs the future and
/// writes the answer with [`write_later`]. Reads the request's era first (setting
/// `ctx.modern`); a modern request's results get `resultType` (and caching hints).
pub fn handle_request(
    ctx: &mut Ctx<'_>,
    id: Id<'_>,
    method: &str,
    params: Option<&str>,
    out: &mut Vec<u8>,
) -> Option<LaterAnswer> {
    let mark = out.len();
    // A modern `tools/call`'s params are scanned once: its `_meta` comes from that scan.
    let mut scanned = None;
    if !ctx.era_read {
        let read = match method {
            "tools/call" if era::looks_modern(params) => match tools_call::read_params(params.unwrap_or("{}")) {
                Ok(p) => {
                    let read = era::read_found(p.meta.as_deref(), false);
                    scanned = Some(p);
                    read
                }
                Err(_) => era::read(params, false),
            },
            _ => era::read(params, method == "server/discover"),
        };
        match read {
            Ok(modern) => ctx.modern = modern,
            Err(e) => {
                jsonrpc::write_error(out, Some(id), &e);
                return None;
            }
        }
    }
    jsonrpc::begin_result(out, id);
    let body = out.len();
    match dispatch(ctx, id, method, params, scanned, out) {
        Answer::Done => {
            if ctx.modern.is_some() {
                stamp(out, body, list_hint(ctx.catalog, method));
            }
            jsonrpc::end_result(out);
            None
        }
        Answer::Error(e) => {
            out.truncate(mark);
            jsonrpc::write_error(out, Some(id), &e);
            None
        }
        Answer::Later(fut) => {
            out.truncate(mark);
            if ctx.modern.is_none() {
                return Some(fut);
            }
            let hint = list_hint(ctx.catalog, method);
            Some(Box::pin(async move {
                let outcome = fut.await;
                outcome.map(|r| {
                    r.map(|mut result| {
                        stamp(&mut result, 0, hint);
                        result
                    })
                })
            }))
        }
    }
}

fn list_hint(catalog: &Catalog, method: &str) -> Option<crate::mcp::catalog::CacheHint> {
    LIST_CACHED.contains(&method).then_some(catalog.list_cache)
}

/// Adds `"resultType":"complete"` (and `hint`'s fields) at the front of the result object that
/// begins at `at`, unless the handler wrote a `resultType` of its own there.
fn stamp(out: &mut Vec<u8>, at: usize, hint: Option<crate::mcp::catalog::CacheHint>) {
    const OWN: &[u8] = br#"{"resultType""#;
    if out.get(at) != Some(&b'{') || out[at..].starts_with(OWN) {
        return;
    }
    let mut head = Vec::with_capacity(80);
    head.extend_from_slice(br#""resultType":"complete""#);
    if let Some(hint) = hint {
        head.push(b',');
        hint.write_fields(&mut head);
    }
    if out.get(at + 1) != Some(&b'}') {
        head.push(b',');
    }
    let len = head.len();
    // Inserted after the `{` by one grow and one memmove (a `Vec::splice` moved byte by byte).
    out.extend_from_slice(&head);
    out[at + 1..].rotate_right(len);
}

/// Writes the answer of a request whose future completed (nothing if it was cancelled).
pub fn write_later(out: &mut Vec<u8>, id: Id<'_>, outcome: Option<Result<Vec<u8>, RpcError>>) {
    match outcome {
        Some(Ok(result)) => jsonrpc::write_result(out, id, &result),
        Some(Err(e)) => jsonrpc::write_error(out, Some(id), &e),
        None => {}
    }
}

/// Takes a client's answer to a server-to-client request (`line` is the whole message).
pub fn handle_response(session: &Session, id: Id<'_>, line: &[u8]) {
    if !session.peer.answer(id, line) {
        log::debug!("session {}: response to unknown id {}", session.id, id.0);
    }
}

type Handler = fn(&mut Ctx<'_>, Option<&str>, &mut Vec<u8>) -> Answer;

fn dispatch<'p>(
    ctx: &mut Ctx<'_>,
    id: Id<'_>,
    method: &str,
    params: Option<&'p str>,
    scanned: Option<tools_call::Params<'p>>,
    out: &mut Vec<u8>,
) -> Answer {
    let modern = ctx.modern.is_some();
    if modern && REMOVED_IN_MODERN.contains(&method) {
        return unknown::removed(method);
    }
    // `None`: methods that also need the request's id.
    let handler: Option<Handler> = match method {
        "initialize" => return initialize::handle(ctx, params, out),
        "ping" => return ping::handle(ctx, params, out),
        "server/discover" => return server_discover::handle(ctx, params, out),
        "subscriptions/listen" if modern => None,
        "tools/call" => None,
        "tools/list" => Some(tools_list::handle),
        "resources/list" => Some(resources_list::handle),
        "resources/read" => Some(resources_read::handle),
        "resources/templates/list" => Some(resources_templates_list::handle),
        "resources/subscribe" => Some(resources_subscribe::handle),
        "resources/unsubscribe" => Some(resources_unsubscribe::handle),
        "prompts/list" => Some(prompts_list::handle),
        "prompts/get" => Some(prompts_get::handle),
        "completion/complete" => Some(completion_complete::handle),
        "logging/setLevel" => Some(logging_set_level::handle),
        "tasks/get" if ctx.tasks.is_some() => Some(tasks_get::handle),
        "tasks/result" if ctx.tasks.is_some() => Some(tasks_result::handle),
        "tasks/list" if ctx.tasks.is_some() => Some(tasks_list::handle),
        "tasks/cancel" if ctx.tasks.is_some() => Some(tasks_cancel::handle),
        "tasks/update" if modern && ctx.tasks.is_some() => Some(tasks_update::handle),
        _ => return unknown::handle(method),
    };
    if !modern && ctx.session.phase == Phase::New {
        return Answer::Error(RpcError::new(
            code::INVALID_REQUEST,
            format!("Invalid Request: session not initialized; send initialize before {method}"),
        ));
    }
    match handler {
        Some(handler) => handler(ctx, params, out),
        None if method == "tools/call" => tools_call::handle(ctx, id, params, scanned, out),
        None => subscriptions_listen::handle(ctx, id, params),
    }
}

/// Deserializes a method's params (absent params read as `{}`). Errors are -32602.
fn params<'a, T: Deserialize<'a>>(params: Option<&'a str>) -> Result<T, RpcError> {
    let text = params.unwrap_or("{}");
    sonic_rs::from_str(text)
        .map_err(|e| RpcError::invalid_params(format!("Invalid params: {}", first_line(&e.to_string()))))
}

pub(crate) fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

/// Appends `value` as JSON (for results built from serde types).
fn write_json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    sonic_rs::to_writer(&mut *out, value).expect("writing to a Vec cannot fail");
}

/// Unwraps a `Result<(), RpcError>` into an [`Answer`].
fn answer(r: Result<(), RpcError>) -> Answer {
    match r {
        Ok(()) => Answer::Done,
        Err(e) => Answer::Error(e),
    }
}

/// `result` (a JSON object) with `"_meta":{"io.modelcontextprotocol/related-task":{"taskId":…}}`
/// added last, as `tasks/result` must answer.
pub fn with_related_task(result: &[u8], id: &str) -> Vec<u8> {
    let body = result.strip_suffix(b"}").filter(|_| result.first() == Some(&b'{'));
    let body = body.expect("a tool result is a JSON object");
    let mut out = Vec::with_capacity(result.len() + 96);
    out.extend_from_slice(body);
    if body.len() > 1 {
        out.push(b',');
    }
    out.extend_from_slice(br#""_meta":{"io.modelcontextprotocol/related-task":{"taskId":"#);
    write_str(&mut out, id);
    out.extend_from_slice(b"}}}");
    out
}

/// `s` as a JSON string.
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    sonic_rs::to_writer(&mut *out, s).expect("writing to a Vec cannot fail");
}
