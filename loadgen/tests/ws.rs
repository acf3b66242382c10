//! Black-box tests of `loadgen run --url ws://…`: against the real `ringmcp serve` (loadgen's
//! counts must equal the server's own), and against WebSocket servers written here that
//! fragment answers, ping, close with a code, or botch the upgrade.

mod common;

use common::{
    assert_identity, closed_run, loadgen_json, n, ok_json, ws_101, ws_close, ws_frame, ws_server, Ringmcp, WsStats,
    WS_CONTINUATION, WS_LAST, WS_PING, WS_TEXT, WS_TEXT_FIRST,
};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Waits up to 2 s for a test server thread to record something.
fn eventually(what: &str, check: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(2);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn ringmcp_serve_over_websocket_answers_every_request_exactly_once() {
    let server = Ringmcp::start(&["--cores", "2"]);
    let url = format!("ws://127.0.0.1:{}/mcp/ws", server.port);
    let (code, report, out) = closed_run(&url, "6", "16", "1s", "200ms", &["--protocol", "2025-11-25"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(report["transport"], "ws");
    assert_eq!(n(&report, "connections_established"), 6);
    for field in ["lost", "duplicated", "mismatched", "timeouts", "connection_errors", "server_messages"] {
        assert_eq!(n(&report, field), 0, "{field}: {report}");
    }
    let sent = n(&report, "sent");
    assert!(sent >= 6 * 16, "at least the first 16 on each connection: {report}");
    assert_eq!(n(&report, "ok"), sent, "{report}");
    assert!(report["errors"].as_object().expect("errors").is_empty(), "{report}");
    assert!(n(&report, "answers_measured") > 0 && n(&report["latency_us"], "count") > 0, "{report}");
    // The server counted exactly what loadgen sent, on 6 WebSocket sessions.
    assert_eq!(server.metric("ringmcp_messages_total", "method", "tools/call"), sent);
    assert_eq!(server.metric("ringmcp_messages_total", "method", "initialize"), 6);
    assert_eq!(server.metric("ringmcp_messages_total", "method", "notification"), 6);
    assert_eq!(server.metric("ringmcp_connections_accepted_total", "transport", "websocket"), 6);
}

#[test]
fn fragmented_answers_are_reassembled_and_pings_get_masked_pongs() {
    // Every answer comes in three fragments with a ping between the first two; every 3rd
    // request also gets a notification first. The server checks every client frame is masked
    // and every pong echoes its ping (else it closes with 1002 and the run fails).
    let stats = Arc::new(WsStats::default());
    let behaviour = Arc::new(|id: u64, seen: u64| {
        let answer = ok_json(id);
        let (a, rest) = answer.split_at(7);
        let (b, c) = rest.split_at(rest.len() / 2);
        let mut frames = Vec::new();
        if seen.is_multiple_of(3) {
            frames.push(ws_frame(WS_TEXT, br#"{"jsonrpc":"2.0","method":"notifications/message","params":{}}"#));
        }
        frames.push(ws_frame(WS_TEXT_FIRST, a.as_bytes()));
        frames.push(ws_frame(WS_PING, format!("p{id}").as_bytes()));
        frames.push(ws_frame(WS_CONTINUATION, b.as_bytes()));
        frames.push(ws_frame(WS_LAST, c.as_bytes()));
        frames
    });
    let url = ws_server(ws_101, behaviour, stats.clone());
    let (code, report, out) = closed_run(&url, "2", "8", "500ms", "0s", &["--protocol", "2025-11-25"]);
    assert_eq!(code, 0, "{out}");
    let sent = n(&report, "sent");
    assert!(sent > 0);
    assert_eq!(n(&report, "ok"), sent, "{report}");
    assert_eq!(n(&report, "connection_errors"), 0, "{report}");
    // One notification per connection's 1st, 4th, 7th… request: ceil(sent_c / 3) summed over
    // the two connections.
    let notifications = sent.div_ceil(3)..=sent.div_ceil(3) + 1;
    assert!(notifications.contains(&n(&report, "server_messages")), "{report}");
    assert_eq!(stats.violations.load(Relaxed), 0);
    // Every ping was answered, and each session ended with a normal close.
    eventually("the last pongs and closes", || {
        stats.client_closes.lock().expect("lock").len() == 2 && stats.pongs.load(Relaxed) == stats.pings.load(Relaxed)
    });
    assert_eq!(stats.pings.load(Relaxed), sent + 2, "one per answer and one before each initialize answer");
    assert_eq!(*stats.client_closes.lock().expect("lock"), [Some(1000), Some(1000)]);
}

#[test]
fn a_close_frame_mid_run_is_a_connection_error_with_its_code() {
    // On the 3rd request the server answers nothing and closes with 1011. The first 4
    // requests leave together at the start, so this never depends on timing.
    let stats = Arc::new(WsStats::default());
    let behaviour = Arc::new(|id: u64, seen: u64| {
        if seen == 2 {
            vec![ws_close(1011, "tool crashed")]
        } else {
            vec![ws_frame(WS_TEXT, ok_json(id).as_bytes())]
        }
    });
    let url = ws_server(ws_101, behaviour, stats.clone());
    let (code, report, out) = closed_run(&url, "1", "4", "500ms", "0s", &[]);
    assert_eq!(code, 1, "{out}");
    assert_eq!(n(&report, "connection_errors"), 1, "{report}");
    assert_eq!(n(&report, "ok"), 2, "{report}");
    assert!(n(&report, "lost") >= 2, "{report}");
    assert_identity(&report);
    assert!(out.contains("closed the WebSocket with code 1011 (tool crashed)"), "{out}");
    // loadgen echoed the close code.
    eventually("the client's close", || !stats.client_closes.lock().expect("lock").is_empty());
    assert_eq!(*stats.client_closes.lock().expect("lock"), [Some(1011)]);
}

#[test]
fn a_refused_or_wrong_upgrade_is_a_connection_error() {
    let none = Arc::new(|_: u64, _: u64| Vec::new());
    let refused =
        ws_server(|_| b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec(), none.clone(), Arc::default());
    let (code, report, out) = loadgen_json(&["run", "--url", &refused, "--duration", "100ms", "--warmup", "0s"]);
    assert_eq!(code, 1, "{out}");
    assert_eq!((n(&report, "connection_errors"), n(&report, "connections_established")), (1, 0));
    assert!(out.contains("WebSocket upgrade refused: HTTP 404"), "{out}");
    let wrong = ws_server(
        |_| {
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
                .to_vec()
        },
        none,
        Arc::default(),
    );
    let (code, report, out) = loadgen_json(&["run", "--url", &wrong, "--duration", "100ms", "--warmup", "0s"]);
    assert_eq!(code, 1, "{out}");
    assert_eq!(n(&report, "connection_errors"), 1, "{report}");
    assert!(out.contains("wrong Sec-WebSocket-Accept"), "{out}");
}
