//! The operator runbooks served as MCP prompts by the hub and the worker: each a short,
//! parameterized workflow naming the tools to use. The words are written once here; each
//! server names the tools its own way ([`ToolNames`]) and turns these into SDK prompts.

use std::collections::HashMap;

/// One argument of a runbook.
#[derive(Debug, Clone, Copy)]
pub struct RunbookArg {
    /// The argument's name.
    pub name: &'static str,
    /// What it means.
    pub description: &'static str,
    /// Whether the runbook needs it.
    pub required: bool,
}

/// One runbook: its name, title, purpose and arguments.
#[derive(Debug, Clone, Copy)]
pub struct Runbook {
    /// The prompt name.
    pub name: &'static str,
    /// A short human title.
    pub title: &'static str,
    /// What it is for.
    pub description: &'static str,
    /// Arguments on the hub (the worker drops `cluster`: it serves one).
    pub args: &'static [RunbookArg],
}

const CLUSTER_OPT: RunbookArg = RunbookArg {
    name: "cluster",
    description: "Cluster alias (all clusters when omitted).",
    required: false,
};
const CLUSTER_REQ: RunbookArg = RunbookArg {
    name: "cluster",
    description: "Cluster alias.",
    required: true,
};
const DAYS: RunbookArg = RunbookArg {
    name: "days",
    description: "A snapshot older than this many days is not recent (default 7).",
    required: false,
};
const TAG: RunbookArg = RunbookArg {
    name: "tag",
    description: "The tag of the VMs to restart.",
    required: true,
};
const FIRST_VM: RunbookArg = RunbookArg {
    name: "first_vm",
    description: "A VM of the set to restart first, alone, as a canary.",
    required: false,
};
const BATCH: RunbookArg = RunbookArg {
    name: "batch",
    description: "VMs restarted at a time (default 1).",
    required: false,
};

/// Every runbook, in listing order.
pub const RUNBOOKS: &[Runbook] = &[
    Runbook {
        name: "triage_conditions",
        title: "Triage raised conditions",
        description: "Triage the raised health conditions: worst first, what each means, what to check next.",
        args: &[CLUSTER_OPT],
    },
    Runbook {
        name: "maintenance_check",
        title: "Check a cluster before maintenance",
        description: "Before maintenance: node health, running VMs, recent snapshots and replication, then a go/no-go.",
        args: &[CLUSTER_REQ],
    },
    Runbook {
        name: "snapshot_gaps",
        title: "Find VMs without a recent snapshot",
        description: "Find the VMs whose newest snapshot is older than N days (or that have none).",
        args: &[CLUSTER_OPT, DAYS],
    },
    Runbook {
        name: "rolling_restart",
        title: "Plan a rolling restart",
        description: "Plan a rolling restart of the VMs with a tag, a batch at a time, without acting until approved.",
        args: &[CLUSTER_REQ, TAG, BATCH, FIRST_VM],
    },
];

/// The runbook called `name`.
pub fn runbook(name: &str) -> Option<&'static Runbook> {
    RUNBOOKS.iter().find(|r| r.name == name)
}

/// How a server names its tools in the text.
pub trait ToolNames {
    /// How to call the per-cluster tool `tool` on `cluster` (`None`: every cluster in scope).
    fn cluster_tool(&self, tool: &str, cluster: Option<&str>) -> String;
    /// The fleet-wide tool for `tool` when there is one (hub: `fleet_conditions`, `vm_search`).
    fn fleet_tool(&self, tool: &str) -> Option<String>;
    /// What the text calls the cluster(s) in scope.
    fn scope(&self, cluster: Option<&str>) -> String;
}

/// Why the arguments of a runbook are not acceptable.
pub fn check_args(
    book: &Runbook,
    args: &HashMap<String, String>,
    serves_cluster: bool,
) -> Result<(), String> {
    for a in book.args {
        if a.name == "cluster" && !serves_cluster {
            continue;
        }
        if a.required && args.get(a.name).is_none_or(|v| v.trim().is_empty()) {
            return Err(format!(
                "argument '{}' is required by prompt '{}': {}",
                a.name, book.name, a.description
            ));
        }
    }
    for key in ["days", "batch"] {
        if let Some(v) = args.get(key).filter(|v| !v.trim().is_empty())
            && !v.trim().parse::<u32>().is_ok_and(|n| n > 0)
        {
            return Err(format!(
                "argument '{key}' must be a whole number above 0, not '{v}'"
            ));
        }
    }
    Ok(())
}

