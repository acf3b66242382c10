//! `tasks/get`: the state of one of the session's tasks; -32602 for an unknown, expired or
//! other session's task id.

use super::{answer, params, Answer, Ctx};
use serde::Deserialize;
use std::borrow::Cow;

/// The params of `tasks/get`, `tasks/result` and `tasks/cancel`.
#[derive(Deserialize)]
pub(super) struct TaskParams<'a> {
    #[serde(rename = "taskId", borrow)]
    pub task_id: Cow<'a, str>,
}

pub(super) fn handle(ctx: &mut Ctx<'_>, raw: Option<&str>, out: &mut Vec<u8>) -> Answer {
    let tasks = ctx.tasks.expect("dispatched only with a task table");
    let p: TaskParams<'_> = match params(raw) {
        Ok(p) => p,
        Err(e) => return Answer::Error(e),
    };
    answer(tasks.get(ctx.session.id, &p.task_id, tasks.now_ms(), out))
}
