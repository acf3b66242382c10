//! A JSON-RPC 2.0 oracle that shares no code with ringmcp, for tests/robustness.rs and the fuzz
//! targets under tests/fuzz/ (which include this file with `#[path]`).
//!
//! What is JSON is decided by serde_json in strict mode: deserializing into `IgnoredAny` checks
//! the RFC 8259 grammar exactly (no trailing commas, `NaN`, bad escapes or raw control bytes) and
//! accepts what that grammar accepts (lone surrogate escapes, numbers out of f64 range such as
//! `1e999`); a bracket count outside strings gives the depth, over [`DEPTH_MAX`] is refused. The
//! two things RFC 8259 lets a parser refuse although its grammar allows them (numbers out of
//! range, §6; unpaired surrogate escapes, §8.2) are left to the parser ([`Line::Limited`]). The
//! JSON-RPC rules (what is a request, a notification, a response) are written out below.
//!
//! [`check_session`] then decides whether a server's output answers a list of input lines:
//! exactly one answer per request, none per notification or response, one error per line that
//! is not a message, every output line valid JSON.

#![allow(dead_code)] // each includer uses a different subset

use serde::de::{Deserializer as _, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::Value;
use std::collections::HashMap;

/// Deepest nesting a message may have (a bare `{}` is 1); deeper is refused (-32600 or -32700).
pub const DEPTH_MAX: usize = 128;

/// JSON-RPC error codes the oracle tells apart.
pub const PARSE_ERROR: i64 = -32700;
/// See [`PARSE_ERROR`].
pub const INVALID_REQUEST: i64 = -32600;
/// See [`PARSE_ERROR`].
pub const INVALID_PARAMS: i64 = -32602;

/// What one input line is, by the oracle's reading.
#[derive(Debug)]
pub enum Line<'a> {
    /// Empty or JSON whitespace only: skipped, never answered.
    Blank,
    /// Other ASCII whitespace only (form feed): not JSON, but skipping it as blank is defensible.
    OddBlank,
    /// Not UTF-8, or not RFC 8259 JSON: one error (-32700, or -32600), id null or an id found in
    /// the text (`ids`, a lenient textual search).
    NotJson { ids: Vec<Id<'a>> },
    /// Valid JSON nested deeper than [`DEPTH_MAX`]: one error (-32600 or -32700), id null or its id.
    TooDeep { id: Option<Id<'a>> },
    /// Valid JSON that is not an object (a batch, a scalar): one -32600, id null.
    NotObject,
    /// An object with a member JSON-RPC reads (`jsonrpc`, `id`, `method`, `params`, `result`,
    /// `error`) given twice: which one counts is the parser's choice (RFC 8259 §4), so this is
    /// one answer or none, never -32700, with id null or one of `ids`.
    Duplicate { ids: Vec<Id<'a>> },
    /// An object that is not a valid message (`jsonrpc` not "2.0", `method` not a string, an id
    /// that is neither a string nor an integer, no method and no result/error): one -32600, id
    /// null or its own id.
    BadMessage { id: Option<Id<'a>> },
    /// A request: exactly one answer with its id; -32602 if `params` is not an object or null.
    Request {
        /// The id to answer to.
        id: Id<'a>,
        /// The method, unescaped (`None` if it holds a lone surrogate).
        method: Option<String>,
        /// The `params` member.
        params: Params<'a>,
    },
    /// A notification (no id): never answered.
    Notification {
        /// The method, unescaped (`None` if it holds a lone surrogate).
        method: Option<String>,
        /// The `params` member.
        params: Params<'a>,
    },
    /// A response (`jsonrpc` "2.0", no method, a result or error, any id including null): never
    /// answered, or two peers could answer each other forever.
    Response { id: &'a RawValue },
    /// No method, a result or error, but no id or no `jsonrpc: "2.0"`: a malformed response,
    /// where one -32600 or none are both defensible.
    OddResponse { id: Option<Id<'a>> },
    /// Valid JSON holding a number out of f64 range or an unpaired surrogate escape (see
    /// [`has_limited`]): the parser may take it as the line it is, or refuse it (-32700 or
    /// -32600, id null or its own).
    Limited(Box<Line<'a>>),
}

/// A request id: a JSON string or integer, as its raw text.
#[derive(Debug, Clone, Copy)]
pub struct Id<'a> {
    /// The raw JSON text of the id.
    pub raw: &'a str,
}

impl Id<'_> {
    /// The id as its comparison key (see [`id_key`]).
    pub fn key(&self) -> String {
        id_key(self.raw)
    }
}

/// A message's `params` member.
#[derive(Debug, Clone, Copy)]
pub enum Params<'a> {
    /// Absent.
    Absent,
    /// `null`.
    Null,
    /// An object, as raw JSON.
    Object(&'a RawValue),
    /// Anything else (an array, a string, …).
    Other,
}

/// The key two ids are compared by: the id parsed as a JSON value and written back (so `1` and
/// `"1"` differ, `"\u0041"` and `"A"` agree), or the raw text where serde_json cannot hold the
/// value (lone surrogates).
pub fn id_key(raw: &str) -> String {
    serde_json::from_str::<Value>(raw).map_or_else(|_| raw.trim().to_string(), |v| v.to_string())
}

/// Classifies one line (without its line ending).
pub fn classify(line: &[u8]) -> Line<'_> {
    if line.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r')) {
        return Line::Blank;
    }
    if line.iter().all(u8::is_ascii_whitespace) {
        return Line::OddBlank;
    }
    let Some(text) = std::str::from_utf8(line).ok().filter(|t| is_json(t)) else {
        return Line::NotJson { ids: ids_in_text(line) };
    };
    let Some(members) = members(text) else {
        return if depth(text.as_bytes()) > DEPTH_MAX {
            Line::TooDeep { id: None }
        } else {
            limited(text, Line::NotObject)
        };
    };
    if depth(text.as_bytes()) > DEPTH_MAX {
        return Line::TooDeep { id: member(&members, "id").and_then(as_id) };
    }
    limited(text, classify_object(&members))
}

fn limited<'a>(text: &str, line: Line<'a>) -> Line<'a> {
    if has_limited(text) {
        Line::Limited(Box::new(line))
    } else {
        line
    }
}

/// JSON-RPC's rules for an object, given its members in order.
fn classify_object<'a>(members: &[(String, &'a RawValue)]) -> Line<'a> {
    const ENVELOPE: [&str; 6] = ["jsonrpc", "id", "method", "params", "result", "error"];
    let count = |key: &str| members.iter().filter(|(k, _)| k == key).count();
    if ENVELOPE.iter().any(|key| count(key) > 1) {
        let ids = members.iter().filter(|(k, _)| k == "id").filter_map(|(_, v)| as_id(v)).collect();
        return Line::Duplicate { ids };
    }
    let get = |key: &str| member(members, key);
    let jsonrpc_ok = get("jsonrpc").is_some_and(|v| serde_json::from_str::<String>(v.get()).is_ok_and(|s| s == "2.0"));
    let id = get("id").and_then(as_id);
    let Some(method) = get("method") else {
        let answer = get("result").is_some() || get("error").is_some();
        return match (answer, jsonrpc_ok, get("id")) {
            (true, true, Some(raw_id)) => Line::Response { id: raw_id },
            (true, _, _) => Line::OddResponse { id },
            (false, _, _) => Line::BadMessage { id },
        };
    };
    if !jsonrpc_ok || !method.get().starts_with('"') || (get("id").is_some() && id.is_none()) {
        return Line::BadMessage { id };
    }
    let method = serde_json::from_str::<String>(method.get()).ok();
    let params = match get("params") {
        None => Params::Absent,
        Some(p) if p.get() == "null" => Params::Null,
        Some(p) if p.get().starts_with('{') => Params::Object(p),
        Some(_) => Params::Other,
    };
    match id {
        Some(id) => Line::Request { id, method, params },
        None => Line::Notification { method, params },
    }
}

