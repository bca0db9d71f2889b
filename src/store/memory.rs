//! [`MemoryStore`]: the embedded default store.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::convert::Infallible;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::{
    CasOutcome, ClientRecord, ClientStore, CodeRecord, CodeStore, DeviceRecord, DeviceStore,
    FamilyRecord, InsertOutcome, OperationId, ReplayStore, RevocationReason, TokenStore,
};
use crate::opaque::FamilyId;
use crate::policy::PolicyVersion;

const SHARDS: usize = 16;

/// An in-memory [`TokenStore`] for single-process applications, tests and the quick start.
///
/// Families live in 16 shards (picked by the random family id), each behind its own mutex, so
/// refreshes of different families rarely contend; codes, device records and replay ids have
/// a mutex each. No lock is ever held across an `.await` (there are none inside). Clones
/// share the same data.
///
/// Memory: one boxed [`FamilyRecord`] per family (about 300 bytes on 64-bit targets plus its
/// strings), a slot in a shard's hash table and one in the subject index: about 420 bytes
/// plus the family's strings in all, measured by `tests/alloc.rs`. Nothing grows with the number of rotations. Expired records stay
/// until [`TokenStore::delete_expired`] (or [`MemoryStore::sweep`]) is called.
#[derive(Clone, Debug, Default)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

/// Family ids of one subject. Most subjects have one session: no vector for them.
#[derive(Debug)]
enum Ids {
    One(FamilyId),
    Many(Vec<FamilyId>),
}

impl Ids {
    fn push(&mut self, id: FamilyId) {
        match self {
            Ids::One(first) => *self = Ids::Many(vec![*first, id]),
            Ids::Many(v) => v.push(id),
        }
    }

    fn to_vec(&self) -> Vec<FamilyId> {
        match self {
            Ids::One(id) => vec![*id],
            Ids::Many(v) => v.clone(),
        }
    }

    /// Remove `id`; `true` when nothing is left.
    fn remove(&mut self, id: FamilyId) -> bool {
        match self {
            Ids::One(only) => *only == id,
            Ids::Many(v) => {
                v.retain(|i| *i != id);
                v.is_empty()
            }
        }
    }
}

/// Families live boxed: a hash table keeps spare slots, and spare slots of a pointer cost far
/// less than spare slots of a whole record. The subject index is keyed by a keyed hash of the
/// subject (no second copy of the string); lookups compare the records' subjects.
#[derive(Debug, Default)]
struct Inner {
    shards: [Mutex<HashMap<FamilyId, Box<FamilyRecord>>>; SHARDS],
    subjects: Mutex<HashMap<u64, Ids>>,
    hasher: RandomState,
    codes: Mutex<HashMap<[u8; 32], CodeRecord>>,
    devices: Mutex<Devices>,
    replay: Mutex<HashMap<[u8; 32], i64>>,
    clients: Mutex<HashMap<String, ClientRecord>>,
    policies: Mutex<HashMap<Option<String>, PolicyVersion>>,
}

#[derive(Debug, Default)]
struct Devices {
    by_key: HashMap<[u8; 32], DeviceRecord>,
    by_user_code: HashMap<String, [u8; 32]>,
}

/// A poisoned lock only means another thread panicked mid-update of plain data; every
/// update here is a single map operation, so the data is consistent: keep going.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Inner {
    #[allow(clippy::indexing_slicing)] // the index is reduced modulo the array length
    fn shard(&self, id: &FamilyId) -> MutexGuard<'_, HashMap<FamilyId, Box<FamilyRecord>>> {
        lock(&self.shards[usize::from(id.as_bytes()[0]) % SHARDS])
    }

    fn subject_key(&self, subject: &str) -> u64 {
        self.hasher.hash_one(subject)
    }

    fn index(&self, subject: &str, id: FamilyId) {
        let key = self.subject_key(subject);
        let mut subjects = lock(&self.subjects);
        match subjects.get_mut(&key) {
            Some(ids) => ids.push(id),
            None => {
                subjects.insert(key, Ids::One(id));
            }
        }
    }

    fn unindex(&self, subject: &str, id: FamilyId) {
        let key = self.subject_key(subject);
        let mut subjects = lock(&self.subjects);
        if subjects.get_mut(&key).is_some_and(|ids| ids.remove(id)) {
            subjects.remove(&key);
        }
    }

    /// The ids indexed under `subject`'s hash (the caller filters by subject).
    fn ids_of(&self, subject: &str) -> Vec<FamilyId> {
        lock(&self.subjects)
            .get(&self.subject_key(subject))
            .map(Ids::to_vec)
            .unwrap_or_default()
    }
}

