//! Rules for signed JWTs that are not RFC 9068 access tokens: ID tokens from another
//! provider, signed webhooks, logout tokens. The JWS rules are the access tokens' own; which
//! claims are checked is the caller's choice.

use time::Duration;

use super::claims::AccessTokenClaims;
use super::validation::{
    DEFAULT_LEEWAY, DEFAULT_MAX_TOKEN_LEN, MAX_LEEWAY, MAX_TOKEN_LEN_LIMIT, bare_media_type,
    check_required, check_window, media_type_matches,
};
use crate::error::{Claim, Error, TokenError};

/// What a signed JWT other than an access token must satisfy, for
/// [`Verifier::verify_jwt`](crate::Verifier::verify_jwt) and
/// [`JwksSource::verify_jwt`](crate::JwksSource::verify_jwt).
///
/// The JWS rules always apply, exactly as for access tokens: the key is one of the verifier's,
/// picked by `kid` and bound to one algorithm, which the header's `alg` must equal; `none`,
/// `crit`, embedded or referenced keys and duplicate members reject; strict base64url; the
/// length limit. So does the time window: `exp`, `nbf` and `iat` are checked whenever present.
/// Every other check is one the caller names; none needs a `danger_` switch, because nothing is
/// presumed about the token's kind:
///
/// | setting | default |
/// |---|---|
/// | [`issuer`](JwtRules::issuer) | not checked; once set, `iss` must be present and one of those set |
/// | [`audience`](JwtRules::audience) | not checked; once set, `aud` must be present and name one of those set |
/// | [`typ`](JwtRules::typ) | not checked; once set, the header's `typ` must be present and name that media type |
/// | [`require`](JwtRules::require) | `exp`: a token that never expires must be asked for |
/// | [`leeway`](JwtRules::leeway) | 30 s (at most 5 min) |
/// | [`max_token_len`](JwtRules::max_token_len) | 8 KiB (at most 64 KiB) |
///
/// ```
/// use token_engine::{Claim, JwtRules};
///
/// // An OpenID Connect ID token for this client (OIDC Core §3.1.3.7).
/// let id_token = JwtRules::new()
///     .issuer("https://accounts.example.com")
///     .audience("my-client-id")
///     .require(&[Claim::Sub, Claim::Exp, Claim::Iat]);
/// # assert!(id_token.check().is_ok());
/// // A signed webhook: its own media type, issued in the last few minutes.
/// let webhook = JwtRules::new().typ("webhook+jwt").require(&[Claim::Iat, Claim::Exp]);
/// # assert!(webhook.check().is_ok());
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct JwtRules {
    issuers: Vec<String>,
    audiences: Vec<String>,
    typ: Option<String>,
    leeway: Duration,
    required: u16,
    max_token_len: usize,
}

impl Default for JwtRules {
    fn default() -> Self {
        Self {
            issuers: Vec::new(),
            audiences: Vec::new(),
            typ: None,
            leeway: DEFAULT_LEEWAY,
            required: Claim::Exp.bit(),
            max_token_len: DEFAULT_MAX_TOKEN_LEN,
        }
    }
}

