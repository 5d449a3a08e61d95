//! Multi-step power sequences several tools share: an ACPI shutdown with a bounded wait and an
//! optional hard stop after it, a start, and single task waits, each recorded as a step and
//! reported as progress. The caller holds the cluster's action lock throughout.

use std::time::{Duration, Instant};

use hypercore::VmAction;
use hypercore::model::{VirDomain, VmState};
use serde_json::{Value, json};

use super::ToolCall;
use super::rows::redact_words;

/// The steps of a sequence, in order, with their timings (`steps` in the result).
pub(super) struct Steps<'a> {
    call: ToolCall<'a>,
    started: Instant,
    /// The steps taken so far.
    pub list: Vec<Value>,
    /// Number of steps the sequence will take at most (for progress percentages).
    pub planned: usize,
}

impl<'a> Steps<'a> {
    /// An empty record for `call`, expecting at most `planned` steps.
    pub fn new(call: ToolCall<'a>, planned: usize) -> Self {
        Self {
            call,
            started: Instant::now(),
            list: Vec::new(),
            planned: planned.max(1),
        }
    }

    /// Records step `name` with its `detail` and reports it as progress.
    pub async fn record(&mut self, name: &str, detail: Value) {
        let mut step = json!({"step": name, "at_ms": self.started.elapsed().as_millis() as u64});
        if let (Some(step), Value::Object(more)) = (step.as_object_mut(), detail) {
            step.extend(more);
        }
        self.list.push(step);
        let pct = (self.list.len() as f64 * 100.0 / self.planned as f64).min(99.0);
        self.call
            .progress
            .report(pct, format!("step {}: {name}", self.list.len()))
            .await;
    }
}

impl ToolCall<'_> {
    /// Waits (bounded by the wait timeout) for task `tag` to end; a failed task is its message.
    pub(super) async fn wait_step(&self, tag: &str) -> Result<(), String> {
        let state = self.state;
        let mut options = state.wait_options(state.wait_timeout);
        options.cancel = self.progress.cancellation();
        match state.cluster.client().wait_task(tag, options, |_| {}).await {
            Ok(_) => Ok(()),
            Err(hypercore::Error::Task { tag, message }) => Err(format!(
                "HyperCore task {tag} failed: {}",
                redact_words(&message)
            )),
            Err(e) => Err(self.cluster_err(e)),
        }
    }

    /// Waits up to `bound` for VM `uuid` to reach `target`; answers the VM as last read.
    async fn wait_vm(&self, uuid: &str, target: VmState, bound: Duration) -> Option<VirDomain> {
        let state = self.state;
        let mut options = state.wait_options(bound);
        options.cancel = self.progress.cancellation();
        let client = state.cluster.client();
        let mut last = None;
        let _ = client
            .wait_vm_state(uuid, target, options, |vm| last = Some(vm.clone()))
            .await;
        last
    }

    /// Sends `action` to VM `uuid` and waits for its task.
    async fn step_action(&self, uuid: &str, action: VmAction) -> Result<String, String> {
        let kind = action.action_type();
        let task = self
            .state
            .cluster
            .client()
            .vm_action(uuid, action)
            .await
            .map_err(|e| match e {
                hypercore::Error::InvalidState { message } => {
                    format!(
                        "HyperCore refused {kind} on VM {uuid} in its current state ({message})"
                    )
                }
                e => self.cluster_err(e),
            })?;
        self.wait_step(&task.task_tag).await?;
        Ok(task.task_tag)
    }

    /// Shuts VM `vm` down: ACPI, up to `deadline` for SHUTOFF, then a hard stop if `force`
    /// (else an error saying the guest did not power off). Records each step.
    pub(super) async fn power_off(
        &self,
        vm: &VirDomain,
        deadline: Duration,
        force: bool,
        steps: &mut Steps<'_>,
    ) -> Result<(), String> {
        let uuid = vm.uuid.as_str();
        if vm.state == VmState::Shutoff {
            return Ok(());
        }
        let acpi = Instant::now();
        if vm.state != VmState::Shutdown {
            let tag = self.step_action(uuid, VmAction::Shutdown).await?;
            steps
                .record("shutdown", json!({"action": "SHUTDOWN", "task_tag": tag}))
                .await;
        }
        let now = self.wait_vm(uuid, VmState::Shutoff, deadline).await;
        let state = now
            .as_ref()
            .map(|v| v.state.to_string())
            .unwrap_or_default();
        if state == "SHUTOFF" {
            steps
                .record(
                    "powered_off",
                    json!({"state": "SHUTOFF", "after_ms": acpi.elapsed().as_millis() as u64}),
                )
                .await;
            return Ok(());
        }
        if !force {
            return Err(format!(
                "VM '{}' did not power off within {} s of the ACPI shutdown request (state {state}); the guest may be ignoring ACPI. Nothing else was changed; power it off with vm_stop, or use vm_shutdown with force_after_s",
                vm.name,
                deadline.as_secs()
            ));
        }
        steps
            .record(
                "deadline_passed",
                json!({"state": state, "after_ms": acpi.elapsed().as_millis() as u64}),
            )
            .await;
        let tag = self.step_action(uuid, VmAction::Stop).await?;
        let off = self
            .wait_vm(uuid, VmState::Shutoff, self.state.wait_timeout)
            .await;
        let state = off.map(|v| v.state.to_string()).unwrap_or_default();
        steps
            .record(
                "forced_stop",
                json!({"action": "STOP", "task_tag": tag, "state": state}),
            )
            .await;
        if state != "SHUTOFF" {
            return Err(format!(
                "VM '{}' is still {state} after a hard stop",
                vm.name
            ));
        }
        Ok(())
    }

    /// Starts VM `uuid` and waits until it runs. Records the step.
    pub(super) async fn power_on(&self, uuid: &str, steps: &mut Steps<'_>) -> Result<(), String> {
        let tag = self.step_action(uuid, VmAction::Start).await?;
        let now = self
            .wait_vm(uuid, VmState::Running, self.state.wait_timeout)
            .await;
        let state = now.map(|v| v.state.to_string()).unwrap_or_default();
        steps
            .record(
                "start",
                json!({"action": "START", "task_tag": tag, "state": state}),
            )
            .await;
        Ok(())
    }
}

