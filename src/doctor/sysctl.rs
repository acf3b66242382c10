//! Kernel settings: `net.core.somaxconn` and `tcp_max_syn_backlog` against the configured
//! backlog, and every value of `sysctl/99-ringmcp.conf` against `/proc/sys`.

use super::host::{sysctl_path, Host};
use super::{Check, Plan, SYSCTL_PERSIST};

/// The shipped kernel settings, embedded so that doctor checks exactly what is installed.
pub const RECOMMENDED_CONF: &str = include_str!("../../sysctl/99-ringmcp.conf");

/// Keys of the file that a check of their own compares against the settings instead.
const OWN_CHECKS: &[&str] = &["net.core.somaxconn", "net.ipv4.tcp_max_syn_backlog", "kernel.io_uring_disabled"];

/// Keys whose value is a mode, not a size: anything but the recommended value is a warning.
const EXACT_KEYS: &[&str] = &["net.ipv4.tcp_tw_reuse", "net.ipv4.tcp_syncookies"];

/// Keys whose value is a `LOW HIGH` range: it must hold at least as many values.
const RANGE_KEYS: &[&str] = &["net.ipv4.ip_local_port_range"];

/// One `key = value` line of a sysctl.d file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recommendation {
    /// The sysctl, dotted (`net.core.somaxconn`).
    pub key: String,
    /// Its value, numbers separated by one space.
    pub value: String,
    /// The line began with `-`: the key may be missing on some kernels.
    pub optional: bool,
}

/// Parses sysctl.d syntax: `key = value` lines; `#` and `;` start comments; a leading `-`
/// marks a key that may be absent. Lines without `=` are ignored.
pub fn parse_conf(text: &str) -> Vec<Recommendation> {
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else { continue };
        let (key, optional) = match key.trim().strip_prefix('-') {
            Some(k) => (k.trim(), true),
            None => (key.trim(), false),
        };
        out.push(Recommendation { key: key.to_string(), value: normalize(value), optional });
    }
    out
}

/// The recommendations of the shipped file.
pub fn recommendations() -> Vec<Recommendation> {
    parse_conf(RECOMMENDED_CONF)
}

/// `net.core.somaxconn` against `backlog`: below it the kernel silently shortens every
/// core's accept queue, so this fails.
pub fn somaxconn(host: &Host, plan: &Plan) -> Check {
    const NAME: &str = "somaxconn";
    let key = "net.core.somaxconn";
    match host.sysctl(key).and_then(|v| v.parse::<u64>().ok()) {
        None => Check::warn(NAME, format!("cannot read /{}", sysctl_path(key)), persist_fix(key, plan.backlog)),
        Some(v) if v < plan.backlog => Check::fail(
            NAME,
            format!(
                "net.core.somaxconn = {v} < backlog {}: the kernel silently cuts each core's accept \
                 queue to {v}, and connect bursts beyond it are dropped and retried after 1 s",
                plan.backlog
            ),
            persist_fix(key, plan.backlog),
        ),
        Some(v) => Check::pass(NAME, format!("net.core.somaxconn = {v} >= backlog {}", plan.backlog)),
    }
}

/// `net.ipv4.tcp_max_syn_backlog` against `backlog`: below it, bursts of half-open
/// connections go to SYN cookies (still served, so a warning).
pub fn syn_backlog(host: &Host, plan: &Plan) -> Check {
    const NAME: &str = "tcp_max_syn_backlog";
    let key = "net.ipv4.tcp_max_syn_backlog";
    match host.sysctl(key).and_then(|v| v.parse::<u64>().ok()) {
        None => Check::warn(NAME, format!("cannot read /{}", sysctl_path(key)), persist_fix(key, plan.backlog)),
        Some(v) if v < plan.backlog => Check::warn(
            NAME,
            format!(
                "net.ipv4.tcp_max_syn_backlog = {v} < backlog {}: connect bursts past {v} half-open \
                 connections fall back to SYN cookies",
                plan.backlog
            ),
            persist_fix(key, plan.backlog),
        ),
        Some(v) => Check::pass(NAME, format!("net.ipv4.tcp_max_syn_backlog = {v} >= backlog {}", plan.backlog)),
    }
}

/// Every value of the shipped file (except those with a check of their own) against the host.
pub fn recommended(host: &Host) -> Vec<Check> {
    recommendations().iter().filter(|r| !OWN_CHECKS.contains(&r.key.as_str())).map(|r| compare(host, r)).collect()
}

