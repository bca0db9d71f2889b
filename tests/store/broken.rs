//! [`Broken`]: a `MemoryStore` that misbehaves in exactly one way, its [`Fault`], for the
//! conformance kit's mutation test (`kit_mutations.rs`). Each fault is a plausible misreading
//! of the trait docs by someone writing a PostgreSQL or Redis store.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use token_engine::store::{
    CasOutcome, ClientRecord, CodeRecord, DeviceRecord, DeviceState, InsertOutcome,
};
use token_engine::store::{
    ClientStore, CodeStore, DeviceStore, FamilyRecord, FamilyState, OperationId, ReplayStore,
};
use token_engine::{FamilyId, MemoryStore, PolicyVersion, RevocationReason, TokenStore};

/// Runs of a racing check before a fault that only shows under concurrency counts as escaped.
pub(crate) const ATTEMPTS: usize = 20;
/// Runs of the runner on a known escape (see [`KNOWN_ESCAPES`]).
pub(crate) const ESCAPE_RUNS: usize = 3;
/// A run of a runner or a check taking longer than this counts as a hang (not a rejection).
pub(crate) const TIME_LIMIT: Duration = Duration::from_secs(60);
/// Rows after which the capped faults stop.
pub(crate) const CAP: usize = 100;
/// The database clock of [`Fault::ListHidesExpired`] (2026-01-01): like every real clock today,
/// before the kit's simulated time.
pub(crate) const DATABASE_NOW: i64 = 1_767_225_600;

/// How a broken store misreads its contract. One fault per store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    /// No fault: the wrapper itself must pass every runner.
    None,
    /// `UPDATE families SET ...` forgets one column: a swap keeps that field's old value.
    CasKeeps(Field),
    /// `INSERT` forgets one nullable column: a create stores `None` for it.
    CreateDrops(Optional),
    /// `version` in a `BIGINT` through a saturating conversion: past `i64::MAX` reads `i64::MAX`.
    VersionAsSaturatingI64,
    /// `generation` in an `INTEGER` through a saturating conversion.
    GenerationAsSaturatingI32,
    /// Every family time in a 32-bit column (clamped to the `i32` range).
    TimesAsI32,
    /// MySQL `utf8` (3-byte) columns: characters outside the BMP come back as `?`.
    NonBmpAsQuestionMark,
    /// `scope VARCHAR(255)`, truncating.
    ScopeAsVarchar255,
    /// The revoked access tokens in a one-entry column: only the first is kept.
    RevokedAccessKeepsOne,
    /// `access_not_before` in a 32-bit column (clamped to the `i32` range).
    AccessNotBeforeAsI32,
    /// `UPDATE ... WHERE id = $1` without `AND version = $2`.
    CasIgnoresVersion,
    /// An upsert for the swap: a missing family is inserted.
    CasCreatesMissing,
    /// `SELECT version`, compare in the application, then `UPDATE` without a condition.
    CasCheckThenAct,
    /// The same, with no `.await` between the read and the write (one synchronous stretch,
    /// as a blocking driver or a store's internal helper would do): only tasks on other
    /// threads, or other processes, interleave.
    CasCheckThenActNoAwait,
    /// Check-then-act made atomic by a lock inside the store object: each instance (each app
    /// server's store handle) has its own, so two instances over one database still race.
    CasLockedPerInstance,
    /// `INSERT ... ON CONFLICT (id) DO UPDATE`, reported as "the row existed".
    CreateOverwrites,
    /// `INSERT ... ON CONFLICT DO NOTHING` without looking at the rows inserted.
    CreateAlwaysInserted,
    /// `list_families` with `LIMIT 100`.
    ListCapped,
    /// `revoke_subject` that works through the first 100 rows only.
    RevokeCapped,
    /// `list_families` matching subjects loosely (`revoke_subject` stays exact).
    ListMatches(Match),
    /// `revoke_subject` matching subjects loosely (`list_families` stays exact).
    RevokeMatches(Match),
    /// `list_families` from a lagging replica: every family as it was created.
    ListStale,
    /// `load_family` from a lagging replica: every family as it was created.
    LoadStale,
    /// `list_families` through a join that yields each family twice.
    ListDuplicates,
    /// `list_families` with `AND absolute_expires_at > now()`, on the database clock.
    ListHidesExpired,
    /// Revocations kept in a side table that `list_families` joins and `load_family` does not.
    RevokeInSideTable,
    /// List the families, then swap each against the listed version: skips families rotated
    /// in between.
    RevokeBySnapshot,
    /// An ORM's read-modify-write: list the families, then save each listed record revoked,
    /// without a version condition (a rotation in between is lost, its version reused).
    RevokeReadModifyWrite,
    /// `UPDATE ... SET state = 'revoked', ...` without `AND state = 'active'`.
    RevokeRevokesRevoked,
    /// Returns how many families the subject has instead of how many this call revoked.
    RevokeCountsAll,
    /// Sets the revocation without `version = version + 1`.
    RevokeKeepsVersion,
    /// Tenants in a case-insensitive column.
    PolicyTenantCaseInsensitive,
    /// The global level stored as the empty tenant (`COALESCE(tenant, '')`).
    PolicyEmptyTenantIsGlobal,
    /// `save_policy(_, None)` does nothing.
    PolicyRemoveIgnored,
    /// `save_policy` keeps the greater version (`GREATEST`), as if only bumps happened.
    PolicyOnlyUpward,
    /// `delete_expired` also deletes revoked families.
    SweepRevoked,
    /// `delete_expired` deletes what expires within the next hour.
    SweepAnHourEarly,
    /// `delete_expired` returns 0 (the rows deleted are never counted).
    SweepCountsNothing,
    /// `delete_expired` sweeps families only, not codes, device records or replay ids.
    SweepFamiliesOnly,
    /// `take_code` reads the code and never deletes it.
    TakeKeepsCode,
    /// `take_code` as a read, then a delete (whose result is ignored).
    TakeCheckThenAct,
    /// `insert_code` as an upsert.
    InsertCodeOverwrites,
    /// Code and device times in 32-bit columns (clamped to the `i32` range).
    GroupTimesAsI32,
    /// Code and device payloads in a text column (invalid UTF-8 replaced).
    PayloadAsText,
    /// No unique index on the user code.
    UserCodeNotUnique,
    /// `insert_device` as an upsert on the key (the user code stays unique).
    DeviceInsertOverwrites,
    /// `compare_and_swap_device` without the version condition.
    DeviceCasIgnoresVersion,
    /// `compare_and_swap_device` as an upsert.
    DeviceCasCreatesMissing,
    /// `compare_and_swap_device` as a read, a comparison, then an unconditional write.
    DeviceCasCheckThenAct,
    /// User codes in a case-insensitive column.
    UserCodeCaseInsensitive,
    /// The device state as an `approved BOOLEAN`: `Consumed` reads back `Approved`, `Denied`
    /// reads back `Pending`.
    DeviceStateAsApprovedFlag,
    /// `insert_replay_id` answers `Inserted` whatever happened (Redis `SET` without `NX`).
    ReplayAlwaysInserted,
    /// `insert_replay_id` as `GET`, then `SET` (not `SET NX`).
    ReplayCheckThenInsert,
    /// `insert_client` as an upsert, reported as "the row existed".
    ClientInsertOverwrites,
    /// Client ids in a case-insensitive column.
    ClientIdCaseInsensitive,
    /// The registration payload in a text column (invalid UTF-8 replaced).
    ClientPayloadAsText,
    /// `issued_at` in a 32-bit column.
    ClientIssuedAtAsI32,
    /// `delete_expired` also deletes registered clients.
    ClientSwept,
    /// `insert_client` as a read, then an insert without a unique key.
    ClientInsertCheckThenAct,
}

