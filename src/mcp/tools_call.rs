//! `tools/call`: unknown tool → -32602; arguments checked against the tool's schema (a
//! problem is an `isError` result naming it); a tool's own failure → `isError: true`; a
//! panicking handler → -32603 for this request only.
//!
//! With `params.task` (MCP 2025-11-25 tasks) and a tool that allows it, the call runs as a
//! task: answered at once with `{"task":…}`, its result kept for `tasks/result`. A tool whose
//! `taskSupport` forbids that answers such a call -32601, as a `required` one answers a call
//! without `task`. A server with no task tool ignores `params.task`.
//!
//! In 2026-07-28 the server decides (the tasks extension, for clients that declare it): a
//! tool that may run as a task runs as a plain call until its handler first waits for
//! something other than input; then the call is answered with a task (`resultType: "task"`)
//! and the handler runs on, detached. Input asked before that is a multi round-trip request;
//! input asked after parks the task in `input_required` until `tasks/update`. A `required`
//! tool that finishes without waiting still answers with a task (already completed), and
//! refuses clients without the extension (-32021).

use super::breaker::{self, Outcome};
use super::input::InputRound;
use super::peer::{ClientCaps, NotifySink, RequestPeer, Sink};
use super::request_state::Binding;
use super::task_input::TaskInput;
use super::tasks::TaskTable;
use super::{answer, params, write_json, Answer, Ctx};
use crate::jsonrpc::{code, Id, RpcError};
use crate::mcp::catalog::content::{CallToolResult, Content};
use crate::mcp::catalog::tool::{
    ArgError, Args, LocalFuture, OutputCheck, TaskSupport, Tool, ToolCall, ToolHandler, ToolResult,
};
use crate::panics;
use crate::scan;
use serde::Deserialize;
use sonic_rs::{JsonValueTrait, Value};
use std::borrow::Cow;
use std::rc::Rc;
use std::sync::Arc;