impl MemoryStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of stored families (any state).
    #[must_use]
    pub fn family_count(&self) -> usize {
        self.inner.shards.iter().map(|s| lock(s).len()).sum()
    }

    /// Delete everything that expired before `now` (the synchronous form of
    /// [`TokenStore::delete_expired`]).
    pub fn sweep(&self, now: i64) -> u64 {
        let mut removed = 0u64;
        let mut gone: Vec<(u64, FamilyId)> = Vec::new();
        for shard in &self.inner.shards {
            let mut s = lock(shard);
            s.retain(|id, f| {
                let keep = f.absolute_expires_at > now;
                if !keep {
                    gone.push((self.inner.subject_key(&f.subject), *id));
                }
                keep
            });
        }
        removed += gone.len() as u64;
        if !gone.is_empty() {
            let mut subjects = lock(&self.inner.subjects);
            for (key, id) in gone {
                if subjects.get_mut(&key).is_some_and(|ids| ids.remove(id)) {
                    subjects.remove(&key);
                }
            }
        }
        let mut codes = lock(&self.inner.codes);
        let before = codes.len();
        codes.retain(|_, c| c.expires_at > now);
        removed += (before - codes.len()) as u64;
        drop(codes);
        let mut devices = lock(&self.inner.devices);
        let before = devices.by_key.len();
        let Devices {
            by_key,
            by_user_code,
        } = &mut *devices;
        by_key.retain(|_, d| {
            let keep = d.expires_at > now;
            if !keep {
                by_user_code.remove(&d.user_code);
            }
            keep
        });
        removed += (before - by_key.len()) as u64;
        drop(devices);
        let mut replay = lock(&self.inner.replay);
        let before = replay.len();
        replay.retain(|_, &mut exp| exp > now);
        removed += (before - replay.len()) as u64;
        removed
    }
}

impl TokenStore for MemoryStore {
    type Error = Infallible;

    async fn create_family(&self, record: &FamilyRecord) -> Result<InsertOutcome, Infallible> {
        {
            let mut shard = self.inner.shard(&record.id);
            if shard.contains_key(&record.id) {
                return Ok(InsertOutcome::Exists);
            }
            shard.insert(record.id, Box::new(record.clone()));
        }
        self.inner.index(&record.subject, record.id);
        Ok(InsertOutcome::Inserted)
    }

    async fn load_family(&self, id: &FamilyId) -> Result<Option<FamilyRecord>, Infallible> {
        Ok(self.inner.shard(id).get(id).map(|f| FamilyRecord::clone(f)))
    }

    async fn compare_and_swap_family(
        &self,
        expected_version: u64,
        record: &FamilyRecord,
    ) -> Result<CasOutcome, Infallible> {
        let mut shard = self.inner.shard(&record.id);
        match shard.get_mut(&record.id) {
            Some(stored) if stored.version == expected_version => {
                if stored.subject != record.subject {
                    // The engine never moves a family to another subject, but the contract
                    // says every field: keep the subject index true. (Lock order: shard, then
                    // subjects; nothing takes them the other way round.)
                    self.inner.unindex(&stored.subject, record.id);
                    self.inner.index(&record.subject, record.id);
                }
                FamilyRecord::clone_from(stored, record);
                Ok(CasOutcome::Swapped)
            }
            _ => Ok(CasOutcome::Conflict),
        }
    }

    async fn list_families(&self, subject: &str) -> Result<Vec<FamilyRecord>, Infallible> {
        Ok(self
            .inner
            .ids_of(subject)
            .iter()
            .filter_map(|id| {
                self.inner
                    .shard(id)
                    .get(id)
                    .filter(|f| *f.subject == *subject)
                    .map(|f| FamilyRecord::clone(f))
            })
            .collect())
    }

    async fn revoke_subject(
        &self,
        subject: &str,
        reason: RevocationReason,
        at: i64,
        operation: OperationId,
    ) -> Result<u64, Infallible> {
        let mut n = 0;
        for id in self.inner.ids_of(subject) {
            if let Some(f) = self.inner.shard(&id).get_mut(&id)
                && f.is_active()
                && *f.subject == *subject
            {
                f.revoke(reason, at, operation);
                n += 1;
            }
        }
        Ok(n)
    }

