//! The memory budget through real sockets: a limit below the server's own RSS refuses new
//! NDJSON connections, HTTP sessions and requests, and WebSocket upgrades with exact bodies;
//! between the marks /health is degraded with a reason; crossing the reject mark at runtime
//! refuses new requests on a connection admitted before, which stays open.

mod common;

use common::{HttpConn, Req, Server, INIT};
use serde_json::Value;
use std::io::Write;
use std::time::{Duration, Instant};

/// The -32010 memory body for a limit of `limit` bytes and the default 90 % reject mark.
fn memory_error(id: &str, limit: u64, percent: u64) -> String {
    let reject = limit * percent / 100;
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"error":{{"code":-32010,"message":"Server overloaded: memory over its reject mark ({reject} of {limit} bytes); retry later","data":{{"reason":"memory","retryAfterMs":1000}}}}}}"#
    )
}

fn get(port: u16, path: &str) -> common::HttpResponse {
    HttpConn::connect(port).call(&Req::new("GET", path, port))
}

fn metric(port: u16, series: &str) -> f64 {
    let text = get(port, "/metrics").text().to_string();
    let line = text.lines().find(|l| l.strip_prefix(series).is_some_and(|rest| rest.starts_with(' ')));
    line.unwrap_or_else(|| panic!("no {series} in\n{text}")).rsplit(' ').next().unwrap().parse().unwrap()
}

#[test]
fn a_tiny_limit_refuses_new_connections_sessions_and_upgrades() {
    const LIMIT: u64 = 1 << 20;
    let server = Server::start(&["--cores", "1", "--memory-limit-bytes", "1048576"]);
    let port = server.port;

    // NDJSON: each request of the first read answered -32010 memory, then the connection closes.
    let mut conn = server.connect();
    conn.send_raw(format!("{INIT}\n{}\n", r#"{"jsonrpc":"2.0","id":"p","method":"ping"}"#).as_bytes());
    assert_eq!(conn.recv_line(), memory_error("0", LIMIT, 90));
    assert_eq!(conn.recv_line(), memory_error(r#""p""#, LIMIT, 90));
    assert_eq!(conn.try_recv_line(), None, "closed after the refusal");

    // HTTP: 503 with Retry-After and the same JSON-RPC error; no session is made.
    let mut http = HttpConn::connect(port);
    let r = http.call(&Req::mcp(port, INIT));
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(r.header("mcp-session-id"), None);
    assert_eq!(r.text(), memory_error("0", LIMIT, 90));
    // The 2026-07-28 era: the same refusal, and the connection stays usable.
    let modern = r#"{"jsonrpc":"2.0","id":7,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#;
    let r = http
        .call(&Req::mcp(port, modern).header("MCP-Protocol-Version", "2026-07-28").header("Mcp-Method", "tools/list"));
    assert_eq!((r.status, r.header("retry-after")), (503, Some("1")));
    assert_eq!(r.text(), memory_error("7", LIMIT, 90));

    // WebSocket: the upgrade is refused before the 101.
    let r = http.call(&common::ws_upgrade(port));
    assert_eq!((r.status, r.header("retry-after")), (503, Some("1")));
    assert_eq!(r.text(), memory_error("null", LIMIT, 90));

    // /health degraded with the reason, /ready not ready, the gauges.
    let health: Value = get(port, "/health").json();
    assert_eq!(health["status"], "degraded");
    let reason = health["reasons"][0].as_str().unwrap();
    assert!(
        reason.starts_with("memory: RSS ")
            && reason.contains("over the reject mark (943718 bytes of the 1048576-byte limit)"),
        "{reason}"
    );
    let ready = get(port, "/ready");
    assert_eq!((ready.status, ready.text()), (503, r#"{"ready":false,"status":"memory"}"#));
    assert_eq!(metric(port, r#"ringmcp_memory_limit_bytes{source="configured"}"#), LIMIT as f64);
    assert_eq!(metric(port, "ringmcp_memory_reject_bytes"), 943_718.0);
    assert_eq!(metric(port, "ringmcp_memory_state"), 2.0);
    assert!(metric(port, "ringmcp_memory_rss_bytes") > LIMIT as f64);
    assert_eq!(metric(port, r#"ringmcp_errors_total{core="0",code="-32010"}"#), 2.0, "the HTTP requests");
}

#[test]
fn between_the_marks_health_is_degraded_and_requests_are_served() {
    // warn at 1 % of 1 GiB (about 10 MiB, below any RSS), reject at 100 % (far above).
    let args = ["--cores", "1", "--memory-limit-bytes", "1073741824", "--memory-warn-percent", "1"];
    let server = Server::start(&[&args[..], &["--memory-reject-percent", "100"]].concat());
    let mut conn = server.connect();
    assert!(conn.initialize()["serverInfo"].is_object());
    let health: Value = get(server.port, "/health").json();
    assert_eq!(health["status"], "degraded");
    assert!(health["reasons"][0]
        .as_str()
        .unwrap()
        .contains("over the warn mark (10737418 bytes of the 1073741824-byte limit)"));
    assert_eq!(get(server.port, "/ready").status, 200);
    assert_eq!(metric(server.port, "ringmcp_memory_state"), 1.0);
}

#[test]
fn crossing_the_reject_mark_refuses_new_requests_but_keeps_what_was_admitted() {
    // The server starts near 35 MiB; warn at 60 MiB, reject at 80 MiB. Unfinished 4 MiB
    // lines on 16 other connections push the RSS well past it.
    const LIMIT: u64 = 80 << 20;
    let args = ["--cores", "1", "--memory-limit-bytes", "83886080", "--memory-warn-percent", "75"];
    let server = Server::start(&[&args[..], &["--memory-reject-percent", "100"]].concat());
    let mut admitted = server.connect();
    assert!(admitted.initialize()["serverInfo"].is_object());
    let mut hogs = Vec::new();
    let chunk = vec![b'a'; 4 << 20];
    for _ in 0..16 {
        // Once the RSS is past the reject mark, new connections are refused (reset while
        // this one still writes): enough hogs are in by then.
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", server.port)) else { break };
        let wrote = s.write_all(br#"{"jsonrpc":"2.0","id":1,"method":"ping","x":""#).and_then(|()| s.write_all(&chunk));
        if wrote.is_err() {
            break;
        }
        hogs.push(s);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while metric(server.port, "ringmcp_memory_state") < 2.0 {
        assert!(Instant::now() < deadline, "RSS did not pass the reject mark");
        std::thread::sleep(Duration::from_millis(50));
    }
    // A new request on the admitted connection: -32010 memory; the connection stays open.
    assert_eq!(admitted.call(r#"{"jsonrpc":"2.0","id":5,"method":"ping"}"#), memory_error("5", LIMIT, 100));
    assert_eq!(admitted.call(r#"{"jsonrpc":"2.0","id":6,"method":"ping"}"#), memory_error("6", LIMIT, 100));
}
