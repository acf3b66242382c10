//! `tasks/cancel`: stops one of the session's tasks and answers it, now `cancelled`; -32602
//! for an unknown task id or a task already completed, failed or cancelled.

use super::tasks_get::TaskParams;
use super::{answer, params, Answer, Ctx};

pub(super) fn handle(ctx: &mut Ctx<'_>, raw: Option<&str>, out: &mut Vec<u8>) -> Answer {
    let tasks = ctx.tasks.expect("dispatched only with a task table");
    let p: TaskParams<'_> = match params(raw) {
        Ok(p) => p,
        Err(e) => return Answer::Error(e),
    };
    answer(tasks.cancel(ctx.session.id, &p.task_id, tasks.now_ms(), out))
}
