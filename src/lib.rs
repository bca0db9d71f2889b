//! # token-engine
//!
//! An embeddable OAuth 2.0 token engine: JWT access tokens (RFC 9068) signed and verified on
//! `ring` (or `aws-lc-rs`, see below) with algorithm-bound keys, JWK/JWKS and key rotation by
//! `kid`; opaque refresh tokens rotated on every use, with reuse detection that revokes the
//! whole session, idle and absolute lifetimes and security-policy versions; storage behind
//! the [`TokenStore`] trait.
//! It does no HTTP and owns no database: your handlers call it, your database implements the
//! store (or use the embedded [`MemoryStore`]).
//!
//! ## Quick start
//!
//! ```
//! use token_engine::{Algorithm, Client, Engine, Error, IssueRequest, MemoryStore, RefreshRequest, RefreshSecret, SigningKey};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Error> {
//! let engine = Engine::builder()
//!     .issuer("https://auth.example.com")
//!     .audience("https://api.example.com")
//!     .signing_key(SigningKey::generate(Algorithm::EdDSA)?.0) // load yours from PEM
//!     .refresh_secret(RefreshSecret::from_bytes(&[7; 32])?) // and this from your secrets
//!     .build(MemoryStore::new())?;
//! let client = Client::new("web-app").allow_scopes(["profile"]);
//!
//! // After your login handler authenticated the user:
//! let tokens = engine.issue(&client, IssueRequest::new("user123456")).await?;
//! // A resource server verifies the access token: sync, no I/O.
//! let claims = engine.verifier().verify(&tokens.access_token)?;
//! assert_eq!(claims.sub.as_deref(), Some("user123456"));
//! // The client refreshes: the refresh token rotates on every use ...
//! let first = tokens.refresh_token.expect("issued with a refresh token");
//! let second = engine.refresh(&client, first.expose_secret(), RefreshRequest::default()).await?;
//! // ... an honest retry within `reuse_grace` (5 s) gets the very same successor ...
//! let retry = engine.refresh(&client, first.expose_secret(), RefreshRequest::default()).await?;
//! assert_eq!(retry.refresh_token, second.refresh_token);
//! let second = second.refresh_token.expect("rotated");
//! let _third = engine.refresh(&client, second.expose_secret(), RefreshRequest::default()).await?;
//! // ... and replaying a spent one revokes the whole session.
//! let replay = engine.refresh(&client, first.expose_secret(), RefreshRequest::default()).await;
//! assert!(matches!(replay, Err(Error::ReuseDetected)));
//! # Ok(()) }
//! ```
//!
//! A resource server that holds only the issuer's public keys follows the issuer's rotations
//! with a [`JwksSource`] (your HTTP client fetches; unknown `kid`s refetch once per cooldown,
//! single-flight), or loads a set once with [`Verifier::from_jwks_with`]. DPoP-bound tokens
//! are checked with [`Verifier::verify_dpop`] or [`Engine::verify_resource_request`]. The
//! README has the axum handlers, every grant, the defaults table and the measurements.
//!
//! An authorization server's endpoints are one call each over the whole HTTP request
//! ([`HttpRequest`] in, [`HttpResponse`] out): [`Engine::authorization_request`] and
//! [`Engine::authorization_response`] around your login page, [`Engine::token_endpoint`],
//! [`Engine::device_authorization_endpoint`], [`Engine::introspection_endpoint`],
//! [`Engine::revocation_endpoint`], [`Engine::userinfo_endpoint`],
//! [`Engine::metadata_endpoint`], [`Engine::jwks_endpoint`], and
//! [`Engine::resource_request`] for your API routes. Feature `http` converts from and to the
//! `http` crate's types.
//!
//! ## Where things are
//!
//! The crate root holds what an application names when it runs the engine: [`Engine`] and
//! [`EngineBuilder`]; [`Client`] and the grant requests; keys and secrets ([`SigningKey`],
//! [`KeySet`], [`RefreshSecret`]); verification ([`Verifier`], [`Validation`],
//! [`AccessTokenClaims`], [`JwksSource`]); the responses ([`TokenResponse`], [`ErrorResponse`]);
//! [`TokenStore`] and [`MemoryStore`]; [`Error`] and its reasons. Limits are constants of the
//! type they bound ([`IssueRequest::MAX_SUBJECT_LEN`], [`IntrospectionCache::MAX_AGE`], ...).
//! The modules hold the rest, each for the readers named here; what only a store implementer,
//! a fetcher implementer or one protocol's details name is there and not at the root:
//!
//! | module | who needs it | what it holds |
//! |---|---|---|
//! | [`http`] | (its types are re-exported at the root) | [`HttpRequest`], [`HttpResponse`], [`Endpoint`], the strict [`http::Form`] parser |
//! | [`grant`] | tests, migrations, transports that are not HTTP | the grants as calls: [`grant::AuthorizeRequest`], [`grant::TokenBinding`], [`grant::TokenExchangeRequest`], [`grant::ClientCredentials`], ... |
//! | [`jwks`] | resource servers feeding and tuning their key source | the fetch a [`JwksSource`] calls ([`jwks::JwksFetcher`], [`jwks::JwksResponse`], [`jwks::JwksFetchError`]), its [`jwks::JwksSourceBuilder`], what a refresh reports ([`jwks::JwksUpdate`], [`jwks::JwksFailure`], [`jwks::RefreshTrigger`]) |
//! | [`client_metadata`] | authorization servers accepting URL client ids | the fetch [`ClientMetadataDocuments`] calls ([`client_metadata::ClientMetadataFetcher`], [`client_metadata::ClientMetadataResponse`]) and its refusals ([`client_metadata::ClientMetadataError`]) |
//! | [`store`] | whoever keeps sessions in their own database | the storage traits, the records they persist, the conformance kit |
//! | [`event`] | logging and alerting | [`event::Event`] and the [`event::EventSink`] the engine reports to |
//! | [`response`] | (all re-exported at the root) | the token, error and introspection responses |
//! | [`pkce`] | OAuth clients, tests | [`pkce::CodeVerifier`] and [`pkce::CodeChallenge`]; [`pkce::PkceError`], the reason of [`Error::Pkce`] |
//! | [`dpop`] | DPoP clients; resource servers without an engine | [`dpop::sign_proof`], [`dpop::check_proof`]; [`dpop::DpopError`], the reason of [`Error::InvalidDpopProof`] |
//! | [`jose`] | code below the `Verifier` | compact JWS ([`jose::sign_compact`], [`jose::verify_compact`]), JWK documents, claim parts, validation bounds |
//! | [`opaque`] | code below the engine | the refresh-token format ([`opaque::PresentedToken`]) |
//! | [`reference`](mod@reference) | choosing a client's access-token format; sizing, scanning | reference (opaque) access tokens: [`AccessTokenFormat`], the format and its revocation bound |
//! | [`family`] | store implementers, tests, audits | the rotation state machine ([`family::decide`]) and the record it rotates |
//!
//! ## Threat model, in a few lines
//!
//! - **Algorithm confusion**: a key is bound to one [`Algorithm`] for life; the token's `alg`
//!   must equal it and never selects it; `none` does not exist; `kid` only picks among the
//!   keys you configured; keys embedded in or referenced by the header (`jwk`, `jku`, `x5u`,
//!   `x5c`) reject the token.
//! - **Malformed input**: every failure is a typed [`TokenError`], [`GrantError`] or
//!   [`KeyError`]; nothing panics; tokens are length-limited before any decoding; base64url
//!   is strict; duplicate JSON members reject.
//! - **Token misuse**: `typ: at+jwt` is required by default, so an ID token signed by the same
//!   key does not pass as an access token; issuer and audience are always checked.
//! - **Refresh-token theft**: a replayed (older) refresh token revokes its family; forged
//!   refresh tokens fail their MAC before any store access; the store holds only hashes.
//! - **Secret leakage**: secret types print `[redacted]`; buffers this crate owns that hold
//!   key bytes are zeroized (see [`SigningKey`] for what each backend keeps).
//! - **Not covered**: a stolen signing key or refresh secret; a stolen access token within its
//!   lifetime (keep it short, or use `verify_with_revocation`); a stolen refresh token used
//!   before the rightful client ever uses it again.
//!
//! ## Cryptography backends
//!
//! `ring` by default. The `aws-lc-rs` feature switches every primitive to `aws-lc-rs` (and
//! takes precedence when both are enabled): verification keys are parsed once at import, and
//! it adds `ES512` (P-521) and RSA key generation (`SigningKey::generate_rsa`); `fips`
//! selects its FIPS 140-3 mode. [`crypto_backend`] says which one a build uses. Public types
//! and errors are the same on both; the README's "Backends" section says which to pick.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod cache;
mod challenge;
mod client;
mod client_auth;
pub mod client_metadata;
mod clock;
mod crypto;
pub mod dpop;
mod engine;
mod error;
pub mod event;
pub mod family;
mod form;
pub mod http;
mod introspection_cache;
pub mod jose;
pub mod jwks;
mod keyset;
pub mod opaque;
pub mod pkce;
mod policy;
mod protected_resource;
pub mod reference;
mod resource_indicator;
pub mod response;
pub mod store;
mod verifier;
mod wipe;

