//! Parsing `--url` into the transport to drive. No I/O here (names are resolved later).

use std::fmt;

/// Where and how to send the load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// `tcp://host:port`: NDJSON over TCP, one connection is one MCP session.
    Tcp {
        /// `host:port` as given.
        addr: String,
        /// `tls://` (or `--tls`): NDJSON inside TLS.
        tls: bool,
    },
    /// `stdio:COMMAND ARGS…`: each connection spawns the command and speaks NDJSON over its
    /// stdin/stdout.
    Stdio {
        /// The program and its arguments, split on whitespace (no shell quoting).
        argv: Vec<String>,
    },
    /// `http://host:port/path`: MCP Streamable HTTP, one POST per request, keep-alive.
    Http {
        /// `host:port` (port 80 when absent).
        addr: String,
        /// The `Host` header value, as given in the URL.
        host_header: String,
        /// The request path, e.g. `/mcp`.
        path: String,
        /// `https://` (or `--tls`).
        tls: bool,
    },
    /// `ws://host:port/path`: WebSocket, one JSON-RPC message per text frame, one MCP session
    /// per socket, many requests in flight.
    Ws {
        /// `host:port` (port 80 when absent).
        addr: String,
        /// The `Host` header value, as given in the URL.
        host_header: String,
        /// The upgrade request's path, e.g. `/mcp/ws`.
        path: String,
        /// `wss://` (or `--tls`).
        tls: bool,
    },
}

impl Target {
    /// The transport name used in reports: `tcp`, `stdio`, `http` or `ws`.
    pub fn transport(&self) -> &'static str {
        match self {
            Target::Tcp { .. } => "tcp",
            Target::Stdio { .. } => "stdio",
            Target::Http { .. } => "http",
            Target::Ws { .. } => "ws",
        }
    }

    /// Whether the connection runs inside TLS.
    pub fn tls(&self) -> bool {
        match self {
            Target::Tcp { tls, .. } | Target::Http { tls, .. } | Target::Ws { tls, .. } => *tls,
            Target::Stdio { .. } => false,
        }
    }

    /// Turns TLS on (`--tls`).
    ///
    /// # Errors
    /// `stdio:` has no TLS.
    pub fn with_tls(mut self) -> Result<Target, TargetError> {
        match &mut self {
            Target::Tcp { tls, .. } | Target::Http { tls, .. } | Target::Ws { tls, .. } => *tls = true,
            Target::Stdio { .. } => return Err(TargetError("--tls: stdio: has no TLS".into())),
        }
        Ok(self)
    }

    /// The host part of the address (no port, no brackets): the default TLS server name.
    pub fn host(&self) -> Option<&str> {
        let addr = match self {
            Target::Tcp { addr, .. } | Target::Http { addr, .. } | Target::Ws { addr, .. } => addr,
            Target::Stdio { .. } => return None,
        };
        let host = &addr[..addr.rfind(':').unwrap_or(addr.len())];
        Some(host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host))
    }

    /// Whether HTTP runs over the connection (`http`, `ws`): TLS then offers ALPN `http/1.1`.
    pub fn speaks_http(&self) -> bool {
        matches!(self, Target::Http { .. } | Target::Ws { .. })
    }
}

/// Why a URL cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetError(pub String);

impl fmt::Display for TargetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TargetError {}

/// Parses `tcp://host:port`, `stdio:COMMAND ARGS`, `http://host[:port]/path` or
/// `ws://host[:port]/path`, and their TLS forms `tls://host:port`, `https://host[:port]/path`
/// and `wss://host[:port]/path` (port 443 when absent).
///
/// # Errors
/// Other schemes, and malformed URLs.
pub fn parse(url: &str) -> Result<Target, TargetError> {
    for (scheme, tls) in [("tcp://", false), ("tls://", true)] {
        if let Some(rest) = url.strip_prefix(scheme) {
            let addr = rest.trim_end_matches('/');
            check_host_port(addr, url)?;
            return Ok(Target::Tcp { addr: addr.to_string(), tls });
        }
    }
    if let Some(rest) = url.strip_prefix("stdio:") {
        let argv: Vec<String> = rest.split_whitespace().map(str::to_string).collect();
        if argv.is_empty() {
            return Err(TargetError(format!("`{url}`: stdio: needs a command, e.g. `stdio:ringmcp stdio`")));
        }
        return Ok(Target::Stdio { argv });
    }
    for (scheme, tls) in [("http://", false), ("https://", true)] {
        if let Some(rest) = url.strip_prefix(scheme) {
            let (addr, host_header, path) = authority_and_path(rest, "/mcp", tls, url)?;
            return Ok(Target::Http { addr, host_header, path, tls });
        }
    }
    for (scheme, tls) in [("ws://", false), ("wss://", true)] {
        if let Some(rest) = url.strip_prefix(scheme) {
            let (addr, host_header, path) = authority_and_path(rest, "/mcp/ws", tls, url)?;
            return Ok(Target::Ws { addr, host_header, path, tls });
        }
    }
    Err(TargetError(format!(
        "`{url}`: unknown scheme; use tcp://HOST:PORT, http://HOST:PORT/mcp, ws://HOST:PORT/mcp/ws, their TLS \
         forms tls://, https://, wss://, or stdio:COMMAND ARGS"
    )))
}

