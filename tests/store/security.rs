//! Security properties of refresh tokens end to end: forgeries never reach the store, MAC-key
//! rotation, redacted `Debug` of everything secret.

use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use token_engine::store::{CasOutcome, InsertOutcome};
use token_engine::store::{FamilyRecord, OperationId};
use token_engine::{
    Algorithm, Client, Engine, Error, FamilyId, GrantError, IssueRequest, ManualClock, MemoryStore,
    PolicyVersion, RefreshKeys, RefreshRequest, RefreshSecret, RevocationOutcome, RevocationReason,
    SigningKey, TokenStore,
};

const NOW: i64 = 1_800_000_000;

/// A `MemoryStore` that counts every call.
#[derive(Default)]
struct Counting {
    inner: MemoryStore,
    reads: AtomicUsize,
    writes: AtomicUsize,
}

impl Counting {
    fn read(&self) {
        self.reads.fetch_add(1, Ordering::SeqCst);
    }
    fn write(&self) {
        self.writes.fetch_add(1, Ordering::SeqCst);
    }
    fn counts(&self) -> (usize, usize) {
        (
            self.reads.load(Ordering::SeqCst),
            self.writes.load(Ordering::SeqCst),
        )
    }
}

type R<T> = Result<T, std::convert::Infallible>;

impl TokenStore for Counting {
    type Error = std::convert::Infallible;
    async fn create_family(&self, r: &FamilyRecord) -> R<InsertOutcome> {
        self.write();
        self.inner.create_family(r).await
    }
    async fn load_family(&self, id: &FamilyId) -> R<Option<FamilyRecord>> {
        self.read();
        self.inner.load_family(id).await
    }
    async fn compare_and_swap_family(&self, v: u64, r: &FamilyRecord) -> R<CasOutcome> {
        self.write();
        self.inner.compare_and_swap_family(v, r).await
    }
    async fn list_families(&self, s: &str) -> R<Vec<FamilyRecord>> {
        self.read();
        self.inner.list_families(s).await
    }
    async fn revoke_subject(
        &self,
        s: &str,
        reason: RevocationReason,
        at: i64,
        op: OperationId,
    ) -> R<u64> {
        self.write();
        self.inner.revoke_subject(s, reason, at, op).await
    }
    async fn load_policy(&self, t: Option<&str>) -> R<Option<PolicyVersion>> {
        self.read();
        self.inner.load_policy(t).await
    }
    async fn save_policy(&self, t: Option<&str>, v: Option<PolicyVersion>) -> R<()> {
        self.write();
        self.inner.save_policy(t, v).await
    }
    async fn delete_expired(&self, now: i64) -> R<u64> {
        self.write();
        self.inner.delete_expired(now).await
    }
}

fn engine_with(store: Counting, refresh: RefreshKeys) -> Engine<Counting> {
    Engine::builder()
        .issuer("https://as")
        .audience("https://api")
        .signing_key(SigningKey::generate(Algorithm::EdDSA).unwrap().0)
        .refresh_keys(refresh)
        .clock(ManualClock::new(NOW))
        .build(store)
        .unwrap()
}

fn secret(n: u8) -> RefreshSecret {
    RefreshSecret::from_bytes(&[n; 32]).unwrap()
}

fn client() -> Client {
    Client::new("app").allow_scopes(["read"])
}

