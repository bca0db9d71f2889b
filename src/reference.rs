//! Reference (opaque) access tokens: the other side of the design's JWT-versus-opaque debate,
//! chosen per client ([`Client::access_token_format`](crate::Client::access_token_format)) or
//! for the whole engine ([`EngineBuilder::access_token_format`](crate::EngineBuilder::access_token_format)).
//!
//! A reference token shows its holder nothing about the user or the grant: it is read only by
//! the engine, through introspection ([`Engine::introspect`](crate::Engine::introspect), the
//! introspection endpoint). It is MAC'd like a refresh token, so a forged or altered one is
//! refused before any store read, and it names its session (the family id), so everything
//! that ends the session (reuse detection, sign-out, a policy major bump, RFC 7009 revocation
//! of the refresh token) makes it inactive at once. Introspecting it is one store read
//! (`load_family`) on the common path: the token carries what differs from the session (its
//! id, times, narrowed scope and binding), the family record the rest.
//!
//! ```text
//! at_ base64url( format(1) | key_id(1) | family_id(16) | token_id(16) | iat(8, BE) | exp(8, BE)
//!                | scope_mask(8, BE) | resource_mask(8, BE) | flags(1) | [jkt(32)]
//!                | [x5t#S256(32)] | tag(16) )
//! tag = HMAC-SHA256(access_mac[key_id], everything before it)[..16]
//! ```
//!
//! `access_mac` is derived from the refresh secret under its own label, so refresh and access
//! tokens are never interchangeable; rotating the refresh secret rotates both. `scope_mask`
//! selects the granted scopes among the family's (bit *i*: its *i*-th scope; all ones: the
//! family's whole scope), so a narrowed scope costs 8 bytes whatever its length;
//! `resource_mask` selects the token's audience among the session's resource indicators
//! (RFC 8707) the same way (0: the engine's own audiences). `flags` bit 0 says a DPoP key
//! thumbprint follows, bit 1 a client-certificate thumbprint: the `cnf` that introspection
//! reports. A token is 114 characters unbound, 157 with one binding, 199 with both.
//!
//! Revoking one reference token (RFC 7009) lists its id in its family until its `exp`, at
//! most [`MAX_REVOKED_ACCESS_TOKENS`](crate::family::MAX_REVOKED_ACCESS_TOKENS) of them;
//! past that the family's `access_not_before` moves instead (see
//! [`FamilyRecord::revoke_access_token`](crate::family::FamilyRecord::revoke_access_token)).
//! Storage per session is bounded whatever the number of tokens issued. A grant without a
//! refresh token (client credentials, `without_refresh_token`) gets an
//! [`access_only`](crate::family::FamilyRecord::access_only) record that ends, and is swept by
//! `delete_expired`, with its token.

use subtle::ConstantTimeEq;

use crate::crypto::{fill_random, hmac};
use crate::error::{Error, IssueLimit};
use crate::jose::{b64_decode_into, b64_encode_to};
use crate::opaque::{FamilyId, RefreshKeys};

/// The prefix of every reference access token (a JWT never starts with it).
pub const REFERENCE_TOKEN_PREFIX: &str = "at_";
/// The longest reference access token, in characters (both bindings).
pub const MAX_REFERENCE_TOKEN_LEN: usize = 3 + 196;

const FORMAT_V1: u8 = 1;
const TAG_LEN: usize = 16;
/// format, key id, family, token id, iat, exp, scope mask, resource mask, flags.
const FIXED_LEN: usize = 1 + 1 + 16 + 16 + 8 + 8 + 8 + 8 + 1;
const THUMB_LEN: usize = 32;
const MAX_BODY_LEN: usize = FIXED_LEN + 2 * THUMB_LEN + TAG_LEN;
const FLAG_JKT: u8 = 1;
const FLAG_X5T: u8 = 2;
/// The scope mask meaning "the family's whole scope".
const WHOLE_SCOPE: u64 = u64::MAX;

