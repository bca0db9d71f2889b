//! Rust values to SQL parameters and rows back to records, exactly.
//!
//! SQL integers are signed. A `u64` goes into `BIGINT` as the same 64 bits (a bit cast, so
//! `u64::MAX` is stored as -1 and every value comes back); a `u32` goes into `BIGINT` as its
//! value; a `u8` into `SMALLINT`. Reading checks ranges and lengths and refuses a value the
//! type cannot hold ([`PgStoreError::Corrupt`]) instead of truncating it.
//!
//! The record types are destructured and built field by field, without `..`: when a later
//! version of token-engine adds a field, this file stops compiling until the schema stores it.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use token_engine::store::{
    DeviceRecord, FamilyRecord, FamilyState, OperationId, RevokedAccessToken, SecretHash,
};
use token_engine::{FamilyId, PolicyVersion, RevocationReason};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use crate::PgStoreError;

/// `u64` → `BIGINT`, the same 64 bits.
pub(crate) fn u64_to_sql(v: u64) -> i64 {
    i64::from_be_bytes(v.to_be_bytes())
}

/// `BIGINT` → `u64`, the same 64 bits.
pub(crate) fn u64_from_sql(v: i64) -> u64 {
    u64::from_be_bytes(v.to_be_bytes())
}

fn u32_from_sql(v: i64, what: &'static str) -> Result<u32, PgStoreError> {
    u32::try_from(v).map_err(|_| PgStoreError::Corrupt(what))
}

fn array<const N: usize>(bytes: &[u8], what: &'static str) -> Result<[u8; N], PgStoreError> {
    bytes.try_into().map_err(|_| PgStoreError::Corrupt(what))
}

fn utf8<'r>(bytes: &'r [u8], what: &'static str) -> Result<&'r str, PgStoreError> {
    std::str::from_utf8(bytes).map_err(|_| PgStoreError::Corrupt(what))
}

/// An enum's serde name (`DeviceState::Pending` → `"Pending"`): readable in
/// psql, and a variant added in a later version of token-engine stores without a change here.
pub(crate) fn enum_name<T: Serialize>(v: &T) -> Result<String, PgStoreError> {
    match serde_json::to_value(v) {
        Ok(Value::String(s)) => Ok(s),
        _ => Err(PgStoreError::Corrupt(
            "an enum value without a plain serde name",
        )),
    }
}

fn enum_from_name<T: DeserializeOwned>(name: &str, what: &'static str) -> Result<T, PgStoreError> {
    serde_json::from_value(Value::String(name.to_owned())).map_err(|_| PgStoreError::Corrupt(what))
}

/// The policy level's key: the global level is `(true, "")`, a tenant `(false, tenant)`.
pub(crate) fn policy_level(tenant: Option<&str>) -> (bool, &[u8]) {
    match tenant {
        None => (true, &[]),
        Some(t) => (false, t.as_bytes()),
    }
}

pub(crate) fn policy_from_row(row: &Row) -> Result<PolicyVersion, PgStoreError> {
    Ok(PolicyVersion::new(
        u32_from_sql(row.try_get(0)?, "policy major")?,
        u32_from_sql(row.try_get(1)?, "policy minor")?,
    ))
}

/// The revoked reference access tokens as the `revoked_access` column: 32 bytes each, id,
/// `iat` and `exp` (big-endian).
fn revoked_access_to_sql(list: &[RevokedAccessToken]) -> Vec<u8> {
    let mut out = Vec::with_capacity(list.len() * 32);
    for r in list {
        out.extend_from_slice(&r.id);
        out.extend_from_slice(&r.iat.to_be_bytes());
        out.extend_from_slice(&r.exp.to_be_bytes());
    }
    out
}

fn revoked_access_from_sql(bytes: &[u8]) -> Result<Vec<RevokedAccessToken>, PgStoreError> {
    let (chunks, rest) = bytes.as_chunks::<32>();
    if !rest.is_empty() {
        return Err(PgStoreError::Corrupt(
            "revoked_access is not 32-byte entries",
        ));
    }
    Ok(chunks
        .iter()
        .map(|c| {
            let (id, times) = c.split_at(16);
            let (iat, exp) = times.split_at(8);
            RevokedAccessToken {
                id: id.try_into().unwrap_or_default(),
                iat: i64::from_be_bytes(iat.try_into().unwrap_or_default()),
                exp: i64::from_be_bytes(exp.try_into().unwrap_or_default()),
            }
        })
        .collect())
}

