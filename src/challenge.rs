//! A resource server's refusals, written exactly as RFC 6750 §3 and RFC 9449 §7.1 define
//! them, with no engine and no store: [`Challenges`] reads the credentials of a request
//! ([`Credentials`]) and answers a refusal with its `WWW-Authenticate` challenges. The
//! engine's [`Engine::resource_request`](crate::Engine::resource_request) writes its refusals
//! with it; resource servers on a [`Verifier`](crate::Verifier) or a
//! [`JwksSource`](crate::JwksSource) use it directly.
//!
//! RFC 9728's `resource_metadata` parameter is not written: the crate serves no protected
//! resource metadata yet.

use core::fmt;

use crate::dpop::{DpopError, DpopRules};
use crate::error::Error;
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
}

impl Challenges {
    /// The challenges of a resource server that accepts DPoP proofs under `rules`.
    #[must_use]
    pub fn new(rules: &DpopRules) -> Self {
        let algs: Vec<&str> = rules.algorithms.iter().map(|a| a.name()).collect();
        Self {
            algs: algs.join(" "),
            nonce: None,
        }
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
            .map_err(|_| self.write(400, Scheme::Bearer, Some("invalid_request"), None))?;
        let Some(authorization) = authorization else {
            return Err(self.write(401, Scheme::None, None, None));
        };
        let scheme = match authorization.split_once(' ').map(|(s, _)| s) {
            Some(s) if s.eq_ignore_ascii_case("bearer") => Scheme::Bearer,
            Some(s) if s.eq_ignore_ascii_case("dpop") => Scheme::DPoP,
            _ => return Err(self.write(401, Scheme::None, None, None)),
        };
        let dpop = request
            .single_header("dpop")
            .map_err(|_| self.write(401, Scheme::DPoP, Some("invalid_dpop_proof"), None))?;
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
            _ => (401, scheme, "invalid_token"),
        };
        self.write(status, scheme, Some(code), None)
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
            Some("insufficient_scope"),
            Some(&scopes.join(" ")),
        )
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

    /// The response: both challenges, the error (and `scope`) on `scheme`; none when the
    /// request sent no credentials (RFC 6750 §3.1).
    fn write(
        &self,
        status: u16,
        scheme: Scheme,
        error: Option<&'static str>,
        scope: Option<&str>,
    ) -> HttpResponse {
        let params = |on: Scheme| {
            let mut p = Vec::new();
            if scheme == on
                && let Some(e) = error
            {
                p.push(format!("error=\"{e}\""));
                if let Some(scope) = scope {
                    p.push(format!("scope=\"{}\"", quoted(scope)));
                }
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