/// A field of a family record that a swap can forget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Field {
    Subject,
    ClientId,
    Scope,
    Tenant,
    DeviceId,
    DpopJkt,
    CertThumbprint,
    Claims,
    Resources,
    Acr,
    AuthTime,
    CreatedAt,
    AbsoluteExpiresAt,
    LastUsedAt,
    Policy,
    Generation,
    KeyId,
    CurrentSecretHash,
    RotatedAt,
    State,
    Version,
    AccessOnly,
    RevokedAccess,
    AccessNotBefore,
}

impl Field {
    /// Give `new` the value of this field in `old`.
    fn keep(self, old: &FamilyRecord, new: &mut FamilyRecord) {
        match self {
            Field::Subject => new.subject.clone_from(&old.subject),
            Field::ClientId => new.client_id.clone_from(&old.client_id),
            Field::Scope => new.scope.clone_from(&old.scope),
            Field::Tenant => new.tenant.clone_from(&old.tenant),
            Field::DeviceId => new.device_id.clone_from(&old.device_id),
            Field::DpopJkt => new.dpop_jkt.clone_from(&old.dpop_jkt),
            Field::CertThumbprint => new.cert_thumbprint.clone_from(&old.cert_thumbprint),
            Field::Claims => new.claims.clone_from(&old.claims),
            Field::Resources => new.resources.clone_from(&old.resources),
            Field::Acr => new.acr.clone_from(&old.acr),
            Field::AuthTime => new.auth_time = old.auth_time,
            Field::CreatedAt => new.created_at = old.created_at,
            Field::AbsoluteExpiresAt => new.absolute_expires_at = old.absolute_expires_at,
            Field::LastUsedAt => new.last_used_at = old.last_used_at,
            Field::Policy => new.policy = old.policy,
            Field::Generation => new.generation = old.generation,
            Field::KeyId => new.key_id = old.key_id,
            Field::CurrentSecretHash => new.current_secret_hash = old.current_secret_hash,
            Field::RotatedAt => new.rotated_at = old.rotated_at,
            Field::State => new.state = old.state,
            Field::Version => new.version = old.version,
            Field::AccessOnly => new.access_only = old.access_only,
            Field::RevokedAccess => new.revoked_access.clone_from(&old.revoked_access),
            Field::AccessNotBefore => new.access_not_before = old.access_not_before,
        }
    }
}

