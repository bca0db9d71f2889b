//! The JOSE protected header: the parameters this crate acts on, parsed without allocating.
//!
//! Headers this crate writes are recognised byte for byte before any decoding (see
//! [`verify_signature`](super::jws::verify_signature)); every other header is decoded once
//! and parsed here. Most headers, whoever wrote them and in whatever member order (`kid`
//! first, `typ` before `alg`, extra members such as `x5t`), are a flat object of plain strings:
//! [`scan_flat`] reads the compact ones (no whitespace, ASCII, every value a string) member by
//! member, [`scan`] the other flat objects (whitespace, `true`/`false`/`null`, non-ASCII
//! strings), both in one pass over the bytes without serde. Anything else (escapes, numbers,
//! nested values, more than eight members, any syntax error) goes to serde_json, which gives
//! the same answer for what either accepts and the precise error otherwise.

use core::cell::Cell;
use std::borrow::Cow;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

use super::json::{CowStr, DupGuard};
use crate::error::TokenError;

/// The parts of a protected header this crate acts on, borrowed from the decoded header. The
/// strings are kept as their bytes (a string's value, whatever its JSON spelling): every check
/// on them compares bytes, so the fast parsers need no `str`.
#[derive(Debug)]
pub(crate) struct Header<'a> {
    pub(crate) alg: Cow<'a, [u8]>,
    pub(crate) kid: Option<Cow<'a, [u8]>>,
    pub(crate) typ: Option<Cow<'a, [u8]>>,
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
                "alg" => alg = Some(bytes(map.next_value()?)),
                "kid" => kid = Some(bytes(map.next_value()?)),
                "typ" => typ = Some(bytes(map.next_value()?)),
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

