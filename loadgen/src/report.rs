//! The run's report: the `--json` document (schema in loadgen/README.md) and the human
//! summary. Built from merged counters and histograms; no I/O here.

use crate::accounting::Counts;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Highest latency or connect time a histogram tracks, in µs (one hour); larger values are
/// clamped to it.
pub const HISTOGRAM_MAX_US: u64 = 3_600_000_000;

/// Significant figures kept by every histogram.
pub const HISTOGRAM_SIGFIGS: u8 = 3;

/// A new, empty latency histogram in µs.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HISTOGRAM_MAX_US, HISTOGRAM_SIGFIGS).unwrap_or_else(|_| unreachable!("valid bounds"))
}

/// Records `value_us` (clamped into the histogram's range).
pub fn record(histogram: &mut Histogram<u64>, value_us: u64) {
    histogram.saturating_record(value_us.clamp(1, HISTOGRAM_MAX_US));
}

/// The full `--json` report of one `loadgen run`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Report {
    /// What the run was asked to do (its fields stand at the top level of the JSON).
    #[serde(flatten)]
    pub shape: RunShape,
    /// `closed` or `open`.
    pub mode: String,
    /// The I/O path the workers' rings ran: `multishot` or `fallback` (what `io_path: auto`
    /// came to on this kernel).
    #[serde(default)]
    pub io_path_used: String,
    /// Connections that finished the handshake.
    pub connections_established: u64,
    /// TCP connect (or process spawn), the WebSocket upgrade, and in 2025-11-25 the
    /// `initialize` answer, in ms.
    pub connect_ms: Percentiles3,
    /// From the start of the run until the last connection finished its handshake (or
    /// failed), in ms: how long connecting all of them took.
    pub connect_all_ms: f64,
    /// With TLS: the TLS handshakes alone (after the TCP connect), in ms; part of
    /// `connect_ms`, never of the request latency. Null without TLS.
    #[serde(default)]
    pub tls_handshake_ms: Option<Percentiles3>,
    /// Requests written.
    pub sent: u64,
    /// Result answers in time.
    pub ok: u64,
    /// Error answers in time, by JSON-RPC code (or `http_STATUS`).
    pub errors: BTreeMap<String, u64>,
    /// Sum of `errors`.
    pub errors_total: u64,
    /// Every request by how it ended, errors by what they mean to a client (a partition of
    /// `sent`).
    #[serde(default)]
    pub outcomes: Outcomes,
    /// HTTP responses to workload requests by status (`"200"`, `"429"`), whatever their
    /// body; empty off HTTP.
    #[serde(default)]
    pub http_status: BTreeMap<String, u64>,
    /// Connections whose handshake was refused with an HTTP status (the WebSocket upgrade,
    /// the 2025-11-25 `initialize` POST), by status; they are in `connection_errors`.
    #[serde(default)]
    pub connect_http_status: BTreeMap<String, u64>,
    /// Answers later than `--timeout-ms` after their request was written.
    pub timeouts: u64,
    /// Requests never answered.
    pub lost: u64,
    /// 2025-11-25 over HTTP: requests answered 404 because their session is gone.
    #[serde(default)]
    pub session_expired: u64,
    /// New sessions opened after a `session_expired` answer.
    #[serde(default)]
    pub reinitialized: u64,
    /// Connections the server closed that were opened again.
    #[serde(default)]
    pub reconnected: u64,
    /// Answers for an id already answered.
    pub duplicated: u64,
    /// Answers whose id was never sent, and messages that are not JSON-RPC answers.
    pub mismatched: u64,
    /// Connections that failed (connect, handshake, or mid-run).
    pub connection_errors: u64,
    /// Open loop: requests due but never written because the in-flight cap was full.
    pub unsent_backlog: u64,
    /// Notifications or requests the server sent (ignored).
    pub server_messages: u64,
    /// Answers received inside the measured window.
    pub answers_measured: u64,
    /// `answers_measured / duration_s`, in messages/s.
    pub throughput_msg_s: f64,
    /// Latency of requests intended inside the measured window, from the intended send time,
    /// in µs.
    pub latency_us: Latency,
    /// Open loop: how late requests left behind their intended send time, in ms (loadgen's
    /// own lag: if it is near the latency figures, loadgen is the bottleneck). Null for
    /// closed loop.
    pub send_lag_ms: Option<Percentiles3>,
    /// The server process, when `--server-pid` was given.
    pub server: Option<ServerStats>,
    /// `lost == 0 && duplicated == 0 && mismatched == 0`.
    pub exact: bool,
    /// `exact` and at least one connection established: the run's verdict (exit code 0).
    pub passed: bool,
}

