//! `tasks/get`: the state of one task; -32602 for an unknown or expired task id (and, in the
//! session era, another session's). In 2026-07-28 (the tasks extension) the task carries its
//! result, error or input requests, and the client must have declared the extension (-32021).

use super::{answer, params, Answer, Ctx};
use crate::jsonrpc::{code, RpcError};
use serde::Deserialize;
use std::borrow::Cow;

/// The params of `tasks/get`, `tasks/result`, `tasks/cancel` and `tasks/update`.
#[derive(Deserialize)]
pub(super) struct TaskParams<'a> {
    #[serde(rename = "taskId", borrow)]
    pub task_id: Cow<'a, str>,
}

pub(super) fn handle(ctx: &mut Ctx<'_>, raw: Option<&str>, out: &mut Vec<u8>) -> Answer {
    let tasks = ctx.tasks.expect("dispatched only with a task table");
    if let Some(e) = undeclared_extension(ctx) {
        return Answer::Error(e);
    }
    let p: TaskParams<'_> = match params(raw) {
        Ok(p) => p,
        Err(e) => return Answer::Error(e),
    };
    answer(tasks.get(owner(ctx), &p.task_id, tasks.now_ms(), out))
}

/// Whose tasks a request sees: its session's, or (2026-07-28) those of no session.
pub(super) fn owner(ctx: &Ctx<'_>) -> super::tasks::Owner {
    ctx.modern.is_none().then_some(ctx.session.id)
}

/// -32021 for a 2026-07-28 request whose client did not declare the tasks extension.
pub(super) fn undeclared_extension(ctx: &Ctx<'_>) -> Option<RpcError> {
    let modern = ctx.modern?;
    (!modern.caps.tasks).then(|| {
        RpcError::new(
            code::MISSING_CLIENT_CAPABILITY,
            "Missing required client capability: declare the io.modelcontextprotocol/tasks extension to use tasks",
        )
        .with_data(&sonic_rs::json!({"requiredCapabilities": {"extensions": {"io.modelcontextprotocol/tasks": {}}}}))
    })
}
