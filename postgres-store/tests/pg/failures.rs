//! Store failures: a server that is gone, a connection killed in the middle of a statement, an
//! answer lost after the server committed. Each surfaces as `Error::Store`, never as a
//! rejected or revoked token, and nothing is lost when the server answers again.

use std::time::Duration;

use token_engine::event::Event;
use token_engine::store::FamilyState;
use token_engine::{
    Error, IssueRequest, PolicyVersion, RefreshKeys, RefreshRequest, RefreshSecret, RefreshToken,
    TokenStore,
};
use token_engine_postgres::PgStoreError;

use crate::common::*;
use crate::proxy::Proxy;

fn family_of(token: &RefreshToken) -> token_engine::FamilyId {
    RefreshKeys::new(RefreshSecret::from_bytes(&SECRET).unwrap())
        .parse(token.expose_secret())
        .unwrap()
        .family()
}

async fn refresh(s: &Server, token: &RefreshToken) -> Result<RefreshToken, Error> {
    s.engine
        .refresh(&client(), token.expose_secret(), RefreshRequest::default())
        .await
        .map(|r| r.refresh_token.unwrap())
}

/// Refresh as a client does after a server error: again, a few times. Any other error is a
/// verdict, and fails the test.
async fn refresh_retrying(s: &Server, token: &RefreshToken) -> RefreshToken {
    for _ in 0..5 {
        match refresh(s, token).await {
            Ok(next) => return next,
            Err(Error::Store(_)) => {}
            Err(e) => panic!("a refresh after a store failure: {e:?}"),
        }
    }
    panic!("the store never answered again");
}

/// The error is a store error, and the store's own (not a token verdict dressed up).
#[track_caller]
fn assert_store_error<T: std::fmt::Debug>(r: Result<T, Error>, what: &str) {
    match r {
        Err(Error::Store(e)) => assert!(
            e.downcast_ref::<PgStoreError>().is_some(),
            "{what}: Error::Store from elsewhere: {e:?}"
        ),
        other => panic!("{what}: expected Error::Store, got {other:?}"),
    }
}

/// Nothing in `events` says a token was rejected as stolen or a family was ended.
fn assert_no_verdict(events: &[Event]) {
    for e in events {
        assert!(
            !matches!(
                e,
                Event::ReuseDetected { .. }
                    | Event::FamilyRevoked { .. }
                    | Event::ReauthenticationRequired { .. }
                    | Event::RefreshRejected { .. }
            ),
            "a store failure produced a verdict: {e:?}"
        );
    }
}

