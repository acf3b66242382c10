//! Reading a server process's memory and CPU use from /proc. The parsers are pure; `sample`
//! does the reads.

use std::path::PathBuf;

/// One reading of a process.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sample {
    /// Peak resident set (VmHWM), KiB.
    pub peak_rss_kib: u64,
    /// Resident set (VmRSS), KiB.
    pub rss_kib: u64,
    /// utime + stime, in clock ticks.
    pub cpu_ticks: u64,
}

/// Reads /proc/PID/status and /proc/PID/stat.
///
/// # Errors
/// The process does not exist (or is not readable), or the files do not parse.
pub fn sample(pid: u32) -> Result<Sample, String> {
    let dir = PathBuf::from(format!("/proc/{pid}"));
    let status = std::fs::read_to_string(dir.join("status")).map_err(|e| format!("/proc/{pid}/status: {e}"))?;
    let stat = std::fs::read_to_string(dir.join("stat")).map_err(|e| format!("/proc/{pid}/stat: {e}"))?;
    Ok(Sample {
        peak_rss_kib: status_kib(&status, "VmHWM:").ok_or("no VmHWM in /proc/PID/status")?,
        rss_kib: status_kib(&status, "VmRSS:").ok_or("no VmRSS in /proc/PID/status")?,
        cpu_ticks: stat_cpu_ticks(&stat).ok_or("unreadable /proc/PID/stat")?,
    })
}

/// Clock ticks per second (`getconf CLK_TCK`), for turning `cpu_ticks` into seconds.
pub fn ticks_per_s() -> f64 {
    // SAFETY: sysconf only reads a system constant; it has no memory-safety preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

/// A `Key:   N kB` line of /proc/PID/status, in KiB.
pub fn status_kib(status: &str, key: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

/// utime + stime (fields 14 and 15) of /proc/PID/stat. The command name (field 2) may hold
/// spaces and parentheses, so fields are counted after its last `)`.
pub fn stat_cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace();
    // After the name come field 3 (state) onwards: utime is field 14, the 12th here.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_give_kib() {
        let status = "Name:\tringmcp\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\n";
        assert_eq!(status_kib(status, "VmHWM:"), Some(20480));
        assert_eq!(status_kib(status, "VmRSS:"), Some(10240));
        assert_eq!(status_kib(status, "VmSwap:"), None);
    }

    #[test]
    fn stat_cpu_survives_odd_command_names() {
        let stat = "1234 (ring mcp) (x)) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 100 0 0";
        assert_eq!(stat_cpu_ticks(stat), Some(300));
        assert_eq!(stat_cpu_ticks("garbage"), None);
    }

    #[test]
    fn this_process_can_be_sampled() {
        let s = sample(std::process::id()).expect("own /proc entry");
        assert!(s.peak_rss_kib >= s.rss_kib.min(s.peak_rss_kib) && s.rss_kib > 0);
        assert!(ticks_per_s() > 0.0);
    }
}
