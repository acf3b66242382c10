//! JWT access tokens: the header names a key (`kid`) and an algorithm; the key (from the
//! JWKS) must verify exactly that algorithm; then signature, `exp`/`nbf` (with
//! `auth_clock_skew_s` of leeway), `iss` (one of `auth_issuers`) and `aud` (the resource or one
//! of `auth_audiences`) are checked. `alg: none`, HMAC (`HS*`) and keys of another family
//! never verify: there is one `Validation` per accepted algorithm (jsonwebtoken refuses a
//! key whose family differs from any listed algorithm).

use super::jwks::{Key, KeySet};
use crate::identity::{Identity, IdentitySource};
use crate::limits::MAX_TOKEN_BYTES;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtError {
    /// The header names a `kid` the current keys do not have (a refresh may bring it).
    UnknownKid,
    /// Anything else, with a short description for `error_description`.
    Invalid(&'static str),
}

/// The claims read from a verified token.
#[derive(Debug, serde::Deserialize)]
struct Claims {
    sub: Option<String>,
    client_id: Option<String>,
    azp: Option<String>,
    scope: Option<String>,
    scp: Option<Scp>,
    exp: Option<f64>,
}

/// `scp` as some issuers send it: an array, or one space-separated string.
#[derive(Debug, serde::Deserialize)]
#[serde(untagged)]
enum Scp {
    Many(Vec<String>),
    One(String),
}

/// Verifies tokens: the validation settings, one per algorithm.
pub struct Verifier {
    validations: Vec<(Algorithm, Validation)>,
}

/// The algorithms accepted (the families the JWKS keys can have).
const ALGORITHMS: [Algorithm; 4] = [Algorithm::RS256, Algorithm::ES256, Algorithm::ES384, Algorithm::EdDSA];

impl Verifier {
    /// Accepts tokens from `issuers` for any of `audiences`, with `leeway_s` on `exp`/`nbf`.
    pub fn new(issuers: &[String], audiences: &[String], leeway_s: u64) -> Verifier {
        let validations = ALGORITHMS
            .iter()
            .map(|alg| {
                let mut v = Validation::new(*alg);
                v.set_issuer(issuers);
                v.set_audience(audiences);
                v.set_required_spec_claims(&["exp", "iss", "aud"]);
                v.validate_nbf = true;
                v.leeway = leeway_s;
                (*alg, v)
            })
            .collect();
        Verifier { validations }
    }

    /// The identity `token` proves, against `keys`.
    pub fn verify(&self, token: &str, keys: &KeySet) -> Result<Identity, JwtError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(JwtError::Invalid("token too long"));
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| JwtError::Invalid("malformed token"))?;
        let Some((_, validation)) = self.validations.iter().find(|(a, _)| *a == header.alg) else {
            return Err(JwtError::Invalid("algorithm not accepted"));
        };
        let key: &Key = match &header.kid {
            Some(kid) => keys.by_kid.get(kid).ok_or(JwtError::UnknownKid)?,
            // Without a kid: the one key without a kid for that algorithm, if there is one.
            None => {
                let mut fits = keys.unnamed.iter().filter(|k| k.alg == header.alg);
                match (fits.next(), fits.next()) {
                    (Some(k), None) => k,
                    _ => return Err(JwtError::Invalid("token names no key (kid)")),
                }
            }
        };
        if key.alg != header.alg {
            return Err(JwtError::Invalid("algorithm does not match the key"));
        }
        let data = jsonwebtoken::decode::<Claims>(token, &key.key, validation).map_err(|e| {
            JwtError::Invalid(match e.kind() {
                ErrorKind::ExpiredSignature => "token expired",
                ErrorKind::ImmatureSignature => "token not yet valid",
                ErrorKind::InvalidAudience => "audience mismatch",
                ErrorKind::InvalidIssuer => "issuer not trusted",
                ErrorKind::InvalidSignature => "bad signature",
                ErrorKind::MissingRequiredClaim(_) => "required claim missing (exp, iss, aud)",
                ErrorKind::InvalidAlgorithm => "algorithm does not match the key",
                _ => "malformed token",
            })
        })?;
        let c = data.claims;
        let client_id = c.client_id.or(c.azp);
        let Some(subject) = c.sub.or_else(|| client_id.clone()) else {
            return Err(JwtError::Invalid("token has no subject (sub)"));
        };
        let mut scopes: Vec<String> =
            c.scope.iter().flat_map(|s| s.split_ascii_whitespace()).map(str::to_string).collect();
        match c.scp {
            Some(Scp::Many(list)) => scopes.extend(list),
            Some(Scp::One(s)) => scopes.extend(s.split_ascii_whitespace().map(str::to_string)),
            None => {}
        }
        let expires_at = c.exp.filter(|e| e.is_finite() && *e >= 0.0).map(|e| e as u64);
        Ok(Identity { subject, client_id, scopes, source: IdentitySource::Jwt, expires_at })
    }
}
