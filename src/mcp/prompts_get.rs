//! `prompts/get`: unknown prompt or missing required argument → -32602.

use super::{params, write_json, Answer, Ctx};
use crate::api::prompt::PromptArgs;
use crate::jsonrpc::RpcError;
use serde::Deserialize;
use std::borrow::Cow;

#[derive(Deserialize)]
struct Params<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(default)]
    arguments: Option<PromptArgs>,
}

pub(super) fn handle(ctx: &mut Ctx<'_>, raw: Option<&str>, out: &mut Vec<u8>) -> Answer {
    let p: Params<'_> = match params(raw) {
        Ok(p) => p,
        Err(e) => return Answer::Error(e),
    };
    let Some(prompt) = ctx.catalog.prompt(&p.name) else {
        return Answer::Error(RpcError::invalid_params(format!("Unknown prompt: {}", p.name)));
    };
    let args = p.arguments.unwrap_or_default();
    if let Some(missing) = prompt.arguments.iter().find(|a| a.required && !args.contains_key(&a.name)) {
        return Answer::Error(RpcError::invalid_params(format!(
            "Missing required argument \"{}\" of prompt {}",
            missing.name, prompt.name
        )));
    }
    match (prompt.render)(&args) {
        Ok(result) => {
            write_json(out, &result);
            Answer::Done
        }
        Err(message) => Answer::Error(RpcError::invalid_params(message)),
    }
}
