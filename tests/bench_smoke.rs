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
