//! Black-box helpers: start the real `ringmcp` binary, talk to it over TCP or stdin/stdout
//! with raw NDJSON bytes, and read exact answers back.

#![allow(dead_code)] // each test binary uses a different subset

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

/// Longest a test waits for any one answer before failing (a hang must fail, not block CI).
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(20);

pub const INIT: &str = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"test","version":"1"}}}"#;

/// The binary under test: `$RINGMCP_BIN` if set (tests/run sets it to a wrapper that runs
/// the black-box suites again on the fallback I/O path), else the one cargo built.
pub fn bin() -> &'static str {
    static BIN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BIN.get_or_init(|| std::env::var("RINGMCP_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_ringmcp").to_string()))
}

/// A running `ringmcp serve`, killed on drop.
pub struct Server {
    pub child: Child,
    pub port: u16,
}

impl Server {
    /// Starts `ringmcp serve --listen 127.0.0.1:0 <args>` and reads the port it bound from
    /// its start-up log line (a port chosen by the kernel cannot collide with another test's
    /// server, which SO_REUSEPORT would otherwise let share it).
    pub fn start(args: &[&str]) -> Server {
        Server::start_cmd("serve", args)
    }

    /// Like [`Server::start`] for another subcommand (`ceiling`).
    pub fn start_cmd(cmd: &str, args: &[&str]) -> Server {
        Server::start_exe(bin(), cmd, args)
    }

    /// Like [`Server::start_cmd`] with a given binary instead of [`bin`] (a test of a flag the
    /// `$RINGMCP_BIN` wrapper sets itself runs the binary cargo built).
    pub fn start_exe(exe: &str, cmd: &str, args: &[&str]) -> Server {
        let mut child = Command::new(exe)
            .args([cmd, "--listen", "127.0.0.1:0", "--log-level", "info"])
            .args(args)
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ringmcp");
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut port = None;
        let mut line = String::new();
        while port.is_none() && stderr.read_line(&mut line).unwrap_or(0) > 0 {
            eprint!("{line}");
            port = line.split(" listening on 127.0.0.1:").nth(1).and_then(|rest| rest.split(' ').next()?.parse().ok());
            line.clear();
        }
        let port = port.expect("server exited before logging its port");
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::stderr()));
        Server { child, port }
    }

    pub fn connect(&self) -> Conn {
        Conn::tcp(self.port)
    }

    /// Sends a signal and waits for the exit status.
    pub fn signal_and_wait(mut self, sig: i32) -> std::process::ExitStatus {
        // SAFETY: kill(2) on our own child's pid has no memory-safety preconditions.
        unsafe { libc::kill(self.child.id() as i32, sig) };
        let deadline = Instant::now() + ANSWER_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "server did not exit after signal {sig}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One NDJSON session: over TCP, or over a `ringmcp stdio` child's stdin/stdout.
pub struct Conn {
    writer: Box<dyn Write + Send>,
    reader: BufReader<Box<dyn Read + Send>>,
    pub child: Option<Child>,
}

impl Conn {
    pub fn tcp(port: u16) -> Conn {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream.set_read_timeout(Some(ANSWER_TIMEOUT)).unwrap();
        Conn { writer: Box::new(stream.try_clone().unwrap()), reader: BufReader::new(Box::new(stream)), child: None }
    }

    /// Spawns `ringmcp stdio <args>`.
    pub fn stdio(args: &[&str]) -> Conn {
        let mut child = Command::new(bin())
            .arg("stdio")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn ringmcp stdio");
        let stdin: ChildStdin = child.stdin.take().unwrap();
        let stdout: ChildStdout = child.stdout.take().unwrap();
        Conn { writer: Box::new(stdin), reader: BufReader::new(Box::new(TimeoutRead::new(stdout))), child: Some(child) }
    }

    /// Spawns `ringmcp stdio <args>` with Unix socketpairs as stdin and stdout, as Node's
    /// `child_process` (and so the TypeScript SDK and Electron apps) does.
    pub fn stdio_sockets(args: &[&str]) -> Conn {
        let (ours_in, theirs_in) = std::os::unix::net::UnixStream::pair().unwrap();
        let (ours_out, theirs_out) = std::os::unix::net::UnixStream::pair().unwrap();
        let child = Command::new(bin())
            .arg("stdio")
            .args(args)
            .stdin(Stdio::from(std::os::fd::OwnedFd::from(theirs_in)))
            .stdout(Stdio::from(std::os::fd::OwnedFd::from(theirs_out)))
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn ringmcp stdio");
        ours_out.set_read_timeout(Some(ANSWER_TIMEOUT)).unwrap();
        Conn { writer: Box::new(ours_in), reader: BufReader::new(Box::new(ours_out)), child: Some(child) }
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).unwrap();
        self.writer.flush().unwrap();
    }

    pub fn send(&mut self, line: &str) {
        self.send_raw(format!("{line}\n").as_bytes());
    }

    /// The next answer line, exactly as sent (without its newline). Panics on timeout or EOF.
    pub fn recv_line(&mut self) -> String {
        self.try_recv_line().expect("connection closed before an answer")
    }

    /// The next line, or `None` at EOF.
    pub fn try_recv_line(&mut self) -> Option<String> {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => None,
            Ok(_) => {
                assert!(line.ends_with('\n'), "answer not newline-terminated: {line:?}");
                line.pop();
                Some(line)
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => None,
            Err(e) => panic!("no answer within {ANSWER_TIMEOUT:?}: {e}"),
        }
    }

    pub fn recv(&mut self) -> Value {
        let line = self.recv_line();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("answer is not JSON ({e}): {line}"))
    }

    /// Sends one line and returns the next answer line.
    pub fn call(&mut self, line: &str) -> String {
        self.send(line);
        self.recv_line()
    }

    /// Sends `initialize` + `notifications/initialized`; returns the initialize result.
    pub fn initialize(&mut self) -> Value {
        let answer: Value = serde_json::from_str(&self.call(INIT)).unwrap();
        self.send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
        answer["result"].clone()
    }

    /// Closes the sending side (EOF for the server).
    pub fn close_write(&mut self) {
        self.writer = Box::new(std::io::sink());
        if let Some(child) = &mut self.child {
            drop(child.stdin.take());
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A pipe reader that fails after [`ANSWER_TIMEOUT`] without data (pipes have no timeout).
struct TimeoutRead {
    rx: std::sync::mpsc::Receiver<Vec<u8>>,
    buf: Vec<u8>,
    pos: usize,
}

impl TimeoutRead {
    fn new(mut r: impl Read + Send + 'static) -> TimeoutRead {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = vec![0; 1 << 16];
            loop {
                match r.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        if tx.send(buf[..n].to_vec()).is_err() {
                            return;
                        }
                    }
                }
            }
        });
        TimeoutRead { rx, buf: Vec::new(), pos: 0 }
    }
}

