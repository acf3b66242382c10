//! The server process: cores and listeners, the connection cap, backpressure, overload,
//! graceful shutdown, configuration errors — all through the real binary and sockets.

mod common;

use common::{bin, Conn, Server};
use serde_json::Value;
use std::collections::HashSet;
use std::process::Command;
use std::time::{Duration, Instant};

/// Listening TCP sockets on `port`, from /proc/net/tcp{,6} (what `ss -ltn` reads).
fn listening_sockets(port: u16) -> usize {
    let needle = format!(":{port:04X} ");
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .flat_map(|t| t.lines().map(str::to_string).collect::<Vec<_>>())
        .filter(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            cols.len() > 3 && format!("{} ", cols[1]).contains(&needle) && cols[3] == "0A"
        })
        .count()
}

fn sleep_call(id: usize, ms: u64) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"sleep","arguments":{{"ms":{ms}}}}}}}"#
    )
}

#[test]
fn two_cores_have_two_listeners_and_both_serve_sessions() {
    let server = Server::start(&["--cores", "2"]);
    assert_eq!(listening_sockets(server.port), 2, "one SO_REUSEPORT listener per core");
    let mut cores = HashSet::new();
    let mut sessions = HashSet::new();
    let mut conns = Vec::new();
    for _ in 0..64 {
        let mut c = server.connect();
        let init = c.initialize();
        cores.insert(init["_meta"]["io.ringmcp/core"].as_u64().unwrap());
        let session = init["_meta"]["io.ringmcp/session"].as_str().unwrap().to_string();
        assert_eq!(session.len(), 32);
        assert!(sessions.insert(session), "session ids are unique");
        conns.push(c);
    }
    assert_eq!(cores, HashSet::from([0, 1]), "64 connections must land on both cores");
}

