//! HTTP/1.1 for the shared port, I/O-free: request heads parsed with `httparse`, the checks of
//! the Streamable HTTP transport (Accept, Content-Type, Host/Origin, protocol version), and the
//! response bytes (plain, chunked SSE). The connection driver is `engine::http_conn`.

use std::fmt::Write as _;

/// Most headers one request may carry (more → 431).
pub const MAX_HEADERS: usize = 64;

/// A parsed request head, copied out of the read buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path, without the query string.
    pub path: String,
    /// `1` for HTTP/1.1, `0` for HTTP/1.0.
    pub minor_version: u8,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, Vec<u8>)>,
}

/// Why a request head could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadError {
    /// Line and headers longer than the limit, or too many headers: 431.
    TooLarge,
    /// Not HTTP: 400.
    Malformed,
}

impl Head {
    /// A header's value (the first, if repeated).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_slice())
    }

    /// A header's value as text (`None` if absent or not UTF-8).
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header(name).and_then(|v| std::str::from_utf8(v).ok()).map(str::trim)
    }

    /// Whether the connection stays open after the answer.
    pub fn keep_alive(&self) -> bool {
        let tokens = self.header_str("connection").unwrap_or("");
        let has = |t: &str| tokens.split(',').any(|x| x.trim().eq_ignore_ascii_case(t));
        if self.minor_version == 0 {
            has("keep-alive")
        } else {
            !has("close")
        }
    }

    /// The body length the client announced: `Ok(None)` without a body, `Err` for a body this
    /// server does not read (chunked uploads) or a bad length.
    pub fn content_length(&self) -> Result<Option<u64>, &'static str> {
        if self.header("transfer-encoding").is_some() {
            return Err("chunked request bodies are not supported; send Content-Length");
        }
        let mut lengths = self.headers.iter().filter(|(n, _)| n == "content-length").map(|(_, v)| v.as_slice());
        let Some(first) = lengths.next() else { return Ok(None) };
        // Repeated lengths must agree (RFC 9112 §6.3), or the message framing is ambiguous.
        if lengths.any(|other| other.trim_ascii() != first.trim_ascii()) {
            return Err("invalid Content-Length");
        }
        let text = std::str::from_utf8(first).map_err(|_| "invalid Content-Length")?.trim();
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err("invalid Content-Length");
        }
        text.parse::<u64>().map(Some).map_err(|_| "invalid Content-Length")
    }
}

/// Parses a request head from the front of `buf`: `Ok(None)` if incomplete, else the head and
/// its length in bytes.
pub fn parse_head(buf: &[u8], max_header_bytes: usize) -> Result<Option<(Head, usize)>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) if n <= max_header_bytes => {
            let path = req.path.unwrap_or("/");
            let path = path.split('?').next().unwrap_or(path).to_string();
            let headers = req.headers.iter().map(|h| (h.name.to_ascii_lowercase(), h.value.to_vec())).collect();
            let head = Head {
                method: req.method.unwrap_or("").to_string(),
                path,
                minor_version: req.version.unwrap_or(1),
                headers,
            };
            Ok(Some((head, n)))
        }
        Ok(httparse::Status::Complete(_)) => Err(HeadError::TooLarge),
        Ok(httparse::Status::Partial) if buf.len() > max_header_bytes => Err(HeadError::TooLarge),
        Ok(httparse::Status::Partial) => Ok(None),
        Err(httparse::Error::TooManyHeaders) => Err(HeadError::TooLarge),
        Err(_) => Err(HeadError::Malformed),
    }
}

/// Whether the first bytes of a connection look like an HTTP request (an upper-case method
/// token then a space), as opposed to NDJSON (`{`).
pub fn looks_like_http(first: &[u8]) -> bool {
    let token = first.iter().take_while(|b| b.is_ascii_uppercase()).count();
    token > 0 && first.get(token).is_none_or(|&b| b == b' ')
}

/// What an `Accept` header allows for a POST answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accept {
    /// `application/json` (or a wildcard) is acceptable.
    pub json: bool,
    /// `text/event-stream` (or a wildcard) is acceptable.
    pub sse: bool,
    /// The client listed `text/event-stream` before `application/json`: answer with a stream
    /// even when the request sends nothing before its result.
    pub prefers_sse: bool,
}

