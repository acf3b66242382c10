//! The `conformance` pack: the fixtures the official MCP conformance suite
//! (`@modelcontextprotocol/conformance@0.1.16`, server scenarios) calls by name, with the
//! reference server's names, schemas, texts and payloads.
//!
//! - 14 tools: content of each kind (`test_simple_text`, `test_image_content`,
//!   `test_audio_content`, `test_embedded_resource`, `test_multiple_content_types`), a tool
//!   error (`test_error_handling`), messages sent on the call's own stream before its result
//!   (`test_tool_with_logging`, `test_tool_with_progress`), SSE polling (`test_reconnection`),
//!   requests to the client (`test_sampling`, `test_elicitation`,
//!   `test_elicitation_sep1034_defaults`, `test_elicitation_sep1330_enums`), and a JSON Schema
//!   2020-12 input schema served verbatim (`json_schema_2020_12_tool`);
//! - resources `test://static-text`, `test://static-binary` (a blob),
//!   `test://watched-resource` (for subscribe), template `test://template/{id}/data`;
//! - prompts `test_simple_prompt`, `test_prompt_with_arguments {arg1, arg2}`,
//!   `test_prompt_with_embedded_resource {resourceUri}`, `test_prompt_with_image`;
//! - completions for both arguments of `test_prompt_with_arguments`.

use crate::api::completion::{Completion, CompletionRef};
use crate::api::content::{CallToolResult, Content, GetPromptResult, PromptMessage, ResourceContents, Role};
use crate::api::prompt::{Prompt, PromptArgs};
use crate::api::resource::{Resource, ResourceTemplate};
use crate::api::tool::{Tool, ToolError};
use crate::api::{Server, ServerBuilder};
use crate::json;
use sonic_rs::{JsonContainerTrait, JsonValueTrait, Value};
use std::time::Duration;

/// A 1×1 PNG (70 bytes), base64: every image and the binary resource.
pub const PNG_BASE64: &str =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";
/// A 44-byte RIFF/WAVE header (8 kHz mono 16-bit, empty data chunk), base64.
pub const WAV_BASE64: &str = "UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA=";

/// The `$schema` the reference server puts on most of its input schemas.
const DRAFT_07: &str = "http://json-schema.org/draft-07/schema#";
/// Pause between the messages a tool sends before its result, so that they arrive as a
/// sequence (the reference's timing).
const STEP_MS: u64 = 50;
/// How long `test_reconnection` works after closing its stream, so the result is produced
/// while the client is reconnecting.
const RECONNECT_WORK_MS: u64 = 100;
/// `retry` asked of the client when `test_reconnection` closes its stream (the reference's).
const RECONNECT_RETRY_MS: u64 = 5_000;
/// `maxTokens` of the sampling request.
const SAMPLING_MAX_TOKENS: u32 = 100;
/// Suggestions for the arguments of `test_prompt_with_arguments`.
pub const ARGUMENT_VALUES: [&str; 3] = ["value1", "value2", "value3"];

/// The input schema of `json_schema_2020_12_tool`, listed byte for byte as written: `$defs` with
/// an `$anchor`, `$ref`, `allOf`/`anyOf` and `if`/`then`/`else` (SEP-1613, SEP-2106).
const SCHEMA_2020_12: &str = r##"{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","$defs":{"address":{"$anchor":"addressDef","type":"object","properties":{"street":{"type":"string"},"city":{"type":"string"}}}},"properties":{"name":{"type":"string"},"address":{"$ref":"#/$defs/address"},"contactMethod":{"type":"string","enum":["phone","email"]},"phone":{"type":"string"},"email":{"type":"string"}},"allOf":[{"anyOf":[{"required":["phone"]},{"required":["email"]}]}],"if":{"properties":{"contactMethod":{"const":"phone"}},"required":["contactMethod"]},"then":{"required":["phone"]},"else":{"required":["email"]},"additionalProperties":false}"##;
/// `requestedSchema` of `test_elicitation`.
const ELICIT_SCHEMA: &str = r#"{"type":"object","properties":{"username":{"type":"string","description":"User's response"},"email":{"type":"string","description":"User's email address"}},"required":["username","email"]}"#;
/// Params of `test_elicitation_sep1034_defaults`: one field of each primitive type, each with
/// a default (SEP-1034).
const ELICIT_SEP1034: &str = r#"{"message":"Please review and update the form fields with defaults","requestedSchema":{"type":"object","properties":{"name":{"type":"string","description":"User name","default":"John Doe"},"age":{"type":"integer","description":"User age","default":30},"score":{"type":"number","description":"User score","default":95.5},"status":{"type":"string","description":"User status","enum":["active","inactive","pending"],"default":"active"},"verified":{"type":"boolean","description":"Verification status","default":true}},"required":[]}}"#;
/// Params of `test_elicitation_sep1330_enums`: the five enum shapes of SEP-1330.
const ELICIT_SEP1330: &str = r#"{"message":"Please select options from the enum fields","requestedSchema":{"type":"object","properties":{"untitledSingle":{"type":"string","description":"Select one option","enum":["option1","option2","option3"]},"titledSingle":{"type":"string","description":"Select one option with titles","oneOf":[{"const":"value1","title":"First Option"},{"const":"value2","title":"Second Option"},{"const":"value3","title":"Third Option"}]},"legacyEnum":{"type":"string","description":"Select one option (legacy)","enum":["opt1","opt2","opt3"],"enumNames":["Option One","Option Two","Option Three"]},"untitledMulti":{"type":"array","description":"Select multiple options","minItems":1,"maxItems":3,"items":{"type":"string","enum":["option1","option2","option3"]}},"titledMulti":{"type":"array","description":"Select multiple options with titles","minItems":1,"maxItems":3,"items":{"anyOf":[{"const":"value1","title":"First Choice"},{"const":"value2","title":"Second Choice"},{"const":"value3","title":"Third Choice"}]}}},"required":[]}}"#;

