//! Fan-out reads: one read-only tool called on many clusters at once, each over the stateless
//! call, bounded by the hub-wide concurrency limit (`fanout_concurrency`, default 256) and by
//! the per-cluster fan-out timeout; a cluster that does not answer in time is "unanswered".

use std::future::Future;
use std::time::{Duration, Instant};

use rmcp::model::JsonObject;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::error::HubError;
use crate::forward::forward_stateless;
use crate::hub::Hub;
use crate::mcp_logging::{self, Level};

/// One cluster's answer to a fan-out.
pub(crate) struct FanOutAnswer {
    /// The cluster asked.
    pub alias: String,
    /// Its result's JSON, or why there is none.
    pub result: Result<Value, String>,
}

/// Tool arguments as the raw JSON text the stateless call sends.
pub(crate) fn raw_arguments(arguments: &JsonObject) -> Result<Box<RawValue>, HubError> {
    serde_json::value::to_raw_value(arguments)
        .map_err(|e| HubError::BadRequest(format!("cannot encode the arguments: {e}")))
}

/// The JSON a relayed result carries (structured content, else its first text parsed as
/// JSON), or the text of an error result.
pub(crate) fn result_value(result: &[u8]) -> Result<Value, String> {
    #[derive(Deserialize)]
    struct Text {
        #[serde(default)]
        text: Option<String>,
    }
    #[derive(Deserialize)]
    struct Lite {
        #[serde(default)]
        content: Vec<Text>,
        #[serde(rename = "structuredContent", default)]
        structured: Option<Value>,
        #[serde(rename = "isError", default)]
        is_error: Option<bool>,
    }
    let lite: Lite = serde_json::from_slice(result).map_err(|e| e.to_string())?;
    let mut texts = lite.content.into_iter().filter_map(|t| t.text);
    if lite.is_error == Some(true) {
        let joined: Vec<String> = texts.collect();
        return Err(if joined.is_empty() {
            "the worker reported an error without details".into()
        } else {
            joined.join("\n")
        });
    }
    if let Some(v) = lite.structured {
        return Ok(v);
    }
    texts
        .find_map(|t| serde_json::from_str(&t).ok())
        .ok_or_else(|| "the tool returned no JSON result".into())
}

/// Runs one cluster's `call` once a fan-out slot is free, all within `deadline` (waiting for
/// the slot counts).
pub(crate) async fn bounded<F>(
    permits: &Semaphore,
    deadline: Duration,
    call: F,
) -> Result<Value, String>
where
    F: Future<Output = Result<Value, String>>,
{
    let work = async {
        let _permit = permits
            .acquire()
            .await
            .map_err(|_| "the hub is shutting down".to_owned())?;
        call.await
    };
    match tokio::time::timeout(deadline, work).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "no answer within the fan-out timeout ({})",
            humantime::format_duration(deadline)
        )),
    }
}

async fn fan_out_one(
    hub: &Hub,
    alias: &str,
    tool: &str,
    arguments: JsonObject,
    cancel: &CancellationToken,
) -> Result<Value, String> {
    let deadline = hub.config().fanout_timeout;
    hub.live_link(alias).map_err(|e| e.to_string())?;
    bounded(hub.fanout_permits(), deadline, async {
        // The fan-out deadline governs; the call's own timeout is only a backstop.
        let raw = raw_arguments(&arguments).map_err(|e| e.to_string())?;
        let bytes = forward_stateless(hub, alias, tool, Some(&raw), cancel, deadline * 2)
            .await
            .map_err(|e| e.to_string())?;
        result_value(&bytes).map_err(|e| format!("{tool}: {e}"))
    })
    .await
}

/// Most pages of one cluster's list a fan-out follows (1000 rows each).
const MAX_PAGES: usize = 100;

