//! DPoP (RFC 9449) proofs outside the engine: a client signs them with [`sign_proof`], a
//! resource server without an [`Engine`](crate::Engine) checks them with [`check_proof`] or
//! [`Verifier::verify_dpop`](crate::Verifier::verify_dpop).
//!
//! An application on the engine configures DPoP with [`DpopRules`] and [`NonceKey`] on the
//! [`EngineBuilder`](crate::EngineBuilder) and lets
//! [`Engine::token_endpoint`](crate::Engine::token_endpoint),
//! [`Engine::resource_request`](crate::Engine::resource_request),
//! [`Engine::verify_dpop_proof`](crate::Engine::verify_dpop_proof) and
//! [`Engine::verify_resource_request`](crate::Engine::verify_resource_request) do the checking
//! (they also record each proof's `jti` against replay); those types and [`VerifiedProof`]
//! are re-exported at the crate root. [`DpopError`], the reason of
//! [`Error::InvalidDpopProof`](crate::Error::InvalidDpopProof), is here only. This module adds
//! the building blocks: [`sign_proof`] with [`ProofClaims`], [`check_proof`],
//! [`access_token_hash`] (the `ath` claim) and [`MAX_PROOF_LEN`].
//!
//! Verification of proof JWTs, the `htu` comparison of §4.3, `ath`, and
//! stateless server nonces. Pure: no I/O and no clock read; the engine records each proof's
//! `jti` in the store's replay group (so a replay fails on every instance) and binds tokens
//! and refresh families to the proof key's RFC 7638 thumbprint (`jkt`).

use core::fmt;

use crate::crypto::{digest, hmac};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::jose::{Algorithm, b64_decode_vec, b64_encode_to, proof_key};

/// Largest proof accepted.
pub const MAX_PROOF_LEN: usize = 4096;

/// Why a DPoP proof (or its absence) was refused; all are `invalid_dpop_proof` on the wire
/// except [`DpopError::NonceRequired`] (`use_dpop_nonce`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DpopError {
    /// A proof was required and none was sent.
    Missing,
    /// Not a compact JWS, too long, bad base64url or JSON.
    Malformed,
    /// `typ` is not `dpop+jwt`.
    Type,
    /// `alg` is `none`, symmetric, or not among the accepted algorithms.
    Algorithm,
    /// The `jwk` header is missing, private, or not a key for `alg`.
    Key,
    /// The signature does not verify with the embedded key.
    Signature,
    /// `htm` is not the request's method.
    Method,
    /// `htu` is not the request's URI.
    Uri,
    /// `iat` is outside the accepted window.
    IssuedAt,
    /// No usable `jti`, or one already used.
    Replayed,
    /// `ath` is missing or is not the hash of the presented access token.
    AccessTokenHash,
    /// The server wants a (fresh) nonce: answer `use_dpop_nonce` with a `DPoP-Nonce` header.
    NonceRequired,
    /// The proof's key is not the one the token or session is bound to.
    KeyMismatch,
    /// A DPoP-bound access token was presented as a Bearer token, or an unbound one with a
    /// DPoP proof (RFC 9449 §7.2).
    SchemeMismatch,
    /// The request carried more than one `DPoP` header field (RFC 9449 §4.3, check 1).
    Repeated,
}

impl fmt::Display for DpopError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DpopError::Missing => "DPoP proof required",
            DpopError::Malformed => "malformed DPoP proof",
            DpopError::Type => "DPoP proof typ is not dpop+jwt",
            DpopError::Algorithm => "DPoP proof algorithm not accepted",
            DpopError::Key => "DPoP proof key unusable",
            DpopError::Signature => "DPoP proof signature invalid",
            DpopError::Method => "DPoP proof htm does not match",
            DpopError::Uri => "DPoP proof htu does not match",
            DpopError::IssuedAt => "DPoP proof iat outside the window",
            DpopError::Replayed => "DPoP proof jti missing or replayed",
            DpopError::AccessTokenHash => "DPoP proof ath does not match",
            DpopError::NonceRequired => "DPoP nonce required",
            DpopError::KeyMismatch => "DPoP proof key is not the bound key",
            DpopError::SchemeMismatch => "token presented with the wrong scheme",
            DpopError::Repeated => "more than one DPoP header",
        })
    }
}

/// How proofs are checked.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DpopRules {
    /// Algorithms a proof may use (asymmetric only). Default ES256, ES384, EdDSA, RS256,
    /// PS256.
    pub algorithms: Vec<Algorithm>,
    /// How old a proof's `iat` may be, in seconds. Default 60.
    pub max_age: i64,
    /// How far in the future `iat` may be (clock skew), in seconds. Default 5.
    pub max_skew: i64,
}

