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

use super::core::{CoreCtx, SessionEntry};
use super::metrics::method_index;
use crate::http;
use crate::jsonrpc::{self, Message};
use crate::mcp::{self, Ctx, Phase, Session, Sink, PROTOCOL_VERSIONS};
use ringmcp_shards::SessionId;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::net::IpAddr;
use std::rc::Rc;
use std::time::Instant;

/// The `retry:` field of priming events: how long a client waits before it reconnects to a
/// stream the server closed, in milliseconds.
pub(crate) const SSE_RETRY_MS: u64 = 1_000;

/// The first version whose clients understand priming events (empty data, an id to resume).
const PRIMING_SINCE: &str = "2025-11-25";

/// What an HTTP connection asks a session's owner.
pub(crate) enum Call {
    /// POST /mcp: one JSON-RPC message from `client`. `session` is absent for `initialize`
    /// (and stateless).
    Post {
        session: Option<SessionId>,
        body: Vec<u8>,
        prefers_sse: bool,
        header_version: Option<&'static str>,
        client: Option<IpAddr>,
    },
    /// GET /mcp: the session's stream, or a resumed one.
    Get { session: SessionId, last_event_id: Option<String> },
    /// DELETE /mcp: end the session.
    Delete { session: SessionId },
}

/// What the owner answers, in order: one `Done`, or `Stream` then `Event`s then `End`.
pub(crate) enum Reply {
    /// A whole answer: status, JSON body (may be empty), the session id header to send.
    Done { status: u16, body: Vec<u8>, session: Option<SessionId> },
    /// No session could be opened: 429 or 503, a JSON-RPC error body, `Retry-After` seconds.
    Refused { status: u16, body: Vec<u8>, retry_after_s: u64 },
    /// The answer is an SSE stream.
    Stream { session: Option<SessionId> },
    /// One formatted SSE event.
    Event(Vec<u8>),
    /// The stream ends.
    End,
}

/// A Streamable HTTP session's streams, kept by its owner.
#[derive(Default)]
pub(crate) struct HttpState {
    streams: RefCell<VecDeque<Rc<Stream>>>,
    next_stream: Cell<u32>,
}

impl HttpState {
    /// Ends every stream (the session ended).
    pub fn close(&self) {
        for s in self.streams.borrow_mut().drain(..) {
            s.end();
        }
    }

    fn find(&self, no: u32) -> Option<Rc<Stream>> {
        self.streams.borrow().iter().find(|s| s.no == no).cloned()
    }

    /// Keeps `stream` for resumption, forgetting the oldest finished streams past the cap.
    fn keep(&self, stream: &Rc<Stream>) {
        let mut streams = self.streams.borrow_mut();
        if streams.iter().any(|s| Rc::ptr_eq(s, stream)) {
            return;
        }
        while streams.len() >= crate::limits::SSE_STREAMS_PER_SESSION {
            match streams.iter().position(|s| s.state.borrow().finished) {
                Some(i) => drop(streams.remove(i)),
                None => drop(streams.pop_front()),
            }
        }
        streams.push_back(stream.clone());
    }
}

/// One SSE stream: a POST's answer, or the session's GET stream (number 0).
pub(crate) struct Stream {
    no: u32,
    /// The session's streams, to be kept there once this one is an SSE stream (resumable).
    home: Option<Rc<HttpState>>,
    state: RefCell<StreamState>,
}

struct StreamState {
    /// Where events go now (`None` while the client is away).
    subscriber: Option<flume::Sender<Reply>>,
    /// `Stream` was sent: events go out as SSE.
    streaming: bool,
    /// Answer with a stream even if nothing comes before the result.
    prefers_sse: bool,
    /// Send a priming event first.
    priming: bool,
    /// The id header to send with the first reply (initialize).
    session_header: Option<SessionId>,
    finished: bool,
    next_seq: u64,
    replay: VecDeque<(u64, Rc<[u8]>)>,
    replay_cap: usize,
}

impl Stream {
    fn new(no: u32, home: Option<Rc<HttpState>>, reply: flume::Sender<Reply>, opts: StreamOpts) -> Rc<Stream> {
        Rc::new(Stream {
            no,
            home,
            state: RefCell::new(StreamState {
                subscriber: Some(reply),
                streaming: false,
                prefers_sse: opts.prefers_sse,
                priming: opts.priming,
                session_header: opts.session_header,
                finished: false,
                next_seq: 0,
                replay: VecDeque::new(),
                replay_cap: opts.replay_cap,
            }),
        })
    }

    /// Switches to SSE: the `Stream` reply, then the priming event.
    fn start(self: &Rc<Self>) {
        let mut st = self.state.borrow_mut();
        if st.streaming {
            return;
        }
        st.streaming = true;
        let session = st.session_header.take();
        st.send(Reply::Stream { session });
        if st.priming {
            let id = st.next_id(self.no);
            let event = http::sse_priming(&id, SSE_RETRY_MS);
            st.record(event);
        }
        drop(st);
        if let Some(home) = &self.home {
            home.keep(self);
        }
    }

