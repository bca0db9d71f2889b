//! Reference (opaque) access tokens over PostgreSQL, two app servers with their own pools:
//! issued on one, revoked on the other (the token alone, then the session), inactive at the
//! next introspection everywhere; a grant without a refresh token gets a row that
//! `delete_expired` sweeps with its token; the revoked-token list stays bounded in the row.

use token_engine::family::MAX_REVOKED_ACCESS_TOKENS;
use token_engine::grant::TokenBinding;
use token_engine::{
    Client, ClientAuthMethod, GrantType, IssueRequest, RefreshRequest, RevocationOutcome,
    TokenStore,
};

use crate::common::*;

fn opaque() -> Client {
    client().opaque_access_tokens()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_tokens_across_two_instances() {
    let Some(db) = database("reference").await else {
        return;
    };
    let schema = db.schema().await;
    let a = server(store(&schema), T0, 5);
    let b = server(store(&schema), T0, 5);
    let login = a
        .engine
        .issue(&opaque(), IssueRequest::new("alice"))
        .await
        .unwrap();
    let first = login.access_token.clone();
    assert!(first.starts_with("at_"));
    assert!(b.engine.introspect(&first).await.unwrap().active);

    // RFC 7009 of the access token alone, on the other instance.
    let next = a
        .engine
        .refresh(
            &opaque(),
            login.refresh_token.as_ref().unwrap().expose_secret(),
            RefreshRequest::default(),
        )
        .await
        .unwrap();
    assert!(matches!(
        b.engine.revoke(&opaque(), &first).await.unwrap(),
        RevocationOutcome::AccessTokenRevoked { .. }
    ));
    assert!(!a.engine.introspect(&first).await.unwrap().active);
    assert!(
        a.engine
            .introspect(&next.access_token)
            .await
            .unwrap()
            .active
    );

    // Bounded: 40 more tokens revoked one by one, a second apart.
    let mut rt = next.refresh_token.unwrap();
    let mut revoked = vec![next.access_token];
    for i in 1..=40 {
        for s in [&a, &b] {
            s.clock.set(T0 + i);
        }
        let r = b
            .engine
            .refresh(&opaque(), rt.expose_secret(), RefreshRequest::default())
            .await
            .unwrap();
        rt = r.refresh_token.unwrap();
        revoked.push(r.access_token);
    }
    for t in &revoked {
        let _ = a.engine.revoke(&opaque(), t).await.unwrap();
        let id = alice_family(&a).await;
        let row = b.engine.store().load_family(&id).await.unwrap().unwrap();
        assert!(row.revoked_access.len() <= MAX_REVOKED_ACCESS_TOKENS);
    }
    for t in &revoked {
        assert!(!b.engine.introspect(t).await.unwrap().active);
    }

    // The session signed out on one instance: inactive on the other.
    for s in [&a, &b] {
        s.clock.set(T0 + 41);
    }
    let live = a
        .engine
        .refresh(&opaque(), rt.expose_secret(), RefreshRequest::default())
        .await
        .unwrap();
    assert!(
        b.engine
            .introspect(&live.access_token)
            .await
            .unwrap()
            .active
    );
    assert_eq!(b.engine.sign_out_everywhere("alice").await.unwrap(), 1);
    assert!(
        !a.engine
            .introspect(&live.access_token)
            .await
            .unwrap()
            .active
    );

    // Client credentials: a row of its own, swept with its token.
    let machine = Client::confidential("machine", ClientAuthMethod::PrivateKeyJwt(Vec::new()))
        .allow_scopes(["read"])
        .grant_types([GrantType::ClientCredentials])
        .opaque_access_tokens();
    let cc = b
        .engine
        .client_credentials(&machine, None, TokenBinding::default())
        .await
        .unwrap();
    assert!(a.engine.introspect(&cc.access_token).await.unwrap().active);
    assert_eq!(
        a.engine
            .store()
            .list_families("machine")
            .await
            .unwrap()
            .len(),
        1
    );
    for s in [&a, &b] {
        s.clock.set(T0 + 41 + 900);
    }
    assert!(!a.engine.introspect(&cc.access_token).await.unwrap().active);
    a.engine.delete_expired().await.unwrap();
    assert!(
        b.engine
            .store()
            .list_families("machine")
            .await
            .unwrap()
            .is_empty()
    );
    db.drop().await;
}

/// Alice's one session, through the store.
async fn alice_family(s: &Server) -> token_engine::FamilyId {
    s.engine.store().list_families("alice").await.unwrap()[0].id
}
