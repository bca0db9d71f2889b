//! Borrowing JSON helpers shared by the header, claims and JWK parsers: a string that borrows
//! from the input when it can, and a duplicate-key guard that stays off the heap for the usual
//! handful of keys.

use std::borrow::Cow;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// A JSON string borrowed from the input when it has no escapes, owned otherwise.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct CowStr<'a>(pub(crate) Cow<'a, str>);

impl<'de> Deserialize<'de> for CowStr<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CowStr<'de>;
            fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

impl Serialize for CowStr<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// Remembers the keys of one JSON object and reports the second sighting of any of them.
///
/// The first eight borrowed keys live inline; more (or escaped, owned keys) spill to a
/// vector. Inputs are bounded by the token length limit, so the quadratic scan is bounded too.
pub(crate) struct DupGuard<'de> {
    inline: [&'de str; 8],
    len: usize,
    spill: Vec<Cow<'de, str>>,
}

impl<'de> DupGuard<'de> {
    pub(crate) fn new() -> Self {
        Self {
            inline: [""; 8],
            len: 0,
            spill: Vec::new(),
        }
    }

    /// Record `key`; `false` if it was seen before.
    #[allow(clippy::ptr_arg)] // needs to know borrowed from owned
    pub(crate) fn insert(&mut self, key: &Cow<'de, str>) -> bool {
        let k: &str = key;
        let seen_inline = self.inline.get(..self.len).unwrap_or_default().contains(&k);
        if seen_inline || self.spill.iter().any(|s| s == k) {
            return false;
        }
        match key {
            Cow::Borrowed(b) if self.len < self.inline.len() => {
                if let Some(slot) = self.inline.get_mut(self.len) {
                    *slot = b;
                    self.len += 1;
                }
            }
            _ => self.spill.push(key.clone()),
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cow_str_borrows_unless_escaped() {
        let s: CowStr<'_> = serde_json::from_str(r#""plain""#).unwrap();
        assert!(matches!(s.0, Cow::Borrowed("plain")));
        let s: CowStr<'_> = serde_json::from_str(r#""a\u0062c""#).unwrap();
        assert!(matches!(s.0, Cow::Owned(ref o) if o == "abc"));
        assert!(serde_json::from_str::<CowStr<'_>>("1").is_err());
    }

    #[test]
    fn dup_guard_sees_duplicates_inline_spilled_and_owned() {
        let mut g = DupGuard::new();
        let names: Vec<String> = (0..20).map(|i| format!("k{i}")).collect();
        for n in &names {
            assert!(g.insert(&Cow::Borrowed(n.as_str())));
        }
        for n in &names {
            assert!(!g.insert(&Cow::Borrowed(n.as_str())));
            assert!(!g.insert(&Cow::Owned(n.clone())));
        }
        assert!(g.insert(&Cow::Owned("fresh".to_owned())));
        assert!(!g.insert(&Cow::Borrowed("fresh")));
    }
}
