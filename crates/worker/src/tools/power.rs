//! VM power and placement actions: check the VM's state first and explain plainly when an
//! action makes no sense, confirm the destructive ones, send the action, wait for the task
//! and for the VM to reach the state the action leads to.

use std::time::Instant;

use hypercore::VmAction;
use serde_json::{Map, Value, json};

use super::shape::{s, str_arg, vm_brief, wants_wait};
use super::{ProgressSink, ToolResult, WorkerState};
use crate::confirm::Binding;

/// A power action and its HyperCore `actionType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Power {
    Start,
    Shutdown,
    Stop,
    Reboot,
    Reset,
    Migrate,
    Pause,
    Nmi,
}

impl Power {
    pub(super) fn from_tool(name: &str) -> Option<Self> {
        Some(match name {
            "vm_start" => Power::Start,
            "vm_shutdown" => Power::Shutdown,
            "vm_stop" => Power::Stop,
            "vm_reboot" => Power::Reboot,
            "vm_reset" => Power::Reset,
            "vm_migrate" => Power::Migrate,
            "vm_pause" => Power::Pause,
            "vm_nmi" => Power::Nmi,
            _ => return None,
        })
    }

    pub(super) fn action_type(self) -> &'static str {
        match self {
            Power::Start => "START",
            Power::Shutdown => "SHUTDOWN",
            Power::Stop => "STOP",
            Power::Reboot => "REBOOT",
            Power::Reset => "RESET",
            Power::Migrate => "LIVEMIGRATE",
            Power::Pause => "PAUSE",
            Power::Nmi => "NMI",
        }
    }

    pub(super) fn effect(self) -> &'static str {
        match self {
            Power::Start => "power the VM on (or resume it if paused)",
            Power::Shutdown => "ask the guest OS to shut down cleanly (ACPI)",
            Power::Stop => {
                "cut the VM's power immediately, like pulling the plug; unsaved data in the guest is lost"
            }
            Power::Reboot => "ask the guest OS to reboot cleanly (ACPI)",
            Power::Reset => {
                "hard-reset the VM, like pressing its reset button; unsaved data in the guest is lost"
            }
            Power::Migrate => "live-migrate the VM to another node",
            Power::Pause => "freeze the VM in memory",
            Power::Nmi => {
                "send a non-maskable interrupt to the guest (usually makes it crash-dump and may halt or reboot it)"
            }
        }
    }

    /// The state a successful action leads to, if it has a stable one.
    pub(super) fn target_state(self) -> Option<&'static str> {
        match self {
            Power::Start | Power::Reboot | Power::Reset | Power::Migrate | Power::Nmi => {
                Some("RUNNING")
            }
            Power::Shutdown | Power::Stop => Some("SHUTOFF"),
            Power::Pause => Some("PAUSED"),
        }
    }

    /// Explains plainly why the action makes no sense for a VM in `state`, if it does not.
    pub(super) fn refuse(self, vm: &Value) -> Option<String> {
        let name = s(vm, "name");
        let state = s(vm, "state");
        let st = state.as_str();
        let running = matches!(st, "RUNNING" | "BLOCKED");
        let msg = match self {
            Power::Start => {
                if !s(vm, "sourceVirDomainUUID").is_empty() {
                    format!(
                        "VM '{name}' is a replication target (a copy kept in sync from another cluster); HyperCore cannot start it. Clone it first with vm_clone and start the clone."
                    )
                } else if running {
                    format!("VM '{name}' is already running (state {st}); nothing to start.")
                } else if st == "SHUTDOWN" {
                    format!(
                        "VM '{name}' is shutting down right now (state SHUTDOWN); wait until it is SHUTOFF, or power it off with vm_stop, then start it."
                    )
                } else {
                    return None;
                }
            }
            Power::Shutdown => match st {
                "RUNNING" | "BLOCKED" => return None,
                "SHUTOFF" => {
                    format!("VM '{name}' is already off (state SHUTOFF); nothing to shut down.")
                }
                "SHUTDOWN" => format!(
                    "VM '{name}' is already shutting down (state SHUTDOWN); a second ACPI request is refused by HyperCore. If the guest ignores it, power it off with vm_stop."
                ),
                "PAUSED" => format!(
                    "VM '{name}' is paused, so its guest cannot react to an ACPI shutdown; resume it with vm_start first, or power it off with vm_stop."
                ),
                _ => format!(
                    "VM '{name}' is in state {st}; an ACPI shutdown needs a RUNNING guest. Use vm_stop to power it off."
                ),
            },
            Power::Stop => match st {
                "RUNNING" | "BLOCKED" | "SHUTDOWN" | "PAUSED" => return None,
                "SHUTOFF" => {
                    format!("VM '{name}' is already off (state SHUTOFF); nothing to stop.")
                }
                _ => format!(
                    "VM '{name}' is in state {st}, which cannot be powered off; it is not running."
                ),
            },
            Power::Reset => match st {
                "RUNNING" | "BLOCKED" | "SHUTDOWN" => return None,
                "SHUTOFF" => format!(
                    "VM '{name}' is off (state SHUTOFF); a reset only applies to a running VM. Use vm_start to power it on."
                ),
                _ => format!("VM '{name}' is in state {st}; a reset needs a RUNNING VM."),
            },
            Power::Reboot | Power::Nmi | Power::Pause | Power::Migrate => {
                if running {
                    return None;
                }
                let what = match self {
                    Power::Reboot => "a reboot",
                    Power::Nmi => "an NMI",
                    Power::Pause => "pausing",
                    _ => "live migration",
                };
                match st {
                    "SHUTOFF" => format!(
                        "VM '{name}' is off (state SHUTOFF); {what} only applies to a running VM. Use vm_start to power it on."
                    ),
                    "PAUSED" if self == Power::Pause => {
                        format!("VM '{name}' is already paused; resume it with vm_start.")
                    }
                    "PAUSED" => format!(
                        "VM '{name}' is paused; {what} needs a RUNNING VM. Resume it with vm_start first."
                    ),
                    _ => format!("VM '{name}' is in state {st}; {what} needs a RUNNING VM."),
                }
            }
        };
        Some(msg)
    }
}

