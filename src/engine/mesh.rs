//! Messages between cores. Cores share no state: a Streamable HTTP request that reached a core
//! which does not own its session goes to the owner here, and the answers come back over the
//! channel it carries; scrapes of /health and /metrics ask every core the same way.

use super::mailbox;
use super::metrics::CoreSnapshot;
use super::sse::{Call, Reply};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// One message to a core.
pub(crate) enum CoreMsg {
    /// Serve a Streamable HTTP call for a session this core owns; set the flag when taking it.
    Http(Call, mailbox::Sender<Reply>, Arc<AtomicBool>),
    /// Report this core's counters.
    Scrape(mailbox::Sender<CoreSnapshot>),
}

/// Every core's inbox, indexed by core.
#[derive(Clone, Default)]
pub(crate) struct Mesh {
    inboxes: Vec<mailbox::Sender<CoreMsg>>,
}

impl Mesh {
    /// Inboxes for `cores` cores: the mesh (cloned into every core) and each core's receiver.
    pub fn new(cores: usize) -> (Mesh, Vec<mailbox::Receiver<CoreMsg>>) {
        let (inboxes, receivers) =
            (0..cores).map(|_| mailbox::bounded(crate::limits::MESH_QUEUE_MESSAGES)).unzip::<_, _, Vec<_>, Vec<_>>();
        (Mesh { inboxes }, receivers)
    }

    /// Number of cores (0 for a process without a mesh: stdio, tests).
    pub fn cores(&self) -> usize {
        self.inboxes.len()
    }

    /// Forwards an HTTP call to its session's owner `core`; the flag it returns turns true
    /// when the owner takes the call. `None` if the owner's inbox is full or it has stopped.
    pub fn forward(&self, core: usize, call: Call, reply: mailbox::Sender<Reply>) -> Option<Arc<AtomicBool>> {
        let taken = Arc::new(AtomicBool::new(false));
        self.send(core, CoreMsg::Http(call, reply, taken.clone())).then_some(taken)
    }

    /// Sends to `core`; `false` if its inbox is full or it has stopped.
    pub fn send(&self, core: usize, msg: CoreMsg) -> bool {
        self.inboxes.get(core).is_some_and(|tx| tx.try_send(msg).is_ok())
    }
}
