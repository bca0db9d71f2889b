//! Interop: the example authorization server (`examples/authorization_server/`) on a loopback
//! port, driven by the `oauth2` crate, an independent client library, as an application
//! would use it: authorization code with PKCE (submitting the login form and following the
//! redirect), refresh with rotation, reuse of an old refresh token revoking the session,
//! client credentials, the device flow (pending, then success), token exchange, revocation
//! and introspection, DPoP at the API, a code bound by `dpop_jkt`, and discovery from a bare
//! `401` (RFC 9728) at the API and at the tool server. The tokens also verify with
//! `jsonwebtoken` from the published JWKS alone.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

#[path = "../../authorization_server/server.rs"]
mod server;

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use oauth2::basic::BasicClient;
use oauth2::{
    AccessToken, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    DeviceAuthorizationUrl, IntrospectionUrl, PkceCodeChallenge, RedirectUrl, RefreshToken,
    RevocationUrl, Scope, StandardDeviceAuthorizationResponse, StandardRevocableToken,
    TokenIntrospectionResponse, TokenResponse, TokenUrl,
};
use serde_json::Value;
use token_engine::dpop::{ProofClaims, sign_proof};
use token_engine::{Algorithm, MemoryStore, SigningKey};

struct Running {
    base: String,
    http: reqwest::Client,
}

async fn start() -> Running {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let app = server::demo(&base, MemoryStore::new());
    tokio::spawn(async move { axum::serve(listener, server::router(app)).await });
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Running { base, http }
}

impl Running {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> (u16, String) {
        let r = self
            .http
            .post(self.url(path))
            .form(form)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }
}

/// The value of a hidden field of a page.
fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker).unwrap() + marker.len();
    let end = start + page[start..].find('"').unwrap();
    page[start..end]
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// What a user agent does on the login and consent page: open it (keeping the CSRF cookie),
/// fill in the form and submit it. Returns the answer (a redirect, or a page).
async fn login(
    r: &Running,
    auth_url: &str,
    user: &str,
    password: &str,
    decision: &str,
) -> reqwest::Response {
    let page = r.http.get(auth_url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let cookie = page.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let html = page.text().await.unwrap();
    assert!(html.contains("<form"));
    r.http
        .post(r.url("/authorize/decide"))
        .header("cookie", cookie)
        .form(&[
            ("csrf", hidden(&html, "csrf").as_str()),
            ("request", hidden(&html, "request").as_str()),
            ("username", user),
            ("password", password),
            ("decision", decision),
        ])
        .send()
        .await
        .unwrap()
}

/// The `code` of the redirect that answered the login form.
fn code_of(redirect: &reqwest::Response) -> String {
    let location = reqwest::Url::parse(redirect.headers()["location"].to_str().unwrap()).unwrap();
    location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned()
}

/// The application's view: the token endpoint's JSON.
fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap()
}

/// Verify an access token as a third party would: `jsonwebtoken` with the published JWKS.
async fn verify_with_jsonwebtoken(r: &Running, token: &str) -> Value {
    verify_for_audience(r, token, &r.url("/api")).await
}

/// [`verify_with_jsonwebtoken`] for another audience (a resource indicator, RFC 8707).
async fn verify_for_audience(r: &Running, token: &str, audience: &str) -> Value {
    let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_str(
        &r.http
            .get(r.url("/jwks.json"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    )
    .unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    let jwk = jwks.find(header.kid.as_deref().unwrap()).unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.set_issuer(&[&r.base]);
    validation.set_audience(&[audience]);
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .unwrap()
        .claims
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_code_with_pkce_refresh_reuse_and_revocation() {
    let r = start().await;
    let client = BasicClient::new(ClientId::new("web-app".into()))
        .set_auth_uri(AuthUrl::new(r.url("/authorize")).unwrap())
        .set_token_uri(TokenUrl::new(r.url("/token")).unwrap())
        .set_redirect_uri(RedirectUrl::new(server::WEB_REDIRECT.into()).unwrap())
        .set_revocation_url(RevocationUrl::new(r.url("/revoke")).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, csrf) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("openid".into()))
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge)
        .url();
    // The user agent opens the page and submits the login and consent form.
    let redirect = login(&r, auth_url.as_str(), "alice", "wonderland", "approve").await;
    assert!(redirect.status().is_redirection(), "{}", redirect.status());
    let location = reqwest::Url::parse(redirect.headers()["location"].to_str().unwrap()).unwrap();
    let params: HashMap<String, String> = location.query_pairs().into_owned().collect();
    assert_eq!(params["state"], *csrf.secret());
    assert_eq!(params["iss"], r.base, "RFC 9207 iss");
    let oauth_http = reqwest::Client::new();
    let tokens = client
        .exchange_code(AuthorizationCode::new(params["code"].clone()))
        .set_pkce_verifier(verifier)
        .request_async(&oauth_http)
        .await
        .unwrap();
    let claims = verify_with_jsonwebtoken(&r, tokens.access_token().secret()).await;
    assert_eq!(claims["sub"], "user-alice");
    assert_eq!(claims["client_id"], "web-app");
    let first = tokens.refresh_token().unwrap().clone();

    // Refresh rotates; a second rotation; then the first token, two generations old, is
    // reuse: the session is revoked and its newest token dies too.
    let second = client
        .exchange_refresh_token(&first)
        .request_async(&oauth_http)
        .await
        .unwrap();
    let second_rt = second.refresh_token().unwrap().clone();
    assert_ne!(second_rt.secret(), first.secret(), "rotated");
    let third = client
        .exchange_refresh_token(&second_rt)
        .request_async(&oauth_http)
        .await
        .unwrap();
    let third_rt = third.refresh_token().unwrap().clone();
    let err = client
        .exchange_refresh_token(&first)
        .request_async(&oauth_http)
        .await
        .unwrap_err();
    assert!(format!("{err:?}").contains("invalid_grant"), "{err:?}");
    let err = client
        .exchange_refresh_token(&third_rt)
        .request_async(&oauth_http)
        .await
        .unwrap_err();
    assert!(
        format!("{err:?}").contains("invalid_grant"),
        "session revoked: {err:?}"
    );
    // The API refuses the session's access token at once (revocation-aware check).
    let me = r
        .http
        .get(r.url("/api/me"))
        .bearer_auth(third.access_token().secret())
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 401);

    // A fresh login's refresh token, revoked through RFC 7009.
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, _) = client
        .authorize_url(CsrfToken::new_random)
        .set_pkce_challenge(challenge)
        .url();
    let redirect = login(&r, auth_url.as_str(), "bob", "builder", "approve").await;
    let code = code_of(&redirect);
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&oauth_http)
        .await
        .unwrap();
    let rt: RefreshToken = tokens.refresh_token().unwrap().clone();
    // `oauth2` refuses a revocation endpoint that is not https (RFC 7009 §2); on loopback the
    // request is the same form POST by hand.
    assert!(
        client
            .revoke_token(StandardRevocableToken::RefreshToken(rt.clone()))
            .is_err()
    );
    let (status, _) = r
        .post_form(
            "/revoke",
            &[("client_id", "web-app"), ("token", rt.secret())],
        )
        .await;
    assert_eq!(status, 200);
    assert!(
        client
            .exchange_refresh_token(&rt)
            .request_async(&oauth_http)
            .await
            .is_err()
    );
}