/// The pack as a builder (so callers can add to it).
pub fn builder() -> ServerBuilder {
    let with_args = || CompletionRef::Prompt("test_prompt_with_arguments".into());
    Server::builder("ringmcp-conformance", env!("CARGO_PKG_VERSION"))
        .tool(content_tool("test_simple_text", "Tests simple text content response", true, || {
            vec![Content::text("This is a simple text response for testing.")]
        }))
        .tool(content_tool("test_image_content", "Tests image content response", false, || {
            vec![Content::image(PNG_BASE64, "image/png")]
        }))
        .tool(content_tool("test_audio_content", "Tests audio content response", false, || {
            vec![Content::audio(WAV_BASE64, "audio/wav")]
        }))
        .tool(content_tool("test_embedded_resource", "Tests embedded resource content response", false, || {
            let text = "This is an embedded resource content.";
            vec![Content::resource(ResourceContents::text("test://embedded-resource", Some("text/plain"), text))]
        }))
        .tool(content_tool(
            "test_multiple_content_types",
            "Tests response with multiple content types (text, image, resource)",
            false,
            mixed_content,
        ))
        .tool(with_logging())
        .tool(with_progress())
        .tool(error_handling())
        .tool(reconnection())
        .tool(sampling())
        .tool(elicitation())
        .tool(fixed_elicitation(
            "test_elicitation_sep1034_defaults",
            "Tests elicitation with default values per SEP-1034",
            ELICIT_SEP1034,
        ))
        .tool(fixed_elicitation(
            "test_elicitation_sep1330_enums",
            "Tests elicitation with enum schema improvements per SEP-1330",
            ELICIT_SEP1330,
        ))
        .tool(json_schema_2020_12())
        .resource(
            Resource::text(
                "test://static-text",
                "static-text",
                "A static text resource for testing",
                "text/plain",
                "This is the content of the static text resource.",
            )
            .title("Static Text Resource"),
        )
        .resource(
            Resource::blob(
                "test://static-binary",
                "static-binary",
                "A static binary resource (image) for testing",
                "image/png",
                PNG_BASE64,
            )
            .title("Static Binary Resource"),
        )
        .resource(
            Resource::text(
                "test://watched-resource",
                "watched-resource",
                "A resource for subscription tests",
                "text/plain",
                "Watched resource content",
            )
            .title("Watched Resource"),
        )
        .resource_template(
            ResourceTemplate::new(
                "test://template/{id}/data",
                "template",
                "A resource template with parameter substitution",
                "application/json",
                |uri, vars| Ok(vec![template_data(uri, &vars[0].1)]),
            )
            .title("Resource Template"),
        )
        .prompt(
            Prompt::new("test_simple_prompt", "A simple prompt without arguments", &[], simple_prompt)
                .title("Simple Test Prompt"),
        )
        .prompt(
            Prompt::new(
                "test_prompt_with_arguments",
                "A prompt with required arguments",
                &[("arg1", "First test argument", true), ("arg2", "Second test argument", true)],
                prompt_with_arguments,
            )
            .title("Prompt With Arguments"),
        )
        .prompt(
            Prompt::new(
                "test_prompt_with_embedded_resource",
                "A prompt that includes an embedded resource",
                &[("resourceUri", "URI of the resource to embed", true)],
                prompt_with_embedded_resource,
            )
            .title("Prompt With Embedded Resource"),
        )
        .prompt(
            Prompt::new("test_prompt_with_image", "A prompt that includes image content", &[], prompt_with_image)
                .title("Prompt With Image"),
        )
        .completion(Completion::values(with_args(), "arg1", &ARGUMENT_VALUES))
        .completion(Completion::values(with_args(), "arg2", &ARGUMENT_VALUES))
}

/// A tool without arguments whose result is always the same content. `draft_07` puts the
/// reference's `$schema` on its input schema.
fn content_tool(name: &str, description: &str, draft_07: bool, content: fn() -> Vec<Content>) -> Tool {
    Tool::builder(name, description)
        .input_schema(empty_schema(draft_07))
        .sync_handler(move |_| Ok(CallToolResult { content: content(), structured_content: None, is_error: false }))
}