#[tokio::test]
async fn forged_tokens_are_rejected_without_touching_the_store() {
    let engine = engine_with(Counting::default(), RefreshKeys::new(secret(1)));
    let issued = engine
        .issue(&client(), IssueRequest::new("alice"))
        .await
        .unwrap();
    let real = issued.refresh_token.unwrap();
    let body = URL_SAFE_NO_PAD.decode(&real.expose_secret()[3..]).unwrap();
    let family = FamilyId::from_bytes(body[2..18].try_into().unwrap());
    let before = engine.store().counts();

    // Random bytes in a valid format, naming the real family: format 1, key id 0, the real
    // family id, generation 0, a random secret and a random tag.
    let mut forged_bodies = Vec::new();
    for seed in 0u8..64 {
        let mut b = body.clone();
        for (i, byte) in b.iter_mut().enumerate().skip(22) {
            *byte = seed.wrapping_mul(31).wrapping_add(i as u8).rotate_left(3);
        }
        forged_bodies.push(format!("rt_{}", URL_SAFE_NO_PAD.encode(&b)));
    }
    // And the real token re-tagged by a different secret.
    let other = engine_with(Counting::default(), RefreshKeys::new(secret(2)));
    let foreign = other
        .issue(&client(), IssueRequest::new("alice"))
        .await
        .unwrap()
        .refresh_token
        .unwrap();
    forged_bodies.push(foreign.expose_secret().to_owned());

    for forged in &forged_bodies {
        let r = engine
            .refresh(&client(), forged, RefreshRequest::default())
            .await;
        assert!(
            matches!(r, Err(Error::InvalidGrant(GrantError::InvalidTag))),
            "{r:?}"
        );
        assert_eq!(
            engine.revoke(&client(), forged).await.unwrap(),
            RevocationOutcome::Unknown
        );
        assert!(!engine.introspect(forged).await.unwrap().active);
    }
    assert_eq!(
        engine.store().counts(),
        before,
        "a forged token caused a store access"
    );
    let stored = engine.store().load_family(&family).await.unwrap().unwrap();
    assert!(
        stored.is_active(),
        "a forged token revoked the family it names"
    );
    // The real token still works.
    assert!(
        engine
            .refresh(&client(), real.expose_secret(), RefreshRequest::default())
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn refresh_secret_rotation_keeps_old_tokens_until_retired() {
    let store = MemoryStore::new();
    let old_engine = Engine::builder()
        .issuer("https://as")
        .audience("https://api")
        .signing_key(SigningKey::hmac(Algorithm::HS256, &[3; 32]).unwrap())
        .refresh_secret(secret(1))
        .clock(ManualClock::new(NOW))
        .build(store.clone())
        .unwrap();
    let t_a = old_engine
        .issue(&client(), IssueRequest::new("a"))
        .await
        .unwrap()
        .refresh_token
        .unwrap();
    let t_b = old_engine
        .issue(&client(), IssueRequest::new("b"))
        .await
        .unwrap()
        .refresh_token
        .unwrap();
    // Deploy a new secret (id 1) with the old one (id 0) retiring.
    let rotated = |retiring: bool| {
        let keys = RefreshKeys::new(secret(9).with_id(1));
        let keys = if retiring {
            keys.with_retiring(secret(1)).unwrap()
        } else {
            keys
        };
        Engine::builder()
            .issuer("https://as")
            .audience("https://api")
            .signing_key(SigningKey::hmac(Algorithm::HS256, &[3; 32]).unwrap())
            .refresh_keys(keys)
            .clock(ManualClock::new(NOW + 5))
            .build(store.clone())
            .unwrap()
    };
    let new_engine = rotated(true);
    let next_a = new_engine
        .refresh(&client(), t_a.expose_secret(), RefreshRequest::default())
        .await
        .unwrap()
        .refresh_token
        .unwrap();
    // Once the old secret is retired, un-rotated old tokens die; rotated families live on.
    let retired = rotated(false);
    assert!(matches!(
        retired
            .refresh(&client(), t_b.expose_secret(), RefreshRequest::default())
            .await,
        Err(Error::InvalidGrant(GrantError::InvalidTag))
    ));
    assert!(
        retired
            .refresh(&client(), next_a.expose_secret(), RefreshRequest::default())
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn debug_output_of_secret_holders_is_redacted() {
    let engine = engine_with(Counting::default(), RefreshKeys::new(secret(1)));
    let r = engine
        .issue(&client(), IssueRequest::new("alice"))
        .await
        .unwrap();
    let token = r.refresh_token.as_ref().unwrap().expose_secret().to_owned();
    let shown = format!(
        "{r:?} {:?} {:?} {:?}",
        r.refresh_token,
        secret(1),
        RefreshKeys::new(secret(1))
    );
    assert!(
        !shown.contains(&token[..20]) && !shown.contains(&r.access_token[..20]),
        "{shown}"
    );
    assert_eq!(
        format!("{:?}", r.refresh_token.as_ref().unwrap()),
        "RefreshToken([redacted])"
    );
    assert_eq!(
        format!("{:?}", secret(1).with_id(4)),
        "RefreshSecret(id 4, [redacted])"
    );
    assert_eq!(
        format!("{:?}", RefreshKeys::new(secret(1))),
        "RefreshKeys { current: 0, retiring: [] }"
    );
    let family = engine
        .store()
        .inner
        .list_families("alice")
        .await
        .unwrap()
        .remove(0);
    let debug = format!("{family:?}");
    assert!(
        debug.contains("SecretHash(") && debug.contains("..)"),
        "{debug}"
    );
    let full_hash: String = family
        .current_secret_hash
        .0
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(!debug.contains(&full_hash));
}
