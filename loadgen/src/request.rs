//! Pre-rendered request bytes: everything but the id is rendered once; sending a request
//! appends prefix, id digits and suffix to the connection's write buffer. No I/O here.

/// The protocol version loadgen offers in `initialize` and sends over HTTP afterwards.
pub const PROTOCOL_VERSION: &str = "2025-11-25";

/// The request id of `initialize`; workload ids start at 1.
pub const INITIALIZE_ID: u64 = 0;

/// What each workload request asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Workload {
    /// `tools/call` of `tool` with these arguments (a JSON object, already rendered).
    ToolCall {
        /// Tool name.
        tool: String,
        /// Rendered JSON arguments.
        arguments: String,
    },
    /// Any method, with optional rendered JSON params.
    Method {
        /// Method name, e.g. `ping`.
        method: String,
        /// Rendered JSON params, if any.
        params: Option<String>,
    },
}

impl Workload {
    /// The default workload: `tools/call` of `echo` with `{"text": <payload_bytes ASCII bytes>}`.
    pub fn echo(payload_bytes: usize) -> Workload {
        Workload::ToolCall { tool: "echo".into(), arguments: format!(r#"{{"text":"{}"}}"#, payload(payload_bytes)) }
    }

    /// A short label for reports: the method, or `tools/call:TOOL`.
    pub fn label(&self) -> String {
        match self {
            Workload::ToolCall { tool, .. } => format!("tools/call:{tool}"),
            Workload::Method { method, .. } => method.clone(),
        }
    }
}

/// `len` printable ASCII bytes that need no JSON escaping.
pub fn payload(len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..len).map(|i| char::from(ALPHABET[i % ALPHABET.len()])).collect()
}

/// A request with a hole for its id.
#[derive(Clone, Debug)]
pub struct Template {
    prefix: Vec<u8>,
    suffix: Vec<u8>,
}

impl Template {
    /// Renders the workload once. `newline` ends each message with `\n` (NDJSON framing).
    pub fn new(workload: &Workload, newline: bool) -> Template {
        let body = match workload {
            Workload::ToolCall { tool, arguments } => {
                let name = serde_json::to_string(tool).unwrap_or_default();
                format!(r#","method":"tools/call","params":{{"name":{name},"arguments":{arguments}}}}}"#)
            }
            Workload::Method { method, params } => {
                let method = serde_json::to_string(method).unwrap_or_default();
                match params {
                    Some(params) => format!(r#","method":{method},"params":{params}}}"#),
                    None => format!(r#","method":{method}}}"#),
                }
            }
        };
        let mut suffix = body.into_bytes();
        if newline {
            suffix.push(b'\n');
        }
        Template { prefix: br#"{"jsonrpc":"2.0","id":"#.to_vec(), suffix }
    }

    /// Appends the request with this id to `out`.
    pub fn render(&self, id: u64, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.prefix);
        out.extend_from_slice(itoa::Buffer::new().format(id).as_bytes());
        out.extend_from_slice(&self.suffix);
    }

    /// The bytes before the id and after it.
    pub fn parts(&self) -> (&[u8], &[u8]) {
        (&self.prefix, &self.suffix)
    }

    /// The rendered length of the request with this id.
    pub fn len(&self, id: u64) -> usize {
        self.prefix.len() + itoa::Buffer::new().format(id).len() + self.suffix.len()
    }

    /// Always false: a rendered request is never empty (here for clippy's `len` rule).
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// The `initialize` request (id 0) loadgen opens every session with.
pub fn initialize(newline: bool) -> Vec<u8> {
    let mut out = format!(
        r#"{{"jsonrpc":"2.0","id":{INITIALIZE_ID},"method":"initialize","params":{{"protocolVersion":"{PROTOCOL_VERSION}","capabilities":{{}},"clientInfo":{{"name":"loadgen","version":"{}"}}}}}}"#,
        env!("CARGO_PKG_VERSION")
    )
    .into_bytes();
    if newline {
        out.push(b'\n');
    }
    out
}

/// The `notifications/initialized` notification sent after the `initialize` answer.
pub fn initialized(newline: bool) -> Vec<u8> {
    let mut out = br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.to_vec();
    if newline {
        out.push(b'\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(bytes: &[u8]) -> serde_json::Value {
        serde_json::from_slice(bytes).expect("valid JSON")
    }

    #[test]
    fn echo_request_renders_with_the_spliced_id() {
        let template = Template::new(&Workload::echo(5), true);
        let mut out = Vec::new();
        template.render(1234, &mut out);
        assert_eq!(
            out,
            br#"{"jsonrpc":"2.0","id":1234,"method":"tools/call","params":{"name":"echo","arguments":{"text":"abcde"}}}
"#
        );
        assert_eq!(template.len(1234), out.len());
        template.render(5, &mut out);
        let second = &out[template.len(1234)..];
        assert_eq!(json(second)["id"], 5);
    }

    #[test]
    fn method_requests_render_with_and_without_params() {
        let mut out = Vec::new();
        Template::new(&Workload::Method { method: "ping".into(), params: None }, false).render(1, &mut out);
        assert_eq!(out, br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#);
        out.clear();
        let workload = Workload::Method { method: "tools/list".into(), params: Some(r#"{"cursor":"x"}"#.into()) };
        Template::new(&workload, false).render(2, &mut out);
        assert_eq!(json(&out)["params"]["cursor"], "x");
    }

    #[test]
    fn payload_is_exact_length_ascii() {
        assert_eq!(payload(0), "");
        let long = payload(1000);
        assert_eq!(long.len(), 1000);
        assert!(long.bytes().all(|b| b.is_ascii_alphanumeric()));
    }

    #[test]
    fn handshake_messages_are_valid_json_rpc() {
        let init = json(&initialize(false));
        assert_eq!(init["id"], 0);
        assert_eq!(init["params"]["protocolVersion"], PROTOCOL_VERSION);
        assert_eq!(init["params"]["clientInfo"]["name"], "loadgen");
        assert!(initialize(true).ends_with(b"}\n"));
        assert_eq!(json(&initialized(false))["method"], "notifications/initialized");
    }
}