/// Wait until a backend of `application_name` waits on a lock; its pid.
async fn waiting_on_lock(admin: &tokio_postgres::Client, db: &str, app: &str) -> i32 {
    for _ in 0..1000 {
        let row = admin
            .query_opt(
                "SELECT pid FROM pg_stat_activity \
                 WHERE datname = $1 AND application_name = $2 AND wait_event_type = 'Lock'",
                &[&db, &app],
            )
            .await
            .unwrap();
        if let Some(row) = row {
            return row.get(0);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no backend of {app} waited on the lock");
}

/// A pool pointed at a server that is not there, then a server that goes away between
/// requests and comes back on the same address.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stopped_server() {
    let Some(db) = database("stopped").await else {
        return;
    };
    let schema = db.schema().await;
    let proxy = Proxy::start(&schema).await;

    // Nothing listening: the store says so, as an error.
    proxy.down();
    let nowhere = store(&proxy.config(&schema));
    assert!(matches!(
        nowhere.migrate().await,
        Err(PgStoreError::Pool(_))
    ));
    let s = server(nowhere, T0, 5);
    assert_store_error(
        s.engine.issue(&client(), IssueRequest::new("alice")).await,
        "issue with no server",
    );
    proxy.up().await;

    let s = server(store(&proxy.config(&schema)), T0, 5);
    let first = login(&s, "alice").await;
    let one = s
        .engine
        .refresh(&client(), first.expose_secret(), RefreshRequest::default())
        .await
        .unwrap();
    let t1 = one.refresh_token.unwrap();
    let policy = s.engine.policy_version(None).await.unwrap();
    s.events.take();

    proxy.down();
    s.clock.set(T0 + 60); // past the policy cache: the policy read fails too
    let e = &s.engine;
    assert_store_error(refresh(&s, &t1).await, "refresh");
    assert_store_error(refresh(&s, &first).await, "refresh of an old token");
    assert_store_error(e.issue(&client(), IssueRequest::new("bob")).await, "issue");
    assert_store_error(e.revoke(&client(), t1.expose_secret()).await, "revoke");
    assert_store_error(e.introspect(t1.expose_secret()).await, "introspect");
    assert_store_error(e.verify_with_revocation(&one.access_token).await, "verify");
    assert_store_error(e.sessions("alice").await, "sessions");
    assert_store_error(e.sign_out_everywhere("alice").await, "sign out");
    assert_store_error(e.delete_expired().await, "sweep");
    assert_store_error(
        e.set_policy(None, Some(PolicyVersion::new(9, 0))).await,
        "set_policy",
    );
    assert_no_verdict(&s.events.take());

    // Back: nothing was lost or changed, and the session goes on.
    proxy.up().await;
    let t2 = refresh_retrying(&s, &t1).await;
    let f = store(&schema)
        .load_family(&family_of(&t1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((f.generation, f.state), (2, FamilyState::Active));
    assert!(e.verify_with_revocation(&one.access_token).await.is_ok());
    refresh(&s, &t2).await.unwrap();
    assert_eq!(
        e.policy_version(None).await.unwrap(),
        policy,
        "the failed set_policy changed nothing"
    );
    drop(s);
    drop(proxy);
    db.drop().await;
}

/// `pg_terminate_backend` of the pool's connection while its compare-and-swap waits on a
/// row lock: the refresh fails with `Error::Store`, nothing changed, and the retry rotates.
/// Then every connection of the pool is killed while idle: the pool replaces them, and no
/// request turns into a verdict.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn terminated_connections() {
    let Some(db) = database("terminated").await else {
        return;
    };
    let schema = db.schema().await;
    let mut victim = schema.clone();
    victim.application_name("te-victim");
    let s = server(store(&victim), T0, 5);
    let first = login(&s, "alice").await;
    let family = family_of(&first);
    s.events.take();

    let admin = connect(&schema).await;
    admin.batch_execute("BEGIN").await.unwrap();
    admin
        .execute(
            "SELECT 1 FROM token_families WHERE id = $1 FOR UPDATE",
            &[&&family.as_bytes()[..]],
        )
        .await
        .unwrap();
    let engine = s.engine.clone();
    let token = RefreshToken::from_string(first.expose_secret().to_owned());
    let pending = tokio::spawn(async move {
        engine
            .refresh(&client(), token.expose_secret(), RefreshRequest::default())
            .await
    });
    let pid = waiting_on_lock(&admin, &db.name, "te-victim").await;
    let killed: bool = admin
        .query_one("SELECT pg_terminate_backend($1)", &[&pid])
        .await
        .unwrap()
        .get(0);
    assert!(killed);
    assert_store_error(pending.await.unwrap(), "refresh on a killed connection");
    admin.batch_execute("ROLLBACK").await.unwrap();
    // Checked through a pool of its own: the victim's may hand out the killed connection
    // once more before it notices (deadpool's fast recycling checks no more than
    // `is_closed`), and that request fails with a store error, as a request may.
    let direct = store(&schema);
    let f = direct.load_family(&family).await.unwrap().unwrap();
    assert_eq!(
        (f.generation, f.state),
        (0, FamilyState::Active),
        "nothing changed"
    );

    // The retry rotates. Then every connection of the pool is killed while idle, several
    // times, with a refresh after each.
    let mut current = refresh_retrying(&s, &first).await;
    let mut rotations = 1;
    for _ in 0..5 {
        admin
            .execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = $1 AND application_name = 'te-victim'",
                &[&db.name],
            )
            .await
            .unwrap();
        current = refresh_retrying(&s, &current).await;
        rotations += 1;
    }
    assert_no_verdict(&s.events.take());
    let f = direct.load_family(&family).await.unwrap().unwrap();
    assert_eq!((f.generation, f.state), (rotations, FamilyState::Active));
    drop(s);
    db.drop().await;
}

/// The server commits a rotation and its answer never arrives (the connection dies first):
/// the refresh fails with `Error::Store`; the client's retry with the same token, inside the
/// grace window, gets the committed successor (a grace retry, not reuse) and the session goes
/// on with exactly one rotation.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn answer_lost_after_commit() {
    let Some(db) = database("lost_answer").await else {
        return;
    };
    let schema = db.schema().await;
    let proxy = Proxy::start(&schema).await;
    let mut proxied = proxy.config(&schema);
    proxied.application_name("te-lost");
    let s = server(store(&proxied), T0, 5);
    let first = login(&s, "alice").await;
    let family = family_of(&first);
    s.events.take();

    let admin = connect(&schema).await;
    admin.batch_execute("BEGIN").await.unwrap();
    admin
        .execute(
            "SELECT 1 FROM token_families WHERE id = $1 FOR UPDATE",
            &[&&family.as_bytes()[..]],
        )
        .await
        .unwrap();
    let engine = s.engine.clone();
    let token = RefreshToken::from_string(first.expose_secret().to_owned());
    let pending = tokio::spawn(async move {
        engine
            .refresh(&client(), token.expose_secret(), RefreshRequest::default())
            .await
    });
    waiting_on_lock(&admin, &db.name, "te-lost").await;
    proxy.swallow_replies(true);
    admin.batch_execute("ROLLBACK").await.unwrap();
    // The swap commits; its answer goes nowhere.
    let direct = store(&schema);
    for _ in 0..1000 {
        let f = direct.load_family(&family).await.unwrap().unwrap();
        if f.generation == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    proxy.cut();
    proxy.swallow_replies(false);
    assert_store_error(pending.await.unwrap(), "refresh whose answer was lost");

    s.clock.set(T0 + 2);
    let retried = refresh_retrying(&s, &first).await;
    let events = s.events.take();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::GraceRetryServed { .. })),
        "{events:?}"
    );
    assert_no_verdict(&events);
    let f = direct.load_family(&family).await.unwrap().unwrap();
    assert_eq!(
        (f.generation, f.state),
        (1, FamilyState::Active),
        "one rotation"
    );
    refresh_retrying(&s, &retried).await;
    drop(s);
    drop(proxy);
    db.drop().await;
}

#[tokio::test]
async fn a_server_error_says_its_sqlstate_and_message() {
    let Some(db) = database("sqlstate").await else {
        return;
    };
    let s = server(db.fresh_store().await, T0, 5);
    // A client id with U+0000, which a `text` column cannot hold: the server refuses it.
    let client = token_engine::Client::new("app\0x").allow_scopes(["read", "write"]);
    let e = match s.engine.issue(&client, IssueRequest::new("alice")).await {
        Err(Error::Store(e)) => e,
        other => panic!("expected Error::Store, got {other:?}"),
    };
    let pg = e.downcast_ref::<PgStoreError>().expect("the store's error");
    assert!(matches!(pg, PgStoreError::Db(_)), "{pg:?}");
    let shown = pg.to_string();
    assert!(shown.contains("22021"), "{shown}");
    assert!(shown.contains("invalid byte sequence"), "{shown}");
    assert!(!shown.contains("db error"), "{shown}");
    // And through the engine's error, as an application logs it.
    let logged = Error::Store(e).to_string();
    assert!(logged.contains("22021"), "{logged}");
    db.drop().await;
}