/// An optional field of a family record that a create can drop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Optional {
    Tenant,
    DeviceId,
    DpopJkt,
    CertThumbprint,
    Claims,
    Resources,
    Acr,
}

impl Optional {
    fn drop_from(self, r: &mut FamilyRecord) {
        match self {
            Optional::Tenant => r.tenant = None,
            Optional::DeviceId => r.device_id = None,
            Optional::DpopJkt => r.dpop_jkt = None,
            Optional::CertThumbprint => r.cert_thumbprint = None,
            Optional::Claims => r.claims = None,
            Optional::Resources => r.resources = None,
            Optional::Acr => r.acr = None,
        }
    }
}

/// A loose subject match, `stored` against the `query` of a list or a revocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Match {
    /// `lower(subject) = lower($1)`, or a case-insensitive collation.
    CaseInsensitive,
    /// `subject LIKE $1 || '%'`.
    Prefix,
    /// A collation that equates "e\u{301}" and "\u{e9}".
    Normalizing,
    /// Both sides trimmed (or a `CHAR(n)` column).
    Trimming,
    /// `subject LIKE $1` without escaping `%` and `_`.
    Like,
    /// Redis `SCAN ... MATCH` with the subject unescaped: `*` and `?` are wildcards.
    Glob,
}

impl Match {
    fn matches(self, stored: &str, query: &str) -> bool {
        match self {
            Match::CaseInsensitive => stored.to_lowercase() == query.to_lowercase(),
            Match::Prefix => stored.starts_with(query),
            Match::Normalizing => {
                stored.replace("e\u{301}", "\u{e9}") == query.replace("e\u{301}", "\u{e9}")
            }
            Match::Trimming => stored.trim() == query.trim(),
            Match::Glob => {
                let (p, s): (Vec<char>, Vec<char>) =
                    (query.chars().collect(), stored.chars().collect());
                glob(&p, &s)
            }
            Match::Like => {
                let (p, s): (Vec<char>, Vec<char>) =
                    (query.chars().collect(), stored.chars().collect());
                like(&p, &s)
            }
        }
    }
}

/// SQL `LIKE`: `%` matches any run of characters, `_` any one.
pub(crate) fn like(pattern: &[char], s: &[char]) -> bool {
    match pattern.split_first() {
        None => s.is_empty(),
        Some(('%', rest)) => (0..=s.len()).any(|i| like(rest, &s[i..])),
        Some(('_', rest)) => !s.is_empty() && like(rest, &s[1..]),
        Some((c, rest)) => s.first() == Some(c) && like(rest, &s[1..]),
    }
}

/// A Redis glob: `*` matches any run of characters, `?` any one (`[...]` classes aside).
pub(crate) fn glob(pattern: &[char], s: &[char]) -> bool {
    match pattern.split_first() {
        None => s.is_empty(),
        Some(('*', rest)) => (0..=s.len()).any(|i| glob(rest, &s[i..])),
        Some(('?', rest)) => !s.is_empty() && glob(rest, &s[1..]),
        Some((c, rest)) => s.first() == Some(c) && glob(rest, &s[1..]),
    }
}

pub(crate) fn non_bmp_as_question_mark(s: &mut std::sync::Arc<str>) {
    *s = s
        .chars()
        .map(|c| if u32::from(c) > 0xFFFF { '?' } else { c })
        .collect::<String>()
        .into();
}

pub(crate) fn clamp_i32(t: i64) -> i64 {
    t.clamp(i64::from(i32::MIN), i64::from(i32::MAX))
}

