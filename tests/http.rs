//! The HTTP side of the shared port, black-box: Streamable HTTP at /mcp (sessions, refusals,
//! SSE answers, resumption), Host/Origin checks, size limits and timeouts, keep-alive and
//! pipelining, stateless mode, /health, /ready, /metrics, draining, and one session driven
//! from both cores. Every request is raw bytes over a TcpStream; every answer is compared
//! exactly.

mod common;

use common::{http_session, Conn, HttpConn, HttpResponse, Req, Server, INIT};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

const TOOLS_LIST: &str = r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#;
const TOOLS_LIST_ANSWER: &str = r#"{"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"echo","description":"Returns its text unchanged","inputSchema":{"type":"object","properties":{"text":{"type":"string","description":"Text to echo"}},"required":["text"]}},{"name":"add","description":"Adds two numbers","inputSchema":{"type":"object","properties":{"a":{"type":"number"},"b":{"type":"number"}},"required":["a","b"]},"outputSchema":{"type":"object","properties":{"sum":{"type":"number"}},"required":["sum"]}},{"name":"sleep","description":"Answers after `ms` milliseconds without blocking the server","inputSchema":{"type":"object","properties":{"ms":{"type":"integer","minimum":0,"maximum":600000}},"required":["ms"]}}]}}"#;
const INITIALIZED: &str = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
const SESSION_REQUIRED: &str =
    r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32000,"message":"Bad Request: Mcp-Session-Id header is required"}}"#;
const SESSION_UNKNOWN: &str = r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32000,"message":"Not Found: unknown or ended session; initialize a new one"}}"#;
const SESSION_MALFORMED: &str =
    r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32000,"message":"Not Found: unknown or ended session"}}"#;

fn echo(id: u64, text: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"echo","arguments":{{"text":"{text}"}}}}}}"#
    )
}

fn echo_answer(id: u64, text: &str) -> String {
    format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{{"content":[{{"type":"text","text":"{text}"}}]}}}}"#)
}

fn call_tool(id: u64, name: &str, extra: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{name}","arguments":{{}}{extra}}}}}"#
    )
}

/// Asserts a whole JSON answer: status, exact headers (names in order), exact body.
fn assert_json(resp: &HttpResponse, status: u16, extra_headers: &[(&str, &str)], body: &str) {
    assert_eq!((resp.status, resp.text()), (status, body), "{resp:?}");
    let mut want = vec![("content-type".to_string(), "application/json".to_string())];
    want.extend(extra_headers.iter().map(|(n, v)| (n.to_string(), v.to_string())));
    want.push(("content-length".to_string(), body.len().to_string()));
    assert_eq!(resp.headers, want, "{resp:?}");
}

