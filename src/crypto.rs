//! The cryptography backend boundary: the one module that names `ring` or `aws-lc-rs`.
//!
//! The rest of the crate takes its primitives from here: the `digest`, `hkdf`, `hmac`,
//! `rsa` and `signature` modules (the two libraries share that API, `aws-lc-rs` having been
//! written to be `ring`-compatible), [`fill_random`], and the few things that differ:
//! [`PublicKey`] (an asymmetric verification key, parsed once at import with `aws-lc-rs`,
//! kept as bytes and handed to `ring` per check, which has no parsed form), and the ECDSA
//! key-pair constructors (`ring` takes a random generator, `aws-lc-rs` does not).
//!
//! The backend is chosen at compile time: `aws-lc-rs` (or `fips`) when enabled, else `ring`
//! (the default feature). Enabling both is not an error: `aws-lc-rs` takes precedence, so an
//! application adds it to a default build without `default-features = false`.

use zeroize::Zeroizing;

use crate::error::{Error, KeyError};

#[cfg(any(feature = "aws-lc-rs", feature = "fips"))]
use aws_lc_rs as backend;
#[cfg(all(feature = "ring", not(any(feature = "aws-lc-rs", feature = "fips"))))]
use ring as backend;

#[cfg(not(any(feature = "ring", feature = "aws-lc-rs", feature = "fips")))]
compile_error!(
    "token-engine needs a cryptography backend: enable its `ring` feature (the default) or \
     `aws-lc-rs` (or `fips`)"
);

pub(crate) use backend::{digest, hkdf, hmac, rsa, signature};
use signature::KeyPair as _;

/// The cryptography library this build uses: `"ring"`, `"aws-lc-rs"`, or with the `fips`
/// feature `"aws-lc-rs (FIPS)"` when AWS-LC reports its FIPS mode active (and
/// `"aws-lc-rs (FIPS mode off)"` otherwise, which a FIPS deployment should treat as a fatal
/// start-up error).
pub fn backend() -> &'static str {
    #[cfg(feature = "fips")]
    {
        if aws_lc_rs::try_fips_mode().is_ok() {
            "aws-lc-rs (FIPS)"
        } else {
            "aws-lc-rs (FIPS mode off)"
        }
    }
    #[cfg(all(feature = "aws-lc-rs", not(feature = "fips")))]
    {
        "aws-lc-rs"
    }
    #[cfg(all(feature = "ring", not(any(feature = "aws-lc-rs", feature = "fips"))))]
    {
        "ring"
    }
}

/// Fill `out` from the operating system's generator.
pub(crate) fn fill_random(out: &mut [u8]) -> Result<(), Error> {
    use backend::rand::SecureRandom as _;
    backend::rand::SystemRandom::new()
        .fill(out)
        .map_err(|_| Error::Crypto("random generator failed"))
}

fn rejected(_: backend::error::KeyRejected) -> KeyError {
    KeyError::Rejected
}

/// An asymmetric public key's bytes, in the forms this crate exports.
#[derive(Clone)]
pub(crate) enum RawPublic {
    /// Modulus and public exponent, big-endian without leading zeros.
    Rsa { n: Box<[u8]>, e: Box<[u8]> },
    /// An uncompressed point `04 || x || y`.
    Ec(Box<[u8]>),
    /// The 32-byte Ed25519 key.
    Ed25519([u8; 32]),
}

/// When an EC point is checked to be on its curve.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum PointCheck {
    /// At import (a key that verifies many tokens).
    AtImport,
    /// At the signature check, where a point off the curve fails as a bad signature (a DPoP
    /// proof's single-use key, where `ring`'s import check would cost more than the check).
    AtUse,
}

/// An asymmetric verification key bound to one signature algorithm.
///
/// With `aws-lc-rs` it holds the backend's parsed key ([`signature::ParsedPublicKey`]): the
/// RSA modulus, the EC point and the Ed25519 key are decoded and validated once, here. `ring`
/// has no parsed public-key type: it re-reads the bytes on every check.
#[derive(Clone)]
pub(crate) struct PublicKey {
    raw: RawPublic,
    verify: Verify,
}

