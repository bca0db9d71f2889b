//! Dynamic client registration (RFC 7591): [`Engine::registration_endpoint`] validates a
//! client's metadata and stores the registration through [`ClientStore`];
//! [`RegisteredClients`] is the [`ClientRegistry`] that serves those clients to every other
//! endpoint. RFC 7592 management (read, update, delete) is not offered.
//!
//! # Redirect URI rules, by `application_type` (OpenID Connect Registration §2, RFC 8252)
//!
//! - `web` (the default): `https` only, and not to a loopback host (`localhost`,
//!   `127.0.0.0/8`, `[::1]`): a web client runs on a server, not on the user's machine.
//! - `native`: a private-use scheme (`com.example.app:/cb`; not `javascript`, `data`,
//!   `file`, `vbscript`, `about`, `blob`), a claimed `https` URL, or a loopback `http` URL on
//!   `127.0.0.1`, `[::1]` or `localhost` (RFC 8252 §7.3 prefers the IP literals; `localhost`
//!   is accepted because agent tools register it). A native client's loopback redirect
//!   matches at the authorization endpoint **with any port** (RFC 8252 §7.3: the port is
//!   chosen when the app starts); every other redirect URI matches exactly.
//!
//! Every URI: absolute, no fragment, no user name or password, at most 2048 bytes, no
//! whitespace or control characters; at most 32 of them.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use subtle::ConstantTimeEq;

use super::{Engine, store_error, store_key};
use crate::client::{Client, ClientAuthMethod, ClientSecretHash, GrantType, parse_scope};
use crate::client_auth::{ClientRegistry, ClientSecret};
use crate::error::Error;
use crate::http::{HttpRequest, HttpResponse};
use crate::jose::{Jwks, JwksOptions, b64_decode_vec, b64_encode_to};
use crate::store::{ClientRecord, ClientStore, InsertOutcome};

/// Most redirect URIs a client may register.
const MAX_REDIRECT_URIS: usize = 32;
/// Longest redirect URI.
const MAX_URI_LEN: usize = 2048;
/// Longest `client_name`.
const MAX_NAME_LEN: usize = 256;
/// Schemes a native client may not register (they run code or read local data in a browser).
const FORBIDDEN_SCHEMES: [&str; 6] = ["javascript", "data", "file", "vbscript", "about", "blob"];

/// What the registration endpoint accepts: an optional initial access token (RFC 7591 §3),
/// the scopes registered clients may have and the grants they may use.
///
/// Default ([`RegistrationPolicy::open`]): anyone may register; no scope; the
/// authorization-code, refresh-token and device grants, and client credentials for
/// confidential clients.
#[derive(Clone)]
pub struct RegistrationPolicy {
    token: Option<[u8; 32]>,
    scopes: Vec<String>,
    grants: Vec<GrantType>,
}

impl core::fmt::Debug for RegistrationPolicy {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RegistrationPolicy")
            .field("initial_access_token", &self.token.map(|_| "[redacted]"))
            .field("scopes", &self.scopes)
            .field("grants", &self.grants)
            .finish()
    }
}

impl Default for RegistrationPolicy {
    fn default() -> Self {
        Self::open()
    }
}

impl RegistrationPolicy {
    /// Open registration (no initial access token).
    #[must_use]
    pub fn open() -> Self {
        Self {
            token: None,
            scopes: Vec::new(),
            grants: vec![
                GrantType::AuthorizationCode,
                GrantType::RefreshToken,
                GrantType::DeviceCode,
                GrantType::ClientCredentials,
            ],
        }
    }

    /// Require `Authorization: Bearer <token>` (compared in constant time; only its digest is
    /// kept).
    #[must_use]
    pub fn initial_access_token(mut self, token: &str) -> Self {
        self.token = Some(token_digest(token));
        self
    }

    /// The scopes a registered client may be granted: a request's `scope` is narrowed to
    /// these (its absence means all of them).
    #[must_use]
    pub fn allow_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes.extend(scopes.into_iter().map(Into::into));
        self
    }

    /// The grants a registered client may ask for (replacing the default); others are
    /// `invalid_client_metadata`. The password grant and token exchange are never offered.
    #[must_use]
    pub fn allow_grant_types(mut self, grants: impl IntoIterator<Item = GrantType>) -> Self {
        self.grants = grants
            .into_iter()
            .filter(|g| !matches!(g, GrantType::Password | GrantType::TokenExchange))
            .collect();
        self
    }
}

