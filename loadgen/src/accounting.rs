//! Exact request accounting: every request sent on a connection ends in exactly one of
//! `ok`, `errors`, `session_expired` (2025-11-25 over HTTP: answered 404 because its session is
//! gone), `timeouts` (answered, but later than the timeout) or `lost` (never answered), so
//! `sent == ok + errors_total + session_expired + timeouts + lost` always holds. Answers that match
//! no outstanding request are `duplicated` (the id was sent and already answered) or
//! `mismatched` (the id was never sent, is not an integer, or the message is not JSON-RPC).
//! Time is passed in (nanoseconds since the run's epoch); no I/O here.

use crate::answer::{Message, Outcome};
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};

/// What an error answer is counted under in `errors`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorKey {
    /// A JSON-RPC error answer with this code.
    Rpc(i64),
    /// An HTTP answer with this status and no JSON-RPC answer in its body.
    Http(u16),
    /// HTTP: the connection closed before any byte of the answer (a balancer does this when
    /// the node it sent the request to died, so that the client decides on a retry): the
    /// request may or may not have run. Counted here, never sent again.
    Closed,
}

impl fmt::Display for ErrorKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKey::Rpc(code) => write!(f, "{code}"),
            ErrorKey::Http(status) => write!(f, "http_{status}"),
            ErrorKey::Closed => f.write_str("closed"),
        }
    }
}

/// What an error answer means for a client, judged from its JSON-RPC code and (over HTTP) the
/// response's status. Each error answer is in exactly one class, so
/// `ok + Σclasses + timeouts + lost == sent`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// HTTP 401: no or a bad credential.
    Unauthorized,
    /// HTTP 403: a credential without the scope (or an Origin refused).
    Forbidden,
    /// JSON-RPC -32013 or HTTP 429.
    RateLimited,
    /// JSON-RPC -32011: the tool's circuit breaker is open.
    BreakerOpen,
    /// JSON-RPC -32010 or HTTP 503: the server sheds load (memory, queues).
    Overloaded,
    /// JSON-RPC -32012: the tool ran out of time.
    ToolTimeout,
    /// Anything else.
    Other,
}

/// JSON-RPC code: the server is overloaded.
pub const CODE_OVERLOADED: i64 = -32010;
/// JSON-RPC code: the tool's circuit breaker is open.
pub const CODE_CIRCUIT_OPEN: i64 = -32011;
/// JSON-RPC code: the tool timed out.
pub const CODE_TOOL_TIMEOUT: i64 = -32012;
/// JSON-RPC code: rate limited.
pub const CODE_RATE_LIMITED: i64 = -32013;

impl ErrorClass {
    /// The class of an error answer counted under `key`, from a response with `http_status`
    /// (None off HTTP). The HTTP status decides first (401, 403, 429, 503), then the code.
    pub fn of(key: ErrorKey, http_status: Option<u16>) -> ErrorClass {
        let status = match key {
            ErrorKey::Http(status) => Some(status),
            ErrorKey::Rpc(_) => http_status,
            ErrorKey::Closed => None,
        };
        match (status, key) {
            (Some(401), _) => ErrorClass::Unauthorized,
            (Some(403), _) => ErrorClass::Forbidden,
            (Some(429), _) | (_, ErrorKey::Rpc(CODE_RATE_LIMITED)) => ErrorClass::RateLimited,
            (_, ErrorKey::Rpc(CODE_CIRCUIT_OPEN)) => ErrorClass::BreakerOpen,
            (Some(503), _) | (_, ErrorKey::Rpc(CODE_OVERLOADED)) => ErrorClass::Overloaded,
            (_, ErrorKey::Rpc(CODE_TOOL_TIMEOUT)) => ErrorClass::ToolTimeout,
            _ => ErrorClass::Other,
        }
    }
}

/// Error answers by [`ErrorClass`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClassCounts {
    /// HTTP 401.
    pub unauthorized: u64,
    /// HTTP 403.
    pub forbidden: u64,
    /// -32013 or HTTP 429.
    pub rate_limited: u64,
    /// -32011.
    pub breaker_open: u64,
    /// -32010 or HTTP 503.
    pub overloaded: u64,
    /// -32012.
    pub tool_timeout: u64,
    /// Every other error answer.
    pub other: u64,
}

