//! The crate's one error type, its reason enums and the OAuth error codes they map to.

use core::fmt;

/// Everything that can go wrong in `token-engine`.
///
/// Each variant maps to one OAuth error code ([`Error::oauth_code`]). The `Display` text is
/// meant for logs; what goes on the wire is the coarse code and a generic description: one
/// call, [`HttpResponse::from_error`](crate::HttpResponse::from_error), gives the whole HTTP
/// answer (status, `Cache-Control: no-store`, `WWW-Authenticate` for `invalid_client`, the
/// JSON body of [`ErrorResponse`](crate::ErrorResponse)). The endpoint calls answer with it
/// already; resource-server refusals come with their challenges from
/// [`Engine::resource_request`](crate::Engine::resource_request). Token-verification failures
/// carry a [`TokenError`] reason so tests, metrics and audit events can tell them apart
/// without string matching.
///
/// The reason enums [`TokenError`], [`KeyError`], [`GrantError`] and [`IssueLimit`] are at the
/// crate root; the four that belong to one protocol live in its module:
/// [`pkce::PkceError`](crate::pkce::PkceError) ([`Error::Pkce`]),
/// [`dpop::DpopError`](crate::dpop::DpopError) ([`Error::InvalidDpopProof`]),
/// [`jwks::JwksFetchError`](crate::jwks::JwksFetchError) ([`Error::JwksFetch`]) and
/// [`client_metadata::ClientMetadataError`](crate::client_metadata::ClientMetadataError)
/// ([`Error::ClientMetadata`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A token failed verification; the reason says which check rejected it.
    #[error("invalid token: {0}")]
    InvalidToken(TokenError),
    /// A key (PEM, DER, JWK, raw bytes or a JWKS) was rejected at import.
    #[error("key rejected: {0}")]
    Key(KeyError),
    /// A JWK Set holds no key this crate can use; each of its keys with the reason it was
    /// skipped (empty for a set with no keys). The current keys, if any, stay.
    #[error("no usable key in the JWK Set{}", skipped_list(.0))]
    NoUsableKey(Vec<crate::jose::SkippedKey>),
    /// A [`JwksSource`](crate::JwksSource) could not fetch the issuer's JWK Set: the
    /// application's fetch failed or timed out. The current keys stay; the request may be
    /// retried.
    #[error("JWK Set fetch failed: {0}")]
    JwksFetch(crate::jwks::JwksFetchError),
    /// A configuration value is out of range or missing; the text says which.
    #[error("invalid configuration: {0}")]
    Config(&'static str),
    /// The platform's random number generator or a signing operation failed.
    #[error("cryptographic operation failed: {0}")]
    Crypto(&'static str),
    /// Claims could not be serialized for signing.
    #[error("claims could not be serialized: {0}")]
    Serialize(String),
    /// A refresh token (or other grant) was rejected; the reason says why. Nothing was
    /// written, except where the reason says the family was revoked.
    #[error("invalid grant: {0}")]
    InvalidGrant(GrantError),
    /// A refresh token of an older generation was replayed outside the grace window: the
    /// whole family has been revoked. Distinct from [`Error::InvalidGrant`] so callers and
    /// alerting can tell theft from a stale token.
    #[error("refresh token reuse detected: family revoked")]
    ReuseDetected,
    /// The session's security-policy major version is older than the current one: the family
    /// has been revoked and the user must sign in again.
    #[error("re-authentication required by a security-policy change")]
    ReauthenticationRequired,
    /// The requested scope is unknown, not allowed for the client, or wider than the grant.
    #[error("invalid scope")]
    InvalidScope,
    /// The request is malformed; the text says how (for logs, not for the wire).
    #[error("invalid request: {0}")]
    InvalidRequest(&'static str),
    /// The client may not do this (for example revoke another client's token, or use a grant
    /// type it is not registered for).
    #[error("unauthorized client")]
    UnauthorizedClient,
    /// Client authentication failed (unknown client, wrong secret, bad assertion, no or
    /// several authentication methods); the text says how, for logs. Sent with HTTP 401.
    #[error("invalid client: {0}")]
    InvalidClient(&'static str),
    /// The `grant_type` is unknown or not offered (RFC 6749 §5.2).
    #[error("unsupported grant type")]
    UnsupportedGrantType,
    /// PKCE (RFC 7636) refused a verifier or a challenge.
    #[error("PKCE: {0}")]
    Pkce(crate::pkce::PkceError),
    /// Device flow: the user has not answered yet; poll again (RFC 8628 §3.5).
    #[error("authorization pending")]
    AuthorizationPending,
    /// Device flow: polling too fast; the interval grew by 5 seconds (RFC 8628 §3.5).
    #[error("slow down")]
    SlowDown,
    /// Device flow: the user denied the request (RFC 8628 §3.5).
    #[error("access denied")]
    AccessDenied,
    /// Device flow: the device code expired; start again (RFC 8628 §3.5).
    #[error("expired token")]
    ExpiredToken,
    /// A DPoP proof (RFC 9449) was missing, invalid, replayed or for another key; with
    /// [`DpopError::NonceRequired`](crate::dpop::DpopError::NonceRequired) the client must
    /// retry with the server's nonce (`use_dpop_nonce`).
    #[error("DPoP: {0}")]
    InvalidDpopProof(crate::dpop::DpopError),
    /// Token exchange: the requested audience is not one tokens may be issued for
    /// (RFC 8693 §2.2.2).
    #[error("invalid target")]
    InvalidTarget,
    /// The engine refused to mint an access token its verifiers would refuse: the subject, the
    /// application claims or the whole token is longer than the documented limit
    /// ([`IssueRequest::MAX_SUBJECT_LEN`](crate::IssueRequest::MAX_SUBJECT_LEN),
    /// [`IssueRequest::MAX_CLAIMS_LEN`](crate::IssueRequest::MAX_CLAIMS_LEN),
    /// [`DEFAULT_MAX_TOKEN_LEN`](crate::jose::DEFAULT_MAX_TOKEN_LEN) or the engine verifier's
    /// own maximum). Nothing was stored.
    #[error("refused to issue: {0}")]
    IssueLimit(IssueLimit),
    /// Dynamic client registration (RFC 7591 §3.2.2): a redirect URI is refused; the text
    /// says why.
    #[error("invalid redirect URI: {0}")]
    InvalidRedirectUri(&'static str),
    /// Dynamic client registration (RFC 7591 §3.2.2): a metadata value is refused; the text
    /// says why.
    #[error("invalid client metadata: {0}")]
    InvalidClientMetadata(&'static str),
    /// A client ID metadata document was refused: the reason says which check failed
    /// ([`ClientMetadataDocuments::resolve`](crate::ClientMetadataDocuments::resolve)).
    #[error("client metadata document: {0}")]
    ClientMetadata(crate::client_metadata::ClientMetadataError),
    /// The token store failed. Never mistaken for an invalid token: the request may be
    /// retried.
    #[error("token store failed: {0}")]
    Store(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
}

impl Error {
    /// The OAuth 2.0 error code (RFC 6749 §5.2, RFC 6750 §3.1) this error maps to.
    ///
    /// Verification failures are `invalid_token`; key, configuration and internal failures are
    /// `server_error`, which is what an authorization server reports when its own setup is wrong.
    #[must_use]
    pub fn oauth_code(&self) -> &'static str {
        match self {
            Error::InvalidToken(TokenError::InsufficientUserAuthentication) => {
                "insufficient_user_authentication"
            }
            Error::InvalidToken(_) => "invalid_token",
            Error::NoUsableKey(_) | Error::JwksFetch(_) => "server_error",
            Error::InvalidGrant(_) | Error::ReuseDetected | Error::ReauthenticationRequired => {
                "invalid_grant"
            }
            Error::Store(_) => "server_error",
            Error::InvalidScope => "invalid_scope",
            Error::InvalidRequest(_) => "invalid_request",
            Error::UnauthorizedClient => "unauthorized_client",
            Error::InvalidClient(_) | Error::ClientMetadata(_) => "invalid_client",
            Error::UnsupportedGrantType => "unsupported_grant_type",
            // RFC 7636 §4.4.1 and §4.6: a bad challenge is invalid_request at the
            // authorization endpoint; a verifier that does not match is invalid_grant.
            Error::Pkce(crate::pkce::PkceError::Mismatch) => "invalid_grant",
            Error::Pkce(_) => "invalid_request",
            Error::AuthorizationPending => "authorization_pending",
            Error::SlowDown => "slow_down",
            Error::AccessDenied => "access_denied",
            Error::ExpiredToken => "expired_token",
            Error::InvalidTarget => "invalid_target",
            Error::InvalidRedirectUri(_) => "invalid_redirect_uri",
            Error::InvalidClientMetadata(_) => "invalid_client_metadata",
            Error::InvalidDpopProof(crate::dpop::DpopError::NonceRequired) => "use_dpop_nonce",
            // RFC 9449 §7.1: a bound token presented with the wrong scheme or key at a
            // resource server is an invalid token.
            Error::InvalidDpopProof(
                crate::dpop::DpopError::SchemeMismatch | crate::dpop::DpopError::KeyMismatch,
            ) => "invalid_token",
            Error::InvalidDpopProof(_) => "invalid_dpop_proof",
            // A subject can come from the request (a password grant's username); claims and
            // the token's length are the application's doing.
            Error::IssueLimit(IssueLimit::Subject) => "invalid_request",
            Error::IssueLimit(_) => "server_error",
            Error::Key(_) | Error::Config(_) | Error::Crypto(_) | Error::Serialize(_) => {
                "server_error"
            }
        }
    }
}

fn skipped_list(skipped: &[crate::jose::SkippedKey]) -> String {
    skipped.iter().map(|k| format!("; {k}")).collect()
}

impl From<TokenError> for Error {
    fn from(e: TokenError) -> Self {
        Error::InvalidToken(e)
    }
}

impl From<crate::pkce::PkceError> for Error {
    fn from(e: crate::pkce::PkceError) -> Self {
        Error::Pkce(e)
    }
}

impl From<crate::dpop::DpopError> for Error {
    fn from(e: crate::dpop::DpopError) -> Self {
        Error::InvalidDpopProof(e)
    }
}

impl From<KeyError> for Error {
    fn from(e: KeyError) -> Self {
        Error::Key(e)
    }
}

/// Which limit made the engine refuse to mint an access token ([`Error::IssueLimit`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IssueLimit {
    /// The subject is longer than
    /// [`IssueRequest::MAX_SUBJECT_LEN`](crate::IssueRequest::MAX_SUBJECT_LEN) bytes.
    Subject,
    /// The application claims serialize to more than
    /// [`IssueRequest::MAX_CLAIMS_LEN`](crate::IssueRequest::MAX_CLAIMS_LEN) bytes.
    Claims,
    /// The signed token would be longer than the engine's verifier accepts
    /// ([`DEFAULT_MAX_TOKEN_LEN`](crate::jose::DEFAULT_MAX_TOKEN_LEN) unless configured):
    /// long tenant, scope or claims together, or a family issued before these limits.
    AccessToken,
    /// A reference access token's scope is narrower than its session's and names a scope
    /// past the session's 64th (the token selects scopes with a 64-bit mask).
    ReferenceScope,
}

impl fmt::Display for IssueLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IssueLimit::Subject => "subject too long",
            IssueLimit::Claims => "application claims too long",
            IssueLimit::AccessToken => "access token longer than its verifier accepts",
            IssueLimit::ReferenceScope => "reference access token: narrowed past the 64th scope",
        })
    }
}