// The engine, its configuration and the session it manages.
pub use clock::{Clock, ManualClock, SystemClock};
pub use engine::{Engine, EngineBuilder, RevocationOutcome, Session};
#[doc(inline)]
pub use family::RevocationReason;
#[doc(inline)]
pub use opaque::{FamilyId, RefreshKeys, RefreshSecret, RefreshToken};
pub use policy::{ParsePolicyVersionError, PolicyVersion};
#[doc(inline)]
pub use reference::AccessTokenFormat;

// Clients, what they ask for, and how they authenticate.
pub use client::{
    Client, ClientAuthMethod, ClientSecretHash, GrantType, IssueRequest, RefreshRequest,
};
pub use client_auth::{ClientRegistry, ClientSecret, ClientSecretHasher};
#[doc(inline)]
pub use client_metadata::ClientMetadataDocuments;

// The endpoints: the whole HTTP request in, the whole response out.
pub use engine::{
    Approval, AuthorizationDecision, AuthorizationRequest, NoPasswordGrant, PasswordVerifier,
    RegisteredClients, RegistrationPolicy, UserInfoSource,
};
#[doc(inline)]
pub use http::{Endpoint, HttpRequest, HttpResponse};
// A resource server's refusals with their challenges, for servers without an engine.
pub use challenge::{Challenges, Credentials, Requirements};
pub use protected_resource::ProtectedResource;
// The device verification page's guessing limit.
pub use engine::{MemoryLimiter, UserCodeLimiter};
#[doc(inline)]
pub use response::{ErrorResponse, IntrospectionResponse, TokenResponse, TokenType};

