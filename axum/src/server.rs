//! The authorization server as one [`Router`]: [`AuthorizationServer`] mounts every endpoint
//! the library provides (each one library call over the whole request, answered unchanged),
//! the CORS preflights the library states ([`Endpoint::preflight`]), and the pages of the
//! application's login, consent and device verification UI ([`LoginUi`](crate::LoginUi)), whose forms the
//! crate protects against cross-site posts ([`crate::csrf`]).

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use http::{HeaderValue, StatusCode, header};
use token_engine::http::Form;
use token_engine::store::{ClientStore, CodeStore, DeviceStore, ReplayStore};
use token_engine::{
    ClientRegistry, Endpoint, Engine, Error, HttpRequest, HttpResponse, MemoryLimiter,
    NoPasswordGrant, PasswordVerifier, RegistrationPolicy, TokenStore, UserCodeLimiter,
    UserInfoSource,
};

use crate::csrf::{self, CsrfToken};
use crate::ui::{DeviceForm, LoginForm, LoginUi, Submitted};

/// Largest request body read by an endpoint (the library bounds forms further).
const MAX_BODY: usize = 64 * 1024;

/// No UserInfo endpoint: `/userinfo` is not mounted.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoUserInfo;

impl UserInfoSource for NoUserInfo {
    async fn claims(
        &self,
        _: &str,
        _: &[&str],
    ) -> Result<Option<serde_json::Map<String, serde_json::Value>>, Error> {
        Ok(None)
    }
}

/// Where each endpoint is mounted. The defaults below; they must match the URLs given to the
/// [`EngineBuilder`](token_engine::EngineBuilder) (`authorization_endpoint`,
/// `token_endpoint`, ...), which the metadata publishes and DPoP proofs name.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Paths {
    /// `/authorize`
    pub authorize: String,
    /// `/authorize/decide`: where the login form posts.
    pub decide: String,
    /// `/token`
    pub token: String,
    /// `/device_authorization`
    pub device_authorization: String,
    /// `/device`: the verification page.
    pub device: String,
    /// `/introspect`
    pub introspect: String,
    /// `/revoke`
    pub revoke: String,
    /// `/userinfo`
    pub userinfo: String,
    /// `/jwks.json`
    pub jwks: String,
    /// `/.well-known/oauth-authorization-server`
    pub oauth_metadata: String,
    /// `/.well-known/openid-configuration`
    pub openid_metadata: String,
    /// `/par`: pushed authorization requests (RFC 9126).
    pub par: String,
    /// `/register`: dynamic client registration (RFC 7591), served by
    /// [`registration_router`].
    pub register: String,
}

impl Default for Paths {
    fn default() -> Self {
        Self {
            authorize: "/authorize".into(),
            decide: "/authorize/decide".into(),
            token: "/token".into(),
            device_authorization: "/device_authorization".into(),
            device: "/device".into(),
            introspect: "/introspect".into(),
            revoke: "/revoke".into(),
            userinfo: "/userinfo".into(),
            jwks: "/jwks.json".into(),
            oauth_metadata: "/.well-known/oauth-authorization-server".into(),
            openid_metadata: "/.well-known/openid-configuration".into(),
            par: "/par".into(),
            register: "/register".into(),
        }
    }
}

/// An authorization server: the engine, the client registry, the application's pages, and
/// optionally a UserInfo source, a password verifier (legacy grant) and a guessing limiter.
/// [`AuthorizationServer::router`] makes the [`Router`].
///
/// ```no_run
/// # use token_engine::{Client, Engine, MemoryStore};
/// # use token_engine_axum::{AuthorizationServer, LoginUi, LoginForm, Submitted};
/// # use axum::response::Response;
/// # struct Pages;
/// # impl LoginUi for Pages {
/// #     async fn login_page(&self, _: &token_engine::AuthorizationRequest, _: &LoginForm) -> Response { todo!() }
/// #     async fn login_submit(&self, _: &token_engine::AuthorizationRequest, _: &Submitted, _: &LoginForm)
/// #         -> Result<token_engine::AuthorizationDecision, Response> { todo!() }
/// # }
/// # async fn demo(engine: Engine<MemoryStore>, clients: Vec<Client>) {
/// let app: axum::Router = AuthorizationServer::new(engine, clients, Pages).router();
/// # }
/// ```
pub struct AuthorizationServer<S, C, U, I = NoUserInfo, P = NoPasswordGrant, L = MemoryLimiter> {
    engine: Engine<S>,
    clients: C,
    ui: U,
    users: I,
    passwords: P,
    limiter: L,
    paths: Paths,
    secure_cookies: bool,
    userinfo: bool,
}

