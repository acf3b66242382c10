//! The ring loop under the conditions its design is about, black-box through real sockets:
//! which I/O path runs, a provided-buffer ring far too small for its load (ENOBUFS, re-arms,
//! nothing lost), answers the kernel takes in pieces (short sends), also when the connection
//! closes right after them, lines spread over many receive buffers, ten thousand short-lived
//! connections that must leave nothing behind, a connection reset while its answer is being
//! sent, SIGTERM under load, and slow clients that hold partial lines.
//!
//! The tests pass on both paths: run the file again with `RINGMCP_BIN` set to a wrapper made by
//! `tests/io-path fallback …`. Counters only the multishot path has (ENOBUFS, re-arms) are
//! checked only where `/health` says it runs. The ignored tests pin behaviour the server does
//! not have yet (each reason says what is missing); run them with `-- --ignored`.

mod common;

use common::{Server, ANSWER_TIMEOUT, INIT};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PING: &str = r#"{"jsonrpc":"2.0","id":"p","method":"ping"}"#;
const PONG: &str = r#"{"jsonrpc":"2.0","id":"p","result":{}}"#;
const INITIALIZED: &str = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
/// Longest a test waits for the server to let go of connections its clients closed.
const SETTLE_WAIT: Duration = Duration::from_secs(10);
/// Free buffers each core's pool may keep, set small so that the bound is visible.
const POOL_CAP: u32 = 32;

