//! Fixed limits of loadgen, and raising RLIMIT_NOFILE for many connections.

/// File descriptors kept free beyond one per connection: stdio, /proc reads, output files.
pub const FD_MARGIN: u64 = 64;

/// File descriptors per worker thread: its io_uring and its eventfd, with room to spare.
pub const FD_PER_WORKER: u64 = 8;

/// Handshakes one worker runs at once; more connections wait for a slot, so a burst of
/// 15K connects does not overflow the server's accept backlog all at once.
pub const HANDSHAKES_PER_WORKER_MAX: usize = 512;

/// Default in-flight cap per connection in open loop when `--inflight` is not given.
pub const OPEN_LOOP_INFLIGHT_DEFAULT: u32 = 1024;

/// Smallest read buffer of a connection, in bytes; it grows to fit the longest message.
pub const READ_BUFFER_MIN_BYTES: usize = 4096;

/// Largest initial read buffer of a connection, in bytes.
pub const READ_BUFFER_MAX_BYTES: usize = 64 << 10;

/// Longest message accepted from the server, in bytes; a longer one fails the connection.
pub const MESSAGE_MAX_BYTES: usize = 64 << 20;

/// How often each worker publishes its counters and latency for the progress line.
pub const PUBLISH_INTERVAL_MS: u64 = 250;

/// HTTP: times in a row one connection may be reopened (the server closed it) without an
/// answer in between; past it the connection counts as failed (a server that closes every
/// connection at once would otherwise be redialled in a loop).
pub const RECONNECTS_IN_A_ROW_MAX: u32 = 3;

/// HTTP: milliseconds a connection may sit idle (no answer read) before the next request is
/// preceded by a check that the server has not closed it meanwhile (one non-blocking peek);
/// a closed one is opened again first, so that no request is written into it. Closed loop
/// never idles this long; an open loop at a few requests/s per connection does.
pub const IDLE_PROBE_AFTER_MS: u64 = 100;

/// How long a WebSocket connection's final close frame may take to write before the socket
/// is dropped anyway (a server that stopped reading must not hold up the end of the run).
pub const WS_CLOSE_WRITE_TIMEOUT_MS: u64 = 100;

/// Ciphertext read from a TLS connection's socket at a time, in bytes (one buffer per TLS
/// connection): a full 16 KiB record and its overhead, or many small ones.
pub const TLS_READ_CHUNK_BYTES: usize = 16 * 1024 + 512;

/// Plaintext rustls encrypts per write of a TLS connection, in bytes: a batch of requests up
/// to this size is encrypted and queued on the socket as one write.
pub const TLS_SEND_BUFFER_BYTES: usize = 256 << 10;

const _: () = assert!(READ_BUFFER_MIN_BYTES <= READ_BUFFER_MAX_BYTES);
const _: () = assert!(READ_BUFFER_MAX_BYTES <= MESSAGE_MAX_BYTES);

/// Raises the soft RLIMIT_NOFILE to the hard limit if `needed` descriptors do not fit.
///
/// # Errors
/// The hard limit is below `needed` (the message names the fixes), or setrlimit failed.
pub fn ensure_nofile(needed: u64) -> Result<(), String> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `limit` is a valid, writable rlimit for getrlimit to fill.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(format!("getrlimit(RLIMIT_NOFILE): {}", std::io::Error::last_os_error()));
    }
    if limit.rlim_cur >= needed {
        return Ok(());
    }
    if limit.rlim_max < needed {
        return Err(format!(
            "{needed} file descriptors are needed but the hard limit (RLIMIT_NOFILE) is {}: raise it \
             with `ulimit -Hn {needed}` as root (or in the shell that starts loadgen), LimitNOFILE= in a \
             systemd unit, or a `nofile` line in /etc/security/limits.conf",
            limit.rlim_max
        ));
    }
    // An unlimited hard limit cannot be the soft limit (the kernel caps it at nr_open).
    limit.rlim_cur = if limit.rlim_max == libc::RLIM_INFINITY { needed } else { limit.rlim_max };
    // SAFETY: `limit` is a valid rlimit; setrlimit only reads it.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
        return Err(format!("setrlimit(RLIMIT_NOFILE, {}): {}", limit.rlim_max, std::io::Error::last_os_error()));
    }
    Ok(())
}

/// Descriptors a run with this many connections and workers needs.
pub fn nofile_needed(connections: u64, workers: u64) -> u64 {
    connections + FD_MARGIN + workers * FD_PER_WORKER
}

/// `loadgen capacity`: requests still unsent when a step's window closes (due, but held
/// behind a full in-flight cap) that a passing step may leave, in requests per thousand
/// requests offered in the window. With one request in flight per HTTP connection, a few are
/// always waiting at the instant the window closes; a server that cannot keep up leaves
/// thousands.
pub const CAPACITY_UNSENT_BACKLOG_PERMILLE: u64 = 1;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_needs_fit_and_absurd_ones_name_the_fix() {
        assert_eq!(ensure_nofile(16), Ok(()));
        if let Err(err) = ensure_nofile(u64::MAX / 2) {
            assert!(err.contains("LimitNOFILE") || err.contains("setrlimit"), "{err}");
        }
        assert_eq!(nofile_needed(100, 2), 100 + FD_MARGIN + 2 * FD_PER_WORKER);
    }
}