impl JwtRules {
    /// The JWS rules, the time window and a required `exp`; nothing else (see the table).
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Accept tokens from `issuer` (call again to accept several): `iss` must be present and
    /// equal one of them.
    #[must_use]
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuers.push(issuer.into());
        self
    }

    /// Accept tokens for `audience` (call again to accept several): `aud` must be present and
    /// name one of them.
    #[must_use]
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// The media type the header's `typ` must name: any letter case, the `application/`
    /// prefix optional on either side (RFC 7515 §4.1.9), as [`TypeCheck::Exactly`]. An access
    /// token (`at+jwt`) is not an ID token: set this wherever the issuer types its tokens.
    ///
    /// [`TypeCheck::Exactly`]: crate::TypeCheck::Exactly
    #[must_use]
    pub fn typ(mut self, media_type: impl Into<String>) -> Self {
        self.typ = Some(media_type.into());
        self
    }

    /// Replace the set of claims that must be present (by default `exp`).
    #[must_use]
    pub fn require(mut self, claims: &[Claim]) -> Self {
        self.required = claims.iter().fold(0, |m, c| m | c.bit());
        self
    }

    /// The clock-skew leeway for `exp`, `nbf` and `iat`: whole seconds, at most
    /// [`MAX_LEEWAY`] (a fraction of a second is refused at use, never truncated).
    ///
    /// [`MAX_LEEWAY`]: crate::jose::MAX_LEEWAY
    #[must_use]
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// The maximum token length (at most [`MAX_TOKEN_LEN_LIMIT`]).
    ///
    /// [`MAX_TOKEN_LEN_LIMIT`]: crate::jose::MAX_TOKEN_LEN_LIMIT
    #[must_use]
    pub fn max_token_len(mut self, len: usize) -> Self {
        self.max_token_len = len;
        self
    }

    /// Check the rules themselves (verification does, on every call).
    pub fn check(&self) -> Result<(), Error> {
        if self.issuers.iter().any(String::is_empty) {
            return Err(Error::Config(
                "jwt rules: issuer must be a non-empty string",
            ));
        }
        if self.audiences.iter().any(String::is_empty) {
            return Err(Error::Config(
                "jwt rules: audience must be a non-empty string",
            ));
        }
        // Token times are whole seconds: a fraction would be truncated, so it is refused.
        if self.leeway.is_negative()
            || self.leeway > MAX_LEEWAY
            || self.leeway.subsec_nanoseconds() != 0
        {
            return Err(Error::Config(
                "jwt rules: leeway must be whole seconds between 0 and 5 minutes",
            ));
        }
        if self.max_token_len == 0 || self.max_token_len > MAX_TOKEN_LEN_LIMIT {
            return Err(Error::Config(
                "jwt rules: max token length must be 1..=65536",
            ));
        }
        if self
            .typ
            .as_deref()
            .is_some_and(|t| bare_media_type(t.as_bytes()).is_empty())
        {
            return Err(Error::Config(
                "jwt rules: typ must name a media type (non-empty after application/)",
            ));
        }
        Ok(())
    }

    pub(crate) fn max_len(&self) -> usize {
        self.max_token_len
    }

    pub(crate) fn check_typ(&self, typ: Option<&[u8]>) -> Result<(), TokenError> {
        match (&self.typ, typ) {
            (None, _) => Ok(()),
            (Some(wanted), Some(typ)) if media_type_matches(typ, wanted.as_bytes()) => Ok(()),
            (Some(_), _) => Err(TokenError::WrongType),
        }
    }

    /// The time window, then issuer, audience and the required claims, at `now`.
    pub(crate) fn check_claims<T>(
        &self,
        c: &AccessTokenClaims<'_, T>,
        now: i64,
    ) -> Result<(), TokenError> {
        check_window(c, now, self.leeway.whole_seconds())?;
        if !self.issuers.is_empty() {
            match &c.iss {
                Some(iss) if self.issuers.iter().any(|i| i == iss) => {}
                Some(_) => return Err(TokenError::Issuer),
                None => return Err(TokenError::MissingClaim(Claim::Iss)),
            }
        }
        if !self.audiences.is_empty() {
            match &c.aud {
                Some(aud) if self.audiences.iter().any(|a| aud.contains(a)) => {}
                Some(_) => return Err(TokenError::Audience),
                None => return Err(TokenError::MissingClaim(Claim::Aud)),
            }
        }
        check_required(c, self.required)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn claims() -> AccessTokenClaims<'static> {
        AccessTokenClaims {
            iss: Some(Cow::Borrowed("https://idp")),
            aud: Some("client".into()),
            exp: Some(1_000),
            iat: Some(900),
            ..AccessTokenClaims::default()
        }
    }

    #[test]
    fn only_what_is_asked_for_is_checked() {
        let any = JwtRules::new();
        let mut c = claims();
        (c.iss, c.aud) = (None, None);
        assert_eq!(any.check_claims(&c, 950), Ok(()));
        assert_eq!(any.check_claims(&c, 1_030), Err(TokenError::Expired));
        c.exp = None;
        assert_eq!(
            any.check_claims(&c, 950),
            Err(TokenError::MissingClaim(Claim::Exp))
        );
        assert_eq!(any.clone().require(&[]).check_claims(&c, 950), Ok(()));
        assert_eq!(any.check_typ(None), Ok(()));
        assert_eq!(any.check_typ(Some(b"at+jwt")), Ok(()));

        let oidc = JwtRules::new()
            .issuer("https://other")
            .issuer("https://idp")
            .audience("client")
            .typ("JWT");
        assert_eq!(oidc.check_claims(&claims(), 950), Ok(()));
        let mut c = claims();
        c.iss = Some(Cow::Borrowed("https://evil"));
        assert_eq!(oidc.check_claims(&c, 950), Err(TokenError::Issuer));
        c.iss = None;
        assert_eq!(
            oidc.check_claims(&c, 950),
            Err(TokenError::MissingClaim(Claim::Iss))
        );
        let mut c = claims();
        c.aud = Some("api".into());
        assert_eq!(oidc.check_claims(&c, 950), Err(TokenError::Audience));
        c.aud = None;
        assert_eq!(
            oidc.check_claims(&c, 950),
            Err(TokenError::MissingClaim(Claim::Aud))
        );
        for ok in ["JWT", "jwt", "application/jwt"] {
            assert_eq!(oidc.check_typ(Some(ok.as_bytes())), Ok(()), "{ok}");
        }
        for bad in [None, Some("at+jwt"), Some("")] {
            assert_eq!(
                oidc.check_typ(bad.map(str::as_bytes)),
                Err(TokenError::WrongType),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn rules_are_checked() {
        assert!(JwtRules::new().check().is_ok());
        assert!(JwtRules::new().issuer("").check().is_err());
        assert!(JwtRules::new().audience("").check().is_err());
        assert!(JwtRules::new().typ("application/").check().is_err());
        assert!(
            JwtRules::new()
                .leeway(Duration::minutes(6))
                .check()
                .is_err()
        );
        assert!(
            JwtRules::new()
                .leeway(Duration::milliseconds(500))
                .check()
                .is_err()
        );
        assert!(JwtRules::new().max_token_len(0).check().is_err());
    }
}
