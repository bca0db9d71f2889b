//! Key layout and value encodings. Every key starts with the store's namespace; the part
//! in braces is the hash tag, so everything one atomic script touches is in one slot.
//!
//! | key | type | holds |
//! |---|---|---|
//! | `NS:f:{ID}` | hash | a family: one short field per record field (`u` subject, `v` version, `s` state, ...; see `record.rs`) |
//! | `NS:s:{H}` | hash | the subject index: the ids (hex, as fields with empty values: a compact listpack) of the families whose subject hashes to `H` (first 16 bytes of SHA-256, hex) |
//! | `NS:x:{N}` | sorted set | the expiry index, 16 buckets: members `f`/`c`/`d`/`r` + hex id, scored by expiry |
//! | `NS:c:{K}` | string | a one-time code (JSON), with a TTL |
//! | `NS:d:{K}` | hash | a device record: `r` the record (JSON), `v` version, with a TTL |
//! | `NS:u:{H}` | string | a user-code claim: the hex key of the device record holding that user code, with a TTL |
//! | `NS:r:{K}` | string | a replay id: its expiry (order-preserving decimal), with a TTL |
//! | `NS:k:{H}` | string | a registered client (JSON), no TTL; `H` hashes the client id and reads compare the stored id byte for byte |
//! | `NS:p:g`, `NS:p:t:HEX` | string | the global / a tenant's policy version, `major.minor` |
//!
//! `ID` and `K` are the family id and the 32-byte keys in hex; `H` hashes a subject or a user
//! code, so any string (braces, any length, any Unicode) gives a short, valid tag. Reads
//! compare the stored subject or user code byte for byte, so a hash collision could never
//! mix two subjects.

use sha2::{Digest, Sha256};

use crate::RedisStoreError;

/// Buckets of the expiry index (spread over the slots so that no single primary takes every
/// insert's index write).
pub(crate) const BUCKETS: u8 = 16;

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        for nibble in [b >> 4, b & 15] {
            s.push(char::from_digit(u32::from(nibble), 16).unwrap_or('0'));
        }
    }
    s
}

/// Parse the lower-case hex of 16 bytes (a family id).
pub(crate) fn unhex16(s: &str) -> Option<[u8; 16]> {
    let s = s.as_bytes();
    if s.len() != 32 {
        return None;
    }
    let digit = |c: u8| {
        char::from(c)
            .to_digit(16)
            .filter(|_| !c.is_ascii_uppercase())
    };
    let mut out = [0u8; 16];
    for (o, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
        let (hi, lo) = (digit(*pair.first()?)?, digit(*pair.get(1)?)?);
        *o = u8::try_from(hi * 16 + lo).ok()?;
    }
    Some(out)
}

/// The first 16 bytes of SHA-256 of `s`, hex: a hash tag for any string.
pub(crate) fn tag_of(s: &str) -> String {
    let digest = Sha256::digest(s.as_bytes());
    hex(digest.get(..16).unwrap_or_default())
}

/// An `i64` as 20 decimal digits that sort (byte-wise, and under any collation) as the
/// numbers do: the value with its sign bit flipped, as a `u64`, zero-padded.
pub(crate) fn sortable(x: i64) -> String {
    format!("{:020}", (x as u64) ^ (1 << 63))
}

/// The inverse of [`sortable`].
pub(crate) fn from_sortable(s: &str) -> Option<i64> {
    if s.len() != 20 {
        return None;
    }
    s.parse::<u64>().ok().map(|u| (u ^ (1 << 63)) as i64)
}

/// A TTL for a record that expires at `expires_at` (Unix seconds): `margin` later, as Unix
/// milliseconds for `PEXPIREAT`, or `0` (no TTL) if that is past what Redis accepts.
pub(crate) fn pxat(expires_at: i64, margin_secs: i64) -> i64 {
    // Redis refuses expiries whose milliseconds overflow; year 9999 is plenty.
    const MAX_SECS: i64 = 253_402_300_799;
    match expires_at.checked_add(margin_secs) {
        Some(t) if t > 0 && t <= MAX_SECS => t * 1000,
        _ => 0,
    }
}

/// Key builders for one namespace.
#[derive(Clone, Debug)]
pub(crate) struct Keys {
    ns: String,
}

impl Keys {
    pub(crate) fn new(ns: &str) -> Result<Self, RedisStoreError> {
        if ns.is_empty()
            || ns.len() > 64
            || !ns
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_:.".contains(&b))
        {
            return Err(RedisStoreError::Config(
                "the namespace must be 1 to 64 characters of [A-Za-z0-9-_:.]",
            ));
        }
        Ok(Self { ns: ns.to_owned() })
    }

    pub(crate) fn namespace(&self) -> &str {
        &self.ns
    }

    pub(crate) fn family(&self, id: &[u8; 16]) -> String {
        format!("{}:f:{{{}}}", self.ns, hex(id))
    }
    pub(crate) fn family_hex(&self, id_hex: &str) -> String {
        format!("{}:f:{{{id_hex}}}", self.ns)
    }
    pub(crate) fn subject(&self, subject: &str) -> String {
        format!("{}:s:{{{}}}", self.ns, tag_of(subject))
    }
    pub(crate) fn bucket(&self, n: u8) -> String {
        format!("{}:x:{{{n}}}", self.ns)
    }
    pub(crate) fn code(&self, key_hex: &str) -> String {
        format!("{}:c:{{{key_hex}}}", self.ns)
    }
    pub(crate) fn device(&self, key_hex: &str) -> String {
        format!("{}:d:{{{key_hex}}}", self.ns)
    }
    pub(crate) fn user_code(&self, user_code: &str) -> String {
        format!("{}:u:{{{}}}", self.ns, tag_of(user_code))
    }
    pub(crate) fn client(&self, client_id: &str) -> String {
        format!("{}:k:{{{}}}", self.ns, tag_of(client_id))
    }
    pub(crate) fn replay(&self, key_hex: &str) -> String {
        format!("{}:r:{{{key_hex}}}", self.ns)
    }
    pub(crate) fn policy(&self, tenant: Option<&str>) -> String {
        match tenant {
            None => format!("{}:p:g", self.ns),
            Some(t) => format!("{}:p:t:{}", self.ns, hex(t.as_bytes())),
        }
    }
}

/// The expiry-index bucket of an id or key: its first byte.
pub(crate) fn bucket_of(bytes: &[u8]) -> u8 {
    bytes.first().copied().unwrap_or(0) % BUCKETS
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sortable_orders_and_round_trips() {
        let xs = [i64::MIN, -5, -1, 0, 1, 1_800_000_000, i64::MAX];
        for w in xs.windows(2) {
            assert!(sortable(w[0]) < sortable(w[1]), "{w:?}");
        }
        for x in xs {
            assert_eq!(from_sortable(&sortable(x)), Some(x));
        }
    }

    #[test]
    fn hex_is_lower_case_two_digits_a_byte() {
        assert_eq!(hex(&[0, 1, 0x7f, 0x80, 0xff]), "00017f80ff");
        let id = [0xa5, 0, 0xff, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0x80];
        assert_eq!(unhex16(&hex(&id)), Some(id));
        assert_eq!(unhex16(&hex(&id).to_uppercase()), None);
        assert_eq!(unhex16("zz"), None);
    }

    #[test]
    fn namespaces_cannot_break_the_hash_tag() {
        assert!(Keys::new("te").is_ok());
        assert!(Keys::new("te{x}").is_err());
        assert!(Keys::new("").is_err());
    }
}