/// Every request sent, by how it ended: `ok + rate_limited + breaker_open + overloaded +
/// tool_timeout + unauthorized + forbidden + other_errors + session_expired + timeouts + lost
/// == sent`.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Outcomes {
    /// Result answers in time.
    pub ok: u64,
    /// JSON-RPC -32013, or HTTP 429.
    pub rate_limited: u64,
    /// JSON-RPC -32011 (a tool's circuit breaker is open).
    pub breaker_open: u64,
    /// JSON-RPC -32010, or HTTP 503.
    pub overloaded: u64,
    /// JSON-RPC -32012 (a tool ran out of time).
    pub tool_timeout: u64,
    /// HTTP 401, whatever the body.
    pub unauthorized: u64,
    /// HTTP 403, whatever the body.
    pub forbidden: u64,
    /// Every other error answer.
    pub other_errors: u64,
    /// HTTP 404 to a request in a 2025-11-25 session: the session is gone (not an error).
    #[serde(default)]
    pub session_expired: u64,
    /// Answers later than the timeout.
    pub timeouts: u64,
    /// Never answered.
    pub lost: u64,
}

/// p50/p99/max in ms.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Percentiles3 {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

/// Latency percentiles in µs, and how many requests they cover.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Latency {
    /// Requests measured.
    pub count: u64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 95th percentile.
    pub p95: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest.
    pub max: u64,
}

/// Server resource use read from /proc.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ServerStats {
    /// Peak resident set (VmHWM) at the end, in KiB.
    pub peak_rss_kib: u64,
    /// Resident set (VmRSS) at the end, in KiB.
    pub rss_kib: u64,
    /// User + system CPU time used during the measured window, in s.
    pub cpu_s: f64,
}

impl Latency {
    /// Percentiles of a µs histogram (all zero when it is empty).
    pub fn of(h: &Histogram<u64>) -> Latency {
        if h.is_empty() {
            return Latency::default();
        }
        Latency {
            count: h.len(),
            mean: (h.mean() * 10.0).round() / 10.0,
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p95: h.value_at_quantile(0.95),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
        }
    }
}

impl Percentiles3 {
    /// p50/p99/max in ms of a µs histogram.
    pub fn of_us(h: &Histogram<u64>) -> Percentiles3 {
        if h.is_empty() {
            return Percentiles3::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Percentiles3 { p50: ms(h.value_at_quantile(0.5)), p99: ms(h.value_at_quantile(0.99)), max: ms(h.max()) }
    }
}

/// What a run was asked to do (the part of the report that is not measured).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RunShape {
    /// `--url` as given.
    pub url: String,
    /// `tcp`, `stdio`, `http` or `ws`.
    pub transport: String,
    /// What each request was: `tools/call:echo`, `ping`, …
    pub workload: String,
    /// The MCP era spoken (`--protocol`): `2026-07-28` or `2025-11-25`. Reports from before
    /// the flag read as `2025-11-25`, the only era loadgen spoke then.
    #[serde(default = "session_era")]
    pub protocol: String,
    /// Connections asked for.
    pub connections: u64,
    /// Requests in flight per connection (the cap, for open loop).
    pub inflight: u64,
    /// Offered rate in requests/s over all connections; null for closed loop.
    pub rate: Option<f64>,
    /// Length of the measured window, in s.
    pub duration_s: f64,
    /// Length of the warmup before it, in s.
    pub warmup_s: f64,
    /// The I/O path asked of loadgen's rings (`--io-path`): `auto`, `multishot` or
    /// `fallback`.
    #[serde(default)]
    pub io_path: String,
    /// The connections ran inside TLS (`tls://`, `https://`, `wss://` or `--tls`).
    #[serde(default)]
    pub tls: bool,
    /// The names of the headers added to every HTTP request and WebSocket upgrade
    /// (`--header`, `Authorization` for `--bearer-token`); never their values.
    #[serde(default)]
    pub request_headers: Vec<String>,
}

fn session_era() -> String {
    crate::request::Protocol::Session.version().to_string()
}

