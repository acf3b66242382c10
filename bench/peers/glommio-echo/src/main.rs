//! `glommio-echo`: the glommio 0.9 NDJSON echo that `ringmcp ceiling` was before the engine
//! moved to its own io_uring loop, kept as the reference that engine is measured against.
//!
//! One pinned glommio executor per `--cpus` entry, each accepting on its own SO_REUSEPORT
//! socket (built with socket2: glommio's own bind hard-codes a backlog of 1024). Connections
//! get TCP_NODELAY. Each read goes into the executor's shared read buffer; the answers to all
//! complete lines of one read leave in one write, before the next read.
//!
//! Framing is the ceiling's: a line ends at `\n` and is written back followed by `\n`, without
//! a trailing `\r` it may have had; a line of only whitespace gets no answer; a partial line is
//! kept for the next read. A line longer than `--max-line-bytes` closes the connection, after
//! the answers to the lines before it in the same read. At EOF every answer has been written,
//! so the connection closes (a partial last line is dropped). SIGINT and SIGTERM end the
//! process: with nothing to drain, their default action is the right one (restored at start,
//! since a shell starts background jobs with SIGINT ignored).

use clap::Parser;
use futures_lite::{AsyncRead, AsyncWriteExt};
use glommio::net::{TcpListener, TcpStream};
use glommio::{LocalExecutorBuilder, Placement};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd};
use std::time::Duration;
use std::{cell::RefCell, future::poll_fn, io, net::SocketAddr, pin::Pin, process::ExitCode, rc::Rc, sync::mpsc};

/// An executor's registered I/O memory: glommio's floor (it is for file I/O, which this never does).
const IO_MEMORY_BYTES: usize = 64 << 10;
/// Pause after a failed accept (EMFILE and the like), so that the error is not spun on.
const ACCEPT_RETRY_MS: u64 = 10;

/// The command line.
#[derive(Parser)]
#[command(about = "glommio 0.9 NDJSON echo: the benchmark reference for ringmcp's ceiling")]
struct Args {
    /// CPUs to serve on, comma-separated: one pinned executor and listening socket on each.
    #[arg(long, value_delimiter = ',', default_value = "0")]
    cpus: Vec<usize>,
    /// Address every CPU's socket binds (SO_REUSEPORT); port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:9999")]
    listen: SocketAddr,
    /// listen(2) backlog of each socket (the kernel caps it at net.core.somaxconn).
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(i32).range(1..))]
    backlog: i32,
    /// Size of each executor's read buffer (one read's most), in bytes.
    #[arg(long, default_value_t = 64 << 10, value_parser = clap::value_parser!(u64).range(1024..=1 << 30))]
    buffer_bytes: u64,
    /// Longest line echoed, in bytes without its line end; a longer one closes the connection.
    #[arg(long, default_value_t = 1 << 20, value_parser = clap::value_parser!(u64).range(1..=1 << 30))]
    max_line_bytes: u64,
    /// How long an idle executor polls before it sleeps, in µs (ringmcp's default: 50).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(0..=10_000))]
    spin_before_park_us: u64,
}

fn main() -> ExitCode {
    match serve(&Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("glommio-echo: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Binds every CPU's socket, starts its executor, reports once all are up, then serves until
/// the process is signalled. Errors: a socket that cannot listen, an executor that cannot start.
fn serve(args: &Args) -> io::Result<()> {
    raise_limits();
    default_signal_actions();
    let (buffer_bytes, max_line_bytes) = (args.buffer_bytes as usize, args.max_line_bytes as usize);
    let mut addr = args.listen;
    let (ready_tx, ready_rx) = mpsc::channel::<()>();
    let mut executors = Vec::with_capacity(args.cpus.len());
    for &cpu in &args.cpus {
        let socket = bind(addr, args.backlog)?;
        // With port 0 the first socket picks the port and the others join it.
        addr = socket.local_addr()?.as_socket().unwrap_or(addr);
        let fd = OwnedFd::from(socket);
        let ready = ready_tx.clone();
        let executor = LocalExecutorBuilder::new(Placement::Fixed(cpu))
            .name(&format!("glommio-echo-{cpu}"))
            .io_memory(IO_MEMORY_BYTES)
            .spin_before_park(Duration::from_micros(args.spin_before_park_us))
            .spawn(move || async move {
                // SAFETY: `fd` is an OwnedFd we own, open and listening; into_raw_fd gives its
                // ownership to the TcpListener, so it is closed once, by the listener.
                let listener = unsafe { TcpListener::from_raw_fd(fd.into_raw_fd()) };
                let _ = ready.send(());
                let scratch = RefCell::new(vec![0; buffer_bytes]);
                accept_loop(Rc::new(Core { scratch, max_line_bytes }), listener).await
            })
            .map_err(|e| io::Error::other(format!("CPU {cpu}: cannot start an executor: {e}")))?;
        executors.push(executor);
    }
    drop(ready_tx);
    // An executor that fails to start drops its sender unsent (a socket nobody accepts on would
    // hang a share of the connections).
    for _ in &args.cpus {
        ready_rx.recv().map_err(|_| io::Error::other("an executor died while starting"))?;
    }
    eprintln!("glommio-echo: listening on {addr} (NDJSON echo, glommio 0.9) on CPUs {:?}", args.cpus);
    for executor in executors {
        executor.join().map_err(|e| io::Error::other(format!("an executor failed: {e}")))?;
    }
    Ok(())
}

/// One listening SO_REUSEPORT socket on `addr`. Errors name the address.
fn bind(addr: SocketAddr, backlog: i32) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_port(true)?;
    socket.set_reuse_address(true)?;
    let annotate = |e: io::Error| io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}"));
    socket.bind(&SockAddr::from(addr)).map_err(annotate)?;
    socket.listen(backlog).map_err(annotate)?;
    Ok(socket)
}

/// Accepts forever; each connection is its own task on this executor.
async fn accept_loop(core: Rc<Core>, listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                glommio::spawn_local(serve_connection(core.clone(), stream)).detach();
            }
            Err(e) => {
                eprintln!("glommio-echo: accept failed: {e}");
                glommio::timer::sleep(Duration::from_millis(ACCEPT_RETRY_MS)).await;
            }
        }
    }
}

