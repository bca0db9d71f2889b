//! # token-engine
//!
//! An embeddable OAuth 2.0 token engine: it signs and verifies JWT access tokens (RFC 9068)
//! on [`ring`], with algorithm-bound keys, JWK/JWKS import and export, and key rotation by
//! `kid`. It does no HTTP and owns no database.
//!
//! ## Quick start
//!
//! ```
//! use token_engine::{AccessTokenClaims, Algorithm, KeySet, SigningKey, Validation};
//!
//! # fn main() -> Result<(), token_engine::Error> {
//! // The authorization server: one signing key (generated here; load yours from PEM).
//! let (key, _pkcs8) = SigningKey::generate(Algorithm::EdDSA)?;
//! let keys = KeySet::new(key.with_kid("2026-11"));
//!
//! let now = time::OffsetDateTime::now_utc().unix_timestamp();
//! let mut claims: AccessTokenClaims = AccessTokenClaims::default();
//! claims.iss = Some("https://auth.example.com".into());
//! claims.sub = Some("user123456".into());
//! claims.aud = Some("https://api.example.com".into());
//! claims.client_id = Some("client_app_123".into());
//! claims.jti = Some("abcd1234".into());
//! claims.iat = Some(now);
//! claims.exp = Some(now + 900);
//! let token = keys.sign_access_token(&claims)?;
//!
//! // The resource server: verify. Sync, no I/O.
//! let verifier = keys.verifier(Validation::new("https://auth.example.com", "https://api.example.com"))?;
//! let verified = verifier.verify(&token)?;
//! assert_eq!(verified.sub.as_deref(), Some("user123456"));
//! # Ok(()) }
//! ```
//!
//! A resource server that holds only the issuer's public keys builds
//! [`Verifier::from_jwks`] and refreshes it with [`Verifier::replace_jwks`].
//!
//! ## Threat model, in a few lines
//!
//! - **Algorithm confusion**: a key is bound to one [`Algorithm`] for life; the token's `alg`
//!   must equal it and never selects it; `none` does not exist; `kid` only picks among the
//!   keys you configured; keys embedded in or referenced by the header (`jwk`, `jku`, `x5u`,
//!   `x5c`) reject the token.
//! - **Malformed input**: every failure is a typed [`TokenError`]; nothing panics; tokens are
//!   length-limited before any decoding; base64url is strict; duplicate JSON members reject.
//! - **Token misuse**: `typ: at+jwt` is required by default, so an ID token signed by the same
//!   key does not pass as an access token; issuer and audience are always checked.
//! - **Secret leakage**: secret types print `[redacted]`; buffers this crate owns that hold
//!   key bytes are zeroized (see [`SigningKey`] for what `ring` keeps).
//! - **Not covered**: a stolen signing key, or a stolen bearer token within its lifetime
//!   (keep access tokens short-lived).
//!
//! `ES512` is not supported: `ring` has no P-521, and this crate does not add a second
//! cryptography library for it. RSA keys cannot be generated here (`ring` does not); load
//! them from PEM.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod cache;
mod client;
mod clock;
mod engine;
mod error;
pub mod event;
mod family;
mod jose;
mod keyset;
mod opaque;
mod policy;
pub mod response;
pub mod store;
mod verifier;

pub use client::{Client, IssueRequest, RefreshRequest};
pub use clock::{Clock, ManualClock, SystemClock};
pub use engine::{Engine, EngineBuilder, RevocationOutcome, Session};
pub use error::{Claim, Error, GrantError, KeyError, TokenError};
pub use family::{
    DecideConfig, Decision, FamilyRecord, FamilyState, RevocationReason, SecretHash, decide,
};
pub use jose::{
    AccessTokenClaims, Algorithm, Audience, Confirmation, DEFAULT_LEEWAY, DEFAULT_MAX_TOKEN_LEN,
    Jwk, JwkSet, Jwks, JwksOptions, KeyDocument, MAX_LEEWAY, MAX_TOKEN_LEN_LIMIT, NoCustomClaims,
    SigningKey, SkippedKey, TypeCheck, Validation, VerifyingKey, sign_compact, verify_compact,
};
pub use keyset::KeySet;
pub use opaque::{
    FamilyId, PresentedToken, REFRESH_TOKEN_LEN, REFRESH_TOKEN_PREFIX, RefreshKeys, RefreshSecret,
    RefreshToken,
};
pub use policy::{ParsePolicyVersionError, PolicyRegistry, PolicyVersion};
pub use response::{ErrorResponse, IntrospectionResponse, TokenResponse, TokenType};
pub use store::{MemoryStore, TokenStore};
pub use verifier::Verifier;