#[test]
fn requests_over_the_reject_mark_get_overload_errors_and_every_request_one_answer() {
    // capacity 10 at 95 % → the 10th concurrent request is refused (reject mark 9).
    let server = Server::start(&["--cores", "1", "--queue-capacity", "10"]);
    let mut c = server.connect();
    c.initialize();
    let batch: String = (0..20).map(|i| sleep_call(i, 300) + "\n").collect();
    c.send_raw(batch.as_bytes());
    let answers: Vec<Value> = (0..20).map(|_| c.recv()).collect();
    let (ok, overloaded): (Vec<&Value>, Vec<&Value>) = answers.iter().partition(|a| a.get("result").is_some());
    assert_eq!(ok.len(), 9);
    assert_eq!(overloaded.len(), 11);
    for a in &overloaded {
        assert_eq!(a["error"]["code"], -32010, "{a}");
        assert_eq!(a["error"]["data"]["retryAfterMs"], 50, "{a}");
        assert_eq!(a["error"]["data"]["queueCapacity"], 10, "{a}");
    }
    // Refusals are immediate; the admitted sleeps answer after them.
    assert!(answers[..11].iter().all(|a| a.get("error").is_some()), "overload errors come first");
    for a in &ok {
        assert_eq!(a["result"]["content"][0]["text"], "slept 300 ms");
    }
    let ids: HashSet<u64> = answers.iter().map(|a| a["id"].as_u64().unwrap()).collect();
    assert_eq!(ids.len(), 20, "each id answered exactly once");
    // With the queue empty again, requests are admitted.
    assert_eq!(c.call(r#"{"jsonrpc":"2.0","id":"x","method":"ping"}"#), r#"{"jsonrpc":"2.0","id":"x","result":{}}"#);
}

#[test]
fn a_connection_at_its_inflight_limit_is_not_read_until_one_completes() {
    let server = Server::start(&["--cores", "1", "--max-inflight-per-connection", "2"]);
    let mut c = server.connect();
    c.initialize();
    let batch =
        format!("{}\n{}\n{}\n", sleep_call(1, 200), sleep_call(2, 200), r#"{"jsonrpc":"2.0","id":3,"method":"ping"}"#);
    c.send_raw(batch.as_bytes());
    let first = c.recv();
    assert_ne!(first["id"], 3, "the ping waits behind the two in-flight sleeps: {first}");
    let rest: HashSet<String> = (0..2).map(|_| c.recv()["id"].to_string()).collect();
    let all: HashSet<String> = rest.into_iter().chain([first["id"].to_string()]).collect();
    assert_eq!(all, HashSet::from(["1".to_string(), "2".to_string(), "3".to_string()]));
}

#[test]
fn sigterm_lets_in_flight_requests_finish_then_exits_zero() {
    let server = Server::start(&["--cores", "2"]);
    let mut c = server.connect();
    c.initialize();
    let mut batch: String = (0..100).map(|i| sleep_call(i, 200) + "\n").collect();
    batch.push_str("{\"jsonrpc\":\"2.0\",\"id\":\"marker\",\"method\":\"ping\"}\n");
    c.send_raw(batch.as_bytes());
    // The ping is answered at once, after all 100 sleeps were read and admitted.
    assert_eq!(c.recv_line(), r#"{"jsonrpc":"2.0","id":"marker","result":{}}"#);
    let port = server.port;
    let waiter = std::thread::spawn(move || server.signal_and_wait(libc::SIGTERM));
    let mut ids = HashSet::new();
    for _ in 0..100 {
        let a = c.recv();
        assert_eq!(a["result"]["content"][0]["text"], "slept 200 ms", "{a}");
        assert!(ids.insert(a["id"].as_u64().unwrap()));
    }
    assert_eq!(c.try_recv_line(), None, "connection closes after draining");
    let status = waiter.join().unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "no longer listening");
}

#[test]
fn connections_over_max_connections_get_an_error_line_and_are_closed() {
    let server = Server::start(&["--cores", "2", "--max-connections", "2"]);
    let mut a = server.connect();
    a.initialize();
    let mut b = server.connect();
    b.initialize();
    let mut third = server.connect();
    let refusal = third.recv();
    assert_eq!(refusal["error"]["code"], -32010);
    assert_eq!(refusal["error"]["message"], "Server overloaded: max_connections (2) reached; connection closed");
    assert_eq!(third.try_recv_line(), None);
    drop(a);
    // Closing one frees a slot (the server notices the close asynchronously).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut c = server.connect();
        let answer = c.call(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#);
        if answer == r#"{"jsonrpc":"2.0","id":1,"result":{}}"# {
            break;
        }
        assert!(Instant::now() < deadline, "slot never freed: {answer}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn list_pages_chain_through_next_cursor() {
    let server = Server::start(&["--cores", "1", "--list-page-size", "2"]);
    let mut c = server.connect();
    c.initialize();
    let first: Value = serde_json::from_str(&c.call(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)).unwrap();
    let names: Vec<&str> =
        first["result"]["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["echo", "add"]);
    let cursor = first["result"]["nextCursor"].as_str().unwrap();
    let req = format!(r#"{{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{{"cursor":"{cursor}"}}}}"#);
    let second: Value = serde_json::from_str(&c.call(&req)).unwrap();
    assert_eq!(second["result"]["tools"][0]["name"], "sleep");
    assert!(second["result"].get("nextCursor").is_none());
}

/// User + system CPU seconds a process has used, from /proc/PID/stat.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    ticks as f64 / 100.0 // USER_HZ is 100 on Linux
}

#[test]
fn cores_that_spin_before_parking_still_sleep_when_idle() {
    // The default polls 50 µs before sleeping; a long spin must end in sleep too.
    for spin in ["50", "10000"] {
        let server = Server::start(&["--cores", "2", "--spin-before-park-us", spin]);
        let mut c = server.connect();
        c.initialize();
        let before = cpu_seconds(server.child.id());
        std::thread::sleep(Duration::from_millis(1_000));
        let used = cpu_seconds(server.child.id()) - before;
        // Two cores busy-polling would use 2 s; sleeping ones use next to nothing.
        assert!(used < 0.3, "--spin-before-park-us {spin}: {used} CPU s in 1 s idle");
        assert_eq!(c.call(r#"{"jsonrpc":"2.0","id":9,"method":"ping"}"#), r#"{"jsonrpc":"2.0","id":9,"result":{}}"#);
    }
}

fn run_expecting_exit_2(args: &[&str], key: &str, range: &str) {
    let out = Command::new(bin()).args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(stderr.contains(key) && stderr.contains(range), "{args:?} must name {key} and {range}: {stderr}");
}

#[test]
fn bad_settings_exit_2_naming_the_key_and_range() {
    run_expecting_exit_2(&["serve", "--queue-capacity", "0"], "queue_capacity", "1..=10000000");
    run_expecting_exit_2(&["stdio", "--max-message-bytes", "10"], "max_message_bytes", "1024..=1073741824");
    run_expecting_exit_2(&["serve", "--shard-count", "100"], "shard_count", "power of two");
    run_expecting_exit_2(&["serve", "--listen", "nowhere"], "listen", "ADDR:PORT");
    run_expecting_exit_2(&["serve", "--cores", "4096"], "cores", "accepted range is 1..=");
    run_expecting_exit_2(&["serve", "--cpus", "3-1"], "cpus", "reversed");
    run_expecting_exit_2(&["serve", "--pack", "nope"], "pack", "bench");
    run_expecting_exit_2(&["serve", "--spin-before-park-us", "10001"], "spin_before_park_us", "0..=10000");
    run_expecting_exit_2(&["serve", "--shutdown-delay-ms", "600001"], "shutdown_delay_ms", "0..=600000");
    run_expecting_exit_2(&["serve", "--node-id", "Ringmcp_0"], "node_id", "a-z, 0-9 and -");
    run_expecting_exit_2(&["serve", "--node-id", &"n".repeat(64)], "node_id", "1 to 63");
    run_expecting_exit_2(&["serve", "--node-id", ""], "node_id", "1 to 63");
    run_expecting_exit_2(
        &["serve", "--queue-warn-percent", "90", "--queue-reject-percent", "80"],
        "queue_reject_percent",
        "90..=100",
    );
}

#[test]
fn bad_config_file_exits_2_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    for (text, key, detail) in [
        ("queue_capacity = 0\n", "queue_capacity", "1..=10000000"),
        ("no_such_setting = 1\n", "no_such_setting", "unknown field"),
        ("backlog = \"big\"\n", "backlog", "invalid type"),
    ] {
        let path = dir.path().join("ringmcp.toml");
        std::fs::write(&path, text).unwrap();
        run_expecting_exit_2(&["serve", "--config", path.to_str().unwrap()], key, detail);
    }
}

#[test]
fn print_config_shows_file_and_flags_merged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ringmcp.toml");
    std::fs::write(&path, "queue_capacity = 500\nbacklog = 128\n").unwrap();
    let out = Command::new(bin())
        .args(["serve", "--print-config", "--config", path.to_str().unwrap(), "--backlog", "256", "--cores", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    for line in
        ["listen = \"127.0.0.1:9999\"", "cores = 1", "queue_capacity = 500", "backlog = 256", "max_connections = 15000"]
    {
        assert!(text.lines().any(|l| l == line), "missing `{line}` in:\n{text}");
    }
}

#[test]
fn stdio_exits_zero_after_answering_everything_when_stdin_closes() {
    let mut c = Conn::stdio(&[]);
    c.initialize();
    c.send(&sleep_call(1, 100));
    c.close_write();
    assert_eq!(c.recv()["result"]["content"][0]["text"], "slept 100 ms");
    assert_eq!(c.try_recv_line(), None);
    let status = c.child.as_mut().unwrap().wait().unwrap();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn ceiling_writes_every_line_back_unchanged() {
    let server = Server::start_cmd("ceiling", &["--cores", "1"]);
    let mut c = server.connect();
    c.send_raw(b"{\"id\":1}\nnot json at all\r\n\n{\"id\":2}\n");
    assert_eq!(c.recv_line(), r#"{"id":1}"#);
    assert_eq!(c.recv_line(), "not json at all");
    assert_eq!(c.recv_line(), r#"{"id":2}"#);
}
