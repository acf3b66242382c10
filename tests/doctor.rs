//! `ringmcp doctor` through the real binary over fake /proc and /sys trees (`--root`): one
//! verdict per check, the fix it prints, the JSON form and the exit codes.

mod common;

use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// A fake root holding a host that passes every check: 4 CPUs at `performance`, THP
/// `madvise`, every value of sysctl/99-ringmcp.conf, generous limits, every io_uring feature.
struct FakeHost {
    dir: tempfile::TempDir,
}

const GOOD_LIMITS: &str = "Limit                     Soft Limit           Hard Limit           Units     \n\
    Max open files            1048576              1048576              files     \n\
    Max locked memory         unlimited            unlimited            bytes     \n";

impl FakeHost {
    fn good() -> FakeHost {
        let host = FakeHost { dir: tempfile::tempdir().unwrap() };
        host.set("proc/self/limits", GOOD_LIMITS);
        host.set("proc/sys/kernel/osrelease", "6.8.0-45-generic\n");
        let conf = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/sysctl/99-ringmcp.conf")).unwrap();
        for line in conf.lines().filter(|l| !l.starts_with('#') && l.contains('=')) {
            let (key, value) = line.split_once('=').unwrap();
            // The kernel shows several numbers separated by tabs.
            host.set_sysctl(
                key.trim().trim_start_matches('-'),
                &value.split_whitespace().collect::<Vec<_>>().join("\t"),
            );
        }
        host.set("proc/sys/kernel/io_uring_group", "-1\n");
        host.set("sys/devices/system/cpu/online", "0-3\n");
        for cpu in 0..4 {
            host.set(&format!("sys/devices/system/cpu/cpu{cpu}/cpufreq/scaling_governor"), "performance\n");
        }
        host.set("sys/kernel/mm/transparent_hugepage/enabled", "always [madvise] never\n");
        host.set("ringmcp-doctor-io-uring", "ring ext_arg single_issuer defer_taskrun buf_ring\n");
        host
    }

    fn set(&self, path: &str, text: &str) {
        let file = self.dir.path().join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, text).unwrap();
    }

    fn set_sysctl(&self, key: &str, value: &str) {
        self.set(&format!("proc/sys/{}", key.replace('.', "/")), &format!("{value}\n"));
    }

    fn remove(&self, path: &str) {
        std::fs::remove_file(self.dir.path().join(path)).unwrap();
    }

    /// `ringmcp doctor --root <fake> ARGS`: exit code and stdout.
    fn doctor(&self, args: &[&str]) -> (i32, String) {
        doctor_at(self.dir.path(), args)
    }

    /// The `--json` report: exit code and verdict by check name.
    fn verdicts(&self, args: &[&str]) -> (i32, Vec<(String, String)>) {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let (code, out) = self.doctor(&all);
        let report: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"));
        let rows = report.as_array().unwrap().iter();
        (code, rows.map(|c| (c["check"].as_str().unwrap().into(), c["verdict"].as_str().unwrap().into())).collect())
    }

    /// The verdict of one check, from `--json`.
    fn verdict(&self, check: &str, args: &[&str]) -> String {
        let (_, rows) = self.verdicts(args);
        rows.into_iter().find(|(c, _)| c == check).unwrap_or_else(|| panic!("no check {check}")).1
    }
}

fn doctor_at(root: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(common::bin())
        .args(["doctor", "--root"])
        .arg(root)
        .args(args)
        .output()
        .expect("run ringmcp doctor");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.is_empty() || out.status.code() == Some(2), "stderr: {stderr}");
    (out.status.code().unwrap(), String::from_utf8(out.stdout).unwrap())
}

/// The line of a text report that starts the check `name`, and the lines under it.
fn section<'a>(out: &'a str, name: &str) -> Vec<&'a str> {
    let mut lines = out.lines().skip_while(|l| l.split_whitespace().nth(1) != Some(name));
    let first = lines.next().unwrap_or_else(|| panic!("no line for {name} in:\n{out}"));
    let mut section = vec![first];
    section.extend(lines.take_while(|l| l.starts_with(' ')));
    section
}

const ALL_CHECKS: &[&str] = &[
    "open-files",
    "locked-memory",
    "somaxconn",
    "tcp_max_syn_backlog",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.tcp_tw_reuse",
    "fs.nr_open",
    "fs.file-max",
    "net.core.rmem_max",
    "net.core.wmem_max",
    "net.ipv4.tcp_rmem",
    "net.ipv4.tcp_wmem",
    "net.core.netdev_max_backlog",
    "net.ipv4.tcp_syncookies",
    "net.netfilter.nf_conntrack_max",
    "io_uring_disabled",
    "io_uring",
    "io_uring.ext_arg",
    "io_uring.single_issuer",
    "io_uring.defer_taskrun",
    "io_uring.buf_ring",
    "cpus",
    "cpu-governor",
    "transparent-hugepages",
];

