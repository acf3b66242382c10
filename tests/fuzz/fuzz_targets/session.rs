//! A whole NDJSON session through `ringmcp::Server::handle_lines` (the bench pack, the session
//! code every transport shares), checked by the independent oracle (tests/common/oracle.rs):
//! no panic, every output line valid JSON, exactly one answer per request, none to a
//! notification or a response, one error per line that is not a message.
//!
//! Input: the session's text, one message per line. The harness then:
//! - gives every request a unique id (a request whose id repeats an earlier request's, or any id
//!   an invalid line could be answered with, gets a fresh string id that appears nowhere in the
//!   input), so that "exactly one answer per request" is checked exactly;
//! - drops lines that could call the `sleep` tool (a mutated duration could be minutes);
//! - starts with an `initialize` handshake unless the input mentions `initialize` itself (then
//!   the fuzzer drives the handshake, or its absence).

#![no_main]

#[path = "../../common/oracle.rs"]
mod oracle;

use libfuzzer_sys::fuzz_target;
use oracle::Line;
use std::collections::HashSet;

const HANDSHAKE: [&str; 2] = [
    r#"{"jsonrpc":"2.0","id":"fuzz-init","method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"fuzz","version":"1"}}}"#,
    r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
];

thread_local! {
    static SERVER: ringmcp::Server = ringmcp::packs::build("bench", None).expect("bench pack");
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut lines: Vec<String> = Vec::new();
    if !text.contains("initialize") {
        lines.extend(HANDSHAKE.map(String::from));
    }
    lines.extend(text.split('\n').filter(|l| !may_sleep(l)).map(String::from));
    let lines = unique_ids(&lines, &text);
    let input = lines.join("\n") + "\n";
    let output = SERVER.with(|server| server.handle_lines(&input));
    let read: Vec<&str> = lines.iter().map(|l| l.strip_suffix('\r').unwrap_or(l)).collect();
    if let Err(e) = oracle::check_session(&read, &output) {
        panic!("{e}\n--- input\n{input}--- output\n{output}");
    }
});

/// Whether a line could name the `sleep` tool: `sleep` in it once `\u00XX` escapes are read.
fn may_sleep(line: &str) -> bool {
    let mut plain = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(at) = rest.find("\\u00") {
        plain.push_str(&rest[..at]);
        let hex = rest.get(at + 4..at + 6).and_then(|h| u8::from_str_radix(h, 16).ok());
        match hex {
            Some(b) => {
                plain.push(char::from(b));
                rest = &rest[at + 6..];
            }
            None => {
                plain.push_str("\\u00");
                rest = &rest[at + 4..];
            }
        }
    }
    plain.push_str(rest);
    plain.to_ascii_lowercase().contains("sleep")
}

/// `lines` with request ids made unique: a request keeps its id if no earlier request has it
/// and no other line may be answered with it; otherwise it gets `"<prefix><n>"`, with a prefix
/// that occurs nowhere in the input. Every id of a line with duplicate members is replaced too.
fn unique_ids(lines: &[String], text: &str) -> Vec<String> {
    let prefix = (0u32..).map(|n| format!("fz{n}-")).find(|p| !text.contains(p.as_str())).expect("a free prefix");
    let classes: Vec<Line<'_>> = lines.iter().map(|l| oracle::classify(l.as_bytes())).collect();
    let mut claimed: HashSet<String> = HashSet::new();
    for class in &classes {
        let ids = match class {
            Line::NotJson { ids } => ids.clone(),
            Line::TooDeep { id } | Line::BadMessage { id } | Line::OddResponse { id } => id.iter().copied().collect(),
            Line::Limited(inner) => match &**inner {
                Line::BadMessage { id } | Line::OddResponse { id } => id.iter().copied().collect(),
                _ => Vec::new(),
            },
            _ => Vec::new(),
        };
        claimed.extend(ids.iter().map(oracle::Id::key));
    }
    let mut fresh = 0;
    let mut out = Vec::with_capacity(lines.len());
    for (line, class) in lines.iter().zip(&classes) {
        let class = match class {
            Line::Limited(inner) => &**inner,
            other => other,
        };
        let rewrite = match class {
            Line::Request { id, .. } => !claimed.insert(id.key()),
            Line::Duplicate { .. } => true,
            _ => false,
        };
        if !rewrite {
            out.push(line.clone());
            continue;
        }
        fresh += 1;
        out.push(with_id(line, &format!("\"{prefix}{fresh}\"")));
    }
    out
}

/// `line` (a valid JSON object) with the value of every top-level `id` member replaced.
fn with_id(line: &str, id: &str) -> String {
    let members = oracle::members(line).expect("a request is an object");
    let mut spans: Vec<(usize, usize)> = members
        .iter()
        .filter(|(k, _)| k == "id")
        .map(|(_, v)| {
            let start = v.get().as_ptr() as usize - line.as_ptr() as usize;
            (start, start + v.get().len())
        })
        .collect();
    spans.sort_unstable();
    let mut out = String::with_capacity(line.len() + id.len());
    let mut at = 0;
    for (start, end) in spans {
        out.push_str(&line[at..start]);
        out.push_str(id);
        at = end;
    }
    out.push_str(&line[at..]);
    out
}