fn token_digest(token: &str) -> [u8; 32] {
    store_key("initial_access_token", &[token.as_bytes()])
}

/// What is stored for a registered client, and answered (with the id and secret) at
/// registration.
#[derive(Serialize, Deserialize)]
struct Registration {
    redirect_uris: Vec<String>,
    grant_types: Vec<String>,
    response_types: Vec<String>,
    token_endpoint_auth_method: String,
    application_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    jwks: Option<Value>,
    /// RFC 9126 §6: the client must push its authorization requests.
    #[serde(default, skip_serializing_if = "core::ops::Not::not")]
    require_pushed_authorization_requests: bool,
    /// base64url HMAC of the secret under the engine's client secret key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    secret_hash: Option<String>,
}

impl Registration {
    /// The engine's view of the client.
    fn client(&self, id: &str) -> Result<Client, Error> {
        let corrupt = || Error::Store(Box::new(CorruptRegistration));
        let auth = match self.token_endpoint_auth_method.as_str() {
            "none" => ClientAuthMethod::None,
            "client_secret_basic" | "client_secret_post" => {
                let mut bytes = Vec::new();
                let b64 = self.secret_hash.as_deref().ok_or_else(corrupt)?;
                b64_decode_vec(b64.as_bytes(), &mut bytes).map_err(|_| corrupt())?;
                let hash = ClientSecretHash(bytes.try_into().map_err(|_| corrupt())?);
                if self.token_endpoint_auth_method == "client_secret_basic" {
                    ClientAuthMethod::SecretBasic(hash)
                } else {
                    ClientAuthMethod::SecretPost(hash)
                }
            }
            "private_key_jwt" => ClientAuthMethod::PrivateKeyJwt(
                jwks_keys(self.jwks.as_ref()).map_err(|()| corrupt())?,
            ),
            _ => return Err(corrupt()),
        };
        let grants = self
            .grant_types
            .iter()
            .filter_map(|g| GrantType::parse(g))
            .collect::<Vec<_>>();
        let mut client = Client::confidential(id, auth).grant_types(grants);
        for uri in &self.redirect_uris {
            client = client.redirect_uri(uri.clone());
        }
        if let Some(scope) = &self.scope {
            client = client.allow_scopes(scope.split(' ').filter(|s| !s.is_empty()));
        }
        if self.application_type == "native" {
            client = client.loopback_redirect_any_port();
        }
        if self.require_pushed_authorization_requests {
            client = client.require_pushed_authorization_requests();
        }
        Ok(client)
    }
}

/// A stored registration that does not decode: the store returned something the engine did
/// not write.
#[derive(Debug, thiserror::Error)]
#[error("stored client registration does not decode")]
struct CorruptRegistration;

/// The verification keys of an inline `jwks`: at least one.
fn jwks_keys(jwks: Option<&Value>) -> Result<Vec<crate::jose::VerifyingKey>, ()> {
    let jwks = jwks.ok_or(())?;
    let keys = Jwks::parse(&jwks.to_string(), &JwksOptions::default())
        .map_err(|_| ())?
        .keys;
    if keys.is_empty() {
        return Err(());
    }
    Ok(keys)
}

/// A [`ClientRegistry`] of the clients registered through
/// [`Engine::registration_endpoint`], read from a [`ClientStore`] (the engine's store, or
/// another handle on it), behind the application's own registry `R` (asked first).
#[derive(Clone, Debug)]
pub struct RegisteredClients<S, R> {
    store: S,
    inner: R,
}

// The limits on `RegisteredClients<(), ()>` so their paths name no type arguments:
// `RegisteredClients::MAX_REGISTRATION_LEN`.
impl RegisteredClients<(), ()> {
    /// The largest registration request body [`Engine::registration_endpoint`] accepts, in
    /// bytes.
    pub const MAX_REGISTRATION_LEN: usize = 16 * 1024;
    /// The prefix of every client id [`Engine::registration_endpoint`] mints; the only ids
    /// a [`RegisteredClients`] looks up in its store.
    pub const CLIENT_ID_PREFIX: &str = "dyn_";
}

impl<S: ClientStore, R: ClientRegistry> RegisteredClients<S, R> {
    /// Registered clients from `store`, after those of `inner` (`Vec::<Client>::new()` for
    /// none).
    pub fn new(store: S, inner: R) -> Self {
        Self { store, inner }
    }
}

