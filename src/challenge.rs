//! A resource server's refusals, written exactly as RFC 6750 §3, RFC 9449 §7.1, RFC 9470 §3
//! and RFC 9728 §5.1 define them, with no engine and no store: [`Challenges`] reads the
//! credentials of a request ([`Credentials`]) and answers a refusal with its
//! `WWW-Authenticate` challenges; [`Requirements`] are what one route needs of a token
//! (audience, scopes, `acr`, authentication age). The engine's
//! [`Engine::resource_request`](crate::Engine::resource_request) writes its refusals with
//! it; resource servers on a [`Verifier`](crate::Verifier) or a
//! [`JwksSource`](crate::JwksSource) use it directly.

use core::fmt;

use crate::dpop::{DpopError, DpopRules};
use crate::error::{Error, TokenError};
use crate::http::{HttpRequest, HttpResponse};
use crate::jose::AccessTokenClaims;

/// The scheme a request's `Authorization` header used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scheme {
    None,
    Bearer,
    DPoP,
}

/// The credentials of a resource request: its single `Authorization` header (`Bearer` or
/// `DPoP` scheme) and its single `DPoP` header, if any. `Debug` hides both values.
#[derive(Clone, Copy)]
pub struct Credentials<'a> {
    authorization: &'a str,
    dpop: Option<&'a str>,
    scheme: Scheme,
}

impl fmt::Debug for Credentials<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("scheme", &self.scheme)
            .field("dpop", &self.dpop.map(|_| "[redacted]"))
            .finish_non_exhaustive()
    }
}

impl<'a> Credentials<'a> {
    /// The `Authorization` header's value (`Bearer <token>` or `DPoP <token>`), for
    /// [`Verifier::verify_dpop`](crate::Verifier::verify_dpop) or
    /// [`Engine::verify_resource_request`](crate::Engine::verify_resource_request).
    #[must_use]
    pub fn authorization(&self) -> &'a str {
        self.authorization
    }

    /// The `DPoP` header's value, if the request sent one.
    #[must_use]
    pub fn dpop(&self) -> Option<&'a str> {
        self.dpop
    }

    /// Whether the request used the `DPoP` scheme (else `Bearer`).
    #[must_use]
    pub fn is_dpop(&self) -> bool {
        self.scheme == Scheme::DPoP
    }
}

/// Writes a resource server's refusals: `401` with a `Bearer` and a `DPoP` challenge (with
/// the DPoP algorithms accepted), the error code (and `scope`) on the scheme the request used.
///
/// ```
/// use token_engine::{Challenges, DpopRules, HttpRequest};
/// let challenges = Challenges::new(&DpopRules::default());
/// let refusal = challenges.credentials(&HttpRequest::new("GET")).unwrap_err();
/// assert_eq!(refusal.status(), 401);
/// assert_eq!(
///     refusal.header("WWW-Authenticate"),
///     Some("Bearer, DPoP algs=\"ES256 ES384 EdDSA RS256 PS256\"")
/// );
/// ```
#[derive(Clone, Debug)]
pub struct Challenges {
    algs: String,
    nonce: Option<String>,
    resource_metadata: Option<String>,
    acr_values: Option<String>,
    max_age: Option<i64>,
}

/// What one protected route needs of a verified token, beyond a valid signature, issuer and
/// lifetime: its audience (RFC 8707: the resource's own identifier), scopes (RFC 6750
/// §3.1), and how the user authenticated (RFC 9470: `acr`, authentication age). Build once
/// per route; [`Challenges::require`] checks a token against it.
///
/// ```
/// use token_engine::Requirements;
/// let admin = Requirements::new()
///     .audience("https://api.example.com")
///     .scopes(["admin"])
///     .acr_values(["urn:example:mfa"])
///     .max_auth_age(time::Duration::minutes(15));
/// assert_eq!(admin.acr(), ["urn:example:mfa"]);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Requirements {
    audience: Option<String>,
    scopes: Vec<String>,
    acr_values: Vec<String>,
    max_auth_age: Option<i64>,
}

