//! Per-tool circuit breakers and timeouts, one set per core (cores share nothing).
//!
//! A breaker counts a tool's consecutive failures: an `isError` result, a panic, a timeout.
//! At `failures` in a row it opens: calls fail at once (-32011, `data.retryAfterMs`) for
//! `open_ms`. Then it is half-open: up to `half_open` calls go through as probes; the first
//! that succeeds closes it, one that fails opens it again. A call the client cancelled, or one
//! that ended asking for input (2026-07-28), counts as neither.
//!
//! I/O-free: time is passed in; the transport gives the timer that times calls out.

use super::peer::Timer;
use crate::jsonrpc::{code, RpcError};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// When breakers open and for how long, and how long a call may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Consecutive failures that open a breaker.
    pub failures: u32,
    /// Milliseconds a breaker stays open.
    pub open_ms: u64,
    /// Calls let through at once while half-open.
    pub half_open: u32,
    /// Milliseconds a call may run (async handlers; 0: no limit), unless its tool sets its own.
    pub timeout_ms: u64,
}

/// A breaker's state, as `/health` and `/metrics` show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Calls go through.
    Closed,
    /// Probes go through.
    HalfOpen,
    /// Calls fail at once.
    Open,
}

impl State {
    /// The name in `/health` and `/metrics`.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::HalfOpen => "half_open",
            State::Open => "open",
        }
    }
}

#[derive(Debug, Default)]
struct Breaker {
    /// Consecutive failures while closed.
    failures: u32,
    /// Open until this core time (ms); `None` when not open.
    open_until: Option<u64>,
    /// Half-open: probes running (`None` when not half-open).
    probes: Option<u32>,
    trips: u64,
    rejections: u64,
}

impl Breaker {
    fn state(&self) -> State {
        match (self.open_until, self.probes) {
            (Some(_), _) => State::Open,
            (None, Some(_)) => State::HalfOpen,
            (None, None) => State::Closed,
        }
    }
}

/// One tool's breaker at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolBreaker {
    /// The tool.
    pub tool: String,
    /// Its state.
    pub state: State,
    /// Times it opened.
    pub trips: u64,
    /// Calls refused while open (or half-open and busy).
    pub rejections: u64,
}

/// One core's breakers, and the clock and timer they run on.
pub struct Guard {
    policy: Policy,
    now_ms: Box<dyn Fn() -> u64>,
    timer: Option<Timer>,
    /// Per-tool timeouts set by the operator (`tool_timeouts`), over the tool's own.
    timeouts: HashMap<Box<str>, u64>,
    breakers: RefCell<HashMap<Box<str>, Breaker>>,
}

/// A call [`Guard::admit`] let through: whether it is a half-open probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admit {
    probe: bool,
}

/// An async call let through: report how it ended with [`Permit::finish`]; dropped unfinished
/// (the call was cancelled), it counts as neither success nor failure.
///
/// A healthy tool's permit holds no name and allocates nothing: only a half-open probe keeps
/// its tool's name, to give its place back if it is dropped.
pub struct Permit {
    guard: Rc<Guard>,
    /// The tool, when this call is a half-open probe.
    probe: Option<Box<str>>,
    done: bool,
}

/// How a call ended, for its breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A result that is not an error.
    Success,
    /// An `isError` result, a panic or a timeout.
    Failure,
    /// Neither (it asked for input, or was cancelled).
    Neither,
}

impl Guard {
    /// Breakers under `policy`, on the core's clock `now_ms`; `timer` times calls out (none:
    /// no timeouts).
    pub fn new(policy: Policy, now_ms: Box<dyn Fn() -> u64>, timer: Option<Timer>) -> Guard {
        Guard { policy, now_ms, timer, timeouts: HashMap::new(), breakers: RefCell::default() }
    }

    /// The operator's per-tool timeouts (ms; 0: none), over each tool's own.
    pub fn with_timeouts(mut self, timeouts: impl IntoIterator<Item = (String, u64)>) -> Guard {
        self.timeouts = timeouts.into_iter().map(|(tool, ms)| (tool.into(), ms)).collect();
        self
    }

    /// How long a call of `tool` may run (ms; `None`: no limit): the operator's per-tool
    /// setting, else the tool's own (`tool_ms`), else the policy's.
    pub fn timeout_for(&self, tool: &str, tool_ms: Option<u64>) -> Option<u64> {
        let set = match self.timeouts.is_empty() {
            true => None,
            false => self.timeouts.get(tool).copied(),
        };
        set.or(tool_ms).or(Some(self.policy.timeout_ms)).filter(|ms| *ms > 0)
    }

    /// The policy.
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// The timer calls are timed out with, if any.
    pub fn timer(&self) -> Option<Timer> {
        self.timer
    }

