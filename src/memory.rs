//! The memory budget: the limit (configured, or the cgroup's, or a fraction of RAM), the
//! process's resident set sampled off the hot path by one `ringmcp-memory` thread, and the
//! state it publishes (one atomic the cores read per request and per new connection).
//!
//! Above the warn mark `/health` reports degraded; above the reject mark new connections,
//! sessions and requests are refused with -32010 `data.reason = "memory"` (HTTP 503). What
//! was admitted before finishes.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// Where the memory limit came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitSource {
    /// `memory_limit_bytes` was set.
    Configured,
    /// cgroup v2 `memory.max` (the smallest on the way up to the root).
    CgroupV2,
    /// cgroup v1 `memory.limit_in_bytes`.
    CgroupV1,
    /// No cgroup limit: `MEMORY_RAM_PERCENT` of `MemTotal`.
    Ram,
    /// Nothing could be read: no budget (never rejects).
    Unknown,
}

impl LimitSource {
    /// Its name in logs and `/metrics`.
    pub fn as_str(&self) -> &'static str {
        match self {
            LimitSource::Configured => "configured",
            LimitSource::CgroupV2 => "cgroup_v2",
            LimitSource::CgroupV1 => "cgroup_v1",
            LimitSource::Ram => "ram",
            LimitSource::Unknown => "unknown",
        }
    }
}

/// A cgroup v1 value at or above this means "no limit" (the kernel's page-rounded i64::MAX).
const CGROUP_V1_UNLIMITED: u64 = 1 << 62;

/// The memory limit in bytes of this process: the smallest cgroup v2 `memory.max` from the
/// process's cgroup up to the root, else its cgroup v1 `memory.limit_in_bytes`, else
/// `ram_percent` of `MemTotal`. `proc_root` is normally `/proc` and `sys_root` `/sys` (tests
/// pass fixture trees); the cgroup file system is taken at `<sys_root>/fs/cgroup`.
pub fn detect_limit(proc_root: &Path, sys_root: &Path, ram_percent: u64) -> (u64, LimitSource) {
    let cgroup = std::fs::read_to_string(proc_root.join("self/cgroup")).unwrap_or_default();
    let fs = sys_root.join("fs/cgroup");
    // v2: the `0::<path>` line.
    if let Some(path) = cgroup.lines().find_map(|l| l.strip_prefix("0::")) {
        if let Some(limit) = min_up(&fs, path, "memory.max", None) {
            return (limit, LimitSource::CgroupV2);
        }
    }
    // v1: the line whose controllers include `memory`: `N:memory:<path>` (or `N:a,memory:<path>`).
    let v1 = cgroup.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        controllers.split(',').any(|c| c == "memory").then_some(path)
    });
    if let Some(path) = v1 {
        let mount = fs.join("memory");
        if let Some(limit) = min_up(&mount, path, "memory.limit_in_bytes", Some(CGROUP_V1_UNLIMITED)) {
            return (limit, LimitSource::CgroupV1);
        }
    }
    let meminfo = std::fs::read_to_string(proc_root.join("meminfo")).unwrap_or_default();
    let total_kib = meminfo.lines().find_map(|l| {
        let rest = l.strip_prefix("MemTotal:")?;
        rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok()
    });
    match total_kib {
        Some(kib) => (kib.saturating_mul(1024) / 100 * ram_percent, LimitSource::Ram),
        None => (0, LimitSource::Unknown),
    }
}

