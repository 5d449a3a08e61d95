//! Why a join was refused: the HTTP status each reason maps to and its metrics label.

/// Why a join was refused, with the HTTP status it maps to.
#[derive(Debug)]
pub(crate) enum JoinRefusal {
    /// 401: bad, stale or replayed proof.
    Unauthorized(String),
    /// 400: a malformed request.
    BadRequest(String),
    /// 409: the alias belongs to another cluster.
    Conflict(String),
    /// 502: the hub could not reach the worker.
    Unreachable(String),
}

impl JoinRefusal {
    /// The metrics label of this refusal.
    pub(crate) fn reason(&self) -> &'static str {
        match self {
            JoinRefusal::Unauthorized(_) => "unauthorized",
            JoinRefusal::BadRequest(_) => "bad_request",
            JoinRefusal::Conflict(_) => "conflict",
            JoinRefusal::Unreachable(_) => "unreachable",
        }
    }
}
