//! The sharded session registry of ringmcp: which core owns a session, and that core's tables.
//!
//! Every core of a thread-per-core server runs its own executor and shares nothing. Sessions are
//! spread over [`DEFAULT_SHARD_COUNT`] shards by a stable hash of the session id
//! ([`ShardMap::shard_of`]); each shard has exactly one owner core ([`ShardMap::owner`]); each
//! core keeps a [`Registry`] holding only the tables of the shards it owns. A core creating a
//! session mints an id that lands in one of its own shards ([`Registry::mint_id`]), so the requests
//! of that session stay on the core that created it; a request arriving elsewhere is forwarded to
//! [`ShardMap::owner_of`] by the caller.
//!
//! The crate does no I/O and has no clock, no randomness and no threads of its own: time
//! (`now_ms`) and entropy are passed in, which keeps it deterministic and simulation-testable.
//!
//! ```
//! use ringmcp_shards::{Expiry, Registry, SessionId, ShardMap, DEFAULT_SHARD_COUNT};
//!
//! let map = ShardMap::new(DEFAULT_SHARD_COUNT, 4)?;
//! let mut registries: Vec<Registry<&str>> =
//!     (0..map.cores()).map(|core| Registry::new(map, core, 1024)).collect();
//!
//! // Entropy belongs to the caller (a CSPRNG in the server); a fixed sequence here.
//! let mut state: u128 = 0;
//! let mut random = move || {
//!     state = state.wrapping_add(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835);
//!     state
//! };
//!
//! // Core 2 creates an HTTP session that expires after 30 s without activity.
//! let id = registries[2].mint_id(&mut random)?;
//! assert_eq!(map.owner_of(id.as_bytes()), 2);
//! registries[2].insert(id, "alice", Expiry::IdleMs(30_000), 0)?;
//!
//! // The client sends the id back in a header; whichever core receives it routes to the owner.
//! let parsed = SessionId::parse(id.as_str().as_bytes())?;
//! let owner = map.owner_of(parsed.as_bytes());
//! assert!(registries[0].get(&parsed, 1_000).is_none()); // core 0 does not hold shard of `id`
//! assert_eq!(registries[owner].get_mut(&parsed, 1_000).copied(), Some("alice"));
//!
//! // 30 s after the last activity the session is gone, and the sweep hands it back for cleanup.
//! assert!(registries[owner].get(&parsed, 31_000).is_none());
//! let expired = registries[owner].expire_idle(31_000, 64);
//! assert_eq!(expired, vec![(id, "alice")]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::{BTreeSet, HashMap};
use std::fmt;

/// Shard count used unless configured otherwise: enough shards that cores get near-equal shares
/// (256 shards over 12 cores differ by at most one shard, about 5%), few enough to stay cheap.
pub const DEFAULT_SHARD_COUNT: u32 = 256;

/// Largest accepted shard count. Keeps the per-core table vector small and shard numbers in `u32`.
pub const SHARD_COUNT_MAX: u32 = 65_536;

/// Length in bytes of a [`SessionId`]: the lowercase hex of 128 random bits.
pub const SESSION_ID_LEN: usize = 32;

/// Most random draws [`Registry::mint_id`] makes before giving up. With `c` cores a draw is
/// accepted with probability about `1/c`, so even at 65 536 cores 4096 draws fail only on
/// broken entropy; at 8 cores the chance of exhaustion is about `(7/8)^4096 ≈ 10^-237`.
pub const MINT_ATTEMPTS_MAX: u32 = 4096;

/// Maps keys to shards and shards to cores. Copy, cheap; every core holds the same map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShardMap {
    /// A power of two in `1..=SHARD_COUNT_MAX`, so `shard_of` is a mask, not a division.
    shard_count: u32,
    /// In `1..=shard_count`, so every core owns at least one shard.
    cores: usize,
}

