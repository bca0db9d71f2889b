//! `Engine::introspect` (RFC 7662): active refresh and access tokens with their fields;
//! everything rotated away, revoked, expired, stale or unknown is exactly `{"active":false}`.

use std::sync::Arc;

use time::Duration;
use token_engine::event::CollectingSink;
use token_engine::{
    IntrospectionResponse, IssueRequest, ManualClock, MemoryStore, PolicyVersion, RefreshRequest,
};

use crate::common::*;

const SEVEN_DAYS: i64 = 7 * 24 * 3600;

async fn inactive(h: &Harness, token: &str) {
    let r = h.engine.introspect(token).await.unwrap();
    assert_eq!(r, IntrospectionResponse::inactive(), "{token:?}");
    assert_eq!(
        serde_json::to_string(&r).unwrap(),
        r#"{"active":false}"#,
        "{token:?}"
    );
}

#[tokio::test]
async fn an_active_refresh_token_introspects_with_its_session() {
    let h = Harness::new();
    let r = h.login().await;
    let i = h.engine.introspect(rt(&r)).await.unwrap();
    assert!(i.active);
    assert_eq!(i.token_type.as_deref(), Some("refresh_token"));
    assert_eq!(i.client_id.as_deref(), Some("app"));
    assert_eq!(i.sub.as_deref(), Some(SUBJECT));
    assert_eq!(i.scope.as_deref(), Some("read write"));
    assert_eq!(i.iss.as_deref(), Some(ISS));
    assert_eq!(i.iat, Some(NOW));
    // The session ends at the earlier of its idle and absolute expiry.
    assert_eq!(i.exp, Some(NOW + SEVEN_DAYS));
    assert_eq!(i.aud, None);
    assert_eq!(i.jti, None);
}

#[tokio::test]
async fn a_refresh_tokens_exp_follows_the_sliding_idle_expiry_and_stops_at_the_absolute() {
    let h = Harness::with(|b| {
        b.family_idle_ttl(Duration::hours(1))
            .family_absolute_ttl(Duration::minutes(90))
    });
    let r = h.login().await;
    assert_eq!(
        h.engine.introspect(rt(&r)).await.unwrap().exp,
        Some(NOW + 3600)
    );
    h.at(20 * 60);
    let next = h.rotate(rt(&r)).await;
    let i = h.engine.introspect(rt(&next)).await.unwrap();
    assert_eq!(i.exp, Some(NOW + 20 * 60 + 3600));
    assert_eq!(i.iat, Some(NOW + 20 * 60));
    h.at(60 * 60);
    let last = h.rotate(rt(&next)).await;
    assert_eq!(
        h.engine.introspect(rt(&last)).await.unwrap().exp,
        Some(NOW + 90 * 60)
    );
}

#[tokio::test]
async fn a_rotated_away_refresh_token_is_inactive() {
    let h = Harness::new();
    let r = h.login().await;
    let next = h.rotate(rt(&r)).await;
    inactive(&h, rt(&r)).await;
    assert!(h.engine.introspect(rt(&next)).await.unwrap().active);
    // Introspection is read-only: it did not count as reuse.
    h.rotate(rt(&next)).await;
}

#[tokio::test]
async fn an_active_access_token_introspects_with_its_claims() {
    let h = Harness::new();
    let r = h.login().await;
    let c = claims(&h, &r.access_token);
    let i = h.engine.introspect(&r.access_token).await.unwrap();
    assert!(i.active);
    assert_eq!(i.token_type.as_deref(), Some("Bearer"));
    assert_eq!(i.scope.as_deref(), Some("read write"));
    assert_eq!(i.client_id.as_deref(), Some("app"));
    assert_eq!(i.sub.as_deref(), Some(SUBJECT));
    assert_eq!(i.iss.as_deref(), Some(ISS));
    assert_eq!(i.exp, Some(NOW + ACCESS_TTL));
    assert_eq!(i.iat, Some(NOW));
    assert_eq!(i.aud, c.aud);
    assert_eq!(i.jti.as_deref(), c.jti.as_deref());
    assert_eq!(i.cnf, None);
}

#[tokio::test]
async fn a_sessionless_access_token_is_active() {
    let h = Harness::new();
    let r = h
        .issue(
            &client(),
            IssueRequest::new(SUBJECT).without_refresh_token(),
        )
        .await
        .unwrap();
    let i = h.engine.introspect(&r.access_token).await.unwrap();
    assert!(i.active);
    assert_eq!(i.token_type.as_deref(), Some("Bearer"));
}

#[tokio::test]
async fn revoked_tokens_are_inactive() {
    let h = Harness::new();
    let r = h.login().await;
    h.revoke_ok(rt(&r)).await;
    inactive(&h, rt(&r)).await;
    inactive(&h, &r.access_token).await;
}

#[tokio::test]
async fn tokens_of_a_session_ended_by_reuse_are_inactive() {
    let h = Harness::new();
    let r = h.login().await;
    let next = h.rotate(rt(&r)).await;
    h.refresh(&client(), rt(&r), RefreshRequest::default())
        .await
        .unwrap_err();
    inactive(&h, rt(&next)).await;
    inactive(&h, &next.access_token).await;
}

#[tokio::test]
async fn an_expired_access_token_is_inactive() {
    let h = Harness::new();
    let r = h.login().await;
    h.at(ACCESS_TTL + LEEWAY);
    inactive(&h, &r.access_token).await;
}

#[tokio::test]
async fn an_expired_refresh_token_is_inactive() {
    let h = Harness::with(|b| b.family_idle_ttl(Duration::hours(1)));
    let r = h.login().await;
    h.at(3599);
    assert!(h.engine.introspect(rt(&r)).await.unwrap().active);
    h.at(3600);
    inactive(&h, rt(&r)).await;
}

#[tokio::test]
async fn tokens_of_a_stale_policy_major_are_inactive() {
    let h = Harness::new();
    let r = h.login().await;
    h.engine
        .set_policy(None, Some(PolicyVersion::new(2, 0)))
        .await
        .unwrap();
    inactive(&h, rt(&r)).await;
    inactive(&h, &r.access_token).await;
}

#[tokio::test]
async fn garbage_and_forgeries_are_inactive() {
    let h = Harness::new();
    let r = h.login().await;
    let clock = ManualClock::new(NOW);
    let sink = Arc::new(CollectingSink::new());
    let twin = builder(&clock, &sink).build(MemoryStore::new()).unwrap();
    let foreign = twin
        .issue(&client(), IssueRequest::new(SUBJECT))
        .await
        .unwrap();
    for token in [
        String::new(),
        "garbage".to_owned(),
        "rt_garbage".to_owned(),
        "a.b.c".to_owned(),
        tampered(rt(&r)),
        tampered_jwt(&r.access_token),
        // Signed by another key; a genuine refresh token of a family not in this store.
        foreign.access_token.clone(),
        rt(&foreign).to_owned(),
    ] {
        h.remember(&token);
        inactive(&h, &token).await;
    }
}
