//! Strict base64url (RFC 7515 §2): URL-safe alphabet, no padding, no whitespace, no stray
//! characters, zero trailing bits. Decoding into caller buffers keeps the hot path off the heap.

use std::sync::LazyLock;

use base64::Engine as _;
use base64::engine::Simd;
use base64::engine::general_purpose::NO_PAD;

use crate::error::TokenError;

/// The URL-safe, unpadded, strict engine, with the SIMD decoder the CPU supports (detected
/// once; the scalar engine otherwise). Same acceptance rules as the scalar engine.
static URL_SAFE_NO_PAD: LazyLock<Simd> = LazyLock::new(|| Simd::url_safe(NO_PAD));

/// Decoded length of `len` base64url characters, or `None` for an impossible length (`len % 4
/// == 1`).
pub(crate) fn decoded_len(len: usize) -> Option<usize> {
    match len % 4 {
        1 => None,
        r => Some(len / 4 * 3 + r.saturating_sub(1)),
    }
}

/// The output space the decoder asks for: it rounds every started quantum up to 3 bytes.
pub(crate) fn decode_room(len: usize) -> usize {
    len.div_ceil(4) * 3
}

/// Decode `input` into the front of `out`, returning the decoded prefix. `out` must have
/// [`decode_room`] bytes; a smaller buffer is [`TokenError::Malformed`] and nothing is written.
pub(crate) fn decode_into<'o>(input: &[u8], out: &'o mut [u8]) -> Result<&'o [u8], TokenError> {
    let n = decoded_len(input.len()).ok_or(TokenError::Base64)?;
    let room = out
        .get_mut(..decode_room(input.len()))
        .ok_or(TokenError::Malformed)?;
    match URL_SAFE_NO_PAD.decode_slice(input, room) {
        Ok(written) if written == n => room.get(..n).ok_or(TokenError::Base64),
        _ => Err(TokenError::Base64),
    }
}

/// Marks a byte outside the base64url alphabet in [`DECODE`].
const INVALID: u8 = 0x80;

/// The value of each base64url character, [`INVALID`] for every other byte.
// Evaluated at compile time: an index out of range would fail the build, not a call.
#[allow(clippy::indexing_slicing)]
static DECODE: [u8; 256] = {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut table = [INVALID; 256];
    let mut i = 0;
    while i < alphabet.len() {
        table[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    table
};

#[inline(always)]
fn sextet(byte: u8) -> u32 {
    u32::from(*DECODE.get(usize::from(byte)).unwrap_or(&INVALID))
}

/// [`decode_into`] by a table lookup per character: faster than the SIMD engine up to
/// [`TABLE_UP_TO`] characters (an HS256 signature, a short header), slower above. The same
/// strictness: the URL-safe alphabet only, no padding, `len % 4 != 1`, zero trailing bits (a
/// property test holds the two to the same answers).
#[inline]
pub(crate) fn decode_small<'o>(input: &[u8], out: &'o mut [u8]) -> Result<&'o [u8], TokenError> {
    let n = decoded_len(input.len()).ok_or(TokenError::Base64)?;
    let out = out.get_mut(..n).ok_or(TokenError::Malformed)?;
    let mut bad = 0u32;
    let mut quads = input.chunks_exact(4);
    let mut triples = out.chunks_exact_mut(3);
    for (quad, triple) in (&mut quads).zip(&mut triples) {
        if let ([a, b, c, d], [x, y, z]) = (quad, triple) {
            let (a, b, c, d) = (sextet(*a), sextet(*b), sextet(*c), sextet(*d));
            bad |= a | b | c | d;
            let v = (a << 18) | (b << 12) | (c << 6) | d;
            let [_, v0, v1, v2] = v.to_be_bytes();
            (*x, *y, *z) = (v0, v1, v2);
        }
    }
    match (quads.remainder(), triples.into_remainder()) {
        ([], []) => {}
        ([a, b], [x]) => {
            let (a, b) = (sextet(*a), sextet(*b));
            // The last character's low four bits are padding and must be zero.
            bad |= a | b | (u32::from(b & 0x0f != 0) << 7);
            let [_, _, _, v] = ((a << 2) | (b >> 4)).to_be_bytes();
            *x = v;
        }
        ([a, b, c], [x, y]) => {
            let (a, b, c) = (sextet(*a), sextet(*b), sextet(*c));
            // The last character's low two bits are padding and must be zero.
            bad |= a | b | c | (u32::from(c & 0x03 != 0) << 7);
            let [_, _, v0, v1] = ((a << 10) | (b << 4) | (c >> 2)).to_be_bytes();
            (*x, *y) = (v0, v1);
        }
        _ => return Err(TokenError::Base64),
    }
    if bad & u32::from(INVALID) != 0 {
        return Err(TokenError::Base64);
    }
    Ok(out)
}

