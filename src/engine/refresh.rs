//! Refresh: the load → decide → compare-and-swap loop over the store, and
//! [`Engine::refresh`] on top of it.
//!
//! The loop lives here, in the engine layer, so that [`decide`](crate::family::decide) stays a pure
//! function and `family` imports no storage. Each pass reads the clock afresh after its load
//! returns: a pass that waited on the store decides with the time it actually runs at, and a
//! rotation stamps `rotated_at` with the time of the pass that won the swap. A lost swap means
//! another request made progress; the next pass sees its rotation, which turns a concurrent
//! duplicate into a grace retry (inside the window) or a reuse (outside it).

use core::future::Future;

use super::{AccessParts, Engine, store_error};
use crate::client::{Client, RefreshRequest, narrow_scope};
use crate::clock::Clock;
use crate::error::{Error, GrantError};
use crate::event::Event;
use crate::family::{
    DecideConfig, Decision, FamilyRecord, Holder, OperationId, RevocationReason, decide,
};
use crate::opaque::{FamilyId, PresentedToken, RefreshToken};
use crate::policy::PolicyVersion;
use crate::response::TokenResponse;
use crate::store::{CasOutcome, TokenStore};

/// Compare-and-swap retries before giving up with [`GrantError::Contention`]. Each lost swap
/// means another request made progress, so a handful is plenty.
pub(crate) const MAX_CAS_ATTEMPTS: usize = 8;

/// Compare-and-swap attempts of a revocation. A revocation must win against a client that
/// refreshes back to back on other instances (each of its rotations changes the version), so
/// it retries far longer than a refresh does; each retry still means the family moved on.
pub(crate) const MAX_REVOKE_ATTEMPTS: usize = 64;

/// Where the loop gets the effective policy version of a family's tenant at a given time.
pub(crate) trait PolicySource: Sync {
    /// The effective version for `tenant` at `now`.
    fn effective(
        &self,
        tenant: Option<&str>,
        now: i64,
    ) -> impl Future<Output = Result<PolicyVersion, Error>> + Send;
}

impl<S: TokenStore> PolicySource for Engine<S> {
    fn effective(
        &self,
        tenant: Option<&str>,
        now: i64,
    ) -> impl Future<Output = Result<PolicyVersion, Error>> + Send {
        self.effective_policy(tenant, now)
    }
}

/// One fixed version, whatever the tenant (benches, fuzzing).
impl PolicySource for PolicyVersion {
    async fn effective(&self, _: Option<&str>, _: i64) -> Result<PolicyVersion, Error> {
        Ok(*self)
    }
}

/// How a refresh went. The loop hands its own record to the caller's `finish` by reference
/// (`R = &FamilyRecord`): the record is not moved out through the loop's result, a few hundred
/// bytes copied several times on the hot path. [`Refreshed::map_record`] makes an owned one.
#[derive(Debug)]
pub(crate) enum Refreshed<R> {
    /// This request rotated the family.
    Rotated {
        record: R,
        token: RefreshToken,
        policy_upgraded: bool,
        now: i64,
    },
    /// This request retried a rotation within the grace window.
    GraceRetry {
        record: R,
        token: RefreshToken,
        now: i64,
    },
}

impl<R> Refreshed<R> {
    /// The same outcome with `f` applied to its record.
    pub(crate) fn map_record<T>(self, f: impl FnOnce(R) -> T) -> Refreshed<T> {
        match self {
            Self::Rotated {
                record,
                token,
                policy_upgraded,
                now,
            } => Refreshed::Rotated {
                record: f(record),
                token,
                policy_upgraded,
                now,
            },
            Self::GraceRetry { record, token, now } => Refreshed::GraceRetry {
                record: f(record),
                token,
                now,
            },
        }
    }
}

/// Why a refresh failed.
#[derive(Debug)]
pub(crate) enum RefreshFailure {
    /// Rejected; nothing was written. The flag: the family was found and decided on (false
    /// for an unknown family and for contention, whose event names no family).
    Rejected(GrantError, bool),
    /// The family is revoked by this request: by this attempt, or (`possible_repeat`) found
    /// revoked under this request's own operation id, by an earlier attempt whose answer was
    /// lost.
    Revoked {
        /// Boxed: a failure is rare, and a large error makes every result a larger copy.
        record: Box<FamilyRecord>,
        reason: RevocationReason,
        possible_repeat: bool,
    },
    /// The request itself is invalid (for example a widened scope); nothing was written and
    /// the token stays good.
    Request(Error),
    /// The store failed.
    Store(Error),
}

