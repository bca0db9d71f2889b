//! The few DER structures key import needs: SubjectPublicKeyInfo (RFC 5280), RSAPublicKey
//! (RFC 8017 A.1.1), and enough of PKCS#8 (RFC 5208/5958), PKCS#1 RSAPrivateKey and SEC1
//! ECPrivateKey (RFC 5915) to say what a private key is before the crypto library sees it.
//! Definite, minimal lengths only; every read is bounds-checked.

use crate::error::KeyError;

const TAG_INTEGER: u8 = 0x02;
const TAG_BIT_STRING: u8 = 0x03;
const TAG_OCTET_STRING: u8 = 0x04;
const TAG_NULL: u8 = 0x05;
/// `[0]` and `[1]`, constructed, explicit (SEC1's `parameters` and `publicKey`).
const TAG_CONTEXT_0: u8 = 0xa0;
const TAG_CONTEXT_1: u8 = 0xa1;
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
/// id-X25519, 1.3.101.110, and id-X448, 1.3.101.111: key agreement, not signing.
const OID_X25519: &[u8] = &[0x2b, 0x65, 0x6e];
const OID_X448: &[u8] = &[0x2b, 0x65, 0x6f];
/// id-Ed448, 1.3.101.113
const OID_ED448: &[u8] = &[0x2b, 0x65, 0x71];

/// A named elliptic curve of an EC key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Curve {
    P256,
    P384,
    /// Only with `aws-lc-rs`; in a `ring` build P-521 is [`Curve::Unsupported`].
    #[cfg(any(feature = "aws-lc-rs", feature = "fips"))]
    P521,
    /// Any other curve (secp256k1, brainpool, ...).
    Unsupported,
}

fn curve(oid: &[u8]) -> Curve {
    if oid == OID_P256 {
        return Curve::P256;
    }
    if oid == OID_P384 {
        return Curve::P384;
    }
    #[cfg(any(feature = "aws-lc-rs", feature = "fips"))]
    if oid == OID_P521 {
        return Curve::P521;
    }
    Curve::Unsupported
}

/// What a private key is, read from its PKCS#8 algorithm identifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PrivateKind {
    /// RSA, with the modulus length in bits.
    Rsa {
        bits: usize,
    },
    Ec(Curve),
    Ed25519,
    /// Ed448: a signature curve this crate does not implement.
    Ed448,
    /// X25519 or X448: a key-agreement key, never a signing key.
    KeyAgreement,
    /// Any other algorithm (DSA, ...).
    Other,
}

/// Read the algorithm of a PKCS#8 `PrivateKeyInfo` / `OneAsymmetricKey` (v1 or v2) and, for
/// RSA, the modulus length. Only the fields needed are read; the crypto library checks the
/// whole structure afterwards.
pub(crate) fn pkcs8_kind(der: &[u8]) -> Result<PrivateKind, KeyError> {
    let body = sequence(der)?;
    let (version, rest) = read(body, TAG_INTEGER)?;
    if version != [0] && version != [1] {
        return Err(KeyError::Der);
    }
    let (alg_id, rest) = read(rest, TAG_SEQUENCE)?;
    let (private, _attributes_and_public_key) = read(rest, TAG_OCTET_STRING)?;
    let (oid, params) = read(alg_id, TAG_OID)?;
    Ok(if oid == OID_RSA {
        let (n, _) = rsa_private_modulus_and_exponent(private)?;
        PrivateKind::Rsa { bits: bit_len(n) }
    } else if oid == OID_EC {
        let (curve_oid, _) = read(params, TAG_OID)?;
        PrivateKind::Ec(curve(curve_oid))
    } else if oid == OID_ED25519 {
        PrivateKind::Ed25519
    } else if oid == OID_ED448 {
        PrivateKind::Ed448
    } else if oid == OID_X25519 || oid == OID_X448 {
        PrivateKind::KeyAgreement
    } else {
        PrivateKind::Other
    })
}

/// The modulus and public exponent of a PKCS#1 `RSAPrivateKey`.
pub(crate) fn rsa_private_modulus_and_exponent(der: &[u8]) -> Result<(&[u8], &[u8]), KeyError> {
    let body = sequence(der)?;
    let (_version, rest) = read(body, TAG_INTEGER)?;
    let (n, rest) = positive_integer(rest)?;
    let (e, _) = positive_integer(rest)?;
    Ok((n, e))
}

/// Bits of a big-endian magnitude without leading zero bytes.
fn bit_len(n: &[u8]) -> usize {
    n.first()
        .map_or(0, |&first| n.len() * 8 - first.leading_zeros() as usize)
}

/// A SEC1 `ECPrivateKey` (RFC 5915), as `openssl ecparam -genkey` writes it.
#[derive(Debug)]
pub(crate) struct Sec1Key<'a> {
    pub(crate) curve: Curve,
    /// The private scalar.
    pub(crate) d: &'a [u8],
    /// The uncompressed public point, if present (OpenSSL always writes it).
    pub(crate) point: Option<&'a [u8]>,
}

