//! One request and one response shape for every endpoint (the types are re-exported at the
//! crate root; [`Form`] is the strict form parser they use): the application hands over the
//! HTTP request as it arrived ([`HttpRequest`]: method, every header value, query, body, the
//! verified client certificate) and writes back the [`HttpResponse`] unchanged (status,
//! headers, body). With the `http` feature both convert from and to the `http` crate's types.
//!
//! Parsing is strict: a header the endpoint reads that arrives twice is refused (RFC 9449
//! §4.3 for `DPoP`), a form or query parameter sent twice is `invalid_request` (RFC 6749
//! §3.1), sizes are bounded. Every response that carries a token, a code or a secret has
//! `Cache-Control: no-store` and `Pragma: no-cache` (RFC 6749 §5.1).

use core::fmt;

use crate::error::Error;
pub use crate::form::Form;
use crate::form::MAX_FORM_LEN;
use crate::response::ErrorResponse;

/// Most header fields an [`HttpRequest`] may hold when a call reads one of its headers: each
/// read looks through every field, so a call that reads a header refuses a request with more
/// (`invalid_request`; an error page at the authorization endpoint, whose POST form it reads
/// the content type of). That is every endpoint that authenticates a client or reads a token
/// or a `DPoP` proof. Calls that read no header (a GET to the authorization endpoint, the
/// metadata and JWKS endpoints) do no work per field and do not count them.
pub const MAX_HEADERS: usize = 128;

/// An HTTP request as the application received it. Borrowed: building one copies nothing.
///
/// ```
/// use token_engine::HttpRequest;
/// let request = HttpRequest::post("grant_type=client_credentials")
///     .header("Authorization", "Basic cmVwb3J0czpzZWNyZXQ=")
///     .header("Content-Type", "application/x-www-form-urlencoded");
/// assert_eq!(request.method(), "POST");
/// ```
#[derive(Clone, Default)]
pub struct HttpRequest<'a> {
    method: &'a str,
    query: &'a str,
    body: &'a [u8],
    headers: Vec<(&'a str, &'a [u8])>,
    client_cert_sha256: Option<[u8; 32]>,
}