    /// One JSON-RPC message as an event.
    fn push(self: &Rc<Self>, message: &[u8]) {
        self.start();
        let mut st = self.state.borrow_mut();
        let id = st.next_id(self.no);
        let message = message.strip_suffix(b"\n").unwrap_or(message);
        st.record(http::sse_event(&id, message));
    }

    /// The request's answer (`None`: cancelled, no answer); the stream then ends.
    fn finish(self: &Rc<Self>, answer: Option<Vec<u8>>) {
        let json_ok = {
            let st = self.state.borrow();
            !st.streaming && !st.prefers_sse
        };
        match answer {
            Some(body) if json_ok => {
                let mut st = self.state.borrow_mut();
                let session = st.session_header.take();
                let mut body = body;
                if body.last() == Some(&b'\n') {
                    body.pop();
                }
                st.send(Reply::Done { status: 200, body, session });
                st.finished = true;
                st.subscriber = None;
                return;
            }
            Some(body) => self.push(&body),
            None => self.start(),
        }
        let mut st = self.state.borrow_mut();
        st.finished = true;
        st.send(Reply::End);
        st.subscriber = None;
    }

    /// Ends the stream now (session over, or SSE polling): the client may resume it.
    fn end(&self) {
        let mut st = self.state.borrow_mut();
        if st.streaming {
            st.send(Reply::End);
        }
        st.subscriber = None;
    }

    /// A client resumed after event `seq`: replay the rest, then go on live (or end).
    fn resume(&self, after: Option<u64>, reply: flume::Sender<Reply>) {
        let mut st = self.state.borrow_mut();
        if let Some(old) = st.subscriber.take() {
            let _ = old.send(Reply::End);
        }
        let _ = reply.send(Reply::Stream { session: None });
        for (seq, event) in &st.replay {
            if after.is_none_or(|a| *seq > a) {
                let _ = reply.send(Reply::Event(event.to_vec()));
            }
        }
        if st.finished {
            let _ = reply.send(Reply::End);
        } else {
            st.subscriber = Some(reply);
        }
    }

    fn is_live(&self) -> bool {
        self.state.borrow().subscriber.as_ref().is_some_and(|s| !s.is_disconnected())
    }
}

impl StreamState {
    fn next_id(&mut self, no: u32) -> String {
        self.next_seq += 1;
        format!("{no}:{}", self.next_seq)
    }

    fn record(&mut self, event: Vec<u8>) {
        if self.replay_cap > 0 {
            if self.replay.len() >= self.replay_cap {
                self.replay.pop_front();
            }
            self.replay.push_back((self.next_seq, event.clone().into()));
        }
        self.send(Reply::Event(event));
    }

    fn send(&mut self, reply: Reply) {
        if let Some(s) = &self.subscriber {
            if s.send(reply).is_err() {
                self.subscriber = None;
            }
        }
    }
}

struct StreamOpts {
    prefers_sse: bool,
    priming: bool,
    session_header: Option<SessionId>,
    replay_cap: usize,
}

/// A request's messages (and the session's unrelated ones, for stream 0) go to its stream.
struct StreamSink(Rc<Stream>);

impl Sink for StreamSink {
    fn send(&self, message: &[u8]) {
        self.0.push(message);
    }

    fn close_stream(&self, _retry_ms: u64) {
        // Only a resumable stream (a session's, with a replay buffer) may be closed early:
        // on a stateless server the client could never come back for the result.
        if self.0.home.is_none() || self.0.state.borrow().replay_cap == 0 {
            return;
        }
        // The priming event already told the client when to come back.
        self.0.start();
        self.0.end();
    }
}

fn done(reply: &flume::Sender<Reply>, status: u16, body: Vec<u8>) {
    let _ = reply.send(Reply::Done { status, body, session: None });
}

fn refuse(reply: &flume::Sender<Reply>, status: u16, code: i32, message: &str) {
    done(reply, status, http::rpc_error_body(code, message));
}

/// JSON-RPC code of transport-level refusals (the SDKs use -32000 "server error").
const TRANSPORT_ERROR: i32 = -32000;

/// Serves one call on the session's owner (this core).
pub(crate) fn handle(core: &Rc<CoreCtx>, call: Call, reply: flume::Sender<Reply>) {
    match call {
        Call::Post { session, body, prefers_sse, header_version, client } => {
            post(core, session, &body, Post { prefers_sse, header_version, client }, reply)
        }
        Call::Get { session, last_event_id } => get(core, session, last_event_id, reply),
        Call::Delete { session } => match core.end_session(&session) {
            true => done(&reply, 200, Vec::new()),
            false => not_found(&reply),
        },
    }
}

fn not_found(reply: &flume::Sender<Reply>) {
    refuse(reply, 404, TRANSPORT_ERROR, "Not Found: unknown or ended session; initialize a new one");
}

/// What a POST carries besides its session and body.
struct Post {
    prefers_sse: bool,
    header_version: Option<&'static str>,
    client: Option<IpAddr>,
}

