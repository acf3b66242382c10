//! The fast JSON path: finds the members of one JSON object as raw spans of the input,
//! without building a value tree, and validates the whole text on the way. MCP messages are
//! small objects whose few top-level fields (`jsonrpc`, `id`, `method`, `params`, a tool's
//! `arguments`) are all the engine reads, so locating them is most of the parsing there is to
//! do (bench/micro/engine.rs measures it).
//!
//! The scan is strict (RFC 8259) over every byte, including values nobody reads: literals,
//! numbers, string escapes and control bytes, commas, colons, brackets balanced and matched.
//! It never recurses: nested values are walked with a bit stack of at most
//! [`JSON_DEPTH_CAP`] levels, and nesting past the caller's limit is [`ScanError::TooDeep`],
//! so no parser that recurses (sonic-rs, serde) ever sees a document deeper than that limit.
//! The text is a `&str`, so UTF-8 is already proven; lone UTF-16 surrogates in `\u` escapes
//! are grammatical JSON and pass (whoever unescapes a string decides about them).

use crate::limits::JSON_DEPTH_CAP;

/// Why a text was not walked (or not wholly).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanError {
    /// Not valid JSON (RFC 8259), or (for [`members`]) not one object.
    Syntax,
    /// Valid as far as it was read, but nested deeper than the limit. Every member at the top
    /// level was still found (the deep value skipped by counting brackets), so an `id` can
    /// still be read; the inside of the deep value was not validated.
    TooDeep,
    /// Valid JSON, but a key of the walked object has escapes, so comparing raw keys would be
    /// wrong: unescape with a full parser (safe: the text is valid and not too deep).
    EscapedKey,
}

/// The JSON type of a value, from its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `"…"`.
    String,
    /// `-?digits…`.
    Number,
    /// `{…}`.
    Object,
    /// `[…]`.
    Array,
    /// `true` / `false`.
    Bool,
    /// `null`.
    Null,
}

/// One member of an object: its key (raw, without quotes) and the raw text of its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member<'a> {
    /// The key, without quotes (escapes left in: see [`ScanError::EscapedKey`]).
    pub key: &'a [u8],
    /// The value's raw JSON text.
    pub value: &'a [u8],
    /// The value's type.
    pub kind: Kind,
    /// A string without escapes: its contents are the raw bytes between the quotes.
    pub plain: bool,
}

/// Calls `f` with each member of the object `text` (one object with nothing but whitespace
/// around it), in order; `f` returning `false` stops the calls, not the validation. Nesting
/// may go as deep as [`JSON_DEPTH_CAP`]; for a message from a peer use [`members_within`].
///
/// Errors: see [`ScanError`]; with `TooDeep` or `EscapedKey`, `f` has seen the members.
pub fn members<'a>(text: &'a str, f: impl FnMut(Member<'a>) -> bool) -> Result<(), ScanError> {
    members_within(text, JSON_DEPTH_CAP, f)
}

/// [`members`] with nesting limited to `depth_max` levels (the object itself is level 1).
pub fn members_within<'a>(
    text: &'a str,
    depth_max: usize,
    mut f: impl FnMut(Member<'a>) -> bool,
) -> Result<(), ScanError> {
    let (text, depth_max) = (text.as_bytes(), depth_max.min(JSON_DEPTH_CAP));
    let mut i = skip_ws(text, 0);
    if text.get(i) != Some(&b'{') {
        return Err(ScanError::Syntax);
    }
    if depth_max == 0 {
        return Err(ScanError::TooDeep);
    }
    i = skip_ws(text, i + 1);
    if text.get(i) == Some(&b'}') {
        return only_whitespace_after(text, i + 1);
    }
    let (mut go_on, mut outcome) = (true, Ok(()));
    loop {
        if text.get(i) != Some(&b'"') {
            return Err(ScanError::Syntax);
        }
        let (key_end, escaped) = string_end(text, i)?;
        if escaped && outcome.is_ok() {
            outcome = Err(ScanError::EscapedKey);
        }
        let key = &text[i + 1..key_end - 1];
        i = colon(text, key_end)?;
        match value_end(text, i, 1, depth_max) {
            Ok((end, kind, escaped)) => {
                if go_on {
                    go_on = f(Member { key, value: &text[i..end], kind, plain: kind == Kind::String && !escaped });
                }
                i = end;
            }
            Err(ScanError::TooDeep) => {
                outcome = Err(ScanError::TooDeep);
                i = skip_counting(text, i)?;
            }
            Err(e) => return Err(e),
        }
        i = skip_ws(text, i);
        match text.get(i) {
            Some(b',') => i = skip_ws(text, i + 1),
            Some(b'}') => return only_whitespace_after(text, i + 1).and(outcome),
            _ => return Err(ScanError::Syntax),
        }
    }
}

