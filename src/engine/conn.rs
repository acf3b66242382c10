//! One NDJSON session over a byte stream (a TCP connection or stdin/stdout): read what is
//! there, answer every complete line, write all answers produced from one read with one
//! write. Async answers (tools that await) are appended when they complete and go out with
//! the next write.
//!
//! Backpressure: with `max_inflight` requests of this connection unanswered, the stream is
//! not read (TCP pushes back on the client). Drain: no more reads; in-flight requests finish,
//! their answers flush, then the stream closes.

use super::core::{BoundSession, CoreCtx};
use super::dispatch;
use super::link::{Framing, Link};
use super::metrics::Transport;
use super::tls::{TlsPeer, TlsStream};
use crate::framing::{next_frame, Frame};
use crate::jsonrpc::{self, code, RpcError};
use crate::limits::PARTIAL_FRAME_MIN_BYTES;
use crate::mcp;
use futures_lite::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use std::future::poll_fn;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;

enum Event {
    Read(usize),
    Output,
    Eof,
    Wait,
    /// A started line did not end within `frame_timeout_ms`.
    FrameTimeout,
    /// The core's partial-frame budget cut this connection.
    Cut,
}

/// Serves a TCP connection from `peer`: its first bytes tell TLS (a handshake record,
/// `0x16`, when `tls_mode` is not off) from NDJSON (`{`) and HTTP (a method token). A
/// connection that sends nothing for `idle_timeout_ms` is closed.
pub(crate) async fn serve_tcp<IO: AsyncRead + AsyncWrite + Unpin>(
    core: Rc<CoreCtx>,
    mut io: IO,
    peer: Option<SocketAddr>,
) {
    let Some(n) = first_read(&core, &mut io).await else { return };
    if core.scratch.borrow()[0] == super::tls::HANDSHAKE_RECORD {
        if let Some(shared) = core.tls.clone() {
            // Boxed: the TLS state lives only in TLS connections' tasks.
            return Box::pin(serve_tls(core, io, peer, n, shared)).await;
        }
    } else if core.tls_required {
        return refuse_plaintext(core, io, n).await;
    }
    serve_plain(core, io, peer, n, None).await
}

/// Reads a connection's first bytes into the core's scratch buffer, waiting at most
/// `idle_timeout_ms`; `None` if the peer closed, failed or stayed silent.
async fn first_read<IO: AsyncRead + Unpin>(core: &Rc<CoreCtx>, io: &mut IO) -> Option<usize> {
    let first = poll_fn(|cx| {
        let mut scratch = core.scratch.borrow_mut();
        Pin::new(&mut *io).poll_read(cx, &mut scratch)
    });
    let silent = async {
        ringmcp_ring::sleep(std::time::Duration::from_millis(core.settings.idle_timeout_ms)).await;
        Ok(0)
    };
    // Until its first bytes say which transport it speaks, the connection counts as
    // unidentified (ringmcp_connections_unidentified), so that silent sockets show too.
    core.unidentified.set(core.unidentified.get() + 1);
    let read = futures_lite::future::or(first, silent).await;
    core.unidentified.set(core.unidentified.get() - 1);
    match read {
        Ok(0) | Err(_) => None,
        Ok(n) => Some(n),
    }
}

/// Serves a plaintext stream (or the plaintext inside TLS, `tls` then says about the peer)
/// whose first `n` bytes are in the core's scratch buffer: HTTP (and WebSocket through it)
/// or NDJSON.
async fn serve_plain<IO: AsyncRead + AsyncWrite + Unpin>(
    core: Rc<CoreCtx>,
    mut io: IO,
    peer: Option<SocketAddr>,
    n: usize,
    tls: Option<TlsPeer>,
) {
    let is_http = {
        let scratch = core.scratch.borrow();
        let data = &scratch[..n];
        let start = data.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(n);
        crate::http::looks_like_http(&data[start..])
    };
    if is_http {
        let first = core.scratch.borrow()[..n].to_vec();
        // Boxed: HTTP's future is several KiB, and every NDJSON connection would carry its
        // space for life (this task's size is the larger of the two branches).
        return Box::pin(super::http_conn::serve(core, io, first, peer)).await;
    }
    if core.memory.rejecting() {
        return refuse_for_memory(&core, io, n).await;
    }
    // Raw NDJSON has no headers for a token: with authorization on, only a connection whose
    // TLS client certificate was verified is served (`auth_ndjson`).
    let identity = match &core.auth {
        None => None,
        Some(auth) => match ndjson_identity(auth, tls.as_ref().and_then(|t| t.identity.as_deref())) {
            Ok(identity) => identity,
            Err(line) => {
                core.metrics.conn_opened(Transport::Tcp);
                let _ = io.write_all(&line).await;
                let _ = io.flush().await;
                let _ = io.close().await;
                core.metrics.conn_closed(Transport::Tcp);
                return;
            }
        },
    };
    // No await since the read: the bytes are still in the core's scratch buffer.
    serve_session(core, io, Transport::Tcp, n, peer, identity, tls).await
}