impl<S: ClientStore, R: ClientRegistry> ClientRegistry for RegisteredClients<S, R> {
    async fn client(&self, id: &str) -> Result<Option<Client>, Error> {
        if let Some(c) = self.inner.client(id).await? {
            return Ok(Some(c));
        }
        if !id.starts_with(RegisteredClients::CLIENT_ID_PREFIX) {
            return Ok(None);
        }
        let Some(record) = self.store.load_client(id).await.map_err(store_error)? else {
            return Ok(None);
        };
        let registration: Registration = serde_json::from_slice(&record.payload)
            .map_err(|_| Error::Store(Box::new(CorruptRegistration)))?;
        registration.client(&record.client_id).map(Some)
    }
}

type Refusal = Error;

fn metadata(why: &'static str) -> Refusal {
    Error::InvalidClientMetadata(why)
}

fn redirect(why: &'static str) -> Refusal {
    Error::InvalidRedirectUri(why)
}

/// The strings of an optional array member; anything else is `bad`.
fn strings(
    object: &Map<String, Value>,
    name: &str,
    bad: Refusal,
) -> Result<Option<Vec<String>>, Refusal> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .map(Some)
            .ok_or(bad),
        Some(_) => Err(bad),
    }
}

/// An optional string member; anything else is `invalid_client_metadata`.
fn string<'o>(object: &'o Map<String, Value>, name: &str) -> Result<Option<&'o str>, Refusal> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(metadata("a member has the wrong type")),
    }
}

/// The scheme and, for `http`/`https`, the host (lowercase, brackets kept) of a redirect URI
/// that passes the rules common to every client.
fn split_uri(uri: &str) -> Result<(String, Option<String>), Refusal> {
    if uri.len() > MAX_URI_LEN
        || uri.contains('#')
        || uri
            .bytes()
            .any(|b| b.is_ascii_control() || b == b' ' || b == b'\\' || b >= 0x80)
    {
        return Err(redirect("a redirect URI is malformed or has a fragment"));
    }
    let (scheme, rest) = uri
        .split_once(':')
        .ok_or(redirect("a redirect URI is not absolute"))?;
    let scheme_ok = scheme
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
    if !scheme_ok || rest.is_empty() {
        return Err(redirect("a redirect URI is not absolute"));
    }
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Ok((scheme, None));
    }
    let rest = rest
        .strip_prefix("//")
        .ok_or(redirect("a redirect URI has no host"))?;
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = rest.get(..end).unwrap_or_default();
    if authority.contains('@') {
        return Err(redirect("a redirect URI carries credentials"));
    }
    let host = if authority.starts_with('[') {
        authority
            .find(']')
            .and_then(|i| authority.get(..=i))
            .unwrap_or(authority)
    } else {
        authority.split(':').next().unwrap_or_default()
    };
    if host.is_empty() {
        return Err(redirect("a redirect URI has no host"));
    }
    Ok((scheme, Some(host.to_ascii_lowercase())))
}

/// Whether `host` is the machine itself.
fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host == "[::1]"
        || host.strip_prefix("127.").is_some_and(|r| {
            r.split('.').count() == 3 && r.split('.').all(|o| o.parse::<u8>().is_ok())
        })
}

/// The rules of the module docs for one redirect URI.
fn check_redirect_uri(uri: &str, native: bool) -> Result<(), Refusal> {
    let (scheme, host) = split_uri(uri)?;
    match (native, scheme.as_str(), host.as_deref()) {
        (false, "https", Some(h)) if !is_loopback(h) => Ok(()),
        (false, _, _) => Err(redirect(
            "a web client's redirect URIs are https and not on a loopback host",
        )),
        (true, "https", Some(_)) => Ok(()),
        (true, "http", Some(h)) if h == "127.0.0.1" || h == "[::1]" || h == "localhost" => Ok(()),
        (true, "http", _) => Err(redirect(
            "a native client's http redirect URIs are on 127.0.0.1, [::1] or localhost",
        )),
        (true, s, _) if FORBIDDEN_SCHEMES.contains(&s) => {
            Err(redirect("this redirect URI scheme is not allowed"))
        }
        (true, _, _) => Ok(()),
    }
}