/// The smallest limit in `file` from `<mount><path>` up to `<mount>` (nested limits all apply;
/// in a container the cgroup path often names the mount itself, so the mount root counts too).
/// `max` and values at or above `unlimited` are no limit.
fn min_up(mount: &Path, path: &str, file: &str, unlimited: Option<u64>) -> Option<u64> {
    let mut dir: PathBuf = mount.join(path.trim_start_matches('/'));
    let mut best: Option<u64> = None;
    loop {
        if let Ok(text) = std::fs::read_to_string(dir.join(file)) {
            let v = text.trim();
            let limit = if v == "max" { None } else { v.parse::<u64>().ok() };
            if let Some(l) = limit.filter(|l| unlimited.is_none_or(|u| *l < u)) {
                best = Some(best.map_or(l, |b| b.min(l)));
            }
        }
        if dir == mount || !dir.starts_with(mount) || !dir.pop() {
            break;
        }
    }
    best
}

/// Resident set size in bytes from `<proc_root>/self/statm` (0 if unreadable).
pub fn rss_bytes(proc_root: &Path) -> u64 {
    let Ok(statm) = std::fs::read_to_string(proc_root.join("self/statm")) else { return 0 };
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    // SAFETY: sysconf only reads a system constant; it has no pointers and no preconditions.
    let page_bytes = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages.saturating_mul(u64::try_from(page_bytes).unwrap_or(0))
}

/// The budget's state, as published to the cores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum State {
    /// Below the warn mark (or no budget).
    Ok = 0,
    /// At or above the warn mark: `/health` degraded.
    Warn = 1,
    /// At or above the reject mark: new connections, sessions and requests refused.
    Reject = 2,
}

impl State {
    /// Its name in `/health` and `/metrics`.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Ok => "ok",
            State::Warn => "warn",
            State::Reject => "reject",
        }
    }
}

/// The limit and marks (fixed at start) and the last sample (updated by the sampler thread).
#[derive(Debug)]
pub struct Budget {
    /// The limit in bytes (0: none, never warns or rejects).
    pub limit_bytes: u64,
    /// Where `limit_bytes` came from.
    pub source: LimitSource,
    /// RSS at which the state is [`State::Warn`], in bytes.
    pub warn_bytes: u64,
    /// RSS at which the state is [`State::Reject`], in bytes.
    pub reject_bytes: u64,
    rss: AtomicU64,
    state: AtomicU8,
    samples: AtomicU64,
}

impl Default for Budget {
    /// No budget: never warns or rejects (in-memory sessions, stdio without a sampler).
    fn default() -> Self {
        Budget::new(0, LimitSource::Unknown, 100, 100)
    }
}

impl Budget {
    /// A budget of `limit_bytes` (0: none) with warn and reject marks in percent of it.
    pub fn new(limit_bytes: u64, source: LimitSource, warn_percent: u64, reject_percent: u64) -> Budget {
        let mark = |p: u64| if limit_bytes == 0 { u64::MAX } else { (limit_bytes as u128 * p as u128 / 100) as u64 };
        Budget {
            limit_bytes,
            source,
            warn_bytes: mark(warn_percent),
            reject_bytes: mark(reject_percent),
            rss: AtomicU64::new(0),
            state: AtomicU8::new(State::Ok as u8),
            samples: AtomicU64::new(0),
        }
    }

    /// From the settings: `memory_limit_bytes`, or (0) the detected limit.
    pub fn from_settings(s: &crate::config::Settings) -> Budget {
        let (limit, source) = match s.memory_limit_bytes {
            0 => detect_limit(Path::new("/proc"), Path::new("/sys"), crate::limits::MEMORY_RAM_PERCENT),
            n => (n, LimitSource::Configured),
        };
        Budget::new(limit, source, s.memory_warn_percent, s.memory_reject_percent)
    }

    /// The state for a resident set of `rss` bytes.
    pub fn state_for(&self, rss: u64) -> State {
        if rss >= self.reject_bytes {
            State::Reject
        } else if rss >= self.warn_bytes {
            State::Warn
        } else {
            State::Ok
        }
    }

    /// Records one sample and publishes its state.
    pub fn publish(&self, rss: u64) -> State {
        let state = self.state_for(rss);
        self.rss.store(rss, Ordering::Relaxed);
        self.state.store(state as u8, Ordering::Relaxed);
        self.samples.fetch_add(1, Ordering::Relaxed);
        state
    }

