//! Tool argument checking against the catalog's own input schemas (the small JSON-Schema
//! subset the catalog uses), so a bad call gets one specific message and changes nothing.

use serde_json::{Map, Value};

/// Checks `args` against an input schema: unknown keys, required keys, types and enums.
pub fn validate(
    tool: &str,
    schema: &Map<String, Value>,
    args: &Map<String, Value>,
) -> Result<(), String> {
    let empty = Map::new();
    let props = schema
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    for (key, value) in args {
        let Some(prop) = props.get(key).and_then(Value::as_object) else {
            let mut known: Vec<&str> = props.keys().map(String::as_str).collect();
            known.sort_unstable();
            return Err(format!(
                "{tool}: unknown argument '{key}'; accepted arguments: {}",
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            ));
        };
        check_value(tool, key, prop, value)?;
    }
    if let Some(required) = schema.get("required").and_then(Value::as_array) {
        for r in required.iter().filter_map(Value::as_str) {
            if !args.contains_key(r) {
                let what = props
                    .get(r)
                    .and_then(|p| p.get("description"))
                    .and_then(Value::as_str)
                    .unwrap_or("");
                return Err(format!(
                    "{tool}: missing required argument '{r}'{}",
                    if what.is_empty() {
                        String::new()
                    } else {
                        format!(" ({what})")
                    }
                ));
            }
        }
    }
    Ok(())
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn check_value(
    tool: &str,
    key: &str,
    prop: &Map<String, Value>,
    value: &Value,
) -> Result<(), String> {
    if let Some(expected) = prop.get("type").and_then(Value::as_str) {
        let actual = type_name(value);
        let ok = match expected {
            "number" => matches!(actual, "number" | "integer"),
            "integer" => actual == "integer",
            other => other == actual,
        };
        if !ok {
            return Err(format!(
                "{tool}: argument '{key}' must be {} {expected}, got {actual} {}",
                if expected == "integer" || expected == "array" || expected == "object" {
                    "an"
                } else {
                    "a"
                },
                shorten(value)
            ));
        }
    }
    if let Some(allowed) = prop.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        let list: Vec<String> = allowed.iter().map(|v| v.to_string()).collect();
        return Err(format!(
            "{tool}: argument '{key}' is {}, expected one of {}",
            shorten(value),
            list.join(", ")
        ));
    }
    if let (Some(allowed), Some(items)) = (
        prop.get("items")
            .and_then(|i| i.get("enum"))
            .and_then(Value::as_array),
        value.as_array(),
    ) && let Some(bad) = items.iter().find(|v| !allowed.contains(v))
    {
        let list: Vec<String> = allowed.iter().map(|v| v.to_string()).collect();
        return Err(format!(
            "{tool}: argument '{key}' has {}, expected items from {}",
            shorten(bad),
            list.join(", ")
        ));
    }
    if let (Some(min), Some(n)) = (prop.get("minimum").and_then(Value::as_f64), value.as_f64())
        && n < min
    {
        return Err(format!(
            "{tool}: argument '{key}' must be at least {min}, got {n}"
        ));
    }
    if let (Some(max), Some(n)) = (prop.get("maximum").and_then(Value::as_f64), value.as_f64())
        && n > max
    {
        return Err(format!(
            "{tool}: argument '{key}' must be at most {max}, got {n}"
        ));
    }
    if let (Some(min), Some(s)) = (
        prop.get("minLength").and_then(Value::as_u64),
        value.as_str(),
    ) && (s.chars().count() as u64) < min
    {
        return Err(format!("{tool}: argument '{key}' must not be empty"));
    }
    Ok(())
}

fn shorten(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        let cut: String = s.chars().take(57).collect();
        format!("{cut}...")
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Map<String, Value> {
        json!({
            "type": "object",
            "properties": {
                "vm": {"type": "string", "description": "VM uuid or exact name", "minLength": 1},
                "wait": {"type": "boolean"},
                "state": {"type": "string", "enum": ["RUNNING", "SHUTOFF"]},
                "limit": {"type": "integer", "minimum": 1}
            },
            "required": ["vm"],
            "additionalProperties": false
        })
        .as_object()
        .cloned()
        .unwrap()
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn specific_messages() {
        let s = schema();
        assert!(
            validate("t", &s, &obj(json!({})))
                .unwrap_err()
                .contains("missing required argument 'vm'")
        );
        assert!(
            validate("t", &s, &obj(json!({"vm": 3})))
                .unwrap_err()
                .contains("'vm' must be a string, got integer 3")
        );
        assert!(
            validate("t", &s, &obj(json!({"vm": "a", "x": 1})))
                .unwrap_err()
                .contains("unknown argument 'x'")
        );
        assert!(
            validate("t", &s, &obj(json!({"vm": "a", "state": "ON"})))
                .unwrap_err()
                .contains("expected one of")
        );
        assert!(
            validate("t", &s, &obj(json!({"vm": "a", "limit": 0})))
                .unwrap_err()
                .contains("at least 1")
        );
        assert!(
            validate("t", &s, &obj(json!({"vm": ""})))
                .unwrap_err()
                .contains("must not be empty")
        );
        assert!(validate("t", &s, &obj(json!({"vm": "a", "wait": true, "limit": 3}))).is_ok());
    }
}
