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
