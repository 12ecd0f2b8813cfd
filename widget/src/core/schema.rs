//! JSON Schema checks of a tool call's arguments, before the host page's handler sees them.
//!
//! The model writes the arguments, so they are hostile until checked: a handler that submits a
//! leave request must never get a string where it expects a date list. The subset covered is
//! what tool schemas use: `type` (one or a list; `integer` included), `properties`, `required`,
//! `additionalProperties` (`false` or a schema), `enum`, `const`, `minimum`/`maximum` (and the
//! exclusive ones), `minLength`/`maxLength`, `items`, `minItems`/`maxItems`, nested to
//! [`MAX_DEPTH`]. Other keywords are ignored (allowed), as a validator should.
//!
//! Numbers stay the decimal text the JSON reader keeps: they are compared as decimals here, so
//! no float parser is linked into the wasm, and `10` equals `1e1` exactly.

use std::cmp::Ordering;

use super::json::Json;

/// How deep a schema and the value it checks may nest: arguments are untrusted and the schema
/// is the host page's, but neither may exhaust the stack.
pub const MAX_DEPTH: usize = 32;

/// The first problem found: where (`$`, `$.from`, `$.rooms[2]`) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaError {
    pub path: String,
    pub reason: String,
}

impl std::fmt::Display for SchemaError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{}: {}", self.path, self.reason)
    }
}

/// Checks `value` against `schema`; the first problem found, with its path.
pub fn validate(schema: &Json, value: &Json) -> Result<(), SchemaError> {
    let mut path = String::from("$");
    check(schema, value, &mut path, 0)
}

fn fail<T>(path: &str, reason: impl Into<String>) -> Result<T, SchemaError> {
    Err(SchemaError {
        path: path.to_string(),
        reason: reason.into(),
    })
}

fn check(schema: &Json, value: &Json, path: &mut String, depth: usize) -> Result<(), SchemaError> {
    if depth > MAX_DEPTH {
        return fail(path, "nested too deep");
    }
    // `true`, `{}` and anything that is not an object accept every value.
    let Json::Object(_) = schema else {
        return match schema {
            Json::Bool(false) => fail(path, "no value is allowed here"),
            _ => Ok(()),
        };
    };
    if let Some(types) = schema.get("type") {
        let allowed: Vec<&str> = match types {
            Json::String(one) => vec![one.as_str()],
            Json::Array(list) => list.iter().filter_map(Json::as_str).collect(),
            _ => Vec::new(),
        };
        if !allowed.is_empty() && !allowed.iter().any(|name| has_type(value, name)) {
            return fail(
                path,
                format!("expected {}, got {}", allowed.join(" or "), type_of(value)),
            );
        }
    }
    if let Some(expected) = schema.get("const") {
        if !same(expected, value) {
            return fail(path, format!("must be {expected}"));
        }
    }
    if let Some(Json::Array(options)) = schema.get("enum") {
        if !options.iter().any(|option| same(option, value)) {
            let listed: Vec<String> = options.iter().map(Json::to_string).collect();
            return fail(path, format!("must be one of {}", listed.join(", ")));
        }
    }
    match value {
        Json::Number(number) => check_number(schema, number, path),
        Json::String(text) => {
            let length = text.chars().count() as u64;
            if let Some(min) = bound(schema, "minLength").filter(|min| length < *min) {
                return fail(path, format!("shorter than {min} characters"));
            }
            if let Some(max) = bound(schema, "maxLength").filter(|max| length > *max) {
                return fail(path, format!("longer than {max} characters"));
            }
            Ok(())
        }
        Json::Array(items) => {
            let count = items.len() as u64;
            if let Some(min) = bound(schema, "minItems").filter(|min| count < *min) {
                return fail(path, format!("fewer than {min} items"));
            }
            if let Some(max) = bound(schema, "maxItems").filter(|max| count > *max) {
                return fail(path, format!("more than {max} items"));
            }
            if let Some(item_schema) = schema.get("items") {
                for (index, item) in items.iter().enumerate() {
                    let before = path.len();
                    path.push_str(&format!("[{index}]"));
                    check(item_schema, item, path, depth + 1)?;
                    path.truncate(before);
                }
            }
            Ok(())
        }
        Json::Object(pairs) => check_object(schema, pairs, path, depth),
        Json::Null | Json::Bool(_) => Ok(()),
    }
}

