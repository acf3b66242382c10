//! `logging/setLevel`: the lowest level of `notifications/message` this session wants.

use super::{params, Answer, Ctx};
use crate::jsonrpc::RpcError;
use serde::Deserialize;

/// The syslog levels MCP uses, lowest first.
pub const LEVELS: [&str; 8] = ["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"];

#[derive(Deserialize)]
struct Params {
    level: String,
}

pub(super) fn handle(ctx: &mut Ctx<'_>, raw: Option<&str>, out: &mut Vec<u8>) -> Answer {
    let p: Params = match params(raw) {
        Ok(p) => p,
        Err(e) => return Answer::Error(e),
    };
    let Some(level) = LEVELS.iter().position(|l| *l == p.level) else {
        return Answer::Error(RpcError::invalid_params(format!(
            "Invalid params: unknown level {:?}; accepted: {}",
            p.level,
            LEVELS.join(", ")
        )));
    };
    ctx.session.peer.log_level.set(Some(level));
    out.extend_from_slice(b"{}");
    Answer::Done
}
