//! TLS on the listen port: HTTPS, WSS and TLS-NDJSON beside plaintext (`tls_mode`), the
//! handshake deadline, ALPN, mTLS and SIGHUP reload, through a real rustls client. The PKI
//! (a CA, server certificates for localhost/127.0.0.1, a client certificate) is made with
//! rcgen at test time.

mod common;

use common::*;
use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

const CALL: &str =
    r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"over tls"}}}"#;
const ECHOED: &str = r#""text":"over tls""#;

/// A CA and the certificates it signed, with their PEM files in a temporary directory.
struct Pki {
    dir: tempfile::TempDir,
    ca: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

impl Pki {
    fn new() -> Pki {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, "ringmcp test CA");
        let ca = params.self_signed(&key).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        Pki { dir, ca: ca.der().clone(), issuer: Issuer::new(params, key) }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Signs a leaf for `names` with `cn`, writes `<stem>.pem`/`<stem>.key`, returns its DER.
    fn leaf(&self, stem: &str, cn: &str, names: &[&str], usage: ExtendedKeyUsagePurpose) -> CertificateDer<'static> {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.extended_key_usages = vec![usage];
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        std::fs::write(self.path(&format!("{stem}.pem")), cert.pem()).unwrap();
        std::fs::write(self.path(&format!("{stem}.key")), key.serialize_pem()).unwrap();
        cert.der().clone()
    }

    fn server(&self, stem: &str) -> CertificateDer<'static> {
        self.leaf(stem, "ringmcp test server", &["localhost", "127.0.0.1"], ExtendedKeyUsagePurpose::ServerAuth)
    }

    fn arg(&self, name: &str) -> String {
        self.path(name).to_str().unwrap().to_string()
    }

    /// `serve` flags for TLS with `server.pem`/`server.key`.
    fn flags(&self, mode: &str) -> Vec<String> {
        vec![
            "--cores".into(),
            "1".into(),
            "--tls-mode".into(),
            mode.into(),
            "--tls-cert-file".into(),
            self.arg("server.pem"),
            "--tls-key-file".into(),
            self.arg("server.key"),
        ]
    }

    fn client_config(&self, alpn: &[&str], client_cert: Option<&str>) -> Arc<ClientConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        roots.add(self.ca.clone()).unwrap();
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        let mut config = match client_cert {
            None => builder.with_no_client_auth(),
            Some(stem) => {
                let pem = std::fs::read(self.path(&format!("{stem}.pem"))).unwrap();
                let key = std::fs::read(self.path(&format!("{stem}.key"))).unwrap();
                use rustls::pki_types::pem::PemObject;
                let chain = CertificateDer::pem_slice_iter(&pem).collect::<Result<Vec<_>, _>>().unwrap();
                builder.with_client_auth_cert(chain, PrivateKeyDer::from_pem_slice(&key).unwrap()).unwrap()
            }
        };
        config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
        Arc::new(config)
    }
}

fn start(args: &[String]) -> Server {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Server::start(&args)
}

/// A TLS client connection with its own read buffer.
struct Tls {
    stream: StreamOwned<ClientConnection, TcpStream>,
    buf: Vec<u8>,
}

impl Tls {
    fn connect(port: u16, config: Arc<ClientConfig>) -> Tls {
        let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let conn = ClientConnection::new(config, ServerName::try_from("localhost").unwrap()).unwrap();
        Tls { stream: StreamOwned::new(conn, tcp), buf: Vec::new() }
    }

    /// Completes the handshake (and, for TLS 1.3, reads whatever the server sends after it).
    fn handshake(&mut self) -> std::io::Result<()> {
        while self.stream.conn.is_handshaking() {
            self.stream.conn.complete_io(&mut self.stream.sock)?;
        }
        Ok(())
    }

    fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
        self.stream.flush().unwrap();
    }

    fn fill(&mut self) -> std::io::Result<usize> {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read(&mut chunk)?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    fn take_until(&mut self, delim: &[u8]) -> Vec<u8> {
        loop {
            if let Some(at) = self.buf.windows(delim.len()).position(|w| w == delim) {
                let out = self.buf[..at].to_vec();
                self.buf.drain(..at + delim.len());
                return out;
            }
            assert!(self.fill().unwrap() > 0, "closed; have {:?}", String::from_utf8_lossy(&self.buf));
        }
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            assert!(self.fill().unwrap() > 0, "closed while reading {n} bytes");
        }
        self.buf.drain(..n).collect()
    }

    fn line(&mut self) -> String {
        String::from_utf8(self.take_until(b"\n")).unwrap()
    }

    /// One HTTP response: (status, headers lower-cased, body by Content-Length or chunks).
    fn response(&mut self) -> (u16, Vec<(String, String)>, String) {
        let head = String::from_utf8(self.take_until(b"\r\n\r\n")).unwrap();
        let mut lines = head.split("\r\n");
        let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
        let headers: Vec<(String, String)> = lines
            .map(|l| {
                let (n, v) = l.split_once(':').unwrap();
                (n.to_ascii_lowercase(), v.trim().to_string())
            })
            .collect();
        let get = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
        let mut body = Vec::new();
        if get("transfer-encoding").as_deref() == Some("chunked") {
            loop {
                let size = String::from_utf8(self.take_until(b"\r\n")).unwrap();
                let size = usize::from_str_radix(size.trim(), 16).unwrap();
                if size == 0 {
                    self.take(2);
                    break;
                }
                body.extend(self.take(size));
                self.take(2);
            }
        } else if let Some(len) = get("content-length") {
            body = self.take(len.parse().unwrap());
        }
        (status, headers, String::from_utf8(body).unwrap())
    }

    fn ws_text(&mut self) -> String {
        let head = self.take(2);
        assert_eq!(head[0] & 0x0F, WS_TEXT, "a text frame");
        let len = match head[1] & 0x7F {
            126 => {
                let b = self.take(2);
                u16::from_be_bytes([b[0], b[1]]) as usize
            }
            127 => panic!("unexpected large frame"),
            n => n as usize,
        };
        String::from_utf8(self.take(len)).unwrap()
    }

    fn served_cert(&self) -> CertificateDer<'static> {
        self.stream.conn.peer_certificates().unwrap()[0].clone().into_owned()
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

/// HTTPS: initialize, initialized, tools/call on one keep-alive connection; returns the
/// session id.
fn https_session(port: u16, config: Arc<ClientConfig>) -> String {
    let mut tls = Tls::connect(port, config);
    tls.send(&Req::mcp(port, INIT).set("Host", "localhost").bytes());
    let (status, headers, body) = tls.response();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""protocolVersion":"2025-11-25""#), "{body}");
    let sid = header(&headers, "mcp-session-id").expect("a session id").to_string();
    let initialized = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
    tls.send(&Req::mcp_in(port, &sid, initialized).set("Host", "localhost").bytes());
    assert_eq!(tls.response().0, 202);
    tls.send(&Req::mcp_in(port, &sid, CALL).set("Host", "localhost").bytes());
    let (status, _, body) = tls.response();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(ECHOED), "{body}");
    assert_eq!(tls.stream.conn.alpn_protocol(), Some(&b"http/1.1"[..]));
    sid
}