type R<T> = Result<T, Infallible>;

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A `MemoryStore` with one [`Fault`]. The side tables hold what `MemoryStore` cannot express
/// (a deleted family, a duplicate user code, a read apart from its write); every fault leaves
/// the rest of the behaviour to `MemoryStore`. Clones share everything (as `MemoryStore`'s
/// clones do): a clone is the kit's "other instance over the same storage".
#[derive(Clone)]
pub(crate) struct Broken {
    inner: MemoryStore,
    fault: Fault,
    /// Every family created, as created: what a scan by subject walks and a stale list shows.
    created: Arc<Mutex<HashMap<FamilyId, FamilyRecord>>>,
    /// Families deleted by a broken sweep (`MemoryStore` has no delete).
    deleted: Arc<Mutex<HashSet<FamilyId>>>,
    /// Revocations of [`Fault::RevokeInSideTable`]: state and version.
    side_revocations: Arc<Mutex<HashMap<FamilyId, (FamilyState, u64)>>>,
    /// Keys of inserted device records, for a scan by user code.
    device_keys: Arc<Mutex<Vec<[u8; 32]>>>,
    /// Device records inserted with a user code already taken ([`Fault::UserCodeNotUnique`]).
    duplicate_devices: Arc<Mutex<HashMap<[u8; 32], DeviceRecord>>>,
    /// Replay ids of [`Fault::ReplayCheckThenInsert`].
    replay: Arc<Mutex<HashMap<[u8; 32], i64>>>,
    /// Registered clients, by the key this store's column holds.
    clients: Arc<Mutex<HashMap<String, ClientRecord>>>,
    /// The lock of [`Fault::CasLockedPerInstance`]: shared by clones of one instance, not by
    /// [`Broken::instance`]s.
    instance_lock: Arc<tokio::sync::Mutex<()>>,
}

impl Broken {
    pub(crate) fn new(fault: Fault) -> Self {
        Self {
            inner: MemoryStore::new(),
            fault,
            created: Arc::default(),
            deleted: Arc::default(),
            side_revocations: Arc::default(),
            device_keys: Arc::default(),
            duplicate_devices: Arc::default(),
            replay: Arc::default(),
            clients: Arc::default(),
            instance_lock: Arc::default(),
        }
    }

    /// Another instance over this one's storage, as another app server opens it: the same
    /// data, its own lock.
    pub(crate) fn instance(&self) -> Self {
        Self {
            instance_lock: Arc::default(),
            ..self.clone()
        }
    }

    /// The kit's second factory: another instance over this one's storage.
    pub(crate) fn other(&self) -> impl Future<Output = Self> + use<> {
        let same = self.instance();
        async move { same }
    }

    fn is_deleted(&self, id: &FamilyId) -> bool {
        lock(&self.deleted).contains(id)
    }

    /// A family as this store's columns hold it.
    fn columns(&self, r: &FamilyRecord) -> FamilyRecord {
        let mut r = r.clone();
        match self.fault {
            Fault::VersionAsSaturatingI64 => r.version = self.version_column(r.version),
            Fault::GenerationAsSaturatingI32 => r.generation = r.generation.min(i32::MAX as u32),
            Fault::TimesAsI32 => {
                for t in [
                    &mut r.auth_time,
                    &mut r.created_at,
                    &mut r.absolute_expires_at,
                    &mut r.last_used_at,
                    &mut r.rotated_at,
                ] {
                    *t = clamp_i32(*t);
                }
                if let FamilyState::Revoked { at, .. } = &mut r.state {
                    *at = clamp_i32(*at);
                }
            }
            Fault::NonBmpAsQuestionMark => {
                for s in [&mut r.subject, &mut r.client_id, &mut r.scope] {
                    non_bmp_as_question_mark(s);
                }
                for s in [
                    &mut r.tenant,
                    &mut r.device_id,
                    &mut r.dpop_jkt,
                    &mut r.claims,
                ]
                .into_iter()
                .flatten()
                {
                    non_bmp_as_question_mark(s);
                }
            }
            Fault::ScopeAsVarchar255 => {
                r.scope = r.scope.chars().take(255).collect::<String>().into();
            }
            Fault::RevokedAccessKeepsOne => {
                r.revoked_access = r.revoked_access.iter().take(1).copied().collect();
            }
            Fault::AccessNotBeforeAsI32 => r.access_not_before = clamp_i32(r.access_not_before),
            _ => {}
        }
        r
    }

    fn version_column(&self, v: u64) -> u64 {
        match self.fault {
            Fault::VersionAsSaturatingI64 => v.min(i64::MAX as u64),
            _ => v,
        }
    }

    fn group_time(&self, t: i64) -> i64 {
        match self.fault {
            Fault::GroupTimesAsI32 => clamp_i32(t),
            _ => t,
        }
    }

    fn payload_column(&self, payload: &mut Vec<u8>) {
        if self.fault == Fault::PayloadAsText {
            *payload = String::from_utf8_lossy(payload).into_owned().into_bytes();
        }
    }

    /// Write `record` whatever the stored version (`UPDATE` without a version condition).
    /// `false` if there is no such family.
    async fn overwrite(&self, record: &FamilyRecord) -> R<bool> {
        loop {
            let Some(current) = self.inner.load_family(&record.id).await? else {
                return Ok(false);
            };
            let swap = self.inner.compare_and_swap_family(current.version, record);
            if swap.await? == CasOutcome::Swapped {
                return Ok(true);
            }
        }
    }

