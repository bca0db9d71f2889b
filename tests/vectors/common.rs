//! Shared helpers: loading the copied vector files, hex and base64url, one-bit tampering,
//! typed outcomes and per-file tallies.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use token_engine::jose::verify_compact;
use token_engine::{Error, KeyError, TokenError, VerifyingKey};

/// Token length limit the runners pass to `verify_compact`.
pub const MAX_LEN: usize = 64 * 1024;

/// Parse `tests/data/<rel>`.
pub fn load_json(rel: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(rel);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// The string member `key` of `v` (the vector files are trusted: a missing member panics).
pub fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("member {key:?} is not a string in {v}"))
}

/// The integer member `key` of `v`.
pub fn n(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("member {key:?} is not an integer in {v}"))
}

/// The array member `key` of `v`.
pub fn arr<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v[key]
        .as_array()
        .unwrap_or_else(|| panic!("member {key:?} is not an array in {v}"))
}

/// Decode lowercase or uppercase hex.
pub fn hex(text: &str) -> Vec<u8> {
    assert!(text.len().is_multiple_of(2), "odd-length hex {text:?}");
    text.as_bytes()
        .chunks(2)
        .map(|pair| {
            let pair = std::str::from_utf8(pair).expect("ASCII hex");
            u8::from_str_radix(pair, 16).unwrap_or_else(|_| panic!("bad hex {pair:?}"))
        })
        .collect()
}

/// Strict base64url decoding (test data only: a bad input panics).
pub fn b64d(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(text)
        .unwrap_or_else(|e| panic!("bad base64url {text:?}: {e}"))
}

/// Unpadded base64url encoding.
pub fn b64e(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A copy of `bytes` with the lowest bit of its middle byte flipped.
pub fn flip_bit(bytes: &[u8]) -> Vec<u8> {
    assert!(!bytes.is_empty(), "nothing to tamper with");
    let mut out = bytes.to_vec();
    let mid = out.len() / 2;
    out[mid] ^= 1;
    out
}

/// The compact JWS with one bit of its decoded signature flipped and re-encoded. A signature
/// segment that is not base64url (only in rejected inputs) gets its first character changed.
pub fn tamper_signature(token: &str) -> String {
    let (signing_input, sig) = token.rsplit_once('.').expect("a compact JWS");
    let tampered = match URL_SAFE_NO_PAD.decode(sig) {
        Ok(bytes) if !bytes.is_empty() => b64e(&flip_bit(&bytes)),
        _ => replace_first_char(sig),
    };
    assert_ne!(tampered, sig);
    format!("{signing_input}.{tampered}")
}

/// The compact JWS with the first character of its payload segment replaced by another
/// base64url character (the first character's six bits all land in the first decoded byte,
/// so the decoded payload changes). An empty payload becomes `AA` (one zero byte).
pub fn tamper_payload(token: &str) -> String {
    let mut parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a compact JWS");
    let payload = if parts[1].is_empty() {
        "AA".to_owned()
    } else {
        replace_first_char(parts[1])
    };
    parts[1] = &payload;
    parts.join(".")
}

fn replace_first_char(segment: &str) -> String {
    let replacement = if segment.starts_with('A') { "B" } else { "A" };
    format!("{replacement}{}", segment.get(1..).unwrap_or_default())
}

/// Run `f`, turning a panic inside the library into a test failure that names the case.
pub fn no_panic<T>(case: impl fmt::Display, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| panic!("{case}: the library panicked"))
}

/// What happened to one JWS test case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The token verified; holds the decoded payload.
    Accepted(Vec<u8>),
    /// The key (or key set) was rejected at import, so the case counts as rejected.
    Key(KeyError),
    /// `verify_compact` rejected the token with this reason.
    Token(TokenError),
}

impl Outcome {
    /// Whether the token was accepted.
    pub fn accepted(&self) -> bool {
        matches!(self, Outcome::Accepted(_))
    }

    /// The outcome without the payload, for comparison with an expectation.
    pub fn kind(&self) -> Expect {
        match self {
            Outcome::Accepted(_) => Expect::Accept,
            Outcome::Key(e) => Expect::Key(*e),
            Outcome::Token(e) => Expect::Token(*e),
        }
    }
}

/// The expected outcome of an exception: accepted, or rejected for exactly this reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Accepted.
    Accept,
    /// Rejected at key import.
    Key(KeyError),
    /// Rejected by `verify_compact`.
    Token(TokenError),
}

/// A test case whose result differs from (or needs more than) its label, with the reason.
#[derive(Clone, Copy, Debug)]
pub struct Exception {
    /// The Wycheproof `tcId`.
    pub tc_id: u64,
    /// What the engine does with it, asserted exactly.
    pub expect: Expect,
    /// Why that is right.
    pub why: &'static str,
}

/// `verify_compact` as a typed outcome: every rejection must be `Error::InvalidToken`, and
/// nothing may panic.
pub fn verify(case: impl fmt::Display + Copy, token: &str, keys: &[VerifyingKey]) -> Outcome {
    match no_panic(case, || verify_compact(token, keys, MAX_LEN)) {
        Ok(payload) => Outcome::Accepted(payload),
        Err(Error::InvalidToken(reason)) => Outcome::Token(reason),
        Err(other) => panic!("{case}: rejection is not Error::InvalidToken: {other:?}"),
    }
}

/// Tamper with an accepted token twice (one signature bit, one payload character) and
/// require `InvalidSignature` both times. Returns how many tampered tokens were checked.
pub fn assert_tamper_rejected(
    case: impl fmt::Display + Copy,
    token: &str,
    keys: &[VerifyingKey],
) -> usize {
    for (what, tampered) in [
        ("signature bit", tamper_signature(token)),
        ("payload character", tamper_payload(token)),
    ] {
        assert_eq!(
            verify(case, &tampered, keys),
            Outcome::Token(TokenError::InvalidSignature),
            "{case}: token with a tampered {what} must be rejected: {tampered}"
        );
    }
    2
}

/// Per-file counts, printed with `eprintln!` (visible with `--nocapture`).
#[derive(Debug, Default)]
pub struct Tally {
    /// Cases run.
    pub total: usize,
    /// Cases accepted.
    pub accepted: usize,
    /// Cases rejected (including those whose key was rejected).
    pub rejected: usize,
    /// Of the rejected, those whose key was rejected at import.
    pub key_rejected: usize,
    /// Cases not run (for example truncated-MAC groups), counted in `total`.
    pub skipped: usize,
    /// Tampered copies of valid cases, all rejected.
    pub tampered: usize,
    /// Cases decided by the exception list instead of their label.
    pub exceptions: usize,
}

impl Tally {
    /// Record one case.
    pub fn record(&mut self, accepted: bool, key_rejected: bool) {
        self.total += 1;
        if accepted {
            self.accepted += 1;
        } else {
            self.rejected += 1;
            if key_rejected {
                self.key_rejected += 1;
            }
        }
    }

    /// Record one skipped case.
    pub fn skip(&mut self) {
        self.total += 1;
        self.skipped += 1;
    }

    /// Print the counts for `file`.
    pub fn report(&self, file: &str) {
        eprintln!(
            "{file}: {} cases: {} accepted, {} rejected ({} at key import), {} skipped; \
             {} tampered copies rejected; {} exceptions",
            self.total,
            self.accepted,
            self.rejected,
            self.key_rejected,
            self.skipped,
            self.tampered,
            self.exceptions
        );
    }
}
