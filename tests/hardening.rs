//! Hostile input, black-box, on every transport of the shared port (NDJSON, HTTP POST,
//! WebSocket): nesting a million levels deep in every position of a message, invalid JSON in
//! members nobody reads, responses with `id: null`, a tool result that overflows to infinity,
//! and shutdown with a request held back. Every case asserts the exact answer and then that
//! the same connection (and the server) still serves a `ping`.

mod common;

use common::{ws_frame, ws_upgrade, Conn, HttpConn, Req, Server, INIT, WS_MASK, WS_TEXT};
use std::time::Duration;

const PING: &str = r#"{"jsonrpc":"2.0","id":"p","method":"ping"}"#;
const PONG: &str = r#"{"jsonrpc":"2.0","id":"p","result":{}}"#;
const PARSE_ERROR: &str =
    r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error: invalid JSON"}}"#;
/// Levels of nesting in the deep cases (the limit is `max_json_depth`, 128 by default).
const DEEP: usize = 1_000_000;

fn too_deep(id: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"error":{{"code":-32600,"message":"Invalid Request: JSON nested deeper than 128 levels (max_json_depth)"}}}}"#
    )
}

fn nest(levels: usize) -> String {
    format!("{}{}", "[".repeat(levels), "]".repeat(levels))
}

