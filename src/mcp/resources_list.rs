//! `resources/list`: one page of the server's resources, with an opaque `nextCursor`.

use super::{page, Answer, Ctx};

pub(super) fn handle(ctx: &mut Ctx<'_>, raw: Option<&str>, out: &mut Vec<u8>) -> Answer {
    let items = ctx.catalog.resources.iter().map(|t| t.descriptor_json.as_slice());
    page::list(raw, out, "resources", items, ctx.page_size)
}
