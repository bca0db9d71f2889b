//! Quick start: log a user in, verify the access token, refresh twice, then replay the first
//! refresh token and watch reuse detection revoke the whole session. No setup: everything
//! runs on the embedded `MemoryStore`.
//!
//! Run with `cargo run --example quickstart`.

use token_engine::{
    Algorithm, Client, Engine, Error, IssueRequest, MemoryStore, RefreshRequest, RefreshSecret,
    SigningKey,
};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    // Configuration: in production, load the key from PEM and the secret from your secrets
    // manager (see `cargo run --example keygen`).
    let (signing_key, _pkcs8) = SigningKey::generate(Algorithm::EdDSA)?;
    let secret = RefreshSecret::generate_bytes()?;
    let engine = Engine::builder()
        .issuer("https://auth.example.com")
        .audience("https://api.example.com")
        .signing_key(signing_key.with_kid("2026-11"))
        .refresh_secret(RefreshSecret::from_bytes(&secret[..])?)
        .build(MemoryStore::new())?;

    // The user signed in on their TV (the application checked the password).
    let tv = Client::new("netflix-tv").allow_scopes(["profile:read", "stream"]);
    let login = engine
        .issue(
            &tv,
            IssueRequest::new("user123456")
                .device("living-room-tv")
                .claim("role", "subscriber"),
        )
        .await?;
    let rt0 = login
        .refresh_token
        .ok_or(Error::InvalidRequest("no refresh token"))?;
    println!(
        "1. logged in: access token valid {} s, refresh token …{}",
        login.expires_in,
        tail(rt0.expose_secret())
    );

    // The API verifies the access token: sync, no I/O.
    let claims = engine.verifier().verify(&login.access_token)?;
    println!(
        "2. API verified the access token: sub={} scope={:?} session={}",
        claims.sub.as_deref().unwrap_or("-"),
        claims.scope.as_deref().unwrap_or("-"),
        claims.sid.as_deref().unwrap_or("-"),
    );

    // The access token expires while watching: the TV refreshes behind the scenes, twice.
    let r1 = engine
        .refresh(&tv, rt0.expose_secret(), on_the_tv())
        .await?;
    let rt1 = r1
        .refresh_token
        .ok_or(Error::InvalidRequest("no refresh token"))?;
    println!(
        "3. refreshed: new refresh token …{} (the old one is now spent)",
        tail(rt1.expose_secret())
    );
    let r2 = engine
        .refresh(&tv, rt1.expose_secret(), on_the_tv())
        .await?;
    let rt2 = r2
        .refresh_token
        .ok_or(Error::InvalidRequest("no refresh token"))?;
    println!("4. refreshed again: …{}", tail(rt2.expose_secret()));

    // Someone stole the first refresh token and tries it (claiming to be the TV).
    match engine.refresh(&tv, rt0.expose_secret(), on_the_tv()).await {
        Err(Error::ReuseDetected) => {
            println!("5. replay of the first refresh token: reuse detected, session revoked")
        }
        other => println!("5. unexpected: {other:?}"),
    }
    // The whole family is gone: even the newest token, and the session's access tokens for
    // resource servers that check revocation.
    match engine.refresh(&tv, rt2.expose_secret(), on_the_tv()).await {
        Err(e) => println!("6. the newest refresh token fails too: {e}"),
        Ok(_) => println!("6. unexpected: the newest token still works"),
    }
    match engine.verify_with_revocation(&r2.access_token).await {
        Err(e) => println!("7. its last access token, checked against the store: {e}"),
        Ok(_) => println!("7. unexpected: the access token is still accepted"),
    }
    println!("   The user signs in again; the thief has nothing.");
    Ok(())
}

/// A refresh from the TV: its session is bound to the device, so the request says which
/// device it comes from (another device id would count as theft).
fn on_the_tv() -> RefreshRequest {
    RefreshRequest::default().device("living-room-tv")
}

/// The end of a token: enough to tell tokens apart in the output.
fn tail(token: &str) -> &str {
    token.get(token.len().saturating_sub(10)..).unwrap_or(token)
}
