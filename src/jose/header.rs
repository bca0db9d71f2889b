//! The JOSE protected header: the parameters this crate acts on, parsed without allocating.
//!
//! Headers this crate writes are recognised byte for byte before any decoding (see
//! [`verify_signature`](super::jws::verify_signature)); every other header is decoded once
//! and parsed here. Most headers, whoever wrote them and in whatever member order (`kid`
//! first, `typ` before `alg`, extra members such as `x5t`), are a flat object of plain strings:
//! [`scan`] reads those in one pass over the bytes, without serde. Anything else (escapes,
//! numbers, nested values, more than eight members, any syntax error) goes to serde_json,
//! which gives the same answer for what [`scan`] accepts and the precise error otherwise.

use core::cell::Cell;
use std::borrow::Cow;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

use super::json::{CowStr, DupGuard};
use crate::error::TokenError;

/// The parts of a protected header this crate acts on, borrowed from the decoded header.
#[derive(Debug)]
pub(crate) struct Header<'a> {
    pub(crate) alg: CowStr<'a>,
    pub(crate) kid: Option<CowStr<'a>>,
    pub(crate) typ: Option<CowStr<'a>>,
    pub(crate) crit: bool,
    pub(crate) embedded_key: bool,
}

struct HeaderSeed<'r> {
    reason: &'r Cell<TokenError>,
}

