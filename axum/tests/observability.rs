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
use token_engine::{
    Algorithm, Client, Engine, IssueRequest, MemoryStore, RefreshRequest, RefreshSecret, SigningKey,
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
