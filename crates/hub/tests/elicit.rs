//! Confirmation by asking the person through the hub (issue #13, part 1): a real worker on
//! the simulator joined to a hub, rmcp clients that answer `elicitation/create` in a 2025
//! session and through 2026-07-28 `input_required` results. The hub asks with the cluster's
//! alias; yes acts, no/decline/cancel changes nothing and is audited `declined`; a client
//! without the capability keeps the token flow; a read-scoped token is refused before any
//! question.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{SECRET, TempDir, eventually};
use hypercore_sim::Archetype;
use hyperfed_hub::{Health, HubConfig, Scope, ToolsMode, issue_token};
use hyperfed_protocol::Secret;
use hyperfed_worker::{JoinConfig, WorkerConfig, WorkerHandle};
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, ElicitRequestParams,
    ElicitResult, ElicitationAction, Implementation, ProtocolVersion,
};
use rmcp::service::{
    ClientLifecycleMode, ClientServiceExt as _, RequestContext, RoleClient, RunningService,
};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ClientHandler, ErrorData, ServiceExt as _};
use serde_json::{Value, json};

const STATIC: &str = "static-client-token-0123456789";

/// A person who always gives the same answer, and remembers the questions.
#[derive(Clone)]
struct Person {
    answer: ElicitationAction,
    protocol: ProtocolVersion,
    asked: Arc<Mutex<Vec<String>>>,
}

impl Person {
    fn new(answer: ElicitationAction, protocol: ProtocolVersion) -> Self {
        Person {
            answer,
            protocol,
            asked: Arc::default(),
        }
    }

    fn questions(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }
}

impl ClientHandler for Person {
    fn get_info(&self) -> ClientConfig {
        let caps: ClientCapabilities =
            serde_json::from_value(json!({"elicitation": {"form": {}}})).unwrap();
        ClientConfig::new(caps, Implementation::new("person", "1"))
            .with_protocol_version(self.protocol.clone())
    }

    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        if let ElicitRequestParams::FormElicitationParams { message, .. } = request {
            self.asked.lock().unwrap().push(message);
        }
        let mut result = ElicitResult::new(self.answer.clone());
        if self.answer == ElicitationAction::Accept {
            result = result.with_content(json!({"confirm": true}));
        }
        Ok(result)
    }
}

async fn connect(mcp_url: &str, token: &str, person: Person) -> RunningService<RoleClient, Person> {
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(mcp_url.to_owned())
            .auth_header(token.to_owned()),
    );
    if person.protocol.has_initialize() {
        person
            .serve(transport)
            .await
            .expect("session client connects")
    } else {
        person
            .serve_with_lifecycle(
                transport,
                ClientLifecycleMode::Discover {
                    preferred_versions: vec![ProtocolVersion::V_2026_07_28],
                },
            )
            .await
            .expect("2026-07-28 client discovers")
    }
}

async fn worker(hub: &str) -> WorkerHandle {
    let mut config = WorkerConfig::mock(Some(Archetype::Datacenter), 12);
    if let hyperfed_worker::ClusterSource::Mock(sim) = &mut config.cluster {
        sim.task_duration = Duration::from_millis(50);
        sim.shutdown_duration = Duration::from_millis(50);
    }
    config.poll_interval = Duration::from_millis(20);
    config.join = Some(JoinConfig {
        hub_url: hub.to_owned(),
        secret: Secret::new(SECRET),
        name: Some("dc".to_owned()),
        advertise: None,
    });
    hyperfed_worker::start(config).await.expect("worker starts")
}

