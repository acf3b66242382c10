//! One WebSocket session (`ws://`): the RFC 6455 upgrade, in 2025-11-25 `initialize` and
//! `notifications/initialized` as text frames, then the NDJSON driver's reader and writer with
//! frames for lines. Requests go out as pre-masked frames, all the ready ones in one write;
//! server frames are decoded in the read buffer; pings are answered with masked pongs; a close
//! frame or a protocol error ends the connection, counted as a connection error with its code.

use crate::answer::{self, Message, Outcome};
use crate::http::ExtraHeaders;
use crate::limits::{MESSAGE_MAX_BYTES, READ_BUFFER_MAX_BYTES, READ_BUFFER_MIN_BYTES, WS_CLOSE_WRITE_TIMEOUT_MS};
use crate::request::{self, Protocol, INITIALIZE_ID};
use crate::run::io::{self as rio, Io};
use crate::run::ndjson::{self, Outbox};
use crate::run::state::{Conn, Env};
use crate::ws::{self, Decoder, Event, FrameError, Opcode, RequestFrames, FRAME_HEADER_BYTES_MAX};
use futures_lite::future;
use futures_lite::io::{AsyncReadExt, AsyncWriteExt};
use std::cell::{Cell, RefCell};
use std::hash::{BuildHasher, Hasher};
use std::rc::Rc;
use std::time::Duration;

/// The longest frame the read buffer must hold: the longest message and its header.
const FRAME_BYTES_MAX: usize = MESSAGE_MAX_BYTES + FRAME_HEADER_BYTES_MAX;

/// 64 unpredictable bits for masking keys and handshake nonces (not for secrets): std's
/// randomly keyed SipHash over a counter.
pub fn random_u64() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    hasher.finish()
}

/// A masking key for a run.
pub fn random_mask() -> [u8; 4] {
    let [a, b, c, d, ..] = random_u64().to_ne_bytes();
    [a, b, c, d]
}

/// Upgrades the connection; in 2025-11-25 then sends `initialize` in a text frame, waits for
/// its answer (answering pings meanwhile) and sends `notifications/initialized` (2026-07-28
/// has no handshake). Returns the bytes read past the 101 or the answer's frame.
///
/// # Errors
/// I/O errors, a refused or wrong upgrade, a close frame or protocol error, an error answer,
/// or any other answer first.
pub async fn handshake(
    io: &mut Io,
    path: &str,
    host: &str,
    mask: [u8; 4],
    protocol: Protocol,
    extra: &ExtraHeaders,
) -> Result<Vec<u8>, String> {
    let mut input = upgrade(io, path, host, extra).await?;
    if !protocol.handshake() {
        return Ok(input.unread().to_vec());
    }
    let mut out = Vec::new();
    ws::write_frame(&mut out, Opcode::Text, &request::initialize(false), mask);
    rio::send(io, &out).await.map_err(|e| format!("sending initialize: {e}"))?;
    out.clear();
    let mut decoder = Decoder::new(MESSAGE_MAX_BYTES);
    loop {
        while let Some((used, answered)) = initialize_step(&mut decoder, input.unread(), &mut out, mask)? {
            input.consume(used);
            if answered {
                ws::write_frame(&mut out, Opcode::Text, &request::initialized(false), mask);
            }
            if !out.is_empty() {
                rio::send(io, &out).await.map_err(|e| format!("writing to the WebSocket: {e}"))?;
                out.clear();
            }
            if answered {
                return Ok(input.unread().to_vec());
            }
        }
        input.read(io, "the initialize answer").await?;
    }
}

/// Sends the upgrade request and checks the 101; returns the input past its head.
async fn upgrade(io: &mut Io, path: &str, host: &str, extra: &ExtraHeaders) -> Result<Input, String> {
    let mut nonce = [0u8; 16];
    nonce[..8].copy_from_slice(&random_u64().to_ne_bytes());
    nonce[8..].copy_from_slice(&random_u64().to_ne_bytes());
    let key = ws::client_key(nonce);
    rio::send(io, &ws::upgrade_request_with(path, host, &key, extra))
        .await
        .map_err(|e| format!("sending the upgrade: {e}"))?;
    let mut input = Input::default();
    loop {
        if let Some(head) = ws::check_upgrade_response(input.unread(), &key)? {
            input.consume(head);
            return Ok(input);
        }
        input.read(io, "the upgrade response").await?;
    }
}