/// `scanned`: the params as [`read_params`] read them already (to tell the request's era).
pub(super) fn handle<'p>(
    ctx: &mut Ctx<'_>,
    id: Id<'_>,
    raw: Option<&'p str>,
    scanned: Option<Params<'p>>,
    out: &mut Vec<u8>,
) -> Answer {
    let read = scanned.map_or_else(|| read_params(raw.unwrap_or("{}")), Ok);
    let Params { name, arguments, meta, task, input_responses, request_state } = match read {
        Ok(p) => p,
        Err(e) => return Answer::Error(e),
    };
    let Some(tool) = ctx.catalog.tool(&name) else {
        return Answer::Error(
            RpcError::invalid_params(format!("Unknown tool: {name}"))
                .with_data(&sonic_rs::json!({"name": name.as_ref()})),
        );
    };
    if let Some(e) = missing_capability(ctx, tool) {
        return Answer::Error(e);
    }
    // 2026-07-28: a task where the client declared the extension and the tool allows one.
    let modern_tasks = match (ctx.modern, tool.task_support) {
        (Some(m), TaskSupport::Optional | TaskSupport::Required) if m.caps.tasks => ctx.tasks.cloned(),
        (Some(_), TaskSupport::Required) => return Answer::Error(tasks_extension_required(tool)),
        _ => None,
    };
    // 2026-07-28: input comes back with the retry (`inputResponses`, `requestState`); the old
    // experimental tasks are the session era's, so `params.task` is ignored.
    let round = match ctx.modern {
        Some(m) => {
            let binding = Binding { method: "tools/call", name: &name, arguments: &arguments };
            match InputRound::answers_raw(request_state.as_deref(), input_responses.as_deref(), &binding, ctx.unix_ms) {
                Ok(answers) => Some(Rc::new(InputRound::new(m.caps, answers))),
                Err(e) => return Answer::Error(e),
            }
        }
        None => None,
    };
    let tasks = ctx.tasks.filter(|_| ctx.catalog.has_task_tools() && ctx.modern.is_none());
    let task = match (tasks, task) {
        (Some(table), Some(task)) => match task_ttl(&task) {
            Ok(ttl) => Some((table, ttl)),
            Err(e) => return Answer::Error(e),
        },
        _ => None,
    };
    if let Err(e) = check_task_support(tool, task.is_some(), tasks.is_some()) {
        return Answer::Error(e);
    }
    let mut args = Args::default();
    let parsed = match tool.parse_arguments(&arguments, &mut args) {
        Err(ArgError::Unreadable) => normalize(&arguments).map(|n| {
            let result = tool.parse_arguments(&n, &mut args);
            (Cow::Owned(n), result)
        }),
        result => Ok((arguments, result)),
    };
    let arguments = match parsed {
        Ok((arguments, Ok(()))) => arguments,
        Ok((_, Err(ArgError::Invalid(problem)))) => {
            let message = format!("Invalid arguments for tool {}: {problem}", tool.name());
            let result = CallToolResult::error(message);
            if let Some((table, ttl)) = task {
                // Accepted as a task that failed at once: the client still gets a task id.
                return start_task(ctx, table, ttl, None, out, move |_| Box::pin(async move { Ok(result) }));
            }
            write_tool_result(out, &result);
            return Answer::Done;
        }
        Ok((_, Err(ArgError::Unreadable))) => return Answer::Error(unreadable_names()),
        Err(e) => return Answer::Error(e),
    };
    let token = meta.as_deref().and_then(progress_token);
    if let (Some(table), Some(round), Some(m)) = (modern_tasks, &round, ctx.modern) {
        let peer = RequestPeer::new(ctx.session.peer.clone(), ctx.sink.clone(), token);
        let peer = Rc::new(peer.modern(round.clone(), m.log_level));
        let sealed = (name.to_string(), arguments.to_string(), ctx.unix_ms);
        let call = ToolCall::new(arguments, args, ctx.session.core, ctx.session.id, peer.clone())
            .with_identity(ctx.session.identity.clone())
            .into_owned();
        let run = run_tool(tool.handler.clone(), tool.name().to_string(), tool.output.clone(), call);
        let required = tool.task_support == TaskSupport::Required;
        let key: Box<str> = id.0.into();
        ctx.session.peer.begin(id, peer.clone());
        let (round, caps) = (round.clone(), m.caps);
        return Answer::Later(Box::pin(async move {
            let mut run = run;
            let first =
                std::future::poll_fn(|cx| std::task::Poll::Ready(std::future::Future::poll(run.as_mut(), cx))).await;
            // The task outlives the request: the session's end must not cancel it.
            peer.peer.end(&key);
            Some(match first {
                std::task::Poll::Ready(Ok(result)) if !required => {
                    let mut out = Vec::new();
                    write_tool_result(&mut out, &result);
                    Ok(out)
                }
                std::task::Poll::Ready(Err(e)) if !required => Err(e),
                std::task::Poll::Pending if round.has_asked() => {
                    let (tool, arguments, now) = &sealed;
                    let b = Binding { method: "tools/call", name: tool, arguments };
                    let mut out = Vec::new();
                    round.write_input_required(&b, *now, &mut out).map(|()| out)
                }
                std::task::Poll::Ready(done) => become_task(&table, &peer, caps, Err(done)),
                std::task::Poll::Pending => become_task(&table, &peer, caps, Ok(run)),
            })
        }));
    }
    if let Some((table, ttl)) = task {
        let (handler, name, output) = (tool.handler.clone(), tool.name().to_string(), tool.output.clone());
        let (core, session, arguments) = (ctx.session.core, ctx.session.id, arguments.into_owned());
        let identity = ctx.session.identity.clone();
        return start_task(ctx, table, ttl, token, out, move |peer| {
            let call = ToolCall::new(Cow::Owned(arguments), args, core, session, peer).with_identity(identity);
            run_tool(handler, name, output, call)
        });
    }
    // The tool's circuit breaker lets the call through, or refuses it at once.
    let admitted = match ctx.guard.map(|g| g.admit(tool.name())) {
        Some(Ok(admit)) => Some(admit),
        Some(Err(e)) => return Answer::Error(e),
        None => None,
    };
    let mut peer = RequestPeer::new(ctx.session.peer.clone(), ctx.sink.clone(), token);
    if let (Some(round), Some(m)) = (&round, ctx.modern) {
        peer = peer.modern(round.clone(), m.log_level);
    }
    let peer = Rc::new(peer);
    let call = ToolCall::new(arguments, args, ctx.session.core, ctx.session.id, peer.clone())
        .with_identity(ctx.session.identity.clone());
    match &tool.handler {
        ToolHandler::Sync(f) => {
            let ran = panics::guarded(|| f(&call));
            let failed = ran.as_ref().map_or(true, |r| r.as_ref().map_or(true, |r| r.is_error));
            let answered = match ran {
                Ok(result) => write_result(out, tool.output.as_deref(), result),
                Err(_) => Err(panicked(tool.name())),
            };
            if let (Some(g), Some(admit)) = (ctx.guard, admitted) {
                let outcome = if failed || answered.is_err() { Outcome::Failure } else { Outcome::Success };
                g.finish(tool.name(), admit, outcome);
            }
            answer(answered)
        }
        ToolHandler::Async(f) => {
            let permit = ctx.guard.zip(admitted).map(|(g, admit)| g.permit(tool.name(), admit));
            let timeout_ms = match ctx.guard {
                Some(g) => g.timeout_for(tool.name(), tool.timeout_ms),
                None => tool.timeout_ms.filter(|ms| *ms > 0),
            };
            let timer = ctx.guard.and_then(|g| g.timer()).zip(timeout_ms);
            let (name, output) = (tool.name().to_string(), tool.output.clone());
            let call = call.into_owned();
            // What an input-required result is sealed for (the tool's name and arguments); a
            // sync handler cannot ask, so only async ones copy them.
            let binding = round.map(|r| (r, name.clone(), call.arguments_text().to_string(), ctx.unix_ms));
            let fut = match panics::guarded(|| f(call)) {
                Ok(fut) => fut,
                Err(_) => return Answer::Error(panicked(&name)),
            };
            let key: Box<str> = id.0.into();
            ctx.session.peer.begin(id, peer.clone());
            Answer::Later(Box::pin(async move {
                let permit = std::cell::Cell::new(permit);
                let finish = |outcome| {
                    if let Some(p) = permit.take() {
                        p.finish(&name, outcome);
                    }
                };
                let run = async {
                    let mut fut = std::pin::pin!(panics::guarded_future(fut));
                    // A run that asked for input it has not got ends there (2026-07-28).
                    let ran = std::future::poll_fn(|cx| match std::future::Future::poll(fut.as_mut(), cx) {
                        std::task::Poll::Ready(r) => std::task::Poll::Ready(Some(r)),
                        std::task::Poll::Pending if binding.as_ref().is_some_and(|b| b.0.has_asked()) => {
                            std::task::Poll::Ready(None)
                        }
                        std::task::Poll::Pending => std::task::Poll::Pending,
                    })
                    .await;
                    Some(match ran {
                        Some(Ok(result)) => {
                            let failed = result.as_ref().map_or(true, |r| r.is_error);
                            let mut out = Vec::new();
                            let written = write_result(&mut out, output.as_deref(), result).map(|()| out);
                            finish(if failed || written.is_err() { Outcome::Failure } else { Outcome::Success });
                            written
                        }
                        Some(Err(_)) => {
                            finish(Outcome::Failure);
                            Err(panicked(&name))
                        }
                        None => {
                            finish(Outcome::Neither);
                            let (round, tool, arguments, now) = binding.as_ref().expect("asked in a modern call");
                            let b = Binding { method: "tools/call", name: tool, arguments };
                            let mut out = Vec::new();
                            round.write_input_required(&b, *now, &mut out).map(|()| out)
                        }
                    })
                };
                let cancelled = std::future::poll_fn(|cx| match peer.poll_cancelled(cx.waker()) {
                    true => std::task::Poll::Ready(None),
                    false => std::task::Poll::Pending,
                });
                let timed_out = async {
                    match timer {
                        Some((timer, ms)) => {
                            timer(std::time::Duration::from_millis(ms)).await;
                            finish(Outcome::Failure);
                            Some(Err(breaker::timeout_error(&name, ms)))
                        }
                        None => std::future::pending().await,
                    }
                };
                let outcome = futures_lite::future::or(futures_lite::future::or(run, cancelled), timed_out).await;
                peer.peer.end(&key);
                outcome
            }))
        }
    }
}