/// Whether `text` is RFC 8259 JSON (one value, whitespace around it allowed).
pub fn is_json(text: &str) -> bool {
    serde_json::from_str::<IgnoredAny>(text).is_ok()
}

/// The deepest nesting of brackets outside strings (exact for valid JSON).
pub fn depth(text: &[u8]) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0, false, false);
    for &b in text {
        match (in_string, escaped, b) {
            (true, true, _) => escaped = false,
            (true, false, b'\\') => escaped = true,
            (true, false, b'"') => in_string = false,
            (true, false, _) => {}
            (false, _, b'"') => in_string = true,
            (false, _, b'[' | b'{') => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            (false, _, b']' | b'}') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// Whether valid JSON `text` holds what RFC 8259 allows but lets a parser refuse: a number out
/// of f64 range (§6, e.g. `1e999`) or a `\u` escape of an unpaired surrogate (§8.2).
pub fn has_limited(text: &str) -> bool {
    let b = text.as_bytes();
    let hex = |at: usize| b.get(at..at + 4).and_then(|h| u16::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
    let is_low = |at: usize| {
        b.get(at..at + 2) == Some(&b"\\u"[..]) && hex(at + 2).is_some_and(|c| (0xDC00..0xE000).contains(&c))
    };
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    match (b[i], b.get(i + 1)) {
                        (b'\\', Some(b'u')) => match hex(i + 2) {
                            Some(0xD800..=0xDBFF) if is_low(i + 6) => i += 12,
                            Some(0xD800..=0xDFFF) => return true,
                            _ => i += 6,
                        },
                        (b'\\', _) => i += 2,
                        _ => i += 1,
                    }
                }
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < b.len() && matches!(b[i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9') {
                    i += 1;
                }
                if text[start..i].parse::<f64>().map_or(true, f64::is_infinite) {
                    return true;
                }
            }
            _ => i += 1,
        }
    }
    false
}