fn check_object(
    schema: &Json,
    pairs: &[(String, Json)],
    path: &mut String,
    depth: usize,
) -> Result<(), SchemaError> {
    if let Some(Json::Array(required)) = schema.get("required") {
        for name in required.iter().filter_map(Json::as_str) {
            if !pairs.iter().any(|(key, _)| key == name) {
                return fail(path, format!("missing required property \"{name}\""));
            }
        }
    }
    let properties = schema.get("properties");
    let additional = schema.get("additionalProperties");
    for (key, item) in pairs {
        let before = path.len();
        push_key(path, key);
        match properties.and_then(|properties| properties.get(key)) {
            Some(property_schema) => check(property_schema, item, path, depth + 1)?,
            None => match additional {
                Some(Json::Bool(false)) => return fail(path, "is not an allowed property"),
                Some(extra_schema) => check(extra_schema, item, path, depth + 1)?,
                None => {}
            },
        }
        path.truncate(before);
    }
    Ok(())
}

fn check_number(schema: &Json, number: &str, path: &str) -> Result<(), SchemaError> {
    let limit = |key: &str| match schema.get(key) {
        Some(Json::Number(limit)) => Some(limit.as_str()),
        _ => None,
    };
    if let Some(min) = limit("minimum") {
        if compare_numbers(number, min) == Ordering::Less {
            return fail(path, format!("less than the minimum {min}"));
        }
    }
    if let Some(max) = limit("maximum") {
        if compare_numbers(number, max) == Ordering::Greater {
            return fail(path, format!("greater than the maximum {max}"));
        }
    }
    if let Some(min) = limit("exclusiveMinimum") {
        if compare_numbers(number, min) != Ordering::Greater {
            return fail(path, format!("must be greater than {min}"));
        }
    }
    if let Some(max) = limit("exclusiveMaximum") {
        if compare_numbers(number, max) != Ordering::Less {
            return fail(path, format!("must be less than {max}"));
        }
    }
    Ok(())
}

/// A non-negative integer keyword (`minLength`, `maxItems`...), when the schema has one.
fn bound(schema: &Json, key: &str) -> Option<u64> {
    schema.get(key).and_then(Json::as_u64)
}

/// `.name` for plain names, `["odd key"]` for the rest, so the path stays readable.
fn push_key(path: &mut String, key: &str) {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if plain {
        path.push('.');
        path.push_str(key);
    } else {
        path.push('[');
        path.push_str(&Json::String(key.to_string()).to_string());
        path.push(']');
    }
}

fn has_type(value: &Json, name: &str) -> bool {
    match (name, value) {
        ("null", Json::Null)
        | ("boolean", Json::Bool(_))
        | ("number", Json::Number(_))
        | ("string", Json::String(_))
        | ("array", Json::Array(_))
        | ("object", Json::Object(_)) => true,
        ("integer", Json::Number(number)) => Decimal::of(number).is_integer(),
        _ => false,
    }
}

fn type_of(value: &Json) -> &'static str {
    match value {
        Json::Null => "null",
        Json::Bool(_) => "boolean",
        Json::Number(_) => "number",
        Json::String(_) => "string",
        Json::Array(_) => "array",
        Json::Object(_) => "object",
    }
}

/// JSON equality for `enum` and `const`: numbers by value, objects whatever their key order.
fn same(left: &Json, right: &Json) -> bool {
    match (left, right) {
        (Json::Number(a), Json::Number(b)) => compare_numbers(a, b) == Ordering::Equal,
        (Json::Array(a), Json::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
        }
        (Json::Object(a), Json::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(key, x)| right.get(key).is_some_and(|y| same(x, y)))
        }
        _ => left == right,
    }
}

/// A JSON number as sign, significant digits (no leading or trailing zeros) and the power of ten
/// of the last digit: `-12.50` is `(true, "125", -1)`. Zero has no digits.
struct Decimal {
    negative: bool,
    digits: Vec<u8>,
    exponent: i64,
}

