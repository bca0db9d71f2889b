//! JSON Web Keys (RFC 7517, RFC 7518 §6, RFC 8037): import of single keys and key sets with
//! the checks Wycheproof expects, and export of public keys.
//!
//! Import rules, in order: `use` must be `sig` when present and `key_ops` must allow the
//! operation; the algorithm comes from `alg`, or for EC/OKP keys from `crv` (never from a
//! token); `alg` must fit `kty`/`crv`; members are strict base64url; RSA keys are 2048..=8192
//! bits with a sane exponent; EC points are checked to be on the curve. A key *set* is rejected
//! as a whole when it is ambiguous: duplicate `kid`, secret keys mixed with public keys,
//! private members in a public set, or more keys than the limit. Keys a set holds that this
//! crate cannot use (other types, encryption keys) are skipped and reported, as RFC 7517 §5
//! asks.

use core::fmt;

use core::cell::Cell;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::alg::{Algorithm, Family};
use super::b64;
use super::json::deserialize_object;
use super::key::{SigningKey, VerifyingKey};
use crate::error::KeyError;

/// A public JSON Web Key, as exported in a JWKS. Holds no private members by construction.
///
/// Deserializes from a JSON object only (RFC 7517 §4), ignoring members it does not hold.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Jwk {
    /// Key type: `RSA`, `EC` or `OKP`.
    pub kty: String,
    /// Always `sig` for keys this crate exports.
    #[serde(rename = "use", skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
    /// The algorithm the key is bound to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// Key id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// Curve (`P-256`, `P-384`, `Ed25519`; `P-521` with `aws-lc-rs`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// EC x coordinate or OKP public key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// EC y coordinate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// RSA modulus.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// RSA public exponent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
}

/// [`Jwk`]'s members, for its object-only `Deserialize`.
#[derive(Deserialize)]
#[serde(remote = "Jwk")]
struct JwkMembers {
    kty: String,
    #[serde(rename = "use")]
    use_: Option<String>,
    alg: Option<String>,
    kid: Option<String>,
    crv: Option<String>,
    x: Option<String>,
    y: Option<String>,
    n: Option<String>,
    e: Option<String>,
}

deserialize_object!(Jwk, JwkMembers::deserialize);

impl Jwk {
    fn base(kty: &str, alg: Algorithm, kid: Option<String>) -> Self {
        Self {
            kty: kty.to_owned(),
            use_: Some("sig".to_owned()),
            alg: Some(alg.name().to_owned()),
            kid,
            crv: None,
            x: None,
            y: None,
            n: None,
            e: None,
        }
    }

    pub(crate) fn rsa(alg: Algorithm, kid: Option<String>, n: &[u8], e: &[u8]) -> Self {
        Self {
            n: Some(b64::encode(n)),
            e: Some(b64::encode(e)),
            ..Self::base("RSA", alg, kid)
        }
    }

    pub(crate) fn ec(alg: Algorithm, kid: Option<String>, x: &[u8], y: &[u8]) -> Self {
        Self {
            crv: alg.curve().map(str::to_owned),
            x: Some(b64::encode(x)),
            y: Some(b64::encode(y)),
            ..Self::base("EC", alg, kid)
        }
    }

    pub(crate) fn okp(alg: Algorithm, kid: Option<String>, x: &[u8]) -> Self {
        Self {
            crv: Some("Ed25519".to_owned()),
            x: Some(b64::encode(x)),
            ..Self::base("OKP", alg, kid)
        }
    }
}

/// A JWK Set document (`{"keys": [...]}`) of public keys, as served at `jwks_uri`.
///
/// Deserializes from a JSON object only (RFC 7517 §5), as do its keys. To import a set as
/// verification keys, with the checks that takes, use [`Jwks::parse`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct JwkSet {
    /// The keys.
    pub keys: Vec<Jwk>,
}

/// [`JwkSet`]'s members, for its object-only `Deserialize`.
#[derive(Deserialize)]
#[serde(remote = "JwkSet")]
struct JwkSetMembers {
    keys: Vec<Jwk>,
}

deserialize_object!(JwkSet, JwkSetMembers::deserialize);

