//! Every endpoint as one call over the whole HTTP request: the authorization endpoint's two
//! steps, token, device authorization, introspection, revocation, UserInfo, metadata, JWKS
//! and the resource-server challenges, each RFC MUST as a test against the library call.

use std::sync::Arc;

use serde_json::{Map, Value, json};
use token_engine::http::Form;
use token_engine::pkce::CodeVerifier;
use token_engine::{
    Approval, AuthorizationDecision, AuthorizationRequest, Client, ClientAuthMethod, Engine,
    EngineBuilder, Error, GrantType, HttpRequest, HttpResponse, IssueRequest, ManualClock,
    MemoryStore, NoPasswordGrant, UserInfoSource,
};

use crate::common::*;

const REDIRECT: &str = "https://app.example/cb";
const OTHER_REDIRECT: &str = "https://app.example/other";
const USERINFO: &str = "https://auth.example.com/userinfo";
const TOKEN: &str = "https://auth.example.com/token";
const RS_SECRET: &str = "resource-server-secret";
const SVC_SECRET: &str = "service-secret";

/// Every endpoint mounted.
fn server(b: EngineBuilder) -> EngineBuilder {
    b.token_endpoint(TOKEN)
        .authorization_endpoint("https://auth.example.com/authorize")
        .device_authorization_endpoint(
            "https://auth.example.com/device_authorization",
            "https://auth.example.com/device",
        )
        .introspection_endpoint("https://auth.example.com/introspect")
        .revocation_endpoint("https://auth.example.com/revoke")
        .userinfo_endpoint(USERINFO)
        .jwks_uri("https://auth.example.com/jwks.json")
        .client_secret_key(&[6; 32])
}

fn clients(h: &Harness) -> Vec<Client> {
    let hasher = h.engine.client_secret_hasher().unwrap();
    vec![
        Client::new("web")
            .allow_scopes(["openid", "profile", "read"])
            .redirect_uri(REDIRECT),
        Client::new("multi")
            .allow_scopes(["read"])
            .redirect_uri(REDIRECT)
            .redirect_uri(OTHER_REDIRECT),
        Client::new("tv")
            .allow_scopes(["read"])
            .grant_types([GrantType::DeviceCode, GrantType::RefreshToken]),
        Client::confidential("rs", ClientAuthMethod::SecretBasic(hasher.hash(RS_SECRET)))
            .grant_types([])
            .introspect_all_tokens(),
        Client::confidential(
            "svc",
            ClientAuthMethod::SecretBasic(hasher.hash(SVC_SECRET)),
        )
        .allow_scopes(["read"])
        .grant_types([GrantType::ClientCredentials]),
    ]
}

