//! Resource indicators (RFC 8707), step-up authentication (RFC 9470) and protected resource
//! metadata (RFC 9728): a token for resource A is refused by resource B, a refresh narrows
//! its resources and never widens them (on any instance), `acr` travels from the approval
//! into every token of the session, and a resource's refusals name its requirements and its
//! metadata document.

use std::sync::Arc;

use serde_json::Value;
use time::Duration;
use token_engine::event::CollectingSink;
use token_engine::http::Form;
use token_engine::pkce::CodeVerifier;
use token_engine::{
    AccessTokenClaims, Algorithm, Approval, AuthorizationDecision, Client, ClientAuthMethod,
    DpopRules, Engine, EngineBuilder, Error, GrantType, HttpRequest, HttpResponse, IssueRequest,
    ManualClock, MemoryStore, NoPasswordGrant, ProtectedResource, RefreshRequest, Requirements,
    SigningKey, TokenError, TokenResponse, Validation, Verifier,
};

use crate::common::*;

const A: &str = "https://a.example.com/mcp";
const B: &str = "https://b.example.com/api";
const C: &str = "https://c.example.com/";
const REDIRECT: &str = "https://app.example/cb";
const TOKEN: &str = "https://auth.example.com/token";
const MFA: &str = "urn:example:mfa";

fn server(b: EngineBuilder) -> EngineBuilder {
    b.token_endpoint(TOKEN)
        .authorization_endpoint("https://auth.example.com/authorize")
        .resource(A)
        .resource(B)
        .resource(C)
        .client_secret_key(&[6; 32])
        .resource_metadata("https://auth.example.com/.well-known/oauth-protected-resource")
        .acr_values_supported([MFA, "urn:example:pwd"])
}

const M2M_SECRET: &str = "m2m-secret";

/// Two engines (app servers) over one store, with one signing key and one clock.
struct Pair {
    engine: Engine<Arc<MemoryStore>>,
    other: Engine<Arc<MemoryStore>>,
    clock: ManualClock,
}

impl Pair {
    fn new() -> Self {
        let store = Arc::new(MemoryStore::new());
        let clock = ManualClock::new(NOW);
        let sink = Arc::new(CollectingSink::new());
        let build = || {
            server(builder(&clock, &sink))
                .signing_key(SigningKey::hmac(Algorithm::HS256, &[9; 32]).unwrap())
                .build(Arc::clone(&store))
                .unwrap()
        };
        let (engine, other) = (build(), build());
        Self {
            engine,
            other,
            clock,
        }
    }

    async fn issue(&self, client: &Client, req: IssueRequest) -> Result<TokenResponse, Error> {
        self.engine.issue(client, req).await
    }

    async fn login(&self) -> TokenResponse {
        self.issue(&client(), IssueRequest::new(SUBJECT))
            .await
            .unwrap()
    }
}

/// The verified claims of one of the pair's access tokens, whatever its audience.
fn claims(h: &Pair, access_token: &str) -> AccessTokenClaims<'static> {
    h.engine
        .key_set()
        .verifier(Validation::new(ISS, AUD).danger_accept_any_audience())
        .unwrap()
        .with_clock(h.clock.clone())
        .verify(access_token)
        .unwrap()
}

fn clients(h: &Pair) -> Vec<Client> {
    let hasher = h.engine.client_secret_hasher().unwrap();
    vec![
        Client::new("agent")
            .allow_scopes(["openid", "tools"])
            .redirect_uri(REDIRECT),
        // May use A and B only.
        Client::new("narrow")
            .allow_scopes(["tools"])
            .redirect_uri(REDIRECT)
            .allow_resources([A, B]),
        Client::confidential(
            "m2m",
            ClientAuthMethod::SecretBasic(hasher.hash(M2M_SECRET)),
        )
        .allow_scopes(["tools"])
        .grant_types([GrantType::ClientCredentials])
        .allow_resources([B]),
    ]
}

fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn authorize_query(client: &str, challenge: &str, extra: &str) -> String {
    format!(
        "response_type=code&client_id={client}&redirect_uri={}&scope=tools&state=s&code_challenge={challenge}&code_challenge_method=S256{extra}",
        enc(REDIRECT)
    )
}

fn location(r: &HttpResponse) -> Form {
    assert_eq!(r.status(), 303, "{r:?}");
    let loc = r.header("location").unwrap();
    Form::parse(loc.split_once('?').unwrap().1).unwrap()
}

/// A code for `client` with `extra` authorization parameters, approved by `approval`, and
/// its verifier.
async fn code(h: &Pair, client: &str, extra: &str, approval: Approval) -> (String, String) {
    let v = CodeVerifier::generate().unwrap();
    let q = authorize_query(client, v.s256_challenge().as_str(), extra);
    let req = h
        .engine
        .authorization_request(&clients(h), &HttpRequest::get(&q))
        .await
        .unwrap();
    let r = h
        .engine
        .authorization_response(req, AuthorizationDecision::Approve(approval))
        .await;
    let p = location(&r);
    assert_eq!(p.get("iss"), Some(ISS));
    (
        p.get("code").unwrap().to_owned(),
        v.expose_secret().to_owned(),
    )
}

async fn token(h: &Pair, body: &str, authorization: Option<&str>) -> HttpResponse {
    h.engine
        .token_endpoint(
            &clients(h),
            &NoPasswordGrant,
            &form_post(body, authorization),
        )
        .await
}

fn json(r: &HttpResponse) -> Value {
    serde_json::from_str(r.body()).unwrap()
}

fn aud(h: &Pair, access_token: &str) -> Vec<String> {
    claims(h, access_token)
        .aud
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect()
}

/// A resource server's own verifier over the engine's keys: only its audience.
fn verifier_for(h: &Pair, resource: &str) -> Verifier {
    h.engine
        .key_set()
        .verifier(Validation::new(ISS, resource))
        .unwrap()
        .with_clock(h.clock.clone())
}

