//! Black-box tests of `loadgen run` against deliberately correct and faulty servers written
//! here. Pass/fail never depends on timing, except the stall test's physical lower bound.

mod common;

use common::{
    assert_identity, closed_run, http_server, loadgen, loadgen_json, n, ndjson_server, ok_line, tempdir, HttpRequest,
    Ringmcp, CLOSE,
};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

#[test]
fn correct_server_gives_exact_accounting_and_exit_zero() {
    let url = ndjson_server(Arc::new(|id, _| vec![ok_line(id)]));
    let (code, report, out) = closed_run(&url, "4", "4", "1s", "200ms", &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(n(&report, "connections_established"), 4);
    assert!(n(&report, "sent") > 0);
    assert_eq!(n(&report, "sent"), n(&report, "ok"), "{report}");
    for field in ["lost", "duplicated", "mismatched", "timeouts", "connection_errors"] {
        assert_eq!(n(&report, field), 0, "{field}: {report}");
    }
    assert!(report["errors"].as_object().expect("errors").is_empty());
    assert!(report["rate"].is_null());
    assert!(report["throughput_msg_s"].as_f64().expect("throughput") > 0.0);
    assert!(n(&report["latency_us"], "count") > 0);
    assert!(out.contains("PASS"), "{out}");
}

#[test]
fn dropped_and_doubled_answers_count_as_lost_and_duplicated_and_fail_the_run() {
    // Request 3 is never answered; request 5 is answered twice.
    let url = ndjson_server(Arc::new(|id, _| match id {
        3 => vec![],
        5 => vec![ok_line(id), ok_line(id)],
        _ => vec![ok_line(id)],
    }));
    let (code, report, out) = closed_run(&url, "1", "8", "500ms", "0s", &["--timeout-ms", "300"]);
    assert_eq!(code, 1, "{out}");
    assert_eq!(n(&report, "lost"), 1, "{report}");
    assert_eq!(n(&report, "duplicated"), 1, "{report}");
    assert_eq!(n(&report, "mismatched"), 0, "{report}");
    assert_eq!(n(&report, "sent"), n(&report, "ok") + 1, "{report}");
    assert_identity(&report);
    assert!(out.contains("FAIL"), "{out}");
}

#[test]
fn unknown_ids_are_mismatched_and_error_codes_are_counted_not_hidden() {
    // Every 4th request gets an overload error; the 10th also brings an answer to an id
    // that was never sent.
    let url = ndjson_server(Arc::new(|id, seen| {
        let mut answers = Vec::new();
        if id % 4 == 0 {
            answers.push(format!(
                "{{\"jsonrpc\":\"2.0\",\"id\":{id},\"error\":{{\"code\":-32010,\"message\":\"overloaded\"}}}}\n"
            ));
        } else {
            answers.push(ok_line(id));
        }
        if seen == 9 {
            answers.push(ok_line(1 << 40));
        }
        answers
    }));
    let (code, report, out) = closed_run(&url, "1", "2", "300ms", "0s", &[]);
    assert_eq!(code, 1, "{out}");
    assert_eq!(n(&report, "mismatched"), 1, "{report}");
    assert_eq!(n(&report, "lost"), 0, "{report}");
    let overloaded = n(&report["errors"], "-32010");
    assert!(overloaded > 0, "{report}");
    assert_eq!(n(&report, "sent") / 4, overloaded, "{report}");
    assert_identity(&report);
}

#[test]
fn a_connection_closed_mid_run_loses_its_outstanding_requests() {
    // On the 10th request the server closes the connection without answering it.
    let url = ndjson_server(Arc::new(|id, seen| if seen == 9 { vec![CLOSE.to_string()] } else { vec![ok_line(id)] }));
    let (code, report, out) = closed_run(&url, "1", "4", "500ms", "0s", &[]);
    assert_eq!(code, 1, "{out}");
    assert_eq!(n(&report, "connection_errors"), 1, "{report}");
    assert_eq!(n(&report, "ok"), 9, "{report}");
    assert!(n(&report, "lost") >= 1, "{report}");
    assert_identity(&report);
}

#[test]
fn open_loop_latency_counts_from_the_intended_time_through_a_server_stall() {
    // 2000 requests/s for 1 s on one connection; the server stops answering for 150 ms at
    // the 200th request. About 300 requests (15 %) are scheduled inside the stall, and the
    // first 100 of them (5 %) wait at least 100 ms from their intended send time: p99 must
    // show it even though the server answers each one in microseconds once it resumes.
    let url = ndjson_server(Arc::new(|id, seen| {
        if seen == 200 {
            std::thread::sleep(Duration::from_millis(150));
        }
        vec![ok_line(id)]
    }));
    let (code, report, out) = loadgen_json(&[
        "run",
        "--url",
        &url,
        "--connections",
        "1",
        "--rate",
        "2000",
        "--duration",
        "1s",
        "--warmup",
        "0s",
        "--timeout-ms",
        "2000",
    ]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(report["mode"], "open");
    assert_eq!(report["rate"].as_f64(), Some(2000.0));
    assert_eq!(n(&report, "sent"), 2000, "the schedule holds exactly rate x duration: {report}");
    assert_eq!(n(&report, "sent"), n(&report, "ok"));
    let latency = &report["latency_us"];
    assert!(n(latency, "max") >= 150_000, "{latency}");
    assert!(n(latency, "p99") >= 100_000, "the stall must show in p99: {latency}");
}

#[test]
fn http_answers_in_json_and_event_streams_are_matched_with_session_headers() {
    let respond = Arc::new(|request: &HttpRequest, _n: u64| -> Vec<u8> {
        let message: Value = serde_json::from_slice(&request.body).expect("JSON body");
        let accept_ok = request.header("accept") == Some("application/json, text/event-stream");
        let content_ok = request.header("content-type") == Some("application/json");
        if message["method"] == "initialize" {
            let body = r#"{"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2025-11-25","capabilities":{}}}"#;
            return format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nMcp-Session-Id: sess-1\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes();
        }
        let session_ok = request.header("mcp-session-id") == Some("sess-1")
            && request.header("mcp-protocol-version") == Some("2025-11-25");
        let Some(id) = message["id"].as_u64() else {
            return b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n".to_vec();
        };
        if !(session_ok && accept_ok && content_ok) {
            return b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n".to_vec();
        }
        let answer = format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{{}}}}"#);
        if id % 2 == 0 {
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{answer}",
                answer.len()
            )
            .into_bytes()
        } else {
            // A progress notification first, then the answer, chunked.
            let events = format!(
                "data: {{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{{}}}}\n\nevent: message\ndata: {answer}\n\n"
            );
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{events}\r\n0\r\n\r\n",
                events.len()
            )
            .into_bytes()
        }
    });
    let url = http_server(respond);
    let (code, report, out) = loadgen_json(&[
        "run",
        "--url",
        &url,
        "--protocol",
        "2025-11-25",
        "--connections",
        "2",
        "--duration",
        "500ms",
        "--warmup",
        "0s",
    ]);
    assert_eq!(code, 0, "{out}");
    assert_eq!((report["transport"].as_str(), report["protocol"].as_str()), (Some("http"), Some("2025-11-25")));
    assert!(n(&report, "sent") > 2);
    assert_eq!(n(&report, "sent"), n(&report, "ok"), "{report}");
    assert!(report["errors"].as_object().expect("errors").is_empty(), "{report}");
    assert!(n(&report, "server_messages") > 0, "the progress notifications were seen: {report}");
}