// Signing keys and verifying access tokens, on the issuer and on resource servers.
pub use introspection_cache::IntrospectionCache;
#[doc(inline)]
pub use jose::{
    AccessTokenClaims, Algorithm, Audience, JwksOptions, JwtRules, KeyDocument, SigningKey,
    TypeCheck, Validation, VerifyingKey,
};
#[doc(inline)]
pub use jwks::JwksSource;
pub use keyset::KeySet;
pub use verifier::Verifier;
// Which cryptography library this build uses (see "Cryptography backends" above).
pub use crypto::backend as crypto_backend;

// DPoP, as the engine checks it (the proof building blocks are in `dpop`).
#[doc(inline)]
pub use dpop::{DpopRules, NonceKey, VerifiedProof};

// OpenID Connect ID tokens, for relying parties.
pub use engine::{IdTokenClaims, IdTokenExpectations, verify_id_token};

// Storage: the trait every engine needs and the embedded implementation (the capability
// groups and the record types are in `store`).
#[doc(inline)]
pub use store::{MemoryStore, TokenStore};

// Errors and their reasons (those of one protocol are in its module: `pkce::PkceError`,
// `dpop::DpopError`, `jwks::JwksFetchError`, `client_metadata::ClientMetadataError`).
pub use error::{Claim, Error, GrantError, IssueLimit, KeyError, TokenError};