impl ClassCounts {
    fn slot(&mut self, class: ErrorClass) -> &mut u64 {
        match class {
            ErrorClass::Unauthorized => &mut self.unauthorized,
            ErrorClass::Forbidden => &mut self.forbidden,
            ErrorClass::RateLimited => &mut self.rate_limited,
            ErrorClass::BreakerOpen => &mut self.breaker_open,
            ErrorClass::Overloaded => &mut self.overloaded,
            ErrorClass::ToolTimeout => &mut self.tool_timeout,
            ErrorClass::Other => &mut self.other,
        }
    }

    fn merge(&mut self, other: &ClassCounts) {
        self.unauthorized += other.unauthorized;
        self.forbidden += other.forbidden;
        self.rate_limited += other.rate_limited;
        self.breaker_open += other.breaker_open;
        self.overloaded += other.overloaded;
        self.tool_timeout += other.tool_timeout;
        self.other += other.other;
    }

    /// All classes together (equals `errors_total`).
    pub fn total(&self) -> u64 {
        self.unauthorized
            + self.forbidden
            + self.rate_limited
            + self.breaker_open
            + self.overloaded
            + self.tool_timeout
            + self.other
    }
}

/// Adds `n` to the counter of `key` in a small keyed list.
fn bump<K: PartialEq + Copy>(list: &mut Vec<(K, u64)>, key: K, n: u64) {
    match list.iter_mut().find(|(k, _)| *k == key) {
        Some((_, count)) => *count += n,
        None => list.push((key, n)),
    }
}

/// Counters of one connection, one worker or the whole run (they merge by addition).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Requests written (not counting `initialize`).
    pub sent: u64,
    /// Answers with a `result`, in time.
    pub ok: u64,
    /// Error answers in time, by key. Few distinct keys: a vector beats a map here.
    pub errors: Vec<(ErrorKey, u64)>,
    /// Answers that came later than the timeout after their request was written.
    pub timeouts: u64,
    /// Requests never answered: still outstanding at the end, or on a failed connection.
    pub lost: u64,
    /// 2025-11-25 over HTTP: requests answered 404 because the session they carried is gone
    /// (its node went away); the connection then opens a new session.
    pub session_expired: u64,
    /// New sessions opened after a `session_expired` answer (initialize + initialized).
    pub reinitialized: u64,
    /// Connections the server closed (an answer with `Connection: close`, or the peer gone
    /// before any byte of an answer) that were opened again to go on.
    pub reconnected: u64,
    /// Answers for an id that had already been answered.
    pub duplicated: u64,
    /// Answers whose id was never sent (or is not an integer), and unparseable messages.
    pub mismatched: u64,
    /// Connections that failed to connect or handshake, or closed or failed mid-run.
    pub connection_errors: u64,
    /// Open loop: requests scheduled before the end but never written because the
    /// connection's in-flight cap was full.
    pub unsent_backlog: u64,
    /// Answers received inside the measured window (the throughput numerator).
    pub answers_measured: u64,
    /// Notifications and requests from the server (ignored, counted for the record).
    pub server_messages: u64,
    /// Error answers by class (a partition of `errors`).
    pub classes: ClassCounts,
    /// HTTP responses to workload requests, by status (2xx included).
    pub http_status: Vec<(u16, u64)>,
    /// Connections whose handshake an HTTP status refused (a WebSocket upgrade answered 401,
    /// an `initialize` POST answered 429, …), by that status.
    pub connect_http_status: Vec<(u16, u64)>,
}

impl Counts {
    /// Counts one error answer under `key` (from a response with `http_status`, over HTTP).
    pub fn add_error(&mut self, key: ErrorKey, http_status: Option<u16>) {
        bump(&mut self.errors, key, 1);
        *self.classes.slot(ErrorClass::of(key, http_status)) += 1;
    }

    /// Counts one HTTP response to a workload request.
    pub fn add_http_status(&mut self, status: u16) {
        bump(&mut self.http_status, status, 1);
    }

    /// Counts one handshake refused with an HTTP status.
    pub fn add_connect_http_status(&mut self, status: u16) {
        bump(&mut self.connect_http_status, status, 1);
    }

