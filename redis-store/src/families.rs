//! [`TokenStore`]: families, policy versions and sweeping.

use std::collections::HashMap;

use futures_util::future::try_join_all;
use futures_util::stream::{self, StreamExt, TryStreamExt};
use redis::{AsyncCommands, Value};
use token_engine::store::{
    CasOutcome, FamilyRecord, FamilyState, InsertOutcome, OperationId, TokenStore,
};
use token_engine::{FamilyId, PolicyVersion, RevocationReason};

use crate::keys::{bucket_of, hex, unhex16};
use crate::record;
use crate::scripts::{CREATE_FAMILY, LOAD_FAMILY_REPLICATED, REVOKE_FAMILY, SWAP_FAMILY};
use crate::{Durability, RedisStore, RedisStoreError, Write};

/// Commands in flight at once for one call that touches many families (listing, revoking).
pub(crate) const FAN_OUT: usize = 64;

impl RedisStore {
    /// Load a family by the hex of its id.
    pub(crate) async fn load_hex(
        &self,
        id_hex: &str,
    ) -> Result<Option<FamilyRecord>, RedisStoreError> {
        let id = unhex16(id_hex).ok_or(RedisStoreError::Corrupt("a family id"))?;
        let key = self.keys.family_hex(id_hex);
        let h: HashMap<String, Vec<u8>> = match self.durability {
            Durability::Primary => {
                let mut conn = self.conn.clone();
                conn.hgetall(&key).await?
            }
            Durability::WaitForReplica { .. } => {
                // What this read returns must be on a replica before anyone acts on it.
                let (h, replication) = self
                    .write(&Write::script(&LOAD_FAMILY_REPLICATED, &key))
                    .await?;
                replication.required()?;
                h
            }
        };
        record::family(FamilyId::from_bytes(id), h)
    }

    /// Index an expiring entry (`kind` + hex id) in its bucket.
    pub(crate) async fn index(
        &self,
        kind: char,
        id: &[u8],
        expires_at: i64,
    ) -> Result<(), RedisStoreError> {
        let mut conn = self.conn.clone();
        let member = format!("{kind}{}", hex(id));
        // `LT`: an entry keeps the earliest expiry indexed for it (a refused insert with a
        // later one must not hide it from the sweep); the sweep re-checks the record and
        // re-indexes it at its real expiry.
        let _: i64 = redis::cmd("ZADD")
            .arg(self.keys.bucket(bucket_of(id)))
            .arg("LT")
            .arg(expires_at as f64)
            .arg(member)
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    /// The ids (hex) in `subject`'s index.
    async fn indexed(&self, subject: &str) -> Result<Vec<String>, RedisStoreError> {
        let mut conn = self.conn.clone();
        Ok(conn.hkeys(self.keys.subject(subject)).await?)
    }
}

impl TokenStore for RedisStore {
    type Error = RedisStoreError;

    async fn create_family(&self, record: &FamilyRecord) -> Result<InsertOutcome, RedisStoreError> {
        let (fields, _) = record::fields(record)?;
        let id = record.id.as_bytes();
        let key = self.keys.family(id);
        // The index entries first: a family that exists is always in its subject's index,
        // so `revoke_subject` reaches it (see the crate docs).
        let mut conn = self.conn.clone();
        let sadd = async move {
            let _: i64 = conn
                .hset(self.keys.subject(&record.subject), hex(id), "")
                .await?;
            Ok::<_, RedisStoreError>(())
        };
        futures_util::try_join!(sadd, self.index('f', id, record.absolute_expires_at))?;
        let mut write = Write::script(&CREATE_FAMILY, &key);
        for (name, value) in &fields {
            write.arg(*name).arg(value.as_slice());
        }
        let (inserted, replication): (i64, _) = self.write(&write).await?;
        if inserted == 0 {
            return Ok(InsertOutcome::Exists);
        }
        replication.required()?;
        Ok(InsertOutcome::Inserted)
    }

    async fn load_family(&self, id: &FamilyId) -> Result<Option<FamilyRecord>, RedisStoreError> {
        self.load_hex(&hex(id.as_bytes())).await
    }

