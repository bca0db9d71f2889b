//! Algorithm-bound keys: [`SigningKey`] (private or secret) and [`VerifyingKey`] (public, or
//! the HMAC secret), with import from PKCS#8/SPKI PEM and DER, raw bytes and components, key
//! generation, RFC 7638 thumbprints and export of the public half.
//!
//! # Secret hygiene
//! Every buffer this module owns that holds secret bytes (PEM text copies, decoded DER, JWK
//! private members, generated documents) is [`Zeroizing`] and wiped when dropped. What happens
//! to the key schedules inside the backend's own types depends on the backend; see
//! [`SigningKey`].

use core::fmt;
use std::sync::Arc;

use zeroize::Zeroizing;

use super::alg::{Algorithm, Family};
use super::{b64, der, pem};
use crate::crypto::signature::{self, KeyPair as _};
use crate::crypto::{self, PointCheck, RawPublic, digest, hmac};
use crate::error::{Error, KeyError, TokenError};

/// A key that verifies signatures of exactly one algorithm. Cheap to clone (shared).
///
/// For asymmetric algorithms it holds the public key; for HMAC it holds the secret, which is
/// why its `Debug` output never shows key bytes and why HMAC keys are never exported to a JWKS.
#[derive(Clone)]
pub struct VerifyingKey {
    inner: Arc<VerifyingInner>,
}

#[derive(Clone)]
struct VerifyingInner {
    alg: Algorithm,
    kid: Option<String>,
    material: Public,
    /// `base64url({"alg":..,"typ":"at+jwt","kid":..})` as this crate writes it: a token whose
    /// header segment is byte-identical needs no header decode or parse.
    at_jwt_header: Box<str>,
}

// aws-lc-rs's `hmac::Key` holds its HMAC_CTX inline (1.2 KB): fine here, where the value
// lives behind an `Arc` (and in `SigningKey`, loaded once), and not worth a pointer chase.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
enum Public {
    Hmac(hmac::Key),
    /// RSA, EC or Ed25519: parsed once with `aws-lc-rs`, bytes with `ring` (see `crypto`).
    Asymmetric(crypto::PublicKey),
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("VerifyingKey");
        d.field("alg", &self.inner.alg)
            .field("kid", &self.inner.kid);
        match &self.inner.material {
            Public::Hmac(_) => d.field("secret", &"[redacted]"),
            _ => d.field("thumbprint", &self.thumbprint().unwrap_or_default()),
        };
        d.finish()
    }
}

/// Split an uncompressed point `04 || x || y` into its coordinates.
fn ec_coordinates(point: &[u8]) -> (&[u8], &[u8]) {
    let xy = point.get(1..).unwrap_or_default();
    xy.split_at(xy.len() / 2)
}

fn hmac_key(alg: Algorithm, secret: &[u8]) -> Result<hmac::Key, KeyError> {
    let Family::Hmac(h) = alg.family() else {
        return Err(KeyError::WrongKeyType);
    };
    // RFC 7518 §3.2: a key of the same size as the hash output or larger MUST be used.
    if secret.len() < h.digest_algorithm().output_len() {
        return Err(KeyError::HmacTooShort);
    }
    Ok(hmac::Key::new(h, secret))
}

/// Check an RSA public key the way `ring` will at verification time, but at import.
/// Whether a private key of `kind` fits `alg`, with the reason when it does not. An RSA
/// `bits` of 0 means "not known yet" (checked with the modulus afterwards).
fn check_kind(alg: Algorithm, kind: der::PrivateKind) -> Result<(), KeyError> {
    use der::{Curve, PrivateKind as K};
    let wanted = match alg {
        Algorithm::ES256 => Some(Curve::P256),
        Algorithm::ES384 => Some(Curve::P384),
        #[cfg(any(feature = "aws-lc-rs", feature = "fips"))]
        Algorithm::ES512 => Some(Curve::P521),
        _ => None,
    };
    match (alg.family(), kind) {
        (_, K::KeyAgreement) => Err(KeyError::NotASigningKey),
        (_, K::Ed448 | K::Ec(Curve::Unsupported)) => Err(KeyError::UnsupportedCurve),
        (_, K::Other) => Err(KeyError::UnsupportedKeyType),
        (Family::Rsa, K::Rsa { bits }) if bits != 0 && bits < 2048 => Err(KeyError::WeakKey),
        (Family::Rsa, K::Rsa { .. }) | (Family::Ed25519, K::Ed25519) => Ok(()),
        (Family::Ec, K::Ec(curve)) if Some(curve) == wanted => Ok(()),
        (Family::Ec, K::Ec(_) | K::Ed25519) | (Family::Ed25519, K::Ec(_)) => {
            Err(KeyError::CurveMismatch)
        }
        _ => Err(KeyError::WrongKeyType),
    }
}