impl fmt::Debug for HttpRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Values may be secrets (credentials, tokens, codes): names and sizes only.
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("query_len", &self.query.len())
            .field("body_len", &self.body.len())
            .field(
                "headers",
                &self.headers.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl<'a> HttpRequest<'a> {
    /// A request with this method (`GET`, `POST`, `OPTIONS`, ...), no headers, no query, no
    /// body.
    #[must_use]
    pub fn new(method: &'a str) -> Self {
        Self {
            method,
            ..Self::default()
        }
    }

    /// A `GET` with this query string (without the `?`).
    #[must_use]
    pub fn get(query: &'a str) -> Self {
        Self::new("GET").query(query)
    }

    /// A `POST` with this form body. Add the `Content-Type` header you received: the
    /// endpoints that take a form require `application/x-www-form-urlencoded`.
    #[must_use]
    pub fn post(body: &'a str) -> Self {
        Self::new("POST").body(body.as_bytes())
    }

    /// Add a header field as received. Add every field, repeated ones included: an endpoint
    /// refuses a repeated header it reads.
    #[must_use]
    pub fn header(mut self, name: &'a str, value: &'a str) -> Self {
        self.headers.push((name, value.as_bytes()));
        self
    }

    /// [`HttpRequest::header`] for a value that may not be UTF-8 (read as invalid if used).
    #[must_use]
    pub fn header_bytes(mut self, name: &'a str, value: &'a [u8]) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The query string, without the `?`.
    #[must_use]
    pub fn query(mut self, query: &'a str) -> Self {
        self.query = query;
        self
    }

    /// The body.
    #[must_use]
    pub fn body(mut self, body: &'a [u8]) -> Self {
        self.body = body;
        self
    }

    /// The SHA-256 of the client certificate the TLS layer verified (RFC 8705): binds the
    /// tokens issued to it. Only set it for a certificate your TLS terminator checked.
    #[must_use]
    pub fn client_cert_sha256(mut self, digest: [u8; 32]) -> Self {
        self.client_cert_sha256 = Some(digest);
        self
    }

    /// The method.
    #[must_use]
    pub fn method(&self) -> &str {
        self.method
    }

    /// The verified client certificate's SHA-256, if any.
    #[must_use]
    pub fn client_cert(&self) -> Option<[u8; 32]> {
        self.client_cert_sha256
    }

    /// The single value of a header (names compare case-insensitively). Absent is `None`; a
    /// header sent more than once, a value that is not UTF-8, or more than [`MAX_HEADERS`]
    /// fields is `invalid_request`.
    pub fn single_header(&self, name: &str) -> Result<Option<&'a str>, Error> {
        if self.headers.len() > MAX_HEADERS {
            return Err(Error::InvalidRequest("too many header fields"));
        }
        let mut found = None;
        for (n, v) in &self.headers {
            if n.eq_ignore_ascii_case(name) {
                if found.is_some() {
                    return Err(Error::InvalidRequest("a header field is repeated"));
                }
                found = Some(*v);
            }
        }
        found
            .map(|v| {
                core::str::from_utf8(v).map_err(|_| Error::InvalidRequest("header is not UTF-8"))
            })
            .transpose()
    }

    /// Whether the method is `m` (case-sensitive, as RFC 9110 §9.1 says).
    pub(crate) fn is(&self, m: &str) -> bool {
        self.method == m
    }

    /// The request's parameters: the form body of a `POST` (with its content type checked),
    /// or the query of a `GET`. Strict: repeats, bad encodings and oversized input refused.
    pub(crate) fn form_body(&self) -> Result<Form, Error> {
        let content_type = self.single_header("content-type")?;
        if !content_type.is_some_and(is_form_content_type) {
            return Err(Error::InvalidRequest(
                "content type must be application/x-www-form-urlencoded",
            ));
        }
        if self.body.len() > MAX_FORM_LEN {
            return Err(Error::InvalidRequest("request body too large"));
        }
        let body = core::str::from_utf8(self.body)
            .map_err(|_| Error::InvalidRequest("malformed form encoding"))?;
        Form::parse(body)
    }

    /// The raw query.
    pub(crate) fn raw_query(&self) -> &'a str {
        self.query
    }

    /// The raw body, bounded.
    pub(crate) fn raw_body(&self) -> Result<&'a str, Error> {
        if self.body.len() > MAX_FORM_LEN {
            return Err(Error::InvalidRequest("request body too large"));
        }
        core::str::from_utf8(self.body)
            .map_err(|_| Error::InvalidRequest("malformed form encoding"))
    }

    /// The `Origin` header, for CORS (a repeated one counts as none).
    pub(crate) fn origin(&self) -> Option<&'a str> {
        self.single_header("origin").ok().flatten()
    }
}

/// `application/x-www-form-urlencoded`, with or without parameters (`; charset=UTF-8`).
fn is_form_content_type(value: &str) -> bool {
    value.split(';').next().is_some_and(|t| {
        t.trim()
            .eq_ignore_ascii_case("application/x-www-form-urlencoded")
    })
}

/// An HTTP response to write out unchanged: status, header fields (in order) and body.
///
/// `Debug` hides the body and the `Location` of a response that carries a token, code or
/// secret.
#[derive(Clone, PartialEq, Eq)]
#[must_use]
pub struct HttpResponse {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
    sensitive: bool,
}

impl fmt::Debug for HttpResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hide = |name: &str| self.sensitive && name.eq_ignore_ascii_case("location");
        f.debug_struct("HttpResponse")
            .field("status", &self.status)
            .field(
                "headers",
                &self
                    .headers
                    .iter()
                    .map(|(n, v)| (*n, if hide(n) { "[redacted]" } else { v.as_str() }))
                    .collect::<Vec<_>>(),
            )
            .field(
                "body",
                &if self.sensitive {
                    "[redacted]"
                } else {
                    self.body.as_str()
                },
            )
            .finish()
    }
}

