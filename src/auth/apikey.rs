//! Static API keys: `auth_api_keys_file` lists `<key-id> sha256:<64 hex> [scope …]` per line
//! (`#` starts a comment). Only the SHA-256 of each key is kept; a presented key is hashed and
//! looked up by digest, which tells nothing usable about other keys. Keys should be at least
//! 32 random bytes (`ringmcp hash-key --generate` makes one), where plain SHA-256 is enough.

use crate::identity::{Identity, IdentitySource};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// One key's owner and grants.
#[derive(Debug, Clone)]
struct Entry {
    id: String,
    scopes: Vec<String>,
}

/// The keys, by the SHA-256 of the key.
#[derive(Debug, Clone, Default)]
pub struct Keys {
    by_digest: HashMap<[u8; 32], Entry>,
}

/// `sha256:<hex>` of `key`, the form the key file holds.
pub fn hash_key(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// A new random key: `rmk_` and 43 base64url characters (32 random bytes).
pub fn generate_key() -> String {
    use base64::Engine as _;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    format!("rmk_{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

fn parse_hex32(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in hex.chunks(2).enumerate() {
        let digit = |c: u8| (c as char).to_digit(16);
        out[i] = (digit(pair[0])? * 16 + digit(pair[1])?) as u8;
    }
    Some(out)
}

impl Keys {
    /// Parses the key file's text; an error names the line.
    pub fn parse(text: &str) -> Result<Keys, String> {
        let mut keys = Keys::default();
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let mut parts = line.split_ascii_whitespace();
            let (Some(id), Some(hash)) = (parts.next(), parts.next()) else {
                return Err(format!("line {}: expected `<key-id> sha256:<64 hex> [scope …]`", n + 1));
            };
            let Some(digest) = hash.strip_prefix("sha256:").and_then(parse_hex32) else {
                return Err(format!("line {}: `{hash}` is not sha256:<64 hex digits> (see `ringmcp hash-key`)", n + 1));
            };
            let entry = Entry { id: id.to_string(), scopes: parts.map(str::to_string).collect() };
            if keys.by_digest.insert(digest, entry).is_some() {
                return Err(format!("line {}: the same key hash is listed twice", n + 1));
            }
        }
        Ok(keys)
    }

    /// Whether no key is configured.
    pub fn is_empty(&self) -> bool {
        self.by_digest.is_empty()
    }

    /// The identity of `key`, if it is one of ours.
    pub fn check(&self, key: &str) -> Option<Identity> {
        if self.by_digest.is_empty() {
            return None;
        }
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        self.by_digest.get(&digest).map(|e| Identity {
            subject: e.id.clone(),
            client_id: None,
            scopes: e.scopes.clone(),
            source: IdentitySource::ApiKey,
            expires_at: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_found_by_hash() {
        let text = format!("# ops\nci {} mcp:tools mcp:read\n\n", hash_key("rmk_secret"));
        let keys = Keys::parse(&text).unwrap();
        let id = keys.check("rmk_secret").unwrap();
        assert_eq!((id.subject.as_str(), id.scopes.len(), id.source), ("ci", 2, IdentitySource::ApiKey));
        assert!(keys.check("rmk_other").is_none());
        assert_eq!(hash_key("abc"), "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert!(Keys::parse("ci sha256:zz").unwrap_err().starts_with("line 1"));
        assert!(generate_key().starts_with("rmk_") && generate_key().len() == 47);
    }
}