#[test]
fn io_path_is_reported_in_health_and_metrics() {
    // The `$RINGMCP_BIN` wrapper sets --io-path itself: asking for a path takes the plain binary.
    let exe = env!("CARGO_BIN_EXE_ringmcp");
    // 100 buffers are rounded up to 128; the fallback path has no buffer ring.
    for (path, ring_buffers) in [("fallback", 0.0), ("multishot", 128.0)] {
        let args = ["--cores", "1", "--io-path", path, "--recv-buffers", "100"];
        let server = Server::start_exe(exe, "serve", &args);
        let h = health(server.port);
        assert_eq!((h["io_path"].as_str(), h["cores"][0]["io_path"].as_str()), (Some(path), Some(path)), "{h}");
        let m = Metrics::scrape(server.port);
        let series = format!(r#"ringmcp_io_path{{core="0",path="{path}"}}"#);
        assert_eq!(m.family("ringmcp_io_path"), [(series, 1.0)]);
        assert_eq!(m.get(r#"ringmcp_ring_buffers{core="0"}"#), ring_buffers);
        assert_eq!(Client::connect(server.port).call(PING), PONG);
    }

    // The binary under test (auto, or the wrapper's path) says the same in both places, per core.
    let server = Server::start(&["--cores", "2"]);
    let h = health(server.port);
    let path = h["io_path"].as_str().unwrap_or_else(|| panic!("no io_path: {h}")).to_string();
    assert!(path == "multishot" || path == "fallback", "{h}");
    let want: Vec<(String, f64)> =
        (0..2).map(|core| (format!(r#"ringmcp_io_path{{core="{core}",path="{path}"}}"#), 1.0)).collect();
    assert_eq!(Metrics::scrape(server.port).family("ringmcp_io_path"), want);
}

#[test]
fn a_tiny_buffer_ring_runs_out_recovers_and_loses_nothing() {
    let (server, m) = tiny_ring_load();
    if io_path(server.port) == "multishot" {
        let enobufs = m.get(r#"ringmcp_ring_recv_enobufs_total{core="0"}"#);
        let rearms = m.get(r#"ringmcp_ring_recv_rearms_total{core="0"}"#);
        let accepted = m.sum("ringmcp_connections_accepted_total");
        assert!(enobufs > 0.0, "the buffer ring never ran out:\n{}", m.ring_summary());
        assert!(rearms > 0.0, "no receive was re-armed:\n{}", m.ring_summary());
        // Each ENOBUFS ends one armed receive, which a re-arm (or the close) follows.
        assert!(enobufs <= rearms + accepted, "receives left ended:\n{}", m.ring_summary());
    }
}

#[test]
fn re_arms_after_the_buffer_ring_runs_out_stay_within_one_per_request() {
    let (server, m) = tiny_ring_load();
    if io_path(server.port) == "multishot" {
        let rearms = m.get(r#"ringmcp_ring_recv_rearms_total{core="0"}"#);
        let requests = (TINY_CONNS * (TINY_DEPTH * TINY_ROUNDS + 3)) as f64;
        assert!(rearms <= requests, "{rearms} re-arms for {requests} requests:\n{}", m.ring_summary());
    }
}

#[test]
fn short_sends_deliver_large_answers_whole() {
    const ANSWERS: usize = 3;
    const TEXT_BYTES: usize = 1 << 20;
    // SO_SNDBUF 4096 (8 KiB in the kernel) holds less than 1% of one answer.
    let server = Server::start(&["--cores", "1", "--send-buffer-bytes", "4096"]);
    let mut client = Client::initialized(server.port);
    let texts: Vec<String> = (0..ANSWERS as u64).map(|i| text_of(TEXT_BYTES, i)).collect();
    let calls: String = texts.iter().enumerate().map(|(id, text)| echo_call(id, text) + "\n").collect();
    client.send(calls.as_bytes());
    for (id, text) in texts.iter().enumerate() {
        let line = client.recv_line_paced(4096, Duration::from_millis(1));
        assert_same(&line, &echo_answer(id, text), &format!("answer {id}"));
    }
    assert_eq!(client.call(PING), PONG);
    let short_sends = Metrics::scrape(server.port).get(r#"ringmcp_ring_short_sends_total{core="0"}"#);
    assert!(short_sends > 0.0, "3 MiB through an 8 KiB send buffer went out without a short send");
}

#[test]
fn a_client_that_half_closes_gets_its_whole_large_answer() {
    let server = Server::start(&["--cores", "1", "--send-buffer-bytes", "4096"]);
    let mut client = Client::initialized(server.port);
    let text = text_of(1 << 20, 31);
    client.send(format!("{}\n", echo_call(1, &text)).as_bytes());
    // All requests sent: the server answers what it read, then closes.
    client.stream.shutdown(std::net::Shutdown::Write).unwrap();
    assert_same(&client.recv_line(), &echo_answer(1, &text), "the answer");
    assert_eq!(client.try_recv_line(), None, "then EOF");
}

#[test]
fn sigterm_while_a_large_answer_is_being_sent_delivers_it_whole() {
    let mut server = Server::start(&["--cores", "1", "--send-buffer-bytes", "4096"]);
    let mut client = Client::initialized(server.port);
    let text = text_of(1 << 20, 32);
    client.send(format!("{}\n", echo_call(1, &text)).as_bytes());
    client.recv_some(); // the answer is on its way
    server.send_signal(libc::SIGTERM);
    assert_same(&client.recv_line(), &echo_answer(1, &text), "the answer");
    assert_eq!(client.try_recv_line(), None, "then EOF");
    let status = server.wait_exit(ANSWER_TIMEOUT).expect("the server exits after the drain");
    assert_eq!(status.code(), Some(0), "{status:?}");
}

#[test]
fn an_http_answer_before_connection_close_arrives_whole() {
    let server = Server::start(&["--cores", "1", "--send-buffer-bytes", "4096"]);
    let port = server.port;
    let session = common::http_session(port);
    let text = text_of(1 << 20, 33);
    let request = common::Req::mcp_in(port, &session, &echo_call(1, &text)).header("Connection", "close");
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_read_timeout(Some(ANSWER_TIMEOUT)).unwrap();
    stream.write_all(&request.bytes()).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("the response, then EOF");
    let response = String::from_utf8(response).expect("UTF-8");
    let (head, body) = response.split_once("\r\n\r\n").expect("a response head");
    let want = echo_answer(1, &text);
    assert!(head.contains(&format!("\r\nContent-Length: {}\r\n", want.len())), "{head}");
    assert_same(body, &want, "the body");
}

#[test]
fn frames_split_across_many_receive_buffers() {
    // 64-byte buffers: a 200 KB line spans over 3,000 of them, more than the ring's 2,048.
    let server = Server::start(&["--cores", "1", "--recv-buffer-bytes", "64"]);
    let mut client = Client::initialized(server.port);
    let big = text_of(200_000, 9);
    client.send(format!("{}\n{PING}\n", echo_call(1, &big)).as_bytes());
    assert_same(&client.recv_line(), &echo_answer(1, &big), "the 200 KB answer");
    assert_eq!(client.recv_line(), PONG, "the line after the long one");

    // One byte per segment: every receive completion carries a single byte.
    let mut dribbler = Client::initialized(server.port);
    dribbler.stream.set_nodelay(true).unwrap();
    let text = "sent one byte at a time";
    for byte in format!("{}\n{PING}\n", echo_call(2, text)).bytes() {
        dribbler.send(&[byte]);
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(dribbler.recv_line(), echo_answer(2, text));
    assert_eq!(dribbler.recv_line(), PONG);
    let m = wait_for_metrics(server.port, "the buffers going back", |m| m.sum("ringmcp_ring_buffers_out") == 0.0);
    if io_path(server.port) == "multishot" {
        // Every byte came through a 64-byte buffer: one completion each, at least.
        let completions = m.get(r#"ringmcp_ring_completions_total{core="0"}"#);
        assert!(completions >= (200_000 / 64) as f64, "{completions} completions:\n{}", m.ring_summary());
    }
}

#[test]
fn ten_thousand_connections_in_waves_leave_no_trace() {
    const WAVES: usize = 10;
    const PER_WAVE: usize = 1_000;
    raise_fd_limit(PER_WAVE + 100);
    let server = Server::start(&["--cores", "2", "--pool-buffers-per-core", &POOL_CAP.to_string()]);
    let port = server.port;
    let baseline = settled_footprint(&server);
    let half_line = &PING[..PING.len() / 2];
    let mut pongs = 0;
    for _ in 0..WAVES {
        // All of a wave is open at once; then each ends in one of five ways.
        let mut wave: Vec<Client> = (0..PER_WAVE).map(|_| Client::connect(port)).collect();
        for (i, client) in wave.iter_mut().enumerate() {
            match i % 5 {
                0 | 1 => client.send(format!("{PING}\n").as_bytes()),
                2 => client.send(half_line.as_bytes()),
                3 => client.send(format!("{PING}\n{half_line}").as_bytes()),
                _ => {} // connects and says nothing
            }
        }
        for (i, mut client) in wave.into_iter().enumerate() {
            match i % 5 {
                0 => {
                    assert_eq!(client.recv_line(), PONG);
                    pongs += 1;
                }
                3 => {
                    assert_eq!(client.recv_line(), PONG);
                    pongs += 1;
                    client.reset();
                }
                _ => {} // 1 closes with its answer unread (a reset), 2 and 4 with a FIN
            }
        }
    }
    assert_eq!(pongs, WAVES * PER_WAVE * 2 / 5);

    let after = wait_for_footprint(&server, baseline);
    assert_eq!(after, baseline);
    let m = Metrics::scrape(port);
    for (series, free) in m.family("ringmcp_pool_free_buffers") {
        assert!(free <= f64::from(POOL_CAP), "{series} {free}: over pool_buffers_per_core {POOL_CAP}");
    }
}

#[test]
fn a_connection_closed_while_its_send_is_in_flight_does_not_disturb_others() {
    let pool_cap = POOL_CAP.to_string();
    let args = ["--cores", "1", "--send-buffer-bytes", "4096", "--pool-buffers-per-core", &pool_cap];
    let server = Server::start(&args);
    let port = server.port;
    let baseline = settled_footprint(&server);
    // A bystander's 1 MiB answer waits in its send queue for the whole test.
    let mut bystander = Client::initialized(port);
    let bystander_text = text_of(1 << 20, 21);
    bystander.send(format!("{}\n", echo_call(100, &bystander_text)).as_bytes());

    let big = text_of(4 << 20, 22);
    for i in 0..8 {
        let mut doomed = Client::initialized(port);
        doomed.send(format!("{}\n", echo_call(i, &big)).as_bytes());
        if i % 2 == 0 {
            // The answer has started to arrive: its send is in flight.
            doomed.recv_some();
        }
        if i % 4 < 2 {
            doomed.reset();
        } else {
            drop(doomed); // unread bytes: the kernel resets it too
        }
        assert_eq!(Client::connect(port).call(PING), PONG, "after closing connection {i}");
    }
    assert_same(&bystander.recv_line(), &echo_answer(100, &bystander_text), "the bystander's answer");
    assert_eq!(bystander.call(PING), PONG);
    drop(bystander);

    assert_eq!(wait_for_footprint(&server, baseline), baseline);
    let m = Metrics::scrape(port);
    assert!(m.get(r#"ringmcp_ring_short_sends_total{core="0"}"#) > 0.0, "{}", m.ring_summary());
    assert!(m.get(r#"ringmcp_pool_free_buffers{core="0"}"#) <= f64::from(POOL_CAP), "{}", m.ring_summary());
}

#[test]
fn sigterm_under_load_answers_every_request_exactly_once() {
    // Drained in time: every request read is served. Each connection has finished three
    // batches and its fourth batch's sleep is running (or the batch is not sent yet).
    let load = SigtermLoad { sleep_ms: 30, args: &["--cores", "2"], answers_before: 3 * LOAD_DEPTH };
    for (c, (sent, answers)) in load.run().iter().enumerate() {
        assert!(answers.len() >= 3 * LOAD_DEPTH, "connection {c}: answers sent before the signal are missing");
        for (&id, answer) in sent.iter().zip(answers) {
            assert_eq!(*answer, load.answer(id), "connection {c}");
        }
    }

    // The drain runs out: the sleep of each connection's first batch, running at the signal,
    // gets the draining error, the 15 echoes before it their results.
    let load = SigtermLoad {
        sleep_ms: 5_000,
        args: &["--cores", "2", "--drain-timeout-ms", "100"],
        answers_before: LOAD_DEPTH - 1,
    };
    for (c, (sent, answers)) in load.run().iter().enumerate() {
        let mut want: Vec<String> = sent[..LOAD_DEPTH - 1].iter().map(|&id| load.answer(id)).collect();
        want.push(draining(sent[LOAD_DEPTH - 1]));
        assert_eq!(*answers, want, "connection {c}");
    }
}

#[test]
fn slow_clients_holding_partial_lines_are_bounded_and_cut() {
    const SLOW: usize = 2_000;
    const PARTIAL_BYTES: usize = 60_000;
    const BUDGET_BYTES: u64 = 16 << 20;
    const MARGIN_BYTES: u64 = 32 << 20;
    raise_fd_limit(SLOW + 100);
    let budget = BUDGET_BYTES.to_string();
    // A small buffer ring (1 MiB, filled by the kernel as data comes) so that what grows is
    // what the partial-frame budget bounds; the margin covers 2,000 connections' own state.
    let args = [
        "--cores",
        "1",
        "--frame-timeout-ms",
        "2000",
        "--partial-frame-bytes-per-core",
        &budget,
        "--recv-buffers",
        "256",
    ];
    let server = Server::start(&args);
    let (port, pid) = (server.port, server.child.id());
    let mut normal = Client::connect(port);
    assert_eq!(normal.call(PING), PONG);
    let rss = PeakRss::start(pid);
    let within_budget = |when: &str| {
        let growth = rss.growth();
        assert!(
            growth <= BUDGET_BYTES + MARGIN_BYTES,
            "{when}: RSS grew by {} MiB; budget {} MiB + {} MiB margin",
            growth >> 20,
            BUDGET_BYTES >> 20,
            MARGIN_BYTES >> 20
        );
    };

    // 60 KB of a line each and no newline: 120 MB held if nothing bounded it.
    let head = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":""#;
    let partial = format!("{head}{}", "x".repeat(PARTIAL_BYTES - head.len()));
    let slow: Vec<TcpStream> = (0..SLOW)
        .map(|_| {
            let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
            stream.set_read_timeout(Some(ANSWER_TIMEOUT)).unwrap();
            stream.set_write_timeout(Some(ANSWER_TIMEOUT)).unwrap();
            // A connection cut while it writes fails here; its end is checked below.
            let _ = stream.write_all(partial.as_bytes());
            stream
        })
        .collect();
    assert_eq!(normal.call(PING), PONG, "a normal connection is served beside the slow ones");
    within_budget("with 2,000 partial lines sent");

    for (i, mut stream) in slow.into_iter().enumerate() {
        let mut got = Vec::new();
        match stream.read_to_end(&mut got) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("slow connection {i} not cut within {ANSWER_TIMEOUT:?}: {e}"),
        }
        // A cut connection may be told why: one error line with id null, then EOF.
        if !got.is_empty() {
            let text = String::from_utf8_lossy(&got);
            let answer: Value = serde_json::from_str(text.trim_end_matches('\n'))
                .unwrap_or_else(|e| panic!("slow connection {i}: not one JSON line before EOF ({e}): {text}"));
            assert!(answer["id"].is_null() && answer["error"]["code"].is_i64(), "slow connection {i}: {answer}");
        }
    }
    within_budget("until every slow connection was cut");
    assert_eq!(normal.call(PING), PONG, "the normal connection outlives the cut");
}

/// Connections of the tiny-ring load.
const TINY_CONNS: usize = 64;
/// Requests each connection of the tiny-ring load has in flight (one batch).
const TINY_DEPTH: usize = 16;
/// Batches each connection of the tiny-ring load sends, one after the other.
const TINY_ROUNDS: usize = 300;

/// Runs [`TINY_CONNS`] × [`TINY_DEPTH`] echo requests in flight for [`TINY_ROUNDS`] rounds
/// against four 256-byte receive buffers (each batch is ~3.2 KB); asserts every request got
/// exactly its answer, in order, and that all buffers went back once the clients closed.
/// Returns the server, still running, and its metrics then.
fn tiny_ring_load() -> (Server, Metrics) {
    let server = Server::start(&["--cores", "1", "--recv-buffers", "4", "--recv-buffer-bytes", "256"]);
    let port = server.port;
    let clients: Vec<_> = (0..TINY_CONNS)
        .map(|c| {
            std::thread::spawn(move || {
                let mut client = Client::initialized(port);
                for round in 0..TINY_ROUNDS {
                    let ids: Vec<usize> = (0..TINY_DEPTH).map(|i| (c * TINY_ROUNDS + round) * TINY_DEPTH + i).collect();
                    let batch: String = ids.iter().map(|&id| echo_call(id, &echo_text(id)) + "\n").collect();
                    client.send(batch.as_bytes());
                    for &id in &ids {
                        assert_eq!(client.recv_line(), echo_answer(id, &echo_text(id)), "connection {c}");
                    }
                }
                // Nothing more was sent: the next answer is the ping's.
                assert_eq!(client.call(PING), PONG, "connection {c}");
            })
        })
        .collect();
    for client in clients {
        client.join().expect("every request answered once, in order, byte-exact");
    }
    let m = wait_for_metrics(port, "the connections closing and the buffers going back", |m| {
        m.sum("ringmcp_connections") == 1.0 && m.sum("ringmcp_ring_buffers_out") == 0.0
    });
    (server, m)
}

// ---- requests and answers ----

fn echo_call(id: usize, text: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"echo","arguments":{{"text":"{text}"}}}}}}"#
    )
}

fn echo_answer(id: usize, text: &str) -> String {
    format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{{"content":[{{"type":"text","text":"{text}"}}]}}}}"#)
}

/// A text of about 120 bytes that names its request.
fn echo_text(id: usize) -> String {
    format!("request {id:08} ").repeat(7)
}

/// `len` letters and digits, different for each `seed` and without a period (xorshift), so that
/// a lost, repeated or misplaced piece of an answer shows as a difference.
fn text_of(len: usize, seed: u64) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        ALPHABET[(x % ALPHABET.len() as u64) as usize] as char
    };
    (0..len).map(|_| next()).collect()
}

/// Connections of the SIGTERM load.
const LOAD_CONNS: usize = 64;
/// Requests per batch of the SIGTERM load (the last one a sleep).
const LOAD_DEPTH: usize = 16;
/// Batches one connection of the SIGTERM load sends at most.
const LOAD_BATCHES_MAX: usize = 64;

/// The SIGTERM test's load: [`LOAD_CONNS`] connections send batches of [`LOAD_DEPTH`]
/// requests, 15 echoes and a sleep of `sleep_ms`, the next batch once all 16 are answered, until
/// the server closes. The signal comes once every connection has `answers_before` answers.
struct SigtermLoad {
    sleep_ms: u64,
    args: &'static [&'static str],
    answers_before: usize,
}

impl SigtermLoad {
    fn call(&self, id: usize) -> String {
        if id % LOAD_DEPTH == LOAD_DEPTH - 1 {
            let ms = self.sleep_ms;
            format!(
                r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"sleep","arguments":{{"ms":{ms}}}}}}}"#
            )
        } else {
            echo_call(id, &format!("load {id}"))
        }
    }

    fn answer(&self, id: usize) -> String {
        if id % LOAD_DEPTH == LOAD_DEPTH - 1 {
            echo_answer(id, &format!("slept {} ms", self.sleep_ms))
        } else {
            echo_answer(id, &format!("load {id}"))
        }
    }

    /// Runs the load, sends SIGTERM, and asserts the server exits 0 and that each connection's
    /// answers are one per request, in order, for the first requests it sent (the server reads
    /// and answers in order; what it never read gets nothing). Returns each connection's
    /// requests sent and answers read.
    fn run(&self) -> Vec<(Vec<usize>, Vec<String>)> {
        let mut server = Server::start(self.args);
        let port = server.port;
        let answered: Arc<Vec<AtomicUsize>> = Arc::new((0..LOAD_CONNS).map(|_| AtomicUsize::new(0)).collect());
        let clients: Vec<_> = (0..LOAD_CONNS)
            .map(|c| {
                let answered = answered.clone();
                let batch_of = |batch: usize| -> (Vec<usize>, String) {
                    let ids: Vec<usize> = (0..LOAD_DEPTH).map(|i| (c * 100_000 + batch) * LOAD_DEPTH + i).collect();
                    let lines = ids.iter().map(|&id| self.call(id) + "\n").collect();
                    (ids, lines)
                };
                let batches: Vec<(Vec<usize>, String)> = (0..LOAD_BATCHES_MAX).map(batch_of).collect();
                std::thread::spawn(move || {
                    let mut client = Client::initialized(port);
                    let (mut sent, mut answers) = (Vec::new(), Vec::new());
                    'load: for (ids, lines) in batches {
                        if client.stream.write_all(lines.as_bytes()).is_err() {
                            break; // the server closed; what it sent is still readable
                        }
                        sent.extend(ids);
                        for _ in 0..LOAD_DEPTH {
                            match client.try_recv_line() {
                                Some(line) => answers.push(line),
                                None => break 'load,
                            }
                            answered[c].fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    answers.extend(std::iter::from_fn(|| client.try_recv_line()));
                    (sent, answers)
                })
            })
            .collect();
        let deadline = Instant::now() + ANSWER_TIMEOUT;
        while answered.iter().any(|n| n.load(Ordering::Relaxed) < self.answers_before) {
            assert!(Instant::now() < deadline, "the load did not get going");
            std::thread::sleep(Duration::from_millis(2));
        }
        server.send_signal(libc::SIGTERM);
        let ends: Vec<(Vec<usize>, Vec<String>)> =
            clients.into_iter().map(|client| client.join().expect("a client")).collect();
        let status = server.wait_exit(ANSWER_TIMEOUT).expect("the server exits after the drain");
        assert_eq!(status.code(), Some(0), "{status:?}");
        for (c, (sent, answers)) in ends.iter().enumerate() {
            assert!(
                answers.len() <= sent.len(),
                "connection {c}: {} answers to {} requests",
                answers.len(),
                sent.len()
            );
            for (&id, answer) in sent.iter().zip(answers) {
                assert!(*answer == self.answer(id) || *answer == draining(id), "connection {c}: {answer}");
            }
        }
        ends
    }
}

/// The answer to a request still unanswered when `drain_timeout_ms` passes.
fn draining(id: usize) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":{id},"error":{{"code":-32010,"message":"Server shutting down: drain_timeout_ms passed before this request was served; retry on another server","data":{{"reason":"draining"}}}}}}"#
    )
}

