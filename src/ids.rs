//! Unguessable ids (sessions, tasks): 128 bits each, straight from the operating system's
//! CSPRNG (`getrandom(2)` on Linux, through the `getrandom` crate). These ids are bearer
//! credentials (the MCP spec asks that session and task ids be cryptographically secure), so
//! nothing derives one id from another: each is 16 fresh bytes of the OS's output.
//!
//! Bytes are drawn [`ID_BATCH_BYTES`] at a time, since one system call per id cost 8× more
//! (see `src/limits.rs`); a byte handed out is wiped from the buffer, so the source never
//! holds an id it already gave.

use crate::limits::ID_BATCH_BYTES;
use ringmcp_shards::SessionId;
use std::fmt;

/// Bytes in one id.
const ID_BYTES: usize = 16;

/// A source of 128-bit ids from the OS's CSPRNG, one per core (no lock, no sharing).
pub struct IdSource {
    /// Random bytes; `buf[used..]` are not handed out yet, `buf[..used]` are zero.
    buf: Box<[u8; ID_BATCH_BYTES]>,
    used: usize,
}

/// The OS random source failed (on Linux only before the kernel's pool is first seeded, which
/// `getrandom(2)` waits out, or with a seccomp filter that forbids the call).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdError(getrandom::Error);

impl fmt::Display for IdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the OS random source failed: {}", self.0)
    }
}

impl std::error::Error for IdError {}

impl Default for IdSource {
    /// An empty source: the first id draws a batch.
    fn default() -> IdSource {
        IdSource { buf: Box::new([0; ID_BATCH_BYTES]), used: ID_BATCH_BYTES }
    }
}

impl IdSource {
    /// The next id: 128 bits from the OS's CSPRNG, not derived from any other id.
    ///
    /// Errors: [`IdError`] when the OS source fails; the next call tries again.
    pub fn next_u128(&mut self) -> Result<u128, IdError> {
        if self.used == ID_BATCH_BYTES {
            getrandom::fill(&mut self.buf[..]).map_err(IdError)?;
            self.used = 0;
        }
        let fresh = &mut self.buf[self.used..self.used + ID_BYTES];
        let id = u128::from_le_bytes(fresh.try_into().expect("ID_BATCH_BYTES is a multiple of 16"));
        fresh.fill(0);
        self.used += ID_BYTES;
        debug_assert!(self.used <= ID_BATCH_BYTES);
        Ok(id)
    }

    /// The next id as 32 lowercase hex digits (the form of task ids).
    pub fn next_hex(&mut self) -> Result<Box<str>, IdError> {
        Ok(format!("{:032x}", self.next_u128()?).into())
    }
}

/// The `Mcp-Session-Id` value of session `id` as clients see it: `NODE.` then the id when the
/// server has a `node_id` (so a balancer can route on the prefix), else the bare id.
pub fn session_header(node: Option<&str>, id: &SessionId) -> String {
    match node {
        Some(node) => format!("{node}.{id}"),
        None => id.as_str().to_string(),
    }
}

/// The session an `Mcp-Session-Id` value names on this node: the inverse of
/// [`session_header`]. `None` when it is malformed or carries no prefix, or another node's
/// (that session is unknown here: 404, and the client starts a new one).
pub fn parse_session_header(node: Option<&str>, value: &[u8]) -> Option<SessionId> {
    let bare = match node {
        Some(node) => value.strip_prefix(node.as_bytes())?.strip_prefix(b".")?,
        None => value,
    };
    SessionId::parse(bare).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringmcp_shards::{Registry, ShardMap, DEFAULT_SHARD_COUNT};
    use std::collections::HashSet;

    #[test]
    fn ids_are_distinct_and_32_hex_digits() {
        let mut ids = IdSource::default();
        let all: HashSet<Box<str>> = (0..1000).map(|_| ids.next_hex().unwrap()).collect();
        assert_eq!(all.len(), 1000);
        assert!(all
            .iter()
            .all(|id| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())));
    }

    #[test]
    fn batches_refill_and_handed_out_bytes_are_wiped() {
        let mut ids = IdSource::default();
        let per_batch = ID_BATCH_BYTES / ID_BYTES;
        let mut seen = HashSet::new();
        for n in 0..3 * per_batch + 1 {
            assert!(seen.insert(ids.next_u128().unwrap()), "id {n} repeated");
            assert_eq!(ids.used, (n % per_batch + 1) * ID_BYTES);
            assert!(ids.buf[..ids.used].iter().all(|&b| b == 0), "a handed-out id is still in the buffer");
        }
        // Two sources share nothing: no id of one shows up in the other.
        let mut other = IdSource::default();
        assert!((0..per_batch).all(|_| !seen.contains(&other.next_u128().unwrap())));
    }

    /// Each of the 128 bit positions is set in about half of 4096 ids: a counter, a constant
    /// half or a stuck byte fails this (the bound is 8 standard deviations, ±256).
    #[test]
    fn every_bit_position_is_set_about_half_the_time() {
        const IDS: u32 = 4096;
        let mut ids = IdSource::default();
        let mut ones = [0u32; 128];
        for _ in 0..IDS {
            let id = ids.next_u128().unwrap();
            for (bit, count) in ones.iter_mut().enumerate() {
                *count += ((id >> bit) & 1) as u32;
            }
        }
        for (bit, count) in ones.iter().enumerate() {
            assert!(count.abs_diff(IDS / 2) <= 256, "bit {bit} set in {count} of {IDS} ids");
        }
    }

    /// Session ids keep today's form and ownership: minted through the registry, each is
    /// 32 hex digits whose shard the minting core owns.
    #[test]
    fn minted_session_ids_land_in_the_minting_cores_shards() {
        let map = ShardMap::new(DEFAULT_SHARD_COUNT, 4).unwrap();
        let mut ids = IdSource::default();
        for core in 0..4 {
            let registry = Registry::<()>::new(map, core, 16);
            for _ in 0..64 {
                let id = registry.mint_id(&mut || ids.next_u128().unwrap()).unwrap();
                assert_eq!(map.owner_of(id.as_bytes()), core);
                assert_eq!(id.as_str().len(), 32);
            }
        }
    }

    /// With a node id the header carries `NODE.` before the id, and what a client sends back
    /// still leads to the minting core's shard; another node's id (or a bare one) is unknown.
    #[test]
    fn node_prefixed_session_ids_map_back_to_the_minting_core() {
        let map = ShardMap::new(DEFAULT_SHARD_COUNT, 4).unwrap();
        let mut ids = IdSource::default();
        for core in 0..4 {
            let registry = Registry::<()>::new(map, core, 16);
            for _ in 0..64 {
                let id = registry.mint_id(&mut || ids.next_u128().unwrap()).unwrap();
                let header = session_header(Some("ringmcp-0"), &id);
                assert_eq!(header, format!("ringmcp-0.{}", id.as_str()));
                let back = parse_session_header(Some("ringmcp-0"), header.as_bytes()).unwrap();
                assert_eq!((back, map.owner_of(back.as_bytes())), (id, core));
                assert_eq!(parse_session_header(Some("ringmcp-1"), header.as_bytes()), None);
                assert_eq!(parse_session_header(Some("ringmcp"), header.as_bytes()), None);
                assert_eq!(parse_session_header(Some("ringmcp-0"), id.as_str().as_bytes()), None);
                assert_eq!(parse_session_header(None, header.as_bytes()), None);
                assert_eq!(session_header(None, &id), id.as_str());
                assert_eq!(parse_session_header(None, id.as_str().as_bytes()), Some(id));
            }
        }
    }
}
