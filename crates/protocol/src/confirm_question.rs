//! The yes/no question a destructive call asks the person (MCP elicitation), built from the
//! worker's confirmation preview: its wording, its one-field form, how an answer reads and
//! what a declined call answers. Worker and hub ask the same way; only the cluster label differs.

use serde_json::{Value, json};

/// The form's one field: a boolean, true to go ahead.
pub const CONFIRM_FIELD: &str = "confirm";

/// The key of the question in a 2026-07-28 `inputRequests` map.
pub const INPUT_KEY: &str = "confirm";

/// A destructive call's preview, as the worker answers it in the token flow.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfirmPreview {
    /// The confirmation token that executes exactly the previewed action.
    pub token: String,
    /// What would happen (cluster, tool, target, effect).
    pub preview: Value,
}

impl ConfirmPreview {
    /// The preview in a tool result's JSON, if the result is one (`confirmation_required`).
    pub fn from_result(result: &Value) -> Option<Self> {
        if result.get("confirmation_required").and_then(Value::as_bool) != Some(true) {
            return None;
        }
        let token = result.get("confirm_token").and_then(Value::as_str)?;
        Some(ConfirmPreview {
            token: token.to_owned(),
            preview: result.get("preview").cloned().unwrap_or(Value::Null),
        })
    }

    /// The tool the preview is for.
    pub fn tool(&self) -> &str {
        self.preview
            .get("tool")
            .and_then(Value::as_str)
            .unwrap_or("this action")
    }

    /// The cluster as the worker names it: `'name' (uuid)`.
    pub fn worker_cluster(&self) -> String {
        let cluster = &self.preview["cluster"];
        let name = cluster["name"].as_str().unwrap_or_default();
        let uuid = cluster["uuid"].as_str().unwrap_or_default();
        match (name.is_empty(), uuid.is_empty()) {
            (false, false) => format!("'{name}' ({uuid})"),
            (false, true) => format!("'{name}'"),
            (true, false) => uuid.to_owned(),
            (true, true) => "this cluster".to_owned(),
        }
    }

    /// The question shown to the person: cluster, target, action and what changes.
    /// `cluster` is how the asker names the cluster (the hub uses its alias).
    pub fn question(&self, cluster: &str) -> String {
        let p = &self.preview;
        let mut lines = vec![format!(
            "Confirm {} on cluster {cluster}? This is destructive.",
            self.tool()
        )];
        if let Some(vm) = p.get("vm").filter(|v| v.is_object()) {
            let name = vm["name"].as_str().unwrap_or_default();
            let uuid = vm["uuid"].as_str().unwrap_or_default();
            let state = p["current_state"]
                .as_str()
                .or_else(|| vm["state"].as_str())
                .map(|s| format!(", now {s}"))
                .unwrap_or_default();
            lines.push(format!("VM: '{name}' ({uuid}){state}"));
        }
        if let Some(snap) = p.get("snapshot").filter(|v| v.is_object()) {
            lines.push(format!(
                "Snapshot: '{}' ({})",
                snap["label"].as_str().unwrap_or_default(),
                snap["uuid"].as_str().unwrap_or_default()
            ));
        }
        if let Some(req) = p.get("request").filter(|v| v.is_object()) {
            lines.push(format!(
                "Request: {} {}",
                req["method"].as_str().unwrap_or_default(),
                req["path"].as_str().unwrap_or_default()
            ));
        }
        if let Some(action) = p.get("action").and_then(Value::as_str) {
            lines.push(format!("Action: {action}"));
        }
        if let (Some(before), Some(after)) = (p.get("before"), p.get("after")) {
            lines.push(format!("Before: {before}"));
            lines.push(format!("After: {after}"));
        }
        if let Some(disks) = p.get("disks").and_then(Value::as_array) {
            lines.push(format!(
                "Also deleted: {} disk(s), {} snapshot(s)",
                disks.len(),
                p["snapshots"].as_u64().unwrap_or(0)
            ));
        }
        if let Some(effect) = p.get("effect").and_then(Value::as_str) {
            lines.push(format!("What changes: {effect}"));
        }
        lines.push("Nothing happens unless you answer yes.".to_owned());
        lines.join("\n")
    }

