//! One NDJSON session (TCP or a stdio child): the handshake, then a reader task matching
//! answers and a writer task sending requests, closed or open loop.

use crate::answer::{self, Message, Outcome};
use crate::limits::{MESSAGE_MAX_BYTES, READ_BUFFER_MAX_BYTES, READ_BUFFER_MIN_BYTES};
use crate::request::{self, Template, INITIALIZE_ID};
use crate::run::io::{self as rio, Io};
use crate::run::state::{Conn, Env};
use futures_lite::future;
use futures_lite::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use std::rc::Rc;

/// Sends `initialize`, waits for its answer, sends `notifications/initialized`. Returns the
/// bytes read past the answer.
///
/// # Errors
/// I/O errors, the stream closing, an error answer, or any other answer first.
pub async fn handshake(io: &mut Io) -> Result<Vec<u8>, String> {
    rio::send(io, &request::initialize(true)).await.map_err(|e| format!("sending initialize: {e}"))?;
    let mut buf = vec![0u8; READ_BUFFER_MIN_BYTES];
    let (mut filled, mut start) = (0, 0);
    loop {
        while let Some(nl) = memchr::memchr(b'\n', &buf[start..filled]) {
            let line = &buf[start..start + nl];
            start += nl + 1;
            match answer::classify(line) {
                Message::Answer { id: Some(INITIALIZE_ID), outcome: Outcome::Ok } => {
                    let leftover = buf[start..filled].to_vec();
                    rio::send(io, &request::initialized(true))
                        .await
                        .map_err(|e| format!("sending initialized: {e}"))?;
                    return Ok(leftover);
                }
                Message::Answer { id: Some(INITIALIZE_ID), outcome: Outcome::Error(code) } => {
                    return Err(format!("initialize answered with error {code}"));
                }
                Message::ServerMessage => {}
                _ if line.iter().all(u8::is_ascii_whitespace) => {}
                _ => return Err(format!("unexpected message before the initialize answer: {}", snippet(line))),
            }
        }
        if filled == buf.len() {
            if buf.len() >= MESSAGE_MAX_BYTES {
                return Err("initialize answer is too long".into());
            }
            buf.resize(buf.len() * 2, 0);
        }
        match io.read(&mut buf[filled..]).await {
            Ok(0) => return Err("closed before answering initialize".into()),
            Ok(n) => filled += n,
            Err(e) => return Err(format!("reading the initialize answer: {e}")),
        }
    }
}

fn snippet(line: &[u8]) -> String {
    String::from_utf8_lossy(&line[..line.len().min(200)]).into_owned()
}

/// Runs the workload on one established session until the window ends and its answers are
/// in (or the drain deadline passes, or the connection fails).
///
/// The reader and the writer are two tasks on one stream (the ring keeps a waker for each
/// direction), so a writer held back by a full send queue never stops the answers from being
/// read.
pub async fn drive(stream: Io, leftover: Vec<u8>, conn: Rc<Conn>, env: Rc<Env>) {
    let stream = Rc::new(stream);
    let writer_task = {
        let (stream, conn, env) = (stream.clone(), conn.clone(), env.clone());
        ringmcp_ring::spawn(async move {
            write_requests(&mut &*stream, &conn, &env, &Lines(&env.template)).await;
            conn.writer_done.set(true);
            conn.to_reader.notify();
        })
    };
    read_loop(&*stream, leftover, &conn, &env).await;
    writer_task.await;
}

/// How a pipelined stream (NDJSON here, WebSocket in `ws.rs`) puts requests on the wire.
pub trait Outbox {
    /// Appends the request with this id.
    fn request(&self, id: u64, out: &mut Vec<u8>);

    /// Appends whatever else must go out now (WebSocket pongs); NDJSON has nothing.
    fn control(&self, _out: &mut Vec<u8>) {}
}

/// NDJSON: each request is its pre-rendered line.
struct Lines<'a>(&'a Template);

impl Outbox for Lines<'_> {
    fn request(&self, id: u64, out: &mut Vec<u8>) {
        self.0.render(id, out);
    }
}

/// Sends the workload, closed or open loop, until the window ends or the connection closes.
pub async fn write_requests<S: AsyncWrite + Unpin>(writer: &mut S, conn: &Conn, env: &Env, outbox: &impl Outbox) {
    match env.rate {
        None => write_closed_loop(writer, conn, env, outbox).await,
        Some(rate) => write_open_loop(writer, conn, env, rate, outbox).await,
    }
}

/// Closed loop: W requests in flight; each answer lets the writer send one more. All ready
/// requests (and control bytes) go out in one write per wakeup, and the ring sends the writes
/// of every connection of the loop's turn together, so a batch of answers read in one turn is
/// replaced by one send per connection.
async fn write_closed_loop<S: AsyncWrite + Unpin>(writer: &mut S, conn: &Conn, env: &Env, outbox: &impl Outbox) {
    let mut out = Vec::with_capacity(env.template.len(u64::MAX) * env.inflight as usize);
    conn.ready.set(env.inflight);
    loop {
        let now = env.now_ns();
        if conn.closed.get() || conn.sending_over.get() || now >= env.window.measure_end_ns {
            return;
        }
        out.clear();
        outbox.control(&mut out);
        let n = conn.ready.replace(0);
        if n == 0 && out.is_empty() {
            conn.to_writer.notified().await;
            continue;
        }
        issue(conn, env, outbox, &mut out, (0..n).map(|_| now), now);
        if !write(writer, &out, conn, env).await {
            return;
        }
    }
}