/// Parse a SEC1 `ECPrivateKey` that names its curve.
pub(crate) fn parse_sec1(der: &[u8]) -> Result<Sec1Key<'_>, KeyError> {
    let body = sequence(der)?;
    let (version, rest) = read(body, TAG_INTEGER)?;
    if version != [1] {
        return Err(KeyError::Der);
    }
    let (d, mut rest) = read(rest, TAG_OCTET_STRING)?;
    let mut curve_oid = None;
    if rest.first() == Some(&TAG_CONTEXT_0) {
        let (params, after) = read(rest, TAG_CONTEXT_0)?;
        let (oid, extra) = read(params, TAG_OID)?;
        if !extra.is_empty() {
            return Err(KeyError::Der);
        }
        curve_oid = Some(oid);
        rest = after;
    }
    let mut point = None;
    if rest.first() == Some(&TAG_CONTEXT_1) {
        let (public, after) = read(rest, TAG_CONTEXT_1)?;
        let (bits, extra) = read(public, TAG_BIT_STRING)?;
        let (&unused, key) = bits.split_first().ok_or(KeyError::Der)?;
        if unused != 0 || !extra.is_empty() {
            return Err(KeyError::Der);
        }
        point = Some(key);
        rest = after;
    }
    if !rest.is_empty() {
        return Err(KeyError::Der);
    }
    // Without its curve the key cannot be bound to an algorithm.
    let curve = curve(curve_oid.ok_or(KeyError::Der)?);
    Ok(Sec1Key { curve, d, point })
}

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
    fn private_key_kinds_are_read_from_pkcs8_and_sec1() {
        let pkcs8 = |oid: &[u8], params: &[u8], private: &[u8]| {
            let alg_id = tlv(TAG_SEQUENCE, &[tlv(TAG_OID, oid), params.to_vec()].concat());
            tlv(
                TAG_SEQUENCE,
                &[
                    tlv(TAG_INTEGER, &[0]),
                    alg_id,
                    tlv(TAG_OCTET_STRING, private),
                ]
                .concat(),
            )
        };
        let ed = pkcs8(OID_ED25519, &[], &[0; 34]);
        assert_eq!(pkcs8_kind(&ed), Ok(PrivateKind::Ed25519));
        let x = pkcs8(OID_X25519, &[], &[0; 34]);
        assert_eq!(pkcs8_kind(&x), Ok(PrivateKind::KeyAgreement));
        let k1 = [0x2b, 0x81, 0x04, 0x00, 0x0a];
        let ec = pkcs8(OID_EC, &tlv(TAG_OID, &k1), &[0; 8]);
        assert_eq!(pkcs8_kind(&ec), Ok(PrivateKind::Ec(Curve::Unsupported)));
        let ec = pkcs8(OID_EC, &tlv(TAG_OID, OID_P384), &[0; 8]);
        assert_eq!(pkcs8_kind(&ec), Ok(PrivateKind::Ec(Curve::P384)));
        // RSA: the modulus length comes from the inner RSAPrivateKey.
        let mut n = vec![0xc1; 128];
        n[127] |= 1;
        let rsa_key = tlv(
            TAG_SEQUENCE,
            &[tlv(TAG_INTEGER, &[0]), integer(&n), integer(&[1, 0, 1])].concat(),
        );
        let rsa = pkcs8(OID_RSA, &tlv(TAG_NULL, &[]), &rsa_key);
        assert_eq!(pkcs8_kind(&rsa), Ok(PrivateKind::Rsa { bits: 1024 }));
        // SEC1 with curve and point; without the curve it is refused.
        let sec1 = |params: bool| {
            let mut body = vec![tlv(TAG_INTEGER, &[1]), tlv(TAG_OCTET_STRING, &[5; 32])];
            if params {
                body.push(tlv(TAG_CONTEXT_0, &tlv(TAG_OID, OID_P256)));
            }
            body.push(tlv(
                TAG_CONTEXT_1,
                &tlv(TAG_BIT_STRING, &[&[0u8][..], &[4; 65]].concat()),
            ));
            tlv(TAG_SEQUENCE, &body.concat())
        };
        let with = sec1(true);
        let key = parse_sec1(&with).unwrap();
        assert_eq!(
            (key.curve, key.d.len(), key.point.map(<[u8]>::len)),
            (Curve::P256, 32, Some(65))
        );
        assert_eq!(parse_sec1(&sec1(false)).unwrap_err(), KeyError::Der);
        for cut in 0..with.len() - 1 {
            assert!(parse_sec1(&with[..cut]).is_err());
        }
        for cut in 0..rsa.len() - 1 {
            assert!(pkcs8_kind(&rsa[..cut]).is_err());
        }
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
