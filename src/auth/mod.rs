//! Authorization of the resource server (MCP authorization, RFC 9728, RFC 6750): who may
//! call, and what.
//!
//! - HTTP `/mcp` (both eras) and the `/mcp/ws` upgrade carry `Authorization: Bearer <token>`:
//!   a JWT access token ([`jwt`], keys from [`jwks`]) or a static API key ([`apikey`]).
//!   No token → 401 with `WWW-Authenticate: Bearer resource_metadata="…"`; a bad one → 401
//!   `error="invalid_token"`; too few scopes for the method or tool ([`scopes`]) → 403
//!   `error="insufficient_scope"`.
//! - The Protected Resource Metadata ([`prm`]) is served without a token.
//! - Raw NDJSON connections have no headers: with auth on they need a verified TLS client
//!   certificate ([`Auth::ndjson_gate`]), unless `auth_ndjson` says otherwise.
//! - stdio is never authenticated: its client launched the server and passes credentials in
//!   the environment (MCP authorization, "stdio SHOULD NOT follow this specification").
//!
//! Everything here is I/O-free except the JWKS refresh thread; the engine calls it.

pub mod apikey;
pub mod jwks;
pub mod jwt;
pub mod prm;
pub mod scopes;

use crate::identity::{Identity, IdentitySource};
use crate::jsonrpc::{code, RpcError};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// `auth_mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// No authorization (the default): nothing is checked.
    Off,
    /// A presented token must be valid; requests without one are served anonymously unless
    /// their method or tool needs a scope.
    Optional,
    /// Every `/mcp` request needs a valid token.
    Required,
}

/// `auth_ndjson`: raw NDJSON over TCP when auth is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NdjsonPolicy {
    /// Served only when the connection's TLS client certificate was verified (the default).
    Mtls,
    /// Never served.
    Refuse,
    /// Served without credentials (trusted networks only).
    Open,
}

/// The values `auth_mode` accepts.
pub const MODES: &[&str] = &["off", "optional", "required"];
/// The values `auth_ndjson` accepts.
pub const NDJSON_POLICIES: &[&str] = &["mtls", "refuse", "open"];

/// Why a request was not let in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// No bearer token (401 without `error=`), with the scopes the request needs,
    /// space-separated (empty: those of `auth_required_scopes`).
    Missing(String),
    /// A token that does not verify (401 `invalid_token`), with a short description.
    Invalid(&'static str),
    /// Valid, but without the scopes the request needs (403 `insufficient_scope`): all the
    /// scopes the operation needs, space-separated.
    Forbidden(String),
}

impl Failure {
    /// The HTTP status: 401 or 403.
    pub fn status(&self) -> u16 {
        match self {
            Failure::Forbidden(_) => 403,
            _ => 401,
        }
    }
}

/// Outcome counters for `/metrics` (all cores together).
#[derive(Debug, Default)]
pub struct Counters {
    /// Requests let in with a verified credential.
    pub ok: AtomicU64,
    /// Refused: no token (401).
    pub missing: AtomicU64,
    /// Refused: a token that does not verify (401 invalid_token).
    pub invalid: AtomicU64,
    /// Refused: insufficient scope (403).
    pub forbidden: AtomicU64,
}

/// The authorization configuration, built once at start-up and shared by every core.
pub struct Auth {
    /// `auth_mode` (never `Off` here: off means no `Auth` at all).
    pub mode: Mode,
    /// `auth_ndjson`.
    pub ndjson: NdjsonPolicy,
    resource: String,
    metadata_url: String,
    metadata: Vec<u8>,
    jwt: Option<(jwt::Verifier, Arc<jwks::KeyStore>)>,
    api_keys: std::sync::RwLock<Arc<apikey::Keys>>,
    api_keys_file: Option<std::path::PathBuf>,
    jwks_file: Option<std::path::PathBuf>,
    /// Bumped by each [`Auth::reload`].
    reloads: AtomicU64,
    policy: scopes::Policy,
    leeway_s: u64,
    mtls_scopes: Vec<String>,
    /// How long a request with an unknown `kid` waits for the refresh it asked for.
    pub refresh_wait: Duration,
    /// Outcomes.
    pub counters: Counters,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth").field("mode", &self.mode).field("resource", &self.resource).finish_non_exhaustive()
    }
}

