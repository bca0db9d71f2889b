//! What the kit cannot see from outside: the schema and statements of this store. Every
//! lookup has an index, versions wrap in `revoke_subject` as in Rust, a string PostgreSQL
//! cannot hold is refused rather than altered, migrations are idempotent and safe to run
//! from several instances at once, and the pool's connections are READ COMMITTED whatever
//! the database's default.

use token_engine::store::{FamilyRecord, InsertOutcome, SecretHash, TokenStore};
use token_engine::store::{FamilyState, OperationId};
use token_engine::{FamilyId, PolicyVersion, RevocationReason};
use token_engine_postgres::{PgStore, PgStoreError, sql};
use tokio_postgres::NoTls;
use tokio_postgres::types::{ToSql, Type};

use crate::common::*;

fn record(subject: &str, n: u8) -> FamilyRecord {
    FamilyRecord {
        id: FamilyId::from_bytes([n; 16]),
        subject: subject.into(),
        client_id: "app".into(),
        scope: "read".into(),
        tenant: None,
        device_id: None,
        dpop_jkt: None,
        cert_thumbprint: None,
        claims: None,
        resources: None,
        acr: None,
        auth_time: T0,
        created_at: T0,
        absolute_expires_at: T0 + 86_400,
        last_used_at: T0,
        policy: PolicyVersion::new(1, 0),
        generation: 0,
        key_id: 0,
        current_secret_hash: SecretHash([1; 32]),
        rotated_at: 0,
        state: FamilyState::Active,
        version: 0,
        access_only: false,
        revoked_access: Box::default(),
        access_not_before: 0,
    }
}

/// Every statement's plan, with sequential scans priced out: a lookup without an index still
/// shows a `Seq Scan`. The parameters are sample values of the types PostgreSQL inferred.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_lookup_uses_an_index() {
    let Some(db) = database("indexes").await else {
        return;
    };
    let c = connect(&db.schema().await).await;
    c.batch_execute("SET enable_seqscan = off").await.unwrap();
    let statements = [
        ("CREATE_FAMILY", sql::CREATE_FAMILY),
        ("LOAD_FAMILY", sql::LOAD_FAMILY),
        ("SWAP_FAMILY", sql::SWAP_FAMILY),
        ("LIST_FAMILIES", sql::LIST_FAMILIES),
        ("REVOKE_SUBJECT", sql::REVOKE_SUBJECT),
        ("LOAD_POLICY", sql::LOAD_POLICY),
        ("SAVE_POLICY", sql::SAVE_POLICY),
        ("DELETE_POLICY", sql::DELETE_POLICY),
        ("DELETE_EXPIRED", sql::DELETE_EXPIRED),
        ("INSERT_CODE", sql::INSERT_CODE),
        ("TAKE_CODE", sql::TAKE_CODE),
        ("INSERT_DEVICE", sql::INSERT_DEVICE),
        ("LOAD_DEVICE", sql::LOAD_DEVICE),
        ("LOAD_DEVICE_BY_USER_CODE", sql::LOAD_DEVICE_BY_USER_CODE),
        ("SWAP_DEVICE", sql::SWAP_DEVICE),
        ("INSERT_REPLAY_ID", sql::INSERT_REPLAY_ID),
    ];
    for (name, statement) in statements {
        let explain = c.prepare(&format!("EXPLAIN {statement}")).await.unwrap();
        let values: Vec<Box<dyn ToSql + Sync>> = explain
            .params()
            .iter()
            .map(|t| -> Box<dyn ToSql + Sync> {
                match *t {
                    Type::BYTEA => Box::new(vec![7u8; 16]),
                    Type::TEXT => Box::new("sample"),
                    Type::INT8 => Box::new(7i64),
                    Type::INT2 => Box::new(7i16),
                    Type::BOOL => Box::new(false),
                    ref other => panic!("{name}: a parameter of type {other}"),
                }
            })
            .collect();
        let refs: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| &**v).collect();
        let plan: Vec<String> = c
            .query(&explain, &refs)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        let plan = plan.join("\n");
        assert!(!plan.contains("Seq Scan"), "{name} scans a table:\n{plan}");
    }
    db.drop().await;
}

