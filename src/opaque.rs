//! Opaque refresh tokens: the format, and the keys that mint, parse and MAC-check them. For
//! code below the engine (the [`family`](crate::family) state machine, fuzzing) and for sizing
//! or scanning for tokens; an application calling the engine finds what it names at the root.
//!
//! [`RefreshSecret`] and [`RefreshKeys`] (the engine's refresh secrets, given to
//! [`EngineBuilder`](crate::EngineBuilder)), [`RefreshToken`] (what a client is handed) and
//! [`FamilyId`] (a session's id) are re-exported at the crate root. This module adds
//! [`PresentedToken`], a token whose tag checked (what [`RefreshKeys::parse`] returns and
//! [`decide`](crate::family::decide) takes), and the format constants [`REFRESH_TOKEN_PREFIX`]
//! and [`REFRESH_TOKEN_LEN`].
//!
//! Mint, parse, MAC check, successor derivation and hash at rest:
//!
//! ```text
//! rt_ base64url( format(1) | key_id(1) | family_id(16) | generation(4, BE) | secret(32) | tag(16) )
//! tag        = HMAC-SHA256(mac_key[key_id], everything before it)[..16]
//! secret(g+1) = HMAC-SHA256(derive_key[key_id], family_id | g+1 | secret(g))
//! stored      = SHA-256(secret)
//! ```
//!
//! The `rt_` prefix lets secret scanners find leaked tokens. The tag is checked (in constant
//! time) before anything else, so a forged token dies without a store read and cannot name,
//! let alone revoke, someone else's family. The store keeps only the hash of the current
//! secret: a stolen database mints nothing, and a stolen MAC key alone does not match a hash.

use core::fmt;

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::crypto::{digest, fill_random, hkdf, hmac};
use crate::error::{Error, GrantError};
use crate::jose::{b64_decode_into, b64_decode_small, b64_encode_exact, b64_encode_to};
use crate::wipe::Wiped;

/// The prefix of every refresh token.
pub const REFRESH_TOKEN_PREFIX: &str = "rt_";
const FORMAT_V1: u8 = 1;
const SECRET_LEN: usize = 32;
const TAG_LEN: usize = 16;
const TAGGED_LEN: usize = 1 + 1 + 16 + 4 + SECRET_LEN;
const BODY_LEN: usize = TAGGED_LEN + TAG_LEN;
/// Length of a refresh token in characters: the prefix and 94 base64url characters.
pub const REFRESH_TOKEN_LEN: usize = 3 + 94;

/// A refresh-token family id: 16 random bytes, shown as 22 base64url characters. Not secret
/// (it is the access token's `sid`), but unguessable.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct FamilyId([u8; 16]);

/// One 16-byte write (little-endian, the same on every machine): the derived impl (a byte
/// array's) also writes the length first, eight more bytes to hash on every store lookup.
/// Equal ids hash equally, as `Eq` requires.
impl core::hash::Hash for FamilyId {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        state.write_u128(u128::from_le_bytes(self.0));
    }
}

impl FamilyId {
    /// A fresh random id.
    pub fn generate() -> Result<Self, Error> {
        let mut id = [0u8; 16];
        fill_random(&mut id)?;
        Ok(Self(id))
    }

    /// The id's bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// An id from its bytes.
    #[must_use]
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// Parse the 22-character base64url form.
    pub fn parse(s: &str) -> Option<Self> {
        let mut out = [0u8; 18];
        let decoded = b64_decode_small(s.as_bytes(), &mut out).ok()?;
        decoded.try_into().ok().map(Self)
    }
}

impl FamilyId {
    /// The id's base64url text, on the stack (what `Display` writes).
    pub(crate) fn encoded(&self) -> crate::jose::Encoded16 {
        crate::jose::b64_encode_16(&self.0)
    }
}

impl fmt::Display for FamilyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.encoded().as_str())
    }
}

impl serde::Serialize for FamilyId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for FamilyId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = crate::jose::CowStr::deserialize(d)?;
        Self::parse(&s.0)
            .ok_or_else(|| serde::de::Error::custom("family id must be 22 base64url characters"))
    }
}

impl fmt::Debug for FamilyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FamilyId({self})")
    }
}

/// A refresh token: a bearer secret. `Debug` is redacted, the string is zeroized on drop,
/// equality is constant-time, and it is not `Clone`.
pub struct RefreshToken(String);

