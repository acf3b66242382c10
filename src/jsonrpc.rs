//! JSON-RPC 2.0 as MCP uses it: parse one message (borrowed from the line) and write answers
//! straight into an output buffer. I/O-free.
//!
//! Every line is validated whole by [`crate::scan`] first — strict RFC 8259, nesting at most
//! `max_json_depth` levels, without recursion — so invalid JSON is -32700 even in a member
//! nobody reads, and no recursive parser ever sees a document deeper than the limit. sonic-rs
//! reads only what the scanner already accepted (the rare message with escaped keys).
//!
//! Ids are kept as their raw JSON text and echoed byte for byte. Batches (removed from MCP in
//! 2025-06-18) are answered with one error, never half-processed. A response (no `method`,
//! a `result` or an `error`) is never answered, whatever its id: two peers answering each
//! other's malformed responses could loop.

use crate::limits::{INLINE_ID_BYTES, MAX_JSON_DEPTH_DEFAULT};
use crate::scan::{self, ScanError};
use serde::{Deserialize, Deserializer};
use sonic_rs::{JsonType, JsonValueTrait, LazyValue};
use std::borrow::Cow;

/// JSON-RPC and MCP error codes this server sends.
pub mod code {
    /// Invalid JSON.
    pub const PARSE_ERROR: i32 = -32700;
    /// Valid JSON that is not a valid request (also: a batch, or a request before initialize).
    pub const INVALID_REQUEST: i32 = -32600;
    /// No such method (in the 2026-07-28 era also the removed ones: `initialize`, `ping`, …).
    pub const METHOD_NOT_FOUND: i32 = -32601;
    /// Bad params: unknown tool, bad cursor, missing prompt argument, ….
    pub const INVALID_PARAMS: i32 = -32602;
    /// A handler panicked or the server failed.
    pub const INTERNAL_ERROR: i32 = -32603;
    /// MCP 2025-11-25: `resources/read` of an unknown URI (2026-07-28 uses -32602).
    pub const RESOURCE_NOT_FOUND: i32 = -32002;
    /// MCP 2026-07-28: an HTTP header does not match the body, or a required one is missing.
    pub const HEADER_MISMATCH: i32 = -32020;
    /// MCP 2026-07-28: the request needs a client capability the client did not declare;
    /// `data.requiredCapabilities` names it.
    pub const MISSING_CLIENT_CAPABILITY: i32 = -32021;
    /// MCP 2026-07-28: the request's protocol version is not served; `data.supported` lists
    /// the ones that are, `data.requested` echoes it.
    pub const UNSUPPORTED_PROTOCOL_VERSION: i32 = -32022;
    /// The core's queue is over its reject mark; `data.retryAfterMs` says when to retry.
    /// (-32000 and -32001 are avoided: the SDKs use them for "connection closed"/"timeout".)
    pub const OVERLOADED: i32 = -32010;
    /// The tool's circuit breaker is open (it failed repeatedly); `data.retryAfterMs` says
    /// when to retry, `data.tool` names it.
    pub const CIRCUIT_OPEN: i32 = -32011;
    /// The tool ran longer than its timeout; `data.timeoutMs` is the limit.
    pub const TOOL_TIMEOUT: i32 = -32012;
    /// A rate limit refused the request; `data.retryAfterMs` says when to retry and
    /// `data.limit` which limit (`ip`, `identity` or `session`). Over HTTP with status 429.
    pub const RATE_LIMITED: i32 = -32013;
}

/// An error answer: code, message and optional data.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    /// One of [`code`].
    pub code: i32,
    /// Human-readable, says what was wrong.
    pub message: Cow<'static, str>,
    /// Structured detail as JSON text (e.g. `{"uri": …}` or `{"retryAfterMs": …}`), kept as
    /// text so that its key order is the order it was written in.
    pub data: Option<String>,
}

impl RpcError {
    /// An error without data.
    pub fn new(code: i32, message: impl Into<Cow<'static, str>>) -> Self {
        RpcError { code, message: message.into(), data: None }
    }

    /// `-32602 Invalid params`.
    pub fn invalid_params(message: impl Into<Cow<'static, str>>) -> Self {
        RpcError::new(code::INVALID_PARAMS, message)
    }

