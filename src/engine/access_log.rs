//! The access log: one JSON line per answered request (`access_log = "stderr" | PATH`),
//! sampled (`access_log_sample_permille`). A core formats the line and hands it to the
//! `ringmcp-access-log` writer thread over a bounded channel; when the channel is full the
//! line is dropped and counted (`ringmcp_access_log_dropped_total`): a request never waits
//! for its log line. Tokens and params are never logged: the line holds the method, the
//! tool/prompt name or resource URI, and numbers.

use super::metrics::Transport;
use crate::limits::ACCESS_LOG_BATCH_BYTES;
use crate::mcp::tasks::civil_from_days;
use std::cell::{Cell, RefCell};
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Lines dropped because the writer's channel was full, all cores together.
static DROPPED: AtomicU64 = AtomicU64::new(0);
/// Lines written, all cores together.
static WRITTEN: AtomicU64 = AtomicU64::new(0);
/// Lines that failed to write (I/O errors of the file or stderr).
static FAILED: AtomicU64 = AtomicU64::new(0);

/// Where the log goes, from the `access_log` setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Off,
    Stderr,
    File(std::path::PathBuf),
}

impl Target {
    /// `off`, `stderr`, or a path.
    pub fn parse(setting: &str) -> Target {
        match setting.trim() {
            "" | "off" => Target::Off,
            "stderr" => Target::Stderr,
            path => Target::File(path.into()),
        }
    }
}

/// The cores' handle on the writer: the channel, this core's batch and its sampling state.
///
/// Lines are formatted into a per-core batch that goes to the writer thread when it holds
/// `ACCESS_LOG_BATCH_BYTES`, on the core's 1 s sweep, and when the core stops: one channel send
/// (and at most one wake-up of the writer) per batch, not per line.
pub(crate) struct AccessLog {
    tx: flume::Sender<(Vec<u8>, u64)>,
    permille: u64,
    credit: Cell<u64>,
    batch: RefCell<Vec<u8>>,
    lines: Cell<u64>,
}

impl AccessLog {
    /// Whether this request is logged: `permille` of them, spread evenly (no randomness).
    pub fn sample(&self) -> bool {
        if self.permille >= 1_000 {
            return true;
        }
        let credit = self.credit.get() + self.permille;
        let take = credit >= 1_000;
        self.credit.set(if take { credit - 1_000 } else { credit });
        take
    }

    /// Formats `entry` into the core's batch; a full batch goes to the writer.
    pub fn log(&self, entry: &Entry<'_>) {
        let full = {
            let mut batch = self.batch.borrow_mut();
            entry.write(&mut batch, SystemTime::now());
            batch.len() >= ACCESS_LOG_BATCH_BYTES
        };
        self.lines.set(self.lines.get() + 1);
        if full {
            self.flush();
        }
    }

    /// Hands the batch to the writer, or counts its lines dropped when the writer's queue is
    /// full (never waits).
    pub fn flush(&self) {
        let lines = self.lines.replace(0);
        if lines == 0 {
            return;
        }
        let batch = std::mem::replace(&mut *self.batch.borrow_mut(), Vec::with_capacity(ACCESS_LOG_BATCH_BYTES + 512));
        if self.tx.try_send((batch, lines)).is_err() {
            DROPPED.fetch_add(lines, Ordering::Relaxed);
        }
    }
}

impl Drop for AccessLog {
    fn drop(&mut self) {
        self.flush();
    }
}

/// The writer's side, made once per server: the channel's sender (cloned into each core).
#[derive(Clone)]
pub(crate) struct Writer {
    tx: flume::Sender<(Vec<u8>, u64)>,
    permille: u64,
    /// Closed when the writer thread has written everything and ended.
    done: flume::Receiver<()>,
}

impl Writer {
    /// Opens `target` (a file is created or appended to) and starts the writer thread; `None`
    /// when the log is off. `queue_batches` batches may wait for it.
    pub fn start(target: &Target, permille: u64, queue_batches: usize) -> std::io::Result<Option<Writer>> {
        let out: Box<dyn Write + Send> = match target {
            Target::Off => return Ok(None),
            Target::Stderr => Box::new(std::io::stderr()),
            Target::File(path) => Box::new(std::fs::OpenOptions::new().create(true).append(true).open(path)?),
        };
        let (tx, rx) = flume::bounded::<(Vec<u8>, u64)>(queue_batches);
        let (done_tx, done) = flume::bounded::<()>(0);
        std::thread::Builder::new().name("ringmcp-access-log".into()).spawn(move || {
            let _done = done_tx;
            let mut out = out;
            while let Ok((batch, lines)) = rx.recv() {
                match out.write_all(&batch).and_then(|()| out.flush()) {
                    Ok(()) => WRITTEN.fetch_add(lines, Ordering::Relaxed),
                    Err(_) => FAILED.fetch_add(lines, Ordering::Relaxed),
                };
            }
        })?;
        Ok(Some(Writer { tx, permille, done }))
    }

    /// One core's handle.
    pub fn for_core(&self) -> AccessLog {
        AccessLog {
            tx: self.tx.clone(),
            permille: self.permille,
            credit: Cell::new(0),
            batch: RefCell::new(Vec::with_capacity(ACCESS_LOG_BATCH_BYTES + 512)),
            lines: Cell::new(0),
        }
    }

    /// At shutdown, once the cores have stopped (and flushed): lets the writer write what is
    /// queued, waiting at most `wait`.
    pub fn finish(self, wait: std::time::Duration) {
        let Writer { tx, done, .. } = self;
        drop(tx);
        let _ = done.recv_timeout(wait);
    }
}

