//! Who made a request: what authorization (`crate::auth`) established, handed to tools
//! ([`crate::ToolCall::identity`]) and logs. A leaf module: the engine, `auth` and `mcp` all
//! import it, and it imports nothing of theirs.

/// Where an [`Identity`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentitySource {
    /// A JWT access token (`Authorization: Bearer`), verified against the configured JWKS.
    Jwt,
    /// A static API key (`Authorization: Bearer`), found by its SHA-256 in `auth_api_keys_file`.
    ApiKey,
    /// A TLS client certificate verified by the server (mTLS; raw NDJSON connections).
    ClientCert,
}

impl IdentitySource {
    /// `jwt`, `api_key` or `client_cert`.
    pub fn as_str(self) -> &'static str {
        match self {
            IdentitySource::Jwt => "jwt",
            IdentitySource::ApiKey => "api_key",
            IdentitySource::ClientCert => "client_cert",
        }
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The subject: the token's `sub` (else its `client_id`), the API key's id, or the client
    /// certificate's subject.
    pub subject: String,
    /// The OAuth client the token was issued to (`client_id`, else `azp`), if it says.
    pub client_id: Option<String>,
    /// The scopes granted (`scope`/`scp` of a token, the key's scopes from the key file).
    pub scopes: Vec<String>,
    /// Where it came from.
    pub source: IdentitySource,
    /// When it stops being valid (a token's `exp`), in seconds since the Unix epoch.
    pub expires_at: Option<u64>,
}

impl Identity {
    /// Whether `scope` was granted as such (scope hierarchies are the auth policy's business,
    /// already applied when the request was let in).
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}