/// Validates `text` as one JSON value of any type (whitespace around it allowed), nested at
/// most `depth_max` levels, and tells its kind.
pub fn validate(text: &str, depth_max: usize) -> Result<Kind, ScanError> {
    let (text, depth_max) = (text.as_bytes(), depth_max.min(JSON_DEPTH_CAP));
    let start = skip_ws(text, 0);
    let (end, kind, _) = value_end(text, start, 0, depth_max)?;
    only_whitespace_after(text, end).map(|()| kind)
}

/// [`members`] for text that is valid already: a span of a message that [`members_within`]
/// accepted (`params`, a tool's `arguments`, `_meta`), or JSON a serializer wrote. It only
/// finds boundaries — strings by their quotes, containers by counting brackets — which is
/// what makes the second and third walk of a request cheap (bench/README.md). On text that
/// is not valid it may give wrong spans or an error, never a panic.
///
/// Errors: [`ScanError::Syntax`] where the boundaries do not add up, [`ScanError::EscapedKey`]
/// as in [`members`].
pub fn members_of_valid<'a>(text: &'a str, mut f: impl FnMut(Member<'a>) -> bool) -> Result<(), ScanError> {
    let text = text.as_bytes();
    let mut i = skip_ws(text, 0);
    if text.get(i) != Some(&b'{') {
        return Err(ScanError::Syntax);
    }
    i = skip_ws(text, i + 1);
    if text.get(i) == Some(&b'}') {
        return Ok(());
    }
    let (mut go_on, mut outcome) = (true, Ok(()));
    loop {
        if text.get(i) != Some(&b'"') {
            return Err(ScanError::Syntax);
        }
        let (key_end, escaped) = quoted_end(text, i)?;
        if escaped {
            outcome = Err(ScanError::EscapedKey);
        }
        let key = &text[i + 1..key_end - 1];
        i = colon(text, key_end)?;
        let (end, kind, plain) = match text.get(i) {
            Some(b'"') => {
                let (end, escaped) = quoted_end(text, i)?;
                (end, Kind::String, !escaped)
            }
            Some(b'{') => (skip_counting(text, i)?, Kind::Object, false),
            Some(b'[') => (skip_counting(text, i)?, Kind::Array, false),
            Some(&b) => {
                let end = i + text[i..]
                    .iter()
                    .position(|&c| matches!(c, b',' | b'}' | b' ' | b'\t' | b'\n' | b'\r'))
                    .ok_or(ScanError::Syntax)?;
                let kind = match b {
                    b't' | b'f' => Kind::Bool,
                    b'n' => Kind::Null,
                    _ => Kind::Number,
                };
                (end, kind, false)
            }
            None => return Err(ScanError::Syntax),
        };
        if go_on {
            go_on = f(Member { key, value: &text[i..end], kind, plain });
        }
        i = skip_ws(text, end);
        match text.get(i) {
            Some(b',') => i = skip_ws(text, i + 1),
            Some(b'}') => return outcome,
            _ => return Err(ScanError::Syntax),
        }
    }
}

/// The raw value of member `key` of the object `text`, which is valid already (see
/// [`members_of_valid`]); the first, if repeated. `None` if absent or if `text` is not an
/// object.
pub fn get<'a>(text: &'a str, key: &[u8]) -> Option<Member<'a>> {
    let mut found = None;
    members_of_valid(text, |m| {
        if m.key == key {
            found = Some(m);
        }
        found.is_none()
    })
    .ok()?;
    found
}

