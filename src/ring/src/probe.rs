//! What the running kernel's io_uring offers, found by setting up small throw-away rings the
//! way [`crate::Builder`] sets up its own (`ringmcp doctor` reports it before a server starts).

use crate::bufring::BufRing;
use crate::IoPath;
use io_uring::IoUring;

/// Submission entries of a probe ring: the smallest ring that answers every question.
const PROBE_RING_ENTRIES: u32 = 2;

/// The io_uring features the ring loop uses, each `true` when the kernel accepted it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Features {
    /// `io_uring_setup` works at all (not compiled out, not `kernel.io_uring_disabled`).
    pub ring: bool,
    /// EXT_ARG waits (Linux 5.11): a wait bounded by a timeout; the loop needs it on both paths.
    pub ext_arg: bool,
    /// IORING_SETUP_SINGLE_ISSUER (Linux 6.0): one thread submits, so the kernel skips locking.
    pub single_issuer: bool,
    /// IORING_SETUP_DEFER_TASKRUN (Linux 6.1): completions run when the loop waits, not on
    /// interrupts; it also implies multishot accept (5.19) and multishot recv (6.0).
    pub defer_taskrun: bool,
    /// A provided buffer ring (Linux 5.19), which multishot recv takes its buffers from.
    pub buf_ring: bool,
}

impl Features {
    /// The path a loop with `IoPathChoice::Auto` takes on this kernel, `None` if it cannot
    /// start at all (no ring or no EXT_ARG).
    pub fn io_path(&self) -> Option<IoPath> {
        if !self.ring || !self.ext_arg {
            return None;
        }
        Some(if self.single_issuer && self.defer_taskrun && self.buf_ring {
            IoPath::Multishot
        } else {
            IoPath::Fallback
        })
    }
}

/// Sets up probe rings (a few pages each, closed again at once) and reports what worked.
pub fn probe() -> Features {
    let Ok(plain) = IoUring::new(PROBE_RING_ENTRIES) else {
        return Features::default();
    };
    let ext_arg = plain.params().is_feature_ext_arg();
    let single: std::io::Result<IoUring> = IoUring::builder().setup_single_issuer().build(PROBE_RING_ENTRIES);
    let deferred: std::io::Result<IoUring> =
        IoUring::builder().setup_single_issuer().setup_defer_taskrun().setup_coop_taskrun().build(PROBE_RING_ENTRIES);
    let buf_ring = match BufRing::new(&plain, 1, 64) {
        Ok(bufs) => {
            // The ring goes first: it unregisters the buffer group before its memory is unmapped.
            drop(plain);
            drop(bufs);
            true
        }
        Err(_) => false,
    };
    Features { ring: true, ext_arg, single_issuer: single.is_ok(), defer_taskrun: deferred.is_ok(), buf_ring }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_follows_the_features() {
        let all = Features { ring: true, ext_arg: true, single_issuer: true, defer_taskrun: true, buf_ring: true };
        assert_eq!(all.io_path(), Some(IoPath::Multishot));
        assert_eq!(Features { buf_ring: false, ..all }.io_path(), Some(IoPath::Fallback));
        assert_eq!(Features { defer_taskrun: false, ..all }.io_path(), Some(IoPath::Fallback));
        assert_eq!(Features { ext_arg: false, ..all }.io_path(), None);
        assert_eq!(Features::default().io_path(), None);
    }
}