/// Pins the root's trim (issue 21): the moved items resolve at their new paths, each with its
/// value, and none at its old root path (no duplicates). Doc tests only, not in the docs.
///
/// ```
/// use token_engine::client_metadata::{
///     ClientMetadataError, ClientMetadataFetcher, ClientMetadataResponse,
/// };
/// use token_engine::dpop::DpopError;
/// use token_engine::jwks::{JwksFetchError, JwksFetcher, JwksResponse, JwksSourceBuilder};
/// use token_engine::pkce::PkceError;
/// use token_engine::{IntrospectionCache, IssueRequest, ProtectedResource, RegisteredClients};
///
/// assert_eq!(IssueRequest::MAX_SUBJECT_LEN, 1024);
/// assert_eq!(IssueRequest::MAX_CLAIMS_LEN, 4096);
/// assert_eq!(RegisteredClients::MAX_REGISTRATION_LEN, 16 * 1024);
/// assert_eq!(RegisteredClients::CLIENT_ID_PREFIX, "dyn_");
/// assert_eq!(IntrospectionCache::MAX_AGE, time::Duration::hours(1));
/// assert_eq!(IntrospectionCache::MAX_CAPACITY, 1 << 20);
/// assert_eq!(ProtectedResource::WELL_KNOWN, "/.well-known/oauth-protected-resource");
/// fn named<T: ?Sized>() {}
/// named::<ClientMetadataError>();
/// named::<ClientMetadataResponse>();
/// named::<JwksFetchError>();
/// named::<JwksResponse>();
/// named::<JwksSourceBuilder<()>>();
/// named::<DpopError>();
/// named::<PkceError>();
/// fn fetchers<J: JwksFetcher, C: ClientMetadataFetcher>() {}
/// ```
///
/// ```compile_fail
/// use token_engine::MAX_SUBJECT_LEN;
/// ```
///
/// ```compile_fail
/// use token_engine::MAX_CLAIMS_LEN;
/// ```
///
/// ```compile_fail
/// use token_engine::MAX_REGISTRATION_LEN;
/// ```
///
/// ```compile_fail
/// use token_engine::REGISTERED_CLIENT_PREFIX;
/// ```
///
/// ```compile_fail
/// use token_engine::MAX_INTROSPECTION_CACHE_AGE;
/// ```
///
/// ```compile_fail
/// use token_engine::MAX_INTROSPECTION_CACHE_CAPACITY;
/// ```
///
/// ```compile_fail
/// use token_engine::PROTECTED_RESOURCE_WELL_KNOWN;
/// ```
///
/// ```compile_fail
/// use token_engine::ClientMetadataError;
/// ```
///
/// ```compile_fail
/// use token_engine::ClientMetadataFetcher;
/// ```
///
/// ```compile_fail
/// use token_engine::ClientMetadataResponse;
/// ```
///
/// ```compile_fail
/// use token_engine::JwksFetchError;
/// ```
///
/// ```compile_fail
/// use token_engine::JwksFetcher;
/// ```
///
/// ```compile_fail
/// use token_engine::JwksResponse;
/// ```
///
/// ```compile_fail
/// use token_engine::JwksSourceBuilder;
/// ```
///
/// ```compile_fail
/// use token_engine::DpopError;
/// ```
///
/// ```compile_fail
/// use token_engine::PkceError;
/// ```
#[cfg(doctest)]
pub struct RootTrim;

