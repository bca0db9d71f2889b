//! Access-token claims (RFC 9068, RFC 7519 §4.1) with a generic, serde-typed slot for the
//! application's own claims.
//!
//! Parsing is one pass over the payload: registered claims are recognised by name and parsed
//! into their typed fields; every other member is handed to the custom type `T` as it streams
//! by. No `serde(flatten)` buffering, no intermediate `Value`. Strings borrow from the decoded
//! payload unless they contain escapes. A member that appears twice is rejected.
//!
//! NumericDates (`exp`, `nbf`, `iat`, `auth_time`) are any JSON number (RFC 7519 §2): `1.8e9`
//! and `1796033176.5` as well as integers. A fraction is rounded to whole seconds in the
//! direction that can only make the token less acceptable ([`Round`]); a value outside `i64`
//! after rounding, or anything but a number, rejects the claims. Numbers never allocate.

use core::cell::Cell;
use core::fmt;
use core::marker::PhantomData;
use std::borrow::Cow;

use serde::de::value::{BorrowedStrDeserializer, MapAccessDeserializer, StringDeserializer};
use serde::de::{
    self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Unexpected, Visitor,
};
use serde::{Deserialize, Serialize, Serializer};

use super::json::{CowStr, DupGuard};
use super::jwk::{Jwk, PublicJwk};
use crate::error::TokenError;
use crate::policy::PolicyVersion;

/// The claims of an access token. `'a` is the lifetime of the decoded payload when the claims
/// borrow from it ([`Verifier::verify_borrowed`](crate::Verifier::verify_borrowed)); owned
/// claims are `AccessTokenClaims<'static, T>`.
///
/// Every registered claim is optional here; which must be present is decided by
/// [`Validation::required`](crate::Validation::required) (by default the RFC 9068 set:
/// `iss`, `sub`, `aud`, `exp`, `iat`, `jti`, `client_id`). `T` receives every other member of
/// the payload; it must not declare registered names (they never reach it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct AccessTokenClaims<'a, T = NoCustomClaims> {
    /// Issuer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<Cow<'a, str>>,
    /// Subject: the user, or the client for client-credentials tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<Cow<'a, str>>,
    /// Audience: one resource indicator or several.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<Audience<'a>>,
    /// Expiry, seconds since the epoch (a fraction is rounded down: the token expires no
    /// later than it says).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// Not before, seconds since the epoch (a fraction is rounded up).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Issued at, seconds since the epoch (a fraction is rounded up).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// Token id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<Cow<'a, str>>,
    /// The OAuth client the token was issued to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<Cow<'a, str>>,
    /// Granted scopes, space-separated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<Cow<'a, str>>,
    /// When the user last authenticated, seconds since the epoch (a fraction is rounded down:
    /// the authentication looks older, so a maximum-age check errs towards asking the user
    /// again).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    /// Authentication context class reference: how strongly the user authenticated
    /// (OpenID Connect Core §2, RFC 9470 §3), as the application named it when it approved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acr: Option<Cow<'a, str>>,
    /// Session id: the refresh-token family the token was issued from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<Cow<'a, str>>,
    /// The tenant the token was issued for (this crate's claim, written when the session or
    /// request has a tenant): [`Engine::verify_with_revocation`](crate::Engine::verify_with_revocation)
    /// checks `pv` against that tenant's policy version, also for tokens without a session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<Cow<'a, str>>,
    /// Security-policy version the session was authorised under.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pv: Option<PolicyVersion>,
    /// Confirmation: the key the token is bound to (RFC 7800, RFC 9449, RFC 8705).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation<'a>>,
    /// The application's own claims (`role`, `tenant_id`, ...).
    #[serde(flatten)]
    pub custom: T,
}

impl<T: Default> Default for AccessTokenClaims<'_, T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<'a, T> AccessTokenClaims<'a, T> {
    /// Claims with only the custom part set.
    pub fn new(custom: T) -> Self {
        Self {
            iss: None,
            sub: None,
            aud: None,
            exp: None,
            nbf: None,
            iat: None,
            jti: None,
            client_id: None,
            scope: None,
            auth_time: None,
            acr: None,
            sid: None,
            tenant: None,
            pv: None,
            cnf: None,
            custom,
        }
    }

    /// The granted scopes, one by one.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope
            .as_deref()
            .unwrap_or_default()
            .split(' ')
            .filter(|s| !s.is_empty())
    }

    /// Whether `scope` was granted.
    #[must_use]
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes().any(|s| s == scope)
    }

    /// The same claims owning all their strings.
    #[must_use]
    pub fn into_owned(self) -> AccessTokenClaims<'static, T> {
        let own = |c: Option<Cow<'a, str>>| c.map(|c| Cow::Owned(c.into_owned()));
        AccessTokenClaims {
            iss: own(self.iss),
            sub: own(self.sub),
            aud: self.aud.map(Audience::into_owned),
            exp: self.exp,
            nbf: self.nbf,
            iat: self.iat,
            jti: own(self.jti),
            client_id: own(self.client_id),
            scope: own(self.scope),
            auth_time: self.auth_time,
            acr: own(self.acr),
            sid: own(self.sid),
            tenant: own(self.tenant),
            pv: self.pv,
            cnf: self.cnf.map(Confirmation::into_owned),
            custom: self.custom,
        }
    }

    pub(crate) fn has(&self, claim: crate::Claim) -> bool {
        use crate::Claim;
        match claim {
            Claim::Iss => self.iss.is_some(),
            Claim::Sub => self.sub.is_some(),
            Claim::Aud => self.aud.is_some(),
            Claim::Exp => self.exp.is_some(),
            Claim::Nbf => self.nbf.is_some(),
            Claim::Iat => self.iat.is_some(),
            Claim::Jti => self.jti.is_some(),
            Claim::ClientId => self.client_id.is_some(),
            Claim::Scope => self.scope.is_some(),
            Claim::AuthTime => self.auth_time.is_some(),
            Claim::Acr => self.acr.is_some(),
            Claim::Sid => self.sid.is_some(),
            Claim::Pv => self.pv.is_some(),
            Claim::Cnf => self.cnf.is_some(),
        }
    }
}