/// The identity a raw NDJSON connection is served as, given the subject of its verified TLS
/// client certificate (`None` on plain TCP): [`crate::auth::Auth::ndjson_gate`], counted.
/// `Err` holds the JSON-RPC error line to write before closing.
pub(crate) fn ndjson_identity(
    auth: &crate::auth::Auth,
    client_cert_subject: Option<&str>,
) -> Result<super::sse::Who, Vec<u8>> {
    match auth.ndjson_gate(client_cert_subject) {
        Ok(identity) => {
            if identity.is_some() {
                auth.count(Ok(()));
            }
            Ok(identity.map(std::sync::Arc::new))
        }
        Err(line) => {
            auth.count(Err(&crate::auth::Failure::Missing(String::new())));
            Err(line)
        }
    }
}

/// A new NDJSON connection while memory is over its reject mark: every request in its first
/// read gets -32010 `data.reason = "memory"` (a read with none gets one answer without id),
/// then the connection closes.
async fn refuse_for_memory<IO: AsyncWrite + Unpin>(core: &CoreCtx, mut io: IO, n: usize) {
    let refused = dispatch::memory_refusal(core);
    let mut out = Vec::new();
    {
        let scratch = core.scratch.borrow();
        let mut rest = &scratch[..n];
        while let Frame::Line(line, used) = next_frame(rest, core.max_message_bytes) {
            if let Ok(jsonrpc::Message::Request { id, .. }) = jsonrpc::parse_within(line, core.max_json_depth) {
                jsonrpc::write_error(&mut out, Some(id), &refused.error);
            }
            rest = &rest[used..];
        }
        if out.is_empty() {
            jsonrpc::write_error(&mut out, None, &refused.error);
        }
    }
    core.metrics.conn_opened(Transport::Tcp);
    let _ = io.write_all(&out).await;
    let _ = io.close().await;
    core.metrics.conn_closed(Transport::Tcp);
}

/// A connection whose first `n` bytes (in the scratch buffer) began a TLS handshake: finish
/// it within `tls_handshake_timeout_ms`, then serve what the plaintext inside it speaks.
/// Nothing after this point touches `io` but the [`TlsStream`].
async fn serve_tls<IO: AsyncRead + AsyncWrite + Unpin>(
    core: Rc<CoreCtx>,
    io: IO,
    client: Option<SocketAddr>,
    n: usize,
    shared: std::sync::Arc<super::tls::TlsShared>,
) {
    let mut tls = {
        let scratch = core.scratch.borrow();
        match TlsStream::new(io, shared.current(), &scratch[..n]) {
            Ok(tls) => tls,
            Err(e) => return log::warn!("core {}: TLS session: {e}", core.core),
        }
    };
    let timeout_ms = core.settings.tls_handshake_timeout_ms;
    let deadline = async {
        ringmcp_ring::sleep(std::time::Duration::from_millis(timeout_ms)).await;
        Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("TLS handshake not done within tls_handshake_timeout_ms ({timeout_ms} ms)"),
        ))
    };
    core.unidentified.set(core.unidentified.get() + 1);
    let done = futures_lite::future::or(tls.handshake(), deadline).await;
    core.unidentified.set(core.unidentified.get() - 1);
    let (ok, failed, open) = core.tls_counts.get();
    if let Err(e) = done {
        core.tls_counts.set((ok, failed + 1, open));
        log::debug!("core {}: TLS handshake from {client:?} failed: {e}", core.core);
        return;
    }
    core.tls_counts.set((ok + 1, failed, open + 1));
    let peer = tls.peer().cloned();
    if log::log_enabled!(log::Level::Debug) {
        let verified = peer.as_ref().is_some_and(TlsPeer::is_mtls_verified);
        let identity = tls.peer_identity().unwrap_or("none");
        log::debug!(
            "core {}: TLS from {client:?}: client certificate verified {verified}, identity {identity}",
            core.core
        );
    }
    if let Some(n) = first_read(&core, &mut tls).await {
        serve_plain(core.clone(), tls, client, n, peer).await;
    } else {
        let _ = tls.close().await;
    }
    let (ok, failed, open) = core.tls_counts.get();
    core.tls_counts.set((ok, failed, open - 1));
}

