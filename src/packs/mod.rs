//! Built-in packs of tools, resources and prompts, chosen with `--pack NAME`.

pub mod bench;
pub mod conformance;
pub mod conformance_2026;
pub mod conformance_tasks;

use crate::api::Server;

/// The server for a pack name (one of [`crate::config::PACKS`]), with `instructions` if given.
pub fn build(name: &str, instructions: Option<&str>) -> Option<Server> {
    let mut builder = match name {
        "bench" => bench::builder(),
        "conformance" => conformance_tasks::add(conformance_2026::add(conformance::builder())),
        _ => return None,
    };
    if let Some(text) = instructions {
        builder = builder.instructions(text);
    }
    Some(builder.build())
}
