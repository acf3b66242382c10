//! TLS on any byte stream, sans I/O: a rustls [`ServerConnection`] is fed the ciphertext read
//! from the inner stream and gives back plaintext; plaintext written is sealed into a bounded
//! buffer and pushed to the inner stream. [`TlsStream`] is `AsyncRead + AsyncWrite` like the
//! stream it wraps, so NDJSON, HTTP and WebSocket run on it unchanged.
//!
//! The server configuration (certificate, key, client CA) lives in [`TlsShared`], one per
//! process: SIGHUP builds a new one from the files and publishes it; every new handshake on
//! every core reads the current one (one uncontended lock), connections keep the one they
//! started with.

use crate::config::Settings;
use crate::limits::{TLS_CIPHER_IN_BYTES, TLS_CIPHER_OUT_BYTES, TLS_RUSTLS_BUFFER_BYTES};
use futures_lite::io::{AsyncRead, AsyncWrite};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection};
use std::io::{self, Read, Write};
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};

/// The first byte of a TLS handshake record (a ClientHello starts with it).
pub(crate) const HANDSHAKE_RECORD: u8 = 0x16;

/// ALPN protocols the server advertises; a client offering only others is refused with
/// `no_application_protocol`. A client offering none is served (NDJSON over TLS).
const ALPN: &[&[u8]] = &[b"http/1.1"];

/// What a `tls_mode` allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plaintext only.
    Off,
    /// TLS and plaintext on the same port.
    Optional,
    /// TLS only; plaintext connections are refused.
    Required,
}

impl TlsMode {
    /// Parses a `tls_mode` / `tls_client_auth` value.
    pub fn parse(s: &str) -> Option<TlsMode> {
        match s {
            "off" => Some(TlsMode::Off),
            "optional" => Some(TlsMode::Optional),
            "required" => Some(TlsMode::Required),
            _ => None,
        }
    }
}

/// What a connection's TLS session says about its peer, handed from `serve_tcp` to the
/// transport that serves it. A connection without TLS has none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsPeer {
    /// The verified client certificate's subject: its CN, else its first SAN (DNS, e-mail or
    /// URI); `None` without a client certificate (mTLS off, or optional and not sent).
    pub identity: Option<String>,
    /// The ALPN protocol agreed (`http/1.1`), if the client offered ALPN.
    pub alpn: Option<Vec<u8>>,
}

impl TlsPeer {
    /// Whether the client presented a certificate that the configured CA verified.
    pub fn is_mtls_verified(&self) -> bool {
        self.identity.is_some()
    }
}

/// The process's current TLS server configuration, shared by all cores and replaced on SIGHUP.
pub(crate) struct TlsShared {
    current: RwLock<Arc<ServerConfig>>,
    settings: Settings,
}

impl TlsShared {
    /// Builds the configuration from the settings' files; `Ok(None)` when `tls_mode` is off.
    /// Errors name the key whose file is missing or wrong.
    pub(crate) fn from_settings(settings: &Settings) -> Result<Option<Arc<TlsShared>>, (String, String)> {
        if TlsMode::parse(&settings.tls_mode) == Some(TlsMode::Off) {
            return Ok(None);
        }
        let config = build_config(settings)?;
        Ok(Some(Arc::new(TlsShared { current: RwLock::new(config), settings: settings.clone() })))
    }

    /// The configuration new handshakes use.
    pub(crate) fn current(&self) -> Arc<ServerConfig> {
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Reads the files again and, if they make a valid configuration, uses it for every new
    /// handshake; otherwise keeps the old one and logs why.
    pub(crate) fn reload(&self) {
        match build_config(&self.settings) {
            Ok(config) => {
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = config;
                log::info!("SIGHUP: TLS certificate, key and client CA reloaded; new handshakes use them");
            }
            Err((key, message)) => {
                log::error!("SIGHUP: TLS reload failed, keeping the previous configuration: `{key}`: {message}")
            }
        }
    }
}

fn read_file(key: &str, path: Option<&std::path::Path>) -> Result<Vec<u8>, (String, String)> {
    let path = path.ok_or_else(|| (key.to_string(), "required when tls_mode is not off".to_string()))?;
    std::fs::read(path).map_err(|e| (key.to_string(), format!("{}: {e}", path.display())))
}

fn certs(key: &str, path: Option<&std::path::Path>) -> Result<Vec<CertificateDer<'static>>, (String, String)> {
    let pem = read_file(key, path)?;
    let list: Vec<_> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| (key.to_string(), format!("not a PEM certificate list: {e}")))?;
    if list.is_empty() {
        return Err((key.to_string(), "holds no PEM CERTIFICATE".to_string()));
    }
    Ok(list)
}