/// NDJSON over TLS (no ALPN): initialize, then tools/call.
fn tls_ndjson(port: u16, config: Arc<ClientConfig>) -> Tls {
    let mut tls = Tls::connect(port, config);
    tls.send(format!("{INIT}\n").as_bytes());
    assert!(tls.line().contains(r#""id":0,"result""#));
    tls.send(format!("{CALL}\n").as_bytes());
    let line = tls.line();
    assert!(line.contains(ECHOED), "{line}");
    tls
}

#[test]
fn https_wss_tls_ndjson_and_plaintext_share_one_port() {
    let pki = Pki::new();
    pki.server("server");
    let server = start(&pki.flags("optional"));
    let port = server.port;
    https_session(port, pki.client_config(&["http/1.1"], None));
    // WSS: the upgrade and the frames all inside TLS.
    let mut wss = Tls::connect(port, pki.client_config(&["http/1.1"], None));
    wss.send(&ws_upgrade(port).set("Host", "localhost").bytes());
    let (status, headers, _) = wss.response();
    assert_eq!(status, 101);
    assert_eq!(header(&headers, "sec-websocket-accept"), Some(WS_ACCEPT));
    wss.send(&ws_frame(WS_TEXT, INIT.as_bytes(), Some(WS_MASK)));
    assert!(wss.ws_text().contains(r#""id":0,"result""#));
    wss.send(&ws_frame(WS_TEXT, CALL.as_bytes(), Some(WS_MASK)));
    let text = wss.ws_text();
    assert!(text.contains(ECHOED), "{text}");
    tls_ndjson(port, pki.client_config(&[], None));
    // Plaintext beside it.
    let mut plain = server.connect();
    plain.initialize();
    assert!(plain.call(CALL).contains(ECHOED));
    let metrics = HttpConn::connect(port).call(&Req::new("GET", "/metrics", port));
    assert!(metrics.text().contains("ringmcp_tls_handshakes_total{core=\"0\"} 3"), "{}", metrics.text());
}

#[test]
fn an_https_sse_stream_gets_its_keep_alives() {
    let pki = Pki::new();
    pki.server("server");
    let mut args = pki.flags("required");
    args.extend(["--sse-keepalive-ms".into(), "100".into()]);
    let server = start(&args);
    let config = pki.client_config(&["http/1.1"], None);
    let sid = https_session(server.port, config.clone());
    let mut stream = Tls::connect(server.port, config);
    let get = Req::new("GET", "/mcp", server.port).header("Accept", "text/event-stream").header("Mcp-Session-Id", &sid);
    stream.send(&get.bytes());
    let head = String::from_utf8(stream.take_until(b"\r\n\r\n")).unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    // Written by a timer while the client sends nothing: only a flush can have pushed it.
    stream.take_until(b": keep-alive");
    stream.take_until(b": keep-alive");
}

#[test]
fn large_messages_cross_tls_both_ways() {
    let pki = Pki::new();
    pki.server("server");
    let server = start(&pki.flags("required"));
    let mut tls = tls_ndjson(server.port, pki.client_config(&[], None));
    // 300 KB each way: many records, more than every TLS buffer holds at once.
    let text = "x".repeat(300_000);
    for id in 2..5 {
        let call = format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"echo","arguments":{{"text":"{text}"}}}}}}"#
        );
        tls.send(format!("{call}\n").as_bytes());
        let line = tls.line();
        assert!(line.starts_with(&format!(r#"{{"jsonrpc":"2.0","id":{id},"result""#)), "{}", &line[..80]);
        assert!(line.contains(&text));
    }
}

#[test]
fn required_mode_refuses_plaintext() {
    let pki = Pki::new();
    pki.server("server");
    let server = start(&pki.flags("required"));
    let resp = HttpConn::connect(server.port).call(&Req::new("GET", "/health", server.port));
    assert_eq!(resp.status, 400);
    assert!(resp.text().starts_with("TLS required"), "{}", resp.text());
    let mut plain = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    plain.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    plain.write_all(format!("{INIT}\n").as_bytes()).unwrap();
    let mut rest = Vec::new();
    let _ = plain.read_to_end(&mut rest);
    assert!(rest.is_empty(), "plaintext NDJSON got {:?}", String::from_utf8_lossy(&rest));
    tls_ndjson(server.port, pki.client_config(&[], None));
}

#[test]
fn a_silent_or_broken_handshake_is_cut() {
    let pki = Pki::new();
    pki.server("server");
    let mut args = pki.flags("optional");
    args.extend(["--tls-handshake-timeout-ms".into(), "1000".into()]);
    let server = start(&args);
    // A ClientHello, then silence: the server answers its flight, then closes at the deadline.
    let mut hello = Vec::new();
    let mut client =
        ClientConnection::new(pki.client_config(&[], None), ServerName::try_from("localhost").unwrap()).unwrap();
    client.write_tls(&mut hello).unwrap();
    let mut tcp = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let started = Instant::now();
    tcp.write_all(&hello).unwrap();
    // The pending handshake stalls no one else on the core.
    tls_ndjson(server.port, pki.client_config(&[], None));
    let mut got = Vec::new();
    tcp.read_to_end(&mut got).expect("closed, not timed out");
    assert!(started.elapsed() >= Duration::from_millis(1000), "cut before the deadline");
    assert_eq!(got.first(), Some(&0x16), "the server's handshake flight came first");
    // A handshake record holding a ClientHello of garbage: an alert (the deadline sends none),
    // then close.
    let mut tcp = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    tcp.write_all(&[0x16, 0x03, 0x01, 0x00, 0x08, 0x01, 0x00, 0x00, 0x04, 0xde, 0xad, 0xbe, 0xef]).unwrap();
    let mut got = Vec::new();
    tcp.read_to_end(&mut got).expect("closed, not timed out");
    assert_eq!(got.first(), Some(&0x15), "an alert record: {got:?}");
    // The port still serves.
    tls_ndjson(server.port, pki.client_config(&[], None));
}

#[test]
fn alpn_without_http_1_1_is_refused() {
    let pki = Pki::new();
    pki.server("server");
    let server = start(&pki.flags("optional"));
    let mut tls = Tls::connect(server.port, pki.client_config(&["h2"], None));
    let err = tls.handshake().expect_err("h2 only must fail");
    assert!(err.to_string().contains("NoApplicationProtocol"), "{err}");
    let mut tls = Tls::connect(server.port, pki.client_config(&["h2", "http/1.1"], None));
    tls.handshake().unwrap();
    assert_eq!(tls.stream.conn.alpn_protocol(), Some(&b"http/1.1"[..]));
}

#[test]
fn mtls_required_needs_a_client_certificate() {
    let pki = Pki::new();
    pki.server("server");
    pki.leaf("client", "client-1", &["client-1.test"], ExtendedKeyUsagePurpose::ClientAuth);
    let mut args = pki.flags("required");
    args.extend(["--tls-client-auth".into(), "required".into(), "--tls-client-ca-file".into(), pki.arg("ca.pem")]);
    let server = start(&args);
    // Without a certificate: TLS 1.3 lets the client finish first, the server's alert ends it.
    let mut tls = Tls::connect(server.port, pki.client_config(&[], None));
    let outcome = tls.handshake().and_then(|_| {
        tls.stream.write_all(format!("{INIT}\n").as_bytes())?;
        tls.stream.flush()?;
        let mut b = [0u8; 64];
        tls.stream.read(&mut b)
    });
    let err = outcome.expect_err("no certificate must fail");
    assert!(err.to_string().contains("CertificateRequired"), "{err}");
    tls_ndjson(server.port, pki.client_config(&[], Some("client")));
    https_session(server.port, pki.client_config(&["http/1.1"], Some("client")));
}

/// `ringmcp serve` at debug level on 127.0.0.1:0; its stderr lines come through the channel.
fn start_debug(args: &[String]) -> (std::process::Child, u16, std::sync::mpsc::Receiver<String>) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--log-level", "debug"])
        .args(args)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let port = loop {
        let line = rx.recv_timeout(ANSWER_TIMEOUT).expect("a start-up line");
        if let Some(rest) = line.split(" listening on 127.0.0.1:").nth(1) {
            break rest.split(' ').next().unwrap().parse().unwrap();
        }
    };
    (child, port, rx)
}

/// The identity the server logged for the next TLS connection.
fn logged_identity(rx: &std::sync::mpsc::Receiver<String>) -> String {
    loop {
        let line = rx.recv_timeout(ANSWER_TIMEOUT).expect("a TLS log line");
        if let Some(rest) = line.split("client certificate verified ").nth(1) {
            return rest.to_string();
        }
    }
}

#[test]
fn mtls_identity_is_the_certificate_subject() {
    let pki = Pki::new();
    pki.server("server");
    pki.leaf("client", "client-1", &["client-1.test"], ExtendedKeyUsagePurpose::ClientAuth);
    pki.leaf("san", "", &["svc.example"], ExtendedKeyUsagePurpose::ClientAuth);
    let mut args = pki.flags("optional");
    args.extend(["--tls-client-auth".into(), "optional".into(), "--tls-client-ca-file".into(), pki.arg("ca.pem")]);
    let (mut child, port, rx) = start_debug(&args);
    tls_ndjson(port, pki.client_config(&[], Some("client")));
    assert_eq!(logged_identity(&rx), "true, identity client-1");
    tls_ndjson(port, pki.client_config(&[], Some("san")));
    assert_eq!(logged_identity(&rx), "true, identity svc.example", "an empty CN falls back to the SAN");
    tls_ndjson(port, pki.client_config(&[], None));
    assert_eq!(logged_identity(&rx), "false, identity none");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn mtls_optional_serves_anonymous_clients_too() {
    let pki = Pki::new();
    pki.server("server");
    pki.leaf("client", "client-1", &[], ExtendedKeyUsagePurpose::ClientAuth);
    let mut args = pki.flags("optional");
    args.extend(["--tls-client-auth".into(), "optional".into(), "--tls-client-ca-file".into(), pki.arg("ca.pem")]);
    let server = start(&args);
    tls_ndjson(server.port, pki.client_config(&[], None));
    tls_ndjson(server.port, pki.client_config(&[], Some("client")));
    // A certificate from another CA is refused, not ignored.
    let other = Pki::new();
    other.leaf("client", "mallory", &[], ExtendedKeyUsagePurpose::ClientAuth);
    std::fs::copy(other.path("client.pem"), pki.path("other.pem")).unwrap();
    std::fs::copy(other.path("client.key"), pki.path("other.key")).unwrap();
    let mut tls = Tls::connect(server.port, pki.client_config(&[], Some("other")));
    let outcome = tls.handshake().and_then(|_| {
        tls.stream.write_all(format!("{INIT}\n").as_bytes())?;
        tls.stream.flush()?;
        let mut b = [0u8; 64];
        tls.stream.read(&mut b)
    });
    assert!(outcome.is_err(), "a certificate of an unknown CA must fail: {outcome:?}");
}

#[test]
fn sighup_reloads_the_certificate_for_new_handshakes_only() {
    let pki = Pki::new();
    let first = pki.server("server");
    let server = start(&pki.flags("optional"));
    let mut old = tls_ndjson(server.port, pki.client_config(&[], None));
    assert_eq!(old.served_cert(), first);
    let second = pki.server("server");
    assert_ne!(first, second);
    server.send_signal(libc::SIGHUP);
    let deadline = Instant::now() + ANSWER_TIMEOUT;
    loop {
        let fresh = tls_ndjson(server.port, pki.client_config(&[], None));
        if fresh.served_cert() == second {
            break;
        }
        assert!(Instant::now() < deadline, "the new certificate was never served");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The old connection keeps its session.
    old.send(b"{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"ping\"}\n");
    assert_eq!(old.line(), r#"{"jsonrpc":"2.0","id":7,"result":{}}"#);
    // A broken file on reload keeps the last good configuration.
    std::fs::write(pki.path("server.pem"), "-----BEGIN CERTIFICATE-----\nnot base64\n").unwrap();
    server.send_signal(libc::SIGHUP);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(tls_ndjson(server.port, pki.client_config(&[], None)).served_cert(), second);
    assert!(server_alive(&server));
}

fn server_alive(server: &Server) -> bool {
    std::fs::metadata(format!("/proc/{}", server.child.id())).is_ok()
}

#[test]
fn bad_tls_files_stop_the_start_naming_the_key() {
    let pki = Pki::new();
    pki.server("server");
    let run = |args: &[&str]| {
        let out = std::process::Command::new(bin())
            .args(["serve", "--listen", "127.0.0.1:0", "--cores", "1"])
            .args(args)
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (cert, key) = (pki.arg("server.pem"), pki.arg("server.key"));
    let (code, err) = run(&["--tls-mode", "optional", "--tls-cert-file", &cert]);
    assert!(code == Some(2) && err.contains("tls_key_file"), "{code:?} {err}");
    let missing = pki.arg("nope.pem");
    let (code, err) = run(&["--tls-mode", "required", "--tls-cert-file", &missing, "--tls-key-file", &key]);
    assert!(code == Some(2) && err.contains("tls_cert_file"), "{code:?} {err}");
    let (code, err) = run(&["--tls-mode", "required", "--tls-cert-file", &key, "--tls-key-file", &key]);
    assert!(code == Some(2) && err.contains("tls_cert_file"), "{code:?} {err}");
    let (code, err) = run(&["--tls-mode", "required", "--tls-cert-file", &cert, "--tls-key-file", &cert]);
    assert!(code == Some(2) && err.contains("tls_key_file"), "{code:?} {err}");
}

#[test]
fn with_auth_on_raw_ndjson_is_served_over_mtls_only_and_the_certificate_is_the_identity() {
    let pki = Pki::new();
    pki.server("server");
    pki.leaf("client", "client-1", &[], ExtendedKeyUsagePurpose::ClientAuth);
    // Authorization needs a credential source for HTTP; an API key nobody uses here.
    let key_hash = "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae";
    std::fs::write(pki.path("keys"), format!("ops {key_hash} mcp:tools\n")).unwrap();
    let mut args = pki.flags("optional");
    args.extend(
        [
            "--pack",
            "conformance",
            "--tls-client-auth",
            "optional",
            "--tls-client-ca-file",
            &pki.arg("ca.pem"),
            "--auth-mode",
            "required",
            "--auth-resource",
            "https://127.0.0.1/mcp",
            "--auth-api-keys-file",
            &pki.arg("keys"),
            "--auth-mtls-scopes",
            "mcp:tools",
        ]
        .map(String::from),
    );
    let server = start(&args);
    let mut tls = Tls::connect(server.port, pki.client_config(&[], Some("client")));
    tls.send(format!("{INIT}\n").as_bytes());
    assert!(tls.line().contains(r#""id":0,"result""#));
    tls.send(
        b"{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/call\",\"params\":{\"name\":\"whoami\",\"arguments\":{}}}\n",
    );
    let who = tls.line();
    let text = r#"{\"subject\":\"client-1\",\"clientId\":null,\"scopes\":[\"mcp:tools\"],\"source\":\"client_cert\"}"#;
    assert!(who.contains(text), "{who}");

    // Without a client certificate (TLS or plaintext): one error line, then the close.
    let refused = r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Unauthorized: raw NDJSON needs a verified TLS client certificate when authorization is on; use HTTP /mcp with a bearer token""#;
    let mut anonymous = Tls::connect(server.port, pki.client_config(&[], None));
    anonymous.send(format!("{INIT}\n").as_bytes());
    let line = anonymous.line();
    assert!(line.starts_with(refused), "{line}");
    assert_eq!(anonymous.fill().unwrap_or(0), 0, "closed after the error line");
    let mut plain = server.connect();
    plain.send(INIT);
    let line = plain.recv_line();
    assert!(line.starts_with(refused), "{line}");
}
