//! The benchmark harness in its seconds-long smoke mode: it must start everything, measure every
//! scenario, stop what it started and print a table plus one JSON line. No timing is asserted.

mod common;

use std::process::Command;

use serde_json::Value;

#[test]
fn bench_smoke_completes_and_prints_json() {
    let out = Command::new(common::bin())
        .args(["bench", "--smoke"])
        .env("HYPERFED_LOG", "warn")
        .output()
        .expect("run hyperfed bench --smoke");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "bench failed\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("HyperFed benchmark"), "no table:\n{stdout}");
    // Not on a terminal: one plain progress line per scenario, on stderr.
    let stderr = String::from_utf8_lossy(&out.stderr);
    for line in [
        "hyperfed bench: scenario 1/5: added latency (one worker behind the hub)",
        "hyperfed bench: scenario 5/5: worker start-up and simulator generation",
    ] {
        assert!(stderr.contains(line), "{line}:\n{stderr}");
    }
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .expect("a JSON line");
    let report: Value = serde_json::from_str(line).expect("valid JSON");
    for key in [
        "added_latency",
        "throughput",
        "fanout",
        "tools_list",
        "startup",
    ] {
        assert!(report.get(key).is_some(), "report lacks {key}: {report}");
    }
    assert_eq!(report["added_latency"]["errors"], 0, "{report}");
    assert_eq!(report["throughput"]["errors"], 0, "{report}");
    let fan = &report["fanout"][0];
    assert_eq!(fan["errors"], 0, "{report}");
    assert_eq!(
        fan["clusters_answered"], fan["clusters"],
        "every cluster answers: {report}"
    );
    for key in ["p50_ms", "refresh_p50_ms", "warm_p50_ms"] {
        assert!(
            fan[key].as_f64().is_some_and(|v| v > 0.0),
            "{key}: {report}"
        );
    }
    assert!(
        report["tools_list"]["namespaced"]["tools"]
            .as_u64()
            .unwrap_or(0)
            > 0
    );
    assert!(
        report["tools_list"]["compact"]["tools"]
            .as_u64()
            .unwrap_or(0)
            > 0
    );
}

/// `hyperfed bench --nats --smoke`: every NATS scenario runs against a real nats-server (the
/// test skips loudly without one, and fails under CI=true) and every cluster answers.
#[test]
fn bench_nats_smoke_completes_and_prints_json() {
    let server = match std::env::var("HYPERFED_NATS_SERVER") {
        Ok(p) if !p.is_empty() => p,
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but HYPERFED_NATS_SERVER is not set: .ci/run installs nats-server"
            );
            eprintln!("SKIP bench --nats: set HYPERFED_NATS_SERVER (scripts/install-nats.sh)");
            return;
        }
    };
    let out = Command::new(common::bin())
        .args(["bench", "--nats", "--smoke"])
        .env("HYPERFED_LOG", "warn")
        .env("HYPERFED_NATS_SERVER", server)
        .output()
        .expect("run hyperfed bench --nats --smoke");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "bench failed\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .expect("a JSON line");
    let report: Value = serde_json::from_str(line).expect("valid JSON");
    assert_eq!(report["added_latency"]["errors"], 0, "{report}");
    assert_eq!(report["throughput"]["errors"], 0, "{report}");
    let fan = &report["fanout"][0];
    assert_eq!(fan["errors"], 0, "{report}");
    assert_eq!(fan["clusters_answered"], fan["clusters"], "{report}");
    assert!(
        fan["join_to_listed_p50_ms"]
            .as_f64()
            .is_some_and(|v| v > 0.0)
    );
}
