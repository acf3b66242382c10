//! Effective configuration: defaults, overridden by a TOML file, overridden by flags.
//!
//! Every setting is declared once in [`settings!`] below with its doc line, default and range;
//! that one declaration gives the config-file key, the `--flag`, the `--help` text, the
//! validation error and the `--print-config` line, so they can never disagree.

use crate::limits::*;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::Path;

/// A setting that is out of range or malformed. The CLI prints it and exits with code 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The config key (the flag is the same with `-` for `_`).
    pub key: String,
    /// What is wrong, with the accepted range or values.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid setting `{}`: {}", self.key, self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Log verbosity on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[derive(clap::ValueEnum)]
pub enum LogLevel {
    /// Only errors.
    Error,
    /// Errors and warnings (queue crossing its warn mark, refused connections).
    Warn,
    /// Start-up, shutdown and the above.
    Info,
    /// Per-connection events (which core served a session).
    Debug,
    /// Everything.
    Trace,
}

impl LogLevel {
    /// The matching `log` crate filter.
    pub fn to_filter(self) -> log::LevelFilter {
        match self {
            LogLevel::Error => log::LevelFilter::Error,
            LogLevel::Warn => log::LevelFilter::Warn,
            LogLevel::Info => log::LevelFilter::Info,
            LogLevel::Debug => log::LevelFilter::Debug,
            LogLevel::Trace => log::LevelFilter::Trace,
        }
    }
}

