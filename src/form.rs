//! `application/x-www-form-urlencoded` request bodies, parsed the way RFC 6749 wants: a
//! parameter sent twice is an error (§3.1, §3.2), a parameter without a value is absent
//! (§3.1), and everything is bounded.

use crate::error::Error;

/// Largest body accepted.
pub const MAX_FORM_LEN: usize = 64 * 1024;
/// Most parameters accepted.
const MAX_PARAMS: usize = 64;
/// The parameters that may be sent several times: `resource` (RFC 8707 §2). Read them with
/// [`Form::get_all`]; [`Form::get`] gives the first.
const REPEATABLE: [&str; 1] = ["resource"];

/// A parsed form body.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Form {
    pairs: Vec<(String, String)>,
}

impl core::fmt::Debug for Form {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Values may be secrets (client_secret, code, code_verifier, tokens): names only.
        f.debug_list()
            .entries(self.pairs.iter().map(|(k, _)| k))
            .finish()
    }
}

impl Form {
    /// Parse a body. Malformed percent-escapes, invalid UTF-8, a repeated parameter (but
    /// `resource`, RFC 8707 §2), more than 64 parameters or more than 64 KiB are
    /// [`Error::InvalidRequest`].
    pub fn parse(body: &str) -> Result<Self, Error> {
        if body.len() > MAX_FORM_LEN {
            return Err(Error::InvalidRequest("request body too large"));
        }
        let pairs = parse_pairs(body)?;
        for (i, (name, _)) in pairs.iter().enumerate() {
            if !REPEATABLE.contains(&name.as_str()) && pairs.iter().take(i).any(|(n, _)| n == name)
            {
                return Err(Error::InvalidRequest("a parameter is repeated"));
            }
        }
        Ok(Self { pairs })
    }

    /// A form from name/value pairs (already decoded), with the same rules.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, Error> {
        let mut form = Self::default();
        for (name, value) in pairs {
            if !REPEATABLE.contains(&name) && form.pairs.iter().any(|(n, _)| n == name) {
                return Err(Error::InvalidRequest("a parameter is repeated"));
            }
            if form.pairs.len() == MAX_PARAMS {
                return Err(Error::InvalidRequest("too many parameters"));
            }
            form.pairs.push((name.to_owned(), value.to_owned()));
        }
        Ok(form)
    }

    /// A parameter's value; an empty value counts as absent (RFC 6749 §3.1).
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// Every non-empty value of a parameter, in order: the parameters that may repeat
    /// (`resource`, RFC 8707 §2) are read this way.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// A required parameter.
    pub(crate) fn require(&self, name: &str, missing: &'static str) -> Result<&str, Error> {
        self.get(name).ok_or(Error::InvalidRequest(missing))
    }
}

impl Drop for Form {
    fn drop(&mut self) {
        for (_, v) in &mut self.pairs {
            zeroize::Zeroize::zeroize(v);
        }
    }
}

/// The decoded name/value pairs of a body in order, repeats kept (for callers that must know
/// which parameter repeated). Bounded like [`Form::parse`]; the pairs are zeroized on drop
/// only once moved into a [`Form`].
pub(crate) fn parse_pairs(body: &str) -> Result<Vec<(String, String)>, Error> {
    if body.len() > MAX_FORM_LEN {
        return Err(Error::InvalidRequest("request body too large"));
    }
    let mut pairs: Vec<(String, String)> = Vec::new();
    for part in body.split('&').filter(|p| !p.is_empty()) {
        if pairs.len() == MAX_PARAMS {
            return Err(Error::InvalidRequest("too many parameters"));
        }
        let (name, value) = part.split_once('=').unwrap_or((part, ""));
        let name =
            decode_component(name).ok_or(Error::InvalidRequest("malformed form encoding"))?;
        let value =
            decode_component(value).ok_or(Error::InvalidRequest("malformed form encoding"))?;
        pairs.push((name, value));
    }
    Ok(pairs)
}

/// Decode one form component: `+` is a space, `%XX` a byte; the result must be UTF-8.
pub(crate) fn decode_component(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hi = char::from(*hex.first()?).to_digit(16)?;
                let lo = char::from(*hex.get(1)?).to_digit(16)?;
                out.push(u8::try_from(hi * 16 + lo).ok()?);
                i += 2;
            }
            _ => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Encode one component for a query string or form (everything but unreserved characters
/// percent-encoded).
pub(crate) fn encode_component(s: &str, out: &mut String) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let hex = |n: u8| char::from_digit(u32::from(n), 16).map(|c| c.to_ascii_uppercase());
            out.push('%');
            out.extend(hex(b >> 4));
            out.extend(hex(b & 15));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_rfc_6749_example() {
        let f = Form::parse(
            "grant_type=authorization_code&code=SplxlOBeZQQYbYS6WxSbIA&redirect_uri=https%3A%2F%2Fclient%2Eexample%2Ecom%2Fcb",
        )
        .unwrap();
        assert_eq!(f.get("grant_type"), Some("authorization_code"));
        assert_eq!(f.get("code"), Some("SplxlOBeZQQYbYS6WxSbIA"));
        assert_eq!(f.get("redirect_uri"), Some("https://client.example.com/cb"));
        assert_eq!(f.get("scope"), None);
    }

    #[test]
    fn repeated_malformed_and_oversized_bodies_are_refused() {
        for bad in ["a=1&a=2", "a=%zz", "a=%4", "a=%ff", "a=1&a"] {
            assert!(Form::parse(bad).is_err(), "{bad}");
        }
        assert!(Form::parse(&"a".repeat(MAX_FORM_LEN + 1)).is_err());
        let many: Vec<String> = (0..65).map(|i| format!("p{i}=1")).collect();
        assert!(Form::parse(&many.join("&")).is_err());
    }

    #[test]
    fn empty_values_are_absent_and_plus_is_space() {
        let f = Form::parse("scope=&state=a+b%20c&&x").unwrap();
        assert_eq!(f.get("scope"), None);
        assert_eq!(f.get("x"), None);
        assert_eq!(f.get("state"), Some("a b c"));
        assert!(!format!("{f:?}").contains("a b c"));
    }

    #[test]
    fn encoding_round_trips() {
        let mut out = String::new();
        encode_component("https://a.example/cb?x=1 2&é", &mut out);
        assert_eq!(
            decode_component(&out).unwrap(),
            "https://a.example/cb?x=1 2&é"
        );
        assert!(!out.contains(['/', '?', '&', ' ']));
    }
}
