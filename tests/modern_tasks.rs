//! The 2026-07-28 tasks extension (`io.modelcontextprotocol/tasks`), black-box against the
//! conformance pack: the server turns a call into a task, `tasks/get` shows it working,
//! `input_required` (with its input requests), completed (with the result), failed (with the
//! error) or cancelled; `tasks/update` answers input; `tasks/cancel` acks; clients without the
//! extension get -32021; and over HTTP any core answers for a task another core keeps.
//! Answers are compared exactly, with the task id and the timestamps put in placeholders.

mod common;

use common::{Conn, HttpConn, Req, Server};
use std::time::{Duration, Instant};

const TASKS_META: &str = r#""_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{"elicitation":{},"extensions":{"io.modelcontextprotocol/tasks":{}}}}"#;
const PLAIN_META: &str = r#""_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}"#;

fn request(id: u32, method: &str, params: &str, meta: &str) -> String {
    let sep = if params.is_empty() { "" } else { "," };
    format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}","params":{{{params}{sep}{meta}}}}}"#)
}

fn call(c: &mut Conn, id: u32, method: &str, params: &str) -> String {
    c.call(&request(id, method, params, TASKS_META))
}

/// The task id of a `CreateTaskResult` answer line.
fn task_id(line: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    v["result"]["taskId"].as_str().unwrap_or_else(|| panic!("no taskId in {line}")).to_string()
}

/// `line` with `id` as `ID` and every ISO 8601 timestamp as `T`.
fn masked(line: &str, id: &str) -> String {
    let line = line.replace(id, "ID");
    let mut out = String::new();
    let mut rest = line.as_str();
    while let Some(at) = rest.find("At\":\"") {
        let start = at + 5;
        out.push_str(&rest[..start]);
        let end = rest[start..].find('"').expect("a closed string");
        out.push('T');
        rest = &rest[start + end..];
    }
    out.push_str(rest);
    out
}

