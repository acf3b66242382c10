//! JSON-RPC 2.0 as MCP uses it: parse one message (borrowed from the line: the fast path is
//! [`crate::scan`], with sonic-rs deciding whatever it declines), and write answers straight
//! into an output buffer. I/O-free.
//!
//! Ids are kept as their raw JSON text and echoed byte for byte. Batches (removed from MCP in
//! 2025-06-18) are answered with one error, never half-processed.

use crate::limits::INLINE_ID_BYTES;
use crate::scan;
use serde::{Deserialize, Deserializer};
use sonic_rs::{JsonType, JsonValueTrait, LazyValue};
use std::borrow::Cow;

/// JSON-RPC and MCP error codes this server sends.
pub mod code {
    /// Invalid JSON.
    pub const PARSE_ERROR: i32 = -32700;
    /// Valid JSON that is not a valid request (also: a batch, or a request before initialize).
    pub const INVALID_REQUEST: i32 = -32600;
    /// No such method (also `server/discover`, so 2026-07-28 clients fall back to initialize).
    pub const METHOD_NOT_FOUND: i32 = -32601;
    /// Bad params: unknown tool, bad cursor, missing prompt argument, ….
    pub const INVALID_PARAMS: i32 = -32602;
    /// A handler panicked or the server failed.
    pub const INTERNAL_ERROR: i32 = -32603;
    /// MCP: `resources/read` of an unknown URI.
    pub const RESOURCE_NOT_FOUND: i32 = -32002;
    /// The core's queue is over its reject mark; `data.retryAfterMs` says when to retry.
    /// (-32000 and -32001 are avoided: the SDKs use them for "connection closed"/"timeout".)
    pub const OVERLOADED: i32 = -32010;
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
    /// A client's answer to a server-to-client request (routed by id).
    Response {
        /// The id of the server's request.
        id: Id<'a>,
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

/// Parses one line into a message.
///
/// Errors (answered, never fatal): -32700 for invalid JSON, -32600 for a batch, a non-object,
/// a wrong `jsonrpc`, a bad id or method; -32602 for params that are not an object.
pub fn parse(line: &[u8]) -> Result<Message<'_>, Invalid<'_>> {
    match parse_fast(line) {
        Some(outcome) => outcome,
        None => parse_full(line),
    }
}

/// The fast path: the scanner finds the members; `None` leaves the line to [`parse_full`]
/// (invalid UTF-8 or JSON, escaped keys or method, deep nesting).
fn parse_fast(line: &[u8]) -> Option<Result<Message<'_>, Invalid<'_>>> {
    let text = utf8(line)?;
    let (mut jsonrpc, mut id, mut method, mut params, mut answer) = (None, None, None, None, false);
    scan::members(line, |m| {
        match m.key {
            b"jsonrpc" => jsonrpc = Some(m),
            b"id" => id = Some(m),
            b"method" => method = Some(m),
            b"params" => params = Some(m),
            b"result" | b"error" => answer = true,
            _ => {}
        }
        true
    })?;
    let span = |v: &[u8]| scan::span_str(text, v);
    let id = match id {
        None => None,
        // Ids are echoed byte for byte, so a string id must be valid JSON, not just shaped
        // like a string: one with escapes or control bytes is left to the strict parse.
        Some(m) if m.kind == scan::Kind::String && m.value.iter().any(|&b| b == b'\\' || b < 0x20) => return None,
        Some(m) if m.kind == scan::Kind::String || (m.kind == scan::Kind::Number && scan::is_integer(m.value)) => {
            Some(Id(span(m.value)))
        }
        Some(_) => return Some(Err(bad_id())),
    };
    let method = match method {
        Some(m) if m.kind == scan::Kind::String => Some(Cow::Borrowed(scan::plain_str(span(m.value))?)),
        Some(_) => return Some(Err(invalid(id, "Invalid Request: \"method\" must be a string"))),
        None => None,
    };
    let params = params.map(|p| (p.kind, span(p.value)));
    Some(classify(id, jsonrpc.map(|j| j.value) == Some(b"\"2.0\""), method, params, answer))
}

/// `line` as text: ASCII (the usual case, checked a word at a time) or validated UTF-8.
fn utf8(line: &[u8]) -> Option<&str> {
    if line.is_ascii() {
        // SAFETY: every ASCII byte sequence is valid UTF-8.
        return Some(unsafe { std::str::from_utf8_unchecked(line) });
    }
    std::str::from_utf8(line).ok()
}

/// The full parse (sonic-rs): strict, for every line the fast path declines.
fn parse_full(line: &[u8]) -> Result<Message<'_>, Invalid<'_>> {
    // serde would also read a struct from a JSON array: only an object is a message.
    let first = line.iter().find(|b| !b.is_ascii_whitespace());
    let env: Envelope<'_> = match sonic_rs::from_slice(line) {
        Ok(env) if first == Some(&b'{') => env,
        _ => return Err(not_an_envelope(line)),
    };
    let id = match &env.id {
        None => None,
        Some(v) => Some(parse_id(v, line).ok_or_else(bad_id)?),
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
    let jsonrpc_ok = env.jsonrpc.as_ref().map(LazyValue::as_raw_str) == Some("\"2.0\"");
    classify(id, jsonrpc_ok, method, params, env.result.is_some() || env.error.is_some())
}

/// The JSON-RPC rules, once the members are found (both paths end here).
fn classify<'a>(
    id: Option<Id<'a>>,
    jsonrpc_ok: bool,
    method: Option<Cow<'a, str>>,
    params: Option<(scan::Kind, &'a str)>,
    answer: bool,
) -> Result<Message<'a>, Invalid<'a>> {
    if !jsonrpc_ok {
        return Err(invalid(id, "Invalid Request: \"jsonrpc\" must be \"2.0\""));
    }
    let Some(method) = method else {
        return match (id, answer) {
            (Some(id), true) => Ok(Message::Response { id }),
            _ => Err(invalid(id, "Invalid Request: no \"method\"")),
        };
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

/// Tells a syntax error (-32700) from valid JSON that is not a request object (-32600).
fn not_an_envelope(line: &[u8]) -> Invalid<'_> {
    let first = line.iter().find(|b| !b.is_ascii_whitespace()).copied();
    let valid = sonic_rs::from_slice::<serde::de::IgnoredAny>(line).is_ok();
    let error = match (valid, first) {
        (false, _) => RpcError::new(code::PARSE_ERROR, "Parse error: invalid JSON"),
        (true, Some(b'[')) => RpcError::new(
            code::INVALID_REQUEST,
            "Invalid Request: JSON-RPC batches are not supported (removed from MCP in 2025-06-18)",
        ),
        (true, _) => RpcError::new(code::INVALID_REQUEST, "Invalid Request: not a JSON object"),
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
        assert!(matches!(m, Message::Response { id: Id("\"s1\"") }));
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
    fn fast_and_full_paths_agree_wherever_the_fast_one_answers() {
        let lines = [
            r#"{"jsonrpc":"2.0","id":7,"method":"ping"}"#,
            r#"{"jsonrpc":"2.0","id":"x","method":"tools/call","params":{"name":"echo","arguments":{"text":"a\"b"}}}"#,
            r#"{"jsonrpc":"2.0","method":"notifications/initialized","params":null}"#,
            r#"{"jsonrpc":"2.0","id":"s1","result":{}}"#,
            r#"{"jsonrpc":"2.0","id":"s1","error":{"code":1,"message":"m"}}"#,
            r#"{"id":1,"method":"ping"}"#,
            r#"{"jsonrpc":"2.0","id":1.5,"method":"x"}"#,
            r#"{"jsonrpc":"2.0","id":true,"method":"x"}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":3}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"x","params":[1]}"#,
            r#"{"jsonrpc":"2.0","method":"x","params":"s"}"#,
            r#"{"jsonrpc":"2.0","id":2}"#,
            r#" { "jsonrpc" : "2.0" , "id" : -3 , "method" : "ping" } "#,
        ];
        for line in lines {
            let fast = parse_fast(line.as_bytes()).unwrap_or_else(|| panic!("fast path declined {line}"));
            assert_eq!(summary(fast), summary(parse_full(line.as_bytes())), "{line}");
        }
    }

    #[test]
    fn string_ids_with_invalid_escapes_are_never_echoed() {
        for line in [
            r#"{"jsonrpc":"2.0","id":"a\x","method":"ping"}"#,
            "{\"jsonrpc\":\"2.0\",\"id\":\"a\u{1}\",\"method\":\"ping\"}",
        ] {
            assert!(parse_fast(line.as_bytes()).is_none(), "{line}");
            let e = parse(line.as_bytes()).unwrap_err();
            // sonic-rs refuses some bad escapes outright (-32700) and skips others lazily, which
            // the id check then refuses (-32600): either way one answer, with `id: null`.
            assert_eq!(e.id, None, "{line}");
            assert!([code::PARSE_ERROR, code::INVALID_REQUEST].contains(&e.error.code), "{line}");
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