/// Asserts a transport refusal: `status`, a JSON-RPC error body with `code` and `message`,
/// the connection kept open (no `Connection: close`).
fn assert_refused(resp: &HttpResponse, status: u16, extra_headers: &[(&str, &str)], code: i32, message: &str) {
    let body = format!(r#"{{"jsonrpc":"2.0","id":null,"error":{{"code":{code},"message":"{message}"}}}}"#);
    assert_json(resp, status, extra_headers, &body);
}

/// Asserts the answer that ends a connection (`finish` in http_conn): status, -32600 body,
/// `Connection: close`, then EOF.
fn assert_fatal(conn: &mut HttpConn, status: u16, message: &str) {
    let resp = conn.read_response();
    let body = format!(r#"{{"jsonrpc":"2.0","id":null,"error":{{"code":-32600,"message":"{message}"}}}}"#);
    assert_eq!((resp.status, resp.text()), (status, body.as_str()), "{resp:?}");
    assert_eq!(resp.header_names(), ["content-type", "content-length", "connection"], "{resp:?}");
    assert_eq!(resp.header("connection"), Some("close"));
    conn.expect_closed();
}

// ---- sniffing ----

/// A server started with `args`, one initialized HTTP session on it, and a fresh keep-alive
/// connection (the session is not bound to it).
fn one_session(args: &[&str]) -> (Server, u16, String, HttpConn) {
    let server = Server::start(args);
    let port = server.port;
    let sid = http_session(port);
    let conn = HttpConn::connect(port);
    (server, port, sid, conn)
}

#[test]
fn ndjson_and_http_share_one_port() {
    let server = Server::start(&["--cores", "1"]);
    let mut ndjson = Conn::tcp(server.port);
    assert_eq!(ndjson.call(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#), r#"{"jsonrpc":"2.0","id":1,"result":{}}"#);
    let mut http = HttpConn::connect(server.port);
    let health = http.call(&Req::new("GET", "/health", server.port));
    assert_eq!((health.status, health.reason.as_str()), (200, "OK"));
    assert_eq!(health.header_names(), ["content-type", "cache-control", "content-length"]);
    assert_eq!(health.json()["status"], "healthy");
    // The NDJSON connection is unaffected by the HTTP one.
    assert_eq!(ndjson.call(r#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#), r#"{"jsonrpc":"2.0","id":2,"result":{}}"#);
}

// ---- Streamable HTTP: sessions ----

#[test]
fn initialize_opens_a_session_named_by_mcp_session_id_and_later_requests_use_it() {
    let server = Server::start(&["--cores", "1"]);
    let port = server.port;
    let mut conn = HttpConn::connect(port);
    let init = conn.call(&Req::mcp(port, INIT));
    assert_eq!(init.status, 200, "{init:?}");
    assert_eq!(init.header_names(), ["content-type", "mcp-session-id", "content-length"]);
    assert_eq!(init.header("content-type"), Some("application/json"));
    let sid = init.header("mcp-session-id").unwrap().to_string();
    assert_eq!(sid.len(), 32, "{sid}");
    assert!(sid.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "lower-case hex: {sid}");
    let answer = init.json();
    assert_eq!(answer["id"], 0);
    assert_eq!(answer["result"]["protocolVersion"], "2025-11-25");
    assert_eq!(answer["result"]["serverInfo"], serde_json::json!({"name": "ringmcp", "version": "0.1.0"}));
    assert_eq!(answer["result"]["_meta"]["io.ringmcp/session"], sid.as_str(), "the id in the header is the session's");
    let ack = conn.call(&Req::mcp_in(port, &sid, INITIALIZED));
    assert_eq!(
        (ack.status, ack.headers.clone(), ack.body.len()),
        (202, vec![("content-length".into(), "0".into())], 0)
    );
    assert_json(&conn.call(&Req::mcp_in(port, &sid, TOOLS_LIST)), 200, &[], TOOLS_LIST_ANSWER);
    assert_json(&conn.call(&Req::mcp_in(port, &sid, &echo(3, "hi"))), 200, &[], &echo_answer(3, "hi"));
    // The session is not bound to the connection.
    let mut other = HttpConn::connect(port);
    assert_json(&other.call(&Req::mcp_in(port, &sid, &echo(4, "there"))), 200, &[], &echo_answer(4, "there"));
}

#[test]
fn missing_unknown_and_malformed_session_ids_are_refused_and_the_connection_stays_usable() {
    let (_server, port, sid, mut conn) = one_session(&["--cores", "1"]);
    let resp = conn.call(&Req::mcp(port, TOOLS_LIST));
    assert_json(&resp, 400, &[], SESSION_REQUIRED);
    let unknown = "0123456789abcdef0123456789abcdef";
    assert_ne!(unknown, sid);
    assert_json(&conn.call(&Req::mcp_in(port, unknown, TOOLS_LIST)), 404, &[], SESSION_UNKNOWN);
    for malformed in ["not-a-session", &sid[..31], &sid.to_ascii_uppercase(), &format!("{sid}0")] {
        if malformed == sid {
            continue; // an id without letters is its own upper case
        }
        let resp = conn.call(&Req::mcp_in(port, malformed, TOOLS_LIST));
        assert_json(&resp, 404, &[], SESSION_MALFORMED);
    }
    assert_json(&conn.call(&Req::mcp_in(port, &sid, TOOLS_LIST)), 200, &[], TOOLS_LIST_ANSWER);
}

#[test]
fn notifications_and_client_responses_are_accepted_with_202_and_no_body() {
    let (_server, port, sid, mut conn) = one_session(&["--cores", "1"]);
    let accepted = vec![("content-length".to_string(), "0".to_string())];
    for message in [
        r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":99}}"#,
        r#"{"jsonrpc":"2.0","id":5,"result":{}}"#,
        r#"{"jsonrpc":"2.0","id":6,"error":{"code":-1,"message":"no"}}"#,
    ] {
        let resp = conn.call(&Req::mcp_in(port, &sid, message));
        assert_eq!((resp.status, resp.reason.as_str(), &resp.headers), (202, "Accepted", &accepted), "{message}");
        assert!(resp.body.is_empty());
    }
}

#[test]
fn invalid_json_body_gets_400_with_a_parse_error() {
    let (_server, port, sid, mut conn) = one_session(&["--cores", "1"]);
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"#;
    let parse_error = r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error: invalid JSON"}}"#;
    assert_json(&conn.call(&Req::mcp_in(port, &sid, body)), 400, &[], parse_error);
    // Without a session too: the body is judged first.
    assert_json(&conn.call(&Req::mcp(port, body)), 400, &[], parse_error);
    assert_json(&conn.call(&Req::mcp_in(port, &sid, &echo(1, "ok"))), 200, &[], &echo_answer(1, "ok"));
    // Both are counted as errors, as they would be over NDJSON or WebSocket.
    let samples = scrape(port);
    assert_eq!(metric_sum(&samples, "ringmcp_errors_total", "code", "-32700"), 2.0);
}

#[test]
fn post_needs_an_accept_of_json_and_sse_and_a_json_content_type() {
    let (_server, port, sid, mut conn) = one_session(&["--cores", "1"]);
    let not_acceptable = "Not Acceptable: Accept must list application/json and text/event-stream";
    for accept in ["application/json", "text/event-stream", "text/html"] {
        let resp = conn.call(&Req::mcp_in(port, &sid, TOOLS_LIST).set("Accept", accept));
        assert_refused(&resp, 406, &[], -32000, not_acceptable);
    }
    let unsupported = "Unsupported Media Type: Content-Type must be application/json";
    let resp = conn.call(&Req::mcp_in(port, &sid, TOOLS_LIST).set("Content-Type", "text/plain"));
    assert_refused(&resp, 415, &[], -32000, unsupported);
    let resp = conn.call(&Req::mcp_in(port, &sid, TOOLS_LIST).without("Content-Type"));
    assert_refused(&resp, 415, &[], -32000, unsupported);
    // Wildcards, parameters and a charset are fine.
    let req =
        Req::mcp_in(port, &sid, TOOLS_LIST).set("Accept", "*/*").set("Content-Type", "application/json; charset=utf-8");
    assert_json(&conn.call(&req), 200, &[], TOOLS_LIST_ANSWER);
}

#[test]
fn mcp_protocol_version_header_must_name_a_supported_version() {
    let (_server, port, sid, mut conn) = one_session(&["--cores", "1"]);
    // A version of neither era: -32022 listing the versions served without a session (the
    // session era's are negotiated by initialize), with the request's id.
    let resp = conn.call(&Req::mcp_in(port, &sid, TOOLS_LIST).header("MCP-Protocol-Version", "1999-01-01"));
    let body = r#"{"jsonrpc":"2.0","id":2,"error":{"code":-32022,"message":"Unsupported protocol version 1999-01-01; supported: 2026-07-28","data":{"supported":["2026-07-28"],"requested":"1999-01-01"}}}"#;
    assert_json(&resp, 400, &[], body);
    for version in ["2025-03-26", "2025-11-25"] {
        let resp = conn.call(&Req::mcp_in(port, &sid, TOOLS_LIST).header("MCP-Protocol-Version", version));
        assert_json(&resp, 200, &[], TOOLS_LIST_ANSWER);
    }
}

#[test]
fn delete_ends_the_session_and_its_id_is_then_unknown() {
    let (_server, port, sid, mut conn) = one_session(&["--cores", "1"]);
    let delete = Req::new("DELETE", "/mcp", port).header("Mcp-Session-Id", &sid);
    let resp = conn.call(&delete);
    assert_eq!((resp.status, &resp.headers), (200, &vec![("content-length".to_string(), "0".to_string())]));
    assert_json(&conn.call(&Req::mcp_in(port, &sid, TOOLS_LIST)), 404, &[], SESSION_UNKNOWN);
    assert_json(&conn.call(&delete), 404, &[], SESSION_UNKNOWN);
    let get = Req::new("GET", "/mcp", port).header("Mcp-Session-Id", &sid).header("Accept", "text/event-stream");
    assert_json(&conn.call(&get), 404, &[], SESSION_UNKNOWN);
    let resp = conn.call(&Req::new("DELETE", "/mcp", port));
    assert_json(&resp, 400, &[], SESSION_REQUIRED);
}

#[test]
fn delete_gets_405_with_allow_when_sessions_cannot_be_deleted() {
    let (_server, port, sid, mut conn) = one_session(&["--cores", "1", "--no-session-delete"]);
    let resp = conn.call(&Req::new("DELETE", "/mcp", port).header("Mcp-Session-Id", &sid));
    let message = "Method Not Allowed: sessions cannot be ended by DELETE here";
    assert_refused(&resp, 405, &[("allow", "GET, POST")], -32000, message);
    assert_json(&conn.call(&Req::mcp_in(port, &sid, TOOLS_LIST)), 200, &[], TOOLS_LIST_ANSWER);
}

#[test]
fn get_opens_the_session_stream_with_a_priming_event_and_a_second_one_conflicts() {
    let (_server, port, sid, mut conn) = one_session(&["--cores", "1"]);
    let get = Req::new("GET", "/mcp", port).header("Accept", "text/event-stream");
    assert_json(&conn.call(&get), 400, &[], SESSION_REQUIRED);
    let get = get.header("Mcp-Session-Id", &sid);
    let resp = conn.call(&get.clone().set("Accept", "application/json"));
    assert_refused(&resp, 406, &[], -32000, "Not Acceptable: Accept must list text/event-stream");
    conn.send(&get.bytes());
    let head = conn.read_sse_head();
    assert_eq!(
        head.header_names(),
        ["content-type", "cache-control", "x-accel-buffering", "transfer-encoding"],
        "{head:?}"
    );
    assert_eq!(head.header("cache-control"), Some("no-cache"));
    assert_eq!(conn.next_event().as_deref(), Some("id: 0:1\nretry: 1000\ndata: "));
    let mut second = HttpConn::connect(port);
    let resp = second.call(&get);
    assert_refused(&resp, 409, &[], -32000, "Conflict: this session's GET stream is already open");
    // Requests answered on their own streams send nothing on the GET stream.
    assert_json(&second.call(&Req::mcp_in(port, &sid, &echo(7, "x"))), 200, &[], &echo_answer(7, "x"));
    conn.expect_silence(Duration::from_millis(200));
}

#[test]
fn other_methods_on_mcp_get_405_with_allow_and_other_paths_404() {
    let (_server, port, sid, mut conn) = one_session(&["--cores", "1"]);
    for method in ["PUT", "PATCH"] {
        let req = Req::new(method, "/mcp", port).header("Mcp-Session-Id", &sid);
        let resp = conn.call(&req);
        assert_refused(&resp, 405, &[("allow", "GET, POST, DELETE, OPTIONS")], -32000, "Method Not Allowed");
    }
    let resp = conn.call(&Req::new("GET", "/nope", port));
    assert_refused(&resp, 404, &[], -32600, "Not Found: /nope; MCP is served at /mcp");
}

// ---- Streamable HTTP: SSE answers ----

#[test]
fn post_listing_sse_first_is_answered_with_priming_then_result_events() {
    let (_server, port, sid, mut conn) = one_session(&["--cores", "1"]);
    conn.send(&Req::mcp_in(port, &sid, TOOLS_LIST).set("Accept", "text/event-stream, application/json").bytes());
    let head = conn.read_sse_head();
    assert_eq!(
        head.header_names(),
        ["content-type", "cache-control", "x-accel-buffering", "transfer-encoding"],
        "{head:?}"
    );
    // Stream 1 was initialize's; this request's stream is number 2.
    let events = conn.rest_of_events();
    let result = format!("event: message\nid: 2:2\ndata: {TOOLS_LIST_ANSWER}");
    assert_eq!(events, ["id: 2:1\nretry: 1000\ndata: ".to_string(), result]);
    // The stream ended with its last chunk; the connection is kept alive.
    assert_json(&conn.call(&Req::mcp_in(port, &sid, &echo(3, "after"))), 200, &[], &echo_answer(3, "after"));
}

fn progress(step: u32) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","method":"notifications/progress","params":{{"progressToken":"tok","progress":{step},"total":100,"message":"Completed step {step} of 100"}}}}"#
    )
}

fn log(data: &str) -> String {
    format!(r#"{{"jsonrpc":"2.0","method":"notifications/message","params":{{"level":"info","data":"{data}"}}}}"#)
}

/// The exact events of an SSE answer on stream `no`: priming, then `messages` as events.
fn sse_events(no: u32, messages: &[String]) -> Vec<String> {
    let mut events = vec![format!("id: {no}:1\nretry: 1000\ndata: ")];
    events.extend(messages.iter().enumerate().map(|(i, m)| format!("event: message\nid: {no}:{}\ndata: {m}", i + 2)));
    events
}

#[test]
fn progress_notifications_come_as_sse_events_before_the_result() {
    let (_server, port, sid, mut conn) = one_session(&["--cores", "1", "--pack", "conformance"]);
    // JSON is listed first: the answer becomes a stream because messages precede the result.
    let body = call_tool(5, "test_tool_with_progress", r#","_meta":{"progressToken":"tok"}"#);
    conn.send(&Req::mcp_in(port, &sid, &body).bytes());
    conn.read_sse_head();
    let result = r#"{"jsonrpc":"2.0","id":5,"result":{"content":[{"type":"text","text":"Progress test completed: 3 notifications sent"}]}}"#;
    assert_eq!(conn.rest_of_events(), sse_events(2, &[progress(0), progress(50), progress(100), result.to_string()]));
}

#[test]
fn log_messages_come_as_sse_events_before_the_result() {
    let (_server, port, sid, mut conn) = one_session(&["--cores", "1", "--pack", "conformance"]);
    conn.send(&Req::mcp_in(port, &sid, &call_tool(6, "test_tool_with_logging", "")).bytes());
    conn.read_sse_head();
    let result = r#"{"jsonrpc":"2.0","id":6,"result":{"content":[{"type":"text","text":"Tool with logging executed successfully"}]}}"#;
    let messages =
        [log("Tool execution started"), log("Tool processing data"), log("Tool execution completed"), result.into()];
    assert_eq!(conn.rest_of_events(), sse_events(2, &messages));
    // Without messages first and JSON listed first, the same pack answers with JSON.
    let simple = r#"{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"This is a simple text response for testing."}]}}"#;
    assert_json(&conn.call(&Req::mcp_in(port, &sid, &call_tool(7, "test_simple_text", ""))), 200, &[], simple);
}

#[test]
fn a_stream_closed_by_the_server_is_resumed_with_last_event_id() {
    let (_server, port, sid, mut conn) = one_session(&["--cores", "1", "--pack", "conformance"]);
    conn.send(&Req::mcp_in(port, &sid, &call_tool(1, "test_reconnection", "")).bytes());
    conn.read_sse_head();
    // Only the priming event, then the stream ends without the result.
    assert_eq!(conn.rest_of_events(), ["id: 2:1\nretry: 1000\ndata: "]);
    let get = Req::new("GET", "/mcp", port)
        .header("Accept", "text/event-stream")
        .header("Mcp-Session-Id", &sid)
        .header("Last-Event-ID", "2:1");
    conn.send(&get.bytes());
    let head = conn.read_sse_head();
    assert_eq!(
        head.header_names(),
        ["content-type", "cache-control", "x-accel-buffering", "transfer-encoding"],
        "{head:?}"
    );
    let result = r#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"Reconnection test completed successfully. If you received this, the client properly reconnected after stream closure."}]}}"#;
    assert_eq!(conn.rest_of_events(), [format!("event: message\nid: 2:2\ndata: {result}")]);
    // Resuming again after the result's id gives an empty, ended stream.
    conn.send(&get.set("Last-Event-ID", "2:2").bytes());
    conn.read_sse_head();
    assert_eq!(conn.rest_of_events(), Vec::<String>::new());
}

// ---- Host and Origin ----

#[test]
fn foreign_host_or_origin_is_forbidden() {
    let server = Server::start(&["--cores", "1"]);
    let port = server.port;
    let mut conn = HttpConn::connect(port);
    let resp = conn.call(&Req::mcp(port, INIT).set("Host", "evil.example.com"));
    assert_refused(&resp, 403, &[], -32000, "Forbidden: Host evil.example.com is not allowed");
    let resp = conn.call(&Req::mcp(port, INIT).set("Host", "evil.example.com:80"));
    assert_refused(&resp, 403, &[], -32000, "Forbidden: Host evil.example.com:80 is not allowed");
    let resp = conn.call(&Req::mcp(port, INIT).header("Origin", "http://evil.example.com"));
    assert_refused(&resp, 403, &[], -32000, "Forbidden: Origin http://evil.example.com is not allowed");
    let init = conn.call(&Req::mcp(port, INIT).set("Host", &format!("localhost:{port}")));
    assert_eq!(init.status, 200, "{init:?}");
    let sid = init.header("mcp-session-id").unwrap();
    // An allowed Origin may read the answer and its session header (CORS).
    let req = Req::mcp_in(port, sid, TOOLS_LIST).header("Origin", "http://localhost:6274");
    assert_json(&conn.call(&req), 200, CORS_LOCALHOST, TOOLS_LIST_ANSWER);
}

const CORS_LOCALHOST: &[(&str, &str)] = &[
    ("access-control-allow-origin", "http://localhost:6274"),
    ("access-control-expose-headers", "Mcp-Session-Id, MCP-Protocol-Version"),
    ("vary", "Origin"),
];

#[test]
fn cors_preflight_from_an_allowed_origin_gets_204_and_a_foreign_one_403() {
    let server = Server::start(&["--cores", "1"]);
    let port = server.port;
    let mut conn = HttpConn::connect(port);
    let preflight = Req::new("OPTIONS", "/mcp", port)
        .header("Origin", "http://localhost:6274")
        .header("Access-Control-Request-Method", "POST");
    let resp = conn.call(&preflight);
    assert_eq!((resp.status, resp.reason.as_str(), resp.body.len()), (204, "No Content", 0), "{resp:?}");
    let mut want: Vec<(String, String)> = CORS_LOCALHOST.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
    want.extend(
        [
            ("access-control-allow-methods", "GET, POST, DELETE, OPTIONS"),
            (
                "access-control-allow-headers",
                "Content-Type, Accept, Authorization, Mcp-Session-Id, MCP-Protocol-Version, Last-Event-ID",
            ),
            ("access-control-max-age", "86400"),
            ("content-length", "0"),
        ]
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string())),
    );
    assert_eq!(resp.headers, want);
    let resp = conn.call(&preflight.set("Origin", "http://evil.example.com"));
    assert_refused(&resp, 403, &[], -32000, "Forbidden: Origin http://evil.example.com is not allowed");
    // The session header is readable on an initialize from the browser.
    let init = conn.call(&Req::mcp(port, INIT).header("Origin", "http://localhost:6274"));
    assert_eq!(init.status, 200);
    assert_eq!(
        init.header_names(),
        [
            "content-type",
            "mcp-session-id",
            "access-control-allow-origin",
            "access-control-expose-headers",
            "vary",
            "content-length"
        ]
    );
}

#[test]
fn allowed_hosts_star_allows_any_host() {
    let server = Server::start(&["--cores", "1", "--allowed-hosts", "*"]);
    let port = server.port;
    let mut conn = HttpConn::connect(port);
    let init = conn.call(&Req::mcp(port, INIT).set("Host", "evil.example.com"));
    assert_eq!(init.status, 200, "{init:?}");
    assert_eq!(init.header("mcp-session-id").map(str::len), Some(32));
    // Origin is a separate list: still refused.
    let resp = conn.call(&Req::mcp(port, INIT).header("Origin", "http://evil.example.com"));
    assert_refused(&resp, 403, &[], -32000, "Forbidden: Origin http://evil.example.com is not allowed");
}

// ---- limits and timeouts ----

#[test]
fn headers_over_max_header_bytes_get_431_and_the_connection_closes() {
    let server = Server::start(&["--cores", "1", "--max-header-bytes", "1024"]);
    let port = server.port;
    let mut conn = HttpConn::connect(port);
    // Just under the limit is served.
    let fits = Req::new("GET", "/ready", port).header("X-Pad", &"a".repeat(900));
    assert!(fits.bytes().len() <= 1024);
    assert_eq!(conn.call(&fits).status, 200);
    conn.send(&Req::new("GET", "/ready", port).header("X-Pad", &"a".repeat(1100)).bytes());
    assert_fatal(&mut conn, 431, "Request Header Fields Too Large: request line and headers exceed max_header_bytes");
}

#[test]
fn body_over_max_message_bytes_gets_413_and_the_connection_closes() {
    let (_server, port, sid, mut conn) = one_session(&["--cores", "1", "--max-message-bytes", "1024"]);
    // A body of exactly the limit is served (JSON padded with spaces).
    let body = echo(1, "fits");
    let padded = format!("{body}{}", " ".repeat(1024 - body.len()));
    assert_json(&conn.call(&Req::mcp_in(port, &sid, &padded)), 200, &[], &echo_answer(1, "fits"));
    // One byte more is refused from the head alone (the body is not sent).
    let head = Req::mcp_in(port, &sid, "").header("Content-Length", "1025");
    conn.send(&head.bytes());
    assert_fatal(&mut conn, 413, "Content Too Large: body of 1025 bytes exceeds max_message_bytes (1024)");
}

#[test]
fn chunked_request_body_gets_411_and_the_connection_closes() {
    let server = Server::start(&["--cores", "1"]);
    let port = server.port;
    let mut conn = HttpConn::connect(port);
    conn.send(&Req::mcp(port, "").header("Transfer-Encoding", "chunked").bytes());
    assert_fatal(&mut conn, 411, "Length Required: chunked request bodies are not supported; send Content-Length");
}

#[test]
fn a_stalled_request_head_gets_408_then_close() {
    let server = Server::start(&["--cores", "1", "--header-timeout-ms", "300"]);
    let mut conn = HttpConn::connect(server.port);
    let start = Instant::now();
    conn.send(b"POST /mcp HTTP/1.1\r\nHost: 127.0");
    assert_fatal(&mut conn, 408, "Request Timeout: request head not received in time");
    let waited = start.elapsed();
    assert!(waited >= Duration::from_millis(250) && waited < Duration::from_millis(1500), "{waited:?}");
}

#[test]
fn a_stalled_request_body_gets_408_then_close() {
    let server = Server::start(&["--cores", "1", "--header-timeout-ms", "300"]);
    let port = server.port;
    let mut conn = HttpConn::connect(port);
    conn.send(&Req::mcp(port, "").set("Content-Length", "40").bytes());
    conn.send(b"{\"jsonrpc\"");
    assert_fatal(&mut conn, 408, "Request Timeout: request body not received in time");
}

#[test]
fn an_idle_keep_alive_connection_is_closed_after_idle_timeout() {
    let server = Server::start(&["--cores", "1", "--idle-timeout-ms", "300"]);
    let mut conn = HttpConn::connect(server.port);
    let start = Instant::now();
    assert_eq!(conn.call(&Req::new("GET", "/ready", server.port)).status, 200);
    expect_closed_after_idle_300ms(&mut conn, start);
}

/// `conn` hears nothing, then is closed about 300 ms (`--idle-timeout-ms 300`) after `since`.
fn expect_closed_after_idle_300ms(conn: &mut HttpConn, since: Instant) {
    conn.expect_silence(Duration::from_millis(100));
    conn.expect_closed();
    let waited = since.elapsed();
    assert!(waited >= Duration::from_millis(250) && waited < Duration::from_millis(1500), "{waited:?}");
}

#[test]
fn a_connection_that_never_sends_a_byte_is_closed_after_idle_timeout() {
    let server = Server::start(&["--cores", "1", "--idle-timeout-ms", "300"]);
    let mut silent = HttpConn::connect(server.port);
    expect_closed_after_idle_300ms(&mut silent, Instant::now());
    // The server goes on serving others.
    assert_eq!(HttpConn::connect(server.port).call(&Req::new("GET", "/ready", server.port)).status, 200);
}

#[test]
fn pipelined_requests_are_answered_in_order_on_one_connection() {
    let (_server, port, sid, mut conn) = one_session(&["--cores", "1"]);
    let sleep = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"sleep","arguments":{"ms":100}}}"#;
    let mut batch = Req::mcp_in(port, &sid, sleep).bytes();
    batch.extend(Req::new("GET", "/ready", port).bytes());
    batch.extend(Req::mcp_in(port, &sid, &echo(2, "third")).bytes());
    conn.send(&batch);
    let slept = r#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"slept 100 ms"}]}}"#;
    assert_json(&conn.read_response(), 200, &[], slept);
    let ready = conn.read_response();
    assert_eq!((ready.status, ready.text()), (200, r#"{"ready":true}"#));
    assert_json(&conn.read_response(), 200, &[], &echo_answer(2, "third"));
    conn.expect_silence(Duration::from_millis(100));
}

#[test]
fn connection_close_and_http_1_0_end_the_connection_after_the_answer() {
    let server = Server::start(&["--cores", "1"]);
    let port = server.port;
    let mut conn = HttpConn::connect(port);
    let ready = conn.call(&Req::new("GET", "/ready", port).header("Connection", "close"));
    assert_eq!((ready.status, ready.text()), (200, r#"{"ready":true}"#));
    assert_eq!(ready.header_names(), ["content-type", "cache-control", "content-length", "connection"]);
    assert_eq!(ready.header("connection"), Some("close"));
    conn.expect_closed();
    let mut old = HttpConn::connect(port);
    old.send(b"GET /ready HTTP/1.0\r\n\r\n");
    let ready = old.read_response();
    assert_eq!((ready.status, ready.header("connection")), (200, Some("close")));
    old.expect_closed();
    let mut kept = HttpConn::connect(port);
    kept.send(b"GET /ready HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    let ready = kept.read_response();
    assert_eq!((ready.status, ready.header("connection")), (200, None));
    assert_eq!(kept.call(&Req::new("GET", "/ready", port)).status, 200);
}

// ---- stateless ----

#[test]
fn stateless_posts_need_no_session_and_get_and_delete_are_405() {
    let server = Server::start(&["--cores", "1", "--stateless"]);
    let port = server.port;
    let mut conn = HttpConn::connect(port);
    let init = conn.call(&Req::mcp(port, INIT));
    assert_eq!(init.status, 200, "{init:?}");
    assert_eq!(init.header_names(), ["content-type", "content-length"], "no Mcp-Session-Id");
    assert_eq!(init.json()["result"]["protocolVersion"], "2025-11-25");
    assert_json(&conn.call(&Req::mcp(port, TOOLS_LIST)), 200, &[], TOOLS_LIST_ANSWER);
    assert_json(&conn.call(&Req::mcp(port, &echo(3, "alone"))), 200, &[], &echo_answer(3, "alone"));
    // A session header is ignored, whatever it holds.
    assert_json(&conn.call(&Req::mcp_in(port, "nonsense", &echo(4, "x"))), 200, &[], &echo_answer(4, "x"));
    let message = "Method Not Allowed: stateless server; only POST";
    let get = Req::new("GET", "/mcp", port).header("Accept", "text/event-stream");
    assert_refused(&conn.call(&get), 405, &[("allow", "POST, OPTIONS")], -32000, message);
    let delete = Req::new("DELETE", "/mcp", port);
    assert_refused(&conn.call(&delete), 405, &[("allow", "POST, OPTIONS")], -32000, message);
}

// ---- /health, /ready, /metrics ----

#[test]
fn health_reports_every_documented_field_for_each_core() {
    let server = Server::start(&["--cores", "2"]);
    let mut conn = HttpConn::connect(server.port);
    let resp = conn.call(&Req::new("GET", "/health", server.port));
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.headers[..2],
        [("content-type".into(), "application/json".into()), ("cache-control".into(), "no-store".into())]
    );
    let health = resp.json();
    let keys: Vec<&str> = health.as_object().unwrap().keys().map(String::as_str).collect();
    let mut want = [
        "status",
        "connections",
        "queue_depth",
        "memory_mb",
        "throughput_msg_sec",
        "errors_1m",
        "sessions",
        "sessions_by_transport",
        "session_fill_percent",
        "breakers_open",
        "io_path",
        "cores",
    ];
    let mut got = keys.clone();
    got.sort();
    want.sort();
    assert_eq!(got, want, "{health}");
    assert_eq!(health["status"], "healthy");
    assert_eq!(health["connections"], 1, "only this connection is open: {health}");
    assert_eq!((health["queue_depth"].as_u64(), health["errors_1m"].as_u64()), (Some(0), Some(0)));
    assert_eq!(health["sessions"], 0);
    assert_eq!(health["sessions_by_transport"], serde_json::json!({"tcp": 0, "http": 0, "websocket": 0, "stdio": 0}));
    let empty = serde_json::json!({"registry": 0.0, "tcp": 0.0, "http": 0.0, "websocket": 0.0});
    assert_eq!(health["session_fill_percent"], empty);
    assert!(health["memory_mb"].as_f64().unwrap() > 0.0, "{health}");
    assert!(health["throughput_msg_sec"].is_number());
    let cores = health["cores"].as_array().unwrap();
    assert_eq!(cores.len(), 2, "{health}");
    for (i, core) in cores.iter().enumerate() {
        let mut keys: Vec<&str> = core.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "connections",
                "core",
                "io_path",
                "messages",
                "queue_depth",
                "recv_buffers_out",
                "sessions",
                "throughput_msg_sec"
            ]
        );
        assert_eq!(core["core"], i);
        assert_eq!(core["io_path"], health["io_path"], "every core runs the path the server reports");
        assert!(health["io_path"] == "multishot" || health["io_path"] == "fallback", "{health}");
        assert_eq!((core["queue_depth"].as_u64(), core["sessions"].as_u64()), (Some(0), Some(0)));
        assert_eq!(core["messages"], 0);
        assert!(core["throughput_msg_sec"].is_number());
    }
    let per_core: u64 = cores.iter().map(|c| c["connections"].as_u64().unwrap()).sum();
    assert_eq!(per_core, 1, "{health}");
    // A session shows up, on the core that owns it.
    let _sid = http_session(server.port);
    let health = conn.call(&Req::new("GET", "/health", server.port)).json();
    assert_eq!(health["sessions"], 1, "{health}");
    assert_eq!(health["sessions_by_transport"]["http"], 1, "{health}");
}

#[test]
fn ready_is_200_while_serving() {
    let server = Server::start(&["--cores", "1"]);
    let mut conn = HttpConn::connect(server.port);
    let ready = conn.call(&Req::new("GET", "/ready", server.port));
    assert_eq!((ready.status, ready.text()), (200, r#"{"ready":true}"#));
    assert_eq!(ready.header_names(), ["content-type", "cache-control", "content-length"]);
    assert_eq!(ready.header("cache-control"), Some("no-store"));
}

#[test]
fn ready_is_503_while_draining_after_the_in_flight_request_is_answered() {
    let mut server = Server::start(&["--cores", "1"]);
    let port = server.port;
    let sid = http_session(port);
    let mut conn = HttpConn::connect(port);
    let sleep = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"sleep","arguments":{"ms":800}}}"#;
    let mut batch = Req::mcp_in(port, &sid, sleep).bytes();
    batch.extend(Req::new("GET", "/ready", port).bytes());
    conn.send(&batch);
    std::thread::sleep(Duration::from_millis(200));
    server.send_signal(libc::SIGTERM);
    let slept = r#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"slept 800 ms"}]}}"#;
    assert_json(&conn.read_response(), 200, &[], slept);
    let ready = conn.read_response();
    assert_eq!((ready.status, ready.text()), (503, r#"{"ready":false,"status":"draining"}"#), "{ready:?}");
    assert_eq!(ready.header("connection"), Some("close"));
    conn.expect_closed();
    assert_eq!(server.wait_exit(Duration::from_secs(2)).and_then(|s| s.code()), Some(0));
}

/// Behind a balancer: SIGTERM with `shutdown_delay_ms` makes /ready 503 at once while the same
/// keep-alive connection keeps being served; after the delay the drain runs and the process
/// exits 0.
#[test]
fn shutdown_delay_turns_ready_503_while_requests_are_still_served() {
    let mut server = Server::start(&["--cores", "1", "--shutdown-delay-ms", "1500"]);
    let port = server.port;
    let sid = http_session(port);
    let mut conn = HttpConn::connect(port);
    assert_eq!(conn.call(&Req::new("GET", "/ready", port)).status, 200);
    let metrics = conn.call(&Req::new("GET", "/metrics", port)).text().to_owned();
    for line in [r#"ringmcp_ready{core="0"} 1"#, r#"ringmcp_draining{core="0"} 0"#] {
        assert!(metrics.lines().any(|l| l == line), "{line} in:\n{metrics}");
    }
    server.send_signal(libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(200));
    let ready = conn.call(&Req::new("GET", "/ready", port));
    assert_eq!((ready.status, ready.text()), (503, r#"{"ready":false,"status":"draining"}"#), "{ready:?}");
    assert_eq!(ready.header("connection"), None, "kept alive during the delay: {ready:?}");
    // /metrics says so too, for the alert on a node stuck draining.
    let metrics = conn.call(&Req::new("GET", "/metrics", port)).text().to_owned();
    for line in [r#"ringmcp_ready{core="0"} 0"#, r#"ringmcp_draining{core="0"} 1"#] {
        assert!(metrics.lines().any(|l| l == line), "{line} in:\n{metrics}");
    }
    assert_json(&conn.call(&Req::mcp_in(port, &sid, &echo(1, "still here"))), 200, &[], &echo_answer(1, "still here"));
    // A new connection is still accepted during the delay.
    let mut fresh = HttpConn::connect(port);
    assert_json(&fresh.call(&Req::mcp_in(port, &sid, &echo(2, "new conn"))), 200, &[], &echo_answer(2, "new conn"));
    assert_eq!(server.wait_exit(Duration::from_secs(5)).and_then(|s| s.code()), Some(0));
}

/// A second SIGTERM during `shutdown_delay_ms` skips the rest of it: the drain starts at once.
#[test]
fn second_signal_during_the_shutdown_delay_drains_at_once() {
    let mut server = Server::start(&["--cores", "1", "--shutdown-delay-ms", "60000"]);
    server.send_signal(libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(HttpConn::connect(server.port).call(&Req::new("GET", "/ready", server.port)).status, 503);
    server.send_signal(libc::SIGTERM);
    assert_eq!(server.wait_exit(Duration::from_secs(5)).and_then(|s| s.code()), Some(0));
}

/// With `--node-id`, session ids are `ID.` + the id; a session id with another node's prefix
/// (or none) is unknown here: 404.
#[test]
fn node_id_prefixes_session_ids_and_other_nodes_ids_are_unknown() {
    let server = Server::start(&["--cores", "2", "--node-id", "ringmcp-7"]);
    let port = server.port;
    for n in 0..8 {
        let sid = http_session(port);
        let bare = sid.strip_prefix("ringmcp-7.").unwrap_or_else(|| panic!("{sid} lacks the node prefix"));
        assert_eq!(bare.len(), 32, "{sid}");
        let mut conn = HttpConn::connect(port);
        assert_json(&conn.call(&Req::mcp_in(port, &sid, &echo(n, "here"))), 200, &[], &echo_answer(n, "here"));
        for other in [format!("ringmcp-8.{bare}"), bare.to_string(), format!("ringmcp-7{bare}")] {
            assert_json(&conn.call(&Req::mcp_in(port, &other, &echo(n, "x"))), 404, &[], SESSION_MALFORMED);
        }
    }
}

/// One sample of the Prometheus text.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: HashMap<String, String>,
    value: f64,
}

/// Parses the text exposition line by line and checks its shape: `# HELP` then `# TYPE` for
/// each family, every sample `name{labels} value` inside the family announced last (histograms
/// add `_bucket`, `_sum`, `_count`), every sample labelled with its core.
fn parse_metrics(text: &str) -> Vec<Sample> {
    let mut family: Option<(String, String)> = None;
    let mut announced = HashSet::new();
    let mut samples = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap();
            assert!(lines.get(i + 1).is_some_and(|l| l.starts_with(&format!("# TYPE {name} "))), "HELP alone: {line}");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            assert!(announced.insert(name.to_string()), "family announced twice: {name}");
            family = Some((name.to_string(), kind.to_string()));
            continue;
        }
        assert!(!line.starts_with('#') && !line.is_empty(), "unexpected line {line:?}");
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("sample without value: {line}"));
        let value: f64 = if value == "+Inf" { f64::INFINITY } else { value.parse().expect(line) };
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => (name, rest.strip_suffix('}').unwrap_or_else(|| panic!("labels: {line}"))),
            None => (series, ""),
        };
        let labels: HashMap<String, String> = labels
            .split(',')
            .filter(|l| !l.is_empty())
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or_else(|| panic!("label {pair:?} in {line}"));
                let v = v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or_else(|| panic!("{line}"));
                (k.to_string(), v.to_string())
            })
            .collect();
        let (fam, kind) = family.as_ref().unwrap_or_else(|| panic!("sample before any # TYPE: {line}"));
        let belongs = name == fam
            || (kind == "histogram" && ["_bucket", "_sum", "_count"].iter().any(|s| name == format!("{fam}{s}")));
        assert!(belongs, "sample {name} outside its family {fam} ({kind})");
        // Process-wide families (the memory budget, the access log, tool panics) have no core.
        let process_wide = ["ringmcp_memory_", "ringmcp_access_log_", "ringmcp_tool_panics_"];
        assert!(
            labels.contains_key("core") || process_wide.iter().any(|p| name.starts_with(p)),
            "no core label: {line}"
        );
        samples.push(Sample { name: name.to_string(), labels, value });
    }
    samples
}

/// The sum over cores of the samples called `name` with label `key` = `value`.
fn metric_sum(samples: &[Sample], name: &str, key: &str, value: &str) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name && s.labels.get(key).map(String::as_str) == Some(value))
        .map(|s| s.value)
        .sum()
}