#[test]
fn stdio_spawns_one_process_per_connection() {
    let dir = common::tempdir();
    let script = dir.join("server.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\nwhile IFS= read -r line; do\n  id=$(printf '%s' \"$line\" | sed -n 's/.*\"id\":\\([0-9][0-9]*\\).*/\\1/p')\n  \
         [ -n \"$id\" ] && printf '{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":{}}\\n' \"$id\"\ndone\n",
    )
    .expect("script");
    let url = format!("stdio:sh {}", script.display());
    for path in ["auto", "fallback"] {
        let (code, report, out) = loadgen_json(&[
            "run",
            "--url",
            &url,
            "--connections",
            "2",
            "--duration",
            "300ms",
            "--warmup",
            "0s",
            "--io-path",
            path,
        ]);
        assert_eq!(code, 0, "{path}: {out}");
        assert_eq!(report["transport"], "stdio");
        assert_eq!(n(&report, "connections_established"), 2);
        assert!(n(&report, "sent") > 0);
        assert_eq!(n(&report, "sent"), n(&report, "ok"), "{path}: {report}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_io_path_gives_exact_accounting_and_the_report_names_it() {
    let url = ndjson_server(Arc::new(|id, _| vec![ok_line(id)]));
    let (code, report, out) = closed_run(&url, "4", "8", "300ms", "0s", &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(report["io_path"], "auto");
    let used = report["io_path_used"].as_str().expect("io_path_used").to_string();
    assert!(used == "multishot" || used == "fallback", "{report}");
    assert!(out.contains(&format!("io path {used} (asked auto)")), "{out}");
    // Multishot is asked for only where auto found it: on an older kernel it fails at start.
    let asked = if used == "multishot" { vec!["fallback", "multishot"] } else { vec!["fallback"] };
    for path in asked {
        let (code, report, out) = closed_run(&url, "4", "8", "300ms", "0s", &["--io-path", path]);
        assert_eq!(code, 0, "{path}: {out}");
        assert_eq!((report["io_path"].as_str(), report["io_path_used"].as_str()), (Some(path), Some(path)));
        assert!(n(&report, "sent") > 0);
        assert_eq!(n(&report, "sent"), n(&report, "ok"), "{path}: {report}");
        assert!(out.contains(&format!("io path {path} (asked {path})")), "{out}");
    }
}

#[test]
fn a_worker_that_cannot_start_abandons_the_run_with_exit_2() {
    let url = ndjson_server(Arc::new(|id, _| vec![ok_line(id)]));
    // CPU 1000 passes the flag's syntax but no machine here has it online: that worker's
    // ring cannot be pinned, and the worker on CPU 0 must not wait for it.
    let started = std::time::Instant::now();
    let (code, _, err) =
        loadgen(&["run", "--url", &url, "--cpus", "0,1000", "--connections", "2", "--duration", "10s", "--quiet"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("the worker on CPU 1000"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5), "the run was abandoned, not run: {err}");
}

#[test]
fn unsupported_urls_and_flag_combinations_exit_2_with_a_reason() {
    let (code, _, err) =
        loadgen(&["run", "--url", "ws://127.0.0.1:1/mcp/ws", "--server-name", "x", "--duration", "1s"]);
    assert_eq!(code, 2);
    assert!(err.contains("need TLS"), "{err}");
    let (code, _, err) = loadgen(&["run", "--url", "gopher://x:1", "--duration", "1s"]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown scheme"), "{err}");
    let (code, _, err) = loadgen(&["run", "--url", "http://127.0.0.1:1/mcp", "--inflight", "4"]);
    assert_eq!(code, 2);
    assert!(err.contains("--inflight 4") && err.contains("pipelining"), "{err}");
    let (code, _, err) = loadgen(&["run", "--url", "tcp://127.0.0.1:1", "--io-path", "epoll"]);
    assert_eq!(code, 2);
    assert!(err.contains("auto, multishot or fallback"), "{err}");
    let (code, _, err) = loadgen(&["run", "--url", "tcp://127.0.0.1:1", "--connections", "100000000"]);
    assert_eq!(code, 2);
    assert!(err.contains("ulimit") && err.contains("limits.conf"), "{err}");
}

#[test]
fn refused_connections_are_connection_errors_and_exit_1() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let url = format!("tcp://127.0.0.1:{port}");
    let (code, report, out) = loadgen_json(&["run", "--url", &url, "--connections", "2", "--duration", "100ms"]);
    assert_eq!(code, 1, "{out}");
    assert_eq!(n(&report, "connection_errors"), 2);
    assert_eq!(n(&report, "connections_established"), 0);
    assert!(out.contains("refused"), "{out}");
}

#[test]
fn capacity_plan_projects_the_per_core_rate_to_a_node_and_says_so() {
    let dir = tempdir();
    let json = dir.join("plan.json");
    let (code, stdout, _) = loadgen(&[
        "capacity",
        "--measured-msg-s",
        "50000",
        "--node-cores",
        "28",
        "--scaling",
        "0.8",
        "--target-msg-s",
        "500000",
        "--target-connections",
        "15000",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("measured:       50000 msg/s on 1 core(s) = 50000 msg/s per core"), "{stdout}");
    assert!(
        stdout.contains("projected node: 50000 msg/s per core x 28 serving cores x 0.8 scaling = 1120000 msg/s"),
        "{stdout}"
    );
    assert!(stdout.contains("nodes needed:   ceil(max(0.67, 1.00)) = 1"), "{stdout}");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(report["plan"]["node_msg_s"], 1_120_000.0);
    assert_eq!(report["plan"]["projection"]["node_cores"], 28);
    assert_eq!(report["plan"]["nodes"], 1);
    let (code, _, stderr) = loadgen(&["capacity", "--measured-msg-s", "1000", "--scaling", "2"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--scaling must be in (0, 1]"), "{stderr}");
}

/// 2025-11-25 over HTTP: a 404 to a request in a session means the session is gone. loadgen
/// counts it as `session_expired` (not an error, not lost), opens a new session on the same
/// connection (`reinitialized`) and goes on with the new session id.
#[test]
fn http_404_in_a_session_is_session_expired_and_a_new_session_follows() {
    let sessions = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let wrong_session = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let (minted, wrong) = (sessions.clone(), wrong_session.clone());
    let respond = Arc::new(move |request: &HttpRequest, n: u64| -> Vec<u8> {
        let message: Value = serde_json::from_slice(&request.body).expect("JSON body");
        if message["method"] == "initialize" {
            let sid = minted.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            let body = r#"{"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2025-11-25","capabilities":{}}}"#;
            return format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nMcp-Session-Id: node.s{sid}\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes();
        }
        let Some(id) = message["id"].as_u64() else {
            return b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n".to_vec();
        };
        // Every 5th request on a connection finds its session gone (the 2nd and 3rd requests on
        // a connection are initialized and the first call).
        if n % 5 == 4 {
            let body = r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32000,"message":"Not Found: unknown or ended session"}}"#;
            return format!(
                "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes();
        }
        if !request.header("mcp-session-id").is_some_and(|s| s.starts_with("node.s")) {
            wrong.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        let answer = format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{{}}}}"#);
        format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{answer}", answer.len())
            .into_bytes()
    });
    let url = http_server(respond);
    let args = ["run", "--url", &url, "--protocol", "2025-11-25", "--connections", "2", "--duration", "300ms"];
    let (code, report, out) = loadgen_json(&[&args[..], &["--warmup", "0s"]].concat());
    assert_eq!(code, 0, "{out}");
    let expired = n(&report, "session_expired");
    assert!(expired > 2, "{report}");
    assert_eq!(n(&report, "reinitialized"), expired, "one new session per expired one: {report}");
    assert_eq!(n(&report, "sent"), n(&report, "ok") + expired, "{report}");
    assert_eq!(n(&report["outcomes"], "session_expired"), expired);
    assert_eq!(n(&report, "errors_total") + n(&report, "lost") + n(&report, "connection_errors"), 0, "{report}");
    assert_eq!(sessions.load(std::sync::atomic::Ordering::Relaxed), 2 + expired, "initialize POSTs");
    assert_eq!(wrong_session.load(std::sync::atomic::Ordering::Relaxed), 0);
    assert!(out.contains(&format!("session_expired {expired} reinitialized {expired}")), "{out}");
}

/// A server that answers with `Connection: close` (here every 3rd answer on a connection) and
/// closes: loadgen opens a new connection and goes on; every request is answered.
#[test]
fn http_connection_close_is_followed_by_a_new_connection() {
    let respond = Arc::new(|request: &HttpRequest, n: u64| -> Vec<u8> {
        let message: Value = serde_json::from_slice(&request.body).expect("JSON body");
        let id = message["id"].as_u64().expect("an id");
        let close = if n % 3 == 2 { "Connection: close\r\n" } else { "" };
        let answer = format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{{}}}}"#);
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{close}Content-Length: {}\r\n\r\n{answer}",
            answer.len()
        )
        .into_bytes()
    });
    let url = http_server(respond);
    let (code, report, out) =
        loadgen_json(&["run", "--url", &url, "--connections", "2", "--duration", "300ms", "--warmup", "0s"]);
    assert_eq!(code, 0, "{out}");
    assert!(n(&report, "reconnected") > 2, "{report}");
    assert_eq!(n(&report, "sent"), n(&report, "ok"), "{report}");
    assert_eq!(n(&report, "errors_total") + n(&report, "lost") + n(&report, "connection_errors"), 0, "{report}");
}

/// ringmcp closes a keep-alive connection idle for idle_timeout_ms (100 ms here); an open loop
/// at 4 requests/s per connection idles longer, so loadgen finds each connection closed
/// before its next request and opens a new one first: nothing is written into a closed one.
#[test]
fn http_connections_the_server_closed_while_idle_are_reopened_before_the_next_request() {
    let server = Ringmcp::start(&["--cores", "1", "--idle-timeout-ms", "100"]);
    let url = format!("http://127.0.0.1:{}/mcp", server.port);
    let (code, report, out) = loadgen_json(&[
        "run",
        "--url",
        &url,
        "--connections",
        "2",
        "--rate",
        "8",
        "--duration",
        "1500ms",
        "--warmup",
        "0s",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(n(&report, "sent") >= 8, "{report}");
    assert!(n(&report, "reconnected") >= 4, "{report}");
    assert_eq!(n(&report, "sent"), n(&report, "ok"), "{report}");
    assert_eq!(n(&report, "errors_total") + n(&report, "lost") + n(&report, "connection_errors"), 0, "{report}");
}