/// The text of runbook `book` with `args` (checked with [`check_args`] first).
pub fn render(book: &Runbook, args: &HashMap<String, String>, names: &dyn ToolNames) -> String {
    let arg = |k: &str| args.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    let cluster = arg("cluster");
    let scope = names.scope(cluster);
    let t = |tool: &str| names.cluster_tool(tool, cluster);
    let confirm = "Destructive actions answer with a preview and a confirm_token first: show the preview and repeat the call with the token only when the person agrees.";
    match book.name {
        "triage_conditions" => {
            let list = match (names.fleet_tool("condition_list"), cluster) {
                (Some(fleet), Some(c)) => format!("{fleet} with cluster \"{c}\""),
                (Some(fleet), None) => fleet,
                (None, _) => t("condition_list"),
            };
            format!(
                "Triage the raised health conditions of {scope}.\n\
                 1. Call {list} (most severe first).\n\
                 2. For each CRITICAL or ERROR condition, say what it means and check the part it names: nodes with {nodes}, drives with {drives}, the cluster summary with {info}.\n\
                 3. Group what you find by severity and cluster; for each group propose the next check or fix.\n\
                 Read only: change nothing while triaging.",
                nodes = t("node_list"),
                drives = t("drive_list"),
                info = t("cluster_info"),
            )
        }
        "maintenance_check" => format!(
            "Check {scope} before maintenance and answer go or no-go with reasons.\n\
             1. Cluster health: {info}; every node online and healthy: {nodes}.\n\
             2. Raised conditions: {conditions}; any CRITICAL or ERROR one is a no-go until explained.\n\
             3. Running VMs (they move or stop during maintenance): {vms} with state RUNNING.\n\
             4. Recent snapshots: {snaps}; name every running VM without a snapshot from the last 24 hours.\n\
             5. Replication: {details} (details=true shows replication); name VMs that replicate and those that are replication targets.\n\
             Read only: change nothing during the check.",
            info = t("cluster_info"),
            nodes = t("node_list"),
            conditions = t("condition_list"),
            vms = t("vm_list"),
            snaps = t("snapshot_list"),
            details = t("vm_list"),
        ),
        "snapshot_gaps" => {
            let days = arg("days").unwrap_or("7");
            let vms = match (names.fleet_tool("vm_list"), cluster) {
                (Some(fleet), None) => fleet,
                _ => t("vm_list"),
            };
            format!(
                "Find the VMs of {scope} without a snapshot from the last {days} days.\n\
                 1. List the VMs: {vms}.\n\
                 2. List the snapshots (newest first): {snaps}.\n\
                 3. For each VM take its newest snapshot's timestamp; list the VMs whose newest is older than {days} days, and those with none, oldest first, with the age in days.\n\
                 4. Propose snapshot_create for each (label e.g. \"catch-up\"); do not create any until the person agrees.",
                snaps = t("snapshot_list"),
            )
        }
        "rolling_restart" => {
            let tag = arg("tag").unwrap_or("<tag>");
            let batch = arg("batch").unwrap_or("1");
            let canary = arg("first_vm")
                .map(|vm| {
                    format!(" Restart \"{vm}\" first, alone, and check it before the first batch.")
                })
                .unwrap_or_default();
            format!(
                "Plan a rolling restart of the VMs of {scope} tagged \"{tag}\", {batch} at a time.\n\
                 1. List them: {vms}, filtered by tag \"{tag}\"; only RUNNING ones are restarted.\n\
                 2. Check the cluster first: {info} and {conditions}; stop planning if it is not healthy.\n\
                 3. Order them into batches of {batch} (one node at a time when several share a node) and show the plan as a table.{canary}\n\
                 4. Only after the person approves the plan, for each batch: {reboot} each VM (or {shutdown} then {start}), wait until {get} shows RUNNING, then go on.\n\
                 {confirm}",
                vms = t("vm_list"),
                info = t("cluster_info"),
                conditions = t("condition_list"),
                reboot = t("vm_reboot"),
                shutdown = t("vm_shutdown"),
                start = t("vm_start"),
                get = t("vm_get"),
            )
        }
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Plain;
    impl ToolNames for Plain {
        fn cluster_tool(&self, tool: &str, _: Option<&str>) -> String {
            format!("`{tool}`")
        }
        fn fleet_tool(&self, _: &str) -> Option<String> {
            None
        }
        fn scope(&self, _: Option<&str>) -> String {
            "this cluster".into()
        }
    }

    fn args(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    #[test]
    fn every_runbook_names_its_tools_and_arguments() {
        for book in RUNBOOKS {
            let text = render(book, &args(&[("tag", "web"), ("days", "3")]), &Plain);
            assert!(text.contains('`'), "{}: names tools", book.name);
        }
        let text = render(
            runbook("rolling_restart").unwrap(),
            &args(&[("tag", "web")]),
            &Plain,
        );
        assert!(text.contains("tagged \"web\", 1 at a time") && text.contains("`vm_reboot`"));
    }

    #[test]
    fn missing_and_malformed_arguments_are_named() {
        let book = runbook("rolling_restart").unwrap();
        let e = check_args(book, &args(&[("cluster", "dc1")]), true).unwrap_err();
        assert!(e.starts_with("argument 'tag' is required"), "{e}");
        assert!(
            check_args(book, &args(&[("tag", "web")]), false).is_ok(),
            "a worker needs no cluster"
        );
        let e = check_args(book, &args(&[("tag", "web"), ("batch", "two")]), false).unwrap_err();
        assert!(e.contains("'batch'") && e.contains("'two'"), "{e}");
    }
}
