//! Storage behind traits that applications implement over their own database: [`TokenStore`]
//! (families, policy versions, sweeping: what every engine needs) and three capability groups
//! that only some features call ([`CodeStore`], [`DeviceStore`], [`ReplayStore`]).
//! [`MemoryStore`] implements all of them for embedded use and tests; the conformance kit
//! (`store::conformance`, feature `conformance`) checks any implementation.
//!
//! An application that runs the engine on [`MemoryStore`] needs nothing from here beyond what
//! the crate root re-exports ([`TokenStore`], [`MemoryStore`]). One that keeps its sessions in
//! its own database implements the traits below, persisting the records of
//! [`family`](crate::family) ([`FamilyRecord`] and the types in it, re-exported here) and the
//! [`CodeRecord`] and [`DeviceRecord`] defined here.
//!
//! The traits are async and runtime-agnostic: every method returns `impl Future + Send` (write
//! them as `async fn`); no `async_trait`, no runtime in this crate. A lost race is a value
//! ([`CasOutcome::Conflict`], [`InsertOutcome::Exists`]), never an error: the error type is
//! for the backend failing. The store never sees a usable token: families hold a hash of the
//! current secret, codes and device records are keyed by hashes.
//!
//! # What to implement
//!
//! | trait | methods | who calls it |
//! |---|---|---|
//! | [`TokenStore`] | 8: five for families, two for policy versions, one sweep | every [`Engine`](crate::Engine): issue, refresh, revoke, introspect, sessions, policy |
//! | [`CodeStore`] | 2: insert, atomic take | the authorization-code grant ([`Engine::authorize`](crate::Engine::authorize), [`Engine::exchange_code`](crate::Engine::exchange_code)) |
//! | [`DeviceStore`] | 4: insert, two loads, compare-and-swap | the device authorization grant ([`Engine::start_device_authorization`](crate::Engine::start_device_authorization) and the device methods) |
//! | [`ClientStore`] | 2: insert-if-absent, load | dynamically registered clients (RFC 7591: [`Engine::registration_endpoint`](crate::Engine::registration_endpoint), [`RegisteredClients`](crate::RegisteredClients)) |
//! | [`ReplayStore`] | 1: insert-if-absent with expiry | DPoP proofs ([`Engine::verify_dpop_proof`](crate::Engine::verify_dpop_proof), [`Engine::verify_resource_request`](crate::Engine::verify_resource_request)) and client assertions ([`Engine::authenticate_client`](crate::Engine::authenticate_client)) |
//!
//! An application that only issues and refreshes implements [`TokenStore`] alone. The engine
//! methods that need a group say so in their bounds;
//! [`Engine::token_endpoint`](crate::Engine::token_endpoint) serves every grant, so it needs all
//! four.
//!
//! # The contract, and what the conformance kit checks
//!
//! Each method's doc states its contract in MUST language. In short, for PostgreSQL, Redis or
//! anything else:
//!
//! - **Every field persisted, exactly.** A [`FamilyRecord`] written by `create_family` or
//!   `compare_and_swap_family` comes back from `load_family` *and* `list_families` equal in
//!   every field, extreme values included. SQL integer columns are signed: store `version`
//!   (`u64`) as `BIGINT` holding the same 64 bits (`version as i64` on write, `as u64` on read)
//!   or as `NUMERIC(20)`; `generation` (`u32`) as `BIGINT` (or `INTEGER` with the same bit
//!   cast); `key_id` (`u8`) as `SMALLINT`; times are `i64` Unix seconds (`BIGINT`), the full
//!   range; hashes and ids as `BYTEA`; strings byte for byte (no trimming, no normalization,
//!   any Unicode; never U+0000, which the engine refuses in subjects, tenants and device ids,
//!   so PostgreSQL `text` can hold every string). The kit round-trips `u64::MAX`, `u32::MAX`, `i64::MIN`/`MAX` and Unicode.
//! - **Exact subject matching.** `list_families` and `revoke_subject` match the subject by
//!   byte-wise equality: no case folding, no prefix or `LIKE` match, no collation or Unicode
//!   normalization (in PostgreSQL: a `bytea` column or `COLLATE "C"` and `=`). The kit uses
//!   subjects that differ from their neighbours only in case, by a prefix, or by normalization.
//! - **No caps.** `list_families` returns every family of the subject (the kit creates
//!   hundreds), revoked and expired ones included.
//! - **Revocation is unconditional per row and visible everywhere.** `revoke_subject` revokes
//!   every family of the subject that is active *when its update reaches that row*, whatever
//!   its version (never a compare-and-swap against an earlier snapshot, which would skip
//!   families rotated concurrently), bumps each one's version, and the result is seen by every
//!   later read: `load_family` as well as `list_families`. The kit runs it concurrently with
//!   refresh loops on the same families and requires all of them revoked afterwards.
//! - **Compare-and-swap is atomic** per family (two swaps on one version never both succeed)
//!   and never creates a record. **Across instances**: several app servers, each with its
//!   own pool, run over one storage, so the atomicity of every swap, take and
//!   insert-if-absent MUST come from the storage (one conditional statement, a server-side
//!   script), never from a lock inside the store object. SQL: one `UPDATE ... WHERE id = $1
//!   AND version = $2` at READ COMMITTED (PostgreSQL's default: the `UPDATE` waits for a
//!   concurrent writer and re-checks its condition on the committed row; REPEATABLE READ
//!   and SERIALIZABLE fail it with serialization errors under contention instead). The kit
//!   races two instances (its runners take a second factory).
//! - **A lost race is a value, a failure is an error.** Return `Err` only when the backend
//!   failed; the engine then answers [`Error::Store`](crate::Error::Store) and never treats
//!   the token as invalid.

