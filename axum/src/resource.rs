//! The resource server: [`ResourceServer`] holds where keys come from ([`KeySource`]: an
//! [`Engine`], a [`Verifier`] or a [`JwksSource`]) and the application's external origin;
//! [`ResourceServer::require`] makes a tower [`Layer`] per route with that route's
//! requirements (scopes, audience, `acr`, authentication age). A request that passes goes on
//! with its [`Claims`] in the request extensions; any other gets the refusal the library
//! writes (RFC 6750 §3, RFC 9449 §7.1, RFC 9470 §3), unchanged, naming the resource's
//! metadata document when it publishes one (RFC 9728, [`ResourceServer::with_metadata`]).

use core::future::Future;
use core::marker::PhantomData;
use core::pin::Pin;
use core::task::{Context, Poll};
use std::sync::Arc;

use http::{Request, Response};
use serde::de::{DeserializeOwned, IgnoredAny};
use token_engine::jose::NoCustomClaims;
use token_engine::jwks::JwksFetcher;
use token_engine::store::ReplayStore;
use token_engine::{
    AccessTokenClaims, Challenges, Clock, Credentials, DpopRules, Engine, Error, HttpRequest,
    HttpResponse, JwksSource, ProtectedResource, Requirements, TokenError, Verifier,
};
use tower_layer::Layer;
use tower_service::Service;

use crate::extract::Claims;

/// What a [`KeySource`] checks: the request (its `Authorization` and `DPoP` fields), the URL
/// the client used (`origin` + path: DPoP's `htu`), and the DPoP rules and challenges of a
/// source that has none of its own (a [`Verifier`], a [`JwksSource`]).
#[derive(Debug)]
pub struct Check<'a> {
    request: &'a HttpRequest<'a>,
    uri: &'a str,
    rules: &'a DpopRules,
    challenges: &'a Challenges,
    audience: Option<&'a str>,
}

impl<'a> Check<'a> {
    /// The audience the route requires, if any (RFC 8707: the resource it serves). An
    /// [`Engine`] verifies the token for it (a resource the engine serves) rather than for
    /// the engine's own audiences.
    #[must_use]
    pub fn audience(&self) -> Option<&'a str> {
        self.audience
    }

    /// The request: method and the `Authorization` and `DPoP` header fields (every one, so
    /// a repeated field is refused).
    #[must_use]
    pub fn request(&self) -> &'a HttpRequest<'a> {
        self.request
    }

    /// The full URL the client sent the request to, without query: `origin` + path.
    #[must_use]
    pub fn uri(&self) -> &'a str {
        self.uri
    }

    /// The DPoP rules of the [`ResourceServer`] ([`ResourceServer::with_dpop_rules`]).
    #[must_use]
    pub fn dpop_rules(&self) -> &'a DpopRules {
        self.rules
    }

    /// The challenges for [`Check::dpop_rules`].
    #[must_use]
    pub fn challenges(&self) -> &'a Challenges {
        self.challenges
    }
}

/// Where a resource server's keys come from, and how it checks a request with them.
///
/// Implemented for an [`Engine`] (the token is checked with revocation; DPoP proofs' `jti`
/// recorded in its [`ReplayStore`], so a replayed proof is refused by every instance), a
/// [`Verifier`] (sync, no I/O: DPoP proofs are checked but their `jti` is **not** recorded,
/// since a verifier has no store: a replayed proof within its lifetime passes; use an
/// `Engine` or record [`token_engine::VerifiedProof::jti`] yourself where replay matters) and
/// a [`JwksSource`] (as a `Verifier`, refetching the issuer's keys once for an unknown `kid`).
/// Implement it for another source (introspection, say).
pub trait KeySource: Send + Sync + 'static {
    /// Check the request's credentials: the token, its DPoP proof when bound (RFC 9449 §7)
    /// and, where the source can, revocation. The claims, or the refusal to send with its
    /// challenges.
    fn verify<T: DeserializeOwned + Send>(
        &self,
        check: &Check<'_>,
    ) -> impl Future<Output = Result<AccessTokenClaims<'static, T>, HttpResponse>> + Send;

    /// The challenges for the refusals the layer writes itself (a route's audience, scopes,
    /// `acr` or authentication age).
    fn challenges(&self, check: &Check<'_>) -> Challenges {
        check.challenges.clone()
    }

    /// Now, Unix seconds, by the source's clock: when a route's authentication-age
    /// requirement is checked. Default: the system clock.
    fn now(&self) -> i64 {
        token_engine::SystemClock.now_unix()
    }
}