/// A private JWK member (`d`, `p`, `k`, ...): zeroized on drop, never printed.
#[derive(Default)]
struct Secret(Zeroizing<String>);

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Secret(Zeroizing::new(String::deserialize(d)?)))
    }
}

impl Secret {
    fn decode(&self) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        b64::decode(&self.0)
            .map(Zeroizing::new)
            .ok_or(KeyError::JwkFormat)
    }
}

/// Every member the importer looks at. Unknown members (`x5c`, `x5t`, ...) are ignored;
/// duplicate members are a parse error; anything but a JSON object is a parse error.
///
/// Parse it through the `Deserialize` trait: the inherent `RawJwk::deserialize` that serde's
/// remote derive generates also takes the positional form.
#[derive(Deserialize, Default)]
#[serde(default, remote = "Self")]
struct RawJwk {
    kty: String,
    #[serde(rename = "use")]
    use_: Option<String>,
    key_ops: Option<Vec<String>>,
    alg: Option<String>,
    kid: Option<String>,
    crv: Option<String>,
    x: Option<String>,
    y: Option<String>,
    n: Option<String>,
    e: Option<String>,
    d: Option<Secret>,
    p: Option<Secret>,
    q: Option<Secret>,
    dp: Option<Secret>,
    dq: Option<Secret>,
    qi: Option<Secret>,
    k: Option<Secret>,
    oth: Option<de::IgnoredAny>,
}

deserialize_object!(RawJwk, RawJwk::deserialize);

impl fmt::Debug for RawJwk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawJwk")
            .field("kty", &self.kty)
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Sign,
    Verify,
}

fn member(v: &Option<String>) -> Result<Vec<u8>, KeyError> {
    v.as_deref()
        .and_then(b64::decode)
        .ok_or(KeyError::JwkFormat)
}

impl RawJwk {
    fn has_private_members(&self) -> bool {
        self.d.is_some()
            || self.p.is_some()
            || self.q.is_some()
            || self.dp.is_some()
            || self.dq.is_some()
            || self.qi.is_some()
            || self.oth.is_some()
    }

    fn check_use(&self, op: Op) -> Result<(), KeyError> {
        if self.use_.as_deref().is_some_and(|u| u != "sig") {
            return Err(KeyError::KeyUse);
        }
        if let Some(ops) = &self.key_ops {
            for (i, o) in ops.iter().enumerate() {
                if ops.iter().skip(i + 1).any(|other| other == o) {
                    return Err(KeyError::JwkFormat); // RFC 7517 §4.3: no duplicates
                }
            }
            let wanted = if op == Op::Sign { "sign" } else { "verify" };
            if !ops.iter().any(|o| o == wanted) {
                return Err(KeyError::KeyUse);
            }
        }
        Ok(())
    }

    /// The algorithm this key is bound to: its `alg`, or the one its curve implies. A failure
    /// names its cause, checked in this order: the key type, the curve, the algorithm.
    fn algorithm(&self, default_rsa: Option<Algorithm>) -> Result<Algorithm, KeyError> {
        let curve = match (self.kty.as_str(), self.crv.as_deref()) {
            ("RSA" | "oct", _) => None,
            ("EC", Some(c @ ("P-256" | "P-384"))) | ("OKP", Some(c @ "Ed25519")) => Some(c),
            #[cfg(any(feature = "aws-lc-rs", feature = "fips"))]
            ("EC", Some(c @ "P-521")) => Some(c),
            ("EC" | "OKP", Some(_)) => return Err(KeyError::UnsupportedCurve),
            // `crv` is required for both (RFC 7518 §6.2.1.1, RFC 8037 §2).
            ("EC" | "OKP", None) => return Err(KeyError::JwkFormat),
            _ => return Err(KeyError::UnsupportedKeyType),
        };
        let alg = match (self.alg.as_deref(), self.kty.as_str(), curve) {
            (Some(name), _, _) => {
                Algorithm::from_name(name).ok_or(KeyError::UnsupportedAlgorithm)?
            }
            (None, "EC", Some("P-256")) => Algorithm::ES256,
            (None, "EC", Some("P-384")) => Algorithm::ES384,
            #[cfg(any(feature = "aws-lc-rs", feature = "fips"))]
            (None, "EC", Some("P-521")) => Algorithm::ES512,
            (None, "OKP", Some("Ed25519")) => Algorithm::EdDSA,
            (None, "RSA", _) => default_rsa.ok_or(KeyError::MissingAlgorithm)?,
            (None, _, _) => return Err(KeyError::MissingAlgorithm),
        };
        let fits = match alg.family() {
            Family::Hmac(_) => self.kty == "oct",
            Family::Rsa => self.kty == "RSA",
            Family::Ec => self.kty == "EC" && curve == alg.curve(),
            Family::Ed25519 => self.kty == "OKP" && curve == alg.curve(),
        };
        if fits {
            Ok(alg)
        } else {
            Err(KeyError::AlgorithmMismatch)
        }
    }

