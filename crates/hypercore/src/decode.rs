//! Turning answers into results: a non-success status into the typed [`Error`] for its
//! context, and JSON bodies into typed records (tolerating nulls, a bare object or an empty
//! body where a list is expected).

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;

use crate::client::Client;
use crate::error::{Error, Result, clean_server_text, server_message};
use crate::model::strip_nulls;
use crate::request::{Reply, log_path};

/// How a non-success status is turned into an [`Error`].
#[derive(Clone, Copy)]
pub(crate) enum Context<'a> {
    /// A read or a plain mutation of `kind` `id`.
    Resource { kind: &'a str, id: &'a str },
    /// A VM power action: a 500 means an invalid state transition.
    Action { id: &'a str },
}

impl Client {
    /// Maps a non-success reply to an error for `ctx`.
    pub(crate) fn status_error(&self, reply: &Reply, ctx: Context<'_>) -> Error {
        let status = reply.status.as_u16();
        let message = server_message(&reply.body);
        match (status, ctx) {
            (401, _) => Error::Auth {
                username: self.inner.username.clone(),
                message,
            },
            (403, _) => Error::PermissionDenied { message },
            (404, Context::Resource { kind, id }) => Error::NotFound {
                kind: kind.to_owned(),
                id: id.to_owned(),
            },
            (404, Context::Action { id }) => Error::NotFound {
                kind: "VirDomain".into(),
                id: id.to_owned(),
            },
            (500, Context::Action { .. }) => Error::InvalidState { message },
            (400..=499, _) => Error::Validation { status, message },
            _ if reply.attempts > 1 => Error::Server {
                status,
                message: format!("{message} (gave up after {} attempts)", reply.attempts),
            },
            _ => Error::Server { status, message },
        }
    }

    /// GETs a collection (or one id of it) and decodes the array; 404 on an id means empty.
    pub(crate) async fn get_list<T: DeserializeOwned>(
        &self,
        path: &str,
        kind: &str,
        id: Option<&str>,
    ) -> Result<Vec<T>> {
        let reply = self.execute(Method::GET, path, None).await?;
        if reply.status == StatusCode::NOT_FOUND && id.is_some() {
            return Ok(Vec::new());
        }
        if !reply.status.is_success() {
            return Err(self.status_error(
                &reply,
                Context::Resource {
                    kind,
                    id: id.unwrap_or(""),
                },
            ));
        }
        parse_records(&reply.body, path)
    }

    /// Sends a JSON body and decodes the JSON answer, mapping error statuses with `ctx`.
    pub(crate) async fn send_json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
        ctx: Context<'_>,
    ) -> Result<T> {
        let bytes = match body {
            Some(v) => Some(serde_json::to_vec(v).map_err(|e| Error::Decode {
                what: path.to_owned(),
                message: e.to_string(),
            })?),
            None => None,
        };
        let reply = self.execute(method, path, bytes).await?;
        if !reply.status.is_success() {
            return Err(self.status_error(&reply, ctx));
        }
        decode_one(&reply.body, path)
    }
}

fn parse_value(body: &[u8], what: &str) -> Result<serde_json::Value> {
    let mut value: serde_json::Value = if body.iter().all(u8::is_ascii_whitespace) {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(body).map_err(|e| Error::Decode {
            what: format!("/{}", log_path(what)),
            message: format!(
                "not JSON ({e}): {}",
                clean_server_text(&String::from_utf8_lossy(&body[..body.len().min(200)]))
            ),
        })?
    };
    strip_nulls(&mut value);
    Ok(value)
}

/// Decodes a collection answer (a JSON array; a bare object, `null` or an empty body are
/// tolerated) into typed records; `what` names the source in errors.
pub fn parse_records<T: DeserializeOwned>(body: &[u8], what: &str) -> Result<Vec<T>> {
    // Fast path: a well-formed array decodes straight from the bytes; anything unusual
    // (nulls, a bare object, an empty body) takes the tolerant route below.
    if let Ok(items) = serde_json::from_slice::<Vec<T>>(body) {
        return Ok(items);
    }
    let value = parse_value(body, what)?;
    let items = match value {
        serde_json::Value::Array(items) => items,
        serde_json::Value::Null => Vec::new(),
        single @ serde_json::Value::Object(_) => vec![single],
        other => {
            return Err(Error::Decode {
                what: format!("/{}", log_path(what)),
                message: format!("expected a JSON array, got {}", type_name(&other)),
            });
        }
    };
    items
        .into_iter()
        .map(|item| {
            serde_json::from_value(item).map_err(|e| Error::Decode {
                what: format!("/{}", log_path(what)),
                message: e.to_string(),
            })
        })
        .collect()
}

