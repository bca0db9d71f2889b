//! Client ID metadata documents (draft-ietf-oauth-client-id-metadata-document): a client
//! whose `client_id` is an `https` URL publishes its metadata at that URL, and the server
//! fetches it instead of keeping a registration. [`ClientMetadataDocuments`] is a
//! [`ClientRegistry`] in front of the application's own: every endpoint call that takes a
//! registry (authorization, PAR, token, revocation, ...) accepts such clients unchanged.
//!
//! The library does no I/O: the application fetches, with its own HTTP client, through
//! [`ClientMetadataFetcher`] (as for [`JwksFetcher`](crate::jwks::JwksFetcher)).
//! [`ClientMetadataDocuments`] is re-exported at the crate root; the fetcher's types and
//! [`ClientMetadataError`] (the reason of [`Error::ClientMetadata`]) are here only.
//!
//! # Limits and defaults
//!
//! | setting | default | why |
//! |---|---|---|
//! | [`max_bytes`](ClientMetadataDocuments::max_bytes) | 5 KiB | a client's metadata is a few hundred bytes; the draft advises a small limit |
//! | [`fetch_timeout`](ClientMetadataDocuments::fetch_timeout) | 5 s | a document that answers slowly holds up the user's request; the fetch is dropped when the fetcher's sleep ends first |
//! | [`cache_bounds`](ClientMetadataDocuments::cache_bounds) | 5 min when the response names no lifetime, 24 h at most | never longer than the response's `Cache-Control` allows (`no-store`: not cached) |
//! | [`max_entries`](ClientMetadataDocuments::max_entries) | 1024 | bounded memory whatever URLs requests name; expired entries go first, then the one expiring soonest |
//!
//! Failures are not cached: every request naming an uncached URL costs one fetch (bounded by
//! the timeout). Rate-limit requests per client IP in front of the authorization endpoint if
//! that matters.
//!
//! # The draft's rules, as checked here
//!
//! - The URL: `https`, a host without user name or password, a path, no fragment, no `.` or
//!   `..` path segments (also percent-encoded), at most 2048 bytes, no whitespace, control
//!   characters or backslash.
//! - The document: a JSON object whose `client_id` equals the URL exactly (byte for byte);
//!   no `client_secret` or `client_secret_expires_at`; `token_endpoint_auth_method` `none`
//!   (the default here, as a public client) or `private_key_jwt` with an inline `jwks`
//!   (`jwks_uri` is not fetched: refused); at least one redirect URI, matched exactly at the
//!   authorization endpoint; `response_types`, if given, `["code"]`; `grant_types` among
//!   `authorization_code` and `refresh_token` (the default: both).
//! - Scope: the document's `scope` is what the client asks for; it is granted only the part
//!   that [`allow_scopes`](ClientMetadataDocuments::allow_scopes) allows (none by default).
//!
//! # SSRF: what the application's fetch MUST do
//!
//! The URL comes from an unauthenticated request, so the fetch is a request an attacker
//! chooses. The [`ClientMetadataFetcher`] MUST:
//!
//! - resolve the host itself and refuse, at connection time (after DNS, so a rebinding name
//!   cannot slip through), loopback, private (RFC 1918, `fc00::/7`), link-local
//!   (`169.254.0.0/16` with the cloud metadata address, `fe80::/10`), CGNAT (`100.64.0.0/10`),
//!   unspecified, multicast and other non-global addresses;
//! - not follow redirects (or re-check each hop as above; the document's `client_id` must
//!   still equal the original URL, which this crate checks);
//! - send no cookies or credentials, use `GET` with `Accept: application/json`;
//! - read at most [`max_bytes`](ClientMetadataDocuments::max_bytes) of the body (stop
//!   reading past it: this crate refuses a larger body anyway), and treat any non-`200`
//!   status as an error;
//! - use its own connect and read timeouts too (this crate drops the future at its timeout,
//!   which cancels it with any async client).

use std::collections::HashMap;
use std::future::{Future, poll_fn};
use std::pin::pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Poll;

use serde::Deserialize;
use serde_json::{Map, Value};
use time::Duration;

