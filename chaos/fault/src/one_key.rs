//! The YAML shape of our enums: a single-key map (`{ fixed: 2s }`) or, for variants without
//! parameters, a plain string (`reset`).
//!
//! Hand-written because serde_yaml 0.9 (and its fork) reads derived enums only from YAML tags
//! (`!fixed 2s`), and the map shape is what users of Envoy, Toxiproxy and Chaos Mesh write.

use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserializer, Serialize, Serializer};
use std::fmt;
use std::marker::PhantomData;

/// An enum written as a one-key map.
pub(crate) trait OneKey: Sized {
    /// What the value is, for messages.
    const WHAT: &'static str;
    /// The keys.
    const VARIANTS: &'static [&'static str];
    /// A variant written as a plain string, if any.
    fn from_name(_name: &str) -> Option<Self> {
        None
    }
    /// Reads the value of `key` (one of `VARIANTS`).
    fn from_entry<'de, A: MapAccess<'de>>(key: &str, map: &mut A) -> Result<Self, A::Error>;
}

/// Serializes `{ key: value }`.
pub(crate) fn serialize_one<S: Serializer, V: Serialize + ?Sized>(
    s: S,
    key: &str,
    value: &V,
) -> Result<S::Ok, S::Error> {
    let mut map = s.serialize_map(Some(1))?;
    map.serialize_entry(key, value)?;
    map.end()
}

/// Deserializes a [`OneKey`] enum.
pub(crate) fn deserialize_one<'de, D: Deserializer<'de>, T: OneKey>(de: D) -> Result<T, D::Error> {
    de.deserialize_any(OneKeyVisitor(PhantomData))
}

struct OneKeyVisitor<T>(PhantomData<T>);

impl<'de, T: OneKey> Visitor<'de> for OneKeyVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}: a map with one key of {}", T::WHAT, T::VARIANTS.join(", "))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        T::from_name(v).ok_or_else(|| E::unknown_variant(v, T::VARIANTS))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
        let key: String = map.next_key()?.ok_or_else(|| de::Error::invalid_length(0, &self))?;
        if !T::VARIANTS.contains(&key.as_str()) {
            return Err(de::Error::unknown_variant(&key, T::VARIANTS));
        }
        let value = T::from_entry(&key, &mut map)?;
        if let Some(extra) = map.next_key::<String>()? {
            return Err(de::Error::custom(format_args!(
                "{} takes exactly one key, found `{key}` and `{extra}`",
                T::WHAT
            )));
        }
        Ok(value)
    }
}
