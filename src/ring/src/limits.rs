//! The ring loop's limits and defaults, each with its unit. The server re-exports them from its
//! own `limits.rs` and passes its settings through [`crate::Builder`].

/// Submission queue entries per ring (default). Operations beyond it are submitted early.
pub const RING_ENTRIES_DEFAULT: u32 = 4096;

/// Completion queue entries per ring, as a multiple of the submission queue: multishot
/// operations post many completions per submission.
pub const CQ_ENTRIES_PER_SQ_ENTRY: u32 = 4;

/// Provided receive buffers per ring (default; a power of two, at most 32,768).
pub const RECV_BUFFERS_DEFAULT: u32 = 2048;

/// Bytes of one provided receive buffer (default). Memory held: buffers × bytes per core
/// (8 MiB by default), whatever the number of connections.
pub const RECV_BUFFER_BYTES_DEFAULT: u32 = 4096;

/// The most provided buffers one ring may have (the kernel's limit).
pub const RECV_BUFFERS_MAX: u32 = 32768;

/// Bytes received and not yet read by a socket's owner past which its multishot receive is
/// paused (TCP then pushes back on the peer); it is armed again when the owner reads.
pub const RECV_HELD_MAX_BYTES: usize = 64 << 10;

/// Percent of the buffer ring that must be free before receives that ran out of buffers are
/// armed again (re-arming into an empty ring would only end again at once).
pub const RECV_REARM_FREE_PERCENT: u32 = 25;

/// Bytes a socket may have queued for sending before a write waits for the send in flight.
pub const SEND_QUEUED_MAX_BYTES: usize = 256 << 10;

/// Output buffers an idle socket gives back; the loop keeps this many for reuse.
pub const SEND_BUFFERS_KEPT: usize = 256;

/// Bytes of capacity past which a given-back output buffer is freed instead of kept.
pub const SEND_BUFFER_KEPT_MAX_BYTES: usize = 64 << 10;

/// Bytes of one single-shot read of a pipe or file (stdin).
pub const FILE_READ_BYTES: usize = 64 << 10;

/// Tasks polled between two looks at the ring, at most: I/O is never starved by busy tasks.
pub const TASKS_PER_TURN_MAX: usize = 4096;

const _: () = assert!(RECV_BUFFERS_DEFAULT.is_power_of_two() && RECV_BUFFERS_DEFAULT <= RECV_BUFFERS_MAX);
const _: () = assert!(RECV_HELD_MAX_BYTES >= RECV_BUFFER_BYTES_DEFAULT as usize);
const _: () = assert!(RECV_REARM_FREE_PERCENT > 0 && RECV_REARM_FREE_PERCENT < 100);
