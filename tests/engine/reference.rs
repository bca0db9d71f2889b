//! Reference (opaque) access tokens (issue 23): per client or engine-wide; MAC'd, so a forged
//! or altered one costs no store call; every revocation path (reuse detection, sign-out,
//! policy major bump, RFC 7009 of the refresh token or of the access token itself) makes it
//! inactive at the next introspection on another engine over the same store; storage stays
//! bounded per session; grants without a refresh token get a record `delete_expired` sweeps.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use time::Duration;
use token_engine::event::CollectingSink;
use token_engine::family::{FamilyRecord, MAX_REVOKED_ACCESS_TOKENS};
use token_engine::grant::TokenBinding;
use token_engine::store::{CasOutcome, InsertOutcome, OperationId};
use token_engine::{
    AccessTokenFormat, Client, ClientAuthMethod, Engine, Error, FamilyId, IntrospectionResponse,
    IssueRequest, ManualClock, MemoryStore, PolicyVersion, RefreshRequest, RevocationOutcome,
    RevocationReason, TokenStore,
};

use crate::common::*;

/// One instance's handle on the shared storage, counting every call it makes.
struct Counting {
    inner: Arc<MemoryStore>,
    calls: AtomicUsize,
}

impl Counting {
    fn over(inner: &Arc<MemoryStore>) -> Self {
        Self {
            inner: Arc::clone(inner),
            calls: AtomicUsize::new(0),
        }
    }
    fn tick(&self) {
        self.calls.fetch_add(1, Ordering::SeqCst);
    }
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

type R<T> = Result<T, std::convert::Infallible>;

impl TokenStore for Counting {
    type Error = std::convert::Infallible;
    async fn create_family(&self, r: &FamilyRecord) -> R<InsertOutcome> {
        self.tick();
        self.inner.create_family(r).await
    }
    async fn load_family(&self, id: &FamilyId) -> R<Option<FamilyRecord>> {
        self.tick();
        self.inner.load_family(id).await
    }
    async fn compare_and_swap_family(&self, v: u64, r: &FamilyRecord) -> R<CasOutcome> {
        self.tick();
        self.inner.compare_and_swap_family(v, r).await
    }
    async fn list_families(&self, s: &str) -> R<Vec<FamilyRecord>> {
        self.tick();
        self.inner.list_families(s).await
    }
    async fn revoke_subject(
        &self,
        s: &str,
        reason: RevocationReason,
        at: i64,
        op: OperationId,
    ) -> R<u64> {
        self.tick();
        self.inner.revoke_subject(s, reason, at, op).await
    }
    async fn load_policy(&self, t: Option<&str>) -> R<Option<PolicyVersion>> {
        self.tick();
        self.inner.load_policy(t).await
    }
    async fn save_policy(&self, t: Option<&str>, v: Option<PolicyVersion>) -> R<()> {
        self.tick();
        self.inner.save_policy(t, v).await
    }
    async fn delete_expired(&self, now: i64) -> R<u64> {
        self.tick();
        self.inner.delete_expired(now).await
    }
}

/// Two app servers over one storage, with one clock; reference tokens for every client.
struct Two {
    a: Engine<Counting>,
    b: Engine<Counting>,
    clock: ManualClock,
    shared: Arc<MemoryStore>,
}

fn two() -> Two {
    two_with(AccessTokenFormat::Reference)
}

fn two_with(format: AccessTokenFormat) -> Two {
    let clock = ManualClock::new(NOW);
    let shared = Arc::new(MemoryStore::new());
    let engine = || {
        builder(&clock, &Arc::new(CollectingSink::new()))
            .access_token_format(format)
            .build(Counting::over(&shared))
            .unwrap()
    };
    Two {
        a: engine(),
        b: engine(),
        clock: clock.clone(),
        shared,
    }
}

fn machine() -> Client {
    Client::confidential("machine", ClientAuthMethod::PrivateKeyJwt(Vec::new()))
        .allow_scopes(["read", "write"])
        .grant_types([token_engine::GrantType::ClientCredentials])
        .opaque_access_tokens()
}

async fn active<S: TokenStore>(e: &Engine<S>, token: &str) -> bool {
    let r = e.introspect(token).await.unwrap();
    if !r.active {
        assert_eq!(r, IntrospectionResponse::inactive());
    }
    r.active
}

#[tokio::test]
async fn a_reference_token_introspects_with_its_fields_on_every_instance() {
    let t = two();
    let login =
        t.a.issue(&client(), IssueRequest::new(SUBJECT))
            .await
            .unwrap();
    let at = &login.access_token;
    assert!(at.starts_with("at_") && at.len() == 114, "{at}");
    assert!(!at.contains('.'), "not a JWT");
    assert!(active(&t.b, at).await, "warms b's policy cache");
    let before = t.b.store().calls();
    let i = t.b.introspect(at).await.unwrap();
    assert_eq!(
        t.b.store().calls() - before,
        1,
        "one store read: load_family"
    );
    assert!(i.active);
    assert_eq!(i.token_type.as_deref(), Some("Bearer"));
    assert_eq!(i.client_id.as_deref(), Some("app"));
    assert_eq!(i.sub.as_deref(), Some(SUBJECT));
    assert_eq!(i.scope.as_deref(), Some("read write"));
    assert_eq!(i.iss.as_deref(), Some(ISS));
    assert_eq!(i.iat, Some(NOW));
    assert_eq!(i.exp, Some(NOW + ACCESS_TTL));
    assert!(i.aud.as_ref().is_some_and(|a| a.contains(AUD)));
    assert_eq!(i.jti.as_deref().map(str::len), Some(22));
    assert_eq!(i.cnf, None);
    // The verifier is for JWTs: a reference token is introspected, not verified.
    assert!(t.a.verifier().verify(at).is_err());
    assert!(t.a.verify_with_revocation(at).await.is_err());
}

#[tokio::test]
async fn forged_mutated_and_expired_reference_tokens_cost_no_store_call() {
    let t = two();
    let login =
        t.a.issue(&client(), IssueRequest::new(SUBJECT))
            .await
            .unwrap();
    let at = login.access_token.clone();
    let e = &t.b;
    let before = e.store().calls();
    let mut tried = 0;
    for i in 3..at.len() {
        for c in ['A', 'z', '0', '-', '_'] {
            let mut bytes = at.clone().into_bytes();
            if bytes[i] == c as u8 {
                continue;
            }
            bytes[i] = c as u8;
            let mutated = String::from_utf8(bytes).unwrap();
            assert!(!active(e, &mutated).await, "{i} {c}");
            assert_eq!(
                e.revoke(&client(), &mutated).await.unwrap(),
                RevocationOutcome::Unknown
            );
            tried += 1;
        }
    }
    // Another secret mints a well-formed token with a tag this engine refuses.
    let forger = builder(&t.clock, &Arc::new(CollectingSink::new()))
        .refresh_secret(token_engine::RefreshSecret::from_bytes(&[9; 32]).unwrap())
        .access_token_format(AccessTokenFormat::Reference)
        .build(MemoryStore::new())
        .unwrap();
    let forged = forger
        .issue(&client(), IssueRequest::new(SUBJECT))
        .await
        .unwrap()
        .access_token;
    assert!(!active(e, &forged).await);
    assert!(!active(e, &tampered(&at)).await);
    for junk in ["at_", "at_AAAA", &format!("{at}AAAA"), &"at_A".repeat(5000)] {
        assert!(!active(e, junk).await);
    }
    assert!(tried > 400);
    assert_eq!(e.store().calls(), before, "no store call for any of them");

    // Expired: inactive, still without a store call.
    t.clock.set(NOW + ACCESS_TTL);
    let before = e.store().calls();
    assert!(!active(e, &at).await);
    assert_eq!(
        e.revoke(&client(), &at).await.unwrap(),
        RevocationOutcome::AlreadyInactive {
            family: family_of(rt(&login))
        }
    );
    assert_eq!(
        e.store().calls(),
        before + 1,
        "the revocation reads the family"
    );
    let before = e.store().calls();
    assert!(!active(e, &at).await);
    assert_eq!(e.store().calls(), before);
}

/// Issue on `a`, end the session with `end` on `b`, introspect on `a`.
async fn ended_on_the_other_instance<F, Fut>(end: F)
where
    F: FnOnce(Two, String, String) -> Fut,
    Fut: std::future::Future<Output = (Two, String)>,
{
    let t = two();
    let login =
        t.a.issue(&client(), IssueRequest::new(SUBJECT))
            .await
            .unwrap();
    let at = login.access_token.clone();
    assert!(active(&t.a, &at).await);
    let rt = rt(&login).to_owned();
    let (t, at) = end(t, at, rt).await;
    assert!(
        !active(&t.a, &at).await,
        "inactive at the next introspection"
    );
    assert!(!active(&t.b, &at).await);
}

#[tokio::test]
async fn reuse_detection_ends_it() {
    ended_on_the_other_instance(|t, at, rt| async move {
        t.b.refresh(&client(), &rt, RefreshRequest::default())
            .await
            .unwrap();
        assert!(active(&t.a, &at).await, "rotation alone ends nothing");
        t.clock.advance(Duration::seconds(10));
        assert!(matches!(
            t.b.refresh(&client(), &rt, RefreshRequest::default()).await,
            Err(Error::ReuseDetected)
        ));
        (t, at)
    })
    .await;
}

#[tokio::test]
async fn signing_the_session_out_ends_it() {
    ended_on_the_other_instance(|t, at, rt| async move {
        let outcome = t.b.revoke_session(SUBJECT, family_of(&rt)).await.unwrap();
        assert!(matches!(outcome, RevocationOutcome::Revoked { .. }));
        (t, at)
    })
    .await;
}

#[tokio::test]
async fn signing_out_everywhere_ends_it() {
    ended_on_the_other_instance(|t, at, _| async move {
        assert_eq!(t.b.sign_out_everywhere(SUBJECT).await.unwrap(), 1);
        (t, at)
    })
    .await;
}

#[tokio::test]
async fn a_policy_major_bump_ends_it() {
    ended_on_the_other_instance(|t, at, _| async move {
        t.b.set_policy(None, Some(PolicyVersion::new(2, 0)))
            .await
            .unwrap();
        // `a` reads the shared version within its policy_refresh (5 s).
        t.clock.advance(Duration::seconds(6));
        (t, at)
    })
    .await;
}

#[tokio::test]
async fn revoking_the_refresh_token_ends_it() {
    ended_on_the_other_instance(|t, at, rt| async move {
        assert!(matches!(
            t.b.revoke(&client(), &rt).await.unwrap(),
            RevocationOutcome::Revoked { .. }
        ));
        (t, at)
    })
    .await;
}

#[tokio::test]
async fn revoking_the_access_token_ends_it_alone() {
    let t = two();
    let login =
        t.a.issue(&client(), IssueRequest::new(SUBJECT))
            .await
            .unwrap();
    let first = login.access_token.clone();
    let second =
        t.a.refresh(&client(), rt(&login), RefreshRequest::default())
            .await
            .unwrap();
    assert!(active(&t.a, &first).await && active(&t.a, &second.access_token).await);
    let family = family_of(rt(&login));
    assert!(matches!(
        t.b.revoke(&other_client(), &first).await,
        Err(Error::UnauthorizedClient)
    ));
    assert!(active(&t.a, &first).await, "another client revokes nothing");
    assert_eq!(
        t.b.revoke(&client(), &first).await.unwrap(),
        RevocationOutcome::AccessTokenRevoked { family }
    );
    assert!(
        !active(&t.a, &first).await,
        "inactive on the other instance"
    );
    assert!(
        active(&t.a, &second.access_token).await,
        "the session goes on"
    );
    let third =
        t.a.refresh(&client(), rt(&second), RefreshRequest::default())
            .await
            .unwrap();
    assert!(active(&t.b, &third.access_token).await);
    // Again (a retry after a lost answer): the same answer, nothing written.
    let stored = t.shared.load_family(&family).await.unwrap().unwrap();
    assert_eq!(
        t.b.revoke(&client(), &first).await.unwrap(),
        RevocationOutcome::AccessTokenRevoked { family }
    );
    assert_eq!(
        t.shared.load_family(&family).await.unwrap().unwrap(),
        stored
    );
}

#[tokio::test]
async fn storage_stays_bounded_whatever_the_number_of_tokens_revoked() {
    let t = two();
    let login =
        t.a.issue(&client(), IssueRequest::new(SUBJECT))
            .await
            .unwrap();
    let family = family_of(rt(&login));
    let mut refresh = rt(&login).to_owned();
    let mut revoked = vec![login.access_token.clone()];
    for _ in 0..100 {
        t.clock.advance(Duration::seconds(1));
        let next =
            t.a.refresh(&client(), &refresh, RefreshRequest::default())
                .await
                .unwrap();
        refresh = rt(&next).to_owned();
        revoked.push(next.access_token);
    }
    let size = |r: &FamilyRecord| serde_json::to_vec(r).unwrap().len();
    let fresh = size(&t.shared.load_family(&family).await.unwrap().unwrap());
    for (i, at) in revoked.iter().enumerate() {
        let e = if i % 2 == 0 { &t.a } else { &t.b };
        assert_eq!(
            e.revoke(&client(), at).await.unwrap(),
            RevocationOutcome::AccessTokenRevoked { family }
        );
        let r = t.shared.load_family(&family).await.unwrap().unwrap();
        assert!(r.revoked_access.len() <= MAX_REVOKED_ACCESS_TOKENS);
    }
    for at in &revoked {
        assert!(!active(&t.a, at).await);
    }
    let record = t.shared.load_family(&family).await.unwrap().unwrap();
    assert!(record.access_not_before > 0, "the watermark took over");
    assert!(size(&record) <= fresh + MAX_REVOKED_ACCESS_TOKENS * 200);
    // A token issued after the last revoked one is active: the session goes on.
    t.clock.advance(Duration::seconds(1));
    let next =
        t.b.refresh(&client(), &refresh, RefreshRequest::default())
            .await
            .unwrap();
    assert!(active(&t.a, &next.access_token).await);
}

#[tokio::test]
async fn grants_without_refresh_token_get_a_record_that_revokes_and_is_swept() {
    let t = two_with(AccessTokenFormat::Jwt);
    let cc =
        t.a.client_credentials(&machine(), Some("read"), TokenBinding::default())
            .await
            .unwrap();
    assert!(cc.refresh_token.is_none());
    let at = cc.access_token;
    assert!(
        at.starts_with("at_"),
        "the client's format wins over the engine's"
    );
    let i = t.b.introspect(&at).await.unwrap();
    assert!(i.active);
    assert_eq!(i.sub.as_deref(), Some("machine"));
    assert_eq!(i.scope.as_deref(), Some("read"));
    assert!(
        t.a.sessions("machine").await.unwrap().is_empty(),
        "not a session"
    );

    // Revoked through RFC 7009 on the other instance.
    let outcome = t.b.revoke(&machine(), &at).await.unwrap();
    assert!(matches!(
        outcome,
        RevocationOutcome::AccessTokenRevoked { .. }
    ));
    assert!(!active(&t.a, &at).await);

    // Another one ends with sign-out everywhere (the user's own, without refresh token).
    let user =
        t.a.issue(
            &client().opaque_access_tokens(),
            IssueRequest::new(SUBJECT).without_refresh_token(),
        )
        .await
        .unwrap();
    assert!(active(&t.b, &user.access_token).await);
    assert_eq!(
        t.b.sign_out_everywhere(SUBJECT).await.unwrap(),
        0,
        "no session ended"
    );
    assert!(!active(&t.a, &user.access_token).await);

    // Swept by delete_expired once the token expired, not before.
    let live =
        t.a.client_credentials(&machine(), None, TokenBinding::default())
            .await
            .unwrap()
            .access_token;
    let listed = t.shared.list_families("machine").await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(
        listed
            .iter()
            .all(|r| r.access_only && r.absolute_expires_at == NOW + ACCESS_TTL)
    );
    t.clock.set(NOW + ACCESS_TTL - 1);
    assert!(active(&t.a, &live).await);
    t.a.delete_expired().await.unwrap();
    assert_eq!(t.shared.list_families("machine").await.unwrap().len(), 2);
    t.clock.set(NOW + ACCESS_TTL);
    t.a.delete_expired().await.unwrap();
    assert!(t.shared.list_families("machine").await.unwrap().is_empty());
    assert!(t.shared.list_families(SUBJECT).await.unwrap().is_empty());
    assert!(!active(&t.b, &live).await);
}

#[tokio::test]
async fn the_engine_default_and_the_client_choice() {
    let t = two_with(AccessTokenFormat::Jwt);
    let jwt =
        t.a.issue(&client(), IssueRequest::new(SUBJECT))
            .await
            .unwrap();
    assert!(jwt.access_token.starts_with("ey"));
    let opaque =
        t.a.issue(&client().opaque_access_tokens(), IssueRequest::new(SUBJECT))
            .await
            .unwrap();
    assert!(opaque.access_token.starts_with("at_"));
    let t = two();
    let back =
        t.a.issue(
            &client().access_token_format(AccessTokenFormat::Jwt),
            IssueRequest::new(SUBJECT),
        )
        .await
        .unwrap();
    assert!(back.access_token.starts_with("ey"));
}

#[tokio::test]
async fn a_narrowed_refresh_and_a_certificate_binding_show_in_introspection() {
    let t = two();
    let login =
        t.a.issue(&client(), IssueRequest::new(SUBJECT).mtls(&[5; 32]))
            .await
            .unwrap();
    let i = t.b.introspect(&login.access_token).await.unwrap();
    let cnf = i.cnf.unwrap();
    assert_eq!(
        cnf.x5t_s256.as_deref(),
        Some(
            base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, [5u8; 32])
                .as_str()
        )
    );
    assert_eq!(cnf.jkt, None);
    let narrowed =
        t.a.refresh(
            &client(),
            rt(&login),
            RefreshRequest::default().mtls(&[5; 32]).scope("write"),
        )
        .await
        .unwrap();
    let i = t.b.introspect(&narrowed.access_token).await.unwrap();
    assert_eq!(i.scope.as_deref(), Some("write"));
    assert!(i.cnf.unwrap().x5t_s256.is_some());
}