/// Asserts two long strings are equal, reporting where they part instead of both whole.
fn assert_same(got: &str, want: &str, what: &str) {
    if got == want {
        return;
    }
    let at = got.bytes().zip(want.bytes()).position(|(a, b)| a != b).unwrap_or(got.len().min(want.len()));
    let around = |s: &str| s.get(at.saturating_sub(20)..(at + 40).min(s.len())).unwrap_or("").to_string();
    panic!(
        "{what}: {} bytes, expected {}; first difference at byte {at}: {:?} vs {:?}",
        got.len(),
        want.len(),
        around(got),
        around(want)
    );
}

// ---- a raw NDJSON client ----

/// One NDJSON connection on a plain socket, for what [`common::Conn`] does not do: read in
/// paced small pieces, read part of an answer, write byte by byte, close with a reset.
struct Client {
    stream: TcpStream,
    /// Bytes read past the last line returned.
    buf: Vec<u8>,
    /// Where one read lands before it joins `buf`.
    chunk: Vec<u8>,
}

impl Client {
    fn connect(port: u16) -> Client {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream.set_read_timeout(Some(ANSWER_TIMEOUT)).unwrap();
        Client { stream, buf: Vec::new(), chunk: vec![0; 16 << 10] }
    }

    /// A connection whose session is initialized (tools/call needs one).
    fn initialized(port: u16) -> Client {
        let mut client = Client::connect(port);
        let init = client.call(INIT);
        assert!(init.starts_with(r#"{"jsonrpc":"2.0","id":0,"result":{"#), "{init}");
        client.send(format!("{INITIALIZED}\n").as_bytes());
        client
    }

    fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send");
    }

    fn call(&mut self, line: &str) -> String {
        self.send(format!("{line}\n").as_bytes());
        self.recv_line()
    }

    fn recv_line(&mut self) -> String {
        self.try_recv_line().expect("connection closed before an answer")
    }

    /// The next line, or `None` at EOF or reset.
    fn try_recv_line(&mut self) -> Option<String> {
        self.recv_line_in(usize::MAX, Duration::ZERO)
    }

    /// The next line, read at most `limit` bytes at a time with `pause` after each read: a slow
    /// reader that keeps the server's sends short. Panics at EOF.
    fn recv_line_paced(&mut self, limit: usize, pause: Duration) -> String {
        self.recv_line_in(limit, pause).expect("connection closed before an answer")
    }

    fn recv_line_in(&mut self, limit: usize, pause: Duration) -> Option<String> {
        let mut scanned = 0;
        loop {
            if let Some(at) = memchr(b'\n', &self.buf[scanned..]) {
                let line: Vec<u8> = self.buf.drain(..=scanned + at).collect();
                return Some(String::from_utf8(line[..line.len() - 1].to_vec()).expect("answers are UTF-8"));
            }
            scanned = self.buf.len();
            if self.fill(limit) == 0 {
                assert!(self.buf.is_empty(), "EOF inside a line: {} bytes", self.buf.len());
                return None;
            }
            std::thread::sleep(pause);
        }
    }

    /// Reads at least one byte of what the server sends.
    fn recv_some(&mut self) {
        assert!(self.fill(usize::MAX) > 0, "connection closed before any answer");
    }

    /// One read of at most `limit` bytes (and at most 16 KiB); 0 at EOF or reset.
    fn fill(&mut self, limit: usize) -> usize {
        let room = limit.min(self.chunk.len());
        let n = match self.stream.read(&mut self.chunk[..room]) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => 0,
            Err(e) => panic!("nothing read within {ANSWER_TIMEOUT:?}: {e}"),
        };
        self.buf.extend_from_slice(&self.chunk[..n]);
        n
    }

