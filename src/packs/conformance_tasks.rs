//! The fixtures the tasks-extension scenarios (`io.modelcontextprotocol/tasks`, 2026-07-28) of
//! the conformance suite call by name: a plain tool that never becomes a task, tools that
//! become tasks and complete, end with an `isError` result or fail with a JSON-RPC error, tools
//! whose task parks in `input_required` (one and two open requests), and one that asks for
//! input before it becomes a task (a multi round-trip request first).

use crate::api::content::CallToolResult;
use crate::api::tool::{TaskSupport, Tool, ToolCall, ToolError};
use crate::api::ServerBuilder;
use crate::json;
use sonic_rs::{JsonValueTrait, Value};
use std::time::Duration;

/// Longest `slow_compute` run, in seconds (the scenarios use at most 60, then cancel).
const SLOW_COMPUTE_MAX_S: u64 = 600;
/// How long `failing_job` and `protocol_error_job` work before they fail, in milliseconds.
const JOB_MS: u64 = 1_000;
/// How long `test_tool_with_task` works once it has the name, in milliseconds.
const GREETING_WORK_MS: u64 = 200;

/// `elicitation/create` params for a form of the given fields, each `(name, JSON type)`.
fn form(message: &str, fields: &[(&str, &str)]) -> String {
    let properties: Vec<String> =
        fields.iter().map(|(name, kind)| format!(r#""{name}":{{"type":"{kind}"}}"#)).collect();
    let required: Vec<String> = fields.iter().map(|(name, _)| format!(r#""{name}""#)).collect();
    format!(
        r#"{{"message":{},"requestedSchema":{{"type":"object","properties":{{{}}},"required":[{}]}}}}"#,
        sonic_rs::to_string(message).expect("a string serializes"),
        properties.join(","),
        required.join(",")
    )
}

/// Whether an `ElicitResult` accepted, and its `content.<name>` (a string or any JSON).
fn accepted(answer: &str, name: &str) -> (bool, String) {
    let v: Value = sonic_rs::from_str(answer).unwrap_or_default();
    let accept = v.get("action").and_then(|a| a.as_str()) == Some("accept");
    let value = match v.get("content").and_then(|c| c.get(name)) {
        Some(x) if x.is_str() => x.as_str().unwrap_or_default().to_string(),
        Some(x) => sonic_rs::to_string(x).unwrap_or_default(),
        None => String::new(),
    };
    (accept, value)
}

async fn ask(call: &ToolCall<'static>, key: &str, params: &str) -> Result<String, ToolError> {
    call.ask(key, "elicitation/create", params).await.map_err(ToolError::from)
}

/// Adds the tasks-extension fixtures to the pack.
pub fn add(builder: ServerBuilder) -> ServerBuilder {
    builder
        .tool(
            Tool::builder("greet", "Greets by name; never runs as a task")
                .input_schema(json(r#"{"type":"object","properties":{"name":{"type":"string"}},"required":["name"]}"#))
                .sync_handler(|call| Ok(CallToolResult::text(format!("Hello, {}!", call.str("name")?)))),
        )
        .tool(
            Tool::builder("slow_compute", "Works `seconds` seconds, as a task where the client allows one")
                .input_schema(json(
                    r#"{"type":"object","properties":{"seconds":{"type":"integer","minimum":0},"label":{"type":"string"}},"required":["seconds"]}"#,
                ))
                .task_support(TaskSupport::Optional)
                .async_handler(|call| async move {
                    let seconds = call.u64("seconds")?.min(SLOW_COMPUTE_MAX_S);
                    let label = call.str("label").map(|l| l.into_owned()).unwrap_or_default();
                    if seconds > 0 {
                        ringmcp_ring::sleep(Duration::from_secs(seconds)).await;
                    }
                    Ok(CallToolResult::text(format!("Computed {label} in {seconds}s")))
                }),
        )
        .tool(
            Tool::builder("failing_job", "A task that ends with a tool error (isError: true)")
                .input_schema(json(r#"{"type":"object","properties":{}}"#))
                .task_support(TaskSupport::Required)
                .async_handler(|_| async move {
                    ringmcp_ring::sleep(Duration::from_millis(JOB_MS)).await;
                    Err(ToolError("The job failed: the input could not be processed".into()))
                }),
        )
        .tool(
            Tool::builder("protocol_error_job", "A task that fails with a JSON-RPC error (its handler panics)")
                .input_schema(json(r#"{"type":"object","properties":{}}"#))
                .task_support(TaskSupport::Optional)
                .async_handler(|_| async move {
                    ringmcp_ring::sleep(Duration::from_millis(JOB_MS)).await;
                    // The server contains the panic: the task ends `failed` with -32603.
                    std::panic::panic_any("protocol_error_job fails on purpose")
                }),
        )
        .tool(
            Tool::builder("confirm_delete", "A task that asks the user to confirm before it deletes")
                .input_schema(json(r#"{"type":"object","properties":{"filename":{"type":"string"}},"required":["filename"]}"#))
                .task_support(TaskSupport::Optional)
                .async_handler(|call| async move {
                    call.start_task().await;
                    let filename = call.str("filename")?.into_owned();
                    let message = format!("Delete {filename}?");
                    let answer = ask(&call, "confirm", &form(&message, &[("confirm", "boolean")])).await?;
                    Ok(CallToolResult::text(match accepted(&answer, "confirm") {
                        (true, c) if c == "true" => format!("Deleted {filename}"),
                        _ => format!("Kept {filename}"),
                    }))
                }),
        )
        .tool(
            Tool::builder("multi_input", "A task that asks two questions at once")
                .input_schema(json(r#"{"type":"object","properties":{}}"#))
                .task_support(TaskSupport::Optional)
                .async_handler(|call| async move {
                    call.start_task().await;
                    let fields = [("name", "string"), ("confirm", "boolean")];
                    let (first, second) = futures_lite::future::zip(
                        ask(&call, "first", &form("First input", &fields)),
                        ask(&call, "second", &form("Second input", &fields)),
                    )
                    .await;
                    let (first, second) = (accepted(&first?, "name").1, accepted(&second?, "name").1);
                    Ok(CallToolResult::text(format!("Got {first} and {second}")))
                }),
        )
        .tool(
            Tool::builder("test_tool_with_task", "Asks for a name (a multi round-trip request), then works as a task")
                .input_schema(json(r#"{"type":"object","properties":{}}"#))
                .task_support(TaskSupport::Required)
                .async_handler(|call| async move {
                    let answer = ask(&call, "user_name", &form("What is your name?", &[("name", "string")])).await?;
                    call.start_task().await;
                    ringmcp_ring::sleep(Duration::from_millis(GREETING_WORK_MS)).await;
                    Ok(CallToolResult::text(format!("Hello, {}!", accepted(&answer, "name").1)))
                }),
        )
}
