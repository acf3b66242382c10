//! A session's way back to its client: server-to-client messages (progress, logging,
//! list_changed, resources/updated), server-to-client requests (sampling, elicitation, roots)
//! whose answers are routed back by id, and cancellation of requests in flight.
//!
//! I/O-free: a transport gives each request a [`Sink`] (where that request's messages go) and
//! each session an unrelated-messages sink; the core only formats messages and keeps state.

pub use super::client::{ClientAnswer, ClientCaps, ClientError};
use super::logging_set_level::LEVELS;
use super::write_str;
use crate::jsonrpc::Id;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::rc::Rc;
use std::task::Waker;

/// Where server-to-client messages go. Each is one complete JSON-RPC message (no newline).
pub trait Sink {
    /// Sends one message.
    fn send(&self, message: &[u8]);
    /// Asks the client to reconnect after `retry_ms` and closes this request's stream (SSE
    /// polling on Streamable HTTP); the request goes on and its result is delivered on the
    /// resumed stream. Transports without resumable streams ignore it.
    fn close_stream(&self, _retry_ms: u64) {}
}

/// A sink that drops everything (sessions with no way to reach the client, e.g. stateless
/// HTTP with no request in flight).
pub struct NullSink;

impl Sink for NullSink {
    fn send(&self, _: &[u8]) {}
}

/// A sink for the messages of a request that was already answered (a task's progress and
/// logs): the session's unrelated-messages sink, if it has one.
pub struct NotifySink(pub Rc<Peer>);

impl Sink for NotifySink {
    fn send(&self, message: &[u8]) {
        self.0.notify(message);
    }
}

/// One pending server-to-client request: filled when the answer comes, then the awaiting
/// tool is woken.
#[derive(Default)]
pub struct Reply {
    answer: RefCell<Option<ClientAnswer>>,
    waker: RefCell<Option<Waker>>,
}

impl Reply {
    /// The answer, once it came (taken).
    pub fn take(&self, waker: &Waker) -> Option<ClientAnswer> {
        let answer = self.answer.borrow_mut().take();
        if answer.is_none() {
            *self.waker.borrow_mut() = Some(waker.clone());
        }
        answer
    }

    fn fill(&self, answer: ClientAnswer) {
        *self.answer.borrow_mut() = Some(answer);
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
    }
}

/// Waits `duration` on the runtime that runs the request (the transport gives it: the protocol
/// core has no clock of its own).
pub type Timer = fn(std::time::Duration) -> super::LocalFuture<()>;

/// A session's link state; shared (`Rc`) by the session and its requests in flight.
#[derive(Default)]
pub struct Peer {
    /// Index in [`LEVELS`] of the lowest level the client wants; `None` until
    /// `logging/setLevel` (then every level is sent).
    pub log_level: Cell<Option<usize>>,
    /// What the client can be asked.
    pub client: Cell<ClientCaps>,
    /// Resource URIs the client subscribed to.
    pub subscriptions: RefCell<BTreeSet<String>>,
    /// `client_request_timeout_ms` (0: the default).
    pub client_timeout: Cell<u64>,
    /// How to wait out that timeout; `None`: server-to-client requests wait until answered or
    /// the session ends.
    timer: Cell<Option<Timer>>,
    next_id: Cell<u64>,
    pending: RefCell<HashMap<u64, Rc<Reply>>>,
    inflight: RefCell<HashMap<Box<str>, Rc<RequestPeer>>>,
    unrelated: RefCell<Option<Rc<dyn Sink>>>,
}

impl fmt::Debug for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Peer")
            .field("pending", &self.pending.borrow().len())
            .field("inflight", &self.inflight.borrow().len())
            .finish_non_exhaustive()
    }
}

impl Peer {
    /// How long a server-to-client request waits for its answer, in milliseconds.
    pub fn client_timeout_ms(&self) -> u64 {
        match self.client_timeout.get() {
            0 => crate::limits::CLIENT_REQUEST_TIMEOUT_MS_DEFAULT,
            ms => ms,
        }
    }

