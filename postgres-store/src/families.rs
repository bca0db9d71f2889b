//! [`TokenStore`]: families, policy versions and sweeping. One statement per method.

use token_engine::store::OperationId;
use token_engine::store::{CasOutcome, FamilyRecord, InsertOutcome, TokenStore};
use token_engine::{FamilyId, PolicyVersion, RevocationReason};

use crate::convert::{
    FamilyParams, enum_name, family_from_row, policy_from_row, policy_level, u64_to_sql,
};
use crate::sql::{
    CREATE_FAMILY, DELETE_EXPIRED, DELETE_POLICY, LIST_FAMILIES, LOAD_FAMILY, LOAD_POLICY,
    REVOKE_SUBJECT, SAVE_POLICY, SWAP_FAMILY,
};
use crate::{PgStore, PgStoreError};

impl TokenStore for PgStore {
    type Error = PgStoreError;

    async fn create_family(&self, record: &FamilyRecord) -> Result<InsertOutcome, PgStoreError> {
        let p = FamilyParams::new(record)?;
        let client = self.client().await?;
        let stmt = client.prepare_cached(CREATE_FAMILY).await?;
        Ok(inserted(client.execute(&stmt, &p.as_params()).await?))
    }

    async fn load_family(&self, id: &FamilyId) -> Result<Option<FamilyRecord>, PgStoreError> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(LOAD_FAMILY).await?;
        let row = client.query_opt(&stmt, &[&&id.as_bytes()[..]]).await?;
        row.as_ref().map(family_from_row).transpose()
    }

    async fn compare_and_swap_family(
        &self,
        expected_version: u64,
        record: &FamilyRecord,
    ) -> Result<CasOutcome, PgStoreError> {
        let p = FamilyParams::new(record)?;
        let expected = u64_to_sql(expected_version);
        let mut params = Vec::with_capacity(29);
        params.extend_from_slice(&p.as_params());
        params.push(&expected);
        let client = self.client().await?;
        let stmt = client.prepare_cached(SWAP_FAMILY).await?;
        Ok(match client.execute(&stmt, &params).await? {
            0 => CasOutcome::Conflict,
            _ => CasOutcome::Swapped,
        })
    }

    async fn list_families(&self, subject: &str) -> Result<Vec<FamilyRecord>, PgStoreError> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(LIST_FAMILIES).await?;
        let rows = client.query(&stmt, &[&subject.as_bytes()]).await?;
        rows.iter().map(family_from_row).collect()
    }

    async fn revoke_subject(
        &self,
        subject: &str,
        reason: RevocationReason,
        at: i64,
        operation: OperationId,
    ) -> Result<u64, PgStoreError> {
        let reason = enum_name(&reason)?;
        let client = self.client().await?;
        let stmt = client.prepare_cached(REVOKE_SUBJECT).await?;
        Ok(client
            .execute(
                &stmt,
                &[&subject.as_bytes(), &reason, &at, &&operation.0[..]],
            )
            .await?)
    }

    async fn load_policy(
        &self,
        tenant: Option<&str>,
    ) -> Result<Option<PolicyVersion>, PgStoreError> {
        let (is_global, tenant) = policy_level(tenant);
        let client = self.client().await?;
        let stmt = client.prepare_cached(LOAD_POLICY).await?;
        let row = client.query_opt(&stmt, &[&is_global, &tenant]).await?;
        row.as_ref().map(policy_from_row).transpose()
    }

    async fn save_policy(
        &self,
        tenant: Option<&str>,
        version: Option<PolicyVersion>,
    ) -> Result<(), PgStoreError> {
        let (is_global, tenant) = policy_level(tenant);
        let client = self.client().await?;
        match version {
            Some(v) => {
                let stmt = client.prepare_cached(SAVE_POLICY).await?;
                let (major, minor) = (i64::from(v.major), i64::from(v.minor));
                client
                    .execute(&stmt, &[&is_global, &tenant, &major, &minor])
                    .await?;
            }
            None => {
                let stmt = client.prepare_cached(DELETE_POLICY).await?;
                client.execute(&stmt, &[&is_global, &tenant]).await?;
            }
        }
        Ok(())
    }

    async fn delete_expired(&self, now: i64) -> Result<u64, PgStoreError> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(DELETE_EXPIRED).await?;
        // Limiter rows of windows before the current one are over.
        let window = crate::limiter::window(now);
        let n: i64 = client
            .query_one(&stmt, &[&now, &window])
            .await?
            .try_get(0)?;
        u64::try_from(n).map_err(|_| PgStoreError::Corrupt("a negative count"))
    }
}

/// Rows affected by an `INSERT ... ON CONFLICT DO NOTHING`: 0 means the key was taken.
pub(crate) fn inserted(rows: u64) -> InsertOutcome {
    match rows {
        0 => InsertOutcome::Exists,
        _ => InsertOutcome::Inserted,
    }
}
