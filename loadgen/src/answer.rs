//! Classifying one JSON-RPC message from the server without fully parsing it.
//!
//! ringmcp's answers begin with `{"jsonrpc":"2.0","id":` followed by the id, then either
//! `,"result":` or `,"error":{"code":N`. The fast path reads just those bytes; anything else
//! (other key orders, whitespace, string ids) falls back to a real JSON parse. No I/O here.

use std::sync::atomic::{AtomicBool, Ordering};

/// What one message from the server is, as far as request accounting cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Message {
    /// An answer to a request. `id` is `None` when the id is not a non-negative integer
    /// (a string, `null` as in a parse error, a fraction): it can match none of ours.
    Answer {
        /// The integer id the answer carries.
        id: Option<u64>,
        /// Whether it carries a result or an error (with its code).
        outcome: Outcome,
    },
    /// A notification or a request from the server (it has a `method`): not an answer.
    ServerMessage,
    /// Not JSON, or JSON that is neither an answer nor a server message.
    Invalid,
}

/// The payload of an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// `"result"`.
    Ok,
    /// `"error"` with this `code` (`i64::MIN` when the error object has no integer code).
    Error(i64),
}

const PREFIX: &[u8] = br#"{"jsonrpc":"2.0","id":"#;
const METHOD: &[u8] = br#","method":"#;

/// Set once at start by `--echo`: the target writes every request back unchanged (the raw
/// ceiling), so a request of ours coming back is its answer.
static ECHO_MODE: AtomicBool = AtomicBool::new(false);

/// Turns echo mode on or off for the whole process (see `--echo`).
pub fn set_echo_mode(on: bool) {
    ECHO_MODE.store(on, Ordering::Relaxed);
}
const RESULT: &[u8] = br#","result":"#;
const ERROR: &[u8] = br#","error":{"code":"#;

/// Classifies one message (one NDJSON line without its newline, or one SSE `data` payload).
pub fn classify(line: &[u8]) -> Message {
    let line = trim(line);
    fast_path(line).unwrap_or_else(|| slow_path(line))
}

fn fast_path(line: &[u8]) -> Option<Message> {
    let rest = line.strip_prefix(PREFIX)?;
    let (id, rest) = parse_u64(rest)?;
    if rest.starts_with(RESULT) || (rest.starts_with(METHOD) && ECHO_MODE.load(Ordering::Relaxed)) {
        return Some(Message::Answer { id: Some(id), outcome: Outcome::Ok });
    }
    let rest = rest.strip_prefix(ERROR)?;
    let (code, _) = parse_i64(rest)?;
    Some(Message::Answer { id: Some(id), outcome: Outcome::Error(code) })
}

fn slow_path(line: &[u8]) -> Message {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_slice::<serde_json::Value>(line) else {
        return Message::Invalid;
    };
    if map.contains_key("method") {
        if ECHO_MODE.load(Ordering::Relaxed) {
            if let Some(id) = map.get("id") {
                return Message::Answer { id: id.as_u64(), outcome: Outcome::Ok };
            }
        }
        return Message::ServerMessage;
    }
    let outcome = if let Some(error) = map.get("error") {
        Outcome::Error(error.get("code").and_then(serde_json::Value::as_i64).unwrap_or(i64::MIN))
    } else if map.contains_key("result") {
        Outcome::Ok
    } else {
        return Message::Invalid;
    };
    let Some(id) = map.get("id") else {
        return Message::Invalid;
    };
    Message::Answer { id: id.as_u64(), outcome }
}

fn trim(mut line: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = line {
        if !first.is_ascii_whitespace() {
            break;
        }
        line = rest;
    }
    while let [rest @ .., last] = line {
        if !last.is_ascii_whitespace() {
            break;
        }
        line = rest;
    }
    line
}

/// Parses leading decimal digits; `None` on no digits or overflow (the slow path decides).
fn parse_u64(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 19 {
        return None;
    }
    let mut value: u64 = 0;
    for &b in &bytes[..digits] {
        value = value * 10 + u64::from(b - b'0');
    }
    Some((value, &bytes[digits..]))
}

fn parse_i64(bytes: &[u8]) -> Option<(i64, &[u8])> {
    let (negative, bytes) = match bytes.strip_prefix(b"-") {
        Some(rest) => (true, rest),
        None => (false, bytes),
    };
    let (magnitude, rest) = parse_u64(bytes)?;
    let magnitude = i64::try_from(magnitude).ok()?;
    Some((if negative { -magnitude } else { magnitude }, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ringmcp_result_takes_the_fast_path() {
        let line = br#"{"jsonrpc":"2.0","id":42,"result":{"content":[]}}"#;
        assert_eq!(fast_path(line), Some(Message::Answer { id: Some(42), outcome: Outcome::Ok }));
        assert_eq!(classify(line), Message::Answer { id: Some(42), outcome: Outcome::Ok });
    }

    #[test]
    fn ringmcp_error_code_takes_the_fast_path() {
        let line = br#"{"jsonrpc":"2.0","id":7,"error":{"code":-32010,"message":"overloaded"}}"#;
        assert_eq!(fast_path(line), Some(Message::Answer { id: Some(7), outcome: Outcome::Error(-32010) }));
    }

    #[test]
    fn other_key_orders_fall_back_to_a_real_parse() {
        let line = br#"{ "id": 9, "jsonrpc": "2.0", "error": {"message":"x","code":-32601} }"#;
        assert_eq!(fast_path(line), None);
        assert_eq!(classify(line), Message::Answer { id: Some(9), outcome: Outcome::Error(-32601) });
        let line = br#"{"result":{},"id":3,"jsonrpc":"2.0"}"#;
        assert_eq!(classify(line), Message::Answer { id: Some(3), outcome: Outcome::Ok });
    }

    #[test]
    fn null_and_string_ids_match_nothing() {
        let line = br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}"#;
        assert_eq!(classify(line), Message::Answer { id: None, outcome: Outcome::Error(-32700) });
        let line = br#"{"jsonrpc":"2.0","id":"a","result":{}}"#;
        assert_eq!(classify(line), Message::Answer { id: None, outcome: Outcome::Ok });
    }

    #[test]
    fn notifications_and_server_requests_are_not_answers() {
        assert_eq!(classify(br#"{"jsonrpc":"2.0","method":"notifications/message"}"#), Message::ServerMessage);
        assert_eq!(classify(br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#), Message::ServerMessage);
    }

    #[test]
    fn garbage_and_answers_without_payload_are_invalid() {
        assert_eq!(classify(b"hello"), Message::Invalid);
        assert_eq!(classify(b"[1,2]"), Message::Invalid);
        assert_eq!(classify(br#"{"jsonrpc":"2.0","id":1}"#), Message::Invalid);
        assert_eq!(classify(br#"{"jsonrpc":"2.0","result":{}}"#), Message::Invalid);
    }

    #[test]
    fn surrounding_whitespace_and_carriage_return_are_ignored() {
        let line = b"  {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\r";
        assert_eq!(classify(line), Message::Answer { id: Some(1), outcome: Outcome::Ok });
    }

    #[test]
    fn huge_ids_do_not_overflow() {
        let line = br#"{"jsonrpc":"2.0","id":99999999999999999999999,"result":{}}"#;
        assert_eq!(fast_path(line), None);
        assert!(matches!(classify(line), Message::Answer { outcome: Outcome::Ok, .. }));
        assert_eq!(parse_i64(b"-12,").map(|(v, r)| (v, r.len())), Some((-12, 1)));
        assert_eq!(parse_u64(b"18446744073709551615"), None, "20 digits always goes slow");
    }
}