impl AccessTokenClaims<'_, NoCustomClaims> {
    /// [`to_json_with`](Self::to_json_with) without ids given as bytes (the tests' entry).
    #[cfg(test)]
    pub(crate) fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        self.to_json_with(RawIds::default())
    }

    /// The claims' JSON, byte for byte what `serde_json::to_vec` writes for them (a test holds
    /// the two equal on arbitrary claims), written directly: the engine issues every access
    /// token through here. A string with nothing to escape is copied as it is; a string with
    /// something to escape, and `cnf`, go through serde_json. `jti` and `sid` may be given as
    /// 16 bytes each (where the claims have none): written in base64url in place, the same
    /// bytes as the claims with those texts (a test holds that too), without making the texts.
    pub(crate) fn to_json_with(&self, raw: RawIds<'_>) -> Result<Vec<u8>, serde_json::Error> {
        // Every member named, none skipped with `..`: a member added to the struct stops the
        // build here until it is written too.
        let Self {
            iss,
            sub,
            aud,
            exp,
            nbf,
            iat,
            jti,
            client_id,
            scope,
            auth_time,
            acr,
            sid,
            tenant,
            pv,
            cnf,
            custom: NoCustomClaims,
        } = self;
        let mut out = Vec::with_capacity(512);
        out.push(b'{');
        let w = &mut out;
        json_str_member(w, b"\"iss\":", iss)?;
        json_str_member(w, b"\"sub\":", sub)?;
        if let Some(aud) = aud {
            json_key(w, b"\"aud\":");
            match aud {
                Audience::One(a) => json_str(w, a)?,
                Audience::Many(all) => {
                    w.push(b'[');
                    for (i, a) in all.iter().enumerate() {
                        if i > 0 {
                            w.push(b',');
                        }
                        json_str(w, a)?;
                    }
                    w.push(b']');
                }
            }
        }
        json_int_member(w, b"\"exp\":", *exp);
        json_int_member(w, b"\"nbf\":", *nbf);
        json_int_member(w, b"\"iat\":", *iat);
        match (jti, raw.jti) {
            (None, Some(id)) => json_id_member(w, b"\"jti\":", id),
            (jti, _) => json_str_member(w, b"\"jti\":", jti)?,
        }
        json_str_member(w, b"\"client_id\":", client_id)?;
        json_str_member(w, b"\"scope\":", scope)?;
        json_int_member(w, b"\"auth_time\":", *auth_time);
        json_str_member(w, b"\"acr\":", acr)?;
        match (sid, raw.sid) {
            (None, Some(id)) => json_id_member(w, b"\"sid\":", id),
            (sid, _) => json_str_member(w, b"\"sid\":", sid)?,
        }
        json_str_member(w, b"\"tenant\":", tenant)?;
        if let Some(pv) = *pv {
            json_key(w, b"\"pv\":");
            w.push(b'"');
            json_int(w, i64::from(pv.major));
            w.push(b'.');
            json_int(w, i64::from(pv.minor));
            w.push(b'"');
        }
        if let Some(cnf) = cnf {
            json_key(w, b"\"cnf\":");
            serde_json::to_writer(&mut *w, cnf)?;
        }
        out.push(b'}');
        Ok(out)
    }
}

/// `,"name":` (no comma after the opening brace), `key` being `"name":` with its quotes and
/// colon: a registered name, nothing to escape. A constant length, so the copy is a few
/// moves, not a call.
fn json_key<const N: usize>(out: &mut Vec<u8>, key: &[u8; N]) {
    if out.len() > 1 {
        out.push(b',');
    }
    out.extend_from_slice(key);
}

/// A string member, if present.
fn json_str_member<const N: usize>(
    out: &mut Vec<u8>,
    key: &[u8; N],
    value: &Option<Cow<'_, str>>,
) -> Result<(), serde_json::Error> {
    if let Some(v) = value {
        json_key(out, key);
        json_str(out, v)?;
    }
    Ok(())
}

/// `jti` and `sid` as 16 bytes each, for [`AccessTokenClaims::to_json_with`].
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RawIds<'a> {
    /// The token id.
    pub(crate) jti: Option<&'a [u8; 16]>,
    /// The session id.
    pub(crate) sid: Option<&'a [u8; 16]>,
}

/// A 16-byte id member, in base64url (nothing to escape).
/// Encoded where it ends up: a copy of a buffer just written a byte at a time stalls on its
/// stores (about a third of this function's time, measured).
fn json_id_member<const N: usize>(out: &mut Vec<u8>, key: &[u8; N], id: &[u8; 16]) {
    json_key(out, key);
    let start = out.len();
    out.resize(start + 24, b'"');
    match out
        .get_mut(start + 1..start + 23)
        .and_then(|t| t.first_chunk_mut::<22>())
    {
        Some(text) => crate::jose::b64_encode_16_into(id, text),
        // Unreachable (the 24 bytes were just added); written by copy all the same.
        None => {
            out.truncate(start);
            out.push(b'"');
            out.extend_from_slice(crate::jose::b64_encode_16(id).as_str().as_bytes());
            out.push(b'"');
        }
    }
}

/// An integer member, if present.
fn json_int_member<const N: usize>(out: &mut Vec<u8>, key: &[u8; N], value: Option<i64>) {
    if let Some(v) = value {
        json_key(out, key);
        json_int(out, v);
    }
}

/// A JSON string as serde_json writes it: copied when no byte needs escaping (a control
/// character, `"` or `\`), else through serde_json.
fn json_str(out: &mut Vec<u8>, s: &str) -> Result<(), serde_json::Error> {
    if needs_escape(s.as_bytes()) {
        serde_json::to_writer(out, s)
    } else {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
        Ok(())
    }
}

/// Whether any byte of `s` is a control character, `"` or `\`: eight bytes at a time (a byte
/// below 0x20, or equal to one of the two, sets the high bit of its lane; exact as a yes or no).
fn needs_escape(s: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGH: u64 = ONES << 7;
    let zero_lane = |w: u64| w.wrapping_sub(ONES) & !w & HIGH;
    let flagged = |word: &[u8; 8]| {
        let w = u64::from_ne_bytes(*word);
        let control = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
        control | zero_lane(w ^ (ONES * u64::from(b'"'))) | zero_lane(w ^ (ONES * u64::from(b'\\')))
            != 0
    };
    let mut words = s.chunks_exact(8);
    for word in &mut words {
        if word.first_chunk::<8>().is_some_and(flagged) {
            return true;
        }
    }
    if words.remainder().is_empty() {
        return false;
    }
    // The tail: the last eight bytes as one word when there are eight (overlapping bytes
    // already checked, which changes nothing for a yes or no), else byte by byte.
    match s.last_chunk::<8>() {
        Some(last) => flagged(last),
        None => s.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\'),
    }
}

