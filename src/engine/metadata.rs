//! What the server offers and where: the grants it serves, the endpoints the application
//! mounts, and the RFC 8414 / OpenID Connect Discovery documents and JWK Set written from
//! that configuration ([`Engine::metadata_endpoint`], [`Engine::jwks_endpoint`]).

use serde_json::{Map, Value, json};

use super::{Engine, EngineBuilder};
use crate::client::GrantType;
use crate::error::Error;
use crate::http::{Endpoint, HttpRequest, HttpResponse};
use crate::jose::Algorithm;

/// Where the application mounts each endpoint, and what the server offers.
#[derive(Clone, Debug, Default)]
pub(crate) struct Endpoints {
    pub(crate) authorization: Option<String>,
    pub(crate) device_authorization: Option<String>,
    pub(crate) device_verification: Option<String>,
    pub(crate) introspection: Option<String>,
    pub(crate) revocation: Option<String>,
    pub(crate) userinfo: Option<String>,
    pub(crate) jwks: Option<String>,
    pub(crate) scopes: Vec<String>,
    pub(crate) grants: Option<Vec<GrantType>>,
    pub(crate) acr_values: Vec<String>,
    /// Client ID metadata documents are resolved (the application's registry says).
    pub(crate) client_id_metadata_documents: bool,
    /// Where the RFC 7591 registration endpoint is.
    pub(crate) registration: Option<String>,
}

/// The grants offered when [`EngineBuilder::grant_types`] is not called.
const DEFAULT_GRANTS: [GrantType; 5] = [
    GrantType::AuthorizationCode,
    GrantType::RefreshToken,
    GrantType::DeviceCode,
    GrantType::ClientCredentials,
    GrantType::TokenExchange,
];

/// How long clients may cache the metadata documents, and the JWK Set (shorter: keys rotate).
const METADATA_MAX_AGE: &str = "public, max-age=3600";
const JWKS_MAX_AGE: &str = "public, max-age=300";

impl EngineBuilder {
    /// The grants this server offers (the password grant has its own switch,
    /// [`EngineBuilder::danger_enable_password_grant`]). Default: authorization code,
    /// refresh token, device code, client credentials, token exchange. A grant left out is
    /// `unsupported_grant_type` at the token endpoint for every client, and is not in the
    /// metadata.
    pub fn grant_types(mut self, grants: impl IntoIterator<Item = GrantType>) -> Self {
        self.endpoints.grants = Some(
            grants
                .into_iter()
                .filter(|g| *g != GrantType::Password)
                .collect(),
        );
        self
    }

    /// Where the application mounts the authorization endpoint
    /// ([`Engine::authorization_request`]): `authorization_endpoint` in the metadata.
    pub fn authorization_endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoints.authorization = Some(url.into());
        self
    }

    /// Where the device authorization endpoint is
    /// ([`Engine::device_authorization_endpoint`]), and the verification page the user
    /// opens (`verification_uri`, RFC 8628 §3.2).
    pub fn device_authorization_endpoint(
        mut self,
        url: impl Into<String>,
        verification_uri: impl Into<String>,
    ) -> Self {
        self.endpoints.device_authorization = Some(url.into());
        self.endpoints.device_verification = Some(verification_uri.into());
        self
    }

    /// Where the introspection endpoint is ([`Engine::introspection_endpoint`]).
    pub fn introspection_endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoints.introspection = Some(url.into());
        self
    }

    /// Where the revocation endpoint is ([`Engine::revocation_endpoint`]).
    pub fn revocation_endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoints.revocation = Some(url.into());
        self
    }

    /// Where the OpenID Connect UserInfo endpoint is ([`Engine::userinfo_endpoint`]); also
    /// the URI its DPoP proofs must name.
    pub fn userinfo_endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoints.userinfo = Some(url.into());
        self
    }

    /// Where the JWK Set is served ([`Engine::jwks_endpoint`]): `jwks_uri`.
    pub fn jwks_uri(mut self, url: impl Into<String>) -> Self {
        self.endpoints.jwks = Some(url.into());
        self
    }

    /// The authentication context classes the application's login can achieve
    /// (`acr_values_supported`, RFC 9470 §6 and OpenID Connect Discovery): what a client may
    /// ask for with `acr_values` and what [`Approval::acr`](crate::Approval::acr) names.
    pub fn acr_values_supported<I, T>(mut self, values: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        self.endpoints.acr_values = values.into_iter().map(Into::into).collect();
        self
    }

    /// Advertise `client_id_metadata_document_supported` (draft-ietf-oauth-client-id-metadata-document):
    /// the registry the application passes to the endpoint calls is a
    /// [`ClientMetadataDocuments`](crate::ClientMetadataDocuments).
    pub fn client_id_metadata_document_supported(mut self) -> Self {
        self.endpoints.client_id_metadata_documents = true;
        self
    }

    /// Where the dynamic client registration endpoint (RFC 7591) is mounted:
    /// `registration_endpoint` in the metadata.
    pub fn registration_endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoints.registration = Some(url.into());
        self
    }

    /// The scopes to advertise as `scopes_supported` (none by default: clients learn their
    /// scopes at registration).
    pub fn scopes_supported<I, T>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        self.endpoints.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }
}