    /// Every family whose subject matches `subject` under `m`, by a scan of all of them.
    async fn scan(&self, subject: &str, m: Match) -> R<Vec<FamilyRecord>> {
        let ids: Vec<_> = lock(&self.created).keys().copied().collect();
        let mut out = Vec::new();
        for id in ids {
            if let Some(f) = self.load_family(&id).await?
                && m.matches(&f.subject, subject)
            {
                out.push(f);
            }
        }
        Ok(out)
    }

    /// Revoke one family by an unconditional row update, as the contract asks (except where
    /// the fault changes it). `true` if the family was active.
    async fn revoke_one(
        &self,
        id: FamilyId,
        reason: RevocationReason,
        at: i64,
        operation: OperationId,
    ) -> R<bool> {
        loop {
            let Some(current) = self.inner.load_family(&id).await? else {
                return Ok(false);
            };
            let was_active = current.is_active();
            if !was_active && self.fault != Fault::RevokeRevokesRevoked {
                return Ok(false);
            }
            let mut next = current.clone();
            next.state = FamilyState::Revoked {
                reason,
                at,
                operation,
            };
            if self.fault != Fault::RevokeKeepsVersion {
                next.version = current.version.wrapping_add(1);
            }
            let swap = self.inner.compare_and_swap_family(current.version, &next);
            if swap.await? == CasOutcome::Swapped {
                return Ok(was_active);
            }
        }
    }

    /// Delete (hide) every stored family for which `doomed` holds; how many went.
    async fn delete_families(&self, doomed: impl Fn(&FamilyRecord) -> bool) -> R<u64> {
        let ids: Vec<_> = lock(&self.created).keys().copied().collect();
        let mut n = 0;
        for id in ids {
            if let Some(f) = self.load_family(&id).await?
                && doomed(&f)
            {
                lock(&self.deleted).insert(id);
                n += 1;
            }
        }
        Ok(n)
    }

    /// Sweep the side tables of the group faults.
    fn sweep_side_tables(&self, now: i64) -> u64 {
        let mut duplicates = lock(&self.duplicate_devices);
        let mut replay = lock(&self.replay);
        let before = duplicates.len() + replay.len();
        duplicates.retain(|_, d| d.expires_at > now);
        replay.retain(|_, &mut exp| exp > now);
        (before - duplicates.len() - replay.len()) as u64
    }
}

impl TokenStore for Broken {
    type Error = Infallible;

    async fn create_family(&self, record: &FamilyRecord) -> R<InsertOutcome> {
        let mut r = self.columns(record);
        if let Fault::CreateDrops(field) = self.fault {
            field.drop_from(&mut r);
        }
        let outcome = self.inner.create_family(&r).await?;
        match (self.fault, outcome) {
            (_, InsertOutcome::Inserted) => {
                lock(&self.created).insert(r.id, r);
            }
            (Fault::CreateOverwrites, InsertOutcome::Exists) => {
                self.overwrite(&r).await?;
                lock(&self.created).insert(r.id, r);
            }
            (Fault::CreateAlwaysInserted, InsertOutcome::Exists) => {
                return Ok(InsertOutcome::Inserted);
            }
            _ => {}
        }
        Ok(outcome)
    }

    async fn load_family(&self, id: &FamilyId) -> R<Option<FamilyRecord>> {
        if self.is_deleted(id) {
            return Ok(None);
        }
        let stale = match self.fault {
            Fault::LoadStale => lock(&self.created).get(id).cloned(),
            _ => None,
        };
        match stale {
            Some(f) => Ok(Some(f)),
            None => self.inner.load_family(id).await,
        }
    }

    async fn compare_and_swap_family(&self, expected: u64, record: &FamilyRecord) -> R<CasOutcome> {
        if self.is_deleted(&record.id) {
            return Ok(CasOutcome::Conflict);
        }
        let mut r = self.columns(record);
        let expected = self.version_column(expected);
        let swapped = |done: bool| {
            if done {
                CasOutcome::Swapped
            } else {
                CasOutcome::Conflict
            }
        };
        match self.fault {
            Fault::CasKeeps(field) => {
                if let Some(current) = self.inner.load_family(&r.id).await? {
                    field.keep(&current, &mut r);
                }
                self.inner.compare_and_swap_family(expected, &r).await
            }
            Fault::CasIgnoresVersion => Ok(swapped(self.overwrite(&r).await?)),
            Fault::CasCreatesMissing => {
                if self.inner.load_family(&r.id).await?.is_some() {
                    return self.inner.compare_and_swap_family(expected, &r).await;
                }
                let outcome = self.inner.create_family(&r).await?;
                lock(&self.created).insert(r.id, r);
                Ok(swapped(outcome == InsertOutcome::Inserted))
            }
            Fault::CasCheckThenAct => match self.inner.load_family(&r.id).await? {
                Some(current) if current.version == expected => {
                    tokio::task::yield_now().await;
                    Ok(swapped(self.overwrite(&r).await?))
                }
                _ => Ok(CasOutcome::Conflict),
            },
            Fault::CasLockedPerInstance => {
                let _held = self.instance_lock.lock().await;
                match self.inner.load_family(&r.id).await? {
                    Some(current) if current.version == expected => {
                        tokio::task::yield_now().await;
                        Ok(swapped(self.overwrite(&r).await?))
                    }
                    _ => Ok(CasOutcome::Conflict),
                }
            }
            // No yield: `MemoryStore`'s futures are ready at once, so between the read and
            // the write this task never gives up its thread. Only another thread can slip in.
            Fault::CasCheckThenActNoAwait => match self.inner.load_family(&r.id).await? {
                Some(current) if current.version == expected => {
                    Ok(swapped(self.overwrite(&r).await?))
                }
                _ => Ok(CasOutcome::Conflict),
            },
            _ => self.inner.compare_and_swap_family(expected, &r).await,
        }
    }

