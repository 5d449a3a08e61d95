//! Prompt arguments as both servers read them, and the completions they give (`completion/complete`): prefix matches,
//! sorted, bounded to the MCP limit of 100 with `total` and `hasMore`.

use std::collections::{BTreeSet, HashMap};

use rmcp::model::CompletionInfo;
use serde_json::Value;

/// Most completion values returned at once (the MCP limit).
pub const MAX_COMPLETIONS: usize = CompletionInfo::MAX_VALUES;

/// Values starting with `prefix` (any case), sorted, at most [`MAX_COMPLETIONS`], with the
/// total and whether more exist.
pub fn bounded(values: impl IntoIterator<Item = String>, prefix: &str) -> CompletionInfo {
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

/// The values of argument `arg` among `vms` (`(name, tags)`): tags, or the names of VMs
/// carrying `tag` (any case) when one was chosen.
pub fn candidates(vms: Vec<(String, Vec<String>)>, arg: &str, tag: Option<&str>) -> Vec<String> {
    match arg {
        "tag" => vms.into_iter().flat_map(|(_, tags)| tags).collect(),
        _ => vms
            .into_iter()
            .filter(|(_, tags)| tag.is_none_or(|t| tags.iter().any(|x| x.to_lowercase() == t)))
            .map(|(name, _)| name)
            .collect(),
    }
}

/// Prompt arguments as strings (MCP sends strings; anything else is shown as its JSON).
pub fn string_args(args: Option<serde_json::Map<String, Value>>) -> HashMap<String, String> {
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
    fn vm_names_narrow_to_the_chosen_tag() {
        let vms = vec![
            ("web-1".to_owned(), vec!["Web".to_owned()]),
            ("db-1".to_owned(), vec!["db".to_owned()]),
        ];
        assert_eq!(candidates(vms.clone(), "first_vm", Some("web")), ["web-1"]);
        assert_eq!(candidates(vms.clone(), "first_vm", None).len(), 2);
        assert_eq!(candidates(vms, "tag", None), ["Web", "db"]);
    }
}
