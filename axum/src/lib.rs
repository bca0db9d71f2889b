//! token-engine on tower and axum, so an OAuth 2.0 deployment in Rust needs no glue:
//!
//! - **Resource servers**: [`ResourceServer`] over a [`KeySource`] (an
//!   [`Engine`](token_engine::Engine) with revocation and DPoP replay protection, a
//!   [`Verifier`](token_engine::Verifier), a [`JwksSource`](token_engine::JwksSource)) and the
//!   origin clients call; [`ResourceServer::require`] is a tower [`TokenLayer`] per route
//!   (scopes, audience, the application's claims type). Bearer (RFC 6750) and DPoP (RFC 9449),
//!   refusals with their challenges exactly as the library writes them; handlers read
//!   [`Claims<T>`].
//!
//! `acr` requirements are not offered: the library's access tokens carry no `acr` claim yet.
//! RFC 9728's `resource_metadata` challenge parameter neither: the library serves no protected
//! resource metadata yet.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod extract;
#[cfg(feature = "metrics")]
mod metrics;
mod resource;
#[cfg(feature = "tracing")]
mod tracing;

pub use extract::{Claims, Rejection};
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub use metrics::MetricsSink;
pub use resource::{Check, KeySource, ResourceServer, TokenLayer, TokenService};
#[cfg(feature = "tracing")]
#[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
pub use tracing::TracingSink;