/// Up to this many characters [`decode_small`]'s table beats the SIMD engine, whose bulk
/// loop starts above 64; the engine takes 0.66x the table's time at 66 characters, 0.80x at
/// 96, 0.6x at 127, 0.35x at 256 (a scratch loop of both, 2026-12-07).
pub(crate) const TABLE_UP_TO: usize = 64;

/// [`decode_small`] up to [`TABLE_UP_TO`] characters, [`decode_into`] above: the faster of
/// the two for the length. `out` must have [`decode_room`] bytes.
#[inline]
pub(crate) fn decode_short<'o>(input: &[u8], out: &'o mut [u8]) -> Result<&'o [u8], TokenError> {
    if input.len() > TABLE_UP_TO {
        decode_into(input, out)
    } else {
        decode_small(input, out)
    }
}

/// Decode `input` replacing the contents of `out`. The vector keeps its capacity and, when
/// reused for inputs of similar size, is not re-zeroed: the decoder overwrites it.
pub(crate) fn decode_vec(input: &[u8], out: &mut Vec<u8>) -> Result<(), TokenError> {
    let Some(n) = decoded_len(input.len()) else {
        out.clear();
        return Err(TokenError::Base64);
    };
    let room = decode_room(input.len());
    if out.len() < room {
        out.resize(room, 0);
    }
    let written = out
        .get_mut(..room)
        .map(|dest| URL_SAFE_NO_PAD.decode_slice(input, dest));
    match written {
        Some(Ok(w)) if w == n => {
            out.truncate(n);
            Ok(())
        }
        _ => {
            out.clear();
            Err(TokenError::Base64)
        }
    }
}

/// Decode to a fresh vector (key import and other cold paths).
pub(crate) fn decode(input: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(input).ok()
}

/// Encode without padding.
pub(crate) fn encode(input: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(input)
}

/// The base64url alphabet.
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Below this many input bytes the scalar encoder is faster than the SIMD engine, whose setup
/// and tail handling dominate short inputs (ids, refresh tokens, signatures).
const SMALL: usize = 96;

/// The character for the low six bits of `v`.
fn char_of(v: u32) -> u8 {
    ALPHABET.get((v & 63) as usize).copied().unwrap_or(b'A')
}

/// Scalar base64url without padding into the front of `out`, which must hold
/// `input.len().div_ceil(3) * 4` bytes (what does not fit is left out); returns the length
/// written. For short inputs.
fn encode_small(input: &[u8], out: &mut [u8]) -> usize {
    let mut groups = input.chunks_exact(3);
    let mut slots = out.chunks_exact_mut(4);
    let mut n = 0;
    for (g, o) in (&mut groups).zip(&mut slots) {
        if let ([a, b, c], [w, x, y, z]) = (g, o) {
            let v = u32::from(*a) << 16 | u32::from(*b) << 8 | u32::from(*c);
            (*w, *x, *y, *z) = (
                char_of(v >> 18),
                char_of(v >> 12),
                char_of(v >> 6),
                char_of(v),
            );
            n += 4;
        }
    }
    let tail = match *groups.remainder() {
        [a] => (u32::from(a) << 16, 2),
        [a, b] => (u32::from(a) << 16 | u32::from(b) << 8, 3),
        _ => return n,
    };
    let rest = out.get_mut(n..n + tail.1).unwrap_or_default();
    for (k, slot) in rest.iter_mut().enumerate() {
        *slot = char_of(tail.0 >> (18 - 6 * k as u32));
        n += 1;
    }
    n
}

/// Append the encoding of `input` to the bytes `out` (ASCII: the caller makes a `String` of
/// the whole once, where base64's `encode_string` checks each chunk through a 1 KiB buffer).
/// False if the encoding came out short (it cannot with this sizing; the signer refuses then).
#[must_use = "a short encoding must not be signed"]
pub(crate) fn encode_to_vec(input: &[u8], out: &mut Vec<u8>) -> bool {
    let start = out.len();
    out.resize(start + encoded_len(input.len()), 0);
    let encoded = out
        .get_mut(start..)
        .is_some_and(|room| encode_exact(input, room));
    if !encoded {
        out.truncate(start);
    }
    encoded
}