#[tokio::test]
async fn a_token_for_one_resource_is_refused_by_another() {
    let h = Pair::new();
    let extra = format!("&resource={}&resource={}", enc(A), enc(B));
    let (code, verifier) = code(&h, "agent", &extra, Approval::new(SUBJECT)).await;
    // The token request names A alone: the access token is for A only (RFC 8707 §2.2).
    let body = format!(
        "grant_type=authorization_code&client_id=agent&code={code}&redirect_uri={}&code_verifier={verifier}&resource={}",
        enc(REDIRECT),
        enc(A)
    );
    let r = token(&h, &body, None).await;
    assert_eq!(r.status(), 200, "{r:?}");
    let t = json(&r);
    let access = t["access_token"].as_str().unwrap();
    assert_eq!(aud(&h, access), [A]);
    assert!(verifier_for(&h, A).verify(access).is_ok());
    // The engine's own checks keep its own audience: adding a resource widened nothing.
    assert!(matches!(
        h.engine.verifier().verify(access).unwrap_err(),
        Error::InvalidToken(TokenError::Audience)
    ));
    assert!(h.engine.verify_with_revocation(access).await.is_err());
    let own = h.login().await.access_token;
    assert!(h.engine.verify_with_revocation(&own).await.is_ok());
    // Introspection (on either instance) sees every resource's tokens.
    let seen = h.other.introspect(access).await.unwrap();
    assert!(seen.active);
    assert_eq!(seen.aud.unwrap().iter().collect::<Vec<_>>(), [A]);
    assert!(matches!(
        h.engine
            .verify_resource_request_for::<token_engine::jose::NoCustomClaims>(
                Some(A),
                &format!("Bearer {own}"),
                None,
                "GET",
                A,
            )
            .await
            .unwrap_err(),
        Error::InvalidToken(TokenError::Audience)
    ));
    assert!(
        h.engine
            .verify_resource_request_for::<token_engine::jose::NoCustomClaims>(
                Some(A),
                &format!("Bearer {access}"),
                None,
                "GET",
                A,
            )
            .await
            .is_ok()
    );
    assert!(matches!(
        verifier_for(&h, B).verify(access).unwrap_err(),
        Error::InvalidToken(TokenError::Audience)
    ));
    // Through the engine (with revocation): B's requirements refuse it as invalid_token.
    let bearer = format!("Bearer {access}");
    let request = HttpRequest::get("").header("Authorization", &bearer);
    let refusal = h
        .engine
        .resource_request_with::<token_engine::jose::NoCustomClaims>(
            &request,
            B,
            &Requirements::new().audience(B),
        )
        .await
        .unwrap_err();
    assert_eq!(refusal.status(), 401);
    assert!(
        refusal
            .header("www-authenticate")
            .unwrap()
            .starts_with("Bearer error=\"invalid_token\""),
        "{refusal:?}"
    );
    assert!(
        h.engine
            .resource_request_with::<token_engine::jose::NoCustomClaims>(
                &request,
                A,
                &Requirements::new().audience(A).scopes(["tools"]),
            )
            .await
            .is_ok()
    );

    // The session remembers A and B, on every instance: a refresh on another engine over
    // the same store may ask for B, or both, never C.
    let other = &h.other;
    let refresh = t["refresh_token"].as_str().unwrap().to_owned();
    let body = |rt: &str, extra: &str| {
        format!("grant_type=refresh_token&client_id=agent&refresh_token={rt}{extra}")
    };
    let r = token(&h, &body(&refresh, &format!("&resource={}", enc(C))), None).await;
    assert_eq!(r.status(), 400, "{r:?}");
    assert_eq!(json(&r)["error"], "invalid_target");
    // Refused before anything was written: the same refresh token still works.
    let r = other
        .token_endpoint(
            &clients(&h),
            &NoPasswordGrant,
            &form_post(&body(&refresh, &format!("&resource={}", enc(B))), None),
        )
        .await;
    assert_eq!(r.status(), 200, "{r:?}");
    let t2 = json(&r);
    assert_eq!(aud(&h, t2["access_token"].as_str().unwrap()), [B]);
    let r = token(&h, &body(t2["refresh_token"].as_str().unwrap(), ""), None).await;
    assert_eq!(r.status(), 200, "{r:?}");
    assert_eq!(aud(&h, json(&r)["access_token"].as_str().unwrap()), [A, B]);
}