/// The two-digit pairs `00` to `99`.
const PAIRS: &[u8; 200] = b"\
    0001020304050607080910111213141516171819\
    2021222324252627282930313233343536373839\
    4041424344454647484950515253545556575859\
    6061626364656667686970717273747576777879\
    8081828384858687888990919293949596979899";

/// An integer in decimal, as serde_json writes it: two digits per division (a timestamp's
/// ten digits are five dependent steps, not ten), written from the right straight into
/// `out` (sized first by the digit count), so no digit makes a trip through a buffer.
fn json_int(out: &mut Vec<u8>, v: i64) {
    // Ten digits (1,000,000,000 to 9,999,999,999: every timestamp from 2001 to 2286): two
    // from the table, eight computed side by side in one word and stored at once.
    if let Ok(ten @ 1_000_000_000..=9_999_999_999) = u64::try_from(v) {
        let head = (ten / 100_000_000) as usize * 2;
        out.extend_from_slice(PAIRS.get(head..head + 2).unwrap_or(b"00"));
        out.extend_from_slice(&eight_digits((ten % 100_000_000) as u32));
        return;
    }
    if v < 0 {
        out.push(b'-');
    }
    let mut n = v.unsigned_abs();
    let len = n.checked_ilog10().map_or(1, |l| l as usize + 1);
    let start = out.len();
    out.resize(start + len, b'0');
    let digits = out.get_mut(start..).unwrap_or_default();
    let mut end = len;
    while n >= 10 {
        let pair = (n % 100) as usize * 2;
        n /= 100;
        if let (Some(slot), Some(src)) = (
            digits.get_mut(end.saturating_sub(2)..end),
            PAIRS.get(pair..pair + 2),
        ) {
            slot.copy_from_slice(src);
        }
        end = end.saturating_sub(2);
    }
    // One digit left (or none, when the pairs ended exactly on `n == 0` with `v != 0`).
    if end == 1
        && let Some(d) = digits.first_mut()
    {
        *d = b'0' + n as u8;
    }
}

/// The eight decimal digits of `n` (below 100,000,000, zero-padded), as ASCII, computed in
/// the lanes of one 64-bit word: split into two halves of four digits (32-bit lanes), each
/// into two pairs (16-bit lanes), each into two digits (bytes). Each division by a constant is
/// a multiply and a shift whose products stay inside their lane for these ranges, so no
/// digit takes a trip through memory.
fn eight_digits(n: u32) -> [u8; 8] {
    let n = u64::from(n);
    // Lane 0 (the first digits in memory order) is the high half.
    let halves = (n / 10_000) | ((n % 10_000) << 32);
    // x / 100 = (x * 5243) >> 19 for x < 43,699; a lane holds at most 9,999.
    let hundreds = ((halves * 5243) >> 19) & 0x0000_007f_0000_007f;
    let pairs = hundreds | ((halves - hundreds * 100) << 16);
    // x / 10 = (x * 103) >> 10 for x < 179; a lane holds at most 99.
    let tens = ((pairs * 103) >> 10) & 0x000f_000f_000f_000f;
    let digits = tens | ((pairs - tens * 10) << 8);
    (digits | 0x3030_3030_3030_3030).to_le_bytes()
}

/// No application claims: every unregistered member of the payload is ignored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoCustomClaims;

impl Serialize for NoCustomClaims {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        s.serialize_map(Some(0))?.end()
    }
}

impl<'de> Deserialize<'de> for NoCustomClaims {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        IgnoredAny::deserialize(d).map(|_| NoCustomClaims)
    }
}

/// The `aud` claim: a single string or an array of strings (RFC 7519 §4.1.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Audience<'a> {
    /// `"aud": "https://api.example.com"`
    One(Cow<'a, str>),
    /// `"aud": ["https://a.example.com", "https://b.example.com"]`
    Many(Vec<Cow<'a, str>>),
}

impl<'a> Audience<'a> {
    /// The same audience borrowing this one's strings (no copy for a single audience).
    pub(crate) fn borrowed(&self) -> Audience<'_> {
        match self {
            Audience::One(a) => Audience::One(Cow::Borrowed(a)),
            Audience::Many(v) => Audience::Many(v.iter().map(|a| Cow::Borrowed(&**a)).collect()),
        }
    }

    /// Whether `aud` names `audience`.
    #[must_use]
    pub fn contains(&self, audience: &str) -> bool {
        match self {
            Audience::One(a) => a == audience,
            Audience::Many(v) => v.iter().any(|a| a == audience),
        }
    }

    /// The audiences, one by one.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        let (one, many) = match self {
            Audience::One(a) => (Some(&**a), &[][..]),
            Audience::Many(v) => (None, &v[..]),
        };
        one.into_iter().chain(many.iter().map(|c| &**c))
    }

    /// The same audience owning its strings.
    #[must_use]
    pub fn into_owned(self) -> Audience<'static> {
        match self {
            Audience::One(a) => Audience::One(Cow::Owned(a.into_owned())),
            Audience::Many(v) => {
                Audience::Many(v.into_iter().map(|a| Cow::Owned(a.into_owned())).collect())
            }
        }
    }
}

impl From<&str> for Audience<'static> {
    fn from(a: &str) -> Self {
        Audience::One(Cow::Owned(a.to_owned()))
    }
}

impl Serialize for Audience<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Audience::One(a) => s.serialize_str(a),
            Audience::Many(v) => s.collect_seq(v.iter().map(|a| &**a)),
        }
    }
}