/// The load → decide → compare-and-swap loop. `accept` vets the request against the family
/// before a rotation or retry is committed (reuse detection runs first, whatever the request
/// asks); `finish` gets the outcome, with the family as committed (or as found, for a grace
/// retry), once.
pub(crate) async fn refresh_loop<S: TokenStore, P: PolicySource, T>(
    store: &S,
    clock: &dyn Clock,
    policy: &P,
    presented: &PresentedToken,
    base: &DecideConfig<'_>,
    accept: impl Fn(&FamilyRecord) -> Result<(), Error> + Send + Sync,
    finish: impl FnOnce(Refreshed<&FamilyRecord>) -> T + Send,
) -> Result<T, RefreshFailure> {
    let store_err = |e: S::Error| RefreshFailure::Store(store_error(e));
    for _ in 0..MAX_CAS_ATTEMPTS {
        let mut record = match store.load_family(&presented.family()).await {
            Ok(Some(record)) => record,
            Ok(None) => return Err(RefreshFailure::Rejected(GrantError::UnknownFamily, false)),
            Err(e) => return Err(store_err(e)),
        };
        // Read after the load returned: a pass decides with the time it runs at.
        let now = clock.now_unix();
        let cfg = DecideConfig {
            policy: policy
                .effective(record.tenant.as_deref(), now)
                .await
                .map_err(RefreshFailure::Store)?,
            ..*base
        };
        // The decision is taken apart before the store is awaited: only the record and what
        // the outcome needs are held across the await (not the whole decision beside a second
        // record), which keeps the future a few hundred bytes smaller.
        let expected = record.version;
        let outcome = match decide(&record, presented, now, &cfg) {
            Decision::Rotate {
                rotation,
                token,
                policy_upgraded,
            } => {
                accept(&record).map_err(RefreshFailure::Request)?;
                // Rotated in place: the loaded record's strings are reused, not copied.
                rotation.apply(&mut record);
                Ok((token, policy_upgraded))
            }
            Decision::GraceRetry { token } => {
                accept(&record).map_err(RefreshFailure::Request)?;
                return Ok(finish(Refreshed::GraceRetry {
                    record: &record,
                    token,
                    now,
                }));
            }
            Decision::Revoke {
                record: next,
                reason,
            } => {
                record = next;
                Err(reason)
            }
            Decision::Reject(GrantError::Revoked) => {
                return Err(match record.revocation() {
                    // Revoked by this very request (same token presented again) whose earlier
                    // answer was lost: report the revocation again, marked.
                    Some((reason, _, op)) if op == OperationId::of_refresh(presented, base) => {
                        RefreshFailure::Revoked {
                            record: Box::new(record),
                            reason,
                            possible_repeat: true,
                        }
                    }
                    _ => RefreshFailure::Rejected(GrantError::Revoked, true),
                });
            }
            Decision::Reject(e) => return Err(RefreshFailure::Rejected(e, true)),
        };
        if store
            .compare_and_swap_family(expected, &record)
            .await
            .map_err(store_err)?
            == CasOutcome::Swapped
        {
            return match outcome {
                Ok((token, policy_upgraded)) => Ok(finish(Refreshed::Rotated {
                    record: &record,
                    token,
                    policy_upgraded,
                    now,
                })),
                Err(reason) => Err(RefreshFailure::Revoked {
                    record: Box::new(record),
                    reason,
                    possible_repeat: false,
                }),
            };
        }
    }
    Err(RefreshFailure::Rejected(GrantError::Contention, false))
}