impl WorkerState {
    pub(super) async fn power(
        &self,
        p: Power,
        tool: &str,
        a: &Map<String, Value>,
        progress: &ProgressSink,
    ) -> ToolResult {
        let vm = self
            .resolve_vm_fresh(str_arg(a, "vm").unwrap_or_default())
            .await?;
        if let Some(why) = p.refuse(&vm) {
            return Err(why);
        }
        let vm_uuid = s(&vm, "uuid");
        let mut node_uuid = None;
        if p == Power::Migrate {
            let target = str_arg(a, "node").unwrap_or_default().trim().to_owned();
            let nodes = self
                .cluster
                .get_all("Node")
                .await
                .map_err(|e| self.cluster_err(e))?;
            let Some(node) = nodes.iter().find(|x| s(x, "uuid") == target) else {
                let known: Vec<String> = nodes
                    .iter()
                    .map(|x| format!("{} ({})", s(x, "uuid"), s(x, "lanIP")))
                    .collect();
                return Err(format!(
                    "no node with uuid '{target}' on this cluster; nodes: {}",
                    known.join(", ")
                ));
            };
            if s(&vm, "nodeUUID") == target {
                return Err(format!(
                    "VM '{}' already runs on node {target} ({}); pick another node to migrate to (see node_list)",
                    s(&vm, "name"),
                    s(node, "lanIP")
                ));
            }
            if s(node, "networkStatus") != "ONLINE" {
                return Err(format!(
                    "node {target} ({}) is {}; it cannot receive a VM",
                    s(node, "lanIP"),
                    s(node, "networkStatus")
                ));
            }
            if node.get("allowRunningVMs").and_then(Value::as_bool) == Some(false) {
                return Err(format!(
                    "node {target} ({}) is in maintenance mode (not accepting VMs)",
                    s(node, "lanIP")
                ));
            }
            node_uuid = Some(target);
        }
        let def_destructive = self.catalog.get(tool).is_some_and(|d| d.destructive);
        if def_destructive {
            let id = self.identity();
            let binding = Binding::new(&id.uuid, tool, &vm_uuid, a);
            if let Some(resp) = self.confirm_gate(a, binding, || {
                json!({
                    "cluster": {"uuid": id.uuid, "name": id.name},
                    "tool": tool,
                    "vm": vm_brief(&vm),
                    "current_state": s(&vm, "state"),
                    "action": p.action_type(),
                    "effect": format!("will {}", p.effect()),
                })
            })? {
                return Ok(resp);
            }
        }
        let action = match p {
            Power::Start => VmAction::Start,
            Power::Shutdown => VmAction::Shutdown,
            Power::Stop => VmAction::Stop,
            Power::Reboot => VmAction::Reboot,
            Power::Reset => VmAction::Reset,
            Power::Migrate => VmAction::LiveMigrate {
                node_uuid: node_uuid.clone().unwrap_or_default(),
            },
            Power::Pause => VmAction::Pause,
            Power::Nmi => VmAction::Nmi,
        };
        let (guard, waited) = self.begin_action().await?;
        // Another action ran meanwhile: judge this one against the VM's state now.
        let vm = if waited {
            let Some(now) = self
                .cluster
                .get_one("VirDomain", &vm_uuid)
                .await
                .map_err(|e| self.cluster_err(e))?
            else {
                return Err(format!("VM {vm_uuid} no longer exists on this cluster"));
            };
            if let Some(why) = p.refuse(&now) {
                return Err(why);
            }
            now
        } else {
            vm
        };
        let started = Instant::now();
        let task = match self.cluster.client().vm_action(&vm_uuid, action).await {
            Ok(t) => t,
            Err(hypercore::Error::InvalidState { message }) => {
                return Err(format!(
                    "HyperCore refused {} on VM '{}' in its current state {} ({message}); re-read it with vm_get and pick an action that fits that state",
                    p.action_type(),
                    s(&vm, "name"),
                    s(&vm, "state")
                ));
            }
            Err(e) => return Err(self.cluster_err(e)),
        };
        tracing::info!(tool, vm = %vm_uuid, task = %task.task_tag, "action submitted");
        let mut out = self
            .finish(&task.task_tag, a, progress, started, guard)
            .await?;
        // Task COMPLETE does not mean the VM reached its final state (ACPI shutdown, reboot).
        let mut expected = None;
        if wants_wait(a)
            && out["state"] == "COMPLETE"
            && let Some(target) = p.target_state()
        {
            self.wait_vm_state(&vm_uuid, target, started, progress)
                .await;
            expected = Some(target);
        }
        let after = self
            .cluster
            .get_one("VirDomain", &vm_uuid)
            .await
            .ok()
            .flatten()
            .unwrap_or(vm);
        if let Some(target) = expected
            && s(&after, "state") != target
        {
            out["note"] = json!(format!(
                "the task completed but the VM is {} rather than {target} after {} s{}",
                s(&after, "state"),
                self.wait_timeout.as_secs(),
                if p == Power::Shutdown {
                    "; the guest may be ignoring the ACPI request: use vm_stop to force it off"
                } else {
                    "; check again with vm_get"
                }
            ));
        }
        out["vm"] = vm_brief(&after);
        out["action"] = json!(p.action_type());
        out["waited_ms"] = json!(if wants_wait(a) {
            started.elapsed().as_millis() as u64
        } else {
            0
        });
        Ok(out)
    }

