//! The shipped 32-core profile, `tuning/ringmcp.toml`, is a valid configuration for the real
//! binary and sets what its comments say.

mod common;

use std::process::Command;

#[test]
fn tuning_profile_is_accepted_by_serve_print_config() {
    let profile = concat!(env!("CARGO_MANIFEST_DIR"), "/tuning/ringmcp.toml");
    let out = Command::new(common::bin())
        .args(["serve", "--config", profile, "--print-config"])
        .output()
        .expect("run ringmcp serve --print-config");
    assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let toml = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = toml.lines().collect();
    for want in [
        r#"listen = "0.0.0.0:9999""#,
        r#"cpus = "2-31""#,
        "max_connections = 100000",
        "recv_buffers = 4096",
        "shutdown_delay_ms = 3000",
        r#"allowed_hosts = ["mcp.example.com", "localhost", "127.0.0.1"]"#,
        // Kept defaults the profile's comments and the unit rely on.
        "backlog = 65535",
        "drain_timeout_ms = 10000",
    ] {
        assert!(lines.contains(&want), "missing `{want}` in:\n{toml}");
    }
}
