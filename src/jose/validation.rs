//! What a verified access token must also satisfy: issuer, audience, time window, `typ`,
//! required claims and size.

use time::Duration;

use super::claims::AccessTokenClaims;
use crate::error::{Claim, Error, TokenError};

/// Default leeway for `exp`, `nbf` and `iat`: servers behind NTP disagree by far less.
pub const DEFAULT_LEEWAY: Duration = Duration::seconds(30);
/// Largest leeway accepted: beyond this a clock problem should be fixed, not tolerated.
pub const MAX_LEEWAY: Duration = Duration::minutes(5);
/// Default maximum token length in bytes.
pub const DEFAULT_MAX_TOKEN_LEN: usize = 8 * 1024;
/// Largest maximum token length that can be configured.
pub const MAX_TOKEN_LEN_LIMIT: usize = 64 * 1024;

/// The RFC 9068 §2.2 required claims.
const RFC9068_REQUIRED: [Claim; 7] = [
    Claim::Iss,
    Claim::Exp,
    Claim::Aud,
    Claim::Sub,
    Claim::ClientId,
    Claim::Iat,
    Claim::Jti,
];

/// The `typ` header a token must carry.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TypeCheck {
    /// `at+jwt` (RFC 9068), with or without the `application/` prefix, any letter case. The
    /// default: it stops ID tokens and other JWTs signed by the same key passing as access
    /// tokens.
    AccessToken,
    /// This media type, any letter case, with or without the `application/` prefix on either
    /// side: configured `application/at+jwt` and `at+jwt` both accept a header naming either
    /// (RFC 7515 §4.1.9).
    Exactly(String),
    /// No check. For tokens from issuers that predate RFC 9068.
    DangerAny,
}

/// The media type `typ` names, without its optional `application/` prefix. RFC 7515 §4.1.9:
/// a value with no `/` stands for `application/` followed by it, so `at+jwt` and
/// `application/at+jwt` are one type, while `application/x/y` keeps its prefix (it is not
/// `x/y`). Two values name the same type exactly when their bare forms match, ignoring ASCII
/// case.
pub(super) fn bare_media_type(typ: &[u8]) -> &[u8] {
    match (typ.get(..12), typ.get(12..)) {
        (Some(prefix), Some(rest))
            if prefix.eq_ignore_ascii_case(b"application/") && !rest.contains(&b'/') =>
        {
            rest
        }
        _ => typ,
    }
}

pub(crate) fn media_type_matches(typ: &[u8], wanted: &[u8]) -> bool {
    bare_media_type(typ).eq_ignore_ascii_case(bare_media_type(wanted))
}

/// Validation rules for access tokens. Start from [`Validation::new`] with the issuer and
/// audience to accept; the other settings have safe defaults:
///
/// | setting | default |
/// |---|---|
/// | leeway | 30 s (at most 5 min) |
/// | `typ` | `at+jwt` required |
/// | required claims | `iss sub aud exp iat jti client_id` (RFC 9068) |
/// | maximum token length | 8 KiB (at most 64 KiB) |
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Validation {
    issuers: Vec<String>,
    audiences: Vec<String>,
    any_audience: bool,
    leeway: Duration,
    typ: TypeCheck,
    required: u16,
    max_token_len: usize,
    acr_values: Vec<String>,
    max_auth_age: Option<Duration>,
}

