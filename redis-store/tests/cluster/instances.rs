//! Two app servers over one cluster, as deployed: two `Engine`s, each with its own cluster
//! connection (its own `RedisStore`), clocks a second apart. Races are settled by the
//! cluster alone (the scripts on the family's primary). 64 and 256 concurrent refreshes.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use token_engine::event::Event;
use token_engine::store::FamilyState;
use token_engine::{
    Error, GrantError, RefreshRequest, RefreshToken, RevocationOutcome, RevocationReason,
    TokenError, TokenStore,
};
use token_engine_redis::RedisOptions;
use tokio::sync::Barrier;

use crate::common::*;

/// Two servers over one fresh namespace, each with its own cluster connection.
async fn two_servers(urls: &[String], test: &str, grace: i64) -> Arc<[Server; 2]> {
    let options = RedisOptions::default().namespace(fresh_namespace(test));
    Arc::new([
        server(store_in(urls, options.clone()).await, T0, grace),
        server(store_in(urls, options).await, T0 + 1, grace),
    ])
}

async fn refresh(s: &Server, token: &RefreshToken) -> Result<RefreshToken, Error> {
    s.engine
        .refresh(&client(), token.expose_secret(), RefreshRequest::default())
        .await
        .map(|r| r.refresh_token.unwrap())
}