macro_rules! settings {
    ($( $doc:literal $name:ident = $default:expr, $range:expr; )*) => {
        /// The effective configuration of one server process. Keys are the config-file keys.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields, default)]
        pub struct Settings {
            /// Address and port every core listens on (SO_REUSEPORT), e.g. `127.0.0.1:9999`.
            pub listen: String,
            /// Serve on the first N online CPUs (default: all). Excludes `cpus`.
            #[serde(skip_serializing_if = "Option::is_none")]
            pub cores: Option<u64>,
            /// Serve on these CPUs, taskset syntax: `0`, `0-3`, `0,2,5`. Excludes `cores`.
            #[serde(skip_serializing_if = "Option::is_none")]
            pub cpus: Option<String>,
            /// Tool pack to serve (`bench`, `conformance`).
            pub pack: String,
            /// Ring I/O path: `auto` (multishot where the kernel has it), `multishot` (or fail
            /// at start), `fallback` (single-shot poll and recv, as on kernels before 6.1).
            pub io_path: String,
            /// Log verbosity on stderr.
            pub log_level: LogLevel,
            /// Optional `instructions` text returned by `initialize`.
            #[serde(skip_serializing_if = "Option::is_none")]
            pub instructions: Option<String>,
            /// Streamable HTTP without sessions: every POST stands alone (load balancers
            /// without affinity); GET and DELETE answer 405.
            pub stateless: bool,
            /// Whether DELETE /mcp ends a session (otherwise 405).
            pub session_delete: bool,
            /// Host header values HTTP requests may carry (DNS-rebinding protection); a port is
            /// ignored; `*` allows any.
            pub allowed_hosts: Vec<String>,
            /// Origin header values browser requests may carry; `*` allows any. Requests
            /// without Origin (non-browser clients) are allowed.
            pub allowed_origins: Vec<String>,
            /// File whose bytes (at least 32) key the HMAC that seals 2026-07-28
            /// `requestState`s; give every node behind one load balancer the same file so that
            /// a retry may land on any of them. Default: a random key per process.
            #[serde(skip_serializing_if = "Option::is_none")]
            pub request_state_secret_file: Option<std::path::PathBuf>,
            /// Per-tool timeouts, `TOOL=MS` each, over `tool_timeout_ms` and over the tool's
            /// own (`ToolBuilder::timeout_ms`); `MS` 0: no limit for that tool.
            #[serde(skip_serializing_if = "Vec::is_empty")]
            pub tool_timeouts: Vec<String>,
            /// Authorization of HTTP `/mcp` and `/mcp/ws`: `off`, `optional` (a presented token
            /// must be valid; anonymous requests pass unless they need a scope), `required`.
            pub auth_mode: String,
            /// The canonical URI of `/mcp` (e.g. `https://mcp.example.com/mcp`): the PRM
            /// `resource` and the `aud` tokens must carry. Required when auth is on.
            #[serde(skip_serializing_if = "Option::is_none")]
            pub auth_resource: Option<String>,
            /// Further accepted `aud` values (e.g. the origin form `https://mcp.example.com`).
            pub auth_audiences: Vec<String>,
            /// Accepted token issuers (`iss`); required with JWTs.
            pub auth_issuers: Vec<String>,
            /// The PRM `authorization_servers` (default: `auth_issuers`).
            pub auth_authorization_servers: Vec<String>,
            /// The PRM `scopes_supported` (omitted when empty).
            pub auth_scopes_supported: Vec<String>,
            /// Scopes every `/mcp` request needs (named in the 401 challenge).
            pub auth_required_scopes: Vec<String>,
            /// Scopes by method and name: `METHOD[:NAME]=SCOPE [SCOPE …]`, e.g.
            /// `tools/call:weather=mcp:weather`, `resources/read=mcp:read`.
            pub auth_scope: Vec<String>,
            /// Scope hierarchy: `BROAD>NARROW` (a token with BROAD has NARROW too).
            pub auth_scope_implies: Vec<String>,
            /// JWKS file with the token issuers' public keys (read at start-up).
            #[serde(skip_serializing_if = "Option::is_none")]
            pub auth_jwks_file: Option<std::path::PathBuf>,
            /// JWKS URL (https, or http on loopback), fetched at start-up and refreshed by a
            /// background thread.
            #[serde(skip_serializing_if = "Option::is_none")]
            pub auth_jwks_url: Option<String>,
            /// PEM CA certificate(s) to trust for an https `auth_jwks_url` instead of the
            /// built-in web roots (a private authorization server).
            #[serde(skip_serializing_if = "Option::is_none")]
            pub auth_jwks_ca_file: Option<std::path::PathBuf>,
            /// API keys file: `<key-id> sha256:<hex> [scope …]` per line (`ringmcp hash-key`).
            #[serde(skip_serializing_if = "Option::is_none")]
            pub auth_api_keys_file: Option<std::path::PathBuf>,
            /// Raw NDJSON over TCP when auth is on: `mtls` (needs a verified TLS client
            /// certificate), `refuse`, `open` (trusted networks only).
            pub auth_ndjson: String,
            /// Scopes granted to a connection whose TLS client certificate was verified (raw
            /// NDJSON with `auth_ndjson = "mtls"`).
            pub auth_mtls_scopes: Vec<String>,
            /// Rate limits, each `SCOPE[:METHOD[=NAME]]:COUNT/UNIT[:BURST]` (SCOPE ip, identity
            /// or session; UNIT s, m or h; BURST defaults to COUNT), e.g. `ip:100/s:200`,
            /// `session:tools/call:10/s:20`, `ip:tools/call=slow:1/s:1`. Whole-server numbers:
            /// each of N cores enforces COUNT/N and ⌈BURST/N⌉ of ip and identity rules; session
            /// rules are whole (one session or connection is served by one core).
            pub rate_limit: Vec<String>,
            /// Access log: `off`, `stderr` or a file path (appended to); one JSON line per request.
            pub access_log: String,
            /// TLS on the listen port: `off`, `optional` (TLS and plaintext on one port, told
            /// apart by the first byte) or `required` (plaintext connections are refused).
            pub tls_mode: String,
            /// PEM certificate chain (leaf first) for TLS; reloaded on SIGHUP.
            #[serde(skip_serializing_if = "Option::is_none")]
            pub tls_cert_file: Option<std::path::PathBuf>,
            /// PEM private key (PKCS#8, PKCS#1 or SEC1) of `tls_cert_file`; reloaded on SIGHUP.
            #[serde(skip_serializing_if = "Option::is_none")]
            pub tls_key_file: Option<std::path::PathBuf>,
            /// PEM CA certificates that verify client certificates (mTLS); reloaded on SIGHUP.
            #[serde(skip_serializing_if = "Option::is_none")]
            pub tls_client_ca_file: Option<std::path::PathBuf>,
            /// Client certificates: `off`, `optional` (verified if sent) or `required`.
            pub tls_client_auth: String,
            /// This node's name behind a load balancer (`[a-z0-9-]`, 1–63 characters, e.g.
            /// `ringmcp-0`): every Streamable HTTP session id it mints starts with `ID.`, so a
            /// balancer can send a session's requests to the node that holds it. Default: none.
            #[serde(skip_serializing_if = "Option::is_none")]
            pub node_id: Option<String>,
            $( #[doc = $doc] pub $name: u64, )*
        }

        impl Default for Settings {
            fn default() -> Self {
                Settings {
                    listen: LISTEN_DEFAULT.to_string(),
                    cores: None,
                    cpus: None,
                    pack: "bench".to_string(),
                    io_path: "auto".to_string(),
                    log_level: LogLevel::Info,
                    instructions: None,
                    stateless: false,
                    session_delete: true,
                    allowed_hosts: ALLOWED_HOSTS_DEFAULT.iter().map(|h| h.to_string()).collect(),
                    allowed_origins: ALLOWED_ORIGINS_DEFAULT.iter().map(|h| h.to_string()).collect(),
                    request_state_secret_file: None,
                    tool_timeouts: Vec::new(),
                    auth_mode: "off".to_string(),
                    auth_resource: None,
                    auth_audiences: Vec::new(),
                    auth_issuers: Vec::new(),
                    auth_authorization_servers: Vec::new(),
                    auth_scopes_supported: Vec::new(),
                    auth_required_scopes: Vec::new(),
                    auth_scope: Vec::new(),
                    auth_scope_implies: Vec::new(),
                    auth_jwks_file: None,
                    auth_jwks_url: None,
                    auth_jwks_ca_file: None,
                    auth_api_keys_file: None,
                    auth_ndjson: "mtls".to_string(),
                    auth_mtls_scopes: Vec::new(),
                    rate_limit: Vec::new(),
                    access_log: "off".to_string(),
                    tls_mode: "off".to_string(),
                    tls_cert_file: None,
                    tls_key_file: None,
                    tls_client_ca_file: None,
                    tls_client_auth: "off".to_string(),
                    node_id: None,
                    $( $name: $default, )*
                }
            }
        }

        /// Command-line overrides of [`Settings`]: every key is also a `--flag`.
        #[derive(Debug, Clone, Default, clap::Args)]
        pub struct SettingArgs {
            /// TOML file with any of the settings below (flags win over the file).
            #[arg(long, value_name = "FILE")]
            pub config: Option<std::path::PathBuf>,
            /// Tool pack to serve [default: bench] [values: bench, conformance].
            #[arg(long, value_name = "NAME")]
            pub pack: Option<String>,
            /// Ring I/O path: auto (multishot where the kernel has it), multishot (or fail at
            /// start), fallback (single-shot poll then recv, as on kernels before 6.1)
            /// [default: auto].
            #[arg(long, value_name = "PATH")]
            pub io_path: Option<String>,
            /// Log verbosity on stderr [default: info].
            #[arg(long, value_name = "LEVEL")]
            pub log_level: Option<LogLevel>,
            /// `instructions` text returned by `initialize` [default: none].
            #[arg(long, value_name = "TEXT")]
            pub instructions: Option<String>,
            /// Streamable HTTP without sessions: every POST stands alone; GET/DELETE get 405.
            #[arg(long)]
            pub stateless: bool,
            /// DELETE /mcp answers 405 instead of ending the session.
            #[arg(long)]
            pub no_session_delete: bool,
            /// Host header values HTTP requests may carry, comma-separated; `*` allows any
            /// [default: localhost,127.0.0.1,[::1]].
            #[arg(long, value_name = "HOSTS", value_delimiter = ',')]
            pub allowed_hosts: Option<Vec<String>>,
            /// Origin header values browsers may send, comma-separated; `*` allows any
            /// [default: http(s)://localhost, 127.0.0.1 and [::1], any port].
            #[arg(long, value_name = "ORIGINS", value_delimiter = ',')]
            pub allowed_origins: Option<Vec<String>>,
            /// File of at least 32 bytes keying the HMAC of 2026-07-28 `requestState`s; the same
            /// file on every node lets a retry land on any node [default: a random key].
            #[arg(long, value_name = "FILE")]
            pub request_state_secret_file: Option<std::path::PathBuf>,
            /// Per-tool timeouts, comma-separated `TOOL=MS` (e.g. `slow_report=600000,ping=1000`),
            /// over `--tool-timeout-ms` and over a tool's own; `MS` 0: no limit for that tool.
            #[arg(long, value_name = "TOOL=MS", value_delimiter = ',')]
            pub tool_timeouts: Option<Vec<String>>,
            /// Authorization of HTTP /mcp and /mcp/ws: off, optional, required [default: off].
            #[arg(long, value_name = "MODE")]
            pub auth_mode: Option<String>,
            /// Canonical URI of /mcp (PRM resource, accepted token aud), e.g.
            /// https://mcp.example.com/mcp.
            #[arg(long, value_name = "URI")]
            pub auth_resource: Option<String>,
            /// Further accepted token audiences, comma-separated.
            #[arg(long, value_name = "AUDS", value_delimiter = ',')]
            pub auth_audiences: Option<Vec<String>>,
            /// Accepted token issuers (iss), comma-separated.
            #[arg(long, value_name = "ISSUERS", value_delimiter = ',')]
            pub auth_issuers: Option<Vec<String>>,
            /// PRM authorization_servers, comma-separated [default: the issuers].
            #[arg(long, value_name = "URLS", value_delimiter = ',')]
            pub auth_authorization_servers: Option<Vec<String>>,
            /// PRM scopes_supported, comma-separated.
            #[arg(long, value_name = "SCOPES", value_delimiter = ',')]
            pub auth_scopes_supported: Option<Vec<String>>,
            /// Scopes every /mcp request needs, comma-separated.
            #[arg(long, value_name = "SCOPES", value_delimiter = ',')]
            pub auth_required_scopes: Option<Vec<String>>,
            /// Scopes by method and name, comma-separated METHOD[:NAME]=SCOPE entries, e.g.
            /// tools/call:weather=mcp:weather.
            #[arg(long, value_name = "RULES", value_delimiter = ',')]
            pub auth_scope: Option<Vec<String>>,
            /// Scope hierarchy, comma-separated BROAD>NARROW pairs.
            #[arg(long, value_name = "PAIRS", value_delimiter = ',')]
            pub auth_scope_implies: Option<Vec<String>>,
            /// JWKS file with the issuers' public keys.
            #[arg(long, value_name = "FILE")]
            pub auth_jwks_file: Option<std::path::PathBuf>,
            /// JWKS URL (https, or http on loopback), refreshed in the background.
            #[arg(long, value_name = "URL")]
            pub auth_jwks_url: Option<String>,
            /// PEM CA certificate(s) to trust for an https auth_jwks_url [default: the web roots].
            #[arg(long, value_name = "FILE")]
            pub auth_jwks_ca_file: Option<std::path::PathBuf>,
            /// API keys file (`<key-id> sha256:<hex> [scope ...]` per line).
            #[arg(long, value_name = "FILE")]
            pub auth_api_keys_file: Option<std::path::PathBuf>,
            /// Raw NDJSON over TCP when auth is on: mtls, refuse, open [default: mtls].
            #[arg(long, value_name = "POLICY")]
            pub auth_ndjson: Option<String>,
            /// Scopes granted to a verified TLS client certificate, comma-separated.
            #[arg(long, value_name = "SCOPES", value_delimiter = ',')]
            pub auth_mtls_scopes: Option<Vec<String>>,
            /// Rate limits, comma-separated, each SCOPE[:METHOD[=NAME]]:COUNT/UNIT[:BURST]
            /// (SCOPE ip|identity|session, UNIT s|m|h, BURST defaults to COUNT), e.g.
            /// `ip:100/s:200,session:tools/call:10/s:20`. Whole-server rates: with N cores each
            /// enforces COUNT/N and ceil(BURST/N) of ip and identity rules; session rules are
            /// whole [default: none].
            #[arg(long, value_name = "RULES", value_delimiter = ',')]
            pub rate_limit: Option<Vec<String>>,
            /// Access log: off, stderr or a file path; one JSON line per request [default: off].
            #[arg(long, value_name = "WHERE")]
            pub access_log: Option<String>,
            /// TLS on the listen port: off, optional (TLS and plaintext on one port) or
            /// required (plaintext refused) [default: off].
            #[arg(long, value_name = "MODE")]
            pub tls_mode: Option<String>,
            /// PEM certificate chain for TLS, leaf first; reloaded on SIGHUP.
            #[arg(long, value_name = "FILE")]
            pub tls_cert_file: Option<std::path::PathBuf>,
            /// PEM private key of --tls-cert-file; reloaded on SIGHUP.
            #[arg(long, value_name = "FILE")]
            pub tls_key_file: Option<std::path::PathBuf>,
            /// PEM CA certificates that verify client certificates (mTLS); reloaded on SIGHUP.
            #[arg(long, value_name = "FILE")]
            pub tls_client_ca_file: Option<std::path::PathBuf>,
            /// Client certificates: off, optional (verified if sent) or required [default: off].
            #[arg(long, value_name = "MODE")]
            pub tls_client_auth: Option<String>,
            /// This node's name behind a load balancer, `[a-z0-9-]`, 1-63 characters (e.g.
            /// ringmcp-0): Streamable HTTP session ids start with `ID.` [default: none].
            #[arg(long, value_name = "ID", env = "RINGMCP_NODE_ID")]
            pub node_id: Option<String>,
            $( #[doc = $doc] #[arg(long, value_name = "N")] pub $name: Option<u64>, )*
        }

        impl SettingArgs {
            /// Adds each numeric flag's doc line, default and range to `--help`.
            pub fn decorate(cmd: clap::Command) -> clap::Command {
                cmd $( .mut_arg(stringify!($name), |a| {
                    let (lo, hi) = $range;
                    a.help(format!("{} [default: {}] [range: {}..={}]", $doc.trim(), $default, lo, hi))
                }) )*
            }

            fn apply(&self, s: &mut Settings) {
                if let Some(v) = &self.pack { s.pack = v.clone(); }
                if let Some(v) = &self.io_path { s.io_path = v.clone(); }
                if let Some(v) = self.log_level { s.log_level = v; }
                if let Some(v) = &self.instructions { s.instructions = Some(v.clone()); }
                if self.stateless { s.stateless = true; }
                if self.no_session_delete { s.session_delete = false; }
                if let Some(v) = &self.allowed_hosts { s.allowed_hosts = v.clone(); }
                if let Some(v) = &self.allowed_origins { s.allowed_origins = v.clone(); }
                if let Some(v) = &self.request_state_secret_file { s.request_state_secret_file = Some(v.clone()); }
                if let Some(v) = &self.tool_timeouts { s.tool_timeouts = v.clone(); }
                if let Some(v) = &self.auth_mode { s.auth_mode = v.clone(); }
                if let Some(v) = &self.auth_resource { s.auth_resource = Some(v.clone()); }
                if let Some(v) = &self.auth_audiences { s.auth_audiences = v.clone(); }
                if let Some(v) = &self.auth_issuers { s.auth_issuers = v.clone(); }
                if let Some(v) = &self.auth_authorization_servers { s.auth_authorization_servers = v.clone(); }
                if let Some(v) = &self.auth_scopes_supported { s.auth_scopes_supported = v.clone(); }
                if let Some(v) = &self.auth_required_scopes { s.auth_required_scopes = v.clone(); }
                if let Some(v) = &self.auth_scope { s.auth_scope = v.clone(); }
                if let Some(v) = &self.auth_scope_implies { s.auth_scope_implies = v.clone(); }
                if let Some(v) = &self.auth_jwks_file { s.auth_jwks_file = Some(v.clone()); }
                if let Some(v) = &self.auth_jwks_url { s.auth_jwks_url = Some(v.clone()); }
                if let Some(v) = &self.auth_jwks_ca_file { s.auth_jwks_ca_file = Some(v.clone()); }
                if let Some(v) = &self.auth_api_keys_file { s.auth_api_keys_file = Some(v.clone()); }
                if let Some(v) = &self.auth_ndjson { s.auth_ndjson = v.clone(); }
                if let Some(v) = &self.auth_mtls_scopes { s.auth_mtls_scopes = v.clone(); }
                if let Some(v) = &self.rate_limit { s.rate_limit = v.clone(); }
                if let Some(v) = &self.access_log { s.access_log = v.clone(); }
                if let Some(v) = &self.tls_mode { s.tls_mode = v.clone(); }
                if let Some(v) = &self.tls_cert_file { s.tls_cert_file = Some(v.clone()); }
                if let Some(v) = &self.tls_key_file { s.tls_key_file = Some(v.clone()); }
                if let Some(v) = &self.tls_client_ca_file { s.tls_client_ca_file = Some(v.clone()); }
                if let Some(v) = &self.tls_client_auth { s.tls_client_auth = v.clone(); }
                if let Some(v) = &self.node_id { s.node_id = Some(v.clone()); }
                $( if let Some(v) = self.$name { s.$name = v; } )*
            }
        }

        impl Settings {
            fn check_ranges(&self) -> Result<(), ConfigError> {
                $( check_range(stringify!($name), self.$name, $range)?; )*
                Ok(())
            }
        }

        /// Names, doc lines, defaults and ranges of the numeric settings, for docs and tests.
        pub const NUMERIC_SETTINGS: &[(&str, &str, u64, (u64, u64))] =
            &[ $( (stringify!($name), $doc, $default, $range), )* ];
    };
}

settings! {
    " listen(2) backlog of each core's socket (the kernel caps it at net.core.somaxconn)."
        backlog = BACKLOG_DEFAULT as u64, BACKLOG_RANGE;
    " Most connections open at once, all cores together; more are accepted and closed at once."
        max_connections = MAX_CONNECTIONS_DEFAULT, MAX_CONNECTIONS_RANGE;
    " Longest JSON-RPC message in bytes; a longer line gets an error and the connection closes."
        max_message_bytes = MAX_MESSAGE_BYTES_DEFAULT, MAX_MESSAGE_BYTES_RANGE;
    " Deepest nesting of arrays and objects in one message (the message is level 1); deeper gets -32600."
        max_json_depth = MAX_JSON_DEPTH_DEFAULT, MAX_JSON_DEPTH_RANGE;
    " Capacity of each core's queue of admitted, unanswered requests."
        queue_capacity = QUEUE_CAPACITY_DEFAULT, QUEUE_CAPACITY_RANGE;
    " Queue fill in percent at which the core warns and reports degraded."
        queue_warn_percent = QUEUE_WARN_PERCENT_DEFAULT, PERCENT_RANGE;
    " Queue fill in percent at which new requests get an overload error (at least the warn mark)."
        queue_reject_percent = QUEUE_REJECT_PERCENT_DEFAULT, PERCENT_RANGE;
    " Requests one connection may have in flight; past it the connection is not read."
        max_inflight_per_connection = MAX_INFLIGHT_PER_CONNECTION_DEFAULT, MAX_INFLIGHT_PER_CONNECTION_RANGE;
    " Milliseconds shutdown waits for in-flight requests before closing connections."
        drain_timeout_ms = DRAIN_TIMEOUT_MS_DEFAULT, DRAIN_TIMEOUT_MS_RANGE;
    " Milliseconds between SIGTERM/SIGINT and the drain, while /ready answers 503 and all else is served (a balancer's health check takes the node out first); a second signal skips it."
        shutdown_delay_ms = SHUTDOWN_DELAY_MS_DEFAULT, SHUTDOWN_DELAY_MS_RANGE;
    " Bytes of one pooled read/write buffer."
        buffer_bytes = BUFFER_BYTES_DEFAULT, BUFFER_BYTES_RANGE;
    " Free buffers each core's pool keeps for reuse."
        pool_buffers_per_core = POOL_BUFFERS_PER_CORE_DEFAULT, POOL_BUFFERS_PER_CORE_RANGE;
    " Items per page of the list methods (tools/list, resources/list, prompts/list, ...)."
        list_page_size = LIST_PAGE_SIZE_DEFAULT, LIST_PAGE_SIZE_RANGE;
    " Most sessions one core's slice of the registry holds."
        max_sessions_per_core = MAX_SESSIONS_PER_CORE_DEFAULT, MAX_SESSIONS_PER_CORE_RANGE;
    " Number of registry shards (a power of two, at least the number of cores)."
        shard_count = SHARD_COUNT_DEFAULT, SHARD_COUNT_RANGE;
    " Retry hint in milliseconds sent with an overload error (data.retryAfterMs)."
        overload_retry_after_ms = OVERLOAD_RETRY_AFTER_MS_DEFAULT, OVERLOAD_RETRY_AFTER_MS_RANGE;
    " Bytes of an HTTP request line and headers; more gets 431."
        max_header_bytes = MAX_HEADER_BYTES_DEFAULT, MAX_HEADER_BYTES_RANGE;
    " Milliseconds a client has to send a whole HTTP request head, once it started one."
        header_timeout_ms = HEADER_TIMEOUT_MS_DEFAULT, HEADER_TIMEOUT_MS_RANGE;
    " Milliseconds a keep-alive HTTP connection may sit between requests before it is closed."
        idle_timeout_ms = IDLE_TIMEOUT_MS_DEFAULT, IDLE_TIMEOUT_MS_RANGE;
    " Microseconds a core keeps looking at its ring before it sleeps in it (0: sleep at once). Saves the wake-up when requests come back to back, for CPU burnt while idle."
        spin_before_park_us = SPIN_BEFORE_PARK_US_DEFAULT, SPIN_BEFORE_PARK_US_RANGE;
    " Provided receive buffers in each core's buffer ring (multishot path; rounded up to a power of two). Held per core, not per connection."
        recv_buffers = RECV_BUFFERS_DEFAULT, RECV_BUFFERS_RANGE;
    " Bytes of one provided receive buffer."
        recv_buffer_bytes = RECV_BUFFER_BYTES_DEFAULT, RECV_BUFFER_BYTES_RANGE;
    " SO_SNDBUF of every accepted connection, in bytes (0: the kernel's default and autotuning)."
        send_buffer_bytes = SEND_BUFFER_BYTES_DEFAULT, SEND_BUFFER_BYTES_RANGE;
    " Milliseconds a connection has to finish an NDJSON line or WebSocket frame once it started one; then it is cut."
        frame_timeout_ms = FRAME_TIMEOUT_MS_DEFAULT, FRAME_TIMEOUT_MS_RANGE;
    " Bytes of partial frames (unfinished lines, frames and HTTP heads) all connections of one core may hold; past it the connections holding the most are cut first."
        partial_frame_bytes_per_core = PARTIAL_FRAME_BYTES_PER_CORE_DEFAULT, PARTIAL_FRAME_BYTES_PER_CORE_RANGE;
    " Milliseconds an unused Streamable HTTP session lives before it is ended (then 404)."
        session_idle_timeout_ms = SESSION_IDLE_TIMEOUT_MS_DEFAULT, SESSION_IDLE_TIMEOUT_MS_RANGE;
    " Percent of max_sessions_per_core that Streamable HTTP sessions may hold; past it new ones get 503 (the HTTP, TCP and WebSocket shares add up to at most 100)."
        http_session_share_percent = HTTP_SESSION_SHARE_PERCENT_DEFAULT, SESSION_SHARE_PERCENT_RANGE;
    " Percent of max_sessions_per_core that NDJSON/TCP sessions may hold; past it a new connection serves ping only and initialize gets -32010."
        tcp_session_share_percent = TCP_SESSION_SHARE_PERCENT_DEFAULT, SESSION_SHARE_PERCENT_RANGE;
    " Percent of max_sessions_per_core that WebSocket sessions may hold; past it a new socket serves ping only and initialize gets -32010."
        websocket_session_share_percent = WEBSOCKET_SESSION_SHARE_PERCENT_DEFAULT, SESSION_SHARE_PERCENT_RANGE;
    " Most Streamable HTTP sessions one client address (IPv6: one /64) holds on one core; more get 429."
        max_http_sessions_per_address_per_core = MAX_HTTP_SESSIONS_PER_ADDRESS_PER_CORE_DEFAULT, MAX_HTTP_SESSIONS_PER_ADDRESS_PER_CORE_RANGE;
    " Milliseconds a new Streamable HTTP session lives if its client sends nothing after initialize; its next message starts session_idle_timeout_ms (at most that)."
        session_handshake_timeout_ms = SESSION_HANDSHAKE_TIMEOUT_MS_DEFAULT, SESSION_HANDSHAKE_TIMEOUT_MS_RANGE;
    " Session fill in percent, of a core's registry slice or of a transport's share, at which /health reports degraded."
        session_warn_percent = SESSION_WARN_PERCENT_DEFAULT, PERCENT_RANGE;
    " Milliseconds a tool waits for the client to answer sampling, elicitation or roots requests."
        client_request_timeout_ms = CLIENT_REQUEST_TIMEOUT_MS_DEFAULT, CLIENT_REQUEST_TIMEOUT_MS_RANGE;
    " Milliseconds one tool call (an async handler) may run; then it is answered -32012 and dropped (0: no limit; tasks are never timed out). A tool may set its own."
        tool_timeout_ms = TOOL_TIMEOUT_MS_DEFAULT, TOOL_TIMEOUT_MS_RANGE;
    " Consecutive failures (isError results, panics, timeouts) that open a tool's circuit breaker on a core; while open its calls get -32011 at once (0: no breakers)."
        breaker_failures = BREAKER_FAILURES_DEFAULT, BREAKER_FAILURES_RANGE;
    " Milliseconds an open circuit breaker refuses calls before it lets probes through."
        breaker_open_ms = BREAKER_OPEN_MS_DEFAULT, BREAKER_OPEN_MS_RANGE;
    " Probe calls a half-open breaker lets through at once; the first success closes it, a failure opens it again."
        breaker_half_open_requests = BREAKER_HALF_OPEN_REQUESTS_DEFAULT, BREAKER_HALF_OPEN_REQUESTS_RANGE;
    " Events each SSE stream keeps so a client can resume with Last-Event-ID."
        sse_replay_events = SSE_REPLAY_EVENTS_DEFAULT, SSE_REPLAY_EVENTS_RANGE;
    " Milliseconds of silence after which an open SSE stream gets a keep-alive comment."
        sse_keepalive_ms = SSE_KEEPALIVE_MS_DEFAULT, SSE_KEEPALIVE_MS_RANGE;
    " Seconds of leeway on a token's exp and nbf (auth)."
        auth_clock_skew_s = AUTH_CLOCK_SKEW_S_DEFAULT, AUTH_CLOCK_SKEW_S_RANGE;
    " Seconds between scheduled fetches of auth_jwks_url."
        auth_jwks_refresh_s = AUTH_JWKS_REFRESH_S_DEFAULT, AUTH_JWKS_REFRESH_S_RANGE;
    " Fewest milliseconds between two JWKS fetches asked for by tokens with an unknown kid."
        auth_jwks_min_refresh_interval_ms = AUTH_JWKS_MIN_REFRESH_INTERVAL_MS_DEFAULT, AUTH_JWKS_MIN_REFRESH_INTERVAL_MS_RANGE;
    " Milliseconds a request with an unknown kid waits for the JWKS refresh it asked for, then 401."
        auth_jwks_refresh_wait_ms = AUTH_JWKS_REFRESH_WAIT_MS_DEFAULT, AUTH_JWKS_REFRESH_WAIT_MS_RANGE;
    " Client addresses, identities and sessions one core's rate-limit table tracks; idle ones are swept, a new one past it is not limited (and counted)."
        rate_limit_max_keys_per_core = RATE_LIMIT_MAX_KEYS_PER_CORE_DEFAULT, RATE_LIMIT_MAX_KEYS_PER_CORE_RANGE;
    " Memory limit in bytes the budget's marks are percentages of (0: the cgroup limit, else 80 % of RAM)."
        memory_limit_bytes = MEMORY_LIMIT_BYTES_DEFAULT, MEMORY_LIMIT_BYTES_RANGE;
    " Resident memory in percent of memory_limit_bytes at which /health reports degraded."
        memory_warn_percent = MEMORY_WARN_PERCENT_DEFAULT, PERCENT_RANGE;
    " Resident memory in percent of memory_limit_bytes at which new connections, sessions and requests get -32010 (HTTP 503); admitted ones finish."
        memory_reject_percent = MEMORY_REJECT_PERCENT_DEFAULT, PERCENT_RANGE;
    " Requests per thousand the access log writes a line for (spread evenly)."
        access_log_sample_permille = ACCESS_LOG_SAMPLE_PERMILLE_DEFAULT, ACCESS_LOG_SAMPLE_PERMILLE_RANGE;
    " Milliseconds a TLS client has to finish its handshake once it sent the first byte of a ClientHello; then it is cut."
        tls_handshake_timeout_ms = TLS_HANDSHAKE_TIMEOUT_MS_DEFAULT, TLS_HANDSHAKE_TIMEOUT_MS_RANGE;
}

/// A `node_id` is a DNS label: 1 to [`NODE_ID_CHARS_MAX`] characters of `[a-z0-9-]`.
///
/// Errors: what is wrong with it, in words.
pub fn check_node_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > NODE_ID_CHARS_MAX {
        return Err(format!("`{id}` has {} characters; accepted: 1 to {NODE_ID_CHARS_MAX}", id.len()));
    }
    if let Some(c) = id.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')) {
        return Err(format!("`{id}` has {c:?}; accepted characters: a-z, 0-9 and - (e.g. ringmcp-0)"));
    }
    Ok(())
}

