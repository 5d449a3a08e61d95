//! What a person in Claude Desktop meets when a destructive action is asked for: the desktop
//! app (an rmcp client on stdio) talks to `hyperfed connect`, which relays to a hub process with
//! a simulated cluster. An app that declared elicitation is asked the hub's question (with the
//! cluster's alias) and its answer decides; an app that did not keeps the confirm_token flow.

mod common;

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Proc, bin, free_port, wait_http_ok};
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, ElicitRequestParams,
    ElicitResult, ElicitationAction, Implementation,
};
use rmcp::service::{RequestContext, RoleClient, RunningService};
use rmcp::{ClientHandler, ErrorData, ServiceExt as _};
use serde_json::{Value, json};

const SECRET: &str = "connect-elicit-secret-0123456789";

/// The desktop app: declares elicitation (or not) and answers every question the same way.
#[derive(Clone)]
struct Desktop {
    elicitation: bool,
    answer: ElicitationAction,
    asked: Arc<Mutex<Vec<String>>>,
}

impl ClientHandler for Desktop {
    fn get_info(&self) -> ClientConfig {
        let caps = if self.elicitation {
            json!({"elicitation": {"form": {}}})
        } else {
            json!({})
        };
        let caps: ClientCapabilities = serde_json::from_value(caps).unwrap();
        ClientConfig::new(caps, Implementation::new("desktop", "1"))
    }

    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        if let ElicitRequestParams::FormElicitationParams { message, .. } = request {
            self.asked.lock().unwrap().push(message);
        }
        let mut r = ElicitResult::new(self.answer.clone());
        if self.answer == ElicitationAction::Accept {
            r = r.with_content(json!({"confirm": true}));
        }
        Ok(r)
    }
}

/// `hyperfed connect URL` as a child process, with `desktop` speaking MCP on its stdio.
async fn bridge(
    url: &str,
    desktop: Desktop,
) -> (RunningService<RoleClient, Desktop>, tokio::process::Child) {
    let mut child = tokio::process::Command::new(bin())
        .args(["connect", url])
        .env("HYPERFED_TOKEN", "HT")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn hyperfed connect");
    let stdout = child.stdout.take().unwrap();
    let stdin = child.stdin.take().unwrap();
    let client = desktop
        .serve((stdout, stdin))
        .await
        .expect("the bridge answers initialize");
    (client, child)
}

async fn stop(client: &RunningService<RoleClient, Desktop>, vm: &str) -> (CallToolResult, Value) {
    let args = json!({"cluster": "edge", "vm": vm});
    let r = client
        .call_tool(
            CallToolRequestParams::new("vm_stop").with_arguments(args.as_object().unwrap().clone()),
        )
        .await
        .expect("vm_stop answers");
    let v = r.structured_content.clone().unwrap_or_default();
    (r, v)
}

async fn vm_state(http: &reqwest::Client, hub: &str, vm: &str) -> String {
    let v: Value = http
        .post(format!("{hub}/v1/tools/vm_get"))
        .bearer_auth("HT")
        .json(&json!({"cluster": "edge", "vm": vm}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let s = v.to_string();
    for state in ["SHUTOFF", "RUNNING"] {
        if s.contains(&format!("\"state\":\"{state}\"")) {
            return state.to_owned();
        }
    }
    panic!("no state in {s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claude_desktop_through_connect_is_asked_or_keeps_the_token_flow() {
    common::init();
    let hport = free_port();
    let wport = free_port();
    let hub = format!("http://127.0.0.1:{hport}");
    let _hub = Proc::start(
        "hub",
        &[
            "hub",
            "--listen",
            &format!("127.0.0.1:{hport}"),
            "--token",
            "HT",
        ],
        &[("HYPERFED_SECRET", SECRET)],
    );
    assert!(wait_http_ok(&format!("{hub}/health"), Duration::from_secs(20)).await);
    let _worker = Proc::start(
        "worker",
        &[
            "worker",
            "--mock",
            "edge",
            "--seed",
            "3",
            "--listen",
            &format!("127.0.0.1:{wport}"),
            "--join",
            &hub,
            "--name",
            "edge",
        ],
        &[("HYPERFED_SECRET", SECRET), ("HYPERFED_TOKEN", "WT")],
    );
    let http = reqwest::Client::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let v: Value = http
            .get(format!("{hub}/v1/clusters"))
            .bearer_auth("HT")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap_or_default();
        if v.to_string().contains("\"up\"") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "worker never joined: {v}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mcp = format!("{hub}/mcp");

    // Declined in the app: nothing changes, and the model reads that the person said no.
    let desktop = Desktop {
        elicitation: true,
        answer: ElicitationAction::Decline,
        asked: Arc::default(),
    };
    let (client, _child) = bridge(&mcp, desktop.clone()).await;
    let (_, out) = stop(&client, "nvr-02").await;
    assert_eq!(out["declined"], true, "{out}");
    let asked = desktop.asked.lock().unwrap().clone();
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert!(
        asked[0].contains("cluster 'edge'") && asked[0].contains("nvr-02"),
        "{}",
        asked[0]
    );
    assert_eq!(vm_state(&http, &hub, "nvr-02").await, "RUNNING");
    client.cancel().await.unwrap();

    // Accepted: the VM stops, no token round-trip.
    let desktop = Desktop {
        elicitation: true,
        answer: ElicitationAction::Accept,
        asked: Arc::default(),
    };
    let (client, _child) = bridge(&mcp, desktop.clone()).await;
    let (r, out) = stop(&client, "nvr-02").await;
    assert_ne!(r.is_error, Some(true), "{out}");
    assert_eq!(out["state"], "COMPLETE", "{out}");
    assert_eq!(vm_state(&http, &hub, "nvr-02").await, "SHUTOFF");
    client.cancel().await.unwrap();

    // An app without elicitation: the preview and confirm_token, exactly as before.
    let desktop = Desktop {
        elicitation: false,
        answer: ElicitationAction::Accept,
        asked: Arc::default(),
    };
    let (client, _child) = bridge(&mcp, desktop.clone()).await;
    let (_, out) = stop(&client, "file-01").await;
    assert_eq!(out["confirmation_required"], true, "{out}");
    assert!(
        out["confirm_token"].as_str().unwrap().starts_with("ct_"),
        "{out}"
    );
    assert!(desktop.asked.lock().unwrap().is_empty());
    assert_eq!(vm_state(&http, &hub, "file-01").await, "RUNNING");
    client.cancel().await.unwrap();
}