/// How a client's access tokens are made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AccessTokenFormat {
    /// Signed JWTs (RFC 9068), verified without a lookup by anyone with the public keys
    /// ([`Verifier`](crate::Verifier)): the default.
    #[default]
    Jwt,
    /// Opaque reference tokens (`at_...`), read only through introspection: revoked at
    /// once, showing nothing to the client, at the cost of a lookup (see the module docs).
    Reference,
}

/// A reference access token whose tag checked out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ReferenceToken {
    pub(crate) key_id: u8,
    pub(crate) family: FamilyId,
    pub(crate) id: [u8; 16],
    pub(crate) iat: i64,
    pub(crate) exp: i64,
    pub(crate) scope_mask: u64,
    pub(crate) resource_mask: u64,
    pub(crate) jkt: Option<[u8; THUMB_LEN]>,
    pub(crate) x5t: Option<[u8; THUMB_LEN]>,
}

/// What a new reference token says.
pub(crate) struct ReferenceParts<'a> {
    pub(crate) family: FamilyId,
    pub(crate) iat: i64,
    pub(crate) exp: i64,
    /// The family's scope and the scope granted to this token (a subset of it).
    pub(crate) family_scope: &'a str,
    pub(crate) scope: &'a str,
    /// Base64url SHA-256 thumbprints (`cnf.jkt`, `cnf.x5t#S256`).
    pub(crate) jkt: Option<&'a str>,
    pub(crate) x5t: Option<&'a str>,
    /// The session's resource indicators (space-separated) and the token's audience among
    /// them (empty: the engine's own audiences).
    pub(crate) family_resources: Option<&'a str>,
    pub(crate) resources: &'a [&'a str],
    /// The scope and resource masks themselves, instead of computing them (fuzzing).
    pub(crate) mask: Option<(u64, u64)>,
}

/// The mask of `scope` among `family_scope`'s scopes; `IssueLimit::ReferenceScope` when a
/// narrowed scope needs a scope past the family's 64th.
pub(crate) fn scope_mask(family_scope: &str, scope: &str) -> Result<u64, Error> {
    if scope == family_scope {
        return Ok(WHOLE_SCOPE);
    }
    let mut mask = 0u64;
    for wanted in scope.split(' ').filter(|s| !s.is_empty()) {
        let at = family_scope
            .split(' ')
            .position(|g| g == wanted)
            .filter(|&i| i < 64)
            .ok_or(IssueLimit::ReferenceScope)?;
        mask |= 1 << at;
    }
    Ok(mask)
}

/// The mask of `resources` among the session's (0: none, the engine's own audiences);
/// `InvalidTarget` for one the session was not granted, `IssueLimit::ReferenceScope` past the
/// 64th.
pub(crate) fn resource_mask(family: Option<&str>, resources: &[&str]) -> Result<u64, Error> {
    if resources.is_empty() {
        return Ok(0);
    }
    let granted: Vec<&str> = family
        .unwrap_or("")
        .split(' ')
        .filter(|r| !r.is_empty())
        .collect();
    let mut mask = 0u64;
    for r in resources {
        let at = granted
            .iter()
            .position(|g| g == r)
            .ok_or(Error::InvalidTarget)?;
        if at >= 64 {
            return Err(IssueLimit::ReferenceScope.into());
        }
        mask |= 1 << at;
    }
    Ok(mask)
}

/// The resource indicators `mask` selects among the session's (empty: the engine's own
/// audiences).
pub(crate) fn resources_of(family: Option<&str>, mask: u64) -> Vec<&str> {
    family
        .unwrap_or("")
        .split(' ')
        .filter(|r| !r.is_empty())
        .take(64)
        .enumerate()
        .filter(|(i, _)| mask & (1 << i) != 0)
        .map(|(_, r)| r)
        .collect()
}

