//! Mutation routes: parse the body, take the write lock and hand the request to the live
//! state, answering HyperCore's `{"taskTag", "createdUUID"}`.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::auth::SessionId;
use super::respond::{parse_body, parse_object, task_response};
use super::shared::{Shared, write_state};
use crate::state::{ApiError, SimState, TaskResult, VmAction};

/// `POST /VirDomain/action`.
pub(super) async fn vm_action(
    State(sh): State<Arc<Shared>>,
    Extension(session): Extension<SessionId>,
    body: Bytes,
) -> Response {
    let actions = match parse_actions(&body) {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    let ignore_acpi = sh.faults.get().ignore_acpi;
    let now = Instant::now();
    let mut state = write_state(&sh, now);
    task_response(state.vm_actions(actions, &session.0, now, ignore_acpi))
}

/// Parses a `VirDomainActionDescription` array.
fn parse_actions(body: &Bytes) -> Result<Vec<VmAction>, ApiError> {
    let invalid = |detail: &str| {
        ApiError::Validation(format!(
            "Request has one or more errors\n  In body\n    {detail}"
        ))
    };
    let Value::Array(items) = parse_body(body)? else {
        return Err(invalid("Expected an array of VirDomainActionDescription"));
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let Value::Object(obj) = item else {
            return Err(invalid(&format!("At index {i}: expected an object")));
        };
        let vm = match obj.get("virDomainUUID") {
            Some(Value::String(s)) => s.clone(),
            _ => {
                return Err(invalid(&format!(
                    "At index {i}: missing required property: virDomainUUID (string)"
                )));
            }
        };
        let action = match obj.get("actionType") {
            Some(Value::String(s))
                if [
                    "START",
                    "SHUTDOWN",
                    "STOP",
                    "PAUSE",
                    "REBOOT",
                    "RESET",
                    "LIVEMIGRATE",
                    "NMI",
                ]
                .contains(&s.as_str()) =>
            {
                s.clone()
            }
            _ => {
                return Err(invalid(&format!(
                    "At index {i}: actionType must be one of START, SHUTDOWN, STOP, PAUSE, REBOOT, RESET, LIVEMIGRATE, NMI"
                )));
            }
        };
        let node = match obj.get("nodeUUID") {
            None => None,
            Some(Value::String(s)) if s.is_empty() => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(invalid(&format!("At index {i}: nodeUUID must be a string"))),
        };
        if obj.get("cause").is_some_and(|c| !c.is_string()) {
            return Err(invalid(&format!("At index {i}: cause must be a string")));
        }
        out.push(VmAction { vm, action, node });
    }
    Ok(out)
}

/// `POST /VirDomainSnapshot`.
pub(super) async fn snapshot_create(
    State(sh): State<Arc<Shared>>,
    Extension(session): Extension<SessionId>,
    body: Bytes,
) -> Response {
    let body = match parse_object(&body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let now = Instant::now();
    let mut state = write_state(&sh, now);
    task_response(state.snapshot_create(&body, &session.0, now))
}

/// `DELETE /VirDomainSnapshot/{uuid}`.
pub(super) async fn snapshot_delete(
    State(sh): State<Arc<Shared>>,
    Extension(session): Extension<SessionId>,
    Path(uuid): Path<String>,
) -> Response {
    let now = Instant::now();
    let mut state = write_state(&sh, now);
    task_response(state.snapshot_delete(&uuid, &session.0, now))
}

/// A mutation of one object (by uuid) whose body must be a JSON object: parse, then apply under the write lock.
type VmMutation = fn(
    &mut SimState,
    &str,
    &serde_json::Map<String, Value>,
    &str,
    Instant,
) -> Result<TaskResult, ApiError>;

fn vm_object_mutation(
    sh: &Shared,
    session: &SessionId,
    uuid: &str,
    body: &Bytes,
    apply: VmMutation,
) -> Response {
    let body = match parse_object(body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let now = Instant::now();
    let mut state = write_state(sh, now);
    task_response(apply(&mut state, uuid, &body, &session.0, now))
}

/// `POST /VirDomain/{uuid}/clone`.
pub(super) async fn vm_clone(
    State(sh): State<Arc<Shared>>,
    Extension(session): Extension<SessionId>,
    Path(uuid): Path<String>,
    body: Bytes,
) -> Response {
    vm_object_mutation(&sh, &session, &uuid, &body, SimState::vm_clone)
}

/// `POST /VirDomain/{uuid}/export`.
pub(super) async fn vm_export(
    State(sh): State<Arc<Shared>>,
    Extension(session): Extension<SessionId>,
    Path(uuid): Path<String>,
    body: Bytes,
) -> Response {
    vm_object_mutation(&sh, &session, &uuid, &body, SimState::vm_export)
}

/// `PATCH /VirDomain/{uuid}`.
pub(super) async fn vm_patch(
    State(sh): State<Arc<Shared>>,
    Extension(session): Extension<SessionId>,
    Path(uuid): Path<String>,
    body: Bytes,
) -> Response {
    vm_object_mutation(&sh, &session, &uuid, &body, SimState::vm_patch)
}

/// A mutation whose body must be a JSON object: parse, then apply under the write lock.
type ObjectMutation = fn(
    &mut SimState,
    &serde_json::Map<String, Value>,
    &str,
    Instant,
) -> Result<TaskResult, ApiError>;

fn object_mutation(
    sh: &Shared,
    session: &SessionId,
    body: &Bytes,
    apply: ObjectMutation,
) -> Response {
    let body = match parse_object(body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let now = Instant::now();
    let mut state = write_state(sh, now);
    task_response(apply(&mut state, &body, &session.0, now))
}

/// `POST /VirDomain`.
pub(super) async fn vm_create(
    State(sh): State<Arc<Shared>>,
    Extension(session): Extension<SessionId>,
    body: Bytes,
) -> Response {
    object_mutation(&sh, &session, &body, SimState::vm_create)
}

/// `POST /VirDomain/import`.
pub(super) async fn vm_import(
    State(sh): State<Arc<Shared>>,
    Extension(session): Extension<SessionId>,
    body: Bytes,
) -> Response {
    object_mutation(&sh, &session, &body, SimState::vm_import)
}

/// `DELETE /VirDomain/{uuid}`.
pub(super) async fn vm_delete(
    State(sh): State<Arc<Shared>>,
    Extension(session): Extension<SessionId>,
    Path(uuid): Path<String>,
) -> Response {
    let now = Instant::now();
    let mut state = write_state(&sh, now);
    task_response(state.vm_delete(&uuid, &session.0, now))
}

/// `POST /VirDomainBlockDevice`.
pub(super) async fn disk_create(
    State(sh): State<Arc<Shared>>,
    Extension(session): Extension<SessionId>,
    body: Bytes,
) -> Response {
    object_mutation(&sh, &session, &body, SimState::disk_create)
}

/// `PATCH /VirDomainBlockDevice/{uuid}`.
pub(super) async fn disk_patch(
    State(sh): State<Arc<Shared>>,
    Extension(session): Extension<SessionId>,
    Path(uuid): Path<String>,
    body: Bytes,
) -> Response {
    vm_object_mutation(&sh, &session, &uuid, &body, SimState::disk_patch)
}
