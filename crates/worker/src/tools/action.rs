//! Steps every action shares: the cluster's action lock (one mutation at a time, held until
//! its task ends), submitting, and waiting for the task with progress notifications, through
//! the HyperCore client's one task-wait loop.

use std::future::Future;
use std::time::{Duration, Instant};

use hypercore::WaitOptions;
use hypercore::model::{TaskResult, TaskTag};
use serde_json::{Value, json};

use super::rows::{redact_words, task_text};
use super::{ToolCall, ToolResult};
use crate::state::WorkerState;

/// Held while one action runs on the cluster (submission until its task ends).
pub(super) type ActionGuard = tokio::sync::OwnedMutexGuard<()>;

impl WorkerState {
    /// Waiting as this worker does: bounded by `timeout`, polling at the worker's interval,
    /// a failed poll ends the wait.
    pub(super) fn wait_options(&self, timeout: Duration) -> WaitOptions {
        WaitOptions::new(timeout)
            .with_poll_interval(self.poll_interval)
            .with_poll_retries(0)
    }

    /// Takes this cluster's action lock (one mutation at a time per cluster, held until its
    /// task ends); the flag says whether another action had to finish first.
    pub(super) async fn begin_action(&self) -> Result<(ActionGuard, bool), String> {
        if let Ok(guard) = self.action_lock.clone().try_lock_owned() {
            return Ok((guard, false));
        }
        match tokio::time::timeout(self.wait_timeout, self.action_lock.clone().lock_owned()).await {
            Ok(guard) => Ok((guard, true)),
            Err(_) => Err(format!(
                "cluster '{}' is busy: another action has been running for over {} s; try again later",
                self.cluster_label(),
                self.wait_timeout.as_secs()
            )),
        }
    }

    /// Keeps the action lock until task `tag` ends (or the wait bound passes), in the background.
    pub(super) fn release_when_done(&self, tag: &str, guard: ActionGuard) {
        if tag.is_empty() {
            return;
        }
        let cluster = self.cluster.clone();
        let (tag, options) = (tag.to_owned(), self.wait_options(self.wait_timeout));
        tokio::spawn(async move {
            let _ = cluster.client().wait_task(&tag, options, |_| {}).await;
            // The task's effects are in place now: the next read must see them.
            cluster.invalidate();
            drop(guard);
        });
    }
}

impl ToolCall<'_> {
    /// Takes the action slot, submits `submit` (a future: nothing is sent before the slot is
    /// held), waits for its task as the call asks, lets `decorate` add the tool's own fields
    /// and stamps `waited_ms`. `scrub` is applied to the cluster's and the wait's error messages.
    pub(super) async fn run_task(
        &self,
        submit: impl Future<Output = hypercore::Result<TaskResult>>,
        scrub: impl Fn(String) -> String,
        decorate: impl FnOnce(&mut Value, &TaskResult),
    ) -> ToolResult {
        let (guard, _) = self.state.begin_action().await?;
        let started = Instant::now();
        let task = submit.await.map_err(|e| scrub(self.cluster_err(e)))?;
        let mut out = self
            .finish(&task.task_tag, started, guard)
            .await
            .map_err(&scrub)?;
        decorate(&mut out, &task);
        out["waited_ms"] = json!(started.elapsed().as_millis() as u64);
        Ok(out)
    }

    /// Waits for task `tag` (unless the call says `wait: false`) within what is left of the
    /// wait bound since `started`, reporting progress, and shapes the common action result.
    pub(super) async fn finish(
        &self,
        tag: &str,
        started: Instant,
        guard: ActionGuard,
    ) -> ToolResult {
        let state = self.state;
        if tag.is_empty() {
            return Ok(json!({"task_tag": "", "state": "COMPLETE"}));
        }
        if !self.wants_wait() {
            state.release_when_done(tag, guard);
            return Ok(
                json!({"task_tag": tag, "state": "QUEUED", "message": "not waiting; poll task_status with this task_tag"}),
            );
        }
        let mut options = state.wait_options(state.wait_timeout.saturating_sub(started.elapsed()));
        options.cancel = self.progress.cancellation();
        let mut last: Option<TaskTag> = None;
        let mut last_pct = -1.0;
        let progress = self.progress;
        let outcome = state
            .cluster
            .client()
            .wait_task_reporting(tag, options, |status| {
                let pct = f64::from(status.progress_percent);
                let report = if status.state == hypercore::model::TaskState::Complete {
                    Some((100.0, "COMPLETE".to_owned()))
                } else if status.is_pending() && pct > last_pct {
                    last_pct = pct;
                    Some((
                        pct.min(99.0),
                        format!("task {tag} {} {pct:.0}%", status.state),
                    ))
                } else {
                    None
                };
                last = Some(status.clone());
                async move {
                    if let Some((percent, message)) = report {
                        progress.report(percent, message).await;
                    }
                }
            })
            .await;
        let last_state = last
            .as_ref()
            .map(|t| t.state.to_string())
            .unwrap_or_default();
        match outcome {
            Ok(_) => Ok(json!({"task_tag": tag, "state": "COMPLETE"})),
            Err(hypercore::Error::Task { .. }) => {
                let msg = last
                    .as_ref()
                    .map(|t| task_text(&t.formatted_message, &t.message_parameters))
                    .unwrap_or_default();
                Err(format!(
                    "HyperCore task {tag} ended in {last_state}: {}",
                    if msg.is_empty() {
                        "no message given".to_owned()
                    } else {
                        redact_words(&msg)
                    }
                ))
            }
            Err(hypercore::Error::Timeout { .. }) => Ok(json!({
                "task_tag": tag,
                "state": last_state,
                "timed_out": true,
                "message": format!("still {last_state} after {} s; poll task_status with this task_tag", state.wait_timeout.as_secs()),
            })),
            Err(hypercore::Error::Cancelled { .. }) => {
                state.release_when_done(tag, guard);
                Ok(json!({
                    "task_tag": tag,
                    "state": last_state,
                    "message": "the request was cancelled; the task continues on the cluster (see task_status)",
                }))
            }
            Err(e) => Err(self.cluster_err(e)),
        }
    }
}
