//! A real nats-server for tests: one node or a 3-node cluster on 127.0.0.1 with JetStream, a
//! temporary store directory each, killed and waited for on Drop. The binary comes from
//! `HYPERFED_NATS_SERVER`, else `target/nats-venv/bin/nats-server` (scripts/install-nats.sh),
//! else PATH. When it is missing, `start` panics under `CI=true` and otherwise returns None
//! after saying so on stderr.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Environment variable naming the nats-server binary.
pub const SERVER_ENV: &str = "HYPERFED_NATS_SERVER";

/// Finds the nats-server binary, or None.
pub fn nats_server_binary() -> Option<PathBuf> {
    if let Ok(p) = std::env::var(SERVER_ENV)
        && !p.is_empty()
    {
        let p = PathBuf::from(p);
        return p.is_file().then_some(p);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let venv = root.join("target/nats-venv/bin/nats-server");
    if venv.is_file() {
        return Some(venv);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("nats-server"))
            .find(|p| p.is_file())
    })
}

/// The binary, or: panic under CI=true, else a loud skip message and None.
fn binary_or_skip() -> Option<PathBuf> {
    if let Some(b) = nats_server_binary() {
        return Some(b);
    }
    let msg = format!("nats-server not found (set {SERVER_ENV} or run scripts/install-nats.sh)");
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{msg}; CI=true requires it");
    }
    eprintln!("SKIPPED: {msg}");
    None
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port on 127.0.0.1: {e}"))
}

/// A temporary directory removed on Drop.
#[derive(Debug)]
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let (_, id) = crate::sign::random_id();
        let dir = std::env::temp_dir().join(format!("hyperfed-nats-{tag}-{}", &id[..12]));
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// GET on the monitoring port; true on HTTP 200.
fn http_ok(port: u16, path: &str) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(200),
    ) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    if s.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 16];
    s.read(&mut head)
        .map(|n| head[..n].starts_with(b"HTTP/1.1 200") || head[..n].starts_with(b"HTTP/1.0 200"))
        .unwrap_or(false)
}

/// Route settings of a clustered node.
#[derive(Debug, Clone)]
struct ClusterSettings {
    name: String,
    cluster_port: u16,
    routes: Vec<u16>,
}

/// One nats-server process on 127.0.0.1 with JetStream and its own store directory.
#[derive(Debug)]
pub struct NatsServer {
    binary: PathBuf,
    child: Option<Child>,
    port: u16,
    monitor_port: u16,
    cluster: Option<ClusterSettings>,
    extra_args: Vec<String>,
    dir: TempDir,
}

impl NatsServer {
    /// Starts a single server on a free port and waits until JetStream is ready.
    pub fn start() -> Option<Self> {
        Self::start_with(&[])
    }

    /// Like `start`, with extra command-line arguments (e.g. `--user`, `--tls`).
    pub fn start_with(extra_args: &[&str]) -> Option<Self> {
        let binary = binary_or_skip()?;
        for _ in 0..5 {
            let mut s = NatsServer {
                binary: binary.clone(),
                child: None,
                port: free_port(),
                monitor_port: free_port(),
                cluster: None,
                extra_args: extra_args.iter().map(|a| a.to_string()).collect(),
                dir: TempDir::new("node"),
            };
            if s.spawn() && s.wait_ready(Duration::from_secs(10)) {
                return Some(s);
            }
            // Most likely a port taken between probing and binding: try others.
            s.stop();
        }
        panic!("nats-server did not start after 5 attempts");
    }

    /// The client URL, `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The client port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The monitoring port (`/varz`, `/connz`, `/jsz`, `/healthz`).
    pub fn monitor_port(&self) -> u16 {
        self.monitor_port
    }

    /// The store directory of this node.
    pub fn store_dir(&self) -> &Path {
        &self.dir.0
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    fn spawn(&mut self) -> bool {
        let store = self.dir.0.join("store");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.0.join("server.log"));
        let mut cmd = Command::new(&self.binary);
        cmd.args(["-a", "127.0.0.1", "-p"])
            .arg(self.port.to_string())
            .arg("-m")
            .arg(self.monitor_port.to_string())
            .arg("-js")
            .arg("-sd")
            .arg(&store)
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        match log {
            Ok(f) => cmd.stderr(f),
            Err(_) => cmd.stderr(Stdio::null()),
        };
        if let Some(c) = &self.cluster {
            let routes: Vec<String> = c
                .routes
                .iter()
                .map(|p| format!("nats://127.0.0.1:{p}"))
                .collect();
            cmd.arg("--server_name")
                .arg(&c.name)
                .arg("--cluster_name")
                .arg("hyperfed-test")
                .arg("--cluster")
                .arg(format!("nats://127.0.0.1:{}", c.cluster_port))
                .arg("--routes")
                .arg(routes.join(","));
        }
        cmd.args(&self.extra_args);
        match cmd.spawn() {
            Ok(child) => {
                self.child = Some(child);
                true
            }
            Err(e) => panic!("cannot run {}: {e}", self.binary.display()),
        }
    }

    /// Waits until `/healthz` answers 200 (JetStream ready, with a meta leader in a cluster).
    fn wait_ready(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if !self.is_running() {
                return false;
            }
            if http_ok(self.monitor_port, "/healthz") {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// The server's log so far (for a failing test's message).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.0.join("server.log")).unwrap_or_default()
    }

    /// Kills the process (SIGKILL) and waits for it; the store directory stays.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the stopped server again on the same ports and store, waiting until ready.
    pub fn start_again(&mut self) {
        self.stop();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            // The port can stay busy for a moment after the kill.
            if self.spawn() && self.wait_ready(Duration::from_secs(10)) {
                return;
            }
            self.stop();
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("nats-server did not restart:\n{}", self.log());
    }

    /// Kills the server and starts it again on the same ports and store.
    pub fn restart(&mut self) {
        self.stop();
        self.start_again();
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Several nats-server nodes routed together on loopback (a JetStream cluster).
#[derive(Debug)]
pub struct NatsCluster {
    nodes: Vec<NatsServer>,
}

impl NatsCluster {
    /// Starts `n` (>= 3 for JetStream R3) routed nodes and waits until all report healthy.
    pub fn start(n: usize) -> Option<Self> {
        let binary = binary_or_skip()?;
        let cluster_ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
        let mut nodes: Vec<NatsServer> = (0..n)
            .map(|i| NatsServer {
                binary: binary.clone(),
                child: None,
                port: free_port(),
                monitor_port: free_port(),
                cluster: Some(ClusterSettings {
                    name: format!("n{}", i + 1),
                    cluster_port: cluster_ports[i],
                    routes: cluster_ports
                        .iter()
                        .enumerate()
                        .filter(|(j, _)| *j != i)
                        .map(|(_, p)| *p)
                        .collect(),
                }),
                extra_args: Vec::new(),
                dir: TempDir::new(&format!("n{}", i + 1)),
            })
            .collect();
        for node in &mut nodes {
            node.spawn();
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        for node in &mut nodes {
            let left = deadline.saturating_duration_since(Instant::now());
            if !node.wait_ready(left) {
                let logs: Vec<String> = nodes.iter().map(|n| n.log()).collect();
                panic!(
                    "nats cluster did not become ready:\n{}",
                    logs.join("\n---\n")
                );
            }
        }
        Some(NatsCluster { nodes })
    }

    /// Client URLs of every node.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(NatsServer::url).collect()
    }

    /// One node (0-based).
    pub fn node(&mut self, i: usize) -> &mut NatsServer {
        &mut self.nodes[i]
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True when the cluster has no node.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}