    async fn compare_and_swap_family(
        &self,
        expected_version: u64,
        record: &FamilyRecord,
    ) -> Result<CasOutcome, RedisStoreError> {
        let (fields, absent) = record::fields(record)?;
        let key = self.keys.family(record.id.as_bytes());
        let mut write = Write::script(&SWAP_FAMILY, &key);
        write
            .arg(expected_version.to_string())
            .arg(record.absolute_expires_at.to_string())
            .arg(record.subject.as_bytes())
            .arg(fields.len() * 2);
        for (name, value) in &fields {
            write.arg(*name).arg(value.as_slice());
        }
        for name in absent {
            write.arg(name);
        }
        let ((flags, old_subject), replication): ((i64, Vec<u8>), _) = self.write(&write).await?;
        if flags == 0 {
            return Ok(CasOutcome::Conflict);
        }
        replication.required()?;
        // The engine changes neither the expiry nor the subject; the contract allows both.
        if flags & 2 != 0 {
            self.index('f', record.id.as_bytes(), record.absolute_expires_at)
                .await?;
        }
        if flags & 4 != 0 {
            let id = hex(record.id.as_bytes());
            let mut conn = self.conn.clone();
            let _: i64 = conn
                .hset(self.keys.subject(&record.subject), &id, "")
                .await?;
            if let Ok(old) = std::str::from_utf8(&old_subject) {
                let _: i64 = conn.hdel(self.keys.subject(old), &id).await?;
            }
        }
        Ok(CasOutcome::Swapped)
    }

    async fn list_families(&self, subject: &str) -> Result<Vec<FamilyRecord>, RedisStoreError> {
        let ids = self.indexed(subject).await?;
        let loaded: Vec<Option<FamilyRecord>> = stream::iter(ids)
            .map(|id| async move { self.load_hex(&id).await })
            .buffer_unordered(FAN_OUT)
            .try_collect()
            .await?;
        Ok(loaded
            .into_iter()
            .flatten()
            .filter(|f| *f.subject == *subject)
            .collect())
    }

    async fn revoke_subject(
        &self,
        subject: &str,
        reason: RevocationReason,
        at: i64,
        operation: OperationId,
    ) -> Result<u64, RedisStoreError> {
        let state = record::state(&FamilyState::Revoked {
            reason,
            at,
            operation,
        })?;
        let ids = self.indexed(subject).await?;
        let state = &state;
        let revoked: Vec<i64> = stream::iter(ids)
            .map(|id| async move {
                let key = self.keys.family_hex(&id);
                let mut write = Write::script(&REVOKE_FAMILY, &key);
                write.arg(subject).arg(state.as_slice());
                let (n, replication): (i64, _) = self.write(&write).await?;
                if n == 1 {
                    replication.required()?;
                }
                Ok::<_, RedisStoreError>(n)
            })
            .buffer_unordered(FAN_OUT)
            .try_collect()
            .await?;
        Ok(revoked.iter().map(|&n| u64::from(n == 1)).sum())
    }

    async fn load_policy(
        &self,
        tenant: Option<&str>,
    ) -> Result<Option<PolicyVersion>, RedisStoreError> {
        let mut conn = self.conn.clone();
        let v: Option<String> = conn.get(self.keys.policy(tenant)).await?;
        v.map(|v| {
            let (major, minor) = v
                .split_once('.')
                .ok_or(RedisStoreError::Corrupt("a policy version"))?;
            match (major.parse(), minor.parse()) {
                (Ok(major), Ok(minor)) => Ok(PolicyVersion::new(major, minor)),
                _ => Err(RedisStoreError::Corrupt("a policy version")),
            }
        })
        .transpose()
    }

    async fn save_policy(
        &self,
        tenant: Option<&str>,
        version: Option<PolicyVersion>,
    ) -> Result<(), RedisStoreError> {
        let key = self.keys.policy(tenant);
        let mut cmd = match version {
            Some(_) => redis::cmd("SET"),
            None => redis::cmd("DEL"),
        };
        cmd.arg(&key);
        if let Some(v) = version {
            cmd.arg(format!("{}.{}", v.major, v.minor));
        }
        let (_, replication): (Value, _) = self.write(&Write::command(cmd, &key)).await?;
        replication.required()
    }

    async fn delete_expired(&self, now: i64) -> Result<u64, RedisStoreError> {
        let swept =
            try_join_all((0..crate::keys::BUCKETS).map(|b| self.sweep_bucket(b, now))).await?;
        Ok(swept.iter().sum())
    }
}