/// The packs `--pack` accepts.
pub const PACKS: &[&str] = &["bench", "conformance"];

impl Settings {
    /// Defaults, then the `--config` file if given, then the flags; validated.
    ///
    /// Errors: an unreadable or malformed file, an unknown key, or a value out of range,
    /// each naming the key.
    pub fn load(args: &SettingArgs) -> Result<Settings, ConfigError> {
        Settings::load_onto(Settings::base(args)?, args)
    }

    /// The `--config` file's settings, or the defaults without one.
    pub fn base(args: &SettingArgs) -> Result<Settings, ConfigError> {
        match &args.config {
            Some(path) => Settings::from_file(path),
            None => Ok(Settings::default()),
        }
    }

    /// `base` with the flags applied, validated.
    pub fn load_onto(mut base: Settings, args: &SettingArgs) -> Result<Settings, ConfigError> {
        args.apply(&mut base);
        base.validate()?;
        Ok(base)
    }

    /// Parses a TOML config file (unknown keys are errors).
    pub fn from_file(path: &Path) -> Result<Settings, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            key: "config".into(),
            message: format!("cannot read {}: {e}", path.display()),
        })?;
        Settings::from_toml(&text).map_err(|mut e| {
            e.message = format!("in {}: {}", path.display(), e.message);
            e
        })
    }

    /// Parses TOML text (unknown keys are errors).
    pub fn from_toml(text: &str) -> Result<Settings, ConfigError> {
        toml::from_str(text)
            .map_err(|e| ConfigError { key: toml_error_key(text, &e), message: e.message().to_string() })
    }

    /// Checks every value against its range and the cross-setting rules.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.check_ranges()?;
        if self.queue_reject_percent < self.queue_warn_percent {
            return Err(ConfigError {
                key: "queue_reject_percent".into(),
                message: format!(
                    "{} is below queue_warn_percent ({}); accepted range is {}..=100",
                    self.queue_reject_percent, self.queue_warn_percent, self.queue_warn_percent
                ),
            });
        }
        if !self.shard_count.is_power_of_two() {
            return Err(ConfigError {
                key: "shard_count".into(),
                message: format!("{} is not a power of two (e.g. 256)", self.shard_count),
            });
        }
        self.check_session_admission()?;
        self.tool_timeout_overrides()?;
        self.check_protection()?;
        if self.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(ConfigError {
                key: "listen".into(),
                message: format!("`{}` is not ADDR:PORT (e.g. 127.0.0.1:9999)", self.listen),
            });
        }
        if self.cores.is_some() && self.cpus.is_some() {
            return Err(ConfigError { key: "cpus".into(), message: "give either cores or cpus, not both".into() });
        }
        if let Some(n) = self.cores {
            check_range("cores", n, (1, 4096))?;
        }
        if let Some(list) = &self.cpus {
            crate::cpus::parse_cpu_list(list).map_err(|m| ConfigError { key: "cpus".into(), message: m })?;
        }
        if let Err(message) = self.io_path.parse::<ringmcp_ring::IoPathChoice>() {
            return Err(ConfigError { key: "io_path".into(), message });
        }
        self.check_tls()?;
        if let Some(id) = &self.node_id {
            check_node_id(id).map_err(|message| ConfigError { key: "node_id".into(), message })?;
        }
        if !PACKS.contains(&self.pack.as_str()) {
            return Err(ConfigError {
                key: "pack".into(),
                message: format!("unknown pack `{}`; accepted: {}", self.pack, PACKS.join(", ")),
            });
        }
        crate::auth::validate(&self.auth()).map_err(|e| ConfigError { key: e.key, message: e.message })?;
        Ok(())
    }

    /// `tls_mode` and `tls_client_auth` values, and the files each needs.
    fn check_tls(&self) -> Result<(), ConfigError> {
        let modes = ["off", "optional", "required"];
        for (key, value) in [("tls_mode", &self.tls_mode), ("tls_client_auth", &self.tls_client_auth)] {
            if !modes.contains(&value.as_str()) {
                let message = format!("unknown mode `{value}`; accepted: off, optional, required");
                return Err(ConfigError { key: key.into(), message });
            }
        }
        let need = |key: &str, file: &Option<std::path::PathBuf>, why: &str| match file {
            Some(_) => Ok(()),
            None => Err(ConfigError { key: key.into(), message: format!("required when {why}") }),
        };
        if self.tls_mode != "off" {
            need("tls_cert_file", &self.tls_cert_file, "tls_mode is not off")?;
            need("tls_key_file", &self.tls_key_file, "tls_mode is not off")?;
            if self.tls_client_auth != "off" {
                need("tls_client_ca_file", &self.tls_client_ca_file, "tls_client_auth is not off")?;
            }
        } else if self.tls_client_auth != "off" {
            let message = "needs tls_mode optional or required".to_string();
            return Err(ConfigError { key: "tls_client_auth".into(), message });
        }
        Ok(())
    }

    /// The cross-setting rules of session admission: the transports' shares fit in the
    /// registry (so none can fill it for the others), the handshake deadline is the shorter.
    fn check_session_admission(&self) -> Result<(), ConfigError> {
        let shares =
            self.http_session_share_percent + self.tcp_session_share_percent + self.websocket_session_share_percent;
        if shares > 100 {
            return Err(ConfigError {
                key: "http_session_share_percent".into(),
                message: format!(
                    "the HTTP, TCP and WebSocket session shares add up to {shares} %; at most 100 % \
                     (http_session_share_percent + tcp_session_share_percent + websocket_session_share_percent)"
                ),
            });
        }
        if self.session_handshake_timeout_ms > self.session_idle_timeout_ms {
            return Err(ConfigError {
                key: "session_handshake_timeout_ms".into(),
                message: format!(
                    "{} is above session_idle_timeout_ms ({}); accepted range is {}..={}",
                    self.session_handshake_timeout_ms,
                    self.session_idle_timeout_ms,
                    SESSION_HANDSHAKE_TIMEOUT_MS_RANGE.0,
                    self.session_idle_timeout_ms
                ),
            });
        }
        Ok(())
    }

    /// The authorization settings, for [`crate::auth::Auth::from_settings`].
    pub fn auth(&self) -> crate::auth::AuthSettings {
        crate::auth::AuthSettings {
            auth_mode: self.auth_mode.clone(),
            auth_resource: self.auth_resource.clone(),
            auth_audiences: self.auth_audiences.clone(),
            auth_issuers: self.auth_issuers.clone(),
            auth_authorization_servers: self.auth_authorization_servers.clone(),
            auth_scopes_supported: self.auth_scopes_supported.clone(),
            auth_required_scopes: self.auth_required_scopes.clone(),
            auth_scope: self.auth_scope.clone(),
            auth_scope_implies: self.auth_scope_implies.clone(),
            auth_jwks_file: self.auth_jwks_file.clone(),
            auth_jwks_url: self.auth_jwks_url.clone(),
            auth_jwks_ca_file: self.auth_jwks_ca_file.clone(),
            auth_api_keys_file: self.auth_api_keys_file.clone(),
            auth_ndjson: self.auth_ndjson.clone(),
            auth_mtls_scopes: self.auth_mtls_scopes.clone(),
            auth_clock_skew_s: self.auth_clock_skew_s,
            auth_jwks_refresh_s: self.auth_jwks_refresh_s,
            auth_jwks_min_refresh_interval_ms: self.auth_jwks_min_refresh_interval_ms,
            auth_jwks_refresh_wait_ms: self.auth_jwks_refresh_wait_ms,
        }
    }

    /// Rate-limit rules parse; the memory reject mark is not below the warn mark.
    fn check_protection(&self) -> Result<(), ConfigError> {
        if self.rate_limit.len() > RATE_LIMIT_RULES_MAX {
            let message = format!("{} rules; at most {RATE_LIMIT_RULES_MAX}", self.rate_limit.len());
            return Err(ConfigError { key: "rate_limit".into(), message });
        }
        self.rate_limit_rules()?;
        if self.memory_reject_percent < self.memory_warn_percent {
            return Err(ConfigError {
                key: "memory_reject_percent".into(),
                message: format!(
                    "{} is below memory_warn_percent ({}); accepted range is {}..=100",
                    self.memory_reject_percent, self.memory_warn_percent, self.memory_warn_percent
                ),
            });
        }
        Ok(())
    }

    /// The `rate_limit` rules, parsed.
    pub fn rate_limit_rules(&self) -> Result<Vec<crate::ratelimit::Rule>, ConfigError> {
        self.rate_limit
            .iter()
            .map(|r| {
                crate::ratelimit::parse_rule(r).map_err(|message| ConfigError { key: "rate_limit".into(), message })
            })
            .collect()
    }

    /// Sessions of one transport a core admits: `percent` of `max_sessions_per_core`, at least 1.
    pub fn session_share(&self, percent: u64) -> usize {
        mark(self.max_sessions_per_core, percent)
    }

    /// The TOML text `--print-config` prints.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("Settings always serializes to TOML")
    }

    /// Requests at which a core's queue reports degraded.
    pub fn queue_warn_at(&self) -> usize {
        mark(self.queue_capacity, self.queue_warn_percent)
    }

    /// Requests at which a core's queue rejects new requests.
    pub fn queue_reject_at(&self) -> usize {
        mark(self.queue_capacity, self.queue_reject_percent)
    }
}

