//! The library API: a server built from user tools, run without sockets through the same
//! session code the transports use.

use ringmcp::{CallToolResult, Server, Tool, ToolError};

fn server() -> Server {
    Server::builder("lib-test", "9.9.9")
        .instructions("be nice")
        .tool(Tool::builder("boom", "panics").sync_handler(|_| panic!("handler bug")))
        .tool(Tool::builder("async_boom", "panics later").async_handler(|_| async { panic!("async handler bug") }))
        .tool(Tool::builder("fail", "fails").sync_handler(|_| Err(ToolError("disk full".into()))))
        .tool(
            Tool::builder("twice", "doubles n")
                .input_schema(ringmcp::json(
                    r#"{"type":"object","properties":{"n":{"type":"integer"}},"required":["n"]}"#,
                ))
                .async_handler(|call| async move { Ok(CallToolResult::text((call.u64("n")? * 2).to_string())) }),
        )
        .build()
}

const INIT: &str = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;

fn call(id: u32, tool: &str, args: &str) -> String {
    format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{tool}","arguments":{args}}}}}"#)
}

#[test]
fn panicking_handlers_fail_only_their_own_request() {
    let input = [INIT.to_string(), call(1, "boom", "{}"), call(2, "async_boom", "{}"), call(3, "twice", r#"{"n":21}"#)]
        .join("\n")
        + "\n";
    let out = server().handle_lines(&input);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(lines.contains(
        &r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"Internal error: tool boom panicked"}}"#
    ));
    assert!(lines.contains(
        &r#"{"jsonrpc":"2.0","id":2,"error":{"code":-32603,"message":"Internal error: tool async_boom panicked"}}"#
    ));
    assert!(lines.contains(&r#"{"jsonrpc":"2.0","id":3,"result":{"content":[{"type":"text","text":"42"}]}}"#));
}

#[test]
fn tool_failure_is_an_is_error_result() {
    let out = server().handle_lines(&format!("{INIT}\n{}\n", call(1, "fail", "{}")));
    assert_eq!(
        out.lines().nth(1).unwrap(),
        r#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"disk full"}],"isError":true}}"#
    );
}

#[test]
fn capabilities_list_only_what_is_registered() {
    let out = server().handle_lines(&format!("{INIT}\n"));
    let init: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(init["result"]["capabilities"], serde_json::json!({"tools": {"listChanged": true}, "logging": {}}));
    assert_eq!(init["result"]["serverInfo"], serde_json::json!({"name": "lib-test", "version": "9.9.9"}));
    assert_eq!(init["result"]["instructions"], "be nice");
}

#[test]
fn methods_of_kinds_the_server_lacks_still_answer() {
    let out = server().handle_lines(&format!("{INIT}\n{}\n", r#"{"jsonrpc":"2.0","id":1,"method":"prompts/list"}"#));
    assert_eq!(out.lines().nth(1).unwrap(), r#"{"jsonrpc":"2.0","id":1,"result":{"prompts":[]}}"#);
}

/// A server whose `grow` tool adds a tool and marks a resource changed while it runs.
fn growing_server() -> Server {
    let builder = Server::builder("grow-test", "1.0.0").resource(ringmcp::Resource::text(
        "demo://note",
        "note",
        "a note",
        "text/plain",
        "v1",
    ));
    let handle = builder.handle();
    builder
        .tool(Tool::builder("grow", "adds the tool `late`").async_handler(move |_| {
            let handle = handle.clone();
            async move {
                handle.add_tool(
                    Tool::builder("late", "added at runtime").sync_handler(|_| Ok(CallToolResult::text("late"))),
                );
                handle.resource_updated("demo://note");
                handle.resource_updated("demo://other");
                // The cores apply changes by message: give this one a turn before answering.
                ringmcp::sleep(std::time::Duration::from_millis(50)).await;
                Ok(CallToolResult::text("grown"))
            }
        }))
        .build()
}

#[test]
fn runtime_changes_notify_sessions_and_change_the_lists() {
    let subscribe = r#"{"jsonrpc":"2.0","id":1,"method":"resources/subscribe","params":{"uri":"demo://note"}}"#;
    let list = r#"{"jsonrpc":"2.0","id":3,"method":"tools/list"}"#;
    let out = growing_server().handle_lines(&format!("{INIT}\n{subscribe}\n{}\n", call(2, "grow", "{}")));
    let lines: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(
        lines,
        [
            r#"{"jsonrpc":"2.0","id":1,"result":{}}"#,
            r#"{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}"#,
            r#"{"jsonrpc":"2.0","method":"notifications/resources/updated","params":{"uri":"demo://note"}}"#,
            r#"{"jsonrpc":"2.0","id":2,"result":{"content":[{"type":"text","text":"grown"}]}}"#,
        ]
    );
    // The handle's change outlives the session: a new one lists the tool.
    let server = growing_server();
    server.handle().add_tool(Tool::builder("late", "added").sync_handler(|_| Ok(CallToolResult::text("late"))));
    let out = server.handle_lines(&format!("{INIT}\n{list}\n{}\n", call(4, "late", "{}")));
    assert!(out.lines().nth(1).unwrap().contains(r#""name":"late""#), "{out}");
    assert_eq!(
        out.lines().nth(2).unwrap(),
        r#"{"jsonrpc":"2.0","id":4,"result":{"content":[{"type":"text","text":"late"}]}}"#
    );
    assert!(server.handle().remove_tool("late"));
    assert!(!server.handle().remove_tool("late"));
}

/// A server with tools that may (`slow_task`) or must (`must_task`) run as MCP tasks.
fn task_server() -> Server {
    let sleeps = ringmcp::json(r#"{"type":"object","properties":{"ms":{"type":"integer"}},"required":["ms"]}"#);
    Server::builder("task-test", "1.0.0")
        .tool(
            Tool::builder("slow_task", "sleeps ms milliseconds, then says so")
                .input_schema(sleeps)
                .task_support(ringmcp::TaskSupport::Optional)
                .async_handler(|call| async move {
                    let ms = call.u64("ms")?;
                    ringmcp::sleep(std::time::Duration::from_millis(ms)).await;
                    Ok(CallToolResult::text(format!("slept {ms}")))
                }),
        )
        .tool(
            Tool::builder("must_task", "only as a task")
                .task_support(ringmcp::TaskSupport::Required)
                .sync_handler(|_| Ok(CallToolResult::text("done"))),
        )
        .tool(Tool::builder("plain", "never as a task").sync_handler(|_| Ok(CallToolResult::text("plain"))))
        .build()
}

fn task_call(id: u32, tool: &str, args: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{tool}","arguments":{args},"task":{{"ttl":60000}}}}}}"#
    )
}

fn task_request(id: u32, method: &str, task_id: &str) -> String {
    format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}","params":{{"taskId":"{task_id}"}}}}"#)
}

/// The answer (or notification) lines of `out` after initialize, parsed.
fn json_lines(out: &str) -> Vec<serde_json::Value> {
    out.lines().skip(1).map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
}

#[test]
fn task_augmented_call_is_polled_waited_on_listed_and_cancelled() {
    // One request in flight at a time: `tasks/result` is answered before the next line is read.
    let settings = ringmcp::Settings { max_inflight_per_connection: 1, ..Default::default() };
    let mut step = 0;
    let out = task_server().handle_turns(settings, move |out| {
        step += 1;
        let ids: Vec<String> =
            json_lines(out).iter().filter_map(|v| v["result"]["task"]["taskId"].as_str().map(str::to_string)).collect();
        let line = match step {
            1 => INIT.to_string(),
            2 => task_call(1, "slow_task", r#"{"ms":30}"#),
            3 => task_request(2, "tasks/get", &ids[0]),
            4 => task_request(3, "tasks/result", &ids[0]),
            5 => r#"{"jsonrpc":"2.0","id":4,"method":"tasks/list"}"#.to_string(),
            6 => task_request(5, "tasks/cancel", &ids[0]),
            7 => task_call(6, "slow_task", r#"{"ms":60000}"#),
            8 => task_request(7, "tasks/cancel", &ids[1]),
            9 => task_request(8, "tasks/get", &ids[1]),
            10 => task_request(9, "tasks/result", &ids[1]),
            _ => return None,
        };
        Some(line + "\n")
    });
    let lines = json_lines(&out);
    let by_id = |id: u64| lines.iter().find(|v| v["id"] == id).unwrap_or_else(|| panic!("no answer {id}: {out}"));
    let created = &by_id(1)["result"]["task"];
    let first = created["taskId"].as_str().unwrap();
    assert_eq!((created["status"].as_str(), created["ttl"].as_u64()), (Some("working"), Some(60_000)), "{out}");
    assert!(created["createdAt"].as_str().unwrap().ends_with('Z') && created["pollInterval"].is_u64());
    assert_eq!(by_id(2)["result"]["status"], "working");
    assert_eq!(
        by_id(3)["result"],
        serde_json::json!({
            "content": [{"type": "text", "text": "slept 30"}],
            "_meta": {"io.modelcontextprotocol/related-task": {"taskId": first}}
        })
    );
    let status = lines.iter().find(|v| v["method"] == "notifications/tasks/status").expect("a status notification");
    assert_eq!(
        (status["params"]["taskId"].as_str(), status["params"]["status"].as_str()),
        (Some(first), Some("completed"))
    );
    let listed = by_id(4)["result"]["tasks"].as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0]["taskId"].as_str(), listed[0]["status"].as_str()), (Some(first), Some("completed")));
    assert_eq!(
        by_id(5)["error"],
        serde_json::json!({"code": -32602, "message": "Cannot cancel task: already in terminal status 'completed'"})
    );
    let second = by_id(6)["result"]["task"]["taskId"].as_str().unwrap();
    assert_ne!(first, second);
    assert_eq!(by_id(7)["result"]["status"], "cancelled");
    assert_eq!(by_id(7)["result"]["statusMessage"], "The task was cancelled by request.");
    assert_eq!(by_id(8)["result"]["status"], "cancelled");
    assert_eq!(by_id(9)["error"]["code"], -32602, "a cancelled task has no result: {out}");
    assert_eq!(lines.len(), 10, "nine answers and one status notification: {out}");
}

#[test]
fn task_support_is_declared_listed_and_enforced() {
    let list = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
    let calls = [call(2, "must_task", "{}"), task_call(3, "plain", "{}"), call(4, "slow_task", r#"{"ms":0}"#)];
    let out = task_server().handle_lines(&format!("{INIT}\n{list}\n{}\n", calls.join("\n")));
    let init: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(
        init["result"]["capabilities"]["tasks"],
        serde_json::json!({"list": {}, "cancel": {}, "requests": {"tools": {"call": {}}}})
    );
    let lines = json_lines(&out);
    let tools = lines[0]["result"]["tools"].as_array().unwrap();
    let support: Vec<_> = tools.iter().map(|t| t["execution"]["taskSupport"].as_str()).collect();
    assert_eq!(support, [Some("optional"), Some("required"), None]);
    assert_eq!(lines[1]["error"]["code"], -32601, "a required task tool called plainly: {out}");
    assert_eq!(lines[2]["error"]["code"], -32601, "a forbidden one called as a task: {out}");
    assert_eq!(lines[3]["result"]["content"][0]["text"], "slept 0", "optional: a plain call works");
}
