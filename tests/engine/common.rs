//! Shared helpers: a harness (engine + manual clock + collecting sink), the standard clients,
//! and the check that no event carries token material.

use std::sync::{Arc, Mutex};

use base64::Engine as _;
use serde::Deserialize;
use time::Duration;
use token_engine::event::{CollectingSink, Event};
use token_engine::{
    AccessTokenClaims, Algorithm, Client, Engine, EngineBuilder, Error, FamilyId, IssueRequest,
    ManualClock, MemoryStore, RefreshKeys, RefreshRequest, RefreshSecret, RevocationOutcome,
    SigningKey, TokenResponse,
};

pub const ISS: &str = "https://auth.example.com";
pub const AUD: &str = "https://api.example.com";
/// 2024-05-03T20:26:40Z.
pub const NOW: i64 = 1_714_768_000;
pub const SUBJECT: &str = "user-42";
pub const SECRET: [u8; 32] = [7; 32];
/// Default access-token lifetime, in seconds.
pub const ACCESS_TTL: i64 = 15 * 60;
/// Default verifier leeway, in seconds.
pub const LEEWAY: i64 = 30;

/// The client the tests log in with: may have `read` and `write`.
pub fn client() -> Client {
    Client::new("app").allow_scopes(["read", "write"])
}

/// Another client with the same scopes.
pub fn other_client() -> Client {
    Client::new("intruder").allow_scopes(["read", "write"])
}

/// A builder with every required setting, reading `clock` and reporting to `sink`. Strict
/// mode (`reuse_grace` 0), so an immediate replay is reuse; tests of the grace window and of
/// the default set their own.
pub fn builder(clock: &ManualClock, sink: &Arc<CollectingSink>) -> EngineBuilder {
    Engine::builder()
        .reuse_grace(Duration::ZERO)
        .issuer(ISS)
        .audience(AUD)
        .signing_key(SigningKey::generate(Algorithm::EdDSA).unwrap().0)
        .refresh_secret(RefreshSecret::from_bytes(&SECRET).unwrap())
        .clock(clock.clone())
        .events(Arc::clone(sink))
}

/// The application claims the tests put in access tokens.
#[derive(Debug, Default, PartialEq, Eq, Deserialize)]
pub struct App {
    pub role: String,
    pub tenant_id: String,
}

/// An engine at [`NOW`] with its clock, its events, and every token it handed out (for the
/// token-material check, which also runs on drop over the events nobody took).
pub struct Harness {
    pub engine: Engine<MemoryStore>,
    pub clock: ManualClock,
    sink: Arc<CollectingSink>,
    tokens: Mutex<Vec<String>>,
}

impl Harness {
    /// The default configuration.
    pub fn new() -> Self {
        Self::with(|b| b)
    }

    /// The default configuration changed by `f`.
    pub fn with(f: impl FnOnce(EngineBuilder) -> EngineBuilder) -> Self {
        let clock = ManualClock::new(NOW);
        let sink = Arc::new(CollectingSink::new());
        let engine = f(builder(&clock, &sink)).build(MemoryStore::new()).unwrap();
        Self {
            engine,
            clock,
            sink,
            tokens: Mutex::new(Vec::new()),
        }
    }

    /// `engine.issue`, remembering the tokens.
    pub async fn issue(&self, client: &Client, req: IssueRequest) -> Result<TokenResponse, Error> {
        let r = self.engine.issue(client, req).await;
        if let Ok(r) = &r {
            self.remember_response(r);
        }
        r
    }

    /// Issue for [`SUBJECT`] on [`client`] with the defaults; must succeed.
    pub async fn login(&self) -> TokenResponse {
        self.issue(&client(), IssueRequest::new(SUBJECT))
            .await
            .unwrap()
    }

    /// `engine.refresh`, remembering the tokens.
    pub async fn refresh(
        &self,
        client: &Client,
        token: &str,
        req: RefreshRequest,
    ) -> Result<TokenResponse, Error> {
        self.remember(token);
        let r = self.engine.refresh(client, token, req).await;
        if let Ok(r) = &r {
            self.remember_response(r);
        }
        r
    }

    /// Refresh on [`client`] with no options; must succeed.
    pub async fn rotate(&self, token: &str) -> TokenResponse {
        self.refresh(&client(), token, RefreshRequest::default())
            .await
            .unwrap()
    }

    /// Revoke `token` on [`client`]; it must revoke its family.
    pub async fn revoke_ok(&self, token: &str) {
        let out = self.engine.revoke(&client(), token).await.unwrap();
        assert!(matches!(out, RevocationOutcome::Revoked { .. }), "{out:?}");
    }

    /// Remember a token (or token-like string) that must never appear in an event.
    pub fn remember(&self, token: &str) {
        self.tokens.lock().unwrap().push(token.to_owned());
    }

    fn remember_response(&self, r: &TokenResponse) {
        self.remember(&r.access_token);
        if let Some(rt) = &r.refresh_token {
            self.remember(rt.expose_secret());
        }
    }

