//! Audit events: what happened, typed, never with token material. For the application's
//! logging and alerting: implement [`EventSink`] and hand it to
//! [`EngineBuilder::events`](crate::EngineBuilder::events) (or to a
//! [`Verifier`](crate::Verifier) or [`JwksSource`](crate::JwksSource)).
//!
//! The engine reports to an [`EventSink`]: issued, refreshed, grace retry served, reuse
//! detected, family revoked, re-authentication required, refresh rejected, verification
//! failed. Events carry family ids (not secret: they are the access tokens' `sid`), subjects
//! and client ids, and reasons; never a token, a secret or a hash of one.
//!
//! Security events are delivered at least once across lost store answers: when a request's
//! revoking write committed but its answer was lost, the retry finds the revocation made under
//! its own operation id and reports it again with `possible_repeat: true`. Alerting should
//! count such duplicates once; it never misses a detection.

use std::sync::{Mutex, PoisonError};

use crate::error::{GrantError, TokenError};
use crate::family::RevocationReason;
use crate::opaque::FamilyId;
use crate::policy::PolicyVersion;

/// An audit event.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A new family was created and tokens issued (after the application authenticated the
    /// user).
    Issued {
        /// The new family.
        family: FamilyId,
        /// Its client.
        client_id: String,
        /// Its user.
        subject: String,
    },
    /// A refresh rotated the family.
    Refreshed {
        /// The family.
        family: FamilyId,
        /// Its new generation.
        generation: u32,
        /// Set when a minor policy bump was adopted.
        policy_upgraded: Option<PolicyVersion>,
    },
    /// A retry within the grace window got the existing successor again.
    GraceRetryServed {
        /// The family.
        family: FamilyId,
        /// The generation handed out again.
        generation: u32,
    },
    /// An old refresh token was replayed (or used by another client): likely theft.
    ReuseDetected {
        /// The family, now revoked.
        family: FamilyId,
        /// The family's client.
        client_id: String,
        /// The family's user.
        subject: String,
        /// The client that presented the token.
        presented_by: String,
        /// Set when this reports a detection that an earlier attempt of the same request
        /// (whose answer was lost) may already have reported: count it once.
        possible_repeat: bool,
    },
    /// A family was revoked.
    FamilyRevoked {
        /// The family.
        family: FamilyId,
        /// Why.
        reason: RevocationReason,
        /// Set when an earlier attempt of the same request (whose answer was lost) may
        /// already have reported this revocation.
        possible_repeat: bool,
    },
    /// One reference access token was revoked on its own (RFC 7009); its session goes on.
    AccessTokenRevoked {
        /// The token's family (session, or the record of a grant without refresh token).
        family: FamilyId,
        /// Set when the token was already revoked (a retry after a lost answer, or a second
        /// revocation).
        possible_repeat: bool,
    },
    /// A refresh failed because the security-policy major version moved on.
    ReauthenticationRequired {
        /// The family, now revoked.
        family: FamilyId,
        /// Its user.
        subject: String,
        /// Set when an earlier attempt of the same request (whose answer was lost) may
        /// already have reported this.
        possible_repeat: bool,
    },
    /// A refresh was rejected without any write.
    RefreshRejected {
        /// The family, when the token named a real one (never for forged tokens).
        family: Option<FamilyId>,
        /// Why.
        reason: GrantError,
    },
    /// A [`JwksSource`](crate::JwksSource) fetched the issuer's JWK Set and now verifies with
    /// its keys only.
    JwksRefreshed {
        /// The JWK Set URL.
        url: String,
        /// What made it fetch.
        trigger: crate::jwks::RefreshTrigger,
        /// The keys it now holds.
        keys: usize,
        /// The document's keys that were skipped, each with its reason.
        skipped: Vec<crate::jose::SkippedKey>,
    },
    /// A [`JwksSource`](crate::JwksSource) could not refresh its keys; they did not change.
    JwksRefreshFailed {
        /// The JWK Set URL.
        url: String,
        /// What made it fetch.
        trigger: crate::jwks::RefreshTrigger,
        /// Why it failed.
        reason: crate::jwks::JwksFailure,
    },
    /// An access token failed verification.
    VerificationFailed {
        /// Which check rejected it.
        reason: TokenError,
    },
}

/// Receives events. Called synchronously on the request path: keep it cheap (count, enqueue,
/// log) and never block.
pub trait EventSink: Send + Sync {
    /// Record one event.
    fn record(&self, event: &Event);
}

/// The default sink: drops every event.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoEvents;

impl EventSink for NoEvents {
    fn record(&self, _: &Event) {}
}

/// A sink that keeps every event, for tests.
#[derive(Debug, Default)]
pub struct CollectingSink {
    events: Mutex<Vec<Event>>,
}

impl CollectingSink {
    /// An empty sink.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The events so far.
    #[must_use]
    pub fn events(&self) -> Vec<Event> {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Take the events so far, leaving the sink empty.
    pub fn take(&self) -> Vec<Event> {
        std::mem::take(&mut *self.events.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl EventSink for CollectingSink {
    fn record(&self, event: &Event) {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(event.clone());
    }
}

impl<S: EventSink + ?Sized> EventSink for std::sync::Arc<S> {
    fn record(&self, event: &Event) {
        (**self).record(event);
    }
}
