//! Black-box tests of loadgen's TLS client (`tls://`, `https://`, `wss://`, `--tls`), of
//! `--header` / `--bearer-token(-file)`, and of the outcome counts, against small rustls
//! servers written here (std threads, `rustls::StreamOwned`) with a CA made by rcgen.

mod common;

use common::{
    assert_identity, loadgen, loadgen_json, n, ok_json, ok_line, read_client_frame, read_http_request, tempdir, ws_101,
    ws_frame, HttpRequest, WS_TEXT,
};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection, StreamOwned};
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread;

/// A test PKI on disk: a CA, a server certificate for `localhost` and `127.0.0.1`, a client
/// certificate, and a second CA that signed nothing of these.
struct Pki {
    dir: PathBuf,
    server_chain: Vec<CertificateDer<'static>>,
    server_key: String,
    ca_der: CertificateDer<'static>,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempdir();
        let ca = |name: &str| {
            let key = KeyPair::generate().expect("key");
            let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.distinguished_name.push(rcgen::DnType::CommonName, name);
            let cert = params.self_signed(&key).expect("self-signed");
            (cert, Issuer::new(params, key))
        };
        let (ca_cert, issuer) = ca("loadgen test CA");
        let (other_cert, _) = ca("another CA");
        let leaf = |names: Vec<String>| {
            let key = KeyPair::generate().expect("key");
            let cert = CertificateParams::new(names).expect("params").signed_by(&key, &issuer).expect("signed");
            (cert.pem(), key.serialize_pem())
        };
        let (server_pem, server_key) = leaf(vec!["localhost".into(), "127.0.0.1".into()]);
        let (client_pem, client_key) = leaf(vec!["client-1".into()]);
        for (file, text) in [
            ("ca.pem", ca_cert.pem()),
            ("other-ca.pem", other_cert.pem()),
            ("client.pem", client_pem),
            ("client.key", client_key),
        ] {
            std::fs::write(dir.join(file), text).expect("write");
        }
        let server_chain =
            CertificateDer::pem_slice_iter(server_pem.as_bytes()).collect::<Result<_, _>>().expect("pem");
        Pki { dir, server_chain, server_key, ca_der: ca_cert.der().clone() }
    }

    fn path(&self, file: &str) -> String {
        self.dir.join(file).display().to_string()
    }

    /// A server config; `mtls`: client certificates of the CA are required.
    fn server_config(&self, mtls: bool, alpn: bool) -> Arc<ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("versions");
        let builder = if mtls {
            let mut roots = RootCertStore::empty();
            roots.add(self.ca_der.clone()).expect("root");
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider).build().expect("verifier");
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let key = PrivateKeyDer::from_pem_slice(self.server_key.as_bytes()).expect("key");
        let mut config = builder.with_single_cert(self.server_chain.clone(), key).expect("config");
        if alpn {
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
        }
        Arc::new(config)
    }
}

/// One handshake as the server saw it: ALPN, SNI, whether a client certificate came.
type Handshake = (Option<Vec<u8>>, Option<String>, bool);

/// What a TLS server saw: its handshakes, and the HTTP requests (or WebSocket upgrades).
#[derive(Default)]
struct Seen {
    handshakes: Mutex<Vec<Handshake>>,
    requests: Mutex<Vec<HttpRequest>>,
}

type Tls = BufReader<StreamOwned<ServerConnection, TcpStream>>;

/// Starts a TLS server; each connection is handed to `serve` after the handshake (a failed
/// handshake ends the connection). Returns the port.
fn tls_server(config: Arc<ServerConfig>, seen: Arc<Seen>, serve: fn(Tls, &Seen)) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let (config, seen) = (config.clone(), seen.clone());
            thread::spawn(move || {
                let _ = stream.set_nodelay(true);
                let conn = ServerConnection::new(config).expect("server connection");
                let mut tls = StreamOwned::new(conn, stream);
                while tls.conn.is_handshaking() {
                    if tls.conn.complete_io(&mut tls.sock).is_err() {
                        return;
                    }
                }
                let c = &tls.conn;
                seen.handshakes.lock().expect("lock").push((
                    c.alpn_protocol().map(<[u8]>::to_vec),
                    c.server_name().map(str::to_string),
                    c.peer_certificates().is_some(),
                ));
                serve(BufReader::new(tls), &seen);
            });
        }
    });
    port
}

