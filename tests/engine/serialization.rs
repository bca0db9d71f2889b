//! The wire JSON, pinned: token responses, error responses for every error the engine
//! produces, and introspection responses.

use std::collections::BTreeSet;

use serde_json::Value;
use token_engine::grant::TokenExchangeRequest;
use token_engine::{
    Algorithm, Client, Engine, Error, ErrorResponse, HttpRequest, IssueRequest, MemoryStore,
    RefreshRequest, RefreshToken, SigningKey, TokenResponse, TokenType,
};

use crate::common::*;

fn json(r: &TokenResponse) -> serde_json::Map<String, Value> {
    match serde_json::to_value(r).unwrap() {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

fn keys(m: &serde_json::Map<String, Value>) -> BTreeSet<&str> {
    m.keys().map(String::as_str).collect()
}

#[tokio::test]
async fn an_issued_token_response_has_exactly_the_rfc_6749_members() {
    let h = Harness::new();
    let r = h.login().await;
    let m = json(&r);
    assert_eq!(
        keys(&m),
        BTreeSet::from([
            "access_token",
            "token_type",
            "expires_in",
            "refresh_token",
            "scope"
        ])
    );
    assert_eq!(m["access_token"], Value::String(r.access_token.clone()));
    assert_eq!(m["token_type"], "Bearer");
    assert_eq!(m["expires_in"], 900);
    assert!(m["expires_in"].is_u64());
    assert_eq!(m["refresh_token"], rt(&r));
    assert_eq!(m["scope"], "read write");
}

#[tokio::test]
async fn a_refreshed_token_response_has_the_same_members() {
    let h = Harness::new();
    let r = h.login().await;
    let next = h
        .refresh(&client(), rt(&r), RefreshRequest::default().scope("read"))
        .await
        .unwrap();
    let m = json(&next);
    assert_eq!(
        keys(&m),
        BTreeSet::from([
            "access_token",
            "token_type",
            "expires_in",
            "refresh_token",
            "scope"
        ])
    );
    assert_eq!(m["refresh_token"], rt(&next));
    assert_eq!(m["scope"], "read");
}

#[tokio::test]
async fn a_response_without_refresh_token_omits_the_member() {
    let h = Harness::new();
    let r = h
        .issue(
            &client(),
            IssueRequest::new(SUBJECT).without_refresh_token(),
        )
        .await
        .unwrap();
    let m = json(&r);
    assert_eq!(
        keys(&m),
        BTreeSet::from(["access_token", "token_type", "expires_in", "scope"])
    );
}

#[tokio::test]
async fn a_response_with_no_scope_omits_the_member() {
    let h = Harness::new();
    let r = h
        .issue(&Client::new("bare"), IssueRequest::new(SUBJECT))
        .await
        .unwrap();
    assert_eq!(r.scope, None);
    let m = json(&r);
    assert_eq!(
        keys(&m),
        BTreeSet::from(["access_token", "token_type", "expires_in", "refresh_token"])
    );
}

#[test]
fn a_hand_built_token_response_serializes_exactly() {
    let r = TokenResponse {
        access_token: "x".into(),
        token_type: TokenType::Bearer,
        expires_in: 900,
        refresh_token: Some(RefreshToken::from_string("rt_abc".into())),
        scope: Some("read write".into()),
        id_token: None,
        issued_token_type: None,
    };
    assert_eq!(
        serde_json::to_string(&r).unwrap(),
        r#"{"access_token":"x","token_type":"Bearer","expires_in":900,"refresh_token":"rt_abc","scope":"read write"}"#
    );
    let r = TokenResponse {
        access_token: "y".into(),
        token_type: TokenType::DPoP,
        expires_in: 60,
        refresh_token: None,
        scope: None,
        id_token: None,
        issued_token_type: None,
    };
    assert_eq!(
        serde_json::to_string(&r).unwrap(),
        r#"{"access_token":"y","token_type":"DPoP","expires_in":60}"#
    );
}

#[tokio::test]
async fn token_response_debug_shows_neither_token() {
    let h = Harness::new();
    let r = h.login().await;
    let printed = format!("{r:?}");
    assert!(!printed.contains(&r.access_token), "{printed}");
    assert!(!printed.contains(rt(&r)), "{printed}");
    for segment in r.access_token.split('.') {
        assert!(!printed.contains(segment), "{printed}");
    }
    // Not even a slice of the refresh token's body.
    assert!(!printed.contains(&rt(&r)[3..23]), "{printed}");
    assert!(printed.contains("[redacted]"), "{printed}");
    assert!(printed.contains("read write"), "{printed}");
}

#[test]
fn request_debug_shows_no_secret() {
    let http = HttpRequest::post(
        "grant_type=refresh_token&refresh_token=rt-SECRET&client_secret=cs-SECRET",
    )
    .header("Authorization", "Basic YXBwOmNzLVNFQ1JFVA==")
    .header("DPoP", "eyJ0eXAiOiJkcG9wK2p3dCJ9.e30.PROOF")
    .client_cert_sha256([7; 32]);
    assert_eq!(
        format!("{http:?}"),
        r#"HttpRequest { method: "POST", query_len: 0, body_len: 72, headers: ["Authorization", "DPoP"], .. }"#
    );
    let exchange = TokenExchangeRequest {
        subject_token: "eyJhbGciOiJFUzI1NiJ9.e30.SUBJECT",
        subject_token_type: "urn:ietf:params:oauth:token-type:access_token",
        audience: Some("https://api.example"),
        scope: Some("read"),
        requested_token_type: None,
    };
    assert_eq!(
        format!("{exchange:?}"),
        r#"TokenExchangeRequest { subject_token: "[redacted]", subject_token_type: "urn:ietf:params:oauth:token-type:access_token", audience: Some("https://api.example"), scope: Some("read"), requested_token_type: None }"#
    );
}

fn error_json(e: &Error) -> (String, u16) {
    let r = ErrorResponse::from_error(e);
    (serde_json::to_string(&r).unwrap(), r.http_status())
}

const INVALID_GRANT: &str =
    r#"{"error":"invalid_grant","error_description":"The grant is invalid, expired or revoked."}"#;

#[tokio::test]
async fn every_refresh_failure_is_the_same_invalid_grant_on_the_wire() {
    let h = Harness::new();
    let r = h.login().await;
    let mut errors = Vec::new();
    errors.push(
        h.refresh(&client(), "rt_nope", RefreshRequest::default())
            .await
            .unwrap_err(),
    );
    errors.push(
        h.refresh(&client(), &tampered(rt(&r)), RefreshRequest::default())
            .await
            .unwrap_err(),
    );
    let next = h.rotate(rt(&r)).await;
    errors.push(
        h.refresh(&client(), rt(&r), RefreshRequest::default())
            .await
            .unwrap_err(),
    );
    errors.push(
        h.refresh(&client(), rt(&next), RefreshRequest::default())
            .await
            .unwrap_err(),
    );
    let s = h.login().await;
    h.engine
        .set_policy(None, Some(token_engine::PolicyVersion::new(2, 0)))
        .await
        .unwrap();
    errors.push(
        h.refresh(&client(), rt(&s), RefreshRequest::default())
            .await
            .unwrap_err(),
    );
    let kinds: Vec<String> = errors.iter().map(|e| format!("{e:?}")).collect();
    assert_eq!(
        kinds,
        [
            "InvalidGrant(MalformedToken)",
            "InvalidGrant(InvalidTag)",
            "ReuseDetected",
            "InvalidGrant(Revoked)",
            "ReauthenticationRequired",
        ]
    );
    for e in &errors {
        assert_eq!(error_json(e), (INVALID_GRANT.to_owned(), 400), "{e:?}");
    }
}

#[tokio::test]
async fn invalid_scope_error_response() {
    let h = Harness::new();
    let e = h
        .issue(&client(), IssueRequest::new(SUBJECT).scope("admin"))
        .await
        .unwrap_err();
    assert_eq!(
        error_json(&e),
        (
            r#"{"error":"invalid_scope","error_description":"The requested scope is invalid or exceeds what was granted."}"#.to_owned(),
            400
        )
    );
}

#[tokio::test]
async fn invalid_request_error_response_hides_the_detail() {
    let h = Harness::new();
    let e = h
        .issue(&client(), IssueRequest::new(SUBJECT).claim("sub", "root"))
        .await
        .unwrap_err();
    assert_eq!(
        error_json(&e),
        (
            r#"{"error":"invalid_request","error_description":"The request is malformed."}"#
                .to_owned(),
            400
        )
    );
}

#[tokio::test]
async fn unauthorized_client_error_response() {
    let h = Harness::new();
    let r = h.login().await;
    let e = h.engine.revoke(&other_client(), rt(&r)).await.unwrap_err();
    assert_eq!(
        error_json(&e),
        (
            r#"{"error":"unauthorized_client","error_description":"The client is not authorized for this request."}"#.to_owned(),
            400
        )
    );
}

#[tokio::test]
async fn invalid_token_error_response_is_401() {
    let h = Harness::new();
    let r = h.login().await;
    let mut errors = vec![h.engine.verifier().verify("nope").unwrap_err()];
    h.revoke_ok(rt(&r)).await;
    errors.push(
        h.engine
            .verify_with_revocation(&r.access_token)
            .await
            .unwrap_err(),
    );
    h.at(ACCESS_TTL + LEEWAY);
    errors.push(h.engine.verifier().verify(&r.access_token).unwrap_err());
    for e in &errors {
        assert_eq!(
            error_json(e),
            (
                r#"{"error":"invalid_token","error_description":"The access token is invalid."}"#
                    .to_owned(),
                401
            ),
            "{e:?}"
        );
    }
}

#[test]
fn configuration_and_key_errors_are_server_errors() {
    let config = Engine::builder().build(MemoryStore::new()).unwrap_err();
    let key = Error::Key(SigningKey::from_pem(Algorithm::ES256, "not a pem").unwrap_err());
    for e in [config, key] {
        assert_eq!(
            error_json(&e),
            (
                r#"{"error":"server_error","error_description":"The server could not complete the request."}"#.to_owned(),
                500
            ),
            "{e:?}"
        );
    }
}

#[tokio::test]
async fn inactive_introspection_is_exactly_active_false() {
    let h = Harness::new();
    let r = h.engine.introspect("garbage").await.unwrap();
    assert_eq!(serde_json::to_string(&r).unwrap(), r#"{"active":false}"#);
}

#[tokio::test]
async fn active_refresh_token_introspection_serializes_exactly() {
    let h = Harness::new();
    let r = h.login().await;
    let i = h.engine.introspect(rt(&r)).await.unwrap();
    assert_eq!(
        serde_json::to_string(&i).unwrap(),
        r#"{"active":true,"scope":"read write","client_id":"app","sub":"user-42","exp":1715372800,"iat":1714768000,"iss":"https://auth.example.com","token_type":"refresh_token"}"#
    );
}

#[tokio::test]
async fn active_access_token_introspection_serializes_exactly() {
    let h = Harness::new();
    let r = h.login().await;
    let jti = claims(&h, &r.access_token).jti.unwrap().into_owned();
    let i = h.engine.introspect(&r.access_token).await.unwrap();
    assert_eq!(
        serde_json::to_string(&i).unwrap(),
        format!(
            r#"{{"active":true,"scope":"read write","client_id":"app","sub":"user-42","exp":1714768900,"iat":1714768000,"aud":"https://api.example.com","iss":"https://auth.example.com","jti":"{jti}","token_type":"Bearer"}}"#
        )
    );
}

#[test]
fn an_error_response_parses_only_from_a_json_object() {
    let parsed: ErrorResponse = serde_json::from_str(INVALID_GRANT).unwrap();
    assert_eq!(parsed.error, "invalid_grant");
    let bare: ErrorResponse = serde_json::from_str(r#"{"error":"invalid_client"}"#).unwrap();
    assert_eq!(
        (bare.error.as_str(), bare.error_description),
        ("invalid_client", None)
    );
    for bad in [
        r#"["invalid_grant", null]"#,
        r#"["invalid_grant"]"#,
        r#"[]"#,
        r#""invalid_grant""#,
        r#"{"error_description":"x"}"#,
        r#"{"error":"a","error":"b"}"#,
    ] {
        assert!(
            serde_json::from_str::<ErrorResponse>(bad).is_err(),
            "{bad} parsed"
        );
    }
}

#[test]
fn any_error_becomes_its_http_answer_in_one_call() {
    use token_engine::{Error, GrantError, HttpResponse};
    let cases = [
        (
            Error::InvalidGrant(GrantError::Revoked),
            400,
            "invalid_grant",
            false,
        ),
        (
            Error::InvalidClient("wrong secret"),
            401,
            "invalid_client",
            true,
        ),
        (
            Error::UnsupportedGrantType,
            400,
            "unsupported_grant_type",
            false,
        ),
        (Error::Config("x"), 500, "server_error", false),
    ];
    for (e, status, code, basic) in cases {
        let r = HttpResponse::from_error(&e);
        assert_eq!(r.status(), status, "{e}");
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.header("cache-control"), Some("no-store"));
        assert_eq!(r.header("www-authenticate").is_some(), basic, "{e}");
        let body: serde_json::Value = serde_json::from_str(r.body()).unwrap();
        assert_eq!(body["error"], code);
        // The log text never reaches the wire.
        assert!(!r.body().contains("wrong secret"));
    }
}