    /// Adds structured data (any serde value: a struct keeps its field order).
    pub fn with_data<T: serde::Serialize + ?Sized>(mut self, data: &T) -> Self {
        self.data = Some(sonic_rs::to_string(data).expect("error data always serializes"));
        self
    }
}

/// A request id as its raw JSON text: a string (quotes and escapes kept) or an integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Id<'a>(pub &'a str);

/// An id kept past the line it came from, for answers that come later (async tools).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnedId {
    /// Short ids (the usual case) need no allocation.
    Inline(heapless::Vec<u8, INLINE_ID_BYTES>),
    /// Long string ids.
    Heap(Box<[u8]>),
}

impl OwnedId {
    /// Copies an id.
    pub fn new(id: Id<'_>) -> Self {
        match heapless::Vec::from_slice(id.0.as_bytes()) {
            Ok(v) => OwnedId::Inline(v),
            Err(_) => OwnedId::Heap(id.0.as_bytes().into()),
        }
    }

    /// Borrows it back.
    pub fn as_id(&self) -> Id<'_> {
        let bytes: &[u8] = match self {
            OwnedId::Inline(v) => v,
            OwnedId::Heap(b) => b,
        };
        // The bytes were copied from a `&str`, so they are UTF-8.
        Id(std::str::from_utf8(bytes).expect("OwnedId holds the bytes of a str"))
    }
}

/// One parsed JSON-RPC message, borrowing from its line.
#[derive(Debug)]
pub enum Message<'a> {
    /// A request: must get exactly one answer.
    Request {
        /// Echoed in the answer.
        id: Id<'a>,
        /// The method name.
        method: Cow<'a, str>,
        /// The raw JSON text of an object, or absent.
        params: Option<&'a str>,
    },
    /// A notification: never answered.
    Notification {
        /// The method name.
        method: Cow<'a, str>,
        /// The raw JSON text of an object, or absent.
        params: Option<&'a str>,
    },
    /// A client's answer to a server-to-client request (routed by id). Never answered.
    Response {
        /// The id of the server's request; `None` when it is `null` or not a valid id (a
        /// client's error about a message it could not parse).
        id: Option<Id<'a>>,
    },
}

/// A line that is not a valid message, with the id to answer to (if one could be read).
#[derive(Debug)]
pub struct Invalid<'a> {
    /// `None` answers with `"id": null`.
    pub id: Option<Id<'a>>,
    /// What to answer.
    pub error: RpcError,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default, deserialize_with = "present")]
    jsonrpc: Option<LazyValue<'a>>,
    #[serde(borrow, default, deserialize_with = "present")]
    id: Option<LazyValue<'a>>,
    #[serde(borrow, default, deserialize_with = "present")]
    method: Option<LazyValue<'a>>,
    #[serde(borrow, default, deserialize_with = "present")]
    params: Option<LazyValue<'a>>,
    #[serde(borrow, default, deserialize_with = "present")]
    result: Option<LazyValue<'a>>,
    #[serde(borrow, default, deserialize_with = "present")]
    error: Option<LazyValue<'a>>,
}

/// A present field is `Some` even when it is `null` (an `"id": null` is not a notification).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<LazyValue<'de>>, D::Error> {
    LazyValue::deserialize(d).map(Some)
}

/// Parses one line into a message, with nesting limited to [`MAX_JSON_DEPTH_DEFAULT`] levels.
pub fn parse(line: &[u8]) -> Result<Message<'_>, Invalid<'_>> {
    parse_within(line, MAX_JSON_DEPTH_DEFAULT as usize)
}

