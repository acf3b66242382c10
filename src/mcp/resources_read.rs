//! `resources/read`: a fixed URI first, then the templates in order; none → -32002 (2025-11-25)
//! or -32602 (2026-07-28), with `data.uri`. Modern results carry the resource's caching hints.

use super::{params, write_json, Answer, Ctx};
use crate::jsonrpc::{code, RpcError};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

#[derive(Deserialize)]
struct Params<'a> {
    #[serde(borrow)]
    uri: Cow<'a, str>,
}

#[derive(Serialize)]
struct ReadResult {
    contents: Vec<crate::mcp::catalog::content::ResourceContents>,
}

pub(super) fn handle(ctx: &mut Ctx<'_>, raw: Option<&str>, out: &mut Vec<u8>) -> Answer {
    let p: Params<'_> = match params(raw) {
        Ok(p) => p,
        Err(e) => return Answer::Error(e),
    };
    let uri = p.uri.as_ref();
    let mut hint = ctx.catalog.read_cache;
    let read = if let Some(r) = ctx.catalog.resource(uri) {
        hint = r.cache.unwrap_or(hint);
        (r.read)(uri)
    } else if let Some((t, vars)) = ctx.catalog.templates.iter().find_map(|t| t.matches(uri).map(|v| (t, v))) {
        (t.read)(uri, &vars)
    } else {
        let code = if ctx.modern.is_some() { code::INVALID_PARAMS } else { code::RESOURCE_NOT_FOUND };
        return Answer::Error(
            RpcError::new(code, format!("Resource not found: {uri}")).with_data(&sonic_rs::json!({"uri": uri})),
        );
    };
    match read {
        Ok(contents) => {
            write_json(out, &ReadResult { contents });
            if ctx.modern.is_some() {
                out.pop();
                out.push(b',');
                hint.write_fields(out);
                out.push(b'}');
            }
            Answer::Done
        }
        Err(e) => Answer::Error(e),
    }
}
