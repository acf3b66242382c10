//! Authorization, black-box through real sockets: the Protected Resource Metadata, the 401
//! and 403 challenges (exact headers and bodies), the JWT matrix (signature, algorithm,
//! audience, issuer, expiry), API keys, scopes per method and tool with a hierarchy, session
//! binding, the WebSocket upgrade, raw NDJSON refused, and the JWKS fetched from a URL this
//! test serves itself (counting fetches): key rotation costs one fetch, forged `kid`s none.

mod common;

use common::{ws_frame, ws_upgrade, HttpConn, HttpResponse, Req, Server, INIT, WS_MASK, WS_TEXT};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use rcgen::KeyPair;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

const RESOURCE: &str = "http://127.0.0.1/mcp";
const ISSUER: &str = "https://as.test";
const PRM_URL: &str = "http://127.0.0.1/.well-known/oauth-protected-resource/mcp";
const PRM: &str = r#"{"resource":"http://127.0.0.1/mcp","authorization_servers":["https://as.test"],"scopes_supported":["mcp","mcp:who"],"bearer_methods_supported":["header"],"resource_name":"ringmcp"}"#;
const RSA_TEST_KEY: &str = include_str!("../tools/testpki/rsa-test-key.pem");
/// A test-only API key and the line of the key file that lists it.
const API_KEY: &str = "rmk_test-only-key-0123456789abcdefghijklmnopqrstuvw";

/// A signing key: its kid, algorithm, private key and public JWK.
struct SigningKey {
    kid: &'static str,
    alg: Algorithm,
    enc: EncodingKey,
    jwk: Jwk,
}

fn ed_key(kid: &'static str) -> SigningKey {
    let kp = KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let dec = DecodingKey::from_ed_der(kp.public_key_raw());
    let mut jwk = Jwk::from_decoding_key(&dec, Some(Algorithm::EdDSA)).unwrap();
    jwk.common.key_id = Some(kid.into());
    SigningKey { kid, alg: Algorithm::EdDSA, enc: EncodingKey::from_ed_der(&kp.serialize_der()), jwk }
}

fn ec_key(kid: &'static str) -> SigningKey {
    let kp = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let dec = DecodingKey::from_ec_der(kp.public_key_raw());
    let mut jwk = Jwk::from_decoding_key(&dec, Some(Algorithm::ES256)).unwrap();
    jwk.common.key_id = Some(kid.into());
    SigningKey { kid, alg: Algorithm::ES256, enc: EncodingKey::from_ec_der(&kp.serialize_der()), jwk }
}

fn rsa_key(kid: &'static str) -> SigningKey {
    let enc = EncodingKey::from_rsa_pem(RSA_TEST_KEY.as_bytes()).unwrap();
    let mut jwk = Jwk::from_encoding_key(&enc, Algorithm::RS256).unwrap();
    jwk.common.key_id = Some(kid.into());
    SigningKey { kid, alg: Algorithm::RS256, enc, jwk }
}

fn now() -> i64 {
    jsonwebtoken::get_current_timestamp() as i64
}

/// Claims accepted by the server: the resource as `aud`, the issuer, five minutes to live.
fn claims(sub: &str, scope: &str) -> Value {
    json!({"iss": ISSUER, "aud": RESOURCE, "sub": sub, "scope": scope, "iat": now(), "exp": now() + 300})
}

