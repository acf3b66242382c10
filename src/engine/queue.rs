//! Each core's bounded request queue: every admitted request counts until it is answered.
//! At the warn mark the core logs once per crossing and reports degraded; at the reject mark
//! new requests get an overload error at once (never a silent drop, never a second answer).

use crate::jsonrpc::{code, RpcError};
use serde::Serialize;
use std::cell::Cell;

/// `data` of the overload error: when to retry, and the numbers behind the refusal.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OverloadData {
    retry_after_ms: u64,
    queue_depth: usize,
    queue_capacity: usize,
    core: usize,
}

/// Counters for the metrics endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Requests admitted.
    pub admitted: u64,
    /// Requests refused with the overload error.
    pub rejected: u64,
    /// Highest depth seen.
    pub peak: usize,
}

/// A core-local admission counter (no atomics: only its core touches it).
#[derive(Debug)]
pub struct Queue {
    core: usize,
    depth: Cell<usize>,
    capacity: usize,
    warn_at: usize,
    reject_at: usize,
    retry_after_ms: u64,
    warned: Cell<bool>,
    stats: Cell<QueueStats>,
}

impl Queue {
    /// A queue; `warn_at <= reject_at <= capacity`.
    pub fn new(core: usize, capacity: usize, warn_at: usize, reject_at: usize, retry_after_ms: u64) -> Queue {
        assert!(warn_at <= reject_at && reject_at <= capacity && reject_at > 0, "queue marks out of order");
        Queue {
            core,
            depth: Cell::new(0),
            capacity,
            warn_at,
            reject_at,
            retry_after_ms,
            warned: Cell::new(false),
            stats: Cell::new(QueueStats::default()),
        }
    }

    /// Admits one request, or answers why not (-32010 with `data.retryAfterMs`).
    pub fn try_admit(&self) -> Result<(), RpcError> {
        let depth = self.depth.get();
        let mut stats = self.stats.get();
        if depth >= self.reject_at {
            stats.rejected += 1;
            self.stats.set(stats);
            let data = OverloadData {
                retry_after_ms: self.retry_after_ms,
                queue_depth: depth,
                queue_capacity: self.capacity,
                core: self.core,
            };
            let message = "Server overloaded: request queue full, retry later";
            return Err(RpcError::new(code::OVERLOADED, message).with_data(&data));
        }
        self.depth.set(depth + 1);
        stats.admitted += 1;
        stats.peak = stats.peak.max(depth + 1);
        self.stats.set(stats);
        if depth + 1 >= self.warn_at && !self.warned.replace(true) {
            log::warn!(
                "core {}: request queue at {} of {} (warn mark {})",
                self.core,
                depth + 1,
                self.capacity,
                self.warn_at
            );
        }
        Ok(())
    }

    /// Marks one admitted request answered.
    pub fn release(&self) {
        let depth = self.depth.get();
        assert!(depth > 0, "queue release without admit");
        self.depth.set(depth - 1);
        if depth - 1 < self.warn_at && self.warned.replace(false) {
            log::info!("core {}: request queue back under its warn mark ({})", self.core, self.warn_at);
        }
    }

    /// Requests admitted and not yet answered.
    pub fn depth(&self) -> usize {
        self.depth.get()
    }

    /// Whether the queue is at or over its warn mark.
    pub fn is_degraded(&self) -> bool {
        self.depth.get() >= self.warn_at
    }

    /// Current counters.
    pub fn stats(&self) -> QueueStats {
        self.stats.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_at_the_mark_and_recovers() {
        let q = Queue::new(0, 10, 7, 9, 50);
        for _ in 0..9 {
            q.try_admit().unwrap();
        }
        assert!(q.is_degraded());
        let e = q.try_admit().unwrap_err();
        assert_eq!(e.code, code::OVERLOADED);
        assert_eq!(e.data.unwrap(), r#"{"retryAfterMs":50,"queueDepth":9,"queueCapacity":10,"core":0}"#);
        q.release();
        q.try_admit().unwrap();
        assert_eq!(q.stats(), QueueStats { admitted: 10, rejected: 1, peak: 9 });
    }

    #[test]
    #[should_panic(expected = "release without admit")]
    fn release_without_admit_is_a_bug() {
        Queue::new(0, 1, 1, 1, 1).release();
    }
}
