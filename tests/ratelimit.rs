//! Rate limits through real sockets: bursts then exact counts of ok vs -32013 over NDJSON,
//! 429 + Retry-After over HTTP (both eras), per-method and per-tool rules, the per-connection
//! scope, the whole-server bound with two cores, and a loadgen run with exact accounting.
//! Every config is burst-only (a rate of 1/h), so that timing cannot change a count.

mod common;

use common::{HttpConn, Req, Server, INIT};
use serde_json::Value;

fn ping(id: u64) -> String {
    format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"ping"}}"#)
}

fn call(id: u64, tool: &str, args: &str) -> String {
    format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{tool}","arguments":{args}}}}}"#)
}

/// Sends every line in one write and reads one answer per line, by id.
fn pipeline(conn: &mut common::Conn, lines: &[String]) -> Vec<Value> {
    let mut bytes = String::new();
    for l in lines {
        bytes.push_str(l);
        bytes.push('\n');
    }
    conn.send_raw(bytes.as_bytes());
    let mut answers: Vec<Value> = (0..lines.len()).map(|_| conn.recv()).collect();
    answers.sort_by_key(|a| a["id"].as_u64());
    answers
}

/// Checks a -32013 answer exactly (the wait is under two hours: every rule here is 1/h, and a
/// core of two enforces 1 per 2 h) and
/// returns its data.retryAfterMs.
fn assert_limited(answer: &Value, id: u64, limit: &str, rule: &str) -> u64 {
    let retry = answer["error"]["data"]["retryAfterMs"].as_u64().unwrap_or_else(|| panic!("not limited: {answer}"));
    assert!(retry > 0 && retry <= 7_200_000, "{answer}");
    let expected = serde_json::json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": {
            "code": -32013,
            "message": format!("Rate limited: over the {limit} limit `{rule}`; retry after {retry} ms"),
            "data": {"retryAfterMs": retry, "limit": limit}
        }
    });
    assert_eq!(answer, &expected);
    retry
}

fn is_ok(a: &Value) -> bool {
    a.get("result").is_some()
}

fn metric_sum(port: u16, prefix: &str) -> f64 {
    let text = HttpConn::connect(port).call(&Req::new("GET", "/metrics", port)).text().to_string();
    text.lines().filter(|l| l.starts_with(prefix)).map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap()).sum()
}