impl Default for DpopRules {
    fn default() -> Self {
        Self {
            algorithms: vec![
                Algorithm::ES256,
                Algorithm::ES384,
                Algorithm::EdDSA,
                Algorithm::RS256,
                Algorithm::PS256,
            ],
            max_age: 60,
            max_skew: 5,
        }
    }
}

/// A proof that checked out. Only [`check_proof`] and the engine's DPoP methods make one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedProof {
    jkt: String,
    jti: String,
    iat: i64,
}

impl VerifiedProof {
    /// RFC 7638 thumbprint of the proof key: what tokens are bound to (`cnf.jkt`).
    #[must_use]
    pub fn jkt(&self) -> &str {
        &self.jkt
    }

    /// The proof's `jti` (record it to refuse replays).
    #[must_use]
    pub fn jti(&self) -> &str {
        &self.jti
    }

    /// The proof's `iat`.
    #[must_use]
    pub fn iat(&self) -> i64 {
        self.iat
    }
}

#[derive(Deserialize)]
struct Header {
    typ: Option<String>,
    alg: String,
    jwk: Option<serde_json::Value>,
    crit: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct Payload {
    jti: Option<String>,
    htm: Option<String>,
    htu: Option<String>,
    iat: Option<serde_json::Number>,
    ath: Option<String>,
    nonce: Option<String>,
}

/// `BASE64URL(SHA-256(access_token))`, the `ath` claim.
#[must_use]
pub fn access_token_hash(access_token: &str) -> String {
    let mut out = String::with_capacity(43);
    b64_encode_to(
        digest::digest(&digest::SHA256, access_token.as_bytes()).as_ref(),
        &mut out,
    );
    out
}

/// What a proof is checked against.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ProofRequest<'a> {
    pub(crate) method: &'a str,
    pub(crate) uri: &'a str,
    /// The access token presented with it (resource requests), for `ath`.
    pub(crate) access_token: Option<&'a str>,
    /// The nonce the server expects, when it uses nonces.
    pub(crate) nonce: Option<&'a NonceKey>,
    pub(crate) now: i64,
}

/// Verify a DPoP proof (RFC 9449 §4.3): one compact JWS, `typ` `dpop+jwt`, an accepted
/// asymmetric `alg`, a public `jwk` for it (the same import rules as a JWKS entry), a valid
/// signature, `htm` and `htu` matching the request, `iat` within the window, a `jti`, `ath`
/// when an access token is presented, and the server nonce when one is required. The caller
/// records the `jti`.
pub(crate) fn verify_proof(
    proof: &str,
    req: &ProofRequest<'_>,
    rules: &DpopRules,
) -> Result<VerifiedProof, DpopError> {
    if proof.len() > MAX_PROOF_LEN {
        return Err(DpopError::Malformed);
    }
    let mut parts = proof.split('.');
    let (Some(h64), Some(p64), Some(s64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(DpopError::Malformed);
    };
    let decode = |s: &str| {
        let mut v = Vec::new();
        b64_decode_vec(s.as_bytes(), &mut v)
            .map(|()| v)
            .map_err(|_| DpopError::Malformed)
    };
    let header: Header = serde_json::from_slice(&decode(h64)?).map_err(|_| DpopError::Malformed)?;
    let typ_ok = header
        .typ
        .as_deref()
        .map(|t| t.strip_prefix("application/").unwrap_or(t))
        .is_some_and(|t| t.eq_ignore_ascii_case("dpop+jwt"));
    if !typ_ok {
        return Err(DpopError::Type);
    }
    if header.crit.is_some() {
        return Err(DpopError::Malformed);
    }
    let alg = rules
        .algorithms
        .iter()
        .copied()
        .find(|a| !a.is_symmetric() && a.accepts(&header.alg))
        .ok_or(DpopError::Algorithm)?;
    let jwk = header
        .jwk
        .filter(serde_json::Value::is_object)
        .ok_or(DpopError::Key)?;
    let key = proof_key(&jwk.to_string(), alg).map_err(|_| DpopError::Key)?;
    if key.is_symmetric() || !key.alg().accepts(&header.alg) {
        return Err(DpopError::Key);
    }
    let signature = decode(s64)?;
    let signed = proof
        .get(..h64.len() + 1 + p64.len())
        .ok_or(DpopError::Malformed)?;
    key.verify(signed.as_bytes(), &signature)
        .map_err(|_| DpopError::Signature)?;
    let claims: Payload =
        serde_json::from_slice(&decode(p64)?).map_err(|_| DpopError::Malformed)?;
    if claims.htm.as_deref() != Some(req.method) {
        return Err(DpopError::Method);
    }
    match (
        claims.htu.as_deref().and_then(normalize_uri),
        normalize_uri(req.uri),
    ) {
        (Some(a), Some(b)) if a == b => {}
        _ => return Err(DpopError::Uri),
    }
    let iat = claims
        .iat
        .and_then(|n| n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)))
        .ok_or(DpopError::IssuedAt)?;
    if iat < req.now.saturating_sub(rules.max_age) || iat > req.now.saturating_add(rules.max_skew) {
        return Err(DpopError::IssuedAt);
    }
    let jti = claims
        .jti
        .filter(|j| !j.is_empty() && j.len() <= 256)
        .ok_or(DpopError::Replayed)?;
    if let Some(token) = req.access_token {
        let expected = access_token_hash(token);
        let ok = claims
            .ath
            .as_deref()
            .is_some_and(|ath| bool::from(ath.as_bytes().ct_eq(expected.as_bytes())));
        if !ok {
            return Err(DpopError::AccessTokenHash);
        }
    }
    if let Some(nonce_key) = req.nonce {
        let fresh = claims
            .nonce
            .as_deref()
            .is_some_and(|n| nonce_key.is_fresh(n, req.now));
        if !fresh {
            return Err(DpopError::NonceRequired);
        }
    }
    let jkt = key.thumbprint().ok_or(DpopError::Key)?;
    Ok(VerifiedProof { jkt, jti, iat })
}