    /// Server-to-client requests time out after `ms` (0: the default), waited with `timer`.
    pub fn set_client_timeout(&self, ms: u64, timer: Timer) {
        self.client_timeout.set(ms);
        self.timer.set(Some(timer));
    }

    /// Sets where messages unrelated to any request go (list_changed, resources/updated).
    pub fn set_unrelated(&self, sink: Option<Rc<dyn Sink>>) {
        *self.unrelated.borrow_mut() = sink;
    }

    /// Sends a message unrelated to any request, if the session has somewhere to send it.
    pub fn notify(&self, message: &[u8]) -> bool {
        let sink = self.unrelated.borrow().clone();
        sink.map(|s| s.send(message)).is_some()
    }

    /// Whether a log message at `level` passes the session's `logging/setLevel` filter.
    pub fn wants_log(&self, level: &str) -> bool {
        let at = LEVELS.iter().position(|l| *l == level).unwrap_or(0);
        self.log_level.get().is_none_or(|min| at >= min)
    }

    /// Starts a server-to-client request: writes it to `out` (no newline) and returns the
    /// slot its answer will fill.
    pub fn start_request(&self, method: &str, params_json: &str, out: &mut Vec<u8>) -> (u64, Rc<Reply>) {
        let id = self.next_id.get() + 1;
        self.next_id.set(id);
        let reply = Rc::new(Reply::default());
        self.pending.borrow_mut().insert(id, reply.clone());
        out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
        out.extend_from_slice(itoa::Buffer::new().format(id).as_bytes());
        out.extend_from_slice(b",\"method\":");
        write_str(out, method);
        out.extend_from_slice(b",\"params\":");
        out.extend_from_slice(params_json.as_bytes());
        out.push(b'}');
        (id, reply)
    }

    /// Gives up on a request (timeout): a late answer is then ignored.
    pub fn forget_request(&self, id: u64) {
        self.pending.borrow_mut().remove(&id);
    }

    /// Routes a client's answer (`line` is the whole message) to the request it answers.
    /// Returns false for an id the server is not waiting on.
    pub fn answer(&self, id: Id<'_>, line: &[u8]) -> bool {
        let Ok(n) = id.0.parse::<u64>() else { return false };
        let Some(reply) = self.pending.borrow_mut().remove(&n) else { return false };
        let result = sonic_rs::get_from_slice(line, &["result"]).ok().map(|v| v.as_raw_str().to_string());
        let answer = match result {
            Some(r) => Ok(r),
            None => Err(ClientError::Rejected(
                sonic_rs::get_from_slice(line, &["error"]).map(|v| v.as_raw_str().to_string()).unwrap_or_default(),
            )),
        };
        reply.fill(answer);
        true
    }

    /// Registers a request in flight so `notifications/cancelled` can find it.
    pub fn begin(&self, id: Id<'_>, request: Rc<RequestPeer>) {
        self.inflight.borrow_mut().insert(id.0.into(), request);
    }

    /// The request finished (answered or cancelled).
    pub fn end(&self, id: &str) {
        self.inflight.borrow_mut().remove(id);
    }

    /// Cancels the request in flight whose raw id is `id`; false if there is none.
    pub fn cancel(&self, id: &str) -> bool {
        let request = self.inflight.borrow().get(id).cloned();
        request.map(|r| r.cancel()).is_some()
    }

    /// The session ended: every awaiting server-to-client request fails, every request in
    /// flight is cancelled.
    pub fn close(&self) {
        let pending: Vec<_> = self.pending.borrow_mut().drain().map(|(_, r)| r).collect();
        for reply in pending {
            reply.fill(Err(ClientError::Closed));
        }
        let inflight: Vec<_> = self.inflight.borrow_mut().drain().map(|(_, r)| r).collect();
        for request in inflight {
            request.cancel();
        }
        self.set_unrelated(None);
    }
}

