//! `tasks/result`: what the task's request answers — its result, with
//! `_meta["io.modelcontextprotocol/related-task"]`, or its JSON-RPC error — once the task is
//! over; until then the answer waits. -32602 for an unknown, expired or other session's task
//! id, and for a cancelled task (a cancelled request has no result).

use super::tasks_get::TaskParams;
use super::{params, Answer, Ctx};
use std::task::Poll;

pub(super) fn handle(ctx: &mut Ctx<'_>, raw: Option<&str>, out: &mut Vec<u8>) -> Answer {
    let tasks = ctx.tasks.expect("dispatched only with a task table");
    let p: TaskParams<'_> = match params(raw) {
        Ok(p) => p,
        Err(e) => return Answer::Error(e),
    };
    let owner = Some(ctx.session.id);
    match tasks.poll_result(owner, &p.task_id, tasks.now_ms(), None) {
        Poll::Ready(Ok(result)) => {
            out.extend_from_slice(&result);
            Answer::Done
        }
        Poll::Ready(Err(e)) => Answer::Error(e),
        Poll::Pending => {
            let (tasks, id) = (tasks.clone(), p.task_id.into_owned());
            Answer::Later(Box::pin(async move {
                let outcome =
                    std::future::poll_fn(|cx| tasks.poll_result(owner, &id, tasks.now_ms(), Some(cx.waker())));
                Some(outcome.await.map(|result| result.to_vec()))
            }))
        }
    }
}
