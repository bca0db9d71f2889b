//! The device authorization grant (RFC 8628), for TVs and consoles: the device starts
//! ([`Engine::start_device_authorization`]), the user approves or denies on another screen by
//! user code ([`Engine::approve_device`], [`Engine::deny_device`]), the device polls the token
//! endpoint ([`Engine::poll_device`]).
//!
//! The record lives in the store's device group, keyed by the SHA-256 of the device code;
//! every state change is a compare-and-swap, so concurrent polls on any number of instances
//! hand out tokens exactly once. User codes are 8 characters from an alphabet without vowels
//! or look-alikes (about 34.6 bits): guessing is only hard together with rate limiting
//! (RFC 8628 §5.1), which [`UserCodeLimiter`] provides.

use core::fmt;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Serialize};

use super::{Engine, TokenBinding, store_error, store_key};
use crate::client::{Client, GrantType, IssueRequest, grant_scope};
use crate::error::{Error, GrantError};
use crate::response::TokenResponse;
use crate::store::{CasOutcome, DeviceRecord, DeviceState, DeviceStore, InsertOutcome};

/// The user-code alphabet of RFC 8628 §6.1: consonants only, no look-alikes.
const USER_CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
/// Characters in a user code (shown as `XXXX-XXXX`).
const USER_CODE_LEN: usize = 8;
/// The prefix of device codes.
pub const DEVICE_CODE_PREFIX: &str = "dc_";
/// How long a device code lives.
const DEVICE_CODE_TTL: i64 = 600;
/// The polling interval handed out, in seconds.
const POLL_INTERVAL: i64 = 5;
/// Clock difference between instances tolerated before a poll counts as too fast.
const POLL_TOLERANCE: i64 = 2;

/// What the device shows and uses (RFC 8628 §3.2). `Debug` hides the device code.
#[derive(Serialize)]
pub struct DeviceAuthorization {
    /// The device's secret for polling.
    pub device_code: String,
    /// What the user types, `XXXX-XXXX`.
    pub user_code: String,
    /// Where the user goes.
    pub verification_uri: String,
    /// The same with the user code filled in (for a QR code).
    pub verification_uri_complete: String,
    /// Seconds until the codes expire.
    pub expires_in: u64,
    /// Seconds to wait between polls.
    pub interval: u64,
}

impl fmt::Debug for DeviceAuthorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceAuthorization")
            .field("device_code", &"[redacted]")
            .field("user_code", &self.user_code)
            .field("verification_uri", &self.verification_uri)
            .field("expires_in", &self.expires_in)
            .field("interval", &self.interval)
            .finish()
    }
}

/// What a user code stands for, for the verification page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceRequest {
    /// The client (device app) that asked.
    pub client_id: String,
    /// The scope it asked for.
    pub scope: String,
}

/// Throttles user-code guessing on the verification page (RFC 8628 §5.1), keyed by what the
/// application passes (the client IP, the account).
///
/// Asynchronous, like the stores, so it can count in a shared cache or database: behind
/// several instances a per-process count lets an attacker multiply the limit by the number
/// of instances. [`MemoryLimiter`] counts in this process (one instance, tests);
/// `token-engine-postgres` has `PgUserCodeLimiter`, one count for every instance over the
/// same database.
///
/// Methods return `impl Future<Output = ...> + Send`; implementations may write `async fn`.
/// An `Err` (the backend failed) fails the call that asked with
/// [`Error::Store`](crate::Error::Store): guessing is never let through unthrottled.
///
/// ```
/// use std::convert::Infallible;
/// use token_engine::UserCodeLimiter;
///
/// /// Lets everything through (a test double; never in production).
/// struct Unlimited;
///
/// impl UserCodeLimiter for Unlimited {
///     type Error = Infallible;
///     async fn attempt(&self, _key: &str, _now: i64) -> Result<bool, Infallible> {
///         Ok(true)
///     }
/// }
/// ```
pub trait UserCodeLimiter: Send + Sync {
    /// The backend's failure.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Record one attempt under `key` at `now` (Unix seconds): `Ok(true)` if the key is
    /// within its limit, `Ok(false)` if over it (the caller answers `slow_down`). MUST count
    /// atomically: of concurrent attempts on one key, on any instance, no more than the limit
    /// are allowed per window.
    fn attempt(
        &self,
        key: &str,
        now: i64,
    ) -> impl core::future::Future<Output = Result<bool, Self::Error>> + Send;
}

