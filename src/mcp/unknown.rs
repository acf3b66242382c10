//! Any other method: -32601. `server/discover` (the 2026-07-28 spec's first call) lands here
//! on purpose, so that new clients fall back to `initialize`.

use super::Answer;
use crate::jsonrpc::{code, RpcError};

pub(super) fn handle(method: &str) -> Answer {
    let mut shown: String = method.chars().take(128).collect();
    if shown.len() < method.len() {
        shown.push('…');
    }
    Answer::Error(
        RpcError::new(code::METHOD_NOT_FOUND, format!("Method not found: {shown}"))
            .with_data(&sonic_rs::json!({"method": shown})),
    )
}
