//! Property tests of tool argument checking against the catalog's own input schemas:
//! arbitrary JSON for any argument of a few tools never panics and either passes (with a
//! value the schema allows) or fails with a message naming the tool and that argument.

use hyperfed_worker::args::validate;
use hyperfed_worker::catalog::ToolDef;
use hyperfed_worker::tools::all_tools;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

const TOOLS: &[&str] = &["vm_get", "vm_list", "vm_start", "vm_stop", "vm_migrate"];

fn tool(name: &str) -> ToolDef {
    all_tools(false)
        .into_iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("{name} is in the catalog"))
}

/// Any JSON value, nested a few levels.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::String),
        prop_oneof![Just("RUNNING"), Just("SHUTOFF"), Just("web-01"), Just("")]
            .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Valid values for a tool's required arguments.
fn base_args(def: &ToolDef) -> Map<String, Value> {
    let mut args = Map::new();
    for r in def
        .input
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        args.insert(r.to_owned(), json!("web-01"));
    }
    args
}

fn props(def: &ToolDef) -> Map<String, Value> {
    def.input
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// True when `value` fits the property's declared type, enum and bounds.
fn fits(prop: &Value, value: &Value) -> bool {
    let typed = match prop.get("type").and_then(Value::as_str) {
        Some("string") => value.is_string(),
        Some("boolean") => value.is_boolean(),
        Some("integer") => value.is_i64() || value.is_u64(),
        Some("number") => value.is_number(),
        Some("object") => value.is_object(),
        Some("array") => value.is_array(),
        _ => true,
    };
    let listed = prop
        .get("enum")
        .and_then(Value::as_array)
        .is_none_or(|allowed| allowed.contains(value));
    let long_enough = match (
        prop.get("minLength").and_then(Value::as_u64),
        value.as_str(),
    ) {
        (Some(min), Some(s)) => s.chars().count() as u64 >= min,
        _ => true,
    };
    let above_min = match (prop.get("minimum").and_then(Value::as_f64), value.as_f64()) {
        (Some(min), Some(n)) => n >= min,
        _ => true,
    };
    let below_max = match (prop.get("maximum").and_then(Value::as_f64), value.as_f64()) {
        (Some(max), Some(n)) => n <= max,
        _ => true,
    };
    let items_listed = match (
        prop.get("items")
            .and_then(|i| i.get("enum"))
            .and_then(Value::as_array),
        value.as_array(),
    ) {
        (Some(allowed), Some(items)) => items.iter().all(|v| allowed.contains(v)),
        _ => true,
    };
    typed && listed && long_enough && above_min && below_max && items_listed
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any value for any declared argument: accepted only when the schema allows it,
    /// otherwise refused with a message naming the tool and the argument.
    #[test]
    fn any_value_for_a_known_argument(
        tool_idx in 0..TOOLS.len(),
        key_idx in 0usize..16,
        value in any_json(),
    ) {
        let def = tool(TOOLS[tool_idx]);
        let props = props(&def);
        let keys: Vec<&String> = props.keys().collect();
        prop_assume!(!keys.is_empty());
        let key = keys[key_idx % keys.len()].clone();
        let mut args = base_args(&def);
        args.insert(key.clone(), value.clone());
        match validate(def.name, &def.input, &args) {
            Ok(()) => prop_assert!(fits(&props[&key], &value), "{} accepted {key}={value}", def.name),
            Err(msg) => {
                prop_assert!(!fits(&props[&key], &value), "{} refused a fitting {key}={value}: {msg}", def.name);
                let tool_prefix = format!("{}: ", def.name);
                let quoted_key = format!("'{key}'");
                prop_assert!(msg.starts_with(&tool_prefix), "{msg}");
                prop_assert!(msg.contains(&quoted_key), "{msg}");
            }
        }
    }

    /// The `vm` argument in particular: only a non-empty string passes.
    #[test]
    fn vm_argument(tool_idx in 0..TOOLS.len(), value in any_json()) {
        let def = tool(TOOLS[tool_idx]);
        prop_assume!(props(&def).contains_key("vm"));
        let mut args = base_args(&def);
        args.insert("vm".into(), value.clone());
        let ok = value.as_str().is_some_and(|s| !s.is_empty());
        match validate(def.name, &def.input, &args) {
            Ok(()) => prop_assert!(ok, "{} accepted vm={value}", def.name),
            Err(msg) => {
                prop_assert!(!ok, "{} refused vm={value}: {msg}", def.name);
                prop_assert!(msg.contains("argument 'vm'"), "{msg}");
            }
        }
    }

    /// An undeclared argument is always refused by name, whatever its value.
    #[test]
    fn unknown_arguments_are_named(
        tool_idx in 0..TOOLS.len(),
        key in "[a-zA-Z_]{1,12}",
        value in any_json(),
    ) {
        let def = tool(TOOLS[tool_idx]);
        prop_assume!(!props(&def).contains_key(&key));
        let mut args = base_args(&def);
        args.insert(key.clone(), value);
        let msg = validate(def.name, &def.input, &args).expect_err("unknown argument refused");
        let expected = format!("unknown argument '{key}'");
        prop_assert!(msg.contains(&expected), "{msg}");
    }

    /// Whole arbitrary argument objects never panic; every refusal names its tool.
    #[test]
    fn arbitrary_argument_objects(
        tool_idx in 0..TOOLS.len(),
        args in prop::collection::btree_map("(vm|state|name|tag|details|wait|node|confirm_token|[a-z]{1,6})", any_json(), 0..5),
    ) {
        let def = tool(TOOLS[tool_idx]);
        let args: Map<String, Value> = args.into_iter().collect();
        if let Err(msg) = validate(def.name, &def.input, &args) {
            let tool_prefix = format!("{}: ", def.name);
            prop_assert!(msg.starts_with(&tool_prefix), "{msg}");
            prop_assert!(msg.contains('\''), "names no argument: {msg}");
        }
    }
}
