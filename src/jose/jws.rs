//! Compact JWS (RFC 7515 §7.1): split, header parse, key selection and signature check, and
//! signing.
//!
//! The rules, each enforced before the signature is even looked at: three segments; strict
//! base64url; the header a JSON object without duplicate parameters; `alg` present and not
//! `none`; no `crit` (no extension is understood); no embedded or referenced key (`jwk`, `jku`,
//! `x5u`, `x5c`); `kid` only picks a key of the set, whose own algorithm must equal `alg`.
//!
//! `kid` is a hint (RFC 7515 §4.1.4), so keys loaded without one (from SPKI, PEM, raw bytes
//! or a JWKS entry without `kid`) still verify tokens that carry one: see [`select_key`] and
//! [`KIDLESS_CANDIDATES`].

use std::sync::OnceLock;

use super::alg::Algorithm;
use super::b64;
use super::header::{Header, parse_header};
use super::key::{SigningKey, VerifyingKey};
use crate::error::{Error, TokenError};

/// Largest protected header accepted, decoded.
const MAX_HEADER: usize = 1024;
/// Largest signature accepted, decoded (RSA-8192).
const MAX_SIGNATURE: usize = 1024;

/// A compact JWS split at its dots. The signature is not checked yet.
pub(crate) struct Compact<'t> {
    /// `header.payload`, the bytes the signature covers.
    pub(crate) signing_input: &'t [u8],
    pub(crate) header: &'t [u8],
    pub(crate) payload: &'t [u8],
    pub(crate) signature: &'t [u8],
}

/// Split a compact JWS into its three segments. The header must be non-empty; the payload may
/// be empty (RFC 7515 allows it); an empty signature is rejected after the header checks, so
/// an unsecured `alg: none` token is reported as [`TokenError::AlgNone`].
///
/// Only the short header and signature segments are scanned for dots; a dot inside the
/// payload segment (a fourth segment) is caught when the payload is decoded (see
/// [`payload_error`]) and by the signature, which covers it.
pub(crate) fn split(token: &str) -> Result<Compact<'_>, TokenError> {
    let bytes = token.as_bytes();
    let first = token.find('.').ok_or(TokenError::Malformed)?;
    let last = token.rfind('.').ok_or(TokenError::Malformed)?;
    if first == last || first == 0 {
        return Err(TokenError::Malformed);
    }
    Ok(Compact {
        signing_input: bytes.get(..last).ok_or(TokenError::Malformed)?,
        header: bytes.get(..first).ok_or(TokenError::Malformed)?,
        payload: bytes.get(first + 1..last).ok_or(TokenError::Malformed)?,
        signature: bytes.get(last + 1..).ok_or(TokenError::Malformed)?,
    })
}

/// The error for a payload segment that failed to decode: a dot in it means the token had
/// more than three segments.
pub(crate) fn payload_error(payload: &[u8], e: TokenError) -> TokenError {
    if payload.contains(&b'.') {
        TokenError::Malformed
    } else {
        e
    }
}

/// Most keys without a `kid` that a token with an unknown `kid` is tried against.
///
/// When no key of the set has the token's `kid`, the keys that have no `kid` and are bound to
/// the token's `alg` stand in for it (a key with another `kid` never does). If there are more
/// than this many, the set is too ambiguous to search and the token is
/// [`TokenError::UnknownKeyId`] without any signature check, so a forged token with a made-up
/// `kid` costs at most this many signature checks. The fallback runs only once no key has
/// matched, off the verification fast path.
pub(crate) const KIDLESS_CANDIDATES: usize = 4;

/// The index in `keys` of the key that a header with this `kid` selects. Without a `kid`,
/// only a set of exactly one key selects (trying several keys would multiply the cost of
/// forged tokens). A `kid` no key has selects nothing here; [`verify_kidless`] takes over.
pub(crate) fn select_key(keys: &[VerifyingKey], kid: Option<&[u8]>) -> Result<usize, TokenError> {
    match kid {
        Some(kid) => keys
            .iter()
            .position(|k| k.kid().map(str::as_bytes) == Some(kid))
            .ok_or(TokenError::UnknownKeyId),
        None => match keys {
            [_] => Ok(0),
            [] => Err(TokenError::UnknownKeyId),
            _ => Err(TokenError::MissingKeyId),
        },
    }
}