/// NDJSON: answers every request line with a result (and `initialize` like a server would).
fn serve_ndjson(mut tls: Tls, _: &Seen) {
    let mut line = String::new();
    loop {
        line.clear();
        match tls.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let Ok(message) = serde_json::from_str::<Value>(&line) else { continue };
        let Some(id) = message.get("id").and_then(Value::as_u64) else { continue };
        if tls.get_mut().write_all(ok_line(id).as_bytes()).is_err() {
            return;
        }
    }
}

/// NDJSON echo (`ringmcp ceiling`): every line back as it came.
fn serve_echo(mut tls: Tls, _: &Seen) {
    let mut line = Vec::new();
    loop {
        line.clear();
        match tls.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if tls.get_mut().write_all(&line).is_err() {
            return;
        }
    }
}

/// HTTP: records every request; the n-th request on a connection gets [`classed_response`].
fn serve_http(mut tls: Tls, seen: &Seen) {
    for n in 0.. {
        let Some(request) = read_http_request(&mut tls) else { return };
        let id = serde_json::from_slice::<Value>(&request.body).ok().and_then(|m| m["id"].as_u64()).unwrap_or(0);
        seen.requests.lock().expect("lock").push(request);
        if tls.get_mut().write_all(&classed_response(n, id)).is_err() {
            return;
        }
    }
}

fn http_json(status: &str, body: &str) -> Vec<u8> {
    format!("HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len())
        .into_bytes()
}

fn rpc_error(id: &str, code: i64) -> String {
    format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"error\":{{\"code\":{code},\"message\":\"m\"}}}}")
}

/// Out of every 10 requests: a 429 with -32013, a bare 503, a 200 with -32011, a 200 with
/// -32010, a 401 with a null-id -32600, a 403 with a null-id -32600, and 4 results.
fn classed_response(n: u64, id: u64) -> Vec<u8> {
    let id_text = id.to_string();
    match n % 10 {
        0 => http_json("429 Too Many Requests", &rpc_error(&id_text, -32013)),
        1 => b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n".to_vec(),
        2 => http_json("200 OK", &rpc_error(&id_text, -32011)),
        3 => http_json("200 OK", &rpc_error(&id_text, -32010)),
        4 => http_json("401 Unauthorized", &rpc_error("null", -32600)),
        5 => http_json("403 Forbidden", &rpc_error("null", -32600)),
        _ => http_json("200 OK", &ok_json(id)),
    }
}

/// WebSocket: records the upgrade request, answers every text frame with a result.
fn serve_ws(mut tls: Tls, seen: &Seen) {
    let mut headers = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if tls.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        if line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    let key = headers.iter().find(|(n, _)| n == "sec-websocket-key").map(|(_, v)| v.clone()).unwrap_or_default();
    seen.requests.lock().expect("lock").push(HttpRequest { headers, body: Vec::new() });
    if tls.get_mut().write_all(&ws_101(&key)).is_err() {
        return;
    }
    while let Some((opcode, payload, _)) = read_client_frame(&mut tls) {
        if opcode == 0x8 {
            let _ = tls.get_mut().write_all(&ws_frame(0x88, &payload));
            return;
        }
        let Ok(message) = serde_json::from_slice::<Value>(&payload) else { continue };
        let Some(id) = message.get("id").and_then(Value::as_u64) else { continue };
        if tls.get_mut().write_all(&ws_frame(WS_TEXT, ok_json(id).as_bytes())).is_err() {
            return;
        }
    }
}

fn run(url: &str, extra: &[&str]) -> (i32, Value, String) {
    let mut args = vec!["run", "--url", url, "--duration", "400ms", "--warmup", "100ms"];
    args.extend_from_slice(extra);
    loadgen_json(&args)
}

fn assert_clean(code: i32, report: &Value, out: &str) {
    assert_eq!(code, 0, "{out}");
    assert!(n(report, "sent") > 0, "{report}");
    assert_eq!(n(report, "sent"), n(report, "ok"), "{report}");
    for field in ["lost", "duplicated", "mismatched", "timeouts", "connection_errors"] {
        assert_eq!(n(report, field), 0, "{field}: {report}");
    }
}

