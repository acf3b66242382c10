//! Tools: a name, a description, an input JSON Schema, an optional output schema, and a
//! handler — a sync closure, or an async fn that runs on the core's executor.
//!
//! Handlers run on every core (shared-nothing): the closure is `Send + Sync` so each core can
//! hold it, while the future an async handler returns stays on the core that made it and
//! need not be `Send`.

use super::content::CallToolResult;
use crate::identity::Identity;
use crate::mcp::peer::{ClientError, RequestPeer};
use crate::scan;
use ringmcp_shards::SessionId;
use serde::Serialize;
use sonic_rs::{JsonContainerTrait, JsonValueTrait, Value};
use std::borrow::Cow;
use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;

/// What a handler returns: a result, or a failure the client sees as `isError: true`.
pub type ToolResult = Result<CallToolResult, ToolError>;

pub use crate::mcp::LocalFuture;

/// A tool's own failure, shown to the model as an `isError: true` result with this text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolError(pub String);

impl<T: std::fmt::Display> From<T> for ToolError {
    fn from(e: T) -> Self {
        ToolError(e.to_string())
    }
}

/// One call of a tool: its arguments (checked against the input schema and parsed once into
/// a list of top-level members that the accessors read; values stay raw JSON text until an
/// accessor converts one) and where it runs. Sync handlers get it borrowed from the request;
/// async handlers get an owned copy (`ToolCall<'static>`).
#[derive(Debug, Clone)]
pub struct ToolCall<'a> {
    arguments: Cow<'a, str>,
    args: Args,
    /// The core running the call.
    pub core: usize,
    /// The session that called.
    pub session: SessionId,
    peer: Rc<RequestPeer>,
    identity: Option<Arc<Identity>>,
}

