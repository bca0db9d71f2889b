//! Dynamic client registration (RFC 7591): metadata validation with the redirect rules of
//! each application type (a web client's loopback http redirect refused; a native client's
//! loopback redirect matching any port, RFC 8252 §7.3), secrets shown once and stored hashed,
//! the initial access token, and the registered client usable on another instance through
//! `RegisteredClients`.

use std::sync::Arc;

use serde_json::{Value, json};
use token_engine::event::CollectingSink;
use token_engine::http::Form;
use token_engine::pkce::CodeVerifier;
use token_engine::store::ClientStore;
use token_engine::{
    Approval, AuthorizationDecision, Client, Engine, EngineBuilder, GrantType, HttpRequest,
    HttpResponse, ManualClock, MemoryStore, NoPasswordGrant, RegisteredClients, RegistrationPolicy,
};

use crate::common::*;

const REG: &str = "https://auth.example.com/register";

fn server(b: EngineBuilder) -> EngineBuilder {
    b.token_endpoint("https://auth.example.com/token")
        .authorization_endpoint("https://auth.example.com/authorize")
        .registration_endpoint(REG)
        .client_secret_key(&[6; 32])
}

fn json_post(body: &str) -> HttpRequest<'_> {
    HttpRequest::post(body).header("Content-Type", "application/json")
}

async fn register<S: ClientStore>(
    engine: &Engine<S>,
    policy: &RegistrationPolicy,
    body: &Value,
) -> (HttpResponse, Value) {
    let text = body.to_string();
    let r = engine
        .registration_endpoint(policy, &json_post(&text))
        .await;
    let json = serde_json::from_str(r.body()).unwrap_or(Value::Null);
    (r, json)
}

fn error_of(r: &HttpResponse) -> String {
    let json: Value = serde_json::from_str(r.body()).unwrap();
    json["error"].as_str().unwrap().to_owned()
}

fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn basic(id: &str, secret: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", enc(id), enc(secret)))
    )
}

