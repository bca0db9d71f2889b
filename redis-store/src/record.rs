//! A family as the fields of its hash: one field per record field, each short (under
//! Redis's 64-byte `hash-max-listpack-value` for usual values), so Redis keeps the hash as a
//! compact listpack. Integers are decimal, the secret hash 32 raw bytes, strings byte for
//! byte; an absent optional field is an absent hash field.
//!
//! | field | holds |
//! |---|---|
//! | `u` | subject |
//! | `c`, `sc` | client id, scope |
//! | `tn`, `dv`, `jk`, `x5`, `cl`, `rs`, `ac` | tenant, device id, DPoP `jkt`, certificate thumbprint, claims, resources, `acr` (absent: `None`) |
//! | `at`, `ca`, `ae`, `lu`, `ra` | auth time, created, absolute expiry, last used, rotated (Unix seconds) |
//! | `pM`, `pm` | policy major, minor |
//! | `g`, `k`, `h` | generation, key id, SHA-256 of the current secret (32 bytes) |
//! | `s` | state: empty when active; revoked: `reason:at:` and the 16-byte operation id |
//! | `v` | version (decimal `u64`: compared and incremented as a string by the scripts) |
//! | `w` | empty; written by reads with `WAIT` (so that their `WAIT` covers what they read); ignored |

use std::collections::HashMap;
use std::str::FromStr;

use token_engine::store::{FamilyRecord, FamilyState, OperationId, SecretHash};
use token_engine::{FamilyId, PolicyVersion, RevocationReason};

use crate::RedisStoreError;

/// The optional fields, in the order of [`fields`]' `absent` list.
const OPTIONAL: [&str; 7] = ["tn", "dv", "jk", "x5", "cl", "rs", "ac"];