    /// All error answers together.
    pub fn errors_total(&self) -> u64 {
        self.errors.iter().map(|(_, n)| n).sum()
    }

    /// Adds another set of counters to this one.
    pub fn merge(&mut self, other: &Counts) {
        self.sent += other.sent;
        self.ok += other.ok;
        for &(key, n) in &other.errors {
            bump(&mut self.errors, key, n);
        }
        self.classes.merge(&other.classes);
        for &(status, n) in &other.http_status {
            bump(&mut self.http_status, status, n);
        }
        for &(status, n) in &other.connect_http_status {
            bump(&mut self.connect_http_status, status, n);
        }
        self.timeouts += other.timeouts;
        self.lost += other.lost;
        self.session_expired += other.session_expired;
        self.reinitialized += other.reinitialized;
        self.reconnected += other.reconnected;
        self.duplicated += other.duplicated;
        self.mismatched += other.mismatched;
        self.connection_errors += other.connection_errors;
        self.unsent_backlog += other.unsent_backlog;
        self.answers_measured += other.answers_measured;
        self.server_messages += other.server_messages;
    }

    /// The run's verdict: nothing lost, duplicated or mismatched (exit code 0).
    pub fn exact(&self) -> bool {
        self.lost == 0 && self.duplicated == 0 && self.mismatched == 0
    }

    /// Errors sorted by key, for reports.
    pub fn errors_sorted(&self) -> Vec<(ErrorKey, u64)> {
        let mut errors = self.errors.clone();
        errors.sort();
        errors
    }
}

/// The run's timeline, in nanoseconds since its epoch, and the answer timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// End of warmup: requests intended from here on are measured.
    pub measure_start_ns: u64,
    /// End of the measured window: no request is sent from here on.
    pub measure_end_ns: u64,
    /// An answer later than this after its request was written counts as a timeout.
    pub timeout_ns: u64,
}

impl Window {
    /// Whether a request intended at this time is in the latency figures.
    pub fn measures_request(&self, intended_ns: u64) -> bool {
        (self.measure_start_ns..self.measure_end_ns).contains(&intended_ns)
    }

    /// Whether an answer received at this time is in the throughput figure.
    pub fn measures_answer(&self, received_ns: u64) -> bool {
        (self.measure_start_ns..self.measure_end_ns).contains(&received_ns)
    }
}

/// When one outstanding request was meant to go out and when it did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    intended_ns: u64,
    sent_ns: u64,
}

/// What settling one message did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Settled {
    /// An outstanding request was answered (closed loop: a slot is free again).
    pub freed: bool,
    /// Latency from the intended send time, in µs, if this request is in the measured window.
    pub latency_us: Option<u64>,
}

/// Ids are small consecutive integers: a multiply-shift hash is plenty and much cheaper than
/// SipHash (the peer cannot choose our ids).
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn write_u64(&mut self, id: u64) {
        self.0 = id.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(29);
    }
}

/// The outstanding requests of one connection, by id.
pub struct Pending {
    outstanding: HashMap<u64, Stamp, BuildHasherDefault<IdHasher>>,
    next_id: u64,
}

impl Default for Pending {
    fn default() -> Self {
        Pending::new()
    }
}

impl Pending {
    /// An empty table; the first workload id is 1 (0 is `initialize`, answered before).
    pub fn new() -> Pending {
        Pending { outstanding: HashMap::default(), next_id: crate::request::INITIALIZE_ID + 1 }
    }

    /// Allocates the next id for a request intended at `intended_ns` and written at
    /// `sent_ns`, and counts it as sent.
    pub fn issue(&mut self, intended_ns: u64, sent_ns: u64, counts: &mut Counts) -> u64 {
        debug_assert!(intended_ns <= sent_ns, "a request cannot leave before it is due");
        let id = self.next_id;
        self.next_id += 1;
        let previous = self.outstanding.insert(id, Stamp { intended_ns, sent_ns });
        debug_assert!(previous.is_none(), "ids are never reused");
        counts.sent += 1;
        id
    }

    /// Matches one message from the server received at `now_ns` and counts it.
    pub fn settle(&mut self, message: Message, now_ns: u64, window: &Window, counts: &mut Counts) -> Settled {
        self.settle_from(message, None, now_ns, window, counts)
    }