    /// Closes with a reset (SO_LINGER 0) instead of a FIN.
    fn reset(self) {
        socket2::SockRef::from(&self.stream).set_linger(Some(Duration::ZERO)).expect("SO_LINGER");
    }
}

fn memchr(needle: u8, haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|&b| b == needle)
}

// ---- what the server shows: /health, /metrics, /proc ----

fn health(port: u16) -> Value {
    let resp = common::HttpConn::connect(port).call(&common::Req::new("GET", "/health", port));
    assert_eq!(resp.status, 200, "{resp:?}");
    resp.json()
}

fn io_path(port: u16) -> String {
    health(port)["io_path"].as_str().expect("/health has io_path").to_string()
}

/// One scrape of /metrics: every sample as (series, value).
struct Metrics(Vec<(String, f64)>);

impl Metrics {
    fn scrape(port: u16) -> Metrics {
        Metrics::scrape_on(&mut common::HttpConn::connect(port), port)
    }

    fn scrape_on(conn: &mut common::HttpConn, port: u16) -> Metrics {
        let resp = conn.call(&common::Req::new("GET", "/metrics", port));
        assert_eq!(resp.status, 200, "{resp:?}");
        let samples = resp.text().lines().filter(|l| !l.starts_with('#') && !l.is_empty()).map(|l| {
            let (series, value) = l.rsplit_once(' ').unwrap_or_else(|| panic!("sample line {l:?}"));
            (series.to_string(), value.parse().unwrap_or_else(|_| panic!("sample value {l:?}")))
        });
        Metrics(samples.collect())
    }

