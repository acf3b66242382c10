//! `requestState` of input-required results (MCP 2026-07-28 multi round-trip requests): the
//! answers a request collected so far, sealed so that a stateless server can trust them when
//! the client brings them back on its retry, on any core or any node.
//!
//! Format: `base64url(payload) "." base64url(HMAC-SHA256(key, payload))`, the payload a JSON
//! object `{"m":method,"n":name,"d":digest,"e":expiry_unix_ms,"a":{key:answer,…}}`: bound to
//! the method, the tool/prompt/resource name and a digest of the arguments (a state replayed
//! on another request is refused), and expiring after [`REQUEST_STATE_TTL_MS`]. The key is 32
//! random bytes made at start and shared by every core, or the operator's
//! `request_state_secret` so that several nodes behind one load balancer accept each other's.

use super::write_str;
use crate::jsonrpc::RpcError;
use crate::limits::{REQUEST_STATE_MAX_BYTES, REQUEST_STATE_TTL_MS};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::OnceLock;

type HmacSha256 = Hmac<Sha256>;

static KEY: OnceLock<[u8; 32]> = OnceLock::new();

/// Sets the sealing key from the operator's secret (any length; hashed to 32 bytes). Returns
/// false if a key was already in use (the first one stays).
pub fn set_secret(secret: &[u8]) -> bool {
    let key: [u8; 32] = Sha256::digest(secret).into();
    KEY.set(key).is_ok()
}

fn key() -> &'static [u8; 32] {
    KEY.get_or_init(|| {
        let mut k = [0u8; 32];
        getrandom::fill(&mut k).expect("the kernel's random source is readable");
        k
    })
}

/// What a request's state is bound to.
pub struct Binding<'a> {
    /// The method (`tools/call`, `prompts/get`, `resources/read`).
    pub method: &'a str,
    /// The tool or prompt name, or the resource URI.
    pub name: &'a str,
    /// The raw JSON text of the arguments (empty if none).
    pub arguments: &'a str,
}

impl Binding<'_> {
    fn digest(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.arguments.as_bytes());
        let d = h.finalize();
        d[..16].iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Answers collected so far: input-request key → the client's raw JSON result.
pub type Answers = BTreeMap<String, String>;

/// Seals `answers` for `binding`, valid until `now_unix_ms` + [`REQUEST_STATE_TTL_MS`].
pub fn seal(binding: &Binding<'_>, answers: &Answers, now_unix_ms: u64) -> String {
    let mut payload = Vec::with_capacity(128);
    payload.extend_from_slice(br#"{"m":"#);
    write_str(&mut payload, binding.method);
    payload.extend_from_slice(br#","n":"#);
    write_str(&mut payload, binding.name);
    payload.extend_from_slice(br#","d":""#);
    payload.extend_from_slice(binding.digest().as_bytes());
    payload.extend_from_slice(br#"","e":"#);
    payload.extend_from_slice(itoa::Buffer::new().format(now_unix_ms + REQUEST_STATE_TTL_MS).as_bytes());
    payload.extend_from_slice(br#","a":{"#);
    for (i, (k, v)) in answers.iter().enumerate() {
        if i > 0 {
            payload.push(b',');
        }
        write_str(&mut payload, k);
        payload.push(b':');
        payload.extend_from_slice(v.as_bytes());
    }
    payload.extend_from_slice(b"}}");
    let mut mac = HmacSha256::new_from_slice(key()).expect("HMAC takes any key length");
    mac.update(&payload);
    let tag = mac.finalize().into_bytes();
    let mut out = B64.encode(&payload);
    out.push('.');
    out.push_str(&B64.encode(tag));
    out
}

#[derive(serde::Deserialize)]
struct Payload<'a> {
    #[serde(borrow)]
    m: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    n: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    d: std::borrow::Cow<'a, str>,
    e: u64,
    #[serde(borrow)]
    a: BTreeMap<String, sonic_rs::LazyValue<'a>>,
}

/// Opens a state the client brought back: its answers, or -32602 saying why it is refused
/// (tampered or not ours, expired, or issued for another request).
pub fn open(state: &str, binding: &Binding<'_>, now_unix_ms: u64) -> Result<Answers, RpcError> {
    let refused = |why: &str| RpcError::invalid_params(format!("Invalid params: requestState {why}"));
    if state.len() > REQUEST_STATE_MAX_BYTES {
        return Err(refused("is longer than this server ever issues"));
    }
    let (payload, tag) = state.split_once('.').ok_or_else(|| refused("failed its integrity check"))?;
    let payload = B64.decode(payload).map_err(|_| refused("failed its integrity check"))?;
    let tag = B64.decode(tag).map_err(|_| refused("failed its integrity check"))?;
    let mut mac = HmacSha256::new_from_slice(key()).expect("HMAC takes any key length");
    mac.update(&payload);
    mac.verify_slice(&tag).map_err(|_| refused("failed its integrity check"))?;
    let p: Payload<'_> = sonic_rs::from_slice(&payload).map_err(|_| refused("failed its integrity check"))?;
    if p.e < now_unix_ms {
        return Err(refused("expired; send the request again without requestState and inputResponses"));
    }
    if p.m != binding.method || p.n != binding.name || p.d != binding.digest() {
        return Err(refused("was issued for another request (method, name or arguments differ)"));
    }
    Ok(p.a.into_iter().map(|(k, v)| (k, v.as_raw_str().to_string())).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding<'a>(name: &'a str, arguments: &'a str) -> Binding<'a> {
        Binding { method: "tools/call", name, arguments }
    }

    #[test]
    fn a_sealed_state_opens_only_unchanged_in_time_and_on_its_request() {
        let mut answers = Answers::new();
        answers.insert("name".into(), r#"{"action":"accept","content":{"name":"Ada"}}"#.into());
        let b = binding("greet", r#"{"x":1}"#);
        let state = seal(&b, &answers, 1_000);
        assert_eq!(open(&state, &b, 1_000).unwrap(), answers);
        let mut tampered = state.clone().into_bytes();
        tampered[3] ^= 1;
        let tampered = String::from_utf8(tampered).unwrap();
        assert!(open(&tampered, &b, 1_000).unwrap_err().message.contains("integrity"));
        assert!(open(&format!("{state}x"), &b, 1_000).is_err());
        assert!(open(&state, &b, 1_000 + REQUEST_STATE_TTL_MS + 1).unwrap_err().message.contains("expired"));
        assert!(open(&state, &binding("other", r#"{"x":1}"#), 1_000).unwrap_err().message.contains("another"));
        assert!(open(&state, &binding("greet", r#"{"x":2}"#), 1_000).unwrap_err().message.contains("another"));
    }
}