/// The authorization settings (the `auth_*` keys of `crate::config::Settings`, which makes
/// this from itself), so that this module does not depend on the configuration's.
#[derive(Debug, Clone, Default)]
#[allow(missing_docs)] // Each field is the setting of the same name (see `Settings`).
pub struct AuthSettings {
    pub auth_mode: String,
    pub auth_resource: Option<String>,
    pub auth_audiences: Vec<String>,
    pub auth_issuers: Vec<String>,
    pub auth_authorization_servers: Vec<String>,
    pub auth_scopes_supported: Vec<String>,
    pub auth_required_scopes: Vec<String>,
    pub auth_scope: Vec<String>,
    pub auth_scope_implies: Vec<String>,
    pub auth_jwks_file: Option<std::path::PathBuf>,
    pub auth_jwks_url: Option<String>,
    pub auth_jwks_ca_file: Option<std::path::PathBuf>,
    pub auth_api_keys_file: Option<std::path::PathBuf>,
    pub auth_ndjson: String,
    pub auth_mtls_scopes: Vec<String>,
    pub auth_clock_skew_s: u64,
    pub auth_jwks_refresh_s: u64,
    pub auth_jwks_min_refresh_interval_ms: u64,
    pub auth_jwks_refresh_wait_ms: u64,
}

/// A bad authorization setting: its key and what is wrong (a `ConfigError` to the caller).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingError {
    /// The setting's key.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

fn config_error(key: &str, message: impl Into<String>) -> SettingError {
    SettingError { key: key.into(), message: message.into() }
}

/// Checks the auth settings that need no I/O (called by `Settings::validate`).
pub fn validate(s: &AuthSettings) -> Result<(), SettingError> {
    if !MODES.contains(&s.auth_mode.as_str()) {
        return Err(config_error("auth_mode", format!("`{}`; accepted: {}", s.auth_mode, MODES.join(", "))));
    }
    if !NDJSON_POLICIES.contains(&s.auth_ndjson.as_str()) {
        let m = format!("`{}`; accepted: {}", s.auth_ndjson, NDJSON_POLICIES.join(", "));
        return Err(config_error("auth_ndjson", m));
    }
    scopes::Policy::new(&s.auth_required_scopes, &s.auth_scope, &s.auth_scope_implies)
        .map_err(|(key, m)| config_error(key, m))?;
    // Scopes and URIs go into quoted challenge parameters and JSON: RFC 6749 scope-token
    // characters only, and no quote, backslash, space or control character in URIs.
    let lists = [
        ("auth_required_scopes", &s.auth_required_scopes),
        ("auth_scopes_supported", &s.auth_scopes_supported),
        ("auth_mtls_scopes", &s.auth_mtls_scopes),
    ];
    for (key, list) in lists {
        for scope in list.iter().flat_map(|l| l.split_ascii_whitespace()) {
            if !scope.bytes().all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b)) {
                return Err(config_error(
                    key,
                    format!("`{scope}` has characters a scope may not have (RFC 6749 §3.3)"),
                ));
            }
        }
    }
    for rule in s.auth_scope.iter().chain(&s.auth_scope_implies) {
        let right = rule.split_once('=').map_or(rule.as_str(), |(_, r)| r);
        if right.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20 || b == 0x7f) {
            return Err(config_error("auth_scope", format!("`{rule}` has a quote, backslash or control character")));
        }
    }
    let resource: Vec<String> = s.auth_resource.iter().cloned().collect();
    let uris = [
        ("auth_resource", &resource),
        ("auth_audiences", &s.auth_audiences),
        ("auth_issuers", &s.auth_issuers),
        ("auth_authorization_servers", &s.auth_authorization_servers),
    ];
    for (key, list) in uris {
        if let Some(uri) = list.iter().find(|u| u.bytes().any(|b| b == b'"' || b == b'\\' || b <= 0x20 || b == 0x7f)) {
            return Err(config_error(key, format!("`{uri}` has a quote, backslash, space or control character")));
        }
    }
    if let Some(url) = &s.auth_jwks_url {
        let authority = url.split_once("://").map(|(_, r)| r.split('/').next().unwrap_or(""));
        match (url.split_once("://").map(|(s, _)| s.to_ascii_lowercase()), authority) {
            (Some(scheme), _) if scheme == "https" => {}
            (Some(scheme), Some(a)) if scheme == "http" && prm::is_loopback_authority(a) => {}
            _ => return Err(config_error("auth_jwks_url", format!("`{url}`: https (or http on loopback) required"))),
        }
    }
    if s.auth_jwks_url.is_some() && s.auth_jwks_file.is_some() {
        return Err(config_error("auth_jwks_file", "give auth_jwks_file or auth_jwks_url, not both"));
    }
    if s.auth_mode == "off" {
        return Ok(());
    }
    let Some(resource) = &s.auth_resource else {
        return Err(config_error(
            "auth_resource",
            "required when auth_mode is not off: the canonical URI of /mcp, e.g. https://mcp.example.com/mcp",
        ));
    };
    prm::split_resource(resource).map_err(|m| config_error("auth_resource", m))?;
    let jwt = s.auth_jwks_url.is_some() || s.auth_jwks_file.is_some();
    if !jwt && s.auth_api_keys_file.is_none() {
        return Err(config_error(
            "auth_mode",
            "auth is on but no credential is configured: set auth_jwks_url, auth_jwks_file or auth_api_keys_file",
        ));
    }
    if jwt && s.auth_issuers.is_empty() {
        return Err(config_error(
            "auth_issuers",
            "required with JWT (auth_jwks_url / auth_jwks_file): the accepted `iss`",
        ));
    }
    if jwt && s.auth_authorization_servers.is_empty() && s.auth_issuers.is_empty() {
        return Err(config_error("auth_authorization_servers", "at least one authorization server is required"));
    }
    Ok(())
}