/// The members of a JSON object in order, duplicates kept; `None` if `text` is not an object.
/// `text` must be valid JSON.
pub fn members(text: &str) -> Option<Vec<(String, &RawValue)>> {
    struct Members;
    impl<'de> Visitor<'de> for Members {
        type Value = Vec<(String, &'de RawValue)>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(key) = map.next_key::<Key>()? {
                out.push((key.0, map.next_value()?));
            }
            Ok(out)
        }
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let members = de.deserialize_map(Members).ok()?;
    de.end().ok()?;
    Some(members)
}

/// An object key, unescaped; a key holding a lone surrogate keeps its raw spelling (no
/// envelope key can be spelled that way).
struct Key(String);

impl<'de> serde::Deserialize<'de> for Key {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E>(self, s: &str) -> Result<Key, E> {
                Ok(Key(s.to_string()))
            }
            fn visit_bytes<E>(self, b: &[u8]) -> Result<Key, E> {
                Ok(Key(String::from_utf8_lossy(b).into_owned()))
            }
        }
        d.deserialize_bytes(KeyVisitor)
    }
}

/// The last member named `key` (only used once duplicates are ruled out).
fn member<'a>(members: &[(String, &'a RawValue)], key: &str) -> Option<&'a RawValue> {
    members.iter().rev().find(|(k, _)| k == key).map(|(_, v)| *v)
}

/// `v` as a request id: a string, or a number without fraction or exponent.
pub fn as_id(v: &RawValue) -> Option<Id<'_>> {
    let raw = v.get();
    let integer = raw.bytes().all(|b| b == b'-' || b.is_ascii_digit()) && !raw.is_empty();
    (raw.starts_with('"') || integer).then_some(Id { raw })
}

/// Ids a line that is not JSON could be taken to carry: every `"id": <string or integer>` in
/// the text. Lenient on purpose: such a line may be answered with id null or with one of these.
fn ids_in_text(line: &[u8]) -> Vec<Id<'_>> {
    let Ok(text) = std::str::from_utf8(line) else { return Vec::new() };
    let mut ids = Vec::new();
    for (at, _) in text.match_indices("\"id\"") {
        let rest = text[at + 4..].trim_start_matches([' ', '\t', '\r']);
        let Some(rest) = rest.strip_prefix(':') else { continue };
        let rest = rest.trim_start_matches([' ', '\t', '\r']);
        let end = if rest.starts_with('"') {
            string_token_end(rest)
        } else {
            let digits = rest.strip_prefix('-').unwrap_or(rest);
            let n = digits.bytes().take_while(u8::is_ascii_digit).count();
            (n > 0).then_some(rest.len() - digits.len() + n)
        };
        if let Some(raw) = end.map(|end| &rest[..end]).filter(|raw| is_json(raw)) {
            ids.push(Id { raw });
        }
    }
    ids
}

