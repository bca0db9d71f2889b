//! Protected resource metadata (RFC 9728): the document a resource server publishes at
//! `/.well-known/oauth-protected-resource[/path]` so that a client that knows only the
//! resource's URL finds the authorization servers that issue tokens for it, the scopes it
//! takes and how tokens are presented. Written from configuration ([`ProtectedResource`]);
//! the library does no I/O. Its URL goes into every `WWW-Authenticate` challenge of the
//! resource ([`ProtectedResource::challenges`], RFC 9728 §5.1), and its identifier is the
//! audience tokens for it carry (RFC 8707, [`ProtectedResource::requirements`]).

use serde_json::{Map, Value, json};

use crate::challenge::{Challenges, Requirements};
use crate::dpop::DpopRules;
use crate::error::Error;
use crate::http::{Endpoint, HttpRequest, HttpResponse};

/// How long clients may cache the document.
const MAX_AGE: &str = "public, max-age=3600";

/// One protected resource's metadata (RFC 9728 §2).
///
/// ```
/// use token_engine::ProtectedResource;
/// let rs = ProtectedResource::new("https://tools.example.com/mcp")
///     .unwrap()
///     .authorization_server("https://auth.example.com")
///     .scopes_supported(["tools:read", "tools:call"]);
/// assert_eq!(
///     rs.metadata_url(),
///     "https://tools.example.com/.well-known/oauth-protected-resource/mcp"
/// );
/// assert_eq!(rs.metadata()["resource"], "https://tools.example.com/mcp");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtectedResource {
    resource: String,
    /// `scheme://authority`, and the rest (path and query) after it.
    origin_len: usize,
    authorization_servers: Vec<String>,
    scopes: Vec<String>,
    jwks_uri: Option<String>,
    dpop_algs: Vec<&'static str>,
    dpop_required: bool,
    mtls_bound: bool,
    name: Option<String>,
    documentation: Option<String>,
}

impl ProtectedResource {
    /// The well-known path suffix of RFC 9728 §3, which
    /// [`well_known_path`](Self::well_known_path) starts with.
    pub const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

    /// The metadata of the resource identified by `resource` (RFC 9728 §1.2): an `https`
    /// URL (or `http` on a loopback host, for development) with a host and no fragment,
    /// at most 512 bytes of visible ASCII. Anything else is `Error::Config`.
    pub fn new(resource: impl Into<String>) -> Result<Self, Error> {
        let resource = resource.into();
        let bad = Error::Config(
            "protected resource: the identifier must be an https URL (http on loopback) with a host and no fragment",
        );
        if !crate::resource_indicator::is_resource_uri(&resource) {
            return Err(bad);
        }
        let rest = if let Some(r) = resource.strip_prefix("https://") {
            r
        } else if let Some(r) = resource.strip_prefix("http://") {
            let authority = r.split(['/', '?']).next().unwrap_or("");
            // `[::1]:8080` or `[::1]`: an IPv6 literal keeps its colons.
            let host = match authority.find(']') {
                Some(end) => authority.get(..=end).unwrap_or(""),
                None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
            };
            if !matches!(host, "127.0.0.1" | "[::1]" | "localhost") {
                return Err(bad);
            }
            r
        } else {
            return Err(bad);
        };
        let authority_len = rest.find(['/', '?']).unwrap_or(rest.len());
        if authority_len == 0 || rest.get(..authority_len).is_some_and(|a| a.contains('@')) {
            return Err(bad);
        }
        let origin_len = resource.len() - rest.len() + authority_len;
        Ok(Self {
            resource,
            origin_len,
            authorization_servers: Vec::new(),
            scopes: Vec::new(),
            jwks_uri: None,
            dpop_algs: Vec::new(),
            dpop_required: false,
            mtls_bound: false,
            name: None,
            documentation: None,
        })
    }

    /// An authorization server (its issuer identifier) that issues tokens for this resource.
    #[must_use]
    pub fn authorization_server(mut self, issuer: impl Into<String>) -> Self {
        self.authorization_servers.push(issuer.into());
        self
    }

