//! The core's budget for partial frames: bytes read but not yet a whole message (an NDJSON
//! line without its newline, a WebSocket frame, an HTTP head or body), across all of the
//! core's connections. A connection reports what it holds after every read; when the total
//! passes `partial_frame_bytes_per_core`, the connections holding the most are cut first
//! (among equals, the oldest), so that slow or hostile clients cannot grow memory without
//! bound, one partial line at a time.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::task::Waker;

#[derive(Default)]
struct Holder {
    bytes: usize,
    waker: Option<Waker>,
}

/// One core's partial-frame budget.
pub(crate) struct FrameBudget {
    limit_bytes: usize,
    total_bytes: Cell<usize>,
    next_key: Cell<u64>,
    holders: RefCell<HashMap<u64, Holder>>,
    cut: RefCell<HashSet<u64>>,
    cuts: Cell<u64>,
}

impl FrameBudget {
    /// A budget of `limit_bytes` for the whole core.
    pub fn new(limit_bytes: usize) -> FrameBudget {
        assert!(limit_bytes > 0, "a partial-frame budget of zero bytes");
        FrameBudget {
            limit_bytes,
            total_bytes: Cell::new(0),
            next_key: Cell::new(0),
            holders: RefCell::new(HashMap::new()),
            cut: RefCell::new(HashSet::new()),
            cuts: Cell::new(0),
        }
    }

    /// A key for one connection (increasing: a lower key is an older connection).
    pub fn key(&self) -> u64 {
        self.next_key.set(self.next_key.get() + 1);
        self.next_key.get()
    }

    /// The connection `key` now holds `bytes` of partial frames (0: none). Returns false if
    /// it has been cut (now or before): it must close.
    pub fn hold(&self, key: u64, bytes: usize) -> bool {
        if self.cut.borrow().contains(&key) {
            return false;
        }
        let mut holders = self.holders.borrow_mut();
        let before = if bytes == 0 {
            holders.remove(&key).map_or(0, |h| h.bytes)
        } else {
            std::mem::replace(&mut holders.entry(key).or_default().bytes, bytes)
        };
        let total = self.total_bytes.get() - before + bytes;
        self.total_bytes.set(total);
        if total > self.limit_bytes {
            self.cut_largest(&mut holders);
        }
        debug_assert!(self.total_bytes.get() <= self.limit_bytes, "over budget after cutting");
        !self.cut.borrow().contains(&key)
    }

    /// Where to wake the connection `key` when it is cut.
    pub fn watch(&self, key: u64, waker: &Waker) {
        if let Some(h) = self.holders.borrow_mut().get_mut(&key) {
            match &h.waker {
                Some(w) if w.will_wake(waker) => {}
                _ => h.waker = Some(waker.clone()),
            }
        }
    }

    /// Whether the connection `key` has been cut.
    pub fn is_cut(&self, key: u64) -> bool {
        self.cut.borrow().contains(&key)
    }

    /// The connection `key` is gone.
    pub fn release(&self, key: u64) {
        if let Some(h) = self.holders.borrow_mut().remove(&key) {
            self.total_bytes.set(self.total_bytes.get() - h.bytes);
        }
        self.cut.borrow_mut().remove(&key);
    }

    /// Bytes held now, all connections together.
    pub fn total_bytes(&self) -> usize {
        self.total_bytes.get()
    }

    /// Connections cut since start.
    pub fn cuts(&self) -> u64 {
        self.cuts.get()
    }

    fn cut_largest(&self, holders: &mut HashMap<u64, Holder>) {
        let mut order: Vec<(usize, u64)> = holders.iter().map(|(&k, h)| (h.bytes, k)).collect();
        // The most bytes first; among equals the oldest (lowest key).
        order.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let mut cut = self.cut.borrow_mut();
        for (bytes, key) in order {
            if self.total_bytes.get() <= self.limit_bytes {
                break;
            }
            let holder = holders.remove(&key).expect("a listed holder");
            self.total_bytes.set(self.total_bytes.get() - bytes);
            self.cuts.set(self.cuts.get() + 1);
            cut.insert(key);
            if let Some(w) = holder.waker {
                w.wake();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_largest_holders_are_cut_first_and_the_oldest_among_equals() {
        let b = FrameBudget::new(100);
        let (k1, k2, k3, k4) = (b.key(), b.key(), b.key(), b.key());
        assert!(b.hold(k1, 40));
        assert!(b.hold(k2, 30));
        assert!(b.hold(k3, 30));
        assert_eq!(b.total_bytes(), 100);
        // 20 more: k1 (the largest) goes.
        assert!(b.hold(k4, 20));
        assert!(b.is_cut(k1) && !b.hold(k1, 0));
        assert_eq!(b.total_bytes(), 80);
        // k4 grows to 60: total 140; k4 is now the largest and is cut itself.
        assert!(!b.hold(k4, 60));
        assert_eq!(b.total_bytes(), 60);
        assert_eq!(b.cuts(), 2);
        b.release(k2);
        b.release(k3);
        assert_eq!(b.total_bytes(), 0);
    }

    #[test]
    fn among_equal_holders_the_oldest_is_cut() {
        let b = FrameBudget::new(100);
        let (old, young, small) = (b.key(), b.key(), b.key());
        assert!(b.hold(old, 50));
        assert!(b.hold(young, 50));
        assert!(b.hold(small, 10));
        assert!(b.is_cut(old) && !b.is_cut(young) && !b.is_cut(small));
        assert_eq!(b.total_bytes(), 60);
    }

    #[test]
    fn giving_bytes_back_frees_the_budget() {
        let b = FrameBudget::new(10);
        let k = b.key();
        assert!(b.hold(k, 10));
        assert!(b.hold(k, 0));
        assert_eq!(b.total_bytes(), 0);
        let j = b.key();
        assert!(b.hold(j, 10));
        assert!(!b.is_cut(k));
    }
}