/// Polls `tasks/get` until the task's status is `status` (at most 10 s); the last answer.
fn poll_until(c: &mut Conn, id: &str, status: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let line = call(c, 90, "tasks/get", &format!(r#""taskId":"{id}""#));
        if line.contains(&format!(r#""status":"{status}""#)) || Instant::now() > deadline {
            return line;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn tasks_complete_fail_ask_for_input_and_cancel_on_a_connection() {
    let server = Server::start(&["--cores", "1", "--pack", "conformance"]);
    let mut c = server.connect();
    let discover = call(&mut c, 1, "server/discover", "");
    assert!(discover.contains(r#""logging":{},"extensions":{"io.modelcontextprotocol/tasks":{}}}"#), "{discover}");
    assert!(!discover.contains(r#""tasks":{"list""#), "no session-era tasks capability: {discover}");

    // A tool that never runs as a task, and a legacy `task` param that changes nothing.
    assert_eq!(
        call(&mut c, 2, "tools/call", r#""name":"greet","arguments":{"name":"World"},"task":{"ttl":60000}"#),
        r#"{"jsonrpc":"2.0","id":2,"result":{"resultType":"complete","content":[{"type":"text","text":"Hello, World!"}]}}"#
    );

    // Server-directed: the tool waits, so the call is answered with a task.
    let created = call(&mut c, 3, "tools/call", r#""name":"slow_compute","arguments":{"seconds":1,"label":"a"}"#);
    let id = task_id(&created);
    assert!(id.starts_with("0-") && id.len() == 34, "core 0 named in {id}");
    assert_eq!(
        masked(&created, &id),
        r#"{"jsonrpc":"2.0","id":3,"result":{"resultType":"task","taskId":"ID","status":"working","createdAt":"T","lastUpdatedAt":"T","ttlMs":300000,"pollIntervalMs":1000,"content":[]}}"#
    );
    assert_eq!(
        masked(&call(&mut c, 4, "tasks/get", &format!(r#""taskId":"{id}""#)), &id),
        r#"{"jsonrpc":"2.0","id":4,"result":{"resultType":"complete","taskId":"ID","status":"working","createdAt":"T","lastUpdatedAt":"T","ttlMs":300000,"pollIntervalMs":1000}}"#
    );
    assert_eq!(
        masked(&poll_until(&mut c, &id, "completed"), &id),
        r#"{"jsonrpc":"2.0","id":90,"result":{"resultType":"complete","taskId":"ID","status":"completed","createdAt":"T","lastUpdatedAt":"T","ttlMs":300000,"result":{"content":[{"type":"text","text":"Computed a in 1s"}]}}}"#
    );

    // A tool error completes the task with an isError result; a JSON-RPC error fails it.
    let failing = task_id(&call(&mut c, 5, "tools/call", r#""name":"failing_job","arguments":{}"#));
    assert_eq!(
        masked(&poll_until(&mut c, &failing, "completed"), &failing),
        r#"{"jsonrpc":"2.0","id":90,"result":{"resultType":"complete","taskId":"ID","status":"completed","createdAt":"T","lastUpdatedAt":"T","ttlMs":300000,"result":{"content":[{"type":"text","text":"The job failed: the input could not be processed"}],"isError":true}}}"#
    );
    let broken = task_id(&call(&mut c, 6, "tools/call", r#""name":"protocol_error_job","arguments":{}"#));
    assert_eq!(
        masked(&poll_until(&mut c, &broken, "failed"), &broken),
        r#"{"jsonrpc":"2.0","id":90,"result":{"resultType":"complete","taskId":"ID","status":"failed","statusMessage":"Internal error: tool protocol_error_job panicked","createdAt":"T","lastUpdatedAt":"T","ttlMs":300000,"error":{"code":-32603,"message":"Internal error: tool protocol_error_job panicked"}}}"#
    );

    // Input: the task parks in input_required; an unknown key is acked and ignored.
    let asking = task_id(&call(&mut c, 7, "tools/call", r#""name":"confirm_delete","arguments":{"filename":"a.txt"}"#));
    assert_eq!(
        masked(&poll_until(&mut c, &asking, "input_required"), &asking),
        r#"{"jsonrpc":"2.0","id":90,"result":{"resultType":"complete","taskId":"ID","status":"input_required","createdAt":"T","lastUpdatedAt":"T","ttlMs":300000,"pollIntervalMs":1000,"inputRequests":{"confirm":{"method":"elicitation/create","params":{"message":"Delete a.txt?","requestedSchema":{"type":"object","properties":{"confirm":{"type":"boolean"}},"required":["confirm"]}}}}}}"#
    );
    let update = |key: &str| {
        format!(
            r#""taskId":"{asking}","inputResponses":{{"{key}":{{"action":"accept","content":{{"confirm":true}}}}}}"#
        )
    };
    assert_eq!(
        call(&mut c, 8, "tasks/update", &update("nope")),
        r#"{"jsonrpc":"2.0","id":8,"result":{"resultType":"complete"}}"#
    );
    assert!(call(&mut c, 9, "tasks/get", &format!(r#""taskId":"{asking}""#)).contains(r#""status":"input_required""#));
    assert_eq!(
        call(&mut c, 10, "tasks/update", &update("confirm")),
        r#"{"jsonrpc":"2.0","id":10,"result":{"resultType":"complete"}}"#
    );
    let done = poll_until(&mut c, &asking, "completed");
    assert!(done.ends_with(r#""result":{"content":[{"type":"text","text":"Deleted a.txt"}]}}}"#), "{done}");

    // Cancel: an empty ack, then the task says cancelled; cancelling again is acked too.
    let long = task_id(&call(&mut c, 11, "tools/call", r#""name":"slow_compute","arguments":{"seconds":60}"#));
    let cancel = format!(r#""taskId":"{long}""#);
    assert_eq!(
        call(&mut c, 12, "tasks/cancel", &cancel),
        r#"{"jsonrpc":"2.0","id":12,"result":{"resultType":"complete"}}"#
    );
    assert_eq!(
        masked(&call(&mut c, 13, "tasks/get", &cancel), &long),
        r#"{"jsonrpc":"2.0","id":13,"result":{"resultType":"complete","taskId":"ID","status":"cancelled","statusMessage":"The task was cancelled by request.","createdAt":"T","lastUpdatedAt":"T","ttlMs":300000}}"#
    );
    assert_eq!(
        call(&mut c, 14, "tasks/cancel", &cancel),
        r#"{"jsonrpc":"2.0","id":14,"result":{"resultType":"complete"}}"#
    );

    // Unknown ids, removed methods, and clients without the extension.
    assert_eq!(
        call(&mut c, 15, "tasks/get", r#""taskId":"0-nope""#),
        r#"{"jsonrpc":"2.0","id":15,"error":{"code":-32602,"message":"Failed to retrieve task: Task not found (unknown or expired task id)"}}"#
    );
    assert!(call(&mut c, 16, "tasks/list", "").contains(r#""code":-32601"#));
    let required = r#"{"code":-32021,"message":"Missing required client capability: tool failing_job runs only as a task; declare the io.modelcontextprotocol/tasks extension","data":{"requiredCapabilities":{"extensions":{"io.modelcontextprotocol/tasks":{}}}}}"#;
    assert_eq!(
        c.call(&request(17, "tools/call", r#""name":"failing_job","arguments":{}"#, PLAIN_META)),
        format!(r#"{{"jsonrpc":"2.0","id":17,"error":{required}}}"#)
    );
    assert_eq!(
        c.call(&request(18, "tasks/get", &cancel, PLAIN_META)),
        r#"{"jsonrpc":"2.0","id":18,"error":{"code":-32021,"message":"Missing required client capability: declare the io.modelcontextprotocol/tasks extension to use tasks","data":{"requiredCapabilities":{"extensions":{"io.modelcontextprotocol/tasks":{}}}}}}"#
    );
    // Without the extension an optional task tool answers in line.
    assert_eq!(
        c.call(&request(
            19,
            "tools/call",
            r#""name":"slow_compute","arguments":{"seconds":0,"label":"b"}"#,
            PLAIN_META
        )),
        r#"{"jsonrpc":"2.0","id":19,"result":{"resultType":"complete","content":[{"type":"text","text":"Computed b in 0s"}]}}"#
    );
}

#[test]
fn input_asked_before_the_task_is_a_round_trip_then_the_task_runs() {
    let server = Server::start(&["--cores", "1", "--pack", "conformance"]);
    let mut c = server.connect();
    let first = call(&mut c, 1, "tools/call", r#""name":"test_tool_with_task","arguments":{}"#);
    assert!(
        first.starts_with(
            r#"{"jsonrpc":"2.0","id":1,"result":{"resultType":"input_required","inputRequests":{"user_name":"#
        ),
        "{first}"
    );
    let v: serde_json::Value = serde_json::from_str(&first).unwrap();
    let state = v["result"]["requestState"].as_str().unwrap();
    let retry = format!(
        r#""name":"test_tool_with_task","arguments":{{}},"inputResponses":{{"user_name":{{"action":"accept","content":{{"name":"Alice"}}}}}},"requestState":"{state}""#
    );
    let created = call(&mut c, 2, "tools/call", &retry);
    let id = task_id(&created);
    assert!(!created.contains("requestState") && !created.contains("inputRequests"), "{created}");
    let done = poll_until(&mut c, &id, "completed");
    assert!(done.ends_with(r#""result":{"content":[{"type":"text","text":"Hello, Alice!"}]}}}"#), "{done}");
}

/// The JSON-RPC answer of an HTTP response (a JSON body, or the last SSE `data:` line).
fn answer_of(body: &str) -> String {
    match body.lines().rev().find_map(|l| l.strip_prefix("data: ")) {
        Some(data) => data.to_string(),
        None => body.to_string(),
    }
}

#[test]
fn over_http_any_core_answers_for_a_task_and_the_task_id_header_is_checked() {
    let server = Server::start(&["--cores", "2", "--pack", "conformance"]);
    let post = |method: &str, body: &str, name: &str| {
        Req::mcp(server.port, body)
            .header("MCP-Protocol-Version", "2026-07-28")
            .header("Mcp-Method", method)
            .header("Mcp-Name", name)
    };
    let created = {
        let mut http = HttpConn::connect(server.port);
        let body = request(1, "tools/call", r#""name":"slow_compute","arguments":{"seconds":60}"#, TASKS_META);
        answer_of(http.call(&post("tools/call", &body, "slow_compute")).text())
    };
    let id = task_id(&created);
    let get = request(2, "tasks/get", &format!(r#""taskId":"{id}""#), TASKS_META);
    // New connections land on either core (SO_REUSEPORT); every one finds the task.
    for _ in 0..8 {
        let mut http = HttpConn::connect(server.port);
        let r = http.call(&post("tasks/get", &get, &id));
        assert_eq!(r.status, 200);
        assert!(answer_of(r.text()).contains(r#""status":"working""#), "{}", r.text());
    }
    let mut http = HttpConn::connect(server.port);
    let r = http.call(&post("tasks/get", &get, "0-wrong"));
    assert_eq!(r.status, 400);
    assert_eq!(
        answer_of(r.text()),
        r#"{"jsonrpc":"2.0","id":2,"error":{"code":-32020,"message":"Header mismatch: Mcp-Name header value '0-wrong' does not match body value '"#.to_string() + &id + "'\"}}"
    );
    let cancel = request(3, "tasks/cancel", &format!(r#""taskId":"{id}""#), TASKS_META);
    let r = http.call(&post("tasks/cancel", &cancel, &id));
    assert_eq!(answer_of(r.text()), r#"{"jsonrpc":"2.0","id":3,"result":{"resultType":"complete"}}"#);
}