fn basic(id: &str, secret: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

/// The query of a `Location`, decoded, and what precedes it.
fn location(r: &HttpResponse) -> (String, Form) {
    assert_eq!(r.status(), 303, "{r:?}");
    let loc = r.header("location").expect("a Location");
    let (base, query) = loc.split_once('?').expect("a query");
    (base.to_owned(), Form::parse(query).unwrap())
}

/// An error page: 400, HTML, no redirect.
fn assert_page(r: &HttpResponse) {
    assert_eq!(r.status(), 400, "{r:?}");
    assert_eq!(r.header("location"), None, "{r:?}");
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
}

fn pkce() -> (CodeVerifier, String) {
    let v = CodeVerifier::generate().unwrap();
    let c = v.s256_challenge().as_str().to_owned();
    (v, c)
}

fn query(extra: &str, challenge: &str) -> String {
    format!(
        "response_type=code&client_id=web&redirect_uri={}&scope=openid%20read&state=st%20ate&code_challenge={challenge}&code_challenge_method=S256{extra}",
        "https%3A%2F%2Fapp.example%2Fcb"
    )
}

async fn step1(h: &Harness, q: &str) -> Result<AuthorizationRequest, HttpResponse> {
    h.engine
        .authorization_request(&clients(h), &HttpRequest::get(q))
        .await
}

#[tokio::test]
async fn unknown_clients_and_unregistered_redirects_get_a_page_never_a_redirect() {
    let h = Harness::with(server);
    let (_, c) = pkce();
    // RFC 6749 §4.1.2.1: no redirect to an unregistered (or unverifiable) URI.
    for q in [
        query("", &c).replace("client_id=web", "client_id=nobody"),
        query("", &c).replace("client_id=web&", ""),
        query("", &c).replace("app.example%2Fcb", "evil.example%2Fcb"),
        query("", &c).replace("%2Fcb", "%2Fcb%2F"),
        // Omitted while the client has several registered URIs.
        query("", &c)
            .replace("client_id=web", "client_id=multi")
            .replace("&redirect_uri=https%3A%2F%2Fapp.example%2Fcb", ""),
        // The client or redirect URI repeated: which one would be trusted?
        format!("{}&client_id=web", query("", &c)),
        format!(
            "{}&redirect_uri=https%3A%2F%2Fevil.example%2F",
            query("", &c)
        ),
        "client_id=%zz".to_owned(),
    ] {
        assert_page(&step1(&h, &q).await.unwrap_err());
    }
    // Neither PUT nor DELETE.
    let r = h
        .engine
        .authorization_request(&clients(&h), &HttpRequest::new("PUT"))
        .await
        .unwrap_err();
    assert_eq!(r.status(), 405);
}

#[tokio::test]
async fn an_omitted_redirect_uri_errors_to_the_single_registered_one() {
    let h = Harness::with(server);
    let (_, c) = pkce();
    let q = query("", &c)
        .replace("&redirect_uri=https%3A%2F%2Fapp.example%2Fcb", "")
        .replace("response_type=code", "response_type=token");
    let (base, params) = location(&step1(&h, &q).await.unwrap_err());
    assert_eq!(base, REDIRECT);
    assert_eq!(params.get("error"), Some("unsupported_response_type"));
}

#[tokio::test]
async fn later_errors_redirect_with_state_and_iss() {
    let h = Harness::with(server);
    let (_, c) = pkce();
    let cases = [
        // RFC 6749 §4.1.1 / §4.1.2.1: only `code`.
        (
            query("", &c).replace("response_type=code", "response_type=token"),
            "unsupported_response_type",
        ),
        (
            query("", &c).replace("response_type=code", "response_type="),
            "invalid_request",
        ),
        (
            query("", &c).replace("response_type=code&", ""),
            "invalid_request",
        ),
        (
            query("", &c).replace("response_type=code", "response_type=code%20id_token"),
            "unsupported_response_type",
        ),
        // A repeated parameter (RFC 6749 §3.1).
        (format!("{}&scope=read", query("", &c)), "invalid_request"),
        (
            query("", &c).replace("openid%20read", "admin"),
            "invalid_scope",
        ),
        // PKCE required of public clients (RFC 9700 §2.1.1), S256 only by default.
        (
            query("", &c).replace(
                &format!("&code_challenge={c}&code_challenge_method=S256"),
                "",
            ),
            "invalid_request",
        ),
        (query("", &c).replace("S256", "plain"), "invalid_request"),
        (
            query("", &c).replace(&format!("code_challenge={c}&"), ""),
            "invalid_request",
        ),
        (query("&prompt=none%20login", &c), "invalid_request"),
        (query("&prompt=bogus", &c), "invalid_request"),
        (query("&max_age=-1", &c), "invalid_request"),
        (query("&dpop_jkt=short", &c), "invalid_request"),
        (query("&response_mode=fragment", &c), "invalid_request"),
        (
            query(&format!("&nonce={}", "n".repeat(513)), &c),
            "invalid_request",
        ),
        (query("&request=eyJ.e30.", &c), "request_not_supported"),
        (
            query("&request_uri=urn%3Ax", &c),
            "request_uri_not_supported",
        ),
    ];
    for (q, code) in cases {
        let r = step1(&h, &q).await.unwrap_err();
        let (base, params) = location(&r);
        assert_eq!(base, REDIRECT, "{q}");
        assert_eq!(params.get("error"), Some(code), "{q}");
        assert_eq!(params.get("state"), Some("st ate"), "{q}");
        // RFC 9207: `iss` on every authorization response.
        assert_eq!(params.get("iss"), Some(ISS), "{q}");
    }
    // A client not allowed the code grant.
    let mut cs = clients(&h);
    cs.push(
        Client::new("m2m")
            .grant_types([GrantType::ClientCredentials])
            .redirect_uri(REDIRECT),
    );
    let q = query("", &c).replace("client_id=web", "client_id=m2m");
    let r = h
        .engine
        .authorization_request(&cs, &HttpRequest::get(&q))
        .await
        .unwrap_err();
    assert_eq!(location(&r).1.get("error"), Some("unauthorized_client"));
}

/// `src/engine/authorize.rs`: "Longest `state`, `nonce` or `login_hint` accepted" (not public:
/// the value is pinned here).
const MAX_PARAM_LEN: usize = 512;

#[tokio::test]
async fn state_nonce_and_login_hint_are_bounded() {
    let h = Harness::with(server);
    let (_, c) = pkce();
    let at = "s".repeat(MAX_PARAM_LEN);
    let over = "s".repeat(MAX_PARAM_LEN + 1);
    // At the maximum: accepted and kept as sent.
    let req = step1(&h, &query(&format!("&nonce={at}&login_hint={at}"), &c))
        .await
        .unwrap();
    assert_eq!(req.nonce(), Some(at.as_str()));
    assert_eq!(req.login_hint(), Some(at.as_str()));
    let req = step1(&h, &query("", &c).replace("st%20ate", &at))
        .await
        .unwrap();
    assert_eq!(req.state(), Some(at.as_str()));
    // One byte over: `invalid_request` to the registered URI, with `state` and `iss`.
    for name in ["nonce", "login_hint"] {
        let q = query(&format!("&{name}={over}"), &c);
        let (base, params) = location(&step1(&h, &q).await.unwrap_err());
        assert_eq!(base, REDIRECT, "{name}");
        assert_eq!(params.get("error"), Some("invalid_request"), "{name}");
        assert_eq!(params.get("state"), Some("st ate"), "{name}");
        assert_eq!(params.get("iss"), Some(ISS), "{name}");
    }
    // A `state` one byte over: `invalid_request` too, and not echoed back.
    let q = query("", &c).replace("st%20ate", &over);
    let (base, params) = location(&step1(&h, &q).await.unwrap_err());
    assert_eq!(base, REDIRECT);
    assert_eq!(params.get("error"), Some("invalid_request"));
    assert_eq!(params.get("state"), None);
    assert_eq!(params.get("iss"), Some(ISS));
}

#[tokio::test]
async fn a_decision_redirects_to_the_validated_uri_only() {
    let h = Harness::with(server);
    let (verifier, c) = pkce();
    // Deny: access_denied with state and iss.
    let req = step1(&h, &query("", &c)).await.unwrap();
    assert_eq!(req.client().id(), "web");
    assert_eq!(req.scope(), "openid read");
    let r = h
        .engine
        .authorization_response(req, AuthorizationDecision::Deny)
        .await;
    let (base, p) = location(&r);
    assert_eq!(base, REDIRECT);
    assert_eq!(p.get("error"), Some("access_denied"));
    assert_eq!(p.get("state"), Some("st ate"));
    assert_eq!(p.get("iss"), Some(ISS));
    // prompt=none without a session.
    let req = step1(&h, &query("&prompt=none", &c)).await.unwrap();
    assert!(req.prompt_none());
    let r = h
        .engine
        .authorization_response(req, AuthorizationDecision::LoginRequired)
        .await;
    assert_eq!(location(&r).1.get("error"), Some("login_required"));
    // Approve: a code, state and iss; no-store; the code hidden from Debug.
    let req = step1(&h, &query("&nonce=n-1", &c)).await.unwrap();
    let r = h
        .engine
        .authorization_response(req, AuthorizationDecision::Approve(Approval::new(SUBJECT)))
        .await;
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("pragma"), Some("no-cache"));
    let (base, p) = location(&r);
    assert_eq!(base, REDIRECT);
    let code = p.get("code").unwrap().to_owned();
    assert!(!format!("{r:?}").contains(&code));
    assert_eq!(p.get("state"), Some("st ate"));
    assert_eq!(p.get("iss"), Some(ISS));
    // The token endpoint redeems it once.
    let body = format!(
        "grant_type=authorization_code&client_id=web&code={code}&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&code_verifier={}",
        verifier.expose_secret()
    );
    let t = h
        .engine
        .token_endpoint(&clients(&h), &NoPasswordGrant, &form_post(&body, None))
        .await;
    assert_eq!(t.status(), 200, "{t:?}");
    let json: Value = serde_json::from_str(t.body()).unwrap();
    assert!(json["id_token"].is_string());
    let again = h
        .engine
        .token_endpoint(&clients(&h), &NoPasswordGrant, &form_post(&body, None))
        .await;
    assert_eq!(again.status(), 400);
}

