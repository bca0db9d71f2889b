//! Client ID metadata documents: an `https` client_id resolved through the application's
//! fetch, with the draft's checks (client_id equals the URL, no secrets, allowed
//! authentication methods, exact redirect URIs), the size and time limits, and a cache bounded
//! by the response's lifetime and an entry count; the endpoints accept such clients
//! unchanged.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};
use time::Duration;
use token_engine::client_metadata::{
    ClientMetadataError, ClientMetadataFetcher, ClientMetadataResponse,
};
use token_engine::pkce::CodeVerifier;
use token_engine::{
    Approval, AuthorizationDecision, Client, ClientMetadataDocuments, ClientRegistry, Error,
    HttpRequest, NoPasswordGrant,
};

use crate::common::*;

const URL: &str = "https://agent.example/oauth/client.json";
const CB: &str = "http://127.0.0.1:33418/callback";
const CB_ENC: &str = "http%3A%2F%2F127.0.0.1%3A33418%2Fcallback";

#[derive(Debug, thiserror::Error)]
#[error("not found")]
struct NotFound;

/// A document: body, `Cache-Control`, delay in seconds.
type Stored = (String, Option<&'static str>, u64);

/// Documents by URL; counts fetches.
#[derive(Default)]
struct Docs {
    docs: Mutex<HashMap<String, Stored>>,
    fetches: AtomicUsize,
}

impl Docs {
    fn with(self, url: &str, body: Value, cache: Option<&'static str>) -> Self {
        self.put(url, body.to_string(), cache, 0);
        self
    }
    fn put(&self, url: &str, body: String, cache: Option<&'static str>, delay: u64) {
        self.docs
            .lock()
            .unwrap()
            .insert(url.to_owned(), (body, cache, delay));
    }
    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

impl ClientMetadataFetcher for Docs {
    type Error = NotFound;

    async fn fetch(&self, url: &str) -> Result<ClientMetadataResponse, NotFound> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        let doc = self.docs.lock().unwrap().get(url).cloned();
        let (body, cache, delay) = doc.ok_or(NotFound)?;
        if delay > 0 {
            tokio::time::sleep(std::time::Duration::from_secs(delay)).await;
        }
        let r = ClientMetadataResponse::new(body);
        Ok(match cache {
            Some(c) => r.cache_control(c),
            None => r,
        })
    }

    async fn sleep(&self, duration: std::time::Duration) {
        tokio::time::sleep(duration).await;
    }
}

fn doc(url: &str) -> Value {
    json!({
        "client_id": url,
        "client_name": "Agent",
        "redirect_uris": [CB],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        "scope": "read admin"
    })
}

fn registry(docs: Docs, h: &Harness) -> ClientMetadataDocuments<Docs, Vec<Client>> {
    ClientMetadataDocuments::new(docs, vec![client()])
        .allow_scopes(["read", "write"])
        .clock(h.clock.clone())
}

fn reason(e: Error) -> ClientMetadataError {
    match e {
        Error::ClientMetadata(r) => r,
        other => panic!("{other:?}"),
    }
}

fn authorize_query(client_id: &str, redirect: &str, challenge: &str) -> String {
    let mut id = String::new();
    for b in client_id.bytes() {
        if b.is_ascii_alphanumeric() {
            id.push(char::from(b));
        } else {
            id.push_str(&format!("%{b:02X}"));
        }
    }
    format!(
        "response_type=code&client_id={id}&redirect_uri={redirect}&scope=read&state=s&code_challenge={challenge}&code_challenge_method=S256"
    )
}

#[tokio::test]
async fn a_url_client_goes_through_authorize_and_token_unchanged() {
    let h = Harness::with(|b| {
        b.authorization_endpoint("https://auth.example.com/authorize")
            .client_id_metadata_document_supported()
    });
    let clients = registry(Docs::default().with(URL, doc(URL), None), &h);
    assert_eq!(
        h.engine.authorization_server_metadata()["client_id_metadata_document_supported"],
        true
    );
    let v = CodeVerifier::generate().unwrap();
    let c = v.s256_challenge().as_str().to_owned();
    let req = h
        .engine
        .authorization_request(
            &clients,
            &HttpRequest::get(&authorize_query(URL, CB_ENC, &c)),
        )
        .await
        .unwrap();
    assert_eq!(req.client().id(), URL);
    assert!(req.client().is_public());
    // The document asked for `read admin`; only what the server allows is granted.
    assert_eq!(req.client().allowed_scopes(), ["read"]);
    let r = h
        .engine
        .authorization_response(req, AuthorizationDecision::Approve(Approval::new(SUBJECT)))
        .await;
    let loc = r.header("location").unwrap();
    let code = token_engine::http::Form::parse(loc.split_once('?').unwrap().1)
        .unwrap()
        .get("code")
        .unwrap()
        .to_owned();
    let mut id = String::new();
    for b in URL.bytes() {
        if b.is_ascii_alphanumeric() {
            id.push(char::from(b));
        } else {
            id.push_str(&format!("%{b:02X}"));
        }
    }
    let body = format!(
        "grant_type=authorization_code&client_id={id}&code={code}&redirect_uri={CB_ENC}&code_verifier={}",
        v.expose_secret()
    );
    let t = h
        .engine
        .token_endpoint(&clients, &NoPasswordGrant, &form_post(&body, None))
        .await;
    assert_eq!(t.status(), 200, "{t:?}");
    let json: Value = serde_json::from_str(t.body()).unwrap();
    h.remember(json["access_token"].as_str().unwrap());
    // One fetch served all of it (cached for the default lifetime).
    assert_eq!(clients.fetcher().fetches(), 1);
    // A redirect URI the document does not list, even a near one: the error page.
    for other in [
        "http%3A%2F%2F127.0.0.1%3A33419%2Fcallback",
        "http%3A%2F%2F127.0.0.1%3A33418%2Fcallback%2F",
        "https%3A%2F%2Fevil.example%2Fcallback",
    ] {
        let r = h
            .engine
            .authorization_request(
                &clients,
                &HttpRequest::get(&authorize_query(URL, other, &c)),
            )
            .await
            .unwrap_err();
        assert_eq!(r.status(), 400, "{other}");
        assert_eq!(r.header("location"), None);
    }
}

#[tokio::test]
async fn the_drafts_checks_refuse_the_document() {
    let h = Harness::new();
    let mut mismatch = doc(URL);
    mismatch["client_id"] = json!("https://agent.example/oauth/other.json");
    let mut trailing = doc(URL);
    trailing["client_id"] = json!(format!("{URL}/"));
    let mut secret = doc(URL);
    secret["client_secret"] = json!("s3cret");
    let mut secret_exp = doc(URL);
    secret_exp["client_secret_expires_at"] = json!(0);
    let mut basic = doc(URL);
    basic["token_endpoint_auth_method"] = json!("client_secret_basic");
    let mut jwt = doc(URL);
    jwt["token_endpoint_auth_method"] = json!("client_secret_jwt");
    let mut pkjwt_uri = doc(URL);
    pkjwt_uri["token_endpoint_auth_method"] = json!("private_key_jwt");
    pkjwt_uri["jwks_uri"] = json!("https://agent.example/jwks");
    let mut no_redirect = doc(URL);
    no_redirect["redirect_uris"] = json!([]);
    let mut frag_redirect = doc(URL);
    frag_redirect["redirect_uris"] = json!(["https://a.example/cb#x"]);
    let mut implicit = doc(URL);
    implicit["response_types"] = json!(["token"]);
    let mut cc = doc(URL);
    cc["grant_types"] = json!(["client_credentials"]);
    type Expected = fn(&ClientMetadataError) -> bool;
    let cases: Vec<(Value, Expected)> = vec![
        (mismatch, |e| {
            matches!(e, ClientMetadataError::ClientIdMismatch)
        }),
        (trailing, |e| {
            matches!(e, ClientMetadataError::ClientIdMismatch)
        }),
        (secret, |e| {
            matches!(e, ClientMetadataError::SecretInDocument)
        }),
        (secret_exp, |e| {
            matches!(e, ClientMetadataError::SecretInDocument)
        }),
        (basic, |e| {
            matches!(e, ClientMetadataError::AuthMethodNotAllowed)
        }),
        (jwt, |e| {
            matches!(e, ClientMetadataError::AuthMethodNotAllowed)
        }),
        (pkjwt_uri, |e| {
            matches!(e, ClientMetadataError::AuthMethodNotAllowed)
        }),
        (no_redirect, |e| {
            matches!(e, ClientMetadataError::InvalidRedirectUris)
        }),
        (frag_redirect, |e| {
            matches!(e, ClientMetadataError::InvalidRedirectUris)
        }),
        (implicit, |e| {
            matches!(e, ClientMetadataError::TypeNotAllowed)
        }),
        (cc, |e| matches!(e, ClientMetadataError::TypeNotAllowed)),
        (json!(["not", "an", "object"]), |e| {
            matches!(e, ClientMetadataError::Malformed)
        }),
        (json!({"redirect_uris": [CB]}), |e| {
            matches!(e, ClientMetadataError::Malformed)
        }),
    ];
    for (body, expected) in cases {
        let clients = registry(Docs::default().with(URL, body.clone(), None), &h);
        let e = reason(clients.resolve(URL).await.unwrap_err());
        assert!(expected(&e), "{body}: {e:?}");
        // Through the registry: an unknown client, never a backend failure.
        assert!(clients.client(URL).await.unwrap().is_none(), "{body}");
        // Never cached: the next request fetches again.
        let before = clients_fetches(&clients);
        let _ = clients.resolve(URL).await;
        assert_eq!(clients_fetches(&clients), before + 1);
    }
    // A client_id sent twice (the first one right): ambiguous, refused.
    let twice = format!(
        r#"{{"client_id": "{URL}", "redirect_uris": ["{CB}"], "client_id": "https://evil.example/c"}}"#
    );
    let docs = Docs::default();
    docs.put(URL, twice, None, 0);
    let clients = registry(docs, &h);
    assert!(matches!(
        reason(clients.resolve(URL).await.unwrap_err()),
        ClientMetadataError::Malformed
    ));
    // A document that is not found.
    let clients = registry(Docs::default(), &h);
    assert!(matches!(
        reason(clients.resolve(URL).await.unwrap_err()),
        ClientMetadataError::Fetch(_)
    ));
    // URLs the draft forbids are never fetched.
    for bad in [
        "http://agent.example/client.json",
        "https://agent.example",
        "https://agent.example/a/../client.json",
        "https://agent.example/client.json#x",
        "https://me:pw@agent.example/client.json",
    ] {
        let clients = registry(Docs::default().with(bad, doc(bad), None), &h);
        assert!(
            matches!(
                reason(clients.resolve(bad).await.unwrap_err()),
                ClientMetadataError::InvalidUrl(_)
            ),
            "{bad}"
        );
        assert_eq!(clients_fetches(&clients), 0, "{bad}");
    }
}

fn clients_fetches(c: &ClientMetadataDocuments<Docs, Vec<Client>>) -> usize {
    c.fetcher().fetches()
}

#[tokio::test]
async fn too_large_and_too_slow_documents_are_refused() {
    let h = Harness::new();
    let mut big = doc(URL);
    big["client_name"] = json!("x".repeat(6 * 1024));
    let clients = registry(Docs::default().with(URL, big.clone(), None), &h);
    assert!(matches!(
        reason(clients.resolve(URL).await.unwrap_err()),
        ClientMetadataError::TooLarge
    ));
    // The limit is a setting.
    let clients = registry(Docs::default().with(URL, big, None), &h).max_bytes(16 * 1024);
    assert!(clients.resolve(URL).await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn a_slow_document_times_out() {
    let h = Harness::new();
    let docs = Docs::default();
    docs.put(URL, doc(URL).to_string(), None, 6);
    let clients = registry(docs, &h);
    let started = tokio::time::Instant::now();
    assert!(matches!(
        reason(clients.resolve(URL).await.unwrap_err()),
        ClientMetadataError::TimedOut
    ));
    assert_eq!(started.elapsed(), std::time::Duration::from_secs(5));
    let clients = clients.fetch_timeout(std::time::Duration::from_secs(10));
    assert!(clients.resolve(URL).await.is_ok());
}

#[tokio::test]
async fn the_cache_follows_the_response_lifetime_and_is_bounded() {
    let h = Harness::new();
    let url = |i: usize| format!("https://agent{i}.example/client.json");
    let docs = Docs::default().with(URL, doc(URL), Some("public, max-age=60"));
    for i in 0..3 {
        docs.put(&url(i), doc(&url(i)).to_string(), None, 0);
    }
    docs.put(
        "https://nostore.example/c",
        doc("https://nostore.example/c").to_string(),
        Some("no-store"),
        0,
    );
    let clients = registry(docs, &h).max_entries(2);
    clients.resolve(URL).await.unwrap();
    clients.resolve(URL).await.unwrap();
    assert_eq!(clients.fetcher().fetches(), 1);
    h.advance(Duration::seconds(60));
    clients.resolve(URL).await.unwrap();
    assert_eq!(clients.fetcher().fetches(), 2);
    // no-store: never cached.
    clients.resolve("https://nostore.example/c").await.unwrap();
    clients.resolve("https://nostore.example/c").await.unwrap();
    assert_eq!(clients.fetcher().fetches(), 4);
    // Two entries at most: URL and agent0 cached, agent1 evicts the one expiring first.
    clients.resolve(&url(0)).await.unwrap(); // 5
    clients.resolve(&url(1)).await.unwrap(); // 6, evicts URL (expires first)
    clients.resolve(&url(0)).await.unwrap(); // cached
    clients.resolve(&url(1)).await.unwrap(); // cached
    assert_eq!(clients.fetcher().fetches(), 6);
    clients.resolve(URL).await.unwrap(); // 7: was evicted
    assert_eq!(clients.fetcher().fetches(), 7);
    // The application's own registry is asked first.
    assert_eq!(clients.client("app").await.unwrap().unwrap().id(), "app");
    assert!(clients.client("unknown").await.unwrap().is_none());
    assert_eq!(clients.fetcher().fetches(), 7);
}

#[tokio::test]
async fn private_key_jwt_clients_bring_their_keys() {
    let h = Harness::new();
    let (key, _) = token_engine::SigningKey::generate(token_engine::Algorithm::ES256).unwrap();
    let jwks =
        json!({ "keys": [ serde_json::to_value(key.verifying_key().to_jwk().unwrap()).unwrap() ] });
    let mut d = doc(URL);
    d["token_endpoint_auth_method"] = json!("private_key_jwt");
    d["jwks"] = jwks;
    let clients = registry(Docs::default().with(URL, d, None), &h);
    let c = clients.resolve(URL).await.unwrap();
    assert!(!c.is_public());
    assert!(matches!(
        c.auth_method(),
        token_engine::ClientAuthMethod::PrivateKeyJwt(keys) if keys.len() == 1
    ));
}

#[tokio::test]
async fn a_url_client_pushes_its_request() {
    let h = Harness::with(|b| {
        b.authorization_endpoint("https://auth.example.com/authorize")
            .pushed_authorization_request_endpoint("https://auth.example.com/par")
    });
    let clients = registry(Docs::default().with(URL, doc(URL), None), &h);
    let v = CodeVerifier::generate().unwrap();
    let body = authorize_query(URL, CB_ENC, v.s256_challenge().as_str());
    let r = h
        .engine
        .pushed_authorization_endpoint(&clients, &form_post(&body, None))
        .await;
    assert_eq!(r.status(), 201, "{r:?}");
    let uri: Value = serde_json::from_str(r.body()).unwrap();
    let mut q = authorize_query(URL, "", "");
    q.truncate(q.find("&redirect_uri").unwrap());
    q = q.replace("response_type=code&", "");
    q.push_str("&request_uri=");
    q.push_str(&uri["request_uri"].as_str().unwrap().replace(':', "%3A"));
    let req = h
        .engine
        .authorization_request(&clients, &HttpRequest::get(&q))
        .await
        .unwrap();
    assert_eq!(req.client().id(), URL);
    assert_eq!(req.redirect_uri(), CB);
    // A document whose redirect URIs do not list the pushed one: refused at the push.
    let other = body.replace(CB_ENC, "https%3A%2F%2Fevil.example%2Fcb");
    let r = h
        .engine
        .pushed_authorization_endpoint(&clients, &form_post(&other, None))
        .await;
    assert_eq!(r.status(), 400, "{r:?}");
}