fn scrape(port: u16) -> Vec<Sample> {
    let resp = HttpConn::connect(port).call(&Req::new("GET", "/metrics", port));
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header_names(), ["content-type", "content-length"]);
    assert_eq!(resp.header("content-type"), Some("text/plain; version=0.0.4; charset=utf-8"));
    parse_metrics(resp.text())
}

#[test]
fn metrics_is_prometheus_text_and_counts_each_tools_call() {
    let (_server, port, sid, mut conn) = one_session(&["--cores", "2"]);
    for i in 0..5 {
        let text = format!("m{i}");
        assert_json(&conn.call(&Req::mcp_in(port, &sid, &echo(i, &text))), 200, &[], &echo_answer(i, &text));
    }
    let samples = scrape(port);
    let cores: HashSet<&str> = samples.iter().filter_map(|s| s.labels.get("core").map(String::as_str)).collect();
    assert_eq!(cores, HashSet::from(["0", "1"]));
    assert_eq!(metric_sum(&samples, "ringmcp_messages_total", "method", "tools/call"), 5.0);
    assert_eq!(metric_sum(&samples, "ringmcp_messages_total", "method", "initialize"), 1.0);
    assert_eq!(metric_sum(&samples, "ringmcp_messages_total", "method", "notification"), 1.0);
    // initialize and five calls answered 200, the initialized notification 202 (the scrape's
    // own answer is counted after it renders).
    assert_eq!(metric_sum(&samples, "ringmcp_http_responses_total", "status", "200"), 6.0);
    assert_eq!(metric_sum(&samples, "ringmcp_http_responses_total", "status", "202"), 1.0);
    let count: f64 =
        samples.iter().filter(|s| s.name == "ringmcp_request_duration_seconds_count").map(|s| s.value).sum();
    assert_eq!(count, 6.0, "initialize and five calls were timed");
    assert_eq!(
        metric_sum(&samples, "ringmcp_sessions", "core", "0") + metric_sum(&samples, "ringmcp_sessions", "core", "1"),
        1.0
    );
}

