//! WebSocket at /mcp/ws, black-box: the RFC 6455 handshake and its refusals, MCP as one
//! JSON-RPC message per text frame, control frames (ping, close), protocol errors with their
//! close codes, server-to-client notifications, and shutdown. Client frames are masked with a
//! fixed key; server frames are parsed and compared exactly.

mod common;

use common::{
    http_session, ws_frame, ws_upgrade, HttpConn, Req, Server, INIT, WS_ACCEPT, WS_BINARY, WS_CLOSE, WS_MASK, WS_PING,
    WS_PONG, WS_TEXT,
};
use serde_json::Value;
use std::time::Duration;

const TOOLS_LIST_ANSWER: &str = r#"{"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"echo","description":"Returns its text unchanged","inputSchema":{"type":"object","properties":{"text":{"type":"string","description":"Text to echo"}},"required":["text"]}},{"name":"add","description":"Adds two numbers","inputSchema":{"type":"object","properties":{"a":{"type":"number"},"b":{"type":"number"}},"required":["a","b"]},"outputSchema":{"type":"object","properties":{"sum":{"type":"number"}},"required":["sum"]}},{"name":"sleep","description":"Answers after `ms` milliseconds without blocking the server","inputSchema":{"type":"object","properties":{"ms":{"type":"integer","minimum":0,"maximum":600000}},"required":["ms"]}}]}}"#;
const BINARY_REASON: &str = "binary frames are not supported; send JSON-RPC as text";
const TOO_BIG_REASON: &str = "message of 2000 bytes exceeds the 1024-byte limit";
const CAPABILITIES: &str = r#"{"tools":{"listChanged":true},"resources":{"subscribe":true,"listChanged":true},"prompts":{"listChanged":true},"completions":{},"logging":{}}"#;

fn echo(id: u64, text: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"echo","arguments":{{"text":"{text}"}}}}}}"#
    )
}

fn echo_answer(id: u64, text: &str) -> String {
    format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{{"content":[{{"type":"text","text":"{text}"}}]}}}}"#)
}

/// Connects and upgrades; asserts the exact 101 head.
fn open(port: u16) -> HttpConn {
    let mut conn = HttpConn::connect(port);
    conn.send(&ws_upgrade(port).bytes());
    let head = conn.read_head();
    assert_eq!((head.status, head.reason.as_str()), (101, "Switching Protocols"), "{head:?}");
    let want = [("upgrade", "websocket"), ("connection", "Upgrade"), ("sec-websocket-accept", WS_ACCEPT)];
    let want: Vec<(String, String)> = want.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
    assert_eq!(head.headers, want);
    conn
}

fn send_text(conn: &mut HttpConn, text: &str) {
    conn.send(&ws_frame(WS_TEXT, text.as_bytes(), Some(WS_MASK)));
}

/// The next frame, which must be a whole text message.
fn recv_text(conn: &mut HttpConn) -> String {
    let frame = conn.read_ws_frame().expect("connection closed before a text frame");
    assert_eq!((frame.fin, frame.rsv, frame.opcode), (true, 0, WS_TEXT), "{frame:?}");
    frame.text().to_string()
}

