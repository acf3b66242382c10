//! One message: parse, admit, answer, count. The one path every transport's messages take:
//! NDJSON lines, WebSocket text frames ([`handle_message`]) and Streamable HTTP POSTs
//! (`streamable`, which resolves the session first, then [`handle_request`] or
//! [`handle_other`]).

use super::core::{BoundSession, CoreCtx};
use super::metrics::method_index;
use crate::jsonrpc::{self, Id, Message, OwnedId};
use crate::mcp::{self, Ctx, LaterAnswer, Session, Sink, TaskTable};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Instant;

/// A request whose answer comes later: run `fut`, then write the answer with
/// [`finish_later`].
pub(crate) struct Later {
    pub id: OwnedId,
    pub fut: LaterAnswer,
    method: usize,
    start: Instant,
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
    let target = Target { session: &bound.session, sink, tasks: Some(&core.tasks), bound: Some(bound), modern: None };
    match message {
        Message::Request { id, method, params } => {
            if let Some(auth) = &core.auth {
                if let Err(error) = permit(auth, bound, &method, params) {
                    jsonrpc::write_error(out, Some(id), &error);
                    core.metrics.record_request(method_index(&method), 0, Some(error.code), batch.start_ms);
                    return None;
                }
            }
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
    auth: &crate::auth::Auth,
    bound: &BoundSession,
    method: &str,
    params: Option<&str>,
) -> Result<(), jsonrpc::RpcError> {
    let session = bound.session.borrow();
    if session.identity.is_none() && bound.transport == super::metrics::Transport::Tcp {
        return Ok(());
    }
    let name = if auth.has_scope_rules() { crate::auth::request_name(method, params) } else { None };
    auth.permit(session.identity.as_deref(), Some(method), name.as_deref()).map_err(|failure| {
        auth.count(Err(&failure));
        auth.rpc_error(&failure)
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
            core.metrics.count_request(method_idx, error_code(&out[mark..], id.0.len()), batch.start_ms);
            batch.answered += 1;
            None
        }
        Some(fut) => Some(Later { id: OwnedId::new(id), fut, method: method_idx, start: batch.start }),
    }
}

/// Writes a later answer (nothing if it was cancelled), frees its queue slot and counts it.
pub(crate) fn finish_later(
    core: &CoreCtx,
    later: (OwnedId, usize, Instant),
    outcome: Option<Result<Vec<u8>, jsonrpc::RpcError>>,
    out: Option<&mut Vec<u8>>,
) {
    let (id, method, start) = later;
    core.queue.release();
    let code = match &outcome {
        Some(Err(e)) => Some(e.code),
        _ => None,
    };
    if let Some(out) = out {
        mcp::write_later(out, id.as_id(), outcome);
    }
    record(core, method, start, code);
}

impl Later {
    /// Splits off what [`finish_later`] needs, and the future to run.
    pub fn split(self) -> ((OwnedId, usize, Instant), LaterAnswer) {
        ((self.id, self.method, self.start), self.fut)
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
