//! The fixtures the 2026-07-28 scenarios of the conformance suite
//! (`@modelcontextprotocol/conformance@0.2.0-alpha.12`) call by name, beside the 2025-11-25
//! ones of [`super::conformance`]: input-required tools and a prompt (multi round-trip
//! requests), a tool that needs a client capability, one whose argument is mirrored in an
//! `Mcp-Param-Region` header, the streaming and logging probes, and
//! the two triggers of list-changed notifications on `subscriptions/listen` streams.

use crate::api::content::{CallToolResult, Content, GetPromptResult, PromptMessage, Role};
use crate::api::handle::ServerHandle;
use crate::api::prompt::{Asker, Prompt, PromptArgs};
use crate::api::tool::{Tool, ToolCall, ToolError};
use crate::api::ServerBuilder;
use crate::json;
use sonic_rs::{JsonContainerTrait, JsonValueTrait, Value};

const EMPTY: &str = r#"{"type":"object","properties":{}}"#;

/// `elicitation/create` params asking for one string or boolean field.
fn form(message: &str, field: &str, kind: &str) -> String {
    format!(
        r#"{{"message":{},"requestedSchema":{{"type":"object","properties":{{"{field}":{{"type":"{kind}"}}}},"required":["{field}"]}}}}"#,
        sonic_rs::to_string(message).expect("a string serializes")
    )
}

/// `sampling/createMessage` params: one user message.
fn sample(text: &str, max_tokens: u32) -> String {
    format!(
        r#"{{"messages":[{{"role":"user","content":{{"type":"text","text":{}}}}}],"maxTokens":{max_tokens}}}"#,
        sonic_rs::to_string(text).expect("a string serializes")
    )
}

/// `content.<field>` of an `ElicitResult`, as text.
fn field(answer: &str, name: &str) -> String {
    let v: Value = sonic_rs::from_str(answer).unwrap_or_default();
    match v.get("content").and_then(|c| c.get(name)) {
        Some(x) if x.is_str() => x.as_str().unwrap_or_default().to_string(),
        Some(x) => sonic_rs::to_string(x).unwrap_or_default(),
        None => String::new(),
    }
}

/// The text of a `CreateMessageResult`.
fn sampled(answer: &str) -> String {
    let v: Value = sonic_rs::from_str(answer).unwrap_or_default();
    v.get("content").and_then(|c| c.get("text")).and_then(|t| t.as_str()).unwrap_or("no response").to_string()
}

/// The number of roots of a `ListRootsResult`.
fn roots(answer: &str) -> usize {
    let v: Value = sonic_rs::from_str(answer).unwrap_or_default();
    v.get("roots").and_then(|r| r.as_array()).map_or(0, |a| a.len())
}

fn tool(name: &str, description: &str) -> crate::api::tool::ToolBuilder {
    Tool::builder(name, description).input_schema(json(EMPTY))
}

async fn ask(call: &ToolCall<'static>, key: &str, method: &str, params: &str) -> Result<String, ToolError> {
    call.ask(key, method, params).await.map_err(ToolError::from)
}

