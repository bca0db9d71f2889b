//! Security-policy versions: `major.minor`, ordered.
//!
//! A major increase forces every older session to re-authenticate; a minor increase upgrades
//! sessions silently at their next rotation. Access tokens carry the version as the `pv` claim,
//! a JSON string `"major.minor"`.

use core::fmt;
use core::str::FromStr;
use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A security-policy version. Ordered by `major`, then `minor`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PolicyVersion {
    /// Changes that invalidate existing sessions.
    pub major: u32,
    /// Changes that existing sessions adopt at their next refresh.
    pub minor: u32,
}

impl PolicyVersion {
    /// `major.minor`.
    #[must_use]
    pub const fn new(major: u32, minor: u32) -> Self {
        Self { major, minor }
    }
}

impl fmt::Display for PolicyVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// The current policy: a global version and optional per-tenant overrides, changeable at
/// runtime. The effective version for a tenant is the maximum of the levels, so an override
/// can only tighten.
#[derive(Debug, Default)]
pub struct PolicyRegistry {
    global: RwLock<PolicyVersion>,
    tenants: RwLock<HashMap<String, PolicyVersion>>,
}

impl PolicyRegistry {
    /// A registry at `global` with no overrides.
    #[must_use]
    pub fn new(global: PolicyVersion) -> Self {
        Self {
            global: RwLock::new(global),
            tenants: RwLock::default(),
        }
    }

    /// The global version.
    #[must_use]
    pub fn global(&self) -> PolicyVersion {
        *self.global.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Set the global version. Lowering it is allowed (a rollback) but never re-activates a
    /// family already revoked by a major bump.
    pub fn set_global(&self, v: PolicyVersion) {
        *self.global.write().unwrap_or_else(PoisonError::into_inner) = v;
    }

    /// Set (or with `None` remove) a tenant's override.
    pub fn set_tenant(&self, tenant: &str, v: Option<PolicyVersion>) {
        let mut t = self.tenants.write().unwrap_or_else(PoisonError::into_inner);
        match v {
            Some(v) => {
                t.insert(tenant.to_owned(), v);
            }
            None => {
                t.remove(tenant);
            }
        }
    }

    /// The effective version for `tenant`: the maximum of the global and the tenant's.
    #[must_use]
    pub fn effective(&self, tenant: Option<&str>) -> PolicyVersion {
        let global = self.global();
        match tenant {
            None => global,
            Some(t) => {
                let tenants = self.tenants.read().unwrap_or_else(PoisonError::into_inner);
                tenants.get(t).map_or(global, |&v| v.max(global))
            }
        }
    }
}

/// The text is not `major.minor` with two decimal `u32` parts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("policy version must be `major.minor`")]
pub struct ParsePolicyVersionError;

impl FromStr for PolicyVersion {
    type Err = ParsePolicyVersionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (major, minor) = s.split_once('.').ok_or(ParsePolicyVersionError)?;
        Ok(Self {
            major: parse_part(major)?,
            minor: parse_part(minor)?,
        })
    }
}

/// Strict decimal: digits only, no sign, no leading zeros (except `0` itself), fits `u32`.
fn parse_part(s: &str) -> Result<u32, ParsePolicyVersionError> {
    let bytes = s.as_bytes();
    let ok_shape = !bytes.is_empty()
        && bytes.iter().all(u8::is_ascii_digit)
        && !(bytes.len() > 1 && bytes.first() == Some(&b'0'));
    if !ok_shape {
        return Err(ParsePolicyVersionError);
    }
    s.parse().map_err(|_| ParsePolicyVersionError)
}

impl Serialize for PolicyVersion {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PolicyVersion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = crate::jose::CowStr::deserialize(d)?;
        s.0.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_by_major_then_minor() {
        assert!(PolicyVersion::new(1, 9) < PolicyVersion::new(2, 0));
        assert!(PolicyVersion::new(2, 0) < PolicyVersion::new(2, 1));
    }

    #[test]
    fn parses_strictly() {
        assert_eq!("4.2".parse(), Ok(PolicyVersion::new(4, 2)));
        assert_eq!("0.0".parse(), Ok(PolicyVersion::new(0, 0)));
        for bad in [
            "",
            "4",
            "4.",
            ".2",
            "04.2",
            "4.2.1",
            "-1.0",
            "+1.0",
            "4.x",
            "99999999999.0",
        ] {
            assert!(bad.parse::<PolicyVersion>().is_err(), "{bad}");
        }
    }

    #[test]
    fn effective_version_is_the_maximum_of_the_levels() {
        let r = PolicyRegistry::new(PolicyVersion::new(4, 2));
        assert_eq!(r.effective(Some("acme")), PolicyVersion::new(4, 2));
        r.set_tenant("acme", Some(PolicyVersion::new(5, 0)));
        r.set_tenant("lax", Some(PolicyVersion::new(3, 9)));
        assert_eq!(r.effective(Some("acme")), PolicyVersion::new(5, 0));
        assert_eq!(r.effective(Some("lax")), PolicyVersion::new(4, 2));
        assert_eq!(r.effective(None), PolicyVersion::new(4, 2));
        r.set_global(PolicyVersion::new(6, 1));
        assert_eq!(r.effective(Some("acme")), PolicyVersion::new(6, 1));
        r.set_tenant("acme", None);
        assert_eq!(r.effective(Some("acme")), PolicyVersion::new(6, 1));
    }

    #[test]
    fn json_is_a_string() {
        let v = PolicyVersion::new(4, 2);
        assert_eq!(serde_json::to_string(&v).unwrap(), r#""4.2""#);
        assert_eq!(
            serde_json::from_str::<PolicyVersion>(r#""4.2""#).unwrap(),
            v
        );
        assert!(serde_json::from_str::<PolicyVersion>("4.2").is_err());
    }
}
