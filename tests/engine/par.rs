//! Pushed authorization requests (RFC 9126): the endpoint authenticates the client and checks
//! the request as the authorization endpoint would; the `request_uri` it answers is used on
//! any instance over the same store, by the pushing client only, for one code, before it
//! expires; clients (or the whole server) that must push cannot send plain requests.

use std::sync::Arc;

use serde_json::Value;
use time::Duration;
use token_engine::event::CollectingSink;
use token_engine::http::Form;
use token_engine::pkce::CodeVerifier;
use token_engine::{
    Approval, AuthorizationDecision, Client, ClientAuthMethod, Engine, EngineBuilder, HttpRequest,
    HttpResponse, ManualClock, MemoryStore, NoPasswordGrant,
};

use crate::common::*;

const REDIRECT: &str = "https://app.example/cb";
const REDIRECT_ENC: &str = "https%3A%2F%2Fapp.example%2Fcb";
const PAR: &str = "https://auth.example.com/par";
const CONF_SECRET: &str = "confidential-secret";

fn server(b: EngineBuilder) -> EngineBuilder {
    b.token_endpoint("https://auth.example.com/token")
        .authorization_endpoint("https://auth.example.com/authorize")
        .pushed_authorization_request_endpoint(PAR)
        .client_secret_key(&[6; 32])
}

fn clients(engine: &Engine<impl token_engine::TokenStore>) -> Vec<Client> {
    let hasher = engine.client_secret_hasher().unwrap();
    vec![
        Client::new("web")
            .allow_scopes(["openid", "read"])
            .redirect_uri(REDIRECT)
            .redirect_uri("https://app.example/other"),
        Client::new("intruder")
            .allow_scopes(["openid", "read"])
            .redirect_uri(REDIRECT),
        Client::new("strict")
            .allow_scopes(["read"])
            .redirect_uri(REDIRECT)
            .require_pushed_authorization_requests(),
        Client::confidential(
            "conf",
            ClientAuthMethod::SecretBasic(hasher.hash(CONF_SECRET)),
        )
        .allow_scopes(["read"])
        .redirect_uri(REDIRECT),
    ]
}

