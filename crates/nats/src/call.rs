//! The hub side: signed requests to one cluster and fan-outs to the whole fleet over NATS
//! request/reply. One wildcard inbox subscription per caller carries every reply and progress
//! message; only replies signed with the cluster's registration session key are accepted.
//! Calls fail fast, naming the cause, when no worker answers or NATS is unreachable.

use async_nats::{HeaderMap, Message, StatusCode};
use bytes::Bytes;
use futures::StreamExt as _;
use hyperfed_protocol::Secret;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::connect::{LinkState, NatsConnection};
use crate::error::{NatsLinkError, SetupError};
use crate::registry::LiveRegistrations;
use crate::sign::{
    self, FleetKeys, HEADER_ALIAS, HEADER_ID, HEADER_PROGRESS, HEADER_SIG, HEADER_TS, SessionKey,
    parse_id, random_id, unix_ms,
};
use crate::subject::{FleetName, check_token};

/// Room kept for headers when checking a request against the server's max_payload.
const HEADER_ALLOWANCE: usize = 512;

enum Routed {
    Reply(Message),
    Progress(Message),
}

type Pending = Arc<Mutex<HashMap<u128, mpsc::UnboundedSender<Routed>>>>;

/// Removes a request's route when the call ends, however it ends.
struct Route<'a> {
    pending: &'a Pending,
    id: u128,
}

impl Drop for Route<'_> {
    fn drop(&mut self) {
        if let Ok(mut m) = self.pending.lock() {
            m.remove(&self.id);
        }
    }
}

/// Replies gathered by a fan-out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FanOutReplies {
    /// (alias, reply body) of every cluster that answered with a valid signature, in arrival order.
    pub answered: Vec<(String, Bytes)>,
    /// Expected aliases without a valid answer before the deadline, sorted.
    pub unanswered: Vec<String>,
    /// Replies refused because their signature did not verify.
    pub forged: u32,
}

/// Sends signed requests and fan-outs for one fleet; cheap to share behind an Arc.
pub struct Caller {
    conn: NatsConnection,
    keys: Arc<FleetKeys>,
    live: LiveRegistrations,
    inbox: String,
    pending: Pending,
    dispatcher: JoinHandle<()>,
}

impl std::fmt::Debug for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Caller({}, {})", self.keys.fleet(), self.inbox)
    }
}

impl Drop for Caller {
    fn drop(&mut self) {
        self.dispatcher.abort();
    }
}

impl Caller {
    /// Subscribes the caller's inbox; replies are verified against `live` (kept by a `RegistryWatch`).
    pub async fn new(
        conn: &NatsConnection,
        fleet: &FleetName,
        secret: &Secret,
        live: LiveRegistrations,
    ) -> Result<Self, SetupError> {
        let inbox = conn.client().new_inbox();
        let subject = format!("{inbox}.>");
        let mut sub = conn
            .client()
            .subscribe(subject.clone())
            .await
            .map_err(|e| SetupError::Subscribe {
                subject,
                cause: e.to_string(),
            })?;
        let pending: Pending = Arc::default();
        let dispatcher = tokio::spawn({
            let pending = pending.clone();
            let prefix = format!("{inbox}.");
            async move {
                while let Some(msg) = sub.next().await {
                    route(&pending, &prefix, msg);
                }
            }
        });
        Ok(Caller {
            conn: conn.clone(),
            keys: Arc::new(FleetKeys::new(secret, fleet)),
            live,
            inbox,
            pending,
            dispatcher,
        })
    }

    /// The live registrations replies are verified against.
    pub fn live(&self) -> &LiveRegistrations {
        &self.live
    }

    fn open_route(&self) -> (u128, String, mpsc::UnboundedReceiver<Routed>, Route<'_>) {
        let (id, id_text) = random_id();
        let (tx, rx) = mpsc::unbounded_channel();
        if let Ok(mut m) = self.pending.lock() {
            m.insert(id, tx);
        }
        (
            id,
            id_text,
            rx,
            Route {
                pending: &self.pending,
                id,
            },
        )
    }

    fn check_size(&self, body: &Bytes) -> Result<(), NatsLinkError> {
        let max = self.conn.client().server_info().max_payload;
        let size = body.len() + HEADER_ALLOWANCE;
        if max > 0 && size > max {
            return Err(NatsLinkError::TooLarge {
                size: body.len(),
                max,
            });
        }
        Ok(())
    }

