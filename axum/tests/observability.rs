//! Events into tracing and metrics: one login, two refreshes and the reuse of the first
//! refresh token, through `TracingSink` (captured output, no token material) and `MetricsSink`
//! (counters), and the layer's verify-latency histogram.

#![cfg(all(feature = "tracing", feature = "metrics"))]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use token_engine::event::{CollectingSink, EventSink};
use token_engine::store::{CasOutcome, FamilyRecord, InsertOutcome, OperationId, ReplayStore};
use token_engine::{
    Algorithm, Client, Engine, FamilyId, IssueRequest, MemoryStore, PolicyVersion, RefreshRequest,
    RefreshSecret, RevocationReason, SigningKey, TokenStore,
};
use token_engine_axum::{Claims, MetricsSink, ResourceServer, TracingSink};
use tower::ServiceExt;

/// Every sink at once: tracing, metrics, and a collector for the test.
struct Fanout(Vec<Arc<dyn EventSink>>);

impl EventSink for Fanout {
    fn record(&self, event: &token_engine::event::Event) {
        for s in &self.0 {
            s.record(event);
        }
    }
}

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_login_refresh_reuse_sequence_in_tracing_and_metrics() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install().unwrap();
    let out = Buffer::default();
    let writer = out.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .without_time()
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let collected = Arc::new(CollectingSink::new());
    let engine = Engine::builder()
        .issuer("https://auth.example.com")
        .audience("https://api.example.com")
        .signing_key(SigningKey::generate(Algorithm::EdDSA).unwrap().0)
        .refresh_secret(RefreshSecret::from_bytes(&[5; 32]).unwrap())
        .events(Arc::new(Fanout(vec![
            Arc::new(TracingSink),
            Arc::new(MetricsSink),
            collected.clone(),
        ])))
        .build(MemoryStore::new())
        .unwrap();
    let client = Client::new("web-app").allow_scopes(["orders"]);
    let login = engine
        .issue(&client, IssueRequest::new("user-alice").scope("orders"))
        .await
        .unwrap();
    let first = login.refresh_token.as_ref().unwrap();
    let second = engine
        .refresh(&client, first.expose_secret(), RefreshRequest::default())
        .await
        .unwrap();
    let third = engine
        .refresh(
            &client,
            second.refresh_token.as_ref().unwrap().expose_secret(),
            RefreshRequest::default(),
        )
        .await
        .unwrap();
    // The first refresh token again, two generations old: reuse, the session is revoked.
    let reuse = engine
        .refresh(&client, first.expose_secret(), RefreshRequest::default())
        .await;
    assert!(reuse.is_err());

    // The layer verifies a token of the revoked session: refused, its latency recorded.
    let api = ResourceServer::new(engine.clone(), "https://api.example.com");
    let app = Router::new().route(
        "/orders",
        get(|c: Claims| async move { c.sub.clone().unwrap_or_default().to_string() })
            .route_layer(api.require()),
    );
    let auth = format!("Bearer {}", third.access_token);
    let r = app
        .oneshot(
            http::Request::get("/orders")
                .header("authorization", auth)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    println!("{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("INFO") && l.contains("event=\"issued\"")),
        "{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("DEBUG") && l.contains("event=\"refreshed\"")),
        "{text}"
    );
    assert!(
        lines.iter().any(|l| l.contains("ERROR")
            && l.contains("event=\"reuse_detected\"")
            && l.contains("subject=user-alice")),
        "{text}"
    );
    assert!(
        lines.iter().any(|l| l.contains("WARN")
            && l.contains("event=\"family_revoked\"")
            && l.contains("reason=\"ReuseDetected\"")),
        "{text}"
    );
    // One line per event the engine reported.
    let events = collected.events();
    let ours = lines.iter().filter(|l| l.contains("token_engine:")).count();
    assert_eq!(ours, events.len(), "{text}");
    // No token material: no token, and no segment of one.
    let mut secrets = vec![
        login.access_token.clone(),
        second.access_token.clone(),
        third.access_token.clone(),
        first.expose_secret().to_owned(),
        second
            .refresh_token
            .as_ref()
            .unwrap()
            .expose_secret()
            .to_owned(),
        third
            .refresh_token
            .as_ref()
            .unwrap()
            .expose_secret()
            .to_owned(),
    ];
    let segments: Vec<String> = secrets
        .iter()
        .flat_map(|t| t.split(['.', '_']).map(str::to_owned).collect::<Vec<_>>())
        .filter(|s| s.len() >= 12)
        .collect();
    secrets.extend(segments);
    for s in &secrets {
        assert!(!text.contains(s.as_str()), "token material in the log: {s}");
    }

    // The counters and the histogram.
    let metrics: Vec<(String, DebugValue)> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(k, _, _, v)| {
            let key = k.key();
            let labels: Vec<String> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            (format!("{}{{{}}}", key.name(), labels.join(",")), v)
        })
        .collect();
    let counter = |name: &str| {
        metrics
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| match v {
                DebugValue::Counter(n) => *n,
                other => panic!("{name}: {other:?}"),
            })
            .unwrap_or(0)
    };
    assert_eq!(counter("token_engine_issued_total{}"), 1, "{metrics:?}");
    assert_eq!(counter("token_engine_refreshed_total{}"), 2, "{metrics:?}");
    assert_eq!(
        counter("token_engine_reuse_detected_total{possible_repeat=false}"),
        1,
        "{metrics:?}"
    );
    assert_eq!(
        counter("token_engine_revoked_total{reason=ReuseDetected}"),
        1,
        "{metrics:?}"
    );
    let verify = metrics
        .iter()
        .find(|(k, _)| k == "token_engine_verify_seconds{outcome=refused}")
        .map(|(_, v)| v);
    assert!(
        matches!(verify, Some(DebugValue::Histogram(v)) if v.len() == 1),
        "{metrics:?}"
    );
}