impl Requirements {
    /// Nothing beyond a valid token.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The token's `aud` must name `audience` (this resource's identifier, RFC 8707):
    /// a token for another resource of the same issuer is `401` `invalid_token`.
    #[must_use]
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// The token must grant every one of `scopes`, else `403` `insufficient_scope` naming
    /// them (RFC 6750 §3.1).
    #[must_use]
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes.extend(scopes.into_iter().map(Into::into));
        self
    }

    /// The token's `acr` must be one of `values`, else `401`
    /// `insufficient_user_authentication` with `acr_values` (RFC 9470 §3).
    #[must_use]
    pub fn acr_values<I, S>(mut self, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.acr_values.extend(values.into_iter().map(Into::into));
        self
    }

    /// The token's `auth_time` must be at most `max_age` before now (whole seconds; a
    /// fraction is rounded down), else `401` `insufficient_user_authentication` with
    /// `max_age` (RFC 9470 §3).
    #[must_use]
    pub fn max_auth_age(mut self, max_age: time::Duration) -> Self {
        self.max_auth_age = Some(max_age.whole_seconds().max(0));
        self
    }

    /// The required audience, if any.
    #[must_use]
    pub fn audience_required(&self) -> Option<&str> {
        self.audience.as_deref()
    }

    /// The required scopes.
    #[must_use]
    pub fn scopes_required(&self) -> &[String] {
        &self.scopes
    }

    /// The accepted `acr` values (empty: any).
    #[must_use]
    pub fn acr(&self) -> &[String] {
        &self.acr_values
    }

    /// The maximum authentication age in seconds, if any.
    #[must_use]
    pub fn max_auth_age_secs(&self) -> Option<i64> {
        self.max_auth_age
    }
}

/// The parameters of one refusal's challenge on the scheme the request used.
#[derive(Clone, Copy, Default)]
struct Params<'a> {
    error: Option<&'static str>,
    scope: Option<&'a str>,
    acr_values: Option<&'a str>,
    max_age: Option<i64>,
}

impl<'a> Params<'a> {
    fn error(code: &'static str) -> Self {
        Self {
            error: Some(code),
            ..Self::default()
        }
    }
}

impl Challenges {
    /// The challenges of a resource server that accepts DPoP proofs under `rules`.
    #[must_use]
    pub fn new(rules: &DpopRules) -> Self {
        let algs: Vec<&str> = rules.algorithms.iter().map(|a| a.name()).collect();
        Self {
            algs: algs.join(" "),
            nonce: None,
            resource_metadata: None,
            acr_values: None,
            max_age: None,
        }
    }

    /// The URL of this resource's protected resource metadata (RFC 9728): written as
    /// `resource_metadata` in every challenge (RFC 9728 §5.1), so a client that knows only
    /// the resource's URL finds its authorization server. `None`: not written.
    #[must_use]
    pub fn with_resource_metadata(mut self, url: Option<String>) -> Self {
        self.resource_metadata = url;
        self
    }

    /// The `resource_metadata` URL the challenges name, if any.
    #[must_use]
    pub fn resource_metadata(&self) -> Option<&str> {
        self.resource_metadata.as_deref()
    }

    /// What a [`TokenError::InsufficientUserAuthentication`] refusal names (RFC 9470 §3):
    /// the `acr` values and maximum authentication age of `rules`
    /// ([`Validation::require_acr`](crate::Validation::require_acr),
    /// [`Validation::max_auth_age`](crate::Validation::max_auth_age)).
    #[must_use]
    pub fn with_step_up(mut self, rules: &crate::Validation) -> Self {
        self.acr_values = (!rules.acr_values().is_empty()).then(|| rules.acr_values().join(" "));
        self.max_age = rules.max_auth_age_secs();
        self
    }

