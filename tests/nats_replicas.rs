//! Hub replicas on NATS as real processes (issue #11): two `hyperfed hub --nats` replicas and
//! one `hyperfed worker --nats --count 3` process with no listening port. A change made through
//! replica A is audited in the fleet's stream; A is then SIGKILLed while a client keeps calling
//! replica B: no call on B fails, and B still shows A's audit record.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::{Proc, free_port, wait_http_ok};
use hyperfed_nats::testing::NatsServer;
use serde_json::{Value, json};

const SECRET: &str = "replica-test-secret-0123456789";
const TOKEN: &str = "replica-test-token";

fn hub(name: &str, nats: &str, port: u16) -> Proc {
    let listen = format!("127.0.0.1:{port}");
    Proc::start(
        name,
        &["hub", "--nats", nats, "--fleet", "rt", "--listen", &listen],
        &[("HYPERFED_SECRET", SECRET), ("HYPERFED_TOKEN", TOKEN)],
    )
}

async fn get(http: &reqwest::Client, url: &str) -> Value {
    http.get(url)
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap_or_default()
}

async fn three_up(http: &reqwest::Client, base: &str) -> bool {
    let v = get(http, &format!("{base}/v1/clusters")).await;
    v["clusters"]
        .as_array()
        .is_some_and(|c| c.len() == 3 && c.iter().all(|c| c["state"] == "up"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_replica_loses_no_audit_record_and_fails_no_call_on_another() {
    common::init();
    let Some(server) = NatsServer::start() else {
        return;
    };
    let nats = server.url();
    let (pa, pb) = (free_port(), free_port());
    let mut a = hub("hub-a", &nats, pa);
    let _b = hub("hub-b", &nats, pb);
    let (base_a, base_b) = (
        format!("http://127.0.0.1:{pa}"),
        format!("http://127.0.0.1:{pb}"),
    );
    for base in [&base_a, &base_b] {
        assert!(wait_http_ok(&format!("{base}/health"), Duration::from_secs(30)).await);
    }
    let _workers = Proc::start(
        "workers",
        &[
            "worker", "--mock", "edge", "--seed", "5", "--count", "3", "--name", "site", "--nats",
            &nats, "--fleet", "rt",
        ],
        &[("HYPERFED_SECRET", SECRET)],
    );
    let http = reqwest::Client::new();
    let mut ready = false;
    for _ in 0..600 {
        if three_up(&http, &base_a).await && three_up(&http, &base_b).await {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "three clusters up on both replicas");

    // A change through replica A.
    let vms = get(&http, &format!("{base_a}/v1/vms?state=RUNNING&limit=1")).await;
    let vm = &vms["vms"][0];
    let target = format!(
        "{}/{}",
        vm["cluster"].as_str().unwrap(),
        vm["name"].as_str().unwrap()
    );
    let r = http
        .post(format!("{base_a}/v1/tools/vm_reboot"))
        .bearer_auth(TOKEN)
        .json(&json!({"vm": target}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{:?}", r.text().await);

    // A client keeps calling replica B while A is killed.
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let load = {
        let (stop, ok, failed, http, base_b) = (
            stop.clone(),
            ok.clone(),
            failed.clone(),
            http.clone(),
            base_b.clone(),
        );
        tokio::spawn(async move {
            let mut errors = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                for path in ["/v1/status", "/v1/vms?limit=5"] {
                    let r = http
                        .get(format!("{base_b}{path}"))
                        .bearer_auth(TOKEN)
                        .send()
                        .await;
                    match r {
                        Ok(r) if r.status().is_success() => {
                            let v: Value = r.json().await.unwrap_or_default();
                            if v["unanswered"].as_array().is_some_and(|u| u.is_empty()) {
                                ok.fetch_add(1, Ordering::Relaxed);
                            } else {
                                failed.fetch_add(1, Ordering::Relaxed);
                                errors.push(v.to_string());
                            }
                        }
                        other => {
                            failed.fetch_add(1, Ordering::Relaxed);
                            errors.push(format!("{other:?}"));
                        }
                    }
                }
            }
            errors
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before_kill = ok.load(Ordering::Relaxed);
    a.kill();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::Relaxed);
    let errors = load.await.unwrap();
    assert!(before_kill > 0, "calls were made before the kill");
    assert!(
        ok.load(Ordering::Relaxed) > before_kill,
        "calls went on after the kill"
    );
    assert_eq!(failed.load(Ordering::Relaxed), 0, "{errors:?}");

    // Replica B shows the change A made, completed.
    let audit = get(&http, &format!("{base_b}/v1/audit")).await;
    let records: Vec<&Value> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["tool"] == "vm_reboot")
        .collect();
    assert_eq!(records.len(), 1, "{audit}");
    assert_eq!(records[0]["outcome"], "ok", "{audit}");
}