use crate::client::{Client, ClientAuthMethod, GrantType, parse_scope};
use crate::client_auth::ClientRegistry;
use crate::clock::{Clock, SystemClock};
use crate::error::Error;
use crate::jose::{Jwks, JwksOptions};

/// Longest client ID URL accepted.
pub const MAX_CLIENT_ID_URL_LEN: usize = 2048;
/// Most redirect URIs a document may list.
const MAX_REDIRECT_URIS: usize = 32;

/// Fetches client ID metadata documents with the application's HTTP client, and sleeps with
/// its runtime (for the timeout). Read the SSRF rules in the [module docs](self) first.
pub trait ClientMetadataFetcher: Send + Sync + 'static {
    /// What a failed fetch reports.
    type Error: std::error::Error + Send + Sync + 'static;

    /// `GET url` and return the body and its cache lifetime; any status but `200` is an
    /// error. The future may be dropped before it completes (the timeout).
    fn fetch(
        &self,
        url: &str,
    ) -> impl Future<Output = Result<ClientMetadataResponse, Self::Error>> + Send;

    /// Complete after `duration`.
    fn sleep(&self, duration: std::time::Duration) -> impl Future<Output = ()> + Send;
}

/// A fetched metadata document and how long it may be cached.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientMetadataResponse {
    /// The body: UTF-8 JSON.
    pub body: Vec<u8>,
    /// How long it may be cached (`None`: unstated, the default applies).
    pub max_age: Option<Duration>,
}

impl ClientMetadataResponse {
    /// A document with no stated lifetime.
    #[must_use]
    pub fn new(body: impl Into<Vec<u8>>) -> Self {
        Self {
            body: body.into(),
            max_age: None,
        }
    }

    /// The lifetime a `Cache-Control` header states, read as
    /// [`JwksResponse::cache_control`](crate::jwks::JwksResponse::cache_control) reads it
    /// (`no-store` and `no-cache`: zero, not cached).
    #[must_use]
    pub fn cache_control(mut self, header: &str) -> Self {
        self.max_age = crate::jwks::JwksResponse::new(Vec::new())
            .cache_control(header)
            .max_age;
        self
    }
}

/// Why a client ID metadata document was not accepted.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientMetadataError {
    /// The `client_id` is not a URL the draft allows (scheme, credentials, path, fragment,
    /// dot segments, length).
    #[error("client id URL not allowed: {0}")]
    InvalidUrl(&'static str),
    /// The application's fetch failed.
    #[error("fetch failed: {0}")]
    Fetch(#[source] Arc<dyn std::error::Error + Send + Sync>),
    /// The fetch did not complete within the timeout.
    #[error("fetch timed out")]
    TimedOut,
    /// The body is larger than the limit.
    #[error("document too large")]
    TooLarge,
    /// The body is not a JSON object of client metadata.
    #[error("malformed document")]
    Malformed,
    /// The document's `client_id` differs from the URL it was fetched from.
    #[error("document client_id differs from its URL")]
    ClientIdMismatch,
    /// The document holds a client secret.
    #[error("document holds a client secret")]
    SecretInDocument,
    /// `token_endpoint_auth_method` is not `none` or `private_key_jwt` (with a usable inline
    /// `jwks`).
    #[error("token_endpoint_auth_method not allowed")]
    AuthMethodNotAllowed,
    /// No redirect URI, too many, or one that is not an absolute URI without a fragment.
    #[error("invalid redirect URIs")]
    InvalidRedirectUris,
    /// A `grant_types` or `response_types` value this server does not give such clients.
    #[error("grant or response type not allowed")]
    TypeNotAllowed,
}

impl From<ClientMetadataError> for Error {
    fn from(e: ClientMetadataError) -> Self {
        Error::ClientMetadata(e)
    }
}

/// A JSON object whose top-level members are all distinct (a member sent twice is an
/// ambiguity two parsers may read differently: refused). `None` for anything else.
pub(crate) fn strict_object(json: &[u8]) -> Option<Map<String, Value>> {
    struct Strict(Map<String, Value>);
    impl<'de> Deserialize<'de> for Strict {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> serde::de::Visitor<'de> for V {
                type Value = Strict;
                fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                    f.write_str("a JSON object")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut map: A,
                ) -> Result<Strict, A::Error> {
                    let mut out = Map::new();
                    while let Some((k, v)) = map.next_entry::<String, Value>()? {
                        if out.insert(k, v).is_some() {
                            return Err(serde::de::Error::custom("a member is repeated"));
                        }
                    }
                    Ok(Strict(out))
                }
            }
            d.deserialize_map(V)
        }
    }
    serde_json::from_slice::<Strict>(json).ok().map(|s| s.0)
}

