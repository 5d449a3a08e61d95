//! Forwarding one call to its cluster's worker link: the race against the call timeout, the
//! client's cancellation, the cluster going down, the link ending and the hub stopping, and
//! the one place where a lost call gets its message (and a lost action its "outcome unknown").

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use rmcp::model::{CallToolResult, JsonObject};
use serde_json::value::RawValue;
use tokio_util::sync::CancellationToken;

use crate::call_context::CallContext;
use crate::error::{CALL_TIMEOUT_NOTE, HubError};
use crate::hub::Hub;
use crate::link::{LinkError, WorkerLink};
use crate::progress::ProgressRelay;

/// What can end a forwarded call before its answer.
pub(crate) struct CallSignals<'a> {
    /// The client cancelled its request.
    pub cancel: &'a CancellationToken,
    /// The hub is shutting down.
    pub stopping: &'a CancellationToken,
    /// The cluster was marked down (missed heartbeats).
    pub down: &'a CancellationToken,
    /// The call timeout.
    pub timeout: Duration,
}

/// A call whose worker was lost (timeout, down, unreachable) mid-flight: outcome unknown.
pub(crate) fn lost(alias: &str, message: String) -> HubError {
    HubError::UpstreamLost {
        alias: alias.to_owned(),
        message,
    }
}

/// A call that failed with a known outcome (not run, refused, malformed answer).
fn failed(alias: &str, message: String) -> HubError {
    HubError::Upstream {
        alias: alias.to_owned(),
        message,
    }
}

/// The hub's error for a link error on `alias`.
fn link_error(alias: &str, e: LinkError) -> HubError {
    match e {
        LinkError::Failed(m) => failed(alias, m),
        LinkError::Lost(m) => lost(alias, m),
    }
}

/// Awaits `call` on `link` until it answers or one of `signals` ends it first (the call
/// future is then dropped, which abandons the call on the worker).
pub(crate) async fn race<T>(
    alias: &str,
    link: &dyn WorkerLink,
    signals: &CallSignals<'_>,
    call: impl Future<Output = Result<T, LinkError>>,
) -> Result<T, HubError> {
    tokio::select! {
        _ = signals.cancel.cancelled() => Err(failed(alias, "the call was cancelled by the client".into())),
        _ = signals.stopping.cancelled() => Err(lost(
            alias,
            "the hub is shutting down; the call was abandoned (call again once it is back)".into(),
        )),
        _ = signals.down.cancelled() => Err(lost(
            alias,
            "it went down (missed its heartbeats) while the call was in flight".into(),
        )),
        reason = link.end_signal().ended() => Err(lost(alias, reason.into())),
        r = tokio::time::timeout(signals.timeout, call) => match r {
            Ok(result) => result.map_err(|e| link_error(alias, e)),
            Err(_) => Err(lost(
                alias,
                format!(
                    "no answer within {} {CALL_TIMEOUT_NOTE}",
                    humantime::format_duration(signals.timeout)
                ),
            )),
        },
    }
}

/// The error of an action whose worker was lost: it may have acted, so its outcome is
/// unknown; names the HyperCore task when the worker's progress named one.
pub(crate) fn outcome_unknown(alias: String, message: String, task_tag: Option<&str>) -> HubError {
    let task = match task_tag {
        Some(t) => format!(
            "HyperCore accepted it as task {t}; check it with {alias}__task_status once the cluster is back"
        ),
        None => format!(
            "it may or may not have been carried out; check the cluster once '{alias}' is back"
        ),
    };
    HubError::UpstreamLost {
        alias,
        message: format!("{message}; the action's outcome is unknown: {task}"),
    }
}

/// Forwards one call to `alias`'s worker with timeout, cancellation and progress; also
/// returns the HyperCore task tag seen in the worker's progress messages (`track`: watch
/// progress even if the client did not ask for it, for the audit; `tag_sink` hears the tag
/// as soon as it is seen).
pub(crate) async fn forward(
    hub: &Hub,
    alias: &str,
    tool: &str,
    arguments: JsonObject,
    ctx: &CallContext,
    track: bool,
    tag_sink: Option<tokio::sync::oneshot::Sender<String>>,
) -> (Result<CallToolResult, HubError>, Option<String>) {
    let live = match hub.live_link(alias) {
        Ok(l) => l,
        Err(e) => return (Err(e), None),
    };
    let relay = (ctx.progress.is_some() || track)
        .then(|| Arc::new(ProgressRelay::with_tag_sink(ctx.progress.clone(), tag_sink)));
    let signals = CallSignals {
        cancel: &ctx.cancel,
        stopping: hub.calls_stopping(),
        down: &live.up,
        timeout: hub.config().call_timeout,
    };
    let link = live.link.as_ref();
    let result = race(
        alias,
        link,
        &signals,
        link.call(tool, arguments, relay.clone()),
    )
    .await;
    (result, relay.and_then(|r| r.task_tag()))
}

