//! The verification keys: a JWKS from `auth_jwks_file` (read at start-up) or `auth_jwks_url`
//! (fetched at start-up, then by the `ringmcp-jwks` thread every `auth_jwks_refresh_s`, and
//! on demand when a token names an unknown `kid`). Cores never do this I/O: they read the
//! current [`KeySet`] (an `Arc` swapped under a lock) and, for an unknown `kid`, ask for one
//! refresh ([`KeyStore::request_refresh`]), at most once per `auth_jwks_min_refresh_interval_ms`
//! whatever the tokens say, so forged `kid`s cannot make the server hammer its JWKS.

use crate::limits::{JWKS_FETCH_TIMEOUT_MS, JWKS_MAX_BYTES};
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

/// One usable key: the one algorithm it verifies, and the key.
#[derive(Clone)]
pub struct Key {
    /// The only algorithm this key verifies (from its `kty`/`crv`).
    pub alg: Algorithm,
    /// The public key.
    pub key: DecodingKey,
}

/// The keys of one JWKS, by `kid` (keys without a `kid` are kept apart).
#[derive(Clone, Default)]
pub struct KeySet {
    /// Keys with a `kid`.
    pub by_kid: HashMap<String, Key>,
    /// Keys without one (used only when exactly one fits a token's algorithm).
    pub unnamed: Vec<Key>,
}

/// The algorithm a JWK verifies, from its type and curve; `None` for what is never accepted
/// (`oct` HMAC secrets, encryption keys, unknown types, an `alg` that disagrees).
fn key_algorithm(jwk: &Jwk) -> Option<Algorithm> {
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption | PublicKeyUse::Other(_))) {
        return None;
    }
    let (alg, named) = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => (Algorithm::RS256, KeyAlgorithm::RS256),
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => {
            (Algorithm::ES256, KeyAlgorithm::ES256)
        }
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P384 => {
            (Algorithm::ES384, KeyAlgorithm::ES384)
        }
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            (Algorithm::EdDSA, KeyAlgorithm::EdDSA)
        }
        _ => return None,
    };
    match jwk.common.key_algorithm {
        None => Some(alg),
        Some(a) if a == named => Some(alg),
        Some(_) => None,
    }
}

/// Parses a JWKS document. Keys that cannot be used (unknown types, `oct`, encryption keys,
/// malformed members) are skipped, so one odd key does not lose the others. Errors only if
/// the document is not a JWKS at all.
pub fn parse_jwks(text: &str) -> Result<KeySet, String> {
    #[derive(serde::Deserialize)]
    struct Raw {
        keys: Vec<sonic_rs::Value>,
    }
    let raw: Raw = sonic_rs::from_str(text).map_err(|e| format!("not a JWKS ({{\"keys\":[…]}}): {e}"))?;
    let mut set = KeySet::default();
    for value in raw.keys {
        let Ok(jwk) = sonic_rs::to_string(&value).and_then(|t| sonic_rs::from_str::<Jwk>(&t)) else { continue };
        let Some(alg) = key_algorithm(&jwk) else { continue };
        let Ok(key) = DecodingKey::from_jwk(&jwk) else { continue };
        let key = Key { alg, key };
        match jwk.common.key_id {
            Some(kid) => {
                set.by_kid.insert(kid, key);
            }
            None => set.unnamed.push(key),
        }
    }
    Ok(set)
}

/// Where the keys come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A JWKS file, read at start-up.
    File(std::path::PathBuf),
    /// A JWKS URL (`https://`, or `http://` on loopback), and the PEM of the CA(s) to trust
    /// for it instead of the built-in web roots (`auth_jwks_ca_file`).
    Url(String, Option<Vec<u8>>),
}

/// Counters of the key store, for `/metrics`.
#[derive(Debug, Default)]
pub struct StoreCounters {
    /// JWKS fetches made (start-up, periodic, on demand), successful or not.
    pub fetches: AtomicU64,
    /// Fetches that failed (the old keys stay).
    pub fetch_errors: AtomicU64,
    /// On-demand refreshes refused by the rate limit (unknown `kid` too soon after the last).
    pub refreshes_denied: AtomicU64,
}

