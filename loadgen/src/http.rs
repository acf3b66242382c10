//! MCP Streamable HTTP, the bytes only: rendering POST requests and parsing responses
//! (Content-Length, chunked or close-delimited bodies; `application/json` or
//! `text/event-stream`). No I/O here.

use crate::request::Protocol;
use std::borrow::Cow;

/// Most headers a response may carry (also the WebSocket upgrade's 101).
pub const HEADERS_MAX: usize = 64;

const CONTENT_LENGTH: &str = "Content-Length: ";

/// Header names loadgen sets itself on a POST or a WebSocket upgrade; `--header` may not
/// name them (lowercase).
pub const RESERVED_HEADERS: [&str; 13] = [
    "host",
    "content-length",
    "content-type",
    "accept",
    "transfer-encoding",
    "connection",
    "upgrade",
    "sec-websocket-key",
    "sec-websocket-version",
    "mcp-protocol-version",
    "mcp-method",
    "mcp-name",
    "mcp-session-id",
];

/// Headers added to every HTTP request and to the WebSocket upgrade: `--header "Name: value"`
/// and `--bearer-token` (`Authorization: Bearer …`), checked and rendered once per run.
/// Reports show only their names (a value may be a secret).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExtraHeaders {
    lines: String,
    names: Vec<String>,
}

impl ExtraHeaders {
    /// Checks `--header` values (`Name: value`) and adds `Authorization: Bearer TOKEN` when a
    /// token is given. Error messages never contain a value.
    ///
    /// # Errors
    /// A header without a colon, a name that is not an HTTP token or that loadgen sets
    /// itself, a value with a control character, `Authorization` twice, a token that is
    /// empty or not a bearer token (RFC 6750 `b64token` characters).
    pub fn new(headers: &[String], bearer_token: Option<&str>) -> Result<ExtraHeaders, String> {
        let mut extra = ExtraHeaders::default();
        for header in headers {
            let Some((name, value)) = header.split_once(':') else {
                return Err("--header must be `Name: value`".into());
            };
            extra.push(name.trim(), value.trim())?;
        }
        if let Some(token) = bearer_token {
            let b64token = |b: u8| b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b);
            if token.is_empty() || !token.bytes().all(b64token) {
                return Err("the bearer token is empty or has characters a bearer token cannot have (RFC 6750: \
                            letters, digits and -._~+/=)"
                    .into());
            }
            extra.push("Authorization", &format!("Bearer {token}"))?;
        }
        Ok(extra)
    }

    fn push(&mut self, name: &str, value: &str) -> Result<(), String> {
        let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        if name.is_empty() || !name.bytes().all(token) {
            return Err(format!("--header name `{}` is not an HTTP token", name.escape_default()));
        }
        let lower = name.to_ascii_lowercase();
        if RESERVED_HEADERS.contains(&lower.as_str()) {
            return Err(format!("--header {name}: loadgen sets this header itself"));
        }
        if self.names.iter().any(|n| n.eq_ignore_ascii_case("authorization")) && lower == "authorization" {
            return Err("Authorization is given twice (--header and --bearer-token?)".into());
        }
        if value.bytes().any(|b| b != b'\t' && (b < 0x20 || b == 0x7f)) {
            return Err(format!("--header {name}: the value has a control character"));
        }
        self.lines.push_str(&format!("{name}: {value}\r\n"));
        self.names.push(name.to_string());
        Ok(())
    }

    /// The header lines, each ending in CRLF (empty when there are none).
    pub fn lines(&self) -> &str {
        &self.lines
    }

    /// The header names, in order (never the values).
    pub fn names(&self) -> &[String] {
        &self.names
    }
}

/// The pre-rendered head of every POST on one connection, up to `Content-Length: `.
#[derive(Clone, Debug)]
pub struct PostHead {
    head: Vec<u8>,
}

impl PostHead {
    /// The head of a 2025-11-25 `initialize` (and of nothing else): no MCP headers yet.
    pub fn initialize(path: &str, host: &str) -> PostHead {
        PostHead::finish(PostHead::start(path, host))
    }

