//! The worker's MCP prompts (the shared runbooks, for this one cluster) and `completion/complete`
//! for their arguments: tags from the cluster's VM list (one cached read, never more).

use hyperfed_http::completion::{bounded, candidates, string_args};
use hyperfed_protocol::runbooks::{self, RUNBOOKS, ToolNames};
use rmcp::ErrorData;
use rmcp::model::{
    CompleteRequestParams, CompleteResult, GetPromptRequestParams, GetPromptResult,
    ListPromptsResult, Prompt, PromptArgument, PromptMessage, Role,
};
use serde_json::Value;

use crate::state::WorkerState;

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

/// Completes a prompt argument from the VM list: `tag` (tags), `first_vm` (names, of the
/// `tag` already chosen when there is one); anything else has no suggestions.
pub(crate) async fn complete(
    state: &WorkerState,
    request: CompleteRequestParams,
) -> CompleteResult {
    let known_prompt = request
        .r#ref
        .as_prompt_name()
        .is_some_and(|n| runbooks::runbook(n).is_some());
    let arg = request.argument.name.as_str();
    if !known_prompt || !matches!(arg, "tag" | "first_vm") {
        return CompleteResult::new(bounded(Vec::new(), ""));
    }
    let chosen_tag = request
        .context
        .as_ref()
        .and_then(|c| c.get_argument("tag"))
        .map(|t| t.to_lowercase());
    let vms: Vec<(String, Vec<String>)> = match state.read("vm_list").await {
        Ok(list) => list
            .get("vms")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|vm| {
                let name = vm.get("name")?.as_str()?.to_owned();
                let tags = vm
                    .get("tags")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|t| t.as_str().map(str::to_owned))
                    .collect();
                Some((name, tags))
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    CompleteResult::new(bounded(
        candidates(vms, arg, chosen_tag.as_deref()),
        &request.argument.value,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_prompt_is_named() {
        let e = get(GetPromptRequestParams::new("nope")).unwrap_err();
        assert!(e.message.contains("unknown prompt 'nope'"), "{}", e.message);
        let p = get(GetPromptRequestParams::new("maintenance_check")).unwrap();
        assert_eq!(p.messages.len(), 1);
    }
}