impl<S: ClientStore> Engine<S> {
    /// The client registration endpoint (RFC 7591 §3): `POST` with a JSON object of client
    /// metadata (`application/json`, at most [`RegisteredClients::MAX_REGISTRATION_LEN`]
    /// bytes), the bearer initial access token if `policy` requires one (`401 invalid_token`
    /// otherwise).
    ///
    /// Checked: `redirect_uris` by `application_type` (see the module rules;
    /// `invalid_redirect_uri`), `grant_types` and `response_types` consistent with each other
    /// (`authorization_code` with `code`, no implicit, defaults `authorization_code` and
    /// `code`) and allowed by `policy`, `token_endpoint_auth_method` (`none`,
    /// `client_secret_basic` (the default), `client_secret_post`, `private_key_jwt` with an
    /// inline `jwks`; a public client may not use client credentials), `scope` (narrowed to
    /// the policy's), `client_name`, `require_pushed_authorization_requests` (RFC 9126 §6);
    /// `invalid_client_metadata` otherwise. Members this
    /// server does not use are ignored and not echoed (RFC 7591 §3.2.1), a
    /// `software_statement` included.
    ///
    /// Registered, the client is stored through [`ClientStore`] and answered `201` with
    /// `client_id` (`dyn_` and 256 random bits), `client_id_issued_at`, the registered
    /// metadata, and for the secret methods `client_secret` (256 random bits, shown once:
    /// only its HMAC under [`EngineBuilder::client_secret_key`](crate::EngineBuilder::client_secret_key)
    /// is stored) with `client_secret_expires_at` `0`; `Cache-Control: no-store`.
    pub async fn registration_endpoint(
        &self,
        policy: &RegistrationPolicy,
        request: &HttpRequest<'_>,
    ) -> HttpResponse {
        if !request.is("POST") {
            return HttpResponse::method_not_allowed("POST");
        }
        if let Some(expected) = &policy.token {
            let presented = request
                .single_header("authorization")
                .ok()
                .flatten()
                .and_then(|h| {
                    h.get(..7)
                        .filter(|s| s.eq_ignore_ascii_case("bearer "))
                        .and_then(|_| h.get(7..))
                })
                .map(|t| token_digest(t.trim()));
            let ok = presented.is_some_and(|p| bool::from(p.ct_eq(expected)));
            if !ok {
                return HttpResponse::json(401, json!({"error": "invalid_token"}).to_string())
                    .with_header("WWW-Authenticate", "Bearer error=\"invalid_token\"")
                    .no_store();
            }
        }
        match self.register(policy, request).await {
            Ok(body) => HttpResponse::json(201, body.to_string()).secret(),
            Err(e) => HttpResponse::from_error(&e),
        }
    }

    async fn register(
        &self,
        policy: &RegistrationPolicy,
        request: &HttpRequest<'_>,
    ) -> Result<Value, Error> {
        let json_type = request.single_header("content-type")?.is_some_and(|t| {
            t.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
        });
        if !json_type {
            return Err(Error::InvalidRequest(
                "content type must be application/json",
            ));
        }
        let body = request.raw_body()?.as_bytes();
        if body.len() > RegisteredClients::MAX_REGISTRATION_LEN {
            return Err(metadata("the request is too large"));
        }
        let object = crate::client_metadata::strict_object(body)
            .ok_or(metadata("not a JSON object, or a member repeated"))?;
        let registration = self.validate_registration(policy, &object)?;
        let id = crate::opaque::random_text(RegisteredClients::CLIENT_ID_PREFIX)?.to_string();
        let secret = match registration.token_endpoint_auth_method.as_str() {
            "client_secret_basic" | "client_secret_post" => Some(ClientSecret::generate()?),
            _ => None,
        };
        let mut registration = registration;
        if let Some(secret) = &secret {
            let hasher = self
                .client_secret_hasher()
                .ok_or(metadata("this server does not issue client secrets"))?;
            let hash = hasher.hash(secret.expose_secret());
            let mut text = String::new();
            b64_encode_to(&hash.0, &mut text);
            registration.secret_hash = Some(text);
        }
        let now = self.now();
        let mut record = ClientRecord {
            client_id: id,
            issued_at: now,
            payload: serde_json::to_vec(&registration)
                .map_err(|e| Error::Serialize(e.to_string()))?,
        };
        // An `Exists` answer draws another id: 256 random bits do not collide, so it is a
        // store that re-sent the insert after losing its answer (a dropped connection, a
        // driver's retry) and found its own first attempt. That record is left unused (nobody
        // was told its id); it is not read back and taken for this registration, because a
        // store that waits for a replica before answering an insert (the Redis store's
        // `WaitForReplica`) does not wait when it answers `Exists`, nor when it loads.
        let mut attempt = 1;
        loop {
            match self
                .inner
                .store
                .insert_client(&record)
                .await
                .map_err(store_error)?
            {
                InsertOutcome::Inserted => break,
                InsertOutcome::Exists if attempt < super::code::FRESH_ATTEMPTS => {
                    attempt += 1;
                    record.client_id =
                        crate::opaque::random_text(RegisteredClients::CLIENT_ID_PREFIX)?
                            .to_string();
                }
                InsertOutcome::Exists => {
                    return Err(Error::Crypto(
                        "client registration: every fresh random id was already stored",
                    ));
                }
            }
        }
        let id = record.client_id;
        registration.secret_hash = None;
        let mut answer =
            serde_json::to_value(&registration).map_err(|e| Error::Serialize(e.to_string()))?;
        if let Value::Object(m) = &mut answer {
            m.insert("client_id".into(), json!(id));
            m.insert("client_id_issued_at".into(), json!(now));
            if let Some(secret) = &secret {
                m.insert("client_secret".into(), json!(secret.expose_secret()));
                m.insert("client_secret_expires_at".into(), json!(0));
            }
        }
        Ok(answer)
    }