/// What a run measured.
pub struct Measured<'a> {
    /// Merged counters.
    pub counts: &'a Counts,
    /// Merged latency histogram (µs).
    pub latency: &'a Histogram<u64>,
    /// Merged connect-time histogram (µs).
    pub connect: &'a Histogram<u64>,
    /// With TLS: merged TLS handshake histogram (µs).
    pub tls_handshake: Option<&'a Histogram<u64>>,
    /// Open loop: merged send-lag histogram (µs).
    pub send_lag: Option<&'a Histogram<u64>>,
    /// Connections that finished the handshake.
    pub established: u64,
    /// When the last handshake ended, in µs from the start of the run.
    pub connect_all_us: u64,
    /// Server stats, if asked for.
    pub server: Option<ServerStats>,
    /// The I/O path the workers' rings ran.
    pub io_path_used: String,
}

impl Report {
    /// Assembles the report.
    pub fn new(shape: RunShape, m: Measured<'_>) -> Report {
        let c = m.counts;
        let throughput = if shape.duration_s > 0.0 { c.answers_measured as f64 / shape.duration_s } else { 0.0 };
        Report {
            mode: if shape.rate.is_some() { "open" } else { "closed" }.to_string(),
            io_path_used: m.io_path_used,
            shape,
            connections_established: m.established,
            connect_ms: Percentiles3::of_us(m.connect),
            connect_all_ms: m.connect_all_us as f64 / 1_000.0,
            tls_handshake_ms: m.tls_handshake.map(Percentiles3::of_us),
            sent: c.sent,
            ok: c.ok,
            errors: c.errors_sorted().into_iter().map(|(k, n)| (k.to_string(), n)).collect(),
            errors_total: c.errors_total(),
            outcomes: Outcomes {
                ok: c.ok,
                rate_limited: c.classes.rate_limited,
                breaker_open: c.classes.breaker_open,
                overloaded: c.classes.overloaded,
                tool_timeout: c.classes.tool_timeout,
                unauthorized: c.classes.unauthorized,
                forbidden: c.classes.forbidden,
                other_errors: c.classes.other,
                session_expired: c.session_expired,
                timeouts: c.timeouts,
                lost: c.lost,
            },
            http_status: c.http_status.iter().map(|(k, n)| (k.to_string(), *n)).collect(),
            connect_http_status: c.connect_http_status.iter().map(|(k, n)| (k.to_string(), *n)).collect(),
            timeouts: c.timeouts,
            lost: c.lost,
            session_expired: c.session_expired,
            reinitialized: c.reinitialized,
            reconnected: c.reconnected,
            duplicated: c.duplicated,
            mismatched: c.mismatched,
            connection_errors: c.connection_errors,
            unsent_backlog: c.unsent_backlog,
            server_messages: c.server_messages,
            answers_measured: c.answers_measured,
            throughput_msg_s: (throughput * 10.0).round() / 10.0,
            latency_us: Latency::of(m.latency),
            send_lag_ms: m.send_lag.map(Percentiles3::of_us),
            server: m.server,
            exact: c.exact(),
            passed: c.exact() && m.established > 0,
        }
    }

    /// The process exit code for this report: 0 when it passed, else 1.
    pub fn exit_code(&self) -> i32 {
        if self.passed {
            0
        } else {
            1
        }
    }

