//! `loadgen compare`: two `--json` reports side by side, and the regression verdict.
//! No I/O here: the caller reads the files.

use serde_json::Value;
use std::fmt::Write as _;

/// One compared figure.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// Name as printed, e.g. `latency_us.p99`.
    pub figure: &'static str,
    /// Baseline value.
    pub baseline: f64,
    /// Current value.
    pub current: f64,
    /// Relative change in % (positive: grew); None when the baseline is 0.
    pub change_percent: Option<f64>,
    /// Whether this figure regressed beyond the tolerance.
    pub regressed: bool,
}

/// Which way is worse for a figure.
#[derive(Clone, Copy)]
enum Worse {
    Lower,
    Higher,
    /// Shown, never judged.
    Neither,
}

const FIGURES: [(&str, &[&str], Worse); 4] = [
    ("throughput_msg_s", &["throughput_msg_s"], Worse::Lower),
    ("latency_us.p50", &["latency_us", "p50"], Worse::Neither),
    ("latency_us.p99", &["latency_us", "p99"], Worse::Higher),
    ("connect_ms.p99", &["connect_ms", "p99"], Worse::Neither),
];

/// Compares two reports. Throughput falling by more than `tolerance_percent`, or latency p99
/// rising by more than it, is a regression.
///
/// # Errors
/// A report lacks one of the figures (names the figure and which report).
pub fn compare(baseline: &Value, current: &Value, tolerance_percent: f64) -> Result<Vec<Row>, String> {
    FIGURES
        .iter()
        .map(|&(figure, path, worse)| {
            let b = lookup(baseline, path).ok_or_else(|| format!("baseline report has no number at {figure}"))?;
            let c = lookup(current, path).ok_or_else(|| format!("current report has no number at {figure}"))?;
            let change_percent = (b != 0.0).then(|| (c - b) / b * 100.0);
            let regressed = match (worse, change_percent) {
                (Worse::Lower, Some(change)) => change < -tolerance_percent,
                (Worse::Higher, Some(change)) => change > tolerance_percent,
                // From a zero baseline any p99 is an infinite rise; that is a regression only if
                // the current value is not zero too.
                (Worse::Higher, None) => c > 0.0,
                _ => false,
            };
            Ok(Row { figure, baseline: b, current: c, change_percent, regressed })
        })
        .collect()
}

/// A warning when the two reports speak different MCP eras (a report without `protocol`
/// predates `--protocol` and spoke 2025-11-25): their figures measure different work.
pub fn protocol_note(baseline: &Value, current: &Value) -> Option<String> {
    let era = |report: &Value| report.get("protocol").and_then(Value::as_str).unwrap_or("2025-11-25").to_string();
    let (b, c) = (era(baseline), era(current));
    (b != c)
        .then(|| format!("note: the baseline speaks MCP {b} and the current report MCP {c}; compare runs of one era"))
}

fn lookup(report: &Value, path: &[&str]) -> Option<f64> {
    path.iter().try_fold(report, |v, key| v.get(key))?.as_f64()
}

/// The table printed by `loadgen compare`, with a verdict line.
pub fn table(rows: &[Row], tolerance_percent: f64) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{:<18} {:>14} {:>14} {:>10}", "figure", "baseline", "current", "change %");
    for row in rows {
        let change = row.change_percent.map_or_else(|| "n/a".to_string(), |c| format!("{c:+.1}"));
        let flag = if row.regressed { "  REGRESSION" } else { "" };
        let _ = writeln!(s, "{:<18} {:>14.2} {:>14.2} {:>10}{flag}", row.figure, row.baseline, row.current, change);
    }
    let verdict = if rows.iter().any(|r| r.regressed) { "FAIL" } else { "PASS" };
    let _ =
        writeln!(s, "{verdict} (tolerance {tolerance_percent}%: throughput may not fall, p99 may not rise, by more)");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn report(throughput: f64, p50: u64, p99: u64, connect_p99: f64) -> Value {
        json!({"throughput_msg_s": throughput, "latency_us": {"p50": p50, "p99": p99}, "connect_ms": {"p99": connect_p99}})
    }

    #[test]
    fn within_tolerance_passes() {
        let rows = compare(&report(1000.0, 100, 200, 1.0), &report(800.0, 150, 240, 5.0), 25.0).expect("ok");
        assert_eq!(rows.len(), 4);
        assert!(rows.iter().all(|r| !r.regressed));
        assert_eq!(rows[0].change_percent, Some(-20.0));
        assert!(table(&rows, 25.0).contains("PASS"));
    }

    #[test]
    fn throughput_drop_beyond_tolerance_fails() {
        let rows = compare(&report(1000.0, 100, 200, 1.0), &report(740.0, 100, 200, 1.0), 25.0).expect("ok");
        assert!(rows[0].regressed);
        assert!(table(&rows, 25.0).contains("REGRESSION"));
    }

    #[test]
    fn p99_rise_beyond_tolerance_fails_but_p50_and_connect_only_show() {
        let rows = compare(&report(1000.0, 100, 200, 1.0), &report(1000.0, 900, 251, 90.0), 25.0).expect("ok");
        let regressed: Vec<&str> = rows.iter().filter(|r| r.regressed).map(|r| r.figure).collect();
        assert_eq!(regressed, vec!["latency_us.p99"]);
    }

    #[test]
    fn reports_of_different_eras_get_a_note() {
        let (old, session, modern) = (json!({}), json!({"protocol": "2025-11-25"}), json!({"protocol": "2026-07-28"}));
        assert_eq!(protocol_note(&old, &session), None);
        assert_eq!(protocol_note(&modern, &modern), None);
        let note = protocol_note(&old, &modern).expect("a note");
        assert!(note.contains("MCP 2025-11-25") && note.contains("MCP 2026-07-28"), "{note}");
    }

    #[test]
    fn missing_figures_are_named() {
        let err = compare(&json!({"throughput_msg_s": 1}), &report(1.0, 1, 1, 1.0), 25.0).expect_err("missing");
        assert!(err.contains("baseline") && err.contains("latency_us.p50"), "{err}");
    }
}