/// Parses one line into a message, refusing nesting past `depth_max` levels (the message
/// object is level 1: `max_json_depth`).
///
/// Errors (answered, never fatal): -32700 for invalid UTF-8 or JSON; -32600 for nesting past
/// the limit (with the id when it could be read), a batch, a non-object, a wrong `jsonrpc`, a
/// bad id or method; -32602 for params that are not an object.
pub fn parse_within(line: &[u8], depth_max: usize) -> Result<Message<'_>, Invalid<'_>> {
    let Some(text) = utf8(line) else {
        return Err(Invalid { id: None, error: RpcError::new(code::PARSE_ERROR, "Parse error: invalid UTF-8") });
    };
    let (mut jsonrpc, mut id, mut method, mut params, mut answer) = (None, None, None, None, false);
    let scanned = scan::members_within(text, depth_max, |m| {
        match m.key {
            b"jsonrpc" => jsonrpc = Some(m),
            b"id" => id = Some(m),
            b"method" => method = Some(m),
            b"params" => params = Some(m),
            b"result" | b"error" => answer = true,
            _ => {}
        }
        true
    });
    let span = |v: &[u8]| scan::span_str(text, v);
    // A string id is valid JSON (the scanner checked its escapes), so it is echoed as it came.
    let id = id.map(|m| match m.kind {
        scan::Kind::String => Ok(Id(span(m.value))),
        scan::Kind::Number if scan::is_integer(m.value) => Ok(Id(span(m.value))),
        _ => Err(()),
    });
    match scanned {
        Ok(()) => {}
        Err(ScanError::EscapedKey) => return parse_full(line),
        Err(ScanError::TooDeep) => return Err(too_deep(id.and_then(Result::ok), depth_max)),
        Err(ScanError::Syntax) => return Err(not_an_object(text, depth_max)),
    }
    if method.is_none() && answer {
        return Ok(Message::Response { id: id.and_then(Result::ok) });
    }
    let id = match id {
        None => None,
        Some(id) => Some(id.map_err(|()| bad_id())?),
    };
    let method = match method {
        Some(m) if m.plain => Some(Cow::Borrowed(&span(m.value)[1..m.value.len() - 1])),
        Some(m) if m.kind == scan::Kind::String => Some(method_name(id, span(m.value))?),
        Some(_) => return Err(invalid(id, "Invalid Request: \"method\" must be a string")),
        None => None,
    };
    let params = params.map(|p| (p.kind, span(p.value)));
    classify(id, jsonrpc.is_some_and(|j| is_2_0(span(j.value), j.plain)), method, params)
}

/// Whether a `jsonrpc` member's raw value is the string "2.0" (escaped or not).
fn is_2_0(raw: &str, plain: bool) -> bool {
    raw == "\"2.0\"" || (!plain && raw.starts_with('"') && sonic_rs::from_str::<String>(raw).is_ok_and(|s| s == "2.0"))
}

/// A method name from its raw (valid) string: borrowed, or unescaped by sonic-rs, which
/// refuses lone surrogates.
fn method_name<'a>(id: Option<Id<'a>>, raw: &'a str) -> Result<Cow<'a, str>, Invalid<'a>> {
    match scan::plain_str(raw) {
        Some(plain) => Ok(Cow::Borrowed(plain)),
        None => sonic_rs::from_str::<String>(raw)
            .map(Cow::Owned)
            .map_err(|_| invalid(id, "Invalid Request: \"method\" must be a string of valid Unicode")),
    }
}

/// `line` as text: ASCII (the usual case, checked a word at a time) or validated UTF-8.
fn utf8(line: &[u8]) -> Option<&str> {
    if is_ascii(line) {
        // SAFETY: every ASCII byte sequence is valid UTF-8.
        return Some(unsafe { std::str::from_utf8_unchecked(line) });
    }
    std::str::from_utf8(line).ok()
}

/// Whether every byte is below 0x80, eight at a time. (std's `is_ascii` went byte by byte on
/// lines of MCP size here: a third of the parse's time in a profile at tcp-64x64.)
fn is_ascii(line: &[u8]) -> bool {
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut chunks = line.chunks_exact(8);
    let mut high = 0;
    for chunk in &mut chunks {
        high |= u64::from_le_bytes(chunk.try_into().expect("chunks of 8"));
    }
    high & HIGHS == 0 && chunks.remainder().iter().all(u8::is_ascii)
}

