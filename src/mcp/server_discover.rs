//! `server/discover` (2026-07-28): the versions served, what the server has, its identity in
//! the result `_meta`, and its instructions. Answered in either era (it changes nothing).

use super::era::MODERN_VERSIONS;
use super::initialize::{capabilities, ServerInfo};
use super::{write_json, Answer, Ctx};
use serde::Serialize;

#[derive(Serialize)]
struct DiscoverResult<'a> {
    #[serde(rename = "supportedVersions")]
    supported_versions: &'a [&'a str],
    capabilities: super::initialize::Capabilities,
    #[serde(skip_serializing_if = "Option::is_none")]
    instructions: Option<&'a str>,
    #[serde(rename = "_meta")]
    meta: Meta<'a>,
}

#[derive(Serialize)]
struct Meta<'a> {
    #[serde(rename = "io.modelcontextprotocol/serverInfo")]
    server_info: ServerInfo<'a>,
}

pub(super) fn handle(ctx: &mut Ctx<'_>, _: Option<&str>, out: &mut Vec<u8>) -> Answer {
    let catalog = ctx.catalog;
    let result = DiscoverResult {
        supported_versions: &MODERN_VERSIONS,
        // The 2026-07-28 tasks extension where tasks are kept (never the old `tasks`).
        capabilities: capabilities(catalog, ctx.tasks.is_some(), true),
        instructions: catalog.instructions.as_deref(),
        meta: Meta { server_info: ServerInfo { name: &catalog.name, version: &catalog.version } },
    };
    write_json(out, &result);
    Answer::Done
}