impl<'de> Deserialize<'de> for Audience<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Audience<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an array of strings")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Audience::One(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Audience::One(Cow::Owned(v.to_owned())))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(a) = seq.next_element::<CowStr<'de>>()? {
                    out.push(a.0);
                }
                Ok(Audience::Many(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// The `cnf` (confirmation) claim: what the token is bound to (RFC 7800).
///
/// A JSON object (RFC 7800 §3.1): anything else rejects the claims. Members this type does
/// not hold (`jwe`, `kid`, `jku`, ...) are ignored, as §3.1 requires of members an
/// implementation does not understand; one it holds that appears twice rejects the claims.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Confirmation<'a> {
    /// RFC 9449: SHA-256 thumbprint of the DPoP key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jkt: Option<Cow<'a, str>>,
    /// RFC 8705: SHA-256 thumbprint of the client certificate.
    #[serde(rename = "x5t#S256", skip_serializing_if = "Option::is_none")]
    pub x5t_s256: Option<Cow<'a, str>>,
    /// RFC 7800 §3.2: the proof-of-possession key itself, a public JWK, with its key-type
    /// members, `use`, `alg` and `kid` (the members [`Jwk`] has). A `jwk` that is not an
    /// object, has no `kty` or holds a private or secret member (`d`, `k`, ...) rejects the
    /// claims: it could not be represented without dropping part of the key. The key is
    /// carried, not imported: check it (for example with [`VerifyingKey::from_jwk`]) before
    /// relying on it.
    ///
    /// [`VerifyingKey::from_jwk`]: crate::VerifyingKey::from_jwk
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwk: Option<Box<Jwk>>,
}

/// Store `value` in an empty `slot`; a second value for the member `name` is an error.
fn first<T, E: de::Error>(slot: &mut Option<T>, value: T, name: &'static str) -> Result<(), E> {
    if slot.is_some() {
        return Err(E::duplicate_field(name));
    }
    *slot = Some(value);
    Ok(())
}

impl<'de: 'a, 'a> Deserialize<'de> for Confirmation<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<Confirmation<'a>>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Confirmation<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a confirmation (cnf) object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut cnf = Confirmation::default();
                while let Some(name) = map.next_key::<CowStr<'de>>()? {
                    match &*name.0 {
                        "jkt" => first(&mut cnf.jkt, map.next_value::<CowStr<'de>>()?.0, "jkt")?,
                        "x5t#S256" => first(
                            &mut cnf.x5t_s256,
                            map.next_value::<CowStr<'de>>()?.0,
                            "x5t#S256",
                        )?,
                        "jwk" => first(
                            &mut cnf.jwk,
                            Box::new(map.next_value::<PublicJwk>()?.0),
                            "jwk",
                        )?,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(cnf)
            }
        }
        d.deserialize_map(V(PhantomData))
    }
}

impl Confirmation<'_> {
    /// A DPoP binding to the key with this RFC 7638 thumbprint.
    #[must_use]
    pub fn jkt(thumbprint: impl Into<String>) -> Confirmation<'static> {
        Confirmation {
            jkt: Some(Cow::Owned(thumbprint.into())),
            x5t_s256: None,
            jwk: None,
        }
    }

    /// The same confirmation owning its strings.
    #[must_use]
    pub fn into_owned(self) -> Confirmation<'static> {
        Confirmation {
            jkt: self.jkt.map(|c| Cow::Owned(c.into_owned())),
            x5t_s256: self.x5t_s256.map(|c| Cow::Owned(c.into_owned())),
            jwk: self.jwk,
        }
    }
}

/// Which way a NumericDate with a fraction goes to whole seconds: the way that can only make
/// the token less acceptable.
#[derive(Clone, Copy, Debug)]
enum Round {
    /// `exp` (the token expires earlier) and `auth_time` (the authentication looks older).
    Down,
    /// `nbf` (the token becomes valid later) and `iat` (the token looks newer, so less
    /// likely to pass as issued before a cut-off, and more likely to be in the future).
    Up,
}

/// 2^63: `i64` holds exactly the doubles in `[-2^63, 2^63)`, both bounds exact.
const I64_BOUND: f64 = 9_223_372_036_854_775_808.0;

/// A NumericDate (RFC 7519 §2): a JSON number of seconds since the epoch, whole or not.
/// Integers are taken as they are, other numbers rounded per [`Round`]. A value outside `i64`
/// (after rounding) and anything but a number are errors.
#[derive(Clone, Copy, Debug)]
struct NumericDate(Round);

impl<'de> DeserializeSeed<'de> for NumericDate {
    type Value = i64;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<i64, D::Error> {
        d.deserialize_i64(self)
    }
}

impl Visitor<'_> for NumericDate {
    type Value = i64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a NumericDate: a number of seconds since the epoch")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
        Ok(v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
        i64::try_from(v).map_err(|_| E::invalid_value(Unexpected::Unsigned(v), &self))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<i64, E> {
        let whole = match self.0 {
            Round::Down => v.floor(),
            Round::Up => v.ceil(),
        };
        // NaN and the infinities fail the range check too (JSON has neither, other formats may).
        if (-I64_BOUND..I64_BOUND).contains(&whole) {
            // Exact: `whole` is an integer within i64's range.
            Ok(whole as i64)
        } else {
            Err(E::invalid_value(Unexpected::Float(v), &self))
        }
    }
}

/// The registered claims found so far, filled in by [`Filter`] as the map streams by.
struct Registered<'o> {
    iss: Option<Cow<'o, str>>,
    sub: Option<Cow<'o, str>>,
    aud: Option<Audience<'o>>,
    exp: Option<i64>,
    nbf: Option<i64>,
    iat: Option<i64>,
    jti: Option<Cow<'o, str>>,
    client_id: Option<Cow<'o, str>>,
    scope: Option<Cow<'o, str>>,
    auth_time: Option<i64>,
    acr: Option<Cow<'o, str>>,
    sid: Option<Cow<'o, str>>,
    tenant: Option<Cow<'o, str>>,
    pv: Option<PolicyVersion>,
    cnf: Option<Confirmation<'o>>,
}