    /// Signs and publishes a request; the signature binds subject, reply, id, time, progress and body.
    async fn publish_signed(
        &self,
        subject: String,
        reply: String,
        id_text: &str,
        progress: Option<&str>,
        body: Bytes,
    ) -> Result<(), NatsLinkError> {
        let ts = unix_ms();
        let progress = progress.unwrap_or("");
        let sig = sign::sign(
            self.keys.call_key(),
            &[
                b"call",
                subject.as_bytes(),
                reply.as_bytes(),
                id_text.as_bytes(),
                &ts.to_be_bytes(),
                progress.as_bytes(),
                &body,
            ],
        );
        let mut h = HeaderMap::new();
        h.insert(HEADER_ID, id_text);
        h.insert(HEADER_TS, ts.to_string().as_str());
        if !progress.is_empty() {
            h.insert(HEADER_PROGRESS, progress);
        }
        h.insert(HEADER_SIG, sig.as_str());
        self.conn
            .client()
            .publish_with_reply_and_headers(subject, reply, h, body)
            .await
            .map_err(|e| NatsLinkError::Publish(e.to_string()))
    }

    /// Sends `body` to cluster `alias` and waits for its signed reply. Progress messages go to
    /// `progress`; cancelling `cancel` tells the worker to stop and returns `Cancelled`.
    pub async fn request(
        &self,
        alias: &str,
        body: Bytes,
        timeout: Duration,
        mut progress: impl FnMut(Bytes) + Send,
        cancel: &CancellationToken,
    ) -> Result<Bytes, NatsLinkError> {
        check_token("alias", alias)?;
        self.conn.ensure_connected()?;
        let session = self
            .live
            .session_key(alias)
            .ok_or_else(|| NatsLinkError::NotRegistered {
                alias: alias.to_owned(),
            })?;
        self.check_size(&body)?;
        let fleet = self.keys.fleet();
        let (_, id_text, mut rx, _route) = self.open_route();
        let reply = format!("{}.{id_text}", self.inbox);
        let progress_subject = format!("{reply}.p");
        let mut state = self.conn.state_changes();
        state.borrow_and_update();
        let deadline = tokio::time::Instant::now() + timeout;
        self.publish_signed(
            fleet.call_subject(alias),
            reply,
            &id_text,
            Some(&progress_subject),
            body,
        )
        .await?;
        let mut forged = 0u32;
        loop {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => {
                    self.send_cancel(alias, &id_text).await;
                    return Err(NatsLinkError::Cancelled);
                }
                Ok(()) = state.changed() => {
                    if let LinkState::Disconnected { cause } = state.borrow_and_update().clone() {
                        return Err(NatsLinkError::Disconnected { cause });
                    }
                }
                routed = rx.recv() => match routed {
                    Some(Routed::Reply(msg)) => {
                        if msg.status == Some(StatusCode::NO_RESPONDERS) {
                            return Err(NatsLinkError::NoResponders { alias: alias.to_owned() });
                        }
                        if verify_answer(&session, "reply", alias, &id_text, &msg) {
                            return Ok(msg.payload);
                        }
                        forged += 1;
                        tracing::warn!(alias, "refused a reply with a bad signature");
                    }
                    Some(Routed::Progress(msg)) => {
                        if verify_answer(&session, "progress", alias, &id_text, &msg) {
                            progress(msg.payload);
                        } else {
                            tracing::warn!(alias, "refused a progress message with a bad signature");
                        }
                    }
                    None => return Err(NatsLinkError::Disconnected {
                        cause: "the caller's inbox subscription ended".into(),
                    }),
                },
                _ = tokio::time::sleep_until(deadline) => {
                    return Err(NatsLinkError::Timeout { alias: alias.to_owned(), after: timeout, forged });
                }
            }
        }
    }

    async fn send_cancel(&self, alias: &str, id_text: &str) {
        let subject = self.keys.fleet().cancel_subject(alias, id_text);
        let sig = sign::sign(
            self.keys.call_key(),
            &[b"cancel", subject.as_bytes(), id_text.as_bytes()],
        );
        let mut h = HeaderMap::new();
        h.insert(HEADER_SIG, sig.as_str());
        if let Err(e) = self
            .conn
            .client()
            .publish_with_headers(subject, h, Bytes::new())
            .await
        {
            tracing::debug!(alias, error = %e, "cancel publish failed");
        }
    }

    /// One publish to every worker of the fleet on `hyperfed.<fleet>.fanout.<tool>`; gathers
    /// signed replies until every expected alias answered or `timeout` passes. Expected aliases
    /// without a live registration count as unanswered at once.
    pub async fn fanout(
        &self,
        tool: &str,
        body: Bytes,
        expected: &[String],
        timeout: Duration,
    ) -> Result<FanOutReplies, NatsLinkError> {
        check_token("tool", tool)?;
        self.conn.ensure_connected()?;
        self.check_size(&body)?;
        let mut waiting: HashMap<&str, SessionKey> = HashMap::with_capacity(expected.len());
        let mut unanswered = Vec::new();
        for alias in expected {
            match self.live.session_key(alias) {
                Some(key) => {
                    waiting.insert(alias.as_str(), key);
                }
                None => unanswered.push(alias.clone()),
            }
        }
        let mut out = FanOutReplies::default();
        if waiting.is_empty() {
            unanswered.sort();
            out.unanswered = unanswered;
            return Ok(out);
        }
        let (_, id_text, mut rx, _route) = self.open_route();
        let reply = format!("{}.{id_text}", self.inbox);
        let mut state = self.conn.state_changes();
        state.borrow_and_update();
        let deadline = tokio::time::Instant::now() + timeout;
        self.publish_signed(
            self.keys.fleet().fanout_subject(tool),
            reply,
            &id_text,
            None,
            body,
        )
        .await?;
        out.answered.reserve(waiting.len());
        while !waiting.is_empty() {
            tokio::select! {
                biased;
                Ok(()) = state.changed() => {
                    if let LinkState::Disconnected { cause } = state.borrow_and_update().clone() {
                        return Err(NatsLinkError::Disconnected { cause });
                    }
                }
                routed = rx.recv() => match routed {
                    Some(Routed::Reply(msg)) => {
                        if msg.status == Some(StatusCode::NO_RESPONDERS) {
                            break;
                        }
                        let Some(alias) = header(&msg, HEADER_ALIAS) else {
                            out.forged += 1;
                            continue;
                        };
                        let Some(key) = waiting.get(alias) else {
                            continue;
                        };
                        if verify_answer(key, "reply", alias, &id_text, &msg) {
                            let alias = alias.to_owned();
                            waiting.remove(alias.as_str());
                            out.answered.push((alias, msg.payload));
                        } else {
                            out.forged += 1;
                        }
                    }
                    Some(Routed::Progress(_)) => {}
                    None => break,
                },
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
        unanswered.extend(waiting.into_keys().map(str::to_owned));
        unanswered.sort();
        out.unanswered = unanswered;
        Ok(out)
    }
}

fn header<'a>(msg: &'a Message, name: &str) -> Option<&'a str> {
    msg.headers
        .as_ref()
        .and_then(|h| h.get(name))
        .map(|v| v.as_str())
}

