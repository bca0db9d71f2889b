//! Who asks and what they ask for: [`Client`], [`IssueRequest`], [`RefreshRequest`], and the
//! scope rules (RFC 6749 §3.3).

use serde_json::{Map, Value};

use crate::error::Error;

/// An OAuth client as the engine sees it: its id and the scopes it may be granted. Client
/// authentication (secrets, private_key_jwt, mTLS) is the application's job, done before it
/// calls the engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Client {
    id: String,
    allowed_scopes: Vec<String>,
}

impl Client {
    /// A client that may be granted no scope yet.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            allowed_scopes: Vec::new(),
        }
    }

    /// The scopes this client may be granted.
    #[must_use]
    pub fn allow_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.allowed_scopes
            .extend(scopes.into_iter().map(Into::into));
        self
    }

    /// The client id.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The scopes it may be granted.
    #[must_use]
    pub fn allowed_scopes(&self) -> &[String] {
        &self.allowed_scopes
    }
}

/// Largest scope string accepted.
const MAX_SCOPE_LEN: usize = 4096;

/// Split and check a scope string: space-separated tokens of `%x21 / %x23-5B / %x5D-7E`
/// (RFC 6749 §3.3), bounded in length, duplicates removed, order kept.
pub(crate) fn parse_scope(scope: &str) -> Result<Vec<&str>, Error> {
    if scope.len() > MAX_SCOPE_LEN {
        return Err(Error::InvalidScope);
    }
    let mut out: Vec<&str> = Vec::new();
    for token in scope.split(' ') {
        if token.is_empty() {
            continue;
        }
        let ok = token
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b));
        if !ok {
            return Err(Error::InvalidScope);
        }
        if !out.contains(&token) {
            out.push(token);
        }
    }
    Ok(out)
}

/// The scope granted to `client` for `requested` (`None`: everything it may have).
pub(crate) fn grant_scope(client: &Client, requested: Option<&str>) -> Result<String, Error> {
    match requested {
        None => Ok(client.allowed_scopes.join(" ")),
        Some(requested) => {
            let wanted = parse_scope(requested)?;
            if wanted
                .iter()
                .all(|w| client.allowed_scopes.iter().any(|a| a == w))
            {
                Ok(wanted.join(" "))
            } else {
                Err(Error::InvalidScope)
            }
        }
    }
}

/// The scope of a refreshed access token: `requested` may narrow `granted`, never widen it
/// (RFC 6749 §6).
pub(crate) fn narrow_scope(granted: &str, requested: Option<&str>) -> Result<String, Error> {
    match requested {
        None => Ok(granted.to_owned()),
        Some(requested) => {
            let wanted = parse_scope(requested)?;
            if wanted.iter().all(|w| granted.split(' ').any(|g| g == *w)) {
                Ok(wanted.join(" "))
            } else {
                Err(Error::InvalidScope)
            }
        }
    }
}

/// Claim names the engine writes itself; application claims may not use them.
const REGISTERED: [&str; 17] = [
    "iss",
    "sub",
    "aud",
    "exp",
    "nbf",
    "iat",
    "jti",
    "client_id",
    "scope",
    "auth_time",
    "sid",
    "tenant",
    "pv",
    "cnf",
    "azp",
    "act",
    "may_act",
];

/// Serialize application claims for the family record: a JSON object without registered
/// names, or `None` when empty.
pub(crate) fn encode_claims(claims: &Map<String, Value>) -> Result<Option<String>, Error> {
    if claims.is_empty() {
        return Ok(None);
    }
    if claims.keys().any(|k| REGISTERED.contains(&k.as_str())) {
        return Err(Error::InvalidRequest(
            "application claims may not use registered claim names",
        ));
    }
    serde_json::to_string(claims)
        .map(Some)
        .map_err(|e| Error::Serialize(e.to_string()))
}

/// What to issue after the application authenticated the user.
#[derive(Clone, Debug)]
pub struct IssueRequest {
    pub(crate) subject: String,
    pub(crate) scope: Option<String>,
    pub(crate) tenant: Option<String>,
    pub(crate) device_id: Option<String>,
    pub(crate) auth_time: Option<i64>,
    pub(crate) claims: Map<String, Value>,
    pub(crate) refresh_token: bool,
}

impl IssueRequest {
    /// Tokens for `subject` (the user id).
    pub fn new(subject: impl Into<String>) -> Self {
        Self {
            subject: subject.into(),
            scope: None,
            tenant: None,
            device_id: None,
            auth_time: None,
            claims: Map::new(),
            refresh_token: true,
        }
    }

    /// The requested scope (space-separated); default: everything the client may have.
    #[must_use]
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// The user's tenant (for per-tenant policy versions).
    #[must_use]
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// The device the session is bound to.
    #[must_use]
    pub fn device(mut self, device_id: impl Into<String>) -> Self {
        self.device_id = Some(device_id.into());
        self
    }

    /// When the user authenticated (default: now).
    #[must_use]
    pub fn auth_time(mut self, unix_seconds: i64) -> Self {
        self.auth_time = Some(unix_seconds);
        self
    }

    /// An application claim for the access tokens of this session (`role`, `tenant_id`,
    /// ...). Registered claim names are refused at issue time.
    #[must_use]
    pub fn claim(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.claims.insert(name.into(), value.into());
        self
    }

    /// Issue no refresh token (and create no family).
    #[must_use]
    pub fn without_refresh_token(mut self) -> Self {
        self.refresh_token = false;
        self
    }
}

/// Options of a refresh.
#[derive(Clone, Debug, Default)]
pub struct RefreshRequest {
    pub(crate) scope: Option<String>,
}

impl RefreshRequest {
    /// Narrow the access token's scope (never wider than the grant).
    #[must_use]
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_rules() {
        assert_eq!(
            parse_scope(" read  write read ").unwrap(),
            ["read", "write"]
        );
        assert!(parse_scope("read\u{7f}").is_err());
        assert!(parse_scope("a\"b").is_err());
        assert!(parse_scope("a\\b").is_err());
        assert!(parse_scope(&"a".repeat(MAX_SCOPE_LEN + 1)).is_err());
        let c = Client::new("c").allow_scopes(["read", "write"]);
        assert_eq!(grant_scope(&c, None).unwrap(), "read write");
        assert_eq!(grant_scope(&c, Some("write")).unwrap(), "write");
        assert!(matches!(
            grant_scope(&c, Some("admin")),
            Err(Error::InvalidScope)
        ));
        assert_eq!(narrow_scope("read write", Some("read")).unwrap(), "read");
        assert_eq!(narrow_scope("read write", None).unwrap(), "read write");
        assert!(matches!(
            narrow_scope("read", Some("read write")),
            Err(Error::InvalidScope)
        ));
        assert!(matches!(
            narrow_scope("read", Some("rea")),
            Err(Error::InvalidScope)
        ));
    }

    #[test]
    fn application_claims_cannot_shadow_registered_ones() {
        let mut m = Map::new();
        assert_eq!(encode_claims(&m).unwrap(), None);
        m.insert("role".into(), "admin".into());
        assert_eq!(
            encode_claims(&m).unwrap().as_deref(),
            Some(r#"{"role":"admin"}"#)
        );
        m.insert("sub".into(), "someone-else".into());
        assert!(matches!(encode_claims(&m), Err(Error::InvalidRequest(_))));
    }
}
