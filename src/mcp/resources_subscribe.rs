//! `resources/subscribe`: the session gets `notifications/resources/updated` when the resource
//! at `uri` changes. Any URI the server could read may be subscribed; others → -32002.

use super::{params, Answer, Ctx};
use crate::jsonrpc::{code, RpcError};
use serde::Deserialize;
use std::borrow::Cow;

#[derive(Deserialize)]
pub(super) struct Params<'a> {
    #[serde(borrow)]
    pub uri: Cow<'a, str>,
}

pub(super) fn handle(ctx: &mut Ctx<'_>, raw: Option<&str>, out: &mut Vec<u8>) -> Answer {
    let p: Params<'_> = match params(raw) {
        Ok(p) => p,
        Err(e) => return Answer::Error(e),
    };
    let uri = p.uri.as_ref();
    let known = ctx.catalog.resource(uri).is_some() || ctx.catalog.templates.iter().any(|t| t.matches(uri).is_some());
    if !known {
        return Answer::Error(
            RpcError::new(code::RESOURCE_NOT_FOUND, format!("Resource not found: {uri}"))
                .with_data(&sonic_rs::json!({"uri": uri})),
        );
    }
    let mut subs = ctx.session.peer.subscriptions.borrow_mut();
    if !subs.contains(uri) {
        if subs.len() >= crate::limits::MAX_SUBSCRIPTIONS_PER_SESSION {
            return Answer::Error(RpcError::invalid_params(format!(
                "Invalid params: at most {} subscriptions per session",
                crate::limits::MAX_SUBSCRIPTIONS_PER_SESSION
            )));
        }
        subs.insert(uri.to_string());
    }
    out.extend_from_slice(b"{}");
    Answer::Done
}
