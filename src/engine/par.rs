//! Pushed authorization requests (RFC 9126): the client sends its authorization request
//! straight to the server, authenticated ([`Engine::pushed_authorization_endpoint`]), and
//! gets a short-lived `request_uri` to send the user's browser with instead of the
//! parameters ([`Engine::authorization_request`] resolves it).
//!
//! The pushed parameters are stored through the one-time code capability
//! ([`CodeStore`]) under a key of their own label, so every store that serves the
//! authorization-code grant serves this too, across instances: a request pushed to one app
//! server is used on another. A pushed request is spent when it is answered
//! ([`Engine::authorization_response`]), so it yields at most one code; it can only be used
//! with the `client_id` that pushed it.

use serde::{Deserialize, Serialize};
use serde_json::json;
use time::Duration;

use super::authorize::{Refusal, error_page, single, unavailable};
use super::{Engine, EngineBuilder, store_error, store_key};
use crate::client_auth::{ClientCredentials, ClientRegistry};
use crate::error::Error;
use crate::form::parse_pairs;
use crate::http::{HttpRequest, HttpResponse};
use crate::store::{CodeStore, InsertOutcome, ReplayStore};

/// The prefix of every `request_uri` this crate mints (RFC 9126 §2.2).
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";
/// Longest `request_uri` looked up (the crate's are 77 characters).
const MAX_REQUEST_URI_LEN: usize = 128;
/// How long a pushed request stays usable once the authorization endpoint first used it:
/// the user's login and consent take longer than the push's lifetime.
pub const PUSHED_INTERACTION_TTL: i64 = 600;
/// The client authentication parameters, which are not part of the authorization request.
const AUTH_PARAMS: [&str; 3] = ["client_secret", "client_assertion", "client_assertion_type"];

/// The PAR settings of an engine.
#[derive(Clone, Debug)]
pub(crate) struct ParSettings {
    /// Every client must push its requests.
    pub(crate) required: bool,
    /// Lifetime of a pushed request, seconds.
    pub(crate) ttl: Duration,
    /// Where the application mounts the endpoint (metadata).
    pub(crate) endpoint: Option<String>,
}

impl Default for ParSettings {
    fn default() -> Self {
        Self {
            required: false,
            ttl: Duration::seconds(60),
            endpoint: None,
        }
    }
}

impl ParSettings {
    /// The lifetime in whole seconds, 5 s to 10 min.
    pub(crate) fn check(&self) -> Result<i64, Error> {
        let ttl = self.ttl;
        if ttl < Duration::seconds(5)
            || ttl > Duration::minutes(10)
            || ttl.subsec_nanoseconds() != 0
        {
            return Err(Error::Config(
                "engine: pushed_request_ttl must be whole seconds between 5 seconds and 10 minutes",
            ));
        }
        Ok(ttl.whole_seconds())
    }
}

/// What is stored for a pushed request: its parameters, and whether the authorization
/// endpoint has used it yet.
#[derive(Serialize, Deserialize)]
struct PushedRequest {
    pairs: Vec<(String, String)>,
    started: bool,
}

fn pushed_key(request_uri: &str) -> [u8; 32] {
    store_key("pushed_authorization_request", &[request_uri.as_bytes()])
}

impl EngineBuilder {
    /// Where the application mounts the pushed authorization request endpoint
    /// ([`Engine::pushed_authorization_endpoint`]): `pushed_authorization_request_endpoint`
    /// in the metadata.
    pub fn pushed_authorization_request_endpoint(mut self, url: impl Into<String>) -> Self {
        self.par.endpoint = Some(url.into());
        self
    }

    /// How long a pushed request's `request_uri` may wait for the authorization endpoint
    /// (`expires_in`): whole seconds, 5 seconds to 10 minutes, default 60 s (checked at
    /// `build`). Once used there, it stays usable for the login and consent pages for
    /// [`PUSHED_INTERACTION_TTL`] seconds, until answered.
    pub fn pushed_request_ttl(mut self, ttl: Duration) -> Self {
        self.par.ttl = ttl;
        self
    }

