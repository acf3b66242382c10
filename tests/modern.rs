//! MCP 2026-07-28 beside 2025-11-25, black-box: `server/discover`, `_meta` on every request,
//! `resultType` and caching hints, the removed methods, the new error codes and HTTP statuses,
//! the request-metadata headers, and input-required round trips with a sealed `requestState`
//! (accepted, tampered, replayed on another tool). Every answer is compared exactly.

mod common;

use common::{Conn, HttpConn, Req, Server};

const META: &str = r#""_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{"elicitation":{}}}"#;

fn request(id: u32, method: &str, params: &str) -> String {
    let sep = if params.is_empty() { "" } else { "," };
    format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}","params":{{{params}{sep}{META}}}}}"#)
}

#[test]
fn discover_results_and_errors_of_the_modern_era_on_a_connection() {
    let server = Server::start(&["--cores", "1"]);
    let mut c = server.connect();
    assert_eq!(
        c.call(&request(1, "server/discover", "")),
        r#"{"jsonrpc":"2.0","id":1,"result":{"resultType":"complete","ttlMs":0,"cacheScope":"public","supportedVersions":["2026-07-28"],"capabilities":{"tools":{"listChanged":true},"resources":{"subscribe":true,"listChanged":true},"prompts":{"listChanged":true},"completions":{},"logging":{}},"_meta":{"io.modelcontextprotocol/serverInfo":{"name":"ringmcp","version":"0.1.0"}}}}"#
    );
    // No initialize: served statelessly, with resultType.
    assert_eq!(
        c.call(&request(2, "tools/call", r#""name":"echo","arguments":{"text":"hi"}"#)),
        r#"{"jsonrpc":"2.0","id":2,"result":{"resultType":"complete","content":[{"type":"text","text":"hi"}]}}"#
    );
    assert_eq!(
        c.call(&request(3, "ping", "")),
        r#"{"jsonrpc":"2.0","id":3,"error":{"code":-32601,"message":"Method not found: ping is not part of MCP 2026-07-28 (it belongs to the initialize/session era)","data":{"method":"ping"}}}"#
    );
    assert_eq!(
        c.call(r#"{"jsonrpc":"2.0","id":4,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#),
        r#"{"jsonrpc":"2.0","id":4,"error":{"code":-32602,"message":"Invalid params: a 2026-07-28 request must carry _meta.io.modelcontextprotocol/clientCapabilities"}}"#
    );
    assert_eq!(
        c.call(r#"{"jsonrpc":"2.0","id":5,"method":"server/discover","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2099-01-01","io.modelcontextprotocol/clientCapabilities":{}}}}"#),
        r#"{"jsonrpc":"2.0","id":5,"error":{"code":-32022,"message":"Unsupported protocol version 2099-01-01; supported: 2026-07-28","data":{"supported":["2026-07-28"],"requested":"2099-01-01"}}}"#
    );
    // The old era on the same connection: ping without _meta, then initialize as before.
    assert_eq!(c.call(r#"{"jsonrpc":"2.0","id":6,"method":"ping"}"#), r#"{"jsonrpc":"2.0","id":6,"result":{}}"#);
    let init = c.initialize();
    assert_eq!(init["protocolVersion"], "2025-11-25");
}

#[test]
fn modern_http_posts_are_stateless_with_the_new_statuses_and_header_checks() {
    let server = Server::start(&["--cores", "1"]);
    let mut http = HttpConn::connect(server.port);
    let post = |id: u32, method: &str, params: &str| {
        Req::mcp(server.port, &request(id, method, params))
            .header("MCP-Protocol-Version", "2026-07-28")
            .header("Mcp-Method", method)
    };
    let r = http.call(&post(1, "tools/list", ""));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("mcp-session-id"), None);
    assert!(r.text().starts_with(
        r#"{"jsonrpc":"2.0","id":1,"result":{"resultType":"complete","ttlMs":0,"cacheScope":"public","tools":["#
    ));
    let r = http.call(&post(2, "nothing/here", ""));
    assert_eq!(r.status, 404);
    assert_eq!(
        r.text(),
        r#"{"jsonrpc":"2.0","id":2,"error":{"code":-32601,"message":"Method not found: nothing/here","data":{"method":"nothing/here"}}}"#
    );
    let r = http.call(&post(3, "tools/list", "").set("Mcp-Method", "prompts/list"));
    assert_eq!(r.status, 400);
    assert_eq!(
        r.text(),
        r#"{"jsonrpc":"2.0","id":3,"error":{"code":-32020,"message":"Header mismatch: Mcp-Method header value 'prompts/list' does not match body value 'tools/list'"}}"#
    );
    let r = http.call(&post(4, "tools/call", r#""name":"echo","arguments":{"text":"x"}"#).header("Mcp-Name", "add"));
    assert_eq!(r.status, 400);
    assert_eq!(
        r.text(),
        r#"{"jsonrpc":"2.0","id":4,"error":{"code":-32020,"message":"Header mismatch: Mcp-Name header value 'add' does not match body value 'echo'"}}"#
    );
    let r = http.call(
        &post(5, "tools/call", r#""name":"echo","arguments":{"text":"x"}"#).header("Mcp-Name", "=?base64?ZWNobw==?="),
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.text(),
        r#"{"jsonrpc":"2.0","id":5,"result":{"resultType":"complete","content":[{"type":"text","text":"x"}]}}"#
    );
    let r = http.call(&post(6, "tools/list", "").set("MCP-Protocol-Version", "2099-01-01"));
    assert_eq!(r.status, 400);
    assert!(r.text().contains(r#""code":-32020,"message":"Header mismatch: MCP-Protocol-Version header value '2099-01-01' does not match body value '2026-07-28'""#));
    let get = Req::new("GET", "/mcp", server.port)
        .header("Accept", "text/event-stream")
        .header("MCP-Protocol-Version", "2026-07-28");
    let r = http.call(&get);
    assert_eq!((r.status, r.header("allow")), (405, Some("POST, OPTIONS")));
    // A modern body without the header: -32020 (400), not a session-era refusal.
    let r = http.call(&Req::mcp(server.port, &request(7, "tools/list", "")));
    assert_eq!(r.status, 400);
    assert!(r.text().starts_with(r#"{"jsonrpc":"2.0","id":7,"error":{"code":-32020,"#));
}

/// `requestState` of an input-required answer line.
fn state_of(line: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    v["result"]["requestState"].as_str().expect("a requestState").to_string()
}

#[test]
fn input_required_round_trips_seal_their_state() {
    let server = Server::start(&["--cores", "1", "--pack", "conformance"]);
    let mut c: Conn = server.connect();
    let tool = r#""name":"test_input_required_result_elicitation","arguments":{}"#;
    let first = c.call(&request(1, "tools/call", tool));
    let asked = r#"{"jsonrpc":"2.0","id":1,"result":{"resultType":"input_required","inputRequests":{"user_name":{"method":"elicitation/create","params":{"message":"What is your name?","requestedSchema":{"type":"object","properties":{"name":{"type":"string"}},"required":["name"]}}}},"requestState":"#;
    assert!(first.starts_with(asked), "{first}");
    let state = state_of(&first);
    let answer = r#""inputResponses":{"user_name":{"action":"accept","content":{"name":"Ada"}}}"#;
    let retry =
        |id: u32, state: &str| request(id, "tools/call", &format!(r#"{tool},{answer},"requestState":"{state}""#));
    assert_eq!(
        c.call(&retry(2, &state)),
        r#"{"jsonrpc":"2.0","id":2,"result":{"resultType":"complete","content":[{"type":"text","text":"Hello, Ada!"}]}}"#
    );
    let mut tampered = state.clone().into_bytes();
    tampered[5] = if tampered[5] == b'A' { b'B' } else { b'A' };
    assert_eq!(
        c.call(&retry(3, std::str::from_utf8(&tampered).unwrap())),
        r#"{"jsonrpc":"2.0","id":3,"error":{"code":-32602,"message":"Invalid params: requestState failed its integrity check"}}"#
    );
    let other = r#""name":"test_input_required_result_request_state","arguments":{}"#;
    let replayed = request(4, "tools/call", &format!(r#"{other},{answer},"requestState":"{state}""#));
    assert_eq!(
        c.call(&replayed),
        r#"{"jsonrpc":"2.0","id":4,"error":{"code":-32602,"message":"Invalid params: requestState was issued for another request (method, name or arguments differ)"}}"#
    );
    // A client without the elicitation capability is never asked for it.
    let no_caps = r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"test_input_required_result_capabilities","arguments":{},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#;
    assert_eq!(
        c.call(no_caps),
        r#"{"jsonrpc":"2.0","id":5,"result":{"resultType":"complete","content":[{"type":"text","text":"No supported capabilities declared"}]}}"#
    );
}

#[test]
fn a_shared_secret_file_lets_another_node_take_the_retry() {
    let dir = std::env::temp_dir().join(format!("ringmcp-secret-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let secret = dir.join("key");
    std::fs::write(&secret, [7u8; 32]).unwrap();
    let secret = secret.to_str().unwrap();
    let args = ["--cores", "1", "--pack", "conformance", "--request-state-secret-file", secret];
    let (a, b) = (Server::start(&args), Server::start(&args));
    let tool = r#""name":"test_input_required_result_elicitation","arguments":{}"#;
    let state = state_of(&a.connect().call(&request(1, "tools/call", tool)));
    let answer = r#""inputResponses":{"user_name":{"action":"accept","content":{"name":"Bo"}}}"#;
    let retry = request(2, "tools/call", &format!(r#"{tool},{answer},"requestState":"{state}""#));
    assert_eq!(
        b.connect().call(&retry),
        r#"{"jsonrpc":"2.0","id":2,"result":{"resultType":"complete","content":[{"type":"text","text":"Hello, Bo!"}]}}"#
    );
    // A node with its own random key refuses it.
    let c = Server::start(&["--cores", "1", "--pack", "conformance"]);
    assert!(c.connect().call(&retry).contains("requestState failed its integrity check"));
    let short = dir.join("short");
    std::fs::write(&short, b"too short").unwrap();
    let out = std::process::Command::new(common::bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--request-state-secret-file", short.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("holds 9 bytes; at least 32"), "{out:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn listen_streams_get_their_ack_and_only_the_changes_they_asked_for() {
    let server = Server::start(&["--cores", "1", "--pack", "conformance"]);
    let mut tools = server.connect();
    let mut prompts = server.connect();
    let listen = |id: &str, filter: &str| {
        format!(
            r#"{{"jsonrpc":"2.0","id":"{id}","method":"subscriptions/listen","params":{{"notifications":{{{filter}}},{META}}}}}"#
        )
    };
    assert_eq!(
        tools.call(&listen("L1", r#""toolsListChanged":true"#)),
        r#"{"jsonrpc":"2.0","method":"notifications/subscriptions/acknowledged","params":{"notifications":{"toolsListChanged":true},"_meta":{"io.modelcontextprotocol/subscriptionId":"L1"}}}"#
    );
    assert_eq!(
        prompts.call(&listen("L2", r#""promptsListChanged":true,"resourcesListChanged":true"#)),
        r#"{"jsonrpc":"2.0","method":"notifications/subscriptions/acknowledged","params":{"notifications":{"promptsListChanged":true,"resourcesListChanged":true},"_meta":{"io.modelcontextprotocol/subscriptionId":"L2"}}}"#
    );
    let mut trigger = server.connect();
    let call = request(1, "tools/call", r#""name":"test_trigger_tool_change","arguments":{}"#);
    assert!(trigger.call(&call).contains("Mutation triggered"));
    assert_eq!(
        tools.recv_line(),
        r#"{"jsonrpc":"2.0","method":"notifications/tools/list_changed","params":{"_meta":{"io.modelcontextprotocol/subscriptionId":"L1"}}}"#
    );
    let call = request(2, "tools/call", r#""name":"test_trigger_prompt_change","arguments":{}"#);
    assert!(trigger.call(&call).contains("Mutation triggered"));
    // The prompts stream sees the prompt change only (not the tool change before it).
    assert_eq!(
        prompts.recv_line(),
        r#"{"jsonrpc":"2.0","method":"notifications/prompts/list_changed","params":{"_meta":{"io.modelcontextprotocol/subscriptionId":"L2"}}}"#
    );
    // Nothing else reached the tools stream: the next line there answers a new request.
    let answer = tools.call(&request(3, "prompts/list", ""));
    assert!(answer.starts_with(r#"{"jsonrpc":"2.0","id":3,"result":{"resultType":"complete""#), "{answer}");
}

#[test]
fn logs_are_sent_only_at_the_level_a_modern_request_asks_for() {
    let server = Server::start(&["--cores", "1", "--pack", "conformance"]);
    let mut c = server.connect();
    let tool = r#""name":"test_logging_tool","arguments":{}"#;
    let done = r#"{"jsonrpc":"2.0","id":1,"result":{"resultType":"complete","content":[{"type":"text","text":"Logging evaluated"}]}}"#;
    assert_eq!(c.call(&request(1, "tools/call", tool)), done);
    let with_level = |id: u32, level: &str| {
        format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{{tool},"_meta":{{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{{}},"io.modelcontextprotocol/logLevel":"{level}"}}}}}}"#
        )
    };
    assert_eq!(
        c.call(&with_level(2, "debug")),
        r#"{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"Diagnostic trace logging activated"}}"#
    );
    assert_eq!(c.recv_line(), done.replace(r#""id":1"#, r#""id":2"#));
    assert_eq!(c.call(&with_level(3, "warning")), done.replace(r#""id":1"#, r#""id":3"#));
}
