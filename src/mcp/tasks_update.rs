//! `tasks/update` (2026-07-28, the tasks extension): answers a task's open input requests
//! (`inputResponses`, keyed as the task's `inputRequests`). Keys that are not open are
//! ignored; the answer is an empty ack. -32602 for an unknown task id or a response that is
//! not an object; -32021 if the client did not declare the extension.

use super::tasks_get::undeclared_extension;
use super::{answer, params, Answer, Ctx};
use crate::jsonrpc::RpcError;
use serde::Deserialize;
use sonic_rs::{JsonValueTrait, LazyValue};
use std::borrow::Cow;
use std::collections::BTreeMap;

#[derive(Deserialize)]
struct UpdateParams<'a> {
    #[serde(rename = "taskId", borrow)]
    task_id: Cow<'a, str>,
    #[serde(rename = "inputResponses", borrow, default)]
    input_responses: BTreeMap<String, LazyValue<'a>>,
}

pub(super) fn handle(ctx: &mut Ctx<'_>, raw: Option<&str>, out: &mut Vec<u8>) -> Answer {
    let tasks = ctx.tasks.expect("dispatched only with a task table");
    if let Some(e) = undeclared_extension(ctx) {
        return Answer::Error(e);
    }
    let p: UpdateParams<'_> = match params(raw) {
        Ok(p) => p,
        Err(e) => return Answer::Error(e),
    };
    let mut answers = Vec::with_capacity(p.input_responses.len());
    for (key, value) in p.input_responses {
        if !value.is_object() {
            return Answer::Error(RpcError::invalid_params(format!(
                "Invalid params: inputResponses.{key} must be the result object of that input request"
            )));
        }
        answers.push((key, value.as_raw_str().to_string()));
    }
    answer(tasks.update(&p.task_id, answers, tasks.now_ms()).map(|()| out.extend_from_slice(b"{}")))
}