fn running(w: &WorkerHandle) -> Vec<(String, String)> {
    w.sim().unwrap().truth()["vms"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| {
            v["state"] == "RUNNING" && v["replication_source"].as_str().unwrap_or("").is_empty()
        })
        .map(|v| {
            (
                v["uuid"].as_str().unwrap().to_owned(),
                v["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn state_of(w: &WorkerHandle, uuid: &str) -> String {
    let truth = w.sim().unwrap().truth();
    let vm = truth["vms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["uuid"] == uuid)
        .unwrap()
        .clone();
    vm["state"].as_str().unwrap().to_owned()
}

async fn stop<S: rmcp::Service<RoleClient>>(
    client: &RunningService<RoleClient, S>,
    vm: &str,
) -> CallToolResult {
    let args = json!({"vm": vm});
    client
        .call_tool(
            CallToolRequestParams::new("dc__vm_stop")
                .with_arguments(args.as_object().unwrap().clone()),
        )
        .await
        .expect("dc__vm_stop answers")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hub_asks_with_the_alias_and_audits_the_answer() {
    let dir = TempDir::new("elicit");
    let read = issue_token(&dir.0, Scope::Read, Duration::from_secs(3600), "reader").unwrap();
    let mut cfg = HubConfig::new("127.0.0.1:0".parse().unwrap(), Secret::new(SECRET));
    cfg.tools_mode = ToolsMode::Namespaced;
    cfg.token = Some(Secret::new(STATIC));
    cfg.data_dir = Some(dir.0.clone());
    cfg.heartbeat_interval = Duration::from_millis(200);
    let hub = hyperfed_hub::start(cfg).await.unwrap();
    let w = worker(&hub.base_url()).await;
    eventually("the cluster is up", || {
        let c = hub.clusters();
        c.len() == 1 && c[0].state == Health::Up
    })
    .await;
    let vms = running(&w);
    let cases = [
        (ElicitationAction::Accept, ProtocolVersion::V_2025_11_25),
        (ElicitationAction::Decline, ProtocolVersion::V_2025_06_18),
        (ElicitationAction::Cancel, ProtocolVersion::V_2025_11_25),
        (ElicitationAction::Accept, ProtocolVersion::V_2026_07_28),
        (ElicitationAction::Decline, ProtocolVersion::V_2026_07_28),
        (ElicitationAction::Cancel, ProtocolVersion::V_2026_07_28),
    ];
    assert!(vms.len() > cases.len(), "enough running VMs");
    for ((answer, protocol), (uuid, name)) in cases.iter().cloned().zip(&vms) {
        let person = Person::new(answer.clone(), protocol.clone());
        let client = connect(&hub.mcp_url(), STATIC, person.clone()).await;
        let r = stop(&client, uuid).await;
        let out = r.structured_content.clone().unwrap_or_default();
        let asked = person.questions();
        assert_eq!(asked.len(), 1, "{protocol}: asked once: {asked:?}");
        for part in [
            "cluster 'dc'",
            "vm_stop",
            name.as_str(),
            "STOP",
            "What changes:",
        ] {
            assert!(
                asked[0].contains(part),
                "{protocol}: the question names {part}: {}",
                asked[0]
            );
        }
        assert!(out.get("confirm_token").is_none(), "{out}");
        if answer == ElicitationAction::Accept {
            assert_ne!(r.is_error, Some(true), "{out}");
            assert_eq!(out["state"], "COMPLETE", "{protocol}: {out}");
            assert_eq!(state_of(&w, uuid), "SHUTOFF", "{protocol}");
        } else {
            assert_eq!(out["declined"], true, "{protocol}: {out}");
            assert!(out["message"].as_str().unwrap().contains("'dc'"), "{out}");
            assert_eq!(state_of(&w, uuid), "RUNNING", "{protocol}: nothing changed");
        }
        if protocol.has_initialize() {
            client.cancel().await.unwrap();
        }
    }

    // No elicitation capability: today's token flow, unchanged.
    let (plain, _) = common::client(&hub.mcp_url(), Some(STATIC)).await;
    let (uuid, _) = &vms[cases.len()];
    let (preview, err) = common::call(&plain, "dc__vm_stop", json!({"vm": uuid})).await;
    assert!(!err, "{preview}");
    assert_eq!(preview["confirmation_required"], true, "{preview}");
    assert!(
        preview["confirm_token"]
            .as_str()
            .unwrap()
            .starts_with("ct_")
    );
    assert_eq!(state_of(&w, uuid), "RUNNING");

    // A read-scoped token is refused before anything is asked, in both generations.
    for protocol in [ProtocolVersion::V_2025_11_25, ProtocolVersion::V_2026_07_28] {
        let person = Person::new(ElicitationAction::Accept, protocol.clone());
        let reader = connect(&hub.mcp_url(), &read, person.clone()).await;
        let r = stop(&reader, uuid).await;
        assert_eq!(r.is_error, Some(true), "{protocol}: {r:?}");
        assert!(
            person.questions().is_empty(),
            "{protocol}: asked before refusing"
        );
        assert_eq!(state_of(&w, uuid), "RUNNING");
    }

    // The audit: accepted calls are ok, the others declined, all on cluster dc.
    let audit: Value = reqwest::Client::new()
        .get(format!("{}/v1/audit?cluster=dc", hub.base_url()))
        .bearer_auth(STATIC)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let entries = audit["entries"].as_array().unwrap();
    let count = |outcome: &str| {
        entries
            .iter()
            .filter(|e| e["tool"] == "vm_stop" && e["outcome"] == outcome)
            .count()
    };
    assert_eq!(count("ok"), 2, "{audit}");
    assert_eq!(count("declined"), 4, "{audit}");
    assert_eq!(count("refused"), 2, "{audit}");
    w.shutdown().await;
    hub.shutdown().await;
}