impl Auth {
    /// Builds the authorization of `settings`: `None` when `auth_mode` is off. Reads the key
    /// files and fetches the JWKS now (an error names the setting), and starts the JWKS
    /// refresh thread for a URL.
    pub fn from_settings(s: &AuthSettings) -> Result<Option<Arc<Auth>>, SettingError> {
        validate(s)?;
        let mode = match s.auth_mode.as_str() {
            "optional" => Mode::Optional,
            "required" => Mode::Required,
            _ => return Ok(None),
        };
        let ndjson = match s.auth_ndjson.as_str() {
            "refuse" => NdjsonPolicy::Refuse,
            "open" => NdjsonPolicy::Open,
            _ => NdjsonPolicy::Mtls,
        };
        let resource = s.auth_resource.clone().expect("validated");
        let metadata_url = prm::metadata_url(&resource).map_err(|m| config_error("auth_resource", m))?;
        let servers =
            if s.auth_authorization_servers.is_empty() { &s.auth_issuers } else { &s.auth_authorization_servers };
        let metadata = prm::document(&resource, servers, &s.auth_scopes_supported);
        let ca = match &s.auth_jwks_ca_file {
            None => None,
            Some(path) => Some(
                std::fs::read(path)
                    .map_err(|e| config_error("auth_jwks_ca_file", format!("{}: {e}", path.display())))?,
            ),
        };
        let source = match (&s.auth_jwks_url, &s.auth_jwks_file) {
            (Some(u), _) => Some((jwks::Source::Url(u.clone(), ca), "auth_jwks_url")),
            (None, Some(f)) => Some((jwks::Source::File(f.clone()), "auth_jwks_file")),
            _ => None,
        };
        let jwt = match source {
            None => None,
            Some((source, key)) => {
                let store = jwks::KeyStore::start(
                    &source,
                    Duration::from_secs(s.auth_jwks_refresh_s),
                    s.auth_jwks_min_refresh_interval_ms,
                )
                .map_err(|m| config_error(key, m))?;
                let mut audiences = vec![resource.clone()];
                audiences.extend(s.auth_audiences.iter().cloned());
                Some((jwt::Verifier::new(&s.auth_issuers, &audiences, s.auth_clock_skew_s), store))
            }
        };
        let api_keys = match &s.auth_api_keys_file {
            None => apikey::Keys::default(),
            Some(path) => read_api_keys(path).map_err(|m| config_error("auth_api_keys_file", m))?,
        };
        let policy = scopes::Policy::new(&s.auth_required_scopes, &s.auth_scope, &s.auth_scope_implies)
            .map_err(|(key, m)| config_error(key, m))?;
        Ok(Some(Arc::new(Auth {
            mode,
            ndjson,
            resource,
            metadata_url,
            metadata,
            jwt,
            api_keys: std::sync::RwLock::new(Arc::new(api_keys)),
            api_keys_file: s.auth_api_keys_file.clone(),
            jwks_file: s.auth_jwks_file.clone().filter(|_| s.auth_jwks_url.is_none()),
            reloads: AtomicU64::new(0),
            policy,
            leeway_s: s.auth_clock_skew_s,
            mtls_scopes: s.auth_mtls_scopes.clone(),
            refresh_wait: Duration::from_millis(s.auth_jwks_refresh_wait_ms),
            counters: Counters::default(),
        })))
    }