/// One cluster's whole list: the first page's result with every page's rows under `key`,
/// following `next_cursor` (workers that page) at `limit` 1000 per call.
async fn fan_out_rows_one(
    hub: &Hub,
    alias: &str,
    tool: &str,
    mut arguments: JsonObject,
    key: &str,
    cancel: &CancellationToken,
) -> Result<Value, String> {
    let deadline = hub.config().fanout_timeout;
    hub.live_link(alias).map_err(|e| e.to_string())?;
    let pages = hub.registry().tool_takes(alias, tool, "cursor");
    if pages {
        arguments.insert("limit".into(), json!(hyperfed_protocol::budget::MAX_LIMIT));
    }
    bounded(hub.fanout_permits(), deadline, async {
        let mut first: Option<Value> = None;
        for _ in 0..MAX_PAGES {
            let raw = raw_arguments(&arguments).map_err(|e| e.to_string())?;
            let bytes = forward_stateless(hub, alias, tool, Some(&raw), cancel, deadline * 2)
                .await
                .map_err(|e| e.to_string())?;
            let mut page = result_value(&bytes).map_err(|e| format!("{tool}: {e}"))?;
            let next = page
                .get("next_cursor")
                .and_then(Value::as_str)
                .map(str::to_owned);
            match &mut first {
                None => first = Some(page),
                Some(all) => {
                    let more = page.get_mut(key).map(Value::take);
                    if let (Some(Value::Array(rows)), Some(Value::Array(more))) =
                        (all.get_mut(key), more)
                    {
                        rows.extend(more);
                    }
                }
            }
            match next {
                Some(cursor) if pages => {
                    arguments.insert("cursor".into(), Value::String(cursor));
                }
                _ => break,
            }
        }
        first.ok_or_else(|| format!("{tool}: no result"))
    })
    .await
}

/// Like [`fan_out`], but each answer holds the cluster's whole list under `key` (the hub
/// pages through workers that page; a snapshot of the merged rows then serves every page).
pub(crate) async fn fan_out_rows(
    hub: &Hub,
    aliases: Vec<String>,
    tool: &'static str,
    arguments: JsonObject,
    key: &str,
) -> Vec<FanOutAnswer> {
    log_start(tool, aliases.len()).await;
    let started = Instant::now();
    let cancel = CancellationToken::new();
    let cancel = &cancel;
    let calls = aliases.into_iter().map(|alias| {
        let arguments = arguments.clone();
        async move {
            let result = fan_out_rows_one(hub, &alias, tool, arguments, key, cancel).await;
            log_answer(tool, &alias, &result).await;
            FanOutAnswer { alias, result }
        }
    });
    let answers = futures::future::join_all(calls).await;
    log_done(tool, &answers).await;
    counted(hub, tool, started, answers)
}

/// Tells the calling session (when it asked for logs) that a fan-out starts.
async fn log_start(tool: &str, clusters: usize) {
    mcp_logging::log(
        Level::Info,
        json!({"event": "fan-out", "tool": tool, "clusters": clusters}),
    )
    .await;
}

/// Tells the calling session how one cluster answered: debug when it did, warning when not.
async fn log_answer(tool: &str, alias: &str, result: &Result<Value, String>) {
    match result {
        Ok(_) => {
            mcp_logging::log(
                Level::Debug,
                json!({"event": "cluster answered", "tool": tool, "cluster": alias}),
            )
            .await
        }
        Err(e) => mcp_logging::log(
            Level::Warning,
            json!({"event": "cluster did not answer", "tool": tool, "cluster": alias, "error": e}),
        )
        .await,
    }
}

/// Tells the calling session a fan-out finished, with how many clusters answered.
async fn log_done(tool: &str, answers: &[FanOutAnswer]) {
    let missed = answers.iter().filter(|a| a.result.is_err()).count();
    mcp_logging::log(
        Level::Info,
        json!({"event": "fan-out done", "tool": tool, "answered": answers.len() - missed, "unanswered": missed}),
    )
    .await;
}

/// Counts a finished fan-out and its unanswered clusters in the metrics.
fn counted(
    hub: &Hub,
    tool: &'static str,
    started: Instant,
    answers: Vec<FanOutAnswer>,
) -> Vec<FanOutAnswer> {
    let catalog = hub.catalog();
    let missing = answers
        .iter()
        .filter(|a| a.result.is_err())
        .map(|a| catalog.cluster_label(&a.alias));
    hub.metrics().fan_out(tool, started, missing);
    answers
}

/// Calls `tool` on each cluster concurrently; every answer (or error) arrives by the fan-out timeout.
pub(crate) async fn fan_out(
    hub: &Hub,
    aliases: Vec<String>,
    tool: &'static str,
    arguments: JsonObject,
) -> Vec<FanOutAnswer> {
    log_start(tool, aliases.len()).await;
    let started = Instant::now();
    let answers = counted(
        hub,
        tool,
        started,
        fan_out_quiet(hub, aliases, tool, arguments).await,
    );
    for a in &answers {
        log_answer(tool, &a.alias, &a.result).await;
    }
    log_done(tool, &answers).await;
    answers
}

