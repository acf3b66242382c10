//! Session admission, black-box: a flood of sessions on one transport or from one address
//! locks nobody else out. Small configured caps on one core keep every count exact: the
//! Streamable HTTP share fills and refuses with 503 + Retry-After while NDJSON and WebSocket
//! keep working (open sessions and new ones), a full NDJSON or WebSocket share still answers
//! ping, one address over its cap gets 429, sessions that never send a second message end after
//! `session_handshake_timeout_ms`, and /health and /metrics show all of it.

mod common;

use common::{ws_frame, ws_upgrade, Conn, HttpConn, HttpResponse, Req, Server, INIT, WS_MASK, WS_TEXT};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const PING: &str = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
const PONG: &str = r#"{"jsonrpc":"2.0","id":1,"result":{}}"#;
const INITIALIZED: &str = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
const TOOLS_LIST: &str = r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#;
const SESSION_UNKNOWN: &str = r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32000,"message":"Not Found: unknown or ended session; initialize a new one"}}"#;
/// Longest a test waits for the sweep to end expired sessions (it runs every second).
const SWEEP_WAIT: Duration = Duration::from_secs(10);

fn echo(id: u64, text: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"echo","arguments":{{"text":"{text}"}}}}}}"#
    )
}

fn echo_answer(id: u64, text: &str) -> String {
    format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{{"content":[{{"type":"text","text":"{text}"}}]}}}}"#)
}