#[test]
fn observability_routes_allow_only_get() {
    let server = Server::start(&["--cores", "1"]);
    let port = server.port;
    let mut conn = HttpConn::connect(port);
    for path in ["/health", "/ready", "/metrics"] {
        for method in ["POST", "DELETE"] {
            let resp = conn.call(&Req::new(method, path, port));
            assert_eq!((resp.status, resp.reason.as_str()), (405, "Method Not Allowed"), "{method} {path}");
            let want: Vec<(String, String)> =
                vec![("allow".into(), "GET".into()), ("content-length".into(), "0".into())];
            assert_eq!(resp.headers, want, "{method} {path}");
        }
    }
}

// ---- cross-core ----

#[test]
fn one_session_is_served_from_both_cores_over_many_connections() {
    if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
        eprintln!("skipped: this machine has fewer than 2 usable CPUs, so --cores 2 cannot run");
        return;
    }
    let server = Server::start(&["--cores", "2"]);
    let port = server.port;
    let sid = http_session(port);
    let mut stream = HttpConn::connect(port);
    stream.send(
        &Req::new("GET", "/mcp", port).header("Accept", "text/event-stream").header("Mcp-Session-Id", &sid).bytes(),
    );
    stream.read_sse_head();
    assert_eq!(stream.next_event().as_deref(), Some("id: 0:1\nretry: 1000\ndata: "));
    const CONNECTIONS: u64 = 32;
    for i in 0..CONNECTIONS {
        let text = format!("hello from connection {i}");
        let mut conn = HttpConn::connect(port);
        let req = Req::mcp_in(port, &sid, &echo(100 + i, &text));
        if i % 2 == 0 {
            assert_json(&conn.call(&req), 200, &[], &echo_answer(100 + i, &text));
        } else {
            // Odd ones ask for SSE: the events cross the mesh too. Stream 1 was initialize's.
            conn.send(&req.set("Accept", "text/event-stream, application/json").bytes());
            conn.read_sse_head();
            assert_eq!(conn.rest_of_events(), sse_events(i as u32 + 2, &[echo_answer(100 + i, &text)]));
        }
    }
    stream.expect_silence(Duration::from_millis(200));
    let samples = scrape(port);
    let sent = metric_sum(&samples, "ringmcp_forwarded_total", "direction", "sent");
    let received = metric_sum(&samples, "ringmcp_forwarded_total", "direction", "received");
    assert!(sent > 0.0, "33 connections all landed on the session's core (chance 2^-33)");
    assert_eq!(sent, received);
    assert_eq!(metric_sum(&samples, "ringmcp_messages_total", "method", "tools/call"), CONNECTIONS as f64);
}

