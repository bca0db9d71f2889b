//! The example authorization server in a real browser: headless Chromium (Debian's
//! `chromium` and `chromium-driver`), driven through WebDriver, goes through the
//! authorization code flow (login form, consent, the redirect back with the code, whose
//! exchange then succeeds; and a denial) and the device flow (the verification page with
//! the user code filled in). The forms' CSRF cookies travel as a browser sends them.
//!
//! When a step fails, a screenshot is written to `target/browser-failures/<test>.png`.
//! Without `chromedriver` on the `PATH` the tests say so and pass, unless
//! `TOKEN_ENGINE_BROWSER_REQUIRED=1` (CI sets it), where that is a failure.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

#[path = "../../authorization_server/server.rs"]
mod server;

use std::collections::HashMap;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use token_engine::MemoryStore;
use token_engine::pkce::CodeVerifier;

/// A chromedriver process, killed on drop.
struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Start chromedriver on a loopback port, or `None` when it is not installed (and not
/// required).
async fn driver() -> Option<Driver> {
    let required = std::env::var("TOKEN_ENGINE_BROWSER_REQUIRED").as_deref() == Ok("1");
    let port = free_port();
    let child = match Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(c) => c,
        Err(e) if !required => {
            eprintln!(
                "browser test skipped: chromedriver not found ({e}); install chromium and chromium-driver"
            );
            return None;
        }
        Err(e) => panic!("chromedriver is required (TOKEN_ENGINE_BROWSER_REQUIRED=1): {e}"),
    };
    let driver = Driver { child, port };
    for _ in 0..100 {
        if tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port))
            .await
            .is_ok()
        {
            return Some(driver);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not listen on port {port} within 10 s");
}

/// The example server on a loopback port.
async fn start() -> String {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let app = server::demo(&base, MemoryStore::new());
    tokio::spawn(async move { axum::serve(listener, server::router(app)).await });
    base
}

fn failure_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("browser-failures")
}

/// Run `steps` in a fresh headless Chromium; on failure save a screenshot and fail.
async fn in_browser<F, Fut>(name: &str, steps: F)
where
    F: FnOnce(Client, String) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let Some(driver) = driver().await else {
        return;
    };
    let base = start().await;
    // Both rustls providers are in this workspace: pick one (a second call is a no-op).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({"args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]}),
    );
    let client = ClientBuilder::rustls()
        .expect("a TLS provider")
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a browser session");
    let result = steps(client.clone(), base).await;
    if let Err(step) = result {
        let dir = failure_dir();
        let path = dir.join(format!("{name}.png"));
        let saved = match client.screenshot().await {
            Ok(png) => std::fs::create_dir_all(&dir)
                .and_then(|()| std::fs::write(&path, png))
                .map(|()| format!("screenshot: {}", path.display()))
                .unwrap_or_else(|e| format!("screenshot not written: {e}")),
            Err(e) => format!("no screenshot: {e}"),
        };
        let _ = client.close().await;
        panic!("{name}: {step} ({saved})");
    }
    client.close().await.unwrap();
}

fn step<T, E: std::fmt::Display>(what: &str, r: Result<T, E>) -> Result<T, String> {
    r.map_err(|e| format!("{what}: {e}"))
}

async fn fill(c: &Client, css: &str, text: &str) -> Result<(), String> {
    let field = step(css, c.find(Locator::Css(css)).await)?;
    step(css, field.send_keys(text).await)
}

async fn click(c: &Client, css: &str) -> Result<(), String> {
    let button = step(css, c.find(Locator::Css(css)).await)?;
    step(css, button.click().await)
}

