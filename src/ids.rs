//! Unguessable ids (sessions, tasks): SipHash keyed by the OS's randomness (std's
//! `RandomState`) over a counter. That is a PRF, so one id tells nothing about another, as the
//! MCP spec asks of session and task ids.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

/// A source of 128-bit ids; never repeats within a process (the counter is 64-bit).
pub struct IdSource {
    keys: (RandomState, RandomState),
    counter: u64,
}

impl Default for IdSource {
    fn default() -> IdSource {
        IdSource { keys: (RandomState::new(), RandomState::new()), counter: 0 }
    }
}

impl IdSource {
    /// The next id.
    pub fn next_u128(&mut self) -> u128 {
        self.counter += 1;
        let half = |k: &RandomState| {
            let mut h = k.build_hasher();
            h.write_u64(self.counter);
            h.finish()
        };
        (u128::from(half(&self.keys.0)) << 64) | u128::from(half(&self.keys.1))
    }

    /// The next id as 32 lowercase hex digits.
    pub fn next_hex(&mut self) -> Box<str> {
        format!("{:032x}", self.next_u128()).into()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_distinct_and_32_hex_digits() {
        let mut ids = super::IdSource::default();
        let all: std::collections::HashSet<Box<str>> = (0..1000).map(|_| ids.next_hex()).collect();
        assert_eq!(all.len(), 1000);
        assert!(all
            .iter()
            .all(|id| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())));
    }
}