#[test]
fn ndjson_over_tls_is_exact_and_reports_the_handshake_apart() {
    let pki = Pki::new();
    let seen = Arc::new(Seen::default());
    let port = tls_server(pki.server_config(false, true), seen.clone(), serve_ndjson);
    let url = format!("tls://127.0.0.1:{port}");
    let ca = pki.path("ca.pem");
    let (code, report, out) = run(&url, &["--ca-file", &ca, "--connections", "4", "--inflight", "8"]);
    assert_clean(code, &report, &out);
    assert_eq!(n(&report, "connections_established"), 4);
    assert_eq!((report["transport"].as_str(), report["tls"].as_bool()), (Some("tcp"), Some(true)), "{report}");
    let handshake = &report["tls_handshake_ms"];
    assert!(handshake["p50"].as_f64().expect("p50") > 0.0, "{report}");
    assert!(handshake["max"].as_f64() <= report["connect_ms"]["max"].as_f64(), "in the connect time: {report}");
    assert_eq!(report["outcomes"]["ok"], report["sent"]);
    assert!(out.contains("tls           handshake p50"), "{out}");
    // No ALPN for NDJSON, and no SNI for an IP address.
    let handshakes = seen.handshakes.lock().expect("lock");
    assert_eq!(handshakes.len(), 4);
    assert!(handshakes.iter().all(|h| h == &(None, None, false)), "{handshakes:?}");
}

#[test]
fn tls_flag_and_server_name_work_on_a_tcp_url_and_big_batches_cross_records() {
    // 40 KB lines echoed back, 4 in flight: every batch spans several TLS records both ways.
    let pki = Pki::new();
    let seen = Arc::new(Seen::default());
    let port = tls_server(pki.server_config(false, false), seen.clone(), serve_echo);
    let url = format!("tcp://127.0.0.1:{port}");
    let ca = pki.path("ca.pem");
    let (code, report, out) = run(
        &url,
        &[
            "--tls",
            "--server-name",
            "localhost",
            "--ca-file",
            &ca,
            "--echo",
            "--payload-bytes",
            "40000",
            "--inflight",
            "4",
        ],
    );
    assert_clean(code, &report, &out);
    assert_eq!(report["tls"], true);
    let handshakes = seen.handshakes.lock().expect("lock");
    assert_eq!(handshakes.as_slice(), &[(None, Some("localhost".to_string()), false)]);
}

#[test]
fn https_sends_the_headers_and_bearer_token_on_every_request_and_never_prints_the_token() {
    let pki = Pki::new();
    let seen = Arc::new(Seen::default());
    let port = tls_server(pki.server_config(false, true), seen.clone(), |mut tls, seen| {
        while let Some(request) = read_http_request(&mut tls) {
            let id = serde_json::from_slice::<Value>(&request.body).ok().and_then(|m| m["id"].as_u64()).unwrap_or(0);
            seen.requests.lock().expect("lock").push(request);
            if tls.get_mut().write_all(&http_json("200 OK", &ok_json(id))).is_err() {
                return;
            }
        }
    });
    let token = "eyJhbGciOiJFUzI1NiJ9.c2VjcmV0LXRva2Vu.sig-Zm9vYmFy";
    let token_file = pki.dir.join("token");
    std::fs::write(&token_file, format!("{token}\n")).expect("write");
    let url = format!("https://127.0.0.1:{port}/mcp");
    let ca = pki.path("ca.pem");
    let token_path = token_file.display().to_string();
    let (code, report, out) = run(
        &url,
        &["--ca-file", &ca, "--connections", "2", "--header", "X-Trace: t-1", "--bearer-token-file", &token_path],
    );
    assert_clean(code, &report, &out);
    assert_eq!((report["transport"].as_str(), report["tls"].as_bool()), (Some("http"), Some(true)));
    assert_eq!(report["request_headers"], serde_json::json!(["X-Trace", "Authorization"]));
    assert_eq!(n(&report["http_status"], "200"), n(&report, "sent"), "{report}");
    let report_text = report.to_string();
    assert!(!report_text.contains(token) && !out.contains(token), "the token leaked: {out}\n{report_text}");
    let requests = seen.requests.lock().expect("lock");
    assert_eq!(requests.len() as u64, n(&report, "sent"));
    let bearer = format!("Bearer {token}");
    for request in requests.iter() {
        assert_eq!(request.header("authorization"), Some(bearer.as_str()));
        assert_eq!(request.header("x-trace"), Some("t-1"));
        assert_eq!(request.header("mcp-method"), Some("tools/call"));
    }
    let handshakes = seen.handshakes.lock().expect("lock");
    assert!(handshakes.iter().all(|(alpn, _, _)| alpn.as_deref() == Some(&b"http/1.1"[..])), "{handshakes:?}");
    drop((handshakes, requests));
    // The session era: initialize and notifications/initialized carry them too.
    seen.requests.lock().expect("lock").clear();
    let (code, report, out) =
        run(&url, &["--ca-file", &ca, "--protocol", "2025-11-25", "--header", "X-Trace: t-2", "--bearer-token", "s3"]);
    assert_clean(code, &report, &out);
    let requests = seen.requests.lock().expect("lock");
    assert_eq!(requests.len() as u64, n(&report, "sent") + 2, "initialize, initialized and the workload");
    assert!(requests
        .iter()
        .all(|r| r.header("authorization") == Some("Bearer s3") && r.header("x-trace") == Some("t-2")));
}

