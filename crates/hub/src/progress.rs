//! The progress relay of one forwarded call: passes a worker's progress notifications on to
//! the client that asked for them (only increasing values, with the client's own token) and
//! remembers the HyperCore task tag the messages name, for the audit.

use std::sync::Mutex;

use rmcp::model::{ProgressNotificationParam, ProgressToken};
use rmcp::service::{Peer, RoleServer};

/// Where a client wants a call's progress: its MCP session and the token it chose.
pub(crate) type ProgressTarget = (Peer<RoleServer>, ProgressToken);

/// The task tag in a worker progress message such as `task 1234 RUNNING 40%`.
pub(crate) fn task_tag_in(message: &str) -> Option<String> {
    let tag = message.strip_prefix("task ")?.split_whitespace().next()?;
    (!tag.is_empty()
        && tag.len() <= 64
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
    .then(|| tag.to_owned())
}

/// What the relay has seen so far.
struct Seen {
    /// The last progress value passed on.
    last: f64,
    /// The HyperCore task tag named in the worker's progress messages (`task <tag> ...`).
    task_tag: Option<String>,
}

/// Relays one forwarded call's progress from its worker link to its client (if the client
/// asked) and keeps the task tag. A worker link hands every progress notification of the call
/// to [`ProgressRelay::relay`], in any order.
pub(crate) struct ProgressRelay {
    client: Option<ProgressTarget>,
    seen: Mutex<Seen>,
    /// Told the task tag the first time one is seen (the audit records it at once).
    tag_sink: Mutex<Option<tokio::sync::oneshot::Sender<String>>>,
}

impl ProgressRelay {
    /// A relay to `client` (None: only the task tag is wanted, for the audit).
    pub(crate) fn new(client: Option<ProgressTarget>) -> Self {
        ProgressRelay {
            client,
            seen: Mutex::new(Seen {
                last: f64::NEG_INFINITY,
                task_tag: None,
            }),
            tag_sink: Mutex::new(None),
        }
    }

    /// A relay that also sends the first task tag it sees to `sink`.
    pub(crate) fn with_tag_sink(
        client: Option<ProgressTarget>,
        sink: Option<tokio::sync::oneshot::Sender<String>>,
    ) -> Self {
        let relay = Self::new(client);
        if let Ok(mut g) = relay.tag_sink.lock() {
            *g = sink;
        }
        relay
    }

    /// Notes the task tag and decides whether `params` goes on: notifications are handled on
    /// separate tasks, so they can arrive out of order, and only increasing values may pass
    /// (as the spec requires of progress). Returns the client's params to send, if any.
    pub(crate) fn accept(
        &self,
        mut params: ProgressNotificationParam,
    ) -> Option<(Peer<RoleServer>, ProgressNotificationParam)> {
        let mut seen = match self.seen.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        if seen.task_tag.is_none()
            && let Some(tag) = params.message.as_deref().and_then(task_tag_in)
        {
            seen.task_tag = Some(tag.clone());
            let sink = self.tag_sink.lock().ok().and_then(|mut g| g.take());
            if let Some(sink) = sink {
                let _ = sink.send(tag);
            }
        }
        if params.progress <= seen.last {
            return None;
        }
        seen.last = params.progress;
        drop(seen);
        let (peer, token) = self.client.as_ref()?;
        params.progress_token = token.clone();
        Some((peer.clone(), params))
    }

    /// Passes `params` on to the client when [`accept`](Self::accept) lets it through.
    pub(crate) async fn relay(&self, params: ProgressNotificationParam) {
        if let Some((peer, params)) = self.accept(params) {
            let _ = peer.notify_progress(params).await;
        }
    }

    /// The task tag seen in the call's progress messages so far.
    pub(crate) fn task_tag(&self) -> Option<String> {
        match self.seen.lock() {
            Ok(g) => g.task_tag.clone(),
            Err(poisoned) => poisoned.into_inner().task_tag.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::NumberOrString;

    fn note(progress: f64, message: Option<&str>) -> ProgressNotificationParam {
        let mut p =
            ProgressNotificationParam::new(ProgressToken(NumberOrString::Number(7)), progress);
        p.message = message.map(str::to_owned);
        p
    }

    #[test]
    fn task_tags_are_read_from_progress_messages() {
        assert_eq!(task_tag_in("task 1234 RUNNING 40%"), Some("1234".into()));
        assert_eq!(task_tag_in("task ab-c_9"), Some("ab-c_9".into()));
        assert_eq!(task_tag_in("task "), None);
        assert_eq!(task_tag_in("task a/b"), None);
        assert_eq!(task_tag_in("working"), None);
        assert_eq!(task_tag_in(&format!("task {}", "x".repeat(65))), None);
    }

    #[test]
    fn only_increasing_values_pass_and_the_first_tag_is_kept() {
        let relay = ProgressRelay::new(None);
        // Without a client nothing is sent, but values and the tag are still tracked.
        assert!(relay.accept(note(10.0, Some("task 42 QUEUED"))).is_none());
        assert_eq!(relay.task_tag(), Some("42".into()));
        relay.accept(note(20.0, Some("task 99 RUNNING")));
        assert_eq!(relay.task_tag(), Some("42".into()), "first tag wins");
        let seen = relay.seen.lock().unwrap().last;
        assert_eq!(seen, 20.0);
        relay.accept(note(15.0, None));
        assert_eq!(
            relay.seen.lock().unwrap().last,
            20.0,
            "a late lower value is dropped"
        );
        relay.accept(note(20.0, None));
        assert_eq!(relay.seen.lock().unwrap().last, 20.0);
        relay.accept(note(30.0, None));
        assert_eq!(relay.seen.lock().unwrap().last, 30.0);
    }

    #[test]
    fn a_tag_in_a_dropped_notification_still_counts() {
        let relay = ProgressRelay::new(None);
        relay.accept(note(50.0, None));
        relay.accept(note(10.0, Some("task 7 RUNNING")));
        assert_eq!(relay.task_tag(), Some("7".into()));
    }
}
