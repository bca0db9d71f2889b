//! axum extractors: [`Claims<T>`], the verified claims a [`TokenLayer`](crate::TokenLayer)
//! put in the request, and [`Rejection`], a refusal rendered exactly as the library wrote it.

use core::ops::Deref;
use std::sync::Arc;

use core::marker::PhantomData;

use axum::extract::{FromRef, FromRequestParts};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use serde::de::DeserializeOwned;
use token_engine::jose::NoCustomClaims;
use token_engine::{AccessTokenClaims, HttpResponse};

use crate::{KeySource, ResourceServer};

/// The verified claims of the request's access token, with the application's own claims as
/// `T` (the type given to [`TokenLayer::claims`](crate::TokenLayer::claims)). Derefs to
/// [`AccessTokenClaims`]; cheap to clone.
///
/// As an extractor it reads what the route's [`TokenLayer`](crate::TokenLayer) verified. On a
/// route without the layer (or whose layer reads another `T`) it refuses with `500`: a
/// configuration error, never a pass. Without a layer, extract [`Verified`] (it verifies
/// the request itself with the state's [`ResourceServer`]) or call
/// [`ResourceServer::check`](crate::ResourceServer::check).
pub struct Claims<T = NoCustomClaims>(Arc<AccessTokenClaims<'static, T>>);

impl<T> Claims<T> {
    pub(crate) fn new(claims: AccessTokenClaims<'static, T>) -> Self {
        Self(Arc::new(claims))
    }

    /// The claims, shared.
    #[must_use]
    pub fn into_inner(self) -> Arc<AccessTokenClaims<'static, T>> {
        self.0
    }
}

impl<T> Clone for Claims<T> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<T> Deref for Claims<T> {
    type Target = AccessTokenClaims<'static, T>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl<T: core::fmt::Debug> core::fmt::Debug for Claims<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.0.fmt(f)
    }
}

impl<S: Send + Sync, T: Send + Sync + 'static> FromRequestParts<S> for Claims<T> {
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Rejection> {
        parts
            .extensions
            .get::<Claims<T>>()
            .cloned()
            .ok_or_else(Rejection::no_layer)
    }
}

/// The verified claims of a route without a [`TokenLayer`](crate::TokenLayer): the extractor
/// verifies the request itself with the [`ResourceServer`] in the router's state (any token
/// of that server; check scopes in the handler). Refusals are the same as the layer's.
///
/// ```no_run
/// # async fn demo(engine: token_engine::Engine<token_engine::MemoryStore>) {
/// use axum::{Router, routing::get};
/// use token_engine::{Engine, MemoryStore};
/// use token_engine_axum::{ResourceServer, Verified};
///
/// async fn me(Verified { claims, .. }: Verified<Engine<MemoryStore>>) -> String {
///     claims.sub.as_deref().unwrap_or("").to_owned()
/// }
///
/// let api = ResourceServer::new(engine, "https://api.example.com");
/// let app: Router = Router::new().route("/me", get(me)).with_state(api);
/// # }
/// ```
pub struct Verified<K, T = NoCustomClaims> {
    /// The claims.
    pub claims: Claims<T>,
    keys: PhantomData<fn() -> K>,
}

impl<S, K, T> FromRequestParts<S> for Verified<K, T>
where
    S: Send + Sync,
    K: KeySource,
    ResourceServer<K>: FromRef<S>,
    T: DeserializeOwned + Send + Sync + 'static,
{
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Rejection> {
        let server = ResourceServer::<K>::from_ref(state);
        let claims = server.check::<T>(parts).await?;
        Ok(Self {
            claims,
            keys: PhantomData,
        })
    }
}

/// A refusal: the library's response (status, `WWW-Authenticate` challenges, `DPoP-Nonce`,
/// `Cache-Control`), written out unchanged.
#[derive(Debug)]
pub struct Rejection(HttpResponse);

impl Rejection {
    fn no_layer() -> Self {
        Self(HttpResponse::from_error(&token_engine::Error::Config(
            "token-engine-axum: Claims<T> extracted on a route without a TokenLayer for T",
        )))
    }

    /// The response.
    pub fn response(&self) -> &HttpResponse {
        &self.0
    }
}

impl From<HttpResponse> for Rejection {
    fn from(r: HttpResponse) -> Self {
        Self(r)
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        self.0.into_http().map(axum::body::Body::from)
    }
}
