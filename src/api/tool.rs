//! Tools: a name, a description, an input JSON Schema, an optional output schema, and a
//! handler — a sync closure, or an async fn that runs on the core's executor.
//!
//! Handlers run on every core (shared-nothing): the closure is `Send + Sync` so each core can
//! hold it, while the future an async handler returns stays on the core that made it and
//! need not be `Send`.

use super::content::CallToolResult;
use crate::mcp::peer::{ClientError, RequestPeer};
use crate::scan;
use ringmcp_shards::SessionId;
use serde::Serialize;
use sonic_rs::{JsonContainerTrait, JsonValueTrait, Value};
use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
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

/// One call of a tool: its arguments (already checked against the input schema, kept as raw
/// JSON text and read on demand) and where it runs. Sync handlers get it borrowed from the
/// request; async handlers get an owned copy (`ToolCall<'static>`).
#[derive(Debug, Clone)]
pub struct ToolCall<'a> {
    arguments: Cow<'a, str>,
    /// The core running the call.
    pub core: usize,
    /// The session that called.
    pub session: SessionId,
    peer: Rc<RequestPeer>,
}

impl<'a> ToolCall<'a> {
    /// A call with `arguments`, the raw text of a JSON object the fast scanner accepts.
    pub(crate) fn new(arguments: Cow<'a, str>, core: usize, session: SessionId, peer: Rc<RequestPeer>) -> ToolCall<'a> {
        debug_assert!(scan::members(arguments.as_bytes(), |_| true).is_some(), "arguments are normalized");
        ToolCall { arguments, core, session, peer }
    }

    /// An owned copy, for handlers that outlive the request.
    pub fn into_owned(self) -> ToolCall<'static> {
        ToolCall {
            arguments: Cow::Owned(self.arguments.into_owned()),
            core: self.core,
            session: self.session,
            peer: self.peer,
        }
    }

    /// Sends `notifications/progress` if the caller asked for progress (`_meta.progressToken`).
    /// `progress` must increase from call to call (a value that does not is skipped); returns
    /// whether it was sent. Sent on the request's own stream, before its result.
    pub fn progress(&self, progress: f64, total: Option<f64>, message: Option<&str>) -> bool {
        self.peer.progress(progress, total, message)
    }

    /// Sends `notifications/message` at `level` (`debug` … `emergency`) with `data_json` (any
    /// JSON value), unless the session's `logging/setLevel` filters it out.
    pub fn log(&self, level: &str, logger: Option<&str>, data_json: &str) -> bool {
        self.peer.log(level, logger, data_json)
    }

    /// Whether the client cancelled this call (`notifications/cancelled`). An async handler
    /// that is cancelled is dropped at its next await; this is for long synchronous loops.
    pub fn is_cancelled(&self) -> bool {
        self.peer.is_cancelled()
    }

    /// Closes the call's SSE stream and asks the client to reconnect after `retry_ms` (SSE
    /// polling, Streamable HTTP only); the result is delivered on the resumed stream.
    pub fn close_stream(&self, retry_ms: u64) {
        self.peer.close_stream(retry_ms)
    }

    /// Sends a request to the client (e.g. `sampling/createMessage`) and waits for its
    /// answer: the raw JSON of its `result`, or why there is none (an error answer, the
    /// `client_request_timeout_ms` timeout, the session ending).
    pub async fn request(&self, method: &str, params_json: &str) -> Result<String, ClientError> {
        let (id, reply) = self.peer.start_request(method, params_json);
        let timeout = std::time::Duration::from_millis(self.peer.peer.client_timeout_ms());
        let answer = std::future::poll_fn(|cx| match reply.take(cx.waker()) {
            Some(a) => std::task::Poll::Ready(a),
            None => std::task::Poll::Pending,
        });
        let timer = async {
            glommio::timer::sleep(timeout).await;
            Err(ClientError::Timeout)
        };
        let outcome = futures_lite::future::or(answer, timer).await;
        if outcome == Err(ClientError::Timeout) {
            self.peer.peer.forget_request(id);
        }
        outcome
    }