#[tokio::test]
async fn resources_are_checked_against_the_engine_and_the_client() {
    let h = Pair::new();
    let v = CodeVerifier::generate().unwrap();
    let c = v.s256_challenge().as_str().to_owned();
    for (client, extra) in [
        (
            "agent",
            format!("&resource={}", enc("https://unknown.example.com/")),
        ),
        (
            "agent",
            format!("&resource={}", enc("https://a.example.com/mcp#x")),
        ),
        ("agent", "&resource=relative/path".to_owned()),
        ("narrow", format!("&resource={}", enc(C))),
    ] {
        let q = authorize_query(client, &c, &extra);
        let r = h
            .engine
            .authorization_request(&clients(&h), &HttpRequest::get(&q))
            .await
            .unwrap_err();
        let p = location(&r);
        assert_eq!(p.get("error"), Some("invalid_target"), "{client} {extra}");
        assert_eq!(p.get("iss"), Some(ISS));
        assert_eq!(p.get("state"), Some("s"));
    }
    // `resource` may repeat; no other parameter may.
    let q = format!(
        "{}&resource={}&resource={}",
        authorize_query("narrow", &c, ""),
        enc(A),
        enc(B)
    );
    let req = h
        .engine
        .authorization_request(&clients(&h), &HttpRequest::get(&q))
        .await
        .unwrap();
    assert_eq!(req.resources(), [A, B]);
    // A code without resources gets the engine's audience; naming one at the token
    // endpoint would widen the grant.
    let (code, verifier) = code(&h, "agent", "", Approval::new(SUBJECT)).await;
    let body = format!(
        "grant_type=authorization_code&client_id=agent&code={code}&redirect_uri={}&code_verifier={verifier}&resource={}",
        enc(REDIRECT),
        enc(A)
    );
    let r = token(&h, &body, None).await;
    assert_eq!(json(&r)["error"], "invalid_target", "{r:?}");
    // Client credentials: the token request's resources, checked against the client's.
    let basic = {
        use base64::Engine as _;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("m2m:{M2M_SECRET}"))
        )
    };
    let r = token(
        &h,
        &format!("grant_type=client_credentials&resource={}", enc(B)),
        Some(&basic),
    )
    .await;
    assert_eq!(r.status(), 200, "{r:?}");
    assert_eq!(aud(&h, json(&r)["access_token"].as_str().unwrap()), [B]);
    let r = token(
        &h,
        &format!("grant_type=client_credentials&resource={}", enc(A)),
        Some(&basic),
    )
    .await;
    assert_eq!(json(&r)["error"], "invalid_target");
    let r = token(&h, "grant_type=client_credentials", Some(&basic)).await;
    assert_eq!(aud(&h, json(&r)["access_token"].as_str().unwrap()), [AUD]);
    // The issue call too; and a bad configured resource stops the build.
    assert!(matches!(
        h.issue(&client(), IssueRequest::new(SUBJECT).resource("https://x/"))
            .await
            .unwrap_err(),
        Error::InvalidTarget
    ));
    let clock = ManualClock::new(NOW);
    let sink = Arc::new(CollectingSink::new());
    for bad in ["relative", "https://a/#frag", ""] {
        assert!(matches!(
            builder(&clock, &sink)
                .resource(bad)
                .build(MemoryStore::new()),
            Err(Error::Config(_))
        ));
    }
}

#[tokio::test]
async fn acr_travels_from_the_approval_into_every_token_of_the_session() {
    let h = Pair::new();
    let v = CodeVerifier::generate().unwrap();
    let q = authorize_query(
        "agent",
        v.s256_challenge().as_str(),
        "&acr_values=urn%3Aexample%3Amfa%20urn%3Aexample%3Apwd&scope2=x",
    )
    .replace("scope=tools", "scope=openid%20tools");
    let req = h
        .engine
        .authorization_request(&clients(&h), &HttpRequest::get(&q))
        .await
        .unwrap();
    assert_eq!(
        req.acr_values().collect::<Vec<_>>(),
        [MFA, "urn:example:pwd"]
    );
    let r = h
        .engine
        .authorization_response(
            req,
            AuthorizationDecision::Approve(Approval::new(SUBJECT).auth_time(NOW - 10).acr(MFA)),
        )
        .await;
    let code = location(&r).get("code").unwrap().to_owned();
    let body = format!(
        "grant_type=authorization_code&client_id=agent&code={code}&redirect_uri={}&code_verifier={}",
        enc(REDIRECT),
        v.expose_secret()
    );
    let t = json(&token(&h, &body, None).await);
    let access = t["access_token"].as_str().unwrap();
    let c = claims(&h, access);
    assert_eq!(c.acr.as_deref(), Some(MFA));
    assert_eq!(c.auth_time, Some(NOW - 10));
    // The ID token names it too.
    let id = t["id_token"].as_str().unwrap();
    let payload = id.split('.').nth(1).unwrap();
    let payload: Value = {
        use base64::Engine as _;
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap(),
        )
        .unwrap()
    };
    assert_eq!(payload["acr"], MFA);
    // A refresh on another instance keeps it.
    let other = &h.other;
    let refreshed = other
        .refresh(
            &clients(&h)[0],
            t["refresh_token"].as_str().unwrap(),
            RefreshRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        claims(&h, &refreshed.access_token).acr.as_deref(),
        Some(MFA)
    );
    // Bad acr values are refused where they come from.
    for bad in ["&acr_values=", "&acr_values=%01"] {
        let q = authorize_query("agent", v.s256_challenge().as_str(), bad);
        let r = h
            .engine
            .authorization_request(&clients(&h), &HttpRequest::get(&q))
            .await;
        if bad == "&acr_values=" {
            // An empty parameter counts as absent (RFC 6749 §3.1).
            assert!(r.is_ok());
        } else {
            assert_eq!(
                location(&r.unwrap_err()).get("error"),
                Some("invalid_request")
            );
        }
    }
    assert!(matches!(
        h.issue(&client(), IssueRequest::new(SUBJECT).acr("has space"))
            .await
            .unwrap_err(),
        Error::InvalidRequest(_)
    ));
}