/// Header checks that do not depend on the key: `alg` sane, no `crit`, no embedded key.
pub(crate) fn check_header(header: &Header<'_>) -> Result<(), TokenError> {
    let alg: &[u8] = &header.alg;
    if alg.eq_ignore_ascii_case(b"none") {
        return Err(TokenError::AlgNone);
    }
    if Algorithm::from_name_bytes(alg).is_none() {
        return Err(TokenError::UnsupportedAlgorithm);
    }
    if header.crit {
        return Err(TokenError::CriticalHeader);
    }
    if header.embedded_key {
        return Err(TokenError::EmbeddedKey);
    }
    Ok(())
}

/// Signatures up to this size (HMAC, ECDSA, Ed25519) are decoded into a small buffer.
const SMALL_SIGNATURE: usize = 96;

/// Decode and check the signature of `compact` with `key`.
#[inline]
pub(crate) fn check_signature(compact: &Compact<'_>, key: &VerifyingKey) -> Result<(), TokenError> {
    match b64::decoded_len(compact.signature.len()) {
        Some(0) => Err(TokenError::InvalidSignature),
        Some(n) if n <= SMALL_SIGNATURE => {
            // A multiple of 3: also the decoder's `decode_room` for a signature up to it.
            let mut sig = [0u8; SMALL_SIGNATURE];
            key.verify(
                compact.signing_input,
                b64::decode_short(compact.signature, &mut sig)?,
            )
        }
        Some(n) if n <= RSA_4096_SIGNATURE => check_rsa_signature(compact, key),
        Some(n) if n <= MAX_SIGNATURE => check_large_signature(compact, key),
        Some(_) => Err(TokenError::InvalidSignature),
        None => Err(TokenError::Base64),
    }
}

/// Signatures up to this size (RSA up to 4096 bits) are decoded into a buffer of half the
/// largest size: the buffer is zeroed first, and RSA tokens are the common large case.
const RSA_4096_SIGNATURE: usize = 512;

#[inline(never)]
fn check_rsa_signature(compact: &Compact<'_>, key: &VerifyingKey) -> Result<(), TokenError> {
    let mut sig = [0u8; RSA_4096_SIGNATURE + 2];
    key.verify(
        compact.signing_input,
        b64::decode_into(compact.signature, &mut sig)?,
    )
}

#[inline(never)]
fn check_large_signature(compact: &Compact<'_>, key: &VerifyingKey) -> Result<(), TokenError> {
    let mut sig = [0u8; MAX_SIGNATURE + 2];
    key.verify(
        compact.signing_input,
        b64::decode_into(compact.signature, &mut sig)?,
    )
}

/// Headers up to this size (the usual `alg`, `typ`, `kid`) are decoded into a small buffer.
const SMALL_HEADER: usize = 192;
const _: () = assert!(SMALL_HEADER.is_multiple_of(3) && SMALL_SIGNATURE.is_multiple_of(3));

/// Distinct header segments a [`HeaderMemo`] remembers.
const MEMO_SLOTS: usize = 8;

/// The header segments of tokens that verified, remembered for one set of keys, so that the
/// next token with a byte-identical header (every token an issuer signs with one key has the
/// same one) skips decoding and parsing it, whoever wrote it and in whatever member order: the
/// canonical fast path, learned.
///
/// A header is remembered only after a token carrying it verified under the key its `kid`
/// names (never through the `kid`-less fallback, which depends on the signature), so only the
/// holder of a key can fill the slots, and every check a header gets is a function of its
/// bytes and the keys: `alg`, `crit`, embedded keys and the key's algorithm passed, and the
/// `typ` is kept to be judged again under each caller's rules. The slots are filled once and
/// read with one atomic load each: no lock, no allocation after the first sighting. A new set
/// of keys starts a new memo.
///
/// Before anything is learned the memo already knows the spellings other libraries commonly
/// write for each key of the set (see [`Spelling`]), so the first token with one of those is
/// recognised by its bytes too; the slots are left for the rest.
#[derive(Debug, Default)]
pub(crate) struct HeaderMemo {
    slots: [OnceLock<Learned>; MEMO_SLOTS],
    /// Sorted by fingerprint, then header; no two alike.
    spellings: Box<[Spelling]>,
}