/// A hash's fields: name and value.
pub(crate) type Fields = Vec<(&'static str, Vec<u8>)>;

/// The hash fields of `r` (every present field), and the optional fields it lacks (to be
/// deleted by a swap).
pub(crate) fn fields(r: &FamilyRecord) -> Result<(Fields, Vec<&'static str>), RedisStoreError> {
    let num = |n: i64| n.to_string().into_bytes();
    let mut out = vec![
        ("u", r.subject.as_bytes().to_vec()),
        ("c", r.client_id.as_bytes().to_vec()),
        ("sc", r.scope.as_bytes().to_vec()),
        ("at", num(r.auth_time)),
        ("ca", num(r.created_at)),
        ("ae", num(r.absolute_expires_at)),
        ("lu", num(r.last_used_at)),
        ("ra", num(r.rotated_at)),
        ("pM", r.policy.major.to_string().into_bytes()),
        ("pm", r.policy.minor.to_string().into_bytes()),
        ("g", r.generation.to_string().into_bytes()),
        ("k", r.key_id.to_string().into_bytes()),
        ("h", r.current_secret_hash.0.to_vec()),
        ("s", state(&r.state)?),
        ("v", r.version.to_string().into_bytes()),
    ];
    let mut absent = Vec::new();
    let optional = [
        &r.tenant,
        &r.device_id,
        &r.dpop_jkt,
        &r.cert_thumbprint,
        &r.claims,
        &r.resources,
        &r.acr,
    ];
    for (name, value) in OPTIONAL.into_iter().zip(optional) {
        match value {
            Some(v) => out.push((name, v.as_bytes().to_vec())),
            None => absent.push(name),
        }
    }
    Ok((out, absent))
}

/// The `s` field: empty when active, else `reason:at:` and the operation id's 16 bytes.
pub(crate) fn state(s: &FamilyState) -> Result<Vec<u8>, RedisStoreError> {
    match s {
        FamilyState::Active => Ok(Vec::new()),
        FamilyState::Revoked {
            reason,
            at,
            operation,
        } => {
            let name = serde_json::to_string(reason)
                .map_err(|_| RedisStoreError::Corrupt("a revocation reason"))?;
            let mut out = format!("{}:{at}:", name.trim_matches('"')).into_bytes();
            out.extend_from_slice(&operation.0);
            Ok(out)
        }
    }
}

fn parse_state(s: &[u8]) -> Result<FamilyState, RedisStoreError> {
    const BAD: RedisStoreError = RedisStoreError::Corrupt("a family state");
    if s.is_empty() {
        return Ok(FamilyState::Active);
    }
    let mut parts = s.splitn(3, |&b| b == b':');
    let (Some(name), Some(at), Some(op)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(BAD);
    };
    let name = std::str::from_utf8(name).map_err(|_| BAD)?;
    let reason: RevocationReason =
        serde_json::from_value(serde_json::Value::String(name.to_owned())).map_err(|_| BAD)?;
    let at = std::str::from_utf8(at)
        .ok()
        .and_then(|a| a.parse().ok())
        .ok_or(BAD)?;
    let operation = OperationId(op.try_into().map_err(|_| BAD)?);
    Ok(FamilyState::Revoked {
        reason,
        at,
        operation,
    })
}

/// A family from its hash (`HGETALL`) and its id, or `None` for no such key.
pub(crate) fn family(
    id: FamilyId,
    mut h: HashMap<String, Vec<u8>>,
) -> Result<Option<FamilyRecord>, RedisStoreError> {
    if h.is_empty() {
        return Ok(None);
    }
    let mut take = |name: &'static str| {
        h.remove(name)
            .ok_or(RedisStoreError::Corrupt("a family field is missing"))
    };
    fn text(v: Vec<u8>) -> Result<String, RedisStoreError> {
        String::from_utf8(v).map_err(|_| RedisStoreError::Corrupt("a family string"))
    }
    fn number<T: FromStr>(v: Vec<u8>) -> Result<T, RedisStoreError> {
        std::str::from_utf8(&v)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or(RedisStoreError::Corrupt("a family number"))
    }
    let mut record = FamilyRecord {
        id,
        subject: text(take("u")?)?,
        client_id: text(take("c")?)?,
        scope: text(take("sc")?)?,
        tenant: None,
        device_id: None,
        dpop_jkt: None,
        cert_thumbprint: None,
        claims: None,
        resources: None,
        acr: None,
        auth_time: number(take("at")?)?,
        created_at: number(take("ca")?)?,
        absolute_expires_at: number(take("ae")?)?,
        last_used_at: number(take("lu")?)?,
        policy: PolicyVersion::new(number(take("pM")?)?, number(take("pm")?)?),
        generation: number(take("g")?)?,
        key_id: number(take("k")?)?,
        current_secret_hash: SecretHash(
            take("h")?
                .try_into()
                .map_err(|_| RedisStoreError::Corrupt("a secret hash"))?,
        ),
        rotated_at: number(take("ra")?)?,
        state: parse_state(&take("s")?)?,
        version: number(take("v")?)?,
    };
    let optional = [
        &mut record.tenant,
        &mut record.device_id,
        &mut record.dpop_jkt,
        &mut record.cert_thumbprint,
        &mut record.claims,
        &mut record.resources,
        &mut record.acr,
    ];
    for (name, slot) in OPTIONAL.into_iter().zip(optional) {
        if let Some(v) = h.remove(name) {
            *slot = Some(text(v)?);
        }
    }
    Ok(Some(record))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn revoked_states_round_trip() {
        let s = FamilyState::Revoked {
            reason: RevocationReason::SignOutEverywhere,
            at: i64::MIN,
            operation: OperationId([b':'; 16]),
        };
        assert_eq!(parse_state(&state(&s).unwrap()).unwrap(), s);
        assert_eq!(parse_state(b"").unwrap(), FamilyState::Active);
        assert!(parse_state(b"Nonsense:1:0123456789abcdef").is_err());
    }
}