pub(crate) fn decode_one<T: DeserializeOwned>(body: &[u8], what: &str) -> Result<T> {
    let mut value = parse_value(body, what)?;
    // Some answers wrap a single record in a one-element array.
    if let serde_json::Value::Array(items) = &mut value
        && items.len() == 1
    {
        value = items.remove(0);
    }
    if value.is_null() {
        value = serde_json::Value::Object(Default::default());
    }
    serde_json::from_value(value).map_err(|e| Error::Decode {
        what: format!("/{}", log_path(what)),
        message: e.to_string(),
    })
}

fn type_name(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ClusterConfig, Credentials};
    use crate::error::TransportKind;
    use crate::request::gave_up;

    fn client() -> Client {
        Client::new(ClusterConfig::new(
            "http://127.0.0.1:9",
            Credentials::new("admin", "hunter2"),
        ))
        .unwrap()
    }

    fn reply(status: u16, body: &str) -> Reply {
        Reply {
            status: StatusCode::from_u16(status).unwrap(),
            body: body.as_bytes().to_vec(),
            attempts: 1,
        }
    }

    #[test]
    fn statuses_map_to_typed_errors() {
        let c = client();
        let res = Context::Resource {
            kind: "VirDomainSnapshot",
            id: "s1",
        };
        let act = Context::Action { id: "v1" };
        let e = c.status_error(
            &reply(400, "Request has one or more errors\n  In body: bad"),
            res,
        );
        assert!(
            matches!(&e, Error::Validation { status: 400, message } if message.contains("In body: bad")),
            "{e:?}"
        );
        let e = c.status_error(&reply(403, r#"{"error":"no"}"#), res);
        assert!(matches!(e, Error::PermissionDenied { .. }));
        let e = c.status_error(&reply(404, ""), res);
        assert!(
            matches!(&e, Error::NotFound { kind, id } if kind == "VirDomainSnapshot" && id == "s1")
        );
        let e = c.status_error(
            &reply(500, r#"{"error":"An internal error occurred"}"#),
            act,
        );
        assert!(
            matches!(&e, Error::InvalidState { message } if message == "An internal error occurred")
        );
        let e = c.status_error(&reply(500, "{}"), res);
        assert!(matches!(e, Error::Server { status: 500, .. }) && e.is_retryable());
        let e = c.status_error(&reply(503, "busy"), res);
        assert!(e.is_retryable());
        let e = c.status_error(&reply(401, "{}"), res);
        assert!(matches!(e, Error::Auth { .. }));
    }

    #[test]
    fn decoding_tolerates_objects_nulls_and_empty_bodies() {
        let v: Vec<crate::model::Cluster> =
            parse_records(br#"{"uuid":"c","clusterName":null}"#, "Cluster").unwrap();
        assert_eq!(v[0].uuid, "c");
        let v: Vec<crate::model::Cluster> = parse_records(b"", "Cluster").unwrap();
        assert!(v.is_empty());
        let e =
            parse_records::<crate::model::Cluster>(b"<html>oops</html>", "Cluster").unwrap_err();
        assert!(matches!(e, Error::Decode { .. }));
        let r: crate::model::TaskResult =
            decode_one(br#"[{"taskTag":"5","createdUUID":""}]"#, "x").unwrap();
        assert_eq!(r.task_tag, "5");
    }

    #[test]
    fn giving_up_names_the_attempts() {
        let e = gave_up(
            Err(Error::Transport {
                kind: TransportKind::Io,
                url: "u".into(),
                message: "reset".into(),
            }),
            3,
        )
        .err()
        .unwrap();
        assert!(e.to_string().contains("gave up after 3 attempts"), "{e}");
        let r = gave_up(Ok(reply(503, "busy")), 3).ok().unwrap();
        let e = client().status_error(
            &r,
            Context::Resource {
                kind: "Node",
                id: "",
            },
        );
        assert!(
            matches!(&e, Error::Server { status: 503, message } if message.contains("gave up after 3 attempts")),
            "{e:?}"
        );
    }
}