    /// Move the clock.
    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    /// Set the clock to `NOW + secs`.
    pub fn at(&self, secs: i64) {
        self.clock.set(NOW + secs);
    }

    /// Take the events so far, after checking that none carries token material.
    pub fn events(&self) -> Vec<Event> {
        let events = self.sink.take();
        assert_no_token_material(&events, &self.tokens.lock().unwrap());
        events
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let tokens = self.tokens.lock().unwrap().clone();
            assert_no_token_material(&self.sink.events(), &tokens);
        }
    }
}

/// Fails if the `{:?}` form of any event contains a token, a segment of one, or any
/// 20-character window of one (needles under 8 characters are skipped).
pub fn assert_no_token_material(events: &[Event], tokens: &[String]) {
    let printed: Vec<String> = events.iter().map(|e| format!("{e:?}")).collect();
    for token in tokens {
        // Strings this short are not token material ("", "a.b.c"); every real token and
        // segment is far longer.
        let mut needles: Vec<&str> = vec![token.as_str()];
        needles.extend(token.split('.'));
        needles.retain(|n| n.len() >= 8);
        let bytes = token.as_bytes();
        if bytes.len() >= 20 {
            needles.extend((0..=bytes.len() - 20).filter_map(|i| token.get(i..i + 20)));
        }
        for (event, text) in events.iter().zip(&printed) {
            for needle in &needles {
                assert!(
                    !text.contains(needle),
                    "event {event:?} contains token material {needle:?}"
                );
            }
        }
    }
}

/// The refresh token of a response, as text.
pub fn rt(r: &TokenResponse) -> &str {
    r.refresh_token
        .as_ref()
        .expect("a refresh token")
        .expose_secret()
}

/// The family a refresh token names, read with the tests' copy of the refresh secret.
pub fn family_of(refresh_token: &str) -> FamilyId {
    RefreshKeys::new(RefreshSecret::from_bytes(&SECRET).unwrap())
        .parse(refresh_token)
        .unwrap()
        .family()
}

/// The generation of a refresh token.
pub fn generation_of(refresh_token: &str) -> u32 {
    RefreshKeys::new(RefreshSecret::from_bytes(&SECRET).unwrap())
        .parse(refresh_token)
        .unwrap()
        .generation()
}

/// The access token's claims through the engine's verifier (signature and time checked).
pub fn claims(h: &Harness, access_token: &str) -> AccessTokenClaims<'static> {
    h.engine.verifier().verify(access_token).unwrap()
}

/// The access token's `sid` as a family id.
pub fn sid(h: &Harness, access_token: &str) -> FamilyId {
    FamilyId::parse(claims(h, access_token).sid.as_deref().expect("a sid")).unwrap()
}

/// A refresh token with one character of its tag changed: well formed, but the tag no
/// longer verifies.
pub fn tampered(token: &str) -> String {
    let at = token.len() - 4;
    let old = &token[at..=at];
    let new = if old == "A" { "B" } else { "A" };
    format!("{}{new}{}", &token[..at], &token[at + 1..])
}

/// An access token with one signature character changed.
pub fn tampered_jwt(token: &str) -> String {
    let (head, sig) = token.rsplit_once('.').unwrap();
    let mut sig = sig.to_owned();
    let first = sig.remove(0);
    sig.insert(0, if first == 'A' { 'B' } else { 'A' });
    format!("{head}.{sig}")
}

/// A token-endpoint style request: `POST` with a form body (and its content type) and, when
/// given, an `Authorization` header.
pub fn form_post<'a>(
    body: &'a str,
    authorization: Option<&'a str>,
) -> token_engine::HttpRequest<'a> {
    let r = token_engine::HttpRequest::post(body)
        .header("Content-Type", "application/x-www-form-urlencoded");
    match authorization {
        Some(a) => r.header("Authorization", a),
        None => r,
    }
}

/// The resource the DPoP tests call.
pub const API: &str = "https://api.example.com/orders";

/// A client's DPoP key pair and its public JWK.
pub struct Holder {
    pub key: SigningKey,
    pub jwk: serde_json::Value,
}

pub fn holder(alg: Algorithm) -> Holder {
    let key = SigningKey::generate(alg).unwrap().0;
    let jwk = serde_json::to_value(key.verifying_key().to_jwk().unwrap()).unwrap();
    Holder { key, jwk }
}

