//! Per-tool timeouts and circuit breakers, black-box: timeouts answer -32012, five failures in
//! a row open the tool's breaker (-32011 with `data.retryAfterMs`, other tools unaffected,
//! `/health` degraded, `/metrics` counting), after the open period three probes go through
//! and a fourth is refused, a failed probe opens it again, a successful one closes it.

mod common;

use common::{HttpConn, Req, Server};
use std::time::Duration;

fn sleep_call(id: u32, ms: u64) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"sleep","arguments":{{"ms":{ms}}}}}}}"#
    )
}

fn timed_out(id: u32) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"error":{{"code":-32012,"message":"Tool timeout: tool sleep did not finish within 100 ms","data":{{"tool":"sleep","timeoutMs":100}}}}}}"#
    )
}

fn get(port: u16, path: &str) -> String {
    HttpConn::connect(port).call(&Req::new("GET", path, port)).text().to_string()
}

#[test]
fn a_failing_tool_trips_its_breaker_probes_and_closes_again() {
    let server =
        Server::start(&["--cores", "1", "--pack", "bench", "--tool-timeout-ms", "100", "--breaker-open-ms", "800"]);
    let mut c = server.connect();
    c.initialize();
    for id in 1..=5 {
        assert_eq!(c.call(&sleep_call(id, 300)), timed_out(id));
    }
    let refused: serde_json::Value = serde_json::from_str(&c.call(&sleep_call(6, 1))).unwrap();
    assert_eq!(refused["error"]["code"], -32011, "{refused}");
    assert_eq!(refused["error"]["data"]["tool"], "sleep");
    assert!(refused["error"]["data"]["retryAfterMs"].as_u64().is_some_and(|ms| ms > 0 && ms <= 800), "{refused}");
    let echo = r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}"#;
    assert_eq!(c.call(echo), r#"{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"hi"}]}}"#);
    let health: serde_json::Value = serde_json::from_str(&get(server.port, "/health")).unwrap();
    assert_eq!(
        (health["status"].as_str(), health["breakers_open"].to_string().as_str()),
        (Some("degraded"), r#"["sleep"]"#)
    );
    let metrics = get(server.port, "/metrics");
    for line in [
        r#"ringmcp_tool_breaker_state{core="0",tool="sleep"} 2"#,
        r#"ringmcp_tool_breaker_trips_total{core="0",tool="sleep"} 1"#,
        r#"ringmcp_tool_breaker_rejections_total{core="0",tool="sleep"} 1"#,
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in\n{metrics}");
    }

    // Half-open: three probes go through (and time out), the fourth is refused at once.
    std::thread::sleep(Duration::from_millis(900));
    for id in 10..=13 {
        c.send(&sleep_call(id, 300));
    }
    let mut answers: Vec<serde_json::Value> = (0..4).map(|_| serde_json::from_str(&c.recv_line()).unwrap()).collect();
    answers.sort_by_key(|a| a["id"].as_u64());
    let codes: Vec<i64> = answers.iter().map(|a| a["error"]["code"].as_i64().unwrap()).collect();
    assert_eq!(codes, [-32012, -32012, -32012, -32011], "{answers:?}");
    assert!(get(server.port, "/metrics")
        .lines()
        .any(|l| l == r#"ringmcp_tool_breaker_trips_total{core="0",tool="sleep"} 2"#));

    // A successful probe closes it.
    std::thread::sleep(Duration::from_millis(900));
    assert_eq!(
        c.call(&sleep_call(20, 1)),
        r#"{"jsonrpc":"2.0","id":20,"result":{"content":[{"type":"text","text":"slept 1 ms"}]}}"#
    );
    let health: serde_json::Value = serde_json::from_str(&get(server.port, "/health")).unwrap();
    assert_eq!((health["status"].as_str(), health["breakers_open"].to_string().as_str()), (Some("healthy"), "[]"));
    assert!(get(server.port, "/metrics")
        .lines()
        .any(|l| l == r#"ringmcp_tool_breaker_state{core="0",tool="sleep"} 0"#));
}
