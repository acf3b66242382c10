//! Exact request accounting: every request sent on a connection ends in exactly one of
//! `ok`, `errors`, `timeouts` (answered, but later than the timeout) or `lost` (never
//! answered), so `sent == ok + errors_total + timeouts + lost` always holds. Answers that match
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
}

impl fmt::Display for ErrorKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKey::Rpc(code) => write!(f, "{code}"),
            ErrorKey::Http(status) => write!(f, "http_{status}"),
        }
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
}

impl Counts {
    /// Counts one error answer under `key`.
    pub fn add_error(&mut self, key: ErrorKey) {
        self.add_errors(key, 1);
    }

    fn add_errors(&mut self, key: ErrorKey, n: u64) {
        match self.errors.iter_mut().find(|(k, _)| *k == key) {
            Some((_, count)) => *count += n,
            None => self.errors.push((key, n)),
        }
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
            self.add_errors(key, n);
        }
        self.timeouts += other.timeouts;
        self.lost += other.lost;
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
        match message {
            Message::Answer { id, outcome } => {
                let key = match outcome {
                    Outcome::Ok => None,
                    Outcome::Error(code) => Some(ErrorKey::Rpc(code)),
                };
                self.settle_id(id, key, now_ns, window, counts)
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
    /// or an error under `error`.
    pub fn settle_id(
        &mut self,
        id: Option<u64>,
        error: Option<ErrorKey>,
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
                Some(key) => counts.add_error(key),
            }
        }
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
        assert_eq!(c.sent, c.ok + c.errors_total() + c.timeouts + c.lost, "{c:?}");
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