impl From<IssueLimit> for Error {
    fn from(e: IssueLimit) -> Self {
        Error::IssueLimit(e)
    }
}

/// Why a refresh token (or another grant) was rejected with `invalid_grant`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GrantError {
    /// Not a refresh token of this format (length, prefix, base64url, format byte).
    MalformedToken,
    /// The tag does not verify under any accepted refresh secret: forged, or made under a
    /// retired secret. Rejected before any store access.
    InvalidTag,
    /// No family with this id is stored (never created, or swept after expiry).
    UnknownFamily,
    /// The family was revoked earlier.
    Revoked,
    /// The family was not used within its idle lifetime.
    IdleExpired,
    /// The family reached its absolute lifetime (which never slides).
    AbsoluteExpired,
    /// The token claims a generation the family has not reached: a token minted with a
    /// stolen MAC key, or a store rolled back. Rejected, no write, reported as an anomaly.
    GenerationAhead,
    /// Concurrent refreshes kept winning the compare-and-swap; the bounded retries ran out.
    Contention,
    /// An authorization or device code that is unknown, already used or expired.
    InvalidCode,
    /// An authorization code presented a second time: the tokens issued from it are revoked
    /// (RFC 6749 §4.1.2).
    CodeReplayed,
    /// The code was issued to another client.
    CodeIssuedToAnotherClient,
    /// The `redirect_uri` differs from the one the code was issued for.
    RedirectUriMismatch,
    /// The resource owner's credentials or the subject token were not accepted.
    InvalidSubject,
    /// The code was issued for a `dpop_jkt` (RFC 9449 §10) and the token request carried no
    /// proof, or a proof by another key.
    DpopKeyMismatch,
}

