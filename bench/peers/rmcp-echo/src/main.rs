//! `rmcp-echo`: the reference peer for ringmcp's benchmark.
//!
//! A deliberately plain, idiomatic MCP server written with the official Rust
//! SDK (`rmcp`). It exposes exactly one tool, `echo {text: string}`, whose
//! result is a `CallToolResult` holding one text content block with the input
//! text (`isError: false`). The server names itself `rmcp-echo`.
//!
//! Three transports, chosen by the first argument:
//!
//! * `stdio` — MCP over stdin/stdout (newline-delimited JSON-RPC).
//! * `tcp --listen ADDR` — one MCP session per TCP connection, newline-delimited
//!   JSON-RPC through rmcp's async read/write transport.
//! * `http --listen ADDR` — rmcp's Streamable HTTP server at `/mcp`, stateless,
//!   answering with plain `application/json` bodies.
//!
//! Everything runs on one `current_thread` Tokio runtime: the benchmark pins
//! each server to a single CPU, so a single-threaded runtime is the fair
//! configuration. Logs (errors only) go to stderr.

use std::{net::SocketAddr, process::ExitCode, sync::Arc};

use rmcp::{
    handler::server::{router::tool::ToolRouter, wrapper::Parameters},
    model::{CallToolResult, ContentBlock},
    schemars, tool, tool_handler, tool_router,
    transport::{
        stdio_pipes, streamable_http_server::session::never::NeverSessionManager, StreamableHttpServerConfig,
        StreamableHttpService,
    },
    ServerHandler, ServiceExt,
};
use tokio::net::TcpListener;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Arguments of the `echo` tool.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
struct EchoArgs {
    /// The text to send back unchanged.
    text: String,
}

/// The MCP server: one `echo` tool, routed by rmcp's tool macros.
///
/// The router is built once and kept in a field (rmcp's documented
/// `router = self.tool_router` form) instead of being rebuilt on every call.
#[derive(Clone)]
struct Echo {
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl Echo {
    fn new() -> Self {
        Self { tool_router: Self::tool_router() }
    }

    /// Returns its input as one text content block.
    #[tool(description = "Echo the given text back")]
    async fn echo(&self, Parameters(EchoArgs { text }): Parameters<EchoArgs>) -> CallToolResult {
        CallToolResult::success(vec![ContentBlock::text(text)])
    }
}

#[tool_handler(name = "rmcp-echo", router = self.tool_router)]
impl ServerHandler for Echo {}

/// Serves one MCP session over stdin/stdout until the client hangs up.
async fn run_stdio() -> Result<(), BoxError> {
    Echo::new().serve(stdio_pipes()).await?.waiting().await?;
    Ok(())
}

/// Accepts TCP connections forever; each one is an independent MCP session.
async fn run_tcp(addr: SocketAddr) -> Result<(), BoxError> {
    let listener = TcpListener::bind(addr).await?;
    eprintln!("rmcp-echo: tcp listening on {}", listener.local_addr()?);
    loop {
        // A failed accept (e.g. EMFILE under load) must not end the server.
        let (stream, peer) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                eprintln!("rmcp-echo: accept: {e}");
                continue;
            }
        };
        // Request/response traffic: don't let Nagle delay small answers.
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let session = async {
                Echo::new().serve(stream.into_split()).await?.waiting().await?;
                Ok::<_, BoxError>(())
            };
            if let Err(e) = session.await {
                eprintln!("rmcp-echo: session {peer}: {e}");
            }
        });
    }
}

/// Serves Streamable HTTP at `/mcp`: stateless, JSON (not SSE) responses.
///
/// In stateless mode rmcp asks the factory for a fresh handler per request;
/// cloning a prebuilt one avoids rebuilding the tool router each time.
async fn run_http(addr: SocketAddr) -> Result<(), BoxError> {
    let echo = Echo::new();
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None);
    let service =
        StreamableHttpService::new(move || Ok(echo.clone()), Arc::new(NeverSessionManager::default()), config);
    let router = axum::Router::new().nest_service("/mcp", service);
    let listener = TcpListener::bind(addr).await?;
    eprintln!("rmcp-echo: http listening on http://{}/mcp", listener.local_addr()?);
    axum::serve(listener, router).await?;
    Ok(())
}

const USAGE: &str = "usage: rmcp-echo stdio | tcp --listen ADDR | http --listen ADDR";

/// Parses `[--listen ADDR]` after the mode word.
fn listen_addr(rest: &[String]) -> Result<SocketAddr, BoxError> {
    match rest {
        [flag, addr] if flag == "--listen" => Ok(addr.parse()?),
        _ => Err(USAGE.into()),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.split_first() {
        Some((mode, [])) if mode == "stdio" => run_stdio().await,
        Some((mode, rest)) if mode == "tcp" => match listen_addr(rest) {
            Ok(addr) => run_tcp(addr).await,
            Err(e) => Err(e),
        },
        Some((mode, rest)) if mode == "http" => match listen_addr(rest) {
            Ok(addr) => run_http(addr).await,
            Err(e) => Err(e),
        },
        _ => Err(USAGE.into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rmcp-echo: {e}");
            ExitCode::FAILURE
        }
    }
}