impl Read for TimeoutRead {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.pos == self.buf.len() {
            match self.rx.recv_timeout(ANSWER_TIMEOUT) {
                Ok(chunk) => {
                    self.buf = chunk;
                    self.pos = 0;
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return Ok(0),
                Err(e) => return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, e)),
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

// ---- HTTP/1.1, SSE and WebSocket clients over raw bytes (tests/http.rs, tests/websocket.rs) ----

/// Longest an HTTP or WebSocket test waits for bytes the server is expected to send.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(2);

/// `Accept` of a POST to /mcp that takes either answer form, JSON listed first.
pub const ACCEPT_BOTH: &str = "application/json, text/event-stream";

/// One HTTP/1.1 request, built header by header; [`Req::bytes`] adds `Content-Length` to a
/// POST or a request with a body unless a length or transfer coding was set by hand.
#[derive(Debug, Clone)]
pub struct Req {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Req {
    /// `METHOD path HTTP/1.1` with `Host: 127.0.0.1:<port>`.
    pub fn new(method: &str, path: &str, port: u16) -> Req {
        let headers = vec![("Host".to_string(), format!("127.0.0.1:{port}"))];
        Req { method: method.into(), path: path.into(), headers, body: Vec::new() }
    }

    /// A POST of one JSON-RPC message to /mcp, as a Streamable HTTP client sends it.
    pub fn mcp(port: u16, body: &str) -> Req {
        Req::new("POST", "/mcp", port)
            .header("Accept", ACCEPT_BOTH)
            .header("Content-Type", "application/json")
            .body(body.as_bytes())
    }

    /// [`Req::mcp`] within a session.
    pub fn mcp_in(port: u16, session: &str, body: &str) -> Req {
        Req::mcp(port, body).header("Mcp-Session-Id", session)
    }