fn too_deep(id: Option<Id<'_>>, depth_max: usize) -> Invalid<'_> {
    let message = format!("Invalid Request: JSON nested deeper than {depth_max} levels (max_json_depth)");
    Invalid { id, error: RpcError::new(code::INVALID_REQUEST, message) }
}

/// The full parse (sonic-rs), for an object the scanner validated but whose keys have
/// escapes (so raw keys cannot be compared).
fn parse_full(line: &[u8]) -> Result<Message<'_>, Invalid<'_>> {
    // The text is valid JSON (the scanner checked it): what serde refuses here is a member
    // named twice (`"id"` and `"i\u0064"`) or a key with a lone surrogate.
    let env: Envelope<'_> = sonic_rs::from_slice(line).map_err(|e| Invalid {
        id: None,
        error: RpcError::new(
            code::INVALID_REQUEST,
            format!("Invalid Request: {}", e.to_string().lines().next().unwrap_or("unreadable members")),
        ),
    })?;
    let id = env.id.as_ref().map(|v| parse_id(v, line).ok_or(()));
    if env.method.is_none() && (env.result.is_some() || env.error.is_some()) {
        return Ok(Message::Response { id: id.and_then(Result::ok) });
    }
    let id = match id {
        None => None,
        Some(id) => Some(id.map_err(|()| bad_id())?),
    };
    let method = match &env.method {
        Some(m) => Some(string_of(m).ok_or_else(|| invalid(id, "Invalid Request: \"method\" must be a string"))?),
        None => None,
    };
    let params = match &env.params {
        Some(p) => {
            let kind = match p.get_type() {
                JsonType::Object => scan::Kind::Object,
                JsonType::Null => scan::Kind::Null,
                _ => scan::Kind::Array, // any other type is refused alike
            };
            Some((kind, raw_in(p, line).ok_or_else(|| invalid(id, "Invalid Request: unreadable params"))?))
        }
        None => None,
    };
    let jsonrpc_ok = env.jsonrpc.as_ref().is_some_and(|j| is_2_0(j.as_raw_str(), false));
    classify(id, jsonrpc_ok, method, params)
}

/// The JSON-RPC rules for a request or notification, once the members are found (both
/// paths end here; responses are told apart before).
fn classify<'a>(
    id: Option<Id<'a>>,
    jsonrpc_ok: bool,
    method: Option<Cow<'a, str>>,
    params: Option<(scan::Kind, &'a str)>,
) -> Result<Message<'a>, Invalid<'a>> {
    if !jsonrpc_ok {
        return Err(invalid(id, "Invalid Request: \"jsonrpc\" must be \"2.0\""));
    }
    let Some(method) = method else {
        return Err(invalid(id, "Invalid Request: no \"method\""));
    };
    let params = match params {
        Some((scan::Kind::Object, raw)) => Some(raw),
        Some((scan::Kind::Null, _)) | None => None,
        Some(_) if id.is_some() => {
            return Err(Invalid { id, error: RpcError::invalid_params("Invalid params: \"params\" must be an object") })
        }
        Some(_) => None,
    };
    Ok(match id {
        Some(id) => Message::Request { id, method, params },
        None => Message::Notification { method, params },
    })
}

fn invalid<'a>(id: Option<Id<'a>>, message: &'static str) -> Invalid<'a> {
    Invalid { id, error: RpcError::new(code::INVALID_REQUEST, message) }
}

fn bad_id<'a>() -> Invalid<'a> {
    invalid(None, "Invalid Request: id must be a string or an integer")
}

/// For a line that is not one valid object: a syntax error (-32700), or valid JSON that is
/// not a request object (-32600), or too deep.
fn not_an_object(text: &str, depth_max: usize) -> Invalid<'_> {
    let error = match scan::validate(text, depth_max) {
        Err(ScanError::TooDeep) => return too_deep(None, depth_max),
        Err(_) => RpcError::new(code::PARSE_ERROR, "Parse error: invalid JSON"),
        Ok(scan::Kind::Array) => RpcError::new(
            code::INVALID_REQUEST,
            "Invalid Request: JSON-RPC batches are not supported (removed from MCP in 2025-06-18)",
        ),
        Ok(_) => RpcError::new(code::INVALID_REQUEST, "Invalid Request: not a JSON object"),
    };
    Invalid { id: None, error }
}