/// The contents of a string value without escapes, borrowed; `None` if it has escapes (then
/// unescape it with a real parser) or is not a string.
pub fn plain_str(value: &str) -> Option<&str> {
    let inner = value.strip_prefix('"')?.strip_suffix('"')?;
    if inner.bytes().any(|b| b == b'\\' || b < 0x20) {
        return None;
    }
    Some(inner)
}

/// `part` (a span of `text`'s bytes, as [`members`] gives) as a `&str` of `text`. Spans start
/// and end on ASCII bytes, so they are always on character boundaries.
pub fn span_str<'a>(text: &'a str, part: &[u8]) -> &'a str {
    let start = part.as_ptr() as usize - text.as_ptr() as usize;
    &text[start..start + part.len()]
}

/// Whether a number's raw text is an integer (no fraction or exponent).
pub fn is_integer(value: &[u8]) -> bool {
    !value.iter().any(|&b| matches!(b, b'.' | b'e' | b'E'))
}

fn skip_ws(text: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = text.get(i) {
        i += 1;
    }
    i
}

fn only_whitespace_after(text: &[u8], end: usize) -> Result<(), ScanError> {
    if skip_ws(text, end) == text.len() {
        Ok(())
    } else {
        Err(ScanError::Syntax)
    }
}

/// After a key ending at `i`: the colon, and the index of the value after it.
fn colon(text: &[u8], i: usize) -> Result<usize, ScanError> {
    let i = skip_ws(text, i);
    if text.get(i) != Some(&b':') {
        return Err(ScanError::Syntax);
    }
    Ok(skip_ws(text, i + 1))
}

/// A key of a nested object at `i`, its colon, and the index of its value.
fn key(text: &[u8], i: usize) -> Result<usize, ScanError> {
    if text.get(i) != Some(&b'"') {
        return Err(ScanError::Syntax);
    }
    colon(text, string_end(text, i)?.0)
}

/// The index just past the string starting at `start` (which holds its opening quote), and
/// whether it has escapes. Every escape is checked; raw control bytes are refused.
fn string_end(text: &[u8], start: usize) -> Result<(usize, bool), ScanError> {
    let mut i = start + 1;
    let mut escaped = false;
    loop {
        i += special_byte(text.get(i..).unwrap_or_default()).ok_or(ScanError::Syntax)?;
        match text[i] {
            b'"' => return Ok((i + 1, escaped)),
            b'\\' => {
                escaped = true;
                i = escape_end(text, i)?;
            }
            _ => return Err(ScanError::Syntax), // a raw control byte
        }
    }
}

/// [`string_end`] by boundaries only (for valid text): the index just past the closing quote
/// and whether there were escapes.
fn quoted_end(text: &[u8], start: usize) -> Result<(usize, bool), ScanError> {
    let mut i = start + 1;
    let mut escaped = false;
    loop {
        i += quote_or_backslash(text.get(i..).unwrap_or_default()).ok_or(ScanError::Syntax)?;
        if text[i] == b'"' {
            return Ok((i + 1, escaped));
        }
        escaped = true;
        i += 2; // the backslash and the byte it escapes
    }
}

