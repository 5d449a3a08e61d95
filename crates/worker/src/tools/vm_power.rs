//! The VM power and placement family: `vm_start`, `vm_shutdown`, `vm_stop`, `vm_reboot`,
//! `vm_reset`, `vm_migrate`, `vm_pause`, `vm_nmi`. Each checks the VM's state first and
//! explains plainly when the action makes no sense, confirms the destructive ones, sends the
//! action, waits for the task and then for the VM to reach the state the action leads to.

use std::time::Instant;

use hypercore::model::{Node, NodeNetworkStatus, VirDomain, VmState};
use hypercore::{VmAction, WaitOptions};
use serde_json::json;

use super::rows::vm_brief;
use super::schema::{action_tool, confirm_arg, input, vm_arg, wait_arg};
use super::{ToolCall, ToolResult, ToolSpec};
use crate::catalog::ToolDef;

/// `vm_start`.
pub(super) const VM_START: ToolSpec = ToolSpec {
    name: "vm_start",
    declare: |_| {
        power_tool(
            "vm_start",
            "Start VM",
            "Powers on a SHUTOFF, CRASHED or PAUSED VM (resumes a paused one); a replication target must be cloned first.",
            false,
            true,
        )
    },
    run: |call| Box::pin(run(call, Power::Start)),
};

/// `vm_shutdown`.
pub(super) const VM_SHUTDOWN: ToolSpec = ToolSpec {
    name: "vm_shutdown",
    declare: |_| {
        action_tool(
            "vm_shutdown",
            "Shut down VM (ACPI)",
            "Asks a RUNNING VM's guest to shut down cleanly (ACPI). If the guest ignores it: vm_stop, or give force_after_s to power off hard after that many seconds (destructive: needs confirmation).",
            input(
                json!({"vm": vm_arg(), "wait": wait_arg(), "force_after_s": {"type": "integer", "minimum": 0, "maximum": 3600, "description": "Power the VM off hard when the guest is not off this many seconds after the ACPI request (can lose unsaved guest data; needs confirmation)."}, "confirm_token": confirm_arg()}),
                &["vm"],
            ),
            false,
            true,
        )
    },
    run: |call| Box::pin(run(call, Power::Shutdown)),
};

/// `vm_stop`.
pub(super) const VM_STOP: ToolSpec = ToolSpec {
    name: "vm_stop",
    declare: |_| {
        power_tool(
            "vm_stop",
            "Power off VM (hard)",
            "Cuts a VM's power at once, like pulling the plug: unsaved guest data may be lost. Needs confirm_token.",
            true,
            true,
        )
    },
    run: |call| Box::pin(run(call, Power::Stop)),
};

/// `vm_reboot`.
pub(super) const VM_REBOOT: ToolSpec = ToolSpec {
    name: "vm_reboot",
    declare: |_| {
        power_tool(
            "vm_reboot",
            "Reboot VM (ACPI)",
            "Asks a RUNNING VM's guest to reboot cleanly (ACPI).",
            false,
            false,
        )
    },
    run: |call| Box::pin(run(call, Power::Reboot)),
};

/// `vm_reset`.
pub(super) const VM_RESET: ToolSpec = ToolSpec {
    name: "vm_reset",
    declare: |_| {
        power_tool(
            "vm_reset",
            "Reset VM (hard)",
            "Hard-resets a RUNNING VM like the reset button: unsaved guest data may be lost. Needs confirm_token.",
            true,
            false,
        )
    },
    run: |call| Box::pin(run(call, Power::Reset)),
};

/// `vm_migrate`.
pub(super) const VM_MIGRATE: ToolSpec = ToolSpec {
    name: "vm_migrate",
    declare: |_| {
        action_tool(
            "vm_migrate",
            "Live-migrate VM",
            "Live-migrates a RUNNING VM to another node (a uuid from node_list that is online and accepts VMs).",
            input(
                json!({"vm": vm_arg(), "node": {"type": "string", "minLength": 1, "description": "Target node uuid."}, "wait": wait_arg()}),
                &["vm", "node"],
            ),
            false,
            true,
        )
    },
    run: |call| Box::pin(run(call, Power::Migrate)),
};