fn check_rsa(n: &[u8], e: &[u8]) -> Result<(), KeyError> {
    let (Some(&n_first), Some(&n_last), Some(&e_first), Some(&e_last)) =
        (n.first(), n.last(), e.first(), e.last())
    else {
        return Err(KeyError::RsaKeySize);
    };
    // Minimal big-endian encodings (RFC 7518 §2 Base64urlUInt; DER INTEGER).
    if n_first == 0 || e_first == 0 {
        return Err(KeyError::RsaKeySize);
    }
    let bits = n.len() * 8 - n_first.leading_zeros() as usize;
    if bits < 2048 {
        return Err(KeyError::WeakKey);
    }
    if bits > 8192 || n_last & 1 == 0 {
        return Err(KeyError::RsaKeySize);
    }
    // ring accepts 3 <= e <= 2^33 - 1, odd.
    let e_value = e.iter().try_fold(0u64, |acc, &b| {
        if acc >> 55 != 0 {
            None
        } else {
            Some((acc << 8) | u64::from(b))
        }
    });
    match e_value {
        Some(v) if (3..1 << 33).contains(&v) && e_last & 1 == 1 => Ok(()),
        _ => Err(KeyError::RsaKeySize),
    }
}

/// An EC public key: `point` must be an uncompressed point (`04 || x || y`) on the
/// algorithm's curve, checked `when` said.
fn ec_public(
    alg: Algorithm,
    point: &[u8],
    when: PointCheck,
) -> Result<crypto::PublicKey, KeyError> {
    let verify = alg.ecdsa_verify().ok_or(KeyError::WrongKeyType)?;
    if Some(point.len()) != alg.ec_point_len() || point.first() != Some(&4) {
        return Err(KeyError::PointEncoding);
    }
    crypto::PublicKey::ec(verify, point, when)
}

fn rsa_public(alg: Algorithm, n: &[u8], e: &[u8]) -> Result<crypto::PublicKey, KeyError> {
    let params = alg.rsa_verify().ok_or(KeyError::WrongKeyType)?;
    check_rsa(n, e)?;
    crypto::PublicKey::rsa(params, n, e)
}

fn ed25519_public(pk: &[u8]) -> Result<crypto::PublicKey, KeyError> {
    let pk: [u8; 32] = pk.try_into().map_err(|_| KeyError::PointEncoding)?;
    crypto::PublicKey::ed25519(pk)
}

impl VerifyingKey {
    fn build(alg: Algorithm, material: Public) -> Self {
        Self::with_parts(alg, None, material)
    }

    fn with_parts(alg: Algorithm, kid: Option<String>, material: Public) -> Self {
        let at_jwt_header = super::jws::encode_header(alg, Some("at+jwt"), kid.as_deref()).into();
        Self {
            inner: Arc::new(VerifyingInner {
                alg,
                kid,
                material,
                at_jwt_header,
            }),
        }
    }

    /// An HMAC verification key (`HS256`/`HS384`/`HS512`): the shared secret, at least as
    /// long as the hash output.
    pub fn hmac(alg: Algorithm, secret: &[u8]) -> Result<Self, KeyError> {
        Ok(Self::build(alg, Public::Hmac(hmac_key(alg, secret)?)))
    }

    /// An RSA public key from its modulus and public exponent (big-endian, no leading zeros).
    pub fn rsa_from_components(alg: Algorithm, n: &[u8], e: &[u8]) -> Result<Self, KeyError> {
        Ok(Self::build(alg, Public::Asymmetric(rsa_public(alg, n, e)?)))
    }

