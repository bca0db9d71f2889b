//! Refresh-token families: the stored record and the pure rotation state machine that
//! [`Engine::refresh`](crate::Engine::refresh) drives. For store implementers and for testing
//! or auditing the rotation rules; an application calling the engine does not need it.
//!
//! The engine loads the record, calls [`decide`] and writes the outcome back; applications only
//! meet [`RevocationReason`] (re-exported at the crate root: revocation events carry it).
//! Store implementers persist [`FamilyRecord`] with its [`FamilyState`], [`OperationId`] and
//! [`SecretHash`] (also re-exported from the `store` module, next to the traits). Tests,
//! fuzz targets and reviews drive the state machine directly through [`decide`],
//! [`DecideConfig`] and [`Decision`].
//!
//! A family is one login session on one client. The store keeps one [`FamilyRecord`] per
//! family, whatever the number of rotations. [`decide`] is a pure function of the record,
//! the presented token, the time and the configuration: no I/O, no clock read, no store. The
//! engine loops load → decide → compare-and-swap, reading the clock afresh on every pass; a
//! lost swap reloads and decides again, so the winner's rotation turns a concurrent duplicate
//! into a grace retry (inside the grace window) or a reuse (outside it).
//!
//! | presented | decision |
//! |---|---|
//! | bad tag / unknown key id | rejected by [`RefreshKeys::parse`], before any store read |
//! | family revoked, or past its idle or absolute expiry | [`Decision::Reject`] |
//! | issued to another client | [`Decision::Revoke`] (counts as reuse) |
//! | bound family, presenter without its DPoP key, certificate or device | [`Decision::Revoke`] (`BindingMismatch`) |
//! | generation ahead of the record | [`Decision::Reject`] (`GenerationAhead`, an anomaly) |
//! | older generation, outside the grace rule below | [`Decision::Revoke`] (reuse detected) |
//! | policy major older than current | [`Decision::Revoke`] (`PolicyChanged`) |
//! | current - 1, within `reuse_grace` of `rotated_at` in either direction, successor matches | [`Decision::GraceRetry`]: the same successor |
//! | current, hash matches | [`Decision::Rotate`] (upgrading a minor policy version) |

use core::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::{Error, GrantError};
use crate::opaque::{
    FamilyId, PresentedToken, RefreshKeys, RefreshToken, hash_secret, hashes_match,
};
use crate::policy::PolicyVersion;

/// Why a family was revoked.
///
/// Persist it by its stable name ([`RevocationReason::as_str`], read back with
/// [`RevocationReason::parse`]); the serde names are the same strings and equally stable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum RevocationReason {
    /// A refresh token of an older generation was replayed (or used by another client).
    ReuseDetected,
    /// The security-policy major version moved past the family's.
    PolicyChanged,
    /// The user signed out of this session.
    Logout,
    /// The user signed out of every session.
    SignOutEverywhere,
    /// Revoked through RFC 7009 revocation of one of its tokens.
    TokenRevoked,
    /// Revoked by an administrator or by the application.
    Administrative,
    /// The `issue` call that created the family failed after the store committed it (its
    /// answer was lost), so nobody holds its tokens: the engine revoked it on a best-effort
    /// basis.
    IssueFailed,
    /// The authorization code the family was issued from was presented again (RFC 6749
    /// §4.1.2): the code may have been stolen.
    CodeReplayed,
    /// A refresh token of a sender-constrained family (DPoP key, client certificate, device)
    /// was presented without the binding, or with another: only a thief holds the token
    /// without the key.
    BindingMismatch,
}

impl RevocationReason {
    /// Every reason this version knows, in declaration order (for stores that enumerate
    /// them, e.g. a `CHECK` constraint, and for tests).
    pub const ALL: [RevocationReason; 9] = [
        RevocationReason::ReuseDetected,
        RevocationReason::PolicyChanged,
        RevocationReason::Logout,
        RevocationReason::SignOutEverywhere,
        RevocationReason::TokenRevoked,
        RevocationReason::Administrative,
        RevocationReason::IssueFailed,
        RevocationReason::CodeReplayed,
        RevocationReason::BindingMismatch,
    ];