    /// The nonce to send as `DPoP-Nonce` with a `use_dpop_nonce` refusal (RFC 9449 §9).
    #[must_use]
    pub fn with_nonce(mut self, nonce: Option<String>) -> Self {
        self.nonce = nonce;
        self
    }

    /// The request's credentials, or the refusal to send: `401` with both challenges and no
    /// error code when it carries none (no `Authorization`, or another scheme such as
    /// `Basic`: RFC 6750 §3.1), `400` `invalid_request` for a repeated `Authorization`
    /// header, `401` `invalid_dpop_proof` for a repeated `DPoP` header (RFC 9449 §4.3).
    pub fn credentials<'a>(
        &self,
        request: &HttpRequest<'a>,
    ) -> Result<Credentials<'a>, HttpResponse> {
        let authorization = request
            .single_header("authorization")
            .map_err(|_| self.write(400, Scheme::Bearer, Params::error("invalid_request")))?;
        let Some(authorization) = authorization else {
            return Err(self.write(401, Scheme::None, Params::default()));
        };
        let scheme = match authorization.split_once(' ').map(|(s, _)| s) {
            Some(s) if s.eq_ignore_ascii_case("bearer") => Scheme::Bearer,
            Some(s) if s.eq_ignore_ascii_case("dpop") => Scheme::DPoP,
            _ => return Err(self.write(401, Scheme::None, Params::default())),
        };
        let dpop = request
            .single_header("dpop")
            .map_err(|_| self.write(401, Scheme::DPoP, Params::error("invalid_dpop_proof")))?;
        Ok(Credentials {
            authorization,
            dpop,
            scheme,
        })
    }

    /// The refusal for an error of the token or proof checks on a request with these
    /// credentials: `invalid_token` (on the request's scheme) for a bad, expired, revoked or
    /// wrongly bound token; `invalid_dpop_proof` (on `DPoP`) for a missing or bad proof;
    /// `use_dpop_nonce` with `DPoP-Nonce` when a nonce is required; `400` `invalid_request`
    /// for a malformed request; the `500` JSON error when the server failed (the store, a
    /// JWK Set fetch, the configuration): never an invalid token.
    pub fn refusal(&self, credentials: &Credentials<'_>, error: &Error) -> HttpResponse {
        let scheme = credentials.scheme;
        let (status, scheme, code) = match error {
            // The server's failure, not the token's: never `invalid_token`.
            Error::Store(_)
            | Error::JwksFetch(_)
            | Error::NoUsableKey(_)
            | Error::Config(_)
            | Error::Crypto(_) => return HttpResponse::from_error(error),
            Error::InvalidDpopProof(DpopError::NonceRequired) => {
                (401, Scheme::DPoP, "use_dpop_nonce")
            }
            Error::InvalidDpopProof(DpopError::SchemeMismatch | DpopError::KeyMismatch) => {
                (401, scheme, "invalid_token")
            }
            Error::InvalidDpopProof(_) => (401, Scheme::DPoP, "invalid_dpop_proof"),
            Error::InvalidRequest(_) => (400, scheme, "invalid_request"),
            Error::InvalidToken(TokenError::InsufficientUserAuthentication) => {
                return self.write(
                    401,
                    scheme,
                    Params {
                        acr_values: self.acr_values.as_deref(),
                        max_age: self.max_age,
                        ..Params::error("insufficient_user_authentication")
                    },
                );
            }
            _ => (401, scheme, "invalid_token"),
        };
        self.write(status, scheme, Params::error(code))
    }

    /// `403` `insufficient_scope` naming the scopes the resource needs (RFC 6750 §3.1).
    pub fn insufficient_scope(
        &self,
        credentials: &Credentials<'_>,
        scopes: &[&str],
    ) -> HttpResponse {
        self.write(
            403,
            credentials.scheme,
            Params {
                scope: Some(&scopes.join(" ")),
                ..Params::error("insufficient_scope")
            },
        )
    }

    /// `401` `insufficient_user_authentication` (RFC 9470 §3) naming the `acr` values
    /// (space-separated) and maximum authentication age the resource needs.
    pub fn insufficient_user_authentication(
        &self,
        credentials: &Credentials<'_>,
        acr_values: Option<&str>,
        max_age: Option<i64>,
    ) -> HttpResponse {
        self.write(
            401,
            credentials.scheme,
            Params {
                acr_values,
                max_age,
                ..Params::error("insufficient_user_authentication")
            },
        )
    }

    /// `Ok` when the token (verified already) meets `requirements` at `now` (Unix seconds),
    /// else the refusal: `401` `invalid_token` for another audience, `401`
    /// `insufficient_user_authentication` with `acr_values` / `max_age` for too weak or too
    /// old an authentication, `403` `insufficient_scope` naming the scopes for missing
    /// scopes, checked in that order.
    pub fn require<T>(
        &self,
        credentials: &Credentials<'_>,
        claims: &AccessTokenClaims<'_, T>,
        requirements: &Requirements,
        now: i64,
    ) -> Result<(), HttpResponse> {
        if let Some(audience) = &requirements.audience
            && !claims.aud.as_ref().is_some_and(|a| a.contains(audience))
        {
            return Err(self.refusal(credentials, &Error::InvalidToken(TokenError::Audience)));
        }
        let acr_ok = requirements.acr_values.is_empty()
            || claims
                .acr
                .as_deref()
                .is_some_and(|acr| requirements.acr_values.iter().any(|a| a == acr));
        let age_ok = requirements.max_auth_age.is_none_or(|max| {
            claims
                .auth_time
                .is_some_and(|t| now.saturating_sub(t) <= max)
        });
        if !acr_ok || !age_ok {
            let acr_values =
                (!requirements.acr_values.is_empty()).then(|| requirements.acr_values.join(" "));
            return Err(self.insufficient_user_authentication(
                credentials,
                acr_values.as_deref(),
                requirements.max_auth_age,
            ));
        }
        let granted = claims.scope.as_deref().unwrap_or("");
        if requirements
            .scopes
            .iter()
            .all(|s| granted.split(' ').any(|g| g == s))
        {
            return Ok(());
        }
        let scopes: Vec<&str> = requirements.scopes.iter().map(String::as_str).collect();
        Err(self.insufficient_scope(credentials, &scopes))
    }

    /// `Ok` when the token grants every scope of `scopes`, else the `insufficient_scope`
    /// refusal.
    pub fn require_scopes<T>(
        &self,
        credentials: &Credentials<'_>,
        claims: &AccessTokenClaims<'_, T>,
        scopes: &[&str],
    ) -> Result<(), HttpResponse> {
        let granted = claims.scope.as_deref().unwrap_or("");
        if scopes.iter().all(|s| granted.split(' ').any(|g| g == *s)) {
            Ok(())
        } else {
            Err(self.insufficient_scope(credentials, scopes))
        }
    }

    /// The response: both challenges, the error (and its parameters) on `scheme`; none when
    /// the request sent no credentials (RFC 6750 §3.1); `resource_metadata` on both.
    fn write(&self, status: u16, scheme: Scheme, extra: Params<'_>) -> HttpResponse {
        let error = extra.error;
        let params = |on: Scheme| {
            let mut p = Vec::new();
            if scheme == on
                && let Some(e) = error
            {
                p.push(format!("error=\"{e}\""));
                if let Some(scope) = extra.scope {
                    p.push(format!("scope=\"{}\"", quoted(scope)));
                }
                if let Some(acr) = extra.acr_values {
                    p.push(format!("acr_values=\"{}\"", quoted(acr)));
                }
                if let Some(max_age) = extra.max_age {
                    p.push(format!("max_age=\"{max_age}\""));
                }
            }
            if let Some(url) = &self.resource_metadata {
                p.push(format!("resource_metadata=\"{}\"", quoted(url)));
            }
            p
        };
        let bearer = params(Scheme::Bearer);
        let mut dpop = params(Scheme::DPoP);
        dpop.push(format!("algs=\"{}\"", self.algs));
        let bearer = if bearer.is_empty() {
            "Bearer".to_owned()
        } else {
            format!("Bearer {}", bearer.join(", "))
        };
        let value = format!("{bearer}, DPoP {}", dpop.join(", "));
        let mut response = HttpResponse::new(status)
            .with_header("WWW-Authenticate", value)
            .no_store();
        if error == Some("use_dpop_nonce")
            && let Some(nonce) = &self.nonce
        {
            response = response.with_header("DPoP-Nonce", nonce.clone());
        }
        response
    }
}