/// A family as the 28 parameters `$1 ..= $28`, in column order.
pub(crate) struct FamilyParams<'a> {
    id: &'a [u8],
    subject: &'a [u8],
    client_id: &'a str,
    scope: &'a str,
    tenant: Option<&'a str>,
    device_id: Option<&'a str>,
    dpop_jkt: Option<&'a str>,
    cert_thumbprint: Option<&'a str>,
    claims: Option<&'a str>,
    auth_time: i64,
    created_at: i64,
    absolute_expires_at: i64,
    last_used_at: i64,
    policy_major: i64,
    policy_minor: i64,
    generation: i64,
    key_id: i16,
    current_secret_hash: &'a [u8],
    rotated_at: i64,
    revoked_reason: Option<String>,
    revoked_at: Option<i64>,
    revoked_operation: Option<&'a [u8]>,
    version: i64,
    resources: Option<&'a str>,
    acr: Option<&'a str>,
    access_only: bool,
    revoked_access: Vec<u8>,
    access_not_before: i64,
}

impl<'a> FamilyParams<'a> {
    pub(crate) fn new(r: &'a FamilyRecord) -> Result<Self, PgStoreError> {
        let FamilyRecord {
            id,
            subject,
            client_id,
            scope,
            tenant,
            device_id,
            dpop_jkt,
            cert_thumbprint,
            claims,
            resources,
            acr,
            auth_time,
            created_at,
            absolute_expires_at,
            last_used_at,
            policy,
            generation,
            key_id,
            current_secret_hash,
            rotated_at,
            state,
            version,
            access_only,
            revoked_access,
            access_not_before,
        } = r;
        let (revoked_reason, revoked_at, revoked_operation) = match state {
            FamilyState::Active => (None, None, None),
            FamilyState::Revoked {
                reason,
                at,
                operation,
            } => (
                Some(reason.as_str().to_owned()),
                Some(*at),
                Some(&operation.0[..]),
            ),
        };
        Ok(Self {
            id: &id.as_bytes()[..],
            subject: subject.as_bytes(),
            client_id,
            scope,
            tenant: tenant.as_deref(),
            device_id: device_id.as_deref(),
            dpop_jkt: dpop_jkt.as_deref(),
            cert_thumbprint: cert_thumbprint.as_deref(),
            claims: claims.as_deref(),
            auth_time: *auth_time,
            created_at: *created_at,
            absolute_expires_at: *absolute_expires_at,
            last_used_at: *last_used_at,
            policy_major: i64::from(policy.major),
            policy_minor: i64::from(policy.minor),
            generation: i64::from(*generation),
            key_id: i16::from(*key_id),
            current_secret_hash: &current_secret_hash.0[..],
            rotated_at: *rotated_at,
            revoked_reason,
            revoked_at,
            revoked_operation,
            version: u64_to_sql(*version),
            resources: resources.as_deref(),
            acr: acr.as_deref(),
            access_only: *access_only,
            revoked_access: revoked_access_to_sql(revoked_access),
            access_not_before: *access_not_before,
        })
    }

    pub(crate) fn as_params(&self) -> [&(dyn ToSql + Sync); 28] {
        [
            &self.id,
            &self.subject,
            &self.client_id,
            &self.scope,
            &self.tenant,
            &self.device_id,
            &self.dpop_jkt,
            &self.cert_thumbprint,
            &self.claims,
            &self.auth_time,
            &self.created_at,
            &self.absolute_expires_at,
            &self.last_used_at,
            &self.policy_major,
            &self.policy_minor,
            &self.generation,
            &self.key_id,
            &self.current_secret_hash,
            &self.rotated_at,
            &self.revoked_reason,
            &self.revoked_at,
            &self.revoked_operation,
            &self.version,
            &self.resources,
            &self.acr,
            &self.access_only,
            &self.revoked_access,
            &self.access_not_before,
        ]
    }
}