fn sign(key: &SigningKey, claims: &Value) -> String {
    let mut header = Header::new(key.alg);
    header.kid = Some(key.kid.into());
    header.typ = Some("at+jwt".into());
    jsonwebtoken::encode(&header, claims, &key.enc).unwrap()
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A JWKS served over HTTP by this test, counting the fetches; its document can change.
struct Jwks {
    url: String,
    doc: Arc<Mutex<String>>,
    hits: Arc<AtomicUsize>,
}

impl Jwks {
    fn serve(keys: &[&SigningKey]) -> Jwks {
        Jwks::serve_on(keys, None)
    }

    /// [`Jwks::serve`] over TLS (`https://`) with `tls`.
    fn serve_on(keys: &[&SigningKey], tls: Option<Arc<rustls::ServerConfig>>) -> Jwks {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let url = format!("{scheme}://{}/jwks.json", listener.local_addr().unwrap());
        let doc = Arc::new(Mutex::new(String::new()));
        let hits = Arc::new(AtomicUsize::new(0));
        let jwks = Jwks { url, doc: doc.clone(), hits: hits.clone() };
        jwks.set(keys);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(2)));
                let body = doc.lock().unwrap().clone();
                match &tls {
                    None => answer(stream, &body, &hits),
                    Some(cfg) => {
                        let conn = rustls::ServerConnection::new(cfg.clone()).unwrap();
                        let mut tls = rustls::StreamOwned::new(conn, stream);
                        answer(&mut tls, &body, &hits);
                        tls.conn.send_close_notify();
                        let _ = tls.flush();
                    }
                }
            }
        });
        jwks
    }

    /// Serves `keys`, plus an HMAC (`oct`) key the server must never use.
    fn set(&self, keys: &[&SigningKey]) {
        let set = JwkSet { keys: keys.iter().map(|k| k.jwk.clone()).collect() };
        let mut doc = serde_json::to_value(&set).unwrap();
        doc["keys"].as_array_mut().unwrap().push(json!({"kty":"oct","kid":"k-oct","k":b64(b"a shared secret")}));
        *self.doc.lock().unwrap() = doc.to_string();
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// Reads one request head from `stream` and answers `body`, counting the request.
fn answer(mut stream: impl Read + Write, body: &str, hits: &AtomicUsize) {
    let mut reader = BufReader::new(&mut stream);
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
        line.clear();
    }
    hits.fetch_add(1, Ordering::SeqCst);
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body.as_bytes());
    let _ = stream.flush();
}

/// Starts a server on the conformance pack (it has `whoami`) with authorization required:
/// JWTs from `jwks`, the API key of [`API_KEY`], scope `mcp` for everything and `mcp:who`
/// for `whoami` (implied by `mcp:admin`).
fn start(jwks: &Jwks, extra: &[&str]) -> (Server, tempfile::TempDir) {
    start_with(jwks, ("required", "mcp", "1"), extra)
}

/// [`start`] with another `auth_mode`, `auth_required_scopes` and number of cores.
fn start_with(jwks: &Jwks, (mode, required, cores): (&str, &str, &str), extra: &[&str]) -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("api-keys");
    let hash = {
        use sha2::Digest as _;
        let d = sha2::Sha256::digest(API_KEY.as_bytes());
        d.iter().map(|b| format!("{b:02x}")).collect::<String>()
    };
    std::fs::write(&keys, format!("# test keys\nci-bot sha256:{hash} mcp mcp:who\n")).unwrap();
    let keys = keys.to_str().unwrap().to_string();
    let mut args = vec![
        "--cores",
        cores,
        "--pack",
        "conformance",
        "--auth-mode",
        mode,
        "--auth-resource",
        RESOURCE,
        "--auth-issuers",
        ISSUER,
        "--auth-jwks-url",
        &jwks.url,
        "--auth-api-keys-file",
        &keys,
        "--auth-scopes-supported",
        "mcp,mcp:who,offline_access",
        "--auth-required-scopes",
        required,
        "--auth-scope",
        "tools/call:whoami=mcp:who",
        "--auth-scope-implies",
        "mcp:admin>mcp:who",
        "--auth-jwks-min-refresh-interval-ms",
        "600000",
    ];
    args.extend_from_slice(extra);
    (Server::start(&args), dir)
}

fn bearer(req: Req, token: &str) -> Req {
    req.header("Authorization", &format!("Bearer {token}"))
}

/// A request that needs no session: a 2026-07-28 `server/discover`.
fn ping(port: u16) -> Req {
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"server/discover","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#;
    Req::mcp(port, body).header("MCP-Protocol-Version", "2026-07-28").header("Mcp-Method", "server/discover")
}

/// Asserts a 401 with `error="invalid_token"` and `description`, with its exact body.
fn assert_invalid(r: &HttpResponse, description: &str) {
    assert_eq!(r.status, 401, "{description}: {r:?}");
    let challenge =
        format!(r#"Bearer error="invalid_token", error_description="{description}", resource_metadata="{PRM_URL}""#);
    assert_eq!(r.header("www-authenticate"), Some(challenge.as_str()), "{description}");
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":null,"error":{{"code":-32600,"message":"Unauthorized: invalid_token ({description})","data":{{"error":"invalid_token","error_description":"{description}","resourceMetadata":"{PRM_URL}"}}}}}}"#
    );
    assert_eq!(r.text(), body);
}

