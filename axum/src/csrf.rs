//! CSRF protection for the login, consent and device forms: a double-submit token, random
//! (256 bits from the library's CSPRNG), in a `SameSite=Strict; HttpOnly` cookie and in the
//! form, compared in constant time on submission. `SameSite=Strict` alone already keeps a
//! cross-site post from carrying the cookie; the token in the form covers browsers without
//! it and same-site attackers that can set no cookie.

use http::HeaderMap;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// The cookie's name.
pub const COOKIE: &str = "csrf";

/// A fresh token. `Debug` hides it; it is zeroized on drop.
pub struct CsrfToken(Zeroizing<String>);

impl core::fmt::Debug for CsrfToken {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("CsrfToken([redacted])")
    }
}

impl CsrfToken {
    /// 32 random bytes, hex. A failing system RNG yields an empty token, which never
    /// matches (the form is refused), rather than a guessable one.
    pub(crate) fn new() -> Self {
        let Ok(bytes) = token_engine::RefreshSecret::generate_bytes() else {
            return Self(Zeroizing::new(String::new()));
        };
        let mut s = String::with_capacity(64);
        for b in bytes.iter() {
            s.push(hex_digit(b >> 4));
            s.push(hex_digit(b & 15));
        }
        Self(Zeroizing::new(s))
    }

    /// The token, for the form's hidden field.
    pub(crate) fn value(&self) -> &str {
        &self.0
    }

    /// The `Set-Cookie` value.
    pub(crate) fn cookie(&self, secure: bool) -> String {
        let secure = if secure { "; Secure" } else { "" };
        format!(
            "{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict{secure}",
            self.0.as_str()
        )
    }
}

/// The lowercase hex digit of a nibble.
fn hex_digit(n: u8) -> char {
    char::from_digit(u32::from(n), 16).unwrap_or('0')
}

/// Whether the form's token equals the request's one `csrf` cookie (constant time; an empty
/// or absent one never matches, and neither do two: a second `csrf` cookie is what a sibling
/// domain planting its own would look like).
pub(crate) fn matches(headers: &HeaderMap, field: Option<&str>) -> bool {
    let prefix = "csrf=";
    let mut cookies = headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().strip_prefix(prefix));
    match (cookies.next(), cookies.next(), field) {
        (Some(c), None, Some(f)) if !c.is_empty() => bool::from(c.as_bytes().ct_eq(f.as_bytes())),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_cookie(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(http::header::COOKIE, v.parse().unwrap());
        h
    }

    #[test]
    fn only_the_cookies_token_matches() {
        let t = CsrfToken::new();
        assert_eq!(t.value().len(), 64);
        assert_ne!(t.value(), CsrfToken::new().value());
        let h = with_cookie(&format!("other=1; csrf={}", t.value()));
        assert!(matches(&h, Some(t.value())));
        assert!(!matches(&h, Some("x")));
        assert!(!matches(&h, None));
        assert!(!matches(&HeaderMap::new(), Some(t.value())));
        assert!(!matches(&with_cookie("csrf="), Some("")));
        // Two csrf cookies (a sibling domain planted one): never a match.
        let two = with_cookie(&format!("csrf={}; csrf=planted", t.value()));
        assert!(!matches(&two, Some(t.value())));
        assert!(!matches(&two, Some("planted")));
        assert!(!format!("{t:?}").contains(t.value()));
        assert!(t.cookie(true).ends_with("SameSite=Strict; Secure"));
    }
}
