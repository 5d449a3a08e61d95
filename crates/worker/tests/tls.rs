//! HTTPS on the worker listener: a worker with a self-signed certificate serves `/health`
//! and a whole MCP session to a client trusting that certificate, and refuses other clients.

mod common;

use std::path::{Path, PathBuf};

use hyperfed_worker::TlsFiles;
use rmcp::ServiceExt as _;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};

/// A self-signed certificate for localhost and 127.0.0.1: (PEM certificate, PEM key).
fn self_signed() -> (String, String) {
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    (cert.cert.pem(), cert.signing_key.serialize_pem())
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("hyperfed-worker-tls-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn client_trusting(cert_pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_certs_only(reqwest::Certificate::from_pem_bundle(cert_pem.as_bytes()).unwrap())
        .build()
        .unwrap()
}

#[tokio::test]
async fn https_serves_health_and_mcp_and_refuses_untrusting_clients() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = temp_dir("ok");
    let (cert_pem, key_pem) = self_signed();
    let mut config = common::config();
    config.tls = Some(TlsFiles {
        cert: write(&dir, "cert.pem", &cert_pem),
        key: write(&dir, "key.pem", &key_pem),
    });
    let worker = hyperfed_worker::start(config).await.expect("worker starts");
    assert!(
        worker.base_url().starts_with("https://"),
        "{}",
        worker.base_url()
    );
    assert!(
        worker.mcp_url().starts_with("https://"),
        "{}",
        worker.mcp_url()
    );

    let trusting = client_trusting(&cert_pem);
    let health: Value = trusting
        .get(format!("{}/health", worker.base_url()))
        .send()
        .await
        .expect("https /health answers")
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "up", "{health}");

    // A whole MCP session over HTTPS.
    let transport = StreamableHttpClientTransport::with_client(
        trusting.clone(),
        StreamableHttpClientTransportConfig::with_uri(worker.mcp_url()).auth_header(common::TOKEN),
    );
    let session = ().serve(transport).await.expect("MCP over https connects");
    let tools = session.list_all_tools().await.expect("tools/list");
    assert!(tools.iter().any(|t| t.name == "vm_list"));
    let vms = common::ok(&session, "vm_list", json!({})).await;
    assert!(
        vms["vms"].as_array().is_some_and(|v| !v.is_empty()),
        "{vms}"
    );
    let _ = session.cancel().await;

    // A client trusting another certificate fails the handshake.
    let (other_pem, _) = self_signed();
    let distrusting = client_trusting(&other_pem);
    let refused = distrusting
        .get(format!("{}/health", worker.base_url()))
        .send()
        .await;
    assert!(refused.is_err(), "untrusted certificate was accepted");
    // Plain HTTP on the TLS port gets no answer either.
    let plain = reqwest::Client::new()
        .get(format!("http://{}/health", worker.local_addr()))
        .send()
        .await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());

    worker.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_bad_key_file_is_a_config_error_naming_the_file() {
    let dir = temp_dir("bad");
    let (cert_pem, _) = self_signed();
    let key = write(&dir, "key.pem", "not a key");
    let mut config = common::config();
    config.tls = Some(TlsFiles {
        cert: write(&dir, "cert.pem", &cert_pem),
        key: key.clone(),
    });
    let err = match hyperfed_worker::start(config).await {
        Ok(w) => {
            w.shutdown().await;
            panic!("a worker started with an unusable key");
        }
        Err(e) => e.to_string(),
    };
    assert!(err.contains(&key.display().to_string()), "{err}");
    assert!(!err.contains("not a key"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
