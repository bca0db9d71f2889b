//! Issue 24 over PostgreSQL, across two app servers each with its own pool: a request pushed
//! (RFC 9126) to one is used on the other, once, by the pushing client only; a client
//! registered (RFC 7591) on one authenticates on the other.

use serde_json::{Value, json};
use token_engine::{
    Approval, AuthorizationDecision, Client, ClientRegistry, HttpRequest, RegisteredClients,
    RegistrationPolicy,
};

use crate::common::*;

const CB: &str = "https://app.example/cb";
const CB_ENC: &str = "https%3A%2F%2Fapp.example%2Fcb";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGcSt9cwM4";

fn clients() -> Vec<Client> {
    vec![
        Client::new("web").allow_scopes(["read"]).redirect_uri(CB),
        Client::new("other").allow_scopes(["read"]).redirect_uri(CB),
    ]
}

fn form(body: &str) -> HttpRequest<'_> {
    HttpRequest::post(body).header("Content-Type", "application/x-www-form-urlencoded")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pushed_request_and_a_registration_cross_instances() {
    let Some(db) = database("agents").await else {
        return;
    };
    let schema = db.schema().await;
    let a = server(store(&schema), T0, 0);
    let b = server(store(&schema), T0 + 1, 0);
    let body = format!(
        "response_type=code&client_id=web&redirect_uri={CB_ENC}&scope=read&code_challenge={CHALLENGE}&code_challenge_method=S256"
    );
    let r = a
        .engine
        .pushed_authorization_endpoint(&clients(), &form(&body))
        .await;
    assert_eq!(r.status(), 201, "{r:?}");
    let json: Value = serde_json::from_str(r.body()).unwrap();
    let uri = json["request_uri"].as_str().unwrap().replace(':', "%3A");
    let use_as = |who: &str| format!("client_id={who}&request_uri={uri}");
    let r = b
        .engine
        .authorization_request(&clients(), &HttpRequest::get(&use_as("other")))
        .await
        .unwrap_err();
    assert_eq!(r.status(), 400);
    let req = b
        .engine
        .authorization_request(&clients(), &HttpRequest::get(&use_as("web")))
        .await
        .unwrap();
    let again = a
        .engine
        .authorization_request(&clients(), &HttpRequest::get(&use_as("web")))
        .await
        .unwrap();
    let r = b
        .engine
        .authorization_response(req, AuthorizationDecision::Approve(Approval::new("u")))
        .await;
    assert!(r.header("location").unwrap().contains("code="), "{r:?}");
    let r = a
        .engine
        .authorization_response(again, AuthorizationDecision::Approve(Approval::new("u")))
        .await;
    let loc = r.header("location").unwrap();
    assert!(
        loc.contains("error=invalid_request") && !loc.contains("code="),
        "{loc}"
    );

    let policy = RegistrationPolicy::open().allow_scopes(["read"]);
    let reg = json!({"redirect_uris": [CB], "token_endpoint_auth_method": "none", "scope": "read"})
        .to_string();
    let r = a
        .engine
        .registration_endpoint(
            &policy,
            &HttpRequest::post(&reg).header("Content-Type", "application/json"),
        )
        .await;
    assert_eq!(r.status(), 201, "{r:?}");
    let json: Value = serde_json::from_str(r.body()).unwrap();
    let id = json["client_id"].as_str().unwrap();
    let registered = RegisteredClients::new(b.engine.store().clone(), clients());
    let c = registered.client(id).await.unwrap().unwrap();
    assert_eq!(c.redirect_uris(), [CB]);
    assert!(c.is_public());
    assert!(
        registered
            .client(&id.to_uppercase())
            .await
            .unwrap()
            .is_none()
    );
    db.drop().await;
}
