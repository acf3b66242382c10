//! Any other method: -32601 (on Streamable HTTP in the 2026-07-28 era: 404).

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

/// A session-era method sent in the 2026-07-28 era, which removed it: -32601.
pub(super) fn removed(method: &str) -> Answer {
    Answer::Error(
        RpcError::new(
            code::METHOD_NOT_FOUND,
            format!(
                "Method not found: {method} is not part of MCP 2026-07-28 (it belongs to the initialize/session era)"
            ),
        )
        .with_data(&sonic_rs::json!({"method": method})),
    )
}