const MISSING_CHALLENGE: &str =
    r#"Bearer resource_metadata="http://127.0.0.1/.well-known/oauth-protected-resource/mcp", scope="mcp""#;
const MISSING_BODY: &str = r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Unauthorized: a bearer token is required (Authorization: Bearer <token>)","data":{"error":"invalid_token","error_description":"a bearer token is required","resourceMetadata":"http://127.0.0.1/.well-known/oauth-protected-resource/mcp"}}}"#;
const FORBIDDEN_CHALLENGE: &str = r#"Bearer error="insufficient_scope", scope="mcp mcp:who", resource_metadata="http://127.0.0.1/.well-known/oauth-protected-resource/mcp""#;

#[test]
fn metadata_is_open_and_requests_without_a_token_get_the_challenge() {
    let ed = ed_key("k-ed");
    let jwks = Jwks::serve(&[&ed]);
    let (server, _dir) = start(&jwks, &[]);
    let port = server.port;
    let mut conn = HttpConn::connect(port);
    for path in ["/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"] {
        let r = conn.call(&Req::new("GET", path, port));
        assert_eq!((r.status, r.text()), (200, PRM), "{path}");
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.header("cache-control"), Some("max-age=300"));
        assert_eq!(r.header("access-control-allow-origin"), Some("*"));
        let head = {
            conn.send(&Req::new("HEAD", path, port).bytes());
            conn.read_head()
        };
        assert_eq!((head.status, head.header("content-length")), (200, Some(PRM.len().to_string().as_str())));
        let r = conn.call(&Req::new("OPTIONS", path, port).header("Origin", "https://app.example"));
        assert_eq!((r.status, r.header("access-control-allow-methods")), (204, Some("GET, HEAD, OPTIONS")));
        let r = conn.call(&Req::new("POST", path, port));
        assert_eq!((r.status, r.header("allow")), (405, Some("GET, HEAD, OPTIONS")));
    }
    for path in ["/health", "/ready"] {
        assert_eq!(conn.call(&Req::new("GET", path, port)).status, 200, "{path} stays open");
    }
    // Every /mcp request of both eras needs the token: POST, GET, DELETE.
    let session = "0123456789abcdef0123456789abcdef";
    let requests = [
        ping(port),
        Req::mcp(port, INIT),
        Req::new("GET", "/mcp", port).header("Accept", "text/event-stream").header("Mcp-Session-Id", session),
        Req::new("DELETE", "/mcp", port).header("Mcp-Session-Id", session),
        Req::mcp(port, r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#),
    ];
    for req in &requests {
        let r = conn.call(req);
        assert_eq!(r.status, 401, "{r:?}");
        assert_eq!(r.header("www-authenticate"), Some(MISSING_CHALLENGE));
        assert_eq!(r.text(), MISSING_BODY);
    }
    // Another scheme is a bad credential, not a missing one.
    let r = conn.call(&ping(port).header("Authorization", "Basic dXNlcjpwYXNz"));
    assert_invalid(&r, "not a Bearer token");
    // A disallowed Origin is refused first, without a challenge.
    let r = conn.call(&ping(port).header("Origin", "https://evil.example"));
    assert_eq!((r.status, r.header("www-authenticate")), (403, None));
    assert_eq!(jwks.hits(), 1, "fetched once at start-up");
}

