//! The fast JSON path: finds the members of one JSON object as raw spans of the input,
//! without building a value tree. MCP messages are small objects whose few top-level fields
//! (`jsonrpc`, `id`, `method`, `params`, a tool's `arguments`) are all the engine reads, so
//! locating them is most of the parsing there is to do (bench/micro/engine.rs measures it).
//!
//! The scan is strict about the object it walks (keys, colons, commas, numbers, literals,
//! string ends) and structural about nested values (brackets balanced and matched, strings
//! terminated); it gives up (`None`) on anything else — escaped keys, nesting deeper than
//! [`DEPTH_MAX`], malformed text — and the caller falls back to the full sonic-rs parse,
//! which decides. Values a method goes on to read are parsed strictly then.

/// Deepest nesting the structural skip follows before giving up (the fallback handles more).
pub const DEPTH_MAX: usize = 64;

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

/// One member of an object: its key (unescaped, since escaped keys are refused) and the raw
/// text of its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member<'a> {
    /// The key, without quotes.
    pub key: &'a [u8],
    /// The value's raw JSON text.
    pub value: &'a [u8],
    /// The value's type.
    pub kind: Kind,
}

/// Calls `f` with each member of the object `text` (which must be one object with nothing but
/// whitespace around it), in order; `f` returning `false` stops early. `None` if the text is
/// not something this scanner accepts (see the module doc).
pub fn members<'a>(text: &'a [u8], mut f: impl FnMut(Member<'a>) -> bool) -> Option<()> {
    let mut i = skip_ws(text, 0);
    if text.get(i) != Some(&b'{') {
        return None;
    }
    i = skip_ws(text, i + 1);
    if text.get(i) == Some(&b'}') {
        return (skip_ws(text, i + 1) == text.len()).then_some(());
    }
    let mut go_on = true;
    loop {
        if text.get(i) != Some(&b'"') {
            return None;
        }
        let (key_end, escaped) = string_end(text, i)?;
        if escaped {
            return None;
        }
        let key = &text[i + 1..key_end - 1];
        i = skip_ws(text, key_end);
        if text.get(i) != Some(&b':') {
            return None;
        }
        i = skip_ws(text, i + 1);
        let (end, kind) = value_end(text, i)?;
        if go_on {
            go_on = f(Member { key, value: &text[i..end], kind });
        }
        i = skip_ws(text, end);
        match text.get(i) {
            Some(b',') => i = skip_ws(text, i + 1),
            Some(b'}') => return (skip_ws(text, i + 1) == text.len()).then_some(()),
            _ => return None,
        }
    }
}

/// The raw value of member `key` of the object `text` (the first, if repeated).
pub fn get<'a>(text: &'a [u8], key: &[u8]) -> Option<Member<'a>> {
    let mut found = None;
    members(text, |m| {
        if m.key == key {
            found = Some(m);
        }
        found.is_none()
    })?;
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

/// The index just past the string starting at `start` (which holds its opening quote), and
/// whether it has escapes.
fn string_end(text: &[u8], start: usize) -> Option<(usize, bool)> {
    let mut i = start + 1;
    let mut escaped = false;
    loop {
        i += quote_or_backslash(text.get(i..)?)?;
        if text[i] == b'"' {
            return Some((i + 1, escaped));
        }
        escaped = true;
        i += 2; // the backslash and the byte it escapes
    }
}

