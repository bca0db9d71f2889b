//! The few DER structures key import needs: SubjectPublicKeyInfo (RFC 5280) and RSAPublicKey
//! (RFC 8017 A.1.1). Definite, minimal lengths only; every read is bounds-checked.

use crate::error::KeyError;

const TAG_INTEGER: u8 = 0x02;
const TAG_BIT_STRING: u8 = 0x03;
const TAG_NULL: u8 = 0x05;
const TAG_OID: u8 = 0x06;
const TAG_SEQUENCE: u8 = 0x30;

/// rsaEncryption, 1.2.840.113549.1.1.1
const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
/// id-ecPublicKey, 1.2.840.10045.2.1
const OID_EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// prime256v1, 1.2.840.10045.3.1.7
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// secp384r1, 1.3.132.0.34
const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
/// secp521r1, 1.3.132.0.35 (P-521: `aws-lc-rs` only)
#[cfg(any(feature = "aws-lc-rs", feature = "fips"))]
const OID_P521: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x23];
/// id-Ed25519, 1.3.101.112
const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];

/// The public key inside a SubjectPublicKeyInfo.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SpkiKey<'a> {
    /// The DER `RSAPublicKey` inside the BIT STRING.
    Rsa(&'a [u8]),
    /// An uncompressed P-256 point.
    P256(&'a [u8]),
    /// An uncompressed P-384 point.
    P384(&'a [u8]),
    /// An uncompressed P-521 point.
    #[cfg(any(feature = "aws-lc-rs", feature = "fips"))]
    P521(&'a [u8]),
    /// A 32-byte Ed25519 public key.
    Ed25519(&'a [u8]),
}

/// Read one TLV with the expected tag from the front of `input`; return (value, rest).
fn read(input: &[u8], tag: u8) -> Result<(&[u8], &[u8]), KeyError> {
    let (&t, rest) = input.split_first().ok_or(KeyError::Der)?;
    if t != tag {
        return Err(KeyError::Der);
    }
    let (&first, mut rest) = rest.split_first().ok_or(KeyError::Der)?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let count = usize::from(first & 0x7f);
        // Lengths of up to 3 bytes (16 MiB) are plenty for keys; 0x80 is indefinite: rejected.
        if count == 0 || count > 3 {
            return Err(KeyError::Der);
        }
        let (bytes, after) = rest.split_at_checked(count).ok_or(KeyError::Der)?;
        rest = after;
        if bytes.first() == Some(&0) {
            return Err(KeyError::Der); // non-minimal
        }
        let len = bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        if len < 0x80 {
            return Err(KeyError::Der); // should have used the short form
        }
        len
    };
    rest.split_at_checked(len).ok_or(KeyError::Der)
}

/// Read a whole-input SEQUENCE and return its contents.
fn sequence(input: &[u8]) -> Result<&[u8], KeyError> {
    let (value, rest) = read(input, TAG_SEQUENCE)?;
    if !rest.is_empty() {
        return Err(KeyError::Der);
    }
    Ok(value)
}

/// A positive INTEGER's big-endian magnitude without the sign byte; rejects negative and
/// non-minimal encodings.
fn positive_integer(input: &[u8]) -> Result<(&[u8], &[u8]), KeyError> {
    let (value, rest) = read(input, TAG_INTEGER)?;
    match value {
        [] => Err(KeyError::Der),
        [0] => Ok((&[], rest)), // zero
        [0, next, ..] if *next < 0x80 => Err(KeyError::Der),
        [0, tail @ ..] => Ok((tail, rest)),
        [first, ..] if *first >= 0x80 => Err(KeyError::Der),
        _ => Ok((value, rest)),
    }
}

/// Parse a SubjectPublicKeyInfo.
pub(crate) fn parse_spki(der: &[u8]) -> Result<SpkiKey<'_>, KeyError> {
    let body = sequence(der)?;
    let (alg_id, rest) = read(body, TAG_SEQUENCE)?;
    let (bits, rest) = read(rest, TAG_BIT_STRING)?;
    if !rest.is_empty() {
        return Err(KeyError::Der);
    }
    let (&unused, key) = bits.split_first().ok_or(KeyError::Der)?;
    if unused != 0 {
        return Err(KeyError::Der);
    }
    let (oid, params) = read(alg_id, TAG_OID)?;
    if oid == OID_RSA {
        let (null, rest) = read(params, TAG_NULL)?;
        if !null.is_empty() || !rest.is_empty() {
            return Err(KeyError::Der);
        }
        Ok(SpkiKey::Rsa(key))
    } else if oid == OID_EC {
        let (curve, rest) = read(params, TAG_OID)?;
        if !rest.is_empty() {
            return Err(KeyError::Der);
        }
        if curve == OID_P256 {
            Ok(SpkiKey::P256(key))
        } else if curve == OID_P384 {
            Ok(SpkiKey::P384(key))
        } else {
            #[cfg(any(feature = "aws-lc-rs", feature = "fips"))]
            if curve == OID_P521 {
                return Ok(SpkiKey::P521(key));
            }
            Err(KeyError::UnsupportedCurve)
        }
    } else if oid == OID_ED25519 {
        if !params.is_empty() {
            return Err(KeyError::Der);
        }
        Ok(SpkiKey::Ed25519(key))
    } else {
        Err(KeyError::UnsupportedKeyType)
    }
}

/// Parse a PKCS#1 RSAPublicKey into (modulus, exponent) magnitudes.
pub(crate) fn parse_rsa_public_key(der: &[u8]) -> Result<(&[u8], &[u8]), KeyError> {
    let body = sequence(der)?;
    let (n, rest) = positive_integer(body)?;
    let (e, rest) = positive_integer(rest)?;
    if !rest.is_empty() {
        return Err(KeyError::Der);
    }
    Ok((n, e))
}

/// Encode a SubjectPublicKeyInfo for an RSA key given as PKCS#1 DER, or for an EC/Ed25519 key.
pub(crate) fn encode_spki(key: &SpkiKey<'_>) -> Vec<u8> {
    let (alg_id_body, key_bytes): (Vec<u8>, &[u8]) = match key {
        SpkiKey::Rsa(k) => ([tlv(TAG_OID, OID_RSA), tlv(TAG_NULL, &[])].concat(), k),
        SpkiKey::P256(k) => ([tlv(TAG_OID, OID_EC), tlv(TAG_OID, OID_P256)].concat(), k),
        SpkiKey::P384(k) => ([tlv(TAG_OID, OID_EC), tlv(TAG_OID, OID_P384)].concat(), k),
        #[cfg(any(feature = "aws-lc-rs", feature = "fips"))]
        SpkiKey::P521(k) => ([tlv(TAG_OID, OID_EC), tlv(TAG_OID, OID_P521)].concat(), k),
        SpkiKey::Ed25519(k) => (tlv(TAG_OID, OID_ED25519), k),
    };
    let bit_string = tlv(TAG_BIT_STRING, &[&[0u8][..], key_bytes].concat());
    tlv(
        TAG_SEQUENCE,
        &[tlv(TAG_SEQUENCE, &alg_id_body), bit_string].concat(),
    )
}

/// Encode a PKCS#1 RSAPublicKey from big-endian magnitudes.
pub(crate) fn encode_rsa_public_key(n: &[u8], e: &[u8]) -> Vec<u8> {
    tlv(TAG_SEQUENCE, &[integer(n), integer(e)].concat())
}

fn integer(magnitude: &[u8]) -> Vec<u8> {
    let trimmed = match magnitude.iter().position(|&b| b != 0) {
        Some(i) => magnitude.get(i..).unwrap_or_default(),
        None => &[0u8][..],
    };
    if trimmed.first().is_some_and(|&b| b >= 0x80) {
        tlv(TAG_INTEGER, &[&[0u8][..], trimmed].concat())
    } else {
        tlv(TAG_INTEGER, trimmed)
    }
}

fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 5);
    out.push(tag);
    let len = value.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        let significant = bytes.get(skip..).unwrap_or_default();
        out.push(0x80 | significant.len() as u8);
        out.extend_from_slice(significant);
    }
    out.extend_from_slice(value);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spki_round_trips_for_every_key_type() {
        let rsa = encode_rsa_public_key(&[0xc5; 256], &[1, 0, 1]);
        let p256 = [4u8; 65];
        let p384 = [4u8; 97];
        let ed = [7u8; 32];
        for key in [
            SpkiKey::Rsa(&rsa),
            SpkiKey::P256(&p256),
            SpkiKey::P384(&p384),
            SpkiKey::Ed25519(&ed),
        ] {
            let der = encode_spki(&key);
            assert_eq!(parse_spki(&der).unwrap(), key);
        }
        let (n, e) = parse_rsa_public_key(&rsa).unwrap();
        assert_eq!(n, &[0xc5; 256][..]);
        assert_eq!(e, &[1, 0, 1][..]);
    }

    #[test]
    fn rejects_non_minimal_and_truncated_encodings() {
        // Long-form length for a short value.
        assert_eq!(
            read(&[0x30, 0x81, 0x01, 0x00], TAG_SEQUENCE),
            Err(KeyError::Der)
        );
        // Indefinite length.
        assert_eq!(
            read(&[0x30, 0x80, 0x00, 0x00], TAG_SEQUENCE),
            Err(KeyError::Der)
        );
        // Length past the end.
        assert_eq!(read(&[0x30, 0x05, 0x00], TAG_SEQUENCE), Err(KeyError::Der));
        // Leading zero in the length.
        assert_eq!(
            read(&[0x30, 0x82, 0x00, 0x81], TAG_SEQUENCE),
            Err(KeyError::Der)
        );
        // Integers: negative, non-minimal.
        assert_eq!(positive_integer(&[0x02, 0x01, 0x80]), Err(KeyError::Der));
        assert_eq!(
            positive_integer(&[0x02, 0x02, 0x00, 0x01]),
            Err(KeyError::Der)
        );
        assert_eq!(
            positive_integer(&[0x02, 0x02, 0x00, 0x81]).unwrap().0,
            &[0x81]
        );
        // Trailing garbage after the SPKI.
        let mut der = encode_spki(&SpkiKey::Ed25519(&[1; 32]));
        der.push(0);
        assert_eq!(parse_spki(&der), Err(KeyError::Der));
        for cut in 0..der.len() - 1 {
            assert!(parse_spki(&der[..cut]).is_err());
        }
    }
}