/// One request in flight, as its handler sees the client: progress, logging and
/// server-to-client requests go on the request's own stream.
pub struct RequestPeer {
    /// The session's link.
    pub peer: Rc<Peer>,
    sink: RefCell<Rc<dyn Sink>>,
    progress_token: Option<Box<str>>,
    last_progress: Cell<Option<f64>>,
    cancelled: Cell<bool>,
    cancel_waker: RefCell<Option<Waker>>,
    /// The task this request runs as, if any: its messages carry the related-task `_meta`.
    related_task: Option<Box<str>>,
    /// A 2026-07-28 request: its input round (input is asked by input-required results, not
    /// server-to-client requests) and its own log level (`None`: no logs).
    modern: Option<(Rc<super::input::InputRound>, Option<usize>)>,
    /// A 2026-07-28 call that became a task: input is asked through the task.
    task_input: RefCell<Option<Rc<super::task_input::TaskInput>>>,
}

impl fmt::Debug for RequestPeer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestPeer").field("progress_token", &self.progress_token).finish_non_exhaustive()
    }
}

impl RequestPeer {
    /// A request of the session `peer` whose messages go to `sink`; `progress_token` is the raw
    /// JSON of the request's `_meta.progressToken`, if it had one.
    pub fn new(peer: Rc<Peer>, sink: Rc<dyn Sink>, progress_token: Option<&str>) -> RequestPeer {
        RequestPeer {
            peer,
            sink: RefCell::new(sink),
            progress_token: progress_token.map(Into::into),
            last_progress: Cell::new(None),
            cancelled: Cell::new(false),
            cancel_waker: RefCell::new(None),
            related_task: None,
            modern: None,
            task_input: RefCell::new(None),
        }
    }

    /// The request became a 2026-07-28 task (its answer is sent): from now on it asks for
    /// input through `input`, and its notifications have no stream to go to.
    pub fn into_task(&self, input: Rc<super::task_input::TaskInput>) {
        *self.task_input.borrow_mut() = Some(input);
        *self.sink.borrow_mut() = Rc::new(NullSink);
    }

    /// Where the request's messages go now (cloned, so a sink may reach back into the peer).
    fn sink(&self) -> Rc<dyn Sink> {
        self.sink.borrow().clone()
    }

    /// The input of a 2026-07-28 task, once the request became one.
    pub fn task_input(&self) -> Option<Rc<super::task_input::TaskInput>> {
        self.task_input.borrow().clone()
    }

    /// The same request in the 2026-07-28 era: input goes through `round`, and logs pass at
    /// `log_level` and above (none if `None`), whatever the session's level.
    pub fn modern(mut self, round: Rc<super::input::InputRound>, log_level: Option<usize>) -> RequestPeer {
        self.modern = Some((round, log_level));
        self
    }

    /// The input round of a 2026-07-28 request.
    pub fn input_round(&self) -> Option<&Rc<super::input::InputRound>> {
        self.modern.as_ref().map(|(r, _)| r)
    }

    /// The same request, run as task `task_id`: its notifications and server-to-client
    /// requests carry `_meta["io.modelcontextprotocol/related-task"]`, as the spec asks.
    pub fn for_task(mut self, task_id: &str) -> RequestPeer {
        self.related_task = Some(task_id.into());
        self
    }