/// Answers a call that runs as a task: the task is created and answered (`{"task":…}`), and
/// the future `make` builds from the task's request peer runs detached on the core; its
/// outcome ends the task. Its progress and logs go to the session's unrelated sink, as the
/// request is answered already.
fn start_task(
    ctx: &Ctx<'_>,
    table: &Rc<TaskTable>,
    ttl_ms: Option<u64>,
    progress_token: Option<&str>,
    out: &mut Vec<u8>,
    make: impl FnOnce(Rc<RequestPeer>) -> LocalFuture<Result<CallToolResult, RpcError>>,
) -> Answer {
    let session = &*ctx.session;
    let id = match table.create(Some(session.id), ttl_ms, table.now_ms()) {
        Ok(id) => id,
        Err(e) => return Answer::Error(e),
    };
    let sink: Rc<dyn Sink> = Rc::new(NotifySink(session.peer.clone()));
    let peer = Rc::new(RequestPeer::new(session.peer.clone(), sink, progress_token).for_task(&id));
    // Not JSON, so never the id a `notifications/cancelled` names; the session's end cancels it.
    let key = format!("task:{id}");
    session.peer.begin(Id(&key), peer.clone());
    table.attach(&id, peer.clone(), None);
    table.write_created(&id, out);
    let (run, table) = (make(peer.clone()), table.clone());
    table.clone().spawn(Box::pin(async move {
        let cancelled = std::future::poll_fn(|cx| match peer.poll_cancelled(cx.waker()) {
            true => std::task::Poll::Ready(None),
            false => std::task::Poll::Pending,
        });
        let outcome = futures_lite::future::or(async { Some(run.await) }, cancelled).await;
        peer.peer.end(&key);
        let ended = match outcome {
            Some(outcome) => finish_task(&table, &id, outcome),
            // Cancelled by `tasks/cancel` (then already so) or by the session's end.
            None => table.cancel_run(&id, "The session that created the task ended.", table.now_ms()),
        };
        if let Some(status) = table.status_notification(&id).filter(|_| ended) {
            peer.peer.notify(&status);
        }
    }));
    Answer::Done
}