#[test]
fn good_host_passes_every_check_and_exits_0() {
    let host = FakeHost::good();
    let (code, out) = host.doctor(&[]);
    assert_eq!(code, 0, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), ALL_CHECKS.len() + 1, "{out}");
    for (line, name) in lines.iter().zip(ALL_CHECKS) {
        assert_eq!(line.split_whitespace().take(2).collect::<Vec<_>>(), ["PASS", *name], "{out}");
    }
    assert_eq!(lines.last().unwrap(), &format!("{} passed, 0 warnings, 0 failed", ALL_CHECKS.len()));
}

#[test]
fn json_report_has_every_check_with_its_exact_verdict() {
    let host = FakeHost::good();
    host.set("sys/kernel/mm/transparent_hugepage/enabled", "[always] madvise never\n");
    host.set_sysctl("net.core.somaxconn", "4096");
    let (code, rows) = host.verdicts(&[]);
    assert_eq!(code, 1);
    let names: Vec<&str> = rows.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(names, ALL_CHECKS);
    for (check, verdict) in &rows {
        let want = match check.as_str() {
            "somaxconn" => "FAIL",
            "transparent-hugepages" => "WARN",
            _ => "PASS",
        };
        assert_eq!(verdict, want, "{check}");
    }
    let (_, out) = host.doctor(&["--json"]);
    let report: Value = serde_json::from_str(&out).unwrap();
    let somaxconn = report.as_array().unwrap().iter().find(|c| c["check"] == "somaxconn").unwrap();
    assert_eq!(
        somaxconn["fix"],
        "sysctl -w net.core.somaxconn=65535\ncp sysctl/99-ringmcp.conf /etc/sysctl.d/ && sysctl --system"
    );
    let open_files = report.as_array().unwrap().iter().find(|c| c["check"] == "open-files").unwrap();
    assert_eq!(open_files["fix"], "");
}

#[test]
fn somaxconn_below_backlog_fails_with_the_fix() {
    let host = FakeHost::good();
    host.set_sysctl("net.core.somaxconn", "4096");
    let (code, out) = host.doctor(&["--backlog", "65535"]);
    assert_eq!(code, 1, "{out}");
    let s = section(&out, "somaxconn");
    assert!(s[0].starts_with("FAIL  somaxconn "), "{out}");
    assert!(s[0].contains("net.core.somaxconn = 4096 < backlog 65535"), "{out}");
    assert_eq!(s[1].trim(), "fix: sysctl -w net.core.somaxconn=65535");
    assert_eq!(s[2].trim(), "fix: cp sysctl/99-ringmcp.conf /etc/sysctl.d/ && sysctl --system");
    assert!(out.ends_with("1 failed\n"), "{out}");
    // A backlog the kernel allows passes.
    assert_eq!(host.verdict("somaxconn", &["--backlog", "4096"]), "PASS");
}

#[test]
fn syn_backlog_below_backlog_warns() {
    let host = FakeHost::good();
    host.set_sysctl("net.ipv4.tcp_max_syn_backlog", "2048");
    assert_eq!(host.verdict("tcp_max_syn_backlog", &[]), "WARN");
    assert_eq!(host.verdict("tcp_max_syn_backlog", &["--backlog", "2048"]), "PASS");
}

#[test]
fn open_files_below_max_connections_fails() {
    let host = FakeHost::good();
    host.set("proc/self/limits", &GOOD_LIMITS.replace("1048576              1048576", "4096                 4096   "));
    let (code, out) = host.doctor(&["--max-connections", "15000"]);
    assert_eq!(code, 1, "{out}");
    let s = section(&out, "open-files");
    assert!(s[0].starts_with("FAIL  open-files "), "{out}");
    assert!(s[0].contains("hard limit 4096 < 16024 (max_connections 15000 + 1024)"), "{out}");
    assert_eq!(s[1].trim(), "fix: LimitNOFILE=16024 in the unit (tuning/ringmcp.service)");
    assert_eq!(host.verdict("open-files", &["--max-connections", "3072"]), "PASS");
    assert_eq!(host.verdict("open-files", &["--max-connections", "3073"]), "FAIL");
}