impl<S, C, U> AuthorizationServer<S, C, U> {
    /// A server over `engine` with these clients and pages; no UserInfo, no password grant,
    /// a per-process guessing limiter.
    pub fn new(engine: Engine<S>, clients: C, ui: U) -> Self {
        Self {
            engine,
            clients,
            ui,
            users: NoUserInfo,
            passwords: NoPasswordGrant,
            limiter: MemoryLimiter::default(),
            paths: Paths::default(),
            secure_cookies: true,
            userinfo: false,
        }
    }
}

impl<S, C, U, I, P, L> AuthorizationServer<S, C, U, I, P, L> {
    /// Mount the UserInfo endpoint with the application's user claims.
    pub fn userinfo<I2: UserInfoSource>(self, users: I2) -> AuthorizationServer<S, C, U, I2, P, L> {
        AuthorizationServer {
            engine: self.engine,
            clients: self.clients,
            ui: self.ui,
            users,
            passwords: self.passwords,
            limiter: self.limiter,
            paths: self.paths,
            secure_cookies: self.secure_cookies,
            userinfo: true,
        }
    }

    /// The password verifier of the legacy password grant (the engine must enable it).
    pub fn passwords<P2: PasswordVerifier>(
        self,
        passwords: P2,
    ) -> AuthorizationServer<S, C, U, I, P2, L> {
        AuthorizationServer {
            engine: self.engine,
            clients: self.clients,
            ui: self.ui,
            users: self.users,
            passwords,
            limiter: self.limiter,
            paths: self.paths,
            secure_cookies: self.secure_cookies,
            userinfo: self.userinfo,
        }
    }

    /// The device page's guessing limiter (shared across instances for a global limit).
    pub fn limiter<L2: UserCodeLimiter>(
        self,
        limiter: L2,
    ) -> AuthorizationServer<S, C, U, I, P, L2> {
        AuthorizationServer {
            engine: self.engine,
            clients: self.clients,
            ui: self.ui,
            users: self.users,
            passwords: self.passwords,
            limiter,
            paths: self.paths,
            secure_cookies: self.secure_cookies,
            userinfo: self.userinfo,
        }
    }

    /// Mount the endpoints at these paths.
    #[must_use]
    pub fn paths(mut self, paths: Paths) -> Self {
        self.paths = paths;
        self
    }

    /// Drop the `Secure` attribute of the CSRF cookie: only for a server on plain
    /// `http://127.0.0.1` (a demo). On by default.
    #[must_use]
    pub fn danger_insecure_cookies(mut self) -> Self {
        self.secure_cookies = false;
        self
    }
}