/// [`special_byte`] without the control bytes, for [`quoted_end`].
fn quote_or_backslash(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let zero_bytes = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS;
    let mut chunks = bytes.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().expect("chunks of 8"));
        let hits = zero_bytes(word ^ (ONES * u64::from(b'"'))) | zero_bytes(word ^ (ONES * u64::from(b'\\')));
        if hits != 0 {
            return Some(offset + (hits.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    chunks.remainder().iter().position(|&b| b == b'"' || b == b'\\').map(|p| offset + p)
}

/// The index just past the escape whose backslash is at `i`.
fn escape_end(text: &[u8], i: usize) -> Result<usize, ScanError> {
    match text.get(i + 1) {
        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => Ok(i + 2),
        Some(b'u') if text.get(i + 2..i + 6).is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) => Ok(i + 6),
        _ => Err(ScanError::Syntax),
    }
}

/// The offset of the first `"`, `\` or control byte (< 0x20) in `bytes`, eight bytes at a
/// time: MCP strings are mostly short, where this beats a SIMD search's set-up, and long ones
/// still go 8 per step.
fn special_byte(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // The classic "has a byte less than n" test (n ≤ 128): its lowest set bit marks the first
    // such byte exactly (bits above it may be false), so the lowest bit of the OR of three
    // tests is the first byte that any of them matches.
    let below = |v: u64, n: u8| v.wrapping_sub(ONES * u64::from(n)) & !v & HIGHS;
    let mut chunks = bytes.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().expect("chunks of 8"));
        let hits =
            below(word ^ (ONES * u64::from(b'"')), 1) | below(word ^ (ONES * u64::from(b'\\')), 1) | below(word, 0x20);
        if hits != 0 {
            return Some(offset + (hits.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    chunks.remainder().iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20).map(|p| offset + p)
}

/// The index just past the value starting at `i`, inside a container at level `depth`, its
/// kind, and (for a string) whether it has escapes.
fn value_end(text: &[u8], i: usize, depth: usize, depth_max: usize) -> Result<(usize, Kind, bool), ScanError> {
    match text.get(i) {
        Some(b'"') => string_end(text, i).map(|(end, escaped)| (end, Kind::String, escaped)),
        Some(b'{') => Ok((container_end(text, i, depth, depth_max)?, Kind::Object, false)),
        Some(b'[') => Ok((container_end(text, i, depth, depth_max)?, Kind::Array, false)),
        _ => scalar_end(text, i).map(|(end, kind)| (end, kind, false)),
    }
}

/// A literal or a number at `i`.
fn scalar_end(text: &[u8], i: usize) -> Result<(usize, Kind), ScanError> {
    let literal = |word: &[u8], kind| match text[i..].starts_with(word) {
        true => Ok((i + word.len(), kind)),
        false => Err(ScanError::Syntax),
    };
    match text.get(i) {
        Some(b't') => literal(b"true", Kind::Bool),
        Some(b'f') => literal(b"false", Kind::Bool),
        Some(b'n') => literal(b"null", Kind::Null),
        Some(b'-' | b'0'..=b'9') => Ok((number_end(text, i).ok_or(ScanError::Syntax)?, Kind::Number)),
        _ => Err(ScanError::Syntax),
    }
}

/// JSON number grammar: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
fn number_end(text: &[u8], mut i: usize) -> Option<usize> {
    let digits = |text: &[u8], mut i: usize| {
        let start = i;
        while text.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        (i > start).then_some(i)
    };
    if text[i] == b'-' {
        i += 1;
    }
    i = match text.get(i) {
        Some(b'0') => i + 1,
        Some(b'1'..=b'9') => digits(text, i)?,
        _ => return None,
    };
    if text.get(i) == Some(&b'.') {
        i = digits(text, i + 1)?;
    }
    if let Some(b'e' | b'E') = text.get(i) {
        i += 1;
        if let Some(b'+' | b'-') = text.get(i) {
            i += 1;
        }
        i = digits(text, i)?;
    }
    Some(i)
}

/// Which of the open containers are arrays, one bit a level: the first 64 levels in one word,
/// deeper ones (only in messages nested past 64 levels) in words added on the way, at most
/// [`JSON_DEPTH_CAP`] / 64 of them since the caller's limit is checked before each push.
#[derive(Default)]
struct Brackets {
    low: u64,
    high: Vec<u64>,
    len: usize,
}

impl Brackets {
    fn push(&mut self, is_array: bool) {
        debug_assert!(self.len < JSON_DEPTH_CAP, "the depth limit is checked before a push");
        let bit = self.len % 64;
        let word = match self.len / 64 {
            0 => &mut self.low,
            w if w > self.high.len() => {
                self.high.push(0);
                self.high.last_mut().expect("just pushed")
            }
            w => &mut self.high[w - 1],
        };
        *word = (*word & !(1 << bit)) | (u64::from(is_array) << bit);
        self.len += 1;
    }

    /// Whether the innermost open container is an array; `None` when none is open.
    fn top(&self) -> Option<bool> {
        let last = self.len.checked_sub(1)?;
        let word = if last < 64 { self.low } else { self.high[last / 64 - 1] };
        Some(word >> (last % 64) & 1 == 1)
    }
}

/// The index just past the array or object at `start`, which opens level `depth + 1`: every
/// byte validated, iteratively, refusing any level past `depth_max` (≤ [`JSON_DEPTH_CAP`]).
fn container_end(text: &[u8], start: usize, depth: usize, depth_max: usize) -> Result<usize, ScanError> {
    let mut open = Brackets::default();
    let mut i = start;
    loop {
        // `i` is at a value.
        match text.get(i) {
            Some(&b @ (b'{' | b'[')) => {
                if depth + open.len >= depth_max {
                    return Err(ScanError::TooDeep);
                }
                let is_array = b == b'[';
                open.push(is_array);
                i = skip_ws(text, i + 1);
                if text.get(i) != Some(if is_array { &b']' } else { &b'}' }) {
                    if !is_array {
                        i = key(text, i)?;
                    }
                    continue;
                }
                open.len -= 1;
                i += 1;
            }
            Some(b'"') => i = string_end(text, i)?.0,
            _ => i = scalar_end(text, i)?.0,
        }
        // After a value: close what ends here, then go on to the next element.
        loop {
            let Some(in_array) = open.top() else { return Ok(i) };
            i = skip_ws(text, i);
            match text.get(i) {
                Some(b',') => {
                    i = skip_ws(text, i + 1);
                    if !in_array {
                        i = key(text, i)?;
                    }
                    break;
                }
                Some(b']') if in_array => open.len -= 1,
                Some(b'}') if !in_array => open.len -= 1,
                _ => return Err(ScanError::Syntax),
            }
            i += 1;
        }
    }
}

/// Skips the too-deep container at `start` by counting brackets (strings still checked), so
/// that the members after it can be read: the message is refused anyway, but its `id` can be
/// answered. Linear in the text, whatever its depth.
fn skip_counting(text: &[u8], start: usize) -> Result<usize, ScanError> {
    let (mut i, mut depth) = (start, 0usize);
    while let Some(&b) = text.get(i) {
        match b {
            b'"' => {
                i = quoted_end(text, i)?.0;
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.checked_sub(1).ok_or(ScanError::Syntax)?;
                if depth == 0 {
                    return Ok(i + 1);
                }
            }
            _ => {}
        }
        i += 1;
    }
    Err(ScanError::Syntax)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sonic_rs::JsonContainerTrait;

    fn all(text: &str) -> Option<Vec<(String, String, Kind)>> {
        let mut out = Vec::new();
        members(text, |m| {
            out.push((
                String::from_utf8(m.key.to_vec()).unwrap(),
                String::from_utf8(m.value.to_vec()).unwrap(),
                m.kind,
            ));
            true
        })
        .ok()?;
        Some(out)
    }

    #[test]
    fn members_are_found_with_their_raw_values() {
        let got =
            all(r#" { "a" : 1 , "b":"x\"}","c":{"d":[1,{"e":"]"}]},"f":[],"g":true,"h":null,"i":-1.5e3 } "#).unwrap();
        let want = [
            ("a", "1", Kind::Number),
            ("b", r#""x\"}""#, Kind::String),
            ("c", r#"{"d":[1,{"e":"]"}]}"#, Kind::Object),
            ("f", "[]", Kind::Array),
            ("g", "true", Kind::Bool),
            ("h", "null", Kind::Null),
            ("i", "-1.5e3", Kind::Number),
        ];
        assert_eq!(got, want.map(|(k, v, t)| (k.to_string(), v.to_string(), t)));
        assert_eq!(all("{}").unwrap(), vec![]);
    }

    #[test]
    fn malformed_or_unusual_text_is_refused() {
        for bad in [
            "",
            "[]",
            "{",
            r#"{"a"}"#,
            r#"{"a":}"#,
            r#"{"a":1,}"#,
            r#"{"a":1 "b":2}"#,
            r#"{"a":01}"#,
            r#"{"a":1.}"#,
            r#"{"a":tru}"#,
            r#"{"a":{"b":1]}"#,
            r#"{"a":[1}"#,
            r#"{"a":"unterminated}"#,
            r#"{"a":1} x"#,
            r#"{a:1}"#,
        ] {
            assert_eq!(all(bad), None, "{bad}");
        }
    }

    #[test]
    fn invalid_json_anywhere_is_refused_even_where_nobody_reads() {
        for bad in [
            r#"{"a":{"b":tru}}"#,
            r#"{"a":[01]}"#,
            r#"{"a":['x']}"#,
            r#"{"a":[1,]}"#,
            r#"{"a":{"b":1,}}"#,
            r#"{"a":[NaN]}"#,
            r#"{"a":{"b" 1}}"#,
            r#"{"a":{"b":"x\q"}}"#,
            "{\"a\":{\"b\":\"\u{0}\"}}",
            "{\"a\":\"tab\there\"}",
            r#"{"a":"\u12"}"#,
            r#"{"a":[1 2]}"#,
            r#"{"a":{"b"}}"#,
            r#"{"a":{1:2}}"#,
            r#"{"a":[}"#,
            r#"{"a":{]}"#,
            r#"{"a":[-]}"#,
            r#"{"a":[1.e3]}"#,
            r#"{"a":[+1]}"#,
            r#"{"a":[.5]}"#,
            r#"{"a":[truex]}"#,
        ] {
            assert_eq!(members(bad, |_| true), Err(ScanError::Syntax), "{bad}");
        }
        // Grammatical, if odd: lone surrogates, deep-but-allowed nesting, every escape.
        for good in [r#"{"a":"\ud800"}"#, r#"{"a":"\"\\\/\b\f\n\r\t\u00E9"}"#, r#"{"a":[[],{},[{}],{"b":[]}]}"#] {
            assert_eq!(members(good, |_| true), Ok(()), "{good}");
        }
    }

    #[test]
    fn special_byte_finds_the_first_at_every_offset() {
        for len in 0..40 {
            for at in 0..len {
                for hit in [b'"', b'\\', 0, 0x1F, b'\n'] {
                    let mut bytes = vec![b'a'; len];
                    bytes[at] = hit;
                    if at + 1 < len {
                        bytes[at + 1] = b'"';
                    }
                    assert_eq!(special_byte(&bytes), Some(at), "len {len} at {at}");
                }
            }
            // Bytes that differ from the targets by one bit (or are just above 0x1F) must not match.
            let near: Vec<u8> = (0..len).map(|i| [b'#', b'!', b']', b'|', 0xA2, 0xDC, b' ', 0x7F][i % 8]).collect();
            assert_eq!(special_byte(&near), None, "len {len}");
        }
    }

    #[test]
    fn nesting_past_the_limit_is_too_deep_but_the_other_members_are_found() {
        let nest = |n: usize| format!(r#"{{"a":{}{},"id":7}}"#, "[".repeat(n), "]".repeat(n));
        let mut keys = Vec::new();
        let deep = nest(64);
        assert_eq!(
            members_within(&deep, 64, |m| {
                keys.push(m.key);
                true
            }),
            Err(ScanError::TooDeep)
        );
        assert_eq!(keys, [b"id"]);
        assert_eq!(members_within(&nest(63), 64, |_| true), Ok(()));
        // A million levels: linear, no recursion, no stack.
        assert_eq!(members_within(&nest(1_000_000), 128, |_| true), Err(ScanError::TooDeep));
        let unclosed = format!(r#"{{"a":{}"#, "[".repeat(1_000_000));
        assert_eq!(members_within(&unclosed, 128, |_| true), Err(ScanError::Syntax));
        assert_eq!(validate(&"[".repeat(100_000), 128), Err(ScanError::TooDeep));
        assert_eq!(validate(&format!("{}{}", "[".repeat(128), "]".repeat(128)), 128), Ok(Kind::Array));
        assert_eq!(validate(&format!("{}{}", "[".repeat(129), "]".repeat(129)), 128), Err(ScanError::TooDeep));
        // Past 64 levels the bit stack crosses words: mixed kinds must still match.
        let mixed: String = (0..300).map(|i| if i % 3 == 0 { "[" } else { "{\"k\":" }).collect();
        let closing: String = (0..300).rev().map(|i| if i % 3 == 0 { "]" } else { "}" }).collect();
        assert_eq!(validate(&format!("{mixed}1{closing}"), 1024), Ok(Kind::Array));
        let swapped = format!("{mixed}1{}", closing.replacen('}', "]", 1));
        assert_eq!(validate(&swapped, 1024), Err(ScanError::Syntax));
    }

    /// On every text the strict walk accepts, the boundary-only walk finds the same members.
    #[test]
    fn the_walk_of_valid_text_agrees_with_the_strict_one() {
        let texts = [
            r#" { "a" : 1 , "b":"x\"}","c":{"d":[1,{"e":"]"}]},"f":[],"g":true,"h":null,"i":-1.5e3 } "#,
            r#"{"name":"echo","arguments":{"text":"h\u00e9 \\ \"q\""},"_meta":{"progressToken":7}}"#,
            r#"{}"#,
            r#"{"a\u0041":[[{"b":"}"}]],"n":false}"#,
        ];
        for text in texts {
            let (mut strict, mut loose) = (Vec::new(), Vec::new());
            let a = members(text, |m| {
                strict.push(m);
                true
            });
            let b = members_of_valid(text, |m| {
                loose.push(m);
                true
            });
            assert_eq!((a, strict), (b, loose), "{text}");
        }
        // Invalid text gives an error or some spans, never a panic.
        for bad in ["", "{", r#"{"a"#, r#"{"a":"#, r#"{"a":[}"#, r#"{"a":1"#, r#"{"a":"x\"#] {
            let _ = members_of_valid(bad, |_| true);
        }
    }

    #[test]
    fn escaped_keys_are_valid_but_flagged() {
        assert_eq!(members(r#"{"a\u0041":1,"b":2}"#, |_| true), Err(ScanError::EscapedKey));
        assert_eq!(members(r#"{"a\u0041":1,"b":[1,}"#, |_| true), Err(ScanError::Syntax));
    }

    #[test]
    fn get_and_plain_str_read_single_values() {
        let text = r#"{"name":"echo","arguments":{"text":"hi"},"name":"later"}"#;
        let name = get(text, b"name").unwrap().value;
        assert_eq!(name, br#""echo""#);
        assert_eq!(plain_str(span_str(text, name)), Some("echo"));
        assert_eq!(plain_str(r#""a\nb""#), None);
        assert!(get(text, b"missing").is_none());
        assert!(is_integer(b"-12") && !is_integer(b"1.0") && !is_integer(b"1e3"));
    }

    /// Whatever the scanner accepts, sonic-rs must accept and parse to the same members (a seeded sweep
    /// over mutations of real MCP messages).
    #[test]
    fn accepted_text_agrees_with_sonic() {
        let seeds = [
            r#"{"jsonrpc":"2.0","id":12345,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello \"world\" \u00e9"}}}"#,
            r#"{"jsonrpc":"2.0","id":"a-1","method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{"x":[1,2.5e-3,null,true]},"clientInfo":{}}}"#,
        ];
        let mut rng = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let alphabet = br#"{}[]":,\ 0123456789.eE+-truefalsn"#;
        for seed in seeds {
            for _ in 0..20_000 {
                let mut text = seed.as_bytes().to_vec();
                for _ in 0..1 + next() % 3 {
                    let at = (next() % text.len() as u64) as usize;
                    match next() % 3 {
                        0 => text[at] = alphabet[(next() % alphabet.len() as u64) as usize],
                        1 => drop(text.remove(at)),
                        _ => text.insert(at, alphabet[(next() % alphabet.len() as u64) as usize]),
                    }
                }
                let Some(ours) = all(std::str::from_utf8(&text).unwrap_or("")) else { continue };
                let theirs: Result<sonic_rs::Value, _> = sonic_rs::from_slice(&text);
                let shown = String::from_utf8_lossy(&text);
                let theirs = match theirs {
                    Ok(theirs) => theirs,
                    // Grammatical numbers out of f64 range (1e999) are sonic's to refuse.
                    Err(e) if e.to_string().contains("number") => continue,
                    Err(e) => panic!("scanner accepted what sonic refuses ({e}): {shown}"),
                };
                let object = theirs.as_object().expect("an object");
                for (k, v, _) in &ours {
                    if ours.iter().filter(|(k2, _, _)| k2 == k).count() > 1 {
                        continue; // which duplicate wins is the parser's choice
                    }
                    let theirs = object.get(k).unwrap_or_else(|| panic!("{k} in {shown}"));
                    let ours: sonic_rs::Value = sonic_rs::from_str(v).unwrap();
                    assert_eq!(&ours, theirs, "{k} in {shown}");
                }
            }
        }
    }
}