#[tokio::test]
async fn a_dpop_bound_reference_token_reports_its_key_in_cnf() {
    const TOKEN_URL: &str = "https://auth.example.com/token";
    let h = Harness::with(|b| {
        b.token_endpoint(TOKEN_URL)
            .access_token_format(AccessTokenFormat::Reference)
    });
    let key = holder(token_engine::Algorithm::EdDSA);
    let proof = h
        .engine
        .verify_dpop_proof(&key.proof("POST", TOKEN_URL, NOW, "r1"), "POST", TOKEN_URL)
        .await
        .unwrap();
    let login = h
        .issue(&client(), IssueRequest::new(SUBJECT).dpop(proof))
        .await
        .unwrap();
    assert_eq!(login.token_type, token_engine::TokenType::DPoP);
    assert_eq!(login.access_token.len(), 157);
    let i = h.engine.introspect(&login.access_token).await.unwrap();
    assert_eq!(i.token_type.as_deref(), Some("DPoP"));
    assert_eq!(i.cnf.unwrap().jkt.as_deref(), Some(key.jkt().as_str()));
}

#[tokio::test]
async fn a_gateway_cache_sees_a_revocation_within_its_bound() {
    let t = two();
    let cache = token_engine::IntrospectionCache::new(Duration::seconds(30), 1000)
        .unwrap()
        .with_clock(t.clock.clone());
    let login =
        t.a.issue(&client(), IssueRequest::new(SUBJECT))
            .await
            .unwrap();
    let at = login.access_token.clone();
    let gateway = |e: &'static str| {
        let engine = if e == "a" { &t.a } else { &t.b };
        let cache = &cache;
        let at = at.clone();
        async move {
            cache
                .get_or_introspect(&at, |token| async move { engine.introspect(&token).await })
                .await
                .unwrap()
                .active
        }
    };
    assert!(gateway("a").await);
    let calls = t.a.store().calls();
    assert!(gateway("a").await, "a hit");
    assert_eq!(t.a.store().calls(), calls, "no store call on a hit");
    // Revoked on the other instance: the cache may answer from memory for up to 30 s.
    t.clock.advance(Duration::seconds(10));
    assert!(matches!(
        t.b.revoke(&client(), &at).await.unwrap(),
        RevocationOutcome::AccessTokenRevoked { .. }
    ));
    assert!(
        !active(&t.a, &at).await,
        "the authorization server knows at once"
    );
    t.clock.advance(Duration::seconds(19));
    assert!(
        gateway("a").await,
        "inside the bound: the documented latency"
    );
    t.clock.advance(Duration::seconds(1));
    assert!(!gateway("a").await, "at the bound: asked again, inactive");
    assert!(!gateway("b").await, "and not cached");

    // Never past the token's exp, whatever the bound.
    let long = token_engine::IntrospectionCache::new(Duration::hours(1), 10)
        .unwrap()
        .with_clock(t.clock.clone());
    let fresh =
        t.a.issue(&client(), IssueRequest::new(SUBJECT))
            .await
            .unwrap();
    let answer = t.a.introspect(&fresh.access_token).await.unwrap();
    long.insert(&fresh.access_token, answer);
    t.clock.advance(Duration::seconds(ACCESS_TTL - 1));
    assert!(long.get(&fresh.access_token).is_some());
    t.clock.advance(Duration::seconds(1));
    assert!(long.get(&fresh.access_token).is_none());
}