    fn ec_point(&self, alg: Algorithm) -> Result<Vec<u8>, KeyError> {
        let (x, y) = (member(&self.x)?, member(&self.y)?);
        let coord = alg.ec_point_len().unwrap_or(1) / 2;
        if x.len() != coord || y.len() != coord {
            return Err(KeyError::PointEncoding);
        }
        Ok([&[4u8][..], &x, &y].concat())
    }

    fn verifying_key(&self, default_rsa: Option<Algorithm>) -> Result<VerifyingKey, KeyError> {
        self.check_use(Op::Verify)?;
        let alg = self.algorithm(default_rsa)?;
        if self.has_private_members() {
            return Err(KeyError::MixedKeySet);
        }
        let key = match alg.family() {
            Family::Hmac(_) => {
                let k = self.k.as_ref().ok_or(KeyError::JwkFormat)?.decode()?;
                VerifyingKey::hmac(alg, &k)?
            }
            Family::Rsa => {
                VerifyingKey::rsa_from_components(alg, &member(&self.n)?, &member(&self.e)?)?
            }
            Family::Ec => VerifyingKey::from_raw(alg, &self.ec_point(alg)?)?,
            Family::Ed25519 => VerifyingKey::from_raw(alg, &member(&self.x)?)?,
        };
        Ok(match &self.kid {
            Some(kid) => key.with_kid(kid.clone()),
            None => key,
        })
    }

    fn signing_key(&self) -> Result<SigningKey, KeyError> {
        self.check_use(Op::Sign)?;
        let alg = self.algorithm(None)?;
        let secret = |s: &Option<Secret>| s.as_ref().ok_or(KeyError::JwkFormat)?.decode();
        let key = match alg.family() {
            Family::Hmac(_) => SigningKey::hmac(alg, &secret(&self.k)?)?,
            Family::Rsa => {
                if self.oth.is_some() {
                    return Err(KeyError::Rejected); // multi-prime RSA: neither backend has it
                }
                let (n, e) = (member(&self.n)?, member(&self.e)?);
                let (d, p, q) = (secret(&self.d)?, secret(&self.p)?, secret(&self.q)?);
                let (dp, dq, qi) = (secret(&self.dp)?, secret(&self.dq)?, secret(&self.qi)?);
                let components = crate::crypto::rsa::KeyPairComponents {
                    public_key: crate::crypto::rsa::PublicKeyComponents {
                        n: &n[..],
                        e: &e[..],
                    },
                    d: &d[..],
                    p: &p[..],
                    q: &q[..],
                    dP: &dp[..],
                    dQ: &dq[..],
                    qInv: &qi[..],
                };
                SigningKey::rsa_from_components(alg, &components)?
            }
            Family::Ec => {
                SigningKey::ec_from_private(alg, &secret(&self.d)?, &self.ec_point(alg)?)?
            }
            Family::Ed25519 => {
                SigningKey::ed25519_from_seed(alg, &secret(&self.d)?, &member(&self.x)?)?
            }
        };
        Ok(match &self.kid {
            Some(kid) => key.with_kid(kid.clone()),
            None => key,
        })
    }
}

/// A JWK that must be a public key, as in a `cnf` claim (RFC 7800 §3.2: "the corresponding
/// asymmetric public key"): a JSON object with a `kty` and no private or secret member (`d`,
/// `p`, `q`, `dp`, `dq`, `qi`, `oth`, `k`), which [`Jwk`] could not hold without dropping it.
/// The key is not imported, so not checked beyond that.
pub(super) struct PublicJwk(pub(super) Jwk);

