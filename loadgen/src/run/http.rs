//! One MCP Streamable HTTP connection: each request is one POST on a keep-alive HTTP/1.1
//! connection, so one request is in flight at a time (no pipelining). A 2025-11-25 session
//! opens with [`handshake`]; a 2026-07-28 connection has none and drives at once with the
//! run's pre-rendered head.

use crate::accounting::ErrorKey;
use crate::answer::{self, Message, Outcome};
use crate::http::{parse_response, ExtraHeaders, Parsed, PostHead, Response};
use crate::limits::{IDLE_PROBE_AFTER_MS, MESSAGE_MAX_BYTES, READ_BUFFER_MIN_BYTES, RECONNECTS_IN_A_ROW_MAX};
use crate::request::{self, INITIALIZE_ID};
use crate::run::dial::{dial, with_timeout};
use crate::run::io::{self as rio, Io};
use crate::run::state::{Conn, Env};
use crate::run::Plan;
use crate::target::Target;
use futures_lite::future;
use futures_lite::io::AsyncReadExt;
use std::rc::Rc;
use std::sync::Arc;

/// How the reasons of handshakes refused with an HTTP status begin (here and in `ws.rs`).
const REFUSED_PREFIXES: [&str; 3] =
    ["WebSocket upgrade refused: HTTP ", "initialize: HTTP ", "notifications/initialized: HTTP "];

