//! Connecting with credentials and TLS against a real nats-server: user/password (which the
//! CLI takes from HYPERFED_NATS_USER / HYPERFED_NATS_PASSWORD) and a CA file for `tls://`,
//! through the workspace's one rustls provider (ring). Errors never show the password.

use hyperfed_nats::testing::NatsServer;
use hyperfed_nats::{NatsConnection, NatsOptions, SetupError};
use hyperfed_protocol::Secret;
use std::path::PathBuf;
use std::time::Duration;

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hyperfed-nats-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn round_trip(conn: &NatsConnection) {
    use futures::StreamExt as _;
    let mut sub = conn.client().subscribe("hello").await.unwrap();
    conn.client()
        .publish("hello", "world".into())
        .await
        .unwrap();
    let msg = tokio::time::timeout(Duration::from_secs(5), sub.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&msg.payload[..], b"world");
}

#[tokio::test]
async fn user_and_password_are_used_and_never_shown() {
    let Some(server) = NatsServer::start_with(&["--user", "hub", "--pass", "pw-Zq81x"]) else {
        return;
    };
    let mut opts = NatsOptions::new([server.url()]);
    opts.user = Some("hub".into());
    opts.password = Some(Secret::new("pw-Zq81x"));
    let conn = NatsConnection::connect(&opts)
        .await
        .expect("right password");
    round_trip(&conn).await;

    opts.password = Some(Secret::new("wrong-pw-Kd72"));
    let err = NatsConnection::connect(&opts).await.unwrap_err();
    assert!(matches!(err, SetupError::Connect { .. }), "{err}");
    let shown = format!("{err} {err:?} {opts:?}");
    assert!(
        !shown.contains("wrong-pw-Kd72") && !shown.contains("pw-Zq81x"),
        "{shown}"
    );
}

#[tokio::test]
async fn tls_with_a_ca_file() {
    let dir = temp_dir("tls");
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let (cert_path, key_path) = (dir.join("server.pem"), dir.join("server.key"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    let args = [
        "--tls",
        "--tlscert",
        cert_path.to_str().unwrap(),
        "--tlskey",
        key_path.to_str().unwrap(),
    ];
    let Some(server) = NatsServer::start_with(&args) else {
        let _ = std::fs::remove_dir_all(&dir);
        return;
    };
    let url = format!("tls://127.0.0.1:{}", server.port());

    let mut opts = NatsOptions::new([url.clone()]);
    opts.ca_file = Some(cert_path.clone());
    let conn = NatsConnection::connect(&opts)
        .await
        .expect("TLS with the CA file");
    round_trip(&conn).await;

    // Without the CA the server's certificate is not trusted.
    let err = NatsConnection::connect(&NatsOptions::new([url]))
        .await
        .unwrap_err();
    assert!(matches!(err, SetupError::Connect { .. }), "{err}");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
