//! The worker's MCP prompts (the shared runbooks, for this one cluster) and `completion/complete`
//! for their arguments: tags from the cluster's VM list (one cached read, never more).

use std::collections::{BTreeSet, HashMap};

use hyperfed_protocol::runbooks::{self, RUNBOOKS, ToolNames};
use rmcp::ErrorData;
use rmcp::model::{
    CompleteRequestParams, CompleteResult, CompletionInfo, GetPromptRequestParams, GetPromptResult,
    ListPromptsResult, Prompt, PromptArgument, PromptMessage, Role,
};
use serde_json::Value;

use crate::state::WorkerState;

/// Most completion values returned at once (the MCP limit).
pub(crate) const MAX_COMPLETIONS: usize = CompletionInfo::MAX_VALUES;

struct Local;

impl ToolNames for Local {
    fn cluster_tool(&self, tool: &str, _cluster: Option<&str>) -> String {
        format!("`{tool}`")
    }
    fn fleet_tool(&self, _tool: &str) -> Option<String> {
        None
    }
    fn scope(&self, _cluster: Option<&str>) -> String {
        "this cluster".into()
    }
}

/// Every runbook as a prompt, without the `cluster` argument (a worker serves one).
pub(crate) fn list() -> ListPromptsResult {
    let prompts = RUNBOOKS
        .iter()
        .map(|b| {
            let args = b
                .args
                .iter()
                .filter(|a| a.name != "cluster")
                .map(|a| {
                    PromptArgument::new(a.name)
                        .with_description(a.description)
                        .with_required(a.required)
                })
                .collect::<Vec<_>>();
            Prompt::new(
                b.name,
                Some(b.description),
                (!args.is_empty()).then_some(args),
            )
            .with_title(b.title)
        })
        .collect();
    ListPromptsResult::with_all_items(prompts)
}

/// The text of one prompt with its arguments.
pub(crate) fn get(request: GetPromptRequestParams) -> Result<GetPromptResult, ErrorData> {
    let Some(book) = runbooks::runbook(&request.name) else {
        return Err(ErrorData::invalid_params(
            format!(
                "name: unknown prompt '{}'; prompts/list names this worker's prompts",
                request.name
            ),
            None,
        ));
    };
    let args = string_args(request.arguments);
    runbooks::check_args(book, &args, false).map_err(|e| ErrorData::invalid_params(e, None))?;
    let text = runbooks::render(book, &args, &Local);
    Ok(
        GetPromptResult::new(vec![PromptMessage::new_text(Role::User, text)])
            .with_description(book.description),
    )
}

/// Prompt arguments as strings (MCP sends strings; anything else is shown as its JSON).
pub(crate) fn string_args(args: Option<serde_json::Map<String, Value>>) -> HashMap<String, String> {
    args.unwrap_or_default()
        .into_iter()
        .map(|(k, v)| {
            let s = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            (k, s)
        })
        .collect()
}

/// Values starting with `prefix` (any case), sorted, at most [`MAX_COMPLETIONS`], with the
/// total and whether more exist.
pub(crate) fn bounded(values: impl IntoIterator<Item = String>, prefix: &str) -> CompletionInfo {
    let prefix = prefix.to_lowercase();
    let matching: BTreeSet<String> = values
        .into_iter()
        .filter(|v| v.to_lowercase().starts_with(&prefix))
        .collect();
    let total = matching.len();
    let values: Vec<String> = matching.into_iter().take(MAX_COMPLETIONS).collect();
    let more = total > values.len();
    CompletionInfo::with_pagination(values, Some(u32::try_from(total).unwrap_or(u32::MAX)), more)
        .unwrap_or_default()
}

/// Completes a prompt argument: `tag` from the VM list; anything else has no suggestions.
pub(crate) async fn complete(
    state: &WorkerState,
    request: CompleteRequestParams,
) -> CompleteResult {
    let known_prompt = request
        .r#ref
        .as_prompt_name()
        .is_some_and(|n| runbooks::runbook(n).is_some());
    if !known_prompt || request.argument.name != "tag" {
        return CompleteResult::new(bounded(Vec::new(), ""));
    }
    let tags: Vec<String> = match state.read("vm_list").await {
        Ok(list) => list
            .get("vms")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|vm| vm.get("tags").and_then(Value::as_array))
            .flatten()
            .filter_map(|t| t.as_str().map(str::to_owned))
            .collect(),
        Err(_) => Vec::new(),
    };
    CompleteResult::new(bounded(tags, &request.argument.value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completions_are_bounded_sorted_and_say_when_there_is_more() {
        let many = (0..250).map(|i| format!("tag-{i:03}"));
        let info = bounded(many, "TAG-");
        assert_eq!(info.values.len(), MAX_COMPLETIONS);
        assert_eq!(info.total, Some(250));
        assert_eq!(info.has_more, Some(true));
        assert_eq!(info.values[0], "tag-000");
        let few = bounded(vec!["web".into(), "db".into(), "web".into()], "w");
        assert_eq!(
            (few.values, few.has_more),
            (vec!["web".to_owned()], Some(false))
        );
    }

    #[test]
    fn an_unknown_prompt_is_named() {
        let e = get(GetPromptRequestParams::new("nope")).unwrap_err();
        assert!(e.message.contains("unknown prompt 'nope'"), "{}", e.message);
        let p = get(GetPromptRequestParams::new("maintenance_check")).unwrap();
        assert_eq!(p.messages.len(), 1);
    }
}