/// The in-process limiter: at most `max` attempts per key per 60-second window (windows start
/// at Unix-time multiples of 60). Bounded: at most 100,000 keys are tracked; past that the
/// table starts over. Counts per instance: behind several instances, use a shared limiter.
#[derive(Debug)]
pub struct MemoryLimiter {
    max: u32,
    windows: Mutex<HashMap<String, (i64, u32)>>,
}

impl MemoryLimiter {
    /// At most `max` attempts per key per minute.
    #[must_use]
    pub fn new(max: u32) -> Self {
        Self {
            max,
            windows: Mutex::default(),
        }
    }

    /// Record one attempt (the synchronous body of [`UserCodeLimiter::attempt`]).
    fn count(&self, key: &str, now: i64) -> bool {
        let mut w = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        if w.len() >= 100_000 && !w.contains_key(key) {
            w.clear();
        }
        let window = now.div_euclid(60);
        let slot = w.entry(key.to_owned()).or_insert((window, 0));
        if slot.0 != window {
            *slot = (window, 0);
        }
        slot.1 = slot.1.saturating_add(1);
        slot.1 <= self.max
    }
}

impl Default for MemoryLimiter {
    /// Five attempts per key per minute.
    fn default() -> Self {
        Self::new(5)
    }
}

impl UserCodeLimiter for MemoryLimiter {
    type Error = core::convert::Infallible;

    async fn attempt(&self, key: &str, now: i64) -> Result<bool, Self::Error> {
        Ok(self.count(key, now))
    }
}

/// What the device record stands for, stored (opaquely) with it.
#[derive(Serialize, Deserialize)]
struct DeviceGrant {
    scope: String,
    interval: i64,
    subject: Option<String>,
    auth_time: Option<i64>,
}

/// Normalize what a user typed: case and separators (spaces, hyphens) do not matter; any
/// other character, or a wrong length, is `None`.
#[must_use]
pub fn normalize_user_code(input: &str) -> Option<String> {
    if input.len() > 32 {
        return None;
    }
    let code: String = input
        .chars()
        .filter(|c| !matches!(c, '-' | ' ' | '\t'))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let ok = code.len() == USER_CODE_LEN && code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b));
    ok.then_some(code)
}

fn user_code() -> Result<String, Error> {
    let mut out = String::with_capacity(USER_CODE_LEN);
    while out.len() < USER_CODE_LEN {
        let mut b = [0u8; 1];
        crate::crypto::fill_random(&mut b)?;
        // 240 = 12 × 20: reject the rest so every letter is equally likely.
        if b[0] < 240 {
            let i = usize::from(b[0] % 20);
            out.extend(USER_CODE_ALPHABET.get(i).map(|&c| char::from(c)));
        }
    }
    Ok(out)
}

fn display(code: &str) -> String {
    let (a, b) = code.split_at(code.len() / 2);
    format!("{a}-{b}")
}

fn device_key(code: &str) -> [u8; 32] {
    store_key("device_code", &[code.as_bytes()])
}

fn grant_of(record: &DeviceRecord) -> Result<DeviceGrant, Error> {
    serde_json::from_slice(&record.payload).map_err(|_| GrantError::InvalidCode.into())
}

fn with_grant(record: &DeviceRecord, grant: &DeviceGrant) -> Result<DeviceRecord, Error> {
    let mut next = record.clone();
    next.payload = serde_json::to_vec(grant).map_err(|e| Error::Serialize(e.to_string()))?;
    next.version = record.version.wrapping_add(1);
    Ok(next)
}

