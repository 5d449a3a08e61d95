//! Walks README.md as a new operator would: extracts its ```sh blocks and runs them with bash,
//! as written, against the demo and simulated clusters on 127.0.0.1. The only changes are
//! mechanical and listed in `rewrite`: the real cluster becomes `--mock datacenter --seed 7`,
//! example hosts become 127.0.0.1, the fixed ports free ones, /var/lib/hyperfed a temporary
//! directory, `cargo run --release --` the built binary, `curl -s` also fails on an HTTP error,
//! and long-running commands go to the background until their port answers. `npx` (interactive)
//! and `cargo test` (this very command) are not run. The Troubleshooting section's quoted
//! messages must be strings the code and its tests really use.

mod common;

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{bin, free_port};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn readme() -> String {
    std::fs::read_to_string(repo().join("README.md")).expect("README.md")
}

/// The ```sh blocks of the README by the heading they sit under, in order.
fn blocks(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut heading = String::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if let Some(block) = current.as_mut() {
            if line.trim_start() == "```" {
                out.entry(heading.clone())
                    .or_default()
                    .push(std::mem::take(block));
                current = None;
            } else {
                block.push_str(line);
                block.push('\n');
            }
        } else if line.starts_with("#") && !line.starts_with("#!") {
            heading = line.trim_start_matches('#').trim().to_owned();
        } else if line.trim() == "```sh" {
            current = Some(String::new());
        }
    }
    out
}

/// Joins `\` continuations and drops comments, one command per line.
fn commands(block: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut acc = String::new();
    for line in block.lines() {
        let line = match line.find(" # ") {
            Some(i) => &line[..i],
            None => line,
        };
        let line = line.trim_end();
        if let Some(cont) = line.strip_suffix('\\') {
            acc.push_str(cont);
            acc.push(' ');
            continue;
        }
        acc.push_str(line);
        let cmd = acc.split_whitespace().collect::<Vec<_>>().join(" ");
        if !cmd.is_empty() && !cmd.starts_with('#') {
            out.push(cmd);
        }
        acc.clear();
    }
    out
}

/// Free ports standing in for the README's 7777 (worker), 8000 (hub) and 8443 (simulator).
struct Ports {
    worker: u16,
    hub: u16,
    sim: u16,
}

/// The mechanical rewrite of one README command (None: not run here, with the reason).
fn rewrite(cmd: &str, ports: &Ports, python: Option<&str>) -> Result<String, &'static str> {
    if cmd.starts_with("npx ") {
        return Err("interactive (MCP Inspector)");
    }
    if cmd.starts_with("cargo test") {
        return Err("this is the command running these tests");
    }
    let mut c = cmd.replace("cargo run --release -- ", "hyperfed ");
    if c == "hyperfed demo" {
        c.push_str(" --listen 127.0.0.1:8000");
    }
    // The real cluster becomes the simulator.
    let words: Vec<&str> = c.split(' ').collect();
    let mut kept = Vec::new();
    let mut i = 0;
    while i < words.len() {
        match words[i] {
            "--hypercore-url" => {
                kept.extend(["--mock", "datacenter", "--seed", "7"]);
                i += 2;
            }
            "--username" | "--ca-file" => i += 2,
            "--insecure-tls" => i += 1,
            w => {
                kept.push(w);
                i += 1;
            }
        }
    }
    let mut c = kept.join(" ");
    for (from, to) in [
        ("hub.example", "127.0.0.1"),
        ("0.0.0.0", "127.0.0.1"),
        ("10.0.0.50", "127.0.0.1"),
        ("/var/lib/hyperfed", "$DATA"),
        (":7777", &format!(":{}", ports.worker)),
        (":8000", &format!(":{}", ports.hub)),
        (":8443", &format!(":{}", ports.sim)),
        ("curl -s ", "curl -sS --fail-with-body "),
    ] {
        c = c.replace(from, to);
    }
    if let Some(rest) = c.strip_prefix("python examples/") {
        return match python {
            Some(py) => {
                let (file, args) = rest.split_once(' ').unwrap_or((rest, ""));
                Ok(format!("\"{py}\" \"$REPO/examples/{file}\" {args}"))
            }
            None => Err("no Python with the MCP SDK (HYPERFED_PYTHON)"),
        };
    }
    // Long-running commands go to the background until their port answers.
    let program = c
        .split(' ')
        .find(|w| !w.contains('='))
        .unwrap_or_default()
        .to_owned();
    let long_running = program == "hyperfed"
        && (c.contains("hyperfed hub")
            || c.contains("hyperfed demo")
            || (c.contains("hyperfed worker") && !c.contains("--stdio"))
            || c.contains("hyperfed mock --listen"));
    if long_running {
        let port = c
            .split("--listen 127.0.0.1:")
            .nth(1)
            .and_then(|p| p.split(' ').next())
            .unwrap_or("0")
            .to_owned();
        // A simple command in the background: bash execs it, so `jobs -p` is its own pid.
        let mut s = format!("{c} >\"$LOGS/{port}.log\" 2>&1 &\nwait_port {port}\n");
        if c.contains("--join") {
            s.push_str(&format!("wait_log {port} 'joined the hub'\n"));
        }
        if c.contains("hyperfed demo") {
            s.push_str(&format!("wait_log {port} 'Ctrl-C stops everything'\n"));
            // The demo's banner tells what to try: run exactly those lines too.
            s.push_str(&format!(
                "grep -E '^  (export|curl) ' \"$LOGS/{port}.log\" | sed 's/curl -s /curl -sS --fail-with-body /' > \"$LOGS/try.sh\"\n. \"$LOGS/try.sh\"\n"
            ));
        }
        return Ok(s);
    }
    Ok(c)
}