/// Calls a read-only `tool` on `alias`'s worker with one stateless call; returns the JSON
/// text of its `CallToolResult` (a worker's error result has the cluster named in it).
pub(crate) async fn forward_stateless(
    hub: &Hub,
    alias: &str,
    tool: &str,
    arguments: Option<&RawValue>,
    cancel: &CancellationToken,
    timeout: Duration,
) -> Result<Bytes, HubError> {
    let live = hub.live_link(alias)?;
    let signals = CallSignals {
        cancel,
        stopping: hub.calls_stopping(),
        down: &live.up,
        timeout,
    };
    let link = live.link.as_ref();
    race(alias, link, &signals, link.call_stateless(tool, arguments)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    use rmcp::model::{ContentBlock, Tool};

    use crate::link::{BoxFuture, EndSignal, name_cluster_in_error};

    /// How the fake worker answers.
    enum Answer {
        Result(CallToolResult),
        Fail(LinkError),
        Never,
    }

    /// A worker link in memory: proves the hub needs nothing of HTTP to forward a call.
    struct FakeLink {
        answer: Answer,
        ended: EndSignal,
        /// Set when a call future is dropped before it answered (the call was abandoned).
        abandoned: Arc<AtomicBool>,
    }

    struct DropFlag(Arc<AtomicBool>, bool);
    impl DropFlag {
        fn disarm(&mut self) {
            self.1 = true;
        }
    }

    impl Drop for DropFlag {
        fn drop(&mut self) {
            if !self.1 {
                self.0.store(true, Ordering::SeqCst);
            }
        }
    }

    impl FakeLink {
        fn new(answer: Answer) -> Self {
            FakeLink {
                answer,
                ended: EndSignal::default(),
                abandoned: Arc::new(AtomicBool::new(false)),
            }
        }
    }

    impl WorkerLink for FakeLink {
        fn call<'a>(
            &'a self,
            _tool: &'a str,
            _arguments: JsonObject,
            _progress: Option<Arc<ProgressRelay>>,
        ) -> BoxFuture<'a, Result<CallToolResult, LinkError>> {
            // Made with the future, so dropping it unpolled also counts as abandoning.
            let flag = DropFlag(self.abandoned.clone(), false);
            Box::pin(async move {
                let mut flag = flag;
                let out = match &self.answer {
                    Answer::Result(r) => Ok(name_cluster_in_error("c1", r.clone())),
                    Answer::Fail(e) => Err(e.clone()),
                    Answer::Never => std::future::pending().await,
                };
                flag.disarm();
                out
            })
        }

        fn call_stateless<'a>(
            &'a self,
            _tool: &'a str,
            _arguments: Option<&'a RawValue>,
        ) -> BoxFuture<'a, Result<Bytes, LinkError>> {
            Box::pin(async { Err(LinkError::Failed("not used".into())) })
        }

        fn list_tools<'a>(
            &'a self,
            _limits: &'a crate::link::ListLimits,
        ) -> BoxFuture<'a, Result<Vec<Tool>, crate::link::ListError>> {
            Box::pin(async { Ok(Vec::new()) })
        }

        fn end_signal(&self) -> &EndSignal {
            &self.ended
        }

        fn close(&self) {
            self.ended.end("closed");
        }
    }

    struct Tokens {
        cancel: CancellationToken,
        stopping: CancellationToken,
        down: CancellationToken,
    }

    impl Tokens {
        fn new() -> Self {
            Tokens {
                cancel: CancellationToken::new(),
                stopping: CancellationToken::new(),
                down: CancellationToken::new(),
            }
        }
        fn signals(&self, timeout: Duration) -> CallSignals<'_> {
            CallSignals {
                cancel: &self.cancel,
                stopping: &self.stopping,
                down: &self.down,
                timeout,
            }
        }
    }

    async fn run(
        link: &FakeLink,
        tokens: &Tokens,
        timeout: Duration,
    ) -> Result<CallToolResult, HubError> {
        let signals = tokens.signals(timeout);
        race(
            "c1",
            link,
            &signals,
            link.call("vm_start", JsonObject::new(), None),
        )
        .await
    }

    const LONG: Duration = Duration::from_secs(30);

    #[tokio::test]
    async fn a_tool_error_is_a_result_naming_the_cluster_not_a_hub_error() {
        let link = FakeLink::new(Answer::Result(CallToolResult::error(vec![
            ContentBlock::text("VM not found"),
        ])));
        let r = run(&link, &Tokens::new(), LONG).await.unwrap();
        assert_eq!(r.is_error, Some(true));
        assert_eq!(
            r.content[0].as_text().unwrap().text,
            "cluster 'c1': VM not found"
        );
    }

    #[tokio::test]
    async fn failed_calls_are_upstream_errors_and_lost_ones_lost() {
        let link = FakeLink::new(Answer::Fail(LinkError::Failed(
            "the worker refused the call: no".into(),
        )));
        match run(&link, &Tokens::new(), LONG).await {
            Err(e @ HubError::Upstream { .. }) => {
                assert_eq!(
                    e.to_string(),
                    "cluster 'c1': the worker refused the call: no"
                )
            }
            other => panic!("{:?}", other.map(|_| ())),
        }
        let link = FakeLink::new(Answer::Fail(LinkError::Lost(
            "the worker connection failed: reset".into(),
        )));
        match run(&link, &Tokens::new(), LONG).await {
            Err(e @ HubError::UpstreamLost { .. }) => {
                assert_eq!(
                    e.to_string(),
                    "cluster 'c1': the worker connection failed: reset"
                )
            }
            other => panic!("{:?}", other.map(|_| ())),
        }
    }

    #[tokio::test]
    async fn a_timeout_is_a_lost_call_and_abandons_it() {
        let link = FakeLink::new(Answer::Never);
        let e = run(&link, &Tokens::new(), Duration::from_millis(20))
            .await
            .unwrap_err();
        assert!(matches!(e, HubError::UpstreamLost { .. }));
        assert_eq!(
            e.to_string(),
            "cluster 'c1': no answer within 20ms (call timeout)"
        );
        assert!(
            link.abandoned.load(Ordering::SeqCst),
            "the call future was dropped"
        );
    }

    #[tokio::test]
    async fn every_early_end_has_its_message() {
        type Trigger = fn(&Tokens, &FakeLink);
        let cases: [(&str, Trigger); 4] = [
            (
                "cluster 'c1': the call was cancelled by the client",
                |t, _| t.cancel.cancel(),
            ),
            (
                "cluster 'c1': the hub is shutting down; the call was abandoned (call again once it is back)",
                |t, _| t.stopping.cancel(),
            ),
            (
                "cluster 'c1': it went down (missed its heartbeats) while the call was in flight",
                |t, _| t.down.cancel(),
            ),
            ("cluster 'c1': the worker left", |_, l| {
                l.ended.end("the worker left")
            }),
        ];
        for (i, (want, trigger)) in cases.into_iter().enumerate() {
            let link = FakeLink::new(Answer::Never);
            let tokens = Tokens::new();
            trigger(&tokens, &link);
            let e = run(&link, &tokens, LONG).await.unwrap_err();
            assert_eq!(e.to_string(), want);
            let lost = matches!(e, HubError::UpstreamLost { .. });
            assert_eq!(
                lost,
                i > 0,
                "only a client cancel is a known outcome: {want}"
            );
            assert!(link.abandoned.load(Ordering::SeqCst));
        }
    }

    #[test]
    fn lost_actions_say_their_outcome_is_unknown() {
        let e = outcome_unknown(
            "c1".into(),
            "no answer within 1s (call timeout)".into(),
            Some("77"),
        );
        assert_eq!(
            e.to_string(),
            "cluster 'c1': no answer within 1s (call timeout); the action's outcome is unknown: HyperCore accepted it as task 77; check it with c1__task_status once the cluster is back"
        );
        let e = outcome_unknown("c1".into(), "x".into(), None);
        assert!(e.to_string().ends_with(
            "it may or may not have been carried out; check the cluster once 'c1' is back"
        ));
    }
}
