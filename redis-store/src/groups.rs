//! The capability groups: one-time codes, device records, replay ids.

use redis::AsyncCommands;
use token_engine::store::{
    CasOutcome, ClientRecord, ClientStore, CodeRecord, CodeStore, DeviceRecord, DeviceStore,
    InsertOutcome, ReplayStore,
};

use crate::keys::{hex, pxat, sortable};
use crate::scripts::{
    DELETE_IF_EQUAL, INSERT_DEVICE, INSERT_REPLAY, INSERT_STRING, SWAP_DEVICE, TAKE,
};
use crate::{RedisStore, RedisStoreError, Write};

fn json<T: serde::Serialize>(v: &T) -> Result<String, RedisStoreError> {
    serde_json::to_string(v)
        .map_err(|_| RedisStoreError::Corrupt("a record that does not serialize"))
}

fn inserted(n: i64) -> InsertOutcome {
    if n == 1 {
        InsertOutcome::Inserted
    } else {
        InsertOutcome::Exists
    }
}

impl RedisStore {
    /// A device record by the hex of its key.
    pub(crate) async fn load_device_hex(
        &self,
        key_hex: &str,
    ) -> Result<Option<DeviceRecord>, RedisStoreError> {
        let mut conn = self.conn.clone();
        let raw: Option<Vec<u8>> = conn.hget(self.keys.device(key_hex), "r").await?;
        raw.map(|r| {
            serde_json::from_slice(&r).map_err(|_| RedisStoreError::Corrupt("a device record"))
        })
        .transpose()
    }
}

impl CodeStore for RedisStore {
    async fn insert_code(&self, code: &CodeRecord) -> Result<InsertOutcome, RedisStoreError> {
        let key = self.keys.code(&hex(&code.key));
        let mut write = Write::script(&INSERT_STRING, &key);
        write
            .arg(json(code)?)
            .arg(pxat(code.expires_at, self.ttl_margin));
        let ((n, replication), ()) = futures_util::try_join!(
            self.write::<i64>(&write),
            self.index('c', &code.key, code.expires_at)
        )?;
        if n == 1 {
            replication.required()?;
        }
        Ok(inserted(n))
    }

    async fn take_code(&self, key: &[u8; 32]) -> Result<Option<CodeRecord>, RedisStoreError> {
        let k = self.keys.code(&hex(key));
        let (raw, replication): (Option<Vec<u8>>, _) =
            self.write(&Write::script(&TAKE, &k)).await?;
        let Some(raw) = raw else { return Ok(None) };
        replication.required()?;
        serde_json::from_slice(&raw)
            .map(Some)
            .map_err(|_| RedisStoreError::Corrupt("a code record"))
    }
}

impl DeviceStore for RedisStore {
    async fn insert_device(&self, record: &DeviceRecord) -> Result<InsertOutcome, RedisStoreError> {
        let key_hex = hex(&record.key);
        let claim = self.keys.user_code(&record.user_code);
        let key = self.keys.device(&key_hex);
        let ttl = pxat(record.expires_at, self.ttl_margin);
        // Claim the user code first (insert-if-absent in its own slot), then insert the
        // record in its slot; a refused record releases the claim.
        let mut inv = INSERT_STRING.key(&claim);
        inv.arg(&key_hex).arg(ttl);
        let (claimed, ()) = futures_util::try_join!(
            self.script::<i64>(&inv),
            self.index('d', &record.key, record.expires_at)
        )?;
        if claimed == 0 {
            return Ok(InsertOutcome::Exists);
        }
        let mut write = Write::script(&INSERT_DEVICE, &key);
        write
            .arg(json(record)?)
            .arg(record.version.to_string())
            .arg(ttl);
        let (n, replication): (i64, _) = self.write(&write).await?;
        if n == 0 {
            let mut release = DELETE_IF_EQUAL.key(&claim);
            release.arg(&key_hex);
            let _: i64 = self.script(&release).await?;
            return Ok(InsertOutcome::Exists);
        }
        replication.required()?;
        Ok(InsertOutcome::Inserted)
    }

    async fn load_device(&self, key: &[u8; 32]) -> Result<Option<DeviceRecord>, RedisStoreError> {
        self.load_device_hex(&hex(key)).await
    }

    async fn load_device_by_user_code(
        &self,
        user_code: &str,
    ) -> Result<Option<DeviceRecord>, RedisStoreError> {
        let mut conn = self.conn.clone();
        let key_hex: Option<String> = conn.get(self.keys.user_code(user_code)).await?;
        let Some(key_hex) = key_hex else {
            return Ok(None);
        };
        Ok(self
            .load_device_hex(&key_hex)
            .await?
            .filter(|d| d.user_code == user_code))
    }

    async fn compare_and_swap_device(
        &self,
        expected_version: u64,
        record: &DeviceRecord,
    ) -> Result<CasOutcome, RedisStoreError> {
        let key = self.keys.device(&hex(&record.key));
        let mut write = Write::script(&SWAP_DEVICE, &key);
        write
            .arg(expected_version.to_string())
            .arg(json(record)?)
            .arg(record.version.to_string())
            .arg(pxat(record.expires_at, self.ttl_margin));
        let (n, replication): (i64, _) = self.write(&write).await?;
        if n == 0 {
            return Ok(CasOutcome::Conflict);
        }
        replication.required()?;
        Ok(CasOutcome::Swapped)
    }
}

impl ReplayStore for RedisStore {
    async fn insert_replay_id(
        &self,
        id: &[u8; 32],
        expires_at: i64,
        now: i64,
    ) -> Result<InsertOutcome, RedisStoreError> {
        let key = self.keys.replay(&hex(id));
        let mut write = Write::script(&INSERT_REPLAY, &key);
        write
            .arg(sortable(expires_at))
            .arg(sortable(now))
            .arg(pxat(expires_at, self.ttl_margin));
        let ((n, replication), ()) =
            futures_util::try_join!(self.write::<i64>(&write), self.index('r', id, expires_at))?;
        if n == 1 {
            replication.required()?;
        }
        Ok(inserted(n))
    }
}

/// A registered client lives under the hash of its id; two ids with one hash (a SHA-256
/// collision) would make the second registration `Exists`, never a mix-up: reads compare the
/// stored id.
impl ClientStore for RedisStore {
    async fn insert_client(&self, record: &ClientRecord) -> Result<InsertOutcome, RedisStoreError> {
        let key = self.keys.client(&record.client_id);
        let mut write = Write::script(&INSERT_STRING, &key);
        write.arg(json(record)?).arg(0);
        let (n, replication) = self.write::<i64>(&write).await?;
        if n == 1 {
            replication.required()?;
        }
        Ok(inserted(n))
    }

    async fn load_client(&self, client_id: &str) -> Result<Option<ClientRecord>, RedisStoreError> {
        let mut conn = self.conn.clone();
        let raw: Option<Vec<u8>> = conn.get(self.keys.client(client_id)).await?;
        let Some(raw) = raw else { return Ok(None) };
        let record: ClientRecord = serde_json::from_slice(&raw)
            .map_err(|_| RedisStoreError::Corrupt("a client record"))?;
        Ok((record.client_id == client_id).then_some(record))
    }
}