impl<'de> DeserializeSeed<'de> for HeaderSeed<'_> {
    type Value = Header<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for HeaderSeed<'_> {
    type Value = Header<'de>;

    fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("a JOSE header object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut guard = DupGuard::new();
        let (mut alg, mut kid, mut typ) = (None, None, None);
        let (mut crit, mut embedded_key) = (false, false);
        while let Some(name) = map.next_key::<CowStr<'de>>()? {
            if !guard.insert(&name.0) {
                self.reason.set(TokenError::DuplicateHeader);
                return Err(de::Error::custom("duplicate header parameter"));
            }
            match &*name.0 {
                "alg" => alg = Some(map.next_value::<CowStr<'de>>()?),
                "kid" => kid = Some(map.next_value::<CowStr<'de>>()?),
                "typ" => typ = Some(map.next_value::<CowStr<'de>>()?),
                "crit" => {
                    map.next_value::<IgnoredAny>()?;
                    crit = true;
                }
                "jwk" | "jku" | "x5u" | "x5c" => {
                    map.next_value::<IgnoredAny>()?;
                    embedded_key = true;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let alg = alg.ok_or_else(|| de::Error::missing_field("alg"))?;
        Ok(Header {
            alg,
            kid,
            typ,
            crit,
            embedded_key,
        })
    }
}

/// Parse a decoded protected header: [`scan`] for the usual shapes, serde_json for the rest.
/// Either way the result is the same, and nothing is allocated unless a string has escapes.
#[inline]
pub(crate) fn parse_header(json: &[u8]) -> Result<Header<'_>, TokenError> {
    match scan(json) {
        Some(header) => Ok(header),
        None => parse_with_serde(json),
    }
}

/// The general parser: any JSON, every error with its reason.
#[cold]
#[inline(never)]
fn parse_with_serde(json: &[u8]) -> Result<Header<'_>, TokenError> {
    let json = core::str::from_utf8(json).map_err(|_| TokenError::Header)?;
    let reason = Cell::new(TokenError::Header);
    let mut de = serde_json::Deserializer::from_str(json);
    let header = HeaderSeed { reason: &reason }
        .deserialize(&mut de)
        .and_then(|h| de.end().map(|()| h));
    header.map_err(|_| reason.get())
}

/// Most members [`scan`] takes; a header with more goes to serde_json.
const SCAN_MEMBERS: usize = 8;

/// JSON's insignificant whitespace skipped from the front of `s`.
#[inline(always)]
fn skip_ws(s: &[u8]) -> &[u8] {
    match s {
        [b' ' | b'\t' | b'\n' | b'\r', ..] => {
            let n = s
                .iter()
                .position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
                .unwrap_or(s.len());
            s.get(n..).unwrap_or_default()
        }
        _ => s,
    }
}

/// `s` without its first byte, if that is `byte`.
#[inline(always)]
fn eat(s: &[u8], byte: u8) -> Option<&[u8]> {
    match s {
        [first, rest @ ..] if *first == byte => Some(rest),
        _ => None,
    }
}

/// A string without escapes or control characters at the front of `s`: its contents (which
/// are then its value) and what follows. Anything else is `None`.
#[inline(always)]
fn plain_string(s: &[u8]) -> Option<(&[u8], &[u8])> {
    let s = eat(s, b'"')?;
    let len = string_end(s)?;
    match s.split_at_checked(len)? {
        (contents, [b'"', rest @ ..]) => Some((contents, rest)),
        _ => None,
    }
}

/// The index of the first `"`, `\\` or control character in `s`, eight bytes at a time
/// (header names and values are short: usually one step).
#[inline(always)]
fn string_end(s: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    let mut at = 0;
    while let Some(chunk) = s.get(at..at + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        // A byte of `x` is zero exactly where the lowest flagged byte of this is: bytes
        // above the first match may be flagged falsely, never bytes below it.
        let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
        let found = zero(w ^ (ONES * u64::from(b'"')))
            | zero(w ^ (ONES * u64::from(b'\\')))
            | (w.wrapping_sub(ONES * 0x20) & !w & HIGHS);
        if found != 0 {
            return Some(at + found.trailing_zeros() as usize / 8);
        }
        at += 8;
    }
    let tail = s.get(at..)?;
    tail.iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
        .map(|i| at + i)
}

/// A member value at the front of `s`: `Some(Some(s))` for a plain string, `Some(None)` for
/// `true`, `false` or `null`, `None` for anything else (numbers, objects, arrays, escapes).
#[inline(always)]
fn value(s: &[u8]) -> Option<(Option<&[u8]>, &[u8])> {
    match s.first()? {
        b'"' => plain_string(s).map(|(v, rest)| (Some(v), rest)),
        _ => [&b"true"[..], b"false", b"null"]
            .into_iter()
            .find_map(|l| s.strip_prefix(l))
            .map(|rest| (None, rest)),
    }
}

/// A member name of up to seven bytes as one integer (its bytes and its length), so that
/// names compare without a call; longer names are `u64::MAX` and compared as bytes.
#[inline(always)]
fn name_key(name: &[u8]) -> u64 {
    if name.len() > 7 {
        return u64::MAX;
    }
    // Shifted in register by register: bytes stored one by one and read back as a word would
    // stall the load.
    let bytes = name
        .iter()
        .rev()
        .fold(0u64, |key, &b| (key << 8) | u64::from(b));
    bytes | ((name.len() as u64) << 56)
}

const fn key_of(name: &[u8; 3]) -> u64 {
    u64::from_le_bytes([name[0], name[1], name[2], 0, 0, 0, 0, 3])
}
const ALG: u64 = key_of(b"alg");
const KID: u64 = key_of(b"kid");
const TYP: u64 = key_of(b"typ");
const JWK: u64 = key_of(b"jwk");
const JKU: u64 = key_of(b"jku");
const X5U: u64 = key_of(b"x5u");
const X5C: u64 = key_of(b"x5c");
const CRIT: u64 = u64::from_le_bytes([b'c', b'r', b'i', b't', 0, 0, 0, 4]);

/// The fast parser: a flat JSON object of at most [`SCAN_MEMBERS`] distinct members whose
/// names are plain strings and whose values are plain strings or `true`/`false`/`null`, with
/// `alg` (and `kid`, `typ` if present) a string. Returns `None` for anything else (text that is
/// not UTF-8 included), never an error: serde_json then parses it. For every input it
/// accepts, the result equals serde_json's (a property test holds it to that).
fn scan(json: &[u8]) -> Option<Header<'_>> {
    // One check for the whole text: every string below is a slice of it between ASCII quotes.
    let text = core::str::from_utf8(json).ok()?;
    let as_str = |part: &[u8]| {
        let start = (part.as_ptr() as usize).wrapping_sub(json.as_ptr() as usize);
        text.get(start..start.checked_add(part.len())?)
    };
    let mut names: [(u64, &[u8]); SCAN_MEMBERS] = [(0, &[]); SCAN_MEMBERS];
    let mut count = 0;
    let (mut alg, mut kid, mut typ) = (None, None, None);
    let (mut crit, mut embedded_key) = (false, false);
    let mut s = skip_ws(eat(skip_ws(json), b'{')?);
    if let Some(rest) = eat(s, b'}') {
        s = rest;
    } else {
        loop {
            let (name, rest) = plain_string(s)?;
            // Without escapes a name's bytes are its value: comparing them finds duplicates.
            let key = name_key(name);
            if names
                .get(..count)?
                .iter()
                .any(|(k, n)| *k == key && (key != u64::MAX || *n == name))
            {
                return None;
            }
            *names.get_mut(count)? = (key, name);
            count += 1;
            let (value, rest) = value(skip_ws(eat(skip_ws(rest), b':')?))?;
            match key {
                ALG => alg = Some(value?),
                KID => kid = Some(value?),
                TYP => typ = Some(value?),
                CRIT => crit = true,
                JWK | JKU | X5U | X5C => embedded_key = true,
                _ => {}
            }
            let rest = skip_ws(rest);
            if let Some(rest) = eat(rest, b',') {
                s = skip_ws(rest);
                continue;
            }
            s = eat(rest, b'}')?;
            break;
        }
    }
    if !skip_ws(s).is_empty() {
        return None;
    }
    let borrowed = |part: &[u8]| as_str(part).map(|s| CowStr(Cow::Borrowed(s)));
    Some(Header {
        alg: borrowed(alg?)?,
        kid: match kid {
            Some(k) => Some(borrowed(k)?),
            None => None,
        },
        typ: match typ {
            Some(t) => Some(borrowed(t)?),
            None => None,
        },
        crit,
        embedded_key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_parser_flags_what_it_must() {
        let h =
            parse_header(br#"{"alg":"ES256","typ":"at+jwt","kid":"k1","x":{"y":[1]}}"#).unwrap();
        assert_eq!(&*h.alg.0, "ES256");
        assert_eq!(h.kid.unwrap().0, "k1");
        assert_eq!(h.typ.unwrap().0, "at+jwt");
        assert!(!h.crit && !h.embedded_key);
        assert!(
            parse_header(br#"{"alg":"ES256","crit":["b64"]}"#)
                .unwrap()
                .crit
        );
        for k in ["jwk", "jku", "x5u", "x5c"] {
            let json = format!(r#"{{"alg":"ES256","{k}":{{}}}}"#);
            assert!(parse_header(json.as_bytes()).unwrap().embedded_key, "{k}");
        }
        assert_eq!(
            parse_header(br#"{"alg":"HS256","alg":"none"}"#).unwrap_err(),
            TokenError::DuplicateHeader
        );
        assert_eq!(
            parse_header(br#"{"alg":"HS256","x":1,"x":2}"#).unwrap_err(),
            TokenError::DuplicateHeader
        );
        for bad in [
            &b""[..],
            b"[]",
            b"{}",
            br#"{"alg":1}"#,
            br#"{"alg":"HS256"} x"#,
            b"\xff",
        ] {
            assert_eq!(
                parse_header(bad).unwrap_err(),
                TokenError::Header,
                "{bad:?}"
            );
        }
    }

    /// The two parsers as one comparable value.
    fn both(json: &str) -> (Option<String>, Result<String, TokenError>) {
        let show = |h: &Header<'_>| format!("{h:?}");
        (
            scan(json.as_bytes()).as_ref().map(show),
            parse_with_serde(json.as_bytes())
                .as_ref()
                .map(show)
                .map_err(|e| *e),
        )
    }

    #[test]
    fn scan_reads_foreign_member_orders_and_defers_the_rest() {
        for json in [
            r#"{"alg":"HS256","typ":"at+jwt","kid":"k"}"#,
            r#"{"typ":"at+jwt","alg":"HS256"}"#,
            r#"{"kid":"k","alg":"RS256","typ":"JWT"}"#,
            r#" { "alg" : "RS256" ,"typ":"JWT", "x5t":"abc","kid":"k" } "#,
            r#"{"alg":"ES256","b64":true,"zip":null,"other":false}"#,
            r#"{"alg":"ES256","crit":null}"#,
            r#"{"alg":"ES256","jku":"https://x"}"#,
            r#"{"alg":"ES256","kid":""}"#,
            r#"{"a":"","b":"","c":"","d":"","e":"","f":"","g":"","alg":"HS256"}"#,
            r#"{"alg":"none"}"#,
            "{\"alg\":\"\u{e9}\u{1F600}\"}",
        ] {
            let (fast, slow) = both(json);
            assert!(fast.is_some(), "{json}");
            assert_eq!(fast.ok_or(TokenError::Header), slow, "{json}");
        }
        for json in [
            r#"{"alg":"HS256","kid":"a\u0062"}"#,
            r#"{"\u0061lg":"HS256"}"#,
            r#"{"alg":"HS256","x":1}"#,
            r#"{"alg":"HS256","x":{}}"#,
            r#"{"alg":"HS256","crit":["exp"]}"#,
            r#"{"alg":"HS256","alg":"none"}"#,
            r#"{"alg":"HS256","x":true,"x":false}"#,
            r#"{"alg":"HS256",}"#,
            r#"{"alg":"HS256"}x"#,
            r#"{"alg":true}"#,
            r#"{"alg":"HS256","kid":null}"#,
            r#"{"alg":"HS256","x":nul}"#,
            r#"{"alg":"HS256","x":truex}"#,
            "{\"alg\":\"HS\t256\"}",
            r#"{"a":"","b":"","c":"","d":"","e":"","f":"","g":"","h":"","alg":"HS256"}"#,
            r#"{"kid":"k"}"#,
            "{}",
            "",
            "[]",
        ] {
            assert_eq!(both(json).0, None, "{json}");
        }
    }

    /// Headers in the shapes issuers write, and near misses of them.
    fn header_text() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let name = prop_oneof![
            Just("alg".to_owned()),
            Just("kid".to_owned()),
            Just("typ".to_owned()),
            Just("crit".to_owned()),
            Just("x5t".to_owned()),
            Just("jku".to_owned()),
            Just("\\u0061lg".to_owned()),
            "[a-z]{0,3}",
        ];
        let value = prop_oneof![
            Just("\"HS256\"".to_owned()),
            Just("\"at+jwt\"".to_owned()),
            Just("true".to_owned()),
            Just("null".to_owned()),
            Just("1".to_owned()),
            Just("[\"exp\"]".to_owned()),
            Just("{}".to_owned()),
            Just("\"a\\u0062\"".to_owned()),
            "\"[ -~\u{e9}]{0,6}\"",
        ];
        let ws = prop_oneof![Just(""), Just(""), Just(" "), Just("\n\t ")];
        proptest::collection::vec((name, value, ws.clone(), ws), 0..10).prop_map(|members| {
            let body: Vec<String> = members
                .into_iter()
                .map(|(n, v, a, b)| format!("{a}\"{n}\"{b}:{a}{v}{b}"))
                .collect();
            format!("{{{}}}", body.join(","))
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4_000))]
        #[test]
        fn string_end_finds_the_first_stop_byte(bytes in proptest::collection::vec(
            proptest::prop_oneof![
                4 => 0x20u8..0x7f,
                1 => proptest::sample::select(vec![b'"', b'\\', 0x00, 0x1f, 0x20, 0x7f, 0x80, 0xff]),
            ],
            0..40,
        )) {
            let naive = bytes.iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20);
            proptest::prop_assert_eq!(string_end(&bytes), naive);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2_000))]
        #[test]
        fn scan_agrees_with_serde_wherever_it_answers(json in header_text()) {
            let (fast, slow) = both(&json);
            if let Some(fast) = fast {
                proptest::prop_assert_eq!(Ok(fast), slow, "{}", json);
            }
        }
    }
}