impl<'a> ToolCall<'a> {
    /// A call with `arguments` and `args`, what [`Tool::parse_arguments`] made of them.
    pub(crate) fn new(
        arguments: Cow<'a, str>,
        args: Args,
        core: usize,
        session: SessionId,
        peer: Rc<RequestPeer>,
    ) -> ToolCall<'a> {
        debug_assert!(args.iter().all(|a| a.value.1 as usize <= arguments.len()), "args index the arguments");
        ToolCall { arguments, args, core, session, peer, identity: None }
    }

    /// The call with the caller's identity (what authorization established).
    pub(crate) fn with_identity(mut self, identity: Option<Arc<Identity>>) -> ToolCall<'a> {
        self.identity = identity;
        self
    }

    /// Who called: the subject, client and scopes authorization established for the request
    /// (a JWT, an API key, a TLS client certificate); `None` when authorization is off, on
    /// stdio, or for an anonymous request under `auth_mode = "optional"`.
    pub fn identity(&self) -> Option<&Identity> {
        self.identity.as_deref()
    }

    /// The arguments object as the client sent it (raw JSON text).
    pub(crate) fn arguments_text(&self) -> &str {
        &self.arguments
    }

    /// An owned copy, for handlers that outlive the request.
    pub fn into_owned(self) -> ToolCall<'static> {
        ToolCall {
            arguments: Cow::Owned(self.arguments.into_owned()),
            args: self.args,
            core: self.core,
            session: self.session,
            peer: self.peer,
            identity: self.identity,
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

    /// Asks the client for input and waits for the answer: the raw JSON of its result, or why
    /// there is none. `method` is `elicitation/create`, `sampling/createMessage` or
    /// `roots/list`, and the client must have declared that capability.
    ///
    /// The same code serves both eras of MCP. In 2025-11-25 this is a server-to-client
    /// request on the call's stream (an error answer, the `client_request_timeout_ms` timeout
    /// or the session's end are errors). In 2026-07-28 it is a multi round-trip request: if
    /// the client's retry brought the answer to `key` it is returned at once; otherwise the
    /// call stops here and is answered `resultType: "input_required"` with every input the
    /// handler asked for so far (ask several at once by awaiting them together), and the
    /// handler runs again from its start when the client retries with the answers. Handlers
    /// should therefore ask before they change anything. `key` names the request in
    /// `inputRequests` (unique within the call).
    pub async fn ask(&self, key: &str, method: &str, params_json: &str) -> Result<String, ClientError> {
        if let Some(input) = self.peer.task_input() {
            return input.ask(key, method, params_json).await;
        }
        if let Some(round) = self.peer.input_round() {
            return match round.ask(key, method, params_json)? {
                Some(answer) => Ok(answer),
                None => std::future::pending().await,
            };
        }
        let caps = self.peer.peer.client.get();
        let declared = match method {
            "sampling/createMessage" => caps.sampling,
            "elicitation/create" => caps.elicitation,
            "roots/list" => caps.roots,
            _ => true,
        };
        if !declared {
            let cap = match method {
                "sampling/createMessage" => "sampling",
                "elicitation/create" => "elicitation",
                _ => "roots",
            };
            return Err(ClientError::Unsupported(cap));
        }
        self.peer.ask_client(method, params_json).await
    }

    /// In a 2026-07-28 call of a tool that may run as a task, from a client that declared the
    /// tasks extension: the call is answered with a task now and the handler runs on as that
    /// task (it would be at its first wait anyway; this makes the point explicit, e.g. before
    /// asking for input that should park the task rather than be a multi round-trip
    /// request). Elsewhere it returns at once.
    pub async fn start_task(&self) {
        if self.peer.task_input().is_some() || self.peer.input_round().is_none() {
            return;
        }
        let mut yielded = false;
        std::future::poll_fn(|cx| {
            if yielded {
                return std::task::Poll::Ready(());
            }
            yielded = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        })
        .await
    }

    /// [`ask`](Self::ask) with a key made from the method and a count (`elicitation-1`,
    /// `sampling-1`, `roots-1`, `elicitation-2`, …).
    pub async fn request(&self, method: &str, params_json: &str) -> Result<String, ClientError> {
        let key = match self.peer.input_round() {
            Some(round) => round.next_key(method),
            None => String::new(),
        };
        self.ask(&key, method, params_json).await
    }

    /// `sampling/createMessage` (the client must have declared `sampling`); see [`ask`](Self::ask).
    pub async fn create_message(&self, params_json: &str) -> Result<String, ClientError> {
        self.request("sampling/createMessage", params_json).await
    }

    /// `elicitation/create` (the client must have declared `elicitation`); see [`ask`](Self::ask).
    pub async fn elicit(&self, params_json: &str) -> Result<String, ClientError> {
        self.request("elicitation/create", params_json).await
    }

    /// `roots/list` (the client must have declared `roots`); see [`ask`](Self::ask).
    pub async fn list_roots(&self) -> Result<String, ClientError> {
        self.request("roots/list", "{}").await
    }

    /// The raw JSON text of argument `key`, if given (the first, if repeated).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.arg(key).map(|a| a.value_in(&self.arguments))
    }

    /// A string argument (borrowed unless it has escapes). Errors (as a tool error) if absent,
    /// not a string, or not valid Unicode (a lone UTF-16 surrogate escape such as `\ud800`).
    pub fn str(&self, key: &str) -> Result<Cow<'_, str>, ToolError> {
        let arg = self.typed(key, scan::Kind::String, "a string")?;
        let raw = arg.value_in(&self.arguments);
        if arg.plain {
            return Ok(Cow::Borrowed(&raw[1..raw.len() - 1]));
        }
        // Valid JSON (the scanner checked every escape): only a lone surrogate fails here.
        sonic_rs::from_str::<String>(raw).map(Cow::Owned).map_err(|_| {
            ToolError(format!("argument \"{key}\" is not valid Unicode: it has a lone UTF-16 surrogate escape"))
        })
    }

    /// A number argument. Errors if absent, not a number, or beyond the range of an `f64`
    /// (such as `1e999`): the result is always finite.
    pub fn f64(&self, key: &str) -> Result<f64, ToolError> {
        let raw = self.typed(key, scan::Kind::Number, "a number")?.value_in(&self.arguments);
        match raw.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(f),
            _ => Err(ToolError(format!("argument \"{key}\" is out of range: {raw} is beyond ±1.8e308"))),
        }
    }

    /// An integer argument (1.0 counts, as in JSON Schema). Errors if absent, not an integer,
    /// or beyond ±9e15 when written as a fraction or with an exponent.
    pub fn i64(&self, key: &str) -> Result<i64, ToolError> {
        let bad = || ToolError(format!("argument \"{key}\" must be an integer"));
        let raw = self.typed(key, scan::Kind::Number, "an integer").map_err(|_| bad())?.value_in(&self.arguments);
        if let Ok(i) = raw.parse::<i64>() {
            return Ok(i);
        }
        let f = self.f64(key)?;
        (f.fract() == 0.0 && f.abs() < 9.0e15).then_some(f as i64).ok_or_else(bad)
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
        Ok(self.typed(key, scan::Kind::Bool, "a boolean")?.value_in(&self.arguments) == "true")
    }

    /// All arguments, parsed into a value tree (for handlers that want one). Errors if a
    /// value has no `Value` form: a number beyond the range of an `f64`, a lone surrogate.
    pub fn arguments(&self) -> Result<Value, ToolError> {
        sonic_rs::from_str(&self.arguments).map_err(|e| ToolError(format!("arguments cannot be read: {e}")))
    }

    /// The raw JSON text of the arguments object.
    pub fn raw_arguments(&self) -> &str {
        &self.arguments
    }

    fn arg(&self, key: &str) -> Option<&Arg> {
        self.args.iter().find(|a| a.key_in(&self.arguments) == key)
    }

    /// Argument `key` if it has JSON type `kind`; else "must be {what}".
    fn typed(&self, key: &str, kind: scan::Kind, what: &str) -> Result<&Arg, ToolError> {
        match self.arg(key) {
            Some(a) if a.kind == kind => Ok(a),
            _ => Err(ToolError(format!("argument \"{key}\" must be {what}"))),
        }
    }
}