/// `vm_shutdown` with `force_after_s`: confirmed, ACPI, then a hard stop after the deadline.
pub(super) async fn shutdown_forced(
    call: ToolCall<'_>,
    vm: VirDomain,
    secs: u64,
) -> super::ToolResult {
    if let Some(preview) = call.confirm_when(true, &vm.uuid, || {
        json!({
            "vm": super::rows::vm_brief(&vm),
            "current_state": vm.state.as_str(),
            "action": "SHUTDOWN",
            "effect": format!("will ask the guest OS to shut down cleanly (ACPI) and, if it is not off after {secs} s, cut its power like pulling the plug (unsaved guest data is lost)"),
        })
    })? {
        return Ok(preview);
    }
    let (guard, waited) = call.state.begin_action().await?;
    let vm = if waited {
        call.resolve_vm_fresh().await?
    } else {
        vm
    };
    let started = Instant::now();
    let mut steps = Steps::new(call, 4);
    call.power_off(&vm, Duration::from_secs(secs), true, &mut steps)
        .await?;
    drop(guard);
    call.state.cluster.invalidate();
    let after = call
        .state
        .cluster
        .get::<VirDomain>(&vm.uuid)
        .await
        .ok()
        .flatten()
        .unwrap_or(vm);
    let forced = steps.list.iter().any(|s| s["step"] == "forced_stop");
    Ok(json!({
        "task_tag": "",
        "state": "COMPLETE",
        "action": if forced { "SHUTDOWN+STOP" } else { "SHUTDOWN" },
        "forced": forced,
        "vm": super::rows::vm_brief(&after),
        "steps": steps.list,
        "waited_ms": started.elapsed().as_millis() as u64,
    }))
}
