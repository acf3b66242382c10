//! `tools/call`: unknown tool → -32602; arguments checked against the tool's schema (a
//! problem is an `isError` result naming it); a tool's own failure → `isError: true`; a
//! panicking handler → -32603 for this request only.

use super::peer::RequestPeer;
use super::{params, write_json, Answer, Ctx};
use crate::api::content::{CallToolResult, Content};
use crate::api::tool::{ArgError, ToolCall, ToolHandler, ToolResult};
use crate::jsonrpc::{code, Id, RpcError};
use crate::scan;
use futures_lite::FutureExt;
use serde::Deserialize;
use sonic_rs::{JsonValueTrait, Value};
use std::borrow::Cow;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;

pub(super) fn handle(ctx: &mut Ctx<'_>, id: Id<'_>, raw: Option<&str>, out: &mut Vec<u8>) -> Answer {
    let Params { name, arguments, meta } = match read_params(raw.unwrap_or("{}")) {
        Ok(p) => p,
        Err(e) => return Answer::Error(e),
    };
    let Some(tool) = ctx.catalog.tool(&name) else {
        return Answer::Error(
            RpcError::invalid_params(format!("Unknown tool: {name}"))
                .with_data(&sonic_rs::json!({"name": name.as_ref()})),
        );
    };
    let checked = match tool.check_arguments(&arguments) {
        Err(ArgError::Unreadable) => normalize(&arguments).map(|n| {
            let result = tool.check_arguments(&n);
            (Cow::Owned(n), result)
        }),
        result => Ok((arguments, result)),
    };
    let arguments = match checked {
        Ok((arguments, Ok(()))) => arguments,
        Ok((_, Err(ArgError::Invalid(problem)))) => {
            let message = format!("Invalid arguments for tool {}: {problem}", tool.name());
            write_tool_result(out, &CallToolResult::error(message));
            return Answer::Done;
        }
        Ok((_, Err(ArgError::Unreadable))) => return Answer::Error(unreadable_names()),
        Err(e) => return Answer::Error(e),
    };
    let token = meta.as_deref().and_then(progress_token);
    let peer = Rc::new(RequestPeer::new(ctx.session.peer.clone(), ctx.sink.clone(), token));
    let call = ToolCall::new(arguments, ctx.session.core, ctx.session.id, peer.clone());
    match &tool.handler {
        ToolHandler::Sync(f) => match catch_unwind(AssertUnwindSafe(|| f(&call))) {
            Ok(result) => {
                write_tool_result(out, &into_result(result));
                Answer::Done
            }
            Err(_) => Answer::Error(panicked(tool.name())),
        },
        ToolHandler::Async(f) => {
            let name = tool.name().to_string();
            let call = call.into_owned();
            let fut = match catch_unwind(AssertUnwindSafe(|| f(call))) {
                Ok(fut) => fut,
                Err(_) => return Answer::Error(panicked(&name)),
            };
            let key: Box<str> = id.0.into();
            ctx.session.peer.begin(id, peer.clone());
            Answer::Later(Box::pin(async move {
                let run = async {
                    Some(match AssertUnwindSafe(fut).catch_unwind().await {
                        Ok(result) => {
                            let mut out = Vec::new();
                            write_tool_result(&mut out, &into_result(result));
                            Ok(out)
                        }
                        Err(_) => Err(panicked(&name)),
                    })
                };
                let cancelled = std::future::poll_fn(|cx| match peer.poll_cancelled(cx.waker()) {
                    true => std::task::Poll::Ready(None),
                    false => std::task::Poll::Pending,
                });
                let outcome = futures_lite::future::or(run, cancelled).await;
                peer.peer.end(&key);
                outcome
            }))
        }
    }
}

/// What `tools/call` reads from its params.
struct Params<'a> {
    name: Cow<'a, str>,
    /// The raw `arguments` object (`{}` when absent or null).
    arguments: Cow<'a, str>,
    /// The raw `_meta` object, if any.
    meta: Option<Cow<'a, str>>,
}

/// The raw `_meta.progressToken`, if it is a string or an integer.
fn progress_token(meta: &str) -> Option<&str> {
    let m = scan::get(meta.as_bytes(), b"progressToken")?;
    let ok = m.kind == scan::Kind::String || (m.kind == scan::Kind::Number && scan::is_integer(m.value));
    ok.then(|| scan::span_str(meta, m.value))
}

/// The params, found by the scanner, or by the full parse for unusual text (escaped keys),
/// whose re-serialized arguments the scanner then reads.
fn read_params(raw: &str) -> Result<Params<'_>, RpcError> {
    let (mut name, mut arguments, mut meta) = (None, None, None);
    let scanned = scan::members(raw.as_bytes(), |m| {
        match m.key {
            b"name" => name = Some(m),
            b"arguments" => arguments = Some(m),
            b"_meta" => meta = Some(m),
            _ => {}
        }
        true
    });
    if scanned.is_none() {
        return read_params_full(raw);
    }
    let name = match name {
        Some(m) if m.kind == scan::Kind::String => match scan::plain_str(scan::span_str(raw, m.value)) {
            Some(plain) => Cow::Borrowed(plain),
            None => Cow::Owned(sonic_rs::from_slice::<String>(m.value).map_err(|_| bad_name())?),
        },
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
    Ok(Params { name, arguments, meta })
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
    }
    let p: Full = params(Some(raw))?;
    let arguments = match p.arguments {
        None => Cow::Borrowed("{}"),
        Some(a) if a.is_null() => Cow::Borrowed("{}"),
        Some(a) if a.is_object() => Cow::Owned(sonic_rs::to_string(&a).expect("a Value always serializes")),
        Some(_) => return Err(bad_arguments()),
    };
    let meta = p.meta.filter(|m| m.is_object()).map(|m| Cow::Owned(sonic_rs::to_string(&m).expect("serializes")));
    Ok(Params { name: Cow::Owned(p.name), arguments, meta })
}

fn bad_name() -> RpcError {
    RpcError::invalid_params("Invalid params: \"name\" must be a string")
}

fn bad_arguments() -> RpcError {
    RpcError::invalid_params("Invalid params: \"arguments\" must be an object")
}

fn into_result(result: ToolResult) -> CallToolResult {
    result.unwrap_or_else(|e| CallToolResult::error(e.0))
}

fn panicked(tool: &str) -> RpcError {
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