/// One top-level member of an arguments object: where its key and value are in the text (as
/// offsets, so that an owned copy of the text keeps them) and the value's JSON type.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Arg {
    key: (u32, u32),
    value: (u32, u32),
    kind: scan::Kind,
    /// A string without escapes.
    plain: bool,
}

impl Arg {
    fn key_in<'t>(&self, text: &'t str) -> &'t str {
        &text[self.key.0 as usize..self.key.1 as usize]
    }

    fn value_in<'t>(&self, text: &'t str) -> &'t str {
        &text[self.value.0 as usize..self.value.1 as usize]
    }
}

/// Arguments inline in the common case (up to [`ARGS_INLINE`]), on the heap past it.
#[derive(Debug, Clone)]
pub(crate) enum Args {
    Inline(heapless::Vec<Arg, ARGS_INLINE>),
    Heap(Vec<Arg>),
}

impl Default for Args {
    fn default() -> Args {
        Args::Inline(heapless::Vec::new())
    }
}

/// How many arguments a call keeps without allocating.
const ARGS_INLINE: usize = 4;

impl Args {
    /// The top-level members of the object `text`, once. `text` is valid JSON already (a span
    /// of a parsed request, or serializer output): see [`scan::members_of_valid`], whose
    /// errors these are (an escaped key among them: normalize the text and parse again).
    fn parse(text: &str) -> Result<Args, scan::ScanError> {
        let mut args = Args::default();
        args.parse_into(text)?;
        Ok(args)
    }

    /// [`Args::parse`] into `self` (emptied first), so that the list is built where it stays:
    /// moving it through results costs more than building it (store-forwarding stalls).
    fn parse_into(&mut self, text: &str) -> Result<(), scan::ScanError> {
        *self = Args::default();
        let args = self;
        let offset = |part: &[u8]| (part.as_ptr() as usize - text.as_ptr() as usize) as u32;
        scan::members_of_valid(text, |m| {
            let key = (offset(m.key), offset(m.key) + m.key.len() as u32);
            args.push(Arg {
                key,
                value: (offset(m.value), offset(m.value) + m.value.len() as u32),
                kind: m.kind,
                plain: m.plain,
            });
            true
        })
    }

    fn push(&mut self, arg: Arg) {
        if let Args::Inline(inline) = self {
            let Err(arg) = inline.push(arg) else { return };
            let mut heap = inline.to_vec();
            heap.push(arg);
            *self = Args::Heap(heap);
        } else if let Args::Heap(heap) = self {
            heap.push(arg);
        }
    }

    fn iter(&self) -> std::slice::Iter<'_, Arg> {
        match self {
            Args::Inline(v) => v.iter(),
            Args::Heap(v) => v.iter(),
        }
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
    /// The `outputSchema`'s checks, if it declared one.
    pub(crate) output: Option<Arc<OutputCheck>>,
    /// The tool's entry in `tools/list`, serialized once at registration.
    pub(crate) descriptor_json: Vec<u8>,
    /// Client capabilities every call needs (`sampling`, `elicitation`, `roots`).
    pub(crate) requires: Vec<&'static str>,
    /// Arguments mirrored in `Mcp-Param-{Name}` HTTP headers (`x-mcp-header` in the input
    /// schema): the name lower-cased, and the argument.
    pub(crate) param_headers: Vec<(String, String)>,
    /// Milliseconds a call may run (`ToolBuilder::timeout_ms`), over `tool_timeout_ms`.
    pub(crate) timeout_ms: Option<u64>,
    /// Scopes a caller's token must hold to call it (`ToolBuilder::scopes`; authorization on).
    pub(crate) scopes: Vec<String>,
}

