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
                glommio::timer::sleep(std::time::Duration::from_millis(50)).await;
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