/// The scope `mask` selects among `family_scope`'s.
pub(crate) fn scope_of(family_scope: &str, mask: u64) -> String {
    if mask == WHOLE_SCOPE {
        return family_scope.to_owned();
    }
    let picked: Vec<&str> = family_scope
        .split(' ')
        .take(64)
        .enumerate()
        .filter(|(i, _)| mask & (1 << i) != 0)
        .map(|(_, s)| s)
        .collect();
    picked.join(" ")
}

fn thumbprint(text: &str) -> Result<[u8; THUMB_LEN], Error> {
    let mut out = [0u8; THUMB_LEN + 3];
    b64_decode_into(text.as_bytes(), &mut out)
        .ok()
        .and_then(|b| <[u8; THUMB_LEN]>::try_from(b).ok())
        .ok_or(Error::Config(
            "reference access token: a binding thumbprint is not 32 bytes of base64url",
        ))
}

/// Mint a reference token under the current refresh key. Returns the text and the token id.
pub(crate) fn mint(
    keys: &RefreshKeys,
    p: &ReferenceParts<'_>,
) -> Result<(String, [u8; 16]), Error> {
    let mut id = [0u8; 16];
    fill_random(&mut id)?;
    mint_with_id(keys, keys.current_id(), id, p).map(|t| (t, id))
}

/// [`mint`] with a given token id under key `key_id` (fuzzing re-mints a parsed token).
pub(crate) fn mint_with_id(
    keys: &RefreshKeys,
    key_id: u8,
    id: [u8; 16],
    p: &ReferenceParts<'_>,
) -> Result<String, Error> {
    let key = keys
        .access_mac(key_id)
        .ok_or(Error::Config("refresh secrets: unknown key id"))?;
    let (mask, resources) = match p.mask {
        Some(m) => m,
        None => (
            scope_mask(p.family_scope, p.scope)?,
            resource_mask(p.family_resources, p.resources)?,
        ),
    };
    let jkt = p.jkt.map(thumbprint).transpose()?;
    let x5t = p.x5t.map(thumbprint).transpose()?;
    let flags = if jkt.is_some() { FLAG_JKT } else { 0 } | if x5t.is_some() { FLAG_X5T } else { 0 };
    let mut body = Vec::with_capacity(MAX_BODY_LEN);
    body.extend_from_slice(&[FORMAT_V1, key_id]);
    body.extend_from_slice(p.family.as_bytes());
    body.extend_from_slice(&id);
    body.extend_from_slice(&p.iat.to_be_bytes());
    body.extend_from_slice(&p.exp.to_be_bytes());
    body.extend_from_slice(&mask.to_be_bytes());
    body.extend_from_slice(&resources.to_be_bytes());
    body.push(flags);
    for t in [jkt, x5t].into_iter().flatten() {
        body.extend_from_slice(&t);
    }
    let tag = hmac::sign(key, &body);
    body.extend_from_slice(tag.as_ref().get(..TAG_LEN).unwrap_or_default());
    let mut text = String::with_capacity(MAX_REFERENCE_TOKEN_LEN);
    text.push_str(REFERENCE_TOKEN_PREFIX);
    b64_encode_to(&body, &mut text);
    Ok(text)
}