impl fmt::Display for GrantError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GrantError::MalformedToken => "malformed refresh token",
            GrantError::InvalidTag => "refresh token tag does not verify",
            GrantError::UnknownFamily => "unknown refresh-token family",
            GrantError::Revoked => "refresh-token family revoked",
            GrantError::IdleExpired => "refresh-token family idle-expired",
            GrantError::AbsoluteExpired => "refresh-token family expired",
            GrantError::GenerationAhead => "refresh token generation ahead of the family",
            GrantError::Contention => "too many concurrent refreshes",
            GrantError::InvalidCode => "unknown, used or expired code",
            GrantError::CodeReplayed => "authorization code replayed",
            GrantError::CodeIssuedToAnotherClient => "code issued to another client",
            GrantError::RedirectUriMismatch => "redirect_uri does not match",
            GrantError::InvalidSubject => "subject not accepted",
            GrantError::DpopKeyMismatch => "code bound to another DPoP key",
        })
    }
}

impl From<GrantError> for Error {
    fn from(e: GrantError) -> Self {
        Error::InvalidGrant(e)
    }
}

/// Why a token was rejected.
///
/// Small and `Copy` so it can travel in events and counters. It names the check, never the
/// token's contents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TokenError {
    /// Longer than the configured maximum; rejected before any decoding.
    TooLong,
    /// Not three non-empty dot-separated segments (an empty payload is allowed by JWS).
    Malformed,
    /// A segment is not strict base64url (padding, whitespace, stray characters, non-zero
    /// trailing bits).
    Base64,
    /// The protected header is not a JSON object of the expected shape.
    Header,
    /// A header parameter appears twice.
    DuplicateHeader,
    /// The header names `alg: none` (in any letter case): never accepted.
    AlgNone,
    /// The header names an algorithm this crate does not implement.
    UnsupportedAlgorithm,
    /// The header's `alg` differs from the algorithm the selected key is bound to.
    AlgorithmMismatch,
    /// The header has no `kid` and the key set holds more than one key.
    MissingKeyId,
    /// No key in the set has the header's `kid`, and no key without a `kid` can stand in for
    /// it: none is bound to the header's `alg`, or more than four are (too ambiguous to try).
    UnknownKeyId,
    /// The header has a `crit` parameter: no extension is understood, so it always rejects.
    CriticalHeader,
    /// The header embeds or points to a key (`jwk`, `jku`, `x5u`, `x5c`): never trusted for
    /// access tokens.
    EmbeddedKey,
    /// The header's `typ` is not the one the rules require.
    WrongType,
    /// The signature does not verify under the selected key.
    InvalidSignature,
    /// The payload is not a JSON object of registered and custom claims of the expected types
    /// (for example `exp` as a string or out of range, or `cnf` as an array).
    Claims,
    /// A claim appears twice in the payload.
    DuplicateClaim,
    /// A claim the rules require is absent.
    MissingClaim(Claim),
    /// `exp` is in the past (beyond the leeway).
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    NotYetValid,
    /// `iat` is in the future (beyond the leeway).
    IssuedInFuture,
    /// `iss` is not one of the accepted issuers.
    Issuer,
    /// `aud` names none of the accepted audiences.
    Audience,
    /// The token's session (`sid`) is revoked, expired or unknown (checked only by
    /// `verify_with_revocation`).
    SessionRevoked,
    /// The token's policy version (`pv`) major is older than the current one (checked only by
    /// `verify_with_revocation`).
    PolicyStale,
    /// The user authenticated too weakly (`acr` not one the rules require) or too long ago
    /// (`auth_time` older than their maximum age) for this resource: RFC 9470's
    /// `insufficient_user_authentication`. The client sends the user back to the
    /// authorization server with `acr_values` / `max_age`.
    InsufficientUserAuthentication,
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            TokenError::TooLong => "token exceeds the maximum length",
            TokenError::Malformed => "not a compact JWS",
            TokenError::Base64 => "invalid base64url",
            TokenError::Header => "malformed protected header",
            TokenError::DuplicateHeader => "duplicate header parameter",
            TokenError::AlgNone => "unsecured JWS (alg none)",
            TokenError::UnsupportedAlgorithm => "unsupported algorithm",
            TokenError::AlgorithmMismatch => "algorithm does not match the key",
            TokenError::MissingKeyId => "missing kid",
            TokenError::UnknownKeyId => "unknown kid",
            TokenError::CriticalHeader => "unsupported critical header",
            TokenError::EmbeddedKey => "embedded or referenced key in header",
            TokenError::WrongType => "wrong typ",
            TokenError::InvalidSignature => "invalid signature",
            TokenError::Claims => "malformed claims",
            TokenError::DuplicateClaim => "duplicate claim",
            TokenError::MissingClaim(c) => return write!(f, "missing claim {}", c.name()),
            TokenError::Expired => "expired",
            TokenError::NotYetValid => "not yet valid",
            TokenError::IssuedInFuture => "issued in the future",
            TokenError::Issuer => "issuer not accepted",
            TokenError::Audience => "audience not accepted",
            TokenError::SessionRevoked => "session revoked",
            TokenError::PolicyStale => "security policy changed",
            TokenError::InsufficientUserAuthentication => "insufficient user authentication",
        };
        f.write_str(s)
    }
}