//! # What an implementer would otherwise have to guess
//!
//! | value | how to store it |
//! |---|---|
//! | `FamilyRecord::version`, `DeviceRecord::version` (`u64`) | `BIGINT` with the same 64 bits (`as i64` / `as u64`), or `NUMERIC(20)` |
//! | `generation` (`u32`) | `BIGINT`, or `INTEGER` with the same 32 bits |
//! | `key_id` (`u8`) | `SMALLINT` |
//! | [`PolicyVersion`] (`major`, `minor`: `u32` each) | two `BIGINT` columns (or `INTEGER` with the bit cast); `u32::MAX` must round-trip; or the text form `"4.2"` ([`PolicyVersion`]'s `Display`/`FromStr`) |
//! | times (`i64` Unix seconds) | `BIGINT`, the full range (`i64::MIN`, `i64::MAX`) |
//! | hashes, ids, [`OperationId`] | `BYTEA` (16 or 32 bytes) |
//! | [`RevocationReason`] | its stable name, [`RevocationReason::as_str`] / [`RevocationReason::parse`] (`"ReuseDetected"`, ...; the serde names are the same strings); an unknown name is an error, never a guess |
//! | [`DeviceState`] | its serde name (`"Pending"`, `"Approved"`, `"Denied"`, `"Consumed"`), equally stable |
//! | [`FamilyState`] | `Active`, or the three columns of `Revoked` (reason, at, operation), all null when active |
//! | strings | byte for byte (`text` with `COLLATE "C"`, or `bytea`); a [`FamilyRecord`]'s are `Arc<str>`, built from the row's text with `.into()` |
//!
//! - **The version wrap.** Every version bump wraps: `u64::MAX + 1` is 0, as
//!   [`FamilyRecord::revoke`] does with `wrapping_add`. `revoke_subject` bumps the same way,
//!   so in a signed `BIGINT` column `i64::MAX` (2^63 - 1) becomes `i64::MIN` (2^63 as
//!   `u64`) and -1 (`u64::MAX`) becomes 0; a plain `version + 1` overflows there and fails
//!   the whole statement. The kit swaps across both boundaries.
//! - **Tenants and the global level.** `tenant: None` is the global level; `Some("")` is a
//!   tenant whose name is empty, a level of its own (saving one never changes the other). A
//!   single key column needs a marker the tenant cannot be, for example
//!   `(is_global BOOLEAN, tenant TEXT)` with `(true, '')` for the global level.
//! - **Expiry is `expires_at > now`.** A record with an `expires_at` (codes, device records,
//!   replay ids, a family's `absolute_expires_at`) is live while `expires_at > now` and
//!   expired from `expires_at == now` on: `delete_expired(now)` deletes rows with
//!   `expires_at <= now` and none with `expires_at > now`; `insert_replay_id` treats an id
//!   whose `expires_at <= now` as absent. A family also ends at its idle expiry
//!   (`last_used_at + idle_ttl`, live while `now <` it), which the engine checks; the store
//!   sweeps on the absolute expiry only.
//! - **User codes are unique among stored device records, expired ones included** until
//!   `delete_expired` removes them: `insert_device` returns [`InsertOutcome::Exists`] for a
//!   `user_code` held by any stored record (a `UNIQUE` constraint does exactly this), and
//!   the engine draws another code. [`MemoryStore`] does the same.
//! - **U+0000.** The engine refuses it in subjects, tenants and device ids. The other strings
//!   cannot hold it: scopes are checked against RFC 6749's character set, application claims
//!   are JSON text (serde escapes U+0000 as `\u0000`), `dpop_jkt` and `cert_thumbprint` are
//!   base64url, user codes come from a fixed alphabet. Client ids come from your client
//!   registry and are not checked: do not register one with U+0000 if your store cannot
//!   hold it (PostgreSQL `text` cannot; the store then fails with an error, and no token is
//!   issued). Opaque payloads (`payload`) are bytes: `BYTEA`.
//! - **Isolation.** Each method must be atomic on its own; the engine never opens a
//!   transaction across methods. SQL stores get that from single statements under READ
//!   COMMITTED (PostgreSQL's default): a conditional `UPDATE ... WHERE version = $n` on a
//!   row another transaction is writing waits for it and re-checks its `WHERE` against the
//!   committed row, which is what makes compare-and-swap atomic and lets `revoke_subject`
//!   reach a row rotated while it runs. REPEATABLE READ and SERIALIZABLE are also correct
//!   but fail such statements with serialization errors under contention (the engine answers
//!   [`Error::Store`](crate::Error::Store) where READ COMMITTED would have waited). Read from
//!   the primary (read your writes), never from a lagging replica.
//!
//! The kit's own tests prove every check: for each contract a deliberately broken store (a
//! swap that drops a field, a case-insensitive subject match, a capped listing, a revocation
//! by snapshot, ...) that the kit must reject.
//!
//! # Lost answers
//!
//! A real database sometimes commits a write and then fails to answer (dropped connection,
//! timeout, failover). The engine assumes it may happen: it answers `Error::Store`, the client
//! retries, and the retry reads what the first attempt committed. Nothing in the store needs
//! to deduplicate requests; what it must do is make every committed write visible to the next
//! read (no read from a lagging replica for families: read your writes).
//!
//! # A complete implementation
//!
//! Any type with these methods is a store. This one keeps everything in one `Mutex`, which is
//! correct (every method is atomic) if not fast; it implements every group:
//!
//! ```
//! use std::collections::HashMap;
//! use std::sync::Mutex;
//!
//! use token_engine::store::{
//!     CasOutcome, CodeRecord, CodeStore, DeviceRecord, DeviceStore, FamilyRecord, InsertOutcome,
//!     OperationId, ReplayStore, TokenStore,
//! };
//! use token_engine::{FamilyId, PolicyVersion, RevocationReason};
//!
//! #[derive(Default)]
//! struct OneLock(Mutex<State>);
//!
//! #[derive(Default)]
//! struct State {
//!     families: HashMap<FamilyId, FamilyRecord>,
//!     policies: HashMap<Option<String>, PolicyVersion>,
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
//!         Ok(self.state()?.families.values().filter(|f| *f.subject == *subject).cloned().collect())
//!     }
//!     async fn revoke_subject(&self, subject: &str, reason: RevocationReason, at: i64, operation: OperationId) -> Result<u64, Poisoned> {
//!         let mut s = self.state()?;
//!         let mut n = 0;
//!         for f in s.families.values_mut().filter(|f| *f.subject == *subject && f.is_active()) {
//!             f.revoke(reason, at, operation);
//!             n += 1;
//!         }
//!         Ok(n)
//!     }
//!     async fn load_policy(&self, tenant: Option<&str>) -> Result<Option<PolicyVersion>, Poisoned> {
//!         Ok(self.state()?.policies.get(&tenant.map(str::to_owned)).copied())
//!     }
//!     async fn save_policy(&self, tenant: Option<&str>, version: Option<PolicyVersion>) -> Result<(), Poisoned> {
//!         let mut s = self.state()?;
//!         let key = tenant.map(str::to_owned);
//!         match version {
//!             Some(v) => s.policies.insert(key, v),
//!             None => s.policies.remove(&key),
//!         };
//!         Ok(())
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
//!
//! impl CodeStore for OneLock {
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
//! }
//!
//! impl DeviceStore for OneLock {
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
//! }
//!
//! impl ReplayStore for OneLock {
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
//! }
//!
//! // Written from these docs alone, it passes the conformance kit. It lives in one process,
//! // so its "other instance over the same storage" is the same object (a store over a
//! // database hands the kit a second pool on the same database instead):
//! # #[cfg(feature = "conformance")]
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(
//! token_engine::store::conformance::run_all(
//!     || async { std::sync::Arc::new(OneLock::default()) },
//!     |one| {
//!         let same = std::sync::Arc::clone(one);
//!         async move { same }
//!     },
//! )
//! # );
//! ```

use core::future::Future;

use serde::{Deserialize, Serialize};

pub use crate::family::{
    FamilyRecord, FamilyState, MAX_REVOKED_ACCESS_TOKENS, OperationId, RevocationReason,
    RevokedAccessToken, SecretHash,
};
use crate::opaque::FamilyId;
use crate::policy::PolicyVersion;

#[cfg(feature = "conformance")]
#[cfg_attr(docsrs, doc(cfg(feature = "conformance")))]
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

/// A dynamically registered client (RFC 7591), stored under its id. The payload is the
/// engine's serialized registration (metadata, and for a confidential client the HMAC of its
/// secret, never the secret); stores keep it opaque.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientRecord {
    /// The client id (exact byte-wise key).
    pub client_id: String,
    /// When it was registered, Unix seconds.
    pub issued_at: i64,
    /// Opaque engine data: any bytes.
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
    /// The code the user types (unique among stored records, expired ones included until
    /// swept).
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

/// What every engine needs: families (one record per login session), the shared
/// security-policy versions, and sweeping. 8 methods. See the [module docs](self) for the
/// contract in short and how it maps to SQL.
///
/// Times are Unix seconds. Every method's contract is checked by the conformance kit
/// (`store::conformance::run_token_store`).
pub trait TokenStore: Send + Sync {
    /// The backend's failure. Never used for "not found" or a lost race.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Insert a new family. MUST be atomic insert-if-absent on `record.id`: if a family with
    /// that id exists it MUST return [`InsertOutcome::Exists`] and change nothing. Every field
    /// MUST be persisted exactly.
    fn create_family(
        &self,
        record: &FamilyRecord,
    ) -> impl Future<Output = Result<InsertOutcome, Self::Error>> + Send;

    /// Load a family. MUST return every field exactly as last written (by any write method:
    /// create, compare-and-swap, `revoke_subject`), or `None` if there is no such family.
    fn load_family(
        &self,
        id: &FamilyId,
    ) -> impl Future<Output = Result<Option<FamilyRecord>, Self::Error>> + Send;

    /// Replace the family `record.id` with `record` — every field — if and only if the
    /// stored version equals `expected_version`, atomically with respect to every other write
    /// of that family. On a mismatch (or if the family is gone) it MUST return
    /// [`CasOutcome::Conflict`] and change nothing. Two concurrent calls with the same expected
    /// version MUST NOT both swap.
    fn compare_and_swap_family(
        &self,
        expected_version: u64,
        record: &FamilyRecord,
    ) -> impl Future<Output = Result<CasOutcome, Self::Error>> + Send;

    /// Every family whose subject is byte-for-byte equal to `subject` (no case folding,
    /// prefix match, collation or normalization), revoked and expired ones included, in any
    /// order, with every field as [`TokenStore::load_family`] would return it. MUST NOT cap
    /// or page the result.
    fn list_families(
        &self,
        subject: &str,
    ) -> impl Future<Output = Result<Vec<FamilyRecord>, Self::Error>> + Send;

    /// Revoke every family of `subject` (exact byte-wise match, as for
    /// [`TokenStore::list_families`]) that is active when the update reaches it: state
    /// `Revoked { reason, at, operation }`, version incremented, every other field unchanged
    /// (as [`FamilyRecord::revoke`] does). Return how many families this call revoked.
    ///
    /// The update of each family MUST be unconditional (whatever its current version: never a
    /// compare-and-swap against a snapshot read earlier, which would skip a family rotated in
    /// between) and atomic with respect to compare-and-swap on it; it MUST reach every family
    /// (no cap) and be visible to every later read, `load_family` included. A family created
    /// concurrently may or may not be included. Families already revoked keep their
    /// revocation.
    fn revoke_subject(
        &self,
        subject: &str,
        reason: RevocationReason,
        at: i64,
        operation: OperationId,
    ) -> impl Future<Output = Result<u64, Self::Error>> + Send;

    /// The stored security-policy version of `tenant` (`None`: the global level), or `None`
    /// if none was saved. MUST return the last value saved by [`TokenStore::save_policy`]
    /// for exactly that level (byte-wise tenant match).
    fn load_policy(
        &self,
        tenant: Option<&str>,
    ) -> impl Future<Output = Result<Option<PolicyVersion>, Self::Error>> + Send;

    /// Save (or with `None` remove) the security-policy version of `tenant` (`None`: the
    /// global level). Last write wins. Every instance reads it back within its configured
    /// staleness, so a bump made on one app server reaches all of them.
    fn save_policy(
        &self,
        tenant: Option<&str>,
        version: Option<PolicyVersion>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Delete what expired before `now`: families past their absolute expiry, and, for a
    /// store that also implements the other groups, codes, device records and replay ids past
    /// theirs. Returns how many records went. MUST NOT delete anything still valid at `now`.
    fn delete_expired(&self, now: i64) -> impl Future<Output = Result<u64, Self::Error>> + Send;
}

/// One-time codes (authorization codes), for the authorization-code grant. 2 methods.
pub trait CodeStore: TokenStore {
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
}

/// Device-authorization records (RFC 8628), for the device grant. 4 methods.
pub trait DeviceStore: TokenStore {
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

    /// Load a device record by its user code (exact match).
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
}

/// Dynamically registered clients (RFC 7591), for the registration endpoint and
/// [`RegisteredClients`](crate::RegisteredClients). 2 methods. Registrations do not expire:
/// `delete_expired` MUST NOT delete them.
pub trait ClientStore: TokenStore {
    /// Insert a registered client. MUST be atomic insert-if-absent on `client_id` (exact
    /// byte-wise: no case folding or trimming): if a client with that id is stored, return
    /// [`InsertOutcome::Exists`] and change nothing. Every field MUST be persisted exactly
    /// (`payload` is arbitrary bytes: a binary column, not text).
    fn insert_client(
        &self,
        record: &ClientRecord,
    ) -> impl Future<Output = Result<InsertOutcome, Self::Error>> + Send;

    /// The client stored under exactly `client_id` (byte-wise), every field as inserted, or
    /// `None`.
    fn load_client(
        &self,
        client_id: &str,
    ) -> impl Future<Output = Result<Option<ClientRecord>, Self::Error>> + Send;
}

/// Replay ids (a DPoP proof's `jti`, a client assertion's `jti`). 1 method.
pub trait ReplayStore: TokenStore {
    /// Remember a replay id until `expires_at`. MUST be atomic insert-if-absent: if the id is
    /// stored and not expired at `now`, return [`InsertOutcome::Exists`]; an entry expired at
    /// `now` MUST be treated as absent (replaced, [`InsertOutcome::Inserted`]), swept or not.
    fn insert_replay_id(
        &self,
        id: &[u8; 32],
        expires_at: i64,
        now: i64,
    ) -> impl Future<Output = Result<InsertOutcome, Self::Error>> + Send;
}

/// A shared store is a store: several engines (app servers in one process, or tests) can run
/// over one `Arc` of it.
impl<S: TokenStore + ?Sized> TokenStore for std::sync::Arc<S> {
    type Error = S::Error;

    fn create_family(
        &self,
        record: &FamilyRecord,
    ) -> impl Future<Output = Result<InsertOutcome, Self::Error>> + Send {
        (**self).create_family(record)
    }
    fn load_family(
        &self,
        id: &FamilyId,
    ) -> impl Future<Output = Result<Option<FamilyRecord>, Self::Error>> + Send {
        (**self).load_family(id)
    }
    fn compare_and_swap_family(
        &self,
        expected_version: u64,
        record: &FamilyRecord,
    ) -> impl Future<Output = Result<CasOutcome, Self::Error>> + Send {
        (**self).compare_and_swap_family(expected_version, record)
    }
    fn list_families(
        &self,
        subject: &str,
    ) -> impl Future<Output = Result<Vec<FamilyRecord>, Self::Error>> + Send {
        (**self).list_families(subject)
    }
    fn revoke_subject(
        &self,
        subject: &str,
        reason: RevocationReason,
        at: i64,
        operation: OperationId,
    ) -> impl Future<Output = Result<u64, Self::Error>> + Send {
        (**self).revoke_subject(subject, reason, at, operation)
    }
    fn load_policy(
        &self,
        tenant: Option<&str>,
    ) -> impl Future<Output = Result<Option<PolicyVersion>, Self::Error>> + Send {
        (**self).load_policy(tenant)
    }
    fn save_policy(
        &self,
        tenant: Option<&str>,
        version: Option<PolicyVersion>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send {
        (**self).save_policy(tenant, version)
    }
    fn delete_expired(&self, now: i64) -> impl Future<Output = Result<u64, Self::Error>> + Send {
        (**self).delete_expired(now)
    }
}

impl<S: CodeStore + ?Sized> CodeStore for std::sync::Arc<S> {
    fn insert_code(
        &self,
        code: &CodeRecord,
    ) -> impl Future<Output = Result<InsertOutcome, Self::Error>> + Send {
        (**self).insert_code(code)
    }
    fn take_code(
        &self,
        key: &[u8; 32],
    ) -> impl Future<Output = Result<Option<CodeRecord>, Self::Error>> + Send {
        (**self).take_code(key)
    }
}

impl<S: DeviceStore + ?Sized> DeviceStore for std::sync::Arc<S> {
    fn insert_device(
        &self,
        record: &DeviceRecord,
    ) -> impl Future<Output = Result<InsertOutcome, Self::Error>> + Send {
        (**self).insert_device(record)
    }
    fn load_device(
        &self,
        key: &[u8; 32],
    ) -> impl Future<Output = Result<Option<DeviceRecord>, Self::Error>> + Send {
        (**self).load_device(key)
    }
    fn load_device_by_user_code(
        &self,
        user_code: &str,
    ) -> impl Future<Output = Result<Option<DeviceRecord>, Self::Error>> + Send {
        (**self).load_device_by_user_code(user_code)
    }
    fn compare_and_swap_device(
        &self,
        expected_version: u64,
        record: &DeviceRecord,
    ) -> impl Future<Output = Result<CasOutcome, Self::Error>> + Send {
        (**self).compare_and_swap_device(expected_version, record)
    }
}

impl<S: ClientStore + ?Sized> ClientStore for std::sync::Arc<S> {
    fn insert_client(
        &self,
        record: &ClientRecord,
    ) -> impl Future<Output = Result<InsertOutcome, Self::Error>> + Send {
        (**self).insert_client(record)
    }
    fn load_client(
        &self,
        client_id: &str,
    ) -> impl Future<Output = Result<Option<ClientRecord>, Self::Error>> + Send {
        (**self).load_client(client_id)
    }
}

impl<S: ReplayStore + ?Sized> ReplayStore for std::sync::Arc<S> {
    fn insert_replay_id(
        &self,
        id: &[u8; 32],
        expires_at: i64,
        now: i64,
    ) -> impl Future<Output = Result<InsertOutcome, Self::Error>> + Send {
        (**self).insert_replay_id(id, expires_at, now)
    }
}
