//! A small but real authorization server over the engine, every endpoint one library call:
//! `/authorize` (validated by the library, then a login and consent page with demo users),
//! `/token` (every grant, DPoP included), `/device_authorization` and the device verification
//! page `/device`, `/introspect`, `/revoke`, `/userinfo`, `/jwks.json`, RFC 8414 and OpenID
//! Connect discovery metadata, CORS preflights, and a protected API (`/api`, `/api/me`) that
//! verifies Bearer and DPoP tokens with revocation and publishes its protected resource
//! metadata (RFC 9728, named in every `401`), as the `/mcp` tool server does. Loopback only.
//!
//! `cargo run --example authorization_server` (port 8080, or `PORT`), then open the printed
//! URLs. The interop tests (`tests/interop.rs`) drive this server with the `oauth2` crate.

mod server;

use std::net::{Ipv4Addr, SocketAddr};

use token_engine::MemoryStore;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8080);
    let listener =
        tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await?;
    let base = format!("http://127.0.0.1:{}", listener.local_addr()?.port());
    let app = server::demo(&base, MemoryStore::new());
    println!("authorization server on {base}");
    println!("  metadata:   {base}/.well-known/oauth-authorization-server");
    println!(
        "  sign in:    {base}/authorize?client_id=web-app&response_type=code&redirect_uri={}&scope=openid%20profile&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256&state=xyz",
        server::WEB_REDIRECT
    );
    println!(
        "  devices:    curl -s {base}/device_authorization -d client_id=tv, then {base}/device"
    );
    println!(
        "  machines:   curl -s -u reports:{} {base}/token -d grant_type=client_credentials",
        server::REPORTS_SECRET
    );
    println!("  users:      alice / wonderland, bob / builder");
    axum::serve(listener, server::router(app)).await?;
    Ok(())
}