/// Check a presented reference token: prefix, bounded length, strict base64url, format 1, a
/// known key id and a tag that matches (constant time), then the fields. `None` for anything
/// else, before any store access.
pub(crate) fn parse(keys: &RefreshKeys, token: &str) -> Option<ReferenceToken> {
    let encoded = token
        .strip_prefix(REFERENCE_TOKEN_PREFIX)
        .filter(|_| token.len() <= MAX_REFERENCE_TOKEN_LEN)?;
    let mut buf = [0u8; MAX_BODY_LEN + 3];
    let body = b64_decode_into(encoded.as_bytes(), &mut buf).ok()?;
    let (tagged, tag) = body.split_at_checked(body.len().checked_sub(TAG_LEN)?)?;
    let (&format, rest) = tagged.split_first()?;
    let (&key_id, rest) = rest.split_first()?;
    if format != FORMAT_V1 || tagged.len() < FIXED_LEN {
        return None;
    }
    let key = keys.access_mac(key_id)?;
    let expected = hmac::sign(key, tagged);
    let expected = expected.as_ref().get(..TAG_LEN)?;
    if !bool::from(expected.ct_eq(tag)) {
        return None;
    }
    let (family, rest) = rest.split_first_chunk::<16>()?;
    let (id, rest) = rest.split_first_chunk::<16>()?;
    let (iat, rest) = rest.split_first_chunk::<8>()?;
    let (exp, rest) = rest.split_first_chunk::<8>()?;
    let (mask, rest) = rest.split_first_chunk::<8>()?;
    let (resources, rest) = rest.split_first_chunk::<8>()?;
    let (&flags, mut rest) = rest.split_first()?;
    if flags & !(FLAG_JKT | FLAG_X5T) != 0 {
        return None;
    }
    let mut take = |present: bool| -> Option<Option<[u8; THUMB_LEN]>> {
        if !present {
            return Some(None);
        }
        let (t, r) = rest.split_first_chunk::<THUMB_LEN>()?;
        rest = r;
        Some(Some(*t))
    };
    let jkt = take(flags & FLAG_JKT != 0)?;
    let x5t = take(flags & FLAG_X5T != 0)?;
    if !rest.is_empty() {
        return None;
    }
    Some(ReferenceToken {
        key_id,
        family: FamilyId::from_bytes(*family),
        id: *id,
        iat: i64::from_be_bytes(*iat),
        exp: i64::from_be_bytes(*exp),
        scope_mask: u64::from_be_bytes(*mask),
        resource_mask: u64::from_be_bytes(*resources),
        jkt,
        x5t,
    })
}

