//! The `bench` pack (the default): small, real tools for benchmarks and smoke tests, and one
//! of each other kind so that every list method has something real to list.
//!
//! - `echo {text}` → the same text as a text block;
//! - `add {a, b}` → the sum, structured (`{"sum": …}`, with an output schema) and as text;
//! - `sleep {ms}` → answers after that long, without blocking the core;
//! - resource `ringmcp://bench/readme`, template `ringmcp://bench/echo/{text}`;
//! - prompt `greet {name, style?}`, with completions for `style`.

use crate::api::completion::{Completion, CompletionRef};
use crate::api::content::{CallToolResult, Content, GetPromptResult, PromptMessage, ResourceContents, Role};
use crate::api::prompt::Prompt;
use crate::api::resource::{Resource, ResourceTemplate};
use crate::api::tool::{Tool, ToolCall, ToolError, ToolResult};
use crate::api::{Server, ServerBuilder};
use crate::json;
use crate::limits::SLEEP_MS_MAX;
use std::time::Duration;

/// URI of the pack's static resource.
pub const README_URI: &str = "ringmcp://bench/readme";
/// Text of the pack's static resource.
pub const README_TEXT: &str =
    "ringmcp bench pack: tools echo, add and sleep; this resource; the echo template; the greet prompt.\n";
/// Styles the `greet` prompt knows (and completes).
pub const GREET_STYLES: [&str; 3] = ["brief", "formal", "friendly"];

/// The pack as a builder (so callers can add to it).
pub fn builder() -> ServerBuilder {
    Server::builder("ringmcp", env!("CARGO_PKG_VERSION"))
        .tool(echo())
        .tool(add())
        .tool(sleep())
        .resource(Resource::text(README_URI, "readme", "What the bench pack offers", "text/plain", README_TEXT))
        .resource_template(ResourceTemplate::new(
            "ringmcp://bench/echo/{text}",
            "echo",
            "Reads back the text in its URI",
            "text/plain",
            |uri, vars| Ok(vec![ResourceContents::text(uri, Some("text/plain"), vars[0].1.clone())]),
        ))
        .prompt(Prompt::new(
            "greet",
            "A greeting for someone",
            &[("name", "Who to greet", true), ("style", "brief, formal or friendly", false)],
            greet,
        ))
        .completion(Completion::values(CompletionRef::Prompt("greet".into()), "style", &GREET_STYLES))
}

fn echo() -> Tool {
    Tool::builder("echo", "Returns its text unchanged")
        .input_schema(json(
            r#"{"type":"object","properties":{"text":{"type":"string","description":"Text to echo"}},"required":["text"]}"#,
        ))
        .sync_handler(|call| Ok(CallToolResult::text(call.str("text")?)))
}

fn add() -> Tool {
    Tool::builder("add", "Adds two numbers")
        .input_schema(json(
            r#"{"type":"object","properties":{"a":{"type":"number"},"b":{"type":"number"}},"required":["a","b"]}"#,
        ))
        .output_schema(json(r#"{"type":"object","properties":{"sum":{"type":"number"}},"required":["sum"]}"#))
        .sync_handler(sum)
}

fn sum(call: &ToolCall) -> ToolResult {
    #[derive(serde::Serialize)]
    struct Sum<T> {
        sum: T,
    }
    Ok(match (call.i64("a").ok(), call.i64("b").ok()) {
        (Some(x), Some(y)) => match x.checked_add(y) {
            Some(sum) => CallToolResult::structured(&Sum { sum }),
            None => CallToolResult::structured(&Sum { sum: x as f64 + y as f64 }),
        },
        // Finite inputs can still overflow (1e308 + 1e308): `structured` makes that a tool error.
        _ => CallToolResult::structured(&Sum { sum: call.f64("a")? + call.f64("b")? }),
    })
}

fn sleep() -> Tool {
    Tool::builder("sleep", "Answers after `ms` milliseconds without blocking the server")
        .input_schema(json(&format!(
            r#"{{"type":"object","properties":{{"ms":{{"type":"integer","minimum":0,"maximum":{SLEEP_MS_MAX}}}}},"required":["ms"]}}"#
        )))
        .async_handler(|call| async move {
            let ms = call.u64("ms")?;
            if ms > SLEEP_MS_MAX {
                return Err(ToolError(format!("ms must be at most {SLEEP_MS_MAX}, got {ms}")));
            }
            ringmcp_ring::sleep(Duration::from_millis(ms)).await;
            Ok(CallToolResult::text(format!("slept {ms} ms")))
        })
}

fn greet(args: &crate::api::prompt::PromptArgs) -> Result<GetPromptResult, String> {
    let name = &args["name"];
    let text = match args.get("style").map(String::as_str) {
        None | Some("friendly") => format!("Say hello to {name} warmly."),
        Some("brief") => format!("Say hi to {name}."),
        Some("formal") => format!("Greet {name} formally."),
        Some(other) => {
            return Err(format!("Invalid params: unknown style {other:?}; accepted: {}", GREET_STYLES.join(", ")))
        }
    };
    Ok(GetPromptResult {
        description: Some("A greeting".into()),
        messages: vec![PromptMessage { role: Role::User, content: Content::text(text) }],
    })
}