#[test]
fn outcomes_count_rate_limited_breaker_open_overloaded_and_auth_refusals_exactly() {
    // Open loop, one connection, 200 requests: 20 of each refusal kind, 80 results.
    let pki = Pki::new();
    let seen = Arc::new(Seen::default());
    let port = tls_server(pki.server_config(false, true), seen, serve_http);
    let url = format!("https://127.0.0.1:{port}/mcp");
    let ca = pki.path("ca.pem");
    let (code, report, out) = loadgen_json(&[
        "run",
        "--url",
        &url,
        "--ca-file",
        &ca,
        "--rate",
        "200",
        "--duration",
        "1s",
        "--warmup",
        "0s",
        "--bearer-token",
        "abc",
    ]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(n(&report, "sent"), 200, "{report}");
    assert_identity(&report);
    let o = &report["outcomes"];
    for (field, want) in [
        ("ok", 80),
        ("rate_limited", 20),
        ("overloaded", 40),
        ("breaker_open", 20),
        ("unauthorized", 20),
        ("forbidden", 20),
        ("tool_timeout", 0),
        ("other_errors", 0),
        ("timeouts", 0),
        ("lost", 0),
    ] {
        assert_eq!(n(o, field), want, "{field}: {report}");
    }
    let e = &report["errors"];
    assert_eq!(
        (n(e, "-32013"), n(e, "http_503"), n(e, "-32011"), n(e, "-32010"), n(e, "-32600")),
        (20, 20, 20, 20, 40)
    );
    let s = &report["http_status"];
    assert_eq!((n(s, "200"), n(s, "429"), n(s, "503"), n(s, "401"), n(s, "403")), (120, 20, 20, 20, 20));
    assert!(out.contains("outcomes      ok 80 rate_limited 20 breaker_open 20 overloaded 40"), "{out}");
}

#[test]
fn wss_sends_the_headers_on_the_upgrade() {
    let pki = Pki::new();
    let seen = Arc::new(Seen::default());
    let port = tls_server(pki.server_config(false, true), seen.clone(), serve_ws);
    let url = format!("wss://localhost:{port}/mcp/ws");
    let ca = pki.path("ca.pem");
    let (code, report, out) =
        run(&url, &["--ca-file", &ca, "--inflight", "8", "--header", "X-A: 1", "--bearer-token", "t0k"]);
    assert_clean(code, &report, &out);
    assert_eq!((report["transport"].as_str(), report["tls"].as_bool()), (Some("ws"), Some(true)));
    let requests = seen.requests.lock().expect("lock");
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].header("authorization"), Some("Bearer t0k"));
    assert_eq!(requests[0].header("x-a"), Some("1"));
    let handshakes = seen.handshakes.lock().expect("lock");
    assert_eq!(handshakes.as_slice(), &[(Some(b"http/1.1".to_vec()), Some("localhost".to_string()), false)]);
}