impl ShardMap {
    /// Creates the map of `shard_count` shards over `cores` cores.
    ///
    /// Errors: [`ShardError::ShardCountNotPowerOfTwo`] (including 0),
    /// [`ShardError::ShardCountOutOfRange`] above [`SHARD_COUNT_MAX`], [`ShardError::NoCores`]
    /// for 0 cores, [`ShardError::MoreCoresThanShards`] when a core would own no shard.
    pub fn new(shard_count: u32, cores: usize) -> Result<ShardMap, ShardError> {
        if !shard_count.is_power_of_two() {
            return Err(ShardError::ShardCountNotPowerOfTwo { got: shard_count });
        }
        if shard_count > SHARD_COUNT_MAX {
            return Err(ShardError::ShardCountOutOfRange { got: shard_count, max: SHARD_COUNT_MAX });
        }
        if cores == 0 {
            return Err(ShardError::NoCores);
        }
        if cores > shard_count as usize {
            return Err(ShardError::MoreCoresThanShards { cores, shards: shard_count });
        }
        Ok(ShardMap { shard_count, cores })
    }

    /// Number of shards: a power of two in `1..=SHARD_COUNT_MAX`.
    pub fn shard_count(&self) -> u32 {
        self.shard_count
    }

    /// Number of cores the shards are spread over: in `1..=shard_count()`.
    pub fn cores(&self) -> usize {
        self.cores
    }

    /// The shard of `key`, in `0..shard_count()`.
    ///
    /// The hash is FNV-1a 64 over the bytes followed by the murmur3 `fmix64` finalizer (FNV alone
    /// mixes its low bits poorly, and the mask keeps only low bits). It is part of the contract:
    /// the same key gives the same shard across runs, processes, machines and endianness, unlike
    /// std's seeded `RandomState`. Known-answer tests pin it.
    pub fn shard_of(&self, key: &[u8]) -> u32 {
        let shard = (stable_hash(key) & u64::from(self.shard_count - 1)) as u32;
        debug_assert!(shard < self.shard_count);
        shard
    }

    /// The one core that owns `shard`: `shard % cores()`.
    ///
    /// Round-robin rather than contiguous ranges, so the owned shards of any two cores differ
    /// in number by at most one whatever the core count. Panics if `shard >= shard_count()`.
    pub fn owner(&self, shard: u32) -> usize {
        assert!(shard < self.shard_count, "shard {shard} out of range 0..{}", self.shard_count);
        shard as usize % self.cores
    }

    /// The core that owns the shard of `key`: `owner(shard_of(key))`.
    pub fn owner_of(&self, key: &[u8]) -> usize {
        self.owner(self.shard_of(key))
    }

    /// The shards `core` owns, ascending: `core, core + cores(), core + 2 * cores(), ...`.
    ///
    /// Panics if `core >= cores()`.
    pub fn owned_shards(&self, core: usize) -> impl Iterator<Item = u32> {
        assert!(core < self.cores, "core {core} out of range 0..{}", self.cores);
        // Both fit in u32: core < cores <= shard_count <= SHARD_COUNT_MAX.
        (core as u32..self.shard_count).step_by(self.cores)
    }

    /// How many shards `core` owns; at least one since `cores <= shard_count`.
    fn owned_shard_count(&self, core: usize) -> usize {
        debug_assert!(core < self.cores);
        let count = (self.shard_count as usize - core).div_ceil(self.cores);
        debug_assert!(count >= 1);
        count
    }
}

/// A session id: 32 bytes of lowercase hex encoding 128 random bits.
///
/// Unguessable when minted from a CSPRNG, visible ASCII so it can travel in an
/// `Mcp-Session-Id` header as is, and fixed-size so it is `Copy` and hashes cheaply.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId([u8; SESSION_ID_LEN]);

impl SessionId {
    /// The id as text; always [`SESSION_ID_LEN`] lowercase hex characters.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("a session id is ASCII hex by construction")
    }

    /// The id as bytes; the key to pass to [`ShardMap::shard_of`] and [`ShardMap::owner_of`].
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Parses an id a client sent back (e.g. an `Mcp-Session-Id` header value).
    ///
    /// Strict: exactly [`SESSION_ID_LEN`] bytes of `[0-9a-f]`. Uppercase is rejected rather than
    /// folded, since every id this crate mints is lowercase and ids compare bytewise.
    /// Errors: [`SessionIdError::WrongLength`], [`SessionIdError::InvalidByte`] (the first one).
    pub fn parse(s: &[u8]) -> Result<SessionId, SessionIdError> {
        let bytes: [u8; SESSION_ID_LEN] = s.try_into().map_err(|_| SessionIdError::WrongLength { got: s.len() })?;
        if let Some(index) = bytes.iter().position(|&byte| !is_lower_hex(byte)) {
            return Err(SessionIdError::InvalidByte { index, byte: bytes[index] });
        }
        Ok(SessionId(bytes))
    }

    /// The id of 128 random bits: their lowercase hex, most significant nibble first.
    pub fn from_random(bits: u128) -> SessionId {
        const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut bytes = [0u8; SESSION_ID_LEN];
        for (index, byte) in bytes.iter_mut().enumerate() {
            let shift = 4 * (SESSION_ID_LEN - 1 - index);
            *byte = HEX_DIGITS[((bits >> shift) & 0xf) as usize];
        }
        debug_assert!(bytes.iter().all(|&byte| is_lower_hex(byte)));
        SessionId(bytes)
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// When a session may be dropped for inactivity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expiry {
    /// Never idle-expires: for a session bound to a live connection, whose close removes it.
    Never,
    /// Expires once `now_ms - last_seen_ms >= ms` (deadlines saturate at `u64::MAX`). For HTTP
    /// sessions, whose client may vanish without a word. `IdleMs(0)` is expired at once.
    IdleMs(u64),
}

