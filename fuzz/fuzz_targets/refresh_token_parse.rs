//! Refresh-token parsing (`RefreshKeys::parse`) against a fixed key set: current secret
//! `[7; 32]` (id 0) and a retiring secret `[8; 32]` (id 1).
//!
//! The first byte picks the mode:
//! - text: arbitrary bytes (lossy UTF-8) as a token. Parsing never panics; a token that
//!   parses is `rt_` + 94 base64url characters whose decoded parts are the ones reported, and
//!   minting those parts again under the same key id gives back the identical text (so no two
//!   spellings of one token are accepted).
//! - structured: family id, generation and secret from the input, minted with
//!   `__private::mint`; the token parses to the same parts; with one byte changed (position
//!   and new value from the input) it never parses (`MalformedToken` or `InvalidTag`).
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use token_engine::opaque::{REFRESH_TOKEN_LEN, REFRESH_TOKEN_PREFIX};
use token_engine::{__private, FamilyId, GrantError, RefreshKeys, RefreshSecret};

struct Fixture {
    /// Current id 0, retiring id 1: what is fuzzed.
    keys: RefreshKeys,
    /// The retiring secret as the current one, to re-mint id-1 tokens.
    retiring: RefreshKeys,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let secret = |b: u8| RefreshSecret::from_bytes(&[b; 32]).expect("secret");
    Fixture {
        keys: RefreshKeys::new(secret(7))
            .with_retiring(secret(8).with_id(1))
            .expect("keys"),
        retiring: RefreshKeys::new(secret(8).with_id(1)),
    }
});

/// Independent, lenient base64url decoder (ignores trailing bits): the oracle for the parts.
fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// `(key_id, family, generation, secret)` of a token's text, decoded independently.
fn parts(token: &str) -> Option<(u8, [u8; 16], u32, [u8; 32])> {
    let body = b64url_decode(token.strip_prefix(REFRESH_TOKEN_PREFIX)?)?;
    if body.len() != 70 || body[0] != 1 {
        return None;
    }
    Some((
        body[1],
        body[2..18].try_into().ok()?,
        u32::from_be_bytes(body[18..22].try_into().ok()?),
        body[22..54].try_into().ok()?,
    ))
}

fn text_mode(f: &Fixture, data: &[u8]) {
    let token = String::from_utf8_lossy(data);
    let Ok(p) = f.keys.parse(&token) else { return };
    assert_eq!(token.len(), REFRESH_TOKEN_LEN);
    let (key_id, family, generation, secret) =
        parts(&token).unwrap_or_else(|| panic!("accepted token does not decode: {token:?}"));
    assert_eq!(p.family(), FamilyId::from_bytes(family));
    assert_eq!(p.generation(), generation);
    let minter = match key_id {
        0 => &f.keys,
        1 => &f.retiring,
        other => panic!("accepted a token under unknown key id {other}"),
    };
    let again = __private::mint(minter, p.family(), p.generation(), &secret).expect("mint");
    assert_eq!(
        again.expose_secret(),
        &*token,
        "accepted a non-canonical spelling"
    );
}

fn structured_mode(f: &Fixture, data: &[u8]) {
    let mut buf = [0u8; 16 + 4 + 32 + 3];
    for (b, d) in buf.iter_mut().zip(data) {
        *b = *d;
    }
    let family = FamilyId::from_bytes(buf[..16].try_into().expect("16"));
    let generation = u32::from_be_bytes(buf[16..20].try_into().expect("4"));
    let secret: [u8; 32] = buf[20..52].try_into().expect("32");
    let token = __private::mint(&f.keys, family, generation, &secret).expect("mint");
    let text = token.expose_secret();
    assert_eq!(text.len(), REFRESH_TOKEN_LEN);
    let p = f.keys.parse(text).expect("a minted token parses");
    assert_eq!((p.family(), p.generation()), (family, generation));
    assert_eq!(
        parts(text),
        Some((0, *family.as_bytes(), generation, secret))
    );

    let at = usize::from(u16::from_be_bytes([buf[52], buf[53]])) % text.len();
    let mut bytes = text.as_bytes().to_vec();
    bytes[at] ^= buf[54].max(1);
    let changed = String::from_utf8_lossy(&bytes);
    match f.keys.parse(&changed) {
        Err(GrantError::MalformedToken | GrantError::InvalidTag) => {}
        Err(other) => panic!("unexpected error {other:?} for a changed token"),
        Ok(_) => panic!("byte {at} changed, still parses: {text} -> {changed}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let f = &*FIXTURE;
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        text_mode(f, rest);
    } else {
        structured_mode(f, rest);
    }
});