    /// The reason's stable name, for storage: the variant's name (`"ReuseDetected"`, ...),
    /// which is also its serde name. Names never change and are never reused; a new reason
    /// gets a new name, so a column written by this version stays readable by every later
    /// one. Store it as text (`TEXT`, at most 32 bytes, ASCII).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            RevocationReason::ReuseDetected => "ReuseDetected",
            RevocationReason::PolicyChanged => "PolicyChanged",
            RevocationReason::Logout => "Logout",
            RevocationReason::SignOutEverywhere => "SignOutEverywhere",
            RevocationReason::TokenRevoked => "TokenRevoked",
            RevocationReason::Administrative => "Administrative",
            RevocationReason::IssueFailed => "IssueFailed",
            RevocationReason::CodeReplayed => "CodeReplayed",
            RevocationReason::BindingMismatch => "BindingMismatch",
        }
    }

    /// The reason named `name` by [`RevocationReason::as_str`] (exact, case-sensitive), or
    /// `None` for a name this version does not know (written by a later version, or
    /// corrupted): a store should report such a row as an error rather than guess.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

impl fmt::Display for RevocationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a family can still be refreshed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FamilyState {
    /// Refreshable (subject to its expiries).
    Active,
    /// Revoked at `at` (Unix seconds) for `reason`, by the request `operation`.
    Revoked {
        /// Why.
        reason: RevocationReason,
        /// When.
        at: i64,
        /// Which request revoked it, so a retry of that request (whose first answer was lost)
        /// can tell that it may have done it and report it again.
        operation: OperationId,
    },
}

/// Identifies the request that revoked a family: 16 bytes of SHA-256 over a label and the
/// request's inputs (for a refresh: the family, the presented generation and the hash of the
/// presented secret; for a sign-out: the subject). A retry of the same request computes the
/// same id, so when it finds the family already revoked under its own id it knows that its
/// earlier attempt may have committed the revocation and reports it again (marked as a possible
/// repeat). Not secret, and no token or secret can be recovered from it.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OperationId(pub [u8; 16]);

impl OperationId {
    /// The id of the request labelled `label` with these inputs (each length-prefixed, so
    /// distinct inputs never collide by concatenation).
    #[must_use]
    pub fn of(label: &str, parts: &[&[u8]]) -> Self {
        let digest = crate::opaque::labelled_digest(label, parts);
        let mut id = [0u8; 16];
        id.copy_from_slice(digest.get(..16).unwrap_or(&[0; 16]));
        Self(id)
    }

    /// The id of a refresh presenting this token, by this client, with what the presenter
    /// holds (DPoP key, device, certificate): a retry is the same presenter sending the same
    /// token again; a thief without the key is another request.
    #[must_use]
    pub fn of_refresh(presented: &PresentedToken, cfg: &DecideConfig<'_>) -> Self {
        let h = &cfg.holder;
        fn opt(v: Option<&str>) -> &[u8] {
            v.map_or(&[][..], str::as_bytes)
        }
        Self::of(
            "refresh",
            &[
                presented.family.as_bytes(),
                &presented.generation.to_be_bytes(),
                &hash_secret(&presented.secret),
                cfg.client_id.as_bytes(),
                &[
                    u8::from(h.dpop_jkt.is_some()),
                    u8::from(h.device_id.is_some()),
                    u8::from(h.cert_thumbprint.is_some()),
                ],
                opt(h.dpop_jkt),
                opt(h.device_id),
                opt(h.cert_thumbprint),
            ],
        )
    }
}

impl fmt::Debug for OperationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, ..] = self.0;
        write!(f, "OperationId({a:02x}{b:02x}{c:02x}{d:02x}..)")
    }
}

/// `SHA-256` of the current generation's secret: all the store learns of a refresh token.
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretHash(pub [u8; 32]);

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not a secret, but a prefix is all a log needs.
        write!(
            f,
            "SecretHash({:02x}{:02x}{:02x}{:02x}..)",
            self.0[0], self.0[1], self.0[2], self.0[3]
        )
    }
}