/// [`fan_out`] without telling the session or counting.
async fn fan_out_quiet(
    hub: &Hub,
    aliases: Vec<String>,
    tool: &str,
    arguments: JsonObject,
) -> Vec<FanOutAnswer> {
    if let Ok(raw) = raw_arguments(&arguments)
        && let Some(answers) =
            hub.connector()
                .fan_out(tool, Some(&raw), &aliases, hub.config().fanout_timeout)
    {
        // One publish to the fleet (NATS): every result arrives by the fan-out timeout.
        let answers = answers
            .await
            .into_iter()
            .map(|(alias, r)| FanOutAnswer {
                alias,
                result: r.and_then(|b| result_value(&b).map_err(|e| format!("{tool}: {e}"))),
            })
            .collect();
        return answers;
    }
    let cancel = CancellationToken::new();
    let cancel = &cancel;
    let calls = aliases.into_iter().map(|alias| {
        let arguments = arguments.clone();
        async move {
            let result = fan_out_one(hub, &alias, tool, arguments, cancel).await;
            FanOutAnswer { alias, result }
        }
    });
    futures::future::join_all(calls).await
}

/// The clusters that gave no result, with why: `[{cluster, error}]`.
pub(crate) fn unanswered(answers: &[FanOutAnswer]) -> Vec<Value> {
    answers
        .iter()
        .filter_map(|a| {
            a.result
                .as_ref()
                .err()
                .map(|e| json!({"cluster": a.alias, "error": e}))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn at_most_the_concurrency_limit_runs_at_once() {
        let permits = Semaphore::new(2);
        let running = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        let calls = (0..6).map(|i| {
            let (running, most) = (&running, &most);
            bounded(&permits, Duration::from_secs(10), async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
                running.fetch_sub(1, Ordering::SeqCst);
                Ok(json!(i))
            })
        });
        let results = futures::future::join_all(calls).await;
        assert!(results.iter().all(Result::is_ok));
        assert_eq!(most.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_slow_cluster_is_unanswered_at_the_deadline() {
        let permits = Semaphore::new(4);
        let deadline = Duration::from_millis(30);
        let slow = bounded(&permits, deadline, std::future::pending());
        let fast = bounded(&permits, deadline, async { Ok(json!({"ok": true})) });
        let (slow, fast) = tokio::join!(slow, fast);
        let answers = vec![
            FanOutAnswer {
                alias: "slow".into(),
                result: slow,
            },
            FanOutAnswer {
                alias: "fast".into(),
                result: fast,
            },
        ];
        assert_eq!(
            unanswered(&answers),
            vec![
                json!({"cluster": "slow", "error": "no answer within the fan-out timeout (30ms)"})
            ]
        );
    }

    #[tokio::test]
    async fn waiting_for_a_slot_counts_against_the_deadline() {
        let permits = Semaphore::new(1);
        let _held = permits.acquire().await.unwrap();
        let r = bounded(&permits, Duration::from_millis(20), async { Ok(json!(1)) }).await;
        assert_eq!(
            r.unwrap_err(),
            "no answer within the fan-out timeout (20ms)"
        );
        permits.close();
        let r = bounded(&permits, Duration::from_secs(1), async { Ok(json!(1)) }).await;
        assert_eq!(r.unwrap_err(), "the hub is shutting down");
    }

    #[test]
    fn values_come_from_structured_content_or_text() {
        assert_eq!(
            result_value(br#"{"content":[],"structuredContent":{"a":1}}"#).unwrap(),
            serde_json::json!({"a":1})
        );
        assert_eq!(
            result_value(br#"{"content":[{"type":"text","text":"[1,2]"}]}"#).unwrap(),
            serde_json::json!([1, 2])
        );
        assert!(result_value(br#"{"content":[{"type":"text","text":"plain"}]}"#).is_err());
        let named =
            br#"{"content":[{"type":"text","text":"cluster 'c1': VM not found"}],"isError":true}"#;
        assert_eq!(
            result_value(named).unwrap_err(),
            "cluster 'c1': VM not found"
        );
    }
}
