//! Each core's buffer pool: fixed-size buffers reused for reads and writes. An idle
//! connection holds none; a buffer that grew past the fixed size for a large message is
//! freed on return instead of kept, so the pool's memory stays bounded at
//! `keep_max × buffer_bytes`.

/// Counters for the metrics endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Takes served from the free list.
    pub hits: u64,
    /// Takes that had to allocate.
    pub misses: u64,
    /// Returned buffers dropped because they had grown large or the free list was full.
    pub dropped: u64,
    /// Buffers out of the pool right now.
    pub in_use: u64,
}

/// A per-core (not thread-safe, not shared) pool of byte buffers.
#[derive(Debug)]
pub struct BufferPool {
    free: Vec<Vec<u8>>,
    buffer_bytes: usize,
    keep_max: usize,
    stats: PoolStats,
}

impl BufferPool {
    /// A pool of `buffer_bytes` buffers that keeps at most `keep_max` free ones.
    pub fn new(buffer_bytes: usize, keep_max: usize) -> BufferPool {
        assert!(buffer_bytes > 0);
        BufferPool { free: Vec::with_capacity(keep_max.min(1024)), buffer_bytes, keep_max, stats: PoolStats::default() }
    }

    /// An empty buffer with room for at least `buffer_bytes`.
    pub fn take(&mut self) -> Vec<u8> {
        self.stats.in_use += 1;
        match self.free.pop() {
            Some(buf) => {
                self.stats.hits += 1;
                debug_assert!(buf.is_empty() && buf.capacity() >= self.buffer_bytes);
                buf
            }
            None => {
                self.stats.misses += 1;
                Vec::with_capacity(self.buffer_bytes)
            }
        }
    }

    /// Gives a buffer back (its contents are discarded).
    pub fn give(&mut self, mut buf: Vec<u8>) {
        debug_assert!(self.stats.in_use > 0, "give without take");
        self.stats.in_use = self.stats.in_use.saturating_sub(1);
        let fits = buf.capacity() >= self.buffer_bytes && buf.capacity() <= 2 * self.buffer_bytes;
        if fits && self.free.len() < self.keep_max {
            buf.clear();
            self.free.push(buf);
        } else {
            self.stats.dropped += 1;
        }
    }

    /// Current counters.
    pub fn stats(&self) -> PoolStats {
        self.stats
    }

    /// Free buffers ready for reuse.
    pub fn free_len(&self) -> usize {
        self.free.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_reused_and_large_ones_freed() {
        let mut pool = BufferPool::new(1024, 2);
        let a = pool.take();
        pool.give(a);
        let b = pool.take();
        assert_eq!(pool.stats().hits, 1);
        let mut big = pool.take();
        big.resize(1 << 20, 0);
        pool.give(big);
        pool.give(b);
        assert_eq!(pool.free_len(), 1);
        assert_eq!(pool.stats(), PoolStats { hits: 1, misses: 2, dropped: 1, in_use: 0 });
    }

    #[test]
    fn free_list_is_bounded() {
        let mut pool = BufferPool::new(64, 1);
        let (a, b) = (pool.take(), pool.take());
        pool.give(a);
        pool.give(b);
        assert_eq!(pool.free_len(), 1);
        assert_eq!(pool.stats().dropped, 1);
    }
}
