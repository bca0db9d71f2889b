//! The device authorization (RFC 8628 §3.1), introspection (RFC 7662) and revocation
//! (RFC 7009) endpoints, each one call over the whole request: `POST` with a form body, the
//! caller authenticated inside the call, the response ready to write out.

use super::Engine;
use crate::client::{Client, GrantType};
use crate::client_auth::{ClientCredentials, ClientRegistry};
use crate::error::Error;
use crate::form::Form;
use crate::http::{Endpoint, HttpRequest, HttpResponse};
use crate::response::IntrospectionResponse;
use crate::store::{DeviceStore, ReplayStore};

/// RFC 9701's media type: a signed introspection response.
pub(crate) const INTROSPECTION_JWT: &str = "application/token-introspection+jwt";
/// Its JOSE `typ`.
const INTROSPECTION_JWT_TYP: &str = "token-introspection+jwt";

/// Whether the request's `Accept` names RFC 9701's media type (among others, with
/// parameters, in any case). One `Accept` header at most.
fn wants_jwt_response(request: &HttpRequest<'_>) -> Result<bool, Error> {
    Ok(request.single_header("accept")?.is_some_and(|accept| {
        accept
            .split(',')
            .take(32)
            .filter_map(|range| range.split(';').next())
            .any(|media| media.trim().eq_ignore_ascii_case(INTROSPECTION_JWT))
    }))
}

impl<S: ReplayStore> Engine<S> {
    /// Parse a `POST` form and authenticate its client (the `Authorization` header, or the
    /// form's `client_id`, `client_secret`, `client_assertion`).
    async fn authenticated_form<R: ClientRegistry>(
        &self,
        clients: &R,
        request: &HttpRequest<'_>,
    ) -> Result<(Form, Client), Error> {
        let authorization = request.single_header("authorization")?;
        let form = request.form_body()?;
        let client = self
            .authenticate_client(clients, &ClientCredentials::of(authorization, &form))
            .await?;
        Ok((form, client))
    }

    /// The introspection endpoint (RFC 7662): `POST` with `token` (and an ignored
    /// `token_type_hint`). The caller must authenticate as a confidential client (§2.1): a
    /// public client, a bare `client_id`, is `invalid_client` (401). It sees a token as
    /// active only if it may (§4): tokens issued to it, tokens naming it in `aud`, or every
    /// token for a client registered with
    /// [`Client::introspect_all_tokens`](crate::Client::introspect_all_tokens) (a resource
    /// server or gateway); otherwise, and for anything invalid, expired or revoked, exactly
    /// `{"active":false}`. `Cache-Control: no-store`.
    ///
    /// A request whose `Accept` names `application/token-introspection+jwt` gets the RFC 9701
    /// answer instead: a JWT signed with the engine's current signing key (verify it with the
    /// engine's JWKS), header `typ: token-introspection+jwt`, claims `iss`, `aud` (the
    /// caller's client id), `iat` and `token_introspection` (the RFC 7662 object above),
    /// `Content-Type: application/token-introspection+jwt`. Reference access tokens are
    /// introspected here like any other token.
    pub async fn introspection_endpoint<R: ClientRegistry>(
        &self,
        clients: &R,
        request: &HttpRequest<'_>,
    ) -> HttpResponse {
        if !request.is("POST") {
            return HttpResponse::method_not_allowed("POST");
        }
        let answer = async {
            let (form, caller) = self.authenticated_form(clients, request).await?;
            if caller.is_public() {
                return Err(Error::InvalidClient(
                    "introspection needs an authenticated client",
                ));
            }
            let token = form.require("token", "token is required")?;
            let r = self.introspect(token).await?;
            let visible = caller.introspects_all_tokens()
                || r.client_id.as_deref() == Some(caller.id())
                || r.aud.as_ref().is_some_and(|a| a.contains(caller.id()));
            let r = if r.active && visible {
                r
            } else {
                IntrospectionResponse::inactive()
            };
            if wants_jwt_response(request)? {
                return Ok(HttpResponse::new(200)
                    .with_header("Content-Type", INTROSPECTION_JWT)
                    .with_body(self.introspection_jwt(caller.id(), &r)?));
            }
            Ok(HttpResponse::json_of(&r))
        };
        match answer.await {
            Ok(r) => r.no_store(),
            Err(e) => HttpResponse::from_error(&e),
        }
    }