/// Ends task `id` with the tool's outcome; false if it was over already (cancelled).
fn finish_task(table: &TaskTable, id: &str, outcome: Result<CallToolResult, RpcError>) -> bool {
    let now = table.now_ms();
    match outcome {
        Ok(result) => {
            let mut json = Vec::new();
            write_tool_result(&mut json, &result);
            table.finish(id, Ok(json), result.is_error, now)
        }
        Err(e) => table.finish(id, Err(e), false, now),
    }
}

/// Turns a 2026-07-28 call into a task of no session and answers it (`CreateTaskResult`): the
/// tool's run goes on detached (`Ok`), or its outcome ends the task at once (`Err`).
fn become_task(
    table: &Rc<TaskTable>,
    peer: &Rc<RequestPeer>,
    caps: ClientCaps,
    run: Result<LocalFuture<Result<CallToolResult, RpcError>>, Result<CallToolResult, RpcError>>,
) -> Result<Vec<u8>, RpcError> {
    let id = table.create(None, None, table.now_ms())?;
    let input = Rc::new(TaskInput::new(caps));
    peer.into_task(input.clone());
    table.attach(&id, peer.clone(), Some(input));
    let mut out = Vec::new();
    table.write_created_modern(&id, &mut out);
    match run {
        Err(outcome) => {
            finish_task(table, &id, outcome);
        }
        Ok(run) => {
            let (table, peer) = (table.clone(), peer.clone());
            table.clone().spawn(Box::pin(async move {
                let cancelled = std::future::poll_fn(|cx| match peer.poll_cancelled(cx.waker()) {
                    true => std::task::Poll::Ready(None),
                    false => std::task::Poll::Pending,
                });
                // Cancelled (by `tasks/cancel` or expiry): the task says so already.
                if let Some(outcome) = futures_lite::future::or(async { Some(run.await) }, cancelled).await {
                    finish_task(&table, &id, outcome);
                }
            }));
        }
    }
    Ok(out)
}