/// Check a DPoP proof without recording its `jti` and without a server nonce: for resource
/// servers that keep their own replay cache (record [`VerifiedProof::jti`] until
/// `iat + max_age`), and for tests. The engine's methods record the `jti` in the store.
pub fn check_proof(
    proof: &str,
    method: &str,
    uri: &str,
    access_token: Option<&str>,
    now: i64,
    rules: &DpopRules,
) -> Result<VerifiedProof, DpopError> {
    verify_proof(
        proof,
        &ProofRequest {
            method,
            uri,
            access_token,
            nonce: None,
            now,
        },
        rules,
    )
}

/// What a client puts in a proof (RFC 9449 §4.2).
#[derive(Clone, Copy, Debug)]
pub struct ProofClaims<'a> {
    /// The request's method (`POST` for the token endpoint).
    pub method: &'a str,
    /// The request's URI (without query and fragment).
    pub uri: &'a str,
    /// When the proof is made, Unix seconds.
    pub iat: i64,
    /// A unique id for this proof (for example 16 random bytes, base64url).
    pub jti: &'a str,
    /// The access token sent with the proof (resource requests): its hash becomes `ath`.
    pub access_token: Option<&'a str>,
    /// The server's latest `DPoP-Nonce`, if it asked for one.
    pub nonce: Option<&'a str>,
}

/// Make a DPoP proof (client side): a `dpop+jwt` JWS signed by `key` with its public JWK in
/// the header. `key` must be asymmetric; keep it for the life of the tokens it binds.
pub fn sign_proof(
    key: &crate::jose::SigningKey,
    claims: &ProofClaims<'_>,
) -> Result<String, crate::error::Error> {
    use crate::error::Error;
    let jwk = key
        .verifying_key()
        .to_jwk()
        .ok_or(Error::Config("a DPoP key must be asymmetric"))?;
    let header = serde_json::json!({"typ": "dpop+jwt", "alg": key.alg().name(), "jwk": jwk});
    let mut payload = serde_json::json!({
        "jti": claims.jti, "htm": claims.method, "htu": claims.uri, "iat": claims.iat,
    });
    if let (Some(token), Some(map)) = (claims.access_token, payload.as_object_mut()) {
        map.insert("ath".into(), access_token_hash(token).into());
    }
    if let (Some(nonce), Some(map)) = (claims.nonce, payload.as_object_mut()) {
        map.insert("nonce".into(), nonce.into());
    }
    let mut out = String::new();
    b64_encode_to(header.to_string().as_bytes(), &mut out);
    out.push('.');
    b64_encode_to(payload.to_string().as_bytes(), &mut out);
    let signature = key.sign(out.as_bytes())?;
    out.push('.');
    b64_encode_to(&signature, &mut out);
    Ok(out)
}