    /// [`Pending::settle`] for a message that came in an HTTP response with `http_status`
    /// (None: not over HTTP), which classifies its error.
    pub fn settle_from(
        &mut self,
        message: Message,
        http_status: Option<u16>,
        now_ns: u64,
        window: &Window,
        counts: &mut Counts,
    ) -> Settled {
        match message {
            Message::Answer { id, outcome } => {
                let key = match outcome {
                    Outcome::Ok => None,
                    Outcome::Error(code) => Some(ErrorKey::Rpc(code)),
                };
                self.settle_id(id, key, http_status, now_ns, window, counts)
            }
            Message::ServerMessage => {
                counts.server_messages += 1;
                Settled::default()
            }
            Message::Invalid => {
                counts.mismatched += 1;
                Settled::default()
            }
        }
    }

    /// Matches an answer to `id` (None: not an integer id) that is a result (`error` None)
    /// or an error under `error`, from an HTTP response with `http_status` (None off HTTP).
    pub fn settle_id(
        &mut self,
        id: Option<u64>,
        error: Option<ErrorKey>,
        http_status: Option<u16>,
        now_ns: u64,
        window: &Window,
        counts: &mut Counts,
    ) -> Settled {
        let Some(id) = id else {
            counts.mismatched += 1;
            return Settled::default();
        };
        let Some(stamp) = self.outstanding.remove(&id) else {
            if id < self.next_id {
                counts.duplicated += 1;
            } else {
                counts.mismatched += 1;
            }
            return Settled::default();
        };
        if window.measures_answer(now_ns) {
            counts.answers_measured += 1;
        }
        if now_ns.saturating_sub(stamp.sent_ns) > window.timeout_ns {
            counts.timeouts += 1;
        } else {
            match error {
                None => counts.ok += 1,
                Some(key) => counts.add_error(key, http_status),
            }
        }
        let latency_us = window
            .measures_request(stamp.intended_ns)
            .then(|| (now_ns.saturating_sub(stamp.intended_ns) / 1_000).max(1));
        Settled { freed: true, latency_us }
    }

    /// Counts the answer to `id` as `session_expired` (an HTTP 404 to a request that carried
    /// `Mcp-Session-Id`): answered, neither ok nor an error. A later duplicate or unknown id
    /// counts as [`Pending::settle_id`] would.
    pub fn settle_expired(&mut self, id: u64, now_ns: u64, window: &Window, counts: &mut Counts) -> Settled {
        let Some(stamp) = self.outstanding.remove(&id) else {
            return self.settle_id(Some(id), None, None, now_ns, window, counts);
        };
        if window.measures_answer(now_ns) {
            counts.answers_measured += 1;
        }
        counts.session_expired += 1;
        let latency_us = window
            .measures_request(stamp.intended_ns)
            .then(|| (now_ns.saturating_sub(stamp.intended_ns) / 1_000).max(1));
        Settled { freed: true, latency_us }
    }

    /// Whether request `id` is still unanswered.
    pub fn contains(&self, id: u64) -> bool {
        self.outstanding.contains_key(&id)
    }

    /// Requests written and not yet answered.
    pub fn outstanding(&self) -> usize {
        self.outstanding.len()
    }

    /// Outstanding requests written more than the timeout before `now_ns`.
    pub fn overdue(&self, now_ns: u64, timeout_ns: u64) -> usize {
        self.outstanding.values().filter(|s| now_ns.saturating_sub(s.sent_ns) > timeout_ns).count()
    }

    /// Gives up on every outstanding request: each one is lost.
    pub fn abandon(&mut self, counts: &mut Counts) {
        counts.lost += self.outstanding.len() as u64;
        self.outstanding.clear();
    }