    /// Appends a header.
    pub fn header(mut self, name: &str, value: &str) -> Req {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Replaces every header called `name` (any case) by one with `value`.
    pub fn set(self, name: &str, value: &str) -> Req {
        self.without(name).header(name, value)
    }

    /// Drops every header called `name` (any case).
    pub fn without(mut self, name: &str) -> Req {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self
    }

    pub fn body(mut self, body: &[u8]) -> Req {
        self.body = body.to_vec();
        self
    }

    /// The request exactly as it goes on the wire.
    pub fn bytes(&self) -> Vec<u8> {
        let mut out = format!("{} {} HTTP/1.1\r\n", self.method, self.path);
        for (name, value) in &self.headers {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        let framed = self
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-length") || n.eq_ignore_ascii_case("transfer-encoding"));
        if !framed && (self.method == "POST" || !self.body.is_empty()) {
            out.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

/// One response as read off the wire.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub reason: String,
    /// In order; names lower-cased, values trimmed.
    pub headers: Vec<(String, String)>,
    /// The body: `Content-Length` bytes, or the de-chunked body (empty for a head read alone).
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first header called `name` (give it lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The header names in order.
    pub fn header_names(&self) -> Vec<&str> {
        self.headers.iter().map(|(n, _)| n.as_str()).collect()
    }

    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("body is UTF-8")
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text()))
    }
}

/// One client TCP connection speaking HTTP/1.1 (and, after an upgrade, WebSocket) with its
/// own read buffer, so responses, chunks, SSE events and frames can be read one at a time.
pub struct HttpConn {
    pub stream: TcpStream,
    buf: Vec<u8>,
    /// Bytes of the current chunked SSE body not yet split into events.
    sse: Vec<u8>,
    sse_ended: bool,
}

impl HttpConn {
    pub fn connect(port: u16) -> HttpConn {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream.set_read_timeout(Some(HTTP_TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        HttpConn { stream, buf: Vec::new(), sse: Vec::new(), sse_ended: false }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send");
    }

    /// Sends a request and reads its whole response.
    pub fn call(&mut self, req: &Req) -> HttpResponse {
        self.send(&req.bytes());
        self.read_response()
    }

    /// One read into the buffer: `Ok(0)` at EOF (a reset counts as EOF).
    fn fill(&mut self) -> std::io::Result<usize> {
        let mut chunk = [0u8; 16 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(n)
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => Ok(0),
            Err(e) => Err(e),
        }
    }

    fn fill_or_panic(&mut self, waiting_for: &str) {
        match self.fill() {
            Ok(0) => panic!("connection closed while waiting for {waiting_for}; have {:?}", lossy(&self.buf)),
            Ok(_) => {}
            Err(e) => panic!("no {waiting_for} within {HTTP_TIMEOUT:?} ({e}); have {:?}", lossy(&self.buf)),
        }
    }

    /// The next `n` bytes.
    fn take(&mut self, n: usize, waiting_for: &str) -> Vec<u8> {
        while self.buf.len() < n {
            self.fill_or_panic(waiting_for);
        }
        self.buf.drain(..n).collect()
    }

    /// The bytes up to `delimiter`, which is consumed too.
    fn take_until(&mut self, delimiter: &[u8], waiting_for: &str) -> Vec<u8> {
        loop {
            if let Some(at) = self.buf.windows(delimiter.len()).position(|w| w == delimiter) {
                let out = self.buf[..at].to_vec();
                self.buf.drain(..at + delimiter.len());
                return out;
            }
            self.fill_or_panic(waiting_for);
        }
    }

    /// A status line and headers (the body is left unread).
    pub fn read_head(&mut self) -> HttpResponse {
        let head = self.take_until(b"\r\n\r\n", "a response head");
        let head = String::from_utf8(head).expect("response head is UTF-8");
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap();
        let mut parts = status_line.splitn(3, ' ');
        assert_eq!(parts.next(), Some("HTTP/1.1"), "status line {status_line:?}");
        let status = parts.next().and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("status {status_line:?}"));
        let reason = parts.next().unwrap_or("").to_string();
        let headers = lines
            .map(|l| {
                let (n, v) = l.split_once(':').unwrap_or_else(|| panic!("header line {l:?}"));
                (n.to_ascii_lowercase(), v.trim().to_string())
            })
            .collect();
        HttpResponse { status, reason, headers, body: Vec::new() }
    }

    /// A whole response: head, then the body by `Content-Length` or chunked coding.
    pub fn read_response(&mut self) -> HttpResponse {
        let head = self.read_head();
        self.read_body(head)
    }

    /// Reads the body of a response whose head was read with [`HttpConn::read_head`].
    pub fn read_body(&mut self, mut resp: HttpResponse) -> HttpResponse {
        if resp.header("transfer-encoding") == Some("chunked") {
            while let Some(chunk) = self.read_chunk() {
                resp.body.extend_from_slice(&chunk);
            }
        } else if let Some(len) = resp.header("content-length") {
            let len: usize = len.parse().expect("numeric Content-Length");
            resp.body = self.take(len, "a response body");
        }
        resp
    }

    /// The next chunk's data, or `None` for the last chunk (`0\r\n\r\n`).
    pub fn read_chunk(&mut self) -> Option<Vec<u8>> {
        let size_line = self.take_until(b"\r\n", "a chunk size");
        let size_line = String::from_utf8(size_line).expect("chunk size is ASCII");
        let size = usize::from_str_radix(size_line.trim(), 16).unwrap_or_else(|_| panic!("chunk size {size_line:?}"));
        if size == 0 {
            assert_eq!(self.take(2, "the end of the chunked body"), b"\r\n", "no trailers expected");
            return None;
        }
        let data = self.take(size, "chunk data");
        assert_eq!(self.take(2, "a chunk's CRLF"), b"\r\n", "chunk not followed by CRLF");
        Some(data)
    }

    /// Reads the head of an SSE answer and checks it is one (status 200, chunked
    /// text/event-stream); its events then come from [`HttpConn::next_event`].
    pub fn read_sse_head(&mut self) -> HttpResponse {
        let head = self.read_head();
        assert_eq!(head.status, 200, "{head:?}");
        assert_eq!(head.header("content-type"), Some("text/event-stream"), "{head:?}");
        assert_eq!(head.header("transfer-encoding"), Some("chunked"), "{head:?}");
        self.start_sse();
        head
    }

    /// Starts reading SSE events of a chunked body whose head was already read.
    pub fn start_sse(&mut self) {
        self.sse.clear();
        self.sse_ended = false;
    }

    /// The next SSE event block of the current stream, exactly as sent but without its blank
    /// line (e.g. `"event: message\nid: 2:2\ndata: {...}"`); `None` once the stream ended.
    pub fn next_event(&mut self) -> Option<String> {
        loop {
            if let Some(at) = self.sse.windows(2).position(|w| w == b"\n\n") {
                let event = String::from_utf8(self.sse[..at].to_vec()).expect("SSE is UTF-8");
                self.sse.drain(..at + 2);
                return Some(event);
            }
            if self.sse_ended {
                assert!(self.sse.is_empty(), "stream ended inside an event: {:?}", lossy(&self.sse));
                return None;
            }
            match self.read_chunk() {
                Some(chunk) => self.sse.extend_from_slice(&chunk),
                None => self.sse_ended = true,
            }
        }
    }

    /// Every remaining event of the current SSE stream, until its last chunk.
    pub fn rest_of_events(&mut self) -> Vec<String> {
        std::iter::from_fn(|| self.next_event()).collect()
    }

    /// Asserts the server sends nothing for `d` (the connection stays open and silent).
    pub fn expect_silence(&mut self, d: Duration) {
        assert!(self.buf.is_empty(), "unread bytes: {:?}", lossy(&self.buf));
        self.stream.set_read_timeout(Some(d)).unwrap();
        let got = self.fill();
        self.stream.set_read_timeout(Some(HTTP_TIMEOUT)).unwrap();
        match got {
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Ok(0) => panic!("connection closed; expected it to stay open"),
            other => panic!("expected silence, got {other:?}: {:?}", lossy(&self.buf)),
        }
    }

    /// Asserts the server closes the connection within [`HTTP_TIMEOUT`] without sending
    /// anything more; returns how long that took.
    pub fn expect_closed(&mut self) -> Duration {
        let start = Instant::now();
        assert!(self.buf.is_empty(), "unread bytes before close: {:?}", lossy(&self.buf));
        match self.fill() {
            Ok(0) => start.elapsed(),
            Ok(_) => panic!("expected close, got bytes: {:?}", lossy(&self.buf)),
            Err(e) => panic!("connection not closed within {HTTP_TIMEOUT:?}: {e}"),
        }
    }

    /// The next WebSocket frame from the server, which must be unmasked; `None` at EOF.
    pub fn read_ws_frame(&mut self) -> Option<WsFrame> {
        while self.buf.len() < 2 {
            if self.fill().unwrap_or_else(|e| panic!("no frame within {HTTP_TIMEOUT:?}: {e}")) == 0 {
                assert!(self.buf.is_empty(), "EOF inside a frame header: {:?}", self.buf);
                return None;
            }
        }
        let (b0, b1) = (self.buf[0], self.buf[1]);
        assert_eq!(b1 & 0x80, 0, "server frames must not be masked");
        let ext = match b1 & 0x7F {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let header = self.take(2 + ext, "a frame header");
        let len = match ext {
            0 => u64::from(b1 & 0x7F),
            2 => u64::from(u16::from_be_bytes([header[2], header[3]])),
            _ => u64::from_be_bytes(header[2..10].try_into().unwrap()),
        };
        let payload = self.take(len as usize, "a frame payload");
        Some(WsFrame { fin: b0 & 0x80 != 0, rsv: (b0 >> 4) & 0x7, opcode: b0 & 0x0F, payload })
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Starts a Streamable HTTP session on a fresh connection (initialize, then the initialized
/// notification) and returns its `Mcp-Session-Id`.
pub fn http_session(port: u16) -> String {
    let mut conn = HttpConn::connect(port);
    let init = conn.call(&Req::mcp(port, INIT));
    assert_eq!(init.status, 200, "initialize: {init:?}");
    let id = init.header("mcp-session-id").expect("initialize answers with Mcp-Session-Id").to_string();
    let initialized = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
    let ack = conn.call(&Req::mcp_in(port, &id, initialized));
    assert_eq!(ack.status, 202, "initialized: {ack:?}");
    id
}

/// `Sec-WebSocket-Key` of RFC 6455 section 1.3 and its `Sec-WebSocket-Accept`.
pub const WS_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
pub const WS_ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
/// The mask key of every client frame (RFC 6455 section 5.7's example key).
pub const WS_MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// WebSocket opcodes.
pub const WS_TEXT: u8 = 0x1;
pub const WS_BINARY: u8 = 0x2;
pub const WS_CLOSE: u8 = 0x8;
pub const WS_PING: u8 = 0x9;
pub const WS_PONG: u8 = 0xA;

/// One server frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsFrame {
    pub fin: bool,
    pub rsv: u8,
    pub opcode: u8,
    pub payload: Vec<u8>,
}

impl WsFrame {
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.payload).expect("text frame is UTF-8")
    }

    /// A close frame's code and reason.
    pub fn close(&self) -> (u16, String) {
        assert_eq!(self.opcode, WS_CLOSE, "not a close frame: {self:?}");
        assert!(self.payload.len() >= 2, "close without a code: {self:?}");
        let code = u16::from_be_bytes([self.payload[0], self.payload[1]]);
        (code, String::from_utf8(self.payload[2..].to_vec()).expect("close reason is UTF-8"))
    }
}

/// The upgrade request for `/mcp/ws` with [`WS_KEY`].
pub fn ws_upgrade(port: u16) -> Req {
    Req::new("GET", "/mcp/ws", port)
        .header("Upgrade", "websocket")
        .header("Connection", "Upgrade")
        .header("Sec-WebSocket-Key", WS_KEY)
        .header("Sec-WebSocket-Version", "13")
}

/// A single-frame (FIN) client frame, masked with `mask` (clients must mask; `None` breaks
/// that rule on purpose).
pub fn ws_frame(opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = vec![0x80 | opcode];
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        len @ 0..=125 => out.push(mask_bit | len as u8),
        len @ 126..=0xFFFF => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    match mask {
        Some(key) => {
            out.extend_from_slice(&key);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

impl Server {
    /// Sends a signal without giving up the server: if the test then fails, dropping the
    /// server still kills the process (no orphan left spinning).
    pub fn send_signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid has no memory-safety preconditions.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }

    /// The exit status once the process exits within `timeout`, else `None`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
