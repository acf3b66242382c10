//! `resources/read`: a fixed URI first, then the templates in order; none → -32002.

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
    contents: Vec<crate::api::content::ResourceContents>,
}

pub(super) fn handle(ctx: &mut Ctx<'_>, raw: Option<&str>, out: &mut Vec<u8>) -> Answer {
    let p: Params<'_> = match params(raw) {
        Ok(p) => p,
        Err(e) => return Answer::Error(e),
    };
    let uri = p.uri.as_ref();
    let read = if let Some(r) = ctx.catalog.resource(uri) {
        (r.read)(uri)
    } else if let Some((t, vars)) = ctx.catalog.templates.iter().find_map(|t| t.matches(uri).map(|v| (t, v))) {
        (t.read)(uri, &vars)
    } else {
        return Answer::Error(
            RpcError::new(code::RESOURCE_NOT_FOUND, format!("Resource not found: {uri}"))
                .with_data(&sonic_rs::json!({"uri": uri})),
        );
    };
    match read {
        Ok(contents) => {
            write_json(out, &ReadResult { contents });
            Answer::Done
        }
        Err(e) => Answer::Error(e),
    }
}
