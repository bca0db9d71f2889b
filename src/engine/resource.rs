//! The resource-server side over the whole request: [`Engine::resource_request`] checks a
//! request to an API of this engine (Bearer or DPoP, with revocation) and answers a refusal
//! with its challenge exactly as RFC 6750 §3 and RFC 9449 §7.1 define it; the OpenID Connect
//! UserInfo endpoint ([`Engine::userinfo_endpoint`]) is built on it.

use core::future::Future;

use serde_json::{Map, Value};

use super::Engine;
use crate::dpop::DpopError;
use crate::error::Error;
use crate::http::{Endpoint, HttpRequest, HttpResponse};
use crate::jose::{AccessTokenClaims, NoCustomClaims};
use crate::store::ReplayStore;
use serde::de::DeserializeOwned;

/// The claims of a user for the UserInfo endpoint: the application's user table.
pub trait UserInfoSource: Send + Sync {
    /// The claims of `subject` that `scopes` (the access token's) allow, for example `name`
    /// and `email` for `profile` and `email` (OpenID Connect Core §5.4). `sub` is always set
    /// by the engine (a `sub` here is ignored). `None`: the user no longer exists (the token
    /// is answered `invalid_token`). An error is a backend failure.
    fn claims(
        &self,
        subject: &str,
        scopes: &[&str],
    ) -> impl Future<Output = Result<Option<Map<String, Value>>, Error>> + Send;
}

/// The scheme the request used, for the challenge.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scheme {
    None,
    Bearer,
    DPoP,
}

/// A refusal: the status, the scheme whose challenge carries the error, the error code and
/// the scope needed (for `insufficient_scope`).
struct Refusal {
    status: u16,
    scheme: Scheme,
    error: Option<&'static str>,
    scope: Option<String>,
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

impl<S: crate::store::TokenStore> Engine<S> {
    /// The `WWW-Authenticate` challenges of a refusal: a `Bearer` and a `DPoP` challenge
    /// (with the accepted `algs`), the error (and `scope`) on the scheme the request used;
    /// none when it sent no credentials (RFC 6750 §3.1).
    fn challenge(&self, r: &Refusal) -> HttpResponse {
        let algs = self.dpop_algorithm_names();
        let params = |scheme: Scheme| {
            let mut p = Vec::new();
            if r.scheme == scheme
                && let Some(e) = r.error
            {
                p.push(format!("error=\"{e}\""));
                if let Some(scope) = &r.scope {
                    p.push(format!("scope=\"{}\"", quoted(scope)));
                }
            }
            p
        };
        let bearer = params(Scheme::Bearer);
        let mut dpop = params(Scheme::DPoP);
        dpop.push(format!("algs=\"{}\"", algs.join(" ")));
        let bearer = if bearer.is_empty() {
            "Bearer".to_owned()
        } else {
            format!("Bearer {}", bearer.join(", "))
        };
        let value = format!("{bearer}, DPoP {}", dpop.join(", "));
        let mut response = HttpResponse::new(r.status)
            .with_header("WWW-Authenticate", value)
            .no_store();
        if r.error == Some("use_dpop_nonce")
            && let Some(nonce) = self.dpop_nonce()
        {
            response = response.with_header("DPoP-Nonce", nonce);
        }
        response
    }

    /// The refusal for an error of the token or proof checks.
    fn refusal(scheme: Scheme, e: &Error) -> Result<Refusal, HttpResponse> {
        let (status, scheme, error) = match e {
            Error::Store(_) => return Err(HttpResponse::from_error(e)),
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
        Ok(Refusal {
            status,
            scheme: if scheme == Scheme::None {
                Scheme::Bearer
            } else {
                scheme
            },
            error: Some(error),
            scope: None,
        })
    }
}

impl<S: ReplayStore> Engine<S> {
    /// Check a request to a protected resource of this engine's audience (`uri`: its full
    /// URL as the client sent it, for DPoP's `htu`), and that the token grants every scope
    /// of `scopes`. Bearer and DPoP tokens (RFC 6750, RFC 9449 §7): a DPoP-bound token needs
    /// the `DPoP` scheme and a proof by its key (its `jti` recorded); the token is verified
    /// with revocation ([`Engine::verify_with_revocation`]). A refusal is the response to
    /// send: `401` with `Bearer` and `DPoP` challenges and no error code when the request
    /// carried no credentials (RFC 6750 §3.1); `invalid_token`, `invalid_dpop_proof` or
    /// `use_dpop_nonce` (with `DPoP-Nonce`) on the scheme the request used; `400`
    /// `invalid_request` for repeated `Authorization` headers; `401` `invalid_dpop_proof`
    /// for more than one `DPoP` header (RFC 9449 §4.3); `403` `insufficient_scope` naming
    /// the scopes needed; `500` when the store fails (never an invalid token).
    pub async fn resource_request(
        &self,
        request: &HttpRequest<'_>,
        uri: &str,
        scopes: &[&str],
    ) -> Result<AccessTokenClaims<'static>, HttpResponse> {
        self.resource_request_as::<NoCustomClaims>(request, uri, scopes)
            .await
    }