    /// The form: one required boolean, `false` by default.
    pub fn form_schema(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                CONFIRM_FIELD: {
                    "type": "boolean",
                    "title": format!("Go ahead with {}?", self.tool()),
                    "description": "Yes performs the action shown; no changes nothing.",
                    "default": false,
                }
            },
            "required": [CONFIRM_FIELD],
        })
    }
}

/// How the person answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Accepted the form with the box ticked: go ahead.
    Yes,
    /// Accepted the form but said no.
    No,
    /// Declined the question.
    Declined,
    /// Dismissed the question.
    Cancelled,
}

impl Answer {
    /// Reads an elicitation result: its `action` (`accept`, `decline`, `cancel`) and content.
    /// Only an accepted form whose `confirm` is `true` means yes.
    pub fn from_elicit(action: &str, content: Option<&Value>) -> Answer {
        match action {
            "accept" => {
                let yes = content
                    .and_then(|c| c.get(CONFIRM_FIELD))
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                if yes { Answer::Yes } else { Answer::No }
            }
            "decline" => Answer::Declined,
            _ => Answer::Cancelled,
        }
    }

    /// Reads one raw `inputResponses` entry (`{"action": ..., "content": ...}`).
    pub fn from_response(response: Option<&Value>) -> Answer {
        match response {
            Some(r) => Answer::from_elicit(
                r.get("action").and_then(Value::as_str).unwrap_or("cancel"),
                r.get("content"),
            ),
            None => Answer::Cancelled,
        }
    }

    /// The answer as the result and the audit name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Answer::Yes => "yes",
            Answer::No => "no",
            Answer::Declined => "declined",
            Answer::Cancelled => "cancelled",
        }
    }
}

/// The result of a call the person did not confirm: nothing was changed.
pub fn declined_result(
    tool: &str,
    cluster: &str,
    answer: Answer,
    preview: Option<&Value>,
) -> Value {
    let how = match answer {
        Answer::Cancelled => "dismissed the question",
        Answer::No => "answered no",
        _ => "declined",
    };
    let mut out = json!({
        "declined": true,
        "answer": answer.as_str(),
        "tool": tool,
        "message": format!(
            "Nothing was changed: the person {how} when asked to confirm {tool} on cluster {cluster}. Do not retry unless they ask again."
        ),
    });
    if let Some(p) = preview {
        out["preview"] = p.clone();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stop_preview() -> Value {
        json!({
            "confirmation_required": true,
            "confirm_token": "ct_1",
            "preview": {
                "vm": {"name": "web-1", "uuid": "u-1"},
                "current_state": "RUNNING",
                "action": "STOP",
                "effect": "will cut power",
                "cluster": {"uuid": "c-1", "name": "edge"},
                "tool": "vm_stop",
            },
        })
    }

    #[test]
    fn question_names_cluster_vm_action_and_effect() {
        let p = ConfirmPreview::from_result(&stop_preview()).unwrap();
        assert_eq!(p.token, "ct_1");
        assert_eq!(p.worker_cluster(), "'edge' (c-1)");
        let q = p.question("'dc1'");
        assert!(q.starts_with("Confirm vm_stop on cluster 'dc1'?"), "{q}");
        for part in [
            "VM: 'web-1' (u-1), now RUNNING",
            "Action: STOP",
            "What changes: will cut power",
        ] {
            assert!(q.contains(part), "{part} missing from {q}");
        }
        assert_eq!(p.form_schema()["required"], json!(["confirm"]));
    }

    #[test]
    fn only_a_ticked_accept_is_yes() {
        assert_eq!(
            Answer::from_elicit("accept", Some(&json!({"confirm": true}))),
            Answer::Yes
        );
        assert_eq!(
            Answer::from_elicit("accept", Some(&json!({"confirm": false}))),
            Answer::No
        );
        assert_eq!(Answer::from_elicit("accept", None), Answer::No);
        assert_eq!(Answer::from_elicit("decline", None), Answer::Declined);
        assert_eq!(Answer::from_elicit("cancel", None), Answer::Cancelled);
        assert_eq!(Answer::from_response(None), Answer::Cancelled);
        assert!(ConfirmPreview::from_result(&json!({"state": "COMPLETE"})).is_none());
        let d = declined_result("vm_stop", "'dc1'", Answer::Declined, None);
        assert_eq!(d["declined"], true);
        assert!(d["message"].as_str().unwrap().contains("'dc1'"));
    }
}