impl Drop for RefreshToken {
    fn drop(&mut self) {
        crate::wipe::wipe_string(&mut self.0);
    }
}

impl RefreshToken {
    /// The token text, to send to the client. Handle with care: it is a credential.
    #[must_use]
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// Wrap a token string received from a client.
    #[must_use]
    pub fn from_string(token: String) -> Self {
        Self(token)
    }
}

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshToken([redacted])")
    }
}

impl PartialEq for RefreshToken {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl Eq for RefreshToken {}

/// The master secret for refresh tokens (at least 32 bytes, from a secrets manager or
/// `cargo run --example keygen`). Two keys are derived from it with HKDF-SHA256: one MACs
/// tokens, one derives successor secrets. Its `id` (0 by default) goes into every token so
/// several secrets can be accepted at once while one is being rotated out.
pub struct RefreshSecret {
    id: u8,
    mac: hmac::Key,
    derive: hmac::Key,
    /// MACs reference access tokens ([`crate::reference`](mod@crate::reference)): its own key, so no refresh token
    /// can pass for an access token or the other way round.
    access_mac: hmac::Key,
}

impl fmt::Debug for RefreshSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RefreshSecret(id {}, [redacted])", self.id)
    }
}

struct HmacLen;

impl hkdf::KeyType for HmacLen {
    fn len(&self) -> usize {
        32
    }
}

fn expand(prk: &hkdf::Prk, label: &[u8]) -> Result<hmac::Key, Error> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    prk.expand(&[label], HmacLen)
        .and_then(|okm| okm.fill(&mut bytes[..]))
        .map_err(|_| Error::Crypto("key derivation failed"))?;
    Ok(hmac::Key::new(hmac::HMAC_SHA256, &bytes[..]))
}

impl RefreshSecret {
    /// Minimum length of the master secret.
    pub const MIN_LEN: usize = 32;

    /// Derive the refresh keys from `secret` (at least 32 bytes), with key id 0.
    pub fn from_bytes(secret: &[u8]) -> Result<Self, Error> {
        if secret.len() < Self::MIN_LEN {
            return Err(Error::Config("refresh secret must be at least 32 bytes"));
        }
        let prk =
            hkdf::Salt::new(hkdf::HKDF_SHA256, b"token-engine refresh-token v1").extract(secret);
        Ok(Self {
            id: 0,
            mac: expand(&prk, b"mac")?,
            derive: expand(&prk, b"successor")?,
            access_mac: expand(&prk, b"reference access token mac")?,
        })
    }

    /// Derive the refresh keys from a base64url-encoded secret (as `keygen` prints it, for
    /// an environment variable). The decoded bytes are zeroized.
    pub fn from_base64url(encoded: &str) -> Result<Self, Error> {
        let mut buf = Zeroizing::new([0u8; 258]);
        let bytes = b64_decode_into(encoded.trim().as_bytes(), &mut buf[..]).map_err(|_| {
            Error::Config("refresh secret: not base64url, or longer than 256 bytes")
        })?;
        Self::from_bytes(bytes)
    }

    /// A fresh random 32-byte master secret, for `keygen` and tests.
    pub fn generate_bytes() -> Result<Zeroizing<[u8; 32]>, Error> {
        let mut s = Zeroizing::new([0u8; 32]);
        fill_random(&mut s[..])?;
        Ok(s)
    }

    /// The same secret under key id `id`.
    #[must_use]
    pub fn with_id(mut self, id: u8) -> Self {
        self.id = id;
        self
    }

    /// Its key id.
    #[must_use]
    pub fn id(&self) -> u8 {
        self.id
    }
}

/// A refresh token whose format and tag checked out. Only [`RefreshKeys::parse`] makes one.
pub struct PresentedToken {
    pub(crate) key_id: u8,
    pub(crate) family: FamilyId,
    pub(crate) generation: u32,
    pub(crate) secret: Wiped<SECRET_LEN>,
}

impl fmt::Debug for PresentedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PresentedToken")
            .field("key_id", &self.key_id)
            .field("family", &self.family)
            .field("generation", &self.generation)
            .field("secret", &"[redacted]")
            .finish()
    }
}