fn parse_id<'a>(v: &LazyValue<'a>, line: &'a [u8]) -> Option<Id<'a>> {
    let raw = raw_in(v, line)?;
    match v.get_type() {
        // sonic-rs's lazy values do not check the escapes of strings they skip; an id is echoed
        // byte for byte, so it must be checked here.
        JsonType::String
            if raw.bytes().any(|b| b == b'\\' || b < 0x20) && sonic_rs::from_str::<String>(raw).is_err() =>
        {
            None
        }
        JsonType::String => Some(Id(raw)),
        JsonType::Number if is_integer_text(raw) => Some(Id(raw)),
        _ => None,
    }
}

/// A value's raw text as a slice of the line. sonic-rs copies strings with escapes; their raw
/// text is still in the line, and any occurrence of the same raw bytes is the same value.
fn raw_in<'a>(v: &LazyValue<'a>, line: &'a [u8]) -> Option<&'a str> {
    match v.as_raw_cow() {
        Cow::Borrowed(raw) => Some(raw),
        Cow::Owned(copy) => {
            let at = memchr::memmem::find(line, copy.as_bytes())?;
            std::str::from_utf8(&line[at..at + copy.len()]).ok()
        }
    }
}

fn is_integer_text(raw: &str) -> bool {
    let digits = raw.strip_prefix('-').unwrap_or(raw);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// The unescaped text of a JSON string, borrowed when it has no escapes.
pub fn string_of<'a>(v: &LazyValue<'a>) -> Option<Cow<'a, str>> {
    if v.get_type() != JsonType::String {
        return None;
    }
    match v.as_raw_cow() {
        Cow::Borrowed(raw) if !raw.contains('\\') => Some(Cow::Borrowed(&raw[1..raw.len() - 1])),
        _ => v.as_str().map(|s| Cow::Owned(s.to_string())),
    }
}

/// Starts a success answer; the caller appends the result JSON, then [`end_result`].
pub fn begin_result(out: &mut Vec<u8>, id: Id<'_>) {
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
    out.extend_from_slice(id.0.as_bytes());
    out.extend_from_slice(b",\"result\":");
}

/// Ends a success answer begun with [`begin_result`].
pub fn end_result(out: &mut Vec<u8>) {
    out.extend_from_slice(b"}\n");
}

/// Writes a whole success answer whose result is already JSON text.
pub fn write_result(out: &mut Vec<u8>, id: Id<'_>, result_json: &[u8]) {
    begin_result(out, id);
    out.extend_from_slice(result_json);
    end_result(out);
}