/// The length of the JSON string token at the start of `text` (escapes skipped over).
fn string_token_end(text: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, b) in text.bytes().enumerate().skip(1) {
        match (escaped, b) {
            (true, _) => escaped = false,
            (false, b'\\') => escaped = true,
            (false, b'"') => return Some(i + 1),
            _ => {}
        }
    }
    None
}

/// What kind of answer an output line is, for matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Result,
    ParseError,
    InvalidRequest,
    OtherError,
}

/// What one input line may be answered with.
struct Demand {
    /// The line must get an answer (else: it may get one).
    must: bool,
    /// Acceptable (id key, kind) pairs.
    accepts: Vec<(String, Kind)>,
    /// The input line, for messages.
    line: String,
}

/// Checks that `output` (what the server wrote) answers `lines` (what it read, one message per
/// line, without line endings) as JSON-RPC 2.0 requires. Answers are matched to lines by id and
/// kind; since ids may repeat in the input, the check is that some one-to-one matching exists in
/// which every request and every invalid line gets exactly one answer, notifications and
/// responses none, and no answer is left over. `Err` says what is missing or extra.
pub fn check_session(lines: &[&str], output: &str) -> Result<(), String> {
    let demands: Vec<Demand> = lines.iter().filter_map(|line| demand(line)).collect();
    let mut answers: Vec<(String, Kind)> = Vec::new();
    for out in output.lines() {
        if let Some(answer) = read_answer(out)? {
            answers.push(answer);
        }
    }
    let mut groups: HashMap<(String, Kind), usize> = HashMap::new();
    for a in &answers {
        *groups.entry(a.clone()).or_default() += 1;
    }
    let keys: Vec<(String, Kind)> = groups.keys().cloned().collect();
    let index: HashMap<&(String, Kind), usize> = keys.iter().enumerate().map(|(i, k)| (k, i)).collect();
    let capacity: Vec<usize> = keys.iter().map(|k| groups[k]).collect();
    let edges: Vec<Vec<usize>> =
        demands.iter().map(|d| d.accepts.iter().filter_map(|a| index.get(a).copied()).collect()).collect();
    let mut m = Matching { edges: &edges, capacity: &capacity, holders: vec![Vec::new(); keys.len()] };
    let mut unanswered = Vec::new();
    for (i, d) in demands.iter().enumerate().filter(|(_, d)| d.must) {
        if !m.assign(i, &mut vec![false; keys.len()]) {
            unanswered.push(d.line.as_str());
        }
    }
    for (i, _) in demands.iter().enumerate().filter(|(_, d)| !d.must) {
        m.assign(i, &mut vec![false; keys.len()]);
    }
    let extra: Vec<String> = keys
        .iter()
        .zip(&m.holders)
        .filter(|(k, held)| held.len() < groups[*k])
        .map(|(k, held)| format!("{} × id {} {:?}", groups[k] - held.len(), k.0, k.1))
        .collect();
    if unanswered.is_empty() && extra.is_empty() {
        return Ok(());
    }
    let shown: Vec<&str> = unanswered.iter().take(5).copied().collect();
    Err(format!(
        "{} line(s) without their answer (first: {shown:?}); answers no line accounts for: {extra:?}",
        unanswered.len()
    ))
}

/// What answers `line` may get; `None` for a line that gets none.
fn demand(line: &str) -> Option<Demand> {
    let (must, accepts) = accepts(&classify(line.as_bytes()))?;
    Some(Demand { must, accepts, line: line.to_string() })
}