/// -32021: a `required` task tool called (2026-07-28) without the tasks extension.
fn tasks_extension_required(tool: &Tool) -> RpcError {
    RpcError::new(
        code::MISSING_CLIENT_CAPABILITY,
        format!(
            "Missing required client capability: tool {} runs only as a task; declare the io.modelcontextprotocol/tasks extension",
            tool.name()
        ),
    )
    .with_data(&sonic_rs::json!({"requiredCapabilities": {"extensions": {"io.modelcontextprotocol/tasks": {}}}}))
}

/// A tool's run as one future (a sync handler runs at its first poll); a panic is -32603.
fn run_tool(
    handler: ToolHandler,
    name: String,
    output: Option<Arc<OutputCheck>>,
    call: ToolCall<'static>,
) -> LocalFuture<Result<CallToolResult, RpcError>> {
    match handler {
        ToolHandler::Sync(f) => Box::pin(async move {
            let result = panics::guarded(|| f(&call)).map_err(|_| panicked(&name))?;
            into_result(output.as_deref(), result)
        }),
        ToolHandler::Async(f) => Box::pin(async move {
            let fut = panics::guarded(|| f(call)).map_err(|_| panicked(&name))?;
            let result = panics::guarded_future(fut).await.map_err(|_| panicked(&name))?;
            into_result(output.as_deref(), result)
        }),
    }
}

/// -32021 if the client did not declare a capability the tool requires.
fn missing_capability(ctx: &Ctx<'_>, tool: &Tool) -> Option<RpcError> {
    let caps = ctx.modern.map_or_else(|| ctx.session.peer.client.get(), |m| m.caps);
    let missing = tool.requires.iter().find(|cap| match **cap {
        "sampling" => !caps.sampling,
        "elicitation" => !caps.elicitation,
        _ => !caps.roots,
    })?;
    let mut required = sonic_rs::Object::new();
    required.insert(missing, sonic_rs::Value::new_object());
    Some(
        RpcError::new(
            code::MISSING_CLIENT_CAPABILITY,
            format!("Missing required client capability: tool {} needs the client's {missing} capability", tool.name()),
        )
        .with_data(&sonic_rs::json!({"requiredCapabilities": required})),
    )
}

/// The tool's `taskSupport` against how it is called (only checked where tasks exist).
fn check_task_support(tool: &Tool, as_task: bool, tasks_exist: bool) -> Result<(), RpcError> {
    let name = tool.name();
    match (tool.task_support, as_task) {
        (TaskSupport::Forbidden, true) => Err(RpcError::new(
            code::METHOD_NOT_FOUND,
            format!("Method not found: tool {name} cannot run as a task (execution.taskSupport is forbidden); call it without params.task"),
        )),
        (TaskSupport::Required, false) if tasks_exist => Err(RpcError::new(
            code::METHOD_NOT_FOUND,
            format!("Method not found: tool {name} runs only as a task (execution.taskSupport is required); add params.task"),
        )),
        _ => Ok(()),
    }
}

/// The `ttl` a `params.task` object asks for, if any. Errors: -32602 for a `ttl` that is not
/// a non-negative number.
fn task_ttl(task: &str) -> Result<Option<u64>, RpcError> {
    let Some(m) = scan::get(task, b"ttl") else { return Ok(None) };
    let bad = || RpcError::invalid_params("Invalid params: \"task.ttl\" must be a non-negative number of milliseconds");
    match m.kind {
        scan::Kind::Null => Ok(None),
        scan::Kind::Number => {
            let ms: f64 = scan::span_str(task, m.value).parse().map_err(|_| bad())?;
            (ms >= 0.0).then_some(Some(ms as u64)).ok_or_else(bad)
        }
        _ => Err(bad()),
    }
}