impl<S: ReplayStore + 'static> KeySource for Engine<S> {
    async fn verify<T: DeserializeOwned + Send>(
        &self,
        check: &Check<'_>,
    ) -> Result<AccessTokenClaims<'static, T>, HttpResponse> {
        // The credentials read the same under any challenges; the engine's own (its DPoP
        // algorithms and nonce, the resource's metadata) are written only for a refusal.
        let Ok(credentials) = check.challenges.credentials(check.request) else {
            let challenges = KeySource::challenges(self, check);
            return Err(match challenges.credentials(check.request) {
                Err(refusal) => refusal,
                Ok(_) => {
                    HttpResponse::from_error(&Error::Config("credentials read twice differently"))
                }
            });
        };
        self.verify_resource_request_for::<T>(
            check.audience,
            credentials.authorization(),
            credentials.dpop(),
            check.request.method(),
            check.uri,
        )
        .await
        .map_err(|e| KeySource::challenges(self, check).refusal(&credentials, &e))
    }

    /// The engine's challenges (its DPoP algorithms and nonce), naming the resource
    /// server's metadata document when it has one, else the engine's.
    fn challenges(&self, check: &Check<'_>) -> Challenges {
        let own = Engine::challenges(self);
        match check.challenges.resource_metadata() {
            Some(url) => own.with_resource_metadata(Some(url.to_owned())),
            None => own,
        }
    }

    fn now(&self) -> i64 {
        self.now_unix()
    }
}

impl KeySource for Verifier {
    async fn verify<T: DeserializeOwned + Send>(
        &self,
        check: &Check<'_>,
    ) -> Result<AccessTokenClaims<'static, T>, HttpResponse> {
        let credentials = check.challenges.credentials(check.request)?;
        verify_dpop::<T>(self, check, &credentials)
            .map_err(|e| check.challenges.refusal(&credentials, &e))
    }

    fn now(&self) -> i64 {
        self.now_unix()
    }
}

fn verify_dpop<T: DeserializeOwned>(
    verifier: &Verifier,
    check: &Check<'_>,
    credentials: &Credentials<'_>,
) -> Result<AccessTokenClaims<'static, T>, Error> {
    verifier
        .verify_dpop_as::<T>(
            credentials.authorization(),
            credentials.dpop(),
            check.request.method(),
            check.uri,
            check.rules,
        )
        .map(|(claims, _)| claims)
}

impl<F: JwksFetcher> KeySource for JwksSource<F> {
    async fn verify<T: DeserializeOwned + Send>(
        &self,
        check: &Check<'_>,
    ) -> Result<AccessTokenClaims<'static, T>, HttpResponse> {
        let credentials = check.challenges.credentials(check.request)?;
        let refuse = |e: Error| check.challenges.refusal(&credentials, &e);
        match verify_dpop::<T>(self.verifier(), check, &credentials) {
            Err(Error::InvalidToken(TokenError::UnknownKeyId)) => {
                // A key the source has not fetched yet: the source refetches (within its
                // cooldown) while verifying the token, then the DPoP check runs again.
                let token = credentials
                    .authorization()
                    .split_once(' ')
                    .map_or("", |(_, t)| t.trim());
                self.verify_as::<IgnoredAny>(token).await.map_err(refuse)?;
                verify_dpop::<T>(self.verifier(), check, &credentials).map_err(refuse)
            }
            other => other.map_err(refuse),
        }
    }

    fn now(&self) -> i64 {
        self.verifier().now_unix()
    }
}

struct Shared<K> {
    keys: K,
    origin: String,
    rules: DpopRules,
}

/// The refusals' challenges and, when the resource publishes one, its metadata (RFC 9728).
#[derive(Debug)]
struct Published {
    challenges: Challenges,
    metadata: Option<ProtectedResource>,
}

/// A resource server: where its keys come from and the origin its clients call (behind a
/// proxy, the public one: a DPoP proof's `htu` is the URL the client used, `origin` + path).
/// Cheap to clone.
///
/// ```no_run
/// # async fn demo(engine: token_engine::Engine<token_engine::MemoryStore>) {
/// use axum::{Router, routing::get};
/// use token_engine_axum::{Claims, ResourceServer};
///
/// async fn orders(claims: Claims) -> String {
///     format!("orders of {}", claims.sub.as_deref().unwrap_or("?"))
/// }
///
/// let api = ResourceServer::new(engine, "https://api.example.com");
/// let app: Router = Router::new().route(
///     "/orders",
///     get(orders).route_layer(api.require().scopes(["orders:read"])),
/// );
/// # }
/// ```
pub struct ResourceServer<K> {
    shared: Arc<Shared<K>>,
    published: Arc<Published>,
}

