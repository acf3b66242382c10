//! WebSocket at `/mcp/ws` (RFC 6455, framing in [`crate::ws`]): one JSON-RPC message per text
//! frame, one MCP session per socket. Pings are answered, the close handshake is echoed, a
//! protocol error closes with its code. As on NDJSON, every answer produced from one read
//! goes out in one write, and past `max_inflight_per_connection` the socket is not read.

use super::core::{BoundSession, CoreCtx};
use super::dispatch;
use super::link::{Framing, Link};
use super::metrics::Transport;
use crate::limits::IDLE_BUFFER_KEPT_BYTES;
use crate::mcp;
use crate::ws::{self, Decoder, Event};
use futures_lite::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use std::future::poll_fn;
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;

/// Close code for a binary frame (RFC 6455: unacceptable data type).
const CLOSE_UNSUPPORTED_DATA: u16 = 1003;

/// Serves the WebSocket session on an upgraded connection whose first bytes (read after the
/// upgrade request) are `buf`.
pub(super) async fn serve<IO: AsyncRead + AsyncWrite + Unpin>(
    core: Rc<CoreCtx>,
    io: &mut IO,
    mut buf: Vec<u8>,
    identity: super::sse::Who,
    peer: Option<std::net::SocketAddr>,
) -> std::io::Result<()> {
    // Without room in the registry the socket is still served: ping needs no session.
    let bound = core.open_bound_session(Transport::WebSocket);
    // The upgrade request's credentials hold for the socket's life (its `exp` was checked then).
    bound.session.borrow_mut().identity = identity;
    bound.peer.set(peer);
    core.open.set(core.open.get() + 1);
    core.metrics.conn_opened(Transport::WebSocket);
    let link = Link::new(core.clone(), Framing::WsText, bound.waker.clone());
    let sink: Rc<dyn mcp::Sink> = link.clone();
    bound.session.borrow().peer.set_unrelated(Some(sink.clone()));
    bound.session.borrow().peer.set_client_timeout(core.client_timeout_ms, super::core::sleep_for);
    let mut ws = WsSession {
        core: core.clone(),
        drain_key: core.drain_waiters.key(),
        bound,
        link,
        sink,
        closing: false,
        frame_key: core.frames.key(),
        frame_deadline: None,
        events: 0,
    };
    let result = ws.run(io, &mut buf).await;
    ws.link.close();
    core.frames.release(ws.frame_key);
    ws.bound.session.borrow().peer.close();
    core.close_bound(&ws.bound);
    core.drain_waiters.remove(ws.drain_key);
    core.open.set(core.open.get() - 1);
    core.metrics.conn_closed(Transport::WebSocket);
    result
}

struct WsSession {
    core: Rc<CoreCtx>,
    /// The socket's session; its waker wakes this task.
    bound: BoundSession,
    /// This task's slot among the core's drain waiters, used while the session is outside
    /// the registry (whose entries the drain wakes).
    drain_key: u64,
    /// Output, requests in flight, async answers.
    link: Rc<Link>,
    /// The same link, as the sink the MCP core sends through.
    sink: Rc<dyn mcp::Sink>,
    /// A close was sent: flush, then hang up.
    closing: bool,
    /// This socket's key in the core's partial-frame budget.
    frame_key: u64,
    /// While a started frame waits for more bytes: when `frame_timeout_ms` runs out.
    frame_deadline: Option<Pin<Box<ringmcp_ring::Sleep>>>,
    /// Frames decoded so far (a new one restarts the `frame_timeout_ms` clock).
    events: u64,
}