    /// A 2025-11-25 head after `initialize`: `MCP-Protocol-Version` and the session id the
    /// server gave (if any).
    pub fn session(path: &str, host: &str, session_id: Option<&str>) -> PostHead {
        let mut head = PostHead::start(path, host);
        head.push_str(&format!("MCP-Protocol-Version: {}\r\n", Protocol::Session.version()));
        if let Some(id) = session_id {
            head.push_str(&format!("Mcp-Session-Id: {id}\r\n"));
        }
        PostHead::finish(head)
    }

    /// A 2026-07-28 head for requests of `method`: `MCP-Protocol-Version`, `Mcp-Method`, and
    /// `Mcp-Name` when `name` is given (the `params.name` or `params.uri` the server checks it
    /// against); no session. Values outside printable ASCII go in the `=?base64?…?=` form.
    pub fn modern(path: &str, host: &str, method: &str, name: Option<&str>) -> PostHead {
        let mut head = PostHead::start(path, host);
        head.push_str(&format!("MCP-Protocol-Version: {}\r\n", Protocol::Modern.version()));
        head.push_str(&format!("Mcp-Method: {}\r\n", header_text(method)));
        if let Some(name) = name {
            head.push_str(&format!("Mcp-Name: {}\r\n", header_text(name)));
        }
        PostHead::finish(head)
    }

    fn start(path: &str, host: &str) -> String {
        format!(
            "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
             Accept: application/json, text/event-stream\r\n"
        )
    }

    fn finish(mut head: String) -> PostHead {
        head.push_str(CONTENT_LENGTH);
        PostHead { head: head.into_bytes() }
    }

    /// The same head with `extra`'s lines (`--header`, `--bearer-token`) added.
    pub fn with_headers(mut self, extra: &ExtraHeaders) -> PostHead {
        let at = self.head.len() - CONTENT_LENGTH.len();
        self.head.splice(at..at, extra.lines().bytes());
        self
    }

    /// Appends the head for a body of `body_len` bytes (the body goes right after it).
    pub fn render(&self, body_len: usize, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.head);
        out.extend_from_slice(itoa::Buffer::new().format(body_len).as_bytes());
        out.extend_from_slice(b"\r\n\r\n");
    }
}

/// `value` as an MCP header value: as it is when it is printable ASCII without surrounding
/// spaces, else `=?base64?BASE64?=` of its UTF-8 (so no value can break the head).
pub fn header_text(value: &str) -> Cow<'_, str> {
    let plain = value.bytes().all(|b| (0x20..0x7f).contains(&b))
        && !value.starts_with(' ')
        && !value.ends_with(' ')
        && !value.starts_with("=?base64?");
    if plain {
        return Cow::Borrowed(value);
    }
    use base64::Engine as _;
    Cow::Owned(format!("=?base64?{}?=", base64::engine::general_purpose::STANDARD.encode(value)))
}

/// The body's media type, as far as MCP cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyKind {
    /// `application/json`: the body is the JSON-RPC message.
    Json,
    /// `text/event-stream`: the answer is in an event's `data:` lines.
    EventStream,
    /// Anything else, or no Content-Type.
    Other,
}

/// One complete HTTP response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Body media type.
    pub kind: BodyKind,
    /// The `Mcp-Session-Id` header, if present.
    pub session_id: Option<String>,
    /// Whether the server will close the connection after this response.
    pub close: bool,
    /// The decoded body (chunked encoding removed).
    pub body: Vec<u8>,
}

impl Response {
    /// The JSON-RPC messages the body carries: the body itself for JSON, each event's data
    /// for an event stream, none otherwise.
    pub fn messages(&self) -> Vec<Cow<'_, [u8]>> {
        match self.kind {
            BodyKind::Json if !self.body.is_empty() => vec![Cow::Borrowed(&self.body[..])],
            BodyKind::EventStream => sse_data(&self.body),
            _ => Vec::new(),
        }
    }
}

