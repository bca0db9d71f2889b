//! Borrowing JSON helpers shared by the header, claims and JWK parsers: a string that borrows
//! from the input when it can, a duplicate-key guard that stays off the heap for the usual
//! handful of keys, and [`deserialize_object`] for structs that must be JSON objects.

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

/// Implements `Deserialize` for `$ty` from a JSON object only, handing its members to
/// `$members`: a serde-derived function generated with `#[serde(remote = ...)]`, so the
/// struct keeps its derived member handling (renames, defaults, duplicate and unknown
/// members).
///
/// A derived `Deserialize` for a struct also accepts serde's sequence form, the members by
/// position (`["EC", null, "ES256", ...]` as a JWK, `["abc"]` as `cnf`). JOSE has no such form:
/// a JWK, a JWK Set and a `cnf` are JSON objects (RFC 7517 §4 and §5, RFC 7800 §3.1). Every
/// struct this crate parses from untrusted JSON goes through here or through a hand-written
/// visitor that only implements `visit_map`.
macro_rules! deserialize_object {
    ($ty:ty, $members:path) => {
        impl<'de> ::serde::Deserialize<'de> for $ty {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct Object;
                impl<'de> ::serde::de::Visitor<'de> for Object {
                    type Value = $ty;
                    fn expecting(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                        f.write_str("a JSON object")
                    }
                    fn visit_map<A: ::serde::de::MapAccess<'de>>(
                        self,
                        map: A,
                    ) -> Result<$ty, A::Error> {
                        $members(::serde::de::value::MapAccessDeserializer::new(map))
                    }
                }
                d.deserialize_map(Object)
            }
        }
    };
}
pub(crate) use deserialize_object;

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