impl WsSession {
    async fn run<IO: AsyncRead + AsyncWrite + Unpin>(&mut self, io: &mut IO, buf: &mut Vec<u8>) -> std::io::Result<()> {
        let waker = self.bound.waker.clone();
        let mut decoder = Decoder::new(self.core.max_message_bytes);
        let (mut timed_out, mut cut) = (false, false);
        loop {
            if std::mem::take(&mut timed_out) {
                let reason =
                    format!("frame not finished within frame_timeout_ms ({} ms)", self.core.settings.frame_timeout_ms);
                self.close(ws::CLOSE_POLICY_VIOLATION, &reason);
            }
            if std::mem::take(&mut cut) {
                self.close(ws::CLOSE_TRY_AGAIN_LATER, "server partial-frame budget full");
            }
            let events = self.events;
            let used = self.decode(&mut decoder, buf);
            buf.drain(..used);
            self.track_partial(buf, decoder.partial_bytes(), self.events > events);
            let idle = self.link.inflight() == 0;
            if self.core.draining.get() && idle && !self.closing {
                ws::write_close(&mut self.link.out(), ws::CLOSE_GOING_AWAY, "server shutting down");
                self.closing = true;
            }
            let out = self.link.take_output();
            let written = if out.is_empty() { Ok(()) } else { io.write_all(&out).await };
            self.link.recycle(out);
            written?;
            if self.closing && idle {
                return io.flush().await;
            }
            let draining = self.core.draining.get();
            let reading = !self.closing && !draining && self.link.inflight() < self.core.max_inflight;
            let got = poll_fn(|cx| {
                // Draining: wake to send the close once nothing is in flight (answers wake us).
                let drain_now = self.core.draining.get() && !self.closing && self.link.inflight() == 0;
                if self.link.has_output() || drain_now {
                    return Poll::Ready(Ok(true));
                }
                *waker.borrow_mut() = Some(cx.waker().clone());
                if !self.bound.is_admitted() {
                    self.core.drain_waiters.register(self.drain_key, cx.waker());
                }
                if !self.closing && self.core.frames.is_cut(self.frame_key) {
                    cut = true;
                    return Poll::Ready(Ok(true));
                }
                self.core.frames.watch(self.frame_key, cx.waker());
                if !reading {
                    return Poll::Pending;
                }
                if let Some(deadline) = self.frame_deadline.as_mut() {
                    if std::future::Future::poll(deadline.as_mut(), cx).is_ready() {
                        timed_out = true;
                        return Poll::Ready(Ok(true));
                    }
                }
                let mut scratch = self.core.scratch.borrow_mut();
                match Pin::new(&mut *io).poll_read(cx, &mut scratch) {
                    Poll::Ready(Ok(0)) => Poll::Ready(Ok(false)),
                    Poll::Ready(Ok(n)) => {
                        buf.extend_from_slice(&scratch[..n]);
                        Poll::Ready(Ok(true))
                    }
                    Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                    Poll::Pending => Poll::Pending,
                }
            })
            .await?;
            if !got {
                return Ok(());
            }
        }
    }

    /// Reports the partial frame held to the core's budget and runs its `frame_timeout_ms`
    /// clock (restarted whenever a frame ended). An idle socket gives its buffer back.
    fn track_partial(&mut self, buf: &mut Vec<u8>, in_decoder: Option<usize>, progress: bool) {
        let partial = !buf.is_empty() || in_decoder.is_some();
        if progress || !partial {
            self.frame_deadline = None;
        }
        if buf.is_empty() && buf.capacity() > IDLE_BUFFER_KEPT_BYTES {
            *buf = Vec::new();
        }
        if partial && self.frame_deadline.is_none() && !self.closing {
            let timeout = std::time::Duration::from_millis(self.core.settings.frame_timeout_ms);
            self.frame_deadline = Some(Box::pin(ringmcp_ring::sleep(timeout)));
        }
        let held = if self.closing || !partial { 0 } else { buf.capacity() + in_decoder.unwrap_or(0) };
        if !self.core.frames.hold(self.frame_key, held) && !self.closing {
            self.close(ws::CLOSE_TRY_AGAIN_LATER, "server partial-frame budget full");
        }
    }

    /// Handles the complete frames at the front of `buf`; returns the bytes used.
    fn decode(&mut self, decoder: &mut Decoder, buf: &[u8]) -> usize {
        let mut batch = dispatch::Batch::begin(&self.core);
        let used = self.decode_frames(&mut batch, decoder, buf);
        batch.end(&self.core);
        used
    }

    fn decode_frames(&mut self, batch: &mut dispatch::Batch, decoder: &mut Decoder, buf: &[u8]) -> usize {
        let mut used = 0;
        while !self.closing && self.link.inflight() < self.core.max_inflight {
            match decoder.decode(&buf[used..]) {
                Ok((0, None)) => break,
                Ok((n, event)) => {
                    used += n;
                    self.events += u64::from(event.is_some());
                    match event {
                        None => {}
                        Some(Event::Text(message)) => self.answer(batch, &message),
                        Some(Event::Binary(_)) => {
                            self.close(CLOSE_UNSUPPORTED_DATA, "binary frames are not supported; send JSON-RPC as text")
                        }
                        Some(Event::Ping(payload)) => ws::write_pong(&mut self.link.out(), &payload),
                        Some(Event::Pong(_)) => {}
                        Some(Event::Close(code, _)) => self.close(code.unwrap_or(ws::CLOSE_NORMAL), ""),
                    }
                }
                Err(e) => {
                    self.close(e.close_code(), &e.to_string());
                    return buf.len();
                }
            }
        }
        used
    }

    fn close(&mut self, code: u16, reason: &str) {
        // write_close cuts the reason to what a control frame holds, at a char boundary.
        ws::write_close(&mut self.link.out(), code, reason);
        self.closing = true;
    }

    fn answer(&mut self, batch: &mut dispatch::Batch, message: &[u8]) {
        let (core, bound, sink) = (&self.core, &self.bound, &self.sink);
        self.link.answer(|lines| dispatch::handle_message(core, batch, bound, sink, message, lines));
    }
}