/// A header segment's fingerprint: its length and two words of it (after the shared `eyJ` of
/// `{"`, where the first member's name is, and the last eight characters, where the last
/// member's value ends). Equal headers have equal fingerprints; unequal ones are told apart
/// by comparing their bytes, so a collision costs a comparison, never a wrong answer.
#[inline]
fn fingerprint(header: &[u8]) -> u64 {
    let word = |at: usize| {
        header
            .get(at..at.saturating_add(8))
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map_or(0, u64::from_le_bytes)
    };
    let len = header.len();
    word(3)
        ^ word(len.saturating_sub(8)).rotate_left(29)
        ^ (len as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// Keys of a set (the first of each `kid`) whose common header spellings a memo knows ahead.
const SPELLED_KEYS: usize = 16;

/// The `typ` values of the spellings a memo knows ahead: none, the generic `JWT` and RFC 9068's
/// `at+jwt`.
const SPELLED_TYPS: [Option<&str>; 3] = [None, Some("JWT"), Some("at+jwt")];

/// A header another library may write for a key of the set: `alg` (the key's), its `kid` and a
/// `typ`, in any member order, without whitespace, strings as serde_json escapes them. Parsing
/// it gives exactly that `alg`, `kid` and `typ`, no `crit`, no embedded key, so it selects
/// `key` as the general path would: it is a learned header that needed no token to learn.
#[derive(Debug)]
struct Spelling {
    /// [`fingerprint`] of `header`: what the spellings are sorted and searched by.
    fingerprint: u64,
    /// The base64url header segment.
    header: Box<[u8]>,
    /// The index of its key.
    key: usize,
    /// Its `typ`.
    typ: Option<&'static [u8]>,
}

/// Member orders of an object of one, two or three members.
const ORDERS: [&[&[usize]]; 4] = [
    &[],
    &[&[0]],
    &[&[0, 1], &[1, 0]],
    &[
        &[0, 1, 2],
        &[0, 2, 1],
        &[1, 0, 2],
        &[1, 2, 0],
        &[2, 0, 1],
        &[2, 1, 0],
    ],
];

/// The spellings of `keys`: for each of the first [`SPELLED_KEYS`] keys that a `kid` selects
/// (the first key with that `kid`; a key without one only when it is alone, as in
/// [`select_key`]), every order of `alg`, `kid` and each of [`SPELLED_TYPS`].
fn spellings(keys: &[VerifyingKey]) -> Box<[Spelling]> {
    let selected = keys
        .iter()
        .enumerate()
        .filter(|&(index, key)| match key.kid() {
            Some(kid) => keys.iter().position(|k| k.kid() == Some(kid)) == Some(index),
            None => keys.len() == 1,
        });
    let mut out = Vec::new();
    for (index, key) in selected.take(SPELLED_KEYS) {
        let quote = |s: &str| serde_json::to_string(s).unwrap_or_default();
        let alg = ("alg", quote(key.alg().name()));
        let kid = key.kid().map(|kid| ("kid", quote(kid)));
        for typ in SPELLED_TYPS {
            let typ_member = typ.map(|t| ("typ", quote(t)));
            let members: Vec<&(&str, String)> = [Some(&alg), kid.as_ref(), typ_member.as_ref()]
                .into_iter()
                .flatten()
                .collect();
            let orders = ORDERS.get(members.len()).copied().unwrap_or_default();
            for order in orders {
                let body: Vec<String> = order
                    .iter()
                    .filter_map(|&i| members.get(i))
                    .map(|(name, value)| format!("\"{name}\":{value}"))
                    .collect();
                let header: Box<[u8]> = b64::encode(format!("{{{}}}", body.join(",")).as_bytes())
                    .into_bytes()
                    .into();
                out.push(Spelling {
                    fingerprint: fingerprint(&header),
                    header,
                    key: index,
                    typ: typ.map(str::as_bytes),
                });
            }
        }
    }
    out.sort_by(|a, b| (a.fingerprint, &a.header).cmp(&(b.fingerprint, &b.header)));
    out.dedup_by(|a, b| a.header == b.header);
    out.into()
}

#[derive(Debug)]
struct Learned {
    /// The base64url header segment.
    header: Box<[u8]>,
    /// The index of its key.
    key: usize,
    /// Its `typ`.
    typ: Option<Box<[u8]>>,
}

impl HeaderMemo {
    /// A memo for `keys` that knows their common spellings ahead.
    pub(crate) fn for_keys(keys: &[VerifyingKey]) -> Self {
        Self {
            slots: Default::default(),
            spellings: spellings(keys),
        }
    }

    /// The key index and `typ` of a header learned or spelled ahead.
    #[inline]
    fn find(&self, header: &[u8]) -> Option<(usize, Option<&[u8]>)> {
        for slot in &self.slots {
            match slot.get() {
                Some(learned) if *learned.header == *header => {
                    return Some((learned.key, learned.typ.as_deref()));
                }
                Some(_) => {}
                None => break,
            }
        }
        let fingerprint = fingerprint(header);
        let from = self
            .spellings
            .partition_point(|s| s.fingerprint < fingerprint);
        self.spellings
            .get(from..)?
            .iter()
            .take_while(|s| s.fingerprint == fingerprint)
            .find(|s| *s.header == *header)
            .map(|s| (s.key, s.typ))
    }

    /// Whether every slot is taken (they fill in order): nothing more can be learned.
    #[inline]
    fn is_full(&self) -> bool {
        self.slots.last().is_none_or(|slot| slot.get().is_some())
    }

    #[cold]
    #[inline(never)]
    fn learn(&self, header: &[u8], key: usize, typ: Option<&[u8]>) {
        if header.len() > SMALL_HEADER * 4 / 3 + 4 {
            return;
        }
        for slot in &self.slots {
            match slot.get() {
                Some(learned) if *learned.header == *header => return,
                Some(_) => {}
                None => {
                    // Losing a race for the slot only means this header is learned later.
                    let _ = slot.set(Learned {
                        header: header.into(),
                        key,
                        typ: typ.map(Into::into),
                    });
                    return;
                }
            }
        }
    }
}

/// A compact JWS whose signature checked out.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SignatureOk<'t> {
    /// The base64url payload segment.
    pub(crate) payload: &'t [u8],
    /// Whether the key was asymmetric (such tokens are worth caching).
    pub(crate) asymmetric: bool,
}

/// Split, parse the header, select the key and check the signature. `check_typ` judges the
/// header's `typ`; `memo`, when given, belongs to `keys` (see [`HeaderMemo`]).
#[inline]
pub(crate) fn verify_signature<'t>(
    token: &'t str,
    keys: &[VerifyingKey],
    memo: Option<&HeaderMemo>,
    check_typ: impl FnOnce(Option<&[u8]>) -> Result<(), TokenError>,
) -> Result<SignatureOk<'t>, TokenError> {
    let compact = split(token)?;
    // Fast path: a header byte-identical to the one this crate writes for a key of the set
    // parses to exactly that key, its algorithm, `typ: at+jwt`, no `crit`, no embedded key.
    // A key without kid is only selected that way when it is alone (as in `select_key`).
    if let Some(key) = keys.iter().find(|k| k.at_jwt_header() == compact.header)
        && (key.kid().is_some() || keys.len() == 1)
    {
        check_typ(Some(b"at+jwt"))?;
        check_signature(&compact, key)?;
        return Ok(SignatureOk {
            payload: compact.payload,
            asymmetric: !key.is_symmetric(),
        });
    }
    // The same for a header another issuer wrote, once a token with it has verified or when it
    // is one of the spellings known ahead.
    if let Some((index, typ)) = memo.and_then(|m| m.find(compact.header))
        && let Some(key) = keys.get(index)
    {
        check_typ(typ)?;
        check_signature(&compact, key)?;
        return Ok(SignatureOk {
            payload: compact.payload,
            asymmetric: !key.is_symmetric(),
        });
    }
    let asymmetric = match b64::decoded_len(compact.header.len()) {
        Some(n) if n <= SMALL_HEADER => {
            // A multiple of 3: also the decoder's `decode_room` for a header up to it.
            let mut buf = [0u8; SMALL_HEADER];
            let header = b64::decode_short(compact.header, &mut buf)?;
            verify_with_header(&compact, header, keys, memo, check_typ)?
        }
        Some(n) if n <= MAX_HEADER => {
            let mut buf = vec![0u8; MAX_HEADER + 2];
            let header = b64::decode_into(compact.header, &mut buf)?;
            verify_with_header(&compact, header, keys, memo, check_typ)?
        }
        Some(_) => return Err(TokenError::Header),
        None => return Err(TokenError::Base64),
    };
    Ok(SignatureOk {
        payload: compact.payload,
        asymmetric,
    })
}

