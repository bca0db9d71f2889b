//! OpenID Connect ID tokens (Core §2, §3.1.3.6): issued with the authorization-code grant's
//! tokens when `openid` is granted, and checked on the client side by [`verify_id_token`].
//!
//! ID tokens are signed with the engine's key under `typ: JWT`, so an access-token verifier
//! (which requires `at+jwt`) refuses them, and [`verify_id_token`] refuses `at+jwt` tokens: an
//! ID token never passes as an access token, nor the reverse.

use serde::{Deserialize, Serialize};

use super::Engine;
use crate::client::Client;
use crate::error::{Error, TokenError};
use crate::jose::{
    Algorithm, VerifyingKey, b64_decode_vec, b64_encode_to, media_type_matches, sign_compact,
    verify_compact,
};

/// The claims of an ID token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdTokenClaims {
    /// Issuer.
    pub iss: String,
    /// The user.
    pub sub: String,
    /// The client it is for (this crate writes a single string).
    pub aud: serde_json::Value,
    /// Expiry.
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// When the user authenticated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    /// The authentication context class the user authenticated with (Core §2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    /// The authorization request's `nonce`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// Left half of the hash of the access token issued with it, base64url.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at_hash: Option<String>,
    /// Authorized party: the client.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub azp: Option<String>,
}

/// What the client expects of an ID token.
#[derive(Clone, Copy, Debug)]
pub struct IdTokenExpectations<'a> {
    /// The issuer.
    pub issuer: &'a str,
    /// This client's id.
    pub client_id: &'a str,
    /// The nonce sent in the authorization request, if one was.
    pub nonce: Option<&'a str>,
    /// The access token received with the ID token, to check `at_hash` against.
    pub access_token: Option<&'a str>,
    /// Now, Unix seconds.
    pub now: i64,
    /// Clock-skew allowance, seconds.
    pub leeway: i64,
}

/// `at_hash` (Core §3.1.3.6): the left half of the access token's hash, with the hash of the
/// ID token's algorithm (SHA-512 for EdDSA/Ed25519).
fn at_hash(alg: Algorithm, access_token: &str) -> String {
    use crate::crypto::digest;
    let hash = match alg {
        #[cfg(any(feature = "aws-lc-rs", feature = "fips"))]
        Algorithm::ES512 => &digest::SHA512,
        Algorithm::HS384 | Algorithm::RS384 | Algorithm::PS384 | Algorithm::ES384 => {
            &digest::SHA384
        }
        Algorithm::HS512
        | Algorithm::RS512
        | Algorithm::PS512
        | Algorithm::EdDSA
        | Algorithm::Ed25519 => &digest::SHA512,
        // Exhaustive on purpose: a new algorithm must pick its hash here.
        Algorithm::HS256 | Algorithm::RS256 | Algorithm::PS256 | Algorithm::ES256 => {
            &digest::SHA256
        }
    };
    let d = digest::digest(hash, access_token.as_bytes());
    let half = d.as_ref().get(..d.as_ref().len() / 2).unwrap_or_default();
    let mut out = String::new();
    b64_encode_to(half, &mut out);
    out
}

impl<S: crate::store::TokenStore> Engine<S> {
    /// An ID token for `subject` on `client`, bound to `access_token` (`at_hash`).
    pub(crate) fn id_token(
        &self,
        client: &Client,
        subject: &str,
        nonce: Option<&str>,
        auth_time: i64,
        acr: Option<&str>,
        access_token: &str,
    ) -> Result<String, Error> {
        let (now, ttl) = (self.now(), self.ttl_for(client)?);
        let key = self.inner.keys.signing_key();
        let claims = IdTokenClaims {
            iss: self.inner.issuer.clone(),
            sub: subject.to_owned(),
            aud: client.id().into(),
            exp: now.saturating_add(ttl),
            iat: now,
            auth_time: Some(auth_time),
            acr: acr.map(str::to_owned),
            nonce: nonce.map(str::to_owned),
            at_hash: Some(at_hash(key.alg(), access_token)),
            azp: Some(client.id().to_owned()),
        };
        let json = serde_json::to_vec(&claims).map_err(|e| Error::Serialize(e.to_string()))?;
        sign_compact(&key, Some("JWT"), &json)
    }
}

