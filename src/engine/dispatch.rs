//! One message of a connection-bound session (an NDJSON line, a WebSocket text frame):
//! parse, admit, answer, count. Shared by the NDJSON and WebSocket drivers.

use super::core::CoreCtx;
use super::metrics::method_index;
use crate::jsonrpc::{self, Message, OwnedId};
use crate::mcp::{self, Ctx, LaterAnswer, Session, Sink};
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

/// Answers `line`: the answer (ending in `\n`) is appended to `out`, or the request is
/// returned to be run.
pub(crate) fn handle_message(
    core: &CoreCtx,
    session: &RefCell<Session>,
    sink: &Rc<dyn Sink>,
    line: &[u8],
    out: &mut Vec<u8>,
) -> Option<Later> {
    let message = match jsonrpc::parse(line) {
        Ok(m) => m,
        Err(invalid) => {
            jsonrpc::write_error(out, invalid.id, &invalid.error);
            core.metrics.record_request(method_index(""), 0, Some(invalid.error.code), core.now_ms());
            return None;
        }
    };
    match message {
        Message::Notification { method, params } => {
            mcp::handle_notification(&mut session.borrow_mut(), &method, params);
            core.metrics.record_notification(core.now_ms());
            None
        }
        Message::Response { id } => {
            mcp::handle_response(&session.borrow(), id, line);
            None
        }
        Message::Request { id, method, params } => {
            let start = Instant::now();
            let method_idx = method_index(&method);
            if let Err(e) = core.queue.try_admit() {
                jsonrpc::write_error(out, Some(id), &e);
                core.metrics.record_request(method_idx, 0, Some(e.code), core.now_ms());
                return None;
            }
            let mark = out.len();
            let later = {
                let mut session = session.borrow_mut();
                let catalog = core.catalog();
                let mut ctx = Ctx {
                    catalog: &catalog,
                    session: &mut session,
                    page_size: core.page_size,
                    sink,
                    tasks: Some(&core.tasks),
                };
                mcp::handle_request(&mut ctx, id, &method, params, out)
            };
            match later {
                None => {
                    core.queue.release();
                    let code = error_code(&out[mark..], id.0.len());
                    record(core, method_idx, start, code);
                    None
                }
                Some(fut) => Some(Later { id: OwnedId::new(id), fut, method: method_idx, start }),
            }
        }
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