#[inline]
fn verify_with_header(
    compact: &Compact<'_>,
    header_json: &[u8],
    keys: &[VerifyingKey],
    memo: Option<&HeaderMemo>,
    check_typ: impl FnOnce(Option<&[u8]>) -> Result<(), TokenError>,
) -> Result<bool, TokenError> {
    let header = parse_header(header_json)?;
    check_header(&header)?;
    let typ = header.typ.as_deref();
    check_typ(typ)?;
    let kid = header.kid.as_deref();
    let index = match select_key(keys, kid) {
        Ok(index) => index,
        Err(TokenError::UnknownKeyId) if kid.is_some() => {
            return verify_kidless(compact, keys, &header.alg);
        }
        Err(e) => return Err(e),
    };
    let key = keys.get(index).ok_or(TokenError::UnknownKeyId)?;
    if !key.alg().accepts_bytes(&header.alg) {
        return Err(TokenError::AlgorithmMismatch);
    }
    check_signature(compact, key)?;
    if let Some(memo) = memo
        && !memo.is_full()
    {
        memo.learn(compact.header, index, typ);
    }
    Ok(!key.is_symmetric())
}

/// A token whose `kid` no key has: try the keys without a `kid` that are bound to its `alg`,
/// at most [`KIDLESS_CANDIDATES`] of them. `Ok(asymmetric)` for the first that verifies.
#[cold]
#[inline(never)]
fn verify_kidless(
    compact: &Compact<'_>,
    keys: &[VerifyingKey],
    alg: &[u8],
) -> Result<bool, TokenError> {
    let candidates = || {
        keys.iter()
            .filter(|k| k.kid().is_none() && k.alg().accepts_bytes(alg))
    };
    let count = candidates().count();
    if count == 0 || count > KIDLESS_CANDIDATES {
        return Err(TokenError::UnknownKeyId);
    }
    for key in candidates() {
        match check_signature(compact, key) {
            Ok(()) => return Ok(!key.is_symmetric()),
            Err(TokenError::InvalidSignature) => {}
            // A signature that does not decode fails the same way under every key.
            Err(e) => return Err(e),
        }
    }
    Err(TokenError::InvalidSignature)
}

