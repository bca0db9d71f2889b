//! [`HttpFetcher`]: a [`JwksFetcher`] over reqwest (feature `fetch`).

use core::fmt;
use std::time::Duration;

use token_engine::jwks::{JwksFetcher, JwksResponse};

/// Largest JWK Set read: the library's default limit (`JwksOptions::max_bytes`).
const MAX_BYTES: usize = 256 * 1024;

/// Fetches a JWK Set with reqwest (rustls): one `GET`, a success status required, the body
/// read up to 256 KiB, the lifetime from `Cache-Control`; sleeps on tokio.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use token_engine::{JwksSource, Validation};
/// use token_engine_axum::{HttpFetcher, ResourceServer};
///
/// let source = JwksSource::builder(
///     "https://auth.example.com/jwks.json",
///     HttpFetcher::new()?,
///     Validation::new("https://auth.example.com", "https://api.example.com"),
/// )
/// .build()
/// .await?;
/// tokio::spawn(source.keep_fresh());
/// let api = ResourceServer::new(source, "https://api.example.com");
/// # let _ = api; Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct HttpFetcher {
    client: reqwest::Client,
}

impl HttpFetcher {
    /// A fetcher with its own client: 5 s to connect, 10 s in all.
    pub fn new() -> Result<Self, FetchError> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(FetchError::Http)?;
        Ok(Self { client })
    }

    /// A fetcher over the application's client.
    #[must_use]
    pub fn with_client(client: reqwest::Client) -> Self {
        Self { client }
    }
}

/// Why a fetch failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum FetchError {
    /// The request failed, or its status was not a success.
    Http(reqwest::Error),
    /// The document is larger than 256 KiB.
    TooLarge,
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Http(e) => write!(f, "JWKS request failed: {e}"),
            FetchError::TooLarge => write!(f, "JWKS document over {MAX_BYTES} bytes"),
        }
    }
}

impl std::error::Error for FetchError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FetchError::Http(e) => Some(e),
            FetchError::TooLarge => None,
        }
    }
}

impl JwksFetcher for HttpFetcher {
    type Error = FetchError;

    async fn fetch(&self, url: &str) -> Result<JwksResponse, FetchError> {
        let mut response = self
            .client
            .get(url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(FetchError::Http)?;
        let cache_control = response
            .headers()
            .get(http::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(FetchError::Http)? {
            if body.len().saturating_add(chunk.len()) > MAX_BYTES {
                return Err(FetchError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        let document = JwksResponse::new(body);
        Ok(match cache_control {
            Some(cc) => document.cache_control(&cc),
            None => document,
        })
    }

    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}