impl PresentedToken {
    /// The family the token belongs to.
    #[must_use]
    pub fn family(&self) -> FamilyId {
        self.family
    }

    /// Its generation (0 for the token issued at login).
    #[must_use]
    pub fn generation(&self) -> u32 {
        self.generation
    }
}

/// The refresh secrets in use: one current (mints), any number of retiring ones (still
/// accepted). Key ids must be distinct.
pub struct RefreshKeys {
    current: RefreshSecret,
    retiring: Vec<RefreshSecret>,
}

impl fmt::Debug for RefreshKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshKeys")
            .field("current", &self.current.id)
            .field(
                "retiring",
                &self.retiring.iter().map(|s| s.id).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl RefreshKeys {
    /// Keys that mint with `current`.
    #[must_use]
    pub fn new(current: RefreshSecret) -> Self {
        Self {
            current,
            retiring: Vec::new(),
        }
    }

    /// Also accept tokens made under `old` (rotation of the refresh secret). Fails on a key
    /// id already in use.
    pub fn with_retiring(mut self, old: RefreshSecret) -> Result<Self, Error> {
        if old.id == self.current.id || self.retiring.iter().any(|r| r.id == old.id) {
            return Err(Error::Config("refresh secrets: duplicate key id"));
        }
        self.retiring.push(old);
        Ok(self)
    }

    /// The id new tokens are minted under.
    #[must_use]
    pub fn current_id(&self) -> u8 {
        self.current.id
    }

    /// The key that MACs reference access tokens under key id `id`.
    pub(crate) fn access_mac(&self, id: u8) -> Option<&hmac::Key> {
        self.by_id(id).map(|s| &s.access_mac)
    }

    fn by_id(&self, id: u8) -> Option<&RefreshSecret> {
        if self.current.id == id {
            return Some(&self.current);
        }
        self.retiring.iter().find(|s| s.id == id)
    }

    /// A fresh random secret for generation 0 of a new family.
    pub(crate) fn fresh_secret() -> Result<Zeroizing<[u8; SECRET_LEN]>, Error> {
        RefreshSecret::generate_bytes()
    }

    /// The token text for these parts, MACed under `key_id`.
    pub(crate) fn mint(
        &self,
        key_id: u8,
        family: FamilyId,
        generation: u32,
        secret: &[u8; SECRET_LEN],
    ) -> Result<RefreshToken, Error> {
        let key = self
            .by_id(key_id)
            .ok_or(Error::Config("refresh secrets: unknown key id"))?;
        let mut body = Wiped::<BODY_LEN>::zeroed();
        let (tagged, tag) = body.split_at_mut(TAGGED_LEN);
        let fields: [&[u8]; 5] = [
            &[FORMAT_V1],
            &[key_id],
            &family.0,
            &generation.to_be_bytes(),
            secret,
        ];
        let mut at = 0;
        for f in fields {
            if let Some(dst) = tagged.get_mut(at..at + f.len()) {
                dst.copy_from_slice(f);
            }
            at += f.len();
        }
        let full = hmac::sign(&key.mac, tagged);
        tag.copy_from_slice(full.as_ref().get(..TAG_LEN).unwrap_or_default());
        // Encoded in place, in the token's own allocation: no stack copy to wipe, no second
        // copy of the secret.
        let mut text = Vec::with_capacity(REFRESH_TOKEN_LEN);
        text.extend_from_slice(REFRESH_TOKEN_PREFIX.as_bytes());
        text.resize(REFRESH_TOKEN_LEN, 0);
        let encoded = text
            .get_mut(REFRESH_TOKEN_PREFIX.len()..)
            .is_some_and(|out| b64_encode_exact(&body[..], out));
        match String::from_utf8(text) {
            Ok(text) if encoded => Ok(RefreshToken(text)),
            // Unreachable (base64url is ASCII, the length is fixed); wiped all the same.
            Ok(mut text) => {
                crate::wipe::wipe_string(&mut text);
                Err(Error::Crypto("refresh token encoding came out short"))
            }
            Err(e) => {
                crate::wipe::wipe_vec(&mut e.into_bytes());
                Err(Error::Crypto("refresh token encoding is not ASCII"))
            }
        }
    }

    /// Check a presented token's format and tag. Strict and bounded: exactly
    /// [`REFRESH_TOKEN_LEN`] characters, the prefix, strict base64url, format 1, a known key
    /// id, and a tag that matches (compared in constant time). Anything else is
    /// [`GrantError::MalformedToken`] or [`GrantError::InvalidTag`], before any store access.
    pub fn parse(&self, token: &str) -> Result<PresentedToken, GrantError> {
        let encoded = token
            .strip_prefix(REFRESH_TOKEN_PREFIX)
            .filter(|_| token.len() == REFRESH_TOKEN_LEN)
            .ok_or(GrantError::MalformedToken)?;
        let mut body = Wiped::<{ BODY_LEN + 2 }>::zeroed();
        let decoded = b64_decode_small(encoded.as_bytes(), &mut body[..])
            .map_err(|_| GrantError::MalformedToken)?;
        let (tagged, tag) = decoded
            .split_at_checked(TAGGED_LEN)
            .ok_or(GrantError::MalformedToken)?;
        let (&format, rest) = tagged.split_first().ok_or(GrantError::MalformedToken)?;
        let (&key_id, rest) = rest.split_first().ok_or(GrantError::MalformedToken)?;
        if format != FORMAT_V1 || tag.len() != TAG_LEN {
            return Err(GrantError::MalformedToken);
        }
        let key = self.by_id(key_id).ok_or(GrantError::InvalidTag)?;
        let expected = hmac::sign(&key.mac, tagged);
        let expected = expected.as_ref().get(..TAG_LEN).unwrap_or_default();
        if !ct_eq_words(expected, tag) {
            return Err(GrantError::InvalidTag);
        }
        let (family, rest) = rest
            .split_first_chunk::<16>()
            .ok_or(GrantError::MalformedToken)?;
        let (generation, rest) = rest
            .split_first_chunk::<4>()
            .ok_or(GrantError::MalformedToken)?;
        let rest: &[u8; SECRET_LEN] = rest.try_into().map_err(|_| GrantError::MalformedToken)?;
        // Copied straight into its wiped home, not through an unwiped local.
        let mut secret = Wiped::<SECRET_LEN>::zeroed();
        secret.copy_from_slice(rest);
        Ok(PresentedToken {
            key_id,
            family: FamilyId(*family),
            generation: u32::from_be_bytes(*generation),
            secret,
        })
    }

    /// The successor secret of `secret` (generation `generation - 1`) under `key_id`'s
    /// derivation key.
    pub(crate) fn successor(
        &self,
        key_id: u8,
        family: FamilyId,
        generation: u32,
        secret: &[u8; SECRET_LEN],
    ) -> Result<Wiped<SECRET_LEN>, Error> {
        let key = self
            .by_id(key_id)
            .ok_or(Error::Config("refresh secrets: unknown key id"))?;
        // One input, one call (three `update`s each pay the context's bookkeeping).
        let mut input = Wiped::<{ 16 + 4 + SECRET_LEN }>::zeroed();
        let (id, rest) = input.split_at_mut(16);
        let (number, old) = rest.split_at_mut(4);
        id.copy_from_slice(&family.0);
        number.copy_from_slice(&generation.to_be_bytes());
        old.copy_from_slice(secret);
        let mut out = Wiped::<SECRET_LEN>::zeroed();
        let next = hmac::sign(&key.derive, &input[..]);
        out.copy_from_slice(next.as_ref().get(..SECRET_LEN).unwrap_or_default());
        Ok(out)
    }
}

/// `SHA-256(secret)`: what the store keeps instead of the secret.
pub(crate) fn hash_secret(secret: &[u8; SECRET_LEN]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, secret).as_ref());
    out
}