fn empty_schema(draft_07: bool) -> Value {
    match draft_07 {
        true => json(&format!(r#"{{"$schema":"{DRAFT_07}","type":"object","properties":{{}}}}"#)),
        false => json(r#"{"type":"object","properties":{}}"#),
    }
}

fn mixed_content() -> Vec<Content> {
    vec![
        Content::text("Multiple content types test:"),
        Content::image(PNG_BASE64, "image/png"),
        Content::resource(ResourceContents::text(
            "test://mixed-content-resource",
            Some("application/json"),
            r#"{"test":"data","value":123}"#,
        )),
    ]
}

/// Three `info` log messages on the call's stream, `STEP_MS` apart, then the result.
fn with_logging() -> Tool {
    Tool::builder("test_tool_with_logging", "Tests tool that emits log messages during execution")
        .input_schema(empty_schema(true))
        .async_handler(|call| async move {
            let steps = ["Tool execution started", "Tool processing data", "Tool execution completed"];
            for (i, step) in steps.into_iter().enumerate() {
                if i > 0 {
                    ringmcp_ring::sleep(Duration::from_millis(STEP_MS)).await;
                }
                call.log("info", None, &to_json(step));
            }
            Ok(CallToolResult::text("Tool with logging executed successfully"))
        })
}

/// Progress 0, 50 and 100 of 100, `STEP_MS` apart, all before the result (sent only when
/// the request carried a `progressToken`).
fn with_progress() -> Tool {
    Tool::builder("test_tool_with_progress", "Tests tool that reports progress notifications")
        .input_schema(empty_schema(true))
        .async_handler(|call| async move {
            const TOTAL: f64 = 100.0;
            let mut sent = 0;
            for (i, progress) in [0.0, 50.0, TOTAL].into_iter().enumerate() {
                if i > 0 {
                    ringmcp_ring::sleep(Duration::from_millis(STEP_MS)).await;
                }
                let message = format!("Completed step {progress} of {TOTAL}");
                sent += usize::from(call.progress(progress, Some(TOTAL), Some(&message)));
            }
            Ok(CallToolResult::text(format!("Progress test completed: {sent} notifications sent")))
        })
}

fn error_handling() -> Tool {
    Tool::builder("test_error_handling", "Tests error response handling")
        .input_schema(empty_schema(false))
        .sync_handler(|_| Err(ToolError("This tool intentionally returns an error for testing".into())))
}

/// Closes its SSE stream at once, then answers: the client must reconnect with
/// `Last-Event-ID` to get the result (SEP-1699). Elsewhere it just answers.
fn reconnection() -> Tool {
    Tool::builder(
        "test_reconnection",
        "Tests SSE stream disconnection and client reconnection (SEP-1699). Server will close the stream mid-call and \
         send the result after client reconnects.",
    )
    .input_schema(empty_schema(true))
    .async_handler(|call| async move {
        call.close_stream(RECONNECT_RETRY_MS);
        ringmcp_ring::sleep(Duration::from_millis(RECONNECT_WORK_MS)).await;
        Ok(CallToolResult::text(
            "Reconnection test completed successfully. If you received this, the client properly reconnected after \
             stream closure.",
        ))
    })
}

/// Asks the client's model to complete `prompt` and returns its text.
fn sampling() -> Tool {
    Tool::builder("test_sampling", "Tests server-initiated sampling (LLM completion request)")
        .input_schema(json(&format!(
            r#"{{"$schema":"{DRAFT_07}","type":"object","properties":{{"prompt":{{"type":"string","description":"The prompt to send to the LLM"}}}},"required":["prompt"]}}"#
        )))
        .async_handler(|call| async move {
            let params = sampling_params(&call.str("prompt")?);
            let answer = call.create_message(&params).await;
            match answer.map_err(ToolError::from).and_then(|a| sampled_text(&a)) {
                Ok(text) => Ok(CallToolResult::text(format!("LLM response: {text}"))),
                Err(e) => Err(ToolError(format!("Sampling not supported or error: {}", e.0))),
            }
        })
}

/// Asks the user for a username and an email, with `message`.
fn elicitation() -> Tool {
    Tool::builder("test_elicitation", "Tests server-initiated elicitation (user input request)")
        .input_schema(json(&format!(
            r#"{{"$schema":"{DRAFT_07}","type":"object","properties":{{"message":{{"type":"string","description":"The message to show the user"}}}},"required":["message"]}}"#
        )))
        .async_handler(|call| async move {
            let answer = call.elicit(&elicitation_params(&call.str("message")?)).await;
            let (action, content) = answer
                .map_err(ToolError::from)
                .and_then(|a| elicited(&a))
                .map_err(|e| ToolError(format!("Elicitation not supported or error: {}", e.0)))?;
            Ok(CallToolResult::text(format!("User response: action={action}, content={content}")))
        })
}

/// A tool without arguments that sends the elicitation `params` as given.
fn fixed_elicitation(name: &str, description: &str, params: &'static str) -> Tool {
    Tool::builder(name, description).input_schema(empty_schema(true)).async_handler(move |call| async move {
        let answer = call.elicit(params).await;
        match answer.map_err(ToolError::from).and_then(|a| elicited(&a)) {
            Ok((action, content)) => {
                Ok(CallToolResult::text(format!("Elicitation completed: action={action}, content={content}")))
            }
            Err(e) => Err(ToolError(format!("Elicitation not supported or error: {}", e.0))),
        }
    })
}

fn json_schema_2020_12() -> Tool {
    Tool::builder(
        "json_schema_2020_12_tool",
        "Tool with JSON Schema 2020-12 features for conformance testing (SEP-1613)",
    )
    .input_schema(json(SCHEMA_2020_12))
    .sync_handler(|call| {
        let args = sonic_rs::to_string(&call.arguments()?).expect("a Value always serializes");
        Ok(CallToolResult::text(format!("JSON Schema 2020-12 tool called with: {args}")))
    })
}

/// `sampling/createMessage` params: `prompt` as one user message.
fn sampling_params(prompt: &str) -> String {
    format!(
        r#"{{"messages":[{{"role":"user","content":{{"type":"text","text":{}}}}}],"maxTokens":{SAMPLING_MAX_TOKENS}}}"#,
        to_json(prompt)
    )
}

/// `elicitation/create` params of `test_elicitation`: `message` and [`ELICIT_SCHEMA`].
fn elicitation_params(message: &str) -> String {
    format!(r#"{{"message":{},"requestedSchema":{ELICIT_SCHEMA}}}"#, to_json(message))
}

/// The text of a `CreateMessageResult` (`content` is one block or, since 2025-11-25, a list
/// of them; text blocks are joined, other blocks are shown as JSON).
fn sampled_text(answer: &str) -> Result<String, ToolError> {
    let result: Value = sonic_rs::from_str(answer)?;
    let block_text = |b: &Value| match b.get("text").and_then(|t| t.as_str()) {
        Some(t) => t.to_string(),
        None => sonic_rs::to_string(b).expect("a Value always serializes"),
    };
    match result.get("content") {
        Some(c) if c.is_array() => {
            Ok(c.as_array().into_iter().flatten().map(block_text).collect::<Vec<_>>().join("\n"))
        }
        Some(c) => Ok(block_text(c)),
        None => Err(ToolError("the sampling result has no content".into())),
    }
}

/// The `action` of an `ElicitResult` and its `content` as compact JSON (`{}` if absent).
fn elicited(answer: &str) -> Result<(String, String), ToolError> {
    let result: Value = sonic_rs::from_str(answer)?;
    let action = result.get("action").and_then(|a| a.as_str()).ok_or("the elicitation result has no action")?;
    let content = match result.get("content") {
        Some(c) => sonic_rs::to_string(c)?,
        None => "{}".to_string(),
    };
    Ok((action.to_string(), content))
}

/// `test://template/{id}/data`: a JSON document that names its `id`.
fn template_data(uri: &str, id: &str) -> ResourceContents {
    let text =
        format!(r#"{{"id":{},"templateTest":true,"data":{}}}"#, to_json(id), to_json(&format!("Data for ID: {id}")));
    ResourceContents::text(uri, Some("application/json"), text)
}

fn simple_prompt(_: &PromptArgs) -> Result<GetPromptResult, String> {
    Ok(messages(vec![Content::text("This is a simple prompt for testing.")]))
}

fn prompt_with_arguments(args: &PromptArgs) -> Result<GetPromptResult, String> {
    let (arg1, arg2) = (argument(args, "arg1")?, argument(args, "arg2")?);
    Ok(messages(vec![Content::text(format!("Prompt with arguments: arg1='{arg1}', arg2='{arg2}'"))]))
}

fn prompt_with_embedded_resource(args: &PromptArgs) -> Result<GetPromptResult, String> {
    let uri = argument(args, "resourceUri")?;
    let embedded = ResourceContents::text(uri, Some("text/plain"), "Embedded resource content for testing.");
    Ok(messages(vec![Content::resource(embedded), Content::text("Please process the embedded resource above.")]))
}

fn prompt_with_image(_: &PromptArgs) -> Result<GetPromptResult, String> {
    Ok(messages(vec![Content::image(PNG_BASE64, "image/png"), Content::text("Please analyze the image above.")]))
}

/// A required argument (`prompts/get` checks presence before rendering; this keeps a
/// missing one an error answer rather than a panic).
fn argument<'a>(args: &'a PromptArgs, name: &str) -> Result<&'a str, String> {
    args.get(name).map(String::as_str).ok_or_else(|| format!("Invalid params: missing argument \"{name}\""))
}

/// One user message per content block.
fn messages(content: Vec<Content>) -> GetPromptResult {
    let messages = content.into_iter().map(|content| PromptMessage { role: Role::User, content }).collect();
    GetPromptResult { description: None, messages }
}

fn to_json(s: &str) -> String {
    sonic_rs::to_string(s).expect("a string always serializes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    const INIT: &str = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;

    /// The answer lines after `initialize` to `requests`, sent in one session.
    fn run(requests: &[&str]) -> Vec<String> {
        let input = std::iter::once(INIT).chain(requests.iter().copied()).collect::<Vec<_>>().join("\n") + "\n";
        let out = builder().build().handle_lines(&input);
        out.lines().skip(1).map(str::to_string).collect()
    }

    fn request(id: u32, method: &str, params: &str) -> String {
        format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}","params":{params}}}"#)
    }

    fn call(id: u32, tool: &str) -> String {
        request(id, "tools/call", &format!(r#"{{"name":"{tool}","arguments":{{}}}}"#))
    }

    fn result(id: u32, json: &str) -> String {
        format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{json}}}"#)
    }

    fn log(data: &str) -> String {
        format!(r#"{{"jsonrpc":"2.0","method":"notifications/message","params":{{"level":"info","data":"{data}"}}}}"#)
    }

    fn progress(step: u32) -> String {
        format!(
            r#"{{"jsonrpc":"2.0","method":"notifications/progress","params":{{"progressToken":1,"progress":{step},"total":100,"message":"Completed step {step} of 100"}}}}"#
        )
    }

    /// The reference server's `tools/list` entries (§4.1 of the conformance notes).
    const REFERENCE_TOOLS: [&str; 14] = [
        r#"{"name":"test_simple_text","description":"Tests simple text content response","inputSchema":{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","properties":{}}}"#,
        r#"{"name":"test_image_content","description":"Tests image content response","inputSchema":{"type":"object","properties":{}}}"#,
        r#"{"name":"test_audio_content","description":"Tests audio content response","inputSchema":{"type":"object","properties":{}}}"#,
        r#"{"name":"test_embedded_resource","description":"Tests embedded resource content response","inputSchema":{"type":"object","properties":{}}}"#,
        r#"{"name":"test_multiple_content_types","description":"Tests response with multiple content types (text, image, resource)","inputSchema":{"type":"object","properties":{}}}"#,
        r#"{"name":"test_tool_with_logging","description":"Tests tool that emits log messages during execution","inputSchema":{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","properties":{}}}"#,
        r#"{"name":"test_tool_with_progress","description":"Tests tool that reports progress notifications","inputSchema":{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","properties":{}}}"#,
        r#"{"name":"test_error_handling","description":"Tests error response handling","inputSchema":{"type":"object","properties":{}}}"#,
        r#"{"name":"test_reconnection","description":"Tests SSE stream disconnection and client reconnection (SEP-1699). Server will close the stream mid-call and send the result after client reconnects.","inputSchema":{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","properties":{}}}"#,
        r#"{"name":"test_sampling","description":"Tests server-initiated sampling (LLM completion request)","inputSchema":{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","properties":{"prompt":{"type":"string","description":"The prompt to send to the LLM"}},"required":["prompt"]}}"#,
        r#"{"name":"test_elicitation","description":"Tests server-initiated elicitation (user input request)","inputSchema":{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","properties":{"message":{"type":"string","description":"The message to show the user"}},"required":["message"]}}"#,
        r#"{"name":"test_elicitation_sep1034_defaults","description":"Tests elicitation with default values per SEP-1034","inputSchema":{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","properties":{}}}"#,
        r#"{"name":"test_elicitation_sep1330_enums","description":"Tests elicitation with enum schema improvements per SEP-1330","inputSchema":{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","properties":{}}}"#,
        r##"{"name":"json_schema_2020_12_tool","description":"Tool with JSON Schema 2020-12 features for conformance testing (SEP-1613)","inputSchema":{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","$defs":{"address":{"$anchor":"addressDef","type":"object","properties":{"street":{"type":"string"},"city":{"type":"string"}}}},"properties":{"name":{"type":"string"},"address":{"$ref":"#/$defs/address"},"contactMethod":{"type":"string","enum":["phone","email"]},"phone":{"type":"string"},"email":{"type":"string"}},"allOf":[{"anyOf":[{"required":["phone"]},{"required":["email"]}]}],"if":{"properties":{"contactMethod":{"const":"phone"}},"required":["contactMethod"]},"then":{"required":["phone"]},"else":{"required":["email"]},"additionalProperties":false}}"##,
    ];

    #[test]
    fn tools_list_is_the_reference_listing_byte_for_byte() {
        let out = run(&[r#"{"method":"tools/list","jsonrpc":"2.0","id":1}"#]);
        assert_eq!(out, [result(1, &format!(r#"{{"tools":[{}]}}"#, REFERENCE_TOOLS.join(",")))]);
    }

    #[test]
    fn initialize_declares_every_capability_the_suite_uses() {
        let out = builder().build().handle_lines(&format!("{INIT}\n"));
        let init: Value = sonic_rs::from_str(&out).unwrap();
        let caps = sonic_rs::to_string(&init["result"]["capabilities"]).unwrap();
        assert_eq!(
            caps,
            r#"{"tools":{"listChanged":true},"resources":{"subscribe":true,"listChanged":true},"prompts":{"listChanged":true},"completions":{},"logging":{}}"#
        );
    }

    #[test]
    fn content_tools_answer_the_reference_results() {
        let simple = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"test_simple_text"}}"#;
        let (image, audio, embedded, mixed, error) = (
            call(2, "test_image_content"),
            call(3, "test_audio_content"),
            call(4, "test_embedded_resource"),
            call(5, "test_multiple_content_types"),
            call(6, "test_error_handling"),
        );
        let out = run(&[simple, &image, &audio, &embedded, &mixed, &error]);
        let png = format!(r#"{{"type":"image","data":"{PNG_BASE64}","mimeType":"image/png"}}"#);
        assert_eq!(
            out,
            [
                result(1, r#"{"content":[{"type":"text","text":"This is a simple text response for testing."}]}"#),
                result(2, &format!(r#"{{"content":[{png}]}}"#)),
                result(
                    3,
                    &format!(r#"{{"content":[{{"type":"audio","data":"{WAV_BASE64}","mimeType":"audio/wav"}}]}}"#)
                ),
                result(
                    4,
                    r#"{"content":[{"type":"resource","resource":{"uri":"test://embedded-resource","mimeType":"text/plain","text":"This is an embedded resource content."}}]}"#
                ),
                result(
                    5,
                    &format!(
                        r#"{{"content":[{{"type":"text","text":"Multiple content types test:"}},{png},{{"type":"resource","resource":{{"uri":"test://mixed-content-resource","mimeType":"application/json","text":"{{\"test\":\"data\",\"value\":123}}"}}}}]}}"#
                    )
                ),
                result(
                    6,
                    r#"{"content":[{"type":"text","text":"This tool intentionally returns an error for testing"}],"isError":true}"#
                ),
            ]
        );
    }

    #[test]
    fn logging_tool_sends_three_messages_before_its_result() {
        let set_level = request(1, "logging/setLevel", r#"{"level":"debug"}"#);
        let out = run(&[&set_level, &call(2, "test_tool_with_logging")]);
        assert_eq!(
            out,
            [
                result(1, "{}"),
                log("Tool execution started"),
                log("Tool processing data"),
                log("Tool execution completed"),
                result(2, r#"{"content":[{"type":"text","text":"Tool with logging executed successfully"}]}"#),
            ]
        );
    }

    #[test]
    fn logging_tool_honours_the_session_level() {
        let set_level = request(1, "logging/setLevel", r#"{"level":"warning"}"#);
        let out = run(&[&set_level, &call(2, "test_tool_with_logging")]);
        assert_eq!(
            out,
            [
                result(1, "{}"),
                result(2, r#"{"content":[{"type":"text","text":"Tool with logging executed successfully"}]}"#)
            ]
        );
    }

    #[test]
    fn progress_tool_sends_three_increasing_notifications_before_its_result() {
        let with_token = request(
            1,
            "tools/call",
            r#"{"name":"test_tool_with_progress","arguments":{},"_meta":{"progressToken":1}}"#,
        );
        let out = run(&[&with_token, &call(2, "test_tool_with_progress")]);
        assert_eq!(
            out,
            [
                progress(0),
                progress(50),
                progress(100),
                result(1, r#"{"content":[{"type":"text","text":"Progress test completed: 3 notifications sent"}]}"#),
                result(2, r#"{"content":[{"type":"text","text":"Progress test completed: 0 notifications sent"}]}"#),
            ]
        );
    }

    #[test]
    fn reconnection_tool_answers_where_streams_cannot_close() {
        let out = run(&[&call(1, "test_reconnection")]);
        assert_eq!(
            out,
            [result(
                1,
                r#"{"content":[{"type":"text","text":"Reconnection test completed successfully. If you received this, the client properly reconnected after stream closure."}]}"#
            )]
        );
    }

    #[test]
    fn json_schema_tool_accepts_ref_properties_and_echoes_its_arguments() {
        let args = r#"{"name":"Ada","address":{"street":"1 Main St","city":"Paris"}}"#;
        let out =
            run(&[&request(1, "tools/call", &format!(r#"{{"name":"json_schema_2020_12_tool","arguments":{args}}}"#))]);
        assert_eq!(
            out,
            [result(
                1,
                &format!(
                    r#"{{"content":[{{"type":"text","text":"JSON Schema 2020-12 tool called with: {}"}}]}}"#,
                    args.replace('"', "\\\"")
                )
            )]
        );
    }

    #[test]
    fn client_request_tools_fail_as_tool_errors_without_the_capability() {
        let sampling = request(1, "tools/call", r#"{"name":"test_sampling","arguments":{"prompt":"hi"}}"#);
        let elicitation = request(2, "tools/call", r#"{"name":"test_elicitation","arguments":{"message":"hi"}}"#);
        let out = run(&[&sampling, &elicitation, &call(3, "test_elicitation_sep1034_defaults")]);
        let failed = |id, what: &str, cap: &str| {
            result(
                id,
                &format!(
                    r#"{{"content":[{{"type":"text","text":"{what} not supported or error: the client did not declare the {cap} capability"}}],"isError":true}}"#
                ),
            )
        };
        assert_eq!(
            out,
            [
                failed(1, "Sampling", "sampling"),
                failed(2, "Elicitation", "elicitation"),
                failed(3, "Elicitation", "elicitation")
            ]
        );
    }

    #[test]
    fn sampling_request_and_answer_are_the_reference_ones() {
        assert_eq!(
            sampling_params("Test prompt for sampling"),
            r#"{"messages":[{"role":"user","content":{"type":"text","text":"Test prompt for sampling"}}],"maxTokens":100}"#
        );
        let answer = r#"{"role":"assistant","content":{"type":"text","text":"This is a test response from the client"},"model":"test-model","stopReason":"endTurn"}"#;
        assert_eq!(sampled_text(answer).unwrap(), "This is a test response from the client");
        let blocks =
            r#"{"role":"assistant","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}],"model":"m"}"#;
        assert_eq!(sampled_text(blocks).unwrap(), "a\nb");
        assert!(sampled_text(r#"{"role":"assistant"}"#).is_err());
    }

    #[test]
    fn elicitation_requests_and_answers_are_the_reference_ones() {
        assert_eq!(
            elicitation_params("Please provide your information"),
            r#"{"message":"Please provide your information","requestedSchema":{"type":"object","properties":{"username":{"type":"string","description":"User's response"},"email":{"type":"string","description":"User's email address"}},"required":["username","email"]}}"#
        );
        let accept = r#"{"action":"accept","content":{"username":"testuser","email":"test@example.com"}}"#;
        assert_eq!(
            elicited(accept).unwrap(),
            ("accept".to_string(), r#"{"username":"testuser","email":"test@example.com"}"#.to_string())
        );
        assert_eq!(elicited(r#"{"action":"decline"}"#).unwrap(), ("decline".to_string(), "{}".to_string()));
        let enums = r#"{"action":"accept","content":{"untitledSingle":"option1","titledSingle":"value1","legacyEnum":"opt1","untitledMulti":["option1","option2"],"titledMulti":["value1","value2"]}}"#;
        assert_eq!(elicited(enums).unwrap().1, enums.split_once(r#""content":"#).unwrap().1.strip_suffix('}').unwrap());
        for params in [ELICIT_SEP1034, ELICIT_SEP1330] {
            let v: Value = sonic_rs::from_str(params).unwrap();
            assert_eq!(v["requestedSchema"]["type"].as_str(), Some("object"));
        }
        let defaults: Value = sonic_rs::from_str(ELICIT_SEP1034).unwrap();
        let props = &defaults["requestedSchema"]["properties"];
        assert_eq!(props["name"]["default"].as_str(), Some("John Doe"));
        assert_eq!(props["age"]["default"].as_i64(), Some(30));
        assert_eq!(props["score"]["default"].as_f64(), Some(95.5));
        assert_eq!(props["status"]["default"].as_str(), Some("active"));
        assert_eq!(props["verified"]["default"].as_bool(), Some(true));
    }

    #[test]
    fn resources_list_and_read_as_the_reference() {
        let requests = [
            r#"{"method":"resources/list","jsonrpc":"2.0","id":1}"#.to_string(),
            request(2, "resources/read", r#"{"uri":"test://static-text"}"#),
            request(3, "resources/read", r#"{"uri":"test://static-binary"}"#),
            request(4, "resources/read", r#"{"uri":"test://watched-resource"}"#),
            request(5, "resources/read", r#"{"uri":"test://template/123/data"}"#),
            r#"{"method":"resources/templates/list","jsonrpc":"2.0","id":6}"#.to_string(),
        ];
        let out = run(&requests.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(
            out,
            [
                result(
                    1,
                    r#"{"resources":[{"uri":"test://static-text","name":"static-text","title":"Static Text Resource","description":"A static text resource for testing","mimeType":"text/plain"},{"uri":"test://static-binary","name":"static-binary","title":"Static Binary Resource","description":"A static binary resource (image) for testing","mimeType":"image/png"},{"uri":"test://watched-resource","name":"watched-resource","title":"Watched Resource","description":"A resource for subscription tests","mimeType":"text/plain"}]}"#
                ),
                result(
                    2,
                    r#"{"contents":[{"uri":"test://static-text","mimeType":"text/plain","text":"This is the content of the static text resource."}]}"#
                ),
                result(
                    3,
                    &format!(
                        r#"{{"contents":[{{"uri":"test://static-binary","mimeType":"image/png","blob":"{PNG_BASE64}"}}]}}"#
                    )
                ),
                result(
                    4,
                    r#"{"contents":[{"uri":"test://watched-resource","mimeType":"text/plain","text":"Watched resource content"}]}"#
                ),
                result(
                    5,
                    r#"{"contents":[{"uri":"test://template/123/data","mimeType":"application/json","text":"{\"id\":\"123\",\"templateTest\":true,\"data\":\"Data for ID: 123\"}"}]}"#
                ),
                result(
                    6,
                    r#"{"resourceTemplates":[{"uriTemplate":"test://template/{id}/data","name":"template","title":"Resource Template","description":"A resource template with parameter substitution","mimeType":"application/json"}]}"#
                ),
            ]
        );
    }

    #[test]
    fn watched_resource_subscribe_and_unsubscribe_answer_empty() {
        let uri = r#"{"uri":"test://watched-resource"}"#;
        let out = run(&[&request(1, "resources/subscribe", uri), &request(2, "resources/unsubscribe", uri)]);
        assert_eq!(out, [result(1, "{}"), result(2, "{}")]);
    }

    #[test]
    fn prompts_list_and_get_as_the_reference() {
        let requests = [
            r#"{"method":"prompts/list","jsonrpc":"2.0","id":1}"#.to_string(),
            request(2, "prompts/get", r#"{"name":"test_simple_prompt"}"#),
            request(
                3,
                "prompts/get",
                r#"{"name":"test_prompt_with_arguments","arguments":{"arg1":"testValue1","arg2":"testValue2"}}"#,
            ),
            request(
                4,
                "prompts/get",
                r#"{"name":"test_prompt_with_embedded_resource","arguments":{"resourceUri":"test://example-resource"}}"#,
            ),
            request(5, "prompts/get", r#"{"name":"test_prompt_with_image"}"#),
        ];
        let out = run(&requests.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(
            out,
            [
                result(
                    1,
                    r#"{"prompts":[{"name":"test_simple_prompt","title":"Simple Test Prompt","description":"A simple prompt without arguments","arguments":[]},{"name":"test_prompt_with_arguments","title":"Prompt With Arguments","description":"A prompt with required arguments","arguments":[{"name":"arg1","description":"First test argument","required":true},{"name":"arg2","description":"Second test argument","required":true}]},{"name":"test_prompt_with_embedded_resource","title":"Prompt With Embedded Resource","description":"A prompt that includes an embedded resource","arguments":[{"name":"resourceUri","description":"URI of the resource to embed","required":true}]},{"name":"test_prompt_with_image","title":"Prompt With Image","description":"A prompt that includes image content","arguments":[]}]}"#
                ),
                result(
                    2,
                    r#"{"messages":[{"role":"user","content":{"type":"text","text":"This is a simple prompt for testing."}}]}"#
                ),
                result(
                    3,
                    r#"{"messages":[{"role":"user","content":{"type":"text","text":"Prompt with arguments: arg1='testValue1', arg2='testValue2'"}}]}"#
                ),
                result(
                    4,
                    r#"{"messages":[{"role":"user","content":{"type":"resource","resource":{"uri":"test://example-resource","mimeType":"text/plain","text":"Embedded resource content for testing."}}},{"role":"user","content":{"type":"text","text":"Please process the embedded resource above."}}]}"#
                ),
                result(
                    5,
                    &format!(
                        r#"{{"messages":[{{"role":"user","content":{{"type":"image","data":"{PNG_BASE64}","mimeType":"image/png"}}}},{{"role":"user","content":{{"type":"text","text":"Please analyze the image above."}}}}]}}"#
                    )
                ),
            ]
        );
    }

    #[test]
    fn prompt_argument_completion_is_the_reference_answer_for_the_suite_request() {
        let suite = r#"{"method":"completion/complete","params":{"ref":{"type":"ref/prompt","name":"test_prompt_with_arguments"},"argument":{"name":"arg1","value":"test"}},"jsonrpc":"2.0","id":1}"#;
        let typed = request(
            2,
            "completion/complete",
            r#"{"ref":{"type":"ref/prompt","name":"test_prompt_with_arguments"},"argument":{"name":"arg2","value":"val"}}"#,
        );
        let out = run(&[suite, &typed]);
        assert_eq!(
            out,
            [
                result(1, r#"{"completion":{"values":[],"total":0,"hasMore":false}}"#),
                result(2, r#"{"completion":{"values":["value1","value2","value3"],"total":3,"hasMore":false}}"#),
            ]
        );
    }

    #[test]
    fn payloads_decode_to_a_png_and_a_wav_header() {
        let png = base64::engine::general_purpose::STANDARD.decode(PNG_BASE64).unwrap();
        assert_eq!((png.len(), &png[..8]), (70, &b"\x89PNG\r\n\x1a\n"[..]));
        let wav = base64::engine::general_purpose::STANDARD.decode(WAV_BASE64).unwrap();
        assert_eq!((wav.len(), &wav[..4], &wav[8..12]), (44, &b"RIFF"[..], &b"WAVE"[..]));
    }
}
