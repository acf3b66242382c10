//! Streamable HTTP sessions' streams, as data: what an HTTP connection asks a session's owner
//! ([`Call`]), what the owner answers ([`Reply`]), and each session's SSE streams with their
//! replay buffers for resumption ([`HttpState`], [`Stream`]). No core, no I/O: the owner's
//! handling is in `streamable`, the connection's in `http_conn`.

use super::mailbox;
use crate::http;
use crate::mcp::Sink;
use ringmcp_shards::SessionId;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::net::IpAddr;
use std::rc::Rc;

/// The `retry:` field of priming events: how long a client waits before it reconnects to a
/// stream the server closed, in milliseconds.
pub(crate) const SSE_RETRY_MS: u64 = 1_000;

/// The first version whose clients understand priming events (empty data, an id to resume).
pub(super) const PRIMING_SINCE: &str = "2025-11-25";

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
        identity: Who,
        /// The HTTP connection: its peer and number on the reading core.
        from: From,
    },
    /// GET /mcp: the session's stream, or a resumed one.
    Get { session: SessionId, last_event_id: Option<String>, identity: Who },
    /// DELETE /mcp: end the session.
    Delete { session: SessionId, identity: Who },
    /// POST /mcp of the 2026-07-28 era: no session; served by the core that read it.
    Modern { body: Vec<u8>, prefers_sse: bool, headers: ModernHeaders, identity: Who, from: From },
}

/// The HTTP connection a call came on (rate limits, access log).
#[derive(Debug, Clone, Copy)]
pub(crate) struct From {
    pub peer: Option<std::net::SocketAddr>,
    /// The connection's number on the core that read it, tagged with that core (the
    /// `session` rate limits' key of a request without a 2025-11-25 session).
    pub conn: u64,
}

/// Who sent a request, as the connection's authorization gate established it (`None`: auth
/// is off, or an anonymous request under `auth_mode = "optional"`).
pub(crate) type Who = Option<std::sync::Arc<crate::identity::Identity>>;

/// The request-metadata headers of a 2026-07-28 POST, checked against its body.
pub(crate) struct ModernHeaders {
    /// `MCP-Protocol-Version`.
    pub version: String,
    /// `Mcp-Method`.
    pub method: Option<String>,
    /// `Mcp-Name`, as sent (maybe in the `=?base64?…?=` form).
    pub name: Option<String>,
    /// `Mcp-Param-{Name}` headers: the name lower-cased, the value as sent (raw bytes).
    pub params: Vec<(String, Vec<u8>)>,
}

/// What the owner answers, in order: one `Done`, or `Stream` then `Event`s then `End`.
pub(crate) enum Reply {
    /// A whole answer: status, JSON body (may be empty), the session id header to send.
    Done { status: u16, body: Vec<u8>, session: Option<SessionId> },
    /// No session could be opened: 429 or 503, a JSON-RPC error body, `Retry-After` seconds.
    Refused { status: u16, body: Vec<u8>, retry_after_s: u64 },
    /// Authorization refused the request (401/403): a JSON-RPC error body and the
    /// `WWW-Authenticate` value.
    Challenge { status: u16, body: Vec<u8>, challenge: String },
    /// The answer is an SSE stream.
    Stream { session: Option<SessionId> },
    /// One formatted SSE event.
    Event(Vec<u8>),
    /// The stream ends.
    End,
}

/// The channel one HTTP request's replies travel on: bounded (a slow SSE reader cannot grow
/// it), with room for the whole replay buffer of `replay_events` and the replies around it.
pub(crate) fn reply_channel(replay_events: usize) -> (mailbox::Sender<Reply>, mailbox::Receiver<Reply>) {
    mailbox::bounded(crate::limits::SSE_QUEUE_EVENTS.max(replay_events + 4))
}

/// A Streamable HTTP session's streams, kept by its owner.
#[derive(Default)]
pub(crate) struct HttpState {
    streams: RefCell<VecDeque<Rc<Stream>>>,
    next_stream: Cell<u32>,
}

