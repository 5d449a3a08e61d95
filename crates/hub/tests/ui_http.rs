//! The fleet page over plain HTTP: `/ui` and its assets answer without a token and always with
//! the strict security headers, while every data call the page makes needs the token; the
//! paged REST reads the page relies on (`limit`, `cursor`) work and name a bad argument.

mod common;

use common::{FakeCluster, FakeWorker, SECRET};
use hyperfed_hub::HubConfig;
use hyperfed_protocol::Secret;
use reqwest::StatusCode;
use serde_json::Value;

const TOKEN: &str = "ui-http-test-token-0123456789";
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

fn assert_page_headers(url: &str, resp: &reqwest::Response) {
    let h = resp.headers();
    let get = |name: &str| h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("");
    assert_eq!(get("content-security-policy"), CSP, "{url}");
    assert_eq!(get("x-frame-options"), "DENY", "{url}");
    assert_eq!(get("x-content-type-options"), "nosniff", "{url}");
    assert_eq!(get("referrer-policy"), "no-referrer", "{url}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ui_assets_are_public_with_strict_headers_and_data_needs_the_token() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut cfg = HubConfig::new("127.0.0.1:0".parse().unwrap(), Secret::new(SECRET));
    cfg.token = Some(Secret::new(TOKEN));
    let hub = hyperfed_hub::start(cfg).await.unwrap();
    let base = hub.base_url();
    let workers = [
        FakeWorker::start(FakeCluster::archetype("edge", 1), &base, Some("edge")).await,
        FakeWorker::start(FakeCluster::archetype("dr", 2), &base, Some("dr")).await,
    ];
    for w in &workers {
        w.wait_joins(1).await;
    }
    let http = reqwest::Client::new();

    // The shell and its assets: no token, the right types, the security headers.
    for (path, kind) in [
        ("/ui", "text/html"),
        ("/ui/", "text/html"),
        ("/ui/app.js", "text/javascript"),
        ("/ui/app.css", "text/css"),
    ] {
        let url = format!("{base}{path}");
        let resp = http.get(&url).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{url}");
        assert_page_headers(&url, &resp);
        let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(ct.starts_with(kind), "{url}: {ct}");
        let body = resp.text().await.unwrap();
        assert!(!body.is_empty(), "{url}");
        if kind == "text/html" {
            // Only the page's own script and style; nothing inline, nothing from elsewhere.
            assert!(body.contains(r#"<script src="/ui/app.js" defer></script>"#));
            assert!(body.contains(r#"<link rel="stylesheet" href="/ui/app.css">"#));
            assert_eq!(body.matches("<script").count(), 1, "{body}");
            assert!(!body.contains("<style"), "{body}");
            assert!(!body.contains("http://") && !body.contains("https://"));
        }
    }
    let url = format!("{base}/ui/nothing-here.js");
    let missing = http.get(&url).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_page_headers(&url, &missing);

    // Every data call the page makes needs the token: none and a wrong one are refused.
    let data = ["/v1/clusters", "/v1/status", "/v1/vms", "/v1/audit"];
    for path in data {
        let url = format!("{base}{path}");
        let none = http.get(&url).send().await.unwrap();
        assert_eq!(none.status(), StatusCode::UNAUTHORIZED, "{url}");
        let body: Value = none.json().await.unwrap();
        assert!(body["error"].as_str().unwrap().contains("bearer"), "{body}");
        let wrong = http.get(&url).bearer_auth("wrong").send().await.unwrap();
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED, "{url}");
        let right = http.get(&url).bearer_auth(TOKEN).send().await.unwrap();
        assert_eq!(right.status(), StatusCode::OK, "{url}");
    }

    // The paged reads the page relies on: limit and cursor, and a clear error for a bad limit.
    let page = |q: &str| {
        let req = http.get(format!("{base}{q}")).bearer_auth(TOKEN);
        async move { req.send().await.unwrap() }
    };
    let first: Value = page("/v1/status?limit=1").await.json().await.unwrap();
    assert_eq!(first["count"], 1, "{first}");
    assert_eq!(first["totals"]["clusters"], 2, "{first}");
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let second: Value = page(&format!("/v1/status?limit=1&cursor={cursor}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(second["count"], 1, "{second}");
    assert_eq!(second["next_cursor"], Value::Null, "{second}");
    assert_ne!(
        first["clusters"][0]["cluster"],
        second["clusters"][0]["cluster"]
    );

    let all: Value = page("/v1/vms?limit=1000").await.json().await.unwrap();
    let total = all["total"].as_u64().unwrap();
    assert_eq!(all["count"].as_u64().unwrap(), total, "{all}");
    let two: Value = page("/v1/vms?limit=2").await.json().await.unwrap();
    assert_eq!(two["count"], 2, "{two}");
    assert_eq!(two["vms"][0], all["vms"][0]);
    let cursor = two["next_cursor"].as_str().expect("a next page");
    let next: Value = page(&format!("/v1/vms?limit=2&cursor={cursor}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(next["vms"][0], all["vms"][2], "{next}");

    for q in [
        "/v1/status?limit=abc",
        "/v1/vms?limit=0",
        "/v1/vms?limit=5000",
    ] {
        let resp = page(q).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{q}");
        let body: Value = resp.json().await.unwrap();
        assert!(
            body["error"].as_str().unwrap().contains("'limit'"),
            "{q}: {body}"
        );
    }
    let resp = page("/v1/vms?cursor=nonsense").await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("cursor"), "{body}");

    for w in workers {
        w.shutdown().await;
    }
    hub.shutdown().await;
}