    /// Every client must push its authorization requests (RFC 9126 §5): a plain request at
    /// the authorization endpoint is refused with `invalid_request`. Per client:
    /// [`Client::require_pushed_authorization_requests`](crate::Client::require_pushed_authorization_requests).
    pub fn require_pushed_authorization_requests(mut self) -> Self {
        self.par.required = true;
        self
    }
}

impl<S: CodeStore> Engine<S> {
    /// The parameters of the authorization request: those sent, or, with `request_uri`,
    /// those pushed (RFC 9126 §4), with the key that spends them.
    pub(super) async fn resolve_pushed(
        &self,
        pairs: Vec<(String, String)>,
    ) -> Result<(Vec<(String, String)>, Option<[u8; 32]>), HttpResponse> {
        const UNKNOWN: &str = "The request_uri is unknown, expired or already used.";
        let Some(uri) = single(&pairs, "request_uri").map_err(error_page)? else {
            return Ok((pairs, None));
        };
        // Any other `request_uri` (one to fetch) is not supported: the checks of the plain
        // request refuse it (`request_uri_not_supported`).
        if !uri.starts_with(REQUEST_URI_PREFIX) {
            return Ok((pairs, None));
        }
        if uri.len() > MAX_REQUEST_URI_LEN {
            return Err(error_page(UNKNOWN));
        }
        let Some(client_id) = single(&pairs, "client_id").map_err(error_page)? else {
            return Err(error_page("The request names no client."));
        };
        let key = pushed_key(uri);
        let store = &self.inner.store;
        let mut record = match store.take_code(&key).await {
            Ok(Some(r)) => r,
            Ok(None) => return Err(error_page(UNKNOWN)),
            Err(_) => return Err(unavailable()),
        };
        let now = self.now();
        if now >= record.expires_at {
            return Err(error_page(UNKNOWN));
        }
        let pushed = serde_json::from_slice::<PushedRequest>(&record.payload);
        let wrong_client = record.client_id != client_id;
        let pushed = match pushed {
            Ok(mut p) if !wrong_client => {
                if !p.started {
                    // The user now logs in and consents: give them time, once.
                    p.started = true;
                    record.expires_at = now.saturating_add(PUSHED_INTERACTION_TTL);
                    record.payload = serde_json::to_vec(&p).map_err(|_| unavailable())?;
                }
                Some(p)
            }
            _ => None,
        };
        // Put it back (unchanged for another client's attempt: it cannot spend it).
        match store.insert_code(&record).await {
            Ok(InsertOutcome::Inserted) => {}
            Ok(InsertOutcome::Exists) => return Err(error_page(UNKNOWN)),
            Err(_) => return Err(unavailable()),
        }
        match pushed {
            Some(p) => Ok((p.pairs, Some(key))),
            None => Err(error_page(UNKNOWN)),
        }
    }

    /// Spend a pushed request as it is answered: `false` if it is gone or expired.
    pub(super) async fn spend_pushed(&self, key: &[u8; 32]) -> Result<bool, Error> {
        let record = self.inner.store.take_code(key).await.map_err(store_error)?;
        Ok(record.is_some_and(|r| self.now() < r.expires_at))
    }
}

/// A refusal at the PAR endpoint: an engine error, or an authorization request error code.
enum PushError {
    Engine(Error),
    Request(&'static str, &'static str),
}

impl From<Error> for PushError {
    fn from(e: Error) -> Self {
        PushError::Engine(e)
    }
}