/// The query of the page the browser is on.
async fn query_of(c: &Client) -> Result<HashMap<String, String>, String> {
    let url = step("current URL", c.current_url().await)?;
    Ok(url.query_pairs().into_owned().collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_code_flow_in_a_browser() {
    in_browser("authorization_code_flow_in_a_browser", |c, base| async move {
        let verifier = CodeVerifier::generate().unwrap();
        let callback = format!("{base}/callback");
        let authorize = |state: &str| {
            format!(
                "{base}/authorize?response_type=code&client_id=web-app&redirect_uri={}&scope=openid%20profile&state={state}&code_challenge={}&code_challenge_method=S256",
                callback.replace(':', "%3A").replace('/', "%2F"),
                verifier.s256_challenge().as_str()
            )
        };
        // Login and consent.
        step("open /authorize", c.goto(&authorize("s-1")).await)?;
        let scope = step("scope", c.find(Locator::Css("#scope")).await)?;
        let scope = step("scope text", scope.text().await)?;
        if scope != "openid profile" {
            return Err(format!("the page shows scope {scope:?}"));
        }
        fill(&c, "#username", "alice").await?;
        fill(&c, "#password", "wonderland").await?;
        click(&c, "#approve").await?;
        // Back at the client with the code, state and iss (RFC 9207).
        step("callback page", c.wait().for_element(Locator::Css("#outcome")).await)?;
        let url = step("current URL", c.current_url().await)?;
        if !url.as_str().starts_with(&callback) {
            return Err(format!("redirected to {url}, not the client"));
        }
        let q = query_of(&c).await?;
        if q.get("state").map(String::as_str) != Some("s-1") || q.get("iss") != Some(&base) {
            return Err(format!("state or iss missing: {q:?}"));
        }
        step("callback page", c.wait().for_element(Locator::Css("#outcome")).await)?;
        // The client's backend redeems the code.
        let tokens = reqwest::Client::new()
            .post(format!("{base}/token"))
            .form(&[
                ("grant_type", "authorization_code"),
                ("client_id", "web-app"),
                ("code", q.get("code").ok_or("no code")?.as_str()),
                ("redirect_uri", callback.as_str()),
                ("code_verifier", verifier.expose_secret()),
            ])
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if tokens.status() != 200 {
            return Err(format!("token endpoint: {}", tokens.status()));
        }
        let body: Value = serde_json::from_str(&tokens.text().await.map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
        if !body["id_token"].is_string() {
            return Err(format!("no ID token: {body}"));
        }
        // A wrong password shows the page again; then a denial goes back as access_denied.
        step("open /authorize", c.goto(&authorize("s-2")).await)?;
        fill(&c, "#username", "alice").await?;
        fill(&c, "#password", "not-it").await?;
        click(&c, "#approve").await?;
        step("the alert", c.wait().for_element(Locator::Css("[role=alert]")).await)?;
        click(&c, "#deny").await?;
        step("callback page", c.wait().for_element(Locator::Css("#error")).await)?;
        let q = query_of(&c).await?;
        if q.get("error").map(String::as_str) != Some("access_denied") {
            return Err(format!("denial answered {q:?}"));
        }
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_flow_in_a_browser() {
    in_browser("device_flow_in_a_browser", |c, base| async move {
        let http = reqwest::Client::new();
        let start = http
            .post(format!("{base}/device_authorization"))
            .form(&[("client_id", "tv"), ("scope", "profile")])
            .send()
            .await
            .map_err(|e| e.to_string())?
            .text()
            .await
            .map_err(|e| e.to_string())?;
        let start: Value = serde_json::from_str(&start).map_err(|e| e.to_string())?;
        let complete = start["verification_uri_complete"]
            .as_str()
            .ok_or("no verification_uri_complete")?;
        // The user scans the QR code: the page opens with the code filled in.
        step("open /device", c.goto(complete).await)?;
        let code = step("user code", c.find(Locator::Css("#user_code")).await)?;
        let shown = step("user code value", code.prop("value").await)?;
        if shown.as_deref() != start["user_code"].as_str() {
            return Err(format!("the page shows {shown:?}"));
        }
        fill(&c, "#username", "bob").await?;
        fill(&c, "#password", "builder").await?;
        click(&c, "#approve").await?;
        step(
            "confirmation",
            c.wait().for_element(Locator::Css("#done")).await,
        )?;
        // The device polls and gets its tokens.
        let poll = http
            .post(format!("{base}/token"))
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("client_id", "tv"),
                (
                    "device_code",
                    start["device_code"].as_str().unwrap_or_default(),
                ),
            ])
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if poll.status() != 200 {
            return Err(format!(
                "poll: {} {}",
                poll.status(),
                poll.text().await.unwrap_or_default()
            ));
        }
        Ok(())
    })
    .await;
}