/// A rustls server configuration from the settings' PEM files.
fn build_config(settings: &Settings) -> Result<Arc<ServerConfig>, (String, String)> {
    let err = |key: &str, e: rustls::Error| (key.to_string(), e.to_string());
    let chain = certs("tls_cert_file", settings.tls_cert_file.as_deref())?;
    let key_pem = read_file("tls_key_file", settings.tls_key_file.as_deref())?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| ("tls_key_file".to_string(), format!("not a PEM private key: {e}")))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| err("tls_mode", e))?;
    let client_auth = TlsMode::parse(&settings.tls_client_auth).unwrap_or(TlsMode::Off);
    let builder = if client_auth == TlsMode::Off {
        builder.with_no_client_auth()
    } else {
        let mut roots = RootCertStore::empty();
        for ca in certs("tls_client_ca_file", settings.tls_client_ca_file.as_deref())? {
            roots.add(ca).map_err(|e| err("tls_client_ca_file", e))?;
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
        let verifier = if client_auth == TlsMode::Optional { verifier.allow_unauthenticated() } else { verifier };
        let verifier =
            verifier.build().map_err(|e| ("tls_client_ca_file".to_string(), format!("no usable CA: {e}")))?;
        builder.with_client_cert_verifier(verifier)
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|e| ("tls_key_file".to_string(), format!("does not match tls_cert_file: {e}")))?;
    config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// A server-side TLS session over `IO`.
pub struct TlsStream<IO> {
    io: IO,
    conn: ServerConnection,
    /// Ciphertext read but not yet given to rustls: `cipher_in[pos..end]`. Its length is
    /// fixed ([`TLS_CIPHER_IN_BYTES`], or the pre-read bytes if more).
    cipher_in: Box<[u8]>,
    pos: usize,
    end: usize,
    /// Ciphertext sealed but not yet written to `io`.
    cipher_out: Vec<u8>,
    /// `io` reached end of file.
    eof: bool,
    /// The peer's identity, once the handshake is done.
    peer: Option<TlsPeer>,
}

impl<IO: AsyncRead + AsyncWrite + Unpin> TlsStream<IO> {
    /// A server session on `io` with `config`, starting with `first`: ciphertext already read
    /// from `io` (the bytes that told TLS from plaintext).
    pub(crate) fn new(io: IO, config: Arc<ServerConfig>, first: &[u8]) -> io::Result<TlsStream<IO>> {
        let mut conn = ServerConnection::new(config).map_err(io::Error::other)?;
        conn.set_buffer_limit(Some(TLS_RUSTLS_BUFFER_BYTES));
        let mut cipher_in = vec![0; TLS_CIPHER_IN_BYTES.max(first.len())].into_boxed_slice();
        cipher_in[..first.len()].copy_from_slice(first);
        let end = first.len();
        Ok(TlsStream { io, conn, cipher_in, pos: 0, end, cipher_out: Vec::new(), eof: false, peer: None })
    }

    /// Completes the handshake (sending any alert it ends with on failure).
    pub(crate) async fn handshake(&mut self) -> io::Result<()> {
        let done = std::future::poll_fn(|cx| self.poll_handshake(cx)).await;
        if done.is_err() {
            // Sends the alert rustls queued (bad_certificate, no_application_protocol, ...)
            // and waits until the socket has sent it, so that closing does not drop it.
            let _ = futures_lite::io::AsyncWriteExt::close(self).await;
        }
        done?;
        self.peer = Some(TlsPeer {
            identity: self.conn.peer_certificates().and_then(|c| c.first()).and_then(|c| subject_name(c)),
            alpn: self.conn.alpn_protocol().map(<[u8]>::to_vec),
        });
        Ok(())
    }

    /// The verified client certificate's subject (CN, else first SAN), if any.
    pub fn peer_identity(&self) -> Option<&str> {
        self.peer.as_ref()?.identity.as_deref()
    }

    /// What the handshake said about the peer (`None` before it completed).
    pub fn peer(&self) -> Option<&TlsPeer> {
        self.peer.as_ref()
    }

    fn poll_handshake(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            // The server's flight must leave before the client can send its next one.
            match self.poll_push(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
            if !self.conn.is_handshaking() {
                return Poll::Ready(Ok(()));
            }
            match self.poll_feed(cx) {
                Poll::Ready(Ok(true)) => {}
                Poll::Ready(Ok(false)) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "closed during TLS handshake",
                    )))
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// Gives rustls more ciphertext (buffered, else read from `io`) and processes it.
    /// `Ok(false)`: end of file.
    fn poll_feed(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<bool>> {
        if self.pos == self.end {
            if self.eof {
                return Poll::Ready(Ok(false));
            }
            let n = match Pin::new(&mut self.io).poll_read(cx, &mut self.cipher_in) {
                Poll::Ready(Ok(n)) => n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            };
            (self.pos, self.end) = (0, n);
            if n == 0 {
                self.eof = true;
                // Tells rustls the peer closed (so an unclean close is an error, not a hang).
                let _ = self.conn.read_tls(&mut &[][..]);
                return Poll::Ready(Ok(false));
            }
        }
        let mut rest = &self.cipher_in[self.pos..self.end];
        let used = self.conn.read_tls(&mut rest)?;
        if used == 0 {
            // rustls took nothing of a non-empty buffer: it is full (cannot happen while every
            // read drains it first); fail instead of spinning.
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, "TLS input buffer full")));
        }
        self.pos += used;
        if let Err(e) = self.conn.process_new_packets() {
            self.seal();
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, e)));
        }
        Poll::Ready(Ok(true))
    }

    /// Moves what rustls has sealed into `cipher_out`, while that has room.
    fn seal(&mut self) {
        while self.conn.wants_write() && self.cipher_out.len() < TLS_CIPHER_OUT_BYTES {
            if self.conn.write_tls(&mut self.cipher_out).is_err() {
                break;
            }
        }
    }

    /// Writes every sealed byte to `io`; `Ready(Ok)` once nothing is left.
    fn poll_push(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            self.seal();
            if self.cipher_out.is_empty() {
                return Poll::Ready(Ok(()));
            }
            match Pin::new(&mut self.io).poll_write(cx, &self.cipher_out) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => {
                    self.cipher_out.drain(..n);
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncRead for TlsStream<IO> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        loop {
            // Plaintext rustls holds is handed out first: its buffer must drain before more
            // ciphertext is given (else "received plaintext buffer full").
            match this.conn.reader().read(buf) {
                Ok(n) => return Poll::Ready(Ok(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
            // Key updates and alerts rustls answers with; a pending write does not block a read.
            if let Poll::Ready(Err(e)) = this.poll_push(cx) {
                return Poll::Ready(Err(e));
            }
            match this.poll_feed(cx) {
                Poll::Ready(Ok(true)) => {}
                Poll::Ready(Ok(false)) => {
                    // Peer closed without close_notify: treat it as end of stream once what
                    // was decrypted is read.
                    return match this.conn.reader().read(buf) {
                        Ok(n) => Poll::Ready(Ok(n)),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Poll::Ready(Ok(0)),
                        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Poll::Ready(Ok(0)),
                        Err(e) => Poll::Ready(Err(e)),
                    };
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncWrite for TlsStream<IO> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        loop {
            let n = this.conn.writer().write(buf)?;
            if n > 0 {
                // Best effort: start the bytes on their way; poll_flush finishes the job.
                this.seal();
                if let Poll::Ready(Err(e)) = this.poll_push(cx) {
                    return Poll::Ready(Err(e));
                }
                return Poll::Ready(Ok(n));
            }
            // rustls's buffer is full: the sealed bytes must go out first.
            match this.poll_push(cx) {
                Poll::Ready(Ok(())) => {
                    if !this.conn.wants_write() {
                        // Nothing to push yet nothing accepted: cannot happen with a non-zero
                        // buffer limit; guard against a spin.
                        return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                    }
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this.poll_push(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.io).poll_flush(cx),
            other => other,
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.conn.is_handshaking() {
            this.conn.send_close_notify();
        }
        match this.poll_push(cx) {
            Poll::Ready(_) => Pin::new(&mut this.io).poll_close(cx),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// The subject of a DER certificate: its CN, else its first SAN of type DNS, e-mail or URI.
pub(crate) fn subject_name(cert: &[u8]) -> Option<String> {
    let (_, cert_body, _) = der(cert)?; // Certificate SEQUENCE
    let (_, mut tbs, _) = der(cert_body)?; // TBSCertificate SEQUENCE
    let mut fields = Vec::new();
    while !tbs.is_empty() {
        let (tag, value, rest) = der(tbs)?;
        fields.push((tag, value));
        tbs = rest;
    }
    // [0] version is optional; then serial, signature, issuer, validity, subject.
    let skip = usize::from(fields.first()?.0 == 0xa0);
    let subject = fields.get(skip + 4)?.1;
    if let Some(cn) = common_name(subject) {
        return Some(cn);
    }
    let extensions = fields.iter().find(|(tag, _)| *tag == 0xa3)?.1;
    first_san(extensions)
}

/// One DER TLV from the front of `data`: (tag, value, rest). Single-byte tags only.
fn der(data: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *data.first()?;
    let first = *data.get(1)? as usize;
    let (len, head) = if first < 0x80 {
        (first, 2)
    } else {
        let k = first & 0x7f;
        if k == 0 || k > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..k {
            len = (len << 8) | *data.get(2 + i)? as usize;
        }
        (len, 2 + k)
    };
    let end = head.checked_add(len)?;
    Some((tag, data.get(head..end)?, data.get(end..)?))
}

const OID_CN: &[u8] = &[0x55, 0x04, 0x03];
const OID_SAN: &[u8] = &[0x55, 0x1d, 0x11];

fn common_name(mut name: &[u8]) -> Option<String> {
    while !name.is_empty() {
        let (_, mut set, rest) = der(name)?; // RelativeDistinguishedName SET
        name = rest;
        while !set.is_empty() {
            let (_, atv, more) = der(set)?; // AttributeTypeAndValue SEQUENCE
            set = more;
            let (oid_tag, oid, value) = der(atv)?;
            if oid_tag == 0x06 && oid == OID_CN {
                let (_, text, _) = der(value)?;
                // An empty CN names no one: fall back to the SAN.
                return String::from_utf8(text.to_vec()).ok().filter(|cn| !cn.is_empty());
            }
        }
    }
    None
}

fn first_san(extensions: &[u8]) -> Option<String> {
    let (_, mut list, _) = der(extensions)?; // Extensions SEQUENCE
    while !list.is_empty() {
        let (_, ext, rest) = der(list)?;
        list = rest;
        let (oid_tag, oid, after) = der(ext)?;
        if oid_tag != 0x06 || oid != OID_SAN {
            continue;
        }
        // An optional `critical` BOOLEAN, then the OCTET STRING.
        let (tag, value, more) = der(after)?;
        let octets = if tag == 0x01 { der(more)?.1 } else { value };
        let (_, mut names, _) = der(octets)?; // GeneralNames SEQUENCE
        while !names.is_empty() {
            let (tag, value, rest) = der(names)?;
            names = rest;
            // [1] rfc822Name, [2] dNSName, [6] URI: IA5String values.
            if matches!(tag, 0x81 | 0x82 | 0x86) {
                return String::from_utf8(value.to_vec()).ok();
            }
        }
        return None;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_rejects_truncated_and_overlong() {
        assert!(der(&[0x30]).is_none());
        assert!(der(&[0x30, 0x05, 1, 2]).is_none());
        assert!(der(&[0x30, 0x85, 1, 1, 1, 1, 1]).is_none());
        assert_eq!(der(&[0x04, 0x01, 9, 7]), Some((0x04, &[9u8][..], &[7u8][..])));
        assert!(subject_name(&[0x30, 0x03, 0x30, 0x01, 0x00]).is_none());
        assert!(subject_name(&[]).is_none());
    }

    fn cert(cn: Option<&str>, sans: &[&str]) -> Vec<u8> {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(rcgen::DnType::OrganizationName, "ringmcp");
        if let Some(cn) = cn {
            params.distinguished_name.push(rcgen::DnType::CommonName, cn);
        }
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn subject_is_the_cn_else_the_first_san() {
        assert_eq!(subject_name(&cert(Some("client-1"), &["a.test"])).as_deref(), Some("client-1"));
        assert_eq!(subject_name(&cert(None, &["svc.example", "b.test"])).as_deref(), Some("svc.example"));
        assert_eq!(subject_name(&cert(None, &[])), None);
        let der = cert(Some("client-1"), &[]);
        for cut in 0..der.len() {
            let _ = subject_name(&der[..cut]); // never panics on truncated input
        }
    }
}