#[tokio::test]
async fn the_resource_server_path_takes_reference_tokens_with_their_binding() {
    const TOKEN_URL: &str = "https://auth.example.com/token";
    let h = Harness::with(|b| {
        b.token_endpoint(TOKEN_URL)
            .access_token_format(AccessTokenFormat::Reference)
    });
    // Bearer: the claims of the session, the application's included.
    let plain = h
        .issue(
            &client(),
            IssueRequest::new(SUBJECT)
                .claim("role", "admin")
                .claim("tenant_id", "t1"),
        )
        .await
        .unwrap();
    let bearer = format!("Bearer {}", plain.access_token);
    let claims = h
        .engine
        .verify_resource_request_as::<App>(&bearer, None, "GET", API)
        .await
        .unwrap();
    assert_eq!(claims.sub.as_deref(), Some(SUBJECT));
    assert_eq!(claims.scope.as_deref(), Some("read write"));
    assert_eq!(claims.custom.role, "admin");
    assert_eq!(
        claims.sid.as_deref(),
        Some(family_of(rt(&plain)).to_string().as_str())
    );
    // DPoP-bound: the DPoP scheme and a proof by its key, as for a JWT.
    let key = holder(token_engine::Algorithm::EdDSA);
    let proof = h
        .engine
        .verify_dpop_proof(&key.proof("POST", TOKEN_URL, NOW, "t1"), "POST", TOKEN_URL)
        .await
        .unwrap();
    let bound = h
        .issue(&client(), IssueRequest::new(SUBJECT).dpop(proof))
        .await
        .unwrap()
        .access_token;
    let dpop = format!("DPoP {bound}");
    h.engine
        .verify_resource_request(&dpop, Some(&key.resource_proof(&bound, "p1")), "GET", API)
        .await
        .unwrap();
    let thief = holder(token_engine::Algorithm::EdDSA);
    for (auth, proof) in [
        (dpop.clone(), Some(thief.resource_proof(&bound, "p2"))),
        (dpop.clone(), None),
        (format!("Bearer {bound}"), None),
    ] {
        assert!(
            h.engine
                .verify_resource_request(&auth, proof.as_deref(), "GET", API)
                .await
                .is_err()
        );
    }
    // Revoked, forged, expired: refused with their reasons.
    let _ = h
        .engine
        .revoke(&client(), &plain.access_token)
        .await
        .unwrap();
    for (token, want) in [
        (
            plain.access_token.clone(),
            token_engine::TokenError::SessionRevoked,
        ),
        (tampered(&bound), token_engine::TokenError::Malformed),
    ] {
        let e = h
            .engine
            .verify_resource_request(&format!("Bearer {token}"), None, "GET", API)
            .await
            .unwrap_err();
        assert!(matches!(e, Error::InvalidToken(t) if t == want), "{e:?}");
    }
    h.at(ACCESS_TTL);
    let e = h
        .engine
        .verify_resource_request(&dpop, Some(&key.resource_proof(&bound, "p3")), "GET", API)
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::InvalidToken(token_engine::TokenError::Expired)),
        "{e:?}"
    );
}

