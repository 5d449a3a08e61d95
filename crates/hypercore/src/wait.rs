//! Waiting: the one task-wait loop and the one VM-state wait, both bounded, cancellable and
//! observable (every status read is handed to the caller, which may report progress).

use std::future::Future;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::client::Client;
use crate::error::{Error, Result, clean_server_text};
use crate::model::{TaskTag, VirDomain, VmState};
use crate::observe::WaitOutcome;

/// Consecutive retryable poll failures tolerated by default.
pub const DEFAULT_POLL_RETRIES: u32 = 3;

/// How long and how often to poll, how many failed polls to tolerate, and when to stop early.
#[derive(Debug, Clone)]
pub struct WaitOptions {
    /// Give up after this long.
    pub timeout: Duration,
    /// Time between polls.
    pub poll_interval: Duration,
    /// Consecutive retryable poll failures tolerated before the failure is returned.
    pub poll_retries: u32,
    /// Stop waiting (with [`Error::Cancelled`]) when this fires; the task itself goes on.
    pub cancel: Option<CancellationToken>,
}

impl Default for WaitOptions {
    fn default() -> Self {
        WaitOptions {
            timeout: Duration::from_secs(300),
            poll_interval: Duration::from_secs(1),
            poll_retries: DEFAULT_POLL_RETRIES,
            cancel: None,
        }
    }
}

impl WaitOptions {
    /// Waits up to `timeout`, polling every second.
    pub fn new(timeout: Duration) -> Self {
        WaitOptions {
            timeout,
            ..WaitOptions::default()
        }
    }

    /// Sets the poll interval.
    pub fn with_poll_interval(mut self, poll_interval: Duration) -> Self {
        self.poll_interval = poll_interval;
        self
    }

    /// Sets how many consecutive retryable poll failures are tolerated (0: the first fails).
    pub fn with_poll_retries(mut self, poll_retries: u32) -> Self {
        self.poll_retries = poll_retries;
        self
    }

    /// Stops waiting when `cancel` fires.
    pub fn with_cancel(mut self, cancel: CancellationToken) -> Self {
        self.cancel = Some(cancel);
        self
    }

    /// Sleeps until the next poll (never past the deadline); `Err(Cancelled)` when cancelled.
    async fn pause(&self, started: Instant, what: impl FnOnce() -> String) -> Result<()> {
        let remaining = self.timeout.saturating_sub(started.elapsed());
        let nap = tokio::time::sleep(self.poll_interval.min(remaining));
        match &self.cancel {
            Some(cancel) => tokio::select! {
                _ = cancel.cancelled() => Err(Error::Cancelled { what: what() }),
                _ = nap => Ok(()),
            },
            None => {
                nap.await;
                Ok(())
            }
        }
    }
}

impl Client {
    /// The status of one task; `None` for an empty tag or when HyperCore no longer knows it.
    pub async fn task(&self, tag: &str) -> Result<Option<TaskTag>> {
        if tag.is_empty() {
            return Ok(None);
        }
        self.get_task(tag).await
    }

    /// Polls a task until it completes (`Ok`), fails (`Error::Task`), the timeout passes
    /// (`Error::Timeout`) or the wait is cancelled (`Error::Cancelled`). `progress` sees every
    /// status read. An empty tag or an unknown task counts as done (`Ok(None)`).
    pub async fn wait_task(
        &self,
        tag: &str,
        options: WaitOptions,
        mut progress: impl FnMut(&TaskTag),
    ) -> Result<Option<TaskTag>> {
        self.wait_task_reporting(tag, options, |status| {
            progress(status);
            std::future::ready(())
        })
        .await
    }

    /// [`Client::wait_task`] whose observer answers a future (for example sending a progress
    /// notification), awaited before the task is judged and before the next poll.
    pub async fn wait_task_reporting<Report, Reported>(
        &self,
        tag: &str,
        options: WaitOptions,
        report: Report,
    ) -> Result<Option<TaskTag>>
    where
        Report: FnMut(&TaskTag) -> Reported,
        Reported: Future<Output = ()>,
    {
        if tag.is_empty() {
            return Ok(None);
        }
        let started = Instant::now();
        let result = self.wait_task_loop(tag, options, report, started).await;
        let outcome = match &result {
            Ok(_) => WaitOutcome::Done,
            Err(Error::Task { .. }) => WaitOutcome::Failed,
            Err(Error::Timeout { .. }) => WaitOutcome::Timeout,
            Err(Error::Cancelled { .. }) => WaitOutcome::Cancelled,
            Err(_) => WaitOutcome::Error,
        };
        self.observe_wait(outcome, started);
        result
    }

    async fn wait_task_loop<Report, Reported>(
        &self,
        tag: &str,
        options: WaitOptions,
        mut report: Report,
        started: Instant,
    ) -> Result<Option<TaskTag>>
    where
        Report: FnMut(&TaskTag) -> Reported,
        Reported: Future<Output = ()>,
    {
        let mut failures = 0;
        loop {
            match self.task(tag).await {
                Ok(None) => return Ok(None),
                Ok(Some(status)) => {
                    failures = 0;
                    report(&status).await;
                    if status.is_failed() {
                        let mut message = status.message();
                        if message.trim().is_empty() {
                            message = format!(
                                "task ended in state {} ({})",
                                status.state,
                                status.description()
                            );
                        }
                        return Err(Error::Task {
                            tag: tag.to_owned(),
                            message: clean_server_text(&message),
                        });
                    }
                    if !status.is_pending() {
                        return Ok(Some(status));
                    }
                }
                Err(e) if e.is_retryable() && failures < options.poll_retries => {
                    failures += 1;
                    tracing::debug!(task = tag, error = %e, "task poll failed; retrying");
                }
                Err(e) => return Err(e),
            }
            if started.elapsed() >= options.timeout {
                return Err(Error::Timeout {
                    what: format!("task {tag}"),
                    after: options.timeout,
                });
            }
            options.pause(started, || format!("task {tag}")).await?;
        }
    }

    /// Polls a VM until it reaches `state` (asking for SHUTDOWN waits for SHUTOFF); `progress`
    /// sees every record read. Fails with `NotFound` when the VM disappears, `Timeout` or
    /// `Cancelled`.
    pub async fn wait_vm_state(
        &self,
        vm_uuid: &str,
        state: VmState,
        options: WaitOptions,
        mut progress: impl FnMut(&VirDomain),
    ) -> Result<VirDomain> {
        let target = if state == VmState::Shutdown {
            VmState::Shutoff
        } else {
            state
        };
        let what = || format!("VM {vm_uuid} to reach {target}");
        let started = Instant::now();
        let mut failures = 0;
        loop {
            match self.get_vm(vm_uuid).await {
                Ok(Some(vm)) => {
                    failures = 0;
                    progress(&vm);
                    if vm.state == target {
                        return Ok(vm);
                    }
                }
                Ok(None) => {
                    return Err(Error::NotFound {
                        kind: "VirDomain".into(),
                        id: vm_uuid.to_owned(),
                    });
                }
                Err(e) if e.is_retryable() && failures < options.poll_retries => failures += 1,
                Err(e) => return Err(e),
            }
            if started.elapsed() >= options.timeout {
                return Err(Error::Timeout {
                    what: what(),
                    after: options.timeout,
                });
            }
            options.pause(started, what).await?;
        }
    }
}
