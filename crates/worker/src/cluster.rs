//! The worker's view of its cluster: JSON reads through the shared HyperCore client (so tool
//! output keeps every wire field the model may need) and the typed client for mutations.

use hypercore::{Client, RawBody};
use serde_json::Value;

/// HTTP methods `api_request` may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET.
    Get,
    /// POST.
    Post,
    /// PATCH.
    Patch,
    /// PUT.
    Put,
    /// DELETE.
    Delete,
}

impl Method {
    fn to_http(self) -> hypercore::Method {
        match self {
            Method::Get => hypercore::Method::GET,
            Method::Post => hypercore::Method::POST,
            Method::Patch => hypercore::Method::PATCH,
            Method::Put => hypercore::Method::PUT,
            Method::Delete => hypercore::Method::DELETE,
        }
    }
}

/// One cluster, reached through one shared [`hypercore::Client`].
#[derive(Clone)]
pub struct Cluster {
    client: Client,
}

fn status_error(status: u16, body: &RawBody, what: &str) -> hypercore::Error {
    let message = match body {
        RawBody::Json(v) => v
            .get("error")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| v.to_string()),
        RawBody::Text(t) => t.chars().take(300).collect(),
    };
    match status {
        403 => hypercore::Error::PermissionDenied { message },
        400..=499 => hypercore::Error::Validation { status, message },
        _ => hypercore::Error::Server {
            status,
            message: format!("{what}: {message}"),
        },
    }
}

impl Cluster {
    /// Wraps a client.
    pub fn new(client: Client) -> Self {
        Cluster { client }
    }

    /// The typed client (mutations, waiting, logout).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Every record of a collection (`GET /rest/v1/{collection}`).
    pub async fn get_all(&self, collection: &str) -> Result<Vec<Value>, hypercore::Error> {
        let resp = self
            .client
            .raw(hypercore::Method::GET, collection, None)
            .await?;
        if !(200..300).contains(&resp.status) {
            return Err(status_error(resp.status, &resp.body, collection));
        }
        match resp.body {
            RawBody::Json(Value::Array(items)) => Ok(items),
            RawBody::Json(Value::Null) => Ok(Vec::new()),
            RawBody::Json(other @ Value::Object(_)) => Ok(vec![other]),
            _ => Err(hypercore::Error::Decode {
                what: format!("/{collection}"),
                message: "expected a JSON array".into(),
            }),
        }
    }

    /// One record by id; `None` when HyperCore answers `[]` or 404.
    pub async fn get_one(
        &self,
        collection: &str,
        id: &str,
    ) -> Result<Option<Value>, hypercore::Error> {
        if id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            || id.contains("..")
        {
            return Ok(None);
        }
        let path = format!("{collection}/{id}");
        let resp = self.client.raw(hypercore::Method::GET, &path, None).await?;
        if resp.status == 404 {
            return Ok(None);
        }
        if !(200..300).contains(&resp.status) {
            return Err(status_error(resp.status, &resp.body, collection));
        }
        Ok(match resp.body {
            RawBody::Json(Value::Array(items)) => items.into_iter().next(),
            RawBody::Json(v @ Value::Object(_)) => Some(v),
            _ => None,
        })
    }

    /// Any request under `/rest/v1`; the status and body come back as they are.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value), hypercore::Error> {
        let resp = self.client.raw(method.to_http(), path, body).await?;
        Ok((resp.status, resp.body.to_value()))
    }

    /// The cluster's OpenAPI document.
    pub async fn openapi(&self) -> Result<Value, hypercore::Error> {
        self.client.openapi().await
    }
}