/// What one executor's connections share.
struct Core {
    /// Every read lands here; its bytes are answered or copied out before the next await.
    scratch: RefCell<Vec<u8>>,
    max_line_bytes: usize,
}

/// Echoes one connection's lines until EOF, an error, or a line over the limit.
async fn serve_connection(core: Rc<Core>, mut stream: TcpStream) {
    // The partial line carried to the next read (unallocated while there is none), and the
    // answers to one read.
    let (mut pending, mut out) = (Vec::new(), Vec::new());
    loop {
        let read = poll_fn(|cx| Pin::new(&mut stream).poll_read(cx, &mut core.scratch.borrow_mut()[..])).await;
        let n = match read {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let keep_open = answer_read(&core, &mut pending, n, &mut out);
        if !out.is_empty() && stream.write_all(&out).await.is_err() {
            break;
        }
        out.clear();
        // A long line's answer does not stay with the connection.
        out.shrink_to(core.scratch.borrow().len());
        if !keep_open {
            break;
        }
    }
    let _ = stream.close().await;
}

/// Appends the answers to the `n` bytes just read into the scratch buffer to `out`, keeping a
/// partial line in `pending`. False when a line is over the limit.
fn answer_read(core: &Core, pending: &mut Vec<u8>, n: usize, out: &mut Vec<u8>) -> bool {
    let scratch = core.scratch.borrow();
    let data = &scratch[..n];
    if pending.is_empty() {
        let Some(used) = echo_lines(data, core.max_line_bytes, out) else { return false };
        pending.extend_from_slice(&data[used..]);
        return true;
    }
    pending.extend_from_slice(data);
    // No new line end: only the length can have changed, so skip rescanning a long line.
    if memchr::memchr(b'\n', data).is_none() {
        return fits(pending, core.max_line_bytes);
    }
    let Some(used) = echo_lines(pending, core.max_line_bytes, out) else { return false };
    pending.drain(..used);
    if pending.is_empty() {
        *pending = Vec::new();
    }
    true
}

/// Copies every complete line at the front of `buf` to `out`; returns the bytes used up, or
/// `None` when a line, complete or not, is longer than `max_line_bytes`.
fn echo_lines(buf: &[u8], max_line_bytes: usize, out: &mut Vec<u8>) -> Option<usize> {
    let mut used = 0;
    while let Some(end) = memchr::memchr(b'\n', &buf[used..]) {
        let line = &buf[used..used + end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.len() > max_line_bytes {
            return None;
        }
        if !line.iter().all(u8::is_ascii_whitespace) {
            out.extend_from_slice(line);
            out.push(b'\n');
        }
        used += end + 1;
    }
    fits(&buf[used..], max_line_bytes).then_some(used)
}

/// Whether a partial line may still become a line within the limit. A read can end between a
/// line's `\r` and its `\n`, and that `\r` is not the line's.
fn fits(partial: &[u8], max_line_bytes: usize) -> bool {
    partial.len() <= max_line_bytes + usize::from(partial.last() == Some(&b'\r'))
}

/// Raises the soft limits on open files (one per connection) and locked memory (io_uring
/// rings) to their hard limits, as the ceiling did; a no-op where they already are.
fn raise_limits() {
    for resource in [libc::RLIMIT_NOFILE, libc::RLIMIT_MEMLOCK] {
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit only writes the rlimit we pass, which lives through the call.
        if unsafe { libc::getrlimit(resource, &mut limit) } == 0 && limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max;
            // SAFETY: setrlimit only reads the rlimit we pass; a soft limit may always rise to
            // the hard one, and a failure leaves the old limit, which is still usable.
            unsafe { libc::setrlimit(resource, &limit) };
        }
    }
}

/// Gives SIGINT and SIGTERM their default action, ending the process, even where the parent
/// left them ignored.
fn default_signal_actions() {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: installing SIG_DFL runs no handler code, so nothing here needs to be
        // async-signal-safe; it is done before any other thread exists.
        unsafe { libc::signal(signal, libc::SIG_DFL) };
    }
}