impl Decimal {
    /// Reads the JSON reader's number text (already valid JSON number syntax).
    fn of(text: &str) -> Decimal {
        let (negative, rest) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (mantissa, exponent) = match rest.find(['e', 'E']) {
            // Exponents past i64 do not occur in arguments anyone means; clamp, never panic.
            Some(at) => (
                &rest[..at],
                rest[at + 1..]
                    .trim_start_matches('+')
                    .parse::<i64>()
                    .unwrap_or(0)
                    .clamp(-1_000_000, 1_000_000),
            ),
            None => (rest, 0),
        };
        let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let mut digits: Vec<u8> = whole.bytes().chain(fraction.bytes()).collect();
        let mut exponent = exponent - fraction.len() as i64;
        while digits.last() == Some(&b'0') {
            digits.pop();
            exponent += 1;
        }
        let leading = digits.iter().take_while(|d| **d == b'0').count();
        digits.drain(..leading);
        Decimal {
            negative: negative && !digits.is_empty(),
            digits,
            exponent,
        }
    }

    fn is_integer(&self) -> bool {
        self.digits.is_empty() || self.exponent >= 0
    }

    /// The magnitude's order: compares the position of the first digit, then the digits.
    fn cmp_magnitude(&self, other: &Decimal) -> Ordering {
        match (self.digits.is_empty(), other.digits.is_empty()) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            (false, false) => {}
        }
        let top = |d: &Decimal| d.exponent + d.digits.len() as i64;
        top(self).cmp(&top(other)).then_with(|| {
            // Same leading position: digit by digit, a missing digit reads as 0.
            let longest = self.digits.len().max(other.digits.len());
            (0..longest)
                .map(|i| {
                    let a = self.digits.get(i).copied().unwrap_or(b'0');
                    let b = other.digits.get(i).copied().unwrap_or(b'0');
                    a.cmp(&b)
                })
                .find(|order| order.is_ne())
                .unwrap_or(Ordering::Equal)
        })
    }
}

