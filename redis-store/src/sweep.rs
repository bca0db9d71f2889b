//! `delete_expired`: walk the expiry index up to `now`, delete what is expired (re-checked
//! exactly against the stored record, and only if it did not change meanwhile), re-index
//! what is not, drop the entries of records already gone.

use std::collections::HashSet;

use futures_util::stream::{self, StreamExt, TryStreamExt};
use redis::AsyncCommands;

use crate::families::FAN_OUT;
use crate::keys::from_sortable;
use crate::scripts::{DELETE_DEVICE_IF, DELETE_FAMILY_IF, DELETE_IF_EQUAL, UNINDEX_IF};
use crate::{RedisStore, RedisStoreError};

/// Index entries read per step.
const BATCH: isize = 256;

/// What became of one index entry.
enum Swept {
    /// Expired, and deleted by this call.
    Deleted,
    /// The record is gone (taken, swept, collected by its TTL, never written).
    Gone,
    /// Not expired at `now`: its real expiry.
    Live(i64),
    /// Expired, but it changed while the sweep looked: left for the next pass.
    Busy,
}

impl RedisStore {
    pub(crate) async fn sweep_bucket(&self, bucket: u8, now: i64) -> Result<u64, RedisStoreError> {
        let key = self.keys.bucket(bucket);
        let mut seen = HashSet::new();
        let mut deleted = 0;
        loop {
            let mut conn = self.conn.clone();
            let batch: Vec<(String, f64)> = conn
                .zrangebyscore_limit_withscores(&key, "-inf", now, 0, BATCH)
                .await?;
            let fresh: Vec<_> = batch
                .into_iter()
                .filter(|(m, _)| seen.insert(m.clone()))
                .collect();
            if fresh.is_empty() {
                return Ok(deleted);
            }
            let key = &key;
            let results: Vec<u64> = stream::iter(fresh)
                .map(|(member, score)| async move {
                    let outcome = self.sweep_one(&member, now).await?;
                    let mut conn = self.conn.clone();
                    match outcome {
                        Swept::Deleted | Swept::Gone => {
                            let mut inv = UNINDEX_IF.key(key);
                            inv.arg(&member).arg(score);
                            let _: i64 = self.script(&inv).await?;
                        }
                        Swept::Live(e) => {
                            let _: i64 = conn.zadd(key, &member, e as f64).await?;
                        }
                        Swept::Busy => {}
                    }
                    Ok::<_, RedisStoreError>(u64::from(matches!(outcome, Swept::Deleted)))
                })
                .buffer_unordered(FAN_OUT)
                .try_collect()
                .await?;
            deleted += results.iter().sum::<u64>();
        }
    }

    async fn sweep_one(&self, member: &str, now: i64) -> Result<Swept, RedisStoreError> {
        let (kind, id) = member.split_at_checked(1).unwrap_or(("", ""));
        let mut conn = self.conn.clone();
        match kind {
            "f" => {
                let Some(f) = self.load_hex(id).await? else {
                    return Ok(Swept::Gone);
                };
                if f.absolute_expires_at > now {
                    return Ok(Swept::Live(f.absolute_expires_at));
                }
                let mut inv = DELETE_FAMILY_IF.key(self.keys.family_hex(id));
                inv.arg(f.version.to_string());
                if self.script::<i64>(&inv).await? == 0 {
                    return Ok(Swept::Busy);
                }
                let _: i64 = conn.hdel(self.keys.subject(&f.subject), id).await?;
                Ok(Swept::Deleted)
            }
            "c" => {
                let key = self.keys.code(id);
                let raw: Option<Vec<u8>> = conn.get(&key).await?;
                let Some(raw) = raw else {
                    return Ok(Swept::Gone);
                };
                let code: token_engine::store::CodeRecord = serde_json::from_slice(&raw)
                    .map_err(|_| RedisStoreError::Corrupt("a code record"))?;
                if code.expires_at > now {
                    return Ok(Swept::Live(code.expires_at));
                }
                let mut inv = DELETE_IF_EQUAL.key(&key);
                inv.arg(raw);
                Ok(deleted_or_busy(self.script(&inv).await?))
            }
            "d" => {
                let key = self.keys.device(id);
                let Some(d) = self.load_device_hex(id).await? else {
                    return Ok(Swept::Gone);
                };
                if d.expires_at > now {
                    return Ok(Swept::Live(d.expires_at));
                }
                let mut inv = DELETE_DEVICE_IF.key(&key);
                inv.arg(d.version.to_string());
                if self.script::<i64>(&inv).await? == 0 {
                    return Ok(Swept::Busy);
                }
                let mut release = DELETE_IF_EQUAL.key(self.keys.user_code(&d.user_code));
                release.arg(id);
                let _: i64 = self.script(&release).await?;
                Ok(Swept::Deleted)
            }
            "r" => {
                let key = self.keys.replay(id);
                let raw: Option<String> = conn.get(&key).await?;
                let Some(raw) = raw else {
                    return Ok(Swept::Gone);
                };
                let expires_at =
                    from_sortable(&raw).ok_or(RedisStoreError::Corrupt("a replay id"))?;
                if expires_at > now {
                    return Ok(Swept::Live(expires_at));
                }
                let mut inv = DELETE_IF_EQUAL.key(&key);
                inv.arg(raw);
                Ok(deleted_or_busy(self.script(&inv).await?))
            }
            _ => Err(RedisStoreError::Corrupt("an expiry index entry")),
        }
    }
}

fn deleted_or_busy(n: i64) -> Swept {
    if n == 1 { Swept::Deleted } else { Swept::Busy }
}