/// A deep value in each position a client controls, with the answer each must get: the id
/// when it can still be read, `null` when the id itself (or the whole line) is the deep part.
fn deep_cases() -> Vec<(String, String)> {
    let deep = nest(DEEP);
    vec![
        (format!(r#"{{"jsonrpc":"2.0","id":1,"method":"ping","params":{{"a":{deep}}}}}"#), too_deep("1")),
        (
            format!(
                r#"{{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{{"name":"echo","arguments":{{"text":"x","y":{deep}}}}}}}"#
            ),
            too_deep("2"),
        ),
        (format!(r#"{{"jsonrpc":"2.0","id":{deep},"method":"ping"}}"#), too_deep("null")),
        (format!(r#"{{"jsonrpc":"2.0","id":4,"method":"ping","params":{{"_meta":{deep}}}}}"#), too_deep("4")),
        (format!(r#"{{"jsonrpc":"2.0","id":5,"method":"ping","unread":{deep}}}"#), too_deep("5")),
        (
            format!(r#"{{"jsonrpc":"2.0","id":6,"method":"ping","params":{{"a":{}}}}}"#, "[".repeat(DEEP)),
            too_deep("null"),
        ),
        (
            format!(r#"{{"jsonrpc":"2.0","id":7,"method":"ping","params":{{"a":{}}}}}"#, "{\"k\":".repeat(DEEP / 5)),
            too_deep("null"),
        ),
        (nest(DEEP), too_deep("null")),
    ]
}

/// Invalid JSON, each answered -32700 with `id: null` (the id of invalid JSON is unknowable).
const INVALID: &[&str] = &[
    r#"{"jsonrpc":"2.0","id":1,"method":"ping","params":{"a":tru}}"#,
    r#"{"jsonrpc":"2.0","id":1,"method":"ping","params":{"a":01}}"#,
    r#"{"jsonrpc":"2.0","id":1,"method":"ping","params":{"a":'x'}}"#,
    r#"{"jsonrpc":"2.0","id":1,"method":"ping","params":{"a":[1,]}}"#,
    r#"{"jsonrpc":"2.0","id":1,"method":"ping","params":{"a":NaN}}"#,
    r#"{"jsonrpc":"2.0","id":1,"method":"ping","params":{"b" 1}}"#,
    r#"{"jsonrpc":"2.0","id":1,"method":"ping","params":{"a":"x\q"}}"#,
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":{\"a\":\"\u{0}\"}}",
    r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"x","y":{"b" 1}}}}"#,
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\",\"arguments\":{\"text\":\"a\u{1}b\"}}}",
];

/// A client's answer that must never be answered back.
const RESPONSES: &[&str] = &[
    r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}"#,
    r#"{"jsonrpc":"2.0","id":null,"result":{}}"#,
    r#"{"jsonrpc":"2.0","id":[1],"result":{}}"#,
    r#"{"jsonrpc":"2.0","id":"nobody-asked","result":{}}"#,
];

fn initialized_tcp(server: &Server) -> Conn {
    let mut conn = server.connect();
    conn.initialize();
    conn
}

#[test]
fn a_million_levels_of_nesting_anywhere_get_an_error_and_the_ndjson_connection_survives() {
    let server = Server::start(&["--cores", "1"]);
    let mut conn = server.connect();
    for (line, answer) in deep_cases() {
        assert_eq!(conn.call(&line), answer);
        assert_eq!(conn.call(PING), PONG);
    }
    conn.initialize();
    for (line, answer) in deep_cases() {
        assert_eq!(conn.call(&line), answer);
    }
    assert_eq!(server.connect().call(PING), PONG, "a new connection is served too");
}

#[test]
fn a_million_levels_of_nesting_over_http_get_an_error_and_the_connection_is_kept() {
    let server = Server::start(&["--cores", "1"]);
    let mut conn = HttpConn::connect(server.port);
    for (line, answer) in deep_cases() {
        let resp = conn.call(&Req::mcp(server.port, &line));
        assert_eq!((resp.status, resp.text()), (400, answer.as_str()));
        let ping = conn.call(&Req::mcp(server.port, PING).header("MCP-Protocol-Version", "2025-11-25"));
        assert_eq!(ping.status, 400, "no session: the transport still answers on the same connection");
    }
    let session = common::http_session(server.port);
    let ping = conn.call(&Req::mcp_in(server.port, &session, PING));
    assert_eq!((ping.status, ping.text()), (200, PONG));
}

#[test]
fn a_million_levels_of_nesting_over_websocket_get_an_error_and_the_socket_stays_open() {
    let server = Server::start(&["--cores", "1"]);
    let mut ws = ws_open(server.port);
    for (line, answer) in deep_cases() {
        assert_eq!(ws_call(&mut ws, &line), answer);
        assert_eq!(ws_call(&mut ws, PING), PONG);
    }
}

#[test]
fn invalid_json_is_a_parse_error_on_every_transport_even_where_nobody_reads() {
    let server = Server::start(&["--cores", "1"]);
    let (mut tcp, session, mut http, mut ws) = every_transport(&server);
    for line in INVALID {
        assert_eq!(tcp.call(line), PARSE_ERROR, "ndjson: {line}");
        let resp = http.call(&Req::mcp_in(server.port, &session, line));
        assert_eq!((resp.status, resp.text()), (400, PARSE_ERROR), "http: {line}");
        assert_eq!(ws_call(&mut ws, line), PARSE_ERROR, "websocket: {line}");
    }
    assert_eq!(tcp.call(PING), PONG);
    assert_eq!(ws_call(&mut ws, PING), PONG);
    let ping = http.call(&Req::mcp_in(server.port, &session, PING));
    assert_eq!((ping.status, ping.text()), (200, PONG));
}

#[test]
fn responses_with_null_or_unknown_ids_are_never_answered() {
    let server = Server::start(&["--cores", "1"]);
    let (mut tcp, session, mut http, mut ws) = every_transport(&server);
    for line in RESPONSES {
        // NDJSON and WebSocket: the next answer on the wire is the ping's, so none came first.
        tcp.send(line);
        assert_eq!(tcp.call(PING), PONG, "ndjson: {line}");
        ws.send(&ws_frame(WS_TEXT, line.as_bytes(), Some(WS_MASK)));
        assert_eq!(ws_call(&mut ws, PING), PONG, "websocket: {line}");
        let resp = http.call(&Req::mcp_in(server.port, &session, line));
        assert_eq!((resp.status, resp.text()), (202, ""), "http: {line}");
    }
}

#[test]
fn a_sum_that_overflows_to_infinity_is_a_tool_error_not_null() {
    let server = Server::start(&["--cores", "1"]);
    let mut conn = initialized_tcp(&server);
    let call = |a: &str, b: &str| {
        format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"add","arguments":{{"a":{a},"b":{b}}}}}}}"#
        )
    };
    let overflow = r#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"the tool's result cannot be sent: it holds the number inf (JSON has no NaN or infinity)"}],"isError":true}}"#;
    assert_eq!(conn.call(&call("1e308", "1e308")), overflow);
    let out_of_range = r#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"argument \"a\" is out of range: 1e999 is beyond ±1.8e308"}],"isError":true}}"#;
    assert_eq!(conn.call(&call("1e999", "1")), out_of_range);
    let fine = r#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"{\"sum\":3.5}"}],"structuredContent":{"sum":3.5}}}"#;
    assert_eq!(conn.call(&call("1.5", "2")), fine);
}

#[test]
fn a_lone_surrogate_in_an_argument_is_named_not_a_type_error() {
    let server = Server::start(&["--cores", "1"]);
    let mut conn = initialized_tcp(&server);
    let call =
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"a\ud800b"}}}"#;
    let answer = r#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"argument \"text\" is not valid Unicode: it has a lone UTF-16 surrogate escape"}],"isError":true}}"#;
    assert_eq!(conn.call(call), answer);
    assert_eq!(conn.call(PING), PONG);
}

