//! Storage behind one trait: [`TokenStore`], implemented by applications over their own
//! database, by [`MemoryStore`] for embedded use and tests, and checked by the conformance
//! kit (`store::conformance`, feature `conformance`).
//!
//! The trait is async and runtime-agnostic: every method returns `impl Future + Send` (write
//! them as `async fn`); no `async_trait`, no runtime in this crate. A lost race is a value
//! ([`CasOutcome::Conflict`], [`InsertOutcome::Exists`]), never an error: the error type is
//! for the backend failing. The store never sees a usable token: families hold a hash of the
//! current secret, codes and device records are keyed by hashes.
//!
//! # A complete implementation
//!
//! Any type with these methods is a store. This one keeps everything in one `Mutex`, which is
//! correct (every method is atomic) if not fast:
//!
//! ```
//! use std::collections::HashMap;
//! use std::sync::Mutex;
//!
//! use token_engine::store::{
//!     CasOutcome, CodeRecord, DeviceRecord, FamilyRecord, InsertOutcome, TokenStore,
//! };
//! use token_engine::{FamilyId, RevocationReason};
//!
//! #[derive(Default)]
//! struct OneLock(Mutex<State>);
//!
//! #[derive(Default)]
//! struct State {
//!     families: HashMap<FamilyId, FamilyRecord>,
//!     codes: HashMap<[u8; 32], CodeRecord>,
//!     devices: HashMap<[u8; 32], DeviceRecord>,
//!     replay: HashMap<[u8; 32], i64>,
//! }
//!
//! #[derive(Debug, thiserror::Error)]
//! #[error("lock poisoned")]
//! struct Poisoned;
//!
//! impl OneLock {
//!     fn state(&self) -> Result<std::sync::MutexGuard<'_, State>, Poisoned> {
//!         self.0.lock().map_err(|_| Poisoned)
//!     }
//! }
//!
//! impl TokenStore for OneLock {
//!     type Error = Poisoned;
//!
//!     async fn create_family(&self, record: &FamilyRecord) -> Result<InsertOutcome, Poisoned> {
//!         let mut s = self.state()?;
//!         if s.families.contains_key(&record.id) {
//!             return Ok(InsertOutcome::Exists);
//!         }
//!         s.families.insert(record.id, record.clone());
//!         Ok(InsertOutcome::Inserted)
//!     }
//!     async fn load_family(&self, id: &FamilyId) -> Result<Option<FamilyRecord>, Poisoned> {
//!         Ok(self.state()?.families.get(id).cloned())
//!     }
//!     async fn compare_and_swap_family(&self, expected: u64, record: &FamilyRecord) -> Result<CasOutcome, Poisoned> {
//!         let mut s = self.state()?;
//!         match s.families.get_mut(&record.id) {
//!             Some(stored) if stored.version == expected => {
//!                 *stored = record.clone();
//!                 Ok(CasOutcome::Swapped)
//!             }
//!             _ => Ok(CasOutcome::Conflict),
//!         }
//!     }
//!     async fn list_families(&self, subject: &str) -> Result<Vec<FamilyRecord>, Poisoned> {
//!         Ok(self.state()?.families.values().filter(|f| f.subject == subject).cloned().collect())
//!     }
//!     async fn revoke_subject(&self, subject: &str, reason: RevocationReason, at: i64) -> Result<u64, Poisoned> {
//!         let mut s = self.state()?;
//!         let mut n = 0;
//!         for f in s.families.values_mut().filter(|f| f.subject == subject && f.is_active()) {
//!             f.revoke(reason, at);
//!             n += 1;
//!         }
//!         Ok(n)
//!     }
//!     async fn insert_code(&self, code: &CodeRecord) -> Result<InsertOutcome, Poisoned> {
//!         let mut s = self.state()?;
//!         if s.codes.contains_key(&code.key) {
//!             return Ok(InsertOutcome::Exists);
//!         }
//!         s.codes.insert(code.key, code.clone());
//!         Ok(InsertOutcome::Inserted)
//!     }
//!     async fn take_code(&self, key: &[u8; 32]) -> Result<Option<CodeRecord>, Poisoned> {
//!         Ok(self.state()?.codes.remove(key))
//!     }
//!     async fn insert_device(&self, record: &DeviceRecord) -> Result<InsertOutcome, Poisoned> {
//!         let mut s = self.state()?;
//!         let taken = s.devices.contains_key(&record.key)
//!             || s.devices.values().any(|d| d.user_code == record.user_code);
//!         if taken {
//!             return Ok(InsertOutcome::Exists);
//!         }
//!         s.devices.insert(record.key, record.clone());
//!         Ok(InsertOutcome::Inserted)
//!     }
//!     async fn load_device(&self, key: &[u8; 32]) -> Result<Option<DeviceRecord>, Poisoned> {
//!         Ok(self.state()?.devices.get(key).cloned())
//!     }
//!     async fn load_device_by_user_code(&self, user_code: &str) -> Result<Option<DeviceRecord>, Poisoned> {
//!         Ok(self.state()?.devices.values().find(|d| d.user_code == user_code).cloned())
//!     }
//!     async fn compare_and_swap_device(&self, expected: u64, record: &DeviceRecord) -> Result<CasOutcome, Poisoned> {
//!         let mut s = self.state()?;
//!         match s.devices.get_mut(&record.key) {
//!             Some(stored) if stored.version == expected => {
//!                 *stored = record.clone();
//!                 Ok(CasOutcome::Swapped)
//!             }
//!             _ => Ok(CasOutcome::Conflict),
//!         }
//!     }
//!     async fn insert_replay_id(&self, id: &[u8; 32], expires_at: i64, now: i64) -> Result<InsertOutcome, Poisoned> {
//!         let mut s = self.state()?;
//!         match s.replay.get(id) {
//!             Some(&exp) if exp > now => Ok(InsertOutcome::Exists),
//!             _ => {
//!                 s.replay.insert(*id, expires_at);
//!                 Ok(InsertOutcome::Inserted)
//!             }
//!         }
//!     }
//!     async fn delete_expired(&self, now: i64) -> Result<u64, Poisoned> {
//!         let mut s = self.state()?;
//!         let before = s.families.len() + s.codes.len() + s.devices.len() + s.replay.len();
//!         s.families.retain(|_, f| f.absolute_expires_at > now);
//!         s.codes.retain(|_, c| c.expires_at > now);
//!         s.devices.retain(|_, d| d.expires_at > now);
//!         s.replay.retain(|_, &mut exp| exp > now);
//!         let after = s.families.len() + s.codes.len() + s.devices.len() + s.replay.len();
//!         Ok((before - after) as u64)
//!     }
//! }
//! ```