    /// The human summary printed on stdout at the end.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let rate = self.shape.rate.map_or_else(|| "closed loop".to_string(), |r| format!("open loop at {r} req/s"));
        let _ = writeln!(
            s,
            "loadgen {} ({}, {}, MCP {}), workload {}, io path {} (asked {})",
            self.shape.url,
            self.shape.transport,
            rate,
            self.shape.protocol,
            self.shape.workload,
            self.io_path_used,
            self.shape.io_path
        );
        let _ = writeln!(
            s,
            "  connections   {}/{} up in {:.0} ms, {} in flight each, connect p50 {:.2} ms p99 {:.2} ms max {:.2} ms",
            self.connections_established,
            self.shape.connections,
            self.connect_all_ms,
            self.shape.inflight,
            self.connect_ms.p50,
            self.connect_ms.p99,
            self.connect_ms.max
        );
        if let Some(tls) = &self.tls_handshake_ms {
            let _ = writeln!(
                s,
                "  tls           handshake p50 {:.2} ms p99 {:.2} ms max {:.2} ms (in the connect time, not in latency)",
                tls.p50, tls.p99, tls.max
            );
        }
        let _ = writeln!(
            s,
            "  window        {:.1} s measured after {:.1} s warmup (warmup requests are counted below but not in throughput or latency)",
            self.shape.duration_s, self.shape.warmup_s
        );
        let _ = writeln!(
            s,
            "  throughput    {:.0} msg/s ({} answers in the window)",
            self.throughput_msg_s, self.answers_measured
        );
        let l = &self.latency_us;
        let _ = writeln!(
            s,
            "  latency       p50 {} p90 {} p95 {} p99 {} p99.9 {} max {} (µs, {} requests)",
            l.p50, l.p90, l.p95, l.p99, l.p999, l.max, l.count
        );
        let errors = if self.errors.is_empty() {
            "none".to_string()
        } else {
            self.errors.iter().map(|(k, n)| format!("{k}: {n}")).collect::<Vec<_>>().join(", ")
        };
        let _ = writeln!(
            s,
            "  requests      sent {} ok {} errors {} ({}) timeouts {}",
            self.sent, self.ok, self.errors_total, errors, self.timeouts
        );
        let o = &self.outcomes;
        if o.ok != self.sent || !self.http_status.is_empty() {
            let statuses = self.http_status.iter().map(|(k, n)| format!("{k}: {n}")).collect::<Vec<_>>().join(", ");
            let _ = writeln!(
                s,
                "  outcomes      ok {} rate_limited {} breaker_open {} overloaded {} tool_timeout {} unauthorized {} \
                 forbidden {} other_errors {} session_expired {}{}",
                o.ok,
                o.rate_limited,
                o.breaker_open,
                o.overloaded,
                o.tool_timeout,
                o.unauthorized,
                o.forbidden,
                o.other_errors,
                o.session_expired,
                if statuses.is_empty() { String::new() } else { format!(" (HTTP {statuses})") }
            );
        }
        let _ = writeln!(
            s,
            "  accounting    lost {} duplicated {} mismatched {} connection_errors {} unsent_backlog {}",
            self.lost, self.duplicated, self.mismatched, self.connection_errors, self.unsent_backlog
        );
        if self.session_expired + self.reinitialized + self.reconnected > 0 {
            let _ = writeln!(
                s,
                "  sessions      session_expired {} reinitialized {} reconnected {}",
                self.session_expired, self.reinitialized, self.reconnected
            );
        }
        if let Some(lag) = &self.send_lag_ms {
            let _ = writeln!(
                s,
                "  send lag      p50 {:.3} p99 {:.3} max {:.3} ms behind the schedule (loadgen's own delay, included in latency)",
                lag.p50, lag.p99, lag.max
            );
        }
        if let Some(server) = &self.server {
            let _ = writeln!(
                s,
                "  server        peak RSS {} KiB, RSS {} KiB, CPU {:.2} s in the window",
                server.peak_rss_kib, server.rss_kib, server.cpu_s
            );
        }
        let verdict = if !self.exact {
            "FAIL: lost, duplicated or mismatched answers"
        } else if !self.passed {
            "FAIL: no connection was established, nothing was measured"
        } else {
            "PASS: every request answered exactly once"
        };
        let _ = writeln!(s, "  {verdict}");
        s
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::accounting::ErrorKey;

    pub(crate) fn sample() -> Report {
        let mut latency = histogram();
        for us in 1..=1000 {
            record(&mut latency, us);
        }
        let mut connect = histogram();
        record(&mut connect, 1500);
        let counts = Counts {
            sent: 1000,
            ok: 998,
            errors: vec![(ErrorKey::Rpc(-32010), 2)],
            classes: crate::accounting::ClassCounts { overloaded: 2, ..Default::default() },
            answers_measured: 500,
            ..Counts::default()
        };
        let shape = RunShape {
            url: "tcp://127.0.0.1:9999".into(),
            transport: "tcp".into(),
            workload: "tools/call:echo".into(),
            protocol: "2026-07-28".into(),
            connections: 2,
            inflight: 4,
            rate: None,
            duration_s: 2.0,
            warmup_s: 0.5,
            io_path: "auto".into(),
            tls: false,
            request_headers: Vec::new(),
        };
        Report::new(
            shape,
            Measured {
                counts: &counts,
                latency: &latency,
                connect: &connect,
                tls_handshake: None,
                send_lag: None,
                established: 2,
                connect_all_us: 2_500,
                server: None,
                io_path_used: "multishot".into(),
            },
        )
    }