    /// Every metadata rule; the registration to store (without its secret yet).
    fn validate_registration(
        &self,
        policy: &RegistrationPolicy,
        object: &Map<String, Value>,
    ) -> Result<Registration, Refusal> {
        let native = match string(object, "application_type")? {
            None | Some("web") => false,
            Some("native") => true,
            Some(_) => return Err(metadata("application_type is web or native")),
        };
        let grant_names = strings(object, "grant_types", metadata("grant_types is an array"))?
            .unwrap_or_else(|| vec!["authorization_code".to_owned()]);
        let response_types = strings(
            object,
            "response_types",
            metadata("response_types is an array"),
        )?
        .unwrap_or_else(|| vec!["code".to_owned()]);
        let mut grants = Vec::new();
        for name in &grant_names {
            let g = GrantType::parse(name)
                .filter(|g| policy.grants.contains(g))
                .ok_or(metadata("a grant type is not offered"))?;
            if !grants.contains(&g) {
                grants.push(g);
            }
        }
        if grants.is_empty() {
            return Err(metadata("no grant type"));
        }
        // RFC 7591 §2.1: `code` goes with `authorization_code`; nothing else is offered.
        if response_types.iter().any(|t| t != "code") {
            return Err(metadata("only the code response type is offered"));
        }
        let code_flow = grants.contains(&GrantType::AuthorizationCode);
        if code_flow == response_types.is_empty() {
            return Err(metadata(
                "authorization_code and the code response type go together",
            ));
        }
        let method = string(object, "token_endpoint_auth_method")?.unwrap_or("client_secret_basic");
        let jwks = match method {
            "none" | "client_secret_basic" | "client_secret_post" => None,
            "private_key_jwt" => {
                if object.contains_key("jwks_uri") {
                    return Err(metadata("jwks_uri is not supported: send jwks"));
                }
                let jwks = object.get("jwks").cloned();
                jwks_keys(jwks.as_ref()).map_err(|()| metadata("jwks holds no usable key"))?;
                jwks
            }
            _ => return Err(metadata("token_endpoint_auth_method is not supported")),
        };
        if method.starts_with("client_secret") && self.client_secret_hasher().is_none() {
            return Err(metadata("this server does not issue client secrets"));
        }
        if method == "none" && grants.contains(&GrantType::ClientCredentials) {
            return Err(metadata("a public client cannot use client_credentials"));
        }
        let redirect_uris = strings(
            object,
            "redirect_uris",
            redirect("redirect_uris is an array of strings"),
        )?
        .unwrap_or_default();
        if code_flow && redirect_uris.is_empty() {
            return Err(redirect("the code flow needs redirect_uris"));
        }
        if redirect_uris.len() > MAX_REDIRECT_URIS {
            return Err(redirect("too many redirect URIs"));
        }
        for uri in &redirect_uris {
            check_redirect_uri(uri, native)?;
        }
        let scope = match string(object, "scope")? {
            Some(s) => {
                let wanted = parse_scope(s).map_err(|_| metadata("scope is malformed"))?;
                wanted
                    .into_iter()
                    .filter(|w| policy.scopes.iter().any(|a| a == w))
                    .collect::<Vec<_>>()
                    .join(" ")
            }
            None => policy.scopes.join(" "),
        };
        let client_name = string(object, "client_name")?
            .map(|n| {
                if n.len() > MAX_NAME_LEN || n.chars().any(char::is_control) {
                    Err(metadata("client_name is too long"))
                } else {
                    Ok(n.to_owned())
                }
            })
            .transpose()?;
        let require_par = match object.get("require_pushed_authorization_requests") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(metadata("a member has the wrong type")),
        };
        Ok(Registration {
            require_pushed_authorization_requests: require_par,
            redirect_uris,
            grant_types: grants.iter().map(|g| g.as_str().to_owned()).collect(),
            response_types,
            token_endpoint_auth_method: method.to_owned(),
            application_type: if native { "native" } else { "web" }.to_owned(),
            scope: Some(scope).filter(|s| !s.is_empty()),
            client_name,
            jwks,
            secret_hash: None,
        })
    }
}