/// Splits `host[:port][/path]` into `host:port` (port 80, or 443 with TLS, when absent), the
/// authority as given (the `Host` header) and the path (`default_path` when absent).
fn authority_and_path(
    rest: &str,
    default_path: &str,
    tls: bool,
    url: &str,
) -> Result<(String, String, String), TargetError> {
    let (authority, path) = match rest.find('/') {
        Some(slash) => (&rest[..slash], &rest[slash..]),
        None => (rest, default_path),
    };
    if authority.is_empty() {
        return Err(TargetError(format!("`{url}`: no host")));
    }
    let addr = match (has_port(authority), tls) {
        (true, _) => authority.to_string(),
        (false, false) => format!("{authority}:80"),
        (false, true) => format!("{authority}:443"),
    };
    check_host_port(&addr, url)?;
    Ok((addr, authority.to_string(), path.to_string()))
}

fn has_port(authority: &str) -> bool {
    match authority.rfind(':') {
        Some(colon) => !authority[colon..].contains(']'),
        None => false,
    }
}

fn check_host_port(addr: &str, url: &str) -> Result<(), TargetError> {
    let Some(colon) = addr.rfind(':') else {
        return Err(TargetError(format!("`{url}`: expected HOST:PORT")));
    };
    let (host, port) = (&addr[..colon], &addr[colon + 1..]);
    if host.is_empty() || port.parse::<u16>().is_err() {
        return Err(TargetError(format!("`{url}`: expected HOST:PORT with a port in 1..=65535")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_urls_keep_host_and_port() {
        assert_eq!(parse("tcp://127.0.0.1:9999"), Ok(Target::Tcp { addr: "127.0.0.1:9999".into(), tls: false }));
        assert_eq!(parse("tcp://[::1]:9999/"), Ok(Target::Tcp { addr: "[::1]:9999".into(), tls: false }));
        assert!(parse("tcp://localhost").is_err());
        assert!(parse("tcp://:80").is_err());
    }

    #[test]
    fn stdio_urls_split_the_command_on_whitespace() {
        let target = parse("stdio:target/release/ringmcp  stdio --log-level warn").expect("valid");
        assert_eq!(
            target,
            Target::Stdio {
                argv: vec!["target/release/ringmcp".into(), "stdio".into(), "--log-level".into(), "warn".into()]
            }
        );
        assert!(parse("stdio:   ").is_err());
    }

    #[test]
    fn http_urls_default_the_port_and_path() {
        assert_eq!(
            parse("http://127.0.0.1:8080/mcp"),
            Ok(Target::Http {
                addr: "127.0.0.1:8080".into(),
                host_header: "127.0.0.1:8080".into(),
                path: "/mcp".into(),
                tls: false
            })
        );
        assert_eq!(
            parse("http://localhost"),
            Ok(Target::Http {
                addr: "localhost:80".into(),
                host_header: "localhost".into(),
                path: "/mcp".into(),
                tls: false
            })
        );
        assert_eq!(parse("http://localhost/x").map(|t| t.transport()), Ok("http"));
    }

    #[test]
    fn ws_urls_default_the_port_and_path() {
        assert_eq!(
            parse("ws://127.0.0.1:9999/mcp/ws"),
            Ok(Target::Ws {
                addr: "127.0.0.1:9999".into(),
                host_header: "127.0.0.1:9999".into(),
                path: "/mcp/ws".into(),
                tls: false
            })
        );
        assert_eq!(
            parse("ws://localhost:8080"),
            Ok(Target::Ws {
                addr: "localhost:8080".into(),
                host_header: "localhost:8080".into(),
                path: "/mcp/ws".into(),
                tls: false
            })
        );
        assert_eq!(parse("ws://h/x").map(|t| t.transport()), Ok("ws"));
        assert!(parse("ws://:1/mcp/ws").is_err());
    }

    #[test]
    fn tls_schemes_turn_tls_on_and_default_to_port_443() {
        let https = parse("https://localhost/mcp").expect("https");
        assert_eq!(
            https,
            Target::Http {
                addr: "localhost:443".into(),
                host_header: "localhost".into(),
                path: "/mcp".into(),
                tls: true
            }
        );
        assert_eq!((https.transport(), https.tls(), https.host()), ("http", true, Some("localhost")));
        let wss = parse("wss://127.0.0.1:8443").expect("wss");
        assert_eq!((wss.transport(), wss.tls(), wss.host()), ("ws", true, Some("127.0.0.1")));
        let tls = parse("tls://[::1]:9999").expect("tls");
        assert_eq!(tls, Target::Tcp { addr: "[::1]:9999".into(), tls: true });
        assert_eq!(tls.host(), Some("::1"));
        let plain = parse("tcp://127.0.0.1:1").expect("tcp");
        assert!(!plain.tls());
        assert!(plain.with_tls().expect("tls on").tls());
        assert!(parse("stdio:x").expect("stdio").with_tls().is_err());
        assert!(parse("tls://x").is_err());
    }

    #[test]
    fn unknown_schemes_are_refused_with_a_reason() {
        assert!(parse("udp://x:1").expect_err("unknown").0.contains("unknown scheme"));
        assert!(parse("quic://x:1").expect_err("unknown").0.contains("tls://"));
    }
}
