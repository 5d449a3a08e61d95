//! `placement_select`: ask, then rank the clusters that fit by policy. Policy `model` asks the
//! client's own model through MCP sampling to pick from the candidates' table against the
//! request's free-text `intent`; a client without sampling (or a reply that names no
//! candidate) gets the default ranking and a note saying so.

#![allow(deprecated)] // MCP sampling is deprecated by the 2026-07-28 spec, still served to older clients.

use rmcp::model::{CreateMessageRequestParams, JsonObject, SamplingMessage};
use serde_json::{Value, json};

use super::ask::{Candidate, Requirements, ask};
use super::policy::{Policy, rank};
use crate::call_context::CallContext;
use crate::error::HubError;
use crate::fleet::completeness;
use crate::hub::Hub;

/// Longest `intent` passed to the model.
const MAX_INTENT: usize = 2000;
/// Most tokens the model may answer with.
const MODEL_MAX_TOKENS: u32 = 400;

/// A ranking with the answer that shows it.
pub(crate) struct Selection {
    /// The request that was asked.
    pub req: Requirements,
    /// The clusters that fit, best first, with the reason for each rank.
    pub ranked: Vec<(Candidate, String)>,
    /// The answer of `placement_select`.
    pub answer: Value,
}

/// What the model chose.
struct ModelChoice {
    cluster: String,
    reason: String,
    model: String,
}

fn intent_of(args: &JsonObject) -> Result<Option<String>, HubError> {
    match args.get("intent") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.chars().count() <= MAX_INTENT => Ok(Some(s.clone())),
        Some(Value::String(_)) => Err(HubError::BadRequest(format!(
            "argument 'intent' is longer than {MAX_INTENT} characters"
        ))),
        Some(_) => Err(HubError::BadRequest(
            "argument 'intent' must be a string".into(),
        )),
    }
}

fn seed_of(args: &JsonObject) -> Result<Option<u64>, HubError> {
    match args.get("seed") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| {
            HubError::BadRequest("argument 'seed' must be a non-negative integer".into())
        }),
    }
}

/// The first `{...}` object in `text` that names a `cluster`.
fn parse_choice(text: &str) -> Option<(String, String)> {
    let start = text.find('{')?;
    let end = text.rfind('}')?;
    let v: Value = serde_json::from_str(text.get(start..=end)?).ok()?;
    let cluster = v.get("cluster")?.as_str()?.trim().to_owned();
    let reason = v
        .get("reason")
        .and_then(Value::as_str)
        .unwrap_or("")
        .chars()
        .take(1000)
        .collect();
    Some((cluster, reason))
}

/// Asks the client's model to choose among `table`; Err says why it could not.
async fn ask_model(
    hub: &Hub,
    ctx: &CallContext,
    req: &Requirements,
    table: &[Value],
    intent: &str,
) -> Result<ModelChoice, String> {
    let Some(peer) = &ctx.peer else {
        return Err(
            "this call did not come over an MCP session, so there is no model to ask".into(),
        );
    };
    let declared = peer
        .peer_info()
        .is_some_and(|i| i.capabilities.sampling.is_some());
    if !declared {
        return Err("the client does not support MCP sampling".into());
    }
    let prompt = format!(
        "A VM needs {} vCPUs, {} bytes of memory and {} bytes of disk. The operator's intent: {}\n\
         These clusters can take it (JSON, one object per cluster):\n{}\n\
         Choose one. Answer with JSON only: {{\"cluster\": \"<alias>\", \"reason\": \"<one sentence>\"}}",
        req.vcpus,
        req.memory_bytes,
        req.disk_total(),
        if intent.is_empty() {
            "(none given)"
        } else {
            intent
        },
        serde_json::to_string(table).unwrap_or_default()
    );
    let params = CreateMessageRequestParams::new(vec![SamplingMessage::user_text(prompt)], MODEL_MAX_TOKENS)
        .with_system_prompt("You place virtual machines on SCALE Computing HyperCore clusters. Weigh headroom, load, raised conditions and trust against the operator's intent.");
    let reply = tokio::time::timeout(hub.config().call_timeout, peer.create_message(params))
        .await
        .map_err(|_| "the client's model did not answer within the call timeout".to_owned())?
        .map_err(|e| format!("the client's model could not be asked: {e}"))?;
    let text = reply
        .message
        .content
        .first()
        .and_then(|c| c.as_text())
        .map(|t| t.text.clone())
        .unwrap_or_default();
    let (cluster, reason) = parse_choice(&text).ok_or_else(|| {
        "the model's answer named no cluster as JSON {\"cluster\": ...}".to_owned()
    })?;
    Ok(ModelChoice {
        cluster,
        reason,
        model: reply.model,
    })
}