/// The HTTP status that refused a handshake, read back from its failure `reason`
/// (`connect_http_status`).
pub fn refused_status(reason: &str) -> Option<u16> {
    let rest = REFUSED_PREFIXES.iter().find_map(|p| reason.strip_prefix(p))?;
    rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

/// Reads responses off one connection, keeping bytes past the current one.
struct ResponseReader {
    buf: Vec<u8>,
    filled: usize,
}

impl ResponseReader {
    fn new(leftover: Vec<u8>) -> ResponseReader {
        let filled = leftover.len();
        let mut buf = leftover;
        buf.resize(READ_BUFFER_MIN_BYTES.max(filled * 2), 0);
        ResponseReader { buf, filled }
    }

    /// The next response; `Ok(None)` if `stop` says to give up while waiting.
    async fn next(&mut self, io: &mut Io, stop: Option<(&Conn, &Env)>) -> Result<Option<Response>, String> {
        loop {
            if let Parsed::Complete(response, used) = parse_response(&self.buf[..self.filled], false)? {
                self.consume(used);
                return Ok(Some(response));
            }
            if self.filled == self.buf.len() {
                if self.buf.len() >= MESSAGE_MAX_BYTES {
                    return Err("HTTP response too long".into());
                }
                self.buf.resize(self.buf.len() * 2, 0);
            }
            let buf = &mut self.buf[self.filled..];
            let read = match stop {
                None => Some(io.read(buf).await),
                Some((conn, env)) => {
                    future::or(async { Some(io.read(buf).await) }, async {
                        until_drain_end(conn, env).await;
                        None
                    })
                    .await
                }
            };
            match read {
                None => return Ok(None),
                Some(Ok(0)) => {
                    return match parse_response(&self.buf[..self.filled], true)? {
                        Parsed::Complete(response, used) => {
                            self.consume(used);
                            Ok(Some(response))
                        }
                        Parsed::Incomplete => Err("connection closed mid-response".into()),
                    };
                }
                Some(Ok(n)) => self.filled += n,
                Some(Err(e)) => return Err(format!("reading a response: {e}")),
            }
        }
    }

    fn consume(&mut self, used: usize) {
        self.buf.copy_within(used..self.filled, 0);
        self.filled -= used;
    }

    fn leftover(&self) -> Vec<u8> {
        self.buf[..self.filled].to_vec()
    }
}

/// Completes once the drain deadline has passed or the connection closed.
async fn until_drain_end(conn: &Conn, env: &Env) {
    while !(conn.closed.get() || env.now_ns() >= env.drain_end_ns) {
        conn.to_reader.notified().await;
    }
}

/// POSTs `initialize` and `notifications/initialized` (2025-11-25). Returns the bytes read past the
/// answers and the head for every later POST (with the session id, if the server gave one).
///
/// # Errors
/// I/O errors, non-2xx statuses, or an `initialize` answer that is missing or an error.
pub async fn handshake(
    io: &mut Io,
    path: &str,
    host: &str,
    extra: &ExtraHeaders,
) -> Result<(Vec<u8>, PostHead), String> {
    let mut reader = ResponseReader::new(Vec::new());
    let mut out = Vec::new();
    let body = request::initialize(false);
    PostHead::initialize(path, host).with_headers(extra).render(body.len(), &mut out);
    out.extend_from_slice(&body);
    rio::send(io, &out).await.map_err(|e| format!("sending initialize: {e}"))?;
    let response = reader.next(io, None).await?.ok_or("no initialize response")?;
    if response.status != 200 {
        return Err(format!("initialize: HTTP {}", response.status));
    }
    let mut answered = false;
    for message in response.messages() {
        match answer::classify(&message) {
            Message::Answer { id: Some(INITIALIZE_ID), outcome: Outcome::Ok } => answered = true,
            Message::Answer { id: Some(INITIALIZE_ID), outcome: Outcome::Error(code) } => {
                return Err(format!("initialize answered with error {code}"));
            }
            _ => {}
        }
    }
    if !answered {
        return Err("the initialize response carries no answer to it".into());
    }
    let head = PostHead::session(path, host, response.session_id.as_deref()).with_headers(extra);
    let body = request::initialized(false);
    out.clear();
    head.render(body.len(), &mut out);
    out.extend_from_slice(&body);
    rio::send(io, &out).await.map_err(|e| format!("sending initialized: {e}"))?;
    let response = reader.next(io, None).await?.ok_or("no initialized response")?;
    if !(200..300).contains(&response.status) {
        return Err(format!("notifications/initialized: HTTP {}", response.status));
    }
    Ok((reader.leftover(), head))
}

/// What [`drive`] needs to go on when the server ends a connection or a session.
pub struct Redial {
    /// The run (address, TLS, path, headers).
    pub plan: Arc<Plan>,
    /// 2025-11-25: requests carry `Mcp-Session-Id`, and a 404 to one means the session is gone.
    pub session: bool,
}

/// What to do after one request's answer (or its absence).
enum Next {
    /// Send the next request on this connection.
    Go,
    /// The session is gone: open a new one on this connection.
    Reinitialize,
    /// The server closed the connection: open a new one, with a new session if
    /// `new_session`; `after_answer`: it closed after answering (not in a row of failures).
    Reconnect { new_session: bool, after_answer: bool },
    /// Stop: the run is over.
    Stop,
    /// Stop: the connection failed (a malformed or cut answer).
    Fail,
}

/// Runs the workload on one session: POST, wait for the answer, repeat (closed loop), or
/// POST at the scheduled times when the previous answer is in (open loop).
///
/// A 404 to a request in a 2025-11-25 session counts as `session_expired` and a new session is
/// opened on the same connection (`reinitialized`); a connection the server closes (after an
/// answer with `Connection: close`, or before any byte of an answer, which counts that request
/// as the error `closed`: it may have run, so it is never sent again) is opened again
/// (`reconnected`), at most [`RECONNECTS_IN_A_ROW_MAX`] times without an answer in between.
pub async fn drive(mut io: Io, leftover: Vec<u8>, mut head: PostHead, conn: Rc<Conn>, env: Rc<Env>, redial: Redial) {
    let mut reader = ResponseReader::new(leftover);
    let schedule = env.rate.map(|rate| env.schedule(&conn, rate));
    let (mut out, mut body, mut k) = (Vec::new(), Vec::new(), 0u64);
    let mut redials_in_a_row = 0u32;
    // When the connection last showed life (opened, or an answer read).
    let mut active_ns = env.now_ns();
    loop {
        let now = env.now_ns();
        if conn.closed.get() || now >= env.window.measure_end_ns || conn.sending_over.get() {
            break;
        }
        let intended = match &schedule {
            None => now,
            Some(s) if k >= s.total() => break,
            Some(s) if s.intended_ns(k) > now => {
                future::or(env.sleep_until(s.intended_ns(k)), conn.to_writer.notified()).await;
                continue;
            }
            Some(s) => s.intended_ns(k),
        };
        let idle = now.saturating_sub(active_ns) >= IDLE_PROBE_AFTER_MS * 1_000_000;
        let next = if idle && io.peer_closed() {
            Next::Reconnect { new_session: false, after_answer: false }
        } else {
            k += 1;
            let id = conn.pending.borrow_mut().issue(intended, now, &mut env.counts.borrow_mut());
            body.clear();
            env.template.render(id, &mut body);
            env.record_send_lag(intended, now);
            out.clear();
            head.render(body.len(), &mut out);
            out.extend_from_slice(&body);
            let done = schedule.as_ref().is_none_or(|s| k >= s.total());
            exchange(&mut io, &mut reader, &out, id, (&conn, &env), redial.session, done).await
        };
        match next {
            Next::Go => {
                (active_ns, redials_in_a_row) = (env.now_ns(), 0);
            }
            Next::Stop => break,
            Next::Fail => {
                conn.fail(&env);
                break;
            }
            Next::Reinitialize => match reinitialize(&redial.plan, &mut io).await {
                Ok((leftover, renewed)) => {
                    (reader, head) = (ResponseReader::new(leftover), renewed);
                    (active_ns, redials_in_a_row) = (env.now_ns(), 0);
                    env.counts.borrow_mut().reinitialized += 1;
                }
                Err(_) => {
                    conn.fail(&env);
                    break;
                }
            },
            Next::Reconnect { new_session, after_answer } => {
                redials_in_a_row = if after_answer { 1 } else { redials_in_a_row + 1 };
                if redials_in_a_row > RECONNECTS_IN_A_ROW_MAX {
                    conn.fail(&env);
                    break;
                }
                let reopened = future::or(async { Some(reopen(&redial.plan, new_session).await) }, async {
                    conn.closed().await;
                    None
                })
                .await;
                let Some(Ok((fresh, leftover, renewed))) = reopened else {
                    conn.fail(&env);
                    break;
                };
                (io, reader, active_ns) = (fresh, ResponseReader::new(leftover), env.now_ns());
                let mut counts = env.counts.borrow_mut();
                counts.reconnected += 1;
                if let Some(renewed) = renewed {
                    head = renewed;
                    counts.reinitialized += 1;
                }
            }
        }
    }
    if let Some(s) = schedule {
        env.counts.borrow_mut().unsent_backlog += s.due_by(env.now_ns()).saturating_sub(k);
    }
    conn.writer_done.set(true);
    conn.pending.borrow_mut().abandon(&mut env.counts.borrow_mut());
    conn.close();
}

/// Writes one request (`out`, id `id`), reads its answer and counts it; says what comes next.
/// `session`: 2025-11-25 (a 404 means the session is gone); `done`: the run's work is done
/// once this is answered.
async fn exchange(
    io: &mut Io,
    reader: &mut ResponseReader,
    out: &[u8],
    id: u64,
    (conn, env): (&Conn, &Env),
    session: bool,
    done: bool,
) -> Next {
    let written = future::or(async { Some(rio::send(io, out).await) }, async {
        until_drain_end(conn, env).await;
        None
    })
    .await;
    match written {
        Some(Ok(())) => match reader.next(io, Some((conn, env))).await {
            Ok(Some(response)) => answered(&response, id, conn, env, session, done),
            Ok(None) => Next::Stop,
            Err(_) if reader.filled == 0 => closed(id, conn, env),
            Err(_) => Next::Fail,
        },
        Some(Err(_)) => closed(id, conn, env),
        None => Next::Stop,
    }
}

/// Counts one response to request `id` and says what comes next: a 404 in a session is
/// `session_expired` (a new session follows), anything else is settled as an answer; a
/// response that closes the connection before the run's work is `done` asks for a new one.
fn answered(response: &Response, id: u64, conn: &Conn, env: &Env, session: bool, done: bool) -> Next {
    let expired = session && response.status == 404;
    if expired {
        let now = env.now_ns();
        let mut counts = env.counts.borrow_mut();
        counts.add_http_status(response.status);
        let settled = conn.pending.borrow_mut().settle_expired(id, now, &env.window, &mut counts);
        if let Some(us) = settled.latency_us {
            env.record(us);
        }
    } else {
        settle(response, id, conn, env);
    }
    match (response.close, expired) {
        (true, _) if done && env.now_ns() >= env.window.measure_end_ns => Next::Stop,
        (true, expired) => Next::Reconnect { new_session: expired, after_answer: true },
        (false, true) => Next::Reinitialize,
        (false, false) => Next::Go,
    }
}

/// The connection closed before any byte of the answer to `id`: that request counts as the
/// error `closed`, and a new connection follows.
fn closed(id: u64, conn: &Conn, env: &Env) -> Next {
    if conn.closed.get() {
        return Next::Stop;
    }
    let now = env.now_ns();
    let mut counts = env.counts.borrow_mut();
    let settled =
        conn.pending.borrow_mut().settle_id(Some(id), Some(ErrorKey::Closed), None, now, &env.window, &mut counts);
    if let Some(us) = settled.latency_us {
        env.record(us);
    }
    Next::Reconnect { new_session: false, after_answer: false }
}

/// Matches the JSON-RPC answers in one response. An error answer with a null id is taken as
/// the answer to this POST (HTTP pairs them); a response with no answer at all counts as an
/// error under `http_STATUS`.
fn settle(response: &Response, id: u64, conn: &Conn, env: &Env) {
    let now = env.now_ns();
    let mut pending = conn.pending.borrow_mut();
    let mut counts = env.counts.borrow_mut();
    let status = Some(response.status);
    counts.add_http_status(response.status);
    for message in response.messages() {
        let settled = match answer::classify(&message) {
            Message::Answer { id: None, outcome: Outcome::Error(code) } if pending.contains(id) => {
                pending.settle_id(Some(id), Some(ErrorKey::Rpc(code)), status, now, &env.window, &mut counts)
            }
            message => pending.settle_from(message, status, now, &env.window, &mut counts),
        };
        if let Some(us) = settled.latency_us {
            env.record(us);
        }
    }
    if pending.contains(id) {
        let settled =
            pending.settle_id(Some(id), Some(ErrorKey::Http(response.status)), status, now, &env.window, &mut counts);
        if let Some(us) = settled.latency_us {
            env.record(us);
        }
    }
}

/// Opens connection `index` again for [`drive`] after the server closed it, and in
/// 2025-11-25 with `new_session` opens a new session on it, within the timeout. Returns the
/// connection, the bytes read past the handshake and the head of the next POSTs (`None`:
/// keep the one in use).
async fn reopen(plan: &Plan, new_session: bool) -> Result<(Io, Vec<u8>, Option<PostHead>), String> {
    with_timeout(plan.timeout, async {
        let (mut io, _) = dial(plan).await?;
        match (&plan.target, new_session) {
            (Target::Http { path, host_header, .. }, true) => {
                let (leftover, head) = handshake(&mut io, path, host_header, &plan.headers).await?;
                Ok((io, leftover, Some(head)))
            }
            _ => Ok((io, Vec::new(), None)),
        }
    })
    .await
}

/// Opens a new 2025-11-25 session on the open connection `io` (its session is gone).
async fn reinitialize(plan: &Plan, io: &mut Io) -> Result<(Vec<u8>, PostHead), String> {
    let Target::Http { path, host_header, .. } = &plan.target else {
        return Err("sessions are renewed over http:// only".into());
    };
    with_timeout(plan.timeout, handshake(io, path, host_header, &plan.headers)).await
}
