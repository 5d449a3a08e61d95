//! Property tests over real MCP (streamable HTTP, one in-process worker on a simulator):
//! arbitrary JSON for `vm` (vm_get, vm_start) and for vm_list's filters never breaks the
//! session and yields either a result that honours the filters or an `isError` result whose
//! text names the argument (or the VM key it could not resolve).

mod common;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Map, Value, json};

/// Any JSON value, nested a little, with a few meaningful strings mixed in.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::String),
        prop_oneof![
            Just("RUNNING"),
            Just("SHUTOFF"),
            Just("running"),
            Just("  "),
            Just(""),
            Just("00000000-0000-0000-0000-000000000000"),
            Just("00000000-0000-0000-0000-00000000000z"),
        ]
        .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(2, 12, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{1,5}", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Checks one `vm` value against vm_get and vm_start (never waiting).
async fn check_vm_value(client: &common::Client, vm: Value) -> Result<(), TestCaseError> {
    for (tool, mut args) in [("vm_get", json!({})), ("vm_start", json!({"wait": false}))] {
        args["vm"] = vm.clone();
        let r = client
            .call_tool(
                rmcp::model::CallToolRequestParams::new(tool.to_owned())
                    .with_arguments(common::obj(args)),
            )
            .await
            .map_err(|e| TestCaseError::fail(format!("{tool} vm={vm}: protocol error {e}")))?;
        if r.is_error == Some(true) {
            let text = common::text(&r);
            let key = vm.as_str().map(str::trim).unwrap_or_default();
            let names_argument = text.contains("argument 'vm'");
            let names_key = !key.is_empty() && text.contains(key) && text.contains("VM");
            let names_uuid = !key.is_empty() && text.contains(key) && text.contains("uuid");
            prop_assert!(
                names_argument || names_key || names_uuid,
                "{tool} vm={vm}: unspecific error: {text}"
            );
        } else {
            // Only a string naming an existing VM can succeed.
            prop_assert!(vm.is_string(), "{tool} accepted vm={vm}");
        }
    }
    Ok(())
}

/// Checks one set of vm_list filters.
async fn check_vm_list(
    client: &common::Client,
    filters: Map<String, Value>,
) -> Result<(), TestCaseError> {
    let r = client
        .call_tool(
            rmcp::model::CallToolRequestParams::new("vm_list").with_arguments(filters.clone()),
        )
        .await
        .map_err(|e| TestCaseError::fail(format!("vm_list {filters:?}: protocol error {e}")))?;
    if r.is_error == Some(true) {
        let text = common::text(&r);
        prop_assert!(
            filters.keys().any(|k| text.contains(&format!("'{k}'"))),
            "vm_list {filters:?}: error names no given argument: {text}"
        );
        return Ok(());
    }
    let out = r.structured_content.unwrap_or_default();
    let rows = out["vms"].as_array().cloned().unwrap_or_default();
    prop_assert_eq!(out["count"].as_u64(), Some(rows.len() as u64));
    for row in &rows {
        if let Some(state) = filters.get("state") {
            prop_assert_eq!(&row["state"], state, "row {} vs filter", row);
        }
        if let Some(name) = filters.get("name").and_then(Value::as_str) {
            let row_name = row["name"].as_str().unwrap_or_default().to_lowercase();
            prop_assert!(
                row_name.contains(&name.to_lowercase()),
                "row {} does not match name filter {:?}",
                row,
                name
            );
        }
    }
    Ok(())
}

fn vm_list_filters() -> impl Strategy<Value = Map<String, Value>> {
    (
        prop::option::of(prop_oneof![
            any_json(),
            Just(json!("RUNNING")),
            Just(json!("SHUTOFF"))
        ]),
        prop::option::of(prop_oneof![
            any_json(),
            "[a-z0-9-]{0,4}".prop_map(|s| json!(s))
        ]),
        prop::option::of(any_json()),
        prop::option::of(any_json()),
    )
        .prop_map(|(state, name, tag, details)| {
            let mut m = Map::new();
            for (k, v) in [
                ("state", state),
                ("name", name),
                ("tag", tag),
                ("details", details),
            ] {
                if let Some(v) = v {
                    m.insert(k.to_owned(), v);
                }
            }
            m
        })
}

#[test]
fn arbitrary_tool_arguments_over_mcp() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let worker = rt.block_on(common::start());
    let client = rt.block_on(common::mcp(&worker, common::TOKEN));

    let mut runner = TestRunner::new(Config::with_cases(64));
    let vm_result = runner.run(&any_json(), |vm| rt.block_on(check_vm_value(&client, vm)));
    let mut runner = TestRunner::new(Config::with_cases(64));
    let list_result = runner.run(&vm_list_filters(), |filters| {
        rt.block_on(check_vm_list(&client, filters))
    });

    rt.block_on(async {
        let _ = client.cancel().await;
        worker.shutdown().await;
    });
    if let Err(e) = vm_result {
        panic!("vm argument: {e}");
    }
    if let Err(e) = list_result {
        panic!("vm_list filters: {e}");
    }
}