    pub(super) async fn wait_vm_state(
        &self,
        uuid: &str,
        target: &str,
        started: Instant,
        progress: &ProgressSink,
    ) {
        while started.elapsed() < self.wait_timeout {
            match self.cluster.get_one("VirDomain", uuid).await {
                Ok(Some(vm)) if s(&vm, "state") == target => return,
                Ok(Some(_)) => {}
                _ => return,
            }
            if !progress.pause(self.poll_interval).await {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_explain_state() {
        let vm = |state: &str, src: &str| json!({"name": "web", "state": state, "sourceVirDomainUUID": src});
        assert!(
            Power::Reset
                .refuse(&vm("SHUTOFF", ""))
                .unwrap()
                .contains("off")
        );
        assert!(
            Power::Start
                .refuse(&vm("SHUTOFF", "x"))
                .unwrap()
                .contains("replication target")
        );
        assert!(
            Power::Start
                .refuse(&vm("RUNNING", ""))
                .unwrap()
                .contains("already running")
        );
        assert!(Power::Start.refuse(&vm("SHUTOFF", "")).is_none());
        assert!(Power::Start.refuse(&vm("PAUSED", "")).is_none());
        assert!(
            Power::Pause
                .refuse(&vm("PAUSED", ""))
                .unwrap()
                .contains("already paused")
        );
        assert!(Power::Stop.refuse(&vm("PAUSED", "")).is_none());
        assert!(
            Power::Shutdown
                .refuse(&vm("SHUTDOWN", ""))
                .unwrap()
                .contains("vm_stop")
        );
        assert!(Power::Migrate.refuse(&vm("SHUTOFF", "")).is_some());
        assert!(Power::Nmi.refuse(&vm("RUNNING", "")).is_none());
    }
}