impl<S, C, U, I, P, L> AuthorizationServer<S, C, U, I, P, L>
where
    S: TokenStore + CodeStore + DeviceStore + ReplayStore + 'static,
    C: ClientRegistry + 'static,
    U: LoginUi,
    I: UserInfoSource + 'static,
    P: PasswordVerifier + 'static,
    L: UserCodeLimiter + 'static,
{
    /// Every endpoint, with its CORS preflight (`OPTIONS`, as [`Endpoint::preflight`]
    /// answers it), at [`Paths`]: authorization (with the login page and its form), token,
    /// device authorization and the device page, introspection, revocation, UserInfo (when
    /// a source was given), JWKS, the RFC 8414 and OpenID Connect metadata, and pushed
    /// authorization requests (RFC 9126; servers and native apps push, not browsers: no
    /// CORS). Merge the application's own routes into it, and [`registration_router`] for
    /// dynamic registration.
    pub fn router(self) -> Router {
        let app = Arc::new(self);
        let paths = app.paths.clone();
        macro_rules! call {
            ($method:ident) => {{
                let app = Arc::clone(&app);
                move |request: Request| {
                    let app = Arc::clone(&app);
                    async move { app.$method(request).await }
                }
            }};
        }
        let options = |e: Endpoint| {
            move |request: Request| {
                let (parts, _) = request.into_parts();
                let owned = http::Request::from_parts(parts, Bytes::new());
                core::future::ready(respond(e.preflight(&HttpRequest::from(&owned))))
            }
        };
        let endpoint = |r: MethodRouter, e: Endpoint| r.options(options(e));
        let mut router = Router::new()
            .route(
                &paths.authorize,
                endpoint(
                    get(call!(authorize)).post(call!(authorize)),
                    Endpoint::Authorization,
                ),
            )
            .route(&paths.decide, post(call!(decide)))
            .route(&paths.token, endpoint(post(call!(token)), Endpoint::Token))
            .route(
                &paths.device_authorization,
                endpoint(
                    post(call!(device_authorization)),
                    Endpoint::DeviceAuthorization,
                ),
            )
            .route(
                &paths.device,
                get(call!(device_page)).post(call!(device_submit)),
            )
            .route(
                &paths.introspect,
                endpoint(post(call!(introspect)), Endpoint::Introspection),
            )
            .route(
                &paths.revoke,
                endpoint(post(call!(revoke)), Endpoint::Revocation),
            )
            .route(&paths.par, post(call!(par)))
            .route(&paths.jwks, endpoint(get(call!(jwks)), Endpoint::Jwks))
            .route(
                &paths.oauth_metadata,
                endpoint(get(call!(oauth_metadata)), Endpoint::Metadata),
            )
            .route(
                &paths.openid_metadata,
                endpoint(get(call!(openid_metadata)), Endpoint::Metadata),
            );
        if app.userinfo {
            router = router.route(
                &paths.userinfo,
                endpoint(
                    get(call!(userinfo_call)).post(call!(userinfo_call)),
                    Endpoint::UserInfo,
                ),
            );
        }
        router
    }

    async fn token(&self, request: Request) -> Response {
        with_request(request, async |r| {
            self.engine
                .token_endpoint(&self.clients, &self.passwords, r)
                .await
        })
        .await
    }

    async fn par(&self, request: Request) -> Response {
        with_request(request, async |r| {
            self.engine
                .pushed_authorization_endpoint(&self.clients, r)
                .await
        })
        .await
    }

    async fn device_authorization(&self, request: Request) -> Response {
        with_request(request, async |r| {
            self.engine
                .device_authorization_endpoint(&self.clients, r)
                .await
        })
        .await
    }

    async fn introspect(&self, request: Request) -> Response {
        with_request(request, async |r| {
            self.engine.introspection_endpoint(&self.clients, r).await
        })
        .await
    }

    async fn revoke(&self, request: Request) -> Response {
        with_request(request, async |r| {
            self.engine.revocation_endpoint(&self.clients, r).await
        })
        .await
    }

    async fn userinfo_call(&self, request: Request) -> Response {
        with_request(request, async |r| {
            self.engine.userinfo_endpoint(&self.users, r).await
        })
        .await
    }

    async fn jwks(&self, request: Request) -> Response {
        with_request(request, async |r| self.engine.jwks_endpoint(r)).await
    }

    async fn oauth_metadata(&self, request: Request) -> Response {
        with_request(request, async |r| self.engine.metadata_endpoint(r, false)).await
    }

    async fn openid_metadata(&self, request: Request) -> Response {
        with_request(request, async |r| self.engine.metadata_endpoint(r, true)).await
    }

    fn login_form(&self, raw: String) -> LoginForm {
        LoginForm {
            csrf: CsrfToken::new(),
            request: raw,
            action: self.paths.decide.clone(),
        }
    }

    /// `GET` or `POST` at the authorization endpoint: the library validates; a valid
    /// request gets the application's page (or, with `prompt=none`, its silent answer).
    async fn authorize(&self, request: Request) -> Response {
        let owned = match buffered(request).await {
            Ok(r) => r,
            Err(response) => return response,
        };
        let request = HttpRequest::from(&owned);
        let req = match self
            .engine
            .authorization_request(&self.clients, &request)
            .await
        {
            Ok(req) => req,
            Err(response) => return respond(response),
        };
        if req.prompt_none() {
            let decision = self.ui.silent(&req, owned.headers()).await;
            return respond(self.engine.authorization_response(req, decision).await);
        }
        let raw = if owned.method() == http::Method::POST {
            String::from_utf8_lossy(owned.body()).into_owned()
        } else {
            owned.uri().query().unwrap_or_default().to_owned()
        };
        let form = self.login_form(raw);
        let page = self.ui.login_page(&req, &form).await;
        self.page(page, Some(&form.csrf))
    }

    /// The login form's submission: CSRF, the original request validated again, then the
    /// application's decision, and the library's redirect.
    async fn decide(&self, request: Request) -> Response {
        let submitted = match self.submitted(request).await {
            Ok(s) => s,
            Err(refused) => return refused,
        };
        let raw = submitted.field("request").to_owned();
        let req = match self
            .engine
            .authorization_request(&self.clients, &HttpRequest::get(&raw))
            .await
        {
            Ok(req) => req,
            Err(response) => return respond(response),
        };
        let retry = self.login_form(raw);
        match self.ui.login_submit(&req, &submitted, &retry).await {
            Ok(decision) => respond(self.engine.authorization_response(req, decision).await),
            Err(page) => self.page(page, Some(&retry.csrf)),
        }
    }

    async fn device_page(&self, request: Request) -> Response {
        let query = request.uri().query().unwrap_or_default();
        let user_code = Form::parse(query)
            .ok()
            .and_then(|f| f.get("user_code").map(str::to_owned));
        let form = DeviceForm {
            csrf: CsrfToken::new(),
            action: self.paths.device.clone(),
        };
        let page = self.ui.device_page(user_code.as_deref(), &form).await;
        self.page(page, Some(&form.csrf))
    }

    async fn device_submit(&self, request: Request) -> Response {
        let submitted = match self.submitted(request).await {
            Ok(s) => s,
            Err(refused) => return refused,
        };
        let decision = match self.ui.device_submit(&submitted).await {
            Ok(d) => d,
            Err(page) => return self.page(page, None),
        };
        let user_code = submitted.field("user_code");
        let outcome = if decision.approve {
            self.engine
                .approve_device(
                    user_code,
                    &decision.subject,
                    &self.limiter,
                    &decision.limiter_key,
                )
                .await
        } else {
            self.engine
                .deny_device(user_code, &self.limiter, &decision.limiter_key)
                .await
        };
        if let Err(Error::Store(_)) = &outcome {
            #[cfg(feature = "metrics")]
            crate::metrics::store_error();
        }
        let page = self.ui.device_done(outcome.as_ref());
        self.page(page, None)
    }

    /// A submitted form with its CSRF token matching its cookie, or the refusal: `400` for
    /// a malformed form, `403` for a token that does not match (a cross-site post).
    async fn submitted(&self, request: Request) -> Result<Submitted, Response> {
        let owned = buffered(request).await?;
        let body = core::str::from_utf8(owned.body())
            .map_err(|_| (StatusCode::BAD_REQUEST, "malformed form").into_response())?;
        let form = Form::parse(body)
            .map_err(|_| (StatusCode::BAD_REQUEST, "malformed form").into_response())?;
        if !csrf::matches(owned.headers(), form.get("csrf")) {
            return Err((
                StatusCode::FORBIDDEN,
                "the form expired; go back and try again",
            )
                .into_response());
        }
        Ok(Submitted { form })
    }

    /// A page of the application: the CSRF cookie for its form, and no caching or framing
    /// unless the page says otherwise.
    fn page(&self, mut page: Response, csrf: Option<&CsrfToken>) -> Response {
        let h = page.headers_mut();
        if !h.contains_key(header::CACHE_CONTROL) {
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
        if !h.contains_key(header::X_FRAME_OPTIONS) {
            h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        }
        if let Some(token) = csrf
            && let Ok(cookie) = HeaderValue::from_str(&token.cookie(self.secure_cookies))
        {
            h.append(header::SET_COOKIE, cookie);
        }
        page
    }
}

/// The request with its body read (bounded).
async fn buffered(request: Request) -> Result<http::Request<Bytes>, Response> {
    let (parts, body) = request.into_parts();
    match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(bytes) => Ok(http::Request::from_parts(parts, bytes)),
        Err(_) => Err(StatusCode::PAYLOAD_TOO_LARGE.into_response()),
    }
}