    /// The scopes the resource takes (`scopes_supported`).
    #[must_use]
    pub fn scopes_supported<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes.extend(scopes.into_iter().map(Into::into));
        self
    }

    /// The resource's own JWK Set (`jwks_uri`), if it signs anything.
    #[must_use]
    pub fn jwks_uri(mut self, url: impl Into<String>) -> Self {
        self.jwks_uri = Some(url.into());
        self
    }

    /// The resource takes DPoP-bound tokens with proofs under `rules`
    /// (`dpop_signing_alg_values_supported`); `required`: only DPoP-bound tokens
    /// (`dpop_bound_access_tokens_required`).
    #[must_use]
    pub fn dpop(mut self, rules: &DpopRules, required: bool) -> Self {
        self.dpop_algs = rules.algorithms.iter().map(|a| a.name()).collect();
        self.dpop_required = required;
        self
    }

    /// The resource takes certificate-bound tokens (RFC 8705,
    /// `tls_client_certificate_bound_access_tokens`).
    #[must_use]
    pub fn mtls_bound_tokens(mut self) -> Self {
        self.mtls_bound = true;
        self
    }

    /// A name for people (`resource_name`).
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Where developers read about the resource (`resource_documentation`).
    #[must_use]
    pub fn documentation(mut self, url: impl Into<String>) -> Self {
        self.documentation = Some(url.into());
        self
    }

    /// The resource identifier.
    #[must_use]
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// The path to serve the document at on the resource's host (RFC 9728 §3.1): the
    /// well-known suffix, then the identifier's path and query, a lone `/` path dropped:
    /// `https://rs.example/` → `/.well-known/oauth-protected-resource`,
    /// `https://rs.example/mcp` → `/.well-known/oauth-protected-resource/mcp`.
    #[must_use]
    pub fn well_known_path(&self) -> String {
        let rest = self.resource.get(self.origin_len..).unwrap_or("");
        // A terminating `/` after the host goes (RFC 9728 §3.1): `/` alone, or before `?`.
        let rest = match rest.strip_prefix('/') {
            Some(after) if after.is_empty() || after.starts_with('?') => after,
            _ => rest,
        };
        format!("{}{rest}", Self::WELL_KNOWN)
    }

    /// The document's full URL: what `resource_metadata` names.
    #[must_use]
    pub fn metadata_url(&self) -> String {
        let origin = self.resource.get(..self.origin_len).unwrap_or("");
        format!("{origin}{}", self.well_known_path())
    }

    /// The document (RFC 9728 §2): `resource`, `authorization_servers`,
    /// `bearer_methods_supported` (`header` only: RFC 6750's form and query methods are not
    /// offered), and what was configured.
    #[must_use]
    pub fn metadata(&self) -> Value {
        let mut m = Map::new();
        m.insert("resource".into(), json!(self.resource));
        if !self.authorization_servers.is_empty() {
            m.insert(
                "authorization_servers".into(),
                json!(self.authorization_servers),
            );
        }
        if let Some(jwks) = &self.jwks_uri {
            m.insert("jwks_uri".into(), json!(jwks));
        }
        if !self.scopes.is_empty() {
            m.insert("scopes_supported".into(), json!(self.scopes));
        }
        m.insert("bearer_methods_supported".into(), json!(["header"]));
        if !self.dpop_algs.is_empty() {
            m.insert(
                "dpop_signing_alg_values_supported".into(),
                json!(self.dpop_algs),
            );
            m.insert(
                "dpop_bound_access_tokens_required".into(),
                json!(self.dpop_required),
            );
        }
        if self.mtls_bound {
            m.insert(
                "tls_client_certificate_bound_access_tokens".into(),
                json!(true),
            );
        }
        if let Some(name) = &self.name {
            m.insert("resource_name".into(), json!(name));
        }
        if let Some(doc) = &self.documentation {
            m.insert("resource_documentation".into(), json!(doc));
        }
        Value::Object(m)
    }

    /// Serve the document (mount at [`ProtectedResource::well_known_path`]): `GET` only,
    /// `application/json`, `Cache-Control: public, max-age=3600`, CORS for browsers.
    pub fn endpoint(&self, request: &HttpRequest<'_>) -> HttpResponse {
        if !request.is("GET") {
            return HttpResponse::method_not_allowed("GET");
        }
        let response = HttpResponse::json(200, self.metadata().to_string())
            .with_header("Cache-Control", MAX_AGE);
        Endpoint::Metadata.cors(request, response)
    }

    /// The resource's challenges under `rules`, naming this document in each
    /// (`resource_metadata`, RFC 9728 §5.1).
    #[must_use]
    pub fn challenges(&self, rules: &DpopRules) -> Challenges {
        Challenges::new(rules).with_resource_metadata(Some(self.metadata_url()))
    }

    /// Requirements with this resource as the audience tokens must name (RFC 8707): add the
    /// route's scopes and step-up rules to them.
    #[must_use]
    pub fn requirements(&self) -> Requirements {
        Requirements::new().audience(self.resource.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_urls() {
        for (resource, url) in [
            (
                "https://rs.example.com",
                "https://rs.example.com/.well-known/oauth-protected-resource",
            ),
            (
                "https://rs.example.com/",
                "https://rs.example.com/.well-known/oauth-protected-resource",
            ),
            (
                "https://rs.example.com/mcp",
                "https://rs.example.com/.well-known/oauth-protected-resource/mcp",
            ),
            (
                "https://rs.example.com:8443/a/b/",
                "https://rs.example.com:8443/.well-known/oauth-protected-resource/a/b/",
            ),
            (
                "https://rs.example.com/?v=1",
                "https://rs.example.com/.well-known/oauth-protected-resource?v=1",
            ),
            (
                "http://127.0.0.1:3000/mcp",
                "http://127.0.0.1:3000/.well-known/oauth-protected-resource/mcp",
            ),
            (
                "http://[::1]/mcp",
                "http://[::1]/.well-known/oauth-protected-resource/mcp",
            ),
            (
                "http://[::1]:3000/mcp",
                "http://[::1]:3000/.well-known/oauth-protected-resource/mcp",
            ),
        ] {
            assert_eq!(
                ProtectedResource::new(resource).unwrap().metadata_url(),
                url,
                "{resource}"
            );
        }
    }

    #[test]
    fn identifiers_refused() {
        for bad in [
            "",
            "rs.example.com",
            "http://rs.example.com/mcp",
            "http://[::2]/mcp",
            "http://127.0.0.1.evil.example/mcp",
            "https://rs.example.com/#x",
            "https:///mcp",
            "https://user@rs.example.com/",
            "urn:example:rs",
            "ftp://rs.example.com/",
        ] {
            assert!(ProtectedResource::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn document_and_challenge() {
        let rs = ProtectedResource::new("https://rs.example.com/mcp")
            .unwrap()
            .authorization_server("https://as.example.com")
            .scopes_supported(["a"])
            .dpop(&DpopRules::default(), false);
        let doc = rs.metadata();
        assert_eq!(
            doc["authorization_servers"],
            json!(["https://as.example.com"])
        );
        assert_eq!(doc["bearer_methods_supported"], json!(["header"]));
        assert_eq!(doc["dpop_bound_access_tokens_required"], json!(false));
        let r = rs.endpoint(&HttpRequest::new("GET"));
        assert_eq!(r.status(), 200);
        assert_eq!(rs.endpoint(&HttpRequest::new("POST")).status(), 405);
        let refusal = rs
            .challenges(&DpopRules::default())
            .credentials(&HttpRequest::new("GET"))
            .unwrap_err();
        let h = refusal.header("www-authenticate").unwrap();
        assert!(
            h.starts_with(
                "Bearer resource_metadata=\"https://rs.example.com/.well-known/oauth-protected-resource/mcp\", DPoP "
            ),
            "{h}"
        );
        assert!(!h.contains("error="), "{h}");
    }
}
