//! JSON-RPC rules and framing limits over real sockets and stdio: exact error answers, and
//! the connection stays usable wherever the protocol allows.

mod common;

use common::{Conn, Server};
use std::collections::HashSet;

fn init_with(conn: &mut Conn, version: &str) -> serde_json::Value {
    let line = format!(
        r#"{{"jsonrpc":"2.0","id":0,"method":"initialize","params":{{"protocolVersion":"{version}","capabilities":{{}},"clientInfo":{{"name":"t","version":"1"}}}}}}"#
    );
    serde_json::from_str(&conn.call(&line)).unwrap()
}

#[test]
fn ping_works_before_initialize_but_other_methods_do_not() {
    let mut c = Conn::stdio(&[]);
    assert_eq!(c.call(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#), r#"{"jsonrpc":"2.0","id":1,"result":{}}"#);
    assert_eq!(
        c.call(r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#),
        r#"{"jsonrpc":"2.0","id":2,"error":{"code":-32600,"message":"Invalid Request: session not initialized; send initialize before tools/list"}}"#
    );
}

#[test]
fn known_versions_are_echoed_and_unknown_ones_get_the_latest() {
    for (asked, answered) in [
        ("2024-11-05", "2024-11-05"),
        ("2025-03-26", "2025-03-26"),
        ("2025-06-18", "2025-06-18"),
        ("2025-11-25", "2025-11-25"),
        ("2026-07-28", "2025-11-25"),
        ("1999-01-01", "2025-11-25"),
    ] {
        let mut c = Conn::stdio(&[]);
        assert_eq!(init_with(&mut c, asked)["result"]["protocolVersion"], answered, "asked {asked}");
    }
}

#[test]
fn malformed_lines_get_exact_errors_and_the_connection_stays_usable() {
    let server = Server::start(&["--cores", "1"]);
    let mut c = server.connect();
    c.initialize();
    let cases: &[(&str, &str)] = &[
        ("{not json", r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error: invalid JSON"}}"#),
        (
            r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#,
            r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Invalid Request: JSON-RPC batches are not supported (removed from MCP in 2025-06-18)"}}"#,
        ),
        ("42", r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Invalid Request: not a JSON object"}}"#),
        (
            r#"{"id":3,"method":"ping"}"#,
            r#"{"jsonrpc":"2.0","id":3,"error":{"code":-32600,"message":"Invalid Request: \"jsonrpc\" must be \"2.0\""}}"#,
        ),
        (
            r#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#,
            r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Invalid Request: id must be a string or an integer"}}"#,
        ),
        (
            r#"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#,
            r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Invalid Request: id must be a string or an integer"}}"#,
        ),
        (
            r#"{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}"#,
            r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Invalid Request: id must be a string or an integer"}}"#,
        ),
        (
            r#"{"jsonrpc":"2.0","id":4,"method":7}"#,
            r#"{"jsonrpc":"2.0","id":4,"error":{"code":-32600,"message":"Invalid Request: \"method\" must be a string"}}"#,
        ),
        (
            r#"{"jsonrpc":"2.0","id":5}"#,
            r#"{"jsonrpc":"2.0","id":5,"error":{"code":-32600,"message":"Invalid Request: no \"method\""}}"#,
        ),
        (
            r#"{"jsonrpc":"2.0","id":6,"method":"ping","params":[1]}"#,
            r#"{"jsonrpc":"2.0","id":6,"error":{"code":-32602,"message":"Invalid params: \"params\" must be an object"}}"#,
        ),
        (
            r#"{"jsonrpc":"2.0","id":"a\"b\u00e9","method":"ping"}"#,
            r#"{"jsonrpc":"2.0","id":"a\"b\u00e9","result":{}}"#,
        ),
        (
            r#"{"jsonrpc":"2.0","id":-9007199254740993,"method":"ping"}"#,
            r#"{"jsonrpc":"2.0","id":-9007199254740993,"result":{}}"#,
        ),
        (r#"{"jsonrpc":"2.0","id":7,"method":"ping"}"#, r#"{"jsonrpc":"2.0","id":7,"result":{}}"#),
    ];
    for (req, want) in cases {
        assert_eq!(c.call(req), *want, "answer to {req}");
    }
}

#[test]
fn notifications_and_responses_are_never_answered() {
    let mut c = Conn::stdio(&[]);
    c.initialize();
    c.send(r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}"#);
    c.send(r#"{"jsonrpc":"2.0","method":"no/such/notification"}"#);
    c.send(r#"{"jsonrpc":"2.0","id":99,"result":{}}"#);
    // The next line out must be the ping's answer: nothing was written for the three above.
    assert_eq!(c.call(r#"{"jsonrpc":"2.0","id":8,"method":"ping"}"#), r#"{"jsonrpc":"2.0","id":8,"result":{}}"#);
}

#[test]
fn crlf_and_blank_lines_are_accepted() {
    let server = Server::start(&["--cores", "1"]);
    let mut c = server.connect();
    c.send_raw(b"\r\n\n  \n{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\r\n\n");
    assert_eq!(c.recv_line(), r#"{"jsonrpc":"2.0","id":1,"result":{}}"#);
}

#[test]
fn ten_thousand_pipelined_requests_in_one_write_get_ten_thousand_answers() {
    const N: usize = 10_000;
    let server = Server::start(&["--cores", "1"]);
    let mut c = server.connect();
    c.initialize();
    let mut batch = String::new();
    for i in 0..N {
        batch.push_str(&format!(
            r#"{{"jsonrpc":"2.0","id":{i},"method":"tools/call","params":{{"name":"echo","arguments":{{"text":"m{i}"}}}}}}"#
        ));
        batch.push('\n');
    }
    c.send_raw(batch.as_bytes());
    let mut seen = HashSet::new();
    for _ in 0..N {
        let v = c.recv();
        let id = v["id"].as_u64().unwrap();
        assert_eq!(v["result"]["content"][0]["text"], format!("m{id}"));
        assert!(seen.insert(id), "id {id} answered twice");
    }
    assert_eq!(seen.len(), N);
    assert_eq!(
        c.call(r#"{"jsonrpc":"2.0","id":"after","method":"ping"}"#),
        r#"{"jsonrpc":"2.0","id":"after","result":{}}"#
    );
}

#[test]
fn one_mib_echo_round_trips_exactly() {
    let text: String = (0..(1 << 20)).map(|i| (b'a' + (i % 26) as u8) as char).collect();
    let req = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"echo","arguments":{{"text":"{text}"}}}}}}"#
    );
    let want = format!(r#"{{"jsonrpc":"2.0","id":1,"result":{{"content":[{{"type":"text","text":"{text}"}}]}}}}"#);
    let server = Server::start(&["--cores", "1"]);
    let mut tcp = server.connect();
    tcp.initialize();
    assert!(tcp.call(&req) == want, "1 MiB echo over TCP differs");
    let mut stdio = Conn::stdio(&[]);
    stdio.initialize();
    assert!(stdio.call(&req) == want, "1 MiB echo over stdio differs");
    let mut sockets = Conn::stdio_sockets(&[]);
    sockets.initialize();
    assert!(sockets.call(&req) == want, "1 MiB echo over stdio sockets differs");
}

#[test]
fn oversized_line_gets_error_and_connection_closes_while_others_carry_on() {
    let server = Server::start(&["--cores", "1", "--max-message-bytes", "1024"]);
    let mut other = server.connect();
    other.initialize();
    let mut c = server.connect();
    c.initialize();
    let big = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"ping","params":{{"pad":"{}"}}}}"#, "x".repeat(2000));
    c.send(&big);
    assert_eq!(
        c.recv_line(),
        r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Invalid Request: message longer than max_message_bytes (1024 bytes); closing"}}"#
    );
    assert_eq!(c.try_recv_line(), None, "connection must close after an oversized line");
    assert_eq!(other.call(r#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#), r#"{"jsonrpc":"2.0","id":2,"result":{}}"#);
}

#[test]
fn oversized_line_without_newline_is_cut_before_it_ends() {
    let server = Server::start(&["--cores", "1", "--max-message-bytes", "1024"]);
    let mut c = server.connect();
    c.send_raw(&[b'x'; 4096]);
    let answer = c.recv();
    assert_eq!(answer["error"]["code"], -32600);
    assert_eq!(c.try_recv_line(), None);
}