/// A `MemoryStore` whose every call fails while `down` is set: the database is unreachable.
#[derive(Clone, Default)]
struct Down {
    store: MemoryStore,
    down: Arc<std::sync::atomic::AtomicBool>,
}

impl Down {
    fn check(&self) -> Result<(), std::io::Error> {
        if self.down.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(std::io::Error::other("store unreachable"));
        }
        Ok(())
    }
}

fn never<T>(r: Result<T, std::convert::Infallible>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => match e {},
    }
}

impl TokenStore for Down {
    type Error = std::io::Error;

    async fn create_family(&self, r: &FamilyRecord) -> Result<InsertOutcome, std::io::Error> {
        self.check()?;
        Ok(never(self.store.create_family(r).await))
    }
    async fn load_family(&self, id: &FamilyId) -> Result<Option<FamilyRecord>, std::io::Error> {
        self.check()?;
        Ok(never(self.store.load_family(id).await))
    }
    async fn compare_and_swap_family(
        &self,
        expected: u64,
        r: &FamilyRecord,
    ) -> Result<CasOutcome, std::io::Error> {
        self.check()?;
        Ok(never(self.store.compare_and_swap_family(expected, r).await))
    }
    async fn list_families(&self, subject: &str) -> Result<Vec<FamilyRecord>, std::io::Error> {
        self.check()?;
        Ok(never(self.store.list_families(subject).await))
    }
    async fn revoke_subject(
        &self,
        subject: &str,
        reason: RevocationReason,
        at: i64,
        operation: OperationId,
    ) -> Result<u64, std::io::Error> {
        self.check()?;
        Ok(never(
            self.store
                .revoke_subject(subject, reason, at, operation)
                .await,
        ))
    }
    async fn load_policy(&self, t: Option<&str>) -> Result<Option<PolicyVersion>, std::io::Error> {
        self.check()?;
        Ok(never(self.store.load_policy(t).await))
    }
    async fn save_policy(
        &self,
        t: Option<&str>,
        v: Option<PolicyVersion>,
    ) -> Result<(), std::io::Error> {
        self.check()?;
        never(self.store.save_policy(t, v).await);
        Ok(())
    }
    async fn delete_expired(&self, now: i64) -> Result<u64, std::io::Error> {
        self.check()?;
        Ok(never(self.store.delete_expired(now).await))
    }
}

impl ReplayStore for Down {
    async fn insert_replay_id(
        &self,
        id: &[u8; 32],
        expires_at: i64,
        now: i64,
    ) -> Result<InsertOutcome, std::io::Error> {
        self.check()?;
        Ok(never(
            self.store.insert_replay_id(id, expires_at, now).await,
        ))
    }
}

/// A check the store cannot answer is the server's failure: `500`, counted in
/// `token_engine_store_errors_total` (and a refused verify in the latency histogram); a token
/// refused on its merits is not a store error.
#[test]
fn a_store_failure_in_the_layer_is_counted_as_a_store_error() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = Down::default();
    let engine = Engine::builder()
        .issuer("https://auth.example.com")
        .audience("https://api.example.com")
        .signing_key(SigningKey::generate(Algorithm::EdDSA).unwrap().0)
        .refresh_secret(RefreshSecret::from_bytes(&[5; 32]).unwrap())
        .build(store.clone())
        .unwrap();
    let api = ResourceServer::new(engine.clone(), "https://api.example.com");
    let app = Router::new().route(
        "/orders",
        get(|c: Claims| async move { c.sub.clone().unwrap_or_default().to_string() })
            .route_layer(api.require()),
    );
    let call = |auth: String| {
        let app = app.clone();
        async move {
            app.oneshot(
                http::Request::get("/orders")
                    .header("authorization", auth)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap()
            .status()
        }
    };
    let statuses = metrics::with_local_recorder(&recorder, || {
        runtime.block_on(async {
            let client = Client::new("web-app").allow_scopes(["orders"]);
            let login = engine
                .issue(&client, IssueRequest::new("user-alice").scope("orders"))
                .await
                .unwrap();
            let auth = format!("Bearer {}", login.access_token);
            let up = call(auth.clone()).await;
            let bad = call("Bearer not.a.jwt".to_owned()).await;
            store.down.store(true, std::sync::atomic::Ordering::SeqCst);
            let down = call(auth).await;
            (up, bad, down)
        })
    });
    assert_eq!(
        statuses,
        (
            http::StatusCode::OK,
            http::StatusCode::UNAUTHORIZED,
            http::StatusCode::INTERNAL_SERVER_ERROR
        )
    );
    let snapshot = snapshotter.snapshot().into_hashmap();
    let value = |name: &str, label: Option<(&str, &str)>| {
        snapshot
            .iter()
            .find(|(k, _)| {
                let key = k.key();
                key.name() == name
                    && label
                        .is_none_or(|(n, v)| key.labels().any(|l| l.key() == n && l.value() == v))
            })
            .map(|(_, (_, _, v))| v)
    };
    assert!(
        matches!(
            value("token_engine_store_errors_total", None),
            Some(DebugValue::Counter(1))
        ),
        "{snapshot:?}"
    );
    assert!(
        matches!(
            value("token_engine_verify_seconds", Some(("outcome", "refused"))),
            Some(DebugValue::Histogram(v)) if v.len() == 2
        ),
        "{snapshot:?}"
    );
}