/// Opens a socket and initializes its session; returns the initialize result.
fn open_initialized(port: u16) -> (HttpConn, Value) {
    let mut conn = open(port);
    send_text(&mut conn, INIT);
    let init: Value = serde_json::from_str(&recv_text(&mut conn)).unwrap();
    send_text(&mut conn, r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
    (conn, init)
}

/// Asserts the next frame is a close with `code` and `reason`, then EOF.
fn assert_closed_with(conn: &mut HttpConn, code: u16, reason: &str) {
    let frame = conn.read_ws_frame().expect("a close frame");
    assert_eq!((frame.fin, frame.rsv), (true, 0), "{frame:?}");
    assert_eq!(frame.close(), (code, reason.to_string()));
    assert_eq!(conn.read_ws_frame(), None, "the server hangs up after its close");
}

/// Like [`assert_closed_with`] for an error close: its whole reason fits in the frame.
fn assert_error_close(conn: &mut HttpConn, code: u16, full_reason: &str) {
    assert_closed_with(conn, code, full_reason);
}

#[test]
fn upgrade_answers_101_with_the_rfc_accept_key_and_mcp_subprotocol_when_offered() {
    let server = Server::start(&["--cores", "1"]);
    let mut plain = open(server.port);
    // No frame arrives unasked.
    plain.expect_silence(Duration::from_millis(100));
    let mut conn = HttpConn::connect(server.port);
    conn.send(&ws_upgrade(server.port).header("Sec-WebSocket-Protocol", "chat, mcp").bytes());
    let head = conn.read_head();
    assert_eq!(head.status, 101);
    assert_eq!(head.header_names(), ["upgrade", "connection", "sec-websocket-accept", "sec-websocket-protocol"]);
    assert_eq!(head.header("sec-websocket-protocol"), Some("mcp"));
    assert_eq!(head.header("sec-websocket-accept"), Some(WS_ACCEPT));
}

#[test]
fn mcp_messages_in_text_frames_get_exact_answers() {
    let server = Server::start(&["--cores", "1"]);
    let (mut conn, init) = open_initialized(server.port);
    assert_eq!(init["id"], 0);
    assert_eq!(init["result"]["protocolVersion"], "2025-11-25");
    assert_eq!(init["result"]["capabilities"], serde_json::from_str::<Value>(CAPABILITIES).unwrap());
    assert_eq!(init["result"]["serverInfo"], serde_json::json!({"name": "ringmcp", "version": "0.1.0"}));
    assert_eq!(init["result"]["_meta"]["io.ringmcp/session"].as_str().map(str::len), Some(32));
    send_text(&mut conn, r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#);
    assert_eq!(recv_text(&mut conn), TOOLS_LIST_ANSWER);
    send_text(&mut conn, &echo(3, "héllo"));
    assert_eq!(recv_text(&mut conn), echo_answer(3, "héllo"));
    // Several messages in one write are answered in order.
    let batch: Vec<u8> =
        (4..7).flat_map(|i| ws_frame(WS_TEXT, echo(i, &format!("m{i}")).as_bytes(), Some(WS_MASK))).collect();
    conn.send(&batch);
    for i in 4..7 {
        assert_eq!(recv_text(&mut conn), echo_answer(i, &format!("m{i}")));
    }
    // A message too big for a 7-bit length uses the 16-bit form both ways.
    let long = "x".repeat(300);
    send_text(&mut conn, &echo(7, &long));
    assert_eq!(recv_text(&mut conn), echo_answer(7, &long));
    send_text(&mut conn, r#"{"jsonrpc":"2.0","id":8,"method":"#);
    assert_eq!(
        recv_text(&mut conn),
        r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error: invalid JSON"}}"#
    );
    send_text(&mut conn, r#"{"jsonrpc":"2.0","id":9,"method":"ping"}"#);
    assert_eq!(recv_text(&mut conn), r#"{"jsonrpc":"2.0","id":9,"result":{}}"#);
}

#[test]
fn frames_sent_in_the_same_write_as_the_upgrade_are_served() {
    let server = Server::start(&["--cores", "1"]);
    let mut conn = HttpConn::connect(server.port);
    let mut bytes = ws_upgrade(server.port).bytes();
    bytes.extend(ws_frame(WS_TEXT, INIT.as_bytes(), Some(WS_MASK)));
    bytes.extend(ws_frame(WS_TEXT, br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#, Some(WS_MASK)));
    conn.send(&bytes);
    assert_eq!(conn.read_head().status, 101);
    let init: Value = serde_json::from_str(&recv_text(&mut conn)).unwrap();
    assert_eq!(init["id"], 0);
    assert_eq!(recv_text(&mut conn), r#"{"jsonrpc":"2.0","id":1,"result":{}}"#);
}

#[test]
fn a_fragmented_message_with_an_interleaved_ping_is_reassembled() {
    let server = Server::start(&["--cores", "1"]);
    let (mut conn, _) = open_initialized(server.port);
    let message = echo(1, "in pieces");
    let (a, b) = message.as_bytes().split_at(20);
    let mut first = ws_frame(WS_TEXT, a, Some(WS_MASK));
    first[0] &= 0x7F; // not FIN
    let mut last = ws_frame(0x0, b, Some([1, 2, 3, 4])); // continuation, FIN
    last[0] |= 0x80;
    conn.send(&first);
    conn.send(&ws_frame(WS_PING, b"mid", Some(WS_MASK)));
    conn.send(&last);
    let pong = conn.read_ws_frame().unwrap();
    assert_eq!((pong.fin, pong.opcode, pong.payload.as_slice()), (true, WS_PONG, &b"mid"[..]));
    assert_eq!(recv_text(&mut conn), echo_answer(1, "in pieces"));
}

#[test]
fn ping_gets_a_pong_with_the_same_payload() {
    let server = Server::start(&["--cores", "1"]);
    let mut conn = open(server.port);
    for payload in [&b""[..], b"hello", &[0xFF; 125]] {
        conn.send(&ws_frame(WS_PING, payload, Some(WS_MASK)));
        let pong = conn.read_ws_frame().unwrap();
        assert_eq!((pong.fin, pong.rsv, pong.opcode), (true, 0, WS_PONG));
        assert_eq!(pong.payload, payload);
    }
    // An unsolicited pong is ignored.
    conn.send(&ws_frame(WS_PONG, b"x", Some(WS_MASK)));
    conn.expect_silence(Duration::from_millis(100));
}

#[test]
fn a_binary_frame_closes_with_1003() {
    let server = Server::start(&["--cores", "1"]);
    let (mut conn, _) = open_initialized(server.port);
    conn.send(&ws_frame(WS_BINARY, br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#, Some(WS_MASK)));
    assert_error_close(&mut conn, 1003, BINARY_REASON);
}

#[test]
fn an_unmasked_frame_closes_with_1002() {
    let server = Server::start(&["--cores", "1"]);
    let mut conn = open(server.port);
    conn.send(&ws_frame(WS_TEXT, br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#, None));
    assert_error_close(&mut conn, 1002, "client frame is not masked");
}

#[test]
fn invalid_utf8_closes_with_1007_and_an_oversized_message_with_1009() {
    let server = Server::start(&["--cores", "1", "--max-message-bytes", "1024"]);
    let mut conn = open(server.port);
    conn.send(&ws_frame(WS_TEXT, &[b'{', 0xFF, b'}'], Some(WS_MASK)));
    assert_error_close(&mut conn, 1007, "invalid UTF-8");
    let mut conn = open(server.port);
    conn.send(&ws_frame(WS_TEXT, &[b' '; 2000], Some(WS_MASK)));
    assert_error_close(&mut conn, 1009, TOO_BIG_REASON);
}

#[test]
fn a_client_close_is_echoed_then_the_connection_closes() {
    let server = Server::start(&["--cores", "1"]);
    let (mut conn, _) = open_initialized(server.port);
    let mut payload = 4000u16.to_be_bytes().to_vec();
    payload.extend_from_slice(b"bye");
    conn.send(&ws_frame(WS_CLOSE, &payload, Some(WS_MASK)));
    assert_closed_with(&mut conn, 4000, "");
    // A close without a code is answered with 1000.
    let mut conn = open(server.port);
    conn.send(&ws_frame(WS_CLOSE, b"", Some(WS_MASK)));
    assert_closed_with(&mut conn, 1000, "");
}

#[test]
fn a_wrong_version_gets_426_naming_version_13_and_other_bad_upgrades_400() {
    let server = Server::start(&["--cores", "1"]);
    let port = server.port;
    let mut conn = HttpConn::connect(port);
    let resp = conn.call(&ws_upgrade(port).set("Sec-WebSocket-Version", "8"));
    let body = r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Upgrade Required: unsupported Sec-WebSocket-Version (only 13 is spoken)"}}"#;
    assert_eq!((resp.status, resp.reason.as_str(), resp.text()), (426, "Upgrade Required", body));
    assert_eq!(resp.header_names(), ["content-type", "sec-websocket-version", "content-length"]);
    assert_eq!(resp.header("sec-websocket-version"), Some("13"));
    // The connection stays usable for HTTP after a refusal.
    for (req, message) in [
        (ws_upgrade(port).without("Sec-WebSocket-Key"), "missing Sec-WebSocket-Key"),
        (ws_upgrade(port).set("Sec-WebSocket-Key", "c2hvcnQ="), "Sec-WebSocket-Key is not base64 of 16 bytes"),
        (ws_upgrade(port).without("Upgrade"), "missing `Upgrade: websocket`"),
        (ws_upgrade(port).set("Connection", "keep-alive"), "missing `Connection: upgrade`"),
    ] {
        let resp = conn.call(&req);
        let body =
            format!(r#"{{"jsonrpc":"2.0","id":null,"error":{{"code":-32600,"message":"Bad Request: {message}"}}}}"#);
        assert_eq!((resp.status, resp.text()), (400, body.as_str()), "{req:?}");
    }
    let ready = conn.call(&Req::new("GET", "/ready", port));
    assert_eq!(ready.status, 200);
}

#[test]
fn a_foreign_host_or_origin_is_forbidden() {
    let server = Server::start(&["--cores", "1"]);
    let port = server.port;
    let mut conn = HttpConn::connect(port);
    let resp = conn.call(&ws_upgrade(port).set("Host", "evil.example.com"));
    let body = r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32000,"message":"Forbidden: Host evil.example.com is not allowed"}}"#;
    assert_eq!((resp.status, resp.text()), (403, body));
    let resp = conn.call(&ws_upgrade(port).header("Origin", "http://evil.example.com"));
    let body = r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32000,"message":"Forbidden: Origin http://evil.example.com is not allowed"}}"#;
    assert_eq!((resp.status, resp.text()), (403, body));
    // An allowed Host and Origin upgrade.
    let req = ws_upgrade(port).set("Host", &format!("localhost:{port}")).header("Origin", "http://localhost:6274");
    conn.send(&req.bytes());
    assert_eq!(conn.read_head().status, 101);
}

#[test]
fn progress_notifications_arrive_as_frames_before_the_result() {
    let server = Server::start(&["--cores", "1", "--pack", "conformance"]);
    let (mut conn, _) = open_initialized(server.port);
    send_text(
        &mut conn,
        r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"test_tool_with_progress","arguments":{},"_meta":{"progressToken":"p"}}}"#,
    );
    for step in [0, 50, 100] {
        let want = format!(
            r#"{{"jsonrpc":"2.0","method":"notifications/progress","params":{{"progressToken":"p","progress":{step},"total":100,"message":"Completed step {step} of 100"}}}}"#
        );
        assert_eq!(recv_text(&mut conn), want);
    }
    assert_eq!(
        recv_text(&mut conn),
        r#"{"jsonrpc":"2.0","id":5,"result":{"content":[{"type":"text","text":"Progress test completed: 3 notifications sent"}]}}"#
    );
}

#[test]
fn sigterm_closes_an_idle_socket_with_1001_and_exits_zero() {
    let mut server = Server::start(&["--cores", "1"]);
    let (mut conn, _) = open_initialized(server.port);
    send_text(&mut conn, r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#);
    assert_eq!(recv_text(&mut conn), r#"{"jsonrpc":"2.0","id":1,"result":{}}"#);
    server.send_signal(libc::SIGTERM);
    assert_closed_with(&mut conn, 1001, "server shutting down");
    assert_eq!(server.wait_exit(Duration::from_secs(2)).and_then(|s| s.code()), Some(0));
}

#[test]
fn sigterm_answers_the_request_in_flight_then_closes_with_1001() {
    let mut server = Server::start(&["--cores", "1"]);
    let (mut conn, _) = open_initialized(server.port);
    let sleep = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"sleep","arguments":{"ms":300}}}"#;
    send_text(&mut conn, sleep);
    std::thread::sleep(Duration::from_millis(50));
    server.send_signal(libc::SIGTERM);
    let slept = r#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"slept 300 ms"}]}}"#;
    assert_eq!(recv_text(&mut conn), slept);
    assert_closed_with(&mut conn, 1001, "server shutting down");
    assert_eq!(server.wait_exit(Duration::from_secs(2)).and_then(|s| s.code()), Some(0));
}

#[test]
fn each_socket_is_its_own_session_and_counts_in_health() {
    let server = Server::start(&["--cores", "1"]);
    let (_a, init_a) = open_initialized(server.port);
    let (_b, init_b) = open_initialized(server.port);
    let (sa, sb) = (&init_a["result"]["_meta"]["io.ringmcp/session"], &init_b["result"]["_meta"]["io.ringmcp/session"]);
    assert_ne!(sa, sb);
    // A WebSocket session id is not a Streamable HTTP session.
    let port = server.port;
    let mut http = HttpConn::connect(port);
    let resp = http.call(&Req::mcp_in(port, sa.as_str().unwrap(), &echo(1, "x")));
    assert_eq!(resp.status, 404, "{resp:?}");
    let _sid = http_session(port);
    let health = http.call(&Req::new("GET", "/health", port)).json();
    assert_eq!(health["sessions"], 3, "two sockets and one HTTP session: {health}");
}

#[test]
fn error_close_reasons_are_sent_whole_when_they_fit_in_a_control_frame() {
    let server = Server::start(&["--cores", "1", "--max-message-bytes", "1024"]);
    let mut conn = open(server.port);
    conn.send(&ws_frame(WS_BINARY, b"{}", Some(WS_MASK)));
    assert_closed_with(&mut conn, 1003, BINARY_REASON);
    let mut conn = open(server.port);
    conn.send(&ws_frame(WS_TEXT, &[b' '; 2000], Some(WS_MASK)));
    assert_closed_with(&mut conn, 1009, TOO_BIG_REASON);
}

#[test]
fn a_refused_upgrade_keeps_the_request_pipelined_behind_it() {
    let server = Server::start(&["--cores", "1"]);
    let mut conn = HttpConn::connect(server.port);
    let refused = Req::new("GET", "/mcp/ws", server.port)
        .header("Upgrade", "websocket")
        .header("Connection", "Upgrade")
        .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
        .header("Sec-WebSocket-Version", "8");
    let mut both = refused.bytes();
    both.extend_from_slice(&Req::new("GET", "/ready", server.port).bytes());
    conn.send(&both);
    assert_eq!(conn.read_response().status, 426);
    let ready = conn.read_response();
    assert_eq!(ready.status, 200, "{}", ready.text());
}