impl<S: CodeStore + ReplayStore> Engine<S> {
    /// The pushed authorization request endpoint (RFC 9126 §2): `POST` with a form body
    /// (`405` otherwise) holding the parameters of an authorization request and the client's
    /// authentication, exactly as at the token endpoint ([`Engine::authenticate_client`]; a
    /// public client sends its `client_id`). The request is checked as
    /// [`Engine::authorization_request`] checks one (the same code), and refused with the
    /// error it would get (`400` JSON, `invalid_request`, `invalid_scope`,
    /// `unsupported_response_type`, ...); a `request_uri` inside it is `invalid_request`
    /// (§2.1); failed client authentication is `401 invalid_client`. A `DPoP` proof (for
    /// `POST` to [`EngineBuilder::pushed_authorization_request_endpoint`], its `jti`
    /// recorded) binds the code to its key as `dpop_jkt` does (RFC 9449 §10.1); a
    /// `dpop_jkt` naming another key is `invalid_dpop_proof`. Accepted, it is stored
    /// and answered `201` with `request_uri` (`urn:ietf:params:oauth:request_uri:` and 256
    /// random bits) and `expires_in`
    /// ([`EngineBuilder::pushed_request_ttl`], 60 s by default), `Cache-Control: no-store`.
    pub async fn pushed_authorization_endpoint<R: ClientRegistry>(
        &self,
        clients: &R,
        request: &HttpRequest<'_>,
    ) -> HttpResponse {
        if !request.is("POST") {
            return HttpResponse::method_not_allowed("POST");
        }
        match self.push(clients, request).await {
            Ok((uri, ttl)) => HttpResponse::json(
                201,
                json!({ "request_uri": uri, "expires_in": ttl }).to_string(),
            )
            .no_store(),
            Err(PushError::Engine(e)) => HttpResponse::from_error(&e),
            Err(PushError::Request(error, description)) => HttpResponse::json(
                400,
                json!({ "error": error, "error_description": description }).to_string(),
            )
            .no_store(),
        }
    }

    async fn push<R: ClientRegistry>(
        &self,
        clients: &R,
        request: &HttpRequest<'_>,
    ) -> Result<(String, i64), PushError> {
        let authorization = request.single_header("authorization")?;
        let dpop = request
            .single_header("dpop")
            .map_err(|_| Error::InvalidDpopProof(crate::dpop::DpopError::Repeated))?;
        let form = request.form_body()?;
        let client = self
            .authenticate_client(clients, &ClientCredentials::of(authorization, &form))
            .await?;
        // RFC 9449 §10.1: a proof at the PAR endpoint binds the code to its key, as
        // `dpop_jkt` does; both must then name the same key.
        let jkt = match dpop {
            Some(proof) => {
                let endpoint = self.inner.par.endpoint.as_deref().ok_or(Error::Config(
                    "engine: DPoP at the PAR endpoint needs EngineBuilder::pushed_authorization_request_endpoint",
                ))?;
                let proof = self.verify_dpop_proof(proof, "POST", endpoint).await?;
                if form.get("dpop_jkt").is_some_and(|j| j != proof.jkt()) {
                    return Err(PushError::Request(
                        "invalid_dpop_proof",
                        "The DPoP proof's key is not the one dpop_jkt names.",
                    ));
                }
                Some(proof.jkt().to_owned())
            }
            None => None,
        };
        if form.get("request_uri").is_some() {
            return Err(PushError::Request(
                "invalid_request",
                "A pushed request cannot carry a request_uri.",
            ));
        }
        if form.get("client_id").is_some_and(|id| id != client.id()) {
            return Err(
                Error::InvalidClient("client_id differs from the authenticated client").into(),
            );
        }
        let mut pairs = parse_pairs(request.raw_body()?)?;
        pairs.retain(|(n, _)| !AUTH_PARAMS.contains(&n.as_str()));
        pairs.retain(|(n, v)| n != "client_id" || !v.is_empty());
        if !pairs.iter().any(|(n, _)| n == "client_id") {
            pairs.push(("client_id".to_owned(), client.id().to_owned()));
        }
        if let Some(jkt) = jkt {
            pairs.retain(|(n, _)| n != "dpop_jkt");
            pairs.push(("dpop_jkt".to_owned(), jkt));
        }
        let client_id = client.id().to_owned();
        match self.check(client, &pairs) {
            Ok(_) => {}
            Err(Refusal::Page(description)) => {
                return Err(PushError::Request("invalid_request", description));
            }
            Err(Refusal::Redirect(_, _, e)) => return Err(PushError::Request(e.0, e.1)),
        }
        let ttl = self.inner.par_ttl;
        let payload = serde_json::to_vec(&PushedRequest {
            pairs,
            started: false,
        })
        .map_err(|e| Error::Serialize(e.to_string()))?;
        let expires_at = self.now().saturating_add(ttl);
        let uri = self
            .insert_fresh(
                REQUEST_URI_PREFIX,
                pushed_key,
                &client_id,
                expires_at,
                payload,
            )
            .await?;
        Ok((uri.to_string(), ttl))
    }
}