#[test]
fn open_files_soft_below_but_hard_enough_passes_because_serve_raises_it() {
    let host = FakeHost::good();
    host.set("proc/self/limits", &GOOD_LIMITS.replace("1048576              1048576", "1024                 1048576"));
    let (code, out) = host.doctor(&[]);
    assert_eq!(code, 0, "{out}");
    assert!(section(&out, "open-files")[0].contains("serve raises it to the hard limit 1048576"), "{out}");
}

#[test]
fn locked_memory_short_fails_on_old_kernels_and_warns_on_new_ones() {
    let host = FakeHost::good();
    host.set(
        "proc/self/limits",
        &GOOD_LIMITS.replace("unlimited            unlimited", "65536                65536    "),
    );
    assert_eq!(host.verdict("locked-memory", &[]), "WARN");
    host.set("proc/sys/kernel/osrelease", "5.10.0-28-amd64\n");
    assert_eq!(host.verdict("locked-memory", &[]), "FAIL");
}

#[test]
fn io_uring_disabled_2_fails_and_1_warns() {
    let host = FakeHost::good();
    host.set_sysctl("kernel.io_uring_disabled", "2");
    let (code, out) = host.doctor(&[]);
    assert_eq!(code, 1, "{out}");
    let s = section(&out, "io_uring_disabled");
    assert!(s[0].starts_with("FAIL  io_uring_disabled "), "{out}");
    assert_eq!(s[1].trim(), "fix: sysctl -w kernel.io_uring_disabled=0");
    host.set_sysctl("kernel.io_uring_disabled", "1");
    assert_eq!(host.verdict("io_uring_disabled", &[]), "WARN");
    host.remove("proc/sys/kernel/io_uring_disabled");
    assert_eq!(host.verdict("io_uring_disabled", &[]), "PASS");
}

#[test]
fn missing_multishot_features_warn_on_auto_and_fail_on_multishot() {
    let host = FakeHost::good();
    host.set("ringmcp-doctor-io-uring", "ring ext_arg single_issuer buf_ring\n");
    let (code, rows) = host.verdicts(&[]);
    assert_eq!(code, 0);
    let verdict = |name: &str| rows.iter().find(|(c, _)| c == name).unwrap().1.clone();
    assert_eq!(verdict("io_uring.defer_taskrun"), "WARN");
    assert_eq!(verdict("io_uring.single_issuer"), "PASS");
    assert_eq!(host.verdict("io_uring.defer_taskrun", &["--io-path", "multishot"]), "FAIL");
    assert_eq!(host.verdict("io_uring.defer_taskrun", &["--io-path", "fallback"]), "PASS");
}

#[test]
fn no_io_uring_at_all_fails() {
    let host = FakeHost::good();
    host.set("ringmcp-doctor-io-uring", "\n");
    let (code, rows) = host.verdicts(&[]);
    assert_eq!(code, 1);
    assert!(rows.contains(&("io_uring".into(), "FAIL".into())));
    assert!(!rows.iter().any(|(c, _)| c == "io_uring.ext_arg"), "no feature lines without a ring");
}

#[test]
fn cpus_not_online_fail_and_every_cpu_of_a_big_host_warns() {
    let host = FakeHost::good();
    let (code, out) = host.doctor(&["--cpus", "0,6-7"]);
    assert_eq!(code, 1, "{out}");
    let s = section(&out, "cpus");
    assert_eq!(
        s[0].split_whitespace().collect::<Vec<_>>().join(" "),
        "FAIL cpus CPU 6-7 not online (online: 0-3): serve refuses to start"
    );
    assert_eq!(s[1].trim(), "fix: --cpus 0-3 (every online CPU)");
    assert_eq!(host.verdict("cpus", &["--cores", "8"]), "FAIL");
    assert_eq!(host.verdict("cpus", &["--cpus", "1-3"]), "PASS");
    host.set("sys/devices/system/cpu/online", "0-15\n");
    let (_, out) = host.doctor(&[]);
    let s = section(&out, "cpus");
    assert!(s[0].starts_with("WARN  cpus "), "{out}");
    assert_eq!(s[1].trim(), "fix: --cpus 2-15 (leaves CPU 0-1 to interrupts and the OS; tuning/README.md)");
    assert_eq!(host.verdict("cpus", &["--cpus", "2-15"]), "PASS");
}

