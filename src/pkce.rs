//! PKCE (RFC 7636): the client's secret [`CodeVerifier`] and the [`CodeChallenge`] sent with
//! the authorization request. For clients and tests; the engine checks PKCE itself.
//!
//! A server on the engine passes the challenge and method as strings to
//! [`AuthorizeRequest::pkce`](crate::grant::AuthorizeRequest::pkce) and the verifier to
//! [`Engine::exchange_code`](crate::Engine::exchange_code), and meets PKCE only as
//! [`Error::Pkce`] with a [`PkceError`] (which lives here, not at the crate root). A
//! client makes its verifier here ([`CodeVerifier::generate`], then
//! [`CodeVerifier::s256_challenge`]).
//!
//! `S256` is the only method unless a client is explicitly configured with
//! [`Client::danger_allow_plain_pkce`](crate::Client::danger_allow_plain_pkce); a request
//! without a method is `plain` by RFC 7636 §4.3, so it is refused like `plain` is. The
//! comparison at the token endpoint runs in constant time.

use core::fmt;

use crate::crypto::digest;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::error::Error;
use crate::jose::b64_encode_to;

/// Shortest verifier (RFC 7636 §4.1).
pub const MIN_VERIFIER_LEN: usize = 43;
/// Longest verifier (RFC 7636 §4.1).
pub const MAX_VERIFIER_LEN: usize = 128;

/// Why a PKCE value was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PkceError {
    /// Shorter than 43 or longer than 128 characters.
    Length,
    /// A character outside `A-Z a-z 0-9 - . _ ~`.
    Character,
    /// `code_challenge_method` is neither `S256` nor `plain`.
    UnknownMethod,
    /// `plain` (or no method) for a client that is not allowed it.
    PlainNotAllowed,
    /// The client must use PKCE and sent no challenge.
    Missing,
    /// The verifier does not match the challenge.
    Mismatch,
}

impl fmt::Display for PkceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PkceError::Length => "PKCE value must be 43 to 128 characters",
            PkceError::Character => "PKCE value has a character outside the unreserved set",
            PkceError::UnknownMethod => "unknown code_challenge_method",
            PkceError::PlainNotAllowed => "plain PKCE is not allowed for this client",
            PkceError::Missing => "PKCE is required for this client",
            PkceError::Mismatch => "code_verifier does not match the code_challenge",
        })
    }
}

/// RFC 7636 §4.1: `[A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~"`, 43 to 128 of them. The
/// challenge has the same syntax (§4.2; an `S256` challenge is always 43 characters).
fn check_syntax(value: &str) -> Result<(), PkceError> {
    if !(MIN_VERIFIER_LEN..=MAX_VERIFIER_LEN).contains(&value.len()) {
        return Err(PkceError::Length);
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
    {
        return Err(PkceError::Character);
    }
    Ok(())
}

/// The client's PKCE secret. Not `Clone`; zeroized on drop; `Debug` prints
/// `CodeVerifier([redacted])`.
pub struct CodeVerifier(Zeroizing<String>);

impl CodeVerifier {
    /// A fresh verifier: 32 random bytes, base64url (43 characters, 256 bits of entropy).
    pub fn generate() -> Result<Self, Error> {
        crate::opaque::random_text("").map(Self)
    }

    /// A verifier received from a client, checked against RFC 7636 §4.1.
    pub fn parse(value: &str) -> Result<Self, PkceError> {
        check_syntax(value)?;
        Ok(Self(Zeroizing::new(value.to_owned())))
    }

    /// The verifier's text, to send to the token endpoint.
    #[must_use]
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// Its `S256` challenge.
    #[must_use]
    pub fn s256_challenge(&self) -> CodeChallenge {
        CodeChallenge {
            method: ChallengeMethod::S256,
            value: s256(self.0.as_bytes()),
        }
    }
}

impl fmt::Debug for CodeVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CodeVerifier([redacted])")
    }
}

fn s256(verifier: &[u8]) -> String {
    let mut out = String::with_capacity(43);
    b64_encode_to(digest::digest(&digest::SHA256, verifier).as_ref(), &mut out);
    out
}

/// `code_challenge_method`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ChallengeMethod {
    /// `BASE64URL(SHA256(verifier))`.
    S256,
    /// The verifier itself (RFC 7636 §4.2; only with an explicit dangerous switch).
    #[serde(rename = "plain")]
    Plain,
}