/// Open loop: requests go out at their scheduled times whatever the answers do, up to the
/// in-flight cap; latency counts from the scheduled time.
async fn write_open_loop<S: AsyncWrite + Unpin>(
    writer: &mut S,
    conn: &Conn,
    env: &Env,
    rate: f64,
    outbox: &impl Outbox,
) {
    let schedule = env.schedule(conn, rate);
    let total = schedule.total();
    let mut out = Vec::new();
    let mut k = 0;
    loop {
        if conn.closed.get() {
            break;
        }
        let now = env.now_ns();
        let due = schedule.due_by(now);
        let room = u64::from(env.inflight).saturating_sub(conn.pending.borrow().outstanding() as u64);
        let n = (due - k).min(room);
        out.clear();
        outbox.control(&mut out);
        if n > 0 {
            issue(conn, env, outbox, &mut out, (k..k + n).map(|j| schedule.intended_ns(j)), now);
            k += n;
        }
        if !out.is_empty() && !write(writer, &out, conn, env).await {
            break;
        }
        if k >= total || conn.sending_over.get() || now >= env.window.measure_end_ns {
            break;
        }
        if k < due {
            conn.wants_slot.set(true);
            conn.to_writer.notified().await;
            conn.wants_slot.set(false);
            continue;
        }
        let next = schedule.intended_ns(k);
        future::or(env.sleep_until(next), conn.to_writer.notified()).await;
    }
    let due = schedule.due_by(env.now_ns());
    env.counts.borrow_mut().unsent_backlog += due.saturating_sub(k);
}

/// Renders one request per intended time into `out`, registering each as sent at `now`.
fn issue(
    conn: &Conn,
    env: &Env,
    outbox: &impl Outbox,
    out: &mut Vec<u8>,
    intended: impl Iterator<Item = u64>,
    now: u64,
) {
    let mut pending = conn.pending.borrow_mut();
    let mut counts = env.counts.borrow_mut();
    for intended_ns in intended {
        let id = pending.issue(intended_ns, now, &mut counts);
        outbox.request(id, out);
        env.record_send_lag(intended_ns, now);
    }
}

/// Writes `out` whole; false if the connection failed or closed meanwhile. On the ring a write
/// only queues the bytes for the loop's next send, so this completes without yielding unless
/// the stream's send queue is full (then it waits for the send in flight).
pub async fn write<S: AsyncWrite + Unpin>(writer: &mut S, out: &[u8], conn: &Conn, env: &Env) -> bool {
    let written = future::or(
        async {
            match writer.write_all(out).await {
                Ok(()) => Some(writer.flush().await),
                Err(e) => Some(Err(e)),
            }
        },
        async {
            conn.closed().await;
            None
        },
    )
    .await;
    match written {
        Some(Ok(())) => true,
        Some(Err(_)) => {
            conn.fail(env);
            false
        }
        None => false,
    }
}

async fn read_loop<S: AsyncRead + Unpin>(mut reader: S, leftover: Vec<u8>, conn: &Conn, env: &Env) {
    let initial = (env.inflight as usize * 256).clamp(READ_BUFFER_MIN_BYTES, READ_BUFFER_MAX_BYTES);
    let mut buf = leftover;
    let mut filled = buf.len();
    buf.resize(initial.max(filled * 2), 0);
    filled -= settle_lines(&mut buf, filled, conn, env);
    loop {
        if conn.reader_should_stop(env, env.now_ns()) {
            break;
        }
        if filled == buf.len() {
            if buf.len() >= MESSAGE_MAX_BYTES {
                conn.fail(env);
                break;
            }
            buf.resize(buf.len() * 2, 0);
        }
        let read = future::or(async { Some(reader.read(&mut buf[filled..]).await) }, async {
            conn.to_reader.notified().await;
            None
        })
        .await;
        match read {
            None => continue,
            Some(Ok(0)) => {
                // The server closed: fine once everything is answered after the window.
                let finished = conn.sending_over.get() && conn.pending.borrow().outstanding() == 0;
                if !finished {
                    conn.fail(env);
                }
                break;
            }
            Some(Ok(n)) => {
                filled += n;
                filled -= settle_lines(&mut buf, filled, conn, env);
            }
            Some(Err(e)) => {
                conn.fail_because(env, || format!("reading: {e}"));
                break;
            }
        }
    }
    conn.pending.borrow_mut().abandon(&mut env.counts.borrow_mut());
    conn.close();
}

/// Matches every complete line in `buf[..filled]`, moves the partial tail to the front and
/// returns how many bytes were consumed; wakes the writer if slots freed.
fn settle_lines(buf: &mut [u8], filled: usize, conn: &Conn, env: &Env) -> usize {
    let now = env.now_ns();
    let (mut start, mut freed) = (0, 0u32);
    {
        let mut pending = conn.pending.borrow_mut();
        let mut counts = env.counts.borrow_mut();
        for nl in memchr::memchr_iter(b'\n', &buf[..filled]) {
            let line = &buf[start..nl];
            start = nl + 1;
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let settled = pending.settle(answer::classify(line), now, &env.window, &mut counts);
            freed += u32::from(settled.freed);
            if let Some(us) = settled.latency_us {
                env.record(us);
            }
        }
    }
    buf.copy_within(start..filled, 0);
    if freed > 0 {
        if env.rate.is_none() {
            conn.ready.set(conn.ready.get() + freed);
            conn.to_writer.notify();
        } else if conn.wants_slot.get() {
            conn.to_writer.notify();
        }
    }
    start
}