#[test]
fn at_shutdown_a_held_back_request_and_the_one_in_flight_are_both_answered() {
    let server = Server::start(&["--cores", "1", "--max-inflight-per-connection", "1", "--drain-timeout-ms", "300"]);
    let mut conn = initialized_tcp(&server);
    // `sleep` fills the one in-flight slot, so the ping behind it is read but held back.
    let sleep = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"sleep","arguments":{"ms":5000}}}"#;
    conn.send(&format!("{sleep}\n{PING}"));
    std::thread::sleep(Duration::from_millis(200));
    let draining = |id: &str| {
        format!(
            r#"{{"jsonrpc":"2.0","id":{id},"error":{{"code":-32010,"message":"Server shutting down: drain_timeout_ms passed before this request was served; retry on another server","data":{{"reason":"draining"}}}}}}"#
        )
    };
    let status = server.signal_and_wait(libc::SIGTERM);
    assert!(status.success(), "{status:?}");
    assert_eq!(conn.recv_line(), draining("1"));
    assert_eq!(conn.recv_line(), draining("\"p\""));
}

#[test]
fn at_shutdown_a_held_back_request_is_served_when_the_drain_leaves_time() {
    let server = Server::start(&["--cores", "1", "--max-inflight-per-connection", "1", "--drain-timeout-ms", "5000"]);
    let mut conn = initialized_tcp(&server);
    let sleep = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"sleep","arguments":{"ms":300}}}"#;
    conn.send(&format!("{sleep}\n{PING}"));
    std::thread::sleep(Duration::from_millis(100));
    let status = server.signal_and_wait(libc::SIGTERM);
    assert!(status.success(), "{status:?}");
    assert_eq!(
        conn.recv_line(),
        r#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"slept 300 ms"}]}}"#
    );
    assert_eq!(conn.recv_line(), PONG);
}

/// An initialized session on each transport: NDJSON, Streamable HTTP (its id and a
/// connection to send on) and WebSocket.
fn every_transport(server: &Server) -> (Conn, String, HttpConn, HttpConn) {
    let tcp = initialized_tcp(server);
    let session = common::http_session(server.port);
    let http = HttpConn::connect(server.port);
    let mut ws = ws_open(server.port);
    ws_call(&mut ws, INIT);
    (tcp, session, http, ws)
}

