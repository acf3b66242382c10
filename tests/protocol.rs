//! Every MCP method and JSON-RPC rule, with exact answers, over TCP and over `ringmcp stdio`.

mod common;

use common::{Conn, Server};
use std::collections::HashMap;

/// (request line, exact answer line) after `initialize`, for the default `bench` pack.
const SCRIPT: &[(&str, &str)] = &[
    (r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#, r#"{"jsonrpc":"2.0","id":1,"result":{}}"#),
    (
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#,
        r#"{"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"echo","description":"Returns its text unchanged","inputSchema":{"type":"object","properties":{"text":{"type":"string","description":"Text to echo"}},"required":["text"]}},{"name":"add","description":"Adds two numbers","inputSchema":{"type":"object","properties":{"a":{"type":"number"},"b":{"type":"number"}},"required":["a","b"]},"outputSchema":{"type":"object","properties":{"sum":{"type":"number"}},"required":["sum"]}},{"name":"sleep","description":"Answers after `ms` milliseconds without blocking the server","inputSchema":{"type":"object","properties":{"ms":{"type":"integer","minimum":0,"maximum":600000}},"required":["ms"]}}]}}"#,
    ),
    (
        r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{"text":"héllo \"w\"\n"}}}"#,
        r#"{"jsonrpc":"2.0","id":3,"result":{"content":[{"type":"text","text":"héllo \"w\"\n"}]}}"#,
    ),
    (
        r#"{"jsonrpc":"2.0","id":"str-id","method":"tools/call","params":{"name":"add","arguments":{"a":2,"b":40}}}"#,
        r#"{"jsonrpc":"2.0","id":"str-id","result":{"content":[{"type":"text","text":"{\"sum\":42}"}],"structuredContent":{"sum":42}}}"#,
    ),
    (
        r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"add","arguments":{"a":0.5,"b":2}}}"#,
        r#"{"jsonrpc":"2.0","id":5,"result":{"content":[{"type":"text","text":"{\"sum\":2.5}"}],"structuredContent":{"sum":2.5}}}"#,
    ),
    (
        r#"{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"sleep","arguments":{"ms":1}}}"#,
        r#"{"jsonrpc":"2.0","id":6,"result":{"content":[{"type":"text","text":"slept 1 ms"}]}}"#,
    ),
    (
        r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"nope","arguments":{}}}"#,
        r#"{"jsonrpc":"2.0","id":7,"error":{"code":-32602,"message":"Unknown tool: nope","data":{"name":"nope"}}}"#,
    ),
    (
        r#"{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"echo","arguments":{}}}"#,
        r#"{"jsonrpc":"2.0","id":8,"result":{"content":[{"type":"text","text":"Invalid arguments for tool echo: missing required argument \"text\""}],"isError":true}}"#,
    ),
    (
        r#"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"echo","arguments":{"text":5}}}"#,
        r#"{"jsonrpc":"2.0","id":9,"result":{"content":[{"type":"text","text":"Invalid arguments for tool echo: argument \"text\" must be string, got number"}],"isError":true}}"#,
    ),
    (
        r#"{"jsonrpc":"2.0","id":10,"method":"tools/call","params":{"name":"echo","arguments":[1]}}"#,
        r#"{"jsonrpc":"2.0","id":10,"error":{"code":-32602,"message":"Invalid params: \"arguments\" must be an object"}}"#,
    ),
    (
        r#"{"jsonrpc":"2.0","id":11,"method":"resources/list"}"#,
        r#"{"jsonrpc":"2.0","id":11,"result":{"resources":[{"uri":"ringmcp://bench/readme","name":"readme","description":"What the bench pack offers","mimeType":"text/plain"}]}}"#,
    ),
    (
        r#"{"jsonrpc":"2.0","id":12,"method":"resources/read","params":{"uri":"ringmcp://bench/readme"}}"#,
        r#"{"jsonrpc":"2.0","id":12,"result":{"contents":[{"uri":"ringmcp://bench/readme","mimeType":"text/plain","text":"ringmcp bench pack: tools echo, add and sleep; this resource; the echo template; the greet prompt.\n"}]}}"#,
    ),
    (
        r#"{"jsonrpc":"2.0","id":13,"method":"resources/read","params":{"uri":"ringmcp://nope"}}"#,
        r#"{"jsonrpc":"2.0","id":13,"error":{"code":-32002,"message":"Resource not found: ringmcp://nope","data":{"uri":"ringmcp://nope"}}}"#,
    ),
    (
        r#"{"jsonrpc":"2.0","id":14,"method":"resources/templates/list"}"#,
        r#"{"jsonrpc":"2.0","id":14,"result":{"resourceTemplates":[{"uriTemplate":"ringmcp://bench/echo/{text}","name":"echo","description":"Reads back the text in its URI","mimeType":"text/plain"}]}}"#,
    ),
    (
        r#"{"jsonrpc":"2.0","id":15,"method":"resources/read","params":{"uri":"ringmcp://bench/echo/abc"}}"#,
        r#"{"jsonrpc":"2.0","id":15,"result":{"contents":[{"uri":"ringmcp://bench/echo/abc","mimeType":"text/plain","text":"abc"}]}}"#,
    ),
    (
        r#"{"jsonrpc":"2.0","id":16,"method":"prompts/list"}"#,
        r#"{"jsonrpc":"2.0","id":16,"result":{"prompts":[{"name":"greet","description":"A greeting for someone","arguments":[{"name":"name","description":"Who to greet","required":true},{"name":"style","description":"brief, formal or friendly","required":false}]}]}}"#,
    ),
    (
        r#"{"jsonrpc":"2.0","id":17,"method":"prompts/get","params":{"name":"greet","arguments":{"name":"Ada","style":"formal"}}}"#,
        r#"{"jsonrpc":"2.0","id":17,"result":{"description":"A greeting","messages":[{"role":"user","content":{"type":"text","text":"Greet Ada formally."}}]}}"#,
    ),
    (
        r#"{"jsonrpc":"2.0","id":18,"method":"prompts/get","params":{"name":"greet","arguments":{}}}"#,
        r#"{"jsonrpc":"2.0","id":18,"error":{"code":-32602,"message":"Missing required argument \"name\" of prompt greet"}}"#,
    ),
    (
        r#"{"jsonrpc":"2.0","id":19,"method":"prompts/get","params":{"name":"nope"}}"#,
        r#"{"jsonrpc":"2.0","id":19,"error":{"code":-32602,"message":"Unknown prompt: nope"}}"#,
    ),
    (
        r#"{"jsonrpc":"2.0","id":20,"method":"completion/complete","params":{"ref":{"type":"ref/prompt","name":"greet"},"argument":{"name":"style","value":"f"}}}"#,
        r#"{"jsonrpc":"2.0","id":20,"result":{"completion":{"values":["formal","friendly"],"total":2,"hasMore":false}}}"#,
    ),
    (
        r#"{"jsonrpc":"2.0","id":21,"method":"completion/complete","params":{"ref":{"type":"ref/prompt","name":"nope"},"argument":{"name":"style","value":""}}}"#,
        r#"{"jsonrpc":"2.0","id":21,"error":{"code":-32602,"message":"Unknown prompt: nope"}}"#,
    ),
    (
        r#"{"jsonrpc":"2.0","id":22,"method":"logging/setLevel","params":{"level":"warning"}}"#,
        r#"{"jsonrpc":"2.0","id":22,"result":{}}"#,
    ),
    (
        r#"{"jsonrpc":"2.0","id":23,"method":"logging/setLevel","params":{"level":"loud"}}"#,
        r#"{"jsonrpc":"2.0","id":23,"error":{"code":-32602,"message":"Invalid params: unknown level \"loud\"; accepted: debug, info, notice, warning, error, critical, alert, emergency"}}"#,
    ),
    (
        r#"{"jsonrpc":"2.0","id":24,"method":"tools/list","params":{"cursor":"bogus"}}"#,
        r#"{"jsonrpc":"2.0","id":24,"error":{"code":-32602,"message":"Invalid params: unknown cursor \"bogus\""}}"#,
    ),
    (
        r#"{"jsonrpc":"2.0","id":25,"method":"server/discover"}"#,
        r#"{"jsonrpc":"2.0","id":25,"error":{"code":-32602,"message":"Invalid params: a 2026-07-28 request must carry _meta with io.modelcontextprotocol/protocolVersion and io.modelcontextprotocol/clientCapabilities"}}"#,
    ),
    (
        r#"{"jsonrpc":"2.0","id":26,"method":"no/such"}"#,
        r#"{"jsonrpc":"2.0","id":26,"error":{"code":-32601,"message":"Method not found: no/such","data":{"method":"no/such"}}}"#,
    ),
    (
        r#"{"jsonrpc":"2.0","id":27,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}"#,
        r#"{"jsonrpc":"2.0","id":27,"error":{"code":-32600,"message":"Invalid Request: session already initialized"}}"#,
    ),
    (
        r#"{"jsonrpc":"2.0","id":28,"method":"tools/call"}"#,
        r#"{"jsonrpc":"2.0","id":28,"error":{"code":-32602,"message":"Invalid params: missing \"name\", the tool to call"}}"#,
    ),
];

