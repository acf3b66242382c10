//! Microbenchmarks of the engine's hot-path pieces, one line each: framing, JSON-RPC parse and
//! serialize, MCP dispatch, shard lookup, buffer pool, queue.
//!
//! `cargo bench --bench engine [FILTER]` (release profile). Each figure is the median of 7
//! samples of ns per operation; compare runs side by side on the same machine, never across
//! machines. On a busy machine count instructions instead, which load does not change:
//! `RINGMCP_BENCH_ITERS=100000 valgrind --tool=callgrind target/release/deps/engine-* FILTER`
//! runs each figure exactly that many times.

use ringmcp::engine::pool::BufferPool;
use ringmcp::engine::queue::Queue;
use ringmcp::framing::{next_frame, Frame};
use ringmcp::jsonrpc::{self, Id, Message, RpcError};
use ringmcp::mcp::{self, Ctx, Session};
use ringmcp_shards::{Expiry, Registry, SessionId, ShardMap};
use std::hint::black_box;
use std::time::Instant;

/// Samples per figure (the median is reported).
const SAMPLES: usize = 7;
/// Target wall time of one sample, in milliseconds.
const SAMPLE_MS: u128 = 100;

const ECHO: &[u8] = br#"{"jsonrpc":"2.0","id":12345,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello world, 16B"}}}"#;
const PING: &[u8] = br#"{"jsonrpc":"2.0","id":7,"method":"ping"}"#;

fn main() {
    let filter = std::env::args().nth(1).filter(|a| !a.starts_with('-'));
    let run = |name: &str, f: &mut dyn FnMut() -> usize| {
        if filter.as_deref().is_none_or(|p| name.contains(p)) {
            println!("{name:<40} {:>10.1} ns/op", measure(f));
        }
    };

    let mut lines = Vec::new();
    for _ in 0..64 {
        lines.extend_from_slice(ECHO);
        lines.push(b'\n');
    }
    run("framing: split 64 echo lines (per line)", &mut || {
        let mut pos = 0;
        let mut n = 0;
        while let Frame::Line(line, used) = next_frame(black_box(&lines[pos..]), 1 << 24) {
            n += line.len();
            pos += used;
        }
        black_box(n);
        64
    });

    run("jsonrpc: parse echo request", &mut || {
        let m = jsonrpc::parse(black_box(ECHO)).unwrap();
        black_box(matches!(m, Message::Request { .. }));
        1
    });

    let mut out = Vec::with_capacity(1 << 16);
    run("jsonrpc: write result + error", &mut || {
        out.clear();
        jsonrpc::write_result(&mut out, Id("12345"), br#"{"content":[]}"#);
        jsonrpc::write_error(&mut out, Some(Id("12345")), &RpcError::new(-32601, "Method not found: x"));
        black_box(out.len());
        1
    });

    let server = ringmcp::packs::build("bench", None).unwrap();
    let mut registry = Registry::<()>::new(ShardMap::new(256, 1).unwrap(), 0, 1024);
    let mut bits = 0u128;
    let id = registry
        .mint_id(&mut || {
            bits += 1;
            bits
        })
        .unwrap();
    let mut session = Session::new(id, 0);
    session.phase = mcp::Phase::Initialized;
    let sink: std::rc::Rc<dyn mcp::Sink> = std::rc::Rc::new(mcp::peer::NullSink);
    // The server's default breakers (no timer: a sync tool is never timed out).
    let policy = mcp::breaker::Policy { failures: 5, open_ms: 30_000, half_open: 3, timeout_ms: 0 };
    let guard = std::rc::Rc::new(mcp::breaker::Guard::new(policy, Box::new(|| 0), None));
    for (name, line) in [("mcp: ping end to end", PING), ("mcp: tools/call echo end to end", ECHO)] {
        run(name, &mut || {
            out.clear();
            let Ok(Message::Request { id, method, params }) = jsonrpc::parse(black_box(line)) else { unreachable!() };
            let mut ctx = Ctx {
                catalog: server.catalog(),
                session: &mut session,
                page_size: 100,
                sink: &sink,
                tasks: None,
                listeners: None,
                era_read: false,
                modern: None,
                unix_ms: 0,
                guard: Some(&guard),
            };
            assert!(mcp::handle_request(&mut ctx, id, &method, params, &mut out).is_none());
            black_box(out.len());
            1
        });
    }

    let map = ShardMap::new(256, 32).unwrap();
    let key = SessionId::from_random(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
    run("shards: shard_of + owner", &mut || black_box(map.owner_of(black_box(key.as_bytes()))));
    registry.insert(id, (), Expiry::Never, 0).unwrap();
    run("shards: registry get_mut", &mut || {
        black_box(registry.get_mut(black_box(&id), 1).is_some());
        1
    });

    let mut pool = BufferPool::new(64 << 10, 256);
    run("pool: take + give", &mut || {
        let buf = pool.take();
        pool.give(black_box(buf));
        1
    });

    let queue = Queue::new(0, 10_000, 7_500, 9_500, 50);
    run("queue: admit + release", &mut || {
        queue.try_admit().unwrap();
        queue.release();
        1
    });
}

/// Median ns per operation; `f` does some operations and says how many.
fn measure(f: &mut dyn FnMut() -> usize) -> f64 {
    if let Some(iters) = std::env::var("RINGMCP_BENCH_ITERS").ok().and_then(|v| v.parse::<usize>().ok()) {
        let start = Instant::now();
        let ops: usize = (0..iters).map(|_| f()).sum();
        return start.elapsed().as_nanos() as f64 / ops as f64;
    }
    let mut per_op = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let start = Instant::now();
        let mut ops = 0usize;
        while start.elapsed().as_millis() < SAMPLE_MS {
            for _ in 0..64 {
                ops += f();
            }
        }
        per_op.push(start.elapsed().as_nanos() as f64 / ops as f64);
    }
    per_op.sort_by(|a, b| a.total_cmp(b));
    per_op[SAMPLES / 2]
}
