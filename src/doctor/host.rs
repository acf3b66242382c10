//! The snapshot of the host the checks look at: files under `/proc` and `/sys`, read once
//! under a root directory, and the kernel's io_uring features.

use ringmcp_ring::Features;
use std::collections::BTreeMap;
use std::path::Path;

/// File under the root that, when present, replaces the io_uring probe: the features it
/// names, separated by whitespace (`ring ext_arg single_issuer defer_taskrun buf_ring`), are
/// the ones the kernel has. For tests over a fake root; a real host has no such file.
pub const FEATURES_FILE: &str = "ringmcp-doctor-io-uring";

/// What the checks know about the host.
#[derive(Clone, Debug, Default)]
pub struct Host {
    /// Contents of the files read, by path relative to the root (`proc/sys/fs/nr_open`),
    /// trimmed; a file that could not be read is absent.
    pub files: BTreeMap<String, String>,
    /// The io_uring features of the kernel.
    pub features: Features,
}

impl Host {
    /// Reads every file the checks need under `root` (the values of `sysctl_keys` among them),
    /// and probes io_uring (or reads [`FEATURES_FILE`] when the root has one).
    pub fn read(root: &Path, sysctl_keys: &[String]) -> Host {
        let mut paths: Vec<String> = [
            "proc/self/limits",
            "proc/sys/kernel/osrelease",
            "proc/sys/kernel/io_uring_disabled",
            "proc/sys/kernel/io_uring_group",
            "sys/devices/system/cpu/online",
            "sys/kernel/mm/transparent_hugepage/enabled",
        ]
        .iter()
        .map(|p| p.to_string())
        .collect();
        paths.extend(sysctl_keys.iter().map(|key| sysctl_path(key)));
        let mut files = BTreeMap::new();
        for path in paths {
            if let Ok(text) = std::fs::read_to_string(root.join(&path)) {
                files.insert(path, text.trim().to_string());
            }
        }
        let online = files.get("sys/devices/system/cpu/online").cloned().unwrap_or_default();
        for cpu in crate::cpus::parse_cpu_list(&online).unwrap_or_default() {
            let path = governor_path(cpu);
            if let Ok(text) = std::fs::read_to_string(root.join(&path)) {
                files.insert(path, text.trim().to_string());
            }
        }
        let features = match std::fs::read_to_string(root.join(FEATURES_FILE)) {
            Ok(text) => parse_features(&text),
            Err(_) => ringmcp_ring::probe(),
        };
        Host { files, features }
    }

    /// A file's trimmed contents, if it was read.
    pub fn file(&self, path: &str) -> Option<&str> {
        self.files.get(path).map(String::as_str)
    }

    /// A sysctl's value (`net.core.somaxconn`), if the kernel has it.
    pub fn sysctl(&self, key: &str) -> Option<&str> {
        self.file(&sysctl_path(key))
    }
}

/// `net.core.somaxconn` → `proc/sys/net/core/somaxconn`.
pub fn sysctl_path(key: &str) -> String {
    format!("proc/sys/{}", key.replace('.', "/"))
}

/// Where CPU `cpu`'s frequency governor is shown.
pub fn governor_path(cpu: usize) -> String {
    format!("sys/devices/system/cpu/cpu{cpu}/cpufreq/scaling_governor")
}

/// The features a [`FEATURES_FILE`] names; unknown words are ignored.
pub fn parse_features(text: &str) -> Features {
    let has = |name: &str| text.split_whitespace().any(|w| w == name);
    Features {
        ring: has("ring"),
        ext_arg: has("ext_arg"),
        single_issuer: has("single_issuer"),
        defer_taskrun: has("defer_taskrun"),
        buf_ring: has("buf_ring"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysctl_keys_map_to_proc_paths() {
        assert_eq!(sysctl_path("net.ipv4.tcp_rmem"), "proc/sys/net/ipv4/tcp_rmem");
        assert_eq!(governor_path(3), "sys/devices/system/cpu/cpu3/cpufreq/scaling_governor");
    }

    #[test]
    fn features_file_names_the_features() {
        let f = parse_features("ring ext_arg\nbuf_ring bogus\n");
        assert_eq!(
            f,
            Features { ring: true, ext_arg: true, single_issuer: false, defer_taskrun: false, buf_ring: true }
        );
        assert_eq!(parse_features(""), Features::default());
    }
}