/// Base64url of a thumbprint, as `cnf` carries it.
pub(crate) fn thumbprint_text(t: &[u8; THUMB_LEN]) -> String {
    let mut s = String::with_capacity(43);
    b64_encode_to(t, &mut s);
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::opaque::RefreshSecret;

    fn keys(b: u8) -> RefreshKeys {
        RefreshKeys::new(RefreshSecret::from_bytes(&[b; 32]).unwrap())
    }

    const JKT: &str = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";

    fn parts<'a>(scope: &'a str, jkt: Option<&'a str>, x5t: Option<&'a str>) -> ReferenceParts<'a> {
        ReferenceParts {
            family: FamilyId::from_bytes([3; 16]),
            iat: 1_800_000_000,
            exp: 1_800_000_900,
            family_scope: "read write admin",
            scope,
            jkt,
            x5t,
            family_resources: Some("https://a.example https://b.example"),
            resources: &["https://b.example"],
            mask: None,
        }
    }

    #[test]
    fn round_trip_lengths_and_bindings() {
        let k = keys(7);
        for (jkt, x5t, len) in [
            (None, None, 114),
            (Some(JKT), None, 157),
            (None, Some(JKT), 157),
            (Some(JKT), Some(JKT), MAX_REFERENCE_TOKEN_LEN),
        ] {
            let (t, id) = mint(&k, &parts("write", jkt, x5t)).unwrap();
            assert_eq!(t.len(), len);
            let p = parse(&k, &t).unwrap();
            assert_eq!(p.id, id);
            assert_eq!(p.family, FamilyId::from_bytes([3; 16]));
            assert_eq!((p.iat, p.exp), (1_800_000_000, 1_800_000_900));
            assert_eq!(scope_of("read write admin", p.scope_mask), "write");
            assert_eq!(
                resources_of(Some("https://a.example https://b.example"), p.resource_mask),
                ["https://b.example"]
            );
            assert_eq!(p.jkt.map(|t| thumbprint_text(&t)).as_deref(), jkt);
            assert_eq!(p.x5t.map(|t| thumbprint_text(&t)).as_deref(), x5t);
        }
    }

    #[test]
    fn every_single_character_change_is_rejected() {
        let k = keys(7);
        let (text, _) = mint(&k, &parts("read write admin", Some(JKT), None)).unwrap();
        for i in 0..text.len() {
            for c in ['A', 'z', '0', '-', '_', '.', ' '] {
                let mut bytes = text.clone().into_bytes();
                if bytes[i] == c as u8 {
                    continue;
                }
                bytes[i] = c as u8;
                assert!(
                    parse(&k, &String::from_utf8(bytes).unwrap()).is_none(),
                    "{i} {c}"
                );
            }
        }
        for bad in [
            "",
            "at_",
            &text[..text.len() - 1],
            &format!("{text}A"),
            &text[3..],
        ] {
            assert!(parse(&k, bad).is_none());
        }
        assert!(parse(&keys(8), &text).is_none(), "another secret");
        let refresh = k
            .mint(0, FamilyId::from_bytes([3; 16]), 0, &[1; 32])
            .unwrap();
        let as_access = format!("at_{}", &refresh.expose_secret()[3..]);
        assert!(
            parse(&k, &as_access).is_none(),
            "a refresh token is no access token"
        );
    }

    #[test]
    fn the_documented_format_from_an_independent_implementation() {
        // Minted by Python's hmac/hashlib from the module docs alone: HKDF-SHA256 (salt
        // "token-engine refresh-token v1", info "reference access token mac") of [7; 32],
        // family 00..0f, id [9; 16], iat 1800000000, exp 1800000900, whole scope, the second
        // resource, unbound.
        let t = "at_AQAAAQIDBAUGBwgJCgsMDQ4PCQkJCQkJCQkJCQkJCQkJCQAAAABrSdIAAAAAAGtJ1YT__________wAAAAAAAAACAPswGUolE9ccQwh0Kztl6-s";
        let p = parse(&keys(7), t).unwrap();
        let family: Vec<u8> = (0..16).collect();
        assert_eq!(p.family.as_bytes()[..], family[..]);
        assert_eq!(
            (p.id, p.iat, p.exp),
            ([9; 16], 1_800_000_000, 1_800_000_900)
        );
        assert_eq!((p.scope_mask, p.resource_mask), (WHOLE_SCOPE, 2));
        assert_eq!((p.jkt, p.x5t), (None, None));
        let again = mint_with_id(
            &keys(7),
            0,
            p.id,
            &ReferenceParts {
                family: p.family,
                iat: p.iat,
                exp: p.exp,
                family_scope: "",
                scope: "",
                jkt: None,
                x5t: None,
                family_resources: None,
                resources: &[],
                mask: Some((p.scope_mask, p.resource_mask)),
            },
        )
        .unwrap();
        assert_eq!(again, t);
    }

    #[test]
    fn scope_masks() {
        assert_eq!(scope_mask("a b c", "a b c").unwrap(), WHOLE_SCOPE);
        assert_eq!(scope_mask("a b c", "c a").unwrap(), 0b101);
        assert_eq!(scope_of("a b c", 0b101), "a c");
        assert_eq!(scope_of("a b c", 0), "");
        let many: Vec<String> = (0..70).map(|i| format!("s{i}")).collect();
        let many = many.join(" ");
        assert_eq!(scope_of(&many, scope_mask(&many, "s63").unwrap()), "s63");
        assert!(matches!(
            scope_mask(&many, "s64"),
            Err(Error::IssueLimit(IssueLimit::ReferenceScope))
        ));
        assert_eq!(resource_mask(None, &[]).unwrap(), 0);
        assert_eq!(resource_mask(Some("x y z"), &["z", "x"]).unwrap(), 0b101);
        assert_eq!(resources_of(Some("x y z"), 0b101), ["x", "z"]);
        assert!(resources_of(Some("x y z"), 0).is_empty());
        assert!(matches!(
            resource_mask(Some("x y"), &["w"]),
            Err(Error::InvalidTarget)
        ));
        assert!(matches!(
            resource_mask(None, &["x"]),
            Err(Error::InvalidTarget)
        ));
    }
}