pub fn b64(v: &serde_json::Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

pub fn sign(key: &SigningKey, header: &serde_json::Value, payload: &serde_json::Value) -> String {
    let input = format!("{}.{}", b64(header), b64(payload));
    let sig = key.sign(input.as_bytes()).unwrap();
    format!(
        "{input}.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sig)
    )
}

impl Holder {
    pub fn header(&self) -> serde_json::Value {
        serde_json::json!({"typ": "dpop+jwt", "alg": self.key.alg().name(), "jwk": self.jwk})
    }

    pub fn claims(&self, htm: &str, htu: &str, iat: i64, jti: &str) -> serde_json::Value {
        serde_json::json!({"jti": jti, "htm": htm, "htu": htu, "iat": iat})
    }

    pub fn proof(&self, htm: &str, htu: &str, iat: i64, jti: &str) -> String {
        sign(&self.key, &self.header(), &self.claims(htm, htu, iat, jti))
    }

    pub fn resource_proof(&self, access_token: &str, jti: &str) -> String {
        self.proof_for("GET", API, access_token, jti)
    }

    /// A proof for a request to a resource at `htu` with `access_token`.
    pub fn proof_for(&self, htm: &str, htu: &str, access_token: &str, jti: &str) -> String {
        let mut c = self.claims(htm, htu, NOW, jti);
        c["ath"] = token_engine::dpop::access_token_hash(access_token).into();
        sign(&self.key, &self.header(), &c)
    }

    pub fn jkt(&self) -> String {
        self.key.verifying_key().thumbprint().unwrap()
    }
}

/// A `MemoryStore` whose next code or client insert is re-sent, as a store whose connection
/// dropped after the first attempt committed re-sends it: the first attempt is stored, and the
/// caller gets the re-sent insert's answer, `Exists` (it found the first attempt).
#[derive(Debug, Default)]
pub struct Resending {
    pub inner: MemoryStore,
    /// Re-send the next `insert_code`.
    pub code: std::sync::atomic::AtomicBool,
    /// Re-send the next `insert_client`.
    pub client: std::sync::atomic::AtomicBool,
}

impl Resending {
    /// An engine from `f` of the common builder over a fresh `Resending` store, and the store.
    pub fn engine(
        f: impl FnOnce(EngineBuilder) -> EngineBuilder,
    ) -> (Engine<Arc<Self>>, Arc<Self>) {
        let store = Arc::new(Self::default());
        let engine = f(builder(
            &ManualClock::new(NOW),
            &Arc::new(CollectingSink::new()),
        ))
        .build(Arc::clone(&store))
        .unwrap();
        (engine, store)
    }
}

mod resending {
    use std::convert::Infallible;
    use std::sync::atomic::Ordering;

    use token_engine::family::{FamilyRecord, OperationId};
    use token_engine::store::{
        CasOutcome, ClientRecord, ClientStore, CodeRecord, CodeStore, InsertOutcome, ReplayStore,
    };
    use token_engine::{FamilyId, PolicyVersion, RevocationReason, TokenStore};

    use super::Resending;

    impl TokenStore for Resending {
        type Error = Infallible;
        async fn create_family(&self, r: &FamilyRecord) -> Result<InsertOutcome, Infallible> {
            self.inner.create_family(r).await
        }
        async fn load_family(&self, id: &FamilyId) -> Result<Option<FamilyRecord>, Infallible> {
            self.inner.load_family(id).await
        }
        async fn compare_and_swap_family(
            &self,
            v: u64,
            r: &FamilyRecord,
        ) -> Result<CasOutcome, Infallible> {
            self.inner.compare_and_swap_family(v, r).await
        }
        async fn list_families(&self, s: &str) -> Result<Vec<FamilyRecord>, Infallible> {
            self.inner.list_families(s).await
        }
        async fn revoke_subject(
            &self,
            s: &str,
            reason: RevocationReason,
            at: i64,
            op: OperationId,
        ) -> Result<u64, Infallible> {
            self.inner.revoke_subject(s, reason, at, op).await
        }
        async fn load_policy(&self, t: Option<&str>) -> Result<Option<PolicyVersion>, Infallible> {
            self.inner.load_policy(t).await
        }
        async fn save_policy(
            &self,
            t: Option<&str>,
            v: Option<PolicyVersion>,
        ) -> Result<(), Infallible> {
            self.inner.save_policy(t, v).await
        }
        async fn delete_expired(&self, now: i64) -> Result<u64, Infallible> {
            self.inner.delete_expired(now).await
        }
    }

    impl CodeStore for Resending {
        async fn insert_code(&self, code: &CodeRecord) -> Result<InsertOutcome, Infallible> {
            let first = self.inner.insert_code(code).await?;
            if self.code.swap(false, Ordering::SeqCst) {
                assert_eq!(first, InsertOutcome::Inserted);
                return self.inner.insert_code(code).await;
            }
            Ok(first)
        }
        async fn take_code(&self, key: &[u8; 32]) -> Result<Option<CodeRecord>, Infallible> {
            self.inner.take_code(key).await
        }
    }

    impl ReplayStore for Resending {
        async fn insert_replay_id(
            &self,
            id: &[u8; 32],
            expires_at: i64,
            now: i64,
        ) -> Result<InsertOutcome, Infallible> {
            self.inner.insert_replay_id(id, expires_at, now).await
        }
    }

    impl ClientStore for Resending {
        async fn insert_client(&self, record: &ClientRecord) -> Result<InsertOutcome, Infallible> {
            let first = self.inner.insert_client(record).await?;
            if self.client.swap(false, Ordering::SeqCst) {
                assert_eq!(first, InsertOutcome::Inserted);
                return self.inner.insert_client(record).await;
            }
            Ok(first)
        }
        async fn load_client(&self, client_id: &str) -> Result<Option<ClientRecord>, Infallible> {
            self.inner.load_client(client_id).await
        }
    }
}
