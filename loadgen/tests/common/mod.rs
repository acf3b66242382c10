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

/// The report's integer `field`; panics naming it if it is missing.
pub fn n(report: &Value, field: &str) -> u64 {
    report[field].as_u64().unwrap_or_else(|| panic!("{field} missing in {report}"))
}

/// Every request ended exactly one way: sent = ok + errors + timeouts + lost.
pub fn assert_identity(report: &Value) {
    let errors: u64 = report["errors"].as_object().expect("errors").values().map(|v| v.as_u64().expect("n")).sum();
    assert_eq!(
        n(report, "sent"),
        n(report, "ok") + errors + n(report, "timeouts") + n(report, "lost"),
        "every request ends exactly one way: {report}"
    );
}

/// `loadgen run --url URL --connections C --inflight W --duration D --warmup U EXTRA…`, closed
/// loop, through [`loadgen_json`].
pub fn closed_run(url: &str, c: &str, w: &str, d: &str, u: &str, extra: &[&str]) -> (i32, Value, String) {
    let mut args = vec!["run", "--url", url, "--connections", c, "--inflight", w, "--duration", d, "--warmup", u];
    args.extend_from_slice(extra);
    loadgen_json(&args)
}

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

/// Reads one request (head and Content-Length body) from any buffered stream.
pub fn read_http_request<R: BufRead>(reader: &mut R) -> Option<HttpRequest> {
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

/// The standard answer to request `id` as one JSON text (no newline), in ringmcp's shape.
pub fn ok_json(id: u64) -> String {
    format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"result\":{{\"content\":[]}}}}")
}

/// An unmasked (server) WebSocket frame: `first` is the FIN bit and opcode byte.
pub fn ws_frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![first];
    match payload.len() {
        len @ 0..=125 => out.push(len as u8),
        len @ 126..=0xFFFF => {
            out.push(126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            out.push(127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
    out
}

/// FIN + text opcode.
pub const WS_TEXT: u8 = 0x81;
/// Text opcode without FIN: the first fragment of a message.
pub const WS_TEXT_FIRST: u8 = 0x01;
/// Continuation without FIN: a middle fragment.
pub const WS_CONTINUATION: u8 = 0x00;
/// FIN + continuation: the last fragment.
pub const WS_LAST: u8 = 0x80;
/// FIN + close.
pub const WS_CLOSE: u8 = 0x88;
/// FIN + ping.
pub const WS_PING: u8 = 0x89;

/// A close frame with `code` and `reason`.
pub fn ws_close(code: u16, reason: &str) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason.as_bytes());
    ws_frame(WS_CLOSE, &payload)
}

/// What a WebSocket test server sends for one workload request: whole frames (built with
/// [`ws_frame`]), given the request's id and how many workload requests this connection saw
/// before it. A close frame among them closes the session after it is sent.
pub type WsBehaviour = dyn Fn(u64, u64) -> Vec<Vec<u8>> + Send + Sync;

/// What a WebSocket test server observed, over all its connections.
#[derive(Default)]
pub struct WsStats {
    /// Pings sent.
    pub pings: std::sync::atomic::AtomicU64,
    /// Pongs that came back masked with the payload of the oldest unanswered ping.
    pub pongs: std::sync::atomic::AtomicU64,
    /// Client frames without a mask, and pongs that matched no ping (each closes the session
    /// with 1002, so the run fails).
    pub violations: std::sync::atomic::AtomicU64,
    /// The close codes the client sent (`None`: a close without a code).
    pub client_closes: std::sync::Mutex<Vec<Option<u16>>>,
}

/// The RFC 6455 accept value for a key, computed independently of loadgen.
pub fn ws_accept(key: &str) -> String {
    use base64::Engine as _;
    let mut sha = sha1_smol::Sha1::new();
    sha.update(key.as_bytes());
    sha.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    base64::engine::general_purpose::STANDARD.encode(sha.digest().bytes())
}

/// The correct 101 for a key.
pub fn ws_101(key: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
        ws_accept(key)
    )
    .into_bytes()
}

/// Starts a WebSocket server that upgrades with `upgrade(key)` (the response head; anything
/// but a 101 ends the connection), answers `initialize` after a ping and a notification,
/// ignores notifications and hands workload requests to `behaviour`. Returns `ws://127.0.0.1:PORT/mcp/ws`.
pub fn ws_server(upgrade: fn(&str) -> Vec<u8>, behaviour: Arc<WsBehaviour>, stats: Arc<WsStats>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("ws://{}/mcp/ws", listener.local_addr().expect("addr"));
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let (behaviour, stats) = (behaviour.clone(), stats.clone());
            thread::spawn(move || serve_ws(stream, upgrade, &*behaviour, &stats));
        }
    });
    url
}

/// One client frame, unmasked: (opcode, payload, was it masked).
pub fn read_client_frame<R: Read>(reader: &mut R) -> Option<(u8, Vec<u8>, bool)> {
    let mut head = [0u8; 2];
    reader.read_exact(&mut head).ok()?;
    let len = match head[1] & 0x7F {
        126 => {
            let mut ext = [0u8; 2];
            reader.read_exact(&mut ext).ok()?;
            u64::from(u16::from_be_bytes(ext))
        }
        127 => {
            let mut ext = [0u8; 8];
            reader.read_exact(&mut ext).ok()?;
            u64::from_be_bytes(ext)
        }
        short => u64::from(short),
    };
    let masked = head[1] & 0x80 != 0;
    let mut mask = [0u8; 4];
    if masked {
        reader.read_exact(&mut mask).ok()?;
    }
    let mut payload = vec![0u8; usize::try_from(len).ok()?];
    reader.read_exact(&mut payload).ok()?;
    for (i, byte) in payload.iter_mut().enumerate() {
        *byte ^= mask[i % 4];
    }
    Some((head[0] & 0x0F, payload, masked))
}