impl<K> Clone for ResourceServer<K> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            published: Arc::clone(&self.published),
        }
    }
}

impl<K> core::fmt::Debug for ResourceServer<K> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ResourceServer")
            .field("origin", &self.shared.origin)
            .finish_non_exhaustive()
    }
}

impl<K: KeySource> ResourceServer<K> {
    /// A resource server checking tokens with `keys`, reached by clients at `origin`
    /// (`https://api.example.com`, no path; a trailing `/` is dropped).
    pub fn new(keys: K, origin: impl Into<String>) -> Self {
        Self::with_dpop_rules(keys, origin, DpopRules::default())
    }

    fn build(keys: K, origin: String, rules: DpopRules) -> Self {
        let challenges = Challenges::new(&rules);
        Self {
            shared: Arc::new(Shared {
                keys,
                origin,
                rules,
            }),
            published: Arc::new(Published {
                challenges,
                metadata: None,
            }),
        }
    }

    /// Publish `metadata` (RFC 9728) for this resource server: every refusal names it
    /// (`resource_metadata`, RFC 9728 §5.1), every route requires tokens for its resource
    /// (`aud`, RFC 8707: a token of the same issuer for another resource is `401`
    /// `invalid_token`), and [`ResourceServer::metadata_router`] serves it. Layers made
    /// before this call keep what they were made with.
    #[must_use]
    pub fn with_metadata(self, metadata: ProtectedResource) -> Self {
        let challenges = self
            .published
            .challenges
            .clone()
            .with_resource_metadata(Some(metadata.metadata_url()));
        Self {
            shared: self.shared,
            published: Arc::new(Published {
                challenges,
                metadata: Some(metadata),
            }),
        }
    }

    /// The resource's metadata, if published ([`ResourceServer::with_metadata`]).
    #[must_use]
    pub fn metadata(&self) -> Option<&ProtectedResource> {
        self.published.metadata.as_ref()
    }

