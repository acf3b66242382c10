//! The access log through real sockets: requests over NDJSON and HTTP with the log to a file;
//! each line parses as JSON with the documented fields; no token or param value is logged;
//! sampling keeps an exact share.

mod common;

use common::{HttpConn, Req, Server, INIT};
use serde_json::Value;
use std::time::{Duration, Instant};

/// The log's lines once there are `n` of them (the writer thread is asynchronous).
fn lines(path: &std::path::Path, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let count = text.lines().count();
        if count >= n {
            assert_eq!(count, n, "more lines than requests:\n{text}");
            assert!(!text.contains("SECRET"), "a token or a param value was logged:\n{text}");
            return text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
        }
        assert!(Instant::now() < deadline, "{count} of {n} lines after 10 s:\n{text}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `2026-11-29T01:02:03.456789Z`.
fn is_rfc3339_us(t: &str) -> bool {
    let b = t.as_bytes();
    b.len() == 27
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'.'
        && b[26] == b'Z'
        && t.chars().filter(|c| c.is_ascii_digit()).count() == 20
}

fn check_common(line: &Value, transport: &str, method: &str, tool: Option<&str>, result: &str) {
    let keys: Vec<&str> = line.as_object().unwrap().keys().map(String::as_str).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            "bytes_in",
            "bytes_out",
            "core",
            "identity",
            "latency_us",
            "method",
            "peer",
            "result",
            "time",
            "tool",
            "transport"
        ],
        "{line}"
    );
    assert!(is_rfc3339_us(line["time"].as_str().unwrap()), "{line}");
    assert_eq!(line["core"], 0, "{line}");
    assert_eq!(line["transport"], transport, "{line}");
    assert!(line["peer"].as_str().unwrap().starts_with("127.0.0.1:"), "{line}");
    assert_eq!(line["method"], method, "{line}");
    assert_eq!(line["tool"].as_str(), tool, "{line}");
    assert_eq!(line["result"], result, "{line}");
    assert!(line["latency_us"].is_u64(), "{line}");
    assert!(line["bytes_in"].as_u64().unwrap() > 0 && line["bytes_out"].as_u64().unwrap() > 0, "{line}");
}

#[test]
fn ndjson_and_http_requests_are_logged_as_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    let log = path.to_str().unwrap();
    let server = Server::start(&["--cores", "1", "--access-log", log, "--rate-limit", "ip:tools/call=add:1/h:1"]);
    let port = server.port;

    let mut conn = server.connect();
    conn.initialize();
    let echo = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"SECRET-PARAM"}}}"#;
    let echo_answer = conn.call(echo);
    let sleep = r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"sleep","arguments":{"ms":5}}}"#;
    assert!(conn.call(sleep).contains(r#""result""#));
    assert!(conn.call(r#"{"jsonrpc":"2.0","id":3,"method":"no/such"}"#).contains("-32601"));

    let session = common::http_session(port);
    let mut http = HttpConn::connect(port);
    let add = r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"add","arguments":{"a":1,"b":2}}}"#;
    let req = Req::mcp_in(port, &session, add)
        .header("MCP-Protocol-Version", "2025-11-25")
        .header("Authorization", "Bearer SECRET-TOKEN");
    assert_eq!(http.call(&req).status, 200);
    assert_eq!(http.call(&req).status, 429);
    let modern = r#"{"jsonrpc":"2.0","id":5,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#;
    let r = http
        .call(&Req::mcp(port, modern).header("MCP-Protocol-Version", "2026-07-28").header("Mcp-Method", "tools/list"));
    assert_eq!(r.status, 200);

    let l = lines(&path, 8);
    assert!(l.iter().all(|line| line["identity"].is_null()), "auth is off: no identity");
    check_common(&l[0], "tcp", "initialize", None, "ok");
    check_common(&l[1], "tcp", "tools/call", Some("echo"), "ok");
    assert_eq!(l[1]["bytes_in"], echo.len());
    assert_eq!(l[1]["bytes_out"], echo_answer.len() + 1, "the answer line and its newline");
    check_common(&l[2], "tcp", "tools/call", Some("sleep"), "ok");
    assert!(l[2]["latency_us"].as_u64().unwrap() >= 5_000, "an async answer's latency: {}", l[2]);
    check_common(&l[3], "tcp", "no/such", None, "-32601");
    check_common(&l[4], "http", "initialize", None, "ok");
    check_common(&l[5], "http", "tools/call", Some("add"), "ok");
    assert_eq!(l[5]["bytes_in"], add.len());
    check_common(&l[6], "http", "tools/call", Some("add"), "-32013");
    check_common(&l[7], "http", "tools/list", None, "ok");
    assert_eq!(l[0]["peer"], l[1]["peer"], "one NDJSON connection");

    let metrics = HttpConn::connect(port).call(&Req::new("GET", "/metrics", port)).text().to_string();
    assert!(metrics.contains("\nringmcp_access_log_dropped_total 0\n"), "{metrics}");
    assert!(metrics.contains("\nringmcp_access_log_lines_total 8\n"), "{metrics}");
}

#[test]
fn sampling_keeps_an_exact_share() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    let server =
        Server::start(&["--cores", "1", "--access-log", path.to_str().unwrap(), "--access-log-sample-permille", "250"]);
    let mut conn = server.connect();
    assert!(conn.call(INIT).contains("result"));
    for id in 1..20 {
        assert!(conn.call(&format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"ping"}}"#)).contains("result"));
    }
    let l = lines(&path, 5);
    assert!(l.iter().all(|x| x["method"] == "ping"), "the 4th, 8th, … requests");
}

#[test]
fn off_by_default() {
    let server = Server::start(&["--cores", "1"]);
    let mut conn = server.connect();
    conn.initialize();
    let metrics = HttpConn::connect(server.port).call(&Req::new("GET", "/metrics", server.port)).text().to_string();
    assert!(metrics.contains("\nringmcp_access_log_lines_total 0\n"), "{metrics}");
}

#[test]
fn the_identity_is_the_authenticated_caller_and_identity_rate_limits_count_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    let keys = dir.path().join("keys");
    // sha256("abc"): the API key `abc`, key id `ops`.
    let hash = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    std::fs::write(&keys, format!("ops {hash} mcp\n")).unwrap();
    let server = Server::start(&[
        "--cores",
        "1",
        "--access-log",
        path.to_str().unwrap(),
        "--auth-mode",
        "required",
        "--auth-resource",
        "http://127.0.0.1/mcp",
        "--auth-api-keys-file",
        keys.to_str().unwrap(),
        "--rate-limit",
        "identity:tools/call:1/h",
    ]);
    let port = server.port;
    let mut http = HttpConn::connect(port);
    let call = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"x"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#;
    let req = Req::mcp(port, call)
        .header("MCP-Protocol-Version", "2026-07-28")
        .header("Mcp-Method", "tools/call")
        .header("Mcp-Name", "echo")
        .header("Authorization", "Bearer abc");
    assert_eq!(http.call(&req).status, 200);
    // The identity's one call an hour is spent, on any connection.
    assert_eq!(HttpConn::connect(port).call(&req).status, 429);
    let l = lines(&path, 2);
    check_common(&l[0], "http", "tools/call", Some("echo"), "ok");
    assert_eq!(l[0]["identity"], "ops");
    check_common(&l[1], "http", "tools/call", Some("echo"), "-32013");
    assert_eq!(l[1]["identity"], "ops");
}
