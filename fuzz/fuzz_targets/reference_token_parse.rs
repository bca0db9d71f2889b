//! Reference access-token parsing (`at_...`, issue 23) against a fixed key set: current secret
//! `[7; 32]` (id 0) and a retiring secret `[8; 32]` (id 1).
//!
//! The first byte picks the mode:
//! - text: arbitrary bytes (lossy UTF-8) as a token. Parsing never panics; a token that
//!   parses is `at_` and at most 196 base64url characters, and minting its parts again under
//!   the same key id gives back the identical text (so no two spellings of one token are
//!   accepted).
//! - structured: family, token id, times, scope and resource masks and bindings from the input, minted; the
//!   token parses to the same parts; with one byte changed (position and new value from the
//!   input) it never parses.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use token_engine::__private::{self, ReferenceParts};
use token_engine::reference::{MAX_REFERENCE_TOKEN_LEN, REFERENCE_TOKEN_PREFIX};
use token_engine::{FamilyId, RefreshKeys, RefreshSecret};

static KEYS: LazyLock<(RefreshKeys, RefreshKeys)> = LazyLock::new(|| {
    let secret = |b: u8| RefreshSecret::from_bytes(&[b; 32]).expect("secret");
    (
        RefreshKeys::new(secret(7))
            .with_retiring(secret(8).with_id(1))
            .expect("keys"),
        // The retiring secret alone, to re-mint id-1 tokens.
        RefreshKeys::new(secret(8).with_id(1)),
    )
});

fn text_mode(keys: &RefreshKeys, data: &[u8]) {
    let token = String::from_utf8_lossy(data);
    let Some(p) = __private::parse_reference(keys, &token) else {
        return;
    };
    assert!(token.starts_with(REFERENCE_TOKEN_PREFIX));
    assert!(token.len() <= MAX_REFERENCE_TOKEN_LEN);
    let minter = match p.key_id {
        0 => keys,
        1 => &KEYS.1,
        other => panic!("accepted a token under unknown key id {other}"),
    };
    let again = __private::mint_reference(minter, &p).expect("mint");
    assert_eq!(again, *token, "accepted a non-canonical spelling");
}

fn structured_mode(keys: &RefreshKeys, data: &[u8]) {
    let mut buf = [0u8; 16 + 16 + 8 + 8 + 8 + 8 + 1 + 32 + 32 + 3];
    for (b, d) in buf.iter_mut().zip(data) {
        *b = *d;
    }
    let (family, rest) = buf.split_first_chunk::<16>().expect("16");
    let (id, rest) = rest.split_first_chunk::<16>().expect("16");
    let (iat, rest) = rest.split_first_chunk::<8>().expect("8");
    let (exp, rest) = rest.split_first_chunk::<8>().expect("8");
    let (mask, rest) = rest.split_first_chunk::<8>().expect("8");
    let (resources, rest) = rest.split_first_chunk::<8>().expect("8");
    let (&flags, rest) = rest.split_first().expect("1");
    let (jkt, rest) = rest.split_first_chunk::<32>().expect("32");
    let (x5t, rest) = rest.split_first_chunk::<32>().expect("32");
    let parts = ReferenceParts {
        key_id: 0,
        family: FamilyId::from_bytes(*family),
        id: *id,
        iat: i64::from_be_bytes(*iat),
        exp: i64::from_be_bytes(*exp),
        scope_mask: u64::from_be_bytes(*mask),
        resource_mask: u64::from_be_bytes(*resources),
        jkt: (flags & 1 != 0).then_some(*jkt),
        x5t: (flags & 2 != 0).then_some(*x5t),
    };
    let text = __private::mint_reference(keys, &parts).expect("mint");
    assert!(text.len() <= MAX_REFERENCE_TOKEN_LEN);
    assert_eq!(__private::parse_reference(keys, &text), Some(parts));

    let at = usize::from(u16::from_be_bytes([rest[0], rest[1]])) % text.len();
    let mut bytes = text.as_bytes().to_vec();
    bytes[at] ^= rest[2].max(1);
    let changed = String::from_utf8_lossy(&bytes);
    assert!(
        __private::parse_reference(keys, &changed).is_none(),
        "byte {at} changed, still parses: {text} -> {changed}"
    );
}

fuzz_target!(|data: &[u8]| {
    let keys = &KEYS.0;
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        text_mode(keys, rest);
    } else {
        structured_mode(keys, rest);
    }
});