    /// The PRM document (JSON).
    pub fn metadata(&self) -> &[u8] {
        &self.metadata
    }

    /// The absolute URL of the PRM document, as challenges name it.
    pub fn metadata_url(&self) -> &str {
        &self.metadata_url
    }

    /// The JWKS key store, if JWTs are accepted.
    pub fn key_store(&self) -> Option<&Arc<jwks::KeyStore>> {
        self.jwt.as_ref().map(|(_, s)| s)
    }

    /// The token of an `Authorization` header value: `Ok(None)` without a header, `Err` for
    /// a header that is not `Bearer <token>`.
    pub fn bearer(header: Option<&str>) -> Result<Option<&str>, Failure> {
        let Some(h) = header else { return Ok(None) };
        let h = h.trim();
        let (scheme, token) = h.split_once(' ').unwrap_or((h, ""));
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(Failure::Invalid("not a Bearer token"));
        }
        let token = token.trim();
        if token.is_empty() {
            return Err(Failure::Invalid("empty token"));
        }
        Ok(Some(token))
    }

    /// Verifies `token` against the current keys. `Err(None)` means the token names a `kid`
    /// the keys do not have: the caller may ask for a refresh
    /// ([`jwks::KeyStore::request_refresh`]), wait for the generation to change, and retry.
    pub fn verify(&self, token: &str) -> Result<Identity, Option<Failure>> {
        let jwt_shaped = token.bytes().filter(|b| *b == b'.').count() == 2;
        let api_keys = self.api_keys.read().unwrap_or_else(|p| p.into_inner()).clone();
        if jwt_shaped {
            if let Some((verifier, store)) = &self.jwt {
                return match verifier.verify(token, &store.keys()) {
                    Ok(identity) => Ok(identity),
                    // An API key may happen to have a JWT's shape.
                    Err(_) if api_keys.check(token).is_some() => Ok(api_keys.check(token).expect("checked")),
                    Err(jwt::JwtError::UnknownKid) => Err(None),
                    Err(jwt::JwtError::Invalid(what)) => Err(Some(Failure::Invalid(what))),
                };
            }
        }
        match api_keys.check(token) {
            Some(identity) => Ok(identity),
            None if jwt_shaped && self.jwt.is_none() => Err(Some(Failure::Invalid("JWTs are not accepted here"))),
            None => Err(Some(Failure::Invalid("unknown token"))),
        }
    }

    /// Changes whenever the keys change (a JWKS refresh, a [`reload`](Auth::reload)): a
    /// credential verified under another epoch is verified again.
    pub fn epoch(&self) -> u64 {
        self.reloads.load(Ordering::Acquire) + self.key_store().map_or(0, |s| s.generation())
    }

    /// Reads `auth_api_keys_file` and `auth_jwks_file` again (for SIGHUP). A file that cannot
    /// be read or parsed keeps its previous keys, and the error says which.
    pub fn reload(&self) -> Result<(), String> {
        let mut errors = Vec::new();
        if let Some(path) = &self.api_keys_file {
            match read_api_keys(path) {
                Ok(keys) => *self.api_keys.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(keys),
                Err(e) => errors.push(format!("auth_api_keys_file: {e}")),
            }
        }
        if let (Some(path), Some(store)) = (&self.jwks_file, self.key_store()) {
            let read = std::fs::read_to_string(path).map_err(|e| e.to_string()).and_then(|t| jwks::parse_jwks(&t));
            match read {
                Ok(set) => store.replace(set),
                Err(e) => errors.push(format!("auth_jwks_file: {}: {e}", path.display())),
            }
        }
        self.reloads.fetch_add(1, Ordering::AcqRel);
        match errors.is_empty() {
            true => Ok(()),
            false => Err(errors.join("; ")),
        }
    }

    /// Whether `identity` (verified earlier) is still within its `exp` at `now_s`.
    pub fn still_valid(&self, identity: &Identity, now_s: u64) -> bool {
        identity.expires_at.is_none_or(|exp| now_s < exp.saturating_add(self.leeway_s))
    }

    /// Whether the request of `method` naming `name` may go on for `identity` (`None`:
    /// anonymous, only in `optional` mode): `Err` with the 401/403 to answer.
    pub fn permit(&self, identity: Option<&Identity>, method: Option<&str>, name: Option<&str>) -> Result<(), Failure> {
        self.permit_declared(identity, method, name, &[])
    }

    /// [`Auth::permit`], also needing `declared`: the scopes the called tool declares
    /// (`ToolBuilder::scopes`).
    pub fn permit_declared(
        &self,
        identity: Option<&Identity>,
        method: Option<&str>,
        name: Option<&str>,
        declared: &[String],
    ) -> Result<(), Failure> {
        let mut needed = self.policy.needed(method, name);
        for s in declared {
            if !needed.contains(&s.as_str()) {
                needed.push(s);
            }
        }
        let Some(identity) = identity else {
            return match needed.is_empty() && self.mode == Mode::Optional {
                true => Ok(()),
                false => Err(Failure::Missing(needed.join(" "))),
            };
        };
        if self.policy.missing(&identity.scopes, &needed).is_empty() {
            Ok(())
        } else {
            Err(Failure::Forbidden(needed.join(" ")))
        }
    }

    /// Whether any rule depends on the method or tool (so requests must be looked into).
    pub fn has_scope_rules(&self) -> bool {
        self.policy.has_rules()
    }

    /// Counts an outcome.
    pub fn count(&self, outcome: Result<(), &Failure>) {
        let c = match outcome {
            Ok(()) => &self.counters.ok,
            Err(Failure::Missing(_)) => &self.counters.missing,
            Err(Failure::Invalid(_)) => &self.counters.invalid,
            Err(Failure::Forbidden(_)) => &self.counters.forbidden,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// The `WWW-Authenticate` value for `failure`.
    pub fn challenge(&self, failure: &Failure) -> String {
        let url = &self.metadata_url;
        match failure {
            Failure::Missing(scope) => {
                let required = match scope.is_empty() {
                    true => self.policy.needed(None, None).join(" "),
                    false => scope.clone(),
                };
                match required.is_empty() {
                    true => format!("Bearer resource_metadata=\"{url}\""),
                    false => format!("Bearer resource_metadata=\"{url}\", scope=\"{required}\""),
                }
            }
            Failure::Invalid(what) => {
                format!("Bearer error=\"invalid_token\", error_description=\"{what}\", resource_metadata=\"{url}\"")
            }
            Failure::Forbidden(scope) => {
                format!("Bearer error=\"insufficient_scope\", scope=\"{scope}\", resource_metadata=\"{url}\"")
            }
        }
    }

    /// The JSON-RPC error for `failure` (-32600 with `data.error`), for bodies and lines.
    pub fn rpc_error(&self, failure: &Failure) -> RpcError {
        let url = sonic_rs::to_string(&self.metadata_url).expect("a string serializes");
        let (message, data) = match failure {
            Failure::Missing(_) => (
                "Unauthorized: a bearer token is required (Authorization: Bearer <token>)".to_string(),
                format!(
                    r#"{{"error":"invalid_token","error_description":"a bearer token is required","resourceMetadata":{url}}}"#
                ),
            ),
            Failure::Invalid(what) => (
                format!("Unauthorized: invalid_token ({what})"),
                format!(r#"{{"error":"invalid_token","error_description":"{what}","resourceMetadata":{url}}}"#),
            ),
            Failure::Forbidden(scope) => {
                let s = sonic_rs::to_string(scope).expect("a string serializes");
                (
                    format!("Forbidden: insufficient_scope (needs: {scope})"),
                    format!(r#"{{"error":"insufficient_scope","scope":{s},"resourceMetadata":{url}}}"#),
                )
            }
        };
        RpcError { code: code::INVALID_REQUEST, message: message.into(), data: Some(data) }
    }

    /// The JSON-RPC error body (`id: null`) of an HTTP refusal.
    pub fn error_body(&self, failure: &Failure) -> Vec<u8> {
        let mut out = Vec::new();
        crate::jsonrpc::write_error(&mut out, None, &self.rpc_error(failure));
        out.pop();
        out
    }

    /// Whether a raw NDJSON connection may be served, given the subject of its verified TLS
    /// client certificate (`None`: plaintext, or TLS without a verified client certificate).
    /// `Ok(identity)` to serve it (`None` identity under `auth_ndjson = "open"`); `Err` with
    /// the one JSON-RPC error line to write before closing.
    ///
    /// The TLS layer wires this: call it before serving NDJSON on a connection when
    /// [`Auth`] is on.
    pub fn ndjson_gate(&self, client_cert_subject: Option<&str>) -> Result<Option<Identity>, Vec<u8>> {
        let refuse = |why: &str| {
            let data = format!(r#"{{"error":"invalid_token","error_description":"{why}"}}"#);
            let e = RpcError {
                code: code::INVALID_REQUEST,
                message: format!("Unauthorized: {why}").into(),
                data: Some(data),
            };
            let mut out = Vec::new();
            crate::jsonrpc::write_error(&mut out, None, &e);
            out
        };
        match (self.ndjson, client_cert_subject) {
            (NdjsonPolicy::Open, _) => Ok(None),
            (NdjsonPolicy::Refuse, _) => Err(refuse(
                "raw NDJSON is not served when authorization is on (auth_ndjson = refuse); use HTTP /mcp with a bearer token",
            )),
            (NdjsonPolicy::Mtls, Some(subject)) => Ok(Some(Identity {
                subject: subject.to_string(),
                client_id: None,
                scopes: self.mtls_scopes.clone(),
                source: IdentitySource::ClientCert,
                expires_at: None,
            })),
            (NdjsonPolicy::Mtls, None) => Err(refuse(
                "raw NDJSON needs a verified TLS client certificate when authorization is on; use HTTP /mcp with a bearer token",
            )),
        }
    }
}

fn read_api_keys(path: &std::path::Path) -> Result<apikey::Keys, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    apikey::Keys::parse(&text).map_err(|m| format!("{}: {m}", path.display()))
}

/// The name a request's scope rules look at: the tool of `tools/call` and the prompt of
/// `prompts/get` (`params.name`), the URI of `resources/read` (`params.uri`); read the way
/// the methods themselves read them.
pub fn request_name(method: &str, params: Option<&str>) -> Option<String> {
    let field = match method {
        "tools/call" | "prompts/get" => "name",
        "resources/read" => "uri",
        _ => return None,
    };
    let p = params?;
    if method == "tools/call" {
        return crate::mcp::tools_call_name(p);
    }
    sonic_rs::get_from_str(p, [field]).ok().and_then(|v| sonic_rs::from_str::<String>(v.as_raw_str()).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(extra: &str) -> Arc<Auth> {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("ringmcp-auth-unit-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let keys = dir.join("keys");
        std::fs::write(&keys, format!("ci {} mcp\n", apikey::hash_key("rmk_k"))).unwrap();
        let text = format!(
            "auth_mode = \"required\"\nauth_resource = \"https://mcp.example.com/mcp\"\nauth_api_keys_file = {:?}\n{extra}",
            keys.to_str().unwrap()
        );
        let s = crate::config::Settings::from_toml(&text).unwrap();
        s.validate().unwrap();
        Auth::from_settings(&s.auth()).unwrap().unwrap()
    }

    #[test]
    fn the_ndjson_gate_follows_auth_ndjson() {
        let a = auth("auth_mtls_scopes = [\"mcp\"]\n");
        let id = a.ndjson_gate(Some("CN=testpki-client")).unwrap().unwrap();
        assert_eq!(
            (id.subject.as_str(), id.source, id.scopes.as_slice()),
            ("CN=testpki-client", IdentitySource::ClientCert, &["mcp".to_string()][..])
        );
        let line = String::from_utf8(a.ndjson_gate(None).unwrap_err()).unwrap();
        assert!(line.starts_with(r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Unauthorized: raw NDJSON needs a verified TLS client certificate"#), "{line}");
        assert!(line.ends_with("}}\n"));
        assert!(auth("auth_ndjson = \"refuse\"\n").ndjson_gate(Some("CN=x")).is_err());
        assert_eq!(auth("auth_ndjson = \"open\"\n").ndjson_gate(None), Ok(None));
    }

    #[test]
    fn challenges_name_the_metadata_and_the_scopes() {
        let a = auth("auth_required_scopes = [\"mcp\"]\nauth_scope = [\"tools/call:w=mcp:w\"]\n");
        assert_eq!(a.metadata_url(), "https://mcp.example.com/.well-known/oauth-protected-resource/mcp");
        let missing = a.permit(None, Some("tools/call"), Some("w")).unwrap_err();
        assert_eq!(
            a.challenge(&missing),
            r#"Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp", scope="mcp mcp:w""#
        );
        let key = a.verify("rmk_k").unwrap();
        assert_eq!(a.permit(Some(&key), Some("tools/call"), Some("other")), Ok(()));
        assert_eq!(a.permit(Some(&key), Some("tools/call"), Some("w")), Err(Failure::Forbidden("mcp mcp:w".into())));
        assert_eq!(a.verify("rmk_nope"), Err(Some(Failure::Invalid("unknown token"))));
        assert_eq!(Auth::bearer(Some("bearer  abc ")), Ok(Some("abc")));
        assert_eq!(Auth::bearer(Some("Bearer")), Err(Failure::Invalid("empty token")));
        assert_eq!(Auth::bearer(None), Ok(None));
    }

    #[test]
    fn reload_replaces_the_api_keys_and_keeps_them_when_the_file_is_bad() {
        let a = auth("");
        let epoch = a.epoch();
        assert!(a.verify("rmk_k").is_ok());
        let path = a.api_keys_file.clone().unwrap();
        std::fs::write(&path, format!("new {} mcp\n", apikey::hash_key("rmk_new"))).unwrap();
        a.reload().unwrap();
        assert!(a.epoch() > epoch);
        assert!(a.verify("rmk_k").is_err());
        assert_eq!(a.verify("rmk_new").unwrap().subject, "new");
        std::fs::write(&path, "broken line\n").unwrap();
        assert!(a.reload().unwrap_err().starts_with("auth_api_keys_file: "));
        assert_eq!(a.verify("rmk_new").unwrap().subject, "new", "the previous keys stay");
    }
}
