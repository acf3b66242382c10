//! io_uring: whether the kernel lets ringmcp use it at all, and which features of the
//! multishot path it has (else the loop runs the single-shot fallback path).

use super::host::Host;
use super::{Check, Plan, SYSCTL_PERSIST};

/// What running on the fallback path costs, for the warnings.
const FALLBACK_COST: &str = "ringmcp falls back to the single-shot path: accept re-armed per \
    connection, a poll then a recv per read (two operations where multishot needs none), a read \
    buffer per reading connection instead of one shared buffer ring, completions run on \
    interrupts instead of in the loop's wait";

/// `kernel.io_uring_disabled`: 0 (or absent: Linux before 6.6) passes, 1 (only
/// `kernel.io_uring_group`) warns, 2 fails.
pub fn disabled(host: &Host) -> Check {
    const NAME: &str = "io_uring_disabled";
    let fix = format!("sysctl -w kernel.io_uring_disabled=0\n{SYSCTL_PERSIST}");
    match host.sysctl("kernel.io_uring_disabled") {
        None => Check::pass(NAME, "no kernel.io_uring_disabled (Linux before 6.6: io_uring is always on)".into()),
        Some("0") => Check::pass(NAME, "kernel.io_uring_disabled = 0: io_uring is on for every process".into()),
        Some("1") => {
            let group = host.sysctl("kernel.io_uring_group").unwrap_or("-1");
            Check::warn(
                NAME,
                format!(
                    "kernel.io_uring_disabled = 1: only members of group {group} (kernel.io_uring_group) \
                     may use io_uring; ringmcp cannot start as any other user"
                ),
                format!("{fix}\nor run ringmcp with SupplementaryGroups= naming group {group} (unit)"),
            )
        }
        Some(v) => Check::fail(
            NAME,
            format!("kernel.io_uring_disabled = {v}: io_uring is off for every process; ringmcp cannot start"),
            fix,
        ),
    }
}

/// One line per feature the ring loop uses, judged against `io_path`.
pub fn features(host: &Host, plan: &Plan) -> Vec<Check> {
    let f = host.features;
    if !f.ring {
        return vec![Check::fail(
            "io_uring",
            "io_uring_setup is refused (disabled, compiled out, or blocked by seccomp): ringmcp cannot start".into(),
            format!(
                "sysctl -w kernel.io_uring_disabled=0\n{SYSCTL_PERSIST}\n\
                 in a container: allow io_uring_setup, io_uring_enter and io_uring_register in its seccomp profile"
            ),
        )];
    }
    let mut out = vec![Check::pass("io_uring", "io_uring_setup works".into())];
    out.push(if f.ext_arg {
        Check::pass("io_uring.ext_arg", "bounded waits (EXT_ARG) present".into())
    } else {
        Check::fail(
            "io_uring.ext_arg",
            "no EXT_ARG waits: ringmcp needs Linux 5.11 or newer on either path".into(),
            "boot Linux 6.1 or newer".into(),
        )
    });
    let multishot = [
        ("io_uring.single_issuer", f.single_issuer, "SINGLE_ISSUER (Linux 6.0)"),
        ("io_uring.defer_taskrun", f.defer_taskrun, "DEFER_TASKRUN (Linux 6.1; implies multishot accept and recv)"),
        ("io_uring.buf_ring", f.buf_ring, "provided buffer rings (Linux 5.19)"),
    ];
    for (name, present, what) in multishot {
        out.push(match (present, plan.io_path.as_str()) {
            (true, _) => Check::pass(name, format!("{what} present")),
            (false, "fallback") => Check::pass(name, format!("no {what}; not used (io_path = fallback)")),
            (false, "multishot") => Check::fail(
                name,
                format!("no {what}: io_path = multishot refuses to start"),
                "boot Linux 6.1 or newer, or set io_path = \"auto\"".into(),
            ),
            (false, _) => Check::warn(
                name,
                format!("no {what}: {FALLBACK_COST}"),
                "boot Linux 6.1 or newer (or set io_path = \"fallback\" to accept it)".into(),
            ),
        });
    }
    out
}
