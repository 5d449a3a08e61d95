//! The first hour of a new operator, tokens and audit: `token issue` refuses a data directory
//! without a hub, `token list` / `token revoke` (the running hub refuses the revoked token),
//! expiry after the named leeway on REST and in an open MCP session, and the audit filters.

mod common;
mod operator;

use std::time::Duration;

use common::{Proc, free_port, wait_http_ok};
use operator::{SECRET, hub_with_data, issue, run, status_of, temp_dir, wait_log};
use serde_json::{Value, json};

#[test]
fn token_issue_refuses_a_directory_that_holds_no_hub() {
    let dir = temp_dir("typo");
    let d = dir.to_str().unwrap();
    let (ok, out, err) = run(&["token", "issue", "--data", d, "--scope", "read"], &[]);
    assert!(!ok && out.is_empty(), "{out}");
    assert!(
        err.contains("holds no hub") && err.contains("--data"),
        "{err}"
    );
    assert!(!dir.exists(), "a typo must not create a directory");
    let (ok, out, err) = run(
        &["token", "issue", "--data", d, "--scope", "read", "--init"],
        &[],
    );
    assert!(ok, "{err}");
    assert_eq!(out.lines().count(), 1);
    let (ok, _, err) = run(&["token", "issue", "--data", d, "--scope", "read"], &[]);
    assert!(ok, "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn one_revoked_token_is_refused_by_the_running_hub() {
    common::init();
    let dir = temp_dir("revoke");
    let d = dir.to_str().unwrap().to_owned();
    let port = free_port();
    let _hub = hub_with_data(&d, port);
    let base = format!("http://127.0.0.1:{port}");
    assert!(wait_http_ok(&format!("{base}/health"), Duration::from_secs(20)).await);
    let alice = issue(&d, "1h", "alice");
    let bob = issue(&d, "1h", "bob");
    let http = reqwest::Client::new();
    assert_eq!(status_of(&http, &base, &alice).await.0, 200);
    let (ok, list, err) = run(&["token", "list", "--data", &d], &[]);
    assert!(ok, "{err}");
    let line = list
        .lines()
        .find(|l| l.contains("alice"))
        .expect("alice listed");
    assert!(line.ends_with("active"), "{list}");
    assert!(!list.contains(&alice), "the list never shows a token");
    let id = line.split_whitespace().next().unwrap();
    let (ok, _, err) = run(&["token", "revoke", "--data", &d, &id[..10]], &[]);
    assert!(ok && err.contains("revoked token"), "{err}");
    let (code, body) = status_of(&http, &base, &alice).await;
    assert_eq!(code, 401, "{body}");
    assert!(body.contains("revoked"), "{body}");
    assert_eq!(status_of(&http, &base, &bob).await.0, 200);
    let (_, list, _) = run(&["token", "list", "--data", &d], &[]);
    assert!(
        list.lines()
            .any(|l| l.contains("alice") && l.ends_with("revoked")),
        "{list}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn an_expired_token_is_refused_after_the_leeway_on_rest_and_in_an_open_session() {
    common::init();
    let dir = temp_dir("leeway");
    let d = dir.to_str().unwrap().to_owned();
    let port = free_port();
    let _hub = hub_with_data(&d, port);
    let base = format!("http://127.0.0.1:{port}");
    assert!(wait_http_ok(&format!("{base}/health"), Duration::from_secs(20)).await);
    let token = issue(&d, "1s", "short");
    let key = hyperfed_hub::HubKey::load_or_create(&dir).unwrap();
    let exp = hyperfed_hub::ClientClaims::read_any(&key, &token)
        .unwrap()
        .exp;
    let http = reqwest::Client::new();
    // Open an MCP session while the token is valid.
    let transport = rmcp::transport::StreamableHttpClientTransport::from_config(
        rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig::with_uri(
            format!("{base}/mcp"),
        )
        .auth_header(token.clone()),
    );
    let client = rmcp::ServiceExt::serve((), transport)
        .await
        .expect("session opens");
    client.list_all_tools().await.expect("tools while valid");
    // Past expiry but inside the leeway: still accepted.
    let now = hyperfed_protocol::join::unix_now();
    if now <= exp + hyperfed_hub::auth::TOKEN_LEEWAY.as_secs() - 2 {
        assert_eq!(status_of(&http, &base, &token).await.0, 200);
    }
    while hyperfed_protocol::join::unix_now() <= exp + hyperfed_hub::auth::TOKEN_LEEWAY.as_secs() {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (code, body) = status_of(&http, &base, &token).await;
    assert_eq!(code, 401, "{body}");
    assert!(body.contains("expired"), "{body}");
    assert!(
        client.list_all_tools().await.is_err(),
        "an open session must refuse the expired token too"
    );
    let _ = client.cancel().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn refused_routed_calls_are_audited_with_their_cluster_and_audit_filters_work() {
    common::init();
    let dir = temp_dir("audit");
    let d = dir.to_str().unwrap().to_owned();
    let port = free_port();
    let mut hub = hub_with_data(&d, port);
    let base = format!("http://127.0.0.1:{port}");
    assert!(wait_http_ok(&format!("{base}/health"), Duration::from_secs(20)).await);
    let w = Proc::start(
        "dc1",
        &[
            "worker",
            "--mock",
            "datacenter",
            "--seed",
            "7",
            "--listen",
            "127.0.0.1:0",
            "--join",
            &base,
            "--name",
            "dc1",
        ],
        &[("HYPERFED_SECRET", SECRET)],
    );
    assert!(
        wait_log(&w, "joined the hub", Duration::from_secs(20)),
        "{}",
        w.log_text()
    );
    let reader = issue(&d, "1h", "reader");
    let (ok, admin, err) = run(
        &[
            "token",
            "issue",
            "--data",
            &d,
            "--scope",
            "admin",
            "--subject",
            "boss",
        ],
        &[],
    );
    assert!(ok, "{err}");
    let admin = admin.trim();
    let http = reqwest::Client::new();
    for vm in ["dc1/file-01", "sql-01"] {
        let r = http
            .post(format!("{base}/v1/tools/vm_start"))
            .bearer_auth(&reader)
            .json(&json!({"vm": vm}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{vm}");
    }
    let audit = |q: &'static str| {
        let http = http.clone();
        let url = format!("{base}/v1/audit{q}");
        let admin = admin.to_owned();
        async move {
            let r = http.get(url).bearer_auth(admin).send().await.unwrap();
            (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (code, refused) = audit("?outcome=refused&subject=reader").await;
    assert_eq!(code, 200);
    assert_eq!(refused["count"], 2, "{refused}");
    for e in refused["entries"].as_array().unwrap() {
        assert_eq!(
            e["cluster"], "dc1",
            "a refused routed call names its cluster: {e}"
        );
    }
    assert_eq!(audit("?cluster=dc9").await.1["count"], 0);
    assert_eq!(audit("?since=1h&cluster=dc1").await.1["count"], 2);
    assert_eq!(audit("?subject=boss").await.1["count"], 0);
    let (code, bad) = audit("?since=yesterday").await;
    assert_eq!(code, 400);
    assert!(
        bad["error"].as_str().unwrap_or("").starts_with("since"),
        "{bad}"
    );
    drop(w);
    hub.terminate(Duration::from_secs(10));
    let (ok, out, err) = run(
        &[
            "audit",
            "--data",
            &d,
            "--outcome",
            "refused",
            "--cluster",
            "dc1",
            "--since",
            "1h",
        ],
        &[],
    );
    assert!(ok, "{err}");
    assert_eq!(out.lines().count(), 2, "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}