    /// A public key in its raw form: the uncompressed point (`0x04 || x || y`) for
    /// ES256/ES384 (and ES512 with `aws-lc-rs`), the 32-byte key for Ed25519, the PKCS#1
    /// `RSAPublicKey` DER for RSA, the secret for HMAC.
    pub fn from_raw(alg: Algorithm, bytes: &[u8]) -> Result<Self, KeyError> {
        match alg.family() {
            Family::Hmac(_) => Self::hmac(alg, bytes),
            Family::Rsa => {
                let (n, e) = der::parse_rsa_public_key(bytes)?;
                Self::rsa_from_components(alg, n, e)
            }
            Family::Ec => Ok(Self::build(
                alg,
                Public::Asymmetric(ec_public(alg, bytes, PointCheck::AtImport)?),
            )),
            Family::Ed25519 => Ok(Self::build(alg, Public::Asymmetric(ed25519_public(bytes)?))),
        }
    }

    /// An EC key for single use (a DPoP proof's). With `ring`, the point is validated by the
    /// signature check instead of at import, where the check (an ECDH agreement) would cost
    /// more than the signature check itself; a point off the curve then fails as a bad
    /// signature. `aws-lc-rs` validates it when parsing, cheaply.
    pub(crate) fn ec_checked_at_use(alg: Algorithm, point: &[u8]) -> Result<Self, KeyError> {
        Ok(Self::build(
            alg,
            Public::Asymmetric(ec_public(alg, point, PointCheck::AtUse)?),
        ))
    }

    /// A public key from a DER SubjectPublicKeyInfo (what `openssl pkey -pubout -outform DER`
    /// writes). The key type must fit `alg`.
    pub fn from_spki_der(alg: Algorithm, spki: &[u8]) -> Result<Self, KeyError> {
        let raw = match (der::parse_spki(spki)?, alg.family()) {
            (der::SpkiKey::Rsa(k), Family::Rsa) => k,
            (der::SpkiKey::P256(k), Family::Ec) if alg == Algorithm::ES256 => k,
            (der::SpkiKey::P384(k), Family::Ec) if alg == Algorithm::ES384 => k,
            #[cfg(any(feature = "aws-lc-rs", feature = "fips"))]
            (der::SpkiKey::P521(k), Family::Ec) if alg == Algorithm::ES512 => k,
            (der::SpkiKey::Ed25519(k), Family::Ed25519) => k,
            _ => return Err(KeyError::WrongKeyType),
        };
        Self::from_raw(alg, raw)
    }

    /// A public key from PEM: `PUBLIC KEY` (SubjectPublicKeyInfo) for every key type, or
    /// `RSA PUBLIC KEY` (PKCS#1) for RSA.
    pub fn from_pem(alg: Algorithm, pem_text: &str) -> Result<Self, KeyError> {
        let (label, der) = pem::decode(pem_text)?;
        match label {
            "PUBLIC KEY" => Self::from_spki_der(alg, &der),
            "RSA PUBLIC KEY" if alg.family() == Family::Rsa => Self::from_raw(alg, &der),
            _ => Err(KeyError::PemLabel),
        }
    }

