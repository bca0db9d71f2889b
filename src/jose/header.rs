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
    let json = core::str::from_utf8(json).map_err(|_| TokenError::Header)?;
    match scan(json) {
        Some(header) => Ok(header),
        None => parse_with_serde(json),
    }
}

/// The general parser: any JSON, every error with its reason.
#[cold]
#[inline(never)]
fn parse_with_serde(json: &str) -> Result<Header<'_>, TokenError> {
    let reason = Cell::new(TokenError::Header);
    let mut de = serde_json::Deserializer::from_str(json);
    let header = HeaderSeed { reason: &reason }
        .deserialize(&mut de)
        .and_then(|h| de.end().map(|()| h));
    header.map_err(|_| reason.get())
}

/// Most members [`scan`] takes; a header with more goes to serde_json.
const SCAN_MEMBERS: usize = 8;

/// A cursor over a header known to be valid UTF-8.
struct Cursor<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek() == Some(byte)).then(|| self.at += 1)
    }

    /// A string without escapes or control characters: its contents, which are then its
    /// value. Anything else is `None`.
    fn plain_string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.at;
        let rest = self.text.as_bytes().get(start..)?;
        let len = rest
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
        if rest.get(len) != Some(&b'"') {
            return None;
        }
        // Both ends are at ASCII quotes, so on character boundaries.
        let contents = self.text.get(start..start + len)?;
        self.at = start + len + 1;
        Some(contents)
    }

    /// A member value: `Some(Some(s))` for a plain string, `Some(None)` for `true`, `false`
    /// or `null`, `None` for anything else (numbers, objects, arrays, escapes).
    fn value(&mut self) -> Option<Option<&'a str>> {
        if self.peek()? == b'"' {
            return self.plain_string().map(Some);
        }
        let rest = self.text.as_bytes().get(self.at..)?;
        let literal = [&b"true"[..], b"false", b"null"]
            .into_iter()
            .find(|l| rest.starts_with(l))?;
        self.at += literal.len();
        Some(None)
    }
}

/// The fast parser: a flat JSON object of at most [`SCAN_MEMBERS`] distinct members whose
/// names are plain strings and whose values are plain strings or `true`/`false`/`null`, with
/// `alg` (and `kid`, `typ` if present) a string. Returns `None` for anything else, never an
/// error: serde_json then parses it. For every input it accepts, the result equals
/// serde_json's (a property test holds it to that).
fn scan(json: &str) -> Option<Header<'_>> {
    let mut c = Cursor { text: json, at: 0 };
    let mut names = [""; SCAN_MEMBERS];
    let mut count = 0;
    let (mut alg, mut kid, mut typ) = (None, None, None);
    let (mut crit, mut embedded_key) = (false, false);
    c.skip_ws();
    c.eat(b'{')?;
    c.skip_ws();
    if c.eat(b'}').is_none() {
        loop {
            let name = c.plain_string()?;
            // Without escapes a name's text is its value: a byte comparison finds duplicates.
            if names.get(..count)?.contains(&name) {
                return None;
            }
            *names.get_mut(count)? = name;
            count += 1;
            c.skip_ws();
            c.eat(b':')?;
            c.skip_ws();
            let value = c.value()?;
            match name {
                "alg" => alg = Some(value?),
                "kid" => kid = Some(value?),
                "typ" => typ = Some(value?),
                "crit" => crit = true,
                "jwk" | "jku" | "x5u" | "x5c" => embedded_key = true,
                _ => {}
            }
            c.skip_ws();
            if c.eat(b',').is_some() {
                c.skip_ws();
                continue;
            }
            c.eat(b'}')?;
            break;
        }
    }
    c.skip_ws();
    if c.at != json.len() {
        return None;
    }
    fn borrowed(s: &str) -> CowStr<'_> {
        CowStr(Cow::Borrowed(s))
    }
    Some(Header {
        alg: borrowed(alg?),
        kid: kid.map(borrowed),
        typ: typ.map(borrowed),
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
            scan(json).as_ref().map(show),
            parse_with_serde(json).as_ref().map(show).map_err(|e| *e),
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
