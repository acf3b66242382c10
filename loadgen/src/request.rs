//! Pre-rendered request bytes: everything but the id is rendered once; sending a request
//! appends prefix, id digits and suffix to the connection's write buffer. No I/O here.

use std::str::FromStr;

/// The request id of `initialize`; workload ids start at 1.
pub const INITIALIZE_ID: u64 = 0;

/// The `_meta` key naming the protocol version of a 2026-07-28 request.
pub const META_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";

/// The `_meta` key holding the client capabilities of a 2026-07-28 request.
pub const META_CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";

/// The MCP era loadgen speaks (`--protocol`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Protocol {
    /// MCP 2026-07-28: no handshake and no session; every request carries its protocol version
    /// and client capabilities in `params._meta` (and, over HTTP, in `MCP-Protocol-Version`,
    /// `Mcp-Method` and `Mcp-Name` headers).
    #[default]
    Modern,
    /// MCP 2025-11-25: `initialize` and `notifications/initialized` open every connection;
    /// over HTTP every later POST carries `MCP-Protocol-Version` and the `Mcp-Session-Id`.
    Session,
}

impl Protocol {
    /// The protocol version string, as on the wire.
    pub fn version(self) -> &'static str {
        match self {
            Protocol::Modern => "2026-07-28",
            Protocol::Session => "2025-11-25",
        }
    }

    /// Whether each connection opens with the `initialize` handshake.
    pub fn handshake(self) -> bool {
        self == Protocol::Session
    }
}

impl FromStr for Protocol {
    type Err = String;