/// No on-demand refresh yet.
const NEVER: u64 = u64::MAX;

/// The current keys, shared by every core and the refresh thread.
pub struct KeyStore {
    current: RwLock<Arc<KeySet>>,
    generation: AtomicU64,
    last_demand_ms: AtomicU64,
    min_interval_ms: u64,
    started: Instant,
    demand: Option<flume::Sender<()>>,
    /// Fetch and refresh counts.
    pub counters: StoreCounters,
}

impl KeyStore {
    /// Loads the keys from `source` now (an error if that fails) and, for a URL, starts the
    /// `ringmcp-jwks` thread that refreshes them every `refresh` and on demand. The thread ends
    /// once the store is dropped.
    pub fn start(source: &Source, refresh: Duration, min_interval_ms: u64) -> Result<Arc<KeyStore>, String> {
        let (tx, rx) = flume::bounded::<()>(1);
        let url = match source {
            Source::Url(u, ca) => Some((u.clone(), agent(ca.as_deref())?)),
            Source::File(_) => None,
        };
        let store = Arc::new(KeyStore {
            current: RwLock::new(Arc::new(KeySet::default())),
            generation: AtomicU64::new(0),
            last_demand_ms: AtomicU64::new(NEVER),
            min_interval_ms,
            started: Instant::now(),
            demand: url.as_ref().map(|_| tx),
            counters: StoreCounters::default(),
        });
        let first = match source {
            Source::File(path) => std::fs::read_to_string(path)
                .map_err(|e| format!("{}: {e}", path.display()))
                .and_then(|t| parse_jwks(&t).map_err(|e| format!("{}: {e}", path.display()))),
            Source::Url(u, _) => store.fetch(&url.as_ref().expect("a URL source").1, u),
        };
        store.publish(first?);
        if let Some((url, agent)) = url {
            let weak = Arc::downgrade(&store);
            std::thread::Builder::new()
                .name("ringmcp-jwks".into())
                .spawn(move || refresh_loop(weak, (url, agent), rx, refresh))
                .map_err(|e| format!("cannot start the ringmcp-jwks thread: {e}"))?;
        }
        Ok(store)
    }

    /// A store holding `set`, never refreshed (tests, and keys given in code).
    pub fn fixed(set: KeySet) -> Arc<KeyStore> {
        let store = Arc::new(KeyStore {
            current: RwLock::new(Arc::new(KeySet::default())),
            generation: AtomicU64::new(0),
            last_demand_ms: AtomicU64::new(NEVER),
            min_interval_ms: 0,
            started: Instant::now(),
            demand: None,
            counters: StoreCounters::default(),
        });
        store.publish(set);
        store
    }