/// Writes a whole error answer (`"id": null` when `id` is `None`).
pub fn write_error(out: &mut Vec<u8>, id: Option<Id<'_>>, err: &RpcError) {
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
    out.extend_from_slice(id.map_or("null", |i| i.0).as_bytes());
    out.extend_from_slice(b",\"error\":{\"code\":");
    out.extend_from_slice(itoa::Buffer::new().format(err.code).as_bytes());
    out.extend_from_slice(b",\"message\":");
    sonic_rs::to_writer(&mut *out, err.message.as_ref()).expect("writing to a Vec cannot fail");
    if let Some(data) = &err.data {
        out.extend_from_slice(b",\"data\":");
        out.extend_from_slice(data.as_bytes());
    }
    out.extend_from_slice(b"}}\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err_code(line: &str) -> (Option<String>, i32) {
        let e = parse(line.as_bytes()).unwrap_err();
        (e.id.map(|i| i.0.to_string()), e.error.code)
    }

    #[test]
    fn request_notification_and_response_are_told_apart() {
        let m = parse(br#"{"jsonrpc":"2.0","id":7,"method":"ping"}"#).unwrap();
        assert!(matches!(m, Message::Request { id: Id("7"), ref method, .. } if method == "ping"));
        let m = parse(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).unwrap();
        assert!(matches!(m, Message::Notification { .. }));
        let m = parse(br#"{"jsonrpc":"2.0","id":"s1","result":{}}"#).unwrap();
        assert!(matches!(m, Message::Response { id: Some(Id("\"s1\"")) }));
    }

    #[test]
    fn string_ids_keep_their_escapes() {
        let m = parse(br#"{"jsonrpc":"2.0","id":"a\"b\u00e9","method":"ping"}"#).unwrap();
        assert!(matches!(m, Message::Request { id: Id(r#""a\"b\u00e9""#), .. }));
    }

    #[test]
    fn malformed_messages_get_the_right_codes() {
        assert_eq!(err_code("{"), (None, code::PARSE_ERROR));
        assert_eq!(err_code("[1,2]"), (None, code::INVALID_REQUEST));
        assert_eq!(err_code("42"), (None, code::INVALID_REQUEST));
        assert_eq!(err_code(r#"{"id":1,"method":"ping"}"#), (Some("1".into()), code::INVALID_REQUEST));
        assert_eq!(err_code(r#"{"jsonrpc":"1.0","id":1,"method":"x"}"#), (Some("1".into()), -32600));
        assert_eq!(err_code(r#"{"jsonrpc":"2.0","id":null,"method":"x"}"#), (None, -32600));
        assert_eq!(err_code(r#"{"jsonrpc":"2.0","id":1.5,"method":"x"}"#), (None, -32600));
        assert_eq!(err_code(r#"{"jsonrpc":"2.0","id":1,"method":3}"#), (Some("1".into()), -32600));
        assert_eq!(err_code(r#"{"jsonrpc":"2.0","id":1,"method":"x","params":[1]}"#), (Some("1".into()), -32602));
    }

    fn summary(r: Result<Message<'_>, Invalid<'_>>) -> String {
        match r {
            Ok(Message::Request { id, method, params }) => format!("req {id:?} {method} {params:?}"),
            Ok(Message::Notification { method, params }) => format!("note {method} {params:?}"),
            Ok(Message::Response { id }) => format!("resp {id:?}"),
            Err(e) => format!("err {:?} {}", e.id, e.error.code),
        }
    }

    #[test]
    fn escaped_keys_read_the_same_as_plain_ones() {
        let lines = [
            r#"{"jsonrpc":"2.0","id":7,"method":"ping"}"#,
            r#"{"jsonrpc":"2.0","id":"x","method":"tools/call","params":{"name":"echo","arguments":{"text":"a\"b"}}}"#,
            r#"{"jsonrpc":"2.0","method":"notifications/initialized","params":null}"#,
            r#"{"jsonrpc":"2.0","id":"s1","result":{}}"#,
            r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"m"}}"#,
            r#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#,
            r#"{"jsonrpc":"2.0","id":1.5,"method":"x"}"#,
            r#"{"jsonrpc":"2.0","id":true,"method":"x"}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":3}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"x","params":[1]}"#,
            r#"{"jsonrpc":"2.0","method":"x","params":"s"}"#,
            r#"{"jsonrpc":"2.0","id":2}"#,
            r#" { "jsonrpc" : "2.0" , "id" : -3 , "method" : "p\u0069ng" } "#,
        ];
        for line in lines {
            let escaped = line.replacen("\"jsonrpc\"", r#""json\u0072pc""#, 1);
            assert_eq!(summary(parse(escaped.as_bytes())), summary(parse(line.as_bytes())), "{escaped}");
        }
        assert!(
            matches!(parse(br#"{"jsonrpc":"2.0","id":1,"method":"p\u0069ng"}"#), Ok(Message::Request { method, .. }) if method == "ping")
        );

        // "2.0" written with an escape is still "2.0"; a member named twice is -32600.
        assert!(matches!(parse(br#"{"jsonrpc":"2\u002e0","id":1,"method":"ping"}"#), Ok(Message::Request { .. })));
        assert!(parse(br#"{"jsonrpc":"2\u002e1","id":1,"method":"ping"}"#).is_err());
        let twice = br#"{"j\u0073onrpc":"2.0","id":1,"i\u0064":2,"method":"ping"}"#;
        assert_eq!(parse(twice).unwrap_err().error.code, code::INVALID_REQUEST);
    }

    #[test]
    fn invalid_json_is_a_parse_error_even_where_nobody_reads() {
        for line in [
            r#"{"jsonrpc":"2.0","id":1,"method":"ping","params":{"a":tru}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"ping","params":{"a":01}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"ping","params":{"a":'x'}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"ping","params":{"a":[1,]}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"ping","params":{"a":NaN}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"ping","params":{"b" 1}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"ping","params":{"a":"x\q"}}"#,
            "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":{\"a\":\"\0\"}}",
            r#"{"jsonrpc":"2.0","id":1,"method":"ping","unread":[}"#,
            "01",
            "'x'",
        ] {
            assert_eq!(err_code(line), (None, code::PARSE_ERROR), "{line}");
        }
        assert_eq!(
            parse(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"x\":\"\xff\"}").unwrap_err().error.code,
            -32700
        );
    }

    #[test]
    fn responses_are_never_answered_whatever_their_id() {
        for line in [
            r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}"#,
            r#"{"jsonrpc":"2.0","id":[1],"result":{}}"#,
            r#"{"jsonrpc":"2.0","id":1.5,"result":{}}"#,
            r#"{"jsonrpc":"2.0","error":{"code":-32600,"message":"m"}}"#,
            r#"{"id":1,"result":{}}"#,
        ] {
            assert!(matches!(parse(line.as_bytes()), Ok(Message::Response { id: None | Some(_) })), "{line}");
        }
        assert!(matches!(parse(br#"{"jsonrpc":"2.0","id":null,"result":{}}"#), Ok(Message::Response { id: None })));
    }

    #[test]
    fn nesting_past_the_limit_is_refused_with_the_id_when_readable() {
        let deep = |n: usize, id: &str| {
            format!(
                r#"{{"jsonrpc":"2.0","method":"ping","params":{{"a":{}{}}},"id":{id}}}"#,
                "[".repeat(n),
                "]".repeat(n)
            )
        };
        let line = deep(1_000_000, "9");
        let e = parse_within(line.as_bytes(), 64).unwrap_err();
        assert_eq!((e.id, e.error.code), (Some(Id("9")), code::INVALID_REQUEST));
        assert_eq!(e.error.message, "Invalid Request: JSON nested deeper than 64 levels (max_json_depth)");
        // The message is level 1 and params level 2, so 62 brackets inside params make 64.
        assert!(parse_within(deep(62, "9").as_bytes(), 64).is_ok());
        assert!(parse_within(deep(63, "9").as_bytes(), 64).is_err());
        let deep_id = format!(r#"{{"jsonrpc":"2.0","method":"ping","id":{}1{}}}"#, "[".repeat(200), "]".repeat(200));
        assert_eq!(err_code(&deep_id), (None, code::INVALID_REQUEST));
        assert_eq!(err_code(&"[".repeat(1_000_000)), (None, code::INVALID_REQUEST));
        assert_eq!(err_code(&"{\"a\":".repeat(100_000)), (None, code::INVALID_REQUEST));
    }

    #[test]
    fn string_ids_with_invalid_escapes_are_never_echoed() {
        for line in [
            r#"{"jsonrpc":"2.0","id":"a\x","method":"ping"}"#,
            "{\"jsonrpc\":\"2.0\",\"id\":\"a\u{1}\",\"method\":\"ping\"}",
        ] {
            let e = parse(line.as_bytes()).unwrap_err();
            assert_eq!((e.id, e.error.code), (None, code::PARSE_ERROR), "{line}");
        }
    }

    #[test]
    fn ascii_is_told_from_utf8_at_every_offset() {
        for len in 0..40 {
            assert!(is_ascii(&vec![b'a'; len]));
            for at in 0..len {
                let mut line = vec![0x7f; len];
                line[at] = 0x80;
                assert!(!is_ascii(&line), "len {len} at {at}");
            }
        }
    }

    #[test]
    fn errors_are_written_as_one_line() {
        let mut out = Vec::new();
        write_error(&mut out, None, &RpcError::new(-32700, "bad \"json\""));
        assert_eq!(
            out,
            b"{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,\"message\":\"bad \\\"json\\\"\"}}\n"
        );
    }

    #[test]
    fn long_ids_survive_being_owned() {
        let long = format!("\"{}\"", "x".repeat(100));
        assert_eq!(OwnedId::new(Id(&long)).as_id(), Id(&long));
        assert_eq!(OwnedId::new(Id("12")).as_id(), Id("12"));
    }
}