/// Sends the whole script in one write (answers may come in any order: `sleep` is async)
/// and checks every answer byte for byte, each id exactly once.
fn run_script(conn: &mut Conn) {
    let init = conn.initialize();
    assert_eq!(init["protocolVersion"], "2025-11-25");
    assert_eq!(init["serverInfo"]["name"], "ringmcp");
    let all: String = SCRIPT.iter().map(|(req, _)| format!("{req}\n")).collect();
    conn.send_raw(all.as_bytes());
    let mut got: HashMap<String, String> = HashMap::new();
    for _ in SCRIPT {
        let line = conn.recv_line();
        let id = serde_json::from_str::<serde_json::Value>(&line).unwrap()["id"].to_string();
        assert!(got.insert(id.clone(), line).is_none(), "id {id} answered twice");
    }
    for (req, want) in SCRIPT {
        let id = serde_json::from_str::<serde_json::Value>(req).unwrap()["id"].to_string();
        assert_eq!(got.get(&id).map(String::as_str), Some(*want), "answer to {req}");
    }
}

#[test]
fn every_method_answers_exactly_over_tcp() {
    let server = Server::start(&["--cores", "1"]);
    run_script(&mut server.connect());
}

#[test]
fn every_method_answers_exactly_over_stdio() {
    run_script(&mut Conn::stdio(&[]));
}

#[test]
fn every_method_answers_exactly_over_stdio_sockets() {
    run_script(&mut Conn::stdio_sockets(&[]));
}
