//! The hub's MCP prompts (the shared runbooks, naming tools as the active tools mode exports
//! them) and `completion/complete` for their arguments: cluster aliases from the registry,
//! tags and VM names from the VM index. A completion never fans out per keystroke: a stale
//! index is refreshed by one caller at most once per freshness window, and everyone else is
//! served what the index holds.

use std::sync::Arc;

use hyperfed_http::completion::{bounded, candidates, string_args};
use hyperfed_protocol::runbooks::{self, RUNBOOKS, ToolNames};
use rmcp::ErrorData;
use rmcp::model::{
    CompleteRequestParams, CompleteResult, GetPromptRequestParams, GetPromptResult,
    ListPromptsResult, Prompt, PromptArgument, PromptMessage, Role,
};

use crate::catalog::namespaced_name;
use crate::config::ToolsMode;
use crate::fleet::refresh_vm_index;
use crate::hub::Hub;

/// How the hub's tools are named in prompt text, for the active tools mode.
struct HubNames {
    namespaced: bool,
}

impl ToolNames for HubNames {
    fn cluster_tool(&self, tool: &str, cluster: Option<&str>) -> String {
        match (self.namespaced, cluster) {
            (true, Some(alias)) => format!("`{}`", namespaced_name(alias, tool)),
            (true, None) => format!("`<cluster>__{tool}` on each cluster"),
            (false, Some(alias)) => format!("`{tool}` with cluster \"{alias}\""),
            (false, None) => format!("`{tool}` with each cluster's alias as `cluster`"),
        }
    }

    fn fleet_tool(&self, tool: &str) -> Option<String> {
        match tool {
            "condition_list" => Some("`fleet_conditions`".into()),
            "vm_list" => Some("`vm_search`".into()),
            _ => None,
        }
    }

    fn scope(&self, cluster: Option<&str>) -> String {
        match cluster {
            Some(alias) => format!("cluster \"{alias}\""),
            None => "every cluster (`fleet_status` lists them)".into(),
        }
    }
}

/// Every runbook as a prompt.
pub(crate) fn list() -> ListPromptsResult {
    let prompts = RUNBOOKS
        .iter()
        .map(|b| {
            let args = b
                .args
                .iter()
                .map(|a| {
                    PromptArgument::new(a.name)
                        .with_description(a.description)
                        .with_required(a.required)
                })
                .collect::<Vec<_>>();
            Prompt::new(b.name, Some(b.description), Some(args)).with_title(b.title)
        })
        .collect();
    ListPromptsResult::with_all_items(prompts)
}

/// The text of one prompt, its `cluster` checked against the registry.
pub(crate) fn get(
    hub: &Hub,
    request: GetPromptRequestParams,
) -> Result<GetPromptResult, ErrorData> {
    let Some(book) = runbooks::runbook(&request.name) else {
        return Err(ErrorData::invalid_params(
            format!(
                "name: unknown prompt '{}'; prompts/list names the hub's prompts",
                request.name
            ),
            None,
        ));
    };
    let args = string_args(request.arguments);
    runbooks::check_args(book, &args, true).map_err(|e| ErrorData::invalid_params(e, None))?;
    if let Some(alias) = args
        .get("cluster")
        .map(|c| c.trim())
        .filter(|c| !c.is_empty())
        && !hub.registry().contains(alias)
    {
        let known: Vec<String> = hub.clusters().into_iter().map(|c| c.alias).collect();
        return Err(ErrorData::invalid_params(
            format!(
                "argument 'cluster': no cluster named '{alias}'; the clusters are {}",
                if known.is_empty() {
                    "none yet".to_owned()
                } else {
                    known.join(", ")
                }
            ),
            None,
        ));
    }
    let mode = hub.catalog().mode.active;
    let names = HubNames {
        namespaced: matches!(mode, ToolsMode::Namespaced | ToolsMode::Both),
    };
    let text = runbooks::render(book, &args, &names);
    Ok(
        GetPromptResult::new(vec![PromptMessage::new_text(Role::User, text)])
            .with_description(book.description),
    )
}

/// Completes a prompt argument: `cluster` from the registry, `tag` and `first_vm` from the
/// VM index (within the `cluster` already chosen, and the `tag` for `first_vm`).
pub(crate) async fn complete(hub: &Arc<Hub>, request: CompleteRequestParams) -> CompleteResult {
    let known_prompt = request
        .r#ref
        .as_prompt_name()
        .is_some_and(|n| runbooks::runbook(n).is_some());
    let arg = request.argument.name.as_str();
    let prefix = request.argument.value.as_str();
    let chosen = |name: &str| {
        request
            .context
            .as_ref()
            .and_then(|c| c.get_argument(name))
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let values = match (known_prompt, arg) {
        (true, "cluster") => hub.clusters().into_iter().map(|c| c.alias).collect(),
        (true, "tag" | "first_vm") => {
            if hub.vm_index().claim_completion_refresh() {
                refresh_vm_index(hub).await;
            }
            let cluster = chosen("cluster");
            let tag = chosen("tag").map(|t| t.to_lowercase());
            let vms = hub.vm_index().known(cluster.as_deref());
            candidates(vms, arg, tag.as_deref())
        }
        _ => Vec::new(),
    };
    CompleteResult::new(bounded(values, prefix))
}
