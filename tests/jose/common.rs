//! Shared helpers: test keys, the seed's claim set, and a token forger.

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use token_engine::{
    AccessTokenClaims, Algorithm, KeySet, ManualClock, SigningKey, Validation, Verifier,
};

pub const ISS: &str = "https://auth.example.com";
pub const AUD: &str = "https://api.example.com";
/// 2024-05-03T20:26:40Z, the seed's `iat`.
pub const NOW: i64 = 1_714_768_000;

pub fn key_file(name: &str) -> String {
    let path = format!("{}/tests/data/keys/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub fn key_bytes(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/keys/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The application claims of the seed's access token.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedApp {
    pub role: String,
    pub tenant_id: String,
    pub azp: String,
}

/// The seed's access token claims (iss, sub, aud, iat, exp 13 min later, jti, scope, role,
/// tenant_id, azp, auth_time) plus client_id, sid and pv.
pub fn seed_claims() -> AccessTokenClaims<'static, SeedApp> {
    let mut c = AccessTokenClaims::new(SeedApp {
        role: "admin".into(),
        tenant_id: "org_987654321".into(),
        azp: "client_app_123".into(),
    });
    c.iss = Some(Cow::Borrowed(ISS));
    c.sub = Some(Cow::Borrowed("user123456"));
    c.aud = Some(AUD.into());
    c.iat = Some(NOW);
    c.exp = Some(NOW + 800);
    c.jti = Some(Cow::Borrowed("abcd1234-ef56-gh78-ij90"));
    c.scope = Some(Cow::Borrowed("read:profile write:settings"));
    c.client_id = Some(Cow::Borrowed("client_app_123"));
    c.auth_time = Some(NOW - 100);
    c.sid = Some(Cow::Borrowed("session_family_7890"));
    c.pv = Some(token_engine::PolicyVersion::new(4, 2));
    c
}

pub fn rules() -> Validation {
    Validation::new(ISS, AUD)
}

/// A key of every algorithm (RSA from the test PEM).
pub fn signing_key(alg: Algorithm) -> SigningKey {
    match alg {
        Algorithm::RS256
        | Algorithm::RS384
        | Algorithm::RS512
        | Algorithm::PS256
        | Algorithm::PS384
        | Algorithm::PS512 => SigningKey::from_pem(alg, &key_file("rsa2048.pkcs8.pem")).unwrap(),
        _ => SigningKey::generate(alg).unwrap().0,
    }
}

/// A key set over `key` and a verifier on it, both reading `clock`.
pub fn setup(key: SigningKey) -> (KeySet, Verifier, ManualClock) {
    let clock = ManualClock::new(NOW + 60);
    let keys = KeySet::new(key);
    let verifier = keys.verifier(rules()).unwrap().with_clock(clock.clone());
    (keys, verifier, clock)
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn unb64(s: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(s).unwrap()
}

/// Assemble `b64(header).b64(payload)` and sign it with `sign`.
pub fn forge(header: &str, payload: &str, sign: impl FnOnce(&[u8]) -> Vec<u8>) -> String {
    let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    let sig = sign(input.as_bytes());
    format!("{input}.{}", b64(&sig))
}

/// The seed claims as JSON.
pub fn seed_json() -> String {
    serde_json::to_string(&seed_claims()).unwrap()
}

/// A token with this header JSON and the seed payload, signed by `key`.
pub fn forge_with(key: &SigningKey, header: &str) -> String {
    forge(header, &seed_json(), |m| key.sign(m).unwrap())
}