/// Whether a line must be answered, and the (id, kind) pairs it may be answered with; `None`
/// for a line that gets no answer.
fn accepts(class: &Line<'_>) -> Option<(bool, Vec<(String, Kind)>)> {
    use Kind::*;
    let ids = |ids: &[Id<'_>]| -> Vec<String> {
        std::iter::once("null".to_string()).chain(ids.iter().map(Id::key)).collect()
    };
    let (must, ids, kinds): (bool, Vec<String>, &[Kind]) = match class {
        Line::Blank | Line::Notification { .. } | Line::Response { .. } => return None,
        Line::OddBlank => (false, ids(&[]), &[ParseError, InvalidRequest]),
        Line::NotJson { ids: found } => (true, ids(found), &[ParseError, InvalidRequest]),
        Line::TooDeep { id } => (true, ids(id.as_slice()), &[InvalidRequest, ParseError]),
        Line::NotObject => (true, ids(&[]), &[InvalidRequest]),
        Line::Duplicate { ids: found } => (false, ids(found), &[Result, InvalidRequest, OtherError]),
        Line::BadMessage { id } => (true, ids(id.as_slice()), &[InvalidRequest]),
        Line::OddResponse { id } => (false, ids(id.as_slice()), &[InvalidRequest]),
        // Any answer but "invalid JSON": a valid request may still fail (unknown method, bad
        // params, a request before initialize).
        Line::Request { id, .. } => (true, vec![id.key()], &[Result, InvalidRequest, OtherError]),
        Line::Limited(inner) => {
            let (must, mut accepts) = accepts(inner).unwrap_or((false, Vec::new()));
            let mut ids: Vec<String> = accepts.iter().map(|(id, _)| id.clone()).collect();
            ids.push("null".into());
            accepts.extend(ids.into_iter().flat_map(|id| [(id.clone(), ParseError), (id, InvalidRequest)]));
            return Some((must, accepts));
        }
    };
    Some((must, ids.iter().flat_map(|id| kinds.iter().map(move |k| (id.clone(), *k))).collect()))
}

/// Reads one output line: `Ok(None)` for a message from the server (a request or notification
/// of its own), `Ok(Some)` for an answer, `Err` if it is not a well-formed JSON-RPC answer.
fn read_answer(out: &str) -> Result<Option<(String, Kind)>, String> {
    if !is_json(out) {
        return Err(format!("output line is not JSON: {out}"));
    }
    let fields = members(out).ok_or_else(|| format!("output line is not an object: {out}"))?;
    let get = |key: &str| member(&fields, key);
    if get("jsonrpc").map(RawValue::get) != Some("\"2.0\"") {
        return Err(format!("output line without \"jsonrpc\":\"2.0\": {out}"));
    }
    if get("method").is_some() {
        return Ok(None);
    }
    let id = get("id").ok_or_else(|| format!("answer without id: {out}"))?;
    let kind = match (get("result"), get("error")) {
        (Some(_), None) if id.get() != "null" => Kind::Result,
        (None, Some(error)) => {
            let code = members(error.get())
                .and_then(|m| member(&m, "code").and_then(|c| c.get().parse::<i64>().ok()))
                .ok_or_else(|| format!("error without an integer code: {out}"))?;
            match code {
                PARSE_ERROR => Kind::ParseError,
                INVALID_REQUEST => Kind::InvalidRequest,
                _ => Kind::OtherError,
            }
        }
        _ => return Err(format!("answer needs exactly one of result and error, and a result an id: {out}")),
    };
    Ok(Some((id_key(id.get()), kind)))
}

/// Bipartite matching of lines (left) to answer groups with capacities (right), by augmenting
/// paths: a line takes a free slot of a group it accepts, or displaces a holder that can move.
struct Matching<'a> {
    edges: &'a [Vec<usize>],
    capacity: &'a [usize],
    holders: Vec<Vec<usize>>,
}

impl Matching<'_> {
    fn assign(&mut self, line: usize, seen: &mut [bool]) -> bool {
        for &g in &self.edges[line] {
            if std::mem::replace(&mut seen[g], true) {
                continue;
            }
            if self.holders[g].len() < self.capacity[g] {
                self.holders[g].push(line);
                return true;
            }
            for slot in 0..self.holders[g].len() {
                let other = self.holders[g][slot];
                if self.assign(other, seen) {
                    self.holders[g][slot] = line;
                    return true;
                }
            }
        }
        false
    }
}