fn reports(
    r: &Running,
) -> oauth2::basic::BasicClient<
    oauth2::EndpointSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
    oauth2::EndpointSet,
    oauth2::EndpointSet,
> {
    BasicClient::new(ClientId::new("reports".into()))
        .set_client_secret(ClientSecret::new(server::REPORTS_SECRET.into()))
        .set_auth_uri(AuthUrl::new(r.url("/authorize")).unwrap())
        .set_token_uri(TokenUrl::new(r.url("/token")).unwrap())
        .set_introspection_url(IntrospectionUrl::new(r.url("/introspect")).unwrap())
        .set_revocation_url(RevocationUrl::new(r.url("/revoke")).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_credentials_introspection_exchange_and_dpop() {
    let r = start().await;
    let client = reports(&r);
    let oauth_http = reqwest::Client::new();
    let tokens = client
        .exchange_client_credentials()
        .add_scope(Scope::new("orders".into()))
        .request_async(&oauth_http)
        .await
        .unwrap();
    let access = tokens.access_token().clone();
    assert!(tokens.refresh_token().is_none());
    let claims = verify_with_jsonwebtoken(&r, access.secret()).await;
    assert_eq!(claims["sub"], "reports");
    let info = client
        .introspect(&access)
        .request_async(&oauth_http)
        .await
        .unwrap();
    assert!(info.active());
    assert_eq!(info.client_id().map(|c| c.as_str()), Some("reports"));
    let info = client
        .introspect(&AccessToken::new("not-a-token".into()))
        .request_async(&oauth_http)
        .await
        .unwrap();
    assert!(!info.active());

    // Token exchange (RFC 8693): `oauth2` has no helper; a form POST with Basic auth.
    let exchanged = r
        .http
        .post(r.url("/token"))
        .basic_auth("reports", Some(server::REPORTS_SECRET))
        .form(&[
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ),
            ("subject_token", access.secret()),
            (
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:access_token",
            ),
            ("audience", &r.url("/billing")),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(exchanged.status(), 200);
    let body = json(&exchanged.text().await.unwrap());
    assert_eq!(
        body["issued_token_type"],
        "urn:ietf:params:oauth:token-type:access_token"
    );

    // DPoP: a bound token from the token endpoint, then the API with a proof.
    let key = SigningKey::generate(Algorithm::ES256).unwrap().0;
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    };
    let token_url = r.url("/token");
    let proof = sign_proof(
        &key,
        &ProofClaims {
            method: "POST",
            uri: &token_url,
            iat: now(),
            jti: "interop-1",
            access_token: None,
            nonce: None,
        },
    )
    .unwrap();
    let bound = r
        .http
        .post(r.url("/token"))
        .basic_auth("reports", Some(server::REPORTS_SECRET))
        .header("dpop", proof)
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(bound.status(), 200);
    let body = json(&bound.text().await.unwrap());
    assert_eq!(body["token_type"], "DPoP");
    let bound = body["access_token"].as_str().unwrap().to_owned();
    let api = r.url("/api/me");
    let proof = sign_proof(
        &key,
        &ProofClaims {
            method: "GET",
            uri: &api,
            iat: now(),
            jti: "interop-2",
            access_token: Some(&bound),
            nonce: None,
        },
    )
    .unwrap();
    let me = r
        .http
        .get(&api)
        .header("authorization", format!("DPoP {bound}"))
        .header("dpop", proof)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    let me = r.http.get(&api).bearer_auth(&bound).send().await.unwrap();
    assert_eq!(me.status(), 401, "a DPoP-bound token is not a bearer token");
    // The error on the scheme it used, and the DPoP challenge with the algorithms (both
    // naming the API's metadata document).
    let challenge = me.headers()["www-authenticate"].to_str().unwrap();
    let dpop = challenge.find("DPoP ").map(|at| &challenge[at..]);
    assert!(
        challenge.starts_with("Bearer error=\"invalid_token\"")
            && dpop.is_some_and(|d| d.contains("algs=\"ES256")),
        "{challenge}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_device_flow_pending_then_success() {
    let r = start().await;
    let client = BasicClient::new(ClientId::new("tv".into()))
        .set_auth_uri(AuthUrl::new(r.url("/authorize")).unwrap())
        .set_token_uri(TokenUrl::new(r.url("/token")).unwrap())
        .set_device_authorization_url(
            DeviceAuthorizationUrl::new(r.url("/device_authorization")).unwrap(),
        );
    let oauth_http = reqwest::Client::new();
    let details: StandardDeviceAuthorizationResponse = client
        .exchange_device_code()
        .add_scope(Scope::new("profile".into()))
        .request_async(&oauth_http)
        .await
        .unwrap();
    let user_code = details.user_code().secret().clone();
    // Before the user answers: pending.
    let (status, body) = r
        .post_form(
            "/token",
            &[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("client_id", "tv"),
                ("device_code", details.device_code().secret()),
            ],
        )
        .await;
    assert_eq!(
        (status, json(&body)["error"].as_str()),
        (400, Some("authorization_pending"))
    );
    // The user approves on the verification page (its form carries a CSRF token).
    let page = r.http.get(r.url("/device")).send().await.unwrap();
    let cookie = page.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let html = page.text().await.unwrap();
    let form = [
        ("csrf", hidden(&html, "csrf")),
        ("user_code", user_code.clone()),
        ("username", "alice".into()),
        ("password", "wonderland".into()),
        ("answer", "approve".into()),
    ];
    // Without the cookie (a cross-site form post): refused.
    let forged = r
        .http
        .post(r.url("/device"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let approved = r
        .http
        .post(r.url("/device"))
        .header("cookie", cookie)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(approved.status(), 200);
    // The device's library polls at the interval and gets the tokens.
    let tokens = client
        .exchange_device_access_token(&details)
        .request_async(
            &oauth_http,
            tokio::time::sleep,
            Some(Duration::from_secs(60)),
        )
        .await
        .unwrap();
    let claims = verify_with_jsonwebtoken(&r, tokens.access_token().secret()).await;
    assert_eq!(claims["sub"], "user-alice");
    assert!(tokens.refresh_token().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_describes_the_endpoints() {
    let r = start().await;
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        let m = json(
            &r.http
                .get(r.url(path))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
        );
        assert_eq!(m["issuer"], r.base);
        assert_eq!(m["token_endpoint"], r.url("/token"));
        assert_eq!(
            m["code_challenge_methods_supported"],
            serde_json::json!(["S256"])
        );
    }
}

/// The `oauth2` client's authorization URL, with the test's tweaks to its query.
fn web_client(
    r: &Running,
) -> oauth2::basic::BasicClient<
    oauth2::EndpointSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
> {
    BasicClient::new(ClientId::new("web-app".into()))
        .set_auth_uri(AuthUrl::new(r.url("/authorize")).unwrap())
        .set_token_uri(TokenUrl::new(r.url("/token")).unwrap())
        .set_redirect_uri(RedirectUrl::new(server::WEB_REDIRECT.into()).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_endpoint_errors_never_redirect_to_an_unvalidated_uri() {
    let r = start().await;
    let client = web_client(&r);
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    let (good, csrf) = client
        .authorize_url(CsrfToken::new_random)
        .set_pkce_challenge(challenge)
        .url();
    let with = |from: &str, to: &str| good.as_str().replace(from, to);
    let page_only = [
        // An unregistered redirect URI: a page, never a redirect (RFC 6749 §4.1.2.1).
        with("127.0.0.1%2Fcallback", "evil.example%2Fcallback"),
        with("client_id=web-app", "client_id=nobody"),
        format!("{good}&redirect_uri=http%3A%2F%2Fevil.example%2F"),
    ];
    for url in page_only {
        let resp = r.http.get(&url).send().await.unwrap();
        assert_eq!(resp.status(), 400, "{url}");
        assert!(resp.headers().get("location").is_none(), "{url}");
    }
    // `response_type=token` and a repeated parameter go back to the registered URI.
    for (url, code) in [
        (
            with("response_type=code", "response_type=token"),
            "unsupported_response_type",
        ),
        (
            format!("{good}&code_challenge_method=S256"),
            "invalid_request",
        ),
        (
            with("scope=", "x=").replace("response_type=code&", ""),
            "invalid_request",
        ),
    ] {
        let resp = r.http.get(&url).send().await.unwrap();
        assert_eq!(resp.status(), 303, "{url}");
        let location = reqwest::Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap();
        assert!(
            location.as_str().starts_with(server::WEB_REDIRECT),
            "{location}"
        );
        let p: HashMap<String, String> = location.query_pairs().into_owned().collect();
        assert_eq!(p["error"], code, "{url}");
        assert_eq!(p["state"], *csrf.secret());
        assert_eq!(p["iss"], r.base);
    }
    // Declining consent: access_denied to the registered URI, with state and iss.
    let denied = login(&r, good.as_str(), "alice", "", "deny").await;
    assert_eq!(denied.status(), 303);
    let location = reqwest::Url::parse(denied.headers()["location"].to_str().unwrap()).unwrap();
    let p: HashMap<String, String> = location.query_pairs().into_owned().collect();
    assert_eq!(p["error"], "access_denied");
    assert_eq!(p["iss"], r.base);
    // A wrong password: the page again, no redirect.
    let wrong = login(&r, good.as_str(), "alice", "nope", "approve").await;
    assert_eq!(wrong.status(), 401);
    assert!(wrong.headers().get("location").is_none());
    // The consent form without its CSRF cookie (a cross-site post): refused.
    let forged = r
        .http
        .post(r.url("/authorize/decide"))
        .form(&[
            ("csrf", "x"),
            ("request", good.query().unwrap()),
            ("username", "alice"),
            ("password", "wonderland"),
            ("decision", "approve"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    // A repeated field in the form (last-value-wins would pick one): refused.
    let page = r.http.get(good.as_str()).send().await.unwrap();
    let cookie = page.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let html = page.text().await.unwrap();
    let repeated = r
        .http
        .post(r.url("/authorize/decide"))
        .header("cookie", cookie.as_str())
        .form(&[
            ("csrf", hidden(&html, "csrf").as_str()),
            ("request", hidden(&html, "request").as_str()),
            ("username", "alice"),
            ("password", "wonderland"),
            ("decision", "deny"),
            ("decision", "approve"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(repeated.status(), 400);
    assert!(repeated.headers().get("location").is_none());
    // Declining with the original request swapped for one naming an unregistered redirect
    // URI (the form's CSRF token and cookie valid): the request is validated again, so an
    // error page, never a redirect there (RFC 6749 §4.1.2.1; the old demo redirected to
    // whatever `redirect_uri` was posted).
    let evil = hidden(&html, "request").replace("127.0.0.1%2Fcallback", "evil.example%2Fcallback");
    assert_ne!(evil, hidden(&html, "request"));
    let declined = r
        .http
        .post(r.url("/authorize/decide"))
        .header("cookie", cookie.as_str())
        .form(&[
            ("csrf", hidden(&html, "csrf").as_str()),
            ("request", evil.as_str()),
            ("username", "alice"),
            ("password", "wonderland"),
            ("decision", "deny"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(declined.status(), 400);
    assert!(declined.headers().get("location").is_none());
    // prompt=none: the demo has no sessions, so login_required.
    let none = r
        .http
        .get(format!("{good}&prompt=none"))
        .send()
        .await
        .unwrap();
    let location = reqwest::Url::parse(none.headers()["location"].to_str().unwrap()).unwrap();
    assert!(
        location
            .query_pairs()
            .any(|(k, v)| k == "error" && v == "login_required")
    );
}

/// RFC 9449 §10: `dpop_jkt` at the example's authorization endpoint binds the code (the old
/// demo ignored it): the token request needs a proof by that key; another key's proof, or
/// none, is `invalid_grant`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dpop_jkt_binds_the_code_at_the_authorization_endpoint() {
    let r = start().await;
    let client = web_client(&r);
    let key = SigningKey::generate(Algorithm::ES256).unwrap().0;
    let thief = SigningKey::generate(Algorithm::ES256).unwrap().0;
    let jkt = key.verifying_key().thumbprint().unwrap();
    let token_url = r.url("/token");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    for (i, (signer, expected)) in [(Some(&thief), 400), (None, 400), (Some(&key), 200)]
        .into_iter()
        .enumerate()
    {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (auth_url, _) = client
            .authorize_url(CsrfToken::new_random)
            .set_pkce_challenge(challenge)
            .add_extra_param("dpop_jkt", &jkt)
            .url();
        let redirect = login(&r, auth_url.as_str(), "alice", "wonderland", "approve").await;
        let code = code_of(&redirect);
        let mut request = r.http.post(&token_url).form(&[
            ("grant_type", "authorization_code"),
            ("client_id", "web-app"),
            ("code", &code),
            ("redirect_uri", server::WEB_REDIRECT),
            ("code_verifier", verifier.secret()),
        ]);
        if let Some(k) = signer {
            let jti = format!("jkt-{i}");
            let claims = ProofClaims {
                method: "POST",
                uri: &token_url,
                iat: now,
                jti: &jti,
                access_token: None,
                nonce: None,
            };
            request = request.header("dpop", sign_proof(k, &claims).unwrap());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let body = json(&response.text().await.unwrap());
        assert_eq!(status, expected, "case {i}: {body}");
        if expected == 200 {
            assert_eq!(body["token_type"], "DPoP");
        } else {
            assert_eq!(body["error"], "invalid_grant", "case {i}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn introspection_needs_an_authenticated_caller_and_userinfo_answers() {
    let r = start().await;
    let client = web_client(&r);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, _) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("openid".into()))
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge)
        .url();
    let redirect = login(&r, auth_url.as_str(), "alice", "wonderland", "approve").await;
    let code = code_of(&redirect);
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&reqwest::Client::new())
        .await
        .unwrap();
    let access = tokens.access_token().secret().clone();
    // RFC 7662 §2.1: a public client id alone does not authenticate; nothing leaks.
    let (status, body) = r
        .post_form(
            "/introspect",
            &[("client_id", "web-app"), ("token", &access)],
        )
        .await;
    assert_eq!(status, 401, "{body}");
    assert!(!body.contains("user-alice"));
    // A confidential client sees only its own tokens (§4); the gateway sees every one.
    let reports = reports(&r);
    let info = reports
        .introspect(&AccessToken::new(access.clone()))
        .request_async(&reqwest::Client::new())
        .await
        .unwrap();
    assert!(!info.active());
    let gateway = BasicClient::new(ClientId::new("api-gateway".into()))
        .set_client_secret(ClientSecret::new(server::GATEWAY_SECRET.into()))
        .set_introspection_url(IntrospectionUrl::new(r.url("/introspect")).unwrap());
    let info = gateway
        .introspect(&AccessToken::new(access.clone()))
        .request_async(&reqwest::Client::new())
        .await
        .unwrap();
    assert!(info.active());
    assert_eq!(info.sub(), Some("user-alice"));
    // UserInfo: sub and the profile claims; without a token, a challenge with no error code.
    let me = r
        .http
        .get(r.url("/userinfo"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    let me = json(&me.text().await.unwrap());
    assert_eq!(
        me,
        serde_json::json!({"sub": "user-alice", "name": "Alice Liddell"})
    );
    let anonymous = r.http.get(r.url("/userinfo")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let challenge = anonymous.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.starts_with("Bearer") && !challenge.contains("error="),
        "{challenge}"
    );
    // Two DPoP headers at the token endpoint: refused (RFC 9449 §4.3).
    let two = r
        .http
        .post(r.url("/token"))
        .basic_auth("reports", Some(server::REPORTS_SECRET))
        .header("dpop", "a.b.c")
        .header("dpop", "d.e.f")
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(two.status(), 400);
    assert_eq!(
        json(&two.text().await.unwrap())["error"],
        "invalid_dpop_proof"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browsers_get_cors_preflights_on_the_endpoints_meant_for_them() {
    let r = start().await;
    for path in [
        "/token",
        "/revoke",
        "/userinfo",
        "/jwks.json",
        "/.well-known/openid-configuration",
    ] {
        let pre = r
            .http
            .request(reqwest::Method::OPTIONS, r.url(path))
            .header("origin", "https://spa.example")
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "dpop, content-type")
            .send()
            .await
            .unwrap();
        assert_eq!(pre.status(), 204, "{path}");
        assert_eq!(pre.headers()["access-control-allow-origin"], "*", "{path}");
        let allowed = pre.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap();
        assert!(allowed.contains("DPoP"), "{path}: {allowed}");
    }
    // The actual request from a browser gets the header too.
    let token = r
        .http
        .post(r.url("/token"))
        .header("origin", "https://spa.example")
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", "web-app"),
            ("refresh_token", "rt_x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(token.headers()["access-control-allow-origin"], "*");
    // Introspection is for servers: no CORS route.
    let pre = r
        .http
        .request(reqwest::Method::OPTIONS, r.url("/introspect"))
        .header("origin", "https://spa.example")
        .send()
        .await
        .unwrap();
    assert!(pre.headers().get("access-control-allow-origin").is_none());
}

/// The part of a `WWW-Authenticate` challenge's parameter `name`, quoted.
fn challenge_param(www: &str, name: &str) -> Option<String> {
    let marker = format!("{name}=\"");
    let start = www.find(&marker)? + marker.len();
    let end = start + www[start..].find('"')?;
    Some(www[start..end].to_owned())
}

/// A bare request to `resource` (a URL): `401` without an error code (RFC 6750 §3.1) naming
/// the metadata document at `well_known` (RFC 9728 §5.1; §3.1: the well-known suffix before
/// the resource's path). Returns the document's URL and the document, whose `resource` is
/// `resource` (RFC 9728 §3.3).
async fn metadata_from_a_bare_401(
    r: &Running,
    resource: &str,
    well_known: &str,
) -> (String, Value) {
    let bare = r.http.get(resource).send().await.unwrap();
    assert_eq!(bare.status(), 401);
    let www = bare.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(!www.contains("error="), "{www}");
    let metadata_url = challenge_param(&www, "resource_metadata").expect("resource_metadata");
    assert_eq!(metadata_url, r.url(well_known));
    let doc = r.http.get(&metadata_url).send().await.unwrap();
    assert_eq!(doc.status(), 200);
    let prm = json(&doc.text().await.unwrap());
    assert_eq!(prm["resource"], resource, "RFC 9728 §3.3");
    (metadata_url, prm)
}

/// An agent that knows only the tool server's URL: a bare request gets 401 with
/// `resource_metadata` (RFC 9728 §5.1); the document names the authorization server (RFC 9728
/// §2); its RFC 8414 metadata names the endpoints; the agent registers itself (RFC 7591, a
/// native client with a loopback redirect), pushes its request (RFC 9126) with PKCE and
/// `resource` (RFC 8707), and the code gives a token whose `aud` is the tool server, which
/// it accepts and `/api/me` refuses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_goes_from_a_bare_401_to_a_token_for_the_tool_server() {
    let r = start().await;
    let resource = r.url(server::MCP_PATH);
    // 1. The bare request, 2. the protected resource metadata it names.
    let (metadata_url, prm) =
        metadata_from_a_bare_401(&r, &resource, "/.well-known/oauth-protected-resource/mcp").await;
    let issuer = prm["authorization_servers"][0].as_str().unwrap().to_owned();
    assert_eq!(prm["scopes_supported"][0], "tools");
    // 3. The authorization server's metadata (RFC 8414 §3: at the issuer's well-known URL).
    let asm: Value = r
        .http
        .get(format!("{issuer}/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .map(|t| json(&t))
        .unwrap();
    assert_eq!(asm["issuer"], issuer.as_str());
    assert_eq!(asm["require_pushed_authorization_requests"], false);
    // 4. Registration (RFC 7591): a native client, its loopback redirect on any port.
    let redirect_uri = "http://127.0.0.1:53682/callback";
    let registered = r
        .http
        .post(asm["registration_endpoint"].as_str().unwrap())
        .header("content-type", "application/json")
        .body(
            serde_json::to_string(&serde_json::json!({
                "client_name": "an agent",
                "application_type": "native",
                "redirect_uris": [redirect_uri],
                "token_endpoint_auth_method": "none",
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                "scope": "tools",
            }))
            .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201);
    let registered = json(&registered.text().await.unwrap());
    let client_id = registered["client_id"].as_str().unwrap().to_owned();
    assert!(registered.get("client_secret").is_none(), "a public client");
    let client = BasicClient::new(ClientId::new(client_id.clone()))
        .set_auth_uri(AuthUrl::new(asm["authorization_endpoint"].as_str().unwrap().into()).unwrap())
        .set_token_uri(TokenUrl::new(asm["token_endpoint"].as_str().unwrap().into()).unwrap())
        .set_redirect_uri(RedirectUrl::new(redirect_uri.into()).unwrap());
    // 5. The pushed request (RFC 9126): PKCE + resource, then the authorization endpoint
    // with only client_id and request_uri.
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (pushed_url, _) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("tools".into()))
        .add_extra_param("resource", resource.as_str())
        .set_pkce_challenge(challenge)
        .url();
    let pushed: Vec<(String, String)> = pushed_url.query_pairs().into_owned().collect();
    let par = r
        .http
        .post(
            asm["pushed_authorization_request_endpoint"]
                .as_str()
                .unwrap(),
        )
        .form(&pushed)
        .send()
        .await
        .unwrap();
    assert_eq!(par.status(), 201);
    let par = json(&par.text().await.unwrap());
    let request_uri = par["request_uri"].as_str().unwrap().to_owned();
    assert!(request_uri.starts_with("urn:ietf:params:oauth:request_uri:"));
    let mut auth_url =
        reqwest::Url::parse(asm["authorization_endpoint"].as_str().unwrap()).unwrap();
    auth_url
        .query_pairs_mut()
        .append_pair("client_id", &client_id)
        .append_pair("request_uri", &request_uri);
    let redirect = login(&r, auth_url.as_str(), "alice", "wonderland", "approve").await;
    assert!(
        redirect.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with(redirect_uri)
    );
    let oauth_http = reqwest::Client::new();
    let tokens = client
        .exchange_code(AuthorizationCode::new(code_of(&redirect)))
        .set_pkce_verifier(verifier)
        .add_extra_param("resource", resource.as_str())
        .request_async(&oauth_http)
        .await
        .unwrap();
    let access = tokens.access_token().secret().clone();
    let claims = verify_for_audience(&r, &access, &resource).await;
    assert_eq!(claims["aud"], resource.as_str());
    // 6. The tool server takes it; another resource of the same issuer does not.
    let ok = r
        .http
        .get(&resource)
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let body = json(&ok.text().await.unwrap());
    assert_eq!(body["sub"], "user-alice");
    let elsewhere = r
        .http
        .get(r.url("/api/me"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(elsewhere.status(), 401);
    // The pushed request was spent on its code: used again, no second code.
    let again = r.http.get(auth_url.as_str()).send().await.unwrap();
    assert_ne!(
        again.status(),
        200,
        "a spent request_uri shows no login page"
    );
    // A token for the server's own API is refused by the tool server, naming its document.
    let web = web_client(&r);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, _) = web
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("tools".into()))
        .set_pkce_challenge(challenge)
        .url();
    let redirect = login(&r, auth_url.as_str(), "alice", "wonderland", "approve").await;
    let plain = web
        .exchange_code(AuthorizationCode::new(code_of(&redirect)))
        .set_pkce_verifier(verifier)
        .request_async(&oauth_http)
        .await
        .unwrap();
    let refused = r
        .http
        .get(&resource)
        .bearer_auth(plain.access_token().secret())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let www = refused.headers()["www-authenticate"].to_str().unwrap();
    assert!(www.contains("error=\"invalid_token\""), "{www}");
    assert_eq!(
        challenge_param(www, "resource_metadata").as_deref(),
        Some(metadata_url.as_str())
    );
}

/// The server's own API publishes its metadata too (RFC 9728, issue 20: "nothing tells a
/// client the API's audience"): a bare request to `/api` gets `401` naming the document
/// (RFC 9728 §5.1, no error code: RFC 6750 §3.1); the document's `resource` is the `aud` of
/// the tokens the server issues for the API, with or without `resource` (RFC 8707) in the
/// request, and names the issuer; such a token works on `/api`, and one for the tool server
/// is refused there, the refusal naming the API's document.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_publishes_its_audience_and_names_it_in_every_401() {
    let r = start().await;
    let api = r.url(server::API_PATH);
    // 1. The bare request, 2. the document it names.
    let (metadata_url, prm) =
        metadata_from_a_bare_401(&r, &api, "/.well-known/oauth-protected-resource/api").await;
    let asm = json(
        &r.http
            .get(r.url("/.well-known/oauth-authorization-server"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    let servers = prm["authorization_servers"].as_array().unwrap();
    assert!(servers.contains(&asm["issuer"]), "{prm}");
    assert_eq!(
        prm["bearer_methods_supported"],
        serde_json::json!(["header"])
    );
    assert_eq!(
        prm["dpop_signing_alg_values_supported"],
        asm["dpop_signing_alg_values_supported"]
    );
    assert!(
        prm["scopes_supported"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("orders"))
    );
    let resource = prm["resource"].as_str().unwrap().to_owned();
    // 3. A token for the resource the document names (RFC 8707), and one without `resource`:
    // both carry it as their audience, and both work on `/api`.
    let client = reports(&r);
    let oauth_http = reqwest::Client::new();
    let named = client
        .exchange_client_credentials()
        .add_scope(Scope::new("orders".into()))
        .add_extra_param("resource", resource.as_str())
        .request_async(&oauth_http)
        .await
        .unwrap();
    let plain = client
        .exchange_client_credentials()
        .add_scope(Scope::new("orders".into()))
        .request_async(&oauth_http)
        .await
        .unwrap();
    for tokens in [&named, &plain] {
        let access = tokens.access_token().secret();
        let claims = verify_for_audience(&r, access, &resource).await;
        assert_eq!(claims["aud"], resource.as_str());
        let ok = r.http.get(&api).bearer_auth(access).send().await.unwrap();
        assert_eq!(ok.status(), 200);
        let body = json(&ok.text().await.unwrap());
        assert_eq!(body["sub"], "reports");
        assert_eq!(body["aud"], resource.as_str());
    }
    // 4. A token for the tool server is refused by the API, the refusal naming the API's
    // document, not the tool server's.
    let web = web_client(&r);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, _) = web
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("tools".into()))
        .add_extra_param("resource", r.url(server::MCP_PATH))
        .set_pkce_challenge(challenge)
        .url();
    let redirect = login(&r, auth_url.as_str(), "alice", "wonderland", "approve").await;
    let tools = web
        .exchange_code(AuthorizationCode::new(code_of(&redirect)))
        .set_pkce_verifier(verifier)
        .request_async(&oauth_http)
        .await
        .unwrap();
    for path in [server::API_PATH, "/api/me"] {
        let refused = r
            .http
            .get(r.url(path))
            .bearer_auth(tools.access_token().secret())
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 401, "{path}");
        let www = refused.headers()["www-authenticate"].to_str().unwrap();
        assert!(www.contains("error=\"invalid_token\""), "{www}");
        assert_eq!(
            challenge_param(www, "resource_metadata").as_deref(),
            Some(metadata_url.as_str()),
            "{path}"
        );
    }
}

/// RFC 6749 §3.1 (device authorization, RFC 8628 §3.1, introspection, RFC 7662 §2.1, and
/// revocation, RFC 7009 §2.1, send the same form): "Request and response parameters MUST NOT
/// be included more than once." A repeated parameter at the example's `/device_authorization`,
/// `/introspect` and `/revoke` is `invalid_request` and nothing is done: no device code, no
/// token state disclosed, nothing revoked (the token still works and introspects active).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_parameter_is_refused_at_device_authorization_introspection_and_revocation() {
    let r = start().await;
    // Device authorization: `scope` twice, `client_id` twice.
    for form in [
        &[
            ("client_id", "tv"),
            ("scope", "profile"),
            ("scope", "profile"),
        ][..],
        &[
            ("client_id", "tv"),
            ("client_id", "tv"),
            ("scope", "profile"),
        ][..],
    ] {
        let (status, body) = r.post_form("/device_authorization", form).await;
        assert_eq!(status, 400, "{form:?}: {body}");
        let body = json(&body);
        assert_eq!(body["error"], "invalid_request", "{form:?}");
        assert!(body.get("device_code").is_none() && body.get("user_code").is_none());
    }
    // A session of web-app: its refresh token and access token.
    let client = web_client(&r);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, _) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge)
        .url();
    let redirect = login(&r, auth_url.as_str(), "alice", "wonderland", "approve").await;
    let tokens = client
        .exchange_code(AuthorizationCode::new(code_of(&redirect)))
        .set_pkce_verifier(verifier)
        .request_async(&reqwest::Client::new())
        .await
        .unwrap();
    let access = tokens.access_token().secret().clone();
    let refresh = tokens.refresh_token().unwrap().secret().clone();
    let introspect = |body: &[(&str, &str)]| {
        r.http
            .post(r.url("/introspect"))
            .basic_auth("api-gateway", Some(server::GATEWAY_SECRET))
            .form(body)
            .send()
    };
    // Introspection by the gateway (which may see every token): `token` twice, whether the
    // values agree or not.
    for form in [
        &[("token", access.as_str()), ("token", access.as_str())][..],
        &[("token", "not-a-token"), ("token", access.as_str())][..],
        &[("token", access.as_str()), ("token", "not-a-token")][..],
        &[
            ("token", access.as_str()),
            ("token_type_hint", "access_token"),
            ("token_type_hint", "refresh_token"),
        ][..],
    ] {
        let resp = introspect(form).await.unwrap();
        assert_eq!(resp.status(), 400, "{form:?}");
        let text = resp.text().await.unwrap();
        assert_eq!(json(&text)["error"], "invalid_request", "{form:?}");
        assert!(
            !text.contains("user-alice") && !text.contains("active"),
            "{text}"
        );
    }
    // Revocation: `token` or `client_id` twice revokes nothing.
    for form in [
        &[
            ("client_id", "web-app"),
            ("token", "nonsense"),
            ("token", refresh.as_str()),
        ][..],
        &[
            ("client_id", "web-app"),
            ("token", refresh.as_str()),
            ("token", "nonsense"),
        ][..],
        &[
            ("client_id", "web-app"),
            ("client_id", "web-app"),
            ("token", refresh.as_str()),
        ][..],
    ] {
        let (status, body) = r.post_form("/revoke", form).await;
        assert_eq!(status, 400, "{form:?}: {body}");
        assert_eq!(json(&body)["error"], "invalid_request", "{form:?}");
    }
    let me = r
        .http
        .get(r.url("/api/me"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200, "the session survives");
    let info = json(
        &introspect(&[("token", access.as_str())])
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    assert_eq!(info["active"], true, "{info}");
    // The same revocation sent once revokes the session (the control).
    let (status, _) = r
        .post_form(
            "/revoke",
            &[("client_id", "web-app"), ("token", refresh.as_str())],
        )
        .await;
    assert_eq!(status, 200);
    let info = json(
        &introspect(&[("token", access.as_str())])
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    assert_eq!(info["active"], false, "{info}");
}

/// Register (RFC 7591, the example's open registration) a native client with exactly one
/// redirect URI; returns its `client_id`.
async fn register_single_redirect_client(r: &Running, redirect_uri: &str) -> String {
    let registered = r
        .http
        .post(r.url("/register"))
        .header("content-type", "application/json")
        .body(
            serde_json::to_string(&serde_json::json!({
                "client_name": "one redirect",
                "application_type": "native",
                "redirect_uris": [redirect_uri],
                "token_endpoint_auth_method": "none",
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                "scope": "tools",
            }))
            .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201);
    let registered = json(&registered.text().await.unwrap());
    assert_eq!(
        registered["redirect_uris"],
        serde_json::json!([redirect_uri])
    );
    registered["client_id"].as_str().unwrap().to_owned()
}

/// RFC 6749 §3.1.2.3: "If multiple redirection URIs have been registered, [...] the client
/// MUST include a redirection URI with the authorization request"; a client with exactly one
/// (none of the example's built-in clients: it is registered here) may omit it, and then the
/// code, an error (RFC 6749 §4.1.2.1) and a declined consent all go to that URI, never to
/// the server itself. The code is redeemed without `redirect_uri` (RFC 6749 §4.1.3: required
/// only "if the redirect_uri parameter was included in the authorization request").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_omitted_redirect_uri_goes_to_the_single_registered_one() {
    let r = start().await;
    let redirect_uri = "http://127.0.0.1:53682/callback";
    let client_id = register_single_redirect_client(&r, redirect_uri).await;
    // No `set_redirect_uri`: `oauth2` then sends no `redirect_uri` at all.
    let client = BasicClient::new(ClientId::new(client_id.clone()))
        .set_auth_uri(AuthUrl::new(r.url("/authorize")).unwrap())
        .set_token_uri(TokenUrl::new(r.url("/token")).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, csrf) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("tools".into()))
        .set_pkce_challenge(challenge)
        .url();
    assert!(
        !auth_url.query_pairs().any(|(k, _)| k == "redirect_uri"),
        "{auth_url}"
    );
    let params_of = |resp: &reqwest::Response| {
        assert_eq!(resp.status(), 303);
        let location = resp.headers()["location"].to_str().unwrap();
        assert!(
            location.starts_with(&format!("{redirect_uri}?")),
            "{location}"
        );
        let location = reqwest::Url::parse(location).unwrap();
        location
            .query_pairs()
            .into_owned()
            .collect::<HashMap<String, String>>()
    };
    // Success: the code to the registered URI, with state and iss.
    let redirect = login(&r, auth_url.as_str(), "alice", "wonderland", "approve").await;
    let p = params_of(&redirect);
    assert_eq!(p["state"], *csrf.secret());
    assert_eq!(p["iss"], r.base);
    let tokens = client
        .exchange_code(AuthorizationCode::new(p["code"].clone()))
        .set_pkce_verifier(verifier)
        .request_async(&reqwest::Client::new())
        .await
        .unwrap();
    let claims = verify_with_jsonwebtoken(&r, tokens.access_token().secret()).await;
    assert_eq!(claims["client_id"], client_id.as_str());
    // An error after the client is known: to the registered URI.
    let unsupported = auth_url
        .as_str()
        .replace("response_type=code", "response_type=token");
    let resp = r.http.get(&unsupported).send().await.unwrap();
    let p = params_of(&resp);
    assert_eq!(p["error"], "unsupported_response_type");
    assert_eq!(p["state"], *csrf.secret());
    assert_eq!(p["iss"], r.base);
    // Declined consent: access_denied to the registered URI.
    let denied = login(&r, auth_url.as_str(), "alice", "", "deny").await;
    let p = params_of(&denied);
    assert_eq!(p["error"], "access_denied");
    assert_eq!(p["state"], *csrf.secret());
    assert_eq!(p["iss"], r.base);
}

/// RFC 8414 §2: `token_endpoint_auth_signing_alg_values_supported` "[...] MUST be present if
/// either of these authentication methods [`private_key_jwt`, `client_secret_jwt`] are
/// specified in the `token_endpoint_auth_methods_supported` entry. [...] The value `none`
/// MUST NOT be used." The same for introspection and revocation (RFC 8414 §2). And the
/// OpenID Connect Discovery `userinfo_endpoint` is there and answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_names_the_jwt_auth_algorithms_and_a_working_userinfo_endpoint() {
    let r = start().await;
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        let m = json(
            &r.http
                .get(r.url(path))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
        );
        let mut jwt_methods_listed = 0;
        for endpoint in ["token", "introspection", "revocation"] {
            let methods = &m[format!("{endpoint}_endpoint_auth_methods_supported")];
            let Some(methods) = methods.as_array() else {
                continue;
            };
            let algs = &m[format!("{endpoint}_endpoint_auth_signing_alg_values_supported")];
            let has = |name: &str| methods.contains(&serde_json::json!(name));
            if has("private_key_jwt") || has("client_secret_jwt") {
                jwt_methods_listed += 1;
                let algs = algs
                    .as_array()
                    .unwrap_or_else(|| panic!("{path}: {endpoint}: no algorithms"));
                assert!(!algs.is_empty(), "{path}: {endpoint}");
                assert!(
                    !algs.contains(&serde_json::json!("none")),
                    "{path}: {endpoint}"
                );
                if has("private_key_jwt") {
                    assert!(
                        algs.iter().any(|a| !a.as_str().unwrap().starts_with("HS")),
                        "{path}: {endpoint}: no asymmetric algorithm for private_key_jwt"
                    );
                }
                if has("client_secret_jwt") {
                    assert!(
                        algs.iter().any(|a| a.as_str().unwrap().starts_with("HS")),
                        "{path}: {endpoint}: no HMAC algorithm for client_secret_jwt"
                    );
                }
            }
        }
        // The example lists `private_key_jwt` (so the check above ran).
        assert!(jwt_methods_listed > 0, "{path}");
        assert_eq!(m["userinfo_endpoint"], r.url("/userinfo"), "{path}");
    }
    // The UserInfo endpoint the metadata names answers a token with the user's claims.
    let client = web_client(&r);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, _) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("openid".into()))
        .set_pkce_challenge(challenge)
        .url();
    let redirect = login(&r, auth_url.as_str(), "bob", "builder", "approve").await;
    let tokens = client
        .exchange_code(AuthorizationCode::new(code_of(&redirect)))
        .set_pkce_verifier(verifier)
        .request_async(&reqwest::Client::new())
        .await
        .unwrap();
    let me = r
        .http
        .get(r.url("/userinfo"))
        .bearer_auth(tokens.access_token().secret())
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    assert_eq!(json(&me.text().await.unwrap())["sub"], "user-bob");
}

/// RFC 6749 §5.2: `unsupported_grant_type`: "The authorization grant type is not supported by
/// the authorization server", while `unauthorized_client` is "not authorized to use this
/// authorization grant type". The example does not offer the password grant (nor any
/// unknown one): `unsupported_grant_type` for every client, the confidential one
/// authenticated, and the metadata does not list it; a grant the server offers but the
/// client may not use is `unauthorized_client`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_the_server_does_not_offer_is_unsupported_grant_type() {
    let r = start().await;
    let offered = json(
        &r.http
            .get(r.url("/.well-known/oauth-authorization-server"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    )["grant_types_supported"]
        .clone();
    assert!(
        !offered
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("password")),
        "{offered}"
    );
    for grant in ["password", "urn:example:params:oauth:grant-type:unknown"] {
        let form = [
            ("grant_type", grant),
            ("username", "alice"),
            ("password", "wonderland"),
            ("scope", "orders"),
        ];
        let confidential = r
            .http
            .post(r.url("/token"))
            .basic_auth("reports", Some(server::REPORTS_SECRET))
            .form(&form)
            .send()
            .await
            .unwrap();
        let status = confidential.status().as_u16();
        let body = json(&confidential.text().await.unwrap());
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("unsupported_grant_type")),
            "{grant}: {body}"
        );
        let mut public = form.to_vec();
        public.push(("client_id", "web-app"));
        let (status, body) = r.post_form("/token", &public).await;
        assert_eq!(
            (status, json(&body)["error"].as_str()),
            (400, Some("unsupported_grant_type")),
            "{grant}: {body}"
        );
    }
    // The control: a grant the server offers, not allowed to this client.
    let refresh = r
        .http
        .post(r.url("/token"))
        .basic_auth("reports", Some(server::REPORTS_SECRET))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", "rt_x")])
        .send()
        .await
        .unwrap();
    let status = refresh.status().as_u16();
    let body = json(&refresh.text().await.unwrap());
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client")),
        "{body}"
    );
}

/// RFC 6750 §3.1: "If the request lacks any authentication information (e.g., the client
/// was unaware that authentication is necessary or attempted using an unsupported
/// authentication method), the resource server SHOULD NOT include an error code or other
/// error information." Every protected route of the example, with no `Authorization` or with
/// another scheme (`Basic`): `401`, a `Bearer` challenge, no `error=`; a bad token does get
/// `invalid_token` (the control).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_request_without_credentials_gets_a_challenge_without_an_error_code() {
    let r = start().await;
    for path in [server::API_PATH, "/api/me", server::MCP_PATH, "/userinfo"] {
        for authorization in [None, Some("Basic YWxpY2U6d29uZGVybGFuZA==")] {
            let mut request = r.http.get(r.url(path));
            if let Some(value) = authorization {
                request = request.header("authorization", value);
            }
            let resp = request.send().await.unwrap();
            assert_eq!(resp.status(), 401, "{path} {authorization:?}");
            let www = resp.headers()["www-authenticate"].to_str().unwrap();
            assert!(www.starts_with("Bearer"), "{path}: {www}");
            assert!(!www.contains("error="), "{path} {authorization:?}: {www}");
        }
        let bad = r
            .http
            .get(r.url(path))
            .bearer_auth("not-a-token")
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status(), 401, "{path}");
        let www = bad.headers()["www-authenticate"].to_str().unwrap();
        assert!(www.contains("error=\"invalid_token\""), "{path}: {www}");
    }
}
