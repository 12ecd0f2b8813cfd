//! Arguments for a call, built from the tool's JSON schema so a page's
//! handler gets something it can parse and validate.
//!
//! For each property: its `examples[0]`, else its `default`; a property with
//! neither is left out unless it is `required`, then it gets a placeholder
//! for its type (`enum[0]`/`const` if given, else `""`, `0`, `false`, `[]`,
//! or for an object the object built from its own schema). A nested object
//! that is not required is still built, and kept when its own properties
//! produced something. Keys come out in alphabetical order (serde_json's
//! map without `preserve_order`). `$ref` is not followed.

use serde_json::{Map, Value};

/// How deep nested object schemas are followed: deeper than any real tool,
/// and it bounds the work a hostile schema can cause.
const MAX_SCHEMA_DEPTH: usize = 16;

/// The arguments for `parameters` (a JSON schema; anything else gives `{}`).
pub fn arguments_for(parameters: &Value) -> Value {
    Value::Object(object_for(parameters, 0))
}

/// The object a schema with `properties` describes.
fn object_for(schema: &Value, depth: usize) -> Map<String, Value> {
    let mut built = Map::new();
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return built;
    };
    if depth >= MAX_SCHEMA_DEPTH {
        return built;
    }
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|names| names.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for (name, property) in properties {
        let is_required = required.contains(&name.as_str());
        if let Some(value) = property_value(property, is_required, depth) {
            built.insert(name.clone(), value);
        }
    }
    built
}

fn property_value(property: &Value, is_required: bool, depth: usize) -> Option<Value> {
    let example = property
        .get("examples")
        .and_then(Value::as_array)
        .and_then(|examples| examples.first());
    if let Some(given) = example.or_else(|| property.get("default")) {
        return Some(given.clone());
    }
    if is_object_schema(property) {
        let nested = object_for(property, depth + 1);
        return (is_required || !nested.is_empty()).then_some(Value::Object(nested));
    }
    is_required.then(|| placeholder(property))
}

fn is_object_schema(property: &Value) -> bool {
    schema_type(property) == Some("object")
        || (schema_type(property).is_none() && property.get("properties").is_some())
}

/// The schema's type; of a type list (`["string", "null"]`), the first that
/// is not `null`.
fn schema_type(property: &Value) -> Option<&str> {
    match property.get("type")? {
        Value::String(name) => Some(name),
        Value::Array(names) => names
            .iter()
            .filter_map(Value::as_str)
            .find(|name| *name != "null"),
        _ => None,
    }
}

/// A value of the property's type that carries no information.
fn placeholder(property: &Value) -> Value {
    if let Some(first) = property
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|values| values.first())
    {
        return first.clone();
    }
    if let Some(constant) = property.get("const") {
        return constant.clone();
    }
    match schema_type(property) {
        Some("number" | "integer") => Value::from(0),
        Some("boolean") => Value::Bool(false),
        Some("array") => Value::Array(Vec::new()),
        Some("object") => Value::Object(Map::new()),
        Some("null") => Value::Null,
        _ => Value::String(String::new()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[track_caller]
    fn check(parameters: Value, expected: Value) {
        assert_eq!(arguments_for(&parameters), expected, "{parameters}");
    }

    #[test]
    fn examples_win_over_defaults() {
        check(
            json!({"type": "object", "properties": {
                "city": {"type": "string", "examples": ["上海", "北京"], "default": "广州"},
                "days": {"type": "integer", "default": 3},
                "unit": {"type": "string", "examples": [], "default": "c"},
            }}),
            json!({"city": "上海", "days": 3, "unit": "c"}),
        );
    }

    #[test]
    fn optional_properties_without_values_are_left_out() {
        check(
            json!({"type": "object", "properties": {"query": {"type": "string"}}}),
            json!({}),
        );
    }

    #[test]
    fn required_properties_get_a_placeholder_of_their_type() {
        check(
            json!({"type": "object",
            "required": ["s", "n", "i", "b", "a", "o", "e", "c", "nullable", "untyped", "missing"],
            "properties": {
                "s": {"type": "string"}, "n": {"type": "number"}, "i": {"type": "integer"},
                "b": {"type": "boolean"}, "a": {"type": "array", "items": {"type": "string"}},
                "o": {"type": "object"}, "e": {"type": "string", "enum": ["low", "high"]},
                "c": {"const": 7}, "nullable": {"type": ["null", "integer"]}, "untyped": {},
                "optional": {"type": "string"},
            }}),
            json!({"s": "", "n": 0, "i": 0, "b": false, "a": [], "o": {}, "e": "low",
                "c": 7, "nullable": 0, "untyped": ""}),
        );
    }

    #[test]
    fn nested_objects_recurse() {
        check(
            json!({"type": "object", "required": ["range"], "properties": {
                "range": {"type": "object", "required": ["from"], "properties": {
                    "from": {"type": "string", "format": "date"},
                    "to": {"type": "string", "examples": ["2025-12-31"]},
                    "step": {"type": "integer"},
                }},
                "filter": {"type": "object", "properties": {
                    "dept": {"type": "string", "default": "研发"},
                }},
                "empty_optional": {"type": "object", "properties": {"x": {"type": "string"}}},
                "given": {"type": "object", "default": {"k": 1}, "properties": {"k": {"type": "integer"}}},
            }}),
            json!({"range": {"from": "", "to": "2025-12-31"}, "filter": {"dept": "研发"},
                "given": {"k": 1}}),
        );
    }

    #[test]
    fn schemas_without_properties_give_an_empty_object() {
        check(Value::Null, json!({}));
        check(json!({"type": "object"}), json!({}));
        check(json!("not a schema"), json!({}));
        check(json!({"properties": ["not", "a", "map"]}), json!({}));
    }

    #[test]
    fn deep_schemas_stop_at_the_depth_limit() {
        let mut schema =
            json!({"type": "object", "properties": {"leaf": {"type": "string", "default": "x"}}});
        for _ in 0..40 {
            schema =
                json!({"type": "object", "required": ["inner"], "properties": {"inner": schema}});
        }
        let built = arguments_for(&schema);
        let mut depth = 0;
        let mut level = &built;
        while let Some(inner) = level.get("inner") {
            depth += 1;
            level = inner;
        }
        assert_eq!(depth, MAX_SCHEMA_DEPTH);
        assert!(level.get("leaf").is_none());
    }
}