impl<'de> Deserialize<'de> for PublicJwk {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = <RawJwk as Deserialize>::deserialize(d)?;
        if raw.kty.is_empty() {
            return Err(de::Error::missing_field("kty"));
        }
        if raw.has_private_members() || raw.k.is_some() {
            return Err(de::Error::custom(
                "private or secret member in a public JWK",
            ));
        }
        let RawJwk {
            kty,
            use_,
            alg,
            kid,
            crv,
            x,
            y,
            n,
            e,
            ..
        } = raw;
        Ok(PublicJwk(Jwk {
            kty,
            use_,
            alg,
            kid,
            crv,
            x,
            y,
            n,
            e,
        }))
    }
}

fn parse_raw(json: &str) -> Result<RawJwk, KeyError> {
    if json.len() > MAX_JWK_BYTES {
        return Err(KeyError::TooLarge);
    }
    serde_json::from_str(json).map_err(|_| KeyError::JwkFormat)
}

/// Largest single JWK document accepted.
const MAX_JWK_BYTES: usize = 64 * 1024;

impl VerifyingKey {
    /// A verification key from one JWK: a public RSA/EC/OKP key, or an `oct` secret for HMAC.
    /// Private asymmetric members are rejected ([`KeyError::MixedKeySet`]): give a verifier
    /// only public keys.
    pub fn from_jwk(json: &str) -> Result<Self, KeyError> {
        parse_raw(json)?.verifying_key(None)
    }
}

impl SigningKey {
    /// A signing key from one private JWK (RSA with CRT members, EC with `d`, OKP Ed25519 with
    /// `d`, or `oct`). Its `alg` member is required for RSA and `oct` keys.
    pub fn from_jwk(json: &str) -> Result<Self, KeyError> {
        parse_raw(json)?.signing_key()
    }
}

/// The public key of a JWK embedded in a DPoP proof header, for the proof's `alg` (RSA keys,
/// which carry no algorithm, are bound to it). The same import rules as a JWKS entry: no
/// private members, curve and key type must fit the algorithm.
pub(crate) fn proof_key(json: &str, alg: Algorithm) -> Result<VerifyingKey, KeyError> {
    let raw = parse_raw(json)?;
    if alg.family() != Family::Ec {
        return raw.verifying_key(Some(alg));
    }
    // The same rules as `verifying_key`, but the point is left to ring's check at the
    // signature: the proof key is used once.
    raw.check_use(Op::Verify)?;
    let alg = raw.algorithm(Some(alg))?;
    if raw.has_private_members() {
        return Err(KeyError::MixedKeySet);
    }
    VerifyingKey::ec_checked_at_use(alg, &raw.ec_point(alg)?)
}

/// How a JWK Set is imported: by [`Jwks::parse`], [`Verifier::from_jwks_with`],
/// [`Verifier::replace_jwks`] and the [`JwksSource`](crate::JwksSource).
///
/// | setting | default |
/// |---|---|
/// | [`max_keys`](JwksOptions::max_keys) | 100 |
/// | [`max_bytes`](JwksOptions::max_bytes) | 256 KiB |
/// | [`default_rsa_algorithm`](JwksOptions::default_rsa_algorithm) | none: RSA keys without `alg` are skipped ([`KeyError::MissingAlgorithm`]) |
/// | [`danger_allow_secret_keys`](JwksOptions::danger_allow_secret_keys) | off: a set holding an `oct` (secret) key is refused ([`KeyError::SecretKeyInSet`]) |
///
/// ```
/// use token_engine::{Algorithm, JwksOptions};
///
/// // Entra ID and other providers publish RSA keys without `alg`: bind them to RS256.
/// let options = JwksOptions::new().default_rsa_algorithm(Algorithm::RS256).max_keys(20);
/// # let _ = options;
/// ```
///
/// [`Verifier::from_jwks_with`]: crate::Verifier::from_jwks_with
/// [`Verifier::replace_jwks`]: crate::Verifier::replace_jwks
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct JwksOptions {
    pub(crate) max_keys: usize,
    pub(crate) max_bytes: usize,
    pub(crate) default_rsa_algorithm: Option<Algorithm>,
    pub(crate) allow_secret_keys: bool,
}