    async fn list_families(&self, subject: &str) -> R<Vec<FamilyRecord>> {
        let mut out = match self.fault {
            Fault::ListMatches(m) => self.scan(subject, m).await?,
            _ => self.inner.list_families(subject).await?,
        };
        out.retain(|f| !self.is_deleted(&f.id));
        match self.fault {
            Fault::ListCapped => out.truncate(CAP),
            Fault::ListDuplicates => out.extend(out.clone()),
            Fault::ListHidesExpired => out.retain(|f| f.absolute_expires_at > DATABASE_NOW),
            Fault::ListStale => {
                let created = lock(&self.created);
                for f in &mut out {
                    if let Some(c) = created.get(&f.id) {
                        f.clone_from(c);
                    }
                }
            }
            Fault::RevokeInSideTable => {
                let side = lock(&self.side_revocations);
                for f in &mut out {
                    if let Some(&(state, version)) = side.get(&f.id) {
                        (f.state, f.version) = (state, version);
                    }
                }
            }
            _ => {}
        }
        Ok(out)
    }

    async fn revoke_subject(
        &self,
        subject: &str,
        reason: RevocationReason,
        at: i64,
        operation: OperationId,
    ) -> R<u64> {
        let at = match self.fault {
            Fault::TimesAsI32 => clamp_i32(at),
            _ => at,
        };
        let rows = match self.fault {
            Fault::RevokeMatches(m) => self.scan(subject, m).await?,
            Fault::RevokeCapped => {
                let mut rows = self.inner.list_families(subject).await?;
                rows.truncate(CAP);
                rows
            }
            Fault::RevokeRevokesRevoked | Fault::RevokeCountsAll | Fault::RevokeKeepsVersion => {
                self.inner.list_families(subject).await?
            }
            Fault::RevokeInSideTable => {
                let listed = self.inner.list_families(subject).await?;
                let mut side = lock(&self.side_revocations);
                let mut n = 0;
                let state = FamilyState::Revoked {
                    reason,
                    at,
                    operation,
                };
                for f in listed.iter().filter(|f| f.is_active()) {
                    if let Entry::Vacant(slot) = side.entry(f.id) {
                        slot.insert((state, f.version.wrapping_add(1)));
                        n += 1;
                    }
                }
                return Ok(n);
            }
            Fault::RevokeReadModifyWrite => {
                let listed = self.inner.list_families(subject).await?;
                let mut n = 0;
                for f in listed.iter().filter(|f| f.is_active()) {
                    tokio::task::yield_now().await;
                    let mut next = f.clone();
                    next.revoke(reason, at, operation);
                    if self.overwrite(&next).await? {
                        n += 1;
                    }
                }
                return Ok(n);
            }
            Fault::RevokeBySnapshot => {
                let listed = self.inner.list_families(subject).await?;
                tokio::task::yield_now().await;
                let mut n = 0;
                for f in listed.iter().filter(|f| f.is_active()) {
                    let mut next = f.clone();
                    next.revoke(reason, at, operation);
                    let swap = self.inner.compare_and_swap_family(f.version, &next);
                    if swap.await? == CasOutcome::Swapped {
                        n += 1;
                    }
                }
                return Ok(n);
            }
            _ => {
                return self
                    .inner
                    .revoke_subject(subject, reason, at, operation)
                    .await;
            }
        };
        let mut n = 0;
        for f in &rows {
            if self.revoke_one(f.id, reason, at, operation).await? {
                n += 1;
            }
        }
        match self.fault {
            Fault::RevokeCountsAll => Ok(rows.len() as u64),
            _ => Ok(n),
        }
    }

    async fn load_policy(&self, tenant: Option<&str>) -> R<Option<PolicyVersion>> {
        let level = self.policy_level(tenant);
        self.inner.load_policy(level.as_deref()).await
    }