    /// [`Engine::resource_request`] returning the application's claims (`role`,
    /// `tenant_id`, ...) as `T` beside the standard ones, from the same single verification.
    pub async fn resource_request_as<T: DeserializeOwned>(
        &self,
        request: &HttpRequest<'_>,
        uri: &str,
        scopes: &[&str],
    ) -> Result<AccessTokenClaims<'static, T>, HttpResponse> {
        let refuse = |r: Refusal| self.challenge(&r);
        let authorization = request.single_header("authorization").map_err(|_| {
            refuse(Refusal {
                status: 400,
                scheme: Scheme::Bearer,
                error: Some("invalid_request"),
                scope: None,
            })
        })?;
        let no_credentials = Refusal {
            status: 401,
            scheme: Scheme::None,
            error: None,
            scope: None,
        };
        let Some(authorization) = authorization else {
            return Err(refuse(no_credentials));
        };
        let scheme = match authorization.split_once(' ').map(|(s, _)| s) {
            Some(s) if s.eq_ignore_ascii_case("bearer") => Scheme::Bearer,
            Some(s) if s.eq_ignore_ascii_case("dpop") => Scheme::DPoP,
            // Another scheme (Basic, ...) carries no token of ours: no credentials.
            _ => return Err(refuse(no_credentials)),
        };
        let dpop = request.single_header("dpop").map_err(|_| {
            refuse(Refusal {
                status: 401,
                scheme: Scheme::DPoP,
                error: Some("invalid_dpop_proof"),
                scope: None,
            })
        })?;
        let claims = match self
            .verify_resource_request_as::<T>(authorization, dpop, request.method(), uri)
            .await
        {
            Ok(c) => c,
            Err(e) => {
                return Err(Self::refusal(scheme, &e).map(&refuse).unwrap_or_else(|r| r));
            }
        };
        let granted = claims.scope.as_deref().unwrap_or("");
        let missing = scopes.iter().any(|s| !granted.split(' ').any(|g| g == *s));
        if missing {
            return Err(refuse(Refusal {
                status: 403,
                scheme,
                error: Some("insufficient_scope"),
                scope: Some(scopes.join(" ")),
            }));
        }
        Ok(claims)
    }

    /// The OpenID Connect UserInfo endpoint (Core §5.3): `GET` or `POST`, the access token
    /// in the `Authorization` header (Bearer or DPoP, proofs for the URL set with
    /// [`EngineBuilder::userinfo_endpoint`](crate::EngineBuilder::userinfo_endpoint)),
    /// checked like [`Engine::resource_request`] and required to carry the `openid` scope.
    /// Answers `sub` and the claims `users` gives for the token's scopes, as JSON with
    /// `Cache-Control: no-store`; refusals carry their `WWW-Authenticate` challenges (RFC
    /// 6750 §3, RFC 9449 §7.1). CORS for browsers.
    pub async fn userinfo_endpoint<U: UserInfoSource>(
        &self,
        users: &U,
        request: &HttpRequest<'_>,
    ) -> HttpResponse {
        let response = self.userinfo(users, request).await;
        Endpoint::UserInfo.cors(request, response)
    }

    async fn userinfo<U: UserInfoSource>(
        &self,
        users: &U,
        request: &HttpRequest<'_>,
    ) -> HttpResponse {
        if !request.is("GET") && !request.is("POST") {
            return HttpResponse::method_not_allowed("GET, POST");
        }
        let Some(uri) = self.inner.endpoints.userinfo.as_deref() else {
            return HttpResponse::from_error(&Error::Config(
                "engine: the UserInfo endpoint needs EngineBuilder::userinfo_endpoint",
            ));
        };
        let claims = match self.resource_request(request, uri, &["openid"]).await {
            Ok(c) => c,
            Err(refusal) => return refusal,
        };
        let Some(subject) = claims.sub.as_deref() else {
            return Self::refusal(Scheme::Bearer, &Error::InvalidRequest("no sub"))
                .map(|r| self.challenge(&r))
                .unwrap_or_else(|r| r);
        };
        let scopes: Vec<&str> = claims
            .scope
            .as_deref()
            .unwrap_or("")
            .split(' ')
            .filter(|s| !s.is_empty())
            .collect();
        let extra = match users.claims(subject, &scopes).await {
            Ok(Some(m)) => m,
            Ok(None) => {
                return self.challenge(&Refusal {
                    status: 401,
                    scheme: Scheme::Bearer,
                    error: Some("invalid_token"),
                    scope: None,
                });
            }
            Err(e) => return HttpResponse::from_error(&e),
        };
        let mut body = Map::new();
        body.insert("sub".to_owned(), Value::String(subject.to_owned()));
        for (k, v) in extra {
            if k != "sub" {
                body.insert(k, v);
            }
        }
        HttpResponse::json(200, Value::Object(body).to_string()).no_store()
    }
}