    async fn load_policy(&self, tenant: Option<&str>) -> Result<Option<PolicyVersion>, Infallible> {
        Ok(lock(&self.inner.policies)
            .get(&tenant.map(str::to_owned))
            .copied())
    }

    async fn save_policy(
        &self,
        tenant: Option<&str>,
        version: Option<PolicyVersion>,
    ) -> Result<(), Infallible> {
        let mut p = lock(&self.inner.policies);
        let key = tenant.map(str::to_owned);
        match version {
            Some(v) => p.insert(key, v),
            None => p.remove(&key),
        };
        Ok(())
    }

    async fn delete_expired(&self, now: i64) -> Result<u64, Infallible> {
        Ok(self.sweep(now))
    }
}

impl CodeStore for MemoryStore {
    async fn insert_code(&self, code: &CodeRecord) -> Result<InsertOutcome, Infallible> {
        let mut codes = lock(&self.inner.codes);
        if codes.contains_key(&code.key) {
            return Ok(InsertOutcome::Exists);
        }
        codes.insert(code.key, code.clone());
        Ok(InsertOutcome::Inserted)
    }

    async fn take_code(&self, key: &[u8; 32]) -> Result<Option<CodeRecord>, Infallible> {
        Ok(lock(&self.inner.codes).remove(key))
    }
}

impl DeviceStore for MemoryStore {
    async fn insert_device(&self, record: &DeviceRecord) -> Result<InsertOutcome, Infallible> {
        let mut d = lock(&self.inner.devices);
        if d.by_key.contains_key(&record.key) || d.by_user_code.contains_key(&record.user_code) {
            return Ok(InsertOutcome::Exists);
        }
        d.by_user_code.insert(record.user_code.clone(), record.key);
        d.by_key.insert(record.key, record.clone());
        Ok(InsertOutcome::Inserted)
    }

    async fn load_device(&self, key: &[u8; 32]) -> Result<Option<DeviceRecord>, Infallible> {
        Ok(lock(&self.inner.devices).by_key.get(key).cloned())
    }

    async fn load_device_by_user_code(
        &self,
        user_code: &str,
    ) -> Result<Option<DeviceRecord>, Infallible> {
        let d = lock(&self.inner.devices);
        Ok(d.by_user_code
            .get(user_code)
            .and_then(|k| d.by_key.get(k))
            .cloned())
    }

    async fn compare_and_swap_device(
        &self,
        expected_version: u64,
        record: &DeviceRecord,
    ) -> Result<CasOutcome, Infallible> {
        let mut d = lock(&self.inner.devices);
        let Devices {
            by_key,
            by_user_code,
        } = &mut *d;
        match by_key.get_mut(&record.key) {
            Some(stored) if stored.version == expected_version => {
                if stored.user_code != record.user_code {
                    if by_user_code.contains_key(&record.user_code) {
                        return Ok(CasOutcome::Conflict);
                    }
                    by_user_code.remove(&stored.user_code);
                    by_user_code.insert(record.user_code.clone(), record.key);
                }
                stored.clone_from(record);
                Ok(CasOutcome::Swapped)
            }
            _ => Ok(CasOutcome::Conflict),
        }
    }
}

impl ClientStore for MemoryStore {
    async fn insert_client(&self, record: &ClientRecord) -> Result<InsertOutcome, Infallible> {
        let mut clients = lock(&self.inner.clients);
        if clients.contains_key(&record.client_id) {
            return Ok(InsertOutcome::Exists);
        }
        clients.insert(record.client_id.clone(), record.clone());
        Ok(InsertOutcome::Inserted)
    }

    async fn load_client(&self, client_id: &str) -> Result<Option<ClientRecord>, Infallible> {
        Ok(lock(&self.inner.clients).get(client_id).cloned())
    }
}

impl ReplayStore for MemoryStore {
    async fn insert_replay_id(
        &self,
        id: &[u8; 32],
        expires_at: i64,
        now: i64,
    ) -> Result<InsertOutcome, Infallible> {
        let mut r = lock(&self.inner.replay);
        match r.get(id) {
            Some(&exp) if exp > now => Ok(InsertOutcome::Exists),
            _ => {
                r.insert(*id, expires_at);
                Ok(InsertOutcome::Inserted)
            }
        }
    }
}