    async fn save_policy(&self, tenant: Option<&str>, version: Option<PolicyVersion>) -> R<()> {
        let level = self.policy_level(tenant);
        match (self.fault, version) {
            (Fault::PolicyRemoveIgnored, None) => Ok(()),
            (Fault::PolicyOnlyUpward, Some(v)) => {
                let current = self.inner.load_policy(level.as_deref()).await?;
                if current.is_some_and(|c| c >= v) {
                    return Ok(());
                }
                self.inner.save_policy(level.as_deref(), version).await
            }
            _ => self.inner.save_policy(level.as_deref(), version).await,
        }
    }

    async fn delete_expired(&self, now: i64) -> R<u64> {
        let side = self.sweep_side_tables(now);
        let families = match self.fault {
            Fault::SweepAnHourEarly => self.inner.delete_expired(now + 3600).await?,
            Fault::SweepFamiliesOnly => {
                self.delete_families(|f| f.absolute_expires_at <= now)
                    .await?
            }
            Fault::SweepRevoked => {
                let expired = self.inner.delete_expired(now).await?;
                expired + self.delete_families(|f| !f.is_active()).await?
            }
            Fault::SweepCountsNothing => {
                let _ = self.inner.delete_expired(now).await?;
                return Ok(0);
            }
            Fault::ClientSwept => {
                let swept = std::mem::take(&mut *lock(&self.clients)).len() as u64;
                swept + self.inner.delete_expired(now).await?
            }
            _ => self.inner.delete_expired(now).await?,
        };
        Ok(families + side)
    }
}

impl Broken {
    fn policy_level(&self, tenant: Option<&str>) -> Option<String> {
        match self.fault {
            Fault::PolicyTenantCaseInsensitive => tenant.map(str::to_lowercase),
            Fault::PolicyEmptyTenantIsGlobal => tenant.filter(|t| !t.is_empty()).map(str::to_owned),
            _ => tenant.map(str::to_owned),
        }
    }

    fn device_columns(&self, record: &DeviceRecord) -> DeviceRecord {
        let mut r = record.clone();
        r.expires_at = self.group_time(r.expires_at);
        r.last_polled_at = self.group_time(r.last_polled_at);
        self.payload_column(&mut r.payload);
        if self.fault == Fault::DeviceStateAsApprovedFlag {
            r.state = match r.state {
                DeviceState::Approved | DeviceState::Consumed => DeviceState::Approved,
                DeviceState::Pending | DeviceState::Denied => DeviceState::Pending,
            };
        }
        r
    }
}

impl CodeStore for Broken {
    async fn insert_code(&self, code: &CodeRecord) -> R<InsertOutcome> {
        let mut c = code.clone();
        c.expires_at = self.group_time(c.expires_at);
        self.payload_column(&mut c.payload);
        if self.fault == Fault::InsertCodeOverwrites {
            let _ = self.inner.take_code(&c.key).await?;
        }
        self.inner.insert_code(&c).await
    }

    async fn take_code(&self, key: &[u8; 32]) -> R<Option<CodeRecord>> {
        match self.fault {
            Fault::TakeKeepsCode => {
                let code = self.inner.take_code(key).await?;
                if let Some(c) = &code {
                    let _ = self.inner.insert_code(c).await?;
                }
                Ok(code)
            }
            Fault::TakeCheckThenAct => {
                // The read: `MemoryStore` has no plain read of a code, so take and put back.
                let code = self.inner.take_code(key).await?;
                if let Some(c) = &code {
                    let _ = self.inner.insert_code(c).await?;
                }
                tokio::task::yield_now().await;
                let _ = self.inner.take_code(key).await?;
                Ok(code)
            }
            _ => self.inner.take_code(key).await,
        }
    }
}

impl DeviceStore for Broken {
    async fn insert_device(&self, record: &DeviceRecord) -> R<InsertOutcome> {
        let r = self.device_columns(record);
        match self.fault {
            Fault::UserCodeNotUnique => {
                let key_taken = self.inner.load_device(&r.key).await?.is_some();
                let code_taken = self
                    .inner
                    .load_device_by_user_code(&r.user_code)
                    .await?
                    .is_some();
                if !key_taken && code_taken {
                    lock(&self.duplicate_devices).insert(r.key, r);
                    return Ok(InsertOutcome::Inserted);
                }
            }
            Fault::DeviceInsertOverwrites => {
                if let Some(current) = self.inner.load_device(&r.key).await? {
                    let _ = self
                        .inner
                        .compare_and_swap_device(current.version, &r)
                        .await?;
                    return Ok(InsertOutcome::Inserted);
                }
            }
            _ => {}
        }
        let outcome = self.inner.insert_device(&r).await?;
        if outcome == InsertOutcome::Inserted {
            lock(&self.device_keys).push(r.key);
        }
        Ok(outcome)
    }

    async fn load_device(&self, key: &[u8; 32]) -> R<Option<DeviceRecord>> {
        match self.inner.load_device(key).await? {
            Some(d) => Ok(Some(d)),
            None => Ok(lock(&self.duplicate_devices).get(key).cloned()),
        }
    }