/// The one stored record of a refresh-token family. Its size does not depend on the number
/// of rotations. Times are Unix seconds.
///
/// The strings are fixed when the family is created and shared (`Arc<str>`): a clone counts
/// references instead of copying them, so a store that keeps records in memory hands a record
/// out and swaps a rotation in without copying a string (only `revoked_access`, when it has
/// entries, is copied). A store that reads rows builds them with `.into()` (`String` and
/// `&str` both convert).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FamilyRecord {
    /// Family id (the access tokens' `sid`).
    pub id: FamilyId,
    /// The user.
    pub subject: Arc<str>,
    /// The client the family belongs to.
    pub client_id: Arc<str>,
    /// Granted scopes, space-separated.
    pub scope: Arc<str>,
    /// Tenant, for per-tenant policy versions.
    pub tenant: Option<Arc<str>>,
    /// Device the session is bound to, if any.
    pub device_id: Option<Arc<str>>,
    /// RFC 7638 thumbprint of the DPoP key the family is bound to, if any.
    pub dpop_jkt: Option<Arc<str>>,
    /// SHA-256 of the client certificate the family is bound to (RFC 8705 `x5t#S256`,
    /// base64url), if any.
    pub cert_thumbprint: Option<Arc<str>>,
    /// The application's claims for the session's access tokens, as a compact JSON object.
    pub claims: Option<Arc<str>>,
    /// The resource indicators granted (RFC 8707), space-separated absolute URIs: the
    /// access tokens' `aud` (a refresh may narrow to a subset, never widen). `None`: the
    /// engine's own audiences.
    pub resources: Option<Arc<str>>,
    /// The authentication context class the user authenticated with (`acr`, RFC 9470), if
    /// the application named one: carried into every access token of the session.
    pub acr: Option<Arc<str>>,
    /// When the user authenticated.
    pub auth_time: i64,
    /// When the family was created.
    pub created_at: i64,
    /// When the family ends, whatever happens. Never moves.
    pub absolute_expires_at: i64,
    /// Last successful refresh (or creation); the idle expiry slides from it.
    pub last_used_at: i64,
    /// Security-policy version the session was authorised under.
    pub policy: PolicyVersion,
    /// Current generation (0 at creation).
    pub generation: u32,
    /// Refresh-secret key id the current generation was minted under.
    pub key_id: u8,
    /// Hash of the current generation's secret.
    pub current_secret_hash: SecretHash,
    /// When the current generation was minted by a rotation (0 before the first).
    pub rotated_at: i64,
    /// Active or revoked.
    pub state: FamilyState,
    /// Compare-and-swap version, incremented on every write.
    pub version: u64,
    // Reference access tokens (issue 23).
    /// The record exists only for reference access tokens of a grant without a refresh token
    /// (client credentials, [`IssueRequest::without_refresh_token`](crate::IssueRequest::without_refresh_token)):
    /// no refresh token names it, it is not a session (not in
    /// [`Engine::sessions`](crate::Engine::sessions)), and it ends at `absolute_expires_at`
    /// (its access token's `exp`; the idle expiry does not apply), when `delete_expired`
    /// sweeps it.
    #[serde(default)]
    pub access_only: bool,
    /// Reference access tokens of this family revoked one by one (RFC 7009), each kept until
    /// its `exp`: at most [`MAX_REVOKED_ACCESS_TOKENS`] entries, whatever the number of
    /// tokens issued (past that, revocations move [`FamilyRecord::access_not_before`]).
    #[serde(default)]
    pub revoked_access: Box<[RevokedAccessToken]>,
    /// Reference access tokens of this family issued before this time (`iat <` it, Unix
    /// seconds) are revoked; 0 when none is. Where revocations go when
    /// [`FamilyRecord::revoked_access`] is full.
    #[serde(default)]
    pub access_not_before: i64,
}

/// At most this many individually revoked reference access tokens are listed per family
/// (32 bytes each: at most 512 bytes per session, whatever the number of tokens issued).
pub const MAX_REVOKED_ACCESS_TOKENS: usize = 16;