    /// `sampling/createMessage` (the client must have declared `sampling`).
    pub async fn create_message(&self, params_json: &str) -> Result<String, ClientError> {
        if !self.peer.peer.client.get().sampling {
            return Err(ClientError::Unsupported("sampling"));
        }
        self.request("sampling/createMessage", params_json).await
    }

    /// `elicitation/create` (the client must have declared `elicitation`).
    pub async fn elicit(&self, params_json: &str) -> Result<String, ClientError> {
        if !self.peer.peer.client.get().elicitation {
            return Err(ClientError::Unsupported("elicitation"));
        }
        self.request("elicitation/create", params_json).await
    }

    /// `roots/list` (the client must have declared `roots`).
    pub async fn list_roots(&self) -> Result<String, ClientError> {
        if !self.peer.peer.client.get().roots {
            return Err(ClientError::Unsupported("roots"));
        }
        self.request("roots/list", "{}").await
    }

    /// The raw JSON text of argument `key`, if given.
    pub fn get(&self, key: &str) -> Option<&str> {
        let m = scan::get(self.arguments.as_bytes(), key.as_bytes())?;
        Some(scan::span_str(&self.arguments, m.value))
    }

    /// A string argument (borrowed unless it has escapes). Errors (as a tool error) if absent
    /// or not a string.
    pub fn str(&self, key: &str) -> Result<Cow<'_, str>, ToolError> {
        let bad = || ToolError(format!("argument \"{key}\" must be a string"));
        let raw = self.get(key).filter(|r| r.starts_with('"')).ok_or_else(bad)?;
        match scan::plain_str(raw) {
            Some(s) => Ok(Cow::Borrowed(s)),
            None => sonic_rs::from_str::<String>(raw).map(Cow::Owned).map_err(|_| bad()),
        }
    }

    /// A number argument. Errors if absent or not a number.
    pub fn f64(&self, key: &str) -> Result<f64, ToolError> {
        self.number(key).ok_or_else(|| ToolError(format!("argument \"{key}\" must be a number")))
    }

    /// An integer argument (1.0 counts, as in JSON Schema). Errors if absent or not an integer.
    pub fn i64(&self, key: &str) -> Result<i64, ToolError> {
        let raw = self.get(key);
        raw.and_then(|r| r.parse::<i64>().ok())
            .or_else(|| self.number(key).filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15).map(|f| f as i64))
            .ok_or_else(|| ToolError(format!("argument \"{key}\" must be an integer")))
    }

    /// A non-negative integer argument. Errors if absent, negative or not an integer.
    pub fn u64(&self, key: &str) -> Result<u64, ToolError> {
        self.i64(key)
            .ok()
            .and_then(|i| u64::try_from(i).ok())
            .ok_or_else(|| ToolError(format!("argument \"{key}\" must be a non-negative integer")))
    }

    /// A boolean argument. Errors if absent or not a boolean.
    pub fn bool(&self, key: &str) -> Result<bool, ToolError> {
        match self.get(key) {
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            _ => Err(ToolError(format!("argument \"{key}\" must be a boolean"))),
        }
    }

    /// All arguments, parsed (for handlers that want a whole value tree).
    pub fn arguments(&self) -> Value {
        sonic_rs::from_str(&self.arguments).expect("arguments were checked to be a JSON object")
    }

    /// The raw JSON text of the arguments object.
    pub fn raw_arguments(&self) -> &str {
        &self.arguments
    }

    fn number(&self, key: &str) -> Option<f64> {
        let raw = self.get(key)?;
        raw.starts_with(['-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9']).then(|| raw.parse().ok())?
    }
}

type SyncFn = dyn for<'a> Fn(&ToolCall<'a>) -> ToolResult + Send + Sync;
type AsyncFn = dyn Fn(ToolCall<'static>) -> LocalFuture<ToolResult> + Send + Sync;

/// How a tool runs.
#[derive(Clone)]
pub enum ToolHandler {
    /// Runs inline while the request is handled: answers in the same write as its neighbours.
    Sync(Arc<SyncFn>),
    /// Spawned on the core's executor; the answer is written when it completes.
    Async(Arc<AsyncFn>),
}

/// Whether a tool may run as a task (MCP 2025-11-25 `execution.taskSupport`): called with
/// `params.task`, it is answered at once with a task id, and its result is fetched later with
/// `tasks/result`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskSupport {
    /// Never as a task (a call with `params.task` gets -32601). Not listed in `tools/list`.
    #[default]
    Forbidden,
    /// As a task or as a plain call, as the client chooses.
    Optional,
    /// Only as a task (a call without `params.task` gets -32601).
    Required,
}

