//! `tools/call`: unknown tool → -32602; arguments checked against the tool's schema (a
//! problem is an `isError` result naming it); a tool's own failure → `isError: true`; a
//! panicking handler → -32603 for this request only.

use super::{params, write_json, Answer, Ctx};
use crate::api::content::CallToolResult;
use crate::api::tool::{ToolCall, ToolHandler, ToolResult};
use crate::jsonrpc::{code, RpcError};
use futures_lite::FutureExt;
use serde::Deserialize;
use sonic_rs::{JsonValueTrait, LazyValue, Value};
use std::borrow::Cow;
use std::panic::{catch_unwind, AssertUnwindSafe};

#[derive(Deserialize)]
struct Params<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(default)]
    arguments: Option<Value>,
}

pub(super) fn handle(ctx: &mut Ctx<'_>, raw: Option<&LazyValue<'_>>, out: &mut Vec<u8>) -> Answer {
    let p: Params<'_> = match params(raw) {
        Ok(p) => p,
        Err(e) => return Answer::Error(e),
    };
    let Some(tool) = ctx.catalog.tool(&p.name) else {
        return Answer::Error(
            RpcError::invalid_params(format!("Unknown tool: {}", p.name))
                .with_data(&sonic_rs::json!({"name": p.name.as_ref()})),
        );
    };
    let arguments = match p.arguments {
        None => sonic_rs::json!({}),
        Some(a) if a.is_object() => a,
        Some(a) if a.is_null() => sonic_rs::json!({}),
        Some(_) => return Answer::Error(RpcError::invalid_params("Invalid params: \"arguments\" must be an object")),
    };
    if let Err(problem) = tool.check_arguments(&arguments) {
        write_json(out, &CallToolResult::error(format!("Invalid arguments for tool {}: {problem}", tool.name())));
        return Answer::Done;
    }
    let call = ToolCall { arguments, core: ctx.session.core, session: ctx.session.id };
    match &tool.handler {
        ToolHandler::Sync(f) => match catch_unwind(AssertUnwindSafe(|| f(&call))) {
            Ok(result) => {
                write_json(out, &into_result(result));
                Answer::Done
            }
            Err(_) => Answer::Error(panicked(tool.name())),
        },
        ToolHandler::Async(f) => {
            let name = tool.name().to_string();
            let fut = match catch_unwind(AssertUnwindSafe(|| f(call))) {
                Ok(fut) => fut,
                Err(_) => return Answer::Error(panicked(&name)),
            };
            Answer::Later(Box::pin(async move {
                match AssertUnwindSafe(fut).catch_unwind().await {
                    Ok(result) => Ok(sonic_rs::to_vec(&into_result(result)).expect("a result always serializes")),
                    Err(_) => Err(panicked(&name)),
                }
            }))
        }
    }
}

fn into_result(result: ToolResult) -> CallToolResult {
    result.unwrap_or_else(|e| CallToolResult::error(e.0))
}

fn panicked(tool: &str) -> RpcError {
    RpcError::new(code::INTERNAL_ERROR, format!("Internal error: tool {tool} panicked"))
}
