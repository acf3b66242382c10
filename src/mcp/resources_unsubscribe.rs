//! `resources/unsubscribe`: stops `notifications/resources/updated` for `uri` (unsubscribing
//! from a URI that was not subscribed is not an error).

use super::resources_subscribe::Params;
use super::{params, Answer, Ctx};

pub(super) fn handle(ctx: &mut Ctx<'_>, raw: Option<&str>, out: &mut Vec<u8>) -> Answer {
    let p: Params<'_> = match params(raw) {
        Ok(p) => p,
        Err(e) => return Answer::Error(e),
    };
    ctx.session.peer.subscriptions.borrow_mut().remove(p.uri.as_ref());
    out.extend_from_slice(b"{}");
    Answer::Done
}
