//! `hyperfed place --hub URL --vcpus N --memory SIZE --disk SIZE [--tag T] [--policy P]
//! [--dispatch --name NAME]`: asks the hub where a VM fits (`POST /v1/placement`) and prints
//! the ranked table; with `--dispatch` the hub also creates the VM on the first cluster.

use std::fmt::Write as _;

use anyhow::Context as _;
use serde_json::{Value, json};

/// Arguments of `hyperfed place`.
#[derive(clap::Args)]
pub struct PlaceArgs {
    /// The hub's base URL (e.g. http://127.0.0.1:8000).
    #[arg(long, env = "HYPERFED_HUB", value_name = "URL")]
    pub hub: String,
    /// Bearer token for the hub (scope read to ask, operate to --dispatch).
    #[arg(long, env = "HYPERFED_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// vCPUs of the VM.
    #[arg(long)]
    pub vcpus: u64,
    /// Memory of the VM, e.g. 16GiB or 512MiB (plain numbers are bytes).
    #[arg(long, value_parser = parse_size)]
    pub memory: u64,
    /// Capacity of a disk, e.g. 200GiB; repeat for more disks.
    #[arg(long = "disk", value_parser = parse_size, required = true)]
    pub disks: Vec<u64>,
    /// The VM's tag (policy spread prefers the cluster with fewest VMs carrying it).
    #[arg(long)]
    pub tag: Option<String>,
    /// Ranking policy: most-headroom (default), least-loaded, spread, first-fit, random.
    #[arg(long)]
    pub policy: Option<String>,
    /// Seed of policy random.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Only these clusters (repeat), in this order for first-fit.
    #[arg(long = "cluster")]
    pub clusters: Vec<String>,
    /// Create the VM on the first cluster of the ranking (needs --name).
    #[arg(long, requires = "name")]
    pub dispatch: bool,
    /// Name of the VM to create with --dispatch.
    #[arg(long)]
    pub name: Option<String>,
    /// Print the hub's JSON answer instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// A size such as `16GiB`, `200 GB` or `1048576` (bytes).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let size: bytesize::ByteSize = s
        .trim()
        .parse()
        .map_err(|e| format!("'{s}' is not a size such as 16GiB or 200GB: {e}"))?;
    if size.as_u64() == 0 {
        return Err(format!("'{s}' is zero; give a size such as 16GiB"));
    }
    Ok(size.as_u64())
}

fn gib(v: &Value) -> String {
    match v.as_f64() {
        Some(b) => format!("{:.1} GiB", b / (1u64 << 30) as f64),
        None => "-".into(),
    }
}

/// The ranked table of a `placement_select` answer.
pub fn table(answer: &Value) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "policy {}{}",
        answer["policy"].as_str().unwrap_or("?"),
        answer["note"]
            .as_str()
            .map(|n| format!(" ({n})"))
            .unwrap_or_default()
    );
    let _ = writeln!(
        out,
        "{:<5} {:<20} {:>14} {:>16} {:>7} {:>6}  REASON",
        "RANK", "CLUSTER", "MEM LEFT", "STORAGE LEFT", "LOAD", "TRUST"
    );
    for row in answer["ranked"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "{:<5} {:<20} {:>14} {:>16} {:>6.1}% {:>6.2}  {}",
            row["rank"],
            row["cluster"].as_str().unwrap_or(""),
            gib(&row["headroom"]["memory_free_after_bytes"]),
            gib(&row["headroom"]["storage_free_after_bytes"]),
            row["load"]["memory_allocated_ratio"]
                .as_f64()
                .unwrap_or(0.0)
                * 100.0,
            row["trust"]["score"].as_f64().unwrap_or(1.0),
            row["reason"].as_str().unwrap_or("")
        );
    }
    for row in answer["not_fitting"].as_array().into_iter().flatten() {
        let why: Vec<&str> = row["why_not"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let _ = writeln!(
            out,
            "does not fit on {}: {}",
            row["cluster"].as_str().unwrap_or(""),
            why.join("; ")
        );
    }
    for row in answer["unanswered"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "no answer from {}: {}",
            row["cluster"].as_str().unwrap_or(""),
            row["error"].as_str().unwrap_or("")
        );
    }
    if answer["ranked"].as_array().is_none_or(Vec::is_empty) {
        let _ = writeln!(out, "the VM fits on no cluster that answered");
    }
    out
}

/// Runs `hyperfed place`.
pub async fn run(args: PlaceArgs) -> anyhow::Result<()> {
    let base = args.hub.trim_end_matches('/').trim_end_matches("/mcp");
    let mut body = json!({
        "vcpus": args.vcpus,
        "memory_bytes": args.memory,
        "disk_bytes": args.disks,
    });
    if let Some(t) = &args.tag {
        body["tag"] = json!(t);
    }
    if let Some(p) = &args.policy {
        body["policy"] = json!(p);
    }
    if let Some(s) = args.seed {
        body["seed"] = json!(s);
    }
    if !args.clusters.is_empty() {
        body["clusters"] = json!(args.clusters);
    }
    if args.dispatch {
        body["dispatch"] = json!(true);
        body["name"] = json!(args.name);
    }
    let mut req = reqwest::Client::new()
        .post(format!("{base}/v1/placement"))
        .json(&body);
    if let Some(t) = &args.token {
        req = req.bearer_auth(t);
    }
    let resp = req
        .send()
        .await
        .with_context(|| format!("cannot reach the hub at {base}"))?;
    let status = resp.status();
    let answer: Value = resp
        .json()
        .await
        .with_context(|| format!("the hub at {base} answered HTTP {status} without JSON"))?;
    if !status.is_success() {
        anyhow::bail!(
            "the hub refused the placement (HTTP {}): {}",
            status.as_u16(),
            answer["error"].as_str().unwrap_or("no reason given")
        );
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
        return Ok(());
    }
    if args.dispatch {
        // vm_place's answer carries the ranking it acted on.
        let ranking =
            json!({"policy": answer["policy"], "note": answer["note"], "ranked": answer["ranked"]});
        print!("{}", table(&ranking));
        println!(
            "created VM {} ({}) on cluster {} (operation {})",
            args.name.as_deref().unwrap_or(""),
            answer["created_uuid"].as_str().unwrap_or("?"),
            answer["cluster"].as_str().unwrap_or("?"),
            answer["operation"].as_str().unwrap_or("?")
        );
    } else {
        print!("{}", table(&answer));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_units_and_refuse_nonsense() {
        assert_eq!(parse_size("16GiB").unwrap(), 16 << 30);
        assert_eq!(parse_size("512 MiB").unwrap(), 512 << 20);
        assert_eq!(parse_size("1048576").unwrap(), 1 << 20);
        assert!(parse_size("lots").unwrap_err().contains("'lots'"));
        assert!(parse_size("0").is_err());
    }
}
