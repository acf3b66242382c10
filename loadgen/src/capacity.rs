//! `loadgen capacity`: the rate search (double until the SLO fails, then bisect) and the
//! capacity model that turns the highest passing rate into a node count. No I/O here: the
//! caller runs each step and feeds the verdict back.

use crate::report::Report;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// Lowest rate the search goes down to when even the first step fails, in requests/s.
pub const RATE_MIN_PER_S: f64 = 10.0;

/// The search over offered rates.
#[derive(Clone, Debug, PartialEq)]
pub struct Search {
    next: Option<f64>,
    best_pass: Option<f64>,
    first_fail: Option<f64>,
    precision: f64,
    rate_max: f64,
}

impl Search {
    /// Starts at `start_rate`; stops when the gap between the best pass and the lowest fail
    /// is within `precision` (a fraction, 0.05 = 5 %) of the pass, or a pass at `rate_max`.
    pub fn new(start_rate: f64, precision: f64, rate_max: f64) -> Search {
        assert!(start_rate > 0.0 && precision > 0.0 && rate_max >= start_rate, "bad search bounds");
        Search { next: Some(start_rate), best_pass: None, first_fail: None, precision, rate_max }
    }

    /// The next rate to try, or None when the search is over.
    pub fn next_rate(&self) -> Option<f64> {
        self.next
    }

    /// Feeds the verdict of the step at `rate` and picks the next one.
    pub fn record(&mut self, rate: f64, passed: bool) {
        if passed {
            self.best_pass = Some(self.best_pass.map_or(rate, |b| b.max(rate)));
        } else {
            self.first_fail = Some(self.first_fail.map_or(rate, |f| f.min(rate)));
        }
        self.next = match (self.best_pass, self.first_fail) {
            (Some(pass), None) if pass >= self.rate_max => None,
            (Some(pass), None) => Some((pass * 2.0).min(self.rate_max)),
            (None, Some(fail)) => Some((fail / 2.0).round()).filter(|&r| r >= RATE_MIN_PER_S),
            (Some(pass), Some(fail)) if fail <= pass || (fail - pass) / pass <= self.precision => None,
            (Some(pass), Some(fail)) => Some(((pass + fail) / 2.0).round()),
            (None, None) => unreachable!("a verdict was just recorded"),
        };
    }

    /// The highest rate that passed.
    pub fn result(&self) -> Option<f64> {
        self.best_pass
    }
}

/// Why a step failed the SLO (None: it passed). Requires p99 ≤ the SLO, no errors, timeouts,
/// lost, duplicated or mismatched answers, no connection errors, no unsent backlog, and at
/// least 90 % of the offered rate answered.
pub fn verdict(report: &Report, slo_p99_ms: f64) -> Option<String> {
    let mut reasons = Vec::new();
    let p99_ms = report.latency_us.p99 as f64 / 1000.0;
    if p99_ms > slo_p99_ms {
        reasons.push(format!("p99 {p99_ms:.2} ms > {slo_p99_ms} ms"));
    }
    for (name, n) in [
        ("errors", report.errors_total),
        ("timeouts", report.timeouts),
        ("lost", report.lost),
        ("duplicated", report.duplicated),
        ("mismatched", report.mismatched),
        ("connection_errors", report.connection_errors),
        ("unsent_backlog", report.unsent_backlog),
    ] {
        if n > 0 {
            reasons.push(format!("{name} {n}"));
        }
    }
    if let Some(rate) = report.shape.rate {
        if report.throughput_msg_s < 0.9 * rate {
            reasons.push(format!("answered {:.0} msg/s < 90% of offered {rate}", report.throughput_msg_s));
        }
    }
    (!reasons.is_empty()).then(|| reasons.join(", "))
}

/// One step of the search, as printed and written to `--json`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Step {
    /// Offered rate, requests/s.
    pub rate: f64,
    /// Whether the SLO held.
    pub passed: bool,
    /// Why not, if it failed.
    pub reason: Option<String>,
    /// Answers/s in the measured window.
    pub throughput_msg_s: f64,
    /// Latency p99, ms.
    pub p99_ms: f64,
    /// Error answers.
    pub errors_total: u64,
    /// Lost requests.
    pub lost: u64,
}

impl Step {
    /// The step's summary from its run report.
    pub fn of(report: &Report, slo_p99_ms: f64) -> Step {
        let reason = verdict(report, slo_p99_ms);
        Step {
            rate: report.shape.rate.unwrap_or(0.0),
            passed: reason.is_none(),
            reason,
            throughput_msg_s: report.throughput_msg_s,
            p99_ms: report.latency_us.p99 as f64 / 1000.0,
            errors_total: report.errors_total,
            lost: report.lost,
        }
    }
}

