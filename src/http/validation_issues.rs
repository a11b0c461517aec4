//! Which fields of a refused request body are wrong, as the Node API's zod errors list them
//! (`issues: [{path, message, code}]`), so a form can mark each one. The framework only says
//! that parsing failed; the body is checked again here against the operation's schema in the
//! OpenAPI document (the same constraints, by construction), on the error path only.

use poem_openapi::Object;
use serde_json::{Map, Value};

/// One thing wrong with a request, zod-style.
#[derive(Debug, Clone, PartialEq, Object)]
pub struct ValidationIssue {
    /// Where: property names and array indexes from the body's root (or the parameter's name).
    pub path: Vec<Value>,
    pub message: String,
    /// `invalid_type`, `too_small`, `too_big`, `invalid_format`, `invalid_value`,
    /// `invalid_union` or `custom`.
    pub code: String,
}

impl ValidationIssue {
    pub fn new(path: Vec<Value>, code: &str, message: impl Into<String>) -> Self {
        Self {
            path,
            message: message.into(),
            code: code.to_owned(),
        }
    }
}

/// The issues of `body` against `schema`, whose `$ref`s point into `components`.
pub fn body_issues(
    schema: &Value,
    components: &Map<String, Value>,
    body: &[u8],
) -> Vec<ValidationIssue> {
    match serde_json::from_slice::<Value>(body) {
        Ok(value) => {
            let mut checker = Checker {
                components,
                issues: Vec::new(),
            };
            checker.check(schema, Some(&value), &mut Vec::new());
            checker.issues
        }
        Err(_) => vec![ValidationIssue::new(
            Vec::new(),
            "invalid_type",
            "body must be valid JSON",
        )],
    }
}

struct Checker<'a> {
    components: &'a Map<String, Value>,
    issues: Vec<ValidationIssue>,
}

impl Checker<'_> {
    fn issue(&mut self, path: &[Value], code: &str, message: String) {
        self.issues
            .push(ValidationIssue::new(path.to_vec(), code, message));
    }

    /// Checks `value` (`None`: absent) against `schema` at `path`.
    fn check(&mut self, schema: &Value, value: Option<&Value>, path: &mut Vec<Value>) {
        let schema = resolve(self.components, schema);
        let expected = schema["type"].as_str().unwrap_or("value");
        let Some(value) = value else {
            let message = format!("Invalid input: expected {expected}, received undefined");
            return self.issue(path, "invalid_type", message);
        };
        if value.is_null() && schema["nullable"] == true {
            return;
        }
        if let Some(all) = schema["allOf"].as_array() {
            return all
                .iter()
                .for_each(|part| self.check(part, Some(value), path));
        }
        if let Some(any) = schema["anyOf"].as_array().or(schema["oneOf"].as_array()) {
            let fits = |part: &Value| {
                let mut alone = Checker {
                    components: self.components,
                    issues: Vec::new(),
                };
                alone.check(part, Some(value), &mut Vec::new());
                alone.issues.is_empty()
            };
            if !any.iter().any(fits) {
                self.issue(path, "invalid_union", "Invalid input".to_owned());
            }
            return;
        }
        if !has_type(value, expected) {
            let message = format!(
                "Invalid input: expected {expected}, received {}",
                type_name(value)
            );
            return self.issue(path, "invalid_type", message);
        }
        match value {
            Value::Object(object) => self.check_object(schema, object, path),
            Value::Array(items) => self.check_array(schema, items, path),
            Value::String(text) => self.check_string(schema, text, path),
            Value::Number(number) => self.check_number(schema, number.as_f64(), path),
            _ => {}
        }
        if let Some(allowed) = schema["enum"].as_array()
            && !allowed.contains(value)
        {
            let message = format!(
                "Invalid option: expected one of {}",
                Value::from(allowed.clone())
            );
            self.issue(path, "invalid_value", message);
        }
    }

    fn check_object(&mut self, schema: &Value, object: &Map<String, Value>, path: &mut Vec<Value>) {
        let empty = Map::new();
        let properties = schema["properties"].as_object().unwrap_or(&empty);
        let required: Vec<&str> = schema["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        for (name, property) in properties {
            let present = object.get(name);
            if present.is_none() && !required.contains(&name.as_str()) {
                continue;
            }
            path.push(Value::from(name.as_str()));
            self.check(property, present, path);
            path.pop();
        }
    }

    fn check_array(&mut self, schema: &Value, items: &[Value], path: &mut Vec<Value>) {
        self.check_size(schema, "Items", "items", items.len(), path);
        for (index, item) in items.iter().enumerate() {
            path.push(Value::from(index));
            self.check(&schema["items"], Some(item), path);
            path.pop();
        }
    }

    fn check_string(&mut self, schema: &Value, text: &str, path: &[Value]) {
        self.check_size(schema, "Length", "characters", text.chars().count(), path);
        if let Some(pattern) = schema["pattern"].as_str()
            && regex::Regex::new(pattern).is_ok_and(|pattern| !pattern.is_match(text))
        {
            let format = schema["format"].as_str().unwrap_or("string");
            let message = format!("Invalid {format}: must match pattern {pattern}");
            self.issue(path, "invalid_format", message);
        }
    }

    /// `min{Items,Length}` / `max{Items,Length}` against `size`.
    fn check_size(&mut self, schema: &Value, bound: &str, unit: &str, size: usize, path: &[Value]) {
        let limit = |key: String| schema[key].as_u64().and_then(|n| usize::try_from(n).ok());
        if let Some(min) = limit(format!("min{bound}"))
            && size < min
        {
            let message = format!("Too small: expected at least {min} {unit}");
            self.issue(path, "too_small", message);
        }
        if let Some(max) = limit(format!("max{bound}"))
            && size > max
        {
            let message = format!("Too big: expected at most {max} {unit}");
            self.issue(path, "too_big", message);
        }
    }

    fn check_number(&mut self, schema: &Value, number: Option<f64>, path: &[Value]) {
        let Some(number) = number else { return };
        if let Some(min) = schema["minimum"].as_f64()
            && number < min
        {
            self.issue(
                path,
                "too_small",
                format!("Too small: expected number to be >={min}"),
            );
        }
        if let Some(max) = schema["maximum"].as_f64()
            && number > max
        {
            self.issue(
                path,
                "too_big",
                format!("Too big: expected number to be <={max}"),
            );
        }
    }
}