fn post(core: &Rc<CoreCtx>, session_id: Option<SessionId>, body: &[u8], p: Post, reply: flume::Sender<Reply>) {
    let Post { prefers_sse, header_version, client } = p;
    let message = match jsonrpc::parse_within(body, core.max_json_depth) {
        Ok(m) => m,
        Err(invalid) => {
            let mut out = Vec::new();
            jsonrpc::write_error(&mut out, invalid.id, &invalid.error);
            out.pop();
            core.metrics.record_request(method_index(""), 0, Some(invalid.error.code), core.now_ms());
            return done(&reply, 400, out);
        }
    };
    let initialize_id = match &message {
        Message::Request { id, method, .. } if method == "initialize" => Some(*id),
        _ => None,
    };
    let is_initialize = initialize_id.is_some();
    let entry = match session_id {
        Some(id) => match core.http_session(&id) {
            Some(entry) => Some(entry),
            None => return not_found(&reply),
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
                let _ = reply.send(Reply::Refused { status, body, retry_after_s });
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
            (Rc::new(RefCell::new(s)), None)
        }
    };
    match message {
        Message::Notification { method, params } => {
            mcp::handle_notification(&mut session.borrow_mut(), &method, params);
            core.metrics.record_notification(core.now_ms());
            done(&reply, 202, Vec::new());
        }
        Message::Response { id } => {
            if let Some(id) = id {
                mcp::handle_response(&session.borrow(), id, body);
            }
            done(&reply, 202, Vec::new());
        }
        Message::Request { id, method, params } => {
            let (start, method_idx) = (Instant::now(), method_index(&method));
            if let Err(e) = core.queue.try_admit() {
                let mut out = Vec::new();
                jsonrpc::write_error(&mut out, Some(id), &e);
                out.pop();
                core.metrics.record_request(method_idx, 0, Some(e.code), core.now_ms());
                return done(&reply, 200, out);
            }
            let no = http_state.as_ref().map_or(1, |h| {
                let n = h.next_stream.get() + 1;
                h.next_stream.set(n);
                n
            });
            let version = session.borrow().protocol_version;
            let opts = StreamOpts {
                prefers_sse,
                priming: http_state.is_some() && (is_initialize || version >= PRIMING_SINCE),
                session_header: entry.as_ref().filter(|_| new_session).map(|e| e.id),
                replay_cap: if http_state.is_some() { core.sse_replay } else { 0 },
            };
            let stream = Stream::new(no, http_state.clone(), reply, opts);
            let sink: Rc<dyn Sink> = Rc::new(StreamSink(stream.clone()));
            let mut out = Vec::new();
            let later = {
                let mut s = session.borrow_mut();
                let catalog = core.catalog();
                // Stateless sessions last one request: no task could be found again.
                let tasks = entry.as_ref().map(|_| &core.tasks);
                let mut ctx = Ctx { catalog: &catalog, session: &mut s, page_size: core.page_size, sink: &sink, tasks };
                mcp::handle_request(&mut ctx, id, &method, params, &mut out)
            };
            if is_initialize && new_session && session.borrow().phase == Phase::New {
                // initialize failed: the session was never made.
                if let Some(e) = &entry {
                    core.end_session(&e.id);
                }
                stream.state.borrow_mut().session_header = None;
            }
            match later {
                None => {
                    core.queue.release();
                    record(core, method_idx, start, &out, id.0.len());
                    stream.finish(Some(out));
                }
                Some(fut) => {
                    if prefers_sse {
                        stream.start();
                    }
                    let (core, id) = (core.clone(), jsonrpc::OwnedId::new(id));
                    ringmcp_ring::spawn(async move {
                        let outcome = super::core::run_later(&core, fut).await;
                        core.queue.release();
                        let answer = outcome.map(|o| {
                            let mut out = Vec::new();
                            mcp::write_later(&mut out, id.as_id(), Some(o));
                            record(&core, method_idx, start, &out, id.as_id().0.len());
                            out
                        });
                        stream.finish(answer);
                    })
                    .detach();
                }
            }
        }
    }
}

fn get(core: &Rc<CoreCtx>, id: SessionId, last_event_id: Option<String>, reply: flume::Sender<Reply>) {
    let Some(entry) = core.http_session(&id) else { return not_found(&reply) };
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

fn record(core: &CoreCtx, method: usize, start: Instant, answer: &[u8], id_len: usize) {
    super::dispatch::record(core, method, start, super::dispatch::error_code(answer, id_len));
}

/// `<stream>:<seq>` → its parts.
fn parse_event_id(id: &str) -> Option<(u32, u64)> {
    let (no, seq) = id.split_once(':')?;
    Some((no.parse().ok()?, seq.parse().ok()?))
}

/// Ends a session's streams and its link to the client (the session is over).
pub(crate) fn close_entry(entry: &SessionEntry) {
    entry.session.borrow().peer.close();
    if let Some(h) = &entry.http {
        h.close();
    }
}