#[tokio::test]
async fn max_age_and_narrowed_consent_are_enforced() {
    let h = Harness::with(server);
    let (_, c) = pkce();
    let req = step1(&h, &query("&max_age=60", &c)).await.unwrap();
    assert_eq!(req.max_age(), Some(60));
    assert!(req.needs_login(NOW - 61, NOW));
    assert!(!req.needs_login(NOW - 60, NOW));
    let stale = Approval::new(SUBJECT).auth_time(NOW - 61);
    let r = h
        .engine
        .authorization_response(req.clone(), AuthorizationDecision::Approve(stale))
        .await;
    assert_eq!(location(&r).1.get("error"), Some("login_required"));
    // Consent may narrow the scope, never widen it.
    let wider = Approval::new(SUBJECT)
        .auth_time(NOW)
        .scope("openid read profile");
    let r = h
        .engine
        .authorization_response(req.clone(), AuthorizationDecision::Approve(wider))
        .await;
    assert_eq!(location(&r).1.get("error"), Some("invalid_scope"));
    // A subject no access token could carry fails before a code is minted for it.
    let huge =
        Approval::new("u".repeat(token_engine::IssueRequest::MAX_SUBJECT_LEN + 1)).auth_time(NOW);
    let r = h
        .engine
        .authorization_response(req.clone(), AuthorizationDecision::Approve(huge))
        .await;
    assert_eq!(location(&r).1.get("error"), Some("server_error"));
    let narrower = Approval::new(SUBJECT).auth_time(NOW).scope("read");
    let r = h
        .engine
        .authorization_response(req, AuthorizationDecision::Approve(narrower))
        .await;
    assert!(location(&r).1.get("code").is_some());
}

#[tokio::test]
async fn the_authorization_endpoint_takes_a_post_form() {
    let h = Harness::with(server);
    let (_, c) = pkce();
    let q = query("", &c);
    let ok = h
        .engine
        .authorization_request(&clients(&h), &form_post(&q, None))
        .await;
    assert!(ok.is_ok());
    let no_type = h
        .engine
        .authorization_request(&clients(&h), &HttpRequest::post(&q))
        .await
        .unwrap_err();
    assert_page(&no_type);
}

#[tokio::test]
async fn dpop_jkt_binds_the_code_to_the_key() {
    let h = Harness::with(server);
    let key = holder(token_engine::Algorithm::ES256);
    let thief = holder(token_engine::Algorithm::ES256);
    let code_for = |jkt: String| {
        let h = &h;
        async move {
            let (v, c) = pkce();
            let q = query(&format!("&dpop_jkt={jkt}"), &c);
            let req = step1(h, &q).await.unwrap();
            assert_eq!(req.dpop_jkt(), Some(jkt.as_str()));
            let r = h
                .engine
                .authorization_response(req, AuthorizationDecision::Approve(Approval::new(SUBJECT)))
                .await;
            let code = location(&r).1.get("code").unwrap().to_owned();
            format!(
                "grant_type=authorization_code&client_id=web&code={code}&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&code_verifier={}",
                v.expose_secret()
            )
        }
    };
    // RFC 9449 §10.1: a proof by another key, or none, is refused.
    for (i, proof) in [Some(thief.proof("POST", TOKEN, NOW, "a")), None]
        .into_iter()
        .enumerate()
    {
        let body = code_for(key.jkt()).await;
        let mut request = form_post(&body, None);
        if let Some(p) = &proof {
            request = request.header("DPoP", p);
        }
        let r = h
            .engine
            .token_endpoint(&clients(&h), &NoPasswordGrant, &request)
            .await;
        assert_eq!(r.status(), 400, "case {i}: {r:?}");
        assert!(r.body().contains("invalid_grant"), "{r:?}");
    }
    let body = code_for(key.jkt()).await;
    let proof = key.proof("POST", TOKEN, NOW, "b");
    let r = h
        .engine
        .token_endpoint(
            &clients(&h),
            &NoPasswordGrant,
            &form_post(&body, None).header("DPoP", &proof),
        )
        .await;
    assert_eq!(r.status(), 200, "{r:?}");
    assert!(r.body().contains("\"token_type\":\"DPoP\""));
}

#[tokio::test]
async fn the_token_endpoint_is_strict_about_the_request() {
    let h = Harness::with(server);
    let cs = clients(&h);
    let auth = basic("svc", SVC_SECRET);
    let body = "grant_type=client_credentials&scope=read";
    let call = |r: HttpRequest<'static>| {
        let (h, cs) = (&h, &cs);
        async move { h.engine.token_endpoint(cs, &NoPasswordGrant, &r).await }
    };
    let auth: &'static str = Box::leak(auth.into_boxed_str());
    // Good: 200 with no-store and no-cache.
    let ok = call(form_post(body, Some(auth))).await;
    assert_eq!(ok.status(), 200, "{ok:?}");
    assert_eq!(ok.header("cache-control"), Some("no-store"));
    assert_eq!(ok.header("pragma"), Some("no-cache"));
    assert!(!format!("{ok:?}").contains("access_token\":\"ey"));
    // GET: 405 with Allow.
    let get = call(HttpRequest::get(body).header("Authorization", auth)).await;
    assert_eq!(get.status(), 405);
    assert_eq!(get.header("allow"), Some("POST"));
    // Not a form.
    let json = call(
        HttpRequest::post(body)
            .header("Content-Type", "application/json")
            .header("Authorization", auth),
    )
    .await;
    assert!(json.body().contains("invalid_request"), "{json:?}");
    // Two DPoP header fields: RFC 9449 §4.3 check 1.
    let two = call(
        form_post(body, Some(auth))
            .header("DPoP", "a.b.c")
            .header("dpop", "d.e.f"),
    )
    .await;
    assert_eq!(two.status(), 400);
    assert!(two.body().contains("invalid_dpop_proof"), "{two:?}");
    // Two Authorization header fields.
    let two = call(form_post(body, Some(auth)).header("Authorization", auth)).await;
    assert!(two.body().contains("invalid_request"), "{two:?}");
    // CORS for a browser's request.
    let cors = call(form_post(body, Some(auth)).header("Origin", "https://spa.example")).await;
    assert_eq!(cors.header("access-control-allow-origin"), Some("*"));
}

#[tokio::test]
async fn a_request_with_more_than_max_headers_fields_is_refused() {
    use token_engine::http::MAX_HEADERS;
    let h = Harness::with(server);
    let cs = clients(&h);
    let auth = basic("svc", SVC_SECRET);
    let body = "grant_type=client_credentials&scope=read";
    let names: Vec<String> = (0..MAX_HEADERS).map(|i| format!("X-Filler-{i}")).collect();
    // `form_post` with `Authorization` holds two fields; fill up to `count`.
    let request = |count: usize| {
        names
            .iter()
            .take(count - 2)
            .fold(form_post(body, Some(&auth)), |r, n| r.header(n, "x"))
    };
    // Exactly MAX_HEADERS fields: served.
    let ok = h
        .engine
        .token_endpoint(&cs, &NoPasswordGrant, &request(MAX_HEADERS))
        .await;
    assert_eq!(ok.status(), 200, "{ok:?}");
    // One more: `invalid_request` (the documented error), nothing issued.
    let over = h
        .engine
        .token_endpoint(&cs, &NoPasswordGrant, &request(MAX_HEADERS + 1))
        .await;
    assert_eq!(over.status(), 400, "{over:?}");
    let j: Value = serde_json::from_str(over.body()).unwrap();
    assert_eq!(j["error"], "invalid_request");
    assert!(j.get("access_token").is_none());
}