impl<S: DeviceStore> Engine<S> {
    /// Start a device authorization (RFC 8628 §3.1-3.2) for `client` (which must be allowed
    /// [`GrantType::DeviceCode`]) and `scope`, with the verification page at
    /// `verification_uri`.
    pub async fn start_device_authorization(
        &self,
        client: &Client,
        scope: Option<&str>,
        verification_uri: &str,
    ) -> Result<DeviceAuthorization, Error> {
        if !client.allows(GrantType::DeviceCode) {
            return Err(Error::UnauthorizedClient);
        }
        let scope = grant_scope(client, scope)?;
        let now = self.now();
        for _ in 0..5 {
            let device_code = crate::opaque::random_text(DEVICE_CODE_PREFIX)?;
            let user = user_code()?;
            let grant = DeviceGrant {
                scope: scope.clone(),
                interval: POLL_INTERVAL,
                subject: None,
                auth_time: None,
            };
            let record = DeviceRecord {
                key: device_key(&device_code),
                user_code: user.clone(),
                client_id: client.id().to_owned(),
                expires_at: now.saturating_add(DEVICE_CODE_TTL),
                last_polled_at: i64::MIN,
                state: DeviceState::Pending,
                payload: serde_json::to_vec(&grant).map_err(|e| Error::Serialize(e.to_string()))?,
                version: 0,
            };
            match self
                .inner
                .store
                .insert_device(&record)
                .await
                .map_err(store_error)?
            {
                // A live user code taken: draw another.
                InsertOutcome::Exists => continue,
                InsertOutcome::Inserted => {
                    let shown = display(&user);
                    let mut complete = verification_uri.to_owned();
                    complete.push(if complete.contains('?') { '&' } else { '?' });
                    complete.push_str("user_code=");
                    complete.push_str(&shown);
                    return Ok(DeviceAuthorization {
                        device_code: device_code.to_string(),
                        user_code: shown,
                        verification_uri: verification_uri.to_owned(),
                        verification_uri_complete: complete,
                        expires_in: DEVICE_CODE_TTL.unsigned_abs(),
                        interval: POLL_INTERVAL.unsigned_abs(),
                    });
                }
            }
        }
        Err(Error::Crypto(
            "user code collisions: random generator broken",
        ))
    }

    /// Look up a pending request by what the user typed, for the verification page to show
    /// which client asks for what. Counts as an attempt against `limiter` under
    /// `limiter_key` (the client IP, the account).
    pub async fn device_request(
        &self,
        user_code: &str,
        limiter: &impl UserCodeLimiter,
        limiter_key: &str,
    ) -> Result<DeviceRequest, Error> {
        let (record, grant) = self.pending(user_code, limiter, limiter_key).await?;
        Ok(DeviceRequest {
            client_id: record.client_id,
            scope: grant.scope,
        })
    }

    /// The user (authenticated by the application as `subject`) approves the request with
    /// this user code.
    pub async fn approve_device(
        &self,
        user_code: &str,
        subject: &str,
        limiter: &impl UserCodeLimiter,
        limiter_key: &str,
    ) -> Result<DeviceRequest, Error> {
        if subject.is_empty() {
            return Err(Error::InvalidRequest("empty subject"));
        }
        // A subject no access token could carry is refused before the device is approved
        // for it (the device would only fail at its next poll).
        if subject.len() > crate::IssueRequest::MAX_SUBJECT_LEN {
            return Err(Error::IssueLimit(crate::error::IssueLimit::Subject));
        }
        self.answer(user_code, Some(subject), limiter, limiter_key)
            .await
    }

    /// The user denies the request with this user code.
    pub async fn deny_device(
        &self,
        user_code: &str,
        limiter: &impl UserCodeLimiter,
        limiter_key: &str,
    ) -> Result<DeviceRequest, Error> {
        self.answer(user_code, None, limiter, limiter_key).await
    }

    async fn pending(
        &self,
        user_code: &str,
        limiter: &impl UserCodeLimiter,
        limiter_key: &str,
    ) -> Result<(DeviceRecord, DeviceGrant), Error> {
        let now = self.now();
        let allowed = limiter
            .attempt(limiter_key, now)
            .await
            .map_err(store_error)?;
        if !allowed {
            return Err(Error::SlowDown);
        }
        let code = normalize_user_code(user_code).ok_or(GrantError::InvalidCode)?;
        let record = self
            .inner
            .store
            .load_device_by_user_code(&code)
            .await
            .map_err(store_error)?
            .ok_or(GrantError::InvalidCode)?;
        if now >= record.expires_at {
            return Err(Error::ExpiredToken);
        }
        if record.state != DeviceState::Pending {
            return Err(GrantError::InvalidCode.into());
        }
        let grant = grant_of(&record)?;
        Ok((record, grant))
    }

    async fn answer(
        &self,
        user_code: &str,
        subject: Option<&str>,
        limiter: &impl UserCodeLimiter,
        limiter_key: &str,
    ) -> Result<DeviceRequest, Error> {
        let (record, mut grant) = self.pending(user_code, limiter, limiter_key).await?;
        grant.subject = subject.map(str::to_owned);
        grant.auth_time = subject.map(|_| self.now());
        let mut next = with_grant(&record, &grant)?;
        next.state = if subject.is_some() {
            DeviceState::Approved
        } else {
            DeviceState::Denied
        };
        match self
            .inner
            .store
            .compare_and_swap_device(record.version, &next)
            .await
            .map_err(store_error)?
        {
            CasOutcome::Swapped => Ok(DeviceRequest {
                client_id: record.client_id,
                scope: grant.scope,
            }),
            // Answered concurrently: the first answer stands.
            CasOutcome::Conflict => Err(GrantError::InvalidCode.into()),
        }
    }