/// How the registered claims keep their strings: borrowed from the payload (`'o` = `'de`,
/// [`Borrow`]) or owned (`'o` = `'static`, [`Own`]). Owning them as each is parsed builds the
/// claims once, where parsing borrowed and then calling `into_owned` built and moved them
/// twice.
pub(crate) trait Keep<'de, 'o> {
    fn str(s: Cow<'de, str>) -> Cow<'o, str>;
    fn aud(a: Audience<'de>) -> Audience<'o>;
    fn cnf(c: Confirmation<'de>) -> Confirmation<'o>;
}

/// Registered claims borrowed from the payload where they need no unescaping.
pub(crate) struct Borrow;

impl<'de> Keep<'de, 'de> for Borrow {
    #[inline]
    fn str(s: Cow<'de, str>) -> Cow<'de, str> {
        s
    }
    #[inline]
    fn aud(a: Audience<'de>) -> Audience<'de> {
        a
    }
    #[inline]
    fn cnf(c: Confirmation<'de>) -> Confirmation<'de> {
        c
    }
}

/// Registered claims owning their strings.
pub(crate) struct Own;

impl<'de> Keep<'de, 'static> for Own {
    #[inline]
    fn str(s: Cow<'de, str>) -> Cow<'static, str> {
        Cow::Owned(s.into_owned())
    }
    #[inline]
    fn aud(a: Audience<'de>) -> Audience<'static> {
        a.into_owned()
    }
    #[inline]
    fn cnf(c: Confirmation<'de>) -> Confirmation<'static> {
        c.into_owned()
    }
}

/// A map access that consumes registered claims itself and shows every other member to the
/// custom-claims type.
struct Filter<'m, 'de, 'o, A, K> {
    map: &'m mut A,
    reg: &'m mut Registered<'o>,
    guard: &'m mut DupGuard<'de>,
    reason: &'m Cell<TokenError>,
    _keep: PhantomData<K>,
}

fn set_once<T, E: de::Error>(
    slot: &mut Option<T>,
    value: T,
    reason: &Cell<TokenError>,
) -> Result<(), E> {
    if slot.is_some() {
        reason.set(TokenError::DuplicateClaim);
        return Err(E::custom("duplicate claim"));
    }
    *slot = Some(value);
    Ok(())
}

const DOWN: NumericDate = NumericDate(Round::Down);
const UP: NumericDate = NumericDate(Round::Up);

impl<'de, 'o, A: MapAccess<'de>, S: Keep<'de, 'o>> MapAccess<'de> for Filter<'_, 'de, 'o, A, S> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        while let Some(name) = self.map.next_key::<CowStr<'de>>()? {
            let r = &mut *self.reg;
            let why = self.reason;
            match &*name.0 {
                "iss" => set_once(
                    &mut r.iss,
                    S::str(self.map.next_value::<CowStr<'de>>()?.0),
                    why,
                )?,
                "sub" => set_once(
                    &mut r.sub,
                    S::str(self.map.next_value::<CowStr<'de>>()?.0),
                    why,
                )?,
                "aud" => set_once(&mut r.aud, S::aud(self.map.next_value()?), why)?,
                "exp" => set_once(&mut r.exp, self.map.next_value_seed(DOWN)?, why)?,
                "nbf" => set_once(&mut r.nbf, self.map.next_value_seed(UP)?, why)?,
                "iat" => set_once(&mut r.iat, self.map.next_value_seed(UP)?, why)?,
                "jti" => set_once(
                    &mut r.jti,
                    S::str(self.map.next_value::<CowStr<'de>>()?.0),
                    why,
                )?,
                "client_id" => set_once(
                    &mut r.client_id,
                    S::str(self.map.next_value::<CowStr<'de>>()?.0),
                    why,
                )?,
                "scope" => set_once(
                    &mut r.scope,
                    S::str(self.map.next_value::<CowStr<'de>>()?.0),
                    why,
                )?,
                "auth_time" => set_once(&mut r.auth_time, self.map.next_value_seed(DOWN)?, why)?,
                "acr" => set_once(
                    &mut r.acr,
                    S::str(self.map.next_value::<CowStr<'de>>()?.0),
                    why,
                )?,
                "sid" => set_once(
                    &mut r.sid,
                    S::str(self.map.next_value::<CowStr<'de>>()?.0),
                    why,
                )?,
                "tenant" => {
                    set_once(
                        &mut r.tenant,
                        S::str(self.map.next_value::<CowStr<'de>>()?.0),
                        why,
                    )?;
                }
                "pv" => set_once(&mut r.pv, self.map.next_value()?, why)?,
                "cnf" => set_once(&mut r.cnf, S::cnf(self.map.next_value()?), why)?,
                _ => {
                    if !self.guard.insert(&name.0) {
                        why.set(TokenError::DuplicateClaim);
                        return Err(de::Error::custom("duplicate claim"));
                    }
                    return match name.0 {
                        Cow::Borrowed(b) => seed.deserialize(BorrowedStrDeserializer::new(b)),
                        Cow::Owned(o) => seed.deserialize(StringDeserializer::new(o)),
                    }
                    .map(Some);
                }
            }
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        self.map.next_value_seed(seed)
    }
}

/// Parses a claims object into `out`. The claims are written where the caller keeps them,
/// not returned: returned, a few hundred bytes of them were copied at each level of the
/// parser they passed through.
struct ClaimsSeed<'r, 'o, T, K> {
    reason: &'r Cell<TokenError>,
    out: &'r mut Option<AccessTokenClaims<'o, T>>,
    _keep: PhantomData<K>,
}

impl<'r, 'o, T, K> ClaimsSeed<'r, 'o, T, K> {
    fn new(reason: &'r Cell<TokenError>, out: &'r mut Option<AccessTokenClaims<'o, T>>) -> Self {
        Self {
            reason,
            out,
            _keep: PhantomData,
        }
    }
}

impl<'de, 'o, T: Deserialize<'de>, K: Keep<'de, 'o>> DeserializeSeed<'de>
    for ClaimsSeed<'_, 'o, T, K>
{
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, 'o, T: Deserialize<'de>, K: Keep<'de, 'o>> Visitor<'de> for ClaimsSeed<'_, 'o, T, K> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JWT claims object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut reg = Registered {
            iss: None,
            sub: None,
            aud: None,
            exp: None,
            nbf: None,
            iat: None,
            jti: None,
            client_id: None,
            scope: None,
            auth_time: None,
            acr: None,
            sid: None,
            tenant: None,
            pv: None,
            cnf: None,
        };
        let mut guard = DupGuard::new();
        let mut filter = Filter {
            map: &mut map,
            reg: &mut reg,
            guard: &mut guard,
            reason: self.reason,
            _keep: PhantomData::<K>,
        };
        let custom = T::deserialize(MapAccessDeserializer::new(&mut filter))?;
        // A custom type that stopped early leaves members unread: read them, so registered
        // claims after that point are still seen and duplicates still caught.
        while filter.next_key::<IgnoredAny>()?.is_some() {
            filter.next_value::<IgnoredAny>()?;
        }
        *self.out = Some(AccessTokenClaims {
            iss: reg.iss,
            sub: reg.sub,
            aud: reg.aud,
            exp: reg.exp,
            nbf: reg.nbf,
            iat: reg.iat,
            jti: reg.jti,
            client_id: reg.client_id,
            scope: reg.scope,
            auth_time: reg.auth_time,
            acr: reg.acr,
            sid: reg.sid,
            tenant: reg.tenant,
            pv: reg.pv,
            cnf: reg.cnf,
            custom,
        });
        Ok(())
    }
}

/// Parse a decoded payload into claims in one pass, the registered claims borrowing from it
/// where they need no unescaping. UTF-8 is validated once for the whole payload, not string
/// by string.
#[inline]
pub(crate) fn parse_claims<'de, T: Deserialize<'de>>(
    json: &'de [u8],
) -> Result<AccessTokenClaims<'de, T>, TokenError> {
    let mut out = None;
    parse_claims_into::<T, Borrow>(json, &mut out)?;
    out.ok_or(TokenError::Claims)
}

/// [`parse_claims`] written into `out` (`Some` when this returns `Ok`, `None` when it
/// fails), the registered strings kept as `K` says: with [`Own`], what
/// `parse_claims(json)?.into_owned()` returns, built once. The claims are not copied on the
/// way out of the parser.
#[inline]
pub(crate) fn parse_claims_into<'de, 'o, T: Deserialize<'de>, K: Keep<'de, 'o>>(
    json: &'de [u8],
    out: &mut Option<AccessTokenClaims<'o, T>>,
) -> Result<(), TokenError> {
    let reason = Cell::new(TokenError::Claims);
    if let Ok(json) = core::str::from_utf8(json) {
        let mut de = serde_json::Deserializer::from_str(json);
        if let Ok(()) = ClaimsSeed::<T, K>::new(&reason, out).deserialize(&mut de)
            && de.end().is_ok()
        {
            return Ok(());
        }
    }
    *out = None;
    Err(reason.get())
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for AccessTokenClaims<'de, T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let reason = Cell::new(TokenError::Claims);
        let mut out = None;
        ClaimsSeed::<T, Borrow>::new(&reason, &mut out).deserialize(d)?;
        out.ok_or_else(|| de::Error::custom("no claims object"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, Serialize, PartialEq, Default)]
    struct App<'a> {
        role: Option<&'a str>,
        tenant_id: Option<String>,
    }

    const SEED: &str = r#"{"iss":"https://auth.example.com","sub":"user123456","aud":"https://api.example.com","iat":1714768000,"exp":1714768800,"jti":"abcd1234-ef56-gh78-ij90","scope":"read:profile write:settings","role":"admin","tenant_id":"org_987654321","client_id":"client_app_123","auth_time":1714767900,"sid":"fam","pv":"4.2","cnf":{"jkt":"abc"}}"#;

    #[test]
    fn one_pass_splits_registered_and_custom_and_borrows() {
        let c: AccessTokenClaims<'_, App<'_>> = parse_claims(SEED.as_bytes()).unwrap();
        assert!(matches!(c.sub, Some(Cow::Borrowed("user123456"))));
        assert!(c.aud.as_ref().unwrap().contains("https://api.example.com"));
        assert_eq!(c.exp, Some(1_714_768_800));
        assert_eq!(c.pv, Some(PolicyVersion::new(4, 2)));
        assert_eq!(c.cnf.as_ref().unwrap().jkt.as_deref(), Some("abc"));
        assert_eq!(c.custom.role, Some("admin"));
        assert_eq!(c.custom.tenant_id.as_deref(), Some("org_987654321"));
        assert!(c.has_scope("write:settings") && !c.has_scope("write"));
        // And back: serialization writes registered and custom members side by side.
        let back: serde_json::Value = serde_json::to_value(&c).unwrap();
        let orig: serde_json::Value = serde_json::from_str(SEED).unwrap();
        assert_eq!(back, orig);
    }

    #[test]
    fn rejects_duplicates_wrong_types_and_non_objects() {
        let dup_reg = SEED.replacen("\"sub\"", "\"sub\":\"x\",\"sub\"", 1);
        let dup_custom = SEED.replacen("\"role\"", "\"role\":\"user\",\"role\"", 1);
        let dup_unknown = SEED.replacen('{', r#"{"z":1,"z":2,"#, 1);
        for json in [dup_reg, dup_custom, dup_unknown] {
            let r = parse_claims::<App<'_>>(json.as_bytes());
            assert_eq!(r.unwrap_err(), TokenError::DuplicateClaim, "{json}");
        }
        let cases = [
            SEED.replace("\"exp\":1714768800", "\"exp\":\"1714768800\""),
            SEED.replace("\"exp\":1714768800", "\"exp\":9223372036854775808"),
            SEED.replace("\"exp\":1714768800", "\"exp\":9.3e18"),
            SEED.replace("\"iat\":1714768000", "\"iat\":-9.3e18"),
            SEED.replace("\"exp\":1714768800", "\"exp\":9.223372036854775808e18"),
            SEED.replace("\"auth_time\":1714767900", "\"auth_time\":1e400"),
            SEED.replace("\"auth_time\":1714767900", "\"auth_time\":null"),
            SEED.replace("\"aud\":\"https://api.example.com\"", "\"aud\":[1]"),
            SEED.replace("\"pv\":\"4.2\"", "\"pv\":4"),
            "[]".to_owned(),
            "".to_owned(),
            format!("{SEED}x"),
        ];
        for json in cases {
            assert_ne!(json, SEED);
            let r = parse_claims::<App<'_>>(json.as_bytes());
            assert_eq!(r.unwrap_err(), TokenError::Claims, "{json}");
        }
        // Trailing whitespace is JSON; a trailing token is not.
        assert!(parse_claims::<NoCustomClaims>(b"{} ").is_ok());
    }

    /// The owned parse (registered strings owned as they are parsed, the claims written where
    /// the caller keeps them) is the borrowed parse made owned: same claims, same errors, and
    /// `out` left `None` on an error.
    #[test]
    fn the_owned_parse_is_the_borrowed_parse_made_owned() {
        #[derive(Debug, Deserialize, PartialEq)]
        struct Owned {
            role: Option<String>,
            tenant_id: Option<String>,
        }
        let escaped = r#"{"iss":"a\/b","sub":"\u0075","aud":["x","y\n"],"jti":"j","client_id":"c","scope":"s t","acr":"1","sid":"f","tenant":"t\"","cnf":{"jkt":"k\u0041","x5t#S256":"h"},"role":"r\u00e9"}"#;
        let mut cases = vec![
            SEED.to_owned(),
            escaped.to_owned(),
            r#"{"aud":"one","exp":10.5}"#.to_owned(),
            "{}".to_owned(),
            "{} ".to_owned(),
            SEED.replacen("\"sub\"", "\"sub\":\"x\",\"sub\"", 1),
            SEED.replacen("\"role\"", "\"role\":\"user\",\"role\"", 1),
            SEED.replace("\"exp\":1714768800", "\"exp\":\"1714768800\""),
            SEED.replace("\"aud\":\"https://api.example.com\"", "\"aud\":[1]"),
            r#"{"cnf":{"jkt":"t","jkt":"u"}}"#.to_owned(),
            "[]".to_owned(),
            String::new(),
            format!("{SEED}x"),
        ];
        cases.push(cases[1].replace('}', "},"));
        let mut errors = 0;
        for json in &cases {
            let borrowed =
                parse_claims::<Owned>(json.as_bytes()).map(AccessTokenClaims::into_owned);
            let mut out = Some(AccessTokenClaims::new(Owned {
                role: Some("stale".into()),
                tenant_id: None,
            }));
            let owned = parse_claims_into::<Owned, Own>(json.as_bytes(), &mut out);
            match (borrowed, owned) {
                (Ok(want), Ok(())) => {
                    let got = out.expect("Ok leaves the claims in out");
                    assert_eq!(got, want, "{json}");
                }
                (Err(want), Err(got)) => {
                    assert_eq!(got, want, "{json}");
                    assert!(out.is_none(), "{json}: an error left claims behind");
                    errors += 1;
                }
                (want, got) => panic!("{json}: borrowed {want:?}, owned {got:?}"),
            }
        }
        assert_eq!(errors, 9);
        let mut out = Some(AccessTokenClaims::new(Owned {
            role: None,
            tenant_id: None,
        }));
        let r = parse_claims_into::<Owned, Own>(b"{\"sub\":\"\xff\"}", &mut out);
        assert_eq!((r, out), (Err(TokenError::Claims), None));
        let mut out = None;
        parse_claims_into::<Owned, Own>(escaped.as_bytes(), &mut out).unwrap();
        let c = out.unwrap();
        assert_eq!(
            (c.iss.as_deref(), c.sub.as_deref(), c.tenant.as_deref()),
            (Some("a/b"), Some("u"), Some("t\""))
        );
        assert_eq!(c.custom.role.as_deref(), Some("r\u{e9}"));
        assert_eq!(c.cnf.unwrap().jkt.as_deref(), Some("kA"));
    }

    #[test]
    fn numeric_dates_take_any_json_number_and_round_safely() {
        let dates = |json: &str| {
            let c: AccessTokenClaims<'_> = parse_claims(json.as_bytes()).unwrap();
            (c.exp, c.nbf, c.iat, c.auth_time)
        };
        assert_eq!(
            dates(r#"{"exp":10.5,"nbf":10.5,"iat":10.5,"auth_time":10.5}"#),
            (Some(10), Some(11), Some(11), Some(10))
        );
        assert_eq!(
            dates(r#"{"exp":-10.5,"nbf":-10.5,"iat":-10.5,"auth_time":-10.5}"#),
            (Some(-11), Some(-10), Some(-10), Some(-11))
        );
        assert_eq!(
            dates(r#"{"exp":1.8e9,"nbf":-0,"iat":0.0,"auth_time":17e-1}"#),
            (Some(1_800_000_000), Some(0), Some(0), Some(1))
        );
        // The ends of i64, as integers and as the doubles at or just inside them (2^63 itself
        // is out).
        assert_eq!(
            dates(r#"{"exp":9223372036854775807,"nbf":-9223372036854775808}"#),
            (Some(i64::MAX), Some(i64::MIN), None, None)
        );
        assert_eq!(
            dates(r#"{"exp":9.223372036854774784e18,"nbf":-9.223372036854775808e18}"#),
            (Some(9_223_372_036_854_774_784), Some(i64::MIN), None, None)
        );
    }

    #[test]
    fn cnf_is_an_object_and_keeps_its_key() {
        let jwk = r#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"k","key_ops":["verify"]}"#;
        let json = format!(r#"{{"cnf":{{"jkt":"t","jwe":"a.b.c.d.e","jwk":{jwk}}}}}"#);
        let c: AccessTokenClaims<'_> = parse_claims(json.as_bytes()).unwrap();
        let cnf = c.cnf.unwrap();
        assert!(matches!(cnf.jkt, Some(Cow::Borrowed("t"))));
        let key = cnf.jwk.as_deref().unwrap();
        assert_eq!(
            (key.kty.as_str(), key.crv.as_deref()),
            ("OKP", Some("Ed25519"))
        );
        assert_eq!(key.kid.as_deref(), Some("k"));
        // Owned, it is the same confirmation.
        assert_eq!(cnf.clone().into_owned(), cnf);
        for bad in [
            r#"{"cnf":["t"]}"#,
            r#"{"cnf":[]}"#,
            r#"{"cnf":{"jkt":"t","jkt":"u"}}"#,
            r#"{"cnf":{"jwk":[]}}"#,
            r#"{"cnf":{"jwk":{}}}"#,
            r#"{"cnf":{"jwk":{"kty":"oct","k":"AAAA"}}}"#,
            r#"{"cnf":{"jwk":{"kty":"RSA","n":"AQAB","e":"AQAB","p":"AQAB"}}}"#,
        ] {
            let r = parse_claims::<NoCustomClaims>(bad.as_bytes());
            assert_eq!(r.unwrap_err(), TokenError::Claims, "{bad}");
        }
    }

    #[test]
    fn audience_array_and_owned_conversion() {
        let c: AccessTokenClaims<'_> = parse_claims(br#"{"aud":["a","b\u0063"]}"#).unwrap();
        let aud = c.aud.clone().unwrap();
        assert!(aud.contains("a") && aud.contains("bc") && !aud.contains("b"));
        assert_eq!(aud.iter().collect::<Vec<_>>(), ["a", "bc"]);
        let owned: AccessTokenClaims<'static> = c.into_owned();
        assert_eq!(
            serde_json::to_string(&owned).unwrap(),
            r#"{"aud":["a","bc"]}"#
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2_000))]
        /// The engine's writer and serde_json agree byte for byte on any claims: any strings
        /// (control characters, quotes, backslashes, non-ASCII), any integers, any members
        /// present or absent, one audience or several.
        #[test]
        fn the_direct_writer_is_serde_json_byte_for_byte(
            strings in proptest::collection::vec(
                proptest::option::of(proptest::prelude::any::<String>()), 10),
            ints in proptest::collection::vec(
                proptest::option::of(proptest::prelude::any::<i64>()), 4),
            many in proptest::option::of(
                proptest::collection::vec(proptest::prelude::any::<String>(), 0..4)),
            pv in proptest::option::of(
                (proptest::prelude::any::<u32>(), proptest::prelude::any::<u32>())),
            cnf in proptest::option::of(
                (proptest::option::of("[ -~]{0,8}"), proptest::option::of("\\PC{0,8}"))),
            raw_jti in proptest::option::of(proptest::prelude::any::<[u8; 16]>()),
            raw_sid in proptest::option::of(proptest::prelude::any::<[u8; 16]>()),
            fields_win in proptest::prelude::any::<bool>(),
        ) {
            let s = |i: usize| strings[i].clone().map(Cow::Owned);
            let c: AccessTokenClaims<'_> = AccessTokenClaims {
                iss: s(0),
                sub: s(1),
                aud: match many {
                    Some(all) => Some(Audience::Many(all.into_iter().map(Cow::Owned).collect())),
                    None => s(2).map(Audience::One),
                },
                exp: ints[0],
                nbf: ints[1],
                iat: ints[2],
                auth_time: ints[3],
                jti: s(3),
                client_id: s(4),
                scope: s(5),
                acr: s(6),
                sid: s(7),
                tenant: s(8),
                pv: pv.map(|(major, minor)| PolicyVersion { major, minor }),
                cnf: cnf.map(|(jkt, x5t)| Confirmation {
                    jkt: jkt.map(Cow::Owned),
                    x5t_s256: x5t.map(Cow::Owned),
                    jwk: None,
                }),
                ..AccessTokenClaims::default()
            };
            let direct = c.to_json().unwrap();
            proptest::prop_assert_eq!(
                String::from_utf8(direct).unwrap(),
                serde_json::to_string(&c).unwrap()
            );
            // `jti` and `sid` given as bytes write what their base64url texts write; a text
            // the claims already hold is written instead.
            let text = |id: &[u8; 16]| Some(Cow::Owned(crate::jose::b64_encode_16(id).as_str().to_owned()));
            let (mut texts, mut bare) = (c.clone(), c.clone());
            if let Some(id) = &raw_jti && !(fields_win && c.jti.is_some()) {
                texts.jti = text(id);
                bare.jti = None;
            }
            if let Some(id) = &raw_sid && !(fields_win && c.sid.is_some()) {
                texts.sid = text(id);
                bare.sid = None;
            }
            let raw = RawIds { jti: raw_jti.as_ref(), sid: raw_sid.as_ref() };
            proptest::prop_assert_eq!(
                String::from_utf8(bare.to_json_with(raw).unwrap()).unwrap(),
                serde_json::to_string(&texts).unwrap()
            );
        }
    }

    /// The word-at-a-time check finds every byte serde_json escapes, at every position of a
    /// word and of the tail, and nothing else (non-ASCII bytes included).
    #[test]
    fn needs_escape_is_exact_at_every_position() {
        for len in 1..=24 {
            for at in 0..len {
                for b in 0..=255u8 {
                    let mut s = vec![b'a'; len];
                    s[at] = b;
                    let want = b < 0x20 || b == b'"' || b == b'\\';
                    assert_eq!(needs_escape(&s), want, "byte {b:#x} at {at} of {len}");
                }
            }
        }
        assert!(!needs_escape(b""));
        assert!(!needs_escape("é€😀 plain/text~\x7f".as_bytes()));
    }

    #[test]
    fn integers_are_spelled_as_std_spells_them() {
        let check = |v: i64| {
            let mut out = b"x".to_vec();
            json_int(&mut out, v);
            assert_eq!(out, format!("x{v}").into_bytes(), "{v}");
        };
        // Every power of ten and its neighbours, both signs, and a sweep through the
        // ten-digit range.
        for p in 0..19 {
            let t = 10i64.pow(p);
            for v in [t - 1, t, t + 1] {
                check(v);
                check(-v);
            }
        }
        let mut v = 1_000_000_000i64;
        while v <= 9_999_999_999 {
            check(v);
            v += 123_456_791;
        }
        for v in [i64::MIN, i64::MAX, 1_999_999_999, 1_800_000_000] {
            check(v);
        }
        for eight in [
            0u32, 1, 9, 10, 99, 100, 9_999, 10_000, 12_345_678, 99_999_999,
        ] {
            assert_eq!(
                eight_digits(eight),
                *format!("{eight:08}").as_bytes().first_chunk().unwrap()
            );
        }
        // The word's lanes are computed independently (the four-digit halves in 32-bit lanes,
        // then pairs, then digits): every value of each half, beside every value of the other.
        for half in 0..10_000u32 {
            for eight in [half, half * 10_000, half * 10_000 + (9_999 - half)] {
                assert_eq!(
                    eight_digits(eight),
                    *format!("{eight:08}").as_bytes().first_chunk().unwrap(),
                    "{eight}"
                );
            }
        }
    }

    #[test]
    fn the_direct_writer_spells_the_edges_as_serde_json_does() {
        let mut c: AccessTokenClaims<'_> = AccessTokenClaims::default();
        assert_eq!(c.to_json().unwrap(), b"{}");
        for v in [
            0,
            -1,
            9,
            10,
            999_999_999,
            1_000_000_000,
            1_800_000_900,
            9_999_999_999,
            10_000_000_000,
            -1_800_000_000,
            i64::MIN,
            i64::MAX,
        ] {
            c.exp = Some(v);
            c.sub = Some("a\"b\\c\u{1}\u{7f}é".into());
            assert_eq!(c.to_json().unwrap(), serde_json::to_vec(&c).unwrap());
        }
    }
}