/// One core's slice of the registry: only the tables of the shards this core owns.
///
/// Holds at most `capacity` sessions. Sessions past their idle deadline are invisible to
/// [`get`](Registry::get)/[`get_mut`](Registry::get_mut) at once, but keep their slot (counted by
/// [`len`](Registry::len), yielded by [`iter`](Registry::iter)) until [`remove`](Registry::remove)
/// or [`expire_idle`](Registry::expire_idle) hands the value back, so the caller can clean up.
pub struct Registry<V> {
    map: ShardMap,
    core: usize,
    capacity: usize,
    /// Sum of the table lengths.
    len: usize,
    /// `tables[i]` holds shard `core + i * cores`, so the index of shard `s` is `s / cores`.
    tables: Vec<HashMap<SessionId, Entry<V>>>,
    /// One `(indexed_deadline_ms, id)` record per `IdleMs` session. Lazy: activity does not
    /// re-key it (that would cost two tree operations per request); `expire_idle` re-keys
    /// a record when it comes due for a session that was active since. So a record's key is at
    /// most the session's real deadline, and due records are a superset of expired sessions.
    deadlines: BTreeSet<(u64, SessionId)>,
}

struct Entry<V> {
    value: V,
    expiry: Expiry,
    last_seen_ms: u64,
    /// The key of this session's record in `deadlines`; meaningless for `Expiry::Never`.
    indexed_deadline_ms: u64,
}

impl<V> Registry<V> {
    /// Creates the empty registry of `core`, with one table per shard `core` owns in `map`.
    ///
    /// `capacity` is the most sessions this core will hold. Tables grow on demand rather than
    /// being sized for `capacity` upfront, so cores that see few sessions stay small.
    /// Panics if `capacity == 0` or `core >= map.cores()`.
    pub fn new(map: ShardMap, core: usize, capacity: usize) -> Registry<V> {
        assert!(capacity >= 1, "registry capacity must be at least 1");
        assert!(core < map.cores(), "core {core} out of range 0..{}", map.cores());
        let tables = (0..map.owned_shard_count(core)).map(|_| HashMap::new()).collect();
        Registry { map, core, capacity, len: 0, tables, deadlines: BTreeSet::new() }
    }

    /// The core this registry belongs to.
    pub fn core(&self) -> usize {
        self.core
    }

    /// The shard map this registry was built over.
    pub fn map(&self) -> ShardMap {
        self.map
    }

    /// Sessions held, including idle-expired ones not yet removed or swept.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no session is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The most sessions this registry holds; [`insert`](Registry::insert) fails beyond it.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Picks a fresh id whose shard this core owns and that is not held here.
    ///
    /// Draws 128-bit values from `random` (which must be unpredictable: ids are bearer tokens) and
    /// rejects ids of other cores' shards. Pure: does not insert, so the id stays fresh only until
    /// this core inserts something else. Errors: [`RegistryError::MintExhausted`] after
    /// [`MINT_ATTEMPTS_MAX`] draws, which only broken entropy makes happen.
    pub fn mint_id(&self, random: &mut dyn FnMut() -> u128) -> Result<SessionId, RegistryError> {
        for _ in 0..MINT_ATTEMPTS_MAX {
            let id = SessionId::from_random(random());
            if let Ok(index) = self.table_index(&id) {
                if !self.tables[index].contains_key(&id) {
                    return Ok(id);
                }
            }
        }
        Err(RegistryError::MintExhausted)
    }