    fn from_str(text: &str) -> Result<Protocol, String> {
        [Protocol::Modern, Protocol::Session]
            .into_iter()
            .find(|p| p.version() == text.trim())
            .ok_or_else(|| format!("`{text}` is not a protocol loadgen speaks (2026-07-28 or 2025-11-25)"))
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.version())
    }
}

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

    /// The JSON-RPC method of every request (2026-07-28 sends it as `Mcp-Method` too).
    pub fn method(&self) -> &str {
        match self {
            Workload::ToolCall { .. } => "tools/call",
            Workload::Method { method, .. } => method,
        }
    }

    /// What 2026-07-28 sends as `Mcp-Name`: `params.name` of `tools/call` and `prompts/get`,
    /// `params.uri` of `resources/read` (when the params carry it as a string); `None` for
    /// every other method.
    pub fn mcp_name(&self) -> Option<String> {
        let (method, params) = match self {
            Workload::ToolCall { tool, .. } => return Some(tool.clone()),
            Workload::Method { method, params } => (method.as_str(), params.as_deref()?),
        };
        let field = match method {
            "tools/call" | "prompts/get" => "name",
            "resources/read" => "uri",
            _ => return None,
        };
        let params: serde_json::Value = serde_json::from_str(params).ok()?;
        params.get(field)?.as_str().map(str::to_string)
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
    /// Renders the workload once for `protocol`. `newline` ends each message with `\n`
    /// (NDJSON framing). In 2026-07-28 the params get the `_meta` of [`modern_meta`]: a
    /// method without params gets params `{"_meta":…}`.
    ///
    /// # Errors
    /// 2026-07-28 with params that are not a JSON object (or whose `_meta` is not one).
    pub fn new(workload: &Workload, protocol: Protocol, newline: bool) -> Result<Template, String> {
        let meta = match protocol {
            Protocol::Modern => Some(modern_meta()),
            Protocol::Session => None,
        };
        let body = match workload {
            Workload::ToolCall { tool, arguments } => {
                let name = serde_json::to_string(tool).unwrap_or_default();
                let meta = meta.map(|m| format!(r#","_meta":{m}"#)).unwrap_or_default();
                format!(r#","method":"tools/call","params":{{"name":{name},"arguments":{arguments}{meta}}}}}"#)
            }
            Workload::Method { method, params } => {
                let method = serde_json::to_string(method).unwrap_or_default();
                let params = match (params, meta) {
                    (Some(params), Some(_)) => Some(with_modern_meta(params)?),
                    (None, Some(meta)) => Some(format!(r#"{{"_meta":{meta}}}"#)),
                    (params, None) => params.clone(),
                };
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
        Ok(Template { prefix: br#"{"jsonrpc":"2.0","id":"#.to_vec(), suffix })
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

/// The `_meta` object every 2026-07-28 request carries: the protocol version and (empty)
/// client capabilities.
pub fn modern_meta() -> String {
    format!(r#"{{"{META_PROTOCOL_VERSION}":"{}","{META_CLIENT_CAPABILITIES}":{{}}}}"#, Protocol::Modern.version())
}

/// `params` (rendered JSON) with the 2026-07-28 `_meta` added as its last member. A `_meta`
/// the params already have is kept, with the protocol version and client capabilities added
/// where it lacks them.
fn with_modern_meta(params: &str) -> Result<String, String> {
    let not_object =
        || format!("params must be a JSON object in MCP 2026-07-28 (loadgen adds `_meta` to them), not `{params}`");
    let Ok(serde_json::Value::Object(mut members)) = serde_json::from_str(params) else {
        return Err(not_object());
    };
    let meta = match members.remove("_meta") {
        None => modern_meta(),
        Some(serde_json::Value::Object(mut meta)) => {
            meta.entry(META_PROTOCOL_VERSION).or_insert_with(|| Protocol::Modern.version().into());
            meta.entry(META_CLIENT_CAPABILITIES).or_insert_with(|| serde_json::json!({}));
            serde_json::Value::Object(meta).to_string()
        }
        Some(other) => return Err(format!("params._meta must be a JSON object, not `{other}`")),
    };
    let rest = serde_json::Value::Object(members).to_string();
    let inner = &rest[1..rest.len() - 1];
    Ok(if inner.is_empty() { format!(r#"{{"_meta":{meta}}}"#) } else { format!(r#"{{{inner},"_meta":{meta}}}"#) })
}

/// The `initialize` request (id 0) loadgen opens every session with.
pub fn initialize(newline: bool) -> Vec<u8> {
    let mut out = format!(
        r#"{{"jsonrpc":"2.0","id":{INITIALIZE_ID},"method":"initialize","params":{{"protocolVersion":"{}","capabilities":{{}},"clientInfo":{{"name":"loadgen","version":"{}"}}}}}}"#,
        Protocol::Session.version(),
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

    fn render(workload: &Workload, protocol: Protocol, id: u64) -> Vec<u8> {
        let mut out = Vec::new();
        Template::new(workload, protocol, false).expect("renders").render(id, &mut out);
        out
    }

    #[test]
    fn echo_request_renders_with_the_spliced_id() {
        let template = Template::new(&Workload::echo(5), Protocol::Session, true).expect("renders");
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
        let ping = Workload::Method { method: "ping".into(), params: None };
        assert_eq!(render(&ping, Protocol::Session, 1), br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#);
        let workload = Workload::Method { method: "tools/list".into(), params: Some(r#"{"cursor":"x"}"#.into()) };
        assert_eq!(
            render(&workload, Protocol::Session, 2),
            br#"{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{"cursor":"x"}}"#
        );
    }

    #[test]
    fn modern_echo_carries_meta_after_the_arguments() {
        let template = Template::new(&Workload::echo(3), Protocol::Modern, true).expect("renders");
        let mut out = Vec::new();
        template.render(7, &mut out);
        assert_eq!(
            out,
            br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"abc"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}
"#
        );
        assert_eq!(template.len(7), out.len());
    }

    #[test]
    fn modern_methods_get_meta_as_params_or_added_to_theirs() {
        let list = Workload::Method { method: "tools/list".into(), params: None };
        assert_eq!(
            render(&list, Protocol::Modern, 1),
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#
        );
        let empty = Workload::Method { method: "tools/list".into(), params: Some("{}".into()) };
        assert_eq!(render(&empty, Protocol::Modern, 1), render(&list, Protocol::Modern, 1));
        let cursor = Workload::Method { method: "tools/list".into(), params: Some(r#"{"cursor":"x"}"#.into()) };
        assert_eq!(
            render(&cursor, Protocol::Modern, 12),
            br#"{"jsonrpc":"2.0","id":12,"method":"tools/list","params":{"cursor":"x","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#
        );
    }

    #[test]
    fn a_meta_of_the_users_is_kept_and_completed() {
        let params =
            r#"{"_meta":{"progressToken":"p","io.modelcontextprotocol/clientCapabilities":{"x":{}}},"name":"add"}"#;
        let call = Workload::Method { method: "tools/call".into(), params: Some(params.into()) };
        let out = json(&render(&call, Protocol::Modern, 3));
        let meta = &out["params"]["_meta"];
        assert_eq!(meta["progressToken"], "p");
        assert_eq!(meta["io.modelcontextprotocol/clientCapabilities"], serde_json::json!({"x":{}}));
        assert_eq!(meta["io.modelcontextprotocol/protocolVersion"], "2026-07-28");
        assert_eq!(out["params"]["name"], "add");
    }

    #[test]
    fn modern_params_that_are_not_an_object_are_refused() {
        for params in ["[1,2]", "3", "null", r#"{"_meta":[]}"#] {
            let workload = Workload::Method { method: "m".into(), params: Some(params.into()) };
            assert!(Template::new(&workload, Protocol::Modern, false).is_err(), "{params}");
            assert!(Template::new(&workload, Protocol::Session, false).is_ok(), "{params}");
        }
    }

    #[test]
    fn mcp_name_is_the_tool_name_or_the_uri() {
        assert_eq!(Workload::echo(1).mcp_name().as_deref(), Some("echo"));
        let method = |m: &str, p: Option<&str>| Workload::Method { method: m.into(), params: p.map(str::to_string) };
        assert_eq!(method("prompts/get", Some(r#"{"name":"greet"}"#)).mcp_name().as_deref(), Some("greet"));
        assert_eq!(method("resources/read", Some(r#"{"uri":"file:///a"}"#)).mcp_name().as_deref(), Some("file:///a"));
        assert_eq!(method("tools/call", Some(r#"{"arguments":{}}"#)).mcp_name(), None);
        assert_eq!(method("tools/list", Some(r#"{"name":"x"}"#)).mcp_name(), None);
        assert_eq!(method("tools/list", None).method(), "tools/list");
        assert_eq!(Workload::echo(1).method(), "tools/call");
    }

    #[test]
    fn protocols_parse_from_their_version() {
        assert_eq!("2026-07-28".parse(), Ok(Protocol::Modern));
        assert_eq!("2025-11-25".parse(), Ok(Protocol::Session));
        assert!("2025-06-18".parse::<Protocol>().is_err());
        assert_eq!(Protocol::default(), Protocol::Modern);
        assert!(Protocol::Session.handshake() && !Protocol::Modern.handshake());
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
        assert_eq!(init["params"]["protocolVersion"], "2025-11-25");
        assert_eq!(init["params"]["clientInfo"]["name"], "loadgen");
        assert!(initialize(true).ends_with(b"}\n"));
        assert_eq!(json(&initialized(false))["method"], "notifications/initialized");
    }
}