    /// The last published state (one relaxed load: cheap enough for every request).
    #[inline]
    pub fn state(&self) -> State {
        match self.state.load(Ordering::Relaxed) {
            0 => State::Ok,
            1 => State::Warn,
            _ => State::Reject,
        }
    }

    /// Whether new connections, sessions and requests are refused now.
    #[inline]
    pub fn rejecting(&self) -> bool {
        self.state.load(Ordering::Relaxed) >= State::Reject as u8
    }

    /// The last sampled RSS, in bytes.
    pub fn rss(&self) -> u64 {
        self.rss.load(Ordering::Relaxed)
    }

    /// The `ringmcp_memory_*` families of `/metrics`, as Prometheus text.
    pub fn render_prometheus(&self, out: &mut String) {
        use std::fmt::Write;
        let state = self.state();
        let _ = write!(
            out,
            "# HELP ringmcp_memory_limit_bytes The memory budget's limit (0: none), by where it came from.\n\
             # TYPE ringmcp_memory_limit_bytes gauge\nringmcp_memory_limit_bytes{{source=\"{}\"}} {}\n\
             # HELP ringmcp_memory_rss_bytes Resident set size at the last sample.\n\
             # TYPE ringmcp_memory_rss_bytes gauge\nringmcp_memory_rss_bytes {}\n\
             # HELP ringmcp_memory_warn_bytes RSS at which /health reports degraded.\n\
             # TYPE ringmcp_memory_warn_bytes gauge\nringmcp_memory_warn_bytes {}\n\
             # HELP ringmcp_memory_reject_bytes RSS at which new connections, sessions and requests are refused.\n\
             # TYPE ringmcp_memory_reject_bytes gauge\nringmcp_memory_reject_bytes {}\n\
             # HELP ringmcp_memory_state The budget's state: 0 ok, 1 warn, 2 reject.\n\
             # TYPE ringmcp_memory_state gauge\nringmcp_memory_state {}\n",
            self.source.as_str(),
            self.limit_bytes,
            self.rss(),
            if self.limit_bytes == 0 { 0 } else { self.warn_bytes },
            if self.limit_bytes == 0 { 0 } else { self.reject_bytes },
            state as u8,
        );
    }
}