    /// The same key with a `kid`.
    #[must_use]
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        let inner = Arc::make_mut(&mut self.inner);
        inner.kid = Some(kid.into());
        inner.at_jwt_header =
            super::jws::encode_header(inner.alg, Some("at+jwt"), inner.kid.as_deref()).into();
        self
    }

    /// The canonical `at+jwt` header segment of tokens this crate signs with this key.
    #[inline]
    pub(crate) fn at_jwt_header(&self) -> &[u8] {
        self.inner.at_jwt_header.as_bytes()
    }

    /// The algorithm this key is bound to.
    #[must_use]
    pub fn alg(&self) -> Algorithm {
        self.inner.alg
    }

    /// The key id, if any.
    #[must_use]
    pub fn kid(&self) -> Option<&str> {
        self.inner.kid.as_deref()
    }

    /// Whether this is an HMAC key (holds a secret).
    #[must_use]
    pub fn is_symmetric(&self) -> bool {
        matches!(self.inner.material, Public::Hmac(_))
    }

    /// Verify `signature` over `message`. Constant-time for HMAC (inside the backend).
    #[inline]
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), TokenError> {
        let ok = match &self.inner.material {
            Public::Hmac(k) => hmac::verify(k, message, signature).is_ok(),
            Public::Asymmetric(k) => k.verify(message, signature),
        };
        if ok {
            Ok(())
        } else {
            Err(TokenError::InvalidSignature)
        }
    }

    /// The RFC 7638 JWK thumbprint (SHA-256, base64url) of the public key, or `None` for an
    /// HMAC key (its thumbprint would be a hash of the secret).
    #[must_use]
    pub fn thumbprint(&self) -> Option<String> {
        let Public::Asymmetric(key) = &self.inner.material else {
            return None;
        };
        let canonical = match key.raw() {
            RawPublic::Rsa { n, e } => {
                format!(
                    r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
                    b64::encode(e),
                    b64::encode(n)
                )
            }
            RawPublic::Ec(point) => {
                let (x, y) = ec_coordinates(point);
                format!(
                    r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
                    self.inner.alg.curve().unwrap_or_default(),
                    b64::encode(x),
                    b64::encode(y)
                )
            }
            RawPublic::Ed25519(pk) => {
                format!(
                    r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
                    b64::encode(pk)
                )
            }
        };
        Some(b64::encode(
            digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref(),
        ))
    }

    /// The public key as a JWK (`use: sig`, with `alg` and `kid`), or `None` for an HMAC key,
    /// whose secret is never exported.
    #[must_use]
    pub fn to_jwk(&self) -> Option<super::jwk::Jwk> {
        let (alg, kid) = (self.inner.alg, self.inner.kid.clone());
        let Public::Asymmetric(key) = &self.inner.material else {
            return None;
        };
        let jwk = match key.raw() {
            RawPublic::Rsa { n, e } => super::jwk::Jwk::rsa(alg, kid, n, e),
            RawPublic::Ec(point) => {
                let (x, y) = ec_coordinates(point);
                super::jwk::Jwk::ec(alg, kid, x, y)
            }
            RawPublic::Ed25519(pk) => super::jwk::Jwk::okp(alg, kid, pk),
        };
        Some(jwk)
    }

    /// The public key as DER SubjectPublicKeyInfo, or `None` for an HMAC key.
    #[must_use]
    pub fn to_spki_der(&self) -> Option<Vec<u8>> {
        let Public::Asymmetric(public) = &self.inner.material else {
            return None;
        };
        let rsa;
        let key = match (public.raw(), self.inner.alg) {
            (RawPublic::Rsa { n, e }, _) => {
                rsa = der::encode_rsa_public_key(n, e);
                der::SpkiKey::Rsa(&rsa)
            }
            (RawPublic::Ec(p), Algorithm::ES256) => der::SpkiKey::P256(p),
            #[cfg(any(feature = "aws-lc-rs", feature = "fips"))]
            (RawPublic::Ec(p), Algorithm::ES512) => der::SpkiKey::P521(p),
            (RawPublic::Ec(p), _) => der::SpkiKey::P384(p),
            (RawPublic::Ed25519(pk), _) => der::SpkiKey::Ed25519(pk),
        };
        Some(der::encode_spki(&key))
    }

    /// The public key as a `PUBLIC KEY` PEM block, or `None` for an HMAC key.
    #[must_use]
    pub fn to_public_pem(&self) -> Option<String> {
        self.to_spki_der()
            .map(|der| pem::encode("PUBLIC KEY", &der).to_string())
    }
}

/// A private (or, for HMAC, secret) key bound to one algorithm, used to sign tokens.
///
/// Not `Clone`: a signing key is loaded once and shared by reference or `Arc`. `Debug` shows
/// the algorithm and `kid`, never key bytes.
///
/// # What happens to the key material
/// Every copy this crate makes while loading (PEM text, decoded DER, JWK members, generated
/// PKCS#8) is zeroized when dropped. The parsed key lives in the backend's types:
/// - **`ring`** (the default): `hmac::Key`, `RsaKeyPair`, `EcdsaKeyPair` and
///   `Ed25519KeyPair` are plain Rust values that `ring` does not zeroize on drop, and this
///   crate forbids the `unsafe` it would take to do it for them. Key bytes stay in freed
///   memory until it is reused.
/// - **`aws-lc-rs`** (and `fips`): RSA, EC and Ed25519 keys are AWS-LC objects, and AWS-LC's
///   `OPENSSL_free` overwrites every allocation with zeros before freeing it (unless the
///   application installs its own allocator hooks); an HMAC key's context is zeroed in place
///   by `HMAC_CTX_cleanup` when dropped. Copies a move made earlier (the HMAC context is a
///   Rust value) are not.
///
/// Either way, load signing keys once and keep them for the life of the process rather than
/// re-creating them per request.
pub struct SigningKey {
    alg: Algorithm,
    kid: Option<String>,
    material: Signer,
    /// `base64url({"alg":..,"typ":"at+jwt","kid":..})`, encoded once.
    at_jwt_header: String,
}

