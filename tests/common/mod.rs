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

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_ringmcp")
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
        let mut child = Command::new(bin())
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
