//! What the `verify` and `backends` benches share: the seed's claim set and the shapes it is
//! read into, the test keys, and the floor (what no verifier that returns the claims can beat).

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use token_engine::AccessTokenClaims;

pub const ISS: &str = "https://auth.example.com";
pub const AUD: &str = "https://api.example.com";

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct App {
    pub role: String,
    pub tenant_id: String,
}

/// `App` borrowing from the decoded payload (`verify_borrowed`).
#[derive(Debug, Deserialize)]
pub struct BorrowedApp<'a> {
    #[serde(borrow)]
    pub role: Cow<'a, str>,
    #[serde(borrow)]
    pub tenant_id: Cow<'a, str>,
}

/// What the floor parses: every claim of the token, borrowed.
#[derive(Debug, Deserialize)]
#[allow(dead_code)]
pub struct FloorClaims<'a> {
    pub iss: &'a str,
    pub sub: &'a str,
    pub aud: &'a str,
    pub exp: i64,
    pub iat: i64,
    pub jti: &'a str,
    pub client_id: &'a str,
    pub scope: &'a str,
    pub auth_time: i64,
    pub role: &'a str,
    pub tenant_id: &'a str,
}

pub fn key_file(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/../tests/data/keys/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// The seed article's access-token claims, issued at `now`, valid for an hour.
pub fn seed_claims(now: i64) -> AccessTokenClaims<'static, App> {
    let mut c = AccessTokenClaims::new(App {
        role: "admin".into(),
        tenant_id: "org_987654321".into(),
    });
    c.iss = Some(ISS.into());
    c.sub = Some("user123456".into());
    c.aud = Some(AUD.into());
    c.iat = Some(now);
    c.exp = Some(now + 3600);
    c.jti = Some("abcd1234-ef56-gh78-ij90".into());
    c.scope = Some("read:profile write:settings".into());
    c.client_id = Some("client_app_123".into());
    c.auth_time = Some(now - 100);
    c
}

/// A bare signature check over the signing input and signature.
pub type RawVerify = Box<dyn Fn(&[u8], &[u8]) -> bool>;
/// A peer's whole verification of a token.
pub type Peer = Box<dyn Fn(&str) -> bool>;
/// A named contender of one round: one operation on the case's token or signing input.
pub type Contender<'a> = (&'static str, Box<dyn Fn() + 'a>);

/// The floor: split at the last dot, decode the signature, check it with the bare check,
/// decode the payload into a reused buffer, one borrowed serde parse. No header, no
/// validation.
pub fn floor<'b>(token: &str, raw: &RawVerify, buf: &'b mut Vec<u8>) -> FloorClaims<'b> {
    let (input, sig_b64) = token.rsplit_once('.').unwrap();
    let mut sig = [0u8; 512];
    let n = URL_SAFE_NO_PAD.decode_slice(sig_b64, &mut sig).unwrap();
    assert!(raw(input.as_bytes(), &sig[..n]));
    let payload_b64 = input.split_once('.').unwrap().1;
    buf.clear();
    buf.resize(payload_b64.len() * 3 / 4 + 3, 0);
    let len = URL_SAFE_NO_PAD.decode_slice(payload_b64, buf).unwrap();
    buf.truncate(len);
    serde_json::from_slice(buf).unwrap()
}