/// A tool under construction.
pub struct ToolBuilder {
    descriptor: Descriptor,
    requires: Vec<&'static str>,
    timeout_ms: Option<u64>,
    scopes: Vec<String>,
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
            requires: Vec::new(),
            timeout_ms: None,
            scopes: Vec::new(),
        }
    }

    /// The tool's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Checks `arguments` (the raw text of a JSON object) against the declared required
    /// properties and property types, and parses them for [`ToolCall`], in one pass over the
    /// text.
    ///
    /// Errors: [`ArgError::Invalid`] names the problem (it becomes an `isError` result);
    /// [`ArgError::Unreadable`] means a key has escapes or the text is not one valid object:
    /// normalize it and parse again.
    /// `arguments` is valid JSON already (a span of a parsed request); the parse goes to
    /// `args`, where the call keeps it.
    pub(crate) fn parse_arguments(&self, arguments: &str, args: &mut Args) -> Result<(), ArgError> {
        args.parse_into(arguments).map_err(|_| ArgError::Unreadable)?;
        check(&self.checks, args, arguments, "argument").map_err(ArgError::Invalid)
    }

    /// [`Tool::parse_arguments`] without keeping the parse, for any text (it is validated
    /// first: invalid JSON is [`ArgError::Unreadable`]).
    pub fn check_arguments(&self, arguments: &str) -> Result<(), ArgError> {
        scan::validate(arguments, crate::limits::JSON_DEPTH_CAP).map_err(|_| ArgError::Unreadable)?;
        self.parse_arguments(arguments, &mut Args::default())
    }
}

/// A tool's `outputSchema`, as the checks its results must pass.
#[derive(Debug)]
pub(crate) struct OutputCheck {
    tool: String,
    checks: Vec<ArgCheck>,
}

impl OutputCheck {
    /// Whether `result` (unless it is a tool error) has a `structuredContent` with the
    /// schema's required properties and property types. Only debug builds and tests check
    /// (release builds answer `Ok` at once): a mismatch is a bug in the tool, not the client's.
    pub(crate) fn verify(&self, result: &CallToolResult) -> Result<(), String> {
        if !cfg!(debug_assertions) || result.is_error {
            return Ok(());
        }
        let fail = |problem: &str| Err(format!("tool {} broke its outputSchema: {problem}", self.tool));
        let Some(value) = &result.structured_content else { return fail("no structuredContent") };
        let text = sonic_rs::to_string(value).expect("a Value always serializes");
        match Args::parse(&text) {
            Ok(args) => check(&self.checks, &args, &text, "property").or_else(|p| fail(&p)),
            Err(_) => fail("structuredContent is not an object"),
        }
    }
}

/// Each declared property against the members found: present if required, of a declared type.
fn check(checks: &[ArgCheck], args: &Args, text: &str, noun: &str) -> Result<(), String> {
    for check in checks {
        match args.iter().find(|a| a.key_in(text) == check.name) {
            None if check.required => return Err(format!("missing required {noun} \"{}\"", check.name)),
            Some(a) if check.types != 0 && check.types & type_bit(a.kind, a.value_in(text)) == 0 => {
                let got = type_names(type_bit(a.kind, a.value_in(text)) & !INTEGER);
                return Err(format!("{noun} \"{}\" must be {}, got {got}", check.name, type_names(check.types)));
            }
            _ => {}
        }
    }
    Ok(())
}

impl ToolBuilder {
    /// Milliseconds a call of this tool may run before it is answered -32012 (a failure for
    /// its circuit breaker) and dropped, instead of the server's `tool_timeout_ms`; 0: no
    /// limit. Applies to async handlers (a sync handler runs to its end on the core) and not
    /// to task runs.
    pub fn timeout_ms(mut self, ms: u64) -> Self {
        self.timeout_ms = Some(ms);
        self
    }

