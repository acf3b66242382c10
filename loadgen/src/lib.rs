//! ringmcp-loadgen: a thread-per-core load generator for MCP servers.
//!
//! One ring loop (`ringmcp-ring`: one io_uring, no MCP in it) per selected CPU drives its
//! share of the connections (TCP NDJSON, stdio child processes, Streamable HTTP, or
//! WebSocket), closed loop (W requests in flight per connection) or open loop (a fixed total
//! rate, latency measured from the intended send time). Every answer is matched to its request by id, so the report's counts are exact.
//! See `loadgen/README.md` for the command line and the `--json` schema.
//!
//! The protocol and arithmetic parts are pure modules without I/O: [`answer`], [`request`],
//! [`accounting`], [`schedule`], [`http`], [`ws`], [`report`], [`compare`], [`capacity`],
//! [`target`], [`parse`], [`tls`] (the TLS client settings). [`run`] holds the ring loops and sockets.

pub mod accounting;
pub mod answer;
pub mod capacity;
pub mod cli;
pub mod compare;
pub mod http;
pub mod limits;
pub mod parse;
pub mod procstat;
pub mod report;
pub mod request;
pub mod run;
pub mod schedule;
pub mod target;
pub mod tls;
pub mod ws;