// ---- more edges ----

#[test]
fn a_failed_initialize_names_no_session() {
    let server = Server::start(&["--cores", "1"]);
    let port = server.port;
    let mut conn = HttpConn::connect(port);
    let bad = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"capabilities":{}}}"#;
    let resp = conn.call(&Req::mcp(port, bad));
    let error = r#"{"jsonrpc":"2.0","id":0,"error":{"code":-32602,"message":"Invalid params: missing field `protocolVersion` at line 1 column 19"}}"#;
    assert_eq!((resp.status, resp.text()), (200, error), "{resp:?}");
    let health = conn.call(&Req::new("GET", "/health", port)).json();
    assert_eq!(health["sessions"], 0, "the session was ended: {health}");
    if let Some(sid) = resp.header("mcp-session-id") {
        assert_json(&conn.call(&Req::mcp_in(port, sid, TOOLS_LIST)), 404, &[], SESSION_UNKNOWN);
    }
    assert_eq!(resp.header("mcp-session-id"), None, "an id for a session that does not exist: {resp:?}");
}

#[test]
fn a_session_of_an_older_version_gets_sse_answers_without_priming() {
    let server = Server::start(&["--cores", "1"]);
    let port = server.port;
    let mut conn = HttpConn::connect(port);
    let init = INIT.replace("2025-11-25", "2025-03-26");
    let resp = conn.call(&Req::mcp(port, &init));
    assert_eq!(resp.json()["result"]["protocolVersion"], "2025-03-26");
    let sid = resp.header("mcp-session-id").unwrap().to_string();
    conn.send(&Req::mcp_in(port, &sid, TOOLS_LIST).set("Accept", "text/event-stream, application/json").bytes());
    conn.read_sse_head();
    assert_eq!(conn.rest_of_events(), [format!("event: message\nid: 2:1\ndata: {TOOLS_LIST_ANSWER}")]);
}

