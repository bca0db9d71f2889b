//! The resource server's key source, against a scripted fetch: rotation picked up on the first
//! token with the new `kid`, single-flight under concurrency, the cooldown under a flood of
//! made-up `kid`s, failures, timeouts, oversized and malformed documents keeping the old keys,
//! removed keys ceasing to verify, and the lifetime schedule.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use time::Duration;
use token_engine::event::{CollectingSink, Event};
use token_engine::jwks::{JwksFailure, RefreshTrigger};
use token_engine::jwks::{JwksFetchError, JwksFetcher, JwksResponse};
use token_engine::{
    AccessTokenClaims, Algorithm, Error, JwksOptions, JwksSource, JwtRules, KeyError, KeySet,
    ManualClock, SigningKey, TokenError, Validation,
};

const ISS: &str = "https://auth.example.com";
const AUD: &str = "https://api.example.com";
const URL: &str = "https://auth.example.com/.well-known/jwks.json";
const NOW: i64 = 1_800_000_000;

/// What the scripted issuer answers to the next fetch.
#[derive(Clone, Debug)]
enum Answer {
    /// The issuer's current JWK Set, with this `Cache-Control`.
    Keys(Option<&'static str>),
    /// A failed request.
    Fail,
    /// A request that never completes.
    Hang,
    /// This body.
    Body(Vec<u8>),
}

#[derive(Debug, thiserror::Error)]
#[error("connection refused")]
struct Refused;

/// The issuer side: a key set and what its `jwks_uri` answers, counting requests.
struct Issuer {
    keys: KeySet,
    answer: Mutex<Answer>,
    calls: AtomicUsize,
    /// While set, fetches wait for `gate` permits before answering.
    gated: AtomicBool,
    gate: tokio::sync::Semaphore,
}

impl Issuer {
    fn new(kid: &str) -> Arc<Self> {
        Arc::new(Self {
            keys: KeySet::new(key(kid)),
            answer: Mutex::new(Answer::Keys(None)),
            calls: AtomicUsize::new(0),
            gated: AtomicBool::new(false),
            gate: tokio::sync::Semaphore::new(0),
        })
    }

    fn answer(&self, answer: Answer) {
        *self.answer.lock().unwrap() = answer;
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn token(&self) -> String {
        self.keys.sign_access_token(&claims()).unwrap()
    }
}

#[derive(Clone)]
struct Fetcher(Arc<Issuer>);

impl JwksFetcher for Fetcher {
    type Error = Refused;

    async fn fetch(&self, url: &str) -> Result<JwksResponse, Refused> {
        assert_eq!(url, URL);
        self.0.calls.fetch_add(1, Ordering::SeqCst);
        if self.0.gated.load(Ordering::SeqCst) {
            self.0.gate.acquire().await.unwrap().forget();
        }
        let answer = self.0.answer.lock().unwrap().clone();
        match answer {
            Answer::Keys(cache_control) => {
                let body = serde_json::to_vec(&self.0.keys.jwks()).unwrap();
                let response = JwksResponse::new(body);
                Ok(match cache_control {
                    Some(cc) => response.cache_control(cc),
                    None => response,
                })
            }
            Answer::Fail => Err(Refused),
            Answer::Hang => std::future::pending().await,
            Answer::Body(body) => Ok(JwksResponse::new(body)),
        }
    }