/// A reference access token revoked on its own (RFC 7009), listed in its family until it
/// expires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RevokedAccessToken {
    /// The token's id (its `jti`).
    pub id: [u8; 16],
    /// When it was issued (Unix seconds).
    pub iat: i64,
    /// When it expires (Unix seconds): the entry can be dropped from then on.
    pub exp: i64,
}

impl FamilyRecord {
    /// Whether the family is not revoked (it may still be expired).
    #[must_use]
    pub fn is_active(&self) -> bool {
        matches!(self.state, FamilyState::Active)
    }

    /// When the family ends if nobody uses it: its idle expiry, capped by its absolute one.
    #[must_use]
    pub fn expires_at(&self, idle_ttl_secs: i64) -> i64 {
        self.absolute_expires_at
            .min(self.last_used_at.saturating_add(idle_ttl_secs))
    }

    /// Whether the family can still be refreshed at `now`: not revoked, not past its idle or
    /// absolute expiry. (The policy version is checked separately, against the current one.)
    #[must_use]
    pub fn is_live(&self, now: i64, idle_ttl_secs: i64) -> bool {
        self.is_active() && now < self.expires_at(idle_ttl_secs)
    }

    /// Whether the record can still back an access token at `now`: [`FamilyRecord::is_live`]
    /// for a session; for an [`access_only`](FamilyRecord::access_only) record, not revoked
    /// and before its `absolute_expires_at`.
    #[must_use]
    pub fn is_live_for_access(&self, now: i64, idle_ttl_secs: i64) -> bool {
        if self.access_only {
            self.is_active() && now < self.absolute_expires_at
        } else {
            self.is_live(now, idle_ttl_secs)
        }
    }

    /// Whether the reference access token `id`, issued at `iat`, is revoked on its own
    /// (listed, or issued before [`FamilyRecord::access_not_before`]).
    #[must_use]
    pub fn access_token_revoked(&self, id: &[u8; 16], iat: i64) -> bool {
        iat < self.access_not_before
            || self
                .revoked_access
                .iter()
                .any(|r| bool::from(subtle::ConstantTimeEq::ct_eq(&r.id[..], &id[..])))
    }

    /// Revoke one reference access token at `now` and bump the version: drop the entries
    /// expired at `now`, list the token, and when the list is full move
    /// [`FamilyRecord::access_not_before`] past the newest listed or revoked token's `iat`
    /// (revoking every token of the family issued up to that second: over-revoking, never
    /// under) and drop the entries it covers. `false` (and nothing changed) when the token
    /// is already revoked or expired.
    pub fn revoke_access_token(&mut self, token: RevokedAccessToken, now: i64) -> bool {
        if token.exp <= now || self.access_token_revoked(&token.id, token.iat) {
            return false;
        }
        let mut list: Vec<RevokedAccessToken> = core::mem::take(&mut self.revoked_access).into();
        list.retain(|r| r.exp > now);
        if list.len() >= MAX_REVOKED_ACCESS_TOKENS {
            let newest = list.iter().map(|r| r.iat).fold(token.iat, i64::max);
            self.access_not_before = self.access_not_before.max(newest.saturating_add(1));
            let floor = self.access_not_before;
            list.retain(|r| r.iat >= floor);
        } else {
            list.push(token);
        }
        self.revoked_access = list.into_boxed_slice();
        self.version = self.version.wrapping_add(1);
        true
    }

    /// Mark the family revoked by `operation` and bump its version.
    pub fn revoke(&mut self, reason: RevocationReason, at: i64, operation: OperationId) {
        self.state = FamilyState::Revoked {
            reason,
            at,
            operation,
        };
        self.version = self.version.wrapping_add(1);
    }

    /// The revocation, if the family is revoked.
    #[must_use]
    pub fn revocation(&self) -> Option<(RevocationReason, i64, OperationId)> {
        match self.state {
            FamilyState::Active => None,
            FamilyState::Revoked {
                reason,
                at,
                operation,
            } => Some((reason, at, operation)),
        }
    }
}