/// Asks, ranks and (for policy model) consults the client's model.
pub(crate) async fn select(
    hub: &Hub,
    args: &JsonObject,
    ctx: &CallContext,
) -> Result<Selection, HubError> {
    let req = Requirements::from_args(args)?;
    if args
        .get("policy")
        .is_some_and(|p| !p.is_null() && !p.is_string())
    {
        return Err(HubError::BadRequest(
            "argument 'policy' must be a string".into(),
        ));
    }
    let policy = Policy::parse(args.get("policy").and_then(Value::as_str), seed_of(args)?)?;
    let intent = intent_of(args)?;
    let (candidates, answers) = ask(hub, &req).await?;
    let mut ranked = rank(&candidates, policy, req.tag.as_deref());
    let mut note = None;
    let mut model = None;
    if policy == Policy::Model && !ranked.is_empty() {
        let table: Vec<Value> = ranked.iter().map(|(c, _)| c.to_json()).collect();
        match ask_model(hub, ctx, &req, &table, intent.as_deref().unwrap_or("")).await {
            Ok(choice) => match ranked.iter().position(|(c, _)| c.alias == choice.cluster) {
                Some(i) => {
                    let (c, _) = ranked.remove(i);
                    ranked.insert(0, (c, format!("chosen by the model: {}", choice.reason)));
                    model = Some(
                        json!({"model": choice.model, "cluster": choice.cluster, "reason": choice.reason}),
                    );
                }
                None => {
                    let shown: String = choice.cluster.chars().take(64).collect();
                    note = Some(format!(
                        "the model chose '{shown}', which is not a cluster where the VM fits; ranked by most-headroom instead"
                    ));
                }
            },
            Err(why) => note = Some(format!("{why}; ranked by most-headroom instead")),
        }
    }
    let rows: Vec<Value> = ranked
        .iter()
        .enumerate()
        .map(|(i, (c, why))| {
            let mut row = c.to_json();
            row["rank"] = json!(i + 1);
            row["reason"] = json!(why);
            row
        })
        .collect();
    let not_fitting: Vec<Value> = candidates
        .iter()
        .filter(|c| !c.fits)
        .map(|c| json!({"cluster": c.alias, "why_not": c.reasons}))
        .collect();
    let mut answer = json!({
        "request": req.to_json(),
        "policy": policy.name(),
        "selected": ranked.first().map(|(c, _)| c.alias.clone()),
        "ranked": rows,
        "not_fitting": not_fitting,
    });
    if let Some(n) = note {
        answer["note"] = json!(n);
    }
    if let Some(m) = model {
        answer["model"] = m;
    }
    if ranked.is_empty() {
        answer["why_none"] = json!("the VM fits on no cluster that answered: see not_fitting");
    }
    for (k, v) in completeness(&answers) {
        answer[k] = v;
    }
    Ok(Selection {
        req,
        ranked,
        answer,
    })
}

/// `placement_select`.
pub(crate) async fn placement_select(
    hub: &Hub,
    args: &JsonObject,
    ctx: &CallContext,
) -> Result<Value, HubError> {
    Ok(select(hub, args, ctx).await?.answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_models_choice_is_read_from_json_in_its_text() {
        assert_eq!(
            parse_choice("Sure: {\"cluster\": \"dc\", \"reason\": \"room\"} done"),
            Some(("dc".into(), "room".into()))
        );
        assert_eq!(parse_choice("dc, because"), None);
    }
}