/// A key pair as loaded, before `SigningKey::build` derives its public half.
#[allow(clippy::large_enum_variant)] // as `Public`
enum Private {
    Hmac(hmac::Key),
    Rsa(signature::RsaKeyPair),
    Ec(signature::EcdsaKeyPair),
    Ed25519(signature::Ed25519KeyPair),
}

/// A loaded key: the HMAC secret, or a key pair with its public half (derived once, at load;
/// an HMAC key's verification key is a copy of the secret, made only when asked for).
#[allow(clippy::large_enum_variant)] // as `Public`
enum Signer {
    Hmac(hmac::Key),
    Rsa(signature::RsaKeyPair, crypto::PublicKey),
    Ec(signature::EcdsaKeyPair, crypto::PublicKey),
    Ed25519(signature::Ed25519KeyPair, crypto::PublicKey),
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .field("key", &"[redacted]")
            .finish()
    }
}

impl SigningKey {
    /// Wrap `material`; an asymmetric key must pass a self-test (sign a fixed message and
    /// verify it with its own public key). `ring` checks parts of some private keys only when
    /// signing (an RSA key's CRT exponents, for instance): a key that cannot sign is rejected
    /// here, at load, not at the first token issuance.
    fn build(alg: Algorithm, material: Private) -> Result<Self, KeyError> {
        // The public half, from the pair itself (an EC point the backend produced needs no
        // import check).
        let material = match material {
            Private::Hmac(k) => Signer::Hmac(k),
            Private::Rsa(pair) => {
                let (n, e) = crypto::rsa_public(&pair);
                let public = rsa_public(alg, &n, &e)?;
                Signer::Rsa(pair, public)
            }
            Private::Ec(pair) => {
                let point = pair.public_key().as_ref();
                let public = ec_public(alg, point, PointCheck::AtUse)?;
                Signer::Ec(pair, public)
            }
            Private::Ed25519(pair) => {
                let public = ed25519_public(pair.public_key().as_ref())?;
                Signer::Ed25519(pair, public)
            }
        };
        let mut key = Self {
            alg,
            kid: None,
            material,
            at_jwt_header: String::new(),
        };
        if !alg.is_symmetric() {
            const PROBE: &[u8] = b"token-engine signing key self-test";
            let public = key.verifying_key();
            let sig = key.sign(PROBE).map_err(|_| KeyError::Rejected)?;
            public.verify(PROBE, &sig).map_err(|_| KeyError::Rejected)?;
            // Asymmetric keys get their RFC 7638 thumbprint as kid unless told otherwise.
            key.kid = public.thumbprint();
        }
        key.at_jwt_header = super::jws::encode_header(alg, Some("at+jwt"), key.kid.as_deref());
        Ok(key)
    }

    /// An HMAC signing key from a secret at least as long as the hash output (RFC 7518 §3.2).
    pub fn hmac(alg: Algorithm, secret: &[u8]) -> Result<Self, KeyError> {
        Self::build(alg, Private::Hmac(hmac_key(alg, secret)?))
    }

