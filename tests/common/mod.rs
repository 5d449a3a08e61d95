//! Helpers for the process-level tests: start the real `hyperfed` binary on loopback, wait until
//! it answers, and make sure every process a test starts is stopped (also on panic).
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Installs the process-wide rustls crypto provider (ring) that reqwest and rmcp need.
pub fn init() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Path of the `hyperfed` binary built for these tests.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_hyperfed"))
}

/// A free loopback port (bound and released; good enough for tests that start at once).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free loopback port")
}

/// A child process that is killed and reaped when dropped.
pub struct Proc {
    pub name: String,
    pub child: Child,
    pub log: PathBuf,
}

impl Proc {
    /// Starts `hyperfed ARGS` with stderr captured to a temp log file.
    pub fn start(name: &str, args: &[&str], envs: &[(&str, &str)]) -> Proc {
        let log = std::env::temp_dir().join(format!(
            "hyperfed-test-{}-{}-{}.log",
            name,
            std::process::id(),
            free_port()
        ));
        let file = std::fs::File::create(&log).expect("create log file");
        let mut cmd = Command::new(bin());
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(file))
            .env_remove("HYPERFED_TOKEN")
            .env_remove("HYPERFED_SECRET")
            .env_remove("HYPERCORE_PASSWORD");
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn hyperfed");
        Proc {
            name: name.to_owned(),
            child,
            log,
        }
    }

    /// Everything the process wrote to stderr so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends a signal (e.g. "KILL", "STOP", "CONT", "TERM").
    pub fn signal(&self, sig: &str) {
        let _ = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status();
    }

    /// Kills the process now and reaps it.
    pub fn kill(&mut self) {
        self.signal("CONT");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Asks the process to stop (SIGTERM) and waits up to `timeout` before killing it.
    pub fn terminate(&mut self, timeout: Duration) {
        self.signal("TERM");
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
        if !std::thread::panicking() {
            let _ = std::fs::remove_file(&self.log);
        } else {
            eprintln!(
                "--- log of {} ({}) ---\n{}",
                self.name,
                self.log.display(),
                self.log_text()
            );
        }
    }
}

/// Polls `url` until it answers 200 or `timeout` passes.
pub async fn wait_http_ok(url: &str, timeout: Duration) -> bool {
    init();
    let client = reqwest::Client::new();
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(r) = client.get(url).send().await
            && r.status().is_success()
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    false
}
