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