/// The unpadded length of `len` bytes encoded: 4 characters per 3 bytes, and 2 or 3 for a
/// last group of 1 or 2.
fn encoded_len(len: usize) -> usize {
    (len * 4).div_ceil(3)
}

/// Encode `input` into `out`, which must be exactly its unpadded length (false, and `out`
/// left partly written, otherwise). For a caller that encodes into its own buffer in place.
#[must_use = "a short encoding must not be used"]
pub(crate) fn encode_exact(input: &[u8], out: &mut [u8]) -> bool {
    if out.len() != encoded_len(input.len()) {
        return false;
    }
    let written = if input.len() < SMALL {
        // `encode_small` writes whole groups of four: the last group's tail fits exactly.
        encode_small(input, out)
    } else {
        URL_SAFE_NO_PAD.encode_slice(input, out).unwrap_or(0)
    };
    written == out.len()
}

/// Append the encoding of `input` to `out`.
pub(crate) fn encode_to(input: &[u8], out: &mut String) {
    if input.len() < SMALL {
        // Zeroized: the input may be a secret (a refresh token's body).
        let mut buf = crate::wipe::Wiped::<{ SMALL / 3 * 4 + 4 }>::zeroed();
        let n = encode_small(input, &mut buf[..]);
        out.push_str(core::str::from_utf8(buf.get(..n).unwrap_or_default()).unwrap_or_default());
    } else {
        URL_SAFE_NO_PAD.encode_string(input, out);
    }
}

/// The base64url text of 16 bytes (22 characters), on the stack: ids and `jti`s without a
/// heap allocation.
#[derive(Clone, Copy)]
pub(crate) struct Encoded16([u8; 22]);

impl Encoded16 {
    pub(crate) fn as_str(&self) -> &str {
        // The engine's alphabet is ASCII, so this never falls back.
        core::str::from_utf8(&self.0).unwrap_or("")
    }
}

/// Encode 16 bytes without padding into a stack buffer.
pub(crate) fn encode_16(input: &[u8; 16]) -> Encoded16 {
    let mut out = [0u8; 22];
    encode_16_into(input, &mut out);
    Encoded16(out)
}