impl HttpState {
    /// A number for the session's next POST stream (0 is its GET stream).
    pub(super) fn next_stream_no(&self) -> u32 {
        let n = self.next_stream.get() + 1;
        self.next_stream.set(n);
        n
    }

    /// Ends every stream (the session ended).
    pub fn close(&self) {
        for s in self.streams.borrow_mut().drain(..) {
            s.end();
        }
    }

    pub(super) fn find(&self, no: u32) -> Option<Rc<Stream>> {
        self.streams.borrow().iter().find(|s| s.no == no).cloned()
    }

    /// Keeps `stream` for resumption, forgetting the oldest finished streams past the cap.
    pub(super) fn keep(&self, stream: &Rc<Stream>) {
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
    subscriber: Option<mailbox::Sender<Reply>>,
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
    pub(super) fn new(
        no: u32,
        home: Option<Rc<HttpState>>,
        reply: mailbox::Sender<Reply>,
        opts: StreamOpts,
    ) -> Rc<Stream> {
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
    pub(super) fn start(self: &Rc<Self>) {
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
    pub(super) fn push(self: &Rc<Self>, message: &[u8]) {
        self.start();
        let mut st = self.state.borrow_mut();
        let id = st.next_id(self.no);
        let message = message.strip_suffix(b"\n").unwrap_or(message);
        st.record(http::sse_event(&id, message));
    }

    /// The request's answer (`None`: cancelled, no answer); the stream then ends.
    pub(super) fn finish(self: &Rc<Self>, answer: Option<Vec<u8>>) {
        self.finish_with(answer, 200)
    }

    /// Ready once the client is gone (the connection dropped the stream's receiver).
    pub(super) async fn closed(&self) {
        let tx = self.state.borrow().subscriber.clone();
        match tx {
            Some(tx) => tx.closed().await,
            None => std::future::pending().await,
        }
    }

    /// [`finish`](Self::finish), with `status` if the answer goes as one JSON body.
    pub(super) fn finish_with(self: &Rc<Self>, answer: Option<Vec<u8>>, status: u16) {
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
                st.send(Reply::Done { status, body, session });
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
    pub(super) fn end(&self) {
        let mut st = self.state.borrow_mut();
        if st.streaming {
            st.send(Reply::End);
        }
        st.subscriber = None;
    }

    /// A client resumed after event `seq`: replay the rest, then go on live (or end).
    pub(super) fn resume(&self, after: Option<u64>, reply: mailbox::Sender<Reply>) {
        let mut st = self.state.borrow_mut();
        if let Some(old) = st.subscriber.take() {
            let _ = old.try_send(Reply::End);
        }
        // The channel holds the whole replay buffer and more (see `reply_channel`).
        let _ = reply.try_send(Reply::Stream { session: None });
        for (seq, event) in &st.replay {
            if after.is_none_or(|a| *seq > a) {
                let _ = reply.try_send(Reply::Event(event.to_vec()));
            }
        }
        if st.finished {
            let _ = reply.try_send(Reply::End);
        } else {
            st.subscriber = Some(reply);
        }
    }

    /// The session was never made (its initialize failed): send no id header.
    pub(super) fn forget_session_header(&self) {
        self.state.borrow_mut().session_header = None;
    }

    pub(super) fn is_live(&self) -> bool {
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
            // A reader too slow to take `reply_channel`'s worth of events loses its live
            // stream (it may resume from the replay buffer with Last-Event-ID) rather than
            // growing a queue without bound.
            if let Err(e) = s.try_send(reply) {
                if matches!(e, mailbox::SendError::Full(_)) {
                    log::debug!("SSE: a slow reader's stream was ended (its queue was full)");
                }
                self.subscriber = None;
            }
        }
    }
}

pub(super) struct StreamOpts {
    pub prefers_sse: bool,
    pub priming: bool,
    pub session_header: Option<SessionId>,
    pub replay_cap: usize,
}

/// A request's messages (and the session's unrelated ones, for stream 0) go to its stream.
pub(super) struct StreamSink(pub Rc<Stream>);

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