/// `revoke_subject` bumps versions with the `u64` wrap, in SQL: `i64::MAX` to 2^63 (stored
/// as `i64::MIN`) and `u64::MAX` to 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoke_subject_wraps_versions() {
    let Some(db) = database("wrap").await else {
        return;
    };
    let store = db.fresh_store().await;
    let mut a = record("wrap", 1);
    a.version = i64::MAX as u64;
    let mut b = record("wrap", 2);
    b.version = u64::MAX;
    for r in [&a, &b] {
        assert_eq!(
            store.create_family(r).await.unwrap(),
            InsertOutcome::Inserted
        );
    }
    let op = OperationId([3; 16]);
    assert_eq!(
        store
            .revoke_subject("wrap", RevocationReason::Logout, T0, op)
            .await
            .unwrap(),
        2
    );
    for (r, expected) in [(&a, 1u64 << 63), (&b, 0)] {
        let f = store.load_family(&r.id).await.unwrap().unwrap();
        assert_eq!(f.version, expected);
        let mut want = r.clone();
        want.revoke(RevocationReason::Logout, T0, op);
        assert_eq!(f, want);
    }
    db.drop().await;
}

/// `text` cannot hold U+0000: such a record is refused with an error and nothing is stored.
/// The subject is `bytea` and holds it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nul_is_refused_in_text_and_kept_in_the_subject() {
    let Some(db) = database("nul").await else {
        return;
    };
    let store = db.fresh_store().await;
    let mut bad = record("nul", 1);
    bad.client_id = "app\0".into();
    assert!(matches!(
        store.create_family(&bad).await,
        Err(PgStoreError::Db(_))
    ));
    assert_eq!(store.load_family(&bad.id).await.unwrap(), None);
    let good = record("a\0b", 2);
    assert_eq!(
        store.create_family(&good).await.unwrap(),
        InsertOutcome::Inserted
    );
    assert_eq!(store.list_families("a\0b").await.unwrap(), [good]);
    assert!(store.list_families("a").await.unwrap().is_empty());
    db.drop().await;
}

/// Migrations run once even when several instances start together, and again is a no-op.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn migrate_is_idempotent_across_instances() {
    let Some(db) = database("migrate").await else {
        return;
    };
    let c = db.connect().await;
    c.batch_execute("CREATE SCHEMA m").await.unwrap();
    let mut config = db.config.clone();
    config.options("-c search_path=m");
    let stores: Vec<PgStore> = (0..4).map(|_| store(&config)).collect();
    let runs: Vec<_> = stores
        .iter()
        .cloned()
        .map(|s| tokio::spawn(async move { s.migrate().await }))
        .collect();
    for r in runs {
        r.await.unwrap().unwrap();
    }
    stores[0].migrate().await.unwrap();
    let n: i64 = c
        .query_one("SELECT count(*) FROM m.token_schema_migrations", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, token_engine_postgres::MIGRATIONS.len() as i64);
    db.drop().await;
}

/// `PgStore::connect` pins READ COMMITTED even where the database defaults to SERIALIZABLE
/// (where a contended compare-and-swap would fail instead of waiting), and `migrate` refuses
/// a database that is not UTF8.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_committed_and_utf8() {
    let Some(db) = database("settings").await else {
        return;
    };
    let c = db.connect().await;
    c.batch_execute(&format!(
        "ALTER DATABASE {} SET default_transaction_isolation = 'serializable'",
        db.name
    ))
    .await
    .unwrap();
    let plain = connect(&db.config).await;
    let level: String = plain
        .query_one("SHOW transaction_isolation", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(level, "serializable", "the database default took effect");
    let store = PgStore::connect(db.config.clone(), NoTls, 1).unwrap();
    let pooled = store.pool().get().await.unwrap();
    let level: String = pooled
        .query_one("SHOW transaction_isolation", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(level, "read committed");
    drop(pooled);

    let latin = format!("{}_latin1", db.name);
    c.batch_execute(&format!(
        "CREATE DATABASE {latin} TEMPLATE template0 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C'"
    ))
    .await
    .unwrap();
    let mut config = db.config.clone();
    config.dbname(&latin);
    let r = PgStore::connect(config, NoTls, 1).unwrap().migrate().await;
    assert!(matches!(r, Err(PgStoreError::Unsupported(_))), "{r:?}");
    c.batch_execute(&format!("DROP DATABASE {latin} WITH (FORCE)"))
        .await
        .unwrap();
    drop(c);
    db.drop().await;
}
