//! Confirmation by asking the person (issue #13, part 1) against a worker on the simulator,
//! over streamable HTTP with rmcp clients that answer `elicitation/create`: accept, decline
//! and cancel in a 2025 session and through 2026-07-28 `input_required` results; a client
//! without the capability keeps the token flow.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use rmcp::model::{
    CallToolRequestParams, ClientCapabilities, ClientConfig, ElicitRequestParams, ElicitResult,
    ElicitationAction, Implementation, ProtocolVersion,
};
use rmcp::service::{RequestContext, RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ClientHandler, ErrorData, ServiceExt as _};
use serde_json::{Value, json};

/// A person at the keyboard who always gives the same answer, and remembers the questions.
#[derive(Clone)]
struct Person {
    answer: ElicitationAction,
    ticks: bool,
    protocol: ProtocolVersion,
    asked: Arc<Mutex<Vec<(String, Value)>>>,
}

impl Person {
    fn new(answer: ElicitationAction, protocol: ProtocolVersion) -> Self {
        Person {
            answer,
            ticks: true,
            protocol,
            asked: Arc::default(),
        }
    }

    fn questions(&self) -> Vec<(String, Value)> {
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
        let ElicitRequestParams::FormElicitationParams {
            message,
            requested_schema,
            ..
        } = request
        else {
            panic!("a confirmation is a form");
        };
        self.asked
            .lock()
            .unwrap()
            .push((message, serde_json::to_value(&requested_schema).unwrap()));
        let mut result = ElicitResult::new(self.answer.clone());
        if self.answer == ElicitationAction::Accept {
            result = result.with_content(json!({"confirm": self.ticks}));
        }
        Ok(result)
    }
}

async fn session(
    worker: &hyperfed_worker::WorkerHandle,
    person: Person,
) -> RunningService<RoleClient, Person> {
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(worker.mcp_url()).auth_header(TOKEN),
    );
    person.serve(transport).await.expect("client connects")
}

async fn stateless(
    worker: &hyperfed_worker::WorkerHandle,
    person: Person,
) -> RunningService<RoleClient, Person> {
    use rmcp::service::{ClientLifecycleMode, ClientServiceExt as _};
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(worker.mcp_url()).auth_header(TOKEN),
    );
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

