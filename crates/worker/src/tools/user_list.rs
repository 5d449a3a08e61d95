//! `user_list`: the cluster's user accounts with their role names (never a password).

use std::collections::HashMap;

use hypercore::model::{Role, User};
use serde_json::{Value, json};

use super::page::{list_output, page, paged_input};
use super::schema::read_tool;
use super::{ToolCall, ToolResult, ToolSpec};

/// `user_list`.
pub(super) const SPEC: ToolSpec = ToolSpec {
    name: "user_list",
    declare: |_| {
        read_tool(
            "user_list",
            "List users",
            "Lists user accounts (username, full name, roles, session limit); never passwords.",
            paged_input(json!({}), &[]),
            list_output("users", json!({"type": "object"})),
        )
    },
    run: |call| Box::pin(run(call)),
};

async fn run(call: ToolCall<'_>) -> ToolResult {
    let cluster = &call.state.cluster;
    let (users, roles) = futures::join!(cluster.list::<User>(), cluster.list::<Role>());
    let users = users.map_err(|e| call.cluster_err(e))?;
    // Without roles, users still list (with role uuids for names).
    let roles = roles.unwrap_or_default();
    let role_names: HashMap<&str, &str> = roles
        .iter()
        .map(|role| (role.uuid.as_str(), role.name.as_str()))
        .collect();
    let rows: Vec<Value> = users
        .iter()
        .map(|user| {
            let roles: Vec<&str> = user
                .role_uuids
                .iter()
                .map(|uuid| role_names.get(uuid.as_str()).copied().unwrap_or(uuid))
                .collect();
            json!({
                "uuid": user.uuid,
                "username": user.username,
                "full_name": user.full_name,
                "roles": roles,
                "session_limit": user.session_limit,
            })
        })
        .collect();
    Ok(Value::Object(page(&call, "users", rows, "")?))
}