/// Encode 16 bytes without padding into `out` (16 bytes are exactly 22 characters). For a
/// writer that encodes in place: copying a buffer just written a byte at a time makes the
/// processor wait for those stores to land (its wider loads cannot take them in flight).
pub(crate) fn encode_16_into(input: &[u8; 16], out: &mut [u8; 22]) {
    encode_small(input, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4_000))]
        /// Every encoding path (scalar below `SMALL`, the SIMD engine above it; into a vector
        /// or a string) writes what base64's engine writes, at every length and tail.
        #[test]
        fn every_encoder_agrees_with_the_engine(
            input in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
            prefix in "[a-z.]{0,3}",
        ) {
            let want = URL_SAFE_NO_PAD.encode(&input);
            let mut v = prefix.clone().into_bytes();
            proptest::prop_assert!(encode_to_vec(&input, &mut v));
            proptest::prop_assert_eq!(v, format!("{prefix}{want}").into_bytes());
            let mut s = prefix.clone();
            encode_to(&input, &mut s);
            proptest::prop_assert_eq!(s, format!("{prefix}{want}"));
            let mut exact = vec![0u8; want.len()];
            proptest::prop_assert!(encode_exact(&input, &mut exact));
            proptest::prop_assert_eq!(&exact[..], want.as_bytes());
            for wrong in [want.len().saturating_sub(1), want.len() + 1] {
                if wrong != want.len() {
                    proptest::prop_assert!(!encode_exact(&input, &mut vec![0u8; wrong]));
                }
            }
            if let Ok(sixteen) = <[u8; 16]>::try_from(input.get(..16).unwrap_or_default()) {
                let encoded = encode_16(&sixteen);
                proptest::prop_assert_eq!(encoded.as_str(), URL_SAFE_NO_PAD.encode(sixteen));
            }
        }
    }

    #[test]
    fn sixteen_bytes_encode_on_the_stack_as_on_the_heap() {
        for input in [[0u8; 16], [0xff; 16], *b"0123456789abcdef"] {
            assert_eq!(encode_16(&input).as_str(), encode(&input));
        }
    }

    #[test]
    fn rejects_everything_but_strict_base64url() {
        let mut buf = [0u8; 16];
        assert_eq!(decode_into(b"Zm9v", &mut buf).unwrap(), b"foo");
        assert_eq!(decode_into(b"", &mut buf).unwrap(), b"");
        for bad in [
            &b"Zm9v="[..],
            b"Zm 9v",
            b"Zm9v\n",
            b"Zm+v",
            b"Zm/v",
            b"Z",
            b"Zm9?",
        ] {
            assert!(decode_into(bad, &mut buf).is_err(), "{bad:?}");
        }
        // "Zm8" is the canonical encoding of "fo"; "Zm9" has non-zero trailing bits.
        assert_eq!(decode_into(b"Zm8", &mut buf).unwrap(), b"fo");
        assert!(decode_into(b"Zm9", &mut buf).is_err());
    }

    #[test]
    fn the_small_decoder_answers_as_the_engine() {
        let mut a = [0u8; 64];
        let mut b = [0u8; 64];
        for input in [
            &b""[..],
            b"Zm9v",
            b"Zm8",
            b"Zm9",
            b"Zg",
            b"Zh",
            b"Z",
            b"Zm9v=",
            b"Zm+v",
            b"Zm/v",
            b"Zm 9v",
            b"_-_-",
            b"\xff\xff",
            b"eyJhbGciOiJIUzI1NiJ9",
        ] {
            assert_eq!(
                decode_small(input, &mut a),
                decode_into(input, &mut b),
                "{input:?}"
            );
        }
        assert_eq!(
            decode_small(b"Zm9v", &mut [0u8; 2]),
            Err(TokenError::Malformed)
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4_000))]
        #[test]
        fn the_small_decoder_agrees_on_any_bytes(input in proptest::collection::vec(
            proptest::prop_oneof![
                proptest::sample::select(
                    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".to_vec()
                ),
                proptest::prelude::any::<u8>(),
            ],
            0..300,
        )) {
            let (mut a, mut b, mut c) = ([0u8; 256], [0u8; 256], [0u8; 256]);
            let want = decode_into(&input, &mut b);
            proptest::prop_assert_eq!(decode_small(&input, &mut a), want);
            proptest::prop_assert_eq!(decode_short(&input, &mut c), want);
        }

        /// Random inputs of that length are almost never valid past the first few characters:
        /// these are valid texts of 0 to 200 bytes (up to 267 characters, across the switch
        /// and through the engine's 32-character blocks) with one character replaced by any
        /// byte, or the last one's unused low bits set.
        #[test]
        fn the_decoders_agree_on_nearly_valid_text(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
            at in proptest::prelude::any::<proptest::sample::Index>(),
            with in proptest::prelude::any::<u8>(),
            trailing in proptest::prelude::any::<bool>(),
        ) {
            let mut text = encode(&bytes).into_bytes();
            if !text.is_empty() {
                if trailing && !text.len().is_multiple_of(4) {
                    const ALPHABET: &[u8; 64] =
                        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
                    let last = text.len() - 1;
                    // The same character with the lowest bit of its value set: always one of
                    // the bits a final character must leave zero.
                    text[last] = ALPHABET[(sextet(text[last]) | 1) as usize];
                } else {
                    let i = at.index(text.len());
                    text[i] = with;
                }
            }
            let (mut a, mut b, mut c) = ([0u8; 256], [0u8; 256], [0u8; 256]);
            let want = decode_into(&text, &mut b);
            proptest::prop_assert_eq!(decode_small(&text, &mut a), want);
            proptest::prop_assert_eq!(decode_short(&text, &mut c), want);
        }

        #[test]
        fn the_short_decoder_round_trips_on_both_sides_of_the_switch(bytes in
            proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
        ) {
            let text = encode(&bytes);
            let mut out = [0u8; 256];
            proptest::prop_assert_eq!(decode_short(text.as_bytes(), &mut out), Ok(&bytes[..]));
        }

        #[test]
        fn the_small_decoder_round_trips(bytes in proptest::collection::vec(
            proptest::prelude::any::<u8>(), 0..48,
        )) {
            let text = encode(&bytes);
            let mut out = [0u8; 64];
            proptest::prop_assert_eq!(decode_small(text.as_bytes(), &mut out), Ok(&bytes[..]));
        }
    }

    #[test]
    fn never_writes_past_the_buffer() {
        let mut small = [0u8; 2];
        assert_eq!(decode_into(b"Zm9v", &mut small), Err(TokenError::Malformed));
        assert_eq!(small, [0, 0]);
    }

    #[test]
    fn vec_decoding_reuses_capacity() {
        let mut v = Vec::with_capacity(64);
        decode_vec(b"Zm9vYmFy", &mut v).unwrap();
        assert_eq!(v, b"foobar");
        assert!(decode_vec(b"Zm9v=", &mut v).is_err());
        assert!(v.is_empty());
    }
}