impl<S: TokenStore> Engine<S> {
    /// Refresh: rotation with reuse detection (load → decide → compare-and-swap, bounded
    /// retries, the clock read afresh on every pass). The scope may be narrowed, never
    /// widened; a token used by a client other than its own counts as reuse.
    ///
    /// Presenting the previous token again within `reuse_grace` of its rotation (on either
    /// side of `rotated_at`, since instances' clocks differ) returns the same successor: an
    /// honest retry after a lost answer does not revoke the session.
    pub async fn refresh(
        &self,
        client: &Client,
        refresh_token: &str,
        req: RefreshRequest,
    ) -> Result<TokenResponse, Error> {
        if client.requires_dpop() && req.dpop.is_none() {
            return Err(crate::dpop::DpopError::Missing.into());
        }
        // Checked before the rotation commits, so a bad client lifetime costs no session.
        let ttl = self.ttl_for(client)?;
        let presented = match self.inner.refresh.parse(refresh_token) {
            Ok(p) => p,
            Err(reason) => {
                self.emit(Event::RefreshRejected {
                    family: None,
                    reason,
                });
                return Err(Error::InvalidGrant(reason));
            }
        };
        let cfg = DecideConfig {
            keys: &self.inner.refresh,
            client_id: client.id(),
            policy: PolicyVersion::default(),
            reuse_grace_secs: self.inner.reuse_grace,
            idle_ttl_secs: self.inner.idle_ttl,
            holder: Holder {
                dpop_jkt: req.dpop.as_ref().map(crate::dpop::VerifiedProof::jkt),
                device_id: req.device_id.as_deref(),
                cert_thumbprint: req.cert_thumbprint.as_deref(),
            },
        };
        // Reuse detection comes first: a replayed token revokes the family whatever scope it
        // asks for. Only a request that would succeed is checked for a widened scope or
        // resource (RFC 8707 §2.2: a subset of the resources granted).
        let scope_check = |record: &FamilyRecord| {
            narrow_scope(&record.scope, req.scope.as_deref())?;
            if !req.resources.is_empty() {
                crate::resource_indicator::narrow(record.resources.as_deref(), &req.resources)?;
            }
            Ok(())
        };
        // The response is made inside the loop, from the loop's own record (not moved out).
        let finish = |done: Refreshed<&FamilyRecord>| {
            let (record, token, now) = match done {
                Refreshed::Rotated {
                    record,
                    token,
                    policy_upgraded,
                    now,
                } => {
                    self.emit(Event::Refreshed {
                        family: record.id,
                        generation: record.generation,
                        policy_upgraded: policy_upgraded.then_some(record.policy),
                    });
                    (record, token, now)
                }
                Refreshed::GraceRetry { record, token, now } => {
                    self.emit(Event::GraceRetryServed {
                        family: record.id,
                        generation: record.generation,
                    });
                    (record, token, now)
                }
            };
            self.refreshed_response(client, &req, record, token, now, ttl)
        };
        refresh_loop(
            &self.inner.store,
            &*self.inner.clock,
            self,
            &presented,
            &cfg,
            scope_check,
            finish,
        )
        .await
        .unwrap_or_else(|failure| Err(self.refresh_failed(failure, presented.family(), client)))
    }

    /// The response to a refresh that rotated (or retried) `record`: the access token and the
    /// (possibly narrowed) scope.
    fn refreshed_response(
        &self,
        client: &Client,
        req: &RefreshRequest,
        record: &FamilyRecord,
        token: RefreshToken,
        now: i64,
        ttl: i64,
    ) -> Result<TokenResponse, Error> {
        let scope = narrow_scope(&record.scope, req.scope.as_deref())?;
        let resources =
            crate::resource_indicator::narrow(record.resources.as_deref(), &req.resources)?;
        let audience = super::resource_audience(&resources);
        let access = self.access_token_for(
            client,
            &AccessParts {
                subject: &record.subject,
                client_id: &record.client_id,
                scope: &scope,
                auth_time: record.auth_time,
                sid: Some(record.id),
                tenant: record.tenant.as_deref(),
                policy: record.policy,
                jkt: record
                    .dpop_jkt
                    .as_deref()
                    .or(req.dpop.as_ref().map(crate::dpop::VerifiedProof::jkt)),
                cert: record
                    .cert_thumbprint
                    .as_deref()
                    .or(req.cert_thumbprint.as_deref()),
                claims: record.claims.as_deref(),
                now,
                ttl,
                audience: audience.as_ref(),
                act: None,
                acr: record.acr.as_deref(),
            },
            &record.scope,
            record.resources.as_deref(),
        )?;
        let bound = record.dpop_jkt.is_some() || req.dpop.is_some();
        // A narrowed scope moves into the response.
        Ok(self.response(access, Some(token), scope.into_owned(), bound, ttl))
    }

    fn refresh_failed(&self, failure: RefreshFailure, family: FamilyId, client: &Client) -> Error {
        match failure {
            RefreshFailure::Store(e) | RefreshFailure::Request(e) => e,
            RefreshFailure::Rejected(reason, found) => {
                let known =
                    found || !matches!(reason, GrantError::UnknownFamily | GrantError::Contention);
                self.emit(Event::RefreshRejected {
                    family: known.then_some(family),
                    reason,
                });
                Error::InvalidGrant(reason)
            }
            RefreshFailure::Revoked {
                record,
                reason,
                possible_repeat,
            } => match reason {
                RevocationReason::PolicyChanged => {
                    self.emit(Event::ReauthenticationRequired {
                        family: record.id,
                        subject: record.subject.as_ref().to_owned(),
                        possible_repeat,
                    });
                    self.emit(Event::FamilyRevoked {
                        family: record.id,
                        reason,
                        possible_repeat,
                    });
                    Error::ReauthenticationRequired
                }
                reason => {
                    self.emit(Event::ReuseDetected {
                        family: record.id,
                        client_id: record.client_id.as_ref().to_owned(),
                        subject: record.subject.as_ref().to_owned(),
                        presented_by: client.id().to_owned(),
                        possible_repeat,
                    });
                    self.emit(Event::FamilyRevoked {
                        family: record.id,
                        reason,
                        possible_repeat,
                    });
                    Error::ReuseDetected
                }
            },
        }
    }
}