fn ws_open(port: u16) -> HttpConn {
    let mut conn = HttpConn::connect(port);
    conn.send(&ws_upgrade(port).bytes());
    assert_eq!(conn.read_head().status, 101);
    conn
}

fn ws_call(ws: &mut HttpConn, text: &str) -> String {
    ws.send(&ws_frame(WS_TEXT, text.as_bytes(), Some(WS_MASK)));
    let frame = ws.read_ws_frame().expect("a text frame");
    assert_eq!(frame.opcode, WS_TEXT, "{frame:?}");
    frame.text().to_string()
}

#[test]
fn nesting_at_the_limit_is_served_through_every_parser_and_the_limit_is_configurable() {
    let server = Server::start(&["--cores", "1"]);
    let mut conn = initialized_tcp(&server);
    // Message 1, params 2, arguments 3, then 125 brackets: 128 levels, the default limit. The
    // escaped keys send it down the slow paths too (the full parse, the arguments rewrite).
    let deep = nest(125);
    let line = format!(
        r#"{{"js\u006fnrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"echo","arguments":{{"te\u0078t":"ok","deep":{deep}}}}}}}"#
    );
    let ok = r#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"ok"}]}}"#;
    assert_eq!(conn.call(&line), ok);
    let deeper = line.replace(&deep, &nest(126));
    assert_eq!(conn.call(&deeper), too_deep("1"));

    let server = Server::start(&["--cores", "1", "--max-json-depth", "4"]);
    let mut conn = initialized_tcp(&server);
    let at_limit = r#"{"jsonrpc":"2.0","id":2,"method":"ping","params":{"a":[{}]}}"#;
    assert_eq!(conn.call(at_limit), r#"{"jsonrpc":"2.0","id":2,"result":{}}"#);
    let over = r#"{"jsonrpc":"2.0","id":3,"method":"ping","params":{"a":[{"b":[]}]}}"#;
    let refused = r#"{"jsonrpc":"2.0","id":3,"error":{"code":-32600,"message":"Invalid Request: JSON nested deeper than 4 levels (max_json_depth)"}}"#;
    assert_eq!(conn.call(over), refused);
}

#[test]
fn a_line_or_frame_not_finished_within_frame_timeout_ms_is_cut_with_an_error() {
    let server = Server::start(&["--cores", "1", "--frame-timeout-ms", "300"]);
    // NDJSON: half a request, then nothing.
    let mut conn = initialized_tcp(&server);
    conn.send_raw(br#"{"jsonrpc":"2.0","id":7,"method":"pi"#);
    let err: serde_json::Value = serde_json::from_str(&conn.recv_line()).unwrap();
    assert_eq!(err["error"]["code"], -32600, "{err}");
    assert_eq!(err["id"], serde_json::Value::Null, "{err}");
    let message = err["error"]["message"].as_str().unwrap();
    assert!(message.contains("frame_timeout_ms (300 ms)"), "{message}");
    assert_eq!(conn.try_recv_line(), None, "the connection closes after the error");
    // A client that keeps finishing lines is never cut, however long it stays.
    let mut busy = initialized_tcp(&server);
    for _ in 0..6 {
        busy.send_raw(PING.as_bytes());
        std::thread::sleep(Duration::from_millis(100));
        busy.send_raw(b"\n");
        assert_eq!(busy.recv_line(), PONG);
    }
    // WebSocket: a frame header promising 100 bytes, and 10 of them.
    let mut ws = ws_open(server.port);
    let frame = ws_frame(WS_TEXT, &[b' '; 100], Some(WS_MASK));
    ws.send(&frame[..16]);
    let close = ws.read_ws_frame().expect("a close frame");
    assert_eq!(close.opcode, 0x8, "{close:?}");
    assert_eq!(u16::from_be_bytes([close.payload[0], close.payload[1]]), 1008, "policy violation");
    assert!(String::from_utf8_lossy(&close.payload[2..]).contains("frame_timeout_ms"), "{close:?}");
}
