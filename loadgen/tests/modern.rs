//! Black-box tests of `loadgen run --protocol 2026-07-28` (the default): no handshake and no
//! session on any transport, `_meta` in every request, the HTTP request-metadata headers, and
//! the real `ringmcp serve` / `ringmcp stdio` answering every request exactly once.

mod common;

use common::{http_server, loadgen, loadgen_json, n, ringmcp_bin, HttpRequest, Ringmcp};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

const META: &str = r#""_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}"#;

fn run(url: &str, extra: &[&str]) -> (i32, serde_json::Value, String) {
    let mut args = vec!["run", "--url", url, "--connections", "2", "--duration", "400ms", "--warmup", "100ms"];
    args.extend_from_slice(extra);
    loadgen_json(&args)
}

fn assert_every_request_ok(report: &serde_json::Value, out: &str) {
    assert!(n(report, "sent") > 0, "{report}");
    assert_eq!(n(report, "ok"), n(report, "sent"), "{report}\n{out}");
    for field in ["lost", "duplicated", "mismatched", "timeouts", "connection_errors"] {
        assert_eq!(n(report, field), 0, "{field}: {report}");
    }
    assert!(report["errors"].as_object().expect("errors").is_empty(), "{report}");
    assert_eq!(report["protocol"], "2026-07-28");
}

#[test]
fn modern_http_posts_carry_version_method_and_name_meta_and_no_session() {
    let bad = Arc::new(AtomicU64::new(0));
    let seen_bad = bad.clone();
    let respond = Arc::new(move |request: &HttpRequest, _n: u64| -> Vec<u8> {
        let message: serde_json::Value = serde_json::from_slice(&request.body).expect("JSON body");
        let id = message["id"].as_u64().unwrap_or(0);
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"echo","arguments":{{"text":"abcd"}},{META}}}}}"#
        );
        let headers_ok = request.header("mcp-protocol-version") == Some("2026-07-28")
            && request.header("mcp-method") == Some("tools/call")
            && request.header("mcp-name") == Some("echo")
            && request.header("mcp-session-id").is_none()
            && request.header("content-type") == Some("application/json");
        if !(headers_ok && request.body == body.as_bytes()) {
            seen_bad.fetch_add(1, Relaxed);
            return b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n".to_vec();
        }
        let answer = format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{{"content":[],"resultType":"complete"}}}}"#);
        format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{answer}", answer.len())
            .into_bytes()
    });
    let url = http_server(respond);
    let (code, report, out) = run(&url, &["--payload-bytes", "4"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(bad.load(Relaxed), 0, "every POST had the exact headers and body (no initialize): {report}");
    assert_every_request_ok(&report, &out);
    assert!(out.contains("MCP 2026-07-28"), "{out}");
}

#[test]
fn modern_echo_mode_counts_each_echoed_request_as_its_answer() {
    // A raw NDJSON echo, as `ringmcp ceiling`: every line back unchanged, nothing else.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("tcp://{}", listener.local_addr().expect("addr"));
    let first_lines = Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = first_lines.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let record = record.clone();
            std::thread::spawn(move || {
                let mut writer = stream.try_clone().expect("clone");
                let mut reader = BufReader::new(stream);
                let mut line = String::new();
                let mut first = true;
                while reader.read_line(&mut line).unwrap_or(0) > 0 {
                    if std::mem::take(&mut first) {
                        record.lock().expect("lock").push(line.clone());
                    }
                    if writer.write_all(line.as_bytes()).is_err() {
                        return;
                    }
                    line.clear();
                }
            });
        }
    });
    let (code, report, out) = run(&url, &["--echo", "--inflight", "8", "--payload-bytes", "2"]);
    assert_eq!(code, 0, "{out}");
    assert_every_request_ok(&report, &out);
    assert_eq!(n(&report, "server_messages"), 0, "no handshake to echo: {report}");
    let firsts = first_lines.lock().expect("lock").clone();
    let want = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{{\"name\":\"echo\",\"arguments\":{{\"text\":\"ab\"}},{META}}}}}\n"
    );
    assert_eq!(firsts, vec![want.clone(), want], "the first line of each connection is request 1");
}

#[test]
fn ringmcp_answers_modern_requests_on_every_transport_without_a_session() {
    let server = Ringmcp::start(&["--cores", "2"]);
    let port = server.port;
    let mut sent = 0;
    for url in [
        format!("tcp://127.0.0.1:{port}"),
        format!("ws://127.0.0.1:{port}/mcp/ws"),
        format!("http://127.0.0.1:{port}/mcp"),
    ] {
        let inflight = if url.starts_with("http") { "1" } else { "8" };
        let (code, report, out) = run(&url, &["--inflight", inflight]);
        assert_eq!(code, 0, "{url}: {out}");
        assert_every_request_ok(&report, &out);
        sent += n(&report, "sent");
    }
    assert_eq!(server.metric("ringmcp_messages_total", "method", "tools/call"), sent);
    assert_eq!(server.metric("ringmcp_messages_total", "method", "initialize"), 0);
    assert_eq!(server.metric("ringmcp_messages_total", "method", "notification"), 0);
    let stdio = format!("stdio:{} stdio --log-level warn", ringmcp_bin().display());
    let (code, report, out) = run(&stdio, &["--inflight", "8"]);
    assert_eq!(code, 0, "{out}");
    assert_every_request_ok(&report, &out);
}

#[test]
fn modern_method_workloads_get_meta_and_the_session_era_still_works() {
    let server = Ringmcp::start(&["--cores", "1"]);
    let url = format!("http://127.0.0.1:{}/mcp", server.port);
    let (code, report, out) = run(&url, &["--method", "tools/list"]);
    assert_eq!(code, 0, "{out}");
    assert_every_request_ok(&report, &out);
    let (code, report, out) = run(&url, &["--protocol", "2025-11-25", "--scenario", "ping"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(n(&report, "ok"), n(&report, "sent"), "{report}");
    assert_eq!(report["protocol"], "2025-11-25");
    assert_eq!(server.metric("ringmcp_messages_total", "method", "initialize"), 2);
}

#[test]
fn ping_and_params_that_cannot_carry_meta_are_refused_at_start() {
    let (code, _, err) = loadgen(&["run", "--url", "tcp://127.0.0.1:1", "--scenario", "ping"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("2026-07-28 has no `ping`") && err.contains("--protocol 2025-11-25"), "{err}");
    let (code, _, err) = loadgen(&["run", "--url", "tcp://127.0.0.1:1", "--method", "logging/setLevel"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--method logging/setLevel: MCP 2026-07-28 has no `logging/setLevel`"), "{err}");
    let (code, _, err) = loadgen(&["run", "--url", "tcp://127.0.0.1:1", "--method", "m", "--params", "[1]"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--params must be a JSON object with --protocol 2026-07-28"), "{err}");
    let (code, _, err) = loadgen(&["run", "--url", "tcp://127.0.0.1:1", "--protocol", "2025-06-18"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("2026-07-28 or 2025-11-25"), "{err}");
}
