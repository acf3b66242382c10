//! Tools: a name, a description, an input JSON Schema, an optional output schema, and a
//! handler — a sync closure, or an async fn that runs on the core's executor.
//!
//! Handlers run on every core (shared-nothing): the closure is `Send + Sync` so each core can
//! hold it, while the future an async handler returns stays on the core that made it and
//! need not be `Send`.

use super::content::CallToolResult;
use ringmcp_shards::SessionId;
use serde::Serialize;
use sonic_rs::{JsonContainerTrait, JsonValueTrait, Value};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// What a handler returns: a result, or a failure the client sees as `isError: true`.
pub type ToolResult = Result<CallToolResult, ToolError>;

/// A future that stays on the core that created it.
pub type LocalFuture<T> = Pin<Box<dyn Future<Output = T> + 'static>>;

/// A tool's own failure, shown to the model as an `isError: true` result with this text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolError(pub String);

impl<T: std::fmt::Display> From<T> for ToolError {
    fn from(e: T) -> Self {
        ToolError(e.to_string())
    }
}

/// One call of a tool: its (already checked) arguments and where it runs.
#[derive(Debug, Clone)]
pub struct ToolCall {
    /// The `arguments` object (empty if the client sent none).
    pub arguments: Value,
    /// The core running the call.
    pub core: usize,
    /// The session that called.
    pub session: SessionId,
}

impl ToolCall {
    /// A string argument. Errors (as a tool error) if absent or not a string.
    pub fn str(&self, key: &str) -> Result<&str, ToolError> {
        self.arguments
            .get(key)
            .and_then(|v| v.as_str())
            .ok_or_else(|| ToolError(format!("argument \"{key}\" must be a string")))
    }

    /// A number argument. Errors if absent or not a number.
    pub fn f64(&self, key: &str) -> Result<f64, ToolError> {
        self.arguments
            .get(key)
            .and_then(|v| v.as_f64())
            .ok_or_else(|| ToolError(format!("argument \"{key}\" must be a number")))
    }

    /// A non-negative integer argument. Errors if absent, negative or not an integer.
    pub fn u64(&self, key: &str) -> Result<u64, ToolError> {
        self.arguments
            .get(key)
            .and_then(|v| v.as_u64())
            .ok_or_else(|| ToolError(format!("argument \"{key}\" must be a non-negative integer")))
    }
}

type SyncFn = dyn Fn(&ToolCall) -> ToolResult + Send + Sync;
type AsyncFn = dyn Fn(ToolCall) -> LocalFuture<ToolResult> + Send + Sync;

/// How a tool runs.
#[derive(Clone)]
pub enum ToolHandler {
    /// Runs inline while the request is handled: answers in the same write as its neighbours.
    Sync(Arc<SyncFn>),
    /// Spawned on the core's executor; the answer is written when it completes.
    Async(Arc<AsyncFn>),
}

/// A tool, ready to register with [`crate::Server::builder`].
#[derive(Clone)]
pub struct Tool {
    pub(crate) name: String,
    pub(crate) handler: ToolHandler,
    pub(crate) checks: Vec<ArgCheck>,
    /// The tool's entry in `tools/list`, serialized once at registration.
    pub(crate) descriptor_json: Vec<u8>,
}

/// A tool under construction.
pub struct ToolBuilder {
    descriptor: Descriptor,
}

#[derive(Serialize)]
struct Descriptor {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<String>,
    description: String,
    #[serde(rename = "inputSchema")]
    input_schema: Value,
    #[serde(rename = "outputSchema", skip_serializing_if = "Option::is_none")]
    output_schema: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    annotations: Option<Value>,
}

impl Tool {
    /// Starts a tool. The input schema defaults to an object with no declared properties.
    pub fn builder(name: impl Into<String>, description: impl Into<String>) -> ToolBuilder {
        let input_schema = sonic_rs::json!({"type": "object"});
        ToolBuilder {
            descriptor: Descriptor {
                name: name.into(),
                title: None,
                description: description.into(),
                input_schema,
                output_schema: None,
                annotations: None,
            },
        }
    }

    /// The tool's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Checks `arguments` against the declared required properties and property types.
    /// Returns the problem as text (it becomes an `isError` result).
    pub fn check_arguments(&self, arguments: &Value) -> Result<(), String> {
        for check in &self.checks {
            match arguments.get(check.name.as_str()) {
                None if check.required => return Err(format!("missing required argument \"{}\"", check.name)),
                None => {}
                Some(v) if check.types != 0 && check.types & type_bit(v) == 0 => {
                    return Err(format!(
                        "argument \"{}\" must be {}, got {}",
                        check.name,
                        type_names(check.types),
                        type_names(type_bit(v) & !INTEGER)
                    ))
                }
                Some(_) => {}
            }
        }
        Ok(())
    }
}

impl ToolBuilder {
    /// The JSON Schema of the arguments (an object schema). Its `required` list and each
    /// property's `type` are enforced before the handler runs.
    pub fn input_schema(mut self, schema: Value) -> Self {
        self.descriptor.input_schema = schema;
        self
    }

    /// The JSON Schema of `structuredContent`.
    pub fn output_schema(mut self, schema: Value) -> Self {
        self.descriptor.output_schema = Some(schema);
        self
    }