    /// Lets a call of `tool` through (how it ended goes to [`Guard::finish`], or to the
    /// [`Permit`] an async call holds), or refuses it (-32011 with `data.retryAfterMs`).
    ///
    /// The common call, a tool with nothing counted, costs one empty-map check: no clock
    /// read, no allocation, no reference count.
    #[inline]
    pub fn admit(&self, tool: &str) -> Result<Admit, RpcError> {
        let pass = Ok(Admit { probe: false });
        if self.policy.failures == 0 {
            return pass;
        }
        let mut breakers = self.breakers.borrow_mut();
        if breakers.is_empty() {
            return pass;
        }
        // Closed breakers with nothing counted are not kept.
        let Some(b) = breakers.get_mut(tool) else { return pass };
        let now = (self.now_ms)();
        if let Some(until) = b.open_until {
            if now < until {
                b.rejections += 1;
                return Err(open_error(tool, until - now));
            }
            b.open_until = None;
            b.probes = Some(0);
        }
        match b.probes.as_mut() {
            Some(n) if *n >= self.policy.half_open => {
                b.rejections += 1;
                // A probe's end decides; ask again about when one could have ended.
                Err(open_error(tool, self.policy.open_ms.min(1_000)))
            }
            Some(n) => {
                *n += 1;
                Ok(Admit { probe: true })
            }
            None => pass,
        }
    }

    /// Reports how a call of `tool` that [`Guard::admit`] let through ended.
    #[inline]
    pub fn finish(&self, tool: &str, admit: Admit, outcome: Outcome) {
        if outcome == Outcome::Success && !admit.probe && self.breakers.borrow().is_empty() {
            return;
        }
        self.finish_counted(tool, admit.probe, outcome);
    }

    /// An async call's [`Permit`]: it reports `Neither` if dropped unfinished (cancelled).
    pub fn permit(self: &Rc<Self>, tool: &str, admit: Admit) -> Permit {
        Permit { guard: self.clone(), probe: admit.probe.then(|| tool.into()), done: false }
    }

    #[cold]
    fn finish_counted(&self, tool: &str, probe: bool, outcome: Outcome) {
        if self.policy.failures == 0 {
            return;
        }
        let mut breakers = self.breakers.borrow_mut();
        if outcome != Outcome::Failure && !probe && (breakers.is_empty() || !breakers.contains_key(tool)) {
            return;
        }
        let now = (self.now_ms)();
        let b = breakers.entry(tool.into()).or_default();
        if probe {
            if let Some(n) = b.probes.as_mut() {
                *n = n.saturating_sub(1);
            }
        }
        match (b.state(), outcome) {
            (_, Outcome::Neither) => {}
            // A call let through before the breaker opened: the open period decides.
            (State::Open, _) => {}
            (State::HalfOpen, Outcome::Success) => {
                b.probes = None;
                b.failures = 0;
            }
            (State::HalfOpen, Outcome::Failure) => self.trip(b, now),
            (State::Closed, Outcome::Success) => b.failures = 0,
            (State::Closed, Outcome::Failure) => {
                b.failures += 1;
                if b.failures >= self.policy.failures {
                    self.trip(b, now);
                }
            }
        }
        if b.state() == State::Closed && b.failures == 0 && b.trips == 0 && b.rejections == 0 {
            breakers.remove(tool);
        }
    }

    fn trip(&self, b: &mut Breaker, now: u64) {
        b.open_until = Some(now.saturating_add(self.policy.open_ms));
        b.probes = None;
        b.failures = 0;
        b.trips += 1;
        log::warn!("a tool's circuit breaker opened for {} ms", self.policy.open_ms);
    }

    /// Every breaker that has counted something, by tool name (open ones expire into
    /// half-open as time passes).
    pub fn snapshot(&self) -> Vec<ToolBreaker> {
        let now = (self.now_ms)();
        let mut all: Vec<ToolBreaker> = self
            .breakers
            .borrow()
            .iter()
            .map(|(tool, b)| ToolBreaker {
                tool: tool.to_string(),
                state: match b.open_until {
                    Some(until) if now >= until => State::HalfOpen,
                    _ => b.state(),
                },
                trips: b.trips,
                rejections: b.rejections,
            })
            .collect();
        all.sort_by(|a, b| a.tool.cmp(&b.tool));
        all
    }

    /// Whether some breaker is open now.
    pub fn any_open(&self) -> bool {
        let now = (self.now_ms)();
        self.breakers.borrow().values().any(|b| b.open_until.is_some_and(|until| now < until))
    }
}

