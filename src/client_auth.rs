//! Client authentication at the token endpoint: what arrived on the wire
//! ([`ClientCredentials`]) against what the client is registered with
//! ([`ClientAuthMethod`]): `none` for public clients, `client_secret_basic` and
//! `client_secret_post` (RFC 6749 §2.3.1) checked against an HMAC the application keeps
//! ([`ClientSecretHasher`]), and `private_key_jwt` (RFC 7523 §2.2, OpenID Connect Core §9).
//!
//! Every failure is [`Error::InvalidClient`] (HTTP 401), whatever the detail; a request that
//! uses more than one method is refused (RFC 6749 §2.3).

use core::fmt;
use core::future::Future;
use std::collections::HashMap;

use crate::crypto::hmac;
use zeroize::Zeroizing;

use crate::client::{Client, ClientAuthMethod, ClientSecretHash};
use crate::error::Error;
use crate::jose::{b64_decode_vec, verify_compact};

/// The `client_assertion_type` of RFC 7523 §2.2.
pub const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Longest client assertion accepted.
const MAX_ASSERTION_LEN: usize = 8 * 1024;
/// Longest `exp` a client assertion may have, from now: assertions are single-use and short.
pub const MAX_ASSERTION_LIFETIME: i64 = 300;

/// A client secret: 32 random bytes, base64url. Give it to the client once; store only its
/// [`ClientSecretHash`]. Not `Clone`; zeroized on drop; `Debug` prints
/// `ClientSecret([redacted])`.
pub struct ClientSecret(Zeroizing<String>);

impl ClientSecret {
    /// A fresh secret (256 bits).
    pub fn generate() -> Result<Self, Error> {
        crate::opaque::random_text("").map(Self)
    }

    /// The secret's text, to hand to the client.
    #[must_use]
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret([redacted])")
    }
}

/// Hashes client secrets with HMAC-SHA256 under a key only the application holds, so a
/// stolen client table yields nothing usable. Comparison is constant-time.
pub struct ClientSecretHasher {
    key: hmac::Key,
}

impl fmt::Debug for ClientSecretHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecretHasher([redacted])")
    }
}

impl ClientSecretHasher {
    /// A hasher under `key` (at least 32 bytes: keep it with your other secrets).
    pub fn new(key: &[u8]) -> Result<Self, Error> {
        if key.len() < 32 {
            return Err(Error::Config("client secret key must be at least 32 bytes"));
        }
        Ok(Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, key),
        })
    }

    /// What to store for `secret`.
    #[must_use]
    pub fn hash(&self, secret: &str) -> ClientSecretHash {
        let mut out = [0u8; 32];
        out.copy_from_slice(hmac::sign(&self.key, secret.as_bytes()).as_ref());
        ClientSecretHash(out)
    }

    /// Whether `secret` is the one `hash` was made from (constant time).
    #[must_use]
    pub fn verify(&self, secret: &str, hash: &ClientSecretHash) -> bool {
        hmac::verify(&self.key, secret.as_bytes(), &hash.0).is_ok()
    }
}

/// Client authentication as it arrived on the wire, for the engine to decide.
#[derive(Clone, Copy, Default)]
pub struct ClientCredentials<'a> {
    /// The `Authorization` header's value, if any (`Basic ...` is used; other schemes are
    /// ignored).
    pub authorization: Option<&'a str>,
    /// The `client_id` form parameter.
    pub client_id: Option<&'a str>,
    /// The `client_secret` form parameter.
    pub client_secret: Option<&'a str>,
    /// The `client_assertion_type` form parameter.
    pub client_assertion_type: Option<&'a str>,
    /// The `client_assertion` form parameter.
    pub client_assertion: Option<&'a str>,
}

impl<'a> ClientCredentials<'a> {
    /// What a request carries: its `Authorization` header and the form's `client_id`,
    /// `client_secret`, `client_assertion_type` and `client_assertion`.
    pub(crate) fn of(authorization: Option<&'a str>, form: &'a crate::form::Form) -> Self {
        Self {
            authorization,
            client_id: form.get("client_id"),
            client_secret: form.get("client_secret"),
            client_assertion_type: form.get("client_assertion_type"),
            client_assertion: form.get("client_assertion"),
        }
    }
}

impl fmt::Debug for ClientCredentials<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("authorization", &self.authorization.map(|_| "[redacted]"))
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.map(|_| "[redacted]"))
            .field("client_assertion_type", &self.client_assertion_type)
            .field(
                "client_assertion",
                &self.client_assertion.map(|_| "[redacted]"),
            )
            .finish()
    }
}

/// Where the engine finds registered clients: the application's client table.
pub trait ClientRegistry: Send + Sync {
    /// The client with this id, or `None`. An error is a backend failure.
    fn client(&self, id: &str) -> impl Future<Output = Result<Option<Client>, Error>> + Send;
}

