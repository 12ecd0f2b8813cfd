//! Deserialising a JSON value while tracking the field path.
//!
//! serde_json and toml report a line and column but not which field failed; an operator editing
//! a `[vars]` table wants `tiers.staff.rpm`. Both syntaxes are first read into a
//! `serde_json::Value`, then deserialised through this small deserializer that prefixes every
//! error with the path of the key or index it came from.

use std::fmt;

use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};
use serde_json::Value;

use super::errors::{quote_key, ConfigError};

pub(super) fn from_value_with_path<T: DeserializeOwned>(
    value: &Value,
    prefix: &str,
) -> Result<T, ConfigError> {
    T::deserialize(ValueDeserializer { value }).map_err(|error| {
        let mut path = prefix.to_string();
        for segment in error.path.iter().rev() {
            match segment {
                PathSegment::Key(key) => {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(&quote_key(key));
                }
                PathSegment::Index(index) => path.push_str(&format!("[{index}]")),
            }
        }
        ConfigError::single(path, error.message)
    })
}

enum PathSegment {
    Key(String),
    Index(usize),
}

/// A deserialisation error with the path collected innermost-first as it bubbles up.
struct PathError {
    path: Vec<PathSegment>,
    message: String,
}

impl PathError {
    fn within(mut self, segment: PathSegment) -> PathError {
        self.path.push(segment);
        self
    }
}

impl fmt::Debug for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for PathError {}

impl de::Error for PathError {
    fn custom<T: fmt::Display>(message: T) -> PathError {
        PathError {
            path: Vec::new(),
            message: message.to_string(),
        }
    }
}

struct ValueDeserializer<'a> {
    value: &'a Value,
}

impl<'de> de::Deserializer<'de> for ValueDeserializer<'de> {
    type Error = PathError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        match self.value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(value) => visitor.visit_bool(*value),
            Value::Number(number) => {
                if let Some(value) = number.as_u64() {
                    visitor.visit_u64(value)
                } else if let Some(value) = number.as_i64() {
                    visitor.visit_i64(value)
                } else {
                    visitor.visit_f64(number.as_f64().unwrap_or(f64::NAN))
                }
            }
            Value::String(text) => visitor.visit_borrowed_str(text),
            Value::Array(items) => visitor.visit_seq(SeqWithPath {
                items: items.iter().enumerate(),
            }),
            Value::Object(map) => visitor.visit_map(MapWithPath {
                entries: map.iter(),
                pending: None,
            }),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        match self.value {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, PathError> {
        match self.value {
            Value::String(text) => visitor.visit_enum(text.as_str().into_deserializer()),
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, PathError> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

struct SeqWithPath<'a> {
    items: std::iter::Enumerate<std::slice::Iter<'a, Value>>,
}

impl<'de> de::SeqAccess<'de> for SeqWithPath<'de> {
    type Error = PathError;

    fn next_element_seed<T: de::DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, PathError> {
        match self.items.next() {
            None => Ok(None),
            Some((index, value)) => seed
                .deserialize(ValueDeserializer { value })
                .map(Some)
                .map_err(|error| error.within(PathSegment::Index(index))),
        }
    }
}

struct MapWithPath<'a> {
    entries: serde_json::map::Iter<'a>,
    pending: Option<(&'a String, &'a Value)>,
}

impl<'de> de::MapAccess<'de> for MapWithPath<'de> {
    type Error = PathError;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, PathError> {
        match self.entries.next() {
            None => Ok(None),
            Some((key, value)) => {
                self.pending = Some((key, value));
                let key_deserializer: de::value::BorrowedStrDeserializer<'de, PathError> =
                    de::value::BorrowedStrDeserializer::new(key);
                seed.deserialize(key_deserializer)
                    .map(Some)
                    .map_err(|error| error.within(PathSegment::Key(key.clone())))
            }
        }
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, PathError> {
        match self.pending.take() {
            Some((key, value)) => seed
                .deserialize(ValueDeserializer { value })
                .map_err(|error| error.within(PathSegment::Key(key.clone()))),
            None => Err(de::Error::custom("value requested before its key")),
        }
    }
}