use core::future::Future;

use serde::{Deserialize, Serialize};

pub use crate::family::{FamilyRecord, FamilyState, RevocationReason, SecretHash};
use crate::opaque::FamilyId;

#[cfg(feature = "conformance")]
pub mod conformance;
mod memory;

pub use memory::MemoryStore;

/// The result of a compare-and-swap.
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CasOutcome {
    /// The stored version was the expected one; the new record is stored.
    Swapped,
    /// The stored version was not the expected one (or the record is gone); nothing changed.
    Conflict,
}

/// The result of an insert-if-absent.
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InsertOutcome {
    /// Inserted.
    Inserted,
    /// The key (or a unique field) is already taken; nothing changed.
    Exists,
}

/// A one-time code (an authorization code), stored under the hash of the code. The payload
/// is the engine's serialized grant data; stores keep it opaque.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeRecord {
    /// SHA-256 of the code.
    pub key: [u8; 32],
    /// The client the code was issued to.
    pub client_id: String,
    /// Expiry, Unix seconds.
    pub expires_at: i64,
    /// Opaque engine data.
    pub payload: Vec<u8>,
}

/// Where a device-authorization request stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeviceState {
    /// Waiting for the user.
    Pending,
    /// The user approved; tokens not yet issued.
    Approved,
    /// The user denied.
    Denied,
    /// Tokens were issued; the device code is spent.
    Consumed,
}

/// A device-authorization request (RFC 8628), stored under the hash of the device code and
/// findable by its user code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRecord {
    /// SHA-256 of the device code.
    pub key: [u8; 32],
    /// The code the user types (unique among live records).
    pub user_code: String,
    /// The client that asked.
    pub client_id: String,
    /// Expiry, Unix seconds.
    pub expires_at: i64,
    /// Last poll, for `slow_down`.
    pub last_polled_at: i64,
    /// Where the request stands.
    pub state: DeviceState,
    /// Opaque engine data (scopes, the approving subject, ...).
    pub payload: Vec<u8>,
    /// Compare-and-swap version.
    pub version: u64,
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
    /// absolute expiry.
    #[must_use]
    pub fn is_live(&self, now: i64, idle_ttl_secs: i64) -> bool {
        self.is_active() && now < self.expires_at(idle_ttl_secs)
    }

    /// Mark the family revoked and bump its version.
    pub fn revoke(&mut self, reason: RevocationReason, at: i64) {
        self.state = FamilyState::Revoked { reason, at };
        self.version = self.version.wrapping_add(1);
    }
}