    /// The device polls (RFC 8628 §3.4-3.5): `AuthorizationPending` until the user answers,
    /// `SlowDown` when polling faster than the interval (which then grows by 5 seconds),
    /// `AccessDenied`, `ExpiredToken`, or the tokens — exactly once, whatever the number of
    /// concurrent polls on any number of instances.
    /// `binding` binds the tokens (a verified DPoP proof, a client certificate;
    /// `TokenBinding::default()` for none).
    pub async fn poll_device(
        &self,
        client: &Client,
        device_code: &str,
        binding: TokenBinding,
    ) -> Result<TokenResponse, Error> {
        if client.requires_dpop() && binding.dpop.is_none() {
            return Err(crate::dpop::DpopError::Missing.into());
        }
        if !client.allows(GrantType::DeviceCode) {
            return Err(Error::UnauthorizedClient);
        }
        if device_code.len() > 128 || !device_code.starts_with(DEVICE_CODE_PREFIX) {
            return Err(GrantError::InvalidCode.into());
        }
        let store = &self.inner.store;
        let key = device_key(device_code);
        for _ in 0..super::refresh::MAX_CAS_ATTEMPTS {
            let record = store
                .load_device(&key)
                .await
                .map_err(store_error)?
                .ok_or(GrantError::InvalidCode)?;
            if record.client_id != client.id() {
                return Err(GrantError::CodeIssuedToAnotherClient.into());
            }
            let now = self.now();
            if now >= record.expires_at {
                return Err(Error::ExpiredToken);
            }
            let mut grant = grant_of(&record)?;
            let too_fast = now.saturating_sub(record.last_polled_at)
                < grant.interval.saturating_sub(POLL_TOLERANCE);
            let (state, outcome) = match record.state {
                DeviceState::Consumed => return Err(GrantError::InvalidCode.into()),
                DeviceState::Denied => return Err(Error::AccessDenied),
                _ if too_fast => {
                    grant.interval = grant.interval.saturating_add(5).min(60);
                    (record.state, Err(Error::SlowDown))
                }
                DeviceState::Pending => (DeviceState::Pending, Err(Error::AuthorizationPending)),
                DeviceState::Approved => (DeviceState::Consumed, Ok(())),
            };
            let mut next = with_grant(&record, &grant)?;
            next.state = state;
            next.last_polled_at = now;
            if store
                .compare_and_swap_device(record.version, &next)
                .await
                .map_err(store_error)?
                == CasOutcome::Conflict
            {
                continue;
            }
            outcome?;
            let subject = grant.subject.ok_or(GrantError::InvalidCode)?;
            let mut req = binding.apply(IssueRequest::new(subject).scope(grant.scope));
            if let Some(t) = grant.auth_time {
                req = req.auth_time(t);
            }
            return self.issue(client, req).await;
        }
        Err(GrantError::Contention.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_normalize_case_and_separators() {
        assert_eq!(
            normalize_user_code("wdjb-mjht").as_deref(),
            Some("WDJBMJHT")
        );
        assert_eq!(
            normalize_user_code(" WDJB MJHT ").as_deref(),
            Some("WDJBMJHT")
        );
        for bad in [
            "WDJB-MJH",
            "WDJB-MJHTX",
            "WDJB-MJH0",
            "AEIO-UAEI",
            "WDJB_MJHT",
            "",
        ] {
            assert_eq!(normalize_user_code(bad), None, "{bad}");
        }
        assert_eq!(normalize_user_code(&"B".repeat(33)), None);
    }

    #[test]
    fn generated_user_codes_use_the_alphabet() {
        for _ in 0..100 {
            let c = user_code().unwrap();
            assert_eq!(normalize_user_code(&display(&c)), Some(c));
        }
    }

    #[test]
    fn the_memory_limiter_counts_per_key_and_window() {
        let l = MemoryLimiter::new(2);
        assert!(l.count("ip", 60));
        assert!(l.count("ip", 61));
        assert!(!l.count("ip", 62));
        assert!(l.count("other", 62));
        assert!(l.count("ip", 120), "a new minute");
    }
}