/// A code challenge from an authorization request.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CodeChallenge {
    method: ChallengeMethod,
    value: String,
}

impl CodeChallenge {
    /// The `code_challenge` and `code_challenge_method` parameters as received. No method
    /// means `plain` (RFC 7636 §4.3), so it is refused unless `allow_plain`.
    pub fn from_request(
        value: &str,
        method: Option<&str>,
        allow_plain: bool,
    ) -> Result<Self, PkceError> {
        let method = match method {
            Some("S256") => ChallengeMethod::S256,
            Some("plain") | None => ChallengeMethod::Plain,
            Some(_) => return Err(PkceError::UnknownMethod),
        };
        if method == ChallengeMethod::Plain && !allow_plain {
            return Err(PkceError::PlainNotAllowed);
        }
        check_syntax(value)?;
        if method == ChallengeMethod::S256 && value.len() != 43 {
            return Err(PkceError::Length);
        }
        Ok(Self {
            method,
            value: value.to_owned(),
        })
    }

    /// The method.
    #[must_use]
    pub fn method(&self) -> ChallengeMethod {
        self.method
    }

    /// The challenge text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.value
    }

    /// Check the `code_verifier` sent to the token endpoint, in constant time.
    pub fn verify(&self, verifier: &str) -> Result<(), PkceError> {
        check_syntax(verifier)?;
        let computed = match self.method {
            ChallengeMethod::S256 => s256(verifier.as_bytes()),
            ChallengeMethod::Plain => verifier.to_owned(),
        };
        let equal: bool = computed.as_bytes().ct_eq(self.value.as_bytes()).into();
        if equal {
            Ok(())
        } else {
            Err(PkceError::Mismatch)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifiers_follow_rfc_7636_4_1() {
        for ok in [
            "a".repeat(43),
            "Z".repeat(128),
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNO-._~0123".into(),
        ] {
            CodeVerifier::parse(&ok).unwrap();
        }
        assert_eq!(
            CodeVerifier::parse(&"a".repeat(42)).unwrap_err(),
            PkceError::Length
        );
        assert_eq!(
            CodeVerifier::parse(&"a".repeat(129)).unwrap_err(),
            PkceError::Length
        );
        for bad in ["+", "/", "=", " ", "é", "%41", "\0"] {
            let v = format!("{}{bad}", "a".repeat(43));
            assert!(CodeVerifier::parse(&v).is_err(), "{v:?}");
        }
        assert_eq!(CodeVerifier::parse("").unwrap_err(), PkceError::Length);
    }

    #[test]
    fn generated_verifiers_are_43_characters_and_distinct() {
        let a = CodeVerifier::generate().unwrap();
        let b = CodeVerifier::generate().unwrap();
        assert_eq!(a.expose_secret().len(), 43);
        CodeVerifier::parse(a.expose_secret()).unwrap();
        assert_ne!(a.expose_secret(), b.expose_secret());
        a.s256_challenge().verify(a.expose_secret()).unwrap();
    }

    #[test]
    fn debug_is_redacted() {
        let v = CodeVerifier::parse(&"s".repeat(43)).unwrap();
        assert_eq!(format!("{v:?}"), "CodeVerifier([redacted])");
    }

    #[test]
    fn plain_and_missing_methods_need_the_dangerous_switch() {
        let value = "a".repeat(43);
        assert_eq!(
            CodeChallenge::from_request(&value, None, false).unwrap_err(),
            PkceError::PlainNotAllowed
        );
        assert_eq!(
            CodeChallenge::from_request(&value, Some("plain"), false).unwrap_err(),
            PkceError::PlainNotAllowed
        );
        assert_eq!(
            CodeChallenge::from_request(&value, Some("s256"), true).unwrap_err(),
            PkceError::UnknownMethod
        );
        let plain = CodeChallenge::from_request(&value, None, true).unwrap();
        assert_eq!(plain.method(), ChallengeMethod::Plain);
        plain.verify(&value).unwrap();
        assert_eq!(
            plain.verify(&"b".repeat(43)).unwrap_err(),
            PkceError::Mismatch
        );
        // An S256 challenge is the 43-character base64url of a SHA-256.
        assert_eq!(
            CodeChallenge::from_request(&"a".repeat(44), Some("S256"), false).unwrap_err(),
            PkceError::Length
        );
    }
}