    #[test]
    fn report_figures_come_from_counts_and_histograms() {
        let r = sample();
        assert_eq!(r.throughput_msg_s, 250.0);
        assert_eq!((r.latency_us.p50, r.latency_us.max, r.latency_us.count), (500, 1000, 1000));
        assert_eq!(r.connect_ms.p99, 1.5);
        assert_eq!(r.connect_all_ms, 2.5);
        assert_eq!(r.errors.get("-32010"), Some(&2));
        assert_eq!((r.mode.as_str(), r.exit_code()), ("closed", 0));
    }

    #[test]
    fn json_has_the_documented_fields_and_round_trips() {
        let r = sample();
        let json = serde_json::to_value(&r).expect("serializes");
        for field in [
            "url",
            "transport",
            "protocol",
            "connections",
            "inflight",
            "rate",
            "duration_s",
            "warmup_s",
            "connections_established",
            "connect_ms",
            "connect_all_ms",
            "sent",
            "ok",
            "errors",
            "timeouts",
            "lost",
            "duplicated",
            "mismatched",
            "connection_errors",
            "session_expired",
            "reinitialized",
            "reconnected",
            "throughput_msg_s",
            "latency_us",
            "server",
            "io_path",
            "io_path_used",
            "tls",
            "tls_handshake_ms",
            "request_headers",
            "outcomes",
            "http_status",
            "connect_http_status",
        ] {
            assert!(json.get(field).is_some(), "missing {field}");
        }
        assert!(json["rate"].is_null());
        assert!(json["tls_handshake_ms"].is_null());
        assert_eq!(json["latency_us"]["p999"], 999);
        assert_eq!(json["outcomes"]["overloaded"], 2);
        assert_eq!(json["outcomes"]["ok"], 998);
        assert_eq!(json["outcomes"]["session_expired"], 0);
        let back: Report = serde_json::from_value(json).expect("deserializes");
        assert_eq!(back, r);
    }

    #[test]
    fn summary_names_the_verdict_and_the_io_path_asked_and_used() {
        let mut r = sample();
        assert!(r.summary().contains("PASS"));
        let first = r.summary().lines().next().map(str::to_string).unwrap_or_default();
        assert_eq!(
            first,
            "loadgen tcp://127.0.0.1:9999 (tcp, closed loop, MCP 2026-07-28), workload tools/call:echo, \
             io path multishot (asked auto)"
        );
        r.lost = 1;
        r.exact = false;
        r.passed = false;
        assert!(r.summary().contains("FAIL"));
        assert_eq!(r.exit_code(), 1);
    }

    #[test]
    fn reports_from_before_the_tls_and_outcome_fields_still_read() {
        let mut json = serde_json::to_value(sample()).expect("serializes");
        let fields = json.as_object_mut().expect("an object");
        for field in ["tls", "request_headers", "tls_handshake_ms", "outcomes", "http_status", "connect_http_status"] {
            fields.remove(field);
        }
        let back: Report = serde_json::from_value(json).expect("deserializes");
        assert!(!back.shape.tls && back.tls_handshake_ms.is_none() && back.http_status.is_empty());
        assert_eq!(back.outcomes, Outcomes::default());
    }

    #[test]
    fn reports_from_before_the_io_path_fields_still_read() {
        let mut json = serde_json::to_value(sample()).expect("serializes");
        let fields = json.as_object_mut().expect("an object");
        fields.remove("io_path");
        fields.remove("io_path_used");
        let back: Report = serde_json::from_value(json).expect("deserializes");
        assert_eq!((back.shape.io_path.as_str(), back.io_path_used.as_str()), ("", ""));
    }

    #[test]
    fn reports_from_before_the_protocol_field_read_as_the_session_era() {
        let mut json = serde_json::to_value(sample()).expect("serializes");
        assert_eq!(json["protocol"], "2026-07-28");
        json.as_object_mut().expect("an object").remove("protocol");
        let back: Report = serde_json::from_value(json).expect("deserializes");
        assert_eq!(back.shape.protocol, "2025-11-25");
    }

    #[test]
    fn out_of_range_values_are_clamped_not_dropped() {
        let mut h = histogram();
        record(&mut h, 0);
        record(&mut h, u64::MAX);
        assert_eq!(h.len(), 2);
        assert_eq!(h.min(), 1);
    }
}