    /// Adds session `id` with `value`, last seen at `now_ms`.
    ///
    /// Errors, checked in this order: [`RegistryError::NotOwned`] if `id`'s shard belongs to
    /// another core; [`RegistryError::Duplicate`] if `id` is held, even idle-expired (its value is
    /// still owed to the caller by `remove`/`expire_idle`); [`RegistryError::Full`] at capacity.
    pub fn insert(&mut self, id: SessionId, value: V, expiry: Expiry, now_ms: u64) -> Result<(), RegistryError> {
        let index = match self.table_index(&id) {
            Ok(index) => index,
            Err(shard) => {
                let owner = self.map.owner(shard);
                return Err(RegistryError::NotOwned { shard, owner, core: self.core });
            }
        };
        if self.tables[index].contains_key(&id) {
            return Err(RegistryError::Duplicate);
        }
        if self.len >= self.capacity {
            debug_assert_eq!(self.len, self.capacity);
            return Err(RegistryError::Full { capacity: self.capacity });
        }
        let mut entry = Entry { value, expiry, last_seen_ms: now_ms, indexed_deadline_ms: 0 };
        if let Some(deadline_ms) = entry.deadline_ms() {
            entry.indexed_deadline_ms = deadline_ms;
            let fresh = self.deadlines.insert((deadline_ms, id));
            assert!(fresh, "deadline record of {id} outlived its session");
        }
        let previous = self.tables[index].insert(id, entry);
        debug_assert!(previous.is_none());
        self.len += 1;
        Ok(())
    }

    /// Looks up `id` as activity: refreshes its last-seen time to `now_ms`.
    ///
    /// `None` if `id` is not held, belongs to another core's shard, or is idle-expired at `now_ms`
    /// (even if no sweep has removed it yet). Last-seen never moves backwards, so a stale `now_ms`
    /// from a lagging clock cannot shorten a session's life.
    pub fn get_mut(&mut self, id: &SessionId, now_ms: u64) -> Option<&mut V> {
        let index = self.table_index(id).ok()?;
        let entry = self.tables[index].get_mut(id)?;
        if entry.is_expired(now_ms) {
            return None;
        }
        // The deadline record is left as is: its key only ever lags the real deadline (lazy).
        entry.last_seen_ms = entry.last_seen_ms.max(now_ms);
        Some(&mut entry.value)
    }

    /// Looks up `id` without counting as activity; same `None` cases as
    /// [`get_mut`](Registry::get_mut).
    pub fn get(&self, id: &SessionId, now_ms: u64) -> Option<&V> {
        let index = self.table_index(id).ok()?;
        let entry = self.tables[index].get(id)?;
        if entry.is_expired(now_ms) {
            return None;
        }
        Some(&entry.value)
    }

    /// Changes when `id` expires, counting from its last activity (which this does not refresh):
    /// e.g. a session admitted with a short handshake deadline gets its long idle timeout once
    /// the client shows up again.
    ///
    /// `false`, changing nothing, if `id` is not held, belongs to another core's shard, or is
    /// idle-expired at `now_ms` (an expired session is never revived). Costs `O(log len)`.
    pub fn set_expiry(&mut self, id: &SessionId, expiry: Expiry, now_ms: u64) -> bool {
        let Ok(index) = self.table_index(id) else { return false };
        let Some(entry) = self.tables[index].get_mut(id) else { return false };
        if entry.is_expired(now_ms) {
            return false;
        }
        let indexed = entry.deadline_ms().map(|_| entry.indexed_deadline_ms);
        entry.expiry = expiry;
        match (indexed, entry.deadline_ms()) {
            (None, None) => {}
            // A later deadline keeps its record: a record's key may lag the real deadline (lazy).
            (Some(indexed_ms), Some(deadline_ms)) if indexed_ms <= deadline_ms => {}
            (indexed, deadline) => {
                if let Some(indexed_ms) = indexed {
                    let found = self.deadlines.remove(&(indexed_ms, *id));
                    assert!(found, "session {id} had no deadline record");
                }
                if let Some(deadline_ms) = deadline {
                    entry.indexed_deadline_ms = deadline_ms;
                    let fresh = self.deadlines.insert((deadline_ms, *id));
                    assert!(fresh, "deadline record of {id} outlived its session");
                }
            }
        }
        true
    }

