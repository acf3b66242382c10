//! The library API: build a server from tools, resources, prompts and completions, then run
//! it with [`Server::serve`] (TCP, one executor per core) or [`Server::stdio`].
//!
//! ```
//! use ringmcp::{CallToolResult, Server, Tool};
//!
//! let server = Server::builder("my-server", "1.0.0")
//!     .tool(
//!         Tool::builder("shout", "Upper-cases text")
//!             // ringmcp::json keeps the key order as written (sonic_rs::json! does not).
//!             .input_schema(ringmcp::json(
//!                 r#"{"type":"object","properties":{"text":{"type":"string"}},"required":["text"]}"#,
//!             ))
//!             .sync_handler(|call| Ok(CallToolResult::text(call.str("text")?.to_uppercase()))),
//!     )
//!     .build();
//! // One request, answered without any socket (what every transport does per line):
//! let out = server.handle_lines(concat!(
//!     r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"doc","version":"0"}}}"#, "\n",
//!     r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"shout","arguments":{"text":"hi"}}}"#, "\n",
//! ));
//! assert!(out.lines().nth(1).unwrap().contains(r#""text":"HI""#));
//! // To run it for real: server.serve(settings) or server.stdio(settings).
//! ```

pub mod handle;

pub use crate::mcp::catalog::{completion, content, prompt, resource, tool, CacheHint, CacheScope, Catalog};

use completion::Completion;
use handle::ServerHandle;
use prompt::Prompt;
use resource::{Resource, ResourceTemplate};
use std::sync::Arc;
use tool::Tool;

/// A server definition: cheap to clone, run with [`Server::serve`] or [`Server::stdio`].
#[derive(Clone)]
pub struct Server {
    pub(crate) catalog: Arc<Catalog>,
    handle: ServerHandle,
}

/// Builds a [`Server`].
pub struct ServerBuilder {
    catalog: Catalog,
    handle: ServerHandle,
}

impl Server {
    /// Starts a server named `name` (its `serverInfo`).
    pub fn builder(name: &str, version: &str) -> ServerBuilder {
        let catalog = Catalog::new(name, version);
        ServerBuilder { handle: ServerHandle::new(catalog.clone()), catalog }
    }

    /// The catalog this server was built with.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// A handle to change what the running server offers.
    pub fn handle(&self) -> ServerHandle {
        self.handle.clone()
    }

    /// What every core starts with: the catalog now (with the handle's changes), and the
    /// stream of later changes.
    pub(crate) fn attach(&self) -> (Arc<Catalog>, flume::Receiver<handle::Change>) {
        let changes = self.handle.subscribe();
        (self.handle.catalog(), changes)
    }
}

impl ServerBuilder {
    /// Caching hints of `server/discover` and the list methods for 2026-07-28 clients
    /// (default [`CacheHint::LISTS`]).
    pub fn list_cache(mut self, hint: CacheHint) -> Self {
        self.catalog.list_cache = hint;
        self
    }

    /// Caching hints of `resources/read` for resources that set none (default
    /// [`CacheHint::READS`]).
    pub fn read_cache(mut self, hint: CacheHint) -> Self {
        self.catalog.read_cache = hint;
        self
    }

    /// `instructions` for the client, returned by `initialize` and `server/discover`.
    pub fn instructions(mut self, text: &str) -> Self {
        self.catalog.instructions = Some(text.to_string());
        self
    }

    /// Adds a tool; a later tool of the same name replaces the earlier one.
    pub fn tool(mut self, tool: Tool) -> Self {
        self.catalog.insert_tool(tool);
        self
    }

    /// Adds a fixed-URI resource; a later one with the same URI replaces it.
    pub fn resource(mut self, resource: Resource) -> Self {
        self.catalog.insert_resource(resource);
        self
    }

    /// Adds a resource template (matched in registration order, after fixed URIs).
    pub fn resource_template(mut self, template: ResourceTemplate) -> Self {
        self.catalog.templates.push(template);
        self
    }

    /// Adds a prompt; a later one of the same name replaces it.
    pub fn prompt(mut self, prompt: Prompt) -> Self {
        self.catalog.insert_prompt(prompt);
        self
    }

    /// Adds a completion provider for one argument of a prompt or template.
    pub fn completion(mut self, completion: Completion) -> Self {
        self.catalog.insert_completion(completion);
        self
    }

    /// A handle to change the server once it runs (tools may capture it).
    pub fn handle(&self) -> ServerHandle {
        self.handle.clone()
    }

    /// Finishes the server.
    pub fn build(self) -> Server {
        self.handle.set_catalog(self.catalog.clone());
        Server { catalog: Arc::new(self.catalog), handle: self.handle }
    }
}