/// A row of the family columns (`sql::LOAD_FAMILY`) back to the record, every field checked.
pub(crate) fn family_from_row(row: &Row) -> Result<FamilyRecord, PgStoreError> {
    let state = match (
        row.try_get::<_, Option<&str>>(19)?,
        row.try_get::<_, Option<i64>>(20)?,
        row.try_get::<_, Option<&[u8]>>(21)?,
    ) {
        (None, None, None) => FamilyState::Active,
        (Some(reason), Some(at), Some(operation)) => FamilyState::Revoked {
            reason: RevocationReason::parse(reason)
                .ok_or(PgStoreError::Corrupt("unknown revocation reason"))?,
            at,
            operation: OperationId(array(operation, "operation id is not 16 bytes")?),
        },
        _ => return Err(PgStoreError::Corrupt("a partial revocation")),
    };
    Ok(FamilyRecord {
        id: FamilyId::from_bytes(array(row.try_get(0)?, "family id is not 16 bytes")?),
        // Read in place from the row and copied once into the record's shared strings.
        subject: utf8(row.try_get(1)?, "subject is not UTF-8")?.into(),
        client_id: row.try_get::<_, &str>(2)?.into(),
        scope: row.try_get::<_, &str>(3)?.into(),
        tenant: row.try_get::<_, Option<&str>>(4)?.map(Into::into),
        device_id: row.try_get::<_, Option<&str>>(5)?.map(Into::into),
        dpop_jkt: row.try_get::<_, Option<&str>>(6)?.map(Into::into),
        cert_thumbprint: row.try_get::<_, Option<&str>>(7)?.map(Into::into),
        claims: row.try_get::<_, Option<&str>>(8)?.map(Into::into),
        resources: row.try_get::<_, Option<&str>>(23)?.map(Into::into),
        acr: row.try_get::<_, Option<&str>>(24)?.map(Into::into),
        auth_time: row.try_get(9)?,
        created_at: row.try_get(10)?,
        absolute_expires_at: row.try_get(11)?,
        last_used_at: row.try_get(12)?,
        policy: PolicyVersion::new(
            u32_from_sql(row.try_get(13)?, "policy major")?,
            u32_from_sql(row.try_get(14)?, "policy minor")?,
        ),
        generation: u32_from_sql(row.try_get(15)?, "generation")?,
        key_id: u8::try_from(row.try_get::<_, i16>(16)?)
            .map_err(|_| PgStoreError::Corrupt("key id"))?,
        current_secret_hash: SecretHash(array(row.try_get(17)?, "secret hash is not 32 bytes")?),
        rotated_at: row.try_get(18)?,
        state,
        version: u64_from_sql(row.try_get(22)?),
        access_only: row.try_get(25)?,
        revoked_access: revoked_access_from_sql(row.try_get(26)?)?.into(),
        access_not_before: row.try_get(27)?,
    })
}

/// A device record as the 8 parameters `$1 ..= $8`, in column order.
pub(crate) struct DeviceParams<'a> {
    key: &'a [u8],
    user_code: &'a str,
    client_id: &'a str,
    expires_at: i64,
    last_polled_at: i64,
    state: String,
    payload: &'a [u8],
    version: i64,
}

impl<'a> DeviceParams<'a> {
    pub(crate) fn new(r: &'a DeviceRecord) -> Result<Self, PgStoreError> {
        let DeviceRecord {
            key,
            user_code,
            client_id,
            expires_at,
            last_polled_at,
            state,
            payload,
            version,
        } = r;
        Ok(Self {
            key: &key[..],
            user_code,
            client_id,
            expires_at: *expires_at,
            last_polled_at: *last_polled_at,
            state: enum_name(state)?,
            payload,
            version: u64_to_sql(*version),
        })
    }

    pub(crate) fn as_params(&self) -> [&(dyn ToSql + Sync); 8] {
        [
            &self.key,
            &self.user_code,
            &self.client_id,
            &self.expires_at,
            &self.last_polled_at,
            &self.state,
            &self.payload,
            &self.version,
        ]
    }
}

pub(crate) fn device_from_row(row: &Row) -> Result<DeviceRecord, PgStoreError> {
    Ok(DeviceRecord {
        key: array(row.try_get(0)?, "device key is not 32 bytes")?,
        user_code: row.try_get(1)?,
        client_id: row.try_get(2)?,
        expires_at: row.try_get(3)?,
        last_polled_at: row.try_get(4)?,
        state: enum_from_name(row.try_get(5)?, "unknown device state")?,
        payload: row.try_get(6)?,
        version: u64_from_sql(row.try_get(7)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use token_engine::store::DeviceState;

    #[test]
    fn versions_bit_cast_both_ways() {
        for v in [0, 1, 11, i64::MAX as u64, 1 << 63, u64::MAX - 1, u64::MAX] {
            assert_eq!(u64_from_sql(u64_to_sql(v)), v);
        }
        assert_eq!(u64_to_sql(u64::MAX), -1);
        assert_eq!(u64_to_sql(1 << 63), i64::MIN);
    }

    #[test]
    fn enum_names_round_trip() {
        let r = RevocationReason::BindingMismatch;
        assert_eq!(enum_name(&r).unwrap(), "BindingMismatch");
        assert_eq!(
            enum_from_name::<RevocationReason>("BindingMismatch", "x").unwrap(),
            r
        );
        assert_eq!(enum_name(&DeviceState::Consumed).unwrap(), "Consumed");
        assert!(enum_from_name::<DeviceState>("consumed", "x").is_err());
    }
}