    /// The RFC 9701 answer: `{iss, aud: caller, iat, token_introspection}` signed with the
    /// engine's current key, `typ: token-introspection+jwt`.
    fn introspection_jwt(&self, caller: &str, r: &IntrospectionResponse) -> Result<String, Error> {
        #[derive(serde::Serialize)]
        struct Claims<'a> {
            iss: &'a str,
            aud: &'a str,
            iat: i64,
            token_introspection: &'a IntrospectionResponse,
        }
        let payload = serde_json::to_vec(&Claims {
            iss: &self.inner.issuer,
            aud: caller,
            iat: self.now(),
            token_introspection: r,
        })
        .map_err(|e| Error::Serialize(e.to_string()))?;
        let key = self.inner.keys.signing_key();
        crate::jose::sign_compact(&key, Some(INTROSPECTION_JWT_TYP), &payload)
    }

    /// The revocation endpoint (RFC 7009): `POST` with `token` (and an ignored
    /// `token_type_hint`). The client authenticates as registered (a public client by its
    /// `client_id`). A refresh token revokes its session; an access token with a session
    /// (`sid`) revokes the session. `200` with an empty body for every token, unknown,
    /// malformed or already revoked ones included (§2.2); a token issued to another client
    /// is `unauthorized_client` and revokes nothing. CORS for browsers.
    pub async fn revocation_endpoint<R: ClientRegistry>(
        &self,
        clients: &R,
        request: &HttpRequest<'_>,
    ) -> HttpResponse {
        if !request.is("POST") {
            return HttpResponse::method_not_allowed("POST");
        }
        let answer = async {
            let (form, client) = self.authenticated_form(clients, request).await?;
            let token = form.require("token", "token is required")?;
            self.revoke(&client, token).await
        };
        let response = match answer.await {
            Ok(_) => HttpResponse::new(200).no_store(),
            Err(e) => HttpResponse::from_error(&e),
        };
        Endpoint::Revocation.cors(request, response)
    }
}

impl<S: DeviceStore + ReplayStore> Engine<S> {
    /// The device authorization endpoint (RFC 8628 §3.1-3.2): `POST` with `client_id` (or
    /// the client's authentication) and `scope`. The client must be allowed the device
    /// grant, which the server must offer. Answers the device code, user code and the
    /// verification URIs set with
    /// [`EngineBuilder::device_authorization_endpoint`](crate::EngineBuilder::device_authorization_endpoint);
    /// `Cache-Control: no-store`.
    pub async fn device_authorization_endpoint<R: ClientRegistry>(
        &self,
        clients: &R,
        request: &HttpRequest<'_>,
    ) -> HttpResponse {
        if !request.is("POST") {
            return HttpResponse::method_not_allowed("POST");
        }
        let answer = async {
            let verification = self.inner.endpoints.device_verification.as_deref().ok_or(
                Error::Config(
                    "engine: the device endpoint needs EngineBuilder::device_authorization_endpoint",
                ),
            )?;
            if !self.offers(GrantType::DeviceCode) {
                return Err(Error::UnsupportedGrantType);
            }
            let (form, client) = self.authenticated_form(clients, request).await?;
            self.start_device_authorization(&client, form.get("scope"), verification)
                .await
        };
        match answer.await {
            Ok(d) => HttpResponse::json_of(&d).secret(),
            Err(e) => HttpResponse::from_error(&e),
        }
    }
}