/// `tls_mode = required` and the first `n` bytes are not TLS: HTTP gets a plain 400, anything
/// else is closed.
async fn refuse_plaintext<IO: AsyncRead + AsyncWrite + Unpin>(core: Rc<CoreCtx>, mut io: IO, n: usize) {
    if !core.tls_refusal_logged.replace(true) {
        log::debug!("core {}: refusing a plaintext connection: tls_mode is required (logged once per core)", core.core);
    }
    let is_http = {
        let scratch = core.scratch.borrow();
        crate::http::looks_like_http(&scratch[..n])
    };
    if is_http {
        let body = "TLS required: this server takes HTTPS only (tls_mode = required)\n";
        let head = format!(
            "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = io.write_all(head.as_bytes()).await;
    }
    let _ = io.close().await;
}

/// Serves one session on `io` until the peer closes, a fatal framing error, or drain.
pub(crate) async fn serve<IO: AsyncRead + AsyncWrite + Unpin>(core: Rc<CoreCtx>, io: IO) {
    // stdio is never authenticated: the client launched the server and hands it credentials
    // through the environment.
    serve_session(core, io, Transport::Stdio, 0, None, None, None).await
}

/// [`serve`], starting with `first` bytes already read into the core's scratch buffer.
async fn serve_session<IO: AsyncRead + AsyncWrite + Unpin>(
    core: Rc<CoreCtx>,
    mut io: IO,
    transport: Transport,
    first: usize,
    peer: Option<SocketAddr>,
    identity: super::sse::Who,
    tls: Option<TlsPeer>,
) {
    // Without room in the registry the connection is still served: ping needs no session.
    let bound = core.open_bound_session(transport);
    bound.session.borrow_mut().identity = identity;
    bound.peer.set(peer);
    log::debug!("core {}: session {} opened (in the registry: {})", core.core, bound.id(), bound.is_admitted());
    core.open.set(core.open.get() + 1);
    core.metrics.conn_opened(transport);
    let link = Link::new(core.clone(), Framing::Lines, bound.waker.clone());
    let sink: Rc<dyn mcp::Sink> = link.clone();
    bound.session.borrow().peer.set_unrelated(Some(sink.clone()));
    bound.session.borrow().peer.set_client_timeout(core.client_timeout_ms, super::core::sleep_for);
    let mut conn = Conn {
        core: core.clone(),
        drain_key: core.drain_waiters.key(),
        frame_key: core.frames.key(),
        frame_deadline: None,
        progress: false,
        bound,
        link,
        sink,
        pending: Vec::new(),
        closing: false,
        eof: false,
        tls,
    };
    if first > 0 {
        conn.process_read(first);
        conn.track_partial();
    }
    if let Err(e) = conn.run(&mut io).await {
        log::debug!("core {}: session {}: {e}", core.core, conn.bound.id());
    }
    let _ = io.close().await;
    conn.release_pending();
    core.frames.release(conn.frame_key);
    conn.bound.session.borrow().peer.close();
    conn.link.close();
    let id = conn.bound.id();
    core.close_bound(&conn.bound);
    core.drain_waiters.remove(conn.drain_key);
    core.open.set(core.open.get() - 1);
    core.metrics.conn_closed(transport);
    log::debug!("core {}: session {id} closed", core.core);
}

struct Conn {
    core: Rc<CoreCtx>,
    /// The connection's session; its waker wakes this task.
    bound: BoundSession,
    /// This task's slot among the core's drain waiters, used while the session is outside
    /// the registry (whose entries the drain wakes).
    drain_key: u64,
    /// Output, requests in flight, async answers.
    link: Rc<Link>,
    /// The same link, as the sink the MCP core sends through.
    sink: Rc<dyn mcp::Sink>,
    /// Bytes read but not yet answered: a partial line, or lines held back by the in-flight
    /// limit. Pooled while non-empty, empty (no allocation) while idle.
    pending: Vec<u8>,
    /// This connection's key in the core's partial-frame budget.
    frame_key: u64,
    /// While a started line is waiting for more bytes: when `frame_timeout_ms` runs out.
    frame_deadline: Option<std::pin::Pin<Box<ringmcp_ring::Sleep>>>,
    /// A line was answered since the partial-line clock last started.
    progress: bool,
    /// A fatal framing error was answered: flush, then close.
    closing: bool,
    /// The peer closed its sending side: answer what is in flight, then close.
    eof: bool,
    /// The connection's TLS peer (`None`: plaintext). `tls.identity` is the verified client
    /// certificate's subject (mTLS); read it with [`Conn::tls_peer`].
    tls: Option<TlsPeer>,
}

impl Conn {
    /// What TLS says about this connection's peer: `None` for plaintext; `Some` with
    /// `identity = Some(subject)` when the client certificate was verified (mTLS).
    #[allow(dead_code)] // read by the auth layer (issue 12)
    pub(crate) fn tls_peer(&self) -> Option<&TlsPeer> {
        self.tls.as_ref()
    }

    async fn run<IO: AsyncRead + AsyncWrite + Unpin>(&mut self, io: &mut IO) -> std::io::Result<()> {
        loop {
            if !self.pending.is_empty() && !self.closing && self.has_room() {
                self.process_pending();
            }
            self.flush(io).await?;
            if self.done() {
                return Ok(());
            }
            match self.next_event(io).await? {
                Event::Read(n) => self.process_read(n),
                Event::Eof => self.eof = true,
                Event::Output | Event::Wait => {}
                Event::FrameTimeout => self.cut(format!(
                    "Invalid Request: a message was started but not finished within frame_timeout_ms ({} ms); closing",
                    self.core.settings.frame_timeout_ms
                )),
                Event::Cut => self.cut(format!(
                    "Server overloaded: partial messages of this core's connections passed partial_frame_bytes_per_core ({} bytes) and this connection held the most; closing",
                    self.core.settings.partial_frame_bytes_per_core
                )),
            }
            self.track_partial();
        }
    }

    fn has_room(&self) -> bool {
        self.link.inflight() < self.core.max_inflight
    }

    fn reading(&self) -> bool {
        !self.closing && !self.eof && !self.core.draining.get() && self.has_room()
    }

    fn done(&self) -> bool {
        let idle = self.link.idle();
        let stopping = self.closing || self.eof || self.core.draining.get();
        idle && stopping
    }

    /// Waits for bytes to read (if reading), answers to write, or a state change.
    async fn next_event<IO: AsyncRead + Unpin>(&mut self, io: &mut IO) -> std::io::Result<Event> {
        poll_fn(|cx| {
            if self.link.has_output() {
                return Poll::Ready(Ok(Event::Output));
            }
            if self.done() {
                return Poll::Ready(Ok(Event::Wait));
            }
            {
                let mut slot = self.bound.waker.borrow_mut();
                if !slot.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    *slot = Some(cx.waker().clone());
                }
            }
            if !self.bound.is_admitted() {
                self.core.drain_waiters.register(self.drain_key, cx.waker());
            }
            if self.core.frames.is_cut(self.frame_key) && !self.closing {
                return Poll::Ready(Ok(Event::Cut));
            }
            self.core.frames.watch(self.frame_key, cx.waker());
            if !self.reading() {
                return Poll::Pending;
            }
            if let Some(deadline) = self.frame_deadline.as_mut() {
                if std::future::Future::poll(deadline.as_mut(), cx).is_ready() {
                    return Poll::Ready(Ok(Event::FrameTimeout));
                }
            }
            let mut scratch = self.core.scratch.borrow_mut();
            match Pin::new(&mut *io).poll_read(cx, &mut scratch) {
                Poll::Ready(Ok(0)) => Poll::Ready(Ok(Event::Eof)),
                Poll::Ready(Ok(n)) => Poll::Ready(Ok(Event::Read(n))),
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            }
        })
        .await
    }

    /// Reports the partial line held to the core's budget, and starts (or stops) its
    /// `frame_timeout_ms` clock.
    fn track_partial(&mut self) {
        let held = if self.closing { 0 } else { self.pending.capacity() };
        if !self.core.frames.hold(self.frame_key, held) && !self.closing {
            self.cut(format!(
                "Server overloaded: partial messages of this core's connections passed partial_frame_bytes_per_core ({} bytes) and this connection held the most; closing",
                self.core.settings.partial_frame_bytes_per_core
            ));
            return;
        }
        if std::mem::take(&mut self.progress) {
            // A message ended: the clock restarts for the next one.
            self.frame_deadline = None;
        }
        match (self.pending.is_empty(), self.frame_deadline.is_some()) {
            (false, false) => {
                let timeout = std::time::Duration::from_millis(self.core.settings.frame_timeout_ms);
                self.frame_deadline = Some(Box::pin(ringmcp_ring::sleep(timeout)));
            }
            (true, true) => self.frame_deadline = None,
            _ => {}
        }
    }

    /// Answers `message` as an error without id and closes: what is in flight is still
    /// answered, nothing more is read.
    fn cut(&mut self, message: String) {
        log::debug!("core {}: session {}: {message}", self.core.core, self.bound.id());
        jsonrpc::write_error(&mut self.link.out(), None, &RpcError::new(code::INVALID_REQUEST, message));
        self.closing = true;
        self.frame_deadline = None;
        self.release_pending();
        self.core.frames.hold(self.frame_key, 0);
    }

    /// Answers the lines in the first `n` bytes of the core's scratch buffer.
    fn process_read(&mut self, n: usize) {
        let core = self.core.clone();
        let scratch = core.scratch.borrow();
        let data = &scratch[..n];
        if self.pending.is_empty() {
            let used = self.process_lines(data);
            if used < data.len() && !self.closing {
                // Sized to what is held (not a pooled 64 KiB buffer): a partial line costs its
                // own bytes against the core's budget.
                let rest = &data[used..];
                self.pending = Vec::with_capacity(rest.len().next_power_of_two().max(PARTIAL_FRAME_MIN_BYTES));
                self.pending.extend_from_slice(rest);
            }
        } else {
            // With room for more requests, `pending` holds only a partial line (the run loop
            // answers complete ones first): without a newline in the new bytes there is
            // nothing to answer yet, so skip rescanning a long partial line on every read.
            let partial_only = self.has_room();
            self.pending.extend_from_slice(data);
            drop(scratch);
            let no_new_line = memchr::memchr(b'\n', &self.pending[self.pending.len() - n..]).is_none();
            if partial_only && no_new_line && self.pending.len() <= self.core.max_message_bytes {
                return;
            }
            self.process_pending();
        }
    }

    fn process_pending(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        let used = self.process_lines(&pending);
        self.pending = pending;
        self.pending.drain(..used);
        if self.pending.is_empty() || self.closing {
            self.release_pending();
        }
    }

    fn release_pending(&mut self) {
        self.pending = Vec::new();
    }

    /// Answers complete lines from the front of `buf` while the in-flight limit allows;
    /// returns the bytes used up.
    fn process_lines(&mut self, buf: &[u8]) -> usize {
        let mut batch = dispatch::Batch::begin(&self.core);
        let used = self.answer_lines(&mut batch, buf);
        batch.end(&self.core);
        self.progress |= used > 0;
        used
    }

    fn answer_lines(&mut self, batch: &mut dispatch::Batch, buf: &[u8]) -> usize {
        let mut used = 0;
        while self.has_room() {
            match next_frame(&buf[used..], self.core.max_message_bytes) {
                Frame::Line(line, n) => {
                    self.answer_line(batch, line);
                    used += n;
                }
                Frame::Blank(n) => used += n,
                Frame::Incomplete => break,
                Frame::TooLong => {
                    let err = RpcError::new(
                        code::INVALID_REQUEST,
                        format!(
                            "Invalid Request: message longer than max_message_bytes ({} bytes); closing",
                            self.core.max_message_bytes
                        ),
                    );
                    jsonrpc::write_error(&mut self.link.out(), None, &err);
                    self.closing = true;
                    return buf.len();
                }
            }
        }
        used
    }

    fn answer_line(&mut self, batch: &mut dispatch::Batch, line: &[u8]) {
        let core = &self.core;
        if core.raw_echo {
            let mut out = self.link.out();
            out.extend_from_slice(line);
            out.push(b'\n');
            return;
        }
        if core.drain_expired.get() {
            return dispatch::refuse_draining(core, batch, line, &mut self.link.out());
        }
        let (bound, sink) = (&self.bound, &self.sink);
        self.link.answer(|out| dispatch::handle_message(core, batch, bound, sink, line, out));
    }

    /// Writes every answer produced so far in one write, then returns the buffer to the pool.
    async fn flush<IO: AsyncWrite + Unpin>(&mut self, io: &mut IO) -> std::io::Result<()> {
        let out = self.link.take_output();
        if out.capacity() == 0 {
            return Ok(());
        }
        let written = if out.is_empty() { Ok(()) } else { io.write_all(&out).await };
        self.link.recycle(out);
        if written.is_ok() && (self.closing || self.core.draining.get()) {
            io.flush().await?;
        }
        written
    }
}