/// What [`decide`] needs besides the record and the token.
#[derive(Clone, Copy, Debug)]
pub struct DecideConfig<'a> {
    /// The refresh secrets (to derive and mint successors).
    pub keys: &'a RefreshKeys,
    /// The client presenting the token.
    pub client_id: &'a str,
    /// The effective policy version for the family's tenant.
    pub policy: PolicyVersion,
    /// How long before or after a rotation's `rotated_at` the previous token may be presented
    /// again and get the same successor (0: never). The window is symmetric because the
    /// instance deciding a retry may have a clock behind the one that rotated.
    pub reuse_grace_secs: i64,
    /// How long a family may go unused.
    pub idle_ttl_secs: i64,
    /// What the presenter proved it holds (DPoP key, client certificate, device).
    pub holder: Holder<'a>,
}

/// What the presenter of a refresh token proved it holds. A family bound to any of these
/// refreshes only for a presenter with the same one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Holder<'a> {
    /// RFC 7638 thumbprint of the key of a verified DPoP proof.
    pub dpop_jkt: Option<&'a str>,
    /// The device the request comes from.
    pub device_id: Option<&'a str>,
    /// `x5t#S256` of the client certificate the TLS layer verified.
    pub cert_thumbprint: Option<&'a str>,
}

impl Holder<'_> {
    /// Whether this holder satisfies every binding of `record` (constant-time comparisons).
    #[must_use]
    pub fn satisfies(&self, record: &FamilyRecord) -> bool {
        fn same(bound: Option<&Arc<str>>, held: Option<&str>) -> bool {
            match (bound, held) {
                (None, _) => true,
                (Some(b), Some(h)) => {
                    b.len() == h.len()
                        && bool::from(subtle::ConstantTimeEq::ct_eq(b.as_bytes(), h.as_bytes()))
                }
                (Some(_), None) => false,
            }
        }
        same(record.dpop_jkt.as_ref(), self.dpop_jkt)
            && same(record.device_id.as_ref(), self.device_id)
            && same(record.cert_thumbprint.as_ref(), self.cert_thumbprint)
    }
}

/// What to do with a presented refresh token. The caller must act on it.
#[must_use]
#[derive(Debug)]
// A decision lives on the stack for one pass of the refresh loop; the large variant is the
// rare revocation, so boxing it would only add an allocation.
#[allow(clippy::large_enum_variant)]
pub enum Decision {
    /// Apply `rotation` to the loaded record, store it (compare-and-swap on the loaded
    /// version) and hand out `token`.
    Rotate {
        /// What the rotation changes (`version` incremented among it): apply it to the
        /// record decided on, in place ([`Rotation::apply`]), no copy of its strings.
        rotation: Rotation,
        /// The successor refresh token.
        token: RefreshToken,
        /// Whether the family's policy version was upgraded (a minor bump).
        policy_upgraded: bool,
    },
    /// An honest retry within the grace window: hand out the same successor again; nothing
    /// to write.
    GraceRetry {
        /// The successor minted by the rotation being retried.
        token: RefreshToken,
    },
    /// Store `record` (now revoked) and fail the request.
    Revoke {
        /// The record after revocation.
        record: FamilyRecord,
        /// Why.
        reason: RevocationReason,
    },
    /// Fail the request; nothing to write.
    Reject(GrantError),
}

/// What a rotation changes in a family record: the new generation, its key and secret hash,
/// the times, the policy upgrade if any, and the version. Everything else stays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rotation {
    /// The new generation.
    pub generation: u32,
    /// The key id the new generation is minted under.
    pub key_id: u8,
    /// Hash of the new generation's secret.
    pub current_secret_hash: SecretHash,
    /// When (also the new `last_used_at`).
    pub at: i64,
    /// The upgraded policy version, on a minor bump.
    pub policy: Option<PolicyVersion>,
    /// The new version (the loaded one plus one).
    pub version: u64,
}