    /// `message` (a notification ending in `}}`: params, then the message) with the
    /// related-task `_meta` added to its params, if the request is a task.
    fn tag(&self, mut message: Vec<u8>) -> Vec<u8> {
        let Some(task) = &self.related_task else { return message };
        debug_assert!(message.ends_with(b"}}"));
        message.truncate(message.len() - 2);
        message.extend_from_slice(br#","_meta":{"io.modelcontextprotocol/related-task":{"taskId":"#);
        write_str(&mut message, task);
        message.extend_from_slice(b"}}}}");
        message
    }

    /// Sends `notifications/progress` if the request asked for progress. `progress` must
    /// increase from call to call; a value that does not is not sent. Returns whether sent.
    pub fn progress(&self, progress: f64, total: Option<f64>, message: Option<&str>) -> bool {
        let Some(token) = &self.progress_token else { return false };
        if !progress.is_finite() || self.last_progress.get().is_some_and(|last| progress <= last) {
            return false;
        }
        self.last_progress.set(Some(progress));
        let mut m = Vec::with_capacity(128);
        m.extend_from_slice(
            b"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":",
        );
        m.extend_from_slice(token.as_bytes());
        m.extend_from_slice(b",\"progress\":");
        write_number(&mut m, progress);
        if let Some(total) = total.filter(|t| t.is_finite()) {
            m.extend_from_slice(b",\"total\":");
            write_number(&mut m, total);
        }
        if let Some(message) = message {
            m.extend_from_slice(b",\"message\":");
            write_str(&mut m, message);
        }
        m.extend_from_slice(b"}}");
        self.sink().send(&self.tag(m));
        true
    }

    /// Sends `notifications/message` at `level` (one of [`LEVELS`]) with `data_json` (any JSON
    /// value), if the session's level lets it through. Returns whether sent.
    pub fn log(&self, level: &str, logger: Option<&str>, data_json: &str) -> bool {
        let wanted = match &self.modern {
            Some((_, min)) => {
                let at = LEVELS.iter().position(|l| *l == level).unwrap_or(0);
                min.is_some_and(|min| at >= min)
            }
            None => self.peer.wants_log(level),
        };
        if !wanted {
            return false;
        }
        self.sink().send(&self.tag(log_message(level, logger, data_json)));
        true
    }

    /// Sends a server-to-client request on this request's stream; await the returned slot.
    pub fn start_request(&self, method: &str, params_json: &str) -> (u64, Rc<Reply>) {
        let mut m = Vec::with_capacity(64 + params_json.len());
        let tagged = self.related_task.as_deref().filter(|_| {
            params_json.starts_with('{')
                && params_json.ends_with('}')
                && crate::scan::get(params_json, b"_meta").is_none()
        });
        let tagged = tagged.map(|task| super::with_related_task(params_json.as_bytes(), task));
        let params_json = tagged.as_deref().map_or(params_json, |t| std::str::from_utf8(t).expect("JSON is UTF-8"));
        let started = self.peer.start_request(method, params_json, &mut m);
        self.sink().send(&m);
        started
    }

    /// A server-to-client request (2025-11-25) on this request's stream: the raw JSON of the
    /// client's result, or its error, the session's end, or the session's timeout.
    pub async fn ask_client(&self, method: &str, params_json: &str) -> ClientAnswer {
        let (id, reply) = self.start_request(method, params_json);
        let answer = std::future::poll_fn(|cx| match reply.take(cx.waker()) {
            Some(a) => std::task::Poll::Ready(a),
            None => std::task::Poll::Pending,
        });
        let Some(timer) = self.peer.timer.get() else { return answer.await };
        let timeout = std::time::Duration::from_millis(self.peer.client_timeout_ms());
        let timed_out = async {
            timer(timeout).await;
            Err(ClientError::Timeout)
        };
        let outcome = futures_lite::future::or(answer, timed_out).await;
        if outcome == Err(ClientError::Timeout) {
            self.peer.forget_request(id);
        }
        outcome
    }

    /// Closes the request's stream and asks the client to come back in `retry_ms` (SSE
    /// polling); see [`Sink::close_stream`].
    pub fn close_stream(&self, retry_ms: u64) {
        self.sink().close_stream(retry_ms);
    }

    /// Whether the client cancelled the request.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.get()
    }

    /// Ready once the request is cancelled.
    pub fn poll_cancelled(&self, waker: &Waker) -> bool {
        if !self.cancelled.get() {
            *self.cancel_waker.borrow_mut() = Some(waker.clone());
        }
        self.cancelled.get()
    }

    /// Cancels the request (its future stops at its next turn).
    pub(crate) fn cancel(&self) {
        self.cancelled.set(true);
        if let Some(w) = self.cancel_waker.borrow_mut().take() {
            w.wake();
        }
    }
}

/// A `notifications/message` line.
pub fn log_message(level: &str, logger: Option<&str>, data_json: &str) -> Vec<u8> {
    let mut m = Vec::with_capacity(96 + data_json.len());
    m.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"level\":");
    write_str(&mut m, level);
    if let Some(logger) = logger {
        m.extend_from_slice(b",\"logger\":");
        write_str(&mut m, logger);
    }
    m.extend_from_slice(b",\"data\":");
    m.extend_from_slice(data_json.as_bytes());
    m.extend_from_slice(b"}}");
    m
}