impl crate::verifier::Verifier {
    /// A resource request with a DPoP-capable `Authorization` header (RFC 9449 §7): the token
    /// is verified (sync, no I/O), then a DPoP-bound token needs the `DPoP` scheme and a proof
    /// by its key for `method` and `uri` with `ath`; a bound token sent as `Bearer`, or an
    /// unbound one as `DPoP`, is refused. Returns the claims and the proof: record its `jti`
    /// to refuse replays (`Engine::verify_resource_request` does that in the store).
    /// `dpop` is the request's single `DPoP` header: a request with more than one MUST be
    /// refused before this call (RFC 9449 §4.3; `HttpRequest::single_header` says which).
    ///
    /// The claims come with no application claims; [`Verifier::verify_dpop_as`] returns them
    /// as the application's type.
    ///
    /// [`Verifier::verify_dpop_as`]: crate::Verifier::verify_dpop_as
    pub fn verify_dpop(
        &self,
        authorization: &str,
        proof: Option<&str>,
        method: &str,
        uri: &str,
        rules: &DpopRules,
    ) -> Result<
        (
            crate::jose::AccessTokenClaims<'static>,
            Option<VerifiedProof>,
        ),
        crate::error::Error,
    > {
        self.verify_dpop_as::<crate::jose::NoCustomClaims>(authorization, proof, method, uri, rules)
    }

    /// [`Verifier::verify_dpop`] with the application's claims as `T` (for example a `role`
    /// claim), from the same single verification.
    ///
    /// [`Verifier::verify_dpop`]: crate::Verifier::verify_dpop
    pub fn verify_dpop_as<T: serde::de::DeserializeOwned>(
        &self,
        authorization: &str,
        proof: Option<&str>,
        method: &str,
        uri: &str,
        rules: &DpopRules,
    ) -> Result<
        (
            crate::jose::AccessTokenClaims<'static, T>,
            Option<VerifiedProof>,
        ),
        crate::error::Error,
    > {
        let (dpop_scheme, token) = split_authorization(authorization)?;
        let claims = self.verify_as::<T>(token)?;
        if !needs_proof(dpop_scheme, &claims)? {
            return Ok((claims, None));
        }
        let proof = proof.ok_or(DpopError::Missing)?;
        let verified = check_proof(proof, method, uri, Some(token), self.now(), rules)?;
        by_bound_key(&verified, &claims)?;
        Ok((claims, Some(verified)))
    }
}

/// A resource request's `Authorization` header: whether its scheme is `DPoP` (else
/// `Bearer`), and the token. Any other scheme, or no token, is a malformed token.
pub(crate) fn split_authorization(
    authorization: &str,
) -> Result<(bool, &str), crate::error::Error> {
    let malformed = crate::error::Error::InvalidToken(crate::error::TokenError::Malformed);
    let (scheme, token) = authorization.split_once(' ').ok_or(malformed)?;
    let dpop = if scheme.eq_ignore_ascii_case("dpop") {
        true
    } else if scheme.eq_ignore_ascii_case("bearer") {
        false
    } else {
        return Err(crate::error::Error::InvalidToken(
            crate::error::TokenError::Malformed,
        ));
    };
    Ok((dpop, token.trim()))
}

/// RFC 9449 §7.2: a DPoP-bound token (`cnf.jkt`) needs the `DPoP` scheme and a proof; an
/// unbound one needs `Bearer` and no proof; the other two combinations are refused.
pub(crate) fn needs_proof<T>(
    dpop_scheme: bool,
    claims: &crate::jose::AccessTokenClaims<'_, T>,
) -> Result<bool, crate::error::Error> {
    let bound = claims.cnf.as_ref().is_some_and(|c| c.jkt.is_some());
    if dpop_scheme == bound {
        Ok(bound)
    } else {
        Err(DpopError::SchemeMismatch.into())
    }
}

/// The proof must be by the key the token is bound to.
pub(crate) fn by_bound_key<T>(
    verified: &VerifiedProof,
    claims: &crate::jose::AccessTokenClaims<'_, T>,
) -> Result<(), crate::error::Error> {
    let bound = claims.cnf.as_ref().and_then(|c| c.jkt.as_deref());
    if bound == Some(verified.jkt()) {
        Ok(())
    } else {
        Err(DpopError::KeyMismatch.into())
    }
}

/// RFC 9449 §4.3 item 9 with RFC 3986 §6.2.2-6.2.3: scheme and host lower-cased, the default
/// port dropped, an empty path as `/`, percent-escapes upper-cased, query and fragment
/// ignored. `None` for what is not an absolute `http(s)` URI.
pub(crate) fn normalize_uri(uri: &str) -> Option<String> {
    let uri = uri.split(['?', '#']).next()?;
    let (scheme, rest) = uri.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "https" => ":443",
        "http" => ":80",
        _ => return None,
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let mut authority = authority.to_ascii_lowercase();
    if authority.ends_with(default_port) {
        authority.truncate(authority.len() - default_port.len());
    }
    let mut path_out = String::with_capacity(path.len());
    let mut chars = path.chars();
    while let Some(c) = chars.next() {
        path_out.push(c);
        if c == '%' {
            for _ in 0..2 {
                let h = chars.next()?;
                if !h.is_ascii_hexdigit() {
                    return None;
                }
                path_out.push(h.to_ascii_uppercase());
            }
        }
    }
    Some(format!("{scheme}://{authority}{path_out}"))
}

