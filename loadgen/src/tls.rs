//! TLS client settings (`--tls`, `tls://`, `https://`, `wss://`): the trusted roots, the
//! optional client certificate (mTLS), the server name, and ALPN. Built once per run with
//! rustls (ring provider); the connections share it. No I/O here but reading the PEM files.

use rustls::client::ClientConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::RootCertStore;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where the system's CA bundle usually is, tried in order when neither `--ca-file` nor
/// `SSL_CERT_FILE` names one.
pub const SYSTEM_CA_BUNDLES: [&str; 3] =
    ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"];

/// The ALPN protocol offered for `https://` and `wss://` (nothing is offered for `tls://`:
/// NDJSON has no ALPN name).
pub const ALPN_HTTP1: &[u8] = b"http/1.1";

/// The TLS flags as given.
#[derive(Clone, Debug, Default)]
pub struct TlsOptions {
    /// `--ca-file`: trust only the CAs in this PEM file.
    pub ca_file: Option<PathBuf>,
    /// `--client-cert`: the client's certificate chain (PEM), for mTLS.
    pub client_cert: Option<PathBuf>,
    /// `--client-key`: its private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub client_key: Option<PathBuf>,
    /// `--server-name`: the name sent as SNI and checked against the certificate, instead of
    /// the URL's host.
    pub server_name: Option<String>,
}

/// A run's TLS client: the shared configuration and the server name of every connection.
#[derive(Clone, Debug)]
pub struct TlsClient {
    /// The rustls configuration (roots, client auth, ALPN).
    pub config: Arc<ClientConfig>,
    /// The name the server's certificate must carry (a DNS name or an IP address).
    pub server_name: ServerName<'static>,
}

impl TlsClient {
    /// Builds the client for a target whose host is `host`; `http` offers ALPN `http/1.1`.
    ///
    /// # Errors
    /// Unreadable or empty PEM files, a key that does not match, an invalid server name.
    pub fn new(options: &TlsOptions, host: &str, http: bool) -> Result<TlsClient, String> {
        let roots = roots(options.ca_file.as_deref())?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?
            .with_root_certificates(roots);
        let mut config = match (&options.client_cert, &options.client_key) {
            (Some(cert), Some(key)) => {
                let chain = certificates(cert, "--client-cert")?;
                let key =
                    PrivateKeyDer::from_pem_file(key).map_err(|e| format!("--client-key {}: {e}", key.display()))?;
                builder.with_client_auth_cert(chain, key).map_err(|e| format!("--client-cert/--client-key: {e}"))?
            }
            (None, None) => builder.with_no_client_auth(),
            _ => return Err("--client-cert and --client-key go together".into()),
        };
        if http {
            config.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
        }
        let name = options.server_name.as_deref().unwrap_or(host);
        let server_name =
            ServerName::try_from(name.to_string()).map_err(|e| format!("TLS server name `{name}`: {e}"))?;
        Ok(TlsClient { config: Arc::new(config), server_name })
    }
}

/// The trusted roots: `ca_file`, else `$SSL_CERT_FILE`, else the first system bundle found.
fn roots(ca_file: Option<&Path>) -> Result<RootCertStore, String> {
    let (path, flag) = match ca_file {
        Some(path) => (path.to_path_buf(), "--ca-file"),
        None => {
            let env = std::env::var_os("SSL_CERT_FILE").map(PathBuf::from);
            let found = env.or_else(|| SYSTEM_CA_BUNDLES.iter().map(PathBuf::from).find(|p| p.is_file()));
            let path = found.ok_or("TLS: no CA bundle: pass --ca-file PEM (or set SSL_CERT_FILE)")?;
            (path, "the system CA bundle")
        }
    };
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(certificates(&path, flag)?);
    if added == 0 {
        return Err(format!("{flag} {}: no usable CA certificate", path.display()));
    }
    Ok(roots)
}

/// Every certificate in a PEM file (at least one).
fn certificates(path: &Path, flag: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{flag} {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{flag} {}: no certificate in it", path.display()));
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_empty_files_are_named() {
        let dir = std::env::temp_dir().join(format!("loadgen-tls-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "").expect("write");
        let options = TlsOptions { ca_file: Some(empty.clone()), ..TlsOptions::default() };
        let err = TlsClient::new(&options, "localhost", true).expect_err("empty CA file");
        assert!(err.contains("--ca-file") && err.contains("no certificate"), "{err}");
        let options = TlsOptions { ca_file: Some(dir.join("absent.pem")), ..TlsOptions::default() };
        assert!(TlsClient::new(&options, "localhost", true).expect_err("absent").contains("absent.pem"));
        let options = TlsOptions { client_cert: Some(empty), ..TlsOptions::default() };
        let err = TlsClient::new(&options, "localhost", false).expect_err("half mTLS");
        assert!(err.contains("go together") || err.contains("CA"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