    /// The id the next request will get.
    pub fn next_id(&self) -> u64 {
        self.next_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Window = Window { measure_start_ns: 1_000, measure_end_ns: 10_000_000, timeout_ns: 5_000_000 };

    fn ok(id: u64) -> Message {
        Message::Answer { id: Some(id), outcome: Outcome::Ok }
    }

    fn identity_holds(c: &Counts) {
        assert_eq!(c.sent, c.ok + c.errors_total() + c.session_expired + c.timeouts + c.lost, "{c:?}");
    }

    #[test]
    fn each_request_is_settled_exactly_once() {
        let (mut pending, mut counts) = (Pending::new(), Counts::default());
        let a = pending.issue(2_000, 2_000, &mut counts);
        let b = pending.issue(2_000, 2_000, &mut counts);
        assert_eq!((a, b), (1, 2));
        let first = pending.settle(ok(a), 3_000, &WINDOW, &mut counts);
        assert_eq!(first, Settled { freed: true, latency_us: Some(1) });
        let again = pending.settle(ok(a), 3_000, &WINDOW, &mut counts);
        assert_eq!(again, Settled::default());
        let err = Message::Answer { id: Some(b), outcome: Outcome::Error(-32010) };
        pending.settle(err, 4_000_000, &WINDOW, &mut counts);
        assert_eq!((counts.ok, counts.duplicated, counts.errors.clone()), (1, 1, vec![(ErrorKey::Rpc(-32010), 1)]));
        assert_eq!(pending.outstanding(), 0);
        identity_holds(&counts);
    }

    #[test]
    fn ids_never_sent_are_mismatched_and_initialize_repeats_are_duplicates() {
        let (mut pending, mut counts) = (Pending::new(), Counts::default());
        pending.issue(0, 0, &mut counts);
        pending.settle(ok(5), 10, &WINDOW, &mut counts);
        pending.settle(Message::Answer { id: None, outcome: Outcome::Error(-32700) }, 10, &WINDOW, &mut counts);
        pending.settle(Message::Invalid, 10, &WINDOW, &mut counts);
        pending.settle(ok(0), 10, &WINDOW, &mut counts);
        pending.settle(Message::ServerMessage, 10, &WINDOW, &mut counts);
        assert_eq!((counts.mismatched, counts.duplicated, counts.server_messages), (3, 1, 1));
        assert_eq!(pending.outstanding(), 1);
    }

    /// A 404 for a gone session is answered: `session_expired`, never `errors` or `lost`,
    /// once per request; a connection closed before the answer is the error `closed`.
    #[test]
    fn expired_sessions_and_closed_connections_keep_the_partition_exact() {
        let (mut pending, mut counts) = (Pending::new(), Counts::default());
        let gone = pending.issue(2_000, 2_000, &mut counts);
        let fine = pending.issue(2_000, 2_000, &mut counts);
        let cut = pending.issue(3_000, 3_000, &mut counts);
        let settled = pending.settle_expired(gone, 5_000, &WINDOW, &mut counts);
        assert_eq!(settled, Settled { freed: true, latency_us: Some(3) });
        assert_eq!(pending.settle_expired(gone, 6_000, &WINDOW, &mut counts), Settled::default());
        pending.settle_id(Some(cut), Some(ErrorKey::Closed), None, 7_000, &WINDOW, &mut counts);
        pending.settle(ok(fine), 7_000, &WINDOW, &mut counts);
        assert_eq!(
            (counts.sent, counts.ok, counts.session_expired, counts.errors.clone(), counts.lost, counts.duplicated),
            (3, 1, 1, vec![(ErrorKey::Closed, 1)], 0, 1)
        );
        assert_eq!((ErrorKey::Closed.to_string(), counts.classes.other), ("closed".to_string(), 1));
        identity_holds(&counts);
        let mut total = Counts::default();
        counts.reinitialized = 1;
        counts.reconnected = 2;
        total.merge(&counts);
        total.merge(&counts);
        assert_eq!((total.session_expired, total.reinitialized, total.reconnected), (2, 2, 4));
    }

    #[test]
    fn late_answers_are_timeouts_and_unanswered_ones_are_lost() {
        let (mut pending, mut counts) = (Pending::new(), Counts::default());
        let late = pending.issue(2_000, 2_000, &mut counts);
        pending.issue(2_000, 2_000, &mut counts);
        assert_eq!(pending.overdue(5_002_001, WINDOW.timeout_ns), 2);
        let settled = pending.settle(ok(late), 6_000_000, &WINDOW, &mut counts);
        assert_eq!(settled.latency_us, Some(5_998), "late answers still show in the latency figures");
        pending.abandon(&mut counts);
        assert_eq!((counts.ok, counts.timeouts, counts.lost), (0, 1, 1));
        identity_holds(&counts);
    }

    #[test]
    fn latency_counts_from_the_intended_time_and_only_inside_the_window() {
        let (mut pending, mut counts) = (Pending::new(), Counts::default());
        let warm = pending.issue(500, 500, &mut counts);
        // Intended at 2 µs but written at 51 ms (the connection's in-flight cap was full).
        let stalled = pending.issue(2_000, 51_000_000, &mut counts);
        let after = pending.issue(10_000_000, 10_000_000, &mut counts);
        assert_eq!(pending.settle(ok(warm), 900, &WINDOW, &mut counts).latency_us, None);
        assert_eq!(pending.settle(ok(stalled), 51_002_000, &WINDOW, &mut counts).latency_us, Some(51_000));
        assert_eq!(pending.settle(ok(after), 10_000_500, &WINDOW, &mut counts).latency_us, None);
        assert_eq!(counts.answers_measured, 0, "no answer arrived inside [1 µs, 10 ms)");
        assert_eq!(counts.timeouts, 0, "the timeout runs from the write, not the intended time");
        assert_eq!(counts.ok, 3);
    }

    #[test]
    fn error_classes_partition_the_errors_with_the_http_status_first() {
        let cases = [
            (ErrorKey::Rpc(-32013), None, ErrorClass::RateLimited),
            (ErrorKey::Rpc(-32013), Some(429), ErrorClass::RateLimited),
            (ErrorKey::Http(429), None, ErrorClass::RateLimited),
            (ErrorKey::Rpc(-32011), None, ErrorClass::BreakerOpen),
            (ErrorKey::Rpc(-32011), Some(200), ErrorClass::BreakerOpen),
            (ErrorKey::Rpc(-32010), None, ErrorClass::Overloaded),
            (ErrorKey::Http(503), None, ErrorClass::Overloaded),
            (ErrorKey::Rpc(-32012), None, ErrorClass::ToolTimeout),
            (ErrorKey::Rpc(-32600), Some(401), ErrorClass::Unauthorized),
            (ErrorKey::Http(401), None, ErrorClass::Unauthorized),
            (ErrorKey::Rpc(-32600), Some(403), ErrorClass::Forbidden),
            (ErrorKey::Rpc(-32600), None, ErrorClass::Other),
            (ErrorKey::Http(404), None, ErrorClass::Other),
        ];
        let mut counts = Counts::default();
        for (key, status, class) in cases {
            assert_eq!(ErrorClass::of(key, status), class, "{key} {status:?}");
            counts.add_error(key, status);
        }
        let c = counts.classes;
        assert_eq!(
            (c.rate_limited, c.breaker_open, c.overloaded, c.tool_timeout, c.unauthorized, c.forbidden, c.other),
            (3, 2, 2, 1, 2, 1, 2)
        );
        assert_eq!(c.total(), counts.errors_total());
        let mut merged = Counts::default();
        counts.add_http_status(200);
        counts.add_http_status(429);
        counts.add_http_status(200);
        counts.add_connect_http_status(401);
        merged.merge(&counts);
        merged.merge(&counts);
        assert_eq!(merged.classes.rate_limited, 6);
        assert_eq!(merged.http_status, vec![(200, 4), (429, 2)]);
        assert_eq!(merged.connect_http_status, vec![(401, 2)]);
    }

    #[test]
    fn counts_merge_by_addition() {
        let mut a = Counts { sent: 3, ok: 2, errors: vec![(ErrorKey::Rpc(-32010), 1)], ..Counts::default() };
        let b = Counts {
            sent: 2,
            lost: 1,
            errors: vec![(ErrorKey::Http(503), 1), (ErrorKey::Rpc(-32010), 2)],
            ..Counts::default()
        };
        a.merge(&b);
        assert_eq!(a.sent, 5);
        assert_eq!(a.errors_total(), 4);
        assert_eq!(a.errors_sorted(), vec![(ErrorKey::Rpc(-32010), 3), (ErrorKey::Http(503), 1)]);
        assert!(!a.exact());
        assert_eq!(ErrorKey::Http(503).to_string(), "http_503");
        assert_eq!(ErrorKey::Rpc(-32601).to_string(), "-32601");
    }
}