#[tokio::test]
async fn a_native_app_registers_on_one_instance_and_logs_in_on_another_with_any_loopback_port() {
    let clock = ManualClock::new(NOW);
    let sink = Arc::new(CollectingSink::new());
    let store = Arc::new(MemoryStore::new());
    let a = server(builder(&clock, &sink))
        .build(Arc::clone(&store))
        .unwrap();
    let b = server(builder(&clock, &sink))
        .build(Arc::clone(&store))
        .unwrap();
    let policy = RegistrationPolicy::open().allow_scopes(["read", "write"]);
    let (r, reg) = register(
        &a,
        &policy,
        &json!({
            "application_type": "native",
            "redirect_uris": ["http://127.0.0.1/callback", "com.example.agent:/cb"],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
            "client_name": "Agent",
            "scope": "read admin",
            "software_statement": "eyJ.eyJ.sig",
            "logo_uri": "https://agent.example/logo.png"
        }),
    )
    .await;
    assert_eq!(r.status(), 201, "{r:?}");
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let id = reg["client_id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("dyn_") && id.len() >= 40, "{id}");
    assert_eq!(reg["client_id_issued_at"], NOW);
    assert!(reg.get("client_secret").is_none());
    assert_eq!(reg["application_type"], "native");
    assert_eq!(reg["token_endpoint_auth_method"], "none");
    // Narrowed to what the server allows; unknown members not echoed.
    assert_eq!(reg["scope"], "read");
    assert!(reg.get("software_statement").is_none() && reg.get("logo_uri").is_none());
    // The other instance knows it, in front of the application's own clients.
    let clients = RegisteredClients::new(Arc::clone(&store), vec![client()]);
    use token_engine::ClientRegistry as _;
    assert!(clients.client("app").await.unwrap().is_some());
    let v = CodeVerifier::generate().unwrap();
    let q = format!(
        "response_type=code&client_id={id}&redirect_uri={}&scope=read&code_challenge={}&code_challenge_method=S256",
        enc("http://127.0.0.1:51234/callback"),
        v.s256_challenge().as_str()
    );
    let req = b
        .authorization_request(&clients, &HttpRequest::get(&q))
        .await
        .unwrap();
    assert_eq!(req.redirect_uri(), "http://127.0.0.1:51234/callback");
    let resp = b
        .authorization_response(req, AuthorizationDecision::Approve(Approval::new(SUBJECT)))
        .await;
    let loc = resp.header("location").unwrap();
    assert!(loc.starts_with("http://127.0.0.1:51234/callback?"), "{loc}");
    let code = Form::parse(loc.split_once('?').unwrap().1)
        .unwrap()
        .get("code")
        .unwrap()
        .to_owned();
    let body = format!(
        "grant_type=authorization_code&client_id={id}&code={code}&redirect_uri={}&code_verifier={}",
        enc("http://127.0.0.1:51234/callback"),
        v.expose_secret()
    );
    let t = a
        .token_endpoint(&clients, &NoPasswordGrant, &form_post(&body, None))
        .await;
    assert_eq!(t.status(), 200, "{t:?}");
    let json: Value = serde_json::from_str(t.body()).unwrap();
    assert_eq!(json["scope"], "read");
    // Only the port may differ: another path or host is refused with the error page.
    for other in [
        "http://127.0.0.1:51234/other",
        "http://localhost:51234/callback",
        "http://127.0.0.1.evil.example:51234/callback",
    ] {
        let q = format!(
            "response_type=code&client_id={id}&redirect_uri={}&code_challenge={}&code_challenge_method=S256",
            enc(other),
            v.s256_challenge().as_str()
        );
        let r = b
            .authorization_request(&clients, &HttpRequest::get(&q))
            .await
            .unwrap_err();
        assert_eq!(r.status(), 400, "{other}");
        assert_eq!(r.header("location"), None);
    }
    // An id of the registration's form that was never registered is unknown.
    assert!(clients.client("dyn_nope").await.unwrap().is_none());
}

#[tokio::test]
async fn a_web_client_cannot_register_a_loopback_or_plain_http_redirect() {
    let h = Harness::with(server);
    let policy = RegistrationPolicy::open();
    for uri in [
        "http://127.0.0.1:8080/cb",
        "http://localhost:8080/cb",
        "https://localhost/cb",
        "https://127.0.0.1/cb",
        "https://[::1]/cb",
        "http://app.example/cb",
        "com.example.app:/cb",
        "https://app.example/cb#fragment",
        "https://user:pw@app.example/cb",
        "/relative",
    ] {
        for app_type in [json!("web"), Value::Null] {
            let (r, _) = register(
                &h.engine,
                &policy,
                &json!({"application_type": app_type, "redirect_uris": [uri], "token_endpoint_auth_method": "none"}),
            )
            .await;
            assert_eq!(r.status(), 400, "{uri}");
            assert_eq!(error_of(&r), "invalid_redirect_uri", "{uri}");
        }
    }
    for uri in [
        "http://app.example/cb",
        "http://10.0.0.7:80/cb",
        "javascript:alert(1)",
        "data:text/html,hi",
        "file:///tmp/x",
    ] {
        let (r, _) = register(
            &h.engine,
            &policy,
            &json!({"application_type": "native", "redirect_uris": [uri], "token_endpoint_auth_method": "none"}),
        )
        .await;
        assert_eq!(error_of(&r), "invalid_redirect_uri", "native {uri}");
    }
    let (r, reg) = register(
        &h.engine,
        &policy,
        &json!({"redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "none"}),
    )
    .await;
    assert_eq!(r.status(), 201, "{r:?}");
    assert_eq!(reg["application_type"], "web");
    assert_eq!(reg["grant_types"], json!(["authorization_code"]));
    assert_eq!(reg["response_types"], json!(["code"]));
    assert!(reg.get("require_pushed_authorization_requests").is_none());
    // RFC 9126 §6: a client that registers as pushing only is held to it.
    let (r, reg) = register(
        &h.engine,
        &policy,
        &json!({"redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "none", "require_pushed_authorization_requests": true}),
    )
    .await;
    assert_eq!(r.status(), 201, "{r:?}");
    assert_eq!(reg["require_pushed_authorization_requests"], true);
    let clients = RegisteredClients::new(h.engine.store().clone(), Vec::<Client>::new());
    use token_engine::ClientRegistry as _;
    let c = clients
        .client(reg["client_id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(c.requires_pushed_authorization_requests());
    let (r, _) = register(
        &h.engine,
        &policy,
        &json!({"redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "none", "require_pushed_authorization_requests": "yes"}),
    )
    .await;
    assert_eq!(error_of(&r), "invalid_client_metadata");
}

#[tokio::test]
async fn a_confidential_client_gets_its_secret_once_and_the_store_only_its_hash() {
    let h = Harness::with(server);
    let policy = RegistrationPolicy::open().allow_scopes(["read"]);
    let (r, reg) = register(
        &h.engine,
        &policy,
        &json!({"grant_types": ["client_credentials"], "response_types": [], "scope": "read"}),
    )
    .await;
    assert_eq!(r.status(), 201, "{r:?}");
    // The default method is client_secret_basic (RFC 7591 §2).
    assert_eq!(reg["token_endpoint_auth_method"], "client_secret_basic");
    let id = reg["client_id"].as_str().unwrap().to_owned();
    let secret = reg["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(secret.len(), 43);
    assert_eq!(reg["client_secret_expires_at"], 0);
    assert!(
        !format!("{r:?}").contains(&secret),
        "the response's Debug hides it"
    );
    h.remember(&secret);
    let stored = h.engine.store().load_client(&id).await.unwrap().unwrap();
    let payload = String::from_utf8_lossy(&stored.payload);
    assert!(!payload.contains(&secret), "{payload}");
    let clients = RegisteredClients::new(h.engine.store().clone(), Vec::<Client>::new());
    let t = h
        .engine
        .token_endpoint(
            &clients,
            &NoPasswordGrant,
            &form_post(
                "grant_type=client_credentials&scope=read",
                Some(&basic(&id, &secret)),
            ),
        )
        .await;
    assert_eq!(t.status(), 200, "{t:?}");
    let json: Value = serde_json::from_str(t.body()).unwrap();
    h.remember(json["access_token"].as_str().unwrap());
    let t = h
        .engine
        .token_endpoint(
            &clients,
            &NoPasswordGrant,
            &form_post("grant_type=client_credentials", Some(&basic(&id, "wrong"))),
        )
        .await;
    assert_eq!(t.status(), 401);
    // client_secret_post works the same way.
    let (r, reg) = register(
        &h.engine,
        &policy,
        &json!({"grant_types": ["client_credentials"], "response_types": [], "token_endpoint_auth_method": "client_secret_post"}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let body = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}",
        reg["client_id"].as_str().unwrap(),
        reg["client_secret"].as_str().unwrap()
    );
    h.remember(reg["client_secret"].as_str().unwrap());
    let t = h
        .engine
        .token_endpoint(&clients, &NoPasswordGrant, &form_post(&body, None))
        .await;
    assert_eq!(t.status(), 200, "{t:?}");
    let json: Value = serde_json::from_str(t.body()).unwrap();
    h.remember(json["access_token"].as_str().unwrap());
    // A server without a client secret key issues no secrets.
    let plain = Harness::with(|b| b.registration_endpoint(REG));
    let (r, _) = register(
        &plain.engine,
        &policy,
        &json!({"grant_types": ["client_credentials"], "response_types": []}),
    )
    .await;
    assert_eq!(error_of(&r), "invalid_client_metadata");
}

#[tokio::test]
async fn inconsistent_or_unsupported_metadata_is_refused() {
    let h = Harness::with(server);
    let policy = RegistrationPolicy::open();
    let web = "https://app.example/cb";
    let cases = [
        (
            json!({"redirect_uris": [web], "grant_types": ["authorization_code"], "response_types": []}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [web], "response_types": ["token"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [web], "response_types": ["code", "id_token"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [web], "grant_types": ["implicit"], "response_types": ["token"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"grant_types": ["client_credentials"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"grant_types": ["client_credentials"], "response_types": [], "token_endpoint_auth_method": "none"}),
            "invalid_client_metadata",
        ),
        (
            json!({"grant_types": ["password"], "response_types": []}),
            "invalid_client_metadata",
        ),
        (
            json!({"grant_types": ["urn:ietf:params:oauth:grant-type:token-exchange"], "response_types": []}),
            "invalid_client_metadata",
        ),
        (
            json!({"grant_types": [], "response_types": []}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [web], "token_endpoint_auth_method": "client_secret_jwt"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [web], "token_endpoint_auth_method": "private_key_jwt"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [web], "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "https://app.example/jwks"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [web], "application_type": "desktop"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [web], "grant_types": "authorization_code"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [web], "scope": 7}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [web], "scope": "a\"b"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": [web], "client_name": "x".repeat(300)}),
            "invalid_client_metadata",
        ),
        (json!({"redirect_uris": web}), "invalid_redirect_uri"),
        (json!({"redirect_uris": [web, 7]}), "invalid_redirect_uri"),
        (
            json!({"token_endpoint_auth_method": "none"}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": [], "token_endpoint_auth_method": "none"}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": vec![web; 33], "token_endpoint_auth_method": "none"}),
            "invalid_redirect_uri",
        ),
        (json!(["not", "an", "object"]), "invalid_client_metadata"),
    ];
    for (body, code) in cases {
        let (r, _) = register(&h.engine, &policy, &body).await;
        assert_eq!(r.status(), 400, "{body}: {r:?}");
        assert_eq!(error_of(&r), code, "{body}");
    }
    // A policy without the device grant refuses it.
    let narrow = RegistrationPolicy::open().allow_grant_types([GrantType::AuthorizationCode]);
    let (r, _) = register(
        &h.engine,
        &narrow,
        &json!({"grant_types": ["urn:ietf:params:oauth:grant-type:device_code"], "response_types": [], "token_endpoint_auth_method": "none"}),
    )
    .await;
    assert_eq!(error_of(&r), "invalid_client_metadata");
    // Bounded, JSON only, POST only.
    let big = json!({"redirect_uris": [web], "client_name": "x", "pad": "x".repeat(17 * 1024)})
        .to_string();
    let r = h
        .engine
        .registration_endpoint(&policy, &json_post(&big))
        .await;
    assert_eq!(error_of(&r), "invalid_client_metadata");
    let r = h
        .engine
        .registration_endpoint(&policy, &json_post("{\"redirect_uris\": ["))
        .await;
    assert_eq!(error_of(&r), "invalid_client_metadata");
    // A member sent twice is ambiguous: refused, whichever copy is valid.
    let twice = r#"{"redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "none", "redirect_uris": ["http://127.0.0.1/cb"]}"#;
    let r = h
        .engine
        .registration_endpoint(&policy, &json_post(twice))
        .await;
    assert_eq!(error_of(&r), "invalid_client_metadata");
    let r = h
        .engine
        .registration_endpoint(&policy, &form_post("redirect_uris=x", None))
        .await;
    assert_eq!(error_of(&r), "invalid_request");
    let r = h
        .engine
        .registration_endpoint(&policy, &HttpRequest::get(""))
        .await;
    assert_eq!(r.status(), 405);
    assert_eq!(
        h.engine.authorization_server_metadata()["registration_endpoint"],
        REG
    );
}

#[tokio::test]
async fn the_initial_access_token_gates_registration() {
    let h = Harness::with(server);
    let policy = RegistrationPolicy::open().initial_access_token("let-me-in");
    assert!(!format!("{policy:?}").contains("let-me-in"));
    let body =
        json!({"redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "none"})
            .to_string();
    for auth in [
        None,
        Some("Bearer wrong"),
        Some("Bearer let-me-i"),
        Some("Bearer let-me-inn"),
        Some("Basic let-me-in"),
        Some("let-me-in"),
    ] {
        let mut req = json_post(&body);
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        let r = h.engine.registration_endpoint(&policy, &req).await;
        assert_eq!(r.status(), 401, "{auth:?}");
        assert_eq!(error_of(&r), "invalid_token");
        assert!(r.header("www-authenticate").unwrap().starts_with("Bearer"));
    }
    for auth in ["Bearer let-me-in", "bearer let-me-in"] {
        let r = h
            .engine
            .registration_endpoint(&policy, &json_post(&body).header("Authorization", auth))
            .await;
        assert_eq!(r.status(), 201, "{auth}");
    }
}

mod properties {
    use proptest::prelude::*;
    use serde_json::{Value, json};
    use token_engine::RegistrationPolicy;

    use super::{json_post, server};
    use crate::common::*;

    fn member() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            "[ -~]{0,40}".prop_map(Value::String),
            proptest::collection::vec("[ -~]{0,40}", 0..4).prop_map(|v| json!(v)),
            prop_oneof![
                Just("https://app.example/cb"),
                Just("http://127.0.0.1:1/cb"),
                Just("com.example:/cb"),
                Just("javascript:x"),
            ]
            .prop_map(|u| json!([u])),
        ]
    }

    fn body() -> impl Strategy<Value = Value> {
        let names = prop_oneof![
            Just("redirect_uris"),
            Just("grant_types"),
            Just("response_types"),
            Just("token_endpoint_auth_method"),
            Just("application_type"),
            Just("scope"),
            Just("client_name"),
            Just("jwks"),
            Just("require_pushed_authorization_requests"),
        ];
        proptest::collection::btree_map(names, member(), 0..9)
            .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Any metadata: 201 or a 400 with an RFC 7591 code, never a panic; a registered web
        /// client never holds a non-https or loopback redirect URI.
        #[test]
        fn any_metadata_is_registered_or_refused_with_a_code(body in body()) {
            let h = Harness::with(server);
            let policy = RegistrationPolicy::open().allow_scopes(["read"]);
            let text = body.to_string();
            let r = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap()
                .block_on(h.engine.registration_endpoint(&policy, &json_post(&text)));
            let json: Value = serde_json::from_str(r.body()).unwrap();
            match r.status() {
                201 => {
                    if json["client_secret"].is_string() {
                        h.remember(json["client_secret"].as_str().unwrap());
                    }
                    if json["application_type"] == "web" {
                        for uri in json["redirect_uris"].as_array().unwrap() {
                            let uri = uri.as_str().unwrap();
                            prop_assert!(uri.starts_with("https://") && !uri.contains("127.0.0.1"), "{uri}");
                        }
                    }
                }
                400 => {
                    let code = json["error"].as_str().unwrap();
                    prop_assert!(
                        ["invalid_client_metadata", "invalid_redirect_uri"].contains(&code),
                        "{code}"
                    );
                }
                s => prop_assert!(false, "status {s}: {r:?}"),
            }
        }
    }
}

/// A store that re-sends the registration's insert (its connection dropped after the first
/// attempt committed) answers `Exists`: a random id does not collide, so the engine draws
/// another id and stores again; the registration succeeds under the id it answers.
#[tokio::test]
async fn a_re_sent_insert_draws_another_client_id_that_works() {
    let (engine, store) = Resending::engine(server);
    store
        .client
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let (r, json) = register(
        &engine,
        &RegistrationPolicy::open(),
        &json!({"redirect_uris": ["https://app.example/cb"], "client_name": "Re-sent"}),
    )
    .await;
    assert!(
        !store.client.load(std::sync::atomic::Ordering::SeqCst),
        "the insert was re-sent"
    );
    assert_eq!(r.status(), 201, "{r:?}");
    let id = json["client_id"].as_str().unwrap();
    let stored = store.inner.load_client(id).await.unwrap().unwrap();
    assert_eq!(stored.client_id, id, "stored under the id answered");
    assert!(json["client_secret"].is_string(), "{json}");
}