    /// A router serving the metadata document at its well-known path (RFC 9728 §3, `GET`,
    /// CORS for browsers); empty without [`ResourceServer::with_metadata`]. Merge it into the
    /// application's router at the root of the resource's origin.
    pub fn metadata_router<St: Clone + Send + Sync + 'static>(&self) -> axum::Router<St> {
        let Some(metadata) = self.published.metadata.clone() else {
            return axum::Router::new();
        };
        let path = metadata.well_known_path();
        let path = path.split('?').next().unwrap_or("").to_owned();
        let metadata = Arc::new(metadata);
        axum::Router::new().route(
            &path,
            axum::routing::any(move |request: Request<axum::body::Body>| {
                let metadata = Arc::clone(&metadata);
                async move {
                    let (parts, _) = request.into_parts();
                    let mut req = HttpRequest::new(parts.method.as_str());
                    if let Some(origin) = parts.headers.get(http::header::ORIGIN) {
                        req = req.header_bytes("origin", origin.as_bytes());
                    }
                    if parts.method == http::Method::OPTIONS {
                        return token_engine::http::Endpoint::Metadata
                            .preflight(&req)
                            .into_http()
                            .map(axum::body::Body::from);
                    }
                    metadata
                        .endpoint(&req)
                        .into_http()
                        .map(axum::body::Body::from)
                }
            }),
        )
    }

    /// [`ResourceServer::new`] with these DPoP rules for a [`Verifier`] or [`JwksSource`]
    /// (an [`Engine`] uses its own; default [`DpopRules::default`]).
    pub fn with_dpop_rules(keys: K, origin: impl Into<String>, rules: DpopRules) -> Self {
        let mut origin = origin.into();
        while origin.ends_with('/') {
            origin.pop();
        }
        Self::build(keys, origin, rules)
    }

    /// The key source.
    #[must_use]
    pub fn keys(&self) -> &K {
        &self.shared.keys
    }

    /// A layer for a route that takes any valid token (for this resource, when it publishes
    /// metadata); add requirements with [`TokenLayer::scopes`], [`TokenLayer::audience`],
    /// [`TokenLayer::acr_values`] and [`TokenLayer::max_auth_age`], and the application's
    /// claims type with [`TokenLayer::claims`].
    #[must_use]
    pub fn require(&self) -> TokenLayer<K> {
        TokenLayer {
            server: self.clone(),
            requirements: Arc::new(self.base_requirements()),
            claims: PhantomData,
        }
    }

    /// What every route requires: the published resource as audience, if any.
    fn base_requirements(&self) -> Requirements {
        self.published
            .metadata
            .as_ref()
            .map_or_else(Requirements::new, ProtectedResource::requirements)
    }

    /// Check one request without a layer (what the layer does): the claims as the
    /// application's `T`, or the refusal to send.
    pub async fn check<T: DeserializeOwned + Send + Sync + 'static>(
        &self,
        parts: &http::request::Parts,
    ) -> Result<Claims<T>, crate::Rejection> {
        let uri = external_url(&self.shared.origin, &parts.uri, &parts.extensions);
        let creds = Creds {
            method: &parts.method,
            uri: &uri,
            headers: &parts.headers,
        };
        self.authorize::<T>(&creds, &self.base_requirements())
            .await
            .map_err(crate::Rejection::from)
    }

    async fn authorize<T: DeserializeOwned + Send + Sync + 'static>(
        &self,
        creds: &Creds<'_>,
        requirements: &Requirements,
    ) -> Result<Claims<T>, HttpResponse> {
        #[cfg(feature = "metrics")]
        let started = std::time::Instant::now();
        let mut request = HttpRequest::new(creds.method.as_str());
        // Every `Authorization` and `DPoP` field, repeats included (the library refuses them),
        // found by walking the fields: no lookup hashes a name.
        for (name, value) in creds.headers {
            if *name == http::header::AUTHORIZATION || name.as_str() == "dpop" {
                request = request.header_bytes(name.as_str(), value.as_bytes());
            }
        }
        let shared = &*self.shared;
        let check = Check {
            request: &request,
            uri: creds.uri,
            rules: &shared.rules,
            challenges: &self.published.challenges,
            audience: requirements.audience_required(),
        };
        let result = shared.keys.verify::<T>(&check).await;
        #[cfg(feature = "metrics")]
        crate::metrics::record_verify(
            started.elapsed(),
            result.as_ref().err().map(HttpResponse::status),
        );
        let claims = result?;
        if *requirements != Requirements::default() {
            // RFC 6750 §3.1 (audience: `invalid_token`; scopes: `insufficient_scope`), RFC
            // 9470 §3 (`insufficient_user_authentication`), written by the library: checked
            // under the configured challenges (no copy), written under the key source's.
            let now = shared.keys.now();
            let plain = &self.published.challenges;
            let passes = plain
                .credentials(&request)
                .is_ok_and(|c| plain.require(&c, &claims, requirements, now).is_ok());
            if !passes {
                let challenges = shared.keys.challenges(&check);
                let credentials = challenges.credentials(&request)?;
                challenges.require(&credentials, &claims, requirements, now)?;
            }
        }
        Ok(Claims::new(claims))
    }
}

/// What the check reads of a request: its method, the URL the client used (built once per
/// request, for the DPoP proof's `htu`) and its header fields, borrowed.
struct Creds<'r> {
    method: &'r http::Method,
    uri: &'r str,
    headers: &'r http::HeaderMap,
}

/// The URL the client used: the external origin and the path as the client sent it (under
/// `Router::nest` the path the route sees is shortened; the original is in `OriginalUri`).
fn external_url(origin: &str, uri: &http::Uri, extensions: &http::Extensions) -> String {
    let path = extensions
        .get::<axum::extract::OriginalUri>()
        .map_or_else(|| uri.path(), |o| o.0.path());
    let mut url = String::with_capacity(origin.len() + path.len());
    url.push_str(origin);
    url.push_str(path);
    url
}

/// The tower [`Layer`] of a protected route (from [`ResourceServer::require`]): `T` is the
/// application's claims type the handlers read with [`Claims<T>`].
pub struct TokenLayer<K, T = NoCustomClaims> {
    server: ResourceServer<K>,
    requirements: Arc<Requirements>,
    claims: PhantomData<fn() -> T>,
}