    /// The current keys.
    pub fn keys(&self) -> Arc<KeySet> {
        self.current.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Bumped each time new keys are published.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Publishes `set` in place of the current keys (a reloaded JWKS file).
    pub fn replace(&self, set: KeySet) {
        self.publish(set);
    }

    fn publish(&self, set: KeySet) {
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(set);
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Asks the refresh thread for a fetch now (a token named an unknown `kid`). `false`, and
    /// counted, when the last on-demand refresh was less than the minimum interval ago or
    /// there is nothing to refresh from (a file): the caller fails at once. Never blocks.
    pub fn request_refresh(&self) -> bool {
        let Some(demand) = &self.demand else { return false };
        let now = self.started.elapsed().as_millis() as u64;
        let last = self.last_demand_ms.load(Ordering::Acquire);
        let due = last == NEVER || now.saturating_sub(last) >= self.min_interval_ms;
        if !due || self.last_demand_ms.compare_exchange(last, now, Ordering::AcqRel, Ordering::Acquire).is_err() {
            self.counters.refreshes_denied.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        // A full channel means a refresh is asked already; it serves this one too.
        let _ = demand.try_send(());
        true
    }

    fn fetch(&self, agent: &ureq::Agent, url: &str) -> Result<KeySet, String> {
        self.counters.fetches.fetch_add(1, Ordering::Relaxed);
        let result = fetch(agent, url).and_then(|t| parse_jwks(&t));
        if result.is_err() {
            self.counters.fetch_errors.fetch_add(1, Ordering::Relaxed);
        }
        result.map_err(|e| format!("{url}: {e}"))
    }
}

/// The HTTP client of the JWKS fetches: bounded in time, no redirects, trusting `ca_pem`'s
/// certificates if given (else the built-in web roots).
fn agent(ca_pem: Option<&[u8]>) -> Result<ureq::Agent, String> {
    let mut config = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_millis(JWKS_FETCH_TIMEOUT_MS)))
        .max_redirects(0);
    if let Some(pem) = ca_pem {
        let mut certs = Vec::new();
        for item in ureq::tls::parse_pem(pem) {
            if let ureq::tls::PemItem::Certificate(c) = item.map_err(|e| e.to_string())? {
                certs.push(c);
            }
        }
        if certs.is_empty() {
            return Err("auth_jwks_ca_file holds no PEM certificate".into());
        }
        let roots = ureq::tls::RootCerts::new_with_certs(&certs);
        config = config.tls_config(ureq::tls::TlsConfig::builder().root_certs(roots).build());
    }
    Ok(config.build().into())
}

/// GETs the JWKS at `url`: bounded in time and size.
fn fetch(agent: &ureq::Agent, url: &str) -> Result<String, String> {
    let mut response = agent.get(url).call().map_err(|e| e.to_string())?;
    response.body_mut().with_config().limit(JWKS_MAX_BYTES).read_to_string().map_err(|e| e.to_string())
}

fn refresh_loop(
    store: Weak<KeyStore>,
    (url, agent): (String, ureq::Agent),
    demand: flume::Receiver<()>,
    every: Duration,
) {
    loop {
        match demand.recv_timeout(every) {
            Ok(()) | Err(flume::RecvTimeoutError::Timeout) => {}
            Err(flume::RecvTimeoutError::Disconnected) => return,
        }
        let Some(store) = store.upgrade() else { return };
        match store.fetch(&agent, &url) {
            Ok(set) => {
                log::debug!("auth: JWKS refreshed from {url}: {} keys", set.by_kid.len() + set.unnamed.len());
                store.publish(set);
            }
            Err(e) => log::warn!("auth: JWKS refresh failed, keeping the previous keys: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unusable_keys_are_skipped() {
        let text = r#"{"keys":[
            {"kty":"oct","kid":"h","k":"c2VjcmV0"},
            {"kty":"OKP","crv":"Ed25519","kid":"e","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
            {"kty":"OKP","crv":"Ed25519","kid":"enc","use":"enc","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
            {"kty":"OKP","crv":"Ed25519","kid":"wrong-alg","alg":"ES256","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
            {"kty":"XYZ","kid":"odd"},
            {"kty":"EC","crv":"P-999","kid":"bad"}
        ]}"#;
        let set = parse_jwks(text).unwrap();
        assert_eq!(set.by_kid.keys().collect::<Vec<_>>(), ["e"]);
        assert_eq!(set.by_kid["e"].alg, Algorithm::EdDSA);
        assert!(parse_jwks("[]").is_err());
    }

    #[test]
    fn demand_refreshes_are_rate_limited() {
        let (tx, rx) = flume::bounded(1);
        let store = KeyStore {
            current: RwLock::new(Arc::new(KeySet::default())),
            generation: AtomicU64::new(0),
            last_demand_ms: AtomicU64::new(NEVER),
            min_interval_ms: 60_000,
            started: Instant::now(),
            demand: Some(tx),
            counters: StoreCounters::default(),
        };
        assert!(store.request_refresh());
        for _ in 0..10 {
            assert!(!store.request_refresh());
        }
        assert_eq!(rx.len(), 1);
        assert_eq!(store.counters.refreshes_denied.load(Ordering::Relaxed), 10);
    }
}