/// Compares two JSON number texts by value.
fn compare_numbers(left: &str, right: &str) -> Ordering {
    let (a, b) = (Decimal::of(left), Decimal::of(right));
    match (a.negative, b.negative) {
        (false, true) => Ordering::Greater,
        (true, false) => Ordering::Less,
        (false, false) => a.cmp_magnitude(&b),
        (true, true) => b.cmp_magnitude(&a),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(text: &str) -> Json {
        Json::parse(text).unwrap_or_else(|| panic!("test JSON {text}"))
    }

    #[track_caller]
    fn check_ok(schema: &str, value: &str) {
        assert_eq!(validate(&json(schema), &json(value)), Ok(()), "{value}");
    }

    #[track_caller]
    fn check_err(schema: &str, value: &str, expected: &str) {
        match validate(&json(schema), &json(value)) {
            Err(error) => assert_eq!(error.to_string(), expected, "{value}"),
            Ok(()) => panic!("{value} passed {schema}"),
        }
    }

    const LEAVE: &str = r#"{"type":"object","additionalProperties":false,
        "required":["from","to","type"],
        "properties":{"from":{"type":"string","minLength":10,"maxLength":10},
                      "to":{"type":"string"},
                      "type":{"type":"string","enum":["年假","病假","事假"]},
                      "days":{"type":"integer","minimum":1,"maximum":30},
                      "note":{"type":["string","null"]}}}"#;

    #[test]
    fn a_valid_leave_request_passes() {
        check_ok(
            LEAVE,
            r#"{"from":"2024-06-24","to":"2024-06-26","type":"年假","days":3,"note":null}"#,
        );
        check_ok(
            LEAVE,
            r#"{"from":"2024-06-24","to":"x","type":"病假","days":3.0}"#,
        );
    }

    #[test]
    fn each_problem_names_its_path() {
        check_err(LEAVE, r#"[]"#, "$: expected object, got array");
        check_err(
            LEAVE,
            r#"{"from":"2024-06-24","type":"年假"}"#,
            "$: missing required property \"to\"",
        );
        check_err(
            LEAVE,
            r#"{"from":"2024-06-24","to":"x","type":"婚假"}"#,
            "$.type: must be one of \"年假\", \"病假\", \"事假\"",
        );
        check_err(
            LEAVE,
            r#"{"from":"2024-6-4","to":"x","type":"年假"}"#,
            "$.from: shorter than 10 characters",
        );
        check_err(
            LEAVE,
            r#"{"from":"2024-06-24","to":"x","type":"年假","days":2.5}"#,
            "$.days: expected integer, got number",
        );
        check_err(
            LEAVE,
            r#"{"from":"2024-06-24","to":"x","type":"年假","days":31}"#,
            "$.days: greater than the maximum 30",
        );
        check_err(
            LEAVE,
            r#"{"from":"2024-06-24","to":"x","type":"年假","days":0}"#,
            "$.days: less than the minimum 1",
        );
        check_err(
            LEAVE,
            r#"{"from":"2024-06-24","to":"x","type":"年假","boss":"me"}"#,
            "$.boss: is not an allowed property",
        );
        check_err(
            LEAVE,
            r#"{"from":"2024-06-24","to":7,"type":"年假"}"#,
            "$.to: expected string, got number",
        );
        check_err(
            LEAVE,
            r#"{"from":"2024-06-24","to":"x","type":"年假","note":1}"#,
            "$.note: expected string or null, got number",
        );
    }

    #[test]
    fn arrays_and_nested_objects_are_checked_item_by_item() {
        let schema = r#"{"type":"object","properties":{"rooms":{"type":"array","minItems":1,"maxItems":2,
            "items":{"type":"object","required":["id"],"properties":{"id":{"type":"integer"},
            "slot":{"type":"object","properties":{"hour":{"type":"integer","minimum":8,"maximum":18}}}}}}}}"#;
        check_ok(schema, r#"{"rooms":[{"id":1,"slot":{"hour":9}}]}"#);
        check_err(schema, r#"{"rooms":[]}"#, "$.rooms: fewer than 1 items");
        check_err(
            schema,
            r#"{"rooms":[{"id":1},{"id":2},{"id":3}]}"#,
            "$.rooms: more than 2 items",
        );
        check_err(
            schema,
            r#"{"rooms":[{"id":1},{"id":"2"}]}"#,
            "$.rooms[1].id: expected integer, got string",
        );
        check_err(
            schema,
            r#"{"rooms":[{"id":1,"slot":{"hour":20}}]}"#,
            "$.rooms[0].slot.hour: greater than the maximum 18",
        );
        check_err(
            schema,
            r#"{"rooms":[{"slot":{}}]}"#,
            "$.rooms[0]: missing required property \"id\"",
        );
    }

    #[test]
    fn const_exclusive_bounds_and_additional_property_schemas() {
        check_ok(r#"{"const":10}"#, "1e1");
        check_err(r#"{"const":"a"}"#, r#""b""#, "$: must be \"a\"");
        check_err(
            r#"{"exclusiveMinimum":0}"#,
            "0",
            "$: must be greater than 0",
        );
        check_ok(r#"{"exclusiveMaximum":1}"#, "0.999");
        check_err(
            r#"{"type":"object","additionalProperties":{"type":"number"}}"#,
            r#"{"odd key":"x"}"#,
            "$[\"odd key\"]: expected number, got string",
        );
        check_ok(r#"{"enum":[{"a":1,"b":[2]}]}"#, r#"{"b":[2.0],"a":1}"#);
        check_err("false", "1", "$: no value is allowed here");
        check_ok("true", r#"{"anything":[1]}"#);
    }

    #[test]
    fn numbers_compare_as_decimals() {
        for (a, b, expected) in [
            ("1", "1.0", Ordering::Equal),
            ("-0", "0", Ordering::Equal),
            ("0.1", "0.09", Ordering::Greater),
            ("-2", "-10", Ordering::Greater),
            ("1e3", "999.5", Ordering::Greater),
            ("12.5e-1", "1.25", Ordering::Equal),
            ("100", "1e2", Ordering::Equal),
            ("-0.5", "0", Ordering::Less),
            (
                "123456789012345678901234567890",
                "1.2e29",
                Ordering::Greater,
            ),
        ] {
            assert_eq!(compare_numbers(a, b), expected, "{a} vs {b}");
        }
        assert!(Decimal::of("30").is_integer());
        assert!(Decimal::of("2.50e1").is_integer());
        assert!(!Decimal::of("2.5").is_integer());
        assert!(Decimal::of("0.0").is_integer());
    }

    #[test]
    fn deep_nesting_stops_at_the_bound_instead_of_the_stack() {
        let mut schema = String::from("{\"type\":\"array\"}");
        let mut value = String::from("1");
        for _ in 0..MAX_DEPTH + 2 {
            schema = format!("{{\"items\":{schema}}}");
            value = format!("[{value}]");
        }
        let error = validate(&json(&schema), &json(&value)).expect_err("too deep");
        assert_eq!(error.reason, "nested too deep");
    }
}
