//! `ringmcp::scan::members` (the fast path's scanner) against sonic-rs: whatever the scanner
//! accepts is one valid JSON object to sonic-rs, with the same members, in order, of the same
//! kinds and values. Where sonic-rs refuses text RFC 8259 allows (numbers out of f64 range such
//! as `1e999`, unpaired surrogate escapes; see tests/common/oracle.rs), the members are checked
//! against serde_json's raw spans instead.
//!
//! Input: the text of one object. Only UTF-8 input is scanned: the scanner's callers check
//! UTF-8 first (`jsonrpc::parse`), and the jsonrpc_parse target covers the bytes before that.

#![no_main]

#[path = "../../common/oracle.rs"]
mod oracle;

use libfuzzer_sys::fuzz_target;
use ringmcp::scan::{self, Kind, Member};
use sonic_rs::{JsonContainerTrait, JsonValueTrait};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut found: Vec<Member<'_>> = Vec::new();
    let verdict = scan::members(text, |m| {
        found.push(m);
        true
    });
    match verdict {
        Ok(()) => {}
        // Valid JSON whose raw keys cannot be compared: only validity is checked.
        Err(scan::ScanError::EscapedKey) => {
            assert!(oracle::is_json(text), "scanner accepted invalid JSON: {text:?}");
            return;
        }
        Err(_) => return,
    }
    check_spans(data, &found);
    check_early_stop(text, &found);
    check_valid_walk(text, &found);
    match sonic_rs::from_str::<sonic_rs::Value>(text) {
        Ok(value) => {
            assert!(oracle::is_json(text), "scanner and sonic-rs accept what RFC 8259 does not: {text:?}");
            same_as_sonic(text, &found, &value);
        }
        Err(e) => {
            // Only what RFC 8259 allows and sonic-rs refuses may be refused here.
            assert!(oracle::is_json(text), "scanner accepted invalid JSON (sonic-rs: {e}): {text:?}");
            assert!(oracle::has_limited(text), "sonic-rs refuses valid JSON ({e}): {text:?}");
            same_as_serde(text, &found);
        }
    }
});

/// Members are disjoint spans of the input, in order, each of the kind its first byte says.
fn check_spans(data: &[u8], found: &[Member<'_>]) {
    let offset = |part: &[u8]| part.as_ptr() as usize - data.as_ptr() as usize;
    let mut end = 0;
    for m in found {
        let (key_at, value_at) = (offset(m.key), offset(m.value));
        assert!(key_at >= end && value_at > key_at + m.key.len() && value_at + m.value.len() <= data.len());
        end = value_at + m.value.len();
        let kind = match m.value.first() {
            Some(b'"') => Kind::String,
            Some(b'{') => Kind::Object,
            Some(b'[') => Kind::Array,
            Some(b't' | b'f') => Kind::Bool,
            Some(b'n') => Kind::Null,
            _ => Kind::Number,
        };
        assert_eq!(m.kind, kind, "kind of {:?}", String::from_utf8_lossy(m.value));
        assert_eq!(m.plain, kind == Kind::String && !m.value.contains(&b'\\'), "plain of {:?}", m.value);
    }
}

/// Stopping after k members gives the first k; `get` finds the first member of a name.
fn check_early_stop(text: &str, found: &[Member<'_>]) {
    let k = found.len() / 2;
    let mut first = Vec::new();
    let stopped = scan::members(text, |m| {
        first.push(m);
        first.len() <= k
    });
    assert!(stopped.is_ok(), "stopping early must not change the verdict");
    assert_eq!(&first[..], &found[..(k + 1).min(found.len())]);
    for m in found {
        let want = found.iter().find(|f| f.key == m.key).copied();
        assert_eq!(scan::get(text, m.key), want);
    }
}

/// On text the strict walk accepts, the boundary-only walk (for spans of validated messages)
/// finds the same members.
fn check_valid_walk(text: &str, found: &[Member<'_>]) {
    let mut again = Vec::new();
    let verdict = scan::members_of_valid(text, |m| {
        again.push(m);
        true
    });
    assert_eq!((verdict, &again[..]), (Ok(()), found), "members_of_valid on {text:?}");
}

fn same_as_sonic(text: &str, found: &[Member<'_>], value: &sonic_rs::Value) {
    let object = value.as_object().unwrap_or_else(|| panic!("scanner accepted a non-object: {text:?}"));
    let unique = |key: &[u8]| found.iter().filter(|m| m.key == key).count() == 1;
    if found.iter().all(|m| unique(m.key)) {
        assert_eq!(object.len(), found.len(), "member count of {text:?}");
    }
    for m in found.iter().filter(|m| unique(m.key)) {
        let key = std::str::from_utf8(m.key).expect("keys of UTF-8 text");
        let theirs = object.get(&key).unwrap_or_else(|| panic!("sonic-rs has no member {key:?} in {text:?}"));
        let ours: sonic_rs::Value = sonic_rs::from_slice(m.value)
            .unwrap_or_else(|e| panic!("member {key:?} alone is not JSON ({e}): {text:?}"));
        assert_eq!(&ours, theirs, "member {key:?} of {text:?}");
        if m.kind == Kind::String {
            let raw = std::str::from_utf8(m.value).expect("UTF-8");
            if let Some(plain) = scan::plain_str(raw) {
                assert_eq!(Some(plain), theirs.as_str(), "plain_str of {key:?} in {text:?}");
            }
        }
    }
}

fn same_as_serde(text: &str, found: &[Member<'_>]) {
    let members = oracle::members(text).unwrap_or_else(|| panic!("scanner accepted a non-object: {text:?}"));
    assert_eq!(members.len(), found.len(), "member count of {text:?}");
    for ((key, raw), m) in members.iter().zip(found) {
        assert_eq!(key.as_bytes(), m.key, "keys of {text:?}");
        assert_eq!(raw.get().as_bytes(), m.value, "value of {key:?} in {text:?}");
    }
}
