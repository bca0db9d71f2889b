//! Resource indicators (RFC 8707): which protected resources a token is for. A client names
//! them with `resource` at the authorization and token endpoints; the engine grants those it
//! serves ([`EngineBuilder::resource`](crate::EngineBuilder::resource)) and the client may
//! use ([`Client::allow_resources`](crate::Client::allow_resources)), the access token's
//! `aud` is the resources granted, and a refresh may narrow them, never widen them. Every
//! refusal is `invalid_target`.

use crate::error::Error;

/// Most resources one request may name.
pub(crate) const MAX_RESOURCES: usize = 16;
/// Longest resource indicator accepted, in bytes.
pub(crate) const MAX_RESOURCE_LEN: usize = 512;
/// Longest `acr` value accepted, in bytes.
pub(crate) const MAX_ACR_LEN: usize = 256;

/// An RFC 8707 §2 resource indicator: an absolute URI (RFC 3986 §4.3: a scheme, `:`, the
/// rest) without a fragment, of visible ASCII, at most 512 bytes.
pub(crate) fn is_resource_uri(uri: &str) -> bool {
    let Some((scheme, rest)) = uri.split_once(':') else {
        return false;
    };
    let mut s = scheme.bytes();
    uri.len() <= MAX_RESOURCE_LEN
        && s.next().is_some_and(|b| b.is_ascii_alphabetic())
        && s.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        && !rest.is_empty()
        && uri.bytes().all(|b| b.is_ascii_graphic())
        && !uri.contains('#')
}

/// The resources to grant for `requested`: each a resource indicator the engine serves
/// (`engine`) and the client may use (`client`, all of the engine's when empty), repeats
/// dropped, in request order.
pub(crate) fn grant(
    engine: &[String],
    client: &[String],
    requested: &[String],
) -> Result<Vec<String>, Error> {
    if requested.len() > MAX_RESOURCES {
        return Err(Error::InvalidTarget);
    }
    let mut out: Vec<String> = Vec::with_capacity(requested.len());
    for r in requested {
        let allowed = is_resource_uri(r)
            && engine.iter().any(|e| e == r)
            && (client.is_empty() || client.iter().any(|c| c == r));
        if !allowed {
            return Err(Error::InvalidTarget);
        }
        if !out.contains(r) {
            out.push(r.clone());
        }
    }
    Ok(out)
}

/// The audience of one access token of a grant of `granted` (space-separated, `None`: the
/// engine's own audiences): `requested` when it names a subset of the grant, the whole grant
/// when it names nothing. A resource outside the grant (any, for a grant without resources)
/// is `invalid_target`.
pub(crate) fn narrow<'g>(
    granted: Option<&'g str>,
    requested: &[String],
) -> Result<Vec<&'g str>, Error> {
    let granted: Vec<&str> = granted
        .unwrap_or("")
        .split(' ')
        .filter(|r| !r.is_empty())
        .collect();
    if requested.is_empty() {
        return Ok(granted);
    }
    if requested.len() > MAX_RESOURCES {
        return Err(Error::InvalidTarget);
    }
    let mut out: Vec<&str> = Vec::with_capacity(requested.len());
    for r in requested {
        let Some(g) = granted.iter().find(|g| **g == r.as_str()) else {
            return Err(Error::InvalidTarget);
        };
        if !out.contains(g) {
            out.push(g);
        }
    }
    Ok(out)
}

/// An `acr` value (OpenID Connect Core §2, RFC 9470): 1 to 256 bytes of visible ASCII (no
/// space: `acr_values` separates values with spaces).
pub(crate) fn is_acr(acr: &str) -> bool {
    !acr.is_empty() && acr.len() <= MAX_ACR_LEN && acr.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_uris() {
        for ok in [
            "https://api.example.com",
            "https://api.example.com/v1?x=1",
            "urn:example:mcp",
            "http://127.0.0.1:8080/mcp",
        ] {
            assert!(is_resource_uri(ok), "{ok}");
        }
        let long = format!("https://a/{}", "x".repeat(MAX_RESOURCE_LEN));
        for bad in [
            "",
            "api.example.com",
            "/relative",
            "https://api.example.com/#frag",
            "https://api.example.com/#",
            "1https://x",
            "https:",
            "https://a b",
            "https://a\u{e9}",
            "https://a\n",
            long.as_str(),
        ] {
            assert!(!is_resource_uri(bad), "{bad:?}");
        }
    }

    #[test]
    fn grants_and_narrowing() {
        let engine = vec!["https://a".to_owned(), "https://b".to_owned()];
        let req = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            grant(&engine, &[], &req(&["https://b", "https://a", "https://b"])).unwrap(),
            req(&["https://b", "https://a"])
        );
        assert!(grant(&engine, &[], &req(&["https://c"])).is_err());
        assert!(grant(&engine, &req(&["https://a"]), &req(&["https://b"])).is_err());
        assert!(grant(&engine, &[], &req(&["https://a#x"])).is_err());
        let many: Vec<String> = (0..=MAX_RESOURCES)
            .map(|_| "https://a".to_owned())
            .collect();
        assert!(grant(&engine, &[], &many).is_err());

        assert_eq!(
            narrow(Some("https://a https://b"), &[]).unwrap(),
            ["https://a", "https://b"]
        );
        assert_eq!(
            narrow(Some("https://a https://b"), &req(&["https://b"])).unwrap(),
            ["https://b"]
        );
        assert!(narrow(Some("https://a"), &req(&["https://b"])).is_err());
        assert!(narrow(None, &req(&["https://a"])).is_err());
        assert!(narrow(None, &[]).unwrap().is_empty());
    }

    #[test]
    fn acr_values() {
        assert!(is_acr("urn:mace:incommon:iap:silver"));
        assert!(is_acr("2"));
        assert!(!is_acr(""));
        assert!(!is_acr("a b"));
        assert!(!is_acr(&"a".repeat(MAX_ACR_LEN + 1)));
    }
}