/// `schema`, or the component its `$ref` names.
fn resolve<'s>(components: &'s Map<String, Value>, schema: &'s Value) -> &'s Value {
    match schema["$ref"].as_str() {
        Some(reference) => reference
            .strip_prefix("#/components/schemas/")
            .and_then(|name| components.get(name))
            .unwrap_or(&Value::Null),
        None => schema,
    }
}

fn has_type(value: &Value, expected: &str) -> bool {
    match expected {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        _ => true,
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn issues(body: Value) -> Vec<(Value, String)> {
        let components = json!({
            "Invite": {
                "type": "object",
                "required": ["email"],
                "properties": {
                    "email": {"type": "string", "maxLength": 254, "pattern": "^[^@]+@[^@]+$"},
                    "roleId": {"type": "string", "nullable": true}
                }
            }
        });
        let schema = json!({
            "type": "object",
            "required": ["name", "invites"],
            "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 4},
                "count": {"type": "integer", "maximum": 20},
                "invites": {"type": "array", "maxItems": 2, "items": {"$ref": "#/components/schemas/Invite"}}
            }
        });
        let body = serde_json::to_vec(&body).unwrap();
        let mut found: Vec<_> = body_issues(&schema, components.as_object().unwrap(), &body)
            .into_iter()
            .map(|issue| (Value::from(issue.path), issue.code))
            .collect();
        found.sort_by_key(|(path, _)| path.to_string());
        found
    }

    #[test]
    fn names_each_wrong_field_by_its_path() {
        assert_eq!(
            issues(json!({"name": "", "count": 21, "invites": [{"email": "x"}, {"roleId": null}]})),
            [
                (json!(["count"]), "too_big".to_owned()),
                (json!(["invites", 0, "email"]), "invalid_format".to_owned()),
                (json!(["invites", 1, "email"]), "invalid_type".to_owned()),
                (json!(["name"]), "too_small".to_owned()),
            ]
        );
        assert_eq!(
            issues(json!({"name": 3})),
            [
                (json!(["invites"]), "invalid_type".to_owned()),
                (json!(["name"]), "invalid_type".to_owned()),
            ]
        );
        assert!(issues(json!({"name": "ok", "invites": []})).is_empty());
    }
}
