//! `loadgen capacity`: the rate search (double until the SLO fails, then bisect) and the
//! capacity model that turns the highest passing rate into a node count. No I/O here: the
//! caller runs each step and feeds the verdict back.

use crate::limits::CAPACITY_UNSENT_BACKLOG_PERMILLE;
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
/// lost, duplicated or mismatched answers, no connection errors, an unsent backlog of at most
/// [`CAPACITY_UNSENT_BACKLOG_PERMILLE`] of the requests offered in the window, and at least
/// 90 % of the offered rate answered.
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
    ] {
        if n > 0 {
            reasons.push(format!("{name} {n}"));
        }
    }
    let offered = report.shape.rate.unwrap_or(0.0) * report.shape.duration_s;
    let backlog_max = (offered * CAPACITY_UNSENT_BACKLOG_PERMILLE as f64 / 1000.0).floor() as u64;
    if report.unsent_backlog > backlog_max {
        reasons.push(format!("unsent_backlog {} > {backlog_max}", report.unsent_backlog));
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

/// Where the measured rate came from and how it is carried to the planned node: the rate per
/// core is the measured rate over the cores the server ran on, and a node of `node_cores`
/// serving cores is taken to do `node_cores × per-core rate × scaling`.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
pub struct Projection {
    /// Cores the server ran on while it was measured.
    pub measured_cores: u32,
    /// Serving cores of one planned node (its CPUs minus those left for IRQs and the OS).
    pub node_cores: u32,
    /// Fraction of linear per-core scaling assumed from `measured_cores` to `node_cores`
    /// (1.0 = linear; below 1 when the operator has measured less on their host).
    pub scaling: f64,
}

impl Projection {
    /// No projection: the node is the host that was measured.
    pub const SAME_HOST: Projection = Projection { measured_cores: 1, node_cores: 1, scaling: 1.0 };

    /// Checks the bounds.
    ///
    /// # Errors
    /// Zero cores, or a scaling outside (0, 1].
    pub fn new(measured_cores: u32, node_cores: u32, scaling: f64) -> Result<Projection, String> {
        if measured_cores == 0 || node_cores == 0 {
            return Err("--measured-cores and --node-cores must be at least 1".into());
        }
        if !(scaling > 0.0 && scaling <= 1.0) {
            return Err(format!("--scaling must be in (0, 1], got {scaling}"));
        }
        Ok(Projection { measured_cores, node_cores, scaling })
    }

    /// The rate one planned node is taken to sustain, from the measured one.
    pub fn node_msg_s(&self, measured_msg_s: f64) -> f64 {
        measured_msg_s / f64::from(self.measured_cores) * f64::from(self.node_cores) * self.scaling
    }

    fn is_identity(&self) -> bool {
        self.measured_cores == self.node_cores && self.scaling == 1.0
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
    /// Highest rate the measured server sustained within the SLO, msg/s (measured).
    pub measured_msg_s: f64,
    /// How the measured rate is carried to one planned node.
    pub projection: Projection,
    /// The measured rate per core, msg/s (measured).
    pub per_core_msg_s: f64,
    /// The rate one planned node is taken to sustain, msg/s (projected unless the node is
    /// the measured host).
    pub node_msg_s: f64,
    /// Connections one node holds.
    pub connections_per_node: u64,
    /// `target_msg_s × safety / node_msg_s`.
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
        projection: Projection,
        connections_per_node: u64,
    ) -> Result<Plan, String> {
        if measured_msg_s <= 0.0 || safety <= 0.0 || connections_per_node == 0 || target_msg_s < 0.0 {
            return Err("the plan needs a positive measured rate, safety and connections per node".into());
        }
        let node_msg_s = projection.node_msg_s(measured_msg_s);
        let nodes_for_rate = target_msg_s * safety / node_msg_s;
        let nodes_for_connections = target_connections as f64 / connections_per_node as f64;
        let nodes = nodes_for_rate.max(nodes_for_connections).ceil().max(1.0) as u64;
        Ok(Plan {
            target_msg_s,
            target_connections,
            safety,
            measured_msg_s,
            projection,
            per_core_msg_s: measured_msg_s / f64::from(projection.measured_cores),
            node_msg_s,
            connections_per_node,
            nodes_for_rate,
            nodes_for_connections,
            nodes,
        })
    }

    /// The arithmetic, spelled out, saying which figures are measured and which projected.
    pub fn explain(&self) -> String {
        let mut s = String::new();
        let p = &self.projection;
        let _ = writeln!(s, "capacity model (fed by measurement):");
        let _ = writeln!(
            s,
            "  measured:       {:.0} msg/s on {} core(s) = {:.0} msg/s per core",
            self.measured_msg_s, p.measured_cores, self.per_core_msg_s
        );
        if !p.is_identity() {
            let _ = writeln!(
                s,
                "  projected node: {:.0} msg/s per core x {} serving cores x {} scaling = {:.0} msg/s (projected, not measured)",
                self.per_core_msg_s, p.node_cores, p.scaling, self.node_msg_s
            );
        }
        let _ = writeln!(
            s,
            "  by rate:        {} msg/s x {} safety / {:.0} msg/s per node = {:.2} nodes",
            self.target_msg_s, self.safety, self.node_msg_s, self.nodes_for_rate
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
    fn a_few_requests_unsent_at_the_window_close_pass_and_a_backlog_fails() {
        // 10,000/s offered for 2 s: up to 20 may be waiting when the window closes.
        let mut report = crate::report::tests::sample();
        report.shape.rate = Some(10_000.0);
        report.throughput_msg_s = 10_000.0;
        report.latency_us.p99 = 2_000;
        report.errors_total = 0;
        report.unsent_backlog = 20;
        assert_eq!(verdict(&report, 5.0), None);
        report.unsent_backlog = 21;
        assert_eq!(verdict(&report, 5.0).as_deref(), Some("unsent_backlog 21 > 20"));
        report.latency_us.p99 = 6_000;
        assert_eq!(verdict(&report, 5.0).as_deref(), Some("p99 6.00 ms > 5 ms, unsent_backlog 21 > 20"));
    }

    #[test]
    fn plan_takes_the_larger_of_rate_and_connection_needs() {
        let plan = Plan::new(1_000_000.0, 100_000, 1.5, 400_000.0, Projection::SAME_HOST, 15_000).expect("valid");
        assert_eq!(plan.nodes_for_rate, 3.75);
        assert!((plan.nodes_for_connections - 6.666).abs() < 0.01);
        assert_eq!(plan.nodes, 7);
        assert!(plan.explain().contains("= 7"));
        let plan = Plan::new(1_000_000.0, 1000, 1.5, 100_000.0, Projection::SAME_HOST, 15_000).expect("valid");
        assert_eq!(plan.nodes, 15);
        assert!(!plan.explain().contains("projected"));
        assert!(Plan::new(1.0, 1, 1.5, 0.0, Projection::SAME_HOST, 1).is_err());
    }

    #[test]
    fn projection_scales_the_per_core_rate_to_the_node() {
        // 50,000 msg/s measured on 1 core; a node of 28 serving cores at 80 % of linear.
        let projection = Projection::new(1, 28, 0.8).expect("valid");
        let plan = Plan::new(500_000.0, 15_000, 1.5, 50_000.0, projection, 15_000).expect("valid");
        assert_eq!(plan.per_core_msg_s, 50_000.0);
        assert_eq!(plan.node_msg_s, 1_120_000.0);
        assert!((plan.nodes_for_rate - 0.6696).abs() < 0.001, "{}", plan.nodes_for_rate);
        assert_eq!(plan.nodes_for_connections, 1.0);
        assert_eq!(plan.nodes, 1);
        let text = plan.explain();
        assert!(
            text.contains("50000 msg/s per core x 28 serving cores x 0.8 scaling = 1120000 msg/s (projected"),
            "{text}"
        );
        // Measured on 2 cores: the per-core rate is half.
        let plan =
            Plan::new(1_000_000.0, 100_000, 1.5, 100_000.0, Projection::new(2, 28, 1.0).unwrap(), 15_000).unwrap();
        assert_eq!(plan.per_core_msg_s, 50_000.0);
        assert_eq!(plan.node_msg_s, 1_400_000.0);
        assert_eq!(plan.nodes, 7);
        assert!(Projection::new(0, 28, 1.0).is_err());
        assert!(Projection::new(1, 28, 1.5).is_err());
        assert!(Projection::new(1, 28, 0.0).is_err());
    }
}