/// The offset of the first `"` or `\` in `bytes`, eight bytes at a time: MCP strings are
/// mostly short, where this beats a SIMD search's set-up, and long ones still go 8 per step.
fn quote_or_backslash(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // The classic "has a zero byte" test: its lowest set bit marks the first zero exactly.
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

/// The index just past the value starting at `i`, and its kind.
fn value_end(text: &[u8], i: usize) -> Option<(usize, Kind)> {
    match *text.get(i)? {
        b'"' => Some((string_end(text, i)?.0, Kind::String)),
        b'{' => Some((nested_end(text, i)?, Kind::Object)),
        b'[' => Some((nested_end(text, i)?, Kind::Array)),
        b't' => literal(text, i, b"true", Kind::Bool),
        b'f' => literal(text, i, b"false", Kind::Bool),
        b'n' => literal(text, i, b"null", Kind::Null),
        b'-' | b'0'..=b'9' => Some((number_end(text, i)?, Kind::Number)),
        _ => None,
    }
}

fn literal(text: &[u8], i: usize, word: &[u8], kind: Kind) -> Option<(usize, Kind)> {
    text[i..].starts_with(word).then_some((i + word.len(), kind))
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

/// The index just past the object or array starting at `start`: brackets balanced and
/// matched (a bit stack of up to [`DEPTH_MAX`] levels), strings skipped whole.
fn nested_end(text: &[u8], start: usize) -> Option<usize> {
    let mut stack: u64 = 0; // bit set: that level is an array
    let mut depth = 0usize;
    let mut i = start;
    while i < text.len() {
        match text[i] {
            b'"' => {
                i = string_end(text, i)?.0;
                continue;
            }
            open @ (b'{' | b'[') => {
                if depth == DEPTH_MAX {
                    return None;
                }
                stack = (stack << 1) | u64::from(open == b'[');
                depth += 1;
            }
            close @ (b'}' | b']') => {
                if depth == 0 || (stack & 1 == 1) != (close == b']') {
                    return None;
                }
                stack >>= 1;
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use sonic_rs::JsonContainerTrait;

    fn all(text: &str) -> Option<Vec<(String, String, Kind)>> {
        let mut out = Vec::new();
        members(text.as_bytes(), |m| {
            out.push((
                String::from_utf8(m.key.to_vec()).unwrap(),
                String::from_utf8(m.value.to_vec()).unwrap(),
                m.kind,
            ));
            true
        })?;
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
            r#"{"a\u0041":1}"#,
            r#"{"a":1} x"#,
            r#"{a:1}"#,
        ] {
            assert_eq!(all(bad), None, "{bad}");
        }
    }

    #[test]
    fn quote_or_backslash_finds_the_first_at_every_offset() {
        for len in 0..40 {
            for at in 0..len {
                for hit in [b'"', b'\\'] {
                    let mut bytes = vec![b'a'; len];
                    bytes[at] = hit;
                    if at + 1 < len {
                        bytes[at + 1] = b'"';
                    }
                    assert_eq!(quote_or_backslash(&bytes), Some(at), "len {len} at {at}");
                }
            }
            // Bytes that differ from the targets by one bit must not match.
            let near: Vec<u8> = (0..len).map(|i| [b'#', b'!', b']', b'|', 0xA2, 0xDC][i % 6]).collect();
            assert_eq!(quote_or_backslash(&near), None, "len {len}");
        }
    }

    #[test]
    fn nesting_past_the_limit_is_left_to_the_fallback() {
        let deep = format!(r#"{{"a":{}{}}}"#, "[".repeat(DEPTH_MAX + 1), "]".repeat(DEPTH_MAX + 1));
        assert_eq!(all(&deep), None);
        let ok = format!(r#"{{"a":{}{}}}"#, "[".repeat(DEPTH_MAX), "]".repeat(DEPTH_MAX));
        assert!(all(&ok).is_some());
    }

    #[test]
    fn get_and_plain_str_read_single_values() {
        let text = r#"{"name":"echo","arguments":{"text":"hi"},"name":"later"}"#;
        let name = get(text.as_bytes(), b"name").unwrap().value;
        assert_eq!(name, br#""echo""#);
        assert_eq!(plain_str(span_str(text, name)), Some("echo"));
        assert_eq!(plain_str(r#""a\nb""#), None);
        assert!(get(text.as_bytes(), b"missing").is_none());
        assert!(is_integer(b"-12") && !is_integer(b"1.0") && !is_integer(b"1e3"));
    }

    /// Whatever the scanner accepts, sonic-rs must parse to the same members (a seeded sweep
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
                let Ok(theirs) = theirs else {
                    // Only nested values are checked structurally; the members themselves
                    // must still be valid JSON on their own where they are scalars.
                    for (_, v, kind) in &ours {
                        // (Grammatical numbers out of f64 range, like 1e999, are sonic's to refuse.)
                        let huge = *kind == Kind::Number && v.contains(['e', 'E']);
                        if !matches!(kind, Kind::Object | Kind::Array | Kind::String) && !huge {
                            assert!(
                                sonic_rs::from_str::<sonic_rs::Value>(v).is_ok(),
                                "{v} in {}",
                                String::from_utf8_lossy(&text)
                            );
                        }
                    }
                    continue;
                };
                let object = theirs.as_object().expect("an object");
                let shown = String::from_utf8_lossy(&text);
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