/// Stateless server nonces (RFC 9449 §8-9): an HMAC over a time step, so every instance
/// sharing the key accepts every other's nonces without shared state. A nonce is fresh in
/// the step it was made and the next.
pub struct NonceKey {
    key: hmac::Key,
    step: i64,
}

impl fmt::Debug for NonceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NonceKey([redacted])")
    }
}

impl NonceKey {
    /// Nonces under `key` (at least 32 bytes), changing every `step_secs` seconds.
    pub fn new(key: &[u8], step_secs: i64) -> Result<Self, crate::error::Error> {
        if key.len() < 32 || step_secs < 1 {
            return Err(crate::error::Error::Config(
                "DPoP nonce key: at least 32 bytes and a step of at least 1 s",
            ));
        }
        Ok(Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, key),
            step: step_secs,
        })
    }

    fn for_step(&self, step: i64) -> String {
        let tag = hmac::sign(&self.key, &step.to_be_bytes());
        let mut out = String::with_capacity(22);
        b64_encode_to(tag.as_ref().get(..16).unwrap_or_default(), &mut out);
        out
    }

    /// The nonce to hand out at `now` (in a `DPoP-Nonce` header).
    #[must_use]
    pub fn current(&self, now: i64) -> String {
        self.for_step(now.div_euclid(self.step))
    }

    /// Whether `nonce` was made in this step or the previous one.
    #[must_use]
    pub fn is_fresh(&self, nonce: &str, now: i64) -> bool {
        let step = now.div_euclid(self.step);
        [step, step.saturating_sub(1)]
            .iter()
            .any(|&s| bool::from(self.for_step(s).as_bytes().ct_eq(nonce.as_bytes())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn htu_normalization_follows_rfc_9449_4_3() {
        let same = [
            (
                "https://server.example.com/token",
                "https://server.example.com/token",
            ),
            (
                "HTTPS://Server.EXAMPLE.com/token",
                "https://server.example.com/token",
            ),
            (
                "https://server.example.com:443/token",
                "https://server.example.com/token",
            ),
            (
                "http://server.example.com:80/token",
                "http://server.example.com/token",
            ),
            (
                "https://server.example.com/token?x=1#f",
                "https://server.example.com/token",
            ),
            ("https://server.example.com", "https://server.example.com/"),
            ("https://s.example/a%2fb", "https://s.example/a%2Fb"),
        ];
        for (a, b) in same {
            assert_eq!(normalize_uri(a), normalize_uri(b), "{a} vs {b}");
            assert!(normalize_uri(a).is_some(), "{a}");
        }
        let different = [
            (
                "https://server.example.com/token",
                "https://server.example.com/Token",
            ),
            (
                "https://server.example.com/token",
                "http://server.example.com/token",
            ),
            (
                "https://server.example.com:8443/token",
                "https://server.example.com/token",
            ),
            (
                "https://server.example.com/token",
                "https://server.example.com/token/",
            ),
            (
                "https://server.example.com/token",
                "https://evil.example/token",
            ),
        ];
        for (a, b) in different {
            assert_ne!(normalize_uri(a), normalize_uri(b), "{a} vs {b}");
        }
        for bad in [
            "",
            "/token",
            "ftp://x/y",
            "https://",
            "https://u@h/p",
            "https://h/%zz",
        ] {
            assert_eq!(normalize_uri(bad), None, "{bad}");
        }
    }

    #[test]
    fn nonces_are_fresh_for_two_steps_and_shared_by_key() {
        let a = NonceKey::new(&[1; 32], 30).unwrap();
        let b = NonceKey::new(&[1; 32], 30).unwrap();
        let other = NonceKey::new(&[2; 32], 30).unwrap();
        let n = a.current(1_000);
        assert!(
            b.is_fresh(&n, 1_000),
            "another instance with the key accepts it"
        );
        assert!(b.is_fresh(&n, 1_000 + 30));
        assert!(!b.is_fresh(&n, 1_000 + 60));
        assert!(!other.is_fresh(&n, 1_000));
        assert!(NonceKey::new(&[1; 31], 30).is_err());
        assert_eq!(format!("{a:?}"), "NonceKey([redacted])");
    }
}