/// True when `msg` is a reply/progress of request `id` by `alias`, signed with its session key.
fn verify_answer(key: &SessionKey, kind: &str, alias: &str, id: &str, msg: &Message) -> bool {
    header(msg, HEADER_ID) == Some(id)
        && header(msg, HEADER_ALIAS) == Some(alias)
        && header(msg, HEADER_SIG).is_some_and(|sig| {
            sign::verify(
                &key.0,
                &[
                    kind.as_bytes(),
                    alias.as_bytes(),
                    id.as_bytes(),
                    &msg.payload,
                ],
                sig,
            )
        })
}

/// Hands an inbox message to the request it belongs to (`<inbox>.<id>` or `<inbox>.<id>.p`).
fn route(pending: &Pending, prefix: &str, msg: Message) {
    let Some(rest) = msg.subject.as_str().strip_prefix(prefix) else {
        return;
    };
    let (id_text, is_progress) = match rest.split_once('.') {
        Some((id, "p")) => (id, true),
        Some(_) => return,
        None => (rest, false),
    };
    let Some(id) = parse_id(id_text) else {
        return;
    };
    let tx = pending.lock().ok().and_then(|m| m.get(&id).cloned());
    if let Some(tx) = tx {
        let _ = tx.send(if is_progress {
            Routed::Progress(msg)
        } else {
            Routed::Reply(msg)
        });
    }
}