/// The README's examples, compiled and run as doc tests so the README stays true.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// Hooks for this crate's benches and fuzz targets. Not part of the API: no stability, no
/// semver, hidden from the docs.
#[doc(hidden)]
pub mod __private {
    use crate::FamilyRecord;
    use crate::error::Error;
    use crate::family::{DecideConfig, FamilySpec, RefreshFailure, Refreshed};
    use crate::opaque::{FamilyId, RefreshKeys, RefreshToken};
    use crate::policy::PolicyVersion;
    use crate::store::TokenStore;

    /// Parse a decoded JWT payload into claims in one pass and validate them at `now`
    /// against fixed rules (issuer `https://as`, audience `https://api`, RFC 9068 required
    /// claims, 30 s leeway).
    pub fn validate_claims(
        json: &[u8],
        now: i64,
    ) -> Result<crate::AccessTokenClaims<'_, serde_json::Value>, Error> {
        let claims = crate::jose::parse_claims::<serde_json::Value>(json)?;
        crate::Validation::new("https://as", "https://api").check_claims(&claims, now)?;
        Ok(claims)
    }

    /// Mint a token under the current key.
    pub fn mint(
        keys: &RefreshKeys,
        family: FamilyId,
        generation: u32,
        secret: &[u8; 32],
    ) -> Result<RefreshToken, Error> {
        keys.mint(keys.current_id(), family, generation, secret)
    }

    /// A generation-0 family for `subject` on `client_id`, 30 days absolute, policy 1.0.
    pub fn new_family(
        keys: &RefreshKeys,
        subject: &str,
        client_id: &str,
        now: i64,
    ) -> Result<(FamilyRecord, RefreshToken), Error> {
        let spec = FamilySpec {
            subject,
            client_id,
            scope: "read",
            tenant: None,
            device_id: None,
            dpop_jkt: None,
            claims: None,
            auth_time: now,
            policy: PolicyVersion::new(1, 0),
            absolute_ttl_secs: 30 * 86_400,
        };
        crate::family::new_family(keys, &spec, now).map(|f| (f.record, f.token))
    }

    /// The refresh loop (load → decide → compare-and-swap) without the access token: the
    /// successor on a rotation or grace retry, the error otherwise.
    pub async fn refresh_family<S: TokenStore>(
        store: &S,
        keys: &RefreshKeys,
        token: &str,
        client_id: &str,
        now: i64,
        reuse_grace_secs: i64,
    ) -> Result<RefreshToken, Error> {
        let presented = keys.parse(token)?;
        let cfg = DecideConfig {
            keys,
            client_id,
            policy: PolicyVersion::new(1, 0),
            reuse_grace_secs,
            idle_ttl_secs: 7 * 86_400,
        };
        match crate::family::refresh_family(
            store,
            &presented,
            now,
            &cfg,
            |_| cfg.policy,
            |_| Ok(()),
        )
        .await
        {
            Ok(Refreshed::Rotated { token, .. } | Refreshed::GraceRetry { token, .. }) => Ok(token),
            Err(RefreshFailure::Rejected(e, _)) => Err(Error::InvalidGrant(e)),
            Err(RefreshFailure::Revoked(_)) => Err(Error::ReuseDetected),
            Err(RefreshFailure::Request(e) | RefreshFailure::Store(e)) => Err(e),
        }
    }
}