/// What `tools/call` reads from its params.
pub(super) struct Params<'a> {
    pub name: Cow<'a, str>,
    /// The raw `arguments` object (`{}` when absent or null).
    pub arguments: Cow<'a, str>,
    /// The raw `_meta` object, if any.
    pub meta: Option<Cow<'a, str>>,
    /// The raw `task` object (a task-augmented call), if any.
    pub task: Option<Cow<'a, str>>,
    /// The raw `inputResponses` and `requestState` values of a 2026-07-28 retry (not null).
    pub input_responses: Option<Cow<'a, str>>,
    pub request_state: Option<Cow<'a, str>>,
}

/// The raw `_meta.progressToken`, if it is a string or an integer.
fn progress_token(meta: &str) -> Option<&str> {
    let m = scan::get(meta, b"progressToken")?;
    let ok = m.kind == scan::Kind::String || (m.kind == scan::Kind::Number && scan::is_integer(m.value));
    ok.then(|| scan::span_str(meta, m.value))
}

/// The params, found by the scanner, or by the full parse for unusual text (escaped keys),
/// whose re-serialized arguments the scanner then reads.
pub(super) fn read_params(raw: &str) -> Result<Params<'_>, RpcError> {
    let (mut name, mut arguments, mut meta, mut task) = (None, None, None, None);
    let (mut input_responses, mut request_state) = (None, None);
    let scanned = scan::members_of_valid(raw, |m| {
        match m.key {
            b"name" => name = Some(m),
            b"arguments" => arguments = Some(m),
            b"_meta" => meta = Some(m),
            b"task" => task = Some(m),
            b"inputResponses" => input_responses = Some(m),
            b"requestState" => request_state = Some(m),
            _ => {}
        }
        true
    });
    if scanned.is_err() {
        return read_params_full(raw);
    }
    let name = match name {
        Some(m) if m.plain => Cow::Borrowed(&scan::span_str(raw, m.value)[1..m.value.len() - 1]),
        Some(m) if m.kind == scan::Kind::String => {
            Cow::Owned(sonic_rs::from_slice::<String>(m.value).map_err(|_| bad_name())?)
        }
        Some(_) => return Err(bad_name()),
        None => return Err(RpcError::invalid_params("Invalid params: missing \"name\", the tool to call")),
    };
    let arguments = match arguments {
        None => Cow::Borrowed("{}"),
        Some(m) if m.kind == scan::Kind::Null => Cow::Borrowed("{}"),
        Some(m) if m.kind == scan::Kind::Object => Cow::Borrowed(scan::span_str(raw, m.value)),
        Some(_) => return Err(bad_arguments()),
    };
    let meta = meta.filter(|m| m.kind == scan::Kind::Object).map(|m| Cow::Borrowed(scan::span_str(raw, m.value)));
    let task = match task {
        None => None,
        Some(m) if m.kind == scan::Kind::Null => None,
        Some(m) if m.kind == scan::Kind::Object => Some(Cow::Borrowed(scan::span_str(raw, m.value))),
        Some(_) => return Err(bad_task()),
    };
    let value =
        |m: scan::Member<'_>| Some(Cow::Borrowed(scan::span_str(raw, m.value))).filter(|_| m.kind != scan::Kind::Null);
    let (input_responses, request_state) = (input_responses.and_then(value), request_state.and_then(value));
    Ok(Params { name, arguments, meta, task, input_responses, request_state })
}

/// Arguments re-serialized by sonic-rs (which writes keys without needless escapes), for the
/// rare text the scanner declines.
fn normalize(arguments: &str) -> Result<String, RpcError> {
    let value: Value = sonic_rs::from_str(arguments).map_err(|_| bad_arguments())?;
    Ok(sonic_rs::to_string(&value).expect("a Value always serializes"))
}

fn unreadable_names() -> RpcError {
    RpcError::invalid_params("Invalid params: argument names must not contain quotes or backslashes")
}