/// Reads an `Accept` header (absent counts as `*/*`).
pub fn accept(header: Option<&str>) -> Accept {
    let Some(h) = header else { return Accept { json: true, sse: true, prefers_sse: false } };
    let (mut json_at, mut sse_at) = (None, None);
    for (i, item) in h.split(',').enumerate() {
        let media = item.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        match media.as_str() {
            "application/json" => json_at = json_at.or(Some(i)),
            "text/event-stream" => sse_at = sse_at.or(Some(i)),
            "*/*" => {
                json_at = json_at.or(Some(i));
                sse_at = sse_at.or(Some(i));
            }
            "application/*" => json_at = json_at.or(Some(i)),
            "text/*" => sse_at = sse_at.or(Some(i)),
            _ => {}
        }
    }
    Accept {
        json: json_at.is_some(),
        sse: sse_at.is_some(),
        prefers_sse: matches!((sse_at, json_at), (Some(s), Some(j)) if s < j),
    }
}

/// Whether `Content-Type` is JSON (parameters such as `charset` are ignored).
pub fn is_json_content_type(header: Option<&str>) -> bool {
    header.and_then(|h| h.split(';').next()).is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
}

/// The host name of a `Host` header value, without the port.
pub fn host_name(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |end| &host[..=end]);
    }
    host.rsplit_once(':')
        .map_or(host, |(name, port)| if port.bytes().all(|b| b.is_ascii_digit()) { name } else { host })
}

/// DNS-rebinding protection for `Host`: its name (port ignored) must be allowed; `*` allows
/// any. A missing Host (HTTP/1.0) is allowed.
pub fn host_allowed(host: Option<&str>, allowed: &[String]) -> bool {
    match host {
        None => true,
        Some(h) => {
            let name = host_name(h);
            allowed.iter().any(|a| a == "*" || a.eq_ignore_ascii_case(name))
        }
    }
}

/// `Origin` must be allowed when present (browsers send it; other clients do not): compared
/// as scheme://host with the port ignored; `*` allows any.
pub fn origin_allowed(origin: Option<&str>, allowed: &[String]) -> bool {
    let Some(origin) = origin else { return true };
    let (scheme, rest) = origin.split_once("://").unwrap_or(("", origin));
    let base = format!("{scheme}://{}", host_name(rest.trim_end_matches('/')));
    allowed.iter().any(|a| a == "*" || a.eq_ignore_ascii_case(&base) || a.eq_ignore_ascii_case(origin))
}

