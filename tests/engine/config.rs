//! Builder validation: every required setting and every range, each refused with
//! `Error::Config` naming the setting; the boundaries are accepted.

use std::sync::Arc;

use time::Duration;
use token_engine::event::CollectingSink;
use token_engine::{
    Algorithm, Engine, EngineBuilder, Error, ManualClock, MemoryStore, RefreshSecret, SigningKey,
};

use crate::common::*;

fn base() -> EngineBuilder {
    builder(&ManualClock::new(NOW), &Arc::new(CollectingSink::new()))
}

fn key() -> SigningKey {
    SigningKey::generate(Algorithm::EdDSA).unwrap().0
}

fn secret() -> RefreshSecret {
    RefreshSecret::from_bytes(&SECRET).unwrap()
}

/// Builds `b` and expects `Error::Config` whose message names `setting`.
#[track_caller]
fn refused(b: EngineBuilder, setting: &str) {
    match b.build(MemoryStore::new()) {
        Err(Error::Config(msg)) => assert!(msg.contains(setting), "{msg:?} should name {setting}"),
        Err(e) => panic!("expected Error::Config naming {setting}, got {e:?}"),
        Ok(_) => panic!("expected Error::Config naming {setting}, got an engine"),
    }
}

#[track_caller]
fn accepted(b: EngineBuilder) {
    if let Err(e) = b.build(MemoryStore::new()) {
        panic!("expected an engine, got {e:?}");
    }
}

#[test]
fn the_full_configuration_builds() {
    accepted(base());
}

#[test]
fn a_missing_issuer_is_refused() {
    refused(
        Engine::builder()
            .audience(AUD)
            .signing_key(key())
            .refresh_secret(secret()),
        "issuer",
    );
}

#[test]
fn an_empty_issuer_is_refused() {
    refused(base().issuer(""), "issuer");
}

#[test]
fn a_missing_audience_is_refused() {
    refused(
        Engine::builder()
            .issuer(ISS)
            .signing_key(key())
            .refresh_secret(secret()),
        "audience",
    );
}

#[test]
fn an_empty_audience_is_refused() {
    refused(base().audience(""), "audience");
}

#[test]
fn a_missing_signing_key_is_refused() {
    refused(
        Engine::builder()
            .issuer(ISS)
            .audience(AUD)
            .refresh_secret(secret()),
        "signing key",
    );
}

#[test]
fn a_missing_refresh_secret_is_refused() {
    refused(
        Engine::builder()
            .issuer(ISS)
            .audience(AUD)
            .signing_key(key()),
        "refresh secret",
    );
}

#[test]
fn access_ttl_out_of_range_is_refused() {
    for ttl in [
        Duration::ZERO,
        Duration::seconds(-1),
        Duration::seconds(59),
        Duration::hours(25),
        Duration::hours(24) + Duration::seconds(1),
    ] {
        refused(base().access_ttl(ttl), "access_ttl");
    }
}

#[test]
fn access_ttl_at_its_bounds_is_accepted() {
    accepted(base().access_ttl(Duration::minutes(1)));
    accepted(base().access_ttl(Duration::hours(24)));
}

#[test]
fn idle_ttl_longer_than_absolute_ttl_is_refused() {
    refused(
        base()
            .family_idle_ttl(Duration::days(10))
            .family_absolute_ttl(Duration::days(9)),
        "family_absolute_ttl",
    );
}

#[test]
fn idle_ttl_equal_to_absolute_ttl_is_accepted() {
    accepted(
        base()
            .family_idle_ttl(Duration::days(9))
            .family_absolute_ttl(Duration::days(9)),
    );
}

#[test]
fn idle_ttl_out_of_range_is_refused() {
    for ttl in [Duration::ZERO, Duration::seconds(59), Duration::days(366)] {
        refused(
            base()
                .family_idle_ttl(ttl)
                .family_absolute_ttl(Duration::days(400)),
            "family_idle_ttl",
        );
    }
}