/// Running VMs that are not replication targets, to stop one per case.
fn running(worker: &hyperfed_worker::WorkerHandle) -> Vec<(String, String)> {
    truth(worker)["vms"]
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

async fn stop<S: rmcp::Service<RoleClient>>(
    client: &RunningService<RoleClient, S>,
    vm: &str,
) -> rmcp::model::CallToolResult {
    client
        .call_tool(CallToolRequestParams::new("vm_stop").with_arguments(obj(json!({"vm": vm}))))
        .await
        .expect("vm_stop answers")
}

fn state_of(worker: &hyperfed_worker::WorkerHandle, uuid: &str) -> String {
    truth_vm(&truth(worker), uuid)["state"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// One case: `answer` to the question about stopping `vm`; checks the question, the result and
/// the cluster.
async fn case<S: rmcp::Service<RoleClient>>(
    worker: &hyperfed_worker::WorkerHandle,
    client: &RunningService<RoleClient, S>,
    person: &Person,
    (uuid, name): &(String, String),
) {
    let cluster = truth(worker)["cluster"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let r = stop(client, uuid).await;
    let out = r.structured_content.clone().unwrap_or_default();
    let asked = person.questions();
    assert_eq!(asked.len(), 1, "asked exactly once: {asked:?}");
    let (question, schema) = &asked[0];
    for part in [
        "vm_stop",
        name.as_str(),
        uuid.as_str(),
        "STOP",
        "What changes:",
        &cluster,
    ] {
        assert!(
            question.contains(part),
            "the question names {part}: {question}"
        );
    }
    assert_eq!(
        schema["properties"]["confirm"]["type"], "boolean",
        "{schema}"
    );
    assert!(
        out.get("confirm_token").is_none(),
        "no token round-trip: {out}"
    );
    match (person.answer.clone(), person.ticks) {
        (ElicitationAction::Accept, true) => {
            assert_ne!(r.is_error, Some(true), "{out}");
            assert_eq!(out["state"], "COMPLETE", "{out}");
            assert_eq!(state_of(worker, uuid), "SHUTOFF");
        }
        (answer, _) => {
            assert_eq!(out["declined"], true, "{out}");
            let expected = match answer {
                ElicitationAction::Decline => "declined",
                ElicitationAction::Cancel => "cancelled",
                _ => "no",
            };
            assert_eq!(out["answer"], expected, "{out}");
            assert!(
                out["message"]
                    .as_str()
                    .unwrap()
                    .contains("Nothing was changed")
            );
            assert_eq!(state_of(worker, uuid), "RUNNING", "nothing changed");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_2025_session_client_is_asked_and_its_answer_decides() {
    let worker = start().await;
    let vms = running(&worker);
    let answers = [
        (
            ElicitationAction::Accept,
            true,
            ProtocolVersion::V_2025_06_18,
        ),
        (
            ElicitationAction::Accept,
            false,
            ProtocolVersion::V_2025_11_25,
        ),
        (
            ElicitationAction::Decline,
            true,
            ProtocolVersion::V_2025_11_25,
        ),
        (
            ElicitationAction::Cancel,
            true,
            ProtocolVersion::V_2025_06_18,
        ),
    ];
    assert!(vms.len() >= answers.len(), "enough running VMs");
    for ((answer, ticks, protocol), vm) in answers.into_iter().zip(&vms) {
        let mut person = Person::new(answer, protocol.clone());
        person.ticks = ticks;
        let client = session(&worker, person.clone()).await;
        assert_eq!(
            client.peer_info().map(|i| i.protocol_version.clone()),
            Some(protocol)
        );
        case(&worker, &client, &person, vm).await;
        client.cancel().await.unwrap();
    }
    worker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_2026_client_gets_input_required_and_its_answer_decides() {
    let worker = start().await;
    let vms = running(&worker);
    for (answer, vm) in [
        ElicitationAction::Accept,
        ElicitationAction::Decline,
        ElicitationAction::Cancel,
    ]
    .into_iter()
    .zip(&vms)
    {
        let person = Person::new(answer, ProtocolVersion::V_2026_07_28);
        let client = stateless(&worker, person.clone()).await;
        case(&worker, &client, &person, vm).await;
    }
    // The first round is an input_required result carrying the question; the token is opaque
    // request state, never a confirm_token the model must repeat.
    let person = Person::new(ElicitationAction::Accept, ProtocolVersion::V_2026_07_28);
    let client = stateless(&worker, person).await;
    let vm = &vms[3].0;
    let first = client
        .call_tool_once(
            CallToolRequestParams::new("vm_stop").with_arguments(obj(json!({"vm": vm}))),
        )
        .await
        .unwrap();
    let rmcp::model::CallToolResponse::InputRequired(ir) = first else {
        panic!("expected input_required, got {first:?}");
    };
    let wire = serde_json::to_value(&ir).unwrap();
    assert_eq!(wire["resultType"], "input_required", "{wire}");
    assert_eq!(
        wire["inputRequests"]["confirm"]["method"], "elicitation/create",
        "{wire}"
    );
    assert!(
        wire["requestState"].as_str().unwrap().starts_with("ct_"),
        "{wire}"
    );
    assert_eq!(state_of(&worker, vm), "RUNNING");
    worker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_without_elicitation_keeps_the_token_flow() {
    let worker = start().await;
    let (uuid, _) = running(&worker).remove(0);
    let client = mcp(&worker, TOKEN).await;
    let preview = ok(&client, "vm_stop", json!({"vm": uuid})).await;
    assert_eq!(preview["confirmation_required"], true, "{preview}");
    let token = preview["confirm_token"].as_str().unwrap().to_owned();
    assert_eq!(state_of(&worker, &uuid), "RUNNING");
    let done = ok(
        &client,
        "vm_stop",
        json!({"vm": uuid, "confirm_token": token}),
    )
    .await;
    assert_eq!(done["state"], "COMPLETE", "{done}");
    assert_eq!(state_of(&worker, &uuid), "SHUTOFF");

    // A client that can be asked may still pass a token it holds: nothing is asked then.
    let (uuid, _) = running(&worker).remove(0);
    let preview = ok(&client, "vm_stop", json!({"vm": uuid})).await;
    let token = preview["confirm_token"].as_str().unwrap().to_owned();
    let person = Person::new(ElicitationAction::Decline, ProtocolVersion::V_2025_11_25);
    let asking = session(&worker, person.clone()).await;
    let r = asking
        .call_tool(
            CallToolRequestParams::new("vm_stop")
                .with_arguments(obj(json!({"vm": uuid, "confirm_token": token}))),
        )
        .await
        .unwrap();
    assert_eq!(r.structured_content.unwrap()["state"], "COMPLETE");
    assert!(person.questions().is_empty());
    worker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_worker_refuses_before_asking() {
    let mut config = config();
    config.read_only = true;
    let worker = hyperfed_worker::start(config).await.expect("worker starts");
    let (uuid, _) = running(&worker).remove(0);
    for protocol in [ProtocolVersion::V_2025_11_25, ProtocolVersion::V_2026_07_28] {
        let person = Person::new(ElicitationAction::Accept, protocol.clone());
        let client = if protocol.has_initialize() {
            session(&worker, person.clone()).await
        } else {
            stateless(&worker, person.clone()).await
        };
        let refused = client
            .call_tool(
                CallToolRequestParams::new("vm_stop").with_arguments(obj(json!({"vm": uuid}))),
            )
            .await
            .expect_err("vm_stop is not served read-only");
        assert!(
            refused.to_string().contains("unknown tool 'vm_stop'"),
            "{refused}"
        );
        assert!(
            person.questions().is_empty(),
            "{protocol}: asked before refusing"
        );
        assert_eq!(state_of(&worker, &uuid), "RUNNING");
    }
    worker.shutdown().await;
}