/// Escape a value for a quoted-string (RFC 9110 §5.6.4); the engine's values never need it,
/// but a scope is the application's text.
fn quoted(v: &str) -> String {
    v.chars()
        .filter(|c| *c == ' ' || c.is_ascii_graphic())
        .flat_map(|c| {
            let escape = matches!(c, '"' | '\\');
            escape.then_some('\\').into_iter().chain([c])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::TokenError;

    fn challenges() -> Challenges {
        Challenges::new(&DpopRules::default())
    }

    #[test]
    fn no_credentials_has_no_error_code() {
        for request in [
            HttpRequest::new("GET"),
            HttpRequest::new("GET").header("Authorization", "Basic YTpi"),
        ] {
            let r = challenges().credentials(&request).unwrap_err();
            assert_eq!(r.status(), 401);
            let h = r.header("www-authenticate").unwrap();
            assert!(!h.contains("error="), "{h}");
        }
    }

    #[test]
    fn errors_go_on_the_scheme_used() {
        let request = HttpRequest::new("GET").header("Authorization", "DPoP abc");
        let c = challenges();
        let creds = c.credentials(&request).unwrap();
        assert!(creds.is_dpop());
        let r = c.refusal(&creds, &Error::InvalidToken(TokenError::Expired));
        assert_eq!(
            r.header("www-authenticate").unwrap(),
            "Bearer, DPoP error=\"invalid_token\", algs=\"ES256 ES384 EdDSA RS256 PS256\""
        );
        let r = c.insufficient_scope(&creds, &["a\"b"]);
        assert_eq!(r.status(), 403);
        assert!(
            r.header("www-authenticate")
                .unwrap()
                .contains("scope=\"a\\\"b\"")
        );
        let nonce = c.clone().with_nonce(Some("n1".into()));
        let r = nonce.refusal(&creds, &Error::InvalidDpopProof(DpopError::NonceRequired));
        assert_eq!(r.header("dpop-nonce"), Some("n1"));
        let r = nonce.refusal(&creds, &Error::InvalidDpopProof(DpopError::Missing));
        assert_eq!(r.header("dpop-nonce"), None);
    }

    #[test]
    fn server_failures_are_not_the_tokens() {
        let request = HttpRequest::new("GET").header("Authorization", "Bearer abc");
        let c = challenges();
        let creds = c.credentials(&request).unwrap();
        for e in [Error::Config("x"), Error::NoUsableKey(Vec::new())] {
            let r = c.refusal(&creds, &e);
            assert_eq!(r.status(), 500, "{e}");
            assert_eq!(r.header("www-authenticate"), None, "{e}");
        }
    }

    #[test]
    fn credentials_debug_hides_the_token() {
        let request = HttpRequest::new("GET")
            .header("Authorization", "Bearer s3cr3t")
            .header("DPoP", "pr00f");
        let creds = challenges().credentials(&request).unwrap();
        let text = format!("{creds:?}");
        assert!(
            !text.contains("s3cr3t") && !text.contains("pr00f"),
            "{text}"
        );
    }
}