/// Dynamic client registration (RFC 7591) at `path` (`Paths::register`, `/register`):
/// `POST` with the client's metadata as JSON, answered by
/// [`Engine::registration_endpoint`](token_engine::Engine::registration_endpoint) under
/// `policy` (an initial access token, the scopes and grants registered clients may have).
/// Serve the registered clients to the other endpoints with
/// [`RegisteredClients`](token_engine::RegisteredClients) over the same store. A separate
/// router because it needs the store's [`ClientStore`] capability.
pub fn registration_router<S>(engine: Engine<S>, policy: RegistrationPolicy, path: &str) -> Router
where
    S: ClientStore + Send + Sync + 'static,
{
    let state = Arc::new((engine, policy));
    Router::new().route(
        path,
        post(move |request: Request| {
            let state = Arc::clone(&state);
            async move {
                with_request(request, async |r| {
                    state.0.registration_endpoint(&state.1, r).await
                })
                .await
            }
        }),
    )
}

/// One endpoint call over the whole request, its answer written out unchanged.
async fn with_request<F>(request: Request, call: F) -> Response
where
    F: AsyncFnOnce(&HttpRequest<'_>) -> HttpResponse,
{
    let owned = match buffered(request).await {
        Ok(r) => r,
        Err(response) => return response,
    };
    respond(call(&HttpRequest::from(&owned)).await)
}

/// The library's response, written out unchanged.
fn respond(r: HttpResponse) -> Response {
    #[cfg(feature = "metrics")]
    if r.status() == 500 {
        crate::metrics::store_error();
    }
    r.into_http().map(Body::from)
}
