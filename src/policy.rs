//! Security-policy versions: `major.minor`, ordered, and the cache through which each engine
//! instance reads the versions shared in the store.
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

/// At most this many tenants' levels are cached per instance; past it the
/// cache starts over, so memory stays bounded whatever the number of tenants.
const MAX_CACHED_LEVELS: usize = 4096;

/// One instance's cached view of the shared security-policy versions. The versions live in the
/// store (so a bump made on one instance reaches all of them); this cache keeps each level's
/// stored value with the time it was read, and a value older than `max_age` seconds is read
/// again. Pure: the caller passes the time and does the reading.
#[derive(Debug)]
pub(crate) struct PolicyCache {
    floor: PolicyVersion,
    max_age: i64,
    levels: RwLock<Levels>,
}

/// The global level and the tenants' (looked up by `&str`, without allocating).
#[derive(Debug, Default)]
struct Levels {
    global: Option<Level>,
    tenants: HashMap<String, Level>,
}

/// A level's stored version (`None`: nothing stored) and when it was read.
type Level = (Option<PolicyVersion>, i64);

impl PolicyCache {
    /// A cache whose effective versions never go below `floor`, re-reading values older than
    /// `max_age` seconds (0: read on every use).
    pub(crate) fn new(floor: PolicyVersion, max_age: i64) -> Self {
        Self {
            floor,
            max_age,
            levels: RwLock::default(),
        }
    }

    /// The cached stored version of a level, if it was read less than `max_age` ago (a read
    /// stamped in the future, after the clock stepped back, counts as stale).
    pub(crate) fn fresh(&self, tenant: Option<&str>, now: i64) -> Option<Option<PolicyVersion>> {
        let levels = self.levels.read().unwrap_or_else(PoisonError::into_inner);
        let level = match tenant {
            None => levels.global.as_ref()?,
            Some(t) => levels.tenants.get(t)?,
        };
        self.if_fresh(level, now)
    }

    /// A level's version if it was read less than `max_age` before `now` (and not after it).
    fn if_fresh(&self, &(version, read_at): &Level, now: i64) -> Option<Option<PolicyVersion>> {
        (read_at <= now && now - read_at < self.max_age).then_some(version)
    }

    /// The cached global level and `tenant`'s (`None` for no tenant), under one lock, if both
    /// are fresh (as [`PolicyCache::fresh`] has it): the common case, one lock instead of two.
    pub(crate) fn fresh_pair(
        &self,
        tenant: Option<&str>,
        now: i64,
    ) -> Option<(Option<PolicyVersion>, Option<PolicyVersion>)> {
        let levels = self.levels.read().unwrap_or_else(PoisonError::into_inner);
        let global = self.if_fresh(levels.global.as_ref()?, now)?;
        let own = match tenant {
            None => None,
            Some(t) => self.if_fresh(levels.tenants.get(t)?, now)?,
        };
        Some((global, own))
    }

    /// Remember what the store holds for a level, read (or written) at `now`.
    pub(crate) fn put(&self, tenant: Option<&str>, version: Option<PolicyVersion>, now: i64) {
        let mut levels = self.levels.write().unwrap_or_else(PoisonError::into_inner);
        match tenant {
            None => levels.global = Some((version, now)),
            Some(t) => {
                let tenants = &mut levels.tenants;
                if tenants.len() >= MAX_CACHED_LEVELS && !tenants.contains_key(t) {
                    tenants.clear();
                }
                tenants.insert(t.to_owned(), (version, now));
            }
        }
    }

    /// The effective version from the stored global and tenant levels: the maximum of the
    /// floor and both, so a tenant override can only tighten.
    pub(crate) fn effective(
        &self,
        global: Option<PolicyVersion>,
        tenant: Option<PolicyVersion>,
    ) -> PolicyVersion {
        self.floor
            .max(global.unwrap_or_default())
            .max(tenant.unwrap_or_default())
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
        let c = PolicyCache::new(PolicyVersion::new(4, 2), 5);
        let v = PolicyVersion::new;
        assert_eq!(c.effective(None, None), v(4, 2));
        assert_eq!(c.effective(Some(v(3, 0)), None), v(4, 2), "the floor holds");
        assert_eq!(c.effective(Some(v(5, 0)), Some(v(3, 9))), v(5, 0));
        assert_eq!(c.effective(Some(v(5, 0)), Some(v(6, 1))), v(6, 1));
    }

    #[test]
    fn cached_levels_go_stale_after_max_age() {
        let c = PolicyCache::new(PolicyVersion::new(1, 0), 5);
        assert_eq!(c.fresh(None, 100), None, "nothing read yet");
        c.put(None, Some(PolicyVersion::new(2, 0)), 100);
        c.put(Some("acme"), None, 100);
        assert_eq!(c.fresh(None, 104), Some(Some(PolicyVersion::new(2, 0))));
        assert_eq!(c.fresh(Some("acme"), 104), Some(None));
        assert_eq!(c.fresh(Some("ACME"), 104), None, "tenants match exactly");
        assert_eq!(c.fresh(None, 105), None, "stale after max_age");
        assert_eq!(c.fresh(None, 99), None, "a clock stepped back reads again");
        let never = PolicyCache::new(PolicyVersion::new(1, 0), 0);
        never.put(None, None, 100);
        assert_eq!(never.fresh(None, 100), None, "max_age 0 reads every time");
    }

    #[test]
    fn a_fresh_pair_is_both_levels_fresh_or_nothing() {
        let c = PolicyCache::new(PolicyVersion::new(1, 0), 5);
        let v = PolicyVersion::new;
        assert_eq!(c.fresh_pair(None, 100), None, "nothing read yet");
        c.put(Some("acme"), Some(v(3, 0)), 100);
        assert_eq!(
            c.fresh_pair(Some("acme"), 100),
            None,
            "the global level unread"
        );
        c.put(None, Some(v(2, 0)), 102);
        assert_eq!(c.fresh_pair(None, 104), Some((Some(v(2, 0)), None)));
        assert_eq!(
            c.fresh_pair(Some("acme"), 104),
            Some((Some(v(2, 0)), Some(v(3, 0))))
        );
        assert_eq!(c.fresh_pair(Some("other"), 104), None, "a tenant unread");
        assert_eq!(c.fresh_pair(Some("acme"), 105), None, "the tenant stale");
        assert_eq!(c.fresh_pair(None, 105), Some((Some(v(2, 0)), None)));
        assert_eq!(c.fresh_pair(None, 107), None, "the global level stale");
        assert_eq!(c.fresh_pair(None, 101), None, "a clock stepped back");
        // Whenever it answers, it answers what the two single lookups do.
        for now in 95..110 {
            for t in [None, Some("acme"), Some("other")] {
                if let Some((g, own)) = c.fresh_pair(t, now) {
                    assert_eq!(Some(g), c.fresh(None, now));
                    assert_eq!(own, t.and_then(|t| c.fresh(Some(t), now).flatten()));
                }
            }
        }
    }

    #[test]
    fn the_cache_is_bounded() {
        let c = PolicyCache::new(PolicyVersion::new(1, 0), 60);
        for i in 0..(MAX_CACHED_LEVELS * 2) {
            c.put(Some(&format!("t{i}")), None, 0);
        }
        let len = c.levels.read().unwrap().tenants.len();
        assert!(len <= MAX_CACHED_LEVELS, "{len}");
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
