//! `initialize`: negotiates the protocol version and tells what the server has.

use super::peer::ClientCaps;
use super::{write_json, Answer, Ctx, Phase, LATEST_PROTOCOL_VERSION, PROTOCOL_VERSIONS};
use crate::jsonrpc::{code, RpcError};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

#[derive(Deserialize)]
struct Params<'a> {
    #[serde(rename = "protocolVersion", borrow)]
    protocol_version: Cow<'a, str>,
    #[serde(default)]
    capabilities: ClientCapabilities,
}

/// The client capabilities the server acts on (their contents are not needed).
#[derive(Deserialize, Default)]
struct ClientCapabilities {
    sampling: Option<serde::de::IgnoredAny>,
    elicitation: Option<serde::de::IgnoredAny>,
    roots: Option<serde::de::IgnoredAny>,
}

#[derive(Serialize)]
struct InitializeResult<'a> {
    #[serde(rename = "protocolVersion")]
    protocol_version: &'a str,
    capabilities: Capabilities,
    #[serde(rename = "serverInfo")]
    server_info: ServerInfo<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    instructions: Option<&'a str>,
    /// Which core serves the session, and its registry id (MCP allows `_meta` on results).
    #[serde(rename = "_meta")]
    meta: Meta<'a>,
}

#[derive(Serialize)]
pub(super) struct ServerInfo<'a> {
    pub name: &'a str,
    pub version: &'a str,
}

#[derive(Serialize)]
struct Meta<'a> {
    #[serde(rename = "io.ringmcp/core")]
    core: usize,
    #[serde(rename = "io.ringmcp/session")]
    session: &'a str,
}

pub(super) fn handle(ctx: &mut Ctx<'_>, params: Option<&str>, out: &mut Vec<u8>) -> Answer {
    if ctx.session.phase == Phase::Initialized {
        return Answer::Error(RpcError::new(code::INVALID_REQUEST, "Invalid Request: session already initialized"));
    }
    let p: Params<'_> = match super::params(params) {
        Ok(p) => p,
        Err(e) => return Answer::Error(e),
    };
    let version =
        PROTOCOL_VERSIONS.iter().find(|v| **v == p.protocol_version).copied().unwrap_or(LATEST_PROTOCOL_VERSION);
    ctx.session.protocol_version = version;
    let c = &p.capabilities;
    ctx.session.peer.client.set(ClientCaps {
        sampling: c.sampling.is_some(),
        elicitation: c.elicitation.is_some(),
        roots: c.roots.is_some(),
        tasks: false,
    });
    ctx.session.phase = Phase::Initialized;
    let catalog = ctx.catalog;
    let id = ctx.session.id;
    let result = InitializeResult {
        protocol_version: version,
        capabilities: capabilities(catalog, ctx.tasks.is_some(), false),
        server_info: ServerInfo { name: &catalog.name, version: &catalog.version },
        instructions: catalog.instructions.as_deref(),
        meta: Meta { core: ctx.session.core, session: id.as_str() },
    };
    write_json(out, &result);
    Answer::Done
}

#[derive(Serialize)]
pub(super) struct Capabilities {
    #[serde(skip_serializing_if = "Option::is_none")]
    tools: Option<ListChanged>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resources: Option<ResourceCaps>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prompts: Option<ListChanged>,
    #[serde(skip_serializing_if = "Option::is_none")]
    completions: Option<Empty>,
    logging: Empty,
    #[serde(skip_serializing_if = "Option::is_none")]
    tasks: Option<TasksCaps>,
    #[serde(skip_serializing_if = "Option::is_none")]
    extensions: Option<Extensions>,
}

/// 2026-07-28 extensions: the tasks extension when some tool may answer with a task.
#[derive(Serialize)]
struct Extensions {
    #[serde(rename = "io.modelcontextprotocol/tasks")]
    tasks: Empty,
}

/// `tasks`: `tasks/list`, `tasks/cancel`, and task-augmented `tools/call`.
#[derive(Serialize)]
struct TasksCaps {
    list: Empty,
    cancel: Empty,
    requests: TaskRequests,
}

#[derive(Serialize)]
struct TaskRequests {
    tools: ToolsCall,
}

#[derive(Serialize)]
struct ToolsCall {
    call: Empty,
}

#[derive(Serialize)]
struct ListChanged {
    #[serde(rename = "listChanged")]
    list_changed: bool,
}

#[derive(Serialize)]
struct ResourceCaps {
    subscribe: bool,
    #[serde(rename = "listChanged")]
    list_changed: bool,
}

#[derive(Serialize)]
struct Empty {}

/// Only what the server really has: a kind is declared when something of it is registered;
/// when some tool may run as a task and the transport keeps tasks (`can_keep_tasks`), the
/// session era's `tasks` or (`modern`) the 2026-07-28 tasks extension.
pub(super) fn capabilities(catalog: &crate::mcp::catalog::Catalog, can_keep_tasks: bool, modern: bool) -> Capabilities {
    let has_tasks = can_keep_tasks && catalog.has_task_tools();
    let list = |has: bool| has.then_some(ListChanged { list_changed: true });
    let has_resources = !catalog.resources.is_empty() || !catalog.templates.is_empty();
    Capabilities {
        tools: list(!catalog.tools.is_empty()),
        resources: has_resources.then_some(ResourceCaps { subscribe: true, list_changed: true }),
        prompts: list(!catalog.prompts.is_empty()),
        completions: catalog.has_completions().then_some(Empty {}),
        logging: Empty {},
        extensions: (has_tasks && modern).then_some(Extensions { tasks: Empty {} }),
        tasks: (has_tasks && !modern).then_some(TasksCaps {
            list: Empty {},
            cancel: Empty {},
            requests: TaskRequests { tools: ToolsCall { call: Empty {} } },
        }),
    }
}