impl Validation {
    /// Accept tokens from `issuer` for `audience`.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            issuers: vec![issuer.into()],
            audiences: vec![audience.into()],
            any_audience: false,
            leeway: DEFAULT_LEEWAY,
            typ: TypeCheck::AccessToken,
            required: RFC9068_REQUIRED.iter().fold(0, |m, c| m | c.bit()),
            max_token_len: DEFAULT_MAX_TOKEN_LEN,
            acr_values: Vec::new(),
            max_auth_age: None,
        }
    }

    /// Also accept tokens from `issuer`.
    #[must_use]
    pub fn also_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuers.push(issuer.into());
        self
    }

    /// Also accept tokens for `audience`.
    #[must_use]
    pub fn also_audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Accept any `aud`. RFC 9068 §4 requires resource servers to check the audience; this
    /// is for an authorization server introspecting its own tokens.
    #[must_use]
    pub fn danger_accept_any_audience(mut self) -> Self {
        self.any_audience = true;
        self
    }

    /// Set the clock-skew leeway: whole seconds, at most [`MAX_LEEWAY`] (checked when the
    /// verifier is built; a fraction of a second is refused, never truncated).
    #[must_use]
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Set the `typ` rule.
    #[must_use]
    pub fn typ(mut self, typ: TypeCheck) -> Self {
        self.typ = typ;
        self
    }

    /// Replace the set of required claims.
    #[must_use]
    pub fn required(mut self, claims: &[Claim]) -> Self {
        self.required = claims.iter().fold(0, |m, c| m | c.bit());
        self
    }

    /// Set the maximum token length (at most [`MAX_TOKEN_LEN_LIMIT`]).
    #[must_use]
    pub fn max_token_len(mut self, len: usize) -> Self {
        self.max_token_len = len;
        self
    }

    /// Step-up authentication (RFC 9470): accept only tokens whose `acr` is one of `values`
    /// (the user authenticated with one of these classes). A token without `acr`, or with
    /// another, fails with [`TokenError::InsufficientUserAuthentication`], which the
    /// challenges ([`Challenges::with_step_up`](crate::Challenges::with_step_up)) answer
    /// `401` `insufficient_user_authentication` with `acr_values`.
    #[must_use]
    pub fn require_acr<I, S>(mut self, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.acr_values = values.into_iter().map(Into::into).collect();
        self
    }

    /// Step-up authentication (RFC 9470): accept only tokens whose `auth_time` is at most
    /// `max_age` before now (whole seconds; no leeway: an authentication a little too old
    /// asks the user again). A token without `auth_time`, or an older one, fails with
    /// [`TokenError::InsufficientUserAuthentication`] (answered with `max_age`).
    #[must_use]
    pub fn max_auth_age(mut self, max_age: Duration) -> Self {
        self.max_auth_age = Some(max_age);
        self
    }

    /// The `acr` values [`Validation::require_acr`] accepts (empty: any).
    #[must_use]
    pub fn acr_values(&self) -> &[String] {
        &self.acr_values
    }

    /// The [`Validation::max_auth_age`] in whole seconds, if set.
    #[must_use]
    pub fn max_auth_age_secs(&self) -> Option<i64> {
        self.max_auth_age.map(Duration::whole_seconds)
    }

    /// The maximum token length.
    #[must_use]
    pub fn max_len(&self) -> usize {
        self.max_token_len
    }

    /// Check the rules themselves.
    pub fn check(&self) -> Result<(), Error> {
        if self.issuers.iter().any(String::is_empty) || self.issuers.is_empty() {
            return Err(Error::Config(
                "validation: issuer must be a non-empty string",
            ));
        }
        if !self.any_audience
            && (self.audiences.is_empty() || self.audiences.iter().any(String::is_empty))
        {
            return Err(Error::Config(
                "validation: audience must be a non-empty string",
            ));
        }
        // Token times are whole seconds: a fraction would be truncated, so it is refused.
        if self.leeway.is_negative()
            || self.leeway > MAX_LEEWAY
            || self.leeway.subsec_nanoseconds() != 0
        {
            return Err(Error::Config(
                "validation: leeway must be whole seconds between 0 and 5 minutes",
            ));
        }
        if self.max_token_len == 0 || self.max_token_len > MAX_TOKEN_LEN_LIMIT {
            return Err(Error::Config(
                "validation: max token length must be 1..=65536",
            ));
        }
        if !self
            .acr_values
            .iter()
            .all(|a| crate::resource_indicator::is_acr(a))
        {
            return Err(Error::Config(
                "validation: each acr value must be 1 to 256 bytes of visible ASCII",
            ));
        }
        if self
            .max_auth_age
            .is_some_and(|d| d.is_negative() || d.subsec_nanoseconds() != 0)
        {
            return Err(Error::Config(
                "validation: max_auth_age must be whole seconds, not negative",
            ));
        }
        if let TypeCheck::Exactly(t) = &self.typ
            && bare_media_type(t.as_bytes()).is_empty()
        {
            return Err(Error::Config(
                "validation: typ must name a media type (non-empty after application/)",
            ));
        }
        Ok(())
    }

    pub(crate) fn check_typ(&self, typ: Option<&[u8]>) -> Result<(), TokenError> {
        let ok = match &self.typ {
            TypeCheck::DangerAny => true,
            // The exact spelling first: what nearly every issuer writes.
            TypeCheck::AccessToken => {
                typ.is_some_and(|t| t == b"at+jwt" || media_type_matches(t, b"at+jwt"))
            }
            TypeCheck::Exactly(w) => {
                let w = w.as_bytes();
                typ.is_some_and(|t| t == w || media_type_matches(t, w))
            }
        };
        if ok {
            Ok(())
        } else {
            Err(TokenError::WrongType)
        }
    }

    /// Check time window, issuer, audience and required claims at `now` (Unix seconds).
    pub(crate) fn check_claims<T>(
        &self,
        c: &AccessTokenClaims<'_, T>,
        now: i64,
    ) -> Result<(), TokenError> {
        check_window(c, now, self.leeway.whole_seconds())?;
        if let Some(iss) = &c.iss
            && !self.issuers.iter().any(|i| i == iss)
        {
            return Err(TokenError::Issuer);
        }
        if let Some(aud) = &c.aud {
            if !self.any_audience && !self.audiences.iter().any(|a| aud.contains(a)) {
                return Err(TokenError::Audience);
            }
        } else if !self.any_audience {
            return Err(TokenError::MissingClaim(Claim::Aud));
        }
        if c.iss.is_none() {
            return Err(TokenError::MissingClaim(Claim::Iss));
        }
        check_required(c, self.required)?;
        if !self.acr_values.is_empty()
            && !c
                .acr
                .as_deref()
                .is_some_and(|acr| self.acr_values.iter().any(|a| a == acr))
        {
            return Err(TokenError::InsufficientUserAuthentication);
        }
        if let Some(max) = self.max_auth_age
            && c.auth_time
                .is_none_or(|t| now.saturating_sub(t) > max.whole_seconds())
        {
            return Err(TokenError::InsufficientUserAuthentication);
        }
        Ok(())
    }
}