/// Decodes one frame while waiting for the `initialize` answer: `Ok(None)` to read more, else
/// the bytes used and whether it was the answer. A ping's pong is appended to `out`.
fn initialize_step(
    decoder: &mut Decoder,
    unread: &[u8],
    out: &mut Vec<u8>,
    mask: [u8; 4],
) -> Result<Option<(usize, bool)>, String> {
    let (used, event) = match decoder.decode(unread) {
        Ok(None) => return Ok(None),
        Ok(Some(frame)) => frame,
        Err(e) => return Err(format!("WebSocket protocol error from the server: {e}")),
    };
    let answered = match event {
        Some(Event::Message(message)) => match answer::classify(message) {
            Message::Answer { id: Some(INITIALIZE_ID), outcome: Outcome::Ok } => true,
            Message::Answer { id: Some(INITIALIZE_ID), outcome: Outcome::Error(code) } => {
                return Err(format!("initialize answered with error {code}"));
            }
            Message::ServerMessage => false,
            _ => return Err(format!("unexpected message before the initialize answer: {}", snippet(message))),
        },
        Some(Event::Ping(payload)) => {
            ws::write_pong(out, payload, mask);
            false
        }
        Some(Event::Close { code, reason }) => {
            return Err(format!("before answering initialize, {}", closed_with(code, reason)));
        }
        Some(Event::Pong) | None => false,
    };
    Ok(Some((used, answered)))
}

fn snippet(message: &[u8]) -> String {
    String::from_utf8_lossy(&message[..message.len().min(200)]).into_owned()
}

fn closed_with(code: Option<u16>, reason: &[u8]) -> String {
    match code {
        Some(code) if reason.is_empty() => format!("the server closed the WebSocket with code {code}"),
        Some(code) => format!("the server closed the WebSocket with code {code} ({})", snippet(reason)),
        None => "the server closed the WebSocket without a code".to_string(),
    }
}

/// The handshake's read buffer.
#[derive(Default)]
struct Input {
    buf: Vec<u8>,
    start: usize,
    filled: usize,
}

impl Input {
    fn unread(&self) -> &[u8] {
        &self.buf[self.start..self.filled]
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
    }

    /// Reads more bytes, making room first.
    async fn read(&mut self, io: &mut Io, what: &str) -> Result<(), String> {
        self.buf.copy_within(self.start..self.filled, 0);
        self.filled -= self.start;
        self.start = 0;
        if self.filled == self.buf.len() {
            if self.buf.len() >= FRAME_BYTES_MAX {
                return Err(format!("{what} is too long"));
            }
            self.buf.resize((self.buf.len() * 2).clamp(READ_BUFFER_MIN_BYTES, FRAME_BYTES_MAX), 0);
        }
        match io.read(&mut self.buf[self.filled..]).await {
            Ok(0) => Err(format!("closed before {what}")),
            Ok(n) => {
                self.filled += n;
                Ok(())
            }
            Err(e) => Err(format!("reading {what}: {e}")),
        }
    }
}

/// Control frames the reader queues for the writer (pongs, the close), masked.
struct Control {
    mask: [u8; 4],
    out: RefCell<Vec<u8>>,
    /// A close frame is queued (or sent): send no other.
    close_queued: Cell<bool>,
}

impl Control {
    fn close(&self, payload: &[u8]) {
        if !self.close_queued.replace(true) {
            ws::write_frame(&mut self.out.borrow_mut(), Opcode::Close, payload, self.mask);
        }
    }
}

/// Requests as pre-masked frames, and the reader's control frames in the same write.
struct Frames<'a> {
    requests: &'a RequestFrames,
    control: &'a Control,
}

impl Outbox for Frames<'_> {
    fn request(&self, id: u64, out: &mut Vec<u8>) {
        self.requests.render(id, out);
    }

    fn control(&self, out: &mut Vec<u8>) {
        let mut control = self.control.out.borrow_mut();
        if !control.is_empty() {
            out.extend_from_slice(&control);
            control.clear();
        }
    }
}

/// Runs the workload on one established session until the window ends and its answers are
/// in (or the drain deadline passes, or the connection fails), then sends a close frame.
pub async fn drive(stream: Io, leftover: Vec<u8>, requests: Rc<RequestFrames>, conn: Rc<Conn>, env: Rc<Env>) {
    let control =
        Rc::new(Control { mask: requests.mask(), out: RefCell::new(Vec::new()), close_queued: Cell::new(false) });
    let stream = Rc::new(stream);
    let writer_task = {
        let (stream, conn, env, control) = (stream.clone(), conn.clone(), env.clone(), control.clone());
        ringmcp_ring::spawn(async move {
            let mut writer = &*stream;
            let outbox = Frames { requests: &requests, control: &control };
            ndjson::write_requests(&mut writer, &conn, &env, &outbox).await;
            conn.writer_done.set(true);
            conn.to_reader.notify();
            // Pongs until the reader is done, then a close frame (an echo of the server's,
            // ours for a protocol error, or a normal one).
            let mut out = Vec::new();
            loop {
                outbox.control(&mut out);
                if conn.closed.get() {
                    break;
                }
                if out.is_empty() {
                    conn.to_writer.notified().await;
                    continue;
                }
                if !ndjson::write(&mut writer, &out, &conn, &env).await {
                    return;
                }
                out.clear();
            }
            control.close(&ws::CLOSE_NORMAL.to_be_bytes());
            outbox.control(&mut out);
            // The ring drops what is still queued when the stream goes: wait until the close
            // frame is sent (close), but not for long.
            let _ = ringmcp_ring::timeout(Duration::from_millis(WS_CLOSE_WRITE_TIMEOUT_MS), async {
                writer.write_all(&out).await?;
                writer.close().await
            })
            .await;
        })
    };
    read_loop(&stream, leftover, &conn, &env, &control).await;
    writer_task.await;
}

