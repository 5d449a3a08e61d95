//! Running HyperFed as a service, checked with the real tools: shell completions (bash parses
//! them), man pages (man renders them), the systemd units (`systemd-analyze verify` and its
//! offline security score, where the machine has systemd), secrets read from systemd's
//! credentials directory by real hub and worker processes, the Kubernetes manifests
//! (`kubernetes-validate`, PyPI) and the Containerfile (BuildKit's parser, PyPI `dockerfile`).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{Proc, bin, free_port, wait_http_ok};
use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hyperfed-service-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Runs `hyperfed ARGS`; returns (success, stdout, stderr).
fn hyperfed(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(bin())
        .args(args)
        .output()
        .expect("hyperfed runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// An external tool named by `var`: required under CI=true, else a loud skip.
fn required_tool(var: &str, what: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(p) if !p.is_empty() => Some(p),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but {var} is not set: .ci/run must run scripts/install-validators.sh"
            );
            eprintln!("SKIP {what}: set {var} (from `bash scripts/install-validators.sh`)");
            None
        }
    }
}

fn on_path(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn completions_are_generated_for_bash_zsh_and_fish() {
    let dir = temp_dir("completions");
    let (ok, bash, err) = hyperfed(&["completions", "bash"]);
    assert!(ok, "{err}");
    let file = dir.join("hyperfed.bash");
    std::fs::write(&file, &bash).expect("write");
    let parsed = Command::new("bash")
        .arg("-n")
        .arg(&file)
        .output()
        .expect("bash runs");
    assert!(
        parsed.status.success(),
        "bash -n refused the script: {}",
        String::from_utf8_lossy(&parsed.stderr)
    );
    for word in [
        "worker",
        "hub",
        "demo",
        "token",
        "completions",
        "man",
        "--hypercore-url",
    ] {
        assert!(bash.contains(word), "the bash completions lack {word}");
    }
    // Sourced, it registers the completion function for `hyperfed`.
    let registered = Command::new("bash")
        .arg("-c")
        .arg(format!(". '{}' && complete -p hyperfed", file.display()))
        .output()
        .expect("bash runs");
    assert!(
        String::from_utf8_lossy(&registered.stdout).contains("hyperfed"),
        "{}",
        String::from_utf8_lossy(&registered.stderr)
    );
    let (ok, zsh, _) = hyperfed(&["completions", "zsh"]);
    assert!(ok && zsh.starts_with("#compdef hyperfed"), "{zsh}");
    let (ok, fish, _) = hyperfed(&["completions", "fish"]);
    assert!(ok && fish.contains("complete -c hyperfed"), "{fish}");
    let (ok, _, err) = hyperfed(&["completions", "powershell"]);
    assert!(
        !ok && err.contains("<SHELL>"),
        "an unknown shell names the argument: {err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn man_pages_are_written_and_render() {
    let dir = temp_dir("man");
    let (ok, listed, err) = hyperfed(&["man", &dir.display().to_string()]);
    assert!(ok, "{err}");
    for page in [
        "hyperfed.1",
        "hyperfed-hub.1",
        "hyperfed-worker.1",
        "hyperfed-token-issue.1",
    ] {
        assert!(listed.contains(page), "{page} not listed: {listed}");
        let text = std::fs::read_to_string(dir.join(page)).expect("the page exists");
        assert!(
            text.starts_with(".ie") || text.contains(".TH"),
            "{page} is not roff"
        );
    }
    if !on_path("man") {
        eprintln!(
            "SKIP rendering the man pages: no `man` on this machine (apt-get install man-db)"
        );
        return;
    }
    let out = Command::new("man")
        .arg("-l")
        .arg(dir.join("hyperfed-worker.1"))
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "100")
        .output()
        .expect("man runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for word in [
        "NAME",
        "SYNOPSIS",
        "hyperfed-worker",
        "--hypercore-url",
        "--password-file",
    ] {
        assert!(
            text.contains(word),
            "the rendered page lacks {word}:\n{text}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn unit_text(name: &str) -> String {
    std::fs::read_to_string(repo().join("configs/systemd").join(name)).expect("unit file")
}

#[test]
fn systemd_units_load_credentials_hyperfed_reads() {
    // The names hyperfed looks for in $CREDENTIALS_DIRECTORY (crates/hyperfed/src/cmd/credentials.rs).
    let known = ["join-secret", "token", "hypercore-password"];
    for unit in ["hyperfed-hub.service", "hyperfed-worker@.service"] {
        let text = unit_text(unit);
        let names: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("LoadCredential="))
            .filter_map(|l| l.split(':').next())
            .collect();
        assert!(names.contains(&"join-secret"), "{unit}: {names:?}");
        for n in &names {
            assert!(
                known.contains(n),
                "{unit}: hyperfed never reads the credential {n}"
            );
        }
        assert!(
            !text.contains("--secret ") && !text.contains("HYPERFED_SECRET="),
            "{unit}"
        );
    }
    assert!(unit_text("hyperfed-worker@.service").contains("hypercore-password:"));
}

#[test]
fn systemd_units_verify_and_are_hardened() {
    if !on_path("systemd-analyze") {
        // Not a required tool: containers and CI machines without systemd skip, even under CI.
        eprintln!(
            "SKIP systemd-analyze verify: no systemd-analyze on this machine (not required, also under CI)"
        );
        return;
    }
    let dir = temp_dir("systemd");
    let binary = bin().display().to_string();
    for unit in ["hyperfed-hub.service", "hyperfed-worker@.service"] {
        // The installed path becomes the built binary (verify checks that it exists).
        let text = unit_text(unit).replace("/usr/local/bin/hyperfed", &binary);
        std::fs::write(dir.join(unit), text).expect("write unit");
    }
    // The units' Documentation= names our man pages; verify runs `man` on them.
    let man1 = dir.join("man/man1");
    let (ok, _, err) = hyperfed(&["man", &man1.display().to_string()]);
    assert!(ok, "{err}");
    let units = [
        dir.join("hyperfed-hub.service"),
        dir.join("hyperfed-worker@dc1.service"),
    ];
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .args(&units)
        .env("MANPATH", dir.join("man"))
        .output()
        .expect("systemd-analyze runs");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "systemd-analyze verify failed: {said}"
    );
    // Warnings (unknown keys, bad values) do not fail verify: they must not appear either.
    assert!(
        said.trim().is_empty(),
        "systemd-analyze verify warned: {said}"
    );
    for unit in &units {
        let out = Command::new("systemd-analyze")
            .args(["security", "--offline=yes", "--no-pager"])
            .arg(unit)
            .output()
            .expect("systemd-analyze runs");
        let text = String::from_utf8_lossy(&out.stdout);
        let score: f64 = text
            .lines()
            .find_map(|l| l.split("Overall exposure level for ").nth(1))
            .and_then(|rest| rest.split(": ").nth(1))
            .and_then(|s| s.split_whitespace().next())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no exposure score for {}: {text}", unit.display()));
        // 0 is fully locked down, 10 fully exposed; systemd calls below 2 "OK".
        assert!(score < 2.0, "{}: exposure {score}:\n{text}", unit.display());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hub_and_worker_read_secrets_from_the_credentials_directory() {
    common::init();
    let creds = temp_dir("credentials");
    std::fs::write(
        creds.join("join-secret"),
        "credential-join-secret-0123456789\n",
    )
    .expect("write");
    std::fs::write(creds.join("token"), "credential-client-token\n").expect("write");
    let creds_env = creds.display().to_string();
    let (hub_port, worker_port) = (free_port(), free_port());
    let hub_base = format!("http://127.0.0.1:{hub_port}");
    let _hub = Proc::start(
        "hub-credentials",
        &["hub", "--listen", &format!("127.0.0.1:{hub_port}")],
        &[("CREDENTIALS_DIRECTORY", &creds_env)],
    );
    assert!(wait_http_ok(&format!("{hub_base}/readyz"), Duration::from_secs(30)).await);
    let http = reqwest::Client::new();
    let clusters = format!("{hub_base}/v1/clusters");
    let anonymous = http.get(&clusters).send().await.expect("hub answers");
    assert_eq!(
        anonymous.status().as_u16(),
        401,
        "the token credential is required"
    );
    let _worker = Proc::start(
        "worker-credentials",
        &[
            "worker",
            "--mock",
            "edge",
            "--listen",
            &format!("127.0.0.1:{worker_port}"),
            "--join",
            &hub_base,
            "--name",
            "dc1",
        ],
        &[("CREDENTIALS_DIRECTORY", &creds_env)],
    );
    // Ready means logged in to the cluster and joined: the join secret came from the directory.
    let ready = format!("http://127.0.0.1:{worker_port}/readyz");
    assert!(
        wait_http_ok(&ready, Duration::from_secs(30)).await,
        "the worker never got ready"
    );
    let listed: Value = http
        .get(&clusters)
        .bearer_auth("credential-client-token")
        .send()
        .await
        .expect("hub answers")
        .json()
        .await
        .expect("JSON");
    assert_eq!(listed["clusters"][0]["alias"], "dc1", "{listed}");
    let _ = std::fs::remove_dir_all(&creds);
}

fn kubernetes_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("configs/kubernetes"))
        .expect("configs/kubernetes")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// The `worker.toml: |` block of a ConfigMap, unindented.
fn embedded_worker_toml(yaml: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in yaml.lines() {
        if line.trim_end() == "worker.toml: |" {
            inside = true;
        } else if inside {
            match line.strip_prefix("    ") {
                Some(l) => {
                    out.push_str(l);
                    out.push('\n');
                }
                None => break,
            }
        }
    }
    out
}

#[test]
fn kubernetes_manifests_are_valid_and_probe_livez_and_readyz() {
    let files = kubernetes_files();
    let names: Vec<String> = files
        .iter()
        .filter_map(|f| f.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    for want in [
        "hub.yaml",
        "secrets.example.yaml",
        "worker-dc1.yaml",
        "worker-dc2.yaml",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "configs/kubernetes lacks {want}"
        );
    }
    let dir = temp_dir("kubernetes");
    for f in &files {
        let text = std::fs::read_to_string(f).expect("read");
        if text.contains("kind: Deployment") {
            assert!(
                text.contains("path: /livez") && text.contains("path: /readyz"),
                "{f:?}"
            );
            assert!(text.contains("runAsNonRoot: true"), "{f:?}");
        }
        let toml = embedded_worker_toml(&text);
        if !toml.is_empty() {
            // The worker's own parser accepts the ConfigMap's file (unknown keys are errors).
            let path = dir.join("worker.toml");
            std::fs::write(&path, &toml).expect("write");
            let parsed = hyperfed_worker::FileConfig::load(&path);
            assert!(parsed.is_ok(), "{f:?}: {:?}\n{toml}", parsed.err());
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    let Some(tool) = required_tool("HYPERFED_K8S_VALIDATOR", "kubernetes-validate") else {
        return;
    };
    let out = Command::new(&tool)
        .arg("--strict")
        .args(&files)
        .output()
        .expect("kubernetes-validate runs");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "kubernetes-validate refused: {said}");
    for kind in [
        "deployment/hyperfed-hub",
        "service/hyperfed-hub",
        "secret/hyperfed-hub",
    ] {
        assert!(
            said.contains(&format!("passed for resource {kind}")),
            "{said}"
        );
    }
    assert!(
        said.contains("deployment/hyperfed-worker-dc1")
            && said.contains("deployment/hyperfed-worker-dc2")
    );
}

/// Parses the Containerfile with BuildKit's parser: one `[instruction, value...]` per line.
fn parse_containerfile(python: &str, file: &Path) -> Vec<Vec<String>> {
    let script = "import dockerfile, json, sys\n\
                  print(json.dumps([[c.cmd.upper(), *c.value] for c in dockerfile.parse_file(sys.argv[1])]))";
    let out = Command::new(python)
        .args(["-c", script])
        .arg(file)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "the parser refused: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON from the parser")
}

#[test]
fn the_containerfile_is_multi_stage_slim_and_non_root() {
    let Some(python) = required_tool("HYPERFED_VALIDATORS_PYTHON", "the Containerfile parser")
    else {
        return;
    };
    let cmds = parse_containerfile(&python, &repo().join("Containerfile"));
    let froms: Vec<&Vec<String>> = cmds.iter().filter(|c| c[0] == "FROM").collect();
    assert!(froms.len() >= 2, "multi-stage: {froms:?}");
    // The builder uses the workspace's pinned toolchain.
    let manifest = std::fs::read_to_string(repo().join("Cargo.toml")).expect("Cargo.toml");
    let rust_version = manifest
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = \""))
        .and_then(|v| v.strip_suffix('"'))
        .expect("rust-version");
    assert!(
        froms[0][1].contains(&format!("rust:{rust_version}")),
        "{:?}",
        froms[0]
    );
    let builds: Vec<&Vec<String>> = cmds.iter().filter(|c| c[0] == "RUN").collect();
    assert!(
        builds.iter().any(|r| r[1].contains("--locked")),
        "{builds:?}"
    );
    // The last stage: distroless, copies only the binary, runs as an unprivileged user.
    let last = cmds.iter().rposition(|c| c[0] == "FROM").expect("a FROM");
    let runtime = &cmds[last..];
    assert!(runtime[0][1].contains("distroless"), "{:?}", runtime[0]);
    assert!(
        !runtime.iter().any(|c| c[0] == "RUN"),
        "the runtime stage runs nothing"
    );
    let user = runtime
        .iter()
        .rfind(|c| c[0] == "USER")
        .map(|c| c[1].clone())
        .expect("a USER in the runtime stage");
    let uid = user.split(':').next().unwrap_or_default();
    assert!(
        uid != "0" && uid != "root" && !uid.is_empty(),
        "runs as {user}"
    );
    let entry = runtime
        .iter()
        .find(|c| c[0] == "ENTRYPOINT")
        .expect("an ENTRYPOINT");
    assert!(entry[1].ends_with("/hyperfed"), "{entry:?}");
    let ignore =
        std::fs::read_to_string(repo().join(".containerignore")).expect(".containerignore");
    assert!(
        ignore.lines().any(|l| l.trim() == "target"),
        "the build context leaves out target/"
    );
}