/// `vm_pause`.
pub(super) const VM_PAUSE: ToolSpec = ToolSpec {
    name: "vm_pause",
    declare: |_| {
        power_tool(
            "vm_pause",
            "Pause VM",
            "Freezes a RUNNING VM in memory (no CPU time); vm_start resumes it.",
            false,
            true,
        )
    },
    run: |call| Box::pin(run(call, Power::Pause)),
};

/// `vm_nmi`.
pub(super) const VM_NMI: ToolSpec = ToolSpec {
    name: "vm_nmi",
    declare: |_| {
        power_tool(
            "vm_nmi",
            "Send NMI to VM",
            "Sends a non-maskable interrupt to a RUNNING VM (usually a crash dump for diagnostics). Needs confirm_token.",
            true,
            false,
        )
    },
    run: |call| Box::pin(run(call, Power::Nmi)),
};

/// A power tool's declaration: `vm` and `wait`, plus `confirm_token` when destructive.
fn power_tool(
    name: &'static str,
    title: &'static str,
    description: &str,
    destructive: bool,
    idempotent: bool,
) -> ToolDef {
    let mut props = json!({"vm": vm_arg(), "wait": wait_arg()});
    if destructive {
        props["confirm_token"] = confirm_arg();
    }
    action_tool(
        name,
        title,
        description,
        input(props, &["vm"]),
        destructive,
        idempotent,
    )
}

