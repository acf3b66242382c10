//! `testpki`: test-only keys, certificates and tokens for ringmcp's auth and TLS tests. Never
//! use what it makes outside tests: the RSA key is checked into the repository.
//!
//! ```text
//! testpki init DIR
//!     ca.pem ca.key                 a test CA
//!     server.pem server.key         a server certificate (SAN localhost, 127.0.0.1; serverAuth)
//!     client.pem client.key         a client certificate (CN testpki-client; clientAuth)
//!     k-ed.key k-ec.key k-rsa.key   token signing keys (Ed25519, P-256, RSA 2048), PKCS#8 PEM
//!     jwks.json                     their public keys (kid k-ed / k-ec / k-rsa)
//! testpki token DIR --kid KID --aud AUD --iss ISS [--scope "a b"] [--sub SUB]
//!                   [--client-id ID] [--exp-s N] [--nbf-s N]
//!     prints a JWT signed with DIR/KID.key (EdDSA, ES256 or RS256 by the kid's key);
//!     exp = now + N (default 3600; negative: already expired), nbf = now + N if given.
//! ```

use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use std::path::Path;
use std::process::ExitCode;

/// The checked-in, test-only RSA key (`openssl genpkey -algorithm RSA`): rcgen's ring backend
/// cannot generate RSA keys.
const RSA_TEST_KEY: &str = include_str!("../rsa-test-key.pem");

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("init") if args.len() == 2 => init(Path::new(&args[1])),
        Some("token") if args.len() >= 2 => token(Path::new(&args[1]), &args[2..]).map(|t| println!("{t}")),
        _ => Err(USAGE.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("testpki: {e}");
            ExitCode::from(2)
        }
    }
}

const USAGE: &str = "usage: testpki init DIR | testpki token DIR --kid KID --aud AUD --iss ISS [--scope S] [--sub SUB] [--client-id ID] [--exp-s N] [--nbf-s N]";

fn write(dir: &Path, name: &str, text: &str) -> Result<(), String> {
    std::fs::write(dir.join(name), text).map_err(|e| format!("{}: {e}", dir.join(name).display()))
}

fn init(dir: &Path) -> Result<(), String> {
    let err = |e: rcgen::Error| e.to_string();
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let ca_key = KeyPair::generate().map_err(err)?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca.distinguished_name = DistinguishedName::new();
    ca.distinguished_name.push(DnType::CommonName, "testpki CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let ca_cert = ca.self_signed(&ca_key).map_err(err)?;
    write(dir, "ca.pem", &ca_cert.pem())?;
    write(dir, "ca.key", &ca_key.serialize_pem())?;
    let issuer = Issuer::new(ca, ca_key);

    let server_key = KeyPair::generate().map_err(err)?;
    let mut server = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).map_err(err)?;
    server.distinguished_name.push(DnType::CommonName, "localhost");
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    write(dir, "server.pem", &server.signed_by(&server_key, &issuer).map_err(err)?.pem())?;
    write(dir, "server.key", &server_key.serialize_pem())?;

    let client_key = KeyPair::generate().map_err(err)?;
    let mut client = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    client.distinguished_name.push(DnType::CommonName, "testpki-client");
    client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    write(dir, "client.pem", &client.signed_by(&client_key, &issuer).map_err(err)?.pem())?;
    write(dir, "client.key", &client_key.serialize_pem())?;

    let mut keys = Vec::new();
    let ed = KeyPair::generate_for(&rcgen::PKCS_ED25519).map_err(err)?;
    write(dir, "k-ed.key", &ed.serialize_pem())?;
    keys.push(public_jwk("k-ed", Algorithm::EdDSA, &DecodingKey::from_ed_der(ed.public_key_raw()))?);
    let ec = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(err)?;
    write(dir, "k-ec.key", &ec.serialize_pem())?;
    keys.push(public_jwk("k-ec", Algorithm::ES256, &DecodingKey::from_ec_der(ec.public_key_raw()))?);
    write(dir, "k-rsa.key", RSA_TEST_KEY)?;
    let rsa = EncodingKey::from_rsa_pem(RSA_TEST_KEY.as_bytes()).map_err(|e| e.to_string())?;
    let mut jwk = Jwk::from_encoding_key(&rsa, Algorithm::RS256).map_err(|e| e.to_string())?;
    jwk.common.key_id = Some("k-rsa".into());
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    keys.push(jwk);
    let jwks = serde_json::to_string_pretty(&JwkSet { keys }).map_err(|e| e.to_string())?;
    write(dir, "jwks.json", &jwks)
}

fn public_jwk(kid: &str, alg: Algorithm, key: &DecodingKey) -> Result<Jwk, String> {
    let mut jwk = Jwk::from_decoding_key(key, Some(alg)).map_err(|e| e.to_string())?;
    jwk.common.key_id = Some(kid.into());
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    Ok(jwk)
}

fn token(dir: &Path, args: &[String]) -> Result<String, String> {
    let opt = |name: &str| -> Option<String> {
        let i = args.iter().position(|a| a == name)?;
        args.get(i + 1).cloned()
    };
    let need = |v: Option<String>, name: &str| v.ok_or_else(|| format!("{name} is required\n{USAGE}"));
    let kid = need(opt("--kid"), "--kid")?;
    let aud = need(opt("--aud"), "--aud")?;
    let iss = need(opt("--iss"), "--iss")?;
    let number = |v: Option<String>, name: &str| -> Result<Option<i64>, String> {
        v.map(|s| s.parse::<i64>().map_err(|_| format!("{name}: `{s}` is not a number"))).transpose()
    };
    let exp_s = number(opt("--exp-s"), "--exp-s")?.unwrap_or(3600);
    let nbf_s = number(opt("--nbf-s"), "--nbf-s")?;
    let pem = std::fs::read(dir.join(format!("{kid}.key"))).map_err(|e| format!("{kid}.key: {e}"))?;
    let (alg, key) = if kid.contains("rsa") {
        (Algorithm::RS256, EncodingKey::from_rsa_pem(&pem))
    } else if kid.contains("ec") {
        (Algorithm::ES256, EncodingKey::from_ec_pem(&pem))
    } else {
        (Algorithm::EdDSA, EncodingKey::from_ed_pem(&pem))
    };
    let key = key.map_err(|e| format!("{kid}.key: {e}"))?;
    let now = jsonwebtoken::get_current_timestamp() as i64;
    let mut claims = serde_json::json!({
        "iss": iss,
        "aud": aud,
        "sub": opt("--sub").unwrap_or_else(|| "testpki-user".into()),
        "iat": now,
        "exp": now + exp_s,
    });
    if let Some(nbf) = nbf_s {
        claims["nbf"] = (now + nbf).into();
    }
    if let Some(scope) = opt("--scope") {
        claims["scope"] = scope.into();
    }
    if let Some(client) = opt("--client-id") {
        claims["client_id"] = client.into();
    }
    let mut header = Header::new(alg);
    header.kid = Some(kid);
    header.typ = Some("at+jwt".into());
    jsonwebtoken::encode(&header, &claims, &key).map_err(|e| e.to_string())
}