/// Writes a tool result: the common one-text-block result by hand, the rest through serde
/// (same bytes, see the tests).
fn write_tool_result(out: &mut Vec<u8>, result: &CallToolResult) {
    match (result.is_error, &result.structured_content, result.content.as_slice()) {
        (false, None, [Content::Text { text }]) => {
            out.extend_from_slice(br#"{"content":[{"type":"text","text":"#);
            write_json(out, text.as_str());
            out.extend_from_slice(b"}]}");
        }
        _ => write_json(out, result),
    }
}

fn read_params_full(raw: &str) -> Result<Params<'_>, RpcError> {
    #[derive(Deserialize)]
    struct Full {
        name: String,
        #[serde(default)]
        arguments: Option<Value>,
        #[serde(default, rename = "_meta")]
        meta: Option<Value>,
        #[serde(default)]
        task: Option<Value>,
        #[serde(default, rename = "inputResponses")]
        input_responses: Option<Value>,
        #[serde(default, rename = "requestState")]
        request_state: Option<Value>,
    }
    let p: Full = params(Some(raw))?;
    let arguments = match p.arguments {
        None => Cow::Borrowed("{}"),
        Some(a) if a.is_null() => Cow::Borrowed("{}"),
        Some(a) if a.is_object() => Cow::Owned(sonic_rs::to_string(&a).expect("a Value always serializes")),
        Some(_) => return Err(bad_arguments()),
    };
    let meta = p.meta.filter(|m| m.is_object()).map(|m| Cow::Owned(sonic_rs::to_string(&m).expect("serializes")));
    let task = match p.task {
        None => None,
        Some(t) if t.is_null() => None,
        Some(t) if t.is_object() => Some(Cow::Owned(sonic_rs::to_string(&t).expect("serializes"))),
        Some(_) => return Err(bad_task()),
    };
    let raw =
        |v: Option<Value>| v.filter(|v| !v.is_null()).map(|v| Cow::Owned(sonic_rs::to_string(&v).expect("serializes")));
    let (input_responses, request_state) = (raw(p.input_responses), raw(p.request_state));
    Ok(Params { name: Cow::Owned(p.name), arguments, meta, task, input_responses, request_state })
}

fn bad_name() -> RpcError {
    RpcError::invalid_params("Invalid params: \"name\" must be a string")
}

fn bad_task() -> RpcError {
    RpcError::invalid_params("Invalid params: \"task\" must be an object")
}

fn bad_arguments() -> RpcError {
    RpcError::invalid_params("Invalid params: \"arguments\" must be an object")
}

/// The result to send: a handler's failure is an `isError` result; a structured result that
/// breaks the tool's `outputSchema` (checked in debug builds and tests) is -32603.
/// Writes what a handler returned (see [`into_result`]), checked and serialized in place:
/// moving a whole `CallToolResult` through another `Result` cost more than its checks.
fn write_result(out: &mut Vec<u8>, output: Option<&OutputCheck>, result: ToolResult) -> Result<(), RpcError> {
    let result = result.unwrap_or_else(|e| CallToolResult::error(e.0));
    if let Some(Err(problem)) = output.map(|o| o.verify(&result)) {
        return Err(broken_output(problem));
    }
    write_tool_result(out, &result);
    Ok(())
}

fn broken_output(problem: String) -> RpcError {
    log::error!("{problem}");
    RpcError::new(code::INTERNAL_ERROR, format!("Internal error: {problem}"))
}

fn into_result(output: Option<&OutputCheck>, result: ToolResult) -> Result<CallToolResult, RpcError> {
    let result = result.unwrap_or_else(|e| CallToolResult::error(e.0));
    match output.map(|o| o.verify(&result)) {
        Some(Err(problem)) => Err(broken_output(problem)),
        _ => Ok(result),
    }
}

/// The answer to a request whose handler panicked; the panic is counted (and its first one
/// per tool logged) by [`panics::record`].
fn panicked(tool: &str) -> RpcError {
    panics::record(tool);
    RpcError::new(code::INTERNAL_ERROR, format!("Internal error: tool {tool} panicked"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_written_text_result_matches_serde() {
        for text in ["", "plain", "quote \" backslash \\ newline \n tab \t", "unicode é ☃ \u{1F600}", "\u{1}\u{1f}"]
        {
            let result = CallToolResult::text(text);
            let mut ours = Vec::new();
            write_tool_result(&mut ours, &result);
            assert_eq!(String::from_utf8(ours).unwrap(), sonic_rs::to_string(&result).unwrap(), "{text:?}");
        }
    }
}
