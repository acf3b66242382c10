//! `completion/complete`: values for an argument of a prompt or resource template (at most
//! 100, with `total` and `hasMore`). An unknown prompt or template → -32602; an argument
//! without a provider completes to nothing.

use super::{params, write_json, Answer, Ctx};
use crate::jsonrpc::RpcError;
use crate::limits::COMPLETION_VALUES_MAX;
use crate::mcp::catalog::completion::CompletionRef;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

#[derive(Deserialize)]
struct Params {
    #[serde(rename = "ref")]
    target: Ref,
    argument: Argument,
    #[serde(default)]
    context: Option<Context>,
}

#[derive(Deserialize)]
struct Ref {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    uri: Option<String>,
}

#[derive(Deserialize)]
struct Argument {
    name: String,
    value: String,
}

#[derive(Deserialize, Default)]
struct Context {
    #[serde(default)]
    arguments: HashMap<String, String>,
}

#[derive(Serialize)]
struct CompleteResult {
    completion: Values,
}

#[derive(Serialize)]
struct Values {
    values: Vec<String>,
    total: usize,
    #[serde(rename = "hasMore")]
    has_more: bool,
}

pub(super) fn handle(ctx: &mut Ctx<'_>, raw: Option<&str>, out: &mut Vec<u8>) -> Answer {
    let p: Params = match params(raw) {
        Ok(p) => p,
        Err(e) => return Answer::Error(e),
    };
    let target = match resolve(ctx, &p.target) {
        Ok(t) => t,
        Err(e) => return Answer::Error(e),
    };
    let context = p.context.unwrap_or_default().arguments;
    let mut values = match ctx.catalog.completion(&target, &p.argument.name) {
        Some(c) => (c.complete)(&p.argument.value, &context),
        None => Vec::new(),
    };
    let total = values.len();
    values.truncate(COMPLETION_VALUES_MAX);
    write_json(out, &CompleteResult { completion: Values { has_more: total > values.len(), values, total } });
    Answer::Done
}

fn resolve(ctx: &Ctx<'_>, r: &Ref) -> Result<CompletionRef, RpcError> {
    match (r.kind.as_str(), &r.name, &r.uri) {
        ("ref/prompt", Some(name), _) if ctx.catalog.prompt(name).is_some() => Ok(CompletionRef::Prompt(name.clone())),
        ("ref/prompt", Some(name), _) => Err(RpcError::invalid_params(format!("Unknown prompt: {name}"))),
        ("ref/resource", _, Some(uri)) if ctx.catalog.templates.iter().any(|t| &t.uri_template == uri) => {
            Ok(CompletionRef::Resource(uri.clone()))
        }
        ("ref/resource", _, Some(uri)) => Err(RpcError::invalid_params(format!("Unknown resource template: {uri}"))),
        (kind, _, _) => Err(RpcError::invalid_params(format!(
            "Invalid params: ref must be {{\"type\":\"ref/prompt\",\"name\"}} or {{\"type\":\"ref/resource\",\"uri\"}}, got type {kind:?}"
        ))),
    }
}