/// A registered claim of the access-token profile, named in [`TokenError::MissingClaim`] and
/// in [`Validation::required`](crate::Validation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Claim {
    /// `iss`
    Iss,
    /// `sub`
    Sub,
    /// `aud`
    Aud,
    /// `exp`
    Exp,
    /// `nbf`
    Nbf,
    /// `iat`
    Iat,
    /// `jti`
    Jti,
    /// `client_id`
    ClientId,
    /// `scope`
    Scope,
    /// `auth_time`
    AuthTime,
    /// `sid`
    Sid,
    /// `pv`
    Pv,
    /// `cnf`
    Cnf,
    /// `acr`
    Acr,
}

impl Claim {
    /// The claim's JSON name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Claim::Iss => "iss",
            Claim::Sub => "sub",
            Claim::Aud => "aud",
            Claim::Exp => "exp",
            Claim::Nbf => "nbf",
            Claim::Iat => "iat",
            Claim::Jti => "jti",
            Claim::ClientId => "client_id",
            Claim::Scope => "scope",
            Claim::AuthTime => "auth_time",
            Claim::Sid => "sid",
            Claim::Pv => "pv",
            Claim::Cnf => "cnf",
            Claim::Acr => "acr",
        }
    }

    pub(crate) fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// Why a key was rejected at import.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyError {
    /// The PEM text is not one strict PEM block.
    Pem,
    /// The PEM holds no block this constructor accepts (for example only a certificate, or
    /// a private key in a format this crate does not read, such as `OPENSSH PRIVATE KEY`).
    PemLabel,
    /// The PEM holds more than one private key: which one to use is the caller's choice.
    AmbiguousPem,
    /// The private key is encrypted (`ENCRYPTED PRIVATE KEY`, or a legacy `Proc-Type:
    /// 4,ENCRYPTED` block): decrypt it first, for example with `openssl pkcs8 -topk8
    /// -nocrypt`.
    Encrypted,
    /// The DER structure is malformed or not the expected one.
    Der,
    /// The key's type does not fit the algorithm it is being bound to.
    WrongKeyType,
    /// An HMAC secret shorter than the hash output (RFC 7518 §3.2) or empty.
    HmacTooShort,
    /// The key's curve does not fit the algorithm: an Ed25519 key loaded for `ES256`, a
    /// P-384 key for `ES256`, a P-256 key for `EdDSA`.
    CurveMismatch,
    /// A key-agreement key (X25519, X448), which can never sign.
    NotASigningKey,
    /// An RSA key too weak to trust: a modulus under 2048 bits.
    WeakKey,
    /// An RSA modulus over 8192 bits, even or not minimally encoded, or a public exponent
    /// outside `3..2^33` or even.
    RsaKeySize,
    /// An elliptic-curve point or Ed25519 key of the wrong length or encoding.
    PointEncoding,
    /// `ring` rejected the private key (inconsistent, unsupported or malformed).
    Rejected,
    /// The JWK is not valid JSON of the JWK shape, or a member is not strict base64url.
    JwkFormat,
    /// The key type is not one this crate uses: a JWK `kty` other than `RSA`, `EC`, `OKP` and
    /// `oct`, or an SPKI algorithm other than RSA, EC and Ed25519.
    UnsupportedKeyType,
    /// The curve is not P-256, P-384 or Ed25519 (a JWK `crv` such as `P-521`, `X25519` or
    /// `secp256k1`, or the SPKI or private-key curve of such a key, Ed448 included; P-521 is
    /// supported with `aws-lc-rs`).
    UnsupportedCurve,
    /// The JWK's `alg` names an algorithm this crate does not implement (`ES512`, `RSA-OAEP`,
    /// ...).
    UnsupportedAlgorithm,
    /// The JWK has no `alg` and its key type implies none: an `RSA` key (unless
    /// [`JwksOptions::default_rsa_algorithm`](crate::JwksOptions::default_rsa_algorithm) names
    /// one) or an `oct` key. This crate never guesses an algorithm.
    MissingAlgorithm,
    /// The JWK's `alg` contradicts its `kty`/`crv` (an `EC` P-256 key with `ES384` or
    /// `HS256`, ...).
    AlgorithmMismatch,
    /// The JWK's `use` is not `sig`, or its `key_ops` do not allow the operation.
    KeyUse,
    /// A public key set holds private key material, or a secret key set holds public keys.
    MixedKeySet,
    /// A JWK Set holds an `oct` (secret) key, which a published key document must never
    /// carry; accepted only with
    /// [`JwksOptions::danger_allow_secret_keys`](crate::JwksOptions::danger_allow_secret_keys).
    SecretKeyInSet,
    /// Two keys of one set share a `kid`.
    DuplicateKeyId,
    /// The key set holds more keys than the import limit.
    TooManyKeys,
    /// The document is larger than the import limit.
    TooLarge,
    /// The algorithm cannot be used for this operation (for example generating RSA keys,
    /// which `ring` does not do).
    Unsupported,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            KeyError::Pem => "malformed PEM",
            KeyError::PemLabel => "no usable key in the PEM (unexpected label)",
            KeyError::AmbiguousPem => "several private keys in the PEM",
            KeyError::Encrypted => "encrypted private key: decrypt it first",
            KeyError::CurveMismatch => "the key's curve does not fit the algorithm",
            KeyError::NotASigningKey => "key-agreement key (X25519, X448): cannot sign",
            KeyError::Der => "malformed DER",
            KeyError::WrongKeyType => "key type does not fit the algorithm",
            KeyError::HmacTooShort => "HMAC secret shorter than the hash output",
            KeyError::WeakKey => "RSA key under 2048 bits",
            KeyError::RsaKeySize => "RSA key over 8192 bits, malformed, or bad exponent",
            KeyError::PointEncoding => "bad public key encoding",
            KeyError::Rejected => "private key rejected",
            KeyError::JwkFormat => "malformed JWK",
            KeyError::UnsupportedKeyType => "unsupported key type",
            KeyError::UnsupportedCurve => "unsupported curve",
            KeyError::UnsupportedAlgorithm => "unsupported algorithm",
            KeyError::MissingAlgorithm => "JWK names no algorithm and its key type implies none",
            KeyError::AlgorithmMismatch => "JWK alg does not fit the key",
            KeyError::KeyUse => "key use or key_ops do not allow signatures",
            KeyError::MixedKeySet => "key set mixes secret, private and public keys",
            KeyError::SecretKeyInSet => {
                "JWK Set holds a secret (oct) key; refused unless danger_allow_secret_keys"
            }
            KeyError::DuplicateKeyId => "duplicate kid in key set",
            KeyError::TooManyKeys => "too many keys in key set",
            KeyError::TooLarge => "key document too large",
            KeyError::Unsupported => "operation not supported for this algorithm",
        };
        f.write_str(s)
    }
}

impl std::error::Error for TokenError {}
impl std::error::Error for KeyError {}
impl std::error::Error for GrantError {}
impl std::error::Error for IssueLimit {}