    /// A private key from PKCS#8 DER (what `openssl genpkey` writes), bound to `alg`.
    ///
    /// RSA keys must be 2048..=4096 bits for signing with `ring` (its limit; public exponent
    /// at least 65537), 2048..=8192 with `aws-lc-rs`; Ed25519 accepts PKCS#8 v1 (no public
    /// key, as OpenSSL writes) and v2.
    ///
    /// A key that does not fit `alg` is refused with the reason: [`KeyError::WrongKeyType`]
    /// (an RSA key for `ES256`), [`KeyError::CurveMismatch`] (an Ed25519 or P-384 key for
    /// `ES256`), [`KeyError::WeakKey`] (RSA under 2048 bits), [`KeyError::UnsupportedCurve`]
    /// (secp256k1, Ed448, P-521 with `ring`), [`KeyError::NotASigningKey`] (X25519);
    /// [`KeyError::Rejected`] remains for a key the crypto library finds inconsistent.
    pub fn from_pkcs8_der(alg: Algorithm, pkcs8: &[u8]) -> Result<Self, KeyError> {
        if let Family::Hmac(_) = alg.family() {
            return Err(KeyError::WrongKeyType);
        }
        check_kind(alg, der::pkcs8_kind(pkcs8)?)?;
        let material = match alg.family() {
            Family::Hmac(_) => return Err(KeyError::WrongKeyType),
            Family::Rsa => Private::Rsa(crypto::rsa_from_pkcs8(pkcs8)?),
            Family::Ec => {
                let sign_alg = alg.ecdsa_sign().ok_or(KeyError::WrongKeyType)?;
                Private::Ec(crypto::ecdsa_from_pkcs8(sign_alg, pkcs8)?)
            }
            Family::Ed25519 => Private::Ed25519(crypto::ed25519_from_pkcs8(pkcs8)?),
        };
        Self::build(alg, material)
    }

    /// An Ed25519 key (`alg: EdDSA`) from PKCS#8 DER.
    pub fn ed25519_from_pkcs8(pkcs8: &[u8]) -> Result<Self, KeyError> {
        Self::from_pkcs8_der(Algorithm::EdDSA, pkcs8)
    }

    /// A private key from PEM, read the way tools write it: `PRIVATE KEY` (PKCS#8) for every
    /// type, `RSA PRIVATE KEY` (PKCS#1) and `EC PRIVATE KEY` (SEC1, with its curve, as
    /// `openssl ecparam -genkey` writes it). The one private key is picked out of a file that
    /// also holds certificates (in either order), `EC PARAMETERS`, or the `Bag Attributes`
    /// lines of `openssl pkcs12 -nodes`.
    ///
    /// Refused with the reason: [`KeyError::Encrypted`] (decrypt it first),
    /// [`KeyError::AmbiguousPem`] (several private keys), [`KeyError::PemLabel`] (no private
    /// key, or one in another format such as `OPENSSH PRIVATE KEY`), and the reasons of
    /// [`SigningKey::from_pkcs8_der`] when the key does not fit `alg`.
    pub fn from_pem(alg: Algorithm, pem_text: &str) -> Result<Self, KeyError> {
        let (label, der) = pem::private_key(pem_text)?;
        match label {
            "PRIVATE KEY" => Self::from_pkcs8_der(alg, &der),
            "RSA PRIVATE KEY" => {
                let (n, e) = der::rsa_private_modulus_and_exponent(&der)?;
                check_kind(alg, der::PrivateKind::Rsa { bits: 0 })?;
                check_rsa(n, e)?;
                Self::build(alg, Private::Rsa(crypto::rsa_from_pkcs1(&der)?))
            }
            "EC PRIVATE KEY" => {
                let key = der::parse_sec1(&der)?;
                check_kind(alg, der::PrivateKind::Ec(key.curve))?;
                // ring needs the public point; OpenSSL always writes it.
                let point = key.point.ok_or(KeyError::Der)?;
                Self::ec_from_private(alg, key.d, point)
            }
            _ => Err(KeyError::PemLabel),
        }
    }

    pub(crate) fn rsa_from_components(
        alg: Algorithm,
        components: &crypto::rsa::KeyPairComponents<&[u8], &[u8]>,
    ) -> Result<Self, KeyError> {
        if alg.family() != Family::Rsa {
            return Err(KeyError::WrongKeyType);
        }
        check_rsa(components.public_key.n, components.public_key.e)?;
        let pair = crypto::rsa_from_components(components)?;
        Self::build(alg, Private::Rsa(pair))
    }