    /// Removes `id` and returns its value, even if idle-expired (the caller still has to clean it
    /// up). `None` if not held here.
    pub fn remove(&mut self, id: &SessionId) -> Option<V> {
        let index = self.table_index(id).ok()?;
        let entry = self.tables[index].remove(id)?;
        if entry.deadline_ms().is_some() {
            let found = self.deadlines.remove(&(entry.indexed_deadline_ms, *id));
            assert!(found, "session {id} had no deadline record");
        }
        self.len -= 1;
        Some(entry.value)
    }

    /// Removes up to `max` sessions idle-expired at `now_ms` and returns them for cleanup,
    /// earliest indexed deadline first.
    ///
    /// Bounded work: besides the at most `max` removals, it re-keys at most `max` deadline records
    /// of sessions that were active since they were indexed, so one call costs `O(max log len)`.
    /// It may therefore return fewer than `max` while expired sessions remain; call it again on
    /// the next tick. With `max == usize::MAX` it sweeps every expired session.
    pub fn expire_idle(&mut self, now_ms: u64, max: usize) -> Vec<(SessionId, V)> {
        let mut expired = Vec::new();
        let mut rekeyed: usize = 0;
        while expired.len() < max && rekeyed < max {
            let Some(&(indexed_deadline_ms, id)) = self.deadlines.first() else {
                break;
            };
            if indexed_deadline_ms > now_ms {
                break;
            }
            self.deadlines.pop_first();
            let index = self.table_index(&id).expect("only owned sessions are indexed");
            let entry = self.tables[index].get_mut(&id).expect("a deadline record has a session");
            assert_eq!(entry.indexed_deadline_ms, indexed_deadline_ms);
            let deadline_ms = entry.deadline_ms().expect("only IdleMs sessions are indexed");
            if now_ms >= deadline_ms {
                let entry = self.tables[index].remove(&id).expect("looked up just above");
                self.len -= 1;
                expired.push((id, entry.value));
            } else {
                // Active since indexed: its real deadline is later, and past now_ms, so this
                // record cannot come due again in this call.
                debug_assert!(deadline_ms > indexed_deadline_ms);
                entry.indexed_deadline_ms = deadline_ms;
                self.deadlines.insert((deadline_ms, id));
                rekeyed += 1;
            }
        }
        expired
    }

    /// Every held session with its value, including idle-expired ones not yet swept (there is no
    /// `now_ms` to judge them by). Order is unspecified.
    pub fn iter(&self) -> impl Iterator<Item = (&SessionId, &V)> + '_ {
        self.tables.iter().flat_map(|table| table.iter().map(|(id, entry)| (id, &entry.value)))
    }

    /// The table index of `id`'s shard, or the shard when another core owns it.
    fn table_index(&self, id: &SessionId) -> Result<usize, u32> {
        let shard = self.map.shard_of(id.as_bytes());
        if self.map.owner(shard) != self.core {
            return Err(shard);
        }
        let index = shard as usize / self.map.cores();
        debug_assert!(index < self.tables.len());
        Ok(index)
    }

    /// Checks every internal invariant; O(len log len), for tests and simulation.
    #[cfg(test)]
    fn verify(&self) {
        assert!(self.len <= self.capacity);
        assert_eq!(self.tables.len(), self.map.owned_shard_count(self.core));
        assert_eq!(self.tables.iter().map(HashMap::len).sum::<usize>(), self.len);
        let mut indexed = 0;
        for (index, table) in self.tables.iter().enumerate() {
            for (id, entry) in table {
                assert_eq!(self.table_index(id), Ok(index), "{id} is in the wrong table");
                if let Some(deadline_ms) = entry.deadline_ms() {
                    indexed += 1;
                    assert!(entry.indexed_deadline_ms <= deadline_ms, "{id} indexed too late");
                    assert!(self.deadlines.contains(&(entry.indexed_deadline_ms, *id)));
                }
            }
        }
        assert_eq!(self.deadlines.len(), indexed, "orphan deadline records");
    }
}

impl<V> fmt::Debug for Registry<V> {
    /// Sizes only: values need not be `Debug`, and dumping 15 000 sessions helps no one.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("core", &self.core)
            .field("len", &self.len)
            .field("capacity", &self.capacity)
            .field("owned_shards", &self.tables.len())
            .finish()
    }
}

