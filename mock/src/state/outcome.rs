//! What a request to the live cluster gets back: a [`TaskResult`] when accepted, an
//! [`ApiError`] (mapped to HyperCore's status codes and body shapes) when refused.

/// Why a request was refused, mapped to HyperCore's status codes and body shapes.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    /// 400 with a plain-text body in the style of HyperCore's request validator.
    Validation(String),
    /// 400 with a JSON `{"error"}` body.
    BadRequest(String),
    /// 500 `{"error":"An internal error occurred"}` (invalid transitions, unknown objects).
    Internal,
}

/// What a mutation answers: HyperCore's `Result`.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskResult {
    /// Task to poll ("" when nothing to wait for).
    pub task_tag: String,
    /// Uuid of the object created ("" otherwise).
    pub created_uuid: String,
}