fn serve_ws(stream: TcpStream, upgrade: fn(&str) -> Vec<u8>, behaviour: &WsBehaviour, stats: &WsStats) {
    use std::sync::atomic::Ordering::Relaxed;
    let _ = stream.set_nodelay(true);
    let mut writer = stream.try_clone().expect("clone");
    let mut reader = BufReader::new(stream);
    let mut key = None;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        if line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("sec-websocket-key") {
                key = Some(value.trim().to_string());
            }
        }
    }
    let response = upgrade(&key.unwrap_or_default());
    if writer.write_all(&response).is_err() || !response.starts_with(b"HTTP/1.1 101") {
        return;
    }
    let (mut seen, mut pings, mut closing) = (0, std::collections::VecDeque::new(), false);
    while let Some((opcode, payload, masked)) = read_client_frame(&mut reader) {
        if !masked {
            stats.violations.fetch_add(1, Relaxed);
            let _ = writer.write_all(&ws_close(1002, "unmasked client frame"));
            return;
        }
        let frames = match opcode {
            0x1 if closing => continue,
            0x1 => {
                let Ok(message) = serde_json::from_slice::<Value>(&payload) else { continue };
                let Some(id) = message.get("id").and_then(Value::as_u64) else { continue };
                if message["method"] == "initialize" {
                    // A ping and a log notification first: loadgen must answer the one and
                    // skip the other while it waits for the answer.
                    let answer = format!(
                        "{{\"jsonrpc\":\"2.0\",\"id\":{id},\"result\":{{\"protocolVersion\":\"2025-11-25\",\"capabilities\":{{}}}}}}"
                    );
                    vec![
                        ws_frame(WS_PING, b"hello"),
                        ws_frame(WS_TEXT, br#"{"jsonrpc":"2.0","method":"notifications/message","params":{}}"#),
                        ws_frame(WS_TEXT, answer.as_bytes()),
                    ]
                } else {
                    seen += 1;
                    behaviour(id, seen - 1)
                }
            }
            0xA => {
                if pings.pop_front() == Some(payload) {
                    stats.pongs.fetch_add(1, Relaxed);
                    continue;
                }
                stats.violations.fetch_add(1, Relaxed);
                vec![ws_close(1002, "pong without its ping")]
            }
            0x8 => {
                let code = (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]));
                stats.client_closes.lock().expect("lock").push(code);
                if !closing {
                    let _ = writer.write_all(&ws_frame(WS_CLOSE, &payload));
                }
                return;
            }
            _ => continue,
        };
        for frame in &frames {
            if frame[0] == WS_PING {
                stats.pings.fetch_add(1, Relaxed);
                pings.push_back(frame[2..].to_vec());
            }
            closing |= frame[0] == WS_CLOSE;
        }
        if closing {
            // Send up to the close, then read (and record) the client's close until EOF.
            let end = frames.iter().position(|f| f[0] == WS_CLOSE).expect("a close") + 1;
            let _ = writer.write_all(&frames[..end].concat());
            continue;
        }
        if writer.write_all(&frames.concat()).is_err() {
            return;
        }
    }
}

/// A running `ringmcp serve`, killed on drop.
pub struct Ringmcp {
    child: std::process::Child,
    /// The port it listens on (NDJSON, HTTP and WebSocket).
    pub port: u16,
}

/// The ringmcp binary: `$RINGMCP_BIN`, else the one built next to this loadgen, else
/// target/release or target/debug.
pub fn ringmcp_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("RINGMCP_BIN") {
        return PathBuf::from(path);
    }
    let profile_dir = std::path::Path::new(env!("CARGO_BIN_EXE_loadgen")).parent().expect("target dir");
    let candidates =
        [profile_dir.join("ringmcp"), profile_dir.join("../release/ringmcp"), profile_dir.join("../debug/ringmcp")];
    candidates.iter().find(|p| p.is_file()).cloned().unwrap_or_else(|| {
        panic!(
            "no ringmcp binary at {candidates:?}; run `cargo build -p ringmcp` in the repository root or set RINGMCP_BIN"
        )
    })
}

impl Ringmcp {
    /// Starts `ringmcp serve --listen 127.0.0.1:0 ARGS…` and reads the port it bound from its
    /// start-up log line.
    pub fn start(args: &[&str]) -> Ringmcp {
        let bin = ringmcp_bin();
        let mut child = Command::new(&bin)
            .args(["serve", "--listen", "127.0.0.1:0", "--log-level", "info"])
            .args(args)
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {}: {e}", bin.display()));
        let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
        let mut port = None;
        let mut line = String::new();
        while port.is_none() && stderr.read_line(&mut line).unwrap_or(0) > 0 {
            port = line.split(" listening on 127.0.0.1:").nth(1).and_then(|rest| rest.split(' ').next()?.parse().ok());
            line.clear();
        }
        let port = port.unwrap_or_else(|| panic!("{} exited before logging its port", bin.display()));
        thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        Ringmcp { child, port }
    }

    /// The sum over cores of the Prometheus counter `name` with `label="value"`, from /metrics.
    pub fn metric(&self, name: &str, label: &str, value: &str) -> u64 {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").expect("send");
        let mut text = String::new();
        stream.read_to_string(&mut text).expect("read");
        let selector = format!("{label}=\"{value}\"");
        text.lines()
            .filter(|l| l.starts_with(&format!("{name}{{")) && l.contains(&selector))
            .map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()).expect("a number") as u64)
            .sum()
    }
}

impl Drop for Ringmcp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
