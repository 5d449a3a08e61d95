//! `vm_stats`: live CPU, network and per-disk I/O figures of one VM, or of every VM busiest
//! first.

use std::collections::HashMap;

use hypercore::model::{VirDomain, VirDomainStats};
use serde_json::{Value, json};

use super::page::{list_output, page, paged_input};
use super::schema::{read_tool, vm_arg};
use super::{ToolCall, ToolResult, ToolSpec};

/// Columns `fields` may select.
const COLUMNS: &[&str] = &[
    "uuid",
    "name",
    "cpu_usage_percent",
    "rx_bit_rate",
    "tx_bit_rate",
    "disks",
];

/// `vm_stats`.
pub(super) const SPEC: ToolSpec = ToolSpec {
    name: "vm_stats",
    declare: |_| {
        read_tool(
            "vm_stats",
            "VM performance",
            "Live CPU, network and per-disk I/O figures, busiest VMs first; vm for one VM.",
            paged_input(json!({"vm": vm_arg()}), COLUMNS),
            list_output("stats", json!({"type": "object"})),
        )
    },
    run: |call| Box::pin(run(call)),
};

async fn run(call: ToolCall<'_>) -> ToolResult {
    let cluster = &call.state.cluster;
    let vms = cluster
        .list::<VirDomain>()
        .await
        .map_err(|e| call.cluster_err(e))?;
    let names: HashMap<&str, &str> = vms
        .iter()
        .map(|vm| (vm.uuid.as_str(), vm.name.as_str()))
        .collect();
    let all = match call.str_arg("vm") {
        Some(key) => {
            let vm = call.resolve_vm(key).await?;
            let one = cluster
                .get::<VirDomainStats>(&vm.uuid)
                .await
                .map_err(|e| call.cluster_err(e))?;
            std::sync::Arc::new(one.into_iter().collect())
        }
        None => cluster
            .list::<VirDomainStats>()
            .await
            .map_err(|e| call.cluster_err(e))?,
    };
    let mut stats: Vec<&VirDomainStats> = all.iter().collect();
    stats.sort_by(|x, y| y.cpu_usage.total_cmp(&x.cpu_usage));
    let rows: Vec<Value> = stats
        .iter()
        .map(|st| {
            let disks: Vec<Value> = st
                .vsd_stats
                .iter()
                .map(|disk| {
                    let rate = disk.rates.first().cloned().unwrap_or_default();
                    json!({
                        "uuid": disk.uuid,
                        "read_iops": rate.millireads_per_second as f64 / 1000.0,
                        "write_iops": rate.milliwrites_per_second as f64 / 1000.0,
                        "read_kib_per_s": rate.read_kibibytes_per_second,
                        "write_kib_per_s": rate.write_kibibytes_per_second,
                        "read_latency_us": rate.mean_read_latency_microseconds,
                        "write_latency_us": rate.mean_write_latency_microseconds,
                    })
                })
                .collect();
            json!({
                "uuid": st.uuid,
                "name": names.get(st.uuid.as_str()).copied().unwrap_or_default(),
                "cpu_usage_percent": st.cpu_usage,
                "rx_bit_rate": st.rx_bit_rate,
                "tx_bit_rate": st.tx_bit_rate,
                "disks": disks,
            })
        })
        .collect();
    Ok(Value::Object(page(&call, "stats", rows, "vm")?))
}
