//! The provided buffer ring: memory the kernel picks receive buffers from (multishot recv),
//! and that the loop gives back one buffer at a time as soon as its bytes have been read out.

use io_uring::types::BufRingEntry;
use io_uring::IoUring;
use std::io;
use std::sync::atomic::{AtomicU16, Ordering};

/// The buffer group id of the one ring every socket receives into.
pub(crate) const GROUP: u16 = 0;

pub(crate) struct BufRing {
    /// `count` ring entries, page-aligned (mmap), shared with the kernel.
    entries: *mut BufRingEntry,
    entries_bytes: usize,
    /// The buffers themselves, `count * buf_bytes`, one allocation.
    mem: Box<[u8]>,
    count: u16,
    buf_bytes: u32,
    /// The next tail to publish (the kernel reads the published one).
    tail: u16,
    /// Buffers the kernel has handed to us and we have not given back yet.
    out: u32,
}

impl BufRing {
    /// Maps and registers a ring of `count` buffers of `buf_bytes` each, all given to the
    /// kernel. `count` must be a power of two no larger than 32,768.
    pub fn new(ring: &IoUring, count: u32, buf_bytes: u32) -> io::Result<BufRing> {
        assert!(count.is_power_of_two() && count <= crate::limits::RECV_BUFFERS_MAX, "buffer count {count}");
        assert!(buf_bytes > 0, "buffer size 0");
        let entries_bytes = (count as usize * std::mem::size_of::<BufRingEntry>()).next_multiple_of(page_bytes());
        // SAFETY: an anonymous private mapping with no address hint has no preconditions; the
        // result is checked for MAP_FAILED before use.
        let addr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                entries_bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_ANONYMOUS | libc::MAP_PRIVATE,
                -1,
                0,
            )
        };
        if addr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let mut this = BufRing {
            entries: addr.cast(),
            entries_bytes,
            mem: vec![0u8; count as usize * buf_bytes as usize].into_boxed_slice(),
            count: count as u16,
            buf_bytes,
            tail: 0,
            out: count,
        };
        // SAFETY: the entries live (mapped, page-aligned) until this BufRing drops, and the
        // reactor drops its ring (which unregisters the group) before its BufRing.
        unsafe { ring.submitter().register_buf_ring_with_flags(addr as u64, count as u16, GROUP, 0)? };
        for bid in 0..count {
            this.give_back(bid as u16);
        }
        Ok(this)
    }

    /// The buffers in the ring.
    pub fn count(&self) -> u32 {
        u32::from(self.count)
    }

    /// Buffers handed out and not given back.
    pub fn out(&self) -> u32 {
        self.out
    }

    /// Percent of the ring free for the kernel to fill.
    pub fn free_percent(&self) -> u32 {
        (self.count() - self.out) * 100 / self.count()
    }

    /// Counts a buffer the kernel filled (a receive completion carried it).
    pub fn taken(&mut self, bid: u16) {
        debug_assert!(u32::from(bid) < self.count(), "buffer id {bid} outside the ring");
        debug_assert!(self.out < self.count(), "more buffers out than the ring has");
        self.out += 1;
    }

    /// The first `len` bytes the kernel wrote into buffer `bid`.
    pub fn bytes(&self, bid: u16, start: u32, end: u32) -> &[u8] {
        assert!(start <= end && end <= self.buf_bytes, "buffer range {start}..{end} of {}", self.buf_bytes);
        let base = bid as usize * self.buf_bytes as usize;
        &self.mem[base + start as usize..base + end as usize]
    }

    /// Gives buffer `bid` back to the kernel.
    pub fn give_back(&mut self, bid: u16) {
        assert!(u32::from(bid) < self.count(), "buffer id {bid} outside the ring");
        assert!(self.out > 0, "buffer {bid} given back twice");
        let mask = self.count().wrapping_sub(1) as u16;
        let index = (self.tail & mask) as usize;
        let addr = self.mem.as_ptr() as u64 + bid as u64 * self.buf_bytes as u64;
        // SAFETY: `index` < count, so the entry lies inside the mapping; the kernel only reads
        // entries between its head and the published tail, and this one is past the tail.
        let entry = unsafe { &mut *self.entries.add(index) };
        entry.set_addr(addr);
        entry.set_len(self.buf_bytes);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
        // SAFETY: the tail field overlays the first entry's reserved field (the kernel's ring
        // layout); it is only ever accessed atomically, and the Release store publishes the
        // entry written above before the kernel can see the new tail.
        unsafe {
            let tail = BufRingEntry::tail(self.entries) as *const AtomicU16;
            (*tail).store(self.tail, Ordering::Release);
        }
        self.out -= 1;
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: the mapping was made in `new` with this length and is unmapped once; the ring
        // that could read it is gone (the reactor drops it first).
        unsafe { libc::munmap(self.entries.cast(), self.entries_bytes) };
    }
}

fn page_bytes() -> usize {
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if page > 0 {
        page as usize
    } else {
        4096
    }
}
