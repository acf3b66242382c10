//! Changing what a running server offers: add or remove tools, resources and prompts, and
//! tell subscribers that a resource changed. Every core gets the new catalog by message and
//! sends `notifications/{tools,resources,prompts}/list_changed` to its sessions, or
//! `notifications/resources/updated` to the sessions subscribed to the URI.

use super::prompt::Prompt;
use super::resource::Resource;
use super::tool::Tool;
use super::Catalog;
use std::sync::{Arc, Mutex};

/// Which list changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    /// `tools/list`.
    Tools,
    /// `resources/list`.
    Resources,
    /// `prompts/list`.
    Prompts,
}

impl ListKind {
    /// The notification method that tells clients.
    pub fn notification(self) -> &'static str {
        match self {
            ListKind::Tools => "notifications/tools/list_changed",
            ListKind::Resources => "notifications/resources/list_changed",
            ListKind::Prompts => "notifications/prompts/list_changed",
        }
    }
}

/// A change sent to every running core.
#[derive(Clone)]
pub enum Change {
    /// The new catalog, and which list changed.
    Catalog(Arc<Catalog>, ListKind),
    /// The resource at this URI changed.
    ResourceUpdated(String),
}

/// Changes a server while it runs; cheap to clone, usable from any thread (including tool
/// handlers). Get it with [`super::ServerBuilder::handle`] or [`super::Server::handle`].
#[derive(Clone)]
pub struct ServerHandle {
    inner: Arc<Mutex<Inner>>,
}

struct Inner {
    catalog: Arc<Catalog>,
    cores: Vec<flume::Sender<Change>>,
}

impl ServerHandle {
    pub(crate) fn new(catalog: Catalog) -> ServerHandle {
        ServerHandle { inner: Arc::new(Mutex::new(Inner { catalog: Arc::new(catalog), cores: Vec::new() })) }
    }

    /// The catalog now.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.lock().catalog.clone()
    }

    pub(crate) fn set_catalog(&self, catalog: Catalog) {
        self.lock().catalog = Arc::new(catalog);
    }

    /// A running core subscribes to changes.
    pub(crate) fn subscribe(&self) -> flume::Receiver<Change> {
        let (tx, rx) = flume::unbounded();
        let mut inner = self.lock();
        inner.cores.retain(|c| !c.is_disconnected());
        inner.cores.push(tx);
        rx
    }

    /// Adds (or replaces) a tool; sessions get `notifications/tools/list_changed`.
    pub fn add_tool(&self, tool: Tool) {
        self.change(ListKind::Tools, |c| c.insert_tool(tool));
    }

    /// Removes a tool; false if there was none.
    pub fn remove_tool(&self, name: &str) -> bool {
        self.change(ListKind::Tools, |c| c.remove_tool(name))
    }

    /// Adds (or replaces) a resource; sessions get `notifications/resources/list_changed`.
    pub fn add_resource(&self, resource: Resource) {
        self.change(ListKind::Resources, |c| c.insert_resource(resource));
    }

    /// Removes a resource; false if there was none.
    pub fn remove_resource(&self, uri: &str) -> bool {
        self.change(ListKind::Resources, |c| c.remove_resource(uri))
    }

    /// Adds (or replaces) a prompt; sessions get `notifications/prompts/list_changed`.
    pub fn add_prompt(&self, prompt: Prompt) {
        self.change(ListKind::Prompts, |c| c.insert_prompt(prompt));
    }

    /// Removes a prompt; false if there was none.
    pub fn remove_prompt(&self, name: &str) -> bool {
        self.change(ListKind::Prompts, |c| c.remove_prompt(name))
    }

    /// Tells the sessions subscribed to `uri` (`resources/subscribe`) that it changed.
    pub fn resource_updated(&self, uri: &str) {
        self.broadcast(&self.lock(), Change::ResourceUpdated(uri.to_string()));
    }

    fn change<R: ChangeResult>(&self, kind: ListKind, f: impl FnOnce(&mut Catalog) -> R) -> R {
        let mut inner = self.lock();
        let mut catalog = Catalog::clone(&inner.catalog);
        let result = f(&mut catalog);
        if result.changed() {
            inner.catalog = Arc::new(catalog);
            let change = Change::Catalog(inner.catalog.clone(), kind);
            self.broadcast(&inner, change);
        }
        result
    }

    fn broadcast(&self, inner: &Inner, change: Change) {
        for core in &inner.cores {
            let _ = core.send(change.clone());
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves a consistent catalog (changes are applied to a
        // copy first), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Whether a change did anything (a removal of nothing does not notify).
trait ChangeResult {
    fn changed(&self) -> bool;
}

impl ChangeResult for () {
    fn changed(&self) -> bool {
        true
    }
}

impl ChangeResult for bool {
    fn changed(&self) -> bool {
        *self
    }
}