#[tokio::test]
async fn too_weak_or_too_old_an_authentication_gets_the_step_up_challenge() {
    let h = Pair::new();
    let weak = h
        .issue(
            &client(),
            IssueRequest::new(SUBJECT)
                .acr("urn:example:pwd")
                .auth_time(NOW - 600),
        )
        .await
        .unwrap()
        .access_token;
    let strong = h
        .issue(
            &client(),
            IssueRequest::new(SUBJECT).acr(MFA).auth_time(NOW - 60),
        )
        .await
        .unwrap()
        .access_token;
    let none = h.login().await.access_token;
    let admin = Requirements::new().acr_values([MFA]);
    let fresh = Requirements::new().max_auth_age(Duration::minutes(5));
    let call = |token: String, req: Requirements| {
        let h = &h;
        async move {
            let bearer = format!("Bearer {token}");
            let request = HttpRequest::get("").header("Authorization", &bearer);
            h.engine
                .resource_request_with::<token_engine::jose::NoCustomClaims>(&request, AUD, &req)
                .await
                .map(|_| ())
        }
    };
    for token in [weak.clone(), none.clone()] {
        let r = call(token, admin.clone()).await.unwrap_err();
        assert_eq!(r.status(), 401);
        let www = r.header("www-authenticate").unwrap();
        assert!(
            www.starts_with(
                "Bearer error=\"insufficient_user_authentication\", acr_values=\"urn:example:mfa\", resource_metadata=\"https://auth.example.com/.well-known/oauth-protected-resource\""
            ),
            "{www}"
        );
    }
    assert!(call(strong.clone(), admin.clone()).await.is_ok());
    let r = call(weak, fresh.clone()).await.unwrap_err();
    let www = r.header("www-authenticate").unwrap();
    assert!(
        www.contains("error=\"insufficient_user_authentication\", max_age=\"300\""),
        "{www}"
    );
    assert!(call(strong.clone(), fresh).await.is_ok());
    // Scopes after authentication: a strong token without the scope is 403.
    let r = call(strong.clone(), admin.clone().scopes(["admin"]))
        .await
        .unwrap_err();
    assert_eq!(r.status(), 403);
    assert!(
        r.header("www-authenticate")
            .unwrap()
            .contains("scope=\"admin\"")
    );

    // The same rule on a resource server's own verifier (RFC 9470 on `Validation`).
    let rules = Validation::new(ISS, AUD)
        .require_acr([MFA])
        .max_auth_age(Duration::minutes(5));
    let v = h.engine.key_set().verifier(rules.clone()).unwrap();
    let v = v.with_clock(h.clock.clone());
    assert!(v.verify(&strong).is_ok());
    assert!(matches!(
        v.verify(&none).unwrap_err(),
        Error::InvalidToken(TokenError::InsufficientUserAuthentication)
    ));
    let challenges = token_engine::Challenges::new(&DpopRules::default()).with_step_up(&rules);
    let request = HttpRequest::get("").header("Authorization", "Bearer x");
    let creds = challenges.credentials(&request).unwrap();
    let r = challenges.refusal(
        &creds,
        &Error::InvalidToken(TokenError::InsufficientUserAuthentication),
    );
    assert_eq!(
        r.header("www-authenticate").unwrap(),
        "Bearer error=\"insufficient_user_authentication\", acr_values=\"urn:example:mfa\", max_age=\"300\", DPoP algs=\"ES256 ES384 EdDSA RS256 PS256\""
    );
    assert!(matches!(
        h.engine
            .key_set()
            .verifier(Validation::new(ISS, AUD).require_acr(["a b"])),
        Err(Error::Config(_))
    ));
}

