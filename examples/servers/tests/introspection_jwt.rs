//! RFC 9701 (JWT introspection responses) and reference access tokens at the introspection
//! and revocation endpoints, checked by an independent library: the signed answer verifies
//! with `jsonwebtoken` from the engine's JWKS alone, carries `typ: token-introspection+jwt`,
//! `iss`, `aud` = the caller, `iat` and the RFC 7662 members in `token_introspection`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use serde_json::{Value, json};
use token_engine::{
    AccessTokenFormat, Algorithm, Client, ClientAuthMethod, Engine, HttpRequest,
    IntrospectionResponse, IssueRequest, ManualClock, MemoryStore, RefreshSecret, SigningKey,
};

const ISS: &str = "https://auth.example.com";
const AUD: &str = "https://api.example.com";
const NOW: i64 = 1_800_000_000;
const RS_SECRET: &str = "resource-server-secret-0123456789";

fn engine(clock: &ManualClock) -> Engine<MemoryStore> {
    Engine::builder()
        .issuer(ISS)
        .audience(AUD)
        .signing_key(
            SigningKey::generate(Algorithm::ES256)
                .unwrap()
                .0
                .with_kid("k1"),
        )
        .refresh_secret(RefreshSecret::from_bytes(&[7; 32]).unwrap())
        .client_secret_key(&[6; 32])
        .access_token_format(AccessTokenFormat::Reference)
        .clock(clock.clone())
        .build(MemoryStore::new())
        .unwrap()
}

fn clients(e: &Engine<MemoryStore>) -> Vec<Client> {
    let hasher = e.client_secret_hasher().unwrap();
    vec![
        Client::new("app").allow_scopes(["read", "write"]),
        Client::confidential("rs", ClientAuthMethod::SecretPost(hasher.hash(RS_SECRET)))
            .grant_types([])
            .introspect_all_tokens(),
    ]
}

async fn introspect(
    e: &Engine<MemoryStore>,
    token: &str,
    accept: Option<&str>,
) -> (String, String) {
    let body = format!("token={token}&client_id=rs&client_secret={RS_SECRET}");
    let mut req =
        HttpRequest::post(&body).header("content-type", "application/x-www-form-urlencoded");
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    let r = e.introspection_endpoint(&clients(e), &req).await;
    assert_eq!(r.status(), 200, "{}", r.body());
    assert_eq!(r.header("cache-control"), Some("no-store"));
    (
        r.header("content-type").unwrap().to_owned(),
        r.body().to_owned(),
    )
}

/// Verify an RFC 9701 answer as a gateway would: `jsonwebtoken`, the engine's JWKS alone.
fn verify(e: &Engine<MemoryStore>, jwt: &str) -> Value {
    let jwks: jsonwebtoken::jwk::JwkSet =
        serde_json::from_str(&serde_json::to_string(&e.key_set().jwks()).unwrap()).unwrap();
    let header = jsonwebtoken::decode_header(jwt).unwrap();
    assert_eq!(header.typ.as_deref(), Some("token-introspection+jwt"));
    let key =
        jsonwebtoken::DecodingKey::from_jwk(jwks.find(header.kid.as_deref().unwrap()).unwrap())
            .unwrap();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    v.set_issuer(&[ISS]);
    v.set_audience(&["rs"]);
    v.required_spec_claims.clear();
    v.validate_exp = false;
    jsonwebtoken::decode::<Value>(jwt, &key, &v).unwrap().claims
}

#[tokio::test]
async fn the_signed_answer_verifies_with_jsonwebtoken_and_carries_rfc_7662() {
    let clock = ManualClock::new(NOW);
    let e = engine(&clock);
    let login = e
        .issue(
            &Client::new("app").allow_scopes(["read", "write"]),
            IssueRequest::new("alice"),
        )
        .await
        .unwrap();
    let at = login.access_token.clone();
    assert!(at.starts_with("at_"));

    let (ct, body) = introspect(&e, &at, None).await;
    assert_eq!(ct, "application/json", "plain RFC 7662 unless asked");
    let plain: Value = serde_json::from_str(&body).unwrap();

    for accept in [
        "application/token-introspection+jwt",
        "application/json;q=0.5, Application/Token-Introspection+JWT; q=1",
    ] {
        let (ct, jwt) = introspect(&e, &at, Some(accept)).await;
        assert_eq!(ct, "application/token-introspection+jwt");
        let claims = verify(&e, &jwt);
        assert_eq!(claims["iss"], ISS);
        assert_eq!(claims["aud"], "rs");
        assert_eq!(claims["iat"], NOW);
        assert!(claims.get("sub").is_none() && claims.get("exp").is_none());
        let ti = &claims["token_introspection"];
        assert_eq!(ti, &plain, "the same RFC 7662 object");
        assert_eq!(ti["active"], true);
        assert_eq!(ti["sub"], "alice");
        assert_eq!(ti["client_id"], "app");
        assert_eq!(ti["scope"], "read write");
        assert_eq!(ti["exp"], NOW + 900);
        assert_eq!(ti["iat"], NOW);
        assert_eq!(ti["iss"], ISS);
        assert_eq!(ti["aud"], AUD);
        assert_eq!(ti["token_type"], "Bearer");
        assert!(ti["jti"].is_string());
        let parsed: IntrospectionResponse = serde_json::from_value(ti.clone()).unwrap();
        assert_eq!(parsed, e.introspect(&at).await.unwrap(), "it parses back");
    }

    // Revoked through the revocation endpoint (RFC 7009): inactive, signed all the same.
    let body = format!("token={at}&client_id=app");
    let r = e
        .revocation_endpoint(
            &clients(&e),
            &HttpRequest::post(&body).header("content-type", "application/x-www-form-urlencoded"),
        )
        .await;
    assert_eq!(r.status(), 200);
    let (_, jwt) = introspect(&e, &at, Some("application/token-introspection+jwt")).await;
    assert_eq!(
        verify(&e, &jwt)["token_introspection"],
        json!({"active": false})
    );

    // A signature by another key fails.
    let other = engine(&clock);
    let (_, jwt) = introspect(
        &other,
        "at_forged",
        Some("application/token-introspection+jwt"),
    )
    .await;
    let jwks: jsonwebtoken::jwk::JwkSet =
        serde_json::from_str(&serde_json::to_string(&e.key_set().jwks()).unwrap()).unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(&jwks.keys[0]).unwrap();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    v.required_spec_claims.clear();
    v.validate_exp = false;
    v.validate_aud = false;
    assert!(jsonwebtoken::decode::<Value>(&jwt, &key, &v).is_err());
}