    pub(crate) fn ec_from_private(
        alg: Algorithm,
        d: &[u8],
        point: &[u8],
    ) -> Result<Self, KeyError> {
        let sign_alg = alg.ecdsa_sign().ok_or(KeyError::WrongKeyType)?;
        let pair = crypto::ecdsa_from_private(sign_alg, d, point)?;
        Self::build(alg, Private::Ec(pair))
    }

    pub(crate) fn ed25519_from_seed(
        alg: Algorithm,
        seed: &[u8],
        pk: &[u8],
    ) -> Result<Self, KeyError> {
        if alg.family() != Family::Ed25519 {
            return Err(KeyError::WrongKeyType);
        }
        let pair = crypto::ed25519_from_seed(seed, pk)?;
        Self::build(alg, Private::Ed25519(pair))
    }

    /// Generate a fresh key for `alg` with the system RNG. Returns the key and its document
    /// (PKCS#8 DER for asymmetric keys, the raw secret for HMAC) to store somewhere safe.
    ///
    /// RSA generation needs the `aws-lc-rs` backend, where it makes a 3072-bit key (see
    /// `SigningKey::generate_rsa` for another size). With `ring`, which cannot generate RSA
    /// keys, it is [`KeyError::Unsupported`]: generate one with `openssl genpkey -algorithm
    /// RSA -pkeyopt rsa_keygen_bits:3072` and load the PEM.
    pub fn generate(alg: Algorithm) -> Result<(Self, KeyDocument), Error> {
        let bytes = match alg.family() {
            Family::Hmac(h) => {
                let mut secret = Zeroizing::new(vec![0u8; h.digest_algorithm().output_len()]);
                crypto::fill_random(&mut secret)?;
                let key = Self::hmac(alg, &secret)?;
                return Ok((
                    key,
                    KeyDocument {
                        alg,
                        bytes: secret,
                        pkcs8: false,
                    },
                ));
            }
            #[cfg(any(feature = "aws-lc-rs", feature = "fips"))]
            Family::Rsa => return Self::generate_rsa(alg, 3072),
            #[cfg(not(any(feature = "aws-lc-rs", feature = "fips")))]
            Family::Rsa => return Err(KeyError::Unsupported.into()),
            Family::Ec => {
                crypto::ecdsa_generate_pkcs8(alg.ecdsa_sign().ok_or(KeyError::Unsupported)?)?
            }
            Family::Ed25519 => crypto::ed25519_generate_pkcs8()?,
        };
        Self::from_generated(alg, bytes)
    }

    /// Generate a fresh RSA key of `bits` (2048, 3072 or 4096) for an RSA algorithm (`RS*`,
    /// `PS*`), with its PKCS#8 document. Only with the `aws-lc-rs` backend; other sizes are
    /// [`KeyError::RsaKeySize`], other algorithms [`KeyError::WrongKeyType`].
    #[cfg(any(feature = "aws-lc-rs", feature = "fips"))]
    #[cfg_attr(docsrs, doc(cfg(any(feature = "aws-lc-rs", feature = "fips"))))]
    pub fn generate_rsa(alg: Algorithm, bits: u32) -> Result<(Self, KeyDocument), Error> {
        if alg.family() != Family::Rsa {
            return Err(KeyError::WrongKeyType.into());
        }
        Self::from_generated(alg, crypto::rsa_generate_pkcs8(bits)?)
    }

    fn from_generated(
        alg: Algorithm,
        bytes: Zeroizing<Vec<u8>>,
    ) -> Result<(Self, KeyDocument), Error> {
        let key = Self::from_pkcs8_der(alg, &bytes)?;
        Ok((
            key,
            KeyDocument {
                alg,
                bytes,
                pkcs8: true,
            },
        ))
    }

