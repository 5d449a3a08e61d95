//! A hook for whoever wants to count what the client does (the worker's metrics) without this
//! crate knowing any metrics library: every HTTP attempt and every task wait is reported with
//! bounded, static labels (endpoint class, method, status class, outcome), never a path or id.

use std::time::Duration;

/// One HTTP attempt against the cluster, as reported to an [`Observer`].
#[derive(Debug, Clone, Copy)]
pub struct RequestRecord {
    /// The endpoint class: the first path segment when it is a known HyperCore collection
    /// (`VirDomain`, `TaskTag`, `login`, ...), else `other`.
    pub endpoint: &'static str,
    /// The HTTP method (`GET`, `POST`, ...; `other` for anything unusual).
    pub method: &'static str,
    /// `2xx`, `3xx`, `4xx`, `5xx`, or `error` when no answer arrived (transport failure).
    pub status: &'static str,
    /// From sending the request until its whole body was read (or it failed).
    pub elapsed: Duration,
}

/// How a task wait ended, as reported to an [`Observer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitOutcome {
    /// The task finished (or was unknown, which counts as done).
    Done,
    /// The task ended in a failed state.
    Failed,
    /// The wait gave up at its deadline.
    Timeout,
    /// The wait was cancelled by its caller.
    Cancelled,
    /// Polling the task status failed.
    Error,
}

impl WaitOutcome {
    /// The outcome as a label value.
    pub fn as_str(self) -> &'static str {
        match self {
            WaitOutcome::Done => "done",
            WaitOutcome::Failed => "failed",
            WaitOutcome::Timeout => "timeout",
            WaitOutcome::Cancelled => "cancelled",
            WaitOutcome::Error => "error",
        }
    }
}

/// Hears about every request and task wait of a [`crate::Client`]; it runs on the request path,
/// so it must be cheap (count, do not block).
pub trait Observer: Send + Sync {
    /// One HTTP attempt ended (retried reads report each attempt).
    fn request(&self, record: &RequestRecord);
    /// One task wait ended.
    fn task_wait(&self, outcome: WaitOutcome, elapsed: Duration);
}

/// The HyperCore collections an endpoint class may name; anything else is `other`.
const ENDPOINTS: &[&str] = &[
    "Cluster",
    "Condition",
    "Drive",
    "ISO",
    "Node",
    "Role",
    "TaskTag",
    "User",
    "VirDomain",
    "VirDomainBlockDevice",
    "VirDomainNetDevice",
    "VirDomainSnapshot",
    "VirDomainStats",
    "VirtualDisk",
    "login",
    "logout",
    "openapi.json",
    "ping",
];

/// The endpoint class of a request path such as `VirDomain/uuid?x=1`.
pub fn endpoint_class(path: &str) -> &'static str {
    let first = path
        .trim_start_matches('/')
        .split(['/', '?'])
        .next()
        .unwrap_or("");
    ENDPOINTS
        .iter()
        .find(|e| e.eq_ignore_ascii_case(first))
        .copied()
        .unwrap_or("other")
}

/// The status class label of an HTTP status code.
pub fn status_class(status: u16) -> &'static str {
    match status {
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "other",
    }
}

/// The method label of an HTTP method.
pub fn method_label(method: &reqwest::Method) -> &'static str {
    match *method {
        reqwest::Method::GET => "GET",
        reqwest::Method::POST => "POST",
        reqwest::Method::PATCH => "PATCH",
        reqwest::Method::PUT => "PUT",
        reqwest::Method::DELETE => "DELETE",
        reqwest::Method::HEAD => "HEAD",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_classes_are_known_collections_or_other() {
        assert_eq!(endpoint_class("VirDomain/1234-abcd"), "VirDomain");
        assert_eq!(endpoint_class("/VirDomainStats?x=1"), "VirDomainStats");
        assert_eq!(endpoint_class("login"), "login");
        assert_eq!(endpoint_class("SomethingNew/x"), "other");
        assert_eq!(endpoint_class(""), "other");
        assert_eq!(status_class(204), "2xx");
        assert_eq!(status_class(503), "5xx");
    }
}