/// A string's value as bytes, borrowed or owned as it was.
fn bytes(s: CowStr<'_>) -> Cow<'_, [u8]> {
    match s.0 {
        Cow::Borrowed(s) => Cow::Borrowed(s.as_bytes()),
        Cow::Owned(s) => Cow::Owned(s.into_bytes()),
    }
}

/// Parse a decoded protected header: [`scan_flat`] for compact ones, [`scan`] for the other
/// flat ones, serde_json for the rest.
/// Either way the result is the same, and nothing is allocated unless a string has escapes.
#[inline]
pub(crate) fn parse_header(json: &[u8]) -> Result<Header<'_>, TokenError> {
    match scan_flat(json).or_else(|| scan(json)) {
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

/// Most members [`scan_flat`] and [`scan`] take; a header with more goes to serde_json.
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

/// The high bit of each byte of `w` (eight bytes read little-endian) that ends a plain JSON
/// string: `"`, `\\` or a control character, and with `ASCII` also any byte that is not
/// ASCII. Exact up to the first such byte; bytes above it may be flagged falsely.
#[inline(always)]
fn stops<const ASCII: bool>(w: u64) -> u64 {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    let found = zero(w ^ (ONES * u64::from(b'"')))
        | zero(w ^ (ONES * u64::from(b'\\')))
        | (w.wrapping_sub(ONES * 0x20) & !w & HIGHS);
    if ASCII { found | (w & HIGHS) } else { found }
}

/// The index of the first byte of `s` that [`stops`] flags, eight bytes at a time (header
/// names and values are short: usually one step).
#[inline(always)]
fn first_stop<const ASCII: bool>(s: &[u8]) -> Option<usize> {
    let mut at = 0;
    while let Some(word) = s.get(at..).and_then(<[u8]>::first_chunk::<8>) {
        let found = stops::<ASCII>(u64::from_le_bytes(*word));
        if found != 0 {
            return Some(at + found.trailing_zeros() as usize / 8);
        }
        at += 8;
    }
    let tail = s.get(at..)?;
    tail.iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20 || (ASCII && !b.is_ascii()))
        .map(|i| at + i)
}

/// The index of the first `"`, `\\` or control character in `s`.
#[inline(always)]
fn string_end(s: &[u8]) -> Option<usize> {
    first_stop::<false>(s)
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

/// What [`scan_flat`] and [`scan`] gather, member by member: the names seen (to refuse
/// duplicates) and the parameters this crate acts on.
struct Members<'a> {
    names: [(u64, &'a [u8]); SCAN_MEMBERS],
    count: usize,
    alg: Option<&'a [u8]>,
    kid: Option<&'a [u8]>,
    typ: Option<&'a [u8]>,
    crit: bool,
    embedded_key: bool,
}

impl<'a> Members<'a> {
    fn new() -> Self {
        Self {
            names: [(0, &[]); SCAN_MEMBERS],
            count: 0,
            alg: None,
            kid: None,
            typ: None,
            crit: false,
            embedded_key: false,
        }
    }

    /// One more member: a name without escapes (so its bytes are its value) and its value,
    /// `Some` for a plain string. `None` for a duplicate name, a ninth member, or an `alg`,
    /// `kid` or `typ` that is not a string.
    #[inline(always)]
    fn add(&mut self, name: &'a [u8], value: Option<&'a [u8]>) -> Option<()> {
        self.add_keyed(name_key(name), name, value)
    }

    /// [`add`](Self::add) with the name's [`name_key`] already known.
    #[inline(always)]
    fn add_keyed(&mut self, key: u64, name: &'a [u8], value: Option<&'a [u8]>) -> Option<()> {
        if self
            .names
            .get(..self.count)?
            .iter()
            .any(|(k, n)| *k == key && (key != u64::MAX || *n == name))
        {
            return None;
        }
        *self.names.get_mut(self.count)? = (key, name);
        self.count += 1;
        match key {
            ALG => self.alg = Some(value?),
            KID => self.kid = Some(value?),
            TYP => self.typ = Some(value?),
            CRIT => self.crit = true,
            JWK | JKU | X5U | X5C => self.embedded_key = true,
            _ => {}
        }
        Some(())
    }

    /// The header; `None` without an `alg`.
    #[inline(always)]
    fn finish(self) -> Option<Header<'a>> {
        Some(Header {
            alg: Cow::Borrowed(self.alg?),
            kid: self.kid.map(Cow::Borrowed),
            typ: self.typ.map(Cow::Borrowed),
            crit: self.crit,
            embedded_key: self.embedded_key,
        })
    }
}

/// The general one-pass parser: a flat JSON object of at most [`SCAN_MEMBERS`] distinct
/// members whose names are plain strings and whose values are plain strings or
/// `true`/`false`/`null`, with `alg` (and `kid`, `typ` if present) a string. Returns `None` for
/// anything else (text that is not UTF-8 included), never an error: serde_json then parses it.
/// For every input it accepts, the result equals serde_json's (a property test holds it to
/// that).
fn scan(json: &[u8]) -> Option<Header<'_>> {
    // One check for the whole text (serde_json refuses text that is not UTF-8).
    core::str::from_utf8(json).ok()?;
    let mut members = Members::new();
    let mut s = skip_ws(eat(skip_ws(json), b'{')?);
    if let Some(rest) = eat(s, b'}') {
        s = rest;
    } else {
        loop {
            let (name, rest) = plain_string(s)?;
            let (value, rest) = value(skip_ws(eat(skip_ws(rest), b':')?))?;
            members.add(name, value)?;
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
    members.finish()
}

/// The fastest parser, for the header almost every issuer writes: JSON without whitespace,
/// ASCII, no escapes, every value a string (`{"kid":"k","alg":"HS256","typ":"JWT",
/// "x5t":".."}`), at most [`SCAN_MEMBERS`] distinct members. It reads each member as
/// `"name":"value"` followed by `,` or the closing `}`: a name of up to seven bytes ends in
/// the word that is loaded to find its end and becomes its integer key without a second
/// pass. Anything else is `None` and goes to [`scan`]. For every input it accepts, the result
/// equals serde_json's (a property test holds it to that).
fn scan_flat(json: &[u8]) -> Option<Header<'_>> {
    let mut at = match json {
        [b'{', b'"', ..] => 2,
        _ => return None,
    };
    let mut members = Members::new();
    loop {
        let rest = json.get(at..)?;
        let (name_len, key) = match rest.first_chunk::<8>() {
            Some(word) => {
                let w = u64::from_le_bytes(*word);
                match stops::<true>(w) {
                    0 => (first_stop::<true>(rest)?, u64::MAX),
                    found => {
                        let len = found.trailing_zeros() as usize / 8;
                        let low = (1u64 << (len * 8)).wrapping_sub(1);
                        (len, (w & low) | ((len as u64) << 56))
                    }
                }
            }
            None => {
                let len = first_stop::<true>(rest)?;
                (len, name_key(rest.get(..len)?))
            }
        };
        let (name, rest) = rest.split_at_checked(name_len)?;
        let rest = rest.strip_prefix(b"\":\"")?;
        let (value, rest) = rest.split_at_checked(first_stop::<true>(rest)?)?;
        members.add_keyed(key, name, Some(value))?;
        match rest {
            [b'"', b',', b'"', ..] => at = json.len() - rest.len() + 3,
            [b'"', b'}'] => break,
            _ => return None,
        }
    }
    // ASCII throughout (every byte outside the strings is one of `{":,}`), so UTF-8.
    members.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_parser_flags_what_it_must() {
        let h =
            parse_header(br#"{"alg":"ES256","typ":"at+jwt","kid":"k1","x":{"y":[1]}}"#).unwrap();
        assert_eq!(&*h.alg, b"ES256");
        assert_eq!(&*h.kid.unwrap(), b"k1");
        assert_eq!(&*h.typ.unwrap(), b"at+jwt");
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
            // Not UTF-8, in a value and in a name, inside a word and in a short tail: compact
            // otherwise.
            b"{\"alg\":\"HS256\",\"kid\":\"\xff\"}",
            b"{\"alg\":\"HS256\",\"kid\":\"abcdefgh\xffijklmnop\"}",
            b"{\"alg\":\"HS256\",\"\xc3\":\"x\"}",
            b"{\"\xc3abcdefghij\":\"x\",\"alg\":\"HS256\"}",
            b"{\"abcdefghi\xff\":\"x\",\"alg\":\"HS256\"}",
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

    /// [`scan_flat`]'s answer, in the same form as [`both`]'s.
    fn flat(json: &str) -> Option<String> {
        scan_flat(json.as_bytes())
            .as_ref()
            .map(|h| format!("{h:?}"))
    }

    #[test]
    fn scan_flat_reads_compact_headers_and_defers_the_rest() {
        for json in [
            // The bench's first-sight header, and the spellings other libraries write.
            r#"{"kid":"2026-11","alg":"HS256","typ":"JWT","x5t":"bm90LWEtdGh1bWJwcmludA"}"#,
            r#"{"typ":"at+jwt","alg":"HS256","kid":"k"}"#,
            r#"{"alg":"RS256"}"#,
            r#"{"alg":"ES256","kid":""}"#,
            r#"{"a":"","alg":"ES256"}"#,
            r#"{"":"x","alg":"ES256"}"#,
            // Names of seven and eight bytes (the end of the one-word names), and longer.
            r#"{"abcdefg":"1","abcdefgh":"2","x5t#S256":"3","alg":"HS256"}"#,
            r#"{"alg":"HS256","abcdefgh":"1","abcdefgi":"2"}"#,
            r#"{"alg":"ES256","crit":"b64","jku":"https://x"}"#,
            r#"{"alg":"none","typ":"ab"}"#,
            r#"{"a":"","b":"","c":"","d":"","e":"","f":"","g":"","alg":"HS256"}"#,
        ] {
            let (_, slow) = both(json);
            assert!(slow.is_ok(), "{json}");
            assert_eq!(flat(json).ok_or(TokenError::Header), slow, "{json}");
        }
        // Not compact: `scan` or serde_json answers, as before.
        for json in [
            r#" {"alg":"HS256"}"#,
            r#"{ "alg":"HS256"}"#,
            r#"{"alg" :"HS256"}"#,
            r#"{"alg": "HS256"}"#,
            r#"{"alg":"HS256" }"#,
            r#"{"alg":"HS256"} "#,
            r#"{"alg":"HS256", "kid":"k"}"#,
            r#"{"alg":"ES256","b64":true}"#,
            r#"{"alg":"ES256","zip":null}"#,
            r#"{"alg":"ES256","x":1}"#,
            r#"{"alg":"ES256","x":{}}"#,
            "{\"alg\":\"\u{e9}\"}",
            "{\"\u{e9}\":\"x\",\"alg\":\"HS256\"}",
            r#"{"alg":"HS256","kid":"a\u0062"}"#,
            r#"{"\u0061lg":"HS256"}"#,
            "{\"alg\":\"HS\t256\"}",
            r#"{"alg":"HS256","alg":"none"}"#,
            r#"{"abcdefgh":"1","abcdefgh":"2","alg":"HS256"}"#,
            // The last `a` is keyed from a tail shorter than a word, the first from a word.
            r#"{"a":"1","alg":"HS256","a":""}"#,
            r#"{"a":"","b":"","c":"","d":"","e":"","f":"","g":"","h":"","alg":"HS256"}"#,
            r#"{"alg":"HS256",}"#,
            r#"{"alg":"HS256"}x"#,
            r#"{"alg":"HS256""#,
            r#"{"alg":"HS256"#,
            r#"{"alg""HS256"}"#,
            r#"{"kid":"k"}"#,
            "{}",
            "{\"",
            "",
        ] {
            assert_eq!(flat(json), None, "{json}");
            assert_eq!(
                parse_header(json.as_bytes())
                    .as_ref()
                    .map(|h| format!("{h:?}"))
                    .map_err(|e| *e),
                both(json).1,
                "{json}"
            );
        }
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
        fn first_stop_finds_the_first_stop_byte(bytes in proptest::collection::vec(
            proptest::prop_oneof![
                4 => 0x20u8..0x7f,
                1 => proptest::sample::select(vec![b'"', b'\\', 0x00, 0x1f, 0x20, 0x7f, 0x80, 0xff]),
            ],
            0..40,
        )) {
            let naive = bytes.iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20);
            proptest::prop_assert_eq!(string_end(&bytes), naive);
            let ascii = bytes
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || !(0x20..0x80).contains(&b));
            proptest::prop_assert_eq!(first_stop::<true>(&bytes), ascii);
        }
    }

    /// Each fast parser's answer, where it gives one, is serde_json's; and [`parse_header`]
    /// (the fast parsers, then serde_json) always answers as serde_json does.
    fn agrees_with_serde(json: &str) -> Result<(), proptest::test_runner::TestCaseError> {
        let (fast, slow) = both(json);
        for answer in [fast, flat(json)].into_iter().flatten() {
            proptest::prop_assert_eq!(Ok(answer), slow.clone(), "{}", json);
        }
        let parsed = parse_header(json.as_bytes())
            .as_ref()
            .map(|h| format!("{h:?}"))
            .map_err(|e| *e);
        proptest::prop_assert_eq!(parsed, slow, "{}", json);
        Ok(())
    }

    /// Compact headers (no whitespace, string values), most with an `alg`, and near misses of
    /// them: names and values of plain printable ASCII, or of any printable ASCII (quotes and
    /// backslashes included) with a few non-ASCII and control characters; lengths around the
    /// eight-byte words.
    fn compact_text() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let name = prop_oneof![
            2 => prop_oneof![Just("kid"), Just("typ"), Just("crit"), Just("jwk"), Just("alg")]
                .prop_map(str::to_owned),
            4 => "[a-h]{0,10}",
            1 => "[ -~\u{e9}\u{1}]{0,10}",
        ];
        let value = prop_oneof![
            1 => prop_oneof![Just("HS256"), Just("JWT")].prop_map(str::to_owned),
            4 => "[ !#-\\[\\]-~]{0,20}",
            1 => "[ -~\u{e9}\u{7f}\u{1f}]{0,12}",
        ];
        let members = proptest::collection::vec((name, value), 0..5);
        (
            members.clone(),
            members,
            proptest::option::weighted(0.9, "[A-Z]{2}[0-9]{3}"),
        )
            .prop_map(|(before, after, alg)| {
                let alg = alg.map(|a| ("alg".to_owned(), a));
                let body: Vec<String> = before
                    .into_iter()
                    .chain(alg)
                    .chain(after)
                    .map(|(n, v)| format!("\"{n}\":\"{v}\""))
                    .collect();
                format!("{{{}}}", body.join(","))
            })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2_000))]
        #[test]
        fn scan_agrees_with_serde_wherever_it_answers(json in header_text()) {
            agrees_with_serde(&json)?;
        }

        #[test]
        fn scan_flat_agrees_with_serde_wherever_it_answers(json in compact_text()) {
            agrees_with_serde(&json)?;
        }
    }
}