impl Rotation {
    /// Apply the rotation to the record it was decided on.
    pub fn apply(&self, record: &mut FamilyRecord) {
        record.generation = self.generation;
        record.key_id = self.key_id;
        record.current_secret_hash = self.current_secret_hash;
        record.rotated_at = self.at;
        record.last_used_at = self.at;
        if let Some(policy) = self.policy {
            record.policy = policy;
        }
        record.version = self.version;
    }

    /// A copy of `record` with the rotation applied.
    #[must_use]
    pub fn applied(&self, record: &FamilyRecord) -> FamilyRecord {
        let mut next = record.clone();
        self.apply(&mut next);
        next
    }
}

fn revoke(
    record: &FamilyRecord,
    presented: &PresentedToken,
    cfg: &DecideConfig<'_>,
    reason: RevocationReason,
    now: i64,
) -> Decision {
    let mut record = record.clone();
    record.revoke(reason, now, OperationId::of_refresh(presented, cfg));
    Decision::Revoke { record, reason }
}

/// The rotation state machine. Pure: no I/O, no clock; every branch is reachable from tests.
pub fn decide(
    record: &FamilyRecord,
    presented: &PresentedToken,
    now: i64,
    cfg: &DecideConfig<'_>,
) -> Decision {
    if presented.family != record.id {
        return Decision::Reject(GrantError::UnknownFamily);
    }
    if matches!(record.state, FamilyState::Revoked { .. }) {
        return Decision::Reject(GrantError::Revoked);
    }
    if now >= record.absolute_expires_at {
        return Decision::Reject(GrantError::AbsoluteExpired);
    }
    if now >= record.last_used_at.saturating_add(cfg.idle_ttl_secs) {
        return Decision::Reject(GrantError::IdleExpired);
    }
    if presented.generation > record.generation {
        return Decision::Reject(GrantError::GenerationAhead);
    }
    if cfg.client_id != &*record.client_id {
        // A token of this family in another client's hands: treat as theft.
        return revoke(record, presented, cfg, RevocationReason::ReuseDetected, now);
    }
    if !cfg.holder.satisfies(record) {
        // A sender-constrained token without its key (or device, or certificate): theft.
        return revoke(
            record,
            presented,
            cfg,
            RevocationReason::BindingMismatch,
            now,
        );
    }
    let current = presented.generation == record.generation;
    let previous = presented.generation.checked_add(1) == Some(record.generation);
    if current {
        if !hashes_match(
            &hash_secret(&presented.secret),
            &record.current_secret_hash.0,
        ) {
            // A genuine tag over a secret that is not the current one: two successors of one
            // generation exist. Only a fork or a stolen MAC key does that; end the family.
            return revoke(record, presented, cfg, RevocationReason::ReuseDetected, now);
        }
    } else if !(previous && within_grace(record, now, cfg)) {
        return revoke(record, presented, cfg, RevocationReason::ReuseDetected, now);
    }
    if cfg.policy.major > record.policy.major {
        return revoke(record, presented, cfg, RevocationReason::PolicyChanged, now);
    }
    if current {
        rotate(record, presented, now, cfg)
    } else {
        grace_retry(record, presented, now, cfg)
    }
}

/// Within the grace window on either side of the rotation: the instance that rotated and the
/// one deciding the retry may read clocks a second or two apart, and a request that stalled
/// may be decided after a retry that started later. A retry after the window is reuse.
fn within_grace(record: &FamilyRecord, now: i64, cfg: &DecideConfig<'_>) -> bool {
    cfg.reuse_grace_secs > 0
        && now.abs_diff(record.rotated_at) <= cfg.reuse_grace_secs.unsigned_abs()
}