/// The outcome of trying to parse a response from the bytes read so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// Read more (or, at end of stream, the response is truncated).
    Incomplete,
    /// A response and how many bytes of the buffer it used.
    Complete(Response, usize),
}

/// Parses one response from the front of `buf`. `eof`: the peer closed, so a body without
/// length ends here.
///
/// # Errors
/// Malformed status line, headers or chunk framing, described in the message.
pub fn parse_response(buf: &[u8], eof: bool) -> Result<Parsed, String> {
    let mut headers = [httparse::EMPTY_HEADER; HEADERS_MAX];
    let mut response = httparse::Response::new(&mut headers);
    let head_len = match response.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(Parsed::Incomplete),
        Err(e) => return Err(format!("bad HTTP response: {e}")),
    };
    let status = response.code.unwrap_or(0);
    let (mut length, mut chunked, mut close, mut kind, mut session_id) = (None, false, false, BodyKind::Other, None);
    for header in response.headers.iter() {
        let value = std::str::from_utf8(header.value).unwrap_or("").trim();
        let name = header.name;
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(value.parse::<usize>().map_err(|_| format!("bad Content-Length `{value}`"))?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        } else if name.eq_ignore_ascii_case("connection") {
            close = value.eq_ignore_ascii_case("close");
        } else if name.eq_ignore_ascii_case("content-type") {
            let media = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
            kind = match media.as_str() {
                "application/json" => BodyKind::Json,
                "text/event-stream" => BodyKind::EventStream,
                _ => BodyKind::Other,
            };
        } else if name.eq_ignore_ascii_case("mcp-session-id") {
            session_id = Some(value.to_string());
        }
    }
    let rest = &buf[head_len..];
    let no_body = status / 100 == 1 || status == 204 || status == 304;
    let (body, used) = if no_body {
        (Vec::new(), 0)
    } else if chunked {
        match dechunk(rest)? {
            Some(done) => done,
            None => return Ok(Parsed::Incomplete),
        }
    } else if let Some(length) = length {
        if rest.len() < length {
            return Ok(Parsed::Incomplete);
        }
        (rest[..length].to_vec(), length)
    } else if eof {
        close = true;
        (rest.to_vec(), rest.len())
    } else {
        return Ok(Parsed::Incomplete);
    };
    Ok(Parsed::Complete(Response { status, kind, session_id, close, body }, head_len + used))
}