/// Adds the 2026-07-28 fixtures to the pack.
pub fn add(builder: ServerBuilder) -> ServerBuilder {
    let handle = builder.handle();
    builder
        .tool(
            tool("test_missing_capability", "Test tool requiring sampling")
                .requires_client_capability("sampling")
                .sync_handler(|_| Ok(CallToolResult::text("Success"))),
        )
        .tool(tool("test_input_required_result_elicitation", "MRTR: asks for the user's name").async_handler(
            |call| async move {
                let a = ask(&call, "user_name", "elicitation/create", &form("What is your name?", "name", "string"))
                    .await?;
                Ok(CallToolResult::text(format!("Hello, {}!", field(&a, "name"))))
            },
        ))
        .tool(tool("test_input_required_result_sampling", "MRTR: asks the client's model").async_handler(
            |call| async move {
                let a = ask(
                    &call,
                    "sample_request",
                    "sampling/createMessage",
                    &sample("What is the capital of France?", 100),
                )
                .await?;
                Ok(CallToolResult::text(format!("Sampling result: {}", sampled(&a))))
            },
        ))
        .tool(tool("test_input_required_result_list_roots", "MRTR: asks for the client's roots").async_handler(
            |call| async move {
                let a = ask(&call, "roots_request", "roots/list", "{}").await?;
                Ok(CallToolResult::text(format!("Found {} root(s)", roots(&a))))
            },
        ))
        .tool(tool("test_input_required_result_request_state", "MRTR: input with requestState").async_handler(
            |call| async move {
                let a = ask(&call, "confirm", "elicitation/create", &form("Please confirm", "ok", "boolean")).await?;
                match field(&a, "ok").as_str() {
                    "true" => Ok(CallToolResult::text("state-ok: requestState validated")),
                    other => Err(ToolError(format!("not confirmed (ok={other})"))),
                }
            },
        ))
        .tool(tool("test_input_required_result_multiple_inputs", "MRTR: three inputs in one round").async_handler(
            |call| async move {
                let ((name, greeting), client_roots) = futures_lite::future::zip(
                    futures_lite::future::zip(
                        ask(&call, "user_name", "elicitation/create", &form("What is your name?", "name", "string")),
                        ask(&call, "greeting", "sampling/createMessage", &sample("Generate a greeting", 50)),
                    ),
                    ask(&call, "client_roots", "roots/list", "{}"),
                )
                .await;
                let (name, greeting, client_roots) = (name?, greeting?, client_roots?);
                Ok(CallToolResult::text(format!(
                    "Name: {}; Greeting: {}; Roots: {}",
                    field(&name, "name"),
                    sampled(&greeting),
                    roots(&client_roots)
                )))
            },
        ))
        .tool(tool("test_input_required_result_multi_round", "MRTR: two rounds of input").async_handler(
            |call| async move {
                let a =
                    ask(&call, "step1", "elicitation/create", &form("Step 1: What is your name?", "name", "string"))
                        .await?;
                let b = ask(
                    &call,
                    "step2",
                    "elicitation/create",
                    &form("Step 2: What is your favorite color?", "color", "string"),
                )
                .await?;
                Ok(CallToolResult::text(format!(
                    "Multi-round complete for {} who likes {}",
                    field(&a, "name"),
                    field(&b, "color")
                )))
            },
        ))
        .tool(tool("test_input_required_result_tampered_state", "MRTR: HMAC-sealed requestState").async_handler(
            |call| async move {
                ask(&call, "confirm", "elicitation/create", &form("Please confirm", "ok", "boolean")).await?;
                Ok(CallToolResult::text("integrity-ok: state verified"))
            },
        ))
        .tool(
            tool("test_input_required_result_capabilities", "MRTR: asks only what the client can give").async_handler(
                |call| async move {
                    // Each ask fails at once for a capability the client did not declare.
                    let (e, s) = futures_lite::future::zip(
                        call.ask("elicit_input", "elicitation/create", &form("Elicitation input", "value", "string")),
                        call.ask("sample_input", "sampling/createMessage", &sample("Sample request", 50)),
                    )
                    .await;
                    let got: Vec<&str> = [("elicit_input", e.is_ok()), ("sample_input", s.is_ok())]
                        .iter()
                        .filter(|(_, ok)| *ok)
                        .map(|(k, _)| *k)
                        .collect();
                    Ok(CallToolResult::text(match got.is_empty() {
                        true => "No supported capabilities declared".to_string(),
                        false => format!("capabilities-ok: received {}", got.join(",")),
                    }))
                },
            ),
        )
        .tool(tool("test_streaming_elicitation", "Diagnostic tool validating response progress streams").sync_handler(
            |call| {
                call.progress(50.0, Some(100.0), None);
                Ok(CallToolResult::text("Streaming complete"))
            },
        ))
        .tool(tool("test_logging_tool", "Diagnostic logging validator tool").sync_handler(|call| {
            call.log("info", None, r#""Diagnostic trace logging activated""#);
            Ok(CallToolResult::text("Logging evaluated"))
        }))
        .tool(
            Tool::builder("test_custom_header", "Mirrors its region argument in the Mcp-Param-Region header (SEP-2243)")
                .input_schema(json(
                    r#"{"type":"object","properties":{"region":{"type":"string","x-mcp-header":"Region"}},"required":["region"]}"#,
                ))
                .sync_handler(|call| Ok(CallToolResult::text(format!("Region: {}", call.str("region")?)))),
        )
        .tool(trigger("test_trigger_tool_change", "Changes the tool list (list_changed to listeners)", &handle, true))
        .tool(trigger(
            "test_trigger_prompt_change",
            "Changes the prompt list (list_changed to listeners)",
            &handle,
            false,
        ))
        .prompt(Prompt::asking(
            "test_input_required_result_prompt",
            "MRTR: prompt that requires elicitation input",
            &[],
            input_prompt,
        ))
}

/// A tool that changes the tool or prompt list: it adds a marker, or takes it away again.
fn trigger(name: &str, description: &str, handle: &ServerHandle, tools: bool) -> Tool {
    let handle = handle.clone();
    tool(name, description).sync_handler(move |_| {
        const MARKER: &str = "test_list_change_marker";
        let marker = || {
            let done = |_: &PromptArgs| Ok(GetPromptResult { description: None, messages: Vec::new() });
            Prompt::new(MARKER, "Appears and disappears as the list changes", &[], done)
        };
        match tools {
            true if !handle.remove_tool(MARKER) => handle.add_tool(
                tool(MARKER, "Appears and disappears as the list changes")
                    .sync_handler(|_| Ok(CallToolResult::text("marker"))),
            ),
            false if !handle.remove_prompt(MARKER) => handle.add_prompt(marker()),
            _ => {}
        }
        Ok(CallToolResult::text("Mutation triggered"))
    })
}

fn input_prompt(_: &PromptArgs, asker: &Asker<'_>) -> Result<GetPromptResult, String> {
    let Some(answer) = asker.ask(
        "user_context",
        "elicitation/create",
        &form("What context should the prompt use?", "context", "string"),
    ) else {
        return Err("this prompt needs the user's context (an elicitation), which the client did not give".into());
    };
    let text = format!("Prompt with context: {}", field(&answer, "context"));
    Ok(GetPromptResult {
        description: None,
        messages: vec![PromptMessage { role: Role::User, content: Content::text(text) }],
    })
}