/// The `ringmcp_access_log_*` families of `/metrics`, as Prometheus text.
pub(crate) fn render_prometheus(out: &mut String) {
    use std::fmt::Write as _;
    let _ = write!(
        out,
        "# HELP ringmcp_access_log_lines_total Access log lines written.\n\
         # TYPE ringmcp_access_log_lines_total counter\nringmcp_access_log_lines_total {}\n\
         # HELP ringmcp_access_log_dropped_total Access log lines dropped because the writer was behind.\n\
         # TYPE ringmcp_access_log_dropped_total counter\nringmcp_access_log_dropped_total {}\n\
         # HELP ringmcp_access_log_failed_total Access log lines that could not be written (I/O errors).\n\
         # TYPE ringmcp_access_log_failed_total counter\nringmcp_access_log_failed_total {}\n",
        WRITTEN.load(Ordering::Relaxed),
        DROPPED.load(Ordering::Relaxed),
        FAILED.load(Ordering::Relaxed),
    );
}

/// One request's line.
pub(crate) struct Entry<'a> {
    pub core: usize,
    pub transport: Transport,
    pub peer: Option<SocketAddr>,
    /// The caller's identity (token subject, API key id, certificate subject); `None` while
    /// auth is off.
    pub identity: Option<&'a str>,
    pub method: &'a str,
    /// The tool or prompt name (`tools/call`, `prompts/get`) or resource URI (`resources/read`).
    pub tool: Option<&'a str>,
    /// The JSON-RPC error code of the answer, `None` for a result.
    pub error: Option<i32>,
    pub latency_us: u64,
    pub bytes_in: usize,
    pub bytes_out: usize,
}

impl Entry<'_> {
    /// The JSON line (ending in `\n`) at wall-clock time `now`.
    pub fn write(&self, out: &mut Vec<u8>, now: SystemTime) {
        let mut n = itoa::Buffer::new();
        out.extend_from_slice(b"{\"time\":\"");
        rfc3339_us(out, now);
        out.extend_from_slice(b"\",\"core\":");
        out.extend_from_slice(n.format(self.core).as_bytes());
        out.extend_from_slice(b",\"transport\":\"");
        out.extend_from_slice(self.transport.label().as_bytes());
        out.extend_from_slice(b"\",\"peer\":");
        match self.peer {
            Some(p) => {
                out.push(b'"');
                let _ = write!(out, "{p}");
                out.push(b'"');
            }
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"identity\":");
        string_or_null(out, self.identity);
        out.extend_from_slice(b",\"method\":");
        string_or_null(out, Some(self.method));
        out.extend_from_slice(b",\"tool\":");
        string_or_null(out, self.tool);
        out.extend_from_slice(b",\"result\":\"");
        match self.error {
            None => out.extend_from_slice(b"ok"),
            Some(code) => out.extend_from_slice(n.format(code).as_bytes()),
        }
        out.extend_from_slice(b"\",\"latency_us\":");
        out.extend_from_slice(n.format(self.latency_us).as_bytes());
        out.extend_from_slice(b",\"bytes_in\":");
        out.extend_from_slice(n.format(self.bytes_in).as_bytes());
        out.extend_from_slice(b",\"bytes_out\":");
        out.extend_from_slice(n.format(self.bytes_out).as_bytes());
        out.extend_from_slice(b"}\n");
    }
}

/// A JSON string (escaped), or `null`.
fn string_or_null(out: &mut Vec<u8>, s: Option<&str>) {
    let Some(s) = s else {
        out.extend_from_slice(b"null");
        return;
    };
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let mut b = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            }
        }
    }
    out.push(b'"');
}

/// `now` as RFC 3339 UTC with microseconds: `2026-11-29T01:02:03.456789Z`.
fn rfc3339_us(out: &mut Vec<u8>, now: SystemTime) {
    let d = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, day) = civil_from_days(days as i64);
    let _ = write!(
        out,
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60,
        d.subsec_micros()
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dates() {
        let at = |s: u64, us: u32| {
            let mut v = Vec::new();
            rfc3339_us(&mut v, UNIX_EPOCH + Duration::new(s, us * 1_000));
            String::from_utf8(v).unwrap()
        };
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(at(951_782_400, 5), "2000-02-29T00:00:00.000005Z");
        assert_eq!(at(1_796_000_000, 123_456), "2026-11-30T00:53:20.123456Z");
        assert_eq!(at(4_102_444_799, 999_999), "2099-12-31T23:59:59.999999Z");
    }

    #[test]
    fn a_line_is_json_with_escapes() {
        let e = Entry {
            core: 1,
            transport: Transport::Tcp,
            peer: Some("127.0.0.1:4000".parse().unwrap()),
            identity: None,
            method: "tools/call",
            tool: Some("a\"b\\c\n\u{1}"),
            error: Some(-32013),
            latency_us: 12,
            bytes_in: 80,
            bytes_out: 120,
        };
        let mut v = Vec::new();
        e.write(&mut v, UNIX_EPOCH);
        let text = String::from_utf8(v).unwrap();
        assert!(text.ends_with('\n'));
        let j: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(j["tool"], "a\"b\\c\n\u{1}");
        assert_eq!(j["result"], "-32013");
        assert_eq!(j["peer"], "127.0.0.1:4000");
        assert!(j["identity"].is_null());
        assert_eq!(j["bytes_out"], 120);
    }

    #[test]
    fn sampling_is_even() {
        let (tx, _rx) = flume::bounded(1);
        let log =
            AccessLog { tx, permille: 250, credit: Cell::new(0), batch: RefCell::new(Vec::new()), lines: Cell::new(0) };
        let taken = (0..1_000).filter(|_| log.sample()).count();
        assert_eq!(taken, 250);
    }
}