#[tokio::test]
async fn a_grant_the_server_does_not_offer_is_unsupported_before_any_client_check() {
    let h = Harness::with(|b| {
        server(b).grant_types([GrantType::AuthorizationCode, GrantType::RefreshToken])
    });
    for authorization in [None, Some("Basic bm9ib2R5Om5vcGU=")] {
        let r = h
            .engine
            .token_endpoint(
                &clients(&h),
                &NoPasswordGrant,
                &form_post(
                    "grant_type=client_credentials&client_id=nobody",
                    authorization,
                ),
            )
            .await;
        assert_eq!(r.status(), 400, "{r:?}");
        assert!(r.body().contains("unsupported_grant_type"), "{r:?}");
    }
    let meta = h.engine.authorization_server_metadata();
    assert_eq!(
        meta["grant_types_supported"],
        json!(["authorization_code", "refresh_token"])
    );
}

#[tokio::test]
async fn introspection_authenticates_the_caller_and_limits_what_it_sees() {
    let h = Harness::with(server);
    let cs = clients(&h);
    let tokens = h.login().await;
    let access = tokens.access_token.clone();
    let introspect = |auth: Option<String>, body: String| {
        let (h, cs) = (&h, &cs);
        async move {
            h.engine
                .introspection_endpoint(cs, &form_post(&body, auth.as_deref()))
                .await
        }
    };
    // RFC 7662 §2.1: a bare public client_id is not authentication.
    let r = introspect(None, format!("token={access}&client_id=web")).await;
    assert_eq!(r.status(), 401, "{r:?}");
    assert!(r.body().contains("invalid_client"));
    assert!(!r.body().contains(SUBJECT));
    let r = introspect(None, format!("token={access}")).await;
    assert_eq!(r.status(), 401);
    let r = introspect(Some(basic("rs", "wrong")), format!("token={access}")).await;
    assert_eq!(r.status(), 401);
    // A registered resource server sees it.
    let r = introspect(Some(basic("rs", RS_SECRET)), format!("token={access}")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let j: Value = serde_json::from_str(r.body()).unwrap();
    assert_eq!(j["active"], true);
    assert_eq!(j["sub"], SUBJECT);
    // Another confidential client does not (RFC 7662 §4).
    let r = introspect(Some(basic("svc", SVC_SECRET)), format!("token={access}")).await;
    assert_eq!(r.body(), r#"{"active":false}"#);
    // Unknown tokens are inactive; a repeated token is a bad request.
    let r = introspect(Some(basic("rs", RS_SECRET)), "token=nope".into()).await;
    assert_eq!(r.body(), r#"{"active":false}"#);
    let r = introspect(
        Some(basic("rs", RS_SECRET)),
        format!("token={access}&token=x"),
    )
    .await;
    assert_eq!(r.status(), 400);
    // Not a GET.
    let get = h
        .engine
        .introspection_endpoint(&cs, &HttpRequest::get(""))
        .await;
    assert_eq!(get.status(), 405);
}

#[tokio::test]
async fn revocation_authenticates_the_client_and_reaches_every_instance() {
    // Two app servers, each with its own engine, over one store.
    let store = Arc::new(MemoryStore::new());
    let clock = ManualClock::new(NOW);
    let sink = Arc::new(token_engine::event::CollectingSink::new());
    let a = server(builder(&clock, &sink))
        .build(Arc::clone(&store))
        .unwrap();
    let b = server(builder(&clock, &sink))
        .build(Arc::clone(&store))
        .unwrap();
    let h = Harness::with(server);
    let mut cs = clients(&h);
    // Client secrets hashed with the same key (client_secret_key [6; 32]).
    cs.push(Client::new("app").allow_scopes(["read", "write"]));
    let tokens = a
        .issue(&client(), IssueRequest::new(SUBJECT))
        .await
        .unwrap();
    let refresh = tokens.refresh_token.unwrap();
    // Unknown and malformed tokens: 200 (RFC 7009 §2.2).
    let r = b
        .revocation_endpoint(&cs, &form_post("token=nonsense&client_id=app", None))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.body(), "");
    // Another client's token: refused, nothing revoked.
    let body = format!("token={}&client_id=web", refresh.expose_secret());
    let r = b.revocation_endpoint(&cs, &form_post(&body, None)).await;
    assert_eq!(r.status(), 400, "{r:?}");
    assert!(r.body().contains("unauthorized_client"));
    assert!(a.verify_with_revocation(&tokens.access_token).await.is_ok());
    // A failed authentication: 401.
    let body = format!("token={}", refresh.expose_secret());
    let r = b
        .revocation_endpoint(&cs, &form_post(&body, Some(&basic("svc", "wrong"))))
        .await;
    assert_eq!(r.status(), 401);
    // The owner revokes on instance B; instance A sees the session gone.
    let body = format!("token={}&client_id=app", refresh.expose_secret());
    let r = b
        .revocation_endpoint(
            &cs,
            &form_post(&body, None).header("Origin", "https://spa.example"),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert!(
        a.verify_with_revocation(&tokens.access_token)
            .await
            .is_err()
    );
    let j = a
        .introspection_endpoint(
            &cs,
            &form_post(
                &format!("token={}", tokens.access_token),
                Some(&basic("rs", RS_SECRET)),
            ),
        )
        .await;
    assert_eq!(j.body(), r#"{"active":false}"#);
}

#[tokio::test]
async fn revocation_refuses_a_repeated_parameter_and_revokes_nothing() {
    let h = Harness::with(server);
    let mut cs = clients(&h);
    cs.push(client());
    let tokens = h.login().await;
    let refresh = rt(&tokens);
    // RFC 6749 §3.1 (RFC 7009 §2.1 sends the same form): a parameter sent twice is
    // `invalid_request`, never one of its values picked.
    for body in [
        format!("token=nonsense&token={refresh}&client_id=app"),
        format!("token={refresh}&token=nonsense&client_id=app"),
        format!("token={refresh}&client_id=app&client_id=app"),
    ] {
        let r = h
            .engine
            .revocation_endpoint(&cs, &form_post(&body, None))
            .await;
        assert_eq!(r.status(), 400, "{body}: {r:?}");
        assert!(r.body().contains("invalid_request"), "{r:?}");
    }
    assert!(
        h.engine
            .verify_with_revocation(&tokens.access_token)
            .await
            .is_ok()
    );
    // Not a GET; the same request once is revoked.
    let body = format!("token={refresh}&client_id=app");
    let get = h
        .engine
        .revocation_endpoint(&cs, &HttpRequest::get(&body))
        .await;
    assert_eq!(get.status(), 405);
    let r = h
        .engine
        .revocation_endpoint(&cs, &form_post(&body, None))
        .await;
    assert_eq!(r.status(), 200, "{r:?}");
    assert!(
        h.engine
            .verify_with_revocation(&tokens.access_token)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn resource_request_challenges_follow_rfc_6750_and_rfc_9449() {
    let h = Harness::with(server);
    let token = h.login().await.access_token;
    let bearer = format!("Bearer {token}");
    let call = |request: HttpRequest<'static>| {
        let h = &h;
        async move { h.engine.resource_request(&request, API, &["read"]).await }
    };
    let bearer: &'static str = Box::leak(bearer.into_boxed_str());
    assert!(
        call(HttpRequest::get("").header("Authorization", bearer))
            .await
            .is_ok()
    );
    // RFC 6750 §3.1: no credentials, no error code; both schemes offered, DPoP with `algs`.
    let r = call(HttpRequest::get("")).await.unwrap_err();
    assert_eq!(r.status(), 401);
    assert!(!www(&r).contains("error"), "{}", www(&r));
    assert!(www(&r).starts_with("Bearer"), "{}", www(&r));
    assert!(www(&r).contains("DPoP algs=\"ES256"), "{}", www(&r));
    // RFC 9449 §4.3 check 1: more than one DPoP header field.
    let r = call(
        HttpRequest::get("")
            .header("Authorization", bearer)
            .header("DPoP", "a.b.c")
            .header("dpop", "d.e.f"),
    )
    .await
    .unwrap_err();
    assert_eq!(r.status(), 401);
    assert!(
        www(&r).contains("DPoP error=\"invalid_dpop_proof\""),
        "{}",
        www(&r)
    );
    // Two Authorization fields: which token? `invalid_request`.
    let r = call(
        HttpRequest::get("")
            .header("Authorization", bearer)
            .header("Authorization", bearer),
    )
    .await
    .unwrap_err();
    assert_eq!(r.status(), 400);
    assert!(www(&r).contains("error=\"invalid_request\""), "{}", www(&r));
    // A scope the token lacks: 403 naming it (RFC 6750 §3.1 `insufficient_scope`).
    let r = h
        .engine
        .resource_request(
            &HttpRequest::get("").header("Authorization", bearer),
            API,
            &["admin"],
        )
        .await
        .unwrap_err();
    assert_eq!(r.status(), 403);
    assert!(
        www(&r).starts_with("Bearer error=\"insufficient_scope\", scope=\"admin\""),
        "{}",
        www(&r)
    );
}

#[tokio::test]
async fn the_device_authorization_endpoint() {
    let h = Harness::with(server);
    let cs = clients(&h);
    let r = h
        .engine
        .device_authorization_endpoint(&cs, &form_post("client_id=tv&scope=read", None))
        .await;
    assert_eq!(r.status(), 200, "{r:?}");
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let j: Value = serde_json::from_str(r.body()).unwrap();
    assert!(j["device_code"].as_str().unwrap().starts_with("dc_"));
    assert_eq!(j["verification_uri"], "https://auth.example.com/device");
    assert!(!format!("{r:?}").contains(j["device_code"].as_str().unwrap()));
    // A client not allowed the grant; a repeated parameter; a GET.
    let r = h
        .engine
        .device_authorization_endpoint(&cs, &form_post("client_id=web", None))
        .await;
    assert!(r.body().contains("unauthorized_client"), "{r:?}");
    let r = h
        .engine
        .device_authorization_endpoint(&cs, &form_post("client_id=tv&scope=read&scope=read", None))
        .await;
    assert!(r.body().contains("invalid_request"), "{r:?}");
    let r = h
        .engine
        .device_authorization_endpoint(&cs, &HttpRequest::get("client_id=tv"))
        .await;
    assert_eq!(r.status(), 405);
    // Not offered by the server.
    let off = Harness::with(|b| server(b).grant_types([GrantType::AuthorizationCode]));
    let r = off
        .engine
        .device_authorization_endpoint(&clients(&off), &form_post("client_id=tv", None))
        .await;
    assert!(r.body().contains("unsupported_grant_type"), "{r:?}");
}

struct Users;

impl UserInfoSource for Users {
    async fn claims(
        &self,
        subject: &str,
        scopes: &[&str],
    ) -> Result<Option<Map<String, Value>>, Error> {
        if subject != SUBJECT {
            return Ok(None);
        }
        let mut m = Map::new();
        if scopes.contains(&"profile") {
            m.insert("name".into(), json!("Ada"));
        }
        m.insert("sub".into(), json!("spoofed"));
        Ok(Some(m))
    }
}

fn www(r: &HttpResponse) -> &str {
    r.header("www-authenticate").expect("a challenge")
}

#[tokio::test]
async fn userinfo_and_the_resource_challenges() {
    let h = Harness::with(server);
    let openid = h
        .issue(
            &Client::new("app").allow_scopes(["openid", "profile"]),
            IssueRequest::new(SUBJECT).scope("openid profile"),
        )
        .await
        .unwrap()
        .access_token;
    fn get(auth: Option<&str>) -> HttpRequest<'_> {
        let r = HttpRequest::get("");
        match auth {
            Some(a) => r.header("Authorization", a),
            None => r,
        }
    }
    // No credentials: a challenge without an error code (RFC 6750 §3.1).
    let r = h.engine.userinfo_endpoint(&Users, &get(None)).await;
    assert_eq!(r.status(), 401);
    assert!(!www(&r).contains("error="), "{}", www(&r));
    assert!(www(&r).starts_with("Bearer"), "{}", www(&r));
    assert!(www(&r).contains("DPoP algs=\"ES256"), "{}", www(&r));
    // Another scheme carries no token of ours: the same.
    let r = h
        .engine
        .userinfo_endpoint(&Users, &get(Some("Basic eDp5")))
        .await;
    assert!(!www(&r).contains("error="), "{}", www(&r));
    // A good token: sub always (the application's `sub` ignored), claims by scope.
    let bearer = format!("Bearer {openid}");
    let r = h
        .engine
        .userinfo_endpoint(&Users, &get(Some(&bearer)))
        .await;
    assert_eq!(r.status(), 200, "{r:?}");
    let j: Value = serde_json::from_str(r.body()).unwrap();
    assert_eq!(j, json!({"sub": SUBJECT, "name": "Ada"}));
    // A bad token: invalid_token on the Bearer challenge.
    let bad = format!("Bearer {}", tampered_jwt(&openid));
    let r = h.engine.userinfo_endpoint(&Users, &get(Some(&bad))).await;
    assert_eq!(r.status(), 401);
    assert!(
        www(&r).starts_with("Bearer error=\"invalid_token\""),
        "{}",
        www(&r)
    );
    // Without `openid`: 403 insufficient_scope naming the scope.
    let plain = format!("Bearer {}", h.login().await.access_token);
    let r = h.engine.userinfo_endpoint(&Users, &get(Some(&plain))).await;
    assert_eq!(r.status(), 403);
    assert!(
        www(&r).starts_with("Bearer error=\"insufficient_scope\", scope=\"openid\""),
        "{}",
        www(&r)
    );
    // Two DPoP header fields: invalid_dpop_proof (RFC 9449 §4.3).
    let r = h
        .engine
        .userinfo_endpoint(
            &Users,
            &get(Some(&bearer)).header("DPoP", "a").header("DPoP", "b"),
        )
        .await;
    assert_eq!(r.status(), 401);
    assert!(
        www(&r).contains("DPoP error=\"invalid_dpop_proof\""),
        "{}",
        www(&r)
    );
    // Two Authorization fields: invalid_request.
    let r = h
        .engine
        .userinfo_endpoint(&Users, &get(Some(&bearer)).header("Authorization", &bearer))
        .await;
    assert_eq!(r.status(), 400);
    // A revoked session: invalid_token.
    let session = h
        .issue(
            &Client::new("app").allow_scopes(["openid"]),
            IssueRequest::new(SUBJECT).scope("openid"),
        )
        .await
        .unwrap();
    h.revoke_ok(rt(&session)).await;
    let revoked = format!("Bearer {}", session.access_token);
    let r = h
        .engine
        .userinfo_endpoint(&Users, &get(Some(&revoked)))
        .await;
    assert!(www(&r).contains("error=\"invalid_token\""), "{}", www(&r));
    // CORS for browsers.
    let r = h
        .engine
        .userinfo_endpoint(
            &Users,
            &get(Some(&bearer)).header("Origin", "https://spa.example"),
        )
        .await;
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
}

#[tokio::test]
async fn dpop_bound_tokens_at_userinfo_need_a_proof_for_its_url() {
    let h = Harness::with(server);
    let key = holder(token_engine::Algorithm::ES256);
    let proof = key.proof("POST", TOKEN, NOW, "t1");
    let verified = h
        .engine
        .verify_dpop_proof(&proof, "POST", TOKEN)
        .await
        .unwrap();
    let token = h
        .issue(
            &Client::new("app").allow_scopes(["openid"]),
            IssueRequest::new(SUBJECT).scope("openid").dpop(verified),
        )
        .await
        .unwrap()
        .access_token;
    let auth = format!("DPoP {token}");
    let ok = key.proof_for("GET", USERINFO, &token, "u1");
    let r = h
        .engine
        .userinfo_endpoint(
            &Users,
            &HttpRequest::get("")
                .header("Authorization", &auth)
                .header("DPoP", &ok),
        )
        .await;
    assert_eq!(r.status(), 200, "{r:?}");
    // As Bearer: refused with invalid_token on the Bearer challenge.
    let bearer = format!("Bearer {token}");
    let r = h
        .engine
        .userinfo_endpoint(
            &Users,
            &HttpRequest::get("").header("Authorization", &bearer),
        )
        .await;
    assert_eq!(r.status(), 401);
    assert!(
        www(&r).starts_with("Bearer error=\"invalid_token\""),
        "{}",
        www(&r)
    );
    // A proof for another URL: invalid_dpop_proof on the DPoP challenge.
    let wrong = key.proof_for("GET", "https://auth.example.com/other", &token, "u2");
    let r = h
        .engine
        .userinfo_endpoint(
            &Users,
            &HttpRequest::get("")
                .header("Authorization", &auth)
                .header("DPoP", &wrong),
        )
        .await;
    assert!(
        www(&r).contains("DPoP error=\"invalid_dpop_proof\""),
        "{}",
        www(&r)
    );
}

#[tokio::test]
async fn the_metadata_advertises_only_what_works_and_each_capability_does() {
    let h = Harness::with(server);
    let cs = clients(&h);
    let meta = h.engine.authorization_server_metadata();
    let list = |name: &str| -> Vec<String> {
        meta[name]
            .as_array()
            .unwrap_or_else(|| panic!("{name} missing"))
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(meta["issuer"], ISS);
    assert_eq!(meta["userinfo_endpoint"], USERINFO);
    assert_eq!(meta["authorization_response_iss_parameter_supported"], true);
    // RFC 8414 §2: private_key_jwt needs the signing algorithms, without `none`.
    assert!(list("token_endpoint_auth_methods_supported").contains(&"private_key_jwt".to_owned()));
    let algs = list("token_endpoint_auth_signing_alg_values_supported");
    assert!(!algs.is_empty() && !algs.iter().any(|a| a == "none" || a.starts_with("HS")));
    // RFC 7662 §2.1: no `none` for introspection.
    assert!(!list("introspection_endpoint_auth_methods_supported").contains(&"none".to_owned()));
    // Every grant advertised reaches its grant (never unsupported_grant_type).
    for grant in list("grant_types_supported") {
        let enc = format!("grant_type={}", grant.replace(':', "%3A"));
        let r = h
            .engine
            .token_endpoint(
                &cs,
                &NoPasswordGrant,
                &form_post(&enc, Some(&basic("svc", SVC_SECRET))),
            )
            .await;
        assert!(
            !r.body().contains("unsupported_grant_type"),
            "{grant}: {r:?}"
        );
    }
    // Every client authentication method advertised authenticates a client registered for it.
    for method in list("token_endpoint_auth_methods_supported") {
        let hasher = h.engine.client_secret_hasher().unwrap();
        let key = token_engine::SigningKey::generate(token_engine::Algorithm::ES256)
            .unwrap()
            .0;
        let (client, auth, extra) = match method.as_str() {
            "none" => (Client::new("c"), None, "&client_id=c".to_owned()),
            "client_secret_basic" => (
                Client::confidential("c", ClientAuthMethod::SecretBasic(hasher.hash("s"))),
                Some(basic("c", "s")),
                String::new(),
            ),
            "client_secret_post" => (
                Client::confidential("c", ClientAuthMethod::SecretPost(hasher.hash("s"))),
                None,
                "&client_id=c&client_secret=s".to_owned(),
            ),
            "private_key_jwt" => {
                let claims =
                    json!({"iss": "c", "sub": "c", "aud": TOKEN, "exp": NOW + 60, "jti": "j1"});
                let header = json!({"alg": "ES256", "typ": "JWT"});
                let assertion = sign(&key, &header, &claims);
                (
                    Client::confidential(
                        "c",
                        ClientAuthMethod::PrivateKeyJwt(vec![key.verifying_key()]),
                    ),
                    None,
                    format!(
                        "&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion={assertion}"
                    ),
                )
            }
            other => panic!("advertised but not tested: {other}"),
        };
        let client = client
            .allow_scopes(["read"])
            .grant_types([GrantType::RefreshToken]);
        let body = format!("grant_type=refresh_token&refresh_token=rt_x{extra}");
        let r = h
            .engine
            .token_endpoint(
                &vec![client],
                &NoPasswordGrant,
                &form_post(&body, auth.as_deref()),
            )
            .await;
        // Authenticated: the refresh token is what fails, not the client.
        assert!(r.body().contains("invalid_grant"), "{method}: {r:?}");
    }
    // Certificate-bound tokens (RFC 8705): the token endpoint binds to the request's
    // verified client certificate.
    assert_eq!(meta["tls_client_certificate_bound_access_tokens"], true);
    let r = h
        .engine
        .token_endpoint(
            &cs,
            &NoPasswordGrant,
            &form_post(
                "grant_type=client_credentials&scope=read",
                Some(&basic("svc", SVC_SECRET)),
            )
            .client_cert_sha256([9; 32]),
        )
        .await;
    let access: Value = serde_json::from_str(r.body()).unwrap();
    let claims = h
        .engine
        .verifier()
        .verify(access["access_token"].as_str().unwrap())
        .unwrap();
    assert!(claims.cnf.unwrap().x5t_s256.is_some());
    // PKCE: only S256, which the authorization endpoint takes.
    assert_eq!(list("code_challenge_methods_supported"), ["S256"]);
    // DPoP algorithms: exactly the engine's rules.
    let dpop = list("dpop_signing_alg_values_supported");
    for alg in [
        token_engine::Algorithm::ES256,
        token_engine::Algorithm::ES384,
        token_engine::Algorithm::EdDSA,
    ] {
        assert!(dpop.contains(&alg.name().to_owned()));
        let key = holder(alg);
        let proof = key.proof("POST", TOKEN, NOW, alg.name());
        h.engine
            .verify_dpop_proof(&proof, "POST", TOKEN)
            .await
            .unwrap();
    }
    // Every advertised endpoint answers its call (not a 405 or a server error).
    let oidc = h.engine.openid_configuration();
    for name in [
        "subject_types_supported",
        "id_token_signing_alg_values_supported",
        "response_types_supported",
    ] {
        assert!(oidc[name].is_array(), "{name}");
    }
    assert_eq!(
        oidc["id_token_signing_alg_values_supported"],
        json!(["EdDSA"])
    );
    assert_eq!(oidc["request_uri_parameter_supported"], false);
    let served = h.engine.metadata_endpoint(&HttpRequest::get(""), false);
    assert_eq!(served.status(), 200);
    assert_eq!(served.header("cache-control"), Some("public, max-age=3600"));
    let doc: Value = serde_json::from_str(served.body()).unwrap();
    assert_eq!(doc, meta);
    let jwks = h
        .engine
        .jwks_endpoint(&HttpRequest::get("").header("Origin", "https://x.example"));
    assert_eq!(jwks.status(), 200);
    assert_eq!(
        jwks.header("content-type"),
        Some("application/jwk-set+json")
    );
    assert_eq!(jwks.header("access-control-allow-origin"), Some("*"));
    let keys: Value = serde_json::from_str(jwks.body()).unwrap();
    assert_eq!(keys["keys"][0]["alg"], "EdDSA");
}

#[tokio::test]
async fn the_jwk_set_is_cacheable_for_five_minutes() {
    let h = Harness::with(server);
    let jwks = h.engine.jwks_endpoint(&HttpRequest::get(""));
    assert_eq!(jwks.status(), 200);
    // What `src/engine/metadata.rs` sets: public keys, cacheable (shorter than the metadata's
    // hour: keys rotate), never `no-store` as token responses are.
    assert_eq!(jwks.header("cache-control"), Some("public, max-age=300"));
    assert_eq!(jwks.header("pragma"), None);
    let cache_control = jwks
        .headers()
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("cache-control"))
        .count();
    assert_eq!(cache_control, 1);
}

/// The parts of the RFC 8414 / Discovery documents this file exercises (the rest are
/// exercised where named): a key outside this list fails the test below until it is.
const EXERCISED: [&str; 30] = [
    "issuer",
    "authorization_endpoint",
    "token_endpoint",
    "device_authorization_endpoint",
    "introspection_endpoint",
    "revocation_endpoint",
    "userinfo_endpoint",
    "jwks_uri",
    "response_types_supported",
    "response_modes_supported",
    "grant_types_supported",
    "token_endpoint_auth_methods_supported",
    "token_endpoint_auth_signing_alg_values_supported",
    "introspection_endpoint_auth_methods_supported",
    "introspection_endpoint_auth_signing_alg_values_supported",
    // The signed answer (RFC 9701): examples/servers/tests/introspection_jwt.rs.
    "introspection_signing_alg_values_supported",
    "revocation_endpoint_auth_methods_supported",
    "revocation_endpoint_auth_signing_alg_values_supported",
    "code_challenge_methods_supported",
    "dpop_signing_alg_values_supported",
    "tls_client_certificate_bound_access_tokens",
    "authorization_response_iss_parameter_supported",
    // Pushed requests (RFC 9126): tests/engine/par.rs.
    "require_pushed_authorization_requests",
    "request_parameter_supported",
    "request_uri_parameter_supported",
    // OpenID Connect Discovery: the ID token tests (exchange_and_id.rs) and `prompt` above.
    "subject_types_supported",
    "id_token_signing_alg_values_supported",
    "prompt_values_supported",
    // Informational (the claims ID tokens carry) and `false` (no `claims` parameter).
    "claims_supported",
    "claims_parameter_supported",
];

#[tokio::test]
async fn every_endpoint_and_auth_method_the_documents_name_answers_its_call() {
    let h = Harness::with(server);
    let cs = clients(&h);
    let oidc = h.engine.openid_configuration();
    let doc = oidc.as_object().unwrap();
    let list = |name: &str| -> Vec<String> {
        doc[name]
            .as_array()
            .unwrap_or_else(|| panic!("{name} missing"))
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    for name in doc.keys() {
        assert!(
            EXERCISED.contains(&name.as_str()),
            "advertised but not exercised: {name}"
        );
    }
    // Every endpoint named answers its library call with success.
    let openid = h
        .issue(
            &Client::new("app").allow_scopes(["openid"]),
            IssueRequest::new(SUBJECT).scope("openid"),
        )
        .await
        .unwrap()
        .access_token;
    let bearer = format!("Bearer {openid}");
    let (svc, rs) = (basic("svc", SVC_SECRET), basic("rs", RS_SECRET));
    let mut named = 0;
    for (name, url) in doc {
        if !(name.ends_with("_endpoint") || name == "jwks_uri") {
            continue;
        }
        assert!(url.as_str().unwrap().starts_with(ISS), "{name}");
        named += 1;
        let status = match name.as_str() {
            "authorization_endpoint" => {
                let (_, c) = pkce();
                for rt in list("response_types_supported") {
                    for mode in list("response_modes_supported") {
                        let q = query(&format!("&response_mode={mode}"), &c)
                            .replace("response_type=code", &format!("response_type={rt}"));
                        assert!(step1(&h, &q).await.is_ok(), "{rt} {mode}");
                    }
                }
                200
            }
            "token_endpoint" => {
                let body = "grant_type=client_credentials&scope=read";
                let r = form_post(body, Some(&svc));
                h.engine.token_endpoint(&cs, &NoPasswordGrant, &r).await
            }
            .status(),
            "device_authorization_endpoint" => {
                let r = form_post("client_id=tv&scope=read", None);
                h.engine.device_authorization_endpoint(&cs, &r).await
            }
            .status(),
            "introspection_endpoint" => {
                let r = form_post("token=x", Some(&rs));
                h.engine.introspection_endpoint(&cs, &r).await
            }
            .status(),
            "revocation_endpoint" => {
                let r = form_post("token=x&client_id=web", None);
                h.engine.revocation_endpoint(&cs, &r).await
            }
            .status(),
            "userinfo_endpoint" => {
                let r = HttpRequest::get("").header("Authorization", &bearer);
                h.engine.userinfo_endpoint(&Users, &r).await
            }
            .status(),
            "jwks_uri" => h.engine.jwks_endpoint(&HttpRequest::get("")).status(),
            other => panic!("advertised but not exercised: {other}"),
        };
        assert_eq!(status, 200, "{name}");
    }
    assert_eq!(named, 7);
    // Every client authentication method named for introspection and revocation
    // authenticates a client registered for it there; every signing algorithm named for
    // client assertions is one the engine verifies (ES256 signed here; the rest are the
    // asymmetric algorithms of `Algorithm::available`, each verified by tests/jose).
    let key = token_engine::SigningKey::generate(token_engine::Algorithm::ES256)
        .unwrap()
        .0;
    for (methods, algs, endpoint) in [
        (
            "introspection_endpoint_auth_methods_supported",
            "introspection_endpoint_auth_signing_alg_values_supported",
            "introspection",
        ),
        (
            "revocation_endpoint_auth_methods_supported",
            "revocation_endpoint_auth_signing_alg_values_supported",
            "revocation",
        ),
    ] {
        assert!(list(algs).contains(&"ES256".to_owned()), "{algs}");
        assert_eq!(
            list(algs),
            list("token_endpoint_auth_signing_alg_values_supported")
        );
        for method in list(methods) {
            let hasher = h.engine.client_secret_hasher().unwrap();
            let jti = format!("{endpoint}-{method}");
            let (client, auth, extra) = match method.as_str() {
                "none" => (Client::new("c"), None, "&client_id=c".to_owned()),
                "client_secret_basic" => (
                    Client::confidential("c", ClientAuthMethod::SecretBasic(hasher.hash("s"))),
                    Some(basic("c", "s")),
                    String::new(),
                ),
                "client_secret_post" => (
                    Client::confidential("c", ClientAuthMethod::SecretPost(hasher.hash("s"))),
                    None,
                    "&client_id=c&client_secret=s".to_owned(),
                ),
                "private_key_jwt" => {
                    let claims =
                        json!({"iss": "c", "sub": "c", "aud": ISS, "exp": NOW + 60, "jti": jti});
                    let header = json!({"alg": "ES256", "typ": "JWT"});
                    let assertion = sign(&key, &header, &claims);
                    (
                        Client::confidential(
                            "c",
                            ClientAuthMethod::PrivateKeyJwt(vec![key.verifying_key()]),
                        ),
                        None,
                        format!(
                            "&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion={assertion}"
                        ),
                    )
                }
                other => panic!("advertised but not exercised: {other}"),
            };
            let cs = vec![client.introspect_all_tokens()];
            let body = format!("token=x{extra}");
            let request = form_post(&body, auth.as_deref());
            let r = if endpoint == "introspection" {
                h.engine.introspection_endpoint(&cs, &request).await
            } else {
                h.engine.revocation_endpoint(&cs, &request).await
            };
            assert_eq!(r.status(), 200, "{endpoint} {method}: {r:?}");
        }
    }
}

#[tokio::test]
async fn a_server_without_some_endpoints_does_not_advertise_them() {
    let h = Harness::with(|b| b.token_endpoint(TOKEN));
    let meta = h.engine.authorization_server_metadata();
    for absent in [
        "authorization_endpoint",
        "userinfo_endpoint",
        "introspection_endpoint",
        "device_authorization_endpoint",
    ] {
        assert!(meta.get(absent).is_none(), "{absent}");
    }
    // Without client secrets, no secret methods; without mounted endpoints, no code or
    // device grant.
    let methods = meta["token_endpoint_auth_methods_supported"].to_string();
    assert!(!methods.contains("client_secret"), "{methods}");
    let grants = meta["grant_types_supported"].to_string();
    assert!(
        !grants.contains("authorization_code") && !grants.contains("device_code"),
        "{grants}"
    );
    // A UserInfo call without its URL configured is a server error, not a panic.
    let r = h
        .engine
        .userinfo_endpoint(&Users, &HttpRequest::get(""))
        .await;
    assert_eq!(r.status(), 500);
    let _ = Engine::builder();
}

#[tokio::test]
async fn resource_request_as_reads_the_application_claims_with_revocation() {
    let h = Harness::with(server);
    let tokens = h
        .issue(
            &client(),
            IssueRequest::new(SUBJECT)
                .claim("role", "admin")
                .claim("tenant_id", "t-1"),
        )
        .await
        .unwrap();
    let auth = format!("Bearer {}", tokens.access_token);
    let request = HttpRequest::get("").header("Authorization", &auth);
    let claims = h
        .engine
        .resource_request_as::<App>(&request, API, &["read"])
        .await
        .unwrap();
    assert_eq!(claims.custom.role, "admin");
    assert_eq!(claims.custom.tenant_id, "t-1");
    // Revoked: refused on the same path.
    h.revoke_ok(rt(&tokens)).await;
    let r = h
        .engine
        .resource_request_as::<App>(&request, API, &["read"])
        .await
        .unwrap_err();
    assert_eq!(r.status(), 401);
}