impl HttpResponse {
    /// A response with this status and no headers or body.
    pub(crate) fn new(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: String::new(),
            sensitive: false,
        }
    }

    /// A JSON body (`Content-Type: application/json`).
    pub(crate) fn json(status: u16, body: String) -> Self {
        Self::new(status)
            .with_header("Content-Type", "application/json")
            .with_body(body)
    }

    /// `200` with `value` as its JSON body (a serialization failure is a `500`).
    pub(crate) fn json_of<T: serde::Serialize>(value: &T) -> Self {
        match serde_json::to_string(value) {
            Ok(body) => Self::json(200, body),
            Err(e) => Self::from_error(&Error::Serialize(e.to_string())),
        }
    }

    /// A response that carries a token, code or secret: `no-store` and hidden in `Debug`.
    pub(crate) fn secret(mut self) -> Self {
        self.sensitive = true;
        self.no_store()
    }

    /// `Cache-Control: no-store` and `Pragma: no-cache`.
    pub(crate) fn no_store(self) -> Self {
        if self.header("cache-control").is_some() {
            return self;
        }
        self.with_header("Cache-Control", "no-store")
            .with_header("Pragma", "no-cache")
    }

    pub(crate) fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub(crate) fn without_header(mut self, name: &str) -> Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self
    }

    pub(crate) fn with_body(mut self, body: String) -> Self {
        self.body = body;
        self
    }

    /// A `303 See Other` to `location` (a URI the engine validated).
    pub(crate) fn see_other(location: String, sensitive: bool) -> Self {
        let mut r = Self::new(303).with_header("Location", location);
        if sensitive {
            r = r.secret();
        } else {
            r = r.no_store();
        }
        r
    }

    /// The JSON error response for `e` (RFC 6749 §5.2, RFC 7009, RFC 7662, RFC 8628):
    /// status from the error code, `Cache-Control: no-store`, and `WWW-Authenticate: Basic`
    /// for a failed client authentication. Resource-server refusals get their challenges
    /// from [`Engine::resource_request`](crate::Engine::resource_request) instead.
    pub fn from_error(e: &Error) -> Self {
        let r = ErrorResponse::from_error(e);
        let status = r.http_status();
        let body =
            serde_json::to_string(&r).unwrap_or_else(|_| r#"{"error":"server_error"}"#.into());
        let mut out = Self::json(status, body).no_store();
        if status == 401 && r.error == "invalid_client" {
            out = out.with_header("WWW-Authenticate", "Basic realm=\"oauth\"");
        }
        out
    }

    /// `405 Method Not Allowed` with the methods the endpoint takes.
    pub(crate) fn method_not_allowed(allow: &'static str) -> Self {
        Self::new(405).with_header("Allow", allow)
    }

    /// The status code.
    #[must_use]
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The header fields, in order.
    #[must_use]
    pub fn headers(&self) -> &[(&'static str, String)] {
        &self.headers
    }

    /// The first value of a header (case-insensitive name).
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body (JSON, or empty).
    #[must_use]
    pub fn body(&self) -> &str {
        &self.body
    }

    /// Status, headers and body, to write out.
    #[must_use]
    pub fn into_parts(self) -> (u16, Vec<(&'static str, String)>, String) {
        (self.status, self.headers, self.body)
    }

    /// An `http::Response` (feature `http`).
    #[cfg(feature = "http")]
    #[cfg_attr(docsrs, doc(cfg(feature = "http")))]
    #[must_use]
    pub fn into_http(self) -> ::http::Response<String> {
        let mut response = ::http::Response::new(self.body);
        *response.status_mut() = ::http::StatusCode::from_u16(self.status)
            .unwrap_or(::http::StatusCode::INTERNAL_SERVER_ERROR);
        let headers = response.headers_mut();
        for (name, value) in self.headers {
            // Every name is a token and every value visible ASCII: the engine wrote them.
            if let (Ok(n), Ok(v)) = (
                ::http::HeaderName::from_bytes(name.as_bytes()),
                ::http::HeaderValue::from_str(&value),
            ) {
                headers.append(n, v);
            }
        }
        response
    }
}

#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
impl<'a, B: AsRef<[u8]>> From<&'a ::http::Request<B>> for HttpRequest<'a> {
    /// Every header field (repeated ones too), the query and the body of an `http::Request`.
    fn from(request: &'a ::http::Request<B>) -> Self {
        let mut out = HttpRequest::new(request.method().as_str())
            .query(request.uri().query().unwrap_or(""))
            .body(request.body().as_ref());
        for (name, value) in request.headers() {
            out = out.header_bytes(name.as_str(), value.as_bytes());
        }
        out
    }
}

/// The endpoints of an authorization server, for CORS ([`Endpoint::browser_facing`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Endpoint {
    /// The authorization endpoint: a page the browser navigates to, never called by script.
    Authorization,
    /// The token endpoint.
    Token,
    /// The device authorization endpoint (devices, not browsers).
    DeviceAuthorization,
    /// The introspection endpoint (resource servers, not browsers).
    Introspection,
    /// The revocation endpoint.
    Revocation,
    /// The OpenID Connect UserInfo endpoint.
    UserInfo,
    /// The RFC 8414 and OpenID Connect discovery documents.
    Metadata,
    /// The JWK Set.
    Jwks,
}