impl ClientRegistry for HashMap<String, Client> {
    async fn client(&self, id: &str) -> Result<Option<Client>, Error> {
        Ok(self.get(id).cloned())
    }
}

impl ClientRegistry for Vec<Client> {
    async fn client(&self, id: &str) -> Result<Option<Client>, Error> {
        Ok(self.iter().find(|c| c.id() == id).cloned())
    }
}

/// The method the request used, with what it carried.
pub(crate) enum Presented<'a> {
    /// Only a `client_id` (a public client).
    Id(String),
    /// `client_secret_basic`: id and secret from the header, form-urldecoded.
    Basic(String, Zeroizing<String>),
    /// `client_secret_post`.
    Post(&'a str, &'a str),
    /// `private_key_jwt`, with the `client_id` parameter if sent.
    Assertion(Option<&'a str>, &'a str),
}

/// Which method the request uses; more than one (or none) is an error.
pub(crate) fn presented<'a>(c: &ClientCredentials<'a>) -> Result<Presented<'a>, Error> {
    let basic = c.authorization.and_then(|h| {
        h.strip_prefix("Basic ")
            .or_else(|| h.strip_prefix("basic "))
    });
    let methods = usize::from(basic.is_some())
        + usize::from(c.client_secret.is_some())
        + usize::from(c.client_assertion.is_some() || c.client_assertion_type.is_some());
    if methods > 1 {
        return Err(Error::InvalidClient("more than one authentication method"));
    }
    if let Some(b64) = basic {
        let (id, secret) = parse_basic(b64.trim())?;
        if c.client_id.is_some_and(|form_id| form_id != id) {
            return Err(Error::InvalidClient("client_id differs from the header's"));
        }
        return Ok(Presented::Basic(id, secret));
    }
    if let Some(secret) = c.client_secret {
        let id = c
            .client_id
            .ok_or(Error::InvalidClient("client_secret without client_id"))?;
        return Ok(Presented::Post(id, secret));
    }
    if c.client_assertion.is_some() || c.client_assertion_type.is_some() {
        if c.client_assertion_type != Some(JWT_BEARER_ASSERTION) {
            return Err(Error::InvalidClient("unsupported client_assertion_type"));
        }
        let assertion = c
            .client_assertion
            .ok_or(Error::InvalidClient("client_assertion missing"))?;
        return Ok(Presented::Assertion(c.client_id, assertion));
    }
    match c.client_id {
        Some(id) => Ok(Presented::Id(id.to_owned())),
        None => Err(Error::InvalidClient("no client authentication")),
    }
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 §2.3.1, RFC 7617).
fn parse_basic(b64: &str) -> Result<(String, Zeroizing<String>), Error> {
    const BAD: Error = Error::InvalidClient("malformed Basic credentials");
    if b64.len() > 4096 {
        return Err(BAD);
    }
    let mut raw = Zeroizing::new(Vec::new());
    // The header uses the standard alphabet with padding.
    let decoded =
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64).map_err(|_| BAD)?;
    raw.extend_from_slice(&decoded);
    let mut decoded = decoded;
    zeroize::Zeroize::zeroize(&mut decoded);
    let text = core::str::from_utf8(&raw).map_err(|_| BAD)?;
    let (id, secret) = text.split_once(':').ok_or(BAD)?;
    let id = crate::form::decode_component(id).ok_or(BAD)?;
    let secret = Zeroizing::new(crate::form::decode_component(secret).ok_or(BAD)?);
    if id.is_empty() {
        return Err(BAD);
    }
    Ok((id, secret))
}

/// The claims of a client assertion this crate checks (RFC 7523 §3).
#[derive(serde::Deserialize)]
struct AssertionClaims {
    iss: String,
    sub: String,
    /// A string or an array of strings (RFC 7519 §4.1.3).
    aud: serde_json::Value,
    exp: i64,
    #[serde(default)]
    nbf: Option<i64>,
    jti: String,
}

/// A verified client assertion: who it is from, its `jti` and `exp` (for the replay check).
pub(crate) struct VerifiedAssertion {
    pub(crate) client_id: String,
    pub(crate) jti: String,
    pub(crate) exp: i64,
}

/// The client id an assertion claims (its `iss`), read without verifying: only to find the
/// client's keys. Everything is checked by [`verify_assertion`] after.
pub(crate) fn assertion_issuer(assertion: &str) -> Result<String, Error> {
    const BAD: Error = Error::InvalidClient("malformed client assertion");
    if assertion.len() > MAX_ASSERTION_LEN {
        return Err(BAD);
    }
    let payload = assertion.split('.').nth(1).ok_or(BAD)?;
    let mut json = Vec::new();
    b64_decode_vec(payload.as_bytes(), &mut json).map_err(|_| BAD)?;
    #[derive(serde::Deserialize)]
    struct Iss {
        iss: String,
    }
    serde_json::from_slice::<Iss>(&json)
        .map(|c| c.iss)
        .map_err(|_| BAD)
}