/// Whether `given` is `registered` with another port: both `http` on the same loopback host
/// (`127.0.0.1`, `[::1]`, `localhost`), the same path and query (RFC 8252 §7.3).
pub(crate) fn same_loopback_but_port(registered: &str, given: &str) -> bool {
    fn split(uri: &str) -> Option<(&str, &str)> {
        let rest = uri.strip_prefix("http://")?;
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let (host, port) = if authority.starts_with('[') {
            let close = authority.find(']')?;
            let (h, p) = authority.split_at(close + 1);
            (h, p)
        } else {
            match authority.find(':') {
                Some(i) => authority.split_at(i),
                None => (authority, ""),
            }
        };
        let port_ok = port.is_empty()
            || port.strip_prefix(':').is_some_and(|p| {
                !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit())
            });
        let loopback = host == "127.0.0.1" || host == "[::1]" || host == "localhost";
        (port_ok && loopback).then_some((host, tail))
    }
    match (split(registered), split(given)) {
        (Some(r), Some(g)) => r == g,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_rules_by_application_type() {
        for ok in ["https://app.example/cb", "https://app.example:8443/cb?x=1"] {
            assert!(check_redirect_uri(ok, false).is_ok(), "{ok}");
        }
        for bad in [
            "http://127.0.0.1:3000/cb",
            "http://localhost/cb",
            "https://localhost/cb",
            "https://127.0.0.1/cb",
            "https://[::1]/cb",
            "http://app.example/cb",
            "com.example.app:/cb",
            "https://app.example/cb#frag",
            "https://user@app.example/cb",
            "/cb",
            "https:///cb",
        ] {
            assert!(check_redirect_uri(bad, false).is_err(), "web {bad}");
        }
        for ok in [
            "http://127.0.0.1:3000/cb",
            "http://[::1]:3000/cb",
            "http://localhost:8080/callback",
            "com.example.app:/oauth2redirect",
            "https://app.example/cb",
        ] {
            assert!(check_redirect_uri(ok, true).is_ok(), "native {ok}");
        }
        for bad in [
            "http://app.example/cb",
            "http://127.0.0.1.evil.example/cb",
            "http://10.0.0.1/cb",
            "javascript:alert(1)",
            "data:text/html,x",
            "file:///etc/passwd",
            "com.example.app:/cb#x",
        ] {
            assert!(check_redirect_uri(bad, true).is_err(), "native {bad}");
        }
    }

    #[test]
    fn loopback_matching_ignores_the_port_only() {
        let r = "http://127.0.0.1/cb";
        assert!(same_loopback_but_port(r, "http://127.0.0.1:51234/cb"));
        assert!(same_loopback_but_port(
            "http://[::1]:1/cb",
            "http://[::1]:2/cb"
        ));
        for bad in [
            "http://127.0.0.1:51234/other",
            "http://localhost:51234/cb",
            "https://127.0.0.1:51234/cb",
            "http://127.0.0.1:51234/cb?x=1",
            "http://127.0.0.1:x/cb",
            "http://127.0.0.1@evil.example/cb",
        ] {
            assert!(!same_loopback_but_port(r, bad), "{bad}");
        }
        assert!(!same_loopback_but_port(
            "https://app.example/cb",
            "https://app.example:1/cb"
        ));
    }
}