/// Storage for families, one-time codes, device-flow records and replay ids.
///
/// Every method's atomicity contract is stated in MUST language; the conformance kit tests
/// each of them. Times are Unix seconds.
pub trait TokenStore: Send + Sync {
    /// The backend's failure. Never used for "not found" or a lost race.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Insert a new family. MUST be atomic insert-if-absent on `record.id`: if a family with
    /// that id exists it MUST return [`InsertOutcome::Exists`] and change nothing.
    fn create_family(
        &self,
        record: &FamilyRecord,
    ) -> impl Future<Output = Result<InsertOutcome, Self::Error>> + Send;

    /// Load a family. MUST return every field exactly as last stored, or `None`.
    fn load_family(
        &self,
        id: &FamilyId,
    ) -> impl Future<Output = Result<Option<FamilyRecord>, Self::Error>> + Send;

    /// Replace the family `record.id` with `record` if and only if the stored version equals
    /// `expected_version`, atomically with respect to every other write of that family. On a
    /// mismatch (or if the family is gone) it MUST return [`CasOutcome::Conflict`] and change
    /// nothing. Two concurrent calls with the same expected version MUST NOT both swap.
    fn compare_and_swap_family(
        &self,
        expected_version: u64,
        record: &FamilyRecord,
    ) -> impl Future<Output = Result<CasOutcome, Self::Error>> + Send;

    /// Every family of `subject`, revoked and expired ones included (the caller filters), in
    /// any order.
    fn list_families(
        &self,
        subject: &str,
    ) -> impl Future<Output = Result<Vec<FamilyRecord>, Self::Error>> + Send;

    /// Revoke every active family of `subject` (state `Revoked { reason, at }`, version
    /// incremented) and return how many. Each family's update MUST be atomic with respect to
    /// compare-and-swap on it; a family created concurrently may or may not be included.
    fn revoke_subject(
        &self,
        subject: &str,
        reason: RevocationReason,
        at: i64,
    ) -> impl Future<Output = Result<u64, Self::Error>> + Send;

    /// Insert a one-time code. MUST be atomic insert-if-absent on `code.key`.
    fn insert_code(
        &self,
        code: &CodeRecord,
    ) -> impl Future<Output = Result<InsertOutcome, Self::Error>> + Send;

    /// Remove and return the code. MUST be atomic: of any number of concurrent calls for one
    /// key, at most one returns the record. Expired codes may be returned (the caller checks
    /// `expires_at`).
    fn take_code(
        &self,
        key: &[u8; 32],
    ) -> impl Future<Output = Result<Option<CodeRecord>, Self::Error>> + Send;

    /// Insert a device-authorization record. MUST be atomic insert-if-absent on `key`, and
    /// MUST return [`InsertOutcome::Exists`] if a stored record has the same `user_code`.
    fn insert_device(
        &self,
        record: &DeviceRecord,
    ) -> impl Future<Output = Result<InsertOutcome, Self::Error>> + Send;

    /// Load a device record by the hash of its device code.
    fn load_device(
        &self,
        key: &[u8; 32],
    ) -> impl Future<Output = Result<Option<DeviceRecord>, Self::Error>> + Send;

    /// Load a device record by its user code.
    fn load_device_by_user_code(
        &self,
        user_code: &str,
    ) -> impl Future<Output = Result<Option<DeviceRecord>, Self::Error>> + Send;

    /// Compare-and-swap a device record on `version`, with the same contract as
    /// [`TokenStore::compare_and_swap_family`].
    fn compare_and_swap_device(
        &self,
        expected_version: u64,
        record: &DeviceRecord,
    ) -> impl Future<Output = Result<CasOutcome, Self::Error>> + Send;

    /// Remember a replay id (a DPoP proof's `jti`) until `expires_at`. MUST be atomic
    /// insert-if-absent: if the id is stored and not expired at `now`, return
    /// [`InsertOutcome::Exists`]; an expired entry may be replaced.
    fn insert_replay_id(
        &self,
        id: &[u8; 32],
        expires_at: i64,
        now: i64,
    ) -> impl Future<Output = Result<InsertOutcome, Self::Error>> + Send;

    /// Delete what expired before `now`: families past their absolute expiry, codes, device
    /// records and replay ids past theirs. Returns how many records went. MUST NOT delete
    /// anything still valid at `now`.
    fn delete_expired(&self, now: i64) -> impl Future<Output = Result<u64, Self::Error>> + Send;
}