impl<S> Engine<S> {
    /// The protected resource metadata (RFC 9728) of `resource`, a resource this engine
    /// issues tokens for ([`EngineBuilder::resource`]): this engine as its authorization
    /// server and its DPoP algorithms. Add the resource's scopes and the rest with the
    /// [`ProtectedResource`](crate::ProtectedResource) builder; serve it at its
    /// `well_known_path`. To publish the engine's own audience ([`EngineBuilder::audience`]),
    /// declare it with [`EngineBuilder::resource`] too, so that clients that read the
    /// document may name it with `resource` (RFC 8707): a token for it has it alone as
    /// `aud` (for an engine with one audience, the `aud` of a token issued without
    /// `resource`).
    pub fn protected_resource(&self, resource: &str) -> Result<crate::ProtectedResource, Error> {
        if !self.inner.resources.iter().any(|r| r == resource) {
            return Err(Error::Config(
                "engine: protected_resource needs one of the engine's resources (EngineBuilder::resource)",
            ));
        }
        Ok(crate::ProtectedResource::new(resource)?
            .authorization_server(self.inner.issuer.clone())
            .dpop(&self.inner.dpop_rules, false))
    }

    /// The algorithms DPoP proofs may use, by name.
    pub(crate) fn dpop_algorithm_names(&self) -> Vec<&'static str> {
        self.inner
            .dpop_rules
            .algorithms
            .iter()
            .map(|a| a.name())
            .collect()
    }

    /// Whether the server offers `grant` at all.
    pub(crate) fn offers(&self, grant: GrantType) -> bool {
        if grant == GrantType::Password {
            return self.inner.password_grant;
        }
        match &self.inner.endpoints.grants {
            Some(grants) => grants.contains(&grant),
            None => DEFAULT_GRANTS.contains(&grant),
        }
    }

    /// The grants offered, in a stable order.
    fn offered_grants(&self) -> Vec<&'static str> {
        [
            GrantType::AuthorizationCode,
            GrantType::RefreshToken,
            GrantType::DeviceCode,
            GrantType::ClientCredentials,
            GrantType::TokenExchange,
            GrantType::Password,
        ]
        .into_iter()
        .filter(|g| self.offers(*g))
        .filter(|g| {
            // A grant whose endpoint is not mounted cannot be used.
            match g {
                GrantType::AuthorizationCode => self.inner.endpoints.authorization.is_some(),
                GrantType::DeviceCode => self.inner.endpoints.device_authorization.is_some(),
                _ => true,
            }
        })
        .map(GrantType::as_str)
        .collect()
    }

    /// The client authentication methods the token, introspection and revocation endpoints
    /// accept: `none` (public clients), the secret methods when client secrets are on, and
    /// `private_key_jwt`.
    fn auth_methods(&self, with_none: bool) -> Vec<&'static str> {
        let mut methods = Vec::new();
        if with_none {
            methods.push("none");
        }
        if self.inner.client_secrets.is_some() {
            methods.extend(["client_secret_basic", "client_secret_post"]);
        }
        methods.push("private_key_jwt");
        methods
    }

    /// The RFC 8414 authorization server metadata, written from the configuration: only
    /// what this engine does and the endpoints the application said it mounts.
    #[must_use]
    pub fn authorization_server_metadata(&self) -> Value {
        let e = &self.inner.endpoints;
        let asymmetric: Vec<&str> = Algorithm::available()
            .iter()
            .filter(|a| !a.is_symmetric())
            .map(|a| a.name())
            .collect();
        let mut m = Map::new();
        let mut put = |k: &str, v: Value| {
            m.insert(k.to_owned(), v);
        };
        put("issuer", json!(self.inner.issuer));
        let urls = [
            ("authorization_endpoint", &e.authorization),
            ("token_endpoint", &self.inner.token_endpoint),
            ("device_authorization_endpoint", &e.device_authorization),
            ("introspection_endpoint", &e.introspection),
            ("revocation_endpoint", &e.revocation),
            ("userinfo_endpoint", &e.userinfo),
            ("jwks_uri", &e.jwks),
            ("registration_endpoint", &e.registration),
        ];
        for (name, url) in urls {
            if let Some(url) = url {
                put(name, json!(url));
            }
        }
        if !e.scopes.is_empty() {
            put("scopes_supported", json!(e.scopes));
        }
        if !e.acr_values.is_empty() {
            put("acr_values_supported", json!(e.acr_values));
        }
        put("response_types_supported", json!(["code"]));
        put("response_modes_supported", json!(["query"]));
        put("grant_types_supported", json!(self.offered_grants()));
        put(
            "token_endpoint_auth_methods_supported",
            json!(self.auth_methods(true)),
        );
        put(
            "token_endpoint_auth_signing_alg_values_supported",
            json!(asymmetric),
        );
        if e.introspection.is_some() {
            // RFC 7662 §2.1: the caller must be authenticated; public clients cannot.
            put(
                "introspection_endpoint_auth_methods_supported",
                json!(self.auth_methods(false)),
            );
            put(
                "introspection_endpoint_auth_signing_alg_values_supported",
                json!(asymmetric),
            );
            // RFC 9701 §7: the signed introspection responses' algorithm.
            put(
                "introspection_signing_alg_values_supported",
                json!([self.inner.keys.signing_key().alg().name()]),
            );
        }
        if e.revocation.is_some() {
            put(
                "revocation_endpoint_auth_methods_supported",
                json!(self.auth_methods(true)),
            );
            put(
                "revocation_endpoint_auth_signing_alg_values_supported",
                json!(asymmetric),
            );
        }
        put("code_challenge_methods_supported", json!(["S256"]));
        put(
            "dpop_signing_alg_values_supported",
            json!(self.dpop_algorithm_names()),
        );
        put("tls_client_certificate_bound_access_tokens", json!(true));
        put(
            "authorization_response_iss_parameter_supported",
            json!(true),
        );
        if let Some(url) = &self.inner.par.endpoint {
            put("pushed_authorization_request_endpoint", json!(url));
        }
        put(
            "require_pushed_authorization_requests",
            json!(self.inner.par.required),
        );
        if e.client_id_metadata_documents {
            put("client_id_metadata_document_supported", json!(true));
        }
        put("request_parameter_supported", json!(false));
        // `request_uri` of pushed requests only (RFC 9126 §4), not fetched ones.
        put("request_uri_parameter_supported", json!(false));
        Value::Object(m)
    }

    /// The OpenID Connect Discovery 1.0 document: the RFC 8414 metadata plus what OpenID
    /// Connect requires (`subject_types_supported`, `id_token_signing_alg_values_supported`,
    /// `claims_supported`, `prompt_values_supported`).
    #[must_use]
    pub fn openid_configuration(&self) -> Value {
        let mut doc = self.authorization_server_metadata();
        if let Value::Object(m) = &mut doc {
            let alg = self.inner.keys.signing_key().alg().name();
            m.insert("subject_types_supported".into(), json!(["public"]));
            m.insert("id_token_signing_alg_values_supported".into(), json!([alg]));
            m.insert(
                "claims_supported".into(),
                json!([
                    "sub",
                    "iss",
                    "aud",
                    "exp",
                    "iat",
                    "auth_time",
                    "acr",
                    "nonce",
                    "at_hash"
                ]),
            );
            m.insert(
                "prompt_values_supported".into(),
                json!(["none", "login", "consent", "select_account"]),
            );
            m.insert("claims_parameter_supported".into(), json!(false));
        }
        doc
    }

    /// Serve the RFC 8414 metadata (mount at `/.well-known/oauth-authorization-server`) or,
    /// with `openid`, the OpenID Connect Discovery document (mount at
    /// `/.well-known/openid-configuration`): `GET` only, `Cache-Control: public,
    /// max-age=3600`, CORS for browsers.
    pub fn metadata_endpoint(&self, request: &HttpRequest<'_>, openid: bool) -> HttpResponse {
        if !request.is("GET") {
            return HttpResponse::method_not_allowed("GET");
        }
        let doc = if openid {
            self.openid_configuration()
        } else {
            self.authorization_server_metadata()
        };
        let response =
            HttpResponse::json(200, doc.to_string()).with_header("Cache-Control", METADATA_MAX_AGE);
        Endpoint::Metadata.cors(request, response)
    }

    /// Serve the public keys as a JWK Set (`jwks_uri`): `GET` only, `Cache-Control: public,
    /// max-age=300` (verifiers refetch on an unknown `kid` anyway), CORS for browsers. HMAC
    /// keys are never published.
    pub fn jwks_endpoint(&self, request: &HttpRequest<'_>) -> HttpResponse {
        if !request.is("GET") {
            return HttpResponse::method_not_allowed("GET");
        }
        let body = serde_json::to_string(&self.inner.keys.jwks())
            .unwrap_or_else(|_| r#"{"keys":[]}"#.to_owned());
        let response = HttpResponse::new(200)
            .with_header("Content-Type", "application/jwk-set+json")
            .with_header("Cache-Control", JWKS_MAX_AGE)
            .with_body(body);
        Endpoint::Jwks.cors(request, response)
    }
}