impl Endpoint {
    /// Whether a browser application on another origin calls this endpoint from script, so
    /// it answers CORS: token, revocation, userinfo, metadata and JWKS do (a single-page app
    /// redeems its code and refreshes from script); authorization is navigated to, and
    /// device authorization and introspection serve devices and servers.
    #[must_use]
    pub fn browser_facing(self) -> bool {
        matches!(
            self,
            Endpoint::Token
                | Endpoint::Revocation
                | Endpoint::UserInfo
                | Endpoint::Metadata
                | Endpoint::Jwks
        )
    }

    /// The methods the endpoint takes.
    #[must_use]
    pub fn methods(self) -> &'static str {
        match self {
            Endpoint::Authorization | Endpoint::UserInfo => "GET, POST",
            Endpoint::Metadata | Endpoint::Jwks => "GET",
            Endpoint::Token
            | Endpoint::DeviceAuthorization
            | Endpoint::Introspection
            | Endpoint::Revocation => "POST",
        }
    }

    /// The answer to a CORS preflight (`OPTIONS`) for this endpoint: `204` with
    /// `Access-Control-Allow-Origin: *` and the methods and request headers the endpoint
    /// takes (`Authorization`, `Content-Type`, `DPoP`) for a browser-facing endpoint; `403`
    /// without CORS headers for the others, and `405` for a request that is not `OPTIONS`.
    /// No credentials mode: these endpoints authenticate by header or body, never by cookie.
    pub fn preflight(self, request: &HttpRequest<'_>) -> HttpResponse {
        if !request.is("OPTIONS") {
            return HttpResponse::method_not_allowed("OPTIONS");
        }
        if !self.browser_facing() {
            return HttpResponse::new(403);
        }
        HttpResponse::new(204)
            .with_header("Access-Control-Allow-Origin", "*")
            .with_header("Access-Control-Allow-Methods", self.methods())
            .with_header(
                "Access-Control-Allow-Headers",
                "Authorization, Content-Type, DPoP",
            )
            .with_header("Access-Control-Max-Age", "600")
    }

    /// Add the CORS headers of an actual (non-preflight) response, when the request came
    /// from a browser (it has `Origin`) and the endpoint is browser-facing.
    pub(crate) fn cors(self, request: &HttpRequest<'_>, response: HttpResponse) -> HttpResponse {
        if self.browser_facing() && request.origin().is_some() {
            response
                .with_header("Access-Control-Allow-Origin", "*")
                .with_header(
                    "Access-Control-Expose-Headers",
                    "WWW-Authenticate, DPoP-Nonce",
                )
        } else {
            response
        }
    }
}