/// A power action and its HyperCore `actionType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Power {
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
    fn action_type(self) -> &'static str {
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

    /// The typed action; a migration goes to `node_uuid`.
    fn vm_action(self, node_uuid: Option<String>) -> VmAction {
        match self {
            Power::Start => VmAction::Start,
            Power::Shutdown => VmAction::Shutdown,
            Power::Stop => VmAction::Stop,
            Power::Reboot => VmAction::Reboot,
            Power::Reset => VmAction::Reset,
            Power::Migrate => VmAction::LiveMigrate {
                node_uuid: node_uuid.unwrap_or_default(),
            },
            Power::Pause => VmAction::Pause,
            Power::Nmi => VmAction::Nmi,
        }
    }

    fn effect(self) -> &'static str {
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
    fn target_state(self) -> Option<VmState> {
        match self {
            Power::Start | Power::Reboot | Power::Reset | Power::Migrate | Power::Nmi => {
                Some(VmState::Running)
            }
            Power::Shutdown | Power::Stop => Some(VmState::Shutoff),
            Power::Pause => Some(VmState::Paused),
        }
    }

    /// Explains plainly why the action makes no sense for a VM in `state`, if it does not.
    fn refuse(self, vm: &VirDomain) -> Option<String> {
        let name = &vm.name;
        let st = vm.state.as_str();
        let running = matches!(st, "RUNNING" | "BLOCKED");
        let msg = match self {
            Power::Start => {
                if vm.is_replication_target() {
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

async fn run(call: ToolCall<'_>, power: Power) -> ToolResult {
    let state = call.state;
    let vm = call.resolve_vm_fresh().await?;
    // Starting a running VM succeeds without a change on a real cluster (a START task that
    // completes at once): answer the same, plainly, so "start to make sure" is no error.
    if power == Power::Start
        && matches!(vm.state.as_str(), "RUNNING" | "BLOCKED")
        && !vm.is_replication_target()
    {
        return Ok(json!({
            "action": power.action_type(),
            "vm": vm_brief(&vm),
            "note": format!("VM '{}' is already running (state {}); nothing to start, nothing changed.", vm.name, vm.state.as_str()),
        }));
    }
    if let Some(why) = power.refuse(&vm) {
        return Err(why);
    }
    if power == Power::Shutdown
        && let Some(secs) = call.args.get("force_after_s").and_then(|v| v.as_u64())
    {
        return super::vm_cycle::shutdown_forced(call, vm, secs).await;
    }
    let vm_uuid = vm.uuid.clone();
    let node_uuid = if power == Power::Migrate {
        Some(migration_target(call, &vm).await?)
    } else {
        None
    };
    if let Some(preview) = call.confirm(&vm_uuid, || {
        json!({
            "vm": vm_brief(&vm),
            "current_state": vm.state.as_str(),
            "action": power.action_type(),
            "effect": format!("will {}", power.effect()),
        })
    })? {
        return Ok(preview);
    }
    let (guard, waited) = state.begin_action().await?;
    // Another action ran meanwhile: judge this one against the VM's state now.
    let vm = if waited {
        let Some(now) = state
            .cluster
            .get::<VirDomain>(&vm_uuid)
            .await
            .map_err(|e| call.cluster_err(e))?
        else {
            return Err(format!("VM {vm_uuid} no longer exists on this cluster"));
        };
        if let Some(why) = power.refuse(&now) {
            return Err(why);
        }
        now
    } else {
        vm
    };
    let started = Instant::now();
    let client = state.cluster.client();
    let task = match client.vm_action(&vm_uuid, power.vm_action(node_uuid)).await {
        Ok(task) => task,
        Err(hypercore::Error::InvalidState { message }) => {
            return Err(format!(
                "HyperCore refused {} on VM '{}' in its current state {} ({message}); re-read it with vm_get and pick an action that fits that state",
                power.action_type(),
                vm.name,
                vm.state
            ));
        }
        Err(e) => return Err(call.cluster_err(e)),
    };
    tracing::info!(tool = call.def.name, vm = %vm_uuid, task = %task.task_tag, "action submitted");
    let mut out = call.finish(&task.task_tag, started, guard).await?;
    // Task COMPLETE does not mean the VM reached its final state (ACPI shutdown, reboot).
    let mut expected = None;
    if call.wants_wait()
        && out["state"] == "COMPLETE"
        && let Some(target) = power.target_state()
    {
        let remaining = state.wait_timeout.saturating_sub(started.elapsed());
        let mut options = WaitOptions::new(remaining)
            .with_poll_interval(state.poll_interval)
            .with_poll_retries(0);
        options.cancel = call.progress.cancellation();
        // Any end of the wait (reached, gone, failed read, bound, cancel) is judged below.
        let _ = client
            .wait_vm_state(&vm_uuid, target.clone(), options, |_| {})
            .await;
        expected = Some(target);
    }
    let after = state
        .cluster
        .get::<VirDomain>(&vm_uuid)
        .await
        .ok()
        .flatten()
        .unwrap_or(vm);
    if let Some(target) = expected
        && after.state != target
    {
        out["note"] = json!(format!(
            "the task completed but the VM is {} rather than {target} after {} s{}",
            after.state,
            state.wait_timeout.as_secs(),
            if power == Power::Shutdown {
                "; the guest may be ignoring the ACPI request: use vm_stop to force it off"
            } else {
                "; check again with vm_get"
            }
        ));
    }
    out["vm"] = vm_brief(&after);
    out["action"] = json!(power.action_type());
    out["waited_ms"] = json!(if call.wants_wait() {
        started.elapsed().as_millis() as u64
    } else {
        0
    });
    Ok(out)
}

/// The `node` argument of a migration, checked: a known node other than the VM's, online and
/// accepting VMs.
async fn migration_target(call: ToolCall<'_>, vm: &VirDomain) -> Result<String, String> {
    let target = call.str_arg("node").unwrap_or_default().trim().to_owned();
    let nodes = call
        .state
        .cluster
        .list::<Node>()
        .await
        .map_err(|e| call.cluster_err(e))?;
    let Some(node) = nodes.iter().find(|node| node.uuid == target) else {
        let known: Vec<String> = nodes
            .iter()
            .map(|node| format!("{} ({})", node.uuid, node.lan_ip))
            .collect();
        return Err(format!(
            "no node with uuid '{target}' on this cluster; nodes: {}",
            known.join(", ")
        ));
    };
    if vm.node_uuid == target {
        return Err(format!(
            "VM '{}' already runs on node {target} ({}); pick another node to migrate to (see node_list)",
            vm.name, node.lan_ip
        ));
    }
    if node.network_status != NodeNetworkStatus::Online {
        return Err(format!(
            "node {target} ({}) is {}; it cannot receive a VM",
            node.lan_ip, node.network_status
        ));
    }
    if !node.allow_running_vms {
        return Err(format!(
            "node {target} ({}) is in maintenance mode (not accepting VMs)",
            node.lan_ip
        ));
    }
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_explain_state() {
        let vm = |state: &str, src: &str| VirDomain {
            name: "web".into(),
            state: VmState::from_wire(state),
            source_vir_domain_uuid: src.into(),
            ..VirDomain::default()
        };
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
