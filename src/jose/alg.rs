//! JWS algorithms (RFC 7518 §3, RFC 8037, RFC 9864) and their primitives in the backend.

use core::fmt;

use crate::crypto::{hmac, signature};

/// A JWS signature algorithm. A key is bound to exactly one for its whole life.
///
/// `ES512` (P-521) exists only with the `aws-lc-rs` backend (feature `aws-lc-rs` or `fips`):
/// `ring` has no P-521. In a `ring` build, tokens naming `ES512` fail with
/// [`TokenError::UnsupportedAlgorithm`](crate::TokenError::UnsupportedAlgorithm) and P-521
/// keys with [`KeyError::UnsupportedCurve`](crate::KeyError::UnsupportedCurve).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// HMAC with SHA-256.
    HS256,
    /// HMAC with SHA-384.
    HS384,
    /// HMAC with SHA-512.
    HS512,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (2048..=8192-bit keys).
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256 and MGF1 with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384 and MGF1 with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512 and MGF1 with SHA-512.
    PS512,
    /// ECDSA on P-256 with SHA-256, signature as `r || s`.
    ES256,
    /// ECDSA on P-384 with SHA-384, signature as `r || s`.
    ES384,
    /// ECDSA on P-521 with SHA-512, signature as `r || s` (66 bytes each). Only with the
    /// `aws-lc-rs` backend.
    #[cfg(any(feature = "aws-lc-rs", feature = "fips"))]
    #[cfg_attr(docsrs, doc(cfg(any(feature = "aws-lc-rs", feature = "fips"))))]
    ES512,
    /// Ed25519 under the polymorphic name `EdDSA` (RFC 8037), emitted by default for
    /// compatibility. A key with this algorithm also accepts tokens naming `Ed25519`.
    EdDSA,
    /// Ed25519 under its fully-specified name (RFC 9864). A key with this algorithm also
    /// accepts tokens naming `EdDSA`.
    Ed25519,
}

/// The kind of key an algorithm needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Family {
    Hmac(hmac::Algorithm),
    Rsa,
    Ec,
    Ed25519,
}

impl Algorithm {
    /// Every algorithm both backends support (what a `ring` build supports). A build with
    /// `aws-lc-rs` also has `Algorithm::ES512`: see [`Algorithm::available`].
    pub const ALL: [Algorithm; 13] = [
        Algorithm::HS256,
        Algorithm::HS384,
        Algorithm::HS512,
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
        Algorithm::Ed25519,
    ];