#[tokio::test]
async fn protected_resource_metadata_names_the_engine_and_the_challenges_name_it() {
    let h = Pair::new();
    let rs = h.engine.protected_resource(A).unwrap();
    assert_eq!(
        rs.metadata_url(),
        "https://a.example.com/.well-known/oauth-protected-resource/mcp"
    );
    let doc = rs.metadata();
    assert_eq!(doc["resource"], A);
    assert_eq!(doc["authorization_servers"][0], ISS);
    assert_eq!(doc["bearer_methods_supported"][0], "header");
    assert!(doc["dpop_signing_alg_values_supported"].is_array());
    assert!(h.engine.protected_resource("https://not.ours/").is_err());
    let r = rs.endpoint(&HttpRequest::get("").header("Origin", "https://app.example"));
    assert_eq!(r.status(), 200);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    // The resource's own challenges name its document on a bare 401.
    let bare = rs
        .challenges(&DpopRules::default())
        .credentials(&HttpRequest::get(""))
        .unwrap_err();
    let www = bare.header("www-authenticate").unwrap();
    assert_eq!(
        www,
        format!(
            "Bearer resource_metadata=\"{0}\", DPoP resource_metadata=\"{0}\", algs=\"ES256 ES384 EdDSA RS256 PS256\"",
            rs.metadata_url()
        )
    );
    // The engine's own resources (UserInfo, resource_request) name the configured one.
    let r = h
        .engine
        .resource_request(&HttpRequest::get(""), AUD, &[])
        .await
        .unwrap_err();
    assert!(
        r.header("www-authenticate").unwrap().contains(
            "resource_metadata=\"https://auth.example.com/.well-known/oauth-protected-resource\""
        ),
        "{r:?}"
    );
    // RFC 8414 / Discovery advertise the acr values.
    let meta = h.engine.openid_configuration();
    assert_eq!(meta["acr_values_supported"][0], MFA);
    assert!(
        meta["claims_supported"]
            .as_array()
            .unwrap()
            .contains(&Value::from("acr"))
    );
    // Requirements from the document: the resource as audience.
    assert_eq!(rs.requirements().audience_required(), Some(A));
    let _ = ProtectedResource::new(A).unwrap();
}

/// Naming a resource the engine does not serve falls back to the engine's own audiences for
/// the signature and revocation checks, but never accepts a token that does not name it: a
/// token for the engine's audience passes where that audience is named, and is
/// `invalid_token` where an undeclared resource is.
#[tokio::test]
async fn an_undeclared_resource_still_requires_the_token_to_name_it() {
    let h = Pair::new();
    let own = h.login().await.access_token;
    let bearer = format!("Bearer {own}");
    let at = |resource| {
        h.other
            .verify_resource_request_for::<token_engine::jose::NoCustomClaims>(
                resource, &bearer, None, "GET", AUD,
            )
    };
    assert!(at(None).await.is_ok());
    assert!(
        at(Some(AUD)).await.is_ok(),
        "the engine's own audience, named"
    );
    let e = at(Some("https://undeclared.example.com/"))
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::InvalidToken(TokenError::Audience)),
        "{e:?}"
    );
}
