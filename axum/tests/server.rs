//! The authorization server's router through `tower::ServiceExt::oneshot`: the login page and
//! its CSRF-protected form, `prompt=none`, CORS preflights, and what is mounted.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use axum::Router;
use axum::body::Body;
use axum::response::{Html, IntoResponse, Response};
use http::{Request, StatusCode};
use token_engine::{
    Algorithm, Approval, AuthorizationDecision, AuthorizationRequest, Client, Engine, MemoryStore,
    RefreshSecret, SigningKey,
};
use token_engine_axum::{AuthorizationServer, LoginForm, LoginUi, Submitted};
use tower::ServiceExt;

const BASE: &str = "https://auth.example.com";
const REDIRECT: &str = "https://app.example.com/cb";

struct Pages;

impl LoginUi for Pages {
    async fn login_page(&self, req: &AuthorizationRequest, form: &LoginForm) -> Response {
        Html(format!(
            "<p>{}</p><form method=post action={}>{}</form>",
            req.client().id(),
            form.action(),
            form.hidden_fields()
        ))
        .into_response()
    }

    async fn login_submit(
        &self,
        _: &AuthorizationRequest,
        form: &Submitted,
        _: &LoginForm,
    ) -> Result<AuthorizationDecision, Response> {
        match form.field("user") {
            "alice" => Ok(AuthorizationDecision::Approve(Approval::new("user-alice"))),
            _ => Err((StatusCode::UNAUTHORIZED, "who?").into_response()),
        }
    }
}

fn router() -> Router {
    let engine = Engine::builder()
        .issuer(BASE)
        .audience(format!("{BASE}/api"))
        .signing_key(SigningKey::generate(Algorithm::ES256).unwrap().0)
        .refresh_secret(RefreshSecret::from_bytes(&[3; 32]).unwrap())
        .authorization_endpoint(format!("{BASE}/authorize"))
        .token_endpoint(format!("{BASE}/token"))
        .jwks_uri(format!("{BASE}/jwks.json"))
        .build(MemoryStore::new())
        .unwrap();
    let clients = vec![
        Client::new("web")
            .allow_scopes(["openid"])
            .redirect_uri(REDIRECT),
    ];
    AuthorizationServer::new(engine, clients, Pages).router()
}

const QUERY: &str = "response_type=code&client_id=web&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb&scope=openid&state=s1&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256";

async fn body(r: Response) -> String {
    String::from_utf8(
        axum::body::to_bytes(r.into_body(), 1 << 16)
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap()
}

fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker).unwrap() + marker.len();
    let end = start + page[start..].find('"').unwrap();
    page[start..end].replace("&amp;", "&")
}

fn decide(cookie: Option<&str>, form: &str) -> Request<Body> {
    let mut b = Request::post("/authorize/decide")
        .header("content-type", "application/x-www-form-urlencoded");
    if let Some(c) = cookie {
        b = b.header("cookie", c);
    }
    b.body(Body::from(form.to_owned())).unwrap()
}

fn enc(s: &str) -> String {
    s.replace('%', "%25")
        .replace('&', "%26")
        .replace('=', "%3D")
}

#[tokio::test]
async fn the_login_form_is_csrf_protected_and_approves() {
    let page = router()
        .oneshot(
            Request::get(format!("/authorize?{QUERY}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let cookie = page.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Strict")
            && cookie.contains("Secure"),
        "{cookie}"
    );
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    assert_eq!(page.headers()["cache-control"], "no-store");
    let html = body(page).await;
    let csrf = hidden(&html, "csrf");
    let request = hidden(&html, "request");
    assert_eq!(request, QUERY);
    let cookie = cookie.split(';').next().unwrap();
    let form = format!("csrf={csrf}&request={}&user=alice", enc(&request));

    // No cookie (a cross-site post), or a token that is not the cookie's: refused.
    let r = router().oneshot(decide(None, &form)).await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let forged = format!("csrf=x{}&request={}&user=alice", &csrf[1..], enc(&request));
    let r = router()
        .oneshot(decide(Some(cookie), &forged))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // A field sent twice makes the form malformed.
    let twice = format!("{form}&csrf={csrf}");
    let r = router()
        .oneshot(decide(Some(cookie), &twice))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // The application refuses (wrong user): its page, with a fresh CSRF cookie.
    let wrong = format!("csrf={csrf}&request={}&user=mallory", enc(&request));
    let r = router()
        .oneshot(decide(Some(cookie), &wrong))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().contains_key("set-cookie"));

    // With the cookie: the library's redirect with the code.
    let r = router().oneshot(decide(Some(cookie), &form)).await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let location = r.headers()["location"].to_str().unwrap();
    assert!(
        location.starts_with(REDIRECT) && location.contains("code="),
        "{location}"
    );
}

#[tokio::test]
async fn prompt_none_answers_login_required_without_a_page() {
    let r = router()
        .oneshot(
            Request::get(format!("/authorize?{QUERY}&prompt=none"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .contains("error=login_required")
    );
}

#[tokio::test]
async fn an_invalid_request_never_reaches_the_page() {
    let r = router()
        .oneshot(
            Request::get("/authorize?client_id=web&response_type=code&redirect_uri=https%3A%2F%2Fevil.example")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.headers().get("location").is_none());
    assert!(r.headers().get("set-cookie").is_none());
}

#[tokio::test]
async fn preflights_follow_the_library_and_userinfo_needs_a_source() {
    let preflight = |path: &str| {
        Request::options(path)
            .header("origin", "https://app.example.com")
            .header("access-control-request-method", "POST")
            .body(Body::empty())
            .unwrap()
    };
    let r = router().oneshot(preflight("/token")).await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    let r = router().oneshot(preflight("/introspect")).await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.headers().get("access-control-allow-origin").is_none());
    let r = router()
        .oneshot(Request::get("/jwks.json").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(body(r).await.contains("\"keys\""));
    let r = router()
        .oneshot(Request::get("/userinfo").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // The device flow is off by default: its page is a 404.
    let r = router()
        .oneshot(Request::get("/device").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}