impl<K, T> Clone for TokenLayer<K, T> {
    fn clone(&self) -> Self {
        Self {
            server: self.server.clone(),
            requirements: Arc::clone(&self.requirements),
            claims: PhantomData,
        }
    }
}

impl<K, T> core::fmt::Debug for TokenLayer<K, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TokenLayer")
            .field("requirements", &self.requirements)
            .finish_non_exhaustive()
    }
}

impl<K, T> TokenLayer<K, T> {
    fn with(self, f: impl FnOnce(&mut Requirements)) -> Self {
        let mut requirements = (*self.requirements).clone();
        f(&mut requirements);
        Self {
            server: self.server,
            requirements: Arc::new(requirements),
            claims: PhantomData,
        }
    }

    /// The scopes the token must grant (every one); else `403` `insufficient_scope` naming
    /// them (RFC 6750 §3.1).
    #[must_use]
    pub fn scopes<I, S>(self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.with(|r| *r = core::mem::take(r).scopes(scopes))
    }

    /// An audience the token's `aud` must name, beyond the key source's own audience check
    /// (one API of several behind one issuer); else `401` `invalid_token`.
    #[must_use]
    pub fn audience(self, audience: impl Into<String>) -> Self {
        let audience = audience.into();
        self.with(|r| *r = core::mem::take(r).audience(audience))
    }

    /// Step-up (RFC 9470): the token's `acr` must be one of `values`, else `401`
    /// `insufficient_user_authentication` with `acr_values`, so the client sends the user
    /// back to log in more strongly.
    #[must_use]
    pub fn acr_values<I, S>(self, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.with(|r| *r = core::mem::take(r).acr_values(values))
    }

    /// Step-up (RFC 9470): the user must have authenticated at most `max_age` ago (the
    /// token's `auth_time`, by the key source's clock), else `401`
    /// `insufficient_user_authentication` with `max_age`.
    #[must_use]
    pub fn max_auth_age(self, max_age: time::Duration) -> Self {
        self.with(|r| *r = core::mem::take(r).max_auth_age(max_age))
    }

    /// Read the token's application claims as `U` (the handlers extract [`Claims<U>`]). A
    /// token whose claims do not decode as `U` is refused as `invalid_token`.
    #[must_use]
    pub fn claims<U>(self) -> TokenLayer<K, U> {
        TokenLayer {
            server: self.server,
            requirements: self.requirements,
            claims: PhantomData,
        }
    }
}

impl<S, K, T> Layer<S> for TokenLayer<K, T> {
    type Service = TokenService<S, K, T>;

    fn layer(&self, inner: S) -> Self::Service {
        TokenService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The [`Service`] of a [`TokenLayer`].
pub struct TokenService<S, K, T = NoCustomClaims> {
    inner: S,
    layer: TokenLayer<K, T>,
}

impl<S: Clone, K, T> Clone for TokenService<S, K, T> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            layer: self.layer.clone(),
        }
    }
}

impl<S, K, T> core::fmt::Debug for TokenService<S, K, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TokenService")
            .field("layer", &self.layer)
            .finish_non_exhaustive()
    }
}

impl<S, K, T, B, R> Service<Request<B>> for TokenService<S, K, T>
where
    S: Service<Request<B>, Response = Response<R>> + Clone + Send + 'static,
    S::Future: Send,
    K: KeySource,
    T: DeserializeOwned + Send + Sync + 'static,
    B: Send + 'static,
    R: From<String>,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<R>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        // The clone that was driven to readiness serves this request (tower's advice).
        let clone = self.inner.clone();
        let mut inner = core::mem::replace(&mut self.inner, clone);
        let layer = self.layer.clone();
        let uri = external_url(
            &layer.server.shared.origin,
            request.uri(),
            request.extensions(),
        );
        let method = request.method().clone();
        // The header fields are lent to the check, not copied (a body need not be `Sync`, so
        // the future cannot hold a borrow of the whole request), and put back before the
        // request goes on.
        let headers = core::mem::take(request.headers_mut());
        Box::pin(async move {
            let creds = Creds {
                method: &method,
                uri: &uri,
                headers: &headers,
            };
            let result = layer
                .server
                .authorize::<T>(&creds, &layer.requirements)
                .await;
            *request.headers_mut() = headers;
            match result {
                Ok(claims) => {
                    request.extensions_mut().insert(claims);
                    inner.call(request).await
                }
                Err(refusal) => Ok(refusal.into_http().map(R::from)),
            }
        })
    }
}