#[test]
fn requests_pipelined_behind_an_sse_answer_are_answered_after_it() {
    let (_server, port, sid, mut conn) = one_session(&["--cores", "1", "--pack", "conformance"]);
    let mut batch = Req::mcp_in(port, &sid, &call_tool(6, "test_tool_with_logging", "")).bytes();
    batch.extend(Req::new("GET", "/ready", port).bytes());
    conn.send(&batch);
    conn.read_sse_head();
    assert_eq!(conn.rest_of_events().len(), 5, "priming, three logs, the result");
    let ready = conn.read_response();
    assert_eq!((ready.status, ready.text()), (200, r#"{"ready":true}"#));
}

#[test]
fn the_get_stream_sends_keepalive_comments_and_ends_when_the_session_is_deleted() {
    let server = Server::start(&["--cores", "1", "--sse-keepalive-ms", "100"]);
    let port = server.port;
    let sid = http_session(port);
    let mut stream = HttpConn::connect(port);
    let get = Req::new("GET", "/mcp", port).header("Accept", "text/event-stream").header("Mcp-Session-Id", &sid);
    stream.send(&get.bytes());
    stream.read_sse_head();
    assert_eq!(stream.next_event().as_deref(), Some("id: 0:1\nretry: 1000\ndata: "));
    assert_eq!(stream.next_event().as_deref(), Some(": keep-alive"));
    let mut other = HttpConn::connect(port);
    assert_eq!(other.call(&Req::new("DELETE", "/mcp", port).header("Mcp-Session-Id", &sid)).status, 200);
    let rest = stream.rest_of_events();
    assert!(rest.iter().all(|e| e == ": keep-alive"), "only keep-alives before the end: {rest:?}");
    // The connection outlives the stream.
    let ready = stream.call(&Req::new("GET", "/ready", port));
    assert_eq!(ready.status, 200);
}

#[test]
fn a_get_stream_can_be_reopened_once_its_reader_went_away() {
    let server = Server::start(&["--cores", "1"]);
    let port = server.port;
    let sid = http_session(port);
    let get = Req::new("GET", "/mcp", port).header("Accept", "text/event-stream").header("Mcp-Session-Id", &sid);
    let mut first = HttpConn::connect(port);
    first.send(&get.bytes());
    first.read_sse_head();
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let mut conn = HttpConn::connect(port);
        conn.send(&get.bytes());
        let head = conn.read_head();
        if head.status == 200 {
            assert_eq!(head.header("content-type"), Some("text/event-stream"));
            // The stream's replay starts again from its priming event.
            conn.start_sse();
            assert_eq!(conn.next_event().as_deref(), Some("id: 0:1\nretry: 1000\ndata: "));
            break;
        }
        assert_eq!(head.status, 409, "{head:?}");
        let _ = conn.read_body(head);
        assert!(Instant::now() < deadline, "the closed reader still holds the stream");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn malformed_heads_and_lengths_get_400_and_close() {
    let server = Server::start(&["--cores", "1"]);
    let port = server.port;
    let mut conn = HttpConn::connect(port);
    conn.send(b"GET /ready HTTP/1.1\r\nno colon here\r\n\r\n");
    assert_fatal(&mut conn, 400, "Bad Request: malformed HTTP request");
    let mut conn = HttpConn::connect(port);
    conn.send(&Req::mcp(port, "").set("Content-Length", "ten").bytes());
    assert_fatal(&mut conn, 400, "Bad Request: invalid Content-Length");
}

#[test]
fn a_head_of_exactly_max_header_bytes_is_served_and_one_byte_more_is_not() {
    let server = Server::start(&["--cores", "1", "--max-header-bytes", "1024"]);
    let port = server.port;
    let base = Req::new("GET", "/ready", port).header("X-Pad", "").bytes().len();
    let exact = Req::new("GET", "/ready", port).header("X-Pad", &"a".repeat(1024 - base));
    assert_eq!(exact.bytes().len(), 1024);
    let mut conn = HttpConn::connect(port);
    assert_eq!(conn.call(&exact).status, 200);
    conn.send(&Req::new("GET", "/ready", port).header("X-Pad", &"a".repeat(1025 - base)).bytes());
    assert_fatal(&mut conn, 431, "Request Header Fields Too Large: request line and headers exceed max_header_bytes");
}

#[test]
fn header_timeout_counts_from_the_first_byte_of_the_head_not_from_each_read() {
    let server = Server::start(&["--cores", "1", "--header-timeout-ms", "300"]);
    let mut conn = HttpConn::connect(server.port);
    let mut writer = conn.stream.try_clone().unwrap();
    let start = Instant::now();
    conn.send(b"GET /ready HTTP/1.1\r\nX-Slow: ");
    // One byte every 100 ms: each read is well within the timeout, the whole head is not.
    let trickle = std::thread::spawn(move || {
        use std::io::Write;
        for _ in 0..12 {
            std::thread::sleep(Duration::from_millis(100));
            if writer.write_all(b"a").is_err() {
                return;
            }
        }
    });
    let resp = conn.read_response();
    let waited = start.elapsed();
    assert_eq!(resp.status, 408, "{resp:?}");
    assert!(waited < Duration::from_millis(800), "408 came {waited:?} after the head started (timeout 300 ms)");
    trickle.join().unwrap();
}

#[test]
fn differing_repeated_content_lengths_get_400_and_close() {
    let server = Server::start(&["--cores", "1", "--header-timeout-ms", "300"]);
    let port = server.port;
    let mut conn = HttpConn::connect(port);
    conn.send(&Req::mcp(port, "").header("Content-Length", "5").header("Content-Length", "40").bytes());
    // RFC 9112 section 6.3: an invalid Content-Length is an unrecoverable framing error.
    assert_fatal(&mut conn, 400, "Bad Request: invalid Content-Length");
}

#[test]
fn stateless_sse_answers_have_no_priming_and_queries_are_ignored_in_paths() {
    let server = Server::start(&["--cores", "1", "--stateless"]);
    let port = server.port;
    let mut conn = HttpConn::connect(port);
    conn.send(&Req::mcp(port, TOOLS_LIST).set("Accept", "text/event-stream, application/json").bytes());
    let head = conn.read_sse_head();
    assert_eq!(head.header("mcp-session-id"), None);
    assert_eq!(conn.rest_of_events(), [format!("event: message\nid: 1:1\ndata: {TOOLS_LIST_ANSWER}")]);
    let req = Req::new("POST", "/mcp?x=1", port)
        .header("Accept", common::ACCEPT_BOTH)
        .header("Content-Type", "application/json")
        .body(TOOLS_LIST.as_bytes());
    assert_json(&conn.call(&req), 200, &[], TOOLS_LIST_ANSWER);
}

#[test]
fn stateless_reconnection_tool_still_delivers_its_result() {
    let server = Server::start(&["--cores", "1", "--stateless", "--pack", "conformance"]);
    let port = server.port;
    let mut conn = HttpConn::connect(port);
    let resp = conn.call(&Req::mcp(port, &call_tool(1, "test_reconnection", "")));
    let result = r#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"Reconnection test completed successfully. If you received this, the client properly reconnected after stream closure."}]}}"#;
    assert_eq!((resp.status, resp.text()), (200, result), "{resp:?}");
}

#[test]
fn an_open_get_stream_is_ended_cleanly_on_sigterm() {
    let mut server = Server::start(&["--cores", "1"]);
    let port = server.port;
    let sid = http_session(port);
    let mut stream = HttpConn::connect(port);
    let get = Req::new("GET", "/mcp", port).header("Accept", "text/event-stream").header("Mcp-Session-Id", &sid);
    stream.send(&get.bytes());
    stream.read_sse_head();
    assert_eq!(stream.next_event().as_deref(), Some("id: 0:1\nretry: 1000\ndata: "));
    server.send_signal(libc::SIGTERM);
    // The stream ends with its last chunk (the client may resume elsewhere), then closes.
    assert_eq!(stream.rest_of_events(), Vec::<String>::new());
    stream.expect_closed();
    assert_eq!(server.wait_exit(Duration::from_secs(2)).and_then(|s| s.code()), Some(0));
}
