//! The deadlines of one loop, in order: the earliest bounds the ring's wait. Plain data, no
//! loop: [`crate::timer`] puts futures' wakers here, the loop fires them.

use std::collections::BTreeMap;
use std::task::Waker;
use std::time::Instant;

/// One timer: its deadline and a sequence number that tells equal deadlines apart.
pub(crate) type TimerKey = (Instant, u64);

#[derive(Default)]
pub(crate) struct Timers {
    next_seq: u64,
    map: BTreeMap<TimerKey, Waker>,
}

impl Timers {
    /// Wakes `waker` at `at`.
    pub fn insert(&mut self, at: Instant, waker: Waker) -> TimerKey {
        self.next_seq += 1;
        self.map.insert((at, self.next_seq), waker);
        (at, self.next_seq)
    }

    /// Points a live timer at `waker`; false if it has fired or was removed.
    pub fn rewake(&mut self, key: TimerKey, waker: &Waker) -> bool {
        match self.map.get_mut(&key) {
            Some(w) if w.will_wake(waker) => true,
            Some(w) => {
                *w = waker.clone();
                true
            }
            None => false,
        }
    }

    /// Forgets a timer.
    pub fn remove(&mut self, key: TimerKey) {
        self.map.remove(&key);
    }

    /// The earliest deadline.
    pub fn next(&self) -> Option<Instant> {
        self.map.keys().next().map(|&(at, _)| at)
    }

    /// Moves the wakers of every deadline at or before `now` into `wake`.
    pub fn fire(&mut self, now: Instant, wake: &mut Vec<Waker>) {
        while let Some(entry) = self.map.first_entry() {
            if entry.key().0 > now {
                break;
            }
            wake.push(entry.remove());
        }
    }

    /// Every waker (at shutdown, to drop them outside a borrow).
    pub fn take_all(&mut self) -> Vec<Waker> {
        std::mem::take(&mut self.map).into_values().collect()
    }
}