/// Verify a `private_key_jwt` assertion: signature by one of the client's keys (algorithm
/// bound to the key), `iss` = `sub` = the client id, `aud` naming one of `audiences` (the
/// token endpoint URL or the issuer), unexpired, `exp` at most
/// [`MAX_ASSERTION_LIFETIME`] ahead, `nbf` passed, a `jti`. The caller records the `jti`.
pub(crate) fn verify_assertion(
    assertion: &str,
    client: &Client,
    audiences: &[&str],
    now: i64,
    leeway: i64,
) -> Result<VerifiedAssertion, Error> {
    let ClientAuthMethod::PrivateKeyJwt(keys) = client.auth_method() else {
        return Err(Error::InvalidClient("client does not use private_key_jwt"));
    };
    let json = verify_compact(assertion, keys, MAX_ASSERTION_LEN)
        .map_err(|_| Error::InvalidClient("client assertion signature"))?;
    let c: AssertionClaims = serde_json::from_slice(&json)
        .map_err(|_| Error::InvalidClient("client assertion claims"))?;
    if c.iss != client.id() || c.sub != client.id() {
        return Err(Error::InvalidClient("client assertion iss/sub"));
    }
    let names_audience = |a: &str| match &c.aud {
        serde_json::Value::String(s) => s == a,
        serde_json::Value::Array(v) => v.iter().any(|x| x.as_str() == Some(a)),
        _ => false,
    };
    if !audiences.iter().any(|a| names_audience(a)) {
        return Err(Error::InvalidClient("client assertion aud"));
    }
    if now >= c.exp.saturating_add(leeway) {
        return Err(Error::InvalidClient("client assertion expired"));
    }
    if c.exp > now.saturating_add(MAX_ASSERTION_LIFETIME) {
        return Err(Error::InvalidClient("client assertion lives too long"));
    }
    if c.nbf.is_some_and(|nbf| nbf > now.saturating_add(leeway)) {
        return Err(Error::InvalidClient("client assertion not yet valid"));
    }
    if c.jti.is_empty() || c.jti.len() > 256 {
        return Err(Error::InvalidClient("client assertion jti"));
    }
    Ok(VerifiedAssertion {
        client_id: c.iss,
        jti: c.jti,
        exp: c.exp,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_hash_and_verify_under_the_key_only() {
        let h = ClientSecretHasher::new(&[1; 32]).unwrap();
        let other = ClientSecretHasher::new(&[2; 32]).unwrap();
        let s = ClientSecret::generate().unwrap();
        assert_eq!(s.expose_secret().len(), 43);
        let hash = h.hash(s.expose_secret());
        assert!(h.verify(s.expose_secret(), &hash));
        assert!(!other.verify(s.expose_secret(), &hash));
        assert!(!h.verify("wrong", &hash));
        assert!(ClientSecretHasher::new(&[1; 31]).is_err());
        assert_eq!(format!("{s:?}"), "ClientSecret([redacted])");
        assert_eq!(format!("{h:?}"), "ClientSecretHasher([redacted])");
        assert_eq!(format!("{hash:?}"), "ClientSecretHash([redacted])");
    }

    #[test]
    fn basic_credentials_are_form_urlencoded_inside_base64() {
        // RFC 6749 §2.3.1: id and secret are form-urlencoded before base64.
        let header = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            "my%3Aclient:p%40ss+word",
        );
        let (id, secret) = parse_basic(&header).unwrap();
        assert_eq!((id.as_str(), secret.as_str()), ("my:client", "p@ss word"));
        for bad in [
            "!!!",
            "",
            &base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "no-colon"),
        ] {
            assert!(parse_basic(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn one_method_at_a_time() {
        let both = ClientCredentials {
            authorization: Some("Basic YTpi"),
            client_secret: Some("b"),
            client_id: Some("a"),
            ..ClientCredentials::default()
        };
        assert!(matches!(presented(&both), Err(Error::InvalidClient(_))));
        let none = ClientCredentials::default();
        assert!(matches!(presented(&none), Err(Error::InvalidClient(_))));
        let mismatch = ClientCredentials {
            authorization: Some("Basic YTpi"),
            client_id: Some("z"),
            ..ClientCredentials::default()
        };
        assert!(matches!(presented(&mismatch), Err(Error::InvalidClient(_))));
        let debug = format!(
            "{:?}",
            ClientCredentials {
                authorization: Some("Basic c2VjcmV0"),
                client_secret: Some("hunter2"),
                ..ClientCredentials::default()
            }
        );
        assert!(
            !debug.contains("hunter2") && !debug.contains("c2VjcmV0"),
            "{debug}"
        );
    }
}