fn rotate(
    record: &FamilyRecord,
    presented: &PresentedToken,
    now: i64,
    cfg: &DecideConfig<'_>,
) -> Decision {
    let Some(next_gen) = record.generation.checked_add(1) else {
        return Decision::Reject(GrantError::AbsoluteExpired); // 2^32 rotations: the family is done
    };
    let key_id = cfg.keys.current_id();
    let minted = cfg
        .keys
        .successor(key_id, record.id, next_gen, &presented.secret)
        .and_then(|secret| {
            Ok((
                hash_secret(&secret),
                cfg.keys.mint(key_id, record.id, next_gen, &secret)?,
            ))
        });
    let Ok((hash, token)) = minted else {
        return Decision::Reject(GrantError::InvalidTag);
    };
    let policy_upgraded = cfg.policy > record.policy;
    Decision::Rotate {
        rotation: Rotation {
            generation: next_gen,
            key_id,
            current_secret_hash: SecretHash(hash),
            at: now,
            policy: policy_upgraded.then_some(cfg.policy),
            version: record.version.wrapping_add(1),
        },
        token,
        policy_upgraded,
    }
}

fn grace_retry(
    record: &FamilyRecord,
    presented: &PresentedToken,
    now: i64,
    cfg: &DecideConfig<'_>,
) -> Decision {
    // Re-derive the successor the winning rotation minted; it must be the stored one.
    let key_id = record.key_id;
    let Ok(secret) = cfg
        .keys
        .successor(key_id, record.id, record.generation, &presented.secret)
    else {
        return Decision::Reject(GrantError::InvalidTag);
    };
    if !hashes_match(&hash_secret(&secret), &record.current_secret_hash.0) {
        // Genuine previous-generation token whose successor is not the stored one: reuse.
        return revoke(record, presented, cfg, RevocationReason::ReuseDetected, now);
    }
    match cfg.keys.mint(key_id, record.id, record.generation, &secret) {
        Ok(token) => Decision::GraceRetry { token },
        Err(_) => Decision::Reject(GrantError::InvalidTag),
    }
}

/// A new family record for generation 0 and its first refresh token.
pub(crate) struct NewFamily {
    pub(crate) record: FamilyRecord,
    pub(crate) token: RefreshToken,
}

/// Everything that describes a new session.
#[derive(Debug)]
pub(crate) struct FamilySpec<'a> {
    pub(crate) subject: &'a str,
    pub(crate) client_id: &'a str,
    pub(crate) scope: &'a str,
    pub(crate) tenant: Option<&'a str>,
    pub(crate) device_id: Option<&'a str>,
    pub(crate) dpop_jkt: Option<&'a str>,
    pub(crate) cert_thumbprint: Option<&'a str>,
    pub(crate) claims: Option<String>,
    pub(crate) resources: Option<&'a str>,
    pub(crate) acr: Option<&'a str>,
    pub(crate) auth_time: i64,
    pub(crate) policy: PolicyVersion,
    pub(crate) absolute_ttl_secs: i64,
}

pub(crate) fn new_family(
    keys: &RefreshKeys,
    spec: &FamilySpec<'_>,
    now: i64,
) -> Result<NewFamily, Error> {
    let id = FamilyId::generate()?;
    let secret = RefreshKeys::fresh_secret()?;
    let key_id = keys.current_id();
    let token = keys.mint(key_id, id, 0, &secret)?;
    let own = |s: Option<&str>| s.map(Arc::from);
    Ok(NewFamily {
        record: FamilyRecord {
            id,
            subject: spec.subject.into(),
            client_id: spec.client_id.into(),
            scope: spec.scope.into(),
            tenant: own(spec.tenant),
            device_id: own(spec.device_id),
            dpop_jkt: own(spec.dpop_jkt),
            cert_thumbprint: own(spec.cert_thumbprint),
            claims: spec.claims.as_deref().map(Arc::from),
            resources: own(spec.resources),
            acr: own(spec.acr),
            auth_time: spec.auth_time,
            created_at: now,
            absolute_expires_at: now.saturating_add(spec.absolute_ttl_secs),
            last_used_at: now,
            policy: spec.policy,
            generation: 0,
            key_id,
            current_secret_hash: SecretHash(hash_secret(&secret)),
            rotated_at: 0,
            state: FamilyState::Active,
            version: 0,
            access_only: false,
            revoked_access: Box::default(),
            access_not_before: 0,
        },
        token,
    })
}

#[cfg(test)]
pub(crate) mod tests;