    async fn load_device_by_user_code(&self, user_code: &str) -> R<Option<DeviceRecord>> {
        if self.fault != Fault::UserCodeCaseInsensitive {
            return self.inner.load_device_by_user_code(user_code).await;
        }
        let keys = lock(&self.device_keys).clone();
        for key in keys {
            if let Some(d) = self.inner.load_device(&key).await?
                && d.user_code.to_lowercase() == user_code.to_lowercase()
            {
                return Ok(Some(d));
            }
        }
        Ok(None)
    }

    async fn compare_and_swap_device(&self, expected: u64, record: &DeviceRecord) -> R<CasOutcome> {
        let r = self.device_columns(record);
        match self.fault {
            Fault::DeviceCasIgnoresVersion => match self.inner.load_device(&r.key).await? {
                Some(current) => {
                    self.inner
                        .compare_and_swap_device(current.version, &r)
                        .await
                }
                None => Ok(CasOutcome::Conflict),
            },
            Fault::DeviceCasCreatesMissing => {
                if self.inner.load_device(&r.key).await?.is_some() {
                    return self.inner.compare_and_swap_device(expected, &r).await;
                }
                match self.inner.insert_device(&r).await? {
                    InsertOutcome::Inserted => Ok(CasOutcome::Swapped),
                    InsertOutcome::Exists => Ok(CasOutcome::Conflict),
                }
            }
            Fault::DeviceCasCheckThenAct => match self.inner.load_device(&r.key).await? {
                Some(current) if current.version == expected => {
                    tokio::task::yield_now().await;
                    while let Some(current) = self.inner.load_device(&r.key).await? {
                        let swap = self.inner.compare_and_swap_device(current.version, &r);
                        if swap.await? == CasOutcome::Swapped {
                            return Ok(CasOutcome::Swapped);
                        }
                    }
                    Ok(CasOutcome::Conflict)
                }
                _ => Ok(CasOutcome::Conflict),
            },
            _ => self.inner.compare_and_swap_device(expected, &r).await,
        }
    }
}

impl ReplayStore for Broken {
    async fn insert_replay_id(&self, id: &[u8; 32], expires_at: i64, now: i64) -> R<InsertOutcome> {
        match self.fault {
            Fault::ReplayAlwaysInserted => {
                let _ = self.inner.insert_replay_id(id, expires_at, now).await?;
                Ok(InsertOutcome::Inserted)
            }
            Fault::ReplayCheckThenInsert => {
                let live = lock(&self.replay).get(id).is_some_and(|&exp| exp > now);
                if live {
                    return Ok(InsertOutcome::Exists);
                }
                tokio::task::yield_now().await;
                lock(&self.replay).insert(*id, expires_at);
                Ok(InsertOutcome::Inserted)
            }
            _ => self.inner.insert_replay_id(id, expires_at, now).await,
        }
    }
}

impl Broken {
    fn client_key(&self, id: &str) -> String {
        match self.fault {
            Fault::ClientIdCaseInsensitive => id.to_lowercase(),
            _ => id.to_owned(),
        }
    }
}

impl ClientStore for Broken {
    async fn insert_client(&self, record: &ClientRecord) -> R<InsertOutcome> {
        let key = self.client_key(&record.client_id);
        let mut stored = record.clone();
        match self.fault {
            Fault::ClientPayloadAsText => {
                stored.payload = String::from_utf8_lossy(&stored.payload)
                    .into_owned()
                    .into_bytes();
            }
            Fault::ClientIssuedAtAsI32 => stored.issued_at = clamp_i32(stored.issued_at),
            _ => {}
        }
        match self.fault {
            Fault::ClientInsertOverwrites => {
                let existed = lock(&self.clients).insert(key, stored).is_some();
                Ok(if existed {
                    InsertOutcome::Exists
                } else {
                    InsertOutcome::Inserted
                })
            }
            Fault::ClientInsertCheckThenAct => {
                if lock(&self.clients).contains_key(&key) {
                    return Ok(InsertOutcome::Exists);
                }
                tokio::task::yield_now().await;
                lock(&self.clients).insert(key, stored);
                Ok(InsertOutcome::Inserted)
            }
            _ => match lock(&self.clients).entry(key) {
                Entry::Occupied(_) => Ok(InsertOutcome::Exists),
                Entry::Vacant(v) => {
                    v.insert(stored);
                    Ok(InsertOutcome::Inserted)
                }
            },
        }
    }

    async fn load_client(&self, client_id: &str) -> R<Option<ClientRecord>> {
        let key = self.client_key(client_id);
        Ok(lock(&self.clients).get(&key).map(|r| ClientRecord {
            client_id: client_id.to_owned(),
            ..r.clone()
        }))
    }
}