#[test]
fn ndjson_burst_then_exact_counts_and_the_connection_stays_usable() {
    let server = Server::start(&["--cores", "1", "--rate-limit", "ip:1/h:5"]);
    let mut conn = server.connect();
    let mut lines = vec![INIT.to_string()];
    lines.extend((1..=11).map(ping));
    let answers = pipeline(&mut conn, &lines);
    assert_eq!(answers.len(), 12);
    assert!(answers[..5].iter().all(is_ok), "initialize and 4 pings pass: {answers:?}");
    for (i, a) in answers[5..].iter().enumerate() {
        assert_limited(a, 5 + i as u64, "ip", "ip:1/h:5");
    }
    // Notifications are not limited; the connection answers every further request.
    conn.send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
    conn.send(&ping(50));
    assert_limited(&conn.recv(), 50, "ip", "ip:1/h:5");
    // Another connection from the same address shares the address's bucket.
    let mut other = server.connect();
    other.send(&ping(60));
    assert_limited(&other.recv(), 60, "ip", "ip:1/h:5");
    assert_eq!(metric_sum(server.port, r#"ringmcp_rate_limited_total{core="0",limit="ip"}"#), 9.0);
    assert_eq!(metric_sum(server.port, r#"ringmcp_errors_total{core="0",code="-32013"}"#), 9.0);
}

#[test]
fn session_limits_count_each_connection_alone() {
    let server = Server::start(&["--cores", "1", "--rate-limit", "session:1/h:3"]);
    for _ in 0..3 {
        let mut conn = server.connect();
        let answers = pipeline(&mut conn, &(1..=5).map(ping).collect::<Vec<_>>());
        assert!(answers[..3].iter().all(is_ok), "{answers:?}");
        assert_limited(&answers[3], 4, "session", "session:1/h:3");
        assert_limited(&answers[4], 5, "session", "session:1/h:3");
    }
}

#[test]
fn per_method_and_per_tool_rules_only_hit_theirs() {
    let rules = "ip:tools/call:1/h:3,ip:tools/call=add:1/h:1";
    let server = Server::start(&["--cores", "1", "--rate-limit", rules]);
    let mut conn = server.connect();
    conn.initialize();
    let mut lines: Vec<String> = (1..=10).map(ping).collect();
    lines.push(call(11, "add", r#"{"a":1,"b":2}"#));
    lines.push(call(12, "add", r#"{"a":1,"b":2}"#));
    lines.push(call(13, "echo", r#"{"text":"x"}"#));
    lines.push(call(14, "echo", r#"{"text":"x"}"#));
    lines.push(call(15, "echo", r#"{"text":"x"}"#));
    let answers = pipeline(&mut conn, &lines);
    assert!(answers[..10].iter().all(is_ok), "pings are not limited: {answers:?}");
    assert!(is_ok(&answers[10]), "{}", answers[10]);
    assert_limited(&answers[11], 12, "ip", "ip:tools/call=add:1/h:1");
    assert!(is_ok(&answers[12]) && is_ok(&answers[13]), "a refused call counts against no rule");
    assert_limited(&answers[14], 15, "ip", "ip:tools/call:1/h:3");
}

#[test]
fn http_gets_429_with_retry_after_and_the_same_body() {
    let server = Server::start(&["--cores", "1", "--rate-limit", "ip:1/h:3"]);
    let port = server.port;
    let session = common::http_session(port); // initialize: 1 (the notification is free)
    let mut conn = HttpConn::connect(port);
    let ok = conn.call(&Req::mcp_in(port, &session, &ping(2)).header("MCP-Protocol-Version", "2025-11-25"));
    assert_eq!(ok.status, 200, "{}", ok.text());
    let modern = r#"{"jsonrpc":"2.0","id":3,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#;
    let modern_req =
        Req::mcp(port, modern).header("MCP-Protocol-Version", "2026-07-28").header("Mcp-Method", "tools/list");
    let ok = conn.call(&modern_req);
    assert_eq!(ok.status, 200, "{}", ok.text());
    let refused = conn.call(&Req::mcp_in(port, &session, &ping(4)).header("MCP-Protocol-Version", "2025-11-25"));
    assert_eq!(refused.status, 429, "{}", refused.text());
    assert_eq!(refused.header("retry-after"), Some("3600"));
    assert_eq!(refused.header("content-type"), Some("application/json"));
    assert_limited(&refused.json(), 4, "ip", "ip:1/h:3");
    // The 2026-07-28 era the same way, on the same (still usable) connection.
    let refused = conn.call(&modern_req);
    assert_eq!((refused.status, refused.header("retry-after")), (429, Some("3600")));
    assert_limited(&refused.json(), 3, "ip", "ip:1/h:3");
    // And a new session cannot be opened past the limit either.
    let refused = conn.call(&Req::mcp(port, INIT));
    assert_eq!(refused.status, 429);
    assert_eq!(refused.header("mcp-session-id"), None);
    assert_limited(&refused.json(), 0, "ip", "ip:1/h:3");
    assert_eq!(metric_sum(port, r#"ringmcp_http_responses_total{core="0",status="429"}"#), 3.0);
}

#[test]
fn http_session_limits_count_each_session_alone() {
    let server = Server::start(&["--cores", "1", "--rate-limit", "session:1/h:2"]);
    let port = server.port;
    let mut conn = HttpConn::connect(port);
    for _ in 0..2 {
        let session = common::http_session(port);
        let ping_in = |id| Req::mcp_in(port, &session, &ping(id)).header("MCP-Protocol-Version", "2025-11-25");
        for id in 1..=2 {
            assert_eq!(conn.call(&ping_in(id)).status, 200);
        }
        let refused = conn.call(&ping_in(3));
        assert_eq!((refused.status, refused.header("retry-after")), (429, Some("3600")));
        assert_limited(&refused.json(), 3, "session", "session:1/h:2");
    }
}

#[test]
fn two_cores_stay_within_the_whole_server_bound() {
    // burst 10 over 2 cores: 5 per core, nothing refills within the test.
    let server = Server::start(&["--cores", "2", "--rate-limit", "ip:1/h:10"]);
    let (mut ok, mut limited) = (0, 0);
    let total = 60;
    // One connection per request: SO_REUSEPORT spreads them over both cores.
    for id in 0..total {
        let mut conn = server.connect();
        conn.send(&ping(id));
        let a = conn.recv();
        if is_ok(&a) {
            ok += 1;
        } else {
            assert_limited(&a, id, "ip", "ip:1/h:10");
            limited += 1;
        }
    }
    assert_eq!(ok + limited, total, "every request got exactly one answer");
    assert!(ok <= 10, "{ok} requests passed a whole-server burst of 10");
    assert!(ok >= 5, "each core lets its own 5 through: {ok}");
    assert_eq!(metric_sum(server.port, "ringmcp_rate_limited_total{") as u64, limited);
}

#[test]
fn loadgen_counts_exactly_with_no_answer_lost() {
    let loadgen = std::path::Path::new(env!("CARGO_BIN_EXE_ringmcp")).with_file_name("loadgen");
    // `cargo test --workspace` (tests/run) builds it: loadgen's own tests run the binary.
    assert!(loadgen.exists(), "{} is not built: cargo build -p ringmcp-loadgen", loadgen.display());
    let server = Server::start(&["--cores", "1", "--rate-limit", "ip:tools/call:1/h:50"]);
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    let status = std::process::Command::new(&loadgen)
        .args(["run", "--url", &format!("tcp://127.0.0.1:{}", server.port), "--connections", "4"])
        .args(["--duration", "500ms", "--warmup", "0s", "--quiet", "--cpus", "0"])
        .arg("--json")
        .arg(&report)
        .status()
        .expect("run loadgen");
    assert!(status.success(), "loadgen failed: {status}");
    let r: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(r["lost"], 0, "{r}");
    assert_eq!(r["duplicated"], 0, "{r}");
    assert_eq!(r["ok"], 50, "exactly the burst passed: {r}");
    let sent = r["sent"].as_u64().unwrap();
    assert_eq!(r["errors"]["-32013"].as_u64().unwrap(), sent - 50, "{r}");
    assert_eq!(r["errors_total"].as_u64().unwrap(), sent - 50, "{r}");
}
