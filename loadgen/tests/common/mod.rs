//! Helpers for the black-box tests: run the built `loadgen` binary, and tiny NDJSON / HTTP
//! servers on std threads whose behaviour each test chooses.

#![allow(dead_code)]

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::thread;

/// Runs `loadgen ARGS… --json FILE --quiet` and returns its exit code and report.
pub fn loadgen_json(args: &[&str]) -> (i32, Value, String) {
    let dir = tempdir();
    let json = dir.join("report.json");
    let output = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(args)
        .arg("--json")
        .arg(&json)
        .arg("--quiet")
        .output()
        .expect("loadgen runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let text = std::fs::read_to_string(&json)
        .unwrap_or_else(|e| panic!("no report ({e}); stdout:\n{stdout}\nstderr:\n{stderr}"));
    let report = serde_json::from_str(&text).expect("report is JSON");
    let _ = std::fs::remove_dir_all(&dir);
    (output.status.code().expect("exited"), report, format!("{stdout}\n{stderr}"))
}

/// Runs `loadgen ARGS…` and returns exit code, stdout and stderr.
pub fn loadgen(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_loadgen")).args(args).output().expect("loadgen runs");
    (
        output.status.code().expect("exited"),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A fresh private directory under the system temp dir.
pub fn tempdir() -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("loadgen-test-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// What an NDJSON test server does with one workload request: the answers to write (each a
/// full line), given the request's id and how many workload requests this connection has
/// seen before it. An answer equal to [`CLOSE`] closes the connection instead.
pub type Behaviour = dyn Fn(u64, u64) -> Vec<String> + Send + Sync;

/// Returned by a behaviour: stop answering, send FIN, read until the client closes.
pub const CLOSE: &str = "CLOSE";

/// The standard answer to request `id`, in ringmcp's shape.
pub fn ok_line(id: u64) -> String {
    format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"result\":{{\"content\":[]}}}}\n")
}

/// Starts an NDJSON server on an ephemeral loopback port; returns `tcp://127.0.0.1:PORT`.
/// It answers `initialize`, ignores notifications and hands workload requests to `behaviour`.
/// Threads live until the test process exits.
pub fn ndjson_server(behaviour: Arc<Behaviour>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("tcp://{}", listener.local_addr().expect("addr"));
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let behaviour = behaviour.clone();
            thread::spawn(move || serve_ndjson(stream, &*behaviour));
        }
    });
    url
}

fn serve_ndjson(stream: TcpStream, behaviour: &Behaviour) {
    let _ = stream.set_nodelay(true);
    let mut writer = stream.try_clone().expect("clone");
    let mut reader = BufReader::new(stream);
    let mut seen = 0;
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let Ok(message) = serde_json::from_str::<Value>(&line) else { continue };
        let Some(id) = message.get("id").and_then(Value::as_u64) else { continue };
        let answers = if message["method"] == "initialize" {
            vec![format!(
                "{{\"jsonrpc\":\"2.0\",\"id\":{id},\"result\":{{\"protocolVersion\":\"2025-11-25\",\"capabilities\":{{}},\"serverInfo\":{{\"name\":\"t\",\"version\":\"0\"}}}}}}\n"
            )]
        } else {
            seen += 1;
            behaviour(id, seen - 1)
        };
        if answers.iter().any(|a| a == CLOSE) {
            // Half-close, then drain: a close with unread requests would send RST instead.
            let _ = writer.shutdown(std::net::Shutdown::Write);
            let mut sink = Vec::new();
            let _ = reader.read_to_end(&mut sink);
            return;
        }
        if writer.write_all(answers.concat().as_bytes()).is_err() {
            return;
        }
    }
}

/// One HTTP request as the test server saw it.
pub struct HttpRequest {
    /// Header lines, lowercased names.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl HttpRequest {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Turns the n-th request on a connection into raw response bytes.
pub type Responder = dyn Fn(&HttpRequest, u64) -> Vec<u8> + Send + Sync;

/// Starts an HTTP/1.1 keep-alive server answering with `respond`. Returns
/// `http://127.0.0.1:PORT/mcp`.
pub fn http_server(respond: Arc<Responder>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/mcp", listener.local_addr().expect("addr"));
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let respond = respond.clone();
            thread::spawn(move || {
                let _ = stream.set_nodelay(true);
                let mut writer = stream.try_clone().expect("clone");
                let mut reader = BufReader::new(stream);
                for n in 0.. {
                    let Some(request) = read_http_request(&mut reader) else { return };
                    if writer.write_all(&respond(&request, n)).is_err() {
                        return;
                    }
                }
            });
        }
    });
    url
}

fn read_http_request(reader: &mut BufReader<TcpStream>) -> Option<HttpRequest> {
    let mut headers = Vec::new();
    let mut line = String::new();
    reader.read_line(&mut line).ok().filter(|&n| n > 0)?;
    loop {
        line.clear();
        reader.read_line(&mut line).ok().filter(|&n| n > 0)?;
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            break;
        }
        let (name, value) = trimmed.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let length: usize = headers.iter().find(|(n, _)| n == "content-length")?.1.parse().ok()?;
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(HttpRequest { headers, body })
}