/// The time window: `exp`, `nbf` and `iat`, each when present, with `leeway` seconds.
pub(super) fn check_window<T>(
    c: &AccessTokenClaims<'_, T>,
    now: i64,
    leeway: i64,
) -> Result<(), TokenError> {
    if let Some(exp) = c.exp
        && now >= exp.saturating_add(leeway)
    {
        return Err(TokenError::Expired);
    }
    if let Some(nbf) = c.nbf
        && now.saturating_add(leeway) < nbf
    {
        return Err(TokenError::NotYetValid);
    }
    if let Some(iat) = c.iat
        && iat > now.saturating_add(leeway)
    {
        return Err(TokenError::IssuedInFuture);
    }
    Ok(())
}

/// Whether `c` has every claim of the `required` bit set; the first missing one otherwise.
pub(super) fn check_required<T>(
    c: &AccessTokenClaims<'_, T>,
    required: u16,
) -> Result<(), TokenError> {
    if required != 0 {
        for claim in ALL_CLAIMS {
            if required & claim.bit() != 0 && !c.has(claim) {
                return Err(TokenError::MissingClaim(claim));
            }
        }
    }
    Ok(())
}

pub(super) const ALL_CLAIMS: [Claim; 14] = [
    Claim::Iss,
    Claim::Sub,
    Claim::Aud,
    Claim::Exp,
    Claim::Nbf,
    Claim::Iat,
    Claim::Jti,
    Claim::ClientId,
    Claim::Scope,
    Claim::AuthTime,
    Claim::Sid,
    Claim::Pv,
    Claim::Cnf,
    Claim::Acr,
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn claims() -> AccessTokenClaims<'static> {
        AccessTokenClaims {
            iss: Some(Cow::Borrowed("https://as")),
            sub: Some(Cow::Borrowed("u")),
            aud: Some("https://api".into()),
            exp: Some(1_000),
            iat: Some(900),
            jti: Some(Cow::Borrowed("j")),
            client_id: Some(Cow::Borrowed("c")),
            ..AccessTokenClaims::default()
        }
    }

    #[test]
    fn time_window_respects_leeway() {
        let v = Validation::new("https://as", "https://api");
        let c = claims();
        assert_eq!(v.check_claims(&c, 1_029), Ok(()));
        assert_eq!(v.check_claims(&c, 1_030), Err(TokenError::Expired));
        let strict = v.clone().leeway(Duration::ZERO);
        assert_eq!(strict.check_claims(&c, 999), Ok(()));
        assert_eq!(strict.check_claims(&c, 1_000), Err(TokenError::Expired));
        assert_eq!(v.check_claims(&c, 869), Err(TokenError::IssuedInFuture));
        let mut nbf = claims();
        nbf.nbf = Some(950);
        assert_eq!(v.check_claims(&nbf, 919), Err(TokenError::NotYetValid));
        assert_eq!(v.check_claims(&nbf, 920), Ok(()));
        let mut extreme = claims();
        extreme.exp = Some(i64::MAX);
        extreme.iat = Some(i64::MIN);
        assert_eq!(v.check_claims(&extreme, i64::MAX - 1), Ok(()));
    }

    #[test]
    fn issuer_audience_and_required_claims() {
        let v = Validation::new("https://as", "https://api").also_audience("https://other");
        let mut c = claims();
        c.iss = Some(Cow::Borrowed("https://evil"));
        assert_eq!(v.check_claims(&c, 950), Err(TokenError::Issuer));
        let mut c = claims();
        c.aud = Some(crate::Audience::Many(vec![
            Cow::Borrowed("x"),
            Cow::Borrowed("https://other"),
        ]));
        assert_eq!(v.check_claims(&c, 950), Ok(()));
        c.aud = Some("https://api/".into());
        assert_eq!(v.check_claims(&c, 950), Err(TokenError::Audience));
        let mut c = claims();
        c.jti = None;
        assert_eq!(
            v.check_claims(&c, 950),
            Err(TokenError::MissingClaim(Claim::Jti))
        );
        let relaxed = v.clone().required(&[Claim::Exp]);
        assert_eq!(relaxed.check_claims(&c, 950), Ok(()));
        // iss and aud are always checked, whatever the required set says.
        c.aud = None;
        assert_eq!(
            relaxed.check_claims(&c, 950),
            Err(TokenError::MissingClaim(Claim::Aud))
        );
    }

    #[test]
    fn typ_rules_and_config_bounds() {
        let v = Validation::new("i", "a");
        for ok in [
            "at+jwt",
            "AT+JWT",
            "application/at+jwt",
            "Application/At+Jwt",
        ] {
            assert_eq!(v.check_typ(Some(ok.as_bytes())), Ok(()), "{ok}");
        }
        for bad in [
            None,
            Some("JWT"),
            Some("jwt"),
            Some("application/jwt"),
            Some("at+jwt "),
            Some(""),
        ] {
            assert_eq!(
                v.check_typ(bad.map(str::as_bytes)),
                Err(TokenError::WrongType),
                "{bad:?}"
            );
        }
        assert_eq!(v.clone().typ(TypeCheck::DangerAny).check_typ(None), Ok(()));
        assert_eq!(
            v.clone()
                .typ(TypeCheck::Exactly("JWT".into()))
                .check_typ(Some(b"jwt")),
            Ok(())
        );
        // The prefix is optional on the configured side too, and only stands for itself
        // before a type without a `/`.
        for (configured, header, ok) in [
            ("application/at+jwt", "at+jwt", true),
            ("application/at+jwt", "Application/AT+JWT", true),
            ("APPLICATION/at+jwt", "application/at+jwt", true),
            ("at+jwt", "application/at+jwt", true),
            ("application/at+jwt", "application/jwt", false),
            ("application/at+jwt", "application/", false),
            ("application/x/y", "application/x/y", true),
            ("application/x/y", "x/y", false),
            ("x/y", "application/x/y", false),
            ("text/plain", "TEXT/plain", true),
            ("text/plain", "application/text/plain", false),
        ] {
            let rules = v.clone().typ(TypeCheck::Exactly(configured.into()));
            assert!(rules.check().is_ok(), "{configured}");
            let expected = if ok {
                Ok(())
            } else {
                Err(TokenError::WrongType)
            };
            assert_eq!(
                rules.check_typ(Some(header.as_bytes())),
                expected,
                "{configured} {header}"
            );
        }
        for empty in ["", "application/", "Application/"] {
            assert!(
                v.clone()
                    .typ(TypeCheck::Exactly(empty.into()))
                    .check()
                    .is_err(),
                "{empty:?}"
            );
        }
        assert!(v.check().is_ok());
        assert!(Validation::new("", "a").check().is_err());
        assert!(Validation::new("i", "").check().is_err());
        assert!(
            Validation::new("i", "")
                .danger_accept_any_audience()
                .check()
                .is_ok()
        );
        assert!(v.clone().leeway(Duration::minutes(6)).check().is_err());
        assert!(v.clone().leeway(Duration::seconds(-1)).check().is_err());
        assert!(
            v.clone()
                .leeway(Duration::milliseconds(1500))
                .check()
                .is_err()
        );
        assert!(v.clone().leeway(Duration::seconds(1)).check().is_ok());
        assert!(v.clone().max_token_len(0).check().is_err());
        assert!(v.clone().max_token_len(1 << 20).check().is_err());
    }
}