/// An [`AuthorizationRequest`] is made only by [`Engine::authorization_request`], which
/// validated its redirect URI: an unvalidated one cannot be expressed. The application reads
/// one it was given:
///
/// ```
/// use token_engine::AuthorizationRequest;
/// fn shown(request: &AuthorizationRequest) -> (&str, &str) {
///     (request.client().id(), request.redirect_uri())
/// }
/// ```
///
/// but cannot build one: not with a struct literal (its fields are private),
///
/// ```compile_fail,E0451
/// use token_engine::AuthorizationRequest;
/// fn forged(valid: AuthorizationRequest) -> AuthorizationRequest {
///     AuthorizationRequest {
///         redirect_uri: "https://evil.example/cb".to_owned(),
///         ..valid
///     }
/// }
/// ```
///
/// nor with a constructor,
///
/// ```compile_fail,E0599
/// let _ = token_engine::AuthorizationRequest::new("web", "https://evil.example/cb");
/// ```
///
/// nor from `Default` or by deserializing one. (Stable rustdoc checks only that each of these
/// fails to compile; nightly also checks the error code, so each fails for its reason.)
///
/// ```compile_fail,E0277
/// let _ = <token_engine::AuthorizationRequest as Default>::default();
/// ```
///
/// ```compile_fail,E0277
/// let _: token_engine::AuthorizationRequest =
///     serde_json::from_str(r#"{"redirect_uri":"https://evil.example/cb"}"#).unwrap();
/// ```
#[cfg(doctest)]
pub struct AuthorizationRequestOnlyFromValidation;

pub mod grant {
    //! The grants as calls, for applications that drive them without the endpoint calls (a
    //! test, a migration, a transport that is not HTTP): the requests and results of
    //! [`Engine::authorize`](crate::Engine::authorize),
    //! [`Engine::exchange_code`](crate::Engine::exchange_code), the device flow, token
    //! exchange and client authentication, and [`TokenBinding`] for the grants that bind
    //! their tokens. An authorization server on the endpoint calls
    //! ([`Engine::token_endpoint`](crate::Engine::token_endpoint) and the others) names none
    //! of this.
    pub use crate::client_auth::{ClientCredentials, JWT_BEARER_ASSERTION};
    pub use crate::engine::{
        ACCESS_TOKEN_TYPE, AUTHORIZATION_CODE_PREFIX, AuthorizationCode, AuthorizeRequest,
        DEVICE_CODE_PREFIX, DeviceAuthorization, DeviceRequest, PUSHED_INTERACTION_TTL,
        REQUEST_URI_PREFIX, TokenBinding, TokenExchangeRequest, normalize_user_code,
    };
}

/// Hooks for this crate's benches and fuzz targets. Not part of the API: no stability, no
/// semver, hidden from the docs.
#[doc(hidden)]
pub mod __private {
    use crate::engine::{RefreshFailure, Refreshed};
    use crate::error::Error;
    use crate::family::{DecideConfig, FamilyRecord, FamilySpec};
    use crate::opaque::{FamilyId, RefreshKeys, RefreshToken};
    use crate::policy::PolicyVersion;
    use crate::store::TokenStore;

    /// Sign an access token's JSON payload as the engine does once it has written the claims:
    /// the signing key's `at+jwt` header, base64url, the signature, base64url.
    pub fn sign_access_token_json(keys: &crate::KeySet, json: &[u8]) -> Result<String, Error> {
        keys.sign_access_token_json(json)
    }

    /// Write an access token's payload as the engine does before signing it: `claims` (the
    /// registered ones; `jti` and `sid`, where the claims have none, from 16 bytes each) and
    /// the application's `app` claims (a JSON object) spliced in.
    pub fn access_claims_json(
        claims: &crate::AccessTokenClaims<'_>,
        jti: Option<&[u8; 16]>,
        sid: Option<&[u8; 16]>,
        app: Option<&str>,
    ) -> Result<Vec<u8>, Error> {
        crate::engine::access_claims_json(claims, crate::jose::RawIds { jti, sid }, None, app)
    }

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

