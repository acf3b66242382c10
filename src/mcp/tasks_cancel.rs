//! `tasks/cancel`: stops a task. Session era: answers the task, now `cancelled`; -32602 for an
//! unknown task id or a task already over. 2026-07-28: an empty ack, also for a task already
//! over; -32602 for an unknown task id; the client must have declared the tasks extension.

use super::tasks_get::{owner, undeclared_extension, TaskParams};
use super::{answer, params, Answer, Ctx};

pub(super) fn handle(ctx: &mut Ctx<'_>, raw: Option<&str>, out: &mut Vec<u8>) -> Answer {
    let tasks = ctx.tasks.expect("dispatched only with a task table");
    if let Some(e) = undeclared_extension(ctx) {
        return Answer::Error(e);
    }
    let p: TaskParams<'_> = match params(raw) {
        Ok(p) => p,
        Err(e) => return Answer::Error(e),
    };
    let now = tasks.now_ms();
    match ctx.modern {
        None => answer(tasks.cancel(owner(ctx), &p.task_id, now, out)),
        Some(_) => answer(tasks.cancel_modern(&p.task_id, now).map(|()| out.extend_from_slice(b"{}"))),
    }
}
