//! Raw requests: any path under `/rest/v1` (checked so it cannot leave it), the status and
//! body passed through as they are; the `api_request` escape hatch and collection reads that
//! want the bytes build on it.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::client::Client;
use crate::decode::{Context, parse_records};
use crate::error::{Error, Result};

/// The body of a raw answer.
#[derive(Debug, Clone, PartialEq)]
pub enum RawBody {
    /// A JSON body.
    Json(Value),
    /// A non-JSON body, as text (lossy UTF-8).
    Text(String),
}

impl RawBody {
    /// A body as JSON when it parses (empty is `null`), else as lossy UTF-8 text.
    pub fn decode(bytes: &[u8]) -> Self {
        match serde_json::from_slice::<Value>(bytes) {
            Ok(v) => RawBody::Json(v),
            Err(_) if bytes.is_empty() => RawBody::Json(Value::Null),
            Err(_) => RawBody::Text(String::from_utf8_lossy(bytes).into_owned()),
        }
    }

    /// The body as JSON (text becomes a JSON string).
    pub fn to_value(&self) -> Value {
        match self {
            RawBody::Json(v) => v.clone(),
            RawBody::Text(t) => Value::String(t.clone()),
        }
    }
}

/// The answer to [`Client::raw`]: any status, not mapped to an error.
#[derive(Debug, Clone, PartialEq)]
pub struct RawResponse {
    /// HTTP status.
    pub status: u16,
    /// Body.
    pub body: RawBody,
}

/// Validates a raw API path and returns it relative to `/rest/v1`.
fn raw_path(path: &str) -> Result<String> {
    let bad = |message: &str| Error::InvalidArgument {
        argument: "path",
        message: message.to_owned(),
    };
    if path.contains("://") || path.starts_with("//") || path.contains('\\') {
        return Err(bad("must be a path relative to /rest/v1, not a URL"));
    }
    if path.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(bad("must not contain whitespace or control characters"));
    }
    let route = path.split(['?', '#']).next().unwrap_or("");
    if route.split('/').any(|s| s == ".." || s == ".")
        || route.to_ascii_lowercase().contains("%2e")
        || path.contains("..")
    {
        return Err(bad("must not contain '..'"));
    }
    if path.contains('#') {
        return Err(bad("must not contain a fragment"));
    }
    let first = route
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or("");
    if first.contains(':') {
        return Err(bad("must not carry a scheme"));
    }
    let mut rel = path.trim_start_matches('/');
    if let Some(rest) = rel.strip_prefix("rest/v1/") {
        rel = rest;
    } else if rel == "rest/v1" {
        rel = "";
    }
    if rel.is_empty() {
        return Err(bad("is empty"));
    }
    Ok(rel.to_owned())
}

impl Client {
    /// Sends any request under `/rest/v1` (path relative to it) and returns the status and body
    /// as they are; only authentication and transport failures become errors.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<RawResponse> {
        let (status, bytes) = self.raw_bytes(method, path, body).await?;
        Ok(RawResponse {
            status,
            body: RawBody::decode(&bytes),
        })
    }

    /// [`Client::raw`] without decoding: the status and the body bytes as they arrived.
    pub async fn raw_bytes(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Vec<u8>)> {
        let rel = raw_path(path)?;
        let bytes = match &body {
            Some(v) => Some(serde_json::to_vec(v).map_err(|e| Error::InvalidArgument {
                argument: "body",
                message: e.to_string(),
            })?),
            None => None,
        };
        let reply = self.execute(method, &rel, bytes).await?;
        if reply.status == StatusCode::UNAUTHORIZED {
            return Err(self.status_error(
                &reply,
                Context::Resource {
                    kind: "raw",
                    id: "",
                },
            ));
        }
        Ok((reply.status.as_u16(), reply.body))
    }

    /// Decodes a JSON array answer from [`Client::raw`] into typed records.
    pub fn decode_records<T: serde::de::DeserializeOwned>(
        response: &RawResponse,
    ) -> Result<Vec<T>> {
        let bytes = serde_json::to_vec(&response.body.to_value()).map_err(|e| Error::Decode {
            what: "raw response".into(),
            message: e.to_string(),
        })?;
        parse_records(&bytes, "raw")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_paths_are_checked() {
        assert_eq!(raw_path("/VirDomain").unwrap(), "VirDomain");
        assert_eq!(raw_path("rest/v1/Node").unwrap(), "Node");
        assert_eq!(
            raw_path("/rest/v1/Condition/filter?includeSet=true").unwrap(),
            "Condition/filter?includeSet=true"
        );
        for bad in [
            "../etc/passwd",
            "VirDomain/../../x",
            "http://evil/x",
            "//evil/x",
            "https:foo",
            "",
            "/",
            "a b",
            "%2e%2e/x",
        ] {
            assert!(raw_path(bad).is_err(), "{bad}");
        }
    }
}