    async fn sleep(&self, duration: StdDuration) {
        tokio::time::sleep(duration).await;
    }
}

fn key(kid: &str) -> SigningKey {
    SigningKey::generate(Algorithm::ES256)
        .unwrap()
        .0
        .with_kid(kid)
}

fn claims() -> AccessTokenClaims<'static> {
    let mut c = AccessTokenClaims::default();
    c.iss = Some(ISS.into());
    c.sub = Some("user123456".into());
    c.aud = Some(AUD.into());
    c.client_id = Some("client_app_123".into());
    c.jti = Some("abcd1234".into());
    c.iat = Some(NOW);
    c.exp = Some(NOW + 900);
    c
}

/// A source over `issuer` reading `clock`, reporting to `sink`.
async fn source(
    issuer: &Arc<Issuer>,
    clock: &ManualClock,
    sink: &Arc<CollectingSink>,
) -> JwksSource<Fetcher> {
    JwksSource::builder(URL, Fetcher(Arc::clone(issuer)), Validation::new(ISS, AUD))
        .clock(clock.clone())
        .events(Arc::clone(sink) as _)
        .build()
        .await
        .unwrap()
}

fn reason(r: Result<AccessTokenClaims<'static>, Error>) -> TokenError {
    match r {
        Err(Error::InvalidToken(reason)) => reason,
        other => panic!("{other:?}"),
    }
}

/// A token whose header names `kid`, signed by a key nobody publishes.
fn stranger(kid: &str) -> String {
    let header = format!(r#"{{"alg":"ES256","typ":"at+jwt","kid":"{kid}"}}"#);
    let payload = serde_json::to_vec(&claims()).unwrap();
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let sig = key(kid).sign(input.as_bytes()).unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

#[tokio::test]
async fn rotation_at_the_issuer_is_picked_up_on_the_first_token_with_the_new_kid() {
    let (issuer, clock, sink) = (
        Issuer::new("2026-10"),
        ManualClock::new(NOW),
        Arc::new(CollectingSink::new()),
    );
    let source = source(&issuer, &clock, &sink).await;
    assert_eq!(issuer.calls(), 1);
    let old = issuer.token();
    assert!(source.verify(&old).await.is_ok());
    assert_eq!(issuer.calls(), 1, "known keys never fetch");

    issuer.keys.rotate(key("2026-11")).unwrap();
    let new = issuer.token();
    // The synchronous verifier does not know the key yet ...
    assert_eq!(
        reason(source.verifier().verify(&new)),
        TokenError::UnknownKeyId
    );
    // ... the source fetches once and verifies.
    let claims = source.verify(&new).await.unwrap();
    assert_eq!(claims.sub.as_deref(), Some("user123456"));
    assert_eq!(issuer.calls(), 2);
    assert!(source.verifier().verify(&new).is_ok());
    assert!(source.verify(&old).await.is_ok());
    assert_eq!(issuer.calls(), 2);
    let refreshed: Vec<_> = sink
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::JwksRefreshed { trigger, keys, .. } => Some((trigger, keys)),
            _ => None,
        })
        .collect();
    assert_eq!(
        refreshed,
        [
            (RefreshTrigger::Initial, 1),
            (RefreshTrigger::UnknownKeyId, 2)
        ]
    );

    // Another rotation within the cooldown of that fetch waits for the cooldown to pass.
    issuer.keys.rotate(key("2026-12")).unwrap();
    assert_eq!(
        reason(source.verify(&issuer.token()).await),
        TokenError::UnknownKeyId
    );
    assert_eq!(issuer.calls(), 2);
    clock.advance(Duration::seconds(30));
    // The other entry points refetch too: borrowed claims, and JWTs under other rules.
    let mut buf = Vec::new();
    let c = source
        .verify_borrowed::<token_engine::jose::NoCustomClaims>(&issuer.token(), &mut buf)
        .await
        .unwrap();
    assert_eq!(c.client_id.as_deref(), Some("client_app_123"));
    assert_eq!(issuer.calls(), 3);
    clock.advance(Duration::seconds(31));
    issuer.keys.rotate(key("2027-01")).unwrap();
    let id_token = token_engine::jose::sign_compact(
        &issuer.keys.signing_key(),
        Some("JWT"),
        br#"{"iss":"https://auth.example.com","aud":"app","exp":1800000900}"#,
    )
    .unwrap();
    let rules = JwtRules::new().issuer(ISS).audience("app").typ("JWT");
    assert!(
        source
            .verify_jwt::<token_engine::jose::NoCustomClaims>(&id_token, &rules)
            .await
            .is_ok()
    );
    assert_eq!(issuer.calls(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_concurrent_verifications_with_an_unknown_kid_cause_one_fetch() {
    let (issuer, clock, sink) = (
        Issuer::new("old"),
        ManualClock::new(NOW),
        Arc::new(CollectingSink::new()),
    );
    // No cooldown: only single-flight stands between the misses and a thousand fetches.
    let source = JwksSource::builder(URL, Fetcher(Arc::clone(&issuer)), Validation::new(ISS, AUD))
        .clock(clock.clone())
        .events(Arc::clone(&sink) as _)
        .cooldown(Duration::ZERO)
        .build()
        .await
        .unwrap();
    issuer.keys.rotate(key("new")).unwrap();
    let token = Arc::new(issuer.token());
    issuer.gated.store(true, Ordering::SeqCst);
    let entered = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let (source, token, entered) =
                (source.clone(), Arc::clone(&token), Arc::clone(&entered));
            tokio::spawn(async move {
                entered.fetch_add(1, Ordering::SeqCst);
                source.verify(&token).await
            })
        })
        .collect();
    // Hold the fetch until every verification has missed and is waiting.
    while entered.load(Ordering::SeqCst) < 1000 {
        tokio::time::sleep(StdDuration::from_millis(5)).await;
    }
    tokio::time::sleep(StdDuration::from_millis(200)).await;
    assert_eq!(issuer.calls(), 2, "one fetch under way for all of them");
    issuer.gate.add_permits(1000);
    for t in tasks {
        assert!(t.await.unwrap().is_ok());
    }
    assert_eq!(issuer.calls(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_random_kids_costs_at_most_one_fetch_per_cooldown() {
    let (issuer, clock, sink) = (
        Issuer::new("real"),
        ManualClock::new(NOW),
        Arc::new(CollectingSink::new()),
    );
    let source = source(&issuer, &clock, &sink).await;
    let good = issuer.token();
    // Ten simulated minutes; each second, 20 tokens with fresh made-up kids, concurrently.
    let seconds = 600;
    for second in 0..seconds {
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let (source, token) = (source.clone(), stranger(&format!("kid-{second}-{i}")));
                tokio::spawn(async move { source.verify(&token).await })
            })
            .collect();
        for t in tasks {
            assert_eq!(reason(t.await.unwrap()), TokenError::UnknownKeyId);
        }
        if second % 100 == 0 {
            assert!(source.verify(&good).await.is_ok());
        }
        clock.advance(Duration::SECOND);
    }
    // The initial fetch, then one per 30 s cooldown at most.
    let fetches = issuer.calls();
    eprintln!(
        "{} tokens with made-up kids over {seconds} s: {fetches} fetches",
        seconds * 20
    );
    assert!(fetches <= 1 + seconds / 30 + 1, "{fetches} fetches");
    assert!(
        fetches >= seconds / 30,
        "{fetches} fetches: the cooldown should allow some"
    );
}

#[tokio::test(start_paused = true)]
async fn failures_timeouts_oversized_and_malformed_documents_keep_the_old_keys() {
    let (issuer, clock, sink) = (
        Issuer::new("k1"),
        ManualClock::new(NOW),
        Arc::new(CollectingSink::new()),
    );
    let source = JwksSource::builder(URL, Fetcher(Arc::clone(&issuer)), Validation::new(ISS, AUD))
        .clock(clock.clone())
        .events(Arc::clone(&sink) as _)
        .fetch_timeout(Duration::seconds(2))
        .options(JwksOptions::new().max_bytes(4096))
        .build()
        .await
        .unwrap();
    let token = issuer.token();
    let p521_only = br#"{"keys":[{"kty":"EC","crv":"P-521","kid":"p","x":"AA","y":"AA"}]}"#;
    let cases: Vec<(Answer, JwksFailure)> = vec![
        (Answer::Fail, JwksFailure::Fetch),
        (Answer::Hang, JwksFailure::TimedOut),
        (
            Answer::Body(vec![b' '; 4097]),
            JwksFailure::Document(KeyError::TooLarge),
        ),
        (
            Answer::Body(b"<html>502 Bad Gateway</html>".to_vec()),
            JwksFailure::Document(KeyError::JwkFormat),
        ),
        (
            Answer::Body(b"\xff\xfe".to_vec()),
            JwksFailure::Document(KeyError::JwkFormat),
        ),
        (
            Answer::Body(br#"{"keys":[]}"#.to_vec()),
            JwksFailure::NoUsableKey,
        ),
        (Answer::Body(p521_only.to_vec()), JwksFailure::NoUsableKey),
    ];
    for (answer, failure) in cases {
        issuer.answer(answer.clone());
        sink.take();
        let started = tokio::time::Instant::now();
        let err = source.refresh().await.unwrap_err();
        match (&failure, &err) {
            (JwksFailure::Fetch, Error::JwksFetch(JwksFetchError::Failed(e))) => {
                assert_eq!(e.to_string(), "connection refused");
            }
            (JwksFailure::TimedOut, Error::JwksFetch(JwksFetchError::TimedOut)) => {
                assert_eq!(started.elapsed(), StdDuration::from_secs(2));
            }
            (JwksFailure::Document(k), Error::Key(e)) => assert_eq!(k, e),
            (JwksFailure::NoUsableKey, Error::NoUsableKey(_)) => {}
            _ => panic!("{answer:?}: {err:?}"),
        }
        assert_eq!(err.oauth_code(), "server_error");
        assert!(
            matches!(
                &sink.events()[..],
                [Event::JwksRefreshFailed { reason, trigger: RefreshTrigger::Explicit, .. }]
                    if *reason == failure
            ),
            "{answer:?}: {:?}",
            sink.events()
        );
        // The old keys stay and keep verifying; nothing was emptied.
        assert_eq!(source.verifier().keys().len(), 1, "{answer:?}");
        assert!(source.verify(&token).await.is_ok(), "{answer:?}");
    }
    // A token with a new kid while the issuer is failing: the fetch error, not invalid_token.
    issuer.answer(Answer::Fail);
    issuer.keys.rotate(key("k2")).unwrap();
    let err = source.verify(&issuer.token()).await.unwrap_err();
    assert!(matches!(err, Error::JwksFetch(_)), "{err:?}");
    // Within the cooldown no new fetch, and the same answer; after it, the issuer recovered.
    let calls = issuer.calls();
    assert!(matches!(
        source.verify(&issuer.token()).await,
        Err(Error::JwksFetch(_))
    ));
    assert_eq!(issuer.calls(), calls);
    issuer.answer(Answer::Keys(None));
    clock.advance(Duration::seconds(30));
    assert!(source.verify(&issuer.token()).await.is_ok());
    assert_eq!(issuer.calls(), calls + 1);
}

#[tokio::test]
async fn removed_keys_stop_verifying_after_the_refresh() {
    let (issuer, clock, sink) = (
        Issuer::new("k1"),
        ManualClock::new(NOW),
        Arc::new(CollectingSink::new()),
    );
    let source = source(&issuer, &clock, &sink).await;
    let old = issuer.token();
    issuer.keys.rotate(key("k2")).unwrap();
    let new = issuer.token();
    assert!(source.verify(&new).await.is_ok());
    assert!(source.verify(&old).await.is_ok());
    // The issuer retires k1 (say it leaked): the next refresh drops it.
    issuer.keys.retire("k1").unwrap();
    let update = source.refresh().await.unwrap();
    assert_eq!((update.keys, update.skipped.len()), (1, 0));
    assert_eq!(
        reason(source.verifier().verify(&old)),
        TokenError::UnknownKeyId
    );
    assert_eq!(reason(source.verify(&old).await), TokenError::UnknownKeyId);
    assert!(source.verify(&new).await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn the_lifetime_is_bounded_and_keep_fresh_refreshes_when_it_runs_out() {
    let (issuer, clock, sink) = (
        Issuer::new("k1"),
        ManualClock::new(NOW),
        Arc::new(CollectingSink::new()),
    );
    let build = |cc: Option<&'static str>| {
        issuer.answer(Answer::Keys(cc));
        JwksSource::builder(URL, Fetcher(Arc::clone(&issuer)), Validation::new(ISS, AUD))
            .clock(clock.clone())
            .events(Arc::clone(&sink) as _)
            .lifetime_bounds(Duration::minutes(1), Duration::hours(2))
            .build()
    };
    for (cc, lifetime) in [
        (Some("public, max-age=600"), 600),
        (Some("max-age=5"), 60),
        (Some("no-store"), 60),
        (Some("max-age=86400"), 7200),
        (None, 3600),
    ] {
        let s = build(cc).await.unwrap();
        assert_eq!(s.refresh_at(), NOW + lifetime, "{cc:?}");
    }

    let source = build(Some("max-age=600")).await.unwrap();
    let calls = issuer.calls();
    let task = tokio::spawn(source.keep_fresh());
    tokio::time::sleep(StdDuration::from_secs(120)).await;
    assert_eq!(issuer.calls(), calls, "not due yet");
    // The issuer rotated and retired its key; the lifetime runs out.
    issuer.keys.rotate(key("k2")).unwrap();
    issuer.keys.retire("k1").unwrap();
    clock.advance(Duration::seconds(600));
    tokio::time::sleep(StdDuration::from_secs(61)).await;
    assert_eq!(issuer.calls(), calls + 1);
    assert_eq!(source.refresh_at(), NOW + 1200);
    assert_eq!(source.verifier().keys()[0].kid(), Some("k2"));
    assert!(matches!(
        sink.events().last(),
        Some(Event::JwksRefreshed {
            trigger: RefreshTrigger::Expired,
            ..
        })
    ));
    // A failing refresh is retried after the cooldown, the keys kept meanwhile.
    issuer.answer(Answer::Fail);
    clock.advance(Duration::seconds(600));
    tokio::time::sleep(StdDuration::from_secs(61)).await;
    assert_eq!(issuer.calls(), calls + 2);
    assert_eq!(source.refresh_at(), NOW + 1200 + 30);
    issuer.answer(Answer::Keys(Some("max-age=600")));
    clock.advance(Duration::seconds(30));
    tokio::time::sleep(StdDuration::from_secs(61)).await;
    assert_eq!(issuer.calls(), calls + 3);
    assert_eq!(source.verifier().keys().len(), 1);
    // The loop ends once the source is gone.
    drop(source);
    tokio::time::sleep(StdDuration::from_secs(61)).await;
    assert!(task.is_finished());
}

#[tokio::test]
async fn the_first_fetch_must_succeed_and_settings_are_checked() {
    let (issuer, clock) = (Issuer::new("k1"), ManualClock::new(NOW));
    issuer.answer(Answer::Fail);
    let r = JwksSource::builder(URL, Fetcher(Arc::clone(&issuer)), Validation::new(ISS, AUD))
        .clock(clock.clone())
        .build()
        .await;
    assert!(matches!(
        r,
        Err(Error::JwksFetch(JwksFetchError::Failed(_)))
    ));
    issuer.answer(Answer::Keys(None));
    let builder =
        || JwksSource::builder(URL, Fetcher(Arc::clone(&issuer)), Validation::new(ISS, AUD));
    for bad in [
        builder().cooldown(Duration::hours(2)),
        builder().cooldown(Duration::seconds(-1)),
        builder().lifetime_bounds(Duration::ZERO, Duration::hours(1)),
        builder().lifetime_bounds(Duration::hours(2), Duration::hours(1)),
        builder().lifetime_bounds(Duration::minutes(1), Duration::days(31)),
        builder().fetch_timeout(Duration::ZERO),
        // Whole seconds only: never truncated.
        builder().cooldown(Duration::milliseconds(1500)),
        builder().lifetime_bounds(Duration::milliseconds(1500), Duration::hours(1)),
        builder().lifetime_bounds(Duration::minutes(5), Duration::milliseconds(3_600_500)),
        builder().fetch_timeout(Duration::minutes(6)),
    ] {
        assert!(matches!(bad.build().await, Err(Error::Config(_))));
    }
    assert!(matches!(
        JwksSource::builder("", Fetcher(Arc::clone(&issuer)), Validation::new(ISS, AUD))
            .build()
            .await,
        Err(Error::Config(_))
    ));
    assert!(matches!(
        JwksSource::builder(URL, Fetcher(Arc::clone(&issuer)), Validation::new(ISS, ""))
            .build()
            .await,
        Err(Error::Config(_))
    ));
    // RSA keys without `alg`, as some providers publish them: skipped, reported, or bound to
    // the algorithm the options name.
    let rsa = SigningKey::from_pem(
        Algorithm::RS256,
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/keys/rsa2048.pkcs8.pem"
        ))
        .unwrap(),
    )
    .unwrap();
    let mut jwk = serde_json::to_value(rsa.verifying_key().with_kid("rsa").to_jwk()).unwrap();
    jwk.as_object_mut().unwrap().remove("alg");
    let doc = serde_json::json!({ "keys": [jwk] })
        .to_string()
        .into_bytes();
    issuer.answer(Answer::Body(doc));
    let r = builder().clock(clock.clone()).build().await;
    match r {
        Err(Error::NoUsableKey(skipped)) => {
            assert_eq!(skipped[0].reason, KeyError::MissingAlgorithm);
        }
        other => panic!("{other:?}"),
    }
    let source = builder()
        .clock(clock.clone())
        .options(JwksOptions::new().default_rsa_algorithm(Algorithm::RS256))
        .build()
        .await
        .unwrap();
    let token = KeySet::new(rsa.with_kid("rsa"))
        .sign_access_token(&claims())
        .unwrap();
    let c = source.verify(&token).await.unwrap();
    assert_eq!(c.sub.as_deref(), Some("user123456"));
    assert_eq!(source.url(), URL);
}

#[tokio::test]
async fn a_published_set_with_secret_keys_is_refused_unless_the_application_opts_in() {
    // An HMAC key in a published key document: anyone who reads it could forge tokens.
    let hmac = SigningKey::hmac(Algorithm::HS256, &[0x42; 32])
        .unwrap()
        .with_kid("h1");
    let secret_set = KeySet::new(hmac);
    let token = secret_set.sign_access_token(&claims()).unwrap();
    let k = URL_SAFE_NO_PAD.encode([0x42; 32]);
    let doc = format!(r#"{{"keys":[{{"kty":"oct","alg":"HS256","kid":"h1","k":"{k}"}}]}}"#);

    let rules = || Validation::new(ISS, AUD);
    assert!(matches!(
        token_engine::Verifier::from_jwks(&doc, rules()),
        Err(Error::Key(KeyError::SecretKeyInSet))
    ));
    let (issuer, clock) = (Issuer::new("k1"), ManualClock::new(NOW));
    issuer.answer(Answer::Body(doc.clone().into_bytes()));
    let r = JwksSource::builder(URL, Fetcher(Arc::clone(&issuer)), Validation::new(ISS, AUD))
        .clock(clock.clone())
        .build()
        .await;
    assert!(
        matches!(r, Err(Error::Key(KeyError::SecretKeyInSet))),
        "{r:?}"
    );

    // Opting in, by name.
    let opts = JwksOptions::new().danger_allow_secret_keys();
    let (v, skipped) = token_engine::Verifier::from_jwks_with(&doc, rules(), &opts).unwrap();
    assert!(skipped.is_empty());
    let v = v.with_clock(ManualClock::new(NOW));
    assert!(v.verify(&token).is_ok());
    let source = JwksSource::builder(URL, Fetcher(Arc::clone(&issuer)), Validation::new(ISS, AUD))
        .clock(clock.clone())
        .options(opts)
        .build()
        .await
        .unwrap();
    assert!(source.verify(&token).await.is_ok());
}
