//! HTTPS with the generated self-signed certificate: a client trusting `cert_pem()` talks to
//! the simulator; a client trusting nothing extra is refused.

mod common;

use common::{Api, fast_config, init, start};
use hypercore_sim::Archetype;

#[tokio::test]
async fn https_with_self_signed_certificate() {
    let mut config = fast_config(Archetype::Edge, 6);
    config.tls = true;
    let sim = start(config).await;
    assert!(sim.base_url().starts_with("https://127.0.0.1:"));
    let pem = sim
        .cert_pem()
        .expect("TLS simulators expose their certificate");
    assert!(pem.contains("BEGIN CERTIFICATE"));
    init();
    let trusting = reqwest::Client::builder()
        .no_proxy()
        .tls_certs_only([reqwest::Certificate::from_pem(pem.as_bytes()).unwrap()])
        .build()
        .unwrap();
    let api = Api::login_with(trusting, &sim.base_url(), "admin", "admin").await;
    assert_eq!(api.list("/Cluster").await.len(), 1);

    let strict = reqwest::Client::builder()
        .no_proxy()
        .tls_certs_only([])
        .build()
        .unwrap();
    assert!(
        strict
            .get(format!("{}/rest/v1/ping", sim.base_url()))
            .send()
            .await
            .is_err(),
        "an untrusted self-signed certificate is refused"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn plain_http_has_no_certificate() {
    let sim = start(fast_config(Archetype::Edge, 6)).await;
    assert!(sim.cert_pem().is_none());
    assert!(sim.base_url().starts_with("http://127.0.0.1:"));
    sim.shutdown().await;
}
