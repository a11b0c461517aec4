//! Request fields that are strings with a meaning (an email address, a password): their
//! schema documents the constraints, and they are parsed into a type once, at the edge.

use poem_openapi::registry::MetaSchema;

/// A string field: its schema, and how a raw value becomes one (or why it cannot).
pub trait StringField: Sized + Send + Sync {
    fn schema() -> MetaSchema;
    fn from_field(raw: String) -> Result<Self, String>;
    fn as_field(&self) -> &str;
}

/// Text from a request: a JSON string (poem-openapi's `String` would also take `123` or
/// `true`) of at most `MAX` and at least `MIN` characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text<const MAX: usize, const MIN: usize = 0>(String);

impl<const MAX: usize, const MIN: usize> Text<MAX, MIN> {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl<const MAX: usize, const MIN: usize> std::ops::Deref for Text<MAX, MIN> {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl<const MAX: usize, const MIN: usize> StringField for Text<MAX, MIN> {
    fn schema() -> MetaSchema {
        MetaSchema {
            max_length: Some(MAX),
            min_length: (MIN > 0).then_some(MIN),
            ..MetaSchema::new("string")
        }
    }

    fn from_field(raw: String) -> Result<Self, String> {
        match raw.chars().count() {
            n if n > MAX => Err(format!("at most {MAX} characters")),
            n if n < MIN => Err(format!("at least {MIN} characters")),
            _ => Ok(Self(raw)),
        }
    }

    fn as_field(&self) -> &str {
        &self.0
    }
}

crate::string_field!(impl[const MAX: usize, const MIN: usize] Text<MAX, MIN>);

/// Implements poem-openapi's `Type`, `ParseFromJSON` and `ToJSON` for a [`StringField`]
/// (generic parameters, if any, in brackets after `impl`).
#[macro_export]
macro_rules! string_field {
    ($ty:ty) => {
        $crate::string_field!(impl[] $ty);
    };
    (impl[$($generics:tt)*] $ty:ty) => {
        impl<$($generics)*> poem_openapi::types::Type for $ty {
            const IS_REQUIRED: bool = true;
            type RawValueType = Self;
            type RawElementValueType = Self;

            fn name() -> std::borrow::Cow<'static, str> {
                "string".into()
            }

            fn schema_ref() -> poem_openapi::registry::MetaSchemaRef {
                poem_openapi::registry::MetaSchemaRef::Inline(Box::new(
                    <$ty as $crate::http::string_field::StringField>::schema(),
                ))
            }

            fn as_raw_value(&self) -> Option<&Self::RawValueType> {
                Some(self)
            }

            fn raw_element_iter<'a>(
                &'a self,
            ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
                Box::new(self.as_raw_value().into_iter())
            }
        }

        impl<$($generics)*> poem_openapi::types::ParseFromJSON for $ty {
            fn parse_from_json(
                value: Option<serde_json::Value>,
            ) -> poem_openapi::types::ParseResult<Self> {
                match value.unwrap_or_default() {
                    serde_json::Value::String(raw) => {
                        <$ty as $crate::http::string_field::StringField>::from_field(raw)
                            .map_err(poem_openapi::types::ParseError::custom)
                    }
                    other => Err(poem_openapi::types::ParseError::expected_type(other)),
                }
            }
        }

        impl<$($generics)*> poem_openapi::types::ToJSON for $ty {
            fn to_json(&self) -> Option<serde_json::Value> {
                let field = <$ty as $crate::http::string_field::StringField>::as_field(self);
                Some(serde_json::Value::String(field.to_owned()))
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use poem_openapi::types::ParseFromJSON;
    use serde_json::json;

    use super::Text;

    #[test]
    fn only_json_strings_within_bounds_are_text() {
        type Name = Text<4, 1>;
        assert_eq!(
            Name::parse_from_json(Some(json!("Ada"))).unwrap().as_str(),
            "Ada"
        );
        assert!(
            Name::parse_from_json(Some(json!("éééé"))).is_ok(),
            "characters, not bytes"
        );
        for refused in [
            json!(123),
            json!(true),
            json!(null),
            json!(""),
            json!("Grace"),
        ] {
            assert!(
                Name::parse_from_json(Some(refused.clone())).is_err(),
                "{refused}"
            );
        }
    }
}