#[test]
fn tokens_are_checked_for_signature_algorithm_audience_issuer_and_time() {
    let (ed, ec, rsa) = (ed_key("k-ed"), ec_key("k-ec"), rsa_key("k-rsa"));
    let jwks = Jwks::serve(&[&ed, &ec, &rsa]);
    let (server, _dir) = start(&jwks, &[]);
    let port = server.port;
    let mut conn = HttpConn::connect(port);
    for key in [&ed, &ec, &rsa] {
        let r = conn.call(&bearer(ping(port), &sign(key, &claims("alice", "mcp"))));
        assert_eq!(r.status, 200, "{}: {r:?}", key.kid);
        assert!(r.text().starts_with(r#"{"jsonrpc":"2.0","id":1,"result":{"resultType":"complete""#), "{r:?}");
    }
    // An origin-form audience among several, as some authorization servers send.
    let mut multi = claims("alice", "mcp");
    multi["aud"] = json!(["https://other.example", RESOURCE]);
    assert_eq!(conn.call(&bearer(ping(port), &sign(&ed, &multi))).status, 200);

    let with = |f: &dyn Fn(&mut Value)| {
        let mut c = claims("alice", "mcp");
        f(&mut c);
        sign(&ed, &c)
    };
    let untrusted = ed_key("k-ed"); // the right kid, another key
    let payload = |c: &Value| b64(c.to_string().as_bytes());
    let header = |h: &str| b64(h.as_bytes());
    let good = sign(&ed, &claims("alice", "mcp"));
    let parts: Vec<&str> = good.split('.').collect();
    let tampered = format!("{}.{}.{}", parts[0], payload(&claims("mallory", "mcp mcp:who")), parts[2]);
    let none =
        format!("{}.{}.", header(r#"{"alg":"none","typ":"JWT","kid":"k-ed"}"#), payload(&claims("alice", "mcp")));
    // HS256 "signed" with the public key's bytes: the classic key-confusion attack.
    let public_x = ed.jwk.clone();
    let x = match &public_x.algorithm {
        jsonwebtoken::jwk::AlgorithmParameters::OctetKeyPair(p) => p.x.clone(),
        _ => unreachable!(),
    };
    let mut hs_header = Header::new(Algorithm::HS256);
    hs_header.kid = Some("k-ed".into());
    let hs =
        jsonwebtoken::encode(&hs_header, &claims("alice", "mcp"), &EncodingKey::from_secret(x.as_bytes()).unwrap())
            .unwrap();
    let cases: Vec<(String, &str)> = vec![
        (with(&|c| c["aud"] = json!("https://other.example/mcp")), "audience mismatch"),
        (with(&|c| drop(c.as_object_mut().unwrap().remove("aud"))), "required claim missing (exp, iss, aud)"),
        (with(&|c| c["iss"] = json!("https://evil.example")), "issuer not trusted"),
        (with(&|c| c["exp"] = json!(now() - 120)), "token expired"),
        (with(&|c| c["nbf"] = json!(now() + 600)), "token not yet valid"),
        (sign(&untrusted, &claims("alice", "mcp")), "bad signature"),
        (tampered, "bad signature"),
        (none, "malformed token"),
        (hs, "algorithm not accepted"),
        ("not-a-token".to_string(), "unknown token"),
    ];
    for (token, description) in &cases {
        assert_invalid(&conn.call(&bearer(ping(port), token)), description);
    }
    // Within the clock skew (60 s): still valid.
    assert_eq!(conn.call(&bearer(ping(port), &with(&|c| c["exp"] = json!(now() - 10)))).status, 200);
    // The connection verified `good` once; a different token on it is verified again.
    assert_eq!(conn.call(&bearer(ping(port), &good)).status, 200);
    assert_invalid(&conn.call(&bearer(ping(port), &cases[3].0)), "token expired");
    assert_eq!(conn.call(&bearer(ping(port), &good)).status, 200);
    assert_eq!(jwks.hits(), 1, "no kid was unknown: no refresh");
}

/// Calls `whoami` in a 2025-11-25 session; returns the response.
fn whoami_in(conn: &mut HttpConn, port: u16, session: &str, token: &str) -> HttpResponse {
    let call = r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"whoami","arguments":{}}}"#;
    conn.call(&bearer(Req::mcp_in(port, session, call), token))
}

fn whoami_text(r: &HttpResponse) -> String {
    assert_eq!(r.status, 200, "{r:?}");
    r.json()["result"]["content"][0]["text"].as_str().unwrap().to_string()
}

#[test]
fn scopes_per_tool_with_a_hierarchy_and_sessions_bound_to_their_subject() {
    let ed = ed_key("k-ed");
    let jwks = Jwks::serve(&[&ed]);
    // Two cores: requests for a session owned by the other core are forwarded with their
    // identity.
    let (server, _dir) = start_with(&jwks, ("required", "mcp", "2"), &[]);
    let port = server.port;
    let mut conn = HttpConn::connect(port);
    let alice = sign(&ed, &claims("alice", "mcp"));
    let init = conn.call(&bearer(Req::mcp(port, INIT), &alice));
    assert_eq!(init.status, 200, "{init:?}");
    let session = init.header("mcp-session-id").unwrap().to_string();
    // `whoami` needs mcp:who too: 403 naming every scope the call needs.
    let r = whoami_in(&mut conn, port, &session, &alice);
    assert_eq!(r.status, 403, "{r:?}");
    assert_eq!(r.header("www-authenticate"), Some(FORBIDDEN_CHALLENGE));
    assert_eq!(
        r.text(),
        r#"{"jsonrpc":"2.0","id":7,"error":{"code":-32600,"message":"Forbidden: insufficient_scope (needs: mcp mcp:who)","data":{"error":"insufficient_scope","scope":"mcp mcp:who","resourceMetadata":"http://127.0.0.1/.well-known/oauth-protected-resource/mcp"}}}"#
    );
    // Other tools need only mcp.
    let simple =
        r#"{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"test_simple_text","arguments":{}}}"#;
    assert_eq!(conn.call(&bearer(Req::mcp_in(port, &session, simple), &alice)).status, 200);
    // A new token of alice's with more scope, on the same session: the tool sees it.
    let alice_who = sign(
        &ed,
        &json!({"iss": ISSUER, "aud": RESOURCE, "sub": "alice", "client_id": "app-1", "scope": "mcp mcp:who", "exp": now() + 300}),
    );
    assert_eq!(
        whoami_text(&whoami_in(&mut conn, port, &session, &alice_who)),
        r#"{"subject":"alice","clientId":"app-1","scopes":["mcp","mcp:who"],"source":"jwt"}"#
    );
    // mcp:admin implies mcp:who.
    let admin = sign(&ed, &claims("alice", "mcp mcp:admin"));
    assert_eq!(whoami_in(&mut conn, port, &session, &admin).status, 200);
    // Bob's valid token on alice's session: the session is unknown to him (also GET, DELETE).
    let bob = sign(&ed, &claims("bob", "mcp mcp:who"));
    let r = whoami_in(&mut conn, port, &session, &bob);
    assert_eq!(r.status, 404, "{r:?}");
    let get = Req::new("GET", "/mcp", port).header("Accept", "text/event-stream").header("Mcp-Session-Id", &session);
    assert_eq!(conn.call(&bearer(get, &bob)).status, 404);
    let delete = Req::new("DELETE", "/mcp", port).header("Mcp-Session-Id", &session);
    assert_eq!(conn.call(&bearer(delete.clone(), &bob)).status, 404);
    // The required scope holds for GET and DELETE too.
    let r = conn.call(&bearer(delete.clone(), &sign(&ed, &claims("alice", "mcp:who"))));
    let challenge = format!(r#"Bearer error="insufficient_scope", scope="mcp", resource_metadata="{PRM_URL}""#);
    assert_eq!((r.status, r.header("www-authenticate")), (403, Some(challenge.as_str())));
    // An API key is another subject too; on a session of its own it works.
    let r = conn.call(&bearer(Req::mcp(port, INIT), API_KEY));
    let key_session = r.header("mcp-session-id").unwrap().to_string();
    assert_eq!(
        whoami_text(&whoami_in(&mut conn, port, &key_session, API_KEY)),
        r#"{"subject":"ci-bot","clientId":null,"scopes":["mcp","mcp:who"],"source":"api_key"}"#
    );
    assert_eq!(whoami_in(&mut conn, port, &session, API_KEY).status, 404);
    assert_invalid(&whoami_in(&mut conn, port, &key_session, "rmk_wrong-key"), "unknown token");
    for _ in 0..6 {
        let r = HttpConn::connect(port).call(&bearer(Req::mcp(port, INIT), &alice_who));
        let s = r.header("mcp-session-id").unwrap().to_string();
        let mut other = HttpConn::connect(port);
        assert!(whoami_text(&whoami_in(&mut other, port, &s, &alice_who)).contains(r#""subject":"alice""#));
        assert_eq!(whoami_in(&mut other, port, &s, &bob).status, 404);
    }
    // Alice still owns hers, and may end it.
    assert_eq!(conn.call(&bearer(delete, &alice)).status, 200);
    // The 2026-07-28 era: the same rules, per request.
    let modern = |token: &str| {
        let body = r#"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"whoami","arguments":{},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#;
        let req = Req::mcp(port, body)
            .header("MCP-Protocol-Version", "2026-07-28")
            .header("Mcp-Method", "tools/call")
            .header("Mcp-Name", "whoami");
        bearer(req, token)
    };
    let r = conn.call(&modern(&alice));
    assert_eq!((r.status, r.header("www-authenticate")), (403, Some(FORBIDDEN_CHALLENGE)));
    assert_eq!(
        whoami_text(&conn.call(&modern(&bob))),
        r#"{"subject":"bob","clientId":null,"scopes":["mcp","mcp:who"],"source":"jwt"}"#
    );
    let metrics = conn.call(&Req::new("GET", "/metrics", port));
    let text = metrics.text();
    assert!(text.contains("ringmcp_auth_total{outcome=\"forbidden\"} 3"), "{text}");
    assert!(text.contains("ringmcp_auth_total{outcome=\"invalid\"} 1"), "{text}");
}

fn send_text(conn: &mut HttpConn, text: &str) {
    conn.send(&ws_frame(WS_TEXT, text.as_bytes(), Some(WS_MASK)));
}

fn recv_text(conn: &mut HttpConn) -> String {
    let frame = conn.read_ws_frame().expect("a text frame");
    assert_eq!(frame.opcode, WS_TEXT, "{frame:?}");
    frame.text().to_string()
}

#[test]
fn the_websocket_upgrade_carries_the_token() {
    let ed = ed_key("k-ed");
    let jwks = Jwks::serve(&[&ed]);
    let (server, _dir) = start(&jwks, &[]);
    let port = server.port;
    let mut conn = HttpConn::connect(port);
    let r = conn.call(&ws_upgrade(port));
    assert_eq!((r.status, r.header("www-authenticate")), (401, Some(MISSING_CHALLENGE)));
    assert_eq!(r.text(), MISSING_BODY);
    let expired = sign(&ed, &json!({"iss": ISSUER, "aud": RESOURCE, "sub": "a", "scope": "mcp", "exp": now() - 600}));
    assert_invalid(&conn.call(&bearer(ws_upgrade(port), &expired)), "token expired");
    let no_scope = sign(&ed, &claims("alice", "mcp:who"));
    let r = conn.call(&bearer(ws_upgrade(port), &no_scope));
    let challenge = format!(r#"Bearer error="insufficient_scope", scope="mcp", resource_metadata="{PRM_URL}""#);
    assert_eq!((r.status, r.header("www-authenticate")), (403, Some(challenge.as_str())));
    // The same connection upgrades once the token is right; messages get the tool scopes.
    conn.send(&bearer(ws_upgrade(port), &sign(&ed, &claims("alice", "mcp"))).bytes());
    assert_eq!(conn.read_head().status, 101);
    send_text(&mut conn, INIT);
    assert!(recv_text(&mut conn).contains(r#""id":0,"result""#));
    send_text(&mut conn, r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"whoami","arguments":{}}}"#);
    assert_eq!(
        recv_text(&mut conn),
        r#"{"jsonrpc":"2.0","id":2,"error":{"code":-32600,"message":"Forbidden: insufficient_scope (needs: mcp mcp:who)","data":{"error":"insufficient_scope","scope":"mcp mcp:who","resourceMetadata":"http://127.0.0.1/.well-known/oauth-protected-resource/mcp"}}}"#
    );
    let mut ws = HttpConn::connect(port);
    ws.send(&bearer(ws_upgrade(port), &sign(&ed, &claims("carol", "mcp mcp:who"))).bytes());
    assert_eq!(ws.read_head().status, 101);
    send_text(&mut ws, INIT);
    assert!(recv_text(&mut ws).contains(r#""id":0,"result""#));
    send_text(&mut ws, r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"whoami","arguments":{}}}"#);
    let answer: Value = serde_json::from_str(&recv_text(&mut ws)).unwrap();
    assert_eq!(
        answer["result"]["content"][0]["text"],
        r#"{"subject":"carol","clientId":null,"scopes":["mcp","mcp:who"],"source":"jwt"}"#
    );
}

#[test]
fn raw_ndjson_is_refused_without_a_client_certificate() {
    let ed = ed_key("k-ed");
    let jwks = Jwks::serve(&[&ed]);
    let (server, _dir) = start(&jwks, &[]);
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(2))).unwrap();
    tcp.write_all(format!("{INIT}\n").as_bytes()).unwrap();
    let mut all = String::new();
    tcp.read_to_string(&mut all).expect("the server answers once, then closes");
    assert_eq!(
        all,
        "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32600,\"message\":\"Unauthorized: raw NDJSON needs a verified TLS client certificate when authorization is on; use HTTP /mcp with a bearer token\",\"data\":{\"error\":\"invalid_token\",\"error_description\":\"raw NDJSON needs a verified TLS client certificate when authorization is on; use HTTP /mcp with a bearer token\"}}}\n"
    );
}

#[test]
fn a_rotated_key_costs_one_fetch_and_forged_kids_none() {
    let (old, new) = (ed_key("k-old"), ed_key("k-new"));
    let jwks = Jwks::serve(&[&old]);
    let (server, _dir) = start(&jwks, &[]);
    let port = server.port;
    assert_eq!(jwks.hits(), 1);
    let mut conn = HttpConn::connect(port);
    assert_eq!(conn.call(&bearer(ping(port), &sign(&old, &claims("alice", "mcp")))).status, 200);
    // The issuer rotates: the first token with the new kid makes the server fetch again.
    jwks.set(&[&old, &new]);
    let r = conn.call(&bearer(ping(port), &sign(&new, &claims("alice", "mcp"))));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(jwks.hits(), 2);
    // Forged kids: refused at once, no fetch (one per auth_jwks_min_refresh_interval_ms).
    let mut forger = ed_key("k-forged");
    for i in 0..20 {
        forger.kid = ["k-forged-1", "k-forged-2", "k-forged-3"][i % 3];
        let r = conn.call(&bearer(ping(port), &sign(&forger, &claims("mallory", "mcp"))));
        assert_invalid(&r, "unknown signing key");
    }
    assert_eq!(jwks.hits(), 2, "forged kids did not reach the JWKS");
    let metrics = conn.call(&Req::new("GET", "/metrics", port));
    assert!(metrics.text().contains("ringmcp_auth_jwks_fetches_total{result=\"denied\"} 20"), "{}", metrics.text());
    assert!(metrics.text().contains("ringmcp_auth_jwks_fetches_total{result=\"ok\"} 2"), "{}", metrics.text());
}

#[test]
fn optional_mode_serves_anonymous_requests_that_need_no_scope() {
    let ed = ed_key("k-ed");
    let jwks = Jwks::serve(&[&ed]);
    let (server, _dir) = start_with(&jwks, ("optional", "", "1"), &[]);
    let port = server.port;
    let mut conn = HttpConn::connect(port);
    assert_eq!(conn.call(&ping(port)).status, 200, "anonymous, no scope needed");
    let whoami = |token: Option<&str>| {
        let body = r#"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"whoami","arguments":{},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#;
        let req = Req::mcp(port, body)
            .header("MCP-Protocol-Version", "2026-07-28")
            .header("Mcp-Method", "tools/call")
            .header("Mcp-Name", "whoami");
        match token {
            Some(t) => bearer(req, t),
            None => req,
        }
    };
    let r = conn.call(&whoami(None));
    let challenge = format!(r#"Bearer resource_metadata="{PRM_URL}", scope="mcp:who""#);
    assert_eq!((r.status, r.header("www-authenticate")), (401, Some(challenge.as_str())), "{r:?}");
    assert_invalid(&conn.call(&whoami(Some("rmk_wrong"))), "unknown token");
    assert!(whoami_text(&conn.call(&whoami(Some(API_KEY)))).contains(r#""subject":"ci-bot""#));
}

#[test]
fn the_conformance_pack_starts_with_auth_off_and_bad_auth_settings_are_named() {
    // Off by default: no metadata, NDJSON and /mcp served without a token.
    let server = Server::start(&["--cores", "1", "--pack", "conformance"]);
    let mut conn = HttpConn::connect(server.port);
    assert_eq!(conn.call(&Req::new("GET", "/.well-known/oauth-protected-resource", server.port)).status, 404);
    assert_eq!(conn.call(&ping(server.port)).status, 200);
    let mut c = server.connect();
    assert!(c.call(INIT).contains(r#""result""#));
    let run = |args: &[&str]| {
        let out = std::process::Command::new(common::bin()).arg("serve").args(args).output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).trim().to_string())
    };
    let (code, err) = run(&["--auth-mode", "required"]);
    assert_eq!(code, Some(2));
    assert!(err.starts_with("ringmcp: invalid setting `auth_resource`: required when auth_mode is not off"), "{err}");
    let (code, err) = run(&["--auth-mode", "required", "--auth-resource", "http://mcp.example.com/mcp"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("http is only accepted for loopback hosts"), "{err}");
    let (code, err) = run(&["--auth-mode", "sometimes"]);
    assert_eq!(
        (code, err.as_str()),
        (Some(2), "ringmcp: invalid setting `auth_mode`: `sometimes`; accepted: off, optional, required")
    );
    let (code, err) = run(&[
        "--auth-mode",
        "required",
        "--auth-resource",
        RESOURCE,
        "--auth-issuers",
        ISSUER,
        "--auth-jwks-url",
        "http://127.0.0.1:1/jwks.json",
    ]);
    assert_eq!(code, Some(2));
    assert!(err.starts_with("ringmcp: invalid setting `auth_jwks_url`: http://127.0.0.1:1/jwks.json: "), "{err}");
    // hash-key prints the key file form.
    let mut child = std::process::Command::new(common::bin())
        .arg("hash-key")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"abc\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\n"
    );
}

#[test]
fn the_jwks_is_fetched_over_https_trusting_a_private_ca() {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
    let issuer = Issuer::new(ca, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap().signed_by(&leaf_key, &issuer).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into());
    let tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone()], key)
        .unwrap();
    let ed = ed_key("k-ed");
    let jwks = Jwks::serve_on(&[&ed], Some(Arc::new(tls)));
    assert!(jwks.url.starts_with("https://127.0.0.1:"));
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    let (server, _keys) = start(&jwks, &["--auth-jwks-ca-file", ca_file.to_str().unwrap()]);
    let r = HttpConn::connect(server.port).call(&bearer(ping(server.port), &sign(&ed, &claims("alice", "mcp"))));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(jwks.hits(), 1);
    // Without the CA the server does not trust the JWKS host: it does not start.
    let out = std::process::Command::new(common::bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--auth-mode", "required", "--auth-resource", RESOURCE])
        .args(["--auth-issuers", ISSUER, "--auth-jwks-url", &jwks.url])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("invalid setting `auth_jwks_url`"), "{err}");
}

#[test]
fn a_tool_declares_its_own_scopes_in_the_library_api() {
    let ed = ed_key("k-ed");
    let jwks = Jwks::serve(&[&ed]);
    let (server, _dir) = start(&jwks, &[]);
    let port = server.port;
    let call = r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"admin_echo","arguments":{"text":"hi"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#;
    let req = |token: &str| {
        let r = Req::mcp(port, call)
            .header("MCP-Protocol-Version", "2026-07-28")
            .header("Mcp-Method", "tools/call")
            .header("Mcp-Name", "admin_echo");
        bearer(r, token)
    };
    // `admin_echo` declares mcp:admin (ToolBuilder::scopes); no auth_scope rule names it.
    let r = HttpConn::connect(port).call(&req(&sign(&ed, &claims("bob", "mcp"))));
    assert_eq!(r.status, 403, "{r:?}");
    assert_eq!(
        r.header("www-authenticate"),
        Some(
            format!(r#"Bearer error="insufficient_scope", scope="mcp mcp:admin", resource_metadata="{PRM_URL}""#)
                .as_str()
        )
    );
    let r = HttpConn::connect(port).call(&req(&sign(&ed, &claims("root", "mcp mcp:admin"))));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["result"]["content"][0]["text"], "hi");
}
