//! Ids in paths and bodies: `prefix_` + 32 hex digits. Anything else is refused at the edge
//! (400 `validation`) instead of being looked up.

use std::marker::PhantomData;

use poem_openapi::registry::MetaSchema;
use poem_openapi::types::{ParseError, ParseFromParameter, ParseResult};

use super::string_field::StringField;

/// What kind of id: its prefix, and its name in error messages.
pub trait IdKind: 'static {
    const PREFIX: &'static str;
    const NAME: &'static str;
}

pub struct PrefixedId<K>(String, PhantomData<fn() -> K>);

impl<K> PrefixedId<K> {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<K> std::fmt::Debug for PrefixedId<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl<K: IdKind> StringField for PrefixedId<K> {
    fn schema() -> MetaSchema {
        MetaSchema {
            pattern: Some(format!("^{}_[0-9a-f]{{32}}$", K::PREFIX)),
            ..MetaSchema::new("string")
        }
    }

    fn from_field(raw: String) -> Result<Self, String> {
        let valid = raw
            .strip_prefix(K::PREFIX)
            .and_then(|rest| rest.strip_prefix('_'))
            .is_some_and(|hex| {
                hex.len() == 32 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            });
        match valid {
            true => Ok(Self(raw, PhantomData)),
            false => Err(format!(
                "expected {} id starting with '{}_'",
                K::NAME,
                K::PREFIX
            )),
        }
    }

    fn as_field(&self) -> &str {
        &self.0
    }
}

crate::string_field!(impl[K: IdKind] PrefixedId<K>);

impl<K: IdKind> ParseFromParameter for PrefixedId<K> {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        Self::from_field(value.to_owned()).map_err(ParseError::custom)
    }
}