/// Why the reader stopped decoding.
enum Ending {
    /// The server sent a close frame.
    Closed(Option<u16>, String),
    /// A server frame broke the protocol.
    Protocol(FrameError),
}

async fn read_loop(mut reader: &Io, leftover: Vec<u8>, conn: &Conn, env: &Env, control: &Control) {
    let initial = (env.inflight as usize * 256).clamp(READ_BUFFER_MIN_BYTES, READ_BUFFER_MAX_BYTES);
    let mut decoder = Decoder::new(MESSAGE_MAX_BYTES);
    let mut filled = leftover.len();
    let mut buf = leftover;
    buf.resize(initial.max(filled * 2), 0);
    let mut ending = settle_frames(&mut decoder, &mut buf, &mut filled, conn, env, control);
    while ending.is_none() && !conn.reader_should_stop(env, env.now_ns()) {
        if filled == buf.len() {
            // The decoder refuses frames over the limit at their header, so this never fails.
            buf.resize((buf.len() * 2).min(FRAME_BYTES_MAX), 0);
        }
        let read = future::or(async { Some(reader.read(&mut buf[filled..]).await) }, async {
            conn.to_reader.notified().await;
            None
        })
        .await;
        match read {
            None => {}
            Some(Ok(0)) => {
                if !finished(conn) {
                    conn.fail_because(env, || "the server closed the connection without a close frame".into());
                }
                break;
            }
            Some(Ok(n)) => {
                filled += n;
                ending = settle_frames(&mut decoder, &mut buf, &mut filled, conn, env, control);
            }
            Some(Err(e)) => {
                conn.fail_because(env, || format!("reading from the WebSocket: {e}"));
                break;
            }
        }
    }
    match ending {
        None => {}
        Some(Ending::Closed(code, reason)) => {
            let echo = code.map(u16::to_be_bytes);
            control.close(echo.as_ref().map_or(&[][..], |code| &code[..]));
            // A close after every answer is in (a server shutting down) loses nothing.
            if !finished(conn) {
                conn.fail_because(env, || closed_with(code, reason.as_bytes()));
            }
        }
        Some(Ending::Protocol(e)) => {
            let code = e.close_code();
            control.close(&code.to_be_bytes());
            conn.fail_because(env, || format!("WebSocket protocol error from the server: {e} (closed with {code})"));
        }
    }
    conn.pending.borrow_mut().abandon(&mut env.counts.borrow_mut());
    conn.close();
}

/// The window is over and nothing is outstanding: the connection may end.
fn finished(conn: &Conn) -> bool {
    conn.sending_over.get() && conn.pending.borrow().outstanding() == 0
}

/// Handles every complete frame in `buf[..filled]` (answers matched, pings queued for
/// answering), moves the partial tail to the front and lowers `filled` by what was used; wakes
/// the writer if slots freed or a pong is due. Stops at a close frame or a protocol error.
fn settle_frames(
    decoder: &mut Decoder,
    buf: &mut [u8],
    filled: &mut usize,
    conn: &Conn,
    env: &Env,
    control: &Control,
) -> Option<Ending> {
    let now = env.now_ns();
    let (mut start, mut freed, mut pong, mut ending) = (0, 0u32, false, None);
    {
        let mut pending = conn.pending.borrow_mut();
        let mut counts = env.counts.borrow_mut();
        loop {
            let (used, event) = match decoder.decode(&buf[start..*filled]) {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(e) => {
                    ending = Some(Ending::Protocol(e));
                    break;
                }
            };
            match event {
                Some(Event::Message(message)) => {
                    let settled = pending.settle(answer::classify(message), now, &env.window, &mut counts);
                    freed += u32::from(settled.freed);
                    if let Some(us) = settled.latency_us {
                        env.record(us);
                    }
                }
                Some(Event::Ping(payload)) => {
                    ws::write_pong(&mut control.out.borrow_mut(), payload, control.mask);
                    pong = true;
                }
                Some(Event::Close { code, reason }) => {
                    ending = Some(Ending::Closed(code, String::from_utf8_lossy(reason).into_owned()));
                }
                Some(Event::Pong) | None => {}
            }
            start += used;
            if ending.is_some() {
                break;
            }
        }
    }
    buf.copy_within(start..*filled, 0);
    *filled -= start;
    if freed > 0 && env.rate.is_none() {
        conn.ready.set(conn.ready.get() + freed);
    }
    if pong || (freed > 0 && (env.rate.is_none() || conn.wants_slot.get())) {
        conn.to_writer.notify();
    }
    ending
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_values_differ() {
        let values: std::collections::HashSet<u64> = (0..64).map(|_| random_u64()).collect();
        assert_eq!(values.len(), 64);
        assert_ne!(random_mask(), random_mask());
    }
}