#[test]
fn governor_powersave_warns_and_no_cpufreq_passes() {
    let host = FakeHost::good();
    host.set("sys/devices/system/cpu/cpu2/cpufreq/scaling_governor", "powersave\n");
    let (code, out) = host.doctor(&[]);
    assert_eq!(code, 0, "{out}");
    let s = section(&out, "cpu-governor");
    assert!(s[0].starts_with("WARN  cpu-governor ") && s[0].contains("cpu2 powersave"), "{out}");
    assert_eq!(s[1].trim(), "fix: cpupower frequency-set -g performance");
    // Only the CPUs the server runs on count.
    assert_eq!(host.verdict("cpu-governor", &["--cpus", "0-1"]), "PASS");
    for cpu in 0..4 {
        host.remove(&format!("sys/devices/system/cpu/cpu{cpu}/cpufreq/scaling_governor"));
    }
    let (_, out) = host.doctor(&[]);
    assert!(section(&out, "cpu-governor")[0].contains("no cpufreq (virtual machine?)"), "{out}");
}

#[test]
fn transparent_hugepages_always_warns_with_the_measured_cost() {
    let host = FakeHost::good();
    host.set("sys/kernel/mm/transparent_hugepage/enabled", "[always] madvise never\n");
    let (code, out) = host.doctor(&[]);
    assert_eq!(code, 0, "{out}");
    let s = section(&out, "transparent-hugepages");
    assert!(s[0].starts_with("WARN  transparent-hugepages ") && s[0].contains("from 6.3 to 15.5 MB"), "{out}");
    assert_eq!(s[1].trim(), "fix: echo madvise > /sys/kernel/mm/transparent_hugepage/enabled");
    host.set("sys/kernel/mm/transparent_hugepage/enabled", "always madvise [never]\n");
    assert_eq!(host.verdict("transparent-hugepages", &[]), "PASS");
}

#[test]
fn recommended_sysctls_below_the_file_warn_and_ranges_compare_by_width() {
    let host = FakeHost::good();
    host.set_sysctl("net.core.rmem_max", "4194304");
    host.set_sysctl("net.ipv4.tcp_wmem", "4096\t16384\t4194304");
    host.set_sysctl("net.ipv4.ip_local_port_range", "32768\t60999");
    host.set_sysctl("net.ipv4.tcp_rmem", "4096\t131072\t33554432");
    host.set_sysctl("net.ipv4.tcp_tw_reuse", "2");
    host.remove("proc/sys/net/netfilter/nf_conntrack_max");
    let (code, out) = host.doctor(&[]);
    assert_eq!(code, 0, "{out}");
    let s = section(&out, "net.ipv4.tcp_wmem");
    assert_eq!(
        s[0].split_whitespace().collect::<Vec<_>>().join(" "),
        "WARN net.ipv4.tcp_wmem 4096 16384 4194304, recommended >= 4096 16384 16777216"
    );
    assert_eq!(s[1].trim(), "fix: sysctl -w net.ipv4.tcp_wmem=\"4096 16384 16777216\"");
    let (_, rows) = host.verdicts(&[]);
    let verdict = |name: &str| rows.iter().find(|(c, _)| c == name).unwrap().1.clone();
    assert_eq!(verdict("net.core.rmem_max"), "WARN");
    assert_eq!(verdict("net.ipv4.ip_local_port_range"), "WARN");
    assert_eq!(verdict("net.ipv4.tcp_rmem"), "PASS");
    assert_eq!(verdict("net.ipv4.tcp_tw_reuse"), "WARN");
    assert_eq!(verdict("net.netfilter.nf_conntrack_max"), "PASS");
    host.set_sysctl("net.ipv4.ip_local_port_range", "1024\t65535");
    assert_eq!(host.verdict("net.ipv4.ip_local_port_range", &[]), "PASS");
}

#[test]
fn bad_argument_exits_2() {
    let host = FakeHost::good();
    let (code, out) = host.doctor(&["--backlog", "0"]);
    assert_eq!((code, out.as_str()), (2, ""));
}

#[test]
fn tuning_profile_passes_on_a_prepared_32_cpu_host() {
    let host = FakeHost::good();
    host.set("sys/devices/system/cpu/online", "0-31\n");
    let profile = concat!(env!("CARGO_MANIFEST_DIR"), "/tuning/ringmcp.toml");
    let (code, out) = host.doctor(&["--config", profile]);
    assert_eq!(code, 0, "{out}");
    assert!(out.ends_with(&format!("{} passed, 0 warnings, 0 failed\n", ALL_CHECKS.len())), "{out}");
    assert!(section(&out, "cpus")[0].contains("30 of 32 online CPUs"), "{out}");
    assert!(section(&out, "open-files")[0].contains("(max_connections 100000 + 1024)"), "{out}");
}
