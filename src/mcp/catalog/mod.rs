//! What a server offers, as the protocol core serves it: tools, resources and templates,
//! prompts, completions, and the caching hints of 2026-07-28. The library API (`crate::api`)
//! builds a [`Catalog`] and re-exports these types; nothing here imports it.

pub mod completion;
pub mod content;
mod finite;
pub mod prompt;
pub mod resource;
pub mod tool;

use completion::{Completion, CompletionRef};
use prompt::Prompt;
use resource::{Resource, ResourceTemplate};
use std::collections::HashMap;
use tool::Tool;

/// Up to this many tools, comparing names one by one beats hashing the name (the common case
/// of a few tools is on every `tools/call`).
const LINEAR_LOOKUP_MAX: usize = 8;

/// Everything a server offers. Each core keeps its own copy (cloning shares the handlers).
#[derive(Clone)]
pub struct Catalog {
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) instructions: Option<String>,
    pub(crate) tools: Vec<Tool>,
    tool_index: HashMap<String, usize>,
    pub(crate) resources: Vec<Resource>,
    resource_index: HashMap<String, usize>,
    pub(crate) templates: Vec<ResourceTemplate>,
    pub(crate) prompts: Vec<Prompt>,
    prompt_index: HashMap<String, usize>,
    completions: HashMap<(CompletionRef, String), Completion>,
    pub(crate) list_cache: CacheHint,
    pub(crate) read_cache: CacheHint,
    /// Tools that declare the scopes their calls need ([`crate::mcp::catalog::tool::ToolBuilder::scopes`]).
    scoped_tools: usize,
}

/// How long a 2026-07-28 client may keep a result (`ttlMs`) and with whom it may share it
/// (`cacheScope`): sent on `server/discover`, the list methods and `resources/read`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheHint {
    /// Milliseconds the result stays fresh; 0: use it once.
    pub ttl_ms: u64,
    /// Whether caches shared between users may keep it.
    pub scope: CacheScope,
}

/// `cacheScope` of a [`CacheHint`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheScope {
    /// The same for every user: shared caches may keep it.
    Public,
    /// Only the requesting user's cache may keep it.
    Private,
}

impl CacheHint {
    /// Default of the list methods and `server/discover`: the same for everyone, not cached
    /// (lists change at run time; clients learn of it on `subscriptions/listen`).
    pub const LISTS: CacheHint = CacheHint { ttl_ms: 0, scope: CacheScope::Public };
    /// Default of `resources/read`: not cached, and only for the user who read it.
    pub const READS: CacheHint = CacheHint { ttl_ms: 0, scope: CacheScope::Private };

    /// `,"ttlMs":N,"cacheScope":"…"` for a result.
    pub(crate) fn write_fields(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"\"ttlMs\":");
        out.extend_from_slice(itoa::Buffer::new().format(self.ttl_ms).as_bytes());
        out.extend_from_slice(match self.scope {
            CacheScope::Public => b",\"cacheScope\":\"public\"".as_slice(),
            CacheScope::Private => b",\"cacheScope\":\"private\"".as_slice(),
        });
    }
}

impl Catalog {
    /// An empty catalog of the server `name` (its `serverInfo`).
    pub(crate) fn new(name: &str, version: &str) -> Catalog {
        Catalog {
            name: name.to_string(),
            version: version.to_string(),
            instructions: None,
            tools: Vec::new(),
            tool_index: HashMap::new(),
            resources: Vec::new(),
            resource_index: HashMap::new(),
            templates: Vec::new(),
            prompts: Vec::new(),
            prompt_index: HashMap::new(),
            completions: HashMap::new(),
            list_cache: CacheHint::LISTS,
            read_cache: CacheHint::READS,
            scoped_tools: 0,
        }
    }

    /// A tool by name.
    pub fn tool(&self, name: &str) -> Option<&Tool> {
        if self.tools.len() <= LINEAR_LOOKUP_MAX {
            return self.tools.iter().find(|t| t.name == name);
        }
        self.tool_index.get(name).map(|&i| &self.tools[i])
    }

    /// A fixed-URI resource.
    pub fn resource(&self, uri: &str) -> Option<&Resource> {
        self.resource_index.get(uri).map(|&i| &self.resources[i])
    }

    /// A prompt by name.
    pub fn prompt(&self, name: &str) -> Option<&Prompt> {
        self.prompt_index.get(name).map(|&i| &self.prompts[i])
    }

    /// The completion provider of one argument, if any.
    pub fn completion(&self, target: &CompletionRef, argument: &str) -> Option<&Completion> {
        self.completions.get(&(target.clone(), argument.to_string()))
    }

    /// Whether any tool may run as a task (the `tasks` capability).
    pub fn has_task_tools(&self) -> bool {
        self.tools.iter().any(|t| t.task_support != tool::TaskSupport::Forbidden)
    }

    /// Whether any completion provider is registered (the `completions` capability).
    pub fn has_completions(&self) -> bool {
        !self.completions.is_empty()
    }
}

impl Catalog {
    pub(crate) fn insert_tool(&mut self, tool: Tool) {
        upsert(&mut self.tools, &mut self.tool_index, tool.name.clone(), tool);
        self.scoped_tools = self.tools.iter().filter(|t| !t.scopes.is_empty()).count();
    }

    pub(crate) fn remove_tool(&mut self, name: &str) -> bool {
        let removed = remove(&mut self.tools, &mut self.tool_index, name, |t| &t.name);
        self.scoped_tools = self.tools.iter().filter(|t| !t.scopes.is_empty()).count();
        removed
    }

    /// Whether some tool declares the scopes its calls need (then authorization reads a
    /// `tools/call`'s tool name).
    pub fn has_scoped_tools(&self) -> bool {
        self.scoped_tools > 0
    }

    /// The scopes a call of tool `name` needs by its own declaration (none for an unknown tool).
    pub fn tool_scopes(&self, name: &str) -> &[String] {
        self.tool(name).map_or(&[], |t| t.scopes.as_slice())
    }

    pub(crate) fn insert_resource(&mut self, resource: Resource) {
        upsert(&mut self.resources, &mut self.resource_index, resource.uri.clone(), resource);
    }

    pub(crate) fn remove_resource(&mut self, uri: &str) -> bool {
        remove(&mut self.resources, &mut self.resource_index, uri, |r| &r.uri)
    }

    pub(crate) fn insert_prompt(&mut self, prompt: Prompt) {
        upsert(&mut self.prompts, &mut self.prompt_index, prompt.name.clone(), prompt);
    }

    pub(crate) fn remove_prompt(&mut self, name: &str) -> bool {
        remove(&mut self.prompts, &mut self.prompt_index, name, |p| &p.name)
    }

    pub(crate) fn insert_completion(&mut self, completion: Completion) {
        let key = (completion.target.clone(), completion.argument.clone());
        self.completions.insert(key, completion);
    }
}

/// Removes `key`'s item and re-indexes the rest; false if absent.
fn remove<T>(items: &mut Vec<T>, index: &mut HashMap<String, usize>, key: &str, key_of: fn(&T) -> &String) -> bool {
    let Some(i) = index.remove(key) else { return false };
    items.remove(i);
    index.clear();
    index.extend(items.iter().enumerate().map(|(i, item)| (key_of(item).clone(), i)));
    true
}

fn upsert<T>(items: &mut Vec<T>, index: &mut HashMap<String, usize>, key: String, item: T) {
    match index.get(&key) {
        Some(&i) => items[i] = item,
        None => {
            index.insert(key, items.len());
            items.push(item);
        }
    }
}