/// The capacity model's inputs and its answer.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Plan {
    /// Messages/s the deployment must sustain.
    pub target_msg_s: f64,
    /// Concurrent connections it must hold.
    pub target_connections: u64,
    /// Headroom multiplier on the message rate.
    pub safety: f64,
    /// Highest rate one node sustained within the SLO (measured), msg/s.
    pub measured_msg_s: f64,
    /// Connections one node holds.
    pub connections_per_node: u64,
    /// `target_msg_s × safety / measured_msg_s`.
    pub nodes_for_rate: f64,
    /// `target_connections / connections_per_node`.
    pub nodes_for_connections: f64,
    /// `ceil(max(nodes_for_rate, nodes_for_connections))`.
    pub nodes: u64,
}

impl Plan {
    /// Computes the node count.
    ///
    /// # Errors
    /// A non-positive measured rate, safety or connections per node.
    pub fn new(
        target_msg_s: f64,
        target_connections: u64,
        safety: f64,
        measured_msg_s: f64,
        connections_per_node: u64,
    ) -> Result<Plan, String> {
        if measured_msg_s <= 0.0 || safety <= 0.0 || connections_per_node == 0 || target_msg_s < 0.0 {
            return Err("the plan needs a positive measured rate, safety and connections per node".into());
        }
        let nodes_for_rate = target_msg_s * safety / measured_msg_s;
        let nodes_for_connections = target_connections as f64 / connections_per_node as f64;
        let nodes = nodes_for_rate.max(nodes_for_connections).ceil().max(1.0) as u64;
        Ok(Plan {
            target_msg_s,
            target_connections,
            safety,
            measured_msg_s,
            connections_per_node,
            nodes_for_rate,
            nodes_for_connections,
            nodes,
        })
    }

    /// The arithmetic, spelled out.
    pub fn explain(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "capacity model (fed by measurement):");
        let _ = writeln!(
            s,
            "  by rate:        {} msg/s x {} safety / {:.0} msg/s per node = {:.2} nodes",
            self.target_msg_s, self.safety, self.measured_msg_s, self.nodes_for_rate
        );
        let _ = writeln!(
            s,
            "  by connections: {} connections / {} per node = {:.2} nodes",
            self.target_connections, self.connections_per_node, self.nodes_for_connections
        );
        let _ = writeln!(
            s,
            "  nodes needed:   ceil(max({:.2}, {:.2})) = {}",
            self.nodes_for_rate, self.nodes_for_connections, self.nodes
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_search(capacity: f64) -> (Option<f64>, Vec<f64>) {
        let mut search = Search::new(1000.0, 0.05, 1e9);
        let mut tried = Vec::new();
        while let Some(rate) = search.next_rate() {
            tried.push(rate);
            search.record(rate, rate <= capacity);
            assert!(tried.len() < 64, "search must end");
        }
        (search.result(), tried)
    }

    #[test]
    fn doubles_then_bisects_to_within_five_percent() {
        let (result, tried) = run_search(37_000.0);
        assert_eq!(&tried[..7], &[1000.0, 2000.0, 4000.0, 8000.0, 16000.0, 32000.0, 64000.0]);
        let best = result.expect("something passed");
        assert!((37_000.0 / 1.05..=37_000.0).contains(&best), "{best}");
    }

    #[test]
    fn halves_when_the_first_step_fails_and_gives_up_below_the_floor() {
        let (result, tried) = run_search(300.0);
        assert_eq!(&tried[..3], &[1000.0, 500.0, 250.0]);
        assert!(result.expect("passes") >= 300.0 / 1.05);
        let (result, tried) = run_search(0.0);
        assert_eq!(result, None);
        assert!(tried.iter().all(|&r| r >= RATE_MIN_PER_S));
    }

    #[test]
    fn stops_at_the_rate_cap() {
        let mut search = Search::new(1000.0, 0.05, 3000.0);
        for expected in [1000.0, 2000.0, 3000.0] {
            assert_eq!(search.next_rate(), Some(expected));
            search.record(expected, true);
        }
        assert_eq!(search.next_rate(), None);
        assert_eq!(search.result(), Some(3000.0));
    }

    #[test]
    fn plan_takes_the_larger_of_rate_and_connection_needs() {
        let plan = Plan::new(1_000_000.0, 100_000, 1.5, 400_000.0, 15_000).expect("valid");
        assert_eq!(plan.nodes_for_rate, 3.75);
        assert!((plan.nodes_for_connections - 6.666).abs() < 0.01);
        assert_eq!(plan.nodes, 7);
        assert!(plan.explain().contains("= 7"));
        let plan = Plan::new(1_000_000.0, 1000, 1.5, 100_000.0, 15_000).expect("valid");
        assert_eq!(plan.nodes, 15);
        assert!(Plan::new(1.0, 1, 1.5, 0.0, 1).is_err());
    }
}