    /// The same key with this `kid` (replacing the default: the RFC 7638 thumbprint for
    /// asymmetric keys, none for HMAC).
    #[must_use]
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(kid.into());
        self.at_jwt_header =
            super::jws::encode_header(self.alg, Some("at+jwt"), self.kid.as_deref());
        self
    }

    /// The algorithm this key is bound to (and names in the tokens it signs).
    #[must_use]
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The key id written into token headers.
    #[must_use]
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The matching verification key (for HMAC, a copy of the secret).
    #[must_use]
    pub fn verifying_key(&self) -> VerifyingKey {
        let material = match &self.material {
            Signer::Hmac(k) => Public::Hmac(k.clone()),
            Signer::Rsa(_, public) | Signer::Ec(_, public) | Signer::Ed25519(_, public) => {
                Public::Asymmetric(public.clone())
            }
        };
        VerifyingKey::with_parts(self.alg, self.kid.clone(), material)
    }

    pub(crate) fn at_jwt_header(&self) -> &str {
        &self.at_jwt_header
    }

    /// Sign `message`, appending the signature to `out`.
    pub fn sign_into(&self, message: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        if let Signer::Rsa(pair, _) = &self.material {
            let padding = self
                .alg
                .rsa_sign()
                .ok_or(Error::Crypto("not an RSA algorithm"))?;
            let start = out.len();
            out.resize(start + crypto::rsa_signature_len(pair), 0);
            let dest = out.get_mut(start..).unwrap_or_default();
            crypto::rsa_sign(pair, padding, message, dest)?;
        } else {
            out.extend_from_slice(self.sign_to_stack(message)?.as_bytes());
        }
        Ok(())
    }

    /// Sign `message`, keeping the signature on the stack for every algorithm but RSA (whose
    /// signature [`Self::sign_into`] writes to the heap).
    pub(crate) fn sign_to_stack(&self, message: &[u8]) -> Result<Signature, Error> {
        let small = |sig: &[u8]| {
            let mut buf = [0u8; MAX_STACK_SIGNATURE];
            match buf.get_mut(..sig.len()) {
                Some(dest) => {
                    dest.copy_from_slice(sig);
                    Signature::Stack(buf, sig.len())
                }
                None => Signature::Heap(sig.to_vec()),
            }
        };
        Ok(match &self.material {
            Signer::Hmac(k) => small(hmac::sign(k, message).as_ref()),
            Signer::Ed25519(pair, _) => small(pair.sign(message).as_ref()),
            Signer::Ec(pair, _) => small(crypto::ecdsa_sign(pair, message)?.as_ref()),
            Signer::Rsa(..) => {
                let mut out = Vec::with_capacity(512);
                self.sign_into(message, &mut out)?;
                Signature::Heap(out)
            }
        })
    }

    /// Sign `message` and return the signature bytes.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
        let mut out = Vec::with_capacity(512);
        self.sign_into(message, &mut out)?;
        Ok(out)
    }
}

/// The longest signature kept on the stack: ES512's 132 bytes (HMAC tags are at most 64,
/// Ed25519 signatures 64).
const MAX_STACK_SIGNATURE: usize = 132;

/// A signature: on the stack (HMAC, ECDSA, Ed25519) or, for RSA, on the heap.
pub(crate) enum Signature {
    Stack([u8; MAX_STACK_SIGNATURE], usize),
    Heap(Vec<u8>),
}

impl Signature {
    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            Signature::Stack(buf, n) => buf.get(..*n).unwrap_or_default(),
            Signature::Heap(v) => v,
        }
    }
}

/// The stored form of a generated key: PKCS#8 DER for asymmetric keys, the raw secret for
/// HMAC. Zeroized on drop; `Debug` is redacted.
pub struct KeyDocument {
    alg: Algorithm,
    bytes: Zeroizing<Vec<u8>>,
    pkcs8: bool,
}

impl zeroize::ZeroizeOnDrop for KeyDocument {}

impl fmt::Debug for KeyDocument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyDocument({}, [redacted])", self.alg)
    }
}

impl KeyDocument {
    /// The algorithm the key was generated for.
    #[must_use]
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The raw bytes: PKCS#8 DER, or the HMAC secret.
    #[must_use]
    pub fn expose_secret(&self) -> &[u8] {
        &self.bytes
    }

    /// `-----BEGIN PRIVATE KEY-----` PEM for asymmetric keys, `None` for HMAC secrets (use
    /// [`KeyDocument::to_base64url`]).
    #[must_use]
    pub fn to_pem(&self) -> Option<Zeroizing<String>> {
        self.pkcs8.then(|| pem::encode("PRIVATE KEY", &self.bytes))
    }

    /// The bytes as base64url, for environment variables.
    #[must_use]
    pub fn to_base64url(&self) -> Zeroizing<String> {
        Zeroizing::new(b64::encode(&self.bytes))
    }
}