/// Verify an ID token on the client side (OpenID Connect Core §3.1.3.7): signature by one of
/// `keys` (the provider's JWKS), not an access token (`typ` `at+jwt` is refused), `iss`, `aud`
/// containing the client (and `azp` naming it when there are several audiences), unexpired,
/// the `nonce` if one was sent, and `at_hash` if the access token is given.
pub fn verify_id_token(
    token: &str,
    keys: &[VerifyingKey],
    expect: &IdTokenExpectations<'_>,
) -> Result<IdTokenClaims, Error> {
    const MAX_LEN: usize = 16 * 1024;
    if token.len() > MAX_LEN {
        return Err(TokenError::TooLong.into());
    }
    let header = token.split('.').next().unwrap_or_default();
    let mut raw = Vec::new();
    b64_decode_vec(header.as_bytes(), &mut raw).map_err(Error::InvalidToken)?;
    #[derive(Deserialize)]
    struct Header {
        typ: Option<String>,
        alg: String,
    }
    let header: Header = serde_json::from_slice(&raw).map_err(|_| TokenError::Header)?;
    if header
        .typ
        .as_deref()
        .is_some_and(|typ| media_type_matches(typ.as_bytes(), b"at+jwt"))
    {
        return Err(TokenError::WrongType.into());
    }
    let payload = verify_compact(token, keys, MAX_LEN)?;
    let claims: IdTokenClaims = serde_json::from_slice(&payload).map_err(|_| TokenError::Claims)?;
    let aud_ok = match &claims.aud {
        serde_json::Value::String(a) => a == expect.client_id,
        serde_json::Value::Array(v) => {
            v.iter().any(|a| a.as_str() == Some(expect.client_id))
                && (v.len() == 1 || claims.azp.as_deref() == Some(expect.client_id))
        }
        _ => false,
    };
    if claims.iss != expect.issuer {
        return Err(TokenError::Issuer.into());
    }
    if !aud_ok {
        return Err(TokenError::Audience.into());
    }
    if expect.now >= claims.exp.saturating_add(expect.leeway) {
        return Err(TokenError::Expired.into());
    }
    if claims.iat > expect.now.saturating_add(expect.leeway) {
        return Err(TokenError::IssuedInFuture.into());
    }
    if let Some(nonce) = expect.nonce
        && claims.nonce.as_deref() != Some(nonce)
    {
        return Err(TokenError::Claims.into());
    }
    if let Some(access) = expect.access_token {
        let alg = Algorithm::from_name(&header.alg).ok_or(TokenError::Header)?;
        if claims.at_hash.as_deref() != Some(at_hash(alg, access).as_str()) {
            return Err(TokenError::Claims.into());
        }
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// OpenID Connect Core §3.1.3.6: the hash of the ID token's `alg`, left half, base64url.
    #[test]
    fn at_hash_uses_the_hash_of_the_algorithm() {
        let token = "an access token";
        let half = |alg: &'static crate::crypto::digest::Algorithm| {
            let d = crate::crypto::digest::digest(alg, token.as_bytes());
            let mut out = String::new();
            b64_encode_to(&d.as_ref()[..d.as_ref().len() / 2], &mut out);
            out
        };
        use crate::crypto::digest::{SHA256, SHA384, SHA512};
        for &alg in Algorithm::available() {
            let bits = alg
                .name()
                .trim_start_matches(|c: char| c.is_ascii_alphabetic());
            let expected = match bits {
                "256" => half(&SHA256),
                "384" => half(&SHA384),
                // ES512, HS512, RS512, PS512; EdDSA and Ed25519 (no digits) hash with SHA-512.
                _ => half(&SHA512),
            };
            assert_eq!(at_hash(alg, token), expected, "{alg}");
        }
    }
}