/// Samples the RSS now, then every `period` on a `ringmcp-memory` thread that ends when the
/// budget is dropped. Nothing is started without a limit.
pub fn start_sampler(budget: &Arc<Budget>, period: Duration) -> std::io::Result<()> {
    if budget.limit_bytes == 0 {
        return Ok(());
    }
    let proc_root = Path::new("/proc");
    budget.publish(rss_bytes(proc_root));
    let weak: Weak<Budget> = Arc::downgrade(budget);
    std::thread::Builder::new().name("ringmcp-memory".into()).spawn(move || {
        let mut last = State::Ok;
        loop {
            std::thread::sleep(period);
            let Some(budget) = weak.upgrade() else { return };
            let state = budget.publish(rss_bytes(Path::new("/proc")));
            if state != last {
                let (rss, limit) = (budget.rss(), budget.limit_bytes);
                match state {
                    State::Ok => log::info!("memory: RSS {rss} bytes back under the warn mark (limit {limit})"),
                    State::Warn => log::warn!("memory: RSS {rss} bytes over the warn mark (limit {limit}); /health degraded"),
                    State::Reject => log::warn!(
                        "memory: RSS {rss} bytes over the reject mark (limit {limit}); refusing new connections, sessions and requests"
                    ),
                }
                last = state;
            }
        }
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixture tree: `files` relative to its root, each with its text.
    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let p = dir.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        dir
    }

    fn detect(t: &tempfile::TempDir) -> (u64, LimitSource) {
        detect_limit(&t.path().join("proc"), &t.path().join("sys"), 80)
    }

    const MEMINFO: &str = "MemTotal:        1000000 kB\nMemFree:          500000 kB\n";

    #[test]
    fn cgroup_v2_nested_takes_the_smallest() {
        let t = tree(&[
            ("proc/self/cgroup", "0::/a/b\n"),
            ("proc/meminfo", MEMINFO),
            ("sys/fs/cgroup/memory.max", "max\n"),
            ("sys/fs/cgroup/a/memory.max", "1048576\n"),
            ("sys/fs/cgroup/a/b/memory.max", "max\n"),
        ]);
        assert_eq!(detect(&t), (1_048_576, LimitSource::CgroupV2));
    }

    #[test]
    fn cgroup_v2_max_everywhere_falls_back_to_ram() {
        let t =
            tree(&[("proc/self/cgroup", "0::/\n"), ("proc/meminfo", MEMINFO), ("sys/fs/cgroup/memory.max", "max\n")]);
        assert_eq!(detect(&t), (1_000_000 * 1024 / 100 * 80, LimitSource::Ram));
    }

    #[test]
    fn cgroup_v2_in_a_container_namespace() {
        let t = tree(&[("proc/self/cgroup", "0::/\n"), ("sys/fs/cgroup/memory.max", "536870912\n")]);
        assert_eq!(detect(&t), (536_870_912, LimitSource::CgroupV2));
    }

    #[test]
    fn cgroup_v1_limited() {
        let t = tree(&[
            ("proc/self/cgroup", "12:cpu,cpuacct:/x\n4:memory:/process_api/7\n0::/\n"),
            ("proc/meminfo", MEMINFO),
            ("sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n"),
            ("sys/fs/cgroup/memory/process_api/7/memory.limit_in_bytes", "268435456\n"),
        ]);
        assert_eq!(detect(&t), (268_435_456, LimitSource::CgroupV1));
    }

    #[test]
    fn cgroup_v1_container_root_is_the_mount() {
        let t = tree(&[
            ("proc/self/cgroup", "9:memory,hugetlb:/docker/abc\n"),
            ("sys/fs/cgroup/memory/memory.limit_in_bytes", "104857600\n"),
        ]);
        assert_eq!(detect(&t), (104_857_600, LimitSource::CgroupV1));
    }

    #[test]
    fn cgroup_v1_unlimited_falls_back_to_ram() {
        let t = tree(&[
            ("proc/self/cgroup", "4:memory:/process_api/7\n0::/\n"),
            ("proc/meminfo", MEMINFO),
            ("sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n"),
            ("sys/fs/cgroup/memory/process_api/7/memory.limit_in_bytes", "9223372036854771712\n"),
        ]);
        assert_eq!(detect(&t).1, LimitSource::Ram);
    }

    #[test]
    fn nothing_readable_is_no_budget() {
        let t = tree(&[]);
        assert_eq!(detect(&t), (0, LimitSource::Unknown));
        let b = Budget::new(0, LimitSource::Unknown, 80, 90);
        assert_eq!(b.state_for(u64::MAX - 1), State::Ok);
    }

    #[test]
    fn marks_and_states() {
        let b = Budget::new(1_000, LimitSource::Configured, 80, 90);
        assert_eq!((b.warn_bytes, b.reject_bytes), (800, 900));
        assert_eq!([b.state_for(799), b.state_for(800), b.state_for(900)], [State::Ok, State::Warn, State::Reject]);
        assert!(!b.rejecting());
        b.publish(950);
        assert!(b.rejecting());
        let mut text = String::new();
        b.render_prometheus(&mut text);
        assert!(text.contains("ringmcp_memory_limit_bytes{source=\"configured\"} 1000\n"), "{text}");
        assert!(text.contains("ringmcp_memory_state 2\n"), "{text}");
    }

    #[test]
    fn this_process_has_an_rss() {
        assert!(rss_bytes(Path::new("/proc")) > 0);
    }
}