const PRELUDE: &str = r#"set -euo pipefail
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true' EXIT
wait_port() {
  for _ in $(seq 300); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "nothing answers on port $1:"; cat "$LOGS/$1.log"; return 1
}
wait_log() {
  for _ in $(seq 300); do
    if grep -q "$2" "$LOGS/$1.log"; then return 0; fi
    sleep 0.1
  done
  echo "no '$2' in the log of port $1:"; cat "$LOGS/$1.log"; return 1
}
"#;

fn python() -> Option<String> {
    match std::env::var("HYPERFED_PYTHON") {
        Ok(p) if !p.is_empty() => Some(p),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but HYPERFED_PYTHON is not set: .ci/run must install the MCP Python SDK"
            );
            eprintln!(
                "SKIP the README's Python lines: set HYPERFED_PYTHON to a Python with `pip install mcp`"
            );
            None
        }
    }
}

/// Runs the README blocks under `headings` (in order) as one bash script; returns its output.
fn walk(name: &str, headings: &[(&str, Option<usize>)]) -> String {
    let all = blocks(&readme());
    let ports = Ports {
        worker: free_port(),
        hub: free_port(),
        sim: free_port(),
    };
    let py = python();
    let mut script = String::from(PRELUDE);
    for (heading, index) in headings {
        let found = all
            .get(*heading)
            .unwrap_or_else(|| panic!("README has no sh block under '{heading}'"));
        let chosen: Vec<&String> = match index {
            Some(i) => vec![&found[*i]],
            None => found.iter().collect(),
        };
        for block in chosen {
            for cmd in commands(block) {
                match rewrite(&cmd, &ports, py.as_deref()) {
                    Ok(line) => {
                        script.push_str(&format!("echo '+ {}'\n", cmd.replace('\'', "")));
                        script.push_str(&line);
                        script.push('\n');
                    }
                    Err(why) => eprintln!("{name}: not run: {cmd} ({why})"),
                }
            }
        }
    }
    let work = std::env::temp_dir().join(format!("hyperfed-readme-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    let logs = work.join("logs");
    std::fs::create_dir_all(&logs).expect("temp dir");
    let path = format!(
        "{}:{}",
        bin().parent().expect("binary dir").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out_file = work.join("out.txt");
    let child = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(&work)
        .env("PATH", path)
        .env("LOGS", &logs)
        .env("DATA", work.join("data"))
        .env("REPO", repo())
        .env_remove("HYPERFED_TOKEN")
        .env_remove("HYPERFED_SECRET")
        .env_remove("RUST_LOG")
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::from(
            std::fs::File::create(&out_file).expect("out file"),
        ))
        .stderr(Stdio::from(
            std::fs::File::options()
                .append(true)
                .open(&out_file)
                .expect("out file"),
        ))
        .spawn()
        .expect("bash runs");
    let status = wait(child, Duration::from_secs(240));
    let output = std::fs::read_to_string(&out_file).unwrap_or_default();
    let logs_text = read_logs(&logs);
    assert!(
        status,
        "{name}: a README command failed.\n--- script ---\n{script}\n--- output ---\n{output}\n--- logs ---\n{logs_text}"
    );
    for bad in [
        "Traceback",
        "Session termination failed",
        "unbound variable",
    ] {
        assert!(
            !output.contains(bad) && !logs_text.contains(bad),
            "{name}: '{bad}' in the output:\n{output}\n{logs_text}"
        );
    }
    assert!(
        !logs_text.contains(" ERROR "),
        "{name}: an ERROR was logged:\n{logs_text}"
    );
    let _ = std::fs::remove_dir_all(&work);
    output
}

/// Waits for the child (killing it after `timeout`); true when it exited 0.
fn wait(mut child: std::process::Child, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(s)) = child.try_wait() {
            return s.success();
        }
        if Instant::now() > deadline {
            // The whole process group: bash and what it started in the background.
            let _ = Command::new("kill")
                .args(["-TERM", &format!("-{}", child.id())])
                .status();
            std::thread::sleep(Duration::from_secs(2));
            let _ = child.kill();
            let _ = child.wait();
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn read_logs(dir: &Path) -> String {
    let mut text = String::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            text.push_str(&format!("== {}\n", e.path().display()));
            text.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
        }
    }
    text
}

#[test]
fn every_sh_block_of_the_readme_is_walked() {
    let walked = [
        "The two commands",
        "A single cluster (no hub)",
        "Many clusters: hub and workers",
        "cURL against the hub",
        "MCP Inspector, Python",
        "Fleet page",
        "Placement",
        "Prompts, resources and logging",
        "Metrics",
        "Simulated clusters",
        "Health endpoints and the API description",
    ];
    // Sections whose commands need a NATS server: the same commands run in-process, against a
    // real nats-server, in crates/hub/tests/nats_fleet.rs (portless workers, two replicas).
    // Sections that install system-wide or need systemd, a container engine or Kubernetes: the
    // files they use are checked with the real tools in tests/service.rs.
    // "Open WebUI": crates/hub/tests/mcpo.rs runs the same mcpo command with the same
    // configuration (installed by scripts/install-mcpo.sh) in front of a hub.
    let walked_elsewhere = [
        "Fleets beyond one machine",
        "systemd",
        "Container image and Kubernetes",
        "Shell completions and man pages",
        "Open WebUI",
    ];
    for heading in blocks(&readme()).keys() {
        assert!(
            walked.contains(&heading.as_str()) || walked_elsewhere.contains(&heading.as_str()),
            "README section '{heading}' has a sh block that no test walks: add it to tests/readme.rs"
        );
    }
}

#[test]
fn the_demo_and_its_banner_and_the_hub_curl_and_python_lines_work_as_written() {
    let out = walk(
        "demo",
        &[
            ("The two commands", Some(0)),
            ("cURL against the hub", None),
            ("MCP Inspector, Python", None),
            ("Fleet page", None),
            ("Placement", None),
        ],
    );
    assert!(out.contains("\"clusters\""), "{out}");
    assert!(
        out.contains("RANK") && out.contains("created VM web-07"),
        "{out}"
    );
    assert!(out.contains("\"ranked\""), "{out}");
}

#[test]
fn the_single_cluster_section_works_as_written() {
    let out = walk("single", &[("A single cluster (no hub)", None)]);
    assert!(out.contains("\"name\":\"file-01\""), "{out}");
    assert!(out.contains("\"ready\":true"), "{out}");
}

#[test]
fn the_hub_and_workers_section_works_as_written() {
    let out = walk(
        "federation",
        &[
            ("Many clusters: hub and workers", None),
            ("cURL against the hub", None),
            ("MCP Inspector, Python", None),
            ("Health endpoints and the API description", None),
            ("Fleet page", None),
            ("Prompts, resources and logging", None),
            ("Metrics", None),
        ],
    );
    assert!(out.contains("\"cluster\":\"dc1\""), "{out}");
    assert!(out.contains("\"status\":\"live\""), "{out}");
    assert!(out.contains("\"openapi\":\"3.1.0\""), "{out}");
    assert!(
        out.contains("rolling_restart") && out.contains("node_list"),
        "{out}"
    );
    assert!(out.contains("hyperfed://cluster/dc1/vms"), "{out}");
    assert!(
        out.contains("hyperfed_hub_cluster_up{cluster=\"dc1\"} 1"),
        "{out}"
    );
    assert!(
        out.contains("grafana"),
        "token list shows the issued token: {out}"
    );
}

#[test]
fn the_simulated_clusters_section_works_as_written() {
    let out = walk("simulated", &[("Simulated clusters", None)]);
    for archetype in ["edge", "datacenter", "dr", "lab"] {
        assert!(out.contains(archetype), "{out}");
    }
}

/// Every message quoted as `"..."` in Troubleshooting is a string the code or its tests use.
#[test]
fn troubleshooting_quotes_real_messages() {
    let text = readme();
    let start = text
        .find("## Troubleshooting")
        .expect("a Troubleshooting section");
    let end = text[start..]
        .find("\n## ")
        .map_or(text.len(), |e| start + e);
    let section = &text[start..end];
    let mut quotes = Vec::new();
    for part in section.split("``\"").skip(1) {
        quotes.extend(part.split("\"``").next().map(str::to_owned));
    }
    for part in section.split("`\"").skip(1) {
        if let Some(q) = part.split("\"`").next()
            && !q.contains('`')
        {
            quotes.push(q.to_owned());
        }
    }
    assert!(quotes.len() >= 10, "{quotes:?}");
    let mut sources = String::new();
    collect_rs(&repo().join("crates"), &mut sources);
    for f in ["tests/first_hour.rs", "tests/first_hour_tokens.rs"] {
        sources.push_str(&std::fs::read_to_string(repo().join(f)).unwrap_or_default());
    }
    for q in quotes {
        assert!(
            sources.contains(&q),
            "Troubleshooting quotes a message no code or test uses: {q:?}"
        );
    }
}

fn collect_rs(dir: &Path, into: &mut String) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                collect_rs(&p, into);
            } else if p.extension().is_some_and(|x| x == "rs") {
                into.push_str(&std::fs::read_to_string(&p).unwrap_or_default());
            }
        }
    }
}