    /// Every algorithm this build supports: [`Algorithm::ALL`], and `ES512` with the
    /// `aws-lc-rs` backend.
    #[must_use]
    pub fn available() -> &'static [Algorithm] {
        #[cfg(any(feature = "aws-lc-rs", feature = "fips"))]
        {
            // `ALL` and ES512, so the two lists cannot drift apart. Indexing in a const
            // initializer is checked at compile time.
            #[allow(clippy::indexing_slicing)]
            const AVAILABLE: [Algorithm; 14] = {
                let mut all = [Algorithm::ES512; 14];
                let mut i = 0;
                while i < Algorithm::ALL.len() {
                    all[i] = Algorithm::ALL[i];
                    i += 1;
                }
                all
            };
            &AVAILABLE
        }
        #[cfg(not(any(feature = "aws-lc-rs", feature = "fips")))]
        {
            &Self::ALL
        }
    }

    /// The `alg` header value.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Algorithm::HS256 => "HS256",
            Algorithm::HS384 => "HS384",
            Algorithm::HS512 => "HS512",
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::PS256 => "PS256",
            Algorithm::PS384 => "PS384",
            Algorithm::PS512 => "PS512",
            Algorithm::ES256 => "ES256",
            Algorithm::ES384 => "ES384",
            #[cfg(any(feature = "aws-lc-rs", feature = "fips"))]
            Algorithm::ES512 => "ES512",
            Algorithm::EdDSA => "EdDSA",
            Algorithm::Ed25519 => "Ed25519",
        }
    }

    /// The algorithm with this exact (case-sensitive) `alg` name, if supported.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::from_name_bytes(name.as_bytes())
    }

    /// [`from_name`](Self::from_name) of a name given as its bytes.
    #[must_use]
    pub(crate) fn from_name_bytes(name: &[u8]) -> Option<Self> {
        Self::available()
            .iter()
            .copied()
            .find(|a| a.name().as_bytes() == name)
    }

    /// Whether a token whose header says `alg` may be verified by a key bound to `self`.
    /// Exact match, except that the two names of Ed25519 accept each other.
    #[inline]
    #[must_use]
    pub fn accepts(self, alg: &str) -> bool {
        self.accepts_bytes(alg.as_bytes())
    }

    /// [`accepts`](Self::accepts) of a name given as its bytes.
    #[inline]
    pub(crate) fn accepts_bytes(self, alg: &[u8]) -> bool {
        match self {
            Algorithm::EdDSA | Algorithm::Ed25519 => alg == b"EdDSA" || alg == b"Ed25519",
            _ => alg == self.name().as_bytes(),
        }
    }

    pub(crate) fn family(self) -> Family {
        match self {
            Algorithm::HS256 => Family::Hmac(hmac::HMAC_SHA256),
            Algorithm::HS384 => Family::Hmac(hmac::HMAC_SHA384),
            Algorithm::HS512 => Family::Hmac(hmac::HMAC_SHA512),
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => Family::Rsa,
            Algorithm::ES256 | Algorithm::ES384 => Family::Ec,
            #[cfg(any(feature = "aws-lc-rs", feature = "fips"))]
            Algorithm::ES512 => Family::Ec,
            Algorithm::EdDSA | Algorithm::Ed25519 => Family::Ed25519,
        }
    }

    /// Whether this is an HMAC algorithm (the verification key is the secret).
    #[must_use]
    pub fn is_symmetric(self) -> bool {
        matches!(self.family(), Family::Hmac(_))
    }

    pub(crate) fn rsa_verify(self) -> Option<&'static signature::RsaParameters> {
        Some(match self {
            Algorithm::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            Algorithm::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
            Algorithm::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
            Algorithm::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
            Algorithm::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
            Algorithm::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
            _ => return None,
        })
    }

    pub(crate) fn rsa_sign(self) -> Option<&'static dyn signature::RsaEncoding> {
        Some(match self {
            Algorithm::RS256 => &signature::RSA_PKCS1_SHA256,
            Algorithm::RS384 => &signature::RSA_PKCS1_SHA384,
            Algorithm::RS512 => &signature::RSA_PKCS1_SHA512,
            Algorithm::PS256 => &signature::RSA_PSS_SHA256,
            Algorithm::PS384 => &signature::RSA_PSS_SHA384,
            Algorithm::PS512 => &signature::RSA_PSS_SHA512,
            _ => return None,
        })
    }

    pub(crate) fn ecdsa_verify(self) -> Option<&'static signature::EcdsaVerificationAlgorithm> {
        match self {
            Algorithm::ES256 => Some(&signature::ECDSA_P256_SHA256_FIXED),
            Algorithm::ES384 => Some(&signature::ECDSA_P384_SHA384_FIXED),
            #[cfg(any(feature = "aws-lc-rs", feature = "fips"))]
            Algorithm::ES512 => Some(&signature::ECDSA_P521_SHA512_FIXED),
            _ => None,
        }
    }

    pub(crate) fn ecdsa_sign(self) -> Option<&'static signature::EcdsaSigningAlgorithm> {
        match self {
            Algorithm::ES256 => Some(&signature::ECDSA_P256_SHA256_FIXED_SIGNING),
            Algorithm::ES384 => Some(&signature::ECDSA_P384_SHA384_FIXED_SIGNING),
            #[cfg(any(feature = "aws-lc-rs", feature = "fips"))]
            Algorithm::ES512 => Some(&signature::ECDSA_P521_SHA512_FIXED_SIGNING),
            _ => None,
        }
    }

    /// The JWK `crv` of an EC or OKP algorithm.
    pub(crate) fn curve(self) -> Option<&'static str> {
        match self {
            Algorithm::ES256 => Some("P-256"),
            Algorithm::ES384 => Some("P-384"),
            #[cfg(any(feature = "aws-lc-rs", feature = "fips"))]
            Algorithm::ES512 => Some("P-521"),
            Algorithm::EdDSA | Algorithm::Ed25519 => Some("Ed25519"),
            _ => None,
        }
    }

    /// Length of an uncompressed EC point for this algorithm's curve.
    pub(crate) fn ec_point_len(self) -> Option<usize> {
        match self {
            Algorithm::ES256 => Some(65),
            Algorithm::ES384 => Some(97),
            #[cfg(any(feature = "aws-lc-rs", feature = "fips"))]
            Algorithm::ES512 => Some(133),
            _ => None,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_case_sensitive() {
        for &alg in Algorithm::available() {
            assert_eq!(Algorithm::from_name(alg.name()), Some(alg));
        }
        for bad in ["none", "NONE", "hs256", "es512", "ES521", "RS1", ""] {
            assert_eq!(Algorithm::from_name(bad), None);
        }
        // ES512 exactly when the backend has P-521.
        assert_eq!(
            Algorithm::from_name("ES512").is_some(),
            cfg!(any(feature = "aws-lc-rs", feature = "fips"))
        );
        assert_eq!(
            Algorithm::available().len(),
            if cfg!(any(feature = "aws-lc-rs", feature = "fips")) {
                14
            } else {
                13
            }
        );
    }

    #[test]
    fn only_the_ed25519_names_accept_each_other() {
        assert!(Algorithm::EdDSA.accepts("Ed25519"));
        assert!(Algorithm::Ed25519.accepts("EdDSA"));
        assert!(!Algorithm::RS256.accepts("PS256"));
        assert!(!Algorithm::HS256.accepts("HS384"));
        assert!(!Algorithm::ES256.accepts("none"));
    }
}