/// Escape text for an HTML page.
pub(crate) fn html_escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_headers_are_refused_and_names_are_case_insensitive() {
        let r = HttpRequest::new("POST")
            .header("DPoP", "a")
            .header("dpop", "b")
            .header("Authorization", "Bearer x");
        assert!(matches!(
            r.single_header("DPoP"),
            Err(Error::InvalidRequest(_))
        ));
        assert_eq!(r.single_header("AUTHORIZATION").unwrap(), Some("Bearer x"));
        assert_eq!(r.single_header("Origin").unwrap(), None);
        let bad = HttpRequest::new("GET").header_bytes("X", &[0xff]);
        assert!(bad.single_header("x").is_err());
    }

    #[test]
    fn more_than_max_headers_fields_are_refused() {
        let names: Vec<String> = (0..MAX_HEADERS).map(|i| format!("X-{i}")).collect();
        let with = |count: usize| {
            names.iter().take(count - 1).fold(
                HttpRequest::post("a=1")
                    .header("Content-Type", "application/x-www-form-urlencoded"),
                |r, n| r.header(n, "v"),
            )
        };
        // Exactly MAX_HEADERS fields: read.
        let ok = with(MAX_HEADERS);
        assert_eq!(ok.single_header("x-0").unwrap(), Some("v"));
        assert_eq!(ok.form_body().unwrap().get("a"), Some("1"));
        // One more: `invalid_request`, whichever header is read.
        let over = with(MAX_HEADERS + 1);
        for name in ["x-0", "content-type", "absent"] {
            assert!(
                matches!(
                    over.single_header(name),
                    Err(Error::InvalidRequest("too many header fields"))
                ),
                "{name}"
            );
        }
        assert!(matches!(
            over.form_body(),
            Err(Error::InvalidRequest("too many header fields"))
        ));
    }

    #[test]
    fn form_bodies_need_their_content_type() {
        let r = HttpRequest::post("a=1");
        assert!(r.form_body().is_err());
        let r = HttpRequest::post("a=1").header(
            "Content-Type",
            "application/x-www-form-urlencoded; charset=UTF-8",
        );
        assert_eq!(r.form_body().unwrap().get("a"), Some("1"));
        let r = HttpRequest::post("a=1&a=2")
            .header("Content-Type", "application/x-www-form-urlencoded");
        assert!(r.form_body().is_err());
    }

    #[test]
    fn debug_hides_values_and_secret_bodies() {
        let r = HttpRequest::post("client_secret=s3cret").header("Authorization", "Basic c2VjcmV0");
        let text = format!("{r:?}");
        assert!(
            !text.contains("s3cret") && !text.contains("c2VjcmV0"),
            "{text}"
        );
        let resp = HttpResponse::json(200, "{\"access_token\":\"t0k3n\"}".into()).secret();
        let text = format!("{resp:?}");
        assert!(!text.contains("t0k3n"), "{text}");
        assert_eq!(resp.header("cache-control"), Some("no-store"));
        assert_eq!(resp.header("pragma"), Some("no-cache"));
    }

    #[cfg(feature = "http")]
    #[test]
    fn http_types_convert_with_every_header_field() {
        let request = ::http::Request::builder()
            .method("POST")
            .uri("https://as.example/token?x=1")
            .header("DPoP", "a")
            .header("dpop", "b")
            .body(b"grant_type=x".to_vec())
            .unwrap();
        let r = HttpRequest::from(&request);
        assert_eq!(r.method(), "POST");
        assert_eq!(r.raw_query(), "x=1");
        assert!(r.single_header("dpop").is_err(), "both fields kept");
        let out = HttpResponse::json(200, "{}".into()).secret().into_http();
        assert_eq!(out.status(), 200);
        assert_eq!(out.headers()["cache-control"], "no-store");
        assert_eq!(out.headers()["content-type"], "application/json");
    }

    #[test]
    fn preflight_only_for_browser_endpoints() {
        let req = HttpRequest::new("OPTIONS").header("Origin", "https://app.example");
        let ok = Endpoint::Token.preflight(&req);
        assert_eq!(ok.status(), 204);
        assert_eq!(ok.header("access-control-allow-origin"), Some("*"));
        assert!(
            ok.header("access-control-allow-headers")
                .unwrap()
                .contains("DPoP")
        );
        assert_eq!(Endpoint::Introspection.preflight(&req).status(), 403);
        assert_eq!(
            Endpoint::Token.preflight(&HttpRequest::new("GET")).status(),
            405
        );
    }
}