impl Permit {
    /// Reports how the call of `tool` (the one admitted) ended.
    pub fn finish(mut self, tool: &str, outcome: Outcome) {
        if !self.done {
            self.done = true;
            self.guard.finish(tool, Admit { probe: self.probe.is_some() }, outcome);
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        // Only a probe has anything to give back; a plain call dropped counts as nothing.
        if let (false, Some(tool)) = (self.done, self.probe.take()) {
            self.guard.finish_counted(&tool, true, Outcome::Neither);
        }
    }
}

/// -32011: the tool's breaker is open.
fn open_error(tool: &str, retry_after_ms: u64) -> RpcError {
    RpcError::new(
        code::CIRCUIT_OPEN,
        format!("Circuit open: tool {tool} failed repeatedly and is not called for now; retry later"),
    )
    .with_data(&data(tool, "retryAfterMs", retry_after_ms))
}

/// -32012: the tool ran longer than it may.
pub fn timeout_error(tool: &str, timeout_ms: u64) -> RpcError {
    RpcError::new(code::TOOL_TIMEOUT, format!("Tool timeout: tool {tool} did not finish within {timeout_ms} ms"))
        .with_data(&data(tool, "timeoutMs", timeout_ms))
}

/// `{"tool":…,"<key>":n}`, in that order.
fn data(tool: &str, key: &str, n: u64) -> sonic_rs::Value {
    let tool = sonic_rs::to_string(tool).expect("a string serializes");
    sonic_rs::from_str(&format!(r#"{{"tool":{tool},"{key}":{n}}}"#)).expect("the object is valid JSON")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn permit(g: &Rc<Guard>, tool: &str) -> Result<Permit, RpcError> {
        g.admit(tool).map(|a| g.permit(tool, a))
    }

    fn guard(clock: Rc<Cell<u64>>) -> Rc<Guard> {
        let policy = Policy { failures: 5, open_ms: 30_000, half_open: 3, timeout_ms: 0 };
        Rc::new(Guard::new(policy, Box::new(move || clock.get()), None))
    }

    #[test]
    fn five_failures_open_it_probes_close_it() {
        let clock = Rc::new(Cell::new(0));
        let g = guard(clock.clone());
        for _ in 0..4 {
            permit(&g, "t").unwrap().finish("t", Outcome::Failure);
        }
        permit(&g, "t").unwrap().finish("t", Outcome::Success);
        assert!(!g.any_open(), "a success resets the count");
        for _ in 0..5 {
            permit(&g, "t").unwrap().finish("t", Outcome::Failure);
        }
        assert!(g.any_open());
        let e = permit(&g, "t").err().unwrap();
        assert_eq!(e.code, code::CIRCUIT_OPEN);
        assert!(permit(&g, "other").is_ok(), "per tool");
        clock.set(30_000);
        let probes: Vec<Permit> = (0..3).map(|_| permit(&g, "t").unwrap()).collect();
        assert!(permit(&g, "t").is_err(), "three probes at most");
        let mut probes = probes.into_iter();
        drop(probes.next());
        assert!(permit(&g, "t").is_ok(), "a cancelled probe frees its place");
        probes.next().unwrap().finish("t", Outcome::Success);
        assert_eq!(g.snapshot()[0].state, State::Closed);
        assert_eq!((g.snapshot()[0].trips, g.snapshot()[0].rejections), (1, 2));
    }

    #[test]
    fn a_failed_probe_opens_it_again() {
        let clock = Rc::new(Cell::new(0));
        let g = guard(clock.clone());
        for _ in 0..5 {
            permit(&g, "t").unwrap().finish("t", Outcome::Failure);
        }
        clock.set(30_000);
        permit(&g, "t").unwrap().finish("t", Outcome::Failure);
        assert!(g.any_open());
        assert_eq!(g.snapshot()[0].trips, 2);
        clock.set(59_999);
        assert!(permit(&g, "t").is_err());
    }

    #[test]
    fn the_operators_timeout_wins_over_the_tools_over_the_default() {
        let policy = Policy { failures: 5, open_ms: 30_000, half_open: 3, timeout_ms: 1_000 };
        let g = Guard::new(policy, Box::new(|| 0), None).with_timeouts([("a".to_string(), 50), ("off".to_string(), 0)]);
        assert_eq!(g.timeout_for("a", Some(7)), Some(50));
        assert_eq!(g.timeout_for("b", Some(7)), Some(7));
        assert_eq!(g.timeout_for("b", None), Some(1_000));
        assert_eq!(g.timeout_for("off", Some(7)), None);
        assert_eq!(g.timeout_for("b", Some(0)), None);
    }

    #[test]
    fn healthy_tools_are_not_kept() {
        let g = guard(Rc::new(Cell::new(0)));
        permit(&g, "t").unwrap().finish("t", Outcome::Success);
        permit(&g, "t").unwrap().finish("t", Outcome::Neither);
        assert!(g.snapshot().is_empty());
    }
}