/// The members of a document this crate reads.
#[derive(Deserialize)]
struct Document {
    client_id: String,
    #[serde(default)]
    redirect_uris: Vec<String>,
    #[serde(default)]
    token_endpoint_auth_method: Option<String>,
    #[serde(default)]
    grant_types: Option<Vec<String>>,
    #[serde(default)]
    response_types: Option<Vec<String>>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    jwks: Option<Value>,
}

struct Entry {
    client: Client,
    expires_at: i64,
}

/// A [`ClientRegistry`] that resolves `https` client IDs through their metadata documents,
/// in front of the application's own registry `R` (asked first, for every id). The rules,
/// limits and the SSRF duties of the fetch are in the [module docs](self).
///
/// A document that fails any check makes the client unknown (`None`: the authorization
/// endpoint's error page, `invalid_client` at the token endpoint); [`resolve`](Self::resolve)
/// says why. Cheap to share behind an `Arc`; the cache is per instance.
pub struct ClientMetadataDocuments<F, R> {
    fetcher: F,
    inner: R,
    scopes: Vec<String>,
    max_bytes: usize,
    timeout: std::time::Duration,
    default_lifetime: i64,
    max_lifetime: i64,
    max_entries: usize,
    clock: Arc<dyn Clock>,
    cache: Mutex<HashMap<String, Entry>>,
}