    /// A human-friendly title.
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.descriptor.title = Some(title.into());
        self
    }

    /// Tool annotations (`readOnlyHint`, …), passed through as given.
    pub fn annotations(mut self, annotations: Value) -> Self {
        self.descriptor.annotations = Some(annotations);
        self
    }

    /// Finishes with a sync handler.
    pub fn sync_handler(self, f: impl Fn(&ToolCall) -> ToolResult + Send + Sync + 'static) -> Tool {
        self.finish(ToolHandler::Sync(Arc::new(f)))
    }

    /// Finishes with an async handler, run on the executor of the core that got the request.
    pub fn async_handler<F, Fut>(self, f: F) -> Tool
    where
        F: Fn(ToolCall) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ToolResult> + 'static,
    {
        self.finish(ToolHandler::Async(Arc::new(move |call| Box::pin(f(call)))))
    }

    fn finish(self, handler: ToolHandler) -> Tool {
        let checks = arg_checks(&self.descriptor.input_schema);
        let descriptor_json = sonic_rs::to_vec(&self.descriptor).expect("a descriptor always serializes");
        Tool { name: self.descriptor.name, handler, checks, descriptor_json }
    }
}

/// One declared property: is it required, and which JSON types it may have (0: any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ArgCheck {
    name: String,
    required: bool,
    types: u8,
}

const STRING: u8 = 1;
const NUMBER: u8 = 2;
const INTEGER: u8 = 4;
const BOOLEAN: u8 = 8;
const OBJECT: u8 = 16;
const ARRAY: u8 = 32;
const NULL: u8 = 64;
const TYPE_NAMES: [(u8, &str); 7] = [
    (STRING, "string"),
    (NUMBER, "number"),
    (INTEGER, "integer"),
    (BOOLEAN, "boolean"),
    (OBJECT, "object"),
    (ARRAY, "array"),
    (NULL, "null"),
];

fn arg_checks(schema: &Value) -> Vec<ArgCheck> {
    let required: Vec<&str> = schema
        .get("required")
        .and_then(|r| r.as_array())
        .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    let mut checks: Vec<ArgCheck> = Vec::new();
    if let Some(props) = schema.get("properties").and_then(|p| p.as_object()) {
        for (name, prop) in props.iter() {
            let types = match prop.get("type") {
                Some(t) if t.is_str() => type_mask(t.as_str().unwrap_or_default()),
                Some(t) => {
                    t.as_array().map_or(0, |a| a.iter().filter_map(|v| v.as_str()).map(type_mask).fold(0, |m, b| m | b))
                }
                None => 0,
            };
            checks.push(ArgCheck { name: name.to_string(), required: required.contains(&name), types });
        }
    }
    for name in required {
        if !checks.iter().any(|c| c.name == name) {
            checks.push(ArgCheck { name: name.to_string(), required: true, types: 0 });
        }
    }
    checks
}

fn type_mask(name: &str) -> u8 {
    TYPE_NAMES.iter().find(|(_, n)| *n == name).map_or(0, |(b, _)| *b)
}

/// The types a value satisfies: an integer is also a number, and an integral number is an
/// integer (JSON Schema counts 1.0 as an integer).
fn type_bit(v: &Value) -> u8 {
    if v.is_str() {
        STRING
    } else if v.is_number() {
        let integral = v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0);
        NUMBER | if integral { INTEGER } else { 0 }
    } else if v.is_boolean() {
        BOOLEAN
    } else if v.is_object() {
        OBJECT
    } else if v.is_array() {
        ARRAY
    } else {
        NULL
    }
}

fn type_names(mask: u8) -> String {
    let names: Vec<&str> = TYPE_NAMES.iter().filter(|(b, _)| mask & b != 0).map(|(_, n)| *n).collect();
    names.join(" or ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool() -> Tool {
        Tool::builder("t", "test")
            .input_schema(sonic_rs::json!({
                "type": "object",
                "properties": {"text": {"type": "string"}, "n": {"type": "integer"}, "x": {"type": ["number", "null"]}},
                "required": ["text"]
            }))
            .sync_handler(|_| Ok(CallToolResult::text("")))
    }

    #[test]
    fn required_and_types_are_enforced_with_names() {
        let t = tool();
        assert_eq!(t.check_arguments(&sonic_rs::json!({})).unwrap_err(), "missing required argument \"text\"");
        assert_eq!(
            t.check_arguments(&sonic_rs::json!({"text": 1})).unwrap_err(),
            "argument \"text\" must be string, got number"
        );
        assert_eq!(
            t.check_arguments(&sonic_rs::json!({"text": "a", "n": 1.5})).unwrap_err(),
            "argument \"n\" must be integer, got number"
        );
        t.check_arguments(&sonic_rs::json!({"text": "a", "n": 2, "x": null})).unwrap();
        t.check_arguments(&sonic_rs::json!({"text": "a", "x": 2.5})).unwrap();
    }

    #[test]
    fn descriptor_is_the_list_entry() {
        let d: Value = sonic_rs::from_slice(&tool().descriptor_json).unwrap();
        assert_eq!(d["name"].as_str(), Some("t"));
        assert_eq!(d["inputSchema"]["required"][0].as_str(), Some("text"));
        assert!(d.get("outputSchema").is_none());
    }
}
