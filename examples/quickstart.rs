//! Quick start: sign an RFC 9068 access token, verify it, and watch forged tokens fail.
//!
//! Run with `cargo run --example quickstart`.

use serde::{Deserialize, Serialize};
use token_engine::{AccessTokenClaims, Algorithm, KeySet, SigningKey, Validation};

/// The application's own claims, next to the registered ones.
#[derive(Debug, Default, Serialize, Deserialize)]
struct AppClaims {
    role: String,
    tenant_id: String,
}

fn main() -> Result<(), token_engine::Error> {
    // The authorization server's key. In production, load it: SigningKey::from_pem(alg, &pem).
    let (key, _pkcs8) = SigningKey::generate(Algorithm::EdDSA)?;
    let keys = KeySet::new(key.with_kid("2026-11"));

    // Issue an access token with the seed's claim set.
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut claims = AccessTokenClaims::new(AppClaims {
        role: "admin".into(),
        tenant_id: "org_987654321".into(),
    });
    claims.iss = Some("https://auth.example.com".into());
    claims.sub = Some("user123456".into());
    claims.aud = Some("https://api.example.com".into());
    claims.client_id = Some("client_app_123".into());
    claims.scope = Some("read:profile write:settings".into());
    claims.jti = Some("abcd1234-ef56-gh78-ij90".into());
    claims.iat = Some(now);
    claims.exp = Some(now + 15 * 60);
    let token = keys.sign_access_token(&claims)?;
    println!(
        "issued   {} ({} bytes)",
        token.get(..40).unwrap_or_default(),
        token.len()
    );

    // The resource server verifies: sync, no I/O.
    let verifier = keys.verifier(Validation::new(
        "https://auth.example.com",
        "https://api.example.com",
    ))?;
    let verified = verifier.verify_as::<AppClaims>(&token)?;
    println!(
        "verified sub={} role={} scopes={:?}",
        verified.sub.as_deref().unwrap_or("-"),
        verified.custom.role,
        verified.scopes().collect::<Vec<_>>()
    );

    // A token whose payload was edited, and an unsigned one, are rejected with a reason.
    let mut parts = token.split('.');
    let (header, _, signature) = (parts.next(), parts.next(), parts.next());
    let promoted = serde_json::to_string(&claims)
        .map_err(|e| token_engine::Error::Serialize(e.to_string()))?
        .replace("\"admin\"", "\"superuser\"");
    let forged_payload = base64url(promoted.as_bytes());
    let tampered = format!(
        "{}.{forged_payload}.{}",
        header.unwrap_or_default(),
        signature.unwrap_or_default()
    );
    let unsigned = format!(
        "{}.{forged_payload}.",
        base64url(br#"{"alg":"none","typ":"at+jwt"}"#)
    );
    for (what, bad) in [("tampered", tampered), ("alg none", unsigned)] {
        match verifier.verify(&bad) {
            Ok(_) => println!("{what}: ACCEPTED (this is a bug)"),
            Err(e) => println!("rejected {what}: {e}"),
        }
    }
    Ok(())
}

fn base64url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
