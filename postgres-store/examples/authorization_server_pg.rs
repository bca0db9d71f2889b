//! The example authorization server (`examples/authorization_server/` of the library) over
//! PostgreSQL: the same routes, with `PgStore` as the engine's store (sessions, codes, device
//! records, replay ids and policy versions in the database). The demo makes its signing key
//! and secrets per process; several instances behind one issuer would load shared ones.
//!
//! `DATABASE_URL=postgres://... cargo run -p token-engine-postgres --example authorization_server_pg`
//! (port 8080, or `PORT`).

#![allow(missing_docs)]

#[path = "../../examples/authorization_server/server.rs"]
mod server;

use std::net::{Ipv4Addr, SocketAddr};

use token_engine_postgres::PgStore;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("DATABASE_URL").map_err(
        |_| "set DATABASE_URL (for the in-memory server: cargo run --example authorization_server)",
    )?;
    let store = PgStore::connect(url.parse()?, tokio_postgres::NoTls, 16)?;
    store.migrate().await?;
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8080);
    let listener =
        tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await?;
    let base = format!("http://127.0.0.1:{}", listener.local_addr()?.port());
    println!("authorization server on {base}, store: PostgreSQL");
    println!("  metadata: {base}/.well-known/oauth-authorization-server");
    println!("  users:    alice / wonderland, bob / builder");
    axum::serve(listener, server::router(server::demo(&base, store))).await?;
    Ok(())
}