/// `percent` of `capacity`, rounded down, but at least 1 so a tiny queue still admits.
fn mark(capacity: u64, percent: u64) -> usize {
    ((capacity * percent) / 100).max(1) as usize
}

fn check_range(key: &str, value: u64, (lo, hi): (u64, u64)) -> Result<(), ConfigError> {
    if value < lo || value > hi {
        return Err(ConfigError {
            key: key.into(),
            message: format!("{value} is out of range; accepted range is {lo}..={hi}"),
        });
    }
    Ok(())
}

/// Best effort at naming the key a TOML error is about: the key on the error's line.
fn toml_error_key(text: &str, e: &toml::de::Error) -> String {
    let from_message =
        e.message().split('`').nth(1).filter(|_| e.message().starts_with("unknown field")).map(str::to_string);
    if let Some(k) = from_message {
        return k;
    }
    let line = e
        .span()
        .and_then(|span| text[..span.start.min(text.len())].lines().count().checked_sub(1))
        .and_then(|n| text.lines().nth(n));
    line.and_then(|l| l.split('=').next())
        .map(|k| k.trim().to_string())
        .filter(|k| !k.is_empty())
        .unwrap_or_else(|| "config".into())
}

impl Settings {
    /// `tool_timeouts` as (tool, ms) pairs. Errors: an entry that is not `TOOL=MS`, or `MS` out
    /// of `tool_timeout_ms`'s range.
    pub fn tool_timeout_overrides(&self) -> Result<Vec<(String, u64)>, ConfigError> {
        let bad = |entry: &str, why: &str| ConfigError {
            key: "tool_timeouts".into(),
            message: format!("`{entry}` {why}; each entry is TOOL=MS (e.g. slow_report=600000)"),
        };
        self.tool_timeouts
            .iter()
            .map(|entry| {
                let (tool, ms) = entry.rsplit_once('=').ok_or_else(|| bad(entry, "has no `=`"))?;
                let ms: u64 = ms.trim().parse().map_err(|_| bad(entry, "has no number of milliseconds after `=`"))?;
                if tool.trim().is_empty() {
                    return Err(bad(entry, "names no tool"));
                }
                check_range("tool_timeouts", ms, crate::limits::TOOL_TIMEOUT_MS_RANGE)?;
                Ok((tool.trim().to_string(), ms))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_match_the_seed() {
        let s = Settings::default();
        s.validate().unwrap();
        assert_eq!(s.listen, "127.0.0.1:9999");
        assert_eq!(s.max_connections, 15_000);
        assert_eq!(s.queue_capacity, 10_000);
        assert_eq!(s.queue_warn_at(), 7_500);
        assert_eq!(s.queue_reject_at(), 9_500);
        assert_eq!(s.max_message_bytes, 16 * 1024 * 1024);
    }

    #[test]
    fn out_of_range_names_key_and_range() {
        let e = Settings::from_toml("queue_capacity = 0").unwrap().validate().unwrap_err();
        assert_eq!(e.key, "queue_capacity");
        assert!(e.message.contains("1..=10000000"), "{e}");
    }

    #[test]
    fn unknown_key_is_named() {
        let e = Settings::from_toml("no_such_key = 1").unwrap_err();
        assert_eq!(e.key, "no_such_key");
    }

    #[test]
    fn wrong_type_is_named() {
        let e = Settings::from_toml("backlog = \"big\"").unwrap_err();
        assert_eq!(e.key, "backlog", "{e}");
    }

    #[test]
    fn tool_timeouts_are_tool_equals_ms() {
        let s = Settings { tool_timeouts: vec!["slow=600000".into(), "a=b=0".into()], ..Default::default() };
        assert_eq!(s.tool_timeout_overrides().unwrap(), [("slow".to_string(), 600_000), ("a=b".to_string(), 0)]);
        for (bad, says) in [("slow", "has no `=`"), ("slow=soon", "no number"), ("=5", "names no tool")] {
            let e = Settings { tool_timeouts: vec![bad.into()], ..Default::default() }.validate().unwrap_err();
            assert_eq!(e.key, "tool_timeouts");
            assert!(e.message.contains(says), "{e}");
        }
        let e = Settings { tool_timeouts: vec!["x=99999999999".into()], ..Default::default() }.validate().unwrap_err();
        assert_eq!(e.key, "tool_timeouts");
    }

    /// A node id is a DNS label; the config file's key and the flag check it the same way.
    #[test]
    fn node_id_is_a_dns_label() {
        let s = Settings::from_toml("node_id = \"ringmcp-0\"\nshutdown_delay_ms = 3000").unwrap();
        assert_eq!((s.node_id.as_deref(), s.shutdown_delay_ms), (Some("ringmcp-0"), 3000));
        assert_eq!(s.validate(), Ok(()));
        let long = "a".repeat(NODE_ID_CHARS_MAX);
        assert_eq!(check_node_id(&long), Ok(()));
        for (bad, says) in [("", "1 to 63"), ("Node", "'N'"), ("ringmcp.0", "'.'"), ("a b", "' '")] {
            let e = Settings { node_id: Some(bad.into()), ..Default::default() }.validate().unwrap_err();
            assert_eq!(e.key, "node_id");
            assert!(e.message.contains(says), "{e}");
        }
        assert!(check_node_id(&format!("{long}a")).unwrap_err().contains("64 characters"));
    }

    #[test]
    fn reject_below_warn_is_refused() {
        let s = Settings { queue_warn_percent: 90, queue_reject_percent: 80, ..Default::default() };
        assert_eq!(s.validate().unwrap_err().key, "queue_reject_percent");
    }

    #[test]
    fn print_config_round_trips() {
        let s = Settings { cores: Some(2), instructions: Some("hi".into()), ..Default::default() };
        assert_eq!(Settings::from_toml(&s.to_toml()).unwrap(), s);
    }

    #[test]
    fn session_shares_over_100_percent_are_refused() {
        let s = Settings { tcp_session_share_percent: 30, ..Default::default() };
        let e = s.validate().unwrap_err();
        assert_eq!(e.key, "http_session_share_percent");
        assert!(e.message.contains("add up to 105 %"), "{e}");
        let s = Settings { http_session_share_percent: 100, tcp_session_share_percent: 0, ..Default::default() };
        assert_eq!(s.validate().unwrap_err().key, "tcp_session_share_percent", "each share is at least 1");
    }

    #[test]
    fn handshake_timeout_above_idle_timeout_is_refused() {
        let s = Settings { session_idle_timeout_ms: 2_000, session_handshake_timeout_ms: 3_000, ..Default::default() };
        let e = s.validate().unwrap_err();
        assert_eq!(e.key, "session_handshake_timeout_ms");
        assert!(e.message.contains("accepted range is 100..=2000"), "{e}");
    }

    #[test]
    fn default_session_shares_split_the_registry() {
        let s = Settings::default();
        assert_eq!(s.session_share(s.http_session_share_percent), 32_768);
        assert_eq!(s.session_share(s.tcp_session_share_percent), 16_384);
        assert_eq!(s.session_share(s.websocket_session_share_percent), 16_384);
        let tiny = Settings { max_sessions_per_core: 1, ..Default::default() };
        assert_eq!(tiny.session_share(25), 1, "a share never rounds down to no session");
    }

    #[test]
    fn protection_settings_are_checked() {
        let s = Settings::from_toml("rate_limit = [\"ip:10/s:20\", \"session:tools/call=x:1/m\"]").unwrap();
        s.validate().unwrap();
        assert_eq!(s.rate_limit_rules().unwrap().len(), 2);
        let e = Settings { rate_limit: vec!["ip:10/d".into()], ..Default::default() }.validate().unwrap_err();
        assert_eq!(e.key, "rate_limit");
        assert!(e.message.contains("UNIT must be s, m or h"), "{e}");
        let s = Settings { memory_warn_percent: 95, memory_reject_percent: 90, ..Default::default() };
        assert_eq!(s.validate().unwrap_err().key, "memory_reject_percent");
        assert_eq!(Settings::default().access_log, "off");
    }

    #[test]
    fn tls_settings_name_their_key() {
        let key = |s: Settings| s.validate().unwrap_err().key;
        assert_eq!(key(Settings { tls_mode: "on".into(), ..Default::default() }), "tls_mode");
        assert_eq!(key(Settings { tls_mode: "optional".into(), ..Default::default() }), "tls_cert_file");
        let with_cert = Settings {
            tls_mode: "required".into(),
            tls_cert_file: Some("c.pem".into()),
            tls_key_file: Some("k.pem".into()),
            ..Default::default()
        };
        with_cert.validate().unwrap();
        let mtls = Settings { tls_client_auth: "required".into(), ..with_cert.clone() };
        assert_eq!(key(mtls), "tls_client_ca_file");
        assert_eq!(key(Settings { tls_client_auth: "yes".into(), ..with_cert }), "tls_client_auth");
        assert_eq!(key(Settings { tls_client_auth: "optional".into(), ..Default::default() }), "tls_client_auth");
    }

    #[test]
    fn tiny_queue_marks_stay_at_least_one() {
        let s = Settings { queue_capacity: 1, ..Default::default() };
        assert_eq!(s.queue_reject_at(), 1);
    }
}
