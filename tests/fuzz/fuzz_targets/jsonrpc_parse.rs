//! `ringmcp::jsonrpc::parse` against an independent oracle (tests/common/oracle.rs: serde_json
//! in strict mode, nesting up to 128 levels, the JSON-RPC rules written out):
//!
//! - a line that is not RFC 8259 JSON, or is nested deeper than 128 levels, is an `Err` with
//!   code -32700 or -32600;
//! - valid JSON is never -32700;
//! - a request or notification (`jsonrpc` "2.0", a string `method`, an id that is a string or an
//!   integer, or none) parses `Ok` with the same method (unescaped) and the same id (compared as
//!   JSON values), and `params` the same object; non-object params of a request are -32602;
//! - an id echoed in an `Err` is the line's own (and valid JSON, since it is echoed verbatim);
//! - numbers out of f64 range and unpaired surrogate escapes, which RFC 8259 allows and lets a
//!   parser refuse, may be refused (-32700 or -32600) or parsed as the line they are in.
//!
//! Input: one line, as the transports hand it over.

#![no_main]

#[path = "../../common/oracle.rs"]
mod oracle;

use libfuzzer_sys::fuzz_target;
use oracle::{Id, Line, Params, INVALID_PARAMS, INVALID_REQUEST, PARSE_ERROR};
use ringmcp::jsonrpc::{self, Message};

fuzz_target!(|line: &[u8]| {
    let want = oracle::classify(line);
    let got = jsonrpc::parse(line);
    if let Err(why) = check(&want, &got) {
        panic!("{why}\n  line:   {:?}\n  oracle: {want:?}\n  parse:  {}", String::from_utf8_lossy(line), show(&got));
    }
});

fn check(want: &Line<'_>, got: &Result<Message<'_>, jsonrpc::Invalid<'_>>) -> Result<(), String> {
    let code = got.as_ref().err().map(|e| i64::from(e.error.code));
    let err_id = got.as_ref().err().and_then(|e| e.id).map(|id| id.0);
    if let Some(raw) = err_id {
        expect(oracle::is_json(raw), "the error's id is not valid JSON")?;
    }
    match want {
        Line::Blank | Line::OddBlank | Line::NotJson { .. } => {
            expect(matches!(code, Some(PARSE_ERROR | INVALID_REQUEST)), "invalid JSON must be -32700 (or -32600)")
        }
        Line::TooDeep { id } => {
            expect(matches!(code, Some(PARSE_ERROR | INVALID_REQUEST)), "nesting over 128 must be refused")?;
            same_id_or_none(err_id, id.as_ref())
        }
        Line::NotObject => expect(code == Some(INVALID_REQUEST) && err_id.is_none(), "a non-object is -32600, id null"),
        Line::BadMessage { id } => {
            expect(code == Some(INVALID_REQUEST), "an invalid message is -32600")?;
            same_id_or_none(err_id, id.as_ref())
        }
        Line::Duplicate { ids } => {
            expect(code != Some(PARSE_ERROR), "valid JSON must not be -32700")?;
            let id = match got {
                Ok(Message::Request { id, .. } | Message::Response { id: Some(id) }) => Some(id.0),
                Ok(Message::Response { id: None }) => None,
                Ok(Message::Notification { .. }) => None,
                Err(_) => err_id,
            };
            let known = |raw: &str| ids.iter().any(|i| i.key() == oracle::id_key(raw));
            expect(id.is_none_or(known), "a duplicate's id must be one of its ids")
        }
        Line::OddResponse { id } => {
            expect(code != Some(PARSE_ERROR), "valid JSON must not be -32700")?;
            same_id_or_none(err_id, id.as_ref())
        }
        Line::Response { id } => match got {
            Ok(Message::Response { id: Some(got) }) => same(got.0, id.get(), "response id"),
            // A response whose id is not a string or an integer (`null`) is still a response
            // (never answered), with no id to route it by.
            Ok(Message::Response { id: None }) => {
                expect(oracle::as_id(id).is_none(), "a response with a valid id must keep it")
            }
            _ => Err("a response must parse as a response".into()),
        },
        Line::Request { id, method, params } => match got {
            Ok(Message::Request { id: got_id, method: got_method, params: got_params }) => {
                same(got_id.0, id.raw, "id")?;
                same_method(got_method, method.as_deref())?;
                same_params(*got_params, params)
            }
            Err(e) if matches!(params, Params::Other) => {
                expect(i64::from(e.error.code) == INVALID_PARAMS, "non-object params are -32602")?;
                same_id_or_none(err_id, Some(id)).and(expect(err_id.is_some(), "-32602 goes to the request's id"))
            }
            _ => Err("a request must parse as that request".into()),
        },
        // RFC 8259 lets a parser refuse a number out of range or an unpaired surrogate.
        Line::Limited(inner) => match code {
            Some(PARSE_ERROR | INVALID_REQUEST) => Ok(()),
            _ => check(inner, got),
        },
        Line::Notification { method, params } => match got {
            Ok(Message::Notification { method: got_method, params: got_params }) => {
                same_method(got_method, method.as_deref())?;
                match params {
                    Params::Other => Ok(()), // ignored or not, never answered
                    _ => same_params(*got_params, params),
                }
            }
            _ => Err("a notification must parse as that notification".into()),
        },
    }
}

fn expect(ok: bool, why: &str) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(why.to_string())
    }
}

fn same(got: &str, want: &str, what: &str) -> Result<(), String> {
    expect(oracle::id_key(got) == oracle::id_key(want), &format!("{what}: got {got}, want {want}"))
}

fn same_id_or_none(got: Option<&str>, want: Option<&Id<'_>>) -> Result<(), String> {
    match (got, want) {
        (None, _) => Ok(()),
        (Some(got), Some(want)) => same(got, want.raw, "error id"),
        (Some(got), None) => Err(format!("error id {got}, but the line has no valid id")),
    }
}

fn same_method(got: &str, want: Option<&str>) -> Result<(), String> {
    match want {
        Some(want) => expect(got == want, &format!("method: got {got:?}, want {want:?}")),
        None => Ok(()), // a lone surrogate cannot be a Rust string: the parser's choice
    }
}

fn same_params(got: Option<&str>, want: &Params<'_>) -> Result<(), String> {
    match (got, want) {
        (None, Params::Absent | Params::Null) => Ok(()),
        (Some(got), Params::Object(want)) => same(got, want.get(), "params"),
        _ => Err(format!("params: got {got:?}, want {want:?}")),
    }
}

fn show(got: &Result<Message<'_>, jsonrpc::Invalid<'_>>) -> String {
    match got {
        Ok(m) => format!("{m:?}"),
        Err(e) => format!("Err(id {:?}, {} {})", e.id.map(|i| i.0), e.error.code, e.error.message),
    }
}