fn basic(id: &str, secret: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

fn pkce() -> (CodeVerifier, String) {
    let v = CodeVerifier::generate().unwrap();
    let c = v.s256_challenge().as_str().to_owned();
    (v, c)
}

fn push_body(client: &str, challenge: &str) -> String {
    format!(
        "response_type=code&client_id={client}&redirect_uri={REDIRECT_ENC}&scope=read&state=pushed-state&code_challenge={challenge}&code_challenge_method=S256"
    )
}

async fn push<S>(engine: &Engine<S>, body: &str, auth: Option<&str>) -> HttpResponse
where
    S: token_engine::store::CodeStore + token_engine::store::ReplayStore,
{
    engine
        .pushed_authorization_endpoint(&clients(engine), &form_post(body, auth))
        .await
}

/// Push for `client` and return the `request_uri`.
async fn pushed<S>(engine: &Engine<S>, client: &str, challenge: &str) -> String
where
    S: token_engine::store::CodeStore + token_engine::store::ReplayStore,
{
    let r = push(engine, &push_body(client, challenge), None).await;
    assert_eq!(r.status(), 201, "{r:?}");
    let json: Value = serde_json::from_str(r.body()).unwrap();
    json["request_uri"].as_str().unwrap().to_owned()
}

fn use_query(client: &str, uri: &str) -> String {
    let mut q = format!("client_id={client}&request_uri=");
    token_engine_encode(uri, &mut q);
    q
}

fn token_engine_encode(s: &str, out: &mut String) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

fn location(r: &HttpResponse) -> (String, Form) {
    assert_eq!(r.status(), 303, "{r:?}");
    let loc = r.header("location").expect("a Location");
    let (base, query) = loc.split_once('?').expect("a query");
    (base.to_owned(), Form::parse(query).unwrap())
}

fn assert_page(r: &HttpResponse) {
    assert_eq!(r.status(), 400, "{r:?}");
    assert_eq!(r.header("location"), None, "{r:?}");
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
}

fn error_of(r: &HttpResponse) -> String {
    let json: Value = serde_json::from_str(r.body()).unwrap();
    json["error"].as_str().unwrap().to_owned()
}

/// Two engines over one store, one clock.
fn two_instances() -> (
    Engine<Arc<MemoryStore>>,
    Engine<Arc<MemoryStore>>,
    ManualClock,
) {
    let clock = ManualClock::new(NOW);
    let sink = Arc::new(CollectingSink::new());
    let store = Arc::new(MemoryStore::new());
    let a = server(builder(&clock, &sink))
        .build(Arc::clone(&store))
        .unwrap();
    let b = server(builder(&clock, &sink))
        .build(Arc::clone(&store))
        .unwrap();
    (a, b, clock)
}

#[tokio::test]
async fn a_request_pushed_to_one_instance_is_used_on_another_for_one_code() {
    let (a, b, _clock) = two_instances();
    let (verifier, c) = pkce();
    let r = push(&a, &push_body("web", &c), None).await;
    assert_eq!(r.status(), 201, "{r:?}");
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let json: Value = serde_json::from_str(r.body()).unwrap();
    let uri = json["request_uri"].as_str().unwrap().to_owned();
    assert!(
        uri.starts_with("urn:ietf:params:oauth:request_uri:"),
        "{uri}"
    );
    assert!(uri.len() > 34 + 40, "{uri}");
    assert_eq!(json["expires_in"], 60);
    // Used on the other instance: the pushed parameters, not the ones sent beside it.
    let q = format!(
        "{}&redirect_uri=https%3A%2F%2Fapp.example%2Fother&scope=openid&state=forged",
        use_query("web", &uri)
    );
    let req = b
        .authorization_request(&clients(&b), &HttpRequest::get(&q))
        .await
        .unwrap();
    assert_eq!(req.redirect_uri(), REDIRECT);
    assert_eq!(req.scope(), "read");
    assert_eq!(req.state(), Some("pushed-state"));
    // The consent page's submission runs step 1 again: still there.
    let again = a
        .authorization_request(&clients(&a), &HttpRequest::get(&q))
        .await
        .unwrap();
    let r = b
        .authorization_response(req, AuthorizationDecision::Approve(Approval::new(SUBJECT)))
        .await;
    let (base, p) = location(&r);
    assert_eq!(base, REDIRECT);
    assert_eq!(p.get("state"), Some("pushed-state"));
    let code = p.get("code").unwrap().to_owned();
    // Spent: the second answer and any later use are refused.
    let r = a
        .authorization_response(
            again,
            AuthorizationDecision::Approve(Approval::new(SUBJECT)),
        )
        .await;
    let (_, p) = location(&r);
    assert_eq!(p.get("error"), Some("invalid_request"));
    assert_eq!(p.get("code"), None);
    let r = a
        .authorization_request(&clients(&a), &HttpRequest::get(&q))
        .await
        .unwrap_err();
    assert_page(&r);
    // The code works as any other.
    let body = format!(
        "grant_type=authorization_code&client_id=web&code={code}&redirect_uri={REDIRECT_ENC}&code_verifier={}",
        verifier.expose_secret()
    );
    let t = a
        .token_endpoint(&clients(&a), &NoPasswordGrant, &form_post(&body, None))
        .await;
    assert_eq!(t.status(), 200, "{t:?}");
}

#[tokio::test]
async fn another_client_cannot_use_a_pushed_request_nor_spend_it() {
    let (a, b, _clock) = two_instances();
    let (_, c) = pkce();
    let uri = pushed(&a, "web", &c).await;
    for (who, engine) in [("intruder", &a), ("conf", &b), ("nobody", &a)] {
        let r = engine
            .authorization_request(&clients(engine), &HttpRequest::get(&use_query(who, &uri)))
            .await
            .unwrap_err();
        assert_page(&r);
    }
    // Without client_id: refused too.
    let mut q = String::from("request_uri=");
    token_engine_encode(&uri, &mut q);
    let r = a
        .authorization_request(&clients(&a), &HttpRequest::get(&q))
        .await
        .unwrap_err();
    assert_page(&r);
    // The rightful client still can.
    let req = b
        .authorization_request(&clients(&b), &HttpRequest::get(&use_query("web", &uri)))
        .await
        .unwrap();
    assert_eq!(req.client().id(), "web");
}

#[tokio::test]
async fn a_pushed_request_expires_unless_used_in_time_and_then_lasts_the_interaction() {
    let (a, _b, clock) = two_instances();
    let (_, c) = pkce();
    let late = pushed(&a, "web", &c).await;
    let used = pushed(&a, "web", &c).await;
    clock.set(NOW + 50);
    let first = a
        .authorization_request(&clients(&a), &HttpRequest::get(&use_query("web", &used)))
        .await;
    assert!(first.is_ok());
    clock.set(NOW + 60);
    let r = a
        .authorization_request(&clients(&a), &HttpRequest::get(&use_query("web", &late)))
        .await
        .unwrap_err();
    assert_page(&r);
    // The one used in time survives the login page, for the interaction's lifetime.
    clock.set(NOW + 50 + token_engine::grant::PUSHED_INTERACTION_TTL - 1);
    let req = a
        .authorization_request(&clients(&a), &HttpRequest::get(&use_query("web", &used)))
        .await
        .unwrap();
    clock.set(NOW + 50 + token_engine::grant::PUSHED_INTERACTION_TTL);
    let r = a
        .authorization_response(req, AuthorizationDecision::Approve(Approval::new(SUBJECT)))
        .await;
    assert_eq!(location(&r).1.get("error"), Some("invalid_request"));
    // A request_uri the server never minted, or too long, gets the page.
    for bogus in [
        "urn:ietf:params:oauth:request_uri:nope",
        "https://evil.example/request",
        &format!("urn:ietf:params:oauth:request_uri:{}", "a".repeat(200)),
    ] {
        let r = a
            .authorization_request(&clients(&a), &HttpRequest::get(&use_query("web", bogus)))
            .await
            .unwrap_err();
        assert_page(&r);
    }
}

#[tokio::test]
async fn the_endpoint_authenticates_like_the_token_endpoint_and_validates_like_authorize() {
    let h = Harness::with(server);
    let e = &h.engine;
    let (_, c) = pkce();
    // Only POST with a form.
    let r = e
        .pushed_authorization_endpoint(&clients(e), &HttpRequest::get(&push_body("web", &c)))
        .await;
    assert_eq!(r.status(), 405);
    let r = e
        .pushed_authorization_endpoint(&clients(e), &HttpRequest::post(&push_body("web", &c)))
        .await;
    assert_eq!(r.status(), 400);
    // A confidential client: Basic, with or without client_id in the body.
    let body = push_body("conf", &c);
    let without_id = body.replace("client_id=conf&", "");
    for (b, auth) in [
        (&body, basic("conf", CONF_SECRET)),
        (&without_id, basic("conf", CONF_SECRET)),
    ] {
        let r = push(e, b, Some(&auth)).await;
        assert_eq!(r.status(), 201, "{r:?}");
    }
    // Its pushed request resolves with the client_id filled in.
    let r = push(e, &without_id, Some(&basic("conf", CONF_SECRET))).await;
    let uri = serde_json::from_str::<Value>(r.body()).unwrap()["request_uri"]
        .as_str()
        .unwrap()
        .to_owned();
    let req = e
        .authorization_request(&clients(e), &HttpRequest::get(&use_query("conf", &uri)))
        .await
        .unwrap();
    assert_eq!(req.client().id(), "conf");
    // Wrong secret, no authentication, a bare client_id for a confidential client, a
    // client_id differing from the Basic one: 401.
    for (b, auth) in [
        (body.clone(), Some(basic("conf", "wrong"))),
        (without_id.clone(), None),
        (body.clone(), None),
        (push_body("web", &c), Some(basic("conf", CONF_SECRET))),
    ] {
        let r = push(e, &b, auth.as_deref()).await;
        assert_eq!(r.status(), 401, "{r:?}");
        assert_eq!(error_of(&r), "invalid_client");
    }
    // A request_uri inside a pushed request.
    let r = push(
        e,
        &format!(
            "{}&request_uri=urn%3Aietf%3Aparams%3Aoauth%3Arequest_uri%3Ax",
            push_body("web", &c)
        ),
        None,
    )
    .await;
    assert_eq!(r.status(), 400);
    assert_eq!(error_of(&r), "invalid_request");
    // The authorization endpoint's checks, as JSON errors.
    let cases = [
        (
            push_body("web", &c).replace("scope=read", "scope=admin"),
            "invalid_scope",
        ),
        (
            push_body("web", &c).replace("response_type=code", "response_type=token"),
            "unsupported_response_type",
        ),
        (
            push_body("web", &c).replace(REDIRECT_ENC, "https%3A%2F%2Fevil.example%2Fcb"),
            "invalid_request",
        ),
        (
            push_body("web", &c)
                .replace("&code_challenge_method=S256", "")
                .replace(&format!("&code_challenge={c}"), ""),
            "invalid_request",
        ),
        (
            format!("{}&state=twice", push_body("web", &c)),
            "invalid_request",
        ),
        (
            format!("{}&request=eyJ.eyJ.x", push_body("web", &c)),
            "request_not_supported",
        ),
    ];
    for (b, code) in cases {
        let r = push(e, &b, None).await;
        assert_eq!(r.status(), 400, "{b}: {r:?}");
        assert_eq!(error_of(&r), code, "{b}");
        assert_eq!(r.header("cache-control"), Some("no-store"));
    }
}

#[tokio::test]
async fn clients_that_must_push_cannot_send_plain_requests() {
    let (_, c) = pkce();
    let plain = |client: &str| {
        format!(
            "response_type=code&client_id={client}&redirect_uri={REDIRECT_ENC}&scope=read&state=s&code_challenge={c}&code_challenge_method=S256"
        )
    };
    // Per client.
    let h = Harness::with(server);
    let e = &h.engine;
    let r = e
        .authorization_request(&clients(e), &HttpRequest::get(&plain("strict")))
        .await
        .unwrap_err();
    let (base, p) = location(&r);
    assert_eq!(base, REDIRECT);
    assert_eq!(p.get("error"), Some("invalid_request"));
    assert_eq!(p.get("state"), Some("s"));
    assert!(
        e.authorization_request(&clients(e), &HttpRequest::get(&plain("web")))
            .await
            .is_ok()
    );
    let uri = pushed(e, "strict", &c).await;
    assert!(
        e.authorization_request(&clients(e), &HttpRequest::get(&use_query("strict", &uri)))
            .await
            .is_ok()
    );
    // Engine-wide.
    let h = Harness::with(|b| server(b).require_pushed_authorization_requests());
    let e = &h.engine;
    let r = e
        .authorization_request(&clients(e), &HttpRequest::get(&plain("web")))
        .await
        .unwrap_err();
    assert_eq!(location(&r).1.get("error"), Some("invalid_request"));
    let uri = pushed(e, "web", &c).await;
    assert!(
        e.authorization_request(&clients(e), &HttpRequest::get(&use_query("web", &uri)))
            .await
            .is_ok()
    );
    let meta = e.authorization_server_metadata();
    assert_eq!(meta["require_pushed_authorization_requests"], true);
}

#[tokio::test]
async fn metadata_and_lifetime_settings() {
    let h = Harness::with(|b| server(b).pushed_request_ttl(Duration::seconds(30)));
    let meta = h.engine.authorization_server_metadata();
    assert_eq!(meta["pushed_authorization_request_endpoint"], PAR);
    assert_eq!(meta["require_pushed_authorization_requests"], false);
    let (_, c) = pkce();
    let r = push(&h.engine, &push_body("web", &c), None).await;
    let json: Value = serde_json::from_str(r.body()).unwrap();
    assert_eq!(json["expires_in"], 30);
    let clock = ManualClock::new(NOW);
    let sink = Arc::new(CollectingSink::new());
    for bad in [
        Duration::seconds(4),
        Duration::seconds(601),
        Duration::milliseconds(5500),
    ] {
        let e = builder(&clock, &sink)
            .pushed_request_ttl(bad)
            .build(MemoryStore::new());
        assert!(
            matches!(e, Err(token_engine::Error::Config(m)) if m.contains("pushed_request_ttl")),
            "{bad}"
        );
    }
    // Without the endpoint configured, it is not advertised.
    let h = Harness::new();
    assert!(
        h.engine
            .authorization_server_metadata()
            .get("pushed_authorization_request_endpoint")
            .is_none()
    );
}

#[tokio::test]
async fn a_dpop_proof_at_the_par_endpoint_binds_the_code_to_its_key() {
    use token_engine::dpop::{ProofClaims, sign_proof};
    use token_engine::{Algorithm, SigningKey};
    let h = Harness::with(server);
    let e = &h.engine;
    let (_, c) = pkce();
    let key = SigningKey::generate(Algorithm::ES256).unwrap().0;
    let jkt = key.verifying_key().thumbprint().unwrap();
    let proof = |jti: &str, uri: &str| {
        sign_proof(
            &key,
            &ProofClaims {
                method: "POST",
                uri,
                iat: NOW,
                jti,
                access_token: None,
                nonce: None,
            },
        )
        .unwrap()
    };
    let body = push_body("web", &c);
    let p1 = proof("jti-1", PAR);
    let r = e
        .pushed_authorization_endpoint(&clients(e), &form_post(&body, None).header("DPoP", &p1))
        .await;
    assert_eq!(r.status(), 201, "{r:?}");
    let uri = serde_json::from_str::<Value>(r.body()).unwrap()["request_uri"]
        .as_str()
        .unwrap()
        .to_owned();
    let req = e
        .authorization_request(&clients(e), &HttpRequest::get(&use_query("web", &uri)))
        .await
        .unwrap();
    assert_eq!(req.dpop_jkt(), Some(jkt.as_str()));
    // The same proof again, a proof for another URL, a dpop_jkt of another key.
    let other_key = SigningKey::generate(Algorithm::ES256).unwrap().0;
    let other_jkt = other_key.verifying_key().thumbprint().unwrap();
    let p2 = proof("jti-2", "https://auth.example.com/token");
    let p3 = proof("jti-3", PAR);
    let with_other_jkt = format!("{body}&dpop_jkt={other_jkt}");
    for (b, p) in [(&body, &p1), (&body, &p2), (&with_other_jkt, &p3)] {
        let r = e
            .pushed_authorization_endpoint(&clients(e), &form_post(b, None).header("DPoP", p))
            .await;
        assert_eq!(r.status(), 400, "{r:?}");
        assert_eq!(error_of(&r), "invalid_dpop_proof");
    }
    // Two DPoP header fields (RFC 9449 §4.3 check 1), even with a good proof first.
    let p4 = proof("jti-4", PAR);
    let r = e
        .pushed_authorization_endpoint(
            &clients(e),
            &form_post(&body, None)
                .header("DPoP", &p4)
                .header("dpop", &p4),
        )
        .await;
    assert_eq!(r.status(), 400, "{r:?}");
    assert_eq!(error_of(&r), "invalid_dpop_proof");
}

#[tokio::test]
async fn pushed_resource_indicators_survive_the_push_and_bad_ones_are_refused_at_it() {
    const MCP: &str = "https://tools.example/mcp";
    const API: &str = "https://api.example.com/orders";
    let h = Harness::with(|b| server(b).resource(MCP).resource(API));
    let e = &h.engine;
    let (_, c) = pkce();
    let body = format!(
        "{}&resource=https%3A%2F%2Ftools.example%2Fmcp&resource=https%3A%2F%2Fapi.example.com%2Forders",
        push_body("web", &c)
    );
    let r = push(e, &body, None).await;
    assert_eq!(r.status(), 201, "{r:?}");
    let uri = serde_json::from_str::<Value>(r.body()).unwrap()["request_uri"]
        .as_str()
        .unwrap()
        .to_owned();
    let req = e
        .authorization_request(&clients(e), &HttpRequest::get(&use_query("web", &uri)))
        .await
        .unwrap();
    assert_eq!(req.resources(), [MCP, API]);
    let unknown = format!(
        "{}&resource=https%3A%2F%2Fevil.example%2F",
        push_body("web", &c)
    );
    let r = push(e, &unknown, None).await;
    assert_eq!(r.status(), 400, "{r:?}");
    assert_eq!(error_of(&r), "invalid_target");
}

/// A store that re-sends the pushed request's insert (its connection dropped after the first
/// attempt committed) answers `Exists`: the endpoint draws another `request_uri` instead of
/// answering a server error, and that one is the pushed request.
#[tokio::test]
async fn a_re_sent_insert_draws_another_request_uri_that_works() {
    let (engine, store) = Resending::engine(server);
    store.code.store(true, std::sync::atomic::Ordering::SeqCst);
    let (_verifier, c) = pkce();
    let uri = pushed(&engine, "web", &c).await;
    assert!(
        !store.code.load(std::sync::atomic::Ordering::SeqCst),
        "the insert was re-sent"
    );
    let req = engine
        .authorization_request(
            &clients(&engine),
            &HttpRequest::get(&use_query("web", &uri)),
        )
        .await
        .unwrap();
    assert_eq!(req.redirect_uri(), REDIRECT);
    assert_eq!(req.state(), Some("pushed-state"));
}