/// The reason phrase of the statuses this server sends.
pub fn reason(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// Writes a whole response with a body.
pub fn write_response(
    out: &mut Vec<u8>,
    status: u16,
    content_type: Option<&str>,
    headers: &[(&str, &str)],
    body: &[u8],
    keep_alive: bool,
) {
    let mut head = String::with_capacity(128);
    let _ = write!(head, "HTTP/1.1 {status} {}\r\n", reason(status));
    if let Some(ct) = content_type {
        let _ = write!(head, "Content-Type: {ct}\r\n");
    }
    for (name, value) in headers {
        let _ = write!(head, "{name}: {value}\r\n");
    }
    let _ = write!(head, "Content-Length: {}\r\n", body.len());
    if !keep_alive {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(body);
}

/// Writes the head of an SSE response; events follow as chunks ([`write_chunk`]) and the
/// stream ends with [`write_last_chunk`], so the connection can be reused. `X-Accel-Buffering:
/// no` keeps reverse proxies (nginx) from holding events back.
pub fn write_sse_head(out: &mut Vec<u8>, headers: &[(&str, &str)]) {
    out.extend_from_slice(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nX-Accel-Buffering: no\r\n",
    );
    for (name, value) in headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
}

/// Writes one chunk of a chunked body.
pub fn write_chunk(out: &mut Vec<u8>, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    let _ = write!(HexLen(out), "{:x}", data.len());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// Ends a chunked body.
pub fn write_last_chunk(out: &mut Vec<u8>) {
    out.extend_from_slice(b"0\r\n\r\n");
}

struct HexLen<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for HexLen<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// One SSE event carrying a JSON-RPC message (`data` must be one line, as JSON text is).
pub fn sse_event(id: &str, data: &[u8]) -> Vec<u8> {
    let mut e = Vec::with_capacity(data.len() + id.len() + 32);
    e.extend_from_slice(b"event: message\nid: ");
    e.extend_from_slice(id.as_bytes());
    e.extend_from_slice(b"\ndata: ");
    e.extend_from_slice(data);
    e.extend_from_slice(b"\n\n");
    e
}

/// The priming event of a stream: an id to resume from, the reconnection delay, empty data.
pub fn sse_priming(id: &str, retry_ms: u64) -> Vec<u8> {
    format!("id: {id}\nretry: {retry_ms}\ndata: \n\n").into_bytes()
}

/// A JSON-RPC error body for transport-level refusals (`id: null`).
pub fn rpc_error_body(code: i32, message: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + message.len());
    let err = crate::jsonrpc::RpcError::new(code, message.to_string());
    crate::jsonrpc::write_error(&mut out, None, &err);
    if out.last() == Some(&b'\n') {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_parse_partial_complete_and_too_large() {
        let req = b"POST /mcp?x=1 HTTP/1.1\r\nHost: 127.0.0.1:9\r\nContent-Length: 2\r\n\r\n{}";
        assert_eq!(parse_head(&req[..20], 1024), Ok(None));
        let (head, n) = parse_head(req, 1024).unwrap().unwrap();
        assert_eq!((head.method.as_str(), head.path.as_str(), n), ("POST", "/mcp", req.len() - 2));
        assert_eq!(head.header_str("host"), Some("127.0.0.1:9"));
        assert_eq!(head.content_length(), Ok(Some(2)));
        assert!(head.keep_alive());
        assert_eq!(parse_head(req, 20), Err(HeadError::TooLarge));
        assert_eq!(parse_head(&[b'G'; 100], 50), Err(HeadError::TooLarge));
        assert_eq!(parse_head(b"\x00\x01 nope\r\n\r\n", 1024), Err(HeadError::Malformed));
    }

    #[test]
    fn sniffing_tells_http_from_ndjson() {
        assert!(looks_like_http(b"GET /health HTTP/1.1"));
        assert!(looks_like_http(b"POST"));
        assert!(!looks_like_http(b"{\"jsonrpc\""));
        assert!(!looks_like_http(b"get / HTTP/1.1"));
    }

    #[test]
    fn accept_order_decides_the_preference() {
        let a = accept(Some("application/json, text/event-stream"));
        assert_eq!(a, Accept { json: true, sse: true, prefers_sse: false });
        assert!(accept(Some("text/event-stream, application/json")).prefers_sse);
        assert_eq!(accept(Some("text/html")), Accept { json: false, sse: false, prefers_sse: false });
        assert!(accept(None).json && accept(Some("*/*")).sse);
    }

    #[test]
    fn hosts_and_origins() {
        let hosts: Vec<String> = crate::limits::ALLOWED_HOSTS_DEFAULT.iter().map(|s| s.to_string()).collect();
        assert!(host_allowed(Some("127.0.0.1:8080"), &hosts));
        assert!(host_allowed(Some("localhost"), &hosts));
        assert!(host_allowed(Some("[::1]:9"), &hosts));
        assert!(!host_allowed(Some("evil.example.com"), &hosts));
        assert!(!host_allowed(Some("evil.example.com:80"), &hosts));
        let origins: Vec<String> = crate::limits::ALLOWED_ORIGINS_DEFAULT.iter().map(|s| s.to_string()).collect();
        assert!(origin_allowed(None, &origins));
        assert!(origin_allowed(Some("http://localhost:6274"), &origins));
        assert!(!origin_allowed(Some("http://evil.example.com"), &origins));
        assert!(origin_allowed(Some("http://evil.example.com"), &["*".to_string()]));
    }

    #[test]
    fn response_bytes() {
        let mut out = Vec::new();
        write_response(&mut out, 202, None, &[], b"", true);
        assert_eq!(out, b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n");
        out.clear();
        write_chunk(&mut out, &sse_event("1:2", b"{}"));
        write_last_chunk(&mut out);
        assert_eq!(out, b"21\r\nevent: message\nid: 1:2\ndata: {}\n\n\r\n0\r\n\r\n");
        assert_eq!(
            rpc_error_body(-32000, "x"),
            br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32000,"message":"x"}}"#
        );
    }
}
