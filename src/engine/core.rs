//! One core's state. Everything here is owned by a single executor thread and touched by
//! nobody else: the queue, the buffer pool, the read scratch buffer, the registry slice.

use super::pool::BufferPool;
use super::queue::Queue;
use crate::api::Catalog;
use crate::config::Settings;
use crate::mcp::Session;
use ringmcp_shards::{Expiry, Registry, RegistryError, SessionId, ShardMap};
use std::cell::{Cell, RefCell};
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::rc::Rc;
use std::sync::Arc;
use std::task::Waker;
use std::time::Instant;

/// What the registry keeps per session on this core.
#[derive(Clone)]
pub(crate) struct SessionEntry {
    /// The session's MCP state; the connection holds the other `Rc`.
    pub session: Rc<RefCell<Session>>,
    /// Wakes the connection's task (to start draining).
    pub waker: Rc<RefCell<Option<Waker>>>,
}

/// The per-core context every connection task of the core holds an `Rc` of.
pub(crate) struct CoreCtx {
    pub core: usize,
    pub catalog: Arc<Catalog>,
    pub page_size: usize,
    pub max_message_bytes: usize,
    pub max_inflight: usize,
    pub queue: Queue,
    pub pool: RefCell<BufferPool>,
    /// Read buffer shared by all connections of the core. It is only borrowed during one
    /// non-blocking `recv` and the parse that follows, never across an await, so an idle
    /// connection holds no buffer at all.
    pub scratch: RefCell<Vec<u8>>,
    pub registry: RefCell<Registry<SessionEntry>>,
    pub draining: Cell<bool>,
    /// Benchmark ceiling mode: every line is written back as is, with no JSON or MCP work.
    pub raw_echo: bool,
    /// Open connections (or stdio sessions) on this core.
    pub open: Cell<usize>,
    ids: RefCell<IdSource>,
    started: Instant,
}

impl CoreCtx {
    pub fn new(core: usize, cores: usize, settings: &Settings, catalog: Arc<Catalog>) -> CoreCtx {
        let map = ShardMap::new(settings.shard_count as u32, cores).expect("shard_count validated against cores");
        CoreCtx {
            core,
            catalog,
            page_size: settings.list_page_size as usize,
            max_message_bytes: settings.max_message_bytes as usize,
            max_inflight: settings.max_inflight_per_connection as usize,
            queue: Queue::new(
                core,
                settings.queue_capacity as usize,
                settings.queue_warn_at(),
                settings.queue_reject_at(),
                settings.overload_retry_after_ms,
            ),
            pool: RefCell::new(BufferPool::new(
                settings.buffer_bytes as usize,
                settings.pool_buffers_per_core as usize,
            )),
            scratch: RefCell::new(vec![0; settings.buffer_bytes as usize]),
            registry: RefCell::new(Registry::new(map, core, settings.max_sessions_per_core as usize)),
            draining: Cell::new(false),
            raw_echo: false,
            open: Cell::new(0),
            ids: RefCell::new(IdSource::new()),
            started: Instant::now(),
        }
    }

    /// Milliseconds since the core started (the registry's clock).
    pub fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Mints a session id this core owns and registers a new session under it.
    pub fn open_session(&self) -> Result<SessionEntry, RegistryError> {
        let mut registry = self.registry.borrow_mut();
        let id = registry.mint_id(&mut || self.ids.borrow_mut().next())?;
        let session = Rc::new(RefCell::new(Session::new(id, self.core)));
        let waker = Rc::new(RefCell::new(None));
        let entry = SessionEntry { session, waker };
        registry.insert(id, entry.clone(), Expiry::Never, self.now_ms())?;
        Ok(entry)
    }

    /// Forgets a session whose connection closed.
    pub fn close_session(&self, id: &SessionId) {
        let removed = self.registry.borrow_mut().remove(id);
        debug_assert!(removed.is_some(), "session {id} closed twice");
    }

    /// Starts draining: no new requests are read; every connection is woken to finish.
    pub fn start_drain(&self) {
        self.draining.set(true);
        for (_, entry) in self.registry.borrow().iter() {
            if let Some(w) = entry.waker.borrow_mut().take() {
                w.wake();
            }
        }
    }
}

/// Unguessable session ids: SipHash keyed by the OS's randomness (std's `RandomState`) over a
/// counter, which is a PRF, so ids cannot be predicted from earlier ones.
struct IdSource {
    keys: (RandomState, RandomState),
    counter: u64,
}

impl IdSource {
    fn new() -> IdSource {
        IdSource { keys: (RandomState::new(), RandomState::new()), counter: 0 }
    }

    fn next(&mut self) -> u128 {
        self.counter += 1;
        let half = |k: &RandomState| {
            let mut h = k.build_hasher();
            h.write_u64(self.counter);
            h.finish()
        };
        ((half(&self.keys.0) as u128) << 64) | half(&self.keys.1) as u128
    }
}
