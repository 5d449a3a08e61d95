//! A small W3C WebDriver client over the workspace's reqwest, enough for the fleet page's
//! browser test: start `chromedriver` on loopback, open a headless Chromium session, find
//! elements, type, click, read text and attributes, take a screenshot, and stop it all.
//! (fantoccini, the usual crate, pulls a second `http`, `cookie`, `thiserror` and ICU major
//! through its `webdriver` dependency; WebDriver is a small JSON protocol.)
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

/// The key under which WebDriver returns an element reference.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// The chromedriver binary: `HYPERFED_CHROMEDRIVER`, else `chromedriver` on PATH. None when
/// missing (the caller panics under `CI=true` and skips loudly elsewhere).
pub fn chromedriver_binary() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("HYPERFED_CHROMEDRIVER")
        && !p.is_empty()
    {
        let p = PathBuf::from(p);
        return p.is_file().then_some(p);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("chromedriver"))
            .find(|p| p.is_file())
    })
}

/// A Chromium binary for chromedriver to start: `HYPERFED_CHROMIUM`, else Debian's.
fn chromium_binary() -> Option<String> {
    match std::env::var("HYPERFED_CHROMIUM") {
        Ok(p) if !p.is_empty() => Some(p),
        _ => ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
            .into_iter()
            .find(|p| std::path::Path::new(p).is_file())
            .map(str::to_owned),
    }
}

/// A running chromedriver on 127.0.0.1 in a process group of its own, with the browsers it
/// starts: the whole group is killed on drop, so a failing test leaves no Chromium behind.
pub struct ChromeDriver {
    child: tokio::process::Child,
    /// False once `stop` has killed the group (its id may be reused afterwards).
    running: bool,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl ChromeDriver {
    /// Starts `binary` on a free loopback port and waits until it reports ready.
    pub async fn start(binary: &std::path::Path) -> ChromeDriver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port on 127.0.0.1");
        let child = tokio::process::Command::new(binary)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", binary.display()));
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        for _ in 0..400 {
            if let Ok(r) = http.get(format!("{url}/status")).send().await
                && let Ok(v) = r.json::<Value>().await
                && v["value"]["ready"] == true
            {
                return ChromeDriver {
                    child,
                    running: true,
                    url,
                };
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("chromedriver did not become ready at {url}");
    }

    /// Stops chromedriver and its browsers, and waits for chromedriver to exit.
    pub async fn stop(mut self) {
        self.kill_group();
        self.running = false;
        let _ = self.child.kill().await;
    }

    fn kill_group(&self) {
        if !self.running {
            return;
        }
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .stderr(Stdio::null())
                .status();
        }
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        self.kill_group();
    }
}

/// One browser session (headless Chromium).
pub struct Session {
    http: reqwest::Client,
    base: String,
}

/// A found element's WebDriver reference.
#[derive(Clone, Debug)]
pub struct Element(String);

impl Session {
    /// Opens a headless Chromium session of `width`x`height`.
    pub async fn new(driver: &ChromeDriver, width: u32, height: u32) -> Session {
        let http = reqwest::Client::new();
        let mut options = json!({
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--disable-extensions", "--disable-background-networking",
                format!("--window-size={width},{height}"),
            ]
        });
        if let Some(bin) = chromium_binary() {
            options["binary"] = json!(bin);
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": options,
        }}});
        let resp: Value = http
            .post(format!("{}/session", driver.url))
            .json(&caps)
            .send()
            .await
            .expect("chromedriver answers")
            .json()
            .await
            .expect("JSON from chromedriver");
        let id = resp["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no browser session: {resp}"));
        Session {
            base: format!("{}/session/{id}", driver.url),
            http,
        }
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp: Value = req
            .send()
            .await
            .expect("chromedriver answers")
            .json()
            .await
            .expect("JSON from chromedriver");
        resp["value"].clone()
    }

    async fn ok(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let v = self.send(method, path, body).await;
        if let Some(err) = v.get("error") {
            panic!("WebDriver {path}: {err}: {}", v["message"]);
        }
        v
    }

    /// Navigates to `url`.
    pub async fn goto(&self, url: &str) {
        self.ok(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    /// All elements matching a CSS selector (possibly none).
    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        let v = self
            .ok(
                reqwest::Method::POST,
                "/elements",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e[ELEMENT_KEY].as_str().map(|s| Element(s.to_owned())))
            .collect()
    }

    /// The one element matching a CSS selector (panics, showing the page, when there is none).
    pub async fn find(&self, css: &str) -> Element {
        match self.find_all(css).await.into_iter().next() {
            Some(e) => e,
            None => {
                let url = self.send(reqwest::Method::GET, "/url", None).await;
                let source = self.send(reqwest::Method::GET, "/source", None).await;
                let source = source.as_str().unwrap_or_default();
                panic!(
                    "no element matches {css} on {url}; the page begins: {}",
                    &source[..source.len().min(600)]
                )
            }
        }
    }

    /// The element's rendered text ("" when hidden).
    pub async fn text(&self, e: &Element) -> String {
        let v = self
            .ok(
                reqwest::Method::GET,
                &format!("/element/{}/text", e.0),
                None,
            )
            .await;
        v.as_str().unwrap_or_default().to_owned()
    }

    /// The rendered text of the element matching `css`.
    pub async fn text_of(&self, css: &str) -> String {
        let e = self.find(css).await;
        self.text(&e).await
    }

    /// An attribute's value.
    pub async fn attribute(&self, e: &Element, name: &str) -> Option<String> {
        let v = self
            .ok(
                reqwest::Method::GET,
                &format!("/element/{}/attribute/{name}", e.0),
                None,
            )
            .await;
        v.as_str().map(str::to_owned)
    }

    /// Whether the element is shown.
    pub async fn displayed(&self, css: &str) -> bool {
        let e = self.find(css).await;
        let v = self
            .ok(
                reqwest::Method::GET,
                &format!("/element/{}/displayed", e.0),
                None,
            )
            .await;
        v == true
    }

    /// Types `text` into the element matching `css`.
    pub async fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        self.ok(
            reqwest::Method::POST,
            &format!("/element/{}/clear", e.0),
            Some(json!({})),
        )
        .await;
        self.ok(
            reqwest::Method::POST,
            &format!("/element/{}/value", e.0),
            Some(json!({"text": text})),
        )
        .await;
    }

    /// Clicks the element matching `css`.
    pub async fn click(&self, css: &str) {
        let e = self.find(css).await;
        self.ok(
            reqwest::Method::POST,
            &format!("/element/{}/click", e.0),
            Some(json!({})),
        )
        .await;
    }

    /// Runs a script in the page and returns its value.
    pub async fn execute(&self, script: &str) -> Value {
        self.ok(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    /// A PNG screenshot of the window.
    pub async fn screenshot_png(&self) -> Vec<u8> {
        let v = self.ok(reqwest::Method::GET, "/screenshot", None).await;
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or_default())
            .expect("a base64 PNG")
    }

    /// Ends the session (closes the browser).
    pub async fn quit(self) {
        let _ = self.send(reqwest::Method::DELETE, "", None).await;
    }
}

/// Polls `check` until it returns Some (up to ~20 s), else panics naming `what`.
pub async fn until<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..200 {
        if let Some(v) = check().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for: {what}");
}
