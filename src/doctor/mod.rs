//! `ringmcp doctor`: checks this host against `sysctl/`, `tuning/` and what the settings the
//! operator will run need, one verdict per check, each WARN or FAIL with the command that fixes
//! it.
//!
//! [`host::Host::read`] reads every file the checks look at once, under a root directory
//! (`/`, or a fake tree in tests); the checks themselves are pure functions over that
//! snapshot and the [`Plan`], so they are tested without a host.

pub mod cpu;
pub mod host;
pub mod io_uring;
pub mod rlimits;
pub mod sysctl;
pub mod thp;

use crate::config::Settings;
use host::Host;
use serde::Serialize;
use std::fmt::Write as _;

/// How a check came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    /// The host is ready for this.
    Pass,
    /// ringmcp runs, but slower, smaller or less safely than it could.
    Warn,
    /// ringmcp will not run as configured, or will silently run below its settings.
    Fail,
}

impl Verdict {
    /// `PASS`, `WARN` or `FAIL`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Warn => "WARN",
            Verdict::Fail => "FAIL",
        }
    }
}

/// One line of the report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Short stable name (`somaxconn`, `open-files`, `net.core.rmem_max`, ...).
    pub check: String,
    /// The outcome.
    pub verdict: Verdict,
    /// What was found, and against what.
    pub detail: String,
    /// The commands that fix a WARN or FAIL (empty on PASS).
    pub fix: String,
}

impl Check {
    /// A passing check.
    pub fn pass(check: &str, detail: String) -> Check {
        Check { check: check.to_string(), verdict: Verdict::Pass, detail, fix: String::new() }
    }

    /// A warning with its fix.
    pub fn warn(check: &str, detail: String, fix: String) -> Check {
        Check { check: check.to_string(), verdict: Verdict::Warn, detail, fix }
    }

    /// A failure with its fix.
    pub fn fail(check: &str, detail: String, fix: String) -> Check {
        Check { check: check.to_string(), verdict: Verdict::Fail, detail, fix }
    }
}

/// What the server would run with: the part of [`Settings`] the checks compare the host with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// `listen(2)` backlog per core.
    pub backlog: u64,
    /// Connections open at once, all cores together.
    pub max_connections: u64,
    /// `auto`, `multishot` or `fallback`.
    pub io_path: String,
    /// `--cores N`, if given.
    pub cores: Option<u64>,
    /// `--cpus LIST`, if given (validated taskset syntax).
    pub cpus: Option<String>,
}

impl Plan {
    /// The plan of a validated configuration.
    pub fn from_settings(s: &Settings) -> Plan {
        Plan {
            backlog: s.backlog,
            max_connections: s.max_connections,
            io_path: s.io_path.clone(),
            cores: s.cores,
            cpus: s.cpus.clone(),
        }
    }
}

/// The sysctl keys the checks read: those of `sysctl/99-ringmcp.conf` and the backlog's two.
pub fn sysctl_keys() -> Vec<String> {
    let mut keys: Vec<String> = sysctl::recommendations().iter().map(|r| r.key.to_string()).collect();
    keys.extend(["net.core.somaxconn".to_string(), "net.ipv4.tcp_max_syn_backlog".to_string()]);
    keys
}

/// Every check, in report order.
pub fn run(host: &Host, plan: &Plan) -> Vec<Check> {
    let cpus = cpu::select(host, plan);
    let cores = cpus.as_ref().map_or(1, |c| c.len().max(1)) as u64;
    let mut checks = vec![
        rlimits::open_files(host, plan),
        rlimits::locked_memory(host, cores),
        sysctl::somaxconn(host, plan),
        sysctl::syn_backlog(host, plan),
    ];
    checks.extend(sysctl::recommended(host));
    checks.push(io_uring::disabled(host));
    checks.extend(io_uring::features(host, plan));
    checks.push(cpu::cpus(host, plan, &cpus));
    checks.push(cpu::governor(host, cpus.as_deref().unwrap_or(&[])));
    checks.push(thp::check(host));
    checks
}

/// Exit code of a report: 1 when any check failed, else 0.
pub fn exit_code(checks: &[Check]) -> u8 {
    u8::from(checks.iter().any(|c| c.verdict == Verdict::Fail))
}

/// The report as text: one `VERDICT  name  detail` line per check, an indented `fix:` line
/// under each WARN and FAIL, then a summary line.
pub fn render_text(checks: &[Check]) -> String {
    let width = checks.iter().map(|c| c.check.len()).max().unwrap_or(0);
    let mut out = String::new();
    for c in checks {
        let _ = writeln!(out, "{}  {:width$}  {}", c.verdict.as_str(), c.check, c.detail);
        for line in c.fix.lines() {
            let _ = writeln!(out, "      {:width$}  fix: {line}", "");
        }
    }
    let count = |v| checks.iter().filter(|c| c.verdict == v).count();
    let (pass, warn, fail) = (count(Verdict::Pass), count(Verdict::Warn), count(Verdict::Fail));
    let _ = writeln!(out, "{pass} passed, {warn} warnings, {fail} failed");
    out
}

/// The report as a JSON array of `{check, verdict, detail, fix}`.
pub fn render_json(checks: &[Check]) -> String {
    let mut out = sonic_rs::to_string_pretty(checks).expect("plain strings serialize");
    out.push('\n');
    out
}

/// The suggested persistent fix for any sysctl: install the shipped file.
pub(crate) const SYSCTL_PERSIST: &str = "cp sysctl/99-ringmcp.conf /etc/sysctl.d/ && sysctl --system";