/// `tasks` refreshes of `token` at once, alternating between the servers.
async fn race(
    servers: &Arc<[Server; 2]>,
    token: &RefreshToken,
    tasks: usize,
) -> Vec<Result<RefreshToken, Error>> {
    let token = Arc::new(RefreshToken::from_string(token.expose_secret().to_owned()));
    let barrier = Arc::new(Barrier::new(tasks));
    let tasks: Vec<_> = (0..tasks)
        .map(|i| {
            let (servers, token, barrier) = (
                Arc::clone(servers),
                Arc::clone(&token),
                Arc::clone(&barrier),
            );
            tokio::spawn(async move {
                barrier.wait().await;
                refresh(&servers[i % 2], &token).await
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

fn events(servers: &[Server; 2]) -> Vec<Event> {
    servers.iter().flat_map(|s| s.events.take()).collect()
}

fn count(events: &[Event], f: impl Fn(&Event) -> bool) -> usize {
    events.iter().filter(|e| f(e)).count()
}

/// With grace (the default 5 s): one rotation, every request gets the same successor; a retry
/// inside the window on either server gets it again; the old token after the window is reuse
/// and ends the family on both servers.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refresh_race_with_grace_64() {
    refresh_race_with_grace(64).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refresh_race_with_grace_256() {
    refresh_race_with_grace(256).await;
}

async fn refresh_race_with_grace(tasks: usize) {
    let Some(urls) = cluster("refresh_race_with_grace") else {
        return;
    };
    let servers = two_servers(&urls, "race-grace", 5).await;
    let first = login(&servers[0], "racer").await;
    let family = family_of(&first);
    servers[0].clock.set(T0 + 10);
    servers[1].clock.set(T0 + 11);
    events(&servers);

    let results = race(&servers, &first, tasks).await;
    let tokens: Vec<_> = results
        .into_iter()
        .map(|r| r.expect("with grace every concurrent refresh succeeds"))
        .collect();
    assert!(
        tokens.iter().all(|t| *t == tokens[0]),
        "one successor for all"
    );
    let ev = events(&servers);
    assert_eq!(count(&ev, |e| matches!(e, Event::Refreshed { .. })), 1);
    assert_eq!(
        count(&ev, |e| matches!(e, Event::GraceRetryServed { .. })),
        tasks - 1
    );
    for s in servers.iter() {
        let f = s
            .engine
            .store()
            .load_family(&family)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((f.generation, f.state), (1, FamilyState::Active), "no fork");
    }

    // A retry inside the window, on the server whose clock is ahead: the same successor.
    servers[1].clock.set(T0 + 15);
    assert_eq!(refresh(&servers[1], &first).await.unwrap(), tokens[0]);

    // After the window the old token is reuse: the family ends, for both servers.
    servers[0].clock.set(T0 + 30);
    servers[1].clock.set(T0 + 31);
    assert!(matches!(
        refresh(&servers[0], &first).await,
        Err(Error::ReuseDetected)
    ));
    for s in servers.iter() {
        let f = s
            .engine
            .store()
            .load_family(&family)
            .await
            .unwrap()
            .unwrap();
        assert!(matches!(
            f.state,
            FamilyState::Revoked {
                reason: RevocationReason::ReuseDetected,
                ..
            }
        ));
        assert!(matches!(
            refresh(s, &tokens[0]).await,
            Err(Error::InvalidGrant(GrantError::Revoked))
        ));
    }
}

/// Without grace: one rotation wins, all the others are reuse, the family is revoked once and
/// never forked.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refresh_race_without_grace_64() {
    refresh_race_without_grace(64).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refresh_race_without_grace_256() {
    refresh_race_without_grace(256).await;
}

async fn refresh_race_without_grace(tasks: usize) {
    let Some(urls) = cluster("refresh_race_without_grace") else {
        return;
    };
    let servers = two_servers(&urls, "race-strict", 0).await;
    let first = login(&servers[0], "racer").await;
    let family = family_of(&first);
    servers[0].clock.set(T0 + 10);
    servers[1].clock.set(T0 + 11);
    events(&servers);

    let results = race(&servers, &first, tasks).await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    for e in results.iter().filter_map(|r| r.as_ref().err()) {
        assert!(matches!(e, Error::ReuseDetected), "{e:?}");
    }
    let ev = events(&servers);
    assert_eq!(count(&ev, |e| matches!(e, Event::Refreshed { .. })), 1);
    assert_eq!(
        count(&ev, |e| matches!(
            e,
            Event::FamilyRevoked {
                possible_repeat: false,
                ..
            }
        )),
        1,
        "the family is revoked once"
    );
    for s in servers.iter() {
        let f = s
            .engine
            .store()
            .load_family(&family)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(f.generation, 1, "never forked");
        assert!(!f.is_active());
    }
}

/// Refresh loops on both servers for several families of one subject, while one server
/// signs the subject out everywhere and the other revokes single sessions (RFC 7009 on a
/// refresh token, and `revoke_session`): afterwards nothing of the subject is alive on
/// either server, by any read, and every token fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn revoke_and_sign_out_race_refreshes() {
    const FAMILIES: usize = 8;
    const ROUNDS: usize = 3;
    let Some(urls) = cluster("revoke_and_sign_out_race_refreshes") else {
        return;
    };
    let servers = two_servers(&urls, "revoke-race", 5).await;
    for round in 0..ROUNDS {
        let subject = format!("busy-{round}");
        let mut firsts = Vec::new();
        for i in 0..FAMILIES {
            firsts.push(login(&servers[i % 2], &subject).await);
        }
        let done = Arc::new(AtomicUsize::new(0));
        let loops: Vec<_> = firsts
            .iter()
            .enumerate()
            .map(|(i, first)| {
                let servers = Arc::clone(&servers);
                let done = Arc::clone(&done);
                let mut current = RefreshToken::from_string(first.expose_secret().to_owned());
                tokio::spawn(async move {
                    let mut access = None;
                    for n in 0..500 {
                        let s = &servers[(i + n) % 2];
                        match s
                            .engine
                            .refresh(
                                &client(),
                                current.expose_secret(),
                                RefreshRequest::default(),
                            )
                            .await
                        {
                            Ok(r) => {
                                current = r.refresh_token.unwrap();
                                access = Some(r.access_token);
                            }
                            Err(Error::InvalidGrant(GrantError::Revoked)) => break,
                            Err(e) => panic!("refresh while revoking: {e:?}"),
                        }
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    (current, access)
                })
            })
            .collect();
        while done.load(Ordering::Relaxed) < FAMILIES * 3 {
            tokio::task::yield_now().await;
        }
        // While the loops run: server B revokes family 0 by its (stale) first token and
        // server A signs family 1 out as a session; each must end its family.
        let app = client();
        let (revoked, session) = tokio::join!(
            retry_contention(|| servers[1].engine.revoke(&app, firsts[0].expose_secret())),
            retry_contention(|| servers[0]
                .engine
                .revoke_session(&subject, family_of(&firsts[1]))),
        );
        assert!(matches!(revoked, RevocationOutcome::Revoked { .. }));
        assert!(matches!(session, RevocationOutcome::Revoked { .. }));
        // Then server A signs the subject out everywhere while the other loops still run.
        assert!(done.load(Ordering::Relaxed) < FAMILIES * 500);
        servers[0]
            .engine
            .sign_out_everywhere(&subject)
            .await
            .unwrap();
        let mut last = Vec::new();
        for l in loops {
            last.push(l.await.unwrap());
        }
        for s in servers.iter() {
            let store = s.engine.store();
            let listed = store.list_families(&subject).await.unwrap();
            assert_eq!(listed.len(), FAMILIES);
            for f in &listed {
                assert!(!f.is_active(), "left alive (list_families)");
                let loaded = store.load_family(&f.id).await.unwrap().unwrap();
                assert!(!loaded.is_active(), "left alive (load_family)");
            }
            assert!(s.engine.sessions(&subject).await.unwrap().is_empty());
            for (token, access) in &last {
                assert!(matches!(
                    refresh(s, token).await,
                    Err(Error::InvalidGrant(GrantError::Revoked))
                ));
                if let Some(access) = access {
                    let r = s.engine.verify_with_revocation(access).await;
                    assert!(
                        matches!(r, Err(Error::InvalidToken(TokenError::SessionRevoked))),
                        "an access token of a revoked session: {r:?}"
                    );
                }
            }
        }
    }
}

/// RFC 7009 revocation and `revoke_session` are load, check, compare-and-swap with a bounded
/// number of attempts: against a family that another instance refreshes back to back they
/// may give up with `Contention`, and the application asks again (as it would after any
/// error). Counted, so `--nocapture` shows how often.
async fn retry_contention<F, Fut>(mut f: F) -> RevocationOutcome
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<RevocationOutcome, Error>>,
{
    for attempt in 0..100 {
        match f().await {
            Err(Error::InvalidGrant(GrantError::Contention)) => {
                eprintln!("revocation lost to refreshes 8 times in a row (attempt {attempt})");
            }
            other => return other.unwrap(),
        }
    }
    panic!("revocation never got through");
}
