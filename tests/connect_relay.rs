//! `hyperfed connect` (the stdio bridge Claude Desktop uses) relays prompts, completions,
//! logging and resource subscriptions: a stdio client lists and gets a prompt, completes a tag,
//! sets a log level, subscribes to a worker's VM list and hears it change when a VM stops.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{Proc, bin, free_port, wait_http_ok};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// Longest wait for one answer or notification (a bound, not a speed claim).
const WAIT: Duration = Duration::from_secs(30);

struct Stdio2 {
    child: Child,
    stdin: ChildStdin,
    lines: tokio::io::Lines<BufReader<ChildStdout>>,
    next_id: u64,
}

impl Stdio2 {
    async fn send(&mut self, message: Value) {
        let mut line = message.to_string();
        line.push('\n');
        self.stdin.write_all(line.as_bytes()).await.unwrap();
    }

    /// The next message that satisfies `want` (others, such as log lines, are kept aside).
    async fn until(&mut self, want: impl Fn(&Value) -> bool, seen: &mut Vec<Value>) -> Value {
        loop {
            let line = tokio::time::timeout(WAIT, self.lines.next_line())
                .await
                .expect("an answer from connect")
                .unwrap()
                .expect("connect is still running");
            let v: Value = serde_json::from_str(&line).expect("JSON-RPC line");
            if want(&v) {
                return v;
            }
            seen.push(v);
        }
    }

    async fn request(&mut self, method: &str, params: Value, seen: &mut Vec<Value>) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await;
        let reply = self.until(|v| v["id"] == id, seen).await;
        assert!(reply.get("error").is_none(), "{method}: {reply}");
        reply["result"].clone()
    }
}

#[tokio::test]
async fn connect_relays_prompts_completions_logging_and_subscriptions() {
    common::init();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let _worker = Proc::start(
        "worker",
        &[
            "worker", "--mock", "edge", "--seed", "5", "--listen", &listen,
        ],
        &[("HYPERFED_TOKEN", "WT")],
    );
    assert!(wait_http_ok(&format!("http://{listen}/health"), Duration::from_secs(20)).await);
    let mut child = Command::new(bin())
        .args(["connect", &format!("http://{listen}/mcp")])
        .env("HYPERFED_TOKEN", "WT")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn connect");
    let mut io = Stdio2 {
        stdin: child.stdin.take().unwrap(),
        lines: BufReader::new(child.stdout.take().unwrap()).lines(),
        child,
        next_id: 0,
    };
    let mut seen = Vec::new();
    let init = io
        .request(
            "initialize",
            json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "desktop", "version": "1"}}),
            &mut seen,
        )
        .await;
    let caps = &init["capabilities"];
    for cap in ["prompts", "completions", "logging"] {
        assert!(caps.get(cap).is_some(), "{cap} in {caps}");
    }
    assert_eq!(caps["resources"]["subscribe"], true, "{caps}");
    io.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        .await;

    let prompts = io.request("prompts/list", json!({}), &mut seen).await;
    assert_eq!(prompts["prompts"].as_array().unwrap().len(), 4, "{prompts}");
    let got = io
        .request(
            "prompts/get",
            json!({"name": "snapshot_gaps", "arguments": {"days": "3"}}),
            &mut seen,
        )
        .await;
    assert!(got.to_string().contains("last 3 days"), "{got}");
    let tags = io
        .request(
            "completion/complete",
            json!({"ref": {"type": "ref/prompt", "name": "rolling_restart"}, "argument": {"name": "tag", "value": ""}}),
            &mut seen,
        )
        .await;
    assert!(
        !tags["completion"]["values"].as_array().unwrap().is_empty(),
        "{tags}"
    );

    io.request("logging/setLevel", json!({"level": "warning"}), &mut seen)
        .await;
    io.request(
        "resources/subscribe",
        json!({"uri": "hypercore://vms"}),
        &mut seen,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await; // the watch's baseline read
    let running = io
        .request(
            "tools/call",
            json!({"name": "vm_list", "arguments": {"state": "RUNNING", "limit": 1}}),
            &mut seen,
        )
        .await;
    let uuid = running["structuredContent"]["vms"][0]["uuid"]
        .as_str()
        .expect("a running VM")
        .to_owned();
    let preview = io
        .request(
            "tools/call",
            json!({"name": "vm_stop", "arguments": {"vm": uuid}}),
            &mut seen,
        )
        .await;
    let token = preview["structuredContent"]["confirm_token"].clone();
    io.request(
        "tools/call",
        json!({"name": "vm_stop", "arguments": {"vm": uuid, "confirm_token": token}}),
        &mut seen,
    )
    .await;
    let updated = io
        .until(
            |v| v["method"] == "notifications/resources/updated",
            &mut seen,
        )
        .await;
    assert_eq!(updated["params"]["uri"], "hypercore://vms");

    // A failed call is a warning the client hears (it asked for warning and above).
    io.send(json!({"jsonrpc": "2.0", "id": 99, "method": "tools/call", "params": {"name": "vm_get", "arguments": {"vm": "no-such-vm"}}}))
        .await;
    let warning = io
        .until(|v| v["method"] == "notifications/message", &mut seen)
        .await;
    assert_eq!(warning["params"]["level"], "warning", "{warning}");
    assert_eq!(warning["params"]["data"]["tool"], "vm_get", "{warning}");
    assert!(
        seen.iter().all(|v| v["params"]["level"] != "debug"),
        "nothing below warning: {seen:?}"
    );
    drop(io.stdin);
    let _ = tokio::time::timeout(WAIT, io.child.wait()).await;
}