impl Default for JwksOptions {
    fn default() -> Self {
        Self {
            max_keys: 100,
            max_bytes: 256 * 1024,
            default_rsa_algorithm: None,
            allow_secret_keys: false,
        }
    }
}

impl JwksOptions {
    /// The defaults (see the table above).
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Keys accepted in one set; a set with more is [`KeyError::TooManyKeys`] as a whole.
    #[must_use]
    pub fn max_keys(mut self, max: usize) -> Self {
        self.max_keys = max;
        self
    }

    /// Largest document accepted, in bytes; a larger one is [`KeyError::TooLarge`].
    #[must_use]
    pub fn max_bytes(mut self, max: usize) -> Self {
        self.max_bytes = max;
        self
    }

    /// Bind RSA keys that carry no `alg` member to `alg` (an RSA algorithm: `RS256` ...
    /// `PS512`; anything else makes such keys [`KeyError::AlgorithmMismatch`]). Without this
    /// they are skipped with [`KeyError::MissingAlgorithm`]: a key is bound to one algorithm,
    /// and this crate does not guess which.
    #[must_use]
    pub fn default_rsa_algorithm(mut self, alg: Algorithm) -> Self {
        self.default_rsa_algorithm = Some(alg);
        self
    }

    /// Accept a set of `oct` (HMAC secret) keys. Off by default: a JWK Set is normally a
    /// published document (an issuer's `jwks_uri`), which must never carry secrets, and a
    /// verifier that trusts a published HMAC key accepts tokens anyone who read the document
    /// can forge. Without this, a set holding any `oct` key is refused as a whole with
    /// [`KeyError::SecretKeyInSet`]. Turn it on only for a set you received over a private
    /// channel (a secret store) and that never leaves it. Sets mixing secret and public keys
    /// stay refused ([`KeyError::MixedKeySet`]).
    #[must_use]
    pub fn danger_allow_secret_keys(mut self) -> Self {
        self.allow_secret_keys = true;
        self
    }
}

/// A key of a JWKS that was not imported, and why: RFC 7517 §5 has a set's unusable keys
/// ignored, and this crate reports each one.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SkippedKey {
    /// Position in the `keys` array.
    pub index: usize,
    /// Its `kid`, if it had one.
    pub kid: Option<String>,
    /// Why it was skipped.
    pub reason: KeyError,
}

/// An imported JWK Set: the usable verification keys and a report of the skipped ones.
#[derive(Clone, Debug)]
pub struct Jwks {
    /// The keys that were imported.
    pub keys: Vec<VerifyingKey>,
    /// The keys that were not, with reasons.
    pub skipped: Vec<SkippedKey>,
}

/// Deserializes `{"keys": [...]}`, failing as soon as the array grows past `max` (and noting
/// that in `overflow`, so the caller can tell a bound from a syntax error).
struct DocumentSeed<'a> {
    max: usize,
    overflow: &'a Cell<bool>,
}

impl<'de> DeserializeSeed<'de> for DocumentSeed<'_> {
    type Value = Vec<RawJwk>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for DocumentSeed<'_> {
    type Value = Vec<RawJwk>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JWK Set")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut keys = None;
        while let Some(name) = map.next_key::<super::CowStr<'de>>()? {
            if name.0 != "keys" {
                map.next_value::<de::IgnoredAny>()?;
            } else if keys.is_some() {
                return Err(de::Error::duplicate_field("keys"));
            } else {
                keys = Some(map.next_value_seed(KeysSeed {
                    max: self.max,
                    overflow: self.overflow,
                })?);
            }
        }
        keys.ok_or_else(|| de::Error::missing_field("keys"))
    }
}

struct KeysSeed<'a> {
    max: usize,
    overflow: &'a Cell<bool>,
}

impl<'de> DeserializeSeed<'de> for KeysSeed<'_> {
    type Value = Vec<RawJwk>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for KeysSeed<'_> {
    type Value = Vec<RawJwk>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of JWKs")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut keys = Vec::new();
        while let Some(k) = seq.next_element::<RawJwk>()? {
            if keys.len() == self.max {
                self.overflow.set(true);
                return Err(de::Error::custom("too many keys"));
            }
            keys.push(k);
        }
        Ok(keys)
    }
}

