//! The MCP protocol core (spec 2025-11-25): per-session state and method dispatch, one file
//! per method. I/O-free: handlers append result JSON to an output buffer, or return a future
//! for the transport to run; nothing here touches a socket or a clock.

mod completion_complete;
mod initialize;
mod logging_set_level;
mod notifications;
mod page;
mod ping;
mod prompts_get;
mod prompts_list;
mod resources_list;
mod resources_read;
mod resources_templates_list;
mod tools_call;
mod tools_list;
mod unknown;

pub use notifications::handle_notification;

use crate::api::tool::LocalFuture;
use crate::api::Catalog;
use crate::jsonrpc::{self, code, Id, RpcError};
use ringmcp_shards::SessionId;
use serde::Deserialize;

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
    /// Lowest level of `notifications/message` the client wants (`logging/setLevel`).
    pub log_level: &'static str,
    /// Whether the client sent `notifications/initialized`.
    pub client_ready: bool,
}

impl Session {
    /// A new session, before `initialize`.
    pub fn new(id: SessionId, core: usize) -> Session {
        Session {
            id,
            core,
            phase: Phase::New,
            protocol_version: LATEST_PROTOCOL_VERSION,
            log_level: "info",
            client_ready: false,
        }
    }
}

/// What a method did with its request.
pub enum Answer {
    /// The result JSON was appended to the output buffer.
    Done,
    /// An error answer instead.
    Error(RpcError),
    /// The answer comes later: run this future; it yields the result JSON.
    Later(LocalFuture<Result<Vec<u8>, RpcError>>),
}

/// What a method handler sees.
pub struct Ctx<'a> {
    /// What the server offers.
    pub catalog: &'a Catalog,
    /// The calling session.
    pub session: &'a mut Session,
    /// Items per page of list methods.
    pub page_size: usize,
}

/// Answers one request: writes the whole answer line to `out` unless the answer is
/// [`Answer::Later`], in which case nothing is written and the caller runs the future and
/// writes the answer with [`write_later`].
pub fn handle_request(
    ctx: &mut Ctx<'_>,
    id: Id<'_>,
    method: &str,
    params: Option<&str>,
    out: &mut Vec<u8>,
) -> Option<LocalFuture<Result<Vec<u8>, RpcError>>> {
    let mark = out.len();
    jsonrpc::begin_result(out, id);
    match dispatch(ctx, method, params, out) {
        Answer::Done => {
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
            Some(fut)
        }
    }
}

/// Writes the answer of a request whose future completed.
pub fn write_later(out: &mut Vec<u8>, id: Id<'_>, outcome: Result<Vec<u8>, RpcError>) {
    match outcome {
        Ok(result) => jsonrpc::write_result(out, id, &result),
        Err(e) => jsonrpc::write_error(out, Some(id), &e),
    }
}

fn dispatch(ctx: &mut Ctx<'_>, method: &str, params: Option<&str>, out: &mut Vec<u8>) -> Answer {
    let handler: fn(&mut Ctx<'_>, Option<&str>, &mut Vec<u8>) -> Answer = match method {
        "initialize" => return initialize::handle(ctx, params, out),
        "ping" => return ping::handle(ctx, params, out),
        "tools/list" => tools_list::handle,
        "tools/call" => tools_call::handle,
        "resources/list" => resources_list::handle,
        "resources/read" => resources_read::handle,
        "resources/templates/list" => resources_templates_list::handle,
        "prompts/list" => prompts_list::handle,
        "prompts/get" => prompts_get::handle,
        "completion/complete" => completion_complete::handle,
        "logging/setLevel" => logging_set_level::handle,
        _ => return unknown::handle(method),
    };
    if ctx.session.phase == Phase::New {
        return Answer::Error(RpcError::new(
            code::INVALID_REQUEST,
            format!("Invalid Request: session not initialized; send initialize before {method}"),
        ));
    }
    handler(ctx, params, out)
}

/// Deserializes a method's params (absent params read as `{}`). Errors are -32602.
fn params<'a, T: Deserialize<'a>>(params: Option<&'a str>) -> Result<T, RpcError> {
    let text = params.unwrap_or("{}");
    sonic_rs::from_str(text)
        .map_err(|e| RpcError::invalid_params(format!("Invalid params: {}", first_line(&e.to_string()))))
}

fn first_line(s: &str) -> &str {
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
