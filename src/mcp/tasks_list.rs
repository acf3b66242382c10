//! `tasks/list`: one page of the session's tasks, oldest first, with an opaque `nextCursor`.

use super::{page, Answer, Ctx};

pub(super) fn handle(ctx: &mut Ctx<'_>, raw: Option<&str>, out: &mut Vec<u8>) -> Answer {
    let tasks = ctx.tasks.expect("dispatched only with a task table");
    let items = tasks.list(Some(ctx.session.id), tasks.now_ms());
    page::list(raw, out, "tasks", items.iter().map(Vec::as_slice), ctx.page_size)
}
