//! DRF-style reading of request bodies and the field-error shape (api-v1 §2.2, §2.8).
//!
//! Bodies arrive as JSON, form-urlencoded or multipart; the server turns all three into
//! one JSON object, and [`Fields`] reads it leniently as DRF serializers do: integers and
//! booleans may come as strings, strings may come as numbers, unknown keys are ignored.
//! Every problem is collected in [`FieldErrors`], so that all failures are reported
//! together as `{"field": ["message", ...]}`.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

pub const REQUIRED: &str = "This field is required.";
pub const BLANK: &str = "This field may not be blank.";
pub const NULL: &str = "This field may not be null.";
pub const NOT_STRING: &str = "Not a valid string.";
pub const NOT_INT: &str = "A valid integer is required.";
pub const NOT_BOOL: &str = "Must be a valid boolean.";

/// `{"field": ["message", ...]}` with `non_field_errors` for object-level problems.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct FieldErrors(pub BTreeMap<String, Vec<String>>);

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }

    /// One error on one field.
    pub fn single(field: &str, msg: impl Into<String>) -> Self {
        let mut e = Self::new();
        e.add(field, msg);
        e
    }

    /// One object-level error.
    pub fn non_field(msg: impl Into<String>) -> Self {
        Self::single("non_field_errors", msg)
    }

    pub fn add(&mut self, field: &str, msg: impl Into<String>) {
        self.0
            .entry(field.to_string())
            .or_default()
            .push(msg.into());
    }

    pub fn has(&self, field: &str) -> bool {
        self.0.contains_key(field)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(())` when empty, else `Err(self)`.
    pub fn into_result(self) -> Result<(), FieldErrors> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }
}

/// A lenient reader over a request object that records every problem.
#[derive(Debug)]
pub struct Fields<'a> {
    map: &'a Map<String, Value>,
    pub errors: FieldErrors,
}

impl<'a> Fields<'a> {
    pub fn new(map: &'a Map<String, Value>) -> Self {
        Fields {
            map,
            errors: FieldErrors::new(),
        }
    }

    /// Whether the key was sent at all.
    pub fn has(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    /// The sent keys.
    pub fn keys(&self) -> impl Iterator<Item = &'a String> {
        self.map.keys()
    }

    /// A string field (DRF `CharField`: trimmed, numbers accepted). `None` when absent,
    /// or when invalid (the error is recorded). Blank strings are errors unless
    /// `allow_blank`.
    pub fn string(&mut self, name: &str, allow_blank: bool) -> Option<String> {
        let v = self.map.get(name)?;
        let s = match v {
            Value::String(s) => s.trim().to_string(),
            Value::Number(n) => n.to_string(),
            Value::Null => {
                self.errors.add(name, NULL);
                return None;
            }
            _ => {
                self.errors.add(name, NOT_STRING);
                return None;
            }
        };
        if s.is_empty() && !allow_blank {
            self.errors.add(name, BLANK);
            return None;
        }
        Some(s)
    }

    /// Like [`Fields::string`] but records "This field is required." when absent.
    pub fn required_string(&mut self, name: &str, allow_blank: bool) -> Option<String> {
        if !self.has(name) {
            self.errors.add(name, REQUIRED);
            return None;
        }
        self.string(name, allow_blank)
    }

    /// A password-like string: not trimmed (DRF's password fields keep whitespace
    /// significant in our implementation), blank rejected.
    pub fn required_secret(&mut self, name: &str) -> Option<String> {
        match self.map.get(name) {
            None => {
                self.errors.add(name, REQUIRED);
                None
            }
            Some(Value::String(s)) if s.is_empty() => {
                self.errors.add(name, BLANK);
                None
            }
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(Value::Null) => {
                self.errors.add(name, NULL);
                None
            }
            Some(_) => {
                self.errors.add(name, NOT_STRING);
                None
            }
        }
    }

    /// A boolean: JSON booleans, and `true/false/True/False/1/0` as strings or numbers.
    pub fn bool(&mut self, name: &str) -> Option<bool> {
        let v = self.map.get(name)?;
        match parse_bool(v) {
            Some(b) => Some(b),
            None => {
                self.errors.add(name, NOT_BOOL);
                None
            }
        }
    }

    /// An integer: JSON integers or numeric strings. `null` is accepted as `Some(None)`
    /// only when `nullable`.
    pub fn int(&mut self, name: &str, nullable: bool) -> Option<Option<i64>> {
        let v = self.map.get(name)?;
        if v.is_null() || (nullable && v.as_str() == Some("")) {
            if nullable {
                return Some(None);
            }
            self.errors.add(name, NULL);
            return None;
        }
        match parse_int(v) {
            Some(i) => Some(Some(i)),
            None => {
                self.errors.add(name, NOT_INT);
                None
            }
        }
    }

    /// A list of strings (a JSON array, or one string from a form body).
    pub fn string_list(&mut self, name: &str) -> Option<Vec<String>> {
        let v = self.map.get(name)?;
        match v {
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for it in items {
                    match it {
                        Value::String(s) => out.push(s.clone()),
                        Value::Number(n) => out.push(n.to_string()),
                        _ => {
                            self.errors.add(name, NOT_STRING);
                            return None;
                        }
                    }
                }
                Some(out)
            }
            Value::String(s) => Some(vec![s.clone()]),
            other => {
                self.errors.add(
                    name,
                    format!(
                        "Expected a list of items but got type \"{}\".",
                        type_name(other)
                    ),
                );
                None
            }
        }
    }

    /// The raw value.
    pub fn raw(&self, name: &str) -> Option<&'a Value> {
        self.map.get(name)
    }

    /// Finishes reading: the collected errors, if any.
    pub fn finish(self) -> Result<(), FieldErrors> {
        self.errors.into_result()
    }
}

/// DRF's boolean parsing.
pub fn parse_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_i64() {
            Some(1) => Some(true),
            Some(0) => Some(false),
            _ => None,
        },
        Value::String(s) => match s.as_str() {
            "true" | "True" | "TRUE" | "1" | "on" | "yes" => Some(true),
            "false" | "False" | "FALSE" | "0" | "off" | "no" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// DRF's integer parsing: integers, integral floats and numeric strings.
pub fn parse_int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| f as i64)
        }),
        Value::String(s) => {
            let t = s.trim();
            t.parse::<i64>().ok().or_else(|| {
                t.parse::<f64>()
                    .ok()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                    .map(|f| f as i64)
            })
        }
        _ => None,
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lenient_reading_and_errors() {
        let body =
            json!({"a": " x ", "b": "", "c": "12", "d": "True", "e": null, "f": {"x": 1}, "g": 3});
        let map = body.as_object().unwrap();
        let mut f = Fields::new(map);
        assert_eq!(f.string("a", false).as_deref(), Some("x"));
        assert_eq!(f.string("b", false), None);
        assert_eq!(f.int("c", false), Some(Some(12)));
        assert_eq!(f.bool("d"), Some(true));
        assert_eq!(f.int("e", true), Some(None));
        assert_eq!(f.string("f", true), None);
        assert_eq!(f.string("g", true).as_deref(), Some("3"));
        assert_eq!(f.required_string("missing", true), None);
        let errs = f.finish().unwrap_err();
        assert_eq!(
            serde_json::to_value(&errs).unwrap(),
            json!({"b": [BLANK], "f": [NOT_STRING], "missing": [REQUIRED]})
        );
    }

    #[test]
    fn bools_and_ints() {
        assert_eq!(parse_bool(&json!("0")), Some(false));
        assert_eq!(parse_bool(&json!(2)), None);
        assert_eq!(parse_int(&json!("7")), Some(7));
        assert_eq!(parse_int(&json!(7.0)), Some(7));
        assert_eq!(parse_int(&json!(7.5)), None);
        assert_eq!(parse_int(&json!("x")), None);
    }
}