#[tokio::test]
async fn resource_indicators_and_acr_travel_in_reference_tokens() {
    const R1: &str = "https://r1.example.com";
    const R2: &str = "https://r2.example.com";
    let h = Harness::with(|b| {
        b.resource(R1)
            .resource(R2)
            .access_token_format(AccessTokenFormat::Reference)
    });
    let app = client().allow_resources([R1, R2]);
    let login = h
        .issue(
            &app,
            IssueRequest::new(SUBJECT)
                .resource(R1)
                .resource(R2)
                .acr("urn:example:mfa"),
        )
        .await
        .unwrap();
    let i = h.engine.introspect(&login.access_token).await.unwrap();
    let aud = i.aud.unwrap();
    assert!(
        aud.contains(R1) && aud.contains(R2) && !aud.contains(AUD),
        "{aud:?}"
    );
    // A refresh narrowed to R2: its reference token is for R2 alone.
    let r2 = h
        .refresh(&app, rt(&login), RefreshRequest::default().resource(R2))
        .await
        .unwrap();
    let aud = h
        .engine
        .introspect(&r2.access_token)
        .await
        .unwrap()
        .aud
        .unwrap();
    assert!(aud.contains(R2) && !aud.contains(R1), "{aud:?}");
    // At the resource server: R2 accepts it, R1 and the engine's own routes refuse it, as
    // they would the JWT.
    let bearer = format!("Bearer {}", r2.access_token);
    let claims = h
        .engine
        .verify_resource_request_for::<token_engine::jose::NoCustomClaims>(
            Some(R2),
            &bearer,
            None,
            "GET",
            API,
        )
        .await
        .unwrap();
    assert_eq!(claims.acr.as_deref(), Some("urn:example:mfa"));
    for resource in [Some(R1), None] {
        let e = h
            .engine
            .verify_resource_request_for::<token_engine::jose::NoCustomClaims>(
                resource, &bearer, None, "GET", API,
            )
            .await
            .unwrap_err();
        assert!(
            matches!(e, Error::InvalidToken(token_engine::TokenError::Audience)),
            "{resource:?}: {e:?}"
        );
    }
    // A token without resources is for the engine's own audience, not for R1.
    let own = h.issue(&app, IssueRequest::new(SUBJECT)).await.unwrap();
    let own = format!("Bearer {}", own.access_token);
    assert!(
        h.engine
            .verify_resource_request(&own, None, "GET", API)
            .await
            .is_ok()
    );
    assert!(
        h.engine
            .verify_resource_request_for::<token_engine::jose::NoCustomClaims>(
                Some(R1),
                &own,
                None,
                "GET",
                API
            )
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_resource_mask_naming_no_granted_resource_never_means_the_engines_audience() {
    const R1: &str = "https://r1.example.com";
    let h = Harness::with(|b| {
        b.resource(R1)
            .access_token_format(AccessTokenFormat::Reference)
    });
    let app = client().allow_resources([R1]);
    let login = h
        .issue(&app, IssueRequest::new(SUBJECT).resource(R1))
        .await
        .unwrap();
    // A token MAC'd by this engine's secret whose mask selects a resource the session does
    // not have (only a bug or a stolen secret makes one).
    let keys =
        token_engine::RefreshKeys::new(token_engine::RefreshSecret::from_bytes(&SECRET).unwrap());
    let mut parts = token_engine::__private::parse_reference(&keys, &login.access_token).unwrap();
    assert_eq!(parts.resource_mask, 1);
    parts.resource_mask = 1 << 5;
    let odd = token_engine::__private::mint_reference(&keys, &parts).unwrap();
    let i = h.engine.introspect(&odd).await.unwrap();
    let aud = i.aud.unwrap();
    assert!(!aud.contains(AUD) && !aud.contains(R1), "{aud:?}");
    for resource in [None, Some(R1)] {
        assert!(
            h.engine
                .verify_resource_request_for::<token_engine::jose::NoCustomClaims>(
                    resource,
                    &format!("Bearer {odd}"),
                    None,
                    "GET",
                    API,
                )
                .await
                .is_err()
        );
    }
}