    /// The value of the sample whose series is exactly `series`.
    fn get(&self, series: &str) -> f64 {
        let found = self.0.iter().find(|(s, _)| s == series);
        found.unwrap_or_else(|| panic!("no sample {series}")).1
    }

    /// Every sample of the family `name`, in order.
    fn family(&self, name: &str) -> Vec<(String, f64)> {
        let of = |s: &str| s.split('{').next() == Some(name);
        self.0.iter().filter(|(s, _)| of(s)).cloned().collect()
    }

    /// The family `name` summed over its labels (cores, transports).
    fn sum(&self, name: &str) -> f64 {
        self.family(name).iter().map(|(_, v)| v).sum()
    }

    /// The ring, pool and connection samples, for failure messages.
    fn ring_summary(&self) -> String {
        let shown =
            |s: &str| ["ringmcp_ring_", "ringmcp_pool_", "ringmcp_connections"].iter().any(|p| s.starts_with(p));
        self.0.iter().filter(|(s, _)| shown(s)).map(|(s, v)| format!("{s} {v}\n")).collect()
    }
}

/// Scrapes until `done` holds; fails after [`SETTLE_WAIT`] with the last scrape.
fn wait_for_metrics(port: u16, what: &str, done: impl Fn(&Metrics) -> bool) -> Metrics {
    let deadline = Instant::now() + SETTLE_WAIT;
    loop {
        let m = Metrics::scrape(port);
        if done(&m) {
            return m;
        }
        assert!(Instant::now() < deadline, "{what}: not within {SETTLE_WAIT:?}:\n{}", m.ring_summary());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What the server holds for connections, seen while exactly one (a /metrics scrape) is open.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Footprint {
    /// Open file descriptors of the process.
    fds: usize,
    /// `ringmcp_connections`, all transports and cores (the scrape's own is one).
    connections: f64,
    /// `/health`'s `connections`: every accepted socket, even one that never sent a byte.
    accepted_open: u64,
    /// `ringmcp_ring_buffers_out`, all cores.
    buffers_out: f64,
}

impl Footprint {
    fn of(server: &Server) -> Footprint {
        let mut scrape = common::HttpConn::connect(server.port);
        let m = Metrics::scrape_on(&mut scrape, server.port);
        let health = scrape.call(&common::Req::new("GET", "/health", server.port)).json();
        // Counted while the scrape's connection is still open, as in every footprint.
        let fds = fd_count(server.child.id());
        Footprint {
            fds,
            connections: m.sum("ringmcp_connections"),
            accepted_open: health["connections"].as_u64().expect("/health has connections"),
            buffers_out: m.sum("ringmcp_ring_buffers_out"),
        }
    }
}

/// The footprint of a server with no client connections, once earlier scrapes are gone.
fn settled_footprint(server: &Server) -> Footprint {
    assert_eq!(Client::connect(server.port).call(PING), PONG, "warm-up");
    let deadline = Instant::now() + SETTLE_WAIT;
    let mut last = Footprint::of(server);
    loop {
        std::thread::sleep(Duration::from_millis(50));
        let now = Footprint::of(server);
        if (now.connections, now.accepted_open) == (1.0, 1) && now == last {
            return now;
        }
        assert!(Instant::now() < deadline, "the server did not settle: {last:?} then {now:?}");
        last = now;
    }
}

/// Polls the footprint until it is `baseline` again; the last one seen after [`SETTLE_WAIT`].
fn wait_for_footprint(server: &Server, baseline: Footprint) -> Footprint {
    let deadline = Instant::now() + SETTLE_WAIT;
    loop {
        let now = Footprint::of(server);
        if now == baseline || Instant::now() >= deadline {
            return now;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).expect("the server's /proc/PID/fd").count()
}

/// The resident set of a running process; `None` once it has exited.
fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
    Some(kib.trim().trim_end_matches("kB").trim().parse::<u64>().expect("VmRSS in kB") << 10)
}

/// Samples a process's RSS every 20 ms in a thread, from its start until dropped.
struct PeakRss {
    pid: u32,
    start: u64,
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    sampler: Option<std::thread::JoinHandle<()>>,
}

impl PeakRss {
    fn start(pid: u32) -> PeakRss {
        let start = rss_bytes(pid).expect("the server runs");
        let (peak, stop) = (Arc::new(AtomicU64::new(start)), Arc::new(AtomicBool::new(false)));
        let sampler = {
            let (peak, stop) = (peak.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let Some(rss) = rss_bytes(pid) else { return };
                    peak.fetch_max(rss, Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
        };
        PeakRss { pid, start, peak, stop, sampler: Some(sampler) }
    }

    /// The highest RSS seen (now included) less the RSS at the start.
    fn growth(&self) -> u64 {
        let now = rss_bytes(self.pid).unwrap_or(0);
        self.peak.fetch_max(now, Ordering::Relaxed).max(now).saturating_sub(self.start)
    }
}

impl Drop for PeakRss {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(sampler) = self.sampler.take() {
            let _ = sampler.join();
        }
    }
}

/// Raises this process's soft limit on open files to its hard limit (servers started after
/// inherit it), and checks `needed` fit.
fn raise_fd_limit(needed: usize) {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes only the struct it is given, which lives on this stack.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) }, 0, "getrlimit");
    if limit.rlim_cur < limit.rlim_max {
        limit.rlim_cur = limit.rlim_max;
        // SAFETY: setrlimit reads only the struct it is given.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) }, 0, "setrlimit");
    }
    assert!(limit.rlim_cur >= needed as u64 * 2, "RLIMIT_NOFILE {} is too low for {needed} sockets", limit.rlim_cur);
}

#[test]
fn silent_connections_show_in_metrics_until_they_speak() {
    let server = Server::start(&["--cores", "1"]);
    let port = server.port;
    let mut silent: Vec<Client> = (0..3).map(|_| Client::connect(port)).collect();
    let unidentified = r#"ringmcp_connections_unidentified{core="0"}"#;
    // The scrape's own connection has spoken (its request), so it is not counted.
    let deadline = std::time::Instant::now() + ANSWER_TIMEOUT;
    while Metrics::scrape(port).get(unidentified) != 3.0 {
        assert!(std::time::Instant::now() < deadline, "three silent sockets never showed");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(silent[0].call(PING), PONG);
    assert_eq!(Metrics::scrape(port).get(unidentified), 2.0);
    drop(silent);
    let deadline = std::time::Instant::now() + ANSWER_TIMEOUT;
    while Metrics::scrape(port).get(unidentified) != 0.0 {
        assert!(std::time::Instant::now() < deadline, "closed silent sockets still counted");
        std::thread::sleep(Duration::from_millis(10));
    }
}