impl fmt::Display for SkippedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "key {}", self.index)?;
        if let Some(kid) = &self.kid {
            write!(f, " (kid {kid:?})")?;
        }
        write!(f, ": {}", self.reason)
    }
}

impl Jwks {
    /// Import a JWK Set document of verification keys.
    ///
    /// The whole set is rejected when it holds an `oct` (secret) key, unless
    /// [`JwksOptions::danger_allow_secret_keys`] says so ([`KeyError::SecretKeyInSet`]), or
    /// when it is ambiguous or out of bounds (duplicate `kid`, secret keys mixed with public keys, private members, more than
    /// [`max_keys`](JwksOptions::max_keys), over [`max_bytes`](JwksOptions::max_bytes), not a
    /// JWK Set). Otherwise each key this crate cannot use is skipped and reported in
    /// [`Jwks::skipped`] with the reason ([`KeyError::MissingAlgorithm`],
    /// [`KeyError::UnsupportedCurve`], [`KeyError::WeakKey`], ...). The result may hold no
    /// key: the verifier constructors turn that into [`Error::NoUsableKey`](crate::Error::NoUsableKey).
    pub fn parse(json: &str, options: &JwksOptions) -> Result<Self, KeyError> {
        if json.len() > options.max_bytes {
            return Err(KeyError::TooLarge);
        }
        let overflow = Cell::new(false);
        let mut de = serde_json::Deserializer::from_str(json);
        let parsed = DocumentSeed {
            max: options.max_keys,
            overflow: &overflow,
        }
        .deserialize(&mut de)
        .and_then(|keys| de.end().map(|()| keys));
        let raws = match parsed {
            Ok(raws) => raws,
            Err(_) if overflow.get() => return Err(KeyError::TooManyKeys),
            Err(_) => return Err(KeyError::JwkFormat),
        };
        // Set-level ambiguity rejects the whole set.
        let symmetric = raws.iter().filter(|k| k.kty == "oct").count();
        if symmetric != 0 && !options.allow_secret_keys {
            return Err(KeyError::SecretKeyInSet);
        }
        if symmetric != 0 && symmetric != raws.len() {
            return Err(KeyError::MixedKeySet);
        }
        if raws
            .iter()
            .any(|k| k.kty != "oct" && k.has_private_members())
        {
            return Err(KeyError::MixedKeySet);
        }
        for (i, k) in raws.iter().enumerate() {
            if let Some(kid) = &k.kid
                && raws.iter().skip(i + 1).any(|o| o.kid.as_ref() == Some(kid))
            {
                return Err(KeyError::DuplicateKeyId);
            }
        }
        let mut out = Jwks {
            keys: Vec::with_capacity(raws.len()),
            skipped: Vec::new(),
        };
        for (index, raw) in raws.iter().enumerate() {
            match raw.verifying_key(options.default_rsa_algorithm) {
                Ok(key) => out.keys.push(key),
                Err(reason) => out.skipped.push(SkippedKey {
                    index,
                    kid: raw.kid.clone(),
                    reason,
                }),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EC_PUB: &str = r#"{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;

    #[test]
    fn ec_key_without_alg_takes_it_from_the_curve() {
        let k = VerifyingKey::from_jwk(EC_PUB).unwrap();
        assert_eq!(k.alg(), Algorithm::ES256);
        let exported = serde_json::to_value(k.to_jwk().unwrap()).unwrap();
        let original: serde_json::Value = serde_json::from_str(EC_PUB).unwrap();
        assert_eq!(exported["x"], original["x"]);
        assert_eq!(exported["y"], original["y"]);
        assert_eq!(exported["alg"], "ES256");
        assert!(exported.get("d").is_none());
    }

    #[test]
    fn rejects_contradictions_and_encryption_keys() {
        let with = |extra: &str| EC_PUB.replacen('{', &format!("{{{extra},"), 1);
        assert_eq!(
            VerifyingKey::from_jwk(&with(r#""alg":"ES384""#)).unwrap_err(),
            KeyError::AlgorithmMismatch
        );
        assert_eq!(
            VerifyingKey::from_jwk(&with(r#""alg":"HS256""#)).unwrap_err(),
            KeyError::AlgorithmMismatch
        );
        assert_eq!(
            VerifyingKey::from_jwk(&with(r#""alg":"ES512""#)).unwrap_err(),
            // A P-256 key cannot be ES512; in a ring build ES512 does not exist at all.
            if cfg!(any(feature = "aws-lc-rs", feature = "fips")) {
                KeyError::AlgorithmMismatch
            } else {
                KeyError::UnsupportedAlgorithm
            }
        );
        assert_eq!(
            VerifyingKey::from_jwk(&with(r#""use":"enc""#)).unwrap_err(),
            KeyError::KeyUse
        );
        assert_eq!(
            VerifyingKey::from_jwk(&with(r#""key_ops":["encrypt"]"#)).unwrap_err(),
            KeyError::KeyUse
        );
        assert_eq!(
            VerifyingKey::from_jwk(&with(r#""key_ops":["verify","verify"]"#)).unwrap_err(),
            KeyError::JwkFormat
        );
        assert_eq!(
            VerifyingKey::from_jwk(&with(r#""kty":"EC""#)).unwrap_err(),
            KeyError::JwkFormat
        );
        assert_eq!(
            VerifyingKey::from_jwk(&EC_PUB.replace("P-256", "P-384")).unwrap_err(),
            KeyError::PointEncoding
        );
        // A point off the curve (one byte of y changed).
        assert_eq!(
            VerifyingKey::from_jwk(&EC_PUB.replace("x_FEzRu9", "x_FEzRu8")).unwrap_err(),
            KeyError::PointEncoding
        );
        // Padding or standard-alphabet characters in a member.
        assert_eq!(
            VerifyingKey::from_jwk(&EC_PUB.replace("VEU\"", "VEU=\"")).unwrap_err(),
            KeyError::JwkFormat
        );
    }

    #[test]
    fn sets_reject_ambiguity_and_skip_the_unusable() {
        let ec_kid = |kid: &str| EC_PUB.replacen('{', &format!(r#"{{"kid":"{kid}","#), 1);
        let set = |keys: &[String]| format!(r#"{{"keys":[{}]}}"#, keys.join(","));
        let opts = JwksOptions::default();
        assert_eq!(
            Jwks::parse(&set(&[ec_kid("a"), ec_kid("a")]), &opts).unwrap_err(),
            KeyError::DuplicateKeyId
        );
        let oct = r#"{"kty":"oct","alg":"HS256","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"}"#;
        assert_eq!(
            Jwks::parse(&set(&[ec_kid("a"), oct.to_owned()]), &opts).unwrap_err(),
            KeyError::SecretKeyInSet
        );
        let secrets = opts.clone().danger_allow_secret_keys();
        assert_eq!(
            Jwks::parse(&set(&[ec_kid("a"), oct.to_owned()]), &secrets).unwrap_err(),
            KeyError::MixedKeySet
        );
        // A set of secrets alone: refused by default, imported when the application opts in.
        assert_eq!(
            Jwks::parse(&set(&[oct.to_owned()]), &opts).unwrap_err(),
            KeyError::SecretKeyInSet
        );
        let imported = Jwks::parse(&set(&[oct.to_owned()]), &secrets).unwrap();
        assert_eq!(imported.keys.len(), 1);
        assert_eq!(imported.keys[0].alg(), Algorithm::HS256);
        let enc = ec_kid("b").replacen('{', r#"{"use":"enc","#, 1);
        let x25519 = r#"{"kty":"OKP","crv":"X25519","kid":"c","x":"AAAA"}"#.to_owned();
        let jwks = Jwks::parse(&set(&[ec_kid("a"), enc, x25519]), &opts).unwrap();
        assert_eq!(jwks.keys.len(), 1);
        assert_eq!(jwks.keys[0].kid(), Some("a"));
        let reasons: Vec<_> = jwks.skipped.iter().map(|s| (s.index, s.reason)).collect();
        assert_eq!(
            reasons,
            [(1, KeyError::KeyUse), (2, KeyError::UnsupportedCurve)]
        );
        // Neither a set nor a key may be an array (serde's positional form of a struct).
        for bad in [
            "",
            "[]",
            "{}",
            r#"{"keys":{}}"#,
            r#"{"keys":[1]}"#,
            r#"{"keys":[[]]}"#,
            r#"{"keys":[["EC"]]}"#,
            "[[]]",
        ] {
            assert_eq!(
                Jwks::parse(bad, &opts).unwrap_err(),
                KeyError::JwkFormat,
                "{bad}"
            );
        }
    }

    #[test]
    fn each_rejection_names_its_cause() {
        let n = b64::encode(&[0xc1; 256]);
        let weak_n = b64::encode(&[0xc1; 128]);
        let cases = [
            (
                r#"{"kty":"RSA","n":"N","e":"AQAB"}"#.replace('N', &n),
                KeyError::MissingAlgorithm,
            ),
            (
                r#"{"kty":"oct","k":"AAAA"}"#.to_owned(),
                KeyError::MissingAlgorithm,
            ),
            (
                r#"{"kty":"RSA","alg":"RS256","n":"N","e":"AQAB"}"#.replace('N', &weak_n),
                KeyError::WeakKey,
            ),
            (
                r#"{"kty":"RSA","alg":"RSA-OAEP","n":"N","e":"AQAB"}"#.replace('N', &n),
                KeyError::UnsupportedAlgorithm,
            ),
            (
                r#"{"kty":"EC","crv":"secp256k1","x":"AA","y":"AA"}"#.to_owned(),
                KeyError::UnsupportedCurve,
            ),
            (
                r#"{"kty":"EC","crv":"P-521","alg":"ES512"}"#.to_owned(),
                // ring has no P-521; with aws-lc-rs this key only lacks its coordinates.
                if cfg!(any(feature = "aws-lc-rs", feature = "fips")) {
                    KeyError::JwkFormat
                } else {
                    KeyError::UnsupportedCurve
                },
            ),
            (
                r#"{"kty":"OKP","crv":"X25519","alg":"EdDSA","x":"AA"}"#.to_owned(),
                KeyError::UnsupportedCurve,
            ),
            (
                r#"{"kty":"EC","x":"AA","y":"AA"}"#.to_owned(),
                KeyError::JwkFormat,
            ),
            (
                r#"{"kty":"AKP","alg":"ML-DSA-44","pub":"AA"}"#.to_owned(),
                KeyError::UnsupportedKeyType,
            ),
            (
                r#"{"kty":"oct","alg":"RS256","k":"AAAA"}"#.to_owned(),
                KeyError::AlgorithmMismatch,
            ),
        ];
        for (jwk, reason) in &cases {
            assert_eq!(VerifyingKey::from_jwk(jwk).unwrap_err(), *reason, "{jwk}");
        }
        // The RSA key without alg imports once a default is named.
        let rsa = &cases[0].0;
        let set = format!(r#"{{"keys":[{rsa}]}}"#);
        assert_eq!(
            Jwks::parse(&set, &JwksOptions::new()).unwrap().skipped[0].reason,
            KeyError::MissingAlgorithm
        );
        let opts = JwksOptions::new().default_rsa_algorithm(Algorithm::PS256);
        assert_eq!(
            Jwks::parse(&set, &opts).unwrap().keys[0].alg(),
            Algorithm::PS256
        );
        let opts = JwksOptions::new().default_rsa_algorithm(Algorithm::ES256);
        assert_eq!(
            Jwks::parse(&set, &opts).unwrap().skipped[0].reason,
            KeyError::AlgorithmMismatch
        );
    }

    #[test]
    fn sets_are_bounded() {
        let many = format!(r#"{{"keys":[{}]}}"#, vec![EC_PUB; 101].join(","));
        assert_eq!(
            Jwks::parse(&many, &JwksOptions::default()).unwrap_err(),
            KeyError::TooManyKeys
        );
        let opts = JwksOptions {
            max_bytes: 10,
            ..JwksOptions::default()
        };
        assert_eq!(Jwks::parse(&many, &opts).unwrap_err(), KeyError::TooLarge);
    }
}