/// SHA-256 over a label and length-prefixed parts (distinct inputs never collide by
/// concatenation): the store keys of codes, device records and replay ids, and operation ids.
pub(crate) fn labelled_digest(label: &str, parts: &[&[u8]]) -> [u8; 32] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    for part in core::iter::once(label.as_bytes()).chain(parts.iter().copied()) {
        ctx.update(&(part.len() as u64).to_be_bytes());
        ctx.update(part);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// `prefix` followed by 32 fresh random bytes in base64url (256 bits): the text of the
/// crate's one-time secrets (authorization and device codes, client secrets, PKCE verifiers).
pub(crate) fn random_text(prefix: &str) -> Result<Zeroizing<String>, Error> {
    let mut bytes = Zeroizing::new([0u8; SECRET_LEN]);
    fill_random(&mut bytes[..])?;
    let mut text = Zeroizing::new(String::with_capacity(prefix.len() + 43));
    text.push_str(prefix);
    b64_encode_to(&bytes[..], &mut text);
    Ok(text)
}

/// Constant-time equality of two secret hashes.
pub(crate) fn hashes_match(a: &[u8; 32], b: &[u8; 32]) -> bool {
    ct_eq_words(a, b)
}

/// Constant-time equality of two byte strings (their lengths are not secret): the XOR of
/// every pair of 64-bit words (and of the tail's bytes) ORed together without a branch, and
/// that one difference compared with zero through `subtle` (its optimization barrier once per
/// comparison, not once per word: the pattern of BoringSSL's `CRYPTO_memcmp`, with
/// `subtle`'s barrier on the result).
pub(crate) fn ct_eq_words(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let word = |w: &[u8]| u64::from_ne_bytes(w.first_chunk::<8>().copied().unwrap_or_default());
    let (wa, wb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail = wa
        .remainder()
        .iter()
        .zip(wb.remainder())
        .fold(0u64, |diff, (x, y)| diff | u64::from(x ^ y));
    let diff = wa
        .zip(wb)
        .fold(tail, |diff, (x, y)| diff | (word(x) ^ word(y)));
    diff.ct_eq(&0).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> RefreshKeys {
        RefreshKeys::new(RefreshSecret::from_bytes(&[7; 32]).unwrap())
    }

    #[test]
    fn word_comparison_is_equality_at_every_position() {
        for len in 0..=40usize {
            let a: Vec<u8> = (0..len).map(|i| i as u8 ^ 0x5a).collect();
            assert!(ct_eq_words(&a, &a.clone()), "equal, {len} bytes");
            for at in 0..len {
                for bit in (0..8).map(|b| 1u8 << b) {
                    let mut b = a.clone();
                    b[at] ^= bit;
                    assert!(!ct_eq_words(&a, &b), "byte {at} of {len}, bit {bit:#x}");
                }
            }
            assert!(
                !ct_eq_words(&a, &[a.as_slice(), &[0]].concat()),
                "lengths differ"
            );
        }
    }

    #[test]
    fn mint_parse_round_trip_and_length() {
        let k = keys();
        let fam = FamilyId::generate().unwrap();
        let secret = [9u8; 32];
        let t = k.mint(0, fam, 41, &secret).unwrap();
        assert_eq!(t.expose_secret().len(), REFRESH_TOKEN_LEN);
        assert!(t.expose_secret().starts_with("rt_"));
        let p = k.parse(t.expose_secret()).unwrap();
        assert_eq!(
            (p.key_id, p.family, p.generation, *p.secret),
            (0, fam, 41, secret)
        );
    }

    #[test]
    fn every_single_character_change_is_rejected() {
        let k = keys();
        let t = k
            .mint(0, FamilyId::from_bytes([1; 16]), 3, &[2; 32])
            .unwrap();
        let text = t.expose_secret().to_owned();
        for i in 0..text.len() {
            for c in ['A', 'z', '0', '-', '_', '.', ' '] {
                let mut bytes = text.clone().into_bytes();
                if bytes[i] == c as u8 {
                    continue;
                }
                bytes[i] = c as u8;
                let changed = String::from_utf8(bytes).unwrap();
                assert!(k.parse(&changed).is_err(), "{i} {c}");
            }
        }
        for bad in [
            "",
            "rt_",
            &text[..text.len() - 1],
            &format!("{text}A"),
            &text[3..],
        ] {
            assert_eq!(k.parse(bad).unwrap_err(), GrantError::MalformedToken);
        }
    }

    #[test]
    fn other_secrets_and_unknown_key_ids_fail_the_tag() {
        let t = keys()
            .mint(0, FamilyId::from_bytes([1; 16]), 0, &[2; 32])
            .unwrap();
        let other = RefreshKeys::new(RefreshSecret::from_bytes(&[8; 32]).unwrap());
        assert_eq!(
            other.parse(t.expose_secret()).unwrap_err(),
            GrantError::InvalidTag
        );
        let other_id = RefreshKeys::new(RefreshSecret::from_bytes(&[7; 32]).unwrap().with_id(5));
        assert_eq!(
            other_id.parse(t.expose_secret()).unwrap_err(),
            GrantError::InvalidTag
        );
    }

    #[test]
    fn secret_rotation_keeps_old_tokens_until_retired() {
        let old = keys();
        let t = old
            .mint(0, FamilyId::from_bytes([1; 16]), 0, &[2; 32])
            .unwrap();
        let rotated = RefreshKeys::new(RefreshSecret::from_bytes(&[8; 32]).unwrap().with_id(1))
            .with_retiring(RefreshSecret::from_bytes(&[7; 32]).unwrap())
            .unwrap();
        assert!(rotated.parse(t.expose_secret()).is_ok());
        let fresh = rotated
            .mint(
                rotated.current_id(),
                FamilyId::from_bytes([1; 16]),
                1,
                &[3; 32],
            )
            .unwrap();
        assert!(rotated.parse(fresh.expose_secret()).is_ok());
        assert_eq!(
            old.parse(fresh.expose_secret()).unwrap_err(),
            GrantError::InvalidTag
        );
        let retired = RefreshKeys::new(RefreshSecret::from_bytes(&[8; 32]).unwrap().with_id(1));
        assert_eq!(
            retired.parse(t.expose_secret()).unwrap_err(),
            GrantError::InvalidTag
        );
        assert!(
            RefreshKeys::new(RefreshSecret::from_bytes(&[8; 32]).unwrap())
                .with_retiring(RefreshSecret::from_bytes(&[7; 32]).unwrap())
                .is_err()
        );
    }

    #[test]
    fn successor_is_deterministic_and_distinct() {
        let k = keys();
        let fam = FamilyId::from_bytes([1; 16]);
        let a = k.successor(0, fam, 1, &[2; 32]).unwrap();
        assert_eq!(*a, *k.successor(0, fam, 1, &[2; 32]).unwrap());
        assert_ne!(*a, *k.successor(0, fam, 2, &[2; 32]).unwrap());
        assert_ne!(
            *a,
            *k.successor(0, FamilyId::from_bytes([2; 16]), 1, &[2; 32])
                .unwrap()
        );
        assert_ne!(*a, [2; 32]);
    }

    /// Tokens minted by earlier versions keep rotating: the successor is still HMAC-SHA256
    /// over family, generation and secret, as the three `update`s of earlier versions made it.
    #[test]
    fn successor_is_the_hmac_earlier_versions_computed() {
        let k = keys();
        let fam = FamilyId::from_bytes([5; 16]);
        for (generation, secret) in [(1u32, [2u8; 32]), (0x0102_0304, [0xfe; 32])] {
            let mut ctx = hmac::Context::with_key(&k.current.derive);
            ctx.update(&fam.0);
            ctx.update(&generation.to_be_bytes());
            ctx.update(&secret);
            let want = ctx.sign();
            let got = k.successor(0, fam, generation, &secret).unwrap();
            assert_eq!(&got[..], &want.as_ref()[..32]);
        }
    }

    #[test]
    fn debug_is_redacted_and_pinned() {
        let k = keys();
        let t = k
            .mint(0, FamilyId::from_bytes([0; 16]), 0, &[2; 32])
            .unwrap();
        assert_eq!(format!("{t:?}"), "RefreshToken([redacted])");
        assert_eq!(
            format!("{:?}", RefreshSecret::from_bytes(&[7; 32]).unwrap()),
            "RefreshSecret(id 0, [redacted])"
        );
        let p = k.parse(t.expose_secret()).unwrap();
        assert_eq!(
            format!("{p:?}"),
            "PresentedToken { key_id: 0, family: FamilyId(AAAAAAAAAAAAAAAAAAAAAA), generation: 0, secret: \"[redacted]\" }"
        );
        assert!(RefreshSecret::from_bytes(&[7; 31]).is_err());
        let encoded = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc";
        let from_env =
            RefreshKeys::new(RefreshSecret::from_base64url(&format!("{encoded}\n")).unwrap());
        assert!(
            from_env.parse(t.expose_secret()).is_ok(),
            "same secret, same keys"
        );
        assert!(RefreshSecret::from_base64url("not base64!").is_err());
        assert!(RefreshSecret::from_base64url("BwcH").is_err());
    }
}