    /// A reference access token's parts, as [`parse_reference`] reads them.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct ReferenceParts {
        /// The refresh-secret id whose access key MACs it.
        pub key_id: u8,
        /// The session.
        pub family: FamilyId,
        /// The token id.
        pub id: [u8; 16],
        /// Issued at.
        pub iat: i64,
        /// Expiry.
        pub exp: i64,
        /// The scope mask.
        pub scope_mask: u64,
        /// The resource mask.
        pub resource_mask: u64,
        /// DPoP key thumbprint.
        pub jkt: Option<[u8; 32]>,
        /// Certificate thumbprint.
        pub x5t: Option<[u8; 32]>,
    }

    /// Parse and MAC-check a reference access token.
    pub fn parse_reference(keys: &RefreshKeys, token: &str) -> Option<ReferenceParts> {
        crate::reference::parse(keys, token).map(|r| ReferenceParts {
            key_id: r.key_id,
            family: r.family,
            id: r.id,
            iat: r.iat,
            exp: r.exp,
            scope_mask: r.scope_mask,
            resource_mask: r.resource_mask,
            jkt: r.jkt,
            x5t: r.x5t,
        })
    }

    /// Mint the reference access token of `parts` under its key id.
    pub fn mint_reference(keys: &RefreshKeys, parts: &ReferenceParts) -> Result<String, Error> {
        let jkt = parts.jkt.as_ref().map(crate::reference::thumbprint_text);
        let x5t = parts.x5t.as_ref().map(crate::reference::thumbprint_text);
        let p = crate::reference::ReferenceParts {
            family: parts.family,
            iat: parts.iat,
            exp: parts.exp,
            family_scope: "",
            scope: "",
            jkt: jkt.as_deref(),
            x5t: x5t.as_deref(),
            family_resources: None,
            resources: &[],
            mask: Some((parts.scope_mask, parts.resource_mask)),
        };
        crate::reference::mint_with_id(keys, parts.key_id, parts.id, &p)
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
            cert_thumbprint: None,
            claims: None,
            resources: None,
            acr: None,
            auth_time: now,
            policy: PolicyVersion::new(1, 0),
            absolute_ttl_secs: 30 * 86_400,
        };
        crate::family::new_family(keys, &spec, now).map(|f| (f.record, f.token))
    }

    /// The refresh loop (load → decide → compare-and-swap) without the access token, at a
    /// fixed time and policy 1.0: the successor on a rotation or grace retry, the error
    /// otherwise.
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
            holder: Default::default(),
        };
        let clock = crate::ManualClock::new(now);
        match crate::engine::refresh_loop(
            store,
            &clock,
            &cfg.policy,
            &presented,
            &cfg,
            |_| Ok(()),
            |r| r.map_record(|_| ()),
        )
        .await
        {
            Ok(Refreshed::Rotated { token, .. } | Refreshed::GraceRetry { token, .. }) => Ok(token),
            Err(RefreshFailure::Rejected(e, _)) => Err(Error::InvalidGrant(e)),
            Err(RefreshFailure::Revoked { .. }) => Err(Error::ReuseDetected),
            Err(RefreshFailure::Request(e) | RefreshFailure::Store(e)) => Err(e),
        }
    }
}

#[cfg(test)]
mod layering {
    /// The state machine, the token format, policy and the JOSE modules import no storage:
    /// the engine is the only layer that drives the store.
    #[test]
    fn pure_layers_import_no_storage() {
        let pure = [
            ("family.rs", include_str!("family.rs")),
            ("family/tests.rs", include_str!("family/tests.rs")),
            ("dpop.rs", include_str!("dpop.rs")),
            ("opaque.rs", include_str!("opaque.rs")),
            ("policy.rs", include_str!("policy.rs")),
            ("verifier.rs", include_str!("verifier.rs")),
            ("keyset.rs", include_str!("keyset.rs")),
            ("cache.rs", include_str!("cache.rs")),
            ("jose/mod.rs", include_str!("jose/mod.rs")),
            ("jose/jws.rs", include_str!("jose/jws.rs")),
            ("jose/key.rs", include_str!("jose/key.rs")),
            ("jose/jwk.rs", include_str!("jose/jwk.rs")),
            ("jose/claims.rs", include_str!("jose/claims.rs")),
            ("jose/validation.rs", include_str!("jose/validation.rs")),
        ];
        for (file, text) in pure {
            for needle in [
                "crate::store",
                "TokenStore",
                "crate::engine",
                "super::store",
            ] {
                assert!(!text.contains(needle), "{file} mentions {needle}");
            }
        }
    }
}