/// Verify a compact JWS with one of `keys` (selected by `kid`) and return its decoded
/// payload, whatever it contains. No claim is looked at: for access tokens use
/// [`Verifier`](crate::Verifier), which also validates the claims.
pub fn verify_compact(
    token: &str,
    keys: &[VerifyingKey],
    max_len: usize,
) -> Result<Vec<u8>, Error> {
    if token.len() > max_len {
        return Err(TokenError::TooLong.into());
    }
    let payload = verify_signature(token, keys, None, |_| Ok(()))?.payload;
    let mut out = Vec::new();
    b64::decode_vec(payload, &mut out).map_err(|e| payload_error(payload, e))?;
    Ok(out)
}

/// `base64url` of the protected header `{"alg":..,"typ":..,"kid":..}`.
pub(crate) fn encode_header(alg: Algorithm, typ: Option<&str>, kid: Option<&str>) -> String {
    #[derive(serde::Serialize)]
    struct H<'a> {
        alg: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        typ: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        kid: Option<&'a str>,
    }
    let json = serde_json::to_vec(&H {
        alg: alg.name(),
        typ,
        kid,
    })
    .unwrap_or_default();
    b64::encode(&json)
}

/// Sign `payload` as a compact JWS with a header of `key`'s `alg` and `kid` and the given
/// `typ`.
pub fn sign_compact(key: &SigningKey, typ: Option<&str>, payload: &[u8]) -> Result<String, Error> {
    if typ == Some("at+jwt") {
        sign_with_header(key, key.at_jwt_header(), payload)
    } else {
        sign_with_header(key, &encode_header(key.alg(), typ, key.kid()), payload)
    }
}

