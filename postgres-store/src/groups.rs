//! The capability groups: [`CodeStore`], [`DeviceStore`], [`ReplayStore`], [`ClientStore`].
//! One statement per method.

use token_engine::store::{
    CasOutcome, ClientRecord, ClientStore, CodeRecord, CodeStore, DeviceRecord, DeviceStore,
    InsertOutcome, ReplayStore,
};

use crate::convert::{DeviceParams, device_from_row, u64_to_sql};
use crate::families::inserted;
use crate::sql::{
    INSERT_CLIENT, INSERT_CODE, INSERT_DEVICE, INSERT_REPLAY_ID, LOAD_CLIENT, LOAD_DEVICE,
    LOAD_DEVICE_BY_USER_CODE, SWAP_DEVICE, TAKE_CODE,
};
use crate::{PgStore, PgStoreError};

impl CodeStore for PgStore {
    async fn insert_code(&self, code: &CodeRecord) -> Result<InsertOutcome, PgStoreError> {
        let CodeRecord {
            key,
            client_id,
            expires_at,
            payload,
        } = code;
        let client = self.client().await?;
        let stmt = client.prepare_cached(INSERT_CODE).await?;
        let rows = client
            .execute(&stmt, &[&&key[..], client_id, expires_at, payload])
            .await?;
        Ok(inserted(rows))
    }

    async fn take_code(&self, key: &[u8; 32]) -> Result<Option<CodeRecord>, PgStoreError> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(TAKE_CODE).await?;
        let Some(row) = client.query_opt(&stmt, &[&&key[..]]).await? else {
            return Ok(None);
        };
        Ok(Some(CodeRecord {
            key: *key,
            client_id: row.try_get(0)?,
            expires_at: row.try_get(1)?,
            payload: row.try_get(2)?,
        }))
    }
}

impl DeviceStore for PgStore {
    async fn insert_device(&self, record: &DeviceRecord) -> Result<InsertOutcome, PgStoreError> {
        let p = DeviceParams::new(record)?;
        let client = self.client().await?;
        let stmt = client.prepare_cached(INSERT_DEVICE).await?;
        Ok(inserted(client.execute(&stmt, &p.as_params()).await?))
    }

    async fn load_device(&self, key: &[u8; 32]) -> Result<Option<DeviceRecord>, PgStoreError> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(LOAD_DEVICE).await?;
        let row = client.query_opt(&stmt, &[&&key[..]]).await?;
        row.as_ref().map(device_from_row).transpose()
    }

    async fn load_device_by_user_code(
        &self,
        user_code: &str,
    ) -> Result<Option<DeviceRecord>, PgStoreError> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(LOAD_DEVICE_BY_USER_CODE).await?;
        let row = client.query_opt(&stmt, &[&user_code]).await?;
        row.as_ref().map(device_from_row).transpose()
    }

    async fn compare_and_swap_device(
        &self,
        expected_version: u64,
        record: &DeviceRecord,
    ) -> Result<CasOutcome, PgStoreError> {
        let p = DeviceParams::new(record)?;
        let expected = u64_to_sql(expected_version);
        let mut params = Vec::with_capacity(9);
        params.extend_from_slice(&p.as_params());
        params.push(&expected);
        let client = self.client().await?;
        let stmt = client.prepare_cached(SWAP_DEVICE).await?;
        Ok(match client.execute(&stmt, &params).await? {
            0 => CasOutcome::Conflict,
            _ => CasOutcome::Swapped,
        })
    }
}

impl ReplayStore for PgStore {
    async fn insert_replay_id(
        &self,
        id: &[u8; 32],
        expires_at: i64,
        now: i64,
    ) -> Result<InsertOutcome, PgStoreError> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(INSERT_REPLAY_ID).await?;
        let rows = client
            .execute(&stmt, &[&&id[..], &expires_at, &now])
            .await?;
        Ok(inserted(rows))
    }
}

impl ClientStore for PgStore {
    async fn insert_client(&self, record: &ClientRecord) -> Result<InsertOutcome, PgStoreError> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(INSERT_CLIENT).await?;
        let rows = client
            .execute(
                &stmt,
                &[&record.client_id, &record.issued_at, &record.payload],
            )
            .await?;
        Ok(inserted(rows))
    }

    async fn load_client(&self, client_id: &str) -> Result<Option<ClientRecord>, PgStoreError> {
        let client = self.client().await?;
        let stmt = client.prepare_cached(LOAD_CLIENT).await?;
        let Some(row) = client.query_opt(&stmt, &[&client_id]).await? else {
            return Ok(None);
        };
        Ok(Some(ClientRecord {
            client_id: client_id.to_owned(),
            issued_at: row.try_get(0)?,
            payload: row.try_get(1)?,
        }))
    }
}
