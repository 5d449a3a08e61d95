//! Helpers shared by the operator suites (`first_hour`, `first_hour_tokens`, `readme`): run the
//! real binary, wait for a log line, issue tokens, start a hub with a data directory.
#![allow(dead_code)]

use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{Proc, bin};

/// The join secret the suites share.
pub const SECRET: &str = "first-hour-join-secret-0123456789";

/// Waits until the process's stderr contains `needle`.
pub fn wait_log(p: &Proc, needle: &str, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if p.log_text().contains(needle) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

pub fn hub(port: u16, secret: &str) -> Proc {
    let listen = format!("127.0.0.1:{port}");
    Proc::start(
        "hub",
        &["hub", "--listen", &listen],
        &[("HYPERFED_SECRET", secret)],
    )
}

pub fn worker(name: &str, seed: &str, join: &str, secret: &str) -> Proc {
    Proc::start(
        name,
        &[
            "worker",
            "--mock",
            "edge",
            "--seed",
            seed,
            "--listen",
            "127.0.0.1:0",
            "--join",
            join,
            "--name",
            name,
        ],
        &[("HYPERFED_SECRET", secret)],
    )
}

/// Runs `hyperfed ARGS` to completion with `envs`, returning (success, stdout, stderr).
pub fn run(args: &[&str], envs: &[(&str, &str)]) -> (bool, String, String) {
    let mut cmd = Command::new(bin());
    cmd.args(args)
        .env_remove("HYPERFED_TOKEN")
        .env_remove("HYPERFED_SECRET");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run hyperfed");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("hyperfed-first-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

pub fn issue(dir: &str, ttl: &str, subject: &str) -> String {
    let (ok, out, err) = run(
        &[
            "token",
            "issue",
            "--data",
            dir,
            "--scope",
            "read",
            "--ttl",
            ttl,
            "--subject",
            subject,
        ],
        &[],
    );
    assert!(ok, "{err}");
    out.trim().to_owned()
}

pub async fn status_of(http: &reqwest::Client, base: &str, token: &str) -> (u16, String) {
    let r = http
        .get(format!("{base}/v1/status"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap_or_default())
}

/// A hub with a data directory that requires tokens.
pub fn hub_with_data(dir: &str, port: u16) -> Proc {
    Proc::start(
        "hub",
        &[
            "hub",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data",
            dir,
            "--require-token",
        ],
        &[("HYPERFED_SECRET", SECRET)],
    )
}