    /// Scopes a caller's access token must hold to call this tool when authorization is on
    /// (`auth_mode`), besides `auth_required_scopes` and the `auth_scope` rules; a token
    /// without them gets 403 `insufficient_scope` naming every scope the call needs. The
    /// scope hierarchy (`auth_scope_implies`) applies.
    pub fn scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

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

    /// A client capability every call of the tool needs: `"sampling"`, `"elicitation"` or
    /// `"roots"` (others are ignored). A client that did not declare it gets -32021 with
    /// `data.requiredCapabilities` (HTTP 400 in the 2026-07-28 era) and the tool is not run.
    pub fn requires_client_capability(mut self, capability: &str) -> Self {
        if let Some(cap) = ["sampling", "elicitation", "roots"].into_iter().find(|c| *c == capability) {
            self.requires.push(cap);
        }
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
        let output = self
            .descriptor
            .output_schema
            .as_ref()
            .map(|schema| Arc::new(OutputCheck { tool: self.descriptor.name.clone(), checks: arg_checks(schema) }));
        let descriptor_json = sonic_rs::to_vec(&self.descriptor).expect("a descriptor always serializes");
        let task_support = self.descriptor.execution.as_ref().map_or(TaskSupport::Forbidden, |e| e.task_support);
        let requires = self.requires;
        let param_headers = param_headers(&self.descriptor.input_schema);
        Tool {
            name: self.descriptor.name,
            handler,
            task_support,
            checks,
            output,
            descriptor_json,
            requires,
            param_headers,
            timeout_ms: self.timeout_ms,
            scopes: self.scopes,
        }
    }
}

/// The `x-mcp-header` names of a schema's top-level properties (lower-cased), with the property.
fn param_headers(schema: &Value) -> Vec<(String, String)> {
    let Some(props) = schema.get("properties").and_then(|p| p.as_object()) else { return Vec::new() };
    props
        .iter()
        .filter_map(|(name, p)| Some((p.get("x-mcp-header")?.as_str()?.to_ascii_lowercase(), name.to_string())))
        .collect()
}

/// Why arguments failed [`Tool::check_arguments`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgError {
    /// The problem, for an `isError` result.
    Invalid(String),
    /// The fast scanner cannot compare the keys (escapes); normalize the text and check again.
    Unreadable,
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
fn type_bit(kind: scan::Kind, value: &str) -> u8 {
    match kind {
        scan::Kind::String => STRING,
        scan::Kind::Number => {
            let integral = scan::is_integer(value.as_bytes()) || value.parse::<f64>().is_ok_and(|f| f.fract() == 0.0);
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
        let text = r#"{"s":"plain","e":"a\"b\u00e9","n":-7,"f":2.5,"i":3.0,"b":true,"o":{"x":[1]},"big":1e999,"lone":"\ud800"}"#;
        let call = ToolCall::new(
            Cow::Borrowed(text),
            Args::parse(text).unwrap(),
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
        // What a client can send but no accessor can hold is an error naming the argument.
        assert_eq!(call.f64("big").unwrap_err().0, "argument \"big\" is out of range: 1e999 is beyond ±1.8e308");
        assert!(call.i64("big").is_err());
        let lone = call.str("lone").unwrap_err().0;
        assert_eq!(lone, "argument \"lone\" is not valid Unicode: it has a lone UTF-16 surrogate escape");
        assert!(call.arguments().is_err());
        let fine = Args::parse(r#"{"o":{"x":[1]}}"#).unwrap();
        let peer = Rc::new(RequestPeer::new(Default::default(), Rc::new(crate::mcp::peer::NullSink), None));
        let call = ToolCall::new(Cow::Borrowed(r#"{"o":{"x":[1]}}"#), fine, 0, SessionId::from_random(1), peer);
        assert_eq!(call.arguments().unwrap()["o"]["x"][0].as_i64(), Some(1));
    }

    #[test]
    fn more_arguments_than_fit_inline_are_all_kept() {
        let text = format!("{{{}}}", (0..20).map(|i| format!(r#""k{i}":{i}"#)).collect::<Vec<_>>().join(","));
        let args = Args::parse(&text).unwrap();
        assert!(matches!(args, Args::Heap(_)));
        let values: Vec<&str> = args.iter().map(|a| a.value_in(&text)).collect();
        assert_eq!(values, (0..20).map(|i| i.to_string()).collect::<Vec<_>>());
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