#[cfg(all(feature = "ring", not(any(feature = "aws-lc-rs", feature = "fips"))))]
#[derive(Clone)]
enum Verify {
    Rsa(&'static signature::RsaParameters),
    Other(&'static dyn signature::VerificationAlgorithm),
}

#[cfg(any(feature = "aws-lc-rs", feature = "fips"))]
#[derive(Clone)]
struct Verify(signature::ParsedPublicKey);

impl PublicKey {
    /// An RSA key; `n` and `e` were checked by the caller's policy (sizes, exponent).
    pub(crate) fn rsa(
        params: &'static signature::RsaParameters,
        n: &[u8],
        e: &[u8],
    ) -> Result<Self, KeyError> {
        let raw = RawPublic::Rsa {
            n: n.into(),
            e: e.into(),
        };
        #[cfg(all(feature = "ring", not(any(feature = "aws-lc-rs", feature = "fips"))))]
        let verify = Verify::Rsa(params);
        #[cfg(any(feature = "aws-lc-rs", feature = "fips"))]
        let verify = Verify(
            signature::RsaPublicKeyComponents { n, e }
                .to_parsed_public_key(params)
                .map_err(|_| KeyError::RsaKeySize)?,
        );
        Ok(Self { raw, verify })
    }

    /// An uncompressed EC point (`04 || x || y`) of the curve of `alg`; the caller checked its
    /// length and leading byte.
    pub(crate) fn ec(
        alg: &'static signature::EcdsaVerificationAlgorithm,
        point: &[u8],
        check: PointCheck,
    ) -> Result<Self, KeyError> {
        let raw = RawPublic::Ec(point.into());
        #[cfg(all(feature = "ring", not(any(feature = "aws-lc-rs", feature = "fips"))))]
        let verify = {
            if check == PointCheck::AtImport {
                ring_check_point(point)?;
            }
            Verify::Other(alg)
        };
        // aws-lc-rs decodes the point and checks it is on the curve when parsing; the parse
        // is cheap (no scalar multiplication), so even single-use keys are checked at once.
        #[cfg(any(feature = "aws-lc-rs", feature = "fips"))]
        let verify = {
            let _ = check;
            Verify(
                signature::ParsedPublicKey::new(alg, point).map_err(|_| KeyError::PointEncoding)?,
            )
        };
        Ok(Self { raw, verify })
    }

    /// An Ed25519 key.
    pub(crate) fn ed25519(pk: [u8; 32]) -> Result<Self, KeyError> {
        #[cfg(all(feature = "ring", not(any(feature = "aws-lc-rs", feature = "fips"))))]
        let verify = Verify::Other(&signature::ED25519);
        #[cfg(any(feature = "aws-lc-rs", feature = "fips"))]
        let verify = Verify(
            signature::ParsedPublicKey::new(&signature::ED25519, pk)
                .map_err(|_| KeyError::PointEncoding)?,
        );
        Ok(Self {
            raw: RawPublic::Ed25519(pk),
            verify,
        })
    }

    /// The key's bytes.
    pub(crate) fn raw(&self) -> &RawPublic {
        &self.raw
    }

    /// Whether `signature` is a valid signature of `message` under this key.
    #[inline]
    pub(crate) fn verify(&self, message: &[u8], sig: &[u8]) -> bool {
        #[cfg(all(feature = "ring", not(any(feature = "aws-lc-rs", feature = "fips"))))]
        {
            match (&self.verify, &self.raw) {
                (Verify::Rsa(params), RawPublic::Rsa { n, e }) => {
                    signature::RsaPublicKeyComponents {
                        n: &n[..],
                        e: &e[..],
                    }
                    .verify(params, message, sig)
                    .is_ok()
                }
                (Verify::Other(alg), RawPublic::Ec(point)) => {
                    signature::UnparsedPublicKey::new(*alg, &point[..])
                        .verify(message, sig)
                        .is_ok()
                }
                (Verify::Other(alg), RawPublic::Ed25519(pk)) => {
                    signature::UnparsedPublicKey::new(*alg, &pk[..])
                        .verify(message, sig)
                        .is_ok()
                }
                _ => false,
            }
        }
        #[cfg(any(feature = "aws-lc-rs", feature = "fips"))]
        {
            self.verify.0.verify_sig(message, sig).is_ok()
        }
    }
}

/// `ring` validates an EC point only when it is used; to reject a bad key at import, use it
/// as the peer key of one ECDH agreement with a fresh ephemeral key.
#[cfg(all(feature = "ring", not(any(feature = "aws-lc-rs", feature = "fips"))))]
fn ring_check_point(point: &[u8]) -> Result<(), KeyError> {
    use ring::agreement;
    let curve = match point.len() {
        65 => &agreement::ECDH_P256,
        97 => &agreement::ECDH_P384,
        _ => return Err(KeyError::PointEncoding),
    };
    let rng = ring::rand::SystemRandom::new();
    let ephemeral =
        agreement::EphemeralPrivateKey::generate(curve, &rng).map_err(|_| KeyError::Rejected)?;
    agreement::agree_ephemeral(
        ephemeral,
        &agreement::UnparsedPublicKey::new(curve, point),
        |_| (),
    )
    .map_err(|_| KeyError::PointEncoding)
}

/// An ECDSA key pair from PKCS#8 DER.
pub(crate) fn ecdsa_from_pkcs8(
    alg: &'static signature::EcdsaSigningAlgorithm,
    pkcs8: &[u8],
) -> Result<signature::EcdsaKeyPair, KeyError> {
    #[cfg(all(feature = "ring", not(any(feature = "aws-lc-rs", feature = "fips"))))]
    let pair = signature::EcdsaKeyPair::from_pkcs8(alg, pkcs8, &ring::rand::SystemRandom::new());
    #[cfg(any(feature = "aws-lc-rs", feature = "fips"))]
    let pair = signature::EcdsaKeyPair::from_pkcs8(alg, pkcs8);
    pair.map_err(rejected)
}

/// An ECDSA key pair from the private scalar and the uncompressed public point.
pub(crate) fn ecdsa_from_private(
    alg: &'static signature::EcdsaSigningAlgorithm,
    d: &[u8],
    point: &[u8],
) -> Result<signature::EcdsaKeyPair, KeyError> {
    #[cfg(all(feature = "ring", not(any(feature = "aws-lc-rs", feature = "fips"))))]
    let pair = signature::EcdsaKeyPair::from_private_key_and_public_key(
        alg,
        d,
        point,
        &ring::rand::SystemRandom::new(),
    );
    #[cfg(any(feature = "aws-lc-rs", feature = "fips"))]
    let pair = signature::EcdsaKeyPair::from_private_key_and_public_key(alg, d, point);
    pair.map_err(rejected)
}

/// An RSA key pair from PKCS#8 DER.
pub(crate) fn rsa_from_pkcs8(pkcs8: &[u8]) -> Result<signature::RsaKeyPair, KeyError> {
    signature::RsaKeyPair::from_pkcs8(pkcs8).map_err(rejected)
}

/// An RSA key pair from PKCS#1 `RSAPrivateKey` DER.
pub(crate) fn rsa_from_pkcs1(der: &[u8]) -> Result<signature::RsaKeyPair, KeyError> {
    signature::RsaKeyPair::from_der(der).map_err(rejected)
}

/// An RSA key pair from its components.
pub(crate) fn rsa_from_components(
    components: &rsa::KeyPairComponents<&[u8], &[u8]>,
) -> Result<signature::RsaKeyPair, KeyError> {
    signature::RsaKeyPair::from_components(components).map_err(rejected)
}

/// The modulus and exponent of an RSA key pair's public half.
pub(crate) fn rsa_public(pair: &signature::RsaKeyPair) -> (Vec<u8>, Vec<u8>) {
    let c: signature::RsaPublicKeyComponents<Vec<u8>> = pair.public_key().into();
    (c.n, c.e)
}

/// An Ed25519 key pair from PKCS#8 DER, v1 (no public key, as OpenSSL writes) or v2.
pub(crate) fn ed25519_from_pkcs8(pkcs8: &[u8]) -> Result<signature::Ed25519KeyPair, KeyError> {
    signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8).map_err(rejected)
}

/// An Ed25519 key pair from the seed and the public key.
pub(crate) fn ed25519_from_seed(
    seed: &[u8],
    pk: &[u8],
) -> Result<signature::Ed25519KeyPair, KeyError> {
    signature::Ed25519KeyPair::from_seed_and_public_key(seed, pk).map_err(rejected)
}

/// A fresh ECDSA key as PKCS#8 DER.
pub(crate) fn ecdsa_generate_pkcs8(
    alg: &'static signature::EcdsaSigningAlgorithm,
) -> Result<Zeroizing<Vec<u8>>, Error> {
    let rng = backend::rand::SystemRandom::new();
    signature::EcdsaKeyPair::generate_pkcs8(alg, &rng)
        .map(|doc| Zeroizing::new(doc.as_ref().to_vec()))
        .map_err(|_| Error::Crypto("key generation failed"))
}

/// A fresh Ed25519 key as PKCS#8 DER.
pub(crate) fn ed25519_generate_pkcs8() -> Result<Zeroizing<Vec<u8>>, Error> {
    let rng = backend::rand::SystemRandom::new();
    signature::Ed25519KeyPair::generate_pkcs8(&rng)
        .map(|doc| Zeroizing::new(doc.as_ref().to_vec()))
        .map_err(|_| Error::Crypto("key generation failed"))
}

/// A fresh RSA key of `bits` (2048, 3072 or 4096) as PKCS#8 DER: `aws-lc-rs` only (`ring`
/// cannot generate RSA keys).
#[cfg(any(feature = "aws-lc-rs", feature = "fips"))]
pub(crate) fn rsa_generate_pkcs8(bits: u32) -> Result<Zeroizing<Vec<u8>>, Error> {
    use backend::encoding::AsDer as _;
    let size = match bits {
        2048 => rsa::KeySize::Rsa2048,
        3072 => rsa::KeySize::Rsa3072,
        4096 => rsa::KeySize::Rsa4096,
        _ => return Err(KeyError::RsaKeySize.into()),
    };
    let failed = |_| Error::Crypto("key generation failed");
    let pair = signature::RsaKeyPair::generate(size).map_err(failed)?;
    let der = pair.as_der().map_err(failed)?;
    Ok(Zeroizing::new(der.as_ref().to_vec()))
}

/// ECDSA signature with the backend's generator (`ring` needs one; `aws-lc-rs` ignores it).
pub(crate) fn ecdsa_sign(
    pair: &signature::EcdsaKeyPair,
    message: &[u8],
) -> Result<signature::Signature, Error> {
    pair.sign(&backend::rand::SystemRandom::new(), message)
        .map_err(|_| Error::Crypto("signing failed"))
}

/// RSA signature into `out` (of the modulus length) with `padding`.
pub(crate) fn rsa_sign(
    pair: &signature::RsaKeyPair,
    padding: &'static dyn signature::RsaEncoding,
    message: &[u8],
    out: &mut [u8],
) -> Result<(), Error> {
    pair.sign(padding, &backend::rand::SystemRandom::new(), message, out)
        .map_err(|_| Error::Crypto("signing failed"))
}

/// The length of an RSA key pair's signatures (its modulus).
pub(crate) fn rsa_signature_len(pair: &signature::RsaKeyPair) -> usize {
    pair.public_key().modulus_len()
}
