//! Process limits from `/proc/self/limits`: open files against `max_connections`, locked
//! memory against the rings. `serve` raises each soft limit to its hard limit at start, so
//! the hard limit is the one that binds.

use super::host::Host;
use super::{Check, Plan};
use crate::limits::{IO_URING_MEMCG_KERNEL, MEMLOCK_MARGIN_BYTES, NOFILE_MARGIN_FILES, RING_MEMLOCK_BYTES_PER_CORE};

/// A soft and a hard limit; `u64::MAX` is `unlimited`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    /// What the process gets now.
    pub soft: u64,
    /// What it may raise the soft limit to (and what `serve` raises it to).
    pub hard: u64,
}

/// The `name` row (`Max open files`) of a `/proc/<pid>/limits` table.
pub fn parse_limit(table: &str, name: &str) -> Option<Limit> {
    let row = table.lines().find_map(|l| l.strip_prefix(name))?;
    let mut cols = row.split_whitespace();
    let value = |v: &str| if v == "unlimited" { Some(u64::MAX) } else { v.parse().ok() };
    Some(Limit { soft: value(cols.next()?)?, hard: value(cols.next()?)? })
}

/// `6.18.44-fc` → `(6, 18)`.
pub fn parse_kernel_version(osrelease: &str) -> Option<(u32, u32)> {
    let mut parts = osrelease.split(|c: char| !c.is_ascii_digit());
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// Open files: one per connection plus [`NOFILE_MARGIN_FILES`].
pub fn open_files(host: &Host, plan: &Plan) -> Check {
    const NAME: &str = "open-files";
    let need = plan.max_connections + NOFILE_MARGIN_FILES;
    let fix = format!(
        "LimitNOFILE={need} in the unit (tuning/ringmcp.service)\n\
         ulimit -Hn {need}; ulimit -n {need}   (this shell; a higher hard limit needs root)"
    );
    let Some(l) = host.file("proc/self/limits").and_then(|t| parse_limit(t, "Max open files")) else {
        return Check::warn(NAME, "cannot read `Max open files` in /proc/self/limits".into(), fix);
    };
    let want = format!("max_connections {} + {NOFILE_MARGIN_FILES}", plan.max_connections);
    if l.hard < need {
        return Check::fail(
            NAME,
            format!("hard limit {} < {need} ({want}): accepts past it fail with EMFILE", show(l.hard)),
            fix,
        );
    }
    if l.soft < need {
        return Check::pass(
            NAME,
            format!("soft {} < {need} ({want}), but serve raises it to the hard limit {}", l.soft, show(l.hard)),
        );
    }
    Check::pass(NAME, format!("soft limit {} >= {need} ({want})", show(l.soft)))
}

/// Locked memory for `cores` rings; a shortfall fails only on kernels that charge rings to
/// RLIMIT_MEMLOCK (before [`IO_URING_MEMCG_KERNEL`]).
pub fn locked_memory(host: &Host, cores: u64) -> Check {
    const NAME: &str = "locked-memory";
    let need = cores * RING_MEMLOCK_BYTES_PER_CORE + MEMLOCK_MARGIN_BYTES;
    let need_kib = need.div_ceil(1024);
    let need_mib = need_kib.div_ceil(1024);
    let fix = format!(
        "LimitMEMLOCK={need_mib}M in the unit (tuning/ringmcp.service sets 64M)\n\
         ulimit -Hl {need_kib}; ulimit -l {need_kib}   (this shell, in KiB; a higher hard limit needs root)"
    );
    let Some(l) = host.file("proc/self/limits").and_then(|t| parse_limit(t, "Max locked memory")) else {
        return Check::warn(NAME, "cannot read `Max locked memory` in /proc/self/limits".into(), fix);
    };
    let want = format!("{cores} cores x {} KiB of ring + 1 MiB", RING_MEMLOCK_BYTES_PER_CORE / 1024);
    if l.hard >= need {
        return Check::pass(NAME, format!("hard limit {} >= {need} bytes ({want})", show(l.hard)));
    }
    let kernel = host.file("proc/sys/kernel/osrelease").unwrap_or("unknown");
    let short = format!("hard limit {} < {need} bytes ({want})", show(l.hard));
    match parse_kernel_version(kernel) {
        Some(v) if v >= IO_URING_MEMCG_KERNEL => Check::warn(
            NAME,
            format!(
                "{short}; harmless on Linux {kernel}, which charges io_uring rings to the memory cgroup \
                 (since 5.12), but ring setup fails with ENOMEM if this host boots an older kernel"
            ),
            fix,
        ),
        _ => Check::fail(
            NAME,
            format!("{short}; Linux {kernel} charges rings to this limit: cores fail to start with ENOMEM"),
            fix,
        ),
    }
}

fn show(v: u64) -> String {
    if v == u64::MAX {
        "unlimited".into()
    } else {
        v.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "Limit                     Soft Limit           Hard Limit           Units     \n\
        Max open files            1024                 524288               files     \n\
        Max locked memory         8388608              unlimited            bytes     \n";

    #[test]
    fn limits_rows_parse_with_unlimited() {
        assert_eq!(parse_limit(TABLE, "Max open files"), Some(Limit { soft: 1024, hard: 524_288 }));
        assert_eq!(parse_limit(TABLE, "Max locked memory"), Some(Limit { soft: 8_388_608, hard: u64::MAX }));
        assert_eq!(parse_limit(TABLE, "Max processes"), None);
    }

    #[test]
    fn kernel_versions_parse() {
        assert_eq!(parse_kernel_version("6.18.44-fc-v669"), Some((6, 18)));
        assert_eq!(parse_kernel_version("5.4.0-150-generic"), Some((5, 4)));
        assert_eq!(parse_kernel_version("5"), None);
        assert!((5, 11) < IO_URING_MEMCG_KERNEL && (5, 12) >= IO_URING_MEMCG_KERNEL && (6, 1) > IO_URING_MEMCG_KERNEL);
    }
}