impl<V> Entry<V> {
    fn deadline_ms(&self) -> Option<u64> {
        match self.expiry {
            Expiry::Never => None,
            Expiry::IdleMs(idle_ms) => Some(self.last_seen_ms.saturating_add(idle_ms)),
        }
    }

    fn is_expired(&self, now_ms: u64) -> bool {
        self.deadline_ms().is_some_and(|deadline_ms| now_ms >= deadline_ms)
    }
}

/// Why a [`ShardMap`] could not be built: a configuration error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShardError {
    /// The shard count is not a power of two (0 included).
    ShardCountNotPowerOfTwo {
        /// The shard count asked for.
        got: u32,
    },
    /// The shard count is above [`SHARD_COUNT_MAX`].
    ShardCountOutOfRange {
        /// The shard count asked for.
        got: u32,
        /// The largest accepted, [`SHARD_COUNT_MAX`].
        max: u32,
    },
    /// Zero cores were asked for.
    NoCores,
    /// More cores than shards: some core would own no shard and could never mint an id.
    MoreCoresThanShards {
        /// The core count asked for.
        cores: usize,
        /// The shard count asked for.
        shards: u32,
    },
}

impl fmt::Display for ShardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ShardError::ShardCountNotPowerOfTwo { got } => {
                write!(f, "shard count {got} is not a power of two")
            }
            ShardError::ShardCountOutOfRange { got, max } => {
                write!(f, "shard count {got} is out of range 1..={max}")
            }
            ShardError::NoCores => f.write_str("no cores: a shard map needs at least 1 core"),
            ShardError::MoreCoresThanShards { cores, shards } => {
                write!(f, "{cores} cores but only {shards} shards: every core must own at least 1 shard")
            }
        }
    }
}

impl std::error::Error for ShardError {}

/// Why bytes sent by a client are not a [`SessionId`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionIdError {
    /// Not [`SESSION_ID_LEN`] bytes long.
    WrongLength {
        /// The length received, in bytes.
        got: usize,
    },
    /// A byte outside `[0-9a-f]`.
    InvalidByte {
        /// Position of the first offending byte.
        index: usize,
        /// The offending byte.
        byte: u8,
    },
}

impl fmt::Display for SessionIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            SessionIdError::WrongLength { got } => {
                write!(f, "session id is {got} bytes long, expected {SESSION_ID_LEN}")
            }
            SessionIdError::InvalidByte { index, byte } => {
                write!(f, "session id byte {index} is {byte:#04x}, expected lowercase hex [0-9a-f]")
            }
        }
    }
}

impl std::error::Error for SessionIdError {}

/// Why a [`Registry`] operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegistryError {
    /// The registry holds `capacity` sessions already.
    Full {
        /// The registry's capacity, in sessions.
        capacity: usize,
    },
    /// The id's shard belongs to another core: the caller should have routed to `owner`.
    NotOwned {
        /// The id's shard.
        shard: u32,
        /// The core owning that shard.
        owner: usize,
        /// The core of the registry that was asked.
        core: usize,
    },
    /// The id is already held by this registry.
    Duplicate,
    /// [`MINT_ATTEMPTS_MAX`] random draws gave no fresh owned id: the entropy source is broken.
    MintExhausted,
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            RegistryError::Full { capacity } => {
                write!(f, "registry full: {capacity} sessions (capacity {capacity})")
            }
            RegistryError::NotOwned { shard, owner, core } => {
                write!(f, "session shard {shard} is owned by core {owner}, not core {core}")
            }
            RegistryError::Duplicate => f.write_str("session id already in use on this core"),
            RegistryError::MintExhausted => write!(
                f,
                "no fresh session id owned by this core after {MINT_ATTEMPTS_MAX} random draws \
                 (is the entropy source stuck?)"
            ),
        }
    }
}

impl std::error::Error for RegistryError {}

/// FNV-1a 64 over `key`, then murmur3's `fmix64` so every output bit depends on every input bit.
fn stable_hash(key: &[u8]) -> u64 {
    const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut hash = FNV_OFFSET_BASIS;
    for &byte in key {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    fmix64(hash)
}

fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^= k >> 33;
    k
}

fn is_lower_hex(byte: u8) -> bool {
    matches!(byte, b'0'..=b'9' | b'a'..=b'f')
}

#[cfg(test)]
mod simulation;

#[cfg(test)]
mod tests;
