//! Response and body helpers shared by every route: JSON answers in HyperCore's shapes, the
//! mapping of [`ApiError`] to status codes, and JSON body parsing.

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};

use crate::state::{ApiError, TaskResult};

/// HyperCore's generic 500 message.
pub(super) const INTERNAL_ERROR: &str = "An internal error occurred";

/// A response with `body` as `application/json`.
pub(super) fn json_response(status: StatusCode, body: impl Into<Bytes>) -> Response {
    let mut resp = Response::new(Body::from(body.into()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// A `{"error": message}` response.
pub(super) fn error_json(status: StatusCode, message: &str) -> Response {
    json_response(
        status,
        serde_json::to_vec(&json!({ "error": message })).unwrap_or_default(),
    )
}

/// 200 with `value` as JSON, or the generic 500 when encoding failed.
pub(super) fn ser<T: Serialize + ?Sized>(value: &T) -> Response {
    body_response(serde_json::to_vec(value).ok())
}

/// 200 with an encoded body, or the generic 500 when encoding failed.
pub(super) fn body_response(body: Option<Vec<u8>>) -> Response {
    match body {
        Some(body) => json_response(StatusCode::OK, body),
        None => error_json(StatusCode::INTERNAL_SERVER_ERROR, INTERNAL_ERROR),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Validation(text) => {
                let mut resp = Response::new(Body::from(text));
                *resp.status_mut() = StatusCode::BAD_REQUEST;
                resp.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; charset=utf-8"),
                );
                resp
            }
            ApiError::BadRequest(message) => error_json(StatusCode::BAD_REQUEST, &message),
            ApiError::Internal => error_json(StatusCode::INTERNAL_SERVER_ERROR, INTERNAL_ERROR),
        }
    }
}

/// A mutation's answer: HyperCore's `{"taskTag", "createdUUID"}` or the error.
pub(super) fn task_response(result: Result<TaskResult, ApiError>) -> Response {
    match result {
        Ok(r) => ser(&json!({ "taskTag": r.task_tag, "createdUUID": r.created_uuid })),
        Err(e) => e.into_response(),
    }
}

/// Parses a JSON body (a 400 `{"error"}` when it is not JSON).
pub(super) fn parse_body(body: &Bytes) -> Result<Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("request body is not valid JSON: {e}")))
}

/// Parses a JSON object body (a validator 400 for any other JSON).
pub(super) fn parse_object(body: &Bytes) -> Result<serde_json::Map<String, Value>, ApiError> {
    match parse_body(body)? {
        Value::Object(map) => Ok(map),
        _ => Err(ApiError::Validation(
            "Request has one or more errors\n  In body\n    Expected an object".into(),
        )),
    }
}
