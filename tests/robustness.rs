//! Bad input never crashes a session and never loses or doubles an answer: seeded mutations
//! of real MCP messages go through the same session code as the transports
//! (`Server::handle_lines`), and every request or malformed line gets exactly one answer.
//! Replay one seed with `RINGMCP_FUZZ_SEED=N cargo test --test robustness`. (`sleep` is left
//! out of the corpus: a mutated duration could be minutes.)

use ringmcp::jsonrpc::{self, Message};
use std::collections::HashMap;

/// Mutated messages per seed.
const CASES_PER_SEED: usize = 4_000;
/// Seeds run by default (each a different stream of mutations).
const SEEDS: [u64; 5] = [1, 2, 3, 0xDEAD_BEEF, 0x005E_ED0F_F00D];

const INIT: &str = r#"{"jsonrpc":"2.0","id":"init","method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"fuzz","version":"1"}}}"#;

const CORPUS: &[&str] = &[
    r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
    r#"{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{"cursor":"rmcp1-1"}}"#,
    r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{"text":"h\u00e9\"llo"}}}"#,
    r#"{"jsonrpc":"2.0","id":"a","method":"tools/call","params":{"name":"add","arguments":{"a":1.5,"b":-2e3}}}"#,
    r#"{"jsonrpc":"2.0","id":5,"method":"resources/read","params":{"uri":"ringmcp://bench/echo/x"}}"#,
    r#"{"jsonrpc":"2.0","id":6,"method":"prompts/get","params":{"name":"greet","arguments":{"name":"A","style":"brief"}}}"#,
    r#"{"jsonrpc":"2.0","id":7,"method":"completion/complete","params":{"ref":{"type":"ref/prompt","name":"greet"},"argument":{"name":"style","value":"f"},"context":{"arguments":{}}}}"#,
    r#"{"jsonrpc":"2.0","id":8,"method":"logging/setLevel","params":{"level":"debug"}}"#,
    r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
    r#"{"jsonrpc":"2.0","id":9,"result":{}}"#,
    r#"{"jsonrpc":"2.0","id":"s-1","method":"tools/call","params":{"name":"echo","arguments":{"text":"x"}}}"#,
    r#"{"jsonrpc":"2.0","id":"\u00e9","method":"ping"}"#,
];

/// Hand-written lines that mutation would rarely produce: odd ids, escapes, control bytes.
const NASTY: &[&str] = &[
    r#"{"jsonrpc":"2.0","id":"\a","method":"ping"}"#,
    r#"{"jsonrpc":"2.0","id":"\u12","method":"ping"}"#,
    "{\"jsonrpc\":\"2.0\",\"id\":\"tab\there\",\"method\":\"ping\"}",
    r#"{"jsonrpc":"2.0","id":"ok\n","method":"ping"}"#,
    r#"{"jsonrpc":"2.0","id":123456789012345678901234567890,"method":"ping"}"#,
    r#"{"jsonrpc":"2.0","id":-0,"method":"ping"}"#,
    r#"{"jsonrpc":"2.0","id":1e3,"method":"ping"}"#,
    r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"\q"}}}"#,
    r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"ec\u0068o","arguments":{"te\u0078t":"y"}}}"#,
    r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"echo","arguments":{"text":"a","text":"b"}}}"#,
    r#"{"jsonrpc":"2.0","id":5,"method":"resources/read","params":{"uri":"\ud800"}}"#,
    r#"{"jsonrpc":"2.0","id":6,"method":"prompts/get","params":{"name":"greet","arguments":{"name":7}}}"#,
    r#"{"jsonrpc":"2.0","id":7,"id":8,"method":"ping"}"#,
    r#"{"jsonrpc":"2.0","id":9,"method":"ping","params":{"deep":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}}"#,
    "\u{0}\u{1}{}",
    "{\"jsonrpc\":\"2.0\",\"id\":10,\"method\":\"ping\"}\u{0}",
];

#[test]
fn mutated_messages_get_exactly_one_answer_each_and_never_crash() {
    let seeds: Vec<u64> = match std::env::var("RINGMCP_FUZZ_SEED") {
        Ok(s) => vec![s.parse().expect("RINGMCP_FUZZ_SEED is a number")],
        Err(_) => SEEDS.to_vec(),
    };
    let server = ringmcp::packs::build("bench", None).expect("bench pack");
    for seed in seeds {
        let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut lines = vec![INIT.to_string()];
        lines.extend(NASTY.iter().map(|l| l.to_string()));
        for _ in 0..CASES_PER_SEED {
            let base = CORPUS[(next(&mut rng) % CORPUS.len() as u64) as usize];
            lines.push(mutate(base, &mut rng));
        }
        let input = lines.join("\n") + "\n";
        let output = server.handle_lines(&input);
        let mut got: HashMap<String, usize> = HashMap::new();
        for answer in output.lines() {
            let v: serde_json::Value = serde_json::from_str(answer)
                .unwrap_or_else(|e| panic!("seed {seed}: answer is not JSON ({e}): {answer}"));
            assert!(v.get("result").is_some() != v.get("error").is_some(), "seed {seed}: {answer}");
            *got.entry(v["id"].to_string()).or_default() += 1;
        }
        let want = expected_answers(&lines);
        assert_eq!(got, want, "seed {seed}: answers per id differ (replay with RINGMCP_FUZZ_SEED={seed})");
    }
}

/// Answers each id should get: one per request, one (`null`) per line that is not a message.
/// Lines with newlines inside were split by the mutation, so classify each physical line.
fn expected_answers(lines: &[String]) -> HashMap<String, usize> {
    let mut want: HashMap<String, usize> = HashMap::new();
    for line in lines.iter().flat_map(|l| l.split('\n')) {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        let id = match jsonrpc::parse(line.as_bytes()) {
            Ok(Message::Request { id, .. }) => serde_json::from_str::<serde_json::Value>(id.0).unwrap().to_string(),
            Ok(Message::Notification { .. } | Message::Response { .. }) => continue,
            Err(e) => e
                .id
                .map_or("null".to_string(), |id| serde_json::from_str::<serde_json::Value>(id.0).unwrap().to_string()),
        };
        *want.entry(id).or_default() += 1;
    }
    want
}

/// One to four byte-level edits from a JSON-flavoured alphabet (or a truncation).
fn mutate(base: &str, rng: &mut u64) -> String {
    const ALPHABET: &[u8] = br#"{}[]":,\ 0123456789.eE+-truefalsn/u"#;
    let mut bytes = base.as_bytes().to_vec();
    for _ in 0..1 + next(rng) % 4 {
        if bytes.is_empty() {
            break;
        }
        let at = (next(rng) % bytes.len() as u64) as usize;
        let b = ALPHABET[(next(rng) % ALPHABET.len() as u64) as usize];
        match next(rng) % 5 {
            0 => bytes[at] = b,
            1 => drop(bytes.remove(at)),
            2 => bytes.insert(at, b),
            3 => bytes.truncate(at),
            _ => {} // leave this one intact now and then
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}