#[test]
fn mtls_needs_the_client_certificate() {
    let pki = Pki::new();
    let seen = Arc::new(Seen::default());
    let port = tls_server(pki.server_config(true, false), seen.clone(), serve_ndjson);
    let url = format!("tls://127.0.0.1:{port}");
    let (ca, cert, key) = (pki.path("ca.pem"), pki.path("client.pem"), pki.path("client.key"));
    let (code, report, out) = run(&url, &["--ca-file", &ca, "--client-cert", &cert, "--client-key", &key]);
    assert_clean(code, &report, &out);
    assert_eq!(seen.handshakes.lock().expect("lock").as_slice(), &[(None, None, true)]);
    // Without it the server refuses (in TLS 1.3 after the client's side of the handshake, so
    // the connection fails at its first read, with the server's alert as the reason): a
    // connection error, nothing answered.
    let (_, report, out) = run(&url, &["--ca-file", &ca]);
    assert_eq!(n(&report, "connection_errors"), 1, "{report}");
    assert!(out.contains("CertificateRequired"), "{out}");
    assert_eq!(n(&report, "ok"), 0, "{report}");
    assert_identity(&report);
}

#[test]
fn a_certificate_from_an_untrusted_ca_fails_the_handshake() {
    let pki = Pki::new();
    let port = tls_server(pki.server_config(false, true), Arc::new(Seen::default()), serve_ndjson);
    let url = format!("tls://127.0.0.1:{port}");
    let other = pki.path("other-ca.pem");
    let (code, report, out) = run(&url, &["--ca-file", &other, "--connections", "2"]);
    assert_eq!(code, 1, "{out}");
    assert_eq!((n(&report, "connection_errors"), n(&report, "connections_established")), (2, 0), "{report}");
    assert!(out.contains("TLS handshake with 127.0.0.1") && out.contains("UnknownIssuer"), "{out}");
    // And a name the certificate does not carry.
    let ca = pki.path("ca.pem");
    let (code, _, out) = run(&url, &["--ca-file", &ca, "--server-name", "example.com"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("not valid for name \"example.com\""), "{out}");
}

#[test]
fn tls_and_header_flags_that_cannot_apply_are_refused_at_start() {
    let pki = Pki::new();
    let ca = pki.path("ca.pem");
    for (args, needle) in [
        (vec!["--url", "tcp://127.0.0.1:1", "--header", "X: 1"], "--header"),
        (vec!["--url", "tls://127.0.0.1:1", "--ca-file", &ca, "--bearer-token", "t"], "no headers"),
        (vec!["--url", "http://127.0.0.1:1/mcp", "--ca-file", &ca], "need TLS"),
        (vec!["--url", "stdio:cat", "--tls"], "stdio"),
        (vec!["--url", "https://127.0.0.1:1/mcp", "--ca-file", "/nonexistent/ca.pem"], "/nonexistent/ca.pem"),
        (vec!["--url", "http://127.0.0.1:1/mcp", "--header", "Host: x"], "sets this header itself"),
        (vec!["--url", "http://127.0.0.1:1/mcp", "--bearer-token", "bad token"], "bearer token"),
    ] {
        let mut all = vec!["run"];
        all.extend(args.iter().copied());
        let (code, _, stderr) = loadgen(&all);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(!stderr.contains("bad token"), "{stderr}");
    }
}

#[test]
fn handshakes_refused_with_an_http_status_are_counted_by_it() {
    fn unauthorized(_: &str) -> Vec<u8> {
        b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer\r\nContent-Length: 0\r\n\r\n".to_vec()
    }
    let url = common::ws_server(unauthorized, Arc::new(|_, _| Vec::new()), Arc::default());
    let (code, report, out) = run(&url, &["--connections", "3"]);
    assert_eq!(code, 1, "{out}");
    assert_eq!(n(&report, "connection_errors"), 3, "{report}");
    assert_eq!(report["connect_http_status"], serde_json::json!({"401": 3}), "{report}");
    assert!(report["http_status"].as_object().expect("object").is_empty(), "{report}");
}