/// Decodes a chunked body: `None` until the last chunk and trailers are in.
fn dechunk(mut rest: &[u8]) -> Result<Option<(Vec<u8>, usize)>, String> {
    let total = rest.len();
    let mut body = Vec::new();
    loop {
        let (skip, size) = match httparse::parse_chunk_size(rest) {
            Ok(httparse::Status::Complete(found)) => found,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(_) => return Err("bad chunk size in chunked body".into()),
        };
        rest = &rest[skip..];
        let size = usize::try_from(size).map_err(|_| "chunk too large".to_string())?;
        if size == 0 {
            // Trailers (usually none), then an empty line.
            loop {
                let Some(end) = memchr::memmem::find(rest, b"\r\n") else {
                    return Ok(None);
                };
                let line_empty = end == 0;
                rest = &rest[end + 2..];
                if line_empty {
                    return Ok(Some((body, total - rest.len())));
                }
            }
        }
        if rest.len() < size + 2 {
            return Ok(None);
        }
        if &rest[size..size + 2] != b"\r\n" {
            return Err("chunk not followed by CRLF".into());
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

/// The data of each event in a `text/event-stream` body: an event's `data:` lines joined by
/// `\n`; events without data (comments, `retry:`, priming events) are skipped.
pub fn sse_data(body: &[u8]) -> Vec<Cow<'_, [u8]>> {
    let mut events = Vec::new();
    let mut current: Option<Cow<'_, [u8]>> = None;
    for raw in body.split(|&b| b == b'\n') {
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        if line.is_empty() {
            events.extend(current.take());
            continue;
        }
        let Some(data) = line.strip_prefix(b"data:") else {
            continue;
        };
        let data = data.strip_prefix(b" ").unwrap_or(data);
        current = Some(match current.take() {
            None => Cow::Borrowed(data),
            Some(previous) => {
                let mut joined = previous.into_owned();
                joined.push(b'\n');
                joined.extend_from_slice(data);
                Cow::Owned(joined)
            }
        });
    }
    events.extend(current);
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_headers_go_into_every_head_and_are_checked() {
        let extra = ExtraHeaders::new(&["X-Trace: a b".into(), "x-empty:".into()], Some("tok.en-1")).expect("valid");
        assert_eq!(extra.lines(), "X-Trace: a b\r\nx-empty: \r\nAuthorization: Bearer tok.en-1\r\n");
        assert_eq!(extra.names(), ["X-Trace", "x-empty", "Authorization"]);
        let rendered = |head: PostHead| {
            let mut out = Vec::new();
            head.render(2, &mut out);
            String::from_utf8(out).expect("ascii")
        };
        let modern = rendered(PostHead::modern("/mcp", "h:1", "tools/list", None).with_headers(&extra));
        assert!(
            modern.ends_with(
                "Mcp-Method: tools/list\r\nX-Trace: a b\r\nx-empty: \r\nAuthorization: Bearer tok.en-1\r\n\
                 Content-Length: 2\r\n\r\n"
            ),
            "{modern}"
        );
        let session = rendered(PostHead::session("/mcp", "h:1", Some("s")).with_headers(&extra));
        assert!(session.contains("Mcp-Session-Id: s\r\nX-Trace: a b\r\n"), "{session}");
        let plain = rendered(PostHead::initialize("/mcp", "h").with_headers(&ExtraHeaders::default()));
        assert_eq!(plain, rendered(PostHead::initialize("/mcp", "h")));
        for (headers, token, needle) in [
            (vec!["NoColon".to_string()], None, "Name: value"),
            (vec!["Bad Name: x".into()], None, "not an HTTP token"),
            (vec!["Host: x".into()], None, "sets this header itself"),
            (vec!["mcp-session-id: x".into()], None, "sets this header itself"),
            (vec!["X: a\rb".into()], None, "control character"),
            (vec!["Authorization: Basic x".into()], Some("t"), "twice"),
            (vec![], Some("sec ret"), "bearer token"),
            (vec![], Some(""), "bearer token"),
        ] {
            let err = ExtraHeaders::new(&headers, token).expect_err(needle);
            assert!(err.contains(needle), "{err}");
            assert!(!err.contains("sec ret") && !err.contains("a\rb"), "errors never show values: {err}");
        }
    }

    fn complete(buf: &[u8], eof: bool) -> (Response, usize) {
        match parse_response(buf, eof) {
            Ok(Parsed::Complete(response, used)) => (response, used),
            other => panic!("expected a complete response, got {other:?}"),
        }
    }

    fn head(post: &PostHead, body_len: usize) -> String {
        let mut out = Vec::new();
        post.render(body_len, &mut out);
        String::from_utf8(out).expect("ascii")
    }

    #[test]
    fn session_heads_carry_mcp_headers_after_initialize() {
        assert_eq!(
            head(&PostHead::initialize("/mcp", "h:1"), 12),
            "POST /mcp HTTP/1.1\r\nHost: h:1\r\nContent-Type: application/json\r\n\
             Accept: application/json, text/event-stream\r\nContent-Length: 12\r\n\r\n"
        );
        assert_eq!(
            head(&PostHead::session("/mcp", "h:1", Some("abc")), 3),
            "POST /mcp HTTP/1.1\r\nHost: h:1\r\nContent-Type: application/json\r\n\
             Accept: application/json, text/event-stream\r\nMCP-Protocol-Version: 2025-11-25\r\n\
             Mcp-Session-Id: abc\r\nContent-Length: 3\r\n\r\n"
        );
        assert!(!head(&PostHead::session("/mcp", "h:1", None), 3).contains("Mcp-Session-Id"));
    }

    #[test]
    fn modern_heads_carry_version_method_and_name_and_no_session() {
        assert_eq!(
            head(&PostHead::modern("/mcp", "h:1", "tools/call", Some("echo")), 250),
            "POST /mcp HTTP/1.1\r\nHost: h:1\r\nContent-Type: application/json\r\n\
             Accept: application/json, text/event-stream\r\nMCP-Protocol-Version: 2026-07-28\r\n\
             Mcp-Method: tools/call\r\nMcp-Name: echo\r\nContent-Length: 250\r\n\r\n"
        );
        assert_eq!(
            head(&PostHead::modern("/x", "h", "tools/list", None), 9),
            "POST /x HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\n\
             Accept: application/json, text/event-stream\r\nMCP-Protocol-Version: 2026-07-28\r\n\
             Mcp-Method: tools/list\r\nContent-Length: 9\r\n\r\n"
        );
    }

    #[test]
    fn header_values_outside_printable_ascii_are_base64_wrapped() {
        assert_eq!(header_text("file:///a b"), "file:///a b");
        assert_eq!(header_text("héllo"), "=?base64?aMOpbGxv?=");
        assert_eq!(header_text("a\r\nX: y"), "=?base64?YQ0KWDogeQ==?=");
        assert_eq!(header_text(" padded"), "=?base64?IHBhZGRlZA==?=");
        assert_eq!(header_text("=?base64?x?="), "=?base64?PT9iYXNlNjQ/eD89?=");
    }

    #[test]
    fn json_response_with_length_and_session() {
        let buf = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nmcp-session-id: s1\r\nContent-Length: 5\r\n\r\n{\"a\"}EXTRA";
        let (response, used) = complete(buf, false);
        assert_eq!(used, buf.len() - 5);
        assert_eq!(response.kind, BodyKind::Json);
        assert_eq!(response.session_id.as_deref(), Some("s1"));
        assert_eq!(response.messages(), vec![&b"{\"a\"}"[..]]);
        assert_eq!(parse_response(&buf[..buf.len() - 8], false), Ok(Parsed::Incomplete));
    }

    #[test]
    fn chunked_event_stream_yields_each_events_data() {
        let body = "event: message\r\ndata: {\"n\":1}\r\n\r\n: comment\n\ndata:{\"n\":2}\n\n";
        let chunked = format!("{:x}\r\n{}\r\n{:x}\r\n{}\r\n0\r\n\r\n", 10, &body[..10], body.len() - 10, &body[10..]);
        let buf = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n{chunked}"
        );
        let (response, used) = complete(buf.as_bytes(), false);
        assert_eq!(used, buf.len());
        assert_eq!(response.body, body.as_bytes());
        assert_eq!(response.messages(), vec![&b"{\"n\":1}"[..], &b"{\"n\":2}"[..]]);
        assert_eq!(parse_response(&buf.as_bytes()[..buf.len() - 2], false), Ok(Parsed::Incomplete));
    }

    #[test]
    fn accepted_notification_has_no_body_and_close_delimited_bodies_end_at_eof() {
        let (response, _) = complete(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n", false);
        assert_eq!((response.status, response.messages().len()), (202, 0));
        let buf = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: {}\n\n";
        assert_eq!(parse_response(buf, false), Ok(Parsed::Incomplete));
        let (response, _) = complete(buf, true);
        assert!(response.close);
        assert_eq!(response.messages(), vec![&b"{}"[..]]);
    }

    #[test]
    fn multi_line_data_is_joined_with_newlines() {
        let events = sse_data(b"id: 1\ndata: {\"a\":\r\ndata: 1}\n\ndata: x");
        assert_eq!(events, vec![&b"{\"a\":\n1}"[..], &b"x"[..]]);
    }

    #[test]
    fn malformed_responses_are_errors() {
        assert!(parse_response(b"HTTP/1.1 abc\r\n\r\n", false).is_err());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", false).is_err());
        let bad_chunk = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabcd\r\n";
        assert!(parse_response(bad_chunk, false).is_err());
    }
}