impl<F, R> core::fmt::Debug for ClientMetadataDocuments<F, R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ClientMetadataDocuments")
            .field("max_bytes", &self.max_bytes)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl<F: ClientMetadataFetcher, R: ClientRegistry> ClientMetadataDocuments<F, R> {
    /// Resolve `https` client IDs with `fetcher`, after asking `inner` (the application's
    /// registry; `Vec::<Client>::new()` for none).
    pub fn new(fetcher: F, inner: R) -> Self {
        Self {
            fetcher,
            inner,
            scopes: Vec::new(),
            max_bytes: 5 * 1024,
            timeout: std::time::Duration::from_secs(5),
            default_lifetime: 300,
            max_lifetime: 24 * 3600,
            max_entries: 1024,
            clock: Arc::new(SystemClock),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The scopes a metadata-document client may be granted (of those its document asks
    /// for). None by default.
    #[must_use]
    pub fn allow_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes.extend(scopes.into_iter().map(Into::into));
        self
    }

    /// Largest document accepted, in bytes (default 5 KiB, at most 64 KiB).
    #[must_use]
    pub fn max_bytes(mut self, max: usize) -> Self {
        self.max_bytes = max.clamp(1, 64 * 1024);
        self
    }

    /// How long a fetch may take (default 5 s, at most 30 s).
    #[must_use]
    pub fn fetch_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.timeout = timeout.min(std::time::Duration::from_secs(30));
        self
    }

    /// How long a document is cached when its response names no lifetime, and at most
    /// (defaults 5 min and 24 h; whole seconds, the default at most the maximum).
    #[must_use]
    pub fn cache_bounds(mut self, default: Duration, max: Duration) -> Self {
        self.max_lifetime = max.whole_seconds().max(0);
        self.default_lifetime = default.whole_seconds().clamp(0, self.max_lifetime);
        self
    }

    /// Most cached documents (default 1024; 0 turns the cache off).
    #[must_use]
    pub fn max_entries(mut self, max: usize) -> Self {
        self.max_entries = max;
        self
    }

    /// Read time from `clock` (tests).
    #[must_use]
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The fetcher.
    #[must_use]
    pub fn fetcher(&self) -> &F {
        &self.fetcher
    }

    /// The application's registry behind this one.
    #[must_use]
    pub fn inner(&self) -> &R {
        &self.inner
    }

    /// The client the document at `url` describes: from the cache while its lifetime lasts,
    /// else fetched and checked. Every refusal is [`Error::ClientMetadata`] with the reason.
    pub async fn resolve(&self, url: &str) -> Result<Client, Error> {
        check_client_id_url(url)?;
        let now = self.clock.now_unix();
        if let Some(e) = self.lock().get(url).filter(|e| now < e.expires_at) {
            return Ok(e.client.clone());
        }
        let response = {
            let mut fetch = pin!(self.fetcher.fetch(url));
            let mut sleep = pin!(self.fetcher.sleep(self.timeout));
            poll_fn(|cx| {
                if let Poll::Ready(r) = fetch.as_mut().poll(cx) {
                    return Poll::Ready(Some(r));
                }
                sleep.as_mut().poll(cx).map(|()| None)
            })
            .await
        };
        let response = match response {
            None => return Err(ClientMetadataError::TimedOut.into()),
            Some(Err(e)) => return Err(ClientMetadataError::Fetch(Arc::new(e)).into()),
            Some(Ok(r)) => r,
        };
        let client = self.client_of(url, &response.body)?;
        let lifetime = response
            .max_age
            .map_or(self.default_lifetime, |d| d.whole_seconds())
            .clamp(0, self.max_lifetime);
        let now = self.clock.now_unix();
        if lifetime > 0 && self.max_entries > 0 {
            let mut cache = self.lock();
            if cache.len() >= self.max_entries && !cache.contains_key(url) {
                cache.retain(|_, e| now < e.expires_at);
                if cache.len() >= self.max_entries {
                    let soonest = cache
                        .iter()
                        .min_by_key(|(_, e)| e.expires_at)
                        .map(|(k, _)| k.clone());
                    if let Some(k) = soonest {
                        cache.remove(&k);
                    }
                }
            }
            cache.insert(
                url.to_owned(),
                Entry {
                    client: client.clone(),
                    expires_at: now.saturating_add(lifetime),
                },
            );
        }
        Ok(client)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Check a fetched document and make its client.
    fn client_of(&self, url: &str, body: &[u8]) -> Result<Client, ClientMetadataError> {
        use ClientMetadataError as E;
        if body.len() > self.max_bytes {
            return Err(E::TooLarge);
        }
        let object = strict_object(body).ok_or(E::Malformed)?;
        if object.contains_key("client_secret") || object.contains_key("client_secret_expires_at") {
            return Err(E::SecretInDocument);
        }
        let doc: Document =
            serde_json::from_value(Value::Object(object)).map_err(|_| E::Malformed)?;
        if doc.client_id != url {
            return Err(E::ClientIdMismatch);
        }
        let mut client = match doc.token_endpoint_auth_method.as_deref() {
            None | Some("none") => Client::new(url),
            Some("private_key_jwt") => {
                let jwks = doc.jwks.as_ref().ok_or(E::AuthMethodNotAllowed)?;
                let keys = Jwks::parse(&jwks.to_string(), &JwksOptions::default())
                    .map_err(|_| E::AuthMethodNotAllowed)?
                    .keys;
                if keys.is_empty() {
                    return Err(E::AuthMethodNotAllowed);
                }
                Client::confidential(url, ClientAuthMethod::PrivateKeyJwt(keys))
            }
            Some(_) => return Err(E::AuthMethodNotAllowed),
        };
        if doc.redirect_uris.is_empty()
            || doc.redirect_uris.len() > MAX_REDIRECT_URIS
            || !doc.redirect_uris.iter().all(|u| is_redirect_uri(u))
        {
            return Err(E::InvalidRedirectUris);
        }
        for uri in doc.redirect_uris {
            client = client.redirect_uri(uri);
        }
        if doc
            .response_types
            .is_some_and(|t| t.iter().any(|t| t != "code"))
        {
            return Err(E::TypeNotAllowed);
        }
        let grants = match doc.grant_types {
            None => vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            Some(names) => names
                .iter()
                .map(|g| match GrantType::parse(g) {
                    Some(g @ (GrantType::AuthorizationCode | GrantType::RefreshToken)) => Ok(g),
                    _ => Err(E::TypeNotAllowed),
                })
                .collect::<Result<Vec<_>, _>>()?,
        };
        let asked = match doc.scope.as_deref() {
            Some(s) => parse_scope(s).map_err(|_| E::Malformed)?,
            None => self.scopes.iter().map(String::as_str).collect(),
        };
        let granted: Vec<&str> = asked
            .into_iter()
            .filter(|s| self.scopes.iter().any(|a| a == s))
            .collect();
        Ok(client.grant_types(grants).allow_scopes(granted))
    }
}

/// An `https` client ID whose document this registry resolves (any other id goes only to the
/// application's registry).
fn is_document_url(id: &str) -> bool {
    id.starts_with("https://")
}

impl<F: ClientMetadataFetcher, R: ClientRegistry> ClientRegistry for ClientMetadataDocuments<F, R> {
    async fn client(&self, id: &str) -> Result<Option<Client>, Error> {
        if let Some(c) = self.inner.client(id).await? {
            return Ok(Some(c));
        }
        if !is_document_url(id) {
            return Ok(None);
        }
        match self.resolve(id).await {
            Ok(c) => Ok(Some(c)),
            Err(Error::ClientMetadata(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// The draft's rules for a client ID URL (§3).
pub(crate) fn check_client_id_url(url: &str) -> Result<(), ClientMetadataError> {
    use ClientMetadataError::InvalidUrl as Bad;
    if url.len() > MAX_CLIENT_ID_URL_LEN {
        return Err(Bad("too long"));
    }
    if url
        .bytes()
        .any(|b| b.is_ascii_control() || b == b' ' || b == b'\\' || b >= 0x80)
    {
        return Err(Bad("characters"));
    }
    let rest = url.strip_prefix("https://").ok_or(Bad("not https"))?;
    if url.contains('#') {
        return Err(Bad("fragment"));
    }
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, rest) = rest.split_at(end);
    if authority.is_empty() || authority.starts_with(':') {
        return Err(Bad("no host"));
    }
    if authority.contains('@') {
        return Err(Bad("credentials"));
    }
    let path = rest.split('?').next().unwrap_or("");
    if path.is_empty() {
        return Err(Bad("no path"));
    }
    let dot = |s: &str| {
        let s = s.to_ascii_lowercase().replace("%2e", ".");
        s == "." || s == ".."
    };
    if path.split('/').any(dot) {
        return Err(Bad("dot segment"));
    }
    Ok(())
}

/// A redirect URI a document may list: an absolute URI with a scheme, no fragment, bounded.
fn is_redirect_uri(uri: &str) -> bool {
    let scheme_ok = uri.split_once(':').is_some_and(|(s, rest)| {
        !rest.is_empty()
            && s.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
    });
    scheme_ok
        && uri.len() <= MAX_CLIENT_ID_URL_LEN
        && !uri.contains('#')
        && !uri.bytes().any(|b| b.is_ascii_control() || b == b' ')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_drafts_url_rules() {
        for ok in [
            "https://client.example/metadata.json",
            "https://client.example:8443/a/b?x=1",
            "https://client.example/",
            "https://client.example/.well-known/client",
        ] {
            assert!(check_client_id_url(ok).is_ok(), "{ok}");
        }
        let long = format!("https://client.example/{}", "a".repeat(2048));
        for bad in [
            "http://client.example/metadata.json",
            "HTTPS://client.example/m",
            "https://client.example",
            "https://client.example?x=1",
            "https://client.example/m#frag",
            "https://user:pw@client.example/m",
            "https://user@client.example/m",
            "https://client.example/a/../m",
            "https://client.example/./m",
            "https://client.example/a/%2E%2e/m",
            "https:///m",
            "https://:443/m",
            "https://client.example/m x",
            "https://client.example\\@evil.example/m",
            "https://client.example/m\n",
            long.as_str(),
        ] {
            assert!(check_client_id_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn redirect_uris_need_a_scheme_and_no_fragment() {
        assert!(is_redirect_uri("https://a.example/cb"));
        assert!(is_redirect_uri("com.example.app:/cb"));
        assert!(is_redirect_uri("http://127.0.0.1:3000/cb"));
        for bad in [
            "/cb",
            "https://a.example/cb#x",
            "1ab:/x",
            ":x",
            "https:",
            "a b:/x",
        ] {
            assert!(!is_redirect_uri(bad), "{bad}");
        }
    }
}
