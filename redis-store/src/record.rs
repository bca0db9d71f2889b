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
//! | `ao`, `rv`, `nb` | reference access tokens: access-only (`1`/`0`), the revoked ones (32 bytes each: id, `iat`, `exp` big-endian; empty for none), not-before (Unix seconds); absent in hashes written before them: `0`, none, `0` |
//! | `w` | empty; written by reads with `WAIT` (so that their `WAIT` covers what they read); ignored |

use std::collections::HashMap;
use std::str::FromStr;

use token_engine::store::{FamilyRecord, FamilyState, OperationId, RevokedAccessToken, SecretHash};
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
        (
            "ao",
            if r.access_only {
                b"1".to_vec()
            } else {
                b"0".to_vec()
            },
        ),
        ("rv", revoked_access(&r.revoked_access)),
        ("nb", num(r.access_not_before)),
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

/// The `rv` field: 32 bytes per revoked reference token (id, `iat`, `exp`, big-endian).
fn revoked_access(list: &[RevokedAccessToken]) -> Vec<u8> {
    let mut out = Vec::with_capacity(list.len() * 32);
    for r in list {
        out.extend_from_slice(&r.id);
        out.extend_from_slice(&r.iat.to_be_bytes());
        out.extend_from_slice(&r.exp.to_be_bytes());
    }
    out
}

fn parse_revoked_access(v: &[u8]) -> Result<Vec<RevokedAccessToken>, RedisStoreError> {
    const BAD: RedisStoreError = RedisStoreError::Corrupt("revoked access tokens");
    let (chunks, rest) = v.as_chunks::<32>();
    if !rest.is_empty() {
        return Err(BAD);
    }
    chunks
        .iter()
        .map(|c| {
            let (id, times) = c.split_first_chunk::<16>().ok_or(BAD)?;
            let (iat, exp) = times.split_first_chunk::<8>().ok_or(BAD)?;
            Ok(RevokedAccessToken {
                id: *id,
                iat: i64::from_be_bytes(*iat),
                exp: i64::from_be_bytes(exp.try_into().map_err(|_| BAD)?),
            })
        })
        .collect()
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
    fn text(v: Vec<u8>) -> Result<std::sync::Arc<str>, RedisStoreError> {
        std::str::from_utf8(&v)
            .map(Into::into)
            .map_err(|_| RedisStoreError::Corrupt("a family string"))
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
        access_only: false,
        revoked_access: Box::default(),
        access_not_before: 0,
    };
    if let Some(v) = h.remove("ao") {
        record.access_only = match v.as_slice() {
            b"1" => true,
            b"0" => false,
            _ => return Err(RedisStoreError::Corrupt("access-only flag")),
        };
    }
    if let Some(v) = h.remove("rv") {
        record.revoked_access = parse_revoked_access(&v)?.into();
    }
    if let Some(v) = h.remove("nb") {
        record.access_not_before = number(v)?;
    }
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

    #[test]
    fn reference_token_fields_round_trip_and_default_in_older_hashes() {
        let list = vec![
            RevokedAccessToken {
                id: [b':'; 16],
                iat: i64::MIN,
                exp: i64::MAX,
            },
            RevokedAccessToken {
                id: [0; 16],
                iat: -1,
                exp: 0,
            },
        ];
        assert_eq!(parse_revoked_access(&revoked_access(&list)).unwrap(), list);
        assert_eq!(parse_revoked_access(b"").unwrap(), Vec::new());
        assert!(parse_revoked_access(&[0; 33]).is_err());
        let record = FamilyRecord {
            id: FamilyId::from_bytes([1; 16]),
            subject: "s".into(),
            client_id: "c".into(),
            scope: "read".into(),
            tenant: None,
            device_id: None,
            dpop_jkt: None,
            cert_thumbprint: None,
            claims: None,
            resources: Some("https://r.example".into()),
            acr: None,
            auth_time: 1,
            created_at: 1,
            absolute_expires_at: 2,
            last_used_at: 1,
            policy: PolicyVersion::new(1, 0),
            generation: 0,
            key_id: 0,
            current_secret_hash: SecretHash([0; 32]),
            rotated_at: 0,
            state: FamilyState::Active,
            version: 0,
            access_only: true,
            revoked_access: list.into(),
            access_not_before: 7,
        };
        let hash = |r: &FamilyRecord, skip: &[&str]| -> HashMap<String, Vec<u8>> {
            let (f, _) = fields(r).unwrap();
            f.into_iter()
                .filter(|(n, _)| !skip.contains(n))
                .map(|(n, v)| (n.to_owned(), v))
                .collect()
        };
        assert_eq!(
            family(record.id, hash(&record, &[])).unwrap(),
            Some(record.clone())
        );
        // A hash written before these fields existed reads as a session with nothing revoked.
        let old = family(record.id, hash(&record, &["ao", "rv", "nb"]))
            .unwrap()
            .unwrap();
        assert!(!old.access_only && old.revoked_access.is_empty() && old.access_not_before == 0);
        let mut bad = hash(&record, &[]);
        bad.insert("ao".into(), b"yes".to_vec());
        assert!(family(record.id, bad).is_err());
    }
}
