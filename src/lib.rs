//! ringmcp: a Model Context Protocol server engine, thread-per-core on io_uring (glommio).
//!
//! Layers, from the bytes up: [`framing`] (NDJSON lines) → [`jsonrpc`] (one message,
//! borrowed) → [`mcp`] (the protocol core, one file per method) → [`api`] (the tools,
//! resources, prompts and completions you register). Those are I/O-free; [`engine`] runs
//! them on pinned executors over TCP and stdio. See `README.md` for the architecture.
//!
//! Build a server with [`Server::builder`] and run it with [`Server::serve`] or
//! [`Server::stdio`]; the example in [`api`] runs as a doc-test.

pub mod api;
pub mod auth;
pub mod config;
pub mod cpus;
pub mod doctor;
pub mod engine;
pub mod framing;
pub mod http;
pub mod identity;
pub mod ids;
pub mod jsonrpc;
pub mod limits;
pub mod logger;
pub mod mcp;
pub mod memory;
pub mod packs;
mod panics;
pub mod ratelimit;
pub mod scan;
pub mod ws;

pub use api::completion::{Completion, CompletionRef};
pub use api::content::{CallToolResult, Content, GetPromptResult, PromptMessage, ResourceContents, Role};
pub use api::handle::ServerHandle;
pub use api::prompt::Prompt;
pub use api::resource::{Resource, ResourceTemplate};
pub use api::tool::{TaskSupport, Tool, ToolCall, ToolError, ToolResult};
pub use api::{Server, ServerBuilder};
pub use config::Settings;
pub use engine::ServeError;
pub use identity::{Identity, IdentitySource};
pub use ringmcp_ring::{sleep, timeout, Elapsed};

/// Parses JSON text into a `sonic_rs::Value`, keeping the key order as written (the
/// `sonic_rs::json!` macro does not keep it). For literals such as tool schemas.
///
/// Panics on invalid JSON: use it for text known at build time.
pub fn json(text: &str) -> sonic_rs::Value {
    sonic_rs::from_str(text).unwrap_or_else(|e| panic!("invalid JSON literal ({e}): {text}"))
}
