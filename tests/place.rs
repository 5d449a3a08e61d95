//! `hyperfed place` against a real `hyperfed demo` (a hub and three simulated clusters, as
//! processes on 127.0.0.1): the ranked table, a created VM with --dispatch (seen through the
//! hub's REST API), and a size it cannot read named with its flag.

mod common;
mod operator;

use std::time::Duration;

use common::{Proc, free_port, wait_http_ok};
use operator::{run, wait_log};
use serde_json::Value;

#[tokio::test]
async fn place_prints_the_ranked_table_and_creates_the_vm_with_dispatch() {
    common::init();
    let port = free_port();
    let _demo = Proc::start(
        "demo",
        &[
            "demo",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--token",
            "PT",
        ],
        &[],
    );
    let base = format!("http://127.0.0.1:{port}");
    assert!(wait_http_ok(&format!("{base}/health"), Duration::from_secs(30)).await);
    assert!(wait_log(&_demo, "alias=dr-3", Duration::from_secs(30)));
    let env = [("HYPERFED_TOKEN", "PT")];

    let (ok, out, err) = run(
        &[
            "place", "--hub", &base, "--vcpus", "2", "--memory", "4GiB", "--disk", "20GiB",
        ],
        &env,
    );
    assert!(ok, "{err}");
    assert!(
        out.contains("policy most-headroom") && out.contains("RANK"),
        "{out}"
    );
    let first = out
        .lines()
        .find(|l| l.starts_with("1 "))
        .unwrap_or_else(|| panic!("no rank 1 row: {out}"));
    let chosen = first.split_whitespace().nth(1).unwrap().to_owned();

    let (ok, out, err) = run(
        &[
            "place",
            "--hub",
            &base,
            "--vcpus",
            "2",
            "--memory",
            "4GiB",
            "--disk",
            "20GiB",
            "--tag",
            "cli",
            "--dispatch",
            "--name",
            "cli-placed",
        ],
        &env,
    );
    assert!(ok, "{err}");
    assert!(out.contains("created VM cli-placed ("), "{out}");
    assert!(out.contains(&format!("on cluster {chosen}")), "{out}");
    let vms: Value = reqwest::Client::new()
        .get(format!("{base}/v1/vms?name=cli-placed"))
        .bearer_auth("PT")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rows = vms["vms"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{vms}");
    assert_eq!(rows[0]["cluster"], chosen.as_str());

    let (ok, _, err) = run(
        &[
            "place", "--hub", &base, "--vcpus", "2", "--memory", "lots", "--disk", "1GiB",
        ],
        &env,
    );
    assert!(
        !ok && err.contains("--memory") && err.contains("'lots'"),
        "{err}"
    );
    let (ok, _, err) = run(
        &[
            "place", "--hub", &base, "--vcpus", "2", "--memory", "1GiB", "--disk", "1GiB",
        ],
        &[],
    );
    assert!(!ok && err.contains("401"), "no token: {err}");
}