/// A tool, ready to register with [`crate::Server::builder`].
#[derive(Clone)]
pub struct Tool {
    pub(crate) name: String,
    pub(crate) handler: ToolHandler,
    pub(crate) task_support: TaskSupport,
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
    #[serde(skip_serializing_if = "Option::is_none")]
    execution: Option<Execution>,
}

#[derive(Serialize)]
struct Execution {
    #[serde(rename = "taskSupport")]
    task_support: TaskSupport,
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
                execution: None,
            },
        }
    }

    /// The tool's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Checks `arguments` (the raw text of a JSON object) against the declared required
    /// properties and property types, in one pass over the text.
    ///
    /// Errors: [`ArgError::Invalid`] names the problem (it becomes an `isError` result);
    /// [`ArgError::Unreadable`] means the fast scanner cannot read the text (escaped keys):
    /// normalize it and check again.
    pub fn check_arguments(&self, arguments: &str) -> Result<(), ArgError> {
        if self.checks.len() > u64::BITS as usize {
            return self.check_each(arguments);
        }
        let mut seen = 0u64;
        let mut problem = None;
        scan::members(arguments.as_bytes(), |m| {
            let Some(i) = self.checks.iter().position(|c| c.name.as_bytes() == m.key) else { return true };
            seen |= 1 << i;
            let check = &self.checks[i];
            if check.types != 0 && check.types & type_bit(m) == 0 {
                problem = Some(wrong_type(check, m));
            }
            problem.is_none()
        })
        .ok_or(ArgError::Unreadable)?;
        if let Some(p) = problem {
            return Err(ArgError::Invalid(p));
        }
        match self.checks.iter().enumerate().find(|(i, c)| c.required && seen & (1 << i) == 0) {
            Some((_, c)) => Err(ArgError::Invalid(format!("missing required argument \"{}\"", c.name))),
            None => Ok(()),
        }
    }

    /// The same check for tools with more declared properties than the one-pass bit set holds.
    fn check_each(&self, arguments: &str) -> Result<(), ArgError> {
        scan::members(arguments.as_bytes(), |_| true).ok_or(ArgError::Unreadable)?;
        for check in &self.checks {
            match scan::get(arguments.as_bytes(), check.name.as_bytes()) {
                None if check.required => {
                    return Err(ArgError::Invalid(format!("missing required argument \"{}\"", check.name)))
                }
                None => {}
                Some(v) if check.types != 0 && check.types & type_bit(v) == 0 => {
                    return Err(ArgError::Invalid(wrong_type(check, v)))
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

    /// Whether the tool may run as a task (default [`TaskSupport::Forbidden`], which leaves
    /// `execution` out of its `tools/list` entry). A server with any such tool declares the
    /// `tasks` capability.
    pub fn task_support(mut self, support: TaskSupport) -> Self {
        self.descriptor.execution = (support != TaskSupport::Forbidden).then_some(Execution { task_support: support });
        self
    }

    /// Finishes with a sync handler.
    pub fn sync_handler(self, f: impl for<'a> Fn(&ToolCall<'a>) -> ToolResult + Send + Sync + 'static) -> Tool {
        self.finish(ToolHandler::Sync(Arc::new(f)))
    }

    /// Finishes with an async handler, run on the executor of the core that got the request.
    pub fn async_handler<F, Fut>(self, f: F) -> Tool
    where
        F: Fn(ToolCall<'static>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ToolResult> + 'static,
    {
        self.finish(ToolHandler::Async(Arc::new(move |call| Box::pin(f(call)))))
    }

    fn finish(self, handler: ToolHandler) -> Tool {
        let checks = arg_checks(&self.descriptor.input_schema);
        let descriptor_json = sonic_rs::to_vec(&self.descriptor).expect("a descriptor always serializes");
        let task_support = self.descriptor.execution.as_ref().map_or(TaskSupport::Forbidden, |e| e.task_support);
        Tool { name: self.descriptor.name, handler, task_support, checks, descriptor_json }
    }
}

/// Why arguments failed [`Tool::check_arguments`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgError {
    /// The problem, for an `isError` result.
    Invalid(String),
    /// The fast scanner cannot read the text; normalize it and check again.
    Unreadable,
}

fn wrong_type(check: &ArgCheck, v: scan::Member<'_>) -> String {
    let (want, got) = (type_names(check.types), type_names(type_bit(v) & !INTEGER));
    format!("argument \"{}\" must be {want}, got {got}", check.name)
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
fn type_bit(m: scan::Member<'_>) -> u8 {
    match m.kind {
        scan::Kind::String => STRING,
        scan::Kind::Number => {
            let integral = scan::is_integer(m.value)
                || std::str::from_utf8(m.value)
                    .ok()
                    .and_then(|t| t.parse::<f64>().ok())
                    .is_some_and(|f| f.fract() == 0.0);
            NUMBER | if integral { INTEGER } else { 0 }
        }
        scan::Kind::Bool => BOOLEAN,
        scan::Kind::Object => OBJECT,
        scan::Kind::Array => ARRAY,
        scan::Kind::Null => NULL,
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
        let invalid = |m: &str| Err(ArgError::Invalid(m.to_string()));
        assert_eq!(t.check_arguments("{}"), invalid("missing required argument \"text\""));
        assert_eq!(t.check_arguments(r#"{"text":1}"#), invalid("argument \"text\" must be string, got number"));
        assert_eq!(t.check_arguments(r#"{"text":"a","n":1.5}"#), invalid("argument \"n\" must be integer, got number"));
        assert_eq!(t.check_arguments(r#"{"te\u0078t":"a"}"#), Err(ArgError::Unreadable));
        t.check_arguments(r#"{"text":"a","n":2,"x":null}"#).unwrap();
        t.check_arguments(r#"{"text":"a","n":2.0,"x":2.5}"#).unwrap();
    }

    #[test]
    fn call_accessors_read_raw_arguments() {
        let call = ToolCall::new(
            Cow::Borrowed(r#"{"s":"plain","e":"a\"b\u00e9","n":-7,"f":2.5,"i":3.0,"b":true,"o":{"x":[1]}}"#),
            0,
            SessionId::from_random(1),
            Rc::new(RequestPeer::new(Default::default(), Rc::new(crate::mcp::peer::NullSink), None)),
        );
        assert!(matches!(call.str("s"), Ok(Cow::Borrowed("plain"))));
        assert_eq!(call.str("e").unwrap(), "a\"b\u{e9}");
        assert_eq!(call.i64("n").unwrap(), -7);
        assert_eq!(call.i64("i").unwrap(), 3);
        assert_eq!(call.f64("f").unwrap(), 2.5);
        assert!(call.u64("n").is_err() && call.i64("f").is_err() && call.str("n").is_err());
        assert!(call.bool("b").unwrap());
        assert_eq!(call.get("o"), Some(r#"{"x":[1]}"#));
        assert_eq!(call.arguments()["o"]["x"][0].as_i64(), Some(1));
    }

    #[test]
    fn descriptor_is_the_list_entry() {
        let d: Value = sonic_rs::from_slice(&tool().descriptor_json).unwrap();
        assert_eq!(d["name"].as_str(), Some("t"));
        assert_eq!(d["inputSchema"]["required"][0].as_str(), Some("text"));
        assert!(d.get("outputSchema").is_none());
        assert!(d.get("execution").is_none());
    }

    #[test]
    fn task_support_is_listed_unless_forbidden() {
        let t =
            Tool::builder("t", "x").task_support(TaskSupport::Required).sync_handler(|_| Ok(CallToolResult::text("")));
        assert_eq!(t.task_support, TaskSupport::Required);
        assert!(String::from_utf8(t.descriptor_json).unwrap().ends_with(r#","execution":{"taskSupport":"required"}}"#));
        let f =
            Tool::builder("f", "x").task_support(TaskSupport::Forbidden).sync_handler(|_| Ok(CallToolResult::text("")));
        assert!(!String::from_utf8(f.descriptor_json).unwrap().contains("execution"));
    }
}