/// The -32010 answer to `initialize` (id 0) refused for `reason`, with its `data`.
fn refused(message: &str, retry_after_ms: u64, reason: &str, transport: &str, held: u64, limit: u64) -> String {
    let data = format!(
        r#"{{"retryAfterMs":{retry_after_ms},"reason":"{reason}","transport":"{transport}","held":{held},"limit":{limit},"core":0}}"#
    );
    format!(r#"{{"jsonrpc":"2.0","id":0,"error":{{"code":-32010,"message":"{message}","data":{data}}}}}"#)
}

/// Asserts an HTTP refusal: status, exactly these headers, the body.
fn assert_refusal(resp: &HttpResponse, status: u16, retry_after_s: u64, body: &str) {
    assert_eq!((resp.status, resp.text()), (status, body), "{resp:?}");
    let want = [
        ("content-type", "application/json".to_string()),
        ("retry-after", retry_after_s.to_string()),
        ("content-length", body.len().to_string()),
    ];
    let want: Vec<(String, String)> = want.iter().map(|(n, v)| (n.to_string(), v.clone())).collect();
    assert_eq!(resp.headers, want, "{resp:?}");
}

/// POSTs `initialize` on `conn`; the session id if one was opened.
fn initialize(conn: &mut HttpConn, port: u16) -> (HttpResponse, Option<String>) {
    let resp = conn.call(&Req::mcp(port, INIT));
    let sid = resp.header("mcp-session-id").map(str::to_string);
    (resp, sid)
}

fn health(port: u16) -> Value {
    let resp = HttpConn::connect(port).call(&Req::new("GET", "/health", port));
    assert_eq!(resp.status, 200, "{resp:?}");
    resp.json()
}

/// The value of the one `/metrics` sample whose series is exactly `series`.
fn metric(port: u16, series: &str) -> f64 {
    let resp = HttpConn::connect(port).call(&Req::new("GET", "/metrics", port));
    let text = resp.text().to_string();
    let line = text.lines().find(|l| l.strip_prefix(series).is_some_and(|rest| rest.starts_with(' ')));
    let line = line.unwrap_or_else(|| panic!("no sample {series} in\n{text}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

fn refusals(port: u16, transport: &str, reason: &str) -> f64 {
    metric(port, &format!(r#"ringmcp_session_refusals_total{{core="0",transport="{transport}",reason="{reason}"}}"#))
}

/// Polls /health until `done` holds for it; fails after [`SWEEP_WAIT`].
fn wait_for_health(port: u16, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + SWEEP_WAIT;
    loop {
        let h = health(port);
        if done(&h) {
            return h;
        }
        assert!(Instant::now() < deadline, "{what} not within {SWEEP_WAIT:?}: {h}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---- WebSocket, one JSON-RPC message per text frame ----

fn ws_open(port: u16) -> HttpConn {
    let mut conn = HttpConn::connect(port);
    conn.send(&ws_upgrade(port).bytes());
    let head = conn.read_head();
    assert_eq!(head.status, 101, "{head:?}");
    conn
}

fn ws_call(conn: &mut HttpConn, text: &str) -> String {
    conn.send(&ws_frame(WS_TEXT, text.as_bytes(), Some(WS_MASK)));
    let frame = conn.read_ws_frame().expect("connection closed before a text frame");
    assert_eq!((frame.fin, frame.opcode), (true, WS_TEXT), "{frame:?}");
    frame.text().to_string()
}

/// Initializes a socket's session; asserts it got one (`_meta` names it).
fn ws_initialize(conn: &mut HttpConn) {
    let init: Value = serde_json::from_str(&ws_call(conn, INIT)).unwrap();
    assert_eq!(init["result"]["_meta"]["io.ringmcp/session"].as_str().map(str::len), Some(32), "{init}");
    conn.send(&ws_frame(WS_TEXT, INITIALIZED.as_bytes(), Some(WS_MASK)));
}

/// Initializes an NDJSON session; asserts it got one.
fn tcp_initialize(conn: &mut Conn) {
    let init = conn.initialize();
    assert_eq!(init["_meta"]["io.ringmcp/session"].as_str().map(str::len), Some(32), "{init}");
}

#[test]
fn an_http_session_flood_locks_out_no_other_transport() {
    // One core, 100 sessions: HTTP may hold 50, NDJSON 25, WebSocket 25. A long handshake
    // deadline keeps the flood's sessions for the whole test.
    let args = ["--cores", "1", "--max-sessions-per-core", "100", "--session-handshake-timeout-ms", "60000"];
    let server = Server::start(&args);
    let port = server.port;
    let mut ws_before = ws_open(port);
    ws_initialize(&mut ws_before);

    let mut flood = HttpConn::connect(port);
    let mut sessions = Vec::new();
    for _ in 0..50 {
        let (resp, sid) = initialize(&mut flood, port);
        assert_eq!(resp.status, 200, "{resp:?}");
        sessions.push(sid.expect("a session id"));
    }
    let message = "Server overloaded: core 0 holds 50 of 50 http sessions (http_session_share_percent); retry later";
    let body = refused(message, 61_000, "transport_full", "http", 50, 50);
    for _ in 0..30 {
        let (resp, sid) = initialize(&mut flood, port);
        assert_refusal(&resp, 503, 61, &body);
        assert_eq!(sid, None);
    }

    // NDJSON: new connections answer ping and get a session with working tools.
    let tcp: Vec<Conn> = (0..3)
        .map(|_| {
            let mut tcp = Conn::tcp(port);
            assert_eq!(tcp.call(PING), PONG);
            tcp_initialize(&mut tcp);
            assert_eq!(tcp.call(&echo(3, "after the flood")), echo_answer(3, "after the flood"));
            tcp
        })
        .collect();
    // WebSocket: the socket opened before still works, a new one opens.
    assert_eq!(ws_call(&mut ws_before, &echo(4, "open before")), echo_answer(4, "open before"));
    let mut ws_after = ws_open(port);
    assert_eq!(ws_call(&mut ws_after, PING), PONG);
    ws_initialize(&mut ws_after);
    assert_eq!(ws_call(&mut ws_after, &echo(5, "opened after")), echo_answer(5, "opened after"));
    // HTTP sessions opened before the share filled still work.
    let mut http = HttpConn::connect(port);
    let resp = http.call(&Req::mcp_in(port, &sessions[0], &echo(6, "old")));
    assert_eq!((resp.status, resp.text()), (200, echo_answer(6, "old").as_str()), "{resp:?}");

    let h = health(port);
    assert_eq!(h["status"], "degraded", "{h}");
    assert_eq!(h["sessions"], 55, "{h}");
    assert_eq!(h["sessions_by_transport"], json!({"tcp": 3, "http": 50, "websocket": 2, "stdio": 0}), "{h}");
    let fill = json!({"registry": 55.0, "tcp": 12.0, "http": 100.0, "websocket": 8.0});
    assert_eq!(h["session_fill_percent"], fill, "{h}");
    assert_eq!(refusals(port, "http", "transport_full"), 30.0);
    assert_eq!(refusals(port, "tcp", "transport_full"), 0.0);
    assert_eq!(refusals(port, "websocket", "transport_full"), 0.0);
    assert_eq!(metric(port, r#"ringmcp_transport_sessions{core="0",transport="http"}"#), 50.0);
    assert_eq!(metric(port, r#"ringmcp_transport_session_limit{core="0",transport="http"}"#), 50.0);
    assert_eq!(metric(port, r#"ringmcp_http_responses_total{core="0",status="503"}"#), 30.0);
    assert_eq!(metric(port, r#"ringmcp_errors_total{core="0",code="-32010"}"#), 30.0);

    // Ending sessions makes room again, and /health recovers below the mark.
    for sid in &sessions[..10] {
        let resp = http.call(&Req::new("DELETE", "/mcp", port).header("Mcp-Session-Id", sid));
        assert_eq!(resp.status, 200, "{resp:?}");
    }
    let (resp, _) = initialize(&mut flood, port);
    assert_eq!(resp.status, 200, "{resp:?}");
    let h = health(port);
    assert_eq!(
        (h["status"].as_str(), h["session_fill_percent"]["http"].as_f64()),
        (Some("healthy"), Some(82.0)),
        "{h}"
    );
    drop(tcp);
}

#[test]
fn a_full_ndjson_or_websocket_share_still_answers_ping_and_initialize_says_why() {
    // Eight sessions per core: NDJSON and WebSocket may hold two each.
    let server = Server::start(&["--cores", "1", "--max-sessions-per-core", "8"]);
    let port = server.port;
    let mut first = Conn::tcp(port);
    tcp_initialize(&mut first);
    let mut second = Conn::tcp(port);
    tcp_initialize(&mut second);
    let mut third = Conn::tcp(port);
    assert_eq!(third.call(PING), PONG);
    let message = "Server overloaded: core 0 holds 2 of 2 tcp sessions (tcp_session_share_percent); \
                   ping is still served; retry initialize later";
    let refusal = refused(message, 6_000, "transport_full", "tcp", 2, 2);
    assert_eq!(third.call(INIT), refusal);
    let not_initialized = r#"{"jsonrpc":"2.0","id":2,"error":{"code":-32600,"message":"Invalid Request: session not initialized; send initialize before tools/list"}}"#;
    assert_eq!(third.call(TOOLS_LIST), not_initialized);
    assert_eq!(third.call(PING), PONG, "the connection stays usable");
    // The connect and the initialize were each refused.
    assert_eq!(refusals(port, "tcp", "transport_full"), 2.0);

    // WebSocket likewise, on its own share.
    let (mut ws_a, mut ws_b) = (ws_open(port), ws_open(port));
    ws_initialize(&mut ws_a);
    ws_initialize(&mut ws_b);
    let mut ws_c = ws_open(port);
    assert_eq!(ws_call(&mut ws_c, PING), PONG);
    let message = "Server overloaded: core 0 holds 2 of 2 websocket sessions (websocket_session_share_percent); \
                   ping is still served; retry initialize later";
    assert_eq!(ws_call(&mut ws_c, INIT), refused(message, 6_000, "transport_full", "websocket", 2, 2));
    assert_eq!(ws_call(&mut ws_a, &echo(7, "still here")), echo_answer(7, "still here"));
    // HTTP has its own share.
    let mut http = HttpConn::connect(port);
    let (resp, sid) = initialize(&mut http, port);
    assert_eq!((resp.status, sid.map(|s| s.len())), (200, Some(32)), "{resp:?}");

    // Once a connection closes, initialize on the refused one succeeds.
    drop(first);
    let deadline = Instant::now() + SWEEP_WAIT;
    loop {
        let answer: Value = serde_json::from_str(&third.call(INIT)).unwrap();
        if answer["result"]["_meta"]["io.ringmcp/session"].as_str().map(str::len) == Some(32) {
            break;
        }
        assert_eq!(answer["error"]["code"], -32010, "{answer}");
        assert!(Instant::now() < deadline, "no room after a connection closed: {answer}");
        std::thread::sleep(Duration::from_millis(20));
    }
    third.send(INITIALIZED);
    assert_eq!(third.call(&echo(8, "admitted")), echo_answer(8, "admitted"));
    assert_eq!(second.call(PING), PONG);
    let h = health(port);
    assert_eq!(h["sessions_by_transport"], json!({"tcp": 2, "http": 1, "websocket": 2, "stdio": 0}), "{h}");
    assert_eq!(h["status"], "degraded", "two of two NDJSON sessions: {h}");
}

#[test]
fn one_address_over_its_cap_gets_429_and_ending_a_session_makes_room() {
    let server = Server::start(&["--cores", "1", "--max-http-sessions-per-address-per-core", "3"]);
    let port = server.port;
    let mut conn = HttpConn::connect(port);
    let sessions: Vec<String> = (0..3)
        .map(|_| {
            let (resp, sid) = initialize(&mut conn, port);
            assert_eq!(resp.status, 200, "{resp:?}");
            sid.unwrap()
        })
        .collect();
    let message = "Too many sessions: 127.0.0.1 holds 3 of 3 http sessions on core 0 \
                   (max_http_sessions_per_address_per_core); end one with DELETE or retry later";
    let body = refused(message, 6_000, "address_full", "http", 3, 3);
    let (resp, sid) = initialize(&mut conn, port);
    assert_refusal(&resp, 429, 6, &body);
    assert_eq!((resp.reason.as_str(), sid), ("Too Many Requests", None));
    // The address's other transports are not counted against it.
    let mut tcp = Conn::tcp(port);
    tcp_initialize(&mut tcp);
    assert_eq!(refusals(port, "http", "address_full"), 1.0);
    assert_eq!(metric(port, r#"ringmcp_http_responses_total{core="0",status="429"}"#), 1.0);
    // Its sessions still work, and ending one lets it open another.
    let resp = conn.call(&Req::mcp_in(port, &sessions[1], &echo(9, "mine")));
    assert_eq!((resp.status, resp.text()), (200, echo_answer(9, "mine").as_str()), "{resp:?}");
    let resp = conn.call(&Req::new("DELETE", "/mcp", port).header("Mcp-Session-Id", &sessions[0]));
    assert_eq!(resp.status, 200, "{resp:?}");
    let (resp, sid) = initialize(&mut conn, port);
    assert_eq!((resp.status, sid.map(|s| s.len())), (200, Some(32)), "{resp:?}");
}

#[test]
fn sessions_without_a_second_message_end_after_the_handshake_timeout_and_free_their_slots() {
    // HTTP may hold 4 sessions; a session that says nothing after initialize lives 300 ms.
    let args = ["--cores", "1", "--max-sessions-per-core", "8", "--session-handshake-timeout-ms", "300"];
    let server = Server::start(&args);
    let port = server.port;
    let mut conn = HttpConn::connect(port);
    let (_, greeted) = initialize(&mut conn, port);
    let greeted = greeted.unwrap();
    let ack = conn.call(&Req::mcp_in(port, &greeted, INITIALIZED));
    assert_eq!(ack.status, 202, "{ack:?}");
    let silent: Vec<String> = (0..3).map(|_| initialize(&mut conn, port).1.unwrap()).collect();
    let filled = Instant::now();
    let message = "Server overloaded: core 0 holds 4 of 4 http sessions (http_session_share_percent); retry later";
    let (resp, _) = initialize(&mut conn, port);
    assert_refusal(&resp, 503, 2, &refused(message, 1_300, "transport_full", "http", 4, 4));
    assert_eq!(health(port)["status"], "degraded");

    let h = wait_for_health(port, "the silent sessions ending", |h| h["sessions_by_transport"]["http"] == 1);
    assert!(filled.elapsed() >= Duration::from_millis(300), "ended before the handshake timeout");
    assert_eq!(
        (h["status"].as_str(), h["session_fill_percent"]["http"].as_f64()),
        (Some("healthy"), Some(25.0)),
        "{h}"
    );
    for sid in &silent {
        let resp = conn.call(&Req::mcp_in(port, sid, TOOLS_LIST));
        assert_eq!((resp.status, resp.text()), (404, SESSION_UNKNOWN), "{resp:?}");
    }
    // The session that completed its handshake outlives the handshake timeout.
    let resp = conn.call(&Req::mcp_in(port, &greeted, &echo(10, "still open")));
    assert_eq!((resp.status, resp.text()), (200, echo_answer(10, "still open").as_str()), "{resp:?}");
    let fresh: Vec<u16> = (0..3).map(|_| initialize(&mut conn, port).0.status).collect();
    assert_eq!(fresh, [200, 200, 200], "the freed slots are open again");
}

#[test]
fn sigterm_ends_connections_served_without_a_session_at_once() {
    // Two sessions per core: NDJSON and WebSocket may hold one each.
    let mut server =
        Server::start(&["--cores", "1", "--max-sessions-per-core", "2", "--http-session-share-percent", "1"]);
    let port = server.port;
    let (mut tcp_in, mut tcp_out) = (Conn::tcp(port), Conn::tcp(port));
    tcp_initialize(&mut tcp_in);
    assert_eq!(tcp_out.call(PING), PONG);
    let (mut ws_in, mut ws_out) = (ws_open(port), ws_open(port));
    ws_initialize(&mut ws_in);
    assert_eq!(ws_call(&mut ws_out, PING), PONG);
    assert_eq!(health(port)["sessions_by_transport"], json!({"tcp": 1, "http": 0, "websocket": 1, "stdio": 0}));
    let signalled = Instant::now();
    server.send_signal(libc::SIGTERM);
    assert_eq!(tcp_out.try_recv_line(), None, "closed by the drain");
    let close = ws_out.read_ws_frame().expect("a close frame");
    assert_eq!(close.close(), (1001, "server shutting down".to_string()));
    let status = server.wait_exit(Duration::from_secs(5)).expect("exits within the drain");
    assert_eq!(status.code(), Some(0));
    assert!(signalled.elapsed() < Duration::from_secs(5), "the idle connections did not hold up the drain");
}

#[test]
fn a_delete_naming_a_connections_session_is_404_and_the_connection_keeps_it() {
    let server = Server::start(&["--cores", "1"]);
    let port = server.port;
    let mut tcp = Conn::tcp(port);
    let init = tcp.initialize();
    let tcp_sid = init["_meta"]["io.ringmcp/session"].as_str().unwrap().to_string();
    let mut ws = ws_open(port);
    let init: Value = serde_json::from_str(&ws_call(&mut ws, INIT)).unwrap();
    let ws_sid = init["result"]["_meta"]["io.ringmcp/session"].as_str().unwrap().to_string();
    let mut http = HttpConn::connect(port);
    for sid in [&tcp_sid, &ws_sid] {
        let resp = http.call(&Req::new("DELETE", "/mcp", port).header("Mcp-Session-Id", sid));
        assert_eq!((resp.status, resp.text()), (404, SESSION_UNKNOWN), "{resp:?}");
    }
    assert_eq!(tcp.call(&echo(11, "kept")), echo_answer(11, "kept"));
    assert_eq!(ws_call(&mut ws, &echo(12, "kept")), echo_answer(12, "kept"));
    drop((tcp, ws));
    let h = wait_for_health(port, "both connections' sessions ending", |h| h["sessions"] == 0);
    assert_eq!(h["sessions_by_transport"], json!({"tcp": 0, "http": 0, "websocket": 0, "stdio": 0}), "{h}");
}