/// Sign with a pre-encoded header: `header.payload.signature`, built as bytes and checked as
/// text once.
pub(crate) fn sign_with_header(
    key: &SigningKey,
    header: &str,
    payload: &[u8],
) -> Result<String, Error> {
    let mut token = Vec::with_capacity(header.len() + payload.len() * 4 / 3 + 4 + 700);
    token.extend_from_slice(header.as_bytes());
    let short = || Error::Crypto("base64url encoding came out short");
    token.push(b'.');
    if !b64::encode_to_vec(payload, &mut token) {
        return Err(short());
    }
    let sig = key.sign_to_stack(&token)?;
    token.push(b'.');
    if !b64::encode_to_vec(sig.as_bytes(), &mut token) {
        return Err(short());
    }
    // Base64url and the header (base64url too) are ASCII: this never fails.
    String::from_utf8(token).map_err(|_| Error::Crypto("a signed token that is not text"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_needs_exactly_three_segments() {
        assert!(split("a.b.c").is_ok());
        assert!(split("a..c").is_ok());
        assert!(split("a.b.").is_ok()); // rejected later, after the alg check
        for bad in ["", "a", "a.b", ".b.c", ".."] {
            assert_eq!(split(bad).err(), Some(TokenError::Malformed), "{bad}");
        }
        // More than three segments: the extra dot lands in the payload segment.
        let extra = split("a.b.c.d").unwrap();
        assert_eq!(extra.payload, b"b.c");
        assert_eq!(
            payload_error(extra.payload, TokenError::Base64),
            TokenError::Malformed
        );
    }

    fn hmac(alg: Algorithm, kid: Option<&str>) -> VerifyingKey {
        let key = VerifyingKey::hmac(alg, &[7; 64]).unwrap();
        match kid {
            Some(kid) => key.with_kid(kid),
            None => key,
        }
    }

    /// What the general path makes of a header: its key's index and its `typ`.
    fn general(
        header: &[u8],
        keys: &[VerifyingKey],
    ) -> Result<(usize, Option<Vec<u8>>), TokenError> {
        let json = b64::decode(core::str::from_utf8(header).unwrap()).unwrap();
        let header = parse_header(&json)?;
        check_header(&header)?;
        let index = select_key(keys, header.kid.as_deref())?;
        if !keys[index].alg().accepts_bytes(&header.alg) {
            return Err(TokenError::AlgorithmMismatch);
        }
        Ok((index, header.typ.map(std::borrow::Cow::into_owned)))
    }

    /// Every spelling known ahead is what the general path would read: the same key, the same
    /// `typ`, nothing it would refuse; and each selected key gets every order of its members.
    #[test]
    fn spellings_known_ahead_select_what_parsing_selects() {
        let sets = [
            vec![hmac(Algorithm::HS256, None)],
            vec![hmac(Algorithm::HS256, Some("k"))],
            vec![
                hmac(Algorithm::HS256, Some("a")),
                // The same kid again: the header selects the first, whose alg differs.
                hmac(Algorithm::HS384, Some("a")),
                hmac(Algorithm::HS512, Some("q\"u\\o\u{1}t\u{e9}/")),
                hmac(Algorithm::HS256, None),
                hmac(Algorithm::HS384, Some("")),
            ],
        ];
        for keys in &sets {
            let table = spellings(keys);
            assert!(
                table.windows(2).all(|w| {
                    (w[0].fingerprint, &w[0].header) < (w[1].fingerprint, &w[1].header)
                })
            );
            let memo = HeaderMemo::for_keys(keys);
            for s in &*table {
                assert_eq!(memo.find(&s.header), Some((s.key, s.typ)));
                assert_eq!(
                    general(&s.header, keys),
                    Ok((s.key, s.typ.map(<[u8]>::to_vec))),
                    "{}",
                    String::from_utf8_lossy(&s.header)
                );
            }
            for (index, key) in keys.iter().enumerate() {
                let spelled = table.iter().filter(|s| s.key == index).count();
                let selects = match key.kid() {
                    Some(kid) => keys.iter().position(|k| k.kid() == Some(kid)) == Some(index),
                    None => keys.len() == 1,
                };
                // With a kid: 2 orders without typ, 6 with each of two; without: 1 + 2 + 2.
                let expected = match (selects, key.kid()) {
                    (false, _) => 0,
                    (true, Some(_)) => 14,
                    (true, None) => 5,
                };
                assert_eq!(spelled, expected, "key {index} of {}", keys.len());
            }
        }
        // The canonical header this crate writes is among them.
        let keys = &sets[1];
        let table = spellings(keys);
        assert!(table.iter().any(|s| *s.header == *keys[0].at_jwt_header()));
        // Bounded whatever the set: at most SPELLED_KEYS keys are spelled.
        let many: Vec<_> = (0..100)
            .map(|i| hmac(Algorithm::HS256, Some(&i.to_string())))
            .collect();
        let table = spellings(&many);
        assert_eq!(table.len(), SPELLED_KEYS * 14);
        // Found through the fingerprints, each to its own key; anything else is not found.
        let memo = HeaderMemo::for_keys(&many);
        for s in &*table {
            assert_eq!(memo.find(&s.header), Some((s.key, s.typ)));
        }
        for other in [
            &br#"{"alg":"HS256","kid":"1","typ":"JWT","x5t":"abc"}"#[..],
            br#"{"alg":"HS256","kid":"99","typ":"JWT"}"#,
            br#"{"alg":"HS384","kid":"1","typ":"JWT"}"#,
            br#"{"alg":"HS256", "kid":"1","typ":"JWT"}"#,
        ] {
            assert_eq!(memo.find(b64::encode(other).as_bytes()), None);
        }
        assert_eq!(memo.find(b""), None);
    }
}