/// A notification with `params_json` (or none).
pub fn notification(method: &str, params_json: Option<&str>) -> Vec<u8> {
    let mut m = Vec::with_capacity(64);
    m.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"method\":");
    write_str(&mut m, method);
    if let Some(p) = params_json {
        m.extend_from_slice(b",\"params\":");
        m.extend_from_slice(p.as_bytes());
    }
    m.push(b'}');
    m
}

fn write_number(out: &mut Vec<u8>, x: f64) {
    if x.fract() == 0.0 && x.abs() < 9.0e15 {
        out.extend_from_slice(itoa::Buffer::new().format(x as i64).as_bytes());
    } else {
        sonic_rs::to_writer(&mut *out, &x).expect("writing to a Vec cannot fail");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Collect(RefCell<Vec<String>>);
    impl Sink for Collect {
        fn send(&self, m: &[u8]) {
            self.0.borrow_mut().push(String::from_utf8(m.to_vec()).unwrap());
        }
    }

    fn request(token: Option<&str>) -> (Rc<Collect>, RequestPeer) {
        let sink = Rc::new(Collect(RefCell::new(Vec::new())));
        (sink.clone(), RequestPeer::new(Rc::new(Peer::default()), sink, token))
    }

    #[test]
    fn progress_needs_a_token_and_increases() {
        let (sink, r) = request(None);
        assert!(!r.progress(1.0, None, None));
        let (sink2, r2) = request(Some("\"t\""));
        assert!(r2.progress(0.5, Some(2.0), Some("half")));
        assert!(!r2.progress(0.5, None, None));
        assert!(r2.progress(2.0, Some(2.0), None));
        assert!(sink.0.borrow().is_empty());
        assert_eq!(
            *sink2.0.borrow(),
            [
                r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"t","progress":0.5,"total":2,"message":"half"}}"#,
                r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"t","progress":2,"total":2}}"#
            ]
        );
    }

    #[test]
    fn logs_are_filtered_by_level() {
        let (sink, r) = request(None);
        assert!(r.log("debug", None, "\"a\""));
        r.peer.log_level.set(Some(3));
        assert!(!r.log("info", None, "\"b\""));
        assert!(r.log("error", Some("x"), "{\"k\":1}"));
        assert_eq!(
            *sink.0.borrow(),
            [
                r#"{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"debug","data":"a"}}"#,
                r#"{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"error","logger":"x","data":{"k":1}}}"#
            ]
        );
    }

    #[test]
    fn answers_are_routed_by_id_once() {
        let (sink, r) = request(None);
        let (id, reply) = r.start_request("roots/list", "{}");
        assert_eq!(sink.0.borrow()[0], r#"{"jsonrpc":"2.0","id":1,"method":"roots/list","params":{}}"#);
        let waker = std::task::Waker::noop();
        assert_eq!(reply.take(waker), None);
        let line = br#"{"jsonrpc":"2.0","id":1,"result":{"roots":[]}}"#;
        assert!(r.peer.answer(Id("1"), line));
        assert!(!r.peer.answer(Id("1"), line), "a second answer has nowhere to go");
        assert_eq!(reply.take(waker), Some(Ok(r#"{"roots":[]}"#.to_string())));
        let (_, reply) = r.start_request("x", "{}");
        assert!(r.peer.answer(Id("2"), br#"{"jsonrpc":"2.0","id":2,"error":{"code":-1,"message":"no"}}"#));
        assert_eq!(reply.take(waker), Some(Err(ClientError::Rejected(r#"{"code":-1,"message":"no"}"#.into()))));
        assert_eq!(id, 1);
    }

    #[test]
    fn cancel_and_close() {
        let (_, r) = request(None);
        let r = Rc::new(r);
        r.peer.begin(Id("\"a\""), r.clone());
        assert!(!r.peer.cancel("\"b\""));
        assert!(r.peer.cancel("\"a\""));
        assert!(r.is_cancelled());
        let (_, reply) = r.start_request("x", "{}");
        r.peer.close();
        assert_eq!(reply.take(std::task::Waker::noop()), Some(Err(ClientError::Closed)));
    }
}
