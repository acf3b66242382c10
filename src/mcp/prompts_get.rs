//! `prompts/get`: unknown prompt or missing required argument → -32602. A prompt that asks
//! for input gets it by input-required results in the 2026-07-28 era.

use super::input::InputRound;
use super::request_state::Binding;
use super::{params, write_json, Answer, Ctx};
use crate::jsonrpc::RpcError;
use crate::mcp::catalog::prompt::{Asker, PromptArgs};
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
    let round = match ctx.modern {
        Some(m) => {
            let arguments = raw.and_then(|r| sonic_rs::get_from_str(r, ["arguments"]).ok());
            let arguments = arguments.as_ref().map_or("", |a| a.as_raw_str());
            let binding = Binding { method: "prompts/get", name: &p.name, arguments };
            let answers = match InputRound::answers_in(raw.unwrap_or("{}"), &binding, ctx.unix_ms) {
                Ok(a) => a,
                Err(e) => return Answer::Error(e),
            };
            Some((InputRound::new(m.caps, answers), arguments.to_string()))
        }
        None => None,
    };
    let rendered = (prompt.render)(&args, &Asker(round.as_ref().map(|(r, _)| r)));
    if let Some((round, arguments)) = round.as_ref().filter(|(r, _)| r.has_asked()) {
        let binding = Binding { method: "prompts/get", name: &p.name, arguments };
        return super::answer(round.write_input_required(&binding, ctx.unix_ms, out));
    }
    match rendered {
        Ok(result) => {
            write_json(out, &result);
            Answer::Done
        }
        Err(message) => Answer::Error(RpcError::invalid_params(message)),
    }
}
