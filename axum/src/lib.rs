//! token-engine on tower and axum, so an OAuth 2.0 deployment in Rust needs no glue:
//!
//! - **Resource servers**: [`ResourceServer`] over a [`KeySource`] (an
//!   [`Engine`](token_engine::Engine) with revocation and DPoP replay protection, a
//!   [`Verifier`](token_engine::Verifier), a [`JwksSource`](token_engine::JwksSource)) and the
//!   origin clients call; [`ResourceServer::require`] is a tower [`TokenLayer`] per route
//!   (scopes, audience, `acr` and authentication age for step-up (RFC 9470), the
//!   application's claims type). Bearer (RFC 6750) and DPoP (RFC 9449), refusals with their
//!   challenges exactly as the library writes them; handlers read [`Claims<T>`]. With
//!   [`ResourceServer::with_metadata`] it publishes its protected resource metadata (RFC
//!   9728, [`ResourceServer::metadata_router`]), names it in every challenge, and accepts
//!   only tokens for its resource (RFC 8707).
//! - **Authorization servers**: [`AuthorizationServer`] is one axum `Router` with every
//!   endpoint the library provides and its CORS preflights; the application implements
//!   [`LoginUi`] (its login, consent and device pages), the crate checks the forms' CSRF
//!   tokens ([`csrf`]).
//! - **JWK Sets over HTTP**: `HttpFetcher` (feature `fetch`, reqwest with rustls) is the
//!   `JwksFetcher` of a `JwksSource`.
//! - **Observability**: `TracingSink` (feature `tracing`) and `MetricsSink` (feature
//!   `metrics`, also the layer's verify-latency histogram).

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod csrf;
mod extract;
#[cfg(feature = "fetch")]
mod fetch;
#[cfg(feature = "metrics")]
mod metrics;
mod resource;
mod server;
#[cfg(feature = "tracing")]
mod tracing;
mod ui;

pub use extract::{Claims, Rejection, Verified};
#[cfg(feature = "fetch")]
#[cfg_attr(docsrs, doc(cfg(feature = "fetch")))]
pub use fetch::{FetchError, HttpFetcher};
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub use metrics::MetricsSink;
pub use resource::{Check, KeySource, ResourceServer, TokenLayer, TokenService};
pub use server::{AuthorizationServer, NoUserInfo, Paths, registration_router};
#[cfg(feature = "tracing")]
#[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
pub use tracing::TracingSink;
pub use ui::{DeviceDecision, DeviceForm, LoginForm, LoginUi, Submitted, html_escape};