#[test]
fn absolute_ttl_over_400_days_is_refused() {
    refused(
        base().family_absolute_ttl(Duration::days(401)),
        "family_absolute_ttl",
    );
    accepted(base().family_absolute_ttl(Duration::days(400)));
}

#[test]
fn reuse_grace_over_60_seconds_is_refused() {
    refused(base().reuse_grace(Duration::seconds(61)), "reuse_grace");
    refused(base().reuse_grace(Duration::seconds(-1)), "reuse_grace");
    accepted(base().reuse_grace(Duration::seconds(60)));
    accepted(base().reuse_grace(Duration::ZERO));
}

#[test]
fn leeway_over_5_minutes_is_refused() {
    refused(base().leeway(Duration::minutes(6)), "leeway");
    accepted(base().leeway(Duration::minutes(5)));
}

/// Every duration of the builder, by its name, with a value that is in range when whole.
/// A builder setter taking a duration.
type Setter = fn(EngineBuilder, Duration) -> EngineBuilder;

fn durations() -> Vec<(&'static str, Setter, Duration)> {
    vec![
        (
            "access_ttl",
            EngineBuilder::access_ttl,
            Duration::minutes(5),
        ),
        (
            "family_idle_ttl",
            EngineBuilder::family_idle_ttl,
            Duration::days(1),
        ),
        (
            "family_absolute_ttl",
            EngineBuilder::family_absolute_ttl,
            Duration::days(60),
        ),
        (
            "reuse_grace",
            EngineBuilder::reuse_grace,
            Duration::seconds(5),
        ),
        ("leeway", EngineBuilder::leeway, Duration::seconds(30)),
        (
            "policy_refresh",
            EngineBuilder::policy_refresh,
            Duration::seconds(5),
        ),
        ("code_ttl", EngineBuilder::code_ttl, Duration::seconds(60)),
    ]
}

#[test]
fn a_duration_with_a_fraction_of_a_second_is_refused_naming_the_option_never_truncated() {
    for (name, set, whole) in durations() {
        accepted(set(base(), whole));
        for fraction in [
            Duration::milliseconds(500),
            Duration::milliseconds(999),
            Duration::nanoseconds(1),
        ] {
            refused(set(base(), whole + fraction), name);
        }
    }
    // The issue's case: a sub-second grace used to become strict mode.
    refused(
        base().reuse_grace(Duration::milliseconds(500)),
        "reuse_grace",
    );
    refused(
        base().reuse_grace(Duration::milliseconds(999)),
        "reuse_grace",
    );
}

#[tokio::test]
async fn a_client_access_ttl_out_of_range_or_with_a_fraction_is_refused_naming_it() {
    let h = Harness::new();
    for ttl in [
        Duration::milliseconds(90_500),
        Duration::seconds(30),
        Duration::ZERO,
        Duration::hours(25),
    ] {
        let c = client().access_ttl(ttl);
        match h.issue(&c, token_engine::IssueRequest::new(SUBJECT)).await {
            Err(Error::Config(msg)) => assert!(msg.contains("access_ttl"), "{msg}"),
            other => panic!("{ttl}: expected Error::Config, got {other:?}"),
        }
        assert!(h.engine.sessions(SUBJECT).await.unwrap().is_empty());
    }
    // Whole seconds in range are kept exactly.
    let c = client().access_ttl(Duration::seconds(61));
    let r = h
        .issue(&c, token_engine::IssueRequest::new(SUBJECT))
        .await
        .unwrap();
    assert_eq!(r.expires_in, 61);
    // A refresh with a bad lifetime fails before it rotates: the token stays usable.
    let bad = client().access_ttl(Duration::milliseconds(61_500));
    assert!(matches!(
        h.refresh(&bad, rt(&r), token_engine::RefreshRequest::default())
            .await,
        Err(Error::Config(_))
    ));
    let next = h.rotate(rt(&r)).await;
    assert_eq!(next.expires_in, ACCESS_TTL as u64);
}
