//! The out-of-band `/_sim` control routes (no auth, loopback clients only): the ground truth
//! and the fault settings.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;

use super::respond::{error_json, ser};
use super::shared::{Shared, read_state};
use crate::config::Faults;

/// `GET /_sim/truth`.
pub(super) async fn sim_truth(State(sh): State<Arc<Shared>>) -> Response {
    ser(&truth_of(&sh))
}

/// The current ground truth (after applying whatever fell due).
pub(crate) fn truth_of(sh: &Shared) -> Value {
    read_state(sh, Instant::now()).cluster.truth()
}

/// `GET /_sim/faults`.
pub(super) async fn sim_faults_get(State(sh): State<Arc<Shared>>) -> Response {
    ser(&sh.faults.get())
}

/// `PUT /_sim/faults`: replaces the fault settings.
pub(super) async fn sim_faults_put(State(sh): State<Arc<Shared>>, body: Bytes) -> Response {
    let faults: Faults = match serde_json::from_slice(&body) {
        Ok(f) => f,
        Err(e) => {
            return error_json(
                StatusCode::BAD_REQUEST,
                &format!("body is not a valid Faults object: {e}"),
            );
        }
    };
    if let Err(e) = faults.validate() {
        return error_json(StatusCode::BAD_REQUEST, &e);
    }
    sh.faults.set(faults.clone());
    ser(&faults)
}
