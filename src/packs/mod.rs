//! Built-in packs of tools, resources and prompts, chosen with `--pack NAME`.

pub mod bench;
pub mod conformance;
pub mod conformance_2026;
pub mod conformance_tasks;

use crate::api::content::CallToolResult;
use crate::api::tool::Tool;
use crate::api::Server;

/// The server for a pack name (one of [`crate::config::PACKS`]), with `instructions` if given.
pub fn build(name: &str, instructions: Option<&str>) -> Option<Server> {
    let mut builder = match name {
        "bench" => bench::builder(),
        // `whoami` is a fixture of the authorization tests, beside the suite's fixtures.
        "conformance" => {
            conformance_tasks::add(conformance_2026::add(conformance::builder())).tool(whoami()).tool(admin_echo())
        }
        _ => return None,
    };
    if let Some(text) = instructions {
        builder = builder.instructions(text);
    }
    Some(builder.build())
}

/// `admin_echo`: echoes `text`; its calls need the scope `mcp:admin` by the tool's own
/// declaration (`ToolBuilder::scopes`), a fixture of the authorization tests.
fn admin_echo() -> Tool {
    Tool::builder("admin_echo", "Echoes text; needs the mcp:admin scope")
        .input_schema(crate::json(r#"{"type":"object","properties":{"text":{"type":"string"}},"required":["text"]}"#))
        .scopes(["mcp:admin"])
        .sync_handler(|call| Ok(CallToolResult::text(call.str("text").unwrap_or_default())))
}

/// `whoami`: the caller as authorization established it, as JSON text (`{"subject":…,
/// "clientId":…,"scopes":[…],"source":"jwt"|"api_key"|"client_cert"}`), or `anonymous`.
fn whoami() -> Tool {
    Tool::builder("whoami", "Returns the caller's authenticated identity (subject, client, scopes, source)")
        .input_schema(crate::json(r#"{"type":"object","properties":{}}"#))
        .sync_handler(|call| {
            let Some(id) = call.identity() else { return Ok(CallToolResult::text("anonymous")) };
            let text = format!(
                r#"{{"subject":{},"clientId":{},"scopes":{},"source":"{}"}}"#,
                sonic_rs::to_string(&id.subject)?,
                sonic_rs::to_string(&id.client_id)?,
                sonic_rs::to_string(&id.scopes)?,
                id.source.as_str()
            );
            Ok(CallToolResult::text(text))
        })
}