/// One recommendation against the host's value.
pub fn compare(host: &Host, r: &Recommendation) -> Check {
    let value = if r.value.contains(' ') { format!("\"{}\"", r.value) } else { r.value.clone() };
    let fix = format!("sysctl -w {}={value}\n{SYSCTL_PERSIST}", r.key);
    let Some(have) = host.sysctl(&r.key).map(normalize) else {
        if r.optional {
            return Check::pass(&r.key, "not present on this kernel (module not loaded or kernel too old)".into());
        }
        return Check::warn(&r.key, format!("cannot read /{}", sysctl_path(&r.key)), fix);
    };
    let ok = if EXACT_KEYS.contains(&r.key.as_str()) {
        Some(have == r.value)
    } else if RANGE_KEYS.contains(&r.key.as_str()) {
        range_width(&have).zip(range_width(&r.value)).map(|(h, w)| h >= w)
    } else {
        at_least(&have, &r.value)
    };
    let want = if EXACT_KEYS.contains(&r.key.as_str()) {
        format!("recommended {}", r.value)
    } else if RANGE_KEYS.contains(&r.key.as_str()) {
        format!("recommended {} ({} ports)", r.value, range_width(&r.value).unwrap_or(0))
    } else {
        format!("recommended >= {}", r.value)
    };
    match ok {
        Some(true) => Check::pass(&r.key, format!("{have} ({want})")),
        Some(false) => Check::warn(&r.key, format!("{have}, {want}"), fix),
        None => Check::warn(&r.key, format!("`{have}` is not the form of {}", r.value), fix),
    }
}

/// Whitespace runs (tabs in `/proc/sys/net/ipv4/tcp_rmem`) become one space.
pub fn normalize(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether every number of `have` is at least the matching one of `want` (`None` if either is
/// not numbers or their counts differ).
pub fn at_least(have: &str, want: &str) -> Option<bool> {
    let have = numbers(have)?;
    let want = numbers(want)?;
    (have.len() == want.len()).then(|| have.iter().zip(&want).all(|(h, w)| h >= w))
}

/// How many values a `LOW HIGH` range holds.
pub fn range_width(value: &str) -> Option<u64> {
    match numbers(value)?.as_slice() {
        [lo, hi] if lo <= hi => Some(hi - lo + 1),
        _ => None,
    }
}

fn numbers(value: &str) -> Option<Vec<u64>> {
    value.split_whitespace().map(|n| n.parse().ok()).collect()
}

/// `sysctl -w KEY=VALUE` now, and the shipped file for every boot.
fn persist_fix(key: &str, value: u64) -> String {
    format!("sysctl -w {key}={value}\n{SYSCTL_PERSIST}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conf_lines_parse_with_comments_and_optional_keys() {
        let r = parse_conf("# c\n; c\n\nnet.a.b = 1\n-kernel.x=0\nnet.ipv4.tcp_rmem = 4096\t131072  16777216\nnoise\n");
        assert_eq!(
            r,
            vec![
                Recommendation { key: "net.a.b".into(), value: "1".into(), optional: false },
                Recommendation { key: "kernel.x".into(), value: "0".into(), optional: true },
                Recommendation {
                    key: "net.ipv4.tcp_rmem".into(),
                    value: "4096 131072 16777216".into(),
                    optional: false
                },
            ]
        );
    }

    #[test]
    fn shipped_file_parses_and_names_the_key_settings() {
        let keys: Vec<String> = recommendations().into_iter().map(|r| r.key).collect();
        for key in ["net.core.somaxconn", "net.ipv4.ip_local_port_range", "fs.nr_open", "kernel.io_uring_disabled"] {
            assert!(keys.contains(&key.to_string()), "{key} missing from sysctl/99-ringmcp.conf");
        }
        assert!(!keys.contains(&"net.ipv4.tcp_tw_recycle".to_string()));
    }

    #[test]
    fn numbers_compare_element_wise() {
        assert_eq!(at_least("4096 131072 33554432", "4096 131072 16777216"), Some(true));
        assert_eq!(at_least("4096 16384 4194304", "4096 16384 16777216"), Some(false));
        assert_eq!(at_least("65535", "65535"), Some(true));
        assert_eq!(at_least("1 2", "1 2 3"), None);
        assert_eq!(at_least("x", "1"), None);
    }

    #[test]
    fn ranges_compare_by_width() {
        assert_eq!(range_width("32768 60999"), Some(28_232));
        assert_eq!(range_width("10240 65535"), Some(55_296));
        assert_eq!(range_width("9 1"), None);
        assert_eq!(normalize("32768\t60999\n"), "32768 60999");
    }
}
