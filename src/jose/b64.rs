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

/// Append the encoding of `input` to `out`.
pub(crate) fn encode_to(input: &[u8], out: &mut String) {
    URL_SAFE_NO_PAD.encode_string(input, out);
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
    // 16 bytes are exactly 22 characters: the slice always fits.
    let _ = URL_SAFE_NO_PAD.encode_slice(input, &mut out);
    Encoded16(out)
}

#[cfg(test)]
mod tests {
    use super::*;

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
